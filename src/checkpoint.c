/*
 * checkpoint.c -- saving and loading an optimizer's complete state (format: docs/CHECKPOINT.md).
 *
 *   file    = header, sections (META, GRPS, one TENS per tensor, END)
 *   header  = "ADAOPTCK", u32 version (1 to 3), u32 section count, u32 flags (0), u32 CRC-32C of
 *             the 20 bytes before it                                       (24 bytes)
 *   section = 4-byte tag, u32 0, u64 payload length, payload, u32 CRC-32C of the payload,
 *             zero bytes up to a multiple of 8
 * All integers and floats little-endian.  A save streams (one pass over the state, the CRC
 * trails each payload); a load checks every byte into new arrays and commits only when the
 * whole checkpoint has been accepted, so a refused checkpoint changes nothing.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "algorithms/algorithm.h"

#define MAGIC "ADAOPTCK"
/* Version 1: float32 everything (adaopt 0.1, 0.2).  Version 2 adds the element types, the
 * low-precision options, the storage of each state array (float32, bf16 or 8-bit codes with their
 * absmax), the master weights and the rounding seed.  Version 3 adds the classic algorithms'
 * `torch` option.  An optimizer is written in the oldest version that can hold it: version 1
 * when it uses none of these, which every release reads. */
enum { FORMAT_VERSION_MAX = 3, HEADER_BYTES = 24, SECTION_HEAD_BYTES = 16 };
/* Step counts a load accepts: what adaopt_set_step accepts and a step reaches (internal.h;
 * 2^64 - 1 would wrap to 0 at the next step). */
#define MAX_STEPS ADAOPT__MAX_STEPS

/* ------------------------------------------------------------------------------------------ */
/* Writing: to a buffer or a file, through one sink                                          */

typedef struct sink {
    unsigned char *buf; /* buffer mode */
    size_t capacity, used;
    adaopt__atomic_file *file; /* file mode: staged through buf, written when full */
    adaopt__io_error err;
    int failed;
    uint32_t crc;       /* of the current payload */
} sink;

enum { STAGE_BYTES = 1 << 16 };

static void flush(sink *s)
{
    if (!s->failed && s->used > 0 && adaopt__atomic_write(s->file, s->buf, s->used, &s->err) != 0)
        s->failed = 1;
    s->used = 0;
}

static void put(sink *s, const void *data, size_t n)
{
    if (s->failed || n == 0)
        return;
    s->crc = adaopt__crc32c(s->crc, data, n);
    if (s->file != NULL) {
        const unsigned char *p = data;
        while (n > 0 && !s->failed) {
            size_t room = s->capacity - s->used, take = n < room ? n : room;
            memcpy(s->buf + s->used, p, take);
            s->used += take;
            p += take;
            n -= take;
            if (s->used == s->capacity)
                flush(s);
        }
        return;
    }
    if (s->buf != NULL && s->used + n <= s->capacity)
        memcpy(s->buf + s->used, data, n);
    else if (s->buf != NULL)
        s->failed = 1;
    s->used += n;
}

static void put_u32(sink *s, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    put(s, b, 4);
}

static void put_u64(sink *s, uint64_t v)
{
    put_u32(s, (uint32_t)v);
    put_u32(s, (uint32_t)(v >> 32));
}

static void put_f64(sink *s, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, 8);
    put_u64(s, bits);
}

static int little_endian(void)
{
    const uint32_t one = 1;
    unsigned char first;
    memcpy(&first, &one, 1);
    return first == 1;
}

static void put_floats(sink *s, const float *v, size_t n)
{
    if (little_endian()) {
        put(s, v, n * sizeof *v);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, &v[i], 4);
        put_u32(s, bits);
    }
}

static void begin_section(sink *s, const char tag[4], uint64_t payload_bytes)
{
    put(s, tag, 4);
    put_u32(s, 0);
    put_u64(s, payload_bytes);
    s->crc = 0;
}

static void end_section(sink *s, uint64_t payload_bytes)
{
    uint32_t crc = s->crc;
    put_u32(s, crc);
    static const unsigned char zeros[8] = {0};
    put(s, zeros, (size_t)((8 - (payload_bytes + 4) % 8) % 8));
}

/* The version this optimizer is written in. */
static int format_version(const adaopt_optimizer *opt)
{
    const adaopt__algorithm *a = adaopt__algo(opt->algorithm);
    if (a->min_format_version == 3)
        return 3;
    if (adaopt__option_applies(opt->algorithm, ADAOPT_TORCH))
        for (size_t g = 0; g < opt->n_groups; g++)
            if (opt->groups[g].hp[ADAOPT_TORCH] != ADAOPT_TORCH_2)
                return 3;
    if (opt->rounding_seed != 0 || a->min_format_version == 2)
        return 2; /* (Schedule-Free came after version 2: its files are all version 2) */
    for (size_t g = 0; g < opt->n_groups; g++) {
        const adaopt_group *gr = &opt->groups[g];
        if (gr->param_dtype != ADAOPT_DTYPE_F32 || gr->grad_dtype != ADAOPT_DTYPE_F32 ||
            gr->hp[ADAOPT_PARAM_UPDATE] != ADAOPT_UPDATE_MASTER ||
            gr->hp[ADAOPT_STATE_STORAGE] != ADAOPT_STORAGE_F32 ||
            gr->hp[ADAOPT_MIN_8BIT_NUMEL] != 4096.0)
            return 2;
    }
    return 1;
}

/* Options a version records: version 1 knew ids up to ADAOPT_EPS_MODE, the low-precision
 * ones (18..20) came with version 2 and `torch` with version 3.  The others belong to algorithms
 * newer than versions 1 and 2 (Schedule-Free, LAMB, Adafactor), so every version records them. */
static int option_in_version(int version, int option)
{
    if (option == ADAOPT_TORCH)
        return version >= 3;
    return version >= 2 || option <= ADAOPT_EPS_MODE || option > ADAOPT_MIN_8BIT_NUMEL;
}

/* The payload sizes, shared by the writer and adaopt_checkpoint_size. */
static uint64_t meta_bytes(int version)
{
    return 4 + 4 + 8 + 8 + 8 + 8 + (version >= 2 ? 8 : 0);
}

