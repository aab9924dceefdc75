/*
 * test_trainer_api.c -- what a C trainer reaches for first (issue 17): options from one string,
 * starting at a given step, the flat-buffer step, and the thread default under OMP_NUM_THREADS.
 * References: the enum API itself (adaopt_set, adaopt_step with pointer arrays, a run that
 * really took the steps), compared bit for bit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "helpers.h"

static void expect_error(adaopt_optimizer *opt, adaopt_status got, adaopt_status want,
                         const char *fragment)
{
    if (got != want)
        fail_msg("status %d (%s), expected %d; message: %s", got, adaopt_status_name(got), want,
                 adaopt_last_error(opt));
    if (strstr(adaopt_last_error(opt), fragment) == NULL)
        fail_msg("message \"%s\" lacks \"%s\"", adaopt_last_error(opt), fragment);
}

static double get(adaopt_optimizer *opt, size_t group, adaopt_option option)
{
    double v = -1;
    assert_int_equal(adaopt_get(opt, group, option, &v), ADAOPT_OK);
    return v;
}

/* ---- adaopt_set_options ---- */

static void options_string_equals_enum_calls(void **unused)
{
    (void)unused;
    adaopt_optimizer *opt = one_tensor(ADAOPT_ALGO_ADAMW, 4);
    assert_int_equal(adaopt_set_options(opt, 0, "lr=1e-4,betas=0.9,0.95, eps = 1e-6"),
                     ADAOPT_ERR_VALUE); /* blanks around '=' are not name=value */
    assert_int_equal(adaopt_set_options(opt, 0,
                                        "lr=1e-4,betas=0.9, 0.95;eps=1e-6 weight-decay=0 "
                                        "amsgrad=true eps_mode=hat maximize=0"),
                     ADAOPT_OK);
    assert_true(get(opt, 0, ADAOPT_LR) == 1e-4);
    assert_true(get(opt, 0, ADAOPT_BETA1) == 0.9);
    assert_true(get(opt, 0, ADAOPT_BETA2) == 0.95);
    assert_true(get(opt, 0, ADAOPT_EPS) == 1e-6);
    assert_true(get(opt, 0, ADAOPT_WEIGHT_DECAY) == 0.0);
    assert_true(get(opt, 0, ADAOPT_AMSGRAD) == 1.0);
    assert_true(get(opt, 0, ADAOPT_EPS_MODE) == ADAOPT_EPS_HAT);
    /* amsgrad's state was allocated by the call, as adaopt_set would: a step works */
    float p[4] = {1, 2, 3, 4}, g[4] = {0.1f, -0.2f, 0.3f, -0.4f};
    step_ok(opt, p, g);
    const float *vmax;
    assert_int_equal(adaopt_state(opt, 0, ADAOPT_STATE_MAX_EXP_AVG_SQ, &vmax, NULL), ADAOPT_OK);
    assert_true(vmax[3] > 0.0f);
    assert_int_equal(adaopt_set_options(opt, 0, ""), ADAOPT_OK);
    assert_int_equal(adaopt_set_options(opt, 0, " ,; "), ADAOPT_OK);
    assert_true(get(opt, 0, ADAOPT_LR) == 1e-4);
    adaopt_destroy(opt);
}

/* ---- adaopt_set_values: the same from variables, unrounded ---- */

