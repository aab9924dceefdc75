/*
 * test_precision.c -- the number formats of low-precision training (src/precision.h).
 *
 * References computed elsewhere: the CPU's own F16C conversions (Intel's round-to-nearest-even
 * of binary16), exact nearest-value arithmetic in double for bf16, bitsandbytes' binary search
 * transcribed for the 8-bit codes, and closed-form laws for stochastic rounding (over every value
 * of the noise bits that decide, the number of round-ups equals the dropped bits exactly).
 *
 *   test_precision              sampled inputs and every special value (fast; run everywhere)
 *   test_precision --exhaustive every one of the 2^32 float32 inputs for bf16 and fp16 rounding
 *                               and for both 8-bit quantizers (about a minute on two cores)
 * Prints "N passed, M failed".
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__F16C__)
#include <immintrin.h>
#endif

#include "../include/adaopt.h"
#include "../src/kernels/kernels.h"
#include "../src/precision.h"

static long failures, checks;

#define CHECK(cond, ...)                                                                      \
    do {                                                                                      \
        checks++;                                                                             \
        if (!(cond)) {                                                                        \
            if (failures++ < 20) {                                                            \
                fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                          \
                fprintf(stderr, __VA_ARGS__);                                                 \
                fprintf(stderr, "\n");                                                        \
            }                                                                                 \
        }                                                                                     \
    } while (0)

/* bf16 reference: the nearer of the two bf16 values around x, in exact double arithmetic, the
 * even one on a tie; NaN to a NaN of the same sign. */
static uint16_t bf16_reference(float x)
{
    uint32_t b = adaopt__f32_bits(x);
    if (isnan(x))
        return (uint16_t)((b >> 16) | 0x40);
    uint32_t lo = b & 0xffff0000u, hi = lo + 0x10000u;
    if ((b & 0xffffu) == 0)
        return (uint16_t)(lo >> 16);
    double vlo = fabs((double)adaopt__f32_from_bits(lo));
    double vhi = ((hi & 0x7f800000u) == 0x7f800000u) ? ldexp(1.0, 128)
                                                      : fabs((double)adaopt__f32_from_bits(hi));
    double ax = fabs((double)x), dlo = ax - vlo, dhi = vhi - ax;
    if (dlo < dhi || (dlo == dhi && ((lo >> 16) & 1u) == 0))
        return (uint16_t)(lo >> 16);
    return (uint16_t)(hi >> 16);
}

static int same_f16(uint16_t a, uint16_t b)
{
    int nan_a = (a & 0x7c00u) == 0x7c00u && (a & 0x3ffu), nan_b = (b & 0x7c00u) == 0x7c00u && (b & 0x3ffu);
    if (nan_a || nan_b)
        return nan_a && nan_b && (a & 0x8000u) == (b & 0x8000u);
    return a == b;
}

static uint16_t f16_reference(float x)
{
#if defined(__F16C__)
    return _cvtss_sh(x, _MM_FROUND_TO_NEAREST_INT);
#else
    (void)x;
    return 0;
#endif
}

/* ---- fast checks ---- */

static float special(int k)
{
    static const uint32_t bits[] = {
        0x00000000u, 0x80000000u, 0x00000001u, 0x807fffffu, 0x00800000u, 0x3f800000u,
        0xbf800000u, 0x7f7fffffu, 0xff7fffffu, 0x7f800000u, 0xff800000u, 0x7fc00000u,
        0xffc00001u, 0x7f800001u, 0x3f808000u, 0x3f818000u, 0x3f80ffffu, 0x477fe000u,
        0x477ff000u, 0x477fefffu, 0x38800000u, 0x387fffffu, 0x33800000u, 0x33000000u,
        0x33000001u, 0x337fffffu, 0x38000000u, 0x7f7f8000u, 0x7f7f7fffu, 0x3c00c000u};
    return adaopt__f32_from_bits(bits[k % (int)(sizeof bits / sizeof bits[0])]);
}

static uint32_t lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*s >> 32);
}

