/* session.c — sessions: KV cache and buffers on the model's backend, the
 * context's tokens, and evaluation of tokens in batches. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/session.h"
#include "model/generator.h"
#include "base/status.h"

#define LOGITS_BUFFER_BYTES (64u << 20) /* caps rows of logits per step for big vocabularies */

void vka_session_params_default(vka_session_params *p) {
    memset(p, 0, sizeof *p);
    p->n_batch = 512;
    p->kv_type = VKA_KV_AUTO;
}

static vka_status alloc_tensor(vka_session *s, vka_tensor *t, const char *name, vka_type type, int64_t ne0,
                               int64_t ne1, vka_tensor_usage usage) {
    vka_tensor_init(t, name, type, ne0, ne1, usage);
    vka_backend *b = s->model->backend;
    vka_status st = b->ops->tensor_alloc(b, t, NULL);
    if (st != VKA_OK) {
        t->nbytes = 0;
        return vka_fail_context(st, "allocating %s", name);
    }
    return VKA_OK;
}

static void free_tensor(vka_session *s, vka_tensor *t) {
    if (t->nbytes) s->model->backend->ops->tensor_free(s->model->backend, t);
    t->nbytes = 0;
}

static vka_status alloc_activations(vka_session *s) {
    const vka_hparams *hp = &s->model->hp;
    vka_activations *a = &s->act;
    int64_t B = s->n_batch;
    VKA_TRY(alloc_tensor(s, &a->ids, "ids", VKA_TYPE_I32, 1, B, VKA_USAGE_INPUT));
    VKA_TRY(alloc_tensor(s, &a->x, "x", VKA_TYPE_F32, hp->n_embd, B, VKA_USAGE_ACTIVATION));
    VKA_TRY(alloc_tensor(s, &a->xb, "xb", VKA_TYPE_F32, hp->n_embd, B, VKA_USAGE_ACTIVATION));
    VKA_TRY(alloc_tensor(s, &a->q, "q", VKA_TYPE_F32, (int64_t)hp->n_head * hp->head_dim, B, VKA_USAGE_ACTIVATION));
    VKA_TRY(alloc_tensor(s, &a->k, "k", VKA_TYPE_F32, (int64_t)hp->n_head_kv * hp->head_dim, B, VKA_USAGE_ACTIVATION));
    VKA_TRY(alloc_tensor(s, &a->v, "v", VKA_TYPE_F32, (int64_t)hp->n_head_kv * hp->head_dim_v, B,
                         VKA_USAGE_ACTIVATION));
    VKA_TRY(alloc_tensor(s, &a->att, "att", VKA_TYPE_F32, (int64_t)hp->n_head * hp->head_dim_v, B,
                         VKA_USAGE_ACTIVATION));
    VKA_TRY(alloc_tensor(s, &a->gate, "gate", VKA_TYPE_F32, hp->n_ff, B, VKA_USAGE_ACTIVATION));
    VKA_TRY(alloc_tensor(s, &a->up, "up", VKA_TYPE_F32, hp->n_ff, B, VKA_USAGE_ACTIVATION));
    VKA_TRY(alloc_tensor(s, &a->logits, "logits", VKA_TYPE_F32, hp->n_vocab, s->n_logit_rows, VKA_USAGE_OUTPUT));
    VKA_TRY(alloc_tensor(s, &a->argmax, "argmax", VKA_TYPE_I32, 1, s->n_logit_rows, VKA_USAGE_OUTPUT));
    return VKA_OK;
}

static vka_status alloc_kv(vka_session *s) {
    const vka_hparams *hp = &s->model->hp;
    vka_type type = s->kv_f16 ? VKA_TYPE_F16 : VKA_TYPE_F32;
    s->k_cache = calloc(hp->n_layer, sizeof *s->k_cache);
    s->v_cache = calloc(hp->n_layer, sizeof *s->v_cache);
    if (!s->k_cache || !s->v_cache) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
    for (uint32_t il = 0; il < hp->n_layer; il++) {
        VKA_TRY(alloc_tensor(s, &s->k_cache[il], "k_cache", type, (int64_t)hp->n_head_kv * hp->head_dim, s->n_ctx,
                             VKA_USAGE_KV));
        VKA_TRY(alloc_tensor(s, &s->v_cache[il], "v_cache", type, (int64_t)hp->n_head_kv * hp->head_dim_v, s->n_ctx,
                             VKA_USAGE_KV));
    }
    return VKA_OK;
}

