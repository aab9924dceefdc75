/*
 * lowp.c -- low precision around the float32 kernels: bf16/fp16 parameters and gradients,
 * float32 master weights, stochastic rounding, bf16 and 8-bit state (adaopt.h, "Low
 * precision"; docs/ALGORITHMS.md).
 *
 * One arithmetic kernel per algorithm, whatever the types (STYLE.md): a chunk of a low-precision
 * tensor goes through in blocks of 256 elements, each staged in float32 on the stack -- the
 * parameter (or its master copy, in place), the gradient, every state array decoded -- then the
 * float32 kernel of the chosen ISA runs on the block exactly as on a float32 tensor, and the
 * results are encoded back: state to bf16 (nearest-even) or to 8-bit codes (bitsandbytes'
 * order: absmax of the updated block, then each value / absmax quantized, with the sign fix for
 * signed maps), the parameter rounded to its type.  Blocks are aligned to the tensor (chunks are
 * multiples of 256), so an 8-bit block is always whole, and the noise of stochastic rounding is a
 * function of (seed, tensor, element, step): the same bits on any ISA, thread count or chunking.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "algorithms/algorithm.h"
#include "precision.h"

int adaopt__group_is_lowp(const adaopt_group *g)
{
    return g->param_dtype != ADAOPT_DTYPE_F32 || g->grad_dtype != ADAOPT_DTYPE_F32 ||
           g->hp[ADAOPT_STATE_STORAGE] != ADAOPT_STORAGE_F32;
}

int adaopt__storage_for(const adaopt_group *g, const adaopt_tensor *t)
{
    int storage = (int)g->hp[ADAOPT_STATE_STORAGE];
    if (storage == ADAOPT_STORAGE_8BIT && (double)t->storage_numel < g->hp[ADAOPT_MIN_8BIT_NUMEL])
        return ADAOPT_STORAGE_F32; /* small tensors: float32, as bitsandbytes */
    if (t->factored == 1)
        return ADAOPT_STORAGE_F32; /* Adafactor's factored moments: rows + cols floats */
    return t->numel == 0 ? ADAOPT_STORAGE_F32 : storage;
}

static size_t blocks_of(size_t numel)
{
    return numel / ADAOPT__BLOCK + (numel % ADAOPT__BLOCK != 0);
}

int adaopt__alloc_slot(adaopt_tensor *t, int k, int storage)
{
    size_t n = adaopt__slot_numel(t, k);
    if (storage == ADAOPT_STORAGE_F32)
        return (t->slot[k] = adaopt__alloc_state(n)) != NULL ? 0 : -1;
    size_t floats = storage == ADAOPT_STORAGE_BF16 ? n / 2 + 1 : n / 4 + 1;
    float *packed = adaopt__alloc_state(floats);
    float *absmax = storage == ADAOPT_STORAGE_8BIT ? adaopt__alloc_state(blocks_of(n)) : NULL;
    if (packed == NULL || (storage == ADAOPT_STORAGE_8BIT && absmax == NULL)) {
        adaopt__free_state(packed);
        adaopt__free_state(absmax);
        return -1;
    }
    t->packed[k] = packed;
    t->absmax[k] = absmax;
    return 0;
}

void adaopt__drop_slot(adaopt_tensor *t, int k)
{
    adaopt__free_state(t->slot[k]);
    adaopt__free_state(t->packed[k]);
    adaopt__free_state(t->absmax[k]);
    adaopt__free_state(t->view[k]);
    t->slot[k] = NULL;
    t->packed[k] = NULL;
    t->absmax[k] = NULL;
    t->view[k] = NULL;
}

/* The slots of tensors [first, first + count) that grow_slots made (slot_ready -1): kept (ready
 * 0: zero, unused until a step or a load fills them), or freed. */
void adaopt__settle_new_slots(adaopt_optimizer *opt, size_t first, size_t count, int keep)
{
    for (size_t i = first; i < first + count; i++)
        for (int s = 0; s < ADAOPT_MAX_SLOTS; s++)
            if (opt->tensors[i].slot_ready[s] == -1) {
                if (!keep)
                    adaopt__drop_slot(&opt->tensors[i], s);
                opt->tensors[i].slot_ready[s] = 0;
            }
}

