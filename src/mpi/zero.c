/*
 * zero.c -- ZeRO stage 1 over MPI (include/adaopt_mpi.h, docs/ZERO.md).
 *
 * The flattened parameters [0, total) are cut into balanced contiguous shards.  Rank r's local
 * optimizer is an ordinary adaopt optimizer whose tensor i is the part of tensor i inside shard r
 * (often empty), in the same groups, so every algorithm, option and per-tensor scalar (step
 * counts, NAdam's mu product) behaves exactly as in one process.  The local optimizer updates the
 * caller's parameter arrays in place at the shard's positions; the collectives then spread them.
 *
 * With 8-bit state (blocks of 256 elements, each with its absmax) the shard boundaries move down
 * to the start of the block they fall in -- blocks of each tensor, counted from the tensor's
 * first element, as one process counts them -- so that no block is cut (the "aligned" layout,
 * recorded in checkpoints).
 *
 * Collectives go in rounds of at most `round` elements per rank (whatever the model's size, every
 * count and displacement MPI sees stays far below its int limit), so that the buffers they need
 * stay bounded (2 x world x round floats) however large the model: the only memory that grows
 * with the model is the state and the averaged gradient of the shard, both 1/N of it.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../include/adaopt_mpi.h"
#include "../fileio.h"
#include "../algorithms/algorithm.h"
#include "../precision.h"

enum { ROUND_BUDGET = 1 << 22 }; /* floats per collective buffer (16 MiB) */

struct adaopt_zero {
    MPI_Comm comm;
    int world, rank;
    adaopt_algorithm algorithm;
    size_t n_tensors, n_groups;
    size_t *numels, *group_sizes;
    uint64_t *tensor_off;             /* n_tensors + 1 flat offsets */
    uint64_t total, off, len;         /* this rank's shard */
    uint64_t max_len;                 /* the longest shard */
    int aligned;                      /* shard boundaries at 8-bit block starts (1), at
                                         64K-element chunk starts of each tensor (2, LAMB), or
                                         at Adafactor's unit starts (3; chunks in vectors) */
    /* Adafactor: each tensor's matrix shape (rows 0: a vector), by adaopt_zero_set_shape */
    size_t *fac_rows, *fac_cols;
    /* LAMB and Adafactor: the exchange of their chunk (unit) sums (lamb_exchange) */
    int *chunk_counts, *chunk_displs; /* per rank: doubles of its chunk sums */
    uint64_t *chunk_off;              /* n_tensors + 1: each tensor's first chunk, globally */
    double *chunk_send, *chunk_all;
    /* Adafactor: the matrices that shard boundaries cut (tensor, matrix), and the exchange of
     * their segments' partial sums (af_exchange) */
    size_t n_cuts;
    size_t *cut_tensor;
    uint64_t *cut_matrix;
    int *edge_counts, *edge_displs;   /* per rank: doubles of its cut segments */
    double *edge_send, *edge_all;
    size_t *piece_begin, *piece_len;  /* per tensor, within the tensor */
    uint64_t *shard_off, *shard_len;  /* every rank's shard */
    uint64_t round;                   /* elements per rank per collective round */
    uint64_t round_capacity;          /* the largest round the buffers hold */
    int *counts, *displs;             /* per rank, for one round: what each rank's shard holds */
    int *rcounts, *rdispls;           /* per rank: what this rank receives from it */
    float *send, *recv;               /* world * round floats each */
    float *gshard;                    /* len floats: the averaged gradient of the shard */
    double *norm_parts;               /* world: every shard's part of the clipping norm */
    void **lparams;
    const void **lgrads;
    int param_dtype, grad_dtype;      /* adaopt_dtype of every group's parameters, gradients */
    size_t param_bytes;               /* 4 or 2 */
    adaopt_optimizer *local;
    size_t threads;
    double clip_max, clip_type, last_norm;
    int clip_on, reduce_mode, last_skipped;
    char error[256];
};

