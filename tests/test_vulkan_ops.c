/* test_vulkan_ops.c — every Vulkan shader against the CPU reference
 * (engine/cpu) on seeded random inputs, every weight type, shapes that are
 * not multiples of workgroup or tile sizes; bit-identical results across
 * batch sizes (matmul: vector vs tiled kernel; attention: prefill vs decode
 * split path); weights split over several bindings (the paged KV cases are
 * in test_vulkan_paged.c, the shared harness in vulkan_ops_harness.c). Runs under the
 * validation layer (VKAGENT_VK_VALIDATION=1 from meson): any validation
 * message fails the test. */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "test_util.h"
#include "format/types.h"
#include "backends/vulkan/vulkan_backend.h"
#include "vulkan_ops_harness.h"

/* ------------------------------------------------------------ get_rows */

static void check_get_rows(vka_type type, int64_t ne0, int64_t rows, uint32_t n) {
    pair table, ids, dst;
    make(&table, "table", type, ne0, rows, VKA_USAGE_WEIGHT, random_rows(type, ne0, rows));
    int32_t *id = malloc(n * sizeof *id);
    for (uint32_t i = 0; i < n; i++) id[i] = (int32_t)(next_u64() % (uint64_t)rows);
    id[0] = (int32_t)rows - 1;
    make(&ids, "ids", VKA_TYPE_I32, 1, n, VKA_USAGE_INPUT, id);
    make(&dst, "dst", VKA_TYPE_F32, ne0, n, VKA_USAGE_ACTIVATION, NULL);
    run(VKA_OP_GET_ROWS, &dst, &table, &ids, NULL, NULL, n, 0);
    char what[64];
    snprintf(what, sizeof what, "get_rows %s [%lld] x %u", vka_type_name(type), (long long)ne0, n);
    compare(&dst, exact, NULL, what); /* dequantization is d * q in f32 on both sides: exact */
    drop(&table), drop(&ids), drop(&dst);
}

Test(vulkan_ops, get_rows_every_type) {
    open_backends();
    seed(1);
    for (int t = 0; t < N_TYPES; t++) {
        vka_type ty = all_types[t];
        check_get_rows(ty, row_len(ty, 1, 1), 31, 7);
        check_get_rows(ty, row_len(ty, 31, 3), 300, 33);
        check_get_rows(ty, row_len(ty, 4097, kquant(ty) ? 16 : 128), 33, 300);
        check_get_rows(ty, row_len(ty, 172, 2), 1, 1);
    }
    for (int t = 0; t < N_SMALL_TYPES; t++) {
        vka_type ty = small_types[t];
        check_get_rows(ty, row_len(ty, 1, 3), 300, 33);
        check_get_rows(ty, row_len(ty, 1, kquant(ty) ? 16 : 128), 33, 300);
    }
    close_backends();
}

/* ------------------------------------------------------------ rms_norm */

typedef struct norm_tol {
    int64_t ne0;
} norm_tol;

static double norm_tolerance(size_t i, double ref, void *ctx) {
    (void)i;
    const norm_tol *t = ctx;
    /* The CPU sums squares in double, the shader in f32 (error ~ sqrt(n) eps relative to the sum,
     * halved by the square root), then 2 roundings for scale and weight: allow 4 sqrt(n) + 8 eps. */
    return fabs(ref) * (4.0 * sqrt((double)t->ne0) + 8.0) * FLT_EPSILON + 1e-30;
}

static void check_rms_norm(int64_t ne0, int64_t rows, bool in_place) {
    pair x, w, dst;
    make(&x, "x", VKA_TYPE_F32, ne0, rows, VKA_USAGE_ACTIVATION, random_floats((size_t)(ne0 * rows), 3.0f));
    make(&w, "w", VKA_TYPE_F32, ne0, 1, VKA_USAGE_WEIGHT, random_floats((size_t)ne0, 1.0f));
    if (!in_place) make(&dst, "dst", VKA_TYPE_F32, ne0, rows, VKA_USAGE_ACTIVATION, NULL);
    vka_node p = {.p.eps = 1e-5f};
    run(VKA_OP_RMS_NORM, in_place ? &x : &dst, &x, &w, NULL, &p, (uint32_t)rows, 0);
    norm_tol t = {ne0};
    char what[64];
    snprintf(what, sizeof what, "rms_norm [%lld] x %lld%s", (long long)ne0, (long long)rows, in_place ? " in place" : "");
    compare(in_place ? &x : &dst, norm_tolerance, &t, what);
    drop(&x), drop(&w);
    if (!in_place) drop(&dst);
}

Test(vulkan_ops, rms_norm) {
    open_backends();
    seed(2);
    int64_t widths[] = {1, 31, 4097};
    int64_t rows[] = {1, 7, 33, 300};
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++) check_rms_norm(widths[i], rows[j], false);
    check_rms_norm(8, 33 * 8, true); /* per-head norm of qwen3, in place */
    close_backends();
}

/* ------------------------------------------------------------ matmul */

typedef struct mm_tol {
    const float *w, *x;              /* dequantized weights [M][K], inputs [N][K] */
    int64_t K, M;
    const float *bias;
    const float *old;                /* dst before an accumulating matmul */
    bool q8;                         /* Vulkan quantizes the activations (vka_vk_quantizes_activations) */
    bool on_grid;                    /* ... and x is already q * d (q8_grid), so only rounding differs */
    const float *mins;               /* Q4_K, Q5_K, Q2_K: dmin * m of each row's halves of 16 [M][K/16], else NULL */
    bool f16;                        /* the cooperative-matrix path rounds w and x to f16 (vka_vk_rounds_to_f16) */
} mm_tol;

/* How far rounding both factors to f16 moves sum_k w_k x_k: |fl16(v) - v| <= u |v| + s
 * (u = 2^-11, s = 2^-25 half the subnormal spacing), so per product
 * |fl16(w) fl16(x) - w x| <= (2u + u^2) |w x| + s (1 + u) (|w| + |x|) + s^2. */
static double f16_rounding(const float *w, const float *x, int64_t K) {
    const double u = 0x1p-11, s = 0x1p-25;
    double sum = 0;
    for (int64_t k = 0; k < K; k++)
        sum += (2 * u + u * u) * fabs((double)w[k] * x[k]) + s * (1 + u) * (fabs(w[k]) + fabs(x[k])) + s * s;
    return sum;
}

