/* scheduler.c — schedulers: creation (the public one and the private one
 * behind every vka_session_create), their buffers, and one forward pass
 * over a ragged batch of sequences (vka_sched_run). The step that gathers
 * the work of every generator is in scheduler_step.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/scheduler.h"
#include "base/status.h"

#define LOGITS_BUFFER_BYTES (64u << 20) /* caps rows of logits per step for big vocabularies */

_Static_assert(VKA_KV_BLOCK == VKA_KV_BLOCK_TOKENS, "the public block size is the backends' layout block");

void vka_scheduler_params_default(vka_scheduler_params *p) {
    memset(p, 0, sizeof *p);
    p->n_batch = 512;
    p->n_seq_max = 64;
    p->kv_type = VKA_KV_AUTO;
}

/* ------------------------------------------------------------ buffers */

static vka_status alloc_tensor(vka_scheduler *sc, vka_tensor *t, const char *name, vka_type type, int64_t ne0,
                               int64_t ne1, vka_tensor_usage usage) {
    vka_tensor_init(t, name, type, ne0, ne1, usage);
    vka_backend *b = sc->model->backend;
    vka_status st = b->ops->tensor_alloc(b, t, NULL);
    if (st != VKA_OK) {
        t->nbytes = 0;
        return vka_fail_context(st, "allocating %s", name);
    }
    return VKA_OK;
}

static vka_tensor *act_tensors(vka_activations *a, size_t *n) {
    *n = sizeof *a / sizeof(vka_tensor);
    return (vka_tensor *)a;
}

static vka_status alloc_activations(vka_scheduler *sc) {
    const vka_hparams *hp = &sc->model->hp;
    vka_activations *a = &sc->act;
    int64_t B = sc->n_batch, R = sc->n_logit_rows;
    VKA_TRY(alloc_tensor(sc, &a->ids, "ids", VKA_TYPE_I32, 1, B, VKA_USAGE_INPUT));
    VKA_TRY(alloc_tensor(sc, &a->layout, "layout", VKA_TYPE_I32, sc->layout_words, 1, VKA_USAGE_INPUT));
    if (sc->layout_swa_host)
        VKA_TRY(alloc_tensor(sc, &a->layout_swa, "layout_swa", VKA_TYPE_I32, sc->layout_words, 1, VKA_USAGE_INPUT));
    VKA_TRY(alloc_tensor(sc, &a->out_ids, "out_ids", VKA_TYPE_I32, 1, R, VKA_USAGE_INPUT));
    VKA_TRY(alloc_tensor(sc, &a->x, "x", VKA_TYPE_F32, hp->n_embd, B, VKA_USAGE_ACTIVATION));
    VKA_TRY(alloc_tensor(sc, &a->xb, "xb", VKA_TYPE_F32, hp->n_embd, B, VKA_USAGE_ACTIVATION));
    VKA_TRY(alloc_tensor(sc, &a->q, "q", VKA_TYPE_F32, (int64_t)hp->n_head * hp->head_dim, B, VKA_USAGE_ACTIVATION));
    VKA_TRY(alloc_tensor(sc, &a->k, "k", VKA_TYPE_F32, (int64_t)hp->n_head_kv * hp->head_dim, B, VKA_USAGE_ACTIVATION));
    VKA_TRY(alloc_tensor(sc, &a->v, "v", VKA_TYPE_F32, (int64_t)hp->n_head_kv * hp->head_dim_v, B,
                         VKA_USAGE_ACTIVATION));
    VKA_TRY(alloc_tensor(sc, &a->att, "att", VKA_TYPE_F32, (int64_t)hp->n_head * hp->head_dim_v, B,
                         VKA_USAGE_ACTIVATION));
    if (hp->n_expert) {
        int64_t K = hp->n_expert_used;
        VKA_TRY(alloc_tensor(sc, &a->router, "router", VKA_TYPE_F32, hp->n_expert, B, VKA_USAGE_ACTIVATION));
        VKA_TRY(alloc_tensor(sc, &a->route, "route", VKA_TYPE_F32, 2 * K, B, VKA_USAGE_ACTIVATION));
        VKA_TRY(alloc_tensor(sc, &a->moe_gate, "moe_gate", VKA_TYPE_F32, hp->n_ff_exp, K * B, VKA_USAGE_ACTIVATION));
        VKA_TRY(alloc_tensor(sc, &a->moe_up, "moe_up", VKA_TYPE_F32, hp->n_ff_exp, K * B, VKA_USAGE_ACTIVATION));
        VKA_TRY(alloc_tensor(sc, &a->moe_down, "moe_down", VKA_TYPE_F32, hp->n_embd, K * B, VKA_USAGE_ACTIVATION));
    } else {
        VKA_TRY(alloc_tensor(sc, &a->gate, "gate", VKA_TYPE_F32, hp->n_ff, B, VKA_USAGE_ACTIVATION));
        VKA_TRY(alloc_tensor(sc, &a->up, "up", VKA_TYPE_F32, hp->n_ff, B, VKA_USAGE_ACTIVATION));
    }
    VKA_TRY(alloc_tensor(sc, &a->logits, "logits", VKA_TYPE_F32, hp->n_vocab, R, VKA_USAGE_OUTPUT));
    VKA_TRY(alloc_tensor(sc, &a->argmax, "argmax", VKA_TYPE_I32, 1, R, VKA_USAGE_OUTPUT));
    return VKA_OK;
}

