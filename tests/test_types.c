/* test_types.c — element types: traits, f16/bf16 conversion, the 32-value
 * block formats (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0) and the Q8_0/Q4_0 quantizers,
 * checked against values computed independently here and against files
 * made by llama-quantize. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/gguf.h"
#include "test_util.h"
#include "format/types.h"
#include "types_test_helpers.h"

/* ---- independent references ------------------------------------------- */

/* Round |f| to the half grid in double (exact: the quotient by a power of two
 * is exact and nearbyint rounds ties to even), then encode the result. */
static uint16_t ref_f16_bits(float f) {
    uint16_t sign = f32_bits(f) >> 31 ? 0x8000 : 0;
    if (isnan(f)) return sign | 0x7e00;
    double a = fabs((double)f);
    if (isinf(f) || a >= 65536.0) return sign | 0x7c00;
    int e;
    frexp(a, &e);                                   /* a = m * 2^e, m in [0.5, 1) */
    double step = a < ldexp(1, -14) ? ldexp(1, -24) : ldexp(1, e - 11);
    double r = nearbyint(a / step) * step;
    if (r >= 65536.0) return sign | 0x7c00;
    if (r < ldexp(1, -14)) return sign | (uint16_t)(r / ldexp(1, -24));
    frexp(r, &e);
    uint16_t mant = (uint16_t)(r / ldexp(1, e - 1) * 1024 - 1024);
    return sign | (uint16_t)((e - 1 + 15) << 10) | mant;
}

static uint16_t ref_bf16_bits(float f) {
    uint16_t sign = f32_bits(f) >> 31 ? 0x8000 : 0;
    if (isnan(f)) return sign | 0x7fc0;
    if (isinf(f)) return sign | 0x7f80;
    double a = fabs((double)f);
    int e;
    frexp(a, &e);
    double step = a < ldexp(1, -126) ? ldexp(1, -133) : ldexp(1, e - 8);
    double r = nearbyint(a / step) * step;
    if (r >= ldexp(1, 128)) return sign | 0x7f80;
    return sign | (uint16_t)(f32_bits((float)r) >> 16);
}

/* ---- traits ------------------------------------------------------------- */

Test(types, traits_and_row_size) {
    cr_assert_str_eq(vka_type_name(VKA_TYPE_Q4_K), "q4_K");
    cr_assert_str_eq(vka_type_name(4), "unknown");          /* removed Q4_2 */
    cr_assert_str_eq(vka_type_name(VKA_TYPE_COUNT), "unknown");
    cr_assert_null(vka_type_get_traits(5));
    /* sizes from ggml's block structs, added up by hand */
    cr_assert_eq(vka_type_row_size(VKA_TYPE_F32, 7), 28);
    cr_assert_eq(vka_type_row_size(VKA_TYPE_BF16, 3), 6);
    cr_assert_eq(vka_type_row_size(VKA_TYPE_Q4_0, 64), 2 * (2 + 16));
    cr_assert_eq(vka_type_row_size(VKA_TYPE_Q4_1, 32), 2 + 2 + 16);
    cr_assert_eq(vka_type_row_size(VKA_TYPE_Q5_0, 32), 2 + 4 + 16);
    cr_assert_eq(vka_type_row_size(VKA_TYPE_Q5_1, 32), 2 + 2 + 4 + 16);
    cr_assert_eq(vka_type_row_size(VKA_TYPE_Q8_0, 96), 3 * (2 + 32));
    cr_assert_eq(vka_type_row_size(VKA_TYPE_Q2_K, 256), 16 + 64 + 2 + 2);
    cr_assert_eq(vka_type_row_size(VKA_TYPE_Q3_K, 256), 32 + 64 + 12 + 2);
    cr_assert_eq(vka_type_row_size(VKA_TYPE_Q4_K, 512), 2 * (2 + 2 + 12 + 128));
    cr_assert_eq(vka_type_row_size(VKA_TYPE_Q5_K, 256), 2 + 2 + 12 + 32 + 128);
    cr_assert_eq(vka_type_row_size(VKA_TYPE_Q6_K, 256), 128 + 64 + 16 + 2);
    cr_assert_eq(vka_type_row_size(VKA_TYPE_Q4_0, 0), 0);
    cr_assert_eq(vka_type_row_size(VKA_TYPE_Q4_0, 33), 0, "not a multiple of the block");
    cr_assert_eq(vka_type_row_size(VKA_TYPE_Q4_K, 128), 0);
    cr_assert_eq(vka_type_row_size(VKA_TYPE_F32, -4), 0);
    cr_assert_eq(vka_type_row_size((vka_type)4, 32), 0, "removed type number");
    cr_assert_eq(vka_type_row_size(VKA_TYPE_F64, INT64_MAX), 0, "does not fit a size_t");
}

