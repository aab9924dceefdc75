/*
 * adafactor.c -- Adafactor (torch.optim.Adafactor, PyTorch >= 2.5, its single-tensor path, the
 * one torch runs on the CPU): the step, and its row.  Shapes and units: adafactor_shape.c.  docs/ALGORITHMS.md, "Adafactor",
 * has the formulas.
 *
 * The step makes three passes over all tensors (a vector skips the first): (1) row_var and
 * col_var from the row and column sums of g^2, and the squares of p; (2) the norm of the update
 * u; (3) p moves by u.  Under ZeRO the ranks exchange after (1) (the column sums of matrices
 * they share) and after (2) (the norms).  The sums are in double, in an order fixed by the shape
 * alone ("Units" in adafactor_shape.c: 16 accumulators per row, rows in order within a unit, units in order),
 * so neither the thread count nor the ZeRO layout changes a bit.  The float operations between
 * the reductions are torch's, in its order.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "adafactor.h"
#include "../precision.h"

/* A float32 norm from a sum of squares in double (torch's norm is a float32 tensor). */
static inline float norm_of(double sum_sq)
{
    return (float)sqrt(sum_sq);
}

/* The update's factor alpha / denom from the sums of squares of p (before the decay) and of u:
 * alpha = max(eps2, ||p|| / numel**0.5) rho (Python's max keeps a NaN norm) and denom =
 * max(1, ||u|| / (numel**0.5 d)); the norms as float32, as torch's tensors hold them. */
static double update_scale(const double *hp, double p_sq, double u_sq, size_t n, double rho)
{
    double rms = n ? (double)norm_of(p_sq) / pow((double)n, 0.5) : 0.0;
    double alpha = (rms > hp[ADAOPT_EPS2] || rms != rms ? rms : hp[ADAOPT_EPS2]) * rho;
    return alpha / fmax(1.0, (double)norm_of(u_sq) / (pow((double)n, 0.5) * hp[ADAOPT_D]));
}


enum { PIECE = 256 }; /* elements per block of a row or chunk (a multiple of 16) */

/* Where one tensor's float32 parameters and gradients come from, block by block: the arrays
 * themselves (float32), the master weights (filled from the parameter at first), or bf16/fp16
 * widened into the caller's buffer; and where an updated block goes (rounded into a 16-bit
 * parameter as param_update says). */
typedef struct af_io {
    const adaopt_optimizer *opt;
    adaopt_tensor *t;
    void *param;
    const void *grad;
    int pd, gd, stochastic;
    uint32_t seed;
    int u_in_grad; /* adaopt_set_overwrite_grads (float32 groups): pass 2 stores u over g */
} af_io;

static float *io_param(const af_io *io, size_t at, size_t n, float *buf)
{
    if (io->t->master != NULL) {
        if (!io->t->master_ready)
            adaopt__widen(io->opt, io->pd, io->param, at, n, io->t->master + at);
        return io->t->master + at;
    }
    if (io->pd == ADAOPT_DTYPE_F32)
        return (float *)io->param + at;
    adaopt__widen(io->opt, io->pd, io->param, at, n, buf);
    return buf;
}

static const float *io_grad(const af_io *io, size_t at, size_t n, float *buf)
{
    if (io->gd == ADAOPT_DTYPE_F32)
        return (const float *)io->grad + at;
    adaopt__widen(io->opt, io->gd, io->grad, at, n, buf);
    return buf;
}

static void io_store(const af_io *io, const float *p, size_t at, size_t n)
{
    if (io->pd != ADAOPT_DTYPE_F32)
        adaopt__narrow(io->opt, io->pd, io->stochastic, p, at, n, io->param, io->seed,
                       io->t->noise_base);
}

/* The sums of the squares of u over elements [at, at + n): a matrix row (col != NULL) or a
 * piece of a vector (var != NULL, updated by the lerp). */
