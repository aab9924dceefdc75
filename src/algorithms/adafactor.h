/*
 * adafactor.h -- what Adafactor's shapes (adafactor_shape.c) and its step (adafactor.c) share.
 */
#ifndef ADAOPT_ADAFACTOR_H
#define ADAOPT_ADAFACTOR_H

#include "algorithm.h"

/* The first row of segment s of a matrix of `rows` rows cut into S segments. */
static inline size_t adaopt__af_segment_row(size_t rows, size_t S, size_t s)
{
    return s * rows / S;
}

/* The chunks (a vector) or units (a factored tensor) of t whose sums the step keeps. */
static inline size_t adaopt__af_sum_slots(const adaopt_tensor *t)
{
    size_t n = t->factored == 1 ? t->af_units
                                : t->numel / ADAOPT_CHUNK_ELEMS + (t->numel % ADAOPT_CHUNK_ELEMS != 0);
    return n ? n : 1;
}

#endif
