/* generator.c — generation as a state machine that the caller advances:
 * prompt prefill (in chunks if asked), sampling, streaming of complete UTF-8
 * pieces, stop strings matched across token boundaries, and the reasons a
 * generation ends. vka_generate runs it to the end; Lua's session:stream
 * and game loops run it a few tokens at a time. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/generator.h"
#include "sampling/sampler.h"
#include "model/scheduler.h"
#include "model/context_shift.h"
#include "base/status.h"

typedef struct text_buf {
    char *data;
    size_t len, cap;
} text_buf;

struct vka_generator {
    vka_session *session;            /* NULL once the session was freed under it */
    uint64_t number;                 /* this generation's number (session.h: cancellation) */
    atomic_bool cancel;              /* vka_generator_cancel */
    vka_generate_params params;      /* stop strings point into `stops` */
    char **stops;
    vka_sampler *sampler;
    int32_t *prompt;
    size_t n_prompt, n_fed;
    bool history_added;              /* the prompt is in the sampler's penalty window */
    bool stripped_space;             /* the first piece lost a space that the grammar saw */
    bool done;
    vka_status error;                /* what ended it, if an error did */
    vka_utf8_stream utf8;
    text_buf held;                   /* complete characters that may start a stop string */
    text_buf out;                    /* everything emitted */
    vka_generate_result result;      /* text/text_len point into `out` */
};

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

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

/* ------------------------------------------------------------ emitting text */

/* Passes text on to the output and the callback; false when the callback
 * asks to stop or memory runs out (*stopped says which). */