static void option_values_from_variables(void **unused)
{
    (void)unused;
    adaopt_optimizer *opt = NULL, *twin = NULL;
    size_t n[2] = {3, 5};
    assert_int_equal(adaopt_create(ADAOPT_ALGO_SGD, &opt), ADAOPT_OK);
    assert_int_equal(adaopt_add_group(opt, n, 1, NULL), ADAOPT_OK);
    assert_int_equal(adaopt_add_group(opt, n + 1, 1, NULL), ADAOPT_OK);
    const double lr = 1.0 / 3.0; /* "%g" would write 0.333333 */
    /* each failure names its cause and leaves both groups at their defaults */
    const adaopt_option_value bad_value[] = {{ADAOPT_LR, 0.5}, {ADAOPT_MOMENTUM, -1}};
    expect_error(opt, adaopt_set_values(opt, 0, bad_value, 2), ADAOPT_ERR_VALUE,
                 "momentum must be >= 0");
    const adaopt_option_value twice[] = {{ADAOPT_LR, 0.5}, {ADAOPT_LR, 0.6}};
    expect_error(opt, adaopt_set_values(opt, 0, twice, 2), ADAOPT_ERR_VALUE, "lr is given twice");
    const adaopt_option_value not_sgd[] = {{ADAOPT_LR, 0.5}, {ADAOPT_BETA1, 0.9}};
    expect_error(opt, adaopt_set_values(opt, 0, not_sgd, 2), ADAOPT_ERR_OPTION, "beta1");
    const adaopt_option_value unknown[] = {{(adaopt_option)999, 1}};
    expect_error(opt, adaopt_set_values(opt, 0, unknown, 1), ADAOPT_ERR_OPTION, "unknown option");
    const adaopt_option_value conflict[] = {{ADAOPT_LR, 0.5}, {ADAOPT_NESTEROV, 1}};
    expect_error(opt, adaopt_set_values(opt, 0, conflict, 2), ADAOPT_ERR_CONFLICT, "nesterov");
    const adaopt_option_value huge[] = {{ADAOPT_LR, 1e300}};
    expect_error(opt, adaopt_set_values(opt, 0, huge, 1), ADAOPT_ERR_VALUE, "float32");
    expect_error(opt, adaopt_set_values(opt, 2, huge, 1), ADAOPT_ERR_INDEX, "group 2");
    expect_error(opt, adaopt_set_values(opt, 0, NULL, 1), ADAOPT_ERR_NULL, "NULL");
    adaopt_option_value many[40];
    for (int k = 0; k < 40; k++)
        many[k] = (adaopt_option_value){ADAOPT_LR, 0.5};
    expect_error(opt, adaopt_set_values(opt, 0, many, 40), ADAOPT_ERR_VALUE, "twice");
    assert_int_equal(adaopt_set_values(NULL, 0, huge, 1), ADAOPT_ERR_NULL);
    for (size_t gi = 0; gi < 2; gi++) {
        assert_true(get(opt, gi, ADAOPT_LR) == 1e-3);
        assert_true(get(opt, gi, ADAOPT_MOMENTUM) == 0.0);
    }
    assert_int_equal(adaopt_set_values(opt, 0, NULL, 0), ADAOPT_OK); /* nothing */
    /* together, in any order, all groups: the same as the string (but lr unrounded) */
    const adaopt_option_value ok[] = {{ADAOPT_NESTEROV, 1}, {ADAOPT_MOMENTUM, 0.9},
                                      {ADAOPT_LR, lr}};
    assert_int_equal(adaopt_set_values(opt, ADAOPT_ALL_GROUPS, ok, 3), ADAOPT_OK);
    assert_int_equal(adaopt_create(ADAOPT_ALGO_SGD, &twin), ADAOPT_OK);
    assert_int_equal(adaopt_add_group(twin, n, 1, NULL), ADAOPT_OK);
    assert_int_equal(adaopt_add_group(twin, n + 1, 1, NULL), ADAOPT_OK);
    char text[64];
    snprintf(text, sizeof text, "nesterov=1 momentum=0.9 lr=%.17g", lr);
    assert_int_equal(adaopt_set_options(twin, ADAOPT_ALL_GROUPS, text), ADAOPT_OK);
    for (size_t gi = 0; gi < 2; gi++)
        for (int o = ADAOPT_LR; o <= ADAOPT_OPTION_MAX; o++) {
            double a, b;
            if (adaopt_get(opt, gi, (adaopt_option)o, &a) == ADAOPT_OK) {
                assert_int_equal(adaopt_get(twin, gi, (adaopt_option)o, &b), ADAOPT_OK);
                assert_true(a == b);
            }
        }
    assert_true(get(opt, 1, ADAOPT_LR) == lr);
    adaopt_destroy(opt);
    adaopt_destroy(twin);
}

