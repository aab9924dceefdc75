/*
 * state.c -- inspecting and importing the state: state arrays (decoded when stored in bf16 or
 * 8 bits), scalar state, the per-coordinate effective learning rate, and the bytes held.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "algorithms/algorithm.h"

int adaopt_state_never_negative(adaopt_state_kind kind)
{
    return adaopt__never_negative(kind);
}

/* Does tensor t keep `kind` in slot s?  (Some keep one of two kinds there: the row's
 * tensor_slot_kind.) */
static adaopt_status slot_kind_check(adaopt_optimizer *opt, const adaopt_tensor *t, size_t tensor,
                                     int s, adaopt_state_kind kind)
{
    const adaopt__algorithm *a = adaopt__algo(opt->algorithm);
    if (a->tensor_slot_kind == NULL || kind == ADAOPT_STATE_MASTER)
        return ADAOPT_OK;
    adaopt_state_kind has = a->tensor_slot_kind(opt, t, s);
    if (has != kind)
        return adaopt__fail(opt, ADAOPT_ERR_STATE, "tensor %zu keeps %s%s%s, not '%s' (%s)",
                            tensor, has ? "'" : "", has ? adaopt_state_name(has) : "nothing there",
                            has ? "'" : "", adaopt_state_name(kind), a->slot_kinds_why);
    return ADAOPT_OK;
}

static adaopt_status check_tensor(const adaopt_optimizer *opt, size_t tensor)
{
    if (tensor >= opt->n_tensors)
        return adaopt__fail((adaopt_optimizer *)opt, ADAOPT_ERR_INDEX,
                            "tensor %zu out of range (%zu tensors)", tensor, opt->n_tensors);
    return ADAOPT_OK;
}

adaopt_status adaopt_state(const adaopt_optimizer *opt, size_t tensor, adaopt_state_kind kind,
                           const float **data, size_t *numel)
{
    adaopt_optimizer *o = (adaopt_optimizer *)opt; /* only its error buffer is written */
    if (opt == NULL)
        return ADAOPT_ERR_NULL;
    if (data == NULL)
        return adaopt__fail(o, ADAOPT_ERR_NULL, "state: data must not be NULL");
    adaopt_status st = check_tensor(opt, tensor);
    if (st != ADAOPT_OK)
        return st;
    if (kind == ADAOPT_STATE_MASTER) {
        const adaopt_tensor *m = &opt->tensors[tensor];
        if (m->master == NULL)
            return adaopt__fail(o, ADAOPT_ERR_OPTION, "tensor %zu has no master weights (float32 "
                                "parameters, or an update without them)", tensor);
        if (!m->master_ready)
            return adaopt__fail(o, ADAOPT_ERR_STATE, "tensor %zu has no 'master' yet", tensor);
        *data = m->master;
        if (numel != NULL)
            *numel = m->numel;
        return ADAOPT_OK;
    }
    int s = adaopt__slot_of_state(opt->algorithm, kind);
    if (s < 0)
        return adaopt__fail(o, ADAOPT_ERR_OPTION, "%s has no array state '%s'",
                            adaopt_algorithm_name(opt->algorithm),
                            adaopt_state_name(kind) ? adaopt_state_name(kind) : "?");
    adaopt_tensor *t = &o->tensors[tensor];
    st = slot_kind_check(o, t, tensor, s, kind);
    if (st != ADAOPT_OK)
        return st;
    /* SGD's momentum buffer and Schedule-Free's z are born at a step */
    int born_at_step = s == 0 && adaopt__algo(opt->algorithm)->slot0_born != NULL;
    int exists = t->step > 0 && adaopt__has_slot(t, s) && (!born_at_step || t->slot_ready[s]);
    if (!exists)
        return adaopt__fail(o, ADAOPT_ERR_STATE, "tensor %zu has no '%s' yet", tensor,
                            adaopt_state_name(kind));
    const float *values = adaopt__slot_floats(opt, t, s); /* decoded, if packed */
    if (values == NULL)
        return adaopt__fail(o, ADAOPT_ERR_ALLOC, "state: out of memory decoding '%s'",
                            adaopt_state_name(kind));
    *data = values;
    if (numel != NULL)
        *numel = adaopt__slot_numel(t, s);
    return ADAOPT_OK;
}

