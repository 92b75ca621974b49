/* lvka.h — what the parts of the Lua module "vkagent" share: the userdata
 * types (model, session, stream), argument and option helpers, and the
 * openers of the sub-tables (json, fs, sandbox). */
#ifndef VKA_LUA_LVKA_H
#define VKA_LUA_LVKA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lauxlib.h>
#include <lua.h>

#include "vkagent.h"

#define LVKA_MODEL_MT "vkagent.model"
#define LVKA_SESSION_MT "vkagent.session"
#define LVKA_STREAM_MT "vkagent.stream"

/* A model shared by its Lua handle and the sessions made from it: freed
 * when the last of them lets go, so that closing a model whose sessions
 * are still open cannot pull the weights from under them. */
typedef struct lvka_model_ref {
    vka_model *model;
    int refs;
    uint32_t default_n_ctx;    /* session defaults given to vkagent.load */
    uint32_t default_n_batch;
} lvka_model_ref;

void lvka_model_ref_release(lvka_model_ref *ref);

/* Userdata of a model; ref is NULL once closed. */
typedef struct lvka_model {
    lvka_model_ref *ref;
} lvka_model;

/* Userdata of a session. Its uservalue 1 is the model's userdata, so the
 * model stays reachable (and alive) while the session is; uservalue 2 is
 * the scheduler's userdata for a session of vkagent.scheduler (nil
 * otherwise). */
typedef struct lvka_session {
    vka_session *session;      /* NULL once closed */
    lvka_model_ref *mref;
    bool generating;           /* inside generate/chat (callbacks run) */
    bool streaming;            /* a stream is open on it */
    bool batched;              /* made by scheduler:session (scheduler.c) */
} lvka_session;

/* Checks that argument `arg` is an open model / session; `fn` names the
 * method in error messages ("model:tokenize"). */
lvka_model *lvka_check_model(lua_State *L, int arg, const char *fn);
lvka_session *lvka_check_session(lua_State *L, int arg, const char *fn);
/* Raises unless the session may start something that changes it. */
void lvka_check_idle(lua_State *L, lvka_session *s, const char *fn);

/* Argument checks with messages that name the method and the argument:
 * "model:tokenize: argument #1 (text) must be a string, got nil". `arg` is
 * the stack index; `pos` the position the user sees (methods do not count
 * self). */
const char *lvka_check_string(lua_State *L, int arg, int pos, const char *fn, const char *name, size_t *len);
lua_Integer lvka_check_integer(lua_State *L, int arg, int pos, const char *fn, const char *name);
void lvka_check_table(lua_State *L, int arg, int pos, const char *fn, const char *name);

/* Raises "fn: vka_last_error()". */
int lvka_fail(lua_State *L, const char *fn);

/* Registers the metatable `name` once: `methods` as its __index, and the
 * metamethods (__gc, __close, __tostring, ...) of a NULL-terminated list. */
void lvka_new_class(lua_State *L, const char *name, const luaL_Reg *methods, const luaL_Reg *metamethods);

/* ---------------------------------------------------------------- options */

/* An options table at `idx` (nil allowed); keys outside `allowed`
 * (NULL-terminated) raise an error naming the key, which catches typos. */
void lvka_check_opts(lua_State *L, int idx, const char *fn, const char *const *allowed);

/* Field getters: leave *out alone when the field is nil or the table is
 * absent; raise "fn: opts.key must be ..." on a wrong type. */
bool lvka_opt_number(lua_State *L, int idx, const char *fn, const char *key, double *out);
bool lvka_opt_integer(lua_State *L, int idx, const char *fn, const char *key, lua_Integer *out);
bool lvka_opt_boolean(lua_State *L, int idx, const char *fn, const char *key, bool *out);
/* The string stays valid while the options table is on the stack. */
bool lvka_opt_string(lua_State *L, int idx, const char *fn, const char *key, const char **out);
/* Pushes the field (any type) and returns its type. */
int lvka_opt_push(lua_State *L, int idx, const char *key);

