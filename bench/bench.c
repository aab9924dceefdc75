/*
 * bench.c -- optimizer step throughput against a STREAM-style triad measured in the same run.
 *
 *   adaopt-bench [--json] [--reps N] [--max-elems N] [--threads LIST] [--only NAME]
 *
 * For each thread count (default "1,2"), size (4K to 64M elements, x4 apart) and algorithm it
 * times `adaopt_step` over one tensor and prints the median over N repetitions: ns per element,
 * GB/s counting the bytes the algorithm really moves (Adam reads p, g, m, v and writes p, m, v:
 * 28 bytes per element), and the ratio to a STREAM-style triad a[i] = b[i] + s * c[i] timed in
 * the same run at the same size and thread count.
 *
 * The triad's bytes are counted as 16 per element, not STREAM's 12: storing to a[] first reads
 * each line of a[] into the cache (write-allocate), so the memory moves b, c, a in and a out.
 * The optimizer's kernels read every array they write, so they pay no such hidden read and
 * their counted bytes are their real traffic.  Counting the triad at 12 would flatter every
 * ratio by 4/3 (and put memory-bound kernels at "133% of the machine").
 * Then the low-precision modes of Adam and AdamW at 8,192 elements (in cache: the arithmetic
 * alone), 16M and 64M elements (bf16 parameters and
 * gradients with master weights or stochastic rounding, bf16 or 8-bit state), each against the
 * float32 step and the triad; and Adam over 1,000 tensors of 4,096 elements against one tensor
 * of 4,096,000.  (--only precision runs that table alone.)
 * A benchmark, not a test: nothing here is asserted.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "adaopt.h"

#ifdef _OPENMP
#include <omp.h>
#endif

typedef struct {
    const char *label;
    adaopt_algorithm algorithm;
    adaopt_option option; /* one non-default option, or 0 */
    double value;
    int bytes_per_elem;   /* fp32 reads + writes of one element's parameter, gradient, state */
    int overwrite_grads;  /* adaopt_set_overwrite_grads (LAMB, Adafactor) */
} bench_case;

static const bench_case CASES[] = {
    {"sgd", ADAOPT_ALGO_SGD, 0, 0, 12, 0},
    {"sgd_momentum", ADAOPT_ALGO_SGD, ADAOPT_MOMENTUM, 0.9, 20, 0},
    {"adagrad", ADAOPT_ALGO_ADAGRAD, 0, 0, 20, 0},
    {"rmsprop", ADAOPT_ALGO_RMSPROP, 0, 0, 20, 0},
    {"adam", ADAOPT_ALGO_ADAM, 0, 0, 28, 0},
    {"amsgrad", ADAOPT_ALGO_ADAM, ADAOPT_AMSGRAD, 1, 36, 0},
    {"adamw", ADAOPT_ALGO_ADAMW, 0, 0, 28, 0},
    {"adamax", ADAOPT_ALGO_ADAMAX, 0, 0, 28, 0},
    {"nadam", ADAOPT_ALGO_NADAM, 0, 0, 28, 0},
    {"radam", ADAOPT_ALGO_RADAM, 0, 0, 28, 0},
    {"lion", ADAOPT_ALGO_LION, ADAOPT_WEIGHT_DECAY, 0.1, 20, 0}, /* p r+w, g, m r+w */
    {"adamw_schedulefree", ADAOPT_ALGO_ADAMW_SCHEDULE_FREE, ADAOPT_WEIGHT_DECAY, 0.01, 28, 0},
    /* p (y) r+w, g, z r+w, v r+w */
    {"lamb", ADAOPT_ALGO_LAMB, ADAOPT_WEIGHT_DECAY, 0.01, 40, 0},
    /* two passes: p, g, m r+w, v r+w; then p r+w, m, v */
    {"lamb_overwrite", ADAOPT_ALGO_LAMB, ADAOPT_WEIGHT_DECAY, 0.01, 40, 1},
    /* p, g r+w (u), m r+w, v r+w; then p r+w, g (u): 6 arrays read instead of 7 */
    {"adafactor", ADAOPT_ALGO_ADAFACTOR, ADAOPT_WEIGHT_DECAY, 0.01, 24, 0},
    /* a square matrix (factored): p, g; g; p r+w, g (the state is rows + columns) */
    {"adafactor_overwrite", ADAOPT_ALGO_ADAFACTOR, ADAOPT_WEIGHT_DECAY, 0.01, 28, 1},
    /* p, g; g r+w (u); p r+w, g (u) */
};