adaopt_status adaopt__grow_slots_marked(adaopt_optimizer *opt, size_t first, size_t count, unsigned mask)
{
    for (size_t i = first; i < first + count; i++) {
        adaopt_tensor *t = &opt->tensors[i];
        for (int s = 0; s < ADAOPT_MAX_SLOTS; s++) {
            if (!(mask & (1u << s)) || adaopt__has_slot(t, s))
                continue;
            if (adaopt__alloc_slot(t, s, t->storage) == 0) {
                t->slot_ready[s] = -1;
                continue;
            }
            adaopt__settle_new_slots(opt, first, i + 1 - first, 0);
            return adaopt__fail(opt, ADAOPT_ERR_ALLOC,
                                "out of memory allocating state for tensor %zu (%zu elements)", i,
                                t->numel);
        }
    }
    return ADAOPT_OK;
}

adaopt_status adaopt__grow_slots(adaopt_optimizer *opt, size_t first, size_t count, unsigned mask)
{
    adaopt_status st = adaopt__grow_slots_marked(opt, first, count, mask);
    if (st == ADAOPT_OK)
        adaopt__settle_new_slots(opt, first, count, 1);
    return st;
}

void adaopt__free_tensor_state(adaopt_tensor *t)
{
    for (int k = 0; k < ADAOPT_MAX_SLOTS; k++)
        adaopt__drop_slot(t, k);
    adaopt__free_state(t->master);
    t->master = NULL;
}

int adaopt__slot_is_signed(adaopt_algorithm algorithm, int k)
{
    /* a state that can be negative takes the signed map (exp_avg, momentum_buffer, grad_avg,
     * prev, ax); second moments and step sizes the unsigned one */
    adaopt_state_kind kind = adaopt__algo(algorithm)->slot_kind[k];
    return kind != 0 && !adaopt__never_negative(kind);
}

int adaopt__ensure_qtables(adaopt_optimizer *opt)
{
    if (opt->qtables != NULL)
        return 0;
    opt->qtables = malloc(2 * sizeof *opt->qtables);
    if (opt->qtables == NULL)
        return -1;
    adaopt__qtable_init(&opt->qtables[0], 1);
    adaopt__qtable_init(&opt->qtables[1], 0);
    return 0;
}

/* ---- the scalar conversions (the reference; kernels.h's table has one set per ISA) ---- */

void adaopt_decode8_scalar(const uint8_t *code, const float *map, float absmax, float *out,
                           size_t n)
{
    for (size_t j = 0; j < n; j++)
        out[j] = map[code[j]] * absmax;
}

float adaopt_encode8_scalar(const struct adaopt__qtable *q, int is_signed, const float *in,
                            size_t n, uint8_t *code)
{
    float absmax = 0.0f;
    for (size_t j = 0; j < n; j++) { /* fmaxf(absmax, |x|): a NaN does not enter the max */
        float a = fabsf(in[j]);
        absmax = a > absmax ? a : absmax;
    }
    for (size_t j = 0; j < n; j++)
        code[j] = adaopt__encode8_one(q, is_signed, in[j], absmax);
    return absmax;
}

void adaopt_bf16_widen_scalar(const uint16_t *in, float *out, size_t n)
{
    for (size_t j = 0; j < n; j++)
        out[j] = adaopt__bf16_to_f32(in[j]);
}

void adaopt_bf16_narrow_scalar(const float *in, uint16_t *out, size_t n)
{
    for (size_t j = 0; j < n; j++)
        out[j] = adaopt__f32_to_bf16(in[j]);
}

void adaopt_bf16_narrow_sr_scalar(const float *in, uint16_t *out, size_t n, uint32_t seed,
                                  uint64_t index0)
{
    for (size_t j = 0; j < n; j++)
        out[j] = adaopt__f32_to_bf16_sr(in[j], adaopt__noise(seed, index0 + j));
}

/* ---- one block of a packed slot: decode to float32, encode from float32 ---- */

