/* cpu_fast_x86.h — the fast backend's x86 kernels, compiled once per
 * instruction set by the file that includes it (cpu_fast_avx2.c,
 * cpu_fast_vnni.c), which defines X86_TARGET (the target attribute), X86_ISA
 * (its name) and, for AVX-512 VNNI, X86_VNNI; the including file offers the
 * table x86_kernels only when the running CPU has those features.
 * Weight codes times 8-bit activations are summed exactly in integers
 * (_mm256_maddubs_epi16 pairs and _mm256_madd_epi16, or VNNI's
 * _mm256_dpbusd_epi32), then scaled into eight f32 partial sums. Each kernel
 * is instantiated for 1..4 activation rows so the accumulators stay in
 * registers while a weight block, loaded once, is applied to every row of
 * the tile. */
#include <cpuid.h>
#include <immintrin.h>
#include <string.h>

#include "backends/cpu/cpu_packed.h"

/* CPUID leaf 1, ECX bit 29: clang 14's __builtin_cpu_supports knows no "f16c". */
static bool has_f16c(void) {
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
}

#define KERNEL __attribute__((target(X86_TARGET)))
#define INLINE_KERNEL static inline __attribute__((always_inline, target(X86_TARGET)))
/* nx is a constant in each instance: unrolled, the tile's accumulators live in registers */
#define VKA_UNROLL _Pragma("GCC unroll 4")

INLINE_KERNEL float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

/* Eight 32-bit sums of u[i]*s[i] over groups of 4 bytes, times `scale` (16-bit
 * lanes): u unsigned (<= 128), s signed (-127..127), so pair sums fit 16 bits. */
INLINE_KERNEL __m256i dot_u8s8(__m256i u, __m256i s, __m256i scale) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), scale);
}

/* Eight 32-bit sums of u[i]*s[i] over groups of 4 bytes (u <= 128, s in -127..127): exact either way. */
INLINE_KERNEL __m256i dot_sum(__m256i u, __m256i s) {
#ifdef X86_VNNI
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
#else
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
#endif
}

INLINE_KERNEL __m256i load32(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }

INLINE_KERNEL void q4_0_tile(int64_t k, const vka_block_q4_0 *wb, const vka_q8_act *const *x, float *out, const int nx) {
    __m256 acc[VKA_FAST_TILE];
    VKA_UNROLL
    for (int j = 0; j < nx; j++) acc[j] = _mm256_setzero_ps();
    const __m256i nibble = _mm256_set1_epi8(0x0f);
    for (int64_t b = 0; b < k / 32; b++) {
        __m128i raw = _mm_loadu_si128((const __m128i *)wb[b].qs);
        /* low nibbles are values 0..15, high nibbles 16..31 */
        __m256i q = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), nibble);
        float dw = _cvtsh_ss(wb[b].d);
        VKA_UNROLL
        for (int j = 0; j < nx; j++) {
            const vka_q8_act *a = &x[j][b];
            /* codes are value + 8: take 8*sum(a) off, one sum per lane of eight */
            __m256i s = _mm256_sub_epi32(dot_sum(q, load32(a->q)), _mm256_set1_epi32(a->sum));
            acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(dw * a->d), acc[j]);
        }
    }
    VKA_UNROLL
    for (int j = 0; j < nx; j++) out[j] = hsum(acc[j]);
}

/* Byte i of the result is 0xff where bit i of `bits` is set. */
INLINE_KERNEL __m256i bits_to_bytes(uint32_t bits) {
    /* every byte of 64-bit lane l takes byte l of bits, then tests its own bit */
    const __m256i pick = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)bits), pick);
    return _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
}

INLINE_KERNEL void q5_0_tile(int64_t k, const vka_block_q5_0 *wb, const vka_q8_act *const *x, float *out, const int nx) {
    __m256 acc[VKA_FAST_TILE];
    VKA_UNROLL
    for (int j = 0; j < nx; j++) acc[j] = _mm256_setzero_ps();
    const __m256i nibble = _mm256_set1_epi8(0x0f), fifth = _mm256_set1_epi8(0x10);
    for (int64_t b = 0; b < k / 32; b++) {
        __m128i raw = _mm_loadu_si128((const __m128i *)wb[b].qs);
        uint32_t qh;
        memcpy(&qh, wb[b].qh, 4);
        __m256i q = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), nibble);
        q = _mm256_or_si256(q, _mm256_and_si256(bits_to_bytes(qh), fifth));
        float dw = _cvtsh_ss(wb[b].d);
        VKA_UNROLL
        for (int j = 0; j < nx; j++) {
            const vka_q8_act *a = &x[j][b];
            /* codes are value + 16: take 16*sum(a) off as 2*sum in each of eight lanes */
            __m256i s = _mm256_sub_epi32(dot_sum(q, load32(a->q)), _mm256_set1_epi32(2 * a->sum));
            acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(dw * a->d), acc[j]);
        }
    }
    VKA_UNROLL
    for (int j = 0; j < nx; j++) out[j] = hsum(acc[j]);
}

