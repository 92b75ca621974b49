/* session.c — the session userdata: generate (with an on_token callback
 * that may raise), chat, reset, fork, rewind; and the generation options
 * shared with streams. Lua errors never cross vka_generate: a callback's
 * error is caught, generation stops, and the error is raised again once
 * the C call has returned and cleaned up. */
#include <stdlib.h>
#include <string.h>

#include "lvka.h"

lvka_session *lvka_check_session(lua_State *L, int arg, const char *fn) {
    lvka_session *s = luaL_testudata(L, arg, LVKA_SESSION_MT);
    if (!s) luaL_error(L, "%s: argument #%d must be a vkagent session, got %s", fn, arg, luaL_typename(L, arg));
    if (!s->session) luaL_error(L, "%s: the session is closed", fn);
    return s;
}

void lvka_check_idle(lua_State *L, lvka_session *s, const char *fn) {
    if (s->generating) luaL_error(L, "%s: the session is generating (called from its own on_token?)", fn);
    if (s->streaming) luaL_error(L, "%s: a stream is open on this session; finish or close it first", fn);
}

void lvka_push_session(lua_State *L, vka_session *session, lvka_model_ref *mref, int model_idx) {
    model_idx = lua_absindex(L, model_idx);
    lvka_session *ud = lua_newuserdatauv(L, sizeof *ud, 2);
    memset(ud, 0, sizeof *ud);
    ud->session = session;
    ud->mref = mref;
    mref->refs++;
    luaL_setmetatable(L, LVKA_SESSION_MT);
    lua_pushvalue(L, model_idx);
    lua_setiuservalue(L, -2, 1);
}

/* ---------------------------------------------------------------- options */

const char *const lvka_generate_opt_names[] = {
    "temperature", "top_k", "top_p", "min_p", "repeat_penalty", "frequency_penalty", "presence_penalty",
    "penalty_last_n", "seed", "grammar", "grammar_root", "json_schema", "json", "max_tokens", "stop",
    "on_token", "parse_special", "stop_on_eos", "strict", "lenient", "flexible_ws", "oneof_as_anyof", "logit_bias", NULL,
};

static float opt_float(lua_State *L, int idx, const char *fn, const char *key, float dflt) {
    double v;
    return lvka_opt_number(L, idx, fn, key, &v) ? (float)v : dflt;
}

static int32_t opt_i32(lua_State *L, int idx, const char *fn, const char *key, int32_t dflt) {
    lua_Integer v;
    if (!lvka_opt_integer(L, idx, fn, key, &v)) return dflt;
    if (v < INT32_MIN || v > INT32_MAX) luaL_error(L, "%s: opts.%s is out of range", fn, key);
    return (int32_t)v;
}

/* opts.stop: a string or a list of strings; the pointer array lives in a
 * userdata left on the stack. */
static void parse_stop(lua_State *L, int idx, const char *fn, vka_generate_params *gp) {
    int t = lvka_opt_push(L, idx, "stop");
    if (t == LUA_TNIL) return;   /* the nil stays as a placeholder */
    int list = lua_gettop(L);
    if (t == LUA_TSTRING) {
        const char **one = lua_newuserdatauv(L, sizeof *one, 0);
        one[0] = lua_tostring(L, list);
        gp->stop = one;
        gp->n_stop = 1;
    } else if (t == LUA_TTABLE) {
        lua_Unsigned n = lua_rawlen(L, list);
        const char **arr = lua_newuserdatauv(L, (n ? n : 1) * sizeof *arr, 0);
        for (lua_Unsigned i = 1; i <= n; i++) {
            if (lua_rawgeti(L, list, (lua_Integer)i) != LUA_TSTRING)
                luaL_error(L, "%s: opts.stop[%d] must be a string, got %s", fn, (int)i, luaL_typename(L, -1));
            arr[i - 1] = lua_tostring(L, -1);   /* kept alive by the list */
            lua_pop(L, 1);
        }
        gp->stop = arr;
        gp->n_stop = (size_t)n;
    } else {
        luaL_error(L, "%s: opts.stop must be a string or a list of strings, got %s", fn, lua_typename(L, t));
    }
    for (size_t i = 0; i < gp->n_stop; i++)
        if (!gp->stop[i][0]) luaL_error(L, "%s: opts.stop[%d] is empty", fn, (int)i + 1);
}