static void decode_block(const adaopt_optimizer *opt, const adaopt_tensor *t, int k, size_t at,
                         size_t n, float *out)
{
    if (t->storage == ADAOPT_STORAGE_BF16) {
        opt->kernels->lowp.bf16_widen((const uint16_t *)t->packed[k] + at, out, n);
        return;
    }
    const float *map = opt->qtables[adaopt__slot_is_signed(opt->algorithm, k) ? 0 : 1].map;
    opt->kernels->lowp.decode8((const uint8_t *)t->packed[k] + at, map,
                               t->absmax[k][at / ADAOPT__BLOCK], out, n);
}

static void encode_block(const adaopt_optimizer *opt, const adaopt_tensor *t, int k, size_t at,
                         size_t n, const float *in)
{
    if (t->storage == ADAOPT_STORAGE_BF16) {
        opt->kernels->lowp.bf16_narrow(in, (uint16_t *)t->packed[k] + at, n);
        return;
    }
    int is_signed = adaopt__slot_is_signed(opt->algorithm, k);
    t->absmax[k][at / ADAOPT__BLOCK] = opt->kernels->lowp.encode8(
        &opt->qtables[is_signed ? 0 : 1], is_signed, in, n, (uint8_t *)t->packed[k] + at);
}

void adaopt__decode_block(const adaopt_optimizer *opt, const adaopt_tensor *t, int k, size_t at,
                          size_t n, float *out)
{
    decode_block(opt, t, k, at, n, out);
}

void adaopt__encode_block(const adaopt_optimizer *opt, adaopt_tensor *t, int k, size_t at,
                          size_t n, const float *in)
{
    encode_block(opt, t, k, at, n, in);
}

void adaopt__read_slot(const adaopt_optimizer *opt, const adaopt_tensor *t, int k, float *out)
{
    if (t->storage == ADAOPT_STORAGE_F32) {
        memcpy(out, t->slot[k], adaopt__slot_numel(t, k) * sizeof *out);
        return;
    }
    size_t total = adaopt__slot_numel(t, k); /* (numel, but for Adafactor's slots) */
    for (size_t at = 0; at < total; at += ADAOPT__BLOCK) {
        size_t n = total - at < ADAOPT__BLOCK ? total - at : ADAOPT__BLOCK;
        decode_block(opt, t, k, at, n, out + at);
    }
}

void adaopt__write_slot(const adaopt_optimizer *opt, adaopt_tensor *t, int k, const float *in)
{
    if (t->storage == ADAOPT_STORAGE_F32) {
        memcpy(t->slot[k], in, adaopt__slot_numel(t, k) * sizeof *in);
        return;
    }
    size_t total = adaopt__slot_numel(t, k); /* (numel, but for Adafactor's slots) */
    for (size_t at = 0; at < total; at += ADAOPT__BLOCK) {
        size_t n = total - at < ADAOPT__BLOCK ? total - at : ADAOPT__BLOCK;
        encode_block(opt, t, k, at, n, in + at);
    }
}

void adaopt__fill_slot(const adaopt_optimizer *opt, adaopt_tensor *t, int k, float v)
{
    if (t->storage == ADAOPT_STORAGE_F32) {
        for (size_t j = 0; j < adaopt__slot_numel(t, k); j++)
            t->slot[k][j] = v;
        return;
    }
    float block[ADAOPT__BLOCK];
    for (int j = 0; j < ADAOPT__BLOCK; j++)
        block[j] = v;
    size_t total = adaopt__slot_numel(t, k); /* (numel, but for Adafactor's slots) */
    for (size_t at = 0; at < total; at += ADAOPT__BLOCK) {
        size_t n = total - at < ADAOPT__BLOCK ? total - at : ADAOPT__BLOCK;
        encode_block(opt, t, k, at, n, block);
    }
}

const float *adaopt__slot_floats(const adaopt_optimizer *opt, adaopt_tensor *t, int k)
{
    if (t->storage == ADAOPT_STORAGE_F32)
        return t->slot[k];
    if (t->view[k] == NULL && (t->view[k] = adaopt__alloc_state(t->numel)) == NULL)
        return NULL;
    adaopt__read_slot(opt, t, k, t->view[k]);
    return t->view[k];
}

/* ---- parameters and gradients ---- */

