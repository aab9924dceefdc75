/*
 * test_kernels.c -- every kernel this machine can run gives the same bits as the portable
 * scalar reference (NaN payloads aside), and every thread count gives the same bits as one
 * thread: for every
 * algorithm and option combination, on lengths that are not multiples of a vector, on
 * unaligned memory, with NaN, infinities, signed zeros and subnormals among the values.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "helpers.h"

typedef struct {
    adaopt_algorithm algorithm;
    adaopt_option options[4];
    double values[4];
} combo;

static const combo COMBOS[] = {
    {ADAOPT_ALGO_SGD, {0}, {0}},
    {ADAOPT_ALGO_SGD, {ADAOPT_MOMENTUM, ADAOPT_DAMPENING, ADAOPT_WEIGHT_DECAY, ADAOPT_MAXIMIZE}, {0.9, 0.1, 0.01, 1}},
    {ADAOPT_ALGO_SGD, {ADAOPT_MOMENTUM, ADAOPT_NESTEROV}, {0.9, 1}},
    {ADAOPT_ALGO_ADAGRAD, {ADAOPT_LR_DECAY, ADAOPT_WEIGHT_DECAY, ADAOPT_INITIAL_ACCUMULATOR_VALUE}, {0.01, 0.1, 0.5}},
    {ADAOPT_ALGO_ADAGRAD, {ADAOPT_EPS_MODE, ADAOPT_MAXIMIZE}, {ADAOPT_EPS_INSIDE, 1}},
    {ADAOPT_ALGO_RMSPROP, {0}, {0}},
    {ADAOPT_ALGO_RMSPROP, {ADAOPT_CENTERED, ADAOPT_MOMENTUM, ADAOPT_WEIGHT_DECAY}, {1, 0.9, 0.1}},
    {ADAOPT_ALGO_RMSPROP, {ADAOPT_EPS_MODE, ADAOPT_CENTERED, ADAOPT_MAXIMIZE}, {ADAOPT_EPS_INSIDE, 1, 1}},
    {ADAOPT_ALGO_ADAM, {0}, {0}},
    {ADAOPT_ALGO_ADAM, {ADAOPT_AMSGRAD, ADAOPT_WEIGHT_DECAY, ADAOPT_MAXIMIZE}, {1, 0.1, 1}},
    {ADAOPT_ALGO_ADAM, {ADAOPT_EPS_MODE, ADAOPT_AMSGRAD}, {ADAOPT_EPS_INSIDE, 1}},
    {ADAOPT_ALGO_ADAM, {ADAOPT_EPS_MODE}, {ADAOPT_EPS_HAT}},
    {ADAOPT_ALGO_ADAMW, {ADAOPT_AMSGRAD}, {1}},
    {ADAOPT_ALGO_ADAMAX, {ADAOPT_WEIGHT_DECAY, ADAOPT_MAXIMIZE}, {0.1, 1}},
    {ADAOPT_ALGO_NADAM, {0}, {0}},
    {ADAOPT_ALGO_NADAM, {ADAOPT_DECOUPLED_WEIGHT_DECAY, ADAOPT_WEIGHT_DECAY, ADAOPT_EPS_MODE}, {1, 0.1, ADAOPT_EPS_HAT}},
    {ADAOPT_ALGO_NADAM, {ADAOPT_EPS_MODE, ADAOPT_WEIGHT_DECAY}, {ADAOPT_EPS_INSIDE, 0.1}},
    {ADAOPT_ALGO_RADAM, {0}, {0}},
    {ADAOPT_ALGO_RADAM, {ADAOPT_EPS_MODE, ADAOPT_DECOUPLED_WEIGHT_DECAY, ADAOPT_WEIGHT_DECAY}, {ADAOPT_EPS_OUTSIDE, 1, 0.1}},
    {ADAOPT_ALGO_RADAM, {ADAOPT_EPS_MODE, ADAOPT_MAXIMIZE}, {ADAOPT_EPS_INSIDE, 1}},
    {ADAOPT_ALGO_LION, {0}, {0}},
    {ADAOPT_ALGO_LION, {ADAOPT_WEIGHT_DECAY, ADAOPT_MAXIMIZE, ADAOPT_BETA1}, {0.1, 1, 0.8}},
    {ADAOPT_ALGO_ADAMW_SCHEDULE_FREE, {0}, {0}},
    {ADAOPT_ALGO_ADAMW_SCHEDULE_FREE, {ADAOPT_WEIGHT_DECAY, ADAOPT_MAXIMIZE, ADAOPT_WARMUP_STEPS, ADAOPT_R},
     {0.1, 1, 3, 0.5}},
    {ADAOPT_ALGO_LAMB, {ADAOPT_WEIGHT_DECAY}, {0.1}},
    {ADAOPT_ALGO_LAMB, {ADAOPT_WEIGHT_DECAY, ADAOPT_WEIGHT_DECOUPLE, ADAOPT_GRAD_AVERAGING, ADAOPT_MAXIMIZE},
     {0.1, 0, 0, 1}},
    {ADAOPT_ALGO_ADAFACTOR, {ADAOPT_WEIGHT_DECAY, ADAOPT_MAXIMIZE}, {0.1, 1}},
    {ADAOPT_ALGO_ADADELTA, {0}, {0}},
    {ADAOPT_ALGO_ADADELTA, {ADAOPT_WEIGHT_DECAY, ADAOPT_MAXIMIZE, ADAOPT_RHO}, {0.1, 1, 0.5}},
    {ADAOPT_ALGO_RPROP, {0}, {0}},
    {ADAOPT_ALGO_RPROP, {ADAOPT_MAXIMIZE, ADAOPT_ETA_MINUS, ADAOPT_STEP_SIZE_MAX}, {1, 0.3, 0.02}},
    {ADAOPT_ALGO_ASGD, {0}, {0}},
    {ADAOPT_ALGO_ASGD, {ADAOPT_WEIGHT_DECAY, ADAOPT_MAXIMIZE, ADAOPT_T0, ADAOPT_LAMBD}, {0.1, 1, 2, 0.01}},
};

enum { N_TENSORS = 40 };

static float special(uint64_t *s)
{
    static const float values[] = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 1e-40f, -1e-45f, 3e38f};
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    if (*s % 23 == 0)
        return values[(*s >> 8) % 8];
    return (float)((double)(*s >> 11) / 9007199254740992.0 * 4.0 - 2.0);
}

typedef struct {
    adaopt_optimizer *opt;
    float *data[N_TENSORS]; /* unaligned: base + 1 */
    float *base[N_TENSORS];
    size_t numel[N_TENSORS];
} run;

