/* cpu_backend.c — the two CPU backends' shared plumbing. `cpu-ref` runs the
 * plain-C ops of cpu_ops.c, written for clarity: the oracle the Vulkan
 * shaders and the fast backend are tested against, favouring exactness
 * (double accumulation where it is cheap) over speed. `cpu` is the same
 * backend with the matrix products of cpu_fast.h (SIMD, 8-bit activations)
 * and the other ops of cpu_fast_ops.h (SIMD attention, norms, RoPE, SwiGLU).
 * Work is spread over the threads of cpu_pool.c by rows or heads. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backends/backend.h"
#include "backends/cpu/cpu_packed.h"
#include "backends/cpu/cpu_fast_ops.h"
#include "backends/cpu/cpu_moe.h"
#include "backends/cpu/cpu_ops.h"
#include "base/status.h"

typedef struct cpu_backend {
    vka_backend base;
    vka_cpu_pool *pool;
    const vka_fast_kernels *fast; /* NULL: the reference ops (cpu-ref) */
    const vka_fast_op_kernels *fast_ops; /* the other ops' kernels; NULL when fast is */
    _Atomic uint64_t bytes;      /* weights (mapped) and buffers */
    _Atomic uint64_t computes;
} cpu_backend;

static void cpu_destroy(vka_backend *b) {
    cpu_backend *cb = (cpu_backend *)b;
    vka_cpu_pool_free(cb->pool);
    free(cb);
}

static vka_status cpu_tensor_alloc(vka_backend *b, vka_tensor *t, const void *init) {
    cpu_backend *cb = (cpu_backend *)b;
    cb->bytes += t->nbytes;
    if (t->usage == VKA_USAGE_WEIGHT) {
        /* Weights are read in place from the model's mapping: no copy. The
         * fast backend's matrix products read a repacked copy where they
         * have kernels for it (get_rows still reads the mapping). */
        t->data = (void *)init;
        t->impl = cb->fast ? vka_cpu_fast_pack(cb->fast, cb->pool, t, init) : NULL;
        cb->bytes += vka_packed_bytes(t->impl);
        return VKA_OK;
    }
    size_t size = (t->nbytes + 63) & ~(size_t)63;
    t->data = aligned_alloc(64, size ? size : 64);
    if (!t->data) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory allocating %zu bytes for '%s'", t->nbytes,
                                  t->name ? t->name : "tensor");
    memset(t->data, 0, size);
    return VKA_OK;
}

static void cpu_tensor_free(vka_backend *b, vka_tensor *t) {
    cpu_backend *cb = (cpu_backend *)b;
    cb->bytes -= t->nbytes;
    if (t->usage != VKA_USAGE_WEIGHT) free(t->data);
    if (t->usage == VKA_USAGE_WEIGHT && t->impl) {
        cb->bytes -= vka_packed_bytes(t->impl);
        vka_packed_free(t->impl);
        t->impl = NULL;
    }
    t->data = NULL;
}

static vka_status check_range(const vka_tensor *t, size_t offset, size_t size) {
    if (offset > t->nbytes || size > t->nbytes - offset)
        return vka_fail(VKA_ERR_INVALID_ARGUMENT, "range %zu+%zu is outside tensor '%s' (%zu bytes)", offset, size,
                        t->name ? t->name : "?", t->nbytes);
    return VKA_OK;
}

static vka_status cpu_tensor_set(vka_backend *b, vka_tensor *t, const void *data, size_t offset, size_t size) {
    (void)b;
    VKA_TRY(check_range(t, offset, size));
    memcpy((char *)t->data + offset, data, size);
    return VKA_OK;
}

static vka_status cpu_tensor_get(vka_backend *b, const vka_tensor *t, void *data, size_t offset, size_t size) {
    (void)b;
    VKA_TRY(check_range(t, offset, size));
    memcpy(data, (const char *)t->data + offset, size);
    return VKA_OK;
}

static vka_status cpu_tensor_copy(vka_backend *b, vka_tensor *dst, const vka_tensor *src, size_t size) {
    (void)b;
    VKA_TRY(check_range(dst, 0, size));
    VKA_TRY(check_range(src, 0, size));
    memcpy(dst->data, src->data, size);
    return VKA_OK;
}