/* opts.logit_bias: {[token id] = bias}, -math.huge banning a token; the
 * array lives in a userdata left on the stack (the sampler copies it). */
static void parse_logit_bias(lua_State *L, int idx, const char *fn, vka_sampling_params *sp) {
    int t = lvka_opt_push(L, idx, "logit_bias");
    if (t == LUA_TNIL) return;   /* the nil stays as a placeholder */
    if (t != LUA_TTABLE) luaL_error(L, "%s: opts.logit_bias must be a table {[token id] = bias}, got %s", fn, lua_typename(L, t));
    int map = lua_gettop(L);
    size_t n = 0;
    for (lua_pushnil(L); lua_next(L, map); lua_pop(L, 1)) n++;
    vka_logit_bias *arr = lua_newuserdatauv(L, (n ? n : 1) * sizeof *arr, 0);
    size_t i = 0;
    for (lua_pushnil(L); lua_next(L, map); lua_pop(L, 1), i++) {
        int is_int = 0, is_num = 0;
        lua_Integer id = lua_tointegerx(L, -2, &is_int);
        lua_Number bias = lua_tonumberx(L, -1, &is_num);
        if (!is_int || lua_type(L, -2) != LUA_TNUMBER || id < 0 || id > INT32_MAX)
            luaL_error(L, "%s: opts.logit_bias keys must be token ids (integers >= 0), got %s", fn, luaL_typename(L, -2));
        if (!is_num || lua_type(L, -1) != LUA_TNUMBER)
            luaL_error(L, "%s: opts.logit_bias[%d] must be a number (-math.huge bans), got %s", fn, (int)id,
                       luaL_typename(L, -1));
        arr[i] = (vka_logit_bias){(int32_t)id, (float)bias};
    }
    sp->logit_bias = arr;
    sp->n_logit_bias = n;
}

/* opts.strict, lenient, flexible_ws, oneof_as_anyof: booleans for the
 * conversion of json_schema, or of json (the schema `true`), as
 * VKA_JSON_SCHEMA_* bits; true without either is an error rather than a
 * setting that does nothing. */
static void parse_schema_flags(lua_State *L, int idx, const char *fn, vka_sampling_params *sp) {
    static const struct {
        const char *key;
        uint32_t flag;
    } flags[] = {
        {"strict", VKA_JSON_SCHEMA_STRICT},
        {"lenient", VKA_JSON_SCHEMA_LENIENT},
        {"flexible_ws", VKA_JSON_SCHEMA_FLEXIBLE_WS},
        {"oneof_as_anyof", VKA_JSON_SCHEMA_ONEOF_AS_ANYOF},
    };
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        bool on = false;
        if (!lvka_opt_boolean(L, idx, fn, flags[i].key, &on) || !on) continue;
        if (!sp->json_schema && !sp->json)
            luaL_error(L, "%s: opts.%s applies to json_schema or json, and neither is given", fn, flags[i].key);
        sp->json_schema_flags |= flags[i].flag;
    }
}