INLINE_KERNEL void q8_0_tile(int64_t k, const vka_block_q8_0 *wb, const vka_q8_act *const *x, float *out, const int nx) {
    __m256 acc[VKA_FAST_TILE];
    VKA_UNROLL
    for (int j = 0; j < nx; j++) acc[j] = _mm256_setzero_ps();
    for (int64_t b = 0; b < k / 32; b++) {
        __m256i q = load32(wb[b].qs);
        __m256i mag = _mm256_abs_epi8(q); /* signed times signed as |w| * (x with w's sign) */
        float dw = _cvtsh_ss(wb[b].d);
        VKA_UNROLL
        for (int j = 0; j < nx; j++) {
            const vka_q8_act *a = &x[j][b];
            __m256i s = dot_sum(mag, _mm256_sign_epi8(load32(a->q), q));
            acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(dw * a->d), acc[j]);
        }
    }
    VKA_UNROLL
    for (int j = 0; j < nx; j++) out[j] = hsum(acc[j]);
}

/* Q4_K's eight 6-bit scales and mins (as vka_k4_scale_min), four at a time in
 * 32-bit words: bytes 0-3 hold scales 0-3 (low 6 bits) and the top bits of
 * scales 4-7; bytes 4-7 the same for the mins; bytes 8-11 the low nibbles. */
INLINE_KERNEL void k4_unpack(const uint8_t *packed, uint8_t *sc, uint8_t *m) {
    uint32_t w[3];
    memcpy(w, packed, 12);
    uint32_t sc_lo = w[0] & 0x3f3f3f3fu, m_lo = w[1] & 0x3f3f3f3fu;
    uint32_t sc_hi = (w[2] & 0x0f0f0f0fu) | ((w[0] >> 2) & 0x30303030u);
    uint32_t m_hi = ((w[2] >> 4) & 0x0f0f0f0fu) | ((w[1] >> 2) & 0x30303030u);
    memcpy(sc, &sc_lo, 4);
    memcpy(sc + 4, &sc_hi, 4);
    memcpy(m, &m_lo, 4);
    memcpy(m + 4, &m_hi, 4);
}

INLINE_KERNEL __m256 bytes_to_floats(const uint8_t *b) {
    return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)b)));
}

INLINE_KERNEL void q4_k_tile(int64_t k, const vka_block_q4_k *wb, const vka_q8_act *const *x, float *out, const int nx) {
    __m256 acc[VKA_FAST_TILE], mins[VKA_FAST_TILE];
    VKA_UNROLL
    for (int j = 0; j < nx; j++) acc[j] = mins[j] = _mm256_setzero_ps();
    const __m256i nibble = _mm256_set1_epi8(0x0f);
    for (int64_t b = 0; b < k / VKA_QK_K; b++) {
        float d = _cvtsh_ss(wb[b].d);
        uint8_t sc[8], m[8];
        k4_unpack(wb[b].scales, sc, m);
        __m256 fm = _mm256_mul_ps(_mm256_set1_ps(_cvtsh_ss(wb[b].dmin)), bytes_to_floats(m));
        VKA_UNROLL
        for (int j = 0; j < nx; j++) /* the mins: dmin * m_s * d_x * sum(q_x) over the 8 sub-blocks */
            mins[j] = _mm256_fmadd_ps(fm, _mm256_loadu_ps(vka_fast_act_dsum(x[j], k) + b * 8), mins[j]);
        for (int c = 0; c < 4; c++) { /* 32 bytes: sub-block 2c in the low nibbles, 2c+1 in the high */
            __m256i raw = load32(wb[b].qs + 32 * c);
            __m256i lo = _mm256_and_si256(raw, nibble), hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), nibble);
            __m256i sc_lo = _mm256_set1_epi16((short)sc[2 * c]), sc_hi = _mm256_set1_epi16((short)sc[2 * c + 1]);
            VKA_UNROLL
            for (int j = 0; j < nx; j++) {
                const vka_q8_act *a0 = &x[j][b * 8 + 2 * c], *a1 = a0 + 1;
                __m256i s0 = dot_u8s8(lo, load32(a0->q), sc_lo), s1 = dot_u8s8(hi, load32(a1->q), sc_hi);
                acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s0), _mm256_set1_ps(d * a0->d), acc[j]);
                acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s1), _mm256_set1_ps(d * a1->d), acc[j]);
            }
        }
    }
    VKA_UNROLL
    for (int j = 0; j < nx; j++) out[j] = hsum(_mm256_sub_ps(acc[j], mins[j]));
}

