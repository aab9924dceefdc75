/*
 * step.c -- the step: per-step scalars in double (bias corrections, NAdam's mu, RAdam's
 * rectification) rounded into each tensor's coefficients, every check before anything is
 * written, the non-finite policy's scan, then the chunks of every tensor through the kernels
 * (OpenMP; the staged low-precision path of lowp.c where a group needs it), and row-sparse
 * gradients.  Groups, options and queries are in optimizer.c and state.c.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "algorithms/algorithm.h"
#include "precision.h"

#ifdef _OPENMP
#include <omp.h>
#endif


adaopt_step_scalars adaopt__step_scalars_at(adaopt_algorithm algorithm, const double *hp, uint64_t t,
                                    double mu_product_before)
{
    adaopt_step_scalars s;
    memset(&s, 0, sizeof s);
    s.lr = hp[ADAOPT_LR];
    const adaopt__algorithm *a = adaopt__algo(algorithm);
    if (a->scalars != NULL)
        a->scalars(&s, hp, (double)t, mu_product_before);
    return s;
}

static adaopt_status check_group(adaopt_optimizer *opt, size_t gi)
{
    return adaopt__check_combination(opt, gi, opt->groups[gi].hp);
}

/* Is tensor i's gradient the sparse one? */
static int is_sparse(const adaopt_sparse_grad *sparse, size_t i)
{
    return sparse != NULL && (sparse[i].indices != NULL || sparse[i].values != NULL);
}

/* ---- adaopt_set_overwrite_grads: no gradient the step writes may overlap another array ---- */

/* Array k of the step: tensor k / 2's parameter (k even) or gradient (k odd), as bytes [lo, hi);
 * empty unless the step touches it, and a gradient only where the step writes it. */
static struct adaopt__span array_span(const adaopt_optimizer *opt, void *const *params,
                                      const void *const *grads, size_t k)
{
    size_t i = k / 2;
    const adaopt_tensor *t = &opt->tensors[i];
    const adaopt_group *g = &opt->groups[t->group];
    const void *at = k % 2 ? grads[i] : (const void *)params[i];
    int used = grads[i] != NULL && (k % 2 == 0 || !adaopt__group_is_lowp(g));
    size_t size = g->param_dtype == ADAOPT_DTYPE_F32 || k % 2 ? sizeof(float) : sizeof(uint16_t);
    struct adaopt__span s = {(uintptr_t)at, (uintptr_t)at, k};
    if (used && at != NULL)
        s.hi += t->numel * size;
    return s;
}

static void sift_down(struct adaopt__span *s, size_t root, size_t end)
{
    for (size_t child; (child = 2 * root + 1) < end; root = child) {
        if (child + 1 < end && s[child].lo < s[child + 1].lo)
            child++;
        if (!(s[root].lo < s[child].lo))
            return;
        struct adaopt__span tmp = s[root];
        s[root] = s[child];
        s[child] = tmp;
    }
}

/* A heap sort of the non-empty arrays by start (no allocation: opt->spans has room for all of
 * them), then one sweep: an array that starts before the furthest end so far overlaps an
 * earlier one -- a refusal when either is a written gradient.  0, or 1 with the first such
 * pair's k in *a, *b. */
static int find_overlap(const adaopt_optimizer *opt, void *const *params,
                        const void *const *grads, size_t *a, size_t *b)
{
    struct adaopt__span *s = opt->spans;
    size_t n = 0;
    for (size_t k = 0; k < 2 * opt->n_tensors; k++) {
        s[n] = array_span(opt, params, grads, k);
        n += s[n].hi > s[n].lo;
    }
    for (size_t start = n / 2; start-- > 0;)
        sift_down(s, start, n);
    for (size_t end = n; end-- > 1;) {
        struct adaopt__span tmp = s[0];
        s[0] = s[end];
        s[end] = tmp;
        sift_down(s, 0, end);
    }
    uintptr_t far_all = 0, far_grad = 0;
    size_t who_all = 0, who_grad = 0;
    for (size_t j = 0; j < n; j++) {
        int grad = s[j].k % 2;
        if (s[j].lo < far_grad || (grad && s[j].lo < far_all)) {
            *a = s[j].lo < far_grad ? who_grad : who_all;
            *b = s[j].k;
            return 1;
        }
        if (s[j].hi > far_all) {
            far_all = s[j].hi;
            who_all = s[j].k;
        }
        if (grad && s[j].hi > far_grad) {
            far_grad = s[j].hi;
            who_grad = s[j].k;
        }
    }
    return 0;
}