static void start(run *r, const combo *c, adaopt_isa isa, size_t threads, const size_t *numels)
{
    size_t group;
    assert_int_equal(adaopt_create(c->algorithm, &r->opt), ADAOPT_OK);
    assert_int_equal(adaopt_add_group(r->opt, numels, N_TENSORS, &group), ADAOPT_OK);
    for (int k = 0; k < 4 && c->options[k]; k++)
        assert_int_equal(adaopt_set(r->opt, 0, c->options[k], c->values[k]), ADAOPT_OK);
    assert_int_equal(adaopt_set_isa(r->opt, isa), ADAOPT_OK);
    assert_int_equal(adaopt_set_threads(r->opt, threads), ADAOPT_OK);
    uint64_t seed = 1234;
    for (int i = 0; i < N_TENSORS; i++) {
        r->numel[i] = numels[i];
        r->base[i] = malloc((numels[i] + 1) * sizeof(float));
        assert_non_null(r->base[i]);
        r->data[i] = r->base[i] + 1;
        for (size_t k = 0; k < numels[i]; k++)
            r->data[i][k] = special(&seed);
    }
}

static void advance(run *r, float **grads)
{
    assert_int_equal(adaopt_step(r->opt, r->data, (const float *const *)grads, N_TENSORS), ADAOPT_OK);
}

static void finish(run *r)
{
    for (int i = 0; i < N_TENSORS; i++)
        free(r->base[i]);
    adaopt_destroy(r->opt);
}

/* The same bits, where any NaN equals any NaN: IEEE 754 leaves open which operand's NaN an
 * operation returns, and compilers may swap the operands of a commutative one.  Signed zeros,
 * infinities and subnormals must match exactly. */
