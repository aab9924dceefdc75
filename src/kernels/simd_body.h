/*
 * simd_body.h -- the vector kernels, written once over a small shim of vector operations.
 *
 * Included by avx2.c, avx512.c and neon.c after they define:
 *   VEC, W (lanes), KERNEL(name) (the exported function name for this ISA),
 *   VLOAD, VSTORE (unaligned), VSET1, VADD, VSUB, VMUL, VDIV, VSQRT,
 *   VXOR (bitwise, for exact negation), VABS, VMAX_NAN(a, b) = (a is NaN or a > b) ? a : b.
 *
 * Every line performs the same float32 operations, in the same order, as the scalar reference
 * in scalar.c: VFMA exactly where it calls fmaf (the library builds with -ffp-contract=off, so
 * the compiler fuses nothing else), and IEEE division and square root are correctly rounded in
 * vector form too.  A vector kernel is
 * therefore bit-identical to the scalar one (a NaN's payload aside: IEEE lets an operation return
 * either operand's NaN), so the remainder of a tensor can be handed to the
 * scalar kernel, any split across threads gives the same bits, and results do not depend on the
 * machine.  tests/test_kernels.c checks this bit for bit, NaN and infinity included.
 *
 * Flags (maximize, amsgrad, eps_mode, ...) are the same for a whole call: the branches on them
 * inside the loops are perfectly predicted.
 */
#include "kernels.h"
#include "../../include/adaopt.h"

/* The remainder [i, n) of a tensor, by the scalar reference. */
#define TAIL(fn, s0, s1, s2)                                                                  \
    do {                                                                                      \
        if (i < n)                                                                            \
            fn(c, p + i, g + i, (s0) ? (s0) + i : NULL, (s1) ? (s1) + i : NULL,               \
               (s2) ? (s2) + i : NULL, n - i);                                                \
    } while (0)

/* maximize, then coupled L2 decay (prologue_grad in scalar.c). */
static inline VEC prologue(const adaopt_coeffs *c, VEC g, VEC p, VEC sign, VEC wd)
{
    g = VXOR(g, sign); /* -g when maximizing: the sign bit, exactly as scalar negation */
    if (c->weight_decay != 0.0f)
        g = VFMA(wd, p, g);
    return g;
}

/* torch's lerp with w's coefficient precomputed (coef_lerp in scalar.c); lerp_coef is
 * VSET1(c->lerp_coef). */
static inline VEC coef_lerp_v(const adaopt_coeffs *c, VEC lerp_coef, VEC start, VEC end)
{
    return VFMA(lerp_coef, VSUB(end, start), c->lerp_from_end ? end : start);
}

/* The classic first moment (first_moment in scalar.c): torch 2.x's lerp or 1.13's mul + add. */
static inline VEC first_moment_v(const adaopt_coeffs *c, VEC m, VEC g, VEC beta, VEC w,
                                 VEC lerp_coef)
{
    return c->lerp_m ? coef_lerp_v(c, lerp_coef, m, g) : VFMA(w, g, VMUL(m, beta));
}

static inline VEC denom_v(const adaopt_coeffs *c, VEC u, VEC bc2, VEC bc2_sqrt, VEC eps)
{
    switch (c->eps_mode) {
    case ADAOPT_EPS_INSIDE:
        return VSQRT(VADD(VDIV(u, bc2), eps));
    case ADAOPT_EPS_HAT:
        return VADD(VSQRT(u), eps);
    default:
        return VADD(VDIV(VSQRT(u), bc2_sqrt), eps);
    }
}

#define COMMON_CONSTANTS                                                                      \
    const VEC sign = VSET1(c->maximize ? -0.0f : 0.0f);                                       \
    const VEC wd = VSET1(c->weight_decay);                                                    \
    const VEC eps = VSET1(c->eps);                                                            \
    size_t i = 0

void KERNEL(sgd)(const adaopt_coeffs *c, float *p, const float *g, float *buf, float *u1,
                 float *u2, size_t n)
{
    COMMON_CONSTANTS;
    (void)eps;
    const VEC momentum = VSET1(c->momentum), damp = VSET1(c->one_minus_dampening);
    const VEC neg_lr = VSET1(c->neg_lr);
    for (; i + W <= n; i += W) {
        VEC pi = VLOAD(p + i);
        VEC d = prologue(c, VLOAD(g + i), pi, sign, wd);
        if (c->use_momentum) {
            VEC b = c->buffer_is_new ? d : VFMA(damp, d, VMUL(VLOAD(buf + i), momentum));
            VSTORE(buf + i, b);
            d = c->nesterov ? VFMA(momentum, b, d) : b;
        }
        VSTORE(p + i, VFMA(neg_lr, d, pi));
    }
    TAIL(adaopt_sgd_scalar, buf, u1, u2);
}

