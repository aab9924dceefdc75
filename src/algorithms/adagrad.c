/*
 * adagrad.c -- torch.optim.Adagrad: the sum of squared gradients, lr decay.
 * Kernels: src/kernels/ (adaopt_adagrad_*).
 */
#include "algorithm.h"

static const adaopt__option_default OPTIONS[] = {
    {ADAOPT_LR, 1e-2},           {ADAOPT_LR_DECAY, 0.0},
    {ADAOPT_WEIGHT_DECAY, 0.0},  {ADAOPT_INITIAL_ACCUMULATOR_VALUE, 0.0},
    {ADAOPT_EPS, 1e-10},         {ADAOPT_EPS_MODE, ADAOPT_EPS_OUTSIDE},
    {ADAOPT_TORCH, ADAOPT_TORCH_2}, {0, 0.0}};

static void scalars(adaopt_step_scalars *s, const double *hp, double t, double mu_before)
{
    (void)mu_before;
    s->clr = s->lr / (1.0 + (t - 1.0) * hp[ADAOPT_LR_DECAY]);
}

static void coeffs(adaopt_coeffs *c, const adaopt__algorithm *a, const adaopt_group *g,
                   const adaopt_tensor *t, const double *hp,
                   const adaopt_step_scalars *s, int slot0_ready)
{
    (void)t;
    (void)g;
    (void)slot0_ready;
    adaopt__common_coeffs(c, a, hp, s);
    c->neg_clr = (float)-s->clr;
}

static adaopt_status effective_lr(const adaopt__lr_query *q, float *out, size_t n)
{
    adaopt_step_scalars s = adaopt__step_scalars_at(ADAOPT_ALGO_ADAGRAD, q->hp, q->t->step, 1.0);
    int mode = (int)q->hp[ADAOPT_EPS_MODE];
    for (size_t k = 0; k < n; k++)
        out[k] = (float)(s.clr / adaopt__denom_for(mode, q->slot[0][k], 1.0, q->hp[ADAOPT_EPS]));
    return ADAOPT_OK;
}

const adaopt__algorithm adaopt__adagrad_row = {
    .name = "adagrad",
    .options = OPTIONS,
    .eps_modes = 1u << ADAOPT_EPS_OUTSIDE | 1u << ADAOPT_EPS_INSIDE,
    .slot_kind = {ADAOPT_STATE_SUM},
    .slots = adaopt__slot0,
    .slot0_init = ADAOPT_INITIAL_ACCUMULATOR_VALUE,
    .decay = ADAOPT__DECAY_COUPLED,
    .scalars = scalars,
    .coeffs = coeffs,
    .effective_lr = effective_lr,
};