Test(types, supported_and_quantizable) {
    const vka_type yes[] = {VKA_TYPE_F32,  VKA_TYPE_F16,  VKA_TYPE_BF16, VKA_TYPE_Q8_0,   VKA_TYPE_Q4_0,
                            VKA_TYPE_Q4_1, VKA_TYPE_Q5_0, VKA_TYPE_Q5_1, VKA_TYPE_Q2_K,   VKA_TYPE_Q3_K,
                            VKA_TYPE_Q4_K, VKA_TYPE_Q5_K, VKA_TYPE_Q6_K, VKA_TYPE_IQ4_NL, VKA_TYPE_IQ4_XS};
    const vka_type no[] = {VKA_TYPE_Q8_K, VKA_TYPE_IQ2_XXS, VKA_TYPE_IQ3_S, VKA_TYPE_MXFP4, VKA_TYPE_I32};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        cr_assert(vka_type_is_supported(yes[i]), "%s", vka_type_name(yes[i]));
        cr_assert_not_null(strstr(vka_type_supported_list(), vka_type_name(yes[i])));
    }
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        cr_assert_not(vka_type_is_supported(no[i]), "%s", vka_type_name(no[i]));
    cr_assert_not(vka_type_is_supported(4));
    cr_assert_not(vka_type_is_supported(1000));

    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        cr_assert(vka_type_can_quantize(yes[i]), "%s", vka_type_name(yes[i]));
    cr_assert_not(vka_type_can_quantize(VKA_TYPE_IQ2_XXS));
    cr_assert_not(vka_type_can_quantize(VKA_TYPE_Q8_K));
    cr_assert_not(vka_type_can_quantize(5));
}

/* ---- f16 / bf16 --------------------------------------------------------- */

Test(types, f16_special_values) {
    /* expected bits written out from the IEEE binary16 definition */
    cr_assert_eq(vka_f32_to_f16(0.0f), 0x0000);
    cr_assert_eq(vka_f32_to_f16(-0.0f), 0x8000);
    cr_assert_eq(vka_f32_to_f16(1.0f), 0x3c00);
    cr_assert_eq(vka_f32_to_f16(-2.0f), 0xc000);
    cr_assert_eq(vka_f32_to_f16(65504.0f), 0x7bff);                  /* largest finite */
    cr_assert_eq(vka_f32_to_f16(65519.99f), 0x7bff);                 /* below the midpoint to 2^16 */
    cr_assert_eq(vka_f32_to_f16(65520.0f), 0x7c00);                  /* tie, to even: overflows */
    cr_assert_eq(vka_f32_to_f16(1e6f), 0x7c00);
    cr_assert_eq(vka_f32_to_f16(-1e30f), 0xfc00);
    cr_assert_eq(vka_f32_to_f16(INFINITY), 0x7c00);
    cr_assert_eq(vka_f32_to_f16(-INFINITY), 0xfc00);
    cr_assert_eq(vka_f32_to_f16(ldexpf(1, -14)), 0x0400);            /* smallest normal */
    cr_assert_eq(vka_f32_to_f16(ldexpf(1023, -24)), 0x03ff);         /* largest subnormal */
    cr_assert_eq(vka_f32_to_f16(ldexpf(1, -24)), 0x0001);            /* smallest subnormal */
    cr_assert_eq(vka_f32_to_f16(-ldexpf(1, -24)), 0x8001);
    cr_assert_eq(vka_f32_to_f16(ldexpf(1, -25)), 0x0000);            /* tie 0 / 2^-24: to even */
    cr_assert_eq(vka_f32_to_f16(ldexpf(1.0f + 0x1p-20f, -25)), 0x0001); /* just above the tie */
    cr_assert_eq(vka_f32_to_f16(ldexpf(3, -25)), 0x0002);            /* tie 1 / 2 units: to even */
    cr_assert_eq(vka_f32_to_f16(ldexpf(5, -25)), 0x0002);            /* tie 2 / 3 units: to even */
    cr_assert_eq(vka_f32_to_f16(ldexpf(2047, -25)), 0x0400);         /* subnormal rounding up to normal */
    cr_assert_eq(vka_f32_to_f16(ldexpf(1, -30)), 0x0000);            /* underflow */
    cr_assert_eq(vka_f32_to_f16(1.0f + 0x1p-11f), 0x3c00);           /* tie: to even (down) */
    cr_assert_eq(vka_f32_to_f16(1.0f + 3 * 0x1p-11f), 0x3c02);       /* tie: to even (up) */
    cr_assert_eq(vka_f32_to_f16(1.0f + 0x1p-11f + 0x1p-23f), 0x3c01); /* above the tie */
    cr_assert_eq(vka_f32_to_f16(2047.0f + 0.5f), 0x6800);            /* 2047.5 -> 2048: carry into the exponent */
    uint16_t nan = vka_f32_to_f16(NAN);
    cr_assert((nan & 0x7c00) == 0x7c00 && (nan & 0x03ff) != 0, "NaN stays NaN: %04x", nan);
    nan = vka_f32_to_f16(bits_f32(0x7f800001));                     /* payload only in the low bits */
    cr_assert((nan & 0x7c00) == 0x7c00 && (nan & 0x03ff) != 0, "signalling NaN stays NaN: %04x", nan);

    cr_assert_eq(f32_bits(vka_f16_to_f32(0x8000)), 0x80000000u);    /* -0 */
    cr_assert_float_eq(vka_f16_to_f32(0x3555), 0.333251953125f, 0);
    cr_assert_float_eq(vka_f16_to_f32(0x0001), ldexpf(1, -24), 0);
    cr_assert_float_eq(vka_f16_to_f32(0x03ff), ldexpf(1023, -24), 0);
    cr_assert_float_eq(vka_f16_to_f32(0x7bff), 65504.0f, 0);
    cr_assert(isinf(vka_f16_to_f32(0xfc00)) && vka_f16_to_f32(0xfc00) < 0);
    cr_assert(isnan(vka_f16_to_f32(0x7e00)));
    cr_assert(isnan(vka_f16_to_f32(0x7c01)));
}

