/*
 * test_hostile.c -- deliberate input (docs/SECURITY.md): checkpoints crafted with valid
 * checksums, special files where a checkpoint is saved or loaded, sizes near SIZE_MAX through
 * every entry point that takes one, and values the float32 step cannot hold.  Each case was
 * accepted, or crashed, before the checks it tests; each refusal must leave the optimizer as it
 * was (its checkpoint bytes unchanged).
 */
#define _DEFAULT_SOURCE /* mkdtemp, mkfifo, symlink, mknod, makedev */
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cmocka.h>

#include "adaopt.h"
#include "ckpt_edit.h"
#include "helpers.h"

typedef struct bytes {
    unsigned char *p;
    size_t n;
} bytes;

static bytes checkpoint_of(const adaopt_optimizer *opt)
{
    bytes b = {NULL, adaopt_checkpoint_size(opt)};
    b.p = malloc(b.n);
    assert_non_null(b.p);
    assert_int_equal(adaopt_save_buffer(opt, b.p, b.n, &b.n), ADAOPT_OK);
    return b;
}

/* The layout every case uses: groups {300, 5} and {40}; `configure` sets options first. */
typedef void (*configure_fn)(adaopt_optimizer *opt);

static adaopt_optimizer *fresh(adaopt_algorithm a, configure_fn configure)
{
    adaopt_optimizer *opt;
    size_t g0[2] = {300, 5}, g1[1] = {40}, group;
    assert_int_equal(adaopt_create(a, &opt), ADAOPT_OK);
    assert_int_equal(adaopt_add_group(opt, g0, 2, &group), ADAOPT_OK);
    assert_int_equal(adaopt_add_group(opt, g1, 1, &group), ADAOPT_OK);
    if (configure != NULL)
        configure(opt);
    return opt;
}

static adaopt_optimizer *trained(adaopt_algorithm a, configure_fn configure)
{
    adaopt_optimizer *opt = fresh(a, configure);
    static float p[345], g[345];
    for (int i = 0; i < 345; i++)
        p[i] = 0.01f * (float)(i % 17) - 0.05f;
    float *params[3] = {p, p + 300, p + 305};
    const float *grads[3] = {g, g + 300, g + 305};
    for (int s = 0; s < 3; s++) {
        for (int i = 0; i < 345; i++)
            g[i] = 0.1f * (float)((i * 7 + s) % 11) - 0.5f;
        assert_int_equal(adaopt_step(opt, params, grads, 3), ADAOPT_OK);
    }
    return opt;
}

/* An edit of a parsed checkpoint. */
typedef void (*edit_fn)(ck_file *f);

/* Loads the edited checkpoint of a trained optimizer into another: the status must be `want`;
 * a refused load must change nothing. */
static void crafted(adaopt_algorithm a, configure_fn configure, edit_fn edit, adaopt_status want,
                    const char *what)
{
    adaopt_optimizer *saved = trained(a, configure), *target = fresh(a, configure);
    bytes b = checkpoint_of(saved), before = checkpoint_of(target);
    ck_file f;
    assert_int_equal(ck_parse(b.p, b.n, &f), 0);
    if (edit != NULL)
        edit(&f);
    size_t n = 0;
    unsigned char *c = ck_build(&f, &n);
    assert_non_null(c);
    adaopt_status st = adaopt_load_buffer(target, c, n);
    if (st != want)
        fail_msg("%s: status %d (%s), want %d", what, st,
                 st ? adaopt_last_error(target) : "loaded", want);
    if (st != ADAOPT_OK) {
        bytes after = checkpoint_of(target);
        assert_true(after.n == before.n && memcmp(after.p, before.p, after.n) == 0);
        free(after.p);
    }
    free(c);
    ck_free(&f);
    free(b.p);
    free(before.p);
    adaopt_destroy(saved);
    adaopt_destroy(target);
}

/* Sections: 0 META, 1 GRPS, 2.. TENS (one per tensor), then END. */
enum { META = 0, GRPS = 1, TENS0 = 2 };

static int version_of(const ck_file *f)
{
    return (int)ck_le(f->header + 8, 4);
}

