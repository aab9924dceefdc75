/*
 * test_checkpoint.c -- exact resume for every algorithm, through a buffer and a file; every
 * damaged, truncated or mismatched checkpoint refused with nothing changed; CRC-32C; the
 * non-finite policies and the loss scaler; importing state with adaopt_set_state.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>
#include <cmocka.h>

#include "helpers.h"

uint32_t adaopt__crc32c(uint32_t crc, const void *data, size_t length);
uint32_t adaopt__crc32c_portable(uint32_t crc, const void *data, size_t length);

enum { T0 = 13, T1 = 5, T2 = 70 }; /* three tensors in two groups */

typedef struct {
    adaopt_algorithm algorithm;
    adaopt_option option[3];
    double value[3];
} setup;

static const setup SETUPS[] = {
    {ADAOPT_ALGO_SGD, {ADAOPT_MOMENTUM, ADAOPT_NESTEROV}, {0.9, 1}},
    {ADAOPT_ALGO_SGD, {ADAOPT_WEIGHT_DECAY}, {0.01}},
    {ADAOPT_ALGO_ADAGRAD, {ADAOPT_LR_DECAY, ADAOPT_INITIAL_ACCUMULATOR_VALUE}, {0.01, 0.3}},
    {ADAOPT_ALGO_RMSPROP, {ADAOPT_CENTERED, ADAOPT_MOMENTUM}, {1, 0.5}},
    {ADAOPT_ALGO_ADAM, {ADAOPT_AMSGRAD, ADAOPT_WEIGHT_DECAY}, {1, 0.1}},
    {ADAOPT_ALGO_ADAMW, {ADAOPT_EPS_MODE}, {ADAOPT_EPS_HAT}},
    {ADAOPT_ALGO_ADAMAX, {ADAOPT_MAXIMIZE}, {1}},
    {ADAOPT_ALGO_NADAM, {ADAOPT_DECOUPLED_WEIGHT_DECAY, ADAOPT_WEIGHT_DECAY}, {1, 0.1}},
    {ADAOPT_ALGO_RADAM, {ADAOPT_EPS_MODE}, {ADAOPT_EPS_INSIDE}},
    {ADAOPT_ALGO_LION, {ADAOPT_WEIGHT_DECAY}, {0.1}},
    {ADAOPT_ALGO_ADAMW_SCHEDULE_FREE, {ADAOPT_WEIGHT_DECAY, ADAOPT_WARMUP_STEPS}, {0.1, 4}},
    {ADAOPT_ALGO_LAMB, {ADAOPT_WEIGHT_DECAY, ADAOPT_CLAMP}, {0.1, 2}},
    {ADAOPT_ALGO_ADAFACTOR, {ADAOPT_WEIGHT_DECAY, ADAOPT_D}, {0.1, 2}},
    {ADAOPT_ALGO_ADADELTA, {ADAOPT_WEIGHT_DECAY, ADAOPT_RHO}, {0.1, 0.8}},
    {ADAOPT_ALGO_RPROP, {ADAOPT_ETA_PLUS, ADAOPT_STEP_SIZE_MIN}, {1.5, 1e-4}},
    {ADAOPT_ALGO_ASGD, {ADAOPT_T0, ADAOPT_WEIGHT_DECAY}, {3, 0.1}},
};

typedef struct {
    adaopt_optimizer *opt;
    float p0[T0], p1[T1], p2[T2];
} model;

/* The optimizer as created before any step: two groups, defaults (configure: the setup's
 * options in group 0, lr 0.05 in group 1). */