static void options_string_all_or_nothing(void **unused)
{
    (void)unused;
    adaopt_optimizer *opt = NULL;
    size_t n[2] = {3, 5}, group;
    assert_int_equal(adaopt_create(ADAOPT_ALGO_SGD, &opt), ADAOPT_OK);
    assert_int_equal(adaopt_add_group(opt, n, 1, &group), ADAOPT_OK);
    assert_int_equal(adaopt_add_group(opt, n + 1, 1, &group), ADAOPT_OK);
    /* each failure names its cause and leaves both groups at their defaults */
    expect_error(opt, adaopt_set_options(opt, 0, "lr=0.5, momentum=-1"), ADAOPT_ERR_VALUE,
                 "momentum must be >= 0");
    expect_error(opt, adaopt_set_options(opt, 0, "lr=0.5, betas=0.9,0.99"), ADAOPT_ERR_OPTION,
                 "sgd has no option 'beta1'");
    expect_error(opt, adaopt_set_options(opt, 0, "lr=0.5, learning_rate=1"), ADAOPT_ERR_OPTION,
                 "unknown option 'learning_rate'");
    expect_error(opt, adaopt_set_options(opt, 0, "lr=0.5, momentum"), ADAOPT_ERR_VALUE,
                 "expected name=value at position 8");
    expect_error(opt, adaopt_set_options(opt, 0, "lr=0.5x"), ADAOPT_ERR_VALUE, "lr needs a value");
    /* a second '.' sends the number through the locale's copy: read in its own scope (ASan) */
    expect_error(opt, adaopt_set_options(opt, 0, "lr=1..5"), ADAOPT_ERR_VALUE, "lr needs a value");
    expect_error(opt, adaopt_set_options(opt, 0, "lr=,momentum=0.9"), ADAOPT_ERR_VALUE,
                 "lr needs a value");
    expect_error(opt, adaopt_set_options(opt, 0, "lr=nan"), ADAOPT_ERR_VALUE, "finite");
    expect_error(opt, adaopt_set_options(opt, 0, "lr=0.5,lr=0.6"), ADAOPT_ERR_VALUE,
                 "lr is given twice");
    expect_error(opt, adaopt_set_options(opt, 0, "nesterov=yes"), ADAOPT_ERR_VALUE,
                 "nesterov needs a value");
    expect_error(opt, adaopt_set_options(opt, 0, "lr=0.5,nesterov=1"), ADAOPT_ERR_CONFLICT,
                 "nesterov requires momentum > 0");
    expect_error(opt, adaopt_set_options(opt, 7, "lr=0.5"), ADAOPT_ERR_INDEX, "group 7");
    expect_error(opt, adaopt_set_options(opt, 0, NULL), ADAOPT_ERR_NULL, "NULL");
    char long_name[200];
    memset(long_name, 'a', sizeof long_name - 3);
    memcpy(long_name + sizeof long_name - 3, "=1", 3);
    expect_error(opt, adaopt_set_options(opt, 0, long_name), ADAOPT_ERR_VALUE, "name=value");
    assert_int_equal(adaopt_set_options(NULL, 0, "lr=1"), ADAOPT_ERR_NULL);
    for (size_t gi = 0; gi < 2; gi++) {
        assert_true(get(opt, gi, ADAOPT_LR) == 1e-3);
        assert_true(get(opt, gi, ADAOPT_MOMENTUM) == 0.0);
        assert_true(get(opt, gi, ADAOPT_NESTEROV) == 0.0);
    }
    /* together, nesterov with its momentum is fine, in either order; ALL_GROUPS sets both */
    assert_int_equal(adaopt_set_options(opt, ADAOPT_ALL_GROUPS, "nesterov=1 momentum=0.9"),
                     ADAOPT_OK);
    for (size_t gi = 0; gi < 2; gi++) {
        assert_true(get(opt, gi, ADAOPT_MOMENTUM) == 0.9);
        assert_true(get(opt, gi, ADAOPT_NESTEROV) == 1.0);
    }
    /* undoing the momentum alone would break nesterov: refused, nothing changes */
    expect_error(opt, adaopt_set_options(opt, 1, "momentum=0"), ADAOPT_ERR_CONFLICT, "group 1");
    assert_true(get(opt, 1, ADAOPT_MOMENTUM) == 0.9);
    adaopt_destroy(opt);

    opt = one_tensor(ADAOPT_ALGO_ADAGRAD, 2);
    expect_error(opt, adaopt_set_options(opt, 0, "eps_mode=hat"), ADAOPT_ERR_VALUE,
                 "not supported by adagrad");
    assert_int_equal(adaopt_set_options(opt, 0, "eps_mode=INSIDE, lr_decay=0.5"), ADAOPT_OK);
    assert_true(get(opt, 0, ADAOPT_EPS_MODE) == ADAOPT_EPS_INSIDE);
    adaopt_destroy(opt);
}

