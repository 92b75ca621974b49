/* embed.c — a C host that embeds vkagent's Lua runtime: it registers one of
 * its own C functions (count_letters) as the tool of a Lua agent, runs the
 * agent on a model, and reads the result back.
 *
 *     cc embed.c $(pkg-config --cflags --libs vkagent-lua) -o embed   (installed)
 *     build/examples/embed [MODEL.gguf]      (default: the stories260K fixture)
 *     VKAGENT_DEVICE=cpu build/examples/embed
 */
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include <vkagent_lua.h>

static int n_calls;

/* The host's own function: host.count_letters(text, letter) -> count. */
static int count_letters(lua_State *L) {
    size_t len, letter_len;
    const char *text = luaL_checklstring(L, 1, &len);
    const char *letter = luaL_checklstring(L, 2, &letter_len);
    if (letter_len != 1) return luaL_error(L, "count_letters: letter must be one character, got '%s'", letter);
    lua_Integer n = 0;
    for (size_t i = 0; i < len; i++) n += text[i] == letter[0];
    n_calls++;
    lua_pushinteger(L, n);
    return 1;
}

/* The agent, in Lua: its one tool calls into the host. */
static const char *const agent_script =
    "local vkagent = require 'vkagent'\n"
    "local Agent = require 'vkagent.agent'\n"
    "local cli = require 'vkagent.cli'\n"
    "local json = vkagent.json\n"
    "local model = vkagent.load(cli.find_model(MODEL_PATH))\n"
    "local agent = Agent.new{\n"
    "  model = model, name = 'Counter', role = 'a letter counter',\n"
    "  goals = {'Count the letter a in a few words.'}, max_steps = 4, seed = 1, finish = false,\n"
    "  on_step = function(step) print(Agent.format_step(step)) end,\n"
    "}\n"
    "agent:tool{\n"
    "  name = 'count_letters', description = 'Count a letter in a text.',\n"
    "  params = {type = 'object', required = {'text', 'letter'},\n"
    "            properties = json.object({text = {type = 'string', maxLength = 20},\n"
    "                                      letter = {type = 'string', minLength = 1, maxLength = 1}},\n"
    "                                     {'text', 'letter'})},\n"
    "  run = function(args) return ('%d'):format(host.count_letters(args.text, args.letter)) end,\n"
    "}\n"
    "local result = agent:run()\n"
    "return result.status, #result.steps\n";

static int traceback(lua_State *L) {
    luaL_traceback(L, L, lua_tostring(L, 1) ? lua_tostring(L, 1) : "(error object is not a string)", 1);
    return 1;
}

int main(int argc, char **argv) {
    lua_State *L = luaL_newstate();
    if (!L) return 1;
    luaL_openlibs(L);
    vka_lua_preload(L);

    lua_newtable(L);
    lua_pushcfunction(L, count_letters);
    lua_setfield(L, -2, "count_letters");
    lua_setglobal(L, "host");
    lua_pushstring(L, argc > 1 ? argv[1] : "");
    lua_setglobal(L, "MODEL_PATH");

    lua_pushcfunction(L, traceback);
    int status = luaL_loadbufferx(L, agent_script, strlen(agent_script), "=agent", "t");
    if (status == LUA_OK) status = lua_pcall(L, 0, 2, 1);
    if (status != LUA_OK) {
        fprintf(stderr, "embed: %s\n", lua_tostring(L, -1));
        lua_close(L);
        return 1;
    }
    printf("host: the agent ended with status '%s' after %d steps; count_letters ran %d times\n",
           lua_tostring(L, -2), (int)lua_tointeger(L, -1), n_calls);
    lua_close(L);
    return 0;
}
