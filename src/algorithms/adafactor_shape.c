/*
 * adafactor_shape.c -- tensor shapes (adaopt_set_shape: any algorithm records a matrix's rows
 * and cols, Muon's need; Adafactor factors by them), ZeRO's pieces of a shape, and the units
 * Adafactor's sums are taken over.  Its step is in adafactor.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adafactor.h"

enum { MAX_DIMS = 8 };

/*
 * Units.  The sums of a factored tensor are taken over units of whole rows, a function of the
 * matrix shape alone, so that any thread count, and any ZeRO layout (whose shard boundaries
 * fall on unit starts), adds the same numbers in the same order:
 *   - a matrix of at least 64K elements is cut into S segments (S = min(16, rows / 64,
 *     elements / 64K), at least 1) of rows [s rows / S, (s + 1) rows / S); each segment is a
 *     unit.  Its column sums of g^2 are the sums of the segments' partial sums (each in row
 *     order) in segment order, and so is the sum of its row_var;
 *   - smaller matrices are grouped: unit j holds the matrices whose first element lies in the
 *     tensor's j-th 64K-element chunk; a matrix's column sums are in row order.
 * The norms of p and of u are each unit's sum (rows in order), added in unit order.
 */
enum { MAX_SEGMENTS = 16 };

size_t adaopt__af_segments(size_t rows, size_t cols)
{
    size_t elems = rows * cols;
    if (cols == 0 || elems < ADAOPT_CHUNK_ELEMS)
        return 1;
    size_t s = rows / 64, by_size = elems / ADAOPT_CHUNK_ELEMS;
    s = s < by_size ? s : by_size;
    s = s < MAX_SEGMENTS ? s : MAX_SEGMENTS;
    return s ? s : 1;
}

/* The segment of a matrix row r, and a segment's first row (segment S: rows). */
size_t adaopt__af_segment_of(size_t rows, size_t S, size_t r)
{
    return ((r + 1) * S - 1) / rows;
}

size_t adaopt__af_unit_start(size_t rows, size_t cols, size_t g)
{
    size_t b = g / rows, elems = rows * cols;
    if (elems >= ADAOPT_CHUNK_ELEMS) {
        size_t S = adaopt__af_segments(rows, cols);
        return b * rows + adaopt__af_segment_row(rows, S, adaopt__af_segment_of(rows, S, g % rows));
    }
    size_t j = b * elems / ADAOPT_CHUNK_ELEMS; /* the chunk b's first element lies in */
    return (j * ADAOPT_CHUNK_ELEMS + elems - 1) / elems * rows;
}

size_t adaopt__af_unit_end(size_t rows, size_t cols, size_t g, size_t limit)
{
    size_t b = g / rows, elems = rows * cols, end;
    if (elems >= ADAOPT_CHUNK_ELEMS) {
        size_t S = adaopt__af_segments(rows, cols);
        end = b * rows + adaopt__af_segment_row(rows, S, adaopt__af_segment_of(rows, S, g % rows) + 1);
    } else {
        size_t j = b * elems / ADAOPT_CHUNK_ELEMS;
        end = ((j + 1) * ADAOPT_CHUNK_ELEMS + elems - 1) / elems * rows;
    }
    return end < limit ? end : limit;
}

size_t adaopt__af_count_units(size_t rows, size_t cols, size_t g, size_t n)
{
    size_t count = 0;
    if (rows == 0 || cols == 0)
        return 0;
    for (size_t at = g; at < g + n; count++)
        at = adaopt__af_unit_end(rows, cols, at, g + n);
    return count;
}

/* Room for `need` doubles of the step's partials: 0, or -1 (out of memory; the old room
 * stays). */
static int grow_scratch(adaopt_optimizer *opt, size_t need)
{
    if (need <= opt->af_scratch_len)
        return 0;
    double *scratch = adaopt__malloc_array(need, sizeof *scratch);
    if (scratch == NULL)
        return -1;
    free(opt->af_scratch);
    opt->af_scratch = scratch;
    opt->af_scratch_len = need;
    return 0;
}

/* Tensor ti becomes a factored piece: rows [row0, row0 + numel / cols) of a tensor of
 * rows x cols matrices, `batch` of them in the piece (row0 0 and the whole tensor in one
 * process), or a vector (factored 2).  New state of the new sizes (zero), its units, edges,
 * and room for the step's sums and partials: all or nothing. */
