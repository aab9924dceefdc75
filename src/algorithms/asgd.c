/*
 * asgd.c -- torch.optim.ASGD (Polyak and Juditsky, 1992): SGD whose step eta decays as
 * lr / (1 + lambd lr t)^alpha, with an average ax of the iterates from step t0 on.  eta and mu
 * (the average's weight) are each tensor's float32 scalars, as torch's state tensors, so that a
 * changed lr enters at the next step's eta as in torch.  Kernels: src/kernels/ (adaopt_asgd_*).
 */
#include <math.h>

#include "algorithm.h"

static const adaopt__option_default OPTIONS[] = {
    {ADAOPT_LR, 1e-2}, {ADAOPT_LAMBD, 1e-4}, {ADAOPT_ALPHA, 0.75}, {ADAOPT_T0, 1e6},
    {ADAOPT_WEIGHT_DECAY, 0.0}, {0, 0.0}};

/* The eta and mu torch computes after step `step` (for the next one), each rounded to float as
 * torch.as_tensor(...) into its float32 state. */
static double eta_after(const double *hp, double step)
{
    return (double)(float)(hp[ADAOPT_LR] /
                           pow(1.0 + hp[ADAOPT_LAMBD] * hp[ADAOPT_LR] * step, hp[ADAOPT_ALPHA]));
}

static double mu_after(const double *hp, double step)
{
    double d = step - hp[ADAOPT_T0];
    return (double)(float)(1.0 / (d > 1.0 ? d : 1.0));
}

static void coeffs(adaopt_coeffs *c, const adaopt__algorithm *a, const adaopt_group *g,
                   const adaopt_tensor *t, const double *hp,
                   const adaopt_step_scalars *s, int slot0_ready)
{
    (void)g;
    (void)slot0_ready;
    adaopt__common_coeffs(c, a, hp, s);
    /* a new tensor's: eta = lr (a float32 tensor), mu = 1 */
    double eta = t->step == 0 ? (double)(float)hp[ADAOPT_LR] : t->scalars[0];
    double mu = t->step == 0 ? 1.0 : t->scalars[1];
    c->asgd_decay = (float)(1.0 - hp[ADAOPT_LAMBD] * eta); /* param.mul_(1 - lambd * eta) */
    c->neg_eta = (float)-eta;
    c->mu = (float)mu;
    c->mu_is_one = mu == 1.0; /* mu.item() != 1: the average, else ax.copy_(param) */
}

static void stepped(adaopt_tensor *t, const double *hp, const adaopt_coeffs *c)
{
    t->scalars[2] = -(double)c->neg_eta; /* the eta this step took */
    t->scalars[0] = eta_after(hp, (double)t->step);
    t->scalars[1] = mu_after(hp, (double)t->step);
}

static void steps_set(adaopt_tensor *t, const double *hp, uint64_t steps)
{
    t->scalars[0] = eta_after(hp, (double)steps);
    t->scalars[1] = mu_after(hp, (double)steps);
    t->scalars[2] = steps > 0 ? eta_after(hp, (double)(steps - 1)) : 0.0;
}

/* The eta of the last step, for every coordinate. */
static adaopt_status effective_lr(const adaopt__lr_query *q, float *out, size_t n)
{
    for (size_t k = 0; k < n; k++)
        out[k] = (float)q->t->scalars[2];
    return ADAOPT_OK;
}

const adaopt__algorithm adaopt__asgd_row = {
    .name = "asgd",
    .options = OPTIONS,
    .slot_kind = {ADAOPT_STATE_AX},
    .slots = adaopt__slot0,
    .decay = ADAOPT__DECAY_COUPLED,
    .own_coeffs = 1,
    .tensor_scalars = {ADAOPT_STATE_ETA, ADAOPT_STATE_MU},
    .float_scalars = 1,
    .no_sparse = "does not take sparse gradients (nor does torch.optim.ASGD)",
    .tensor_record = ADAOPT__TENSOR_RECORD_SCALARS,
    .coeffs = coeffs,
    .stepped = stepped,
    .steps_set = steps_set,
    .effective_lr = effective_lr,
};
