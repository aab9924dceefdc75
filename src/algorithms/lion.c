/*
 * lion.c -- Lion (Chen et al., 2023), as lion-pytorch's Lion: the sign of an interpolation of
 * the momentum and the gradient.  Kernels: src/kernels/ (adaopt_lion_*).
 */
#include "algorithm.h"

static const adaopt__option_default OPTIONS[] = {
    {ADAOPT_LR, 1e-4}, /* lion-pytorch */
    {ADAOPT_BETA1, 0.9}, {ADAOPT_BETA2, 0.99}, {ADAOPT_WEIGHT_DECAY, 0.0}, {0, 0.0}};

const adaopt__algorithm adaopt__lion_row = {
    .name = "lion",
    .options = OPTIONS,
    .slot_kind = {ADAOPT_STATE_EXP_AVG},
    .slots = adaopt__slot0,
    .decay = ADAOPT__DECAY_DECOUPLED,
    .sparse_eps_hat = 1,
    .scalars = adaopt__adam_scalars,
    .coeffs = adaopt__adam_coeffs,
    .effective_lr = adaopt__lr_everywhere, /* every coordinate moves by lr (or not at all) */
};
