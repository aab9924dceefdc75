/*
 * test_first_steps.c -- each algorithm and option against values derived by hand from the
 * formulas of ALGORITHMS.md for the first one or two steps (the derivation is in each comment).
 */
#include <float.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "helpers.h"

#define F 1e-6 /* float32 results of a few operations: a few ulps */

/* Two steps of one parameter p0 = 1 with gradients g1, g2. */
static void two_steps(adaopt_optimizer *opt, float g1, float g2, float *x1, float *x2)
{
    float x = 1.0f;
    step_ok(opt, &x, &g1);
    *x1 = x;
    step_ok(opt, &x, &g2);
    *x2 = x;
}

static void sgd_plain_and_decay(void **unused)
{
    (void)unused;
    adaopt_optimizer *opt = one_tensor(ADAOPT_ALGO_SGD, 1);
    set_ok(opt, ADAOPT_LR, 0.1);
    float x1, x2;
    two_steps(opt, 0.5f, 0.5f, &x1, &x2);
    assert_close(x1, 0.95, F); /* 1 - 0.1 * 0.5 */
    assert_close(x2, 0.90, F);
    adaopt_destroy(opt);

    opt = one_tensor(ADAOPT_ALGO_SGD, 1);
    set_ok(opt, ADAOPT_LR, 0.1);
    set_ok(opt, ADAOPT_WEIGHT_DECAY, 0.2);
    set_ok(opt, ADAOPT_MAXIMIZE, 1);
    two_steps(opt, 0.5f, 0.5f, &x1, &x2);
    assert_close(x1, 1.0 - 0.1 * (-0.5 + 0.2), F); /* g = -g + wd p = -0.3 -> 1.03 */
    assert_close(x2, x1 - 0.1 * (-0.5 + 0.2 * x1), F);
    adaopt_destroy(opt);
}

static void sgd_momentum_dampening_nesterov(void **unused)
{
    (void)unused;
    float x1, x2;
    adaopt_optimizer *opt = one_tensor(ADAOPT_ALGO_SGD, 1);
    set_ok(opt, ADAOPT_LR, 0.1);
    set_ok(opt, ADAOPT_MOMENTUM, 0.9);
    two_steps(opt, 0.5f, 0.5f, &x1, &x2);
    assert_close(x1, 0.95, F);          /* b1 = g = 0.5 */
    assert_close(x2, 0.95 - 0.095, F);  /* b2 = 0.9 * 0.5 + 0.5 = 0.95 */
    adaopt_destroy(opt);

    opt = one_tensor(ADAOPT_ALGO_SGD, 1);
    set_ok(opt, ADAOPT_LR, 0.1);
    set_ok(opt, ADAOPT_MOMENTUM, 0.9);
    set_ok(opt, ADAOPT_DAMPENING, 0.5);
    two_steps(opt, 0.5f, 0.5f, &x1, &x2);
    assert_close(x1, 0.95, F);          /* the first buffer is g, undampened */
    assert_close(x2, 0.95 - 0.07, F);   /* b2 = 0.45 + 0.5 * 0.5 = 0.7 */
    adaopt_destroy(opt);

    opt = one_tensor(ADAOPT_ALGO_SGD, 1);
    set_ok(opt, ADAOPT_LR, 0.1);
    set_ok(opt, ADAOPT_MOMENTUM, 0.9);
    set_ok(opt, ADAOPT_NESTEROV, 1);
    two_steps(opt, 0.5f, 0.5f, &x1, &x2);
    assert_close(x1, 1.0 - 0.1 * 0.95, F);        /* g + 0.9 * b1 = 0.5 + 0.45 */
    assert_close(x2, x1 - 0.1 * (0.5 + 0.9 * 0.95), F); /* b2 = 0.95 */
    adaopt_destroy(opt);
}

static void adagrad_options(void **unused)
{
    (void)unused;
    float x1, x2;
    adaopt_optimizer *opt = one_tensor(ADAOPT_ALGO_ADAGRAD, 1);
    set_ok(opt, ADAOPT_LR, 0.1);
    set_ok(opt, ADAOPT_EPS, 0.0);
    set_ok(opt, ADAOPT_LR_DECAY, 0.5);
    two_steps(opt, 3.0f, 4.0f, &x1, &x2);
    assert_close(x1, 0.9, F);                         /* lr * g / sqrt(g^2) */
    assert_close(x2, 0.9 - 0.1 / 1.5 * 4.0 / 5.0, F); /* clr = lr / (1 + 0.5); sqrt(9+16) */
    adaopt_destroy(opt);

    opt = one_tensor(ADAOPT_ALGO_ADAGRAD, 1);
    set_ok(opt, ADAOPT_LR, 0.1);
    set_ok(opt, ADAOPT_EPS, 0.0);
    set_ok(opt, ADAOPT_INITIAL_ACCUMULATOR_VALUE, 16.0);
    two_steps(opt, 3.0f, 0.0f, &x1, &x2);
    assert_close(x1, 1.0 - 0.1 * 3.0 / 5.0, F); /* G = 16 + 9 */
    assert_close(x2, x1, F);
    adaopt_destroy(opt);

    opt = one_tensor(ADAOPT_ALGO_ADAGRAD, 1);
    set_ok(opt, ADAOPT_LR, 0.1);
    set_ok(opt, ADAOPT_EPS, 0.25);
    set_ok(opt, ADAOPT_EPS_MODE, ADAOPT_EPS_INSIDE);
    two_steps(opt, 3.0f, 0.0f, &x1, &x2);
    assert_close(x1, 1.0 - 0.1 * 3.0 / sqrt(9.25), F); /* sqrt(G + eps) */
    adaopt_destroy(opt);
}

