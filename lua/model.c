/* model.c — vkagent.load and the model userdata: info, tokenize,
 * detokenize, chat templates, sessions; closing it is safe while sessions
 * made from it are still open (they keep the weights alive). */
#include <stdlib.h>
#include <string.h>

#include "lvka.h"

void lvka_model_ref_release(lvka_model_ref *ref) {
    if (!ref || --ref->refs > 0) return;
    vka_model_free(ref->model);
    free(ref);
}

lvka_model *lvka_check_model(lua_State *L, int arg, const char *fn) {
    lvka_model *m = luaL_testudata(L, arg, LVKA_MODEL_MT);
    if (!m) luaL_error(L, "%s: argument #%d must be a vkagent model, got %s", fn, arg, luaL_typename(L, arg));
    if (!m->ref) luaL_error(L, "%s: the model is closed", fn);
    return m;
}

static const char *const load_opts[] = {"device", "vocab_only", "n_ctx", "n_batch", "n_threads", NULL};

static uint32_t opt_u32(lua_State *L, int idx, const char *fn, const char *key, uint32_t dflt) {
    lua_Integer v;
    if (!lvka_opt_integer(L, idx, fn, key, &v)) return dflt;
    if (v < 0 || v > 0x7fffffff) luaL_error(L, "%s: opts.%s must be between 0 and 2^31-1, got %d", fn, key, (int)v);
    return (uint32_t)v;
}

int lvka_model_load(lua_State *L) {
    const char *fn = "vkagent.load";
    const char *path = lvka_check_string(L, 1, 1, fn, "path", NULL);
    lvka_check_opts(L, 2, fn, load_opts);
    vka_model_params mp;
    vka_model_params_default(&mp);
    lvka_opt_string(L, 2, fn, "device", &mp.device);
    lvka_opt_boolean(L, 2, fn, "vocab_only", &mp.vocab_only);
    uint32_t n_ctx = opt_u32(L, 2, fn, "n_ctx", 0);
    uint32_t n_batch = opt_u32(L, 2, fn, "n_batch", 0);
    mp.n_threads = opt_u32(L, 2, fn, "n_threads", 0);

    lvka_model *ud = lua_newuserdatauv(L, sizeof *ud, 0);
    ud->ref = NULL;
    luaL_setmetatable(L, LVKA_MODEL_MT);
    lvka_model_ref *ref = calloc(1, sizeof *ref);
    if (!ref) return luaL_error(L, "%s: out of memory", fn);
    if (vka_model_load(path, &mp, &ref->model) != VKA_OK) {
        free(ref);
        return lvka_fail(L, fn);
    }
    ref->refs = 1;
    ref->default_n_ctx = n_ctx;
    ref->default_n_batch = n_batch;
    ud->ref = ref;
    return 1;
}

static int l_close(lua_State *L) {
    lvka_model *m = luaL_checkudata(L, 1, LVKA_MODEL_MT);
    lvka_model_ref_release(m->ref);
    m->ref = NULL;
    return 0;
}

static int l_tostring(lua_State *L) {
    lvka_model *m = luaL_checkudata(L, 1, LVKA_MODEL_MT);
    if (!m->ref) {
        lua_pushstring(L, "vkagent.model (closed)");
        return 1;
    }
    vka_model_info info;
    vka_model_get_info(m->ref->model, &info);
    lua_pushfstring(L, "vkagent.model (%s, %s, %s)", info.name[0] ? info.name : "unnamed", info.architecture,
                    info.device);
    return 1;
}

static void set_int(lua_State *L, const char *key, lua_Integer v) {
    lua_pushinteger(L, v);
    lua_setfield(L, -2, key);
}

static void set_str(lua_State *L, const char *key, const char *v) {
    lua_pushstring(L, v ? v : "");
    lua_setfield(L, -2, key);
}