/* Everything about tensor i's sparse gradient that could fail, before anything is written. */
static adaopt_status check_sparse(adaopt_optimizer *opt, size_t i, const adaopt_sparse_grad *sg)
{
    const adaopt_tensor *t = &opt->tensors[i];
    const double *hp = opt->groups[t->group].hp;
    const adaopt__algorithm *a = adaopt__algo(opt->algorithm);
    if (a->no_sparse != NULL)
        return adaopt__fail(opt, ADAOPT_ERR_CONFLICT, "tensor %zu: %s %s", i, a->name, a->no_sparse);
    if (hp[ADAOPT_WEIGHT_DECAY] != 0.0 && !adaopt__decoupled_decay(a, hp))
        return adaopt__fail(opt, ADAOPT_ERR_CONFLICT,
                            "tensor %zu: weight_decay (coupled) is not compatible with sparse "
                            "gradients", i);
    if (a->slot0_born != NULL && (a->slots(hp) & 1u)) /* a buffer born at a step: SGD's */
        return adaopt__fail(opt, ADAOPT_ERR_CONFLICT,
                            "tensor %zu: SGD momentum is not supported with sparse gradients "
                            "(every row would move)", i);
    if (sg->row_len == 0 || t->numel % sg->row_len != 0)
        return adaopt__fail(opt, ADAOPT_ERR_SIZE,
                            "tensor %zu: row_len %zu does not divide its %zu elements", i,
                            sg->row_len, t->numel);
    if (sg->n_indices > 0 && (sg->indices == NULL || sg->values == NULL))
        return adaopt__fail(opt, ADAOPT_ERR_NULL, "tensor %zu: sparse indices or values are NULL",
                            i);
    size_t rows = t->numel / sg->row_len;
    if (sg->n_indices > opt->sparse.max_indices || sg->row_len > opt->sparse.max_row_len ||
        rows > opt->sparse.max_rows)
        return adaopt__fail(opt, ADAOPT_ERR_SIZE,
                            "tensor %zu: the sparse workspace is too small: call "
                            "adaopt_reserve_sparse(opt, %zu, %zu, %zu) first", i, sg->n_indices,
                            sg->row_len, rows);
    for (size_t k = 0; k < sg->n_indices; k++)
        if (sg->indices[k] < 0 || (uint64_t)sg->indices[k] >= rows)
            return adaopt__fail(opt, ADAOPT_ERR_INDEX,
                                "tensor %zu: row index %lld at position %zu is outside [0, %zu)",
                                i, (long long)sg->indices[k], k, rows);
    return ADAOPT_OK;
}

/* Applies tensor i's row-sparse gradient: repeated rows are summed in the order given, then the
 * tensor's kernel runs on each distinct row (rows are independent: the kernel is element-wise,
 * so any split of the rows among threads gives the same bits).  O(n_indices * row_len), nothing
 * proportional to the table. */
static void sparse_update(adaopt_optimizer *opt, size_t i, void *p, const adaopt_sparse_grad *sg)
{
    const size_t none = SIZE_MAX, len = sg->row_len;
    adaopt_tensor *t = &opt->tensors[i];
    uint64_t stamp = ++opt->sparse.stamp;
    size_t n_distinct = 0;
    size_t *next = opt->sparse.next, *first = opt->sparse.row_first, *last = opt->sparse.row_last;
    for (size_t k = 0; k < sg->n_indices; k++) {
        size_t r = (size_t)sg->indices[k];
        next[k] = none;
        if (opt->sparse.row_stamp[r] != stamp) {
            opt->sparse.row_stamp[r] = stamp;
            first[r] = last[r] = k;
            opt->sparse.distinct[n_distinct++] = r;
        } else {
            next[last[r]] = k;
            last[r] = k;
        }
    }
    adaopt_kernel_fn kernel = opt->kernels->by_algorithm[opt->algorithm]; /* (element-wise) */
    const adaopt_coeffs *c = &opt->coeffs[i];
    const size_t *distinct = opt->sparse.distinct;
    float *row_sums = opt->sparse.row_sum;
    float *s0 = t->slot[0], *s1 = t->slot[1], *s2 = t->slot[2];
    const float *values = sg->values;
    long n_rows = (long)n_distinct;
    int lowp = adaopt__group_is_lowp(&opt->groups[t->group]);
    uint32_t seed = adaopt__noise_seed(opt->rounding_seed, i, t->step + 1);
    int threads = (int)(opt->threads < opt->sparse.threads ? opt->threads : opt->sparse.threads);
    (void)threads;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1 && n_distinct * len >= 2 * ADAOPT_CHUNK_ELEMS)
