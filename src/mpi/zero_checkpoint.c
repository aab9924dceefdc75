/*
 * zero_checkpoint.c -- sharded checkpoints (docs/ZERO.md): one file per rank and a manifest,
 * resumed on any number of ranks.
 */
#include "zero_internal.h"

/* ------------------------------------------------------------------------------------------ */
/* Sharded checkpoints (docs/ZERO.md)                                                         */

#define SHARD_MAGIC "ADAOPTZS"
#define MANIFEST_MAGIC "ADAOPTZM"
enum { ZERO_FORMAT_VERSION = 1 };

typedef struct bytes {
    unsigned char *p;
    size_t n, cap;
    int failed;
} bytes;

static void put(bytes *b, const void *data, size_t n)
{
    if (b->failed || n == 0)
        return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n)
            cap *= 2;
        unsigned char *p = realloc(b->p, cap);
        if (p == NULL) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, data, n);
    b->n += n;
}

static void put_u32(bytes *b, uint32_t v)
{
    unsigned char c[4];
    for (int i = 0; i < 4; i++)
        c[i] = (unsigned char)(v >> (8 * i));
    put(b, c, 4);
}

static void put_u64(bytes *b, uint64_t v)
{
    put_u32(b, (uint32_t)v);
    put_u32(b, (uint32_t)(v >> 32));
}

typedef struct reader {
    const unsigned char *p;
    size_t left;
} reader;

static int get_u32(reader *r, uint32_t *v)
{
    if (r->left < 4)
        return -1;
    *v = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 |
         (uint32_t)r->p[3] << 24;
    r->p += 4;
    r->left -= 4;
    return 0;
}

static int get_u64(reader *r, uint64_t *v)
{
    uint32_t lo, hi;
    if (get_u32(r, &lo) || get_u32(r, &hi))
        return -1;
    *v = (uint64_t)hi << 32 | lo;
    return 0;
}

static void shard_name(char *out, size_t size, const char *path, uint64_t token, int rank,
                       int world)
{
    snprintf(out, size, "%s.%016llx.%d-of-%d", path, (unsigned long long)token, rank, world);
}

/* The parts of the layout both files record: tensor sizes and group sizes. */
static void put_layout(bytes *b, const adaopt_zero *z)
{
    put_u64(b, z->n_tensors);
    put_u64(b, z->n_groups);
    for (size_t i = 0; i < z->n_tensors; i++)
        put_u64(b, z->numels[i]);
    for (size_t g = 0; g < z->n_groups; g++)
        put_u64(b, z->group_sizes[g]);
    for (size_t i = 0; z->fac_rows != NULL && i < z->n_tensors; i++) { /* Adafactor's shapes */
        put_u64(b, z->fac_rows[i]);
        put_u64(b, z->fac_cols[i]);
    }
}

static int check_layout(reader *r, const adaopt_zero *z)
{
    uint64_t nt, ng, v;
    if (get_u64(r, &nt) || get_u64(r, &ng) || nt != z->n_tensors || ng != z->n_groups)
        return -1;
    for (size_t i = 0; i < z->n_tensors; i++)
        if (get_u64(r, &v) || v != z->numels[i])
            return -1;
    for (size_t g = 0; g < z->n_groups; g++)
        if (get_u64(r, &v) || v != z->group_sizes[g])
            return -1;
    for (size_t i = 0; z->fac_rows != NULL && i < z->n_tensors; i++)
        if (get_u64(r, &v) || v != z->fac_rows[i] || get_u64(r, &v) || v != z->fac_cols[i])
            return -1;
    return 0;
}

/* A previous manifest's token and world size, if `path` holds a valid one. */
static int read_manifest_head(const char *path, uint64_t *token, uint32_t *world,
                              adaopt__io_error *err);

/* Every rank's path is usable (the shard names add at most 64 bytes to it). */
static adaopt_status check_path(adaopt_zero *z, const char *path, const char *what)
{
    adaopt_status st = ADAOPT_OK;
    if (path == NULL)
        st = fail(z, ADAOPT_ERR_NULL, "%s: path must not be NULL", what);
    else if (strlen(path) + 64 >= PATH_MAX)
        st = fail(z, ADAOPT_ERR_IO, "%s: path too long", what);
    return agree(z, st);
}