static void step_max(ck_file *f) { ck_put_le(f->s[TENS0].p + CK_TENS_STEP, UINT64_MAX, 8); }
static void step_2_63(ck_file *f) { ck_put_le(f->s[TENS0].p + CK_TENS_STEP, (uint64_t)1 << 63, 8); }
static void step_past_2_53(ck_file *f)
{
    ck_put_le(f->s[TENS0 + 1].p + CK_TENS_STEP, ((uint64_t)1 << 53) + 1, 8);
}
static void step_2_53(ck_file *f) { ck_put_le(f->s[TENS0].p + CK_TENS_STEP, (uint64_t)1 << 53, 8); }
static void steps_taken_max(ck_file *f) { ck_put_le(f->s[META].p + CK_META_STEPS, UINT64_MAX, 8); }

/* The first group's option list: where its count is, and where its entries start. */
static size_t n_options_at(const ck_file *f) { return ck_grps_options_at(version_of(f)); }

static void options_none(ck_file *f)
{
    size_t at = n_options_at(f);
    uint32_t n = (uint32_t)ck_le(f->s[GRPS].p + at, 4);
    ck_put_le(f->s[GRPS].p + at, 0, 4);
    assert_int_equal(ck_splice(f, GRPS, at + 4, 12 * (size_t)n, NULL, 0), 0);
}

static void options_shortened(ck_file *f)
{
    size_t at = n_options_at(f);
    uint32_t n = (uint32_t)ck_le(f->s[GRPS].p + at, 4);
    ck_put_le(f->s[GRPS].p + at, n - 1, 4);
    assert_int_equal(ck_splice(f, GRPS, at + 4 + 12 * (size_t)(n - 1), 12, NULL, 0), 0);
}

static void options_duplicated(ck_file *f) /* the second entry names the first's option */
{
    size_t at = n_options_at(f) + 4;
    memcpy(f->s[GRPS].p + at + 12, f->s[GRPS].p + at, 4);
}

static void options_reordered(ck_file *f) /* the first two entries swapped */
{
    size_t at = n_options_at(f) + 4;
    unsigned char tmp[12];
    memcpy(tmp, f->s[GRPS].p + at, 12);
    memcpy(f->s[GRPS].p + at, f->s[GRPS].p + at + 12, 12);
    memcpy(f->s[GRPS].p + at + 12, tmp, 12);
}

/* The first group's lr (option 1, the first entry). */
static void lr_huge(ck_file *f) { ck_set_f64(f, GRPS, n_options_at(f) + 8, 1e300); }
static void lr_past_float(ck_file *f) { ck_set_f64(f, GRPS, n_options_at(f) + 8, 1e39); }
static void lr_nan(ck_file *f) { ck_set_f64(f, GRPS, n_options_at(f) + 8, NAN); }
static void lr_float_max(ck_file *f) { ck_set_f64(f, GRPS, n_options_at(f) + 8, 3e38); }

static void ready_outside_mask(ck_file *f) /* Adam without amsgrad: slots 0, 1; ready 0..2 */
{
    ck_put_le(f->s[TENS0].p + CK_TENS_READY, 7, 4);
}

static size_t slots_at(const ck_file *f)
{
    return version_of(f) >= 2 ? CK_TENS_V2_SLOTS : CK_TENS_V1_SLOTS;
}

/* Float32 state of tensor 0 (300 elements): exp_avg, then exp_avg_sq. */
static void exp_avg_nan(ck_file *f) { ck_set_f32(f, TENS0, slots_at(f) + 4 * 17, NAN); }
static void exp_avg_sq_inf(ck_file *f) { ck_set_f32(f, TENS0, slots_at(f) + 4 * (300 + 5), INFINITY); }
static void exp_avg_sq_negative(ck_file *f)
{
    ck_set_f32(f, TENS0, slots_at(f) + 4 * (300 + 299), -1e-3f);
}
static void exp_avg_sq_minus_zero(ck_file *f) { ck_set_f32(f, TENS0, slots_at(f) + 4 * 300, -0.0f); }

static void bf16_state(adaopt_optimizer *opt)
{
    for (size_t g = 0; g < 2; g++)
        assert_int_equal(adaopt_set(opt, g, ADAOPT_STATE_STORAGE, ADAOPT_STORAGE_BF16), ADAOPT_OK);
}
static void bf16_nan(ck_file *f) { ck_put_le(f->s[TENS0].p + slots_at(f) + 2 * 3, 0x7fc0, 2); }
static void bf16_negative(ck_file *f) /* exp_avg_sq[3] = -1 */
{
    ck_put_le(f->s[TENS0].p + slots_at(f) + 2 * (300 + 3), 0xbf80, 2);
}