#endif
    for (long u = 0; u < n_rows; u++) {
#ifdef _OPENMP
        float *sum = row_sums + (size_t)omp_get_thread_num() * opt->sparse.max_row_len;
#else
        float *sum = row_sums;
#endif
        size_t r = distinct[u], k = first[r];
        const float *row = values + k * len;
        if (next[k] != none) { /* coalesce: sum the repeats in order */
            memcpy(sum, row, len * sizeof *sum);
            for (k = next[k]; k != none; k = next[k])
                for (size_t e = 0; e < len; e++)
                    sum[e] += values[k * len + e];
            row = sum;
        }
        size_t b = r * len;
        if (lowp) /* the row staged as the dense path stages its blocks (float32 values) */
            adaopt__step_staged(opt, i, p, row, ADAOPT_DTYPE_F32, b, b + len, seed, NULL);
        else
            kernel(c, (float *)p + b, row, s0 ? s0 + b : NULL, s1 ? s1 + b : NULL,
                   s2 ? s2 + b : NULL, len);
    }
}

adaopt_status adaopt_reserve_sparse(adaopt_optimizer *opt, size_t max_indices, size_t max_row_len,
                                    size_t max_rows)
{
    if (opt == NULL)
        return ADAOPT_ERR_NULL;
    size_t want_i = max_indices > opt->sparse.max_indices ? max_indices : opt->sparse.max_indices;
    size_t want_l = max_row_len > opt->sparse.max_row_len ? max_row_len : opt->sparse.max_row_len;
    size_t want_r = max_rows > opt->sparse.max_rows ? max_rows : opt->sparse.max_rows;
    if (want_i == opt->sparse.max_indices && want_l == opt->sparse.max_row_len &&
        want_r == opt->sparse.max_rows)
        return ADAOPT_OK;
    if (want_i > SIZE_MAX / 16 || want_l > SIZE_MAX / 16 / 4096 || want_r > SIZE_MAX / 16)
        return adaopt__fail(opt, ADAOPT_ERR_ALLOC, "reserve_sparse: sizes too large");
    /* All new arrays first, so that a failure leaves the old workspace as it was. */
    uint64_t *stamp = calloc(want_r ? want_r : 1, sizeof *stamp);
    size_t *first = adaopt__malloc_array(want_r, sizeof *first);
    size_t *last = adaopt__malloc_array(want_r, sizeof *last);
    size_t *next = adaopt__malloc_array(want_i, sizeof *next);
    size_t *distinct = adaopt__malloc_array(want_i, sizeof *distinct);
    size_t copies = adaopt__default_threads(), sums; /* one row of sums per thread */
    if (opt->threads > copies)
        copies = opt->threads;
    float *row_sum = adaopt__mul_overflows(want_l ? want_l : 1, copies, &sums)
                         ? NULL : adaopt__malloc_array(sums, sizeof *row_sum);
    if (!stamp || !first || !last || !next || !distinct || !row_sum) {
        free(stamp);
        free(first);
        free(last);
        free(next);
        free(distinct);
        free(row_sum);
        return adaopt__fail(opt, ADAOPT_ERR_ALLOC,
                            "out of memory reserving a sparse workspace (%zu indices, rows of "
                            "%zu, %zu rows)", want_i, want_l, want_r);
    }
    adaopt__free_sparse_workspace(opt);
    opt->sparse.row_stamp = stamp; /* zero: older than any stamp a step uses (>= 1) */
    opt->sparse.row_first = first;
    opt->sparse.row_last = last;
    opt->sparse.next = next;
    opt->sparse.distinct = distinct;
    opt->sparse.row_sum = row_sum;
    opt->sparse.max_indices = want_i;
    opt->sparse.max_row_len = want_l;
    opt->sparse.max_rows = want_r;
    opt->sparse.threads = copies;
    return ADAOPT_OK;
}

