/*
 * test_worked.c -- the worked numbers that ALGORITHMS.md lists from the seeds, to the printed
 * digits, computed by the real optimizers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "helpers.h"

/* Rounds to `digits` decimals. */
static double rounded(double x, int digits)
{
    double s = pow(10.0, digits);
    return round(x * s) / s;
}

/* The seed's printed value, to its printed digits: within one unit of the last digit.  (Seed
 * 004 prints x2 = 4.165 where the exact value is 4.16552: it truncates, from its own rounded
 * intermediate 0.335.) */
static int agrees_to_printed(double x, double printed, int digits)
{
    return fabs(x - printed) < pow(10.0, -digits);
}

/* Seed 004, example 1: AdaGrad on f(x) = 10x^2 from x0 = 5, eta 0.5, eps 0: 4.5, 4.165, 3.902. */
static void adagrad_example_1(void **unused)
{
    (void)unused;
    adaopt_optimizer *opt = one_tensor(ADAOPT_ALGO_ADAGRAD, 1);
    set_ok(opt, ADAOPT_LR, 0.5);
    set_ok(opt, ADAOPT_EPS, 0.0);
    float x = 5.0f, g;
    const double expected[3] = {4.5, 4.165, 3.902};
    const int digits[3] = {1, 3, 3};
    for (int k = 0; k < 3; k++) {
        g = 20.0f * x;
        step_ok(opt, &x, &g);
        if (!agrees_to_printed(x, expected[k], digits[k]))
            fail_msg("x%d = %.6f, the seed prints %.*f", k + 1, x, digits[k], expected[k]);
    }
    adaopt_destroy(opt);
}

/* Seed 004, example 3: Adam's first step on x^2 from 1, beta1 0.9: m1 = 0.2, m_hat1 = 2, and
 * with bias correction the step is lr * m_hat / sqrt(v_hat) = lr * 2 / 2 = lr. */
static void adam_example_3(void **unused)
{
    (void)unused;
    adaopt_optimizer *opt = one_tensor(ADAOPT_ALGO_ADAM, 1);
    set_ok(opt, ADAOPT_EPS, 0.0);
    float x = 1.0f, g = 2.0f * x;
    step_ok(opt, &x, &g);
    const float *m;
    assert_int_equal(adaopt_state(opt, 0, ADAOPT_STATE_EXP_AVG, &m, NULL), ADAOPT_OK);
    assert_true(rounded(m[0], 6) == 0.2);
    double beta1;
    assert_int_equal(adaopt_get(opt, 0, ADAOPT_BETA1, &beta1), ADAOPT_OK);
    assert_true(rounded(m[0] / (1.0 - beta1), 6) == 2.0); /* m_hat_1 */
    assert_close(x, 1.0 - 1e-3, 1e-7);
    adaopt_destroy(opt);
}

/* Practice problem 3: every gradient of magnitude 1, eta 0.1: effective lr 0.01 at t = 100 and
 * 0.001 at t = 10,000. */
static void adagrad_effective_lr_decay(void **unused)
{
    (void)unused;
    adaopt_optimizer *opt = one_tensor(ADAOPT_ALGO_ADAGRAD, 2);
    set_ok(opt, ADAOPT_LR, 0.1);
    set_ok(opt, ADAOPT_EPS, 1e-8);
    float x[2] = {0, 0}, eff[2];
    for (int t = 1; t <= 10000; t++) {
        float g[2] = {(t % 2) ? 1.0f : -1.0f, 1.0f}; /* "every gradient was exactly +-1" */
        step_ok(opt, x, g);
        if (t == 100 || t == 10000) {
            assert_int_equal(adaopt_effective_lr(opt, 0, eff, 2), ADAOPT_OK);
            double want = t == 100 ? 0.01 : 0.001;
            assert_true(rounded(eff[0], t == 100 ? 2 : 3) == want);
            assert_close(eff[1], want, 1e-6);
        }
    }
    adaopt_destroy(opt);
}

/* Practice problem 4: RMSProp's memory.  After one gradient burst and then zero gradients,
 * square_avg halves in ln(0.5)/ln(rho) steps: 6.6 at rho 0.9 (so 7 whole steps) and 69 at 0.99. */
static int halving_steps(double rho)
{
    adaopt_optimizer *opt = one_tensor(ADAOPT_ALGO_RMSPROP, 1);
    set_ok(opt, ADAOPT_ALPHA, rho);
    float x = 0.0f, burst = 1.0f, zero = 0.0f;
    step_ok(opt, &x, &burst);
    const float *S;
    assert_int_equal(adaopt_state(opt, 0, ADAOPT_STATE_SQUARE_AVG, &S, NULL), ADAOPT_OK);
    double peak = S[0];
    int n = 0;
    while (S[0] > 0.5 * peak && n < 1000) {
        step_ok(opt, &x, &zero);
        n++;
    }
    adaopt_destroy(opt);
    return n;
}

static void rmsprop_half_life(void **unused)
{
    (void)unused;
    assert_true(rounded(log(0.5) / log(0.9), 1) == 6.6);
    assert_true(rounded(log(0.5) / log(0.99), 0) == 69.0);
    assert_int_equal(halving_steps(0.9), 7);
    assert_int_equal(halving_steps(0.99), 69);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(adagrad_example_1),
        cmocka_unit_test(adam_example_3),
        cmocka_unit_test(adagrad_effective_lr_decay),
        cmocka_unit_test(rmsprop_half_life),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