static void make(model *m, const setup *s, int configure)
{
    size_t g0[2] = {T0, T1}, g1[1] = {T2}, group;
    assert_int_equal(adaopt_create(s->algorithm, &m->opt), ADAOPT_OK);
    assert_int_equal(adaopt_add_group(m->opt, g0, 2, &group), ADAOPT_OK);
    assert_int_equal(adaopt_add_group(m->opt, g1, 1, &group), ADAOPT_OK);
    if (configure) {
        for (int k = 0; k < 3 && s->option[k]; k++)
            assert_int_equal(adaopt_set(m->opt, 0, s->option[k], s->value[k]), ADAOPT_OK);
        assert_int_equal(adaopt_set(m->opt, 1, ADAOPT_LR, 0.05), ADAOPT_OK);
    }
    for (int i = 0; i < T0; i++)
        m->p0[i] = 0.1f * (float)i;
    for (int i = 0; i < T1; i++)
        m->p1[i] = -0.2f * (float)i;
    for (int i = 0; i < T2; i++)
        m->p2[i] = 1.0f;
}

static void steps(model *m, int from, int to)
{
    for (int t = from; t < to; t++) {
        float g0[T0], g1[T1], g2[T2];
        for (int i = 0; i < T0; i++)
            g0[i] = (float)((i * 7 + t * 3) % 11) / 5.0f - 1.0f;
        for (int i = 0; i < T1; i++)
            g1[i] = (float)((i + t) % 3) - 1.0f;
        for (int i = 0; i < T2; i++)
            g2[i] = (float)((i * 5 + t) % 13) / 6.0f - 1.0f;
        float *p[3] = {m->p0, m->p1, m->p2};
        const float *g[3] = {g0, t % 4 == 2 ? NULL : g1, g2}; /* tensor 1 skipped sometimes */
        if (adaopt_step(m->opt, p, g, 3) != ADAOPT_OK)
            fail_msg("step: %s", adaopt_last_error(m->opt));
    }
}

static unsigned char *snapshot(const adaopt_optimizer *opt, size_t *n)
{
    *n = adaopt_checkpoint_size(opt);
    unsigned char *buf = malloc(*n);
    assert_non_null(buf);
    assert_int_equal(adaopt_save_buffer(opt, buf, *n, n), ADAOPT_OK);
    return buf;
}

static void same_model(const model *a, const model *b)
{
    assert_memory_equal(a->p0, b->p0, sizeof a->p0);
    assert_memory_equal(a->p1, b->p1, sizeof a->p1);
    assert_memory_equal(a->p2, b->p2, sizeof a->p2);
    size_t na, nb;
    unsigned char *sa = snapshot(a->opt, &na), *sb = snapshot(b->opt, &nb);
    assert_int_equal(na, nb);
    assert_memory_equal(sa, sb, na); /* every state array, step and hyperparameter */
    free(sa);
    free(sb);
}

static void exact_resume(void **unused)
{
    (void)unused;
    char path[] = "/tmp/adaopt-ckpt-XXXXXX";
    assert_non_null(mkdtemp(path));
    char file[256];
    snprintf(file, sizeof file, "%s/opt.ckpt", path);
    for (size_t k = 0; k < sizeof SETUPS / sizeof SETUPS[0]; k++) {
        for (int via_file = 0; via_file < 2; via_file++) {
            model whole, first, resumed;
            make(&whole, &SETUPS[k], 1);
            make(&first, &SETUPS[k], 1);
            make(&resumed, &SETUPS[k], 0); /* defaults: the checkpoint brings the options */
            steps(&whole, 0, 60);
            steps(&first, 0, 37);
            if (via_file) {
                assert_int_equal(adaopt_save_file(first.opt, file), ADAOPT_OK);
                assert_int_equal(adaopt_load_file(resumed.opt, file), ADAOPT_OK);
            } else {
                size_t n;
                unsigned char *buf = snapshot(first.opt, &n);
                assert_int_equal(adaopt_load_buffer(resumed.opt, buf, n), ADAOPT_OK);
                free(buf);
            }
            memcpy(resumed.p0, first.p0, sizeof first.p0); /* the caller restores parameters */
            memcpy(resumed.p1, first.p1, sizeof first.p1);
            memcpy(resumed.p2, first.p2, sizeof first.p2);
            assert_int_equal(adaopt_steps_taken(resumed.opt), 37);
            steps(&resumed, 37, 60);
            same_model(&whole, &resumed);
            adaopt_destroy(whole.opt);
            adaopt_destroy(first.opt);
            adaopt_destroy(resumed.opt);
        }
    }
    /* the atomic save leaves no temporary file behind */
    DIR *d = opendir(path);
    int entries = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        entries += e->d_name[0] != '.';
    closedir(d);
    assert_int_equal(entries, 1);
    unlink(file);
    rmdir(path);
}