/* 1 if any of the n floats is NaN or infinite (exponent all ones): an integer OR that vectorizes. */
static int any_nonfinite(const float *x, size_t n)
{
    uint32_t found = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, &x[i], sizeof bits);
        found |= (bits & 0x7f800000u) == 0x7f800000u;
    }
    return found != 0;
}

/* Reads every gradient of this step once: the cost of the SKIP / ERROR policies when no earlier
 * pass reported (measured by adaopt-bench-safety). */
/* The same for n 16-bit floats whose exponent field is `mask` (bf16 0x7f80, fp16 0x7c00). */
static int any_nonfinite16(const uint16_t *x, size_t n, uint16_t mask)
{
    uint32_t found = 0;
    for (size_t i = 0; i < n; i++)
        found |= (x[i] & mask) == mask;
    return found != 0;
}

static int grad_nonfinite(const adaopt_optimizer *opt, size_t tensor, const void *grad,
                          size_t begin, size_t count)
{
    int dtype = opt->groups[opt->tensors[tensor].group].grad_dtype;
    if (dtype == ADAOPT_DTYPE_F32)
        return any_nonfinite((const float *)grad + begin, count);
    return any_nonfinite16((const uint16_t *)grad + begin, count,
                           dtype == ADAOPT_DTYPE_BF16 ? 0x7f80u : 0x7c00u);
}

static int scan_nonfinite(const adaopt_optimizer *opt, const void *const *grads,
                          const adaopt_sparse_grad *sparse)
{
    int found = 0;
    long n_chunks = (long)opt->n_chunks;
    const adaopt_chunk *chunks = opt->chunks;
    int threads = (int)opt->threads;
    (void)threads;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(threads) reduction(|:found) if (threads > 1 && n_chunks > 2)
#endif
    for (long k = 0; k < n_chunks; k++) {
        const adaopt_chunk *ch = &chunks[k];
        if (grads[ch->tensor] != NULL)
            found |= grad_nonfinite(opt, ch->tensor, grads[ch->tensor], ch->begin,
                                    ch->end - ch->begin);
    }
    for (size_t i = 0; i < opt->n_tensors && !found; i++)
        if (is_sparse(sparse, i) && sparse[i].n_indices > 0)
            found |= any_nonfinite(sparse[i].values, sparse[i].n_indices * sparse[i].row_len);
    return found;
}

adaopt_status adaopt_step(adaopt_optimizer *opt, float *const *params, const float *const *grads,
                          size_t n_tensors)
{
    return adaopt_step_sparse(opt, params, grads, NULL, n_tensors);
}

adaopt_status adaopt_step_flat(adaopt_optimizer *opt, float *params, const float *grads)
{
    if (opt == NULL)
        return ADAOPT_ERR_NULL;
    if (params == NULL || grads == NULL)
        return adaopt__fail(opt, ADAOPT_ERR_NULL, "step_flat: params and grads must not be NULL");
    if (opt->n_tensors == 0)
        return adaopt__fail(opt, ADAOPT_ERR_SIZE, "step_flat: the optimizer has no tensors");
    size_t offset = 0;
    for (size_t i = 0; i < opt->n_tensors; i++) {
        opt->flat_params[i] = params + offset;
        opt->flat_grads[i] = grads + offset;
        offset += opt->tensors[i].numel;
    }
    return adaopt_step_sparse(opt, opt->flat_params, opt->flat_grads, NULL, opt->n_tensors);
}

static adaopt_status step_impl(adaopt_optimizer *opt, void *const *params,
                               const void *const *grads, const adaopt_sparse_grad *sparse,
                               size_t n_tensors, int typed);

adaopt_status adaopt_step_sparse(adaopt_optimizer *opt, float *const *params,
                                 const float *const *grads, const adaopt_sparse_grad *sparse,
                                 size_t n_tensors)
{
    return step_impl(opt, (void *const *)params, (const void *const *)grads, sparse, n_tensors, 0);
}

adaopt_status adaopt_step_typed(adaopt_optimizer *opt, void *const *params,
                                const void *const *grads, size_t n_tensors)
{
    return step_impl(opt, params, grads, NULL, n_tensors, 1);
}

