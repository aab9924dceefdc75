/*
 * test_muon.c -- Muon: the closed form of a one-row matrix (its Newton-Schulz iteration is a
 * polynomial of its one singular value), a double-precision transcription of torch.optim.Muon
 * on rectangular matrices both ways round, the same bits on every ISA and on 1 and 3 threads, exact
 * resume through a checkpoint, bf16 parameters through master weights (nearest and stochastic
 * rounding), and bf16 and 8-bit momentum, and every refusal (no 2-D shape, ns_steps 100, sparse gradients)
 * with nothing written.  (Against torch.optim.Muon itself:
 * tests/python/test_torch.py under torch >= 2.9.)
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "helpers.h"

static const double A = 3.4445, B = -4.7750, C = 2.0315;

static float value(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return (float)((int32_t)(*s >> 8) - (1 << 23)) / (float)(1 << 23);
}

static adaopt_optimizer *matrix(size_t rows, size_t cols, adaopt_isa isa, size_t threads)
{
    adaopt_optimizer *opt = one_tensor(ADAOPT_ALGO_MUON, rows * cols);
    size_t dims[2] = {rows, cols};
    assert_int_equal(adaopt_set_shape(opt, 0, dims, 2), ADAOPT_OK);
    assert_int_equal(adaopt_set_isa(opt, isa), ADAOPT_OK);
    assert_int_equal(adaopt_set_threads(opt, threads), ADAOPT_OK);
    return opt;
}

/* A 1 x n matrix: X = u / |u|, then sigma <- a sigma + b sigma^3 + c sigma^5 from 1, five times;
 * u is proportional to g on the first step (nesterov: g + 0.95 (0.05 g - g)). */
static void one_row_closed_form(void **unused)
{
    (void)unused;
    enum { N = 37 };
    adaopt_optimizer *opt = matrix(1, N, ADAOPT_ISA_AUTO, 1);
    float p[N], g[N];
    double norm = 0.0;
    for (int i = 0; i < N; i++) {
        p[i] = 0.5f + 0.01f * (float)i;
        g[i] = (float)((i % 7) - 3) * 0.25f + 0.1f;
        norm += (double)g[i] * g[i];
    }
    norm = sqrt(norm);
    double sigma = 1.0;
    for (int s = 0; s < 5; s++)
        sigma = A * sigma + B * pow(sigma, 3) + C * pow(sigma, 5);
    float p0[N];
    memcpy(p0, p, sizeof p);
    step_ok(opt, p, g);
    for (int i = 0; i < N; i++) { /* lr 1e-3, wd 0.1; adjust: sqrt(max(1, 1/37)) = 1 */
        double want = p0[i] * (1.0 - 1e-3 * 0.1) - 1e-3 * sigma * g[i] / norm;
        assert_close(p[i], want, 1e-5);
    }
    float lr[N];
    assert_int_equal(adaopt_effective_lr(opt, 0, lr, N), ADAOPT_OK);
    assert_close(lr[0], 1e-3, 1e-6);
    adaopt_destroy(opt);
}

/* torch.optim.Muon's single-tensor step in double: the reference for float32's iteration. */
static void reference_step(double *p, double *buf, const float *g, size_t rows, size_t cols,
                           double lr, double wd, int adjust)
{
    size_t m = rows < cols ? rows : cols, n = rows < cols ? cols : rows, mn = m * n;
    double *X = malloc(mn * sizeof *X), *Y = malloc(mn * sizeof *Y);
    double *G = malloc(m * m * sizeof *G), *S = malloc(m * m * sizeof *S);
    assert_true(X && Y && G && S);
    double sq = 0.0;
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++) {
            size_t e = r * cols + c;
            buf[e] += (g[e] - buf[e]) * 0.05;         /* buf.lerp_(grad, 1 - momentum) */
            double u = g[e] + (buf[e] - g[e]) * 0.95; /* grad.lerp(buf, momentum) */
            X[rows <= cols ? e : c * rows + r] = u;
            sq += u * u;
        }
    double norm = sqrt(sq) > 1e-7 ? sqrt(sq) : 1e-7;
    for (size_t e = 0; e < mn; e++)
        X[e] /= norm;
    for (int s = 0; s < 5; s++) {
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < m; j++) {
                double acc = 0.0;
                for (size_t k = 0; k < n; k++)
                    acc += X[i * n + k] * X[j * n + k];
                G[i * m + j] = acc;
            }
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < m; j++) {
                double acc = 0.0;
                for (size_t k = 0; k < m; k++)
                    acc += G[i * m + k] * G[k * m + j];
                S[i * m + j] = B * G[i * m + j] + C * acc;
            }
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < n; j++) {
                double acc = 0.0;
                for (size_t k = 0; k < m; k++)
                    acc += S[i * m + k] * X[k * n + j];
                Y[i * n + j] = A * X[i * n + j] + acc;
            }
        memcpy(X, Y, mn * sizeof *X);
    }
    double ratio = (double)rows / (double)cols;
    double adj = adjust == ADAOPT_ADJUST_MATCH_RMS_ADAMW
                     ? 0.2 * sqrt((double)(rows > cols ? rows : cols))
                     : sqrt(ratio > 1.0 ? ratio : 1.0);
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++) {
            size_t e = r * cols + c;
            double o = X[rows <= cols ? e : c * rows + r];
            p[e] = p[e] * (1.0 - lr * wd) - lr * adj * o;
        }
    free(X);
    free(Y);
    free(G);
    free(S);
}

