/*
 * avx512.c -- the kernels for x86-64 AVX-512F (16 floats a vector).  Compiled with -mavx512f
 * only for this file; called only when the CPU reports AVX-512F (dispatch.c).
 */
#include <immintrin.h>

#define VEC __m512
#define W 16
#define KERNEL(name) adaopt_##name##_avx512
#define VLOAD(ptr) _mm512_loadu_ps(ptr)
#define VSTORE(ptr, x) _mm512_storeu_ps((ptr), (x))
#define VSET1(x) _mm512_set1_ps(x)
#define VADD _mm512_add_ps
#define VSUB _mm512_sub_ps
#define VMUL _mm512_mul_ps
#define VDIV _mm512_div_ps
#define VSQRT _mm512_sqrt_ps
/* AVX-512F has no float xor/andnot (that is AVX-512DQ): go through the integer view. */
#define VXOR(a, b) _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(a), _mm512_castps_si512(b)))
#define VABS(x) _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32(0x7fffffff)))
/* a * b + c, one rounding (used only where torch's own kernels fuse: Lion) */
#define VFMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
/* 1 where x > 0, -1 where x < 0, x itself otherwise (zeros, NaN) */
#define VSIGN(x)                                                                              \
    _mm512_mask_blend_ps(_mm512_cmp_ps_mask((x), _mm512_setzero_ps(), _CMP_GT_OQ),             \
                         _mm512_mask_blend_ps(_mm512_cmp_ps_mask((x), _mm512_setzero_ps(),     \
                                                                 _CMP_LT_OQ),                  \
                                              (x), _mm512_set1_ps(-1.0f)),                     \
                         _mm512_set1_ps(1.0f))
#define VMAX_NAN(a, b)                                                                        \
    _mm512_mask_blend_ps(_mm512_cmp_ps_mask((a), (b), _CMP_GT_OQ) |                           \
                             _mm512_cmp_ps_mask((a), (a), _CMP_UNORD_Q),                      \
                         (b), (a))

/* LAMB's 16 double accumulators (simd_body.h): lanes 0-7 and 8-15 of a vector, widened */
typedef struct {
    __m512d r[2];
} SQ16;
static inline void sq16_load(SQ16 *s, const double *acc)
{
    s->r[0] = _mm512_loadu_pd(acc);
    s->r[1] = _mm512_loadu_pd(acc + 8);
}
static inline void sq16_add(SQ16 *s, __m512 x, int k) /* k: always 0 (16 lanes) */
{
    (void)k;
    __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(x));
    __m512d hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(x), 1)));
    s->r[0] = _mm512_fmadd_pd(lo, lo, s->r[0]);
    s->r[1] = _mm512_fmadd_pd(hi, hi, s->r[1]);
}
static inline void sq16_store(const SQ16 *s, double *acc)
{
    _mm512_storeu_pd(acc, s->r[0]);
    _mm512_storeu_pd(acc + 8, s->r[1]);
}

#define GEMM_ROWS 8 /* 16 accumulators of 32 registers */
#include "simd_body.h"
