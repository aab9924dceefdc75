/*
 * test_errors.c -- every error path of the public API: the status code, a message, and proof
 * that nothing changed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "helpers.h"

/* Asserts `call` returns `status` and left a message containing `needle` in opt. */
#define expect_error(opt, call, status, needle)                                               \
    do {                                                                                      \
        assert_int_equal((call), (status));                                                   \
        if (strstr(adaopt_last_error(opt), (needle)) == NULL)                                 \
            fail_msg("message '%s' lacks '%s'", adaopt_last_error(opt), (needle));            \
    } while (0)

static void create_and_names(void **unused)
{
    (void)unused;
    adaopt_optimizer *opt = (adaopt_optimizer *)&opt;
    assert_int_equal(adaopt_create(ADAOPT_ALGO_ADAM, NULL), ADAOPT_ERR_NULL);
    assert_int_equal(adaopt_create((adaopt_algorithm)0, &opt), ADAOPT_ERR_ALGORITHM);
    assert_null(opt);
    assert_int_equal(adaopt_create((adaopt_algorithm)99, &opt), ADAOPT_ERR_ALGORITHM);
    adaopt_destroy(NULL);

    adaopt_algorithm a;
    assert_int_equal(adaopt_algorithm_from_name("AdamW", &a), ADAOPT_OK);
    assert_int_equal(a, ADAOPT_ALGO_ADAMW);
    assert_int_equal(adaopt_algorithm_from_name("adamz", &a), ADAOPT_ERR_ALGORITHM);
    assert_int_equal(adaopt_algorithm_from_name(NULL, &a), ADAOPT_ERR_NULL);
    assert_null(adaopt_algorithm_name((adaopt_algorithm)42));
    adaopt_option o;
    assert_int_equal(adaopt_option_from_name("initial_accumulator_value", &o), ADAOPT_OK);
    assert_int_equal(o, ADAOPT_INITIAL_ACCUMULATOR_VALUE);
    assert_int_equal(adaopt_option_from_name("learning_rate", &o), ADAOPT_ERR_OPTION);
    assert_null(adaopt_option_name((adaopt_option)0));
    assert_null(adaopt_state_name((adaopt_state_kind)0));
    for (int s = 0; s <= ADAOPT_ERR_CONFLICT; s++)
        assert_true(strlen(adaopt_status_name(s)) > 0);
    assert_string_equal(adaopt_status_name(1234), "unknown status code");
    assert_true(strlen(adaopt_last_error(NULL)) > 0);
    assert_int_equal(adaopt_version_number(), 200);

    double v;
    assert_int_equal(adaopt_default(ADAOPT_ALGO_SGD, ADAOPT_AMSGRAD, &v), ADAOPT_ERR_OPTION);
    assert_int_equal(adaopt_default((adaopt_algorithm)0, ADAOPT_LR, &v), ADAOPT_ERR_ALGORITHM);
    assert_int_equal(adaopt_default(ADAOPT_ALGO_SGD, ADAOPT_LR, NULL), ADAOPT_ERR_NULL);
    assert_int_equal(adaopt_check_option(ADAOPT_ALGO_ADAM, ADAOPT_LR, -1), ADAOPT_ERR_VALUE);
    assert_int_equal(adaopt_check_option((adaopt_algorithm)0, ADAOPT_LR, 1), ADAOPT_ERR_ALGORITHM);
    assert_int_equal(adaopt_check_option(ADAOPT_ALGO_ADAM, ADAOPT_LR, 1), ADAOPT_OK);
}

