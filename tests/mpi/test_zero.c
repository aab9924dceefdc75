/*
 * test_zero.c -- run with mpirun -np N (1..4): for every configuration of zero_common.h, 200
 * ZeRO steps with each rank's own gradients against one process stepping with their average.
 * Parameters (on every rank) and each rank's shard of the state must be bit-identical; with
 * ADAOPT_ZERO_REDUCE_MPI, whose summation order is MPI's, within 1e-5 relative.  Also: the
 * memory arithmetic, and collective errors (a bad argument on one rank fails every rank).
 */
#include "zero_common.h"


static void run_config(const config *c)
{
    adaopt_zero *z;
    adaopt_optimizer *ref = make_reference(c);
    CHECK(ref != NULL, "%s: reference", c->name);
    CHECK(adaopt_zero_create(MPI_COMM_WORLD, c->algorithm, NUMELS, N_TENSORS, GROUP_SIZES,
                             N_GROUPS, &z, NULL, 0) == ADAOPT_OK, "%s: create", c->name);
    if (ref == NULL || z == NULL)
        return;
    CHECK(configure(c, NULL, z) == 0, "%s: configure: %s", c->name, adaopt_zero_last_error(z));
    adaopt_zero_set_threads(z, 1);
    float **zp = alloc_tensors(), **rp = alloc_tensors(), **mine = alloc_tensors(),
          **avg = alloc_tensors(), **tmp = alloc_tensors();
    initial_params(zp);
    initial_params(rp);
    int skipped = 0;
    for (int s = 0; s < 200; s++) {
        adaopt_status a = zero_step(c, z, zp, mine, s, rank, world);
        adaopt_status b = reference_step(c, ref, rp, avg, tmp, s, world);
        CHECK(a == b, "%s step %d: zero %s, reference %s (%s)", c->name, s,
              adaopt_status_name(a), adaopt_status_name(b), adaopt_zero_last_error(z));
        CHECK(adaopt_zero_last_step_skipped(z) == adaopt_last_step_skipped(ref),
              "%s step %d: skipped differs", c->name, s);
        skipped += adaopt_zero_last_step_skipped(z);
    }
    CHECK(skipped == (c->skip_nan_at > 0), "%s: %d steps skipped", c->name, skipped);
    CHECK(adaopt_zero_steps_taken(z) == adaopt_steps_taken(ref), "%s: steps taken", c->name);
    double worst = 0;
    for (int i = 0; i < N_TENSORS; i++) {
        if (!c->mpi_reduce) {
            CHECK(memcmp(zp[i], rp[i], NUMELS[i] * sizeof(float)) == 0,
                  "%s: tensor %d's parameters differ from one process's", c->name, i);
        }
        for (size_t k = 0; k < NUMELS[i]; k++) {
            double d = fabs((double)zp[i][k] - rp[i][k]) / fmax(fabs((double)rp[i][k]), 1e-3);
            worst = d > worst ? d : worst;
        }
    }
    CHECK(worst <= 1e-5, "%s: worst relative difference %g", c->name, worst);
    if (!c->mpi_reduce)
        CHECK(compare_state(z, ref, c->name) == 0, "%s: state", c->name);
    /* eval and train (Schedule-Free: to x and back to y on every rank; the rest: no change) */
    for (int mode = 0; mode < 2; mode++) {
        adaopt_status a = mode == 0 ? adaopt_zero_eval(z, (void *const *)zp, N_TENSORS)
                                    : adaopt_zero_train(z, (void *const *)zp, N_TENSORS);
        adaopt_status b = mode == 0 ? adaopt_eval(ref, (void *const *)rp, N_TENSORS)
                                    : adaopt_train(ref, (void *const *)rp, N_TENSORS);
        CHECK(a == ADAOPT_OK && b == ADAOPT_OK, "%s: %s: %s", c->name, mode ? "train" : "eval",
              adaopt_zero_last_error(z));
        for (int i = 0; i < N_TENSORS && !c->mpi_reduce; i++)
            CHECK(memcmp(zp[i], rp[i], NUMELS[i] * sizeof(float)) == 0,
                  "%s: tensor %d after %s differs from one process's", c->name, i,
                  mode ? "train" : "eval");
        if (mode == 0 && c->algorithm == ADAOPT_ALGO_ADAMW_SCHEDULE_FREE) {
            float *g1[N_TENSORS];
            for (int i = 0; i < N_TENSORS; i++)
                g1[i] = mine[i];
            CHECK(adaopt_zero_step(z, zp, (const float *const *)g1, N_TENSORS) == ADAOPT_ERR_STATE,
                  "%s: a step in eval mode is refused on every rank", c->name);
        }
    }
    /* Every rank holds the same parameters. */
    for (int i = 0; i < N_TENSORS; i++) {
        if (NUMELS[i] == 0)
            continue;
        float *r0 = malloc(NUMELS[i] * sizeof(float));
        memcpy(r0, zp[i], NUMELS[i] * sizeof(float));
        MPI_Bcast(r0, (int)NUMELS[i], MPI_FLOAT, 0, MPI_COMM_WORLD);
        CHECK(memcmp(r0, zp[i], NUMELS[i] * sizeof(float)) == 0, "%s: ranks differ", c->name);
        free(r0);
    }
    if (rank == 0)
        printf("  %-28s %d ranks: %s (worst relative difference %.1e)\n", c->name, world,
               c->mpi_reduce ? "within 1e-5" : "bit-identical", worst);
    free_tensors(zp);
    free_tensors(rp);
    free_tensors(mine);
    free_tensors(avg);
    free_tensors(tmp);
    adaopt_zero_destroy(z);
    adaopt_destroy(ref);
}

/* State bytes per rank: Adam's two arrays of the shard, falling as 1/N; the sum over ranks is
 * one process's. */
static void memory_arithmetic(void)
{
    adaopt_zero *z;
    CHECK(adaopt_zero_create(MPI_COMM_WORLD, ADAOPT_ALGO_ADAM, NUMELS, N_TENSORS, GROUP_SIZES,
                             N_GROUPS, &z, NULL, 0) == ADAOPT_OK, "create");
    if (z == NULL)
        return;
    uint64_t off, len;
    adaopt_zero_shard(z, &off, &len);
    uint64_t want_off, want_len;
    adaopt_zero_shard_range(TOTAL, world, rank, &want_off, &want_len);
    CHECK(off == want_off && len == want_len, "shard %llu+%llu", (unsigned long long)off,
          (unsigned long long)len);
    CHECK(len == (uint64_t)(TOTAL / world) || len == (uint64_t)(TOTAL / world + 1), "balanced");
    size_t bytes = adaopt_zero_state_bytes(z), sum;
    CHECK(bytes == 2 * 4 * len, "Adam holds 8 bytes per element of its shard: %zu", bytes);
    MPI_Allreduce(&bytes, &sum, 1, MPI_UNSIGNED_LONG, MPI_SUM, MPI_COMM_WORLD);
    CHECK(sum == 8 * TOTAL, "the shards' state adds up to one process's: %zu", sum);
    adaopt_zero_destroy(z);

    /* The ranges for 1B parameters over N = 1, 2, 4, 8: contiguous, covering, balanced. */
    const uint64_t big = 1000000007ull;
    for (int n = 1; n <= 8; n *= 2) {
        uint64_t next = 0, most = 0;
        for (int r = 0; r < n; r++) {
            uint64_t o, l;
            adaopt_zero_shard_range(big, n, r, &o, &l);
            CHECK(o == next, "N=%d rank %d starts at %llu", n, r, (unsigned long long)o);
            next = o + l;
            most = l > most ? l : most;
        }
        CHECK(next == big && most == (big + (uint64_t)n - 1) / (uint64_t)n, "N=%d covers", n);
    }
}

