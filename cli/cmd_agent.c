/* cmd_agent.c — `vkagent agent SCRIPT.lua [args...]`: runs a Lua script with
 * the vkagent module preloaded and `arg` set as the lua interpreter sets it;
 * a Lua error prints its traceback and exits 1. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "commands.h"
#include "common.h"
#include "vkagent_lua.h"

static const char *const agent_help =
    "usage: vkagent agent SCRIPT.lua [args...]\n"
    "\n"
    "Runs a Lua 5.4 script with the vkagent module preloaded: require \"vkagent\",\n"
    "\"vkagent.agent\", \"vkagent.tools\" work without paths. The script gets its\n"
    "arguments in `arg` (arg[0] is the script) and in `...`. On a Lua error the\n"
    "message and traceback go to stderr and the exit code is 1.\n"
    "\n"
    "  -h, --help\n"
    "\n"
    "Example: vkagent agent examples/agents/storyteller.lua --device cpu\n";

static lua_State *running;   /* for the SIGINT handler */

/* As lua.c does: stop the script at its next instruction. */
static void interrupted_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    lua_sethook(L, NULL, 0, 0);
    luaL_error(L, "interrupted");
}

static void on_sigint(int sig) {
    signal(sig, SIG_DFL);   /* a second Ctrl-C ends the process */
    if (running) lua_sethook(running, interrupted_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}

static int traceback(lua_State *L) {
    const char *msg = lua_tostring(L, 1);
    if (!msg) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

/* arg = {[-2] = program, [-1] = "agent", [0] = script, args...}. */
static void set_arg(lua_State *L, const char *program, int argc, char **argv) {
    lua_createtable(L, argc, 2);
    lua_pushstring(L, program);
    lua_rawseti(L, -2, -2);
    lua_pushliteral(L, "agent");
    lua_rawseti(L, -2, -1);
    for (int i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i);
    }
    lua_setglobal(L, "arg");
}

/* Loads and runs the script in protected mode: 0 ok, 1 on error (printed). */
static int run_script(lua_State *L, int argc, char **argv) {
    lua_pushcfunction(L, traceback);
    int msgh = lua_gettop(L);
    if (luaL_loadfile(L, argv[0]) != LUA_OK) {
        fprintf(stderr, "vkagent agent: %s\n", lua_tostring(L, -1));
        return EXIT_RUNTIME;
    }
    for (int i = 1; i < argc; i++) lua_pushstring(L, argv[i]);
    running = L;
    signal(SIGINT, on_sigint);
    int status = lua_pcall(L, argc - 1, 0, msgh);
    signal(SIGINT, SIG_DFL);
    running = NULL;
    if (status != LUA_OK) {
        fprintf(stderr, "vkagent agent: %s\n", lua_tostring(L, -1));
        return EXIT_RUNTIME;
    }
    return EXIT_OK;
}

typedef struct agent_args {
    int argc;
    char **argv;
} agent_args;

/* Opens the libraries and sets `arg` under protection (memory errors). */
static int prepare(lua_State *L) {
    const agent_args *a = lua_touserdata(L, 1);
    luaL_openlibs(L);
    vka_lua_preload(L);
    set_arg(L, "vkagent", a->argc, a->argv);
    return 0;
}

int cmd_agent(int argc, char **argv) {
    if (argc < 1) return cli_usage_error("agent", "give a script (usage: vkagent agent SCRIPT.lua [args...])");
    if (strcmp(argv[0], "-h") == 0 || strcmp(argv[0], "--help") == 0) {
        fputs(agent_help, stdout);
        return EXIT_OK;
    }
    if (argv[0][0] == '-' && argv[0][1])
        return cli_usage_error("agent", "unknown option '%s' (the script comes first; its options after it)", argv[0]);
    lua_State *L = luaL_newstate();
    if (!L) {
        fprintf(stderr, "vkagent agent: out of memory\n");
        return EXIT_RUNTIME;
    }
    agent_args a = {argc, argv};
    lua_pushcfunction(L, prepare);
    lua_pushlightuserdata(L, &a);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
        fprintf(stderr, "vkagent agent: %s\n", lua_tostring(L, -1));
        lua_close(L);
        return EXIT_RUNTIME;
    }
    int code = run_script(L, argc, argv);
    lua_close(L);
    return code;
}
