/*
 * test_sparse.c -- row-sparse gradients: SGD and AdaGrad give the same bits as a dense step with
 * zero rows; the Adam family and RMSProp are lazy (untouched rows keep their bits); repeated
 * indices are summed; every error is refused before anything is written.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "helpers.h"

enum { ROWS = 50, LEN = 7, NIDX = 12, STEPS = 30 };

static uint64_t rng(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* One step's sparse gradient, with repeats, and its dense equivalent (repeats summed in the
 * same order). */
static void make_grad(uint64_t *seed, int64_t *idx, float *values, float *dense)
{
    memset(dense, 0, ROWS * LEN * sizeof *dense);
    for (int k = 0; k < NIDX; k++) {
        idx[k] = (int64_t)(rng(seed) % 9) * 5 % ROWS; /* few distinct rows: many repeats */
        for (int e = 0; e < LEN; e++) {
            float v = (float)((double)(rng(seed) >> 11) / 9007199254740992.0 * 2.0 - 1.0);
            values[k * LEN + e] = v;
        }
    }
    /* the dense sum in the order of first appearance, then each later repeat: as coalesce */
    for (int k = 0; k < NIDX; k++)
        for (int e = 0; e < LEN; e++) {
            float *d = &dense[idx[k] * LEN + e];
            int first = 1;
            for (int j = 0; j < k; j++)
                if (idx[j] == idx[k])
                    first = 0;
            *d = first ? values[k * LEN + e] : *d + values[k * LEN + e];
        }
}

static adaopt_optimizer *table_optimizer(adaopt_algorithm a)
{
    adaopt_optimizer *opt = one_tensor(a, ROWS * LEN);
    assert_int_equal(adaopt_reserve_sparse(opt, NIDX, LEN, ROWS), ADAOPT_OK);
    return opt;
}

static void sparse_step_ok(adaopt_optimizer *opt, float *p, const int64_t *idx, size_t n,
                           const float *values)
{
    float *params[1] = {p};
    const float *grads[1] = {NULL};
    adaopt_sparse_grad sg = {idx, n, values, LEN};
    adaopt_status st = adaopt_step_sparse(opt, params, grads, &sg, 1);
    if (st != ADAOPT_OK)
        fail_msg("sparse step: %s", adaopt_last_error(opt));
}

static void exact_for_sgd_and_adagrad(void **unused)
{
    (void)unused;
    struct { adaopt_algorithm a; adaopt_option o; double v; } cases[] = {
        {ADAOPT_ALGO_SGD, ADAOPT_LR, 0.1},
        {ADAOPT_ALGO_SGD, ADAOPT_MAXIMIZE, 1},
        {ADAOPT_ALGO_ADAGRAD, ADAOPT_LR_DECAY, 0.05},
        {ADAOPT_ALGO_ADAGRAD, ADAOPT_INITIAL_ACCUMULATOR_VALUE, 0.3},
        {ADAOPT_ALGO_ADAGRAD, ADAOPT_EPS_MODE, ADAOPT_EPS_INSIDE},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        adaopt_optimizer *sp = table_optimizer(cases[c].a), *dn = one_tensor(cases[c].a, ROWS * LEN);
        assert_int_equal(adaopt_set(sp, 0, cases[c].o, cases[c].v), ADAOPT_OK);
        assert_int_equal(adaopt_set(dn, 0, cases[c].o, cases[c].v), ADAOPT_OK);
        float p1[ROWS * LEN], p2[ROWS * LEN], values[NIDX * LEN], dense[ROWS * LEN];
        int64_t idx[NIDX];
        for (int k = 0; k < ROWS * LEN; k++)
            p1[k] = p2[k] = (float)k / 100.0f - 1.0f;
        uint64_t seed = 17 + c;
        for (int t = 0; t < STEPS; t++) {
            make_grad(&seed, idx, values, dense);
            sparse_step_ok(sp, p1, idx, NIDX, values);
            step_ok(dn, p2, dense);
        }
        assert_memory_equal(p1, p2, sizeof p1);
        if (cases[c].a == ADAOPT_ALGO_ADAGRAD) {
            const float *s1, *s2;
            assert_int_equal(adaopt_state(sp, 0, ADAOPT_STATE_SUM, &s1, NULL), ADAOPT_OK);
            assert_int_equal(adaopt_state(dn, 0, ADAOPT_STATE_SUM, &s2, NULL), ADAOPT_OK);
            assert_memory_equal(s1, s2, sizeof p1);
        }
        adaopt_destroy(sp);
        adaopt_destroy(dn);
    }
}