/* Q4_K, Q5_K, Q2_K: dmin * m (the reference's products) of every half of 16
 * of a block of 32 ([rows][K/16]; Q4_K's and Q5_K's halves share their
 * sub-block's); NULL for the other types. */
static float *kquant_mins(vka_type type, const uint8_t *rows, int64_t K, int64_t M) {
    if (type != VKA_TYPE_Q4_K && type != VKA_TYPE_Q5_K && type != VKA_TYPE_Q2_K) return NULL;
    size_t rb = vka_type_row_size(type, K), sb_bytes = vka_type_get_traits(type)->type_size;
    float *out = malloc((size_t)(M * K / 16) * sizeof *out);
    cr_assert(out);
    for (int64_t r = 0; r < M; r++)
        for (int64_t sb = 0; sb < K / 256; sb++) {
            const uint8_t *b = rows + (size_t)r * rb + (size_t)sb * sb_bytes;
            float *o = out + r * (K / 16) + sb * 16;
            uint16_t h;
            if (type == VKA_TYPE_Q2_K) { /* 16 scale bytes (high nibble: min), 64 of codes, d, dmin */
                memcpy(&h, b + 82, 2);
                for (int j = 0; j < 16; j++) o[j] = vka_f16_to_f32(h) * (float)(b[j] >> 4);
                continue;
            }
            memcpy(&h, b + 2, 2); /* d, dmin, 12 scale bytes, then codes (and Q5_K's fifth bits) */
            const uint8_t *sc = b + 4;
            for (int j = 0; j < 8; j++) {
                int m = j < 4 ? sc[j + 4] & 63 : (sc[j + 4] >> 4) | ((sc[j - 4] >> 6) << 4);
                o[2 * j] = o[2 * j + 1] = vka_f16_to_f32(h) * (float)m;
            }
        }
    return out;
}

/* What the integer kernel's float sums add up in magnitude: per block the terms
 * (d_w d_x) s_b and, for Q4_K, Q5_K and Q2_K, (dmin m d_x) sum q_x. With w = d_w q - dmin m,
 * |d_w q| <= |w| + dmin m, so they are within sum_k (|w_k| + 2 dmin m) |x'_k|, x'_k the
 * activation on the 8-bit grid: |x'_k| <= |x_k| + d_b/2 (|x_k| itself on the grid). */
static double q8_magnitude(const mm_tol *t, size_t row, size_t tok) {
    const float *w = t->w + row * (size_t)t->K, *x = t->x + tok * (size_t)t->K;
    double mag = 0;
    for (int64_t b = 0; b < t->K / 32; b++) {
        double amax = 0;
        for (int i = 0; i < 32; i++) amax = fmax(amax, fabs(x[b * 32 + i]));
        double half_step = t->on_grid ? 0.0 : amax / 127.0 * (1.0 + 0x1p-12) / 2.0;
        for (int i = 0; i < 32; i++) {
            double m2 = t->mins ? 2.0 * fabs(t->mins[row * (size_t)(t->K / 16) + (size_t)(b * 2 + i / 16)]) : 0.0;
            mag += (fabs(w[b * 32 + i]) + m2) * (fabs(x[b * 32 + i]) + half_step);
        }
    }
    return mag;
}

/* Sum over blocks of 32 of d_b/2 sum_{k in b} |w_k|, d_b = max|x in b|/127: how far
 * 8-bit activations (|x_k - q_k d_b| <= d_b/2) can move a dot product. */
static double q8_error(const float *w, const float *x, int64_t K) {
    double quant = 0;
    for (int64_t b = 0; b < K / 32; b++) {
        double amax = 0, wsum = 0;
        for (int i = 0; i < 32; i++) {
            amax = fmax(amax, fabs(x[b * 32 + i]));
            wsum += fabs(w[b * 32 + i]);
        }
        /* 2^-12 relative slack on d_b: the shader's division (2.5 ulp in Vulkan) and x * (1/d) rounded,
         * a few eps relative each, times |q| <= 127, move q_k d_b by well under 2^-12 d_b/2 */
        quant += amax / 127.0 * (1.0 + 0x1p-12) / 2.0 * wsum;
    }
    return quant;
}

static double matmul_tolerance(size_t i, double ref, void *ctx) {
    (void)ref;
    const mm_tol *t = ctx;
    size_t row = i % (size_t)t->M, tok = i / (size_t)t->M;
    double mag = 0;
    for (int64_t k = 0; k < t->K; k++) mag += fabs((double)t->w[row * t->K + k] * t->x[tok * t->K + k]);
    /* Two f32 sums of K products in different orders: each off by at most ~sqrt(K) eps sum|w x| for
     * random-sign terms (K eps in the worst case); allow 4 sqrt(K) eps sum|w x|, plus the bias and the
     * accumulation (one rounding each of values up to |ref|). */
    double extra = 0;
    if (t->bias) extra += fabs(t->bias[row]);
    if (t->old) extra += fabs(t->old[i]);
    double tail = 4.0 * FLT_EPSILON * (fabs(ref) + extra) + 1e-30;
    if (t->q8) {
        /* The integer kernel: the reference sums K f32 products, within gamma_K S of the exact dot
         * (S = sum |w x|, gamma_K = K eps / (1 - K eps)); the kernel sums at most K/16 terms
         * (scale products times exact integer sums), each rounded twice (the scale product, the
         * fma): within (gamma_K + 2 eps) G, G their magnitudes (q8_magnitude; S <= G + Q). On the
         * 8-bit grid (x = q d already) the kernel re-quantizes to the same q with
         * d' = fl(fl(127 d) / 127), within 2 eps of d, and the reference's q d are rounded once:
         * 3 eps G more. Otherwise the activations' quantization moves the dot by at most Q
         * (q8_error). */
        double gamma = (double)t->K * FLT_EPSILON / (1.0 - (double)t->K * FLT_EPSILON);
        double g = q8_magnitude(t, row, tok);
        if (t->on_grid) return (2.0 * gamma + 5.0 * FLT_EPSILON) * g + tail;
        double quant = q8_error(t->w + row * t->K, t->x + tok * t->K, t->K);
        return quant + (2.0 * gamma + 2.0 * FLT_EPSILON) * (g + quant) + tail;
    }
    /* on the f16 path the f32 sums add the rounded products: their magnitudes are within mag + f16 */
    double f16 = t->f16 ? f16_rounding(t->w + row * t->K, t->x + tok * t->K, t->K) : 0.0;
    return f16 + 4.0 * sqrt((double)t->K) * FLT_EPSILON * (mag + f16) + tail;
}