static vka_status check_params(const vka_model *m, const vka_session_params *p) {
    if (m->vocab_only) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "'%s' was loaded vocab-only: it cannot run", m->path);
    if (p->n_ctx > (1u << 24)) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "n_ctx %u is too large", p->n_ctx);
    if (p->n_batch == 0 || p->n_batch > 8192)
        return vka_fail(VKA_ERR_INVALID_ARGUMENT, "n_batch %u is out of range (1..8192)", p->n_batch);
    if (p->kv_type != VKA_KV_AUTO && p->kv_type != VKA_KV_F32 && p->kv_type != VKA_KV_F16)
        return vka_fail(VKA_ERR_INVALID_ARGUMENT, "unknown kv_type %d", (int)p->kv_type);
    return VKA_OK;
}

static void format_bytes(uint64_t n, char *buf, size_t cap) {
    if (n >= (1ull << 30)) snprintf(buf, cap, "%.1f GiB", (double)n / (double)(1ull << 30));
    else if (n >= (1ull << 20)) snprintf(buf, cap, "%.1f MiB", (double)n / (double)(1ull << 20));
    else snprintf(buf, cap, "%.1f KiB", (double)n / 1024.0);
}

/* Bytes of the activation buffers (alloc_activations) and, on the host, the
 * token and logit arrays of a session. */
static uint64_t buffer_bytes(const vka_session *s) {
    const vka_hparams *hp = &s->model->hp;
    uint64_t per_token = 2ull * hp->n_embd + (uint64_t)hp->n_head * hp->head_dim +
                         (uint64_t)hp->n_head_kv * (hp->head_dim + hp->head_dim_v) +
                         (uint64_t)hp->n_head * hp->head_dim_v + 2ull * hp->n_ff + 1;
    uint64_t logits = ((uint64_t)hp->n_vocab + 1) * s->n_logit_rows;
    return (per_token * s->n_batch + logits + s->n_ctx + hp->n_vocab) * sizeof(float);
}

/* Sizes that follow from the context and batch asked for are compared with
 * the memory left before anything is allocated: a clear error instead of an
 * out-of-memory kill halfway through. */
static vka_status check_memory(const vka_session *s) {
    const vka_backend *b = s->model->backend;
    vka_memory_budget budget;
    if (!b->ops->memory_budget || !b->ops->memory_budget(s->model->backend, &budget)) return VKA_OK;
    uint64_t kv = vka_model_kv_bytes(s->model, s->n_ctx, s->kv_f16), buffers = buffer_bytes(s);
    if (kv + buffers <= budget.bytes) return VKA_OK;
    char kv_text[32], buf_text[32], avail_text[32];
    format_bytes(kv, kv_text, sizeof kv_text);
    format_bytes(buffers, buf_text, sizeof buf_text);
    format_bytes(budget.bytes, avail_text, sizeof avail_text);
    return vka_fail(budget.device ? VKA_ERR_OUT_OF_DEVICE_MEMORY : VKA_ERR_OUT_OF_MEMORY,
                    "a context of %u tokens needs %s of KV cache (%s) and %s of buffers for batches of %u, but %s "
                    "is available in %s: lower %s", s->n_ctx, kv_text, s->kv_f16 ? "f16" : "f32", buf_text,
                    s->n_batch, avail_text, budget.where,
                    kv >= buffers ? "the context size (n_ctx, -c)" : "the batch size (n_batch, -b)");
}

uint32_t vka_session_default_n_ctx(const vka_model *m) {
    if (!m) return 0;
    uint32_t train = m->hp.n_ctx_train;
    return train && train < VKA_DEFAULT_N_CTX ? train : VKA_DEFAULT_N_CTX;
}

/* Positions past the training context are ones the model never saw:
 * allowed, but said, since output usually degrades there. */
static void note_context_warning(vka_session *s) {
    uint32_t train = s->model->hp.n_ctx_train;
    s->warning[0] = '\0';
    if (train && s->n_ctx > train)
        snprintf(s->warning, sizeof s->warning, "the context of %u tokens is larger than the model's training context "
                 "(%u tokens); output may degrade past that", s->n_ctx, train);
}