adaopt_status adaopt_step_sparse_typed(adaopt_optimizer *opt, void *const *params,
                                       const void *const *grads, const adaopt_sparse_grad *sparse,
                                       size_t n_tensors)
{
    return step_impl(opt, params, grads, sparse, n_tensors, 1);
}

static adaopt_status step_impl(adaopt_optimizer *opt, void *const *params,
                               const void *const *grads, const adaopt_sparse_grad *sparse,
                               size_t n_tensors, int typed)
{
    if (opt == NULL)
        return ADAOPT_ERR_NULL;
    int hint = opt->hint;
    opt->hint = -1; /* a hint is for one step, whatever happens to it */
    float factor = opt->grad_factor;
    int scaled = opt->grad_factor_set;
    opt->grad_factor_set = 0; /* and so is a gradient factor */
    opt->last_skipped = 0;
    if (params == NULL || grads == NULL)
        return adaopt__fail(opt, ADAOPT_ERR_NULL, "step: params and grads must not be NULL");
    if (n_tensors != opt->n_tensors)
        return adaopt__fail(opt, ADAOPT_ERR_SIZE, "step: got %zu tensors, the optimizer has %zu",
                            n_tensors, opt->n_tensors);
    const adaopt__algorithm *a = adaopt__algo(opt->algorithm);
    if (a->eval_mode && !opt->training)
        return adaopt__fail(opt, ADAOPT_ERR_STATE,
                            "step: the optimizer is in eval mode (the parameters hold x): call "
                            "adaopt_train before stepping");
    if (a->update != NULL && scaled)
        return adaopt__fail(opt, ADAOPT_ERR_CONFLICT,
                            "step: %s does not take adaopt_scale_next_grads (scale the "
                            "gradients in place: adaopt_unscale_grads, adaopt_clip_grad_norm)",
                            adaopt_algorithm_name(opt->algorithm));
    for (size_t gi = 0; gi < opt->n_groups; gi++) {
        adaopt_status st = check_group(opt, gi);
        if (st != ADAOPT_OK)
            return st;
        const adaopt_group *g = &opt->groups[gi];
        if (!typed && (g->param_dtype != ADAOPT_DTYPE_F32 || g->grad_dtype != ADAOPT_DTYPE_F32))
            return adaopt__fail(opt, ADAOPT_ERR_CONFLICT,
                                "step: group %zu holds %s parameters and %s gradients: step it "
                                "with adaopt_step_typed", gi,
                                adaopt_dtype_name((adaopt_dtype)g->param_dtype),
                                adaopt_dtype_name((adaopt_dtype)g->grad_dtype));
        if (sparse != NULL && scaled)
            for (size_t i = g->first_tensor; i < g->first_tensor + g->n_tensors; i++)
                if (is_sparse(sparse, i))
                    return adaopt__fail(opt, ADAOPT_ERR_CONFLICT,
                                        "step: tensor %zu has a sparse gradient, which "
                                        "adaopt_scale_next_grads does not apply to", i);
        if (sparse != NULL)
            for (size_t i = g->first_tensor; i < g->first_tensor + g->n_tensors; i++)
                if (is_sparse(sparse, i) && opt->tensors[i].storage == ADAOPT_STORAGE_8BIT &&
                    sparse[i].row_len % ADAOPT__BLOCK != 0)
                    return adaopt__fail(opt, ADAOPT_ERR_CONFLICT,
                                        "step: tensor %zu has 8-bit state in blocks of %d, which "
                                        "rows of %zu elements cut: sparse rows need a multiple "
                                        "of %d", i, ADAOPT__BLOCK, sparse[i].row_len,
                                        ADAOPT__BLOCK);
    }
    for (size_t i = 0; i < n_tensors; i++) {
        int has_sparse = is_sparse(sparse, i);
        if (has_sparse && grads[i] != NULL)
            return adaopt__fail(opt, ADAOPT_ERR_CONFLICT,
                                "step: tensor %zu has both a dense and a sparse gradient", i);
        if ((grads[i] != NULL || has_sparse) && params[i] == NULL)
            return adaopt__fail(opt, ADAOPT_ERR_NULL,
                                "step: tensor %zu has a gradient but its parameter is NULL", i);
        if (has_sparse) {
            adaopt_status st = check_sparse(opt, i, &sparse[i]);
            if (st != ADAOPT_OK)
                return st;
        }
        if ((grads[i] != NULL || has_sparse) && a->check_tensor != NULL) {
            adaopt_status st = a->check_tensor(opt, i);
            if (st != ADAOPT_OK)
                return st;
        }
        if ((grads[i] != NULL || has_sparse) && opt->tensors[i].step >= ADAOPT__MAX_STEPS)
            return adaopt__fail(opt, ADAOPT_ERR_STATE, "step: tensor %zu has taken 2^53 steps, "
                                "where t stops being exact in the bias corrections (and "
                                "adaopt_set_step and a load stop)", i);
    }
    /* (every counter stops at 2^53: none ever wraps, and each is one a load accepts) */
    int group_at_limit = 0;
    for (size_t gi = 0; gi < opt->n_groups && a->counts_per_group; gi++)
        group_at_limit |= opt->groups[gi].steps >= ADAOPT__MAX_STEPS;
    if (opt->steps_taken >= ADAOPT__MAX_STEPS || opt->steps_skipped >= ADAOPT__MAX_STEPS ||
        group_at_limit)
        return adaopt__fail(opt, ADAOPT_ERR_STATE, "step: the optimizer has counted 2^53 steps, "
                            "its limit");
    size_t first, second;
    if (opt->overwrite_grads && find_overlap(opt, params, grads, &first, &second))
        return adaopt__fail(opt, ADAOPT_ERR_CONFLICT,
                            "step: with overwrite_grads the %s of tensor %zu and the %s of "
                            "tensor %zu must not overlap (the step writes the gradients)",
                            first % 2 ? "gradient" : "parameter", first / 2,
                            second % 2 ? "gradient" : "parameter", second / 2);
    if (opt->nonfinite_policy != ADAOPT_NONFINITE_PROPAGATE &&
        (hint >= 0 ? hint : scan_nonfinite(opt, grads, sparse))) {
        if (opt->nonfinite_policy == ADAOPT_NONFINITE_ERROR)
            return adaopt__fail(opt, ADAOPT_ERR_NONFINITE,
                                "step: a gradient holds a NaN or an infinity; nothing was changed");
        opt->last_skipped = 1;
        opt->steps_skipped++;
        return ADAOPT_OK;
    }

    /* Serial: Schedule-Free's group scalars (every group advances, as schedulefree's does even
     * when none of its parameters has a gradient), the per-tensor scalars (and AdaGrad's
     * first-step fill).  Tensors of one group at the same step share their scalars, so a list of
     * many small tensors costs little here. */
    if (a->begin_step != NULL)
        for (size_t gi = 0; gi < opt->n_groups; gi++)
            a->begin_step(&opt->groups[gi]);
    const adaopt_coeffs *prev = NULL;
    size_t prev_group = 0;
    uint64_t prev_step = 0;
    int prev_ready = 0;
    size_t work = 0;
    for (size_t i = 0; i < n_tensors; i++) {
        int sparse_i = is_sparse(sparse, i);
        if (grads[i] == NULL && !sparse_i)
            continue;
        adaopt_tensor *t = &opt->tensors[i];
        const double *hp = opt->groups[t->group].hp;
        if (t->step == 0 && a->slot0_init != 0 && !t->slot_ready[0] && hp[a->slot0_init] != 0.0)
            adaopt__fill_slot(opt, t, 0, (float)hp[a->slot0_init]); /* (unless set_state did) */
        if (sparse_i && t->master != NULL && !t->master_ready) {
            /* a sparse step touches some rows only: the whole master is filled now, once */
            adaopt__fill_master(opt, t, params[i]);
            t->master_ready = 1;
        }
        if (!sparse_i && prev != NULL && prev_group == t->group && prev_step == t->step &&
            prev_ready == t->slot_ready[0] && !a->own_coeffs) {
            opt->coeffs[i] = *prev;
        } else {
            double hp_sparse[ADAOPT_OPTION_MAX + 1];
            if (sparse_i && a->sparse_eps_hat) {
                /* lazy Adam family: SparseAdam's eps placement */
                memcpy(hp_sparse, hp, sizeof hp_sparse);
                hp_sparse[ADAOPT_EPS_MODE] = ADAOPT_EPS_HAT;
                hp = hp_sparse;
            }
            adaopt_step_scalars s = adaopt__step_scalars_at(opt->algorithm, hp, t->step + 1, t->mu_product);
            a->coeffs(&opt->coeffs[i], a, &opt->groups[t->group], t, hp, &s, t->slot_ready[0]);
            if (a->tracks_mu_product)
                t->mu_product = s.mu_product; /* P_t; the kernel only reads coeffs */
            if (sparse_i) {
                prev = NULL; /* do not share a sparse tensor's (hat) scalars */
                continue;
            }
        }
        prev = &opt->coeffs[i];
        prev_group = t->group;
        prev_step = t->step;
        prev_ready = t->slot_ready[0];
        work += t->numel;
    }

    /* Parallel: every chunk of every tensor that has a gradient.  Element-wise work on fixed
     * chunk boundaries with bit-identical kernels: the result does not depend on the threads.
     * (LAMB: two passes with the per-tensor norms between them, lamb.c.) */
    if (a->update != NULL && a->update(opt, params, grads, work) != 0)
        return adaopt__fail(opt, ADAOPT_ERR_IO, "step: %s", a->update_failure);
    adaopt_kernel_fn kernel = a->update == NULL ? opt->kernels->by_algorithm[opt->algorithm]
                                                : NULL;
    const adaopt_chunk *chunks = opt->chunks;
    const adaopt_tensor *tensors = opt->tensors;
    const adaopt_coeffs *coeffs = opt->coeffs;
    long n_chunks = (long)opt->n_chunks;
    int threads = (int)opt->threads;
    (void)threads;
    (void)work;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1 && work >= 2 * ADAOPT_CHUNK_ELEMS)
