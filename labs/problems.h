/*
 * problems.h -- the seeds' test problems: loss and gradient, in double, of float parameters.
 */
#ifndef ADAOPT_PROBLEMS_H
#define ADAOPT_PROBLEMS_H

#include <stddef.h>

/* Seed 003: f(x, y) = (1 - x)^2 + 100 (y - x^2)^2, minimum 0 at (1, 1). */
double rosenbrock_loss(const float *xy);
void rosenbrock_grad(const float *xy, float *grad);

/* f(x) = a * sum x_i^2 (seed 004's 10x^2 and x^2). */
double quadratic_loss(const float *x, size_t n, double a);
void quadratic_grad(const float *x, size_t n, double a, float *grad);

#endif