void KERNEL(adagrad)(const adaopt_coeffs *c, float *p, const float *g, float *sum, float *u1,
                     float *u2, size_t n)
{
    COMMON_CONSTANTS;
    const VEC neg_clr = VSET1(c->neg_clr);
    const int inside = c->eps_mode == ADAOPT_EPS_INSIDE;
    for (; i + W <= n; i += W) {
        VEC pi = VLOAD(p + i);
        VEC gi = prologue(c, VLOAD(g + i), pi, sign, wd);
        VEC G = VFMA(gi, gi, VLOAD(sum + i));
        VEC std = inside ? VSQRT(VADD(G, eps)) : VADD(VSQRT(G), eps);
        VSTORE(sum + i, G);
        VSTORE(p + i, VADD(pi, VDIV(VMUL(neg_clr, gi), std)));
    }
    TAIL(adaopt_adagrad_scalar, sum, u1, u2);
}

void KERNEL(rmsprop)(const adaopt_coeffs *c, float *p, const float *g, float *square_avg,
                     float *momentum_buffer, float *grad_avg, size_t n)
{
    COMMON_CONSTANTS;
    const VEC alpha = VSET1(c->alpha), oma = VSET1(c->one_minus_alpha);
    const VEC momentum = VSET1(c->momentum), neg_lr = VSET1(c->neg_lr);
    const VEC lerp_coef = VSET1(c->lerp_coef);
    const int inside = c->eps_mode == ADAOPT_EPS_INSIDE;
    for (; i + W <= n; i += W) {
        VEC pi = VLOAD(p + i);
        VEC gi = prologue(c, VLOAD(g + i), pi, sign, wd);
        VEC S = VFMA(VMUL(oma, gi), gi, VMUL(VLOAD(square_avg + i), alpha));
        VSTORE(square_avg + i, S);
        VEC var = S;
        if (c->centered) {
            VEC A = first_moment_v(c, VLOAD(grad_avg + i), gi, alpha, oma, lerp_coef);
            VSTORE(grad_avg + i, A);
            var = VFMA(VXOR(A, VSET1(-0.0f)), A, S); /* fmaf(-A, A, S) */
        }
        VEC avg = inside ? VSQRT(VADD(var, eps)) : VADD(VSQRT(var), eps);
        if (c->use_momentum) {
            VEC b = VADD(VMUL(VLOAD(momentum_buffer + i), momentum), VDIV(gi, avg));
            VSTORE(momentum_buffer + i, b);
            VSTORE(p + i, VFMA(neg_lr, b, pi));
        } else {
            VSTORE(p + i, VADD(pi, VDIV(VMUL(neg_lr, gi), avg)));
        }
    }
    TAIL(adaopt_rmsprop_scalar, square_avg, momentum_buffer, grad_avg);
}

/* Decoupled decay, prologue and both moments (adam_moments in scalar.c); returns g. */
#define ADAM_CONSTANTS                                                                        \
    COMMON_CONSTANTS;                                                                         \
    const VEC decay = VSET1(c->decay_factor);                                                 \
    const VEC b1 = VSET1(c->beta1), omb1 = VSET1(c->one_minus_beta1);                         \
    const VEC b2 = VSET1(c->beta2), omb2 = VSET1(c->one_minus_beta2);                         \
    const VEC bc2 = VSET1(c->bc2), bc2_sqrt = VSET1(c->bc2_sqrt);                            \
    const VEC lerp_coef = VSET1(c->lerp_coef)

#define ADAM_MOMENTS(m_, v_)                                                                  \
    VEC pi = VLOAD(p + i);                                                                    \
    if (c->decoupled)                                                                         \
        pi = VMUL(pi, decay);                                                                 \
    VEC gi = prologue(c, VLOAD(g + i), pi, sign, wd);                                         \
    VEC m = first_moment_v(c, VLOAD((m_) + i), gi, b1, omb1, lerp_coef);                      \
    VEC v = VFMA(VMUL(omb2, gi), gi, VMUL(VLOAD((v_) + i), b2));                              \
    VSTORE((m_) + i, m);                                                                      \
    VSTORE((v_) + i, v)

