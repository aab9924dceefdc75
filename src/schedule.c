/*
 * schedule.c -- learning-rate schedules as pure functions of (base lr, step).
 * Closed forms of torch.optim.lr_scheduler (StepLR, ExponentialLR, CosineAnnealingLR) and the
 * linear-warmup-then-cosine recipe seed 003 recommends for transformers.
 */
#include <math.h>

#include "internal.h"

adaopt_status adaopt_schedule_check(const adaopt_schedule *s)
{
    if (s == NULL)
        return ADAOPT_ERR_NULL;
    int gamma_ok = isfinite(s->gamma) && s->gamma > 0.0 && s->gamma <= 1.0;
    int cosine_ok = s->t_max > 0 && isfinite(s->eta_min) && s->eta_min >= 0.0;
    int ok;
    switch (s->kind) {
    case ADAOPT_SCHED_CONSTANT:
        ok = 1;
        break;
    case ADAOPT_SCHED_STEP:
        ok = s->step_size > 0 && gamma_ok;
        break;
    case ADAOPT_SCHED_EXPONENTIAL:
        ok = gamma_ok;
        break;
    case ADAOPT_SCHED_COSINE:
        ok = cosine_ok;
        break;
    case ADAOPT_SCHED_WARMUP_COSINE:
        ok = cosine_ok && s->warmup_steps > 0 && s->warmup_steps < s->t_max;
        break;
    default:
        ok = 0;
    }
    return ok ? ADAOPT_OK : ADAOPT_ERR_VALUE;
}

/* eta_min + (base - eta_min) (1 + cos(pi * done / total)) / 2, held at eta_min afterwards. */
static double cosine(double base, double eta_min, uint64_t done, uint64_t total)
{
    if (done >= total)
        return eta_min;
    const double pi = 3.14159265358979323846;
    return eta_min + (base - eta_min) * (1.0 + cos(pi * (double)done / (double)total)) / 2.0;
}

double adaopt_schedule_lr(const adaopt_schedule *s, double base_lr, uint64_t step)
{
    if (adaopt_schedule_check(s) != ADAOPT_OK || !isfinite(base_lr))
        return NAN;
    switch (s->kind) {
    case ADAOPT_SCHED_CONSTANT:
        return base_lr;
    case ADAOPT_SCHED_STEP:
        return base_lr * pow(s->gamma, (double)(step / s->step_size));
    case ADAOPT_SCHED_EXPONENTIAL:
        return base_lr * pow(s->gamma, (double)step);
    case ADAOPT_SCHED_COSINE:
        return cosine(base_lr, s->eta_min, step, s->t_max);
    case ADAOPT_SCHED_WARMUP_COSINE:
        if (step < s->warmup_steps)
            return base_lr * (double)(step + 1) / (double)s->warmup_steps;
        return cosine(base_lr, s->eta_min, step - s->warmup_steps, s->t_max - s->warmup_steps);
    }
    return NAN;
}