static void conversions_sampled(void)
{
    uint64_t s = 42;
    for (long k = 0; k < 2000000; k++) {
        float x = k < 60 ? special((int)k) : adaopt__f32_from_bits(lcg(&s));
        uint16_t got = adaopt__f32_to_bf16(x), want = bf16_reference(x);
        CHECK(got == want, "bf16(%a) = %04x, want %04x", (double)x, got, want);
#if defined(__F16C__)
        uint16_t h = adaopt__f32_to_f16(x), hw = f16_reference(x);
        CHECK(same_f16(h, hw), "f16(%a) = %04x, F16C %04x", (double)x, h, hw);
#endif
    }
    for (uint32_t h = 0; h < 65536; h++) { /* every fp16 and bf16 value widens exactly */
        float f = adaopt__f16_to_f32((uint16_t)h);
#if defined(__F16C__)
        float fw = _cvtsh_ss((uint16_t)h);
        CHECK(memcmp(&f, &fw, 4) == 0 || (isnan(f) && isnan(fw)), "f16 %04x -> %a, F16C %a", h,
              (double)f, (double)fw);
#endif
        if (!isnan(f))
            CHECK(same_f16(adaopt__f32_to_f16(f), (uint16_t)h), "f16 %04x does not round-trip", h);
        float g = adaopt__bf16_to_f32((uint16_t)h);
        if (!isnan(g))
            CHECK(adaopt__f32_to_bf16(g) == h, "bf16 %04x does not round-trip", h);
    }
}

/* Over every value of the deciding noise bits: only the two neighbours come out, and the number
 * of round-ups equals the dropped bits, so the mean is x exactly. */
static void stochastic_rounding_law(void)
{
    uint64_t s = 7;
    for (int k = 0; k < 300; k++) {
        float x;
        do
            x = adaopt__f32_from_bits(lcg(&s));
        while (!isfinite(x) || fabsf(x) > 3e38f);
        if (k < 100) /* values in fp16's range: normal and subnormal results */
            x = ldexpf((float)(lcg(&s) % 100000) / 99999.0f + 0.5f, (int)(lcg(&s) % 40) - 26) *
                (k % 2 ? 1.0f : -1.0f);
        uint32_t b = adaopt__f32_bits(x);
        /* bf16: 16 dropped bits */
        uint16_t down = (uint16_t)(b >> 16), up = (uint16_t)(down + 1);
        uint32_t ups = 0;
        for (uint32_t n = 0; n < 65536; n++) {
            uint16_t r = adaopt__f32_to_bf16_sr(x, n | (lcg(&s) << 16)); /* high bits: ignored */
            CHECK(r == down || r == up, "bf16 SR of %a gave %04x", (double)x, r);
            ups += r == up;
        }
        CHECK(ups == (b & 0xffffu), "bf16 SR of %a rounded up %u times in 65536, want %u",
              (double)x, ups, b & 0xffffu);
        /* fp16: the dropped bits depend on the result's exponent */
        float ax = fabsf(x);
        if (ax >= 65504.0f || ax < 0x1p-24f)
            continue;
        int dropped_bits = ax >= 0x1p-14f ? 13 : 126 - (int)((b >> 23) & 0xffu);
        if (dropped_bits > 20)
            continue;
        uint32_t n_noise = 1u << dropped_bits, mask = n_noise - 1u;
        uint32_t mant = (b & 0x7fffffu) | 0x800000u;
        uint32_t want_ups = ax >= 0x1p-14f ? (b & 0x1fffu) : (mant & mask);
        double sum = 0;
        ups = 0;
        uint16_t lo16 = 0xffff;
        for (uint32_t n = 0; n < n_noise; n++) {
            uint16_t r = adaopt__f32_to_f16_sr(x, n | (lcg(&s) << dropped_bits));
            lo16 = (uint16_t)((r & 0x7fffu) < lo16 ? (r & 0x7fffu) : lo16);
            sum += fabs((double)adaopt__f16_to_f32(r));
        }
        for (uint32_t n = 0; n < n_noise; n++)
            ups += (adaopt__f32_to_f16_sr(x, n) & 0x7fffu) != lo16;
        CHECK(ups == want_ups, "f16 SR of %a: %u round-ups of %u, want %u", (double)x, ups,
              n_noise, want_ups);
        CHECK(sum == fabs((double)x) * n_noise, "f16 SR of %a: mean %a", (double)x,
              sum / n_noise);
    }
    CHECK(adaopt__f32_to_bf16_sr(INFINITY, 0) == 0x7f80u, "bf16 SR of inf");
    CHECK(isnan(adaopt__bf16_to_f32(adaopt__f32_to_bf16_sr(NAN, 0))), "bf16 SR of NaN");
    CHECK(adaopt__f32_to_f16_sr(1e6f, 0) == 0x7c00u, "f16 SR past the range");
}