static bool emit(vka_generator *g, const char *bytes, size_t n, int32_t token, bool *stopped) {
    if (n == 0) return true;
    if (buf_append(&g->out, bytes, n) != VKA_OK) return false;
    g->result.text = g->out.data;
    g->result.text_len = g->out.len;
    if (g->params.on_piece && !g->params.on_piece(bytes, n, token, g->params.user)) {
        *stopped = true;
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

typedef enum piece_outcome { PIECE_GO_ON, PIECE_STOP_STRING, PIECE_CALLBACK_STOP } piece_outcome;

/* Adds a token's bytes: whole characters are held back while they may begin
 * a stop string; the rest is emitted. */
static vka_status push_piece(vka_generator *g, const char *bytes, size_t n, int32_t token, piece_outcome *outcome) {
    char chars[256 + 8];
    *outcome = PIECE_GO_ON;
    while (n > 0) {
        size_t take = n < 256 ? n : 256;
        size_t got = vka_utf8_stream_push(&g->utf8, bytes, take, chars);
        VKA_TRY(buf_append(&g->held, chars, got));
        bytes += take;
        n -= take;
    }
    bool stopped = false;
    const char *held = g->held.data ? g->held.data : "";
    const char *stop = find_stop(&g->params, held, g->held.len);
    if (stop) {
        *outcome = PIECE_STOP_STRING;
        bool ok = emit(g, held, (size_t)(stop - held), token, &stopped);
        g->held.len = 0;
        return ok || stopped ? VKA_OK : vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
    }
    size_t keep = stop_prefix_len(&g->params, held, g->held.len);
    size_t ready = g->held.len - keep;
    bool ok = emit(g, held, ready, token, &stopped);
    /* (held.data is NULL until the first complete character: no memmove from NULL, even of 0 bytes) */
    if (keep) memmove(g->held.data, g->held.data + ready, keep);
    g->held.len = keep;
    if (stopped) *outcome = PIECE_CALLBACK_STOP;
    return ok || stopped ? VKA_OK : vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
}

/* Emits what is still held back (the generation ended without a stop string). */
static void flush(vka_generator *g) {
    char tail[8];
    bool stopped = false;
    size_t n = vka_utf8_stream_flush(&g->utf8, tail);
    if (n) buf_append(&g->held, tail, n);
    if (g->held.len) emit(g, g->held.data, g->held.len, -1, &stopped);
    g->held.len = 0;
}

/* Whether the emitted text is a complete document of the grammar, when it
 * may be shorter than what the grammar accepted (a stop string cut a token,
 * or text was still held back): the text is matched again from the start. */
static bool emitted_text_complete(vka_generator *g) {
    if (!vka_sampler_constrained(g->sampler)) return true;
    size_t len = g->out.len + (g->stripped_space ? 1 : 0);
    char *text = malloc(len + 1);
    if (!text) return false;
    if (g->stripped_space) text[0] = ' ';
    if (g->out.len) memcpy(text + (g->stripped_space ? 1 : 0), g->out.data, g->out.len);
    bool complete = false;
    if (vka_sampler_text_complete(g->sampler, text, len, &complete) != VKA_OK) complete = false;
    free(text);
    return complete;
}

/* The generation is no longer in progress: a cancel now has nothing to stop. */
static void end_in_progress(vka_generator *g) {
    if (!g->session) return;
    uint_fast64_t mine = g->number;
    atomic_compare_exchange_strong(&g->session->active, &mine, 0);
}

static void finish(vka_generator *g, vka_stop_reason why) {
    end_in_progress(g);
    g->result.stop_reason = why;
    bool cut = why == VKA_STOP_STRING || why == VKA_STOP_CALLBACK;
    if (!cut) flush(g);
    /* Otherwise everything the grammar accepted was emitted. */
    g->result.grammar_complete = cut ? emitted_text_complete(g) : vka_sampler_can_end(g->sampler);
    g->done = true;
}

/* ------------------------------------------------------------ the steps */

/* Feeds up to `chunk` prompt tokens (0: all); the penalty window gets the
 * whole context once the prompt is in. */
static vka_status prefill(vka_generator *g, uint32_t chunk) {
    vka_session *s = g->session;
    size_t left = g->n_prompt - g->n_fed;
    size_t take = chunk && chunk < left ? chunk : left;
    double t0 = now_seconds();
    vka_status st = vka_session_feed_tokens(s, g->prompt + g->n_fed, take);
    g->result.prompt_seconds += now_seconds() - t0;
    VKA_TRY(st);
    g->n_fed += take;
    g->result.n_prompt_tokens = (uint32_t)g->n_fed;
    if (g->n_fed == g->n_prompt) {
        VKA_TRY(vka_sampler_add_history(g->sampler, s->tokens, s->n_past));
        g->history_added = true;
    }
    return VKA_OK;
}

/* The context is full: with context_shift, half of the tokens after the
 * kept prefix are dropped (as llama.cpp's CLI does by default). *shifted
 * stays false when it is off or nothing can be dropped. */
static vka_status shift_when_full(vka_generator *g, bool *shifted) {
    vka_session *s = g->session;
    uint32_t keep = g->params.n_keep;
    *shifted = false;
    if (!g->params.context_shift || keep >= s->n_past) return VKA_OK;
    uint32_t discard = (s->n_past - keep) / 2;
    if (discard == 0) return VKA_OK;
    VKA_TRY(vka_session_shift_kv(s, keep, discard));
    *shifted = true;
    return VKA_OK;
}

/* vka_generator_cancel, or vka_session_cancel naming this generation. */
static bool cancelled(const vka_generator *g) {
    return atomic_load(&g->cancel) || atomic_load(&g->session->cancel_id) == g->number;
}

/* The checks before a token that need no logits: cancel, max_tokens, a
 * full context (shifted when allowed). *stopped when the generation ended. */
static vka_status stop_checks(vka_generator *g, bool *stopped) {
    vka_session *s = g->session;
    const vka_generate_params *p = &g->params;
    *stopped = true;
    if (cancelled(g)) return finish(g, VKA_STOP_CANCELLED), VKA_OK;
    if (p->max_tokens > 0 && g->result.n_generated >= (uint32_t)p->max_tokens)
        return finish(g, VKA_STOP_MAX_TOKENS), VKA_OK;
    if (s->n_past >= s->n_ctx) {
        bool shifted;
        VKA_TRY(shift_when_full(g, &shifted));
        if (!shifted) return finish(g, VKA_STOP_CONTEXT_FULL), VKA_OK;
    }
    *stopped = false;
    return VKA_OK;
}

/* A sample from the session's logits (evaluating what is pending first), its text. */
static vka_status sample_next(vka_generator *g) {
    vka_session *s = g->session;
    const vka_vocab *vocab = s->model->vocab;
    const vka_generate_params *p = &g->params;
    const float *logits;
    VKA_TRY(vka_session_get_logits(s, &logits));
    int32_t id;
    VKA_TRY(vka_sampler_sample(g->sampler, logits, &id));
    if (id < 0 || (uint32_t)id >= s->model->hp.n_vocab) return vka_fail(VKA_ERR_INTERNAL, "sampler returned id %d", id);
    VKA_TRY(vka_sampler_accept(g->sampler, id));
    int32_t prev = s->n_past ? s->tokens[s->n_past - 1] : -1;
    VKA_TRY(vka_session_push_pending(s, id));
    g->result.n_generated++;
    if (p->stop_on_eos && vka_vocab_is_eog(vocab, id)) return finish(g, VKA_STOP_EOS), VKA_OK;
    const char *bytes;
    size_t n = vka_vocab_piece(vocab, id, false, &bytes);
    /* SentencePiece: the first piece after BOS loses its dummy-prefix space. */
    if (vka_vocab_strips_leading_space(vocab) && prev == vka_vocab_bos(vocab) && n && bytes[0] == ' ') {
        bytes++;
        n--;
        /* Later in the output (BOS generated mid-way) the replay is only
         * conservative: it may call a complete document incomplete. */
        if (g->result.n_generated == 1) g->stripped_space = true;
    }
    piece_outcome outcome;
    VKA_TRY(push_piece(g, bytes, n, id, &outcome));
    if (outcome == PIECE_STOP_STRING) finish(g, VKA_STOP_STRING);
    else if (outcome == PIECE_CALLBACK_STOP) finish(g, VKA_STOP_CALLBACK);
    else if (vka_sampler_is_done(g->sampler)) finish(g, VKA_STOP_GRAMMAR);
    return VKA_OK;
}

/* One token: the stop checks, a sample, its text. */
static vka_status sample_one(vka_generator *g) {
    bool stopped;
    VKA_TRY(stop_checks(g, &stopped));
    return stopped ? VKA_OK : sample_next(g);
}

/* An error ends the generation; it stays in g->error. */
static vka_status fail(vka_generator *g, vka_status st) {
    if (st == VKA_OK) return st;
    g->done = true;
    if (g->error == VKA_OK) g->error = st;
    end_in_progress(g);
    return st;
}

vka_status vka_generator_step(vka_generator *g, uint32_t max_tokens, uint32_t prefill_chunk, bool *done) {
    if (!g) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_generator_step: generator is NULL");
    if (!g->session && !g->done) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_generator_step: the session was freed");
    vka_status st = VKA_OK;
    if (!g->done && !g->history_added) {
        /* a cancel also stops a prompt fed in chunks, between chunks */
        if (cancelled(g)) finish(g, VKA_STOP_CANCELLED);
        else st = prefill(g, prefill_chunk);
    } else if (!g->done) {
        double t0 = now_seconds();
        for (uint32_t i = 0; i < (max_tokens ? max_tokens : 1) && !g->done && st == VKA_OK; i++) st = sample_one(g);
        g->result.generate_seconds += now_seconds() - t0;
    }
    fail(g, st);
    if (done) *done = g->done;
    return st;
}

/* ------------------------------------------------------------ stepped by a scheduler */

vka_status vka_generator_sched_begin(vka_generator *g, bool *go_on) {
    *go_on = false;
    if (g->done || !g->session) return VKA_OK;
    vka_status st = VKA_OK;
    if (!g->history_added) {
        if (cancelled(g)) {
            finish(g, VKA_STOP_CANCELLED);
            return VKA_OK;
        }
        /* the whole prompt is queued; the scheduler evaluates it in chunks */
        vka_session *s = g->session;
        size_t left = g->n_prompt - g->n_fed;
        if (left > s->n_ctx - s->n_past)
            st = vka_fail(VKA_ERR_CONTEXT_FULL, "%zu prompt tokens do not fit: the session holds %u of %u", left,
                          s->n_past, s->n_ctx);
        for (size_t i = 0; st == VKA_OK && i < left; i++) st = vka_session_push_pending(s, g->prompt[g->n_fed + i]);
        if (st == VKA_OK) {
            g->n_fed = g->n_prompt;
            g->result.n_prompt_tokens = (uint32_t)g->n_fed;
            st = vka_sampler_add_history(g->sampler, s->tokens, s->n_past);
        }
        if (st == VKA_OK) g->history_added = true;
        if (st != VKA_OK) return fail(g, st);
    }
    bool stopped;
    st = stop_checks(g, &stopped);
    *go_on = st == VKA_OK && !stopped;
    return fail(g, st);
}

vka_status vka_generator_sched_sample(vka_generator *g, double seconds, bool prompt) {
    if (prompt) g->result.prompt_seconds += seconds;
    else g->result.generate_seconds += seconds;
    double t0 = now_seconds();
    vka_status st = sample_next(g);
    g->result.generate_seconds += now_seconds() - t0;
    return fail(g, st);
}

void vka_generator_sched_fail(vka_generator *g, vka_status st) { fail(g, st); }

void vka_generator_sched_time(vka_generator *g, double seconds, bool prompt) {
    if (prompt) g->result.prompt_seconds += seconds;
    else g->result.generate_seconds += seconds;
}

vka_status vka_generator_status(const vka_generator *g) { return g ? g->error : VKA_ERR_INVALID_ARGUMENT; }

/* ------------------------------------------------------------ lifetime */

bool vka_generator_done(const vka_generator *g) { return !g || g->done; }

const vka_generate_result *vka_generator_result(const vka_generator *g) { return g ? &g->result : NULL; }

void vka_generator_cancel(vka_generator *g) {
    if (g) atomic_store(&g->cancel, true);
}

void vka_generator_detach(vka_generator *g) {
    if (!g->done) finish(g, VKA_STOP_CANCELLED);
    g->session = NULL;
}

void vka_generator_free(vka_generator *g) {
    if (!g) return;
    if (g->session && g->session->generator == g) {
        end_in_progress(g);
        g->session->generator = NULL;
    }
    vka_sampler_free(g->sampler);
    for (size_t i = 0; g->stops && i < g->params.n_stop; i++) free(g->stops[i]);
    free(g->stops);
    free(g->prompt);
    free(g->held.data);
    free(g->out.data);
    free(g);
}

char *vka_generator_take_text(vka_generator *g, size_t *len) {
    char *text = g->out.data ? g->out.data : calloc(1, 1);
    *len = g->out.len;
    memset(&g->out, 0, sizeof g->out);
    g->result.text = NULL;
    g->result.text_len = 0;
    return text;
}

static vka_status check_params(vka_session *s, const vka_generate_params *p) {
    if (!s || !p) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "generation: session is required");
    if (s->model->vocab_only) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "the model was loaded vocab-only");
    VKA_TRY(vka_session_check_idle(s, "generation"));
    for (size_t i = 0; i < p->n_stop; i++)
        if (!p->stop || !p->stop[i] || !p->stop[i][0])
            return vka_fail(VKA_ERR_INVALID_ARGUMENT, "stop string %zu is NULL or empty", i);
    return VKA_OK;
}

