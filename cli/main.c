/*
 * main.c -- the `adaopt` program: `trace` runs one optimizer on one problem and prints the
 * trajectory; `lab` runs the seeds' experiments.  Argument handling only: the problems live in
 * labs/, the optimizers in the library.
 */
#define _POSIX_C_SOURCE 200809L
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adaopt.h"
#include "../labs/config.h"
#include "../labs/lab.h"
#include "../labs/problems.h"
#include "../labs/trace.h"

static const char USAGE[] =
    "usage:\n"
    "  adaopt trace --problem P --optimizer O [hyperparameters] [--x0=X,Y,...] [--steps N]\n"
    "               [--every K] [--json | --csv] [--a A] [--activity F] [--seed S]\n"
    "      P: rosenbrock (default x0 -1,1), quadratic (f = a sum x^2; default x0 10, a 1),\n"
    "         sparse-regression (seed 000's lab; default x0 -2,-2, activity 0.1)\n"
    "      O: sgd adagrad rmsprop adam adamw adamax nadam radam lion adamw_schedulefree lamb\n"
    "         adafactor\n"
    "      hyperparameters as in torch.optim: --lr 0.01 --betas 0.9,0.999 --eps 1e-8\n"
    "         --weight-decay 0 --momentum 0.9 --dampening 0 --nesterov --amsgrad --maximize\n"
    "         --alpha 0.99 --centered --lr-decay 0 --initial-accumulator-value 0\n"
    "         --momentum-decay 4e-3 --decoupled-weight-decay --eps-mode outside|inside|hat\n"
    "         --warmup-steps 0 --r 0 --weight-lr-power 2 (adamw_schedulefree: the points\n"
    "         printed are its average x)  --weight-decouple=false --fixed-decay\n"
    "         --grad-averaging=false --adam --clamp 10 (lamb)  --beta2-decay -0.8 --eps1 1e-7\n"
    "         --eps2 1e-3 --d 1 (adafactor: the trace's vector is not factored)\n"
    "      prints step, parameters, loss and per-coordinate effective learning rate at step 0,\n"
    "      every K steps and at the end; --json prints one object with \"x\" and \"loss\"\n"
    "      (and \"trajectory\" with --every)\n"
    "  adaopt lab NAME [--out DIR] [--activity F] [--sweep] [--data PATH] [--epochs N]\n"
    "      NAME: sparse regression rosenbrock long-run worked digits precision after-adam muon all\n"
    "      prints tables; writes CSV and PNG files into DIR (default: adaopt-lab)\n"
    "  adaopt --help | --version\n";

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "adaopt: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n\n%s", USAGE);
    return 2;
}

/* "1,2,3" into at most max floats; the count, or -1. */
static int parse_vector(const char *s, float *out, int max)
{
    char buf[1024];
    if (snprintf(buf, sizeof buf, "%s", s) >= (int)sizeof buf)
        return -1;
    int n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        double v;
        if (n == max || parse_number(tok, &v) || !(fabs(v) <= FLT_MAX)) /* a float32 point */
            return -1;
        out[n++] = (float)v;
    }
    return n;
}

/* --name=value or --name value; returns the value or NULL (and *i advanced). */
static const char *flag_value(int argc, char **argv, int *i, const char *name)
{
    size_t len = strlen(name);
    if (strncmp(argv[*i], name, len) != 0)
        return NULL;
    if (argv[*i][len] == '=')
        return argv[*i] + len + 1;
    if (argv[*i][len] == '\0' && *i + 1 < argc)
        return argv[++*i];
    return NULL;
}

static int is_flag(const char *arg, const char *name)
{
    size_t len = strlen(name);
    return strncmp(arg, name, len) == 0 && (arg[len] == '\0' || arg[len] == '=');
}

typedef struct {
    int format; /* 0 table, 1 json, 2 csv */
    int first;
    int with_trajectory;
    int nonfinite; /* JSON: values written as null */
} trace_out;