static int same_floats(const float *x, const float *y, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        if (x[k] != x[k] && y[k] != y[k])
            continue;
        if (memcmp(&x[k], &y[k], sizeof(float)) != 0)
            return 0;
    }
    return 1;
}

static void same_bits(run *a, run *b, const char *what)
{
    static const adaopt_state_kind kinds[] = {
        ADAOPT_STATE_MOMENTUM_BUFFER, ADAOPT_STATE_SUM, ADAOPT_STATE_SQUARE_AVG,
        ADAOPT_STATE_GRAD_AVG, ADAOPT_STATE_EXP_AVG, ADAOPT_STATE_EXP_AVG_SQ,
        ADAOPT_STATE_MAX_EXP_AVG_SQ, ADAOPT_STATE_EXP_INF, ADAOPT_STATE_Z,
        ADAOPT_STATE_VARIANCE};
    for (int i = 0; i < N_TENSORS; i++) {
        if (!same_floats(a->data[i], b->data[i], a->numel[i]))
            fail_msg("%s (%s): parameters of tensor %d (%zu elements) differ", what,
                     adaopt_algorithm_name(adaopt_get_algorithm(a->opt)), i, a->numel[i]);
        for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
            const float *x, *y;
            size_t n;
            if (adaopt_state(a->opt, (size_t)i, kinds[k], &x, &n) != ADAOPT_OK)
                continue;
            assert_int_equal(adaopt_state(b->opt, (size_t)i, kinds[k], &y, NULL), ADAOPT_OK);
            if (!same_floats(x, y, n))
                fail_msg("%s: state %s of tensor %d differs", what, adaopt_state_name(kinds[k]), i);
        }
    }
}

/* Runs `steps` steps of two configurations side by side on the same gradients. */
static void compare(const combo *c, adaopt_isa isa_a, size_t threads_a, adaopt_isa isa_b,
                    size_t threads_b, const size_t *numels, int steps, const char *what)
{
    run a, b;
    start(&a, c, isa_a, threads_a, numels);
    start(&b, c, isa_b, threads_b, numels);
    float *grads[N_TENSORS];
    uint64_t seed = 99;
    for (int i = 0; i < N_TENSORS; i++)
        grads[i] = malloc((numels[i] + 1) * sizeof(float));
    for (int t = 0; t < steps; t++) {
        float *g[N_TENSORS];
        for (int i = 0; i < N_TENSORS; i++) {
            for (size_t k = 0; k <= numels[i]; k++)
                grads[i][k] = special(&seed);
            g[i] = (t % 3 == 1 && i % 5 == 2) ? NULL : grads[i] + 1; /* skipped, unaligned */
        }
        advance(&a, g);
        advance(&b, g);
    }
    same_bits(&a, &b, what);
    for (int i = 0; i < N_TENSORS; i++)
        free(grads[i]);
    finish(&a);
    finish(&b);
}

static void every_isa_matches_scalar(void **unused)
{
    (void)unused;
    size_t numels[N_TENSORS];
    for (int i = 0; i < N_TENSORS; i++)
        numels[i] = (size_t)i; /* 0..39: every remainder of 4, 8 and 16 lanes */
    const adaopt_isa isas[] = {ADAOPT_ISA_AVX2, ADAOPT_ISA_AVX512, ADAOPT_ISA_NEON};
    int tested = 0;
    for (size_t k = 0; k < sizeof isas / sizeof isas[0]; k++) {
        if (!adaopt_isa_supported(isas[k]))
            continue;
        tested++;
        for (size_t c = 0; c < sizeof COMBOS / sizeof COMBOS[0]; c++)
            compare(&COMBOS[c], ADAOPT_ISA_SCALAR, 1, isas[k], 1, numels, 12,
                    adaopt_isa_name(isas[k]));
    }
    print_message("vector kernels compared with scalar on this machine: %d\n", tested);
}