static void rmsprop_options(void **unused)
{
    (void)unused;
    float x1, x2;
    const double a = 0.9;
    adaopt_optimizer *opt = one_tensor(ADAOPT_ALGO_RMSPROP, 1);
    set_ok(opt, ADAOPT_ALPHA, a);
    set_ok(opt, ADAOPT_EPS, 0.0);
    two_steps(opt, 2.0f, 2.0f, &x1, &x2);
    assert_close(x1, 1.0 - 0.01 * 2.0 / sqrt((1 - a) * 4.0), F);
    assert_close(x2, x1 - 0.01 * 2.0 / sqrt((1 - a * a) * 4.0), F); /* S2 = a S1 + (1-a) 4 */
    adaopt_destroy(opt);

    opt = one_tensor(ADAOPT_ALGO_RMSPROP, 1);
    set_ok(opt, ADAOPT_ALPHA, a);
    set_ok(opt, ADAOPT_EPS, 0.0);
    set_ok(opt, ADAOPT_CENTERED, 1);
    two_steps(opt, 2.0f, 2.0f, &x1, &x2);
    /* S1 - A1^2 = (1-a) g^2 - (1-a)^2 g^2 = a (1-a) g^2 */
    assert_close(x1, 1.0 - 0.01 * 2.0 / sqrt(a * (1 - a) * 4.0), 1e-5);
    adaopt_destroy(opt);

    opt = one_tensor(ADAOPT_ALGO_RMSPROP, 1);
    set_ok(opt, ADAOPT_ALPHA, a);
    set_ok(opt, ADAOPT_EPS, 0.0);
    set_ok(opt, ADAOPT_MOMENTUM, 0.5);
    two_steps(opt, 2.0f, 2.0f, &x1, &x2);
    double b1 = 2.0 / sqrt((1 - a) * 4.0), b2 = 0.5 * b1 + 2.0 / sqrt((1 - a * a) * 4.0);
    assert_close(x1, 1.0 - 0.01 * b1, F);
    assert_close(x2, x1 - 0.01 * b2, F);
    adaopt_destroy(opt);
}

/* Adam with eps = 0: the first step is lr * sign(g); the second has closed form below. */
static void adam_family_first_steps(void **unused)
{
    (void)unused;
    float x1, x2;
    const double b1 = 0.9, b2 = 0.999, lr = 1e-3, g1 = 2.0, g2 = -1.0;
    double m2 = b1 * (1 - b1) * g1 + (1 - b1) * g2;
    double v2 = b2 * (1 - b2) * g1 * g1 + (1 - b2) * g2 * g2;
    double expect2 = lr / (1 - b1 * b1) * m2 / (sqrt(v2) / sqrt(1 - b2 * b2));

    adaopt_optimizer *opt = one_tensor(ADAOPT_ALGO_ADAM, 1);
    set_ok(opt, ADAOPT_EPS, 0.0);
    two_steps(opt, (float)g1, (float)g2, &x1, &x2);
    assert_close(x1, 1.0 - lr, F);
    assert_close(x2, x1 - expect2, F);
    adaopt_destroy(opt);

    /* AMSGrad: a small second gradient makes v2 < v1, so step 2 divides by sqrt(v1). */
    const double g2s = -0.05;
    double m2s = b1 * (1 - b1) * g1 + (1 - b1) * g2s;
    double v2s = b2 * (1 - b2) * g1 * g1 + (1 - b2) * g2s * g2s, v1 = (1 - b2) * g1 * g1;
    assert_true(v2s < v1);
    opt = one_tensor(ADAOPT_ALGO_ADAM, 1);
    set_ok(opt, ADAOPT_EPS, 0.0);
    set_ok(opt, ADAOPT_AMSGRAD, 1);
    two_steps(opt, (float)g1, (float)g2s, &x1, &x2);
    assert_close(x2, x1 - lr / (1 - b1 * b1) * m2s / (sqrt(v1) / sqrt(1 - b2 * b2)), F);
    adaopt_destroy(opt);

    /* AdamW: p * (1 - lr wd) first, gradient untouched by the decay. */
    opt = one_tensor(ADAOPT_ALGO_ADAMW, 1);
    set_ok(opt, ADAOPT_EPS, 0.0);
    set_ok(opt, ADAOPT_WEIGHT_DECAY, 0.5);
    two_steps(opt, (float)g1, (float)g2, &x1, &x2);
    assert_close(x1, 1.0 * (1 - lr * 0.5) - lr, F);
    assert_close(x2, x1 * (1 - lr * 0.5) - expect2, F);
    adaopt_destroy(opt);

    /* Adam with coupled L2: g = g + wd p, so the first step is still lr * sign(g + wd). */
    opt = one_tensor(ADAOPT_ALGO_ADAM, 1);
    set_ok(opt, ADAOPT_EPS, 0.0);
    set_ok(opt, ADAOPT_WEIGHT_DECAY, 5.0);
    two_steps(opt, -2.0f, 0.0f, &x1, &x2);
    assert_close(x1, 1.0 - lr, F); /* -2 + 5 * 1 = 3 > 0 */
    adaopt_destroy(opt);

    /* Adamax: m1 = (1-b1) g, u1 = |g| + eps, step lr/(1-b1) * m1/u1 = lr * g / (|g| + eps). */
    opt = one_tensor(ADAOPT_ALGO_ADAMAX, 1);
    set_ok(opt, ADAOPT_EPS, 0.5);
    two_steps(opt, (float)g1, (float)g2, &x1, &x2);
    assert_close(x1, 1.0 - 2e-3 * 2.0 / 2.5, F);
    double u2 = fmax(b2 * 2.5, 1.0 + 0.5); /* max(b2 u1, |g2| + eps) */
    assert_close(x2, x1 - 2e-3 / (1 - b1 * b1) * m2 / u2, F);
    adaopt_destroy(opt);
}

