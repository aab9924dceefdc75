/*
 * test_lowp.c -- bf16/fp16 parameters and gradients, master weights, stochastic rounding, bf16
 * and 8-bit state (issue 13), for every algorithm, against a reference built from the float32
 * optimizer: the same recipe stepped on float32 arrays, with the rounding of each mode applied
 * by the test between steps from the formats' own definitions (precision.h's conversions,
 * bitsandbytes' binary search for the 8-bit codes, the absmax and sign fix written out here).
 * Every comparison is bit for bit.  Also: threads and ISAs give the same bits, checkpoints
 * (format version 2) resume exactly, and the errors.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../src/precision.h"
#include "helpers.h"

enum { N0 = 300, N1 = 70000, NT = N0 + N1, STEPS = 6 }; /* a tail block; several chunks */
static const size_t NUMELS[2] = {N0, N1};

typedef struct {
    adaopt_algorithm algorithm;
    const char *options;
} recipe;

static const recipe RECIPES[] = {
    {ADAOPT_ALGO_SGD, "lr=0.01, momentum=0.9, nesterov=1"},
    {ADAOPT_ALGO_ADAGRAD, "lr=0.01, lr_decay=0.01, initial_accumulator_value=0.3"},
    {ADAOPT_ALGO_RMSPROP, "lr=0.001, centered=1, momentum=0.5"},
    {ADAOPT_ALGO_ADAM, "amsgrad=1, weight_decay=0.1"},
    {ADAOPT_ALGO_ADAMW, "lr=0.01, betas=0.8,0.95"},
    {ADAOPT_ALGO_ADAMAX, "lr=0.01"},
    {ADAOPT_ALGO_NADAM, "momentum_decay=0.01, decoupled_weight_decay=1, weight_decay=0.1"},
    {ADAOPT_ALGO_RADAM, "eps_mode=inside"},
    {ADAOPT_ALGO_LION, "lr=0.001, weight_decay=0.1"},
    {ADAOPT_ALGO_ADAMW_SCHEDULE_FREE, "lr=0.01, weight_decay=0.1, warmup_steps=2"},
    {ADAOPT_ALGO_LAMB, "lr=0.01, weight_decay=0.1"},
    {ADAOPT_ALGO_ADAFACTOR, "lr=0.01, weight_decay=0.1, d=2"},
    {ADAOPT_ALGO_ADADELTA, "weight_decay=0.1"},
    {ADAOPT_ALGO_RPROP, "lr=0.001, etas=0.4,1.3"},
    {ADAOPT_ALGO_ASGD, "lr=0.01, t0=3, weight_decay=0.1"},
};
enum { N_RECIPES = sizeof RECIPES / sizeof RECIPES[0] };

typedef struct {
    adaopt_dtype pd, gd;
    int update;  /* adaopt_param_update */
    int storage; /* adaopt_state_storage */
    int min_8bit;
} mode;

static uint32_t hash(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    return x ^ (x >> 16);
}

static float value_at(uint32_t seed, size_t i, float scale)
{
    return ((float)(hash(seed * 2654435761u + (uint32_t)i) >> 8) / 16777216.0f - 0.5f) * scale;
}

static uint16_t narrow_rne(adaopt_dtype d, float x)
{
    return d == ADAOPT_DTYPE_BF16 ? adaopt__f32_to_bf16(x) : adaopt__f32_to_f16(x);
}

static uint16_t narrow_sr(adaopt_dtype d, float x, uint32_t noise)
{
    return d == ADAOPT_DTYPE_BF16 ? adaopt__f32_to_bf16_sr(x, noise) : adaopt__f32_to_f16_sr(x, noise);
}

static float widen(adaopt_dtype d, uint16_t h)
{
    return d == ADAOPT_DTYPE_BF16 ? adaopt__bf16_to_f32(h) : adaopt__f16_to_f32(h);
}

static int slot_signed(adaopt_state_kind kind)
{
    return kind == ADAOPT_STATE_EXP_AVG || kind == ADAOPT_STATE_MOMENTUM_BUFFER ||
           kind == ADAOPT_STATE_GRAD_AVG || kind == ADAOPT_STATE_PREV || kind == ADAOPT_STATE_AX;
}

/* bitsandbytes' blockwise encode and decode, written out: absmax of the block (fmaxf), code of
 * x / absmax by the binary search, the sign fix for signed maps; decode map[code] * absmax. */
static void roundtrip_8bit(float *x, size_t n, int is_signed)
{
    const float *map = is_signed ? ADAOPT__QMAP_SIGNED : ADAOPT__QMAP_UNSIGNED;
    for (size_t b = 0; b < n; b += 256) {
        size_t len = n - b < 256 ? n - b : 256;
        float absmax = 0.0f;
        for (size_t j = 0; j < len; j++)
            absmax = fmaxf(absmax, fabsf(x[b + j]));
        for (size_t j = 0; j < len; j++) {
            uint8_t c = adaopt__quantize_reference(map, is_signed, x[b + j] / absmax);
            if (is_signed && signbit(map[c]) != signbit(x[b + j]))
                c = (uint8_t)(x[b + j] > 0.0f ? c + 1 : c - 1);
            x[b + j] = map[c] * absmax;
        }
    }
}

typedef struct run {
    adaopt_optimizer *opt;
    uint16_t *p16;  /* the typed run's parameters (bf16/fp16) */
    float *p32;     /* or float32 */
} run;

static adaopt_optimizer *make_typed_sized(const recipe *r, const mode *m, size_t threads,
                                          adaopt_isa isa, const size_t *numels)
{
    adaopt_optimizer *opt;
    size_t group;
    assert_int_equal(adaopt_create(r->algorithm, &opt), ADAOPT_OK);
    assert_int_equal(adaopt_add_group_typed(opt, numels, 2, m->pd, m->gd, &group), ADAOPT_OK);
    if (adaopt_set_options(opt, 0, r->options) != ADAOPT_OK)
        fail_msg("%s", adaopt_last_error(opt));
    if (m->pd != ADAOPT_DTYPE_F32)
        assert_int_equal(adaopt_set(opt, 0, ADAOPT_PARAM_UPDATE, m->update), ADAOPT_OK);
    assert_int_equal(adaopt_set(opt, 0, ADAOPT_MIN_8BIT_NUMEL, m->min_8bit), ADAOPT_OK);
    if (adaopt_set(opt, 0, ADAOPT_STATE_STORAGE, m->storage) != ADAOPT_OK)
        fail_msg("%s", adaopt_last_error(opt));
    assert_int_equal(adaopt_set_rounding_seed(opt, 77), ADAOPT_OK);
    assert_int_equal(adaopt_set_threads(opt, threads), ADAOPT_OK);
    assert_int_equal(adaopt_set_isa(opt, isa), ADAOPT_OK);
    return opt;
}

static adaopt_optimizer *make_typed(const recipe *r, const mode *m, size_t threads, adaopt_isa isa)
{
    return make_typed_sized(r, m, threads, isa, NUMELS);
}