static double sum_u_squares(const af_io *io, const adaopt_af_row *a, size_t at, const float *col,
                            float *var, size_t n)
{
    const adaopt_af_fns *fn = &io->opt->kernels->adafactor;
    double acc[ADAOPT_LAMB_LANES] = {0}, sum = 0.0;
    float ubuf[PIECE], gbuf[PIECE];
    for (size_t i = 0; i < n; i += PIECE) {
        size_t len = n - i < PIECE ? n - i : PIECE;
        const float *g = io_grad(io, at + i, len, gbuf);
        float *u = io->u_in_grad ? (float *)io->grad + at + i : ubuf; /* (g read, then u) */
        if (col != NULL)
            fn->matrix_u(a, g, col + i, u, len);
        else
            fn->vector_u(a, g, var + i, u, len);
        adaopt__sumsq16(u, len, acc);
    }
    for (int j = 0; j < ADAOPT_LAMB_LANES; j++)
        sum += acc[j];
    return sum;
}

/* p = fma(u, step, p decayed) over elements [at, at + n), block by block: u recomputed, or read
 * from g where pass 2 left it. */
static void apply_blocks(const af_io *io, const adaopt_af_row *a, size_t at, const float *col,
                         const float *var, size_t n)
{
    const adaopt_af_fns *fn = &io->opt->kernels->adafactor;
    if (io->u_in_grad) { /* (float32 parameters and gradients: no blocks to stage) */
        fn->apply_u(a, (float *)io->param + at, (const float *)io->grad + at, n);
        return;
    }
    float pbuf[PIECE], gbuf[PIECE];
    for (size_t i = 0; i < n; i += PIECE) {
        size_t len = n - i < PIECE ? n - i : PIECE;
        float *p = io_param(io, at + i, len, pbuf);
        const float *g = io_grad(io, at + i, len, gbuf);
        if (col != NULL)
            fn->matrix_apply(a, p, g, col + i, len);
        else
            fn->vector_apply(a, p, g, var + i, len);
        io_store(io, p, at + i, len);
    }
}

/* Tensor ti's step: its rho, lerp weight, decay and sign, and where its blocks come from. */
typedef struct af_tensor_step {
    af_io io;
    adaopt_af_row a;
    double rho;
} af_tensor_step;

static af_tensor_step tensor_step(const adaopt_optimizer *opt, size_t ti, void *param,
                                  const void *grad)
{
    adaopt_tensor *t = &opt->tensors[ti];
    const adaopt_group *grp = &opt->groups[t->group];
    const double *hp = grp->hp;
    int update = (int)hp[ADAOPT_PARAM_UPDATE];
    af_tensor_step ts;
    memset(&ts, 0, sizeof ts);
    ts.io = (af_io){opt, t, param, grad, grp->param_dtype, grp->grad_dtype,
                    update == ADAOPT_UPDATE_MASTER_SR || update == ADAOPT_UPDATE_SR,
                    adaopt__noise_seed(opt->rounding_seed, ti, t->step + 1),
                    opt->overwrite_grads && !adaopt__group_is_lowp(grp)};
    double td = (double)(t->step + 1), lr = hp[ADAOPT_LR], eps1 = hp[ADAOPT_EPS1];
    ts.rho = fmin(lr, 1.0 / pow(td, 0.5)); /* min(lr, 1 / step**0.5) */
    ts.a.w = (float)pow(td, hp[ADAOPT_BETA2_DECAY]); /* 1 - beta2_t = step**beta2_decay */
    ts.a.eps1_sq = (float)(eps1 * eps1);
    ts.a.sign = hp[ADAOPT_MAXIMIZE] != 0.0 ? -1.0f : 1.0f;
    ts.a.decay = (float)(1.0 - lr * hp[ADAOPT_WEIGHT_DECAY]);
    ts.a.decayed = hp[ADAOPT_WEIGHT_DECAY] != 0.0;
    return ts;
}

/* Rows [ga, gb) of one matrix (global row numbers; the piece starts at row g0): row_var moves
 * toward each row's mean of g^2; part[0 .. C) gains the columns' g^2 and part[C] the new
 * row_var, each in row order; *p_sq gains each row's sum of p^2, in row order. */
