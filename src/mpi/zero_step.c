/*
 * zero_step.c -- ZeRO-1's step: gradients reduced to their shards in rounds, clipping and the
 * non-finite policy across ranks, the local step, parameters gathered back; train/eval.
 */
#include "zero_internal.h"

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
