/* session.c — sessions: the context's tokens, their blocks in a scheduler's
 * KV pool (a private scheduler of one unless created in a shared one),
 * and evaluation of a session's own tokens in chunks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/scheduler.h"
#include "model/generator.h"
#include "base/status.h"


void vka_session_params_default(vka_session_params *p) {
    memset(p, 0, sizeof *p);
    p->n_batch = 512;
    p->kv_type = VKA_KV_AUTO;
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

/* A session of n_ctx tokens in sc (which it holds a reference to). */
static vka_status session_new(vka_scheduler *sc, uint32_t n_ctx, uint32_t n_batch, vka_session **out) {
    vka_model *model = sc->model;
    vka_session *s = calloc(1, sizeof *s);
    if (!s) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
    s->model = model;
    vka_model_retain(model);
    s->sched = sc;
    vka_sched_retain(sc);
    vka_sched_link(sc, s);
    s->n_ctx = n_ctx;
    note_context_warning(s);
    s->n_batch = n_batch < sc->n_batch ? n_batch : sc->n_batch;
    s->kv_f16 = sc->kv_f16;
    atomic_init(&s->active, 0);
    atomic_init(&s->cancel_id, 0);
    s->tokens = malloc(s->n_ctx * sizeof *s->tokens);
    s->logits = malloc(model->hp.n_vocab * sizeof *s->logits);
    if (!s->tokens || !s->logits) {
        vka_session_free(s);
        return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
    }
    *out = s;
    return VKA_OK;
}

vka_status vka_session_create(vka_model *model, const vka_session_params *params, vka_session **out) {
    if (!model || !out) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_session_create: model and out are required");
    *out = NULL;
    vka_session_params defaults;
    if (!params) {
        vka_session_params_default(&defaults);
        params = &defaults;
    }
    VKA_TRY(check_params(model, params));
    uint32_t n_ctx = params->n_ctx ? params->n_ctx : vka_session_default_n_ctx(model);
    uint32_t n_batch = params->n_batch < n_ctx ? params->n_batch : n_ctx;
    bool f16 = params->kv_type == VKA_KV_F16 || (params->kv_type == VKA_KV_AUTO && model->backend->kv_f16_default);
    vka_scheduler *sc;
    VKA_TRY(vka_sched_create_private(model, n_ctx, n_batch, f16, &sc));
    vka_status st = session_new(sc, n_ctx, n_batch, out);
    vka_sched_release(sc); /* the session holds it now (or it is freed on failure) */
    return st;
}

vka_status vka_scheduler_session_create(vka_scheduler *sc, const vka_session_params *params, vka_session **out) {
    if (!sc || !out) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_scheduler_session_create: scheduler and out are required");
    *out = NULL;
    uint32_t pool_tokens = sc->pool.n_blocks * VKA_KV_BLOCK;
    uint32_t n_ctx = params && params->n_ctx ? params->n_ctx : vka_session_default_n_ctx(sc->model);
    if (params && params->n_ctx > pool_tokens)
        return vka_fail(VKA_ERR_CONTEXT_FULL, "a context of %u tokens cannot fit: the scheduler's KV pool holds %u "
                        "tokens (%u blocks of %u)", params->n_ctx, pool_tokens, sc->pool.n_blocks, VKA_KV_BLOCK);
    if (n_ctx > pool_tokens) n_ctx = pool_tokens;
    return session_new(sc, n_ctx, sc->n_batch, out);
}

void vka_session_free(vka_session *s) {
    if (!s) return;
    if (s->generator) vka_generator_detach(s->generator);
    if (s->sched) {
        vka_seq_release_all(s);
        vka_sched_unlink(s->sched, s);
        vka_sched_release(s->sched);
    }
    free(s->blocks);
    free(s->swa_blocks);
    free(s->tokens);
    free(s->logits);
    vka_model_release(s->model);
    free(s);
}

vka_status vka_session_reset(vka_session *s) {
    if (!s) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "session is NULL");
    VKA_TRY(vka_session_check_idle(s, "vka_session_reset"));
    vka_seq_release_all(s); /* full blocks stay in the prefix cache: the same prompt again is found there */
    s->n_past = 0;
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
    vka_sched_forget_logits(s);
    vka_seq_truncate(s);
    return VKA_OK;
}

