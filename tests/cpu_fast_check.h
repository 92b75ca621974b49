/* cpu_fast_check.h — the seeded inputs and the derived bounds on
 * |fast - reference| for checking the fast CPU backend's matrix products,
 * written once for tests/test_cpu_fast.c (Criterion) and the arm64 check run
 * under qemu (tests/arm64/check_fast.c, no Criterion). */
#ifndef VKA_TEST_CPU_FAST_CHECK_H
#define VKA_TEST_CPU_FAST_CHECK_H

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "backends/cpu/cpu_ops.h"

static uint64_t rng_state;
static inline float frand(void) { /* uniform in [-1, 1), a plain LCG */
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(rng_state >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* A zeroed tensor (data NULL if memory runs out: the callers check what they use). */
static inline vka_tensor make(vka_type type, int64_t ne0, int64_t ne1) {
    vka_tensor t;
    vka_tensor_init(&t, "t", type, ne0, ne1, VKA_USAGE_ACTIVATION);
    t.data = calloc(1, t.nbytes);
    return t;
}

static inline float *f32(const vka_tensor *t) { return t->data; }

static inline bool is_quantized(vka_type t) { return t != VKA_TYPE_F32 && t != VKA_TYPE_F16; }

/* Random weights of `type` (through its quantizer), rows of different
 * scales, and their dequantized values in deq (k * m floats). */
static inline vka_tensor random_weights(vka_type type, int64_t k, int64_t m, float *deq) {
    vka_tensor w = make(type, k, m);
    const vka_type_traits *tr = vka_type_get_traits(type);
    float *row = malloc((size_t)k * sizeof *row);
    for (int64_t r = 0; r < m; r++) {
        for (int64_t i = 0; i < k; i++) row[i] = frand() * (1.0f + (float)(r % 3));
        char *dst = (char *)w.data + (size_t)r * w.row_bytes;
        tr->from_f32(row, dst, k);
        tr->to_f32(dst, deq + r * k, k);
    }
    free(row);
    return w;
}

/* gamma_k = k*eps/(1-k*eps): the relative error bound of a sum of k f32 terms. */
static inline double fast_bound_gamma(int64_t k) {
    return (double)k * FLT_EPSILON / (1.0 - (double)k * FLT_EPSILON);
}

/* The weight types with fast kernels, and token counts that cover every tile
 * height (up to 4, and 8 for the packed layout) and a second tile. */
static const vka_type fast_check_types[] = {VKA_TYPE_F32,  VKA_TYPE_F16,  VKA_TYPE_Q4_0, VKA_TYPE_Q5_0,
                                            VKA_TYPE_Q8_0, VKA_TYPE_Q4_K, VKA_TYPE_Q6_K};
static const int64_t fast_check_tokens[] = {1, 2, 3, 4, 7, 9, 13, 17};

/* Inputs for checking a quantizer bit for bit against vka_fast_quantize_row:
 * n (>= 352) floats, seeded by `round`. Round 0: ordinary values with a zero
 * block, ties, NaN, infinities, huge and subnormal values, a block so small
 * that 1/d overflows (x * inf, and 0 * inf = NaN, take the conversion's
 * out-of-range result) and a block of NaN only; later rounds: random rows
 * scaled by 2^-12 .. 2^12. */
#define FAST_CHECK_QUANTIZER_ROUNDS 50
static inline void quantizer_inputs(float *x, int64_t n, int round) {
    rng_state = 99u + (uint64_t)round;
    float scale = round == 0 ? 1.0f : ldexpf(1.0f, round % 25 - 12);
    for (int64_t i = 0; i < n; i++) x[i] = frand() * (i % 5 == 0 ? 100.0f : 1.0f) * scale;
    if (round > 0) return;
    for (int i = 32; i < 64; i++) x[i] = 0.0f;                  /* a zero block */
    for (int i = 64; i < 96; i++) x[i] = (float)(i - 80) * 0.5f; /* halves: ties */
    x[100] = NAN;
    x[140] = INFINITY;
    x[180] = -INFINITY;
    x[220] = 3e38f;
    x[260] = -1e-40f; /* subnormal */
    for (int i = 288; i < 320; i++) x[i] = i % 3 ? (float)(i - 300) * 1e-41f : 0.0f;
    for (int i = 320; i < 352; i++) x[i] = -NAN;
}

/* The bound on |fast - reference| for one output, weight row w (dequantized)
 * times activation row x, both of k elements:
 * - 8-bit activations (quantized types): each x_i is replaced by q_i*d_b with
 *   |x_i - q_i*d_b| <= d_b/2, d_b = max|x in block b| / 127, so the dot moves by
 *   at most Q = sum_b d_b/2 * sum_{i in b} |w_i| (integer block sums are exact);
 * - float rounding: the reference sums k f32 products, within gamma_k * S of
 *   the exact sum (S = sum |w_i x_i|, gamma_k = k*eps/(1-k*eps)); the fast path
 *   sums fewer, larger terms (per block or per 8 floats) whose magnitudes add up
 *   to at most S + Q, within gamma_k * (S + Q). One more eps * (S + Q) covers the
 *   scales' products (d_w * d_x, Q4_K's d*sc and dmin*m) rounded in another order. */
static inline double fast_bound(const float *w, const float *x, int64_t k, bool quantized) {
    double quant = 0.0, magnitude = 0.0;
    for (int64_t b = 0; b < k / 32; b++) {
        double amax = 0.0, wsum = 0.0;
        for (int i = 0; i < 32; i++) {
            amax = fmax(amax, fabs(x[b * 32 + i]));
            wsum += fabs(w[b * 32 + i]);
            magnitude += fabs((double)w[b * 32 + i] * x[b * 32 + i]);
        }
        quant += amax / 127.0 / 2.0 * wsum;
    }
    double rounding = (2.0 * fast_bound_gamma(k) + FLT_EPSILON) * (magnitude + (quantized ? quant : 0.0));
    return (quantized ? quant : 0.0) + rounding + 1e-30;
}

/* The bound above allows for the activations' quantization, which is as
 * large as a wrong result. So the kernels are also checked against the
 * reference fed the activations they see (xq_i = q_i * d_b), where only float
 * rounding differs: gamma_k * S per side plus eps * S for q_i * d_b rounded to
 * f32, and eps * S for the scales' products (S = sum |w_i xq_i|). */
static inline double fast_bound_same_activations(const float *w, const float *xq, int64_t k) {
    double magnitude = 0.0;
    for (int64_t i = 0; i < k; i++) magnitude += fabs((double)w[i] * xq[i]);
    return (2.0 * fast_bound_gamma(k) + 2.0 * FLT_EPSILON) * magnitude + 1e-30;
}

#endif