/* Every half value decodes exactly and re-encodes to itself. */
Test(types, f16_all_values) {
    for (uint32_t h = 0; h < 65536; h++) {
        float f = vka_f16_to_f32((uint16_t)h);
        double want = ref_f16_value((uint16_t)h);
        if (isnan(want)) {
            cr_assert(isnan(f), "%04x", h);
            continue;
        }
        cr_assert(f == want && !signbit(f) == !signbit(want), "%04x decodes to %a, want %a", h, f, want);
        cr_assert_eq(vka_f32_to_f16(f), h, "%04x does not round-trip", h);
    }
}

/* f32 -> f16 against the double-arithmetic reference: at every midpoint
 * between neighbouring halves and one f32 ulp either side, and at random
 * bit patterns (every exponent, NaNs and infinities included). */
Test(types, f16_rounding_exhaustive_midpoints) {
    for (uint32_t h = 0; h < 0x7c00; h++) {
        double mid = (ref_f16_value((uint16_t)h) + ref_f16_value((uint16_t)(h + 1))) / 2;
        float m = (float)mid;   /* exact: 12 significant bits */
        cr_assert_eq((double)m, mid);
        const float probes[] = {m, nextafterf(m, 0), nextafterf(m, INFINITY)};
        for (int k = 0; k < 3; k++) {
            for (int s = 0; s < 2; s++) {
                float p = s ? -probes[k] : probes[k];
                cr_assert_eq(vka_f32_to_f16(p), ref_f16_bits(p), "%a", p);
            }
        }
    }
    uint64_t seed = 1;
    for (int i = 0; i < 1 << 20; i++) {
        float f = bits_f32((uint32_t)rng_next(&seed));
        uint16_t got = vka_f32_to_f16(f), want = ref_f16_bits(f);
        if (isnan(f)) cr_assert((got & 0x7c00) == 0x7c00 && (got & 0x3ff) && (got & 0x8000) == (want & 0x8000));
        else cr_assert_eq(got, want, "%a (%08x): %04x, want %04x", f, f32_bits(f), got, want);
    }
}

Test(types, bf16_special_values_and_rounding) {
    cr_assert_eq(vka_f32_to_bf16(0.0f), 0x0000);
    cr_assert_eq(vka_f32_to_bf16(-0.0f), 0x8000);
    cr_assert_eq(vka_f32_to_bf16(1.0f), 0x3f80);
    cr_assert_eq(vka_f32_to_bf16(-3.0f), 0xc040);
    cr_assert_eq(vka_f32_to_bf16(1.0f + 0x1p-8f), 0x3f80);              /* tie: to even (down) */
    cr_assert_eq(vka_f32_to_bf16(1.0f + 3 * 0x1p-8f), 0x3f82);          /* tie: to even (up) */
    cr_assert_eq(vka_f32_to_bf16(1.0f + 0x1p-8f + 0x1p-23f), 0x3f81);
    cr_assert_eq(vka_f32_to_bf16(bits_f32(0x7f7fffff)), 0x7f80);        /* FLT_MAX rounds to inf */
    cr_assert_eq(vka_f32_to_bf16(bits_f32(0x7f7f7fff)), 0x7f7f);        /* below the midpoint */
    cr_assert_eq(vka_f32_to_bf16(INFINITY), 0x7f80);
    cr_assert_eq(vka_f32_to_bf16(-INFINITY), 0xff80);
    cr_assert_eq(vka_f32_to_bf16(bits_f32(0x00000001)), 0x0000);        /* subnormal, rounds to 0 */
    cr_assert_eq(vka_f32_to_bf16(bits_f32(0x00018000)), 0x0002);        /* subnormal tie: to even */
    cr_assert_eq(vka_f32_to_bf16(bits_f32(0x00010001)), 0x0001);        /* subnormal kept, not flushed */
    uint16_t nan = vka_f32_to_bf16(bits_f32(0x7f800001));               /* NaN whose payload is below bit 16 */
    cr_assert((nan & 0x7f80) == 0x7f80 && (nan & 0x7f) != 0, "stays NaN: %04x", nan);
    cr_assert(isnan(vka_bf16_to_f32(0x7fc0)));
    cr_assert_eq(f32_bits(vka_bf16_to_f32(0x8000)), 0x80000000u);
    cr_assert_float_eq(vka_bf16_to_f32(0x3f80), 1.0f, 0);
    cr_assert_float_eq(vka_bf16_to_f32(0x0001), ldexpf(1, -133), 0);
    cr_assert_float_eq(vka_bf16_to_f32(0x7f7f), ldexpf(255, 120), 0);

    uint64_t seed = 2;
    for (int i = 0; i < 1 << 20; i++) {
        float f = bits_f32((uint32_t)rng_next(&seed));
        uint16_t got = vka_f32_to_bf16(f), want = ref_bf16_bits(f);
        if (isnan(f)) cr_assert((got & 0x7f80) == 0x7f80 && (got & 0x7f), "%08x", f32_bits(f));
        else cr_assert_eq(got, want, "%a (%08x): %04x, want %04x", f, f32_bits(f), got, want);
    }
    for (uint32_t h = 0; h < 65536; h++) {
        if (((h & 0x7f80) == 0x7f80) && (h & 0x7f)) continue;   /* NaN */
        cr_assert_eq(vka_f32_to_bf16(vka_bf16_to_f32((uint16_t)h)), h);
    }
}

