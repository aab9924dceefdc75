/*
 * fileio.c -- the only place the library touches files: an atomic, crash-safe write and a whole-
 * file read, shared by checkpoints (checkpoint.c) and ZeRO's sharded checkpoints
 * (mpi/zero_checkpoint.c).
 *
 * A save writes "<path>.adaopt-tmp-<12 hex digits>", created with O_EXCL and mode 0666 (so the
 * umask applies, as for torch.save), holds an flock on it while writing, fsyncs it, renames it
 * over <path> and fsyncs the folder: a crash leaves the old file or the new one, never a mixture.
 * A crash can leave the temporary file behind, so every successful save removes the stale
 * temporary files of the same path: those whose lock it can take.  A writer holds its lock from
 * creation to rename, and the kernel drops the lock of a killed process, so a temporary file that
 * another process is still writing is never touched -- two processes may save to one path.
 *
 * Every call is retried on EINTR and every short write or read is continued, so that only real
 * failures (ENOSPC, EIO, ...) fail; they report the call and errno, and remove this save's
 * temporary file.  Only POSIX calls are used (no stdio), so that the tests can make each of
 * them fail in turn (tests/faults.h).
 */
#define _DEFAULT_SOURCE /* flock, dirent's d_type */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"

#define TMP_MARK ".adaopt-tmp-"
enum { TMP_DIGITS = 12 };

static void set_failure(adaopt__io_error *err, const char *call, int e)
{
    if (err != NULL) {
        err->call = call;
        err->errnum = e != 0 ? e : EIO;
        err->why = NULL;
    }
}

/* A failure errno cannot name: `why` is the message. */
static void set_refusal(adaopt__io_error *err, const char *call, int e, const char *why)
{
    set_failure(err, call, e);
    if (err != NULL)
        err->why = why;
}

static const char NOT_REGULAR[] = "not a regular file (a FIFO, device, socket or folder): only "
                                  "regular files are read or replaced";

const char *adaopt__io_reason(const adaopt__io_error *err)
{
    return err->why != NULL ? err->why : strerror(err->errnum);
}

/* A name no other save is likely to pick: the clock, the process, the stack address and a try
 * counter, mixed (SplitMix64).  O_EXCL makes a collision a retry, never a clash. */
static uint64_t name_bits(unsigned attempt)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x = (uint64_t)ts.tv_sec * 1000000007ull ^ (uint64_t)ts.tv_nsec ^
                 (uint64_t)getpid() << 32 ^ (uint64_t)(uintptr_t)&ts ^ (uint64_t)attempt << 56;
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static int retry_open(const char *path, int flags, mode_t mode)
{
    int fd;
    do
        fd = open(path, flags, mode);
    while (fd < 0 && errno == EINTR);
    return fd;
}

static int retry_fsync(int fd)
{
    int rc;
    do
        rc = fsync(fd);
    while (rc != 0 && errno == EINTR);
    return rc;
}

/* close: on Linux the descriptor is gone even when close says EINTR, and the data was fsynced
 * before, so EINTR is not a failure (and closing again could close another thread's file). */
static int close_checked(int fd)
{
    return close(fd) != 0 && errno != EINTR ? -1 : 0;
}

/* The folder holding `path` into dir; returns the file's name within it. */
static const char *folder_of(const char *path, char dir[PATH_MAX])
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        snprintf(dir, PATH_MAX, ".");
    else if (slash == path)
        snprintf(dir, PATH_MAX, "/");
    else
        snprintf(dir, PATH_MAX, "%.*s", (int)(slash - path), path);
    return slash ? slash + 1 : path;
}

/* fsync of the folder holding `path`, so that a rename into it is durable. */
static int sync_folder(const char *path, adaopt__io_error *err)
{
    char dir[PATH_MAX];
    folder_of(path, dir);
    int fd = retry_open(dir, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) {
        set_failure(err, "open (the folder)", errno);
        return -1;
    }
    int rc = retry_fsync(fd), e = errno;
    close(fd);
    if (rc != 0)
        set_failure(err, "fsync (the folder)", e);
    return rc;
}