static adaopt_optimizer *make_reference(const recipe *r)
{
    adaopt_optimizer *opt;
    size_t group;
    assert_int_equal(adaopt_create(r->algorithm, &opt), ADAOPT_OK);
    assert_int_equal(adaopt_add_group(opt, NUMELS, 2, &group), ADAOPT_OK);
    assert_int_equal(adaopt_set_options(opt, 0, r->options), ADAOPT_OK);
    assert_int_equal(adaopt_set_threads(opt, 1), ADAOPT_OK);
    return opt;
}

/* The gradient of step s as float32 and in the group's gradient type. */
static void gradients(const mode *m, int s, float *g32, uint16_t *g16)
{
    for (size_t i = 0; i < NT; i++) {
        float v = value_at(1000u + (uint32_t)s, i, 2.0f);
        if (m->gd != ADAOPT_DTYPE_F32) {
            g16[i] = narrow_rne(m->gd, v);
            v = widen(m->gd, g16[i]);
        }
        g32[i] = v;
    }
}

static void step_typed(adaopt_optimizer *opt, const mode *m, run *x, const float *g32,
                       const uint16_t *g16)
{
    void *params[2];
    const void *grads[2];
    for (int k = 0; k < 2; k++) {
        size_t at = k == 0 ? 0 : N0;
        params[k] = m->pd == ADAOPT_DTYPE_F32 ? (void *)(x->p32 + at) : (void *)(x->p16 + at);
        grads[k] = m->gd == ADAOPT_DTYPE_F32 ? (const void *)(g32 + at) : (const void *)(g16 + at);
    }
    if (adaopt_step_typed(opt, params, grads, 2) != ADAOPT_OK)
        fail_msg("step_typed: %s", adaopt_last_error(opt));
}

/* Runs the typed optimizer and the reference side by side for STEPS steps, comparing bits after
 * every step.  Returns the typed run's optimizer (caller destroys) and its parameters. */
static void compare_with_reference(const recipe *r, const mode *m, const char *what)
{
    adaopt_optimizer *typed = make_typed(r, m, 1, ADAOPT_ISA_AUTO), *ref = make_reference(r);
    run x = {typed, calloc(NT, 2), calloc(NT, 4)};
    float *rp = calloc(NT, 4), *g32 = calloc(NT, 4), *scratch = calloc(NT, 4);
    uint16_t *g16 = calloc(NT, 2);
    assert_true(x.p16 && x.p32 && rp && g32 && g16 && scratch);
    for (size_t i = 0; i < NT; i++) { /* parameters that the 16-bit type holds exactly */
        float v = value_at(7, i, 4.0f);
        if (m->pd != ADAOPT_DTYPE_F32) {
            x.p16[i] = narrow_rne(m->pd, v);
            v = widen(m->pd, x.p16[i]);
        }
        x.p32[i] = v;
        rp[i] = v;
    }
    int master = m->pd != ADAOPT_DTYPE_F32 &&
                 (m->update == ADAOPT_UPDATE_MASTER || m->update == ADAOPT_UPDATE_MASTER_SR);
    int stochastic = m->update == ADAOPT_UPDATE_MASTER_SR || m->update == ADAOPT_UPDATE_SR;
    /* AdaGrad's accumulator and Rprop's step sizes are born in their storage (0.3: the
     * recipe's initial_accumulator_value; 0.001: Rprop's lr) */
    int born = r->algorithm == ADAOPT_ALGO_ADAGRAD || r->algorithm == ADAOPT_ALGO_RPROP;
    adaopt_state_kind born_kind = r->algorithm == ADAOPT_ALGO_RPROP ? ADAOPT_STATE_STEP_SIZE
                                                                    : ADAOPT_STATE_SUM;
    float born_value = r->algorithm == ADAOPT_ALGO_RPROP ? 0.001f : 0.3f;
    if (born)
        for (size_t k = 0; k < 2; k++) {
            for (size_t j = 0; j < NUMELS[k]; j++)
                scratch[j] = born_value;
            if (m->storage == ADAOPT_STORAGE_BF16)
                for (size_t j = 0; j < NUMELS[k]; j++)
                    scratch[j] = adaopt__bf16_to_f32(adaopt__f32_to_bf16(scratch[j]));
            else if (m->storage == ADAOPT_STORAGE_8BIT && (int)NUMELS[k] >= m->min_8bit)
                roundtrip_8bit(scratch, NUMELS[k], 0);
            assert_int_equal(adaopt_set_state(ref, k, born_kind, scratch, NUMELS[k]), ADAOPT_OK);
        }
    for (int s = 0; s < STEPS; s++) {
        gradients(m, s, g32, g16);
        step_typed(typed, m, &x, g32, g16);
        /* the reference: float32 step, then the mode's roundings */
        float *rparams[2] = {rp, rp + N0};
        const float *rgrads[2] = {g32, g32 + N0};
        assert_int_equal(adaopt_step(ref, rparams, rgrads, 2), ADAOPT_OK);
        for (int k = 0; k < 2; k++) {
            size_t at = k == 0 ? 0 : N0, n = NUMELS[k];
            int stored8 = m->storage == ADAOPT_STORAGE_8BIT && (int)n >= m->min_8bit;
            static const adaopt_state_kind ARRAYS[] = {
                ADAOPT_STATE_MOMENTUM_BUFFER, ADAOPT_STATE_SUM, ADAOPT_STATE_SQUARE_AVG,
                ADAOPT_STATE_GRAD_AVG, ADAOPT_STATE_EXP_AVG, ADAOPT_STATE_EXP_AVG_SQ,
                ADAOPT_STATE_MAX_EXP_AVG_SQ, ADAOPT_STATE_EXP_INF,
                ADAOPT_STATE_VARIANCE /* (Adafactor's vectors) */, ADAOPT_STATE_ACC_DELTA,
                ADAOPT_STATE_PREV, ADAOPT_STATE_STEP_SIZE, ADAOPT_STATE_AX};
            for (size_t ki = 0; ki < sizeof ARRAYS / sizeof ARRAYS[0]; ki++) {
                const adaopt_state_kind kind = ARRAYS[ki];
                const float *v;
                if (adaopt_state(ref, (size_t)k, (adaopt_state_kind)kind, &v, NULL) != ADAOPT_OK)
                    continue;
                memcpy(scratch, v, n * 4);
                if (m->storage == ADAOPT_STORAGE_BF16)
                    for (size_t j = 0; j < n; j++)
                        scratch[j] = adaopt__bf16_to_f32(adaopt__f32_to_bf16(scratch[j]));
                else if (stored8)
                    roundtrip_8bit(scratch, n, slot_signed((adaopt_state_kind)kind));
                assert_int_equal(adaopt_set_state(ref, (size_t)k, (adaopt_state_kind)kind,
                                                  scratch, n), ADAOPT_OK);
                const float *got;
                if (adaopt_state(typed, (size_t)k, (adaopt_state_kind)kind, &got, NULL) != ADAOPT_OK)
                    fail_msg("%s: %s: no %s", what, adaopt_algorithm_name(r->algorithm),
                             adaopt_state_name((adaopt_state_kind)kind));
                if (memcmp(got, scratch, n * 4) != 0)
                    fail_msg("%s: %s step %d: tensor %d's %s differs from the reference", what,
                             adaopt_algorithm_name(r->algorithm), s, k,
                             adaopt_state_name((adaopt_state_kind)kind));
            }
            if (m->pd == ADAOPT_DTYPE_F32) {
                if (memcmp(x.p32 + at, rp + at, n * 4) != 0)
                    fail_msg("%s: %s step %d: float32 parameters differ", what,
                             adaopt_algorithm_name(r->algorithm), s);
                continue;
            }
            uint32_t seed = adaopt__noise_seed(77, (uint64_t)k, (uint64_t)s + 1);
            for (size_t j = 0; j < n; j++) {
                float v = rp[at + j];
                uint16_t want = stochastic ? narrow_sr(m->pd, v, adaopt__noise(seed, j))
                                           : narrow_rne(m->pd, v);
                if (x.p16[at + j] != want)
                    fail_msg("%s: %s step %d: tensor %d element %zu is %04x, the reference %04x",
                             what, adaopt_algorithm_name(r->algorithm), s, k, j, x.p16[at + j],
                             want);
                if (!master) /* no master: the next step starts from the rounded value */
                    rp[at + j] = widen(m->pd, want);
            }
            if (master) {
                const float *mw;
                assert_int_equal(adaopt_state(typed, (size_t)k, ADAOPT_STATE_MASTER, &mw, NULL),
                                 ADAOPT_OK);
                if (memcmp(mw, rp + at, n * 4) != 0)
                    fail_msg("%s: %s step %d: the master weights are not the float32 path's",
                             what, adaopt_algorithm_name(r->algorithm), s);
            }
        }
    }
    free(x.p16);
    free(x.p32);
    free(rp);
    free(g32);
    free(g16);
    free(scratch);
    adaopt_destroy(typed);
    adaopt_destroy(ref);
}

