/*
 * adafactor.c -- Adafactor (torch.optim.Adafactor, PyTorch >= 2.5, its single-tensor path, the
 * one torch runs on the CPU): tensor shapes, and the step.  docs/ALGORITHMS.md, "Adafactor",
 * has the formulas.
 *
 * A tensor takes three passes (a vector two): (1) the squares of p and, for a factored tensor,
 * the row and column sums of g^2; (2) the norm of the update u; (3) p moves by u.  The sums are
 * in double, per row (matrices) or per 64K-element chunk (vectors), each in element order (the
 * 16 accumulators of adaopt__sumsq16), and the rows' and chunks' are added in order: the threads
 * share rows, columns and chunks, and the bits do not depend on how many there are.  The float
 * operations between the reductions are torch's, in its order.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "precision.h"

enum { MAX_DIMS = 8 };

adaopt_status adaopt_set_shape(adaopt_optimizer *opt, size_t tensor, const size_t *dims,
                               size_t ndim)
{
    if (opt == NULL)
        return ADAOPT_ERR_NULL;
    if (tensor >= opt->n_tensors)
        return adaopt__fail(opt, ADAOPT_ERR_INDEX, "set_shape: tensor %zu out of range (%zu "
                            "tensors)", tensor, opt->n_tensors);
    if (dims == NULL)
        return adaopt__fail(opt, ADAOPT_ERR_NULL, "set_shape: dims must not be NULL");
    if (ndim < 1 || ndim > MAX_DIMS)
        return adaopt__fail(opt, ADAOPT_ERR_VALUE, "set_shape: %zu dimensions (1 to %d)", ndim,
                            MAX_DIMS);
    adaopt_tensor *t = &opt->tensors[tensor];
    size_t product = 1;
    for (size_t k = 0; k < ndim; k++) {
        if (dims[k] != 0 && product > SIZE_MAX / dims[k])
            return adaopt__fail(opt, ADAOPT_ERR_SIZE, "set_shape: the dimensions overflow");
        product *= dims[k];
    }
    if (product != t->numel)
        return adaopt__fail(opt, ADAOPT_ERR_SIZE, "set_shape: the dimensions make %zu elements, "
                            "tensor %zu has %zu", product, tensor, t->numel);
    int ready = t->master_ready;
    for (int k = 0; k < ADAOPT_MAX_SLOTS; k++)
        ready |= t->slot_ready[k] != 0;
    if (t->step > 0 || ready)
        return adaopt__fail(opt, ADAOPT_ERR_STATE, "set_shape: tensor %zu has taken steps (or "
                            "was given state): its shape is set before", tensor);
    if (opt->algorithm != ADAOPT_ALGO_ADAFACTOR)
        return ADAOPT_OK; /* (only Adafactor's state depends on the shape) */
    adaopt_tensor shaped = *t;
    shaped.factored = ndim >= 2 ? 1 : 2;
    shaped.fac_rows = ndim >= 2 ? dims[ndim - 2] : 0;
    shaped.fac_cols = ndim >= 2 ? dims[ndim - 1] : 0;
    shaped.fac_batch = 1;
    for (size_t k = 0; k + 2 < ndim; k++)
        shaped.fac_batch *= dims[k];
    /* New state arrays of the new sizes (zero), and the scratch for the sums: all or nothing. */
    float *slot0 = NULL, *slot1 = NULL;
    memset(shaped.slot, 0, sizeof shaped.slot);
    int failed = adaopt__alloc_slot(&shaped, 0, ADAOPT_STORAGE_F32) != 0 ||
                 adaopt__alloc_slot(&shaped, 1, ADAOPT_STORAGE_F32) != 0;
    slot0 = shaped.slot[0];
    slot1 = shaped.slot[1];
    size_t need = shaped.factored == 1 ? 3 * adaopt__slot_numel(&shaped, 0) +
                                             adaopt__slot_numel(&shaped, 1) + shaped.fac_batch
                                       : 0; /* per row: g^2, p^2, u^2; column sums; means */
    if (!failed && need > opt->af_scratch_len) {
        double *scratch = malloc(need * sizeof *scratch);
        if (scratch == NULL) {
            failed = 1;
        } else {
            free(opt->af_scratch);
            opt->af_scratch = scratch;
            opt->af_scratch_len = need;
        }
    }
    if (failed) {
        adaopt__free_state(slot0);
        adaopt__free_state(slot1);
        return adaopt__fail(opt, ADAOPT_ERR_ALLOC, "set_shape: out of memory for tensor %zu's "
                            "state", tensor);
    }
    adaopt__drop_slot(t, 0);
    adaopt__drop_slot(t, 1);
    t->slot[0] = slot0;
    t->slot[1] = slot1;
    t->factored = shaped.factored;
    t->fac_batch = shaped.fac_batch;
    t->fac_rows = shaped.fac_rows;
    t->fac_cols = shaped.fac_cols;
    return ADAOPT_OK;
}

/* A float32 norm from a sum of squares in double (torch's norm is a float32 tensor). */
static inline float norm_of(double sum_sq)
{
    return (float)sqrt(sum_sq);
}