/* The option recorded after `option` (ADAOPT_LR - 1: the first), or ADAOPT_OPTION_MAX + 1. */
static int next_option(adaopt_algorithm a, int version, int option)
{
    for (int o = option + 1; o <= ADAOPT_OPTION_MAX; o++)
        if (adaopt__option_applies(a, (adaopt_option)o) && option_in_version(version, o))
            return o;
    return ADAOPT_OPTION_MAX + 1;
}

static unsigned applicable_options(adaopt_algorithm a, int version)
{
    unsigned n = 0;
    for (int o = ADAOPT_LR; o <= ADAOPT_OPTION_MAX; o++)
        n += adaopt__option_applies(a, (adaopt_option)o) && option_in_version(version, o);
    return n;
}

/* Schedule-Free's group record after the options: u64 k, f64 weight_sum, f64 lr_max,
 * u32 train_mode, u32 reserved (0).  LAMB's (version 3): u64 k, the group's step count. */
enum { SF_GROUP_BYTES = 32, LAMB_GROUP_BYTES = 8 };

static uint64_t group_record_bytes(const adaopt__algorithm *a, int version)
{
    return a->group_record == ADAOPT__GROUP_RECORD_WEIGHTS                 ? SF_GROUP_BYTES
           : a->group_record == ADAOPT__GROUP_RECORD_COUNT && version >= 3 ? LAMB_GROUP_BYTES
                                                                          : 0;
}

static uint64_t groups_bytes(const adaopt_optimizer *opt, int version)
{
    return (uint64_t)opt->n_groups *
           (8 + 8 + 4 + (version >= 2 ? 8 : 0) + 12ull * applicable_options(opt->algorithm, version) +
            group_record_bytes(adaopt__algo(opt->algorithm), version));
}

static unsigned slot_mask(const adaopt_tensor *t)
{
    unsigned mask = 0;
    for (int s = 0; s < ADAOPT_MAX_SLOTS; s++)
        mask |= adaopt__has_slot(t, s) ? 1u << s : 0u;
    return mask;
}

static uint64_t blocks_of(uint64_t numel)
{
    return numel / ADAOPT__BLOCK + (numel % ADAOPT__BLOCK != 0);
}

/* Bytes of one state array in `storage`. */
static uint64_t slot_bytes(int storage, uint64_t numel)
{
    return storage == ADAOPT_STORAGE_F32    ? numel * 4
           : storage == ADAOPT_STORAGE_BF16 ? numel * 2
                                            : blocks_of(numel) * 4 + numel;
}

/* LAMB's tensors end with their last weight norm, adam norm and trust ratio (3 x f64);
 * Adafactor's have, before their arrays, u32 factored (1 a matrix, 2 a vector), u32 reserved 0,
 * u64 batch, u64 rows, u64 cols (its shape's factoring) and f64 alpha / denom of the last step. */
enum { LAMB_TENSOR_BYTES = 24, ADAFACTOR_TENSOR_BYTES = 40 };

static uint64_t tensor_bytes(const adaopt_tensor *t, int version, adaopt_algorithm a)
{
    unsigned mask = slot_mask(t);
    uint64_t n = 8 * 5 + 4 + 4;
    for (int s = 0; s < ADAOPT_MAX_SLOTS; s++)
        if ((mask >> s) & 1u)
            n += slot_bytes(t->storage, adaopt__slot_numel(t, s));
    if (version >= 2)
        n += 4 + 4 + (t->master != NULL ? (uint64_t)t->numel * 4 : 0);
    enum adaopt__tensor_record r = adaopt__algo(a)->tensor_record;
    return n + (r == ADAOPT__TENSOR_RECORD_SCALARS ? LAMB_TENSOR_BYTES : 0) +
           (r == ADAOPT__TENSOR_RECORD_SHAPE ? ADAFACTOR_TENSOR_BYTES : 0);
}

static uint64_t section_total(uint64_t payload)
{
    return SECTION_HEAD_BYTES + payload + 4 + (8 - (payload + 4) % 8) % 8;
}

size_t adaopt_checkpoint_size(const adaopt_optimizer *opt)
{
    if (opt == NULL)
        return 0;
    int version = format_version(opt);
    uint64_t n = HEADER_BYTES + section_total(meta_bytes(version)) +
                 section_total(groups_bytes(opt, version)) + section_total(0);
    for (size_t i = 0; i < opt->n_tensors; i++)
        n += section_total(tensor_bytes(&opt->tensors[i], version, opt->algorithm));
    return n > SIZE_MAX ? SIZE_MAX : (size_t)n;
}

/* The largest checkpoint this optimizer could load: version 3 (every option), every slot in
 * float32 (the widest storage), master weights.  adaopt_load_file reads no file larger than this,
 * so that a huge or endless file costs at most this much memory. */
static uint64_t checkpoint_bytes_max(const adaopt_optimizer *opt)
{
    uint64_t n = HEADER_BYTES + section_total(meta_bytes(3)) +
                 section_total(groups_bytes(opt, FORMAT_VERSION_MAX)) + section_total(0);
    for (size_t i = 0; i < opt->n_tensors; i++) {
        uint64_t numel = opt->tensors[i].numel;
        if (numel > (uint64_t)1 << 56 || n > (uint64_t)1 << 62)
            return SIZE_MAX; /* (no real file: then only the file's own size bounds the read) */
        n += section_total(8 * 5 + 4 + 4 + 4 + 4 + ADAOPT_MAX_SLOTS * numel * 4 + numel * 4 +
                           LAMB_TENSOR_BYTES + ADAFACTOR_TENSOR_BYTES);
        if (n > SIZE_MAX)
            return SIZE_MAX;
    }
    return n;
}

static void put_u16s(sink *s, const uint16_t *v, size_t n)
{
    if (little_endian()) {
        put(s, v, n * sizeof *v);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char b[2] = {(unsigned char)v[i], (unsigned char)(v[i] >> 8)};
        put(s, b, 2);
    }
}