/* The fork of a session in a private scheduler: a scheduler of its own with a copy of the blocks. */
static vka_status fork_copy(const vka_session *src, vka_session **out) {
    vka_session_params p = {.n_ctx = src->n_ctx, .n_batch = src->n_batch,
                            .kv_type = src->kv_f16 ? VKA_KV_F16 : VKA_KV_F32};
    VKA_TRY(vka_session_create(src->model, &p, out));
    vka_session *s = *out;
    vka_kv_pool *pool = &s->sched->pool;
    /* the same parameters give the same pool as src's */
    vka_seq_restore_start(s, src->n_evaluated, src->swa_first * VKA_KV_BLOCK);
    vka_status st = vka_seq_prepare_range(s, 0, src->n_evaluated, false);
    for (uint32_t b = 0; st == VKA_OK && b < s->n_blocks; b++) {
        st = vka_kv_block_copy_between(pool, false, s->blocks[b], &src->sched->pool, src->blocks[b]);
        if (st == VKA_OK && pool->n_swa_blocks && b >= s->swa_first)
            st = vka_kv_block_copy_between(pool, true, s->swa_blocks[b], &src->sched->pool, src->swa_blocks[b]);
    }
    if (st != VKA_OK) {
        vka_session_free(s);
        *out = NULL;
    }
    return st;
}

vka_status vka_session_fork(const vka_session *src, vka_session **out) {
    if (!src || !out) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_session_fork: session and out are required");
    *out = NULL;
    VKA_TRY(vka_session_check_idle(src, "vka_session_fork"));
    vka_session *s;
    if (src->sched->private_to_session) {
        VKA_TRY(fork_copy(src, &s));
    } else {
        VKA_TRY(session_new(src->sched, src->n_ctx, src->n_batch, &s));
        vka_status st = vka_seq_share(s, src);
        if (st != VKA_OK) {
            vka_session_free(s);
            return st;
        }
    }
    memcpy(s->tokens, src->tokens, src->n_past * sizeof *s->tokens);
    s->n_past = src->n_past;
    s->n_evaluated = src->n_evaluated;
    /* the parent's logits may still be on the device: the fork evaluates
     * its last token again then (same values, deterministically) */
    s->logits_fresh = src->logits_fresh;
    if (s->logits_fresh) memcpy(s->logits, src->logits, src->model->hp.n_vocab * sizeof *s->logits);
    else if (s->n_evaluated > 0 && s->n_evaluated == s->n_past) s->n_evaluated--;
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

/* Evaluates the pending tokens of s alone, in chunks; with all_logits,
 * the logits after every token are written there. */
static vka_status evaluate(vka_session *s, float *all_logits) {
    vka_scheduler *sc = s->sched;
    while (s->n_evaluated < s->n_past) {
        if (!all_logits) vka_seq_match_prefix(s);
        uint32_t left = s->n_past - s->n_evaluated;
        uint32_t cap = all_logits ? sc->n_logit_rows : s->n_batch;
        uint32_t n = left < cap ? left : cap;
        VKA_TRY(vka_seq_prepare(s, n, true));
        vka_batch_entry e = {.s = s, .n = n, .last_row = n == left, .all_rows = all_logits};
        VKA_TRY(vka_sched_run(sc, &e, 1));
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
        if (!s->logits_on_device) { /* taken back (preempted) or shifted since: evaluate the last token again */
            if (s->n_evaluated > 0) s->n_evaluated--;
            VKA_TRY(evaluate(s, NULL));
        }
        if (s->logits_on_device) VKA_TRY(vka_sched_fetch_logits(s->sched));
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
    if (!s->logits_on_device) {
        const float *logits;
        VKA_TRY(vka_session_get_logits(s, &logits));
        return vka_session_argmax(s, token);
    }
    vka_backend *b = s->model->backend;
    return b->ops->tensor_get(b, &s->sched->act.argmax, token, 0, sizeof *token);
}