/* Q5_K: Q4_K's nibbles with the fifth bit of value l of sub-block s in bit
 * s of qh[l]; codes 0..31. */
INLINE_KERNEL void q5_k_tile(int64_t k, const vka_block_q5_k *wb, const vka_q8_act *const *x, float *out, const int nx) {
    __m256 acc[VKA_FAST_TILE], mins[VKA_FAST_TILE];
    VKA_UNROLL
    for (int j = 0; j < nx; j++) acc[j] = mins[j] = _mm256_setzero_ps();
    const __m256i nibble = _mm256_set1_epi8(0x0f), one = _mm256_set1_epi8(1);
    for (int64_t b = 0; b < k / VKA_QK_K; b++) {
        float d = _cvtsh_ss(wb[b].d);
        uint8_t sc[8], m[8];
        k4_unpack(wb[b].scales, sc, m);
        __m256 fm = _mm256_mul_ps(_mm256_set1_ps(_cvtsh_ss(wb[b].dmin)), bytes_to_floats(m));
        VKA_UNROLL
        for (int j = 0; j < nx; j++)
            mins[j] = _mm256_fmadd_ps(fm, _mm256_loadu_ps(vka_fast_act_dsum(x[j], k) + b * 8), mins[j]);
        __m256i qh = load32(wb[b].qh);
        for (int c = 0; c < 4; c++) {
            __m256i raw = load32(wb[b].qs + 32 * c);
            __m256i fifth_lo = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * c), one), 4);
            __m256i fifth_hi = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * c + 1), one), 4);
            __m256i lo = _mm256_or_si256(_mm256_and_si256(raw, nibble), fifth_lo);
            __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(raw, 4), nibble), fifth_hi);
            __m256i sc_lo = _mm256_set1_epi16((short)sc[2 * c]), sc_hi = _mm256_set1_epi16((short)sc[2 * c + 1]);
            VKA_UNROLL
            for (int j = 0; j < nx; j++) {
                const vka_q8_act *a0 = &x[j][b * 8 + 2 * c], *a1 = a0 + 1;
                __m256i s0 = dot_u8s8(lo, load32(a0->q), sc_lo), s1 = dot_u8s8(hi, load32(a1->q), sc_hi);
                acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s0), _mm256_set1_ps(d * a0->d), acc[j]);
                acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s1), _mm256_set1_ps(d * a1->d), acc[j]);
            }
        }
    }
    VKA_UNROLL
    for (int j = 0; j < nx; j++) out[j] = hsum(_mm256_sub_ps(acc[j], mins[j]));
}

