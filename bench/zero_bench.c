/*
 * zero_bench.c -- ZeRO-1 step time and memory per rank, run under mpirun -np N:
 *
 *   mpirun -np N zero-bench [--elems E] [--reps R] [--algorithm NAME] [--cols C]
 *
 * Prints (rank 0) one line: ranks, elements, optimizer-state bytes on each rank, bytes each rank
 * sends per step (reduce-scatter + all-gather: 2 x 4 bytes x E x (N-1)/N), the median step time
 * over R steps, and the same algorithm's plain adaopt_step over all E elements on one process,
 * measured in the same run.  `make bench-mpi` runs it for N = 1, 2, 4 and prints the state
 * memory table for N = 1, 2, 4, 8.  --cols C makes the tensor an (E / C) x C matrix (Adafactor
 * factors it, and under ZeRO the ranks that share it exchange its column sums).  On one machine the "network" is shared memory and the ranks
 * share its cores and memory bandwidth, so this shows the overhead of the exchange, not the
 * scaling of a cluster (docs/ZERO.md works out the network case).  Nothing is asserted.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "adaopt_mpi.h"

enum { MAX_REPS = 100 };

/* Per-rank memory of a 7B-parameter model in each low-precision mode: the state bytes per
 * element measured on a 65,536-element shard optimizer of that mode after one step (master
 * weights and 8-bit absmax included), the replicated parameters and gradients, and the bytes
 * each rank sends per step (reduce-scatter of float32 gradients, all-gather of the parameters
 * in their own type). */