/* JSON has no NaN or infinity: they are written as null, and counted in *nonfinite. */
static void print_floats(const float *v, size_t n, const char *sep, int *nonfinite)
{
    for (size_t i = 0; i < n; i++) {
        if (nonfinite != NULL && !isfinite(v[i]))
            printf("%snull", i ? sep : ""), ++*nonfinite;
        else
            printf("%s%.9g", i ? sep : "", v[i]);
    }
}

/* A JSON number, or null for NaN and infinities (counted in *nonfinite). */
static void print_json_double(double v, int *nonfinite)
{
    if (isfinite(v))
        printf("%.17g", v);
    else
        printf("null"), ++*nonfinite;
}

static int print_point(void *ctx, const trace_point *pt)
{
    trace_out *o = ctx;
    if (o->format == 1) {
        if (!o->with_trajectory)
            return 0;
        printf("%s\n    {\"step\": %llu, \"x\": [", o->first ? "" : ",",
               (unsigned long long)pt->step);
        print_floats(pt->x, pt->dim, ", ", &o->nonfinite);
        printf("], \"loss\": ");
        print_json_double(pt->loss, &o->nonfinite);
        printf(", \"effective_lr\": [");
        print_floats(pt->effective_lr, pt->dim, ", ", &o->nonfinite);
        printf("]}");
    } else if (o->format == 2) {
        printf("%llu,", (unsigned long long)pt->step);
        print_floats(pt->x, pt->dim, ",", NULL);
        printf(",%.17g,", pt->loss);
        print_floats(pt->effective_lr, pt->dim, ",", NULL);
        printf("\n");
    } else {
        printf("%8llu  ", (unsigned long long)pt->step);
        for (size_t i = 0; i < pt->dim; i++)
            printf(" %13.7g", pt->x[i]);
        printf("  %13.6g ", pt->loss);
        for (size_t i = 0; i < pt->dim; i++)
            printf(" %12.5g", pt->effective_lr[i]);
        printf("\n");
    }
    o->first = 0;
    return 0;
}

