/*
 * problems.c -- the seeds' test problems.
 */
#include "problems.h"

#include <math.h>
#include <string.h>

void lab_rng_seed(lab_rng *r, uint64_t seed)
{
    r->state = seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull;
    if (r->state == 0)
        r->state = 1;
}

double lab_rng_uniform(lab_rng *r)
{
    r->state ^= r->state >> 12;
    r->state ^= r->state << 25;
    r->state ^= r->state >> 27;
    return (double)((r->state * 0x2545F4914F6CDD1Dull) >> 11) / 9007199254740992.0;
}

void lab_shuffle(int *a, int n, lab_rng *r)
{
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(lab_rng_uniform(r) * (i + 1)), t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

double lab_rng_normal(lab_rng *r)
{
    double u = 1.0 - lab_rng_uniform(r), v = lab_rng_uniform(r);
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

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

void sparse_regression_init(sparse_regression *p, double activity, uint64_t seed)
{
    lab_rng r;
    lab_rng_seed(&r, seed);
    p->activity = activity;
    for (int i = 0; i < SPARSE_REG_SAMPLES; i++) {
        double x1 = lab_rng_normal(&r), x2 = lab_rng_normal(&r);
        int active = lab_rng_uniform(&r) < activity;
        p->x1[i] = (float)x1;
        p->x2[i] = active ? (float)x2 : 0.0f;
        p->y[i] = (float)(SPARSE_REG_W1 * p->x1[i] + SPARSE_REG_W2 * p->x2[i] +
                          0.1 * lab_rng_normal(&r));
    }
}

double sparse_regression_loss(const sparse_regression *p, const float *w)
{
    double s = 0.0;
    for (int i = 0; i < SPARSE_REG_SAMPLES; i++) {
        double e = (double)w[0] * p->x1[i] + (double)w[1] * p->x2[i] - p->y[i];
        s += e * e;
    }
    return 0.5 * s / SPARSE_REG_SAMPLES;
}

void sparse_regression_grad(const sparse_regression *p, const float *w, uint64_t step,
                            float *grad)
{
    double g1 = 0.0, g2 = 0.0;
    for (int k = 0; k < SPARSE_REG_BATCH; k++) {
        int i = (int)((step * SPARSE_REG_BATCH + (uint64_t)k) % SPARSE_REG_SAMPLES);
        double e = (double)w[0] * p->x1[i] + (double)w[1] * p->x2[i] - p->y[i];
        g1 += e * p->x1[i];
        g2 += e * p->x2[i];
    }
    grad[0] = (float)(g1 / SPARSE_REG_BATCH);
    grad[1] = (float)(g2 / SPARSE_REG_BATCH);
}

int problem_init(problem *p, const char *name, size_t dim, double a, double activity,
                 uint64_t seed)
{
    memset(p, 0, sizeof *p);
    p->a = a;
    p->dim = dim;
    if (strcmp(name, "rosenbrock") == 0) {
        p->kind = PROBLEM_ROSENBROCK;
        return dim == 2 ? 0 : -1;
    }
    if (strcmp(name, "quadratic") == 0) {
        p->kind = PROBLEM_QUADRATIC;
        return dim >= 1 && isfinite(a) ? 0 : -1;
    }
    if (strcmp(name, "sparse-regression") == 0) {
        p->kind = PROBLEM_SPARSE_REGRESSION;
        if (dim != 2 || !(activity >= 0.0 && activity <= 1.0))
            return -1;
        sparse_regression_init(&p->data, activity, seed);
        return 0;
    }
    return -1;
}

double problem_loss(const problem *p, const float *x)
{
    switch (p->kind) {
    case PROBLEM_ROSENBROCK:
        return rosenbrock_loss(x);
    case PROBLEM_QUADRATIC:
        return quadratic_loss(x, p->dim, p->a);
    default:
        return sparse_regression_loss(&p->data, x);
    }
}

void problem_grad(const problem *p, const float *x, uint64_t step, float *grad)
{
    switch (p->kind) {
    case PROBLEM_ROSENBROCK:
        rosenbrock_grad(x, grad);
        break;
    case PROBLEM_QUADRATIC:
        quadratic_grad(x, p->dim, p->a, grad);
        break;
    default:
        sparse_regression_grad(&p->data, x, step, grad);
    }
}

int problem_default_x0(const char *name, float *x)
{
    if (strcmp(name, "quadratic") == 0) {
        x[0] = 10.0f;
        return 1;
    }
    if (strcmp(name, "rosenbrock") == 0) {
        x[0] = -1.0f;
        x[1] = 1.0f;
        return 2;
    }
    if (strcmp(name, "sparse-regression") == 0) {
        x[0] = -2.0f;
        x[1] = -2.0f;
        return 2;
    }
    return 0;
}