static void defaults_match_torch(void **unused)
{
    (void)unused;
    struct { adaopt_algorithm a; adaopt_option o; double v; } table[] = {
        {ADAOPT_ALGO_SGD, ADAOPT_LR, 1e-3},       {ADAOPT_ALGO_ADAGRAD, ADAOPT_LR, 1e-2},
        {ADAOPT_ALGO_ADAGRAD, ADAOPT_EPS, 1e-10}, {ADAOPT_ALGO_RMSPROP, ADAOPT_LR, 1e-2},
        {ADAOPT_ALGO_RMSPROP, ADAOPT_ALPHA, 0.99}, {ADAOPT_ALGO_RMSPROP, ADAOPT_EPS, 1e-8},
        {ADAOPT_ALGO_ADAM, ADAOPT_LR, 1e-3},      {ADAOPT_ALGO_ADAM, ADAOPT_BETA2, 0.999},
        {ADAOPT_ALGO_ADAMW, ADAOPT_WEIGHT_DECAY, 1e-2}, {ADAOPT_ALGO_ADAMAX, ADAOPT_LR, 2e-3},
        {ADAOPT_ALGO_NADAM, ADAOPT_LR, 2e-3},     {ADAOPT_ALGO_NADAM, ADAOPT_MOMENTUM_DECAY, 4e-3},
        {ADAOPT_ALGO_RADAM, ADAOPT_LR, 1e-3},     {ADAOPT_ALGO_RADAM, ADAOPT_EPS_MODE, ADAOPT_EPS_HAT},
        {ADAOPT_ALGO_ADAM, ADAOPT_EPS_MODE, ADAOPT_EPS_OUTSIDE},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        double v;
        assert_int_equal(adaopt_default(table[i].a, table[i].o, &v), ADAOPT_OK);
        assert_true(v == table[i].v);
    }
}

static void bad_groups(void **unused)
{
    (void)unused;
    adaopt_optimizer *opt;
    size_t numels[2] = {4, 0}, group;
    assert_int_equal(adaopt_create(ADAOPT_ALGO_ADAM, &opt), ADAOPT_OK);
    expect_error(opt, adaopt_add_group(opt, NULL, 1, &group), ADAOPT_ERR_NULL, "NULL");
    expect_error(opt, adaopt_add_group(opt, numels, 0, &group), ADAOPT_ERR_SIZE, "at least one");
    size_t huge = SIZE_MAX / 2;
    expect_error(opt, adaopt_add_group(opt, &huge, 1, &group), ADAOPT_ERR_SIZE, "too many to address");
    size_t too_big = (size_t)1 << 50; /* addressable, but no machine has 4 PiB */
    expect_error(opt, adaopt_add_group(opt, &too_big, 1, &group), ADAOPT_ERR_ALLOC, "memory");
    assert_int_equal(adaopt_group_count(opt), 0);
    assert_int_equal(adaopt_tensor_count(opt), 0);
    assert_int_equal(adaopt_add_group(opt, numels, 2, &group), ADAOPT_OK); /* empty tensor ok */
    assert_int_equal(adaopt_tensor_count(opt), 2);
    size_t n, g;
    assert_int_equal(adaopt_tensor_info(opt, 1, &n, &g), ADAOPT_OK);
    assert_int_equal(n, 0);
    expect_error(opt, adaopt_tensor_info(opt, 2, &n, &g), ADAOPT_ERR_INDEX, "out of range");
    assert_int_equal(adaopt_add_group(NULL, numels, 1, &group), ADAOPT_ERR_NULL);
    /* the group's index is optional: groups are numbered in the order they are added */
    assert_int_equal(adaopt_add_group(opt, numels, 1, NULL), ADAOPT_OK);
    assert_int_equal(adaopt_group_count(opt), 2);
    assert_int_equal(adaopt_tensor_info(opt, 2, &n, &g), ADAOPT_OK);
    assert_int_equal(g, 1);
    assert_int_equal(adaopt_group_count(NULL), 0);
    adaopt_destroy(opt);
}

