/*
 * test_faults.c -- every POSIX call of saving and loading a checkpoint file made to fail in turn
 * (tests/faults.h): ENOSPC and EIO give ADAOPT_ERR_IO with a message naming the file, the call
 * and the cause, the previous checkpoint still holds its exact bytes, the optimizer is unchanged
 * and no temporary file is left; EINTR and short writes or reads are continued and the save or
 * load succeeds.  A fault after the rename (the folder's fsync) leaves the new file in place and
 * says so.
 */
#define _DEFAULT_SOURCE /* mkdtemp */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "faults.h"
#include "helpers.h"

enum { N0 = 70000, N1 = 100 }; /* a save of several 64 KiB writes */

typedef struct bytes {
    unsigned char *p;
    size_t n;
} bytes;

static bytes file_bytes(const char *path)
{
    bytes b = {NULL, 0};
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return b;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    b.p = malloc(n > 0 ? (size_t)n : 1);
    assert_non_null(b.p);
    b.n = fread(b.p, 1, (size_t)n, f);
    fclose(f);
    return b;
}

static bytes state_bytes(const adaopt_optimizer *opt)
{
    bytes b;
    b.n = adaopt_checkpoint_size(opt);
    b.p = malloc(b.n);
    assert_non_null(b.p);
    assert_int_equal(adaopt_save_buffer(opt, b.p, b.n, &b.n), ADAOPT_OK);
    return b;
}

static int same(bytes a, bytes b)
{
    return a.n == b.n && a.p != NULL && b.p != NULL && memcmp(a.p, b.p, a.n) == 0;
}

static int count_temps(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += strstr(e->d_name, ".adaopt-tmp-") != NULL;
    closedir(d);
    return n;
}

/* An Adam optimizer over two tensors after `steps` steps of a fixed gradient sequence. */
static adaopt_optimizer *trained(int steps)
{
    static float p[N0 + N1], g[N0 + N1];
    adaopt_optimizer *opt;
    size_t numels[2] = {N0, N1}, group;
    assert_int_equal(adaopt_create(ADAOPT_ALGO_ADAM, &opt), ADAOPT_OK);
    assert_int_equal(adaopt_add_group(opt, numels, 2, &group), ADAOPT_OK);
    for (size_t i = 0; i < N0 + N1; i++)
        p[i] = (float)(i % 17) / 17.0f;
    for (int s = 0; s < steps; s++) {
        for (size_t i = 0; i < N0 + N1; i++)
            g[i] = (float)((i * 7 + (size_t)s * 13) % 29) / 29.0f - 0.5f;
        assert_int_equal(adaopt_step_flat(opt, p, g), ADAOPT_OK);
    }
    return opt;
}

/* Position in the armed run's log of the at-th call of kind `call`. */
static int position_of(const enum fault_call *log, int n_log, int call, int at)
{
    for (int k = 0, seen = 0; k < n_log; k++)
        if ((int)log[k] == call && seen++ == at)
            return k;
    return -1;
}

static const int ERRORS[] = {ENOSPC, EIO, EINTR, FAULT_SHORT};

