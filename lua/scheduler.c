/* scheduler.c — vkagent.scheduler(model, opts): continuous batching from
 * Lua. The scheduler's sessions are ordinary session userdata; streams
 * opened on them do not step themselves: sched:step() advances every open
 * one by a token (or a chunk of prompt) in one batched forward pass. */
#include <string.h>

#include "lvka.h"

#define LVKA_SCHEDULER_MT "vkagent.scheduler"

/* Userdata of a scheduler; its uservalue 1 is the model's userdata. Each
 * session made here holds the scheduler userdata as its uservalue 2, and
 * the engine refcounts the scheduler, so the C object outlives both
 * sched:close() and the collector while sessions still use it. */
typedef struct lvka_scheduler {
    vka_scheduler *sched;      /* NULL once closed */
    lvka_model_ref *mref;
} lvka_scheduler;

static lvka_scheduler *check_scheduler(lua_State *L, int arg, const char *fn) {
    lvka_scheduler *s = luaL_testudata(L, arg, LVKA_SCHEDULER_MT);
    if (!s) luaL_error(L, "%s: argument #%d must be a vkagent scheduler, got %s", fn, arg, luaL_typename(L, arg));
    if (!s->sched) luaL_error(L, "%s: the scheduler is closed", fn);
    return s;
}

static uint32_t opt_u32(lua_State *L, int idx, const char *fn, const char *key, uint32_t dflt) {
    lua_Integer v;
    if (!lvka_opt_integer(L, idx, fn, key, &v)) return dflt;
    if (v < 0 || v > (lua_Integer)UINT32_MAX) luaL_error(L, "%s: opts.%s must be a whole number >= 0, got %d", fn, key, (int)v);
    return (uint32_t)v;
}

static const char *const scheduler_opts[] = {"kv_tokens", "batch", "seqs", "kv_type", NULL};

/* vkagent.scheduler(model, {kv_tokens=, batch=, seqs=, kv_type=}). */
int lvka_scheduler_new(lua_State *L) {
    const char *fn = "vkagent.scheduler";
    lvka_model *m = lvka_check_model(L, 1, fn);
    lvka_check_opts(L, 2, fn, scheduler_opts);
    vka_scheduler_params sp;
    vka_scheduler_params_default(&sp);
    sp.n_kv_tokens = opt_u32(L, 2, fn, "kv_tokens", sp.n_kv_tokens);
    sp.n_batch = opt_u32(L, 2, fn, "batch", sp.n_batch);
    sp.n_seq_max = opt_u32(L, 2, fn, "seqs", sp.n_seq_max);
    const char *kv = NULL;
    if (lvka_opt_string(L, 2, fn, "kv_type", &kv)) {
        if (strcmp(kv, "auto") == 0) sp.kv_type = VKA_KV_AUTO;
        else if (strcmp(kv, "f32") == 0) sp.kv_type = VKA_KV_F32;
        else if (strcmp(kv, "f16") == 0) sp.kv_type = VKA_KV_F16;
        else luaL_error(L, "%s: opts.kv_type must be \"auto\", \"f32\" or \"f16\", not \"%s\"", fn, kv);
    }
    lvka_scheduler *ud = lua_newuserdatauv(L, sizeof *ud, 1);
    memset(ud, 0, sizeof *ud);
    luaL_setmetatable(L, LVKA_SCHEDULER_MT);
    if (vka_scheduler_create(m->ref->model, &sp, &ud->sched) != VKA_OK) {
        ud->sched = NULL;
        return lvka_fail(L, fn);
    }
    ud->mref = m->ref;
    ud->mref->refs++;
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 1);
    return 1;
}

static const char *const session_opts[] = {"n_ctx", NULL};

/* sched:session{n_ctx=}: a session drawing from the pool. */
static int l_session(lua_State *L) {
    const char *fn = "scheduler:session";
    lvka_scheduler *s = check_scheduler(L, 1, fn);
    lvka_check_opts(L, 2, fn, session_opts);
    vka_session_params sp;
    vka_session_params_default(&sp);
    sp.n_ctx = opt_u32(L, 2, fn, "n_ctx", 0);
    vka_session *vs = NULL;
    if (vka_scheduler_session_create(s->sched, &sp, &vs) != VKA_OK) return lvka_fail(L, fn);
    lua_getiuservalue(L, 1, 1);
    lvka_push_session(L, vs, s->mref, -1);
    lvka_session *ses = lua_touserdata(L, -1);
    ses->batched = true;
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 2);
    return 1;
}