static void matches_double_reference(void **unused)
{
    (void)unused;
    static const size_t shapes[][2] = {{70, 33}, {33, 70}, {65, 65}, {300, 9}};
    for (size_t k = 0; k < 4; k++) {
        size_t rows = shapes[k][0], cols = shapes[k][1], n = rows * cols;
        int adjust = k == 1 ? ADAOPT_ADJUST_MATCH_RMS_ADAMW : ADAOPT_ADJUST_ORIGINAL;
        adaopt_optimizer *opt = matrix(rows, cols, ADAOPT_ISA_AUTO, 2);
        set_ok(opt, ADAOPT_LR, 0.02);
        set_ok(opt, ADAOPT_ADJUST_LR_FN, adjust);
        float *p = malloc(n * sizeof *p), *g = malloc(n * sizeof *g);
        double *pd = malloc(n * sizeof *pd), *buf = calloc(n, sizeof *buf);
        assert_true(p && g && pd && buf);
        uint32_t s = 11u + (uint32_t)k;
        for (size_t e = 0; e < n; e++)
            pd[e] = p[e] = value(&s);
        double worst = 0.0, scale = 0.0;
        for (int step = 0; step < 10; step++) {
            for (size_t e = 0; e < n; e++)
                g[e] = value(&s);
            step_ok(opt, p, g);
            reference_step(pd, buf, g, rows, cols, 0.02, 0.1, adjust);
            for (size_t e = 0; e < n; e++) {
                worst = fmax(worst, fabs(p[e] - pd[e]));
                scale = fmax(scale, fabs(pd[e]));
            }
        }
        if (!(worst <= 1e-5 * scale))
            fail_msg("%zu x %zu: %g off a double transcription (scale %g)", rows, cols, worst,
                     scale);
        free(p);
        free(g);
        free(pd);
        free(buf);
        adaopt_destroy(opt);
    }
}

/* Every ISA and thread count: the bits of the scalar kernels on one thread. */
static void same_bits_everywhere(void **unused)
{
    (void)unused;
    enum { R = 200, CO = 130, N = R * CO, STEPS = 2 }; /* (large enough for threads) */
    static const adaopt_isa isas[] = {ADAOPT_ISA_SCALAR, ADAOPT_ISA_AVX2, ADAOPT_ISA_AVX512,
                                      ADAOPT_ISA_NEON};
    float *ref = malloc(N * sizeof *ref), *p = malloc(N * sizeof *p), *g = malloc(N * sizeof *g);
    assert_true(ref && p && g);
    for (int both = 0; both < 2; both++) { /* (both: the matrix transposed) */
        size_t rows = both ? CO : R, cols = both ? R : CO;
        int have_ref = 0;
        for (size_t k = 0; k < 4; k++) {
            if (!adaopt_isa_supported(isas[k]))
                continue;
            for (size_t threads = 1; threads <= 3; threads += 2) {
                adaopt_optimizer *opt = matrix(rows, cols, isas[k], threads);
                uint32_t s = 5;
                for (size_t e = 0; e < N; e++)
                    p[e] = value(&s);
                for (int step = 0; step < STEPS; step++) {
                    for (size_t e = 0; e < N; e++)
                        g[e] = value(&s) * (step == 1 && e % 31 == 0 ? 1e30f : 1.0f);
                    step_ok(opt, p, g);
                }
                if (!have_ref) {
                    memcpy(ref, p, N * sizeof *p);
                    have_ref = 1;
                } else if (memcmp(ref, p, N * sizeof *p) != 0) {
                    fail_msg("%zu x %zu on %s with %zu threads differs from the scalar kernels",
                             rows, cols, adaopt_isa_name(isas[k]), threads);
                }
                adaopt_destroy(opt);
            }
        }
    }
    free(ref);
    free(p);
    free(g);
}