static void noise_is_a_function_of_its_counters(void)
{
    uint32_t a = adaopt__noise_seed(1234, 3, 17), b = adaopt__noise_seed(1234, 3, 18);
    uint32_t c = adaopt__noise_seed(1234, 4, 17), d = adaopt__noise_seed(1235, 3, 17);
    CHECK(a != b && a != c && a != d && a == adaopt__noise_seed(1234, 3, 17), "seeds");
    double mean = 0;
    int equal = 0;
    for (uint64_t i = 0; i < 1000000; i++) {
        mean += (double)(adaopt__noise(a, i) & 0xffffu);
        equal += adaopt__noise(a, i) == adaopt__noise(b, i);
    }
    mean /= 1e6;
    CHECK(fabs(mean - 32767.5) < 100.0, "the low 16 bits' mean is %g", mean);
    CHECK(equal < 5, "two steps' streams agree in %d of 1e6 places", equal);
    CHECK(adaopt__noise(a, (uint64_t)1 << 33) != adaopt__noise(a, 0), "index past 2^32");
}

static void maps_and_quantizer_sampled(void)
{
    const float *qs = ADAOPT__QMAP_SIGNED, *qu = ADAOPT__QMAP_UNSIGNED;
    for (int c = 0; c < 255; c++) {
        CHECK(qs[c] < qs[c + 1], "signed map not ascending at %d", c);
        CHECK(qu[c] < qu[c + 1], "unsigned map not ascending at %d", c);
    }
    CHECK(qs[127] == 0.0f && qs[255] == 1.0f && qu[0] == 0.0f && qu[255] == 1.0f, "fixed points");
    CHECK(fabsf(qs[0] + 0.992968738f) < 1e-7f && fabsf(qs[128] - 5.5e-7f) < 1e-12f,
          "signed ends");
    CHECK(fabsf(qu[1] - 3.25e-7f) < 1e-12f && fabsf(qu[254] - 0.996484399f) < 1e-7f,
          "unsigned ends");
    static adaopt__qtable ts, tu;
    adaopt__qtable_init(&ts, 1);
    adaopt__qtable_init(&tu, 0);
    uint64_t s = 99;
    for (long k = 0; k < 3000000; k++) {
        float x;
        if (k < 256 * 3) { /* every code, and its two midpoints */
            const float *m = k < 256 * 3 / 2 ? qs : qu;
            int c = (int)(k % 256);
            x = k % 3 == 0 ? m[c] : (c < 255 ? (m[c] + m[c + 1]) * 0.5f : 2.0f);
        } else if (k % 2) {
            x = ((float)lcg(&s) / 4294967296.0f * 2.0f - 1.0f) * ldexpf(1.0f, -(int)(lcg(&s) % 30));
        } else {
            x = adaopt__f32_from_bits(lcg(&s));
        }
        uint8_t got = adaopt__quantize(&ts, x), want = adaopt__quantize_reference(qs, 1, x);
        CHECK(got == want, "signed code of %a: %u, reference %u", (double)x, got, want);
        got = adaopt__quantize(&tu, x);
        want = adaopt__quantize_reference(qu, 0, x);
        CHECK(got == want, "unsigned code of %a: %u, reference %u", (double)x, got, want);
    }
    /* bitsandbytes' documented edges: NaN -> 0; 0 -> 127 (signed), 0 (unsigned); 1 -> 255 */
    CHECK(adaopt__quantize(&ts, NAN) == 0 && adaopt__quantize(&tu, NAN) == 0, "NaN");
    CHECK(adaopt__quantize(&ts, 0.0f) == 127 && adaopt__quantize(&tu, 0.0f) == 0, "zero");
    CHECK(adaopt__quantize(&ts, 1.0f) == 255 && adaopt__quantize(&tu, 1.0f) == 255, "one");
    /* nearest: every code decodes to itself, and round-trips of random values land on a
     * neighbour of the nearest map value */
    for (int c = 0; c < 256; c++) {
        CHECK(adaopt__quantize(&ts, qs[c]) == c, "signed code %d of its own value", c);
        CHECK(adaopt__quantize(&tu, qu[c]) == c, "unsigned code %d of its own value", c);
    }
}

/* ---- all 2^32 inputs ---- */

