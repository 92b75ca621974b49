/* cpu_ops.c — the reference ops. Each reads like the formula in backend.h;
 * tensors are rows of ne[0] elements, token j's activations are row j. */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/cpu_layout.h"
#include "backends/cpu/cpu_ops.h"
#include "base/status.h"

static float *f32_row(const vka_tensor *t, int64_t row) { return (float *)((char *)t->data + (size_t)row * t->row_bytes); }

float vka_cpu_dot(const float *a, const float *b, int64_t n) {
    /* Eight independent partial sums: a fixed order that compilers can vectorise. */
    float acc[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) acc[l] += a[i + l] * b[i + l];
    for (; i < n; i++) acc[i % 8] += a[i] * b[i];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

vka_status vka_cpu_get_rows(vka_tensor *dst, const vka_tensor *table, const vka_tensor *ids) {
    /* table may be a weight (token embeddings) or an F32 activation (rows of
     * the residual stream picked for logits): to_f32 of F32 copies the bits */
    const vka_type_traits *tr = vka_type_get_traits(table->type);
    if (!tr || !tr->to_f32 || ids->type != VKA_TYPE_I32 || table->ne[0] != dst->ne[0] ||
        ids->ne[0] * ids->ne[1] < dst->ne[1])
        return vka_fail(VKA_ERR_INVALID_ARGUMENT, "get_rows: %lld rows of %lld from '%s' (%lld ids)",
                        (long long)dst->ne[1], (long long)dst->ne[0], table->name ? table->name : "?",
                        (long long)(ids->ne[0] * ids->ne[1]));
    const int32_t *id = ids->data;
    for (int64_t j = 0; j < dst->ne[1]; j++) {
        if (id[j] < 0 || id[j] >= table->ne[1])
            return vka_fail(VKA_ERR_INVALID_ARGUMENT, "token id %d is outside the vocabulary (0..%lld)", id[j],
                            (long long)table->ne[1] - 1);
        tr->to_f32((const char *)table->data + (size_t)id[j] * table->row_bytes, f32_row(dst, j), table->ne[0]);
    }
    return VKA_OK;
}

void vka_cpu_rms_norm(vka_tensor *dst, const vka_tensor *x, const vka_tensor *weight, float eps) {
    const float *w = weight->data;
    int64_t n = x->ne[0];
    for (int64_t j = 0; j < x->ne[1]; j++) {
        const float *in = f32_row(x, j);
        float *out = f32_row(dst, j);
        double sum = 0.0;
        for (int64_t i = 0; i < n; i++) sum += (double)in[i] * in[i];
        float scale = (float)(1.0 / sqrt(sum / (double)n + (double)eps));
        for (int64_t i = 0; i < n; i++) out[i] = in[i] * scale * w[i];
    }
}

typedef struct matmul_job {
    const vka_tensor *w, *x, *bias;
    vka_tensor *dst;
    bool accumulate;
    atomic_bool out_of_memory;
} matmul_job;

/* Output rows [r0, r1): each weight row is dequantized once and applied to
 * every token, so prefill reads the weights once. */
static void matmul_rows(void *ctx, int64_t r0, int64_t r1) {
    const matmul_job *job = ctx;
    const vka_tensor *w = job->w;
    int64_t k = w->ne[0];
    const vka_type_traits *tr = vka_type_get_traits(w->type);
    float *scratch = NULL;
    if (w->type != VKA_TYPE_F32 && !(scratch = malloc((size_t)k * sizeof(float)))) {
        atomic_store(&((matmul_job *)ctx)->out_of_memory, true);
        return;
    }
    const float *bias = job->bias ? job->bias->data : NULL;
    for (int64_t r = r0; r < r1; r++) {
        const void *src = (const char *)w->data + (size_t)r * w->row_bytes;
        const float *row = src;
        if (scratch) {
            tr->to_f32(src, scratch, k);
            row = scratch;
        }
        for (int64_t j = 0; j < job->x->ne[1]; j++) {
            float v = vka_cpu_dot(row, f32_row(job->x, j), k);
            if (bias) v += bias[r];
            float *out = f32_row(job->dst, j) + r;
            *out = job->accumulate ? *out + v : v;
        }
    }
    free(scratch);
}

vka_status vka_cpu_matmul(vka_cpu_pool *pool, vka_tensor *dst, const vka_tensor *w, const vka_tensor *x,
                          const vka_tensor *bias, bool accumulate) {
    if (w->ne[0] != x->ne[0] || dst->ne[0] != w->ne[1] || dst->ne[1] != x->ne[1])
        return vka_fail(VKA_ERR_INTERNAL, "matmul shapes do not agree");
    matmul_job job = {w, x, bias, dst, accumulate, false};
    vka_cpu_parallel_for(pool, w->ne[1], w->ne[0] * x->ne[1], matmul_rows, &job);
    if (atomic_load(&job.out_of_memory)) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory in matmul");
    return VKA_OK;
}

vka_status vka_cpu_rope(vka_tensor *x, const vka_tensor *freq_factors, const vka_rope_params *p,
                        const vka_tensor *layout, uint32_t n_past) {
    if (p->n_heads == 0) return vka_fail(VKA_ERR_INTERNAL, "rope: no heads");
    vka_cpu_layout l;
    VKA_TRY(vka_cpu_layout_init(&l, layout, (x->ne[1] + p->n_heads - 1) / p->n_heads, n_past, "rope"));
    const float *ff = freq_factors ? freq_factors->data : NULL;
    uint32_t half = p->n_rot / 2;
    float mscale = vka_rope_mscale(p);
    /* only the first n_rot dimensions turn; the rest of the row passes through */
    for (int64_t r = 0; r < x->ne[1]; r++) {
        double pos = (double)vka_cpu_layout_pos(&l, r / p->n_heads);
        float *v = f32_row(x, r);
        for (uint32_t i = 0; i < half; i++) {
            double theta = vka_rope_theta(pos, i, p->n_rot, p->freq_base, p->freq_scale, ff);
            float c = (float)cos(theta) * mscale, s = (float)sin(theta) * mscale;
            /* NORM rotates adjacent pairs; NEOX pairs element i with i + n_rot/2. */
            uint32_t a = p->mode == VKA_ROPE_NORM ? 2 * i : i;
            uint32_t b = p->mode == VKA_ROPE_NORM ? 2 * i + 1 : i + half;
            float x0 = v[a], x1 = v[b];
            v[a] = x0 * c - x1 * s;
            v[b] = x0 * s + x1 * c;
        }
    }
    return VKA_OK;
}

vka_status vka_cpu_kv_store(vka_tensor *cache, const vka_tensor *src, const vka_tensor *layout, uint32_t n_past) {
    if (src->ne[0] != cache->ne[0] || src->type != VKA_TYPE_F32)
        return vka_fail(VKA_ERR_INTERNAL, "kv_store: rows of %lld f32 into a cache of rows of %lld",
                        (long long)src->ne[0], (long long)cache->ne[0]);
    vka_cpu_layout l;
    VKA_TRY(vka_cpu_layout_init(&l, layout, src->ne[1], n_past, "kv_store"));
    /* every row checked before any is written: a refused step changes nothing */
    for (int64_t j = 0; j < src->ne[1]; j++) {
        int64_t pos = vka_cpu_layout_pos(&l, j);
        VKA_TRY(vka_cpu_layout_check_rows(&l, j, pos, pos, cache->ne[1], "kv_store"));
    }
    const vka_type_traits *tr = vka_type_get_traits(cache->type);
    for (int64_t j = 0; j < src->ne[1]; j++) {
        int64_t row = vka_cpu_layout_row(&l, j, vka_cpu_layout_pos(&l, j));
        tr->from_f32(f32_row(src, j), (char *)cache->data + (size_t)row * cache->row_bytes, src->ne[0]);
    }
    return VKA_OK;
}

typedef struct attention_job {
    vka_tensor *dst;
    const vka_tensor *q, *k, *v;
    const vka_attention_params *p;
    const vka_cpu_layout *layout;
    atomic_bool out_of_memory;
} attention_job;

/* Reads cache row `pos`, head `h` as f32 into out. */
static void cache_head(const vka_tensor *cache, int64_t pos, uint32_t h, uint32_t dim, float *out) {
    const char *row = (const char *)cache->data + (size_t)pos * cache->row_bytes;
    if (cache->type == VKA_TYPE_F32) {
        memcpy(out, (const float *)row + (size_t)h * dim, dim * sizeof(float));
    } else {
        const uint16_t *r16 = (const uint16_t *)row + (size_t)h * dim;
        for (uint32_t i = 0; i < dim; i++) out[i] = vka_f16_to_f32(r16[i]);
    }
}

/* Items are (token, head) pairs: item = token * n_head + head. */
static void attention_items(void *ctx, int64_t begin, int64_t end) {
    attention_job *job = ctx;
    const vka_attention_params *p = job->p;
    uint32_t group = p->n_head / p->n_head_kv;
    int64_t n_keys_max = job->layout->max_pos + 1;
    float *scores = malloc((size_t)n_keys_max * sizeof(float));
    float *kv = malloc((p->head_dim > p->head_dim_v ? p->head_dim : p->head_dim_v) * sizeof(float));
    if (!scores || !kv) {
        atomic_store(&job->out_of_memory, true);
        free(scores);
        free(kv);
        return;
    }
    for (int64_t item = begin; item < end; item++) {
        int64_t token = item / p->n_head;
        uint32_t h = (uint32_t)(item % p->n_head);
        uint32_t hkv = h / group;
        int64_t pos = vka_cpu_layout_pos(job->layout, token);
        int64_t first = vka_attention_first_key(p, pos), n_keys = pos + 1; /* causal, within the window */
        const float *q = f32_row(job->q, token) + (size_t)h * p->head_dim;
        float max = -INFINITY;
        for (int64_t t = first; t < n_keys; t++) {
            cache_head(job->k, vka_cpu_layout_row(job->layout, token, t), hkv, p->head_dim, kv);
            scores[t] = vka_cpu_dot(q, kv, p->head_dim) * p->scale;
            if (p->softcap > 0.0f) scores[t] = p->softcap * tanhf(scores[t] / p->softcap);
            if (scores[t] > max) max = scores[t];
        }
        double sum = 0.0;
        for (int64_t t = first; t < n_keys; t++) {
            scores[t] = expf(scores[t] - max);
            sum += scores[t];
        }
        float *out = f32_row(job->dst, token) + (size_t)h * p->head_dim_v;
        memset(out, 0, p->head_dim_v * sizeof(float));
        for (int64_t t = first; t < n_keys; t++) {
            float w = (float)(scores[t] / sum);
            cache_head(job->v, vka_cpu_layout_row(job->layout, token, t), hkv, p->head_dim_v, kv);
            for (uint32_t i = 0; i < p->head_dim_v; i++) out[i] += w * kv[i];
        }
    }
    free(scores);
    free(kv);
}

vka_status vka_cpu_attention(vka_cpu_pool *pool, vka_tensor *dst, const vka_tensor *q, const vka_tensor *k_cache,
                             const vka_tensor *v_cache, const vka_attention_params *p, const vka_tensor *layout,
                             uint32_t n_past) {
    if (p->n_head_kv == 0 || p->n_head % p->n_head_kv != 0)
        return vka_fail(VKA_ERR_INTERNAL, "attention: %u query heads on %u KV heads", p->n_head, p->n_head_kv);
    vka_cpu_layout l;
    VKA_TRY(vka_cpu_layout_check_keys(&l, layout, q->ne[1], n_past, k_cache, v_cache));
    attention_job job = {dst, q, k_cache, v_cache, p, &l, false};
    int64_t keys = l.max_pos + 1;
    vka_cpu_parallel_for(pool, q->ne[1] * p->n_head, keys * (p->head_dim + p->head_dim_v), attention_items, &job);
    if (atomic_load(&job.out_of_memory)) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory in attention");
    return VKA_OK;
}

void vka_cpu_swiglu(vka_tensor *dst, const vka_tensor *gate, const vka_tensor *up) {
    for (int64_t j = 0; j < gate->ne[1]; j++) {
        const float *g = f32_row(gate, j), *u = f32_row(up, j);
        float *out = f32_row(dst, j);
        for (int64_t i = 0; i < gate->ne[0]; i++) out[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
    }
}

float vka_cpu_gelu(float x) {
    const float sqrt_2_over_pi = 0.7978845608028654f;
    return 0.5f * x * (1.0f + tanhf(sqrt_2_over_pi * (x + 0.044715f * x * x * x)));
}

void vka_cpu_geglu(vka_tensor *dst, const vka_tensor *gate, const vka_tensor *up) {
    for (int64_t j = 0; j < gate->ne[1]; j++) {
        const float *g = f32_row(gate, j), *u = f32_row(up, j);
        float *out = f32_row(dst, j);
        for (int64_t i = 0; i < gate->ne[0]; i++) out[i] = vka_cpu_gelu(g[i]) * u[i];
    }
}

void vka_cpu_scale(vka_tensor *dst, const vka_tensor *x, float scale) {
    for (int64_t j = 0; j < x->ne[1]; j++) {
        const float *in = f32_row(x, j);
        float *out = f32_row(dst, j);
        for (int64_t i = 0; i < x->ne[0]; i++) out[i] = in[i] * scale;
    }
}

void vka_cpu_softcap(vka_tensor *dst, const vka_tensor *x, float cap) {
    for (int64_t j = 0; j < x->ne[1]; j++) {
        const float *in = f32_row(x, j);
        float *out = f32_row(dst, j);
        for (int64_t i = 0; i < x->ne[0]; i++) out[i] = cap * tanhf(in[i] / cap);
    }
}

void vka_cpu_add(vka_tensor *dst, const vka_tensor *a, const vka_tensor *b) {
    for (int64_t j = 0; j < a->ne[1]; j++) {
        const float *x = f32_row(a, j), *y = f32_row(b, j);
        float *out = f32_row(dst, j);
        for (int64_t i = 0; i < a->ne[0]; i++) out[i] = x[i] + y[i];
    }
}

void vka_cpu_argmax(vka_tensor *dst, const vka_tensor *x) {
    int32_t *out = dst->data;
    for (int64_t j = 0; j < x->ne[1]; j++) {
        const float *v = f32_row(x, j);
        int64_t best = 0;
        for (int64_t i = 1; i < x->ne[0]; i++)
            if (v[i] > v[best]) best = i;
        out[j] = (int32_t)best;
    }
}
