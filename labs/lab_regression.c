/*
 * lab_regression.c -- seed 001's comparison: linear regression on 1000 x 10 Gaussian data
 * (y = X theta* + 0.5 noise, theta* ~ 2 N(0, 1)), 50 epochs of shuffled mini-batches of 32,
 * AdaGrad (lr 0.1), RMSprop (lr 0.01, rho 0.9) and Adam (lr 0.01), eps 1e-8, theta from
 * 0.01 N(0, 1).  As in the seed: the gradient of a batch is (2/B) X_b^T (X_b theta - y_b) and an
 * epoch's loss is the sum of its batches' mean squared errors (before each update) divided by
 * n // B.  One difference: the seed's Adam restarts t at every epoch (its `t = 0` sits inside the
 * epoch loop); adaopt's Adam counts steps over the whole run, as every library does.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "lab.h"
#include "problems.h"

enum { N = 1000, D = 10, BATCH = 32, EPOCHS = 50 };

typedef struct {
    float X[N][D], y[N], theta_star[D];
} dataset;

/* The least-squares optimum's mean squared error: the floor no optimizer can go below. */
static double least_squares_mse(const dataset *d)
{
    double A[D][D + 1];
    memset(A, 0, sizeof A);
    for (int i = 0; i < N; i++)
        for (int r = 0; r < D; r++) {
            for (int c = 0; c < D; c++)
                A[r][c] += (double)d->X[i][r] * d->X[i][c];
            A[r][D] += (double)d->X[i][r] * d->y[i];
        }
    for (int c = 0; c < D; c++) { /* Gauss-Jordan with partial pivoting */
        int piv = c;
        for (int r = c + 1; r < D; r++)
            if (fabs(A[r][c]) > fabs(A[piv][c]))
                piv = r;
        for (int k = 0; k <= D; k++) {
            double t = A[c][k];
            A[c][k] = A[piv][k];
            A[piv][k] = t;
        }
        for (int r = 0; r < D; r++) {
            if (r == c)
                continue;
            double f = A[r][c] / A[c][c];
            for (int k = c; k <= D; k++)
                A[r][k] -= f * A[c][k];
        }
    }
    double s = 0.0;
    for (int i = 0; i < N; i++) {
        double e = -d->y[i];
        for (int c = 0; c < D; c++)
            e += A[c][D] / A[c][c] * d->X[i][c];
        s += e * e;
    }
    return s / N;
}

/* One run of 50 epochs; losses[e] is epoch e's loss as the seed computes it. */
static int train(const char *algorithm, double lr, const dataset *d, double *losses)
{
    opt_config cfg;
    char err[256];
    config_init(&cfg, algorithm);
    config_set(&cfg, ADAOPT_LR, lr, err, sizeof err);
    config_set(&cfg, ADAOPT_EPS, 1e-8, err, sizeof err);
    if (strcmp(algorithm, "rmsprop") == 0)
        config_set(&cfg, ADAOPT_ALPHA, 0.9, err, sizeof err);
    adaopt_optimizer *opt = config_create(&cfg, D, err, sizeof err);
    if (opt == NULL) {
        fprintf(stderr, "adaopt: %s\n", err);
        return -1;
    }
    lab_rng r;
    lab_rng_seed(&r, 7); /* the same initial theta and batches for every optimizer */
    float theta[D], grad[D];
    for (int c = 0; c < D; c++)
        theta[c] = (float)(0.01 * lab_rng_normal(&r));
    int order[N];
    float *params[1] = {theta};
    const float *grads[1] = {grad};
    for (int e = 0; e < EPOCHS; e++) {
        for (int i = 0; i < N; i++)
            order[i] = i;
        lab_shuffle(order, N, &r);
        double epoch_loss = 0.0;
        for (int start = 0; start < N; start += BATCH) {
            int b = start + BATCH <= N ? BATCH : N - start;
            double g[D] = {0}, mse = 0.0;
            for (int k = 0; k < b; k++) {
                const float *x = d->X[order[start + k]];
                double err_k = -d->y[order[start + k]];
                for (int c = 0; c < D; c++)
                    err_k += (double)theta[c] * x[c];
                mse += err_k * err_k;
                for (int c = 0; c < D; c++)
                    g[c] += err_k * x[c];
            }
            epoch_loss += mse / b;
            for (int c = 0; c < D; c++)
                grad[c] = (float)(2.0 / b * g[c]);
            adaopt_step(opt, params, grads, 1);
        }
        losses[e] = epoch_loss / (N / BATCH);
    }
    adaopt_destroy(opt);
    return 0;
}

