/* cpu_packed_avx2.c — matrix products over repacked weights (cpu_packed.h)
 * for CPUs with AVX2 but no AVX-512 VNNI (Zen 2/3, Haswell to Comet Lake).
 * Without dpbusd the products go through _mm256_maddubs_epi16 (unsigned
 * code times signed activation, pairs summed in 16 bits) and
 * _mm256_madd_epi16 (pairs of those summed in 32 bits); 256-bit vectors
 * hold half a group, so each group is two passes of 8 rows. Each block's
 * 16-bit partial sums stay below 2^15: a code vector's pair sums are at most
 * 2 * max code * 127, and the number summed before widening is chosen per
 * type from its largest code. Q8_0's codes (up to 255) would overflow, so
 * its weights go in signed, with the sign moved onto the activations. */
#include <string.h>

#include "backends/cpu/cpu_packed.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define TARGET "avx2,fma,f16c"
#define KERNEL __attribute__((target(TARGET)))
#define INLINE static inline __attribute__((always_inline, target(TARGET)))
#define UNROLL _Pragma("GCC unroll 8")

/* Tokens per tile: 4 accumulators and 8 code vectors fit the 16 registers. */
#define TILE 4

typedef struct half_codes {
    __m256i v[8];
} half_codes;

/* Rows 8h .. 8h + 7 of 16 f16 scales. */
INLINE __m256 load_f16x8(const uint8_t *p, int h) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 16 * h))); }

INLINE __m256 load_u8x8(const uint8_t *p, int h) {
    return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(p + 8 * h))));
}

INLINE __m256 load_i8x8(const uint8_t *p, int h) {
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(p + 8 * h))));
}

/* Half h of code vectors g (low nibbles) and g + 4 (high) from 64-byte vectors. */
INLINE void unpack_nibbles(const uint8_t *p, int h, half_codes *c) {
    const __m256i low = _mm256_set1_epi8(15);
    UNROLL
    for (int g = 0; g < 4; g++) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(p + 64 * g + 32 * h));
        c->v[g] = _mm256_and_si256(v, low);
        c->v[g + 4] = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);
    }
}

/* Adds `value` to the codes of half h whose bit is set in their vector's mask
 * (bits 32h .. 32h + 31 of the 64-bit mask: 4 bytes). */
INLINE void add_masked(const uint8_t *masks, int h, half_codes *c, char value) {
    /* byte j of a 32-bit broadcast picks mask byte j / 8, then tests bit j % 8 */
    const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3,
                                            3, 3, 3, 3, 3, 3, 3);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    const __m256i add = _mm256_set1_epi8(value);
    UNROLL
    for (int g = 0; g < 8; g++) {
        int32_t m;
        memcpy(&m, masks + 8 * g + 4 * h, 4);
        __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(m), spread);
        __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(bytes, bit), bit);
        c->v[g] = _mm256_add_epi8(c->v[g], _mm256_and_si256(set, add));
    }
}

/* Weight bytes fetched ahead of use (as in cpu_packed_avx512.c): only the
 * first pass over a group (h = 0), first tile, of 2 tokens or more, reads it
 * from memory; the others find it in cache, and single tokens are bound by
 * bandwidth anyway. */
#define PREFETCH_BYTES 2304

INLINE void prefetch_ahead(const uint8_t *p, size_t bytes, int h, int nr, int64_t j0) {
    if (h != 0 || nr < 2 || j0 != 0) return;
    for (size_t line = 0; line < bytes; line += 64) _mm_prefetch((const char *)p + PREFETCH_BYTES + line, _MM_HINT_T0);
}

INLINE __m256i broadcast4(const int8_t *q, int g) {
    int32_t four;
    memcpy(&four, q + 4 * g, 4);
    return _mm256_set1_epi32(four);
}

/* The 8 rows' sums of code * activation over code vectors [g0, g0 + n),
 * `run` vectors summed in 16 bits at a time. */
INLINE __m256i dot(const half_codes *c, const int8_t *q, int g0, int n, int run) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i acc = _mm256_setzero_si256();
    UNROLL
    for (int g = g0; g < g0 + n; g += run) {
        __m256i s = _mm256_maddubs_epi16(c->v[g], broadcast4(q, g));
        UNROLL
        for (int u = 1; u < run; u++) s = _mm256_add_epi16(s, _mm256_maddubs_epi16(c->v[g + u], broadcast4(q, g + u)));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(s, ones));
    }
    return acc;
}

/* Q8_0 with signed weights w: |w| times the activation carrying w's sign. */
INLINE __m256i dot_signed(const half_codes *w, const half_codes *mag, const int8_t *q) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i acc = _mm256_setzero_si256();
    UNROLL
    for (int g = 0; g < 8; g++) {
        __m256i s = _mm256_maddubs_epi16(mag->v[g], _mm256_sign_epi8(broadcast4(q, g), w->v[g]));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(s, ones));
    }
    return acc;
}

INLINE const vka_q8_act *act_row(const vka_packed_product *p, int64_t j) {
    return (const vka_q8_act *)(p->act + (size_t)j * p->act_row_bytes);
}

