/*
 * rmsprop.c -- torch.optim.RMSprop: plain, centered, with momentum.
 * Kernels: src/kernels/ (adaopt_rmsprop_*).
 */
#include "algorithm.h"

static const adaopt__option_default OPTIONS[] = {
    {ADAOPT_LR, 1e-2},          {ADAOPT_ALPHA, 0.99},     {ADAOPT_EPS, 1e-8},
    {ADAOPT_WEIGHT_DECAY, 0.0}, {ADAOPT_MOMENTUM, 0.0},   {ADAOPT_CENTERED, 0.0},
    {ADAOPT_EPS_MODE, ADAOPT_EPS_OUTSIDE}, {ADAOPT_TORCH, ADAOPT_TORCH_2}, {0, 0.0}};

static unsigned slots(const double *hp)
{
    return 1u | (hp[ADAOPT_MOMENTUM] > 0.0 ? 2u : 0u) | (hp[ADAOPT_CENTERED] != 0.0 ? 4u : 0u);
}

static adaopt_status check_value(adaopt_optimizer *opt, adaopt_option option, double value)
{
    if (option == ADAOPT_ALPHA && !(value >= 0.0 && value < 1.0)) /* (a decay; ASGD's: a power) */
        return adaopt__fail(opt, ADAOPT_ERR_VALUE, "alpha must be in [0, 1) (got %g)", value);
    return ADAOPT_OK;
}

static void coeffs(adaopt_coeffs *c, const adaopt__algorithm *a, const adaopt_group *g,
                   const adaopt_tensor *t, const double *hp,
                   const adaopt_step_scalars *s, int slot0_ready)
{
    (void)t;
    (void)g;
    (void)slot0_ready;
    adaopt__common_coeffs(c, a, hp, s);
    c->alpha = (float)hp[ADAOPT_ALPHA];
    c->one_minus_alpha = (float)(1.0 - hp[ADAOPT_ALPHA]);
    c->momentum = (float)hp[ADAOPT_MOMENTUM];
    c->use_momentum = hp[ADAOPT_MOMENTUM] > 0.0;
    c->centered = hp[ADAOPT_CENTERED] != 0.0;
    if (adaopt__torch2(hp)) { /* grad_avg.lerp_(grad, 1 - alpha) */
        c->lerp_m = 1;
        adaopt__set_lerp_weight(c, c->one_minus_alpha);
    }
}

static adaopt_status effective_lr(const adaopt__lr_query *q, float *out, size_t n)
{
    const double *hp = q->hp;
    int mode = (int)hp[ADAOPT_EPS_MODE];
    const float *avg = hp[ADAOPT_CENTERED] != 0.0 ? q->slot[2] : NULL;
    for (size_t k = 0; k < n; k++) {
        double var = q->slot[0][k];
        if (avg != NULL)
            var -= (double)avg[k] * avg[k];
        out[k] = (float)(hp[ADAOPT_LR] / adaopt__denom_for(mode, var, 1.0, hp[ADAOPT_EPS]));
    }
    return ADAOPT_OK;
}

const adaopt__algorithm adaopt__rmsprop_row = {
    .name = "rmsprop",
    .options = OPTIONS,
    .eps_modes = 1u << ADAOPT_EPS_OUTSIDE | 1u << ADAOPT_EPS_INSIDE,
    .slot_kind = {ADAOPT_STATE_SQUARE_AVG, ADAOPT_STATE_MOMENTUM_BUFFER, ADAOPT_STATE_GRAD_AVG},
    .slots = slots,
    .decay = ADAOPT__DECAY_COUPLED,
    .check_value = check_value,
    .coeffs = coeffs,
    .effective_lr = effective_lr,
};
