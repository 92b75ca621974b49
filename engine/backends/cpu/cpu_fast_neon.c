/* cpu_fast_neon.c — the fast backend's kernels in NEON, for builds that target
 * arm64 (where NEON is always present, so no run-time check): weight codes
 * times 8-bit activations summed exactly in integers (vdotq_s32 when the
 * compiler targets the dot-product extension, else vmull_s8 + vpadalq_s16),
 * then scaled into four f32 partial sums per activation row. As in the x86
 * sets, each kernel is instantiated for 1..4 activation rows so a weight
 * block, loaded once, is applied to every row of the tile. Elsewhere this
 * file only says that it has nothing (vka_fast_neon returns NULL). */
#include "backends/cpu/cpu_fast.h"

#if defined(__aarch64__)
#include <arm_neon.h>
#include <string.h>

#define INLINE_KERNEL static inline __attribute__((always_inline))
/* nx is a constant in each instance: unrolled, the tile's accumulators live in registers */
#define VKA_UNROLL _Pragma("GCC unroll 4")

#ifdef __ARM_FEATURE_DOTPROD
#define NEON_ISA "neon-dotprod"
#else
#define NEON_ISA "neon"
#endif

/* acc plus the sums of a[i]*b[i] over each group of 4 bytes (exact: |a*b| <= 128*127, and a
 * group of 4 sums to at most 4*16256, so 16-bit products and 32-bit sums never overflow). */
INLINE_KERNEL int32x4_t dot16(int32x4_t acc, int8x16_t a, int8x16_t b) {
#ifdef __ARM_FEATURE_DOTPROD
    return vdotq_s32(acc, a, b);
#else
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(a), vget_low_s8(b)));
    return vpadalq_s16(acc, vmull_high_s8(a, b));
#endif
}

/* Four sums over 32 weight values (w0: values 0-15, w1: 16-31) times an activation block. */
INLINE_KERNEL int32x4_t dot32(int8x16_t w0, int8x16_t w1, const vka_q8_act *a) {
    return dot16(dot16(vdupq_n_s32(0), w0, vld1q_s8(a->q)), w1, vld1q_s8(a->q + 16));
}

INLINE_KERNEL float half_to_float(uint16_t h) {
    return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(h))), 0);
}

/* acc + the four integer sums s scaled by `scale`. */
INLINE_KERNEL float32x4_t scale_add(float32x4_t acc, int32x4_t s, float scale) {
    return vfmaq_n_f32(acc, vcvtq_f32_s32(s), scale);
}

/* A block of 32 weights of the types with one scale per block: values 0-15
 * and 16-31 as signed bytes, and the scale. */
typedef struct block32 {
    int8x16_t w0, w1;
    float d;
} block32;

/* The tile loop of those types; `decode` (a constant in each caller, so
 * inlined) turns a block of block_bytes into its values. */
INLINE_KERNEL void block32_tile(int64_t k, const uint8_t *w, size_t block_bytes, block32 (*decode)(const void *),
                                const vka_q8_act *const *x, float *out, const int nx) {
    float32x4_t acc[VKA_FAST_TILE];
    VKA_UNROLL
    for (int j = 0; j < nx; j++) acc[j] = vdupq_n_f32(0.0f);
    for (int64_t b = 0; b < k / 32; b++) {
        block32 wb = decode(w + (size_t)b * block_bytes);
        VKA_UNROLL
        for (int j = 0; j < nx; j++) {
            const vka_q8_act *a = &x[j][b];
            acc[j] = scale_add(acc[j], dot32(wb.w0, wb.w1, a), wb.d * a->d);
        }
    }
    VKA_UNROLL
    for (int j = 0; j < nx; j++) out[j] = vaddvq_f32(acc[j]);
}

INLINE_KERNEL block32 decode_q4_0(const void *p) {
    const vka_block_q4_0 *blk = p;
    uint8x16_t raw = vld1q_u8(blk->qs);
    /* low nibbles are values 0..15, high nibbles 16..31; codes are value + 8 */
    const int8x16_t eight = vdupq_n_s8(8);
    return (block32){vsubq_s8(vreinterpretq_s8_u8(vandq_u8(raw, vdupq_n_u8(0x0f))), eight),
                     vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(raw, 4)), eight), half_to_float(blk->d)};
}