static void bad_options(void **unused)
{
    (void)unused;
    adaopt_optimizer *opt = one_tensor(ADAOPT_ALGO_ADAM, 2);
    expect_error(opt, adaopt_set(opt, 0, ADAOPT_LR, -0.1), ADAOPT_ERR_VALUE, "lr must be >= 0");
    expect_error(opt, adaopt_set(opt, 0, ADAOPT_LR, NAN), ADAOPT_ERR_VALUE, "finite");
    expect_error(opt, adaopt_set(opt, 0, ADAOPT_LR, INFINITY), ADAOPT_ERR_VALUE, "finite");
    expect_error(opt, adaopt_set(opt, 0, ADAOPT_BETA1, 1.0), ADAOPT_ERR_VALUE, "[0, 1)");
    expect_error(opt, adaopt_set(opt, 0, ADAOPT_BETA2, -0.1), ADAOPT_ERR_VALUE, "[0, 1)");
    expect_error(opt, adaopt_set(opt, 0, ADAOPT_EPS, -1e-8), ADAOPT_ERR_VALUE, "eps");
    expect_error(opt, adaopt_set(opt, 0, ADAOPT_WEIGHT_DECAY, -1), ADAOPT_ERR_VALUE, "weight_decay");
    expect_error(opt, adaopt_set(opt, 0, ADAOPT_AMSGRAD, 0.5), ADAOPT_ERR_VALUE, "boolean");
    expect_error(opt, adaopt_set(opt, 0, ADAOPT_EPS_MODE, 3), ADAOPT_ERR_VALUE, "eps_mode");
    expect_error(opt, adaopt_set(opt, 0, ADAOPT_MOMENTUM, 0.9), ADAOPT_ERR_OPTION, "no option 'momentum'");
    expect_error(opt, adaopt_set(opt, 0, (adaopt_option)0, 1), ADAOPT_ERR_OPTION, "unknown option");
    expect_error(opt, adaopt_set(opt, 0, (adaopt_option)99, 1), ADAOPT_ERR_OPTION, "unknown option");
    expect_error(opt, adaopt_set(opt, 1, ADAOPT_LR, 0.1), ADAOPT_ERR_INDEX, "group 1");
    double v;
    expect_error(opt, adaopt_get(opt, 1, ADAOPT_LR, &v), ADAOPT_ERR_INDEX, "group 1");
    expect_error(opt, adaopt_get(opt, 0, ADAOPT_LR, NULL), ADAOPT_ERR_NULL, "NULL");
    expect_error(opt, adaopt_get(opt, 0, ADAOPT_ALPHA, &v), ADAOPT_ERR_OPTION, "alpha");
    expect_error(opt, adaopt_get(opt, 0, (adaopt_option)77, &v), ADAOPT_ERR_OPTION, "unknown");
    assert_int_equal(adaopt_set(NULL, 0, ADAOPT_LR, 0.1), ADAOPT_ERR_NULL);
    /* nothing changed */
    assert_int_equal(adaopt_get(opt, 0, ADAOPT_LR, &v), ADAOPT_OK);
    assert_true(v == 1e-3);
    assert_int_equal(adaopt_get(opt, 0, ADAOPT_BETA1, &v), ADAOPT_OK);
    assert_true(v == 0.9);
    /* ADAOPT_ALL_GROUPS sets every group */
    assert_int_equal(adaopt_set(opt, ADAOPT_ALL_GROUPS, ADAOPT_LR, 0.5), ADAOPT_OK);
    assert_int_equal(adaopt_get(opt, 0, ADAOPT_LR, &v), ADAOPT_OK);
    assert_true(v == 0.5);
    adaopt_destroy(opt);

    /* hat is refused where there is no bias correction */
    opt = one_tensor(ADAOPT_ALGO_ADAGRAD, 1);
    expect_error(opt, adaopt_set(opt, 0, ADAOPT_EPS_MODE, ADAOPT_EPS_HAT), ADAOPT_ERR_VALUE, "adagrad");
    adaopt_destroy(opt);
    opt = one_tensor(ADAOPT_ALGO_ADAMAX, 1);
    expect_error(opt, adaopt_set(opt, 0, ADAOPT_EPS_MODE, 1), ADAOPT_ERR_OPTION, "eps_mode");
    adaopt_destroy(opt);
    opt = one_tensor(ADAOPT_ALGO_SGD, 1);
    expect_error(opt, adaopt_set(opt, 0, ADAOPT_EPS, 1e-8), ADAOPT_ERR_OPTION, "eps");
    expect_error(opt, adaopt_set(opt, 0, ADAOPT_DAMPENING, NAN), ADAOPT_ERR_VALUE, "dampening");
    adaopt_destroy(opt);
    opt = one_tensor(ADAOPT_ALGO_RMSPROP, 1);
    expect_error(opt, adaopt_set(opt, 0, ADAOPT_ALPHA, 1.5), ADAOPT_ERR_VALUE, "alpha");
    expect_error(opt, adaopt_set(opt, 0, ADAOPT_MOMENTUM, -0.5), ADAOPT_ERR_VALUE, "momentum");
    adaopt_destroy(opt);
}