static void eight_bit_state(adaopt_optimizer *opt)
{
    for (size_t g = 0; g < 2; g++) {
        assert_int_equal(adaopt_set(opt, g, ADAOPT_MIN_8BIT_NUMEL, 0), ADAOPT_OK);
        assert_int_equal(adaopt_set(opt, g, ADAOPT_STATE_STORAGE, ADAOPT_STORAGE_8BIT), ADAOPT_OK);
    }
}
static void absmax_inf(ck_file *f) { ck_set_f32(f, TENS0, slots_at(f) + 4, INFINITY); }

static void weight_sum_nan(ck_file *f) /* Schedule-Free: after the options, k, weight_sum */
{
    size_t at = n_options_at(f);
    uint32_t n = (uint32_t)ck_le(f->s[GRPS].p + at, 4);
    ck_set_f64(f, GRPS, at + 4 + 12 * (size_t)n + 8, NAN);
}
static void lr_max_huge(ck_file *f) /* past float32: no lr ever was */
{
    size_t at = n_options_at(f);
    uint32_t n = (uint32_t)ck_le(f->s[GRPS].p + at, 4);
    ck_set_f64(f, GRPS, at + 4 + 12 * (size_t)n + 16, 1e300);
}
static void k_max(ck_file *f)
{
    size_t at = n_options_at(f);
    uint32_t n = (uint32_t)ck_le(f->s[GRPS].p + at, 4);
    ck_put_le(f->s[GRPS].p + at + 4 + 12 * (size_t)n, UINT64_MAX, 8);
}

static void amsgrad(adaopt_optimizer *opt)
{
    for (size_t g = 0; g < 2; g++)
        assert_int_equal(adaopt_set(opt, g, ADAOPT_AMSGRAD, 1), ADAOPT_OK);
}

/* torch 1.13's rounding in both groups: a version 3 file, whose last option is `torch`. */
static void torch1(adaopt_optimizer *opt)
{
    for (size_t g = 0; g < 2; g++)
        assert_int_equal(adaopt_set(opt, g, ADAOPT_TORCH, ADAOPT_TORCH_1), ADAOPT_OK);
}

static void torch_value(ck_file *f, double v) /* the first group's last option entry */
{
    size_t at = n_options_at(f);
    uint64_t n = ck_le(f->s[GRPS].p + at, 4);
    assert_int_equal(ck_le(f->s[GRPS].p + at + 4 + 12 * (n - 1), 4), ADAOPT_TORCH);
    ck_set_f64(f, GRPS, at + 4 + 12 * (n - 1) + 4, v);
}
static void torch_3(ck_file *f) { torch_value(f, 3.0); }
static void torch_half(ck_file *f) { torch_value(f, 1.5); }
static void torch_2(ck_file *f) { torch_value(f, 2.0); }
static void called_version_2(ck_file *f) { ck_put_le(f->header + 8, 2, 4); }
static void lamb_k(ck_file *f, uint64_t k) /* LAMB's group record after the options: u64 k */
{
    size_t at = n_options_at(f);
    at += 4 + 12 * (size_t)ck_le(f->s[GRPS].p + at, 4);
    ck_put_le(f->s[GRPS].p + at, k, 8);
}
static void lamb_k_max(ck_file *f) { lamb_k(f, UINT64_MAX); }
static void lamb_k_2_53(ck_file *f) { lamb_k(f, (uint64_t)1 << 53); }

