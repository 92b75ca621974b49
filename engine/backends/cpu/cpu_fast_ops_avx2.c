/* cpu_fast_ops_avx2.c — the row kernels of cpu_fast_ops.h in AVX2 with FMA
 * and F16C, compiled through target attributes (the build needs no -march
 * flag); vka_fast_ops_avx2 offers them only when the running CPU has those
 * features. The attention kernels load each key and value row once for up to
 * VKA_FAST_ATTN_HEADS query heads (grouped-query attention shares them). */
#include "backends/cpu/cpu_fast_ops.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#include <string.h>

#define TARGET "avx2,fma,f16c"
#define KERNEL static __attribute__((target(TARGET)))
#define INLINE static inline __attribute__((always_inline, target(TARGET)))
/* Loops over a tile's heads, keys or vectors (constant trip counts): unrolled
 * so that their accumulators live in registers, which -O2 does not do alone. */
#define UNROLL _Pragma("GCC unroll 8")

INLINE float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

/* e^x on eight floats. x = n ln2 + r with n = round(x log2 e), |r| <= 0.347;
 * e^r by its Taylor polynomial of degree 7 (Horner, FMA); times 2^n as two
 * powers of two (n reaches 128, one past the largest exponent).
 * Error, relative, in units u = FLT_EPSILON / 2, for |r| <= 0.347:
 * - r: x - n*ln2_hi, then - n*ln2_lo, two FMA roundings of |r| <= 0.347: 0.69 u
 *   (ln2_hi + ln2_lo is ln 2 within 6e-14: times |n| <= 128, negligible);
 * - truncation: |r|^8 / 8! * e^|r| / e^-|r| = 1.05e-8 = 0.18 u;
 * - Horner: each step rounds once (u |p_k|) and the error of the step before
 *   is multiplied by |r|: with |p_1| <= 1.195, |p_2| <= 0.563, |p_3| <= 0.181,
 *   ... the final absolute error is <= u |p_0| + 0.49 u, so relative
 *   <= u + 0.49 u / e^-0.347 = 1.70 u; the rounded coefficients add < 0.01 u;
 * - the powers of two are exact while the result is a normal number.
 * Total 2.6 u < 1.5 FLT_EPSILON. Below ln(FLT_MIN) the result is 0 (e^x is
 * then under FLT_MIN); above the largest x with a finite expf, +inf; NaN
 * stays NaN. */
INLINE __m256 exp8(__m256 x) {
    const __m256 lo = _mm256_set1_ps(-87.3365478515625f); /* the float just below ln(FLT_MIN) */
    const __m256 hi = _mm256_set1_ps(88.72283172607422f); /* the largest float whose e^x is finite */
    __m256 xc = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
    __m256 n = _mm256_round_ps(_mm256_mul_ps(xc, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145751953125f), xc);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.428606820309417e-06f), r);
    __m256 p = _mm256_set1_ps(1.0f / 5040.0f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    __m256i ni = _mm256_cvtps_epi32(n);         /* -126..128 */
    __m256i n1 = _mm256_srai_epi32(ni, 1), n2 = _mm256_sub_epi32(ni, n1); /* each -63..64 */
    const __m256i bias = _mm256_set1_epi32(127);
    __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
    __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
    __m256 y = _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
    y = _mm256_andnot_ps(_mm256_cmp_ps(x, lo, _CMP_LT_OQ), y);                      /* underflow: 0 */
    y = _mm256_blendv_ps(y, _mm256_set1_ps(__builtin_inff()), _mm256_cmp_ps(x, hi, _CMP_GT_OQ));
    return _mm256_blendv_ps(y, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));                  /* NaN */
}

/* Up to 8 floats of a row's tail through a padded vector (pad: `fill`). */
INLINE __m256 load_tail(const float *x, int64_t n, float fill) {
    float buf[8];
    for (int i = 0; i < 8; i++) buf[i] = i < n ? x[i] : fill;
    return _mm256_loadu_ps(buf);
}

