/*
 * rprop.c -- torch.optim.Rprop (Riedmiller and Braun, 1993): each coordinate's step size grows
 * by eta_plus while its gradient keeps its sign and shrinks by eta_minus when it flips; the
 * parameter moves by the step size against the gradient's sign.  A full-batch method.
 * Kernel: src/kernels/scalar.c (adaopt_rprop_scalar, on every ISA: its selects).
 */
#include "algorithm.h"

static const adaopt__option_default OPTIONS[] = {
    {ADAOPT_LR, 1e-2},           {ADAOPT_ETA_MINUS, 0.5},     {ADAOPT_ETA_PLUS, 1.2},
    {ADAOPT_STEP_SIZE_MIN, 1e-6}, {ADAOPT_STEP_SIZE_MAX, 50.0}, {0, 0.0}};

static void coeffs(adaopt_coeffs *c, const adaopt__algorithm *a, const adaopt_group *g,
                   const adaopt_tensor *t, const double *hp,
                   const adaopt_step_scalars *s, int slot0_ready)
{
    (void)g;
    (void)t;
    (void)slot0_ready;
    adaopt__common_coeffs(c, a, hp, s);
    c->eta_minus = (float)hp[ADAOPT_ETA_MINUS]; /* (torch's sign tensor holds them as float) */
    c->eta_plus = (float)hp[ADAOPT_ETA_PLUS];
    c->step_size_min = (float)hp[ADAOPT_STEP_SIZE_MIN];
    c->step_size_max = (float)hp[ADAOPT_STEP_SIZE_MAX];
}

/* Each coordinate moves by its step size (or not at all). */
static adaopt_status effective_lr(const adaopt__lr_query *q, float *out, size_t n)
{
    for (size_t k = 0; k < n; k++)
        out[k] = q->slot[0][k];
    return ADAOPT_OK;
}

const adaopt__algorithm adaopt__rprop_row = {
    .name = "rprop",
    .options = OPTIONS,
    .slot_kind = {ADAOPT_STATE_STEP_SIZE, ADAOPT_STATE_PREV},
    .slots = adaopt__slots01,
    .slot0_init = ADAOPT_LR, /* torch.full_like(grad, lr) at the tensor's first step */
    .decay = ADAOPT__DECAY_COUPLED, /* (it has no weight_decay) */
    .no_sparse = "does not take sparse gradients (nor does torch.optim.Rprop)",
    .coeffs = coeffs,
    .effective_lr = effective_lr,
};