/* The file a save replaces: `path` itself if it is a regular file or nothing, a symlink's final
 * target if that is a regular file (the link stays a link); anything else is refused.  (A name
 * swapped between this check and the rename is the folder owner's doing, who could write there
 * anyway.) */
static int save_target(adaopt__atomic_file *f, const char *path, adaopt__io_error *err)
{
    struct stat st;
    f->path = path;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT)
            return 0; /* a new file */
        set_failure(err, "lstat", errno);
        return -1;
    }
    if (S_ISLNK(st.st_mode)) {
        char resolved[PATH_MAX];
        if (realpath(path, resolved) == NULL) {
            if (errno == ENOENT)
                set_refusal(err, "realpath", ENOENT, "a symbolic link to nothing: a save "
                            "replaces a link's target, and this one has none");
            else
                set_failure(err, "realpath", errno);
            return -1;
        }
        if (snprintf(f->target, sizeof f->target, "%s", resolved) >= (int)sizeof f->target) {
            set_failure(err, "realpath", ENAMETOOLONG);
            return -1;
        }
        f->path = f->target;
        if (stat(f->path, &st) != 0) {
            set_failure(err, "stat", errno);
            return -1;
        }
    }
    if (!S_ISREG(st.st_mode)) {
        set_refusal(err, "open", EINVAL, NOT_REGULAR);
        return -1;
    }
    return 0;
}

int adaopt__atomic_begin(adaopt__atomic_file *f, const char *path, adaopt__io_error *err)
{
    f->fd = -1;
    if (save_target(f, path, err) != 0)
        return -1;
    path = f->path;
    if (strlen(path) + sizeof TMP_MARK + TMP_DIGITS >= sizeof f->tmp) {
        set_failure(err, "open", ENAMETOOLONG);
        return -1;
    }
    for (unsigned attempt = 0; attempt < 100; attempt++) {
        snprintf(f->tmp, sizeof f->tmp, "%s" TMP_MARK "%012llx", path,
                 (unsigned long long)(name_bits(attempt) & 0xffffffffffffull));
        int fd = retry_open(f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0) {
            if (errno == EEXIST)
                continue;
            set_failure(err, "open", errno);
            return -1;
        }
        /* Between open and flock a cleaner may have taken the lock and removed the file: then
         * it is no longer linked, and this save starts again with another name. */
        struct stat st;
        int locked = flock(fd, LOCK_EX | LOCK_NB) == 0;
        if ((!locked && errno == EWOULDBLOCK) || fstat(fd, &st) != 0 || st.st_nlink == 0) {
            close(fd);
            continue;
        }
        /* (a file system without flock: no cleaner can lock there either, so none removes it) */
        f->fd = fd;
        return 0;
    }
    set_failure(err, "open", EEXIST);
    return -1;
}

