/* sandbox.c — vkagent.sandbox.eval: runs untrusted Lua text in a separate
 * lua_State with only the pure libraries (base without file access,
 * string, table, math, utf8, coroutine), an instruction limit and a
 * wall-clock limit checked by a count hook, and a memory limit enforced by
 * its allocator. A violation ends the run with a message saying which
 * limit; the host state is never touched.
 *
 * Known limit: one call into a C library function is not interrupted by
 * the hook, so a pathological string pattern on a long string can run past
 * the wall-clock limit (allocation-driven calls are bounded by the memory
 * limit). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lualib.h>

#include "lvka.h"

#define HOOK_EVERY 1000

typedef enum violation { V_NONE, V_INSTRUCTIONS, V_TIME } violation;

typedef struct sandbox {
    size_t used, peak, limit;
    bool refused;              /* the allocator said no at least once */
    lua_Integer max_instructions, instructions;
    double seconds, deadline, started;
    violation violated;
    char *out;                 /* what print wrote, up to out_cap bytes */
    size_t out_len, out_cap;
    bool out_cut;
} sandbox;

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *sb_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    sandbox *sb = ud;
    size_t old = ptr ? osize : 0;   /* without ptr, osize is a type tag */
    if (nsize == 0) {
        free(ptr);
        sb->used -= old;
        return NULL;
    }
    if (nsize > old && sb->used + (nsize - old) > sb->limit) {
        sb->refused = true;
        return NULL;
    }
    void *p = realloc(ptr, nsize);
    if (!p) {
        sb->refused = true;
        return NULL;
    }
    sb->used = sb->used - old + nsize;
    if (sb->used > sb->peak) sb->peak = sb->used;
    return p;
}

static sandbox *sb_of(lua_State *L) {
    void *ud;
    lua_getallocf(L, &ud);
    return ud;
}

/* Once a limit is crossed the hook fires on every instruction of whatever
 * thread runs, so code that catches the error with pcall cannot go on. */
static void sb_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    sandbox *sb = sb_of(L);
    if (sb->violated == V_NONE) {
        sb->instructions += HOOK_EVERY;
        if (sb->instructions > sb->max_instructions) sb->violated = V_INSTRUCTIONS;
        else if (now_seconds() > sb->deadline) sb->violated = V_TIME;
    }
    if (sb->violated != V_NONE) {
        lua_sethook(L, sb_hook, LUA_MASKCOUNT, 1);
        lua_pushstring(L, sb->violated == V_TIME ? "time limit exceeded" : "instruction limit exceeded");
        lua_error(L);
    }
}

/* print: into the output buffer, bounded. */
static int sb_print(lua_State *L) {
    sandbox *sb = sb_of(L);
    int n = lua_gettop(L);
    for (int i = 1; i <= n; i++) {
        size_t len;
        const char *s = luaL_tolstring(L, i, &len);
        for (int part = 0; part < 2; part++) {
            const char *bytes = part == 0 ? (i > 1 ? "\t" : "") : s;
            size_t blen = part == 0 ? strlen(bytes) : len;
            size_t room = sb->out_cap - sb->out_len;
            if (blen > room) {
                blen = room;
                sb->out_cut = true;
            }
            memcpy(sb->out + sb->out_len, bytes, blen);
            sb->out_len += blen;
        }
        lua_pop(L, 1);
    }
    if (sb->out_len < sb->out_cap) sb->out[sb->out_len++] = '\n';
    else sb->out_cut = true;
    return 0;
}

/* load: text chunks only; a binary chunk fails as load does, with nil and
 * a message. */
static int sb_load(lua_State *L) {
    size_t len;
    const char *chunk = luaL_checklstring(L, 1, &len);
    const char *name = luaL_optstring(L, 2, "=(load)");
    int has_env = !lua_isnone(L, 4);
    if (luaL_loadbufferx(L, chunk, len, name, "t") != LUA_OK) {
        lua_pushnil(L);
        lua_insert(L, -2);
        return 2;
    }
    if (has_env) {
        lua_pushvalue(L, 4);
        if (!lua_setupvalue(L, -2, 1)) lua_pop(L, 1);
    }
    return 1;
}

