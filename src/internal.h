/*
 * internal.h -- the optimizer object and helpers shared by the library's source files.
 * Nothing here is part of the API.  What adaopt_mpi uses is marked ADAOPT_INTERNAL_API: exported
 * from the shared library so that libadaopt_mpi links against it, but not declared in adaopt.h.
 */
#ifndef ADAOPT_INTERNAL_H
#define ADAOPT_INTERNAL_H

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>

#include "../include/adaopt.h"
#include "fileio.h"
#include "kernels/kernels.h"

/* One parameter group: its hyperparameters by option id, and its tensors' range. */
typedef struct adaopt_group {
    double hp[ADAOPT_OPTION_MAX + 1];
    size_t first_tensor;
    size_t n_tensors;
    int param_dtype, grad_dtype; /* adaopt_dtype */
    /* The group's own step count, for the algorithms whose reference counts per group (every
     * adaopt_step call, gradients or not: schedulefree's group['k'], pytorch-optimizer's LAMB
     * group['step']); saved. */
    uint64_t steps;
    /* Schedule-Free AdamW: schedulefree's ['weight_sum'], ['lr_max'] (saved), and the step's
     * scheduled lr, average weight c = weight / weight_sum and 1 - beta2^k (set by the step for
     * its kernels; queries recompute from k). */
    double sf_weight_sum, sf_lr_max;
    double sf_lr, sf_ckp1, sf_bc2;
} adaopt_group;

typedef struct adaopt_tensor {
    size_t numel;
    size_t group;
    uint64_t step;      /* t: steps this tensor has taken */
    double mu_product;  /* NAdam: product of mu_1..mu_t */
    double scalars[3];  /* the algorithm's own (its row's tensor_scalars; saved): LAMB's last
                           weight norm, adam norm, trust ratio; ASGD's eta, mu, last eta */
    /* Adafactor: a shape of two or more dimensions (adaopt_set_shape) factors the second
     * moment over the last two, rows x cols, in `batch` matrices; and its last step's factor
     * alpha / denom (saved).  factored: 0 any other algorithm's tensor, 1 an Adafactor matrix
     * (slot 0 row_var, slot 1 col_var), 2 an Adafactor vector (slot 0 variance, no slot 1). */
    int factored;
    size_t fac_batch, fac_rows, fac_cols;
    /* A shape of exactly two dimensions (adaopt_set_shape, any algorithm): rows x cols; 0 x 0
     * for any other (Muon updates matrices only). */
    size_t mat_rows, mat_cols;
    double af_scale;
    /* A factored tensor's rows are cut into units, the order of its sums (adafactor_shape.c,
     * "Units"): this piece's units start at rows af_unit_row[0 .. af_units) and the last ends
     * at af_unit_row[af_units].  fac_row0 is the piece's first row among the tensor's batch x
     * rows (0 but for a ZeRO shard's piece, whose batch counts its own matrices).  A ZeRO piece
     * that holds only part of its first or last matrix has the column sums' partials of that
     * matrix's segments in af_edge (2 x segments x (cols + 1) doubles; zero.c fills the other
     * ranks' segments) and the matrix's clamped row_var mean in af_edge_mean. */
    size_t fac_row0, af_units;
    size_t *af_unit_row;
    double *af_edge;
    int af_cut[2];
    float af_edge_mean[2];
    /* State array k lives in one of two forms, by `storage` (lowp.c):
     *   float32:     slot[k], numel floats, 64-byte aligned (NULL until needed);
     *   bf16, 8-bit: packed[k] (numel uint16 or uint8 codes) and, for 8-bit, absmax[k] (one
     *                float per block of ADAOPT__BLOCK elements); slot[k] stays NULL. */
    float *slot[ADAOPT_MAX_SLOTS];
    void *packed[ADAOPT_MAX_SLOTS];
    float *absmax[ADAOPT_MAX_SLOTS];
    float *view[ADAOPT_MAX_SLOTS]; /* packed state decoded for the queries, made on demand */
    int slot_ready[ADAOPT_MAX_SLOTS]; /* holds a value (SGD's buffer is born at a step) */
    int storage;        /* adaopt_state_storage in effect (8-bit falls back to float32 below
                           the group's min_8bit_numel) */
    uint64_t noise_base; /* stochastic rounding's element index of element 0 (a ZeRO shard's
                            piece of a tensor: where the piece begins in it) */
    size_t storage_numel; /* the size that decides 8-bit or float32 state (min_8bit_numel):
                             numel, or the whole tensor's for a ZeRO shard's piece of it */
    float *master;      /* float32 master weights of a bf16/fp16 tensor (MASTER modes) */
    int master_ready;   /* filled from the parameter (at the first step, or by a load) */
} adaopt_tensor;

