/*
 * adam.c -- the Adam family of torch.optim: Adam (and AMSGrad), AdamW, Adamax, NAdam, RAdam.
 * Their bias corrections and coefficients are shared by Lion, LAMB and Adafactor's rows.
 * Kernels: src/kernels/ (adaopt_adam_*, _adamax_, _nadam_, _radam_).
 */
#include <math.h>

#include "algorithm.h"

#define BETAS {ADAOPT_BETA1, 0.9}, {ADAOPT_BETA2, 0.999}
#define TORCH_ARITH {ADAOPT_TORCH, ADAOPT_TORCH_2}
#define ALL_EPS_MODES (1u << ADAOPT_EPS_OUTSIDE | 1u << ADAOPT_EPS_INSIDE | 1u << ADAOPT_EPS_HAT)

static const adaopt__option_default ADAM[] = {
    {ADAOPT_LR, 1e-3},       BETAS, {ADAOPT_EPS, 1e-8}, {ADAOPT_WEIGHT_DECAY, 0.0},
    {ADAOPT_AMSGRAD, 0.0},   {ADAOPT_EPS_MODE, ADAOPT_EPS_OUTSIDE}, TORCH_ARITH, {0, 0.0}};
static const adaopt__option_default ADAMW[] = {
    {ADAOPT_LR, 1e-3},       BETAS, {ADAOPT_EPS, 1e-8}, {ADAOPT_WEIGHT_DECAY, 1e-2},
    {ADAOPT_AMSGRAD, 0.0},   {ADAOPT_EPS_MODE, ADAOPT_EPS_OUTSIDE}, TORCH_ARITH, {0, 0.0}};
static const adaopt__option_default ADAMAX[] = {
    {ADAOPT_LR, 2e-3}, BETAS, {ADAOPT_EPS, 1e-8}, {ADAOPT_WEIGHT_DECAY, 0.0}, TORCH_ARITH,
    {0, 0.0}};
static const adaopt__option_default NADAM[] = {
    {ADAOPT_LR, 2e-3},           BETAS, {ADAOPT_EPS, 1e-8}, {ADAOPT_WEIGHT_DECAY, 0.0},
    {ADAOPT_MOMENTUM_DECAY, 4e-3}, {ADAOPT_DECOUPLED_WEIGHT_DECAY, 0.0},
    {ADAOPT_EPS_MODE, ADAOPT_EPS_OUTSIDE}, TORCH_ARITH, {0, 0.0}};
static const adaopt__option_default RADAM[] = {
    {ADAOPT_LR, 1e-3}, BETAS, {ADAOPT_EPS, 1e-8}, {ADAOPT_WEIGHT_DECAY, 0.0},
    {ADAOPT_DECOUPLED_WEIGHT_DECAY, 0.0},
    {ADAOPT_EPS_MODE, ADAOPT_EPS_HAT}, /* torch's RAdam: sqrt(bc2) / (sqrt(v) + eps) */
    TORCH_ARITH, {0, 0.0}};

static unsigned adam_slots(const double *hp)
{
    return 3u | (hp[ADAOPT_AMSGRAD] != 0.0 ? 4u : 0u);
}

void adaopt__adam_scalars(adaopt_step_scalars *s, const double *hp, double t, double mu_before)
{
    (void)mu_before;
    s->bc1 = 1.0 - pow(hp[ADAOPT_BETA1], t);
    s->bc2 = 1.0 - pow(hp[ADAOPT_BETA2], t);
    s->step_size = s->lr / s->bc1;
}

static void nadam_scalars(adaopt_step_scalars *s, const double *hp, double t, double mu_before)
{
    adaopt__adam_scalars(s, hp, t, mu_before);
    double beta1 = hp[ADAOPT_BETA1], md = hp[ADAOPT_MOMENTUM_DECAY];
    s->mu = beta1 * (1.0 - 0.5 * pow(0.96, t * md));
    s->mu_next = beta1 * (1.0 - 0.5 * pow(0.96, (t + 1.0) * md));
    /* P is torch's float32 tensor: mu_product *= mu rounds to float.  torch 2.x's last
     * denominator takes P mu_next in double; torch 1.13's default path, P mu mu_next as float32
     * tensor products (its bug: mu twice). */
    s->mu_product = (double)(float)(mu_before * (double)(float)s->mu);
    double next = s->mu_product * s->mu_next;
    if (hp[ADAOPT_TORCH] == ADAOPT_TORCH_1)
        next = (double)(float)((double)(float)(s->mu_product * (double)(float)s->mu) *
                               (double)(float)s->mu_next);
    s->grad_coef = s->lr * (1.0 - s->mu) / (1.0 - s->mu_product);
    s->avg_coef = s->lr * s->mu_next / (1.0 - next);
}