static void widen(const adaopt_optimizer *opt, int dtype, const void *src, size_t at, size_t n,
                  float *out)
{
    const uint16_t *h = (const uint16_t *)src + at;
    if (dtype == ADAOPT_DTYPE_BF16)
        opt->kernels->lowp.bf16_widen(h, out, n);
    else
        for (size_t j = 0; j < n; j++)
            out[j] = adaopt__f16_to_f32(h[j]);
}

static void narrow(const adaopt_optimizer *opt, int dtype, int stochastic, const float *in,
                   size_t at, size_t n, void *dst, uint32_t noise_seed, uint64_t noise_base)
{
    uint16_t *h = (uint16_t *)dst + at;
    uint64_t index = noise_base + at; /* the element's index in its whole tensor */
    if (dtype == ADAOPT_DTYPE_BF16) {
        if (stochastic)
            opt->kernels->lowp.bf16_narrow_sr(in, h, n, noise_seed, index);
        else
            opt->kernels->lowp.bf16_narrow(in, h, n);
    } else {
        if (stochastic)
            for (size_t j = 0; j < n; j++)
                h[j] = adaopt__f32_to_f16_sr(in[j], adaopt__noise(noise_seed, index + j));
        else
            for (size_t j = 0; j < n; j++)
                h[j] = adaopt__f32_to_f16(in[j]);
    }
}

void adaopt__widen(const adaopt_optimizer *opt, int dtype, const void *src, size_t at, size_t n,
                   float *out)
{
    widen(opt, dtype, src, at, n, out);
}

void adaopt__narrow(const adaopt_optimizer *opt, int dtype, int stochastic, const float *in,
                    size_t at, size_t n, void *dst, uint32_t noise_seed, uint64_t noise_base)
{
    narrow(opt, dtype, stochastic, in, at, n, dst, noise_seed, noise_base);
}

void adaopt__fill_master(const adaopt_optimizer *opt, adaopt_tensor *t, const void *param)
{
    widen(opt, opt->groups[t->group].param_dtype, param, 0, t->numel, t->master);
}

void adaopt__step_staged(const adaopt_optimizer *opt, size_t i, void *param, const void *grad,
                         int grad_dtype, size_t begin, size_t end, uint32_t noise_seed,
                         const float *grad_factor)
{
    const adaopt_tensor *t = &opt->tensors[i];
    const adaopt_group *g = &opt->groups[t->group];
    const adaopt_coeffs *c = &opt->coeffs[i];
    adaopt_kernel_fn kernel = opt->kernels->by_algorithm[opt->algorithm];
    int pd = g->param_dtype, gd = grad_dtype, update = (int)g->hp[ADAOPT_PARAM_UPDATE];
    int stochastic = update == ADAOPT_UPDATE_MASTER_SR || update == ADAOPT_UPDATE_SR;
    float pbuf[ADAOPT__BLOCK], gbuf[ADAOPT__BLOCK], sbuf[ADAOPT_MAX_SLOTS][ADAOPT__BLOCK];
    for (size_t at = begin; at < end; at += ADAOPT__BLOCK) {
        size_t n = end - at < ADAOPT__BLOCK ? end - at : ADAOPT__BLOCK;
        float *p;
        if (t->master != NULL) { /* updated in place; filled from the parameter at first */
            p = t->master + at;
            if (!t->master_ready)
                widen(opt, pd, param, at, n, p);
        } else if (pd == ADAOPT_DTYPE_F32) {
            p = (float *)param + at;
        } else {
            widen(opt, pd, param, at, n, pbuf);
            p = pbuf;
        }
        const float *gr = (const float *)grad + (at - begin);
        if (gd != ADAOPT_DTYPE_F32) {
            widen(opt, gd, grad, at - begin, n, gbuf);
            gr = gbuf;
        }
        if (grad_factor != NULL) { /* the fused unscale / clipping coefficient */
            for (size_t j = 0; j < n; j++)
                gbuf[j] = gr[j] * *grad_factor;
            gr = gbuf;
        }
        float *s[ADAOPT_MAX_SLOTS];
        for (int k = 0; k < ADAOPT_MAX_SLOTS; k++) {
            s[k] = NULL;
            if (t->slot[k] != NULL) {
                s[k] = t->slot[k] + at;
            } else if (t->packed[k] != NULL) {
                decode_block(opt, t, k, at, n, sbuf[k]);
                s[k] = sbuf[k];
            }
        }
        kernel(c, p, gr, s[0], s[1], s[2], n);
        for (int k = 0; k < ADAOPT_MAX_SLOTS; k++)
            if (t->packed[k] != NULL)
                encode_block(opt, t, k, at, n, sbuf[k]);
        if (pd != ADAOPT_DTYPE_F32)
            narrow(opt, pd, stochastic, p, at, n, param, noise_seed, t->noise_base);
    }
}

