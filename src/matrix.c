/*
 * matrix.c -- C = L R for Muon's Newton-Schulz iteration: row-major float32 matrices, blocked
 * for the caches (panels of NC columns, blocks of MC rows and KC of the inner dimension) over
 * the ISA's tile kernel (kernels: gemm_tile), OpenMP over the (panel, row block) pairs.
 *
 * Every element of C is one chain of fused multiply-adds in the order of the inner index, from
 * 0: blocking only stores and reloads a partial chain (exactly), and a tile of any ISA repeats
 * the scalar chain lane by lane, so a product has the same bits on every ISA, block size and
 * thread count.  Symmetric products (X X^T, and A A for a symmetric A) compute the blocks on or
 * above the diagonal and mirror them: C[i][j] and C[j][i] are the same products in the same
 * order, so the mirror changes no bit.
 */
#include "internal.h"

#ifdef _OPENMP
#include <omp.h>
#endif

enum { MC = 128, NC = 256, KC = 128, MR = 8 }; /* (MR: the tiles' rows at most) */

void adaopt__matmul(const adaopt_optimizer *opt, const float *L, const float *R, float *C,
                    size_t M, size_t K, size_t N, int symmetric)
{
    adaopt_gemm_tile_fn tile = opt->kernels->gemm_tile;
    size_t panels = (N + NC - 1) / NC, blocks = (M + MC - 1) / MC;
    long pairs = (long)(panels * blocks);
    int threads = (int)opt->threads;
    (void)threads;
    if (K == 0) {
        for (size_t e = 0; e < M * N; e++)
            C[e] = 0.0f;
        return;
    }
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads) if (threads > 1 && M * N * K >= (size_t)1 << 21)
#endif
    for (long q = 0; q < pairs; q++) {
        size_t j0 = (size_t)q / blocks * NC, i0 = (size_t)q % blocks * MC;
        size_t nj = N - j0 < NC ? N - j0 : NC, ni = M - i0 < MC ? M - i0 : MC;
        if (symmetric && i0 >= j0 + nj)
            continue; /* wholly below the diagonal: the mirror fills it */
        for (size_t k0 = 0; k0 < K; k0 += KC) {
            size_t nk = K - k0 < KC ? K - k0 : KC;
            for (size_t i = i0; i < i0 + ni; i += MR) {
                size_t mr = i0 + ni - i < MR ? i0 + ni - i : MR;
                tile(L + i * K + k0, K, R + k0 * N + j0, N, C + i * N + j0, N, mr, nj, nk,
                     k0 == 0);
            }
        }
    }
    if (symmetric)
        for (size_t i = 1; i < M; i++)
            for (size_t j = 0; j < i; j++)
                C[i * N + j] = C[j * N + i];
}
