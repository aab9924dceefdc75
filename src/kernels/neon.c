/*
 * neon.c -- the kernels for AArch64 NEON (4 floats a vector; AArch64 NEON has IEEE division and
 * square root).  Built only on AArch64.
 */
#include <arm_neon.h>

#define VEC float32x4_t
#define W 4
#define KERNEL(name) adaopt_##name##_neon
#define VLOAD(ptr) vld1q_f32(ptr)
#define VSTORE(ptr, x) vst1q_f32((ptr), (x))
#define VSET1(x) vdupq_n_f32(x)
#define VADD vaddq_f32
#define VSUB vsubq_f32
#define VMUL vmulq_f32
#define VDIV vdivq_f32
#define VSQRT vsqrtq_f32
#define VXOR(a, b) vreinterpretq_f32_u32(veorq_u32(vreinterpretq_u32_f32(a), vreinterpretq_u32_f32(b)))
#define VABS vabsq_f32
/* a > b, or a is NaN (a != a) */
/* a * b + c, one rounding (used only where torch's own kernels fuse: Lion) */
#define VFMA(a, b, c) vfmaq_f32((c), (a), (b))
/* 1 where x > 0, -1 where x < 0, x itself otherwise (zeros, NaN) */
#define VSIGN(x)                                                                              \
    vbslq_f32(vcgtq_f32((x), vdupq_n_f32(0.0f)), vdupq_n_f32(1.0f),                          \
              vbslq_f32(vcltq_f32((x), vdupq_n_f32(0.0f)), vdupq_n_f32(-1.0f), (x)))
#define VMAX_NAN(a, b) vbslq_f32(vorrq_u32(vcgtq_f32((a), (b)), vmvnq_u32(vceqq_f32((a), (a)))), (a), (b))

/* LAMB's 16 double accumulators (simd_body.h): a vector of 4 lanes at offset k (0, 4, 8, 12) of
 * each 16 goes, widened, into accumulators k, k+1 and k+2, k+3 */
typedef struct {
    float64x2_t r[8];
} SQ16;
static inline void sq16_load(SQ16 *s, const double *acc)
{
    for (int j = 0; j < 8; j++)
        s->r[j] = vld1q_f64(acc + 2 * j);
}
static inline void sq16_add(SQ16 *s, float32x4_t x, int k)
{
    float64x2_t lo = vcvt_f64_f32(vget_low_f32(x)), hi = vcvt_high_f64_f32(x);
    s->r[k / 2] = vfmaq_f64(s->r[k / 2], lo, lo);
    s->r[k / 2 + 1] = vfmaq_f64(s->r[k / 2 + 1], hi, hi);
}
static inline void sq16_store(const SQ16 *s, double *acc)
{
    for (int j = 0; j < 8; j++)
        vst1q_f64(acc + 2 * j, s->r[j]);
}

#include "simd_body.h"