/* Where `kind` is held in adaopt_tensor.scalars for this algorithm, or -1. */
static int tensor_scalar(const adaopt_optimizer *opt, adaopt_state_kind kind)
{
    const adaopt__algorithm *a = adaopt__algo(opt->algorithm);
    for (int k = 0; k < 3 && kind != 0; k++)
        if (a->tensor_scalars[k] == kind)
            return k;
    return -1;
}

adaopt_status adaopt_state_scalar(const adaopt_optimizer *opt, size_t tensor,
                                  adaopt_state_kind kind, double *value)
{
    adaopt_optimizer *o = (adaopt_optimizer *)opt;
    if (opt == NULL)
        return ADAOPT_ERR_NULL;
    if (value == NULL)
        return adaopt__fail(o, ADAOPT_ERR_NULL, "state_scalar: value must not be NULL");
    adaopt_status st = check_tensor(opt, tensor);
    if (st != ADAOPT_OK)
        return st;
    if (kind == ADAOPT_STATE_STEP) {
        *value = (double)opt->tensors[tensor].step;
        return ADAOPT_OK;
    }
    if (kind == ADAOPT_STATE_MU_PRODUCT && adaopt__algo(opt->algorithm)->tracks_mu_product) {
        *value = opt->tensors[tensor].mu_product;
        return ADAOPT_OK;
    }
    int k = tensor_scalar(opt, kind);
    if (k >= 0) {
        if (opt->tensors[tensor].step == 0)
            return adaopt__fail(o, ADAOPT_ERR_STATE, "tensor %zu has no '%s' yet", tensor,
                                adaopt_state_name(kind));
        *value = opt->tensors[tensor].scalars[k];
        return ADAOPT_OK;
    }
    return adaopt__fail(o, ADAOPT_ERR_OPTION, "%s has no scalar state '%s'",
                        adaopt_algorithm_name(opt->algorithm),
                        adaopt_state_name(kind) ? adaopt_state_name(kind) : "?");
}

adaopt_status adaopt_effective_lr(const adaopt_optimizer *opt, size_t tensor, float *out,
                                  size_t numel)
{
    adaopt_optimizer *o = (adaopt_optimizer *)opt;
    if (opt == NULL)
        return ADAOPT_ERR_NULL;
    if (out == NULL)
        return adaopt__fail(o, ADAOPT_ERR_NULL, "effective_lr: out must not be NULL");
    adaopt_status st = check_tensor(opt, tensor);
    if (st != ADAOPT_OK)
        return st;
    const adaopt_tensor *t = &opt->tensors[tensor];
    if (numel != t->numel)
        return adaopt__fail(o, ADAOPT_ERR_SIZE, "effective_lr: out has %zu floats, tensor %zu has %zu",
                            numel, tensor, t->numel);
    if (t->step == 0)
        return adaopt__fail(o, ADAOPT_ERR_STATE,
                            "effective_lr: tensor %zu has not taken a step yet", tensor);
    adaopt__lr_query q = {opt, t, opt->groups[t->group].hp, {NULL}};
    for (int k = 0; k < ADAOPT_MAX_SLOTS; k++) {
        if (!adaopt__has_slot(t, k))
            continue;
        if ((q.slot[k] = adaopt__slot_floats(opt, &o->tensors[tensor], k)) == NULL) /* decoded */
            return adaopt__fail(o, ADAOPT_ERR_ALLOC, "effective_lr: out of memory");
    }
    return adaopt__algo(opt->algorithm)->effective_lr(&q, out, numel);
}

/* adaopt__first_bad_float / _bf16 (internal.h): on the bits, in blocks whose flags the compiler
 * can compute in vector registers (a load reads every state array once more, at about memcpy's
 * speed); a block with a bad element is searched again for its first. */
