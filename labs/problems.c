/*
 * problems.c -- the seeds' test problems.
 */
#include "problems.h"

double rosenbrock_loss(const float *xy)
{
    double x = xy[0], y = xy[1];
    return (1.0 - x) * (1.0 - x) + 100.0 * (y - x * x) * (y - x * x);
}

void rosenbrock_grad(const float *xy, float *grad)
{
    double x = xy[0], y = xy[1];
    grad[0] = (float)(-2.0 * (1.0 - x) - 400.0 * x * (y - x * x));
    grad[1] = (float)(200.0 * (y - x * x));
}

double quadratic_loss(const float *x, size_t n, double a)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (double)x[i] * x[i];
    return a * s;
}

void quadratic_grad(const float *x, size_t n, double a, float *grad)
{
    for (size_t i = 0; i < n; i++)
        grad[i] = (float)(2.0 * a * x[i]);
}