static adaopt_status fail(adaopt_zero *z, adaopt_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static adaopt_status fail(adaopt_zero *z, adaopt_status st, const char *fmt, ...)
{
    if (z != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(z->error, sizeof z->error, fmt, ap);
        va_end(ap);
    }
    return st;
}

/* Every rank learns the worst status (the highest code) any rank had; a rank that was fine
 * but must fail because another did says so. */
static adaopt_status agree(adaopt_zero *z, adaopt_status mine)
{
    int local[2] = {(int)mine, mine != ADAOPT_OK ? z->rank : -1}, worst[2];
    if (MPI_Allreduce(local, worst, 1, MPI_2INT, MPI_MAXLOC, z->comm) != MPI_SUCCESS)
        return fail(z, ADAOPT_ERR_IO, "MPI_Allreduce failed");
    if (worst[0] != ADAOPT_OK && mine == ADAOPT_OK)
        fail(z, (adaopt_status)worst[0], "rank %d failed with status %d (%s); nothing changed "
             "here", worst[1], worst[0], adaopt_status_name(worst[0]));
    return (adaopt_status)worst[0];
}

/* At the start of a step: agree on the arguments' status, and check that every rank holds the
 * same hyperparameters, policy and clipping (a CRC of them; max of it and of its complement
 * tell whether all ranks' are equal).  A rank that forgot to apply a schedule is caught here,
 * before anything is exchanged or written. */
static adaopt_status agree_step(adaopt_zero *z, adaopt_status mine)
{
    uint32_t crc = 0;
    for (size_t g = 0; g < z->local->n_groups; g++)
        crc = adaopt__crc32c(crc, z->local->groups[g].hp, sizeof z->local->groups[g].hp);
    double extra[3] = {(double)z->local->nonfinite_policy, z->clip_on ? z->clip_max : -1.0,
                       z->clip_on ? z->clip_type : -1.0};
    crc = adaopt__crc32c(crc, extra, sizeof extra);
    crc = adaopt__crc32c(crc, &z->reduce_mode, sizeof z->reduce_mode);
    crc = adaopt__crc32c(crc, &z->round, sizeof z->round);
    crc = adaopt__crc32c(crc, &z->aligned, sizeof z->aligned);
    if (z->fac_rows != NULL) { /* Adafactor's shapes, hence the layout */
        crc = adaopt__crc32c(crc, z->fac_rows, z->n_tensors * sizeof *z->fac_rows);
        crc = adaopt__crc32c(crc, z->fac_cols, z->n_tensors * sizeof *z->fac_cols);
    }
    uint32_t local[4] = {(uint32_t)mine, mine != ADAOPT_OK ? (uint32_t)z->rank + 1 : 0, crc, ~crc};
    uint32_t most[4];
    if (MPI_Allreduce(local, most, 4, MPI_UINT32_T, MPI_MAX, z->comm) != MPI_SUCCESS)
        return fail(z, ADAOPT_ERR_IO, "MPI_Allreduce failed");
    if (most[0] != ADAOPT_OK) {
        if (mine == ADAOPT_OK)
            fail(z, (adaopt_status)most[0], "a rank failed with status %u (%s); nothing changed "
                 "here", most[0], adaopt_status_name((int)most[0]));
        return (adaopt_status)most[0];
    }
    if (most[2] != ~most[3])
        return fail(z, ADAOPT_ERR_CONFLICT, "step: the ranks hold different hyperparameters, "
                    "non-finite policies, clipping, piece limits or shapes (every rank must set "
                    "the same); nothing changed");
    return ADAOPT_OK;
}

void adaopt_zero_shard_range(uint64_t total, int world, int rank, uint64_t *offset,
                             uint64_t *length)
{
    uint64_t w = world > 0 ? (uint64_t)world : 1, r = rank > 0 ? (uint64_t)rank : 0;
    uint64_t base = total / w, extra = total % w;
    if (offset != NULL)
        *offset = r * base + (r < extra ? r : extra);
    if (length != NULL)
        *length = r < w ? base + (r < extra ? 1 : 0) : 0;
}

/* The part of tensor i inside [off, off + len), for the layout of z. */
static void piece_of(const adaopt_zero *z, size_t i, uint64_t off, uint64_t len, size_t *begin,
                     size_t *count)
{
    uint64_t a = z->tensor_off[i], b = z->tensor_off[i + 1];
    uint64_t lo = off > a ? off : a, hi = off + len < b ? off + len : b;
    *begin = hi > lo ? (size_t)(lo - a) : 0;
    *count = hi > lo ? (size_t)(hi - lo) : 0;
}

/* The tensor that holds flat element x < total (the last one starting at or before it). */
static size_t tensor_at(const adaopt_zero *z, uint64_t x)
{
    size_t lo = 0, hi = z->n_tensors;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (z->tensor_off[mid] <= x)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

/* Shard r's first element: the balanced split's, moved down (aligned) to the start of the
 * 256-element block (aligned 1) or 64K-element chunk (2) of the tensor it falls in, or to the
 * start of the Adafactor unit it falls in (3; chunks in vectors).  Monotone in r, so shards
 * never overlap. */
static uint64_t boundary(const adaopt_zero *z, uint64_t total, int world, int r, int aligned)
{
    uint64_t granule = aligned >= 2 ? ADAOPT_CHUNK_ELEMS : ADAOPT__BLOCK;
    uint64_t off;
    if (r >= world)
        return total;
    adaopt_zero_shard_range(total, world, r, &off, NULL);
    if (!aligned || off == 0 || off >= total)
        return off;
    size_t lo = tensor_at(z, off);
    uint64_t a = z->tensor_off[lo];
    if (aligned == 3 && z->fac_rows[lo] > 0) { /* an Adafactor matrix: its unit's first row */
        size_t R = z->fac_rows[lo], C = z->fac_cols[lo];
        return a + (uint64_t)adaopt__af_unit_start(R, C, (size_t)((off - a) / C)) * C;
    }
    return a + (off - a) / granule * granule;
}

static void shard_range(const adaopt_zero *z, uint64_t total, int world, int r, int aligned,
                        uint64_t *off, uint64_t *len)
{
    uint64_t a = boundary(z, total, world, r, aligned);
    *off = a;
    *len = boundary(z, total, world, r + 1, aligned) - a;
}

static uint64_t chunks_of(uint64_t n)
{
    return n / ADAOPT_CHUNK_ELEMS + (n % ADAOPT_CHUNK_ELEMS != 0);
}

/* The sums a piece [begin, begin + count) of tensor i keeps: its chunks, or an Adafactor
 * matrix's units (the layout puts every piece's ends on them). */
static uint64_t units_of(const adaopt_zero *z, size_t i, uint64_t begin, uint64_t count)
{
    if (count > 0 && z->fac_rows != NULL && z->fac_rows[i] > 0)
        return adaopt__af_count_units(z->fac_rows[i], z->fac_cols[i],
                                      (size_t)(begin / z->fac_cols[i]),
                                      (size_t)(count / z->fac_cols[i]));
    return chunks_of(count);
}

/* LAMB's and Adafactor's norms across the shards.  The layout puts every shard boundary at a
 * 64K-element chunk start (or Adafactor's unit start) of its tensor, so each rank's pieces are
 * whole chunks (units) of the tensors, as one process cuts them; gathered in rank order, the
 * ranks' sums are every tensor's chunks in order, and each tensor's are added from the first
 * as one process adds them: the same bits. */
static int lamb_exchange(void *ctx, const adaopt_optimizer *opt, const double *chunk_sums,
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
static int segments_held(const adaopt_zero *z, size_t c, uint64_t off, uint64_t len, size_t *lo,
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
static int af_exchange(void *ctx, adaopt_optimizer *opt)
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

/* An optimizer over the pieces of shard [off, off + len), in z's groups. */
static adaopt_status make_local(adaopt_zero *z, uint64_t off, uint64_t len, adaopt_optimizer **out)
{
    adaopt_optimizer *opt;
    adaopt_status st = adaopt_create(z->algorithm, &opt);
    if (st != ADAOPT_OK)
        return st;
    size_t *sizes = adaopt__malloc_array(z->n_tensors, sizeof *sizes), begin, group;
    if (sizes == NULL) {
        adaopt_destroy(opt);
        return ADAOPT_ERR_ALLOC;
    }
    for (size_t i = 0; i < z->n_tensors; i++)
        piece_of(z, i, off, len, &begin, &sizes[i]);
    size_t first = 0;
    for (size_t g = 0; g < z->n_groups && st == ADAOPT_OK; g++) {
        /* the shard steps with the averaged gradient, which is float32 whatever was sent */
        st = adaopt_add_group_typed(opt, sizes + first, z->group_sizes[g],
                                    (adaopt_dtype)z->param_dtype, ADAOPT_DTYPE_F32, &group);
        first += z->group_sizes[g];
    }
    free(sizes);
    if (st != ADAOPT_OK) {
        adaopt_destroy(opt);
        return st;
    }
    for (size_t i = 0; i < z->n_tensors; i++) { /* stochastic rounding: the whole tensor's index */
        size_t count;
        piece_of(z, i, off, len, &begin, &count);
        opt->tensors[i].noise_base = begin;
        opt->tensors[i].storage_numel = z->numels[i]; /* 8-bit or not: as the whole tensor */
    }
    enum adaopt__shard shard = adaopt__algo(z->algorithm)->shard;
    if (shard != ADAOPT__SHARD_ELEMENTS) {
        opt->lamb_exchange = lamb_exchange; /* the norms: every shard's chunks of a tensor */
        opt->lamb_ctx = z;
    }
    if (shard == ADAOPT__SHARD_UNITS) { /* the matrices' pieces, and their edges */
        opt->af_exchange = af_exchange;
        for (size_t i = 0; i < z->n_tensors && st == ADAOPT_OK; i++) {
            size_t count;
            piece_of(z, i, off, len, &begin, &count);
            if (count > 0 && z->fac_rows[i] > 0)
                st = adaopt__af_set_piece(opt, i, z->fac_rows[i], z->fac_cols[i],
                                          begin / z->fac_cols[i]);
        }
        if (st != ADAOPT_OK) {
            adaopt_destroy(opt);
            return st;
        }
    }
    *out = opt;
    return ADAOPT_OK;
}

void adaopt_zero_destroy(adaopt_zero *z)
{
    if (z == NULL)
        return;
    adaopt_destroy(z->local);
    if (z->comm != MPI_COMM_NULL)
        MPI_Comm_free(&z->comm);
    free(z->numels);
    free(z->group_sizes);
    free(z->tensor_off);
    free(z->piece_begin);
    free(z->piece_len);
    free(z->shard_off);
    free(z->shard_len);
    free(z->counts);
    free(z->displs);
    free(z->rcounts);
    free(z->rdispls);
    adaopt__free_state(z->send);
    adaopt__free_state(z->recv);
    adaopt__free_state(z->gshard);
    free(z->norm_parts);
    free(z->lparams);
    free(z->lgrads);
    free(z->chunk_counts);
    free(z->chunk_displs);
    free(z->chunk_off);
    free(z->chunk_send);
    free(z->chunk_all);
    free(z->fac_rows);
    free(z->fac_cols);
    free(z->cut_tensor);
    free(z->cut_matrix);
    free(z->edge_counts);
    free(z->edge_displs);
    free(z->edge_send);
    free(z->edge_all);
    free(z);
}

const char *adaopt_zero_last_error(const adaopt_zero *z)
{
    return z == NULL ? "adaopt_zero is NULL" : z->error;
}

/* Every group's hyperparameters, the non-finite policy and the rounding seed of `from` onto
 * `to`, an optimizer over other pieces of the same groups. */
static adaopt_status carry_settings(const adaopt_zero *z, const adaopt_optimizer *from,
                                   adaopt_optimizer *to)
{
    for (size_t g = 0; g < z->n_groups; g++)
        for (int o = ADAOPT_LR; o <= ADAOPT_OPTION_MAX; o++) {
            double v;
            if (!adaopt__option_applies(z->algorithm, (adaopt_option)o))
                continue;
            adaopt_status st = adaopt_get(from, g, (adaopt_option)o, &v);
            if (st == ADAOPT_OK)
                st = adaopt_set(to, g, (adaopt_option)o, v);
            if (st != ADAOPT_OK)
                return st;
        }
    for (size_t g = 0; g < z->n_groups; g++) { /* Schedule-Free's group scalars, and mode */
        to->groups[g].steps = from->groups[g].steps;
        to->groups[g].sf_weight_sum = from->groups[g].sf_weight_sum;
        to->groups[g].sf_lr_max = from->groups[g].sf_lr_max;
    }
    to->training = from->training;
    to->nonfinite_policy = from->nonfinite_policy;
    to->rounding_seed = from->rounding_seed;
    return ADAOPT_OK;
}

/* The exchanges of LAMB's and Adafactor's sums for a layout (shard r begins at off[r]):
 * buffers for every tensor's chunk (unit) sums, the matrices cut by a boundary, and
 * buffers for their segments' partials.  In `p`, all allocated, or a status (z's message). */
typedef struct exchange_plan {
    double *chunk_send, *chunk_all, *edge_send, *edge_all;
    size_t n_cuts;
    size_t *cut_tensor;
    uint64_t *cut_matrix;
} exchange_plan;

static void free_plan(exchange_plan *p)
{
    free(p->chunk_send);
    free(p->chunk_all);
    free(p->edge_send);
    free(p->edge_all);
    free(p->cut_tensor);
    free(p->cut_matrix);
}

static adaopt_status plan_exchanges(adaopt_zero *z, const uint64_t *off, exchange_plan *p)
{
    memset(p, 0, sizeof *p);
    if (z->chunk_counts == NULL)
        return ADAOPT_OK; /* neither LAMB nor Adafactor */
    uint64_t units = 0;
    for (size_t i = 0; i < z->n_tensors; i++)
        units += units_of(z, i, 0, z->numels[i]);
    if (units > (uint64_t)INT_MAX / 2)
        return fail(z, ADAOPT_ERR_SIZE, "%llu chunks of the norms are more than one collective "
                    "moves", (unsigned long long)units);
    p->chunk_send = adaopt__malloc_array((size_t)(2 * units + 2), sizeof *p->chunk_send);
    p->chunk_all = adaopt__malloc_array((size_t)(2 * units + 2), sizeof *p->chunk_all);
    p->cut_tensor = adaopt__malloc_array((size_t)z->world, sizeof *p->cut_tensor);
    p->cut_matrix = adaopt__malloc_array((size_t)z->world, sizeof *p->cut_matrix);
    if (!p->chunk_send || !p->chunk_all || !p->cut_tensor || !p->cut_matrix) {
        free_plan(p);
        return fail(z, ADAOPT_ERR_ALLOC, "out of memory for the exchange of the norms");
    }
    for (int r = 1; r < z->world && z->fac_rows != NULL; r++) { /* Adafactor's cut matrices */
        if (off[r] >= z->total)
            continue;
        size_t i = tensor_at(z, off[r]);
        uint64_t rc = (uint64_t)z->fac_rows[i] * z->fac_cols[i], x = off[r] - z->tensor_off[i];
        if (rc == 0 || x % rc == 0)
            continue;
        if (p->n_cuts > 0 && p->cut_tensor[p->n_cuts - 1] == i &&
            p->cut_matrix[p->n_cuts - 1] == x / rc)
            continue;
        p->cut_tensor[p->n_cuts] = i;
        p->cut_matrix[p->n_cuts++] = x / rc;
    }
    uint64_t total = 0;
    for (size_t c = 0; c < p->n_cuts; c++) {
        size_t i = p->cut_tensor[c];
        total += (uint64_t)adaopt__af_segments(z->fac_rows[i], z->fac_cols[i]) *
                 (z->fac_cols[i] + 1);
    }
    if (total > (uint64_t)INT_MAX) {
        free_plan(p);
        return fail(z, ADAOPT_ERR_SIZE, "the column sums of the %zu matrices that shard "
                    "boundaries cut are %llu doubles, more than one collective moves", p->n_cuts,
                    (unsigned long long)total);
    }
    if (p->n_cuts > 0) { /* (a rank sends at most all of it) */
        p->edge_send = adaopt__malloc_array((size_t)total, sizeof *p->edge_send);
        p->edge_all = adaopt__malloc_array((size_t)total, sizeof *p->edge_all);
        if (!p->edge_send || !p->edge_all) {
            free_plan(p);
            return fail(z, ADAOPT_ERR_ALLOC, "out of memory for the exchange of Adafactor's "
                        "column sums");
        }
    }
    return ADAOPT_OK;
}

/* The counts of each rank's part of the exchanges, for z's (new) layout. */
static void count_exchanges(adaopt_zero *z)
{
    if (z->chunk_counts == NULL)
        return;
    z->chunk_off[0] = 0;
    for (size_t i = 0; i < z->n_tensors; i++)
        z->chunk_off[i + 1] = z->chunk_off[i] + units_of(z, i, 0, z->numels[i]);
    int at = 0, edge_at = 0;
    for (int r = 0; r < z->world; r++) {
        uint64_t units = 0, edges = 0;
        for (size_t i = 0; i < z->n_tensors; i++) {
            size_t b, count;
            piece_of(z, i, z->shard_off[r], z->shard_len[r], &b, &count);
            units += units_of(z, i, b, count);
        }
        for (size_t c = 0; c < z->n_cuts; c++) {
            size_t lo, hi;
            if (segments_held(z, c, z->shard_off[r], z->shard_len[r], &lo, &hi))
                edges += (hi - lo) * (z->fac_cols[z->cut_tensor[c]] + 1);
        }
        z->chunk_counts[r] = (int)(2 * units);
        z->chunk_displs[r] = at;
        at += (int)(2 * units);
        if (z->edge_counts != NULL) {
            z->edge_counts[r] = (int)edges;
            z->edge_displs[r] = edge_at;
            edge_at += (int)edges;
        }
    }
}

/* The shard layout (balanced, or aligned to 8-bit blocks, LAMB's chunks or Adafactor's units),
 * its buffers and a fresh local optimizer, which takes the hyperparameters, policy, seed,
 * threads and ISA of the current one if there is one.  All or nothing: on a failure z is
 * unchanged (an ADAOPT_ERR_SIZE has its message).  No collective call. */
static adaopt_status set_layout(adaopt_zero *z, int aligned)
{
    size_t w = (size_t)z->world;
    uint64_t *off = adaopt__malloc_array(w, 2 * sizeof *off), *len = off + w, max_len = 0;
    if (off == NULL)
        return ADAOPT_ERR_ALLOC;
    for (int r = 0; r < z->world; r++) {
        shard_range(z, z->total, z->world, r, aligned, &off[r], &len[r]);
        max_len = len[r] > max_len ? len[r] : max_len;
    }
    uint64_t my_off = off[z->rank], my_len = len[z->rank], per = ROUND_BUDGET / (uint64_t)w;
    uint64_t round = max_len < per ? max_len : per;
    round = round == 0 ? 1 : round;
    float *send = adaopt__alloc_state((size_t)(round * w));
    float *recv = adaopt__alloc_state((size_t)(round * w));
    float *gshard = adaopt__alloc_state((size_t)my_len);
    adaopt_optimizer *local = NULL;
    exchange_plan plan;
    memset(&plan, 0, sizeof plan);
    adaopt_status st = send && recv && gshard ? ADAOPT_OK : ADAOPT_ERR_ALLOC;
    if (st == ADAOPT_OK && (st = plan_exchanges(z, off, &plan)) != ADAOPT_OK)
        memset(&plan, 0, sizeof plan);
    if (st == ADAOPT_OK)
        st = make_local(z, my_off, my_len, &local);
    if (st == ADAOPT_OK && z->local != NULL) { /* carry the settings over */
        st = carry_settings(z, z->local, local);
        if (st == ADAOPT_OK)
            st = adaopt_set_threads(local, z->threads);
        if (st == ADAOPT_OK)
            st = adaopt_set_isa(local, adaopt_get_isa(z->local));
    }
    if (st != ADAOPT_OK) {
        free_plan(&plan);
        adaopt_destroy(local);
        adaopt__free_state(send);
        adaopt__free_state(recv);
        adaopt__free_state(gshard);
        free(off);
        return st;
    }
    memcpy(z->shard_off, off, w * sizeof *off);
    memcpy(z->shard_len, len, w * sizeof *len);
    z->off = my_off;
    z->len = my_len;
    z->max_len = max_len;
    z->aligned = aligned;
    z->round = z->round_capacity = round;
    for (size_t i = 0; i < z->n_tensors; i++)
        piece_of(z, i, z->off, z->len, &z->piece_begin[i], &z->piece_len[i]);
    if (z->chunk_counts != NULL) { /* LAMB, Adafactor: the exchanges' buffers and counts */
        exchange_plan old = {z->chunk_send, z->chunk_all, z->edge_send, z->edge_all, 0,
                             z->cut_tensor, z->cut_matrix};
        free_plan(&old);
        z->chunk_send = plan.chunk_send;
        z->chunk_all = plan.chunk_all;
        z->edge_send = plan.edge_send;
        z->edge_all = plan.edge_all;
        z->n_cuts = plan.n_cuts;
        z->cut_tensor = plan.cut_tensor;
        z->cut_matrix = plan.cut_matrix;
        count_exchanges(z);
    }
    adaopt__free_state(z->send);
    adaopt__free_state(z->recv);
    adaopt__free_state(z->gshard);
    z->send = send;
    z->recv = recv;
    z->gshard = gshard;
    adaopt_destroy(z->local);
    z->local = local;
    free(off);
    return ADAOPT_OK;
}

adaopt_status adaopt_zero_create(MPI_Comm comm, adaopt_algorithm algorithm, const size_t *numels,
                                 size_t n_tensors, const size_t *group_sizes, size_t n_groups,
                                 adaopt_zero **out, char *error, size_t error_size)
{
    return adaopt_zero_create_typed(comm, algorithm, numels, n_tensors, group_sizes, n_groups,
                                    ADAOPT_DTYPE_F32, ADAOPT_DTYPE_F32, out, error, error_size);
}

adaopt_status adaopt_zero_create_typed(MPI_Comm comm, adaopt_algorithm algorithm,
                                       const size_t *numels, size_t n_tensors,
                                       const size_t *group_sizes, size_t n_groups,
                                       adaopt_dtype param_dtype, adaopt_dtype grad_dtype,
                                       adaopt_zero **out, char *error, size_t error_size)
{
    if (error != NULL && error_size > 0)
        error[0] = '\0';
    if (out == NULL)
        return ADAOPT_ERR_NULL;
    *out = NULL;
    adaopt_zero *z = calloc(1, sizeof *z);
    if (z == NULL)
        return ADAOPT_ERR_ALLOC;
    z->comm = MPI_COMM_NULL;
    if (MPI_Comm_dup(comm, &z->comm) != MPI_SUCCESS) {
        free(z);
        return ADAOPT_ERR_IO;
    }
    MPI_Comm_size(z->comm, &z->world);
    MPI_Comm_rank(z->comm, &z->rank);
    z->algorithm = algorithm;
    z->n_tensors = n_tensors;
    z->n_groups = n_groups;
    z->last_norm = NAN;
    z->param_dtype = (int)param_dtype;
    z->grad_dtype = (int)grad_dtype;
    z->param_bytes = param_dtype == ADAOPT_DTYPE_F32 ? 4 : 2;

    /* Local checks first, then every rank learns whether all passed. */
    adaopt_status st = ADAOPT_OK;
    size_t in_groups = 0;
    if (!adaopt__algorithm_valid(algorithm))
        st = fail(z, ADAOPT_ERR_ALGORITHM, "create: unknown algorithm %d", (int)algorithm);
    else if (adaopt__algo(algorithm)->shard == ADAOPT__SHARD_NONE)
        st = fail(z, ADAOPT_ERR_ALGORITHM, "create: %s is not sharded by ZeRO (its update takes "
                  "whole matrices); run it in one process per model replica",
                  adaopt_algorithm_name(algorithm));
    else if (adaopt_dtype_name(param_dtype) == NULL ||
             (grad_dtype != param_dtype && grad_dtype != ADAOPT_DTYPE_F32))
        st = fail(z, ADAOPT_ERR_VALUE, "create: parameters of type %d with gradients of type %d: "
                  "the gradients' type must be the parameters' or float32", (int)param_dtype,
                  (int)grad_dtype);
    else if ((n_tensors > 0 && numels == NULL) || (n_groups > 0 && group_sizes == NULL))
        st = fail(z, ADAOPT_ERR_NULL, "create: numels and group_sizes must not be NULL");
    else if (n_tensors == 0 || n_groups == 0)
        st = fail(z, ADAOPT_ERR_SIZE, "create: needs at least one group and one tensor");
    if (st == ADAOPT_OK) {
        for (size_t g = 0; g < n_groups; g++) {
            if (group_sizes[g] == 0 || group_sizes[g] > n_tensors - in_groups) {
                st = fail(z, ADAOPT_ERR_SIZE, "create: group %zu of %zu tensors does not fit the "
                          "%zu tensors", g, group_sizes[g], n_tensors);
                break;
            }
            in_groups += group_sizes[g];
        }
        if (st == ADAOPT_OK && in_groups != n_tensors)
            st = fail(z, ADAOPT_ERR_SIZE, "create: the groups hold %zu tensors, not %zu",
                      in_groups, n_tensors);
    }
    /* The whole model's elements, in which every offset lies: it must not wrap, and each
     * tensor must be one an optimizer can hold (adaopt_add_group's bound). */
    size_t elements = 0;
    for (size_t i = 0; i < n_tensors && st == ADAOPT_OK; i++)
        if (numels[i] > SIZE_MAX / 16 || adaopt__add_overflows(elements, numels[i], &elements))
            st = fail(z, ADAOPT_ERR_SIZE, "create: tensor %zu of %zu elements makes the model "
                      "larger than can be addressed", i, numels[i]);
    if (st == ADAOPT_OK) {
        z->numels = adaopt__malloc_array(n_tensors, sizeof *z->numels);
        z->group_sizes = adaopt__malloc_array(n_groups, sizeof *z->group_sizes);
        z->tensor_off = adaopt__malloc_array(n_tensors + 1, sizeof *z->tensor_off);
        z->piece_begin = adaopt__malloc_array(n_tensors, sizeof *z->piece_begin);
        z->piece_len = adaopt__malloc_array(n_tensors, sizeof *z->piece_len);
        z->shard_off = adaopt__malloc_array((size_t)z->world, sizeof *z->shard_off);
        z->shard_len = adaopt__malloc_array((size_t)z->world, sizeof *z->shard_len);
        z->counts = adaopt__malloc_array((size_t)z->world, sizeof *z->counts);
        z->displs = adaopt__malloc_array((size_t)z->world, sizeof *z->displs);
        z->rcounts = adaopt__malloc_array((size_t)z->world, sizeof *z->rcounts);
        z->rdispls = adaopt__malloc_array((size_t)z->world, sizeof *z->rdispls);
        z->norm_parts = adaopt__malloc_array((size_t)z->world, sizeof *z->norm_parts);
        z->lparams = adaopt__malloc_array(n_tensors, sizeof *z->lparams);
        z->lgrads = adaopt__malloc_array(n_tensors, sizeof *z->lgrads);
        if (!z->numels || !z->group_sizes || !z->tensor_off || !z->piece_begin ||
            !z->piece_len || !z->shard_off || !z->shard_len || !z->counts || !z->displs || !z->rcounts || !z->rdispls || !z->norm_parts ||
            !z->lparams || !z->lgrads)
            st = fail(z, ADAOPT_ERR_ALLOC, "create: out of memory");
    }
    if (st == ADAOPT_OK) {
        memcpy(z->numels, numels, n_tensors * sizeof *numels);
        memcpy(z->group_sizes, group_sizes, n_groups * sizeof *group_sizes);
        z->tensor_off[0] = 0;
        for (size_t i = 0; i < n_tensors; i++)
            z->tensor_off[i + 1] = z->tensor_off[i] + numels[i];
        z->total = z->tensor_off[n_tensors];
        if (adaopt__algo(algorithm)->shard != ADAOPT__SHARD_ELEMENTS) {
            /* the exchange of the chunk (unit) sums; the buffers come with each layout */
            z->chunk_off = adaopt__malloc_array(n_tensors + 1, sizeof *z->chunk_off);
            z->chunk_counts = adaopt__malloc_array((size_t)z->world, sizeof *z->chunk_counts);
            z->chunk_displs = adaopt__malloc_array((size_t)z->world, sizeof *z->chunk_displs);
            if (!z->chunk_off || !z->chunk_counts || !z->chunk_displs)
                st = fail(z, ADAOPT_ERR_ALLOC, "create: out of memory");
        }
        if (adaopt__algo(algorithm)->shaped) { /* vectors until shaped */
            z->fac_rows = calloc(n_tensors, sizeof *z->fac_rows);
            z->fac_cols = calloc(n_tensors, sizeof *z->fac_cols);
            z->edge_counts = adaopt__malloc_array((size_t)z->world, sizeof *z->edge_counts);
            z->edge_displs = adaopt__malloc_array((size_t)z->world, sizeof *z->edge_displs);
            if (!z->fac_rows || !z->fac_cols || !z->edge_counts || !z->edge_displs)
                st = fail(z, ADAOPT_ERR_ALLOC, "create: out of memory");
        }
    }
    if (st == ADAOPT_OK) {
        st = set_layout(z, (int)adaopt__algo(z->algorithm)->shard);
        if (st == ADAOPT_ERR_ALLOC)
            fail(z, st, "create: out of memory for the buffers or the shard's optimizer");
    }
    /* Do the ranks agree on the layout?  A CRC of it, gathered. */
    uint32_t sig = 0;
    if (st == ADAOPT_OK) {
        sig = adaopt__crc32c(0, &algorithm, sizeof algorithm);
        sig = adaopt__crc32c(sig, &z->param_dtype, sizeof z->param_dtype);
        sig = adaopt__crc32c(sig, &z->grad_dtype, sizeof z->grad_dtype);
        sig = adaopt__crc32c(sig, numels, n_tensors * sizeof *numels);
        sig = adaopt__crc32c(sig, group_sizes, n_groups * sizeof *group_sizes);
    }
    st = agree(z, st);
    if (st == ADAOPT_OK) {
        uint32_t first = sig;
        MPI_Bcast(&first, 1, MPI_UINT32_T, 0, z->comm);
        st = agree(z, first == sig ? ADAOPT_OK
                                   : fail(z, ADAOPT_ERR_MISMATCH, "create: rank %d has another "
                                          "algorithm or other shapes than rank 0", z->rank));
    }
    if (st != ADAOPT_OK) {
        if (error != NULL && error_size > 0)
            snprintf(error, error_size, "%s", z->error);
        adaopt_zero_destroy(z);
        return st;
    }
    *out = z;
    return ADAOPT_OK;
}

adaopt_status adaopt_zero_set(adaopt_zero *z, size_t group, adaopt_option option, double value)
{
    if (z == NULL)
        return ADAOPT_ERR_NULL;
    adaopt_status st;
    if (option == ADAOPT_STATE_STORAGE && value == ADAOPT_STORAGE_8BIT && !z->aligned) {
        /* 8-bit blocks must not be cut: move the boundaries to block starts (a new, empty
         * shard state: the state's storage is chosen before the first step anyway) */
        if (adaopt_steps_taken(z->local) > 0)
            return fail(z, ADAOPT_ERR_CONFLICT, "set: state_storage is chosen before the first "
                        "step");
        if (group != ADAOPT_ALL_GROUPS && group >= z->n_groups)
            return fail(z, ADAOPT_ERR_INDEX, "set: group %zu out of range (%zu groups)", group,
                        z->n_groups);
        if ((st = set_layout(z, 1)) != ADAOPT_OK)
            return fail(z, st, "set: out of memory for the block-aligned shard layout");
    }
    st = adaopt_set(z->local, group, option, value);
    if (st != ADAOPT_OK)
        fail(z, st, "%s", adaopt_last_error(z->local));
    return st;
}

adaopt_status adaopt_zero_set_shape(adaopt_zero *z, size_t tensor, const size_t *dims,
                                   size_t ndim)
{
    if (z == NULL)
        return ADAOPT_ERR_NULL;
    if (tensor >= z->n_tensors)
        return fail(z, ADAOPT_ERR_INDEX, "set_shape: tensor %zu out of range (%zu tensors)",
                    tensor, z->n_tensors);
    char msg[160];
    adaopt_status st = adaopt__check_shape(dims, ndim, z->numels[tensor], tensor, msg, sizeof msg);
    if (st != ADAOPT_OK)
        return fail(z, st, "%s", msg);
    if (!adaopt__algo(z->algorithm)->shaped)
        return ADAOPT_OK; /* (only Adafactor's state depends on the shape) */
    if (adaopt_steps_taken(z->local) > 0)
        return fail(z, ADAOPT_ERR_STATE, "set_shape: the shapes are set before the first step");
    size_t rows = ndim >= 2 && z->numels[tensor] > 0 ? dims[ndim - 2] : 0;
    size_t cols = ndim >= 2 && z->numels[tensor] > 0 ? dims[ndim - 1] : 0;
    size_t old_rows = z->fac_rows[tensor], old_cols = z->fac_cols[tensor];
    z->fac_rows[tensor] = rows;
    z->fac_cols[tensor] = cols;
    st = set_layout(z, 3);
    if (st != ADAOPT_OK) {
        z->fac_rows[tensor] = old_rows;
        z->fac_cols[tensor] = old_cols;
        if (st == ADAOPT_ERR_ALLOC)
            fail(z, st, "set_shape: out of memory for the new layout");
    }
    return st;
}

adaopt_status adaopt_zero_get(const adaopt_zero *z, size_t group, adaopt_option option,
                              double *value)
{
    if (z == NULL)
        return ADAOPT_ERR_NULL;
    return adaopt_get(z->local, group, option, value);
}

adaopt_status adaopt_zero_set_clip(adaopt_zero *z, double max_norm, double norm_type)
{
    if (z == NULL)
        return ADAOPT_ERR_NULL;
    if (max_norm == 0.0 && norm_type == 0.0) {
        z->clip_on = 0;
        return ADAOPT_OK;
    }
    if (!(max_norm >= 0.0) || !(norm_type == 1.0 || norm_type == 2.0 ||
                                (isinf(norm_type) && norm_type > 0)))
        return fail(z, ADAOPT_ERR_VALUE, "set_clip: max_norm must be >= 0 and norm_type 1, 2 "
                    "or inf (got %g, %g)", max_norm, norm_type);
    z->clip_on = 1;
    z->clip_max = max_norm;
    z->clip_type = norm_type;
    return ADAOPT_OK;
}

double adaopt_zero_last_norm(const adaopt_zero *z)
{
    return z == NULL ? NAN : z->last_norm;
}

adaopt_status adaopt_zero_set_nonfinite_policy(adaopt_zero *z, adaopt_nonfinite_policy policy)
{
    if (z == NULL)
        return ADAOPT_ERR_NULL;
    adaopt_status st = adaopt_set_nonfinite_policy(z->local, policy);
    if (st != ADAOPT_OK)
        fail(z, st, "%s", adaopt_last_error(z->local));
    return st;
}

adaopt_status adaopt_zero_set_threads(adaopt_zero *z, size_t threads)
{
    if (z == NULL)
        return ADAOPT_ERR_NULL;
    adaopt_status st = adaopt_set_threads(z->local, threads);
    if (st != ADAOPT_OK)
        return fail(z, st, "%s", adaopt_last_error(z->local));
    z->threads = threads;
    return ADAOPT_OK;
}

adaopt_status adaopt_zero_set_reduce(adaopt_zero *z, adaopt_zero_reduce mode)
{
    if (z == NULL)
        return ADAOPT_ERR_NULL;
    if (mode != ADAOPT_ZERO_REDUCE_ORDERED && mode != ADAOPT_ZERO_REDUCE_MPI)
        return fail(z, ADAOPT_ERR_VALUE, "set_reduce: unknown mode %d", (int)mode);
    z->reduce_mode = (int)mode;
    return ADAOPT_OK;
}

adaopt_status adaopt_zero_set_piece_limit(adaopt_zero *z, uint64_t elements)
{
    if (z == NULL)
        return ADAOPT_ERR_NULL;
    if (elements > z->round_capacity)
        return fail(z, ADAOPT_ERR_VALUE, "set_piece_limit: %llu elements per rank is more than "
                    "the buffers hold (%llu); 0 restores that default",
                    (unsigned long long)elements, (unsigned long long)z->round_capacity);
    z->round = elements == 0 ? z->round_capacity : elements;
    return ADAOPT_OK;
}

int adaopt_zero_last_step_skipped(const adaopt_zero *z)
{
    return z != NULL && z->last_skipped;
}

uint64_t adaopt_zero_steps_taken(const adaopt_zero *z)
{
    return z == NULL ? 0 : adaopt_steps_taken(z->local);
}

void adaopt_zero_shard(const adaopt_zero *z, uint64_t *offset, uint64_t *length)
{
    if (offset != NULL)
        *offset = z ? z->off : 0;
    if (length != NULL)
        *length = z ? z->len : 0;
}

const adaopt_optimizer *adaopt_zero_local(const adaopt_zero *z)
{
    return z == NULL ? NULL : z->local;
}

size_t adaopt_zero_state_bytes(const adaopt_zero *z)
{
    if (z == NULL)
        return 0;
    return adaopt_state_bytes(z->local); /* the master weights of a 16-bit model included */
}

/* ------------------------------------------------------------------------------------------ */
/* The step                                                                                   */

/* Copies flat elements [begin, begin + count) of the tensors, `bytes` each, into buf
 * (gather = 1) or buf's elements into them (gather = 0). */
static void copy_flat(const adaopt_zero *z, void *const *tensors, size_t bytes, uint64_t begin,
                      uint64_t count, void *buf, int gather)
{
    if (count == 0)
        return;
    size_t lo = tensor_at(z, begin);
    unsigned char *b8 = buf;
    for (size_t i = lo; i < z->n_tensors && count > 0; i++) {
        uint64_t a = z->tensor_off[i], b = z->tensor_off[i + 1];
        if (begin >= b)
            continue;
        size_t at = (size_t)(begin - a), n = (size_t)(b - begin < count ? b - begin : count);
        unsigned char *t = (unsigned char *)tensors[i] + at * bytes;
        if (gather)
            memcpy(b8, t, n * bytes);
        else
            memcpy(t, b8, n * bytes);
        b8 += n * bytes;
        begin += n;
        count -= n;
    }
}

/* The gradients of flat elements [begin, begin + count) as float32 into out (bf16 and fp16
 * widened exactly). */
static void copy_grads(const adaopt_zero *z, const void *const *grads, uint64_t begin,
                       uint64_t count, float *out)
{
    if (z->grad_dtype == ADAOPT_DTYPE_F32) {
        copy_flat(z, (void *const *)grads, 4, begin, count, out, 1);
        return;
    }
    uint16_t *h = (uint16_t *)out + count; /* the upper half of out: widened in place, upwards */
    copy_flat(z, (void *const *)grads, 2, begin, count, h, 1);
    for (uint64_t j = 0; j < count; j++) {
        uint16_t v = h[j];
        out[j] = z->grad_dtype == ADAOPT_DTYPE_BF16 ? adaopt__bf16_to_f32(v)
                                                     : adaopt__f16_to_f32(v);
    }
}

static uint64_t round_count(uint64_t shard_len, uint64_t k, uint64_t round)
{
    uint64_t start = k * round;
    return shard_len > start ? (shard_len - start < round ? shard_len - start : round) : 0;
}

/* gshard = the average over ranks of their gradients of this rank's shard. */
static adaopt_status reduce_gradients(adaopt_zero *z, const void *const *grads)
{
    uint64_t rounds = (z->max_len + z->round - 1) / z->round;
    float world_f = (float)z->world;
    for (uint64_t k = 0; k < rounds; k++) {
        for (int r = 0; r < z->world; r++) {
            uint64_t n = round_count(z->shard_len[r], k, z->round);
            z->counts[r] = (int)n;
            z->displs[r] = (int)((uint64_t)r * z->round);
            copy_grads(z, grads, z->shard_off[r] + k * z->round, n,
                       z->send + (size_t)r * z->round);
        }
        uint64_t mine = round_count(z->len, k, z->round);
        float *out = z->gshard + k * z->round;
        if (z->reduce_mode == ADAOPT_ZERO_REDUCE_MPI) {
            /* counts are also the receive counts of Reduce_scatter: the send buffer must be
             * contiguous in rank order, so pack it again without gaps. */
            size_t at = 0;
            for (int r = 0; r < z->world; r++) {
                memmove(z->send + at, z->send + (size_t)r * z->round, (size_t)z->counts[r] * 4);
                at += (size_t)z->counts[r];
            }
            if (MPI_Reduce_scatter(z->send, out, z->counts, MPI_FLOAT, MPI_SUM, z->comm) !=
                MPI_SUCCESS)
                return fail(z, ADAOPT_ERR_IO, "step: MPI_Reduce_scatter failed");
            for (uint64_t i = 0; i < mine; i++)
                out[i] = out[i] / world_f;
            continue;
        }
        /* Every rank sends rank r its part of shard r; this rank receives `mine` floats from
         * every rank, block r at r * round. */
        for (int r = 0; r < z->world; r++) {
            z->rcounts[r] = (int)mine;
            z->rdispls[r] = z->displs[r];
        }
        if (MPI_Alltoallv(z->send, z->counts, z->displs, MPI_FLOAT, z->recv, z->rcounts,
                          z->rdispls, MPI_FLOAT, z->comm) != MPI_SUCCESS)
            return fail(z, ADAOPT_ERR_IO, "step: MPI_Alltoallv failed");
        for (uint64_t i = 0; i < mine; i++) {
            float s = z->recv[i];
            for (int r = 1; r < z->world; r++)
                s = s + z->recv[(size_t)r * z->round + i];
            out[i] = s / world_f;
        }
    }
    return ADAOPT_OK;
}

/* Every rank's updated shard to every rank, into the caller's tensors, in the parameters' own
 * type (bf16 and fp16 halve the bytes). */
static adaopt_status gather_params(adaopt_zero *z, void *const *params)
{
    uint64_t rounds = (z->max_len + z->round - 1) / z->round;
    size_t bytes = z->param_bytes;
    MPI_Datatype type = bytes == 4 ? MPI_FLOAT : MPI_UINT16_T;
    unsigned char *recv = (unsigned char *)z->recv;
    for (uint64_t k = 0; k < rounds; k++) {
        for (int r = 0; r < z->world; r++) {
            z->counts[r] = (int)round_count(z->shard_len[r], k, z->round);
            z->displs[r] = (int)((uint64_t)r * z->round);
        }
        unsigned char *mine = recv + (size_t)z->rank * z->round * bytes;
        copy_flat(z, params, bytes, z->off + k * z->round, (uint64_t)z->counts[z->rank], mine, 1);
        if (MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, recv, z->counts, z->displs,
                           type, z->comm) != MPI_SUCCESS)
            return fail(z, ADAOPT_ERR_IO, "step: MPI_Allgatherv failed");
        for (int r = 0; r < z->world; r++)
            if (r != z->rank)
                copy_flat(z, params, bytes, z->shard_off[r] + k * z->round,
                          (uint64_t)z->counts[r], recv + (size_t)r * z->round * bytes, 0);
    }
    return ADAOPT_OK;
}

/* This shard's part of the norm: sum of |g| or g^2 in double, or max |g| (NaN if any is), by
 * the same code as adaopt_clip_grad_norm. */
static double shard_norm_part(const adaopt_zero *z)
{
    if (isinf(z->clip_type))
        return adaopt__max_abs(z->gshard, (size_t)z->len, 0.0);
    return adaopt__sum_pow(z->gshard, (size_t)z->len, z->clip_type == 2.0, 0.0);
}

static int any_nonfinite(const float *g, size_t n)
{
    int bad = 0;
    for (size_t i = 0; i < n; i++)
        bad |= !isfinite(g[i]);
    return bad;
}

static adaopt_status zero_step(adaopt_zero *z, void *const *params, const void *const *grads,
                               size_t n_tensors, int typed);

adaopt_status adaopt_zero_step(adaopt_zero *z, float *const *params, const float *const *grads,
                               size_t n_tensors)
{
    return zero_step(z, (void *const *)params, (const void *const *)grads, n_tensors, 0);
}

adaopt_status adaopt_zero_step_typed(adaopt_zero *z, void *const *params,
                                     const void *const *grads, size_t n_tensors)
{
    return zero_step(z, params, grads, n_tensors, 1);
}

static adaopt_status zero_step(adaopt_zero *z, void *const *params, const void *const *grads,
                               size_t n_tensors, int typed)
{
    if (z == NULL)
        return ADAOPT_ERR_NULL;
    z->last_skipped = 0;
    adaopt_status st = ADAOPT_OK;
    int lowp_types = z->param_dtype != ADAOPT_DTYPE_F32 || z->grad_dtype != ADAOPT_DTYPE_F32;
    if (!typed && lowp_types)
        st = fail(z, ADAOPT_ERR_CONFLICT, "step: the parameters are %s and the gradients %s: "
                  "step with adaopt_zero_step_typed",
                  adaopt_dtype_name((adaopt_dtype)z->param_dtype),
                  adaopt_dtype_name((adaopt_dtype)z->grad_dtype));
    else if (params == NULL || grads == NULL)
        st = fail(z, ADAOPT_ERR_NULL, "step: params and grads must not be NULL");
    else if (n_tensors != z->n_tensors)
        st = fail(z, ADAOPT_ERR_SIZE, "step: %zu tensors given, the optimizer has %zu", n_tensors,
                  z->n_tensors);
    else
        for (size_t i = 0; i < n_tensors; i++)
            if (z->numels[i] > 0 && (params[i] == NULL || grads[i] == NULL)) {
                st = fail(z, ADAOPT_ERR_NULL, "step: tensor %zu needs a parameter and a gradient "
                          "on every rank", i);
                break;
            }
    st = agree_step(z, st);
    if (st != ADAOPT_OK)
        return st;

    /* One rank without clipping, in float32: nothing to exchange or scale, so the update reads
     * the caller's gradients directly -- the core library's step, plus one small message. */
    adaopt_algorithm algorithm = adaopt_get_algorithm(z->local);
    int scratch = adaopt__algo(algorithm)->update != NULL;
    if (z->world == 1 && !z->clip_on && !lowp_types) {
        z->last_norm = NAN;
        if (scratch) /* (the caller's gradients: read only) */
            (void)adaopt_set_overwrite_grads(z->local, 0);
        for (size_t i = 0; i < n_tensors; i++) {
            z->lparams[i] = z->numels[i] > 0 ? params[i] : z->gshard;
            z->lgrads[i] = z->numels[i] > 0 ? grads[i] : z->gshard;
        }
        st = adaopt_step_typed(z->local, z->lparams, z->lgrads, n_tensors);
        if (st != ADAOPT_OK)
            return fail(z, st, "%s", adaopt_last_error(z->local));
        z->last_skipped = adaopt_last_step_skipped(z->local);
        return ADAOPT_OK;
    }

    /* 1. The averaged gradient of this shard (float32, whatever the gradients' type). */
    if (z->world == 1) {
        copy_grads(z, grads, 0, z->len, z->gshard);
    } else {
        st = agree(z, reduce_gradients(z, grads));
        if (st != ADAOPT_OK)
            return st;
    }

    /* 2. Clipping by the global norm; the same finiteness verdict on every rank. */
    int found = -1;
    if (z->clip_on) {
        double mine = shard_norm_part(z), acc = 0.0, *parts = z->norm_parts;
        if (z->world == 1) {
            parts[0] = mine;
        } else if (MPI_Allgather(&mine, 1, MPI_DOUBLE, parts, 1, MPI_DOUBLE, z->comm) !=
                   MPI_SUCCESS) {
            return agree(z, fail(z, ADAOPT_ERR_IO, "step: MPI_Allgather failed"));
        }
        for (int r = 0; r < z->world; r++) { /* in rank order: the same bits on every rank */
            if (isinf(z->clip_type))
                acc = (parts[r] > acc || parts[r] != parts[r] || acc != acc) ? parts[r] : acc;
            else
                acc += parts[r];
        }
        double norm = z->clip_type == 2.0 ? sqrt(acc) : acc;
        z->last_norm = norm;
        found = !isfinite(norm);
        double coef = z->clip_max / (norm + 1e-6); /* as adaopt_clip_grad_norm */
        if (coef < 1.0 || coef != coef) {
            float c = (float)coef;
            for (uint64_t i = 0; i < z->len; i++)
                z->gshard[i] *= c;
        }
    } else {
        z->last_norm = NAN;
        if (adaopt_get_nonfinite_policy(z->local) != ADAOPT_NONFINITE_PROPAGATE) {
            int mine = any_nonfinite(z->gshard, (size_t)z->len);
            if (MPI_Allreduce(&mine, &found, 1, MPI_INT, MPI_MAX, z->comm) != MPI_SUCCESS)
                return agree(z, fail(z, ADAOPT_ERR_IO, "step: MPI_Allreduce failed"));
        }
    }

    /* 3. The update of this shard, in place in the caller's arrays. */
    for (size_t i = 0; i < n_tensors; i++) {
        /* A tensor outside this shard gets any valid pointer (nothing is read or written):
         * the offsets of its piece would point outside gshard, and forming such a pointer is
         * undefined behaviour even when it is never used. */
        int inside = z->piece_len[i] > 0;
        z->lgrads[i] = inside ? z->gshard + (z->tensor_off[i] + z->piece_begin[i] - z->off)
                              : z->gshard;
        z->lparams[i] = inside && params[i] != NULL
                            ? (void *)((unsigned char *)params[i] + z->piece_begin[i] * z->param_bytes)
                            : (void *)z->gshard;
    }
    if (found >= 0)
        adaopt_hint_nonfinite(z->local, found);
    if (scratch) /* gshard is ours and rebuilt every step: LAMB and Adafactor keep u there */
        (void)adaopt_set_overwrite_grads(z->local, 1);
    st = adaopt_step_typed(z->local, z->lparams, z->lgrads, n_tensors);
    if (st != ADAOPT_OK)
        fail(z, st, "%s", adaopt_last_error(z->local));
    /* The local steps fail or succeed together (the same hyperparameters, checked above, the
     * same verdict on finiteness, valid pointers everywhere); agreeing costs one small message
     * and keeps the ranks in step should that ever not hold. */
    st = agree(z, st);
    if (st != ADAOPT_OK)
        return st;
    z->last_skipped = adaopt_last_step_skipped(z->local);
    if (z->last_skipped || z->world == 1)
        return ADAOPT_OK;

    /* 4. Everyone's shards to everyone. */
    return agree(z, gather_params(z, params));
}

/* Schedule-Free's train/eval swap: each rank moves its shard of the parameters (where its z
 * is), then every rank gets every shard, as after a step. */
static adaopt_status zero_mode(adaopt_zero *z, void *const *params, size_t n_tensors, int to_train)
{
    if (z == NULL)
        return ADAOPT_ERR_NULL;
    const char *name = to_train ? "train" : "eval";
    adaopt_status st = ADAOPT_OK;
    if (params == NULL)
        st = fail(z, ADAOPT_ERR_NULL, "%s: params must not be NULL", name);
    else if (n_tensors != z->n_tensors)
        st = fail(z, ADAOPT_ERR_SIZE, "%s: %zu tensors given, the optimizer has %zu", name,
                  n_tensors, z->n_tensors);
    else
        for (size_t i = 0; i < n_tensors; i++)
            if (z->numels[i] > 0 && params[i] == NULL) {
                st = fail(z, ADAOPT_ERR_NULL, "%s: tensor %zu's parameter is NULL", name, i);
                break;
            }
    st = agree(z, st);
    if (st != ADAOPT_OK || adaopt_is_training(z->local) == to_train)
        return st; /* (every rank is in the same mode: the steps and loads keep it so) */
    for (size_t i = 0; i < n_tensors; i++)
        z->lparams[i] = z->piece_len[i] > 0
                            ? (void *)((unsigned char *)params[i] + z->piece_begin[i] * z->param_bytes)
                            : NULL;
    st = to_train ? adaopt_train(z->local, z->lparams, n_tensors)
                  : adaopt_eval(z->local, z->lparams, n_tensors);
    if (st != ADAOPT_OK)
        fail(z, st, "%s", adaopt_last_error(z->local));
    st = agree(z, st);
    if (st != ADAOPT_OK || !adaopt__algo(z->algorithm)->eval_mode || z->world == 1)
        return st;
    return agree(z, gather_params(z, params));
}

adaopt_status adaopt_zero_eval(adaopt_zero *z, void *const *params, size_t n_tensors)
{
    return zero_mode(z, params, n_tensors, 0);
}

adaopt_status adaopt_zero_train(adaopt_zero *z, void *const *params, size_t n_tensors)
{
    return zero_mode(z, params, n_tensors, 1);
}

/* ------------------------------------------------------------------------------------------ */
/* Sharded checkpoints (docs/ZERO.md)                                                         */

#define SHARD_MAGIC "ADAOPTZS"
#define MANIFEST_MAGIC "ADAOPTZM"
enum { ZERO_FORMAT_VERSION = 1 };

typedef struct bytes {
    unsigned char *p;
    size_t n, cap;
    int failed;
} bytes;

static void put(bytes *b, const void *data, size_t n)
{
    if (b->failed || n == 0)
        return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n)
            cap *= 2;
        unsigned char *p = realloc(b->p, cap);
        if (p == NULL) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, data, n);
    b->n += n;
}

static void put_u32(bytes *b, uint32_t v)
{
    unsigned char c[4];
    for (int i = 0; i < 4; i++)
        c[i] = (unsigned char)(v >> (8 * i));
    put(b, c, 4);
}

static void put_u64(bytes *b, uint64_t v)
{
    put_u32(b, (uint32_t)v);
    put_u32(b, (uint32_t)(v >> 32));
}

typedef struct reader {
    const unsigned char *p;
    size_t left;
} reader;

static int get_u32(reader *r, uint32_t *v)
{
    if (r->left < 4)
        return -1;
    *v = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 |
         (uint32_t)r->p[3] << 24;
    r->p += 4;
    r->left -= 4;
    return 0;
}

static int get_u64(reader *r, uint64_t *v)
{
    uint32_t lo, hi;
    if (get_u32(r, &lo) || get_u32(r, &hi))
        return -1;
    *v = (uint64_t)hi << 32 | lo;
    return 0;
}

static void shard_name(char *out, size_t size, const char *path, uint64_t token, int rank,
                       int world)
{
    snprintf(out, size, "%s.%016llx.%d-of-%d", path, (unsigned long long)token, rank, world);
}

/* The parts of the layout both files record: tensor sizes and group sizes. */
static void put_layout(bytes *b, const adaopt_zero *z)
{
    put_u64(b, z->n_tensors);
    put_u64(b, z->n_groups);
    for (size_t i = 0; i < z->n_tensors; i++)
        put_u64(b, z->numels[i]);
    for (size_t g = 0; g < z->n_groups; g++)
        put_u64(b, z->group_sizes[g]);
    for (size_t i = 0; z->fac_rows != NULL && i < z->n_tensors; i++) { /* Adafactor's shapes */
        put_u64(b, z->fac_rows[i]);
        put_u64(b, z->fac_cols[i]);
    }
}

static int check_layout(reader *r, const adaopt_zero *z)
{
    uint64_t nt, ng, v;
    if (get_u64(r, &nt) || get_u64(r, &ng) || nt != z->n_tensors || ng != z->n_groups)
        return -1;
    for (size_t i = 0; i < z->n_tensors; i++)
        if (get_u64(r, &v) || v != z->numels[i])
            return -1;
    for (size_t g = 0; g < z->n_groups; g++)
        if (get_u64(r, &v) || v != z->group_sizes[g])
            return -1;
    for (size_t i = 0; z->fac_rows != NULL && i < z->n_tensors; i++)
        if (get_u64(r, &v) || v != z->fac_rows[i] || get_u64(r, &v) || v != z->fac_cols[i])
            return -1;
    return 0;
}

/* A previous manifest's token and world size, if `path` holds a valid one. */
static int read_manifest_head(const char *path, uint64_t *token, uint32_t *world,
                              adaopt__io_error *err);

/* Every rank's path is usable (the shard names add at most 64 bytes to it). */
static adaopt_status check_path(adaopt_zero *z, const char *path, const char *what)
{
    adaopt_status st = ADAOPT_OK;
    if (path == NULL)
        st = fail(z, ADAOPT_ERR_NULL, "%s: path must not be NULL", what);
    else if (strlen(path) + 64 >= PATH_MAX)
        st = fail(z, ADAOPT_ERR_IO, "%s: path too long", what);
    return agree(z, st);
}

adaopt_status adaopt_zero_save(adaopt_zero *z, const char *path)
{
    if (z == NULL)
        return ADAOPT_ERR_NULL;
    adaopt_status st = check_path(z, path, "save");
    if (st != ADAOPT_OK)
        return st;

    /* A fresh name for this save's shards, and the previous save's, from rank 0. */
    uint64_t head[3] = {0, 0, 0}; /* token, old token, old world */
    if (z->rank == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        head[0] = ((uint64_t)ts.tv_sec << 30) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 48);
        uint32_t old_world;
        adaopt__io_error err = {NULL, 0, NULL};
        if (read_manifest_head(path, &head[1], &old_world, &err) == 0)
            head[2] = old_world;
        else if (err.call != NULL && err.errnum != ENOENT) /* its shards could not be removed */
            st = fail(z, ADAOPT_ERR_IO, "save: reading the previous manifest %s: %s: %s "
                      "(nothing was written)", path, err.call, adaopt__io_reason(&err));
        if (head[0] == head[1])
            head[0]++;
    }
    MPI_Bcast(head, 3, MPI_UINT64_T, 0, z->comm);
    st = agree(z, st);
    if (st != ADAOPT_OK)
        return st;
    uint64_t token = head[0];

    /* This rank's shard file: header, then the core checkpoint of the shard's optimizer. */
    bytes b = {0};
    put(&b, SHARD_MAGIC, 8);
    put_u32(&b, ZERO_FORMAT_VERSION);
    put_u32(&b, (uint32_t)z->world);
    put_u32(&b, (uint32_t)z->rank);
    put_u32(&b, (uint32_t)z->algorithm);
    put_u64(&b, token);
    put_u64(&b, z->total);
    put_u64(&b, z->off);
    put_u64(&b, z->len);
    put_layout(&b, z);
    put_u32(&b, b.failed ? 0 : adaopt__crc32c(0, b.p, b.n));
    size_t core = adaopt_checkpoint_size(z->local), head_bytes = b.n;
    if (!b.failed) {
        unsigned char *p = realloc(b.p, head_bytes + core);
        if (p == NULL)
            b.failed = 1;
        else
            b.p = p;
    }
    char name[PATH_MAX];
    shard_name(name, sizeof name, path, token, z->rank, z->world);
    uint64_t mine[2] = {0, 0}; /* bytes, crc */
    if (b.failed) {
        st = fail(z, ADAOPT_ERR_ALLOC, "save: out of memory");
    } else if (adaopt_save_buffer(z->local, b.p + head_bytes, core, NULL) != ADAOPT_OK) {
        st = fail(z, ADAOPT_ERR_ALLOC, "save: %s", adaopt_last_error(z->local));
    } else {
        adaopt__io_error err = {NULL, 0, NULL};
        if (adaopt__write_file(name, b.p, head_bytes + core, &err) != 0) /* in place or not */
            st = fail(z, ADAOPT_ERR_IO, "save: writing %s: %s: %s (the previous checkpoint is "
                      "untouched)", name, err.call, adaopt__io_reason(&err));
        mine[0] = head_bytes + core;
        mine[1] = adaopt__crc32c(0, b.p, head_bytes + core);
    }
    free(b.p);
    st = agree(z, st);
    if (st != ADAOPT_OK) {
        unlink(name); /* a shard of a save that did not complete; the old manifest's stay */
        return st;
    }

    /* The manifest, from rank 0, once every shard is on disk. */
    uint64_t *all = z->rank == 0 ? adaopt__malloc_array((size_t)z->world, 2 * sizeof(uint64_t)) : NULL;
    int ok = z->rank != 0 || all != NULL;
    int all_ok;
    MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, z->comm);
    if (!all_ok) {
        free(all);
        unlink(name);
        return fail(z, ADAOPT_ERR_ALLOC, "save: out of memory on rank 0");
    }
    MPI_Gather(mine, 2, MPI_UINT64_T, all, 2, MPI_UINT64_T, 0, z->comm);
    st = ADAOPT_OK;
    int replaced = 0;
    if (z->rank == 0) {
        bytes m = {0};
        put(&m, MANIFEST_MAGIC, 8);
        put_u32(&m, ZERO_FORMAT_VERSION);
        put_u32(&m, (uint32_t)z->world);
        put_u32(&m, (uint32_t)z->algorithm);
        put_u32(&m, (uint32_t)z->aligned); /* the layout: 1 = 8-bit blocks, 2 = LAMB's chunks */
        put_u64(&m, token);
        put_u64(&m, z->total);
        put_layout(&m, z);
        for (int r = 0; r < z->world; r++) {
            put_u64(&m, all[2 * r]);
            put_u32(&m, (uint32_t)all[2 * r + 1]);
        }
        put_u32(&m, m.failed ? 0 : adaopt__crc32c(0, m.p, m.n));
        if (m.failed) {
            st = fail(z, ADAOPT_ERR_ALLOC, "save: out of memory");
        } else {
            adaopt__io_error err = {NULL, 0, NULL};
            int rc = adaopt__write_file(path, m.p, m.n, &err);
            if (rc == ADAOPT__IO_REPLACED) { /* the new checkpoint is complete and in place */
                replaced = 1;
                st = fail(z, ADAOPT_ERR_IO, "save: the manifest %s is written and in place, but "
                          "%s failed: %s (it may not survive a power cut)", path, err.call,
                          adaopt__io_reason(&err));
            } else if (rc != 0) {
                st = fail(z, ADAOPT_ERR_IO, "save: writing the manifest %s: %s: %s (the previous "
                          "checkpoint is untouched)", path, err.call, adaopt__io_reason(&err));
            }
        }
        free(m.p);
    }
    free(all);
    MPI_Bcast(&replaced, 1, MPI_INT, 0, z->comm);
    st = agree(z, st);
    if (st != ADAOPT_OK) {
        if (!replaced) /* the new manifest names this shard: it stays, and so do the old ones */
            unlink(name);
        return st;
    }
    /* The new checkpoint is in place: the previous one's shards can go. */
    if (head[1] != 0 && head[1] != token) {
        for (uint64_t r = (uint64_t)z->rank; r < head[2]; r += (uint64_t)z->world) {
            char old[PATH_MAX];
            shard_name(old, sizeof old, path, head[1], (int)r, (int)head[2]);
            unlink(old);
        }
    }
    MPI_Barrier(z->comm);
    return ADAOPT_OK;
}

