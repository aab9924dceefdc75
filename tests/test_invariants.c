/*
 * test_invariants.c -- properties that must hold for any input: AdaGrad's effective lr never
 * increases; AMSGrad's running maximum never decreases (so its uncorrected effective lr
 * lr/sqrt(vmax) never increases); eps modes agree at eps = 0; a skipped tensor is untouched;
 * splitting tensors into groups with equal options changes nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "helpers.h"

enum { N = 64, STEPS = 300 };

/* A deterministic pseudo-random gradient in [-scale, scale) (xorshift; no global state). */
static float next_grad(uint64_t *s, float scale)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return scale * ((float)(*s >> 40) / (float)(1u << 24) * 2.0f - 1.0f);
}

static void fill_grads(uint64_t *seed, float *g, int t)
{
    float scale = (t % 50 < 25) ? 1.0f : 0.01f; /* bursts and lulls */
    for (int i = 0; i < N; i++)
        g[i] = (i % 5 == 0 && t % 10) ? 0.0f : next_grad(seed, scale); /* a sparse column */
}

static void adagrad_effective_lr_never_increases(void **unused)
{
    (void)unused;
    adaopt_optimizer *opt = one_tensor(ADAOPT_ALGO_ADAGRAD, N);
    set_ok(opt, ADAOPT_LR_DECAY, 0.01);
    float x[N] = {0}, g[N], prev[N], eff[N];
    uint64_t seed = 42;
    for (int t = 1; t <= STEPS; t++) {
        fill_grads(&seed, g, t);
        step_ok(opt, x, g);
        assert_int_equal(adaopt_effective_lr(opt, 0, eff, N), ADAOPT_OK);
        if (t > 1)
            for (int i = 0; i < N; i++)
                assert_true(eff[i] <= prev[i]);
        memcpy(prev, eff, sizeof prev);
    }
    adaopt_destroy(opt);
}

static void amsgrad_max_never_decreases(void **unused)
{
    (void)unused;
    adaopt_optimizer *opt = one_tensor(ADAOPT_ALGO_ADAM, N);
    set_ok(opt, ADAOPT_AMSGRAD, 1);
    set_ok(opt, ADAOPT_EPS, 0.0);
    float x[N] = {0}, g[N], prev[N], eff[N];
    uint64_t seed = 7;
    double lr, b1, b2;
    adaopt_get(opt, 0, ADAOPT_LR, &lr);
    adaopt_get(opt, 0, ADAOPT_BETA1, &b1);
    adaopt_get(opt, 0, ADAOPT_BETA2, &b2);
    for (int t = 1; t <= STEPS; t++) {
        fill_grads(&seed, g, t);
        step_ok(opt, x, g);
        const float *vmax;
        assert_int_equal(adaopt_state(opt, 0, ADAOPT_STATE_MAX_EXP_AVG_SQ, &vmax, NULL), ADAOPT_OK);
        assert_int_equal(adaopt_effective_lr(opt, 0, eff, N), ADAOPT_OK);
        /* Remove the bias-correction factor sqrt(bc2)/bc1, which depends only on t: what is
         * left is Reddi et al.'s lr / sqrt(vmax), which must never increase. */
        double unbias = (1 - pow(b1, t)) / sqrt(1 - pow(b2, t));
        for (int i = 0; i < N; i++) {
            float e = (float)(eff[i] * unbias);
            if (t > 1 && vmax[i] > 0)
                assert_true(e <= prev[i] * (1 + 1e-6f));
            prev[i] = vmax[i] > 0 ? e : INFINITY;
        }
    }
    adaopt_destroy(opt);
}

/* Runs 100 steps with eps = 0 in the given mode and returns the final parameters in out. */
static void run_mode(adaopt_algorithm algorithm, int mode, float *out)
{
    adaopt_optimizer *opt = one_tensor(algorithm, N);
    set_ok(opt, ADAOPT_EPS, 0.0);
    set_ok(opt, ADAOPT_EPS_MODE, mode);
    float g[N];
    uint64_t seed = 99;
    for (int i = 0; i < N; i++)
        out[i] = 1.0f;
    for (int t = 1; t <= 100; t++) {
        for (int i = 0; i < N; i++)
            g[i] = next_grad(&seed, 1.0f) + 0.5f; /* never zero: eps = 0 must not divide 0/0 */
        step_ok(opt, out, g);
    }
    adaopt_destroy(opt);
}

