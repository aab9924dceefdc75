/*
 * lab_worked.c -- every worked number of the seeds, computed by the real optimizers.
 *
 * Each claim: where it comes from, the number the document prints, the number adaopt computes,
 * and the verdict.  "to the printed digits" means within one unit of the last printed digit
 * (4.165 accepts 4.1655); "~" claims accept a stated relative margin; a few claims are
 * comparisons ("much closer") and say what was compared.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "adaopt.h"
#include "config.h"
#include "lab.h"
#include "problems.h"

typedef struct claim {
    const char *source;
    const char *what;
    double document;   /* the printed value (NAN: a comparison claim) */
    int digits;        /* printed decimals; -1: use `margin` */
    double margin;     /* relative margin for "~" claims */
    double computed;
    int comparison_holds; /* for comparison claims */
    const char *note;
} claim;

/* One optimizer with one group of n floats and the listed options (pairs, ended by 0). */
static adaopt_optimizer *make(adaopt_algorithm a, size_t n, const double *opts)
{
    adaopt_optimizer *opt;
    size_t g;
    if (adaopt_create(a, &opt) != ADAOPT_OK || adaopt_add_group(opt, &n, 1, &g) != ADAOPT_OK ||
        adaopt_set_threads(opt, 1) != ADAOPT_OK)
        return NULL;
    for (; opts && opts[0] != 0; opts += 2)
        if (adaopt_set(opt, g, (adaopt_option)opts[0], opts[1]) != ADAOPT_OK) {
            fprintf(stderr, "adaopt: %s\n", adaopt_last_error(opt));
            adaopt_destroy(opt);
            return NULL;
        }
    return opt;
}

static void step1(adaopt_optimizer *opt, float *x, float g)
{
    float *p[1] = {x};
    const float *gr[1] = {&g};
    adaopt_step(opt, p, gr, 1);
}

static double eff1(adaopt_optimizer *opt)
{
    float e;
    return adaopt_effective_lr(opt, 0, &e, 1) == ADAOPT_OK ? e : NAN;
}

static double state1(adaopt_optimizer *opt, adaopt_state_kind k)
{
    const float *s;
    return adaopt_state(opt, 0, k, &s, NULL) == ADAOPT_OK ? s[0] : NAN;
}

/* Sum over t of v_t / v_1 after one unit gradient and then zeros: the "effective window" of an
 * exponential average, measured from the optimizer's own state (1/(1-rho) in closed form). */
static double measured_window(adaopt_algorithm a, adaopt_option decay, double rho, long steps)
{
    const double opts[] = {decay, rho, 0};
    adaopt_optimizer *opt = make(a, 1, opts);
    if (opt == NULL)
        return NAN;
    adaopt_state_kind k = a == ADAOPT_ALGO_RMSPROP ? ADAOPT_STATE_SQUARE_AVG : ADAOPT_STATE_EXP_AVG_SQ;
    float x = 0.0f;
    step1(opt, &x, 1.0f);
    double first = state1(opt, k), sum = first;
    for (long t = 1; t < steps; t++) {
        step1(opt, &x, 0.0f);
        sum += state1(opt, k);
    }
    adaopt_destroy(opt);
    return sum / first;
}

/* Steps for square_avg to halve after one unit gradient and then zeros, measured from the state
 * and interpolated in log space between the two steps around the crossing. */
static double half_life(double rho)
{
    const double opts[] = {ADAOPT_ALPHA, rho, 0};
    adaopt_optimizer *opt = make(ADAOPT_ALGO_RMSPROP, 1, opts);
    if (opt == NULL)
        return NAN;
    float x = 0.0f;
    step1(opt, &x, 1.0f);
    double peak = state1(opt, ADAOPT_STATE_SQUARE_AVG), prev = peak, now = peak;
    int n = 0;
    while (now > 0.5 * peak && n < 100000) {
        prev = now;
        step1(opt, &x, 0.0f);
        now = state1(opt, ADAOPT_STATE_SQUARE_AVG);
        n++;
    }
    adaopt_destroy(opt);
    return (n - 1) + log(0.5 * peak / prev) / log(now / prev);
}

static int verdict(const claim *c)
{
    if (isnan(c->document))
        return c->comparison_holds;
    if (c->digits >= 0)
        return fabs(c->computed - c->document) < pow(10.0, -c->digits);
    return fabs(c->computed - c->document) <= c->margin * fabs(c->document);
}

