/*
 * fuzz_step.c -- libFuzzer target: the step API with random shapes, groups, options (any id,
 * any value, NaN included; option strings of any bytes), step counts, gradients (any bits), sparse gradients (any indices), kernels and
 * queries.  Nothing may crash, read or write out of bounds, or leak; errors must be reported.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adaopt.h"

typedef struct {
    const uint8_t *p;
    size_t left;
} input;

static uint8_t byte(input *in)
{
    if (in->left == 0)
        return 0;
    in->left--;
    return *in->p++;
}

static float number(input *in)
{
    uint32_t bits = 0;
    for (int k = 0; k < 4; k++)
        bits = bits << 8 | byte(in);
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    input in = {data, size};
    adaopt_optimizer *opt;
    if (adaopt_create((adaopt_algorithm)(byte(&in) % 17), &opt) != ADAOPT_OK) /* 0, 16: invalid */
        return 0;
    adaopt_set_threads(opt, 1 + byte(&in) % 2);
    adaopt_set_isa(opt, (adaopt_isa)(byte(&in) % 5));
    adaopt_set_nonfinite_policy(opt, (adaopt_nonfinite_policy)(byte(&in) % 4));
    enum { MAX_T = 6 };
    size_t numels[MAX_T], n = 0, group;
    int n_groups = 1 + byte(&in) % 3;
    for (int g = 0; g < n_groups; g++) {
        size_t k = 1 + byte(&in) % 3, start = n;
        for (size_t i = 0; i < k && n < MAX_T; i++)
            numels[n++] = byte(&in) % 40;
        if (n > start) {
            if (byte(&in) % 3 == 0) /* bf16/fp16 (or invalid) element types */
                adaopt_add_group_typed(opt, numels + start, n - start,
                                       (adaopt_dtype)(byte(&in) % 4), (adaopt_dtype)(byte(&in) % 4),
                                       &group);
            else
                adaopt_add_group(opt, numels + start, n - start, &group);
        }
    }
    adaopt_reserve_sparse(opt, byte(&in) % 8, byte(&in) % 16, byte(&in) % 64);
    for (size_t t = 0; t < n; t++) /* shapes (Adafactor factors them), valid or not */
        if (byte(&in) % 3 == 0) {
            size_t dims[3] = {1 + byte(&in) % 6, 1 + byte(&in) % 6, 1 + byte(&in) % 6};
            adaopt_set_shape(opt, t, dims, byte(&in) % 4);
            if (numels[t] > 0 && numels[t] % dims[0] == 0) {
                size_t two[2] = {dims[0], numels[t] / dims[0]};
                adaopt_set_shape(opt, t, two, 2);
            }
        }
    static float params[MAX_T][40], grads[MAX_T][40], values[8 * 16];
    int64_t indices[8];
    for (int round = 0; round < 4 && in.left > 0; round++) {
        for (int k = byte(&in) % 4; k > 0; k--) /* options: any id, any value */
            adaopt_set(opt, byte(&in) % 4 == 0 ? ADAOPT_ALL_GROUPS : byte(&in) % 4,
                       (adaopt_option)(byte(&in) % 35), byte(&in) % 2 ? number(&in) : byte(&in) % 3);
        if (byte(&in) % 4 == 0) { /* several options as a string of any bytes */
            char spec[48];
            size_t len = byte(&in) % sizeof spec;
            for (size_t k = 0; k < len; k++)
                spec[k] = (char)(byte(&in) % 2 ? "lr=0.1,betas=9e-1;eps_mode=hat momentum"[byte(&in) % 39]
                                               : byte(&in));
            spec[len] = '\0';
            adaopt_set_options(opt, byte(&in) % 4 == 0 ? ADAOPT_ALL_GROUPS : byte(&in) % 4, spec);
        }
        if (byte(&in) % 8 == 0)
            adaopt_set_step(opt, (uint64_t)byte(&in) << (byte(&in) % 64));
        if (byte(&in) % 8 == 0) /* LAMB's overwrite_grads (the others refuse it), any value */
            adaopt_set_overwrite_grads(opt, byte(&in) % 3);
        float *pp[MAX_T];
        const float *gg[MAX_T];
        adaopt_sparse_grad sparse[MAX_T];
        memset(sparse, 0, sizeof sparse);
        for (size_t t = 0; t < n; t++) {
            for (size_t e = 0; e < numels[t]; e++) {
                params[t][e] = byte(&in) % 8 ? (float)(int8_t)byte(&in) / 16.0f : number(&in);
                grads[t][e] = byte(&in) % 8 ? (float)(int8_t)byte(&in) / 16.0f : number(&in);
            }
            pp[t] = params[t];
            uint8_t kind = byte(&in) % 4;
            gg[t] = kind == 0 ? NULL : grads[t];
            if (kind == 2 && t > 0 && byte(&in) % 4 == 0) /* an earlier tensor's, shared */
                gg[t] = grads[byte(&in) % t];
            if (kind == 3) { /* a sparse gradient instead */
                gg[t] = NULL;
                size_t len = 1 + byte(&in) % 16, count = byte(&in) % 9;
                for (size_t k = 0; k < count; k++)
                    indices[k] = (int64_t)(int8_t)byte(&in);
                for (size_t k = 0; k < count * len && k < 8 * 16; k++)
                    values[k] = (float)(int8_t)byte(&in);
                sparse[t] = (adaopt_sparse_grad){indices, count, values, count * len <= 128 ? len : 1};
            }
        }
        if (byte(&in) % 3 == 0)
            adaopt_hint_nonfinite(opt, byte(&in) % 3);
        if (byte(&in) % 6 == 0) { /* Schedule-Free's swap (others: the mode only), any group state */
            void *mp[MAX_T];
            for (size_t t = 0; t < n; t++)
                mp[t] = pp[t];
            (byte(&in) % 2 ? adaopt_eval : adaopt_train)(opt, mp, n + (byte(&in) % 8 == 0));
            adaopt_set_group_state(opt, byte(&in) % 4, (adaopt_state_kind)(byte(&in) % 19),
                                   byte(&in) % 2 ? number(&in) : byte(&in) % 3);
            double gs;
            adaopt_group_state(opt, byte(&in) % 4, (adaopt_state_kind)(byte(&in) % 19), &gs);
        }
        if (byte(&in) % 5 == 0)
            adaopt_scale_next_grads(opt, byte(&in) % 2 ? (double)number(&in) : 0.5);
        if (byte(&in) % 3 == 0) { /* any types: the buffers are float arrays, large enough */
            void *tp[MAX_T];
            const void *tg[MAX_T];
            for (size_t t = 0; t < n; t++) {
                tp[t] = pp[t];
                tg[t] = gg[t];
            }
            adaopt_step_typed(opt, tp, tg, n + (byte(&in) % 8 == 0));
            double norm;
            adaopt_grad_norm(opt, tg, n, byte(&in) % 2 ? 2.0 : INFINITY, &norm);
        } else {
            adaopt_step_sparse(opt, pp, gg, byte(&in) % 2 ? sparse : NULL, n + (byte(&in) % 8 == 0));
        }
        for (size_t t = 0; t < n; t++) {
            float eff[40];
            const float *state;
            double scalar;
            adaopt_effective_lr(opt, t, eff, numels[t]);
            adaopt_state(opt, t, (adaopt_state_kind)(byte(&in) % 25), &state, NULL);
            adaopt_state_scalar(opt, t, (adaopt_state_kind)(byte(&in) % 22), &scalar);
            if (byte(&in) % 7 == 0)
                adaopt_set_state_scalar(opt, t, (adaopt_state_kind)(byte(&in) % 22), number(&in));
        }
    }
    size_t bytes = adaopt_checkpoint_size(opt);
    unsigned char *buf = malloc(bytes);
    adaopt_status loaded;
    if (buf != NULL && adaopt_save_buffer(opt, buf, bytes, &bytes) == ADAOPT_OK &&
        (loaded = adaopt_load_buffer(opt, buf, bytes)) != ADAOPT_OK &&
        loaded != ADAOPT_ERR_NONFINITE) {
        fprintf(stderr, "fuzz_step: its own checkpoint did not load: %s\n", adaopt_last_error(opt));
        abort(); /* its own checkpoint must load (a diverged one, with NaN or infinite state,
                    is refused as such) */
    }
    free(buf);
    adaopt_destroy(opt);
    return 0;
}
