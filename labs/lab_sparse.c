/*
 * lab_sparse.c -- seed 000's lab: a two-parameter regression whose second feature is active only
 * with probability `activity`.  SGD, AdaGrad, RMSProp and Adam side by side: their paths over
 * the loss contours, their loss curves and the effective learning rate each applies to each
 * coordinate.  Then a gradient burst (RMSProp forgets it, AdaGrad never does) and, with --sweep,
 * AdaGrad's emphasis on the rare coordinate as the activity falls.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "lab.h"
#include "problems.h"
#include "trace.h"

enum { STEPS = 500, N_OPT = 4 };

typedef struct {
    const char *label;
    const char *algorithm;
    double lr;
} entry;

/* The seed's four, each at a learning rate that converges on this problem. */
static const entry ENTRIES[N_OPT] = {
    {"SGD", "sgd", 0.1},
    {"AdaGrad", "adagrad", 0.5},
    {"RMSProp", "rmsprop", 0.02},
    {"Adam", "adam", 0.05},
};

typedef struct {
    float x[STEPS + 1][2];
    double loss[STEPS + 1];
    float eff[STEPS + 1][2];
} run_record;

static int keep(void *ctx, const trace_point *pt)
{
    run_record *r = ctx;
    r->x[pt->step][0] = pt->x[0];
    r->x[pt->step][1] = pt->x[1];
    r->loss[pt->step] = pt->loss;
    r->eff[pt->step][0] = pt->effective_lr[0];
    r->eff[pt->step][1] = pt->effective_lr[1];
    return 0;
}

static adaopt_optimizer *make(const entry *e, char *err, size_t errlen)
{
    opt_config cfg;
    config_init(&cfg, e->algorithm);
    if (config_set(&cfg, ADAOPT_LR, e->lr, err, errlen))
        return NULL;
    if (strcmp(e->algorithm, "rmsprop") == 0 && config_set(&cfg, ADAOPT_ALPHA, 0.9, err, errlen))
        return NULL;
    return config_create(&cfg, 2, err, errlen);
}

/* Runs entry e on the problem from (-2, -2); 0 or -1. */
static int run(const entry *e, const problem *p, run_record *r)
{
    char err[256];
    adaopt_optimizer *opt = make(e, err, sizeof err);
    if (opt == NULL) {
        fprintf(stderr, "adaopt: %s\n", err);
        return -1;
    }
    float w[2] = {-2.0f, -2.0f};
    int rc = trace_run(opt, p, w, STEPS, 1, keep, r, err, sizeof err);
    adaopt_destroy(opt);
    return rc;
}

static double loss_of(const void *arg, const float *w)
{
    return sparse_regression_loss(arg, w);
}

/* The burst: AdaGrad and RMSProp, each with and without 5 steps of 50x gradients (steps
 * 201-205), side by side.  eff[k][burst] gets the dense coordinate's effective lr at step 600 of
 * optimizer k (0 AdaGrad, 1 RMSProp); the series go to csv. */
static int burst(const problem *p, double eff600[2][2], FILE *csv)
{
    char err[256];
    adaopt_optimizer *opt[2][2];
    float w[2][2][2];
    int rc = 0;
    for (int k = 0; k < 2; k++)
        for (int b = 0; b < 2; b++) {
            opt[k][b] = make(&ENTRIES[1 + k], err, sizeof err);
            w[k][b][0] = w[k][b][1] = -2.0f;
            rc |= opt[k][b] == NULL;
        }
    fprintf(csv, "step,AdaGrad_burst,AdaGrad_no_burst,RMSProp_burst,RMSProp_no_burst\n");
    for (int t = 1; t <= 600 && rc == 0; t++) {
        fprintf(csv, "%d", t);
        for (int k = 0; k < 2; k++)
            for (int b = 1; b >= 0; b--) {
                float g[2], eff[2];
                float *params[1] = {w[k][b]};
                const float *grads[1] = {g};
                problem_grad(p, w[k][b], (uint64_t)t - 1, g);
                if (b && t > 200 && t <= 205) {
                    g[0] *= 50.0f;
                    g[1] *= 50.0f;
                }
                if (adaopt_step(opt[k][b], params, grads, 1) != ADAOPT_OK ||
                    adaopt_effective_lr(opt[k][b], 0, eff, 2) != ADAOPT_OK)
                    rc = -1;
                if (t == 600)
                    eff600[k][b] = eff[0];
                fprintf(csv, ",%.9g", eff[0]);
            }
        fprintf(csv, "\n");
    }
    for (int k = 0; k < 2; k++)
        for (int b = 0; b < 2; b++)
            adaopt_destroy(opt[k][b]);
    return rc;
}

