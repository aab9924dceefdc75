/*
 * test_alloc.c -- allocation failure, SQLite style.  The library's malloc, calloc and realloc go
 * through the wrappers below (the test links with -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc
 * against the static library), which can make the Nth allocation of one call fail.
 *
 * A recipe is a list of API calls (create, add groups, set options and shapes, steps dense and
 * sparse, state queries and writes, saves and loads of buffers and files, eval/train).  For every
 * call k of every recipe and every N = 0, 1, ... until call k makes fewer than N + 1 allocations:
 * calls 0 .. k-1 run, call k runs with its Nth allocation failing, and then
 *   - call k returned ADAOPT_ERR_ALLOC, with a message (create: and no optimizer);
 *   - the optimizer is as it was: the same checkpoint bytes, parameters, counts and mode;
 *   - call k made again (without faults) succeeds, and the rest of the recipe ends with the bits
 *     of a run that never failed.
 * Leaks are found by the ASan and valgrind runs of this test (make test-asan, test-valgrind).
 */
#define _DEFAULT_SOURCE /* mkdtemp */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "helpers.h"

/* ---- the wrappers ------------------------------------------------------------------------ */

static struct {
    int armed;
    long seen;    /* allocations while armed */
    long fail_at; /* the one to fail (0-based) */
    int fired;
} plan;

void *__real_malloc(size_t n);
void *__real_calloc(size_t count, size_t size);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t count, size_t size);
void *__wrap_realloc(void *p, size_t n);

static int fail_here(void)
{
    if (!__atomic_load_n(&plan.armed, __ATOMIC_SEQ_CST))
        return 0;
    long k = __atomic_fetch_add(&plan.seen, 1, __ATOMIC_SEQ_CST);
    if (k == plan.fail_at) {
        __atomic_store_n(&plan.fired, 1, __ATOMIC_SEQ_CST);
        return 1;
    }
    return 0;
}

void *__wrap_malloc(size_t n)
{
    return fail_here() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t count, size_t size)
{
    return fail_here() ? NULL : __real_calloc(count, size);
}

void *__wrap_realloc(void *p, size_t n)
{
    return fail_here() ? NULL : __real_realloc(p, n);
}

static void arm(long fail_at)
{
    plan.seen = 0;
    plan.fail_at = fail_at;
    plan.fired = 0;
    __atomic_store_n(&plan.armed, 1, __ATOMIC_SEQ_CST);
}

static void disarm(void)
{
    __atomic_store_n(&plan.armed, 0, __ATOMIC_SEQ_CST);
}

/* ---- recipes ------------------------------------------------------------------------------ */

enum { MAX_TENSORS = 8, MAX_OPS = 32, BUF_CAP = 1 << 20 };

typedef enum op_kind {
    OP_CREATE,
    OP_ADD_GROUP,  /* group a of the recipe */
    OP_SET,        /* option a of group b to x (b == -1: every group) */
    OP_SET_SHAPE,  /* tensor a to rows b x cols c */
    OP_SET_THREADS,
    OP_RESERVE_SPARSE,
    OP_STEP,
    OP_STEP_SPARSE, /* tensor a's gradient: rows of b elements */
    OP_STATE,      /* tensor a's array of kind b */
    OP_SET_STATE,  /* tensor a's array of kind b, from its current values plus x */
    OP_EFFECTIVE_LR,
    OP_SAVE_BUFFER,
    OP_LOAD_BUFFER, /* what the last OP_SAVE_BUFFER saved */
    OP_SAVE_FILE,
    OP_LOAD_FILE,
    OP_EVAL,
    OP_TRAIN
} op_kind;

static const char *const KIND_NAMES[] = {
    "create", "add_group_typed", "set", "set_shape", "set_threads", "reserve_sparse",
    "step_typed", "step_sparse_typed", "state", "set_state", "effective_lr", "save_buffer",
    "load_buffer", "save_file", "load_file", "eval", "train"};
enum { N_KINDS = sizeof KIND_NAMES / sizeof KIND_NAMES[0] };
static long by_kind[N_KINDS]; /* failed allocations per call */

typedef struct op {
    op_kind kind;
    long a, b, c;
    double x;
} op;