/* Every corruption is refused and leaves the target as it was. */
static void damaged_checkpoints_change_nothing(void **unused)
{
    (void)unused;
    model src, dst;
    make(&src, &SETUPS[4], 1);
    make(&dst, &SETUPS[4], 1);
    steps(&src, 0, 5);
    steps(&dst, 0, 3);
    size_t n, before_n;
    unsigned char *good = snapshot(src.opt, &n), *before = snapshot(dst.opt, &before_n);
    unsigned char *bad = malloc(n);
    for (size_t i = 0; i < n; i++) { /* every byte flipped */
        memcpy(bad, good, n);
        bad[i] ^= (unsigned char)(1u << (i % 8));
        adaopt_status st = adaopt_load_buffer(dst.opt, bad, n);
        if (st == ADAOPT_OK)
            fail_msg("a checkpoint with byte %zu flipped was accepted", i);
        assert_true(st == ADAOPT_ERR_FORMAT || st == ADAOPT_ERR_MISMATCH);
    }
    for (size_t len = 0; len < n; len++) /* every truncation */
        assert_int_not_equal(adaopt_load_buffer(dst.opt, good, len), ADAOPT_OK);
    unsigned char *longer = calloc(n + 8, 1); /* trailing bytes */
    memcpy(longer, good, n);
    assert_int_equal(adaopt_load_buffer(dst.opt, longer, n + 8), ADAOPT_ERR_FORMAT);
    size_t after_n;
    unsigned char *after = snapshot(dst.opt, &after_n);
    assert_int_equal(before_n, after_n);
    assert_memory_equal(before, after, before_n);
    assert_int_equal(adaopt_load_buffer(dst.opt, good, n), ADAOPT_OK); /* the good one loads */
    free(good);
    free(before);
    free(bad);
    free(longer);
    free(after);
    adaopt_destroy(src.opt);
    adaopt_destroy(dst.opt);
}

