/*
 * lamb.c -- LAMB's step beyond its kernels: the per-step coefficients, and the two passes over
 * every tensor with the per-tensor norms between them.  docs/ALGORITHMS.md, "LAMB", has the
 * formulas; the kernels are lamb_moments and lamb_apply in src/kernels/.
 *
 * The norms must not depend on the thread count or the ISA: each chunk's sums of p^2 and u^2
 * are taken in double into 16 accumulators (element j of each 256-element block into
 * accumulator j % 16, adaopt__sumsq16: the same additions in the same order on every ISA),
 * added in order, and the chunks' sums are added in chunk order by one thread.
 */
#include <math.h>
#include <string.h>

#include "algorithm.h"
#include "../precision.h"

#ifdef _OPENMP
#include <omp.h>
#endif

void adaopt__lamb_coeffs(adaopt_coeffs *c, const double *hp, uint64_t t)
{
    memset(c, 0, sizeof *c);
    double lr = hp[ADAOPT_LR], wd = hp[ADAOPT_WEIGHT_DECAY], beta1 = hp[ADAOPT_BETA1];
    int decouple = hp[ADAOPT_WEIGHT_DECOUPLE] != 0.0;
    c->maximize = hp[ADAOPT_MAXIMIZE] != 0.0;
    c->beta1 = (float)beta1;
    c->lamb_beta3 = (float)(hp[ADAOPT_GRAD_AVERAGING] != 0.0 ? 1.0 - beta1 : 1.0);
    c->beta2 = (float)hp[ADAOPT_BETA2];
    c->one_minus_beta2 = (float)(1.0 - hp[ADAOPT_BETA2]);
    c->eps = (float)hp[ADAOPT_EPS];
    c->decoupled = decouple && wd != 0.0;
    c->decay_factor = (float)(1.0 - wd * (hp[ADAOPT_FIXED_DECAY] != 0.0 ? 1.0 : lr));
    c->lamb_wd = !decouple && wd > 0.0 ? (float)wd : 0.0f;
    c->neg_step_size = (float)-(lr / (1.0 - pow(beta1, (double)t))); /* lr / bc1 */
    c->trust = 1.0f;
}

int adaopt__lamb_update(adaopt_optimizer *opt, void *const *params, const void *const *grads,
                        size_t work)
{
    const adaopt_chunk *chunks = opt->chunks;
    const adaopt_tensor *tensors = opt->tensors;
    adaopt_coeffs *coeffs = opt->coeffs;
    double *sums = opt->chunk_sums;
    void (*moments)(const adaopt_coeffs *, const float *, const float *, float *, float *,
                    float *, size_t, double *) = opt->kernels->lamb_moments;
    int overwrite = opt->overwrite_grads;
    adaopt_kernel_fn apply = opt->kernels->by_algorithm[ADAOPT_ALGO_LAMB];
    long n_chunks = (long)opt->n_chunks;
    int threads = (int)opt->threads;
    (void)threads;
    (void)work;

    /* 1. Moments, and each chunk's sums of p^2 and u^2 (16 accumulators each, added in order);
     * with overwrite_grads, u into the gradient (float32 groups; staged ones never write it). */
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1 && work >= 2 * ADAOPT_CHUNK_ELEMS)
#endif
    for (long k = 0; k < n_chunks; k++) {
        const adaopt_chunk *ch = &chunks[k];
        if (grads[ch->tensor] == NULL)
            continue;
        const adaopt_tensor *t = &tensors[ch->tensor];
        size_t b = ch->begin;
        double acc[2 * ADAOPT_LAMB_LANES] = {0};
        if (adaopt__group_is_lowp(&opt->groups[t->group]))
            adaopt__lamb_staged_moments(opt, ch->tensor, params[ch->tensor], grads[ch->tensor], b,
                                        ch->end, acc);
        else
            moments(&coeffs[ch->tensor], (const float *)params[ch->tensor] + b,
                    (const float *)grads[ch->tensor] + b, t->slot[0] + b, t->slot[1] + b,
                    overwrite ? (float *)grads[ch->tensor] + b : NULL, ch->end - b, acc);
        double sp = 0.0, su = 0.0;
        for (int j = 0; j < ADAOPT_LAMB_LANES; j++) {
            sp += acc[j];
            su += acc[ADAOPT_LAMB_LANES + j];
        }
        sums[2 * k] = sp;
        sums[2 * k + 1] = su;
    }

    /* 2. Per tensor, in chunk order: the norms and the trust ratio (in float, as the reference's
     * float32 tensors compute them).  Under ZeRO the chunks of a tensor are on several ranks:
     * the exchange adds them all, in the same order. */
    double *tensor_sums = opt->tensor_sums;
    if (opt->lamb_exchange != NULL) {
        if (opt->lamb_exchange(opt->lamb_ctx, opt, sums, tensor_sums) != 0)
            return -1;
    } else {
        for (size_t k = 0; k < opt->n_chunks;) {
            size_t i = chunks[k].tensor;
            double sp = 0.0, su = 0.0;
            for (; k < opt->n_chunks && chunks[k].tensor == i; k++) {
                sp += sums[2 * k];
                su += sums[2 * k + 1];
            }
            tensor_sums[2 * i] = sp;
            tensor_sums[2 * i + 1] = su;
        }
    }
    for (size_t i = 0; i < opt->n_tensors; i++) {
        double sp = tensor_sums[2 * i], su = tensor_sums[2 * i + 1];
        if (grads[i] == NULL)
            continue;
        adaopt_tensor *t = &opt->tensors[i];
        const double *hp = opt->groups[t->group].hp;
        float clamp = (float)hp[ADAOPT_CLAMP], eps = (float)hp[ADAOPT_EPS];
        float wn = (float)sqrt(sp), un = (float)sqrt(su);
        wn = wn > clamp ? clamp : wn; /* clamp_(max=): NaN stays NaN */
        float trust = wn != 0.0f && un != 0.0f ? wn / (un + eps) : 1.0f;
        t->scalars[0] = wn;
        t->scalars[1] = un;
        t->scalars[2] = trust;
        coeffs[i].trust = hp[ADAOPT_ADAM_UPDATE] != 0.0 ? 1.0f : trust;
        coeffs[i].lamb_u_in_grad = overwrite && !adaopt__group_is_lowp(&opt->groups[t->group]);
    }

    /* 3. p moves along u, scaled by the trust ratio: the decay and u recomputed from p, m, v (no
     * pass writes anything but p here and m, v above, 40 bytes per element in all), or, with
     * overwrite_grads, u read back from g: 40 bytes either way (the first pass then writes g),
     * but 6 arrays read instead of 7, and reads are what a step waits for). */
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1 && work >= 2 * ADAOPT_CHUNK_ELEMS)
#endif
    for (long c = 0; c < n_chunks; c++) {
        const adaopt_chunk *ch = &chunks[c];
        if (grads[ch->tensor] == NULL)
            continue;
        const adaopt_tensor *t = &tensors[ch->tensor];
        size_t b = ch->begin;
        if (adaopt__group_is_lowp(&opt->groups[t->group])) {
            uint32_t seed = adaopt__noise_seed(opt->rounding_seed, ch->tensor, t->step + 1);
            adaopt__lamb_staged_apply(opt, ch->tensor, params[ch->tensor], grads[ch->tensor], b,
                                      ch->end, seed);
            continue;
        }
        /* (the gradient is read only where it holds u: lamb_u_in_grad) */
        apply(&coeffs[ch->tensor], (float *)params[ch->tensor] + b,
              (const float *)grads[ch->tensor] + b, t->slot[0] + b, t->slot[1] + b, NULL,
              ch->end - b);
    }
    return 0;
}