/* Copies the params, their stop strings and the prompt; makes the sampler. */
static vka_status setup(vka_generator *g, vka_session *s, const int32_t *ids, size_t n_ids,
                        const vka_generate_params *p) {
    g->session = s;
    g->params = *p;
    g->result.text = "";
    if (p->n_stop) {
        if (!(g->stops = calloc(p->n_stop, sizeof *g->stops))) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
        for (size_t i = 0; i < p->n_stop; i++)
            if (!(g->stops[i] = strdup(p->stop[i]))) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
        g->params.stop = (const char *const *)g->stops;
    }
    g->params.sampling.grammar = g->params.sampling.grammar_root = g->params.sampling.json_schema = NULL;
    g->params.sampling.logit_bias = NULL;   /* the sampler keeps its own copy */
    g->params.sampling.n_logit_bias = 0;
    if (!(g->prompt = malloc((n_ids ? n_ids : 1) * sizeof *ids))) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
    if (n_ids) memcpy(g->prompt, ids, n_ids * sizeof *ids);
    g->n_prompt = n_ids;
    VKA_TRY(vka_sampler_new(s->model->vocab, s->model->hp.n_vocab, &p->sampling, &g->sampler));
    g->result.grammar_complete = !vka_sampler_constrained(g->sampler);
    return VKA_OK;
}