static void nadam_radam_first_steps(void **unused)
{
    (void)unused;
    float x1, x2;
    const double b1 = 0.9, md = 4e-3, lr = 2e-3;
    /* NAdam, eps 0, t = 1: d = |g|, P = mu1. */
    double mu1 = b1 * (1 - 0.5 * pow(0.96, md)), mu2 = b1 * (1 - 0.5 * pow(0.96, 2 * md));
    double step1 = lr * (1 - mu1) / (1 - mu1) * 1.0 + lr * mu2 / (1 - mu1 * mu2) * (1 - b1) * 1.0;
    adaopt_optimizer *opt = one_tensor(ADAOPT_ALGO_NADAM, 1);
    set_ok(opt, ADAOPT_EPS, 0.0);
    two_steps(opt, 3.0f, 3.0f, &x1, &x2);
    assert_close(x1, 1.0 - step1, F);
    double P;
    assert_int_equal(adaopt_state_scalar(opt, 0, ADAOPT_STATE_MU_PRODUCT, &P), ADAOPT_OK);
    /* P is torch's float32 tensor: each mu_product *= mu rounds to float */
    assert_true(P == (double)(float)((double)(float)mu1 * (double)(float)mu2));
    assert_close(P, mu1 * mu2, 1e-7);
    adaopt_destroy(opt);

    /* NAdam decoupled decay: p (1 - lr wd) before the same update. */
    opt = one_tensor(ADAOPT_ALGO_NADAM, 1);
    set_ok(opt, ADAOPT_EPS, 0.0);
    set_ok(opt, ADAOPT_WEIGHT_DECAY, 0.5);
    set_ok(opt, ADAOPT_DECOUPLED_WEIGHT_DECAY, 1);
    two_steps(opt, 3.0f, 3.0f, &x1, &x2);
    assert_close(x1, (1.0 - lr * 0.5) - step1, F);
    adaopt_destroy(opt);

    /* RAdam: rho_1 = 1 <= 5, so the first steps are p -= lr * m_hat = lr * g. */
    opt = one_tensor(ADAOPT_ALGO_RADAM, 1);
    two_steps(opt, 3.0f, 3.0f, &x1, &x2);
    assert_close(x1, 1.0 - 1e-3 * 3.0, F);
    assert_close(x2, x1 - 1e-3 * 3.0, F); /* m_hat of a constant gradient is the gradient */
    adaopt_destroy(opt);
}

/* Lion (lion-pytorch): p *= 1 - lr wd; p -= lr sign(b1 m + (1-b1) g); m = b2 m + (1-b2) g.
 * Defaults lr 1e-4, betas (0.9, 0.99).  By hand, lr 0.1, wd 0.1, g = 0.5 then -0.2:
 *   t=1: p = 0.99 - 0.1 sign(0.05) = 0.89;          m = 0.01 * 0.5 = 0.005
 *   t=2: p = 0.8811 - 0.1 sign(0.0045 - 0.02) = 0.9811;  m = 0.00495 - 0.002 = 0.00295
 * and a zero interpolation moves nothing (sign 0). */
static void lion_first_steps(void **unused)
{
    (void)unused;
    double v;
    assert_int_equal(adaopt_default(ADAOPT_ALGO_LION, ADAOPT_LR, &v), ADAOPT_OK);
    assert_true(v == 1e-4);
    assert_int_equal(adaopt_default(ADAOPT_ALGO_LION, ADAOPT_BETA2, &v), ADAOPT_OK);
    assert_true(v == 0.99);
    assert_int_equal(adaopt_default(ADAOPT_ALGO_LION, ADAOPT_EPS, &v), ADAOPT_ERR_OPTION);
    adaopt_optimizer *opt = one_tensor(ADAOPT_ALGO_LION, 1);
    set_ok(opt, ADAOPT_LR, 0.1);
    set_ok(opt, ADAOPT_WEIGHT_DECAY, 0.1);
    float x1, x2;
    two_steps(opt, 0.5f, -0.2f, &x1, &x2);
    assert_close(x1, 0.89, F);
    assert_close(x2, 0.9811, F);
    const float *m;
    assert_int_equal(adaopt_state(opt, 0, ADAOPT_STATE_EXP_AVG, &m, NULL), ADAOPT_OK);
    assert_close(m[0], 0.00295, F);
    float e;
    assert_int_equal(adaopt_effective_lr(opt, 0, &e, 1), ADAOPT_OK);
    assert_close(e, 0.1, F);
    adaopt_destroy(opt);

    opt = one_tensor(ADAOPT_ALGO_LION, 1);
    two_steps(opt, 0.0f, 0.0f, &x1, &x2);
    assert_true(x1 == 1.0f && x2 == 1.0f);
    adaopt_destroy(opt);
}

/* Schedule-Free AdamW (schedulefree): v = b2 v + (1-b2) g^2;  u = g / (sqrt(v / bc2) + eps);
 * c = w_k / sum w;  y = lerp(y, z, c) + lr (b1 (1-c) - 1) u;  z = z - lr u;  x = (y - (1-b1) z)/b1.
 * By hand, lr 0.1, eps 0, defaults otherwise (w = lr_max^2), p0 = 1, g = 0.5 then -0.2:
 *   t=1: c = 1, v = 0.00025, u = 0.5/sqrt(0.25) = 1:  y = 1 - 0.1 = 0.9, z = 0.9 (= x)
 *   t=2: c = 1/2, v = 0.00028975, u = -0.2/sqrt(v/0.001999):  y = 0.9 - 0.055 u, z = 0.9 - 0.1 u,
 *        and x = (z1 + z2)/2, the average of the z's. */