/* Sizes: every count x size and sum of sizes in the library goes through these, so that no
 * product wraps (a wrapped size would make an allocation too small for what is written into
 * it).  1 when the result does not fit in size_t (then *out is unspecified), 0 otherwise. */
static inline int adaopt__mul_overflows(size_t a, size_t b, size_t *out)
{
#if defined(__GNUC__) || defined(__clang__)
    return __builtin_mul_overflow(a, b, out);
#else
    *out = a * b;
    return b != 0 && a > SIZE_MAX / b;
#endif
}

static inline int adaopt__add_overflows(size_t a, size_t b, size_t *out)
{
#if defined(__GNUC__) || defined(__clang__)
    return __builtin_add_overflow(a, b, out);
#else
    *out = a + b;
    return a > SIZE_MAX - b;
#endif
}

/* malloc / realloc of count x size bytes; NULL (the old block kept) when that overflows. */
static inline void *adaopt__malloc_array(size_t count, size_t size)
{
    size_t bytes;
    return adaopt__mul_overflows(count, size, &bytes) ? NULL : malloc(bytes ? bytes : 1);
}

static inline void *adaopt__realloc_array(void *p, size_t count, size_t size)
{
    size_t bytes;
    return adaopt__mul_overflows(count, size, &bytes) ? NULL : realloc(p, bytes ? bytes : 1);
}

/* Step counts (t, steps taken and skipped, Schedule-Free's k) stop at 2^53: adaopt_set_step's
 * limit, where t stops being exact in the double-precision bias corrections.  A step refuses to
 * go past it and a load refuses anything past it, so no counter ever wraps. */
#define ADAOPT__MAX_STEPS ((uint64_t)1 << 53)

enum { ADAOPT__BLOCK = 256 }; /* elements per 8-bit block (bitsandbytes' blocksize) */

/* torch's lerp(start, end, w) for a float weight, as its vector kernel computes it: one fused
 * multiply-add from the nearer end (Schedule-Free's swap, Adafactor's variances; the kernels
 * have their own copy, src/kernels/scalar.c's af_lerp). */
static inline float adaopt__lerp(float start, float end, float w)
{
    return fabsf(w) < 0.5f ? fmaf(w, end - start, start) : fmaf(w - 1.0f, end - start, end);
}

/* Elements of slot k of t: numel, but for Adafactor's factored tensors row_var (batch x rows)
 * and col_var (batch x cols), and for its vectors no slot 1. */

static inline size_t adaopt__slot_numel(const adaopt_tensor *t, int k)
{
    if (t->factored == 1)
        return k == 0 ? (t->fac_cols ? t->numel / t->fac_cols : t->fac_batch * t->fac_rows)
                      : k == 1 ? t->fac_batch * t->fac_cols : 0;
    if (t->factored == 2)
        return k == 0 ? t->numel : 0;
    return t->numel;
}

/* 1 if slot k of t exists in either form. */
static inline int adaopt__has_slot(const adaopt_tensor *t, int k)
{
    return t->slot[k] != NULL || t->packed[k] != NULL;
}

/* A piece of one tensor that one thread updates: [begin, end) of tensor `tensor`. */
typedef struct adaopt_chunk {
    size_t tensor, begin, end;
} adaopt_chunk;

/* Large tensors are cut at multiples of this many elements (a multiple of every vector width
 * and of a 64-byte line); small tensors make one chunk each. */
enum { ADAOPT_CHUNK_ELEMS = 65536 };