const char *vka_session_warning(const vka_session *s) { return s && s->warning[0] ? s->warning : NULL; }

vka_status vka_session_create(vka_model *model, const vka_session_params *params, vka_session **out) {
    if (!model || !out) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_session_create: model and out are required");
    *out = NULL;
    vka_session_params defaults;
    if (!params) {
        vka_session_params_default(&defaults);
        params = &defaults;
    }
    VKA_TRY(check_params(model, params));
    vka_session *s = calloc(1, sizeof *s);
    if (!s) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
    s->model = model;
    vka_model_retain(model);
    s->n_ctx = params->n_ctx ? params->n_ctx : vka_session_default_n_ctx(model);
    note_context_warning(s);
    s->n_batch = params->n_batch < s->n_ctx ? params->n_batch : s->n_ctx;
    uint64_t rows = LOGITS_BUFFER_BYTES / ((uint64_t)model->hp.n_vocab * sizeof(float));
    s->n_logit_rows = rows < 1 ? 1 : rows > s->n_batch ? s->n_batch : (uint32_t)rows;
    s->kv_f16 = params->kv_type == VKA_KV_F16 || (params->kv_type == VKA_KV_AUTO && model->backend->kv_f16_default);
    atomic_init(&s->active, 0);
    atomic_init(&s->cancel_id, 0);
    vka_status st = check_memory(s);
    if (st != VKA_OK) {
        vka_model_release(model);
        free(s);
        return st;
    }
    s->tokens = malloc(s->n_ctx * sizeof *s->tokens);
    s->logits = malloc(model->hp.n_vocab * sizeof *s->logits);
    st = s->tokens && s->logits ? VKA_OK : vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
    if (st == VKA_OK) st = alloc_activations(s);
    if (st == VKA_OK) st = alloc_kv(s);
    if (st == VKA_OK) st = vka_forward_build(s, 1, false, &s->decode);
    if (st != VKA_OK) {
        vka_session_free(s);
        return st;
    }
    *out = s;
    return VKA_OK;
}

void vka_session_free(vka_session *s) {
    if (!s) return;
    if (s->generator) vka_generator_detach(s->generator);
    vka_forward_graph_free(&s->decode);
    vka_forward_graph_free(&s->prefill);
    vka_tensor *acts[] = {&s->act.ids, &s->act.x, &s->act.xb, &s->act.q, &s->act.k, &s->act.v,
                          &s->act.att, &s->act.gate, &s->act.up, &s->act.logits, &s->act.argmax};
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++) free_tensor(s, acts[i]);
    for (uint32_t il = 0; s->k_cache && il < s->model->hp.n_layer; il++) free_tensor(s, &s->k_cache[il]);
    for (uint32_t il = 0; s->v_cache && il < s->model->hp.n_layer; il++) free_tensor(s, &s->v_cache[il]);
    free(s->k_cache);
    free(s->v_cache);
    free(s->tokens);
    free(s->logits);
    vka_model_release(s->model);
    free(s);
}

vka_status vka_session_reset(vka_session *s) {
    if (!s) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "session is NULL");
    VKA_TRY(vka_session_check_idle(s, "vka_session_reset"));
    s->n_past = s->n_evaluated = 0;
    s->logits_fresh = false;
    return VKA_OK;
}

vka_status vka_session_rewind(vka_session *s, uint32_t n_past) {
    if (!s) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "session is NULL");
    VKA_TRY(vka_session_check_idle(s, "vka_session_rewind"));
    if (n_past > s->n_past)
        return vka_fail(VKA_ERR_INVALID_ARGUMENT, "cannot rewind to %u: the session holds %u tokens", n_past, s->n_past);
    if (n_past == s->n_past) return VKA_OK;
    s->n_past = n_past;
    /* The last kept token is evaluated again so that fresh logits follow it;
     * its KV row is rewritten with the same values. */
    uint32_t keep = n_past ? n_past - 1 : 0;
    if (s->n_evaluated > keep) s->n_evaluated = keep;
    s->logits_fresh = false;
    return VKA_OK;
}