static void rows_pass(const af_tensor_step *ts, size_t ga, size_t gb, double *part,
                      double *p_sq)
{
    const adaopt_tensor *t = ts->io.t;
    size_t C = t->fac_cols, g0 = t->fac_row0;
    float *row_var = t->slot[0];
    float pbuf[PIECE], gbuf[PIECE];
    void (*row_sums)(const float *, const float *, size_t, double *, double *, double *) =
        ts->io.opt->kernels->adafactor.row_sums;
    for (size_t g = ga; g < gb; g++) {
        double acc_g[ADAOPT_LAMB_LANES] = {0}, acc_p[ADAOPT_LAMB_LANES] = {0};
        for (size_t c = 0; c < C; c += PIECE) { /* (maximize: the same squares) */
            size_t len = C - c < PIECE ? C - c : PIECE, at = (g - g0) * C + c;
            row_sums(io_grad(&ts->io, at, len, gbuf), io_param(&ts->io, at, len, pbuf), len,
                     acc_g, acc_p, part + c);
        }
        double rg = 0.0, rp = 0.0;
        for (int j = 0; j < ADAOPT_LAMB_LANES; j++) {
            rg += acc_g[j];
            rp += acc_p[j];
        }
        /* the variance: the norm (a float), squared, over the count; lerp toward it */
        float nrm = norm_of(rg);
        float *rv = &row_var[g - g0];
        *rv = adaopt__lerp(*rv, nrm * nrm / (float)C, ts->a.w);
        part[C] += *rv;
        *p_sq += rp;
    }
}

/* Matrix b's col_var moves toward its column sums: the S segments' partials (each C + 1
 * doubles) added in segment order. */
static void finish_columns(const af_tensor_step *ts, size_t b, const double *parts, size_t S)
{
    const adaopt_tensor *t = ts->io.t;
    size_t R = t->fac_rows, C = t->fac_cols;
    float *col_var = t->slot[1] + (b - t->fac_row0 / R) * C;
    for (size_t c = 0; c < C; c++) {
        double sum = 0.0;
        for (size_t s = 0; s < S; s++)
            sum += parts[s * (C + 1) + c];
        float nrm = norm_of(sum);
        col_var[c] = adaopt__lerp(col_var[c], nrm * nrm / (float)R, ts->a.w);
    }
}

/* The clamped mean of a row_var sum (row_var.mean(dim=-2).clamp_(min=eps1)). */
static float clamped_mean(double sum, size_t R, float eps1)
{
    float mean = (float)(sum / (double)R);
    return mean < eps1 ? eps1 : mean;
}

/* The piece's first (edge 0) or last (edge 1) matrix. */
static size_t edge_matrix(const adaopt_tensor *t, int e)
{
    size_t R = t->fac_rows;
    return e == 0 ? t->fac_row0 / R : (t->fac_row0 + t->numel / t->fac_cols - 1) / R;
}

/* Which edge holds matrix b, if the piece holds it in part: 0 or 1; else -1. */
static int edge_index(const adaopt_tensor *t, size_t b)
{
    if (b == edge_matrix(t, 0) && t->af_cut[0])
        return 0;
    if (b == edge_matrix(t, 1) && t->af_cut[1])
        return 1;
    return -1;
}

/* Matrix b's clamped row_var mean: a matrix held in part, from its edge; one held whole, from
 * its rows, segment by segment as the edges add them. */
static float matrix_mean(const adaopt_tensor *t, size_t b, float eps1)
{
    size_t R = t->fac_rows, g0 = t->fac_row0;
    int e = edge_index(t, b);
    if (e >= 0)
        return t->af_edge_mean[e];
    size_t S = adaopt__af_segments(R, t->fac_cols);
    const float *rv = t->slot[0] + (b * R - g0);
    double sum = 0.0;
    for (size_t s = 0; s < S; s++) {
        double part = 0.0;
        for (size_t r = adaopt__af_segment_row(R, S, s); r < adaopt__af_segment_row(R, S, s + 1); r++)
            part += rv[r];
        sum += part;
    }
    return clamped_mean(sum, R, eps1);
}

