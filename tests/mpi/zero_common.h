/*
 * zero_common.h -- shared by the ZeRO tests: the model's shapes, the configurations, the
 * gradients every rank gets, and the single-process reference they must equal.
 *
 * Rank r's gradient of element j at step s is a hash of (s, r, j), so every rank can also
 * compute every other rank's and step a plain adaopt optimizer with their average, summed in
 * rank order and divided by the world size: what one process does given the average.
 */
#ifndef ZERO_COMMON_H
#define ZERO_COMMON_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adaopt.h"
#include "adaopt_mpi.h"

/* 233 elements (a prime: no world size of 2..4 divides it), an empty tensor, a tensor of one
 * element, three groups. */
/* This process's rank and the world size, and the failed checks so far. */
static int rank, world, failures;

/* Reports a failed check (with the rank) and counts it; the run goes on. */
#define CHECK(cond, ...)                                                                       \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "rank %d: %s:%d: ", rank, __FILE__, __LINE__);                      \
            fprintf(stderr, __VA_ARGS__);                                                      \
            fprintf(stderr, "\n");                                                             \
            failures++;                                                                        \
        }                                                                                      \
    } while (0)

enum { N_TENSORS = 6, N_GROUPS = 3, TOTAL = 233 };
static const size_t NUMELS[N_TENSORS] = {37, 0, 101, 1, 65, 29};
static const size_t GROUP_SIZES[N_GROUPS] = {2, 3, 1};

typedef struct config {
    const char *name;
    adaopt_algorithm algorithm;
    struct { adaopt_option option; double value; } set[6];
    double clip_max, clip_type;  /* clip_type 0: no clipping */
    int skip_nan_at;             /* > 0: SKIP policy, and the last rank's gradient gets a NaN */
    int mpi_reduce;              /* ADAOPT_ZERO_REDUCE_MPI */
    uint64_t piece_limit;        /* > 0: collectives split into pieces this small */
} config;