/* Byte i of the result is 0xff where bit i of `bits` (16 bits) is set. */
INLINE_KERNEL uint8x16_t bits_to_bytes(uint32_t bits) {
    static const uint8_t bit[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    uint8x16_t v = vcombine_u8(vdup_n_u8((uint8_t)(bits & 0xff)), vdup_n_u8((uint8_t)((bits >> 8) & 0xff)));
    return vtstq_u8(v, vld1q_u8(bit));
}

INLINE_KERNEL block32 decode_q5_0(const void *p) {
    const vka_block_q5_0 *blk = p;
    const uint8x16_t fifth = vdupq_n_u8(0x10);
    uint8x16_t raw = vld1q_u8(blk->qs);
    uint32_t qh;
    memcpy(&qh, blk->qh, 4); /* bit i is bit 4 of value i; little-endian, as GGUF stores it */
    uint8x16_t lo = vorrq_u8(vandq_u8(raw, vdupq_n_u8(0x0f)), vandq_u8(bits_to_bytes(qh), fifth));
    uint8x16_t hi = vorrq_u8(vshrq_n_u8(raw, 4), vandq_u8(bits_to_bytes(qh >> 16), fifth));
    /* codes are value + 16 */
    const int8x16_t sixteen = vdupq_n_s8(16);
    return (block32){vsubq_s8(vreinterpretq_s8_u8(lo), sixteen), vsubq_s8(vreinterpretq_s8_u8(hi), sixteen),
                     half_to_float(blk->d)};
}

INLINE_KERNEL block32 decode_q8_0(const void *p) {
    const vka_block_q8_0 *blk = p;
    return (block32){vld1q_s8(blk->qs), vld1q_s8(blk->qs + 16), half_to_float(blk->d)};
}

/* IQ4_NL: the codes (low nibbles values 0-15, high 16-31) looked up in the code book. */
INLINE_KERNEL block32 decode_iq4(const uint8_t *qs, float d) {
    const int8x16_t book = vld1q_s8(vka_iq4nl_values);
    uint8x16_t raw = vld1q_u8(qs);
    return (block32){vqtbl1q_s8(book, vandq_u8(raw, vdupq_n_u8(0x0f))), vqtbl1q_s8(book, vshrq_n_u8(raw, 4)), d};
}

INLINE_KERNEL block32 decode_iq4_nl(const void *p) {
    const vka_block_iq4_nl *blk = p;
    return decode_iq4(blk->qs, half_to_float(blk->d));
}

/* IQ4_XS: eight IQ4_NL-like sub-blocks with the scale d * (ls - 32). */
INLINE_KERNEL void iq4_xs_tile(int64_t k, const vka_block_iq4_xs *wb, const vka_q8_act *const *x, float *out,
                               const int nx) {
    float32x4_t acc[VKA_FAST_TILE];
    VKA_UNROLL
    for (int j = 0; j < nx; j++) acc[j] = vdupq_n_f32(0.0f);
    for (int64_t b = 0; b < k / VKA_QK_K; b++) {
        float d = half_to_float(wb[b].d);
        for (int ib = 0; ib < 8; ib++) {
            block32 sub = decode_iq4(wb[b].qs + 16 * ib, d * (float)vka_iq4_xs_scale(&wb[b], ib));
            VKA_UNROLL
            for (int j = 0; j < nx; j++) {
                const vka_q8_act *a = &x[j][b * 8 + ib];
                acc[j] = scale_add(acc[j], dot32(sub.w0, sub.w1, a), sub.d * a->d);
            }
        }
    }
    VKA_UNROLL
    for (int j = 0; j < nx; j++) out[j] = vaddvq_f32(acc[j]);
}

INLINE_KERNEL void iq4_nl_tile(int64_t k, const vka_block_iq4_nl *wb, const vka_q8_act *const *x, float *out,
                               const int nx) {
    block32_tile(k, (const uint8_t *)wb, sizeof *wb, decode_iq4_nl, x, out, nx);
}

INLINE_KERNEL void q4_0_tile(int64_t k, const vka_block_q4_0 *wb, const vka_q8_act *const *x, float *out, const int nx) {
    block32_tile(k, (const uint8_t *)wb, sizeof *wb, decode_q4_0, x, out, nx);
}

INLINE_KERNEL void q5_0_tile(int64_t k, const vka_block_q5_0 *wb, const vka_q8_act *const *x, float *out, const int nx) {
    block32_tile(k, (const uint8_t *)wb, sizeof *wb, decode_q5_0, x, out, nx);
}

INLINE_KERNEL void q8_0_tile(int64_t k, const vka_block_q8_0 *wb, const vka_q8_act *const *x, float *out, const int nx) {
    block32_tile(k, (const uint8_t *)wb, sizeof *wb, decode_q8_0, x, out, nx);
}

/* One Q4_K/Q5_K super-block into the tile's sums: sub-block s (32 values) is
 * d*sc*q - dmin*m, q taking bit s of qh[l] as its fifth bit for Q5_K (qh
 * NULL for Q4_K: a constant in each caller, so the test folds away). */
INLINE_KERNEL void k4_super_block(float d, float dmin, const uint8_t *scales, const uint8_t *qs, const uint8_t *qh,
                                  const vka_q8_act *const *x, int64_t k, int64_t b, float32x4_t *acc,
                                  float32x4_t *mins, const int nx) {
    const uint8x16_t nibble = vdupq_n_u8(0x0f), fifth = vdupq_n_u8(0x10);
    int sc[8], m[8];
    for (int s = 0; s < 8; s++) vka_k4_scale_min(scales, s, &sc[s], &m[s]);
    float32x4_t fm0 = {(float)m[0], (float)m[1], (float)m[2], (float)m[3]};
    float32x4_t fm1 = {(float)m[4], (float)m[5], (float)m[6], (float)m[7]};
    fm0 = vmulq_n_f32(fm0, dmin);
    fm1 = vmulq_n_f32(fm1, dmin);
    VKA_UNROLL
    for (int j = 0; j < nx; j++) { /* the mins: dmin * m_s * d_x * sum(q_x) over the 8 sub-blocks */
        const float *dsum = vka_fast_act_dsum(x[j], k) + b * 8;
        mins[j] = vfmaq_f32(mins[j], fm0, vld1q_f32(dsum));
        mins[j] = vfmaq_f32(mins[j], fm1, vld1q_f32(dsum + 4));
    }
    uint8x16_t qh0 = vdupq_n_u8(0), qh1 = vdupq_n_u8(0);
    if (qh) qh0 = vld1q_u8(qh), qh1 = vld1q_u8(qh + 16);
    for (int c = 0; c < 4; c++) { /* 32 bytes: sub-block 2c in the low nibbles, 2c+1 in the high */
        uint8x16_t raw0 = vld1q_u8(qs + 32 * c), raw1 = vld1q_u8(qs + 32 * c + 16);
        uint8x16_t lo0 = vandq_u8(raw0, nibble), lo1 = vandq_u8(raw1, nibble);
        uint8x16_t hi0 = vshrq_n_u8(raw0, 4), hi1 = vshrq_n_u8(raw1, 4);
        if (qh) { /* bit 2c of qh[l] is bit 4 of the low code, bit 2c + 1 of the high one */
            const int8x16_t down = vdupq_n_s8((int8_t)(4 - 2 * c)), down1 = vdupq_n_s8((int8_t)(3 - 2 * c));
            lo0 = vorrq_u8(lo0, vandq_u8(vshlq_u8(qh0, down), fifth));
            lo1 = vorrq_u8(lo1, vandq_u8(vshlq_u8(qh1, down), fifth));
            hi0 = vorrq_u8(hi0, vandq_u8(vshlq_u8(qh0, down1), fifth));
            hi1 = vorrq_u8(hi1, vandq_u8(vshlq_u8(qh1, down1), fifth));
        }
        int8x16_t l0 = vreinterpretq_s8_u8(lo0), l1 = vreinterpretq_s8_u8(lo1);
        int8x16_t h0 = vreinterpretq_s8_u8(hi0), h1 = vreinterpretq_s8_u8(hi1);
        int32_t sc_lo = sc[2 * c], sc_hi = sc[2 * c + 1];
        VKA_UNROLL
        for (int j = 0; j < nx; j++) {
            const vka_q8_act *a0 = &x[j][b * 8 + 2 * c], *a1 = a0 + 1;
            /* the 6-bit scale applied in integers: sc * sum <= 63 * 31 * 127 * 32 fits */
            acc[j] = scale_add(acc[j], vmulq_n_s32(dot32(l0, l1, a0), sc_lo), d * a0->d);
            acc[j] = scale_add(acc[j], vmulq_n_s32(dot32(h0, h1, a1), sc_hi), d * a1->d);
        }
    }
}

INLINE_KERNEL void q4_k_tile(int64_t k, const vka_block_q4_k *wb, const vka_q8_act *const *x, float *out, const int nx) {
    float32x4_t acc[VKA_FAST_TILE], mins[VKA_FAST_TILE];
    VKA_UNROLL
    for (int j = 0; j < nx; j++) acc[j] = mins[j] = vdupq_n_f32(0.0f);
    for (int64_t b = 0; b < k / VKA_QK_K; b++)
        k4_super_block(half_to_float(wb[b].d), half_to_float(wb[b].dmin), wb[b].scales, wb[b].qs, NULL, x, k, b, acc,
                       mins, nx);
    VKA_UNROLL
    for (int j = 0; j < nx; j++) out[j] = vaddvq_f32(vsubq_f32(acc[j], mins[j]));
}

/* Q5_K: Q4_K's nibbles with the fifth bit of value l of sub-block s in bit s of qh[l]; codes 0..31. */
INLINE_KERNEL void q5_k_tile(int64_t k, const vka_block_q5_k *wb, const vka_q8_act *const *x, float *out, const int nx) {
    float32x4_t acc[VKA_FAST_TILE], mins[VKA_FAST_TILE];
    VKA_UNROLL
    for (int j = 0; j < nx; j++) acc[j] = mins[j] = vdupq_n_f32(0.0f);
    for (int64_t b = 0; b < k / VKA_QK_K; b++)
        k4_super_block(half_to_float(wb[b].d), half_to_float(wb[b].dmin), wb[b].scales, wb[b].qs, wb[b].qh, x, k, b,
                       acc, mins, nx);
    VKA_UNROLL
    for (int j = 0; j < nx; j++) out[j] = vaddvq_f32(vsubq_f32(acc[j], mins[j]));
}

/* Q2_K and Q3_K: per half of a super-block (32 bytes of qs) group g is bits
 * 2g..2g+1 of each byte, one activation block, whose 16-value halves have
 * their own scale: bits 2g.. of qs (q0 bytes 0-15, q1 16-31) as codes 0..3. */
INLINE_KERNEL uint8x16_t low2(uint8x16_t q, int g) {
    return vandq_u8(vshlq_u8(q, vdupq_n_s8((int8_t)(-2 * g))), vdupq_n_u8(3));
}

/* Q2_K: value d * sc * q - dmin * m with a 4-bit scale and min per 16 values;
 * the mins go through the activations (m times the sum of 16 codes, one
 * dot product with m in every byte). */
INLINE_KERNEL void q2_k_tile(int64_t k, const vka_block_q2_k *wb, const vka_q8_act *const *x, float *out, const int nx) {
    float32x4_t acc[VKA_FAST_TILE], mins[VKA_FAST_TILE];
    VKA_UNROLL
    for (int j = 0; j < nx; j++) acc[j] = mins[j] = vdupq_n_f32(0.0f);
    for (int64_t b = 0; b < k / VKA_QK_K; b++) {
        float d = half_to_float(wb[b].d), dmin = half_to_float(wb[b].dmin);
        for (int half = 0; half < 2; half++) {
            uint8x16_t raw0 = vld1q_u8(wb[b].qs + 32 * half), raw1 = vld1q_u8(wb[b].qs + 32 * half + 16);
            for (int g = 0; g < 4; g++) {
                int8x16_t w0 = vreinterpretq_s8_u8(low2(raw0, g)), w1 = vreinterpretq_s8_u8(low2(raw1, g));
                const uint8_t *sc = wb[b].scales + 8 * half + 2 * g;
                int8x16_t m0 = vdupq_n_s8((int8_t)(sc[0] >> 4)), m1 = vdupq_n_s8((int8_t)(sc[1] >> 4));
                VKA_UNROLL
                for (int j = 0; j < nx; j++) {
                    const vka_q8_act *a = &x[j][b * 8 + 4 * half + g];
                    int8x16_t x0 = vld1q_s8(a->q), x1 = vld1q_s8(a->q + 16);
                    int32x4_t s = vmlaq_n_s32(vmulq_n_s32(dot16(vdupq_n_s32(0), w0, x0), sc[0] & 0x0f),
                                              dot16(vdupq_n_s32(0), w1, x1), sc[1] & 0x0f);
                    int32x4_t ms = dot16(dot16(vdupq_n_s32(0), m0, x0), m1, x1);
                    acc[j] = scale_add(acc[j], s, d * a->d);
                    mins[j] = scale_add(mins[j], ms, dmin * a->d);
                }
            }
        }
    }
    VKA_UNROLL
    for (int j = 0; j < nx; j++) out[j] = vaddvq_f32(vsubq_f32(acc[j], mins[j]));
}

/* Q3_K: Q2_K's low bits plus bit 4*half + g of each hmask byte as bit 2;
 * codes - 4 (-4..3), each 16 values with their signed 6-bit scale. */
INLINE_KERNEL void q3_k_tile(int64_t k, const vka_block_q3_k *wb, const vka_q8_act *const *x, float *out, const int nx) {
    float32x4_t acc[VKA_FAST_TILE];
    VKA_UNROLL
    for (int j = 0; j < nx; j++) acc[j] = vdupq_n_f32(0.0f);
    const uint8x16_t four = vdupq_n_u8(4);
    for (int64_t b = 0; b < k / VKA_QK_K; b++) {
        float d = half_to_float(wb[b].d);
        uint8x16_t hm0 = vld1q_u8(wb[b].hmask), hm1 = vld1q_u8(wb[b].hmask + 16);
        for (int half = 0; half < 2; half++) {
            uint8x16_t raw0 = vld1q_u8(wb[b].qs + 32 * half), raw1 = vld1q_u8(wb[b].qs + 32 * half + 16);
            for (int g = 0; g < 4; g++) {
                /* the hmask bit moved to bit 2 */
                const int8x16_t shift = vdupq_n_s8((int8_t)(2 - 4 * half - g));
                uint8x16_t q0 = vorrq_u8(low2(raw0, g), vandq_u8(vshlq_u8(hm0, shift), four));
                uint8x16_t q1 = vorrq_u8(low2(raw1, g), vandq_u8(vshlq_u8(hm1, shift), four));
                int8x16_t w0 = vsubq_s8(vreinterpretq_s8_u8(q0), vdupq_n_s8(4));
                int8x16_t w1 = vsubq_s8(vreinterpretq_s8_u8(q1), vdupq_n_s8(4));
                int sub = 8 * half + 2 * g;
                int32_t sc0 = vka_k3_scale(wb[b].scales, sub), sc1 = vka_k3_scale(wb[b].scales, sub + 1);
                VKA_UNROLL
                for (int j = 0; j < nx; j++) {
                    const vka_q8_act *a = &x[j][b * 8 + 4 * half + g];
                    int32x4_t s0 = dot16(vdupq_n_s32(0), w0, vld1q_s8(a->q));
                    int32x4_t s1 = dot16(vdupq_n_s32(0), w1, vld1q_s8(a->q + 16));
                    acc[j] = scale_add(acc[j], vmlaq_n_s32(vmulq_n_s32(s0, sc0), s1, sc1), d * a->d);
                }
            }
        }
    }
    VKA_UNROLL
    for (int j = 0; j < nx; j++) out[j] = vaddvq_f32(acc[j]);
}

/* Q6_K's 32 values of group g of a half: low 4 bits from ql (ql0 for even g, ql1 for odd; the
 * low nibble for g < 2), top 2 bits at 2g of qh, minus 32. */
INLINE_KERNEL int8x16_t q6_values(uint8x16_t ql, uint8x16_t qh, int g) {
    uint8x16_t low = g < 2 ? vandq_u8(ql, vdupq_n_u8(0x0f)) : vshrq_n_u8(ql, 4);
    uint8x16_t high = vandq_u8(vshlq_u8(qh, vdupq_n_s8((int8_t)(-2 * g))), vdupq_n_u8(3));
    return vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(low, vshlq_n_u8(high, 4))), vdupq_n_s8(32));
}