double *adaopt__af_edge(const adaopt_tensor *t, size_t b)
{
    int e = edge_index(t, b);
    return e < 0 ? NULL
                 : t->af_edge + (size_t)e * adaopt__af_segments(t->fac_rows, t->fac_cols) *
                                    (t->fac_cols + 1);
}

/* Pass 1 of a factored piece: row_var, col_var (of the matrices it holds whole; the edges'
 * partials of the others), and each unit's sum of p^2 in sums[2 k]. */
static void factored_pass1(const adaopt_optimizer *opt, const af_tensor_step *ts, double *sums)
{
    const adaopt_tensor *t = ts->io.t;
    size_t R = t->fac_rows, C = t->fac_cols, S = adaopt__af_segments(R, C);
    const size_t *ur = t->af_unit_row;
    long units = (long)t->af_units;
    int threads = (int)opt->threads;
    double *ws = opt->af_scratch;
    (void)threads;
    if (R * C >= ADAOPT_CHUNK_ELEMS) { /* units are segments: a matrix at a time */
        for (long k0 = 0; k0 < units;) {
            size_t b = ur[k0] / R;
            long k1 = k0;
            while (k1 < units && ur[k1] / R == b)
                k1++;
            double *edge = adaopt__af_edge(t, b), *parts = edge != NULL ? edge : ws;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1 && k1 - k0 > 1)
#endif
            for (long k = k0; k < k1; k++) {
                double *part = parts + adaopt__af_segment_of(R, S, ur[k] % R) * (C + 1);
                memset(part, 0, (C + 1) * sizeof *part);
                sums[2 * k] = 0.0;
                rows_pass(ts, ur[k], ur[k + 1], part, &sums[2 * k]);
            }
            if (edge == NULL)
                finish_columns(ts, b, parts, S);
            k0 = k1;
        }
        return;
    }
    /* units of whole matrices: one column accumulator per thread */
    size_t room = opt->af_scratch_len / (C + 1);
    int team = threads < (int)room ? threads : (int)room;
    (void)team;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(team) if (team > 1 && units > 1)
#endif
    for (long k = 0; k < units; k++) {
#ifdef _OPENMP
        double *part = ws + (size_t)omp_get_thread_num() * (C + 1);
#else
        double *part = ws;
#endif
        sums[2 * k] = 0.0;
        for (size_t g = ur[k]; g < ur[k + 1]; g += R) {
            memset(part, 0, (C + 1) * sizeof *part);
            rows_pass(ts, g, g + R, part, &sums[2 * k]);
            finish_columns(ts, g / R, part, 1);
        }
    }
}

/* Pass 2 (sums[2 k + 1]: unit k's sum of u^2) or 3 (p moves) of a factored piece, unit by
 * unit. */
static void factored_pass(const adaopt_optimizer *opt, const af_tensor_step *ts, double *sums,
                          int apply)
{
    const adaopt_tensor *t = ts->io.t;
    size_t R = t->fac_rows, C = t->fac_cols, g0 = t->fac_row0, b0 = g0 / R;
    float eps1 = (float)opt->groups[t->group].hp[ADAOPT_EPS1];
    const size_t *ur = t->af_unit_row;
    long units = (long)t->af_units;
    int threads = (int)opt->threads;
    (void)threads;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1 && units > 1)
#endif
    for (long k = 0; k < units; k++) {
        adaopt_af_row a = ts->a;
        size_t b = SIZE_MAX;
        double u_sq = 0.0;
        for (size_t g = ur[k]; g < ur[k + 1]; g++) {
            if (g / R != b) {
                b = g / R;
                a.mean = matrix_mean(t, b, eps1);
            }
            a.row = t->slot[0][g - g0];
            const float *col = t->slot[1] + (b - b0) * C;
            if (apply)
                apply_blocks(&ts->io, &a, (g - g0) * C, col, NULL, C);
            else
                u_sq += sum_u_squares(&ts->io, &a, (g - g0) * C, col, NULL, C);
        }
        if (!apply)
            sums[2 * k + 1] = u_sq;
    }
}