typedef struct group_spec {
    size_t n;
    size_t numels[4];
    adaopt_dtype param, grad;
} group_spec;

typedef struct recipe {
    const char *name;
    adaopt_algorithm algorithm;
    group_spec groups[3];
    size_t n_groups;
    op ops[MAX_OPS];
    size_t n_ops;
} recipe;

typedef struct world {
    const recipe *r;
    adaopt_optimizer *opt;
    size_t n; /* tensors added */
    size_t numel[MAX_TENSORS];
    adaopt_dtype pdt[MAX_TENSORS], gdt[MAX_TENSORS];
    void *p[MAX_TENSORS], *g[MAX_TENSORS];
    unsigned char *buf;
    size_t buf_len;
    float *scratch; /* effective lr and state values */
    char dir[64], path[96];
} world;

static size_t elem_bytes(adaopt_dtype d)
{
    return d == ADAOPT_DTYPE_F32 ? 4 : 2;
}

/* v as dtype d, element i of x (bf16 by truncation, fp16 as bf16's bits shifted: any bit
 * pattern that is a finite number is a valid parameter; these stay small and finite). */
static void put(void *x, adaopt_dtype d, size_t i, float v)
{
    if (d == ADAOPT_DTYPE_F32) {
        ((float *)x)[i] = v;
        return;
    }
    uint32_t u;
    memcpy(&u, &v, 4);
    if (d == ADAOPT_DTYPE_BF16)
        ((uint16_t *)x)[i] = (uint16_t)(u >> 16);
    else /* fp16 of |v| < 1: sign, then a value in [2^-8, 1) */
        ((uint16_t *)x)[i] = (uint16_t)(((u >> 16) & 0x8000u) | 0x1c00u | ((u >> 13) & 0x3ffu));
}

static void world_init(world *w, const recipe *r)
{
    memset(w, 0, sizeof *w);
    w->r = r;
    w->buf = malloc(BUF_CAP);
    w->scratch = malloc(sizeof(float) * 8192);
    assert_non_null(w->buf);
    assert_non_null(w->scratch);
    strcpy(w->dir, "/tmp/adaopt-alloc-XXXXXX");
    assert_non_null(mkdtemp(w->dir));
    snprintf(w->path, sizeof w->path, "%s/opt.ckpt", w->dir);
}

static void world_free(world *w)
{
    adaopt_destroy(w->opt);
    for (size_t i = 0; i < w->n; i++) {
        free(w->p[i]);
        free(w->g[i]);
    }
    free(w->buf);
    free(w->scratch);
    unlink(w->path);
    rmdir(w->dir);
}

/* Allocates the tensors of group gi (before the call that adds it: nothing allocates while
 * armed but the library). */
static void make_tensors(world *w, size_t gi)
{
    const group_spec *gs = &w->r->groups[gi];
    for (size_t j = 0; j < gs->n; j++) {
        size_t i = w->n + j;
        assert_true(i < MAX_TENSORS);
        w->numel[i] = gs->numels[j];
        w->pdt[i] = gs->param;
        w->gdt[i] = gs->grad;
        w->p[i] = malloc(gs->numels[j] * elem_bytes(gs->param) + 1);
        w->g[i] = malloc(gs->numels[j] * elem_bytes(gs->grad) + 1);
        assert_non_null(w->p[i]);
        assert_non_null(w->g[i]);
        for (size_t e = 0; e < gs->numels[j]; e++)
            put(w->p[i], gs->param, e, 0.5f * sinf(0.37f * (float)e + (float)i));
    }
}

/* Gradients of step t (a function of t, so that a step made again sees the same). */
static void fill_grads(world *w, uint64_t t)
{
    for (size_t i = 0; i < w->n; i++)
        for (size_t e = 0; e < w->numel[i]; e++)
            put(w->g[i], w->gdt[i], e,
                0.1f * cosf(0.11f * (float)e + 0.7f * (float)t + (float)i));
}

/* Runs one call; armed or not as the caller says.  Anything the test itself needs is made
 * before it arms. */