INLINE void store_tail(float *out, __m256 v, int64_t n) {
    float buf[8];
    _mm256_storeu_ps(buf, v);
    memcpy(out, buf, (size_t)n * sizeof(float));
}

KERNEL void avx2_exp(const float *x, float *out, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, exp8(_mm256_loadu_ps(x + i)));
    if (i < n) store_tail(out + i, exp8(load_tail(x + i, n - i, 0.0f)), n - i);
}

KERNEL float avx2_sum_squares(const float *x, int64_t n) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 v0 = _mm256_loadu_ps(x + i), v1 = _mm256_loadu_ps(x + i + 8);
        a0 = _mm256_fmadd_ps(v0, v0, a0);
        a1 = _mm256_fmadd_ps(v1, v1, a1);
    }
    float s = hsum8(_mm256_add_ps(a0, a1));
    for (; i < n; i++) s += x[i] * x[i];
    return s;
}

KERNEL void avx2_scale_mul(const float *x, float scale, const float *w, float *out, int64_t n) {
    __m256 sv = _mm256_set1_ps(scale);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), sv), _mm256_loadu_ps(w + i)));
    for (; i < n; i++) out[i] = x[i] * scale * w[i];
}

INLINE __m256 swiglu8(__m256 g, __m256 u) {
    __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), g));
    return _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1.0f), e)), u);
}

KERNEL void avx2_swiglu(const float *g, const float *u, float *out, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, swiglu8(_mm256_loadu_ps(g + i), _mm256_loadu_ps(u + i)));
    if (i < n) store_tail(out + i, swiglu8(load_tail(g + i, n - i, 0.0f), load_tail(u + i, n - i, 0.0f)), n - i);
}

KERNEL void avx2_add(const float *a, const float *b, float *out, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, _mm256_add_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
    for (; i < n; i++) out[i] = a[i] + b[i];
}

KERNEL float avx2_softmax_exp(float *s, int64_t n) {
    __m256 mv = _mm256_set1_ps(-__builtin_inff());
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) mv = _mm256_max_ps(mv, _mm256_loadu_ps(s + i));
    float max = -__builtin_inff(), lanes[8];
    _mm256_storeu_ps(lanes, mv);
    for (int l = 0; l < 8; l++) max = lanes[l] > max ? lanes[l] : max;
    for (; i < n; i++) max = s[i] > max ? s[i] : max;
    __m256 maxv = _mm256_set1_ps(max), sum = _mm256_setzero_ps();
    for (i = 0; i + 8 <= n; i += 8) {
        __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(s + i), maxv));
        _mm256_storeu_ps(s + i, e);
        sum = _mm256_add_ps(sum, e);
    }
    if (i < n) { /* padded with -inf, whose e^x is 0 */
        __m256 e = exp8(_mm256_sub_ps(load_tail(s + i, n - i, -__builtin_inff()), maxv));
        store_tail(s + i, e, n - i);
        sum = _mm256_add_ps(sum, e);
    }
    return hsum8(sum);
}

/* Eight values of a cache row from element i, f16 or f32. */
INLINE __m256 load_row8(const char *row, uint32_t i, const bool f16) {
    if (f16) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)row + i)));
    return _mm256_loadu_ps((const float *)row + i);
}

INLINE float row_at(const char *row, uint32_t i, const bool f16) {
    return f16 ? _cvtsh_ss(((const uint16_t *)row)[i]) : ((const float *)row)[i];
}

/* Lane j: the sum of the lanes of a[j]. */
INLINE __m256 hsum8x8(const __m256 *a) {
    __m256 s01 = _mm256_hadd_ps(a[0], a[1]), s23 = _mm256_hadd_ps(a[2], a[3]);
    __m256 s45 = _mm256_hadd_ps(a[4], a[5]), s67 = _mm256_hadd_ps(a[6], a[7]);
    __m256 s0123 = _mm256_hadd_ps(s01, s23), s4567 = _mm256_hadd_ps(s45, s67); /* low, high halves of 0..7 */
    return _mm256_add_ps(_mm256_permute2f128_ps(s0123, s4567, 0x20), _mm256_permute2f128_ps(s0123, s4567, 0x31));
}

