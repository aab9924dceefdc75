/*
 * lab_long_run.c -- seeds 002/004: AdaGrad's dying learning rate against RMSProp's finite
 * memory.  Both minimize x^2 from x = 10 with eta 0.1 (RMSProp rho 0.9, eps 1e-8) for 1000 steps.
 */
#include <math.h>
#include <stdio.h>

#include "config.h"
#include "lab.h"
#include "problems.h"
#include "trace.h"

enum { STEPS = 1000 };

typedef struct {
    float x[STEPS + 1];
    float eff[STEPS + 1];
} series;

static int keep(void *ctx, const trace_point *pt)
{
    series *s = ctx;
    s->x[pt->step] = pt->x[0];
    s->eff[pt->step] = pt->effective_lr[0];
    return 0;
}

int lab_long_run(const lab_ctx *ctx)
{
    lab_heading("long-run: AdaGrad vs RMSProp on x^2 from 10, eta 0.1, rho 0.9, 1000 steps");
    static series runs[2];
    problem p;
    problem_init(&p, "quadratic", 1, 1.0, 0, 0);
    for (int k = 0; k < 2; k++) {
        opt_config cfg;
        char err[256];
        config_init(&cfg, k == 0 ? "adagrad" : "rmsprop");
        config_set(&cfg, ADAOPT_LR, 0.1, err, sizeof err);
        config_set(&cfg, ADAOPT_EPS, 1e-8, err, sizeof err);
        if (k == 1)
            config_set(&cfg, ADAOPT_ALPHA, 0.9, err, sizeof err);
        adaopt_optimizer *opt = config_create(&cfg, 1, err, sizeof err);
        if (opt == NULL) {
            fprintf(stderr, "adaopt: %s\n", err);
            return 1;
        }
        float x = 10.0f;
        trace_run(opt, &p, &x, STEPS, 1, keep, &runs[k], err, sizeof err);
        adaopt_destroy(opt);
    }
    printf("%-8s %14s %14s %14s %14s\n", "step", "AdaGrad x", "AdaGrad eff lr", "RMSProp x",
           "RMSProp eff lr");
    const int shown[] = {1, 2, 5, 10, 50, 100, 200, 500, 1000};
    for (size_t i = 0; i < sizeof shown / sizeof shown[0]; i++) {
        int t = shown[i];
        printf("%-8d %14.6g %14.6g %14.6g %14.6g\n", t, runs[0].x[t], runs[0].eff[t], runs[1].x[t],
               runs[1].eff[t]);
    }
    printf("\nAfter 1000 steps AdaGrad is at x = %.4g with effective lr %.3g, and it keeps "
           "falling;\nRMSProp is at |x| = %.3g: its effective lr follows the recent gradients "
           "(%.3g), and its\nnormalized step (about lr in size) leaves it oscillating around 0 "
           "at about lr/2.\nSeed 004 says AdaGrad's effective lr is ~0.00016 after 1000 steps; the real "
           "run gives %.3g\n(the seed assumed the gradient stays 20; it shrinks with x). See "
           "`adaopt lab worked`.\n",
           runs[0].x[STEPS], runs[0].eff[STEPS], fabs(runs[1].x[STEPS]), runs[1].eff[STEPS],
           runs[0].eff[STEPS]);
    FILE *f = lab_open(ctx, "long_run.csv");
    if (f == NULL)
        return 1;
    fprintf(f, "step,adagrad_x,adagrad_effective_lr,rmsprop_x,rmsprop_effective_lr\n");
    for (int t = 0; t <= STEPS; t++)
        fprintf(f, "%d,%.9g,%.9g,%.9g,%.9g\n", t, runs[0].x[t], runs[0].eff[t], runs[1].x[t],
                runs[1].eff[t]);
    fclose(f);
    int rc = lab_plot(ctx, "long_run_effective_lr",
                      "set title 'Effective learning rate on x^2 from 10 (eta 0.1)'\n"
                      "set xlabel 'step'\nset ylabel 'effective learning rate'\nset logscale y\n"
                      "set format y '10^{%L}'\n"
                      "plot 'long_run.csv' skip 2 using 1:3 with lines lw 2 title 'AdaGrad', "
                      "'' skip 2 using 1:5 with lines lw 2 title 'RMSProp (rho 0.9)'\n");
    rc |= lab_plot(ctx, "long_run_x",
                   "set title '|x| on x^2 from 10 (eta 0.1)'\nset xlabel 'step'\n"
                   "set ylabel '|x|'\nset logscale y\nset format y '10^{%L}'\n"
                   "plot 'long_run.csv' skip 1 using 1:(abs($2)+1e-30) with lines lw 2 "
                   "title 'AdaGrad', '' skip 1 using 1:(abs($4)+1e-30) with lines lw 2 "
                   "title 'RMSProp (rho 0.9)'\n");
    printf("wrote %s/long_run.csv, long_run_effective_lr.png, long_run_x.png\n", ctx->out_dir);
    return rc != 0;
}
