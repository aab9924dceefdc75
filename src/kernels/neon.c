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

#include "simd_body.h"