vka_status vka_generator_create_tokens(vka_session *s, const int32_t *ids, size_t n_ids,
                                       const vka_generate_params *p, vka_generator **out) {
    if (!out) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_generator_create: out is NULL");
    *out = NULL;
    vka_generate_params defaults;
    if (!p) {
        vka_generate_params_default(&defaults);
        p = &defaults;
    }
    VKA_TRY(check_params(s, p));
    if (!ids && n_ids) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "generation: ids is NULL");
    if (n_ids == 0 && s->n_past == 0)
        return vka_fail(VKA_ERR_INVALID_ARGUMENT, "nothing to continue: the prompt and the session are empty");
    vka_generator *g = calloc(1, sizeof *g);
    if (!g) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
    vka_status st = setup(g, s, ids, n_ids, p);
    if (st != VKA_OK) {
        vka_generator_free(g);
        return st;
    }
    atomic_init(&g->cancel, false);
    g->number = ++s->generations;
    s->order = ++s->sched->orders; /* the scheduler serves older generations first */
    s->preempted = false;
    s->generator = g;
    atomic_store(&s->active, g->number);
    *out = g;
    return VKA_OK;
}

vka_status vka_generator_create(vka_session *s, const char *prompt, const vka_generate_params *p,
                                vka_generator **out) {
    if (!out) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_generator_create: out is NULL");
    *out = NULL;
    vka_generate_params defaults;
    if (!p) {
        vka_generate_params_default(&defaults);
        p = &defaults;
    }
    VKA_TRY(check_params(s, p));
    if (!prompt) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "generation: prompt is NULL");
    int flags = (p->parse_special ? VKA_TOKENIZE_PARSE_SPECIAL : 0) | (s->n_past == 0 ? VKA_TOKENIZE_MODEL_BOS : 0);
    int32_t *ids = NULL;
    size_t n = 0;
    VKA_TRY(vka_vocab_tokenize(s->model->vocab, prompt, strlen(prompt), flags, &ids, &n));
    vka_status st = vka_generator_create_tokens(s, ids, n, p, out);
    free(ids);
    return st;
}
