/* types_kquants.c — ggml's K-quant formats: 256-value super-blocks of 16 or
 * 32-value sub-blocks whose scales (and mins) are themselves quantized. */
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "format/types.h"
#include "format/types_kquants.h"

/* Byte identity with llama.cpp needs every multiply and add rounded on its
 * own, never fused: GCC does not fuse in ISO C mode (-std=c11), clang needs
 * telling. */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

/* ---- dequantization ------------------------------------------------------
 * Float operations in ggml's order (scale products first, then one multiply
 * and one subtract per value), so results are bit-identical to ggml. */

/* (vka_k4_scale_min, in types.h, unpacks Q4_K/Q5_K's 6-bit scales and mins.) */

/* Q2_K: within each half (128 values, 32 bytes of qs), bits 2g..2g+1 of byte
 * l hold value 32g + l; scales[j] covers values 16j .. 16j + 15. */
void vka_q2_k_to_f32(const void *src, float *dst, int64_t n) {
    const vka_block_q2_k *b = src;
    for (int64_t i = 0; i < n / VKA_QK_K; i++) {
        const float d = vka_f16_to_f32(b[i].d), dmin = vka_f16_to_f32(b[i].dmin);
        for (int v = 0; v < VKA_QK_K; v++) {
            int half = v / 128, g = v % 128 / 32, l = v % 32;
            int q = (b[i].qs[32 * half + l] >> (2 * g)) & 3;
            uint8_t sc = b[i].scales[v / 16];
            const float dl = d * (float)(sc & 0x0f);
            const float ml = dmin * (float)(sc >> 4);
            dst[i * VKA_QK_K + v] = dl * (float)q - ml;
        }
    }
}

/* Q3_K: low 2 bits as Q2_K; the third bit of value v is bit 4*half + g of
 * hmask[l]; a clear bit subtracts 4 (q in -4..3). */
void vka_q3_k_to_f32(const void *src, float *dst, int64_t n) {
    const vka_block_q3_k *b = src;
    for (int64_t i = 0; i < n / VKA_QK_K; i++) {
        const float d = vka_f16_to_f32(b[i].d);
        for (int v = 0; v < VKA_QK_K; v++) {
            int half = v / 128, g = v % 128 / 32, l = v % 32;
            int low = (b[i].qs[32 * half + l] >> (2 * g)) & 3;
            int high = (b[i].hmask[l] >> (4 * half + g)) & 1;
            const float dl = d * (float)vka_k3_scale(b[i].scales, v / 16);
            dst[i * VKA_QK_K + v] = dl * (float)(low - (high ? 0 : 4));
        }
    }
}

/* Q4_K: each 64 values share 32 bytes of qs: low nibbles are the first 32
 * (sub-block 2c), high nibbles the next 32 (sub-block 2c + 1). */
void vka_q4_k_to_f32(const void *src, float *dst, int64_t n) {
    const vka_block_q4_k *b = src;
    for (int64_t i = 0; i < n / VKA_QK_K; i++) {
        const float d = vka_f16_to_f32(b[i].d), dmin = vka_f16_to_f32(b[i].dmin);
        for (int j = 0; j < VKA_QK_K / 32; j++) {
            int sc, m;
            vka_k4_scale_min(b[i].scales, j, &sc, &m);
            const float ds = d * (float)sc;
            const float dm = dmin * (float)m;
            const uint8_t *qs = b[i].qs + 32 * (j / 2);
            int shift = 4 * (j % 2);
            for (int l = 0; l < 32; l++) *dst++ = ds * (float)((qs[l] >> shift) & 0x0f) - dm;
        }
    }
}

/* Q5_K: as Q4_K, plus the fifth bit of value 32j + l in bit j of qh[l]. */
void vka_q5_k_to_f32(const void *src, float *dst, int64_t n) {
    const vka_block_q5_k *b = src;
    for (int64_t i = 0; i < n / VKA_QK_K; i++) {
        const float d = vka_f16_to_f32(b[i].d), dmin = vka_f16_to_f32(b[i].dmin);
        for (int j = 0; j < VKA_QK_K / 32; j++) {
            int sc, m;
            vka_k4_scale_min(b[i].scales, j, &sc, &m);
            const float ds = d * (float)sc;
            const float dm = dmin * (float)m;
            const uint8_t *qs = b[i].qs + 32 * (j / 2);
            int shift = 4 * (j % 2);
            for (int l = 0; l < 32; l++) {
                int q = ((qs[l] >> shift) & 0x0f) | ((b[i].qh[l] >> j) & 1) << 4;
                *dst++ = ds * (float)q - dm;
            }
        }
    }
}

