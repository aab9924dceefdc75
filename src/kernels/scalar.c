/*
 * scalar.c -- portable kernels: the reference every other kernel is tested against.
 *
 * One loop per algorithm family; each comment names the torch line it follows
 * (torch/optim/<name>.py, _single_tensor_<name>), and each line rounds as torch's CPU kernel
 * for that tensor op does (kernels.h: fmaf where torch fuses).  All scalars arrive precomputed
 * in `c`.
 */
#include <math.h>

#include "kernels.h"
#include "../../include/adaopt.h"

/* torch.maximum / torch.amax: NaN in either operand gives NaN (fmaxf would drop it). */
static inline float max_propagate_nan(float a, float b)
{
    return (a != a || a > b) ? a : b;
}

/* maximize, then coupled L2 decay: the common prologue of ALGORITHMS.md. */
static inline float prologue_grad(const adaopt_coeffs *c, float g, float p)
{
    if (c->maximize)
        g = -g;
    if (c->weight_decay != 0.0f)
        g = fmaf(c->weight_decay, p, g); /* grad.add(param, alpha=weight_decay) */
    return g;
}

/* torch's start.lerp_(end, w), w's coefficient precomputed in c (lerp_coef, lerp_from_end:
 * fma(w, end - start, start), or fma(w - 1, end - start, end) for |w| >= 0.5). */
static inline float coef_lerp(const adaopt_coeffs *c, float start, float end)
{
    return fmaf(c->lerp_coef, end - start, c->lerp_from_end ? end : start);
}

/* The classic first moment: torch 2.x's m.lerp_(g, w), or torch 1.13's m.mul_(beta).add_(g,
 * alpha=w) (kernels.h, lerp_m). */
static inline float first_moment(const adaopt_coeffs *c, float m, float g, float beta, float w)
{
    return c->lerp_m ? coef_lerp(c, m, g) : fmaf(w, g, m * beta);
}

/* The Adam-family denominator for second moment u (eps_mode in ALGORITHMS.md). */
static inline float adam_denom(const adaopt_coeffs *c, float u)
{
    switch (c->eps_mode) {
    case ADAOPT_EPS_INSIDE:
        return sqrtf(u / c->bc2 + c->eps);
    case ADAOPT_EPS_HAT:
        return sqrtf(u) + c->eps; /* sqrt(bc2) is folded into the step size */
    default:
        return sqrtf(u) / c->bc2_sqrt + c->eps; /* (exp_avg_sq.sqrt() / bc2_sqrt).add_(eps) */
    }
}

/* NAdam's denominator: exp_avg_sq.div(bias_correction2).sqrt().add_(eps) (outside). */
static inline float nadam_denom(const adaopt_coeffs *c, float v)
{
    return c->eps_mode == ADAOPT_EPS_OUTSIDE ? sqrtf(v / c->bc2) + c->eps : adam_denom(c, v);
}

/* The shared first half of Adam, AdamW, NAdam and RAdam: decoupled decay of *p, the prologue,
 * then the first and second moments (m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g g), stored.
 * Returns the prologued gradient. */
static inline float adam_moments(const adaopt_coeffs *c, float *p, float g, float *m, float *v)
{
    if (c->decoupled)
        *p = *p * c->decay_factor; /* param.mul_(1 - lr * weight_decay) */
    g = prologue_grad(c, g, *p);
    *m = first_moment(c, *m, g, c->beta1, c->one_minus_beta1); /* exp_avg.lerp_(g, 1-b1) */
    *v = fmaf(c->one_minus_beta2 * g, g, *v * c->beta2); /* exp_avg_sq.mul_(b2).addcmul_ */
    return g;
}