/* The gradients every case steps with (the _overwrite cases write u over them: refilled after). */
static void fill_grads(float *g, size_t n)
{
    for (size_t i = 0; i < n; i++)
        g[i] = 0.01f * (float)(i % 13) - 0.06f;
}

/* Repetitions so that each timed sample covers at least ~20 ms of work at small sizes. */
static int inner_loops(size_t n)
{
    size_t loops = (size_t)(4u << 20) / (n ? n : 1);
    return loops < 1 ? 1 : (int)loops;
}

static double triad_seconds(size_t n, int reps, int threads, float *a, const float *b,
                            const float *c)
{
    double samples[64];
    int inner = inner_loops(n);
    const float s = 1.5f;
    long len = (long)n;
    (void)threads;
    for (int r = 0; r < reps; r++) {
        double t = now_seconds();
        for (int k = 0; k < inner; k++) {
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1 && len >= 131072)
#endif
            for (long i = 0; i < len; i++)
                a[i] = b[i] + s * c[i];
            __asm__ volatile("" ::"r"(a) : "memory"); /* keep every pass */
        }
        samples[r] = (now_seconds() - t) / inner;
    }
    return median(samples, reps);
}

/* Seconds per Adam step over `count` tensors of `numel` elements (medians of reps). */
static double many_tensors_seconds(size_t count, size_t numel, int reps, int threads, float *p,
                                   const float *g)
{
    adaopt_optimizer *opt;
    size_t group, *numels = malloc(count * sizeof *numels);
    float **params = malloc(count * sizeof *params);
    const float **grads = malloc(count * sizeof *grads);
    if (numels == NULL || params == NULL || grads == NULL)
        return -1;
    for (size_t i = 0; i < count; i++) {
        numels[i] = numel;
        params[i] = p + i * numel;
        grads[i] = g + i * numel;
    }
    double out = -1;
    if (adaopt_create(ADAOPT_ALGO_ADAM, &opt) == ADAOPT_OK &&
        adaopt_add_group(opt, numels, count, &group) == ADAOPT_OK &&
        adaopt_set(opt, group, ADAOPT_LR, 1e-6) == ADAOPT_OK &&
        adaopt_set_threads(opt, (size_t)threads) == ADAOPT_OK) {
        double samples[64];
        adaopt_step(opt, params, grads, count);
        for (int r = 0; r < reps; r++) {
            double t = now_seconds();
            for (int k = 0; k < 3; k++)
                adaopt_step(opt, params, grads, count);
            samples[r] = (now_seconds() - t) / 3;
        }
        out = median(samples, reps);
    }
    adaopt_destroy(opt);
    free(numels);
    free(params);
    free(grads);
    return out;
}