Test(types, half_rows_through_traits) {
    const float in[5] = {1.0f, -0.5f, 65504.0f, 1e-8f, 3.140625f};
    uint16_t h[5];
    float out[5];
    quantize(VKA_TYPE_F16, in, h, 5);
    dequantize(VKA_TYPE_F16, h, out, 5);
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(h[i], ref_f16_bits(in[i]));
        cr_assert_float_eq(out[i], (float)ref_f16_value(h[i]), 0);
    }
    quantize(VKA_TYPE_BF16, in, h, 5);
    dequantize(VKA_TYPE_BF16, h, out, 5);
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(h[i], ref_bf16_bits(in[i]));
        cr_assert_float_eq(out[i], bits_f32((uint32_t)h[i] << 16), 0);
    }
}

/* ---- 32-value blocks: dequantization of hand-built blocks ----------------
 * The blocks are written bit by bit from the layout description (an
 * encoder, independent of the decoder under test); expected values come from
 * the format's formula in double. The products involved are exact in f32,
 * so the one rounding of ggml's float code is the rounding of the double
 * result: tolerance 0. */

enum { NB = 3 };   /* blocks per test row */

/* Value j of a 32-block sits in byte off + j%16, nibble j/16. */
static void put_nibble32(uint8_t *block, int off, int j, unsigned q) { put_bits(block, 8 * (off + j % 16) + 4 * (j / 16), 4, q); }

Test(types, dequant_q4_0_hand_built) {
    uint8_t raw[NB * 18] = {0};
    int q[NB][32];
    const uint16_t dbits[NB] = {0x3555, 0xb800, 0x0000};   /* 0.33325..., -0.5, 0 */
    uint64_t seed = 11;
    for (int b = 0; b < NB; b++) {
        put_u16(raw + 18 * b, dbits[b]);
        for (int j = 0; j < 32; j++) {
            q[b][j] = (int)(rng_next(&seed) % 16);
            put_nibble32(raw + 18 * b, 2, j, (unsigned)q[b][j]);
        }
    }
    float out[NB * 32];
    dequantize(VKA_TYPE_Q4_0, raw, out, NB * 32);
    for (int b = 0; b < NB; b++)
        for (int j = 0; j < 32; j++)
            cr_assert_float_eq(out[32 * b + j], (float)((q[b][j] - 8) * ref_f16_value(dbits[b])), 0, "block %d value %d", b, j);
}

Test(types, dequant_q4_1_hand_built) {
    uint8_t raw[NB * 20] = {0};
    int q[NB][32];
    const uint16_t dbits[NB] = {0x3555, 0x2c00, 0x4000}, mbits[NB] = {0xbc00, 0x3a00, 0x0000};
    uint64_t seed = 12;
    for (int b = 0; b < NB; b++) {
        put_u16(raw + 20 * b, dbits[b]);
        put_u16(raw + 20 * b + 2, mbits[b]);
        for (int j = 0; j < 32; j++) {
            q[b][j] = (int)(rng_next(&seed) % 16);
            put_nibble32(raw + 20 * b, 4, j, (unsigned)q[b][j]);
        }
    }
    float out[NB * 32];
    dequantize(VKA_TYPE_Q4_1, raw, out, NB * 32);
    for (int b = 0; b < NB; b++)
        for (int j = 0; j < 32; j++) {
            double want = q[b][j] * ref_f16_value(dbits[b]) + ref_f16_value(mbits[b]);
            cr_assert_float_eq(out[32 * b + j], (float)want, 0, "block %d value %d", b, j);
        }
}

/* Q5_0 / Q5_1: the fifth bit of value j is bit j of the 4 qh bytes read as a
 * little-endian 32-bit number, i.e. bit j%8 of byte j/8. */
static void build_q5(uint8_t *block, bool has_min, int *q, uint64_t *seed) {
    int qh_off = has_min ? 4 : 2, qs_off = qh_off + 4;
    for (int j = 0; j < 32; j++) {
        q[j] = (int)(rng_next(seed) % 32);
        put_nibble32(block, qs_off, j, (unsigned)q[j] & 15);
        put_bits(block, 8 * qh_off + j, 1, (unsigned)q[j] >> 4);
    }
}

Test(types, dequant_q5_0_q5_1_hand_built) {
    uint8_t raw0[NB * 22] = {0}, raw1[NB * 24] = {0};
    int q0[NB][32], q1[NB][32];
    const uint16_t dbits[NB] = {0x3555, 0xa400, 0x3c00}, mbits[NB] = {0xc100, 0x0400, 0x3bff};
    uint64_t seed = 13;
    for (int b = 0; b < NB; b++) {
        put_u16(raw0 + 22 * b, dbits[b]);
        build_q5(raw0 + 22 * b, false, q0[b], &seed);
        put_u16(raw1 + 24 * b, dbits[b]);
        put_u16(raw1 + 24 * b + 2, mbits[b]);
        build_q5(raw1 + 24 * b, true, q1[b], &seed);
    }
    float out0[NB * 32], out1[NB * 32];
    dequantize(VKA_TYPE_Q5_0, raw0, out0, NB * 32);
    dequantize(VKA_TYPE_Q5_1, raw1, out1, NB * 32);
    for (int b = 0; b < NB; b++)
        for (int j = 0; j < 32; j++) {
            double d = ref_f16_value(dbits[b]), m = ref_f16_value(mbits[b]);
            cr_assert_float_eq(out0[32 * b + j], (float)((q0[b][j] - 16) * d), 0, "q5_0 block %d value %d", b, j);
            cr_assert_float_eq(out1[32 * b + j], (float)(q1[b][j] * d + m), 0, "q5_1 block %d value %d", b, j);
        }
}