typedef struct manifest {
    uint32_t world, algorithm, aligned;
    uint64_t token, total;
    uint64_t *bytes;
    uint32_t *crc;
} manifest;

enum { MANIFEST_LIMIT = 1 << 26, HEAD_FIXED = 8 + 4 * 4 + 8 + 8 };

/* Parses and checks a manifest against z (z NULL: only the head).  0, or a status with a
 * message in z. */
static adaopt_status parse_manifest(adaopt_zero *z, const char *path, manifest *m,
                                    adaopt__io_error *io)
{
    unsigned char *buf;
    size_t n;
    adaopt__io_error err = {NULL, 0, NULL};
    if (adaopt__read_file(path, MANIFEST_LIMIT, &buf, &n, &err) != 0) {
        if (io != NULL)
            *io = err;
        return fail(z, ADAOPT_ERR_IO, "load: reading the manifest %s: %s: %s", path, err.call,
                    adaopt__io_reason(&err));
    }
    adaopt_status st = ADAOPT_OK;
    reader r = {buf, n};
    uint32_t version, crc = 0;
    if (n < HEAD_FIXED + 4 || memcmp(buf, MANIFEST_MAGIC, 8) != 0) {
        st = fail(z, ADAOPT_ERR_FORMAT, "load: %s is not an adaopt_zero manifest", path);
    } else {
        reader t = {buf + n - 4, 4};
        get_u32(&t, &crc);
        r.p += 8;
        r.left -= 8 + 4;
        if (crc != adaopt__crc32c(0, buf, n - 4))
            st = fail(z, ADAOPT_ERR_FORMAT, "load: the manifest %s is damaged (checksum)", path);
        else if (get_u32(&r, &version) || get_u32(&r, &m->world) || get_u32(&r, &m->algorithm) ||
                 get_u32(&r, &m->aligned) || get_u64(&r, &m->token) || get_u64(&r, &m->total) ||
                 version != ZERO_FORMAT_VERSION || m->aligned > 3 || m->world == 0 ||
                 m->world > (1u << 24))
            st = fail(z, ADAOPT_ERR_FORMAT, "load: the manifest %s has an unknown version or "
                      "a damaged head", path);
    }
    if (st == ADAOPT_OK && z != NULL) {
        if (m->algorithm != (uint32_t)z->algorithm || m->total != z->total ||
            check_layout(&r, z) != 0)
            st = fail(z, ADAOPT_ERR_MISMATCH, "load: %s is a checkpoint of another algorithm "
                      "or other tensor shapes than this optimizer's", path);
        else if (r.left != (size_t)m->world * 12)
            st = fail(z, ADAOPT_ERR_FORMAT, "load: the manifest %s has a damaged shard list",
                      path);
    }
    if (st == ADAOPT_OK && z != NULL) {
        m->bytes = adaopt__malloc_array(m->world, sizeof *m->bytes);
        m->crc = adaopt__malloc_array(m->world, sizeof *m->crc);
        if (m->bytes == NULL || m->crc == NULL)
            st = fail(z, ADAOPT_ERR_ALLOC, "load: out of memory");
        for (uint32_t q = 0; q < m->world && st == ADAOPT_OK; q++)
            if (get_u64(&r, &m->bytes[q]) || get_u32(&r, &m->crc[q]))
                st = fail(z, ADAOPT_ERR_FORMAT, "load: damaged manifest %s", path);
    }
    free(buf);
    return st;
}