static const config CONFIGS[] = {
    {"sgd", ADAOPT_ALGO_SGD, {{ADAOPT_LR, 0.05}}, 0, 0, 0, 0, 0},
    {"sgd-nesterov", ADAOPT_ALGO_SGD, {{ADAOPT_LR, 0.05}, {ADAOPT_MOMENTUM, 0.9}, {ADAOPT_NESTEROV, 1}}, 0, 0, 0, 0, 0},
    {"sgd-momentum-wd", ADAOPT_ALGO_SGD, {{ADAOPT_LR, 0.05}, {ADAOPT_MOMENTUM, 0.9}, {ADAOPT_DAMPENING, 0.1}, {ADAOPT_WEIGHT_DECAY, 0.01}}, 0, 0, 0, 0, 0},
    {"adagrad", ADAOPT_ALGO_ADAGRAD, {{ADAOPT_LR, 0.1}, {ADAOPT_LR_DECAY, 0.01}, {ADAOPT_INITIAL_ACCUMULATOR_VALUE, 0.1}}, 0, 0, 0, 0, 0},
    {"rmsprop", ADAOPT_ALGO_RMSPROP, {{ADAOPT_LR, 0.01}}, 0, 0, 0, 0, 0},
    {"rmsprop-centered-momentum", ADAOPT_ALGO_RMSPROP, {{ADAOPT_LR, 0.01}, {ADAOPT_CENTERED, 1}, {ADAOPT_MOMENTUM, 0.9}, {ADAOPT_WEIGHT_DECAY, 0.01}}, 0, 0, 0, 0, 0},
    {"adam", ADAOPT_ALGO_ADAM, {{ADAOPT_LR, 0.01}}, 0, 0, 0, 0, 0},
    {"amsgrad-wd-maximize", ADAOPT_ALGO_ADAM, {{ADAOPT_LR, 0.01}, {ADAOPT_AMSGRAD, 1}, {ADAOPT_WEIGHT_DECAY, 0.01}, {ADAOPT_MAXIMIZE, 1}}, 0, 0, 0, 0, 0},
    {"adamw", ADAOPT_ALGO_ADAMW, {{ADAOPT_LR, 0.01}, {ADAOPT_WEIGHT_DECAY, 0.1}}, 0, 0, 0, 0, 0},
    {"adamax", ADAOPT_ALGO_ADAMAX, {{ADAOPT_LR, 0.01}}, 0, 0, 0, 0, 0},
    {"nadam", ADAOPT_ALGO_NADAM, {{ADAOPT_LR, 0.01}}, 0, 0, 0, 0, 0},
    {"nadam-decoupled", ADAOPT_ALGO_NADAM, {{ADAOPT_LR, 0.01}, {ADAOPT_WEIGHT_DECAY, 0.05}, {ADAOPT_DECOUPLED_WEIGHT_DECAY, 1}}, 0, 0, 0, 0, 0},
    {"radam", ADAOPT_ALGO_RADAM, {{ADAOPT_LR, 0.01}}, 0, 0, 0, 0, 0},
    {"radam-decoupled", ADAOPT_ALGO_RADAM, {{ADAOPT_LR, 0.01}, {ADAOPT_WEIGHT_DECAY, 0.05}, {ADAOPT_DECOUPLED_WEIGHT_DECAY, 1}}, 0, 0, 0, 0, 0},
    {"adam-clip-l2", ADAOPT_ALGO_ADAM, {{ADAOPT_LR, 0.01}}, 1.0, 2.0, 0, 0, 0},
    {"sgd-clip-inf", ADAOPT_ALGO_SGD, {{ADAOPT_LR, 0.05}, {ADAOPT_MOMENTUM, 0.5}}, 0.3, INFINITY, 0, 0, 0},
    {"adagrad-clip-l1", ADAOPT_ALGO_ADAGRAD, {{ADAOPT_LR, 0.1}}, 20.0, 1.0, 0, 0, 0},
    {"adam-skip-nan", ADAOPT_ALGO_ADAM, {{ADAOPT_LR, 0.01}}, 0, 0, 77, 0, 0},
    {"adam-clip-skip-nan", ADAOPT_ALGO_ADAMW, {{ADAOPT_LR, 0.01}}, 1.0, 2.0, 120, 0, 0},
    {"adam-mpi-reduce", ADAOPT_ALGO_ADAM, {{ADAOPT_LR, 0.01}}, 0, 0, 0, 1, 0},
    /* the split path of the collectives (as for models past 2^31 elements), on a small model */
    {"adamw-pieces-7", ADAOPT_ALGO_ADAMW, {{ADAOPT_LR, 0.01}, {ADAOPT_WEIGHT_DECAY, 0.1}}, 0, 0, 0, 0, 7},
    {"adam-clip-l2-pieces-1", ADAOPT_ALGO_ADAM, {{ADAOPT_LR, 0.01}}, 1.0, 2.0, 0, 0, 1},
    {"rmsprop-centered-pieces-13", ADAOPT_ALGO_RMSPROP, {{ADAOPT_LR, 0.01}, {ADAOPT_CENTERED, 1}, {ADAOPT_MOMENTUM, 0.9}}, 0, 0, 0, 0, 13},
    {"sgd-skip-nan-pieces-5", ADAOPT_ALGO_SGD, {{ADAOPT_LR, 0.05}, {ADAOPT_MOMENTUM, 0.9}}, 0, 0, 50, 0, 5},
    /* (added after the golden checkpoints: configurations are numbered into the gradients) */
    {"lion", ADAOPT_ALGO_LION, {{ADAOPT_LR, 0.001}, {ADAOPT_WEIGHT_DECAY, 0.1}}, 0, 0, 0, 0, 0},
    {"adamw-schedulefree", ADAOPT_ALGO_ADAMW_SCHEDULE_FREE, {{ADAOPT_LR, 0.01}, {ADAOPT_WEIGHT_DECAY, 0.01}, {ADAOPT_WARMUP_STEPS, 20}, {ADAOPT_R, 0.5}}, 0, 0, 0, 0, 0},
    {"lamb", ADAOPT_ALGO_LAMB, {{ADAOPT_LR, 0.01}, {ADAOPT_WEIGHT_DECAY, 0.01}}, 0, 0, 0, 0, 0},
    {"lamb-clip-pieces-5", ADAOPT_ALGO_LAMB, {{ADAOPT_LR, 0.01}, {ADAOPT_WEIGHT_DECOUPLE, 0}, {ADAOPT_WEIGHT_DECAY, 0.01}}, 1.0, 2.0, 0, 0, 5},
    /* (its tensors unshaped: vectors; test_zero.c's adafactor_model has matrices) */
    {"adafactor", ADAOPT_ALGO_ADAFACTOR, {{ADAOPT_LR, 0.01}, {ADAOPT_WEIGHT_DECAY, 0.01}}, 0, 0, 0, 0, 0},
    {"adafactor-clip-pieces-5", ADAOPT_ALGO_ADAFACTOR, {{ADAOPT_LR, 0.01}, {ADAOPT_D, 2}}, 1.0, 2.0, 0, 0, 5},
    {"adadelta", ADAOPT_ALGO_ADADELTA, {{ADAOPT_WEIGHT_DECAY, 0.01}}, 0, 0, 0, 0, 0},
    {"rprop", ADAOPT_ALGO_RPROP, {{ADAOPT_LR, 0.001}, {ADAOPT_ETA_MINUS, 0.4}}, 0, 0, 0, 0, 0},
    {"asgd-clip", ADAOPT_ALGO_ASGD, {{ADAOPT_LR, 0.01}, {ADAOPT_T0, 5}}, 1.0, 2.0, 0, 0, 0},
};
enum { N_CONFIGS = sizeof CONFIGS / sizeof CONFIGS[0] };

