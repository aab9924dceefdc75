/*
 * kernels.h -- the element-wise update kernels and the per-step scalars they share.
 *
 * The optimizer (src/optimizer.c) computes, once per tensor per step and in double precision,
 * every scalar that depends only on the hyperparameters and on t (bias corrections, clr,
 * NAdam's mu) and rounds it to float into an `adaopt_coeffs`.  A kernel then makes one pass
 * over [0, n): each element's parameter, gradient and state are read once and written once.
 * Kernels know nothing of groups, schedules or errors.
 *
 * The arithmetic inside a kernel is float32, operation for operation what torch's single-tensor
 * code does with its tensor ops on the CPU, rounding where they round:
 *   a.mul_(s)                     a * s
 *   a.add_(b, alpha=s)            fma(s, b, a)          (torch's CPU kernels fuse it)
 *   a.addcmul_(b, c, value=s)     fma(s * b, c, a)
 *   a.addcdiv_(b, c, value=s)     a + (s * b) / c       (not fused)
 *   a.lerp_(b, w)                 fma(w, b - a, a) for |w| < 0.5, else fma(w - 1, b - a, b)
 *   s / a  (a Python float)       (1 / a) * s           (Tensor.__rtruediv__ is reciprocal * s)
 * with every Python scalar rounded to float once, from double (so are the coefficients here).
 * Which of these an algorithm uses is the torch version's (ADAOPT_TORCH: 2.x lerps its first
 * moments where 1.13 multiplies and adds).  fmaf is correctly rounded everywhere and every ISA
 * fuses the same operations, so every kernel gives the same bits.
 */