/* The mean of a batch's R row variances, clamped to eps1 (row_var.mean(dim=-2).clamp_(min=eps1),
 * added in row order). */
static float batch_mean(const float *row_var, size_t R, float eps1)
{
    double acc = 0.0;
    for (size_t r = 0; r < R; r++)
        acc += row_var[r];
    float mean = (float)(acc / (double)R);
    return mean < eps1 ? eps1 : mean;
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
    float u[PIECE], gbuf[PIECE];
    for (size_t i = 0; i < n; i += PIECE) {
        size_t len = n - i < PIECE ? n - i : PIECE;
        const float *g = io_grad(io, at + i, len, gbuf);
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

/* p = fma(u, step, p decayed) over elements [at, at + n), block by block. */
static void apply_blocks(const af_io *io, const adaopt_af_row *a, size_t at, const float *col,
                         const float *var, size_t n)
{
    const adaopt_af_fns *fn = &io->opt->kernels->adafactor;
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

/* One tensor's step.  Its sums are per row (a matrix) or per 64K-element chunk (a vector) --
 * whichever thread takes the row or chunk -- and added in order: any thread count gives the
 * same bits.  `chunk_sums` holds 2 doubles for each of a vector's chunks. */
static void step_tensor(adaopt_optimizer *opt, size_t ti, void *param, const void *grad,
                        double *chunk_sums)
{
    adaopt_tensor *t = &opt->tensors[ti];
    const adaopt_group *grp = &opt->groups[t->group];
    const double *hp = grp->hp;
    int update = (int)hp[ADAOPT_PARAM_UPDATE];
    af_io io = {opt, t, param, grad, grp->param_dtype, grp->grad_dtype,
                update == ADAOPT_UPDATE_MASTER_SR || update == ADAOPT_UPDATE_SR,
                adaopt__noise_seed(opt->rounding_seed, ti, t->step + 1)};
    double td = (double)(t->step + 1), lr = hp[ADAOPT_LR];
    double rho = fmin(lr, 1.0 / pow(td, 0.5)); /* min(lr, 1 / step**0.5) */
    double eps1 = hp[ADAOPT_EPS1];
    adaopt_af_row a = {0};
    a.w = (float)pow(td, hp[ADAOPT_BETA2_DECAY]); /* 1 - beta2_t = step**beta2_decay */
    a.eps1_sq = (float)(eps1 * eps1);
    a.sign = hp[ADAOPT_MAXIMIZE] != 0.0 ? -1.0f : 1.0f;
    a.decay = (float)(1.0 - lr * hp[ADAOPT_WEIGHT_DECAY]);
    a.decayed = hp[ADAOPT_WEIGHT_DECAY] != 0.0;
    size_t n = t->numel;
    int threads = (int)opt->threads;
    (void)threads;

    if (t->factored == 1) {
        size_t B = t->fac_batch, R = t->fac_rows, C = t->fac_cols;
        double *row_g = opt->af_scratch, *row_p = row_g + B * R, *row_u = row_p + B * R;
        double *col_sum = row_u + B * R, *means = col_sum + B * C;
        float *row_var = t->slot[0], *col_var = t->slot[1];
        long rows = (long)(B * R);
        /* 1. per row: the squares of g and of p; per column: the squares of g (one sweep, in
         * row order, on this thread: the columns' sums add across the rows) */
        memset(col_sum, 0, B * C * sizeof *col_sum);
        float pbuf[PIECE], gbuf[PIECE];
        for (long rr = 0; rr < rows; rr++) {
            double acc_g[ADAOPT_LAMB_LANES] = {0}, acc_p[ADAOPT_LAMB_LANES] = {0};
            double *cs = col_sum + (size_t)rr / R * C;
            for (size_t c = 0; c < C; c += PIECE) {
                size_t len = C - c < PIECE ? C - c : PIECE, at = (size_t)rr * C + c;
                const float *g = io_grad(&io, at, len, gbuf);
                adaopt__sumsq16(g, len, acc_g); /* (maximize: the same squares) */
                adaopt__sumsq16(io_param(&io, at, len, pbuf), len, acc_p);
                for (size_t j = 0; j < len; j++)
                    cs[c + j] += (double)g[j] * (double)g[j];
            }
            row_g[rr] = row_p[rr] = 0.0;
            for (int j = 0; j < ADAOPT_LAMB_LANES; j++) {
                row_g[rr] += acc_g[j];
                row_p[rr] += acc_p[j];
            }
        }
        /* the variances: the norm (a float), squared, over the count; lerp toward it */
        for (size_t i = 0; i < B * R; i++) {
            float nrm = norm_of(row_g[i]);
            row_var[i] = adaopt__lerp(row_var[i], nrm * nrm / (float)C, a.w);
        }
        for (size_t i = 0; i < B * C; i++) {
            float nrm = norm_of(col_sum[i]);
            col_var[i] = adaopt__lerp(col_var[i], nrm * nrm / (float)R, a.w);
        }
        for (size_t b = 0; b < B; b++)
            means[b] = batch_mean(row_var + b * R, R, (float)eps1);
        /* 2. ||u||, row by row */
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(threads) firstprivate(a) if (threads > 1 && n >= 2 * ADAOPT_CHUNK_ELEMS)
#endif
        for (long rr = 0; rr < rows; rr++) {
            size_t b = (size_t)rr / R;
            a.mean = (float)means[b];
            a.row = row_var[rr];
            row_u[rr] = sum_u_squares(&io, &a, (size_t)rr * C, col_var + b * C, NULL, C);
        }
        double p_sq = 0.0, u_sq = 0.0;
        for (size_t i = 0; i < B * R; i++) {
            p_sq += row_p[i];
            u_sq += row_u[i];
        }
        /* 3. p = p (1 - lr wd) - alpha / denom * u */
        t->af_scale = update_scale(hp, p_sq, u_sq, n, rho);
        a.step = (float)-t->af_scale;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(threads) firstprivate(a) if (threads > 1 && n >= 2 * ADAOPT_CHUNK_ELEMS)
#endif
        for (long rr = 0; rr < rows; rr++) {
            size_t b = (size_t)rr / R;
            a.mean = (float)means[b];
            a.row = row_var[rr];
            apply_blocks(&io, &a, (size_t)rr * C, col_var + b * C, NULL, C);
        }
        return;
    }

    /* A vector (or a tensor without a shape), in 64K-element chunks: variance = lerp(variance,
     * g^2, w) in the pass that sums u^2. */
    float *var = t->slot[0];
    long chunks = (long)(n / ADAOPT_CHUNK_ELEMS + (n % ADAOPT_CHUNK_ELEMS != 0));
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1 && n >= 2 * ADAOPT_CHUNK_ELEMS)
#endif
    for (long k = 0; k < chunks; k++) {
        size_t b = (size_t)k * ADAOPT_CHUNK_ELEMS;
        size_t len = n - b < ADAOPT_CHUNK_ELEMS ? n - b : ADAOPT_CHUNK_ELEMS;
        double acc[ADAOPT_LAMB_LANES] = {0}, sum = 0.0;
        float pbuf[PIECE];
        for (size_t i = 0; i < len; i += PIECE) {
            size_t l = len - i < PIECE ? len - i : PIECE;
            adaopt__sumsq16(io_param(&io, b + i, l, pbuf), l, acc);
        }
        for (int j = 0; j < ADAOPT_LAMB_LANES; j++)
            sum += acc[j];
        chunk_sums[2 * k] = sum;
        chunk_sums[2 * k + 1] = sum_u_squares(&io, &a, b, NULL, var + b, len);
    }
    double p_sq = 0.0, u_sq = 0.0;
    for (long k = 0; k < chunks; k++) {
        p_sq += chunk_sums[2 * k];
        u_sq += chunk_sums[2 * k + 1];
    }
    t->af_scale = update_scale(hp, p_sq, u_sq, n, rho);
    a.step = (float)-t->af_scale;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1 && n >= 2 * ADAOPT_CHUNK_ELEMS)
#endif
    for (long k = 0; k < chunks; k++) {
        size_t b = (size_t)k * ADAOPT_CHUNK_ELEMS;
        size_t len = n - b < ADAOPT_CHUNK_ELEMS ? n - b : ADAOPT_CHUNK_ELEMS;
        apply_blocks(&io, &a, b, NULL, var + b, len);
    }
}

void adaopt__adafactor_update(adaopt_optimizer *opt, void *const *params,
                              const void *const *grads)
{
    size_t k = 0; /* the tensor's first chunk: its vector sums use the chunks' sum slots */
    for (size_t i = 0; i < opt->n_tensors; i++) {
        if (grads[i] != NULL)
            step_tensor(opt, i, params[i], grads[i], opt->chunk_sums + 2 * k);
        while (k < opt->n_chunks && opt->chunks[k].tensor == i)
            k++;
    }
}

/* The effective learning rate of Adafactor's last step: alpha / denom * rsqrt(var_estimate). */
void adaopt__adafactor_effective_lr(const adaopt_optimizer *opt, const adaopt_tensor *t,
                                    float *out)
{
    const double *hp = opt->groups[t->group].hp;
    float eps1 = (float)hp[ADAOPT_EPS1], eps1_sq = (float)(hp[ADAOPT_EPS1] * hp[ADAOPT_EPS1]);
    if (t->factored != 1) {
        for (size_t i = 0; i < t->numel; i++) {
            float var = t->slot[0][i] < eps1_sq ? eps1_sq : t->slot[0][i];
            out[i] = (float)(t->af_scale / sqrt((double)var));
        }
        return;
    }
    size_t B = t->fac_batch, R = t->fac_rows, C = t->fac_cols;
    for (size_t b = 0; b < B; b++) {
        float mean = batch_mean(t->slot[0] + b * R, R, eps1);
        for (size_t r = 0; r < R; r++)
            for (size_t c = 0; c < C; c++) {
                float var = t->slot[0][b * R + r] * t->slot[1][b * C + c] / mean;
                var = var < eps1_sq ? eps1_sq : var;
                out[(b * R + r) * C + c] = (float)(t->af_scale / sqrt((double)var));
            }
    }
}
