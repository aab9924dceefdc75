/*
 * bench.c -- optimizer step throughput against a STREAM-style triad measured in the same run.
 *
 *   adaopt-bench [--json] [--reps N] [--max-elems N]
 *
 * For each algorithm and size (4K to 64M elements, x4 apart) it times `adaopt_step` over one
 * tensor and prints the median over N repetitions: ns per element, GB/s counting the bytes the
 * algorithm really moves (Adam reads p, g, m, v and writes p, m, v: 28 bytes per element), and
 * the ratio to the triad a[i] = b[i] + s * c[i] (12 bytes per element) at the same size.
 * A benchmark, not a test: nothing here is asserted.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "adaopt.h"

typedef struct {
    const char *label;
    adaopt_algorithm algorithm;
    adaopt_option option; /* one non-default option, or 0 */
    double value;
    int bytes_per_elem;   /* fp32 reads + writes of one element's parameter, gradient, state */
} bench_case;

static const bench_case CASES[] = {
    {"sgd", ADAOPT_ALGO_SGD, 0, 0, 12},
    {"sgd_momentum", ADAOPT_ALGO_SGD, ADAOPT_MOMENTUM, 0.9, 20},
    {"adagrad", ADAOPT_ALGO_ADAGRAD, 0, 0, 20},
    {"rmsprop", ADAOPT_ALGO_RMSPROP, 0, 0, 20},
    {"adam", ADAOPT_ALGO_ADAM, 0, 0, 28},
    {"amsgrad", ADAOPT_ALGO_ADAM, ADAOPT_AMSGRAD, 1, 36},
    {"adamw", ADAOPT_ALGO_ADAMW, 0, 0, 28},
    {"adamax", ADAOPT_ALGO_ADAMAX, 0, 0, 28},
    {"nadam", ADAOPT_ALGO_NADAM, 0, 0, 28},
    {"radam", ADAOPT_ALGO_RADAM, 0, 0, 28},
};

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, compare_doubles);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Repetitions so that each timed sample covers at least ~20 ms of work at small sizes. */
static int inner_loops(size_t n)
{
    size_t loops = (size_t)(4u << 20) / (n ? n : 1);
    return loops < 1 ? 1 : (int)loops;
}

static double triad_seconds(size_t n, int reps, float *a, const float *b, const float *c)
{
    double samples[64];
    int inner = inner_loops(n);
    const float s = 1.5f;
    for (int r = 0; r < reps; r++) {
        double t = now_seconds();
        for (int k = 0; k < inner; k++) {
            for (size_t i = 0; i < n; i++)
                a[i] = b[i] + s * c[i];
            __asm__ volatile("" ::"r"(a) : "memory"); /* keep every pass */
        }
        samples[r] = (now_seconds() - t) / inner;
    }
    return median(samples, reps);
}

static int step_seconds(const bench_case *bc, size_t n, int reps, float *p, const float *g,
                        double *seconds)
{
    adaopt_optimizer *opt;
    size_t group;
    if (adaopt_create(bc->algorithm, &opt) != ADAOPT_OK)
        return -1;
    if (adaopt_add_group(opt, &n, 1, &group) != ADAOPT_OK ||
        (bc->option && adaopt_set(opt, group, bc->option, bc->value) != ADAOPT_OK) ||
        adaopt_set(opt, group, ADAOPT_LR, 1e-6) != ADAOPT_OK) {
        fprintf(stderr, "bench %s: %s\n", bc->label, adaopt_last_error(opt));
        adaopt_destroy(opt);
        return -1;
    }
    float *params[1] = {p};
    const float *grads[1] = {g};
    adaopt_step(opt, params, grads, 1); /* the first step also fills state: not timed */
    double samples[64];
    int inner = inner_loops(n);
    for (int r = 0; r < reps; r++) {
        double t = now_seconds();
        for (int k = 0; k < inner; k++)
            adaopt_step(opt, params, grads, 1);
        samples[r] = (now_seconds() - t) / inner;
    }
    adaopt_destroy(opt);
    *seconds = median(samples, reps);
    return 0;
}

int main(int argc, char **argv)
{
    int json = 0, reps = 5;
    size_t max_elems = (size_t)64 << 20;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
            reps = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--max-elems") == 0 && i + 1 < argc) {
            max_elems = (size_t)strtoull(argv[++i], NULL, 10);
        } else {
            fprintf(stderr, "usage: %s [--json] [--reps N (1-64)] [--max-elems N]\n", argv[0]);
            return 2;
        }
    }
    if (reps < 1 || reps > 64 || max_elems < 4096) {
        fprintf(stderr, "%s: --reps must be 1..64 and --max-elems >= 4096\n", argv[0]);
        return 2;
    }
    float *p = malloc(max_elems * sizeof *p), *g = malloc(max_elems * sizeof *g);
    float *c = malloc(max_elems * sizeof *c);
    if (p == NULL || g == NULL || c == NULL) {
        fprintf(stderr, "%s: out of memory for %zu elements\n", argv[0], max_elems);
        return 1;
    }
    for (size_t i = 0; i < max_elems; i++) {
        p[i] = 1.0f;
        g[i] = 0.01f * (float)(i % 13) - 0.06f;
        c[i] = 0.5f;
    }

    if (json)
        printf("{\"unit\": \"median of %d\", \"results\": [\n", reps);
    else
        printf("%-13s %10s %10s %9s %9s %8s\n", "algorithm", "elements", "ns/elem", "GB/s",
               "triad GB/s", "ratio");
    int first = 1;
    for (size_t n = 4096; n <= max_elems; n *= 4) {
        double triad = triad_seconds(n, reps, p, g, c);
        double triad_gbs = 12.0 * (double)n / triad / 1e9;
        for (size_t k = 0; k < sizeof CASES / sizeof CASES[0]; k++) {
            double s;
            if (step_seconds(&CASES[k], n, reps, p, g, &s) != 0)
                return 1;
            double gbs = CASES[k].bytes_per_elem * (double)n / s / 1e9;
            if (json)
                printf("%s  {\"algorithm\": \"%s\", \"elements\": %zu, \"threads\": 1, "
                       "\"ns_per_elem\": %.4f, \"gb_per_s\": %.3f, \"triad_gb_per_s\": %.3f, "
                       "\"ratio_to_triad\": %.3f}",
                       first ? "" : ",\n", CASES[k].label, n, s / (double)n * 1e9, gbs,
                       triad_gbs, gbs / triad_gbs);
            else
                printf("%-13s %10zu %10.3f %9.2f %9.2f %8.2f\n", CASES[k].label, n,
                       s / (double)n * 1e9, gbs, triad_gbs, gbs / triad_gbs);
            first = 0;
        }
    }
    if (json)
        printf("\n]}\n");
    free(p);
    free(g);
    free(c);
    return 0;
}
