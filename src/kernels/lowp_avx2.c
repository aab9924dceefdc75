/*
 * lowp_avx2.c -- the low-precision conversions for x86-64 AVX2 (8 lanes): 8-bit decode and
 * encode, bf16 widening and rounding (nearest-even and stochastic).  Compiled with -mavx2 only
 * for this file, called only when the CPU has AVX2 (dispatch.c; AVX-512 CPUs use these too).
 * Each function computes what its scalar twin in lowp.c computes, lane by lane, with the same
 * float operations (a division, compares) and the same integer ones, so the bits are the same;
 * tails go to the scalar twin.  tests/test_lowp.c compares every ISA bit for bit.
 */
#include <immintrin.h>
#include <math.h>

#include "kernels.h"
#include "../precision.h"

void adaopt_decode8_avx2(const uint8_t *code, const float *map, float absmax, float *out,
                         size_t n)
{
    const __m256 scale = _mm256_set1_ps(absmax);
    size_t j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256i c = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(code + j)));
        _mm256_storeu_ps(out + j, _mm256_mul_ps(_mm256_i32gather_ps(map, c, 4), scale));
    }
    if (j < n)
        adaopt_decode8_scalar(code + j, map, absmax, out + j, n - j);
}

/* adaopt__quantize of 8 lanes (precision.h), as integer and float lane operations. */
static inline __m256i quantize8(const adaopt__qtable *q, __m256 y)
{
    const __m256i b = _mm256_castps_si256(y);
    const __m256i abs_bits = _mm256_and_si256(b, _mm256_set1_epi32(0x7fffffff));
    const __m256i is_nan = _mm256_cmpgt_epi32(abs_bits, _mm256_set1_epi32(0x7f800000));
    __m256i e = _mm256_and_si256(_mm256_srli_epi32(b, 23), _mm256_set1_epi32(0xff));
    e = _mm256_max_epi32(e, _mm256_set1_epi32(ADAOPT__QT_EXP_MIN));
    e = _mm256_min_epi32(e, _mm256_set1_epi32(ADAOPT__QT_EXP_MIN + ADAOPT__QT_EXPS - 1));
    __m256i key = _mm256_add_epi32(_mm256_mullo_epi32(_mm256_srli_epi32(b, 31),
                                                      _mm256_set1_epi32(ADAOPT__QT_EXPS)),
                                   _mm256_sub_epi32(e, _mm256_set1_epi32(ADAOPT__QT_EXP_MIN)));
    key = _mm256_add_epi32(_mm256_slli_epi32(key, 7),
                           _mm256_and_si256(_mm256_srli_epi32(b, 16), _mm256_set1_epi32(0x7f)));
    const __m256i low_byte = _mm256_set1_epi32(0xff);
    __m256i c = _mm256_and_si256(_mm256_i32gather_epi32((const int *)(const void *)q->code, key, 1),
                                 low_byte);
    __m256 bound = _mm256_i32gather_ps(q->bound, c, 4);
    c = _mm256_sub_epi32(c, _mm256_castps_si256(_mm256_cmp_ps(y, bound, _CMP_GT_OQ))); /* +1 */
    return _mm256_andnot_si256(is_nan, c);                              /* NaN: 0 */
}

float adaopt_encode8_avx2(const struct adaopt__qtable *q, int is_signed, const float *in,
                          size_t n, uint8_t *code)
{
    /* absmax: max |x|, a NaN ignored (max_ps returns its second operand when one is NaN) */
    const __m256 sign_bit = _mm256_set1_ps(-0.0f);
    __m256 vmax = _mm256_setzero_ps();
    size_t j = 0;
    for (; j + 8 <= n; j += 8)
        vmax = _mm256_max_ps(_mm256_andnot_ps(sign_bit, _mm256_loadu_ps(in + j)), vmax);
    float lanes[8], absmax = 0.0f;
    _mm256_storeu_ps(lanes, vmax);
    for (int k = 0; k < 8; k++)
        absmax = lanes[k] > absmax ? lanes[k] : absmax;
    for (; j < n; j++) {
        float a = fabsf(in[j]);
        absmax = a > absmax ? a : absmax;
    }
    const __m256 scale = _mm256_set1_ps(absmax);
    const __m256i pick_bytes = _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                                                -1, -1, -1, 0, 4, 8, 12, -1, -1, -1, -1, -1, -1,
                                                -1, -1, -1, -1, -1, -1);
    const __m256i gather_dwords = _mm256_setr_epi32(0, 4, 0, 0, 0, 0, 0, 0);
    j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256 x = _mm256_loadu_ps(in + j);
        __m256i c = quantize8(q, _mm256_div_ps(x, scale));
        if (is_signed) { /* the sign fix: code +- 1 where map[code]'s sign is not x's; the
                          * signed map is negative exactly below code 127 (+0 there) */
            __m256i map_negative = _mm256_cmpgt_epi32(_mm256_set1_epi32(127), c);
            __m256i flip = _mm256_xor_si256(map_negative,
                                            _mm256_srai_epi32(_mm256_castps_si256(x), 31));
            __m256i step = _mm256_blendv_epi8(
                _mm256_set1_epi32(-1), _mm256_set1_epi32(1),
                _mm256_castps_si256(_mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_GT_OQ)));
            c = _mm256_and_si256(_mm256_add_epi32(c, _mm256_and_si256(flip, step)),
                                 _mm256_set1_epi32(0xff));
        }
        __m256i packed = _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(c, pick_bytes),
                                                     gather_dwords);
        _mm_storel_epi64((__m128i *)(code + j), _mm256_castsi256_si128(packed));
    }
    for (; j < n; j++) /* the tail, as the scalar twin does with the same absmax */
        code[j] = adaopt__encode8_one(q, is_signed, in[j], absmax);
    return absmax;
}