#endif
    for (long k = 0; k < n_chunks; k++) {
        const adaopt_chunk *ch = &chunks[k];
        if (grads[ch->tensor] == NULL || a->update != NULL)
            continue;
        const adaopt_tensor *t = &tensors[ch->tensor];
        size_t b = ch->begin;
        if (scaled || adaopt__group_is_lowp(&opt->groups[t->group])) {
            uint32_t seed = adaopt__noise_seed(opt->rounding_seed, ch->tensor, t->step + 1);
            int gd = opt->groups[t->group].grad_dtype;
            const void *grad = gd == ADAOPT_DTYPE_F32
                                   ? (const void *)((const float *)grads[ch->tensor] + b)
                                   : (const void *)((const uint16_t *)grads[ch->tensor] + b);
            adaopt__step_staged(opt, ch->tensor, params[ch->tensor], grad, gd, b, ch->end, seed,
                                scaled ? &factor : NULL);
            continue;
        }
        float *s0 = t->slot[0] ? t->slot[0] + b : NULL;
        float *s1 = t->slot[1] ? t->slot[1] + b : NULL;
        float *s2 = t->slot[2] ? t->slot[2] + b : NULL;
        kernel(&coeffs[ch->tensor], (float *)params[ch->tensor] + b,
               (const float *)grads[ch->tensor] + b, s0, s1, s2, ch->end - b);
    }

    for (size_t i = 0; i < n_tensors; i++)
        if (is_sparse(sparse, i))
            sparse_update(opt, i, params[i], &sparse[i]);

    for (size_t i = 0; i < n_tensors; i++) {
        if (grads[i] == NULL && !is_sparse(sparse, i))
            continue;
        adaopt_tensor *t = &opt->tensors[i];
        t->step++;
        if (t->master != NULL)
            t->master_ready = 1;
        if (a->slot0_born != NULL && a->slot0_born(&opt->coeffs[i]))
            t->slot_ready[0] = 1; /* the momentum buffer, z: born at this step */
        if (a->stepped != NULL)
            a->stepped(t, opt->groups[t->group].hp, &opt->coeffs[i]);
    }
    opt->steps_taken++;
    return ADAOPT_OK;
}

adaopt_status adaopt_scale_next_grads(adaopt_optimizer *opt, double factor)
{
    if (opt == NULL)
        return ADAOPT_ERR_NULL;
    if (!(factor >= 0.0) || !isfinite(factor) || !isfinite((float)factor))
        return adaopt__fail(opt, ADAOPT_ERR_VALUE, "scale_next_grads: the factor must be finite "
                            "and >= 0 (got %g)", factor);
    opt->grad_factor = (float)factor;
    opt->grad_factor_set = 1;
    return ADAOPT_OK;
}