static float *dequantize(vka_type type, const void *rows, int64_t ne0, int64_t ne1) {
    float *out = malloc((size_t)(ne0 * ne1) * sizeof *out);
    size_t rb = vka_type_row_size(type, ne0);
    for (int64_t r = 0; r < ne1; r++)
        vka_type_get_traits(type)->to_f32((const uint8_t *)rows + (size_t)r * rb, out + r * ne0, ne0);
    return out;
}

/* x on the 8-bit grid: each block of 32 as q * d with the quantizer's formula
 * (d = max|x|/127, q = round-to-even(x / d) in [-127, 127]). */
static float *q8_grid(const float *x, int64_t K, int64_t N) {
    float *out = malloc((size_t)(K * N) * sizeof *out);
    cr_assert(out);
    for (int64_t b = 0; b < K * N / 32; b++) {
        float amax = 0.0f;
        for (int i = 0; i < 32; i++) amax = fabsf(x[b * 32 + i]) > amax ? fabsf(x[b * 32 + i]) : amax;
        float d = amax / 127.0f, inv = d > 0.0f ? 1.0f / d : 0.0f;
        for (int i = 0; i < 32; i++) out[b * 32 + i] = fminf(fmaxf(rintf(x[b * 32 + i] * inv), -127.0f), 127.0f) * d;
    }
    return out;
}

/* Where Vulkan quantizes the activations, the bound of the quantization is
 * as large as a wrong result: the product is also checked on activations
 * already on the 8-bit grid, where only float rounding differs. */
static void check_matmul_on_grid(vka_type type, pair *w, const float *wf, const float *mins, const float *x,
                                 int64_t K, int64_t M, int64_t N) {
    pair xq, dst;
    float *grid = q8_grid(x, K, N);
    mm_tol t = {wf, grid, K, M, NULL, NULL, true, true, mins, false};
    float *copy = malloc((size_t)(K * N) * sizeof *copy);
    memcpy(copy, grid, (size_t)(K * N) * sizeof *copy);
    make(&xq, "xq", VKA_TYPE_F32, K, N, VKA_USAGE_ACTIVATION, copy);
    make(&dst, "dst", VKA_TYPE_F32, M, N, VKA_USAGE_ACTIVATION, NULL);
    run(VKA_OP_MATMUL, &dst, w, &xq, NULL, NULL, (uint32_t)N, 0);
    char what[128];
    snprintf(what, sizeof what, "matmul %s K=%lld M=%lld N=%lld, activations on the 8-bit grid", vka_type_name(type),
             (long long)K, (long long)M, (long long)N);
    compare(&dst, matmul_tolerance, &t, what);
    drop(&xq), drop(&dst);
    free(grid);
}

static void check_matmul(vka_type type, int64_t K, int64_t M, int64_t N, bool bias, bool accumulate, int64_t x_row0) {
    pair w, x_all, x, dst, b;
    void *wdata = random_rows(type, K, M);
    float *wf = dequantize(type, wdata, K, M);
    make(&w, "w", type, K, M, VKA_USAGE_WEIGHT, wdata);
    float *xs = random_floats((size_t)(K * (N + x_row0)), 1.0f);
    float *mins = kquant_mins(type, wdata, K, M);
    mm_tol t = {wf, xs + x_row0 * K, K, M, NULL, NULL, vka_vk_quantizes_activations(vk, type), false, mins,
                vka_vk_rounds_to_f16(vk, type)};
    float *xcopy = malloc((size_t)(K * (N + x_row0)) * sizeof *xcopy);
    memcpy(xcopy, xs, (size_t)(K * (N + x_row0)) * sizeof *xcopy);
    make(&x_all, "x", VKA_TYPE_F32, K, N + x_row0, VKA_USAGE_ACTIVATION, xcopy);
    view(&x, &x_all, x_row0, N, K);
    float *old = accumulate ? random_floats((size_t)(M * N), 2.0f) : NULL;
    float *old_copy = NULL;
    if (old) {
        old_copy = malloc((size_t)(M * N) * sizeof *old_copy);
        memcpy(old_copy, old, (size_t)(M * N) * sizeof *old_copy);
        t.old = old_copy;
    }
    make(&dst, "dst", VKA_TYPE_F32, M, N, VKA_USAGE_ACTIVATION, old);
    float *bias_copy = NULL;
    if (bias) {
        float *bv = random_floats((size_t)M, 1.0f);
        bias_copy = malloc((size_t)M * sizeof *bias_copy);
        memcpy(bias_copy, bv, (size_t)M * sizeof *bias_copy);
        t.bias = bias_copy;
        make(&b, "bias", VKA_TYPE_F32, M, 1, VKA_USAGE_WEIGHT, bv);
    }
    vka_node p = {.p.accumulate = accumulate};
    run(VKA_OP_MATMUL, &dst, &w, &x, bias ? &b : NULL, &p, (uint32_t)N, 0);
    char what[128];
    snprintf(what, sizeof what, "matmul %s K=%lld M=%lld N=%lld%s%s%s", vka_type_name(type), (long long)K,
             (long long)M, (long long)N, bias ? " +bias" : "", accumulate ? " +=" : "", x_row0 ? " (view)" : "");
    compare(&dst, matmul_tolerance, &t, what);
    if (t.q8) check_matmul_on_grid(type, &w, wf, mins, t.x, K, M, N);
    drop(&w), drop(&x_all), drop(&dst);
    if (bias) drop(&b);
    free(wf), free(xs), free(old_copy), free(bias_copy), free(mins);
}

/* The integer kernel's extremes where it takes sums apart (Q2_K/Q3_K: each
 * half of 16's activation code sum from the packed pair words): every code
 * +127 or -127, halves of opposite signs, the two codes of a pair word of
 * opposite signs; on the 8-bit grid, so only float rounding differs. */
