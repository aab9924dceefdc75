/*
 * zero_exchange.c -- what LAMB and Adafactor exchange between the shards during a step: the
 * chunks' (units') sums, and the partial column sums of the matrices that shard boundaries cut.
 */
#include "zero_internal.h"

/* LAMB's and Adafactor's norms across the shards.  The layout puts every shard boundary at a
 * 64K-element chunk start (or Adafactor's unit start) of its tensor, so each rank's pieces are
 * whole chunks (units) of the tensors, as one process cuts them; gathered in rank order, the
 * ranks' sums are every tensor's chunks in order, and each tensor's are added from the first
 * as one process adds them: the same bits. */
int exchange_chunk_sums(void *ctx, const adaopt_optimizer *opt, const double *chunk_sums,
                        double *tensor_sums)
{
    adaopt_zero *z = ctx;
    size_t n = 0, k = 0;
    for (size_t i = 0; i < opt->n_tensors; i++) {
        size_t numel = opt->tensors[i].numel;
        size_t pieces = numel ? (size_t)units_of(z, i, z->piece_begin[i], numel) : 1;
        if (numel > 0)
            for (size_t j = 0; j < pieces; j++, n++) {
                z->chunk_send[2 * n] = chunk_sums[2 * (k + j)];
                z->chunk_send[2 * n + 1] = chunk_sums[2 * (k + j) + 1];
            }
        k += pieces;
    }
    if ((int)(2 * n) != z->chunk_counts[z->rank] ||
        MPI_Allgatherv(z->chunk_send, (int)(2 * n), MPI_DOUBLE, z->chunk_all, z->chunk_counts,
                       z->chunk_displs, MPI_DOUBLE, z->comm) != MPI_SUCCESS)
        return -1;
    for (size_t i = 0; i < z->n_tensors; i++) {
        double sp = 0.0, su = 0.0;
        for (uint64_t c = z->chunk_off[i]; c < z->chunk_off[i + 1]; c++) {
            sp += z->chunk_all[2 * c];
            su += z->chunk_all[2 * c + 1];
        }
        tensor_sums[2 * i] = sp;
        tensor_sums[2 * i + 1] = su;
    }
    return 0;
}

/* The segments [*lo, *hi) of cut matrix c that shard [off, off + len) holds: 0 if none. */
int segments_held(const adaopt_zero *z, size_t c, uint64_t off, uint64_t len, size_t *lo,
                  size_t *hi)
{
    size_t i = z->cut_tensor[c], R = z->fac_rows[i], C = z->fac_cols[i];
    uint64_t m0 = z->tensor_off[i] + z->cut_matrix[c] * R * C, m1 = m0 + (uint64_t)R * C;
    uint64_t a = off > m0 ? off : m0, b = off + len < m1 ? off + len : m1;
    if (b <= a)
        return 0;
    size_t S = adaopt__af_segments(R, C);
    *lo = adaopt__af_segment_of(R, S, (size_t)((a - m0) / C));
    *hi = adaopt__af_segment_of(R, S, (size_t)((b - m0) / C) - 1) + 1;
    return 1;
}

/* This rank's edge of cut matrix c (its piece holds the matrix in part). */
static double *edge_of_cut(const adaopt_zero *z, const adaopt_optimizer *opt, size_t c)
{
    return adaopt__af_edge(&opt->tensors[z->cut_tensor[c]], (size_t)z->cut_matrix[c]);
}

/* Adafactor's column sums across the shards.  A matrix that shard boundaries cut (at segment
 * starts) has its segments on several ranks; each rank sends the partial sums of its segments
 * of every cut matrix, and the ranks that hold part of one take the others' into its edge,
 * where the step adds them in segment order as one process does: the same bits. */
int exchange_edges(void *ctx, adaopt_optimizer *opt)
{
    adaopt_zero *z = ctx;
    if (z->n_cuts == 0)
        return 0;
    size_t n = 0, lo, hi;
    for (size_t c = 0; c < z->n_cuts; c++) {
        if (!segments_held(z, c, z->off, z->len, &lo, &hi))
            continue;
        size_t c1 = z->fac_cols[z->cut_tensor[c]] + 1;
        memcpy(z->edge_send + n, edge_of_cut(z, opt, c) + lo * c1, (hi - lo) * c1 * sizeof(double));
        n += (hi - lo) * c1;
    }
    if ((int)n != z->edge_counts[z->rank] ||
        MPI_Allgatherv(z->edge_send, (int)n, MPI_DOUBLE, z->edge_all, z->edge_counts,
                       z->edge_displs, MPI_DOUBLE, z->comm) != MPI_SUCCESS)
        return -1;
    for (int q = 0; q < z->world; q++) {
        size_t at = (size_t)z->edge_displs[q], mlo, mhi;
        for (size_t c = 0; c < z->n_cuts; c++) {
            if (!segments_held(z, c, z->shard_off[q], z->shard_len[q], &lo, &hi))
                continue;
            size_t c1 = z->fac_cols[z->cut_tensor[c]] + 1;
            if (q != z->rank && segments_held(z, c, z->off, z->len, &mlo, &mhi))
                memcpy(edge_of_cut(z, opt, c) + lo * c1, z->edge_all + at,
                       (hi - lo) * c1 * sizeof(double));
            at += (hi - lo) * c1;
        }
    }
    return 0;
}
