/*
 * zero_internal.h -- what the files of ZeRO-1 share (zero.c: create, setters, status; zero_layout.c:
 * the shard layout; zero_exchange.c: LAMB's and Adafactor's exchanges; zero_step.c: the step;
 * zero_checkpoint.c: sharded checkpoints).  Not part of the API.
 */
#ifndef ADAOPT_ZERO_INTERNAL_H
#define ADAOPT_ZERO_INTERNAL_H

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
                                         at Adafactor's unit starts (3; chunks in vectors), at
                                         tensor starts (4, Muon) */
    /* Adafactor: each tensor's matrix shape (rows 0: a vector), by adaopt_zero_set_shape */
    size_t *fac_rows, *fac_cols;
    /* Muon: each tensor's 2-D shape (rows 0: none), given to the rank that holds it whole */
    size_t *mat_rows, *mat_cols;
    /* LAMB and Adafactor: the exchange of their chunk (unit) sums (exchange_chunk_sums) */
    int *chunk_counts, *chunk_displs; /* per rank: doubles of its chunk sums */
    uint64_t *chunk_off;              /* n_tensors + 1: each tensor's first chunk, globally */
    double *chunk_send, *chunk_all;
    /* Adafactor: the matrices that shard boundaries cut (tensor, matrix), and the exchange of
     * their segments' partial sums (exchange_edges) */
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

/* The functions the files share, under names of the library's own (a static libadaopt_mpi.a
 * must not define a global `fail` or `agree`): the files call them by their short names. */
#define exchange_edges adaopt__zero_exchange_edges
#define agree adaopt__zero_agree
#define agree_step adaopt__zero_agree_step
#define boundary adaopt__zero_boundary
#define carry_settings adaopt__zero_carry_settings
#define fail adaopt__zero_fail
#define exchange_chunk_sums adaopt__zero_exchange_chunk_sums
#define make_local adaopt__zero_make_local
#define piece_of adaopt__zero_piece_of
#define segments_held adaopt__zero_segments_held
#define set_layout adaopt__zero_set_layout
#define shard_range adaopt__zero_shard_range
#define tensor_at adaopt__zero_tensor_at
#define units_of adaopt__zero_units_of

int exchange_edges(void *ctx, adaopt_optimizer *opt);
adaopt_status agree(adaopt_zero *z, adaopt_status mine);
adaopt_status agree_step(adaopt_zero *z, adaopt_status mine);
uint64_t boundary(const adaopt_zero *z, uint64_t total, int world, int r, int aligned);
adaopt_status carry_settings(const adaopt_zero *z, const adaopt_optimizer *from,
                                   adaopt_optimizer *to);
adaopt_status fail(adaopt_zero *z, adaopt_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
int exchange_chunk_sums(void *ctx, const adaopt_optimizer *opt, const double *chunk_sums,
                        double *tensor_sums);
adaopt_status make_local(adaopt_zero *z, uint64_t off, uint64_t len, adaopt_optimizer **out);
void piece_of(const adaopt_zero *z, size_t i, uint64_t off, uint64_t len, size_t *begin,
                    size_t *count);
int segments_held(const adaopt_zero *z, size_t c, uint64_t off, uint64_t len, size_t *lo,
                        size_t *hi);
adaopt_status set_layout(adaopt_zero *z, int aligned);
void shard_range(const adaopt_zero *z, uint64_t total, int world, int r, int aligned,
                       uint64_t *off, uint64_t *len);
size_t tensor_at(const adaopt_zero *z, uint64_t x);
uint64_t units_of(const adaopt_zero *z, size_t i, uint64_t begin, uint64_t count);

#endif
