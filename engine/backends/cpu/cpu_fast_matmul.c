/* cpu_fast_matmul.c — the fast backend's matrix product: activations are
 * quantized once per call (for the quantized weight types), output rows are
 * split over the thread pool, and each weight row is applied to
 * VKA_FAST_TILE activation rows per pass so prompt processing loads each
 * weight block once for several tokens. */
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/cpu_packed.h"
#include "base/status.h"

/* Weight rows per chunk: a chunk stays in cache while every activation tile passes over it. */
#define ROW_CHUNK 16

typedef struct fast_job {
    vka_fast_dot_fn dot;
    const vka_tensor *w, *bias;
    vka_tensor *dst;
    bool accumulate;
    const char *act;             /* activation rows: quantized blocks or the f32 input */
    size_t act_row_bytes;
    int64_t n_act;
} fast_job;

static void store(const fast_job *job, int64_t r, int64_t j0, int nx, const float *v) {
    const float *bias = job->bias ? job->bias->data : NULL;
    for (int j = 0; j < nx; j++) {
        float *out = (float *)((char *)job->dst->data + (size_t)(j0 + j) * job->dst->row_bytes) + r;
        float y = bias ? v[j] + bias[r] : v[j];
        *out = job->accumulate ? *out + y : y;
    }
}

static void fast_rows(void *ctx, int64_t r0, int64_t r1) {
    const fast_job *job = ctx;
    const vka_tensor *w = job->w;
    for (int64_t c0 = r0; c0 < r1; c0 += ROW_CHUNK) {
        int64_t c1 = c0 + ROW_CHUNK < r1 ? c0 + ROW_CHUNK : r1;
        for (int64_t j0 = 0; j0 < job->n_act; j0 += VKA_FAST_TILE) {
            int nx = job->n_act - j0 < VKA_FAST_TILE ? (int)(job->n_act - j0) : VKA_FAST_TILE;
            const void *x[VKA_FAST_TILE];
            for (int j = 0; j < nx; j++) x[j] = job->act + (size_t)(j0 + j) * job->act_row_bytes;
            for (int64_t r = c0; r < c1; r++) {
                float v[VKA_FAST_TILE];
                job->dot(w->ne[0], (const char *)w->data + (size_t)r * w->row_bytes, x, nx, v);
                store(job, r, j0, nx, v);
            }
        }
    }
}

/* Activation rows quantized on the pool's threads. */
typedef struct quantize_job {
    void (*quantize)(const float *x, vka_q8_act *out, int64_t n);
    const vka_tensor *x;
    vka_q8_act *q;
    size_t q_row_bytes;
} quantize_job;

static void quantize_rows(void *ctx, int64_t j0, int64_t j1) {
    const quantize_job *job = ctx;
    for (int64_t j = j0; j < j1; j++)
        job->quantize((const float *)((const char *)job->x->data + (size_t)j * job->x->row_bytes),
                      (vka_q8_act *)((char *)job->q + (size_t)j * job->q_row_bytes), job->x->ne[0]);
}

static bool float_type(vka_type t) { return t == VKA_TYPE_F32 || t == VKA_TYPE_F16; }

/* The packed kernel for w, if w (not a view) carries a repacked copy. */
static vka_packed_fn packed_kernel(const vka_fast_kernels *kern, const vka_tensor *w) {
    if (w->parent || !w->impl || !kern->packed) return NULL;
    const vka_packed_fn *table = kern->packed();
    const vka_packed *p = w->impl;
    return table && p->type == w->type && p->k == w->ne[0] && p->rows == w->ne[1] ? table[w->type] : NULL;
}

typedef struct pack_job {
    vka_packed *p;
    const void *data;
} pack_job;

static void pack_groups(void *ctx, int64_t g0, int64_t g1) {
    const pack_job *job = ctx;
    vka_packed_fill(job->p, job->data, g0, g1);
}

vka_packed *vka_cpu_fast_pack(const vka_fast_kernels *kern, vka_cpu_pool *pool, const vka_tensor *w,
                              const void *data) {
    const vka_packed_fn *table = kern->packed ? kern->packed() : NULL;
    if (!table || !table[w->type] || !data) return NULL;
    vka_packed *p = vka_packed_alloc(w->type, w->ne[0], w->ne[1]);
    if (!p) return NULL;
    pack_job job = {p, data};
    vka_cpu_parallel_for(pool, p->n_groups, (int64_t)p->group_bytes, pack_groups, &job);
    return p;
}