void adaopt_sgd_scalar(const adaopt_coeffs *c, float *p, const float *g, float *buf, float *u1,
                       float *u2, size_t n)
{
    (void)u1;
    (void)u2;
    for (size_t i = 0; i < n; i++) {
        float d = prologue_grad(c, g[i], p[i]);
        if (c->use_momentum) {
            float b;
            if (c->buffer_is_new)
                b = d; /* buf = torch.clone(d_p) */
            else
                b = fmaf(c->one_minus_dampening, d, buf[i] * c->momentum); /* mul_, add_ */
            buf[i] = b;
            d = c->nesterov ? fmaf(c->momentum, b, d) : b; /* d_p.add(buf, alpha=momentum) */
        }
        p[i] = fmaf(c->neg_lr, d, p[i]); /* param.add_(d_p, alpha=-lr) */
    }
}

void adaopt_adagrad_scalar(const adaopt_coeffs *c, float *p, const float *g, float *sum,
                           float *u1, float *u2, size_t n)
{
    (void)u1;
    (void)u2;
    const int inside = c->eps_mode == ADAOPT_EPS_INSIDE;
    for (size_t i = 0; i < n; i++) {
        float gi = prologue_grad(c, g[i], p[i]);
        float G = fmaf(gi, gi, sum[i]);                  /* state_sum.addcmul_(grad, grad) */
        float std = inside ? sqrtf(G + c->eps) : sqrtf(G) + c->eps;
        sum[i] = G;
        p[i] = p[i] + c->neg_clr * gi / std;             /* param.addcdiv_(grad, std, -clr) */
    }
}

void adaopt_rmsprop_scalar(const adaopt_coeffs *c, float *p, const float *g, float *square_avg,
                           float *momentum_buffer, float *grad_avg, size_t n)
{
    const int inside = c->eps_mode == ADAOPT_EPS_INSIDE;
    for (size_t i = 0; i < n; i++) {
        float gi = prologue_grad(c, g[i], p[i]);
        /* square_avg.mul_(alpha).addcmul_(grad, grad, value=1-alpha) */
        float S = fmaf(c->one_minus_alpha * gi, gi, square_avg[i] * c->alpha);
        square_avg[i] = S;
        float var = S;
        if (c->centered) {
            float A = first_moment(c, grad_avg[i], gi, c->alpha, c->one_minus_alpha);
            grad_avg[i] = A; /* grad_avg.lerp_(grad, 1 - alpha) */
            var = fmaf(-A, A, S); /* square_avg.addcmul(grad_avg, grad_avg, value=-1) */
        }
        float avg = inside ? sqrtf(var + c->eps) : sqrtf(var) + c->eps;
        if (c->use_momentum) {
            float b = momentum_buffer[i] * c->momentum + gi / avg; /* buf.mul_(m).addcdiv_ */
            momentum_buffer[i] = b;
            p[i] = fmaf(c->neg_lr, b, p[i]); /* param.add_(buf, alpha=-lr) */
        } else {
            p[i] = p[i] + c->neg_lr * gi / avg;
        }
    }
}

void adaopt_adam_scalar(const adaopt_coeffs *c, float *p, const float *g, float *exp_avg,
                        float *exp_avg_sq, float *max_exp_avg_sq, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float pi = p[i], m = exp_avg[i], v = exp_avg_sq[i];
        adam_moments(c, &pi, g[i], &m, &v);
        exp_avg[i] = m;
        exp_avg_sq[i] = v;
        float u = v;
        if (c->amsgrad) {
            u = max_propagate_nan(max_exp_avg_sq[i], v); /* torch.maximum(max_v, v) */
            max_exp_avg_sq[i] = u;
        }
        p[i] = pi + c->neg_step_size * m / adam_denom(c, u); /* bias-corrected update */
    }
}

void adaopt_adamax_scalar(const adaopt_coeffs *c, float *p, const float *g, float *exp_avg,
                          float *exp_inf, float *u2, size_t n)
{
    (void)u2;
    for (size_t i = 0; i < n; i++) {
        float gi = prologue_grad(c, g[i], p[i]);
        float m = first_moment(c, exp_avg[i], gi, c->beta1, c->one_minus_beta1);
        float u = max_propagate_nan(exp_inf[i] * c->beta2, fabsf(gi) + c->eps); /* amax */
        exp_avg[i] = m;
        exp_inf[i] = u;
        p[i] = p[i] + c->neg_step_size * m / u; /* param.addcdiv_(exp_avg, exp_inf, -clr) */
    }
}