static void threads_give_the_same_bits(void **unused)
{
    (void)unused;
    size_t numels[N_TENSORS];
    for (int i = 0; i < N_TENSORS; i++) /* some tensors span several 64K chunks */
        numels[i] = (i % 8 == 0) ? 3 * 65536 + 17 : (size_t)(i * 37);
    for (size_t c = 0; c < sizeof COMBOS / sizeof COMBOS[0]; c += 3) {
        compare(&COMBOS[c], ADAOPT_ISA_AUTO, 1, ADAOPT_ISA_AUTO, 2, numels, 3, "2 threads");
        compare(&COMBOS[c], ADAOPT_ISA_AUTO, 1, ADAOPT_ISA_AUTO, 3, numels, 2, "3 threads");
    }
}

/* One step's gradients twice, for an optimizer without overwrite_grads (ga) and one with it
 * (gb): the same values, each array with one float before the gradient (so unaligned, and a
 * guard the step must not touch); on odd steps every fifth tensor has none. */
typedef struct {
    float *ga[N_TENSORS], *gb[N_TENSORS], *pa[N_TENSORS], *pb[N_TENSORS];
} twin_grads;

static void make_twins(twin_grads *tw, const size_t *numels, int step, uint64_t *seed,
                       float (*value)(uint64_t *, size_t))
{
    for (int i = 0; i < N_TENSORS; i++) {
        tw->ga[i] = malloc((numels[i] + 1) * sizeof(float));
        tw->gb[i] = malloc((numels[i] + 1) * sizeof(float));
        assert_true(tw->ga[i] != NULL && tw->gb[i] != NULL);
        for (size_t e = 0; e <= numels[i]; e++)
            tw->ga[i][e] = tw->gb[i][e] = value(seed, e);
        int skip = step % 2 == 1 && i % 5 == 2;
        tw->pa[i] = skip ? NULL : tw->ga[i] + 1;
        tw->pb[i] = skip ? NULL : tw->gb[i] + 1;
    }
}

static void free_twins(twin_grads *tw)
{
    for (int i = 0; i < N_TENSORS; i++) {
        assert_true(same_floats(tw->ga[i], tw->gb[i], 1)); /* the guard */
        free(tw->ga[i]);
        free(tw->gb[i]);
    }
}

static float any_value(uint64_t *seed, size_t e)
{
    (void)e;
    return special(seed);
}

/* 0.25 .. 1 (no NaN, so Adafactor's u differs from g somewhere in every tensor) */
static float plain_value(uint64_t *seed, size_t e)
{
    return 0.25f + (float)(special(seed) != 0.0f) * (float)(e % 7) * 0.125f;
}

/* adaopt_set_overwrite_grads: the step stores u over each float32 gradient and its second pass
 * reads it back.  Against the same optimizer without it, on every ISA and 1 or 2 threads, over
 * tensors from 0 elements to several 64K chunks with NaN, infinities and subnormals: parameters
 * and state keep their bits, skipped gradients are not touched, and every written gradient holds
 * u = m / (sqrt(v) + eps) as computed here from the state after the step (no coupled decay:
 * u has no p term then; with it, the parameters' bits are the check). */
