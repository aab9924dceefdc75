/*
 * muon.c -- Muon (Jordan et al., 2024), as torch.optim.Muon (torch >= 2.9): momentum, then the
 * update orthogonalized by a quintic Newton-Schulz iteration, for 2-D parameters.
 *
 *   B = lerp(B, g, 1 - momentum);  U = nesterov ? lerp(g, B, momentum) : B
 *   X = U (transposed when it has more rows than columns: m = min(rows, cols) <= n), X /= max(|X|, eps)
 *   ns_steps times:  A = X X^T;  B' = b A + c A A;  X = a X + B' X
 *   p = p (1 - lr wd) - adjusted_lr X (transposed back)
 *
 * The iteration runs in float32 (torch's in bf16: the same iteration, coarser); its products
 * are matrix.c's, the same bits on every ISA and thread count, X X^T and A A computed on one
 * side of the diagonal.  A tensor needs its 2-D shape (adaopt_set_shape), which makes room for
 * the iteration's matrices so that the step allocates nothing.  A group with use_muon 0 steps
 * by AdamW instead (MuonWithAuxAdam's recipe in one optimizer: embeddings, biases, norms).
 * bf16/fp16 parameters go
 * through their float32 master weights (or are widened) and are rounded as param_update says;
 * the momentum may be kept in bf16 or 8-bit (decoded, updated, stored rounded; U is taken from
 * the unrounded values, as for the element-wise algorithms' staged blocks).  Element-wise parts follow
 * torch's single-tensor path op for op (its lerps; mul_ then add_ with alpha, fused).  Under
 * ZeRO-1 every shard holds whole tensors (boundaries at tensor starts): each rank orthogonalizes
 * its own matrices, and the gather spreads them.
 */
#include <math.h>
#include <string.h>

#include "algorithm.h"
#include "../precision.h"

static const adaopt__option_default OPTIONS[] = {
    {ADAOPT_LR, 1e-3},          {ADAOPT_WEIGHT_DECAY, 0.1}, {ADAOPT_MOMENTUM, 0.95},
    {ADAOPT_NESTEROV, 1.0},     {ADAOPT_NS_A, 3.4445},      {ADAOPT_NS_B, -4.7750},
    {ADAOPT_NS_C, 2.0315},      {ADAOPT_EPS, 1e-7},         {ADAOPT_NS_STEPS, 5},
    {ADAOPT_ADJUST_LR_FN, ADAOPT_ADJUST_ORIGINAL},
    {ADAOPT_USE_MUON, 1.0},     {ADAOPT_BETA1, 0.9},        {ADAOPT_BETA2, 0.95}, /* (AdamW's) */
    {0, 0.0}};

static int is_muon(const double *hp)
{
    return hp[ADAOPT_USE_MUON] != 0.0;
}

/* A Muon group's tensors keep the momentum buffer; an AdamW group's (use_muon 0) exp_avg and
 * exp_avg_sq. */
static unsigned slots(const double *hp)
{
    return is_muon(hp) ? 1u : 3u;
}

static adaopt_state_kind tensor_slot_kind(const adaopt_optimizer *opt, const adaopt_tensor *t,
                                          int k)
{
    if (is_muon(opt->groups[t->group].hp))
        return k == 0 ? ADAOPT_STATE_MOMENTUM_BUFFER : (adaopt_state_kind)0;
    return k == 0 ? ADAOPT_STATE_EXP_AVG : k == 1 ? ADAOPT_STATE_EXP_AVG_SQ : (adaopt_state_kind)0;
}

/* torch's _adjust_lr: lr scaled by the shape (rows A = fan-out, cols B = fan-in). */
static double adjusted_lr(const double *hp, size_t rows, size_t cols)
{
    double A = (double)rows, B = (double)cols, lr = hp[ADAOPT_LR];
    switch ((int)hp[ADAOPT_ADJUST_LR_FN]) {
    case ADAOPT_ADJUST_MATCH_RMS_ADAMW:
        return lr * (0.2 * sqrt(A > B ? A : B));
    case ADAOPT_ADJUST_SPECTRAL_UNCLAMPED:
        return lr * sqrt(A / B);
    default:
        return lr * sqrt(A / B > 1.0 ? A / B : 1.0);
    }
}