static void resumes_exactly(void **unused)
{
    (void)unused;
    enum { R = 20, CO = 12, N = R * CO };
    adaopt_optimizer *a = matrix(R, CO, ADAOPT_ISA_AUTO, 1), *b = matrix(R, CO, ADAOPT_ISA_AUTO, 1);
    set_ok(a, ADAOPT_NESTEROV, 0);
    set_ok(a, ADAOPT_NS_STEPS, 3);
    float p[N], q[N], g[N];
    uint32_t s = 3;
    for (size_t e = 0; e < N; e++)
        p[e] = value(&s);
    for (int step = 0; step < 4; step++) {
        for (size_t e = 0; e < N; e++)
            g[e] = value(&s);
        step_ok(a, p, g);
    }
    size_t n = adaopt_checkpoint_size(a), used;
    unsigned char *buf = malloc(n);
    assert_non_null(buf);
    assert_int_equal(adaopt_save_buffer(a, buf, n, &used), ADAOPT_OK);
    assert_int_equal(adaopt_load_buffer(b, buf, used), ADAOPT_OK); /* (b's shape set: its own) */
    free(buf);
    double v;
    assert_int_equal(adaopt_get(b, 0, ADAOPT_NS_STEPS, &v), ADAOPT_OK);
    assert_true(v == 3);
    memcpy(q, p, sizeof p);
    for (int step = 0; step < 3; step++) {
        for (size_t e = 0; e < N; e++)
            g[e] = value(&s);
        step_ok(a, p, g);
        step_ok(b, q, g);
    }
    assert_memory_equal(p, q, sizeof p);
    adaopt_destroy(a);
    adaopt_destroy(b);
}

static void refusals_change_nothing(void **unused)
{
    (void)unused;
    float p[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, g[12] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
                                                                     1, 1};
    float keep[12];
    memcpy(keep, p, sizeof p);
    float *params[1] = {p};
    const float *grads[1] = {g};

    adaopt_optimizer *opt = one_tensor(ADAOPT_ALGO_MUON, 12); /* no shape */
    assert_int_equal(adaopt_step(opt, params, grads, 1), ADAOPT_ERR_CONFLICT);
    assert_non_null(strstr(adaopt_last_error(opt), "2-D shape"));
    size_t three[3] = {2, 3, 2};
    assert_int_equal(adaopt_set_shape(opt, 0, three, 3), ADAOPT_OK); /* (not a matrix) */
    assert_int_equal(adaopt_step(opt, params, grads, 1), ADAOPT_ERR_CONFLICT);
    assert_memory_equal(p, keep, sizeof p);
    assert_int_equal(adaopt_steps_taken(opt), 0);
    assert_int_equal(adaopt_set(opt, 0, ADAOPT_NS_STEPS, 100), ADAOPT_ERR_VALUE);
    assert_int_equal(adaopt_set(opt, 0, ADAOPT_ADJUST_LR_FN, 3), ADAOPT_ERR_VALUE);
    assert_int_equal(adaopt_set_options(opt, 0, "adjust_lr_fn=match_rms_adamw, ns_steps=4"),
                     ADAOPT_OK);
    double v;
    assert_int_equal(adaopt_get(opt, 0, ADAOPT_ADJUST_LR_FN, &v), ADAOPT_OK);
    assert_true(v == ADAOPT_ADJUST_MATCH_RMS_ADAMW);
    size_t two[2] = {3, 4};
    assert_int_equal(adaopt_set_shape(opt, 0, two, 2), ADAOPT_OK);
    int64_t rows[1] = {0};
    adaopt_sparse_grad sg = {rows, 1, g, 4};
    assert_int_equal(adaopt_reserve_sparse(opt, 1, 4, 3), ADAOPT_OK);
    const float *none[1] = {NULL};
    assert_int_equal(adaopt_step_sparse(opt, params, none, &sg, 1), ADAOPT_ERR_CONFLICT);
    assert_memory_equal(p, keep, sizeof p);
    assert_int_equal(adaopt_step(opt, params, grads, 1), ADAOPT_OK);
    adaopt_destroy(opt);
}