/* Q6_K: per half (128 values; 64 bytes of ql, 32 of qh), group g of 32
 * values: low 4 bits in ql[32*(g%2) + l] (low nibble for g < 2, high for
 * g >= 2), top 2 bits in bits 2g..2g+1 of qh[l]; q - 32 in -32..31. */
void vka_q6_k_to_f32(const void *src, float *dst, int64_t n) {
    const vka_block_q6_k *b = src;
    for (int64_t i = 0; i < n / VKA_QK_K; i++) {
        const float d = vka_f16_to_f32(b[i].d);
        for (int v = 0; v < VKA_QK_K; v++) {
            int half = v / 128, g = v % 128 / 32, l = v % 32;
            int low = (b[i].ql[64 * half + 32 * (g % 2) + l] >> (4 * (g / 2))) & 0x0f;
            int high = (b[i].qh[32 * half + l] >> (2 * g)) & 3;
            const float ds = d * (float)b[i].scales[v / 16];
            dst[i * VKA_QK_K + v] = ds * (float)((low | high << 4) - 32);
        }
    }
}

/* ---- quantization --------------------------------------------------------
 * Float operations are grouped and ordered as in llama.cpp's reference so
 * that every rounding matches and the scale/min searches below make the same
 * choices on the same inputs. */

/* Round to nearest, ties to even (the default FP rounding mode), saturated
 * so that no input (NaN, inf, huge) makes the int conversion undefined. */
static int round_even(float v) {
    if (!(v == v)) return 0;
    if (v > 4194303.0f) return 4194303;
    if (v < -4194303.0f) return -4194303;
    return (int)rintf(v);
}

static int clamp_int(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Fits x[i] ≈ scale * L[i] - the_min with L in [0, nmax] and the_min >= 0,
 * minimizing the weighted squared error: starting from the min/max fit, it
 * tries nstep + 1 inverse scales (nmax + rmin + rdelta*k)/(max - min),
 * solving the weighted least-squares scale and offset for each rounding and
 * keeping the best (llama.cpp's make_qkx2_quants). Errors are squared, or
 * absolute with `mad` (Q2_K). Note that a better fit moves `lo`, which later
 * candidates use. Returns the scale. */
static float fit_scale_min(int n, int nmax, const float *x, const float *w, uint8_t *L, float *the_min,
                           uint8_t *Laux, float rmin, float rdelta, int nstep, bool mad) {
    float lo = x[0], hi = x[0];
    float sum_w = w[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < lo) lo = x[i];
        if (x[i] > hi) hi = x[i];
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (lo > 0) lo = 0;
    if (hi == lo) {
        memset(L, 0, (size_t)n);
        *the_min = -lo;
        return 0.0f;
    }
    float iscale = (float)nmax / (hi - lo);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; i++) {
        float t = iscale * (x[i] - lo);
        L[i] = (uint8_t)clamp_int(round_even(t), 0, nmax);
        float diff = scale * (float)L[i] + lo - x[i];
        diff = mad ? fabsf(diff) : diff * diff;
        best_error += w[i] * diff;
    }
    for (int k = 0; k <= nstep; k++) {
        iscale = (rmin + rdelta * (float)k + (float)nmax) / (hi - lo);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            float t = iscale * (x[i] - lo);
            int l = clamp_int(round_even(t), 0, nmax);
            Laux[i] = (uint8_t)l;
            float wl = w[i] * (float)l;
            sum_l += wl;
            sum_l2 += wl * (float)l;
            sum_xl += wl * x[i];
        }
        float det = sum_w * sum_l2 - sum_l * sum_l;
        if (!(det > 0)) continue;
        float this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
        float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
        if (this_min > 0) {
            this_min = 0;
            this_scale = sum_xl / sum_l2;
        }
        float err = 0;
        for (int i = 0; i < n; i++) {
            float diff = this_scale * (float)Laux[i] + this_min - x[i];
            diff = mad ? fabsf(diff) : diff * diff;
            err += w[i] * diff;
        }
        if (err < best_error) {
            memcpy(L, Laux, (size_t)n);
            best_error = err;
            scale = this_scale;
            lo = this_min;
        }
    }
    *the_min = -lo;
    return scale;
}

