/* vkagent_lua.c — the Lua module "vkagent": its opener, the embedded agent
 * library in package.preload, and the argument/option checks every method
 * shares. */
#include <string.h>

#include <lualib.h>

#include "lvka.h"
#include "vkagent_lua.h"

#ifndef VKA_SOURCE_DIR
#define VKA_SOURCE_DIR ""
#endif

void lvka_new_class(lua_State *L, const char *name, const luaL_Reg *methods, const luaL_Reg *metamethods) {
    if (!luaL_newmetatable(L, name)) {
        lua_pop(L, 1);
        return;
    }
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
    lua_setfield(L, -2, "__index");
    luaL_setfuncs(L, metamethods, 0);
    lua_pop(L, 1);
}

int lvka_fail(lua_State *L, const char *fn) {
    return luaL_error(L, "%s: %s", fn, vka_last_error());
}

/* ---------------------------------------------------------------- arguments */

static int arg_error(lua_State *L, int arg, int pos, const char *fn, const char *name, const char *want) {
    return luaL_error(L, "%s: argument #%d (%s) must be %s, got %s", fn, pos, name, want,
                      lua_isnone(L, arg) ? "nothing" : luaL_typename(L, arg));
}

const char *lvka_check_string(lua_State *L, int arg, int pos, const char *fn, const char *name, size_t *len) {
    if (lua_type(L, arg) != LUA_TSTRING) arg_error(L, arg, pos, fn, name, "a string");
    return lua_tolstring(L, arg, len);
}

lua_Integer lvka_check_integer(lua_State *L, int arg, int pos, const char *fn, const char *name) {
    int isint = 0;
    lua_Integer v = lua_tointegerx(L, arg, &isint);
    if (lua_type(L, arg) != LUA_TNUMBER || !isint) arg_error(L, arg, pos, fn, name, "an integer");
    return v;
}

void lvka_check_table(lua_State *L, int arg, int pos, const char *fn, const char *name) {
    if (!lua_istable(L, arg)) arg_error(L, arg, pos, fn, name, "a table");
}

/* ---------------------------------------------------------------- options */

void lvka_check_opts(lua_State *L, int idx, const char *fn, const char *const *allowed) {
    idx = lua_absindex(L, idx);
    if (lua_isnoneornil(L, idx)) return;
    if (!lua_istable(L, idx))
        luaL_error(L, "%s: options must be a table, got %s", fn, luaL_typename(L, idx));
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "%s: option keys must be strings, got a %s key", fn, luaL_typename(L, -1));
        const char *key = lua_tostring(L, -1);
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++) ok = strcmp(*a, key) == 0;
        if (!ok) {
            luaL_Buffer b;
            luaL_buffinit(L, &b);
            for (const char *const *a = allowed; *a; a++) {
                if (a != allowed) luaL_addstring(&b, ", ");
                luaL_addstring(&b, *a);
            }
            luaL_pushresult(&b);
            luaL_error(L, "%s: unknown option '%s' (known: %s)", fn, key, lua_tostring(L, -1));
        }
    }
}

int lvka_opt_push(lua_State *L, int idx, const char *key) {
    if (lua_isnoneornil(L, idx)) {
        lua_pushnil(L);
        return LUA_TNIL;
    }
    return lua_getfield(L, idx, key);
}

static void opt_type_error(lua_State *L, const char *fn, const char *key, const char *want) {
    luaL_error(L, "%s: opts.%s must be %s, got %s", fn, key, want, luaL_typename(L, -1));
}

bool lvka_opt_number(lua_State *L, int idx, const char *fn, const char *key, double *out) {
    int t = lvka_opt_push(L, idx, key);
    if (t == LUA_TNIL) {
        lua_pop(L, 1);
        return false;
    }
    if (t != LUA_TNUMBER) opt_type_error(L, fn, key, "a number");
    *out = lua_tonumber(L, -1);
    lua_pop(L, 1);
    return true;
}

bool lvka_opt_integer(lua_State *L, int idx, const char *fn, const char *key, lua_Integer *out) {
    int t = lvka_opt_push(L, idx, key);
    if (t == LUA_TNIL) {
        lua_pop(L, 1);
        return false;
    }
    int isint = 0;
    lua_Integer v = lua_tointegerx(L, -1, &isint);
    if (t != LUA_TNUMBER || !isint) opt_type_error(L, fn, key, "an integer");
    *out = v;
    lua_pop(L, 1);
    return true;
}

bool lvka_opt_boolean(lua_State *L, int idx, const char *fn, const char *key, bool *out) {
    int t = lvka_opt_push(L, idx, key);
    if (t == LUA_TNIL) {
        lua_pop(L, 1);
        return false;
    }
    if (t != LUA_TBOOLEAN) opt_type_error(L, fn, key, "a boolean");
    *out = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return true;
}

bool lvka_opt_string(lua_State *L, int idx, const char *fn, const char *key, const char **out) {
    int t = lvka_opt_push(L, idx, key);
    if (t == LUA_TNIL) {
        lua_pop(L, 1);
        return false;
    }
    if (t != LUA_TSTRING) opt_type_error(L, fn, key, "a string");
    *out = lua_tostring(L, -1);   /* kept alive by the options table */
    lua_pop(L, 1);
    return true;
}

