/* generate.c — the generation loop: prompt prefill, sampling, streaming of
 * complete UTF-8 pieces, stop strings matched across token boundaries, and
 * the reasons a generation ends. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sampler.h"
#include "session.h"
#include "status.h"

void vka_generate_params_default(vka_generate_params *p) {
    memset(p, 0, sizeof *p);
    vka_sampling_params_default(&p->sampling);
    p->max_tokens = 256;
    p->stop_on_eos = true;
}

const char *vka_stop_reason_name(vka_stop_reason r) {
    switch (r) {
    case VKA_STOP_NONE: return "none";
    case VKA_STOP_MAX_TOKENS: return "max_tokens";
    case VKA_STOP_EOS: return "eos";
    case VKA_STOP_STRING: return "stop_string";
    case VKA_STOP_CANCELLED: return "cancelled";
    case VKA_STOP_CONTEXT_FULL: return "context_full";
    case VKA_STOP_CALLBACK: return "callback";
    case VKA_STOP_GRAMMAR: return "grammar";
    }
    return "unknown";
}

void vka_generate_result_clear(vka_generate_result *r) {
    if (!r) return;
    free(r->text);
    memset(r, 0, sizeof *r);
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Growable byte buffer. */
typedef struct text_buf {
    char *data;
    size_t len, cap;
} text_buf;

static vka_status buf_append(text_buf *b, const char *bytes, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *data = realloc(b->data, cap);
        if (!data) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory collecting generated text");
        b->data = data;
        b->cap = cap;
    }
    memcpy(b->data + b->len, bytes, n);
    b->len += n;
    b->data[b->len] = '\0';
    return VKA_OK;
}

/* Text produced but not yet emitted: it may be the start of a stop string. */
typedef struct emitter {
    const vka_generate_params *params;
    text_buf held;               /* complete characters held back */
    text_buf out;                /* everything emitted */
    vka_utf8_stream utf8;
    bool stopped_by_callback;
} emitter;

static bool emit(emitter *e, const char *bytes, size_t n, int32_t token) {
    if (n == 0) return true;
    if (buf_append(&e->out, bytes, n) != VKA_OK) return false;
    if (e->params->on_piece && !e->params->on_piece(bytes, n, token, e->params->user)) {
        e->stopped_by_callback = true;
        return false;
    }
    return true;
}

/* Length of the longest suffix of text that is a proper prefix of a stop string. */
static size_t stop_prefix_len(const vka_generate_params *p, const char *text, size_t len) {
    size_t best = 0;
    for (size_t i = 0; i < p->n_stop; i++) {
        size_t sl = strlen(p->stop[i]);
        for (size_t k = sl - 1 < len ? sl - 1 : len; k > best; k--)
            if (memcmp(text + len - k, p->stop[i], k) == 0) {
                best = k;
                break;
            }
    }
    return best;
}

/* Earliest occurrence of any stop string in text, or NULL. */
static const char *find_stop(const vka_generate_params *p, const char *text, size_t len) {
    const char *first = NULL;
    for (size_t i = 0; i < p->n_stop; i++) {
        const char *hit = memmem(text, len, p->stop[i], strlen(p->stop[i]));
        if (hit && (!first || hit < first)) first = hit;
    }
    return first;
}

/* Adds a token's bytes; emits what can no longer be part of a stop string.
 * Returns false when generation must stop (stop string or callback). */
static bool push_piece(emitter *e, const char *bytes, size_t n, int32_t token, bool *hit_stop) {
    char chars[256 + 8];
    while (n > 0) {
        size_t take = n < 256 ? n : 256;
        size_t got = vka_utf8_stream_push(&e->utf8, bytes, take, chars);
        if (buf_append(&e->held, chars, got) != VKA_OK) return false;
        bytes += take;
        n -= take;
    }
    const char *stop = find_stop(e->params, e->held.data ? e->held.data : "", e->held.len);
    if (stop) {
        *hit_stop = true;
        emit(e, e->held.data, (size_t)(stop - e->held.data), token);
        e->held.len = 0;
        return false;
    }
    size_t keep = stop_prefix_len(e->params, e->held.data ? e->held.data : "", e->held.len);
    size_t ready = e->held.len - keep;
    bool go_on = emit(e, e->held.data, ready, token);
    memmove(e->held.data, e->held.data + ready, keep);
    e->held.len = keep;
    return go_on;
}

static void flush(emitter *e) {
    char tail[8];
    size_t n = vka_utf8_stream_flush(&e->utf8, tail);
    if (n) buf_append(&e->held, tail, n);
    if (e->held.len) emit(e, e->held.data, e->held.len, -1);
    e->held.len = 0;
}

static vka_status check_generate_args(vka_session *s, const vka_generate_params *p, vka_generate_result *r) {
    if (!s || !p || !r) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_generate: session, params and result are required");
    for (size_t i = 0; i < p->n_stop; i++)
        if (!p->stop || !p->stop[i] || !p->stop[i][0])
            return vka_fail(VKA_ERR_INVALID_ARGUMENT, "stop string %zu is NULL or empty", i);
    return VKA_OK;
}