void adaopt_nadam_scalar(const adaopt_coeffs *c, float *p, const float *g, float *exp_avg,
                         float *exp_avg_sq, float *u2, size_t n)
{
    (void)u2;
    for (size_t i = 0; i < n; i++) {
        float pi = p[i], m = exp_avg[i], v = exp_avg_sq[i];
        float gi = adam_moments(c, &pi, g[i], &m, &v);
        exp_avg[i] = m;
        exp_avg_sq[i] = v;
        float d = nadam_denom(c, v);
        /* _foreach_addcdiv_(params, grads, denom, step_size_grads), then the same for exp_avgs */
        pi = pi + c->neg_grad_coef * gi / d;
        p[i] = pi + c->neg_avg_coef * m / d;
    }
}

/* Lion, as lion-pytorch's update_fn: p *= 1 - lr wd (decoupled); u = sign(b1 m + (1-b1) g);
 * p -= lr u;  m = b2 m + (1-b2) g.  torch's add(other, alpha=) is one fused multiply-add in its
 * vector kernels, and the sign turns a last-bit difference into a whole 2 lr step, so both
 * interpolations are fused here too (fmaf: correctly rounded on every machine).  sign(0) = 0,
 * sign(NaN) = NaN, as torch.sgn. */
static inline float lion_sign(float x)
{
    return x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : x);
}

void adaopt_lion_scalar(const adaopt_coeffs *c, float *p, const float *g, float *exp_avg,
                        float *u1, float *u2, size_t n)
{
    (void)u1;
    (void)u2;
    for (size_t i = 0; i < n; i++) {
        float pi = p[i], m = exp_avg[i];
        if (c->decoupled)
            pi = pi * c->decay_factor;                 /* p.data.mul_(1 - lr * wd) */
        float gi = prologue_grad(c, g[i], pi);         /* (maximize) */
        float u = lion_sign(fmaf(c->one_minus_beta1, gi, m * c->beta1));
        p[i] = pi + c->neg_lr * u;                     /* p.add_(update, alpha=-lr) */
        exp_avg[i] = fmaf(c->one_minus_beta2, gi, m * c->beta2);
    }
}

/* Adadelta, as torch's _single_tensor_adadelta (the same in 1.13 and 2.x):
 *   S = rho S + (1-rho) g g;  d = sqrt(A + eps) / sqrt(S + eps) * g;  A = rho A + (1-rho) d d;
 *   p -= lr d. */
void adaopt_adadelta_scalar(const adaopt_coeffs *c, float *p, const float *g, float *square_avg,
                            float *acc_delta, float *u2, size_t n)
{
    (void)u2;
    for (size_t i = 0; i < n; i++) {
        float gi = prologue_grad(c, g[i], p[i]);
        /* square_avg.mul_(rho).addcmul_(grad, grad, value=1 - rho) */
        float S = fmaf(c->one_minus_rho * gi, gi, square_avg[i] * c->rho);
        float std = sqrtf(S + c->eps);                       /* square_avg.add(eps).sqrt_() */
        float d = sqrtf(acc_delta[i] + c->eps) / std * gi;   /* acc_delta.add(eps).sqrt_() */
        square_avg[i] = S;                                   /*   .div_(std).mul_(grad) */
        acc_delta[i] = fmaf(c->one_minus_rho * d, d, acc_delta[i] * c->rho); /* mul_, addcmul_ */
        p[i] = fmaf(c->neg_lr, d, p[i]);                     /* param.add_(delta, alpha=-lr) */
    }
}

/* torch.sign: 1, -1, and 0 for zeros and NaN (not torch.sgn: NaN gives 0 here). */
static inline float torch_sign(float x)
{
    return x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : 0.0f);
}

/* Rprop, as torch's _single_tensor_rprop (the same in 1.13 and 2.x), the step sizes born lr:
 *   s = sign(g prev) mapped to eta_plus (> 0), eta_minus (< 0), 1 (0 or NaN);
 *   step_size = clamp(step_size s, min, max);  g = 0 where s is eta_minus;
 *   p -= sign(g) step_size;  prev = g. */
