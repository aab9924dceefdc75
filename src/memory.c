/*
 * memory.c -- the optimizer's state arrays: zero-filled, 64-byte aligned, and on Linux backed by
 * transparent huge pages when large (fewer TLB misses when a sparse step touches scattered rows
 * of a big table, and when a dense step streams it).
 */
#define _DEFAULT_SOURCE /* madvise */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "internal.h"

enum { LINE_BYTES = 64, HUGE_PAGE_BYTES = 2 << 20 };

float *adaopt__alloc_state(size_t numel)
{
    if (numel > (SIZE_MAX - HUGE_PAGE_BYTES) / sizeof(float))
        return NULL;
    size_t bytes = numel * sizeof(float);
    size_t align = bytes >= HUGE_PAGE_BYTES ? HUGE_PAGE_BYTES : LINE_BYTES;
    bytes = (bytes + align - 1) / align * align;
    if (bytes == 0)
        bytes = LINE_BYTES; /* an empty tensor still gets a distinct, non-NULL slot */
    float *data = aligned_alloc(align, bytes);
    if (data == NULL)
        return NULL;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (align == HUGE_PAGE_BYTES)
        (void)madvise(data, bytes, MADV_HUGEPAGE); /* advice only: failure changes nothing */
#endif
    memset(data, 0, bytes);
    return data;
}