static const mode MODES[] = {
    {ADAOPT_DTYPE_BF16, ADAOPT_DTYPE_F32, ADAOPT_UPDATE_MASTER, ADAOPT_STORAGE_F32, 4096},
    {ADAOPT_DTYPE_F16, ADAOPT_DTYPE_F16, ADAOPT_UPDATE_MASTER, ADAOPT_STORAGE_F32, 4096},
    {ADAOPT_DTYPE_BF16, ADAOPT_DTYPE_BF16, ADAOPT_UPDATE_MASTER_SR, ADAOPT_STORAGE_F32, 4096},
    {ADAOPT_DTYPE_BF16, ADAOPT_DTYPE_BF16, ADAOPT_UPDATE_SR, ADAOPT_STORAGE_F32, 4096},
    {ADAOPT_DTYPE_F16, ADAOPT_DTYPE_F32, ADAOPT_UPDATE_SR, ADAOPT_STORAGE_F32, 4096},
    {ADAOPT_DTYPE_BF16, ADAOPT_DTYPE_BF16, ADAOPT_UPDATE_NEAREST, ADAOPT_STORAGE_F32, 4096},
    {ADAOPT_DTYPE_F32, ADAOPT_DTYPE_F32, ADAOPT_UPDATE_MASTER, ADAOPT_STORAGE_BF16, 4096},
    {ADAOPT_DTYPE_F32, ADAOPT_DTYPE_F32, ADAOPT_UPDATE_MASTER, ADAOPT_STORAGE_8BIT, 4096},
    {ADAOPT_DTYPE_BF16, ADAOPT_DTYPE_BF16, ADAOPT_UPDATE_SR, ADAOPT_STORAGE_8BIT, 256},
    {ADAOPT_DTYPE_BF16, ADAOPT_DTYPE_F32, ADAOPT_UPDATE_MASTER, ADAOPT_STORAGE_8BIT, 4096},
    {ADAOPT_DTYPE_F16, ADAOPT_DTYPE_F16, ADAOPT_UPDATE_NEAREST, ADAOPT_STORAGE_BF16, 4096},
};
static const char *const MODE_NAMES[] = {
    "bf16 master", "fp16 master (fp16 grads)", "bf16 master+SR", "bf16 SR", "fp16 SR",
    "bf16 nearest", "f32 params, bf16 state", "f32 params, 8-bit state",
    "bf16 SR, 8-bit state (small tensors too)", "bf16 master, 8-bit state", "fp16 nearest, bf16 state"};
enum { N_MODES = sizeof MODES / sizeof MODES[0] };

/* Schedule-Free keeps float32 state (z is a copy of the weights): it refuses the others.
 * (Adafactor's recipe is a vector, whose variance takes every storage.) */
static int recipe_takes(const recipe *r, const mode *m)
{
    return r->algorithm != ADAOPT_ALGO_ADAMW_SCHEDULE_FREE || m->storage == ADAOPT_STORAGE_F32;
}

static void every_mode_equals_its_reference(void **unused)
{
    (void)unused;
    for (int mi = 0; mi < N_MODES; mi++)
        for (int r = 0; r < N_RECIPES; r++)
            if (recipe_takes(&RECIPES[r], &MODES[mi]))
                compare_with_reference(&RECIPES[r], &MODES[mi], MODE_NAMES[mi]);
}

/* The float32 path's bits, exactly: master weights equal the parameters of a float32 run. */
static void master_weights_are_the_float32_path(void **unused)
{
    (void)unused;
    /* compare_with_reference checks the master against the float32 reference every step; here
     * the float32 run is the plain optimizer on plain float arrays, no test-side rounding */
    const mode *m = &MODES[0];
    for (int r = 0; r < N_RECIPES; r++) {
        adaopt_optimizer *typed = make_typed(&RECIPES[r], m, 2, ADAOPT_ISA_AUTO);
        adaopt_optimizer *plain = make_reference(&RECIPES[r]);
        uint16_t *p16 = calloc(NT, 2);
        float *p32 = calloc(NT, 4), *g = calloc(NT, 4);
        assert_true(p16 && p32 && g);
        for (size_t i = 0; i < NT; i++) {
            p16[i] = adaopt__f32_to_bf16(value_at(3, i, 2.0f));
            p32[i] = adaopt__bf16_to_f32(p16[i]);
        }
        for (int s = 0; s < 10; s++) {
            for (size_t i = 0; i < NT; i++)
                g[i] = value_at(50u + (uint32_t)s, i, 1.0f);
            assert_int_equal(adaopt_step_flat(plain, p32, g), ADAOPT_OK);
            void *pp[2] = {p16, p16 + N0};
            const void *gg[2] = {g, g + N0};
            assert_int_equal(adaopt_step_typed(typed, pp, gg, 2), ADAOPT_OK);
        }
        for (int mode_switch = 0; mode_switch < 3; mode_switch++) {
            /* after the steps, after adaopt_eval (Schedule-Free: the master and the float32
             * parameters move to x the same way) and after adaopt_train */
            void *pp[2] = {p16, p16 + N0}, *qq[2] = {p32, p32 + N0};
            if (mode_switch == 1) {
                assert_int_equal(adaopt_eval(typed, pp, 2), ADAOPT_OK);
                assert_int_equal(adaopt_eval(plain, qq, 2), ADAOPT_OK);
            } else if (mode_switch == 2) {
                assert_int_equal(adaopt_train(typed, pp, 2), ADAOPT_OK);
                assert_int_equal(adaopt_train(plain, qq, 2), ADAOPT_OK);
            }
            for (size_t k = 0; k < 2; k++) {
                const float *mw;
                assert_int_equal(adaopt_state(typed, k, ADAOPT_STATE_MASTER, &mw, NULL), ADAOPT_OK);
                assert_memory_equal(mw, p32 + (k ? N0 : 0), NUMELS[k] * 4);
            }
            for (size_t i = 0; i < NT; i++)
                assert_int_equal(p16[i], adaopt__f32_to_bf16(p32[i]));
        }
        free(p16);
        free(p32);
        free(g);
        adaopt_destroy(typed);
        adaopt_destroy(plain);
    }
}