void adaopt_rprop_scalar(const adaopt_coeffs *c, float *p, const float *g, float *step_size,
                         float *prev, float *u2, size_t n)
{
    (void)u2;
    for (size_t i = 0; i < n; i++) {
        float gi = c->maximize ? -g[i] : g[i];
        float sign = torch_sign(gi * prev[i]);               /* grad.mul(prev).sign() */
        float s = sign > 0.0f ? c->eta_plus : (sign < 0.0f ? c->eta_minus : 1.0f);
        float ss = step_size[i] * s;                         /* step_size.mul_(sign) */
        if (ss == ss)                                        /*   .clamp_(min, max): NaN kept */
            ss = fminf(fmaxf(ss, c->step_size_min), c->step_size_max);
        if (s == c->eta_minus)
            gi = 0.0f;                                       /* grad[sign.eq(etaminus)] = 0 */
        step_size[i] = ss;
        p[i] = fmaf(-torch_sign(gi), ss, p[i]);              /* addcmul_(grad.sign(), ss, -1) */
        prev[i] = gi;                                        /* prev.copy_(grad) */
    }
}

/* ASGD, as torch's _single_tensor_asgd (capturable off; the same in 1.13 and 2.x):
 *   p = p (1 - lambd eta) - eta g;  ax = p if mu is 1, else ax + (p - ax) mu. */
void adaopt_asgd_scalar(const adaopt_coeffs *c, float *p, const float *g, float *ax, float *u1,
                        float *u2, size_t n)
{
    (void)u1;
    (void)u2;
    for (size_t i = 0; i < n; i++) {
        float gi = prologue_grad(c, g[i], p[i]);
        float pi = p[i] * c->asgd_decay;                     /* param.mul_(1 - lambd * eta) */
        pi = fmaf(c->neg_eta, gi, pi);                       /* param.add_(grad, alpha=-eta) */
        p[i] = pi;
        ax[i] = c->mu_is_one ? pi : ax[i] + (pi - ax[i]) * c->mu; /* ax.add_(p.sub(ax).mul_(mu)) */
    }
}

/* Schedule-Free AdamW, as schedulefree 1.4.1's AdamWScheduleFree.step (foreach form), with p
 * holding y:
 *   v = b2 v + (1-b2) g g;  d = sqrt(v / bc2) + eps;  u = g / d (+ wd y, at y);
 *   y = lerp(y, z, c);  y += lr_k (b1 (1-c) - 1) u;  z -= lr_k u.
 * In torch 2.x's CPU kernels addcmul is fma((1-b2) g, g, v b2), add(other, alpha=) and
 * sub(alpha=) are one fused multiply-add, and lerp is fma(w, end - start, start) for |w| < 0.5,
 * else fma(w - 1, end - start, end): so is each line here (fmaf: correctly rounded everywhere).
 * (torch 2.x's AVX-512 sqrt is not correctly rounded -- 0.7% of results are one ulp off -- so
 * the bits differ from it there; this sqrt is IEEE's.)  z is born as a copy of p. */
void adaopt_sf_adamw_scalar(const adaopt_coeffs *c, float *p, const float *g, float *z,
                            float *exp_avg_sq, float *u2, size_t n)
{
    (void)u2;
    for (size_t i = 0; i < n; i++) {
        float y = p[i], zi = c->buffer_is_new ? y : z[i];
        float gi = c->maximize ? -g[i] : g[i];
        float v = fmaf(c->one_minus_beta2 * gi, gi, exp_avg_sq[i] * c->beta2); /* addcmul_ */
        float u = gi / (sqrtf(v / c->bc2) + c->eps); /* grad.div_(exp_avg_sq.div(bc2).sqrt_().add_(eps)) */
        if (c->sf_decay != 0.0f)
            u = fmaf(y, c->sf_decay, u);                             /* add_(y, alpha=decay) */
        y = coef_lerp(c, y, zi);                                     /* y.lerp_(z, c) */
        p[i] = fmaf(u, c->y_coef, y);                                /* y.add_(u, alpha=...) */
        z[i] = fmaf(u, c->neg_lr, zi);                               /* z.sub_(u, alpha=lr) */
        exp_avg_sq[i] = v;
    }
}