int adaopt__atomic_write(adaopt__atomic_file *f, const void *data, size_t n, adaopt__io_error *err)
{
    const unsigned char *p = data;
    while (n > 0) {
        ssize_t w = write(f->fd, p, n > (size_t)1 << 30 ? (size_t)1 << 30 : n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            set_failure(err, "write", w < 0 ? errno : ENOSPC);
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

void adaopt__atomic_abort(adaopt__atomic_file *f)
{
    if (f->fd >= 0) {
        unlink(f->tmp); /* while the lock is held: no cleaner removes it in between */
        close(f->fd);
        f->fd = -1;
    }
}

/* Removes the stale temporary files of `path` (or of any path starting with it, as ZeRO's
 * shard files do): names "<path>...<TMP_MARK><12 hex>" whose lock can be taken. */
static void remove_stale(const char *path)
{
    char dir[PATH_MAX];
    const char *base = folder_of(path, dir);
    DIR *d = opendir(dir);
    if (d == NULL)
        return; /* best effort: the save itself has succeeded */
    size_t base_len = strlen(base), mark_len = strlen(TMP_MARK);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *name = e->d_name;
        size_t len = strlen(name);
        if (len < base_len + mark_len + TMP_DIGITS || strncmp(name, base, base_len) != 0 ||
            strncmp(name + len - TMP_DIGITS - mark_len, TMP_MARK, mark_len) != 0 ||
            strspn(name + len - TMP_DIGITS, "0123456789abcdef") != TMP_DIGITS)
            continue;
        char full[PATH_MAX];
        if (snprintf(full, sizeof full, "%s/%s", dir, name) >= (int)sizeof full)
            continue;
        int fd = retry_open(full, O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0);
        if (fd < 0)
            continue;
        struct stat held, named;
        /* the lock is free: its writer died; and the name still is the file locked */
        if (flock(fd, LOCK_EX | LOCK_NB) == 0 && fstat(fd, &held) == 0 &&
            lstat(full, &named) == 0 && held.st_ino == named.st_ino &&
            held.st_dev == named.st_dev && S_ISREG(named.st_mode))
            unlink(full);
        close(fd);
    }
    closedir(d);
}

int adaopt__atomic_commit(adaopt__atomic_file *f, adaopt__io_error *err)
{
    if (retry_fsync(f->fd) != 0) {
        set_failure(err, "fsync", errno);
        adaopt__atomic_abort(f);
        return -1;
    }
    if (rename(f->tmp, f->path) != 0) {
        set_failure(err, "rename", errno);
        adaopt__atomic_abort(f);
        return -1;
    }
    int closed = close_checked(f->fd), e = errno;
    f->fd = -1;
    if (closed != 0) { /* after fsync this is rare; the file is complete and in place */
        set_failure(err, "close", e);
        return ADAOPT__IO_REPLACED;
    }
    if (sync_folder(f->path, err) != 0)
        return ADAOPT__IO_REPLACED;
    remove_stale(f->path);
    return 0;
}

int adaopt__write_file(const char *path, const void *data, size_t n, adaopt__io_error *err)
{
    adaopt__atomic_file f;
    if (adaopt__atomic_begin(&f, path, err) != 0)
        return -1;
    if (adaopt__atomic_write(&f, data, n, err) != 0) {
        adaopt__atomic_abort(&f);
        return -1;
    }
    return adaopt__atomic_commit(&f, err);
}

int adaopt__read_file(const char *path, size_t limit, unsigned char **out, size_t *n,
                      adaopt__io_error *err)
{
    /* O_NONBLOCK: opening a FIFO that has no writer returns at once, and fstat refuses it */
    int fd = retry_open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0);
    if (fd < 0) {
        set_failure(err, "open", errno);
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        set_failure(err, "fstat", errno);
        close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        set_refusal(err, "open", EINVAL, NOT_REGULAR);
        close(fd);
        return -1;
    }
    if (st.st_size < 0 || (uintmax_t)st.st_size > limit) {
        set_failure(err, "fstat", EFBIG);
        close(fd);
        return -1;
    }
    /* The size fstat gave, and one byte more to see that the file did not grow past it (a file
     * still being written grows; the buffer grows with it, up to the limit). */
    unsigned char *buf = NULL;
    size_t used = 0, cap = 0, first = (size_t)st.st_size < limit ? (size_t)st.st_size + 1 : limit;
    for (;;) {
        if (used == cap) {
            if (cap >= limit) {
                set_failure(err, "read", EFBIG);
                break;
            }
            size_t grown = cap == 0 ? (first > 0 ? first : 1) : (cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2);
            if (grown > limit)
                grown = limit;
            unsigned char *more = realloc(buf, grown);
            if (more == NULL) {
                set_failure(err, "read", ENOMEM);
                break;
            }
            buf = more;
            cap = grown;
        }
        size_t want = cap - used > (size_t)1 << 30 ? (size_t)1 << 30 : cap - used;
        ssize_t got = read(fd, buf + used, want);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            set_failure(err, "read", errno);
            break;
        }
        if (got == 0) { /* the end */
            close(fd);
            *out = buf != NULL ? buf : malloc(1);
            *n = used;
            if (*out == NULL) {
                set_failure(err, "read", ENOMEM);
                return -1;
            }
            return 0;
        }
        used += (size_t)got;
    }
    close(fd);
    free(buf);
    return -1;
}