static void schedule_free_first_steps(void **unused)
{
    (void)unused;
    double v;
    assert_int_equal(adaopt_default(ADAOPT_ALGO_ADAMW_SCHEDULE_FREE, ADAOPT_LR, &v), ADAOPT_OK);
    assert_true(v == 2.5e-3);
    assert_int_equal(adaopt_default(ADAOPT_ALGO_ADAMW_SCHEDULE_FREE, ADAOPT_WEIGHT_LR_POWER, &v),
                     ADAOPT_OK);
    assert_true(v == 2.0);
    adaopt_optimizer *opt = one_tensor(ADAOPT_ALGO_ADAMW_SCHEDULE_FREE, 1);
    set_ok(opt, ADAOPT_LR, 0.1);
    set_ok(opt, ADAOPT_EPS, 0.0);
    float x1, x2;
    two_steps(opt, 0.5f, -0.2f, &x1, &x2);
    double u = -0.2 / sqrt(0.00028975 / (1 - 0.999 * 0.999));
    assert_close(x1, 0.9, F);
    assert_close(x2, 0.9 - 0.055 * u, F);
    const float *z;
    assert_int_equal(adaopt_state(opt, 0, ADAOPT_STATE_Z, &z, NULL), ADAOPT_OK);
    assert_close(z[0], 0.9 - 0.1 * u, F);
    double k, sum, lr_max, lr_k;
    assert_int_equal(adaopt_group_state(opt, 0, ADAOPT_STATE_K, &k), ADAOPT_OK);
    assert_int_equal(adaopt_group_state(opt, 0, ADAOPT_STATE_WEIGHT_SUM, &sum), ADAOPT_OK);
    assert_int_equal(adaopt_group_state(opt, 0, ADAOPT_STATE_LR_MAX, &lr_max), ADAOPT_OK);
    assert_int_equal(adaopt_group_state(opt, 0, ADAOPT_STATE_SCHEDULED_LR, &lr_k), ADAOPT_OK);
    assert_true(k == 2.0 && lr_max == 0.1 && lr_k == 0.1);
    assert_close(sum, 0.02, 1e-15);
    float e;
    assert_int_equal(adaopt_effective_lr(opt, 0, &e, 1), ADAOPT_OK);
    assert_close(e, 0.1 / sqrt(0.00028975 / (1 - 0.999 * 0.999)), F);

    /* eval: the parameter becomes x = (z1 + z2) / 2; a step is refused there; train: y again */
    float p = x2, g = 1.0f;
    void *params[1] = {&p};
    assert_int_equal(adaopt_eval(opt, params, 1), ADAOPT_OK);
    assert_false(adaopt_is_training(opt));
    assert_close(p, (0.9 + (0.9 - 0.1 * u)) / 2, F);
    float x = p;
    assert_int_equal(adaopt_eval(opt, params, 1), ADAOPT_OK); /* already: nothing moves */
    assert_true(p == x);
    float *fp[1] = {&p};
    const float *fg[1] = {&g};
    assert_int_equal(adaopt_step(opt, fp, fg, 1), ADAOPT_ERR_STATE);
    assert_true(p == x);
    assert_int_equal(adaopt_group_state(opt, 0, ADAOPT_STATE_K, &k), ADAOPT_OK);
    assert_true(k == 2.0);
    assert_int_equal(adaopt_train(opt, params, 1), ADAOPT_OK);
    assert_close(p, x2, F);
    assert_true(adaopt_is_training(opt));
    adaopt_destroy(opt);
}

/* x is the average of z_1 .. z_k weighted by k^r lr_max,k^weight_lr_power (lr_max,k the largest
 * warmed-up lr so far): recorded z's against what adaopt_eval leaves in the parameters, for
 * warmup, r and the power, over several tensors (the vector kernels and their tails). */
static float uniform(uint64_t *s) /* xorshift, in [-1, 1) */
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return (float)(*s >> 40) / (float)(1u << 24) * 2.0f - 1.0f;
}

static void schedule_free_average(void **unused)
{
    (void)unused;
    enum { N = 37, STEPS = 40 };
    adaopt_optimizer *opt = one_tensor(ADAOPT_ALGO_ADAMW_SCHEDULE_FREE, N);
    assert_int_equal(adaopt_set_options(opt, 0, "lr=0.05, warmup_steps=7, r=0.5, "
                                        "weight_lr_power=1.5, weight_decay=0.01"), ADAOPT_OK);
    float p[N], g[N];
    double num[N] = {0}, den = 0, lr_max = -1;
    uint64_t seed = 11;
    for (int i = 0; i < N; i++)
        p[i] = uniform(&seed);
    for (int k = 1; k <= STEPS; k++) {
        for (int i = 0; i < N; i++)
            g[i] = uniform(&seed);
        step_ok(opt, p, g);
        double lr = 0.05 * (k <= 7 ? k / 7.0 : 1.0);
        lr_max = lr > lr_max ? lr : lr_max;
        double w = pow(k, 0.5) * pow(lr_max, 1.5);
        const float *z;
        assert_int_equal(adaopt_state(opt, 0, ADAOPT_STATE_Z, &z, NULL), ADAOPT_OK);
        for (int i = 0; i < N; i++)
            num[i] += w * z[i];
        den += w;
    }
    double sum;
    assert_int_equal(adaopt_group_state(opt, 0, ADAOPT_STATE_WEIGHT_SUM, &sum), ADAOPT_OK);
    assert_close(sum, den, 1e-12);
    void *params[1] = {p};
    assert_int_equal(adaopt_eval(opt, params, 1), ADAOPT_OK);
    for (int i = 0; i < N; i++)
        assert_close(p[i], num[i] / den, 1e-5);
    adaopt_destroy(opt);
}

