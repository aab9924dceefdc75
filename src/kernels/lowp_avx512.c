/*
 * lowp_avx512.c -- the 8-bit and bf16 conversions for AVX-512F (16 lanes, masks instead of
 * blends), lane for lane the operations of their scalar twins in lowp.c and of lowp_avx2.c,
 * so the bits are the same on every ISA (tests/test_lowp.c).  Compiled with -mavx512f only for
 * this file, used only when the CPU has AVX-512F (dispatch.c).
 */
#include <immintrin.h>
#include <math.h>

#include "kernels.h"
#include "../precision.h"

void adaopt_decode8_avx512(const uint8_t *code, const float *map, float absmax, float *out,
                           size_t n)
{
    const __m512 scale = _mm512_set1_ps(absmax);
    size_t j = 0;
    for (; j + 16 <= n; j += 16) {
        __m512i c = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(code + j)));
        _mm512_storeu_ps(out + j, _mm512_mul_ps(_mm512_i32gather_ps(c, map, 4), scale));
    }
    if (j < n)
        adaopt_decode8_scalar(code + j, map, absmax, out + j, n - j);
}

/* adaopt__quantize of 16 lanes (precision.h). */
static inline __m512i quantize16(const adaopt__qtable *q, __m512 y)
{
    const __m512i b = _mm512_castps_si512(y);
    const __mmask16 is_nan = _mm512_cmpgt_epi32_mask(
        _mm512_and_si512(b, _mm512_set1_epi32(0x7fffffff)), _mm512_set1_epi32(0x7f800000));
    __m512i e = _mm512_and_si512(_mm512_srli_epi32(b, 23), _mm512_set1_epi32(0xff));
    e = _mm512_max_epi32(e, _mm512_set1_epi32(ADAOPT__QT_EXP_MIN));
    e = _mm512_min_epi32(e, _mm512_set1_epi32(ADAOPT__QT_EXP_MIN + ADAOPT__QT_EXPS - 1));
    __m512i key = _mm512_add_epi32(_mm512_mullo_epi32(_mm512_srli_epi32(b, 31),
                                                      _mm512_set1_epi32(ADAOPT__QT_EXPS)),
                                   _mm512_sub_epi32(e, _mm512_set1_epi32(ADAOPT__QT_EXP_MIN)));
    key = _mm512_add_epi32(_mm512_slli_epi32(key, 7),
                           _mm512_and_si512(_mm512_srli_epi32(b, 16), _mm512_set1_epi32(0x7f)));
    __m512i c = _mm512_and_si512(_mm512_i32gather_epi32(key, (const void *)q->code, 1),
                                 _mm512_set1_epi32(0xff));
    __mmask16 up = _mm512_cmp_ps_mask(y, _mm512_i32gather_ps(c, q->bound, 4), _CMP_GT_OQ);
    c = _mm512_mask_add_epi32(c, up, c, _mm512_set1_epi32(1));
    return _mm512_maskz_mov_epi32((__mmask16)~is_nan, c); /* NaN: 0 */
}

float adaopt_encode8_avx512(const struct adaopt__qtable *q, int is_signed, const float *in,
                            size_t n, uint8_t *code)
{
    const __m512i magnitude = _mm512_set1_epi32(0x7fffffff);
    __m512 vmax = _mm512_setzero_ps();
    size_t j = 0;
    for (; j + 16 <= n; j += 16) { /* max_ps returns its second operand when one is NaN */
        __m512i bits = _mm512_castps_si512(_mm512_loadu_ps(in + j));
        vmax = _mm512_max_ps(_mm512_castsi512_ps(_mm512_and_si512(bits, magnitude)), vmax);
    }
    float lanes[16], absmax = 0.0f;
    _mm512_storeu_ps(lanes, vmax);
    for (int k = 0; k < 16; k++)
        absmax = lanes[k] > absmax ? lanes[k] : absmax;
    for (; j < n; j++) {
        float a = fabsf(in[j]);
        absmax = a > absmax ? a : absmax;
    }
    const __m512 scale = _mm512_set1_ps(absmax);
    const __m512i one = _mm512_set1_epi32(1);
    j = 0;
    for (; j + 16 <= n; j += 16) {
        __m512 x = _mm512_loadu_ps(in + j);
        __m512i c = quantize16(q, _mm512_div_ps(x, scale));
        if (is_signed) { /* the sign fix; the signed map is negative exactly below code 127 */
            __mmask16 map_negative = _mm512_cmplt_epi32_mask(c, _mm512_set1_epi32(127));
            __mmask16 x_negative = _mm512_cmplt_epi32_mask(_mm512_castps_si512(x),
                                                           _mm512_setzero_si512());
            __mmask16 flip = (__mmask16)(map_negative ^ x_negative);
            __mmask16 positive = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_GT_OQ);
            c = _mm512_mask_add_epi32(c, (__mmask16)(flip & positive), c, one);
            c = _mm512_mask_sub_epi32(c, (__mmask16)(flip & ~positive), c, one);
            c = _mm512_and_si512(c, _mm512_set1_epi32(0xff));
        }
        _mm_storeu_si128((__m128i *)(code + j), _mm512_cvtepi32_epi8(c));
    }
    for (; j < n; j++) /* the tail, as the scalar twin does with the same absmax */
        code[j] = adaopt__encode8_one(q, is_signed, in[j], absmax);
    return absmax;
}