/* q . k for one key row, whole. */
INLINE float score1(const bool f16, const float *q, const char *row, uint32_t dim) {
    uint32_t dim8 = dim & ~7u;
    __m256 acc = _mm256_setzero_ps();
    for (uint32_t i = 0; i < dim8; i += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), load_row8(row, i, f16), acc);
    float d = hsum8(acc);
    for (uint32_t i = dim8; i < dim; i++) d += q[i] * row_at(row, i, f16);
    return d;
}

/* q . k for the eight key rows from `rows`: eight independent sums, reduced
 * together (one horizontal reduction per eight scores instead of per score). */
INLINE __m256 scores8(const bool f16, const float *q, const char *rows, size_t stride, uint32_t dim) {
    uint32_t dim8 = dim & ~7u;
    __m256 acc[8];
    UNROLL
    for (int j = 0; j < 8; j++) acc[j] = _mm256_setzero_ps();
    for (uint32_t i = 0; i < dim8; i += 8) {
        __m256 qv = _mm256_loadu_ps(q + i);
        UNROLL
        for (int j = 0; j < 8; j++) acc[j] = _mm256_fmadd_ps(qv, load_row8(rows + (size_t)j * stride, i, f16), acc[j]);
    }
    __m256 d = hsum8x8(acc);
    if (dim8 == dim) return d;
    float tail[8];
    for (int j = 0; j < 8; j++) {
        tail[j] = 0.0f;
        for (uint32_t i = dim8; i < dim; i++) tail[j] += q[i] * row_at(rows + (size_t)j * stride, i, f16);
    }
    return _mm256_add_ps(d, _mm256_loadu_ps(tail));
}

/* Eight keys at a time for each head in turn: the eight rows stay in L1
 * while the group's heads pass over them. Blocks hold a multiple of eight
 * rows, so a key is in a group of eight (or the tail, one by one) by its
 * index alone, wherever its block sits. */
INLINE void scores_tile(const int nq, const bool f16, const float *const *q, const vka_fast_kv_rows *k,
                        int64_t n_keys, uint32_t dim, float scale, float *const *out) {
    const size_t stride = k->stride;
    const __m256 sv = _mm256_set1_ps(scale);
    for (int64_t b0 = 0; b0 < n_keys; b0 += VKA_KV_BLOCK) {
        const char *rows = vka_fast_kv_row(k, b0);
        int64_t n = n_keys - b0 < VKA_KV_BLOCK ? n_keys - b0 : VKA_KV_BLOCK, t = 0;
        for (; t + 8 <= n; t += 8, rows += 8 * stride)
            UNROLL
            for (int h = 0; h < nq; h++)
                _mm256_storeu_ps(out[h] + b0 + t, _mm256_mul_ps(scores8(f16, q[h], rows, stride, dim), sv));
        for (; t < n; t++, rows += stride)
            for (int h = 0; h < nq; h++) out[h][b0 + t] = score1(f16, q[h], rows, dim) * scale;
    }
}

