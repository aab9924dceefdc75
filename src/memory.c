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

/* calloc, over-allocated to align by hand: the original pointer is kept just below the aligned
 * one.  calloc rather than aligned_alloc + memset because a large calloc is fresh pages from the
 * kernel that calloc does not clear: they are zero and cost nothing until touched, so that state
 * (and ZeRO's buffers) of a huge model is paid for as it is used, not all at creation. */
float *adaopt__alloc_state(size_t numel)
{
    if (numel > (SIZE_MAX - 2 * (size_t)HUGE_PAGE_BYTES) / sizeof(float))
        return NULL;
    size_t bytes = numel * sizeof(float);
    size_t align = bytes >= HUGE_PAGE_BYTES ? HUGE_PAGE_BYTES : LINE_BYTES;
    bytes = (bytes + align - 1) / align * align;
    if (bytes == 0)
        bytes = LINE_BYTES; /* an empty tensor still gets a distinct, non-NULL slot */
    unsigned char *raw = calloc(1, bytes + align + sizeof(void *));
    if (raw == NULL)
        return NULL;
    uintptr_t at = ((uintptr_t)raw + sizeof(void *) + align - 1) & ~(uintptr_t)(align - 1);
    unsigned char *data = raw + (at - (uintptr_t)raw);
    memcpy(data - sizeof(void *), &raw, sizeof raw);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (align == HUGE_PAGE_BYTES)
        (void)madvise(data, bytes, MADV_HUGEPAGE); /* advice only: failure changes nothing */
#endif
    return (float *)(void *)data;
}

void adaopt__free_state(float *state)
{
    if (state == NULL)
        return;
    void *raw;
    memcpy(&raw, (unsigned char *)state - sizeof raw, sizeof raw);
    free(raw);
}
