/* helpers.h -- small shared pieces of the C tests (cmocka must be included first). */
#ifndef ADAOPT_TEST_HELPERS_H
#define ADAOPT_TEST_HELPERS_H

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adaopt.h"

/* An optimizer with one group of one tensor of `numel` elements; fails the test on error. */
static inline adaopt_optimizer *one_tensor(adaopt_algorithm algorithm, size_t numel)
{
    adaopt_optimizer *opt = NULL;
    size_t group;
    assert_int_equal(adaopt_create(algorithm, &opt), ADAOPT_OK);
    assert_int_equal(adaopt_add_group(opt, &numel, 1, &group), ADAOPT_OK);
    assert_int_equal(group, 0);
    return opt;
}

static inline void set_ok(adaopt_optimizer *opt, adaopt_option option, double value)
{
    adaopt_status st = adaopt_set(opt, 0, option, value);
    if (st != ADAOPT_OK)
        fail_msg("set %s=%g: %s", adaopt_option_name(option), value, adaopt_last_error(opt));
}

static inline void step_ok(adaopt_optimizer *opt, float *p, const float *g)
{
    float *params[1] = {p};
    const float *grads[1] = {g};
    adaopt_status st = adaopt_step(opt, params, grads, 1);
    if (st != ADAOPT_OK)
        fail_msg("step: %s", adaopt_last_error(opt));
}

/* |got - want| <= rel * |want| (+ a tiny absolute floor for want == 0). */
#define assert_close(got, want, rel)                                                          \
    do {                                                                                      \
        double got_ = (got), want_ = (want);                                                  \
        if (!(fabs(got_ - want_) <= (rel) * fabs(want_) + 1e-30))                             \
            fail_msg("%s = %.9g, expected %.9g (relative tolerance %g)", #got, got_, want_,   \
                     (double)(rel));                                                          \
    } while (0)

/* A golden checkpoint `path`, loaded into `loaded`: the load lost nothing (saved again it is the
 * file, byte for byte: the writer still writes that version for that state), and it holds what
 * today's run of the same recipe (`ref`) holds -- the same hyperparameters and step counts, the
 * state arrays within `tol` in the README's norm |a - r| / max(|r|, RMS of the array): the file
 * was made by an older release, whose kernels may round differently (1e-5, the README's bound,
 * for float32; a bf16 or 8-bit code that a last-bit difference moved is one code step). */
static inline void golden_matches(const adaopt_optimizer *loaded, const adaopt_optimizer *ref,
                                  const char *path, double tol)
{
    size_t n = adaopt_checkpoint_size(loaded);
    unsigned char *saved = malloc(n + 1), *file = malloc(n + 1);
    assert_non_null(saved);
    assert_non_null(file);
    assert_int_equal(adaopt_save_buffer(loaded, saved, n, &n), ADAOPT_OK);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t got = fread(file, 1, n + 1, f);
    fclose(f);
    if (got != n || memcmp(file, saved, n) != 0)
        fail_msg("%s: saved again it is not the file: the format is written differently "
                 "today (bump the format version)", path);
    free(saved);
    free(file);
    assert_int_equal(adaopt_group_count(loaded), adaopt_group_count(ref));
    for (size_t g = 0; g < adaopt_group_count(ref); g++)
        for (int o = ADAOPT_LR; o <= ADAOPT_OPTION_MAX; o++) {
            double a, r;
            adaopt_status sa = adaopt_get(loaded, g, (adaopt_option)o, &a);
            assert_int_equal(sa, adaopt_get(ref, g, (adaopt_option)o, &r));
            if (sa == ADAOPT_OK && a != r)
                fail_msg("%s: group %zu's %s is %g, %g in today's run", path, g,
                         adaopt_option_name((adaopt_option)o), a, r);
        }
    assert_int_equal(adaopt_tensor_count(loaded), adaopt_tensor_count(ref));
    for (size_t t = 0; t < adaopt_tensor_count(ref); t++)
        for (int k = ADAOPT_STATE_STEP; k <= ADAOPT_STATE_VARIANCE; k++) {
            double sa_, sr_;
            adaopt_status sa = adaopt_state_scalar(loaded, t, (adaopt_state_kind)k, &sa_);
            assert_int_equal(sa, adaopt_state_scalar(ref, t, (adaopt_state_kind)k, &sr_));
            if (sa == ADAOPT_OK && !(k == ADAOPT_STATE_STEP ? sa_ == sr_
                                                             : fabs(sa_ - sr_) <= 1e-6 * fabs(sr_)))
                fail_msg("%s: tensor %zu's %s is %.9g, %.9g in today's run", path, t,
                         adaopt_state_name((adaopt_state_kind)k), sa_, sr_);
            const float *a, *r;
            size_t na, nr;
            sa = adaopt_state(loaded, t, (adaopt_state_kind)k, &a, &na);
            assert_int_equal(sa, adaopt_state(ref, t, (adaopt_state_kind)k, &r, &nr));
            if (sa != ADAOPT_OK)
                continue;
            assert_int_equal(na, nr);
            double sq = 0.0;
            for (size_t i = 0; i < nr; i++)
                sq += (double)r[i] * r[i];
            double rms = nr ? sqrt(sq / (double)nr) : 0.0;
            for (size_t i = 0; i < nr; i++)
                if (!(fabs((double)a[i] - r[i]) <= tol * fmax(fabs((double)r[i]), rms)))
                    fail_msg("%s: tensor %zu's %s[%zu] is %.9g, %.9g in today's run", path, t,
                             adaopt_state_name((adaopt_state_kind)k), i, a[i], r[i]);
        }
}

#endif