/* ---- LAMB's two passes over low-precision parameters or state ---- */

/* The float32 parameters of block [at, at + n): the master (filled from the parameter at first),
 * the float32 parameter itself, or the 16-bit one widened into buf. */
static float *staged_param(const adaopt_optimizer *opt, const adaopt_tensor *t, void *param,
                           size_t at, size_t n, float *buf)
{
    int pd = opt->groups[t->group].param_dtype;
    if (t->master != NULL) {
        if (!t->master_ready)
            widen(opt, pd, param, at, n, t->master + at);
        return t->master + at;
    }
    if (pd == ADAOPT_DTYPE_F32)
        return (float *)param + at;
    widen(opt, pd, param, at, n, buf);
    return buf;
}

/* Block [at, at + n) of tensor i: its float32 parameters and gradient, and the moments after
 * this step's update in m, v (float32 state: in place; bf16/8-bit state: decoded copies, which
 * the caller encodes or drops), adding the squares into acc. */
static float *lamb_block(const adaopt_optimizer *opt, size_t i, void *param, const void *grad,
                         size_t at, size_t n, float *pbuf, float *m, float *v, float **mp,
                         float **vp, double *acc)
{
    const adaopt_tensor *t = &opt->tensors[i];
    int gd = opt->groups[t->group].grad_dtype;
    float gbuf[ADAOPT__BLOCK];
    float *p = staged_param(opt, t, param, at, n, pbuf);
    const float *g = (const float *)grad + at;
    if (gd != ADAOPT_DTYPE_F32) {
        widen(opt, gd, grad, at, n, gbuf);
        g = gbuf;
    }
    if (t->storage == ADAOPT_STORAGE_F32) {
        *mp = t->slot[0] + at;
        *vp = t->slot[1] + at;
    } else {
        decode_block(opt, t, 0, at, n, m);
        decode_block(opt, t, 1, at, n, v);
        *mp = m;
        *vp = v;
    }
    opt->kernels->lamb_moments(&opt->coeffs[i], p, g, *mp, *vp, NULL, n, acc);
    return p;
}

void adaopt__lamb_staged_moments(const adaopt_optimizer *opt, size_t i, void *param,
                                 const void *grad, size_t begin, size_t end, double *acc)
{
    float pbuf[ADAOPT__BLOCK], m[ADAOPT__BLOCK], v[ADAOPT__BLOCK], *mp, *vp;
    for (size_t at = begin; at < end; at += ADAOPT__BLOCK) {
        size_t n = end - at < ADAOPT__BLOCK ? end - at : ADAOPT__BLOCK;
        /* (packed state: the updated moments are dropped here, and remade from the stored
         * ones in the second pass -- the same bits -- so that the step uses the unrounded
         * moments the norms were taken from, and only the stored copy is rounded) */
        lamb_block(opt, i, param, grad, at, n, pbuf, m, v, &mp, &vp, acc);
    }
}