static int cmd_trace(int argc, char **argv)
{
    const char *problem_name = NULL, *optimizer_name = NULL, *x0_text = NULL;
    double a = 1.0, activity = 0.1, number;
    uint64_t steps = 100, every = 0, seed = 0;
    int format = 0;
    opt_config cfg;
    int have_cfg = 0;
    char err[256];
    /* The optimizer must be known before its hyperparameters are checked: find it first. */
    for (int i = 2; i < argc; i++) {
        const char *v = flag_value(argc, argv, &i, "--optimizer");
        if (v != NULL) {
            optimizer_name = v;
            if (config_init(&cfg, v) != 0)
                return usage_error("unknown optimizer '%s'", v);
            have_cfg = 1;
        }
    }
    if (!have_cfg)
        return usage_error("%s", "trace needs --optimizer");
    for (int i = 2; i < argc; i++) {
        const char *v;
        int rc = config_parse_arg(&cfg, argc, argv, &i, err, sizeof err);
        if (rc < 0)
            return usage_error("%s", err);
        if (rc > 0)
            continue;
        if (flag_value(argc, argv, &i, "--optimizer") != NULL) {
            continue;
        } else if ((v = flag_value(argc, argv, &i, "--problem")) != NULL) {
            problem_name = v;
        } else if ((v = flag_value(argc, argv, &i, "--x0")) != NULL) {
            x0_text = v;
        } else if ((v = flag_value(argc, argv, &i, "--steps")) != NULL) {
            if (parse_number(v, &number) || number < 0 || number > 1e9 || number != floor(number))
                return usage_error("--steps: '%s' is not a whole number of steps", v);
            steps = (uint64_t)number;
        } else if ((v = flag_value(argc, argv, &i, "--every")) != NULL) {
            if (parse_number(v, &number) || number < 1 || number > 1e9 || number != floor(number))
                return usage_error("--every: '%s' is not a whole number in [1, 1e9]", v);
            every = (uint64_t)number;
        } else if ((v = flag_value(argc, argv, &i, "--seed")) != NULL) {
            if (parse_number(v, &number) || number < 0 || number > 9007199254740992.0 ||
                number != floor(number))
                return usage_error("--seed: '%s' is not a whole number in [0, 2^53]", v);
            seed = (uint64_t)number;
        } else if ((v = flag_value(argc, argv, &i, "--a")) != NULL) {
            if (parse_number(v, &a) || !(fabs(a) <= FLT_MAX))
                return usage_error("--a: '%s' is not a float32 number", v);
        } else if ((v = flag_value(argc, argv, &i, "--activity")) != NULL) {
            if (parse_number(v, &activity) || activity < 0 || activity > 1)
                return usage_error("--activity: '%s' is not a probability in [0, 1]", v);
        } else if (strcmp(argv[i], "--json") == 0) {
            format = 1;
        } else if (strcmp(argv[i], "--csv") == 0) {
            format = 2;
        } else if (is_flag(argv[i], "--problem") || is_flag(argv[i], "--x0") ||
                   is_flag(argv[i], "--steps") || is_flag(argv[i], "--every") ||
                   is_flag(argv[i], "--seed") || is_flag(argv[i], "--a") ||
                   is_flag(argv[i], "--activity")) {
            return usage_error("%s needs a value", argv[i]);
        } else {
            return usage_error("unknown argument '%s'", argv[i]);
        }
    }
    if (problem_name == NULL)
        return usage_error("%s", "trace needs --problem");

    float x[TRACE_MAX_DIM];
    int dim;
    if (x0_text != NULL) {
        dim = parse_vector(x0_text, x, TRACE_MAX_DIM);
        if (dim <= 0)
            return usage_error("--x0: '%s' is not a list of numbers such as -1,1", x0_text);
    } else if ((dim = problem_default_x0(problem_name, x)) == 0) {
        return usage_error("unknown problem '%s'", problem_name);
    }
    problem p;
    if (problem_init(&p, problem_name, (size_t)dim, a, activity, seed) != 0) {
        if (strcmp(problem_name, "rosenbrock") && strcmp(problem_name, "quadratic") &&
            strcmp(problem_name, "sparse-regression"))
            return usage_error("unknown problem '%s'", problem_name);
        return usage_error("%s needs --x0 with 2 numbers", problem_name);
    }
    adaopt_optimizer *opt = config_create(&cfg, (size_t)dim, err, sizeof err);
    if (opt == NULL)
        return usage_error("%s", err);

    trace_out out = {format, 1, every > 0, 0};
    if (format == 1) {
        printf("{\"problem\": \"%s\", \"optimizer\": \"%s\", \"steps\": %llu",
               problem_name, optimizer_name, (unsigned long long)steps);
        if (every > 0)
            printf(", \"trajectory\": [");
    } else if (format == 2) {
        printf("step,");
        for (int i = 0; i < dim; i++)
            printf("x%d,", i);
        printf("loss");
        for (int i = 0; i < dim; i++)
            printf(",effective_lr%d", i);
        printf("\n");
    } else {
        printf("%s on %s, %llu steps\n%8s  ", optimizer_name, problem_name,
               (unsigned long long)steps, "step");
        for (int i = 0; i < dim; i++)
            printf(" %12s%d", "x", i);
        printf("  %13s ", "loss");
        for (int i = 0; i < dim; i++)
            printf(" %11s%d", "eff_lr", i);
        printf("\n");
    }
    int rc = trace_run(opt, &p, x, steps, every, print_point, &out, err, sizeof err);
    void *at[1] = {x};
    if (rc == 0 && adaopt_eval(opt, at, 1) != ADAOPT_OK) /* Schedule-Free's x (others: no-op) */
        rc = -1, snprintf(err, sizeof err, "%s", adaopt_last_error(opt));
    if (rc == 0 && format == 1) {
        printf("%s\"x\": [", every > 0 ? "\n  ],\n  " : ", ");
        print_floats(x, (size_t)dim, ", ", &out.nonfinite);
        float eff[TRACE_MAX_DIM];
        printf("], \"loss\": ");
        print_json_double(problem_loss(&p, x), &out.nonfinite);
        printf(", \"effective_lr\": [");
        if (steps > 0 && adaopt_effective_lr(opt, 0, eff, (size_t)dim) == ADAOPT_OK)
            print_floats(eff, (size_t)dim, ", ", &out.nonfinite);
        printf("], \"diverged\": %s}\n", out.nonfinite ? "true" : "false");
        if (out.nonfinite)
            fprintf(stderr, "adaopt: the run diverged: %d NaN or infinite values are written "
                            "as null (JSON has neither)\n", out.nonfinite);
    }
    adaopt_destroy(opt);
    if (rc != 0) {
        fprintf(stderr, "adaopt: %s\n", err);
        return 1;
    }
    return 0;
}