/* Chunk [b, b + len) of a vector with packed (bf16 or 8-bit) variance, block by block: pass 2
 * updates decoded copies and drops them, adding the squares of u into *u_sq; pass 3 remakes
 * the same copies, stores them rounded and steps with the unrounded ones (LAMB's order). */
static void packed_vector_chunk(const af_tensor_step *ts, size_t b, size_t len, double *u_sq,
                                int apply)
{
    const adaopt_optimizer *opt = ts->io.opt;
    const adaopt_af_fns *fn = &opt->kernels->adafactor;
    adaopt_tensor *t = ts->io.t;
    double acc[ADAOPT_LAMB_LANES] = {0};
    float var[PIECE], u[PIECE], gbuf[PIECE], pbuf[PIECE];
    for (size_t i = 0; i < len; i += PIECE) {
        size_t n = len - i < PIECE ? len - i : PIECE, at = b + i;
        const float *g = io_grad(&ts->io, at, n, gbuf);
        adaopt__decode_block(opt, t, 0, at, n, var);
        fn->vector_u(&ts->a, g, var, u, n);
        if (!apply) {
            adaopt__sumsq16(u, n, acc);
            continue;
        }
        adaopt__encode_block(opt, t, 0, at, n, var);
        float *p = io_param(&ts->io, at, n, pbuf);
        fn->vector_apply(&ts->a, p, g, var, n);
        io_store(&ts->io, p, at, n);
    }
    for (int j = 0; j < ADAOPT_LAMB_LANES && !apply; j++)
        *u_sq += acc[j];
}

/* Pass 2 or 3 of a vector, in 64K-element chunks: variance = lerp(variance, g^2, w) in the pass
 * that sums p^2 and u^2 (sums[2 k], sums[2 k + 1]); then p moves. */
static void vector_pass(const adaopt_optimizer *opt, const af_tensor_step *ts, double *sums,
                        int apply)
{
    const adaopt_tensor *t = ts->io.t;
    size_t n = t->numel;
    float *var = t->slot[0];
    int packed = t->storage != ADAOPT_STORAGE_F32;
    long chunks = (long)(n / ADAOPT_CHUNK_ELEMS + (n % ADAOPT_CHUNK_ELEMS != 0));
    int threads = (int)opt->threads;
    (void)threads;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1 && chunks > 1)
#endif
    for (long k = 0; k < chunks; k++) {
        size_t b = (size_t)k * ADAOPT_CHUNK_ELEMS;
        size_t len = n - b < ADAOPT_CHUNK_ELEMS ? n - b : ADAOPT_CHUNK_ELEMS;
        if (apply) {
            if (packed)
                packed_vector_chunk(ts, b, len, NULL, 1);
            else
                apply_blocks(&ts->io, &ts->a, b, NULL, var + b, len);
            continue;
        }
        double acc[ADAOPT_LAMB_LANES] = {0}, sum = 0.0;
        float pbuf[PIECE];
        for (size_t i = 0; i < len; i += PIECE) {
            size_t l = len - i < PIECE ? len - i : PIECE;
            adaopt__sumsq16(io_param(&ts->io, b + i, l, pbuf), l, acc);
        }
        for (int j = 0; j < ADAOPT_LAMB_LANES; j++)
            sum += acc[j];
        sums[2 * k] = sum;
        if (packed) {
            sums[2 * k + 1] = 0.0;
            packed_vector_chunk(ts, b, len, &sums[2 * k + 1], 0);
        } else {
            sums[2 * k + 1] = sum_u_squares(&ts->io, &ts->a, b, NULL, var + b, len);
        }
    }
}

/* Pass 2 or 3 of one tensor: a factored one's units (none if it has no elements), or a
 * vector's chunks. */
static void tensor_pass(const adaopt_optimizer *opt, const af_tensor_step *ts, double *sums,
                        int apply)
{
    if (ts->io.t->factored != 1)
        vector_pass(opt, ts, sums, apply);
    else if (ts->io.t->af_units > 0)
        factored_pass(opt, ts, sums, apply);
}