/* Adafactor with bf16 and with 8-bit state (the vector's variance packed, the matrix's moments
 * float32): a checkpoint taken mid-run resumes to the uninterrupted run's bits. */
static void adafactor_packed_resume(void **unused)
{
    (void)unused;
    enum { NV = 5000, NM = 100 * 300, N = NV + NM };
    static const char *const storages[2] = {"state_storage=bf16", "state_storage=8bit, min_8bit_numel=0"};
    size_t numels[2] = {NV, NM}, dims[2] = {100, 300}, group;
    for (int k = 0; k < 2; k++) {
        static float pa[N], pb[N], g[N];
        adaopt_optimizer *opt[3];
        for (int o = 0; o < 3; o++) {
            assert_int_equal(adaopt_create(ADAOPT_ALGO_ADAFACTOR, &opt[o]), ADAOPT_OK);
            assert_int_equal(adaopt_add_group(opt[o], numels, 2, &group), ADAOPT_OK);
            assert_int_equal(adaopt_set_shape(opt[o], 1, dims, 2), ADAOPT_OK);
            assert_int_equal(adaopt_set_options(opt[o], 0, storages[k]), ADAOPT_OK);
        }
        assert_int_equal(adaopt_state_bytes(opt[0]), /* the vector packed, the matrix's f32 */
                         (k == 0 ? NV * 2 : NV + (NV + 255) / 256 * 4) + (100 + 300) * 4);
        for (size_t i = 0; i < N; i++)
            pa[i] = pb[i] = value_at(13, i, 1.0f);
        for (int s = 0; s < 6; s++) {
            for (size_t i = 0; i < N; i++)
                g[i] = value_at(40u + (uint32_t)s, i, 1.0f);
            assert_int_equal(adaopt_step_flat(opt[0], pa, g), ADAOPT_OK);
            assert_int_equal(adaopt_step_flat(opt[s < 3 ? 1 : 2], pb, g), ADAOPT_OK);
            if (s == 2) {
                size_t n = adaopt_checkpoint_size(opt[1]);
                unsigned char *buf = malloc(n);
                assert_non_null(buf);
                assert_int_equal(adaopt_save_buffer(opt[1], buf, n, &n), ADAOPT_OK);
                assert_int_equal(adaopt_load_buffer(opt[2], buf, n), ADAOPT_OK);
                free(buf);
            }
        }
        assert_memory_equal(pa, pb, sizeof pa);
        const float *va, *vb;
        size_t na, nb;
        assert_int_equal(adaopt_state(opt[0], 0, ADAOPT_STATE_VARIANCE, &va, &na), ADAOPT_OK);
        assert_int_equal(adaopt_state(opt[2], 0, ADAOPT_STATE_VARIANCE, &vb, &nb), ADAOPT_OK);
        assert_int_equal(na, NV);
        assert_memory_equal(va, vb, na * 4);
        for (int o = 0; o < 3; o++)
            adaopt_destroy(opt[o]);
    }
}

/* Adafactor on a factored bf16 matrix (2 x 600 x 250: threads too) with master weights: the
 * master is the float32 run's parameters, bit for bit, and the bf16 parameters their rounding;
 * the factored moments stay float32 whatever state_storage says. */
static void adafactor_factored_master(void **unused)
{
    (void)unused;
    enum { N = 2 * 600 * 250 };
    static uint16_t p16[N];
    static float p32[N], g[N];
    size_t n = N, group, dims[3] = {2, 600, 250};
    adaopt_optimizer *typed, *plain;
    assert_int_equal(adaopt_create(ADAOPT_ALGO_ADAFACTOR, &typed), ADAOPT_OK);
    assert_int_equal(adaopt_create(ADAOPT_ALGO_ADAFACTOR, &plain), ADAOPT_OK);
    assert_int_equal(adaopt_add_group_typed(typed, &n, 1, ADAOPT_DTYPE_BF16, ADAOPT_DTYPE_F32,
                                            &group), ADAOPT_OK);
    assert_int_equal(adaopt_add_group(plain, &n, 1, &group), ADAOPT_OK);
    assert_int_equal(adaopt_set_shape(typed, 0, dims, 3), ADAOPT_OK);
    assert_int_equal(adaopt_set_shape(plain, 0, dims, 3), ADAOPT_OK);
    /* 8-bit state asked for: the factored moments stay float32 (rows + cols floats each) */
    assert_int_equal(adaopt_set_options(typed, 0, "lr=0.01, weight_decay=0.1, "
                                                  "state_storage=8bit, min_8bit_numel=0"), ADAOPT_OK);
    assert_int_equal(adaopt_set_options(plain, 0, "lr=0.01, weight_decay=0.1"), ADAOPT_OK);
    assert_int_equal(adaopt_state_bytes(typed), (2 * 600 + 2 * 250) * 4 + N * 4); /* + master */
    assert_int_equal(adaopt_set_threads(typed, 2), ADAOPT_OK);
    for (size_t i = 0; i < N; i++) {
        p16[i] = adaopt__f32_to_bf16(value_at(5, i, 2.0f));
        p32[i] = adaopt__bf16_to_f32(p16[i]);
    }
    for (int s = 0; s < 6; s++) {
        for (size_t i = 0; i < N; i++)
            g[i] = value_at(70u + (uint32_t)s, i, 1.0f);
        void *pp[1] = {p16};
        const void *gg[1] = {g};
        assert_int_equal(adaopt_step_typed(typed, pp, gg, 1), ADAOPT_OK);
        assert_int_equal(adaopt_step_flat(plain, p32, g), ADAOPT_OK);
    }
    const float *mw;
    assert_int_equal(adaopt_state(typed, 0, ADAOPT_STATE_MASTER, &mw, NULL), ADAOPT_OK);
    assert_memory_equal(mw, p32, sizeof p32);
    for (size_t i = 0; i < N; i++)
        assert_int_equal(p16[i], adaopt__f32_to_bf16(p32[i]));
    adaopt_destroy(typed);
    adaopt_destroy(plain);
}

