/* cpu_packed_avx512.c — matrix products over repacked weights (cpu_packed.h)
 * with AVX-512 VNNI, compiled through target attributes so the build needs
 * no -march flag; offered only when the running CPU has the features.
 *
 * A tile is one group of 16 weight rows times up to TILE tokens: each block
 * of 32 columns is decoded once into eight code vectors (16 rows x 4 codes),
 * then each token's 32 activation bytes go in as eight broadcast 4-byte
 * words to _mm512_dpbusd_epi32, leaving the 16 rows' exact integer block
 * sums in the 16 lanes. The code offset comes off in integers (offset *
 * sum of the activation codes), and one multiply-add per block scales the
 * lanes into the tile's 16 f32 accumulators. */
#include <string.h>

#include "backends/cpu/cpu_packed.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>

#define TARGET "avx512f,avx512bw,avx512vl,avx512vnni,fma,f16c"
#define KERNEL __attribute__((target(TARGET)))
#define INLINE static inline __attribute__((always_inline, target(TARGET)))
#define UNROLL _Pragma("GCC unroll 8")

/* Tokens per tile: 8 accumulators and 8 code vectors stay in the 32 registers. */
#define TILE 8

/* Weight bytes fetched ahead of use. With several tokens per tile a block's
 * arithmetic takes about as long as streaming it from memory, and the
 * hardware prefetcher alone leaves the two unoverlapped: prefetching about
 * 2 KB ahead made decoding 8 sequences at once (one 8-token tile) 1.3x
 * faster on a 1B Q4_0 (bench --parallel 8), while single tokens, which are
 * bound by bandwidth anyway, are left alone. */
#define PREFETCH_BYTES 2304

/* Prefetches `bytes` from PREFETCH_BYTES past p, for the first tile of a
 * group when it has 2 tokens or more (later tiles find the group in cache). */
INLINE void prefetch_ahead(const uint8_t *p, size_t bytes, int nr, int64_t j0) {
    if (nr < 2 || j0 != 0) return;
    for (size_t line = 0; line < bytes; line += 64) _mm_prefetch((const char *)p + PREFETCH_BYTES + line, _MM_HINT_T0);
}

typedef struct code_vectors {
    __m512i v[8];
} code_vectors;

INLINE __m512 load_f16x16(const uint8_t *p) { return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p)); }

INLINE __m512 load_u8x16(const uint8_t *p) {
    return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)p)));
}

INLINE __m512 load_i8x16(const uint8_t *p) {
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)p)));
}

/* Code vectors g (low nibbles) and g + 4 (high nibbles) from 64 bytes each. */
INLINE void unpack_nibbles(const uint8_t *p, code_vectors *c) {
    const __m512i low = _mm512_set1_epi8(15);
    UNROLL
    for (int g = 0; g < 4; g++) {
        __m512i v = _mm512_loadu_si512(p + 64 * g);
        c->v[g] = _mm512_and_si512(v, low);
        c->v[g + 4] = _mm512_and_si512(_mm512_srli_epi16(v, 4), low);
    }
}

/* Adds `value` to the codes whose bit is set in the 64-bit mask of their vector. */
INLINE void add_masked(const uint8_t *masks, code_vectors *c, char value) {
    const __m512i add = _mm512_set1_epi8(value);
    UNROLL
    for (int g = 0; g < 8; g++) {
        uint64_t m;
        memcpy(&m, masks + 8 * g, 8);
        c->v[g] = _mm512_mask_add_epi8(c->v[g], _cvtu64_mask64(m), c->v[g], add);
    }
}

/* The 16 rows' sums of code * activation over code vectors [g0, g0 + n), in
 * two independent chains of dpbusd (measured: pp128 +4% on a 1B Q4_0). */
INLINE __m512i dot(const code_vectors *c, const int8_t *q, int g0, int n) {
    __m512i even = _mm512_setzero_si512(), odd = _mm512_setzero_si512();
    UNROLL
    for (int g = g0; g < g0 + n; g += 2) {
        int32_t first, second; /* two 4-byte loads: each broadcast straight from memory */
        memcpy(&first, q + 4 * g, 4);
        memcpy(&second, q + 4 * g + 4, 4);
        even = _mm512_dpbusd_epi32(even, c->v[g], _mm512_set1_epi32(first));
        odd = _mm512_dpbusd_epi32(odd, c->v[g + 1], _mm512_set1_epi32(second));
    }
    return _mm512_add_epi32(even, odd);
}

INLINE const vka_q8_act *act_row(const vka_packed_product *p, int64_t j) {
    return (const vka_q8_act *)(p->act + (size_t)j * p->act_row_bytes);
}