static int step_seconds(const bench_case *bc, size_t n, int reps, int threads, float *p,
                        const float *g, double *seconds)
{
    adaopt_optimizer *opt;
    size_t group;
    if (adaopt_create(bc->algorithm, &opt) != ADAOPT_OK)
        return -1;
    size_t side = (size_t)sqrt((double)n), square[2] = {side, side}; /* (every size is a square) */
    if (adaopt_add_group(opt, &n, 1, &group) != ADAOPT_OK ||
        (side * side == n && adaopt_set_shape(opt, 0, square, 2) != ADAOPT_OK) ||
        (bc->option && adaopt_set(opt, group, bc->option, bc->value) != ADAOPT_OK) ||
        adaopt_set(opt, group, ADAOPT_LR, 1e-6) != ADAOPT_OK ||
        adaopt_set_threads(opt, (size_t)threads) != ADAOPT_OK ||
        (bc->overwrite_grads && adaopt_set_overwrite_grads(opt, 1) != ADAOPT_OK)) {
        fprintf(stderr, "bench %s: %s\n", bc->label, adaopt_last_error(opt));
        adaopt_destroy(opt);
        return -1;
    }
    float *params[1] = {p};
    const float *grads[1] = {g};
    adaopt_step(opt, params, grads, 1); /* the first step also fills state: not timed */
    /* (with overwrite_grads each step's g is the last step's u: bounded, never subnormal) */
    double samples[64];
    int inner = inner_loops(n);
    for (int r = 0; r < reps; r++) {
        double t = now_seconds();
        for (int k = 0; k < inner; k++)
            adaopt_step(opt, params, grads, 1);
        samples[r] = (now_seconds() - t) / inner;
    }
    adaopt_destroy(opt);
    if (bc->overwrite_grads)
        fill_grads((float *)g, n);
    *seconds = median(samples, reps);
    return 0;
}

/* Low-precision modes of Adam/AdamW (issue 13): element types, update and state storage, with
 * the bytes one element's step really moves (reads + writes). */
typedef struct {
    const char *label;
    adaopt_dtype dtype;  /* parameters and gradients */
    int update;          /* adaopt_param_update */
    int storage;         /* adaopt_state_storage */
    double bytes_per_elem;
} precision_case;

static const precision_case PRECISION_CASES[] = {
    {"f32", ADAOPT_DTYPE_F32, ADAOPT_UPDATE_MASTER, ADAOPT_STORAGE_F32, 28},
    /* p written 2, g read 2, master r+w 8, m v r+w 16 */
    {"bf16 master", ADAOPT_DTYPE_BF16, ADAOPT_UPDATE_MASTER, ADAOPT_STORAGE_F32, 28},
    /* p 2, g 2, master 8, codes r+w 4, absmax 2 x 8 / 256 */
    {"bf16 master 8bit", ADAOPT_DTYPE_BF16, ADAOPT_UPDATE_MASTER, ADAOPT_STORAGE_8BIT, 16.0625},
    /* p r+w 4, g 2, m v r+w 8 */
    {"bf16 sr bf16-state", ADAOPT_DTYPE_BF16, ADAOPT_UPDATE_SR, ADAOPT_STORAGE_BF16, 14},
    /* p r+w 4, g 2, codes 4, absmax */
    {"bf16 sr 8bit", ADAOPT_DTYPE_BF16, ADAOPT_UPDATE_SR, ADAOPT_STORAGE_8BIT, 10.0625},
    /* p r+w 8, g 4, codes 4, absmax */
    {"f32 8bit", ADAOPT_DTYPE_F32, ADAOPT_UPDATE_MASTER, ADAOPT_STORAGE_8BIT, 16.0625},
};