static uint16_t to_bf16(float x) /* nearest-even (finite x) */
{
    uint32_t b;
    memcpy(&b, &x, 4);
    return (uint16_t)((b + 0x7fffu + ((b >> 16) & 1u)) >> 16);
}

static float from_bf16(uint16_t h)
{
    uint32_t b = (uint32_t)h << 16;
    float x;
    memcpy(&x, &b, 4);
    return x;
}

/* A Muon optimizer of one rows x cols bf16 matrix, its parameters updated as `update` says. */
static adaopt_optimizer *bf16_matrix(size_t rows, size_t cols, int update)
{
    adaopt_optimizer *b = NULL;
    size_t numel = rows * cols, group, dims[2] = {rows, cols};
    assert_int_equal(adaopt_create(ADAOPT_ALGO_MUON, &b), ADAOPT_OK);
    assert_int_equal(adaopt_add_group_typed(b, &numel, 1, ADAOPT_DTYPE_BF16, ADAOPT_DTYPE_BF16,
                                            &group), ADAOPT_OK);
    assert_int_equal(adaopt_set_shape(b, 0, dims, 2), ADAOPT_OK);
    set_ok(b, ADAOPT_PARAM_UPDATE, update);
    return b;
}

/* bf16 parameters: with master weights the master has the float32 run's bits (fed the same
 * gradients) and the parameter is its nearest bf16; with stochastic rounding it is one of the
 * two bf16 neighbours of the float32 result, the same on every ISA and thread count. */
static void bf16_parameters(void **unused)
{
    (void)unused;
    enum { R = 24, CO = 40, N = R * CO };
    static float p32[N], g32[N];
    static uint16_t p16[N], g16[N], sr_ref[N];
    for (int mode = 0; mode < 2; mode++) { /* master (nearest), then master + SR */
        adaopt_optimizer *f = matrix(R, CO, ADAOPT_ISA_AUTO, 1);
        adaopt_optimizer *b = bf16_matrix(R, CO, mode ? ADAOPT_UPDATE_MASTER_SR
                                                       : ADAOPT_UPDATE_MASTER);
        uint32_t s = 9;
        for (size_t e = 0; e < N; e++) {
            p16[e] = to_bf16(value(&s));
            p32[e] = from_bf16(p16[e]);
        }
        void *pp[1] = {p16};
        const void *gp[1] = {g16};
        for (int step = 0; step < 4; step++) {
            for (size_t e = 0; e < N; e++) {
                g16[e] = to_bf16(value(&s));
                g32[e] = from_bf16(g16[e]);
            }
            step_ok(f, p32, g32);
            assert_int_equal(adaopt_step_typed(b, pp, gp, 1), ADAOPT_OK);
        }
        const float *master;
        assert_int_equal(adaopt_state(b, 0, ADAOPT_STATE_MASTER, &master, NULL), ADAOPT_OK);
        assert_memory_equal(master, p32, sizeof p32);
        for (size_t e = 0; e < N; e++) {
            if (mode == 0) {
                assert_int_equal(p16[e], to_bf16(p32[e]));
            } else { /* one of the two neighbours */
                uint16_t lo = to_bf16(p32[e]);
                if (!(p16[e] == lo || p16[e] == lo + 1 || p16[e] == lo - 1))
                    fail_msg("element %zu: %04x is no bf16 neighbour of %g", e, p16[e], p32[e]);
            }
        }
        if (mode == 1)
            memcpy(sr_ref, p16, sizeof p16);
        adaopt_destroy(f);
        adaopt_destroy(b);
    }
    /* SR: the same bits with 3 threads and the scalar kernels */
    adaopt_optimizer *b = bf16_matrix(R, CO, ADAOPT_UPDATE_MASTER_SR);
    assert_int_equal(adaopt_set_isa(b, ADAOPT_ISA_SCALAR), ADAOPT_OK);
    assert_int_equal(adaopt_set_threads(b, 3), ADAOPT_OK);
    uint32_t s = 9;
    for (size_t e = 0; e < N; e++)
        p16[e] = to_bf16(value(&s));
    void *pp[1] = {p16};
    const void *gp[1] = {g16};
    for (int step = 0; step < 4; step++) {
        for (size_t e = 0; e < N; e++)
            g16[e] = to_bf16(value(&s));
        assert_int_equal(adaopt_step_typed(b, pp, gp, 1), ADAOPT_OK);
    }
    assert_memory_equal(p16, sr_ref, sizeof p16);
    adaopt_destroy(b);
}