static void collective_errors(void)
{
    adaopt_zero *z;
    /* Ranks disagreeing on the shapes: everyone fails. */
    size_t numels[N_TENSORS];
    memcpy(numels, NUMELS, sizeof numels);
    if (rank == world - 1 && world > 1)
        numels[2] += 1;
    char msg[256];
    adaopt_status st = adaopt_zero_create(MPI_COMM_WORLD, ADAOPT_ALGO_ADAM, numels, N_TENSORS,
                                          GROUP_SIZES, N_GROUPS, &z, msg, sizeof msg);
    CHECK(world == 1 ? st == ADAOPT_OK : st == ADAOPT_ERR_MISMATCH, "shapes differ: %s",
          adaopt_status_name(st));
    CHECK(world == 1 || strstr(msg, "rank") != NULL, "the message names a rank: '%s'", msg);
    adaopt_zero_destroy(z);
    size_t bad_groups[2] = {2, 2};
    CHECK(adaopt_zero_create(MPI_COMM_WORLD, ADAOPT_ALGO_ADAM, NUMELS, N_TENSORS, bad_groups, 2,
                             &z, msg, sizeof msg) == ADAOPT_ERR_SIZE && z == NULL,
          "groups must hold every tensor");
    CHECK(strstr(msg, "groups hold 4 tensors") != NULL, "message: '%s'", msg);

    CHECK(adaopt_zero_create(MPI_COMM_WORLD, ADAOPT_ALGO_ADAM, NUMELS, N_TENSORS, GROUP_SIZES,
                             N_GROUPS, &z, NULL, 0) == ADAOPT_OK, "create");
    float **p = alloc_tensors(), **g = alloc_tensors();
    initial_params(p);
    float *saved = malloc(TOTAL * sizeof(float)), *after = malloc(TOTAL * sizeof(float));
    for (int i = 0, j = 0; i < N_TENSORS; j += (int)NUMELS[i], i++)
        memcpy(saved + j, p[i], NUMELS[i] * sizeof(float));
    /* One rank passes a NULL gradient: every rank fails, nothing changes anywhere. */
    float *keep = g[2];
    if (rank == 0)
        g[2] = NULL;
    st = adaopt_zero_step(z, p, (const float *const *)g, N_TENSORS);
    g[2] = keep;
    CHECK(st == ADAOPT_ERR_NULL, "a NULL gradient on rank 0: %s", adaopt_status_name(st));
    CHECK(strlen(adaopt_zero_last_error(z)) > 0, "a message");
    CHECK(adaopt_zero_step(z, p, (const float *const *)g, N_TENSORS - 1) == ADAOPT_ERR_SIZE,
          "wrong tensor count");
    /* Different hyperparameters on one rank (a schedule applied on rank 0 only): the step is
     * refused everywhere. */
    if (rank == 0 && world > 1) {
        adaopt_zero_set(z, 1, ADAOPT_LR, 0.5);
        st = adaopt_zero_step(z, p, (const float *const *)g, N_TENSORS);
        adaopt_zero_set(z, 1, ADAOPT_LR, 1e-3);
    } else if (world > 1) {
        st = adaopt_zero_step(z, p, (const float *const *)g, N_TENSORS);
    }
    CHECK(world == 1 || st == ADAOPT_ERR_CONFLICT, "different lr on rank 0: %s",
          adaopt_status_name(st));
    CHECK(adaopt_zero_set(z, 0, ADAOPT_LR, -1) == ADAOPT_ERR_VALUE, "negative lr refused");
    CHECK(adaopt_zero_set_clip(z, -1, 2) == ADAOPT_ERR_VALUE, "negative max_norm refused");
    CHECK(adaopt_zero_set_clip(z, 1, 3) == ADAOPT_ERR_VALUE, "norm type 3 refused");
    CHECK(adaopt_zero_set_reduce(z, (adaopt_zero_reduce)7) == ADAOPT_ERR_VALUE, "unknown mode");
    for (int i = 0, j = 0; i < N_TENSORS; j += (int)NUMELS[i], i++)
        memcpy(after + j, p[i], NUMELS[i] * sizeof(float));
    CHECK(memcmp(saved, after, TOTAL * sizeof(float)) == 0, "refused steps changed nothing");
    CHECK(adaopt_zero_steps_taken(z) == 0, "no step taken");
    /* ERROR policy and a NaN on one rank: every rank returns ADAOPT_ERR_NONFINITE. */
    adaopt_zero_set_nonfinite_policy(z, ADAOPT_NONFINITE_ERROR);
    if (rank == world - 1)
        g[0][3] = NAN;
    st = adaopt_zero_step(z, p, (const float *const *)g, N_TENSORS);
    CHECK(st == ADAOPT_ERR_NONFINITE, "NaN on one rank under ERROR: %s", adaopt_status_name(st));
    for (int i = 0, j = 0; i < N_TENSORS; j += (int)NUMELS[i], i++)
        memcpy(after + j, p[i], NUMELS[i] * sizeof(float));
    CHECK(memcmp(saved, after, TOTAL * sizeof(float)) == 0, "the refused step changed nothing");
    free(saved);
    free(after);
    free_tensors(p);
    free_tensors(g);
    adaopt_zero_destroy(z);
}

/* A model smaller than the world (3 elements on up to 4 ranks: some shards empty), Adam with
 * clipping and the MPI reduction: still one process's bits. */
static void tiny_model(void)
{
    const size_t numels[3] = {1, 0, 2}, groups[1] = {3};
    adaopt_zero *z;
    adaopt_optimizer *ref;
    size_t group;
    CHECK(adaopt_zero_create(MPI_COMM_WORLD, ADAOPT_ALGO_ADAM, numels, 3, groups, 1, &z, NULL, 0) ==
          ADAOPT_OK, "tiny: create");
    adaopt_create(ADAOPT_ALGO_ADAM, &ref);
    adaopt_add_group(ref, numels, 3, &group);
    if (z == NULL)
        return;
    adaopt_zero_set_clip(z, 0.5, 2.0);
    float zp[3] = {1, 0, -1}, rp[3] = {1, 0, -1}, g[3], avg[3];
    for (int s = 0; s < 50; s++) {
        for (int j = 0; j < 3; j++) {
            g[j] = (float)((s * 7 + j * 3 + rank * 5) % 11) - 5.0f;
            avg[j] = 0;
            for (int r = 0; r < world; r++)
                avg[j] = avg[j] + ((float)((s * 7 + j * 3 + r * 5) % 11) - 5.0f);
            avg[j] = avg[j] / (float)world;
        }
        float *zparams[3] = {zp, NULL, zp + 1}, *rparams[3] = {rp, rp, rp + 1};
        const float *zgrads[3] = {g, NULL, g + 1}, *rgrads[3] = {avg, avg, avg + 1};
        float *cgrads[3] = {avg, avg, avg + 1};
        size_t cn[3] = {1, 0, 2};
        adaopt_clip_grad_norm(cgrads, cn, 3, 0.5, 2.0, NULL);
        CHECK(adaopt_zero_step(z, zparams, zgrads, 3) == ADAOPT_OK, "tiny: step: %s",
              adaopt_zero_last_error(z));
        CHECK(adaopt_step(ref, rparams, rgrads, 3) == ADAOPT_OK, "tiny: reference step");
    }
    CHECK(memcmp(zp, rp, sizeof zp) == 0, "tiny: %g %g %g vs %g %g %g", zp[0], zp[1], zp[2], rp[0],
          rp[1], rp[2]);
    adaopt_zero_destroy(z);
    adaopt_destroy(ref);
}

/* The piece limit: refused above what the buffers hold; ranks that differ are caught at the
 * step, before anything moves. */
static void piece_limit_errors(void)
{
    adaopt_zero *z;
    char msg[256];
    if (adaopt_zero_create(MPI_COMM_WORLD, ADAOPT_ALGO_ADAM, NUMELS, N_TENSORS, GROUP_SIZES,
                           N_GROUPS, &z, msg, sizeof msg) != ADAOPT_OK) {
        CHECK(0, "pieces: create: %s", msg);
        return;
    }
    CHECK(adaopt_zero_set_piece_limit(z, (uint64_t)1 << 40) == ADAOPT_ERR_VALUE &&
              strstr(adaopt_zero_last_error(z), "more than the buffers hold") != NULL,
          "pieces: a limit past the buffers: %s", adaopt_zero_last_error(z));
    CHECK(adaopt_zero_set_piece_limit(NULL, 1) == ADAOPT_ERR_NULL, "pieces: NULL");
    if (world > 1) {
        CHECK(adaopt_zero_set_piece_limit(z, rank == 0 ? 3 : 4) == ADAOPT_OK, "pieces: set");
        float **p = alloc_tensors(), **g = alloc_tensors();
        initial_params(p);
        adaopt_status st = adaopt_zero_step(z, p, (const float *const *)g, N_TENSORS);
        CHECK(st == ADAOPT_ERR_CONFLICT, "pieces: ranks with different limits stepped (%s)",
              adaopt_status_name(st));
        CHECK(adaopt_zero_steps_taken(z) == 0, "pieces: a refused step counted");
        free_tensors(p);
        free_tensors(g);
    }
    adaopt_zero_destroy(z);
}

/* A model of bf16 or fp16 parameters (adaopt_zero_create_typed): every rank's parameters and
 * master weights are those of one process stepping a typed optimizer with the rank-ordered
 * average of the widened gradients, bit for bit -- stochastic rounding included (each element's
 * noise comes from its index in the whole tensor) -- with clipping, and through a sharded
 * checkpoint. */