/* Fits x[i] ≈ scale * (L[i] - nmax), L in [0, 2*nmax - 1], weighting errors
 * by x^2: the scale is set by the value of largest magnitude (with its sign),
 * then 18 nearby inverse scales are tried and the one with the best
 * least-squares fit kept (llama.cpp's make_qx_quants, rmse_type 1, no
 * importance weights). Returns the scale. */
static float fit_symmetric(int n, int nmax, const float *x, int8_t *L) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++) {
        float ax = fabsf(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < 1e-15f) {
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    float iscale = (float)-nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        float t = iscale * x[i];
        int l = clamp_int(round_even(t), -nmax, nmax - 1);
        L[i] = (int8_t)(l + nmax);
        float w = x[i] * x[i];
        float wx = w * x[i];
        sumlx += wx * (float)l;
        float wl = w * (float)l;
        suml2 += wl * (float)l;
    }
    float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int k = -9; k <= 9; k++) {
        if (k == 0) continue;
        float step = 0.1f * (float)k;
        iscale = -((float)nmax + step) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; i++) {
            float t = iscale * x[i];
            int l = clamp_int(round_even(t), -nmax, nmax - 1);
            float w = x[i] * x[i];
            float wx = w * x[i];
            sumlx += wx * (float)l;
            float wl = w * (float)l;
            suml2 += wl * (float)l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++) {
                float t = iscale * x[i];
                L[i] = (int8_t)(nmax + clamp_int(round_even(t), -nmax, nmax - 1));
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* Packs 8 six-bit scales and mins the way vka_k4_scale_min reads them. */
static void k4_pack_scales(const uint8_t sc[8], const uint8_t m[8], uint8_t out[VKA_K_SCALE_SIZE]) {
    for (int j = 0; j < 4; j++) {
        out[j] = (uint8_t)(sc[j] | (sc[j + 4] >> 4) << 6);
        out[j + 4] = (uint8_t)(m[j] | (m[j + 4] >> 4) << 6);
        out[j + 8] = (uint8_t)((sc[j + 4] & 0x0f) | (m[j + 4] & 0x0f) << 4);
    }
}

/* Shared by Q4_K (nmax 15) and Q5_K (nmax 31): per 32-value sub-block a
 * weighted scale/min fit, then the 8 scales and 8 mins quantized to 6 bits
 * against f16 super-block scales d = max_scale/63, dmin = max_min/63, then
 * every value requantized against the scales as stored. L gets 0..nmax. */
static void k4_quantize_block(const float *x, int nmax, float rmin, float rdelta, int nstep,
                              uint16_t *d_out, uint16_t *dmin_out, uint8_t scales_out[VKA_K_SCALE_SIZE],
                              uint8_t L[VKA_QK_K]) {
    uint8_t Laux[32];
    float w[32], scales[8], mins[8];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; j++) {
        const float *xs = x + 32 * j;
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++) sum_x2 += xs[l] * xs[l];
        float av_x = sqrtf(sum_x2 / 32.0f);
        for (int l = 0; l < 32; l++) w[l] = av_x + fabsf(xs[l]);
        scales[j] = fit_scale_min(32, nmax, xs, w, L + 32 * j, &mins[j], Laux, rmin, rdelta, nstep, false);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    float inv_scale = max_scale > 0 ? 63.0f / max_scale : 0.0f;
    float inv_min = max_min > 0 ? 63.0f / max_min : 0.0f;
    uint8_t ls[8], lm[8];
    for (int j = 0; j < 8; j++) {
        /* llama.cpp keeps the low byte of the rounded value, then caps at 63 */
        uint8_t s = (uint8_t)round_even(inv_scale * scales[j]);
        uint8_t m = (uint8_t)round_even(inv_min * mins[j]);
        ls[j] = s < 63 ? s : 63;
        lm[j] = m < 63 ? m : 63;
    }
    k4_pack_scales(ls, lm, scales_out);
    *d_out = vka_f32_to_f16(max_scale / 63.0f);
    *dmin_out = vka_f32_to_f16(max_min / 63.0f);
    const float d = vka_f16_to_f32(*d_out), dmin = vka_f16_to_f32(*dmin_out);
    for (int j = 0; j < 8; j++) {
        const float ds = d * (float)ls[j];
        if (ds == 0) continue;   /* keep the fit's codes: every value decodes to -dm anyway */
        const float dm = dmin * (float)lm[j];
        for (int l = 0; l < 32; l++) {
            float shifted = x[32 * j + l] + dm;
            float t = shifted / ds;
            L[32 * j + l] = (uint8_t)clamp_int(round_even(t), 0, nmax);
        }
    }
}

