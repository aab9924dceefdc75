/*
 * dispatch.c -- the kernel table of each ISA, and which ISAs this build and CPU can run.
 * Tables are constant; the choice is stored in each optimizer (no global mutable state).
 */
#include <stddef.h>

#include "kernels.h"
#include "../../include/adaopt.h"

/* The update kernels of `isa` with the conversions of `lowp`. */
#define TABLE(isa, lowp)                                                                      \
    {{                                                                                        \
         [ADAOPT_ALGO_SGD] = adaopt_sgd_##isa,                                                \
         [ADAOPT_ALGO_ADAGRAD] = adaopt_adagrad_##isa,                                        \
         [ADAOPT_ALGO_RMSPROP] = adaopt_rmsprop_##isa,                                        \
         [ADAOPT_ALGO_ADAM] = adaopt_adam_##isa,                                              \
         [ADAOPT_ALGO_ADAMW] = adaopt_adam_##isa,                                             \
         [ADAOPT_ALGO_ADAMAX] = adaopt_adamax_##isa,                                          \
         [ADAOPT_ALGO_NADAM] = adaopt_nadam_##isa,                                            \
         [ADAOPT_ALGO_RADAM] = adaopt_radam_##isa,                                            \
         [ADAOPT_ALGO_LION] = adaopt_lion_##isa,                                              \
         [ADAOPT_ALGO_ADAMW_SCHEDULE_FREE] = adaopt_sf_adamw_##isa,                           \
         [ADAOPT_ALGO_LAMB] = adaopt_lamb_apply_##isa,                                        \
         [ADAOPT_ALGO_ADADELTA] = adaopt_adadelta_##isa,                                      \
         [ADAOPT_ALGO_RPROP] = adaopt_rprop_scalar, /* (its selects: the scalar loop) */      \
         [ADAOPT_ALGO_ASGD] = adaopt_asgd_##isa,                                              \
     },                                                                                       \
     adaopt_lamb_moments_##isa,                                                               \
     {adaopt_af_matrix_u_##isa, adaopt_af_matrix_apply_##isa, adaopt_af_vector_u_##isa,        \
      adaopt_af_vector_apply_##isa, adaopt_af_row_sums_##isa, adaopt_af_apply_u_##isa},       \
     {adaopt_decode8_##lowp, adaopt_encode8_##lowp, adaopt_bf16_widen_##lowp,                 \
      adaopt_bf16_narrow_##lowp, adaopt_bf16_narrow_sr_##lowp},                               \
     adaopt_gemm_tile_##isa}

static const adaopt_kernel_table SCALAR = TABLE(scalar, scalar);
#if defined(ADAOPT_HAVE_X86_KERNELS)
static const adaopt_kernel_table AVX2 = TABLE(avx2, avx2);
static const adaopt_kernel_table AVX512 = {
    {
        [ADAOPT_ALGO_SGD] = adaopt_sgd_avx512,
        [ADAOPT_ALGO_ADAGRAD] = adaopt_adagrad_avx512,
        [ADAOPT_ALGO_RMSPROP] = adaopt_rmsprop_avx512,
        [ADAOPT_ALGO_ADAM] = adaopt_adam_avx512,
        [ADAOPT_ALGO_ADAMW] = adaopt_adam_avx512,
        [ADAOPT_ALGO_ADAMAX] = adaopt_adamax_avx512,
        [ADAOPT_ALGO_NADAM] = adaopt_nadam_avx512,
        [ADAOPT_ALGO_RADAM] = adaopt_radam_avx512,
        [ADAOPT_ALGO_LION] = adaopt_lion_avx512,
        [ADAOPT_ALGO_ADAMW_SCHEDULE_FREE] = adaopt_sf_adamw_avx512,
        [ADAOPT_ALGO_LAMB] = adaopt_lamb_apply_avx512,
        [ADAOPT_ALGO_ADADELTA] = adaopt_adadelta_avx512,
        [ADAOPT_ALGO_RPROP] = adaopt_rprop_scalar,
        [ADAOPT_ALGO_ASGD] = adaopt_asgd_avx512,
    },
    adaopt_lamb_moments_avx512,
    {adaopt_af_matrix_u_avx512, adaopt_af_matrix_apply_avx512, adaopt_af_vector_u_avx512,
     adaopt_af_vector_apply_avx512, adaopt_af_row_sums_avx512, adaopt_af_apply_u_avx512},
    {adaopt_decode8_avx512, adaopt_encode8_avx512, adaopt_bf16_widen_avx512,
     adaopt_bf16_narrow_avx512, adaopt_bf16_narrow_sr_avx512},
    adaopt_gemm_tile_avx512};
#endif
#if defined(ADAOPT_HAVE_NEON_KERNELS)
static const adaopt_kernel_table NEON = TABLE(neon, scalar);
#endif

const adaopt_kernel_table *adaopt__kernel_table(int isa)
{
    switch (isa) {
    case ADAOPT_ISA_SCALAR:
        return &SCALAR;
#if defined(ADAOPT_HAVE_X86_KERNELS)
    case ADAOPT_ISA_AVX2:
        /* (the AVX2 kernels use FMA3 where torch fuses: Lion; every AVX2 CPU has it) */
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? &AVX2 : NULL;
    case ADAOPT_ISA_AVX512:
        return __builtin_cpu_supports("avx512f") ? &AVX512 : NULL;
#endif
#if defined(ADAOPT_HAVE_NEON_KERNELS)
    case ADAOPT_ISA_NEON:
        return &NEON; /* NEON is part of every AArch64 CPU */
#endif
    default:
        return NULL;
    }
}

int adaopt__best_isa(void)
{
    const int order[] = {ADAOPT_ISA_AVX512, ADAOPT_ISA_AVX2, ADAOPT_ISA_NEON};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
        if (adaopt__kernel_table(order[i]) != NULL)
            return order[i];
    return ADAOPT_ISA_SCALAR;
}

const char *adaopt_isa_name(adaopt_isa isa)
{
    static const char *const names[] = {"auto", "scalar", "avx2", "avx512", "neon"};
    return isa >= ADAOPT_ISA_AUTO && isa <= ADAOPT_ISA_NEON ? names[isa] : NULL;
}

int adaopt_isa_supported(adaopt_isa isa)
{
    return isa == ADAOPT_ISA_AUTO || adaopt__kernel_table(isa) != NULL;
}