int lab_worked(const lab_ctx *ctx)
{
    lab_heading("worked: the seeds' worked numbers, computed");
    claim claims[32];
    int n = 0;
#define CLAIM(...) claims[n++] = (claim){__VA_ARGS__}

    /* Seed 004, example 1: AdaGrad on 10x^2 from 5, eta 0.5, eps 0. */
    {
        const double opts[] = {ADAOPT_LR, 0.5, ADAOPT_EPS, 0.0, 0};
        adaopt_optimizer *opt = make(ADAOPT_ALGO_ADAGRAD, 1, opts);
        float x = 5.0f;
        double xs[3];
        for (int k = 0; k < 3; k++) {
            step1(opt, &x, 20.0f * x);
            xs[k] = x;
        }
        CLAIM("seed 004 ex. 1", "AdaGrad x1 on 10x^2 (eta 0.5)", 4.5, 1, 0, xs[0], 0, "");
        CLAIM("seed 004 ex. 1", "AdaGrad x2", 4.165, 3, 0, xs[1], 0,
              "exact 4.16552: the seed truncates (from its rounded 0.335)");
        CLAIM("seed 004 ex. 1", "AdaGrad x3", 3.902, 3, 0, xs[2], 0, "");
        CLAIM("seed 004 ex. 1", "effective lr at step 3", 0.0032, 4, 0, eff1(opt), 0,
              "0.5 / sqrt(G3)");
        adaopt_destroy(opt);
    }
    /* Seed 004, example 2: AdaGrad vs RMSProp on x^2 from 10, eta 0.1, rho 0.9, 1000 steps. */
    {
        const double ada_opts[] = {ADAOPT_LR, 0.1, ADAOPT_EPS, 1e-8, 0};
        const double rms_opts[] = {ADAOPT_LR, 0.1, ADAOPT_ALPHA, 0.9, ADAOPT_EPS, 1e-8, 0};
        adaopt_optimizer *ada = make(ADAOPT_ALGO_ADAGRAD, 1, ada_opts);
        adaopt_optimizer *rms = make(ADAOPT_ALGO_RMSPROP, 1, rms_opts);
        float xa = 10.0f, xr = 10.0f;
        for (int t = 0; t < 1000; t++) {
            step1(ada, &xa, 2.0f * xa);
            step1(rms, &xr, 2.0f * xr);
        }
        CLAIM("seed 004 ex. 2", "AdaGrad sum of g^2 after 1000 steps", 400000, -1, 0.25,
              state1(ada, ADAOPT_STATE_SUM), 0,
              "the seed assumes g stays 20; it shrinks as x does");
        CLAIM("seed 004 ex. 2", "AdaGrad effective lr after 1000 steps", 0.00016, -1, 0.25,
              eff1(ada), 0, "the seed is wrong: 0.1/sqrt(G) with the real G");
        char *note = "|x| after 1000 steps: RMSProp vs AdaGrad";
        CLAIM("seed 004 ex. 2", "RMSProp x1000 much closer to 0 than AdaGrad's", NAN, 0, 0,
              fabs(xr), fabs(xr) < 0.1 * fabs(xa), note);
        claims[n - 1].margin = fabs(xa);
        adaopt_destroy(ada);
        adaopt_destroy(rms);
    }
    /* Seed 004, example 3 (and ALGORITHMS.md): Adam's first step on x^2 from 1. */
    {
        const double opts[] = {ADAOPT_EPS, 0.0, 0};
        adaopt_optimizer *opt = make(ADAOPT_ALGO_ADAM, 1, opts);
        float x = 1.0f;
        step1(opt, &x, 2.0f);
        double m1 = state1(opt, ADAOPT_STATE_EXP_AVG);
        CLAIM("seed 004 ex. 3", "Adam m1 (beta1 0.9, x0 1)", 0.2, 1, 0, m1, 0, "");
        CLAIM("seed 004 ex. 3", "Adam m_hat1 = m1 / (1 - beta1)", 2.0, 0, 0, m1 / (1 - 0.9), 0, "");
        CLAIM("seed 004 ex. 3", "bias-correction factor at k = 1", 10.0, 0, 0, 1 / (1 - 0.9), 0, "");
        adaopt_destroy(opt);
    }
    /* Practice 1: gradients alternating +g, -g: Adam's step m_hat / sqrt(v_hat) goes to ~0. */
    {
        adaopt_optimizer *opt = make(ADAOPT_ALGO_ADAM, 1, NULL);
        float x = 0.0f;
        for (int t = 0; t < 1000; t++)
            step1(opt, &x, (t % 2) ? -1.0f : 1.0f);
        double ratio = fabs(state1(opt, ADAOPT_STATE_EXP_AVG)) /
                       sqrt(state1(opt, ADAOPT_STATE_EXP_AVG_SQ) / (1 - pow(0.999, 1000)));
        CLAIM("seed 004 pr. 1", "|m_hat|/sqrt(v_hat) for +-1 gradients (~0)", NAN, 0, 0, ratio,
              ratio < 0.1, "(1-b1)/(1+b1) = 0.053: small, not zero; compared with 0.1");
        claims[n - 1].margin = 0.1;
        adaopt_destroy(opt);
    }
    /* Practice 2 and 4, seed 002: windows of the averages. */
    CLAIM("seed 004 pr. 2", "beta2 0.9999: window (steps)", 10000, -1, 0.01,
          measured_window(ADAOPT_ALGO_ADAM, ADAOPT_BETA2, 0.9999, 200000), 0,
          "sum of v_t / v_1 after one unit gradient");
    CLAIM("seed 004 pr. 2", "beta2 0.999: window (steps)", 1000, -1, 0.01,
          measured_window(ADAOPT_ALGO_ADAM, ADAOPT_BETA2, 0.999, 50000), 0, "");
    CLAIM("seed 002 + pr. 4", "rho 0.9: window ~10 steps", 10, -1, 0.01,
          measured_window(ADAOPT_ALGO_RMSPROP, ADAOPT_ALPHA, 0.9, 2000), 0, "");
    CLAIM("seed 002 + pr. 4", "rho 0.99: window ~100 steps", 100, -1, 0.01,
          measured_window(ADAOPT_ALGO_RMSPROP, ADAOPT_ALPHA, 0.99, 5000), 0, "");
    CLAIM("seed 004 pr. 4", "rho 0.9: half-life (steps)", 6.6, 1, 0, half_life(0.9), 0,
          "square_avg halves");
    CLAIM("seed 004 pr. 4", "rho 0.99: half-life (steps)", 69, 0, 0, half_life(0.99), 0, "");
    /* Practice 3: |g| = 1 always, eta 0.1. */
    {
        const double opts[] = {ADAOPT_LR, 0.1, ADAOPT_EPS, 1e-8, 0};
        adaopt_optimizer *opt = make(ADAOPT_ALGO_ADAGRAD, 1, opts);
        float x = 0.0f;
        double at100 = 0;
        for (int t = 1; t <= 10000; t++) {
            step1(opt, &x, (t % 2) ? 1.0f : -1.0f);
            if (t == 100)
                at100 = eff1(opt);
        }
        CLAIM("seed 004 pr. 3", "AdaGrad effective lr at t = 100 (|g| = 1)", 0.01, 2, 0, at100, 0, "");
        CLAIM("seed 004 pr. 3", "AdaGrad effective lr at t = 10,000", 0.001, 3, 0, eff1(opt), 0, "");
        adaopt_destroy(opt);
    }
    /* Practice 5: AdamW's update is x - eta (m_hat / (sqrt(v_hat) + eps) + lambda x). */
    {
        const double opts[] = {ADAOPT_LR, 0.1, ADAOPT_WEIGHT_DECAY, 0.5, 0};
        adaopt_optimizer *opt = make(ADAOPT_ALGO_ADAMW, 1, opts);
        float x = 2.0f;
        step1(opt, &x, 3.0f);
        double formula = 2.0 - 0.1 * (3.0 / (3.0 + 1e-8) + 0.5 * 2.0);
        CLAIM("seed 004 pr. 5", "AdamW first step from 2, g = 3, eta 0.1, lambda 0.5", formula, 6,
              0, x, 0, "document's formula evaluated");
        adaopt_destroy(opt);
    }
    /* Seed 003's Rosenbrock comparison: SGD and Adam, lr 0.001, 5000 steps from (-1, 1). */
    {
        double dist[2];
        const adaopt_algorithm algos[2] = {ADAOPT_ALGO_SGD, ADAOPT_ALGO_ADAM};
        for (int k = 0; k < 2; k++) {
            adaopt_optimizer *opt = make(algos[k], 2, NULL);
            float xy[2] = {-1.0f, 1.0f}, g[2];
            float *p[1] = {xy};
            const float *gr[1] = {g};
            for (int t = 0; t < 5000; t++) {
                rosenbrock_grad(xy, g);
                adaopt_step(opt, p, gr, 1);
            }
            dist[k] = hypot(xy[0] - 1.0, xy[1] - 1.0);
            adaopt_destroy(opt);
        }
        CLAIM("seed 003", "Rosenbrock: Adam much closer to (1,1) than SGD", NAN, 0, 0, dist[1],
              dist[1] < 0.5 * dist[0], "distance to (1,1): Adam vs SGD");
        claims[n - 1].margin = dist[0];
    }
#undef CLAIM

    FILE *csv = lab_open(ctx, "worked.csv");
    if (csv)
        fprintf(csv, "source,claim,document,computed,agrees,note\n");
    printf("%-16s %-52s %10s %12s  %s\n", "source", "claim", "document", "computed", "verdict");
    int disagree = 0;
    for (int k = 0; k < n; k++) {
        const claim *c = &claims[k];
        int ok = verdict(c);
        disagree += !ok;
        char doc[32], comp[48];
        if (isnan(c->document)) {
            snprintf(doc, sizeof doc, "%s", "(claim)");
            snprintf(comp, sizeof comp, "%.4g vs %.4g", c->computed, c->margin);
        } else {
            snprintf(doc, sizeof doc, "%g", c->document);
            snprintf(comp, sizeof comp, "%.6g", c->computed);
        }
        printf("%-16s %-52s %10s %12s  %s%s%s\n", c->source, c->what, doc, comp,
               ok ? "agrees" : "DISAGREES", c->note[0] ? " -- " : "", c->note);
        if (csv)
            fprintf(csv, "\"%s\",\"%s\",%s,%.9g,%s,\"%s\"\n", c->source, c->what,
                    isnan(c->document) ? "" : doc, c->computed, ok ? "yes" : "no", c->note);
    }
    if (csv)
        fclose(csv);
    printf("\n%d claims, %d agree, %d disagree (the computed numbers are right: they come from "
           "the optimizers themselves).\nwrote %s/worked.csv\n", n, n - disagree, disagree,
           ctx->out_dir);
    return csv ? 0 : 1;
}