Test(types, dequant_q8_0_hand_built) {
    uint8_t raw[NB * 34] = {0};
    int q[NB][32];
    const uint16_t dbits[NB] = {0x3555, 0x8001, 0x7bff};
    uint64_t seed = 14;
    for (int b = 0; b < NB; b++) {
        put_u16(raw + 34 * b, dbits[b]);
        for (int j = 0; j < 32; j++) {
            q[b][j] = (int)(rng_next(&seed) % 256) - 128;
            raw[34 * b + 2 + j] = (uint8_t)q[b][j];
        }
    }
    float out[NB * 32];
    dequantize(VKA_TYPE_Q8_0, raw, out, NB * 32);
    for (int b = 0; b < NB; b++)
        for (int j = 0; j < 32; j++)
            cr_assert_float_eq(out[32 * b + j], (float)(q[b][j] * ref_f16_value(dbits[b])), 0, "block %d value %d", b, j);
}

/* ---- Q8_0 / Q4_0 quantization ------------------------------------------ */

/* Known answers worked out by hand. */
Test(types, quantize_q8_0_known_answers) {
    float x[32] = {0};
    x[0] = 127.0f;    /* amax 127: d = 1 (f16 0x3c00), inverse 1 */
    x[1] = 2.5f;      /* ties round away from zero: 3, not 2 */
    x[2] = -2.5f;
    x[3] = 0.49f;
    x[4] = -126.5f;   /* -127 */
    x[5] = 1.5f;
    uint8_t blk[34];
    quantize(VKA_TYPE_Q8_0, x, blk, 32);
    cr_assert_eq(blk[0] | blk[1] << 8, 0x3c00);
    const int8_t want[6] = {127, 3, -3, 0, -127, 2};
    for (int j = 0; j < 6; j++) cr_assert_eq((int8_t)blk[2 + j], want[j], "value %d", j);
    for (int j = 6; j < 32; j++) cr_assert_eq(blk[2 + j], 0);

    memset(x, 0, sizeof x);   /* all zero: d = 0, codes 0 */
    quantize(VKA_TYPE_Q8_0, x, blk, 32);
    for (int j = 0; j < 34; j++) cr_assert_eq(blk[j], 0);
}

Test(types, quantize_q4_0_known_answers) {
    float x[32];
    /* x_j = j - 16: the largest magnitude is -16 (j = 0), so d = -16 / -8 = 2
     * (f16 0x4000) and code = min(15, trunc((j - 16) / 2 + 8.5)) = min(15, trunc(j/2 + 0.5)) */
    for (int j = 0; j < 32; j++) x[j] = (float)(j - 16);
    uint8_t blk[18];
    quantize(VKA_TYPE_Q4_0, x, blk, 32);
    cr_assert_eq(blk[0] | blk[1] << 8, 0x4000);
    for (int j = 0; j < 32; j++) {
        int want = j == 31 ? 15 : (j + 1) / 2;
        int got = j < 16 ? blk[2 + j] & 15 : blk[2 + j - 16] >> 4;
        cr_assert_eq(got, want, "value %d", j);
    }

    /* the scale keeps the sign of the first value of largest magnitude */
    memset(x, 0, sizeof x);
    x[3] = 5.0f;
    x[7] = -5.0f;
    quantize(VKA_TYPE_Q4_0, x, blk, 32);
    cr_assert_eq(blk[0] | blk[1] << 8, 0xb900, "d = 5 / -8 = -0.625");
    cr_assert_eq(blk[2 + 3] & 15, 0, "5 / -0.625 = -8 -> code 0");
    cr_assert_eq(blk[2 + 7] & 15, 15, "-5 / -0.625 = 8 -> code 16, clamped to 15");
    cr_assert_eq(blk[2 + 0] & 15, 8, "0 -> code 8");
    x[3] = -5.0f;
    x[7] = 5.0f;
    quantize(VKA_TYPE_Q4_0, x, blk, 32);
    cr_assert_eq(blk[0] | blk[1] << 8, 0x3900, "d = -5 / -8 = 0.625");

    /* all zero: no value beats the initial max of +0, d = +0 / -8 = -0
     * (f16 0x8000, as llama-quantize writes it), every code 8 */
    memset(x, 0, sizeof x);
    quantize(VKA_TYPE_Q4_0, x, blk, 32);
    cr_assert_eq(blk[0] | blk[1] << 8, 0x8000);
    for (int j = 0; j < 16; j++) cr_assert_eq(blk[2 + j], 0x88);
}

/* The reference quantizers restated from their description (not from the
 * code under test): Q8_0 d = amax/127 stored as f16, codes lround(x * (1/d))
 * with the f32 inverse of the unrounded d; Q4_0 d = (first value of largest
 * magnitude, +0 if all are zero) / -8, codes min(15, floor(x * (1/d) + 8.5)). */
