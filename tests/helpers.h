/* helpers.h -- small shared pieces of the C tests (cmocka must be included first). */
#ifndef ADAOPT_TEST_HELPERS_H
#define ADAOPT_TEST_HELPERS_H

#include <math.h>
#include <stddef.h>

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

#endif