/* ---- adaopt_set_step ---- */

enum { N0 = 37, N1 = 70000 }; /* two groups; the second tensor spans two chunks */

typedef struct {
    adaopt_algorithm algorithm;
    const char *options;
} recipe;

static const recipe RECIPES[] = {
    {ADAOPT_ALGO_SGD, "momentum=0.9, nesterov=1"},
    {ADAOPT_ALGO_ADAGRAD, "lr_decay=0.01, initial_accumulator_value=0.3"},
    {ADAOPT_ALGO_RMSPROP, "centered=1, momentum=0.5"},
    {ADAOPT_ALGO_ADAM, "amsgrad=1, weight_decay=0.1"},
    {ADAOPT_ALGO_ADAMW, "betas=0.8,0.95"},
    {ADAOPT_ALGO_ADAMAX, "lr=0.01"},
    {ADAOPT_ALGO_NADAM, "momentum_decay=0.01, decoupled_weight_decay=1, weight_decay=0.1"},
    {ADAOPT_ALGO_RADAM, "eps_mode=inside"},
    {ADAOPT_ALGO_LION, "weight_decay=0.1, betas=0.8,0.95"},
    {ADAOPT_ALGO_ADAMW_SCHEDULE_FREE, "weight_decay=0.1, warmup_steps=5, r=1"},
    {ADAOPT_ALGO_LAMB, "weight_decay=0.1, grad_averaging=0"},
    {ADAOPT_ALGO_ADAFACTOR, "weight_decay=0.1, beta2_decay=-0.5"},
    {ADAOPT_ALGO_ADADELTA, "rho=0.8, weight_decay=0.1"},
    {ADAOPT_ALGO_RPROP, "etas=0.4,1.3, step_sizes=1e-5,0.5"},
    {ADAOPT_ALGO_ASGD, "t0=3, lambd=0.01, weight_decay=0.1"},
};

static adaopt_optimizer *make(const recipe *r)
{
    adaopt_optimizer *opt = NULL;
    size_t n0 = N0, n1 = N1, group;
    assert_int_equal(adaopt_create(r->algorithm, &opt), ADAOPT_OK);
    assert_int_equal(adaopt_add_group(opt, &n0, 1, &group), ADAOPT_OK);
    assert_int_equal(adaopt_add_group(opt, &n1, 1, &group), ADAOPT_OK);
    if (adaopt_set_options(opt, 0, r->options) != ADAOPT_OK)
        fail_msg("%s", adaopt_last_error(opt));
    assert_int_equal(adaopt_set_options(opt, 1, "lr=0.003"), ADAOPT_OK);
    return opt;
}