static void check_extreme_activations(vka_type type) {
    const int64_t K = 512, M = 33, N = 4;
    void *wdata = random_rows(type, K, M);
    float *wf = dequantize(type, wdata, K, M), *mins = kquant_mins(type, wdata, K, M);
    float *x = malloc((size_t)(K * N) * sizeof *x);
    cr_assert(x);
    for (int64_t k = 0; k < K; k++) {
        x[k] = 1.0f;                                /* all +127 */
        x[K + k] = -1.0f;                           /* all -127 */
        x[2 * K + k] = (k / 16) % 2 ? -3.0f : 3.0f; /* halves of opposite signs */
        x[3 * K + k] = (k / 2) % 2 ? -0.5f : 0.5f;  /* a pair word's two (elements 4g, 4g+2) of opposite signs */
    }
    pair w;
    make(&w, "w", type, K, M, VKA_USAGE_WEIGHT, wdata);
    check_matmul_on_grid(type, &w, wf, mins, x, K, M, N);
    drop(&w);
    free(wf), free(mins), free(x);
}

/* Shapes: rows 1, 31, 4097; tokens 1, 7, 33, 300; K not a multiple of 32 (float types) or of 4. */
static void matmul_shapes(vka_type type) {
    bool k = kquant(type);
    check_matmul(type, row_len(type, 31, 2), 1, 300, false, false, 0);
    check_matmul(type, row_len(type, 172, 3), 31, 33, true, false, 0);
    check_matmul(type, row_len(type, 7, 1), k ? 1025 : 4097, 7, false, true, 0);
    check_matmul(type, row_len(type, 4097, k ? 16 : 128), 33, 1, true, true, 0);
    check_matmul(type, row_len(type, 45, 4), 300, 33, false, false, 3); /* input is a view at row 3 */
    check_matmul(type, row_len(type, 64, 5), 65, 1, false, false, 2);
}

Test(vulkan_ops, matmul_f32) { open_backends(); seed(10); matmul_shapes(VKA_TYPE_F32); close_backends(); }
Test(vulkan_ops, matmul_f16) { open_backends(); seed(11); matmul_shapes(VKA_TYPE_F16); close_backends(); }
Test(vulkan_ops, matmul_bf16) { open_backends(); seed(12); matmul_shapes(VKA_TYPE_BF16); close_backends(); }
Test(vulkan_ops, matmul_q8_0) { open_backends(); seed(13); matmul_shapes(VKA_TYPE_Q8_0); close_backends(); }
Test(vulkan_ops, matmul_q4_0) { open_backends(); seed(14); matmul_shapes(VKA_TYPE_Q4_0); close_backends(); }
Test(vulkan_ops, matmul_q4_1) { open_backends(); seed(19); matmul_shapes(VKA_TYPE_Q4_1); close_backends(); }
Test(vulkan_ops, matmul_q5_0) { open_backends(); seed(20); matmul_shapes(VKA_TYPE_Q5_0); close_backends(); }
Test(vulkan_ops, matmul_q5_1) { open_backends(); seed(21); matmul_shapes(VKA_TYPE_Q5_1); close_backends(); }
Test(vulkan_ops, matmul_q4_k) { open_backends(); seed(16); matmul_shapes(VKA_TYPE_Q4_K); close_backends(); }
Test(vulkan_ops, matmul_q5_k) { open_backends(); seed(17); matmul_shapes(VKA_TYPE_Q5_K); close_backends(); }
Test(vulkan_ops, matmul_q6_k) { open_backends(); seed(18); matmul_shapes(VKA_TYPE_Q6_K); close_backends(); }

/* Q2_K, Q3_K, IQ4_NL, IQ4_XS: the matrix-vector kernel (bias, accumulate)
 * and the matrix-matrix one (an input view, rows and tokens not multiples
 * of any tile), and Q2_K's and Q3_K's integer kernel on extreme activations;
 * matmul_batch_invariant adds batches of 2 to 40. */
Test(vulkan_ops, matmul_small_types) {
    open_backends();
    seed(22);
    for (int t = 0; t < N_SMALL_TYPES; t++) {
        vka_type ty = small_types[t];
        check_matmul(ty, row_len(ty, 1, kquant(ty) ? 16 : 128), 33, 1, true, true, 0);
        check_matmul(ty, row_len(ty, 1, 3), 77, 33, false, false, 2);
        if ((ty == VKA_TYPE_Q2_K || ty == VKA_TYPE_Q3_K) && vka_vk_quantizes_activations(vk, ty))
            check_extreme_activations(ty); /* the integer kernel's half sums (f32 activations: nothing to take apart) */
    }
    close_backends();
}

/* Runs matmuls dst[i] = w x src[i] (i < n) as the nodes of one Vulkan graph:
 * one recording and submission instead of n (on lavapipe under the sanitizer
 * each graph's set-up costs ~70 ms, most of this test's time), the same
 * kernels as n separate graphs since each node picks its own by its shape. */
static void run_matmuls_vulkan(pair *w, pair *src, pair *dst, int n) {
    vka_graph g;
    vka_graph_init(&g, (uint32_t)src[n - 1].v.ne[1]);
    for (int i = 0; i < n; i++) {
        vka_node node = {.op = VKA_OP_MATMUL, .dst = &dst[i].v, .src = {&w->v, &src[i].v}};
        cr_assert_eq(vka_graph_add(&g, &node), VKA_OK);
    }
    cr_assert_eq(vka_backend_compute(vk, &g, 0), VKA_OK, "vulkan: %s", vka_last_error());
    vka_graph_free(&g);
}

/* The product of a row and a token has the same bits whether the token is
 * alone (matrix-vector kernel) or in a batch of any size from 2 to 40
 * (matrix-matrix kernels, tiles cut at different tokens), every weight type. */
