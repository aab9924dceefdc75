/*
 * problems.h -- the seeds' test problems: loss and gradient of float32 parameters, computed in
 * double.  Shared by the CLI, the labs and the web page (so every one gives the same numbers).
 */
#ifndef ADAOPT_PROBLEMS_H
#define ADAOPT_PROBLEMS_H

#include <stddef.h>
#include <stdint.h>

/* Seed 003: f(x, y) = (1 - x)^2 + 100 (y - x^2)^2, minimum 0 at (1, 1). */
double rosenbrock_loss(const float *xy);
void rosenbrock_grad(const float *xy, float *grad);

/* f(x) = a * sum x_i^2 (seed 004's 10x^2 and x^2). */
double quadratic_loss(const float *x, size_t n, double a);
void quadratic_grad(const float *x, size_t n, double a, float *grad);

/* Seed 000's lab: y = w1* x1 + w2* x2 + noise, where x1 ~ N(0, 1) is always present and
 * x2 ~ N(0, 1) only with probability `activity` (else 0).  200 samples made from `seed`; step t
 * takes the mini-batch of 8 samples starting at 8t (cyclically).  Loss: half the mean squared
 * error over all samples (what the contours show); gradient: over the step's mini-batch. */
enum { SPARSE_REG_SAMPLES = 200, SPARSE_REG_BATCH = 8 };
#define SPARSE_REG_W1 1.5
#define SPARSE_REG_W2 2.0
typedef struct sparse_regression {
    double activity;
    float x1[SPARSE_REG_SAMPLES], x2[SPARSE_REG_SAMPLES], y[SPARSE_REG_SAMPLES];
} sparse_regression;

void sparse_regression_init(sparse_regression *p, double activity, uint64_t seed);
double sparse_regression_loss(const sparse_regression *p, const float *w);
void sparse_regression_grad(const sparse_regression *p, const float *w, uint64_t step,
                            float *grad);

/* One of the above, chosen by name: "rosenbrock", "quadratic", "sparse-regression". */
typedef enum { PROBLEM_ROSENBROCK, PROBLEM_QUADRATIC, PROBLEM_SPARSE_REGRESSION } problem_kind;
typedef struct problem {
    problem_kind kind;
    size_t dim;       /* number of parameters (2, except quadratic: any) */
    double a;         /* quadratic's scale */
    sparse_regression data;
} problem;

/* 0 on success, -1 for an unknown name or a bad parameter (dim 0, activity outside [0, 1]). */
int problem_init(problem *p, const char *name, size_t dim, double a, double activity,
                 uint64_t seed);
double problem_loss(const problem *p, const float *x);
/* The starting point `adaopt trace` uses without --x0: rosenbrock (-1, 1), sparse-regression
 * (-2, -2), quadratic (10).  Writes x and returns the dimension, or 0 for an unknown name. */
int problem_default_x0(const char *name, float *x);
/* The gradient the optimizer sees at step `step` (0, 1, ...). */
void problem_grad(const problem *p, const float *x, uint64_t step, float *grad);

/* A small deterministic generator (xorshift64*), for data the C code and tests can reproduce. */
typedef struct lab_rng {
    uint64_t state;
} lab_rng;
void lab_rng_seed(lab_rng *r, uint64_t seed);
double lab_rng_uniform(lab_rng *r); /* [0, 1) */
double lab_rng_normal(lab_rng *r);  /* N(0, 1), Box-Muller */
/* Shuffles a[0 .. n) in place (Fisher-Yates, from the end), drawing from r. */
void lab_shuffle(int *a, int n, lab_rng *r);

#endif
