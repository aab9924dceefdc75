/*
 * trace.h -- runs one optimizer on one problem and reports the trajectory: the engine behind
 * `adaopt trace`, the labs and the web page.
 */
#ifndef ADAOPT_LAB_TRACE_H
#define ADAOPT_LAB_TRACE_H

#include <stdint.h>

#include "adaopt.h"
#include "problems.h"

enum { TRACE_MAX_DIM = 64 };

typedef struct trace_point {
    uint64_t step;                /* 0: the starting point */
    size_t dim;
    float x[TRACE_MAX_DIM];
    double loss;
    float effective_lr[TRACE_MAX_DIM]; /* NaN at step 0 (no step taken yet) */
} trace_point;

/* Called for step 0, every `every` steps (0: none in between) and the last step; a non-zero
 * return stops the run and is returned. */
typedef int (*trace_visit)(void *ctx, const trace_point *point);

/* `steps` steps from x (updated in place; p->dim floats).  0, the visitor's non-zero value, or
 * -1 if adaopt refuses a step (message in err). */
int trace_run(adaopt_optimizer *opt, const problem *p, float *x, uint64_t steps, uint64_t every,
              trace_visit visit, void *ctx, char *err, size_t errlen);

/* Step t (1, 2, ...): the problem's gradient at x for step t - 1, then one adaopt_step.  0, or
 * -1 with adaopt's message in err.  trace_run is this in a loop (so is the web page). */
int trace_step(adaopt_optimizer *opt, const problem *p, float *x, uint64_t t, char *err,
               size_t errlen);
/* The point reported after `step` steps at x: x itself, or for Schedule-Free (whose x holds
 * y) its average, made by adaopt_eval and adaopt_train on a copy. */
void trace_fill_point(adaopt_optimizer *opt, const problem *p, const float *x, uint64_t step,
                      trace_point *pt);

#endif