/* Every ISA and thread count gives the same bits, in every mode. */
static void same_bits_on_every_isa_and_thread_count(void **unused)
{
    (void)unused;
    static const adaopt_isa isas[] = {ADAOPT_ISA_SCALAR, ADAOPT_ISA_AVX2, ADAOPT_ISA_AVX512,
                                      ADAOPT_ISA_NEON};
    for (int mi = 0; mi < N_MODES; mi++) {
        const mode *m = &MODES[mi];
        const recipe *r = &RECIPES[3 + mi % 5];
        unsigned char *first = NULL;
        size_t first_n = 0;
        for (int v = 0; v < 8; v++) {
            adaopt_isa isa = isas[v % 4];
            size_t threads = v < 4 ? 1 : 2;
            if (!adaopt_isa_supported(isa))
                continue;
            adaopt_optimizer *opt = make_typed(r, m, threads, isa);
            run x = {opt, calloc(NT, 2), calloc(NT, 4)};
            float *g32 = calloc(NT, 4);
            uint16_t *g16 = calloc(NT, 2);
            for (size_t i = 0; i < NT; i++) {
                x.p32[i] = value_at(9, i, 1.0f);
                x.p16[i] = narrow_rne(m->pd == ADAOPT_DTYPE_F32 ? ADAOPT_DTYPE_BF16 : m->pd, x.p32[i]);
            }
            for (int s = 0; s < 4; s++) {
                gradients(m, s, g32, g16);
                step_typed(opt, m, &x, g32, g16);
            }
            size_t n = adaopt_checkpoint_size(opt);
            unsigned char *buf = malloc(n + NT * 6);
            assert_int_equal(adaopt_save_buffer(opt, buf, n, &n), ADAOPT_OK);
            memcpy(buf + n, x.p16, NT * 2);
            memcpy(buf + n + NT * 2, x.p32, NT * 4);
            n += NT * 6;
            if (first == NULL) {
                first = buf;
                first_n = n;
            } else {
                if (n != first_n || memcmp(buf, first, n) != 0)
                    fail_msg("%s: ISA %s with %zu threads differs", MODE_NAMES[mi],
                             adaopt_isa_name(isa), threads);
                free(buf);
            }
            free(x.p16);
            free(x.p32);
            free(g32);
            free(g16);
            adaopt_destroy(opt);
        }
        free(first);
    }
}

/* Checkpoints of low-precision optimizers (format version 2) resume exactly. */
static void checkpoints_resume_exactly(void **unused)
{
    (void)unused;
    for (int mi = 0; mi < N_MODES; mi++) {
        const mode *m = &MODES[mi];
        const recipe *r = &RECIPES[mi % N_RECIPES];
        if (!recipe_takes(r, m))
            r = &RECIPES[0];
        adaopt_optimizer *whole = make_typed(r, m, 1, ADAOPT_ISA_AUTO);
        adaopt_optimizer *first = make_typed(r, m, 1, ADAOPT_ISA_AUTO);
        adaopt_optimizer *second;
        size_t group;
        assert_int_equal(adaopt_create(r->algorithm, &second), ADAOPT_OK); /* types only */
        assert_int_equal(adaopt_add_group_typed(second, NUMELS, 2, m->pd, m->gd, &group), ADAOPT_OK);
        run a = {whole, calloc(NT, 2), calloc(NT, 4)}, b = {first, calloc(NT, 2), calloc(NT, 4)};
        float *g32 = calloc(NT, 4);
        uint16_t *g16 = calloc(NT, 2);
        for (size_t i = 0; i < NT; i++) {
            a.p32[i] = b.p32[i] = value_at(11, i, 1.0f);
            a.p16[i] = b.p16[i] = adaopt__f32_to_bf16(a.p32[i]);
        }
        for (int s = 0; s < 8; s++) {
            gradients(m, s, g32, g16);
            step_typed(whole, m, &a, g32, g16);
            if (s < 3)
                step_typed(first, m, &b, g32, g16);
            if (s == 2) {
                size_t n = adaopt_checkpoint_size(first);
                unsigned char *buf = malloc(n);
                assert_int_equal(adaopt_save_buffer(first, buf, n, &n), ADAOPT_OK);
                /* types, storage or the rounding seed: version 2 (LAMB: 3, its group count) */
                assert_int_equal(buf[8], r->algorithm == ADAOPT_ALGO_LAMB ? 3 : 2);
                if (adaopt_load_buffer(second, buf, n) != ADAOPT_OK)
                    fail_msg("%s: load: %s", MODE_NAMES[mi], adaopt_last_error(second));
                free(buf);
            }
            if (s >= 3)
                step_typed(second, m, &b, g32, g16);
        }
        assert_memory_equal(a.p16, b.p16, NT * 2);
        assert_memory_equal(a.p32, b.p32, NT * 4);
        size_t na = adaopt_checkpoint_size(whole), nb = adaopt_checkpoint_size(second);
        unsigned char *sa = malloc(na), *sb = malloc(nb);
        assert_int_equal(adaopt_save_buffer(whole, sa, na, &na), ADAOPT_OK);
        assert_int_equal(adaopt_save_buffer(second, sb, nb, &nb), ADAOPT_OK);
        assert_int_equal(na, nb);
        assert_memory_equal(sa, sb, na);
        assert_int_equal(adaopt_state_bytes(whole), adaopt_state_bytes(second));
        /* into other types: refused, nothing changes */
        adaopt_optimizer *other;
        assert_int_equal(adaopt_create(r->algorithm, &other), ADAOPT_OK);
        assert_int_equal(adaopt_add_group_typed(other, NUMELS, 2,
                                                m->pd == ADAOPT_DTYPE_F16 ? ADAOPT_DTYPE_BF16
                                                                          : ADAOPT_DTYPE_F16,
                                                ADAOPT_DTYPE_F32, &group), ADAOPT_OK);
        assert_int_equal(adaopt_load_buffer(other, sa, na), ADAOPT_ERR_MISMATCH);
        adaopt_destroy(other);
        free(sa);
        free(sb);
        free(a.p16);
        free(a.p32);
        free(b.p16);
        free(b.p32);
        free(g32);
        free(g16);
        adaopt_destroy(whole);
        adaopt_destroy(first);
        adaopt_destroy(second);
    }
}

static void memory_per_parameter(void **unused)
{
    (void)unused;
    /* Adam on 1,048,576 parameters: float32 state 8 MiB; 8-bit 2 bytes + 2 absmax per 256 */
    size_t n = (size_t)1 << 20, group;
    adaopt_optimizer *opt;
    assert_int_equal(adaopt_create(ADAOPT_ALGO_ADAM, &opt), ADAOPT_OK);
    assert_int_equal(adaopt_add_group_typed(opt, &n, 1, ADAOPT_DTYPE_BF16, ADAOPT_DTYPE_BF16, &group),
                     ADAOPT_OK);
    assert_int_equal(adaopt_state_bytes(opt), n * 8 + n * 4); /* m, v, master */
    assert_int_equal(adaopt_set_options(opt, 0, "param_update=sr, state_storage=8bit"), ADAOPT_OK);
    assert_int_equal(adaopt_state_bytes(opt), 2 * (n + n / 256 * 4));
    assert_int_equal(adaopt_set_options(opt, 0, "state_storage=bf16"), ADAOPT_OK);
    assert_int_equal(adaopt_state_bytes(opt), 2 * n * 2);
    adaopt_destroy(opt);
    /* small tensors keep float32 state below min_8bit_numel */
    size_t small = 4095;
    assert_int_equal(adaopt_create(ADAOPT_ALGO_ADAM, &opt), ADAOPT_OK);
    assert_int_equal(adaopt_add_group(opt, &small, 1, &group), ADAOPT_OK);
    assert_int_equal(adaopt_set_options(opt, 0, "state_storage=8bit"), ADAOPT_OK);
    assert_int_equal(adaopt_state_bytes(opt), small * 8);
    assert_int_equal(adaopt_set_options(opt, 0, "min_8bit_numel=0"), ADAOPT_OK);
    assert_int_equal(adaopt_state_bytes(opt), 2 * (small + 16 * 4));
    adaopt_destroy(opt);
}