#ifndef ADAOPT_KERNELS_H
#define ADAOPT_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* The state arrays of one tensor; which slot holds what depends on the algorithm
 * (each algorithm's row, src/algorithms/, says which slot holds which state). */
enum { ADAOPT_MAX_SLOTS = 3 };

typedef struct adaopt_coeffs {
    /* prologue */
    int maximize;          /* g = -g */
    float weight_decay;    /* coupled: g = g + weight_decay * p (0: off) */
    float decay_factor;    /* decoupled: p = p * decay_factor (1 - lr*wd); 1: off */
    int decoupled;         /* decay_factor applies */
    int eps_mode;          /* adaopt_eps_mode */
    float eps;

    /* SGD */
    float lr;              /* SGD, RMSProp */
    float neg_lr;          /* -lr */
    float momentum;
    float one_minus_dampening;
    int nesterov;
    int buffer_is_new;     /* SGD: momentum buffer not yet created: b = g */
    int use_momentum;      /* SGD: momentum != 0; RMSProp: momentum > 0 */

    /* AdaGrad */
    float neg_clr;         /* -lr / (1 + (t-1) lr_decay) */

    /* RMSProp */
    float alpha, one_minus_alpha;
    int centered;

    /* Adam family */
    float beta1, one_minus_beta1, beta2, one_minus_beta2;
    float neg_step_size;   /* Adam/Adamax: -lr / bc1;  HAT: -lr * sqrt(bc2) / bc1 */
    float bc2_sqrt;        /* sqrt(1 - beta2^t) */
    float bc2;             /* 1 - beta2^t */
    int amsgrad;

    /* NAdam */
    float neg_grad_coef;   /* -lr (1 - mu_t) / (1 - P_t) */
    float neg_avg_coef;    /* -lr mu_next / (1 - P_t mu_next) */

    /* RAdam */
    int rectified;         /* rho_t > 5 */
    float neg_lr_over_bc1; /* -lr / bc1 */
    float rect;            /* r */
    float lr_f;            /* lr */
    float bc1;             /* 1 - beta1^t */

    /* Schedule-Free AdamW (also: beta2, one_minus_beta2, bc2, eps, neg_lr = -lr_k;
     * buffer_is_new: z is born as a copy of p) */
    float sf_decay;        /* weight_decay, added to the normalized gradient at y */
    float lerp_coef;       /* c = weight / weight_sum (y moves toward z by c), or c - 1 when
                              |c| >= 0.5 (torch's lerp: see the kernel) */
    int lerp_from_end;     /* |c| >= 0.5: y = z + (c-1)(z-y) */
    /* The classic algorithms' first moment (Adam family's m, centered RMSProp's average) by
     * torch 2.x's lerp_(g, w): m = fma(lerp_coef, g - m, lerp_from_end ? g : m), lerp_coef = w
     * (1 - beta1 or 1 - alpha) or w - 1 when w >= 0.5.  0: torch 1.13's fma(w, g, m * beta). */
    int lerp_m;
    float y_coef;          /* lr_k (beta1 (1 - c) - 1) */

    /* LAMB (also: maximize, beta1, beta2, one_minus_beta2, eps, decoupled, decay_factor,
     * neg_step_size = -lr / bc1) */
    float lamb_beta3;      /* 1 - beta1 with grad_averaging, else 1 */
    float lamb_wd;         /* weight_decay added to u (weight_decouple off), else 0 */
    float trust;           /* this step's trust ratio (1 in adam mode), for the second pass */
    int lamb_u_in_grad;    /* the second pass reads u from g (the first pass wrote it there:
                              adaopt_set_overwrite_grads) instead of recomputing it */

    /* Adadelta (also: maximize, weight_decay, eps, neg_lr) */
    float rho, one_minus_rho;

    /* Rprop (also: maximize) */
    float eta_minus, eta_plus, step_size_min, step_size_max;

    /* ASGD (also: maximize, weight_decay) */
    float asgd_decay;      /* 1 - lambd eta */
    float neg_eta;         /* -eta */
    float mu;              /* the average's weight */
    int mu_is_one;         /* ax = p (torch's mu.item() == 1) */
} adaopt_coeffs;

/* One function per algorithm family.  s0..s2 are the tensor's state slots (unused ones NULL). */
typedef void (*adaopt_kernel_fn)(const adaopt_coeffs *c, float *p, const float *g, float *s0,
                                 float *s1, float *s2, size_t n);

void adaopt_sgd_scalar(const adaopt_coeffs *c, float *p, const float *g, float *buf, float *u1,
                       float *u2, size_t n);
void adaopt_adagrad_scalar(const adaopt_coeffs *c, float *p, const float *g, float *sum,
                           float *u1, float *u2, size_t n);
void adaopt_rmsprop_scalar(const adaopt_coeffs *c, float *p, const float *g, float *square_avg,
                           float *momentum_buffer, float *grad_avg, size_t n);
void adaopt_adam_scalar(const adaopt_coeffs *c, float *p, const float *g, float *exp_avg,
                        float *exp_avg_sq, float *max_exp_avg_sq, size_t n);
void adaopt_adamax_scalar(const adaopt_coeffs *c, float *p, const float *g, float *exp_avg,
                          float *exp_inf, float *u2, size_t n);
void adaopt_nadam_scalar(const adaopt_coeffs *c, float *p, const float *g, float *exp_avg,
                         float *exp_avg_sq, float *u2, size_t n);
void adaopt_radam_scalar(const adaopt_coeffs *c, float *p, const float *g, float *exp_avg,
                         float *exp_avg_sq, float *u2, size_t n);
void adaopt_lion_scalar(const adaopt_coeffs *c, float *p, const float *g, float *exp_avg,
                        float *u1, float *u2, size_t n);
void adaopt_sf_adamw_scalar(const adaopt_coeffs *c, float *p, const float *g, float *z,
                            float *exp_avg_sq, float *u2, size_t n);
void adaopt_adadelta_scalar(const adaopt_coeffs *c, float *p, const float *g, float *square_avg,
                            float *acc_delta, float *u2, size_t n);
void adaopt_rprop_scalar(const adaopt_coeffs *c, float *p, const float *g, float *step_size,
                         float *prev, float *u2, size_t n);
void adaopt_asgd_scalar(const adaopt_coeffs *c, float *p, const float *g, float *ax, float *u1,
                        float *u2, size_t n);
/* C (+)= L R on a tile of up to 4 rows (matrix.c drives it). */
typedef void (*adaopt_gemm_tile_fn)(const float *L, size_t ldl, const float *R, size_t ldr,
                                    float *C, size_t ldc, size_t mr, size_t n, size_t kc,
                                    int first);
void adaopt_gemm_tile_scalar(const float *L, size_t ldl, const float *R, size_t ldr, float *C,
                             size_t ldc, size_t mr, size_t n, size_t kc, int first);
/* LAMB's two passes.  moments: m and v updated in place; the squares of the decayed p and of
 * the Adam direction u added, in double, into acc[0..16) and acc[16..32) (element j into
 * accumulator j % 16, in element order: adaopt__sumsq16's order; p itself is not written); u
 * also stored to u_out unless it is NULL.  apply: p = decayed p - step * trust * u, with the
 * decay recomputed from p, and u recomputed from m and v -- or read from g where
 * c->lamb_u_in_grad (the same bits either way). */
enum { ADAOPT_LAMB_BLOCK = 256, ADAOPT_LAMB_LANES = 16 };
void adaopt_lamb_moments_scalar(const adaopt_coeffs *c, const float *p, const float *g,
                                float *exp_avg, float *exp_avg_sq, float *u_out, size_t n,
                                double *acc);
void adaopt_lamb_apply_scalar(const adaopt_coeffs *c, float *p, const float *g, float *exp_avg,
                              float *exp_avg_sq, float *u2, size_t n);

/* Adafactor's element-wise parts, per row of a factored tensor or per piece of a vector (the
 * reductions between them are in src/algorithms/adafactor.c).  u = rsqrt(max(var, eps1^2)) * (sign g), with
 * var = row * col[i] / mean (a matrix row) or var = lerp(v[i], g^2, w) stored back (a vector);
 * adafactor_*_u writes u to u_out, adafactor_*_apply moves p = fma(u, step, p * decay). */
typedef struct adaopt_af_row {
    float row, mean;      /* the row's row_var and its batch's clamped mean (matrices) */
    float w;              /* the lerp weight t^beta2_decay (vectors) */
    float eps1_sq, sign;  /* eps1^2; -1 when maximizing */
    float decay, step;    /* 1 - lr wd (when decayed), -alpha / denom */
    int decayed;
} adaopt_af_row;
void adaopt_af_matrix_u_scalar(const adaopt_af_row *a, const float *g, const float *col,
                               float *u_out, size_t n);
void adaopt_af_matrix_apply_scalar(const adaopt_af_row *a, float *p, const float *g,
                                   const float *col, size_t n);
void adaopt_af_vector_u_scalar(const adaopt_af_row *a, const float *g, float *v, float *u_out,
                               size_t n);
void adaopt_af_vector_apply_scalar(const adaopt_af_row *a, float *p, const float *g,
                                   const float *v, size_t n);
void adaopt_af_row_sums_scalar(const float *g, const float *p, size_t n, double *acc_g,
                               double *acc_p, double *col);
/* p = fma(u, step, p decayed) with u as the second pass left it (adaopt_set_overwrite_grads):
 * the apply kernels' last two operations, the same bits. */
void adaopt_af_apply_u_scalar(const adaopt_af_row *a, float *p, const float *u, size_t n);
typedef struct adaopt_af_fns {
    void (*matrix_u)(const adaopt_af_row *, const float *, const float *, float *, size_t);
    void (*matrix_apply)(const adaopt_af_row *, float *, const float *, const float *, size_t);
    void (*vector_u)(const adaopt_af_row *, const float *, float *, float *, size_t);
    void (*vector_apply)(const adaopt_af_row *, float *, const float *, const float *, size_t);
    /* a block of a matrix row: its squares of g and of p into 16 accumulators each
     * (adaopt__sumsq16), and col[j] += g[j]^2 (adaopt__af_row_sums) */
    void (*row_sums)(const float *, const float *, size_t, double *, double *, double *);
    void (*apply_u)(const adaopt_af_row *, float *, const float *, size_t);
} adaopt_af_fns;

/* acc[j] += x[i]^2 for i = j mod 16, in double (each square exact; each accumulator in element
 * order): plain C that each ISA's file compiles with its own vector flags -- the same bits
 * everywhere, since the order of every addition is fixed. */
static inline void adaopt__sumsq16(const float *x, size_t n, double *acc)
{
    size_t i = 0;
    for (; i + ADAOPT_LAMB_LANES <= n; i += ADAOPT_LAMB_LANES)
        for (int j = 0; j < ADAOPT_LAMB_LANES; j++)
            acc[j] += (double)x[i + j] * (double)x[i + j];
    for (int j = 0; j < ADAOPT_LAMB_LANES && i < n; i++, j++) /* (fewer than 16 left) */
        acc[j] += (double)x[i] * (double)x[i];
}

/* Adafactor's first pass over a block of n elements of a matrix row: the squares of g and p
 * into acc_g and acc_p (adaopt__sumsq16) and each column's g^2 added to col (in double: the
 * squares are exact, so every ISA's fused or unfused add gives the same bits). */
static inline void adaopt__af_row_sums(const float *g, const float *p, size_t n, double *acc_g,
                                       double *acc_p, double *col)
{
    adaopt__sumsq16(g, n, acc_g);
    adaopt__sumsq16(p, n, acc_p);
    for (size_t j = 0; j < n; j++)
        col[j] += (double)g[j] * (double)g[j];
}

/* The same kernels for each ISA (avx2.c, avx512.c, neon.c: simd_body.h), bit-identical to the
 * scalar ones. */
#define ADAOPT_DECLARE_KERNELS(isa)                                                           \
    void adaopt_sgd_##isa(const adaopt_coeffs *, float *, const float *, float *, float *,    \
                          float *, size_t);                                                   \
    void adaopt_adagrad_##isa(const adaopt_coeffs *, float *, const float *, float *,         \
                              float *, float *, size_t);                                      \
    void adaopt_rmsprop_##isa(const adaopt_coeffs *, float *, const float *, float *,         \
                              float *, float *, size_t);                                      \
    void adaopt_adam_##isa(const adaopt_coeffs *, float *, const float *, float *, float *,   \
                           float *, size_t);                                                  \
    void adaopt_adamax_##isa(const adaopt_coeffs *, float *, const float *, float *, float *, \
                             float *, size_t);                                                \
    void adaopt_nadam_##isa(const adaopt_coeffs *, float *, const float *, float *, float *,  \
                            float *, size_t);                                                 \
    void adaopt_radam_##isa(const adaopt_coeffs *, float *, const float *, float *, float *,  \
                            float *, size_t);                                                 \
    void adaopt_lion_##isa(const adaopt_coeffs *, float *, const float *, float *, float *,   \
                           float *, size_t);                                                  \
    void adaopt_sf_adamw_##isa(const adaopt_coeffs *, float *, const float *, float *,        \
                               float *, float *, size_t);                                     \
    void adaopt_adadelta_##isa(const adaopt_coeffs *, float *, const float *, float *,        \
                               float *, float *, size_t);                                     \
    void adaopt_asgd_##isa(const adaopt_coeffs *, float *, const float *, float *, float *,   \
                           float *, size_t);                                                  \
    void adaopt_gemm_tile_##isa(const float *, size_t, const float *, size_t, float *, size_t, \
                                size_t, size_t, size_t, int);                                 \
    void adaopt_lamb_moments_##isa(const adaopt_coeffs *, const float *, const float *,      \
                                   float *, float *, float *, size_t, double *);              \
    void adaopt_lamb_apply_##isa(const adaopt_coeffs *, float *, const float *, float *,      \
                                 float *, float *, size_t);                                   \
    void adaopt_af_matrix_u_##isa(const adaopt_af_row *, const float *, const float *, float *, \
                                  size_t);                                                    \
    void adaopt_af_matrix_apply_##isa(const adaopt_af_row *, float *, const float *,          \
                                      const float *, size_t);                                 \
    void adaopt_af_vector_u_##isa(const adaopt_af_row *, const float *, float *, float *,     \
                                  size_t);                                                    \
    void adaopt_af_vector_apply_##isa(const adaopt_af_row *, float *, const float *,          \
                                      const float *, size_t);                                 \
    void adaopt_af_apply_u_##isa(const adaopt_af_row *, float *, const float *, size_t);      \
    void adaopt_af_row_sums_##isa(const float *, const float *, size_t, double *, double *,   \
                                  double *);
