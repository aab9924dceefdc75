/*
 * test_schedule_clip.c -- schedules against torch.optim.lr_scheduler's closed forms, clipping
 * against torch.nn.utils' definitions, and their error paths.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "helpers.h"

static void schedules(void **unused)
{
    (void)unused;
    adaopt_schedule s = {.kind = ADAOPT_SCHED_STEP, .step_size = 2, .gamma = 0.1};
    const double step_want[5] = {1, 1, 0.1, 0.1, 0.01}; /* StepLR(step_size=2, gamma=0.1) */
    for (int k = 0; k < 5; k++)
        assert_close(adaopt_schedule_lr(&s, 1.0, k), step_want[k], 1e-12);

    s = (adaopt_schedule){.kind = ADAOPT_SCHED_EXPONENTIAL, .gamma = 0.5};
    assert_close(adaopt_schedule_lr(&s, 2.0, 3), 0.25, 1e-12);

    s = (adaopt_schedule){.kind = ADAOPT_SCHED_CONSTANT};
    assert_close(adaopt_schedule_lr(&s, 0.3, 1000), 0.3, 0);

    s = (adaopt_schedule){.kind = ADAOPT_SCHED_COSINE, .t_max = 100, .eta_min = 0.1};
    assert_close(adaopt_schedule_lr(&s, 1.0, 0), 1.0, 1e-12);
    assert_close(adaopt_schedule_lr(&s, 1.0, 50), 0.55, 1e-12); /* halfway: the mean */
    assert_close(adaopt_schedule_lr(&s, 1.0, 100), 0.1, 1e-12);
    assert_close(adaopt_schedule_lr(&s, 1.0, 500), 0.1, 1e-12);

    s = (adaopt_schedule){.kind = ADAOPT_SCHED_WARMUP_COSINE, .warmup_steps = 10, .t_max = 110};
    assert_close(adaopt_schedule_lr(&s, 1.0, 0), 0.1, 1e-12);
    assert_close(adaopt_schedule_lr(&s, 1.0, 4), 0.5, 1e-12);
    assert_close(adaopt_schedule_lr(&s, 1.0, 9), 1.0, 1e-12);
    assert_close(adaopt_schedule_lr(&s, 1.0, 10), 1.0, 1e-12);
    assert_close(adaopt_schedule_lr(&s, 1.0, 60), 0.5, 1e-12);
    assert_close(adaopt_schedule_lr(&s, 1.0, 110), 0.0, 0);
    double prev = 2.0;
    for (uint64_t k = 10; k <= 110; k++) { /* monotone after warmup */
        double lr = adaopt_schedule_lr(&s, 1.0, k);
        assert_true(lr <= prev);
        prev = lr;
    }
}

static void schedule_errors(void **unused)
{
    (void)unused;
    const adaopt_schedule bad[] = {
        {.kind = ADAOPT_SCHED_STEP, .step_size = 0, .gamma = 0.5},
        {.kind = ADAOPT_SCHED_STEP, .step_size = 1, .gamma = 0.0},
        {.kind = ADAOPT_SCHED_EXPONENTIAL, .gamma = 1.5},
        {.kind = ADAOPT_SCHED_EXPONENTIAL, .gamma = NAN},
        {.kind = ADAOPT_SCHED_COSINE, .t_max = 0},
        {.kind = ADAOPT_SCHED_COSINE, .t_max = 10, .eta_min = -1},
        {.kind = ADAOPT_SCHED_WARMUP_COSINE, .warmup_steps = 10, .t_max = 10},
        {.kind = ADAOPT_SCHED_WARMUP_COSINE, .warmup_steps = 0, .t_max = 10},
        {.kind = (adaopt_schedule_kind)0},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(adaopt_schedule_check(&bad[i]), ADAOPT_ERR_VALUE);
        assert_true(isnan(adaopt_schedule_lr(&bad[i], 1.0, 0)));
    }
    assert_int_equal(adaopt_schedule_check(NULL), ADAOPT_ERR_NULL);
    assert_true(isnan(adaopt_schedule_lr(NULL, 1.0, 0)));
    adaopt_schedule ok = {.kind = ADAOPT_SCHED_CONSTANT};
    assert_true(isnan(adaopt_schedule_lr(&ok, NAN, 0)));
}