void adaopt__lamb_staged_apply(const adaopt_optimizer *opt, size_t i, void *param,
                               const void *grad, size_t begin, size_t end, uint32_t noise_seed)
{
    adaopt_tensor *t = (adaopt_tensor *)&opt->tensors[i];
    const adaopt_group *g = &opt->groups[t->group];
    int pd = g->param_dtype, update = (int)g->hp[ADAOPT_PARAM_UPDATE];
    int stochastic = update == ADAOPT_UPDATE_MASTER_SR || update == ADAOPT_UPDATE_SR;
    int packed = t->storage != ADAOPT_STORAGE_F32;
    float pbuf[ADAOPT__BLOCK], m[ADAOPT__BLOCK], v[ADAOPT__BLOCK], *mp = NULL, *vp = NULL;
    double unused[2 * ADAOPT_LAMB_LANES];
    for (size_t at = begin; at < end; at += ADAOPT__BLOCK) {
        size_t n = end - at < ADAOPT__BLOCK ? end - at : ADAOPT__BLOCK;
        float *p;
        if (packed) { /* the first pass's moments again, stored rounded, used unrounded */
            p = lamb_block(opt, i, param, grad, at, n, pbuf, m, v, &mp, &vp, unused);
            encode_block(opt, t, 0, at, n, m);
            encode_block(opt, t, 1, at, n, v);
        } else {
            p = staged_param(opt, t, param, at, n, pbuf);
            mp = t->slot[0] + at;
            vp = t->slot[1] + at;
        }
        /* (the kernel reads no gradient: the parameter's block stands in as a valid pointer) */
        opt->kernels->by_algorithm[ADAOPT_ALGO_LAMB](&opt->coeffs[i], p, p, mp, vp, NULL, n);
        if (pd != ADAOPT_DTYPE_F32)
            narrow(opt, pd, stochastic, p, at, n, param, noise_seed, t->noise_base);
    }
}

/* ---- the norm of gradients of any type (adaopt_grad_norm) ---- */

/* part[k % 8] += |g|^p of element k, as clip.c's adaopt__sum_pow groups them; max |g| and NaN. */
typedef struct norm_acc {
    double part[8];
    float max;
    int nan;
} norm_acc;

static void accumulate(norm_acc *a, const float *g, size_t n, size_t first, int squares)
{
    for (size_t j = 0; j < n; j++) {
        double v = (double)g[j];
        a->part[(first + j) % 8] += squares ? v * v : fabs(v);
        float x = fabsf(g[j]);
        a->max = x > a->max ? x : a->max;
        a->nan |= x != x;
    }
}

adaopt_status adaopt_grad_norm(const adaopt_optimizer *opt, const void *const *grads,
                               size_t n_tensors, double norm_type, double *norm)
{
    adaopt_optimizer *o = (adaopt_optimizer *)opt;
    if (opt == NULL)
        return ADAOPT_ERR_NULL;
    if (grads == NULL || norm == NULL)
        return adaopt__fail(o, ADAOPT_ERR_NULL, "grad_norm: grads and norm must not be NULL");
    if (n_tensors != opt->n_tensors)
        return adaopt__fail(o, ADAOPT_ERR_SIZE, "grad_norm: got %zu tensors, the optimizer has %zu",
                            n_tensors, opt->n_tensors);
    int inf_norm = isinf(norm_type) && norm_type > 0;
    if (!inf_norm && norm_type != 1.0 && norm_type != 2.0)
        return adaopt__fail(o, ADAOPT_ERR_VALUE, "grad_norm: norm_type must be 1, 2 or INFINITY "
                            "(got %g)", norm_type);
    double acc = 0.0;
    for (size_t i = 0; i < n_tensors; i++) {
        if (grads[i] == NULL)
            continue;
        const adaopt_tensor *t = &opt->tensors[i];
        int gd = opt->groups[t->group].grad_dtype;
        if (gd == ADAOPT_DTYPE_F32) { /* clip.c's own passes: the same bits */
            const float *g = grads[i];
            acc = inf_norm ? adaopt__max_abs(g, t->numel, acc)
                           : adaopt__sum_pow(g, t->numel, norm_type == 2.0, acc);
            continue;
        }
        norm_acc a;
        memset(&a, 0, sizeof a);
        float block[ADAOPT__BLOCK];
        for (size_t at = 0; at < t->numel; at += ADAOPT__BLOCK) {
            size_t n = t->numel - at < ADAOPT__BLOCK ? t->numel - at : ADAOPT__BLOCK;
            widen(opt, gd, grads[i], at, n, block);
            accumulate(&a, block, n, at, norm_type == 2.0);
        }
        if (inf_norm)
            acc = (a.nan || acc != acc) ? NAN : ((double)a.max > acc ? (double)a.max : acc);
        else
            acc += ((a.part[0] + a.part[1]) + (a.part[2] + a.part[3])) +
                   ((a.part[4] + a.part[5]) + (a.part[6] + a.part[7]));
    }
    *norm = (inf_norm || norm_type == 1.0) ? acc : sqrt(acc);
    return ADAOPT_OK;
}