void lvka_parse_gen_opts(lua_State *L, int idx, const char *fn, lvka_gen_opts *o) {
    idx = lua_absindex(L, idx);
    memset(o, 0, sizeof *o);
    vka_generate_params *gp = &o->gp;
    vka_generate_params_default(gp);
    vka_sampling_params *sp = &gp->sampling;
    sp->temperature = opt_float(L, idx, fn, "temperature", sp->temperature);
    sp->top_k = opt_i32(L, idx, fn, "top_k", sp->top_k);
    sp->top_p = opt_float(L, idx, fn, "top_p", sp->top_p);
    sp->min_p = opt_float(L, idx, fn, "min_p", sp->min_p);
    sp->repeat_penalty = opt_float(L, idx, fn, "repeat_penalty", sp->repeat_penalty);
    sp->frequency_penalty = opt_float(L, idx, fn, "frequency_penalty", sp->frequency_penalty);
    sp->presence_penalty = opt_float(L, idx, fn, "presence_penalty", sp->presence_penalty);
    sp->penalty_last_n = opt_i32(L, idx, fn, "penalty_last_n", sp->penalty_last_n);
    lua_Integer seed;
    if (lvka_opt_integer(L, idx, fn, "seed", &seed)) {
        if (seed < 0) luaL_error(L, "%s: opts.seed must be a non-negative integer, got %d", fn, (int)seed);
        sp->seed = (uint64_t)seed;
    }
    lvka_opt_string(L, idx, fn, "grammar", &sp->grammar);
    lvka_opt_string(L, idx, fn, "grammar_root", &sp->grammar_root);
    lvka_opt_boolean(L, idx, fn, "json", &sp->json);
    int t = lvka_opt_push(L, idx, "json_schema");
    if (t == LUA_TTABLE) {
        lvka_json_encode_value(L, -1, false, fn);   /* the text stays on the stack */
        sp->json_schema = lua_tostring(L, -1);
    } else if (t == LUA_TSTRING) {
        sp->json_schema = lua_tostring(L, -1);
    } else if (t != LUA_TNIL) {
        luaL_error(L, "%s: opts.json_schema must be a table or a JSON string, got %s", fn, lua_typename(L, t));
    }
    parse_schema_flags(L, idx, fn, sp);
    parse_logit_bias(L, idx, fn, sp);
    gp->max_tokens = opt_i32(L, idx, fn, "max_tokens", gp->max_tokens);
    parse_stop(L, idx, fn, gp);
    lvka_opt_boolean(L, idx, fn, "parse_special", &gp->parse_special);
    lvka_opt_boolean(L, idx, fn, "stop_on_eos", &gp->stop_on_eos);
    t = lvka_opt_push(L, idx, "on_token");
    if (t == LUA_TFUNCTION) o->on_token = lua_gettop(L);
    else if (t != LUA_TNIL) luaL_error(L, "%s: opts.on_token must be a function, got %s", fn, lua_typename(L, t));
}

void lvka_push_result_info(lua_State *L, const vka_generate_result *r, uint32_t n_past) {
    lua_createtable(L, 0, 7);
    lua_pushstring(L, vka_stop_reason_name(r->stop_reason));
    lua_setfield(L, -2, "stop_reason");
    lua_pushboolean(L, r->grammar_complete);
    lua_setfield(L, -2, "complete");
    lua_pushinteger(L, r->n_prompt_tokens);
    lua_setfield(L, -2, "n_prompt_tokens");
    lua_pushinteger(L, r->n_generated);
    lua_setfield(L, -2, "n_generated");
    lua_pushnumber(L, r->prompt_seconds);
    lua_setfield(L, -2, "prompt_seconds");
    lua_pushnumber(L, r->generate_seconds);
    lua_setfield(L, -2, "generate_seconds");
    lua_pushinteger(L, n_past);
    lua_setfield(L, -2, "n_past");
}

/* ---------------------------------------------------------------- generate */

typedef struct callback_ctx {
    lua_State *L;
    int fn;                    /* stack index of on_token */
    int err_slot;              /* stack index where a raised error is kept */
    bool failed;
} callback_ctx;

/* Runs on_token under lua_pcall: an error (or a yield attempt, which Lua
 * reports as an error here) stops generation and is kept for later. */
static bool on_piece(const char *piece, size_t len, int32_t token, void *user) {
    callback_ctx *c = user;
    lua_State *L = c->L;
    if (!lua_checkstack(L, 4)) {
        lua_pushliteral(L, "on_token: Lua stack overflow");
        lua_replace(L, c->err_slot);
        c->failed = true;
        return false;
    }
    lua_pushvalue(L, c->fn);
    lua_pushlstring(L, piece, len);
    lua_pushinteger(L, token);
    if (lua_pcall(L, 2, 1, 0) != LUA_OK) {
        lua_replace(L, c->err_slot);
        c->failed = true;
        return false;
    }
    bool go_on = !(lua_isboolean(L, -1) && !lua_toboolean(L, -1));
    lua_pop(L, 1);
    return go_on;
}

/* What to generate from: text, token ids, or a conversation. */
typedef struct gen_input {
    const char *prompt;
    const int32_t *ids;
    size_t n_ids;
    const char *messages;        /* chat: JSON messages */
    const vka_chat_params *chat;
} gen_input;