void vka_q4_k_from_f32(const float *src, void *dst, int64_t n) {
    vka_block_q4_k *b = dst;
    for (int64_t i = 0; i < n / VKA_QK_K; i++, src += VKA_QK_K) {
        uint8_t L[VKA_QK_K];
        k4_quantize_block(src, 15, -1.0f, 0.1f, 20, &b[i].d, &b[i].dmin, b[i].scales, L);
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++) b[i].qs[32 * c + l] = (uint8_t)(L[64 * c + l] | L[64 * c + 32 + l] << 4);
    }
}

void vka_q5_k_from_f32(const float *src, void *dst, int64_t n) {
    vka_block_q5_k *b = dst;
    for (int64_t i = 0; i < n / VKA_QK_K; i++, src += VKA_QK_K) {
        uint8_t L[VKA_QK_K];
        k4_quantize_block(src, 31, -0.5f, 0.1f, 15, &b[i].d, &b[i].dmin, b[i].scales, L);
        memset(b[i].qh, 0, sizeof b[i].qh);
        for (int c = 0; c < 4; c++) {
            for (int l = 0; l < 32; l++) {
                int lo = L[64 * c + l], hi = L[64 * c + 32 + l];
                b[i].qs[32 * c + l] = (uint8_t)((lo & 0x0f) | (hi & 0x0f) << 4);
                b[i].qh[l] |= (uint8_t)((lo >> 4) << (2 * c) | (hi >> 4) << (2 * c + 1));
            }
        }
    }
}

/* Q6_K: per 16-value sub-block a symmetric fit with codes -32..31, then the
 * 16 scales as int8 against d = max_scale / -128 (the scale of largest
 * magnitude, with its sign, maps to -128; 128 is capped to 127), then every
 * value requantized against the stored scales. */
void vka_q6_k_from_f32(const float *src, void *dst, int64_t n) {
    vka_block_q6_k *b = dst;
    for (int64_t i = 0; i < n / VKA_QK_K; i++, src += VKA_QK_K) {
        int8_t L[VKA_QK_K];
        float scales[16];
        float max_scale = 0, max_abs_scale = 0;
        for (int j = 0; j < 16; j++) {
            scales[j] = fit_symmetric(16, 32, src + 16 * j, L + 16 * j);
            if (fabsf(scales[j]) > max_abs_scale) {
                max_abs_scale = fabsf(scales[j]);
                max_scale = scales[j];
            }
        }
        if (max_abs_scale < 1e-15f) {
            memset(&b[i], 0, sizeof b[i]);
            continue;
        }
        float iscale = -128.0f / max_scale;
        b[i].d = vka_f32_to_f16(1 / iscale);
        for (int j = 0; j < 16; j++) {
            int s = round_even(iscale * scales[j]);
            b[i].scales[j] = (int8_t)(s < 127 ? s : 127);
        }
        const float d = vka_f16_to_f32(b[i].d);
        for (int j = 0; j < 16; j++) {
            const float ds = d * (float)b[i].scales[j];
            if (ds == 0) continue;
            for (int l = 0; l < 16; l++) {
                float t = src[16 * j + l] / ds;
                L[16 * j + l] = (int8_t)(clamp_int(round_even(t), -32, 31) + 32);
            }
        }
        for (int half = 0; half < 2; half++) {
            const int8_t *Lh = L + 128 * half;
            uint8_t *ql = b[i].ql + 64 * half, *qh = b[i].qh + 32 * half;
            for (int l = 0; l < 32; l++) {
                ql[l] = (uint8_t)((Lh[l] & 0x0f) | (Lh[l + 64] & 0x0f) << 4);
                ql[l + 32] = (uint8_t)((Lh[l + 32] & 0x0f) | (Lh[l + 96] & 0x0f) << 4);
                qh[l] = (uint8_t)(Lh[l] >> 4 | (Lh[l + 32] >> 4) << 2 | (Lh[l + 64] >> 4) << 4 | (Lh[l + 96] >> 4) << 6);
            }
        }
    }
}

