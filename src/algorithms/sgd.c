/*
 * sgd.c -- torch.optim.SGD: plain, with momentum (dampening, nesterov).  The baseline.
 * Kernels: src/kernels/ (adaopt_sgd_*).
 */
#include "algorithm.h"

static const adaopt__option_default OPTIONS[] = {
    {ADAOPT_LR, 1e-3},      {ADAOPT_WEIGHT_DECAY, 0.0}, {ADAOPT_MOMENTUM, 0.0},
    {ADAOPT_DAMPENING, 0.0}, {ADAOPT_NESTEROV, 0.0},     {ADAOPT_TORCH, ADAOPT_TORCH_2},
    {0, 0.0}};

static unsigned slots(const double *hp)
{
    return hp[ADAOPT_MOMENTUM] != 0.0 ? 1u : 0u;
}

static int born(const adaopt_coeffs *c)
{
    return c->use_momentum;
}

static adaopt_status check_combination(adaopt_optimizer *opt, size_t gi, const double *hp)
{
    if (hp[ADAOPT_NESTEROV] != 0.0 && (hp[ADAOPT_MOMENTUM] <= 0.0 || hp[ADAOPT_DAMPENING] != 0.0))
        return adaopt__fail(opt, ADAOPT_ERR_CONFLICT,
                            "group %zu: nesterov requires momentum > 0 and dampening = 0 "
                            "(momentum %g, dampening %g)",
                            gi, hp[ADAOPT_MOMENTUM], hp[ADAOPT_DAMPENING]);
    return ADAOPT_OK;
}

static void coeffs(adaopt_coeffs *c, const adaopt__algorithm *a, const adaopt_group *g,
                   const adaopt_tensor *t, const double *hp,
                   const adaopt_step_scalars *s, int slot0_ready)
{
    (void)t;
    (void)g;
    adaopt__common_coeffs(c, a, hp, s);
    c->momentum = (float)hp[ADAOPT_MOMENTUM];
    c->one_minus_dampening = (float)(1.0 - hp[ADAOPT_DAMPENING]);
    c->nesterov = hp[ADAOPT_NESTEROV] != 0.0;
    c->use_momentum = hp[ADAOPT_MOMENTUM] != 0.0;
    c->buffer_is_new = !slot0_ready;
}

const adaopt__algorithm adaopt__sgd_row = {
    .name = "sgd",
    .options = OPTIONS,
    .slot_kind = {ADAOPT_STATE_MOMENTUM_BUFFER},
    .slots = slots,
    .slot0_born = born,
    .decay = ADAOPT__DECAY_COUPLED,
    .check_combination = check_combination,
    .coeffs = coeffs,
    .effective_lr = adaopt__lr_everywhere,
};