/* nv vectors (8 values each) of dims [i0, i0 + 8 nv) for nq heads, keys in order. */
INLINE void wsum_tile(const int nq, const bool f16, const int nv, const float *const *w, const vka_fast_kv_rows *v,
                      int64_t n_keys, uint32_t i0, float *const *out) {
    const size_t stride = v->stride;
    __m256 acc[VKA_FAST_ATTN_HEADS][2];
    UNROLL
    for (int h = 0; h < nq; h++)
        UNROLL
        for (int c = 0; c < nv; c++) acc[h][c] = _mm256_setzero_ps();
    for (int64_t b0 = 0; b0 < n_keys; b0 += VKA_KV_BLOCK) {
        const char *row = vka_fast_kv_row(v, b0);
        int64_t n = n_keys - b0 < VKA_KV_BLOCK ? n_keys - b0 : VKA_KV_BLOCK;
        const float *wb[VKA_FAST_ATTN_HEADS];
        UNROLL
        for (int h = 0; h < nq; h++) wb[h] = w[h] + b0;
        for (int64_t t = 0; t < n; t++, row += stride) {
            __m256 x[2];
            UNROLL
            for (int c = 0; c < nv; c++) x[c] = load_row8(row, i0 + 8 * (uint32_t)c, f16);
            UNROLL
            for (int h = 0; h < nq; h++) {
                __m256 wt = _mm256_set1_ps(wb[h][t]);
                UNROLL
                for (int c = 0; c < nv; c++) acc[h][c] = _mm256_fmadd_ps(wt, x[c], acc[h][c]);
            }
        }
    }
    UNROLL
    for (int h = 0; h < nq; h++)
        UNROLL
        for (int c = 0; c < nv; c++) _mm256_storeu_ps(out[h] + i0 + 8 * c, acc[h][c]);
}

/* 16 dims at a time (a 64-byte line of an f32 row), then 8, then one by one. */
INLINE void wsum_heads(const int nq, const bool f16, const float *const *w, const vka_fast_kv_rows *v,
                       int64_t n_keys, uint32_t dim, float *const *out) {
    uint32_t i = 0;
    for (; i + 16 <= dim; i += 16) wsum_tile(nq, f16, 2, w, v, n_keys, i, out);
    for (; i + 8 <= dim; i += 8) wsum_tile(nq, f16, 1, w, v, n_keys, i, out);
    for (; i < dim; i++)
        for (int h = 0; h < nq; h++) {
            float acc = 0.0f;
            for (int64_t t = 0; t < n_keys; t++) acc += w[h][t] * row_at(vka_fast_kv_row(v, t), i, f16);
            out[h][i] = acc;
        }
}

/* Calls fn(nq, f16, ...) with both as constants. */
#define BY_NQ(fn, nq, F16, ...)                       \
    switch (nq) {                                     \
    case 1: fn(1, F16, __VA_ARGS__); break;           \
    case 2: fn(2, F16, __VA_ARGS__); break;           \
    case 3: fn(3, F16, __VA_ARGS__); break;           \
    default: fn(4, F16, __VA_ARGS__); break;          \
    }
#define BY_HEADS(fn, nq, f16, ...)                    \
    do {                                              \
        if (f16) {                                    \
            BY_NQ(fn, nq, true, __VA_ARGS__)          \
        } else {                                      \
            BY_NQ(fn, nq, false, __VA_ARGS__)         \
        }                                             \
    } while (0)

KERNEL void avx2_scores(const float *const *q, int nq, const vka_fast_kv_rows *k, int64_t n_keys, uint32_t dim,
                        float scale, float *const *out) {
    BY_HEADS(scores_tile, nq, k->f16, q, k, n_keys, dim, scale, out);
}

KERNEL void avx2_weighted_sum(const float *const *w, int nq, const vka_fast_kv_rows *v, int64_t n_keys, uint32_t dim,
                              float *const *out) {
    BY_HEADS(wsum_heads, nq, v->f16, w, v, n_keys, dim, out);
}

static const vka_fast_op_kernels avx2_kernels = {
    .isa = "avx2",
    .exp = avx2_exp,
    .sum_squares = avx2_sum_squares,
    .scale_mul = avx2_scale_mul,
    .swiglu = avx2_swiglu,
    .add = avx2_add,
    .scores = avx2_scores,
    .softmax_exp = avx2_softmax_exp,
    .weighted_sum = avx2_weighted_sum,
};

const vka_fast_op_kernels *vka_fast_ops_avx2(void) {
    __builtin_cpu_init();
    unsigned a, b, c, d; /* F16C from CPUID leaf 1 (ECX bit 29): clang 14's builtin does not know it */
    bool f16c = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && f16c ? &avx2_kernels : NULL;
}

#else

const vka_fast_op_kernels *vka_fast_ops_avx2(void) { return NULL; }

#endif