INLINE_KERNEL void q6_k_tile(int64_t k, const vka_block_q6_k *wb, const vka_q8_act *const *x, float *out, const int nx) {
    __m256 acc[VKA_FAST_TILE];
    VKA_UNROLL
    for (int j = 0; j < nx; j++) acc[j] = _mm256_setzero_ps();
    const __m256i nibble = _mm256_set1_epi8(0x0f), two = _mm256_set1_epi8(3), offset = _mm256_set1_epi8(32);
    for (int64_t b = 0; b < k / VKA_QK_K; b++) {
        float d = _cvtsh_ss(wb[b].d);
        for (int half = 0; half < 2; half++) {
            __m256i ql0 = load32(wb[b].ql + 64 * half), ql1 = load32(wb[b].ql + 64 * half + 32);
            __m256i qh = load32(wb[b].qh + 32 * half);
            for (int g = 0; g < 4; g++) {
                /* group g: low 4 bits from ql0/ql1 (low nibble for g < 2), top 2 bits at 2g of qh */
                __m256i src = g % 2 ? ql1 : ql0;
                __m256i low = _mm256_and_si256(g < 2 ? src : _mm256_srli_epi16(src, 4), nibble);
                __m256i high = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * g), two);
                __m256i q = _mm256_sub_epi8(_mm256_or_si256(low, _mm256_slli_epi16(high, 4)), offset);
                __m256i mag = _mm256_abs_epi8(q);
                /* values 0..15 and 16..31 of the group have their own scale: 16-bit lanes 0-7 and 8-15 */
                int sub = 8 * half + 2 * g;
                __m256i scale = _mm256_set_m128i(_mm_set1_epi16(wb[b].scales[sub + 1]), _mm_set1_epi16(wb[b].scales[sub]));
                VKA_UNROLL
                for (int j = 0; j < nx; j++) {
                    const vka_q8_act *a = &x[j][b * 8 + 4 * half + g];
                    __m256i s = dot_u8s8(mag, _mm256_sign_epi8(load32(a->q), q), scale);
                    acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(d * a->d), acc[j]);
                }
            }
        }
    }
    VKA_UNROLL
    for (int j = 0; j < nx; j++) out[j] = hsum(acc[j]);
}

/* Q2_K: per half (32 bytes of qs) group g is bits 2g..2g+1 of each byte, one
 * activation block; its 16-value halves have their own 4-bit scale (16-bit
 * lanes 0-7 and 8-15) and min, the mins applied to the activations' sums. */
INLINE_KERNEL void q2_k_tile(int64_t k, const vka_block_q2_k *wb, const vka_q8_act *const *x, float *out, const int nx) {
    __m256 acc[VKA_FAST_TILE];
    VKA_UNROLL
    for (int j = 0; j < nx; j++) acc[j] = _mm256_setzero_ps();
    const __m256i two = _mm256_set1_epi8(3), ones = _mm256_set1_epi8(1);
    for (int64_t b = 0; b < k / VKA_QK_K; b++) {
        float d = _cvtsh_ss(wb[b].d), dmin = _cvtsh_ss(wb[b].dmin);
        for (int half = 0; half < 2; half++) {
            __m256i raw = load32(wb[b].qs + 32 * half);
            for (int g = 0; g < 4; g++) {
                __m256i q = _mm256_and_si256(_mm256_srli_epi16(raw, 2 * g), two);
                const uint8_t *sc = wb[b].scales + 8 * half + 2 * g;
                __m256i scale = _mm256_set_m128i(_mm_set1_epi16(sc[1] & 0x0f), _mm_set1_epi16(sc[0] & 0x0f));
                __m256i mscale = _mm256_set_m128i(_mm_set1_epi16(sc[1] >> 4), _mm_set1_epi16(sc[0] >> 4));
                VKA_UNROLL
                for (int j = 0; j < nx; j++) {
                    const vka_q8_act *a = &x[j][b * 8 + 4 * half + g];
                    __m256i aq = load32(a->q);
                    __m256i s = dot_u8s8(q, aq, scale), ms = dot_u8s8(ones, aq, mscale);
                    acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(d * a->d), acc[j]);
                    acc[j] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(ms), _mm256_set1_ps(dmin * a->d), acc[j]);
                }
            }
        }
    }
    VKA_UNROLL
    for (int j = 0; j < nx; j++) out[j] = hsum(acc[j]);
}

/* Q3_K: Q2_K's low bits plus bit 4*half + g of each hmask byte as bit 2;
 * codes - 4 (-4..3) times the activations as |code| * (x with its sign),
 * each 16 values with their signed 6-bit scale. */