adaopt_status adaopt_zero_save(adaopt_zero *z, const char *path)
{
    if (z == NULL)
        return ADAOPT_ERR_NULL;
    adaopt_status st = check_path(z, path, "save");
    if (st != ADAOPT_OK)
        return st;

    /* A fresh name for this save's shards, and the previous save's, from rank 0. */
    uint64_t head[3] = {0, 0, 0}; /* token, old token, old world */
    if (z->rank == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        head[0] = ((uint64_t)ts.tv_sec << 30) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 48);
        uint32_t old_world;
        adaopt__io_error err = {NULL, 0, NULL};
        if (read_manifest_head(path, &head[1], &old_world, &err) == 0)
            head[2] = old_world;
        else if (err.call != NULL && err.errnum != ENOENT) /* its shards could not be removed */
            st = fail(z, ADAOPT_ERR_IO, "save: reading the previous manifest %s: %s: %s "
                      "(nothing was written)", path, err.call, adaopt__io_reason(&err));
        if (head[0] == head[1])
            head[0]++;
    }
    MPI_Bcast(head, 3, MPI_UINT64_T, 0, z->comm);
    st = agree(z, st);
    if (st != ADAOPT_OK)
        return st;
    uint64_t token = head[0];

    /* This rank's shard file: header, then the core checkpoint of the shard's optimizer. */
    bytes b = {0};
    put(&b, SHARD_MAGIC, 8);
    put_u32(&b, ZERO_FORMAT_VERSION);
    put_u32(&b, (uint32_t)z->world);
    put_u32(&b, (uint32_t)z->rank);
    put_u32(&b, (uint32_t)z->algorithm);
    put_u64(&b, token);
    put_u64(&b, z->total);
    put_u64(&b, z->off);
    put_u64(&b, z->len);
    put_layout(&b, z);
    put_u32(&b, b.failed ? 0 : adaopt__crc32c(0, b.p, b.n));
    size_t core = adaopt_checkpoint_size(z->local), head_bytes = b.n;
    if (!b.failed) {
        unsigned char *p = realloc(b.p, head_bytes + core);
        if (p == NULL)
            b.failed = 1;
        else
            b.p = p;
    }
    char name[PATH_MAX];
    shard_name(name, sizeof name, path, token, z->rank, z->world);
    uint64_t mine[2] = {0, 0}; /* bytes, crc */
    if (b.failed) {
        st = fail(z, ADAOPT_ERR_ALLOC, "save: out of memory");
    } else if (adaopt_save_buffer(z->local, b.p + head_bytes, core, NULL) != ADAOPT_OK) {
        st = fail(z, ADAOPT_ERR_ALLOC, "save: %s", adaopt_last_error(z->local));
    } else {
        adaopt__io_error err = {NULL, 0, NULL};
        if (adaopt__write_file(name, b.p, head_bytes + core, &err) != 0) /* in place or not */
            st = fail(z, ADAOPT_ERR_IO, "save: writing %s: %s: %s (the previous checkpoint is "
                      "untouched)", name, err.call, adaopt__io_reason(&err));
        mine[0] = head_bytes + core;
        mine[1] = adaopt__crc32c(0, b.p, head_bytes + core);
    }
    free(b.p);
    st = agree(z, st);
    if (st != ADAOPT_OK) {
        unlink(name); /* a shard of a save that did not complete; the old manifest's stay */
        return st;
    }

    /* The manifest, from rank 0, once every shard is on disk. */
    uint64_t *all = z->rank == 0 ? adaopt__malloc_array((size_t)z->world, 2 * sizeof(uint64_t)) : NULL;
    int ok = z->rank != 0 || all != NULL;
    int all_ok;
    MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, z->comm);
    if (!all_ok) {
        free(all);
        unlink(name);
        return fail(z, ADAOPT_ERR_ALLOC, "save: out of memory on rank 0");
    }
    MPI_Gather(mine, 2, MPI_UINT64_T, all, 2, MPI_UINT64_T, 0, z->comm);
    st = ADAOPT_OK;
    int replaced = 0;
    if (z->rank == 0) {
        bytes m = {0};
        put(&m, MANIFEST_MAGIC, 8);
        put_u32(&m, ZERO_FORMAT_VERSION);
        put_u32(&m, (uint32_t)z->world);
        put_u32(&m, (uint32_t)z->algorithm);
        put_u32(&m, (uint32_t)z->aligned); /* the layout: 1 8-bit blocks, 2 chunks, 3 units, 4 tensors */
        put_u64(&m, token);
        put_u64(&m, z->total);
        put_layout(&m, z);
        for (int r = 0; r < z->world; r++) {
            put_u64(&m, all[2 * r]);
            put_u32(&m, (uint32_t)all[2 * r + 1]);
        }
        put_u32(&m, m.failed ? 0 : adaopt__crc32c(0, m.p, m.n));
        if (m.failed) {
            st = fail(z, ADAOPT_ERR_ALLOC, "save: out of memory");
        } else {
            adaopt__io_error err = {NULL, 0, NULL};
            int rc = adaopt__write_file(path, m.p, m.n, &err);
            if (rc == ADAOPT__IO_REPLACED) { /* the new checkpoint is complete and in place */
                replaced = 1;
                st = fail(z, ADAOPT_ERR_IO, "save: the manifest %s is written and in place, but "
                          "%s failed: %s (it may not survive a power cut)", path, err.call,
                          adaopt__io_reason(&err));
            } else if (rc != 0) {
                st = fail(z, ADAOPT_ERR_IO, "save: writing the manifest %s: %s: %s (the previous "
                          "checkpoint is untouched)", path, err.call, adaopt__io_reason(&err));
            }
        }
        free(m.p);
    }
    free(all);
    MPI_Bcast(&replaced, 1, MPI_INT, 0, z->comm);
    st = agree(z, st);
    if (st != ADAOPT_OK) {
        if (!replaced) /* the new manifest names this shard: it stays, and so do the old ones */
            unlink(name);
        return st;
    }
    /* The new checkpoint is in place: the previous one's shards can go. */
    if (head[1] != 0 && head[1] != token) {
        for (uint64_t r = (uint64_t)z->rank; r < head[2]; r += (uint64_t)z->world) {
            char old[PATH_MAX];
            shard_name(old, sizeof old, path, head[1], (int)r, (int)head[2]);
            unlink(old);
        }
    }
    MPI_Barrier(z->comm);
    return ADAOPT_OK;
}