static void exhaustive(void)
{
    static adaopt__qtable ts, tu;
    adaopt__qtable_init(&ts, 1);
    adaopt__qtable_init(&tu, 0);
    long bad_bf16 = 0, bad_f16 = 0, bad_qs = 0, bad_qu = 0;
#pragma omp parallel for schedule(dynamic, 1) reduction(+ : bad_bf16, bad_f16, bad_qs, bad_qu)
    for (long hi = 0; hi < 65536; hi++) {
        for (uint32_t lo = 0; lo < 65536; lo++) {
            float x = adaopt__f32_from_bits((uint32_t)hi << 16 | lo);
            bad_bf16 += adaopt__f32_to_bf16(x) != bf16_reference(x);
#if defined(__F16C__)
            bad_f16 += !same_f16(adaopt__f32_to_f16(x), f16_reference(x));
#endif
            bad_qs += adaopt__quantize(&ts, x) != adaopt__quantize_reference(ADAOPT__QMAP_SIGNED, 1, x);
            bad_qu += adaopt__quantize(&tu, x) != adaopt__quantize_reference(ADAOPT__QMAP_UNSIGNED, 0, x);
        }
    }
    CHECK(bad_bf16 == 0, "bf16 rounding differs from the reference on %ld inputs", bad_bf16);
    CHECK(bad_f16 == 0, "fp16 rounding differs from F16C on %ld inputs", bad_f16);
    CHECK(bad_qs == 0, "the signed quantizer differs from the search on %ld inputs", bad_qs);
    CHECK(bad_qu == 0, "the unsigned quantizer differs from the search on %ld inputs", bad_qu);
    printf("exhaustive: 2^32 inputs, bf16 and fp16 rounding and both quantizers: %ld, %ld, %ld, "
           "%ld differences\n", bad_bf16, bad_f16, bad_qs, bad_qu);
}

/* The vector stochastic-rounding kernels against the scalar one at element indices where the
 * low 32 bits wrap inside a vector (each lane's noise is a function of its 64-bit index), with
 * infinities and NaN among the values. */
static void vector_sr_near_index_wrap(void)
{
#if defined(__x86_64__)
    enum { N = 100 };
    float in[N];
    uint64_t s = 7;
    for (int j = 0; j < N; j++) {
        in[j] = ((float)lcg(&s) / 4294967296.0f * 2.0f - 1.0f) * ldexpf(1.0f, -(int)(lcg(&s) % 20));
        if (j % 37 == 5)
            in[j] = j % 2 ? INFINITY : NAN;
    }
    static const uint64_t starts[] = {0, 5, 0xffffffe0u, 0xfffffff3u, 0xfffffff9u,
                                      ((uint64_t)1 << 32) - 3, ((uint64_t)1 << 33) + 7};
    for (size_t k = 0; k < sizeof starts / sizeof starts[0]; k++) {
        uint16_t want[N], got[N];
        adaopt_bf16_narrow_sr_scalar(in, want, N, 0x9e3779b9u, starts[k]);
        if (adaopt_isa_supported(ADAOPT_ISA_AVX2)) {
            adaopt_bf16_narrow_sr_avx2(in, got, N, 0x9e3779b9u, starts[k]);
            CHECK(memcmp(want, got, sizeof want) == 0, "AVX2 SR from index %llu",
                  (unsigned long long)starts[k]);
        }
        if (adaopt_isa_supported(ADAOPT_ISA_AVX512)) {
            adaopt_bf16_narrow_sr_avx512(in, got, N, 0x9e3779b9u, starts[k]);
            CHECK(memcmp(want, got, sizeof want) == 0, "AVX-512 SR from index %llu",
                  (unsigned long long)starts[k]);
        }
    }
#endif
}

int main(int argc, char **argv)
{
    int all = argc > 1 && strcmp(argv[1], "--exhaustive") == 0;
#if !defined(__F16C__)
    printf("note: built without F16C; fp16 rounding is checked by its laws only\n");
#endif
    if (all) {
        exhaustive();
    } else {
        conversions_sampled();
        stochastic_rounding_law();
        noise_is_a_function_of_its_counters();
        vector_sr_near_index_wrap();
        maps_and_quantizer_sampled();
    }
    printf("%ld checks: %s\n", checks, failures ? "FAILED" : "all passed");
    printf("%d passed, %d failed\n", failures ? 0 : 1, failures ? 1 : 0);
    return failures ? 1 : 0;
}