static void split(size_t rows, size_t cols, size_t *m, size_t *n)
{
    *m = rows < cols ? rows : cols;
    *n = rows < cols ? cols : rows;
}

static adaopt_status matrix_set(adaopt_optimizer *opt, size_t rows, size_t cols)
{
    size_t m, n, mn, mm, need;
    split(rows, cols, &m, &n);
    if (adaopt__mul_overflows(m, n, &mn) || adaopt__mul_overflows(m, m, &mm) ||
        adaopt__add_overflows(mn, mm, &need) || adaopt__mul_overflows(need, 2, &need) ||
        adaopt__add_overflows(need, mn, &need)) /* (and the decoded momentum of packed state) */
        return adaopt__fail(opt, ADAOPT_ERR_SIZE, "set_shape: a %zu x %zu matrix is too large",
                            rows, cols);
    if (need <= opt->matrix_ws_len)
        return ADAOPT_OK;
    float *ws = adaopt__realloc_array(opt->matrix_ws, need, sizeof *ws);
    if (ws == NULL)
        return adaopt__fail(opt, ADAOPT_ERR_ALLOC, "set_shape: out of memory for muon's "
                            "Newton-Schulz matrices of a %zu x %zu tensor (%zu floats)", rows,
                            cols, need);
    opt->matrix_ws = ws;
    opt->matrix_ws_len = need;
    return ADAOPT_OK;
}

static adaopt_status check_tensor(adaopt_optimizer *opt, size_t i)
{
    const adaopt_tensor *t = &opt->tensors[i];
    const adaopt_group *g = &opt->groups[t->group];
    if (!is_muon(g->hp)) {
        if (g->param_dtype != ADAOPT_DTYPE_F32 || g->grad_dtype != ADAOPT_DTYPE_F32 ||
            t->storage != ADAOPT_STORAGE_F32)
            return adaopt__fail(opt, ADAOPT_ERR_CONFLICT, "tensor %zu: muon's use_muon 0 "
                                "groups (AdamW) step float32 parameters, gradients and state",
                                i);
        return ADAOPT_OK; /* (any shape) */
    }
    if (t->numel > 0 && (t->mat_rows == 0 || t->mat_rows * t->mat_cols != t->numel))
        return adaopt__fail(opt, ADAOPT_ERR_CONFLICT,
                            "tensor %zu: muon updates matrices: give it its 2-D shape with "
                            "adaopt_set_shape (torch.optim.Muon takes 2-D parameters only; "
                            "step the others with AdamW)", i);
    return ADAOPT_OK;
}

static adaopt_status check_value(adaopt_optimizer *opt, adaopt_option option, double value)
{
    if (option == ADAOPT_NS_STEPS && value >= 100.0)
        return adaopt__fail(opt, ADAOPT_ERR_VALUE, "ns_steps must be < 100 (got %g), as "
                            "torch's", value);
    return ADAOPT_OK;
}

/* A Muon group's coefficients are the row's decay and lr (its update reads the group's
 * options); an AdamW group's, torch 2.x's AdamW's (torch.optim.Muon comes with torch 2.9). */
static void coeffs(adaopt_coeffs *c, const adaopt__algorithm *a, const adaopt_group *g,
                   const adaopt_tensor *t, const double *hp,
                   const adaopt_step_scalars *s, int slot0_ready)
{
    if (is_muon(hp)) {
        adaopt__common_coeffs(c, a, hp, s);
        return;
    }
    double adamw[ADAOPT_OPTION_MAX + 1];
    memcpy(adamw, hp, sizeof adamw);
    adamw[ADAOPT_TORCH] = ADAOPT_TORCH_2;
    adamw[ADAOPT_EPS_MODE] = ADAOPT_EPS_OUTSIDE;
    adamw[ADAOPT_AMSGRAD] = 0.0;
    adaopt__adam_coeffs(c, &adaopt__adamw_row, g, t, adamw, s, slot0_ready);
}

