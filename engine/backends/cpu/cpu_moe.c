/* cpu_moe.c — the mixture-of-experts ops (backend.h: MOE_ROUTE, MATMUL_ID,
 * MOE_SUM) for both CPU backends: the router's softmax and top-k, expert
 * products grouped by expert, and the weighted sum of the experts' outputs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/cpu_moe.h"
#include "backends/cpu/cpu_packed.h"
#include "base/status.h"

static float *f32_row(const vka_tensor *t, int64_t row) { return (float *)((char *)t->data + (size_t)row * t->row_bytes); }

/* Whether expert `e` was already picked among the first n of ids. */
static bool picked(const float *ids, uint32_t n, int64_t e) {
    for (uint32_t s = 0; s < n; s++)
        if ((int64_t)ids[s] == e) return true;
    return false;
}

vka_status vka_cpu_moe_route(vka_tensor *dst, const vka_tensor *logits, const vka_moe_params *p) {
    uint32_t k = p->n_used;
    int64_t n_expert = logits->ne[0];
    if (k == 0 || k > n_expert || dst->ne[0] != 2 * (int64_t)k || dst->ne[1] != logits->ne[1])
        return vka_fail(VKA_ERR_INTERNAL, "moe_route: %u of %lld experts into rows of %lld", k, (long long)n_expert,
                        (long long)dst->ne[0]);
    for (int64_t t = 0; t < logits->ne[1]; t++) {
        const float *r = f32_row(logits, t);
        float *w = f32_row(dst, t), *ids = w + k;
        float max = -INFINITY;
        for (int64_t e = 0; e < n_expert; e++) max = fmaxf(max, r[e]);
        double sum = 0.0;
        for (int64_t e = 0; e < n_expert; e++) sum += exp((double)(r[e] - max));
        /* top-k by logit (the softmax keeps the order), lowest id first on ties */
        double picked_sum = 0.0;
        for (uint32_t s = 0; s < k; s++) {
            int64_t best = -1;
            for (int64_t e = 0; e < n_expert; e++)
                if (!picked(ids, s, e) && (best < 0 || r[e] > r[best])) best = e;
            ids[s] = (float)best;
            w[s] = (float)(exp((double)(r[best] - max)) / sum);
            picked_sum += w[s];
        }
        if (p->norm) {
            float div = fmaxf((float)picked_sum, VKA_MOE_NORM_MIN);
            for (uint32_t s = 0; s < k; s++) w[s] /= div;
        }
    }
    return VKA_OK;
}

/* The expert of slot s of route row t, checked against n_expert. */
static vka_status route_expert(const vka_tensor *route, uint32_t k, int64_t t, uint32_t s, int64_t n_expert,
                               int64_t *e) {
    float id = f32_row(route, t)[k + s];
    if (!(id >= 0.0f) || id >= (float)n_expert || id != floorf(id))
        return vka_fail(VKA_ERR_INTERNAL, "matmul_id: expert id %g outside 0..%lld", (double)id,
                        (long long)n_expert - 1);
    *e = (int64_t)id;
    return VKA_OK;
}

/* Expert e's matrix as a tensor of its own: its rows of w, and, when the
 * fast backend repacked w and the slab starts on a packed group, the
 * matching groups of the packed copy (`packed` holds them). */
static vka_tensor expert_slab(const vka_tensor *w, int64_t e, int64_t out, vka_packed *packed) {
    vka_tensor slab = *w;
    slab.ne[1] = out;
    slab.nbytes = (size_t)out * w->row_bytes;
    slab.data = (char *)w->data + (size_t)(e * out) * w->row_bytes;
    slab.impl = NULL;
    const vka_packed *p = w->impl;
    if (p && out % VKA_PACK_ROWS == 0 && p->rows == w->ne[1]) {
        *packed = *p;
        packed->rows = out;
        packed->n_groups = out / VKA_PACK_ROWS;
        packed->data = p->data + (size_t)(e * packed->n_groups) * p->group_bytes;
        slab.impl = packed;
    }
    return slab;
}

/* A scratch tensor of `rows` rows of ne0 floats at data. */
static vka_tensor scratch_rows(float *data, int64_t ne0, int64_t rows) {
    vka_tensor t;
    vka_tensor_init(&t, "moe scratch", VKA_TYPE_F32, ne0, rows, VKA_USAGE_ACTIVATION);
    t.data = data;
    return t;
}

typedef struct id_work {
    const vka_fast_kernels *kern;
    vka_cpu_pool *pool;
    vka_tensor *dst;
    const vka_tensor *w, *x, *route;
    const vka_moe_params *p;
    int64_t *rows;                 /* dst rows (t*k + s) of the current expert */
    float *xs, *ys;                /* gathered inputs, products */
} id_work;