enum { SCAN_BLOCK = 1024 };

static int bad_float_bits(uint32_t u, uint32_t nonnegative)
{
    return ((u & 0x7f800000u) == 0x7f800000u) | (nonnegative & (u > 0x80000000u));
}

size_t adaopt__first_bad_float(const float *x, size_t n, int nonnegative)
{
    for (size_t at = 0; at < n; at += SCAN_BLOCK) {
        size_t end = n - at > SCAN_BLOCK ? at + SCAN_BLOCK : n;
        int bad = 0;
        for (size_t e = at; e < end; e++) {
            uint32_t u;
            memcpy(&u, &x[e], 4);
            bad |= bad_float_bits(u, (uint32_t)nonnegative);
        }
        for (size_t e = at; bad && e < end; e++) {
            uint32_t u;
            memcpy(&u, &x[e], 4);
            if (bad_float_bits(u, (uint32_t)nonnegative))
                return e;
        }
    }
    return n;
}

size_t adaopt__first_bad_bf16(const uint16_t *h, size_t n, int nonnegative)
{
    for (size_t at = 0; at < n; at += SCAN_BLOCK) {
        size_t end = n - at > SCAN_BLOCK ? at + SCAN_BLOCK : n;
        int bad = 0;
        for (size_t e = at; e < end; e++)
            bad |= bad_float_bits((uint32_t)h[e] << 16, (uint32_t)nonnegative);
        for (size_t e = at; bad && e < end; e++)
            if (bad_float_bits((uint32_t)h[e] << 16, (uint32_t)nonnegative))
                return e;
    }
    return n;
}

/* What a checkpoint load checks of state (checkpoint.c): finite values, second moments >= 0. */
static adaopt_status check_state_values(adaopt_optimizer *opt, size_t tensor,
                                        adaopt_state_kind kind, const float *data, size_t numel)
{
    int second_moment = adaopt__never_negative(kind);
    size_t e = adaopt__first_bad_float(data, numel, second_moment);
    if (e < numel)
        return adaopt__fail(opt, ADAOPT_ERR_VALUE, "set_state: element %zu of tensor %zu's "
                            "%s is %g: state must be finite%s", e, tensor,
                            adaopt_state_name(kind) ? adaopt_state_name(kind) : "?",
                            (double)data[e], second_moment ? " and, as a second moment, "
                            "not negative" : "");
    return ADAOPT_OK;
}

adaopt_status adaopt_set_state(adaopt_optimizer *opt, size_t tensor, adaopt_state_kind kind,
                               const float *data, size_t numel)
{
    if (opt == NULL)
        return ADAOPT_ERR_NULL;
    if (data == NULL && numel > 0)
        return adaopt__fail(opt, ADAOPT_ERR_NULL, "set_state: data must not be NULL");
    adaopt_status st = check_tensor(opt, tensor);
    if (st != ADAOPT_OK)
        return st;
    adaopt_tensor *t = &opt->tensors[tensor];
    int slot = adaopt__slot_of_state(opt->algorithm, kind);
    st = slot >= 0 ? slot_kind_check(opt, t, tensor, slot, kind) : ADAOPT_OK;
    if (st != ADAOPT_OK)
        return st;
    size_t want = kind == ADAOPT_STATE_MASTER || slot < 0 ? t->numel : adaopt__slot_numel(t, slot);
    if (numel != want)
        return adaopt__fail(opt, ADAOPT_ERR_SIZE, "set_state: %zu floats for tensor %zu's %s of %zu",
                            numel, tensor, adaopt_state_name(kind) ? adaopt_state_name(kind) : "?",
                            want);
    if (kind == ADAOPT_STATE_MASTER) {
        if (t->master == NULL)
            return adaopt__fail(opt, ADAOPT_ERR_OPTION, "tensor %zu has no master weights",
                                tensor);
        if ((st = check_state_values(opt, tensor, kind, data, numel)) != ADAOPT_OK)
            return st;
        if (numel > 0)
            memcpy(t->master, data, numel * sizeof *data);
        t->master_ready = 1;
        return ADAOPT_OK;
    }
    int s = adaopt__slot_of_state(opt->algorithm, kind);
    if (s < 0)
        return adaopt__fail(opt, ADAOPT_ERR_OPTION, "%s has no array state '%s'",
                            adaopt_algorithm_name(opt->algorithm),
                            adaopt_state_name(kind) ? adaopt_state_name(kind) : "?");
    if ((st = check_state_values(opt, tensor, kind, data, numel)) != ADAOPT_OK)
        return st;
    st = adaopt__grow_slots(opt, tensor, 1, 1u << s);
    if (st != ADAOPT_OK)
        return st;
    if (numel > 0) {
        if (t->storage != ADAOPT_STORAGE_F32 && adaopt__ensure_qtables(opt) != 0)
            return adaopt__fail(opt, ADAOPT_ERR_ALLOC, "set_state: out of memory");
        adaopt__write_slot(opt, t, s, data); /* encoded, if the storage is packed */
    }
    t->slot_ready[s] = 1;
    return ADAOPT_OK;
}