static void format_bytes(uint64_t n, char *buf, size_t cap) {
    if (n >= (1ull << 30)) snprintf(buf, cap, "%.1f GiB", (double)n / (double)(1ull << 30));
    else if (n >= (1ull << 20)) snprintf(buf, cap, "%.1f MiB", (double)n / (double)(1ull << 20));
    else snprintf(buf, cap, "%.1f KiB", (double)n / 1024.0);
}

/* Bytes of the activation buffers and the host arrays. */
static uint64_t buffer_bytes(const vka_scheduler *sc) {
    const vka_hparams *hp = &sc->model->hp;
    uint64_t per_token = 2ull * hp->n_embd + (uint64_t)hp->n_head * hp->head_dim +
                         (uint64_t)hp->n_head_kv * (hp->head_dim + hp->head_dim_v) +
                         (uint64_t)hp->n_head * hp->head_dim_v + 2;
    if (hp->n_expert) /* router, route, and per chosen expert gate, up, down */
        per_token += hp->n_expert + 2ull * hp->n_expert_used +
                     (uint64_t)hp->n_expert_used * (2ull * hp->n_ff_exp + hp->n_embd);
    else
        per_token += 2ull * hp->n_ff;
    uint64_t logits = ((uint64_t)hp->n_vocab + 2) * sc->n_logit_rows;
    uint64_t layouts = (sc->layout_swa_host ? 4ull : 2ull) * sc->layout_words;
    return (per_token * sc->n_batch + 2 * logits + layouts) * sizeof(float);
}

/* Sizes that follow from the pool and batch asked for are compared with the
 * memory left before anything is allocated: a clear error instead of an
 * out-of-memory kill halfway through. `what` names the pool in words. */
static vka_status check_memory(const vka_scheduler *sc, uint32_t n_blocks, uint32_t n_swa_blocks, const char *what,
                               const char *lower) {
    const vka_backend *b = sc->model->backend;
    vka_memory_budget budget;
    if (!b->ops->memory_budget || !b->ops->memory_budget(sc->model->backend, &budget)) return VKA_OK;
    uint64_t kv = vka_kv_pool_bytes(sc->model, n_blocks, n_swa_blocks, sc->kv_f16), buffers = buffer_bytes(sc);
    if (kv + buffers <= budget.bytes) return VKA_OK;
    char kv_text[32], buf_text[32], avail_text[32];
    format_bytes(kv, kv_text, sizeof kv_text);
    format_bytes(buffers, buf_text, sizeof buf_text);
    format_bytes(budget.bytes, avail_text, sizeof avail_text);
    return vka_fail(budget.device ? VKA_ERR_OUT_OF_DEVICE_MEMORY : VKA_ERR_OUT_OF_MEMORY,
                    "%s of %u tokens needs %s of KV cache (%s) and %s of buffers for batches of %u, but %s "
                    "is available in %s: lower %s", what, n_blocks * VKA_KV_BLOCK, kv_text, sc->kv_f16 ? "f16" : "f32",
                    buf_text, sc->n_batch, avail_text, budget.where,
                    kv >= buffers ? lower : "the batch size (n_batch, -b)");
}