INLINE_KERNEL void q3_k_tile(int64_t k, const vka_block_q3_k *wb, const vka_q8_act *const *x, float *out, const int nx) {
    __m256 acc[VKA_FAST_TILE];
    VKA_UNROLL
    for (int j = 0; j < nx; j++) acc[j] = _mm256_setzero_ps();
    const __m256i two = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1), four = _mm256_set1_epi8(4);
    for (int64_t b = 0; b < k / VKA_QK_K; b++) {
        float d = _cvtsh_ss(wb[b].d);
        __m256i hm = load32(wb[b].hmask);
        for (int half = 0; half < 2; half++) {
            __m256i raw = load32(wb[b].qs + 32 * half);
            for (int g = 0; g < 4; g++) {
                __m256i low = _mm256_and_si256(_mm256_srli_epi16(raw, 2 * g), two);
                __m256i high = _mm256_and_si256(_mm256_srli_epi16(hm, 4 * half + g), one);
                __m256i q = _mm256_sub_epi8(_mm256_or_si256(low, _mm256_slli_epi16(high, 2)), four);
                __m256i mag = _mm256_abs_epi8(q);
                int sub = 8 * half + 2 * g;
                __m256i scale = _mm256_set_m128i(_mm_set1_epi16((short)vka_k3_scale(wb[b].scales, sub + 1)),
                                                 _mm_set1_epi16((short)vka_k3_scale(wb[b].scales, sub)));
                VKA_UNROLL
                for (int j = 0; j < nx; j++) {
                    const vka_q8_act *a = &x[j][b * 8 + 4 * half + g];
                    __m256i s = dot_u8s8(mag, _mm256_sign_epi8(load32(a->q), q), scale);
                    acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(d * a->d), acc[j]);
                }
            }
        }
    }
    VKA_UNROLL
    for (int j = 0; j < nx; j++) out[j] = hsum(acc[j]);
}

/* 32 IQ4 codes (16 bytes, low nibbles first) looked up in the code book:
 * signed bytes -127..113. */
INLINE_KERNEL __m256i iq4_values(const uint8_t *qs) {
    const __m256i book = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)vka_iq4nl_values));
    __m128i raw = _mm_loadu_si128((const __m128i *)qs);
    __m256i codes = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), _mm256_set1_epi8(0x0f));
    return _mm256_shuffle_epi8(book, codes);
}

INLINE_KERNEL void iq4_nl_tile(int64_t k, const vka_block_iq4_nl *wb, const vka_q8_act *const *x, float *out,
                               const int nx) {
    __m256 acc[VKA_FAST_TILE];
    VKA_UNROLL
    for (int j = 0; j < nx; j++) acc[j] = _mm256_setzero_ps();
    for (int64_t b = 0; b < k / 32; b++) {
        __m256i v = iq4_values(wb[b].qs), mag = _mm256_abs_epi8(v); /* |v| <= 127: pair sums fit 16 bits */
        float dw = _cvtsh_ss(wb[b].d);
        VKA_UNROLL
        for (int j = 0; j < nx; j++) {
            const vka_q8_act *a = &x[j][b];
            __m256i s = dot_sum(mag, _mm256_sign_epi8(load32(a->q), v));
            acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(dw * a->d), acc[j]);
        }
    }
    VKA_UNROLL
    for (int j = 0; j < nx; j++) out[j] = hsum(acc[j]);
}

INLINE_KERNEL void iq4_xs_tile(int64_t k, const vka_block_iq4_xs *wb, const vka_q8_act *const *x, float *out,
                               const int nx) {
    __m256 acc[VKA_FAST_TILE];
    VKA_UNROLL
    for (int j = 0; j < nx; j++) acc[j] = _mm256_setzero_ps();
    for (int64_t b = 0; b < k / VKA_QK_K; b++) {
        float d = _cvtsh_ss(wb[b].d);
        for (int ib = 0; ib < 8; ib++) {
            __m256i v = iq4_values(wb[b].qs + 16 * ib), mag = _mm256_abs_epi8(v);
            float ds = d * (float)vka_iq4_xs_scale(&wb[b], ib);
            VKA_UNROLL
            for (int j = 0; j < nx; j++) {
                const vka_q8_act *a = &x[j][b * 8 + ib];
                __m256i s = dot_sum(mag, _mm256_sign_epi8(load32(a->q), v));
                acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(ds * a->d), acc[j]);
            }
        }
    }
    VKA_UNROLL
    for (int j = 0; j < nx; j++) out[j] = hsum(acc[j]);
}

INLINE_KERNEL void f32_tile(int64_t k, const float *w, const float *const *x, float *out, const int nx) {
    __m256 acc[VKA_FAST_TILE];
    VKA_UNROLL
    for (int j = 0; j < nx; j++) acc[j] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= k; i += 8) {
        __m256 wv = _mm256_loadu_ps(w + i);
        VKA_UNROLL
        for (int j = 0; j < nx; j++) acc[j] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x[j] + i), acc[j]);
    }
    VKA_UNROLL
    for (int j = 0; j < nx; j++) {
        out[j] = hsum(acc[j]);
        for (int64_t t = i; t < k; t++) out[j] += w[t] * x[j][t];
    }
}

