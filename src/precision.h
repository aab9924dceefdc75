/*
 * precision.h -- the number formats of low-precision training, as plain C on bits (precision.c):
 * bf16 and fp16 conversions (round-to-nearest-even, and stochastic rounding), the counter-based
 * noise that drives stochastic rounding, and bitsandbytes' 8-bit dynamic maps with a quantizer
 * that equals bitsandbytes' binary search on every float32 input (tests/test_precision.c checks
 * all 2^32).  Internal: the building blocks of the low-precision step (docs/ALGORITHMS.md).
 */
#ifndef ADAOPT_PRECISION_H
#define ADAOPT_PRECISION_H

#include <stdint.h>
#include <string.h>

#include "internal_api.h"

static inline uint32_t adaopt__f32_bits(float x)
{
    uint32_t b;
    memcpy(&b, &x, sizeof b);
    return b;
}

static inline float adaopt__f32_from_bits(uint32_t b)
{
    float x;
    memcpy(&x, &b, sizeof x);
    return x;
}

/* ---- bf16: the top 16 bits of a float32 ---- */

static inline float adaopt__bf16_to_f32(uint16_t h)
{
    return adaopt__f32_from_bits((uint32_t)h << 16);
}

/* Round to nearest, ties to even; a NaN stays a (quiet) NaN of the same sign; overflow gives
 * infinity, as IEEE rounding does. */