static adaopt_status shape_tensor(adaopt_optimizer *opt, size_t ti, int factored, size_t batch,
                                  size_t rows, size_t cols, size_t row0)
{
    adaopt_tensor *t = &opt->tensors[ti];
    adaopt_tensor shaped = *t;
    shaped.factored = factored;
    shaped.fac_batch = factored == 1 ? batch : 1;
    shaped.fac_rows = factored == 1 ? rows : 0;
    shaped.fac_cols = factored == 1 ? cols : 0;
    shaped.fac_row0 = row0;
    size_t n_rows = factored == 1 && cols ? t->numel / cols : 0;
    shaped.af_cut[0] = shaped.af_cut[1] = 0;
    shaped.af_units = 0;
    shaped.af_unit_row = NULL;
    shaped.af_edge = NULL;
    memset(shaped.slot, 0, sizeof shaped.slot);
    memset(shaped.view, 0, sizeof shaped.view);
    memset(shaped.packed, 0, sizeof shaped.packed);
    memset(shaped.absmax, 0, sizeof shaped.absmax);
    shaped.storage = adaopt__storage_for(&opt->groups[t->group], &shaped); /* (matrices: f32) */
    int failed = adaopt__alloc_slot(&shaped, 0, shaped.storage) != 0 ||
                 (shaped.factored == 1 && adaopt__alloc_slot(&shaped, 1, ADAOPT_STORAGE_F32) != 0);
    size_t S = rows && cols ? adaopt__af_segments(rows, cols) : 1, need = 0;
    if (!failed && shaped.factored == 1 && n_rows > 0) {
        shaped.af_units = adaopt__af_count_units(rows, cols, row0, n_rows);
        shaped.af_unit_row = adaopt__malloc_array(shaped.af_units + 1, sizeof *shaped.af_unit_row);
        failed = shaped.af_unit_row == NULL;
        for (size_t k = 0, at = row0; !failed && k <= shaped.af_units; k++) {
            shaped.af_unit_row[k] = at;
            at = adaopt__af_unit_end(rows, cols, at, row0 + n_rows);
        }
        /* a matrix held in part (ZeRO): the first, or the last */
        size_t b0 = row0 / rows, bl = (row0 + n_rows - 1) / rows;
        shaped.af_cut[0] = row0 > b0 * rows || row0 + n_rows < (b0 + 1) * rows;
        shaped.af_cut[1] = bl != b0 && row0 + n_rows < (bl + 1) * rows;
        size_t edge;
        if (!failed && (shaped.af_cut[0] || shaped.af_cut[1])) {
            failed = adaopt__mul_overflows(2 * S, cols + 1, &edge); /* S <= 16, cols < numel */
            shaped.af_edge = failed ? NULL : calloc(edge, sizeof *shaped.af_edge);
            failed = shaped.af_edge == NULL;
        }
        size_t threads = opt->threads ? opt->threads : 1;
        if (adaopt__mul_overflows(S > threads ? S : threads, cols + 1, &need))
            failed = 1;
    }
    if (!failed)
        failed = grow_scratch(opt, need) != 0;
    if (!failed) { /* the sums: every tensor's, with this one's new units */
        size_t slots = 0; /* (at most one per 64K elements or per row: no sum can wrap) */
        for (size_t i = 0; i < opt->n_tensors; i++)
            slots += adaopt__af_sum_slots(i == ti ? &shaped : &opt->tensors[i]);
        if (2 * slots > opt->af_sums_len) {
            double *sums = adaopt__malloc_array(2 * slots, sizeof *sums);
            if (sums == NULL) {
                failed = 1;
            } else {
                free(opt->af_sums);
                opt->af_sums = sums;
                opt->af_sums_len = 2 * slots;
            }
        }
    }
    if (failed) {
        adaopt__drop_slot(&shaped, 0);
        adaopt__drop_slot(&shaped, 1);
        free(shaped.af_unit_row);
        free(shaped.af_edge);
        return adaopt__fail(opt, ADAOPT_ERR_ALLOC, "set_shape: out of memory for tensor %zu's "
                            "state", ti);
    }
    adaopt__drop_slot(t, 0);
    adaopt__drop_slot(t, 1);
    free(t->af_unit_row);
    free(t->af_edge);
    *t = shaped;
    return ADAOPT_OK;
}

void adaopt__af_reserve_threads(adaopt_optimizer *opt)
{
    size_t need = 0;
    for (size_t i = 0; i < opt->n_tensors; i++) {
        const adaopt_tensor *t = &opt->tensors[i];
        if (t->factored == 1 && t->af_units > 0 && opt->threads * (t->fac_cols + 1) > need)
            need = opt->threads * (t->fac_cols + 1);
    }
    (void)grow_scratch(opt, need); /* (best effort: fewer threads in the first pass) */
}

