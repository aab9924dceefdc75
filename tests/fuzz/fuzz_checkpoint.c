/*
 * fuzz_checkpoint.c -- libFuzzer target: adaopt_load_buffer on any bytes.  The optimizer it loads
 * into has the layout of the seed corpus (groups {13, 5} and {70}) and the algorithm the input's
 * META section names, so that inputs near valid checkpoints reach every check.  Whatever is
 * accepted must then step, save, and load again into a second optimizer to the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "adaopt.h"

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    adaopt_algorithm a = ADAOPT_ALGO_ADAM;
    if (size >= 44) /* header 24 + section head 16: the META payload's algorithm */
        a = (adaopt_algorithm)(1 + data[40] % 8);
    adaopt_optimizer *opt = layout(a);
    if (opt == NULL)
        return 0;
    if (adaopt_load_buffer(opt, data, size) == ADAOPT_OK) {
        float p0[13] = {0}, p1[5] = {0}, p2[70] = {0}, g0[13], g1[5], g2[70];
        for (int i = 0; i < 70; i++)
            g2[i] = (float)i - 35.0f;
        memcpy(g0, g2, sizeof g0);
        memcpy(g1, g2, sizeof g1);
        float *params[3] = {p0, p1, p2};
        const float *grads[3] = {g0, g1, g2};
        adaopt_step(opt, params, grads, 3);
        size_t n = adaopt_checkpoint_size(opt);
        unsigned char *buf = malloc(n), *again = malloc(n);
        adaopt_optimizer *other = layout(a);
        size_t written, written2;
        if (buf && again && other && adaopt_save_buffer(opt, buf, n, &written) == ADAOPT_OK) {
            if (adaopt_load_buffer(other, buf, written) != ADAOPT_OK)
                abort(); /* what we wrote must load */
            if (adaopt_save_buffer(other, again, n, &written2) != ADAOPT_OK || written2 != written ||
                memcmp(buf, again, written) != 0)
                abort(); /* and round-trip to the same bytes */
        }
        adaopt_destroy(other);
        free(buf);
        free(again);
    }
    adaopt_destroy(opt);
    return 0;
}