static void mismatches(void **unused)
{
    (void)unused;
    model adam, sgd;
    make(&adam, &SETUPS[4], 1);
    make(&sgd, &SETUPS[0], 1);
    steps(&adam, 0, 2);
    size_t n;
    unsigned char *buf = snapshot(adam.opt, &n);
    assert_int_equal(adaopt_load_buffer(sgd.opt, buf, n), ADAOPT_ERR_MISMATCH);
    assert_non_null(strstr(adaopt_last_error(sgd.opt), "a checkpoint of adam"));
    /* same algorithm, other shapes */
    adaopt_optimizer *other;
    size_t numels[3] = {T0, T1, T2 + 1}, group;
    assert_int_equal(adaopt_create(ADAOPT_ALGO_ADAM, &other), ADAOPT_OK);
    assert_int_equal(adaopt_add_group(other, numels, 2, &group), ADAOPT_OK);
    assert_int_equal(adaopt_add_group(other, numels + 2, 1, &group), ADAOPT_OK);
    assert_int_equal(adaopt_load_buffer(other, buf, n), ADAOPT_ERR_MISMATCH);
    assert_non_null(strstr(adaopt_last_error(other), "tensor 2"));
    adaopt_destroy(other);
    /* same tensors, other grouping */
    assert_int_equal(adaopt_create(ADAOPT_ALGO_ADAM, &other), ADAOPT_OK);
    assert_int_equal(adaopt_add_group(other, numels, 1, &group), ADAOPT_OK);
    numels[2] = T2;
    assert_int_equal(adaopt_add_group(other, numels + 1, 2, &group), ADAOPT_OK);
    assert_int_equal(adaopt_load_buffer(other, buf, n), ADAOPT_ERR_MISMATCH);
    adaopt_destroy(other);
    /* a newer format version (with a valid header checksum), and a version 1 body called 2
     * or 3 */
    for (unsigned char v = 2; v <= 4; v++) {
        buf[8] = v;
        uint32_t crc = adaopt__crc32c(0, buf, 20);
        for (int b = 0; b < 4; b++)
            buf[20 + b] = (unsigned char)(crc >> (8 * b));
        assert_int_equal(adaopt_load_buffer(adam.opt, buf, n), ADAOPT_ERR_FORMAT);
        assert_non_null(strstr(adaopt_last_error(adam.opt), v == 4 ? "version 4" : "META"));
    }
    /* argument errors */
    unsigned char small[8];
    assert_int_equal(adaopt_save_buffer(adam.opt, small, sizeof small, NULL), ADAOPT_ERR_SIZE);
    assert_int_equal(adaopt_save_buffer(adam.opt, NULL, 100, NULL), ADAOPT_ERR_NULL);
    assert_int_equal(adaopt_load_buffer(adam.opt, NULL, 100), ADAOPT_ERR_NULL);
    assert_int_equal(adaopt_load_buffer(NULL, buf, n), ADAOPT_ERR_NULL);
    assert_int_equal(adaopt_load_file(adam.opt, "/nonexistent/x.ckpt"), ADAOPT_ERR_IO);
    assert_non_null(strstr(adaopt_last_error(adam.opt), "No such file"));
    assert_int_equal(adaopt_save_file(adam.opt, "/nonexistent/dir/x.ckpt"), ADAOPT_ERR_IO);
    assert_int_equal(adaopt_save_file(adam.opt, NULL), ADAOPT_ERR_NULL);
    assert_int_equal(adaopt_checkpoint_size(NULL), 0);
    free(buf);
    adaopt_destroy(adam.opt);
    adaopt_destroy(sgd.opt);
}

static void crc32c(void **unused)
{
    (void)unused;
    assert_int_equal(adaopt__crc32c(0, "123456789", 9), 0xE3069283u); /* the standard check */
    assert_int_equal(adaopt__crc32c_portable(0, "123456789", 9), 0xE3069283u);
    unsigned char data[300];
    for (int i = 0; i < 300; i++)
        data[i] = (unsigned char)(i * 131 + 7);
    for (size_t off = 0; off < 8; off++)
        for (size_t len = 0; len < 200; len++)
            assert_int_equal(adaopt__crc32c(0, data + off, len),
                             adaopt__crc32c_portable(0, data + off, len));
    /* continuing a CRC equals computing it at once */
    assert_int_equal(adaopt__crc32c(adaopt__crc32c(0, data, 100), data + 100, 200),
                     adaopt__crc32c(0, data, 300));
}