static void crafted_checkpoints(void **unused)
{
    (void)unused;
    const adaopt_algorithm adam = ADAOPT_ALGO_ADAM;
    crafted(adam, NULL, NULL, ADAOPT_OK, "unedited (the editor's own check)");
    crafted(adam, NULL, step_max, ADAOPT_ERR_FORMAT, "step 2^64-1");
    crafted(adam, NULL, step_2_63, ADAOPT_ERR_FORMAT, "step 2^63");
    crafted(adam, NULL, step_past_2_53, ADAOPT_ERR_FORMAT, "step 2^53+1");
    crafted(adam, NULL, step_2_53, ADAOPT_OK, "step 2^53 (adaopt_set_step's limit)");
    crafted(adam, NULL, steps_taken_max, ADAOPT_ERR_FORMAT, "steps taken 2^64-1");
    crafted(adam, NULL, options_none, ADAOPT_ERR_FORMAT, "no options");
    crafted(adam, NULL, options_shortened, ADAOPT_ERR_FORMAT, "one option fewer");
    crafted(adam, NULL, options_duplicated, ADAOPT_ERR_FORMAT, "an option twice");
    crafted(adam, NULL, options_reordered, ADAOPT_ERR_FORMAT, "options out of order");
    crafted(adam, NULL, lr_huge, ADAOPT_ERR_FORMAT, "lr 1e300");
    crafted(adam, NULL, lr_past_float, ADAOPT_ERR_FORMAT, "lr 1e39");
    crafted(adam, NULL, lr_nan, ADAOPT_ERR_FORMAT, "lr NaN");
    crafted(adam, NULL, lr_float_max, ADAOPT_OK, "lr 3e38 (finite in float32)");
    crafted(adam, NULL, ready_outside_mask, ADAOPT_ERR_FORMAT, "a ready bit outside the mask");
    crafted(adam, amsgrad, ready_outside_mask, ADAOPT_OK, "amsgrad: all three slots ready");
    crafted(adam, NULL, exp_avg_nan, ADAOPT_ERR_NONFINITE, "NaN in exp_avg");
    crafted(adam, NULL, exp_avg_sq_inf, ADAOPT_ERR_NONFINITE, "infinity in exp_avg_sq");
    crafted(adam, NULL, exp_avg_sq_negative, ADAOPT_ERR_FORMAT, "negative exp_avg_sq");
    crafted(adam, NULL, exp_avg_sq_minus_zero, ADAOPT_OK, "-0 in exp_avg_sq");
    crafted(ADAOPT_ALGO_ADAGRAD, NULL, exp_avg_nan, ADAOPT_ERR_NONFINITE, "NaN in AdaGrad's sum");
    crafted(adam, bf16_state, NULL, ADAOPT_OK, "bf16 state, unedited");
    crafted(adam, bf16_state, bf16_nan, ADAOPT_ERR_NONFINITE, "NaN in bf16 exp_avg");
    crafted(adam, bf16_state, bf16_negative, ADAOPT_ERR_FORMAT, "negative bf16 exp_avg_sq");
    crafted(adam, eight_bit_state, NULL, ADAOPT_OK, "8-bit state, unedited");
    crafted(adam, eight_bit_state, absmax_inf, ADAOPT_ERR_NONFINITE, "infinite 8-bit absmax");
    crafted(adam, torch1, NULL, ADAOPT_OK, "torch=1 (version 3), unedited");
    crafted(adam, torch1, torch_2, ADAOPT_OK, "torch=1 edited to 2");
    crafted(adam, torch1, torch_3, ADAOPT_ERR_FORMAT, "torch=3");
    crafted(adam, torch1, torch_half, ADAOPT_ERR_FORMAT, "torch=1.5");
    crafted(adam, torch1, called_version_2, ADAOPT_ERR_FORMAT, "a version 3 body called 2");
    crafted(ADAOPT_ALGO_LAMB, NULL, NULL, ADAOPT_OK, "LAMB, unedited");
    crafted(ADAOPT_ALGO_LAMB, NULL, lamb_k_max, ADAOPT_ERR_FORMAT, "LAMB group k 2^64-1");
    crafted(ADAOPT_ALGO_LAMB, NULL, lamb_k_2_53, ADAOPT_OK, "LAMB group k 2^53 (the limit)");
    crafted(ADAOPT_ALGO_ADAMW_SCHEDULE_FREE, NULL, NULL, ADAOPT_OK, "Schedule-Free, unedited");
    crafted(ADAOPT_ALGO_ADAMW_SCHEDULE_FREE, NULL, weight_sum_nan, ADAOPT_ERR_NONFINITE,
            "Schedule-Free weight_sum NaN");
    crafted(ADAOPT_ALGO_ADAMW_SCHEDULE_FREE, NULL, lr_max_huge, ADAOPT_ERR_FORMAT,
            "Schedule-Free lr_max 1e300");
    crafted(ADAOPT_ALGO_ADAMW_SCHEDULE_FREE, NULL, k_max, ADAOPT_ERR_FORMAT,
            "Schedule-Free k 2^64-1");
}