static int l_info(lua_State *L) {
    lvka_model *m = lvka_check_model(L, 1, "model:info");
    vka_model_info in;
    if (vka_model_get_info(m->ref->model, &in) != VKA_OK) return lvka_fail(L, "model:info");
    lua_createtable(L, 0, 24);
    set_str(L, "architecture", in.architecture);
    set_str(L, "name", in.name);
    set_str(L, "device", in.device);
    set_str(L, "tokenizer", in.tokenizer);
    set_int(L, "n_vocab", in.n_vocab);
    set_int(L, "n_ctx_train", in.n_ctx_train);
    set_int(L, "n_embd", in.n_embd);
    set_int(L, "n_layer", in.n_layer);
    set_int(L, "n_head", in.n_head);
    set_int(L, "n_head_kv", in.n_head_kv);
    set_int(L, "n_ff", in.n_ff);
    set_int(L, "head_dim", in.head_dim);
    set_int(L, "head_dim_v", in.head_dim_v);
    set_int(L, "token_bos", in.token_bos);
    set_int(L, "token_eos", in.token_eos);
    set_int(L, "token_unk", in.token_unk);
    set_int(L, "token_eot", in.token_eot);
    lua_pushboolean(L, in.add_bos);
    lua_setfield(L, -2, "add_bos");
    set_int(L, "n_params", (lua_Integer)in.n_params);
    set_int(L, "weight_bytes", (lua_Integer)in.weight_bytes);
    lua_pushboolean(L, in.vocab_only);
    lua_setfield(L, -2, "vocab_only");
    bool recognised = false;
    set_str(L, "chat_template", vka_chat_template_family(m->ref->model, &recognised));
    lua_pushboolean(L, recognised);
    lua_setfield(L, -2, "chat_template_recognised");
    set_int(L, "n_ctx", m->ref->default_n_ctx ? m->ref->default_n_ctx : vka_session_default_n_ctx(m->ref->model));
    return 1;
}

static const char *const tokenize_opts[] = {"bos", "special", NULL};

/* model:tokenize(text, {bos = nil|true|false, special = false}) -> {ids}.
 * bos nil: as the model's metadata asks (what generate does). */
static int l_tokenize(lua_State *L) {
    const char *fn = "model:tokenize";
    lvka_model *m = lvka_check_model(L, 1, fn);
    size_t len;
    const char *text = lvka_check_string(L, 2, 1, fn, "text", &len);
    lvka_check_opts(L, 3, fn, tokenize_opts);
    int flags = VKA_TOKENIZE_MODEL_BOS;
    bool b;
    if (lvka_opt_boolean(L, 3, fn, "bos", &b)) flags = b ? VKA_TOKENIZE_ADD_BOS : 0;
    if (lvka_opt_boolean(L, 3, fn, "special", &b) && b) flags |= VKA_TOKENIZE_PARSE_SPECIAL;
    size_t n;
    int32_t *ids = lvka_tokenize_to_stack(L, m->ref->model, text, len, flags, &n, fn);
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_pushinteger(L, ids[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

static const char *const detokenize_opts[] = {"special", NULL};

static int l_detokenize(lua_State *L) {
    const char *fn = "model:detokenize";
    lvka_model *m = lvka_check_model(L, 1, fn);
    lvka_check_table(L, 2, 1, fn, "ids");
    lvka_check_opts(L, 3, fn, detokenize_opts);
    bool special = false;
    lvka_opt_boolean(L, 3, fn, "special", &special);
    int flags = special ? VKA_DETOKENIZE_SPECIAL : 0;
    size_t n;
    int32_t *ids = lvka_ids_from_table(L, 2, m->ref->model, fn, &n);
    size_t cap = n * 8 + 16, len = 0;
    char *buf = lua_newuserdatauv(L, cap, 0);
    vka_status st = vka_detokenize(m->ref->model, ids, n, flags, buf, cap, &len);
    if (st == VKA_ERR_BUFFER_TOO_SMALL) {
        cap = len + 1;
        buf = lua_newuserdatauv(L, cap, 0);
        st = vka_detokenize(m->ref->model, ids, n, flags, buf, cap, &len);
    }
    if (st != VKA_OK) return lvka_fail(L, fn);
    lua_pushlstring(L, buf, len);
    return 1;
}

/* model:token_text(id): the token as stored in the vocabulary. */
static int l_token_text(lua_State *L) {
    const char *fn = "model:token_text";
    lvka_model *m = lvka_check_model(L, 1, fn);
    lua_Integer id = lvka_check_integer(L, 2, 1, fn, "id");
    const char *t = id >= INT32_MIN && id <= INT32_MAX ? vka_token_text(m->ref->model, (int32_t)id) : NULL;
    if (!t) return luaL_error(L, "%s: %d is not a token of this model", fn, (int)id);
    lua_pushstring(L, t);
    return 1;
}

/* model:token_lookup(text): the id of the token with exactly this text
 * (stored, else its bytes), or nil. */
static int l_token_lookup(lua_State *L) {
    const char *fn = "model:token_lookup";
    lvka_model *m = lvka_check_model(L, 1, fn);
    const char *text = lvka_check_string(L, 2, 1, fn, "text", NULL);
    int32_t id;
    if (vka_token_lookup(m->ref->model, text, &id) != VKA_OK) lua_pushnil(L);
    else lua_pushinteger(L, id);
    return 1;
}

/* model:token_attributes(id): {normal|control|byte|user_defined|unknown|unused = true, eog =, bos =}. */
static int l_token_attributes(lua_State *L) {
    const char *fn = "model:token_attributes";
    lvka_model *m = lvka_check_model(L, 1, fn);
    lua_Integer id = lvka_check_integer(L, 2, 1, fn, "id");
    uint32_t attr = id >= 0 && id <= INT32_MAX ? vka_token_attributes(m->ref->model, (int32_t)id) : 0;
    if (!attr) return luaL_error(L, "%s: %d is not a token of this model", fn, (int)id);
    static const struct {
        uint32_t bit;
        const char *name;
    } names[] = {{VKA_TOKEN_ATTR_NORMAL, "normal"}, {VKA_TOKEN_ATTR_CONTROL, "control"},
                 {VKA_TOKEN_ATTR_BYTE, "byte"}, {VKA_TOKEN_ATTR_USER_DEFINED, "user_defined"},
                 {VKA_TOKEN_ATTR_UNKNOWN, "unknown"}, {VKA_TOKEN_ATTR_UNUSED, "unused"},
                 {VKA_TOKEN_ATTR_EOG, "eog"}, {VKA_TOKEN_ATTR_BOS, "bos"}};
    lua_createtable(L, 0, 3);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!(attr & names[i].bit)) continue;
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, names[i].name);
    }
    return 1;
}