INLINE_KERNEL void q6_k_tile(int64_t k, const vka_block_q6_k *wb, const vka_q8_act *const *x, float *out, const int nx) {
    float32x4_t acc[VKA_FAST_TILE];
    VKA_UNROLL
    for (int j = 0; j < nx; j++) acc[j] = vdupq_n_f32(0.0f);
    for (int64_t b = 0; b < k / VKA_QK_K; b++) {
        float d = half_to_float(wb[b].d);
        for (int half = 0; half < 2; half++) {
            const uint8_t *ql = wb[b].ql + 64 * half, *qh = wb[b].qh + 32 * half;
            uint8x16_t qh0 = vld1q_u8(qh), qh1 = vld1q_u8(qh + 16);
            for (int g = 0; g < 4; g++) {
                const uint8_t *src = ql + 32 * (g % 2);
                int8x16_t w0 = q6_values(vld1q_u8(src), qh0, g), w1 = q6_values(vld1q_u8(src + 16), qh1, g);
                /* values 0..15 and 16..31 of the group have their own scale */
                int sub = 8 * half + 2 * g;
                int32_t sc0 = wb[b].scales[sub], sc1 = wb[b].scales[sub + 1];
                VKA_UNROLL
                for (int j = 0; j < nx; j++) {
                    const vka_q8_act *a = &x[j][b * 8 + 4 * half + g];
                    int32x4_t s0 = dot16(vdupq_n_s32(0), w0, vld1q_s8(a->q));
                    int32x4_t s1 = dot16(vdupq_n_s32(0), w1, vld1q_s8(a->q + 16));
                    int32x4_t s = vmlaq_n_s32(vmulq_n_s32(s0, sc0), s1, sc1);
                    acc[j] = scale_add(acc[j], s, d * a->d);
                }
            }
        }
    }
    VKA_UNROLL
    for (int j = 0; j < nx; j++) out[j] = vaddvq_f32(acc[j]);
}