/* What Schedule-Free refuses, each with nothing changed. */
static void schedule_free_refusals(void **unused)
{
    (void)unused;
    adaopt_optimizer *opt = one_tensor(ADAOPT_ALGO_ADAMW_SCHEDULE_FREE, 4);
    double v;
    assert_int_equal(adaopt_set(opt, 0, ADAOPT_BETA1, 0.0), ADAOPT_ERR_VALUE); /* x needs 1/b1 */
    assert_int_equal(adaopt_set(opt, 0, ADAOPT_STATE_STORAGE, ADAOPT_STORAGE_BF16), ADAOPT_ERR_VALUE);
    assert_int_equal(adaopt_set(opt, 0, ADAOPT_STATE_STORAGE, ADAOPT_STORAGE_8BIT), ADAOPT_ERR_VALUE);
    assert_int_equal(adaopt_set(opt, 0, ADAOPT_WARMUP_STEPS, 1.5), ADAOPT_ERR_VALUE);
    assert_int_equal(adaopt_set(opt, 0, ADAOPT_R, -1.0), ADAOPT_ERR_VALUE);
    assert_int_equal(adaopt_set(opt, 0, ADAOPT_EPS_MODE, 0.0), ADAOPT_ERR_OPTION);
    assert_int_equal(adaopt_get(opt, 0, ADAOPT_BETA1, &v), ADAOPT_OK);
    assert_true(v == 0.9);
    float p[4] = {1, 2, 3, 4}, g[4] = {1, 1, 1, 1};
    float *params[1] = {p};
    int64_t rows[1] = {0};
    adaopt_sparse_grad sg = {rows, 1, g, 2};
    assert_int_equal(adaopt_reserve_sparse(opt, 1, 2, 2), ADAOPT_OK);
    const float *none[1] = {NULL};
    assert_int_equal(adaopt_step_sparse(opt, params, none, &sg, 1), ADAOPT_ERR_CONFLICT);
    assert_int_equal(adaopt_group_state(opt, 0, ADAOPT_STATE_K, &v), ADAOPT_OK);
    assert_true(v == 0.0);
    void *vp[1] = {p};
    assert_int_equal(adaopt_eval(opt, vp, 2), ADAOPT_ERR_SIZE);
    assert_int_equal(adaopt_eval(opt, NULL, 1), ADAOPT_ERR_NULL);
    assert_true(adaopt_is_training(opt));
    assert_int_equal(adaopt_set_group_state(opt, 0, ADAOPT_STATE_K, 1.5), ADAOPT_ERR_VALUE);
    assert_int_equal(adaopt_set_group_state(opt, 0, ADAOPT_STATE_WEIGHT_SUM, -1.0), ADAOPT_ERR_VALUE);
    assert_int_equal(adaopt_set_group_state(opt, 0, ADAOPT_STATE_WEIGHT_SUM, INFINITY), ADAOPT_OK);
    assert_int_equal(adaopt_set_group_state(opt, 0, ADAOPT_STATE_WEIGHT_SUM, 0.0), ADAOPT_OK);
    assert_int_equal(adaopt_set_group_state(opt, 0, ADAOPT_STATE_LR_MAX, NAN), ADAOPT_ERR_VALUE);
    assert_int_equal(adaopt_set_group_state(opt, 0, ADAOPT_STATE_TRAIN_MODE, 2.0), ADAOPT_ERR_VALUE);
    assert_int_equal(adaopt_set_group_state(opt, 0, ADAOPT_STATE_SCHEDULED_LR, 0.1), ADAOPT_ERR_OPTION);
    assert_int_equal(adaopt_set_group_state(opt, 1, ADAOPT_STATE_K, 1.0), ADAOPT_ERR_INDEX);
    assert_int_equal(adaopt_group_state(opt, 0, ADAOPT_STATE_LR_MAX, &v), ADAOPT_OK);
    assert_true(v == -1.0);
    /* the mode recorded without moving anything (a state dict's train_mode) */
    assert_int_equal(adaopt_set_group_state(opt, 0, ADAOPT_STATE_TRAIN_MODE, 0.0), ADAOPT_OK);
    assert_false(adaopt_is_training(opt));
    assert_true(p[0] == 1.0f);
    adaopt_destroy(opt);

    opt = one_tensor(ADAOPT_ALGO_ADAM, 4); /* other algorithms: no group state; modes recorded */
    assert_int_equal(adaopt_group_state(opt, 0, ADAOPT_STATE_K, &v), ADAOPT_ERR_OPTION);
    assert_int_equal(adaopt_eval(opt, vp, 1), ADAOPT_OK);
    assert_true(p[0] == 1.0f && !adaopt_is_training(opt));
    step_ok(opt, p, g); /* only Schedule-Free's step cares about the mode */
    adaopt_destroy(opt);
}

/* LAMB (pytorch-optimizer): m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;  u = m / (sqrt(v) + eps);
 * trust = min(||p||, clamp) / (||u|| + eps);  p = p - lr/bc1 * trust * u.  By hand at t = 1
 * (bc1 = 1 - b1, so lr/bc1 * m = lr g): u_i = 0.1 g_i / (sqrt(0.001) |g_i| + eps), and p moves by
 * lr/0.1 * trust * u.  p = (3, 4): ||p|| = 5; p = (30, 40): clamped to 10; adam: trust 1. */
static void lamb_first_step(void **unused)
{
    (void)unused;
    const double g[2] = {0.5, -1.0}, eps = 1e-6, lr = 0.01;
    double u[2], un = 0;
    for (int i = 0; i < 2; i++) {
        u[i] = 0.1 * g[i] / (sqrt(0.001 * g[i] * g[i]) + eps);
        un += u[i] * u[i];
    }
    un = sqrt(un);
    static const struct { double p0, p1; int adam; double weight_norm; } CASES[] = {
        {3, 4, 0, 5}, {30, 40, 0, 10}, {3, 4, 1, 5}};
    for (int c = 0; c < 3; c++) {
        adaopt_optimizer *opt = one_tensor(ADAOPT_ALGO_LAMB, 2);
        set_ok(opt, ADAOPT_LR, lr);
        set_ok(opt, ADAOPT_ADAM_UPDATE, CASES[c].adam);
        float p[2] = {(float)CASES[c].p0, (float)CASES[c].p1}, gf[2] = {0.5f, -1.0f};
        step_ok(opt, p, gf);
        double trust = CASES[c].adam ? 1.0 : CASES[c].weight_norm / (un + eps);
        assert_close(p[0], CASES[c].p0 - lr / 0.1 * trust * u[0], F);
        assert_close(p[1], CASES[c].p1 - lr / 0.1 * trust * u[1], F);
        double v;
        assert_int_equal(adaopt_state_scalar(opt, 0, ADAOPT_STATE_WEIGHT_NORM, &v), ADAOPT_OK);
        assert_close(v, CASES[c].weight_norm, F);
        assert_int_equal(adaopt_state_scalar(opt, 0, ADAOPT_STATE_ADAM_NORM, &v), ADAOPT_OK);
        assert_close(v, un, F);
        assert_int_equal(adaopt_state_scalar(opt, 0, ADAOPT_STATE_TRUST_RATIO, &v), ADAOPT_OK);
        assert_close(v, CASES[c].weight_norm / (un + eps), F); /* (reported in adam mode too) */
        float e[2];
        assert_int_equal(adaopt_effective_lr(opt, 0, e, 2), ADAOPT_OK);
        assert_close(e[0], lr / 0.1 * trust / (sqrt(0.001 * 0.25) + eps), F);
        adaopt_destroy(opt);
    }
    double v;
    assert_int_equal(adaopt_default(ADAOPT_ALGO_LAMB, ADAOPT_EPS, &v), ADAOPT_OK);
    assert_true(v == 1e-6);
    assert_int_equal(adaopt_default(ADAOPT_ALGO_LAMB, ADAOPT_CLAMP, &v), ADAOPT_OK);
    assert_true(v == 10.0);
    assert_int_equal(adaopt_default(ADAOPT_ALGO_LAMB, ADAOPT_WEIGHT_DECOUPLE, &v), ADAOPT_OK);
    assert_true(v == 1.0);
}

/* Decoupled decay shrinks p before its norm is taken; coupled decay joins u (wd p) instead.
 * p = (2, 1), g = (1, 0), lr 0.01, wd 0.5, t = 1: the Adam part of u is (0.1 / (sqrt(0.001) +
 * eps), 0).  Decoupled: p' = 0.995 p; coupled: u += 0.5 p; then p' - 0.1 trust u. */