int lab_sparse(const lab_ctx *ctx)
{
    char title[256];
    snprintf(title, sizeof title, "sparse: seed 000's two-feature regression, rare feature "
             "active with probability %g", ctx->activity);
    lab_heading(title);
    problem p;
    if (problem_init(&p, "sparse-regression", 2, 0, ctx->activity, 0) != 0)
        return 1;
    static run_record runs[N_OPT];
    for (int k = 0; k < N_OPT; k++)
        if (run(&ENTRIES[k], &p, &runs[k]) != 0)
            return 1;
    printf("y = %.1f x1 + %.1f x2 + noise; x2 present in %g of the samples; %d steps of "
           "mini-batches of %d from (-2, -2)\n\n", SPARSE_REG_W1, SPARSE_REG_W2, ctx->activity,
           STEPS, SPARSE_REG_BATCH);
    printf("%-9s %6s %9s %9s %11s %11s %13s %13s %10s\n", "optimizer", "lr", "w1", "w2", "loss@100",
           "loss@500", "eff lr (w1)", "eff lr (w2)", "w2 / w1");
    for (int k = 0; k < N_OPT; k++) {
        const run_record *r = &runs[k];
        printf("%-9s %6g %9.4f %9.4f %11.4g %11.4g %13.4g %13.4g %10.3g\n", ENTRIES[k].label,
               ENTRIES[k].lr, r->x[STEPS][0], r->x[STEPS][1], r->loss[100], r->loss[STEPS],
               r->eff[STEPS][0], r->eff[STEPS][1], r->eff[STEPS][1] / r->eff[STEPS][0]);
    }
    printf("\n(eff lr: the factor each optimizer's last step applied to each coordinate; "
           "\"w2 / w1\" > 1: the rare coordinate gets the larger steps)\n");

    FILE *f = lab_open(ctx, "sparse_paths.csv");
    FILE *l = lab_open(ctx, "sparse_loss.csv");
    FILE *b = lab_open(ctx, "sparse_effective_lr.csv");
    if (!f || !l || !b)
        return 1;
    fprintf(f, "step");
    fprintf(l, "step");
    for (int k = 0; k < N_OPT; k++) {
        fprintf(f, ",%s_w1,%s_w2", ENTRIES[k].label, ENTRIES[k].label);
        fprintf(l, ",%s", ENTRIES[k].label);
    }
    fprintf(f, "\n");
    fprintf(l, "\n");
    for (int t = 0; t <= STEPS; t++) {
        fprintf(f, "%d", t);
        fprintf(l, "%d", t);
        for (int k = 0; k < N_OPT; k++) {
            fprintf(f, ",%.7g,%.7g", runs[k].x[t][0], runs[k].x[t][1]);
            fprintf(l, ",%.9g", runs[k].loss[t]);
        }
        fprintf(f, "\n");
        fprintf(l, "\n");
    }
    fprintf(b, "optimizer,effective_lr_w1_dense,effective_lr_w2_rare\n");
    for (int k = 0; k < N_OPT; k++)
        fprintf(b, "%s,%.9g,%.9g\n", ENTRIES[k].label, runs[k].eff[STEPS][0], runs[k].eff[STEPS][1]);
    fclose(f);
    fclose(l);
    fclose(b);
    /* the loss floor: the noise (the minimum of the mean squared error is not exactly 0) */
    const double box[4] = {-2.5, 3.5, -2.5, 3.5};
    int rc = lab_contour_plot(ctx, "sparse_contours", "sparse_paths.csv",
                              "Seed 000, sparse regression: paths over the loss contours", loss_of,
                              &p.data, box, NULL, "0.01,0.03,0.1,0.3,1,2,4,8", N_OPT,
                              "SGD AdaGrad RMSProp Adam", SPARSE_REG_W1, SPARSE_REG_W2,
                              "w1 (dense feature)", "w2 (rare feature)");
    rc |= lab_plot(ctx, "sparse_loss",
                   "set title 'Loss (half mean squared error over all samples)'\n"
                   "set xlabel 'step'\nset ylabel 'loss'\nset logscale y\nset format y '10^{%L}'\n"
                   "plot for [k=2:5] 'sparse_loss.csv' skip 1 using 1:k with lines lw 2 "
                   "title word('SGD AdaGrad RMSProp Adam', k-1)\n");
    rc |= lab_plot(ctx, "sparse_effective_lr",
                   "set title 'Effective learning rate per coordinate after 500 steps'\n"
                   "set style data histograms\nset style histogram clustered gap 1\n"
                   "set style fill solid 0.8 border -1\nset boxwidth 0.9\nset logscale y\n"
                   "set ylabel 'effective learning rate (log)'\nset xlabel 'optimizer'\n"
                   "set yrange [*:*]\n"
                   "plot 'sparse_effective_lr.csv' skip 1 using 2:xtic(1) title 'w1 (dense)', "
                   "'' skip 1 using 3 title 'w2 (rare)'\n");

    /* The burst. */
    double eff600[2][2];
    FILE *bc = lab_open(ctx, "sparse_burst.csv");
    if (bc == NULL)
        return 1;
    int burst_rc = burst(&p, eff600, bc);
    fclose(bc);
    if (burst_rc != 0)
        return 1;
    printf("\nA gradient burst (steps 201-205, gradients x50): effective lr of w1 at step 600\n");
    printf("%-9s %16s %16s %12s\n", "optimizer", "after the burst", "without burst", "ratio");
    for (int k = 0; k < 2; k++)
        printf("%-9s %16.4g %16.4g %12.3f\n", ENTRIES[k + 1].label, eff600[k][1], eff600[k][0],
               eff600[k][1] / eff600[k][0]);
    printf("RMSProp's rate is back where it would have been (it forgets in ~1/(1-rho) = 10 steps);"
           "\nAdaGrad's stays lower for good: its sum remembers the burst.\n");
    rc |= lab_plot(ctx, "sparse_burst",
                   "set title 'Effective learning rate of w1, with and without a gradient burst (steps 201-205)'\n"
                   "set xlabel 'step'\nset ylabel 'effective learning rate'\nset logscale y\n"
                   "set format y '10^{%L}'\n"
                   "plot 'sparse_burst.csv' skip 1 using 1:2 with lines lw 2 lc 1 title 'AdaGrad, burst', "
                   "'' skip 1 using 1:3 with lines lw 1 dt 2 lc 1 title 'AdaGrad, no burst', "
                   "'' skip 1 using 1:4 with lines lw 2 lc 2 title 'RMSProp, burst', "
                   "'' skip 1 using 1:5 with lines lw 1 dt 2 lc 2 title 'RMSProp, no burst'\n");

    if (ctx->sweep) {
        const double activities[] = {0.8, 0.5, 0.2, 0.1, 0.05, 0.02};
        const int n_act = sizeof activities / sizeof activities[0];
        FILE *sw = lab_open(ctx, "sparse_sweep.csv");
        if (sw == NULL)
            return 1;
        fprintf(sw, "activity,adagrad_ratio,sgd_ratio\n");
        printf("\nSweep: AdaGrad's effective lr on the rare coordinate over the dense one, after "
               "%d steps\n(geometric means over 8 data sets)\n%-10s %12s %12s %12s\n", STEPS,
               "activity", "eff lr w1", "eff lr w2", "w2 / w1");
        enum { SEEDS = 8 };
        for (int a = 0; a < n_act; a++) {
            double log_ratio = 0.0, e1 = 0.0, e2 = 0.0;
            for (int seed = 0; seed < SEEDS; seed++) { /* geometric means over data seeds */
                problem q;
                static run_record r;
                problem_init(&q, "sparse-regression", 2, 0, activities[a], (uint64_t)seed);
                if (run(&ENTRIES[1], &q, &r) != 0) {
                    fclose(sw);
                    return 1;
                }
                log_ratio += log(r.eff[STEPS][1] / r.eff[STEPS][0]) / SEEDS;
                e1 += log(r.eff[STEPS][0]) / SEEDS;
                e2 += log(r.eff[STEPS][1]) / SEEDS;
            }
            printf("%-10g %12.4g %12.4g %12.3f\n", activities[a], exp(e1), exp(e2), exp(log_ratio));
            fprintf(sw, "%g,%.9g,1\n", activities[a], exp(log_ratio));
            lab_progress(ctx, "sweep", a + 1, n_act);
        }
        fclose(sw);
        printf("(SGD's ratio is 1 at every activity: one learning rate for both)\n");
        rc |= lab_plot(ctx, "sparse_sweep",
                       "set title 'AdaGrad: effective lr of the rare coordinate / the dense one'\n"
                       "set xlabel 'activity of the rare feature'\nset ylabel 'ratio'\n"
                       "set logscale x\nset logscale y\n"
                       "plot 'sparse_sweep.csv' skip 1 using 1:2 with linespoints lw 2 pt 7 "
                       "title 'AdaGrad', '' skip 1 using 1:3 with lines dt 2 title 'SGD'\n");
    }
    printf("wrote %s/sparse_*.csv and sparse_contours.png, sparse_loss.png, sparse_effective_lr.png, "
           "sparse_burst.png%s\n", ctx->out_dir, ctx->sweep ? ", sparse_sweep.png" : "");
    return rc != 0;
}