static void put_slot(sink *s, const adaopt_tensor *t, int k)
{
    size_t n = adaopt__slot_numel(t, k); /* (numel, but for Adafactor's slots) */
    if (t->storage == ADAOPT_STORAGE_F32) {
        put_floats(s, t->slot[k], n);
    } else if (t->storage == ADAOPT_STORAGE_BF16) {
        put_u16s(s, t->packed[k], n);
    } else {
        put_floats(s, t->absmax[k], (size_t)blocks_of(n));
        put(s, t->packed[k], n);
    }
}

static void write_checkpoint(const adaopt_optimizer *opt, sink *s)
{
    int version = format_version(opt);
    const adaopt__algorithm *a = adaopt__algo(opt->algorithm);
    unsigned char header[HEADER_BYTES];
    memcpy(header, MAGIC, 8);
    uint32_t fields[3] = {(uint32_t)version, (uint32_t)(3 + opt->n_tensors), 0};
    for (int f = 0; f < 3; f++)
        for (int b = 0; b < 4; b++)
            header[8 + 4 * f + b] = (unsigned char)(fields[f] >> (8 * b));
    uint32_t hcrc = adaopt__crc32c(0, header, 20);
    for (int b = 0; b < 4; b++)
        header[20 + b] = (unsigned char)(hcrc >> (8 * b));
    put(s, header, HEADER_BYTES);

    begin_section(s, "META", meta_bytes(version));
    put_u32(s, (uint32_t)opt->algorithm);
    put_u32(s, (uint32_t)opt->nonfinite_policy);
    put_u64(s, opt->n_groups);
    put_u64(s, opt->n_tensors);
    put_u64(s, opt->steps_taken);
    put_u64(s, opt->steps_skipped);
    if (version >= 2)
        put_u64(s, opt->rounding_seed);
    end_section(s, meta_bytes(version));

    begin_section(s, "GRPS", groups_bytes(opt, version));
    for (size_t g = 0; g < opt->n_groups; g++) {
        put_u64(s, opt->groups[g].first_tensor);
        put_u64(s, opt->groups[g].n_tensors);
        if (version >= 2) {
            put_u32(s, (uint32_t)opt->groups[g].param_dtype);
            put_u32(s, (uint32_t)opt->groups[g].grad_dtype);
        }
        put_u32(s, applicable_options(opt->algorithm, version));
        for (int o = ADAOPT_LR; o <= ADAOPT_OPTION_MAX; o++) {
            if (!adaopt__option_applies(opt->algorithm, (adaopt_option)o) ||
                !option_in_version(version, o))
                continue;
            put_u32(s, (uint32_t)o);
            put_f64(s, opt->groups[g].hp[o]);
        }
        if (a->group_record == ADAOPT__GROUP_RECORD_WEIGHTS) {
            put_u64(s, opt->groups[g].steps);
            put_f64(s, opt->groups[g].sf_weight_sum);
            put_f64(s, opt->groups[g].sf_lr_max);
            put_u32(s, (uint32_t)opt->training);
            put_u32(s, 0);
        }
        if (a->group_record == ADAOPT__GROUP_RECORD_COUNT)
            put_u64(s, opt->groups[g].steps);
    }
    end_section(s, groups_bytes(opt, version));

    for (size_t i = 0; i < opt->n_tensors; i++) {
        const adaopt_tensor *t = &opt->tensors[i];
        unsigned mask = slot_mask(t), ready = 0;
        for (int k = 0; k < ADAOPT_MAX_SLOTS; k++)
            ready |= t->slot_ready[k] ? 1u << k : 0u;
        begin_section(s, "TENS", tensor_bytes(t, version, opt->algorithm));
        put_u64(s, i);
        put_u64(s, t->numel);
        put_u64(s, t->group);
        put_u64(s, t->step);
        put_f64(s, t->mu_product);
        put_u32(s, mask);
        put_u32(s, ready);
        if (version >= 2) {
            put_u32(s, (uint32_t)t->storage);
            put_u32(s, (t->master != NULL ? 1u : 0u) | (t->master_ready ? 2u : 0u));
        }
        if (a->tensor_record == ADAOPT__TENSOR_RECORD_SHAPE) {
            put_u32(s, (uint32_t)t->factored);
            put_u32(s, 0);
            put_u64(s, t->fac_batch);
            put_u64(s, t->fac_rows);
            put_u64(s, t->fac_cols);
            put_f64(s, t->af_scale);
        }
        for (int k = 0; k < ADAOPT_MAX_SLOTS; k++)
            if (mask & (1u << k))
                put_slot(s, t, k);
        if (version >= 2 && t->master != NULL)
            put_floats(s, t->master, t->numel);
        if (a->tensor_record == ADAOPT__TENSOR_RECORD_SCALARS)
            for (int k = 0; k < 3; k++)
                put_f64(s, t->scalars[k]);
        end_section(s, tensor_bytes(t, version, opt->algorithm));
    }
    begin_section(s, "END ", 0);
    end_section(s, 0);
}

adaopt_status adaopt_save_buffer(const adaopt_optimizer *opt, void *buf, size_t capacity,
                                 size_t *written)
{
    adaopt_optimizer *o = (adaopt_optimizer *)opt; /* only its error buffer is written */
    if (opt == NULL)
        return ADAOPT_ERR_NULL;
    if (buf == NULL)
        return adaopt__fail(o, ADAOPT_ERR_NULL, "save_buffer: buf must not be NULL");
    size_t need = adaopt_checkpoint_size(opt);
    if (capacity < need)
        return adaopt__fail(o, ADAOPT_ERR_SIZE, "save_buffer: %zu bytes given, %zu needed",
                            capacity, need);
    sink s = {buf, capacity, 0, NULL, {NULL, 0, NULL}, 0, 0};
    write_checkpoint(opt, &s);
    if (s.failed || s.used != need)
        return adaopt__fail(o, ADAOPT_ERR_SIZE, "save_buffer: internal size mismatch");
    if (written != NULL)
        *written = s.used;
    return ADAOPT_OK;
}