/* A LAMB checkpoint of format version 1 or 2 (before its groups recorded their step count):
 * each group's count is taken as its most-stepped tensor's.  Made from a version 3 file by
 * removing each group's u64 k and calling it version 2. */
static void lamb_before_version_3(void **unused)
{
    (void)unused;
    adaopt_optimizer *saved = trained(ADAOPT_ALGO_LAMB, NULL), *target = fresh(ADAOPT_ALGO_LAMB, NULL);
    bytes b = checkpoint_of(saved);
    ck_file f;
    assert_int_equal(ck_parse(b.p, b.n, &f), 0);
    assert_int_equal(version_of(&f), 3);
    size_t at = 0;
    for (int g = 0; g < 2; g++) { /* each group: first, count, dtypes, options, then k */
        at += ck_grps_options_at(3);
        at += 4 + 12 * (size_t)ck_le(f.s[GRPS].p + at, 4);
        assert_int_equal(ck_splice(&f, GRPS, at, 8, NULL, 0), 0);
    }
    ck_put_le(f.header + 8, 2, 4);
    size_t n = 0;
    unsigned char *c = ck_build(&f, &n);
    assert_non_null(c);
    double k;
    assert_int_equal(adaopt_group_state(target, 1, ADAOPT_STATE_K, &k), ADAOPT_OK);
    assert_true(k == 0.0);
    if (adaopt_load_buffer(target, c, n) != ADAOPT_OK)
        fail_msg("load: %s", adaopt_last_error(target));
    for (size_t g = 0; g < 2; g++) {
        assert_int_equal(adaopt_group_state(target, g, ADAOPT_STATE_K, &k), ADAOPT_OK);
        assert_true(k == 3.0); /* trained: 3 steps */
    }
    free(c);
    ck_free(&f);
    free(b.p);
    adaopt_destroy(saved);
    adaopt_destroy(target);
}

/* The master weights of a bf16 model: NaN is refused. */
static void master_weights_nan(void **unused)
{
    (void)unused;
    size_t numel = 64, group;
    adaopt_optimizer *a, *b;
    for (int k = 0; k < 2; k++) {
        adaopt_optimizer **o = k ? &b : &a;
        assert_int_equal(adaopt_create(ADAOPT_ALGO_ADAMW, o), ADAOPT_OK);
        assert_int_equal(adaopt_add_group_typed(*o, &numel, 1, ADAOPT_DTYPE_BF16,
                                                ADAOPT_DTYPE_BF16, &group), ADAOPT_OK);
    }
    uint16_t p[64], g[64];
    for (int i = 0; i < 64; i++)
        p[i] = 0x3f80, g[i] = (uint16_t)(0x3c00 + i); /* 1.0, small gradients */
    void *params[1] = {p};
    const void *grads[1] = {g};
    assert_int_equal(adaopt_step_typed(a, params, grads, 1), ADAOPT_OK);
    bytes c = checkpoint_of(a);
    ck_file f;
    assert_int_equal(ck_parse(c.p, c.n, &f), 0);
    /* TENS (v2): the two slots of 64 floats, then the 64 master weights */
    ck_set_f32(&f, TENS0, CK_TENS_V2_SLOTS + 4 * (2 * 64 + 9), NAN);
    size_t n = 0;
    unsigned char *edited = ck_build(&f, &n);
    bytes before = checkpoint_of(b);
    assert_int_equal(adaopt_load_buffer(b, edited, n), ADAOPT_ERR_NONFINITE);
    assert_non_null(strstr(adaopt_last_error(b), "master weights"));
    bytes after = checkpoint_of(b);
    assert_true(after.n == before.n && memcmp(after.p, before.p, after.n) == 0);
    free(edited);
    free(before.p);
    free(after.p);
    free(c.p);
    ck_free(&f);
    adaopt_destroy(a);
    adaopt_destroy(b);
}

/* ------------------------------------------------------------------------------------------ */
/* Special files                                                                               */

static char tmpdir[64];

static const char *in_tmp(const char *name)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    return path;
}

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/adaopt-hostile-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
}