static int precision_seconds(const precision_case *pc, adaopt_algorithm algorithm, size_t n,
                             int reps, int threads, void *p, const void *g, double *seconds)
{
    adaopt_optimizer *opt;
    size_t group;
    if (adaopt_create(algorithm, &opt) != ADAOPT_OK)
        return -1;
    if (adaopt_add_group_typed(opt, &n, 1, pc->dtype, pc->dtype, &group) != ADAOPT_OK ||
        (pc->dtype != ADAOPT_DTYPE_F32 &&
         adaopt_set(opt, group, ADAOPT_PARAM_UPDATE, pc->update) != ADAOPT_OK) ||
        adaopt_set(opt, group, ADAOPT_STATE_STORAGE, pc->storage) != ADAOPT_OK ||
        adaopt_set(opt, group, ADAOPT_LR, 1e-6) != ADAOPT_OK ||
        adaopt_set_threads(opt, (size_t)threads) != ADAOPT_OK) {
        fprintf(stderr, "bench %s: %s\n", pc->label, adaopt_last_error(opt));
        adaopt_destroy(opt);
        return -1;
    }
    void *params[1] = {p};
    const void *grads[1] = {g};
    adaopt_step_typed(opt, params, grads, 1); /* the first step fills state and master */
    double samples[64];
    int inner = inner_loops(n);
    for (int r = 0; r < reps; r++) {
        double t = now_seconds();
        for (int k = 0; k < inner; k++)
            adaopt_step_typed(opt, params, grads, 1);
        samples[r] = (now_seconds() - t) / inner;
    }
    adaopt_destroy(opt);
    *seconds = median(samples, reps);
    return 0;
}

/* The precision table: each mode against the float32 step and the triad, same run. */
static int precision_table(int json, int reps, const int *thread_list, int n_threads,
                           size_t max_elems, float *p, const float *g, float *c, int *first)
{
    /* 8,192 elements stay in cache: there the time is the arithmetic alone, no memory traffic
     * (the floor under each mode's time at any size) */
    size_t sizes[3] = {8192, (size_t)16 << 20, (size_t)64 << 20};
    uint16_t *p16 = malloc(max_elems * sizeof *p16), *g16 = malloc(max_elems * sizeof *g16);
    if (p16 == NULL || g16 == NULL)
        return -1;
    for (size_t i = 0; i < max_elems; i++) {
        p16[i] = 0x3f80; /* 1.0 */
        g16[i] = (uint16_t)(0x3c00 + (i % 13)); /* small positive values */
    }
    if (!json)
        printf("\nLow precision: Adam and AdamW, bytes each mode moves per element, GB/s, ratio "
               "to the triad, speed-up over the float32 step (same run)\n"
               "%-7s %-19s %7s %10s %6s %9s %9s %7s %8s\n", "algo", "mode", "threads",
               "elements", "B/elem", "ns/elem", "GB/s", "ratio", "vs f32");
    static const adaopt_algorithm algorithms[2] = {ADAOPT_ALGO_ADAM, ADAOPT_ALGO_ADAMW};
    for (int t = 0; t < n_threads; t++)
        for (int z = 0; z < 3; z++) {
            size_t n = sizes[z];
            if (n > max_elems)
                continue;
            double triad = triad_seconds(n, reps, thread_list[t], p, g, c);
            double triad_gbs = 16.0 * (double)n / triad / 1e9;
            for (int a = 0; a < 2; a++) {
                double f32_seconds = 0;
                for (size_t k = 0; k < sizeof PRECISION_CASES / sizeof PRECISION_CASES[0]; k++) {
                    const precision_case *pc = &PRECISION_CASES[k];
                    double sec;
                    int f32 = pc->dtype == ADAOPT_DTYPE_F32;
                    if (precision_seconds(pc, algorithms[a], n, reps, thread_list[t],
                                          f32 ? (void *)p : (void *)p16,
                                          f32 ? (const void *)g : (const void *)g16, &sec) != 0)
                        return -1;
                    if (k == 0)
                        f32_seconds = sec;
                    double gbs = pc->bytes_per_elem * (double)n / sec / 1e9;
                    const char *name = adaopt_algorithm_name(algorithms[a]);
                    if (json)
                        printf("%s  {\"algorithm\": \"%s\", \"mode\": \"%s\", \"threads\": %d, "
                               "\"elements\": %zu, \"bytes_per_elem\": %.4f, \"ns_per_elem\": %.4f, "
                               "\"gb_per_s\": %.3f, \"ratio_to_triad\": %.3f, \"speedup_vs_f32\": %.3f}",
                               *first ? "" : ",\n", name, pc->label, thread_list[t], n,
                               pc->bytes_per_elem, sec / (double)n * 1e9, gbs, gbs / triad_gbs,
                               f32_seconds / sec);
                    else
                        printf("%-7s %-19s %7d %10zu %6.1f %9.3f %9.2f %7.2f %7.2fx\n", name,
                               pc->label, thread_list[t], n, pc->bytes_per_elem,
                               sec / (double)n * 1e9, gbs, gbs / triad_gbs, f32_seconds / sec);
                    *first = 0;
                }
            }
        }
    free(p16);
    free(g16);
    return 0;
}