/* Q4_0, Q5_0, Q8_0 over half h: one scale per block, value = code - offset. */
INLINE void offset_tile(const vka_packed_product *p, const uint8_t *gw, int h, int64_t j0, const int nr, __m256 *acc,
                        const vka_type type) {
    const size_t block_bytes = p->w->group_bytes / (size_t)(p->w->k / 32);
    const int offset = type == VKA_TYPE_Q4_0 ? 8 : 16;
    const int run = type == VKA_TYPE_Q4_0 ? 8 : 4; /* codes <= 15: 8 * 2*15*127 < 2^15; <= 31: 4 */
    const vka_q8_act *x[TILE];
    UNROLL
    for (int r = 0; r < nr; r++) {
        acc[r] = _mm256_setzero_ps();
        x[r] = act_row(p, j0 + r);
    }
    for (int64_t b = 0; b < p->w->k / 32; b++) {
        const uint8_t *blk = gw + (size_t)b * block_bytes;
        prefetch_ahead(blk, block_bytes, h, nr, j0);
        half_codes c, mag;
        if (type == VKA_TYPE_Q8_0) {
            const __m256i flip = _mm256_set1_epi8((char)0x80); /* code - 128 as a signed byte */
            UNROLL
            for (int g = 0; g < 8; g++) {
                c.v[g] = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(blk + 32 + 64 * g + 32 * h)), flip);
                mag.v[g] = _mm256_abs_epi8(c.v[g]);
            }
        } else {
            unpack_nibbles(blk + 32, h, &c);
            if (type == VKA_TYPE_Q5_0) add_masked(blk + 32 + 256, h, &c, 16);
        }
        __m256 d = load_f16x8(blk, h);
        UNROLL
        for (int r = 0; r < nr; r++) {
            const vka_q8_act *a = &x[r][b];
            __m256i s = type == VKA_TYPE_Q8_0
                            ? dot_signed(&c, &mag, a->q)
                            : _mm256_sub_epi32(dot(&c, a->q, 0, 8, run), _mm256_set1_epi32(offset * a->sum));
            acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(d, _mm256_set1_ps(a->d)), acc[r]);
        }
    }
}

/* Q4_K over half h: x = d*sc*code - dmin*m per block of 32. */
INLINE void q4_k_tile(const vka_packed_product *p, const uint8_t *gw, int h, int64_t j0, const int nr, __m256 *acc) {
    const int64_t k = p->w->k;
    const vka_q8_act *x[TILE];
    const float *dsum[TILE];
    UNROLL
    for (int r = 0; r < nr; r++) {
        acc[r] = _mm256_setzero_ps();
        x[r] = act_row(p, j0 + r);
        dsum[r] = vka_fast_act_dsum(x[r], k);
    }
    const size_t super_bytes = p->w->group_bytes / (size_t)(k / VKA_QK_K);
    for (int64_t s = 0; s < k / VKA_QK_K; s++) {
        const uint8_t *sb = gw + (size_t)s * super_bytes;
        for (int j = 0; j < 8; j++) {
            prefetch_ahead(sb + j * (super_bytes / 8), super_bytes / 8, h, nr, j0);
            __m256 scale = _mm256_mul_ps(load_f16x8(sb, h), load_u8x8(sb + 64 + 16 * j, h));
            __m256 min = _mm256_mul_ps(load_f16x8(sb + 32, h), load_u8x8(sb + 64 + 128 + 16 * j, h));
            half_codes c;
            unpack_nibbles(sb + 64 + 256 + 256 * j, h, &c);
            int64_t b = s * 8 + j;
            UNROLL
            for (int r = 0; r < nr; r++) {
                const vka_q8_act *a = &x[r][b];
                __m256i sum = dot(&c, a->q, 0, 8, 8);
                acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_mul_ps(scale, _mm256_set1_ps(a->d)), acc[r]);
                acc[r] = _mm256_fnmadd_ps(min, _mm256_set1_ps(dsum[r][b]), acc[r]);
            }
        }
    }
}