/* The step of every tensor that has a gradient, in three passes over them all, so that under
 * ZeRO the ranks exchange twice per step, not per tensor: (1) row_var and col_var, with the
 * partials of matrices held in part exchanged after it; (2) ||u|| per unit or chunk, and the
 * tensors' norms (added across the ranks); (3) p moves. */
int adaopt__adafactor_update(adaopt_optimizer *opt, void *const *params,
                             const void *const *grads)
{
    double *sums = opt->af_sums != NULL ? opt->af_sums : opt->chunk_sums;
    size_t at = 0;
    for (size_t i = 0; i < opt->n_tensors; at += 2 * adaopt__af_sum_slots(&opt->tensors[i]), i++) {
        const adaopt_tensor *t = &opt->tensors[i];
        memset(sums + at, 0, 2 * adaopt__af_sum_slots(t) * sizeof *sums); /* (no gradient: zero sums) */
        if (grads[i] != NULL && t->factored == 1 && t->af_units > 0) {
            af_tensor_step ts = tensor_step(opt, i, params[i], grads[i]);
            factored_pass1(opt, &ts, sums + at);
        }
    }
    if (opt->af_exchange != NULL && opt->af_exchange(opt->lamb_ctx, opt) != 0)
        return -1;
    for (size_t i = 0; i < opt->n_tensors; i++) { /* the matrices held in part */
        adaopt_tensor *t = &opt->tensors[i];
        if (grads[i] == NULL || t->factored != 1 || t->af_edge == NULL)
            continue;
        af_tensor_step ts = tensor_step(opt, i, params[i], grads[i]);
        size_t R = t->fac_rows, C = t->fac_cols, S = adaopt__af_segments(R, C);
        float eps1 = (float)opt->groups[t->group].hp[ADAOPT_EPS1];
        for (int e = 0; e < 2; e++) {
            if (!t->af_cut[e])
                continue;
            size_t b = edge_matrix(t, e);
            const double *parts = adaopt__af_edge(t, b);
            finish_columns(&ts, b, parts, S);
            double sum = 0.0;
            for (size_t s = 0; s < S; s++)
                sum += parts[s * (C + 1) + C];
            t->af_edge_mean[e] = clamped_mean(sum, R, eps1);
        }
    }
    at = 0;
    for (size_t i = 0; i < opt->n_tensors; at += 2 * adaopt__af_sum_slots(&opt->tensors[i]), i++) {
        if (grads[i] == NULL)
            continue;
        af_tensor_step ts = tensor_step(opt, i, params[i], grads[i]);
        tensor_pass(opt, &ts, sums + at, 0);
    }
    double *tensor_sums = opt->tensor_sums;
    if (opt->lamb_exchange != NULL) {
        if (opt->lamb_exchange(opt->lamb_ctx, opt, sums, tensor_sums) != 0)
            return -1;
    } else {
        at = 0;
        for (size_t i = 0; i < opt->n_tensors; i++) {
            double p_sq = 0.0, u_sq = 0.0;
            for (size_t k = 0; k < adaopt__af_sum_slots(&opt->tensors[i]); k++, at += 2) {
                p_sq += sums[at];
                u_sq += sums[at + 1];
            }
            tensor_sums[2 * i] = p_sq;
            tensor_sums[2 * i + 1] = u_sq;
        }
    }
    at = 0;
    for (size_t i = 0; i < opt->n_tensors; at += 2 * adaopt__af_sum_slots(&opt->tensors[i]), i++) {
        if (grads[i] == NULL)
            continue;
        adaopt_tensor *t = &opt->tensors[i];
        af_tensor_step ts = tensor_step(opt, i, params[i], grads[i]);
        /* p = p (1 - lr wd) - alpha / denom * u, alpha / denom from the whole tensor's norms */
        t->af_scale = update_scale(opt->groups[t->group].hp, tensor_sums[2 * i],
                                   tensor_sums[2 * i + 1], t->storage_numel, ts.rho);
        ts.a.step = (float)-t->af_scale;
        tensor_pass(opt, &ts, sums + at, 1);
    }
    return 0;
}

