/*
 * test_threads.c -- distinct optimizer objects used from different threads at the same time
 * give the same bits as the same work done one after another (no shared mutable state).  What
 * is not safe (documented in adaopt.h): one object used by two threads at once.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "helpers.h"

enum { WORKERS = 6, N = 3000, STEPS = 200 };

typedef struct {
    adaopt_algorithm algorithm;
    size_t inner_threads; /* the optimizer's own OpenMP threads */
    float p[N];
    unsigned char *checkpoint;
    size_t checkpoint_bytes;
    int failed;
} job;

static void *work(void *arg)
{
    job *j = arg;
    adaopt_optimizer *opt;
    size_t numel = N, group;
    if (adaopt_create(j->algorithm, &opt) != ADAOPT_OK ||
        adaopt_add_group(opt, &numel, 1, &group) != ADAOPT_OK ||
        adaopt_set_threads(opt, j->inner_threads) != ADAOPT_OK) {
        j->failed = 1;
        return NULL;
    }
    float g[N];
    for (int i = 0; i < N; i++)
        j->p[i] = 1.0f;
    for (int t = 0; t < STEPS; t++) {
        for (int i = 0; i < N; i++)
            g[i] = (float)((i * 31 + t * 17) % 97) / 48.0f - 1.0f;
        float *params[1] = {j->p};
        const float *grads[1] = {g};
        if (adaopt_step(opt, params, grads, 1) != ADAOPT_OK)
            j->failed = 1;
    }
    j->checkpoint_bytes = adaopt_checkpoint_size(opt);
    j->checkpoint = malloc(j->checkpoint_bytes);
    if (j->checkpoint == NULL ||
        adaopt_save_buffer(opt, j->checkpoint, j->checkpoint_bytes, NULL) != ADAOPT_OK)
        j->failed = 1;
    adaopt_destroy(opt);
    return NULL;
}

static void distinct_objects_in_parallel(void **unused)
{
    (void)unused;
    static job parallel[WORKERS], serial[WORKERS];
    const adaopt_algorithm algos[WORKERS] = {ADAOPT_ALGO_ADAM, ADAOPT_ALGO_ADAGRAD,
                                             ADAOPT_ALGO_RMSPROP, ADAOPT_ALGO_NADAM,
                                             ADAOPT_ALGO_ADAM, ADAOPT_ALGO_SGD};
    pthread_t threads[WORKERS];
    for (int w = 0; w < WORKERS; w++) {
        parallel[w].algorithm = serial[w].algorithm = algos[w];
        parallel[w].inner_threads = serial[w].inner_threads = (w % 2) ? 2 : 1;
        assert_int_equal(pthread_create(&threads[w], NULL, work, &parallel[w]), 0);
    }
    for (int w = 0; w < WORKERS; w++)
        assert_int_equal(pthread_join(threads[w], NULL), 0);
    for (int w = 0; w < WORKERS; w++)
        work(&serial[w]);
    for (int w = 0; w < WORKERS; w++) {
        assert_false(parallel[w].failed || serial[w].failed);
        assert_memory_equal(parallel[w].p, serial[w].p, sizeof parallel[w].p);
        assert_int_equal(parallel[w].checkpoint_bytes, serial[w].checkpoint_bytes);
        assert_memory_equal(parallel[w].checkpoint, serial[w].checkpoint, serial[w].checkpoint_bytes);
        free(parallel[w].checkpoint);
        free(serial[w].checkpoint);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(distinct_objects_in_parallel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