int main(int argc, char **argv)
{
    int json = 0, reps = 5, thread_list[8] = {1, 2}, n_threads = 2;
    const char *only = NULL;
    size_t max_elems = (size_t)64 << 20;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
            reps = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--max-elems") == 0 && i + 1 < argc) {
            max_elems = (size_t)strtoull(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
            only = argv[++i];
        } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            n_threads = 0;
            for (char *tok = strtok(argv[++i], ","); tok && n_threads < 8; tok = strtok(NULL, ","))
                thread_list[n_threads++] = atoi(tok);
        } else {
            fprintf(stderr, "usage: %s [--json] [--reps N (1-64)] [--max-elems N] "
                            "[--threads 1,2] [--only ALGORITHM]\n", argv[0]);
            return 2;
        }
    }
    if (reps < 1 || reps > 64 || max_elems < 4096 || n_threads == 0) {
        fprintf(stderr, "%s: --reps must be 1..64, --max-elems >= 4096, --threads a list\n",
                argv[0]);
        return 2;
    }
    for (int t = 0; t < n_threads; t++) {
        adaopt_optimizer *probe;
        if (thread_list[t] < 1 || adaopt_create(ADAOPT_ALGO_SGD, &probe) != ADAOPT_OK)
            return 2;
        adaopt_status st = adaopt_set_threads(probe, (size_t)thread_list[t]);
        adaopt_destroy(probe);
        if (st != ADAOPT_OK) {
            fprintf(stderr, "%s: %d threads are not available in this build\n", argv[0],
                    thread_list[t]);
            return 2;
        }
    }
    size_t alloc = max_elems < (size_t)4096000 ? (size_t)4096000 : max_elems;
    float *p = malloc(alloc * sizeof *p), *g = malloc(alloc * sizeof *g);
    float *c = malloc(alloc * sizeof *c);
    if (p == NULL || g == NULL || c == NULL) {
        fprintf(stderr, "%s: out of memory for %zu elements\n", argv[0], alloc);
        return 1;
    }
    for (size_t i = 0; i < alloc; i++) {
        p[i] = 1.0f;
        c[i] = 0.5f;
    }
    fill_grads(g, alloc);

    adaopt_optimizer *probe;
    adaopt_create(ADAOPT_ALGO_SGD, &probe);
    const char *isa = adaopt_isa_name(adaopt_get_isa(probe));
    adaopt_destroy(probe);
    if (json)
        printf("{\"isa\": \"%s\", \"statistic\": \"median of %d\", \"results\": [\n", isa,
               reps);
    else
        printf("kernels: %s; medians of %d; GB/s counts the bytes each algorithm moves\n\n"
               "%-20s %7s %10s %9s %9s %10s %7s\n", isa, reps, "algorithm", "threads",
               "elements", "ns/elem", "GB/s", "triad GB/s", "ratio");
    int first = 1;
    double adamw_s[8][16] = {{0}}, lamb_s[8][16][2] = {{{0}}}; /* for LAMB / AdamW below */
    for (int t = 0; t < n_threads; t++) {
        int threads = thread_list[t];
        int z = 0;
        for (size_t n = 4096; n <= max_elems; n *= 4, z++) {
            double triad = triad_seconds(n, reps, threads, p, g, c);
            double triad_gbs = 16.0 * (double)n / triad / 1e9; /* see the comment on top */
            for (size_t k = 0; k < sizeof CASES / sizeof CASES[0]; k++) {
                double s;
                if (only != NULL && strcmp(only, CASES[k].label) != 0)
                    continue;
                if (step_seconds(&CASES[k], n, reps, threads, p, g, &s) != 0)
                    return 1;
                double gbs = CASES[k].bytes_per_elem * (double)n / s / 1e9;
                if (strcmp(CASES[k].label, "adamw") == 0 && z < 16)
                    adamw_s[t][z] = s;
                else if (CASES[k].algorithm == ADAOPT_ALGO_LAMB && z < 16)
                    lamb_s[t][z][CASES[k].overwrite_grads] = s;
                if (json)
                    printf("%s  {\"algorithm\": \"%s\", \"threads\": %d, \"elements\": %zu, "
                           "\"ns_per_elem\": %.4f, \"gb_per_s\": %.3f, \"triad_gb_per_s\": %.3f, "
                           "\"ratio_to_triad\": %.3f}",
                           first ? "" : ",\n", CASES[k].label, threads, n, s / (double)n * 1e9,
                           gbs, triad_gbs, gbs / triad_gbs);
                else
                    printf("%-20s %7d %10zu %9.3f %9.2f %10.2f %7.2f\n", CASES[k].label, threads,
                           n, s / (double)n * 1e9, gbs, triad_gbs, gbs / triad_gbs);
                first = 0;
            }
        }
    }
    if (json)
        printf("\n], \"lamb_vs_adamw\": [\n");
    else if (only == NULL)
        printf("\nLAMB's step / AdamW's step (same run; the target is <= 1.5)\n%7s %10s %9s "
               "%15s\n", "threads", "elements", "lamb", "lamb_overwrite");
    first = 1;
    for (int t = 0; t < n_threads && only == NULL; t++) {
        int z = 0;
        for (size_t n = 4096; n <= max_elems && z < 16; n *= 4, z++) {
            if (n < ((size_t)1 << 20) || adamw_s[t][z] <= 0.0)
                continue;
            double a = lamb_s[t][z][0] / adamw_s[t][z], b = lamb_s[t][z][1] / adamw_s[t][z];
            if (json)
                printf("%s  {\"threads\": %d, \"elements\": %zu, \"lamb\": %.3f, "
                       "\"lamb_overwrite\": %.3f}", first ? "" : ",\n", thread_list[t], n, a, b);
            else
                printf("%7d %10zu %9.2f %15.2f\n", thread_list[t], n, a, b);
            first = 0;
        }
    }
    if (json)
        printf("\n], \"precision\": [\n");
    int first_precision = 1;
    if ((only == NULL || strcmp(only, "precision") == 0) &&
        precision_table(json, reps, thread_list, n_threads, max_elems, p, g, c,
                        &first_precision) != 0)
        return 1;
    if (json)
        printf("\n], \"many_tensors\": [\n");
    else
        printf("\nAdam, 1,000 tensors of 4,096 elements vs one tensor of 4,096,000\n"
               "%7s %14s %14s %7s\n", "threads", "1000x4096 ms", "1x4096000 ms", "ratio");
    for (int t = 0; t < n_threads; t++) {
        double many = many_tensors_seconds(1000, 4096, reps, thread_list[t], p, g);
        double one = many_tensors_seconds(1, 4096000, reps, thread_list[t], p, g);
        if (many < 0 || one < 0)
            return 1;
        if (json)
            printf("%s  {\"threads\": %d, \"many_ms\": %.3f, \"one_ms\": %.3f, \"ratio\": %.3f}",
                   t ? ",\n" : "", thread_list[t], many * 1e3, one * 1e3, many / one);
        else
            printf("%7d %14.3f %14.3f %7.2f\n", thread_list[t], many * 1e3, one * 1e3, many / one);
    }
    if (json)
        printf("\n]}\n");
    free(p);
    free(g);
    free(c);
    return 0;
}