/* The fused gradient factor has the bits of multiplying in place first; the norm of 16-bit
 * gradients has the bits of clip_grad_norm's on them widened. */
static void fused_factor_and_typed_norm(void **unused)
{
    (void)unused;
    for (int r = 0; r < N_RECIPES; r++) {
        if (RECIPES[r].algorithm == ADAOPT_ALGO_LAMB || RECIPES[r].algorithm == ADAOPT_ALGO_ADAFACTOR)
            continue; /* (they refuse the fused factor: test_first_steps) */
        adaopt_optimizer *fused = make_reference(&RECIPES[r]), *plain = make_reference(&RECIPES[r]);
        float *p = calloc(NT, 4), *q = calloc(NT, 4), *g = calloc(NT, 4);
        assert_true(p && q && g);
        for (size_t i = 0; i < NT; i++)
            p[i] = q[i] = value_at(21, i, 1.0f);
        adaopt_grad_scaler scaler = adaopt_grad_scaler_defaults();
        for (int s = 0; s < 4; s++) {
            for (size_t i = 0; i < NT; i++)
                g[i] = value_at(300u + (uint32_t)s, i, 65536.0f); /* loss-scaled gradients */
            if (s != 2) /* one step without the factor: it lasts one step */
                assert_int_equal(adaopt_scale_next_grads(fused, 1.0 / scaler.scale), ADAOPT_OK);
            assert_int_equal(adaopt_step_flat(fused, p, g), ADAOPT_OK);
            if (s != 2) {
                float *gp[1] = {g};
                size_t n = NT;
                int found;
                assert_int_equal(adaopt_unscale_grads(&scaler, gp, &n, 1, &found), ADAOPT_OK);
            }
            assert_int_equal(adaopt_step_flat(plain, q, g), ADAOPT_OK);
            if (memcmp(p, q, NT * 4) != 0)
                fail_msg("%s step %d: the fused factor differs from unscaling in place",
                         adaopt_algorithm_name(RECIPES[r].algorithm), s);
        }
        free(p);
        free(q);
        free(g);
        adaopt_destroy(fused);
        adaopt_destroy(plain);
    }
    /* the norm of bf16 and fp16 gradients */
    for (int d = 1; d <= 2; d++) {
        adaopt_optimizer *opt;
        size_t group;
        adaopt_dtype dt = d == 1 ? ADAOPT_DTYPE_BF16 : ADAOPT_DTYPE_F16;
        assert_int_equal(adaopt_create(ADAOPT_ALGO_ADAM, &opt), ADAOPT_OK);
        assert_int_equal(adaopt_add_group_typed(opt, NUMELS, 2, dt, dt, &group), ADAOPT_OK);
        uint16_t *g16 = calloc(NT, 2);
        float *wide = calloc(NT, 4);
        for (size_t i = 0; i < NT; i++) {
            g16[i] = narrow_rne(dt, value_at(77, i, 3.0f));
            wide[i] = widen(dt, g16[i]);
        }
        static const double types[3] = {1.0, 2.0, INFINITY};
        for (int k = 0; k < 3; k++) {
            const void *gg[2] = {g16, g16 + N0};
            double got, want;
            assert_int_equal(adaopt_grad_norm(opt, gg, 2, types[k], &got), ADAOPT_OK);
            float *ww[2] = {wide, wide + N0};
            assert_int_equal(adaopt_clip_grad_norm(ww, NUMELS, 2, 1e300, types[k], &want),
                             ADAOPT_OK);
            assert_memory_equal(&got, &want, sizeof got);
        }
        const void *gg[2] = {g16, NULL};
        double only0;
        assert_int_equal(adaopt_grad_norm(opt, gg, 2, 2.0, &only0), ADAOPT_OK);
        assert_true(only0 > 0);
        assert_int_equal(adaopt_grad_norm(opt, gg, 1, 2.0, &only0), ADAOPT_ERR_SIZE);
        assert_int_equal(adaopt_grad_norm(opt, gg, 2, 3.0, &only0), ADAOPT_ERR_VALUE);
        assert_int_equal(adaopt_grad_norm(opt, NULL, 2, 2.0, &only0), ADAOPT_ERR_NULL);
        free(g16);
        free(wide);
        adaopt_destroy(opt);
    }
    adaopt_optimizer *opt = make_reference(&RECIPES[0]);
    assert_int_equal(adaopt_scale_next_grads(opt, -1.0), ADAOPT_ERR_VALUE);
    assert_int_equal(adaopt_scale_next_grads(opt, NAN), ADAOPT_ERR_VALUE);
    assert_int_equal(adaopt_scale_next_grads(opt, 1e300), ADAOPT_ERR_VALUE);
    assert_int_equal(adaopt_scale_next_grads(NULL, 1.0), ADAOPT_ERR_NULL);
    adaopt_destroy(opt);
}

/* Sparse rows in low precision: AdaGrad's sparse step is exact, so it equals the dense step
 * whose gradient is zero outside the rows (repeats summed) -- bf16 parameters with master
 * weights or stochastic rounding, bf16 state; with 8-bit state (rows of whole blocks) the rows
 * touched agree, and the untouched blocks keep their codes. */