static void radam_scalars(adaopt_step_scalars *s, const double *hp, double t, double mu_before)
{
    adaopt__adam_scalars(s, hp, t, mu_before);
    double beta2 = hp[ADAOPT_BETA2];
    double rho_inf = 2.0 / (1.0 - beta2) - 1.0;
    s->rho_t = rho_inf - 2.0 * t * pow(beta2, t) / s->bc2;
    s->rectified = s->rho_t > 5.0;
    if (s->rectified)
        s->rect = sqrt((s->rho_t - 4.0) * (s->rho_t - 2.0) * rho_inf /
                       ((rho_inf - 4.0) * (rho_inf - 2.0) * s->rho_t));
}

static void family_coeffs(adaopt_coeffs *c, const adaopt__algorithm *a, const double *hp,
                          const adaopt_step_scalars *s, int eps_outside)
{
    adaopt__common_coeffs(c, a, hp, s);
    c->beta1 = (float)hp[ADAOPT_BETA1];
    c->one_minus_beta1 = (float)(1.0 - hp[ADAOPT_BETA1]);
    c->beta2 = (float)hp[ADAOPT_BETA2];
    c->one_minus_beta2 = (float)(1.0 - hp[ADAOPT_BETA2]);
    if (adaopt__torch2(hp)) { /* exp_avg.lerp_(grad, 1 - beta1) */
        c->lerp_m = 1;
        adaopt__set_lerp_weight(c, c->one_minus_beta1);
    }
    c->bc1 = (float)s->bc1;
    c->bc2 = (float)s->bc2;
    c->bc2_sqrt = (float)sqrt(s->bc2);
    c->amsgrad = hp[ADAOPT_AMSGRAD] != 0.0;
    c->lr_f = (float)s->lr;
    if (eps_outside)
        c->eps_mode = ADAOPT_EPS_OUTSIDE;
    /* HAT folds sqrt(bc2) into the scalar: lr sqrt(bc2)/bc1 * m / (sqrt(v) + eps) */
    double hat = c->eps_mode == ADAOPT_EPS_HAT ? sqrt(s->bc2) : 1.0;
    c->neg_step_size = (float)(-s->step_size * hat);
    c->neg_grad_coef = (float)(-s->grad_coef * hat);
    c->neg_avg_coef = (float)(-s->avg_coef * hat);
    c->rectified = s->rectified;
    c->rect = (float)s->rect;
}

void adaopt__adam_coeffs(adaopt_coeffs *c, const adaopt__algorithm *a, const adaopt_group *g,
                         const adaopt_tensor *t, const double *hp,
                         const adaopt_step_scalars *s, int slot0_ready)
{
    (void)t;
    (void)slot0_ready;
    (void)g;
    family_coeffs(c, a, hp, s, 0);
}

static void adamax_coeffs(adaopt_coeffs *c, const adaopt__algorithm *a,
                          const adaopt_group *g, const adaopt_tensor *t, const double *hp,
                          const adaopt_step_scalars *s, int slot0_ready)
{
    (void)t;
    (void)g;
    (void)slot0_ready;
    family_coeffs(c, a, hp, s, 1); /* eps is outside max(|g|, beta2 u) */
}

/* NAdam's P_t = mu_1 mu_2 ... mu_t under the hyperparameters hp, by the step's own operations
 * (each product rounded to float, as torch's float32 tensor), so that it has the bits of t steps
 * taken with these hyperparameters.  mu_k only grows with k, so once a factor leaves the product
 * unchanged (it has underflowed to the smallest subnormal, which 0.5 < mu rounds back to itself,
 * or to 0) no later factor changes it either.  Past 2^24 factors the rest is one pow: by then
 * mu_k equals beta1 to the last bit. */
static double nadam_mu_product(const double *hp, uint64_t t)
{
    const uint64_t exact_factors = (uint64_t)1 << 24;
    double product = 1.0;
    uint64_t k = 1;
    for (; k <= t && k <= exact_factors; k++) {
        double mu = hp[ADAOPT_BETA1] * (1.0 - 0.5 * pow(0.96, (double)k * hp[ADAOPT_MOMENTUM_DECAY]));
        double next = (double)(float)(product * (double)(float)mu);
        if (next == product)
            return product;
        product = next;
    }
    if (k <= t)
        product = (double)(float)(product * pow(hp[ADAOPT_BETA1], (double)(t - k + 1)));
    return product;
}

static void nadam_steps_set(adaopt_tensor *t, const double *hp, uint64_t steps)
{
    t->mu_product = nadam_mu_product(hp, steps);
}

/* ---- effective learning rates ---- */

adaopt_status adaopt__adam_lr(const adaopt__lr_query *q, float *out, size_t n)
{
    const double *hp = q->hp; /* (Adam's, AdamW's or Muon's scalars: the bias corrections) */
    adaopt_step_scalars s = adaopt__step_scalars_at(q->opt->algorithm, hp, q->t->step, 1.0);
    int mode = (int)hp[ADAOPT_EPS_MODE];
    const float *u = hp[ADAOPT_AMSGRAD] != 0.0 && q->slot[2] != NULL ? q->slot[2] : q->slot[1];
    for (size_t k = 0; k < n; k++)
        out[k] = (float)(s.lr / s.bc1 / adaopt__denom_for(mode, u[k], s.bc2, hp[ADAOPT_EPS]));
    return ADAOPT_OK;
}