/* LAMB, as pytorch-optimizer 4.1.0's Lamb (its default foreach path):
 *   p = p (1 - lr wd)                      decoupled decay (weight_decouple; 1 - wd if fixed_decay)
 *   m = fma(g, beta3, m b1)                beta3 = 1 - b1 with grad_averaging, else 1
 *   v = fma((1-b2) g, g, v b2)
 *   u = (1 / (sqrt(v) + eps)) m            (+ fma(p, wd, u) when the decay is not decoupled)
 * and, once the tensor's norms are known, p = fma(u trust, -lr / bc1, p).  torch 2.x fuses
 * add(alpha=), addcmul and the foreach add with alpha: so does each fma here. */
static inline float lamb_direction(const adaopt_coeffs *c, float p, float m, float v)
{
    float u = (1.0f / (sqrtf(v) + c->eps)) * m; /* sqrt_, add_(eps), reciprocal_, mul_(exp_avg) */
    return c->lamb_wd != 0.0f ? fmaf(p, c->lamb_wd, u) : u;
}

void adaopt_lamb_moments_scalar(const adaopt_coeffs *c, const float *p, const float *g,
                                float *exp_avg, float *exp_avg_sq, float *u_out, size_t n,
                                double *acc)
{
    float pd[ADAOPT_LAMB_BLOCK], u[ADAOPT_LAMB_BLOCK];
    for (size_t b = 0; b < n; b += ADAOPT_LAMB_BLOCK) {
        size_t len = n - b < ADAOPT_LAMB_BLOCK ? n - b : ADAOPT_LAMB_BLOCK;
        for (size_t i = 0; i < len; i++) {
            float pi = c->decoupled ? p[b + i] * c->decay_factor : p[b + i]; /* mul_(1 - lr wd) */
            float gi = c->maximize ? -g[b + i] : g[b + i];
            float m = fmaf(gi, c->lamb_beta3, exp_avg[b + i] * c->beta1);
            float v = fmaf(c->one_minus_beta2 * gi, gi, exp_avg_sq[b + i] * c->beta2);
            exp_avg[b + i] = m;
            exp_avg_sq[b + i] = v;
            pd[i] = pi;
            u[i] = lamb_direction(c, pi, m, v);
        }
        for (size_t i = 0; u_out != NULL && i < len; i++) /* (after the block: u_out may be g) */
            u_out[b + i] = u[i];
        adaopt__sumsq16(pd, len, acc);
        adaopt__sumsq16(u, len, acc + ADAOPT_LAMB_LANES);
    }
}

void adaopt_lamb_apply_scalar(const adaopt_coeffs *c, float *p, const float *g, float *exp_avg,
                              float *exp_avg_sq, float *u2, size_t n)
{
    (void)u2;
    for (size_t i = 0; i < n; i++) {
        float pi = c->decoupled ? p[i] * c->decay_factor : p[i];
        float u = c->lamb_u_in_grad ? g[i] : lamb_direction(c, pi, exp_avg[i], exp_avg_sq[i]);
        p[i] = fmaf(u * c->trust, c->neg_step_size, pi); /* add_(updates, -step_size) */
    }
}

/* Adafactor (torch.optim.Adafactor's _single_tensor_adafactor): see kernels.h. */
static inline float af_lerp(float start, float end, float w) /* torch's lerp */
{
    return fabsf(w) < 0.5f ? fmaf(w, end - start, start) : fmaf(w - 1.0f, end - start, end);
}

static inline float af_u(float var, float eps1_sq, float g)
{
    var = var < eps1_sq ? eps1_sq : var; /* clamp_(min=eps1^2): NaN stays NaN */
    return (1.0f / sqrtf(var)) * g;      /* rsqrt_(), mul_(grad) */
}

