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

/* acc + sum of |g| or g^2 in double.  Eight partial sums (element k goes to sum k % 8), added
 * in a fixed order at the end: the compiler keeps them in vector registers, so the pass runs at
 * memory speed instead of waiting on one chain of dependent adds, and the result does not
 * depend on the machine. */
double adaopt__sum_pow(const float *g, size_t n, int squares, double acc)
{
    double part[8] = {0};
    size_t k = 0;
    if (squares) {
        for (; k + 8 <= n; k += 8)
            for (int j = 0; j < 8; j++)
                part[j] += (double)g[k + j] * (double)g[k + j];
    } else {
        for (; k + 8 <= n; k += 8)
            for (int j = 0; j < 8; j++)
                part[j] += fabs((double)g[k + j]);
    }
    for (int j = 0; k < n; k++, j++)
        part[j] += squares ? (double)g[k] * (double)g[k] : fabs((double)g[k]);
    return acc + (((part[0] + part[1]) + (part[2] + part[3])) +
                  ((part[4] + part[5]) + (part[6] + part[7])));
}

/* max(acc, max |g|), NaN if any element is NaN (as torch's inf norm). */
double adaopt__max_abs(const float *g, size_t n, double acc)
{
    float m = 0.0f;
    int nan = 0;
    for (size_t k = 0; k < n; k++) {
        float x = fabsf(g[k]);
        m = x > m ? x : m;
        nan |= x != x;
    }
    if (nan || acc != acc)
        return NAN;
    return (double)m > acc ? (double)m : acc;
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
    for (size_t i = 0; i < n_tensors; i++)
        if (grads[i] != NULL)
            acc = inf_norm ? adaopt__max_abs(grads[i], numels[i], acc)
                           : adaopt__sum_pow(grads[i], numels[i], norm_type == 2.0, acc);
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