typedef struct packed_job {
    vka_packed_fn fn;
    vka_packed_product product;
} packed_job;

static void packed_groups(void *ctx, int64_t g0, int64_t g1) {
    const packed_job *job = ctx;
    job->fn(&job->product, g0, g1);
}

/* Sums of each 16 activation codes (Q6_K's scales cover 16 columns). */
static void half_sums(const vka_q8_act *row, int64_t k, int32_t *out) {
    for (int64_t b = 0; b < k / 32; b++)
        for (int h = 0; h < 2; h++) {
            int32_t s = 0;
            for (int i = 0; i < 16; i++) s += row[b].q[16 * h + i];
            out[2 * b + h] = s;
        }
}

static vka_status packed_matmul(vka_packed_fn fn, vka_cpu_pool *pool, vka_tensor *dst, const vka_tensor *w,
                                const vka_q8_act *q, size_t q_row_bytes, const vka_tensor *bias, bool accumulate) {
    const vka_packed *p = w->impl;
    int64_t n = dst->ne[1], k = w->ne[0];
    int32_t *halves = NULL;
    if (w->type == VKA_TYPE_Q6_K) {
        halves = malloc((size_t)(n * (k / 16)) * sizeof *halves);
        if (!halves) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory in matmul");
        for (int64_t j = 0; j < n; j++)
            half_sums((const vka_q8_act *)((const char *)q + (size_t)j * q_row_bytes), k, halves + j * (k / 16));
    }
    packed_job job = {fn,
                      {.w = p,
                       .act = (const char *)q,
                       .act_row_bytes = q_row_bytes,
                       .half_sums = halves,
                       .n_act = n,
                       .dst = dst->data,
                       .dst_row_floats = dst->row_bytes / sizeof(float),
                       .bias = bias ? bias->data : NULL,
                       .accumulate = accumulate}};
    vka_cpu_parallel_for(pool, p->n_groups, VKA_PACK_ROWS * k * n, packed_groups, &job);
    free(halves);
    return VKA_OK;
}

vka_status vka_cpu_fast_matmul(const vka_fast_kernels *kern, vka_cpu_pool *pool, vka_tensor *dst, const vka_tensor *w,
                               const vka_tensor *x, const vka_tensor *bias, bool accumulate) {
    vka_fast_dot_fn dot = (unsigned)w->type < VKA_TYPE_COUNT ? kern->dot[w->type] : NULL;
    int64_t k = w->ne[0];
    /* (a row holds whole blocks, so k is a multiple of 32 for every quantized type) */
    if (!dot) return vka_cpu_matmul(pool, dst, w, x, bias, accumulate);
    if (w->ne[0] != x->ne[0] || dst->ne[0] != w->ne[1] || dst->ne[1] != x->ne[1])
        return vka_fail(VKA_ERR_INTERNAL, "matmul shapes do not agree");
    fast_job job = {dot, w, bias, dst, accumulate, x->data, x->row_bytes, x->ne[1]};
    vka_q8_act *q = NULL;
    if (!float_type(w->type)) {
        /* each activation row quantized once, shared by every weight row */
        size_t row_bytes = vka_fast_act_row_bytes(k);
        q = malloc(row_bytes * (size_t)x->ne[1]);
        if (!q) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory in matmul");
        quantize_job qj = {kern->quantize, x, q, row_bytes};
        vka_cpu_parallel_for(pool, x->ne[1], k, quantize_rows, &qj);
        job.act = (const char *)q;
        job.act_row_bytes = row_bytes;
        vka_packed_fn packed = packed_kernel(kern, w);
        if (packed) {
            vka_status st = packed_matmul(packed, pool, dst, w, q, row_bytes, bias, accumulate);
            free(q);
            return st;
        }
    }
    vka_cpu_parallel_for(pool, w->ne[1], k * x->ne[1], fast_rows, &job);
    free(q);
    return VKA_OK;
}

const vka_fast_kernels *vka_fast_select(void) {
    const char *isa = getenv("VKAGENT_CPU_ISA");
    if (isa && strcmp(isa, "scalar") == 0) return &vka_fast_scalar;
    const vka_fast_kernels *neon = vka_fast_neon(); /* NULL except on arm64 */
    if (neon) return neon;
    const vka_fast_kernels *vnni = isa && strcmp(isa, "avx2") == 0 ? NULL : vka_fast_vnni();
    const vka_fast_kernels *avx2 = vka_fast_avx2();
    return vnni ? vnni : avx2 ? avx2 : &vka_fast_scalar;
}