/* Eight weights as two vectors of f32, and one weight, of F32 or F16 rows. */
typedef struct float8 {
    float32x4_t w0, w1;
} float8;

INLINE_KERNEL float8 load8_f32(const void *w, int64_t i) {
    return (float8){vld1q_f32((const float *)w + i), vld1q_f32((const float *)w + i + 4)};
}
INLINE_KERNEL float load1_f32(const void *w, int64_t i) { return ((const float *)w)[i]; }

INLINE_KERNEL float8 load8_f16(const void *w, int64_t i) {
    float16x8_t h = vreinterpretq_f16_u16(vld1q_u16((const uint16_t *)w + i));
    return (float8){vcvt_f32_f16(vget_low_f16(h)), vcvt_high_f32_f16(h)};
}
INLINE_KERNEL float load1_f16(const void *w, int64_t i) { return half_to_float(((const uint16_t *)w)[i]); }

/* The tile loop of the float weight types, on f32 activations; load8 and
 * load1 (constants in each caller, so inlined) read the weights. */
INLINE_KERNEL void float_tile(int64_t k, const void *w, float8 (*load8)(const void *, int64_t),
                              float (*load1)(const void *, int64_t), const float *const *x, float *out, const int nx) {
    float32x4_t acc[VKA_FAST_TILE][2];
    VKA_UNROLL
    for (int j = 0; j < nx; j++) acc[j][0] = acc[j][1] = vdupq_n_f32(0.0f);
    int64_t i = 0;
    for (; i + 8 <= k; i += 8) {
        float8 wv = load8(w, i);
        VKA_UNROLL
        for (int j = 0; j < nx; j++) {
            acc[j][0] = vfmaq_f32(acc[j][0], wv.w0, vld1q_f32(x[j] + i));
            acc[j][1] = vfmaq_f32(acc[j][1], wv.w1, vld1q_f32(x[j] + i + 4));
        }
    }
    VKA_UNROLL
    for (int j = 0; j < nx; j++) {
        out[j] = vaddvq_f32(vaddq_f32(acc[j][0], acc[j][1]));
        for (int64_t t = i; t < k; t++) out[j] += load1(w, t) * x[j][t];
    }
}