/* Packs 256 2-bit codes the way vka_q2_k_to_f32 reads them: per half of 128,
 * byte l holds values l, l + 32, l + 64, l + 96 in bits 0-1, 2-3, 4-5, 6-7. */
static void k2_pack_codes(const uint8_t L[VKA_QK_K], uint8_t qs[VKA_QK_K / 4]) {
    for (int half = 0; half < 2; half++) {
        const uint8_t *Lh = L + 128 * half;
        for (int l = 0; l < 32; l++)
            qs[32 * half + l] = (uint8_t)(Lh[l] | Lh[l + 32] << 2 | Lh[l + 64] << 4 | Lh[l + 96] << 6);
    }
}

/* Q2_K: per 16-value sub-block a scale/min fit with codes 0..3 (weights |x|,
 * absolute errors), then scales and mins each quantized to 4 bits against
 * f16 d = max_scale/15, dmin = max_min/15, then every value requantized
 * against the stored scales (llama.cpp's quantize_row_q2_K_ref). */
void vka_q2_k_from_f32(const float *src, void *dst, int64_t n) {
    vka_block_q2_k *b = dst;
    for (int64_t i = 0; i < n / VKA_QK_K; i++, src += VKA_QK_K) {
        uint8_t L[VKA_QK_K], Laux[16];
        float w[16], scales[16], mins[16];
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < 16; j++) {
            for (int l = 0; l < 16; l++) w[l] = fabsf(src[16 * j + l]);
            scales[j] = fit_scale_min(16, 3, src + 16 * j, w, L + 16 * j, &mins[j], Laux, -0.5f, 0.1f, 15, true);
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        memset(b[i].scales, 0, sizeof b[i].scales);
        b[i].d = b[i].dmin = vka_f32_to_f16(0.0f);
        /* llama.cpp stores the low byte of each rounded value (low nibble for
         * the scale, shifted into the high nibble for the min) */
        if (max_scale > 0) {
            float iscale = 15.0f / max_scale;
            for (int j = 0; j < 16; j++) b[i].scales[j] = (uint8_t)(round_even(iscale * scales[j]) & 0xff);
            b[i].d = vka_f32_to_f16(max_scale / 15.0f);
        }
        if (max_min > 0) {
            float iscale = 15.0f / max_min;
            for (int j = 0; j < 16; j++) b[i].scales[j] |= (uint8_t)(((unsigned)round_even(iscale * mins[j]) << 4) & 0xff);
            b[i].dmin = vka_f32_to_f16(max_min / 15.0f);
        }
        const float d = vka_f16_to_f32(b[i].d), dmin = vka_f16_to_f32(b[i].dmin);
        for (int j = 0; j < 16; j++) {
            const float dl = d * (float)(b[i].scales[j] & 0x0f);
            if (dl == 0) continue;   /* keep the fit's codes, as llama.cpp does */
            const float ml = dmin * (float)(b[i].scales[j] >> 4);
            for (int l = 0; l < 16; l++) {
                float t = (src[16 * j + l] + ml) / dl;
                L[16 * j + l] = (uint8_t)clamp_int(round_even(t), 0, 3);
            }
        }
        k2_pack_codes(L, b[i].qs);
    }
}

