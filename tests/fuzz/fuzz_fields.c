/*
 * fuzz_fields.c -- libFuzzer target: structure-aware checkpoint edits.  The input chooses an
 * optimizer (algorithm, state storage, bf16 parameters, options, steps) and a list of edits to
 * the fields of its own checkpoint's sections (docs/CHECKPOINT.md): integers and floats set to
 * hostile values (0, 2^53 + 1, 2^64 - 1, NaN, infinities, 1e300, ...), raw bytes, fields removed
 * or repeated; then every checksum is recomputed (tests/ckpt_edit.h) so that the edit reaches the
 * checks behind them.  The property (issue "hostile input"):
 *   refused  -> the optimizer's checkpoint bytes are unchanged;
 *   accepted -> what it holds passes the API's own checks (options, steps <= 2^53, finite state,
 *               second moments >= 0), it saves and loads into another optimizer to the same
 *               bytes, and -- when it holds moderate values (state and master weights within
 *               1e4, options other than counts within 10) -- three steps on finite gradients
 *               leave every parameter finite.  (Legal but huge values can overflow a step, as
 *               the same optimizer built through adaopt_set and adaopt_set_state would.)
 * Excluded from the last check, as torch.optim would diverge too: centered RMSProp (a loaded
 * grad_avg larger than sqrt(square_avg) makes S - A^2 negative, and its square root NaN).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adaopt.h"
#include "../ckpt_edit.h"
#include "../../src/precision.h" /* adaopt__bf16_to_f32 */

enum { N_TENSORS = 3 };
static const size_t NUMELS[N_TENSORS] = {13, 5, 300};

typedef struct input {
    const uint8_t *p;
    size_t left;
} input;

static unsigned byte(input *in)
{
    if (in->left == 0)
        return 0;
    in->left--;
    return *in->p++;
}

typedef struct config {
    adaopt_algorithm algorithm;
    int storage, bf16, toggles, steps;
} config;

static adaopt_optimizer *make(const config *c)
{
    adaopt_optimizer *opt;
    size_t group;
    adaopt_dtype dt = c->bf16 ? ADAOPT_DTYPE_BF16 : ADAOPT_DTYPE_F32;
    if (adaopt_create(c->algorithm, &opt) != ADAOPT_OK)
        return NULL;
    if (adaopt_add_group_typed(opt, NUMELS, 2, dt, dt, &group) != ADAOPT_OK ||
        adaopt_add_group_typed(opt, NUMELS + 2, 1, dt, dt, &group) != ADAOPT_OK ||
        adaopt_set_threads(opt, 1) != ADAOPT_OK) {
        adaopt_destroy(opt);
        return NULL;
    }
    for (size_t g = 0; g < 2; g++) {
        adaopt_set(opt, g, ADAOPT_MIN_8BIT_NUMEL, 0);
        adaopt_set(opt, g, ADAOPT_STATE_STORAGE, c->storage); /* (refused where not allowed) */
        if (c->toggles & 1) {
            adaopt_set(opt, g, ADAOPT_AMSGRAD, 1);
            adaopt_set(opt, g, ADAOPT_CENTERED, 1);
            adaopt_set(opt, g, ADAOPT_MOMENTUM, 0.5);
        }
        if (c->toggles & 2)
            adaopt_set(opt, g, ADAOPT_WEIGHT_DECAY, 0.1);
    }
    if (c->algorithm == ADAOPT_ALGO_ADAFACTOR) {
        const size_t dims[2] = {20, 15};
        adaopt_set_shape(opt, 2, dims, 2);
    }
    return opt;
}

typedef struct model {
    float p[13 + 5 + 300], g[13 + 5 + 300];
    uint16_t hp[13 + 5 + 300], hg[13 + 5 + 300];
} model;