/* Q6_K over half h: x = d*sc*(code - 32), a scale per 16 columns; codes <= 63, so 2 vectors per 16-bit run. */
INLINE void q6_k_tile(const vka_packed_product *p, const uint8_t *gw, int h, int64_t j0, const int nr, __m256 *acc) {
    const int64_t k = p->w->k;
    const vka_q8_act *x[TILE];
    const int32_t *halves[TILE];
    UNROLL
    for (int r = 0; r < nr; r++) {
        acc[r] = _mm256_setzero_ps();
        x[r] = act_row(p, j0 + r);
        halves[r] = p->half_sums + (size_t)(j0 + r) * (size_t)(k / 16);
    }
    const size_t super_bytes = p->w->group_bytes / (size_t)(k / VKA_QK_K);
    for (int64_t s = 0; s < k / VKA_QK_K; s++) {
        const uint8_t *sb = gw + (size_t)s * super_bytes;
        for (int j = 0; j < 8; j++) {
            prefetch_ahead(sb + j * (super_bytes / 8), super_bytes / 8, h, nr, j0);
            __m256 d = load_f16x8(sb, h);
            __m256 scale_lo = _mm256_mul_ps(d, load_i8x8(sb + 32 + 16 * (2 * j), h));
            __m256 scale_hi = _mm256_mul_ps(d, load_i8x8(sb + 32 + 16 * (2 * j + 1), h));
            const uint8_t *blk = sb + 32 + 256 + (256 + 128) * j;
            half_codes c;
            unpack_nibbles(blk, h, &c);
            add_masked(blk + 256, h, &c, 16);
            add_masked(blk + 256 + 64, h, &c, 32);
            int64_t b = s * 8 + j;
            UNROLL
            for (int r = 0; r < nr; r++) {
                const vka_q8_act *a = &x[r][b];
                __m256i lo = _mm256_sub_epi32(dot(&c, a->q, 0, 4, 2), _mm256_set1_epi32(32 * halves[r][2 * b]));
                __m256i hi = _mm256_sub_epi32(dot(&c, a->q, 4, 4, 2), _mm256_set1_epi32(32 * halves[r][2 * b + 1]));
                __m256 ad = _mm256_set1_ps(a->d);
                acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(lo), _mm256_mul_ps(scale_lo, ad), acc[r]);
                acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(hi), _mm256_mul_ps(scale_hi, ad), acc[r]);
            }
        }
    }
}

/* Columns 16g + 8h .. of the tile's rows: + bias, or onto dst; rows past the
 * matrix (padding of the last group) are not written. */
INLINE void store(const vka_packed_product *p, int64_t g, int h, int64_t j0, int nr, const __m256 *acc) {
    int64_t col = g * VKA_PACK_ROWS + 8 * h, left = p->w->rows - col;
    if (left <= 0) return;
    for (int r = 0; r < nr; r++) {
        float v[8], *out = p->dst + (size_t)(j0 + r) * p->dst_row_floats + col;
        _mm256_storeu_ps(v, acc[r]);
        for (int64_t i = 0; i < 8 && i < left; i++) {
            float y = p->bias ? v[i] + p->bias[col + i] : v[i];
            out[i] = p->accumulate ? out[i] + y : y;
        }
    }
}

#define TILE_CASES(call)                                                                                        \
    switch (nr) {                                                                                               \
    case 1: call(1); break;                                                                                     \
    case 2: call(2); break;                                                                                     \
    case 3: call(3); break;                                                                                     \
    default: call(4); break;                                                                                    \
    }

#define ENTRY(name, CALL)                                                                                       \
    KERNEL static void name(const vka_packed_product *p, int64_t g0, int64_t g1) {                              \
        for (int64_t g = g0; g < g1; g++) {                                                                     \
            const uint8_t *gw = p->w->data + (size_t)g * p->w->group_bytes;                                     \
            for (int h = 0; h < 2; h++)                                                                         \
                for (int64_t j0 = 0; j0 < p->n_act; j0 += TILE) {                                               \
                    int nr = p->n_act - j0 < TILE ? (int)(p->n_act - j0) : TILE;                                \
                    __m256 acc[TILE];                                                                           \
                    TILE_CASES(CALL)                                                                            \
                    store(p, g, h, j0, nr, acc);                                                                \
                }                                                                                               \
        }                                                                                                       \
    }

#define Q4_0_CALL(n) offset_tile(p, gw, h, j0, n, acc, VKA_TYPE_Q4_0)
#define Q5_0_CALL(n) offset_tile(p, gw, h, j0, n, acc, VKA_TYPE_Q5_0)
#define Q8_0_CALL(n) offset_tile(p, gw, h, j0, n, acc, VKA_TYPE_Q8_0)
#define Q4_K_CALL(n) q4_k_tile(p, gw, h, j0, n, acc)
#define Q6_K_CALL(n) q6_k_tile(p, gw, h, j0, n, acc)

ENTRY(packed_q4_0, Q4_0_CALL)
ENTRY(packed_q5_0, Q5_0_CALL)
ENTRY(packed_q8_0, Q8_0_CALL)
ENTRY(packed_q4_k, Q4_K_CALL)
ENTRY(packed_q6_k, Q6_K_CALL)

static const vka_packed_fn kernels[VKA_TYPE_COUNT] = {
    [VKA_TYPE_Q4_0] = packed_q4_0, [VKA_TYPE_Q5_0] = packed_q5_0, [VKA_TYPE_Q8_0] = packed_q8_0,
    [VKA_TYPE_Q4_K] = packed_q4_k, [VKA_TYPE_Q6_K] = packed_q6_k,
};

/* Reached only through the AVX2 kernel set's `packed` entry, which
 * vka_fast_avx2 offers after checking AVX2, FMA and F16C: no second check. */
const vka_packed_fn *vka_packed_avx2(void) { return kernels; }

#else

const vka_packed_fn *vka_packed_avx2(void) { return NULL; }

#endif