void KERNEL(adam)(const adaopt_coeffs *c, float *p, const float *g, float *exp_avg,
                  float *exp_avg_sq, float *max_exp_avg_sq, size_t n)
{
    ADAM_CONSTANTS;
    const VEC step = VSET1(c->neg_step_size);
    for (; i + W <= n; i += W) {
        ADAM_MOMENTS(exp_avg, exp_avg_sq);
        (void)gi;
        VEC u = v;
        if (c->amsgrad) {
            u = VMAX_NAN(VLOAD(max_exp_avg_sq + i), v);
            VSTORE(max_exp_avg_sq + i, u);
        }
        VSTORE(p + i, VADD(pi, VDIV(VMUL(step, m), denom_v(c, u, bc2, bc2_sqrt, eps))));
    }
    TAIL(adaopt_adam_scalar, exp_avg, exp_avg_sq, max_exp_avg_sq);
}

void KERNEL(adamax)(const adaopt_coeffs *c, float *p, const float *g, float *exp_avg,
                    float *exp_inf, float *u2, size_t n)
{
    COMMON_CONSTANTS;
    const VEC b1 = VSET1(c->beta1), omb1 = VSET1(c->one_minus_beta1), b2 = VSET1(c->beta2);
    const VEC step = VSET1(c->neg_step_size), lerp_coef = VSET1(c->lerp_coef);
    for (; i + W <= n; i += W) {
        VEC pi = VLOAD(p + i);
        VEC gi = prologue(c, VLOAD(g + i), pi, sign, wd);
        VEC m = first_moment_v(c, VLOAD(exp_avg + i), gi, b1, omb1, lerp_coef);
        VEC u = VMAX_NAN(VMUL(VLOAD(exp_inf + i), b2), VADD(VABS(gi), eps));
        VSTORE(exp_avg + i, m);
        VSTORE(exp_inf + i, u);
        VSTORE(p + i, VADD(pi, VDIV(VMUL(step, m), u)));
    }
    TAIL(adaopt_adamax_scalar, exp_avg, exp_inf, u2);
}

void KERNEL(nadam)(const adaopt_coeffs *c, float *p, const float *g, float *exp_avg,
                   float *exp_avg_sq, float *u2, size_t n)
{
    ADAM_CONSTANTS;
    const VEC grad_coef = VSET1(c->neg_grad_coef), avg_coef = VSET1(c->neg_avg_coef);
    for (; i + W <= n; i += W) {
        ADAM_MOMENTS(exp_avg, exp_avg_sq);
        VEC d = c->eps_mode == ADAOPT_EPS_OUTSIDE ? VADD(VSQRT(VDIV(v, bc2)), eps)
                                                  : denom_v(c, v, bc2, bc2_sqrt, eps);
        pi = VADD(pi, VDIV(VMUL(grad_coef, gi), d));
        VSTORE(p + i, VADD(pi, VDIV(VMUL(avg_coef, m), d)));
    }
    TAIL(adaopt_nadam_scalar, exp_avg, exp_avg_sq, u2);
}

void KERNEL(radam)(const adaopt_coeffs *c, float *p, const float *g, float *exp_avg,
                   float *exp_avg_sq, float *u2, size_t n)
{
    ADAM_CONSTANTS;
    const VEC bc1 = VSET1(c->bc1), lr = VSET1(c->lr_f), rect = VSET1(c->rect);
    const VEC one = VSET1(1.0f);
    for (; i + W <= n; i += W) {
        ADAM_MOMENTS(exp_avg, exp_avg_sq);
        (void)gi;
        VEC m_hat = VDIV(m, bc1);
        if (c->rectified) {
            VEC adaptive = c->eps_mode == ADAOPT_EPS_HAT
                               ? VMUL(VDIV(one, VADD(VSQRT(v), eps)), bc2_sqrt)
                               : VDIV(one, denom_v(c, v, bc2, bc2_sqrt, eps));
            VSTORE(p + i, VSUB(pi, VMUL(VMUL(VMUL(m_hat, lr), adaptive), rect)));
        } else {
            VSTORE(p + i, VSUB(pi, VMUL(m_hat, lr)));
        }
    }
    TAIL(adaopt_radam_scalar, exp_avg, exp_avg_sq, u2);
}