/* Whether tensor ti may still change shape (no step, no state given). */
static adaopt_status check_unstepped(adaopt_optimizer *opt, size_t ti)
{
    const adaopt_tensor *t = &opt->tensors[ti];
    int ready = t->master_ready;
    for (int k = 0; k < ADAOPT_MAX_SLOTS; k++)
        ready |= t->slot_ready[k] != 0;
    if (t->step > 0 || ready)
        return adaopt__fail(opt, ADAOPT_ERR_STATE, "set_shape: tensor %zu has taken steps (or "
                            "was given state): its shape is set before", ti);
    return ADAOPT_OK;
}

adaopt_status adaopt__check_shape(const size_t *dims, size_t ndim, size_t numel, size_t tensor,
                                  char *msg, size_t msg_size)
{
    if (dims == NULL) {
        snprintf(msg, msg_size, "set_shape: dims must not be NULL");
        return ADAOPT_ERR_NULL;
    }
    if (ndim < 1 || ndim > MAX_DIMS) {
        snprintf(msg, msg_size, "set_shape: %zu dimensions (1 to %d)", ndim, MAX_DIMS);
        return ADAOPT_ERR_VALUE;
    }
    size_t product = 1;
    for (size_t k = 0; k < ndim; k++) {
        if (dims[k] != 0 && product > SIZE_MAX / dims[k]) {
            snprintf(msg, msg_size, "set_shape: the dimensions overflow");
            return ADAOPT_ERR_SIZE;
        }
        product *= dims[k];
    }
    if (product != numel) {
        snprintf(msg, msg_size, "set_shape: the dimensions make %zu elements, tensor %zu has %zu",
                 product, tensor, numel);
        return ADAOPT_ERR_SIZE;
    }
    return ADAOPT_OK;
}

adaopt_status adaopt_set_shape(adaopt_optimizer *opt, size_t tensor, const size_t *dims,
                               size_t ndim)
{
    if (opt == NULL)
        return ADAOPT_ERR_NULL;
    if (tensor >= opt->n_tensors)
        return adaopt__fail(opt, ADAOPT_ERR_INDEX, "set_shape: tensor %zu out of range (%zu "
                            "tensors)", tensor, opt->n_tensors);
    char msg[160];
    adaopt_status st = adaopt__check_shape(dims, ndim, opt->tensors[tensor].numel, tensor, msg,
                                           sizeof msg);
    if (st != ADAOPT_OK)
        return adaopt__fail(opt, st, "%s", msg);
    st = check_unstepped(opt, tensor);
    if (st != ADAOPT_OK)
        return st;
    const adaopt__algorithm *a = adaopt__algo(opt->algorithm);
    size_t rows = ndim == 2 ? dims[0] : 0, cols = ndim == 2 ? dims[1] : 0;
    if (a->matrix_set != NULL && (st = a->matrix_set(opt, rows, cols)) != ADAOPT_OK)
        return st; /* (Muon's room for the matrix) */
    opt->tensors[tensor].mat_rows = rows;
    opt->tensors[tensor].mat_cols = cols;
    if (!a->shaped)
        return ADAOPT_OK; /* (only Adafactor's state depends on the shape) */
    if (ndim < 2)
        return shape_tensor(opt, tensor, 2, 0, 0, 0, 0);
    size_t batch = 1;
    for (size_t k = 0; k + 2 < ndim; k++)
        batch *= dims[k];
    return shape_tensor(opt, tensor, 1, batch, dims[ndim - 2], dims[ndim - 1], 0);
}

adaopt_status adaopt__af_set_piece(adaopt_optimizer *opt, size_t i, size_t rows, size_t cols,
                                   size_t row0)
{
    if (i >= opt->n_tensors || rows == 0 || cols == 0 || opt->tensors[i].numel % cols != 0 ||
        opt->algorithm != ADAOPT_ALGO_ADAFACTOR)
        return adaopt__fail(opt, ADAOPT_ERR_VALUE, "set_piece: not a piece of whole rows");
    adaopt_status st = check_unstepped(opt, i);
    size_t n_rows = opt->tensors[i].numel / cols;
    size_t batch = n_rows ? (row0 + n_rows - 1) / rows - row0 / rows + 1 : 0;
    return st != ADAOPT_OK ? st : shape_tensor(opt, i, 1, batch, rows, cols, row0);
}
