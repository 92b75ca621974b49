/* cpu_fast_scalar.c — the portable kernels of the fast CPU backend, and the
 * activation quantizer every kernel set shares. Integer block sums are exact,
 * so these give the SIMD kernels' results up to the order of float sums. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/cpu_fast.h"

void vka_fast_quantize_row(const float *x, vka_q8_act *out, int64_t n) {
    float *dsum = (float *)(out + n / 32);
    for (int64_t b = 0; b < n / 32; b++, x += 32) {
        float amax = 0.0f;
        for (int i = 0; i < 32; i++) amax = fabsf(x[i]) > amax ? fabsf(x[i]) : amax; /* NaN skipped, as fmaxf, but inline */
        float d = amax / 127.0f;
        float id = d > 0.0f ? 1.0f / d : 0.0f;
        int32_t sum = 0;
        for (int i = 0; i < 32; i++) {
            /* x*id may round a hair past 127 */
            long q = lrintf(x[i] * id);
            q = q > 127 ? 127 : q < -127 ? -127 : q;
            out[b].q[i] = (int8_t)q;
            sum += (int32_t)q;
        }
        out[b].d = d;
        out[b].sum = sum;
        dsum[b] = d * (float)sum;
    }
}

static void dot_q4_0(int64_t k, const void *w, const void *const *x, int nx, float *out) {
    const vka_block_q4_0 *wb = w;
    for (int j = 0; j < nx; j++) {
        const vka_q8_act *xb = x[j];
        float acc = 0.0f;
        for (int64_t b = 0; b < k / 32; b++) {
            int32_t s = 0;
            for (int i = 0; i < 16; i++)
                s += (wb[b].qs[i] & 0x0f) * xb[b].q[i] + (wb[b].qs[i] >> 4) * xb[b].q[i + 16];
            s -= 8 * xb[b].sum; /* codes are q + 8 */
            acc += vka_f16_to_f32(wb[b].d) * xb[b].d * (float)s;
        }
        out[j] = acc;
    }
}

/* Q5_0: Q4_0's nibbles plus bit i of qh as bit 4 of value i; codes are value + 16. */
static void dot_q5_0(int64_t k, const void *w, const void *const *x, int nx, float *out) {
    const vka_block_q5_0 *wb = w;
    for (int j = 0; j < nx; j++) {
        const vka_q8_act *xb = x[j];
        float acc = 0.0f;
        for (int64_t b = 0; b < k / 32; b++) {
            uint32_t qh;
            memcpy(&qh, wb[b].qh, 4); /* little-endian, as GGUF stores it */
            int32_t s = 0;
            for (int i = 0; i < 16; i++) {
                int lo = (wb[b].qs[i] & 0x0f) | (int)((qh >> i) & 1) << 4;
                int hi = (wb[b].qs[i] >> 4) | (int)((qh >> (i + 16)) & 1) << 4;
                s += lo * xb[b].q[i] + hi * xb[b].q[i + 16];
            }
            s -= 16 * xb[b].sum;
            acc += vka_f16_to_f32(wb[b].d) * xb[b].d * (float)s;
        }
        out[j] = acc;
    }
}

static void dot_q8_0(int64_t k, const void *w, const void *const *x, int nx, float *out) {
    const vka_block_q8_0 *wb = w;
    for (int j = 0; j < nx; j++) {
        const vka_q8_act *xb = x[j];
        float acc = 0.0f;
        for (int64_t b = 0; b < k / 32; b++) {
            int32_t s = 0;
            for (int i = 0; i < 32; i++) s += wb[b].qs[i] * xb[b].q[i];
            acc += vka_f16_to_f32(wb[b].d) * xb[b].d * (float)s;
        }
        out[j] = acc;
    }
}

/* One Q4_K/Q5_K super-block against its 8 activation blocks: sub-block s
 * (32 values) is d*sc*q - dmin*m, q taking bit s of qh[i] as its fifth bit
 * for Q5_K (qh NULL for Q4_K). Adds to acc term by term, the order the
 * whole row's sum has always taken. */
static float dot_k4_super_block(float acc, float d, float dmin, const uint8_t *scales, const uint8_t *qs,
                                const uint8_t *qh, const vka_q8_act *a, const float *dsum) {
    for (int s = 0; s < 8; s++) {
        const uint8_t *q = qs + 32 * (s / 2);
        int shift = 4 * (s % 2), sc, m;
        vka_k4_scale_min(scales, s, &sc, &m);
        int32_t sum = 0;
        for (int i = 0; i < 32; i++) {
            int high = qh ? ((qh[i] >> s) & 1) << 4 : 0;
            sum += (((q[i] >> shift) & 0x0f) | high) * a[s].q[i];
        }
        acc += a[s].d * d * (float)(sc * sum) - dmin * (float)m * dsum[s];
    }
    return acc;
}