typedef struct manifest {
    uint32_t world, algorithm, aligned;
    uint64_t token, total;
    uint64_t *bytes;
    uint32_t *crc;
} manifest;

enum { MANIFEST_LIMIT = 1 << 26, HEAD_FIXED = 8 + 4 * 4 + 8 + 8 };

/* Parses and checks a manifest against z (z NULL: only the head).  0, or a status with a
 * message in z. */
static adaopt_status parse_manifest(adaopt_zero *z, const char *path, manifest *m,
                                    adaopt__io_error *io)
{
    unsigned char *buf;
    size_t n;
    adaopt__io_error err = {NULL, 0, NULL};
    if (adaopt__read_file(path, MANIFEST_LIMIT, &buf, &n, &err) != 0) {
        if (io != NULL)
            *io = err;
        return fail(z, ADAOPT_ERR_IO, "load: reading the manifest %s: %s: %s", path, err.call,
                    adaopt__io_reason(&err));
    }
    adaopt_status st = ADAOPT_OK;
    reader r = {buf, n};
    uint32_t version, crc = 0;
    if (n < HEAD_FIXED + 4 || memcmp(buf, MANIFEST_MAGIC, 8) != 0) {
        st = fail(z, ADAOPT_ERR_FORMAT, "load: %s is not an adaopt_zero manifest", path);
    } else {
        reader t = {buf + n - 4, 4};
        get_u32(&t, &crc);
        r.p += 8;
        r.left -= 8 + 4;
        if (crc != adaopt__crc32c(0, buf, n - 4))
            st = fail(z, ADAOPT_ERR_FORMAT, "load: the manifest %s is damaged (checksum)", path);
        else if (get_u32(&r, &version) || get_u32(&r, &m->world) || get_u32(&r, &m->algorithm) ||
                 get_u32(&r, &m->aligned) || get_u64(&r, &m->token) || get_u64(&r, &m->total) ||
                 version != ZERO_FORMAT_VERSION || m->aligned > 4 || m->world == 0 ||
                 m->world > (1u << 24))
            st = fail(z, ADAOPT_ERR_FORMAT, "load: the manifest %s has an unknown version or "
                      "a damaged head", path);
    }
    if (st == ADAOPT_OK && z != NULL) {
        if (m->algorithm != (uint32_t)z->algorithm || m->total != z->total ||
            check_layout(&r, z) != 0)
            st = fail(z, ADAOPT_ERR_MISMATCH, "load: %s is a checkpoint of another algorithm "
                      "or other tensor shapes than this optimizer's", path);
        else if (r.left != (size_t)m->world * 12)
            st = fail(z, ADAOPT_ERR_FORMAT, "load: the manifest %s has a damaged shard list",
                      path);
    }
    if (st == ADAOPT_OK && z != NULL) {
        m->bytes = adaopt__malloc_array(m->world, sizeof *m->bytes);
        m->crc = adaopt__malloc_array(m->world, sizeof *m->crc);
        if (m->bytes == NULL || m->crc == NULL)
            st = fail(z, ADAOPT_ERR_ALLOC, "load: out of memory");
        for (uint32_t q = 0; q < m->world && st == ADAOPT_OK; q++)
            if (get_u64(&r, &m->bytes[q]) || get_u32(&r, &m->crc[q]))
                st = fail(z, ADAOPT_ERR_FORMAT, "load: damaged manifest %s", path);
    }
    free(buf);
    return st;
}