/* Lion (lion_scalar in scalar.c: the two interpolations fused, as torch's vector kernels do). */
void KERNEL(lion)(const adaopt_coeffs *c, float *p, const float *g, float *exp_avg, float *u1,
                  float *u2, size_t n)
{
    COMMON_CONSTANTS;
    (void)eps;
    const VEC decay = VSET1(c->decay_factor), neg_lr = VSET1(c->neg_lr);
    const VEC b1 = VSET1(c->beta1), omb1 = VSET1(c->one_minus_beta1);
    const VEC b2 = VSET1(c->beta2), omb2 = VSET1(c->one_minus_beta2);
    for (; i + W <= n; i += W) {
        VEC pi = VLOAD(p + i), m = VLOAD(exp_avg + i);
        if (c->decoupled)
            pi = VMUL(pi, decay);
        VEC gi = prologue(c, VLOAD(g + i), pi, sign, wd);
        VEC u = VSIGN(VFMA(omb1, gi, VMUL(m, b1)));
        VSTORE(p + i, VADD(pi, VMUL(neg_lr, u)));
        VSTORE(exp_avg + i, VFMA(omb2, gi, VMUL(m, b2)));
    }
    TAIL(adaopt_lion_scalar, exp_avg, u1, u2);
}

/* Adadelta (adadelta_scalar in scalar.c). */
void KERNEL(adadelta)(const adaopt_coeffs *c, float *p, const float *g, float *square_avg,
                      float *acc_delta, float *u2, size_t n)
{
    COMMON_CONSTANTS;
    const VEC rho = VSET1(c->rho), omr = VSET1(c->one_minus_rho), neg_lr = VSET1(c->neg_lr);
    for (; i + W <= n; i += W) {
        VEC pi = VLOAD(p + i);
        VEC gi = prologue(c, VLOAD(g + i), pi, sign, wd);
        VEC S = VFMA(VMUL(omr, gi), gi, VMUL(VLOAD(square_avg + i), rho));
        VEC std = VSQRT(VADD(S, eps));
        VEC A = VLOAD(acc_delta + i);
        VEC d = VMUL(VDIV(VSQRT(VADD(A, eps)), std), gi);
        VSTORE(square_avg + i, S);
        VSTORE(acc_delta + i, VFMA(VMUL(omr, d), d, VMUL(A, rho)));
        VSTORE(p + i, VFMA(neg_lr, d, pi));
    }
    TAIL(adaopt_adadelta_scalar, square_avg, acc_delta, u2);
}

/* ASGD (asgd_scalar in scalar.c). */
void KERNEL(asgd)(const adaopt_coeffs *c, float *p, const float *g, float *ax, float *u1,
                  float *u2, size_t n)
{
    COMMON_CONSTANTS;
    (void)eps;
    const VEC decay = VSET1(c->asgd_decay), neg_eta = VSET1(c->neg_eta), mu = VSET1(c->mu);
    for (; i + W <= n; i += W) {
        VEC pi = VLOAD(p + i);
        VEC gi = prologue(c, VLOAD(g + i), pi, sign, wd);
        pi = VFMA(neg_eta, gi, VMUL(pi, decay));
        VSTORE(p + i, pi);
        if (c->mu_is_one) {
            VSTORE(ax + i, pi);
        } else {
            VEC a = VLOAD(ax + i);
            VSTORE(ax + i, VADD(a, VMUL(VSUB(pi, a), mu)));
        }
    }
    TAIL(adaopt_asgd_scalar, ax, u1, u2);
}

/* Schedule-Free AdamW (sf_adamw_scalar in scalar.c: addcmul, the lerp and the alpha-adds fused,
 * as torch 2.x's vector kernels do). */