static void nonfinite_policies(void **unused)
{
    (void)unused;
    const float nan_grad[4] = {1, NAN, 1, 1}, inf_grad[4] = {1, 1, INFINITY, 1}, ok[4] = {1, 1, 1, 1};
    adaopt_optimizer *opt = one_tensor(ADAOPT_ALGO_ADAM, 4);
    float p[4] = {0};
    step_ok(opt, p, ok);
    size_t n;
    unsigned char *before = snapshot(opt, &n);
    float p_before[4];
    memcpy(p_before, p, sizeof p);

    assert_int_equal(adaopt_set_nonfinite_policy(opt, ADAOPT_NONFINITE_SKIP), ADAOPT_OK);
    step_ok(opt, p, nan_grad);
    assert_int_equal(adaopt_last_step_skipped(opt), 1);
    step_ok(opt, p, inf_grad);
    assert_int_equal(adaopt_steps_skipped(opt), 2);
    assert_int_equal(adaopt_steps_taken(opt), 1);
    assert_memory_equal(p, p_before, sizeof p);
    assert_int_equal(adaopt_set_nonfinite_policy(opt, ADAOPT_NONFINITE_ERROR), ADAOPT_OK);
    float *params[1] = {p};
    const float *grads[1] = {nan_grad};
    assert_int_equal(adaopt_step(opt, params, grads, 1), ADAOPT_ERR_NONFINITE);
    assert_memory_equal(p, p_before, sizeof p);
    size_t n2;
    unsigned char *after = snapshot(opt, &n2);
    /* state identical; only the counters of skipped steps and the policy differ */
    assert_int_equal(n, n2);
    /* a hint replaces the scan: 1 skips finite gradients (ERROR fails), 0 trusts NaN ones */
    assert_int_equal(adaopt_hint_nonfinite(opt, 1), ADAOPT_OK);
    grads[0] = ok;
    assert_int_equal(adaopt_step(opt, params, grads, 1), ADAOPT_ERR_NONFINITE);
    assert_int_equal(adaopt_step(opt, params, grads, 1), ADAOPT_OK); /* the hint was used up */
    assert_int_equal(adaopt_hint_nonfinite(opt, 0), ADAOPT_OK);
    grads[0] = nan_grad;
    assert_int_equal(adaopt_step(opt, params, grads, 1), ADAOPT_OK);
    assert_true(isnan(p[1]));
    assert_int_equal(adaopt_hint_nonfinite(opt, 2), ADAOPT_ERR_VALUE);
    assert_int_equal(adaopt_set_nonfinite_policy(opt, (adaopt_nonfinite_policy)7), ADAOPT_ERR_VALUE);
    /* the default propagates, as torch */
    adaopt_optimizer *plain = one_tensor(ADAOPT_ALGO_SGD, 4);
    float q[4] = {0};
    step_ok(plain, q, nan_grad);
    assert_true(isnan(q[1]) && q[0] != 0.0f);
    assert_int_equal(adaopt_get_nonfinite_policy(plain), ADAOPT_NONFINITE_PROPAGATE);
    free(before);
    free(after);
    adaopt_destroy(opt);
    adaopt_destroy(plain);
}

static void sparse_nonfinite_is_skipped(void **unused)
{
    (void)unused;
    adaopt_optimizer *opt = one_tensor(ADAOPT_ALGO_ADAGRAD, 12);
    assert_int_equal(adaopt_reserve_sparse(opt, 2, 4, 3), ADAOPT_OK);
    assert_int_equal(adaopt_set_nonfinite_policy(opt, ADAOPT_NONFINITE_SKIP), ADAOPT_OK);
    float p[12] = {0}, values[8] = {1, 1, 1, 1, 1, INFINITY, 1, 1};
    int64_t idx[2] = {0, 2};
    float *params[1] = {p};
    const float *none[1] = {NULL};
    adaopt_sparse_grad sg = {idx, 2, values, 4};
    assert_int_equal(adaopt_step_sparse(opt, params, none, &sg, 1), ADAOPT_OK);
    assert_int_equal(adaopt_last_step_skipped(opt), 1);
    for (int i = 0; i < 12; i++)
        assert_true(p[i] == 0.0f);
    adaopt_destroy(opt);
}