static adaopt_status run_op(world *w, const op *o)
{
    adaopt_status st = ADAOPT_OK;
    size_t gi;
    switch (o->kind) {
    case OP_CREATE: {
        static char sentinel;
        adaopt_optimizer *opt = (adaopt_optimizer *)(void *)&sentinel; /* NULL on failure */
        arm(plan.fail_at);
        st = adaopt_create(w->r->algorithm, &opt);
        disarm();
        if (st != ADAOPT_OK)
            assert_null(opt);
        else
            w->opt = opt;
        return st;
    }
    case OP_ADD_GROUP: {
        const group_spec *gs = &w->r->groups[o->a];
        size_t before = w->n;
        make_tensors(w, (size_t)o->a);
        arm(plan.fail_at);
        st = adaopt_add_group_typed(w->opt, gs->numels, gs->n, gs->param, gs->grad, &gi);
        disarm();
        if (st == ADAOPT_OK) {
            w->n = before + gs->n;
        } else {
            for (size_t j = before; j < before + gs->n; j++) {
                free(w->p[j]);
                free(w->g[j]);
                w->p[j] = w->g[j] = NULL;
            }
        }
        return st;
    }
    case OP_STEP:
    case OP_STEP_SPARSE: {
        fill_grads(w, adaopt_steps_taken(w->opt) + 1);
        const void *grads[MAX_TENSORS];
        adaopt_sparse_grad sparse[MAX_TENSORS];
        int64_t rows[3] = {2, 0, 2};
        memset(sparse, 0, sizeof sparse);
        for (size_t i = 0; i < w->n; i++)
            grads[i] = w->g[i];
        if (o->kind == OP_STEP_SPARSE) {
            size_t i = (size_t)o->a;
            grads[i] = NULL;
            sparse[i].indices = rows;
            sparse[i].n_indices = 3;
            sparse[i].values = w->scratch;
            sparse[i].row_len = (size_t)o->b;
            for (size_t e = 0; e < 3 * (size_t)o->b; e++)
                w->scratch[e] = 0.01f * (float)(e % 17) - 0.05f;
        }
        arm(plan.fail_at);
        st = o->kind == OP_STEP
                 ? adaopt_step_typed(w->opt, w->p, grads, w->n)
                 : adaopt_step_sparse_typed(w->opt, w->p, grads, sparse, w->n);
        disarm();
        return st;
    }
    case OP_SET_STATE: {
        const float *data;
        size_t n;
        assert_int_equal(adaopt_state(w->opt, (size_t)o->a, (adaopt_state_kind)o->b, &data, &n),
                         ADAOPT_OK);
        for (size_t e = 0; e < n; e++)
            w->scratch[e] = data[e] + (float)o->x;
        arm(plan.fail_at);
        st = adaopt_set_state(w->opt, (size_t)o->a, (adaopt_state_kind)o->b, w->scratch, n);
        disarm();
        return st;
    }
    default:
        break;
    }
    size_t dims[2] = {(size_t)o->b, (size_t)o->c};
    const float *data = NULL;
    size_t n = 0;
    arm(plan.fail_at);
    switch (o->kind) {
    case OP_SET:
        st = adaopt_set(w->opt, o->b < 0 ? ADAOPT_ALL_GROUPS : (size_t)o->b,
                        (adaopt_option)o->a, o->x);
        break;
    case OP_SET_SHAPE:
        st = adaopt_set_shape(w->opt, (size_t)o->a, dims, 2);
        break;
    case OP_SET_THREADS:
        st = adaopt_set_threads(w->opt, (size_t)o->a);
        break;
    case OP_RESERVE_SPARSE:
        st = adaopt_reserve_sparse(w->opt, 8, 600, 16);
        break;
    case OP_STATE:
        st = adaopt_state(w->opt, (size_t)o->a, (adaopt_state_kind)o->b, &data, &n);
        break;
    case OP_EFFECTIVE_LR:
        st = adaopt_effective_lr(w->opt, (size_t)o->a, w->scratch, w->numel[o->a]);
        break;
    case OP_SAVE_BUFFER:
        st = adaopt_save_buffer(w->opt, w->buf, BUF_CAP, &w->buf_len);
        break;
    case OP_LOAD_BUFFER:
        st = adaopt_load_buffer(w->opt, w->buf, w->buf_len);
        break;
    case OP_SAVE_FILE:
        st = adaopt_save_file(w->opt, w->path);
        break;
    case OP_LOAD_FILE:
        st = adaopt_load_file(w->opt, w->path);
        break;
    case OP_EVAL:
        st = adaopt_eval(w->opt, w->p, w->n);
        break;
    case OP_TRAIN:
        st = adaopt_train(w->opt, w->p, w->n);
        break;
    default:
        fail_msg("op %d", (int)o->kind);
    }
    disarm();
    if (o->kind == OP_STATE && st == ADAOPT_OK)
        assert_true(data != NULL && n > 0);
    return st;
}