ADAOPT_DECLARE_KERNELS(avx2)
ADAOPT_DECLARE_KERNELS(avx512)
ADAOPT_DECLARE_KERNELS(neon)

/* Conversions of the low-precision path (src/lowp.c), per ISA and bit-identical to the scalar
 * ones (lowp.c), each over n elements:
 *   decode8      out = map[code] * absmax
 *   encode8      absmax = max |in| (NaN ignored), code = quantize(in / absmax) with the sign fix
 *                when is_signed; returns absmax
 *   bf16_widen   out = in << 16
 *   bf16_narrow  round to nearest-even; stochastic: with the noise of elements index0, ... */
struct adaopt__qtable;
typedef struct adaopt_lowp_fns {
    void (*decode8)(const uint8_t *code, const float *map, float absmax, float *out, size_t n);
    float (*encode8)(const struct adaopt__qtable *q, int is_signed, const float *in, size_t n,
                     uint8_t *code);
    void (*bf16_widen)(const uint16_t *in, float *out, size_t n);
    void (*bf16_narrow)(const float *in, uint16_t *out, size_t n);
    void (*bf16_narrow_sr)(const float *in, uint16_t *out, size_t n, uint32_t seed,
                           uint64_t index0);
} adaopt_lowp_fns;

#define ADAOPT_DECLARE_LOWP(isa)                                                              \
    void adaopt_decode8_##isa(const uint8_t *, const float *, float, float *, size_t);        \
    float adaopt_encode8_##isa(const struct adaopt__qtable *, int, const float *, size_t,     \
                               uint8_t *);                                                    \
    void adaopt_bf16_widen_##isa(const uint16_t *, float *, size_t);                          \
    void adaopt_bf16_narrow_##isa(const float *, uint16_t *, size_t);                         \
    void adaopt_bf16_narrow_sr_##isa(const float *, uint16_t *, size_t, uint32_t, uint64_t);