static void loss_scaler(void **unused)
{
    (void)unused;
    adaopt_grad_scaler s = adaopt_grad_scaler_defaults();
    assert_true(s.scale == 65536.0 && s.growth_interval == 2000);
    float a[3] = {65536.0f, -131072.0f, 0.0f}, b[2] = {1.0f, INFINITY};
    float *grads[2] = {a, b};
    size_t numels[2] = {3, 2};
    int found = -1;
    assert_int_equal(adaopt_unscale_grads(&s, grads, numels, 1, &found), ADAOPT_OK);
    assert_int_equal(found, 0);
    assert_true(a[0] == 1.0f && a[1] == -2.0f);
    assert_int_equal(adaopt_unscale_grads(&s, grads, numels, 2, &found), ADAOPT_OK);
    assert_int_equal(found, 1);
    assert_int_equal(adaopt_grad_scaler_update(&s, 1), ADAOPT_OK);
    assert_true(s.scale == 32768.0);
    s.growth_interval = 3;
    for (int k = 0; k < 3; k++)
        assert_int_equal(adaopt_grad_scaler_update(&s, 0), ADAOPT_OK);
    assert_true(s.scale == 65536.0 && s.growth_tracker == 0);
    assert_int_equal(adaopt_grad_scaler_update(&s, 3), ADAOPT_ERR_VALUE);
    assert_int_equal(adaopt_grad_scaler_update(NULL, 0), ADAOPT_ERR_NULL);
    assert_int_equal(adaopt_unscale_grads(&s, grads, numels, 2, NULL), ADAOPT_ERR_NULL);
    s.scale = -1;
    assert_int_equal(adaopt_unscale_grads(&s, grads, numels, 2, &found), ADAOPT_ERR_VALUE);
}

static void importing_state(void **unused)
{
    (void)unused;
    /* Adam state set by hand, then one step: equals the formula from that state. */
    adaopt_optimizer *opt = one_tensor(ADAOPT_ALGO_ADAM, 2);
    const float m[2] = {0.5f, -0.5f}, v[2] = {0.25f, 1.0f};
    assert_int_equal(adaopt_set_state(opt, 0, ADAOPT_STATE_EXP_AVG, m, 2), ADAOPT_OK);
    assert_int_equal(adaopt_set_state(opt, 0, ADAOPT_STATE_EXP_AVG_SQ, v, 2), ADAOPT_OK);
    assert_int_equal(adaopt_set_state_scalar(opt, 0, ADAOPT_STATE_STEP, 9), ADAOPT_OK);
    set_ok(opt, ADAOPT_EPS, 0.0);
    float p[2] = {0, 0}, g[2] = {0, 0};
    step_ok(opt, p, g);
    double m1 = 0.9 * 0.5, v1 = 0.999 * 0.25, bc1 = 1 - pow(0.9, 10), bc2 = 1 - pow(0.999, 10);
    assert_close(p[0], -1e-3 / bc1 * m1 / (sqrt(v1) / sqrt(bc2)), 1e-5);
    /* errors */
    assert_int_equal(adaopt_set_state(opt, 0, ADAOPT_STATE_SUM, m, 2), ADAOPT_ERR_OPTION);
    assert_int_equal(adaopt_set_state(opt, 0, ADAOPT_STATE_EXP_AVG, m, 3), ADAOPT_ERR_SIZE);
    assert_int_equal(adaopt_set_state(opt, 1, ADAOPT_STATE_EXP_AVG, m, 2), ADAOPT_ERR_INDEX);
    assert_int_equal(adaopt_set_state(opt, 0, ADAOPT_STATE_EXP_AVG, NULL, 2), ADAOPT_ERR_NULL);
    assert_int_equal(adaopt_set_state_scalar(opt, 0, ADAOPT_STATE_STEP, -1), ADAOPT_ERR_VALUE);
    assert_int_equal(adaopt_set_state_scalar(opt, 0, ADAOPT_STATE_STEP, 1.5), ADAOPT_ERR_VALUE);
    assert_int_equal(adaopt_set_state_scalar(opt, 0, ADAOPT_STATE_MU_PRODUCT, 0.5), ADAOPT_ERR_OPTION);
    assert_int_equal(adaopt_set_state(NULL, 0, ADAOPT_STATE_EXP_AVG, m, 2), ADAOPT_ERR_NULL);
    /* values a checkpoint load refuses: NaN or infinite state, a negative second moment */
    const float nan_m[2] = {0.5f, NAN}, inf_m[2] = {INFINITY, 0}, neg_v[2] = {0.25f, -1e-30f};
    assert_int_equal(adaopt_set_state(opt, 0, ADAOPT_STATE_EXP_AVG, nan_m, 2), ADAOPT_ERR_VALUE);
    assert_int_equal(adaopt_set_state(opt, 0, ADAOPT_STATE_EXP_AVG, inf_m, 2), ADAOPT_ERR_VALUE);
    assert_int_equal(adaopt_set_state(opt, 0, ADAOPT_STATE_EXP_AVG_SQ, neg_v, 2), ADAOPT_ERR_VALUE);
    assert_int_equal(adaopt_set_state(opt, 0, ADAOPT_STATE_EXP_AVG, neg_v, 2), ADAOPT_OK); /* m < 0 */
    /* the AMSGrad array is allocated on import */
    assert_int_equal(adaopt_set_state(opt, 0, ADAOPT_STATE_MAX_EXP_AVG_SQ, v, 2), ADAOPT_OK);
    const float *back;
    assert_int_equal(adaopt_state(opt, 0, ADAOPT_STATE_MAX_EXP_AVG_SQ, &back, NULL), ADAOPT_OK);
    assert_memory_equal(back, v, sizeof v);
    adaopt_destroy(opt);
}

