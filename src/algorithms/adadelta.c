/*
 * adadelta.c -- torch.optim.Adadelta (Zeiler, 2012): the step is the gradient scaled by the RMS
 * of past steps over the RMS of past gradients.  Kernels: src/kernels/ (adaopt_adadelta_*).
 */
#include <math.h>

#include "algorithm.h"

static const adaopt__option_default OPTIONS[] = {
    {ADAOPT_LR, 1.0}, {ADAOPT_RHO, 0.9}, {ADAOPT_EPS, 1e-6}, {ADAOPT_WEIGHT_DECAY, 0.0},
    {0, 0.0}};

static void coeffs(adaopt_coeffs *c, const adaopt__algorithm *a, const adaopt_group *g,
                   const adaopt_tensor *t, const double *hp,
                   const adaopt_step_scalars *s, int slot0_ready)
{
    (void)g;
    (void)t;
    (void)slot0_ready;
    adaopt__common_coeffs(c, a, hp, s);
    c->rho = (float)hp[ADAOPT_RHO];
    c->one_minus_rho = (float)(1.0 - hp[ADAOPT_RHO]);
}

/* lr RMS[dx] / RMS[g] from the averages as they are now: the factor the next step applies to a
 * gradient that leaves square_avg where it is. */
static adaopt_status effective_lr(const adaopt__lr_query *q, float *out, size_t n)
{
    const double *hp = q->hp;
    for (size_t k = 0; k < n; k++)
        out[k] = (float)(hp[ADAOPT_LR] * sqrt((double)q->slot[1][k] + hp[ADAOPT_EPS]) /
                         sqrt((double)q->slot[0][k] + hp[ADAOPT_EPS]));
    return ADAOPT_OK;
}

const adaopt__algorithm adaopt__adadelta_row = {
    .name = "adadelta",
    .options = OPTIONS,
    .slot_kind = {ADAOPT_STATE_SQUARE_AVG, ADAOPT_STATE_ACC_DELTA},
    .slots = adaopt__slots01,
    .decay = ADAOPT__DECAY_COUPLED,
    .no_sparse = "does not take sparse gradients (nor does torch.optim.Adadelta)",
    .coeffs = coeffs,
    .effective_lr = effective_lr,
};
