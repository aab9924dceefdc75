/*
 * fileio.h -- atomic file writes and whole-file reads (fileio.c).  Internal, but exported from
 * the shared library for adaopt_mpi (ADAOPT_INTERNAL_API); not part of the API.
 */
#ifndef ADAOPT_FILEIO_H
#define ADAOPT_FILEIO_H

#include <stddef.h>

#include "../include/adaopt.h"

#include "internal_api.h"

/* Which call failed ("open", "write", "fsync", "rename", "fsync (the folder)", ...) and errno;
 * `why`, where not NULL, says what errno cannot ("not a regular file ..."). */
typedef struct adaopt__io_error {
    const char *call;
    int errnum;
    const char *why;
} adaopt__io_error;

/* err->why, or strerror(err->errnum). */
ADAOPT_INTERNAL_API const char *adaopt__io_reason(const adaopt__io_error *err);

/* An atomic write in progress: the temporary file beside `path`, locked. */
enum { ADAOPT__PATH_BYTES = 4096 }; /* Linux's PATH_MAX, which strict C11 headers do not give */
typedef struct adaopt__atomic_file {
    const char *path;                /* the file replaced: the path, or its symlink's target */
    char target[ADAOPT__PATH_BYTES]; /* a symlink's resolved target */
    char tmp[ADAOPT__PATH_BYTES];
    int fd;
} adaopt__atomic_file;

/* Returned by commit (and write_file) when the new file is complete and in place but a later
 * call (close, the folder's fsync) failed: its durability across a power cut is not known. */
enum { ADAOPT__IO_REPLACED = 1 };

/* 0, or -1 with *err set (nothing is left behind).  Only a regular file is replaced: a path
 * naming a FIFO, a device, a socket or a folder is refused; a symlink is followed, and its
 * final target (a regular file) is replaced atomically in the target's folder, the link kept. */
ADAOPT_INTERNAL_API int adaopt__atomic_begin(adaopt__atomic_file *f, const char *path,
                                             adaopt__io_error *err);
/* All n bytes (short writes continued, EINTR retried); 0, or -1 with *err (then abort). */
ADAOPT_INTERNAL_API int adaopt__atomic_write(adaopt__atomic_file *f, const void *data, size_t n,
                                             adaopt__io_error *err);
/* fsync, rename over the path, fsync of the folder, removal of stale temporary files: 0; -1 with
 * *err and nothing changed (the temporary file removed); or ADAOPT__IO_REPLACED with *err. */
ADAOPT_INTERNAL_API int adaopt__atomic_commit(adaopt__atomic_file *f, adaopt__io_error *err);
/* Removes the temporary file (after a failed write). */
ADAOPT_INTERNAL_API void adaopt__atomic_abort(adaopt__atomic_file *f);
/* begin, write, commit. */
ADAOPT_INTERNAL_API int adaopt__write_file(const char *path, const void *data, size_t n,
                                           adaopt__io_error *err);
/* The whole file (at most `limit` bytes: EFBIG past it, before anything is read) into a new
 * buffer *out (free it) of *n bytes; 0, or -1 with *err.  Only a regular file is read: a FIFO,
 * a device or a socket is refused at once (opened without blocking), never read. */
ADAOPT_INTERNAL_API int adaopt__read_file(const char *path, size_t limit, unsigned char **out,
                                          size_t *n, adaopt__io_error *err);

#endif