static void ref_q8_0_block(const float *x, uint8_t *out) {
    float amax = 0.0f;
    for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
    float d = amax / 127.0f;
    float id = d == 0.0f ? 0.0f : 1.0f / d;
    put_u16(out, ref_f16_bits(d));
    for (int j = 0; j < 32; j++) {
        volatile float v = x[j] * id;   /* rounded to f32 before rounding to an integer */
        out[2 + j] = (uint8_t)(int8_t)lroundf(v);
    }
}

/* Q4_0 (bits 4) and Q5_0 (bits 5, described below): d = max / -2^(bits-1),
 * codes floor(x * (1/d) + 2^(bits-1) + 0.5) clamped to 2^bits - 1. */
static void ref_q_signed_block(const float *x, int bits, uint8_t *out) {
    int k = 0;
    for (int j = 1; j < 32; j++)
        if (fabsf(x[j]) > fabsf(x[k])) k = j;
    float max = fabsf(x[k]) > 0 ? x[k] : 0.0f;   /* +0 when all are zero */
    const float half = (float)(1 << (bits - 1));
    const int top = (1 << bits) - 1, qs_off = bits == 4 ? 2 : 6;
    float d = max / -half;
    float id = d == 0.0f ? 0.0f : 1.0f / d;
    memset(out, 0, (size_t)qs_off + 16);
    put_u16(out, ref_f16_bits(d));
    for (int j = 0; j < 32; j++) {
        volatile float v = x[j] * id;
        volatile float s = v + (half + 0.5f);
        int code = (int)floorf(s);
        code = code > top ? top : code;
        put_nibble32(out, qs_off, j, (unsigned)code & 15);
        if (bits == 5) put_bits(out, 8 * 2 + j, 1, (unsigned)code >> 4);
    }
}

static void ref_q4_0_block(const float *x, uint8_t *out) { ref_q_signed_block(x, 4, out); }

/* Random rows with a spread of block magnitudes; some blocks hold exact
 * ties (integers and half-integers times a power of two), some are zero. */
static void fill_test_row(float *x, int n, uint64_t *seed) {
    for (int b = 0; b < n / 32; b++) {
        if (b % 17 == 16) {   /* all zero, signs mixed (-0 first) */
            for (int j = 0; j < 32; j++) x[32 * b + j] = j % 2 ? 0.0f : -0.0f;
            continue;
        }
        float scale = ldexpf(1.0f, (int)(rng_next(seed) % 32) - 20);   /* f16 scales stay finite */
        bool ties = b % 5 == 4;
        for (int j = 0; j < 32; j++) {
            float v = rng_normal(seed);
            x[32 * b + j] = ties ? scale * (float)((int)(v * 16) / 2) * 0.5f : scale * v;
        }
    }
}

typedef void (*ref_block_fn)(const float *x, uint8_t *out);

/* Quantizes 2000 blocks of fill_test_row data (from `seed`) to `type` and
 * compares each block with the restated reference. */
static void expect_restated(vka_type type, ref_block_fn ref, uint64_t seed) {
    enum { N = 32 * 2000 };
    const size_t size = vka_type_get_traits(type)->type_size;
    float *x = malloc(N * sizeof *x);
    uint8_t *got = malloc(N / 32 * size), *want = malloc(N / 32 * size);
    cr_assert(x && got && want);
    fill_test_row(x, N, &seed);
    quantize(type, x, got, N);
    for (int b = 0; b < N / 32; b++) ref(x + 32 * b, want + size * (size_t)b);
    for (int b = 0; b < N / 32; b++)
        cr_assert_arr_eq(got + size * (size_t)b, want + size * (size_t)b, size, "%s block %d", vka_type_name(type), b);
    free(x);
    free(got);
    free(want);
}

Test(types, quantize_q8_0_q4_0_match_restated_reference) {
    expect_restated(VKA_TYPE_Q8_0, ref_q8_0_block, 21);
    expect_restated(VKA_TYPE_Q4_0, ref_q4_0_block, 21);
}

/* Q4_1, Q5_0, Q5_1 restated from their description: Q4_1/Q5_1 take the
 * block's min and max, d = (max - min) / (2^bits - 1) and m = min (both
 * f16), codes floor((x - min) * (1/d) + 0.5) clamped to 2^bits - 1; Q5_0 is
 * Q4_0 with 5 bits: d = (first value of largest magnitude) / -16, codes
 * floor(x * (1/d) + 16.5) clamped to 31. The fifth bit of value j is bit j
 * of the 4 little-endian qh bytes; nibbles as Q4_0. */
static void ref_q_min_block(const float *x, int bits, uint8_t *out) {
    float lo = x[0], hi = x[0];   /* strict comparisons: the first of equal values (-0 vs +0) stays */
    for (int j = 1; j < 32; j++) {
        if (x[j] < lo) lo = x[j];
        if (x[j] > hi) hi = x[j];
    }
    const int top = (1 << bits) - 1;
    float d = (hi - lo) / (float)top;
    float id = d == 0.0f ? 0.0f : 1.0f / d;
    int qs_off = bits == 4 ? 4 : 8;
    memset(out, 0, (size_t)qs_off + 16);
    put_u16(out, ref_f16_bits(d));
    put_u16(out + 2, ref_f16_bits(lo));
    for (int j = 0; j < 32; j++) {
        volatile float v = (x[j] - lo) * id;
        volatile float s = v + 0.5f;
        int code = (int)floorf(s);
        code = code > top ? top : code;
        put_nibble32(out, qs_off, j, (unsigned)code & 15);
        if (bits == 5) put_bits(out, 8 * 4 + j, 1, (unsigned)code >> 4);
    }
}