/* use_muon 0 groups step by AdamW: the bits of adaopt's AdamW on the same tensors (torch 2.x's
 * rounding), their own state kinds, in one optimizer with a Muon group (MuonWithAuxAdam). */
static void adamw_groups(void **unused)
{
    (void)unused;
    enum { R = 16, CO = 12, N = R * CO, V0 = 37, V1 = 5 };
    size_t mat = N, vecs[2] = {V0, V1}, group, dims[2] = {R, CO};
    adaopt_optimizer *both, *ref;
    assert_int_equal(adaopt_create(ADAOPT_ALGO_MUON, &both), ADAOPT_OK);
    assert_int_equal(adaopt_add_group(both, &mat, 1, &group), ADAOPT_OK);
    assert_int_equal(adaopt_add_group(both, vecs, 2, &group), ADAOPT_OK);
    assert_int_equal(adaopt_set_shape(both, 0, dims, 2), ADAOPT_OK);
    assert_int_equal(adaopt_set_options(both, 1, "use_muon=0, lr=3e-3, betas=0.9,0.999, "
                                                 "eps=1e-8, weight_decay=0.01"), ADAOPT_OK);
    assert_int_equal(adaopt_create(ADAOPT_ALGO_ADAMW, &ref), ADAOPT_OK);
    assert_int_equal(adaopt_add_group(ref, vecs, 2, &group), ADAOPT_OK);
    assert_int_equal(adaopt_set_options(ref, 0, "lr=3e-3, weight_decay=0.01"), ADAOPT_OK);
    static float pm[N], gm[N], pv[V0 + V1], gv[V0 + V1], rv[V0 + V1];
    uint32_t s = 21;
    for (size_t e = 0; e < N; e++)
        pm[e] = value(&s);
    for (size_t e = 0; e < V0 + V1; e++)
        pv[e] = rv[e] = value(&s);
    float *bp[3] = {pm, pv, pv + V0}, *rp[2] = {rv, rv + V0};
    const float *bg[3] = {gm, gv, gv + V0}, *rg[2] = {gv, gv + V0};
    for (int step = 0; step < 5; step++) {
        for (size_t e = 0; e < N; e++)
            gm[e] = value(&s);
        for (size_t e = 0; e < V0 + V1; e++)
            gv[e] = value(&s);
        assert_int_equal(adaopt_step(both, bp, bg, 3), ADAOPT_OK);
        assert_int_equal(adaopt_step(ref, rp, rg, 2), ADAOPT_OK);
    }
    assert_memory_equal(pv, rv, sizeof pv);
    const float *a, *b;
    size_t na, nb;
    assert_int_equal(adaopt_state(both, 1, ADAOPT_STATE_EXP_AVG_SQ, &a, &na), ADAOPT_OK);
    assert_int_equal(adaopt_state(ref, 0, ADAOPT_STATE_EXP_AVG_SQ, &b, &nb), ADAOPT_OK);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, na * sizeof *a);
    assert_int_equal(adaopt_state(both, 1, ADAOPT_STATE_MOMENTUM_BUFFER, &a, &na),
                     ADAOPT_ERR_STATE);
    assert_int_equal(adaopt_state(both, 0, ADAOPT_STATE_EXP_AVG, &a, &na), ADAOPT_ERR_STATE);
    assert_int_equal(adaopt_state(both, 0, ADAOPT_STATE_MOMENTUM_BUFFER, &a, &na), ADAOPT_OK);
    float la[V0], lb[V0];
    assert_int_equal(adaopt_effective_lr(both, 1, la, V0), ADAOPT_OK);
    assert_int_equal(adaopt_effective_lr(ref, 0, lb, V0), ADAOPT_OK);
    assert_memory_equal(la, lb, sizeof la);
    /* through a checkpoint, on both kinds of group */
    size_t n = adaopt_checkpoint_size(both), used;
    unsigned char *buf = malloc(n);
    assert_non_null(buf);
    assert_int_equal(adaopt_save_buffer(both, buf, n, &used), ADAOPT_OK);
    adaopt_optimizer *back;
    assert_int_equal(adaopt_create(ADAOPT_ALGO_MUON, &back), ADAOPT_OK);
    assert_int_equal(adaopt_add_group(back, &mat, 1, &group), ADAOPT_OK);
    assert_int_equal(adaopt_add_group(back, vecs, 2, &group), ADAOPT_OK);
    assert_int_equal(adaopt_set_shape(back, 0, dims, 2), ADAOPT_OK);
    assert_int_equal(adaopt_load_buffer(back, buf, used), ADAOPT_OK);
    free(buf);
    static float qm[N], qv[V0 + V1];
    memcpy(qm, pm, sizeof pm);
    memcpy(qv, pv, sizeof pv);
    float *qp[3] = {qm, qv, qv + V0};
    for (int step = 0; step < 2; step++) {
        for (size_t e = 0; e < N; e++)
            gm[e] = value(&s);
        for (size_t e = 0; e < V0 + V1; e++)
            gv[e] = value(&s);
        assert_int_equal(adaopt_step(both, bp, bg, 3), ADAOPT_OK);
        assert_int_equal(adaopt_step(back, qp, bg, 3), ADAOPT_OK);
    }
    assert_memory_equal(pm, qm, sizeof pm);
    assert_memory_equal(pv, qv, sizeof pv);
    adaopt_destroy(both);
    adaopt_destroy(ref);
    adaopt_destroy(back);
}