/* Fits 16 values x[i] ≈ scale * L[i], L in -4..3, weighting errors by x^2:
 * the value of largest magnitude sets the first scale, then up to 5 passes
 * move single codes while that improves the least-squares fit (llama.cpp's
 * make_q3_quants with do_rmse). L gets the codes + 4; returns the scale. */
static float fit_q3(const float *x, int8_t *L) {
    float max = 0, amax = 0;
    for (int i = 0; i < 16; i++) {
        float ax = fabsf(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < 1e-15f) {
        memset(L, 0, 16);
        return 0.0f;
    }
    float iscale = -4.0f / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < 16; i++) {
        int l = clamp_int(round_even(iscale * x[i]), -4, 3);
        L[i] = (int8_t)l;
        float w = x[i] * x[i];
        sumlx += w * x[i] * (float)l;
        suml2 += w * (float)l * (float)l;
    }
    for (int pass = 0; pass < 5; pass++) {
        int changed = 0;
        for (int i = 0; i < 16; i++) {
            float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * (float)L[i];
            if (!(slx > 0)) continue;
            float sl2 = suml2 - w * (float)L[i] * (float)L[i];
            int l = clamp_int(round_even(x[i] * sl2 / slx), -4, 3);
            if (l == L[i]) continue;
            slx += w * x[i] * (float)l;
            sl2 += w * (float)l * (float)l;
            if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                L[i] = (int8_t)l;
                sumlx = slx;
                suml2 = sl2;
                changed++;
            }
        }
        if (!changed) break;
    }
    for (int i = 0; i < 16; i++) L[i] = (int8_t)(L[i] + 4);
    return suml2 > 0 ? sumlx / suml2 : 0.0f;
}

/* Q3_K: per 16-value sub-block fit_q3, then the 16 scales as 6-bit values
 * (bias 32) against d = max_scale / -32 (the scale of largest magnitude,
 * with its sign, maps to -32), then every value requantized against the
 * stored scales; the third bit of each code goes to hmask
 * (llama.cpp's quantize_row_q3_K_ref). */
void vka_q3_k_from_f32(const float *src, void *dst, int64_t n) {
    vka_block_q3_k *b = dst;
    for (int64_t i = 0; i < n / VKA_QK_K; i++, src += VKA_QK_K) {
        int8_t L[VKA_QK_K];
        float scales[16];
        float max_scale = 0, amax = 0;
        for (int j = 0; j < 16; j++) {
            scales[j] = fit_q3(src + 16 * j, L + 16 * j);
            if (fabsf(scales[j]) > amax) {
                amax = fabsf(scales[j]);
                max_scale = scales[j];
            }
        }
        memset(b[i].scales, 0, sizeof b[i].scales);
        b[i].d = vka_f32_to_f16(0.0f);
        if (max_scale != 0) {
            float iscale = -32.0f / max_scale;
            for (int j = 0; j < 16; j++) {
                int l = clamp_int(round_even(iscale * scales[j]), -32, 31) + 32;
                if (j < 8) b[i].scales[j] = (uint8_t)(l & 0x0f);
                else b[i].scales[j - 8] |= (uint8_t)((l & 0x0f) << 4);
                b[i].scales[8 + j % 4] |= (uint8_t)((l >> 4) << (2 * (j / 4)));
            }
            b[i].d = vka_f32_to_f16(1 / iscale);
        }
        const float d = vka_f16_to_f32(b[i].d);
        for (int j = 0; j < 16; j++) {
            const float dl = d * (float)vka_k3_scale(b[i].scales, j);
            if (dl == 0) continue;   /* keep the fit's codes, as llama.cpp does */
            for (int l = 0; l < 16; l++) L[16 * j + l] = (int8_t)(clamp_int(round_even(src[16 * j + l] / dl), -4, 3) + 4);
        }
        uint8_t low[VKA_QK_K];
        memset(b[i].hmask, 0, sizeof b[i].hmask);
        for (int v = 0; v < VKA_QK_K; v++) {
            if (L[v] > 3) b[i].hmask[v % 32] |= (uint8_t)(1u << (v / 32));
            low[v] = (uint8_t)(L[v] & 3);
        }
        k2_pack_codes(low, b[i].qs);
    }
}