/* Runs the generation with parsed options and pushes (text, info). */
static int run_generate(lua_State *L, lvka_session *s, const gen_input *in, lvka_gen_opts *o, const char *fn) {
    lua_pushnil(L);
    callback_ctx ctx = {.L = L, .fn = o->on_token, .err_slot = lua_gettop(L)};
    if (o->on_token) {
        o->gp.on_piece = on_piece;
        o->gp.user = &ctx;
    }
    vka_generate_result r;
    s->generating = true;
    vka_status st = in->messages ? vka_session_chat(s->session, in->messages, in->chat, &o->gp, &r)
                    : in->ids ? vka_generate_tokens(s->session, in->ids, in->n_ids, &o->gp, &r)
                              : vka_generate(s->session, in->prompt, &o->gp, &r);
    s->generating = false;
    if (ctx.failed) {
        vka_generate_result_clear(&r);
        lua_pushvalue(L, ctx.err_slot);
        return lua_error(L);
    }
    if (st != VKA_OK) {
        vka_generate_result_clear(&r);
        return lvka_fail(L, fn);
    }
    lua_pushlstring(L, r.text, r.text_len);
    lvka_push_result_info(L, &r, vka_session_n_past(s->session));
    vka_generate_result_clear(&r);
    return 2;
}

/* session:generate(prompt, opts): prompt is text, or a list of token ids
 * fed as they are. */
static int l_generate(lua_State *L) {
    const char *fn = "session:generate";
    lvka_session *s = lvka_check_session(L, 1, fn);
    int pt = lua_type(L, 2);
    if (pt != LUA_TSTRING && pt != LUA_TTABLE)
        return luaL_error(L, "%s: argument #1 (prompt) must be a string or a list of token ids, got %s", fn,
                          lua_isnone(L, 2) ? "nothing" : luaL_typename(L, 2));
    lvka_check_opts(L, 3, fn, lvka_generate_opt_names);
    lua_settop(L, 3);
    luaL_checkstack(L, 24, fn);   /* the option strings, buffers and results stay on the stack */
    lvka_check_idle(L, s, fn);
    gen_input in = {0};
    if (pt == LUA_TTABLE) {
        in.ids = lvka_ids_from_table(L, 2, s->mref->model, fn, &in.n_ids);   /* never NULL */
    } else {
        in.prompt = lua_tostring(L, 2);
    }
    lvka_gen_opts o;
    lvka_parse_gen_opts(L, 3, fn, &o);
    return run_generate(L, s, &in, &o, fn);
}

/* generate's option names followed by the chat template's. */
static const char *const *chat_opt_names(void) {
    static const char *names[64];
    if (!names[0]) {
        size_t n = 0;
        for (const char *const *a = lvka_generate_opt_names; *a; a++) names[n++] = *a;
        for (const char *const *a = lvka_chat_opt_names; *a; a++) names[n++] = *a;
        names[n] = NULL;
    }
    return names;
}

/* session:chat(messages, opts): one chat turn through vka_session_chat:
 * the conversation is rendered with the model's chat template, the tokens
 * the session already holds that match it are kept (a conversation grows
 * at its end), the rest is fed and the assistant's reply generated. */
static int l_chat(lua_State *L) {
    const char *fn = "session:chat";
    lvka_session *s = lvka_check_session(L, 1, fn);
    if (!lua_istable(L, 2) && lua_type(L, 2) != LUA_TSTRING)
        return luaL_error(L, "%s: argument #1 (messages) must be a list of messages or JSON text, got %s", fn,
                          luaL_typename(L, 2));
    lvka_check_opts(L, 3, fn, chat_opt_names());
    lua_settop(L, 3);
    luaL_checkstack(L, 24, fn);
    lvka_check_idle(L, s, fn);
    vka_chat_params cp;
    gen_input in = {.chat = &cp};
    in.messages = lvka_chat_args(L, 2, 3, fn, &cp);
    lvka_gen_opts o;
    lvka_parse_gen_opts(L, 3, fn, &o);
    int nret = run_generate(L, s, &in, &o, fn);
    /* what was kept = the context now, less what this turn fed and generated */
    lua_getfield(L, -1, "n_past");
    lua_getfield(L, -2, "n_prompt_tokens");
    lua_getfield(L, -3, "n_generated");
    lua_Integer kept = lua_tointeger(L, -3) - lua_tointeger(L, -2) - lua_tointeger(L, -1);
    lua_pop(L, 3);
    lua_pushinteger(L, kept);
    lua_setfield(L, -2, "n_reused");
    return nret;
}