static void ref_q5_0_block(const float *x, uint8_t *out) { ref_q_signed_block(x, 5, out); }

static void ref_q4_1_block(const float *x, uint8_t *out) { ref_q_min_block(x, 4, out); }
static void ref_q5_1_block(const float *x, uint8_t *out) { ref_q_min_block(x, 5, out); }

Test(types, quantize_q4_1_q5_0_q5_1_match_restated_reference) {
    expect_restated(VKA_TYPE_Q4_1, ref_q4_1_block, 23);
    expect_restated(VKA_TYPE_Q5_0, ref_q5_0_block, 23);
    expect_restated(VKA_TYPE_Q5_1, ref_q5_1_block, 23);
}

Test(types, quantize_q5_0_q5_1_known_answers) {
    float x[32];
    uint8_t blk[24];
    /* x_j = j - 16: largest magnitude -16, d = -16 / -16 = 1 (f16 0x3c00), code
     * = min(31, trunc(j - 16 + 16.5)) = j; the fifth bit is set for j >= 16 */
    for (int j = 0; j < 32; j++) x[j] = (float)(j - 16);
    quantize(VKA_TYPE_Q5_0, x, blk, 32);
    cr_assert_eq(blk[0] | blk[1] << 8, 0x3c00);
    cr_assert_eq(blk[2] | blk[3] << 8 | blk[4] << 16 | (uint32_t)blk[5] << 24, 0xffff0000u);
    for (int j = 0; j < 16; j++) cr_assert_eq(blk[6 + j], j | j << 4, "byte %d", j);
    /* x_j = 2j - 10: min -10, max 52, d = 62 / 31 = 2, m = -10, code = j */
    for (int j = 0; j < 32; j++) x[j] = (float)(2 * j - 10);
    quantize(VKA_TYPE_Q5_1, x, blk, 32);
    cr_assert_eq(blk[0] | blk[1] << 8, 0x4000, "d = 2");
    cr_assert_eq(blk[2] | blk[3] << 8, 0xc900, "m = -10");
    cr_assert_eq(blk[4] | blk[5] << 8 | blk[6] << 16 | (uint32_t)blk[7] << 24, 0xffff0000u);
    for (int j = 0; j < 16; j++) cr_assert_eq(blk[8 + j], j | j << 4, "byte %d", j);
    float y[32];
    dequantize(VKA_TYPE_Q5_1, blk, y, 32);
    for (int j = 0; j < 32; j++) cr_assert_float_eq(y[j], x[j], 0, "value %d", j);
}

/* Round-trip bounds, per element of each block (d = the unrounded scale,
 * d16 = its f16, eps = a few f32 ulps of the block's largest value):
 *   Q8_0: |x - x'| <= d/2 + 127 |d - d16| + eps
 *   Q4_0: |x - x'| <= |d|/2 + 8 |d - d16| + eps, except values of the sign
 *         opposite to the scale-setting one with |x| > 7.5|d|, whose code 16
 *         is clamped to 15: there |x - x'| <= |d| + 8 |d - d16| + eps. */
Test(types, quantize_q8_0_q4_0_round_trip_bounds) {
    enum { N = 32 * 2000 };
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    uint8_t *q = malloc(N / 32 * 34);
    cr_assert(x && y && q);
    uint64_t seed = 22;
    fill_test_row(x, N, &seed);

    quantize(VKA_TYPE_Q8_0, x, q, N);
    dequantize(VKA_TYPE_Q8_0, q, y, N);
    for (int b = 0; b < N / 32; b++) {
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[32 * b + j]));
        double d = amax / 127.0, d16 = ref_f16_value(ref_f16_bits((float)d));
        double bound = d / 2 + 127 * fabs(d - d16) + 4e-7 * amax;
        for (int j = 0; j < 32; j++)
            cr_assert_leq(fabs((double)x[32 * b + j] - y[32 * b + j]), bound, "q8_0 block %d value %d", b, j);
    }

    quantize(VKA_TYPE_Q4_0, x, q, N);
    dequantize(VKA_TYPE_Q4_0, q, y, N);
    int clamped = 0;
    for (int b = 0; b < N / 32; b++) {
        const float *xb = x + 32 * b;
        int k = 0;
        for (int j = 1; j < 32; j++)
            if (fabsf(xb[j]) > fabsf(xb[k])) k = j;
        double d = xb[k] / -8.0, d16 = ref_f16_value(ref_f16_bits((float)d));
        double eps = 4e-6 * fabs(xb[k]);
        for (int j = 0; j < 32; j++) {
            bool clamp = xb[j] * xb[k] < 0 && fabs(xb[j]) > 7.5 * fabs(d);
            clamped += clamp;
            double bound = (clamp ? fabs(d) : fabs(d) / 2) + 8 * fabs(d - d16) + eps;
            cr_assert_leq(fabs((double)xb[j] - y[32 * b + j]), bound, "q4_0 block %d value %d: x %a y %a d %a bound %g", b, j, xb[j], y[32 * b + j], d, bound);
        }
    }
    cr_assert_gt(clamped, 0, "the data exercises the clamp");
    free(x);
    free(y);
    free(q);
}

/* ---- fixtures: llama-quantize's Q8_0 / Q4_0 files ------------------------
 * Every 2-D tensor of NAME-f32.gguf quantized here must give exactly the
 * bytes of the same tensor in NAME-q8_0.gguf / NAME-q4_0.gguf (where that
 * tensor has that type; q4_0 files keep the output matrix in Q6_K). */