static void lamb_overwrite_grads_same_bits(void **unused)
{
    (void)unused;
    size_t numels[N_TENSORS];
    for (int i = 0; i < N_TENSORS; i++)
        numels[i] = i < 36 ? (size_t)i : (i == 36 ? 3 * 65536 + 17 : (size_t)(257 * i + 3));
    const adaopt_isa isas[] = {ADAOPT_ISA_SCALAR, ADAOPT_ISA_AVX2, ADAOPT_ISA_AVX512,
                               ADAOPT_ISA_NEON};
    for (size_t c = 0; c < sizeof COMBOS / sizeof COMBOS[0]; c++) {
        if (COMBOS[c].algorithm != ADAOPT_ALGO_LAMB)
            continue;
        int coupled = COMBOS[c].options[1] == ADAOPT_WEIGHT_DECOUPLE;
        for (size_t k = 0; k < sizeof isas / sizeof isas[0]; k++) {
            if (!adaopt_isa_supported(isas[k]))
                continue;
            for (size_t threads = 1; threads <= 2; threads++) {
                run a, b;
                start(&a, &COMBOS[c], ADAOPT_ISA_SCALAR, 1, numels);
                start(&b, &COMBOS[c], isas[k], threads, numels);
                assert_int_equal(adaopt_get_overwrite_grads(b.opt), 0);
                assert_int_equal(adaopt_set_overwrite_grads(b.opt, 1), ADAOPT_OK);
                assert_int_equal(adaopt_get_overwrite_grads(b.opt), 1);
                uint64_t seed = 7;
                for (int t = 0; t < 4; t++) {
                    twin_grads tw;
                    make_twins(&tw, numels, t, &seed, any_value);
                    advance(&a, tw.pa);
                    advance(&b, tw.pb);
                    for (int i = 0; i < N_TENSORS; i++) {
                        const float *m, *v, *gb = tw.gb[i] + 1;
                        if (tw.pa[i] == NULL) { /* skipped: still the gradient */
                            assert_memory_equal(tw.ga[i], tw.gb[i],
                                                (numels[i] + 1) * sizeof(float));
                            continue;
                        }
                        if (coupled || numels[i] == 0)
                            continue;
                        assert_int_equal(adaopt_state(a.opt, (size_t)i, ADAOPT_STATE_EXP_AVG, &m,
                                                      NULL), ADAOPT_OK);
                        assert_int_equal(adaopt_state(a.opt, (size_t)i, ADAOPT_STATE_EXP_AVG_SQ,
                                                      &v, NULL), ADAOPT_OK);
                        for (size_t e = 0; e < numels[i]; e++) {
                            float u = (1.0f / (sqrtf(v[e]) + 1e-6f)) * m[e];
                            if (!same_floats(&u, &gb[e], 1))
                                fail_msg("%s, %zu threads: tensor %d element %zu holds %a, not "
                                         "u = %a", adaopt_isa_name(isas[k]), threads, i, e,
                                         (double)gb[e], (double)u);
                        }
                    }
                    free_twins(&tw);
                }
                same_bits(&a, &b, "overwrite_grads");
                finish(&a);
                finish(&b);
            }
        }
    }
}

/* Adafactor with overwrite_grads (pass 2 stores u over g, pass 3 reads it back): against the
 * same optimizer without it, on every ISA and 1 or 2 threads -- matrices cut into segments and
 * small ones grouped into units, a batch of matrices, vectors of one to several chunks -- the
 * parameters and the state keep their bits, and every gradient given was written, except
 * empty ones; skipped ones are untouched. */
static void adafactor_overwrite_grads_same_bits(void **unused)
{
    (void)unused;
    size_t numels[N_TENSORS];
    for (int i = 0; i < N_TENSORS; i++)
        numels[i] = (size_t)i;
    numels[36] = 512 * 300;         /* a matrix of two segments */
    numels[37] = 3 * 65536 + 17;    /* a vector of four chunks */
    numels[38] = 64 * 1100;         /* a matrix of one segment */
    numels[39] = 3 * 5 * 7;         /* three 5 x 7 matrices */
    const adaopt_isa isas[] = {ADAOPT_ISA_SCALAR, ADAOPT_ISA_AVX2, ADAOPT_ISA_AVX512,
                               ADAOPT_ISA_NEON};
    const combo plain = {ADAOPT_ALGO_ADAFACTOR, {0}, {0}};
    const combo *cases[] = {&plain, NULL};
    for (size_t c = 0; c < sizeof COMBOS / sizeof COMBOS[0]; c++)
        if (COMBOS[c].algorithm == ADAOPT_ALGO_ADAFACTOR)
            cases[1] = &COMBOS[c];
    assert_non_null(cases[1]);
    for (size_t ci = 0; ci < 2; ci++)
        for (size_t k = 0; k < sizeof isas / sizeof isas[0]; k++) {
            if (!adaopt_isa_supported(isas[k]))
                continue;
            for (size_t threads = 1; threads <= 2; threads++) {
                run a, b;
                start(&a, cases[ci], ADAOPT_ISA_SCALAR, 1, numels);
                start(&b, cases[ci], isas[k], threads, numels);
                for (run *r = &a; r != NULL; r = r == &a ? &b : NULL) {
                    const size_t seg[2] = {512, 300}, one[2] = {64, 1100}, three[3] = {3, 5, 7};
                    assert_int_equal(adaopt_set_shape(r->opt, 36, seg, 2), ADAOPT_OK);
                    assert_int_equal(adaopt_set_shape(r->opt, 38, one, 2), ADAOPT_OK);
                    assert_int_equal(adaopt_set_shape(r->opt, 39, three, 3), ADAOPT_OK);
                    for (size_t i = 4; i < 36; i += 4) {
                        const size_t dims[2] = {2, i / 2};
                        assert_int_equal(adaopt_set_shape(r->opt, i, dims, 2), ADAOPT_OK);
                    }
                }
                assert_int_equal(adaopt_set_overwrite_grads(b.opt, 1), ADAOPT_OK);
                uint64_t seed = 11;
                for (int t = 0; t < 3; t++) {
                    twin_grads tw;
                    make_twins(&tw, numels, t, &seed, plain_value);
                    advance(&a, tw.pa);
                    advance(&b, tw.pb);
                    for (int i = 0; i < N_TENSORS; i++) {
                        int same = memcmp(tw.ga[i], tw.gb[i], (numels[i] + 1) * sizeof(float)) == 0;
                        if (same != (tw.pa[i] == NULL || numels[i] == 0))
                            fail_msg("%s, %zu threads, step %d: tensor %d's gradient %s",
                                     adaopt_isa_name(isas[k]), threads, t, i,
                                     same ? "was not written" : "was written, but skipped");
                    }
                    free_twins(&tw);
                }
                same_bits(&a, &b, "adafactor overwrite_grads");
                finish(&a);
                finish(&b);
            }
        }
}

