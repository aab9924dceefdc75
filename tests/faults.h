/*
 * faults.h -- fault injection for the POSIX calls of the library's file I/O (src/fileio.c).
 * A test that includes this (once) and links with
 *     -Wl,--wrap=open,--wrap=write,--wrap=read,--wrap=fsync,--wrap=close,--wrap=rename
 * gets every such call of the statically linked library through these wrappers, which count the
 * calls while armed and make the chosen one fail: with an errno (ENOSPC, EIO, ...), with EINTR
 * once (the library must retry), or short (a write or read of fewer bytes; it must continue).
 */
#ifndef ADAOPT_TEST_FAULTS_H
#define ADAOPT_TEST_FAULTS_H

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/types.h>

enum fault_call { CALL_OPEN, CALL_WRITE, CALL_READ, CALL_FSYNC, CALL_CLOSE, CALL_RENAME, N_CALLS };
static const char *const CALL_NAMES[N_CALLS] = {"open", "write", "read", "fsync", "close",
                                                "rename"};
enum { FAULT_SHORT = -1, MAX_LOG = 4096 };

typedef struct fault_plan {
    int armed;
    int count[N_CALLS];      /* calls seen while armed */
    enum fault_call log[MAX_LOG]; /* their order */
    int n_log;
    int call, at, err;       /* fail call `call` number `at` (0-based) with errno `err`, or short */
    int fired;
} fault_plan;

static fault_plan faults;

static void faults_arm(int call, int at, int err)
{
    faults.armed = 1;
    faults.call = call;
    faults.at = at;
    faults.err = err;
    faults.fired = 0;
    faults.n_log = 0;
    for (int c = 0; c < N_CALLS; c++)
        faults.count[c] = 0;
}

static void faults_disarm(void)
{
    faults.armed = 0;
}

/* 1 if this call is the one to fail (and counts it). */
static int fault_here(enum fault_call call)
{
    if (!faults.armed)
        return 0;
    int n = faults.count[call]++;
    if (faults.n_log < MAX_LOG)
        faults.log[faults.n_log++] = call;
    if ((int)call == faults.call && n == faults.at) {
        faults.fired = 1;
        return 1;
    }
    return 0;
}

int __real_open(const char *path, int flags, ...);
ssize_t __real_write(int fd, const void *buf, size_t n);
ssize_t __real_read(int fd, void *buf, size_t n);
int __real_fsync(int fd);
int __real_close(int fd);
int __real_rename(const char *from, const char *to);
int __wrap_open(const char *path, int flags, ...);
ssize_t __wrap_write(int fd, const void *buf, size_t n);
ssize_t __wrap_read(int fd, void *buf, size_t n);
int __wrap_fsync(int fd);
int __wrap_close(int fd);
int __wrap_rename(const char *from, const char *to);

int __wrap_open(const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    int mode = va_arg(ap, int); /* read whatever is there: open passes it when O_CREAT */
    va_end(ap);
    if (fault_here(CALL_OPEN)) {
        errno = faults.err;
        return -1;
    }
    return __real_open(path, flags, mode);
}

ssize_t __wrap_write(int fd, const void *buf, size_t n)
{
    if (fault_here(CALL_WRITE)) {
        if (faults.err == FAULT_SHORT)
            return __real_write(fd, buf, n > 3 ? n / 3 : n);
        errno = faults.err;
        return -1;
    }
    return __real_write(fd, buf, n);
}

ssize_t __wrap_read(int fd, void *buf, size_t n)
{
    if (fault_here(CALL_READ)) {
        if (faults.err == FAULT_SHORT)
            return __real_read(fd, buf, n > 3 ? n / 3 : n);
        errno = faults.err;
        return -1;
    }
    return __real_read(fd, buf, n);
}

int __wrap_fsync(int fd)
{
    if (fault_here(CALL_FSYNC)) {
        errno = faults.err;
        return -1;
    }
    return __real_fsync(fd);
}

int __wrap_close(int fd)
{
    if (fault_here(CALL_CLOSE)) {
        __real_close(fd); /* as Linux: the descriptor is gone whatever close reports */
        errno = faults.err;
        return -1;
    }
    return __real_close(fd);
}

int __wrap_rename(const char *from, const char *to)
{
    if (fault_here(CALL_RENAME)) {
        errno = faults.err;
        return -1;
    }
    return __real_rename(from, to);
}

#endif