/* ---------------------------------------------------------------- state */

static int l_reset(lua_State *L) {
    lvka_session *s = lvka_check_session(L, 1, "session:reset");
    lvka_check_idle(L, s, "session:reset");
    if (vka_session_reset(s->session) != VKA_OK) return lvka_fail(L, "session:reset");
    return 0;
}

static int l_rewind(lua_State *L) {
    lvka_session *s = lvka_check_session(L, 1, "session:rewind");
    lua_Integer n = lvka_check_integer(L, 2, 1, "session:rewind", "n_past");
    lvka_check_idle(L, s, "session:rewind");
    uint32_t n_past = vka_session_n_past(s->session);
    if (n < 0 || n > (lua_Integer)n_past)
        return luaL_error(L, "session:rewind: n_past must be between 0 and %d (the current position), got %d",
                          (int)n_past, (int)n);
    if (vka_session_rewind(s->session, (uint32_t)n) != VKA_OK) return lvka_fail(L, "session:rewind");
    return 0;
}

/* session:shift(n_keep, n_discard): vka_session_shift. */
static int l_shift(lua_State *L) {
    lvka_session *s = lvka_check_session(L, 1, "session:shift");
    lua_Integer keep = lvka_check_integer(L, 2, 1, "session:shift", "n_keep");
    lua_Integer discard = lvka_check_integer(L, 3, 2, "session:shift", "n_discard");
    lvka_check_idle(L, s, "session:shift");
    lua_Integer n_past = vka_session_n_past(s->session);
    if (keep < 0 || discard < 0 || keep + discard > n_past)
        return luaL_error(L, "session:shift: need 0 <= n_keep, 0 <= n_discard and n_keep + n_discard <= %d "
                          "(the current position), got %d and %d", (int)n_past, (int)keep, (int)discard);
    if (vka_session_shift(s->session, (uint32_t)keep, (uint32_t)discard) != VKA_OK)
        return lvka_fail(L, "session:shift");
    return 0;
}

/* session:save(path): vka_session_save. */
static int l_save(lua_State *L) {
    lvka_session *s = lvka_check_session(L, 1, "session:save");
    const char *path = lvka_check_string(L, 2, 1, "session:save", "path", NULL);
    lvka_check_idle(L, s, "session:save");
    if (vka_session_save(s->session, path) != VKA_OK) return lvka_fail(L, "session:save");
    return 0;
}

static int l_fork(lua_State *L) {
    lvka_session *s = lvka_check_session(L, 1, "session:fork");
    if (s->generating) return luaL_error(L, "session:fork: the session is generating");
    vka_session *copy = NULL;
    if (vka_session_fork(s->session, &copy) != VKA_OK) return lvka_fail(L, "session:fork");
    lua_getiuservalue(L, 1, 1);
    lvka_push_session(L, copy, s->mref, -1);
    return 1;
}

static int l_n_past(lua_State *L) {
    lvka_session *s = lvka_check_session(L, 1, "session:n_past");
    lua_pushinteger(L, vka_session_n_past(s->session));
    return 1;
}

static int l_n_ctx(lua_State *L) {
    lvka_session *s = lvka_check_session(L, 1, "session:n_ctx");
    lua_pushinteger(L, vka_session_n_ctx(s->session));
    return 1;
}

