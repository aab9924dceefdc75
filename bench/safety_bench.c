/*
 * safety_bench.c -- what reliability costs, measured in one run (medians over repetitions):
 *
 *   adaopt-bench-safety [--elems N] [--reps R]
 *
 * 1. Checksums: CRC-32C with the SSE4.2 instruction (what checkpoints use on x86-64), the
 *    portable table (the fallback elsewhere) and zlib's crc32, in GB/s over the same buffer, next
 *    to memcpy of it.  This is the measurement behind computing CRC-32C in the library rather
 *    than linking zlib.
 * 2. Checkpoints: saving and loading an Adam state of N elements to a memory buffer, against
 *    memcpy of the same bytes.
 * 3. Non-finite gradients: one Adam step over N elements under PROPAGATE (no check), under SKIP
 *    with the extra scan of every gradient, and under SKIP with the hint from a pass that read
 *    the gradients anyway (clipping's global norm; the clip pass is timed separately, as the
 *    caller pays it with or without the policy).
 * A benchmark, not a test: nothing is asserted.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zlib.h>

#include "bench_util.h"
#include "adaopt.h"
#include "../src/internal.h"

enum { MAX_REPS = 64 };

typedef enum { W_SSE42, W_PORTABLE, W_ZLIB, W_MEMCPY } crc_way;

static volatile uint32_t sink_crc;

static double crc_seconds(crc_way way, const unsigned char *buf, unsigned char *copy, size_t n,
                          int reps)
{
    double s[MAX_REPS];
    for (int r = 0; r < reps; r++) {
        double t = now_seconds();
        switch (way) {
        case W_SSE42: sink_crc = adaopt__crc32c(0, buf, n); break;
        case W_PORTABLE: sink_crc = adaopt__crc32c_portable(0, buf, n); break;
        case W_ZLIB: {
            uLong c = crc32(0L, Z_NULL, 0);
            for (size_t off = 0; off < n; off += 1u << 30) /* zlib takes uInt lengths */
                c = crc32(c, buf + off, (uInt)(n - off < (1u << 30) ? n - off : (1u << 30)));
            sink_crc = (uint32_t)c;
            break;
        }
        case W_MEMCPY: memcpy(copy, buf, n); __asm__ volatile("" ::"r"(copy) : "memory"); break;
        }
        s[r] = now_seconds() - t;
    }
    return median(s, reps);
}

typedef enum { P_PROPAGATE, P_SKIP_SCAN, P_SKIP_HINT, P_CLIP_PASS } step_way;

static double step_seconds(step_way way, size_t n, float *p, float *g, int reps)
{
    adaopt_optimizer *opt;
    size_t group;
    if (adaopt_create(ADAOPT_ALGO_ADAM, &opt) != ADAOPT_OK ||
        adaopt_add_group(opt, &n, 1, &group) != ADAOPT_OK ||
        adaopt_set(opt, group, ADAOPT_LR, 1e-6) != ADAOPT_OK ||
        adaopt_set_threads(opt, 1) != ADAOPT_OK ||
        adaopt_set_nonfinite_policy(opt, way == P_PROPAGATE ? ADAOPT_NONFINITE_PROPAGATE
                                                            : ADAOPT_NONFINITE_SKIP) != ADAOPT_OK) {
        adaopt_destroy(opt);
        return -1;
    }
    float *params[1] = {p};
    const float *grads[1] = {g};
    float *mgrads[1] = {g};
    adaopt_step(opt, params, grads, 1);
    double s[MAX_REPS];
    for (int r = 0; r < reps; r++) {
        double t = now_seconds(), norm;
        if (way == P_CLIP_PASS) {
            adaopt_clip_grad_norm(mgrads, &n, 1, 1e30, 2.0, &norm); /* reads, never scales */
        } else {
            if (way == P_SKIP_HINT)
                adaopt_hint_nonfinite(opt, 0);
            adaopt_step(opt, params, grads, 1);
        }
        s[r] = now_seconds() - t;
    }
    adaopt_destroy(opt);
    return median(s, reps);
}