Test(vulkan_ops, matmul_batch_invariant) {
    enum { N = 40, BATCHED = N * (N + 1) / 2 - 1 }; /* tokens in the batches of 2 .. N */
    open_backends();
    seed(15);
    for (int ti = 0; ti < N_TYPES + N_SMALL_TYPES; ti++) {
        vka_type type = ti < N_TYPES ? all_types[ti] : small_types[ti - N_TYPES];
        int64_t K = row_len(type, 172, kquant(type) ? 1 : 5), M = 77;
        pair w, x, alone, batched, xs[N], ds[N];
        make(&w, "w", type, K, M, VKA_USAGE_WEIGHT, random_rows(type, K, M));
        make(&x, "x", VKA_TYPE_F32, K, N, VKA_USAGE_ACTIVATION, random_floats((size_t)(K * N), 1.0f));
        make(&alone, "alone", VKA_TYPE_F32, M, N, VKA_USAGE_ACTIVATION, NULL);
        make(&batched, "batched", VKA_TYPE_F32, M, BATCHED, VKA_USAGE_ACTIVATION, NULL);
        for (int64_t t = 0; t < N; t++) {
            view(&xs[t], &x, t, 1, K);
            view(&ds[t], &alone, t, 1, M);
        }
        run_matmuls_vulkan(&w, xs, ds, N);
        /* batch n (2 .. N) starts at token t0(n), its products at row out0(n) of `batched` */
        int64_t out0 = 0, t0[N + 1], at[N + 1];
        for (int64_t n = 2; n <= N; n++) {
            t0[n] = (n * 7) % (N - n + 1); /* batches starting at various tokens */
            at[n] = out0;
            view(&xs[n - 2], &x, t0[n], n, K);
            view(&ds[n - 2], &batched, out0, n, M);
            out0 += n;
        }
        run_matmuls_vulkan(&w, xs, ds, N - 1);
        float *one = read_back(vk, &alone.v), *many = read_back(vk, &batched.v);
        for (int64_t n = 2; n <= N; n++)
            for (int64_t t = 0; t < n; t++)
                cr_expect_eq(memcmp(one + (t0[n] + t) * M, many + (at[n] + t) * M, (size_t)M * sizeof(float)), 0,
                             "%s: token %lld alone differs from the same token at %lld in a batch of %lld",
                             vka_type_name(type), (long long)(t0[n] + t), (long long)t, (long long)n);
        free(one), free(many);
        drop(&w), drop(&x), drop(&alone), drop(&batched);
    }
    close_backends();
}

/* ------------------------------------------------------------ rope */

static void check_rope(vka_rope_mode mode, uint32_t head_dim, uint32_t n_rot, uint32_t heads, uint32_t tokens,
                       uint32_t n_past, bool factors, float attn_factor) {
    pair x, ff;
    make(&x, "x", VKA_TYPE_F32, head_dim, (int64_t)heads * tokens, VKA_USAGE_ACTIVATION,
         random_floats((size_t)head_dim * heads * tokens, 2.0f));
    if (factors) {
        float *f = malloc(n_rot / 2 * sizeof *f);
        for (uint32_t i = 0; i < n_rot / 2; i++) f[i] = 1.0f + 3.0f * fabsf(uniform());
        make(&ff, "ff", VKA_TYPE_F32, n_rot / 2, 1, VKA_USAGE_WEIGHT, f);
    }
    vka_node p = {.p.rope = {.mode = mode,
                             .n_heads = heads,
                             .n_rot = n_rot,
                             .freq_base = 10000.0f,
                             .freq_scale = 0.5f,
                             .attn_factor = attn_factor}};
    run(VKA_OP_ROPE, &x, &x, factors ? &ff : NULL, NULL, &p, tokens, n_past);
    char what[128];
    snprintf(what, sizeof what, "rope %s dim %u rot %u, %u tokens at %u%s, attention factor %g",
             mode == VKA_ROPE_NEOX ? "neox" : "norm", head_dim, n_rot, tokens, n_past, factors ? " with factors" : "",
             (double)attn_factor);
    /* exact: the same cos/sin (from the same double computation) and the same f32 mul, mul, add */
    compare(&x, exact, NULL, what);
    drop(&x);
    if (factors) drop(&ff);
}

Test(vulkan_ops, rope) {
    open_backends();
    seed(20);
    check_rope(VKA_ROPE_NORM, 8, 8, 8, 1, 0, false, 0.0f);
    check_rope(VKA_ROPE_NORM, 64, 64, 4, 7, 100, false, 0.0f);
    check_rope(VKA_ROPE_NEOX, 64, 32, 3, 33, 5000, false, 0.0f); /* beyond any cache: tables grow */
    check_rope(VKA_ROPE_NEOX, 128, 128, 2, 300, 17, true, 0.0f);
    check_rope(VKA_ROPE_NORM, 16, 12, 5, 7, 3, true, 0.0f);
    /* Phi-4-mini: 96 of 128 dimensions turned (the other 32 pass through), LongRoPE factors and
     * attention factor; a factor below 1; a partial adjacent-pair rotation */
    check_rope(VKA_ROPE_NEOX, 128, 96, 3, 9, 40, true, 1.1902f);
    check_rope(VKA_ROPE_NEOX, 128, 96, 3, 9, 40, true, 0.8f);
    check_rope(VKA_ROPE_NORM, 80, 32, 2, 5, 2, false, 1.5f);
    close_backends();
}

/* ------------------------------------------------------------ kv_store */

static void check_kv_store(vka_type cache_type, int64_t kv_dim, int64_t n_ctx, uint32_t tokens, uint32_t n_past) {
    pair cache, src;
    /* earlier rows, so that words shared with them must be kept */
    make(&cache, "cache", cache_type, kv_dim, n_ctx, VKA_USAGE_KV, random_rows(cache_type, kv_dim, n_ctx));
    make(&src, "src", VKA_TYPE_F32, kv_dim, tokens, VKA_USAGE_ACTIVATION,
         random_floats((size_t)kv_dim * tokens, 100.0f));
    run(VKA_OP_KV_STORE, &cache, &src, NULL, NULL, NULL, tokens, n_past);
    uint8_t *c = read_back(cpu, &cache.c), *v = read_back(vk, &cache.v);
    /* exact bits: f16 is rounded to nearest even on both sides */
    cr_expect_eq(memcmp(c, v, cache.c.nbytes), 0, "kv_store %s dim %lld, %u tokens at %u differs",
                 vka_type_name(cache_type), (long long)kv_dim, tokens, n_past);
    free(c), free(v);
    drop(&cache), drop(&src);
}