/* A step on gradients of magnitude 0.25..1 (never 0), with sign and size from the index. */
static adaopt_status step(adaopt_optimizer *opt, model *m, int bf16, int k)
{
    for (int i = 0; i < 318; i++) {
        m->g[i] = (0.25f + 0.75f * (float)((i * 37 + k * 11) % 16) / 15.0f) * (i % 3 ? 1.0f : -1.0f);
        m->hg[i] = adaopt__f32_to_bf16(m->g[i]);
    }
    void *pp[N_TENSORS];
    const void *gg[N_TENSORS];
    for (int t = 0, at = 0; t < N_TENSORS; at += (int)NUMELS[t], t++) {
        pp[t] = bf16 ? (void *)(m->hp + at) : (void *)(m->p + at);
        gg[t] = bf16 ? (const void *)(m->hg + at) : (const void *)(m->g + at);
    }
    return adaopt_step_typed(opt, pp, gg, N_TENSORS);
}

static int params_finite(const model *m, int bf16)
{
    for (int i = 0; i < 318; i++)
        if (!isfinite(bf16 ? adaopt__bf16_to_f32(m->hp[i]) : m->p[i]))
            return 0;
    return 1;
}

static unsigned char *checkpoint(const adaopt_optimizer *opt, size_t *n)
{
    *n = adaopt_checkpoint_size(opt);
    unsigned char *b = malloc(*n ? *n : 1);
    if (b != NULL && adaopt_save_buffer(opt, b, *n, n) != ADAOPT_OK) {
        free(b);
        return NULL;
    }
    return b;
}

/* Hostile values: some an optimizer may hold, some a correct load refuses, some legal but huge. */
static const uint64_t INTS[] = {0, 1, 2, 3, 7, 255, 0x80000000ull, 0xffffffffull, 0x100000000ull,
                                (uint64_t)1 << 53, ((uint64_t)1 << 53) + 1, (uint64_t)1 << 63,
                                UINT64_MAX, UINT64_MAX - 1};
static const double FLOATS[] = {0.0, -0.0, 1.0, -1.0, 0.5, 2.0, 10.0, -10.0, 1e-30, 0.999,
                                NAN, INFINITY, -INFINITY, 1e300, -1e300,
                                1e39, 3e38, -3e38, 1e30};

/* x in float32: infinite past its range (a plain conversion would be undefined there). */
static float to_f32(double x)
{
    return fabs(x) > 3.4028234663852886e38 ? (x > 0 ? INFINITY : -INFINITY) : (float)x;
}

/* What the edits were, for the message of a failure; where they wrote (for the moderate test). */
static char edit_log[512];
static struct { int sec; size_t at, width; } written[8];
static int n_written, spliced;

/* Applies one edit from the input. */
static void apply_edit(ck_file *f, input *in)
{
    int sec = (int)(byte(in) % (unsigned)f->count);
    ck_section *s = &f->s[sec];
    size_t at = ((size_t)byte(in) << 8 | byte(in));
    unsigned kind = byte(in) % 8, v = byte(in);
    size_t used = strlen(edit_log);
    snprintf(edit_log + used, sizeof edit_log - used, " [section %d (%.4s), offset %zu of %zu, "
             "kind %u, value %u]", sec, s->tag, at % (s->n ? s->n : 1), s->n, kind, v);
    size_t width = kind == 0 ? 4 : kind == 1 || kind == 2 ? 8 : kind == 3 ? 4 : kind == 4 ? 2 : 1;
    if (kind >= 6) { /* remove or repeat 4, 8 or 12 bytes */
        size_t len = 4 * (1 + v % 3);
        if (s->n < len)
            return;
        at = at % (s->n - len + 1) / 4 * 4;
        spliced = 1; /* (the offsets of earlier edits move: judged large, see holds_large_values) */
        if (kind == 6)
            ck_splice(f, sec, at, len, NULL, 0);
        else {
            unsigned char copy[12];
            memcpy(copy, s->p + at, len);
            ck_splice(f, sec, at, 0, copy, len);
        }
        return;
    }
    if (s->n < width)
        return;
    at = at % (s->n - width + 1) / width * width;
    if (n_written < 8)
        written[n_written].sec = sec, written[n_written].at = at, written[n_written++].width = width;
    switch (kind) {
    case 0:
    case 1:
        ck_put_le(s->p + at, INTS[v % (sizeof INTS / sizeof INTS[0])], (int)width);
        return;
    case 2:
    case 3:
    case 4: { /* an f64, f32 or bf16 value */
        size_t k = v % (sizeof FLOATS / sizeof FLOATS[0]);
        if (kind == 2)
            ck_set_f64(f, sec, at, FLOATS[k]);
        else if (kind == 3)
            ck_set_f32(f, sec, at, to_f32(FLOATS[k]));
        else
            ck_put_le(s->p + at, adaopt__f32_to_bf16(to_f32(FLOATS[k])), 2);
        return;
    }
    default:
        s->p[at] = (unsigned char)byte(in);
    }
}