static void sched_destroy(vka_scheduler *sc) {
    for (int i = 0; i < VKA_SCHED_GRAPHS; i++) vka_forward_graph_free(&sc->graphs[i]);
    size_t n;
    vka_tensor *t = act_tensors(&sc->act, &n);
    for (size_t i = 0; i < n; i++)
        if (t[i].nbytes) sc->model->backend->ops->tensor_free(sc->model->backend, &t[i]);
    vka_kv_pool_destroy(&sc->pool);
    free(sc->host_logits);
    free(sc->layout_host);
    free(sc->layout_swa_host);
    free(sc->ids_host);
    free(sc->out_host);
    vka_model_release(sc->model);
    free(sc);
}

/* A scheduler of n_blocks with batches of n_batch tokens and n_seq_max sequences. */
static vka_status sched_new(vka_model *m, uint32_t n_blocks, uint32_t n_batch, uint32_t n_seq_max, bool kv_f16,
                            bool private_to_session, const char *what, const char *lower, vka_scheduler **out) {
    vka_scheduler *sc = calloc(1, sizeof *sc);
    if (!sc) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
    sc->model = m;
    vka_model_retain(m);
    atomic_init(&sc->refs, 1);
    sc->private_to_session = private_to_session;
    sc->kv_f16 = kv_f16;
    sc->n_batch = n_batch;
    sc->n_seq_max = n_seq_max < n_batch ? n_seq_max : n_batch;
    uint64_t rows = LOGITS_BUFFER_BYTES / ((uint64_t)m->hp.n_vocab * sizeof(float));
    sc->n_logit_rows = rows < 1 ? 1 : rows > n_batch ? n_batch : (uint32_t)rows;
    /* every sequence of a batch may bring a table as long as the pool */
    uint64_t words = 2ull * n_batch + (uint64_t)sc->n_seq_max * n_blocks;
    if (words > (1u << 28)) {
        sched_destroy(sc);
        return vka_fail(VKA_ERR_INVALID_ARGUMENT, "a pool of %u blocks with %u sequences per batch is too large",
                        n_blocks, sc->n_seq_max);
    }
    sc->layout_words = (uint32_t)words;
    /* sliding-window layers: a window and a step per sequence, when fewer than the pool */
    uint32_t n_swa_blocks = vka_kv_swa_blocks_for(m, n_blocks, n_batch, sc->n_seq_max);
    if (n_swa_blocks) sc->layout_swa_host = malloc(sc->layout_words * sizeof *sc->layout_swa_host);
    vka_status st = n_swa_blocks && !sc->layout_swa_host ? vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory")
                                                         : check_memory(sc, n_blocks, n_swa_blocks, what, lower);
    if (st == VKA_OK) {
        sc->host_logits = malloc((size_t)sc->n_logit_rows * m->hp.n_vocab * sizeof *sc->host_logits);
        sc->layout_host = malloc(sc->layout_words * sizeof *sc->layout_host);
        sc->ids_host = malloc(n_batch * sizeof *sc->ids_host);
        sc->out_host = malloc(sc->n_logit_rows * sizeof *sc->out_host);
        if (!sc->host_logits || !sc->layout_host || !sc->ids_host || !sc->out_host)
            st = vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
    }
    if (st == VKA_OK) st = alloc_activations(sc);
    if (st == VKA_OK) st = vka_kv_pool_init(&sc->pool, m, n_blocks, n_swa_blocks, kv_f16);
    if (st != VKA_OK) {
        sched_destroy(sc);
        return st;
    }
    sc->stats.block_tokens = VKA_KV_BLOCK;
    sc->stats.n_blocks = n_blocks;
    *out = sc;
    return VKA_OK;
}

