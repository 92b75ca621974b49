/* test_types_iq4.c — IQ4_NL and IQ4_XS: dequantization of blocks built bit
 * by bit here, properties of the quantizers (codes nearest to the scaled
 * value in the code book, error on normal data, degenerate blocks). Byte
 * identity with llama-quantize: test_quantize. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "format/types.h"
#include "types_test_helpers.h"

/* The code book, written out from ggml's kvalues_iq4nl. */
static const int book[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

/* Byte offsets: IQ4_NL d, qs; IQ4_XS d, scales_h, scales_l, qs. */
enum { NL_D = 0, NL_QS = 2, XS_D = 0, XS_SCALES_H = 2, XS_SCALES_L = 4, XS_QS = 8 };

/* Value j of a 32-value group: code in byte j%16 of the group, low nibble for j < 16. */
static int code_pos(int base, int j) { return 8 * (base + j % 16) + 4 * (j / 16); }

static uint16_t moderate_f16(uint64_t *seed) { /* 2^-5 .. 2^1, either sign: products stay exact in f32 */
    return (uint16_t)((rng_next(seed) & 1) << 15 | (10 + rng_next(seed) % 6) << 10 | rng_next(seed) % 1024);
}

Test(types_iq4, code_book) {
    for (int c = 0; c < 16; c++) cr_expect_eq(vka_iq4nl_values[c], book[c], "code %d", c);
}

Test(types_iq4, dequant_iq4_nl_hand_built) {
    enum { NB = 4 };
    uint8_t raw[NB * 18] = {0};
    double want[NB * 32];
    uint64_t seed = 60;
    for (int b = 0; b < NB; b++) {
        uint8_t *blk = raw + 18 * b;
        uint16_t d = moderate_f16(&seed);
        put_u16(blk + NL_D, d);
        for (int j = 0; j < 32; j++) {
            unsigned c = (unsigned)(rng_next(&seed) % 16);
            put_bits(blk, code_pos(NL_QS, j), 4, c);
            want[32 * b + j] = ref_f16_value(d) * book[c];
        }
    }
    float out[NB * 32];
    dequantize(VKA_TYPE_IQ4_NL, raw, out, NB * 32);
    for (int i = 0; i < NB * 32; i++) cr_assert_float_eq(out[i], (float)want[i], 0, "value %d", i);
}

Test(types_iq4, dequant_iq4_xs_hand_built) {
    enum { NB = 3 };
    uint8_t raw[NB * 136] = {0};
    double want[NB * 256];
    uint64_t seed = 61;
    for (int b = 0; b < NB; b++) {
        uint8_t *blk = raw + 136 * b;
        uint16_t d = moderate_f16(&seed);
        put_u16(blk + XS_D, d);
        for (int ib = 0; ib < 8; ib++) {
            unsigned ls = (unsigned)(rng_next(&seed) % 64); /* stored with a bias of 32 */
            put_bits(blk, 8 * (XS_SCALES_L + ib / 2) + 4 * (ib % 2), 4, ls & 15);
            put_bits(blk, 8 * XS_SCALES_H + 2 * ib, 2, ls >> 4);
            for (int j = 0; j < 32; j++) {
                unsigned c = (unsigned)(rng_next(&seed) % 16);
                put_bits(blk, code_pos(XS_QS + 16 * ib, j), 4, c);
                want[256 * b + 32 * ib + j] = ref_f16_value(d) * ((int)ls - 32) * book[c];
            }
        }
    }
    float out[NB * 256];
    dequantize(VKA_TYPE_IQ4_XS, raw, out, NB * 256);
    for (int i = 0; i < NB * 256; i++) cr_assert_float_eq(out[i], (float)want[i], 0, "value %d", i);
}

/* Normal data at scales 2^-12 .. 2^4 with special groups: all zero,
 * constant, one outlier, tiny values whose scales underflow f16. */
static void fill_rows(float *x, int64_t n, uint64_t *seed) {
    for (int64_t g = 0; g < n / 32; g++) {
        float *xg = x + 32 * g;
        float scale = ldexpf(1.0f, (int)(rng_next(seed) % 17) - 12);
        for (int j = 0; j < 32; j++) xg[j] = scale * rng_normal(seed);
        switch (g % 16) {
        case 3: memset(xg, 0, 32 * sizeof *xg); break;
        case 7: for (int j = 0; j < 32; j++) xg[j] = -0.75f; break;
        case 9: xg[rng_next(seed) % 32] = 40 * scale; break;
        case 13: for (int j = 0; j < 32; j++) xg[j] *= 1e-9f; break;
        default: break;
        }
    }
}

/* The stored scale of each 32-value group, in double. */
static double group_scale(vka_type type, const uint8_t *blocks, int64_t g) {
    if (type == VKA_TYPE_IQ4_NL) {
        const uint8_t *blk = blocks + 18 * g;
        return ref_f16_value((uint16_t)(blk[NL_D] | blk[NL_D + 1] << 8));
    }
    const uint8_t *blk = blocks + 136 * (g / 8);
    int ib = (int)(g % 8);
    int ls = (int)(get_bits(blk, 8 * XS_SCALES_L + 4 * ib, 4) | get_bits(blk, 8 * XS_SCALES_H + 2 * ib, 2) << 4);
    return ref_f16_value((uint16_t)(blk[XS_D] | blk[XS_D + 1] << 8)) * (ls - 32);
}

/* Every value decodes to a code book level of its group's stored scale s
 * (the quantizer picks codes against the unrounded scale, so a value may sit
 * one level off the nearest for s; its error is then at most one level gap
 * at s plus the rounding of s to f16); a zero scale decodes to 0. */
static void check_quantizer(vka_type type) {
    enum { N = 256 * 64 };
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    uint8_t *q = malloc(vka_type_row_size(type, N));
    cr_assert(x && y && q);
    uint64_t seed = 70 + (uint64_t)type;
    fill_rows(x, N, &seed);
    quantize(type, x, q, N);
    dequantize(type, q, y, N);
    for (int64_t g = 0; g < N / 32; g++) {
        double s = group_scale(type, q, g);
        for (int j = 0; j < 32; j++) {
            double xv = x[32 * g + j], yv = y[32 * g + j];
            if (s == 0) {
                cr_assert_eq(yv, 0.0, "%s group %lld: zero scale decodes to %g", vka_type_name(type), (long long)g, yv);
                continue;
            }
            double lo = fmin(-127 * s, 113 * s), hi = fmax(-127 * s, 113 * s);
            double outside = fmax(0, fmax(lo - xv, xv - hi));
            double gap = 24 * fabs(s); /* the widest gap of the book (89 -> 113) */
            cr_assert_leq(fabs(xv - yv), gap + outside + 1e-3 * fabs(xv) + 1e-30, "%s group %lld value %d: x %g -> %g",
                          vka_type_name(type), (long long)g, j, xv, yv);
        }
    }
    free(x);
    free(y);
    free(q);
}

Test(types_iq4, quantize_iq4_nl_on_levels) { check_quantizer(VKA_TYPE_IQ4_NL); }
Test(types_iq4, quantize_iq4_xs_on_levels) { check_quantizer(VKA_TYPE_IQ4_XS); }

/* Relative RMS error on N(0,1) data: measured 0.0761 (IQ4_NL) and 0.0767
 * (IQ4_XS, 6-bit sub-block scales), about a uniform 4-bit grid's (0.077,
 * test_types_kquants): the scale search weights errors by x^2, trading the
 * small values' error for the large ones'. The bound leaves 4%; a misread
 * book or scale gives several times more. */
Test(types_iq4, quantize_rms_error_on_normal_data) {
    enum { N = 256 * 256 };
    const vka_type types[2] = {VKA_TYPE_IQ4_NL, VKA_TYPE_IQ4_XS};
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    uint8_t *q = malloc(vka_type_row_size(VKA_TYPE_IQ4_NL, N));
    cr_assert(x && y && q);
    uint64_t seed = 80;
    for (int i = 0; i < N; i++) x[i] = rng_normal(&seed);
    for (int t = 0; t < 2; t++) {
        quantize(types[t], x, q, N);
        dequantize(types[t], q, y, N);
        double se = 0, sx = 0;
        for (int i = 0; i < N; i++) {
            se += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
            sx += (double)x[i] * x[i];
        }
        double rel = sqrt(se / sx);
        cr_log_info("%s relative RMS error on N(0,1): %.5f", vka_type_name(types[t]), rel);
        cr_expect_leq(rel, 0.08, "%s: %g", vka_type_name(types[t]), rel);
    }
    free(x);
    free(y);
    free(q);
}

/* Non-finite inputs give some codes, never undefined behaviour (the
 * sanitizer build checks the conversions). */
Test(types_iq4, non_finite_inputs) {
    float x[256];
    for (int i = 0; i < 256; i++) x[i] = i % 3 == 0 ? NAN : i % 3 == 1 ? INFINITY : -1e38f;
    uint8_t q[136];
    float y[256];
    quantize(VKA_TYPE_IQ4_NL, x, q, 32);
    dequantize(VKA_TYPE_IQ4_NL, q, y, 32);
    quantize(VKA_TYPE_IQ4_XS, x, q, 256);
    dequantize(VKA_TYPE_IQ4_XS, q, y, 256);
}