void KERNEL(sf_adamw)(const adaopt_coeffs *c, float *p, const float *g, float *z,
                      float *exp_avg_sq, float *u2, size_t n)
{
    COMMON_CONSTANTS;
    (void)wd;
    const VEC b2 = VSET1(c->beta2), omb2 = VSET1(c->one_minus_beta2), bc2 = VSET1(c->bc2);
    const VEC decay = VSET1(c->sf_decay), lerp_coef = VSET1(c->lerp_coef);
    const VEC y_coef = VSET1(c->y_coef), neg_lr = VSET1(c->neg_lr);
    for (; i + W <= n; i += W) {
        VEC y = VLOAD(p + i);
        VEC zi = c->buffer_is_new ? y : VLOAD(z + i);
        VEC gi = VXOR(VLOAD(g + i), sign);
        VEC v = VFMA(VMUL(omb2, gi), gi, VMUL(VLOAD(exp_avg_sq + i), b2));
        VEC u = VDIV(gi, VADD(VSQRT(VDIV(v, bc2)), eps));
        if (c->sf_decay != 0.0f)
            u = VFMA(y, decay, u);
        y = coef_lerp_v(c, lerp_coef, y, zi);
        VSTORE(p + i, VFMA(u, y_coef, y));
        VSTORE(z + i, VFMA(u, neg_lr, zi));
        VSTORE(exp_avg_sq + i, v);
    }
    TAIL(adaopt_sf_adamw_scalar, z, exp_avg_sq, u2);
}

/* LAMB's two passes (lamb_moments_scalar, lamb_apply_scalar in scalar.c: the same fmas). */
static inline VEC lamb_direction_v(const adaopt_coeffs *c, VEC p, VEC m, VEC v, VEC one, VEC eps,
                                   VEC wd)
{
    VEC u = VMUL(VDIV(one, VADD(VSQRT(v), eps)), m);
    return c->lamb_wd != 0.0f ? VFMA(p, wd, u) : u;
}

/* The first pass keeps its 2 x 16 accumulators in registers (SQ16, sq16_add: each ISA's file),
 * each receiving x[j]^2 for its j mod 16 in element order, as adaopt__sumsq16 adds them (the
 * squares of floats are exact in double, so a fused add gives the same bits); the last
 * elements, fewer than 16, go through the scalar kernel, which continues the same order. */
void KERNEL(lamb_moments)(const adaopt_coeffs *c, const float *p, const float *g, float *exp_avg,
                          float *exp_avg_sq, float *u_out, size_t n, double *acc)
{
    COMMON_CONSTANTS;
    (void)wd;
    const VEC decay = VSET1(c->decay_factor), b1 = VSET1(c->beta1), beta3 = VSET1(c->lamb_beta3);
    const VEC b2 = VSET1(c->beta2), omb2 = VSET1(c->one_minus_beta2), one = VSET1(1.0f);
    const VEC lwd = VSET1(c->lamb_wd);
    SQ16 sp, su;
    sq16_load(&sp, acc);
    sq16_load(&su, acc + ADAOPT_LAMB_LANES);
    for (; i + ADAOPT_LAMB_LANES <= n; i += ADAOPT_LAMB_LANES) {
#pragma GCC unroll 4
        for (int k = 0; k < ADAOPT_LAMB_LANES; k += W) {
            size_t at = i + (size_t)k;
            VEC pi = VLOAD(p + at);
            if (c->decoupled)
                pi = VMUL(pi, decay);
            VEC gi = VXOR(VLOAD(g + at), sign);
            VEC m = VFMA(gi, beta3, VMUL(VLOAD(exp_avg + at), b1));
            VEC v = VFMA(VMUL(omb2, gi), gi, VMUL(VLOAD(exp_avg_sq + at), b2));
            VEC u = lamb_direction_v(c, pi, m, v, one, eps, lwd);
            VSTORE(exp_avg + at, m);
            VSTORE(exp_avg_sq + at, v);
            if (u_out != NULL)
                VSTORE(u_out + at, u);
            sq16_add(&sp, pi, k);
            sq16_add(&su, u, k);
        }
    }
    sq16_store(&sp, acc);
    sq16_store(&su, acc + ADAOPT_LAMB_LANES);
    if (i < n)
        adaopt_lamb_moments_scalar(c, p + i, g + i, exp_avg + i, exp_avg_sq + i,
                                   u_out != NULL ? u_out + i : NULL, n - i, acc);
}