/* Returns how many tensors of `type` were compared. */
static int check_reference_quantization(const char *f32_rel, const char *q_rel, vka_type type) {
    vka_gguf *f32 = open_fixture(f32_rel);
    vka_gguf *qf = open_fixture(q_rel);
    int compared = 0;
    for (uint64_t i = 0; i < f32->n_tensors; i++) {
        const vka_gguf_tensor *src = &f32->tensors[i];
        if (src->n_dims != 2) continue;
        cr_assert_eq(src->type, VKA_TYPE_F32, "%s %s", f32_rel, src->name.data);
        const vka_gguf_tensor *ref = vka_gguf_find_tensor(qf, src->name.data);
        cr_assert_not_null(ref, "%s missing in %s", src->name.data, q_rel);
        if (ref->type != type) continue;
        int64_t n = src->ne[0] * src->ne[1];
        cr_assert_eq(ref->nbytes, vka_type_row_size(type, src->ne[0]) * (size_t)src->ne[1]);
        uint8_t *mine = malloc(ref->nbytes);
        cr_assert_not_null(mine);
        quantize(type, src->data, mine, n);
        size_t diff = 0;
        for (size_t k = 0; k < ref->nbytes; k++) diff += mine[k] != ((const uint8_t *)ref->data)[k];
        free(mine);
        cr_expect_eq(diff, 0, "%s %s: %zu of %llu bytes differ from llama-quantize's", q_rel, src->name.data, diff,
                     (unsigned long long)ref->nbytes);
        compared++;
    }
    cr_log_info("%s: %d %s tensors compared with our quantization of %s", q_rel, compared, vka_type_name(type),
                f32_rel);
    vka_gguf_free(f32);
    vka_gguf_free(qf);
    return compared;
}

static void check_arch_fixtures(const char *qname, vka_type type) {
    const char *archs[3] = {"llama", "qwen2", "qwen3"};
    for (int a = 0; a < 3; a++) {
        char f32_rel[128], q_rel[128];
        snprintf(f32_rel, sizeof f32_rel, "fixtures/arch/%s-f32.gguf", archs[a]);
        snprintf(q_rel, sizeof q_rel, "fixtures/arch/%s-%s.gguf", archs[a], qname);
        /* 2 layers x 7 matrices, plus token_embd and output unless the recipe made them Q6_K */
        cr_assert_geq(check_reference_quantization(f32_rel, q_rel, type), 14, "%s", q_rel);
    }
}

Test(types, fixture_q8_0_byte_identical) { check_arch_fixtures("q8_0", VKA_TYPE_Q8_0); }

Test(types, fixture_q4_0_byte_identical) { check_arch_fixtures("q4_0", VKA_TYPE_Q4_0); }

/* stories260K quantized by llama-quantize (README: ffn_down kept F32; in the
 * Q4_0 file output.weight fell back to Q8_0). */
Test(types, fixture_stories260k_byte_identical) {
    const char *f32 = "models/stories260K.gguf";
    cr_assert_gt(check_reference_quantization(f32, "models/stories260K-q8_0.gguf", VKA_TYPE_Q8_0), 0);
    cr_assert_gt(check_reference_quantization(f32, "models/stories260K-q4_0.gguf", VKA_TYPE_Q4_0), 0);
    cr_assert_eq(check_reference_quantization(f32, "models/stories260K-q4_0.gguf", VKA_TYPE_Q8_0), 1);
}

/* Dequantizing the Q8_0 / Q4_0 files lands near the f32 weights: the same
 * per-element bounds as the round-trip test, block by block. */
Test(types, fixture_q8_0_q4_0_dequantize_near_f32) {
    vka_gguf *f32 = open_fixture("fixtures/arch/llama-f32.gguf");
    const char *names[2] = {"fixtures/arch/llama-q8_0.gguf", "fixtures/arch/llama-q4_0.gguf"};
    for (int t = 0; t < 2; t++) {
        vka_gguf *qf = open_fixture(names[t]);
        vka_type type = t ? VKA_TYPE_Q4_0 : VKA_TYPE_Q8_0;
        int checked = 0;
        for (uint64_t i = 0; i < f32->n_tensors; i++) {
            const vka_gguf_tensor *src = &f32->tensors[i], *ref = vka_gguf_find_tensor(qf, src->name.data);
            if (src->n_dims != 2 || !ref || ref->type != type) continue;
            int64_t n = src->ne[0] * src->ne[1];
            float *y = malloc((size_t)n * sizeof *y);
            cr_assert_not_null(y);
            dequantize(type, ref->data, y, n);
            const float *x = src->data;
            for (int64_t b = 0; b < n / 32; b++) {
                float amax = 0;
                for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[32 * b + j]));
                double d = amax / (t ? 8.0 : 127.0);
                double bound = (t ? 1.0 : 0.5) * d + (t ? 8 : 127) * d * 0x1p-11 + 4e-6 * amax;
                for (int j = 0; j < 32; j++)
                    cr_assert_leq(fabs((double)x[32 * b + j] - y[32 * b + j]), bound, "%s %s block %lld",
                                  names[t], src->name.data, (long long)b);
            }
            free(y);
            checked++;
        }
        cr_assert_gt(checked, 0);
        vka_gguf_free(qf);
    }
    vka_gguf_free(f32);
}