/* model:warmup(): vka_model_warmup (creates the Vulkan pipelines now). */
static int l_warmup(lua_State *L) {
    lvka_model *m = lvka_check_model(L, 1, "model:warmup");
    if (vka_model_warmup(m->ref->model) != VKA_OK) return lvka_fail(L, "model:warmup");
    return 0;
}

/* vkagent.devices(): vka_device_list as a list of
 * {device =, name =, type =, memory =, auto =, usable =}. */
int lvka_devices(lua_State *L) {
    size_t n = 0;
    vka_status st = vka_device_list(NULL, 0, &n);
    if (st != VKA_OK && st != VKA_ERR_BUFFER_TOO_SMALL) return lvka_fail(L, "vkagent.devices");
    vka_device_info *devs = lua_newuserdatauv(L, (n ? n : 1) * sizeof *devs, 0);
    if (vka_device_list(devs, n, &n) != VKA_OK) return lvka_fail(L, "vkagent.devices");
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_createtable(L, 0, 6);
        set_str(L, "device", devs[i].device);
        set_str(L, "name", devs[i].name);
        set_str(L, "type", devs[i].type_name);
        set_int(L, "memory", (lua_Integer)devs[i].memory_bytes);
        lua_pushboolean(L, devs[i].is_auto);
        lua_setfield(L, -2, "auto");
        lua_pushboolean(L, devs[i].usable);
        lua_setfield(L, -2, "usable");
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

static int l_meta(lua_State *L) {
    lvka_model *m = lvka_check_model(L, 1, "model:meta");
    const char *v = vka_model_meta_string(m->ref->model, lvka_check_string(L, 2, 1, "model:meta", "key", NULL));
    if (v) lua_pushstring(L, v);
    else lua_pushnil(L);
    return 1;
}

/* Pushes the JSON text of the argument at idx: a string as it is, a table
 * encoded. */
static const char *json_arg(lua_State *L, int idx, const char *fn, const char *what) {
    if (lua_type(L, idx) == LUA_TSTRING) {
        lua_pushvalue(L, idx);
    } else if (lua_istable(L, idx)) {
        lvka_json_encode_value(L, idx, false, fn);
    } else {
        luaL_error(L, "%s: %s must be a table or a JSON string, got %s", fn, what, luaL_typename(L, idx));
    }
    return lua_tostring(L, -1);
}

const char *const lvka_chat_opt_names[] = {"tools", "template", "add_generation_prompt", "enable_thinking", NULL};

const char *lvka_chat_args(lua_State *L, int msgs, int opts, const char *fn, vka_chat_params *cp) {
    msgs = lua_absindex(L, msgs);
    opts = lua_absindex(L, opts);
    vka_chat_params_default(cp);
    const char *messages = json_arg(L, msgs, fn, "messages");
    if (lvka_opt_push(L, opts, "tools") != LUA_TNIL) {
        cp->tools_json = json_arg(L, -1, fn, "opts.tools");
        lua_replace(L, -2);       /* keep the text, drop the field */
    }                             /* else the nil stays: two slots either way */
    lvka_opt_string(L, opts, fn, "template", &cp->template_override);
    lvka_opt_boolean(L, opts, fn, "add_generation_prompt", &cp->add_generation_prompt);
    lvka_opt_boolean(L, opts, fn, "enable_thinking", &cp->enable_thinking);
    return messages;
}

/* model:apply_chat_template(messages, opts) -> prompt text. */
static int l_apply_chat_template(lua_State *L) {
    const char *fn = "model:apply_chat_template";
    lvka_model *m = lvka_check_model(L, 1, fn);
    lvka_check_opts(L, 3, fn, lvka_chat_opt_names);
    lua_settop(L, 3);
    vka_chat_params cp;
    const char *messages = lvka_chat_args(L, 2, 3, fn, &cp);
    char *text = NULL;
    if (vka_chat_apply_template(m->ref->model, messages, &cp, &text) != VKA_OK) return lvka_fail(L, fn);
    lua_pushstring(L, text);
    vka_free(text);
    return 1;
}

static const char *const session_opts[] = {"n_ctx", "n_batch", "kv_type", NULL};

/* Session options at `idx`; the model's default context applies only to
 * new sessions (a loaded one keeps the saved context unless asked). */
static void session_params(lua_State *L, int idx, const char *fn, lvka_model *m, bool model_ctx,
                           vka_session_params *sp) {
    lvka_check_opts(L, idx, fn, session_opts);
    vka_session_params_default(sp);
    if (model_ctx && m->ref->default_n_ctx) sp->n_ctx = m->ref->default_n_ctx;
    if (m->ref->default_n_batch) sp->n_batch = m->ref->default_n_batch;
    sp->n_ctx = opt_u32(L, idx, fn, "n_ctx", sp->n_ctx);
    sp->n_batch = opt_u32(L, idx, fn, "n_batch", sp->n_batch);
    const char *kv = NULL;
    if (lvka_opt_string(L, idx, fn, "kv_type", &kv)) {
        if (strcmp(kv, "auto") == 0) sp->kv_type = VKA_KV_AUTO;
        else if (strcmp(kv, "f32") == 0) sp->kv_type = VKA_KV_F32;
        else if (strcmp(kv, "f16") == 0) sp->kv_type = VKA_KV_F16;
        else luaL_error(L, "%s: opts.kv_type must be \"auto\", \"f32\" or \"f16\", not \"%s\"", fn, kv);
    }
}

static int l_session(lua_State *L) {
    const char *fn = "model:session";
    lvka_model *m = lvka_check_model(L, 1, fn);
    vka_session_params sp;
    session_params(L, 2, fn, m, true, &sp);
    vka_session *s = NULL;
    if (vka_session_create(m->ref->model, &sp, &s) != VKA_OK) return lvka_fail(L, fn);
    lvka_push_session(L, s, m->ref, 1);
    return 1;
}

/* model:load_session(path [, opts]): vka_session_load. */
static int l_load_session(lua_State *L) {
    const char *fn = "model:load_session";
    lvka_model *m = lvka_check_model(L, 1, fn);
    const char *path = lvka_check_string(L, 2, 1, fn, "path", NULL);
    vka_session_params sp;
    session_params(L, 3, fn, m, false, &sp);
    vka_session *s = NULL;
    if (vka_session_load(m->ref->model, path, &sp, &s) != VKA_OK) return lvka_fail(L, fn);
    lvka_push_session(L, s, m->ref, 1);
    return 1;
}

void lvka_open_model(lua_State *L) {
    static const luaL_Reg methods[] = {
        {"info", l_info},
        {"tokenize", l_tokenize},
        {"detokenize", l_detokenize},
        {"token_text", l_token_text},
        {"token_lookup", l_token_lookup},
        {"warmup", l_warmup},
        {"token_attributes", l_token_attributes},
        {"meta", l_meta},
        {"apply_chat_template", l_apply_chat_template},
        {"session", l_session},
        {"load_session", l_load_session},
        {"close", l_close},
        {NULL, NULL},
    };
    static const luaL_Reg metamethods[] = {
        {"__gc", l_close},
        {"__close", l_close},
        {"__tostring", l_tostring},
        {NULL, NULL},
    };
    lvka_new_class(L, LVKA_MODEL_MT, methods, metamethods);
}