vka_status vka_session_fork(const vka_session *src, vka_session **out) {
    if (!src || !out) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_session_fork: session and out are required");
    *out = NULL;
    VKA_TRY(vka_session_check_idle(src, "vka_session_fork"));
    vka_session_params p = {.n_ctx = src->n_ctx, .n_batch = src->n_batch,
                            .kv_type = src->kv_f16 ? VKA_KV_F16 : VKA_KV_F32};
    vka_session *s;
    VKA_TRY(vka_session_create(src->model, &p, &s));
    vka_backend *b = src->model->backend;
    for (uint32_t il = 0; il < src->model->hp.n_layer; il++) {
        vka_status st = b->ops->tensor_copy(b, &s->k_cache[il], &src->k_cache[il], src->k_cache[il].row_bytes * src->n_evaluated);
        if (st == VKA_OK)
            st = b->ops->tensor_copy(b, &s->v_cache[il], &src->v_cache[il], src->v_cache[il].row_bytes * src->n_evaluated);
        if (st != VKA_OK) {
            vka_session_free(s);
            return st;
        }
    }
    memcpy(s->tokens, src->tokens, src->n_past * sizeof *s->tokens);
    memcpy(s->logits, src->logits, src->model->hp.n_vocab * sizeof *s->logits);
    s->n_past = src->n_past;
    s->n_evaluated = src->n_evaluated;
    s->logits_fresh = src->logits_fresh;
    /* Without a host copy of the parent's logits, the fork evaluates its last
     * token again (same values, deterministically) to get its own. */
    if (!s->logits_fresh && s->n_evaluated > 0) s->n_evaluated--;
    *out = s;
    return VKA_OK;
}

uint32_t vka_session_n_past(const vka_session *s) { return s ? s->n_past : 0; }
uint32_t vka_session_n_ctx(const vka_session *s) { return s ? s->n_ctx : 0; }
vka_kv_type vka_session_kv_type(const vka_session *s) { return !s ? VKA_KV_AUTO : s->kv_f16 ? VKA_KV_F16 : VKA_KV_F32; }
const vka_model *vka_session_model(const vka_session *s) { return s ? s->model : NULL; }
const int32_t *vka_session_tokens(const vka_session *s) { return s ? s->tokens : NULL; }

vka_status vka_session_check_idle(const vka_session *s, const char *what) {
    if (!s->generator) return VKA_OK;
    return vka_fail(VKA_ERR_BUSY, "%s: a generator is open on this session; finish and free it first "
                    "(vka_generator_free)", what);
}

/* Names the generation in progress, if any (see the comment on `active`);
 * with none in progress there is nothing to stop and nothing is kept. */
void vka_session_cancel(vka_session *s) {
    if (!s) return;
    uint_fast64_t active = atomic_load(&s->active);
    if (active) atomic_store(&s->cancel_id, active);
}

/* The graph for a step of n tokens: the reusable decode graph, or a prefill
 * graph rebuilt when the shape changes. */
static vka_status graph_for(vka_session *s, uint32_t n, bool all_logits, vka_forward_graph **out) {
    if (n == 1 && !all_logits) {
        *out = &s->decode;
        return VKA_OK;
    }
    if (!s->prefill.built || s->prefill.n_tokens != n || s->prefill.all_logits != all_logits) {
        vka_forward_graph_free(&s->prefill);
        VKA_TRY(vka_forward_build(s, n, all_logits, &s->prefill));
    }
    *out = &s->prefill;
    return VKA_OK;
}

/* Runs one step over tokens[n_evaluated, n_evaluated + n). */
static vka_status evaluate_chunk(vka_session *s, uint32_t n, bool all_logits, float *all_out) {
    vka_backend *b = s->model->backend;
    VKA_TRY(b->ops->tensor_set(b, &s->act.ids, s->tokens + s->n_evaluated, 0, n * sizeof(int32_t)));
    vka_forward_graph *fg;
    VKA_TRY(graph_for(s, n, all_logits, &fg));
    s->logits_fresh = false;
    VKA_TRY(vka_backend_compute(b, &fg->graph, s->n_evaluated));
    s->n_evaluated += n;
    size_t row = s->model->hp.n_vocab * sizeof(float);
    if (all_logits) {
        VKA_TRY(b->ops->tensor_get(b, &s->act.logits, all_out, 0, row * n));
        memcpy(s->logits, all_out + (size_t)(n - 1) * s->model->hp.n_vocab, row);
        s->logits_fresh = true;
    }
    return VKA_OK;
}

