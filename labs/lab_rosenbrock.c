/*
 * lab_rosenbrock.c -- seed 003: every optimizer from (-1, 1) on the Rosenbrock valley, 5000
 * steps: where each ends, how far from (1, 1), and the paths over the contours.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "lab.h"
#include "problems.h"
#include "trace.h"

enum { STEPS = 5000, EVERY = 10 };

typedef struct {
    const char *label; /* no spaces: gnuplot titles */
    const char *algorithm;
    adaopt_option option;
    double value;
} entry;

/* torch.optim's defaults, SGD at the seed's lr 1e-3 */
static const entry ENTRIES[] = {
    {"SGD", "sgd", 0, 0},
    {"SGD+momentum", "sgd", ADAOPT_MOMENTUM, 0.9},
    {"AdaGrad", "adagrad", 0, 0},
    {"RMSProp", "rmsprop", 0, 0},
    {"Adam", "adam", 0, 0},
    {"AMSGrad", "adam", ADAOPT_AMSGRAD, 1},
    {"AdamW", "adamw", 0, 0},
    {"Adamax", "adamax", 0, 0},
    {"NAdam", "nadam", 0, 0},
    {"RAdam", "radam", 0, 0},
    {"Lion", "lion", 0, 0}, /* lion-pytorch's default lr, 1e-4 */
    {"SF-AdamW", "adamw_schedulefree", 0, 0}, /* schedulefree's lr 2.5e-3; the path of x */
    {"LAMB", "lamb", 0, 0}, /* pytorch-optimizer's lr 1e-3 */
    {"Adafactor", "adafactor", 0, 0}, /* torch's lr 1e-2 (a vector: not factored) */
    {"Adadelta", "adadelta", 0, 0},   /* torch's lr 1 */
    {"Rprop", "rprop", 0, 0},         /* the full gradient every step: Rprop's setting */
    {"ASGD", "asgd", ADAOPT_LR, 1e-3}, /* at SGD's lr (torch's 1e-2 diverges here, as SGD's); p's path */
};
enum { N = sizeof ENTRIES / sizeof ENTRIES[0] };

typedef struct {
    float path[STEPS / EVERY + 1][2];
} path_store;

static int keep(void *ctx, const trace_point *pt)
{
    path_store *s = ctx;
    s->path[pt->step / EVERY][0] = pt->x[0];
    s->path[pt->step / EVERY][1] = pt->x[1];
    return 0;
}

static double loss(const void *arg, const float *xy)
{
    (void)arg;
    return rosenbrock_loss(xy);
}

int lab_rosenbrock(const lab_ctx *ctx)
{
    lab_heading("rosenbrock: seed 003, f(x,y) = (1-x)^2 + 100(y-x^2)^2 from (-1, 1), 5000 steps");
    static path_store paths[N];
    problem p;
    problem_init(&p, "rosenbrock", 2, 0, 0, 0);
    FILE *fin = lab_open(ctx, "rosenbrock_final.csv");
    if (fin == NULL)
        return 1;
    fprintf(fin, "optimizer,lr,x,y,loss,distance\n");
    printf("%-14s %8s %11s %11s %12s %12s\n", "optimizer", "lr", "x", "y", "f(x,y)",
           "|(x,y)-(1,1)|");
    char titles[512] = "";
    for (int k = 0; k < N; k++) {
        opt_config cfg;
        char err[256];
        config_init(&cfg, ENTRIES[k].algorithm);
        if (ENTRIES[k].option)
            config_set(&cfg, ENTRIES[k].option, ENTRIES[k].value, err, sizeof err);
        adaopt_optimizer *opt = config_create(&cfg, 2, err, sizeof err);
        if (opt == NULL) {
            fprintf(stderr, "adaopt: %s\n", err);
            fclose(fin);
            return 1;
        }
        double lr;
        adaopt_get(opt, 0, ADAOPT_LR, &lr);
        float xy[2] = {-1.0f, 1.0f};
        trace_run(opt, &p, xy, STEPS, EVERY, keep, &paths[k], err, sizeof err);
        void *at[1] = {xy};
        adaopt_eval(opt, at, 1); /* Schedule-Free ends at its average x (the rest: no-op) */
        double dist = hypot(xy[0] - 1.0, xy[1] - 1.0);
        printf("%-14s %8.0e %11.6f %11.6f %12.4e %12.4e\n", ENTRIES[k].label, lr, xy[0], xy[1],
               rosenbrock_loss(xy), dist);
        fprintf(fin, "%s,%g,%.9g,%.9g,%.9g,%.9g\n", ENTRIES[k].label, lr, xy[0], xy[1],
                rosenbrock_loss(xy), dist);
        snprintf(titles + strlen(titles), sizeof titles - strlen(titles), "%s%s", k ? " " : "",
                 ENTRIES[k].label);
        adaopt_destroy(opt);
        lab_progress(ctx, "rosenbrock", k + 1, N);
    }
    fclose(fin);
    FILE *fp = lab_open(ctx, "rosenbrock_paths.csv");
    if (fp == NULL)
        return 1;
    fprintf(fp, "step");
    for (int k = 0; k < N; k++)
        fprintf(fp, ",%s_x,%s_y", ENTRIES[k].label, ENTRIES[k].label);
    fprintf(fp, "\n");
    for (int s = 0; s <= STEPS / EVERY; s++) {
        fprintf(fp, "%d", s * EVERY);
        for (int k = 0; k < N; k++)
            fprintf(fp, ",%.7g,%.7g", paths[k].path[s][0], paths[k].path[s][1]);
        fprintf(fp, "\n");
    }
    fclose(fp);
    const double box[4] = {-1.6, 1.6, -0.6, 1.6}, zoom[4] = {0.75, 1.05, 0.55, 1.1};
    int rc = lab_contour_plot(ctx, "rosenbrock", "rosenbrock_paths.csv",
                              "Rosenbrock: paths of 5000 steps from (-1, 1)",
                              loss, NULL, box, zoom, "0.001,0.01,0.1,0.5,1,2,5,10,20,50,100,200",
                              N, titles, 1, 1, "x", "y");
    printf("wrote %s/rosenbrock_final.csv, rosenbrock_paths.csv, rosenbrock.png\n", ctx->out_dir);
    return rc != 0;
}