/* Samples and emits until a stop condition; the prompt is already in the
 * session (maybe not yet evaluated). */
static vka_status run_loop(vka_session *s, const vka_generate_params *p, vka_sampler *sampler, emitter *e,
                           vka_generate_result *r) {
    const vka_vocab *vocab = s->model->vocab;
    uint32_t n_vocab = s->model->hp.n_vocab;
    bool strip_space = vka_vocab_strips_leading_space(vocab);
    for (;;) {
        if (atomic_exchange(&s->cancel, false)) { r->stop_reason = VKA_STOP_CANCELLED; return VKA_OK; }
        if (p->max_tokens > 0 && r->n_generated >= (uint32_t)p->max_tokens) { r->stop_reason = VKA_STOP_MAX_TOKENS; return VKA_OK; }
        if (s->n_past >= s->n_ctx) { r->stop_reason = VKA_STOP_CONTEXT_FULL; return VKA_OK; }
        const float *logits;
        VKA_TRY(vka_session_get_logits(s, &logits));
        int32_t id;
        VKA_TRY(vka_sampler_sample(sampler, logits, &id));
        if (id < 0 || (uint32_t)id >= n_vocab) return vka_fail(VKA_ERR_INTERNAL, "sampler returned id %d", id);
        VKA_TRY(vka_sampler_accept(sampler, id));
        int32_t prev = s->n_past ? s->tokens[s->n_past - 1] : -1;
        VKA_TRY(vka_session_push_pending(s, id));
        r->n_generated++;
        if (p->stop_on_eos && vka_vocab_is_eog(vocab, id)) { r->stop_reason = VKA_STOP_EOS; return VKA_OK; }
        const char *bytes;
        size_t n = vka_vocab_piece(vocab, id, false, &bytes);
        /* SentencePiece: the first piece after BOS loses its dummy-prefix space. */
        if (strip_space && prev == vka_vocab_bos(vocab) && n && bytes[0] == ' ') { bytes++; n--; }
        bool hit_stop = false;
        if (!push_piece(e, bytes, n, id, &hit_stop)) {
            r->stop_reason = hit_stop ? VKA_STOP_STRING : VKA_STOP_CALLBACK;
            if (!hit_stop && !e->stopped_by_callback) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
            return VKA_OK;
        }
        if (vka_sampler_is_done(sampler)) { r->stop_reason = VKA_STOP_GRAMMAR; return VKA_OK; }
    }
}

static vka_status generate(vka_session *s, const int32_t *ids, size_t n_ids, const vka_generate_params *p,
                           vka_generate_result *r) {
    vka_sampler *sampler = NULL;
    vka_status st = vka_sampler_new(s->model->vocab, s->model->hp.n_vocab, &p->sampling, &sampler);
    if (st != VKA_OK) return st;
    double t0 = now_seconds();
    st = vka_session_feed(s, ids, n_ids);
    r->n_prompt_tokens = (uint32_t)n_ids;
    double t1 = now_seconds();
    r->prompt_seconds = t1 - t0;
    emitter e = {.params = p};
    if (st == VKA_OK) {
        st = vka_sampler_add_history(sampler, s->tokens, s->n_past);
        if (st == VKA_OK) st = run_loop(s, p, sampler, &e, r);
        if (st == VKA_OK && r->stop_reason != VKA_STOP_STRING && r->stop_reason != VKA_STOP_CALLBACK) flush(&e);
    }
    r->generate_seconds = now_seconds() - t1;
    r->text = e.out.data ? e.out.data : calloc(1, 1);
    r->text_len = e.out.len;
    free(e.held.data);
    vka_sampler_free(sampler);
    return st;
}

vka_status vka_generate_tokens(vka_session *s, const int32_t *ids, size_t n_ids, const vka_generate_params *p,
                               vka_generate_result *r) {
    if (r) memset(r, 0, sizeof *r);
    VKA_TRY(check_generate_args(s, p, r));
    if (!ids && n_ids) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_generate_tokens: ids is NULL");
    if (s->model->vocab_only) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "the model was loaded vocab-only");
    if (n_ids == 0 && s->n_past == 0)
        return vka_fail(VKA_ERR_INVALID_ARGUMENT, "nothing to continue: the prompt and the session are empty");
    return generate(s, ids, n_ids, p, r);
}

vka_status vka_generate(vka_session *s, const char *prompt, const vka_generate_params *p, vka_generate_result *r) {
    if (r) memset(r, 0, sizeof *r);
    VKA_TRY(check_generate_args(s, p, r));
    if (!prompt) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_generate: prompt is NULL");
    int flags = (p->parse_special ? VKA_TOKENIZE_PARSE_SPECIAL : 0) | (s->n_past == 0 ? VKA_TOKENIZE_MODEL_BOS : 0);
    int32_t *ids = NULL;
    size_t n = 0;
    VKA_TRY(vka_vocab_tokenize(s->model->vocab, prompt, strlen(prompt), flags, &ids, &n));
    vka_status st = vka_generate_tokens(s, ids, n, p, r);
    free(ids);
    return st;
}
