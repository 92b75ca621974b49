/* fuzz_lua_json.c — Lua's vkagent.json.decode over arbitrary text, in one
 * Lua state. What decodes and encodes again must decode once more and
 * encode to the same text (encoding is stable after one round). */
#include <lauxlib.h>
#include <lua.h>
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "lvka.h"

static lua_State *L;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    L = luaL_newstate();
    FUZZ_CHECK(L != NULL, "no Lua state");
    lvka_open_json(L);
    lua_setglobal(L, "json");
    return 0;
}

/* Calls json.<fn>(value at idx) protected; leaves the result or the error
 * message on the stack and returns whether it succeeded. */
static bool call_json(const char *fn, int idx) {
    idx = lua_absindex(L, idx);
    lua_getglobal(L, "json");
    lua_getfield(L, -1, fn);
    lua_remove(L, -2);
    lua_pushvalue(L, idx);
    return lua_pcall(L, 1, 1, 0) == LUA_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    lua_settop(L, 0);
    lua_pushlstring(L, (const char *)data, size);
    if (!call_json("decode", 1)) {
        const char *msg = lua_tostring(L, -1);
        FUZZ_CHECK(msg && strncmp(msg, "json.decode: ", 13) == 0, "decode error: %s", msg ? msg : "(not a string)");
    } else if (call_json("encode", 2)) {
        size_t len1, len2;
        const char *once = lua_tolstring(L, 3, &len1);
        FUZZ_CHECK(once != NULL, "encode gave no text");
        FUZZ_CHECK(call_json("decode", 3), "decode of an encoding failed: %s\n%s", lua_tostring(L, -1), once);
        FUZZ_CHECK(call_json("encode", 4), "encode of a round trip failed: %s", lua_tostring(L, -1));
        const char *twice = lua_tolstring(L, 5, &len2);
        FUZZ_CHECK(twice && len1 == len2 && memcmp(once, twice, len1) == 0, "encoding unstable:\n%s\n%s", once,
                   twice ? twice : "(null)");
    }
    lua_settop(L, 0);
    /* Garbage freed within the run: libFuzzer's leak check then has nothing
     * to scan for (it runs after every input whose mallocs outnumber its frees). */
    lua_gc(L, LUA_GCCOLLECT);
    return 0;
}