static void every_save_fault(void **unused)
{
    (void)unused;
    char dir[] = "/tmp/adaopt-faults-XXXXXX", path[256], other[256];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/opt.ckpt", dir);
    snprintf(other, sizeof other, "%s/count.ckpt", dir);
    adaopt_optimizer *old = trained(3), *opt = trained(5);
    assert_int_equal(adaopt_save_file(old, path), ADAOPT_OK);
    bytes b_old = file_bytes(path), b_new = state_bytes(opt);
    assert_false(same(b_old, b_new));

    /* the calls of one save, in order */
    faults_arm(-1, -1, 0);
    assert_int_equal(adaopt_save_file(opt, other), ADAOPT_OK);
    faults_disarm();
    unlink(other);
    enum fault_call log[MAX_LOG];
    int n_log = faults.n_log, count[N_CALLS];
    memcpy(log, faults.log, sizeof log);
    memcpy(count, faults.count, sizeof count);
    int rename_at = position_of(log, n_log, CALL_RENAME, 0);
    assert_true(rename_at > 0 && count[CALL_WRITE] >= 8 && count[CALL_FSYNC] == 2);

    int trials = 0;
    for (int call = 0; call < N_CALLS; call++) {
        for (int at = 0; at < count[call]; at++) {
            for (size_t k = 0; k < sizeof ERRORS / sizeof ERRORS[0]; k++) {
                int err = ERRORS[k];
                if ((err == FAULT_SHORT && call != CALL_WRITE) || (err == EINTR && call == CALL_RENAME))
                    continue;
                bytes now = file_bytes(path);
                if (!same(now, b_old)) /* the previous trial replaced it: put the old one back */
                    assert_int_equal(adaopt_save_file(old, path), ADAOPT_OK);
                free(now.p);
                bytes before = state_bytes(opt);
                faults_arm(call, at, err);
                adaopt_status st = adaopt_save_file(opt, path);
                faults_disarm();
                if (!faults.fired)
                    fail_msg("%s #%d was not called", CALL_NAMES[call], at);
                int pos = position_of(log, n_log, call, at);
                int last = pos == n_log - 1; /* the folder's close, after its fsync succeeded */
                const char *why = err == FAULT_SHORT ? "short" : strerror(err);
                bytes after = file_bytes(path), state = state_bytes(opt);
                if (err == EINTR || err == FAULT_SHORT || last) {
                    if (st != ADAOPT_OK || !same(after, b_new))
                        fail_msg("%s #%d %s: status %d (%s), want success with the new bytes",
                                 CALL_NAMES[call], at, why, st, adaopt_last_error(opt));
                } else {
                    const char *msg = adaopt_last_error(opt);
                    if (st != ADAOPT_ERR_IO || !strstr(msg, path) || !strstr(msg, CALL_NAMES[call]) ||
                        !strstr(msg, strerror(err)))
                        fail_msg("%s #%d %s: status %d, message \"%s\": want ERR_IO naming the "
                                 "file, the call and the cause", CALL_NAMES[call], at, why, st, msg);
                    if (pos > rename_at) { /* the new file is complete and in place */
                        if (!same(after, b_new) || !strstr(msg, "in place"))
                            fail_msg("%s #%d %s after the rename: %s", CALL_NAMES[call], at, why,
                                     msg);
                    } else if (!same(after, b_old)) {
                        fail_msg("%s #%d %s: the previous checkpoint changed", CALL_NAMES[call],
                                 at, why);
                    }
                }
                assert_true(same(state, before)); /* saving never changes the optimizer */
                if (count_temps(dir) != 0)
                    fail_msg("%s #%d %s: a temporary file was left", CALL_NAMES[call], at, why);
                /* and whatever happened, the file loads */
                adaopt_optimizer *check = trained(0);
                assert_int_equal(adaopt_load_file(check, path), ADAOPT_OK);
                adaopt_destroy(check);
                free(after.p);
                free(state.p);
                free(before.p);
                trials++;
            }
        }
    }
    printf("save: %d calls per save, %d faults injected, each checked\n", n_log, trials);
    assert_true(trials > 30);
    free(b_old.p);
    free(b_new.p);
    adaopt_destroy(old);
    adaopt_destroy(opt);
    unlink(path);
    rmdir(dir);
}

static void every_load_fault(void **unused)
{
    (void)unused;
    char dir[] = "/tmp/adaopt-faults-XXXXXX", path[256];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/opt.ckpt", dir);
    adaopt_optimizer *saved = trained(4);
    assert_int_equal(adaopt_save_file(saved, path), ADAOPT_OK);
    bytes b_saved = state_bytes(saved);
    adaopt_optimizer *target = trained(2);
    faults_arm(-1, -1, 0);
    assert_int_equal(adaopt_load_file(target, path), ADAOPT_OK);
    faults_disarm();
    int count[N_CALLS];
    memcpy(count, faults.count, sizeof count);
    /* one read of the size fstat gives, and one that finds the end */
    assert_true(count[CALL_OPEN] == 1 && count[CALL_READ] >= 2 && count[CALL_CLOSE] == 1);
    adaopt_destroy(target);

    int trials = 0;
    static const int LOAD_ERRORS[] = {EIO, EACCES, EINTR, FAULT_SHORT};
    for (int call = 0; call < N_CALLS; call++) {
        for (int at = 0; at < count[call]; at++) {
            for (size_t k = 0; k < sizeof LOAD_ERRORS / sizeof LOAD_ERRORS[0]; k++) {
                int err = LOAD_ERRORS[k];
                if (err == FAULT_SHORT && call != CALL_READ)
                    continue;
                target = trained(2);
                bytes before = state_bytes(target);
                faults_arm(call, at, err);
                adaopt_status st = adaopt_load_file(target, path);
                faults_disarm();
                assert_true(faults.fired);
                bytes after = state_bytes(target);
                const char *why = err == FAULT_SHORT ? "short" : strerror(err);
                if (err == EINTR || err == FAULT_SHORT || call == CALL_CLOSE) {
                    /* retried, continued; a failing close of a file read in full is harmless */
                    if (st != ADAOPT_OK || !same(after, b_saved))
                        fail_msg("load %s #%d %s: status %d (%s), want the saved state",
                                 CALL_NAMES[call], at, why, st, adaopt_last_error(target));
                } else {
                    const char *msg = adaopt_last_error(target);
                    if (st != ADAOPT_ERR_IO || !strstr(msg, path) || !strstr(msg, strerror(err)) ||
                        !strstr(msg, CALL_NAMES[call]))
                        fail_msg("load %s #%d %s: status %d, \"%s\"", CALL_NAMES[call], at, why,
                                 st, msg);
                    assert_true(same(after, before)); /* unchanged */
                }
                free(before.p);
                free(after.p);
                adaopt_destroy(target);
                trials++;
            }
        }
    }
    printf("load: %d faults injected, each checked\n", trials);
    free(b_saved.p);
    adaopt_destroy(saved);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_save_fault),
        cmocka_unit_test(every_load_fault),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