static vka_status run_node(cpu_backend *cb, const vka_node *n, uint32_t n_past) {
    switch (n->op) {
    case VKA_OP_GET_ROWS: return vka_cpu_get_rows(n->dst, n->src[0], n->src[1]);
    case VKA_OP_RMS_NORM:
        if (cb->fast_ops) vka_fast_rms_norm(cb->fast_ops, cb->pool, n->dst, n->src[0], n->src[1], n->p.eps);
        else vka_cpu_rms_norm(n->dst, n->src[0], n->src[1], n->p.eps);
        return VKA_OK;
    case VKA_OP_MATMUL:
        if (cb->fast)
            return vka_cpu_fast_matmul(cb->fast, cb->pool, n->dst, n->src[0], n->src[1], n->src[2], n->p.accumulate);
        return vka_cpu_matmul(cb->pool, n->dst, n->src[0], n->src[1], n->src[2], n->p.accumulate);
    case VKA_OP_ROPE:
        if (cb->fast_ops) return vka_fast_rope(cb->pool, n->src[0], n->src[1], &n->p.rope, n->layout, n_past);
        return vka_cpu_rope(n->src[0], n->src[1], &n->p.rope, n->layout, n_past);
    case VKA_OP_KV_STORE: return vka_cpu_kv_store(n->dst, n->src[0], n->layout, n_past);
    case VKA_OP_ATTENTION:
        if (cb->fast_ops)
            return vka_fast_attention(cb->fast_ops, cb->pool, n->dst, n->src[0], n->src[1], n->src[2], &n->p.attn,
                                      n->layout, n_past);
        return vka_cpu_attention(cb->pool, n->dst, n->src[0], n->src[1], n->src[2], &n->p.attn, n->layout, n_past);
    case VKA_OP_SWIGLU:
        if (cb->fast_ops) vka_fast_swiglu(cb->fast_ops, cb->pool, n->dst, n->src[0], n->src[1]);
        else vka_cpu_swiglu(n->dst, n->src[0], n->src[1]);
        return VKA_OK;
    case VKA_OP_ADD:
        if (cb->fast_ops) vka_fast_add(cb->fast_ops, cb->pool, n->dst, n->src[0], n->src[1]);
        else vka_cpu_add(n->dst, n->src[0], n->src[1]);
        return VKA_OK;
    case VKA_OP_ARGMAX: vka_cpu_argmax(n->dst, n->src[0]); return VKA_OK;
    /* elementwise ops of gemma's blocks: plain C on both CPU backends (a few per layer, cheap next to matmuls) */
    case VKA_OP_GEGLU: vka_cpu_geglu(n->dst, n->src[0], n->src[1]); return VKA_OK;
    case VKA_OP_SCALE: vka_cpu_scale(n->dst, n->src[0], n->p.scale); return VKA_OK;
    case VKA_OP_SOFTCAP: vka_cpu_softcap(n->dst, n->src[0], n->p.cap); return VKA_OK;
    /* mixture of experts (cpu_moe.c): fast kernels for the expert products on `cpu` */
    case VKA_OP_MOE_ROUTE: return vka_cpu_moe_route(n->dst, n->src[0], &n->p.moe);
    case VKA_OP_MATMUL_ID:
        return vka_cpu_matmul_id(cb->fast, cb->pool, n->dst, n->src[0], n->src[1], n->src[2], &n->p.moe);
    case VKA_OP_MOE_SUM: return vka_cpu_moe_sum(n->dst, n->src[0], n->src[1], &n->p.moe);
    case VKA_OP_COUNT: break;
    }
    return vka_fail(VKA_ERR_INTERNAL, "cpu backend: unknown op %d", (int)n->op);
}

static vka_status cpu_compute(vka_backend *b, vka_graph *g, uint32_t n_past) {
    cpu_backend *cb = (cpu_backend *)b;
    cb->computes++;
    for (uint32_t i = 0; i < g->n_nodes; i++) VKA_TRY(run_node(cb, &g->nodes[i], n_past));
    return VKA_OK;
}

static void cpu_graph_release(vka_backend *b, vka_graph *g) {
    (void)b;
    (void)g;
}

static void cpu_get_stats(vka_backend *b, vka_backend_stats *st) {
    cpu_backend *cb = (cpu_backend *)b;
    memset(st, 0, sizeof *st);
    st->computes = cb->computes;
    st->device_bytes = cb->bytes;
}

typedef struct read_job {
    const uint64_t *data;
    _Atomic uint64_t sink;       /* keeps the reads from being optimised away */
} read_job;