static void sparse_rows(void **unused)
{
    (void)unused;
    enum { ROWS = 24, LEN = 256, N = ROWS * LEN };
    static const struct { adaopt_dtype pd; int update, storage; } cases[] = {
        {ADAOPT_DTYPE_BF16, ADAOPT_UPDATE_MASTER, ADAOPT_STORAGE_F32},
        {ADAOPT_DTYPE_BF16, ADAOPT_UPDATE_SR, ADAOPT_STORAGE_F32},
        {ADAOPT_DTYPE_F16, ADAOPT_UPDATE_NEAREST, ADAOPT_STORAGE_BF16},
        {ADAOPT_DTYPE_F32, ADAOPT_UPDATE_MASTER, ADAOPT_STORAGE_8BIT},
        {ADAOPT_DTYPE_BF16, ADAOPT_UPDATE_SR, ADAOPT_STORAGE_8BIT},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        adaopt_optimizer *sp, *de;
        size_t n = N, group;
        for (int k = 0; k < 2; k++) {
            adaopt_optimizer **o = k ? &de : &sp;
            assert_int_equal(adaopt_create(ADAOPT_ALGO_ADAGRAD, o), ADAOPT_OK);
            assert_int_equal(adaopt_add_group_typed(*o, &n, 1, cases[c].pd, ADAOPT_DTYPE_F32, &group),
                             ADAOPT_OK);
            if (cases[c].pd != ADAOPT_DTYPE_F32)
                assert_int_equal(adaopt_set(*o, 0, ADAOPT_PARAM_UPDATE, cases[c].update), ADAOPT_OK);
            assert_int_equal(adaopt_set(*o, 0, ADAOPT_STATE_STORAGE, cases[c].storage), ADAOPT_OK);
            assert_int_equal(adaopt_set_options(*o, 0, "lr=0.1, initial_accumulator_value=0.1"),
                             ADAOPT_OK);
        }
        assert_int_equal(adaopt_reserve_sparse(sp, 8, LEN, ROWS), ADAOPT_OK);
        int wide = cases[c].pd == ADAOPT_DTYPE_F32;
        void *ps = calloc(N, 4), *pd = calloc(N, 4);
        float *dense = calloc(N, 4), vals[4 * LEN];
        for (size_t i = 0; i < N; i++) {
            float v = value_at(5, i, 2.0f);
            if (wide) {
                ((float *)ps)[i] = ((float *)pd)[i] = v;
            } else {
                ((uint16_t *)ps)[i] = ((uint16_t *)pd)[i] = narrow_rne(cases[c].pd, v);
            }
        }
        for (int s = 0; s < 5; s++) {
            int64_t idx[4] = {(s * 7) % ROWS, 3, (s * 7) % ROWS, (s * 5 + 11) % ROWS};
            memset(dense, 0, N * 4);
            for (int k = 0; k < 4; k++)
                for (int j = 0; j < LEN; j++) {
                    vals[k * LEN + j] = value_at(900u + (uint32_t)(s * 4 + k), (size_t)j, 1.0f);
                    dense[idx[k] * LEN + j] += vals[k * LEN + j]; /* repeats summed in order */
                }
            adaopt_sparse_grad sg = {idx, 4, vals, LEN};
            void *pp[1] = {ps};
            const void *none[1] = {NULL};
            assert_int_equal(adaopt_step_sparse_typed(sp, pp, none, &sg, 1), ADAOPT_OK);
            void *qq[1] = {pd};
            const void *gg[1] = {dense};
            assert_int_equal(adaopt_step_typed(de, qq, gg, 1), ADAOPT_OK);
        }
        const float *ss, *sd;
        assert_int_equal(adaopt_state(sp, 0, ADAOPT_STATE_SUM, &ss, NULL), ADAOPT_OK);
        float *copy = malloc(N * 4);
        memcpy(copy, ss, N * 4);
        assert_int_equal(adaopt_state(de, 0, ADAOPT_STATE_SUM, &sd, NULL), ADAOPT_OK);
        size_t bytes = wide ? 4 : 2;
        if (cases[c].storage != ADAOPT_STORAGE_8BIT) {
            if (memcmp(ps, pd, N * bytes) != 0)
                fail_msg("sparse case %zu: parameters differ from the dense step", c);
            assert_memory_equal(copy, sd, N * 4);
        } else { /* the rows touched (3 and the (s*7), (s*5+11) rows): the same */
            for (int r = 0; r < ROWS; r++) {
                int touched = r == 3;
                for (int s = 0; s < 5; s++)
                    touched |= r == (s * 7) % ROWS || r == (s * 5 + 11) % ROWS;
                if (!touched)
                    continue;
                assert_memory_equal((char *)ps + (size_t)r * LEN * bytes,
                                    (char *)pd + (size_t)r * LEN * bytes, LEN * bytes);
                assert_memory_equal(copy + r * LEN, sd + r * LEN, LEN * 4);
            }
        }
        free(copy);
        free(ps);
        free(pd);
        free(dense);
        adaopt_destroy(sp);
        adaopt_destroy(de);
    }
}