static void eps_modes_agree_at_zero_eps(void **unused)
{
    (void)unused;
    const adaopt_algorithm algos[] = {ADAOPT_ALGO_ADAGRAD, ADAOPT_ALGO_RMSPROP, ADAOPT_ALGO_ADAM,
                                      ADAOPT_ALGO_ADAMW, ADAOPT_ALGO_NADAM, ADAOPT_ALGO_RADAM};
    for (size_t a = 0; a < sizeof algos / sizeof algos[0]; a++) {
        int modes = (algos[a] == ADAOPT_ALGO_ADAGRAD || algos[a] == ADAOPT_ALGO_RMSPROP) ? 2 : 3;
        float ref[N], got[N];
        run_mode(algos[a], ADAOPT_EPS_OUTSIDE, ref);
        for (int mode = 1; mode < modes; mode++) {
            run_mode(algos[a], mode, got);
            for (int i = 0; i < N; i++)
                assert_close(got[i], ref[i], 1e-5); /* same math, different rounding order */
        }
    }
}

static void skipped_tensor_is_untouched(void **unused)
{
    (void)unused;
    for (int a = ADAOPT_ALGO_SGD; a <= ADAOPT_ALGO_ASGD; a++) {
        adaopt_optimizer *opt;
        size_t numels[2] = {3, 2}, group;
        assert_int_equal(adaopt_create((adaopt_algorithm)a, &opt), ADAOPT_OK);
        assert_int_equal(adaopt_add_group(opt, numels, 2, &group), ADAOPT_OK);
        float p0[3] = {1, 2, 3}, p1[2] = {4, 5}, g0[3] = {1, 1, 1};
        float *params[2] = {p0, p1};
        const float *grads[2] = {g0, NULL};
        assert_int_equal(adaopt_step(opt, params, grads, 2), ADAOPT_OK);
        assert_true(p1[0] == 4.0f && p1[1] == 5.0f);
        assert_true(p0[0] != 1.0f);
        double t;
        assert_int_equal(adaopt_state_scalar(opt, 1, ADAOPT_STATE_STEP, &t), ADAOPT_OK);
        assert_true(t == 0.0);
        adaopt_destroy(opt);
    }
}

/* The same tensors in one group or in two groups with the same options: identical bits. */
static void groups_do_not_change_results(void **unused)
{
    (void)unused;
    for (int a = ADAOPT_ALGO_SGD; a <= ADAOPT_ALGO_ASGD; a++) {
        adaopt_optimizer *one, *two;
        size_t numels[2] = {N, N / 2}, group;
        assert_int_equal(adaopt_create((adaopt_algorithm)a, &one), ADAOPT_OK);
        assert_int_equal(adaopt_create((adaopt_algorithm)a, &two), ADAOPT_OK);
        assert_int_equal(adaopt_add_group(one, numels, 2, &group), ADAOPT_OK);
        assert_int_equal(adaopt_add_group(two, numels, 1, &group), ADAOPT_OK);
        assert_int_equal(adaopt_add_group(two, numels + 1, 1, &group), ADAOPT_OK);
        float pa[N] = {0}, pb[N / 2] = {0}, qa[N] = {0}, qb[N / 2] = {0}, ga[N], gb[N / 2];
        uint64_t seed = 5;
        for (int t = 0; t < 50; t++) {
            for (int i = 0; i < N; i++)
                ga[i] = next_grad(&seed, 1.0f);
            for (int i = 0; i < N / 2; i++)
                gb[i] = next_grad(&seed, 1.0f);
            float *p1[2] = {pa, pb}, *p2[2] = {qa, qb};
            const float *g[2] = {ga, gb};
            assert_int_equal(adaopt_step(one, p1, g, 2), ADAOPT_OK);
            assert_int_equal(adaopt_step(two, p2, g, 2), ADAOPT_OK);
        }
        assert_memory_equal(pa, qa, sizeof pa);
        assert_memory_equal(pb, qb, sizeof pb);
        adaopt_destroy(one);
        adaopt_destroy(two);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(adagrad_effective_lr_never_increases),
        cmocka_unit_test(amsgrad_max_never_decreases),
        cmocka_unit_test(eps_modes_agree_at_zero_eps),
        cmocka_unit_test(skipped_tensor_is_untouched),
        cmocka_unit_test(groups_do_not_change_results),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