Test(vulkan_ops, kv_store) {
    open_backends();
    seed(30);
    vka_type types[] = {VKA_TYPE_F32, VKA_TYPE_F16};
    for (int i = 0; i < 2; i++) {
        check_kv_store(types[i], 32, 64, 1, 0);
        check_kv_store(types[i], 31, 64, 7, 3);    /* odd rows: halves share words across rows */
        check_kv_store(types[i], 33, 400, 33, 301);
        check_kv_store(types[i], 64, 512, 300, 1);
    }
    close_backends();
}

/* ------------------------------------------------------------ attention */

typedef struct attn_case {
    uint32_t n_head, n_head_kv, head_dim, head_dim_v, tokens, n_past, n_ctx;
    vka_type cache;
} attn_case;

static double attention_tolerance(size_t i, double ref, void *ctx) {
    (void)i, (void)ref, (void)ctx;
    /* Outputs are convex combinations of |v| <= 1. Scores (|s| <= ~6 here) differ by ~sqrt(D) eps;
     * exp() is within (3 + 2|x|) ulp in Vulkan; sums of up to n_ctx weights in another order: the
     * weights' relative error stays below ~100 eps, so the output's below 100 eps * max|v| ~ 1.2e-5;
     * allow 2e-5. */
    return 2e-5;
}

/* Fills caches on both backends and runs attention for `tokens` queries at n_past. */
static void attention_setup(const attn_case *a, pair *q, pair *kc, pair *vc, pair *out) {
    int64_t kd = (int64_t)a->n_head_kv * a->head_dim, vd = (int64_t)a->n_head_kv * a->head_dim_v;
    make(kc, "k", a->cache, kd, a->n_ctx, VKA_USAGE_KV, random_rows(a->cache, kd, a->n_ctx));
    make(vc, "v", a->cache, vd, a->n_ctx, VKA_USAGE_KV, random_rows(a->cache, vd, a->n_ctx));
    make(q, "q", VKA_TYPE_F32, (int64_t)a->n_head * a->head_dim, a->tokens, VKA_USAGE_ACTIVATION,
         random_floats((size_t)a->n_head * a->head_dim * a->tokens, 2.0f / sqrtf((float)a->head_dim) * 4.0f));
    make(out, "out", VKA_TYPE_F32, (int64_t)a->n_head * a->head_dim_v, a->tokens, VKA_USAGE_ACTIVATION, NULL);
}

static vka_node attention_params(const attn_case *a) {
    return (vka_node){.p.attn = {a->n_head, a->n_head_kv, a->head_dim, a->head_dim_v,
                                 1.0f / sqrtf((float)a->head_dim), 0.0f, 0}};
}

static void check_attention(attn_case a) {
    pair q, kc, vc, out;
    attention_setup(&a, &q, &kc, &vc, &out);
    vka_node p = attention_params(&a);
    run(VKA_OP_ATTENTION, &out, &q, &kc, &vc, &p, a.tokens, a.n_past);
    char what[128];
    snprintf(what, sizeof what, "attention %u/%u heads, dims %u/%u, %u tokens at %u, ctx %u, %s cache", a.n_head,
             a.n_head_kv, a.head_dim, a.head_dim_v, a.tokens, a.n_past, a.n_ctx, vka_type_name(a.cache));
    compare(&out, attention_tolerance, NULL, what);
    drop(&q), drop(&kc), drop(&vc), drop(&out);
}

Test(vulkan_ops, attention) {
    open_backends();
    seed(40);
    check_attention((attn_case){8, 4, 8, 8, 1, 0, 512, VKA_TYPE_F32});
    check_attention((attn_case){8, 4, 8, 8, 7, 0, 512, VKA_TYPE_F32});
    check_attention((attn_case){4, 1, 64, 64, 33, 40, 128, VKA_TYPE_F32});
    check_attention((attn_case){6, 2, 32, 16, 1, 299, 300, VKA_TYPE_F32}); /* last slot of the context */
    check_attention((attn_case){2, 2, 16, 16, 300, 0, 300, VKA_TYPE_F32});
    check_attention((attn_case){8, 4, 8, 8, 33, 70, 128, VKA_TYPE_F16});
    check_attention((attn_case){4, 2, 64, 64, 1, 1000, 1100, VKA_TYPE_F16});
    close_backends();
}

/* gemma's attention parameters: soft-capped scores and a sliding window,
 * including windows that start past the first chunk of 32 keys (prefill,
 * and decode's split and merge passes), both cache types. */
Test(vulkan_ops, attention_window_softcap) {
    open_backends();
    seed(42);
    struct { attn_case a; float softcap; uint32_t window; } cases[] = {
        {{4, 2, 32, 32, 40, 30, 128, VKA_TYPE_F32}, 10.0f, 5},
        {{4, 2, 32, 32, 1, 100, 128, VKA_TYPE_F32}, 0.0f, 40},
        {{4, 1, 16, 16, 1, 70, 96, VKA_TYPE_F16}, 3.0f, 6},
        {{2, 2, 16, 16, 3, 2, 32, VKA_TYPE_F32}, 10.0f, 100},
    };
    for (int i = 0; i < 4; i++) {
        attn_case a = cases[i].a;
        pair q, kc, vc, out;
        attention_setup(&a, &q, &kc, &vc, &out);
        vka_node p = attention_params(&a);
        p.p.attn.softcap = cases[i].softcap;
        p.p.attn.window = cases[i].window;
        run(VKA_OP_ATTENTION, &out, &q, &kc, &vc, &p, a.tokens, a.n_past);
        char what[96];
        snprintf(what, sizeof what, "attention case %d (softcap %g, window %u)", i, (double)cases[i].softcap,
                 cases[i].window);
        compare(&out, attention_tolerance, NULL, what);
        if (a.tokens > 1) { /* the last query alone (decode kernels) gives the bits of its row in the batch */
            pair q1, out1;
            int64_t width = out.v.ne[0];
            make(&out1, "out1", VKA_TYPE_F32, width, 1, VKA_USAGE_ACTIVATION, NULL);
            view(&q1, &q, a.tokens - 1, 1, q.c.ne[0]);
            run(VKA_OP_ATTENTION, &out1, &q1, &kc, &vc, &p, 1, a.n_past + a.tokens - 1);
            float *batch = read_back(vk, &out.v), *one = read_back(vk, &out1.v);
            cr_expect_eq(memcmp(one, batch + (a.tokens - 1) * width, (size_t)width * sizeof(float)), 0,
                         "%s: the last query alone differs from its row in the batch", what);
            free(batch), free(one);
            drop(&out1);
        }
        drop(&q), drop(&kc), drop(&vc), drop(&out);
    }
    close_backends();
}