/* XT (n x m) = X (m x n)^T, in 32 x 32 blocks (both sides stay in the cache). */
static void transpose(const float *X, float *XT, size_t m, size_t n)
{
    enum { T = 32 };
    for (size_t i0 = 0; i0 < m; i0 += T)
        for (size_t j0 = 0; j0 < n; j0 += T) {
            size_t i1 = i0 + T < m ? i0 + T : m, j1 = j0 + T < n ? j0 + T : n;
            for (size_t i = i0; i < i1; i++)
                for (size_t j = j0; j < j1; j++)
                    XT[j * m + i] = X[i * n + j];
        }
}

/* X (m x n) = U (rows x cols), transposed when rows > cols. */
static void load_x(float *X, const float *U, size_t rows, size_t cols)
{
    if (rows <= cols)
        memcpy(X, U, rows * cols * sizeof *X);
    else
        transpose(U, X, rows, cols);
}


/* The orthogonalized update into O (rows x cols, the workspace's second matrix), from U loaded
 * into X, the first: X, T (m x n), A, S (m x m); then (the update's) the decoded momentum. */
static void newton_schulz(const adaopt_optimizer *opt, const double *hp, size_t rows,
                          size_t cols, float *ws, float *O)
{
    size_t m, n;
    split(rows, cols, &m, &n);
    float *X = ws, *T = X + m * n, *A = T + m * n, *S = A + m * m;
    double sq = 0.0; /* ortho_grad.norm(): in double, element order; then float32 */
    for (size_t e = 0; e < m * n; e++)
        sq += (double)X[e] * X[e];
    float norm = (float)sqrt(sq), floor_eps = (float)hp[ADAOPT_EPS];
    float d = norm < floor_eps ? floor_eps : norm; /* .clamp(min=eps) */
    for (size_t e = 0; e < m * n; e++)
        X[e] /= d;
    const float a = (float)hp[ADAOPT_NS_A], b = (float)hp[ADAOPT_NS_B], c = (float)hp[ADAOPT_NS_C];
    for (int s = 0; s < (int)hp[ADAOPT_NS_STEPS]; s++) {
        transpose(X, T, m, n);
        adaopt__matmul(opt, X, T, A, m, n, m, 1); /* A = X X^T */
        adaopt__matmul(opt, A, A, S, m, m, m, 1); /* A A (A is symmetric) */
        for (size_t e = 0; e < m * m; e++)
            S[e] = fmaf(c, S[e], b * A[e]); /* addmm(A, A, A, beta=b, alpha=c) */
        adaopt__matmul(opt, S, X, T, m, m, n, 0); /* (b A + c A A) X */
        for (size_t e = 0; e < m * n; e++)
            X[e] = fmaf(a, X[e], T[e]); /* addmm(X, B, X, beta=a) */
    }
    if (rows <= cols)
        memcpy(O, X, m * n * sizeof *O);
    else
        transpose(X, O, m, n); /* (X is cols x rows: O = X^T, rows x cols) */
}