ADAOPT_DECLARE_LOWP(scalar)
ADAOPT_DECLARE_LOWP(avx2)
/* AVX-512F has its own 8-bit and bf16 conversions and stochastic rounding. */
void adaopt_decode8_avx512(const uint8_t *, const float *, float, float *, size_t);
float adaopt_encode8_avx512(const struct adaopt__qtable *, int, const float *, size_t, uint8_t *);
void adaopt_bf16_widen_avx512(const uint16_t *, float *, size_t);
void adaopt_bf16_narrow_avx512(const float *, uint16_t *, size_t);
void adaopt_bf16_narrow_sr_avx512(const float *, uint16_t *, size_t, uint32_t, uint64_t);

/* One ISA's kernel for each algorithm, indexed by adaopt_algorithm, and its conversions. */
typedef struct adaopt_kernel_table {
    adaopt_kernel_fn by_algorithm[32]; /* by adaopt_algorithm, 1 .. the last (LAMB: apply;
                                          NULL: Adafactor, Muon, whose passes are their own) */
    void (*lamb_moments)(const adaopt_coeffs *, const float *, const float *, float *, float *,
                         float *, size_t, double *); /* LAMB's first pass */
    adaopt_af_fns adafactor;
    adaopt_lowp_fns lowp;
    adaopt_gemm_tile_fn gemm_tile; /* Muon's matrix products */
} adaopt_kernel_table;

/* The table of `isa` (an adaopt_isa), or NULL if it is not built in or this CPU lacks it. */
const adaopt_kernel_table *adaopt__kernel_table(int isa);
/* The fastest ISA this build and CPU support. */
int adaopt__best_isa(void);

#endif /* ADAOPT_KERNELS_H */
