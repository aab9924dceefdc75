/*
 * adaopt_mpi.h -- optimizer state sharded across MPI ranks (ZeRO stage 1).
 *
 * Data-parallel training runs one process per device; each holds the whole model and computes
 * the gradient of its part of the batch.  With ZeRO stage 1 each rank also keeps the optimizer
 * state of only a 1/N slice of the parameters: the parameters of all tensors, flattened in
 * order, are cut into N contiguous shards of balanced length (the first total % N ranks get one
 * element more; a shard may cut through a tensor).  A step
 *   1. reduce-scatters the ranks' gradients: rank r receives every rank's gradient of shard r
 *      and averages them (in rank order, so the result does not depend on MPI's algorithm);
 *   2. applies global-norm clipping if set (the norm is reduced over all shards);
 *   3. updates its shard with its state: the core library's fused kernels, every dense
 *      algorithm and option, parameter groups, schedules (adaopt_zero_set);
 *   4. all-gathers the parameters, so that every rank holds the whole updated model.
 * The result is the bits one process gets stepping with the rank-ordered average of the ranks'
 * gradients (docs/ZERO.md says when and why).  State memory per rank falls as 1/N.
 *
 * Every function that takes an adaopt_zero is collective: all ranks of the communicator call it,
 * in the same order, with the same shapes and hyperparameters.  Errors are collective too: when
 * one rank's arguments are wrong, every rank returns the error, so that no rank is left waiting
 * in a collective.  Built only when MPI is found (CMake target adaopt::adaopt_mpi).
 */
#ifndef ADAOPT_MPI_H
#define ADAOPT_MPI_H

#include <mpi.h>

#include "adaopt.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct adaopt_zero adaopt_zero;

/* The balanced contiguous shard of rank `rank` out of `world` over `total` elements:
 * offset and length.  Pure; the same formula the optimizer uses (before 8-bit state moves its
 * boundaries to block starts: adaopt_zero_set). */
ADAOPT_API void adaopt_zero_shard_range(uint64_t total, int world, int rank, uint64_t *offset,
                                        uint64_t *length);

/* Creates a sharded optimizer over `n_tensors` tensors of numels[i] elements, in `n_groups`
 * parameter groups of group_sizes[g] consecutive tensors each (sum = n_tensors), with the
 * algorithm's default hyperparameters.  The communicator is duplicated (MPI_Comm_dup), so the
 * caller's traffic never mixes with the optimizer's.  ADAOPT_ERR_MISMATCH if the ranks disagree
 * on the algorithm or the shapes; ADAOPT_ERR_SIZE for groups that do not hold the tensors.
 * Models of any size: MPI counts are ints, so every collective goes in pieces of at most 4M/N
 * elements per rank (adaopt_zero_set_piece_limit), far below that limit.  Buffers are zero pages
 * until a step touches them.  On failure *out is NULL and, if `error` is not NULL, it gets the
 * message (error_size bytes at most). */
ADAOPT_API adaopt_status adaopt_zero_create(MPI_Comm comm, adaopt_algorithm algorithm,
                                            const size_t *numels, size_t n_tensors,
                                            const size_t *group_sizes, size_t n_groups,
                                            adaopt_zero **out, char *error, size_t error_size);
/* adaopt_zero_create for a model of bf16 or fp16 parameters (every group of one type),
 * gradients of that type or float32.  Each rank keeps the float32 master weights (or, with
 * param_update sr/nearest, none) and state of its shard only; the gradients are averaged in
 * float32 (widened exactly, summed in rank order); the all-gather moves the parameters in their
 * own type, half the bytes of float32.  Stochastic rounding draws each element's noise by its
 * index in the whole tensor, so the result is the bits of one process stepping with the
 * average (tests/mpi/test_zero.c).  State may be float32, bf16 or 8-bit (state_storage; 8-bit
 * moves the shard boundaries to 256-element block starts, see adaopt_zero_set).  Step with
 * adaopt_zero_step_typed. */