/* One query alone (decode split path) and the same query inside batches of
 * 7 and 33 (prefill kernel) give the same bits. */
Test(vulkan_ops, attention_batch_invariant) {
    open_backends();
    seed(41);
    vka_type caches[] = {VKA_TYPE_F32, VKA_TYPE_F16};
    for (int ci = 0; ci < 2; ci++) {
        attn_case a = {8, 2, 16, 16, 33, 50, 200, caches[ci]};
        pair q, kc, vc, out, q7, out7, q1, out1;
        attention_setup(&a, &q, &kc, &vc, &out);
        vka_node p = attention_params(&a);
        run(VKA_OP_ATTENTION, &out, &q, &kc, &vc, &p, 33, a.n_past);
        float *batch = read_back(vk, &out.v);
        int64_t width = out.v.ne[0];
        make(&out7, "out7", VKA_TYPE_F32, width, 7, VKA_USAGE_ACTIVATION, NULL);
        make(&out1, "out1", VKA_TYPE_F32, width, 1, VKA_USAGE_ACTIVATION, NULL);
        view(&q7, &q, 20, 7, q.c.ne[0]);
        run(VKA_OP_ATTENTION, &out7, &q7, &kc, &vc, &p, 7, a.n_past + 20);
        float *seven = read_back(vk, &out7.v);
        cr_expect_eq(memcmp(seven, batch + 20 * width, 7 * (size_t)width * sizeof(float)), 0,
                     "%s cache: queries 20..26 in a batch of 7 differ from the batch of 33", vka_type_name(a.cache));
        for (uint32_t t = 0; t < 33; t += 4) {
            view(&q1, &q, t, 1, q.c.ne[0]);
            run(VKA_OP_ATTENTION, &out1, &q1, &kc, &vc, &p, 1, a.n_past + t);
            float *one = read_back(vk, &out1.v);
            cr_expect_eq(memcmp(one, batch + t * width, (size_t)width * sizeof(float)), 0,
                         "%s cache: query %u alone (split path) differs from the batch", vka_type_name(a.cache), t);
            free(one);
        }
        free(batch), free(seven);
        drop(&q), drop(&kc), drop(&vc), drop(&out), drop(&out7), drop(&out1);
    }
    close_backends();
}

/* ------------------------------------------------------------ elementwise, argmax */

static double swiglu_tolerance(size_t i, double ref, void *ctx) {
    const float *g = ctx;
    /* exp() within (3 + 2|x|) ulp, then a divide and a multiply: (6 + 2|g|) eps relative */
    return fabs(ref) * (6.0 + 2.0 * fabs(g[i])) * FLT_EPSILON + 1e-30;
}

Test(vulkan_ops, swiglu_and_add) {
    open_backends();
    seed(50);
    int64_t shapes[][2] = {{1, 1}, {31, 7}, {172, 33}, {4097, 3}};
    for (int s = 0; s < 4; s++) {
        int64_t ne0 = shapes[s][0], ne1 = shapes[s][1];
        size_t n = (size_t)(ne0 * ne1);
        pair a, b, d;
        float *av = random_floats(n, 8.0f), *keep = malloc(n * sizeof *keep);
        memcpy(keep, av, n * sizeof *keep);
        make(&a, "a", VKA_TYPE_F32, ne0, ne1, VKA_USAGE_ACTIVATION, av);
        make(&b, "b", VKA_TYPE_F32, ne0, ne1, VKA_USAGE_ACTIVATION, random_floats(n, 3.0f));
        make(&d, "d", VKA_TYPE_F32, ne0, ne1, VKA_USAGE_ACTIVATION, NULL);
        run(VKA_OP_SWIGLU, &d, &a, &b, NULL, NULL, (uint32_t)ne1, 0);
        compare(&d, swiglu_tolerance, keep, "swiglu");
        run(VKA_OP_ADD, &d, &a, &b, NULL, NULL, (uint32_t)ne1, 0);
        compare(&d, exact, NULL, "add"); /* one correctly rounded f32 addition on both sides */
        free(keep);
        drop(&a), drop(&b), drop(&d);
    }
    close_backends();
}

static double geglu_tolerance(size_t i, double ref, void *ctx) {
    const float *g = ctx;
    /* tanh through exp (a few ulp of e^2u, cancelling near 0: an absolute error of a few eps), times x and up */
    return (fabs(ref) * 16.0 + 8.0 * (1.0 + fabs(g[i])) * 3.0) * FLT_EPSILON;
}

static double softcap_tolerance(size_t i, double ref, void *ctx) {
    (void)i, (void)ref;
    return 8.0 * *(const float *)ctx * FLT_EPSILON; /* cap * tanh: a few eps of the cap */
}

/* gemma's elementwise ops: GELU-gated product, scale (in place) and soft-cap. */
Test(vulkan_ops, geglu_scale_softcap) {
    open_backends();
    seed(51);
    int64_t ne0 = 300, ne1 = 5;
    size_t n = (size_t)(ne0 * ne1);
    pair a, b, d;
    float *av = random_floats(n, 8.0f), *keep = malloc(n * sizeof *keep), cap = 3.0f;
    memcpy(keep, av, n * sizeof *keep);
    make(&a, "a", VKA_TYPE_F32, ne0, ne1, VKA_USAGE_ACTIVATION, av);
    make(&b, "b", VKA_TYPE_F32, ne0, ne1, VKA_USAGE_ACTIVATION, random_floats(n, 3.0f));
    make(&d, "d", VKA_TYPE_F32, ne0, ne1, VKA_USAGE_ACTIVATION, NULL);
    run(VKA_OP_GEGLU, &d, &a, &b, NULL, NULL, (uint32_t)ne1, 0);
    compare(&d, geglu_tolerance, keep, "geglu");
    vka_node p = {.p.cap = cap};
    run(VKA_OP_SOFTCAP, &d, &a, NULL, NULL, &p, (uint32_t)ne1, 0);
    compare(&d, softcap_tolerance, &cap, "softcap");
    p.p.scale = 16.0f;
    run(VKA_OP_SCALE, &a, &a, NULL, NULL, &p, (uint32_t)ne1, 0);
    compare(&a, exact, NULL, "scale in place"); /* one correctly rounded product */
    free(keep);
    drop(&a), drop(&b), drop(&d);
    close_backends();
}