INLINE_KERNEL void f16_tile(int64_t k, const uint16_t *w, const float *const *x, float *out, const int nx) {
    __m256 acc[VKA_FAST_TILE];
    VKA_UNROLL
    for (int j = 0; j < nx; j++) acc[j] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= k; i += 8) {
        __m256 wv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + i)));
        VKA_UNROLL
        for (int j = 0; j < nx; j++) acc[j] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x[j] + i), acc[j]);
    }
    VKA_UNROLL
    for (int j = 0; j < nx; j++) {
        out[j] = hsum(acc[j]);
        for (int64_t t = i; t < k; t++) out[j] += _cvtsh_ss(w[t]) * x[j][t];
    }
}

/* As vka_fast_quantize_row, bit for bit: the same float operations on each
 * element (max of |x| skipping NaN, x * (1/d) rounded to nearest even,
 * clamped), eight at a time. */
KERNEL static void quantize_row(const float *x, vka_q8_act *out, int64_t n) {
    float *dsum = (float *)(out + n / 32);
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256i lo = _mm256_set1_epi32(-127), hi = _mm256_set1_epi32(127);
    for (int64_t b = 0; b < n / 32; b++, x += 32) {
        __m256 v[4], m = _mm256_setzero_ps();
        for (int i = 0; i < 4; i++) {
            v[i] = _mm256_loadu_ps(x + 8 * i);
            m = _mm256_max_ps(_mm256_andnot_ps(sign, v[i]), m); /* a NaN in the first operand yields m */
        }
        __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        h = _mm_max_ps(h, _mm_movehl_ps(h, h));
        h = _mm_max_ss(h, _mm_shuffle_ps(h, h, 1));
        float d = _mm_cvtss_f32(h) / 127.0f;
        __m256 id = _mm256_set1_ps(d > 0.0f ? 1.0f / d : 0.0f);
        __m256i q[4], sum = _mm256_setzero_si256();
        for (int i = 0; i < 4; i++) {
            /* out-of-range and NaN convert to INT_MIN, as lrintf's result does, and clamp to -127 */
            q[i] = _mm256_min_epi32(_mm256_max_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(v[i], id)), lo), hi);
            sum = _mm256_add_epi32(sum, q[i]);
        }
        /* the packs interleave 128-bit lanes; the permute puts the 32 bytes back in order */
        __m256i bytes = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
        bytes = _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)out[b].q, bytes);
        __m128i s = _mm_add_epi32(_mm256_castsi256_si128(sum), _mm256_extracti128_si256(sum, 1));
        s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
        s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
        out[b].d = d;
        out[b].sum = _mm_cvtsi128_si32(s);
        dsum[b] = d * (float)out[b].sum;
    }
}

/* The kernel entry for each type: one instance per tile height (cpu_fast.h). */
VKA_FAST_TILED(KERNEL, q4_0, vka_block_q4_0, vka_q8_act)
VKA_FAST_TILED(KERNEL, q5_0, vka_block_q5_0, vka_q8_act)
VKA_FAST_TILED(KERNEL, q8_0, vka_block_q8_0, vka_q8_act)
VKA_FAST_TILED(KERNEL, q4_k, vka_block_q4_k, vka_q8_act)
VKA_FAST_TILED(KERNEL, q6_k, vka_block_q6_k, vka_q8_act)
VKA_FAST_TILED(KERNEL, q5_k, vka_block_q5_k, vka_q8_act)
VKA_FAST_TILED(KERNEL, q2_k, vka_block_q2_k, vka_q8_act)
VKA_FAST_TILED(KERNEL, q3_k, vka_block_q3_k, vka_q8_act)
VKA_FAST_TILED(KERNEL, iq4_nl, vka_block_iq4_nl, vka_q8_act)
VKA_FAST_TILED(KERNEL, iq4_xs, vka_block_iq4_xs, vka_q8_act)
VKA_FAST_TILED(KERNEL, f32, float, float)
VKA_FAST_TILED(KERNEL, f16, uint16_t, float)

static const vka_fast_kernels x86_kernels = {
    .isa = X86_ISA,
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
#ifdef X86_VNNI
    .packed = vka_packed_avx512,
#else
    .packed = vka_packed_avx2,
#endif
};