static void fill(float *x, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = (float)((int32_t)(seed >> 8) - (1 << 23)) / (float)(1 << 23);
    }
}

/* A trainer that kept its own step counter and optimizer state restores them into a fresh
 * optimizer (adaopt_set_state for the arrays, adaopt_set_step for the count) and goes on: the
 * bits equal those of the run that never stopped, for every algorithm. */
static void set_step_resumes_exactly(void **unused)
{
    (void)unused;
    enum { BEFORE = 12, AFTER = 6 };
    float *p = malloc((N0 + N1) * sizeof *p), *q = malloc((N0 + N1) * sizeof *q);
    float *g = malloc((N0 + N1) * sizeof *g);
    assert_non_null(p);
    assert_non_null(q);
    assert_non_null(g);
    for (size_t r = 0; r < sizeof RECIPES / sizeof RECIPES[0]; r++) {
        adaopt_optimizer *a = make(&RECIPES[r]), *b = make(&RECIPES[r]);
        fill(p, N0 + N1, 7);
        for (int s = 0; s < BEFORE; s++) {
            fill(g, N0 + N1, 100u + (uint32_t)s);
            assert_int_equal(adaopt_step_flat(a, p, g), ADAOPT_OK);
        }
        memcpy(q, p, (N0 + N1) * sizeof *q);
        for (size_t t = 0; t < 2; t++)
            for (int kind = ADAOPT_STATE_MOMENTUM_BUFFER; kind <= ADAOPT_STATE_AX; kind++) {
                const float *data;
                size_t numel;
                if (adaopt_state(a, t, (adaopt_state_kind)kind, &data, &numel) == ADAOPT_OK)
                    assert_int_equal(adaopt_set_state(b, t, (adaopt_state_kind)kind, data, numel),
                                     ADAOPT_OK);
            }
        assert_int_equal(adaopt_set_step(b, BEFORE), ADAOPT_OK);
        assert_int_equal(adaopt_steps_taken(b), BEFORE);
        if (RECIPES[r].algorithm == ADAOPT_ALGO_ADAMW_SCHEDULE_FREE) /* and the average's */
            for (size_t grp = 0; grp < 2; grp++) {
                static const adaopt_state_kind kinds[2] = {ADAOPT_STATE_WEIGHT_SUM,
                                                          ADAOPT_STATE_LR_MAX};
                double v, k;
                for (int j = 0; j < 2; j++) {
                    assert_int_equal(adaopt_group_state(a, grp, kinds[j], &v), ADAOPT_OK);
                    assert_int_equal(adaopt_set_group_state(b, grp, kinds[j], v), ADAOPT_OK);
                }
                assert_int_equal(adaopt_group_state(b, grp, ADAOPT_STATE_K, &k), ADAOPT_OK);
                assert_true(k == BEFORE);
            }
        double ta, tb;
        assert_int_equal(adaopt_state_scalar(b, 1, ADAOPT_STATE_STEP, &tb), ADAOPT_OK);
        assert_true(tb == BEFORE);
        if (RECIPES[r].algorithm == ADAOPT_ALGO_NADAM) {
            assert_int_equal(adaopt_state_scalar(a, 0, ADAOPT_STATE_MU_PRODUCT, &ta), ADAOPT_OK);
            assert_int_equal(adaopt_state_scalar(b, 0, ADAOPT_STATE_MU_PRODUCT, &tb), ADAOPT_OK);
            assert_memory_equal(&ta, &tb, sizeof ta);
        }
        for (int s = 0; s < AFTER; s++) {
            fill(g, N0 + N1, 500u + (uint32_t)s);
            assert_int_equal(adaopt_step_flat(a, p, g), ADAOPT_OK);
            assert_int_equal(adaopt_step_flat(b, q, g), ADAOPT_OK);
        }
        if (memcmp(p, q, (N0 + N1) * sizeof *p) != 0)
            fail_msg("%s: resumed with set_step differs from the uninterrupted run",
                     adaopt_algorithm_name(RECIPES[r].algorithm));
        adaopt_destroy(a);
        adaopt_destroy(b);
    }
    free(p);
    free(q);
    free(g);
}

