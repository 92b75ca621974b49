/* stream.c — session:stream: generation as an iterator that a game loop or
 * a coroutine advances a bounded number of tokens per call. It runs the same
 * steps as vka_generate (the same sampler, UTF-8 assembly and stop-string
 * hold-back, stop reasons in the same order), so for the same prompt,
 * parameters and seed it produces the same text. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lvka.h"
#include "sampler.h"
#include "session.h"
#include "status.h"
#include "utf8.h"
#include "vocab.h"

typedef struct text_buf {
    char *data;
    size_t len, cap;
} text_buf;

typedef struct lvka_stream {
    lvka_session *owner;       /* the session userdata (the stream's uservalue 1) */
    lvka_model_ref *mref;      /* keeps the vocabulary alive for the sampler */
    vka_sampler *sampler;
    int32_t *prompt;
    size_t n_prompt, n_fed, prefill_chunk;
    char **stop;
    size_t n_stop;
    int32_t max_tokens;
    int32_t tokens_per_call;
    bool stop_on_eos;
    bool finished;             /* no more tokens will be sampled */
    bool drained;              /* nil has been returned */
    bool history_added;
    vka_stop_reason stop_reason;
    uint32_t n_generated;
    double prompt_seconds, generate_seconds;
    vka_utf8_stream utf8;
    text_buf held;             /* complete characters that may start a stop string */
    text_buf out;              /* everything emitted */
} lvka_stream;

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static bool buf_append(text_buf *b, const char *bytes, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *data = realloc(b->data, cap);
        if (!data) return false;
        b->data = data;
        b->cap = cap;
    }
    memcpy(b->data + b->len, bytes, n);
    b->len += n;
    b->data[b->len] = '\0';
    return true;
}

/* Frees what the stream holds and lets its session be used again. */
static void stream_release(lvka_stream *st) {
    vka_sampler_free(st->sampler);
    st->sampler = NULL;
    lvka_model_ref_release(st->mref);
    st->mref = NULL;
    free(st->prompt);
    st->prompt = NULL;
    for (size_t i = 0; i < st->n_stop; i++) free(st->stop[i]);
    free(st->stop);
    st->stop = NULL;
    st->n_stop = 0;
    free(st->held.data);
    memset(&st->held, 0, sizeof st->held);
    if (st->owner) st->owner->streaming = false;
    st->owner = NULL;
    st->finished = true;
}

/* ---------------------------------------------------------------- the steps of vka_generate */

static size_t stop_prefix_len(const lvka_stream *st, const char *text, size_t len) {
    size_t best = 0;
    for (size_t i = 0; i < st->n_stop; i++) {
        size_t sl = strlen(st->stop[i]);
        for (size_t k = sl - 1 < len ? sl - 1 : len; k > best; k--)
            if (memcmp(text + len - k, st->stop[i], k) == 0) {
                best = k;
                break;
            }
    }
    return best;
}

static const char *find_stop(const lvka_stream *st, const char *text, size_t len) {
    const char *first = NULL;
    for (size_t i = 0; i < st->n_stop; i++) {
        const char *hit = memmem(text, len, st->stop[i], strlen(st->stop[i]));
        if (hit && (!first || hit < first)) first = hit;
    }
    return first;
}

/* Emits into both the stream's whole text and this call's piece. */
static bool emit(lvka_stream *st, text_buf *piece, const char *bytes, size_t n) {
    return n == 0 || (buf_append(&st->out, bytes, n) && buf_append(piece, bytes, n));
}

/* A token's bytes: returns false on a stop string (*hit_stop) or no memory. */
static bool push_piece(lvka_stream *st, text_buf *piece, const char *bytes, size_t n, bool *hit_stop) {
    char chars[256 + 8];
    while (n > 0) {
        size_t take = n < 256 ? n : 256;
        size_t got = vka_utf8_stream_push(&st->utf8, bytes, take, chars);
        if (!buf_append(&st->held, chars, got)) return false;
        bytes += take;
        n -= take;
    }
    const char *held = st->held.data ? st->held.data : "";
    const char *stop = find_stop(st, held, st->held.len);
    if (stop) {
        *hit_stop = true;
        emit(st, piece, held, (size_t)(stop - held));
        st->held.len = 0;
        return false;
    }
    size_t keep = stop_prefix_len(st, held, st->held.len);
    size_t ready = st->held.len - keep;
    if (!emit(st, piece, held, ready)) return false;
    memmove(st->held.data, st->held.data + ready, keep);
    st->held.len = keep;
    return true;
}