size_t adaopt_state_bytes(const adaopt_optimizer *opt)
{
    if (opt == NULL)
        return 0;
    size_t bytes = 0;
    for (size_t i = 0; i < opt->n_tensors; i++) {
        const adaopt_tensor *t = &opt->tensors[i];
        for (int k = 0; k < ADAOPT_MAX_SLOTS; k++) {
            size_t n = adaopt__slot_numel(t, k), blocks = n / ADAOPT__BLOCK + (n % ADAOPT__BLOCK != 0);
            if (t->slot[k] != NULL)
                bytes += n * 4;
            else if (t->packed[k] != NULL) /* (Adafactor's vectors: an empty slot 1) */
                bytes += t->storage == ADAOPT_STORAGE_BF16 ? n * 2 : n + blocks * 4;
        }
        if (t->master != NULL)
            bytes += t->numel * 4;
    }
    return bytes;
}

adaopt_status adaopt_set_state_scalar(adaopt_optimizer *opt, size_t tensor, adaopt_state_kind kind,
                                      double value)
{
    if (opt == NULL)
        return ADAOPT_ERR_NULL;
    adaopt_status st = check_tensor(opt, tensor);
    if (st != ADAOPT_OK)
        return st;
    if (kind == ADAOPT_STATE_STEP) {
        if (!(value >= 0.0 && value <= 9007199254740992.0) || value != floor(value))
            return adaopt__fail(opt, ADAOPT_ERR_VALUE, "step must be a whole number >= 0 (got %g)",
                                value);
        opt->tensors[tensor].step = (uint64_t)value;
        return ADAOPT_OK;
    }
    if (kind == ADAOPT_STATE_MU_PRODUCT && adaopt__algo(opt->algorithm)->tracks_mu_product) {
        if (!(value >= 0.0 && value <= 1.0)) /* 0 when beta1 = 0 */
            return adaopt__fail(opt, ADAOPT_ERR_VALUE, "mu_product must be in [0, 1] (got %g)", value);
        opt->tensors[tensor].mu_product = value;
        return ADAOPT_OK;
    }
    int k = tensor_scalar(opt, kind);
    if (k >= 0) {
        if (value < 0.0) /* (NaN kept: a tensor that went NaN reports it) */
            return adaopt__fail(opt, ADAOPT_ERR_VALUE, "%s must not be negative (got %g)",
                                adaopt_state_name(kind), value);
        /* (held as float32 where the reference's are float32 tensors: ASGD's eta and mu) */
        opt->tensors[tensor].scalars[k] =
            adaopt__algo(opt->algorithm)->float_scalars ? (double)(float)value : value;
        return ADAOPT_OK;
    }
    return adaopt__fail(opt, ADAOPT_ERR_OPTION, "%s has no scalar state '%s'",
                        adaopt_algorithm_name(opt->algorithm),
                        adaopt_state_name(kind) ? adaopt_state_name(kind) : "?");
}
