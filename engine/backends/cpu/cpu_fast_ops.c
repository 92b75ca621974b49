/* cpu_fast_ops.c — the fast backend's ops other than the matrix product: how
 * rows, tokens and heads are split over the pool (the row kernels do the
 * arithmetic), the portable kernels, and the choice of kernels for this CPU. */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/cpu_fast_ops.h"
#include "backends/cpu/cpu_layout.h"
#include "base/status.h"

static float *row_of(const vka_tensor *t, int64_t row) {
    return (float *)((char *)t->data + (size_t)row * t->row_bytes);
}

/* ---- portable kernels: the reference's arithmetic; f16 cache rows are
 * converted once per row for all the heads that read them ---- */

static void scalar_exp(const float *x, float *out, int64_t n) {
    for (int64_t i = 0; i < n; i++) out[i] = expf(x[i]);
}

static float scalar_sum_squares(const float *x, int64_t n) { return vka_cpu_dot(x, x, n); }

static void scalar_scale_mul(const float *x, float scale, const float *w, float *out, int64_t n) {
    for (int64_t i = 0; i < n; i++) out[i] = x[i] * scale * w[i];
}

static void scalar_swiglu(const float *g, const float *u, float *out, int64_t n) {
    for (int64_t i = 0; i < n; i++) out[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

static void scalar_add(const float *a, const float *b, float *out, int64_t n) {
    for (int64_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

#define ROW_CHUNK 256 /* cache values converted per step from f16 */

/* Values [i0, i0 + n) of a cache row as floats: in place for f32, converted into buf for f16. */
static const float *row_values(const void *row, uint32_t i0, uint32_t n, bool f16, float *buf) {
    if (!f16) return (const float *)row + i0;
    for (uint32_t i = 0; i < n; i++) buf[i] = vka_f16_to_f32(((const uint16_t *)row)[i0 + i]);
    return buf;
}

static void scalar_scores(const float *const *q, int nq, const vka_fast_kv_rows *k, int64_t n_keys, uint32_t dim,
                          float scale, float *const *out) {
    float buf[ROW_CHUNK];
    for (int64_t t = 0; t < n_keys; t++) {
        const char *row = vka_fast_kv_row(k, t);
        for (int h = 0; h < nq; h++) out[h][t] = 0.0f;
        for (uint32_t i0 = 0; i0 < dim; i0 += ROW_CHUNK) {
            uint32_t n = dim - i0 < ROW_CHUNK ? dim - i0 : ROW_CHUNK;
            const float *x = row_values(row, i0, n, k->f16, buf);
            for (int h = 0; h < nq; h++) out[h][t] += vka_cpu_dot(q[h] + i0, x, n);
        }
        for (int h = 0; h < nq; h++) out[h][t] *= scale;
    }
}

static float scalar_softmax_exp(float *s, int64_t n) {
    float max = -INFINITY, sum = 0.0f;
    for (int64_t t = 0; t < n; t++) max = s[t] > max ? s[t] : max;
    for (int64_t t = 0; t < n; t++) {
        s[t] = expf(s[t] - max);
        sum += s[t];
    }
    return sum;
}

static void scalar_weighted_sum(const float *const *w, int nq, const vka_fast_kv_rows *v, int64_t n_keys,
                                uint32_t dim, float *const *out) {
    float buf[ROW_CHUNK];
    for (int h = 0; h < nq; h++) memset(out[h], 0, dim * sizeof(float));
    for (int64_t t = 0; t < n_keys; t++) {
        const char *row = vka_fast_kv_row(v, t);
        for (uint32_t i0 = 0; i0 < dim; i0 += ROW_CHUNK) {
            uint32_t n = dim - i0 < ROW_CHUNK ? dim - i0 : ROW_CHUNK;
            const float *x = row_values(row, i0, n, v->f16, buf); /* once for all nq heads */
            for (int h = 0; h < nq; h++)
                for (uint32_t i = 0; i < n; i++) out[h][i0 + i] += w[h][t] * x[i];
        }
    }
}

const vka_fast_op_kernels vka_fast_ops_scalar = {
    .isa = "scalar",
    .exp = scalar_exp,
    .sum_squares = scalar_sum_squares,
    .scale_mul = scalar_scale_mul,
    .swiglu = scalar_swiglu,
    .add = scalar_add,
    .scores = scalar_scores,
    .softmax_exp = scalar_softmax_exp,
    .weighted_sum = scalar_weighted_sum,
};

const vka_fast_op_kernels *vka_fast_ops_select(void) {
    const char *isa = getenv("VKAGENT_CPU_ISA");
    const vka_fast_op_kernels *avx2 = isa && strcmp(isa, "scalar") == 0 ? NULL : vka_fast_ops_avx2();
    return avx2 ? avx2 : &vka_fast_ops_scalar;
}

/* ---- row-wise ops: rows split over the pool ---- */

typedef struct rows_job {
    const vka_fast_op_kernels *kern;
    vka_tensor *dst;
    const vka_tensor *a, *b;
    float eps; /* rms_norm */
    void (*fn)(const float *a, const float *b, float *out, int64_t n); /* swiglu, add */
} rows_job;

static void rms_norm_rows(void *ctx, int64_t r0, int64_t r1) {
    const rows_job *job = ctx;
    int64_t n = job->a->ne[0];
    for (int64_t j = r0; j < r1; j++) {
        const float *in = row_of(job->a, j);
        float ss = job->kern->sum_squares(in, n);
        /* as the reference from here: the scale in double, rounded once */
        float scale = (float)(1.0 / sqrt((double)ss / (double)n + (double)job->eps));
        job->kern->scale_mul(in, scale, job->b->data, row_of(job->dst, j), n);
    }
}

void vka_fast_rms_norm(const vka_fast_op_kernels *kern, vka_cpu_pool *pool, vka_tensor *dst, const vka_tensor *x,
                       const vka_tensor *weight, float eps) {
    rows_job job = {kern, dst, x, weight, eps, NULL};
    vka_cpu_parallel_for(pool, x->ne[1], 2 * x->ne[0], rms_norm_rows, &job);
}

/* dst row j = fn(a row j, b row j): the elementwise ops */
static void binary_rows(void *ctx, int64_t r0, int64_t r1) {
    const rows_job *job = ctx;
    for (int64_t j = r0; j < r1; j++) job->fn(row_of(job->a, j), row_of(job->b, j), row_of(job->dst, j), job->a->ne[0]);
}

void vka_fast_swiglu(const vka_fast_op_kernels *kern, vka_cpu_pool *pool, vka_tensor *dst, const vka_tensor *gate,
                     const vka_tensor *up) {
    rows_job job = {kern, dst, gate, up, 0.0f, kern->swiglu};
    /* an exponential and a division per element: worth ~16 multiply-adds */
    vka_cpu_parallel_for(pool, gate->ne[1], 16 * gate->ne[0], binary_rows, &job);
}

void vka_fast_add(const vka_fast_op_kernels *kern, vka_cpu_pool *pool, vka_tensor *dst, const vka_tensor *a,
                  const vka_tensor *b) {
    rows_job job = {kern, dst, a, b, 0.0f, kern->add};
    vka_cpu_parallel_for(pool, a->ne[1], a->ne[0], binary_rows, &job);
}

/* ---- rotary embedding: one cos/sin table per token, shared by its heads ---- */

typedef struct rope_job {
    vka_tensor *x;
    const float *ff;
    const vka_rope_params *p;
    const vka_cpu_layout *layout;
    atomic_bool out_of_memory;
} rope_job;

static void rotate(float *v, const float *c, const float *s, uint32_t half, vka_rope_mode mode) {
    /* the reference's expressions: the same roundings */
    if (mode == VKA_ROPE_NORM) {
        for (uint32_t i = 0; i < half; i++) {
            float x0 = v[2 * i], x1 = v[2 * i + 1];
            v[2 * i] = x0 * c[i] - x1 * s[i];
            v[2 * i + 1] = x0 * s[i] + x1 * c[i];
        }
    } else {
        for (uint32_t i = 0; i < half; i++) {
            float x0 = v[i], x1 = v[i + half];
            v[i] = x0 * c[i] - x1 * s[i];
            v[i + half] = x0 * s[i] + x1 * c[i];
        }
    }
}

static void rope_tokens(void *ctx, int64_t t0, int64_t t1) {
    rope_job *job = ctx;
    const vka_rope_params *p = job->p;
    uint32_t half = p->n_rot / 2;
    float *c = malloc(2 * (half ? half : 1) * sizeof(float)), *s = c + half;
    if (!c) {
        atomic_store(&job->out_of_memory, true);
        return;
    }
    float mscale = vka_rope_mscale(p);
    for (int64_t token = t0; token < t1; token++) {
        double pos = (double)vka_cpu_layout_pos(job->layout, token);
        for (uint32_t i = 0; i < half; i++) {
            double theta = vka_rope_theta(pos, i, p->n_rot, p->freq_base, p->freq_scale, job->ff);
            c[i] = (float)cos(theta) * mscale;
            s[i] = (float)sin(theta) * mscale;
        }
        int64_t r1 = (token + 1) * p->n_heads < job->x->ne[1] ? (token + 1) * p->n_heads : job->x->ne[1];
        for (int64_t r = token * p->n_heads; r < r1; r++) rotate(row_of(job->x, r), c, s, half, p->mode);
    }
    free(c);
}

vka_status vka_fast_rope(vka_cpu_pool *pool, vka_tensor *x, const vka_tensor *freq_factors, const vka_rope_params *p,
                         const vka_tensor *layout, uint32_t n_past) {
    if (p->n_heads == 0) return vka_fail(VKA_ERR_INTERNAL, "rope: no heads");
    int64_t n_tokens = (x->ne[1] + p->n_heads - 1) / p->n_heads;
    vka_cpu_layout l;
    VKA_TRY(vka_cpu_layout_init(&l, layout, n_tokens, n_past, "rope"));
    rope_job job = {x, freq_factors ? freq_factors->data : NULL, p, &l, false};
    /* a cos and a sin per pair and token (~100 multiply-adds), then the rotations */
    vka_cpu_parallel_for(pool, n_tokens, (int64_t)p->n_rot * (50 + p->n_heads), rope_tokens, &job);
    if (atomic_load(&job.out_of_memory)) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory in rope");
    return VKA_OK;
}

/* ---- attention ---- */

typedef struct attention_job {
    const vka_fast_op_kernels *kern;
    vka_tensor *dst;
    const vka_tensor *q, *k, *v;
    const vka_attention_params *p;
    const vka_cpu_layout *layout;
    const int32_t *identity; /* the block table of a contiguous cache: 0, 1, 2, ... */
    int64_t n_tokens;
    atomic_bool out_of_memory;
} attention_job;

/* Items are (KV head, token) pairs, KV-head-major: consecutive items read
 * the same key and value rows, which stay in cache (a Llama-3.2-1B head's
 * 640 positions are 320 KiB in f32; all 8 heads' would not fit in L2).
 * Within a head, slots take tokens from both ends in turn (0, n-1, 1, n-2,
 * ...): in a prompt token t sees n_past + t + 1 keys, so every thread's
 * contiguous range of items gets about the same work. Each (token, head) is
 * computed whole by one thread, its keys in one order whatever the batch:
 * its bits depend only on its query, position and cache rows. */
static int64_t slot_token(int64_t slot, int64_t n_tokens) { return slot % 2 == 0 ? slot / 2 : n_tokens - 1 - slot / 2; }

/* Soft-capping and the sliding window on nq rows of n_keys scores: the
 * kernels score every key from 0 (their tiles follow the cache blocks), and
 * keys before the window get -inf, so a weight of exactly 0. */
/* Scores s[j][t - skip] of keys t in [skip, n_keys): soft-capped, and -inf
 * before the window's first key. */
static void cap_and_mask(const vka_attention_params *p, int64_t n_keys, int64_t skip, float *const *s, int nq) {
    int64_t first = vka_attention_first_key(p, n_keys - 1);
    for (int j = 0; j < nq; j++) {
        for (int64_t t = skip; t < first; t++) s[j][t - skip] = -INFINITY;
        if (p->softcap > 0.0f)
            for (int64_t t = first; t < n_keys; t++) s[j][t - skip] = p->softcap * tanhf(s[j][t - skip] / p->softcap);
    }
}

/* Query heads [h0, h0 + nq) of KV head hkv, which share its key and value rows. */
static void attend_heads(const attention_job *job, int64_t token, uint32_t hkv, uint32_t h0, int nq, float *scores,
                         int64_t stride) {
    const vka_attention_params *p = job->p;
    bool k16 = job->k->type == VKA_TYPE_F16, v16 = job->v->type == VKA_TYPE_F16;
    const int32_t *table = vka_cpu_layout_table(job->layout, token);
    if (!table) table = job->identity;
    vka_fast_kv_rows k = {(const char *)job->k->data + (size_t)hkv * p->head_dim * (k16 ? 2 : 4), job->k->row_bytes,
                          table, k16};
    vka_fast_kv_rows v = {(const char *)job->v->data + (size_t)hkv * p->head_dim_v * (v16 ? 2 : 4),
                          job->v->row_bytes, table, v16};
    int64_t n_keys = vka_cpu_layout_pos(job->layout, token) + 1; /* causal: keys 0..pos */
    /* Whole blocks before a sliding window are neither scored, masked,
     * normalized nor summed (their rows may have been given back): the
     * kernels start at the window's block, where their tiles and lanes start
     * anyway, and a weight-0 key added nothing to the sums, so the bits are
     * those of keys from 0. */
    int64_t skip = vka_attention_first_key(p, n_keys - 1) / VKA_KV_BLOCK * VKA_KV_BLOCK;
    k.blocks += skip / VKA_KV_BLOCK;
    v.blocks += skip / VKA_KV_BLOCK;
    const float *q[VKA_FAST_ATTN_HEADS];
    float *s[VKA_FAST_ATTN_HEADS], *out[VKA_FAST_ATTN_HEADS], sum[VKA_FAST_ATTN_HEADS];
    for (int j = 0; j < nq; j++) {
        q[j] = row_of(job->q, token) + (size_t)(h0 + (uint32_t)j) * p->head_dim;
        s[j] = scores + j * stride; /* the score of key t at s[j][t - skip] */
        out[j] = row_of(job->dst, token) + (size_t)(h0 + (uint32_t)j) * p->head_dim_v;
    }
    job->kern->scores(q, nq, &k, n_keys - skip, p->head_dim, p->scale, s);
    if (p->softcap > 0.0f || p->window) cap_and_mask(p, n_keys, skip, s, nq);
    for (int j = 0; j < nq; j++) sum[j] = job->kern->softmax_exp(s[j], n_keys - skip);
    job->kern->weighted_sum((const float *const *)s, nq, &v, n_keys - skip, p->head_dim_v, out);
    /* the weights' normalization, once per output instead of once per key */
    for (int j = 0; j < nq; j++) {
        float inv = 1.0f / sum[j];
        for (uint32_t i = 0; i < p->head_dim_v; i++) out[j][i] *= inv;
    }
}

static void attention_items(void *ctx, int64_t begin, int64_t end) {
    attention_job *job = ctx;
    const vka_attention_params *p = job->p;
    uint32_t group = p->n_head / p->n_head_kv;
    int64_t stride = job->layout->max_pos + 1; /* the most keys a token sees */
    float *scores = malloc((size_t)(VKA_FAST_ATTN_HEADS * stride) * sizeof(float));
    if (!scores) {
        atomic_store(&job->out_of_memory, true);
        return;
    }
    for (int64_t item = begin; item < end; item++) {
        int64_t token = slot_token(item % job->n_tokens, job->n_tokens);
        uint32_t hkv = (uint32_t)(item / job->n_tokens);
        for (uint32_t h = 0; h < group; h += VKA_FAST_ATTN_HEADS) {
            int nq = group - h < VKA_FAST_ATTN_HEADS ? (int)(group - h) : VKA_FAST_ATTN_HEADS;
            attend_heads(job, token, hkv, hkv * group + h, nq, scores, stride);
        }
    }
    free(scores);
}

static bool cache_type_ok(vka_type t) { return t == VKA_TYPE_F32 || t == VKA_TYPE_F16; }

vka_status vka_fast_attention(const vka_fast_op_kernels *kern, vka_cpu_pool *pool, vka_tensor *dst, const vka_tensor *q,
                              const vka_tensor *k_cache, const vka_tensor *v_cache, const vka_attention_params *p,
                              const vka_tensor *layout, uint32_t n_past) {
    if (!cache_type_ok(k_cache->type) || !cache_type_ok(v_cache->type) || p->n_head_kv == 0 ||
        p->n_head % p->n_head_kv != 0)
        return vka_fail(VKA_ERR_INTERNAL, "attention: unsupported cache type or head counts");
    vka_cpu_layout l;
    VKA_TRY(vka_cpu_layout_check_keys(&l, layout, q->ne[1], n_past, k_cache, v_cache));
    int32_t *identity = NULL;
    if (!layout) {
        int64_t n_blocks = (l.max_pos + VKA_KV_BLOCK) / VKA_KV_BLOCK;
        identity = malloc((size_t)(n_blocks > 0 ? n_blocks : 1) * sizeof *identity);
        if (!identity) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory in attention");
        for (int64_t b = 0; b < n_blocks; b++) identity[b] = (int32_t)b;
    }
    attention_job job = {kern, dst, q, k_cache, v_cache, p, &l, identity, q->ne[1], false};
    int64_t keys = l.max_pos + 1;
    int64_t group = p->n_head / p->n_head_kv;
    vka_cpu_parallel_for(pool, q->ne[1] * p->n_head_kv, keys * (p->head_dim + p->head_dim_v) * group, attention_items,
                         &job);
    free(identity);
    if (atomic_load(&job.out_of_memory)) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory in attention");
    return VKA_OK;
}