struct adaopt_optimizer {
    adaopt_algorithm algorithm;
    adaopt_group *groups;
    size_t n_groups;
    adaopt_tensor *tensors;
    size_t n_tensors;
    /* Planned when groups are added, so that a step allocates nothing: */
    adaopt_chunk *chunks;   /* every tensor's chunks, in tensor order */
    size_t n_chunks;
    double *chunk_sums;     /* LAMB: per chunk, its sums of p^2 and of u^2 (2 per chunk) */
    double *af_scratch;     /* Adafactor: the column sums' partials of a matrix's segments, or
                               one column accumulator per thread */
    size_t af_scratch_len;
    double *af_sums;        /* Adafactor: 2 per unit (or chunk), max(units, 1) per tensor */
    size_t af_sums_len;
    float *matrix_ws;       /* Muon: the Newton-Schulz iteration's matrices (3 m n + 2 m^2 floats
                               for its largest m x n tensor, m <= n), made by adaopt_set_shape */
    size_t matrix_ws_len;
    /* LAMB and Adafactor under ZeRO (zero.c sets it on each shard's optimizer): given the sums
     * of p^2 and u^2 of each tensor's chunks (LAMB) or units (Adafactor) -- max(count, 1) pairs
     * per tensor, in tensor order -- fills tensor_sums (2 per tensor) with every shard's added
     * in order; 0, or -1 if the exchange failed.  Collective: every rank's step calls it. */
    int (*lamb_exchange)(void *ctx, const struct adaopt_optimizer *opt, const double *chunk_sums,
                         double *tensor_sums);
    void *lamb_ctx;
    /* Adafactor under ZeRO: completes the af_edge partials of every piece's cut matrices with
     * the other ranks' segments; 0, or -1.  Collective. */
    int (*af_exchange)(void *ctx, struct adaopt_optimizer *opt);
    double *tensor_sums;
    adaopt_coeffs *coeffs;  /* one per tensor, filled at each step */
    float **flat_params;    /* adaopt_step_flat's pointers into the caller's two buffers */
    const float **flat_grads;
    /* Workspace of sparse steps (adaopt_reserve_sparse): per table row a stamp and the first
     * and last position of that row in this step's index list; per index the next position
     * of the same row; the distinct rows in order of appearance; one row of summed values. */
    struct {
        size_t max_indices, max_row_len, max_rows;
        size_t threads; /* row_sum holds this many rows: one per thread */
        uint64_t *row_stamp;
        size_t *row_first, *row_last, *next, *distinct;
        float *row_sum;
        uint64_t stamp;
    } sparse;
    int nonfinite_policy;  /* adaopt_nonfinite_policy */
    int hint;              /* -1 none, 0 finite, 1 non-finite: for the next step */
    int last_skipped;
    int training;          /* adaopt_train / adaopt_eval (Schedule-Free's parameters: y or x) */
    uint64_t steps_taken, steps_skipped;
    uint64_t rounding_seed;           /* stochastic rounding's noise */
    float grad_factor;                /* for the next step (adaopt_scale_next_grads) */
    int grad_factor_set;
    struct adaopt__qtable *qtables;   /* 8-bit quantizers (signed, unsigned), made when needed */
    int isa;                          /* adaopt_isa in use */
    const adaopt_kernel_table *kernels;
    size_t threads;
    int overwrite_grads;              /* adaopt_set_overwrite_grads (LAMB, Adafactor) */
    struct adaopt__span {             /* 2 x n_tensors: its overlap check's arrays, at the step: */
        uintptr_t lo, hi;             /*   bytes [lo, hi) of ... */
        size_t k;                     /*   tensor k / 2's parameter (k even) or gradient (k odd) */
    } *spans;
    char error[256];
};

/* Frees the sparse steps' workspace arrays (adaopt_reserve_sparse makes them). */
static inline void adaopt__free_sparse_workspace(adaopt_optimizer *opt)
{
    free(opt->sparse.row_stamp);
    free(opt->sparse.row_first);
    free(opt->sparse.row_last);
    free(opt->sparse.next);
    free(opt->sparse.distinct);
    free(opt->sparse.row_sum);
}

