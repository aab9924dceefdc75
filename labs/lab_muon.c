/*
 * lab_muon.c -- Muon against AdamW on the digits MLP (lab_digits.c's data, split and batches):
 * Muon on the two weight matrices with AdamW on the biases (torch's recipe), against AdamW on
 * everything, each at its best learning rate on the validation set, over three initial weights;
 * the test curves, and the time a step takes.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "adaopt.h"
#include "digits.h"
#include "lab.h"
#include "problems.h"

enum { N_TRAIN = 1150, N_VAL = 287, BATCH = 32, DEFAULT_EPOCHS = 15, MAX_EPOCHS = 1000,
       SEEDS = 3 };

static const double MUON_GRID[] = {0.005, 0.01, 0.02, 0.05, 0.1};
static const double ADAMW_GRID[] = {1e-3, 3e-3, 1e-2, 3e-2};
static const char *const LABELS[2] = {"Muon+AdamW", "AdamW"};

typedef struct {
    double test_loss[MAX_EPOCHS], test_acc[MAX_EPOCHS];
    double val_acc, val_loss, lr, seconds_per_step;
} result;

typedef struct {
    const digits *d;
    int order[DIGITS_MAX];
    int n_test, epochs;
} setup;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* An optimizer over `numels` with lr; Muon's tensors get their matrix shapes. */
static adaopt_optimizer *make(adaopt_algorithm a, const size_t *numels, size_t n,
                              const size_t (*dims)[2], double lr)
{
    adaopt_optimizer *opt;
    size_t group;
    if (adaopt_create(a, &opt) != ADAOPT_OK)
        return NULL;
    adaopt_status st = adaopt_add_group(opt, numels, n, &group);
    for (size_t i = 0; i < n && dims != NULL && st == ADAOPT_OK; i++)
        st = adaopt_set_shape(opt, i, dims[i], 2);
    if (st == ADAOPT_OK)
        st = adaopt_set(opt, group, ADAOPT_LR, lr);
    if (st == ADAOPT_OK)
        st = adaopt_set_threads(opt, 1);
    if (st != ADAOPT_OK) {
        fprintf(stderr, "adaopt: %s\n", adaopt_last_error(opt));
        adaopt_destroy(opt);
        return NULL;
    }
    return opt;
}

/* kind 0: Muon on w1, w2 and AdamW (lr 3e-3) on b1, b2; 1: AdamW on all four. */
static int train(const setup *s, int kind, double lr, uint64_t seed, result *out)
{
    static const size_t mats[2] = {MLP_HIDDEN * DIGITS_PIXELS, DIGITS_CLASSES * MLP_HIDDEN};
    static const size_t vecs[2] = {MLP_HIDDEN, DIGITS_CLASSES};
    static const size_t dims[2][2] = {{MLP_HIDDEN, DIGITS_PIXELS}, {DIGITS_CLASSES, MLP_HIDDEN}};
    adaopt_optimizer *a = NULL, *b = NULL;
    if (kind == 0) {
        a = make(ADAOPT_ALGO_MUON, mats, 2, dims, lr);
        b = make(ADAOPT_ALGO_ADAMW, vecs, 2, NULL, 3e-3);
    } else {
        a = make(ADAOPT_ALGO_ADAMW, MLP_NUMELS, MLP_TENSORS, NULL, lr);
    }
    if (a == NULL || (kind == 0 && b == NULL)) {
        adaopt_destroy(a);
        adaopt_destroy(b);
        return -1;
    }
    static mlp model, grad;
    mlp_init(&model, seed);
    float *p[MLP_TENSORS], *g[MLP_TENSORS];
    mlp_tensors(&model, p);
    mlp_tensors(&grad, g);
    float *pm[2] = {p[0], p[2]}, *pv[2] = {p[1], p[3]};
    const float *gm[2] = {g[0], g[2]}, *gv[2] = {g[1], g[3]};
    int train_idx[N_TRAIN];
    memcpy(train_idx, s->order, sizeof train_idx);
    lab_rng r;
    lab_rng_seed(&r, 3);
    double stepping = 0.0;
    long steps = 0;
    for (int epoch = 0; epoch < s->epochs; epoch++) {
        lab_shuffle(train_idx, N_TRAIN, &r);
        for (int start = 0; start < N_TRAIN; start += BATCH) {
            int nb = start + BATCH <= N_TRAIN ? BATCH : N_TRAIN - start;
            mlp_loss_grad(&model, s->d, train_idx + start, nb, &grad);
            double t0 = now();
            if (kind == 0) {
                adaopt_step(a, pm, gm, 2);
                adaopt_step(b, pv, gv, 2);
            } else {
                adaopt_step(a, p, (const float *const *)g, MLP_TENSORS);
            }
            stepping += now() - t0;
            steps++;
        }
        out->test_loss[epoch] = mlp_evaluate(&model, s->d, s->order + N_TRAIN + N_VAL, s->n_test,
                                             &out->test_acc[epoch]);
    }
    out->val_loss = mlp_evaluate(&model, s->d, s->order + N_TRAIN, N_VAL, &out->val_acc);
    out->lr = lr;
    out->seconds_per_step = stepping / (double)steps;
    adaopt_destroy(a);
    adaopt_destroy(b);
    return 0;
}