static vka_status evaluate(vka_session *s, float *all_logits) {
    while (s->n_evaluated < s->n_past) {
        uint32_t left = s->n_past - s->n_evaluated;
        uint32_t cap = all_logits ? s->n_logit_rows : s->n_batch;
        uint32_t n = left < cap ? left : cap;
        float *out = all_logits ? all_logits : NULL;
        VKA_TRY(evaluate_chunk(s, n, all_logits != NULL, out));
        if (all_logits) all_logits += (size_t)n * s->model->hp.n_vocab;
    }
    return VKA_OK;
}

vka_status vka_session_evaluate_pending(vka_session *s) { return evaluate(s, NULL); }

static vka_status append_tokens(vka_session *s, const int32_t *ids, size_t n) {
    if (n > s->n_ctx - s->n_past)
        return vka_fail(VKA_ERR_CONTEXT_FULL, "%zu tokens do not fit: the session holds %u of %u", n, s->n_past,
                        s->n_ctx);
    uint32_t n_vocab = s->model->hp.n_vocab;
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || (uint32_t)ids[i] >= n_vocab)
            return vka_fail(VKA_ERR_INVALID_ARGUMENT, "token id %d at index %zu is outside the vocabulary (0..%u)",
                            ids[i], i, n_vocab - 1);
    if (n) memcpy(s->tokens + s->n_past, ids, n * sizeof *ids);   /* ids may be NULL when n is 0 */
    s->n_past += (uint32_t)n;
    return VKA_OK;
}

vka_status vka_session_push_pending(vka_session *s, int32_t token) { return append_tokens(s, &token, 1); }

/* On failure the context is rolled back to what was evaluated before. */
static vka_status feed(vka_session *s, const int32_t *ids, size_t n, float *all_logits) {
    if (!s || (!ids && n)) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_session_feed: session and ids are required");
    if (all_logits && s->n_evaluated < s->n_past) VKA_TRY(evaluate(s, NULL)); /* pending tokens first: rows = ids */
    uint32_t before = s->n_past;
    VKA_TRY(append_tokens(s, ids, n));
    vka_status st = evaluate(s, all_logits);
    if (st != VKA_OK) {
        s->n_past = before < s->n_evaluated ? before : s->n_evaluated;
        s->n_evaluated = s->n_past;
        s->logits_fresh = false;
    }
    return st;
}

vka_status vka_session_feed_tokens(vka_session *s, const int32_t *ids, size_t n) { return feed(s, ids, n, NULL); }

vka_status vka_session_feed(vka_session *s, const int32_t *ids, size_t n) {
    if (s) VKA_TRY(vka_session_check_idle(s, "vka_session_feed"));
    return feed(s, ids, n, NULL);
}

vka_status vka_session_feed_all_logits(vka_session *s, const int32_t *ids, size_t n, float *logits) {
    if (!logits) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_session_feed_all_logits: logits is NULL");
    if (s) VKA_TRY(vka_session_check_idle(s, "vka_session_feed_all_logits"));
    return feed(s, ids, n, logits);
}

vka_status vka_session_get_logits(vka_session *s, const float **out) {
    *out = NULL;
    if (!s || s->n_past == 0) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "no logits: nothing has been fed");
    VKA_TRY(evaluate(s, NULL));
    if (!s->logits_fresh) {
        vka_backend *b = s->model->backend;
        VKA_TRY(b->ops->tensor_get(b, &s->act.logits, s->logits, 0, s->model->hp.n_vocab * sizeof(float)));
        s->logits_fresh = true;
    }
    *out = s->logits;
    return VKA_OK;
}

const float *vka_session_logits(vka_session *s) {
    const float *logits;
    return vka_session_get_logits(s, &logits) == VKA_OK ? logits : NULL;
}

vka_status vka_session_argmax(vka_session *s, int32_t *token) {
    if (!s || !token) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_session_argmax: session and token are required");
    if (s->n_past == 0) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "no logits: nothing has been fed");
    VKA_TRY(evaluate(s, NULL));
    if (s->logits_fresh) {
        int32_t best = 0;
        for (uint32_t i = 1; i < s->model->hp.n_vocab; i++)
            if (s->logits[i] > s->logits[best]) best = (int32_t)i;
        *token = best;
        return VKA_OK;
    }
    vka_backend *b = s->model->backend;
    return b->ops->tensor_get(b, &s->act.argmax, token, 0, sizeof *token);
}