void adaopt_bf16_widen_avx2(const uint16_t *in, float *out, size_t n)
{
    size_t j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256i h = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(in + j)));
        _mm256_storeu_ps(out + j, _mm256_castsi256_ps(_mm256_slli_epi32(h, 16)));
    }
    if (j < n)
        adaopt_bf16_widen_scalar(in + j, out + j, n - j);
}

/* 8 lanes of 16-bit results (each in the low half of a 32-bit lane) stored in order. */
static inline void store_halves(uint16_t *out, __m256i r)
{
    __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(r, r), 0xd8);
    _mm_storeu_si128((__m128i *)out, _mm256_castsi256_si128(packed));
}

/* Round to nearest-even, NaN to a quiet NaN of the same sign (precision.h). */
static inline __m256i bf16_rne(__m256i b)
{
    __m256i abs_bits = _mm256_and_si256(b, _mm256_set1_epi32(0x7fffffff));
    __m256i is_nan = _mm256_cmpgt_epi32(abs_bits, _mm256_set1_epi32(0x7f800000));
    __m256i odd = _mm256_and_si256(_mm256_srli_epi32(b, 16), _mm256_set1_epi32(1));
    __m256i r = _mm256_srli_epi32(
        _mm256_add_epi32(_mm256_add_epi32(b, _mm256_set1_epi32(0x7fff)), odd), 16);
    __m256i q = _mm256_or_si256(_mm256_srli_epi32(b, 16), _mm256_set1_epi32(0x40));
    return _mm256_blendv_epi8(r, q, is_nan);
}

void adaopt_bf16_narrow_avx2(const float *in, uint16_t *out, size_t n)
{
    size_t j = 0;
    for (; j + 8 <= n; j += 8)
        store_halves(out + j, bf16_rne(_mm256_castps_si256(_mm256_loadu_ps(in + j))));
    if (j < n)
        adaopt_bf16_narrow_scalar(in + j, out + j, n - j);
}

/* SquirrelNoise5 of 8 positions (precision.h). */
static inline __m256i squirrel5(__m256i x, __m256i seed)
{
    x = _mm256_mullo_epi32(x, _mm256_set1_epi32((int)0xd2a80a3fu));
    x = _mm256_add_epi32(x, seed);
    x = _mm256_xor_si256(x, _mm256_srli_epi32(x, 9));
    x = _mm256_add_epi32(x, _mm256_set1_epi32((int)0xa884f197u));
    x = _mm256_xor_si256(x, _mm256_srli_epi32(x, 11));
    x = _mm256_mullo_epi32(x, _mm256_set1_epi32((int)0x6c736f4bu));
    x = _mm256_xor_si256(x, _mm256_srli_epi32(x, 13));
    x = _mm256_add_epi32(x, _mm256_set1_epi32((int)0xb79f3abbu));
    x = _mm256_xor_si256(x, _mm256_srli_epi32(x, 15));
    x = _mm256_mullo_epi32(x, _mm256_set1_epi32((int)0x1b56c4f5u));
    return _mm256_xor_si256(x, _mm256_srli_epi32(x, 17));
}

void adaopt_bf16_narrow_sr_avx2(const float *in, uint16_t *out, size_t n, uint32_t seed,
                                uint64_t index0)
{
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i low16 = _mm256_set1_epi32(0xffff), exp_mask = _mm256_set1_epi32(0x7f800000);
    size_t j = 0;
    for (; j + 8 <= n; j += 8) {
        uint64_t index = index0 + j;
        if ((uint32_t)index > 0xfffffff8u)
            break; /* the 8 lanes would not share their index's high 32 bits: the scalar twin */
        uint32_t s = (index >> 32) == 0 ? seed : adaopt__squirrel5((uint32_t)(index >> 32), seed);
        __m256i pos = _mm256_add_epi32(_mm256_set1_epi32((int)(uint32_t)index), lane);
        __m256i noise = squirrel5(pos, _mm256_set1_epi32((int)s));
        __m256i b = _mm256_castps_si256(_mm256_loadu_ps(in + j));
        /* up = (noise & 0xffff) < (b & 0xffff), both below 2^16 */
        __m256i up = _mm256_cmpgt_epi32(_mm256_and_si256(b, low16), _mm256_and_si256(noise, low16));
        __m256i r = _mm256_sub_epi32(_mm256_srli_epi32(b, 16), up);
        __m256i special = _mm256_cmpeq_epi32(_mm256_and_si256(b, exp_mask), exp_mask);
        store_halves(out + j, _mm256_blendv_epi8(r, bf16_rne(b), special));
    }
    if (j < n)
        adaopt_bf16_narrow_sr_scalar(in + j, out + j, n - j, seed, index0 + j);
}