static void flush(lvka_stream *st, text_buf *piece) {
    char tail[8];
    size_t n = vka_utf8_stream_flush(&st->utf8, tail);
    if (n) buf_append(&st->held, tail, n);
    if (st->held.len) emit(st, piece, st->held.data, st->held.len);
    st->held.len = 0;
}

static void finish(lvka_stream *st, vka_stop_reason why, text_buf *piece) {
    st->stop_reason = why;
    if (why != VKA_STOP_STRING) flush(st, piece);
    st->finished = true;
}

/* One token, as one turn of vka_generate's loop. */
static vka_status sample_one(lvka_stream *st, text_buf *piece) {
    vka_session *s = st->owner->session;
    const vka_vocab *vocab = s->model->vocab;
    if (atomic_exchange(&s->cancel, false)) { finish(st, VKA_STOP_CANCELLED, piece); return VKA_OK; }
    if (st->max_tokens > 0 && st->n_generated >= (uint32_t)st->max_tokens) { finish(st, VKA_STOP_MAX_TOKENS, piece); return VKA_OK; }
    if (s->n_past >= s->n_ctx) { finish(st, VKA_STOP_CONTEXT_FULL, piece); return VKA_OK; }
    const float *logits;
    VKA_TRY(vka_session_get_logits(s, &logits));
    int32_t id;
    VKA_TRY(vka_sampler_sample(st->sampler, logits, &id));
    VKA_TRY(vka_sampler_accept(st->sampler, id));
    int32_t prev = s->n_past ? s->tokens[s->n_past - 1] : -1;
    VKA_TRY(vka_session_push_pending(s, id));
    st->n_generated++;
    if (st->stop_on_eos && vka_vocab_is_eog(vocab, id)) { finish(st, VKA_STOP_EOS, piece); return VKA_OK; }
    const char *bytes;
    size_t n = vka_vocab_piece(vocab, id, false, &bytes);
    if (vka_vocab_strips_leading_space(vocab) && prev == vka_vocab_bos(vocab) && n && bytes[0] == ' ') {
        bytes++;
        n--;
    }
    bool hit_stop = false;
    if (!push_piece(st, piece, bytes, n, &hit_stop)) {
        if (!hit_stop) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory collecting streamed text");
        finish(st, VKA_STOP_STRING, piece);
        return VKA_OK;
    }
    if (vka_sampler_is_done(st->sampler)) finish(st, VKA_STOP_GRAMMAR, piece);
    return VKA_OK;
}

/* Prefill: one chunk of the prompt per call (all of it by default). */
static vka_status prefill_step(lvka_stream *st) {
    vka_session *s = st->owner->session;
    double t0 = now_seconds();
    size_t left = st->n_prompt - st->n_fed;
    size_t take = st->prefill_chunk && st->prefill_chunk < left ? st->prefill_chunk : left;
    vka_status status = vka_session_feed(s, st->prompt + st->n_fed, take);
    st->prompt_seconds += now_seconds() - t0;
    if (status != VKA_OK) return status;
    st->n_fed += take;
    if (st->n_fed == st->n_prompt) {
        status = vka_sampler_add_history(st->sampler, s->tokens, s->n_past);
        st->history_added = status == VKA_OK;
    }
    return status;
}

/* ---------------------------------------------------------------- Lua side */

static lvka_stream *check_stream(lua_State *L, int arg, const char *fn) {
    lvka_stream *st = luaL_testudata(L, arg, LVKA_STREAM_MT);
    if (!st) luaL_error(L, "%s: argument #%d must be a vkagent stream, got %s", fn, arg, luaL_typename(L, arg));
    return st;
}

/* Advances up to `budget` tokens; the piece collects this call's text. */
static vka_status advance(lvka_stream *st, lua_Integer budget, text_buf *piece) {
    if (st->n_fed < st->n_prompt || !st->history_added) return prefill_step(st);
    double t0 = now_seconds();
    vka_status status = VKA_OK;
    for (lua_Integer i = 0; i < budget && !st->finished && status == VKA_OK; i++) status = sample_one(st, piece);
    st->generate_seconds += now_seconds() - t0;
    return status;
}