/* The bias correction of the first step after set_step(t - 1) is 1 - beta^t: Adam's first
 * update at step t, from zero state, is lr * (1-b1) g/bc1 / (sqrt((1-b2) g^2 / bc2) + eps). */
static void set_step_bias_correction(void **unused)
{
    (void)unused;
    adaopt_optimizer *opt = one_tensor(ADAOPT_ALGO_ADAM, 1);
    assert_int_equal(adaopt_set_options(opt, 0, "lr=0.1, eps=0"), ADAOPT_OK);
    assert_int_equal(adaopt_set_step(opt, 9), ADAOPT_OK); /* the next step is t = 10 */
    float p = 0.0f, g = 2.0f;
    step_ok(opt, &p, &g);
    double bc1 = 1.0 - pow(0.9, 10), bc2 = 1.0 - pow(0.999, 10);
    double want = -0.1 * (0.1 * 2.0 / bc1) / sqrt(0.001 * 4.0 / bc2);
    assert_close(p, want, 1e-6);
    assert_int_equal(adaopt_steps_taken(opt), 10);

    /* NAdam's product after 5 steps is mu_1 ... mu_5 (closed form), each product rounded to
     * float as torch's float32 mu_product tensor */
    adaopt_optimizer *nadam = one_tensor(ADAOPT_ALGO_NADAM, 1);
    assert_int_equal(adaopt_set_step(nadam, 5), ADAOPT_OK);
    double product = 1.0, exact = 1.0, got;
    for (int t = 1; t <= 5; t++) {
        double mu = 0.9 * (1.0 - 0.5 * pow(0.96, t * 0.004));
        product = (double)((float)product * (float)mu);
        exact *= mu;
    }
    assert_int_equal(adaopt_state_scalar(nadam, 0, ADAOPT_STATE_MU_PRODUCT, &got), ADAOPT_OK);
    assert_true(got == product);
    assert_close(got, exact, 1e-6);
    /* through underflow: the bits of a run that took the steps (the float product reaches 0 at
     * step 132, where mu = 0.46 rounds float's smallest subnormal down, as torch's tensor) */
    adaopt_optimizer *ran = one_tensor(ADAOPT_ALGO_NADAM, 1);
    for (int t = 0; t < 8000; t++)
        step_ok(ran, &p, &g);
    double want_product;
    assert_int_equal(adaopt_state_scalar(ran, 0, ADAOPT_STATE_MU_PRODUCT, &want_product), ADAOPT_OK);
    assert_true(want_product == 0.0);
    assert_int_equal(adaopt_set_step(nadam, 8000), ADAOPT_OK);
    assert_int_equal(adaopt_state_scalar(nadam, 0, ADAOPT_STATE_MU_PRODUCT, &got), ADAOPT_OK);
    assert_memory_equal(&got, &want_product, sizeof got);
    assert_int_equal(adaopt_set_step(nadam, (uint64_t)1 << 40), ADAOPT_OK); /* and quickly */
    assert_int_equal(adaopt_state_scalar(nadam, 0, ADAOPT_STATE_MU_PRODUCT, &got), ADAOPT_OK);
    assert_memory_equal(&got, &want_product, sizeof got);
    adaopt_destroy(ran);
    expect_error(nadam, adaopt_set_step(nadam, ((uint64_t)1 << 53) + 1), ADAOPT_ERR_VALUE, "2^53");
    assert_int_equal(adaopt_set_step(NULL, 1), ADAOPT_ERR_NULL);
    adaopt_destroy(nadam);
    adaopt_destroy(opt);

    /* AdaGrad's accumulator gets its initial value, as a first step would give it */
    adaopt_optimizer *adagrad = one_tensor(ADAOPT_ALGO_ADAGRAD, 3);
    assert_int_equal(adaopt_set_options(adagrad, 0, "initial_accumulator_value=0.25"), ADAOPT_OK);
    assert_int_equal(adaopt_set_step(adagrad, 4), ADAOPT_OK);
    const float *sum;
    assert_int_equal(adaopt_state(adagrad, 0, ADAOPT_STATE_SUM, &sum, NULL), ADAOPT_OK);
    assert_true(sum[0] == 0.25f && sum[2] == 0.25f);
    adaopt_destroy(adagrad);
}

