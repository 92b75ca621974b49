/* vkagent_lua.h — embedding the Lua module "vkagent" in a C host.
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

#ifdef __cplusplus
extern "C" {
#endif

/* The module's opener, as `require "vkagent"` calls it: returns the module
 * table and registers the agent library in package.preload. */
int luaopen_vkagent(lua_State *L);

/* Registers luaopen_vkagent as package.preload["vkagent"], and the agent
 * library's modules ("vkagent.agent", ...) beside it (the package library
 * must be open). */
void vka_lua_preload(lua_State *L);

#ifdef __cplusplus
}
#endif

#endif