static uint16_t narrow16(adaopt_dtype d, float x)
{
    uint32_t b;
    memcpy(&b, &x, 4);
    if (d == ADAOPT_DTYPE_BF16)
        return (uint16_t)((b + 0x7fffu + ((b >> 16) & 1u)) >> 16); /* finite inputs */
    /* fp16 through the reference library: a one-element typed optimizer is overkill; the
     * gradients are exact small multiples of 2^-10, which fp16 holds exactly */
    int e = (int)((b >> 23) & 0xff) - 127 + 15;
    uint32_t m = (b >> 13) & 0x3ff;
    if (x == 0.0f)
        return (uint16_t)((b >> 16) & 0x8000u);
    return (uint16_t)(((b >> 16) & 0x8000u) | (uint32_t)e << 10 | m);
}

static float widen16(adaopt_dtype d, uint16_t h)
{
    if (d == ADAOPT_DTYPE_BF16) {
        uint32_t b = (uint32_t)h << 16;
        float f;
        memcpy(&f, &b, 4);
        return f;
    }
    int e = (h >> 10) & 0x1f;
    float m = (float)(h & 0x3ff);
    float v = e == 0 ? m * 0x1p-24f : ldexpf(1.0f + m / 1024.0f, e - 15);
    return (h & 0x8000u) ? -v : v;
}

/* The one-process AdamW reference of a typed ZeRO model: the same groups, parameters of type
 * pd (gradients: the average, float32), and `options` on both -- z's through adaopt_zero_set. */
static adaopt_optimizer *typed_reference(adaopt_zero *z, const size_t *numels,
                                         const size_t *group_sizes, size_t n_groups,
                                         adaopt_dtype pd, const char *options, const char *name)
{
    adaopt_optimizer *ref;
    size_t group, first = 0;
    CHECK(adaopt_create(adaopt_get_algorithm(adaopt_zero_local(z)), &ref) == ADAOPT_OK,
          "reference");
    for (size_t g = 0; g < n_groups; g++) {
        adaopt_add_group_typed(ref, numels + first, group_sizes[g], pd, ADAOPT_DTYPE_F32, &group);
        first += group_sizes[g];
    }
    CHECK(adaopt_set_options(ref, ADAOPT_ALL_GROUPS, options) == ADAOPT_OK, "%s: ref options: %s",
          name, adaopt_last_error(ref));
    for (int o = ADAOPT_LR; o <= ADAOPT_OPTION_MAX; o++) {
        double v;
        if (adaopt_get(ref, 0, (adaopt_option)o, &v) == ADAOPT_OK)
            CHECK(adaopt_zero_set(z, ADAOPT_ALL_GROUPS, (adaopt_option)o, v) == ADAOPT_OK,
                  "%s: zero_set %d: %s", name, o, adaopt_zero_last_error(z));
    }
    return ref;
}

static void typed_model(void)
{
    static const struct {
        const char *name;
        adaopt_dtype pd, gd;
        const char *options;
        double clip;
    } cases[] = {
        {"bf16 master", ADAOPT_DTYPE_BF16, ADAOPT_DTYPE_F32, "lr=0.01, weight_decay=0.1", 0},
        {"bf16 sr, bf16 grads, clip", ADAOPT_DTYPE_BF16, ADAOPT_DTYPE_BF16, "lr=0.01, param_update=sr", 1.0},
        {"fp16 nearest", ADAOPT_DTYPE_F16, ADAOPT_DTYPE_F16, "lr=0.01, param_update=nearest", 0},
        {"fp16 master_sr", ADAOPT_DTYPE_F16, ADAOPT_DTYPE_F32, "lr=0.01, param_update=master_sr", 0},
        {"bf16 sr, bf16 state", ADAOPT_DTYPE_BF16, ADAOPT_DTYPE_BF16,
         "lr=0.01, param_update=sr, state_storage=bf16", 0},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        adaopt_dtype pd = cases[c].pd, gd = cases[c].gd;
        adaopt_zero *z;
        char msg[256];
        if (adaopt_zero_create_typed(MPI_COMM_WORLD, ADAOPT_ALGO_ADAMW, NUMELS, N_TENSORS,
                                     GROUP_SIZES, N_GROUPS, pd, gd, &z, msg, sizeof msg) != ADAOPT_OK) {
            CHECK(0, "typed %s: create: %s", cases[c].name, msg);
            continue;
        }
        adaopt_optimizer *ref = typed_reference(z, NUMELS, GROUP_SIZES, N_GROUPS, pd,
                                                cases[c].options, cases[c].name);
        if (cases[c].clip > 0)
            CHECK(adaopt_zero_set_clip(z, cases[c].clip, 2.0) == ADAOPT_OK, "clip");
        static uint16_t zp[TOTAL], rp[TOTAL], g16[TOTAL];
        static float g32[TOTAL], avg[TOTAL];
        for (size_t j = 0; j < TOTAL; j++)
            zp[j] = rp[j] = narrow16(pd, (float)((int)(j % 17) - 8) * 0.125f);
        void *zparams[N_TENSORS], *rparams[N_TENSORS];
        const void *zgrads[N_TENSORS], *rgrads[N_TENSORS];
        size_t at = 0;
        for (int i = 0; i < N_TENSORS; i++) {
            zparams[i] = zp + at;
            rparams[i] = rp + at;
            zgrads[i] = gd == ADAOPT_DTYPE_F32 ? (const void *)(g32 + at) : (const void *)(g16 + at);
            rgrads[i] = avg + at;
            at += NUMELS[i];
        }
        for (int s = 0; s < 30; s++) {
            /* rank r's gradient: small multiples of 2^-10, exact in both 16-bit types */
            for (size_t j = 0; j < TOTAL; j++) {
                float sum = 0.0f;
                for (int r = 0; r < world; r++) {
                    float v = (float)((int)((j * 7 + (size_t)s * 13 + (size_t)r * 5) % 41) - 20) / 1024.0f;
                    v = gd == ADAOPT_DTYPE_F32 ? v : widen16(gd, narrow16(gd, v));
                    sum = r == 0 ? v : sum + v;
                    if (r == rank) {
                        g32[j] = v;
                        g16[j] = narrow16(gd == ADAOPT_DTYPE_F32 ? ADAOPT_DTYPE_BF16 : gd, v);
                    }
                }
                avg[j] = sum / (float)world;
            }
            CHECK(adaopt_zero_step_typed(z, zparams, zgrads, N_TENSORS) == ADAOPT_OK,
                  "typed %s step %d: %s", cases[c].name, s, adaopt_zero_last_error(z));
            if (cases[c].clip > 0) {
                float *cg[N_TENSORS];
                for (int i = 0; i < N_TENSORS; i++)
                    cg[i] = (float *)(uintptr_t)rgrads[i];
                adaopt_clip_grad_norm(cg, NUMELS, N_TENSORS, cases[c].clip, 2.0, NULL);
            }
            CHECK(adaopt_step_typed(ref, rparams, rgrads, N_TENSORS) == ADAOPT_OK, "ref step");
            if (s == 14) { /* through a sharded checkpoint, into a fresh optimizer */
                char path[256];
                snprintf(path, sizeof path, "/tmp/adaopt-zero-typed-%d-%zu", world, c);
                CHECK(adaopt_zero_save(z, path) == ADAOPT_OK, "save: %s", adaopt_zero_last_error(z));
                adaopt_zero *back;
                adaopt_zero_create_typed(MPI_COMM_WORLD, ADAOPT_ALGO_ADAMW, NUMELS, N_TENSORS,
                                         GROUP_SIZES, N_GROUPS, pd, gd, &back, NULL, 0);
                if (cases[c].clip > 0)
                    adaopt_zero_set_clip(back, cases[c].clip, 2.0);
                CHECK(adaopt_zero_load(back, path) == ADAOPT_OK, "load: %s",
                      adaopt_zero_last_error(back));
                adaopt_zero_destroy(z);
                z = back;
            }
        }
        CHECK(memcmp(zp, rp, sizeof zp) == 0, "typed %s: parameters differ from one process",
              cases[c].name);
        /* this rank's master weights against the reference's, where the mode keeps them */
        uint64_t off, len;
        adaopt_zero_shard(z, &off, &len);
        const adaopt_optimizer *local = adaopt_zero_local(z);
        for (int i = 0; i < N_TENSORS; i++) {
            const float *zm, *rm;
            size_t n;
            if (adaopt_state(local, (size_t)i, ADAOPT_STATE_MASTER, &zm, &n) != ADAOPT_OK || n == 0)
                continue;
            CHECK(adaopt_state(ref, (size_t)i, ADAOPT_STATE_MASTER, &rm, NULL) == ADAOPT_OK, "ref master");
            size_t t_off = 0;
            for (int k = 0; k < i; k++)
                t_off += NUMELS[k];
            uint64_t begin = off > t_off ? off - t_off : 0; /* where this rank's piece begins */
            CHECK(memcmp(zm, rm + begin, n * 4) == 0, "typed %s: tensor %d's master differs",
                  cases[c].name, i);
        }
        adaopt_zero_destroy(z);
        adaopt_destroy(ref);
        if (rank == 0)
            printf("  typed %-26s %d ranks: bit-identical to one process\n", cases[c].name, world);
    }
}