static void precision_table(adaopt_algorithm algorithm)
{
    static const struct {
        const char *name;
        adaopt_dtype pd;
        const char *options;
    } modes[] = {
        {"float32", ADAOPT_DTYPE_F32, ""},
        {"float32, 8-bit state", ADAOPT_DTYPE_F32, "state_storage=8bit"},
        {"bf16, master weights", ADAOPT_DTYPE_BF16, ""},
        {"bf16, master weights, 8-bit state", ADAOPT_DTYPE_BF16, "state_storage=8bit"},
        {"bf16, stochastic rounding, bf16 state", ADAOPT_DTYPE_BF16,
         "param_update=sr, state_storage=bf16"},
        {"bf16, stochastic rounding, 8-bit state", ADAOPT_DTYPE_BF16,
         "param_update=sr, state_storage=8bit"},
    };
    const double P = 7e9;
    static const int worlds[] = {1, 8, 64};
    printf("\n| %s | state B/param | 1B params: state, N = 1 | 7B: state per rank, N = 1 | 8 | "
           "64 | 7B: params + grads per rank | 7B: sent per rank per step, N = 8 |\n"
           "|---|--:|--:|--:|--:|--:|--:|--:|\n", adaopt_algorithm_name(algorithm));
    for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
        enum { N = 65536 };
        static uint16_t p16[N], g16[N];
        static float p32[N], g32[N];
        size_t n = N, one = 1;
        adaopt_zero *z;
        int ok = adaopt_zero_create_typed(MPI_COMM_SELF, algorithm, &n, 1, &one, 1, modes[m].pd,
                                          modes[m].pd, &z, NULL, 0) == ADAOPT_OK;
        adaopt_optimizer *opts = NULL; /* the option string, parsed by the core library */
        if (ok && modes[m].options[0] && adaopt_create(algorithm, &opts) == ADAOPT_OK) {
            size_t gi;
            adaopt_add_group_typed(opts, &n, 1, modes[m].pd, modes[m].pd, &gi);
            ok = adaopt_set_options(opts, ADAOPT_ALL_GROUPS, modes[m].options) == ADAOPT_OK;
            for (int o = ADAOPT_PARAM_UPDATE; ok && o <= ADAOPT_STATE_STORAGE; o++) {
                double v;
                ok = adaopt_get(opts, 0, (adaopt_option)o, &v) == ADAOPT_OK &&
                     adaopt_zero_set(z, ADAOPT_ALL_GROUPS, (adaopt_option)o, v) == ADAOPT_OK;
            }
        }
        adaopt_destroy(opts);
        for (size_t j = 0; j < N; j++) {
            p32[j] = (float)(j % 100) * 0.01f;
            g32[j] = 0.001f;
            p16[j] = 0x3f80;
            g16[j] = 0x3a83;
        }
        void *pp[1] = {modes[m].pd == ADAOPT_DTYPE_F32 ? (void *)p32 : (void *)p16};
        const void *gg[1] = {modes[m].pd == ADAOPT_DTYPE_F32 ? (const void *)g32 : (const void *)g16};
        ok = ok && adaopt_zero_step_typed(z, pp, gg, 1) == ADAOPT_OK;
        if (!ok) {
            fprintf(stderr, "zero-bench: cannot size mode %s\n", modes[m].name);
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
        double per = (double)adaopt_zero_state_bytes(z) / N;
        adaopt_zero_destroy(z);
        double pbytes = modes[m].pd == ADAOPT_DTYPE_F32 ? 4 : 2;
        printf("| %s | %.2f | %.2f GB |", modes[m].name, per, per); /* 1e9 x per bytes */
        for (size_t k = 0; k < sizeof worlds / sizeof worlds[0]; k++)
            printf(" %.1f GB |", per * P / worlds[k] / 1e9);
        printf(" %.0f GB | %.1f GB |\n", 2 * pbytes * P / 1e9, (4 + pbytes) * P * 7 / 8 / 1e9);
    }
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, world;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    size_t n = 8u << 20;
    int reps = 15;
    adaopt_algorithm algorithm = ADAOPT_ALGO_ADAM;
    int table = 0;
    size_t cols = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--elems") && i + 1 < argc) {
            n = (size_t)strtoull(argv[++i], NULL, 10);
        } else if (!strcmp(argv[i], "--reps") && i + 1 < argc) {
            reps = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--algorithm") && i + 1 < argc) {
            if (adaopt_algorithm_from_name(argv[++i], &algorithm) != ADAOPT_OK) {
                if (rank == 0)
                    fprintf(stderr, "zero-bench: unknown algorithm '%s'\n", argv[i]);
                MPI_Finalize();
                return 2;
            }
        } else if (!strcmp(argv[i], "--cols") && i + 1 < argc) {
            cols = (size_t)strtoull(argv[++i], NULL, 10);
        } else if (!strcmp(argv[i], "--memory-table")) {
            table = 1;
        } else {
            if (rank == 0)
                fprintf(stderr, "usage: zero-bench [--elems E] [--reps R] [--algorithm NAME] "
                        "[--cols C] [--memory-table]\n");
            MPI_Finalize();
            return 2;
        }
    }
    if (n == 0 || reps < 1 || reps > MAX_REPS || (cols > 0 && n % cols != 0)) {
        if (rank == 0)
            fprintf(stderr, "zero-bench: need --elems > 0, --reps in 1..%d and --cols dividing "
                    "--elems\n", MAX_REPS);
        MPI_Finalize();
        return 2;
    }
    if (table) {
        /* State bytes per rank for 1B, 7B and 70B parameters, from the sharding formula (no
         * limit on the model's size: the collectives go in pieces). */
        if (rank == 0) {
            const uint64_t sizes[3] = {1000000000ull, 7000000000ull, 70000000000ull};
            /* State arrays per element at the defaults: ask a one-element optimizer. */
            adaopt_zero *one;
            size_t n1 = 1, g1 = 1;
            float p1 = 0, q1 = 1, *pp = &p1;
            const float *gg = &q1;
            if (adaopt_zero_create(MPI_COMM_SELF, algorithm, &n1, 1, &g1, 1, &one, NULL, 0) !=
                    ADAOPT_OK ||
                adaopt_zero_step(one, &pp, &gg, 1) != ADAOPT_OK) {
                fprintf(stderr, "zero-bench: cannot size the state\n");
                MPI_Abort(MPI_COMM_WORLD, 1);
            }
            int slots = (int)(adaopt_zero_state_bytes(one) / 4);
            adaopt_zero_destroy(one);
            printf("| ranks N | %s state per rank: 1B parameters | 7B | 70B | sent per rank per "
                   "step, 7B |\n|--:|--:|--:|--:|--:|\n", adaopt_algorithm_name(algorithm));
            static const int worlds[] = {1, 2, 4, 8, 16, 64, 256};
            for (size_t k = 0; k < sizeof worlds / sizeof worlds[0]; k++) {
                int w = worlds[k];
                printf("| %d |", w);
                for (int m = 0; m < 3; m++) {
                    uint64_t len;
                    adaopt_zero_shard_range(sizes[m], w, 0, NULL, &len);
                    printf(" %.2f GB |", (double)len * 4 * slots / 1e9);
                }
                printf(" %.1f GB |\n", 2.0 * 4 * (double)sizes[1] * (w - 1) / w / 1e9);
            }
            precision_table(algorithm);
        }
        MPI_Finalize();
        return 0;
    }

    float *p = malloc(n * sizeof *p), *g = malloc(n * sizeof *g);
    if (p == NULL || g == NULL) {
        fprintf(stderr, "zero-bench: out of memory\n");
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    for (size_t i = 0; i < n; i++) {
        p[i] = (float)(i % 1000) * 1e-3f;
        g[i] = (float)((i * 7919u) % 997) * 1e-3f - 0.5f + (float)rank * 1e-3f;
    }
    float *params[1] = {p};
    const float *grads[1] = {g};
    double samples[MAX_REPS];

    /* One process, the whole model, the core library's step (rank 0 only, before the rest). */
    double plain = 0;
    if (rank == 0) {
        adaopt_optimizer *opt;
        size_t group;
        adaopt_create(algorithm, &opt);
        adaopt_add_group(opt, &n, 1, &group);
        if (cols > 0)
            adaopt_set_shape(opt, 0, (const size_t[]){n / cols, cols}, 2);
        adaopt_set(opt, group, ADAOPT_LR, 1e-6);
        adaopt_set_threads(opt, 1);
        adaopt_step(opt, params, grads, 1);
        for (int r = 0; r < reps; r++) {
            double t = now_seconds();
            adaopt_step(opt, params, grads, 1);
            samples[r] = now_seconds() - t;
        }
        plain = median(samples, reps);
        adaopt_destroy(opt);
    }
    MPI_Barrier(MPI_COMM_WORLD);

    adaopt_zero *z;
    size_t one = 1;
    char msg[256];
    if (adaopt_zero_create(MPI_COMM_WORLD, algorithm, &n, 1, &one, 1, &z, msg, sizeof msg) !=
        ADAOPT_OK) {
        if (rank == 0)
            fprintf(stderr, "zero-bench: %s\n", msg);
        MPI_Finalize();
        return 1;
    }
    if (cols > 0 && adaopt_zero_set_shape(z, 0, (const size_t[]){n / cols, cols}, 2) != ADAOPT_OK) {
        if (rank == 0)
            fprintf(stderr, "zero-bench: %s\n", adaopt_zero_last_error(z));
        MPI_Finalize();
        return 1;
    }
    adaopt_zero_set(z, 0, ADAOPT_LR, 1e-6);
    adaopt_zero_set_threads(z, 1);
    adaopt_zero_step(z, params, grads, 1);
    for (int r = 0; r < reps; r++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t = now_seconds();
        adaopt_zero_step(z, params, grads, 1);
        double mine = now_seconds() - t, slowest;
        MPI_Allreduce(&mine, &slowest, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        samples[r] = slowest;
    }
    double step = median(samples, reps);
    size_t state = adaopt_zero_state_bytes(z), most;
    MPI_Allreduce(&state, &most, 1, MPI_UNSIGNED_LONG, MPI_MAX, MPI_COMM_WORLD);
    if (rank == 0)
        printf("| %d | %zu | %.1f MB | %.1f MB | %.2f ms | %.2f ms | %.2fx |\n", world, n,
               most / 1e6, 2.0 * 4 * (double)n * (world - 1) / world / 1e6, step * 1e3,
               plain * 1e3, step / plain);
    adaopt_zero_destroy(z);
    free(p);
    free(g);
    MPI_Finalize();
    return 0;
}
