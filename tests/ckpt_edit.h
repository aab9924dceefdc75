/*
 * ckpt_edit.h -- a checkpoint taken apart into its sections (docs/CHECKPOINT.md), edited field by
 * field, and put back together with every checksum recomputed: the tool of a crafted checkpoint,
 * shared by test_hostile.c and fuzz_checkpoint.c.  Header-only (static functions); tests only.
 */
#ifndef ADAOPT_CKPT_EDIT_H
#define ADAOPT_CKPT_EDIT_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/internal.h" /* adaopt__crc32c */

enum { CK_MAX_SECTIONS = 64, CK_HEADER = 24 };

typedef struct ck_section {
    char tag[4];
    unsigned char *p; /* the payload (malloc'd) */
    size_t n;
} ck_section;

typedef struct ck_file {
    unsigned char header[CK_HEADER];
    ck_section s[CK_MAX_SECTIONS];
    int count;
} ck_file;

static inline uint64_t ck_le(const unsigned char *p, int bytes)
{
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static inline void ck_put_le(unsigned char *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static inline void ck_free(ck_file *f)
{
    for (int i = 0; i < f->count; i++)
        free(f->s[i].p);
    f->count = 0;
}

/* 0, or -1 if buf is not a checkpoint's layout (its checksums are not checked). */
static inline int ck_parse(const unsigned char *buf, size_t n, ck_file *f)
{
    f->count = 0;
    if (n < CK_HEADER)
        return -1;
    memcpy(f->header, buf, CK_HEADER);
    size_t off = CK_HEADER;
    while (off < n) {
        if (n - off < 16 || f->count == CK_MAX_SECTIONS)
            goto bad;
        uint64_t len = ck_le(buf + off + 8, 8);
        if (len > n - off - 16 || n - off - 16 - len < 4)
            goto bad;
        ck_section *s = &f->s[f->count];
        memcpy(s->tag, buf + off, 4);
        s->n = (size_t)len;
        s->p = malloc(s->n ? s->n : 1);
        if (s->p == NULL)
            goto bad;
        memcpy(s->p, buf + off + 16, s->n);
        f->count++;
        size_t pad = (size_t)((8 - (len + 4) % 8) % 8);
        if (n - off - 16 - len - 4 < pad)
            goto bad;
        off += 16 + (size_t)len + 4 + pad;
    }
    return 0;
bad:
    ck_free(f);
    return -1;
}

/* The checkpoint's bytes (malloc'd, *n long), every CRC recomputed. */
static inline unsigned char *ck_build(const ck_file *f, size_t *n)
{
    size_t total = CK_HEADER;
    for (int i = 0; i < f->count; i++)
        total += 16 + f->s[i].n + 4 + (8 - (f->s[i].n + 4) % 8) % 8;
    unsigned char *out = calloc(1, total);
    if (out == NULL)
        return NULL;
    memcpy(out, f->header, CK_HEADER);
    ck_put_le(out + 20, adaopt__crc32c(0, out, 20), 4);
    size_t off = CK_HEADER;
    for (int i = 0; i < f->count; i++) {
        const ck_section *s = &f->s[i];
        memcpy(out + off, s->tag, 4);
        ck_put_le(out + off + 8, s->n, 8);
        memcpy(out + off + 16, s->p, s->n);
        ck_put_le(out + off + 16 + s->n, adaopt__crc32c(0, s->p, s->n), 4);
        off += 16 + s->n + 4 + (8 - (s->n + 4) % 8) % 8;
    }
    *n = total;
    return out;
}

/* Replaces `removed` bytes at `at` of section i's payload by `added` bytes of `data` (NULL:
 * zeros); 0 or -1. */
static inline int ck_splice(ck_file *f, int i, size_t at, size_t removed, const void *data,
                            size_t added)
{
    ck_section *s = &f->s[i];
    if (at > s->n || removed > s->n - at)
        return -1;
    size_t n = s->n - removed + added;
    unsigned char *p = malloc(n ? n : 1);
    if (p == NULL)
        return -1;
    memcpy(p, s->p, at);
    if (data != NULL)
        memcpy(p + at, data, added);
    else
        memset(p + at, 0, added);
    memcpy(p + at + added, s->p + at + removed, s->n - at - removed);
    free(s->p);
    s->p = p;
    s->n = n;
    return 0;
}

static inline void ck_set_f64(ck_file *f, int i, size_t at, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, 8);
    ck_put_le(f->s[i].p + at, bits, 8);
}

static inline void ck_set_f32(ck_file *f, int i, size_t at, float v)
{
    uint32_t bits;
    memcpy(&bits, &v, 4);
    ck_put_le(f->s[i].p + at, bits, 4);
}

/* Field offsets (docs/CHECKPOINT.md).  META: */
enum { CK_META_ALGORITHM = 0, CK_META_POLICY = 4, CK_META_GROUPS = 8, CK_META_TENSORS = 16,
       CK_META_STEPS = 24, CK_META_SKIPPED = 32, CK_META_SEED = 40 };
/* TENS: */
enum { CK_TENS_INDEX = 0, CK_TENS_NUMEL = 8, CK_TENS_GROUP = 16, CK_TENS_STEP = 24,
       CK_TENS_MU = 32, CK_TENS_MASK = 40, CK_TENS_READY = 44, CK_TENS_V1_SLOTS = 48,
       CK_TENS_STORAGE = 48, CK_TENS_MASTER = 52, CK_TENS_V2_SLOTS = 56 };
/* GRPS, per group: u64 first, u64 count, (version 2: u32 param dtype, u32 grad dtype), u32
 * n_options, n_options x (u32 id, f64 value). */
static inline size_t ck_grps_options_at(int version)
{
    return 16 + (version >= 2 ? 8 : 0);
}

#endif