/* Everything a failed call must leave as it was. */
typedef struct snapshot {
    unsigned char *bytes;
    size_t n;
} snapshot;

static snapshot take(const world *w)
{
    snapshot s = {NULL, 0};
    if (w->opt == NULL)
        return s;
    size_t ck = adaopt_checkpoint_size(w->opt), params = 0;
    for (size_t i = 0; i < w->n; i++)
        params += w->numel[i] * elem_bytes(w->pdt[i]);
    s.bytes = malloc(ck + params + 64);
    assert_non_null(s.bytes);
    size_t len = 0;
    assert_int_equal(adaopt_save_buffer(w->opt, s.bytes, ck, &len), ADAOPT_OK);
    for (size_t i = 0; i < w->n; i++) {
        size_t b = w->numel[i] * elem_bytes(w->pdt[i]);
        memcpy(s.bytes + len, w->p[i], b);
        len += b;
    }
    uint64_t counts[6] = {adaopt_group_count(w->opt), adaopt_tensor_count(w->opt),
                          adaopt_steps_taken(w->opt), adaopt_steps_skipped(w->opt),
                          (uint64_t)adaopt_is_training(w->opt), adaopt_get_threads(w->opt)};
    memcpy(s.bytes + len, counts, sizeof counts);
    s.n = len + sizeof counts;
    return s;
}

static void assert_same(snapshot a, snapshot b, const char *what, const recipe *r, size_t k,
                        long n)
{
    if (a.n != b.n || (a.n && memcmp(a.bytes, b.bytes, a.n) != 0))
        fail_msg("%s, call %zu, allocation %ld: %s", r->name, k, n, what);
}

static void run_until(world *w, size_t end)
{
    plan.fail_at = -1;
    for (size_t k = 0; k < end; k++) {
        adaopt_status st = run_op(w, &w->r->ops[k]);
        if (st != ADAOPT_OK)
            fail_msg("%s: call %zu without faults: %s (%s)", w->r->name, k,
                     adaopt_status_name(st), w->opt ? adaopt_last_error(w->opt) : "");
    }
}

static long run_recipe(const recipe *r)
{
    /* The reference: every call without faults, a snapshot after each. */
    snapshot ref[MAX_OPS + 1];
    world w;
    world_init(&w, r);
    ref[0] = take(&w);
    for (size_t k = 0; k < r->n_ops; k++) {
        plan.fail_at = -1;
        adaopt_status st = run_op(&w, &r->ops[k]);
        if (st != ADAOPT_OK)
            fail_msg("%s: call %zu: %s", r->name, k, w.opt ? adaopt_last_error(w.opt) : "");
        ref[k + 1] = take(&w);
    }
    world_free(&w);

    long failures = 0;
    for (size_t k = 0; k < r->n_ops; k++) {
        for (long n = 0;; n++) {
            world_init(&w, r);
            run_until(&w, k);
            snapshot before = take(&w);
            plan.fail_at = n;
            adaopt_status st = run_op(&w, &r->ops[k]);
            int fired = plan.fired;
            plan.fail_at = -1;
            if (!fired) {
                assert_int_equal(st, ADAOPT_OK);
                free(before.bytes);
                world_free(&w);
                break;
            }
            failures++;
            by_kind[r->ops[k].kind]++;
            if (st != ADAOPT_ERR_ALLOC)
                fail_msg("%s, call %zu (kind %d), allocation %ld failed: %s, not "
                         "ADAOPT_ERR_ALLOC (%s)", r->name, k, (int)r->ops[k].kind, n,
                         adaopt_status_name(st), w.opt ? adaopt_last_error(w.opt) : "");
            if (w.opt != NULL)
                assert_true(adaopt_last_error(w.opt)[0] != '\0');
            snapshot after = take(&w);
            assert_same(before, after, "changed the optimizer", r, k, n);
            free(after.bytes);
            free(before.bytes);
            /* Still whole: the call again, and the rest, give the bits of the reference. */
            assert_int_equal(run_op(&w, &r->ops[k]), ADAOPT_OK);
            for (size_t j = k + 1; j <= r->n_ops; j++) {
                snapshot s = take(&w);
                assert_same(s, ref[j], "differs from the run without faults after", r, j - 1,
                            n);
                free(s.bytes);
                if (j < r->n_ops)
                    assert_int_equal(run_op(&w, &r->ops[j]), ADAOPT_OK);
            }
            world_free(&w);
        }
    }
    for (size_t k = 0; k <= r->n_ops; k++)
        free(ref[k].bytes);
    return failures;
}