static int read_manifest_head(const char *path, uint64_t *token, uint32_t *world,
                              adaopt__io_error *err)
{
    manifest m = {0};
    if (parse_manifest(NULL, path, &m, err) != ADAOPT_OK)
        return -1;
    *token = m.token;
    *world = m.world;
    return 0;
}

/* Reads saved shard q, checks it, and loads it into an optimizer over q's range. */
static adaopt_status open_shard(adaopt_zero *z, const char *path, const manifest *m, uint32_t q,
                                uint64_t qoff, uint64_t qlen, adaopt_optimizer **out)
{
    char name[PATH_MAX];
    shard_name(name, sizeof name, path, m->token, (int)q, (int)m->world);
    unsigned char *buf;
    size_t n;
    if (m->bytes[q] > SIZE_MAX - 1)
        return fail(z, ADAOPT_ERR_FORMAT, "load: shard %u's size is impossible", q);
    adaopt__io_error err = {NULL, 0, NULL};
    if (adaopt__read_file(name, (size_t)m->bytes[q] + 1, &buf, &n, &err) != 0)
        return fail(z, ADAOPT_ERR_IO, "load: reading %s: %s: %s", name, err.call,
                    adaopt__io_reason(&err));
    adaopt_status st = ADAOPT_OK;
    if (n != m->bytes[q] || adaopt__crc32c(0, buf, n) != m->crc[q])
        st = fail(z, ADAOPT_ERR_FORMAT, "load: %s is damaged or not of this checkpoint (size or "
                  "checksum differs from the manifest's)", name);
    reader r = {buf, n};
    uint32_t version, world, rank, algorithm, crc;
    uint64_t token, total, off, len;
    if (st == ADAOPT_OK) {
        if (n < 8 || memcmp(buf, SHARD_MAGIC, 8) != 0) {
            st = fail(z, ADAOPT_ERR_FORMAT, "load: %s is not a shard file", name);
        } else {
            r.p += 8;
            r.left -= 8;
            if (get_u32(&r, &version) || get_u32(&r, &world) || get_u32(&r, &rank) ||
                get_u32(&r, &algorithm) || get_u64(&r, &token) || get_u64(&r, &total) ||
                get_u64(&r, &off) || get_u64(&r, &len) || version != ZERO_FORMAT_VERSION)
                st = fail(z, ADAOPT_ERR_FORMAT, "load: %s has a damaged header", name);
            else if (world != m->world || rank != q || algorithm != m->algorithm ||
                     token != m->token || total != m->total || off != qoff || len != qlen ||
                     check_layout(&r, z) != 0)
                st = fail(z, ADAOPT_ERR_MISMATCH, "load: %s does not belong to this checkpoint "
                          "(world, rank, range or shapes)", name);
            else if (get_u32(&r, &crc) || crc != adaopt__crc32c(0, buf, n - r.left - 4))
                st = fail(z, ADAOPT_ERR_FORMAT, "load: %s has a damaged header", name);
        }
    }
    adaopt_optimizer *opt = NULL;
    if (st == ADAOPT_OK && (st = make_local(z, qoff, qlen, &opt)) != ADAOPT_OK)
        fail(z, st, "load: out of memory");
    if (st == ADAOPT_OK && (st = adaopt_load_buffer(opt, r.p, r.left)) != ADAOPT_OK)
        fail(z, st, "load: %s: %s", name, adaopt_last_error(opt));
    free(buf);
    if (st != ADAOPT_OK) {
        adaopt_destroy(opt);
        return st;
    }
    *out = opt;
    return ADAOPT_OK;
}