static int read_manifest_head(const char *path, uint64_t *token, uint32_t *world,
                              adaopt__io_error *err)
{
    manifest m = {0};
    if (parse_manifest(NULL, path, &m, err) != ADAOPT_OK)
        return -1;
    *token = m.token;
    *world = m.world;
    return 0;
}

/* Reads saved shard q, checks it, and loads it into an optimizer over q's range. */
static adaopt_status open_shard(adaopt_zero *z, const char *path, const manifest *m, uint32_t q,
                                uint64_t qoff, uint64_t qlen, adaopt_optimizer **out)
{
    char name[PATH_MAX];
    shard_name(name, sizeof name, path, m->token, (int)q, (int)m->world);
    unsigned char *buf;
    size_t n;
    if (m->bytes[q] > SIZE_MAX - 1)
        return fail(z, ADAOPT_ERR_FORMAT, "load: shard %u's size is impossible", q);
    adaopt__io_error err = {NULL, 0, NULL};
    if (adaopt__read_file(name, (size_t)m->bytes[q] + 1, &buf, &n, &err) != 0)
        return fail(z, ADAOPT_ERR_IO, "load: reading %s: %s: %s", name, err.call,
                    adaopt__io_reason(&err));
    adaopt_status st = ADAOPT_OK;
    if (n != m->bytes[q] || adaopt__crc32c(0, buf, n) != m->crc[q])
        st = fail(z, ADAOPT_ERR_FORMAT, "load: %s is damaged or not of this checkpoint (size or "
                  "checksum differs from the manifest's)", name);
    reader r = {buf, n};
    uint32_t version, world, rank, algorithm, crc;
    uint64_t token, total, off, len;
    if (st == ADAOPT_OK) {
        if (n < 8 || memcmp(buf, SHARD_MAGIC, 8) != 0) {
            st = fail(z, ADAOPT_ERR_FORMAT, "load: %s is not a shard file", name);
        } else {
            r.p += 8;
            r.left -= 8;
            if (get_u32(&r, &version) || get_u32(&r, &world) || get_u32(&r, &rank) ||
                get_u32(&r, &algorithm) || get_u64(&r, &token) || get_u64(&r, &total) ||
                get_u64(&r, &off) || get_u64(&r, &len) || version != ZERO_FORMAT_VERSION)
                st = fail(z, ADAOPT_ERR_FORMAT, "load: %s has a damaged header", name);
            else if (world != m->world || rank != q || algorithm != m->algorithm ||
                     token != m->token || total != m->total || off != qoff || len != qlen ||
                     check_layout(&r, z) != 0)
                st = fail(z, ADAOPT_ERR_MISMATCH, "load: %s does not belong to this checkpoint "
                          "(world, rank, range or shapes)", name);
            else if (get_u32(&r, &crc) || crc != adaopt__crc32c(0, buf, n - r.left - 4))
                st = fail(z, ADAOPT_ERR_FORMAT, "load: %s has a damaged header", name);
        }
    }
    adaopt_optimizer *opt = NULL;
    if (st == ADAOPT_OK && (st = make_local(z, qoff, qlen, &opt)) != ADAOPT_OK)
        fail(z, st, "load: out of memory");
    if (st == ADAOPT_OK && (st = adaopt_load_buffer(opt, r.p, r.left)) != ADAOPT_OK)
        fail(z, st, "load: %s: %s", name, adaopt_last_error(opt));
    free(buf);
    if (st != ADAOPT_OK) {
        adaopt_destroy(opt);
        return st;
    }
    *out = opt;
    return ADAOPT_OK;
}