/* setmetatable without __gc: finalizers run with hooks off, so one that
 * loops could never be stopped. */
static int sb_setmetatable(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    if (lua_istable(L, 2)) {
        lua_pushliteral(L, "__gc");
        if (lua_rawget(L, 2) != LUA_TNIL)
            return luaL_error(L, "__gc metamethods are not available in the sandbox");
        lua_pop(L, 1);
    }
    lua_pushvalue(L, lua_upvalueindex(1));   /* the original */
    lua_insert(L, 1);
    lua_settop(L, 3);
    lua_call(L, 2, 1);
    return 1;
}

static int sb_unavailable(lua_State *L) {
    return luaL_error(L, "%s is not available in the sandbox", lua_tostring(L, lua_upvalueindex(1)));
}

/* Reading a missing global that names a withheld library says so. */
static int sb_global_index(lua_State *L) {
    static const char *const withheld[] = {"io", "os", "require", "debug", "package", "dofile", "loadfile",
                                           "loadstring", NULL};
    const char *key = lua_tostring(L, 2);
    for (const char *const *w = withheld; key && *w; w++)
        if (strcmp(*w, key) == 0)
            return luaL_error(L, "'%s' is not available in the sandbox (no files, processes or modules)", key);
    return 0;
}

static void open_libs(lua_State *L) {
    static const luaL_Reg libs[] = {
        {LUA_GNAME, luaopen_base},          {LUA_STRLIBNAME, luaopen_string}, {LUA_TABLIBNAME, luaopen_table},
        {LUA_MATHLIBNAME, luaopen_math},    {LUA_UTF8LIBNAME, luaopen_utf8},  {LUA_COLIBNAME, luaopen_coroutine},
        {NULL, NULL},
    };
    for (const luaL_Reg *lib = libs; lib->func; lib++) {
        luaL_requiref(L, lib->name, lib->func, 1);
        lua_pop(L, 1);
    }
    lua_pushnil(L);
    lua_setglobal(L, "dofile");
    lua_pushnil(L);
    lua_setglobal(L, "loadfile");
    lua_pushcfunction(L, sb_load);
    lua_setglobal(L, "load");
    lua_pushcfunction(L, sb_print);
    lua_setglobal(L, "print");
    lua_getglobal(L, "setmetatable");
    lua_pushcclosure(L, sb_setmetatable, 1);
    lua_setglobal(L, "setmetatable");
    lua_getglobal(L, "string");
    lua_pushliteral(L, "string.dump");
    lua_pushcclosure(L, sb_unavailable, 1);
    lua_setfield(L, -2, "dump");
    lua_pop(L, 1);
    lua_pushglobaltable(L);
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, sb_global_index);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, -2);
    lua_pop(L, 1);
}

/* Runs inside the sandbox under lua_pcall: opens the libraries, loads and
 * calls the code, appends "=> results" to the output. */
typedef struct sb_code {
    const char *text;
    size_t len;
} sb_code;

static int sb_main(lua_State *L) {
    const sb_code *code = lua_touserdata(L, 1);
    lua_pop(L, 1);
    open_libs(L);
    if (luaL_loadbufferx(L, code->text, code->len, "=code", "t") != LUA_OK) return lua_error(L);
    int base = lua_gettop(L) - 1;
    lua_call(L, 0, LUA_MULTRET);
    int n = lua_gettop(L) - base;
    if (n > 0) {
        luaL_Buffer b;
        luaL_buffinit(L, &b);
        luaL_addstring(&b, "=> ");
        for (int i = 1; i <= n; i++) {
            if (i > 1) luaL_addstring(&b, ", ");
            luaL_tolstring(L, base + i, NULL);
            luaL_addvalue(&b);
        }
        luaL_pushresult(&b);
        lua_pushcfunction(L, sb_print);
        lua_insert(L, -2);
        lua_call(L, 1, 0);
    }
    return 0;
}

static const char *const eval_opts[] = {"instructions", "memory", "seconds", "output", NULL};