static inline uint16_t adaopt__f32_to_bf16(float x)
{
    uint32_t b = adaopt__f32_bits(x);
    if ((b & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((b >> 16) | 0x0040u);
    return (uint16_t)((b + 0x7fffu + ((b >> 16) & 1u)) >> 16);
}

/* Stochastic rounding (llm.c's rule): away from zero with probability equal to the dropped
 * fraction, low16 / 65536: up exactly when (noise & 0xffff) < low16.  So over the 65536 values
 * of the noise's low half the mean of the results is x exactly.  NaN and infinity unchanged;
 * the largest finite values may round up to infinity. */
static inline uint16_t adaopt__f32_to_bf16_sr(float x, uint32_t noise)
{
    uint32_t b = adaopt__f32_bits(x);
    if ((b & 0x7f800000u) == 0x7f800000u)
        return adaopt__f32_to_bf16(x);
    uint32_t up = (noise & 0xffffu) < (b & 0xffffu);
    return (uint16_t)((b >> 16) + up);
}

/* ---- fp16 (IEEE binary16) ---- */

ADAOPT_INTERNAL_API float adaopt__f16_to_f32(uint16_t h);
/* Round to nearest, ties to even (subnormals included); NaN stays NaN; overflow gives inf. */
uint16_t adaopt__f32_to_f16(float x);
/* Stochastic rounding with the same law: the k bits the conversion drops (13 for a normal
 * result, more for a subnormal one) round away from zero exactly when (noise mod 2^k) is below
 * them, so the mean over all noise values is x exactly (where x is within fp16's range). */
uint16_t adaopt__f32_to_f16_sr(float x, uint32_t noise);

/* ---- noise: counter-based, so results depend on no thread, chunk or ISA ---- */

/* Squirrel Eiserloh's SquirrelNoise5 (as llm.c uses it): 32 bits of noise for a position. */
static inline uint32_t adaopt__squirrel5(uint32_t position, uint32_t seed)
{
    uint32_t x = position * 0xd2a80a3fu;
    x += seed;
    x ^= x >> 9;
    x += 0xa884f197u;
    x ^= x >> 11;
    x *= 0x6c736f4bu;
    x ^= x >> 13;
    x += 0xb79f3abbu;
    x ^= x >> 15;
    x *= 0x1b56c4f5u;
    x ^= x >> 17;
    return x;
}

/* The seed of one tensor at one step: a function of (seed, tensor number, step) only. */
static inline uint32_t adaopt__noise_seed(uint64_t seed, uint64_t tensor, uint64_t step)
{
    uint32_t s = adaopt__squirrel5((uint32_t)(seed >> 32), (uint32_t)seed);
    s = adaopt__squirrel5((uint32_t)tensor, s ^ (uint32_t)(tensor >> 32));
    return adaopt__squirrel5((uint32_t)step, s ^ (uint32_t)(step >> 32));
}

/* The noise of element `index` of a tensor whose step seed is `tensor_seed`. */
static inline uint32_t adaopt__noise(uint32_t tensor_seed, uint64_t index)
{
    uint32_t s = (index >> 32) == 0 ? tensor_seed
                                    : adaopt__squirrel5((uint32_t)(index >> 32), tensor_seed);
    return adaopt__squirrel5((uint32_t)index, s);
}

/* ---- 8-bit blockwise state: bitsandbytes' dynamic maps ---- */

/* create_dynamic_map(signed=True) and (signed=False) of bitsandbytes (7 exponent bits), as
 * built by torch's float32 linspace: 256 ascending values each; signed: -0.99297 .. 0 (index
 * 127) .. 0.99297, 1.0; unsigned: 0, 3.25e-7 .. 0.99648, 1.0.  tests/python/test_qmaps.py
 * rebuilds them with torch and compares every bit. */
extern const float ADAOPT__QMAP_SIGNED[256];
extern const float ADAOPT__QMAP_UNSIGNED[256];

/* bitsandbytes' quantize_2D (csrc/kernels.cu) transcribed: an 8-step binary search, then the
 * nearer of the two neighbours by float32 midpoints, ties to the search's last pivot; NaN gives
 * 0.  The reference the fast quantizer is proven against. */
uint8_t adaopt__quantize_reference(const float *map, int is_signed, float x);

/* The same function without the search: a table on the float's sign, exponent (clamped to
 * [2^-27, 2)) and top 7 mantissa bits gives the code of the bucket's lowest value; one compare
 * with the midpoint above it (ties resolved as the search resolves them) finishes. */
enum { ADAOPT__QT_EXP_MIN = 100, ADAOPT__QT_EXPS = 29 };
typedef struct adaopt__qtable {
    const float *map;
    float bound[256]; /* code c + 1 exactly when x > bound[c]: the midpoint between codes c and
                         c + 1, or the float below it when the search sends that tie up; inf
                         for c = 255 */
    uint8_t code[2 * ADAOPT__QT_EXPS * 128]; /* by (sign, exponent, 7 mantissa bits) */
    uint8_t pad[4]; /* a 32-bit gather of code[] may read 3 bytes past its entry */
} adaopt__qtable;

void adaopt__qtable_init(adaopt__qtable *t, int is_signed);

static inline uint8_t adaopt__quantize(const adaopt__qtable *t, float x)
{
    uint32_t b = adaopt__f32_bits(x);
    if ((b & 0x7fffffffu) > 0x7f800000u)
        return 0; /* NaN */
    uint32_t e = (b >> 23) & 0xffu;
    e = e < ADAOPT__QT_EXP_MIN ? ADAOPT__QT_EXP_MIN
                               : (e >= ADAOPT__QT_EXP_MIN + ADAOPT__QT_EXPS
                                      ? ADAOPT__QT_EXP_MIN + ADAOPT__QT_EXPS - 1 : e);
    uint32_t key = ((b >> 31) * ADAOPT__QT_EXPS + (e - ADAOPT__QT_EXP_MIN)) * 128 +
                   ((b >> 16) & 0x7fu);
    uint32_t c = t->code[key];
    return (uint8_t)(c + (x > t->bound[c]));
}

/* The 8-bit code of state value x in a block of absmax: quantize(x / absmax), and for a signed
 * map bitsandbytes' sign fix (code +- 1 where map[code]'s sign is not x's).  The scalar encode
 * and the vector encodes' tails (lowp.c, kernels/lowp_*.c). */
static inline uint8_t adaopt__encode8_one(const adaopt__qtable *t, int is_signed, float x,
                                          float absmax)
{
    uint8_t c = adaopt__quantize(t, x / absmax);
    if (is_signed && (adaopt__f32_bits(t->map[c]) >> 31) != (adaopt__f32_bits(x) >> 31))
        c = (uint8_t)(x > 0.0f ? c + 1 : c - 1);
    return c;
}

#endif