static void remove_tmpdir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir); /* our own mkdtemp name: no quote in it */
    assert_int_equal(system(cmd), 0);
}

static mode_t kind_of(const char *path)
{
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    return st.st_mode & S_IFMT;
}

static void saves_replace_only_regular_files(void **unused)
{
    (void)unused;
    make_tmpdir();
    adaopt_optimizer *opt = trained(ADAOPT_ALGO_ADAM, NULL);
    char path[256];

    /* a FIFO: refused, and still a FIFO */
    snprintf(path, sizeof path, "%s", in_tmp("fifo"));
    assert_int_equal(mkfifo(path, 0600), 0);
    assert_int_equal(adaopt_save_file(opt, path), ADAOPT_ERR_IO);
    assert_non_null(strstr(adaopt_last_error(opt), "not a regular file"));
    assert_int_equal(kind_of(path), S_IFIFO);

    /* a folder */
    snprintf(path, sizeof path, "%s", in_tmp("folder"));
    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(adaopt_save_file(opt, path), ADAOPT_ERR_IO);
    assert_int_equal(kind_of(path), S_IFDIR);

    /* a device node (root can make one: a copy of /dev/null's) */
    if (geteuid() == 0) {
        snprintf(path, sizeof path, "%s", in_tmp("device"));
        assert_int_equal(mknod(path, S_IFCHR | 0666, makedev(1, 3)), 0);
        assert_int_equal(adaopt_save_file(opt, path), ADAOPT_ERR_IO);
        assert_int_equal(kind_of(path), S_IFCHR);
        /* and a symlink to it: the link stays, the device too */
        char link[256];
        snprintf(link, sizeof link, "%s", in_tmp("to-device"));
        assert_int_equal(symlink(path, link), 0);
        assert_int_equal(adaopt_save_file(opt, link), ADAOPT_ERR_IO);
        assert_int_equal(kind_of(link), S_IFLNK);
        assert_int_equal(kind_of(path), S_IFCHR);
    }

    /* a symlink to a regular file in another folder: the target is replaced, the link stays */
    char target[256], link[256];
    snprintf(target, sizeof target, "%s", in_tmp("folder/real.ckpt"));
    snprintf(link, sizeof link, "%s", in_tmp("latest.ckpt"));
    FILE *old = fopen(target, "w");
    assert_non_null(old);
    fputs("old", old);
    fclose(old);
    assert_int_equal(symlink("folder/real.ckpt", link), 0);
    assert_int_equal(adaopt_save_file(opt, link), ADAOPT_OK);
    assert_int_equal(kind_of(link), S_IFLNK);
    assert_int_equal(kind_of(target), S_IFREG);
    adaopt_optimizer *back = fresh(ADAOPT_ALGO_ADAM, NULL);
    assert_int_equal(adaopt_load_file(back, target), ADAOPT_OK);
    bytes a = checkpoint_of(opt), b = checkpoint_of(back);
    assert_true(a.n == b.n && memcmp(a.p, b.p, a.n) == 0);
    free(a.p);
    free(b.p);
    adaopt_destroy(back);

    /* a symlink to nothing */
    snprintf(link, sizeof link, "%s", in_tmp("dangling"));
    assert_int_equal(symlink("nowhere/none.ckpt", link), 0);
    assert_int_equal(adaopt_save_file(opt, link), ADAOPT_ERR_IO);
    assert_non_null(strstr(adaopt_last_error(opt), "link to nothing"));
    assert_int_equal(kind_of(link), S_IFLNK);

    adaopt_destroy(opt);
    remove_tmpdir();
}

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "test_hostile: a load blocked (FIFO without a writer)\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    _exit(1);
}