/* What overwrite_grads refuses: other algorithms, values other than 0/1, and, at the step,
 * gradients that overlap each other or a parameter -- before anything is written.  Gradients
 * that only touch (one buffer, adaopt_step_flat) and overlapping ones without the setting are
 * fine.  Groups that step through float32 copies (bf16 state here) keep their gradients. */
static void lamb_overwrite_grads_refusals(void **unused)
{
    (void)unused;
    adaopt_optimizer *adam = one_tensor(ADAOPT_ALGO_ADAM, 4);
    assert_int_equal(adaopt_set_overwrite_grads(adam, 1), ADAOPT_ERR_OPTION);
    assert_int_equal(adaopt_get_overwrite_grads(adam), 0);
    assert_int_equal(adaopt_set_overwrite_grads(NULL, 1), ADAOPT_ERR_NULL);
    adaopt_destroy(adam);

    adaopt_optimizer *opt;
    size_t numels[3] = {4, 4, 4}, group;
    assert_int_equal(adaopt_create(ADAOPT_ALGO_LAMB, &opt), ADAOPT_OK);
    assert_int_equal(adaopt_add_group(opt, numels, 3, &group), ADAOPT_OK);
    assert_int_equal(adaopt_set_overwrite_grads(opt, 2), ADAOPT_ERR_VALUE);
    assert_int_equal(adaopt_set_overwrite_grads(opt, 1), ADAOPT_OK);
    float buf[16], p[12];
    for (int i = 0; i < 16; i++)
        buf[i] = 0.25f * (float)(i + 1);
    for (int i = 0; i < 12; i++)
        p[i] = 1.0f;
    float *params[3] = {p, p + 4, p + 8};
    const struct { int g0, g1, g2; const char *what; } BAD[] = {
        {0, 2, 8, "gradients 0 and 1 overlap"},
        {8, 0, 0, "gradients 1 and 2 are one array"},
        {0, 4, 6, "gradients 1 and 2 overlap"},
    };
    for (size_t k = 0; k < sizeof BAD / sizeof BAD[0]; k++) {
        const float *grads[3] = {buf + BAD[k].g0, buf + BAD[k].g1, buf + BAD[k].g2};
        if (adaopt_step(opt, params, grads, 3) != ADAOPT_ERR_CONFLICT)
            fail_msg("not refused: %s", BAD[k].what);
    }
    const float *onto_p[3] = {buf, p + 2, buf + 8}; /* a gradient over parameters 0 and 1 */
    assert_int_equal(adaopt_step(opt, params, onto_p, 3), ADAOPT_ERR_CONFLICT);
    assert_non_null(strstr(adaopt_last_error(opt), "overwrite_grads"));
    for (int i = 0; i < 16; i++) /* nothing written */
        assert_true(buf[i] == 0.25f * (float)(i + 1));
    for (int i = 0; i < 12; i++)
        assert_true(p[i] == 1.0f);
    assert_true(adaopt_steps_taken(opt) == 0);
    const float *skip_one[3] = {buf, NULL, buf}; /* tensor 1 skipped, 0 and 2 share */
    assert_int_equal(adaopt_step(opt, params, skip_one, 3), ADAOPT_ERR_CONFLICT);
    const float *apart[3] = {buf + 8, NULL, buf + 4}; /* touching and skipped: fine */
    assert_int_equal(adaopt_step(opt, params, apart, 3), ADAOPT_OK);
    assert_true(buf[4] != 1.25f && buf[8] != 2.25f && buf[0] == 0.25f); /* u written */
    assert_int_equal(adaopt_set_overwrite_grads(opt, 0), ADAOPT_OK);
    const float *shared[3] = {buf, buf, buf}; /* read only again: sharing is allowed */
    assert_int_equal(adaopt_step(opt, params, shared, 3), ADAOPT_OK);
    adaopt_destroy(opt);

    opt = one_tensor(ADAOPT_ALGO_LAMB, 4);
    assert_int_equal(adaopt_set(opt, 0, ADAOPT_STATE_STORAGE, ADAOPT_STORAGE_BF16), ADAOPT_OK);
    assert_int_equal(adaopt_set_overwrite_grads(opt, 1), ADAOPT_OK);
    float q[4] = {1, 2, 3, 4}, g[4] = {0.5f, -1, 2, 0};
    step_ok(opt, q, g);
    assert_true(g[0] == 0.5f && g[1] == -1.0f && g[2] == 2.0f && g[3] == 0.0f);
    assert_true(q[0] != 1.0f);
    adaopt_destroy(opt);
}

