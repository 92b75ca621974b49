/* cpu_ops.h — the CPU reference implementation of each backend op, and the
 * small thread pool the matrix ops use. */
#ifndef VKA_CPU_OPS_H
#define VKA_CPU_OPS_H

#include "backends/backend.h"

typedef struct vka_cpu_pool vka_cpu_pool;

/* Threads: VKAGENT_THREADS, else the number of online CPUs. */
vka_status vka_cpu_pool_create(vka_cpu_pool **out);
/* n_threads 0: VKAGENT_THREADS, else one per online core (at most 64). */
vka_status vka_cpu_pool_create_threads(unsigned n_threads, vka_cpu_pool **out);
void vka_cpu_pool_free(vka_cpu_pool *pool);
unsigned vka_cpu_pool_threads(const vka_cpu_pool *pool);

/* Calls fn(ctx, begin, end) over [0, n) split into contiguous ranges, one per
 * thread, and returns when all are done. Each item is computed by exactly one
 * thread, so results do not depend on the number of threads. Work below a few
 * hundred thousand operations (n * cost_per_item) runs on the calling thread:
 * waking workers costs more than it saves there. */
typedef void (*vka_cpu_range_fn)(void *ctx, int64_t begin, int64_t end);
void vka_cpu_parallel_for(vka_cpu_pool *pool, int64_t n, int64_t cost_per_item, vka_cpu_range_fn fn, void *ctx);

vka_status vka_cpu_get_rows(vka_tensor *dst, const vka_tensor *table, const vka_tensor *ids);
void vka_cpu_rms_norm(vka_tensor *dst, const vka_tensor *x, const vka_tensor *weight, float eps);
vka_status vka_cpu_matmul(vka_cpu_pool *pool, vka_tensor *dst, const vka_tensor *w, const vka_tensor *x,
                          const vka_tensor *bias, bool accumulate);
/* ROPE, KV_STORE and ATTENTION place tokens by `layout` (backend.h; NULL: the
 * contiguous form at n_past) and refuse a layout that names words or rows
 * outside its tensor or the caches. */
vka_status vka_cpu_rope(vka_tensor *x, const vka_tensor *freq_factors, const vka_rope_params *p,
                        const vka_tensor *layout, uint32_t n_past);
vka_status vka_cpu_kv_store(vka_tensor *cache, const vka_tensor *src, const vka_tensor *layout, uint32_t n_past);
vka_status vka_cpu_attention(vka_cpu_pool *pool, vka_tensor *dst, const vka_tensor *q, const vka_tensor *k_cache,
                             const vka_tensor *v_cache, const vka_attention_params *p, const vka_tensor *layout,
                             uint32_t n_past);
void vka_cpu_swiglu(vka_tensor *dst, const vka_tensor *gate, const vka_tensor *up);
void vka_cpu_add(vka_tensor *dst, const vka_tensor *a, const vka_tensor *b);
/* GELU in its tanh form (backend.h, VKA_OP_GEGLU), in f32; and the ops built on it and on tanh. */
float vka_cpu_gelu(float x);
void vka_cpu_geglu(vka_tensor *dst, const vka_tensor *gate, const vka_tensor *up);
void vka_cpu_scale(vka_tensor *dst, const vka_tensor *x, float scale);
void vka_cpu_softcap(vka_tensor *dst, const vka_tensor *x, float cap);
void vka_cpu_argmax(vka_tensor *dst, const vka_tensor *x);

/* Dot product of two f32 vectors with a fixed summation order. */
float vka_cpu_dot(const float *a, const float *b, int64_t n);

#endif