INLINE_KERNEL void f32_tile(int64_t k, const float *w, const float *const *x, float *out, const int nx) {
    float_tile(k, w, load8_f32, load1_f32, x, out, nx);
}

INLINE_KERNEL void f16_tile(int64_t k, const uint16_t *w, const float *const *x, float *out, const int nx) {
    float_tile(k, w, load8_f16, load1_f16, x, out, nx);
}

/* As vka_fast_quantize_row, bit for bit: the same float operations on each
 * element, four at a time. max|x| skips NaN as the portable comparison does
 * (a compare and select, not vmaxq, which would return the NaN); vcvtnq
 * rounds to nearest even, gives 0 for NaN and saturates out-of-range values,
 * as lrintf does on arm64 (a saturating fcvt), and the clamp to +-127 follows. */
static void quantize_row(const float *x, vka_q8_act *out, int64_t n) {
    float *dsum = (float *)(out + n / 32);
    const int32x4_t lo = vdupq_n_s32(-127), hi = vdupq_n_s32(127);
    for (int64_t b = 0; b < n / 32; b++, x += 32) {
        float32x4_t v[8], m = vdupq_n_f32(0.0f);
        for (int i = 0; i < 8; i++) {
            v[i] = vld1q_f32(x + 4 * i);
            float32x4_t mag = vabsq_f32(v[i]);
            m = vbslq_f32(vcgtq_f32(mag, m), mag, m);
        }
        float d = vmaxvq_f32(m) / 127.0f; /* m holds no NaN */
        float32x4_t id = vdupq_n_f32(d > 0.0f ? 1.0f / d : 0.0f);
        int32x4_t sum = vdupq_n_s32(0);
        int16x8_t q16[4];
        for (int i = 0; i < 4; i++) {
            int32x4_t q0 = vminq_s32(vmaxq_s32(vcvtnq_s32_f32(vmulq_f32(v[2 * i], id)), lo), hi);
            int32x4_t q1 = vminq_s32(vmaxq_s32(vcvtnq_s32_f32(vmulq_f32(v[2 * i + 1], id)), lo), hi);
            sum = vaddq_s32(sum, vaddq_s32(q0, q1));
            q16[i] = vcombine_s16(vmovn_s32(q0), vmovn_s32(q1));
        }
        vst1q_s8(out[b].q, vcombine_s8(vmovn_s16(q16[0]), vmovn_s16(q16[1])));
        vst1q_s8(out[b].q + 16, vcombine_s8(vmovn_s16(q16[2]), vmovn_s16(q16[3])));
        out[b].d = d;
        out[b].sum = vaddvq_s32(sum);
        dsum[b] = d * (float)out[b].sum;
    }
}