/* stream:next(n) -> text from up to n more tokens ("" while prefilling or
 * while text is held back), or nil once the generation has ended and
 * everything was returned. */
static int l_next(lua_State *L) {
    const char *fn = "stream:next";
    lvka_stream *st = check_stream(L, 1, fn);
    lua_Integer budget = luaL_optinteger(L, 2, st->tokens_per_call);
    if (budget < 1) return luaL_error(L, "%s: the number of tokens must be at least 1, got %d", fn, (int)budget);
    if (st->drained || (st->finished && !st->owner)) {
        st->drained = true;
        lua_pushnil(L);
        return 1;
    }
    if (!st->owner->session) {
        stream_release(st);
        return luaL_error(L, "%s: the session was closed", fn);
    }
    text_buf piece = {0};
    vka_status status = advance(st, budget, &piece);
    if (status != VKA_OK) {
        free(piece.data);
        stream_release(st);
        st->drained = true;
        return lvka_fail(L, fn);
    }
    if (st->finished) stream_release(st);
    if (piece.len == 0 && st->finished) {
        st->drained = true;
        lua_pushnil(L);
    } else {
        lua_pushlstring(L, piece.data ? piece.data : "", piece.len);
    }
    free(piece.data);
    return 1;
}

/* As the iterator of a generic for: stream(state, control). */
static int l_call(lua_State *L) {
    lua_settop(L, 1);
    return l_next(L);
}

static int l_done(lua_State *L) {
    lvka_stream *st = check_stream(L, 1, "stream:done");
    lua_pushboolean(L, st->finished);
    return 1;
}

static int l_text(lua_State *L) {
    lvka_stream *st = check_stream(L, 1, "stream:text");
    lua_pushlstring(L, st->out.data ? st->out.data : "", st->out.len);
    return 1;
}

static int l_result(lua_State *L) {
    lvka_stream *st = check_stream(L, 1, "stream:result");
    vka_generate_result r = {
        .stop_reason = st->stop_reason,
        .n_prompt_tokens = (uint32_t)st->n_fed,
        .n_generated = st->n_generated,
        .prompt_seconds = st->prompt_seconds,
        .generate_seconds = st->generate_seconds,
    };
    lua_getiuservalue(L, 1, 1);
    lvka_session *s = luaL_testudata(L, -1, LVKA_SESSION_MT);
    lvka_push_result_info(L, &r, s && s->session ? vka_session_n_past(s->session) : 0);
    lua_pushboolean(L, st->finished);
    lua_setfield(L, -2, "done");
    return 1;
}

/* close / __close / __gc: the generation ends where it is; the session
 * keeps the tokens generated so far. */
static int l_close(lua_State *L) {
    lvka_stream *st = check_stream(L, 1, "stream:close");
    if (!st->finished) st->stop_reason = VKA_STOP_CANCELLED;
    stream_release(st);
    st->drained = true;
    return 0;
}

static int l_gc(lua_State *L) {
    lvka_stream *st = check_stream(L, 1, "stream:__gc");
    stream_release(st);
    free(st->out.data);
    st->out.data = NULL;
    st->out.len = 0;
    return 0;
}

static const char *const stream_opt_names[] = {
    "temperature", "top_k", "top_p", "min_p", "repeat_penalty", "frequency_penalty", "presence_penalty",
    "penalty_last_n", "seed", "grammar", "grammar_root", "json_schema", "json", "max_tokens", "stop",
    "parse_special", "stop_on_eos", "tokens_per_call", "prefill_chunk", NULL,
};

static void copy_stops(lua_State *L, lvka_stream *st, const vka_generate_params *gp) {
    if (!gp->n_stop) return;
    st->stop = calloc(gp->n_stop, sizeof *st->stop);
    if (!st->stop) luaL_error(L, "session:stream: out of memory");
    for (size_t i = 0; i < gp->n_stop; i++) {
        st->stop[i] = strdup(gp->stop[i]);
        if (!st->stop[i]) luaL_error(L, "session:stream: out of memory");
        st->n_stop = i + 1;
    }
}