/* ---- the recipes --------------------------------------------------------------------------- */

#define OPS(...) .ops = {__VA_ARGS__}, .n_ops = sizeof((op[]){__VA_ARGS__}) / sizeof(op)
#define CREATE {OP_CREATE, 0, 0, 0, 0}
#define ADD(g) {OP_ADD_GROUP, g, 0, 0, 0}
#define SET(option, group, value) {OP_SET, option, group, 0, value}
#define STEP {OP_STEP, 0, 0, 0, 0}
#define SAVE_LOAD {OP_SAVE_BUFFER, 0, 0, 0, 0}, STEP, {OP_LOAD_BUFFER, 0, 0, 0, 0}, \
                  {OP_SAVE_FILE, 0, 0, 0, 0}, STEP, {OP_LOAD_FILE, 0, 0, 0, 0}

static const recipe RECIPES[] = {
    {"adam f32, amsgrad, sparse", ADAOPT_ALGO_ADAM,
     {{3, {1200, 30, 0}, ADAOPT_DTYPE_F32, ADAOPT_DTYPE_F32},
      {1, {600}, ADAOPT_DTYPE_F32, ADAOPT_DTYPE_F32}}, 2,
     OPS(CREATE, ADD(0), ADD(1), SET(ADAOPT_AMSGRAD, -1, 1), {OP_RESERVE_SPARSE, 0, 0, 0, 0},
         STEP, {OP_STEP_SPARSE, 3, 100, 0, 0}, {OP_STATE, 0, ADAOPT_STATE_EXP_AVG_SQ, 0, 0},
         {OP_SET_STATE, 0, ADAOPT_STATE_EXP_AVG, 0, 0.01}, {OP_EFFECTIVE_LR, 0, 0, 0, 0},
         SAVE_LOAD, STEP)},
    {"adamw bf16 master + 8-bit", ADAOPT_ALGO_ADAMW,
     {{2, {1100, 300}, ADAOPT_DTYPE_BF16, ADAOPT_DTYPE_BF16},
      {1, {700}, ADAOPT_DTYPE_F32, ADAOPT_DTYPE_F32}}, 2,
     OPS(CREATE, ADD(0), SET(ADAOPT_MIN_8BIT_NUMEL, 0, 0), SET(ADAOPT_STATE_STORAGE, 0, 2),
         ADD(1), SET(ADAOPT_STATE_STORAGE, 1, 1), STEP,
         {OP_STATE, 0, ADAOPT_STATE_EXP_AVG, 0, 0}, {OP_STATE, 2, ADAOPT_STATE_EXP_AVG_SQ, 0, 0},
         {OP_STATE, 0, ADAOPT_STATE_MASTER, 0, 0},
         {OP_SET_STATE, 1, ADAOPT_STATE_EXP_AVG_SQ, 0, 0.001}, {OP_EFFECTIVE_LR, 0, 0, 0, 0},
         SET(ADAOPT_AMSGRAD, 0, 1), STEP, SAVE_LOAD, STEP)},
    {"sgd momentum, sr, 2 threads", ADAOPT_ALGO_SGD,
     {{2, {900, 70}, ADAOPT_DTYPE_BF16, ADAOPT_DTYPE_F32}}, 1,
     OPS(CREATE, {OP_SET_THREADS, 2, 0, 0, 0}, ADD(0), SET(ADAOPT_PARAM_UPDATE, 0, 2), STEP,
         SET(ADAOPT_MOMENTUM, 0, 0.9), STEP, {OP_STATE, 0, ADAOPT_STATE_MOMENTUM_BUFFER, 0, 0},
         SAVE_LOAD, STEP)},
    {"rmsprop centered momentum", ADAOPT_ALGO_RMSPROP,
     {{2, {500, 40}, ADAOPT_DTYPE_F16, ADAOPT_DTYPE_F16}}, 1,
     OPS(CREATE, ADD(0), SET(ADAOPT_CENTERED, 0, 1), SET(ADAOPT_MOMENTUM, 0, 0.5), STEP,
         {OP_EFFECTIVE_LR, 1, 0, 0, 0}, SAVE_LOAD, STEP)},
    {"adagrad bf16 state, sparse", ADAOPT_ALGO_ADAGRAD,
     {{1, {800}, ADAOPT_DTYPE_F32, ADAOPT_DTYPE_F32}}, 1,
     OPS(CREATE, ADD(0), SET(ADAOPT_INITIAL_ACCUMULATOR_VALUE, 0, 0.1),
         SET(ADAOPT_STATE_STORAGE, 0, 1), {OP_RESERVE_SPARSE, 0, 0, 0, 0},
         {OP_STEP_SPARSE, 0, 200, 0, 0}, STEP, SAVE_LOAD, STEP)},
    {"nadam bf16 state", ADAOPT_ALGO_NADAM,
     {{1, {640}, ADAOPT_DTYPE_F32, ADAOPT_DTYPE_F32}}, 1,
     OPS(CREATE, ADD(0), SET(ADAOPT_STATE_STORAGE, 0, 1), STEP, SAVE_LOAD, STEP)},
    {"radam", ADAOPT_ALGO_RADAM,
     {{1, {300}, ADAOPT_DTYPE_F32, ADAOPT_DTYPE_F32}}, 1,
     OPS(CREATE, ADD(0), STEP, SAVE_LOAD)},
    {"adamax 8-bit", ADAOPT_ALGO_ADAMAX, {{1, {300}, ADAOPT_DTYPE_F32, ADAOPT_DTYPE_F32}}, 1,
     OPS(CREATE, ADD(0), SET(ADAOPT_MIN_8BIT_NUMEL, 0, 0), SET(ADAOPT_STATE_STORAGE, 0, 2),
         STEP, SAVE_LOAD)},
    {"lion 8-bit", ADAOPT_ALGO_LION, {{1, {1300}, ADAOPT_DTYPE_BF16, ADAOPT_DTYPE_BF16}}, 1,
     OPS(CREATE, ADD(0), SET(ADAOPT_MIN_8BIT_NUMEL, 0, 0), SET(ADAOPT_STATE_STORAGE, 0, 2),
         STEP, SAVE_LOAD)},
    {"schedule-free eval/train", ADAOPT_ALGO_ADAMW_SCHEDULE_FREE,
     {{2, {700, 20}, ADAOPT_DTYPE_F32, ADAOPT_DTYPE_F32}}, 1,
     OPS(CREATE, ADD(0), STEP, {OP_EVAL, 0, 0, 0, 0}, {OP_TRAIN, 0, 0, 0, 0}, STEP,
         {OP_STATE, 0, ADAOPT_STATE_Z, 0, 0}, SAVE_LOAD, STEP)},
    {"lamb f32 and bf16 + 8-bit, 2 threads", ADAOPT_ALGO_LAMB,
     {{2, {1000, 64}, ADAOPT_DTYPE_F32, ADAOPT_DTYPE_F32},
      {1, {900}, ADAOPT_DTYPE_BF16, ADAOPT_DTYPE_BF16}}, 2,
     OPS(CREATE, ADD(0), ADD(1), {OP_SET_THREADS, 2, 0, 0, 0}, SET(ADAOPT_MIN_8BIT_NUMEL, 1, 0),
         SET(ADAOPT_STATE_STORAGE, 1, 2), STEP, {OP_STATE, 2, ADAOPT_STATE_EXP_AVG, 0, 0},
         SAVE_LOAD, STEP)},
    {"adadelta bf16 parameters, 8-bit", ADAOPT_ALGO_ADADELTA,
     {{1, {700}, ADAOPT_DTYPE_BF16, ADAOPT_DTYPE_BF16}}, 1,
     OPS(CREATE, ADD(0), SET(ADAOPT_MIN_8BIT_NUMEL, 0, 0), SET(ADAOPT_STATE_STORAGE, 0, 2),
         STEP, {OP_EFFECTIVE_LR, 0, 0, 0, 0}, SAVE_LOAD, STEP)},
    {"rprop bf16 state", ADAOPT_ALGO_RPROP, {{2, {600, 30}, ADAOPT_DTYPE_F32, ADAOPT_DTYPE_F32}}, 1,
     OPS(CREATE, ADD(0), SET(ADAOPT_STATE_STORAGE, 0, 1), STEP,
         {OP_STATE, 0, ADAOPT_STATE_STEP_SIZE, 0, 0}, SAVE_LOAD, STEP)},
    {"asgd", ADAOPT_ALGO_ASGD, {{1, {500}, ADAOPT_DTYPE_F32, ADAOPT_DTYPE_F32}}, 1,
     OPS(CREATE, ADD(0), SET(ADAOPT_T0, 0, 1), STEP, STEP, {OP_STATE, 0, ADAOPT_STATE_AX, 0, 0},
         SAVE_LOAD, STEP)},
    {"muon matrices, 2 threads", ADAOPT_ALGO_MUON,
     {{2, {40 * 30, 8 * 16}, ADAOPT_DTYPE_F32, ADAOPT_DTYPE_F32}}, 2,
     OPS(CREATE, ADD(0), {OP_SET_SHAPE, 0, 40, 30, 0}, {OP_SET_SHAPE, 1, 8, 16, 0},
         {OP_SET_THREADS, 2, 0, 0, 0}, STEP, {OP_EFFECTIVE_LR, 0, 0, 0, 0}, SAVE_LOAD, STEP)},
    {"adafactor matrices, 2 threads", ADAOPT_ALGO_ADAFACTOR,
     {{3, {40 * 30, 70, 8 * 128}, ADAOPT_DTYPE_F32, ADAOPT_DTYPE_F32},
      {1, {600}, ADAOPT_DTYPE_BF16, ADAOPT_DTYPE_BF16}}, 2,
     OPS(CREATE, ADD(0), ADD(1), {OP_SET_SHAPE, 0, 40, 30, 0}, {OP_SET_SHAPE, 2, 8, 128, 0},
         {OP_SET_SHAPE, 3, 20, 30, 0}, {OP_SET_THREADS, 2, 0, 0, 0}, STEP,
         {OP_STATE, 0, ADAOPT_STATE_ROW_VAR, 0, 0}, {OP_EFFECTIVE_LR, 0, 0, 0, 0},
         {OP_SET_STATE, 1, ADAOPT_STATE_VARIANCE, 0, 0.001}, SAVE_LOAD, STEP)},
};

static void every_allocation_of_every_call(void **state)
{
    (void)state;
    long total = 0;
    for (size_t i = 0; i < sizeof RECIPES / sizeof RECIPES[0]; i++) {
        long n = run_recipe(&RECIPES[i]);
        print_message("%-40s %4ld failed allocations\n", RECIPES[i].name, n);
        assert_true(n > 0);
        total += n;
    }
    print_message("%ld in all; by call (0: the call allocates nothing):\n", total);
    for (int k = 0; k < N_KINDS; k++)
        print_message("  %-18s %4ld\n", KIND_NAMES[k], by_kind[k]);
    /* The calls that allocate were reached (a recipe that stopped early would not). */
    assert_true(by_kind[OP_CREATE] > 0 && by_kind[OP_ADD_GROUP] > 0 && by_kind[OP_SET] > 0 &&
                by_kind[OP_LOAD_BUFFER] > 0 && by_kind[OP_LOAD_FILE] > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_allocation_of_every_call),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
