/* vkagent_lua.h — embedding the Lua module "vkagent" in a C host.
 *
 * Installed beside vkagent.h; link with `pkg-config --cflags --libs vkagent-lua`
 * (the host links Lua 5.4 itself; the pkg-config file names lua5.4).
 *
 *     lua_State *L = luaL_newstate();
 *     luaL_openlibs(L);
 *     vka_lua_preload(L);               // require "vkagent" now works
 *     luaL_dostring(L, "local v = require 'vkagent' ...");
 *
 * The agent library (require "vkagent.agent", "vkagent.tools", ...) is
 * embedded in the module and needs no files on disk. */
#ifndef VKAGENT_LUA_H
#define VKAGENT_LUA_H

#include <lua.h>

/* VKA_LUA_API marks the functions the embedding library and the Lua module
 * export; everything else in them is hidden. */
#if defined(VKAGENT_BUILDING_LUA) && defined(__GNUC__)
#define VKA_LUA_API __attribute__((visibility("default")))
#else
#define VKA_LUA_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* The module's opener, as `require "vkagent"` calls it: returns the module
 * table and registers the agent library in package.preload. */
VKA_LUA_API int luaopen_vkagent(lua_State *L);

/* Registers luaopen_vkagent as package.preload["vkagent"], and the agent
 * library's modules ("vkagent.agent", ...) beside it (the package library
 * must be open). */
VKA_LUA_API void vka_lua_preload(lua_State *L);

#ifdef __cplusplus
}
#endif

#endif