static void bad_steps_change_nothing(void **unused)
{
    (void)unused;
    adaopt_optimizer *opt;
    size_t numels[2] = {2, 3}, group;
    assert_int_equal(adaopt_create(ADAOPT_ALGO_SGD, &opt), ADAOPT_OK);
    assert_int_equal(adaopt_add_group(opt, numels, 2, &group), ADAOPT_OK);
    float p0[2] = {1, 2}, p1[3] = {3, 4, 5}, g0[2] = {1, 1}, g1[3] = {1, 1, 1};
    float *params[2] = {p0, p1}, *null_param[2] = {p0, NULL};
    const float *grads[2] = {g0, g1};
    expect_error(opt, adaopt_step(opt, NULL, grads, 2), ADAOPT_ERR_NULL, "NULL");
    expect_error(opt, adaopt_step(opt, params, NULL, 2), ADAOPT_ERR_NULL, "NULL");
    expect_error(opt, adaopt_step(opt, params, grads, 1), ADAOPT_ERR_SIZE, "got 1 tensors");
    expect_error(opt, adaopt_step(opt, null_param, grads, 2), ADAOPT_ERR_NULL, "tensor 1");
    /* nesterov without momentum: each value valid, together a conflict found at the step */
    assert_int_equal(adaopt_set(opt, 0, ADAOPT_NESTEROV, 1), ADAOPT_OK);
    expect_error(opt, adaopt_step(opt, params, grads, 2), ADAOPT_ERR_CONFLICT, "nesterov");
    assert_int_equal(adaopt_set(opt, 0, ADAOPT_MOMENTUM, 0.9), ADAOPT_OK);
    assert_int_equal(adaopt_set(opt, 0, ADAOPT_DAMPENING, 0.1), ADAOPT_OK);
    expect_error(opt, adaopt_step(opt, params, grads, 2), ADAOPT_ERR_CONFLICT, "dampening");
    assert_int_equal(adaopt_step(NULL, params, grads, 2), ADAOPT_ERR_NULL);
    assert_true(p0[0] == 1 && p0[1] == 2 && p1[0] == 3 && p1[2] == 5);
    double t;
    assert_int_equal(adaopt_state_scalar(opt, 0, ADAOPT_STATE_STEP, &t), ADAOPT_OK);
    assert_true(t == 0);
    const float *buf;
    expect_error(opt, adaopt_state(opt, 0, ADAOPT_STATE_MOMENTUM_BUFFER, &buf, NULL), ADAOPT_ERR_STATE, "yet");
    assert_int_equal(adaopt_set(opt, 0, ADAOPT_DAMPENING, 0.0), ADAOPT_OK);
    assert_int_equal(adaopt_step(opt, params, grads, 2), ADAOPT_OK);
    assert_int_equal(adaopt_state(opt, 0, ADAOPT_STATE_MOMENTUM_BUFFER, &buf, NULL), ADAOPT_OK);
    adaopt_destroy(opt);
}