ADAOPT_API adaopt_status adaopt_zero_create_typed(MPI_Comm comm, adaopt_algorithm algorithm,
                                                  const size_t *numels, size_t n_tensors,
                                                  const size_t *group_sizes, size_t n_groups,
                                                  adaopt_dtype param_dtype,
                                                  adaopt_dtype grad_dtype, adaopt_zero **out,
                                                  char *error, size_t error_size);
ADAOPT_API void adaopt_zero_destroy(adaopt_zero *z);
/* Adafactor: tensor `tensor` has the shape dims[0 .. ndim) (as adaopt_set_shape): with two or
 * more dimensions its second moment is factored.  Shard boundaries then fall on the starts of
 * its units (the matrix's segments, each at least 64K elements and 1/16 of it, or groups of
 * small matrices); the ranks that share a matrix exchange their segments' column sums at each
 * step (segments x (cols + 1) doubles per cut matrix), and the result is the bits of one
 * process.  Called on every rank alike, before the first step (a new, empty shard state);
 * other algorithms accept and ignore it.  Local (the step checks that the ranks agree). */
ADAOPT_API adaopt_status adaopt_zero_set_shape(adaopt_zero *z, size_t tensor, const size_t *dims,
                                               size_t ndim);
/* The last failure's detail ("" if none).  Local. */
ADAOPT_API const char *adaopt_zero_last_error(const adaopt_zero *z);

/* Hyperparameters, as adaopt_set / adaopt_get (ADAOPT_ALL_GROUPS for every group).  Setting
 * ADAOPT_STATE_STORAGE to 8-bit (before the first step, as every storage choice) also moves
 * every shard boundary down to the start of the 256-element block of the tensor it falls in, so
 * that no 8-bit block is cut (adaopt_zero_shard then reports the new range; the shards may
 * differ in length by up to 255 elements); it stays so. */
ADAOPT_API adaopt_status adaopt_zero_set(adaopt_zero *z, size_t group, adaopt_option option,
                                         double value);
ADAOPT_API adaopt_status adaopt_zero_get(const adaopt_zero *z, size_t group, adaopt_option option,
                                         double *value);
/* Global-norm clipping inside the step, as adaopt_clip_grad_norm on the averaged gradient:
 * max_norm >= 0 and norm_type 1, 2 or INFINITY; max_norm = INFINITY measures without clipping.
 * adaopt_zero_set_clip(z, 0, 0) turns it off (the default). */
ADAOPT_API adaopt_status adaopt_zero_set_clip(adaopt_zero *z, double max_norm, double norm_type);
/* The global norm the last step measured (NaN if clipping is off). */
ADAOPT_API double adaopt_zero_last_norm(const adaopt_zero *z);
/* The non-finite policy (adaopt_set_nonfinite_policy): under SKIP every rank skips together. */
ADAOPT_API adaopt_status adaopt_zero_set_nonfinite_policy(adaopt_zero *z,
                                                          adaopt_nonfinite_policy policy);
/* Threads each rank's update uses (adaopt_set_threads).  Local: ranks may differ. */
ADAOPT_API adaopt_status adaopt_zero_set_threads(adaopt_zero *z, size_t threads);

/* How the gradients are reduced: ORDERED (default) sends each rank its shard of every gradient
 * (MPI_Alltoallv) and sums them in rank order, so results are bit-reproducible and equal one
 * process's; MPI uses MPI_Reduce_scatter, whose summation order is MPI's choice (it may differ
 * in the last bits between world sizes).  Both move the same bytes. */
typedef enum adaopt_zero_reduce {
    ADAOPT_ZERO_REDUCE_ORDERED = 0,
    ADAOPT_ZERO_REDUCE_MPI = 1
} adaopt_zero_reduce;
ADAOPT_API adaopt_status adaopt_zero_set_reduce(adaopt_zero *z, adaopt_zero_reduce mode);