static void errors(void **unused)
{
    (void)unused;
    adaopt_optimizer *opt;
    size_t n[2] = {8, 300}, group;
    assert_int_equal(adaopt_create(ADAOPT_ALGO_ADAM, &opt), ADAOPT_OK);
    assert_int_equal(adaopt_add_group_typed(opt, n, 1, ADAOPT_DTYPE_BF16, ADAOPT_DTYPE_F16, &group),
                     ADAOPT_ERR_VALUE);
    assert_int_equal(adaopt_add_group_typed(opt, n, 1, (adaopt_dtype)7, ADAOPT_DTYPE_F32, &group),
                     ADAOPT_ERR_VALUE);
    assert_int_equal(adaopt_add_group_typed(opt, n, 1, ADAOPT_DTYPE_BF16, ADAOPT_DTYPE_BF16, &group),
                     ADAOPT_OK);
    assert_int_equal(adaopt_add_group(opt, n + 1, 1, &group), ADAOPT_OK);
    /* param_update is for 16-bit groups; values are checked */
    assert_int_equal(adaopt_set(opt, 1, ADAOPT_PARAM_UPDATE, ADAOPT_UPDATE_SR), ADAOPT_ERR_CONFLICT);
    assert_non_null(strstr(adaopt_last_error(opt), "float32 parameters"));
    assert_int_equal(adaopt_set(opt, 0, ADAOPT_PARAM_UPDATE, 4), ADAOPT_ERR_VALUE);
    assert_int_equal(adaopt_set(opt, 0, ADAOPT_STATE_STORAGE, 1.5), ADAOPT_ERR_VALUE);
    assert_int_equal(adaopt_set(opt, 0, ADAOPT_MIN_8BIT_NUMEL, -1), ADAOPT_ERR_VALUE);
    /* the float32 calls refuse 16-bit groups */
    uint16_t p[8] = {0}, g[8] = {0};
    float q[300] = {0}, h[300] = {0};
    float *fp[2] = {(float *)(void *)p, q};
    const float *fg[2] = {(const float *)(const void *)g, h};
    assert_int_equal(adaopt_step(opt, fp, fg, 2), ADAOPT_ERR_CONFLICT);
    assert_non_null(strstr(adaopt_last_error(opt), "adaopt_step_typed"));
    void *tp[2] = {p, q};
    const void *tg[2] = {g, h};
    assert_int_equal(adaopt_step_typed(opt, tp, tg, 2), ADAOPT_OK);
    /* storage is decided before the first step */
    assert_int_equal(adaopt_set(opt, 0, ADAOPT_STATE_STORAGE, ADAOPT_STORAGE_8BIT), ADAOPT_ERR_STATE);
    assert_int_equal(adaopt_set(opt, 0, ADAOPT_PARAM_UPDATE, ADAOPT_UPDATE_SR), ADAOPT_ERR_STATE);
    /* a NaN in a bf16 gradient is found by the non-finite policy */
    assert_int_equal(adaopt_set_nonfinite_policy(opt, ADAOPT_NONFINITE_SKIP), ADAOPT_OK);
    g[3] = 0x7fc0;
    assert_int_equal(adaopt_step_typed(opt, tp, tg, 2), ADAOPT_OK);
    assert_int_equal(adaopt_last_step_skipped(opt), 1);
    g[3] = 0xff80; /* -inf */
    assert_int_equal(adaopt_step_typed(opt, tp, tg, 2), ADAOPT_OK);
    assert_int_equal(adaopt_last_step_skipped(opt), 1);
    adaopt_destroy(opt);
    /* sparse rows must hold whole 8-bit blocks; the float32 call refuses 16-bit groups */
    size_t rows = 20 * 300;
    assert_int_equal(adaopt_create(ADAOPT_ALGO_ADAGRAD, &opt), ADAOPT_OK);
    assert_int_equal(adaopt_add_group(opt, &rows, 1, &group), ADAOPT_OK);
    assert_int_equal(adaopt_set_options(opt, 0, "state_storage=8bit"), ADAOPT_OK);
    assert_int_equal(adaopt_reserve_sparse(opt, 4, 300, 20), ADAOPT_OK);
    int64_t idx[1] = {2};
    float vals[300] = {0}, table[6000] = {0};
    adaopt_sparse_grad sg = {idx, 1, vals, 300};
    float *tp1[1] = {table};
    const float *none[1] = {NULL};
    assert_int_equal(adaopt_step_sparse(opt, tp1, none, &sg, 1), ADAOPT_ERR_CONFLICT);
    assert_non_null(strstr(adaopt_last_error(opt), "multiple of 256"));
    adaopt_destroy(opt);
    assert_int_equal(adaopt_create(ADAOPT_ALGO_ADAGRAD, &opt), ADAOPT_OK);
    assert_int_equal(adaopt_add_group_typed(opt, &rows, 1, ADAOPT_DTYPE_BF16, ADAOPT_DTYPE_BF16,
                                            &group), ADAOPT_OK);
    assert_int_equal(adaopt_reserve_sparse(opt, 4, 300, 20), ADAOPT_OK);
    assert_int_equal(adaopt_step_sparse(opt, tp1, none, &sg, 1), ADAOPT_ERR_CONFLICT);
    adaopt_destroy(opt);
    /* set_step fills AdaGrad's accumulator in its storage (fuzz_step found the float32 write) */
    for (int storage = ADAOPT_STORAGE_BF16; storage <= ADAOPT_STORAGE_8BIT; storage++) {
        size_t big = 5000;
        assert_int_equal(adaopt_create(ADAOPT_ALGO_ADAGRAD, &opt), ADAOPT_OK);
        assert_int_equal(adaopt_add_group(opt, &big, 1, &group), ADAOPT_OK);
        assert_int_equal(adaopt_set(opt, 0, ADAOPT_STATE_STORAGE, storage), ADAOPT_OK);
        assert_int_equal(adaopt_set(opt, 0, ADAOPT_INITIAL_ACCUMULATOR_VALUE, 0.25), ADAOPT_OK);
        assert_int_equal(adaopt_set_step(opt, 3), ADAOPT_OK);
        const float *sum;
        assert_int_equal(adaopt_state(opt, 0, ADAOPT_STATE_SUM, &sum, NULL), ADAOPT_OK);
        assert_true(sum[0] == 0.25f && sum[4999] == 0.25f);
        adaopt_destroy(opt);
    }
    assert_int_equal(adaopt_step_typed(NULL, tp, tg, 2), ADAOPT_ERR_NULL);
    assert_null(adaopt_dtype_name((adaopt_dtype)9));
    assert_string_equal(adaopt_dtype_name(ADAOPT_DTYPE_BF16), "bf16");
}

/* Golden files of format version 2 (adaopt 0.2): one per mode, 3 steps of a recipe; they load,
 * losing nothing, into the state today's run gives, within rounding (golden_matches).
 * ADAOPT_WRITE_GOLDEN=DIR writes them instead. */
static void golden_files_load(void **unused)
{
    (void)unused;
    const char *write_dir = getenv("ADAOPT_WRITE_GOLDEN");
    for (int mi = 0; mi < N_MODES; mi++) {
        const mode *m = &MODES[mi];
        const recipe *r = &RECIPES[(mi * 3) % 8]; /* the recipes of 0.2 (Lion came later) */
        char path[512];
        snprintf(path, sizeof path, "%s/v2-%d-%s.ckpt", write_dir ? write_dir : ADAOPT_GOLDEN_DIR,
                 mi, adaopt_algorithm_name(r->algorithm));
        static const size_t golden_numels[2] = {N0, 700}; /* small files */
        adaopt_optimizer *ref = make_typed_sized(r, m, 1, ADAOPT_ISA_AUTO, golden_numels);
        run x = {ref, calloc(NT, 2), calloc(NT, 4)};
        float *g32 = calloc(NT, 4);
        uint16_t *g16 = calloc(NT, 2);
        for (size_t i = 0; i < NT; i++) {
            x.p32[i] = value_at(13, i, 1.0f);
            x.p16[i] = narrow_rne(m->pd == ADAOPT_DTYPE_F32 ? ADAOPT_DTYPE_BF16 : m->pd, x.p32[i]);
        }
        for (int s = 0; s < 3; s++) {
            gradients(m, s, g32, g16);
            step_typed(ref, m, &x, g32, g16);
        }
        if (write_dir != NULL) {
            assert_int_equal(adaopt_save_file(ref, path), ADAOPT_OK);
        } else {
            adaopt_optimizer *loaded;
            size_t group;
            assert_int_equal(adaopt_create(r->algorithm, &loaded), ADAOPT_OK);
            assert_int_equal(adaopt_add_group_typed(loaded, golden_numels, 2, m->pd, m->gd,
                                                    &group), ADAOPT_OK);
            if (adaopt_load_file(loaded, path) != ADAOPT_OK)
                fail_msg("%s: %s", path, adaopt_last_error(loaded));
            /* one code step: 8-bit's is at most 1/16 of the larger of the value and the RMS
             * near the map's sparse ends; a bf16 or fp16 ulp, 2^-8 relative */
            golden_matches(loaded, ref, path,
                           m->storage == ADAOPT_STORAGE_8BIT ? 1.0 / 16
                           : m->storage == ADAOPT_STORAGE_BF16 || m->pd != ADAOPT_DTYPE_F32
                               ? 1.0 / 128 : 1e-5);
            adaopt_destroy(loaded);
        }
        free(x.p16);
        free(x.p32);
        free(g32);
        free(g16);
        adaopt_destroy(ref);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_mode_equals_its_reference),
        cmocka_unit_test(master_weights_are_the_float32_path),
        cmocka_unit_test(adafactor_factored_master),
        cmocka_unit_test(adafactor_packed_resume),
        cmocka_unit_test(same_bits_on_every_isa_and_thread_count),
        cmocka_unit_test(checkpoints_resume_exactly),
        cmocka_unit_test(golden_files_load),
        cmocka_unit_test(memory_per_parameter),
        cmocka_unit_test(fused_factor_and_typed_norm),
        cmocka_unit_test(sparse_rows),
        cmocka_unit_test(errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
