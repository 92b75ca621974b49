/* types_iq4.c — ggml's IQ4_NL (32-value blocks) and IQ4_XS (256-value
 * super-blocks with 6-bit sub-block scales): 4-bit codes into a fixed
 * non-linear code book, denser near zero where weights cluster. */
#include <math.h>
#include <string.h>

#include "format/types.h"
#include "format/types_iq4.h"

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

const int8_t vka_iq4nl_values[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

/* ---- dequantization ------------------------------------------------------
 * One multiply of the f32 scale by the code book entry per value, as ggml's
 * to_float, so results are bit-identical. */

/* 32 values from 16 bytes of codes: low nibbles first, then high nibbles. */
static void iq4_codes_to_f32(const uint8_t *qs, float d, float *dst) {
    for (int j = 0; j < 16; j++) {
        dst[j] = d * (float)vka_iq4nl_values[qs[j] & 0x0f];
        dst[j + 16] = d * (float)vka_iq4nl_values[qs[j] >> 4];
    }
}

void vka_iq4_nl_to_f32(const void *src, float *dst, int64_t n) {
    const vka_block_iq4_nl *b = src;
    for (int64_t i = 0; i < n / VKA_QK4_NL; i++, dst += VKA_QK4_NL) iq4_codes_to_f32(b[i].qs, vka_f16_to_f32(b[i].d), dst);
}

void vka_iq4_xs_to_f32(const void *src, float *dst, int64_t n) {
    const vka_block_iq4_xs *b = src;
    for (int64_t i = 0; i < n / VKA_QK_K; i++) {
        const float d = vka_f16_to_f32(b[i].d);
        for (int ib = 0; ib < VKA_QK_K / 32; ib++, dst += 32)
            iq4_codes_to_f32(b[i].qs + 16 * ib, d * (float)vka_iq4_xs_scale(&b[i], ib), dst);
    }
}

/* ---- quantization --------------------------------------------------------
 * llama.cpp's quantize_iq4_nl / quantize_iq4_xs without an importance matrix
 * (what llama-quantize runs): weights x^2, float operations in its order. */

/* round(v) to nearest even, clamped to -32..31 (NaN gives 0) */
static int iq4_round_clamp(float v) {
    if (!(v == v)) return 0;
    if (v >= 31.0f) return 31;
    if (v <= -32.0f) return -32;
    return (int)rintf(v);
}

/* The code whose book value is nearest to x (ties to the larger value): a
 * binary search against the midpoints, compared doubled so they are exact. */
static int iq4_nearest(float x) {
    const float x2 = x + x;
    int idx = 0;
    for (int step = 8; step > 0; step >>= 1) {
        int j = idx + step;
        if (x2 >= (float)(vka_iq4nl_values[j - 1] + vka_iq4nl_values[j])) idx = j;
    }
    return idx;
}

/* Least-squares sums of 32 values against the codes nearest to id * x. */
static void iq4_sums(const float *x, const float *w, float id, float *sumqx, float *sumq2, uint8_t *L) {
    *sumqx = *sumq2 = 0;
    for (int j = 0; j < 32; j++) {
        int l = iq4_nearest(id * x[j]);
        if (L) L[j] = (uint8_t)l;
        float q = (float)vka_iq4nl_values[l];
        *sumqx += w[j] * q * x[j];
        *sumq2 += w[j] * q * q;
    }
}

/* The scale of 32 values: from the value of largest magnitude (with its
 * sign, mapped to the book's -127), refined by least squares, then 15
 * inverse scales (itry - 127) / max tried, keeping the best fit. */
static float iq4_fit_block(const float *x) {
    float w[32], amax = 0, max = 0;
    for (int j = 0; j < 32; j++) {
        w[j] = x[j] * x[j];
        if (fabsf(x[j]) > amax) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    if (amax < 1e-15f) return 0.0f;
    float d = -max / (float)vka_iq4nl_values[0];
    float sumqx, sumq2;
    iq4_sums(x, w, 1 / d, &sumqx, &sumq2, NULL);
    d = sumq2 > 0 ? sumqx / sumq2 : 0.0f;
    float best = d * sumqx;
    for (int itry = -7; itry <= 7; itry++) {
        float id = (float)(itry + vka_iq4nl_values[0]) / max;
        iq4_sums(x, w, id, &sumqx, &sumq2, NULL);
        if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
            d = sumqx / sumq2;
            best = d * sumqx;
        }
    }
    return d;
}

/* 32 codes nearest to id * x, packed as vka_iq4_nl_to_f32 reads them. */
static void iq4_pack(const float *x, float id, uint8_t qs[16]) {
    uint8_t L[32];
    for (int j = 0; j < 32; j++) L[j] = (uint8_t)iq4_nearest(id * x[j]);
    for (int j = 0; j < 16; j++) qs[j] = (uint8_t)(L[j] | L[j + 16] << 4);
}

void vka_iq4_nl_from_f32(const float *src, void *dst, int64_t n) {
    vka_block_iq4_nl *b = dst;
    for (int64_t i = 0; i < n / VKA_QK4_NL; i++, src += VKA_QK4_NL) {
        float d = iq4_fit_block(src);
        b[i].d = vka_f32_to_f16(d);
        iq4_pack(src, d != 0 ? 1 / d : 0.0f, b[i].qs);   /* against the unrounded scale */
    }
}

/* IQ4_XS: each sub-block's scale as above, then quantized to 6 bits (bias
 * 32) against d = max_scale / -32 (the scale of largest magnitude maps to
 * -32); the codes come from the f32 product d * ls, not the stored f16. */
void vka_iq4_xs_from_f32(const float *src, void *dst, int64_t n) {
    vka_block_iq4_xs *b = dst;
    for (int64_t i = 0; i < n / VKA_QK_K; i++, src += VKA_QK_K) {
        float scales[8], max_scale = 0, amax_scale = 0;
        for (int ib = 0; ib < 8; ib++) {
            scales[ib] = iq4_fit_block(src + 32 * ib);
            if (fabsf(scales[ib]) > amax_scale) {
                amax_scale = fabsf(scales[ib]);
                max_scale = scales[ib];
            }
        }
        const float d = -max_scale / 32;
        const float id = d != 0 ? 1 / d : 0.0f;
        b[i].d = vka_f32_to_f16(d);
        b[i].scales_h = 0;
        memset(b[i].scales_l, 0, sizeof b[i].scales_l);
        for (int ib = 0; ib < 8; ib++) {
            int l = iq4_round_clamp(id * scales[ib]);
            const float dl = d * (float)l;
            iq4_pack(src + 32 * ib, dl != 0 ? 1 / dl : 0.0f, b[i].qs + 16 * ib);
            l += 32;
            b[i].scales_l[ib / 2] |= (uint8_t)((l & 0x0f) << (4 * (ib % 2)));
            b[i].scales_h |= (uint16_t)((l >> 4) << (2 * ib));
        }
    }
}