/* Copies what saved shard `old` (over [qoff, qoff + qlen)) holds of this rank's shard into the
 * staging optimizer; `first` also takes the scalars (hyperparameters, counts). */
static adaopt_status take_shard(adaopt_zero *z, adaopt_optimizer *stg, const adaopt_optimizer *old,
                                uint64_t qoff, uint64_t qlen, int first)
{
    if (first) {
        if (carry_settings(z, old, stg) != ADAOPT_OK)
            return fail(z, ADAOPT_ERR_ALLOC, "load: %s", adaopt_last_error(stg));
        stg->steps_taken = old->steps_taken;
        stg->steps_skipped = old->steps_skipped;
        for (size_t i = 0; i < z->n_tensors; i++) {
            stg->tensors[i].step = old->tensors[i].step;
            stg->tensors[i].mu_product = old->tensors[i].mu_product;
        }
    }
    for (size_t i = 0; i < z->n_tensors; i++) {
        size_t pb, pl, qb, ql;
        piece_of(z, i, z->off, z->len, &pb, &pl);
        piece_of(z, i, qoff, qlen, &qb, &ql);
        size_t lo = pb > qb ? pb : qb, hi = pb + pl < qb + ql ? pb + pl : qb + ql;
        adaopt_tensor *t = &stg->tensors[i];
        const adaopt_tensor *s = &old->tensors[i];
        if (hi > lo) { /* the per-tensor scalars, the same in every piece of the tensor */
            memcpy(t->scalars, s->scalars, sizeof t->scalars);
            t->af_scale = s->af_scale;
        }
        int factored = t->factored == 1 || s->factored == 1;
        if (factored && pl > 0 && ql > 0) { /* Adafactor's matrices: rows, and columns */
            if (t->factored != s->factored)
                return fail(z, ADAOPT_ERR_FORMAT, "load: shards of different shapes");
            size_t C = t->fac_cols, R = t->fac_rows;
            for (int k = 0; k < 2; k++)
                t->slot_ready[k] = s->slot_ready[k];
            if (hi > lo) {
                memcpy(t->slot[0] + (lo - pb) / C, s->slot[0] + (lo - qb) / C,
                       (hi - lo) / C * sizeof(float));
                for (size_t b = lo / C / R; b <= (hi - 1) / C / R; b++) /* (cut: the same) */
                    memcpy(t->slot[1] + (b - t->fac_row0 / R) * C,
                           s->slot[1] + (b - s->fac_row0 / R) * C, C * sizeof(float));
            }
        }
        for (int k = 0; k < ADAOPT_MAX_SLOTS && !factored; k++) {
            if (!adaopt__has_slot(s, k))
                continue;
            /* both from the same options: cannot differ (but an empty piece's is float32's) */
            if (ql > 0 && pl > 0 && s->storage != t->storage)
                return fail(z, ADAOPT_ERR_FORMAT, "load: shards of different state storage");
            if (!adaopt__has_slot(t, k) && adaopt__alloc_slot(t, k, t->storage) != 0)
                return fail(z, ADAOPT_ERR_ALLOC, "load: out of memory");
            t->slot_ready[k] = s->slot_ready[k];
            if (hi <= lo || adaopt__slot_numel(t, k) != t->numel) /* (Adafactor's vectors: no
                                                                     slot 1) */
                continue;
            if (t->storage == ADAOPT_STORAGE_F32) { /* element ranges: float32, bf16 arrays */
                memcpy(t->slot[k] + (lo - pb), s->slot[k] + (lo - qb), (hi - lo) * sizeof(float));
            } else if (t->storage == ADAOPT_STORAGE_BF16) {
                memcpy((uint16_t *)t->packed[k] + (lo - pb), (const uint16_t *)s->packed[k] + (lo - qb),
                       (hi - lo) * sizeof(uint16_t));
            } else { /* 8-bit: codes and whole blocks' absmax (both layouts are aligned) */
                if ((lo - pb) % ADAOPT__BLOCK || (lo - qb) % ADAOPT__BLOCK)
                    return fail(z, ADAOPT_ERR_FORMAT, "load: 8-bit shards not on block "
                                "boundaries (damaged)");
                size_t blocks = (hi - lo + ADAOPT__BLOCK - 1) / ADAOPT__BLOCK;
                memcpy((uint8_t *)t->packed[k] + (lo - pb), (const uint8_t *)s->packed[k] + (lo - qb),
                       hi - lo);
                memcpy(t->absmax[k] + (lo - pb) / ADAOPT__BLOCK,
                       s->absmax[k] + (lo - qb) / ADAOPT__BLOCK, blocks * sizeof(float));
            }
        }
        if (s->master != NULL && t->master != NULL) { /* a 16-bit model's master weights */
            t->master_ready = s->master_ready;
            if (hi > lo)
                memcpy(t->master + (lo - pb), s->master + (lo - qb), (hi - lo) * sizeof(float));
        }
    }
    return ADAOPT_OK;
}