/* The kernel entry for each type: one instance per tile height (cpu_fast.h); no target
 * attribute, as every arm64 target has NEON. */
VKA_FAST_TILED(, q4_0, vka_block_q4_0, vka_q8_act)
VKA_FAST_TILED(, q5_0, vka_block_q5_0, vka_q8_act)
VKA_FAST_TILED(, q8_0, vka_block_q8_0, vka_q8_act)
VKA_FAST_TILED(, q4_k, vka_block_q4_k, vka_q8_act)
VKA_FAST_TILED(, q5_k, vka_block_q5_k, vka_q8_act)
VKA_FAST_TILED(, q2_k, vka_block_q2_k, vka_q8_act)
VKA_FAST_TILED(, q3_k, vka_block_q3_k, vka_q8_act)
VKA_FAST_TILED(, q6_k, vka_block_q6_k, vka_q8_act)
VKA_FAST_TILED(, iq4_nl, vka_block_iq4_nl, vka_q8_act)
VKA_FAST_TILED(, iq4_xs, vka_block_iq4_xs, vka_q8_act)
VKA_FAST_TILED(, f32, float, float)
VKA_FAST_TILED(, f16, uint16_t, float)

static const vka_fast_kernels neon_kernels = {
    .isa = NEON_ISA,
    .quantize = quantize_row,
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
    /* no repacked layout yet: .packed stays NULL */
};

const vka_fast_kernels *vka_fast_neon(void) { return &neon_kernels; }

#else

const vka_fast_kernels *vka_fast_neon(void) { return NULL; }

#endif