static adaopt_status adamax_lr(const adaopt__lr_query *q, float *out, size_t n)
{
    adaopt_step_scalars s = adaopt__step_scalars_at(ADAOPT_ALGO_ADAMAX, q->hp, q->t->step, 1.0);
    for (size_t k = 0; k < n; k++)
        out[k] = (float)(s.lr / s.bc1 / q->slot[1][k]);
    return ADAOPT_OK;
}

static adaopt_status nadam_lr(const adaopt__lr_query *q, float *out, size_t n)
{
    /* the last step's scalars from P_{t-1} = P_t / mu_t */
    const double *hp = q->hp;
    adaopt_step_scalars last = adaopt__step_scalars_at(ADAOPT_ALGO_NADAM, hp, q->t->step, 1.0);
    double mu_before = last.mu > 0.0 ? q->t->mu_product / last.mu : 0.0;
    adaopt_step_scalars s = adaopt__step_scalars_at(ADAOPT_ALGO_NADAM, hp, q->t->step, mu_before);
    int mode = (int)hp[ADAOPT_EPS_MODE];
    for (size_t k = 0; k < n; k++)
        out[k] = (float)((s.grad_coef + s.avg_coef) /
                         adaopt__denom_for(mode, q->slot[1][k], s.bc2, hp[ADAOPT_EPS]));
    return ADAOPT_OK;
}

static adaopt_status radam_lr(const adaopt__lr_query *q, float *out, size_t n)
{
    const double *hp = q->hp;
    adaopt_step_scalars s = adaopt__step_scalars_at(ADAOPT_ALGO_RADAM, hp, q->t->step, 1.0);
    int mode = (int)hp[ADAOPT_EPS_MODE];
    for (size_t k = 0; k < n; k++)
        out[k] = (float)(s.rectified ? s.lr * s.rect / s.bc1 /
                                           adaopt__denom_for(mode, q->slot[1][k], s.bc2,
                                                             hp[ADAOPT_EPS])
                                     : s.lr / s.bc1);
    return ADAOPT_OK;
}

/* ---- the rows ---- */

#define ADAM_LIKE                                                                               \
    .slot_kind = {ADAOPT_STATE_EXP_AVG, ADAOPT_STATE_EXP_AVG_SQ, ADAOPT_STATE_MAX_EXP_AVG_SQ}, \
    .slots = adam_slots, .eps_modes = ALL_EPS_MODES, .sparse_eps_hat = 1,                     \
    .scalars = adaopt__adam_scalars, .coeffs = adaopt__adam_coeffs, .effective_lr = adaopt__adam_lr

const adaopt__algorithm adaopt__adam_row = {
    .name = "adam", .options = ADAM, .decay = ADAOPT__DECAY_COUPLED, ADAM_LIKE};

const adaopt__algorithm adaopt__adamw_row = {
    .name = "adamw", .options = ADAMW, .decay = ADAOPT__DECAY_DECOUPLED, ADAM_LIKE};

const adaopt__algorithm adaopt__adamax_row = {
    .name = "adamax",
    .options = ADAMAX,
    .slot_kind = {ADAOPT_STATE_EXP_AVG, ADAOPT_STATE_EXP_INF},
    .slots = adaopt__slots01,
    .decay = ADAOPT__DECAY_COUPLED,
    .sparse_eps_hat = 1,
    .scalars = adaopt__adam_scalars,
    .coeffs = adamax_coeffs,
    .effective_lr = adamax_lr,
};

const adaopt__algorithm adaopt__nadam_row = {
    .name = "nadam",
    .options = NADAM,
    .eps_modes = ALL_EPS_MODES,
    .slot_kind = {ADAOPT_STATE_EXP_AVG, ADAOPT_STATE_EXP_AVG_SQ},
    .slots = adaopt__slots01,
    .decay = ADAOPT__DECAY_BY_OPTION,
    .tracks_mu_product = 1,
    .own_coeffs = 1,
    .steps_set = nadam_steps_set,
    .sparse_eps_hat = 1,
    .scalars = nadam_scalars,
    .coeffs = adaopt__adam_coeffs,
    .effective_lr = nadam_lr,
};

const adaopt__algorithm adaopt__radam_row = {
    .name = "radam",
    .options = RADAM,
    .eps_modes = ALL_EPS_MODES,
    .slot_kind = {ADAOPT_STATE_EXP_AVG, ADAOPT_STATE_EXP_AVG_SQ},
    .slots = adaopt__slots01,
    .decay = ADAOPT__DECAY_BY_OPTION,
    .sparse_eps_hat = 1,
    .scalars = radam_scalars,
    .coeffs = adaopt__adam_coeffs,
    .effective_lr = radam_lr,
};