/* Lazy: a row that is never named keeps its parameters and state bit for bit; a named row
 * moves exactly as a dense step of that row alone would at the tensor's global t. */
static void lazy_for_adam_family_and_rmsprop(void **unused)
{
    (void)unused;
    const adaopt_algorithm algos[] = {ADAOPT_ALGO_ADAM, ADAOPT_ALGO_ADAMW, ADAOPT_ALGO_ADAMAX,
                                      ADAOPT_ALGO_NADAM, ADAOPT_ALGO_RADAM, ADAOPT_ALGO_RMSPROP,
                                      ADAOPT_ALGO_LION};
    for (size_t a = 0; a < sizeof algos / sizeof algos[0]; a++) {
        adaopt_optimizer *opt = table_optimizer(algos[a]);
        float p[ROWS * LEN], before[ROWS * LEN], values[NIDX * LEN], dense[ROWS * LEN];
        int64_t idx[NIDX];
        for (int k = 0; k < ROWS * LEN; k++)
            p[k] = before[k] = 0.5f;
        uint64_t seed = 5;
        for (int t = 0; t < STEPS; t++) {
            make_grad(&seed, idx, values, dense);
            sparse_step_ok(opt, p, idx, NIDX, values);
        }
        int moved = 0;
        for (int r = 0; r < ROWS; r++) {
            int named = r % 5 == 0 && r / 5 < 9; /* make_grad names rows (k*5) % 50, k < 9 */
            for (int e = 0; e < LEN; e++) {
                if (!named)
                    assert_true(p[r * LEN + e] == before[r * LEN + e]);
                else
                    moved += p[r * LEN + e] != before[r * LEN + e];
            }
        }
        assert_true(moved > 0);
        double t;
        assert_int_equal(adaopt_state_scalar(opt, 0, ADAOPT_STATE_STEP, &t), ADAOPT_OK);
        assert_true(t == STEPS);
        /* A step that names no row still counts (t is the tensor's step, as SparseAdam). */
        sparse_step_ok(opt, p, idx, 0, values);
        assert_int_equal(adaopt_state_scalar(opt, 0, ADAOPT_STATE_STEP, &t), ADAOPT_OK);
        assert_true(t == STEPS + 1);
        adaopt_destroy(opt);
    }
}

/* Lazy Adam on a row = a dense Adam (eps_mode hat) on that row alone, when every step names it. */
static void lazy_adam_row_matches_dense_row(void **unused)
{
    (void)unused;
    adaopt_optimizer *sp = table_optimizer(ADAOPT_ALGO_ADAM), *dn = one_tensor(ADAOPT_ALGO_ADAM, LEN);
    set_ok(dn, ADAOPT_EPS_MODE, ADAOPT_EPS_HAT);
    float p[ROWS * LEN] = {0}, q[LEN] = {0}, values[NIDX * LEN], dense[ROWS * LEN];
    int64_t idx[NIDX];
    uint64_t seed = 3;
    for (int t = 0; t < STEPS; t++) {
        make_grad(&seed, idx, values, dense);
        idx[0] = 7; /* row 7 named once each step */
        for (int k = 1; k < NIDX; k++)
            if (idx[k] == 7)
                idx[k] = 10;
        sparse_step_ok(sp, p, idx, NIDX, values);
        step_ok(dn, q, values); /* the first values row is row 7's gradient */
    }
    assert_memory_equal(p + 7 * LEN, q, sizeof q);
    adaopt_destroy(sp);
    adaopt_destroy(dn);
}

static void mixed_dense_and_sparse(void **unused)
{
    (void)unused;
    adaopt_optimizer *opt;
    size_t numels[2] = {ROWS * LEN, 3}, group;
    assert_int_equal(adaopt_create(ADAOPT_ALGO_ADAGRAD, &opt), ADAOPT_OK);
    assert_int_equal(adaopt_add_group(opt, numels, 2, &group), ADAOPT_OK);
    assert_int_equal(adaopt_reserve_sparse(opt, 2, LEN, ROWS), ADAOPT_OK);
    float table[ROWS * LEN] = {0}, bias[3] = {0}, gb[3] = {1, 1, 1}, values[2 * LEN];
    for (int e = 0; e < 2 * LEN; e++)
        values[e] = 1.0f;
    int64_t idx[2] = {3, 3};
    float *params[2] = {table, bias};
    const float *grads[2] = {NULL, gb};
    adaopt_sparse_grad sg[2] = {{idx, 2, values, LEN}, {0}};
    assert_int_equal(adaopt_step_sparse(opt, params, grads, sg, 2), ADAOPT_OK);
    assert_close(table[3 * LEN], -0.01, 1e-6); /* summed gradient 2: lr * 2 / sqrt(4) */
    assert_true(table[4 * LEN] == 0.0f);
    assert_close(bias[0], -0.01, 1e-6);
    adaopt_destroy(opt);
}