void adaopt_af_matrix_u_scalar(const adaopt_af_row *a, const float *g, const float *col,
                               float *u_out, size_t n)
{
    for (size_t i = 0; i < n; i++) /* (row_var @ col_var).div_(mean) */
        u_out[i] = af_u(a->row * col[i] / a->mean, a->eps1_sq, a->sign * g[i]);
}

void adaopt_af_matrix_apply_scalar(const adaopt_af_row *a, float *p, const float *g,
                                   const float *col, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float u = af_u(a->row * col[i] / a->mean, a->eps1_sq, a->sign * g[i]);
        float pi = a->decayed ? p[i] * a->decay : p[i]; /* mul_(1 - lr wd) */
        p[i] = fmaf(u, a->step, pi);                     /* add_(update, alpha=-alpha/denom) */
    }
}

void adaopt_af_vector_u_scalar(const adaopt_af_row *a, const float *g, float *v, float *u_out,
                               size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float gi = a->sign * g[i];
        float vi = af_lerp(v[i], gi * gi, a->w); /* variance.lerp_(grad * grad, w) */
        v[i] = vi;
        u_out[i] = af_u(vi, a->eps1_sq, gi);
    }
}

void adaopt_af_vector_apply_scalar(const adaopt_af_row *a, float *p, const float *g,
                                   const float *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float u = af_u(v[i], a->eps1_sq, a->sign * g[i]);
        float pi = a->decayed ? p[i] * a->decay : p[i];
        p[i] = fmaf(u, a->step, pi);
    }
}

void adaopt_af_apply_u_scalar(const adaopt_af_row *a, float *p, const float *u, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = fmaf(u[i], a->step, a->decayed ? p[i] * a->decay : p[i]);
}

void adaopt_af_row_sums_scalar(const float *g, const float *p, size_t n, double *acc_g,
                               double *acc_p, double *col)
{
    adaopt__af_row_sums(g, p, n, acc_g, acc_p, col);
}

void adaopt_radam_scalar(const adaopt_coeffs *c, float *p, const float *g, float *exp_avg,
                         float *exp_avg_sq, float *u2, size_t n)
{
    (void)u2;
    for (size_t i = 0; i < n; i++) {
        float pi = p[i], m = exp_avg[i], v = exp_avg_sq[i];
        adam_moments(c, &pi, g[i], &m, &v);
        exp_avg[i] = m;
        exp_avg_sq[i] = v;
        float m_hat = m / c->bc1; /* exp_avg / bias_correction1 */
        if (c->rectified) {
            /* adaptive_lr = sqrt(bc2) / exp_avg_sq.sqrt().add_(eps) in torch's (HAT) form: a
             * Python float over a tensor, which torch computes as reciprocal() * sqrt(bc2) */
            float adaptive = c->eps_mode == ADAOPT_EPS_HAT
                                 ? (1.0f / (sqrtf(v) + c->eps)) * c->bc2_sqrt
                                 : 1.0f / adam_denom(c, v);
            p[i] = pi - m_hat * c->lr_f * adaptive * c->rect;
        } else {
            p[i] = pi - m_hat * c->lr_f;
        }
    }
}

/* C[0..mr)[0..n) (+)= L[0..mr)[0..kc) R[0..kc)[0..n), row-major with leading dimensions ldl,
 * ldr, ldc: each element one chain of fused multiply-adds in k order, starting from 0 (first)
 * or from C.  Every ISA's tile repeats the chain lane by lane, so a product has the same bits on
 * every ISA, tiling and thread count (matrix.c). */
void adaopt_gemm_tile_scalar(const float *L, size_t ldl, const float *R, size_t ldr, float *C,
                             size_t ldc, size_t mr, size_t n, size_t kc, int first)
{
    for (size_t r = 0; r < mr; r++)
        for (size_t j = 0; j < n; j++) {
            float acc = first ? 0.0f : C[r * ldc + j];
            for (size_t k = 0; k < kc; k++)
                acc = fmaf(L[r * ldl + k], R[k * ldr + j], acc);
            C[r * ldc + j] = acc;
        }
}