static int update(adaopt_optimizer *opt, void *const *params, const void *const *grads,
                  size_t work)
{
    (void)work;
    for (size_t i = 0; i < opt->n_tensors; i++) {
        adaopt_tensor *t = &opt->tensors[i];
        if (grads[i] == NULL || t->numel == 0) /* (a ZeRO rank's empty piece) */
            continue;
        const adaopt_group *grp = &opt->groups[t->group];
        const double *hp = grp->hp;
        if (!is_muon(hp)) { /* AdamW's element-wise kernel (float32 groups: check_tensor) */
            opt->kernels->by_algorithm[ADAOPT_ALGO_ADAMW](&opt->coeffs[i], params[i],
                                                          grads[i], t->slot[0], t->slot[1],
                                                          NULL, t->numel);
            continue;
        }
        size_t rows = t->mat_rows, cols = t->mat_cols, m, n;
        split(rows, cols, &m, &n);
        /* the momentum, decoded after the iteration's matrices where it is packed */
        float *buf = t->slot[0];
        if (t->storage != ADAOPT_STORAGE_F32) {
            buf = opt->matrix_ws + 2 * m * n + 2 * m * m;
            adaopt__read_slot(opt, t, 0, buf);
        }
        /* The workspace: X, T (m x n), A, S.  The gradient, widened, in X; U (rows x cols)
         * into T; X from it; the update O comes back in T; the parameter, widened, in X. */
        float *ws = opt->matrix_ws, *X = ws, *T = ws + m * n;
        const float *g = grads[i];
        if (grp->grad_dtype != ADAOPT_DTYPE_F32) {
            adaopt__widen(opt, grp->grad_dtype, grads[i], 0, t->numel, X);
            g = X;
        }
        const float w_buf = (float)(1.0 - hp[ADAOPT_MOMENTUM]), w_nes = (float)hp[ADAOPT_MOMENTUM];
        int nesterov = hp[ADAOPT_NESTEROV] != 0.0, maximize = hp[ADAOPT_MAXIMIZE] != 0.0;
        for (size_t e = 0; e < t->numel; e++) {
            float ge = maximize ? -g[e] : g[e];
            buf[e] = adaopt__lerp(buf[e], ge, w_buf); /* buf.lerp_(grad, 1 - momentum) */
            T[e] = nesterov ? adaopt__lerp(ge, buf[e], w_nes) : buf[e]; /* grad.lerp(buf, m) */
        }
        if (t->storage != ADAOPT_STORAGE_F32)
            adaopt__write_slot(opt, t, 0, buf); /* bf16, or 8-bit codes of each block */
        load_x(X, T, rows, cols);
        newton_schulz(opt, hp, rows, cols, ws, T);
        const float decay = (float)(1.0 - hp[ADAOPT_LR] * hp[ADAOPT_WEIGHT_DECAY]);
        const float neg_lr = (float)-adjusted_lr(hp, rows, cols);
        /* float32 parameters in place; bf16/fp16 ones through their master weights, or
         * widened, then rounded as param_update says */
        float *p = grp->param_dtype == ADAOPT_DTYPE_F32 ? params[i] : t->master;
        if (p == NULL) {
            adaopt__widen(opt, grp->param_dtype, params[i], 0, t->numel, X);
            p = X;
        } else if (p == t->master && !t->master_ready) {
            adaopt__fill_master(opt, t, params[i]);
        }
        for (size_t e = 0; e < t->numel; e++)
            p[e] = fmaf(neg_lr, T[e], p[e] * decay); /* mul_(1 - lr wd); add_(O, alpha=-lr') */
        if (grp->param_dtype != ADAOPT_DTYPE_F32) {
            int update_mode = (int)hp[ADAOPT_PARAM_UPDATE];
            int stochastic = update_mode == ADAOPT_UPDATE_MASTER_SR ||
                             update_mode == ADAOPT_UPDATE_SR;
            adaopt__narrow(opt, grp->param_dtype, stochastic, p, 0, t->numel, params[i],
                           adaopt__noise_seed(opt->rounding_seed, i, t->step + 1), t->noise_base);
        }
    }
    return 0;
}

/* The adjusted lr, for every coordinate: the factor on the orthogonalized update (an AdamW
 * group's: AdamW's). */
static adaopt_status effective_lr(const adaopt__lr_query *q, float *out, size_t n)
{
    if (!is_muon(q->hp))
        return adaopt__adam_lr(q, out, n);
    float lr = (float)adjusted_lr(q->hp, q->t->mat_rows, q->t->mat_cols);
    for (size_t k = 0; k < n; k++)
        out[k] = lr;
    return ADAOPT_OK;
}

const adaopt__algorithm adaopt__muon_row = {
    .name = "muon",
    .options = OPTIONS,
    .slot_kind = {ADAOPT_STATE_MOMENTUM_BUFFER, ADAOPT_STATE_EXP_AVG_SQ},
    .alt_kind = {ADAOPT_STATE_EXP_AVG},
    .tensor_slot_kind = tensor_slot_kind,
    .slot_kinds_why = "muon's use_muon 0 groups keep AdamW's exp_avg and exp_avg_sq",
    .slots = slots,
    .matrix_set = matrix_set,
    .check_tensor = check_tensor,
    .decay = ADAOPT__DECAY_OWN,
    .no_sparse = "does not take sparse gradients (nor does torch.optim.Muon)",
    .shard = ADAOPT__SHARD_TENSORS,
    .check_value = check_value,
    .scalars = adaopt__adam_scalars, /* (an AdamW group's bias corrections) */
    .coeffs = coeffs,
    .update = update,
    .update_failure = "muon's update failed",
    .effective_lr = effective_lr,
};