/* 8-bit state, sharded: the boundaries move to 256-element block starts of each tensor, so every
 * rank's codes and absmax are exactly one process's for its blocks; parameters and decoded state
 * bit-identical to one process, through a checkpoint loaded into an adaopt_zero that was not told
 * about 8 bits, and re-sharded onto fewer ranks. */
enum { Q_TENSORS = 6, Q_TOTAL = 1000 + 0 + 300 + 5000 + 77 + 513 };
static const size_t Q_NUMELS[Q_TENSORS] = {1000, 0, 300, 5000, 77, 513};
static const size_t Q_GROUPS[2] = {3, 3};

static void compare_state_8bit(const adaopt_zero *z, const adaopt_optimizer *ref,
                               const char *name, const char *when)
{
    uint64_t off, len;
    adaopt_zero_shard(z, &off, &len);
    const adaopt_optimizer *local = adaopt_zero_local(z);
    size_t t_off = 0;
    for (size_t i = 0; i < Q_TENSORS; t_off += Q_NUMELS[i], i++) {
        uint64_t begin = off > t_off ? off - t_off : 0;
        if (Q_NUMELS[i] && begin < Q_NUMELS[i] && off + len > t_off && begin % 256 != 0)
            CHECK(0, "8-bit %s: tensor %zu's piece begins at %llu, inside a block", name, i,
                  (unsigned long long)begin);
        for (int kind = ADAOPT_STATE_EXP_AVG; kind <= ADAOPT_STATE_MAX_EXP_AVG_SQ; kind++) {
            const float *zs, *rs;
            size_t n;
            if (adaopt_state(local, i, (adaopt_state_kind)kind, &zs, &n) != ADAOPT_OK || n == 0)
                continue;
            CHECK(adaopt_state(ref, i, (adaopt_state_kind)kind, &rs, NULL) == ADAOPT_OK, "ref");
            CHECK(memcmp(zs, rs + begin, n * 4) == 0, "8-bit %s (%s): tensor %zu's state %d "
                  "differs from one process", name, when, i, kind);
        }
    }
}

