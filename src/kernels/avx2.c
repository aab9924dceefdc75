/*
 * avx2.c -- the kernels for x86-64 AVX2 (8 floats a vector).  Compiled with -mavx2 only for
 * this file; called only when the CPU reports AVX2 (dispatch.c).  The body is simd_body.h.
 */
#include <immintrin.h>

#define VEC __m256
#define W 8
#define KERNEL(name) adaopt_##name##_avx2
#define VLOAD(ptr) _mm256_loadu_ps(ptr)
#define VSTORE(ptr, x) _mm256_storeu_ps((ptr), (x))
#define VSET1(x) _mm256_set1_ps(x)
#define VADD _mm256_add_ps
#define VSUB _mm256_sub_ps
#define VMUL _mm256_mul_ps
#define VDIV _mm256_div_ps
#define VSQRT _mm256_sqrt_ps
#define VXOR _mm256_xor_ps
#define VABS(x) _mm256_andnot_ps(_mm256_set1_ps(-0.0f), (x))
/* (a is NaN or a > b) ? a : b, as torch.maximum / scalar.c's max_propagate_nan */
/* a * b + c, one rounding (used only where torch's own kernels fuse: Lion; FMA3) */
#define VFMA(a, b, c) _mm256_fmadd_ps((a), (b), (c))
/* 1 where x > 0, -1 where x < 0, x itself otherwise (zeros, NaN) */
#define VSIGN(x)                                                                              \
    _mm256_blendv_ps(_mm256_blendv_ps((x), _mm256_set1_ps(-1.0f),                             \
                                      _mm256_cmp_ps((x), _mm256_setzero_ps(), _CMP_LT_OQ)),    \
                     _mm256_set1_ps(1.0f), _mm256_cmp_ps((x), _mm256_setzero_ps(), _CMP_GT_OQ))
#define VMAX_NAN(a, b)                                                                        \
    _mm256_blendv_ps((b), (a),                                                                \
                     _mm256_or_ps(_mm256_cmp_ps((a), (b), _CMP_GT_OQ),                        \
                                  _mm256_cmp_ps((a), (a), _CMP_UNORD_Q)))

/* LAMB's 16 double accumulators (simd_body.h): a vector of 8 lanes at offset k (0 or 8) of each
 * 16 goes, widened, into accumulators k..k+3 and k+4..k+7 */
typedef struct {
    __m256d r[4];
} SQ16;
static inline void sq16_load(SQ16 *s, const double *acc)
{
    for (int j = 0; j < 4; j++)
        s->r[j] = _mm256_loadu_pd(acc + 4 * j);
}
static inline void sq16_add(SQ16 *s, __m256 x, int k)
{
    __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(x));
    __m256d hi = _mm256_cvtps_pd(_mm256_extractf128_ps(x, 1));
    s->r[k / 4] = _mm256_fmadd_pd(lo, lo, s->r[k / 4]);
    s->r[k / 4 + 1] = _mm256_fmadd_pd(hi, hi, s->r[k / 4 + 1]);
}
static inline void sq16_store(const SQ16 *s, double *acc)
{
    for (int j = 0; j < 4; j++)
        _mm256_storeu_pd(acc + 4 * j, s->r[j]);
}

#include "simd_body.h"
