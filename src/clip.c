/*
 * clip.c -- gradient clipping by global norm and by value, as torch.nn.utils.clip_grad_norm_
 * and clip_grad_value_.  Separate from the optimizers: call it on the gradients, then step.
 */
#include <math.h>

#include "internal.h"

static adaopt_status check_list(float *const *grads, const size_t *numels, size_t n)
{
    if (n > 0 && (grads == NULL || numels == NULL))
        return ADAOPT_ERR_NULL;
    return ADAOPT_OK;
}

adaopt_status adaopt_clip_grad_norm(float *const *grads, const size_t *numels, size_t n_tensors,
                                    double max_norm, double norm_type, double *total_norm)
{
    adaopt_status st = check_list(grads, numels, n_tensors);
    if (st != ADAOPT_OK)
        return st;
    if (!(max_norm >= 0.0) || !isfinite(max_norm))
        return ADAOPT_ERR_VALUE;
    int inf_norm = isinf(norm_type) && norm_type > 0;
    if (!inf_norm && norm_type != 1.0 && norm_type != 2.0)
        return ADAOPT_ERR_VALUE;

    double acc = 0.0;
    for (size_t i = 0; i < n_tensors; i++) {
        const float *g = grads[i];
        if (g == NULL)
            continue;
        for (size_t k = 0; k < numels[i]; k++) {
            double x = fabs((double)g[k]);
            if (inf_norm)
                acc = (x > acc || x != x) ? x : acc;
            else
                acc += norm_type == 2.0 ? x * x : x;
        }
    }
    double norm = (inf_norm || norm_type == 1.0) ? acc : sqrt(acc);
    if (total_norm != NULL)
        *total_norm = norm;
    double coef = max_norm / (norm + 1e-6); /* torch: clip_coef = max_norm / (total_norm + 1e-6) */
    if (coef < 1.0 || coef != coef) {
        float c = (float)coef;
        for (size_t i = 0; i < n_tensors; i++) {
            float *g = grads[i];
            if (g == NULL)
                continue;
            for (size_t k = 0; k < numels[i]; k++)
                g[k] *= c;
        }
    }
    return ADAOPT_OK;
}

adaopt_status adaopt_clip_grad_value(float *const *grads, const size_t *numels, size_t n_tensors,
                                     double clip_value)
{
    adaopt_status st = check_list(grads, numels, n_tensors);
    if (st != ADAOPT_OK)
        return st;
    if (!(clip_value >= 0.0) || !isfinite(clip_value))
        return ADAOPT_ERR_VALUE;
    float hi = (float)clip_value, lo = -hi;
    for (size_t i = 0; i < n_tensors; i++) {
        float *g = grads[i];
        if (g == NULL)
            continue;
        for (size_t k = 0; k < numels[i]; k++) /* torch.clamp_: NaN stays NaN */
            g[k] = g[k] < lo ? lo : (g[k] > hi ? hi : g[k]);
    }
    return ADAOPT_OK;
}