/* ---- adaopt_step_flat ---- */

static void step_flat_equals_pointer_arrays(void **unused)
{
    (void)unused;
    float *p = malloc((N0 + N1) * sizeof *p), *q = malloc((N0 + N1) * sizeof *q);
    float *g = malloc((N0 + N1) * sizeof *g);
    assert_non_null(p);
    assert_non_null(q);
    assert_non_null(g);
    for (size_t r = 0; r < sizeof RECIPES / sizeof RECIPES[0]; r++) {
        adaopt_optimizer *a = make(&RECIPES[r]), *b = make(&RECIPES[r]);
        fill(p, N0 + N1, 3);
        memcpy(q, p, (N0 + N1) * sizeof *q);
        for (int s = 0; s < 5; s++) {
            fill(g, N0 + N1, 40u + (uint32_t)s);
            assert_int_equal(adaopt_step_flat(a, p, g), ADAOPT_OK);
            float *params[2] = {q, q + N0};
            const float *grads[2] = {g, g + N0};
            assert_int_equal(adaopt_step(b, params, grads, 2), ADAOPT_OK);
        }
        assert_memory_equal(p, q, (N0 + N1) * sizeof *p);
        adaopt_destroy(a);
        adaopt_destroy(b);
    }
    adaopt_optimizer *opt = NULL;
    assert_int_equal(adaopt_create(ADAOPT_ALGO_ADAM, &opt), ADAOPT_OK);
    expect_error(opt, adaopt_step_flat(opt, p, g), ADAOPT_ERR_SIZE, "no tensors");
    expect_error(opt, adaopt_step_flat(opt, NULL, g), ADAOPT_ERR_NULL, "NULL");
    assert_int_equal(adaopt_step_flat(NULL, p, g), ADAOPT_ERR_NULL);
    adaopt_destroy(opt);
    free(p);
    free(q);
    free(g);
}

/* ---- threads: the default follows OMP_NUM_THREADS (ctest runs this with it set) ---- */

static void thread_default(void **unused)
{
    (void)unused;
    adaopt_optimizer *opt = one_tensor(ADAOPT_ALGO_ADAM, 1);
    const char *expect = getenv("ADAOPT_EXPECT_THREADS");
    if (expect != NULL) {
        size_t want = (size_t)strtoul(expect, NULL, 10);
        assert_int_equal(adaopt_get_threads(opt), want);
        assert_int_equal(adaopt_set_threads(opt, 1), ADAOPT_OK);
        assert_int_equal(adaopt_set_threads(opt, 0), ADAOPT_OK); /* back to the default */
        assert_int_equal(adaopt_get_threads(opt), want);
    }
    assert_true(adaopt_get_threads(opt) >= 1);
    assert_int_equal(adaopt_set_threads(opt, 1), ADAOPT_OK); /* an explicit count wins */
    assert_int_equal(adaopt_get_threads(opt), 1);
    adaopt_destroy(opt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(options_string_equals_enum_calls),
        cmocka_unit_test(options_string_all_or_nothing),
        cmocka_unit_test(option_values_from_variables),
        cmocka_unit_test(set_step_resumes_exactly),
        cmocka_unit_test(set_step_bias_correction),
        cmocka_unit_test(step_flat_equals_pointer_arrays),
        cmocka_unit_test(thread_default),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