static int l_tokens(lua_State *L) {
    lvka_session *s = lvka_check_session(L, 1, "session:tokens");
    uint32_t n = vka_session_n_past(s->session);
    const int32_t *ids = vka_session_tokens(s->session);
    lua_createtable(L, (int)n, 0);
    for (uint32_t i = 0; i < n; i++) {
        lua_pushinteger(L, ids[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

/* ---------------------------------------------------------------- custom samplers */

/* session:feed(ids): appends token ids (a list) to the context and
 * evaluates them, so that session:logits() predicts what follows. */
static int l_feed(lua_State *L) {
    const char *fn = "session:feed";
    lvka_session *s = lvka_check_session(L, 1, fn);
    lvka_check_idle(L, s, fn);
    lvka_check_table(L, 2, 1, fn, "ids");
    size_t n;
    int32_t *ids = lvka_ids_from_table(L, 2, vka_session_model(s->session), fn, &n);
    if (vka_session_feed(s->session, ids, n) != VKA_OK) return lvka_fail(L, fn);
    return 0;
}

#define LOGITS_MT "vkagent.logits"

/* A copy of the next-token logits: logits[id] (ids from 0), #logits. */
typedef struct logits_ud {
    uint32_t n;
    float v[];
} logits_ud;

static int logits_argmax(lua_State *L) {
    logits_ud *u = luaL_checkudata(L, 1, LOGITS_MT);
    uint32_t best = 0;
    for (uint32_t i = 1; i < u->n; i++)
        if (u->v[i] > u->v[best]) best = i;
    lua_pushinteger(L, best);
    return 1;
}

/* logits:top(k): the ids of the k highest logits, best first (ties: lower id). */
static int logits_top(lua_State *L) {
    logits_ud *u = luaL_checkudata(L, 1, LOGITS_MT);
    lua_Integer k = lvka_check_integer(L, 2, 1, "logits:top", "k");
    if (k < 0 || k > u->n) return luaL_error(L, "logits:top: k must be between 0 and %d, got %d", (int)u->n, (int)k);
    /* insertion into a sorted list of k: k is small for custom samplers */
    uint32_t *best = lua_newuserdatauv(L, (k ? (size_t)k : 1) * sizeof *best, 0);
    uint32_t have = 0;
    for (uint32_t i = 0; i < u->n && k > 0; i++) {
        if (have == (uint32_t)k && !(u->v[i] > u->v[best[have - 1]])) continue;
        uint32_t at = have < (uint32_t)k ? have++ : have - 1;
        while (at > 0 && u->v[i] > u->v[best[at - 1]]) {
            best[at] = best[at - 1];
            at--;
        }
        best[at] = i;
    }
    lua_createtable(L, (int)have, 0);
    for (uint32_t i = 0; i < have; i++) {
        lua_pushinteger(L, best[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

static int logits_index(lua_State *L) {
    logits_ud *u = luaL_checkudata(L, 1, LOGITS_MT);
    int is_int = 0;
    lua_Integer id = lua_tointegerx(L, 2, &is_int);
    if (is_int && lua_type(L, 2) == LUA_TNUMBER) {
        if (id >= 0 && id < u->n) lua_pushnumber(L, u->v[id]);
        else lua_pushnil(L);
        return 1;
    }
    lua_getmetatable(L, 1);
    lua_getfield(L, -1, "methods");
    lua_pushvalue(L, 2);
    lua_rawget(L, -2);
    return 1;
}

static int logits_len(lua_State *L) {
    lua_pushinteger(L, ((logits_ud *)luaL_checkudata(L, 1, LOGITS_MT))->n);
    return 1;
}

/* session:logits(): a copy of the logits predicting the next token, nil
 * before anything was fed. */
static int l_logits(lua_State *L) {
    const char *fn = "session:logits";
    lvka_session *s = lvka_check_session(L, 1, fn);
    lvka_check_idle(L, s, fn);
    const float *v = vka_session_logits(s->session);
    if (!v) {
        lua_pushnil(L);
        return 1;
    }
    vka_model_info info;
    vka_model_get_info(vka_session_model(s->session), &info);
    logits_ud *u = lua_newuserdatauv(L, sizeof *u + (size_t)info.n_vocab * sizeof(float), 0);
    u->n = info.n_vocab;
    memcpy(u->v, v, (size_t)info.n_vocab * sizeof(float));
    if (luaL_newmetatable(L, LOGITS_MT)) {
        static const luaL_Reg methods[] = {{"argmax", logits_argmax}, {"top", logits_top}, {NULL, NULL}};
        luaL_newlib(L, methods);
        lua_setfield(L, -2, "methods");
        lua_pushcfunction(L, logits_index);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, logits_len);
        lua_setfield(L, -2, "__len");
    }
    lua_setmetatable(L, -2);
    return 1;
}

/* session:warning(): vka_session_warning's text, or nil. */
static int l_warning(lua_State *L) {
    lvka_session *s = lvka_check_session(L, 1, "session:warning");
    const char *w = vka_session_warning(s->session);
    if (w) lua_pushstring(L, w);
    else lua_pushnil(L);
    return 1;
}

/* session:kv_info() -> {blocks, blocks_shared, tokens}: its share of the KV pool. */
static int l_kv_info(lua_State *L) {
    lvka_session *s = lvka_check_session(L, 1, "session:kv_info");
    vka_session_kv_info kv;
    if (vka_session_get_kv_info(s->session, &kv) != VKA_OK) return lvka_fail(L, "session:kv_info");
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, kv.blocks);
    lua_setfield(L, -2, "blocks");
    lua_pushinteger(L, kv.blocks_shared);
    lua_setfield(L, -2, "blocks_shared");
    lua_pushinteger(L, kv.tokens);
    lua_setfield(L, -2, "tokens");
    return 1;
}

/* session:scheduler(): the vkagent.scheduler it was made by, or nil. */
static int l_scheduler(lua_State *L) {
    lvka_check_session(L, 1, "session:scheduler");
    lua_getiuservalue(L, 1, 2);
    return 1;
}

/* session:batched(): true while its scheduler is open, so that its streams
 * advance by scheduler:step() rather than by stream:next(). */
static int l_batched(lua_State *L) {
    lvka_check_session(L, 1, "session:batched");
    lua_pushboolean(L, lvka_session_batched(L, 1));
    return 1;
}

static int l_cancel(lua_State *L) {
    lvka_session *s = lvka_check_session(L, 1, "session:cancel");
    vka_session_cancel(s->session);
    return 0;
}

static int l_model(lua_State *L) {
    lvka_check_session(L, 1, "session:model");
    lua_getiuservalue(L, 1, 1);
    return 1;
}

/* close / __close / __gc. From Lua, closing a session in use is an error;
 * the collector only sees sessions nothing uses. */
static int l_close(lua_State *L) {
    lvka_session *s = luaL_checkudata(L, 1, LVKA_SESSION_MT);
    if (!s->session) return 0;
    if (s->generating) return luaL_error(L, "session:close: the session is generating");
    vka_session_free(s->session);
    s->session = NULL;
    lvka_model_ref_release(s->mref);
    s->mref = NULL;
    return 0;
}

static int l_gc(lua_State *L) {
    lvka_session *s = luaL_checkudata(L, 1, LVKA_SESSION_MT);
    if (s->session) {
        vka_session_free(s->session);
        s->session = NULL;
        lvka_model_ref_release(s->mref);
        s->mref = NULL;
    }
    return 0;
}

static int l_tostring(lua_State *L) {
    lvka_session *s = luaL_checkudata(L, 1, LVKA_SESSION_MT);
    if (!s->session) lua_pushstring(L, "vkagent.session (closed)");
    else
        lua_pushfstring(L, "vkagent.session (%d/%d tokens)", (int)vka_session_n_past(s->session),
                        (int)vka_session_n_ctx(s->session));
    return 1;
}

void lvka_open_session(lua_State *L) {
    static const luaL_Reg methods[] = {
        {"generate", l_generate},
        {"chat", l_chat},
        {"stream", lvka_session_stream},
        {"reset", l_reset},
        {"rewind", l_rewind},
        {"fork", l_fork},
        {"shift", l_shift},
        {"save", l_save},
        {"n_past", l_n_past},
        {"n_ctx", l_n_ctx},
        {"tokens", l_tokens},
        {"feed", l_feed},
        {"logits", l_logits},
        {"warning", l_warning},
        {"kv_info", l_kv_info},
        {"scheduler", l_scheduler},
        {"batched", l_batched},
        {"cancel", l_cancel},
        {"model", l_model},
        {"close", l_close},
        {NULL, NULL},
    };
    static const luaL_Reg metamethods[] = {
        {"__gc", l_gc},
        {"__close", l_close},
        {"__tostring", l_tostring},
        {NULL, NULL},
    };
    lvka_new_class(L, LVKA_SESSION_MT, methods, metamethods);
}