static void dot_q4_k(int64_t k, const void *w, const void *const *x, int nx, float *out) {
    const vka_block_q4_k *wb = w;
    for (int j = 0; j < nx; j++) {
        const vka_q8_act *xb = x[j];
        const float *dsum = vka_fast_act_dsum(xb, k);
        float acc = 0.0f;
        for (int64_t b = 0; b < k / VKA_QK_K; b++)
            acc = dot_k4_super_block(acc, vka_f16_to_f32(wb[b].d), vka_f16_to_f32(wb[b].dmin), wb[b].scales, wb[b].qs,
                                     NULL, &xb[b * 8], &dsum[b * 8]);
        out[j] = acc;
    }
}

static void dot_q5_k(int64_t k, const void *w, const void *const *x, int nx, float *out) {
    const vka_block_q5_k *wb = w;
    for (int j = 0; j < nx; j++) {
        const vka_q8_act *xb = x[j];
        const float *dsum = vka_fast_act_dsum(xb, k);
        float acc = 0.0f;
        for (int64_t b = 0; b < k / VKA_QK_K; b++)
            acc = dot_k4_super_block(acc, vka_f16_to_f32(wb[b].d), vka_f16_to_f32(wb[b].dmin), wb[b].scales, wb[b].qs,
                                     wb[b].qh, &xb[b * 8], &dsum[b * 8]);
        out[j] = acc;
    }
}

/* Q6_K: value v of a super-block is d * scales[v/16] * (q - 32). */
static void dot_q6_k(int64_t k, const void *w, const void *const *x, int nx, float *out) {
    const vka_block_q6_k *wb = w;
    for (int j = 0; j < nx; j++) {
        const vka_q8_act *xb = x[j];
        float acc = 0.0f;
        for (int64_t b = 0; b < k / VKA_QK_K; b++) {
            float d = vka_f16_to_f32(wb[b].d);
            for (int g8 = 0; g8 < 8; g8++) { /* 32-value group: half g8/4, group g8%4 */
                int half = g8 / 4, g = g8 % 4;
                const uint8_t *ql = wb[b].ql + 64 * half + 32 * (g % 2), *qh = wb[b].qh + 32 * half;
                const vka_q8_act *a = &xb[b * 8 + g8];
                int32_t sum = 0;
                for (int h = 0; h < 2; h++) { /* two sub-blocks of 16 with their own scale */
                    int32_t part = 0;
                    for (int l = 16 * h; l < 16 * h + 16; l++) {
                        int q = ((ql[l] >> (4 * (g / 2))) & 0x0f) | ((qh[l] >> (2 * g)) & 3) << 4;
                        part += (q - 32) * a->q[l];
                    }
                    sum += wb[b].scales[2 * g8 + h] * part;
                }
                acc += d * a->d * (float)sum;
            }
        }
        out[j] = acc;
    }
}

/* Q2_K: activation block ab of a super-block holds value group g = ab % 4 of
 * half ab / 4 (2 bits at 2g of qs[32*half + l]); its two 16-value halves h
 * have their own 4-bit scale and min, scales[2*ab + h]. */
static void dot_q2_k(int64_t k, const void *w, const void *const *x, int nx, float *out) {
    const vka_block_q2_k *wb = w;
    for (int j = 0; j < nx; j++) {
        const vka_q8_act *xb = x[j];
        float acc = 0.0f;
        for (int64_t b = 0; b < k / VKA_QK_K; b++) {
            float d = vka_f16_to_f32(wb[b].d), dmin = vka_f16_to_f32(wb[b].dmin);
            for (int ab = 0; ab < 8; ab++) {
                const uint8_t *qs = wb[b].qs + 32 * (ab / 4);
                const vka_q8_act *a = &xb[b * 8 + ab];
                int shift = 2 * (ab % 4);
                int32_t sum = 0, msum = 0;
                for (int h = 0; h < 2; h++) {
                    int32_t part = 0, asum = 0;
                    for (int l = 16 * h; l < 16 * h + 16; l++) {
                        part += ((qs[l] >> shift) & 3) * a->q[l];
                        asum += a->q[l];
                    }
                    uint8_t sc = wb[b].scales[2 * ab + h];
                    sum += (sc & 0x0f) * part;
                    msum += (sc >> 4) * asum;
                }
                acc += a->d * (d * (float)sum - dmin * (float)msum);
            }
        }
        out[j] = acc;
    }
}