adaopt_status adaopt_zero_load(adaopt_zero *z, const char *path)
{
    if (z == NULL)
        return ADAOPT_ERR_NULL;
    adaopt_status st = check_path(z, path, "load");
    if (st != ADAOPT_OK)
        return st;
    manifest m = {0};
    adaopt_optimizer *stg = NULL;
    st = parse_manifest(z, path, &m, NULL);
    if (st == ADAOPT_OK && m.aligned && !z->aligned) {
        /* 8-bit state, saved in blocks: take the block-aligned layout first (it needs no state,
         * so only an optimizer that has not stepped switches) */
        if (adaopt_steps_taken(z->local) > 0)
            st = fail(z, ADAOPT_ERR_CONFLICT, "load: %s holds 8-bit state, sharded on 8-bit "
                      "block boundaries: load it into an adaopt_zero that has not stepped, or "
                      "that was given state_storage=8bit", path);
        else if ((st = set_layout(z, 1)) != ADAOPT_OK)
            fail(z, st, "load: out of memory for the block-aligned shard layout");
    }
    if (st == ADAOPT_OK && (st = make_local(z, z->off, z->len, &stg)) != ADAOPT_OK)
        fail(z, st, "load: out of memory");
    /* The saved shards overlapping this rank's; shard 0 alone if this one is empty (it still
     * needs the scalars: hyperparameters and step counts are in every shard). */
    int first = 1;
    for (uint32_t q = 0; q < m.world && st == ADAOPT_OK; q++) {
        uint64_t qoff, qlen;
        shard_range(z, m.total, (int)m.world, (int)q, (int)m.aligned, &qoff, &qlen);
        int overlaps = qoff < z->off + z->len && z->off < qoff + qlen;
        if (!overlaps && !(z->len == 0 && q == 0))
            continue;
        adaopt_optimizer *old = NULL;
        st = open_shard(z, path, &m, q, qoff, qlen, &old);
        if (st == ADAOPT_OK)
            st = take_shard(z, stg, old, qoff, qlen, first);
        first = 0;
        adaopt_destroy(old);
    }
    if (st == ADAOPT_OK && first)
        st = fail(z, ADAOPT_ERR_FORMAT, "load: no saved shard covers this rank's range");
    free(m.bytes);
    free(m.crc);
    st = agree(z, st);
    if (st != ADAOPT_OK) {
        adaopt_destroy(stg);
        return st;
    }
    /* Every rank accepted: switch to the loaded state (keeping this run's threads and ISA). */
    adaopt_set_threads(stg, z->threads);
    adaopt_set_isa(stg, adaopt_get_isa(z->local));
    adaopt_destroy(z->local);
    z->local = stg;
    return ADAOPT_OK;
}