static uint64_t splitmix(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

/* Rank r's gradient of flat element j at step s, for configuration c. */
static inline float grad_of(const config *c, int s, int r, int nranks, size_t j)
{
    uint64_t h = splitmix(((uint64_t)s << 40) ^ ((uint64_t)r << 20) ^ j ^
                          ((uint64_t)(c - CONFIGS) << 56));
    float u = (float)(h >> 40) / (float)(1 << 24) * 2.0f - 1.0f; /* [-1, 1) */
    float g = u * (float)(1 + j % 5);
    if (c->skip_nan_at > 0 && s == c->skip_nan_at && r == nranks - 1 && j == 5)
        g = NAN;
    return g;
}

/* Fills every tensor with rank r's gradient. */
static inline void rank_grads(const config *c, int s, int r, int nranks, float **grads)
{
    size_t j = 0;
    for (int i = 0; i < N_TENSORS; i++)
        for (size_t k = 0; k < NUMELS[i]; k++, j++)
            grads[i][k] = grad_of(c, s, r, nranks, j);
}

/* avg = (((g_0 + g_1) + g_2) + ...) / nranks: the ordered reduction's arithmetic. */
static inline void average_grads(const config *c, int s, int nranks, float **avg, float **tmp)
{
    rank_grads(c, s, 0, nranks, avg);
    for (int r = 1; r < nranks; r++) {
        rank_grads(c, s, r, nranks, tmp);
        for (int i = 0; i < N_TENSORS; i++)
            for (size_t k = 0; k < NUMELS[i]; k++)
                avg[i][k] = avg[i][k] + tmp[i][k];
    }
    for (int i = 0; i < N_TENSORS; i++)
        for (size_t k = 0; k < NUMELS[i]; k++)
            avg[i][k] = avg[i][k] / (float)nranks;
}

static inline float **alloc_tensors(void)
{
    float **t = malloc(N_TENSORS * sizeof *t);
    for (int i = 0; i < N_TENSORS; i++)
        t[i] = calloc(NUMELS[i] ? NUMELS[i] : 1, sizeof(float));
    return t;
}

static inline void free_tensors(float **t)
{
    for (int i = 0; i < N_TENSORS; i++)
        free(t[i]);
    free(t);
}

static inline void initial_params(float **p)
{
    size_t j = 0;
    for (int i = 0; i < N_TENSORS; i++)
        for (size_t k = 0; k < NUMELS[i]; k++, j++)
            p[i][k] = (float)((int)(j % 17) - 8) * 0.125f;
}

/* Group g's lr: the config's, halved for group 1, on a cosine schedule over 200 steps. */
static inline double lr_at(const config *c, size_t g, int s)
{
    double base = c->set[0].value * (g == 1 ? 0.5 : 1.0);
    adaopt_schedule sched = {ADAOPT_SCHED_COSINE, 0, 0, 200, base * 0.01, 0};
    return adaopt_schedule_lr(&sched, base, (uint64_t)s);
}

/* The configuration's options on every group of a plain optimizer or of a sharded one. */
static inline int configure(const config *c, adaopt_optimizer *ref, adaopt_zero *z)
{
    for (int k = 0; k < 6 && c->set[k].option != 0; k++) {
        if (ref && adaopt_set(ref, ADAOPT_ALL_GROUPS, c->set[k].option, c->set[k].value))
            return -1;
        if (z && adaopt_zero_set(z, ADAOPT_ALL_GROUPS, c->set[k].option, c->set[k].value))
            return -1;
    }
    if (c->skip_nan_at > 0) {
        if (ref && adaopt_set_nonfinite_policy(ref, ADAOPT_NONFINITE_SKIP))
            return -1;
        if (z && adaopt_zero_set_nonfinite_policy(z, ADAOPT_NONFINITE_SKIP))
            return -1;
    }
    if (z && c->clip_type != 0 && adaopt_zero_set_clip(z, c->clip_max, c->clip_type))
        return -1;
    if (z && c->mpi_reduce && adaopt_zero_set_reduce(z, ADAOPT_ZERO_REDUCE_MPI))
        return -1;
    if (z && c->piece_limit > 0 && adaopt_zero_set_piece_limit(z, c->piece_limit))
        return -1;
    return 0;
}

static inline adaopt_optimizer *make_reference(const config *c)
{
    adaopt_optimizer *ref;
    size_t group, first = 0;
    if (adaopt_create(c->algorithm, &ref) != ADAOPT_OK)
        return NULL;
    for (int g = 0; g < N_GROUPS; g++) {
        adaopt_add_group(ref, NUMELS + first, GROUP_SIZES[g], &group);
        first += GROUP_SIZES[g];
    }
    adaopt_set_threads(ref, 1);
    if (configure(c, ref, NULL) != 0) {
        adaopt_destroy(ref);
        return NULL;
    }
    return ref;
}

/* One reference step with the average of `nranks` ranks' gradients at step s. */
static inline adaopt_status reference_step(const config *c, adaopt_optimizer *ref, float **params,
                                    float **avg, float **tmp, int s, int nranks)
{
    average_grads(c, s, nranks, avg, tmp);
    for (size_t g = 0; g < N_GROUPS; g++)
        adaopt_set(ref, g, ADAOPT_LR, lr_at(c, g, s));
    if (c->clip_type != 0)
        adaopt_clip_grad_norm(avg, NUMELS, N_TENSORS, c->clip_max, c->clip_type, NULL);
    return adaopt_step(ref, params, (const float *const *)avg, N_TENSORS);
}

static inline adaopt_status zero_step(const config *c, adaopt_zero *z, float **params, float **mine,
                               int s, int me, int nranks)
{
    rank_grads(c, s, me, nranks, mine);
    for (size_t g = 0; g < N_GROUPS; g++)
        adaopt_zero_set(z, g, ADAOPT_LR, lr_at(c, g, s));
    return adaopt_zero_step(z, params, (const float *const *)mine, N_TENSORS);
}

/* Compares this rank's shard state with the reference's slices; returns mismatches. */
/* |x - y| <= tol * max(|y|, RMS of y) for each element (the README's norm); tol 0: the bits. */
static inline int close_floats(const float *x, const float *y, size_t n, double tol)
{
    if (tol == 0.0)
        return memcmp(x, y, n * sizeof *x) == 0;
    double sq = 0.0;
    for (size_t k = 0; k < n; k++)
        sq += (double)y[k] * y[k];
    double rms = n ? sqrt(sq / (double)n) : 0.0;
    for (size_t k = 0; k < n; k++)
        if (!(fabs((double)x[k] - y[k]) <= tol * fmax(fabs((double)y[k]), rms)))
            return 0;
    return 1;
}

static inline int compare_state_within(const adaopt_zero *z, const adaopt_optimizer *ref,
                                       const char *what, double tol)
{
    const adaopt_optimizer *local = adaopt_zero_local(z);
    uint64_t off, len, at = 0;
    adaopt_zero_shard(z, &off, &len);
    int bad = 0;
    for (size_t i = 0; i < N_TENSORS; i++) {
        uint64_t lo = off > at ? off : at, hi = off + len < at + NUMELS[i] ? off + len : at + NUMELS[i];
        size_t begin = hi > lo ? (size_t)(lo - at) : 0, count = hi > lo ? (size_t)(hi - lo) : 0;
        at += NUMELS[i];
        double a, b;
        adaopt_state_scalar(local, i, ADAOPT_STATE_STEP, &a);
        adaopt_state_scalar(ref, i, ADAOPT_STATE_STEP, &b);
        if (a != b) {
            fprintf(stderr, "%s: tensor %zu step %g, reference %g\n", what, i, a, b);
            bad++;
        }
        for (int kind = ADAOPT_STATE_MOMENTUM_BUFFER; kind <= ADAOPT_STATE_AX; kind++) {
            if (kind > ADAOPT_STATE_Z && kind < ADAOPT_STATE_ACC_DELTA)
                continue; /* (scalars; Adafactor's factored arrays: test_zero.c) */
            const float *x, *y;
            size_t nx, ny;
            int hx = adaopt_state(local, i, (adaopt_state_kind)kind, &x, &nx) == ADAOPT_OK;
            int hy = adaopt_state(ref, i, (adaopt_state_kind)kind, &y, &ny) == ADAOPT_OK;
            if (hy && NUMELS[i] > 0 && !hx) {
                fprintf(stderr, "%s: tensor %zu lacks %s\n", what, i,
                        adaopt_state_name((adaopt_state_kind)kind));
                bad++;
            } else if (hx && hy && (nx != count || !close_floats(x, y + begin, count, tol))) {
                fprintf(stderr, "%s: tensor %zu %s differs from the reference\n", what, i,
                        adaopt_state_name((adaopt_state_kind)kind));
                bad++;
            }
        }
    }
    return bad;
}

static inline int compare_state(const adaopt_zero *z, const adaopt_optimizer *ref, const char *what)
{
    return compare_state_within(z, ref, what, 0.0);
}

#endif /* ZERO_COMMON_H */
