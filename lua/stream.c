/* stream.c — session:stream: generation as an iterator that a game loop or
 * a coroutine advances a bounded number of tokens per call. It is the
 * engine's step-wise generator (vka_generator), the same machine that
 * vka_generate runs to the end, so for the same prompt, parameters and seed
 * it produces the same text. On a session of
 * vkagent.scheduler, next() does not step: scheduler:step() advances every
 * stream of the scheduler in one batched pass, and next() returns the text
 * that arrived since the last call. */
#include <stdlib.h>
#include <string.h>

#include "lvka.h"

typedef struct lvka_stream {
    lvka_session *owner;       /* the session userdata (the stream's uservalue 1) */
    lvka_model_ref *mref;      /* keeps the vocabulary alive for the sampler */
    vka_generator *gen;
    size_t prefill_chunk;
    int32_t tokens_per_call;
    bool finished;             /* no more tokens will be sampled */
    bool drained;              /* nil has been returned */
    char *text;                /* everything emitted, kept once the generator is gone */
    size_t text_len;
    size_t returned;           /* bytes of it that next() has returned */
    vka_generate_result result;   /* counts and stop reason, kept likewise (text unused) */
} lvka_stream;

/* Keeps the generator's result, frees it, and lets the session be used again. */
static void stream_release(lvka_stream *st) {
    if (st->gen) {
        st->result = *vka_generator_result(st->gen);
        free(st->text);
        /* a copy: the generator's text goes with it (public API only) */
        st->text_len = st->result.text_len;
        st->text = st->result.text ? malloc(st->text_len + 1) : NULL;
        if (st->text) memcpy(st->text, st->result.text, st->text_len + 1);
        else st->text_len = 0;
        st->result.text = NULL;
        vka_generator_free(st->gen);
        st->gen = NULL;
    }
    lvka_model_ref_release(st->mref);
    st->mref = NULL;
    if (st->owner) st->owner->streaming = false;
    st->owner = NULL;
    st->finished = true;
}

/* ---------------------------------------------------------------- Lua side */

static lvka_stream *check_stream(lua_State *L, int arg, const char *fn) {
    lvka_stream *st = luaL_testudata(L, arg, LVKA_STREAM_MT);
    if (!st) luaL_error(L, "%s: argument #%d must be a vkagent stream, got %s", fn, arg, luaL_typename(L, arg));
    return st;
}

/* Everything emitted so far, from the generator or, once it is gone, the copy. */
static const char *emitted(const lvka_stream *st, size_t *len) {
    if (st->gen) {
        const vka_generate_result *r = vka_generator_result(st->gen);
        *len = r->text_len;
        return r->text ? r->text : "";
    }
    *len = st->text_len;
    return st->text ? st->text : "";
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
    /* this call's text is what the generator's output grew by since the last call */
    size_t from = st->returned, len;
    bool done = false;
    lua_getiuservalue(L, 1, 1);
    bool batched = lvka_session_batched(L, -1);
    lua_pop(L, 1);
    if (batched) {
        /* scheduler:step() did the work; a failure of this generator's own is kept in it */
        vka_status status = vka_generator_status(st->gen);
        if (status != VKA_OK) {
            stream_release(st);
            st->drained = true;
            return luaL_error(L, "%s: the generation failed in scheduler:step (%s)", fn, vka_status_name(status));
        }
        done = vka_generator_done(st->gen);
    } else if (vka_generator_step(st->gen, (uint32_t)budget, (uint32_t)st->prefill_chunk, &done) != VKA_OK) {
        stream_release(st);
        st->drained = true;
        return lvka_fail(L, fn);
    }
    if (done) stream_release(st);
    const char *text = emitted(st, &len);
    st->returned = len;
    if (len == from && st->finished) {
        st->drained = true;
        lua_pushnil(L);
    } else {
        lua_pushlstring(L, text + from, len - from);
    }
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
    size_t len;
    const char *text = emitted(st, &len);
    lua_pushlstring(L, text, len);
    return 1;
}

static int l_result(lua_State *L) {
    lvka_stream *st = check_stream(L, 1, "stream:result");
    vka_generate_result r = st->gen ? *vka_generator_result(st->gen) : st->result;
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
    bool ended_early = !st->finished;
    stream_release(st);
    if (ended_early) st->result.stop_reason = VKA_STOP_CANCELLED;
    st->drained = true;
    return 0;
}

static int l_gc(lua_State *L) {
    lvka_stream *st = check_stream(L, 1, "stream:__gc");
    stream_release(st);
    free(st->text);
    st->text = NULL;
    st->text_len = 0;
    return 0;
}

static const char *const stream_opt_names[] = {
    "temperature", "top_k", "top_p", "min_p", "repeat_penalty", "frequency_penalty", "presence_penalty",
    "penalty_last_n", "seed", "grammar", "grammar_root", "json_schema", "json", "max_tokens", "stop",
    "parse_special", "stop_on_eos", "strict", "lenient", "flexible_ws", "oneof_as_anyof", "tokens_per_call",
    "prefill_chunk", NULL,
};

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

    lvka_stream *st = lua_newuserdatauv(L, sizeof *st, 1);
    memset(st, 0, sizeof *st);
    st->finished = true;       /* until it is complete, __gc has nothing to undo on the session */
    luaL_setmetatable(L, LVKA_STREAM_MT);
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 1);
    if (vka_generator_create_tokens(vs, ids, n_ids, &o.gp, &st->gen) != VKA_OK) return lvka_fail(L, fn);
    st->mref = s->mref;
    st->mref->refs++;
    st->prefill_chunk = (size_t)chunk;
    st->tokens_per_call = (int32_t)per_call;
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
    static const luaL_Reg metamethods[] = {
        {"__call", l_call},
        {"__gc", l_gc},
        {"__close", l_close},
        {NULL, NULL},
    };
    lvka_new_class(L, LVKA_STREAM_MT, methods, metamethods);
}