static const adaopt_state_kind SECOND_MOMENTS[] = {
    ADAOPT_STATE_SUM, ADAOPT_STATE_SQUARE_AVG, ADAOPT_STATE_EXP_AVG_SQ,
    ADAOPT_STATE_MAX_EXP_AVG_SQ, ADAOPT_STATE_EXP_INF, ADAOPT_STATE_ROW_VAR,
    ADAOPT_STATE_COL_VAR, ADAOPT_STATE_VARIANCE, ADAOPT_STATE_ACC_DELTA, ADAOPT_STATE_STEP_SIZE};

/* Does the loaded optimizer hold a value past the moderate bounds (see the top)?  Options and
 * state through the API; and, since a tensor that has not stepped shows no state, every float32
 * the edits may have made: each 4-byte window over each edit, at every byte offset (8-bit state
 * puts floats off 4-byte alignment).  A window of other fields may look large too: then the
 * finiteness check is skipped, never wrongly applied. */
static int holds_large_values(const adaopt_optimizer *opt, const ck_file *f)
{
    if (spliced)
        return 1;
    for (int e = 0; e < n_written; e++) {
        const ck_section *s = &f->s[written[e].sec];
        size_t lo = written[e].at > 3 ? written[e].at - 3 : 0, hi = written[e].at + written[e].width;
        for (size_t o = lo; o < hi && o + 4 <= s->n; o++) {
            float x;
            memcpy(&x, s->p + o, 4);
            if (isfinite(x) && fabsf(x) > 1e4f)
                return 1;
        }
    }
    for (size_t g = 0; g < adaopt_group_count(opt); g++) {
        double lr_max;
        if (adaopt_group_state(opt, g, ADAOPT_STATE_LR_MAX, &lr_max) == ADAOPT_OK && lr_max > 10)
            return 1;
    }
    for (size_t g = 0; g < adaopt_group_count(opt); g++)
        for (int o = ADAOPT_LR; o <= ADAOPT_OPTION_MAX; o++) {
            double v;
            if (o != ADAOPT_MIN_8BIT_NUMEL && o != ADAOPT_WARMUP_STEPS &&
                adaopt_get(opt, g, (adaopt_option)o, &v) == ADAOPT_OK && fabs(v) > 10)
                return 1;
        }
    for (size_t t = 0; t < N_TENSORS; t++)
        for (int kind = ADAOPT_STATE_MOMENTUM_BUFFER; kind <= ADAOPT_STATE_AX; kind++) {
            const float *x;
            size_t n;
            if (adaopt_state(opt, t, (adaopt_state_kind)kind, &x, &n) == ADAOPT_OK)
                for (size_t e = 0; e < n; e++)
                    if (fabsf(x[e]) > 1e4f)
                        return 1;
        }
    return 0;
}