static void read_range(void *ctx, int64_t begin, int64_t end) {
    read_job *job = ctx;
    uint64_t acc[8] = {0};
    for (int64_t i = begin * 8; i < end * 8; i += 8)
        for (int l = 0; l < 8; l++) acc[l] += job->data[i + l];
    job->sink += acc[0] ^ acc[1] ^ acc[2] ^ acc[3] ^ acc[4] ^ acc[5] ^ acc[6] ^ acc[7];
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
/* The same with 256-bit loads, as the kernels read weights: the baseline
 * build's 128-bit loop reads measurably slower than the kernels stream. */
__attribute__((target("avx2"))) static void read_range_avx2(void *ctx, int64_t begin, int64_t end) {
    read_job *job = ctx;
    __m256i a0 = _mm256_setzero_si256(), a1 = a0;
    for (int64_t i = begin * 8; i < end * 8; i += 8) {
        a0 = _mm256_add_epi64(a0, _mm256_load_si256((const __m256i *)(job->data + i)));
        a1 = _mm256_add_epi64(a1, _mm256_load_si256((const __m256i *)(job->data + i + 4)));
    }
    uint64_t lanes[4];
    _mm256_storeu_si256((__m256i *)lanes, _mm256_xor_si256(a0, a1));
    job->sink += lanes[0] ^ lanes[1] ^ lanes[2] ^ lanes[3];
}

static vka_cpu_range_fn widest_read(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") ? read_range_avx2 : read_range;
}
#else
static vka_cpu_range_fn widest_read(void) { return read_range; }
#endif

/* Reads a 512 MiB buffer with every thread, best of 5; on huge pages as the
 * repacked weights are, so the limit it gives is the one they stream at. */
static vka_status cpu_measure_bandwidth(vka_backend *b, double *bytes_per_second) {
    cpu_backend *cb = (cpu_backend *)b;
    size_t bytes = (size_t)512 << 20;
    uint64_t *data = (uint64_t *)vka_cpu_alloc_large(bytes);
    if (!data) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory for the bandwidth buffer");
    memset(data, 1, bytes);
    read_job job = {.data = data};
    vka_cpu_range_fn read = widest_read();
    double best = 0;
    for (int rep = 0; rep < 5; rep++) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        vka_cpu_parallel_for(cb->pool, (int64_t)(bytes / 64), 1 << 20, read, &job);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
        if (s > 0 && (double)bytes / s > best) best = (double)bytes / s;
    }
    free(data);
    *bytes_per_second = best;
    return VKA_OK;
}

/* Packed weights: the matrix products read the copy; only get_rows (a few
 * rows of the token embeddings per step) reads the mapping again. */
static bool cpu_weight_is_copied(vka_backend *b, const vka_tensor *t) {
    (void)b;
    return t->usage == VKA_USAGE_WEIGHT && t->impl != NULL;
}

static bool cpu_memory_budget(vka_backend *b, vka_memory_budget *out) {
    (void)b;
    memset(out, 0, sizeof *out);
    snprintf(out->where, sizeof out->where, "host memory (MemAvailable)");
    return vka_host_memory_available(&out->bytes);
}

static const vka_backend_ops cpu_ops = {
    .destroy = cpu_destroy,
    .tensor_alloc = cpu_tensor_alloc,
    .tensor_free = cpu_tensor_free,
    .tensor_set = cpu_tensor_set,
    .tensor_get = cpu_tensor_get,
    .tensor_copy = cpu_tensor_copy,
    .compute = cpu_compute,
    .graph_release = cpu_graph_release,
    .get_stats = cpu_get_stats,
    .measure_bandwidth = cpu_measure_bandwidth,
    .weight_is_copied = cpu_weight_is_copied,
    .memory_budget = cpu_memory_budget,
};

vka_status vka_cpu_backend_create(vka_backend **out) { return vka_cpu_backend_create_threads(0, out); }

/* fast: the kernels of cpu_fast.h, else the reference ops. */
static vka_status create(bool fast, unsigned n_threads, vka_backend **out) {
    cpu_backend *cb = calloc(1, sizeof *cb);
    if (!cb) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
    cb->base.ops = &cpu_ops;
    cb->fast = fast ? vka_fast_select() : NULL;
    cb->fast_ops = fast ? vka_fast_ops_select() : NULL;
    cb->base.kv_f16_default = false; /* the oracle keeps the cache exact */
    vka_status s = vka_cpu_pool_create_threads(n_threads, &cb->pool);
    if (s != VKA_OK) {
        free(cb);
        return s;
    }
    if (cb->fast)
        snprintf(cb->base.name, sizeof cb->base.name, "cpu (%u threads, %s)", vka_cpu_pool_threads(cb->pool),
                 cb->fast->isa);
    else
        snprintf(cb->base.name, sizeof cb->base.name, "cpu-ref (%u threads)", vka_cpu_pool_threads(cb->pool));
    *out = &cb->base;
    return VKA_OK;
}

vka_status vka_cpu_backend_create_threads(unsigned n_threads, vka_backend **out) { return create(false, n_threads, out); }

vka_status vka_cpu_fast_backend_create_threads(unsigned n_threads, vka_backend **out) {
    return create(true, n_threads, out);
}