static void loads_read_only_bounded_regular_files(void **unused)
{
    (void)unused;
    make_tmpdir();
    adaopt_optimizer *opt = trained(ADAOPT_ALGO_ADAM, NULL);
    bytes before = checkpoint_of(opt);

    /* a FIFO with no writer: refused at once (an alarm fails the test if it blocks) */
    char path[256];
    snprintf(path, sizeof path, "%s", in_tmp("fifo"));
    assert_int_equal(mkfifo(path, 0600), 0);
    signal(SIGALRM, on_alarm);
    alarm(20);
    assert_int_equal(adaopt_load_file(opt, path), ADAOPT_ERR_IO);
    alarm(0);
    assert_non_null(strstr(adaopt_last_error(opt), "not a regular file"));

    /* devices: /dev/zero would be read until memory runs out, /dev/urandom likewise */
    assert_int_equal(adaopt_load_file(opt, "/dev/zero"), ADAOPT_ERR_IO);
    assert_int_equal(adaopt_load_file(opt, "/dev/urandom"), ADAOPT_ERR_IO);
    assert_int_equal(adaopt_load_file(opt, tmpdir), ADAOPT_ERR_IO); /* a folder */

    /* a 100 GB sparse file: larger than any checkpoint of this optimizer, refused unread */
    snprintf(path, sizeof path, "%s", in_tmp("sparse"));
    int fd = open(path, O_WRONLY | O_CREAT, 0600);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)100 << 30), 0);
    close(fd);
    assert_int_equal(adaopt_load_file(opt, path), ADAOPT_ERR_FORMAT);
    assert_non_null(strstr(adaopt_last_error(opt), "larger than any checkpoint"));

    bytes after = checkpoint_of(opt);
    assert_true(after.n == before.n && memcmp(after.p, before.p, after.n) == 0);
    free(before.p);
    free(after.p);
    adaopt_destroy(opt);
    remove_tmpdir();
}

/* ------------------------------------------------------------------------------------------ */
/* Sizes near SIZE_MAX and values past float32                                                 */

/* Still usable after a refusal: a group of 3 adds and steps. */
static void still_works(adaopt_optimizer *opt)
{
    size_t numel = 3, group;
    assert_int_equal(adaopt_add_group(opt, &numel, 1, &group), ADAOPT_OK);
    float p[3] = {1, 2, 3}, g[3] = {0.5f, -0.5f, 1};
    float *params[1] = {p};
    const float *grads[1] = {g};
    assert_int_equal(adaopt_step(opt, params, grads, 1), ADAOPT_OK);
    assert_true(p[0] < 1 && p[1] > 2 && p[2] < 3);
}