/* bf16 momentum: a float32 run whose momentum is rounded to bf16 after every step (through
 * adaopt_set_state) has the same bits; 8-bit momentum stays near the float32 run. */
static void packed_momentum(void **unused)
{
    (void)unused;
    enum { R = 40, CO = 30, N = R * CO };
    static float p[N], q[N], g[N], r8[N];
    for (int mode = 0; mode < 2; mode++) {
        adaopt_optimizer *ref = matrix(R, CO, ADAOPT_ISA_AUTO, 1);
        adaopt_optimizer *lp = matrix(R, CO, ADAOPT_ISA_AUTO, 2);
        set_ok(lp, ADAOPT_MIN_8BIT_NUMEL, 0);
        set_ok(lp, ADAOPT_STATE_STORAGE, mode ? ADAOPT_STORAGE_8BIT : ADAOPT_STORAGE_BF16);
        uint32_t s = 17;
        for (size_t e = 0; e < N; e++)
            p[e] = q[e] = value(&s);
        for (int step = 0; step < 6; step++) {
            for (size_t e = 0; e < N; e++)
                g[e] = value(&s);
            step_ok(ref, p, g);
            step_ok(lp, q, g);
            if (mode == 0) { /* round the reference's momentum as bf16 storage does */
                const float *b;
                assert_int_equal(adaopt_state(ref, 0, ADAOPT_STATE_MOMENTUM_BUFFER, &b, NULL),
                                 ADAOPT_OK);
                for (size_t e = 0; e < N; e++)
                    r8[e] = from_bf16(to_bf16(b[e]));
                assert_int_equal(adaopt_set_state(ref, 0, ADAOPT_STATE_MOMENTUM_BUFFER, r8, N),
                                 ADAOPT_OK);
                assert_memory_equal(p, q, sizeof p);
                const float *lb;
                assert_int_equal(adaopt_state(lp, 0, ADAOPT_STATE_MOMENTUM_BUFFER, &lb, NULL),
                                 ADAOPT_OK);
                assert_memory_equal(lb, r8, sizeof r8);
            }
        }
        if (mode == 1) {
            double worst = 0.0;
            for (size_t e = 0; e < N; e++)
                worst = fmax(worst, fabs(p[e] - q[e]));
            if (!(worst < 2e-3)) /* (lr 1e-3 a step: the codes move the update a little) */
                fail_msg("8-bit momentum: %g off the float32 run", worst);
            size_t n = adaopt_state_bytes(lp), nf = adaopt_state_bytes(ref);
            assert_true(n < nf / 3); /* (1 byte a momentum element and a float per block) */
        }
        adaopt_destroy(ref);
        adaopt_destroy(lp);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(one_row_closed_form),
        cmocka_unit_test(matches_double_reference),
        cmocka_unit_test(same_bits_everywhere),
        cmocka_unit_test(resumes_exactly),
        cmocka_unit_test(refusals_change_nothing),
        cmocka_unit_test(bf16_parameters),
        cmocka_unit_test(adamw_groups),
        cmocka_unit_test(packed_momentum),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
