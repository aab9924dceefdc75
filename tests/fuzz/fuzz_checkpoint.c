/*
 * fuzz_checkpoint.c -- libFuzzer target: adaopt_load_buffer on any bytes.  The optimizer it loads
 * into has the layout of the seed corpus (groups {13, 5} and {70}) and the algorithm the input's
 * META section names, so that inputs near valid checkpoints reach every check.  Each input is
 * loaded twice: as it is (the checksums must refuse almost every mutation) and with its header
 * and section checksums recomputed, so that mutations also reach the checks behind them (lengths,
 * tags, values, sizes).  A refused load must leave the optimizer's checkpoint bytes unchanged;
 * whatever is accepted must step, save, and load into a second optimizer to the same bytes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adaopt.h"
#include "../ckpt_edit.h" /* ck_le, ck_put_le, and adaopt__crc32c */

/* Rewrites the header's and every whole section's CRC in place (docs/CHECKPOINT.md). */
static void fix_checksums(uint8_t *d, size_t size)
{
    if (size < 24)
        return;
    ck_put_le(d + 20, adaopt__crc32c(0, d, 20), 4);
    size_t off = 24;
    while (size - off >= 16) {
        uint64_t len = ck_le(d + off + 8, 8);
        if (len > size - off - 16 || size - off - 16 - len < 4)
            return;
        ck_put_le(d + off + 16 + len, adaopt__crc32c(0, d + off + 16, (size_t)len), 4);
        off += 16 + (size_t)len + 4 + (size_t)((8 - (len + 4) % 8) % 8);
        if (off > size)
            return;
    }
}

static adaopt_optimizer *layout(adaopt_algorithm a)
{
    adaopt_optimizer *opt;
    size_t g0[2] = {13, 5}, g1[1] = {70}, group;
    if (adaopt_create(a, &opt) != ADAOPT_OK)
        return NULL;
    if (adaopt_add_group(opt, g0, 2, &group) != ADAOPT_OK ||
        adaopt_add_group(opt, g1, 1, &group) != ADAOPT_OK || adaopt_set_threads(opt, 1)) {
        adaopt_destroy(opt);
        return NULL;
    }
    return opt;
}

static void check_load(adaopt_algorithm a, const uint8_t *data, size_t size)
{
    adaopt_optimizer *opt = layout(a);
    if (opt == NULL)
        return;
    /* Give it state first, so that a refused load has something to spoil. */
    float p0[13] = {0}, p1[5] = {0}, p2[70] = {0}, g0[13], g1[5], g2[70];
    for (int i = 0; i < 70; i++)
        g2[i] = (float)i - 35.0f;
    memcpy(g0, g2, sizeof g0);
    memcpy(g1, g2, sizeof g1);
    float *params[3] = {p0, p1, p2};
    const float *grads[3] = {g0, g1, g2};
    adaopt_step(opt, params, grads, 3);
    size_t before_n = adaopt_checkpoint_size(opt), written, written2;
    unsigned char *before = malloc(before_n);
    if (before == NULL || adaopt_save_buffer(opt, before, before_n, &written) != ADAOPT_OK) {
        free(before);
        adaopt_destroy(opt);
        return;
    }
    if (adaopt_load_buffer(opt, data, size) != ADAOPT_OK) {
        unsigned char *after = malloc(before_n);
        if (after != NULL && (adaopt_checkpoint_size(opt) != before_n ||
                              adaopt_save_buffer(opt, after, before_n, &written2) != ADAOPT_OK ||
                              memcmp(before, after, before_n) != 0))
            abort(); /* a refused load changed the optimizer */
        free(after);
    } else {
        adaopt_step(opt, params, grads, 3);
        size_t n = adaopt_checkpoint_size(opt);
        unsigned char *buf = malloc(n), *again = malloc(n);
        adaopt_optimizer *other = layout(a);
        if (buf && again && other && adaopt_save_buffer(opt, buf, n, &written) == ADAOPT_OK) {
            adaopt_status st = adaopt_load_buffer(other, buf, written);
            if (st != ADAOPT_OK && st != ADAOPT_ERR_NONFINITE) {
                fprintf(stderr, "fuzz_checkpoint: %s\n", adaopt_last_error(other));
                abort(); /* what we wrote must load (unless the step diverged: refused so) */
            }
            if (st == ADAOPT_OK &&
                (adaopt_save_buffer(other, again, n, &written2) != ADAOPT_OK || written2 != written ||
                 memcmp(buf, again, written) != 0))
                abort(); /* and round-trip to the same bytes */
        }
        adaopt_destroy(other);
        free(buf);
        free(again);
    }
    free(before);
    adaopt_destroy(opt);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    adaopt_algorithm a = ADAOPT_ALGO_ADAM;
    if (size >= 44) /* header 24 + section head 16: the META payload's algorithm, 1..12 */
        a = (adaopt_algorithm)(data[40] >= 1 && data[40] <= 15 ? data[40] : 1 + data[40] % 15);
    check_load(a, data, size);
    uint8_t *fixed = malloc(size ? size : 1);
    if (fixed == NULL)
        return 0;
    memcpy(fixed, data, size);
    fix_checksums(fixed, size);
    check_load(a, fixed, size);
    free(fixed);
    return 0;
}