Test(vulkan_ops, argmax_lowest_index_on_ties) {
    open_backends();
    seed(60);
    int64_t widths[] = {1, 31, 512, 4097};
    for (int s = 0; s < 4; s++) {
        int64_t ne0 = widths[s], rows = 7;
        float *x = random_floats((size_t)(ne0 * rows), 1.0f);
        /* row 1: the maximum appears three times; row 2: all equal */
        if (ne0 > 3) x[ne0 + ne0 - 1] = x[ne0 + 2] = x[ne0 + ne0 / 2] = 5.0f;
        for (int64_t i = 0; i < ne0; i++) x[2 * ne0 + i] = -1.5f;
        pair xs, d;
        make(&xs, "x", VKA_TYPE_F32, ne0, rows, VKA_USAGE_ACTIVATION, x);
        make(&d, "argmax", VKA_TYPE_I32, 1, rows, VKA_USAGE_OUTPUT, NULL);
        run(VKA_OP_ARGMAX, &d, &xs, NULL, NULL, NULL, (uint32_t)rows, 0);
        int32_t *c = read_back(cpu, &d.c), *v = read_back(vk, &d.v);
        for (int64_t r = 0; r < rows; r++) cr_expect_eq(v[r], c[r], "argmax width %lld row %lld: %d vs cpu %d",
                                                        (long long)ne0, (long long)r, v[r], c[r]);
        if (ne0 > 3) cr_expect_eq(v[1], 2, "ties must give the lowest index");
        cr_expect_eq(v[2], 0, "a constant row gives index 0");
        free(c), free(v);
        drop(&xs), drop(&d);
    }
    close_backends();
}

/* ------------------------------------------------------------ buffer splitting */

/* Weights split into several bindings (VKAGENT_VK_MAX_BINDING makes parts
 * small): matmul and get_rows across part boundaries. */
Test(vulkan_ops, split_weights_small_bindings) {
    setenv("VKAGENT_VK_MAX_BINDING", "131072", 1);
    open_backends();
    seed(70);
    for (int ti = 0; ti < N_TYPES; ti++) {
        vka_type type = all_types[ti];
        check_matmul(type, row_len(type, 250, 8), 700, 1, true, false, 0);
        check_matmul(type, row_len(type, 250, 8), 700, 9, false, true, 0);
        check_get_rows(type, row_len(type, 250, 8), 700, 12);
    }
    for (int ti = 0; ti < N_SMALL_TYPES; ti++) { /* scale records 8, 16, 20 bytes per row's super-block */
        vka_type type = small_types[ti];
        check_matmul(type, row_len(type, 1, 8), 700, 9, false, true, 0);
        check_get_rows(type, row_len(type, 1, 8), 700, 12);
    }
    close_backends();
}

/* A weight tensor larger than the device's largest binding (128 MiB on
 * lavapipe): 130 MiB of F16 rows in matmul and get_rows. */
Test(vulkan_ops, split_weights_beyond_max_binding, .timeout = 600) {
    open_backends();
    seed(71);
    vka_vk_device_desc *devs;
    uint32_t n;
    cr_assert_eq(vka_vk_list_devices(&devs, &n), VKA_OK);
    uint64_t range = devs[vka_vk_best_device(devs, n)].max_storage_buffer_range;
    free(devs);
    const int64_t K = 4096;
    int64_t M = (int64_t)(range / (uint64_t)(K * 2)) + 256; /* just past one binding */
    uint64_t bytes = (uint64_t)(K * M) * 2;
    if (bytes > (1ull << 31)) cr_skip_test("the device binds %llu bytes: a tensor beyond that is too large for this test",
                                           (unsigned long long)range);
    pair w, x, dst, ids, rows;
    uint16_t *wd = malloc(bytes);
    cr_assert(wd);
    for (uint64_t i = 0; i < (uint64_t)(K * M); i++) wd[i] = vka_f32_to_f16(uniform() * 0.5f);
    make(&w, "big", VKA_TYPE_F16, K, M, VKA_USAGE_WEIGHT, wd);
    make(&x, "x", VKA_TYPE_F32, K, 2, VKA_USAGE_ACTIVATION, random_floats((size_t)(K * 2), 1.0f));
    make(&dst, "dst", VKA_TYPE_F32, M, 2, VKA_USAGE_ACTIVATION, NULL);
    run(VKA_OP_MATMUL, &dst, &w, &x, NULL, NULL, 2, 0);
    /* the same bound as matmul_tolerance, from the dequantized rows: |w x| <= 0.5 per term */
    float *c = read_back(cpu, &dst.c), *v = read_back(vk, &dst.v);
    size_t bad = 0;
    for (int64_t i = 0; i < 2 * M; i++) {
        double tol = 4.0 * sqrt((double)K) * FLT_EPSILON * 0.5 * (double)K + 1e-30;
        if (!(fabs((double)c[i] - v[i]) <= tol)) bad++;
    }
    cr_expect_eq(bad, 0, "%zu of %lld outputs of the 130 MiB matmul differ", bad, (long long)(2 * M));
    free(c), free(v);
    int32_t *id = malloc(4 * sizeof *id);
    int64_t first_split = (int64_t)(range / (uint64_t)(K * 2));
    id[0] = (int32_t)first_split - 1, id[1] = (int32_t)first_split, id[2] = (int32_t)M - 1, id[3] = 0;
    make(&ids, "ids", VKA_TYPE_I32, 1, 4, VKA_USAGE_INPUT, id);
    make(&rows, "rows", VKA_TYPE_F32, K, 4, VKA_USAGE_ACTIVATION, NULL);
    run(VKA_OP_GET_ROWS, &rows, &w, &ids, NULL, NULL, 4, 0);
    compare(&rows, exact, NULL, "get_rows across the split");
    drop(&w), drop(&x), drop(&dst), drop(&ids), drop(&rows);
    close_backends();
}