int main(int argc, char **argv)
{
    size_t n = 16u << 20;
    int reps = 11;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--elems") == 0 && i + 1 < argc) {
            n = (size_t)strtoull(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
            reps = atoi(argv[++i]);
        } else {
            fprintf(stderr, "usage: %s [--elems N] [--reps R]\n", argv[0]);
            return 2;
        }
    }
    if (n == 0 || reps < 1 || reps > MAX_REPS) {
        fprintf(stderr, "%s: need --elems > 0 and --reps in 1..%d\n", argv[0], MAX_REPS);
        return 2;
    }
    size_t bytes = n * 4 * 2; /* the size of an Adam state of n elements */
    size_t fbytes = (n * 4 + 63) / 64 * 64;
    float *p = aligned_alloc(64, fbytes), *g = aligned_alloc(64, fbytes);
    unsigned char *buf = malloc(bytes), *copy = malloc(bytes + 4096);
    if (p == NULL || g == NULL || buf == NULL || copy == NULL) {
        fprintf(stderr, "%s: out of memory for %zu elements\n", argv[0], n);
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        p[i] = (float)((i * 2654435761u) % 1000) * 1e-3f;
        g[i] = (float)((i * 40503u) % 997) * 1e-3f - 0.5f;
    }
    for (size_t i = 0; i < bytes; i++)
        buf[i] = (unsigned char)(i * 131u + (i >> 9));

    printf("1. checksums over %.0f MiB (median of %d)\n", bytes / 1048576.0, reps);
    double tm = crc_seconds(W_MEMCPY, buf, copy, bytes, reps);
    static const char *names[] = {"crc32c sse4.2", "crc32c table", "zlib crc32", "memcpy"};
    for (int w = W_SSE42; w <= W_MEMCPY; w++) {
        double t = w == W_MEMCPY ? tm : crc_seconds((crc_way)w, buf, copy, bytes, reps);
        printf("   %-14s %7.2f GB/s   %6.2fx memcpy's time\n", names[w], bytes / t * 1e-9,
               t / tm);
    }

    printf("2. checkpoint of an Adam state of %zu elements to memory\n", n);
    {
        adaopt_optimizer *opt;
        size_t group;
        float *params[1] = {p};
        const float *grads[1] = {g};
        if (adaopt_create(ADAOPT_ALGO_ADAM, &opt) == ADAOPT_OK &&
            adaopt_add_group(opt, &n, 1, &group) == ADAOPT_OK &&
            adaopt_step(opt, params, grads, 1) == ADAOPT_OK) {
            size_t size = adaopt_checkpoint_size(opt), written;
            unsigned char *ck = malloc(size);
            double ss[MAX_REPS], sl[MAX_REPS];
            for (int r = 0; r < reps && ck != NULL; r++) {
                double t = now_seconds();
                adaopt_save_buffer(opt, ck, size, &written);
                ss[r] = now_seconds() - t;
                t = now_seconds();
                adaopt_load_buffer(opt, ck, size);
                sl[r] = now_seconds() - t;
            }
            if (ck != NULL) {
                double ts = median(ss, reps), tl = median(sl, reps);
                printf("   save %7.2f ms (%5.2f GB/s, %5.2fx memcpy)   load %7.2f ms (%5.2f GB/s, "
                       "%5.2fx memcpy)\n", ts * 1e3, size / ts * 1e-9, ts / tm * bytes / size,
                       tl * 1e3, size / tl * 1e-9, tl / tm * bytes / size);
            }
            free(ck);
        }
        adaopt_destroy(opt);
    }

    printf("3. one Adam step over %zu elements, 1 thread\n", n);
    double prop = step_seconds(P_PROPAGATE, n, p, g, reps);
    double scan = step_seconds(P_SKIP_SCAN, n, p, g, reps);
    double hint = step_seconds(P_SKIP_HINT, n, p, g, reps);
    double clip = step_seconds(P_CLIP_PASS, n, p, g, reps);
    printf("   propagate (no check)          %7.2f ms   1.00x\n", prop * 1e3);
    printf("   skip, scanning the gradients  %7.2f ms   %.2fx  (the scan's cost)\n", scan * 1e3,
           scan / prop);
    printf("   skip, hinted by a norm pass   %7.2f ms   %.2fx  (no extra cost)\n", hint * 1e3,
           hint / prop);
    printf("   the clip norm pass itself     %7.2f ms   (paid whether or not the policy is on)\n",
           clip * 1e3);

    printf("4. five hyperparameters of two groups set per step (a C trainer's schedule)\n");
    {
        adaopt_optimizer *opt;
        size_t sizes[2] = {1000, 10};
        enum { CALLS = 20000 };
        double sv[MAX_REPS], so[MAX_REPS];
        if (adaopt_create(ADAOPT_ALGO_ADAMW, &opt) == ADAOPT_OK &&
            adaopt_add_group(opt, sizes, 1, NULL) == ADAOPT_OK &&
            adaopt_add_group(opt, sizes + 1, 1, NULL) == ADAOPT_OK) {
            for (int r = 0; r < reps; r++) {
                double t = now_seconds();
                for (int k = 0; k < CALLS; k++) {
                    const adaopt_option_value v[] = {{ADAOPT_LR, 1e-4 + k * 1e-12},
                                                     {ADAOPT_BETA1, 0.9}, {ADAOPT_BETA2, 0.95},
                                                     {ADAOPT_EPS, 1e-8},
                                                     {ADAOPT_WEIGHT_DECAY, 0.1}};
                    adaopt_set_values(opt, ADAOPT_ALL_GROUPS, v, 5);
                }
                sv[r] = (now_seconds() - t) / CALLS;
                t = now_seconds();
                for (int k = 0; k < CALLS; k++) {
                    char text[128];
                    snprintf(text, sizeof text, "lr=%.17g, betas=0.9,0.95, eps=1e-8, "
                             "weight_decay=0.1", 1e-4 + k * 1e-12);
                    adaopt_set_options(opt, ADAOPT_ALL_GROUPS, text);
                }
                so[r] = (now_seconds() - t) / CALLS;
            }
            printf("   adaopt_set_values             %7.3f us\n", median(sv, reps) * 1e6);
            printf("   snprintf + adaopt_set_options %7.3f us\n", median(so, reps) * 1e6);
        }
        adaopt_destroy(opt);
    }
    free(p);
    free(g);
    free(buf);
    free(copy);
    return 0;
}