/* Q4_0, Q5_0, Q8_0: one scale per block, value = code - offset. */
INLINE void offset_tile(const vka_packed_product *p, const uint8_t *gw, int64_t j0, const int nr, __m512 *acc,
                        const vka_type type) {
    const size_t block_bytes = p->w->group_bytes / (size_t)(p->w->k / 32);
    const int offset = type == VKA_TYPE_Q4_0 ? 8 : type == VKA_TYPE_Q5_0 ? 16 : 128;
    const vka_q8_act *x[TILE];
    UNROLL
    for (int r = 0; r < nr; r++) {
        acc[r] = _mm512_setzero_ps();
        x[r] = act_row(p, j0 + r);
    }
    for (int64_t b = 0; b < p->w->k / 32; b++) {
        const uint8_t *blk = gw + (size_t)b * block_bytes;
        prefetch_ahead(blk, block_bytes, nr, j0);
        code_vectors c;
        if (type == VKA_TYPE_Q8_0) {
            UNROLL
            for (int g = 0; g < 8; g++) c.v[g] = _mm512_loadu_si512(blk + 32 + 64 * g);
        } else {
            unpack_nibbles(blk + 32, &c);
            if (type == VKA_TYPE_Q5_0) add_masked(blk + 32 + 256, &c, 16);
        }
        __m512 d = load_f16x16(blk);
        UNROLL
        for (int r = 0; r < nr; r++) {
            const vka_q8_act *a = &x[r][b];
            __m512i s = _mm512_sub_epi32(dot(&c, a->q, 0, 8), _mm512_set1_epi32(offset * a->sum));
            acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(d, _mm512_set1_ps(a->d)), acc[r]);
        }
    }
}

/* Q4_K: x = d*sc*code - dmin*m per block of 32; the min term uses d_x * sum(q_x). */
INLINE void q4_k_tile(const vka_packed_product *p, const uint8_t *gw, int64_t j0, const int nr, __m512 *acc) {
    const int64_t k = p->w->k;
    const vka_q8_act *x[TILE];
    const float *dsum[TILE];
    UNROLL
    for (int r = 0; r < nr; r++) {
        acc[r] = _mm512_setzero_ps();
        x[r] = act_row(p, j0 + r);
        dsum[r] = vka_fast_act_dsum(x[r], k);
    }
    const size_t super_bytes = p->w->group_bytes / (size_t)(k / VKA_QK_K);
    for (int64_t s = 0; s < k / VKA_QK_K; s++) {
        const uint8_t *sb = gw + (size_t)s * super_bytes;
        __m512 d = load_f16x16(sb), dmin = load_f16x16(sb + 32);
        for (int j = 0; j < 8; j++) {
            prefetch_ahead(sb + j * (super_bytes / 8), super_bytes / 8, nr, j0);
            __m512 scale = _mm512_mul_ps(d, load_u8x16(sb + 64 + 16 * j));
            __m512 min = _mm512_mul_ps(dmin, load_u8x16(sb + 64 + 128 + 16 * j));
            code_vectors c;
            unpack_nibbles(sb + 64 + 256 + 256 * j, &c);
            int64_t b = s * 8 + j;
            UNROLL
            for (int r = 0; r < nr; r++) {
                const vka_q8_act *a = &x[r][b];
                __m512i sum = dot(&c, a->q, 0, 8);
                acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), _mm512_mul_ps(scale, _mm512_set1_ps(a->d)), acc[r]);
                acc[r] = _mm512_fnmadd_ps(min, _mm512_set1_ps(dsum[r][b]), acc[r]);
            }
        }
    }
}

/* Q6_K: x = d*sc*(code - 32) with a scale per 16 columns, so each block of
 * 32 is two half sums, each offset by 32 * (its activation codes' sum). */
INLINE void q6_k_tile(const vka_packed_product *p, const uint8_t *gw, int64_t j0, const int nr, __m512 *acc) {
    const int64_t k = p->w->k;
    const vka_q8_act *x[TILE];
    const int32_t *halves[TILE];
    UNROLL
    for (int r = 0; r < nr; r++) {
        acc[r] = _mm512_setzero_ps();
        x[r] = act_row(p, j0 + r);
        halves[r] = p->half_sums + (size_t)(j0 + r) * (size_t)(k / 16);
    }
    const size_t super_bytes = p->w->group_bytes / (size_t)(k / VKA_QK_K);
    for (int64_t s = 0; s < k / VKA_QK_K; s++) {
        const uint8_t *sb = gw + (size_t)s * super_bytes;
        __m512 d = load_f16x16(sb);
        for (int j = 0; j < 8; j++) {
            prefetch_ahead(sb + j * (super_bytes / 8), super_bytes / 8, nr, j0);
            __m512 scale_lo = _mm512_mul_ps(d, load_i8x16(sb + 32 + 16 * (2 * j)));
            __m512 scale_hi = _mm512_mul_ps(d, load_i8x16(sb + 32 + 16 * (2 * j + 1)));
            const uint8_t *blk = sb + 32 + 256 + (256 + 128) * j;
            code_vectors c;
            unpack_nibbles(blk, &c);
            add_masked(blk + 256, &c, 16);
            add_masked(blk + 256 + 64, &c, 32);
            int64_t b = s * 8 + j;
            UNROLL
            for (int r = 0; r < nr; r++) {
                const vka_q8_act *a = &x[r][b];
                __m512i lo = _mm512_sub_epi32(dot(&c, a->q, 0, 4), _mm512_set1_epi32(32 * halves[r][2 * b]));
                __m512i hi = _mm512_sub_epi32(dot(&c, a->q, 4, 4), _mm512_set1_epi32(32 * halves[r][2 * b + 1]));
                __m512 ad = _mm512_set1_ps(a->d);
                acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(lo), _mm512_mul_ps(scale_lo, ad), acc[r]);
                acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(hi), _mm512_mul_ps(scale_hi, ad), acc[r]);
            }
        }
    }
}