int lab_regression(const lab_ctx *ctx)
{
    lab_heading("regression: seed 001, linear regression 1000 x 10, 50 epochs of batches of 32");
    static dataset d;
    lab_rng r;
    lab_rng_seed(&r, 42);
    for (int i = 0; i < N; i++)
        for (int c = 0; c < D; c++)
            d.X[i][c] = (float)lab_rng_normal(&r);
    for (int c = 0; c < D; c++)
        d.theta_star[c] = (float)(2.0 * lab_rng_normal(&r));
    for (int i = 0; i < N; i++) {
        double y = 0.5 * lab_rng_normal(&r);
        for (int c = 0; c < D; c++)
            y += (double)d.X[i][c] * d.theta_star[c];
        d.y[i] = (float)y;
    }
    const struct { const char *label, *algorithm; double lr; } runs[] = {
        {"AdaGrad", "adagrad", 0.1}, {"RMSprop", "rmsprop", 0.01}, {"Adam", "adam", 0.01}};
    static double losses[3][EPOCHS];
    for (int k = 0; k < 3; k++)
        if (train(runs[k].algorithm, runs[k].lr, &d, losses[k]) != 0)
            return 1;
    double floor_mse = least_squares_mse(&d);
    printf("%-8s %6s %12s %12s %12s %12s\n", "", "lr", "epoch 1", "epoch 10", "epoch 25",
           "epoch 50");
    for (int k = 0; k < 3; k++)
        printf("%-8s %6g %12.6f %12.6f %12.6f %12.6f\n", runs[k].label, runs[k].lr, losses[k][0],
               losses[k][9], losses[k][24], losses[k][49]);
    printf("\nfinal losses: AdaGrad %.6f, RMSprop %.6f, Adam %.6f; the least-squares optimum's "
           "MSE is %.6f\n(the noise, 0.5^2 = 0.25, is the floor; the seed prints its own random "
           "data's numbers, which this run does not reproduce)\n",
           losses[0][49], losses[1][49], losses[2][49], floor_mse);
    FILE *f = lab_open(ctx, "regression_loss.csv");
    if (f == NULL)
        return 1;
    fprintf(f, "epoch,AdaGrad,RMSprop,Adam,least_squares\n");
    for (int e = 0; e < EPOCHS; e++)
        fprintf(f, "%d,%.9g,%.9g,%.9g,%.9g\n", e + 1, losses[0][e], losses[1][e], losses[2][e],
                floor_mse);
    fclose(f);
    int rc = lab_plot(ctx, "regression_loss",
                      "set title 'Linear regression (seed 001): epoch loss'\n"
                      "set xlabel 'epoch'\nset ylabel 'mean squared error'\nset logscale y\n"
                      "plot for [k=2:4] 'regression_loss.csv' skip 1 using 1:k with "
                      "linespoints lw 2 pt 7 ps 0.5 title word('AdaGrad(lr=0.1) "
                      "RMSprop(lr=0.01) Adam(lr=0.01)', k-1), '' skip 1 using 1:5 with lines dt 2 "
                      "lc rgb 'black' title 'least-squares floor'\n");
    printf("wrote %s/regression_loss.csv, regression_loss.png\n", ctx->out_dir);
    return rc != 0;
}