static uint32_t blocks_for(uint64_t tokens) { return (uint32_t)((tokens + VKA_KV_BLOCK - 1) / VKA_KV_BLOCK); }

vka_status vka_sched_create_private(vka_model *m, uint32_t n_ctx, uint32_t n_batch, bool kv_f16, vka_scheduler **out) {
    return sched_new(m, blocks_for(n_ctx), n_batch, 1, kv_f16, true, "a context",
                     "the context size (n_ctx, -c)", out);
}

vka_status vka_scheduler_create(vka_model *m, const vka_scheduler_params *params, vka_scheduler **out) {
    if (!m || !out) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_scheduler_create: model and out are required");
    *out = NULL;
    vka_scheduler_params p;
    vka_scheduler_params_default(&p);
    if (params) p = *params;
    if (m->vocab_only) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "'%s' was loaded vocab-only: it cannot run", m->path);
    if (!p.n_batch) p.n_batch = 512;
    if (!p.n_seq_max) p.n_seq_max = 64;
    if (!p.n_kv_tokens) p.n_kv_tokens = 4 * vka_session_default_n_ctx(m);
    if (p.n_batch > 8192) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "n_batch %u is out of range (1..8192)", p.n_batch);
    if (p.n_kv_tokens > (1u << 24))
        return vka_fail(VKA_ERR_INVALID_ARGUMENT, "n_kv_tokens %u is too large", p.n_kv_tokens);
    if (p.kv_type != VKA_KV_AUTO && p.kv_type != VKA_KV_F32 && p.kv_type != VKA_KV_F16)
        return vka_fail(VKA_ERR_INVALID_ARGUMENT, "unknown kv_type %d", (int)p.kv_type);
    bool f16 = p.kv_type == VKA_KV_F16 || (p.kv_type == VKA_KV_AUTO && m->backend->kv_f16_default);
    return sched_new(m, blocks_for(p.n_kv_tokens), p.n_batch, p.n_seq_max, f16, false, "a KV pool",
                     "the pool size (n_kv_tokens)", out);
}

void vka_sched_retain(vka_scheduler *sc) { atomic_fetch_add(&sc->refs, 1); }

void vka_sched_release(vka_scheduler *sc) {
    if (sc && atomic_fetch_sub(&sc->refs, 1) == 1) sched_destroy(sc);
}

void vka_scheduler_free(vka_scheduler *sc) { vka_sched_release(sc); }

void vka_sched_link(vka_scheduler *sc, vka_session *s) {
    s->sched_next = sc->sessions;
    sc->sessions = s;
    sc->stats.n_sessions++;
}

void vka_sched_unlink(vka_scheduler *sc, vka_session *s) {
    vka_session **link = &sc->sessions;
    while (*link && *link != s) link = &(*link)->sched_next;
    if (*link) *link = s->sched_next;
    sc->stats.n_sessions--;
}

/* ------------------------------------------------------------ logits left on the device */

vka_status vka_sched_fetch_logits(vka_scheduler *sc) {
    vka_session *s = sc->device_logits;
    if (!s) return VKA_OK;
    vka_backend *b = sc->model->backend;
    VKA_TRY(b->ops->tensor_get(b, &sc->act.logits, s->logits, 0, sc->model->hp.n_vocab * sizeof(float)));
    s->logits_fresh = true;
    vka_sched_forget_logits(s);
    return VKA_OK;
}

void vka_sched_forget_logits(vka_session *s) {
    if (s->sched && s->sched->device_logits == s) s->sched->device_logits = NULL;
    s->logits_on_device = false;
}

/* ------------------------------------------------------------ one forward pass */