/* Columns 16g.. of the tile's rows: + bias, or onto dst; a mask keeps the
 * padding rows of the last group out. */
INLINE void store(const vka_packed_product *p, int64_t g, int64_t j0, int nr, const __m512 *acc) {
    int64_t col = g * VKA_PACK_ROWS, left = p->w->rows - col;
    __mmask16 mask = (__mmask16)(left >= 16 ? 0xffffu : (1u << left) - 1u);
    __m512 bias = p->bias ? _mm512_maskz_loadu_ps(mask, p->bias + col) : _mm512_setzero_ps();
    for (int r = 0; r < nr; r++) {
        float *out = p->dst + (size_t)(j0 + r) * p->dst_row_floats + col;
        __m512 v = p->bias ? _mm512_add_ps(acc[r], bias) : acc[r];
        if (p->accumulate) v = _mm512_add_ps(_mm512_maskz_loadu_ps(mask, out), v);
        _mm512_mask_storeu_ps(out, mask, v);
    }
}

/* One instance per tile height, so the token loops unroll over constants. */
#define TILE_CASES(call)                                                                                        \
    switch (nr) {                                                                                               \
    case 1: call(1); break;                                                                                     \
    case 2: call(2); break;                                                                                     \
    case 3: call(3); break;                                                                                     \
    case 4: call(4); break;                                                                                     \
    case 5: call(5); break;                                                                                     \
    case 6: call(6); break;                                                                                     \
    case 7: call(7); break;                                                                                     \
    default: call(8); break;                                                                                    \
    }

#define ENTRY(name, CALL)                                                                                       \
    KERNEL static void name(const vka_packed_product *p, int64_t g0, int64_t g1) {                              \
        for (int64_t g = g0; g < g1; g++) {                                                                     \
            const uint8_t *gw = p->w->data + (size_t)g * p->w->group_bytes;                                     \
            for (int64_t j0 = 0; j0 < p->n_act; j0 += TILE) {                                                   \
                int nr = p->n_act - j0 < TILE ? (int)(p->n_act - j0) : TILE;                                    \
                __m512 acc[TILE];                                                                               \
                TILE_CASES(CALL)                                                                                \
                store(p, g, j0, nr, acc);                                                                       \
            }                                                                                                   \
        }                                                                                                       \
    }

#define Q4_0_CALL(n) offset_tile(p, gw, j0, n, acc, VKA_TYPE_Q4_0)
#define Q5_0_CALL(n) offset_tile(p, gw, j0, n, acc, VKA_TYPE_Q5_0)
#define Q8_0_CALL(n) offset_tile(p, gw, j0, n, acc, VKA_TYPE_Q8_0)
#define Q4_K_CALL(n) q4_k_tile(p, gw, j0, n, acc)
#define Q6_K_CALL(n) q6_k_tile(p, gw, j0, n, acc)

ENTRY(packed_q4_0, Q4_0_CALL)
ENTRY(packed_q5_0, Q5_0_CALL)
ENTRY(packed_q8_0, Q8_0_CALL)
ENTRY(packed_q4_k, Q4_K_CALL)
ENTRY(packed_q6_k, Q6_K_CALL)

static const vka_packed_fn kernels[VKA_TYPE_COUNT] = {
    [VKA_TYPE_Q4_0] = packed_q4_0, [VKA_TYPE_Q5_0] = packed_q5_0, [VKA_TYPE_Q8_0] = packed_q8_0,
    [VKA_TYPE_Q4_K] = packed_q4_k, [VKA_TYPE_Q6_K] = packed_q6_k,
};

/* The OS must also save the AVX-512 state (XCR0 bits 5-7 with 1-2). */
static bool os_saves_avx512(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE)) return false;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (lo & 0xe6) == 0xe6;
}

/* Asked once per matrix product: the answer is cached, as CPUID traps to
 * the hypervisor in a virtual machine. 0 unknown, 1 yes, 2 no. */
static _Atomic int supported;

const vka_packed_fn *vka_packed_avx512(void) {
    if (supported == 0) {
        __builtin_cpu_init();
        bool ok = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                  __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni") &&
                  __builtin_cpu_supports("fma") && os_saves_avx512();
        supported = ok ? 1 : 2;
    }
    return supported == 1 ? kernels : NULL;
}

#else

const vka_packed_fn *vka_packed_avx512(void) { return NULL; }

#endif