/* The effective learning rate of Adafactor's last step: alpha / denom * rsqrt(var_estimate). */
void adaopt__adafactor_effective_lr(const adaopt_optimizer *opt, const adaopt_tensor *t,
                                    const float *slot0, float *out)
{
    const double *hp = opt->groups[t->group].hp;
    float eps1 = (float)hp[ADAOPT_EPS1], eps1_sq = (float)(hp[ADAOPT_EPS1] * hp[ADAOPT_EPS1]);
    if (t->factored != 1) {
        for (size_t i = 0; i < t->numel; i++) {
            float var = slot0[i] < eps1_sq ? eps1_sq : slot0[i];
            out[i] = (float)(t->af_scale / sqrt((double)var));
        }
        return;
    }
    size_t R = t->fac_rows, C = t->fac_cols, g0 = t->fac_row0, n_rows = C ? t->numel / C : 0;
    size_t b = SIZE_MAX;
    float mean = 0.0f;
    for (size_t l = 0; l < n_rows; l++) {
        if ((g0 + l) / R != b) {
            b = (g0 + l) / R;
            mean = matrix_mean(t, b, eps1);
        }
        const float *col = t->slot[1] + (b - g0 / R) * C;
        for (size_t c = 0; c < C; c++) {
            float var = t->slot[0][l] * col[c] / mean;
            var = var < eps1_sq ? eps1_sq : var;
            out[l * C + c] = (float)(t->af_scale / sqrt((double)var));
        }
    }
}

/* ---- the row ---- */

static const adaopt__option_default OPTIONS[] = {
    {ADAOPT_LR, 1e-2},           {ADAOPT_BETA2_DECAY, -0.8},
    {ADAOPT_EPS1, 1.1920928955078125e-07}, /* FLT_EPSILON */
    {ADAOPT_EPS2, 1e-3},         {ADAOPT_D, 1.0}, {ADAOPT_WEIGHT_DECAY, 0.0}, {0, 0.0}};

static int update(adaopt_optimizer *opt, void *const *params, const void *const *grads,
                  size_t work)
{
    (void)work;
    return adaopt__adafactor_update(opt, params, grads);
}

/* A factored tensor keeps row_var and col_var, any other variance (and no slot 1). */
static adaopt_state_kind tensor_slot_kind(const adaopt_optimizer *opt, const adaopt_tensor *t,
                                          int k)
{
    (void)opt;
    const adaopt__algorithm *a = &adaopt__adafactor_row;
    if (t->factored == 1)
        return a->slot_kind[k];
    return a->alt_kind[k]; /* (0 for slot 1: none) */
}

static adaopt_status effective_lr(const adaopt__lr_query *q, float *out, size_t n)
{
    (void)n;
    adaopt__adafactor_effective_lr(q->opt, q->t, q->slot[0], out);
    return ADAOPT_OK;
}

const adaopt__algorithm adaopt__adafactor_row = {
    .name = "adafactor",
    .options = OPTIONS,
    .slot_kind = {ADAOPT_STATE_ROW_VAR, ADAOPT_STATE_COL_VAR},
    .alt_kind = {ADAOPT_STATE_VARIANCE},
    .tensor_slot_kind = tensor_slot_kind,
    .slot_kinds_why = "adafactor factors the tensors given a shape of two or more dimensions",
    .slots = adaopt__slots01, /* (a vector's slot 1 has no elements) */
    .shaped = 1,
    .decay = ADAOPT__DECAY_OWN,
    .no_sparse = ADAOPT__NO_SPARSE_WHOLE_TENSOR,
    .tensor_record = ADAOPT__TENSOR_RECORD_SHAPE,
    .shard = ADAOPT__SHARD_UNITS,
    .scalars = adaopt__adam_scalars,
    .coeffs = adaopt__adam_coeffs,
    .update = update,
    .update_failure = "the exchange of Adafactor's sums between ranks failed (MPI); its "
                      "variances may have moved, the parameters not: reload a checkpoint",
    .threads_changed = adaopt__af_reserve_threads,
    .effective_lr = effective_lr,
};