static void sizes_near_size_max(void **unused)
{
    (void)unused;
    adaopt_optimizer *opt;
    size_t group;
    assert_int_equal(adaopt_create(ADAOPT_ALGO_ADAM, &opt), ADAOPT_OK);
    const size_t huge[] = {SIZE_MAX, SIZE_MAX - 1, SIZE_MAX / 2, SIZE_MAX / 4, SIZE_MAX / 16 + 1};
    for (size_t k = 0; k < sizeof huge / sizeof huge[0]; k++) {
        assert_int_equal(adaopt_add_group(opt, &huge[k], 1, &group), ADAOPT_ERR_SIZE);
        assert_int_equal(adaopt_tensor_count(opt), 0);
    }
    /* many tensors whose chunk count times the chunk's size wraps (a heap overflow before),
     * and so many that the chunk count itself wraps */
    const size_t counts[] = {(size_t)1 << 17, (size_t)1 << 21};
    for (int k = 0; k < 2; k++) {
        size_t *numels = malloc(counts[k] * sizeof *numels);
        assert_non_null(numels);
        for (size_t i = 0; i < counts[k]; i++)
            numels[i] = (size_t)1 << 59;
        adaopt_status st = adaopt_add_group(opt, numels, counts[k], &group);
        assert_true(st == ADAOPT_ERR_SIZE || st == ADAOPT_ERR_ALLOC);
        assert_int_equal(adaopt_tensor_count(opt), 0);
        assert_int_equal(adaopt_group_count(opt), 0);
        free(numels);
    }
    still_works(opt);

    assert_int_equal(adaopt_set_threads(opt, SIZE_MAX), ADAOPT_ERR_VALUE);
    assert_int_equal(adaopt_reserve_sparse(opt, SIZE_MAX, 1, 1), ADAOPT_ERR_ALLOC);
    assert_int_equal(adaopt_reserve_sparse(opt, 1, SIZE_MAX, 1), ADAOPT_ERR_ALLOC);
    assert_int_equal(adaopt_reserve_sparse(opt, 1, 1, SIZE_MAX), ADAOPT_ERR_ALLOC);
    assert_int_equal(adaopt_reserve_sparse(opt, 1, SIZE_MAX / 16 / 4096, 1), ADAOPT_ERR_ALLOC);
    float out[3];
    assert_int_equal(adaopt_effective_lr(opt, 0, out, SIZE_MAX), ADAOPT_ERR_SIZE);
    assert_int_equal(adaopt_effective_lr(opt, SIZE_MAX, out, 3), ADAOPT_ERR_INDEX);
    /* counts that do not match the optimizer's, up to SIZE_MAX: refused before anything is read */
    float p[3] = {1, 2, 3}, g[3] = {0, 0, 0};
    float *params[1] = {p};
    const float *grads[1] = {g};
    assert_int_equal(adaopt_step(opt, params, grads, SIZE_MAX), ADAOPT_ERR_SIZE);
    assert_int_equal(adaopt_set_state(opt, 0, ADAOPT_STATE_EXP_AVG, g, SIZE_MAX), ADAOPT_ERR_SIZE);
    double norm;
    const void *vgrads[1] = {g};
    assert_int_equal(adaopt_grad_norm(opt, vgrads, SIZE_MAX, 2.0, &norm), ADAOPT_ERR_SIZE);
    int64_t rows[1] = {0};
    adaopt_sparse_grad huge_sparse[1] = {{rows, SIZE_MAX, g, 1}}, huge_rows[1] = {{rows, 1, g, SIZE_MAX}};
    assert_int_equal(adaopt_reserve_sparse(opt, 4, 3, 3), ADAOPT_OK);
    const float *no_dense[1] = {NULL};
    assert_true(adaopt_step_sparse(opt, params, no_dense, huge_sparse, 1) != ADAOPT_OK);
    assert_true(adaopt_step_sparse(opt, params, no_dense, huge_rows, 1) != ADAOPT_OK);
    assert_true(p[0] == 1 && p[1] == 2 && p[2] == 3);
    adaopt_destroy(opt);

    /* Adafactor's shapes: products that wrap */
    assert_int_equal(adaopt_create(ADAOPT_ALGO_ADAFACTOR, &opt), ADAOPT_OK);
    size_t numel = 64;
    assert_int_equal(adaopt_add_group(opt, &numel, 1, &group), ADAOPT_OK);
    const size_t wraps[][3] = {{SIZE_MAX, 2, 0}, {(size_t)1 << 32, (size_t)1 << 32, 64},
                               {(size_t)1 << 63, 2, 64}, {0, SIZE_MAX, 1}};
    for (int k = 0; k < 4; k++)
        assert_true(adaopt_set_shape(opt, 0, wraps[k], wraps[k][2] ? 3 : 2) != ADAOPT_OK);
    const size_t ok[2] = {8, 8};
    assert_int_equal(adaopt_set_shape(opt, 0, ok, 2), ADAOPT_OK);
    adaopt_destroy(opt);
}

static void values_past_float32(void **unused)
{
    (void)unused;
    adaopt_optimizer *opt = one_tensor(ADAOPT_ALGO_ADAMW, 4);
    const adaopt_option options[] = {ADAOPT_LR, ADAOPT_WEIGHT_DECAY, ADAOPT_EPS};
    const double bad[] = {1e300, -1e300, 1e39, 3.5e38, NAN, INFINITY};
    for (size_t o = 0; o < 3; o++) {
        for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
            assert_int_equal(adaopt_set(opt, 0, options[o], bad[k]), ADAOPT_ERR_VALUE);
            assert_int_equal(adaopt_check_option(ADAOPT_ALGO_ADAMW, options[o], bad[k]),
                             ADAOPT_ERR_VALUE);
        }
        assert_int_equal(adaopt_set(opt, 0, options[o], (double)FLT_MAX), ADAOPT_OK);
    }
    assert_non_null(strstr(adaopt_set(opt, 0, ADAOPT_LR, 1e300) ? adaopt_last_error(opt) : "",
                           "float32"));
    adaopt_destroy(opt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(crafted_checkpoints),
        cmocka_unit_test(lamb_before_version_3),
        cmocka_unit_test(master_weights_nan),
        cmocka_unit_test(saves_replace_only_regular_files),
        cmocka_unit_test(loads_read_only_bounded_regular_files),
        cmocka_unit_test(sizes_near_size_max),
        cmocka_unit_test(values_past_float32),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
