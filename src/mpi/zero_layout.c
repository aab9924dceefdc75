/*
 * zero_layout.c -- ZeRO-1's shard layout: balanced shards, their boundaries moved to 8-bit block,
 * LAMB chunk, Adafactor unit or tensor starts, each tensor's piece in a shard, and the shapes
 * that the layout (Adafactor) or the rank that holds a matrix (Muon) needs (zero.c says more).
 */
#include "zero_internal.h"

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
void piece_of(const adaopt_zero *z, size_t i, uint64_t off, uint64_t len, size_t *begin,
              size_t *count)
{
    uint64_t a = z->tensor_off[i], b = z->tensor_off[i + 1];
    uint64_t lo = off > a ? off : a, hi = off + len < b ? off + len : b;
    *begin = hi > lo ? (size_t)(lo - a) : 0;
    *count = hi > lo ? (size_t)(hi - lo) : 0;
}

/* The tensor that holds flat element x < total (the last one starting at or before it). */
size_t tensor_at(const adaopt_zero *z, uint64_t x)
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
 * start of the Adafactor unit it falls in (3; chunks in vectors), or to the start of the tensor
 * (4, Muon).  Monotone in r, so shards never overlap. */
uint64_t boundary(const adaopt_zero *z, uint64_t total, int world, int r, int aligned)
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
    if (aligned == 4)
        return a; /* whole tensors (Muon's matrices) */
    if (aligned == 3 && z->fac_rows[lo] > 0) { /* an Adafactor matrix: its unit's first row */
        size_t R = z->fac_rows[lo], C = z->fac_cols[lo];
        return a + (uint64_t)adaopt__af_unit_start(R, C, (size_t)((off - a) / C)) * C;
    }
    return a + (off - a) / granule * granule;
}

void shard_range(const adaopt_zero *z, uint64_t total, int world, int r, int aligned,
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
uint64_t units_of(const adaopt_zero *z, size_t i, uint64_t begin, uint64_t count)
{
    if (count > 0 && z->fac_rows != NULL && z->fac_rows[i] > 0)
        return adaopt__af_count_units(z->fac_rows[i], z->fac_cols[i],
                                      (size_t)(begin / z->fac_cols[i]),
                                      (size_t)(count / z->fac_cols[i]));
    return chunks_of(count);
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
    if (z->mat_rows != NULL) { /* Muon: the rank that holds the tensor whole takes its shape */
        if (adaopt_steps_taken(z->local) > 0)
            return fail(z, ADAOPT_ERR_STATE, "set_shape: the shapes are set before the first "
                        "step");
        size_t begin, count;
        piece_of(z, tensor, z->off, z->len, &begin, &count);
        if (count == z->numels[tensor] && count > 0 &&
            (st = adaopt_set_shape(z->local, tensor, dims, ndim)) != ADAOPT_OK)
            return fail(z, st, "%s", adaopt_last_error(z->local));
        z->mat_rows[tensor] = ndim == 2 ? dims[0] : 0;
        z->mat_cols[tensor] = ndim == 2 ? dims[1] : 0;
        return ADAOPT_OK;
    }
    if (!adaopt__algo(z->algorithm)->shaped)
        return ADAOPT_OK; /* (only Adafactor's and Muon's state depends on the shape) */
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