/* Copies what saved shard `old` (over [qoff, qoff + qlen)) holds of this rank's shard into the
 * staging optimizer; `first` also takes the scalars (hyperparameters, counts). */
static adaopt_status take_shard(adaopt_zero *z, adaopt_optimizer *stg, const adaopt_optimizer *old,
                                uint64_t qoff, uint64_t qlen, int first)
{
    if (first) {
        if (carry_settings(z, old, stg) != ADAOPT_OK)
            return fail(z, ADAOPT_ERR_ALLOC, "load: %s", adaopt_last_error(stg));
        stg->steps_taken = old->steps_taken;
        stg->steps_skipped = old->steps_skipped;
        for (size_t i = 0; i < z->n_tensors; i++) {
            stg->tensors[i].step = old->tensors[i].step;
            stg->tensors[i].mu_product = old->tensors[i].mu_product;
        }
    }
    for (size_t i = 0; i < z->n_tensors; i++) {
        size_t pb, pl, qb, ql;
        piece_of(z, i, z->off, z->len, &pb, &pl);
        piece_of(z, i, qoff, qlen, &qb, &ql);
        size_t lo = pb > qb ? pb : qb, hi = pb + pl < qb + ql ? pb + pl : qb + ql;
        adaopt_tensor *t = &stg->tensors[i];
        const adaopt_tensor *s = &old->tensors[i];
        if (hi > lo) { /* the per-tensor scalars, the same in every piece of the tensor */
            memcpy(t->scalars, s->scalars, sizeof t->scalars);
            t->af_scale = s->af_scale;
        }
        int factored = t->factored == 1 || s->factored == 1;
        if (factored && pl > 0 && ql > 0) { /* Adafactor's matrices: rows, and columns */
            if (t->factored != s->factored)
                return fail(z, ADAOPT_ERR_FORMAT, "load: shards of different shapes");
            size_t C = t->fac_cols, R = t->fac_rows;
            for (int k = 0; k < 2; k++)
                t->slot_ready[k] = s->slot_ready[k];
            if (hi > lo) {
                memcpy(t->slot[0] + (lo - pb) / C, s->slot[0] + (lo - qb) / C,
                       (hi - lo) / C * sizeof(float));
                for (size_t b = lo / C / R; b <= (hi - 1) / C / R; b++) /* (cut: the same) */
                    memcpy(t->slot[1] + (b - t->fac_row0 / R) * C,
                           s->slot[1] + (b - s->fac_row0 / R) * C, C * sizeof(float));
            }
        }
        for (int k = 0; k < ADAOPT_MAX_SLOTS && !factored; k++) {
            if (!adaopt__has_slot(s, k))
                continue;
            /* both from the same options: cannot differ (but an empty piece's is float32's) */
            if (ql > 0 && pl > 0 && s->storage != t->storage)
                return fail(z, ADAOPT_ERR_FORMAT, "load: shards of different state storage");
            if (!adaopt__has_slot(t, k) && adaopt__alloc_slot(t, k, t->storage) != 0)
                return fail(z, ADAOPT_ERR_ALLOC, "load: out of memory");
            t->slot_ready[k] = s->slot_ready[k];
            if (hi <= lo || adaopt__slot_numel(t, k) != t->numel) /* (Adafactor's vectors: no
                                                                     slot 1) */
                continue;
            if (t->storage == ADAOPT_STORAGE_F32) { /* element ranges: float32, bf16 arrays */
                memcpy(t->slot[k] + (lo - pb), s->slot[k] + (lo - qb), (hi - lo) * sizeof(float));
            } else if (t->storage == ADAOPT_STORAGE_BF16) {
                memcpy((uint16_t *)t->packed[k] + (lo - pb), (const uint16_t *)s->packed[k] + (lo - qb),
                       (hi - lo) * sizeof(uint16_t));
            } else { /* 8-bit: codes and whole blocks' absmax (both layouts are aligned) */
                if ((lo - pb) % ADAOPT__BLOCK || (lo - qb) % ADAOPT__BLOCK)
                    return fail(z, ADAOPT_ERR_FORMAT, "load: 8-bit shards not on block "
                                "boundaries (damaged)");
                size_t blocks = (hi - lo + ADAOPT__BLOCK - 1) / ADAOPT__BLOCK;
                memcpy((uint8_t *)t->packed[k] + (lo - pb), (const uint8_t *)s->packed[k] + (lo - qb),
                       hi - lo);
                memcpy(t->absmax[k] + (lo - pb) / ADAOPT__BLOCK,
                       s->absmax[k] + (lo - qb) / ADAOPT__BLOCK, blocks * sizeof(float));
            }
        }
        if (s->master != NULL && t->master != NULL) { /* a 16-bit model's master weights */
            t->master_ready = s->master_ready;
            if (hi > lo)
                memcpy(t->master + (lo - pb), s->master + (lo - qb), (hi - lo) * sizeof(float));
        }
    }
    return ADAOPT_OK;
}