void KERNEL(lamb_apply)(const adaopt_coeffs *c, float *p, const float *g, float *exp_avg,
                        float *exp_avg_sq, float *u2, size_t n)
{
    COMMON_CONSTANTS;
    (void)wd;
    (void)sign;
    const VEC one = VSET1(1.0f), lwd = VSET1(c->lamb_wd), trust = VSET1(c->trust);
    const VEC neg_step = VSET1(c->neg_step_size), decay = VSET1(c->decay_factor);
    for (; i + W <= n; i += W) {
        VEC pi = VLOAD(p + i);
        if (c->decoupled)
            pi = VMUL(pi, decay);
        VEC u = c->lamb_u_in_grad /* as the first pass left it: then p and g are all it reads */
                    ? VLOAD(g + i)
                    : lamb_direction_v(c, pi, VLOAD(exp_avg + i), VLOAD(exp_avg_sq + i), one, eps,
                                       lwd);
        VSTORE(p + i, VFMA(VMUL(u, trust), neg_step, pi));
    }
    TAIL(adaopt_lamb_apply_scalar, exp_avg, exp_avg_sq, u2);
}

/* Adafactor's element-wise parts (af_* in scalar.c: the same operations, the lerp fused as
 * torch's, the clamp keeping NaN). */
static inline VEC af_u_v(VEC var, VEC eps1_sq, VEC one, VEC g)
{
    return VMUL(VDIV(one, VSQRT(VMAX_NAN(var, eps1_sq))), g);
}

void KERNEL(af_matrix_u)(const adaopt_af_row *a, const float *g, const float *col, float *u_out,
                         size_t n)
{
    const VEC row = VSET1(a->row), mean = VSET1(a->mean), eps1_sq = VSET1(a->eps1_sq);
    const VEC one = VSET1(1.0f), sign = VSET1(a->sign < 0.0f ? -0.0f : 0.0f);
    size_t i = 0;
    for (; i + W <= n; i += W)
        VSTORE(u_out + i, af_u_v(VDIV(VMUL(row, VLOAD(col + i)), mean), eps1_sq, one,
                                 VXOR(VLOAD(g + i), sign)));
    if (i < n)
        adaopt_af_matrix_u_scalar(a, g + i, col + i, u_out + i, n - i);
}

void KERNEL(af_matrix_apply)(const adaopt_af_row *a, float *p, const float *g, const float *col,
                             size_t n)
{
    const VEC row = VSET1(a->row), mean = VSET1(a->mean), eps1_sq = VSET1(a->eps1_sq);
    const VEC one = VSET1(1.0f), sign = VSET1(a->sign < 0.0f ? -0.0f : 0.0f);
    const VEC decay = VSET1(a->decay), step = VSET1(a->step);
    size_t i = 0;
    for (; i + W <= n; i += W) {
        VEC u = af_u_v(VDIV(VMUL(row, VLOAD(col + i)), mean), eps1_sq, one,
                       VXOR(VLOAD(g + i), sign));
        VEC pi = VLOAD(p + i);
        if (a->decayed)
            pi = VMUL(pi, decay);
        VSTORE(p + i, VFMA(u, step, pi));
    }
    if (i < n)
        adaopt_af_matrix_apply_scalar(a, p + i, g + i, col + i, n - i);
}

void KERNEL(af_vector_u)(const adaopt_af_row *a, const float *g, float *v, float *u_out,
                         size_t n)
{
    const VEC eps1_sq = VSET1(a->eps1_sq), one = VSET1(1.0f);
    const VEC sign = VSET1(a->sign < 0.0f ? -0.0f : 0.0f);
    const int from_end = !(a->w < 0.5f && a->w > -0.5f); /* !(|w| < 0.5), as af_lerp */
    const VEC coef = VSET1(from_end ? a->w - 1.0f : a->w);
    size_t i = 0;
    for (; i + W <= n; i += W) {
        VEC gi = VXOR(VLOAD(g + i), sign), vi = VLOAD(v + i), g2 = VMUL(gi, gi);
        vi = VFMA(coef, VSUB(g2, vi), from_end ? g2 : vi);
        VSTORE(v + i, vi);
        VSTORE(u_out + i, af_u_v(vi, eps1_sq, one, gi));
    }
    if (i < n)
        adaopt_af_vector_u_scalar(a, g + i, v + i, u_out + i, n - i);
}

void KERNEL(af_row_sums)(const float *g, const float *p, size_t n, double *acc_g, double *acc_p,
                         double *col)
{
    adaopt__af_row_sums(g, p, n, acc_g, acc_p, col); /* (compiled with this ISA's flags) */
}