/* The most elements per rank one collective moves (default and maximum: 4M / N, 16 MiB of
 * buffer); 0 restores the default.  Results do not depend on it (the split is bit-identical);
 * the tests force small pieces to run the split path on small models.  Every rank must set the
 * same (checked at the next step: ADAOPT_ERR_CONFLICT).  ADAOPT_ERR_VALUE above the default. */
ADAOPT_API adaopt_status adaopt_zero_set_piece_limit(adaopt_zero *z, uint64_t elements);

/* One step.  params[i]: tensor i's numel floats, the same values on every rank (the replicated
 * model), updated in place on every rank.  grads[i]: this rank's gradient of tensor i (of its
 * part of the batch); read only.  Every tensor needs a gradient on every rank. */
ADAOPT_API adaopt_status adaopt_zero_step(adaopt_zero *z, float *const *params,
                                          const float *const *grads, size_t n_tensors);
/* adaopt_zero_step for a typed optimizer: params[i] and grads[i] in its types. */
ADAOPT_API adaopt_status adaopt_zero_step_typed(adaopt_zero *z, void *const *params,
                                                const void *const *grads, size_t n_tensors);
/* Schedule-Free AdamW's adaopt_eval / adaopt_train (adaopt.h) on the replicated parameters:
 * each rank moves its shard (its z is there), then the shards are gathered as after a step, so
 * every rank holds x after adaopt_zero_eval and y after adaopt_zero_train, bit-identical to one
 * process.  params[i] in the optimizer's parameter type.  Collective; the other algorithms only
 * record the mode.  A step in eval mode is refused (ADAOPT_ERR_STATE). */
ADAOPT_API adaopt_status adaopt_zero_eval(adaopt_zero *z, void *const *params, size_t n_tensors);
ADAOPT_API adaopt_status adaopt_zero_train(adaopt_zero *z, void *const *params, size_t n_tensors);
/* Whether the last step was skipped (non-finite gradient under SKIP), and steps taken. */
ADAOPT_API int adaopt_zero_last_step_skipped(const adaopt_zero *z);
ADAOPT_API uint64_t adaopt_zero_steps_taken(const adaopt_zero *z);

/* This rank's shard: offset and length in the flattened parameters.  Local. */
ADAOPT_API void adaopt_zero_shard(const adaopt_zero *z, uint64_t *offset, uint64_t *length);
/* The optimizer over this rank's shard: tensor i of it is the part of tensor i inside the shard
 * (possibly empty), in the same groups.  Read it (adaopt_state, adaopt_effective_lr); do not
 * step or change it.  Local. */
ADAOPT_API const adaopt_optimizer *adaopt_zero_local(const adaopt_zero *z);
/* Bytes of optimizer state this rank holds (every state array of its shard).  Local. */
ADAOPT_API size_t adaopt_zero_state_bytes(const adaopt_zero *z);

/* Sharded checkpoints (docs/ZERO.md): every rank writes its shard to `path`.<id>.<rank>-of-<N>
 * (the core checkpoint format inside a header recording the world size, the rank, the shard's
 * offset and length and every tensor's size); then rank 0 writes the manifest `path`, naming
 * the shards with their sizes and CRC-32C.  Every file is written atomically, and the manifest
 * last, so a crash leaves the previous checkpoint loadable; after the new manifest is in place
 * the previous checkpoint's shard files are removed.  */
ADAOPT_API adaopt_status adaopt_zero_save(adaopt_zero *z, const char *path);
/* Loads a checkpoint saved with any number of ranks into this run's sharding (re-sharding: each
 * rank reads the saved shards that overlap its own).  Everything is checked (manifest, every
 * file's CRC, the core checks of every shard, shapes and algorithm against this optimizer)
 * before anything changes; if any rank refuses, every rank returns the error unchanged. */
ADAOPT_API adaopt_status adaopt_zero_load(adaopt_zero *z, const char *path);

#ifdef __cplusplus
}
#endif

#endif /* ADAOPT_MPI_H */