static void lamb_weight_decay(void **unused)
{
    (void)unused;
    for (int decouple = 0; decouple < 2; decouple++) {
        adaopt_optimizer *opt = one_tensor(ADAOPT_ALGO_LAMB, 2);
        assert_int_equal(adaopt_set_options(opt, 0, decouple ? "lr=0.01, weight_decay=0.5"
                                                             : "lr=0.01, weight_decay=0.5, "
                                                               "weight_decouple=0"), ADAOPT_OK);
        float p[2] = {2.0f, 1.0f}, g[2] = {1.0f, 0.0f};
        step_ok(opt, p, g);
        double q[2] = {2.0, 1.0}, u[2] = {0.1 / (sqrt(0.001) + 1e-6), 0.0};
        for (int i = 0; i < 2; i++) {
            if (decouple)
                q[i] *= 1.0 - 0.01 * 0.5;
            else
                u[i] += 0.5 * q[i];
        }
        double pn = hypot(q[0], q[1]), un = hypot(u[0], u[1]), trust = pn / (un + 1e-6);
        double v;
        assert_int_equal(adaopt_state_scalar(opt, 0, ADAOPT_STATE_WEIGHT_NORM, &v), ADAOPT_OK);
        assert_close(v, pn, F);
        for (int i = 0; i < 2; i++)
            assert_close(p[i], q[i] - 0.1 * trust * u[i], F);
        adaopt_destroy(opt);
    }
}

/* LAMB's t is its group's step count (pytorch-optimizer's group['step']), which every step
 * advances whether or not a tensor has a gradient.  Tensor 1 of the group sits out step 1; its
 * first update, at step 2, from zero state, is (one element, eps 0, |u| its own norm, trust
 * |p| / |u|): p - lr / (1 - b1^2) sign(g) -- not lr / (1 - b1), its own first step's.  The
 * count is the group's state K, set by adaopt_set_step and saved in the checkpoint. */
static void lamb_counts_per_group(void **unused)
{
    (void)unused;
    adaopt_optimizer *opt;
    size_t numels[2] = {1, 1}, group;
    assert_int_equal(adaopt_create(ADAOPT_ALGO_LAMB, &opt), ADAOPT_OK);
    assert_int_equal(adaopt_add_group(opt, numels, 2, &group), ADAOPT_OK);
    assert_int_equal(adaopt_set_options(opt, 0, "lr=0.01, eps=0"), ADAOPT_OK);
    float p[2] = {1.0f, 1.0f}, g[2] = {2.0f, 2.0f};
    float *params[2] = {p, p + 1};
    const float *first[2] = {g, NULL}, *both[2] = {g, g + 1};
    assert_int_equal(adaopt_step(opt, params, first, 2), ADAOPT_OK);
    assert_true(p[1] == 1.0f);
    double k;
    assert_int_equal(adaopt_group_state(opt, 0, ADAOPT_STATE_K, &k), ADAOPT_OK);
    assert_true(k == 1.0);
    assert_int_equal(adaopt_step(opt, params, both, 2), ADAOPT_OK);
    assert_close(p[1], 1.0 - 0.01 / (1.0 - 0.81), F);
    /* the count survives a checkpoint, and adaopt_set_step sets it */
    size_t n = adaopt_checkpoint_size(opt);
    unsigned char *buf = malloc(n);
    assert_non_null(buf);
    assert_int_equal(adaopt_save_buffer(opt, buf, n, &n), ADAOPT_OK);
    assert_int_equal(buf[8], 3); /* (format version 3 holds it) */
    adaopt_optimizer *back;
    assert_int_equal(adaopt_create(ADAOPT_ALGO_LAMB, &back), ADAOPT_OK);
    assert_int_equal(adaopt_add_group(back, numels, 2, &group), ADAOPT_OK);
    assert_int_equal(adaopt_load_buffer(back, buf, n), ADAOPT_OK);
    assert_int_equal(adaopt_group_state(back, 0, ADAOPT_STATE_K, &k), ADAOPT_OK);
    assert_true(k == 2.0);
    assert_int_equal(adaopt_set_step(back, 7), ADAOPT_OK);
    assert_int_equal(adaopt_group_state(back, 0, ADAOPT_STATE_K, &k), ADAOPT_OK);
    assert_true(k == 7.0);
    assert_int_equal(adaopt_set_group_state(back, 0, ADAOPT_STATE_K, 1.5), ADAOPT_ERR_VALUE);
    assert_int_equal(adaopt_group_state(back, 0, ADAOPT_STATE_WEIGHT_SUM, &k), ADAOPT_ERR_OPTION);
    free(buf);
    adaopt_destroy(back);
    adaopt_destroy(opt);
}

/* What LAMB refuses, each changing nothing. */
static void lamb_refusals(void **unused)
{
    (void)unused;
    adaopt_optimizer *opt = one_tensor(ADAOPT_ALGO_LAMB, 4); /* (low precision: test_lowp) */
    assert_int_equal(adaopt_set(opt, 0, ADAOPT_CLAMP, -1.0), ADAOPT_ERR_VALUE);
    assert_int_equal(adaopt_set(opt, 0, ADAOPT_AMSGRAD, 1.0), ADAOPT_ERR_OPTION);
    float p[4] = {1, 2, 3, 4}, g[4] = {1, 1, 1, 1};
    float *params[1] = {p};
    const float *grads[1] = {g};
    assert_int_equal(adaopt_scale_next_grads(opt, 0.5), ADAOPT_OK);
    assert_int_equal(adaopt_step(opt, params, grads, 1), ADAOPT_ERR_CONFLICT);
    int64_t rows[1] = {0};
    adaopt_sparse_grad sg = {rows, 1, g, 2};
    assert_int_equal(adaopt_reserve_sparse(opt, 1, 2, 2), ADAOPT_OK);
    const float *none[1] = {NULL};
    assert_int_equal(adaopt_step_sparse(opt, params, none, &sg, 1), ADAOPT_ERR_CONFLICT);
    assert_true(p[0] == 1.0f && adaopt_steps_taken(opt) == 0);
    double v;
    assert_int_equal(adaopt_state_scalar(opt, 0, ADAOPT_STATE_TRUST_RATIO, &v), ADAOPT_ERR_STATE);
    assert_int_equal(adaopt_set_state_scalar(opt, 0, ADAOPT_STATE_TRUST_RATIO, -1.0), ADAOPT_ERR_VALUE);
    adaopt_destroy(opt);
}