/* Records a formatted message in opt->error (if opt) and returns `status`. */
adaopt_status adaopt__fail(adaopt_optimizer *opt, adaopt_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* A zero-filled, 64-byte aligned state array of numel floats (huge pages when large), or NULL
 * (memory.c).  Never NULL for numel 0, so an empty tensor's slot still reads as allocated. */
ADAOPT_INTERNAL_API float *adaopt__alloc_state(size_t numel);
/* Frees what adaopt__alloc_state returned (NULL: nothing). */
ADAOPT_INTERNAL_API void adaopt__free_state(float *state);

/* CRC-32C (Castagnoli) of data, continuing from crc (0 to start) (crc32c.c). */
ADAOPT_INTERNAL_API uint32_t adaopt__crc32c(uint32_t crc, const void *data, size_t length);
uint32_t adaopt__crc32c_portable(uint32_t crc, const void *data, size_t length);


/* Parts of a gradient norm (clip.c): acc + the sum of |g| or g^2 over g[0..n) in double (eight
 * partial sums, added in a fixed order), and max(acc, max |g|) (NaN if any is NaN). */
ADAOPT_INTERNAL_API double adaopt__sum_pow(const float *g, size_t n, int squares, double acc);
ADAOPT_INTERNAL_API double adaopt__max_abs(const float *g, size_t n, double acc);

/* The slots (bit mask) a group with hyperparameters hp needs (optimizer.c). */
unsigned adaopt__slots_needed(adaopt_algorithm algorithm, const double *hp);
/* The slot holding `kind` for `algorithm`, or -1 (optimizer.c). */
int adaopt__slot_of_state(adaopt_algorithm algorithm, adaopt_state_kind kind);
/* 1 for the states that are second moments (sums and averages of squares, Adamax's max of |g|,
 * Adafactor's variances): never negative.  A load and adaopt_set_state refuse negative ones. */
int adaopt__never_negative(adaopt_state_kind kind);
/* The first element of x[0..n) that is NaN or infinite, or negative (not -0) where
 * `nonnegative`; n if none (state.c).  The checks of a load and of adaopt_set_state. */
size_t adaopt__first_bad_float(const float *x, size_t n, int nonnegative);
size_t adaopt__first_bad_bf16(const uint16_t *h, size_t n, int nonnegative);

/* Sets n options of groups [first, first + count) at once: the values must have passed
 * adaopt__check_value; the groups' resulting combinations are checked (nesterov) and their state
 * allocated before any value changes, so that a failure changes nothing (optimizer.c). */
adaopt_status adaopt__set_many(adaopt_optimizer *opt, size_t first, size_t count,
                               const adaopt_option *options, const double *values, size_t n);

/* Low precision (lowp.c). */
/* 1 if a group uses anything but float32 (types, storage, update mode): the step stages it. */
int adaopt__group_is_lowp(const adaopt_group *g);
/* The storage tensor t of group g gets. */
int adaopt__storage_for(const adaopt_group *g, const adaopt_tensor *t);
/* Allocates slot k of tensor t (zero) in the form of `storage`: 0, or -1 (out of memory). */
ADAOPT_INTERNAL_API int adaopt__alloc_slot(adaopt_tensor *t, int k, int storage);
/* Frees slot k of t in whatever form it has. */
void adaopt__drop_slot(adaopt_tensor *t, int k);
/* Frees every state array, view and the master of t. */
void adaopt__free_tensor_state(adaopt_tensor *t);
/* Whether the state in slot k of `algorithm` takes the signed 8-bit map. */
int adaopt__slot_is_signed(adaopt_algorithm algorithm, int k);
/* Sets every element of slot k to v, in its storage (AdaGrad's initial accumulator). */
void adaopt__fill_slot(const adaopt_optimizer *opt, adaopt_tensor *t, int k, float v);
/* Elements [at, at + n) of a bf16/fp16 array widened to float32, and float32 rounded into one
 * (stochastically with the noise of elements noise_base + at, ...), by the optimizer's kernels. */
void adaopt__widen(const adaopt_optimizer *opt, int dtype, const void *src, size_t at, size_t n,
                   float *out);
void adaopt__narrow(const adaopt_optimizer *opt, int dtype, int stochastic, const float *in,
                    size_t at, size_t n, void *dst, uint32_t noise_seed, uint64_t noise_base);
/* Fills t's master weights from its parameter (bf16 or fp16 widened). */
void adaopt__fill_master(const adaopt_optimizer *opt, adaopt_tensor *t, const void *param);
/* Decodes slot k into out[0 .. numel). */
void adaopt__read_slot(const adaopt_optimizer *opt, const adaopt_tensor *t, int k, float *out);
/* Encodes in[0 .. numel) into slot k (8-bit: block by block). */
void adaopt__write_slot(const adaopt_optimizer *opt, adaopt_tensor *t, int k, const float *in);
/* The float32 contents of slot k for a query: slot[k] itself, or view[k] decoded now (NULL when
 * out of memory). */
const float *adaopt__slot_floats(const adaopt_optimizer *opt, adaopt_tensor *t, int k);
/* Block [at, at + n) of packed slot k (bf16 or 8-bit; at a block start): decoded into out,
 * encoded from in. */
void adaopt__decode_block(const adaopt_optimizer *opt, const adaopt_tensor *t, int k, size_t at,
                          size_t n, float *out);
void adaopt__encode_block(const adaopt_optimizer *opt, adaopt_tensor *t, int k, size_t at,
                          size_t n, const float *in);
/* Makes the 8-bit quantizers if a group needs them: 0, or -1 (out of memory). */
int adaopt__ensure_qtables(adaopt_optimizer *opt);
/* Elements [begin, end) of tensor i in the staged path: converts each block of 256 elements to
 * float32, runs the float32 kernel, converts back (lowp.c).  `param` is the whole tensor;
 * `grad` points to the gradient of element `begin`, of type grad_dtype.  begin is a multiple of
 * 256 when the tensor has 8-bit state. */
void adaopt__step_staged(const adaopt_optimizer *opt, size_t i, void *param, const void *grad,
                         int grad_dtype, size_t begin, size_t end, uint32_t noise_seed,
                         const float *grad_factor);

/* Shared by optimizer.c, step.c and state.c. */
/* OpenMP's default thread count (OMP_NUM_THREADS, else every core); 1 without OpenMP. */
size_t adaopt__default_threads(void);
/* Gives tensors [first, first+count) the slots in `mask` they lack, zero, in their storage;
 * all or nothing (lowp.c).  The _marked form leaves the new slots marked (slot_ready -1) for
 * adaopt__settle_new_slots to keep (ready 0) or free, so that a change over several ranges of
 * tensors can be all or nothing too; on its own failure it frees what it made. */
adaopt_status adaopt__grow_slots(adaopt_optimizer *opt, size_t first, size_t count, unsigned mask);
adaopt_status adaopt__grow_slots_marked(adaopt_optimizer *opt, size_t first, size_t count,
                                        unsigned mask);
void adaopt__settle_new_slots(adaopt_optimizer *opt, size_t first, size_t count, int keep);
/* Option combinations that are each valid but not together (nesterov; param_update on float32
 * groups), for group gi with hyperparameters hp. */
adaopt_status adaopt__check_combination(adaopt_optimizer *opt, size_t gi, const double *hp);
/* Every per-step scalar of one tensor at step t (t >= 1), in double.  `mu_product_before` is
 * NAdam's P_{t-1}. */
typedef struct adaopt_step_scalars {
    double lr, clr, bc1, bc2, step_size;
    double mu, mu_next, mu_product; /* NAdam: mu_t, mu_{t+1}, P_t */
    double grad_coef, avg_coef;     /* NAdam: lr(1-mu_t)/(1-P_t), lr mu_next/(1-P_t mu_next) */
    double rho_t, rect;             /* RAdam */
    int rectified;
} adaopt_step_scalars;
adaopt_step_scalars adaopt__step_scalars_at(adaopt_algorithm algorithm, const double *hp,
                                            uint64_t t, double mu_product_before);

/* Schedule-Free AdamW (algorithms/schedule_free.c): a new group's scalars (k 0, weight_sum 0, lr_max -1),
 * and one step of group g's scalars (k, lr_max, weight_sum advance; sf_lr, sf_ckp1, sf_bc2 are
 * this step's). */
void adaopt__sf_init_group(adaopt_group *g);
/* lr_k of step index k (0-based): lr, times (k+1)/warmup_steps during the warmup. */
double adaopt__sf_lr_at(const adaopt_group *g, uint64_t k);
void adaopt__sf_advance(adaopt_group *g);

/* LAMB (algorithms/lamb.c): the coefficients of tensor i's step t, and the update of every tensor that has
 * a gradient -- a pass that updates the moments and sums the squares of p and of the Adam
 * direction u per chunk, the per-tensor norms and trust ratios (chunk sums added in chunk order:
 * the same bits for any thread count), and a pass that moves p. */
void adaopt__lamb_coeffs(adaopt_coeffs *c, const double *hp, uint64_t t);
int adaopt__lamb_update(adaopt_optimizer *opt, void *const *params, const void *const *grads,
                        size_t work); /* 0, or -1: the exchange of the norms failed */
/* LAMB's passes over elements [begin, end) of tensor i of a low-precision group (lowp.c), block
 * by block: the moments' pass on the master weights or the widened parameter and gradient,
 * adding into acc as the float32 pass does; and the apply pass, rounding the result into the
 * parameter as the group's param_update says.  bf16/8-bit state: the first pass updates decoded
 * copies and drops them; the second remakes them (the same bits), stores them rounded and steps
 * with the unrounded ones -- those the norms were taken from. */
void adaopt__lamb_staged_moments(const adaopt_optimizer *opt, size_t i, void *param,
                                 const void *grad, size_t begin, size_t end, double *acc);
void adaopt__lamb_staged_apply(const adaopt_optimizer *opt, size_t i, void *param,
                               const void *grad, size_t begin, size_t end, uint32_t noise_seed);

/* C = L R, row-major, L M x K and R K x N; symmetric: C is (square and) symmetric, computed on and
 * above the diagonal and mirrored (matrix.c).  The same bits on every ISA and thread count. */
void adaopt__matmul(const adaopt_optimizer *opt, const float *L, const float *R, float *C,
                    size_t M, size_t K, size_t N, int symmetric);

/* Adafactor (adafactor.c): the update of every tensor that has a gradient, in three passes
 * over all of them (its reductions in double, in a fixed order); 0, or -1: an exchange between
 * ranks failed. */
int adaopt__adafactor_update(adaopt_optimizer *opt, void *const *params,
                             const void *const *grads);
/* Makes room for a column accumulator per thread (best effort: without it, the first pass of
 * tensors of small matrices runs on fewer threads, with the same bits). */
void adaopt__af_reserve_threads(adaopt_optimizer *opt);
/* Its units (adafactor_shape.c, "Units") for a rows x cols matrix shape: the segments of one matrix
 * and the segment of its row r;
 * the first row of the unit that holds row g (of the tensor's batch x rows); the end of the
 * unit that starts at row g, at most `limit`; how many units rows [g, g + n) hold (g a unit
 * start, g + n a unit end or the tensor's last row). */
/* adaopt_set_shape's checks of dims (not NULL, 1 to 8 of them, their product numel without
 * overflow): ADAOPT_OK, or a status with its message in msg. */
ADAOPT_INTERNAL_API adaopt_status adaopt__check_shape(const size_t *dims, size_t ndim,
                                                      size_t numel, size_t tensor, char *msg,
                                                      size_t msg_size);
ADAOPT_INTERNAL_API size_t adaopt__af_segments(size_t rows, size_t cols);
/* The edge of a ZeRO piece's matrix b (the tensor's matrix index) if the piece holds it in
 * part: segments x (cols + 1) doubles; else NULL. */
ADAOPT_INTERNAL_API double *adaopt__af_edge(const adaopt_tensor *t, size_t b);
ADAOPT_INTERNAL_API size_t adaopt__af_segment_of(size_t rows, size_t segments, size_t r);
ADAOPT_INTERNAL_API size_t adaopt__af_unit_start(size_t rows, size_t cols, size_t g);
ADAOPT_INTERNAL_API size_t adaopt__af_unit_end(size_t rows, size_t cols, size_t g, size_t limit);
ADAOPT_INTERNAL_API size_t adaopt__af_count_units(size_t rows, size_t cols, size_t g, size_t n);
/* Tensor i of opt (a ZeRO shard's optimizer) is rows [row0, row0 + numel / cols) of a tensor
 * whose matrices are rows x cols: factored state for its matrices, and edges for those it
 * holds in part.  Before any step; all or nothing. */
ADAOPT_INTERNAL_API adaopt_status adaopt__af_set_piece(adaopt_optimizer *opt, size_t i,
                                                       size_t rows, size_t cols, size_t row0);
/* Its effective learning rate, into out[0 .. t->numel), from slot 0 as float32 (decoded). */
void adaopt__adafactor_effective_lr(const adaopt_optimizer *opt, const adaopt_tensor *t,
                                    const float *slot0, float *out);

/* Option table (options.c). */
ADAOPT_INTERNAL_API int adaopt__algorithm_valid(adaopt_algorithm algorithm);
ADAOPT_INTERNAL_API int adaopt__option_applies(adaopt_algorithm algorithm, adaopt_option option);
/* Checks `value` for `option` of `algorithm`; on error writes a message through opt. */
adaopt_status adaopt__check_value(adaopt_optimizer *opt, adaopt_algorithm algorithm,
                                  adaopt_option option, double value);

#endif /* ADAOPT_INTERNAL_H */