/* The graph for n tokens and n_out rows: kept by shape, the least recently used one rebuilt. */
static vka_status graph_for(vka_scheduler *sc, uint32_t n, uint32_t n_out, vka_forward_graph **out) {
    vka_forward_graph *victim = &sc->graphs[0];
    for (int i = 0; i < VKA_SCHED_GRAPHS; i++) {
        vka_forward_graph *g = &sc->graphs[i];
        if (g->built && g->n_tokens == n && g->n_out == n_out) {
            g->last_used = ++sc->graph_clock;
            *out = g;
            return VKA_OK;
        }
        if (!g->built || (victim->built && g->last_used < victim->last_used)) victim = g;
    }
    vka_forward_graph_free(victim);
    VKA_TRY(vka_forward_build(sc, n, n_out, victim));
    victim->last_used = ++sc->graph_clock;
    *out = victim;
    return VKA_OK;
}

/* Blocks of the entry's table that its tokens reach. */
static uint32_t entry_blocks(const vka_batch_entry *e) {
    return (e->s->n_evaluated + e->n + VKA_KV_BLOCK - 1) / VKA_KV_BLOCK;
}

/* Fills the ids, the layout (positions, table starts, tables) and the
 * output rows; returns the layout's words in use. */
static uint32_t fill_inputs(vka_scheduler *sc, const vka_batch_entry *e, uint32_t n_entries, uint32_t n) {
    int32_t *layout = sc->layout_host, *swa = sc->layout_swa_host;
    uint32_t t = 0, words = 2 * n, n_out = 0;
    for (uint32_t i = 0; i < n_entries; i++) {
        const vka_session *s = e[i].s;
        uint32_t table = words, blocks = entry_blocks(&e[i]);
        memcpy(layout + words, s->blocks, blocks * sizeof *s->blocks);
        /* the sliding layers' blocks given back are never read (outside the
         * window): block 0 stands in, a valid row for any bounds check */
        for (uint32_t b = 0; swa && b < blocks; b++)
            swa[words + b] = b < s->swa_first ? 0 : (int32_t)s->swa_blocks[b];
        words += blocks;
        for (uint32_t j = 0; j < e[i].n; j++, t++) {
            sc->ids_host[t] = s->tokens[s->n_evaluated + j];
            layout[t] = (int32_t)(s->n_evaluated + j);
            layout[n + t] = (int32_t)table;
            if (swa) {
                swa[t] = layout[t];
                swa[n + t] = (int32_t)table;
            }
            if (e[i].all_rows || (e[i].last_row && j == e[i].n - 1)) sc->out_host[n_out++] = (int32_t)t;
        }
    }
    return words;
}

static vka_status check_batch(const vka_scheduler *sc, const vka_batch_entry *e, uint32_t n_entries, uint32_t *n,
                              uint32_t *n_out) {
    *n = *n_out = 0;
    uint64_t words = 0;
    for (uint32_t i = 0; i < n_entries; i++) {
        const vka_session *s = e[i].s;
        if (e[i].n == 0 || s->n_evaluated + e[i].n > s->n_past || entry_blocks(&e[i]) > s->n_blocks)
            return vka_fail(VKA_ERR_INTERNAL, "batch entry %u is not prepared", i);
        *n += e[i].n;
        *n_out += e[i].all_rows ? e[i].n : e[i].last_row ? 1 : 0;
        words += entry_blocks(&e[i]);
    }
    if (*n > sc->n_batch || n_entries > sc->n_seq_max || *n_out > sc->n_logit_rows ||
        words + 2ull * *n > sc->layout_words)
        return vka_fail(VKA_ERR_INTERNAL, "a batch of %u tokens, %u sequences and %u rows is over the limits", *n,
                        n_entries, *n_out);
    return VKA_OK;
}