/* Adafactor (torch.optim.Adafactor), t = 1, lr 0.01: the lerp weight 1^-0.8 = 1 makes the
 * variances g^2 (vector) or the row and column means of g^2 (matrix); rho = min(lr, 1) = 0.01;
 * alpha = max(eps2, ||p|| / sqrt(numel)) rho; denom = max(1, ||u|| / (sqrt(numel) d)).
 *   vector p (3, 4), g (0.5, -1): u = sign(g), ||u|| = sqrt 2, denom 1, alpha = 5/sqrt2 * 0.01.
 *   matrix p [[1,2],[3,4]], g [[1,0],[0,2]]: row_var (0.5, 2), col_var (0.5, 2), mean 1.25;
 *   var = row col / 1.25 = [[0.2,0.8],[0.8,3.2]]; u = g / sqrt(var) = [[sqrt5, 0], [0, 2/sqrt3.2]];
 *   ||u|| = 2.5, denom 1.25, alpha = sqrt(30)/2 * 0.01. */
static void adafactor_first_step(void **unused)
{
    (void)unused;
    double v;
    assert_int_equal(adaopt_default(ADAOPT_ALGO_ADAFACTOR, ADAOPT_LR, &v), ADAOPT_OK);
    assert_true(v == 1e-2);
    assert_int_equal(adaopt_default(ADAOPT_ALGO_ADAFACTOR, ADAOPT_EPS1, &v), ADAOPT_OK);
    assert_true(v == (double)FLT_EPSILON);
    adaopt_optimizer *opt = one_tensor(ADAOPT_ALGO_ADAFACTOR, 2);
    float p[2] = {3.0f, 4.0f}, g[2] = {0.5f, -1.0f};
    step_ok(opt, p, g);
    double alpha = 5.0 / sqrt(2.0) * 0.01;
    assert_close(p[0], 3.0 - alpha, F);
    assert_close(p[1], 4.0 + alpha, F);
    const float *var;
    size_t n;
    assert_int_equal(adaopt_state(opt, 0, ADAOPT_STATE_VARIANCE, &var, &n), ADAOPT_OK);
    assert_true(n == 2 && var[0] == 0.25f && var[1] == 1.0f);
    assert_int_equal(adaopt_state(opt, 0, ADAOPT_STATE_ROW_VAR, &var, &n), ADAOPT_ERR_STATE);
    adaopt_destroy(opt);

    opt = one_tensor(ADAOPT_ALGO_ADAFACTOR, 4);
    size_t dims[2] = {2, 2};
    assert_int_equal(adaopt_set_shape(opt, 0, dims, 2), ADAOPT_OK);
    float q[4] = {1, 2, 3, 4}, h[4] = {1, 0, 0, 2};
    step_ok(opt, q, h);
    double a = sqrt(30.0) / 2.0 * 0.01 / 1.25, u[4] = {sqrt(5.0), 0, 0, 2.0 / sqrt(3.2)};
    for (int i = 0; i < 4; i++)
        assert_close(q[i], (i + 1) - a * u[i], F);
    const float *row, *col;
    assert_int_equal(adaopt_state(opt, 0, ADAOPT_STATE_ROW_VAR, &row, &n), ADAOPT_OK);
    assert_true(n == 2 && row[0] == 0.5f && row[1] == 2.0f);
    assert_int_equal(adaopt_state(opt, 0, ADAOPT_STATE_COL_VAR, &col, &n), ADAOPT_OK);
    assert_true(n == 2 && col[0] == 0.5f && col[1] == 2.0f);
    assert_int_equal(adaopt_state(opt, 0, ADAOPT_STATE_VARIANCE, &var, &n), ADAOPT_ERR_STATE);
    float e[4];
    assert_int_equal(adaopt_effective_lr(opt, 0, e, 4), ADAOPT_OK);
    assert_close(e[0], a / sqrt(0.2), F);
    assert_close(e[3], a / sqrt(3.2), F);
    adaopt_destroy(opt);
}

/* Issue 16's memory target: a 4096 x 4096 matrix keeps 32 KiB of state factored, not 64 MiB;
 * and the shape's rules (before the first step, the product, its checkpoints). */