/* sched:step() -> the number of generators still active. */
static int l_step(lua_State *L) {
    const char *fn = "scheduler:step";
    lvka_scheduler *s = check_scheduler(L, 1, fn);
    uint32_t active = 0;
    if (vka_scheduler_step(s->sched, &active) != VKA_OK) return lvka_fail(L, fn);
    lua_pushinteger(L, active);
    return 1;
}

static void set_int(lua_State *L, const char *key, lua_Integer v) {
    lua_pushinteger(L, v);
    lua_setfield(L, -2, key);
}

static int l_stats(lua_State *L) {
    const char *fn = "scheduler:stats";
    lvka_scheduler *s = check_scheduler(L, 1, fn);
    vka_scheduler_stats st;
    if (vka_scheduler_get_stats(s->sched, &st) != VKA_OK) return lvka_fail(L, fn);
    lua_createtable(L, 0, 11);
    set_int(L, "block_tokens", st.block_tokens);
    set_int(L, "n_blocks", st.n_blocks);
    set_int(L, "blocks_used", st.blocks_used);
    set_int(L, "blocks_shared", st.blocks_shared);
    set_int(L, "blocks_cached", st.blocks_cached);
    set_int(L, "n_sessions", st.n_sessions);
    set_int(L, "n_active", st.n_active);
    set_int(L, "steps", (lua_Integer)st.steps);
    set_int(L, "batch_tokens", (lua_Integer)st.batch_tokens);
    set_int(L, "prefix_tokens", (lua_Integer)st.prefix_tokens);
    set_int(L, "preemptions", (lua_Integer)st.preemptions);
    return 1;
}

static int l_model(lua_State *L) {
    check_scheduler(L, 1, "scheduler:model");
    lua_getiuservalue(L, 1, 1);
    return 1;
}

/* close / __close / __gc: drops the Lua handle's reference; sessions still
 * open keep the engine's scheduler (and the model) alive, but nothing
 * steps them together any more: their streams then step alone. */
static int l_close(lua_State *L) {
    lvka_scheduler *s = luaL_checkudata(L, 1, LVKA_SCHEDULER_MT);
    if (!s->sched) return 0;
    vka_scheduler_free(s->sched);
    s->sched = NULL;
    lvka_model_ref_release(s->mref);
    s->mref = NULL;
    return 0;
}

static int l_tostring(lua_State *L) {
    lvka_scheduler *s = luaL_checkudata(L, 1, LVKA_SCHEDULER_MT);
    vka_scheduler_stats st;
    if (!s->sched || vka_scheduler_get_stats(s->sched, &st) != VKA_OK) lua_pushstring(L, "vkagent.scheduler (closed)");
    else lua_pushfstring(L, "vkagent.scheduler (%d sessions, %d active)", (int)st.n_sessions, (int)st.n_active);
    return 1;
}

/* True while the session's scheduler is open in Lua: its streams wait for
 * sched:step() instead of stepping themselves. */
bool lvka_session_batched(lua_State *L, int session_idx) {
    lvka_session *s = luaL_testudata(L, session_idx, LVKA_SESSION_MT);
    if (!s || !s->batched) return false;
    lua_getiuservalue(L, session_idx, 2);
    lvka_scheduler *sch = luaL_testudata(L, -1, LVKA_SCHEDULER_MT);
    bool open = sch && sch->sched;
    lua_pop(L, 1);
    return open;
}

void lvka_open_scheduler(lua_State *L) {
    static const luaL_Reg methods[] = {
        {"session", l_session},
        {"step", l_step},
        {"stats", l_stats},
        {"model", l_model},
        {"close", l_close},
        {NULL, NULL},
    };
    static const luaL_Reg metamethods[] = {
        {"__gc", l_close},
        {"__close", l_close},
        {"__tostring", l_tostring},
        {NULL, NULL},
    };
    lvka_new_class(L, LVKA_SCHEDULER_MT, methods, metamethods);
}