void adaopt_bf16_widen_avx512(const uint16_t *in, float *out, size_t n)
{
    size_t j = 0;
    for (; j + 16 <= n; j += 16) {
        __m512i h = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(in + j)));
        _mm512_storeu_ps(out + j, _mm512_castsi512_ps(_mm512_slli_epi32(h, 16)));
    }
    if (j < n)
        adaopt_bf16_widen_scalar(in + j, out + j, n - j);
}

/* Round to nearest-even, NaN to a quiet NaN of the same sign (precision.h); 16 lanes. */
static inline __m512i bf16_rne16(__m512i b)
{
    __mmask16 is_nan = _mm512_cmpgt_epi32_mask(_mm512_and_si512(b, _mm512_set1_epi32(0x7fffffff)),
                                               _mm512_set1_epi32(0x7f800000));
    __m512i odd = _mm512_and_si512(_mm512_srli_epi32(b, 16), _mm512_set1_epi32(1));
    __m512i r = _mm512_srli_epi32(
        _mm512_add_epi32(_mm512_add_epi32(b, _mm512_set1_epi32(0x7fff)), odd), 16);
    __m512i quiet = _mm512_or_si512(_mm512_srli_epi32(b, 16), _mm512_set1_epi32(0x40));
    return _mm512_mask_mov_epi32(r, is_nan, quiet);
}

void adaopt_bf16_narrow_avx512(const float *in, uint16_t *out, size_t n)
{
    size_t j = 0;
    for (; j + 16 <= n; j += 16) {
        __m512i r = bf16_rne16(_mm512_castps_si512(_mm512_loadu_ps(in + j)));
        _mm256_storeu_si256((__m256i *)(out + j), _mm512_cvtepi32_epi16(r));
    }
    if (j < n)
        adaopt_bf16_narrow_scalar(in + j, out + j, n - j);
}

/* SquirrelNoise5 of 16 positions (precision.h). */
static inline __m512i squirrel5_16(__m512i x, __m512i seed)
{
    x = _mm512_mullo_epi32(x, _mm512_set1_epi32((int)0xd2a80a3fu));
    x = _mm512_add_epi32(x, seed);
    x = _mm512_xor_si512(x, _mm512_srli_epi32(x, 9));
    x = _mm512_add_epi32(x, _mm512_set1_epi32((int)0xa884f197u));
    x = _mm512_xor_si512(x, _mm512_srli_epi32(x, 11));
    x = _mm512_mullo_epi32(x, _mm512_set1_epi32((int)0x6c736f4bu));
    x = _mm512_xor_si512(x, _mm512_srli_epi32(x, 13));
    x = _mm512_add_epi32(x, _mm512_set1_epi32((int)0xb79f3abbu));
    x = _mm512_xor_si512(x, _mm512_srli_epi32(x, 15));
    x = _mm512_mullo_epi32(x, _mm512_set1_epi32((int)0x1b56c4f5u));
    return _mm512_xor_si512(x, _mm512_srli_epi32(x, 17));
}

/* Stochastic rounding, lane for lane adaopt_bf16_narrow_sr_scalar / _avx2: round away from
 * zero when the noise's low 16 bits are below the dropped ones; infinities and NaN as RNE. */
void adaopt_bf16_narrow_sr_avx512(const float *in, uint16_t *out, size_t n, uint32_t seed,
                                  uint64_t index0)
{
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i low16 = _mm512_set1_epi32(0xffff), exp_mask = _mm512_set1_epi32(0x7f800000);
    const __m512i one = _mm512_set1_epi32(1);
    size_t j = 0;
    for (; j + 16 <= n; j += 16) {
        uint64_t index = index0 + j;
        if ((uint32_t)index > 0xfffffff0u)
            break; /* the 16 lanes would not share their index's high 32 bits: the scalar twin */
        uint32_t s = (index >> 32) == 0 ? seed : adaopt__squirrel5((uint32_t)(index >> 32), seed);
        __m512i pos = _mm512_add_epi32(_mm512_set1_epi32((int)(uint32_t)index), lane);
        __m512i noise = squirrel5_16(pos, _mm512_set1_epi32((int)s));
        __m512i b = _mm512_castps_si512(_mm512_loadu_ps(in + j));
        __mmask16 up = _mm512_cmpgt_epi32_mask(_mm512_and_si512(b, low16),
                                               _mm512_and_si512(noise, low16));
        __m512i r = _mm512_mask_add_epi32(_mm512_srli_epi32(b, 16), up,
                                          _mm512_srli_epi32(b, 16), one);
        __mmask16 special = _mm512_cmpeq_epi32_mask(_mm512_and_si512(b, exp_mask), exp_mask);
        r = _mm512_mask_mov_epi32(r, special, bf16_rne16(b));
        _mm256_storeu_si256((__m256i *)(out + j), _mm512_cvtepi32_epi16(r));
    }
    if (j < n)
        adaopt_bf16_narrow_sr_scalar(in + j, out + j, n - j, seed, index0 + j);
}