static void bad_queries(void **unused)
{
    (void)unused;
    adaopt_optimizer *opt = one_tensor(ADAOPT_ALGO_ADAM, 3);
    float out[3];
    const float *data;
    double v;
    expect_error(opt, adaopt_effective_lr(opt, 0, out, 3), ADAOPT_ERR_STATE, "not taken a step");
    expect_error(opt, adaopt_state(opt, 0, ADAOPT_STATE_EXP_AVG, &data, NULL), ADAOPT_ERR_STATE, "exp_avg");
    float p[3] = {0}, g[3] = {1, 2, 3};
    step_ok(opt, p, g);
    expect_error(opt, adaopt_effective_lr(opt, 0, out, 2), ADAOPT_ERR_SIZE, "has 3");
    expect_error(opt, adaopt_effective_lr(opt, 1, out, 3), ADAOPT_ERR_INDEX, "tensor 1");
    expect_error(opt, adaopt_effective_lr(opt, 0, NULL, 3), ADAOPT_ERR_NULL, "NULL");
    expect_error(opt, adaopt_state(opt, 0, ADAOPT_STATE_SUM, &data, NULL), ADAOPT_ERR_OPTION, "sum");
    expect_error(opt, adaopt_state(opt, 0, ADAOPT_STATE_STEP, &data, NULL), ADAOPT_ERR_OPTION, "step");
    expect_error(opt, adaopt_state(opt, 0, ADAOPT_STATE_MAX_EXP_AVG_SQ, &data, NULL), ADAOPT_ERR_STATE, "max_exp_avg_sq");
    expect_error(opt, adaopt_state(opt, 5, ADAOPT_STATE_EXP_AVG, &data, NULL), ADAOPT_ERR_INDEX, "tensor 5");
    expect_error(opt, adaopt_state(opt, 0, ADAOPT_STATE_EXP_AVG, NULL, NULL), ADAOPT_ERR_NULL, "NULL");
    expect_error(opt, adaopt_state_scalar(opt, 0, ADAOPT_STATE_MU_PRODUCT, &v), ADAOPT_ERR_OPTION, "mu_product");
    expect_error(opt, adaopt_state_scalar(opt, 0, ADAOPT_STATE_STEP, NULL), ADAOPT_ERR_NULL, "NULL");
    expect_error(opt, adaopt_state_scalar(opt, 9, ADAOPT_STATE_STEP, &v), ADAOPT_ERR_INDEX, "tensor 9");
    assert_int_equal(adaopt_effective_lr(NULL, 0, out, 3), ADAOPT_ERR_NULL);
    assert_int_equal(adaopt_state(NULL, 0, ADAOPT_STATE_EXP_AVG, &data, NULL), ADAOPT_ERR_NULL);
    assert_int_equal(adaopt_state_scalar(NULL, 0, ADAOPT_STATE_STEP, &v), ADAOPT_ERR_NULL);
    adaopt_destroy(opt);
}

/* Turning amsgrad on mid-run allocates its state in adaopt_set; the next step uses it. */
static void options_that_need_state(void **unused)
{
    (void)unused;
    adaopt_optimizer *opt = one_tensor(ADAOPT_ALGO_ADAM, 2);
    float p[2] = {0}, g[2] = {1, -1};
    step_ok(opt, p, g);
    set_ok(opt, ADAOPT_AMSGRAD, 1);
    step_ok(opt, p, g);
    const float *vmax, *v;
    assert_int_equal(adaopt_state(opt, 0, ADAOPT_STATE_MAX_EXP_AVG_SQ, &vmax, NULL), ADAOPT_OK);
    assert_int_equal(adaopt_state(opt, 0, ADAOPT_STATE_EXP_AVG_SQ, &v, NULL), ADAOPT_OK);
    assert_true(vmax[0] == v[0]);
    adaopt_destroy(opt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(create_and_names),
        cmocka_unit_test(defaults_match_torch),
        cmocka_unit_test(bad_groups),
        cmocka_unit_test(bad_options),
        cmocka_unit_test(bad_steps_change_nothing),
        cmocka_unit_test(bad_queries),
        cmocka_unit_test(options_that_need_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