static int cmd_lab(int argc, char **argv)
{
    if (argc < 3 || argv[2][0] == '-')
        return usage_error("%s", "lab needs a NAME");
    const char *name = argv[2];
    lab_ctx ctx = {"adaopt-lab", isatty(2), 0.1, 0, NULL, 0};
    double number;
    for (int i = 3; i < argc; i++) {
        const char *v;
        if ((v = flag_value(argc, argv, &i, "--out")) != NULL) {
            ctx.out_dir = v;
        } else if ((v = flag_value(argc, argv, &i, "--activity")) != NULL) {
            if (parse_number(v, &ctx.activity) || ctx.activity <= 0 || ctx.activity > 1)
                return usage_error("--activity: '%s' is not a probability in (0, 1]", v);
        } else if ((v = flag_value(argc, argv, &i, "--data")) != NULL) {
            ctx.data_path = v;
        } else if ((v = flag_value(argc, argv, &i, "--epochs")) != NULL) {
            if (parse_number(v, &number) || number < 1 || number > 1000 || number != floor(number))
                return usage_error("--epochs: '%s' is not a whole number in 1..1000", v);
            ctx.epochs = (int)number;
        } else if (strcmp(argv[i], "--sweep") == 0) {
            ctx.sweep = 1;
        } else if (strcmp(argv[i], "--quiet") == 0) {
            ctx.progress = 0;
        } else {
            return usage_error("unknown argument '%s'", argv[i]);
        }
    }
    static const struct {
        const char *name;
        int (*run)(const lab_ctx *);
    } labs[] = {{"worked", lab_worked},       {"long-run", lab_long_run},
                {"rosenbrock", lab_rosenbrock}, {"regression", lab_regression},
                {"sparse", lab_sparse},       {"digits", lab_digits},
                {"precision", lab_precision}, {"after-adam", lab_after_adam},
                {"muon", lab_muon}};
    const int n_labs = sizeof labs / sizeof labs[0];
    int all = strcmp(name, "all") == 0, found = 0, failed = 0;
    for (int k = 0; k < n_labs; k++)
        found |= all || strcmp(name, labs[k].name) == 0;
    if (!found)
        return usage_error("unknown lab '%s'", name);
    if (lab_make_dir(ctx.out_dir) != 0)
        return 1;
    for (int k = 0; k < n_labs; k++) {
        if (!all && strcmp(name, labs[k].name) != 0)
            continue;
        int rc = labs[k].run(&ctx);
        if (rc != 0)
            fprintf(stderr, "adaopt: lab %s failed\n", labs[k].name);
        failed += rc != 0;
    }
    if (all) {
        lab_heading("Summary");
        printf("%d labs run, %d failed; tables above; CSV and PNG files in %s/\n", n_labs, failed,
               ctx.out_dir);
    }
    return failed ? 1 : 0;
}

/* The program; main() below unless built into a fuzz target (tests/fuzz/fuzz_cli.c). */
int adaopt_cli(int argc, char **argv);
int adaopt_cli(int argc, char **argv)
{
    if (argc < 2)
        return usage_error("%s", "missing command");
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(USAGE, stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("adaopt %s\n", ADAOPT_VERSION_STRING);
        return 0;
    }
    if (strcmp(argv[1], "trace") == 0)
        return cmd_trace(argc, argv);
    if (strcmp(argv[1], "lab") == 0)
        return cmd_lab(argc, argv);
    return usage_error("unknown command '%s'", argv[1]);
}

#ifndef ADAOPT_CLI_NO_MAIN
int main(int argc, char **argv)
{
    return adaopt_cli(argc, argv);
}
#endif
