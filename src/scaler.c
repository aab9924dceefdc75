/*
 * scaler.c -- dynamic loss scaling (torch.cuda.amp.GradScaler's rules), whose unscaling pass
 * also finds non-finite gradients for the SKIP / ERROR policies at no extra cost.
 */
#include <math.h>
#include <string.h>

#include "internal.h"

adaopt_grad_scaler adaopt_grad_scaler_defaults(void)
{
    adaopt_grad_scaler s = {65536.0, 2.0, 0.5, 2000, 0};
    return s;
}

static int scaler_valid(const adaopt_grad_scaler *s)
{
    return isfinite(s->scale) && s->scale > 0.0 && isfinite(s->growth_factor) &&
           s->growth_factor > 1.0 && s->backoff_factor > 0.0 && s->backoff_factor < 1.0 &&
           s->growth_interval > 0;
}

adaopt_status adaopt_unscale_grads(const adaopt_grad_scaler *scaler, float *const *grads,
                                   const size_t *numels, size_t n_tensors, int *found_nonfinite)
{
    if (scaler == NULL || found_nonfinite == NULL || (n_tensors > 0 && (grads == NULL || numels == NULL)))
        return ADAOPT_ERR_NULL;
    if (!scaler_valid(scaler))
        return ADAOPT_ERR_VALUE;
    const float inv = (float)(1.0 / scaler->scale); /* torch: grads * (1 / scale), in float */
    uint32_t found = 0;
    for (size_t i = 0; i < n_tensors; i++) {
        float *g = grads[i];
        if (g == NULL)
            continue;
        for (size_t k = 0; k < numels[i]; k++) {
            float v = g[k] * inv;
            uint32_t bits;
            memcpy(&bits, &v, sizeof bits);
            found |= (bits & 0x7f800000u) == 0x7f800000u;
            g[k] = v;
        }
    }
    *found_nonfinite = found != 0;
    return ADAOPT_OK;
}

adaopt_status adaopt_grad_scaler_update(adaopt_grad_scaler *s, int found_nonfinite)
{
    if (s == NULL)
        return ADAOPT_ERR_NULL;
    if (!scaler_valid(s) || (found_nonfinite != 0 && found_nonfinite != 1))
        return ADAOPT_ERR_VALUE;
    if (found_nonfinite) {
        s->scale *= s->backoff_factor;
        s->growth_tracker = 0;
    } else if (++s->growth_tracker == s->growth_interval) {
        double grown = s->scale * s->growth_factor;
        if (isfinite(grown) && grown <= 3.4028234663852886e38) /* stays a float */
            s->scale = grown;
        s->growth_tracker = 0;
    }
    return ADAOPT_OK;
}