int lab_muon(const lab_ctx *ctx)
{
    lab_heading("muon: Muon (on the weight matrices, AdamW on the biases) against AdamW, digits "
                "MLP");
    static digits d;
    static setup s;
    if (lab_digits_data(ctx, &d, s.order, N_TRAIN + N_VAL + 10) != 0)
        return 1;
    s.d = &d;
    s.n_test = d.n - N_TRAIN - N_VAL;
    s.epochs = ctx->epochs > 0 ? ctx->epochs : DEFAULT_EPOCHS;
    printf("%d images: %d train, %d validation, %d test; %d epochs of batches of %d; %d initial "
           "weights; each method at its best validation lr\n\n", d.n, N_TRAIN, N_VAL, s.n_test,
           s.epochs, BATCH, SEEDS);
    static result best[2][SEEDS], trial;
    const double *grids[2] = {MUON_GRID, ADAMW_GRID};
    size_t sizes[2] = {sizeof MUON_GRID / sizeof MUON_GRID[0],
                       sizeof ADAMW_GRID / sizeof ADAMW_GRID[0]};
    long done = 0, total = (long)(sizes[0] + sizes[1]) * SEEDS;
    for (int k = 0; k < 2; k++)
        for (int seed = 0; seed < SEEDS; seed++) {
            best[k][seed].val_acc = -1;
            for (size_t gi = 0; gi < sizes[k]; gi++) {
                if (train(&s, k, grids[k][gi], 1 + (uint64_t)seed, &trial) != 0)
                    return 1;
                if (trial.val_acc > best[k][seed].val_acc ||
                    (trial.val_acc == best[k][seed].val_acc &&
                     trial.val_loss < best[k][seed].val_loss))
                    best[k][seed] = trial;
                lab_progress(ctx, "muon", ++done, total);
            }
        }
    int last = s.epochs - 1;
    FILE *f = lab_open(ctx, "muon_summary.csv");
    if (f == NULL)
        return 1;
    fprintf(f, "method,seed,tuned_lr,validation_accuracy,test_loss,test_accuracy,"
               "microseconds_per_step\n");
    printf("%-11s | %17s | %18s | %12s\n", "method", "test acc (3 runs)", "test loss (mean)",
           "us per step");
    for (int k = 0; k < 2; k++) {
        double acc = 0, acc2 = 0, loss = 0, us = 0;
        for (int seed = 0; seed < SEEDS; seed++) {
            const result *r = &best[k][seed];
            acc += r->test_acc[last];
            acc2 += r->test_acc[last] * r->test_acc[last];
            loss += r->test_loss[last] / SEEDS;
            us += 1e6 * r->seconds_per_step / SEEDS;
            fprintf(f, "%s,%d,%g,%.4f,%.6g,%.4f,%.1f\n", LABELS[k], seed + 1, r->lr, r->val_acc,
                    r->test_loss[last], r->test_acc[last], 1e6 * r->seconds_per_step);
        }
        double mean = acc / SEEDS, sd = sqrt(fmax(0.0, acc2 / SEEDS - mean * mean));
        printf("%-11s | %9.1f%% +- %4.1f | %18.4f | %12.1f\n", LABELS[k], 100 * mean, 100 * sd,
               loss, us);
    }
    fclose(f);
    FILE *c = lab_open(ctx, "muon_curves.csv");
    if (c == NULL)
        return 1;
    fprintf(c, "epoch,Muon+AdamW_test_loss,AdamW_test_loss\n");
    for (int e = 0; e < s.epochs; e++) {
        double m[2] = {0, 0};
        for (int k = 0; k < 2; k++)
            for (int seed = 0; seed < SEEDS; seed++)
                m[k] += best[k][seed].test_loss[e] / SEEDS;
        fprintf(c, "%d,%.6g,%.6g\n", e + 1, m[0], m[1]);
    }
    fclose(c);
    printf("\nA step of Muon orthogonalizes each weight matrix (five Newton-Schulz iterations of "
           "matrix products):\nhere the matrices are 64x64 and 10x64, so its step costs more than "
           "AdamW's element-wise one; bench/muon.py\nmeasures 1024x1024 and 4096x1024 against "
           "torch.optim.Muon.\n");
    int rc = lab_plot(ctx, "muon",
                      "set title 'Digits MLP: test loss, mean of 3 initial weights, tuned lr'\n"
                      "set xlabel 'epoch'\nset ylabel 'test cross-entropy'\nset logscale y\n"
                      "plot 'muon_curves.csv' skip 1 using 1:2 with linespoints lw 2 pt 7 ps 0.5 "
                      "title 'Muon (matrices) + AdamW (biases)', '' skip 1 using 1:3 with "
                      "linespoints lw 2 pt 7 ps 0.5 title 'AdamW'\n");
    printf("wrote %s/muon_summary.csv, muon_curves.csv, muon.png\n", ctx->out_dir);
    return rc != 0;
}