static void adafactor_shapes(void **unused)
{
    (void)unused;
    adaopt_optimizer *opt = one_tensor(ADAOPT_ALGO_ADAFACTOR, 4096 * 4096);
    assert_int_equal(adaopt_state_bytes(opt), (size_t)4096 * 4096 * 4); /* a vector: variance */
    size_t dims[3] = {4096, 4096, 1}, bad[2] = {4096, 4095};
    assert_int_equal(adaopt_set_shape(opt, 0, bad, 2), ADAOPT_ERR_SIZE);
    assert_int_equal(adaopt_set_shape(opt, 0, dims, 0), ADAOPT_ERR_VALUE);
    assert_int_equal(adaopt_set_shape(opt, 0, dims, 2), ADAOPT_OK);
    assert_int_equal(adaopt_state_bytes(opt), (size_t)32768);
    adaopt_destroy(opt);

    /* a batch of matrices (2 x 3 x 5): row_var 6, col_var 10 */
    opt = one_tensor(ADAOPT_ALGO_ADAFACTOR, 30);
    size_t batch[3] = {2, 3, 5};
    assert_int_equal(adaopt_set_shape(opt, 0, batch, 3), ADAOPT_OK);
    assert_int_equal(adaopt_state_bytes(opt), (size_t)(6 + 10) * 4);
    float p[30], g[30];
    for (int i = 0; i < 30; i++) {
        p[i] = (float)i / 10.0f;
        g[i] = (float)((i * 7) % 5) - 2.0f;
    }
    step_ok(opt, p, g);
    assert_int_equal(adaopt_set_shape(opt, 0, batch, 3), ADAOPT_ERR_STATE); /* after a step */
    /* a checkpoint loads into the same shape only */
    size_t bytes = adaopt_checkpoint_size(opt);
    unsigned char *buf = malloc(bytes);
    assert_non_null(buf);
    assert_int_equal(adaopt_save_buffer(opt, buf, bytes, &bytes), ADAOPT_OK);
    adaopt_optimizer *same = one_tensor(ADAOPT_ALGO_ADAFACTOR, 30);
    adaopt_optimizer *other = one_tensor(ADAOPT_ALGO_ADAFACTOR, 30);
    size_t flat[2] = {6, 5};
    assert_int_equal(adaopt_set_shape(same, 0, batch, 3), ADAOPT_OK);
    assert_int_equal(adaopt_set_shape(other, 0, flat, 2), ADAOPT_OK);
    assert_int_equal(adaopt_load_buffer(other, buf, bytes), ADAOPT_ERR_MISMATCH);
    assert_int_equal(adaopt_load_buffer(same, buf, bytes), ADAOPT_OK);
    float q[30];
    memcpy(q, p, sizeof q);
    step_ok(opt, p, g);
    step_ok(same, q, g);
    assert_memory_equal(p, q, sizeof p);
    free(buf);
    adaopt_destroy(opt);
    adaopt_destroy(same);
    adaopt_destroy(other);

    /* refusals: the options' ranges (bf16/fp16 parameters, packed state: test_lowp) */
    opt = one_tensor(ADAOPT_ALGO_ADAFACTOR, 4);
    assert_int_equal(adaopt_set(opt, 0, ADAOPT_BETA2_DECAY, 0.5), ADAOPT_ERR_VALUE);
    assert_int_equal(adaopt_set(opt, 0, ADAOPT_D, 0.5), ADAOPT_ERR_VALUE);
    assert_int_equal(adaopt_set(opt, 0, ADAOPT_EPS, 1e-8), ADAOPT_ERR_OPTION);
    adaopt_destroy(opt);
}

/* A factored matrix large enough for the threads (2 x 600 x 250): the same bits with 1 and 2
 * threads and with the portable kernels, 5 steps. */
static void adafactor_threads_and_isas(void **unused)
{
    (void)unused;
    enum { N = 2 * 600 * 250 };
    static float p[4][N], g[N];
    /* matrices of 2 segments each (threads share a matrix's segments), and small matrices
     * grouped into units (threads share the units) */
    static const size_t shapes[2][3] = {{2, 600, 250}, {500, 20, 30}};
    for (int shape = 0; shape < 2; shape++) {
        const size_t *dims = shapes[shape];
        size_t n = dims[0] * dims[1] * dims[2];
        adaopt_optimizer *opt[4];
        int runs = 3;
        for (int k = 0; k < 4; k++) {
            opt[k] = one_tensor(ADAOPT_ALGO_ADAFACTOR, n);
            assert_int_equal(adaopt_set_threads(opt[k], k == 1 ? 2 : 1), ADAOPT_OK);
            assert_int_equal(adaopt_set_shape(opt[k], 0, dims, 3), ADAOPT_OK);
            if (k == 2)
                assert_int_equal(adaopt_set_isa(opt[k], ADAOPT_ISA_SCALAR), ADAOPT_OK);
            if (k == 3) /* (where the CPU has it: every ISA gives the scalar bits) */
                runs += adaopt_set_isa(opt[k], ADAOPT_ISA_AVX2) == ADAOPT_OK;
            set_ok(opt[k], ADAOPT_WEIGHT_DECAY, 0.01);
            for (size_t i = 0; i < n; i++)
                p[k][i] = (float)((i * 13) % 29) / 7.0f - 2.0f;
        }
        for (int s = 0; s < 5; s++) {
            for (size_t i = 0; i < n; i++)
                g[i] = (float)((i * 7 + (size_t)s * 11) % 23) / 5.0f - 2.2f;
            for (int k = 0; k < runs; k++)
                step_ok(opt[k], p[k], g);
        }
        for (int k = 1; k < runs; k++)
            assert_memory_equal(p[0], p[k], n * sizeof p[0][0]);
        for (int k = 0; k < 4; k++)
            adaopt_destroy(opt[k]);
    }
}

/* RAdam once rectified: constant gradient g, so m_hat = g and v_hat = g^2; the step is
 * lr * r_t * g / (|g| + eps sqrt(bc2)^-1 ...) -- with eps = 0 exactly lr * r_t * sign(g). */
static void radam_rectified(void **unused)
{
    (void)unused;
    const double b2 = 0.999;
    adaopt_optimizer *opt = one_tensor(ADAOPT_ALGO_RADAM, 1);
    set_ok(opt, ADAOPT_EPS, 0.0);
    set_ok(opt, ADAOPT_LR, 0.01);
    float x = 0.0f, g = 2.0f;
    double rho_inf = 2 / (1 - b2) - 1;
    for (int t = 1; t <= 50; t++) {
        float before = x;
        step_ok(opt, &x, &g);
        double bc2 = 1 - pow(b2, t), rho = rho_inf - 2 * t * pow(b2, t) / bc2;
        double want = rho > 5 ? 0.01 * sqrt((rho - 4) * (rho - 2) * rho_inf /
                                            ((rho_inf - 4) * (rho_inf - 2) * rho))
                              : 0.01 * 2.0;
        assert_close(before - x, want, 1e-4);
    }
    adaopt_destroy(opt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sgd_plain_and_decay),
        cmocka_unit_test(sgd_momentum_dampening_nesterov),
        cmocka_unit_test(adagrad_options),
        cmocka_unit_test(rmsprop_options),
        cmocka_unit_test(adam_family_first_steps),
        cmocka_unit_test(nadam_radam_first_steps),
        cmocka_unit_test(radam_rectified),
        cmocka_unit_test(lion_first_steps),
        cmocka_unit_test(schedule_free_first_steps),
        cmocka_unit_test(schedule_free_average),
        cmocka_unit_test(schedule_free_refusals),
        cmocka_unit_test(lamb_first_step),
        cmocka_unit_test(lamb_weight_decay),
        cmocka_unit_test(lamb_counts_per_group),
        cmocka_unit_test(lamb_refusals),
        cmocka_unit_test(adafactor_first_step),
        cmocka_unit_test(adafactor_shapes),
        cmocka_unit_test(adafactor_threads_and_isas),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
