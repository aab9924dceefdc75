/*
 * trace.c -- the optimization loop of the CLI, the labs and the web page.
 */
#include "trace.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void trace_fill_point(adaopt_optimizer *opt, const problem *p, const float *x, uint64_t step,
                      trace_point *pt)
{
    memset(pt, 0, sizeof *pt);
    pt->step = step;
    pt->dim = p->dim;
    memcpy(pt->x, x, p->dim * sizeof *x);
    if (step > 0 && adaopt_get_algorithm(opt) == ADAOPT_ALGO_ADAMW_SCHEDULE_FREE) {
        /* Schedule-Free's parameters hold y; the point is its average x, which adaopt_eval
         * makes -- here in the point's copy; adaopt_train on the copy restores the mode */
        void *params[1] = {pt->x};
        adaopt_eval(opt, params, 1);
        float y[TRACE_MAX_DIM];
        memcpy(y, pt->x, p->dim * sizeof *x);
        void *scratch[1] = {y};
        adaopt_train(opt, scratch, 1);
    }
    pt->loss = problem_loss(p, pt->x);
    if (step == 0 || adaopt_effective_lr(opt, 0, pt->effective_lr, p->dim) != ADAOPT_OK)
        for (size_t i = 0; i < p->dim; i++)
            pt->effective_lr[i] = NAN;
}

int trace_step(adaopt_optimizer *opt, const problem *p, float *x, uint64_t t, char *err,
               size_t errlen)
{
    float grad[TRACE_MAX_DIM];
    float *params[1] = {x};
    const float *grads[1] = {grad};
    problem_grad(p, x, t - 1, grad);
    if (adaopt_step(opt, params, grads, 1) != ADAOPT_OK) {
        snprintf(err, errlen, "%s", adaopt_last_error(opt));
        return -1;
    }
    return 0;
}

static int report(adaopt_optimizer *opt, const problem *p, const float *x, uint64_t step,
                  trace_visit visit, void *ctx)
{
    if (visit == NULL)
        return 0;
    trace_point pt;
    trace_fill_point(opt, p, x, step, &pt);
    return visit(ctx, &pt);
}

int trace_run(adaopt_optimizer *opt, const problem *p, float *x, uint64_t steps, uint64_t every,
              trace_visit visit, void *ctx, char *err, size_t errlen)
{
    if (p->dim > TRACE_MAX_DIM) {
        snprintf(err, errlen, "at most %d parameters", TRACE_MAX_DIM);
        return -1;
    }
    int rc = report(opt, p, x, 0, visit, ctx);
    for (uint64_t t = 1; t <= steps && rc == 0; t++) {
        if (trace_step(opt, p, x, t, err, errlen) != 0)
            return -1;
        if (t == steps || (every > 0 && t % every == 0))
            rc = report(opt, p, x, t, visit, ctx);
    }
    return rc;
}