adaopt_status adaopt_zero_load(adaopt_zero *z, const char *path)
{
    if (z == NULL)
        return ADAOPT_ERR_NULL;
    adaopt_status st = check_path(z, path, "load");
    if (st != ADAOPT_OK)
        return st;
    manifest m = {0};
    adaopt_optimizer *stg = NULL;
    st = parse_manifest(z, path, &m, NULL);
    if (st == ADAOPT_OK && m.aligned && !z->aligned) {
        /* 8-bit state, saved in blocks: take the block-aligned layout first (it needs no state,
         * so only an optimizer that has not stepped switches) */
        if (adaopt_steps_taken(z->local) > 0)
            st = fail(z, ADAOPT_ERR_CONFLICT, "load: %s holds 8-bit state, sharded on 8-bit "
                      "block boundaries: load it into an adaopt_zero that has not stepped, or "
                      "that was given state_storage=8bit", path);
        else if ((st = set_layout(z, 1)) != ADAOPT_OK)
            fail(z, st, "load: out of memory for the block-aligned shard layout");
    }
    if (st == ADAOPT_OK && (st = make_local(z, z->off, z->len, &stg)) != ADAOPT_OK)
        fail(z, st, "load: out of memory");
    /* The saved shards overlapping this rank's; shard 0 alone if this one is empty (it still
     * needs the scalars: hyperparameters and step counts are in every shard). */
    int first = 1;
    for (uint32_t q = 0; q < m.world && st == ADAOPT_OK; q++) {
        uint64_t qoff, qlen;
        shard_range(z, m.total, (int)m.world, (int)q, (int)m.aligned, &qoff, &qlen);
        int overlaps = qoff < z->off + z->len && z->off < qoff + qlen;
        if (!overlaps && !(z->len == 0 && q == 0))
            continue;
        adaopt_optimizer *old = NULL;
        st = open_shard(z, path, &m, q, qoff, qlen, &old);
        if (st == ADAOPT_OK)
            st = take_shard(z, stg, old, qoff, qlen, first);
        first = 0;
        adaopt_destroy(old);
    }
    if (st == ADAOPT_OK && first)
        st = fail(z, ADAOPT_ERR_FORMAT, "load: no saved shard covers this rank's range");
    free(m.bytes);
    free(m.crc);
    st = agree(z, st);
    if (st != ADAOPT_OK) {
        adaopt_destroy(stg);
        return st;
    }
    /* Every rank accepted: switch to the loaded state (keeping this run's threads and ISA). */
    adaopt_set_threads(stg, z->threads);
    adaopt_set_isa(stg, adaopt_get_isa(z->local));
    adaopt_destroy(z->local);
    z->local = stg;
    return ADAOPT_OK;
}
