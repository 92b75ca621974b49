/* cpu_fast_ops.h — the fast backend's ops other than the matrix product
 * (device `cpu`): attention, RMS norm, rotary embedding, SwiGLU and add. Each
 * computes its reference's formula (cpu_ops.c) in f32 with row kernels in
 * portable C or AVX2/FMA/F16C (chosen at run time), and spreads the rows of a
 * prompt batch, or attention's heads, over the thread pool. */
#ifndef VKA_CPU_FAST_OPS_H
#define VKA_CPU_FAST_OPS_H

#include "backends/cpu/cpu_ops.h"

/* Query heads sharing one KV head handled per pass of the attention kernels
 * (each key and value row is loaded once for all of them). */
#define VKA_FAST_ATTN_HEADS 4

/* Where the attention kernels find a KV head's cache rows: key t (t < n_keys)
 * at base + (blocks[t / VKA_KV_BLOCK] * VKA_KV_BLOCK + t % VKA_KV_BLOCK) * stride,
 * f16 values when `f16`, else f32 (`stride`: bytes from one cache row to the
 * next). A contiguous cache is the table 0, 1, 2, ...: the kernels have one
 * path, so a sequence's bits do not depend on where its blocks sit. */
typedef struct vka_fast_kv_rows {
    const char *base;
    size_t stride;
    const int32_t *blocks;
    bool f16;
} vka_fast_kv_rows;

static inline const char *vka_fast_kv_row(const vka_fast_kv_rows *r, int64_t t) {
    return r->base + ((size_t)r->blocks[t / VKA_KV_BLOCK] * VKA_KV_BLOCK + (size_t)(t % VKA_KV_BLOCK)) * r->stride;
}

/* The row kernels of one instruction set. */
typedef struct vka_fast_op_kernels {
    const char *isa; /* "scalar", "avx2" */
    /* out[i] = e^x[i]. AVX2: within 1.5 * FLT_EPSILON relative (derived at
     * exp8 in cpu_fast_ops_avx2.c); 0 below ln(FLT_MIN); +inf above ln(FLT_MAX). */
    void (*exp)(const float *x, float *out, int64_t n);
    float (*sum_squares)(const float *x, int64_t n);
    /* out[i] = x[i] * scale * w[i], rounded as written (left to right) */
    void (*scale_mul)(const float *x, float scale, const float *w, float *out, int64_t n);
    /* out[i] = g[i] / (1 + e^-g[i]) * u[i] */
    void (*swiglu)(const float *g, const float *u, float *out, int64_t n);
    void (*add)(const float *a, const float *b, float *out, int64_t n);
    /* out[h][t] = (q[h] · key row t) * scale for h < nq <= VKA_FAST_ATTN_HEADS, t < n_keys;
     * each score's rounding depends only on t and n_keys (never on the blocks) */
    void (*scores)(const float *const *q, int nq, const vka_fast_kv_rows *k, int64_t n_keys, uint32_t dim,
                   float scale, float *const *out);
    /* s[t] = e^(s[t] - max s); returns the sum of the new s */
    float (*softmax_exp)(float *s, int64_t n);
    /* out[h][i] = sum over t of w[h][t] * value row t [i] for h < nq, i < dim, in the order of t */
    void (*weighted_sum)(const float *const *w, int nq, const vka_fast_kv_rows *v, int64_t n_keys, uint32_t dim,
                         float *const *out);
} vka_fast_op_kernels;

extern const vka_fast_op_kernels vka_fast_ops_scalar;
/* The AVX2 kernels, or NULL when this CPU (or compiler) lacks AVX2/FMA/F16C. */
const vka_fast_op_kernels *vka_fast_ops_avx2(void);
/* The best kernels for this CPU; VKAGENT_CPU_ISA=scalar forces the portable ones. */
const vka_fast_op_kernels *vka_fast_ops_select(void);

/* The ops of cpu_ops.h with these kernels, same arguments and results up to rounding. */
void vka_fast_rms_norm(const vka_fast_op_kernels *kern, vka_cpu_pool *pool, vka_tensor *dst, const vka_tensor *x,
                       const vka_tensor *weight, float eps);
/* Bit for bit the reference: the same angles, one table per token instead of per head.
 * ROPE and ATTENTION place tokens by `layout` as the reference does (cpu_ops.h). */
vka_status vka_fast_rope(vka_cpu_pool *pool, vka_tensor *x, const vka_tensor *freq_factors, const vka_rope_params *p,
                         const vka_tensor *layout, uint32_t n_past);
void vka_fast_swiglu(const vka_fast_op_kernels *kern, vka_cpu_pool *pool, vka_tensor *dst, const vka_tensor *gate,
                     const vka_tensor *up);
void vka_fast_add(const vka_fast_op_kernels *kern, vka_cpu_pool *pool, vka_tensor *dst, const vka_tensor *a,
                  const vka_tensor *b);
vka_status vka_fast_attention(const vka_fast_op_kernels *kern, vka_cpu_pool *pool, vka_tensor *dst, const vka_tensor *q,
                              const vka_tensor *k_cache, const vka_tensor *v_cache, const vka_attention_params *p,
                              const vka_tensor *layout, uint32_t n_past);

#endif