/* ---- the row ---- */

static const adaopt__option_default OPTIONS[] = {
    {ADAOPT_LR, 1e-3},           {ADAOPT_BETA1, 0.9},        {ADAOPT_BETA2, 0.999},
    {ADAOPT_EPS, 1e-6}, /* pytorch-optimizer */
    {ADAOPT_WEIGHT_DECAY, 0.0},  {ADAOPT_WEIGHT_DECOUPLE, 1.0}, {ADAOPT_FIXED_DECAY, 0.0},
    {ADAOPT_GRAD_AVERAGING, 1.0}, {ADAOPT_ADAM_UPDATE, 0.0},  {ADAOPT_CLAMP, 10.0},
    {0, 0.0}};

static void begin_step(adaopt_group *g)
{
    g->steps++; /* pytorch-optimizer: group['step'] += 1 */
}

static void coeffs(adaopt_coeffs *c, const adaopt__algorithm *a, const adaopt_group *g,
                   const adaopt_tensor *t, const double *hp,
                   const adaopt_step_scalars *s, int slot0_ready)
{
    (void)t;
    (void)a;
    (void)s;
    (void)slot0_ready;
    adaopt__lamb_coeffs(c, hp, g->steps);
}

/* lr / bc1 times the last trust ratio, over the denominator; bc1 of the group's t */
static adaopt_status effective_lr(const adaopt__lr_query *q, float *out, size_t n)
{
    const double *hp = q->hp;
    double trust = hp[ADAOPT_ADAM_UPDATE] != 0.0 ? 1.0 : q->t->scalars[2];
    uint64_t gk = q->opt->groups[q->t->group].steps;
    double bc1 = 1.0 - pow(hp[ADAOPT_BETA1], (double)(gk > 0 ? gk : 1));
    for (size_t k = 0; k < n; k++)
        out[k] = (float)(hp[ADAOPT_LR] / bc1 * trust / (sqrt(q->slot[1][k]) + hp[ADAOPT_EPS]));
    return ADAOPT_OK;
}

const adaopt__algorithm adaopt__lamb_row = {
    .name = "lamb",
    .options = OPTIONS,
    .slot_kind = {ADAOPT_STATE_EXP_AVG, ADAOPT_STATE_EXP_AVG_SQ},
    .slots = adaopt__slots01,
    .decay = ADAOPT__DECAY_OWN,
    .counts_per_group = 1,
    .tensor_scalars = {ADAOPT_STATE_WEIGHT_NORM, ADAOPT_STATE_ADAM_NORM,
                       ADAOPT_STATE_TRUST_RATIO},
    .no_sparse = ADAOPT__NO_SPARSE_WHOLE_TENSOR,
    .begin_step = begin_step,
    .min_format_version = 3, /* (its group step count came with version 3) */
    .group_record = ADAOPT__GROUP_RECORD_COUNT,
    .tensor_record = ADAOPT__TENSOR_RECORD_SCALARS,
    .shard = ADAOPT__SHARD_CHUNKS,
    .scalars = adaopt__adam_scalars,
    .coeffs = coeffs,
    .update = adaopt__lamb_update,
    .update_failure = "the exchange of LAMB's norms between ranks failed (MPI); the moments "
                      "have moved, the parameters not: reload a checkpoint",
    .effective_lr = effective_lr,
};