/* Generation options of generate/chat/stream, parsed into C structures
 * whose strings live on the Lua stack (or in userdata there) until the
 * call returns. `idx` is the options table. */
typedef struct lvka_gen_opts {
    vka_generate_params gp;
    int on_token;              /* stack index of the on_token function, 0 if none */
} lvka_gen_opts;

/* The option names generate accepts (NULL-terminated), for
 * lvka_check_opts; extra names (chat's) can be appended by the caller. */
extern const char *const lvka_generate_opt_names[];

void lvka_parse_gen_opts(lua_State *L, int idx, const char *fn, lvka_gen_opts *o);

/* Pushes the result table {stop_reason, complete, n_prompt_tokens, n_generated, ...}. */
void lvka_push_result_info(lua_State *L, const vka_generate_result *r, uint32_t n_past);

/* Tokenizes `text` with `flags` into a userdata buffer left on the stack;
 * returns the ids and stores their count. Raises on failure. */
int32_t *lvka_tokenize_to_stack(lua_State *L, const vka_model *m, const char *text, size_t len, int flags,
                                size_t *n, const char *fn);

/* Reads an array of token ids at `idx` into a userdata buffer left on the
 * stack; raises naming the bad element. */
int32_t *lvka_ids_from_table(lua_State *L, int idx, const vka_model *m, const char *fn, size_t *n);

/* Chat: the option names of a chat template (NULL-terminated), and the
 * arguments of one: the messages at `msgs` (a table or JSON text) and the
 * options table at `opts` fill *cp. Pushes two values (the messages' and
 * the tools' JSON text) that keep the strings alive; returns the messages. */
extern const char *const lvka_chat_opt_names[];
const char *lvka_chat_args(lua_State *L, int msgs, int opts, const char *fn, vka_chat_params *cp);

/* ---------------------------------------------------------------- parts */

/* json.c: pushes the encoding of the value at `idx` (a JSON text) or raises. */
void lvka_json_encode_value(lua_State *L, int idx, bool pretty, const char *fn);
void lvka_open_json(lua_State *L);     /* pushes the json table */
void lvka_open_fs(lua_State *L);       /* pushes the fs table */
void lvka_open_sandbox(lua_State *L);  /* pushes the sandbox table */
void lvka_open_http(lua_State *L);     /* remote.c: pushes the http table (libcurl) */

void lvka_open_model(lua_State *L);    /* registers the model metatable */
int lvka_model_load(lua_State *L);     /* vkagent.load(path, opts) */
int lvka_devices(lua_State *L);        /* vkagent.devices() */
void lvka_open_session(lua_State *L);  /* registers session metatable */
void lvka_open_stream(lua_State *L);   /* registers the stream metatable */
void lvka_open_scheduler(lua_State *L);   /* registers the scheduler metatable */
int lvka_scheduler_new(lua_State *L);     /* vkagent.scheduler(model, opts) */
/* scheduler.c: whether the session at `session_idx` belongs to a scheduler
 * still open in Lua, whose sched:step() advances its streams. */
bool lvka_session_batched(lua_State *L, int session_idx);

/* session.c: the method that opens a stream (stream.c). */
int lvka_session_stream(lua_State *L);
/* session.c: pushes a new session userdata for `session` of `mref`, whose
 * model userdata is at `model_idx`; takes ownership of session. */
void lvka_push_session(lua_State *L, vka_session *session, lvka_model_ref *mref, int model_idx);

/* embedded.c (generated): the agent library's Lua files. */
typedef struct lvka_embedded_file {
    const char *module;        /* "vkagent.agent" */
    const char *chunkname;     /* "@vkagent/agent.lua" */
    const char *source;
    size_t len;
} lvka_embedded_file;

extern const lvka_embedded_file lvka_embedded_files[];
extern const size_t lvka_embedded_count;

/* Runs embedded file i as require would (module name as its argument) and
 * returns its value; the loaders in package.preload and the
 * luaopen_vkagent_<name> symbols use it. */
int lvka_open_embedded(lua_State *L, size_t i);

#endif