/* ---------------------------------------------------------------- tokens */

int32_t *lvka_tokenize_to_stack(lua_State *L, const vka_model *m, const char *text, size_t len, int flags,
                                size_t *n, const char *fn) {
    size_t cap = len + 4;
    int32_t *ids = lua_newuserdatauv(L, cap * sizeof *ids, 0);
    vka_status st = vka_tokenize(m, text, len, flags, ids, cap, n);
    if (st == VKA_ERR_BUFFER_TOO_SMALL) {
        cap = *n;
        lua_pop(L, 1);
        ids = lua_newuserdatauv(L, (cap ? cap : 1) * sizeof *ids, 0);
        st = vka_tokenize(m, text, len, flags, ids, cap, n);
    }
    if (st != VKA_OK) lvka_fail(L, fn);
    return ids;
}

int32_t *lvka_ids_from_table(lua_State *L, int idx, const vka_model *m, const char *fn, size_t *n) {
    idx = lua_absindex(L, idx);
    vka_model_info info;
    if (vka_model_get_info(m, &info) != VKA_OK) lvka_fail(L, fn);
    lua_Unsigned count = lua_rawlen(L, idx);
    int32_t *ids = lua_newuserdatauv(L, (count ? count : 1) * sizeof *ids, 0);
    for (lua_Unsigned i = 1; i <= count; i++) {
        lua_rawgeti(L, idx, (lua_Integer)i);
        int isint = 0;
        lua_Integer id = lua_tointegerx(L, -1, &isint);
        if (lua_type(L, -1) != LUA_TNUMBER || !isint)
            luaL_error(L, "%s: ids[%d] must be an integer token id, got %s", fn, (int)i, luaL_typename(L, -1));
        if (id < 0 || id >= (lua_Integer)info.n_vocab)
            luaL_error(L, "%s: ids[%d] = %d is not a token of this model (0..%d)", fn, (int)i, (int)id,
                       (int)info.n_vocab - 1);
        ids[i - 1] = (int32_t)id;
        lua_pop(L, 1);
    }
    *n = (size_t)count;
    return ids;
}

/* ---------------------------------------------------------------- module */

static int l_version(lua_State *L) {
    lua_pushstring(L, vka_version());
    return 1;
}

int lvka_open_embedded(lua_State *L, size_t i) {
    const lvka_embedded_file *f = &lvka_embedded_files[i];
    if (luaL_loadbufferx(L, f->source, f->len, f->chunkname, "t") != LUA_OK) return lua_error(L);
    lua_pushstring(L, f->module);
    lua_call(L, 1, 1);
    if (lua_isnil(L, -1)) lua_pushboolean(L, 1);
    return 1;
}

/* package.preload loader for one embedded file: the upvalue is its index. */
static int load_embedded(lua_State *L) {
    return lvka_open_embedded(L, (size_t)lua_tointeger(L, lua_upvalueindex(1)));
}

/* Registers the embedded files in package.preload, keeping any loader the
 * host put there first (so a host can override one). */
static void preload_embedded(lua_State *L) {
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    for (size_t i = 0; i < lvka_embedded_count; i++) {
        if (lua_getfield(L, -1, lvka_embedded_files[i].module) == LUA_TNIL) {
            lua_pushinteger(L, (lua_Integer)i);
            lua_pushcclosure(L, load_embedded, 1);
            lua_setfield(L, -3, lvka_embedded_files[i].module);
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

/* vkagent.connect{url, ...}: a model served over HTTP; the code is
 * lua/vkagent/remote.lua (the agent library's model surface on libcurl). */
static int l_connect(lua_State *L) {
    int n = lua_gettop(L);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "vkagent.remote");
    lua_call(L, 1, 1);
    lua_getfield(L, -1, "connect");
    lua_insert(L, 1);
    lua_pop(L, 1);
    lua_call(L, n, LUA_MULTRET);
    return lua_gettop(L);
}

int luaopen_vkagent(lua_State *L) {
    lvka_open_model(L);
    lvka_open_session(L);
    lvka_open_stream(L);
    lvka_open_scheduler(L);
    preload_embedded(L);

    lua_newtable(L);
    lua_pushcfunction(L, lvka_model_load);
    lua_setfield(L, -2, "load");
    lua_pushcfunction(L, lvka_devices);
    lua_setfield(L, -2, "devices");
    lua_pushcfunction(L, lvka_scheduler_new);
    lua_setfield(L, -2, "scheduler");
    lua_pushcfunction(L, l_version);
    lua_setfield(L, -2, "version");
    lvka_open_json(L);
    lua_setfield(L, -2, "json");
    lvka_open_fs(L);
    lua_setfield(L, -2, "fs");
    lvka_open_sandbox(L);
    lua_setfield(L, -2, "sandbox");
    lvka_open_http(L);
    lua_setfield(L, -2, "http");
    lua_pushcfunction(L, l_connect);
    lua_setfield(L, -2, "connect");
    lua_pushstring(L, VKA_SOURCE_DIR);
    lua_setfield(L, -2, "source_dir");
    return 1;
}

void vka_lua_preload(lua_State *L) {
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, luaopen_vkagent);
    lua_setfield(L, -2, "vkagent");
    lua_pop(L, 1);
    preload_embedded(L);
}