adaopt_status adaopt_save_file(const adaopt_optimizer *opt, const char *path)
{
    adaopt_optimizer *o = (adaopt_optimizer *)opt;
    if (opt == NULL)
        return ADAOPT_ERR_NULL;
    if (path == NULL)
        return adaopt__fail(o, ADAOPT_ERR_NULL, "save_file: path must not be NULL");
    unsigned char *stage = malloc(STAGE_BYTES);
    if (stage == NULL)
        return adaopt__fail(o, ADAOPT_ERR_ALLOC, "save_file: out of memory");
    adaopt__atomic_file f;
    sink s = {stage, STAGE_BYTES, 0, &f, {NULL, 0, NULL}, 0, 0};
    if (adaopt__atomic_begin(&f, path, &s.err) != 0) {
        free(stage);
        if (s.err.why != NULL)
            return adaopt__fail(o, ADAOPT_ERR_IO, "save_file: %s: %s (nothing was written)",
                                path, s.err.why);
        return adaopt__fail(o, ADAOPT_ERR_IO, "save_file: cannot create a temporary file beside "
                            "%s: %s: %s (the old file, if any, is untouched)", path, s.err.call,
                            adaopt__io_reason(&s.err));
    }
    write_checkpoint(opt, &s);
    flush(&s);
    free(stage);
    int rc = -1;
    if (s.failed)
        adaopt__atomic_abort(&f);
    else
        rc = adaopt__atomic_commit(&f, &s.err);
    if (rc == ADAOPT__IO_REPLACED)
        return adaopt__fail(o, ADAOPT_ERR_IO, "save_file: %s is written and in place, but %s "
                            "failed: %s (it may not survive a power cut)", path, s.err.call,
                            adaopt__io_reason(&s.err));
    if (rc != 0)
        return adaopt__fail(o, ADAOPT_ERR_IO, "save_file: writing %s: %s: %s (the old file, if "
                            "any, is untouched)", path, s.err.call, adaopt__io_reason(&s.err));
    return ADAOPT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Reading                                                                                    */

typedef struct source {
    const unsigned char *p;
    size_t left;
} source;

static int take(source *s, void *out, size_t n)
{
    if (s->left < n)
        return -1;
    memcpy(out, s->p, n);
    s->p += n;
    s->left -= n;
    return 0;
}

static int get_u32(source *s, uint32_t *v)
{
    unsigned char b[4];
    if (take(s, b, 4))
        return -1;
    *v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    return 0;
}

static int get_u64(source *s, uint64_t *v)
{
    uint32_t lo, hi;
    if (get_u32(s, &lo) || get_u32(s, &hi))
        return -1;
    *v = (uint64_t)hi << 32 | lo;
    return 0;
}

static int get_f64(source *s, double *v)
{
    uint64_t bits;
    if (get_u64(s, &bits))
        return -1;
    memcpy(v, &bits, 8);
    return 0;
}

/* The next section: its tag and payload (checked against its CRC); -1 on damage. */
static int next_section(source *s, char tag[5], source *payload)
{
    uint32_t zero, crc;
    uint64_t length;
    if (take(s, tag, 4) || get_u32(s, &zero) || get_u64(s, &length) || zero != 0)
        return -1;
    tag[4] = '\0';
    if (length > s->left || s->left - length < 4)
        return -1;
    payload->p = s->p;
    payload->left = (size_t)length;
    s->p += length;
    s->left -= (size_t)length;
    if (get_u32(s, &crc) || crc != adaopt__crc32c(0, payload->p, payload->left))
        return -1;
    size_t pad = (size_t)((8 - (length + 4) % 8) % 8);
    unsigned char zeros[8];
    if (take(s, zeros, pad))
        return -1;
    for (size_t i = 0; i < pad; i++)
        if (zeros[i] != 0)
            return -1;
    return 0;
}

/* A tensor as read, in an adaopt_tensor of its own (state arrays, master, storage). */
typedef struct loaded_tensor {
    unsigned mask, ready;
    adaopt_tensor t;
} loaded_tensor;

static void free_loaded(loaded_tensor *lt, size_t n)
{
    for (size_t i = 0; i < n; i++)
        adaopt__free_tensor_state(&lt[i].t);
    free(lt);
}

static int take_floats(source *p, float *out, size_t n)
{
    if (p->left / 4 < n)
        return -1;
    if (little_endian())
        return take(p, out, n * 4);
    for (size_t e = 0; e < n; e++) {
        uint32_t bits;
        get_u32(p, &bits);
        memcpy(&out[e], &bits, 4);
    }
    return 0;
}

/* One state array in the tensor's storage; -1 if short or an absmax is negative or NaN. */
static int take_slot(source *p, adaopt_tensor *t, int k)
{
    size_t n = adaopt__slot_numel(t, k);
    if (t->storage == ADAOPT_STORAGE_F32)
        return take_floats(p, t->slot[k], n);
    if (t->storage == ADAOPT_STORAGE_BF16) {
        uint16_t *h = t->packed[k];
        if (p->left / 2 < n)
            return -1;
        for (size_t e = 0; e < n; e++) {
            unsigned char b[2];
            take(p, b, 2);
            h[e] = (uint16_t)(b[0] | b[1] << 8);
        }
        return 0;
    }
    size_t blocks = n / ADAOPT__BLOCK + (n % ADAOPT__BLOCK != 0);
    if (take_floats(p, t->absmax[k], blocks) != 0 || take(p, t->packed[k], n) != 0)
        return -1;
    for (size_t b = 0; b < blocks; b++)
        if (!(t->absmax[k][b] >= 0.0f)) /* infinity can be written (an infinite state) */
            return -1;
    return 0;
}

/* The slots that hold second moments: never negative, whatever the storage (8-bit ones use
 * the unsigned map). */
static unsigned nonnegative_slots(adaopt_algorithm a)
{
    const adaopt__algorithm *row = adaopt__algo(a);
    unsigned mask = 0;
    for (int k = 0; k < ADAOPT_MAX_SLOTS; k++)
        mask |= row->slot_kind[k] != 0 && adaopt__never_negative(row->slot_kind[k]) ? 1u << k
                                                                                    : 0u;
    return mask;
}

/* The name of slot k's state (Adafactor's slot 0: row_var of a matrix, variance of a vector). */
static const char *slot_name(const adaopt_optimizer *opt, const adaopt_tensor *t, int k)
{
    const adaopt__algorithm *row = adaopt__algo(opt->algorithm);
    adaopt_state_kind kind = row->tensor_slot_kind != NULL ? row->tensor_slot_kind(opt, t, k)
                                                           : row->slot_kind[k];
    return kind != 0 ? adaopt_state_name(kind) : "state"; /* (Adafactor's, Muon's: by tensor) */
}

/* The values of tensor i's loaded state: every float finite (a diverged run's state is not
 * loaded: ADAOPT_ERR_NONFINITE), second moments not negative (no step makes them so:
 * ADAOPT_ERR_FORMAT), 8-bit absmax finite. */
static adaopt_status check_values(adaopt_optimizer *opt, size_t i, const adaopt_tensor *l,
                                  unsigned mask)
{
    unsigned squares = nonnegative_slots(opt->algorithm);
    for (int k = 0; k < ADAOPT_MAX_SLOTS; k++) {
        if (!(mask & (1u << k)))
            continue;
        size_t n = adaopt__slot_numel(l, k), bad;
        int nonneg = (squares >> k) & 1u, finite = 1; /* (finite: what the bad element is) */
        if (l->storage == ADAOPT_STORAGE_F32) {
            bad = adaopt__first_bad_float(l->slot[k], n, nonneg);
            finite = bad < n && isfinite(l->slot[k][bad]);
        } else if (l->storage == ADAOPT_STORAGE_BF16) {
            bad = adaopt__first_bad_bf16(l->packed[k], n, nonneg);
            finite = bad < n && (((const uint16_t *)l->packed[k])[bad] & 0x7f80u) != 0x7f80u;
        } else { /* (codes are finite by construction; an absmax is >= 0 by take_slot) */
            size_t blocks = n / ADAOPT__BLOCK + (n % ADAOPT__BLOCK != 0);
            bad = adaopt__first_bad_float(l->absmax[k], blocks, 0);
            bad = bad < blocks ? bad * ADAOPT__BLOCK : n;
            finite = 0;
        }
        const char *name = slot_name(opt, l, k);
        if (bad < n && !finite)
            return adaopt__fail(opt, ADAOPT_ERR_NONFINITE, "load: tensor %zu's %s holds a NaN or "
                                "infinite value (element %zu): a diverged state is not loaded",
                                i, name, bad);
        if (bad < n)
            return adaopt__fail(opt, ADAOPT_ERR_FORMAT, "load: tensor %zu's %s is negative at "
                                "element %zu; a second moment never is (damaged)", i, name, bad);
    }
    if (l->master != NULL) {
        size_t bad = adaopt__first_bad_float(l->master, l->numel, 0);
        if (bad < l->numel)
            return adaopt__fail(opt, ADAOPT_ERR_NONFINITE, "load: tensor %zu's master weights "
                                "hold a NaN or infinite value (element %zu): a diverged state is "
                                "not loaded", i, bad);
    }
    return ADAOPT_OK;
}

/* A slot this algorithm has at all. */
static int slot_exists(adaopt_algorithm a, int slot)
{
    return adaopt__algo(a)->slot_kind[slot] != 0;
}

adaopt_status adaopt_load_buffer(adaopt_optimizer *opt, const void *buf, size_t length)
{
    if (opt == NULL)
        return ADAOPT_ERR_NULL;
    if (buf == NULL)
        return adaopt__fail(opt, ADAOPT_ERR_NULL, "load: buf must not be NULL");
    source s = {buf, length};
    unsigned char header[HEADER_BYTES];
    if (take(&s, header, HEADER_BYTES) || memcmp(header, MAGIC, 8) != 0)
        return adaopt__fail(opt, ADAOPT_ERR_FORMAT, "load: not an adaopt checkpoint (bad magic)");
    source h = {header + 8, 16};
    uint32_t version, n_sections, flags, hcrc;
    get_u32(&h, &version);
    get_u32(&h, &n_sections);
    get_u32(&h, &flags);
    get_u32(&h, &hcrc);
    if (hcrc != adaopt__crc32c(0, header, 20))
        return adaopt__fail(opt, ADAOPT_ERR_FORMAT, "load: header checksum mismatch (damaged)");
    if (version < 1 || version > FORMAT_VERSION_MAX || flags != 0)
        return adaopt__fail(opt, ADAOPT_ERR_FORMAT,
                            "load: checkpoint format version %u, this library reads 1 to %d",
                            version, FORMAT_VERSION_MAX);
    if (n_sections != 3 + opt->n_tensors)
        return adaopt__fail(opt, ADAOPT_ERR_MISMATCH,
                            "load: the checkpoint has %u sections; this optimizer needs %zu",
                            n_sections, 3 + opt->n_tensors);
    char tag[5];
    source p;
    uint32_t algorithm, policy;
    uint64_t n_groups, n_tensors, steps_taken, steps_skipped, rounding_seed = 0;
    if (next_section(&s, tag, &p) || strcmp(tag, "META") || get_u32(&p, &algorithm) ||
        get_u32(&p, &policy) || get_u64(&p, &n_groups) || get_u64(&p, &n_tensors) ||
        get_u64(&p, &steps_taken) || get_u64(&p, &steps_skipped) ||
        (version >= 2 && get_u64(&p, &rounding_seed)) || p.left != 0 ||
        policy > ADAOPT_NONFINITE_ERROR || steps_taken > MAX_STEPS || steps_skipped > MAX_STEPS)
        return adaopt__fail(opt, ADAOPT_ERR_FORMAT, "load: damaged META section");
    if (algorithm != (uint32_t)opt->algorithm)
        return adaopt__fail(opt, ADAOPT_ERR_MISMATCH, "load: a checkpoint of %s, not %s",
                            adaopt_algorithm_name((adaopt_algorithm)algorithm)
                                ? adaopt_algorithm_name((adaopt_algorithm)algorithm)
                                : "an unknown algorithm",
                            adaopt_algorithm_name(opt->algorithm));
    if (n_groups != opt->n_groups || n_tensors != opt->n_tensors)
        return adaopt__fail(opt, ADAOPT_ERR_MISMATCH,
                            "load: the checkpoint has %llu groups of %llu tensors; this optimizer "
                            "%zu groups of %zu", (unsigned long long)n_groups,
                            (unsigned long long)n_tensors, opt->n_groups, opt->n_tensors);

    /* Groups: into a copy of the hyperparameters, checked like adaopt_set (and Schedule-Free's
     * scalars into sf, three per group; LAMB's k into sf[3 g]). */
    enum adaopt__group_record group_record = adaopt__algo(opt->algorithm)->group_record;
    int schedule_free = group_record == ADAOPT__GROUP_RECORD_WEIGHTS;
    int lamb = group_record == ADAOPT__GROUP_RECORD_COUNT;
    uint32_t training = 1;
    double *hp = adaopt__malloc_array(opt->n_groups, sizeof(double) * (ADAOPT_OPTION_MAX + 1 + 3));
    if (hp == NULL)
        return adaopt__fail(opt, ADAOPT_ERR_ALLOC, "load: out of memory");
    double *sf = hp + opt->n_groups * (ADAOPT_OPTION_MAX + 1);
    if (next_section(&s, tag, &p) || strcmp(tag, "GRPS")) {
        free(hp);
        return adaopt__fail(opt, ADAOPT_ERR_FORMAT, "load: damaged GRPS section");
    }
    for (size_t g = 0; g < opt->n_groups; g++) {
        double *row = hp + g * (ADAOPT_OPTION_MAX + 1);
        memcpy(row, opt->groups[g].hp, sizeof(double) * (ADAOPT_OPTION_MAX + 1));
        /* what version 1 could not say is version 1's: float32 throughout; and what versions
         * 1 and 2 could not say is the default, torch 2.x's rounding */
        row[ADAOPT_PARAM_UPDATE] = ADAOPT_UPDATE_MASTER;
        row[ADAOPT_STATE_STORAGE] = ADAOPT_STORAGE_F32;
        row[ADAOPT_MIN_8BIT_NUMEL] = 4096.0;
        if (adaopt__option_applies(opt->algorithm, ADAOPT_TORCH))
            row[ADAOPT_TORCH] = ADAOPT_TORCH_2;
        uint64_t first, count;
        uint32_t n_opts, pd = ADAOPT_DTYPE_F32, gd = ADAOPT_DTYPE_F32;
        if (get_u64(&p, &first) || get_u64(&p, &count) ||
            (version >= 2 && (get_u32(&p, &pd) || get_u32(&p, &gd))) || get_u32(&p, &n_opts)) {
            free(hp);
            return adaopt__fail(opt, ADAOPT_ERR_FORMAT, "load: damaged GRPS section");
        }
        if (pd != (uint32_t)opt->groups[g].param_dtype || gd != (uint32_t)opt->groups[g].grad_dtype) {
            free(hp);
            return adaopt__fail(opt, ADAOPT_ERR_MISMATCH,
                                "load: group %zu holds %s parameters and %s gradients in the "
                                "checkpoint, %s and %s here", g,
                                adaopt_dtype_name((adaopt_dtype)pd) ? adaopt_dtype_name((adaopt_dtype)pd) : "?",
                                adaopt_dtype_name((adaopt_dtype)gd) ? adaopt_dtype_name((adaopt_dtype)gd) : "?",
                                adaopt_dtype_name((adaopt_dtype)opt->groups[g].param_dtype),
                                adaopt_dtype_name((adaopt_dtype)opt->groups[g].grad_dtype));
        }
        if (first != opt->groups[g].first_tensor || count != opt->groups[g].n_tensors) {
            free(hp);
            return adaopt__fail(opt, ADAOPT_ERR_MISMATCH,
                                "load: group %zu holds tensors %llu..%llu in the checkpoint, "
                                "%zu..%zu here", g, (unsigned long long)first,
                                (unsigned long long)(first + count), opt->groups[g].first_tensor,
                                opt->groups[g].first_tensor + opt->groups[g].n_tensors);
        }
        /* Exactly the options the saver writes for this algorithm and version, in increasing
         * order: none missing (it would keep this optimizer's value), none twice. */
        if (n_opts != applicable_options(opt->algorithm, (int)version)) {
            free(hp);
            return adaopt__fail(opt, ADAOPT_ERR_FORMAT, "load: group %zu records %u options; "
                                "%s has %u in a version %u checkpoint (damaged)", g, n_opts,
                                adaopt_algorithm_name(opt->algorithm),
                                applicable_options(opt->algorithm, (int)version), version);
        }
        int want = ADAOPT_LR - 1;
        for (uint32_t k = 0; k < n_opts; k++) {
            uint32_t id;
            double value;
            want = next_option(opt->algorithm, (int)version, want);
            if (get_u32(&p, &id) || get_f64(&p, &value) || id != (uint32_t)want) {
                free(hp);
                return adaopt__fail(opt, ADAOPT_ERR_FORMAT, "load: group %zu's options are not "
                                    "%s's list in order (damaged)", g,
                                    adaopt_algorithm_name(opt->algorithm));
            }
            if (adaopt__check_value(opt, opt->algorithm, (adaopt_option)id, value) != ADAOPT_OK) {
                char why[256]; /* adaopt_set's reason, from the error buffer it wrote */
                snprintf(why, sizeof why, "%s", adaopt_last_error(opt));
                free(hp);
                return adaopt__fail(opt, ADAOPT_ERR_FORMAT,
                                    "load: group %zu has an invalid hyperparameter: %s", g, why);
            }
            row[id] = value;
        }
        if (pd == ADAOPT_DTYPE_F32 && row[ADAOPT_PARAM_UPDATE] != ADAOPT_UPDATE_MASTER) {
            free(hp);
            return adaopt__fail(opt, ADAOPT_ERR_FORMAT,
                                "load: group %zu has an invalid hyperparameter", g);
        }
        if (schedule_free) {
            uint64_t k;
            uint32_t mode, reserved;
            double *v = sf + 3 * g;
            if (version < 2 || get_u64(&p, &k) || get_f64(&p, &v[1]) || get_f64(&p, &v[2]) ||
                get_u32(&p, &mode) || get_u32(&p, &reserved) || reserved != 0 || mode > 1 ||
                (g > 0 && mode != training) || k > MAX_STEPS || v[1] < 0.0 ||
                !(v[2] >= -1.0 && v[2] <= FLT_MAX)) { /* (lr_max: the largest lr, a float) */
                free(hp);
                return adaopt__fail(opt, ADAOPT_ERR_FORMAT,
                                    "load: group %zu has invalid Schedule-Free scalars", g);
            }
            if (isnan(v[1])) { /* (infinite is kept: a run whose weights overflowed reaches it) */
                free(hp);
                return adaopt__fail(opt, ADAOPT_ERR_NONFINITE, "load: group %zu's Schedule-Free "
                                    "weight_sum is NaN: a diverged state is not loaded", g);
            }
            memcpy(&v[0], &k, sizeof k);
            training = mode;
        }
        if (lamb && version >= 3) {
            uint64_t k;
            if (get_u64(&p, &k) || k > MAX_STEPS) {
                free(hp);
                return adaopt__fail(opt, ADAOPT_ERR_FORMAT,
                                    "load: group %zu has an invalid LAMB step count", g);
            }
            memcpy(&sf[3 * g], &k, sizeof k);
        }
    }
    if (p.left != 0) {
        free(hp);
        return adaopt__fail(opt, ADAOPT_ERR_FORMAT, "load: damaged GRPS section");
    }

    /* Tensors: into new arrays. */
    loaded_tensor *lt = calloc(opt->n_tensors ? opt->n_tensors : 1, sizeof *lt);
    if (lt == NULL) {
        free(hp);
        return adaopt__fail(opt, ADAOPT_ERR_ALLOC, "load: out of memory");
    }
    adaopt_status st = ADAOPT_OK;
    int any_8bit = 0;
    for (size_t i = 0; i < opt->n_tensors && st == ADAOPT_OK; i++) {
        const adaopt_tensor *t = &opt->tensors[i];
        adaopt_tensor *l = &lt[i].t;
        const double *row = hp + t->group * (ADAOPT_OPTION_MAX + 1);
        adaopt_group as_loaded = opt->groups[t->group];
        memcpy(as_loaded.hp, row, sizeof as_loaded.hp);
        uint64_t index, numel, group;
        uint32_t storage = ADAOPT_STORAGE_F32, master_flags = 0;
        if (next_section(&s, tag, &p) || strcmp(tag, "TENS") || get_u64(&p, &index) ||
            get_u64(&p, &numel) || get_u64(&p, &group) || get_u64(&p, &l->step) ||
            get_f64(&p, &l->mu_product) || get_u32(&p, &lt[i].mask) ||
            get_u32(&p, &lt[i].ready) || index != i || lt[i].mask >= (1u << ADAOPT_MAX_SLOTS) ||
            (lt[i].ready & ~lt[i].mask) != 0 || l->step > MAX_STEPS ||
            !(l->mu_product >= 0.0 && l->mu_product <= 1.0) ||
            (version >= 2 && (get_u32(&p, &storage) || get_u32(&p, &master_flags)))) {
            st = adaopt__fail(opt, ADAOPT_ERR_FORMAT, "load: damaged section of tensor %zu", i);
            break;
        }
        if (numel != t->numel || group != t->group) {
            st = adaopt__fail(opt, ADAOPT_ERR_MISMATCH,
                              "load: tensor %zu has %llu elements in group %llu in the "
                              "checkpoint, %zu in group %zu here", i, (unsigned long long)numel,
                              (unsigned long long)group, t->numel, t->group);
            break;
        }
        int update = (int)row[ADAOPT_PARAM_UPDATE];
        int has_master = as_loaded.param_dtype != ADAOPT_DTYPE_F32 &&
                         (update == ADAOPT_UPDATE_MASTER || update == ADAOPT_UPDATE_MASTER_SR);
        if ((int)storage != adaopt__storage_for(&as_loaded, t) || master_flags > 3 ||
            (int)(master_flags & 1u) != has_master) {
            st = adaopt__fail(opt, ADAOPT_ERR_FORMAT, "load: tensor %zu's storage does not "
                              "match its group's options (damaged)", i);
            break;
        }
        l->numel = t->numel;
        l->storage = (int)storage;
        any_8bit |= l->storage == ADAOPT_STORAGE_8BIT;
        if (adaopt__algo(opt->algorithm)->tensor_record == ADAOPT__TENSOR_RECORD_SHAPE) {
            /* the shape first: it sizes the arrays */
            uint32_t factored, reserved;
            uint64_t b, r, c;
            if (get_u32(&p, &factored) || get_u32(&p, &reserved) || get_u64(&p, &b) ||
                get_u64(&p, &r) || get_u64(&p, &c) || get_f64(&p, &l->af_scale) ||
                reserved != 0 || !(l->af_scale >= 0.0 || l->af_scale != l->af_scale)) {
                st = adaopt__fail(opt, ADAOPT_ERR_FORMAT, "load: damaged section of tensor %zu", i);
                break;
            }
            if ((int)factored != t->factored ||
                (t->factored == 1 && (b != t->fac_batch || r != t->fac_rows || c != t->fac_cols))) {
                st = adaopt__fail(opt, ADAOPT_ERR_MISMATCH, "load: tensor %zu has another shape "
                                  "in the checkpoint (set it with adaopt_set_shape as when "
                                  "saved)", i);
                break;
            }
            l->factored = t->factored;
            l->fac_batch = t->fac_batch;
            l->fac_rows = t->fac_rows;
            l->fac_cols = t->fac_cols;
            l->fac_row0 = t->fac_row0;
        }
        for (int k = 0; k < ADAOPT_MAX_SLOTS && st == ADAOPT_OK; k++) {
            if (!(lt[i].mask & (1u << k)))
                continue;
            if (!slot_exists(opt->algorithm, k)) {
                st = adaopt__fail(opt, ADAOPT_ERR_FORMAT, "load: damaged state of tensor %zu", i);
                break;
            }
            if (adaopt__alloc_slot(l, k, l->storage) != 0) {
                st = adaopt__fail(opt, ADAOPT_ERR_ALLOC, "load: out of memory for tensor %zu", i);
                break;
            }
            if (take_slot(&p, l, k) != 0)
                st = adaopt__fail(opt, ADAOPT_ERR_FORMAT, "load: damaged state of tensor %zu", i);
        }
        if (st == ADAOPT_OK && has_master) {
            if ((l->master = adaopt__alloc_state(t->numel)) == NULL)
                st = adaopt__fail(opt, ADAOPT_ERR_ALLOC, "load: out of memory for tensor %zu", i);
            else if (take_floats(&p, l->master, t->numel) != 0)
                st = adaopt__fail(opt, ADAOPT_ERR_FORMAT, "load: damaged master weights of "
                                  "tensor %zu", i);
            l->master_ready = (master_flags & 2u) != 0;
        }
        if (st == ADAOPT_OK)
            st = check_values(opt, i, l, lt[i].mask);
        int norms = adaopt__algo(opt->algorithm)->tensor_record == ADAOPT__TENSOR_RECORD_SCALARS;
        for (int k = 0; k < 3 && st == ADAOPT_OK && norms; k++)
            if (get_f64(&p, &l->scalars[k]) || l->scalars[k] < 0.0)
                st = adaopt__fail(opt, ADAOPT_ERR_FORMAT, "load: damaged norms of tensor %zu", i);
        if (st == ADAOPT_OK && p.left != 0)
            st = adaopt__fail(opt, ADAOPT_ERR_FORMAT, "load: damaged section of tensor %zu", i);
        /* Every array the loaded options need must exist: one the checkpoint lacks starts at
         * zero, as a newly turned-on option's would. */
        unsigned need = adaopt__slots_needed(opt->algorithm, row);
        for (int k = 0; k < ADAOPT_MAX_SLOTS && st == ADAOPT_OK; k++) {
            if (!(need & (1u << k)) || adaopt__has_slot(l, k))
                continue;
            lt[i].ready &= ~(1u << k);
            if (adaopt__alloc_slot(l, k, l->storage) != 0)
                st = adaopt__fail(opt, ADAOPT_ERR_ALLOC, "load: out of memory for tensor %zu", i);
        }
    }
    if (st == ADAOPT_OK && any_8bit && adaopt__ensure_qtables(opt) != 0)
        st = adaopt__fail(opt, ADAOPT_ERR_ALLOC, "load: out of memory");
    if (st == ADAOPT_OK && (next_section(&s, tag, &p) || strcmp(tag, "END ") || p.left != 0 ||
                            s.left != 0))
        st = adaopt__fail(opt, ADAOPT_ERR_FORMAT, "load: damaged or missing END section");
    if (st != ADAOPT_OK) {
        free_loaded(lt, opt->n_tensors);
        free(hp);
        return st;
    }

    /* Accepted: commit (nothing below can fail). */
    for (size_t g = 0; g < opt->n_groups; g++) {
        memcpy(opt->groups[g].hp, hp + g * (ADAOPT_OPTION_MAX + 1),
               sizeof(double) * (ADAOPT_OPTION_MAX + 1));
        if (schedule_free || (lamb && version >= 3))
            memcpy(&opt->groups[g].steps, &sf[3 * g], sizeof opt->groups[g].steps);
        else if (lamb) /* (older files: the group's count is its most-stepped tensor's, below) */
            opt->groups[g].steps = 0;
        if (schedule_free) {
            opt->groups[g].sf_weight_sum = sf[3 * g + 1];
            opt->groups[g].sf_lr_max = sf[3 * g + 2];
        }
    }
    if (schedule_free)
        opt->training = (int)training;
    for (size_t i = 0; lamb && version < 3 && i < opt->n_tensors; i++) {
        adaopt_group *g = &opt->groups[opt->tensors[i].group];
        if (lt[i].t.step > g->steps)
            g->steps = lt[i].t.step;
    }
    for (size_t i = 0; i < opt->n_tensors; i++) {
        adaopt_tensor *t = &opt->tensors[i], *l = &lt[i].t;
        adaopt__free_tensor_state(t); /* the checkpoint's arrays replace them all */
        memcpy(t->slot, l->slot, sizeof t->slot);
        memcpy(t->packed, l->packed, sizeof t->packed);
        memcpy(t->absmax, l->absmax, sizeof t->absmax);
        t->master = l->master;
        t->master_ready = l->master_ready;
        t->storage = l->storage;
        memset(l->slot, 0, sizeof l->slot);
        memset(l->packed, 0, sizeof l->packed);
        memset(l->absmax, 0, sizeof l->absmax);
        l->master = NULL;
        for (int k = 0; k < ADAOPT_MAX_SLOTS; k++)
            t->slot_ready[k] = (lt[i].ready >> k) & 1u;
        t->step = l->step;
        t->mu_product = l->mu_product;
        memcpy(t->scalars, l->scalars, sizeof t->scalars);
        t->af_scale = l->af_scale;
    }
    opt->rounding_seed = rounding_seed;
    opt->steps_taken = steps_taken;
    opt->steps_skipped = steps_skipped;
    opt->nonfinite_policy = (int)policy;
    opt->hint = -1;
    free_loaded(lt, opt->n_tensors);
    free(hp);
    return ADAOPT_OK;
}

adaopt_status adaopt_load_file(adaopt_optimizer *opt, const char *path)
{
    if (opt == NULL)
        return ADAOPT_ERR_NULL;
    if (path == NULL)
        return adaopt__fail(opt, ADAOPT_ERR_NULL, "load_file: path must not be NULL");
    unsigned char *data;
    size_t used;
    adaopt__io_error err = {NULL, 0, NULL};
    uint64_t limit = checkpoint_bytes_max(opt);
    if (adaopt__read_file(path, (size_t)limit, &data, &used, &err) != 0) {
        if (err.errnum == ENOMEM)
            return adaopt__fail(opt, ADAOPT_ERR_ALLOC, "load_file: out of memory reading %s",
                                path);
        if (err.errnum == EFBIG)
            return adaopt__fail(opt, ADAOPT_ERR_FORMAT, "load_file: %s is larger than any "
                                "checkpoint of this optimizer (%llu bytes at most): not read "
                                "(the optimizer is unchanged)", path, (unsigned long long)limit);
        return adaopt__fail(opt, ADAOPT_ERR_IO, "load_file: %s: %s: %s (the optimizer is "
                            "unchanged)", path, err.call, adaopt__io_reason(&err));
    }
    adaopt_status st = adaopt_load_buffer(opt, data, used);
    free(data);
    return st;
}