/* Hands out the rows of logits: to host buffers, or left on the device for a lone entry. */
static vka_status deliver_logits(vka_scheduler *sc, vka_batch_entry *e, uint32_t n_entries, uint32_t n_out) {
    vka_backend *b = sc->model->backend;
    size_t row = sc->model->hp.n_vocab * sizeof(float);
    if (n_entries == 1 && !e[0].all_rows) {
        if (!e[0].last_row) return VKA_OK;
        sc->device_logits = e[0].s;
        e[0].s->logits_on_device = true;
        return VKA_OK;
    }
    if (n_out) VKA_TRY(b->ops->tensor_get(b, &sc->act.logits, sc->host_logits, 0, row * n_out));
    const char *rows = (const char *)sc->host_logits;
    for (uint32_t i = 0; i < n_entries; i++) {
        vka_session *s = e[i].s;
        if (e[i].all_rows) {
            memcpy(e[i].all_rows, rows, row * e[i].n);
            rows += row * e[i].n;
            memcpy(s->logits, rows - row, row);
            s->logits_fresh = true;
        } else if (e[i].last_row) {
            memcpy(s->logits, rows, row);
            rows += row;
            s->logits_fresh = true;
        }
    }
    return VKA_OK;
}

vka_status vka_sched_run(vka_scheduler *sc, vka_batch_entry *e, uint32_t n_entries) {
    uint32_t n, n_out;
    VKA_TRY(check_batch(sc, e, n_entries, &n, &n_out));
    VKA_TRY(vka_sched_fetch_logits(sc)); /* a session's logits on the device are about to be overwritten */
    uint32_t words = fill_inputs(sc, e, n_entries, n);
    vka_backend *b = sc->model->backend;
    VKA_TRY(b->ops->tensor_set(b, &sc->act.ids, sc->ids_host, 0, n * sizeof(int32_t)));
    VKA_TRY(b->ops->tensor_set(b, &sc->act.layout, sc->layout_host, 0, words * sizeof(int32_t)));
    if (sc->layout_swa_host)
        VKA_TRY(b->ops->tensor_set(b, &sc->act.layout_swa, sc->layout_swa_host, 0, words * sizeof(int32_t)));
    if (n_out) VKA_TRY(b->ops->tensor_set(b, &sc->act.out_ids, sc->out_host, 0, n_out * sizeof(int32_t)));
    vka_forward_graph *fg;
    VKA_TRY(graph_for(sc, n, n_out, &fg));
    for (uint32_t i = 0; i < n_entries; i++) e[i].s->logits_fresh = false;
    VKA_TRY(vka_backend_compute(b, &fg->graph, 0));
    sc->stats.steps++;
    sc->stats.batch_tokens += n;
    for (uint32_t i = 0; i < n_entries; i++) {
        vka_session *s = e[i].s;
        s->n_evaluated += e[i].n;
        s->last_use = ++sc->uses;
        vka_seq_slide(s);
        vka_seq_register(s);
    }
    return deliver_logits(sc, e, n_entries, n_out);
}

/* ------------------------------------------------------------ stats */

vka_status vka_scheduler_get_stats(const vka_scheduler *sc, vka_scheduler_stats *out) {
    if (!sc || !out) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_scheduler_get_stats: scheduler and stats are required");
    *out = sc->stats;
    out->blocks_used = out->blocks_shared = 0;
    for (uint32_t i = 0; i < sc->pool.n_blocks; i++) {
        out->blocks_used += sc->pool.blocks[i].refs > 0;
        out->blocks_shared += sc->pool.blocks[i].refs > 1;
    }
    out->blocks_cached = sc->pool.n_cached;
    out->n_active = 0;
    for (const vka_session *s = sc->sessions; s; s = s->sched_next)
        out->n_active += s->generator && !vka_generator_done(s->generator);
    return VKA_OK;
}

vka_status vka_session_get_kv_info(const vka_session *s, vka_session_kv_info *info) {
    if (!s || !info) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_session_get_kv_info: session and info are required");
    memset(info, 0, sizeof *info);
    info->blocks = s->n_blocks;
    for (uint32_t i = 0; i < s->n_blocks; i++) info->blocks_shared += s->sched->pool.blocks[s->blocks[i]].refs > 1;
    info->tokens = s->n_evaluated;
    return VKA_OK;
}

vka_scheduler *vka_session_scheduler(const vka_session *s) { return s ? s->sched : NULL; }