static void push_stats(lua_State *L, const sandbox *sb) {
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, sb->instructions);
    lua_setfield(L, -2, "instructions");
    lua_pushinteger(L, (lua_Integer)sb->peak);
    lua_setfield(L, -2, "memory_peak");
    lua_pushnumber(L, now_seconds() - sb->started);
    lua_setfield(L, -2, "seconds");
}

/* sandbox.eval(code, {instructions=1e6, memory=16 MiB, seconds=1,
 * output=8192}) -> true, output | false, message; then a stats table. */
static int l_eval(lua_State *L) {
    const char *fn = "sandbox.eval";
    size_t len;
    const char *code = luaL_checklstring(L, 1, &len);
    lvka_check_opts(L, 2, fn, eval_opts);
    lua_Integer instructions = 1000000, memory = 16 << 20, output = 8192;
    double seconds = 1.0;
    lvka_opt_integer(L, 2, fn, "instructions", &instructions);
    lvka_opt_integer(L, 2, fn, "memory", &memory);
    lvka_opt_number(L, 2, fn, "seconds", &seconds);
    lvka_opt_integer(L, 2, fn, "output", &output);
    if (instructions < 1) return luaL_error(L, "%s: opts.instructions must be at least 1", fn);
    if (memory < 65536) return luaL_error(L, "%s: opts.memory must be at least 65536 bytes", fn);
    if (!(seconds > 0) || !isfinite(seconds)) return luaL_error(L, "%s: opts.seconds must be a positive number", fn);
    if (output < 0 || output > (1 << 26)) return luaL_error(L, "%s: opts.output must be between 0 and 64 MiB", fn);

    sandbox sb = {.limit = (size_t)memory, .max_instructions = instructions, .seconds = seconds};
    sb.out_cap = (size_t)output;
    sb.out = malloc(sb.out_cap + 1);
    if (!sb.out) return luaL_error(L, "%s: out of memory", fn);
    lua_State *S = lua_newstate(sb_alloc, &sb);
    if (!S) {
        free(sb.out);
        return luaL_error(L, "%s: could not create the sandbox (memory limit too small?)", fn);
    }
    sb.started = now_seconds();
    sb.deadline = sb.started + seconds;
    lua_sethook(S, sb_hook, LUA_MASKCOUNT, HOOK_EVERY);
    /* Nothing here allocates in the sandbox before the protected call: an
     * allocation failure outside it would be a panic. */
    sb_code chunk = {code, len};
    lua_pushcfunction(S, sb_main);
    lua_pushlightuserdata(S, &chunk);
    int status = lua_pcall(S, 1, 0, 0);

    /* The message, in the host's state, before the sandbox goes away. */
    luaL_Buffer msg;
    bool ok = status == LUA_OK && sb.violated == V_NONE;
    if (sb.violated == V_INSTRUCTIONS) {
        lua_pushfstring(L, "instruction limit exceeded (%I instructions)", (lua_Integer)sb.max_instructions);
    } else if (sb.violated == V_TIME) {
        lua_pushfstring(L, "time limit exceeded (%f s)", sb.seconds);
    } else if (status == LUA_ERRMEM || (status != LUA_OK && sb.refused && lua_type(S, -1) == LUA_TSTRING &&
                                        strcmp(lua_tostring(S, -1), "not enough memory") == 0)) {
        lua_pushfstring(L, "memory limit exceeded (%I bytes)", (lua_Integer)sb.limit);
    } else if (status != LUA_OK) {
        const char *m = lua_type(S, -1) == LUA_TSTRING || lua_type(S, -1) == LUA_TNUMBER ? lua_tostring(S, -1) : NULL;
        lua_pushstring(L, m ? m : "error object is not a string");
    } else {
        luaL_buffinit(L, &msg);
        luaL_addlstring(&msg, sb.out, sb.out_len);
        if (sb.out_cut) luaL_addstring(&msg, "[output cut]\n");
        luaL_pushresult(&msg);
    }
    lua_close(S);
    free(sb.out);
    lua_pushboolean(L, ok);
    lua_insert(L, -2);
    push_stats(L, &sb);
    return 3;
}

void lvka_open_sandbox(lua_State *L) {
    static const luaL_Reg fns[] = {
        {"eval", l_eval},
        {NULL, NULL},
    };
    luaL_newlib(L, fns);
}