/* What the API would refuse, found in a loaded optimizer: abort. */
static void check_accepted(const adaopt_optimizer *opt, adaopt_algorithm a)
{
    for (size_t g = 0; g < adaopt_group_count(opt); g++)
        for (int o = ADAOPT_LR; o <= ADAOPT_OPTION_MAX; o++) {
            double v;
            if (adaopt_get(opt, g, (adaopt_option)o, &v) == ADAOPT_OK &&
                adaopt_check_option(a, (adaopt_option)o, v) != ADAOPT_OK)
                abort(); /* an option adaopt_set refuses */
        }
    for (size_t t = 0; t < N_TENSORS; t++) {
        double step;
        if (adaopt_state_scalar(opt, t, ADAOPT_STATE_STEP, &step) != ADAOPT_OK ||
            !(step >= 0 && step <= 9007199254740992.0))
            abort();
        for (int kind = ADAOPT_STATE_MOMENTUM_BUFFER; kind <= ADAOPT_STATE_AX; kind++) {
            const float *x;
            size_t n;
            if (adaopt_state(opt, t, (adaopt_state_kind)kind, &x, &n) != ADAOPT_OK)
                continue;
            int square = 0;
            for (size_t j = 0; j < sizeof SECOND_MOMENTS / sizeof SECOND_MOMENTS[0]; j++)
                square |= (int)SECOND_MOMENTS[j] == kind;
            for (size_t e = 0; e < n; e++)
                if (!isfinite(x[e]) || (square && x[e] < 0.0f))
                    abort(); /* non-finite state, or a negative second moment */
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    input in = {data, size};
    config c;
    c.algorithm = (adaopt_algorithm)(1 + byte(&in) % 15);
    unsigned bits = byte(&in);
    c.storage = (int)(bits % 3);
    c.bf16 = (bits >> 2) & 1;
    c.toggles = (int)((bits >> 3) & 3);
    c.steps = (int)((bits >> 5) & 3);

    static model m, m2;
    memset(&m, 0, sizeof m);
    for (int i = 0; i < 318; i++) {
        m.p[i] = 0.01f * (float)(i % 23) - 0.1f;
        m.hp[i] = adaopt__f32_to_bf16(m.p[i]);
    }
    m2 = m;
    adaopt_optimizer *saved = make(&c), *target = make(&c);
    if (saved == NULL || target == NULL)
        goto done;
    for (int k = 0; k < c.steps; k++)
        step(saved, &m, c.bf16, k);
    step(target, &m2, c.bf16, 7); /* state for a refused load to spoil */
    size_t n, before_n;
    unsigned char *buf = checkpoint(saved, &n), *before = checkpoint(target, &before_n);
    ck_file f;
    if (buf == NULL || before == NULL || ck_parse(buf, n, &f) != 0) {
        free(buf);
        free(before);
        goto done;
    }
    edit_log[0] = '\0';
    n_written = spliced = 0;
    for (unsigned e = 0, edits = 1 + byte(&in) % 4; e < edits && in.left >= 5; e++)
        apply_edit(&f, &in);
    size_t edited_n = 0;
    unsigned char *edited = ck_build(&f, &edited_n);
    if (edited != NULL && adaopt_load_buffer(target, edited, edited_n) != ADAOPT_OK) {
        size_t after_n;
        unsigned char *after = checkpoint(target, &after_n);
        if (after != NULL && (after_n != before_n || memcmp(after, before, after_n) != 0))
            abort(); /* a refused load changed the optimizer */
        free(after);
    } else if (edited != NULL) {
        check_accepted(target, c.algorithm);
        int large = holds_large_values(target, &f);
        /* it saves, and loads into another optimizer to the same bytes */
        size_t again_n, copy_n;
        unsigned char *again = checkpoint(target, &again_n);
        adaopt_optimizer *other = make(&c);
        if (again != NULL && other != NULL) {
            if (adaopt_load_buffer(other, again, again_n) != ADAOPT_OK)
                abort();
            unsigned char *copy = checkpoint(other, &copy_n);
            if (copy != NULL && (copy_n != again_n || memcmp(copy, again, copy_n) != 0))
                abort();
            free(copy);
        }
        adaopt_destroy(other);
        free(again);
        double centered = 0;
        adaopt_get(target, 0, ADAOPT_CENTERED, &centered);
        int steps_ok = 1;
        for (int k = 0; k < 3 && steps_ok; k++)
            steps_ok = step(target, &m2, c.bf16, k) == ADAOPT_OK;
        if (steps_ok && !large && centered == 0 && !params_finite(&m2, c.bf16)) {
            fprintf(stderr, "fuzz_fields: %s (storage %d, bf16 %d, toggles %d, %d steps) "
                    "diverged after the edits%s\n", adaopt_algorithm_name(c.algorithm),
                    c.storage, c.bf16, c.toggles, c.steps, edit_log);
            abort(); /* a loaded state the checks let through diverged at once */
        }
    }
    ck_free(&f);
    free(edited);
    free(buf);
    free(before);
done:
    adaopt_destroy(saved);
    adaopt_destroy(target);
    return 0;
}