void KERNEL(af_apply_u)(const adaopt_af_row *a, float *p, const float *u, size_t n)
{
    const VEC decay = VSET1(a->decay), step = VSET1(a->step);
    size_t i = 0;
    for (; i + W <= n; i += W) {
        VEC pi = VLOAD(p + i);
        if (a->decayed)
            pi = VMUL(pi, decay);
        VSTORE(p + i, VFMA(VLOAD(u + i), step, pi));
    }
    if (i < n)
        adaopt_af_apply_u_scalar(a, p + i, u + i, n - i);
}

void KERNEL(af_vector_apply)(const adaopt_af_row *a, float *p, const float *g, const float *v,
                             size_t n)
{
    const VEC eps1_sq = VSET1(a->eps1_sq), one = VSET1(1.0f);
    const VEC sign = VSET1(a->sign < 0.0f ? -0.0f : 0.0f);
    const VEC decay = VSET1(a->decay), step = VSET1(a->step);
    size_t i = 0;
    for (; i + W <= n; i += W) {
        VEC u = af_u_v(VLOAD(v + i), eps1_sq, one, VXOR(VLOAD(g + i), sign));
        VEC pi = VLOAD(p + i);
        if (a->decayed)
            pi = VMUL(pi, decay);
        VSTORE(p + i, VFMA(u, step, pi));
    }
    if (i < n)
        adaopt_af_vector_apply_scalar(a, p + i, g + i, v + i, n - i);
}

/* The GEMM tile (gemm_tile_scalar in scalar.c): GEMM_ROWS rows (8 where the ISA has the
 * registers for 16 accumulators, else 4) by two vectors of columns at a time, each lane the
 * scalar's chain of fused multiply-adds in k order; leftover rows and columns by narrower
 * steps of the same chains. */
#ifndef GEMM_ROWS
#define GEMM_ROWS 4
#endif
/* One row's columns [j, n) of the tile: a vector at a time, then the scalar chains. */
static inline void gemm_row(const float *Lr, const float *R, size_t ldr, float *Cr, size_t j,
                            size_t n, size_t kc, int first)
{
    for (; j + W <= n; j += W) {
        VEC acc = first ? VSET1(0.0f) : VLOAD(Cr + j);
        for (size_t k = 0; k < kc; k++)
            acc = VFMA(VSET1(Lr[k]), VLOAD(R + k * ldr + j), acc);
        VSTORE(Cr + j, acc);
    }
    if (j < n)
        adaopt_gemm_tile_scalar(Lr, 0, R + j, ldr, Cr + j, 0, 1, n - j, kc, first);
}
void KERNEL(gemm_tile)(const float *L, size_t ldl, const float *R, size_t ldr, float *C,
                       size_t ldc, size_t mr, size_t n, size_t kc, int first)
{
    size_t r0 = 0;
    for (; r0 + GEMM_ROWS <= mr; r0 += GEMM_ROWS) {
        const float *Lr = L + r0 * ldl;
        float *Cr = C + r0 * ldc;
        size_t j = 0;
        for (; j + 2 * W <= n; j += 2 * W) {
            VEC acc[GEMM_ROWS][2];
            for (int r = 0; r < GEMM_ROWS; r++) {
                acc[r][0] = first ? VSET1(0.0f) : VLOAD(Cr + r * ldc + j);
                acc[r][1] = first ? VSET1(0.0f) : VLOAD(Cr + r * ldc + j + W);
            }
            for (size_t k = 0; k < kc; k++) {
                VEC b0 = VLOAD(R + k * ldr + j), b1 = VLOAD(R + k * ldr + j + W);
                for (int r = 0; r < GEMM_ROWS; r++) {
                    VEC a = VSET1(Lr[r * ldl + k]);
                    acc[r][0] = VFMA(a, b0, acc[r][0]);
                    acc[r][1] = VFMA(a, b1, acc[r][1]);
                }
            }
            for (int r = 0; r < GEMM_ROWS; r++) {
                VSTORE(Cr + r * ldc + j, acc[r][0]);
                VSTORE(Cr + r * ldc + j + W, acc[r][1]);
            }
        }
        for (size_t r = 0; r < GEMM_ROWS && j < n; r++) /* the last columns, row by row */
            gemm_row(Lr + r * ldl, R, ldr, Cr + r * ldc, j, n, kc, first);
    }
    for (size_t r = r0; r < mr; r++) /* leftover rows */
        gemm_row(L + r * ldl, R, ldr, C + r * ldc, 0, n, kc, first);
}