static void errors_write_nothing(void **unused)
{
    (void)unused;
    adaopt_optimizer *opt = table_optimizer(ADAOPT_ALGO_ADAM);
    float p[ROWS * LEN] = {0}, values[NIDX * LEN] = {0}, g[ROWS * LEN] = {0};
    for (int k = 0; k < NIDX * LEN; k++)
        values[k] = 1.0f;
    int64_t good[2] = {1, 2}, negative[2] = {1, -1}, big[2] = {1, ROWS};
    float *params[1] = {p};
    const float *none[1] = {NULL}, *dense[1] = {g};
    adaopt_sparse_grad sg = {negative, 2, values, LEN};
    assert_int_equal(adaopt_step_sparse(opt, params, none, &sg, 1), ADAOPT_ERR_INDEX);
    assert_non_null(strstr(adaopt_last_error(opt), "-1"));
    sg.indices = big;
    assert_int_equal(adaopt_step_sparse(opt, params, none, &sg, 1), ADAOPT_ERR_INDEX);
    sg.indices = good;
    sg.row_len = 0;
    assert_int_equal(adaopt_step_sparse(opt, params, none, &sg, 1), ADAOPT_ERR_SIZE);
    sg.row_len = 6; /* does not divide 350 */
    assert_int_equal(adaopt_step_sparse(opt, params, none, &sg, 1), ADAOPT_ERR_SIZE);
    sg.row_len = LEN;
    sg.values = NULL;
    assert_int_equal(adaopt_step_sparse(opt, params, none, &sg, 1), ADAOPT_ERR_NULL);
    sg.values = values;
    sg.n_indices = NIDX + 1; /* more than reserved */
    assert_int_equal(adaopt_step_sparse(opt, params, none, &sg, 1), ADAOPT_ERR_SIZE);
    assert_non_null(strstr(adaopt_last_error(opt), "adaopt_reserve_sparse"));
    sg.n_indices = 2;
    assert_int_equal(adaopt_step_sparse(opt, params, dense, &sg, 1), ADAOPT_ERR_CONFLICT);
    set_ok(opt, ADAOPT_WEIGHT_DECAY, 0.1);
    assert_int_equal(adaopt_step_sparse(opt, params, none, &sg, 1), ADAOPT_ERR_CONFLICT);
    assert_non_null(strstr(adaopt_last_error(opt), "weight_decay"));
    double t;
    assert_int_equal(adaopt_state_scalar(opt, 0, ADAOPT_STATE_STEP, &t), ADAOPT_OK);
    assert_true(t == 0);
    for (int k = 0; k < ROWS * LEN; k++)
        assert_true(p[k] == 0.0f);
    assert_int_equal(adaopt_reserve_sparse(NULL, 1, 1, 1), ADAOPT_ERR_NULL);
    adaopt_destroy(opt);

    opt = table_optimizer(ADAOPT_ALGO_SGD);
    set_ok(opt, ADAOPT_MOMENTUM, 0.9);
    assert_int_equal(adaopt_step_sparse(opt, params, none, &sg, 1), ADAOPT_ERR_CONFLICT);
    adaopt_destroy(opt);
    opt = table_optimizer(ADAOPT_ALGO_ADAMW); /* decoupled decay is allowed (lazily) */
    assert_int_equal(adaopt_step_sparse(opt, params, none, &sg, 1), ADAOPT_OK);
    adaopt_destroy(opt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exact_for_sgd_and_adagrad),
        cmocka_unit_test(lazy_for_adam_family_and_rmsprop),
        cmocka_unit_test(lazy_adam_row_matches_dense_row),
        cmocka_unit_test(mixed_dense_and_sparse),
        cmocka_unit_test(errors_write_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