/* session:stream(prompt, opts) -> stream, nil, nil, stream: the stream is
 * callable, so `for piece in session:stream(...)` iterates it and closes it
 * when the loop ends or breaks. */
int lvka_session_stream(lua_State *L) {
    const char *fn = "session:stream";
    lvka_session *s = lvka_check_session(L, 1, fn);
    int pt = lua_type(L, 2);
    if (pt != LUA_TSTRING && pt != LUA_TTABLE)
        return luaL_error(L, "%s: argument #1 (prompt) must be a string or a list of token ids, got %s", fn,
                          lua_isnone(L, 2) ? "nothing" : luaL_typename(L, 2));
    lvka_check_opts(L, 3, fn, stream_opt_names);
    lua_settop(L, 3);
    luaL_checkstack(L, 24, fn);
    lvka_check_idle(L, s, fn);
    lua_Integer per_call = 1, chunk = 0;
    lvka_opt_integer(L, 3, fn, "tokens_per_call", &per_call);
    lvka_opt_integer(L, 3, fn, "prefill_chunk", &chunk);
    if (per_call < 1 || per_call > INT32_MAX) return luaL_error(L, "%s: opts.tokens_per_call must be at least 1", fn);
    if (chunk < 0) return luaL_error(L, "%s: opts.prefill_chunk must be 0 (all at once) or more", fn);
    lvka_gen_opts o;
    lvka_parse_gen_opts(L, 3, fn, &o);
    vka_session *vs = s->session;
    if (vs->model->vocab_only) return luaL_error(L, "%s: the model was loaded vocab-only", fn);

    size_t n_ids = 0;
    const int32_t *ids;
    if (pt == LUA_TTABLE) {
        ids = lvka_ids_from_table(L, 2, s->mref->model, fn, &n_ids);
    } else {
        size_t len;
        const char *text = lua_tolstring(L, 2, &len);
        int flags = (o.gp.parse_special ? VKA_TOKENIZE_PARSE_SPECIAL : 0) |
                    (vka_session_n_past(vs) == 0 ? VKA_TOKENIZE_MODEL_BOS : 0);
        ids = lvka_tokenize_to_stack(L, s->mref->model, text, len, flags, &n_ids, fn);
    }
    if (n_ids == 0 && vka_session_n_past(vs) == 0)
        return luaL_error(L, "%s: nothing to continue: the prompt and the session are empty", fn);

    lvka_stream *st = lua_newuserdatauv(L, sizeof *st, 1);
    memset(st, 0, sizeof *st);
    st->finished = true;       /* until it is complete, __gc has nothing to undo on the session */
    luaL_setmetatable(L, LVKA_STREAM_MT);
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 1);
    if (vka_sampler_create(s->mref->model, &o.gp.sampling, &st->sampler) != VKA_OK) return lvka_fail(L, fn);
    st->mref = s->mref;
    st->mref->refs++;
    st->prompt = malloc((n_ids ? n_ids : 1) * sizeof *st->prompt);
    if (!st->prompt) return luaL_error(L, "%s: out of memory", fn);
    memcpy(st->prompt, ids, n_ids * sizeof *ids);
    st->n_prompt = n_ids;
    copy_stops(L, st, &o.gp);
    st->prefill_chunk = (size_t)chunk;
    st->tokens_per_call = (int32_t)per_call;
    st->max_tokens = o.gp.max_tokens;
    st->stop_on_eos = o.gp.stop_on_eos;
    st->owner = s;
    st->finished = false;
    s->streaming = true;
    lua_pushnil(L);
    lua_pushnil(L);
    lua_pushvalue(L, -3);
    return 4;
}

void lvka_open_stream(lua_State *L) {
    static const luaL_Reg methods[] = {
        {"next", l_next},
        {"done", l_done},
        {"text", l_text},
        {"result", l_result},
        {"close", l_close},
        {NULL, NULL},
    };
    if (!luaL_newmetatable(L, LVKA_STREAM_MT)) {
        lua_pop(L, 1);
        return;
    }
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, l_call);
    lua_setfield(L, -2, "__call");
    lua_pushcfunction(L, l_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, l_close);
    lua_setfield(L, -2, "__close");
    lua_pop(L, 1);
}