static void isa_and_thread_controls(void **unused)
{
    (void)unused;
    adaopt_optimizer *opt = one_tensor(ADAOPT_ALGO_ADAM, 4);
    assert_int_not_equal(adaopt_get_isa(opt), ADAOPT_ISA_AUTO);
    assert_true(adaopt_isa_supported(ADAOPT_ISA_SCALAR));
    assert_int_equal(adaopt_set_isa(opt, ADAOPT_ISA_SCALAR), ADAOPT_OK);
    assert_int_equal(adaopt_get_isa(opt), ADAOPT_ISA_SCALAR);
    assert_int_equal(adaopt_set_isa(opt, (adaopt_isa)17), ADAOPT_ERR_VALUE);
    assert_int_equal(adaopt_get_isa(opt), ADAOPT_ISA_SCALAR);
    assert_null(adaopt_isa_name((adaopt_isa)17));
    assert_string_equal(adaopt_isa_name(ADAOPT_ISA_AVX2), "avx2");
    if (!adaopt_isa_supported(ADAOPT_ISA_NEON))
        assert_int_equal(adaopt_set_isa(opt, ADAOPT_ISA_NEON), ADAOPT_ERR_VALUE);
    assert_int_equal(adaopt_set_threads(opt, 1), ADAOPT_OK);
    assert_int_equal(adaopt_get_threads(opt), 1);
    assert_int_equal(adaopt_set_threads(opt, 0), ADAOPT_OK);
    assert_true(adaopt_get_threads(opt) >= 1);
    assert_int_equal(adaopt_set_threads(opt, 100000), ADAOPT_ERR_VALUE);
    assert_int_equal(adaopt_set_threads(NULL, 1), ADAOPT_ERR_NULL);
    assert_int_equal(adaopt_set_isa(NULL, ADAOPT_ISA_AUTO), ADAOPT_ERR_NULL);
    adaopt_destroy(opt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_isa_matches_scalar),
        cmocka_unit_test(threads_give_the_same_bits),
        cmocka_unit_test(isa_and_thread_controls),
        cmocka_unit_test(lamb_overwrite_grads_same_bits),
        cmocka_unit_test(lamb_overwrite_grads_refusals),
        cmocka_unit_test(adafactor_overwrite_grads_same_bits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