/* Q3_K: as Q2_K's order, the third bit of the code in bit 4*half + g of
 * hmask[l]; value d * scale * (code - 4). */
static void dot_q3_k(int64_t k, const void *w, const void *const *x, int nx, float *out) {
    const vka_block_q3_k *wb = w;
    for (int j = 0; j < nx; j++) {
        const vka_q8_act *xb = x[j];
        float acc = 0.0f;
        for (int64_t b = 0; b < k / VKA_QK_K; b++) {
            float d = vka_f16_to_f32(wb[b].d);
            for (int ab = 0; ab < 8; ab++) {
                const uint8_t *qs = wb[b].qs + 32 * (ab / 4);
                const vka_q8_act *a = &xb[b * 8 + ab];
                int shift = 2 * (ab % 4), bit = ab; /* 4 * half + g */
                int32_t sum = 0;
                for (int h = 0; h < 2; h++) {
                    int32_t part = 0;
                    for (int l = 16 * h; l < 16 * h + 16; l++) {
                        int q = ((qs[l] >> shift) & 3) | ((wb[b].hmask[l] >> bit) & 1) << 2;
                        part += (q - 4) * a->q[l];
                    }
                    sum += vka_k3_scale(wb[b].scales, 2 * ab + h) * part;
                }
                acc += d * a->d * (float)sum;
            }
        }
        out[j] = acc;
    }
}

/* Sum of the code book values of 32 IQ4 codes (low nibbles first) times 32 activations. */
static int32_t iq4_block_dot(const uint8_t *qs, const int8_t *q) {
    int32_t s = 0;
    for (int i = 0; i < 16; i++)
        s += vka_iq4nl_values[qs[i] & 0x0f] * q[i] + vka_iq4nl_values[qs[i] >> 4] * q[i + 16];
    return s;
}

static void dot_iq4_nl(int64_t k, const void *w, const void *const *x, int nx, float *out) {
    const vka_block_iq4_nl *wb = w;
    for (int j = 0; j < nx; j++) {
        const vka_q8_act *xb = x[j];
        float acc = 0.0f;
        for (int64_t b = 0; b < k / 32; b++)
            acc += vka_f16_to_f32(wb[b].d) * xb[b].d * (float)iq4_block_dot(wb[b].qs, xb[b].q);
        out[j] = acc;
    }
}

static void dot_iq4_xs(int64_t k, const void *w, const void *const *x, int nx, float *out) {
    const vka_block_iq4_xs *wb = w;
    for (int j = 0; j < nx; j++) {
        const vka_q8_act *xb = x[j];
        float acc = 0.0f;
        for (int64_t b = 0; b < k / VKA_QK_K; b++) {
            float d = vka_f16_to_f32(wb[b].d);
            for (int ib = 0; ib < 8; ib++) {
                const vka_q8_act *a = &xb[b * 8 + ib];
                int32_t s = vka_iq4_xs_scale(&wb[b], ib) * iq4_block_dot(wb[b].qs + 16 * ib, a->q);
                acc += d * a->d * (float)s;
            }
        }
        out[j] = acc;
    }
}

static void dot_f32(int64_t k, const void *w, const void *const *x, int nx, float *out) {
    for (int j = 0; j < nx; j++) out[j] = vka_cpu_dot(w, x[j], k);
}

static void dot_f16(int64_t k, const void *w, const void *const *x, int nx, float *out) {
    const uint16_t *wh = w;
    for (int j = 0; j < nx; j++) {
        const float *xf = x[j];
        float acc[8] = {0};
        for (int64_t i = 0; i < k; i++) acc[i % 8] += vka_f16_to_f32(wh[i]) * xf[i];
        out[j] = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    }
}

const vka_fast_kernels vka_fast_scalar = {
    .isa = "scalar",
    .quantize = vka_fast_quantize_row,
    .dot = {
        [VKA_TYPE_F32] = dot_f32,
        [VKA_TYPE_F16] = dot_f16,
        [VKA_TYPE_Q4_0] = dot_q4_0,
        [VKA_TYPE_Q5_0] = dot_q5_0,
        [VKA_TYPE_Q8_0] = dot_q8_0,
        [VKA_TYPE_Q4_K] = dot_q4_k,
        [VKA_TYPE_Q6_K] = dot_q6_k,
        [VKA_TYPE_Q5_K] = dot_q5_k,
        [VKA_TYPE_Q2_K] = dot_q2_k,
        [VKA_TYPE_Q3_K] = dot_q3_k,
        [VKA_TYPE_IQ4_NL] = dot_iq4_nl,
        [VKA_TYPE_IQ4_XS] = dot_iq4_xs,
    },
};