static void eight_bit_model(void)
{
    static const struct {
        const char *name;
        adaopt_dtype pd;
        const char *options;
    } cases[] = {
        {"f32 params, amsgrad", ADAOPT_DTYPE_F32,
         "lr=0.01, weight_decay=0.1, amsgrad=true, state_storage=8bit, min_8bit_numel=300"},
        {"bf16 sr", ADAOPT_DTYPE_BF16, "lr=0.01, param_update=sr, state_storage=8bit, "
                                       "min_8bit_numel=300"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        adaopt_dtype pd = cases[c].pd;
        size_t bytes = pd == ADAOPT_DTYPE_F32 ? 4 : 2;
        adaopt_zero *z;
        char msg[256];
        if (adaopt_zero_create_typed(MPI_COMM_WORLD, ADAOPT_ALGO_ADAMW, Q_NUMELS, Q_TENSORS,
                                     Q_GROUPS, 2, pd, ADAOPT_DTYPE_F32, &z, msg, sizeof msg) !=
            ADAOPT_OK) {
            CHECK(0, "8-bit %s: create: %s", cases[c].name, msg);
            continue;
        }
        adaopt_optimizer *ref = typed_reference(z, Q_NUMELS, Q_GROUPS, 2, pd, cases[c].options,
                                                cases[c].name);
        static unsigned char zp[Q_TOTAL * 4], rp[Q_TOTAL * 4];
        static float g32[Q_TOTAL], avg[Q_TOTAL];
        for (size_t j = 0; j < Q_TOTAL; j++) {
            float v = (float)((int)(j % 17) - 8) * 0.125f;
            if (pd == ADAOPT_DTYPE_F32) {
                memcpy(zp + 4 * j, &v, 4);
            } else {
                uint16_t h = narrow16(pd, v);
                memcpy(zp + 2 * j, &h, 2);
            }
        }
        memcpy(rp, zp, sizeof rp);
        void *zparams[Q_TENSORS], *rparams[Q_TENSORS];
        const void *zgrads[Q_TENSORS], *rgrads[Q_TENSORS];
        size_t at = 0;
        for (int i = 0; i < Q_TENSORS; i++) {
            zparams[i] = zp + at * bytes;
            rparams[i] = rp + at * bytes;
            zgrads[i] = g32 + at;
            rgrads[i] = avg + at;
            at += Q_NUMELS[i];
        }
        for (int s = 0; s < 30; s++) {
            for (size_t j = 0; j < Q_TOTAL; j++) {
                float sum = 0.0f;
                for (int r = 0; r < world; r++) {
                    float v = (float)((int)((j * 7 + (size_t)s * 13 + (size_t)r * 5) % 41) - 20) /
                              1024.0f * (float)(1 + (j / 256) % 5); /* blocks of other scales */
                    sum = r == 0 ? v : sum + v;
                    if (r == rank)
                        g32[j] = v;
                }
                avg[j] = sum / (float)world;
            }
            CHECK(adaopt_zero_step_typed(z, zparams, zgrads, Q_TENSORS) == ADAOPT_OK,
                  "8-bit %s step %d: %s", cases[c].name, s, adaopt_zero_last_error(z));
            CHECK(adaopt_step_typed(ref, rparams, rgrads, Q_TENSORS) == ADAOPT_OK, "ref step: %s",
                  adaopt_last_error(ref));
            if (s == 14) { /* into an adaopt_zero that was not given state_storage=8bit */
                char path[256];
                snprintf(path, sizeof path, "/tmp/adaopt-zero-8bit-%d-%zu", world, c);
                CHECK(adaopt_zero_save(z, path) == ADAOPT_OK, "save: %s", adaopt_zero_last_error(z));
                adaopt_zero *back;
                adaopt_zero_create_typed(MPI_COMM_WORLD, ADAOPT_ALGO_ADAMW, Q_NUMELS, Q_TENSORS,
                                         Q_GROUPS, 2, pd, ADAOPT_DTYPE_F32, &back, NULL, 0);
                CHECK(adaopt_zero_load(back, path) == ADAOPT_OK, "load: %s",
                      adaopt_zero_last_error(back));
                adaopt_zero_destroy(z);
                z = back;
            }
        }
        CHECK(memcmp(zp, rp, Q_TOTAL * bytes) == 0, "8-bit %s: parameters differ from one "
              "process", cases[c].name);
        compare_state_8bit(z, ref, cases[c].name, "after 30 steps");
        CHECK(adaopt_zero_state_bytes(z) < (size_t)(Q_TOTAL * 3 * 4 / world + 4096),
              "8-bit %s: the shard holds %zu bytes of state", cases[c].name,
              adaopt_zero_state_bytes(z));
        /* re-sharded: saved on every rank, loaded on all but the last */
        char path[256];
        snprintf(path, sizeof path, "/tmp/adaopt-zero-8bit-end-%d-%zu", world, c);
        CHECK(adaopt_zero_save(z, path) == ADAOPT_OK, "save: %s", adaopt_zero_last_error(z));
        MPI_Comm sub;
        int keep = world == 1 || rank < world - 1;
        MPI_Comm_split(MPI_COMM_WORLD, keep ? 0 : MPI_UNDEFINED, rank, &sub);
        if (keep) {
            adaopt_zero *fewer;
            adaopt_zero_create_typed(sub, ADAOPT_ALGO_ADAMW, Q_NUMELS, Q_TENSORS, Q_GROUPS, 2, pd,
                                     ADAOPT_DTYPE_F32, &fewer, NULL, 0);
            CHECK(adaopt_zero_load(fewer, path) == ADAOPT_OK, "load on fewer ranks: %s",
                  adaopt_zero_last_error(fewer));
            compare_state_8bit(fewer, ref, cases[c].name, "re-sharded");
            adaopt_zero_destroy(fewer);
            MPI_Comm_free(&sub);
        }
        if (c == 0) { /* refused, with nothing changed: 8-bit after a step, by set or by load */
            adaopt_zero *late;
            adaopt_zero_create(MPI_COMM_WORLD, ADAOPT_ALGO_ADAMW, Q_NUMELS, Q_TENSORS, Q_GROUPS, 2,
                               &late, NULL, 0);
            float *lp[Q_TENSORS];
            const float *lg[Q_TENSORS];
            for (int i = 0; i < Q_TENSORS; i++) {
                lp[i] = (float *)zparams[i];
                lg[i] = (const float *)zgrads[i];
            }
            CHECK(adaopt_zero_step(late, lp, lg, Q_TENSORS) == ADAOPT_OK, "late step");
            uint64_t off0, off1;
            adaopt_zero_shard(late, &off0, NULL);
            CHECK(adaopt_zero_set(late, ADAOPT_ALL_GROUPS, ADAOPT_STATE_STORAGE,
                                  ADAOPT_STORAGE_8BIT) == ADAOPT_ERR_CONFLICT &&
                      strstr(adaopt_zero_last_error(late), "before the first step") != NULL,
                  "8-bit after a step: %s", adaopt_zero_last_error(late));
            CHECK(adaopt_zero_load(late, path) == ADAOPT_ERR_CONFLICT &&
                      strstr(adaopt_zero_last_error(late), "8-bit") != NULL,
                  "an 8-bit checkpoint into a stepped, unaligned optimizer: %s",
                  adaopt_zero_last_error(late));
            adaopt_zero_shard(late, &off1, NULL);
            CHECK(off0 == off1 && adaopt_zero_steps_taken(late) == 1, "refusals changed it");
            adaopt_zero_destroy(late);
        }
        adaopt_zero_destroy(z);
        adaopt_destroy(ref);
        if (rank == 0)
            printf("  8-bit %-25s %d ranks: bit-identical to one process, re-sharded to %d\n",
                   cases[c].name, world, world > 1 ? world - 1 : 1);
    }
}

/* A model of 3 x 2^31 elements (past MPI's int counts) is accepted: Adam over three tensors of
 * 2^31 floats, sharded; its buffers and state stay untouched zero pages, so this runs in little
 * memory.  (The step's split path is tested bit for bit on small models with small pieces.) */
/* LAMB on tensors of several 64K-element chunks: the shards begin at chunk starts, each rank's
 * chunk sums are gathered, and the trust ratios -- so the parameters and every rank's state --
 * are bit-identical to one process; through a sharded checkpoint re-sharded onto one rank fewer. */
enum { L_TENSORS = 5, L_TOTAL = 3 * 65536 + 17 + 70000 + 5 + 0 + 65539 };
static const size_t L_NUMELS[L_TENSORS] = {3 * 65536 + 17, 70000, 5, 0, 65539};
static const size_t L_GROUPS[2] = {3, 2};

static float lamb_grad(int s, int r, size_t j)
{
    return (float)((int)((j * 7 + (size_t)s * 13 + (size_t)r * 5) % 41) - 20) / 16.0f;
}

/* Step s: this rank's gradients into mine, and the ranks' average (summed in rank order, as the
 * step averages them) into avg. */
static void lamb_grads(int s, float *mine, float *avg)
{
    for (size_t j = 0; j < L_TOTAL; j++) {
        float sum = lamb_grad(s, 0, j);
        for (int r = 1; r < world; r++)
            sum = sum + lamb_grad(s, r, j);
        avg[j] = sum / (float)world;
        mine[j] = lamb_grad(s, rank, j);
    }
}

static void lamb_model(void)
{
    adaopt_zero *z;
    adaopt_optimizer *ref;
    char msg[256];
    const char *options = "lr=0.01, weight_decay=0.01, clamp=5";
    if (adaopt_zero_create(MPI_COMM_WORLD, ADAOPT_ALGO_LAMB, L_NUMELS, L_TENSORS, L_GROUPS, 2, &z,
                           msg, sizeof msg) != ADAOPT_OK) {
        CHECK(0, "lamb: create: %s", msg);
        return;
    }
    size_t group;
    CHECK(adaopt_create(ADAOPT_ALGO_LAMB, &ref) == ADAOPT_OK &&
          adaopt_add_group(ref, L_NUMELS, 3, &group) == ADAOPT_OK &&
          adaopt_add_group(ref, L_NUMELS + 3, 2, &group) == ADAOPT_OK &&
          adaopt_set_options(ref, ADAOPT_ALL_GROUPS, options) == ADAOPT_OK, "lamb: reference");
    for (size_t g = 0; g < 2; g++) {
        CHECK(adaopt_zero_set(z, g, ADAOPT_LR, 0.01) == ADAOPT_OK, "lamb: set");
        CHECK(adaopt_zero_set(z, g, ADAOPT_WEIGHT_DECAY, 0.01) == ADAOPT_OK, "lamb: set");
        CHECK(adaopt_zero_set(z, g, ADAOPT_CLAMP, 5) == ADAOPT_OK, "lamb: set");
    }
    adaopt_set_threads(ref, 2);
    adaopt_zero_set_threads(z, 2);
    uint64_t off, len;
    adaopt_zero_shard(z, &off, &len);
    size_t t_off = 0;
    for (size_t i = 0; i < L_TENSORS; t_off += L_NUMELS[i], i++) {
        uint64_t begin = off > t_off ? off - t_off : 0;
        CHECK(!(L_NUMELS[i] && begin < L_NUMELS[i] && off + len > t_off && begin % 65536 != 0),
              "lamb: tensor %zu's piece begins at %llu, inside a chunk", i,
              (unsigned long long)begin);
    }
    static float zp[L_TOTAL], rp[L_TOTAL], mine[L_TOTAL], avg[L_TOTAL];
    for (size_t j = 0; j < L_TOTAL; j++)
        zp[j] = rp[j] = (float)((int)(j % 17) - 8) * 0.125f;
    float *zparams[L_TENSORS], *rparams[L_TENSORS];
    const float *zgrads[L_TENSORS], *rgrads[L_TENSORS];
    for (size_t i = 0, at = 0; i < L_TENSORS; at += L_NUMELS[i], i++) {
        zparams[i] = zp + at;
        rparams[i] = rp + at;
        zgrads[i] = mine + at;
        rgrads[i] = avg + at;
    }
    for (int s = 0; s < 8; s++) {
        lamb_grads(s, mine, avg);
        CHECK(adaopt_zero_step(z, zparams, zgrads, L_TENSORS) == ADAOPT_OK, "lamb: step: %s",
              adaopt_zero_last_error(z));
        CHECK(adaopt_step(ref, rparams, rgrads, L_TENSORS) == ADAOPT_OK, "lamb: reference step");
        if (s == 3) { /* a checkpoint, loaded back into a new ZeRO optimizer (same ranks) */
            char path[64];
            snprintf(path, sizeof path, "/tmp/adaopt-lamb-zero-%d.ckpt", world);
            CHECK(adaopt_zero_save(z, path) == ADAOPT_OK, "lamb: save: %s",
                  adaopt_zero_last_error(z));
            adaopt_zero *back;
            CHECK(adaopt_zero_create(MPI_COMM_WORLD, ADAOPT_ALGO_LAMB, L_NUMELS, L_TENSORS,
                                     L_GROUPS, 2, &back, msg, sizeof msg) == ADAOPT_OK, "create");
            CHECK(adaopt_zero_load(back, path) == ADAOPT_OK, "lamb: load: %s",
                  adaopt_zero_last_error(back));
            adaopt_zero_destroy(z);
            z = back;
        }
    }
    CHECK(memcmp(zp, rp, sizeof zp) == 0, "lamb: the parameters differ from one process's");
    const adaopt_optimizer *local = adaopt_zero_local(z);
    t_off = 0;
    for (size_t i = 0; i < L_TENSORS; t_off += L_NUMELS[i], i++) {
        uint64_t begin = off > t_off ? off - t_off : 0;
        double zt, rt;
        for (int kind = ADAOPT_STATE_EXP_AVG; kind <= ADAOPT_STATE_EXP_AVG_SQ; kind++) {
            const float *zs, *rs;
            size_t n;
            if (adaopt_state(local, i, (adaopt_state_kind)kind, &zs, &n) != ADAOPT_OK || n == 0)
                continue;
            CHECK(adaopt_state(ref, i, (adaopt_state_kind)kind, &rs, NULL) == ADAOPT_OK, "ref");
            CHECK(memcmp(zs, rs + begin, n * 4) == 0, "lamb: tensor %zu's state differs", i);
            CHECK(adaopt_state_scalar(local, i, ADAOPT_STATE_TRUST_RATIO, &zt) == ADAOPT_OK &&
                  adaopt_state_scalar(ref, i, ADAOPT_STATE_TRUST_RATIO, &rt) == ADAOPT_OK &&
                  zt == rt, "lamb: tensor %zu's trust ratio %g, one process %g", i, zt, rt);
        }
    }
    if (rank == 0)
        printf("  lamb, 4 multi-chunk tensors   %d ranks: bit-identical to one process, through a "
               "checkpoint\n", world);
    adaopt_zero_destroy(z);
    adaopt_destroy(ref);
}

/* Every piece's master weights on this rank equal one process's at the piece's place. */
static void check_masters(const adaopt_zero *z, const adaopt_optimizer *ref, const size_t *numels,
                          size_t n_tensors, const char *name)
{
    uint64_t off, len;
    adaopt_zero_shard(z, &off, &len);
    const adaopt_optimizer *local = adaopt_zero_local(z);
    size_t t_off = 0;
    for (size_t i = 0; i < n_tensors; t_off += numels[i], i++) {
        uint64_t begin = off > t_off ? off - t_off : 0;
        const float *zs, *rs;
        size_t n;
        if (adaopt_state(local, i, ADAOPT_STATE_MASTER, &zs, &n) != ADAOPT_OK || n == 0)
            continue;
        CHECK(adaopt_state(ref, i, ADAOPT_STATE_MASTER, &rs, NULL) == ADAOPT_OK, "ref master");
        CHECK(memcmp(zs, rs + begin, n * 4) == 0, "%s: tensor %zu's master differs", name, i);
    }
}

/* A bf16 model under ZeRO and its one-process reference: its shapes (or none), its gradients
 * (this rank's and the ranks' average at step s), and what else to compare after the steps. */
typedef struct bf16_model {
    adaopt_algorithm algorithm;
    const size_t *numels, *group_sizes;
    size_t n_tensors, n_groups, total;
    const size_t (*dims)[3];
    const size_t *ndim;
    void (*grads)(int s, float *mine, float *avg);
    int steps;
    void (*compare)(const adaopt_zero *z, const adaopt_optimizer *ref, const char *what);
} bf16_model;

/* The model in bf16 with `options` (on the ZeRO optimizer and the reference alike): the
 * parameters and every piece's master weights are the bits of one process. */
static void bf16_case(const bf16_model *m, const char *name, const char *options)
{
    adaopt_zero *z;
    char msg[256];
    if (adaopt_zero_create_typed(MPI_COMM_WORLD, m->algorithm, m->numels, m->n_tensors,
                                 m->group_sizes, m->n_groups, ADAOPT_DTYPE_BF16, ADAOPT_DTYPE_F32,
                                 &z, msg, sizeof msg) != ADAOPT_OK) {
        CHECK(0, "%s: create: %s", name, msg);
        return;
    }
    for (size_t i = 0; m->dims != NULL && i < m->n_tensors; i++)
        CHECK(adaopt_zero_set_shape(z, i, m->dims[i], m->ndim[i]) == ADAOPT_OK, "shape");
    adaopt_optimizer *ref = typed_reference(z, m->numels, m->group_sizes, m->n_groups,
                                            ADAOPT_DTYPE_BF16, options, name);
    for (size_t i = 0; m->dims != NULL && i < m->n_tensors; i++)
        CHECK(adaopt_set_shape(ref, i, m->dims[i], m->ndim[i]) == ADAOPT_OK, "ref shape");
    CHECK(adaopt_set_rounding_seed(ref, 0) == ADAOPT_OK, "seed");
    uint16_t *zp = malloc(m->total * 2), *rp = malloc(m->total * 2);
    float *mine = malloc(m->total * 4), *avg = malloc(m->total * 4);
    void **zparams = malloc(m->n_tensors * sizeof *zparams);
    void **rparams = malloc(m->n_tensors * sizeof *rparams);
    const void **zgrads = malloc(m->n_tensors * sizeof *zgrads);
    const void **rgrads = malloc(m->n_tensors * sizeof *rgrads);
    int ready = zp && rp && mine && avg && zparams && rparams && zgrads && rgrads;
    CHECK(ready, "%s: out of memory", name);
    for (size_t j = 0; ready && j < m->total; j++)
        zp[j] = rp[j] = narrow16(ADAOPT_DTYPE_BF16, (float)((int)(j % 17) - 8) * 0.125f);
    for (size_t i = 0, at = 0; ready && i < m->n_tensors; at += m->numels[i], i++) {
        zparams[i] = zp + at;
        rparams[i] = rp + at;
        zgrads[i] = mine + at;
        rgrads[i] = avg + at;
    }
    for (int s = 0; ready && s < m->steps; s++) {
        m->grads(s, mine, avg);
        CHECK(adaopt_zero_step_typed(z, zparams, zgrads, m->n_tensors) == ADAOPT_OK,
              "%s: step: %s", name, adaopt_zero_last_error(z));
        CHECK(adaopt_step_typed(ref, rparams, rgrads, m->n_tensors) == ADAOPT_OK,
              "%s: reference: %s", name, adaopt_last_error(ref));
    }
    if (ready) {
        CHECK(memcmp(zp, rp, m->total * 2) == 0, "%s: the parameters differ from one process's",
              name);
        check_masters(z, ref, m->numels, m->n_tensors, name);
        if (m->compare != NULL)
            m->compare(z, ref, name);
        if (rank == 0)
            printf("  %-36s %d ranks: bit-identical to one process\n", name, world);
    }
    free(zp);
    free(rp);
    free(mine);
    free(avg);
    free(zparams);
    free(rparams);
    free(zgrads);
    free(rgrads);
    adaopt_zero_destroy(z);
    adaopt_destroy(ref);
}

/* LAMB on bf16 parameters over shards (master weights, stochastically rounded; and no master,
 * with 8-bit state): the same bits as one process, parameters and master weights. */
static void lamb_typed_model(void)
{
    static const bf16_model lamb = {ADAOPT_ALGO_LAMB, L_NUMELS, L_GROUPS, L_TENSORS, 2,
                                     L_TOTAL, NULL, NULL, lamb_grads, 6, NULL};
    bf16_case(&lamb, "lamb, bf16 master_sr", "lr=0.01, weight_decay=0.01, "
                                              "param_update=master_sr");
    bf16_case(&lamb, "lamb, bf16 sr, 8-bit state", "lr=0.01, weight_decay=0.01, "
                                                    "param_update=sr, state_storage=8bit, "
                                                    "min_8bit_numel=300");
}

/* Adafactor with factored matrices: one matrix of 9 segments that shard boundaries cut (on 2-4
 * ranks; on 4 one rank holds a middle part of it, cut on both sides), large matrices of one
 * segment, small matrices grouped into units, a vector and an empty tensor.  The ranks exchange
 * the cut matrices' column sums and every unit's norms; the parameters and every rank's row_var
 * and col_var are the bits of one process, also after a sharded checkpoint is re-sharded onto
 * one rank fewer. */
enum { F_TENSORS = 6, F_TOTAL = 600000 + 230400 + 5000 + 120000 + 0 + 70400 };
static const size_t F_NUMELS[F_TENSORS] = {600000, 230400, 5000, 120000, 0, 70400};
static const size_t F_GROUPS[2] = {4, 2};
static const size_t F_DIMS[F_TENSORS][3] = {{1, 2000, 300}, {3, 256, 300}, {5000, 0, 0},
                                            {400, 10, 30}, {0, 7, 0}, {1100, 64, 0}};
static const size_t F_NDIM[F_TENSORS] = {3, 3, 1, 3, 2, 2};

/* Step s's gradients of the ranks [0, n): this rank's (me) into mine, their average into avg. */
static void af_grads(int s, int n, int me, float *mine, float *avg)
{
    for (size_t j = 0; j < F_TOTAL; j++) {
        float sum = lamb_grad(s, 0, j);
        for (int r = 1; r < n; r++)
            sum = sum + lamb_grad(s, r, j);
        avg[j] = sum / (float)n;
        mine[j] = lamb_grad(s, me, j);
    }
}

static adaopt_zero *af_zero(MPI_Comm comm, const char *what)
{
    adaopt_zero *z;
    char msg[256];
    if (adaopt_zero_create(comm, ADAOPT_ALGO_ADAFACTOR, F_NUMELS, F_TENSORS, F_GROUPS, 2, &z, msg,
                           sizeof msg) != ADAOPT_OK) {
        CHECK(0, "adafactor %s: create: %s", what, msg);
        return NULL;
    }
    for (size_t i = 0; i < F_TENSORS; i++)
        CHECK(adaopt_zero_set_shape(z, i, F_DIMS[i], F_NDIM[i]) == ADAOPT_OK, "adafactor: "
              "set_shape %zu: %s", i, adaopt_zero_last_error(z));
    for (size_t g = 0; g < 2; g++) {
        CHECK(adaopt_zero_set(z, g, ADAOPT_WEIGHT_DECAY, 0.01) == ADAOPT_OK, "adafactor: set");
        CHECK(adaopt_zero_set(z, g, ADAOPT_BETA2_DECAY, -0.6) == ADAOPT_OK, "adafactor: set");
    }
    adaopt_zero_set_threads(z, 2);
    return z;
}

static void af_compare(const adaopt_zero *z, const adaopt_optimizer *ref, const char *what)
{
    const adaopt_optimizer *local = adaopt_zero_local(z);
    uint64_t off, len;
    adaopt_zero_shard(z, &off, &len);
    size_t t_off = 0;
    for (size_t i = 0; i < F_TENSORS; t_off += F_NUMELS[i], i++) {
        size_t begin = off > t_off ? (size_t)(off - t_off) : 0;
        const float *zs, *rs;
        size_t n, rn;
        if (F_NDIM[i] < 2 || F_NUMELS[i] == 0) {
            if (adaopt_state(local, i, ADAOPT_STATE_VARIANCE, &zs, &n) == ADAOPT_OK && n > 0) {
                CHECK(adaopt_state(ref, i, ADAOPT_STATE_VARIANCE, &rs, NULL) == ADAOPT_OK, "ref");
                CHECK(memcmp(zs, rs + begin, n * 4) == 0, "adafactor %s: tensor %zu's variance "
                      "differs", what, i);
            }
            continue;
        }
        size_t R = F_DIMS[i][F_NDIM[i] - 2], C = F_DIMS[i][F_NDIM[i] - 1];
        if (adaopt_state(local, i, ADAOPT_STATE_ROW_VAR, &zs, &n) != ADAOPT_OK || n == 0)
            continue; /* (no piece of it here) */
        CHECK(adaopt_state(ref, i, ADAOPT_STATE_ROW_VAR, &rs, &rn) == ADAOPT_OK &&
              begin / C + n <= rn && memcmp(zs, rs + begin / C, n * 4) == 0,
              "adafactor %s: tensor %zu's row_var differs", what, i);
        CHECK(adaopt_state(local, i, ADAOPT_STATE_COL_VAR, &zs, &n) == ADAOPT_OK &&
              adaopt_state(ref, i, ADAOPT_STATE_COL_VAR, &rs, &rn) == ADAOPT_OK &&
              begin / C / R * C + n <= rn && memcmp(zs, rs + begin / C / R * C, n * 4) == 0,
              "adafactor %s: tensor %zu's col_var differs", what, i);
    }
}

/* Muon: every rank orthogonalizes the matrices it holds whole (shard boundaries at tensor
 * starts), the gather spreads them: bit-identical to one process, also through a checkpoint
 * resumed on one rank fewer. */
enum { M_TENSORS = 5, M_TOTAL = 96 * 64 + 40 * 70 + 128 * 32 + 50 * 50 + 30 * 200 };
static const size_t M_NUMELS[M_TENSORS] = {96 * 64, 40 * 70, 128 * 32, 50 * 50, 30 * 200};
static const size_t M_DIMS[M_TENSORS][2] = {{96, 64}, {40, 70}, {128, 32}, {50, 50}, {30, 200}};
static const size_t M_GROUPS[2] = {3, 2};

static adaopt_zero *muon_zero(MPI_Comm comm, const char *what)
{
    adaopt_zero *z;
    char msg[256];
    if (adaopt_zero_create(comm, ADAOPT_ALGO_MUON, M_NUMELS, M_TENSORS, M_GROUPS, 2, &z, msg,
                           sizeof msg) != ADAOPT_OK) {
        CHECK(0, "muon %s: create: %s", what, msg);
        return NULL;
    }
    for (size_t i = 0; i < M_TENSORS; i++)
        CHECK(adaopt_zero_set_shape(z, i, M_DIMS[i], 2) == ADAOPT_OK, "muon: set_shape %zu: %s",
              i, adaopt_zero_last_error(z));
    CHECK(adaopt_zero_set(z, 1, ADAOPT_NESTEROV, 0) == ADAOPT_OK &&
          adaopt_zero_set(z, ADAOPT_ALL_GROUPS, ADAOPT_LR, 0.02) == ADAOPT_OK, "muon: set");
    adaopt_zero_set_threads(z, 2);
    return z;
}

static void muon_grads(int s, int n, int me, float *mine, float *avg)
{
    for (size_t j = 0; j < M_TOTAL; j++) {
        float sum = lamb_grad(s, 0, j);
        for (int r = 1; r < n; r++)
            sum = sum + lamb_grad(s, r, j);
        avg[j] = sum / (float)n;
        mine[j] = lamb_grad(s, me, j);
    }
}

static void muon_model(void)
{
    adaopt_zero *z = muon_zero(MPI_COMM_WORLD, "");
    adaopt_optimizer *ref;
    size_t group;
    if (z == NULL)
        return;
    CHECK(adaopt_create(ADAOPT_ALGO_MUON, &ref) == ADAOPT_OK &&
          adaopt_add_group(ref, M_NUMELS, 3, &group) == ADAOPT_OK &&
          adaopt_add_group(ref, M_NUMELS + 3, 2, &group) == ADAOPT_OK &&
          adaopt_set(ref, 1, ADAOPT_NESTEROV, 0) == ADAOPT_OK &&
          adaopt_set(ref, ADAOPT_ALL_GROUPS, ADAOPT_LR, 0.02) == ADAOPT_OK, "muon: reference");
    for (size_t i = 0; i < M_TENSORS; i++)
        CHECK(adaopt_set_shape(ref, i, M_DIMS[i], 2) == ADAOPT_OK, "muon: ref shape");
    static float zp[M_TOTAL], rp[M_TOTAL], mine[M_TOTAL], avg[M_TOTAL];
    for (size_t j = 0; j < M_TOTAL; j++)
        zp[j] = rp[j] = (float)((int)(j % 13) - 6) * 0.0625f;
    float *zparams[M_TENSORS], *rparams[M_TENSORS];
    const float *zgrads[M_TENSORS], *rgrads[M_TENSORS];
    for (size_t i = 0, at = 0; i < M_TENSORS; at += M_NUMELS[i], i++) {
        zparams[i] = zp + at;
        rparams[i] = rp + at;
        zgrads[i] = mine + at;
        rgrads[i] = avg + at;
    }
    for (int s = 0; s < 3; s++) {
        muon_grads(s, world, rank, mine, avg);
        CHECK(adaopt_zero_step(z, zparams, zgrads, M_TENSORS) == ADAOPT_OK, "muon: step: %s",
              adaopt_zero_last_error(z));
        CHECK(adaopt_step(ref, rparams, rgrads, M_TENSORS) == ADAOPT_OK, "muon: ref step");
    }
    CHECK(memcmp(zp, rp, sizeof zp) == 0, "muon: the parameters differ from one process's");
    char path[64];
    snprintf(path, sizeof path, "/tmp/adaopt-muon-zero-%d.ckpt", world);
    CHECK(adaopt_zero_save(z, path) == ADAOPT_OK, "muon: save: %s", adaopt_zero_last_error(z));
    adaopt_zero_destroy(z);
    int fewer = world > 1 ? world - 1 : 1;
    MPI_Comm sub;
    MPI_Comm_split(MPI_COMM_WORLD, rank < fewer ? 0 : MPI_UNDEFINED, rank, &sub);
    if (sub != MPI_COMM_NULL) {
        z = muon_zero(sub, "re-sharded");
        CHECK(z != NULL && adaopt_zero_load(z, path) == ADAOPT_OK, "muon: load on %d ranks: %s",
              fewer, z ? adaopt_zero_last_error(z) : "");
        for (int s = 3; s < 6 && z != NULL; s++) {
            muon_grads(s, fewer, rank, mine, avg);
            CHECK(adaopt_zero_step(z, zparams, zgrads, M_TENSORS) == ADAOPT_OK,
                  "muon: step: %s", adaopt_zero_last_error(z));
            CHECK(adaopt_step(ref, rparams, rgrads, M_TENSORS) == ADAOPT_OK, "muon: ref step");
        }
        CHECK(memcmp(zp, rp, sizeof zp) == 0, "muon: the parameters differ from one process's "
              "after the re-sharded checkpoint");
        adaopt_zero_destroy(z);
        MPI_Comm_free(&sub);
    }
    if (rank == 0)
        printf("  muon, whole matrices per rank %d ranks: bit-identical to one process, through a "
               "checkpoint re-sharded onto %d\n", world, fewer);
    adaopt_destroy(ref);
    MPI_Barrier(MPI_COMM_WORLD);
}

static void adafactor_model(void)
{
    if (world > 1) { /* shapes set on one rank only: the step refuses on every rank */
        adaopt_zero *odd = af_zero(MPI_COMM_WORLD, "odd");
        size_t flat[1] = {F_NUMELS[0]};
        float *pp[F_TENSORS];
        const float *gp[F_TENSORS];
        static float buf[F_TOTAL];
        for (size_t i = 0, at = 0; i < F_TENSORS; at += F_NUMELS[i], i++) {
            pp[i] = buf + at;
            gp[i] = buf + at;
        }
        CHECK(odd != NULL && (rank != 0 || adaopt_zero_set_shape(odd, 0, flat, 1) == ADAOPT_OK),
              "adafactor: set_shape");
        CHECK(odd != NULL && adaopt_zero_step(odd, pp, gp, F_TENSORS) == ADAOPT_ERR_CONFLICT,
              "adafactor: a step with shapes that differ between the ranks must be refused");
        adaopt_zero_destroy(odd);
    }
    adaopt_zero *z = af_zero(MPI_COMM_WORLD, "");
    adaopt_optimizer *ref;
    size_t group;
    if (z == NULL)
        return;
    CHECK(adaopt_create(ADAOPT_ALGO_ADAFACTOR, &ref) == ADAOPT_OK &&
          adaopt_add_group(ref, F_NUMELS, 4, &group) == ADAOPT_OK &&
          adaopt_add_group(ref, F_NUMELS + 4, 2, &group) == ADAOPT_OK &&
          adaopt_set_options(ref, ADAOPT_ALL_GROUPS, "weight_decay=0.01, beta2_decay=-0.6") ==
              ADAOPT_OK, "adafactor: reference");
    for (size_t i = 0; i < F_TENSORS; i++)
        CHECK(adaopt_set_shape(ref, i, F_DIMS[i], F_NDIM[i]) == ADAOPT_OK, "ref shape");
    static float zp[F_TOTAL], rp[F_TOTAL], mine[F_TOTAL], avg[F_TOTAL];
    for (size_t j = 0; j < F_TOTAL; j++)
        zp[j] = rp[j] = (float)((int)(j % 17) - 8) * 0.125f;
    float *zparams[F_TENSORS], *rparams[F_TENSORS];
    const float *zgrads[F_TENSORS], *rgrads[F_TENSORS];
    for (size_t i = 0, at = 0; i < F_TENSORS; at += F_NUMELS[i], i++) {
        zparams[i] = zp + at;
        rparams[i] = rp + at;
        zgrads[i] = mine + at;
        rgrads[i] = avg + at;
    }
    /* 4 steps on every rank, a checkpoint, 4 more on one rank fewer */
    for (int s = 0; s < 4; s++) {
        af_grads(s, world, rank, mine, avg);
        CHECK(adaopt_zero_step(z, zparams, zgrads, F_TENSORS) == ADAOPT_OK, "adafactor: step: %s",
              adaopt_zero_last_error(z));
        CHECK(adaopt_step(ref, rparams, rgrads, F_TENSORS) == ADAOPT_OK, "adafactor: ref step");
    }
    CHECK(memcmp(zp, rp, sizeof zp) == 0, "adafactor: the parameters differ from one process's");
    af_compare(z, ref, "");
    size_t dims[2] = {F_TOTAL, 1};
    CHECK(adaopt_zero_set_shape(z, 0, F_DIMS[0], 3) == ADAOPT_ERR_STATE &&
          adaopt_zero_set_shape(z, 1, dims, 2) == ADAOPT_ERR_SIZE, "adafactor: set_shape "
          "after a step, or of the wrong size, is refused");
    char path[64];
    snprintf(path, sizeof path, "/tmp/adaopt-adafactor-zero-%d.ckpt", world);
    CHECK(adaopt_zero_save(z, path) == ADAOPT_OK, "adafactor: save: %s",
          adaopt_zero_last_error(z));
    adaopt_zero_destroy(z);
    int fewer = world > 1 ? world - 1 : 1;
    MPI_Comm sub;
    MPI_Comm_split(MPI_COMM_WORLD, rank < fewer ? 0 : MPI_UNDEFINED, rank, &sub);
    if (sub != MPI_COMM_NULL) {
        z = af_zero(sub, "re-sharded");
        CHECK(z != NULL && adaopt_zero_load(z, path) == ADAOPT_OK, "adafactor: load on %d "
              "ranks: %s", fewer, z ? adaopt_zero_last_error(z) : "");
        for (int s = 4; s < 8 && z != NULL; s++) {
            af_grads(s, fewer, rank, mine, avg);
            CHECK(adaopt_zero_step(z, zparams, zgrads, F_TENSORS) == ADAOPT_OK,
                  "adafactor: step: %s", adaopt_zero_last_error(z));
            CHECK(adaopt_step(ref, rparams, rgrads, F_TENSORS) == ADAOPT_OK, "ref step");
        }
        CHECK(memcmp(zp, rp, sizeof zp) == 0, "adafactor: the parameters differ from one "
              "process's after the re-sharded checkpoint");
        if (z != NULL)
            af_compare(z, ref, "re-sharded");
        adaopt_zero_destroy(z);
        MPI_Comm_free(&sub);
    }
    if (rank == 0)
        printf("  adafactor, cut matrices       %d ranks: bit-identical to one process, through a "
               "checkpoint re-sharded onto %d\n", world, fewer);
    adaopt_destroy(ref);
    MPI_Barrier(MPI_COMM_WORLD);
}

/* This step's gradients of every rank (af_grads over the world). */
static void af_world_grads(int s, float *mine, float *avg)
{
    af_grads(s, world, rank, mine, avg);
}

/* Adafactor on bf16 parameters with stochastically rounded master weights, its matrices cut by
 * the shard boundaries: the parameters, the master weights, row_var and col_var are one
 * process's bits (each element's noise is drawn by its index in the whole tensor). */
static void adafactor_typed_model(void)
{
    static const bf16_model af = {ADAOPT_ALGO_ADAFACTOR, F_NUMELS, F_GROUPS, F_TENSORS, 2,
                                   F_TOTAL, F_DIMS, F_NDIM, af_world_grads, 4, af_compare};
    bf16_case(&af, "adafactor, bf16 master_sr", "weight_decay=0.01, param_update=master_sr");
}

static void huge_model(void)
{
    size_t numels[3] = {(size_t)1 << 31, (size_t)1 << 31, (size_t)1 << 31}, groups[1] = {3};
    adaopt_zero *z;
    char msg[256];
    adaopt_status st = adaopt_zero_create(MPI_COMM_WORLD, ADAOPT_ALGO_ADAM, numels, 3, groups, 1,
                                          &z, msg, sizeof msg);
    CHECK(st == ADAOPT_OK, "huge: create: %s", msg);
    if (st != ADAOPT_OK)
        return;
    uint64_t off, len, total = 3 * ((uint64_t)1 << 31), sum = 0;
    adaopt_zero_shard(z, &off, &len);
    MPI_Allreduce(&len, &sum, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
    CHECK(sum == total, "huge: shards cover %llu of %llu elements", (unsigned long long)sum,
          (unsigned long long)total);
    size_t state = adaopt_zero_state_bytes(z);
    CHECK(state == 0 || state == 2 * len * sizeof(float), "huge: %zu bytes of state", state);
    CHECK(adaopt_zero_set(z, ADAOPT_ALL_GROUPS, ADAOPT_LR, 1e-4) == ADAOPT_OK, "huge: set");
    if (rank == 0)
        printf("huge: a model of 3 x 2^31 = %llu elements accepted on %d ranks (shard of rank 0: "
               "%llu elements, Adam state %.1f GB)\n", (unsigned long long)total, world,
               (unsigned long long)len, 2.0 * (double)len * 4 / 1e9);
    adaopt_zero_destroy(z);
    /* Sizes near SIZE_MAX: a tensor too large to address, and tensors whose sum wraps (the
     * offsets of every element would wrap with it), are refused on every rank. */
    const size_t wide[3][2] = {{SIZE_MAX, 1}, {SIZE_MAX / 2, SIZE_MAX / 2 + 2},
                               {(size_t)1 << 59, (size_t)1 << 59}};
    for (int k = 0; k < 3; k++) {
        size_t two[1] = {2};
        adaopt_zero *w = NULL;
        st = adaopt_zero_create(MPI_COMM_WORLD, ADAOPT_ALGO_ADAM, wide[k], 2, two, 1, &w, msg,
                                sizeof msg);
        CHECK(k == 2 ? st == ADAOPT_OK || st == ADAOPT_ERR_ALLOC || st == ADAOPT_ERR_SIZE
                     : st == ADAOPT_ERR_SIZE, "huge: sizes %zu + %zu: status %d (%s)",
              wide[k][0], wide[k][1], st, msg);
        if (st == ADAOPT_OK)
            adaopt_zero_destroy(w);
    }
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    if (argc == 2 && strcmp(argv[1], "huge") == 0) {
        huge_model();
        int total;
        MPI_Allreduce(&failures, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
        if (rank == 0)
            printf("%s: %d failures\n", total ? "FAILED" : "passed", total);
        MPI_Finalize();
        return total ? 1 : 0;
    }
    if (rank == 0)
        printf("ZeRO-1 on %d ranks, %d elements in %d tensors and %d groups, 200 steps each\n",
               world, TOTAL, N_TENSORS, N_GROUPS);
    for (int c = 0; c < N_CONFIGS; c++)
        run_config(&CONFIGS[c]);
    memory_arithmetic();
    collective_errors();
    tiny_model();
    piece_limit_errors();
    typed_model();
    eight_bit_model();
    lamb_model();
    lamb_typed_model();
    adafactor_model();
    muon_model();
    adafactor_typed_model();
    int total;
    MPI_Allreduce(&failures, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0)
        printf("%s: %d failures\n", total ? "FAILED" : "passed", total);
    MPI_Finalize();
    return total ? 1 : 0;
}