/* A schedule applied through adaopt_set each step, as a caller would. */
static void schedule_drives_optimizer(void **unused)
{
    (void)unused;
    adaopt_optimizer *opt = one_tensor(ADAOPT_ALGO_SGD, 1);
    adaopt_schedule s = {.kind = ADAOPT_SCHED_STEP, .step_size = 1, .gamma = 0.5};
    float x = 0.0f, g = -1.0f; /* each step adds lr */
    for (uint64_t k = 0; k < 4; k++) {
        assert_int_equal(adaopt_set(opt, ADAOPT_ALL_GROUPS, ADAOPT_LR,
                                    adaopt_schedule_lr(&s, 1.0, k)), ADAOPT_OK);
        step_ok(opt, &x, &g);
    }
    assert_close(x, 1 + 0.5 + 0.25 + 0.125, 1e-7);
    adaopt_destroy(opt);
}

static void clipping(void **unused)
{
    (void)unused;
    float a[2] = {3, 0}, b[1] = {4};
    float *grads[3] = {a, NULL, b};
    size_t numels[3] = {2, 5, 1};
    double norm;
    assert_int_equal(adaopt_clip_grad_norm(grads, numels, 3, 1.0, 2.0, &norm), ADAOPT_OK);
    assert_close(norm, 5.0, 1e-12);
    assert_close(a[0], 3.0 / (5.0 + 1e-6), 1e-6);
    assert_close(b[0], 4.0 / (5.0 + 1e-6), 1e-6);
    /* under the limit: untouched */
    float c[2] = {0.3f, 0.4f};
    float *g2[1] = {c};
    size_t n2 = 2;
    assert_int_equal(adaopt_clip_grad_norm(g2, &n2, 1, 1.0, 2.0, NULL), ADAOPT_OK);
    assert_true(c[0] == 0.3f && c[1] == 0.4f);
    assert_int_equal(adaopt_clip_grad_norm(g2, &n2, 1, 0.1, INFINITY, &norm), ADAOPT_OK);
    assert_close(norm, 0.4, 1e-7);
    assert_close(c[1], 0.1, 1e-5);
    float d[2] = {1.0f, -2.0f};
    float *g3[1] = {d};
    assert_int_equal(adaopt_clip_grad_norm(g3, &n2, 1, 10.0, 1.0, &norm), ADAOPT_OK);
    assert_close(norm, 3.0, 1e-12);
    /* a NaN gradient gives a NaN norm and NaN gradients, as torch */
    float e[2] = {NAN, 1.0f};
    float *g4[1] = {e};
    assert_int_equal(adaopt_clip_grad_norm(g4, &n2, 1, 1.0, 2.0, &norm), ADAOPT_OK);
    assert_true(isnan(norm) && isnan(e[1]));
    /* by value */
    float f[3] = {-5.0f, 0.5f, 7.0f};
    float *g5[1] = {f};
    size_t n3 = 3;
    assert_int_equal(adaopt_clip_grad_value(g5, &n3, 1, 1.0), ADAOPT_OK);
    assert_true(f[0] == -1.0f && f[1] == 0.5f && f[2] == 1.0f);
    /* errors */
    assert_int_equal(adaopt_clip_grad_norm(NULL, &n3, 1, 1.0, 2.0, NULL), ADAOPT_ERR_NULL);
    assert_int_equal(adaopt_clip_grad_norm(g5, NULL, 1, 1.0, 2.0, NULL), ADAOPT_ERR_NULL);
    assert_int_equal(adaopt_clip_grad_norm(g5, &n3, 1, -1.0, 2.0, NULL), ADAOPT_ERR_VALUE);
    assert_int_equal(adaopt_clip_grad_norm(g5, &n3, 1, NAN, 2.0, NULL), ADAOPT_ERR_VALUE);
    assert_int_equal(adaopt_clip_grad_norm(g5, &n3, 1, 1.0, 3.0, NULL), ADAOPT_ERR_VALUE);
    assert_int_equal(adaopt_clip_grad_value(g5, &n3, 1, -1.0), ADAOPT_ERR_VALUE);
    assert_int_equal(adaopt_clip_grad_value(NULL, &n3, 1, 1.0), ADAOPT_ERR_NULL);
    assert_int_equal(adaopt_clip_grad_value(NULL, NULL, 0, 1.0), ADAOPT_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(schedules),
        cmocka_unit_test(schedule_errors),
        cmocka_unit_test(schedule_drives_optimizer),
        cmocka_unit_test(clipping),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