/* Golden files: the checkpoints of format version 1 (adaopt 0.1, 0.2) and 3 (torch=1), one per
 * setup, made by 37 steps of `steps`, committed in tests/golden.  Every one must load forever,
 * losing nothing, into the state the same run gives today, within rounding (golden_matches).
 * ADAOPT_WRITE_GOLDEN=DIR writes the missing ones instead (when a format version is released). */
static void golden_files_load(void **unused)
{
    (void)unused;
    const char *write_dir = getenv("ADAOPT_WRITE_GOLDEN");
    /* version 1: every setup of 0.2 (Lion came later, in the same format); version 3: those of
     * the classic algorithms rounding as torch 1.13 (torch=1) */
    for (int version = 1; version <= 3; version += 2)
        for (size_t k = 0; k < 9; k++) {
            char path[512];
            snprintf(path, sizeof path, "%s/v%d-%zu-%s.ckpt",
                     write_dir ? write_dir : ADAOPT_GOLDEN_DIR, version, k,
                     adaopt_algorithm_name(SETUPS[k].algorithm));
            model ref, loaded;
            make(&ref, &SETUPS[k], 1);
            for (size_t g = 0; version == 3 && g < 2; g++)
                assert_int_equal(adaopt_set(ref.opt, g, ADAOPT_TORCH, ADAOPT_TORCH_1), ADAOPT_OK);
            steps(&ref, 0, 37);
            if (write_dir != NULL) { /* the missing ones only: a released file is never replaced */
                FILE *f = fopen(path, "rb");
                if (f != NULL)
                    fclose(f);
                else
                    assert_int_equal(adaopt_save_file(ref.opt, path), ADAOPT_OK);
                adaopt_destroy(ref.opt);
                continue;
            }
            make(&loaded, &SETUPS[k], 0);
            if (adaopt_load_file(loaded.opt, path) != ADAOPT_OK)
                fail_msg("%s: %s", path, adaopt_last_error(loaded.opt));
            golden_matches(loaded.opt, ref.opt, path, 1e-5);
            size_t n;
            unsigned char *bytes = snapshot(loaded.opt, &n);
            assert_int_equal(bytes[8], version); /* (and the writer still picks that version) */
            free(bytes);
            adaopt_destroy(ref.opt);
            adaopt_destroy(loaded.opt);
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exact_resume),
        cmocka_unit_test(golden_files_load),
        cmocka_unit_test(damaged_checkpoints_change_nothing),
        cmocka_unit_test(mismatches),
        cmocka_unit_test(crc32c),
        cmocka_unit_test(nonfinite_policies),
        cmocka_unit_test(sparse_nonfinite_is_skipped),
        cmocka_unit_test(loss_scaler),
        cmocka_unit_test(importing_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