/* One expert's product over the n_rows rows of the batch that chose it. */
static vka_status expert_product(id_work *wk, int64_t e, int64_t n_rows) {
    int64_t in = wk->w->ne[0], out = wk->dst->ne[0];
    uint32_t k = wk->p->n_used;
    for (int64_t i = 0; i < n_rows; i++) {
        int64_t src_row = wk->p->per_slot ? wk->rows[i] : wk->rows[i] / k;
        memcpy(wk->xs + i * in, f32_row(wk->x, src_row), (size_t)in * sizeof(float));
    }
    vka_packed packed;
    vka_tensor slab = expert_slab(wk->w, e, out, &packed);
    vka_tensor xs = scratch_rows(wk->xs, in, n_rows), ys = scratch_rows(wk->ys, out, n_rows);
    if (wk->kern) VKA_TRY(vka_cpu_fast_matmul(wk->kern, wk->pool, &ys, &slab, &xs, NULL, false));
    else VKA_TRY(vka_cpu_matmul(wk->pool, &ys, &slab, &xs, NULL, false));
    for (int64_t i = 0; i < n_rows; i++)
        memcpy(f32_row(wk->dst, wk->rows[i]), wk->ys + i * out, (size_t)out * sizeof(float));
    return VKA_OK;
}

static vka_status matmul_id_grouped(id_work *wk, int64_t n_expert) {
    uint32_t k = wk->p->n_used;
    int64_t n_tokens = wk->route->ne[1];
    for (int64_t e = 0; e < n_expert; e++) {
        int64_t n_rows = 0;
        for (int64_t t = 0; t < n_tokens; t++)
            for (uint32_t s = 0; s < k; s++) {
                int64_t id = -1;
                VKA_TRY(route_expert(wk->route, k, t, s, n_expert, &id));
                if (id == e) wk->rows[n_rows++] = t * k + s;
            }
        if (n_rows) VKA_TRY(expert_product(wk, e, n_rows));
    }
    return VKA_OK;
}

vka_status vka_cpu_matmul_id(const vka_fast_kernels *kern, vka_cpu_pool *pool, vka_tensor *dst, const vka_tensor *w,
                             const vka_tensor *x, const vka_tensor *route, const vka_moe_params *p) {
    uint32_t k = p->n_used;
    int64_t n_tokens = route->ne[1], out = dst->ne[0], in = w->ne[0];
    int64_t x_rows = p->per_slot ? n_tokens * k : n_tokens;
    if (k == 0 || route->ne[0] != 2 * (int64_t)k || out <= 0 || w->ne[1] % out || x->ne[0] != in ||
        x->ne[1] < x_rows || dst->ne[1] != n_tokens * k)
        return vka_fail(VKA_ERR_INTERNAL, "matmul_id shapes do not agree");
    /* a token picks an expert at most once: at most n_tokens rows per expert */
    id_work wk = {kern, pool, dst, w, x, route, p, NULL, NULL, NULL};
    wk.rows = malloc((size_t)(n_tokens * k) * sizeof *wk.rows);
    wk.xs = malloc((size_t)(n_tokens * k * in) * sizeof(float));
    wk.ys = malloc((size_t)(n_tokens * k * out) * sizeof(float));
    vka_status st = wk.rows && wk.xs && wk.ys ? matmul_id_grouped(&wk, w->ne[1] / out)
                                              : vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory in matmul_id");
    free(wk.rows);
    free(wk.xs);
    free(wk.ys);
    return st;
}

vka_status vka_cpu_moe_sum(vka_tensor *dst, const vka_tensor *src, const vka_tensor *route, const vka_moe_params *p) {
    uint32_t k = p->n_used;
    if (k == 0 || route->ne[0] != 2 * (int64_t)k || src->ne[0] != dst->ne[0] || src->ne[1] != dst->ne[1] * k ||
        route->ne[1] != dst->ne[1])
        return vka_fail(VKA_ERR_INTERNAL, "moe_sum shapes do not agree");
    for (int64_t t = 0; t < dst->ne[1]; t++) {
        const float *w = f32_row(route, t);
        float *out = f32_row(dst, t);
        for (int64_t i = 0; i < dst->ne[0]; i++) {
            float acc = 0.0f;
            for (uint32_t s = 0; s < k; s++) acc += w[s] * f32_row(src, t * k + s)[i];
            out[i] += acc;
        }
    }
    return VKA_OK;
}
