/* serve_llama.c — `vkagent serve`'s extension endpoints, with the names and
 * request/response shapes of llama.cpp's server so that clients written for
 * it work: GET /props, POST /tokenize, /detokenize and /apply-template. The
 * Lua client (vkagent.connect) uses them for exact token counts and
 * templates. They need no worker: they run on the connection's thread. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "serve_llama.h"

typedef struct extension {
    const char *path, *method;
    bool (*answer)(const serve_state *s, const cJSON *req, cJSON *out, serve_error *err);
} extension;

/* GET /props: llama.cpp's default_generation_settings.n_ctx, total_slots,
 * chat_template and build_info, and the model's facts under "vkagent". */
static bool props(const serve_state *s, const cJSON *req, cJSON *out, serve_error *err) {
    (void)req, (void)err;
    vka_model_info in;
    if (vka_model_get_info(s->model, &in) != VKA_OK) {
        serve_error_set(err, 500, NULL, "%s", vka_last_error());
        return false;
    }
    cJSON *settings = cJSON_AddObjectToObject(out, "default_generation_settings");
    cJSON_AddNumberToObject(settings, "n_ctx", vka_session_default_n_ctx(s->model));
    cJSON_AddNumberToObject(out, "total_slots", s->parallel);
    const char *tmpl = vka_model_meta_string(s->model, "tokenizer.chat_template");
    cJSON_AddStringToObject(out, "chat_template", tmpl ? tmpl : "");
    cJSON_AddStringToObject(out, "build_info", vka_version());
    bool recognised = false;
    const char *family = vka_chat_template_family(s->model, &recognised);
    cJSON *vk = cJSON_AddObjectToObject(out, "vkagent");
    cJSON_AddStringToObject(vk, "model", s->model_name);
    cJSON_AddStringToObject(vk, "architecture", in.architecture);
    cJSON_AddStringToObject(vk, "name", in.name);
    cJSON_AddNumberToObject(vk, "n_vocab", in.n_vocab);
    cJSON_AddNumberToObject(vk, "n_ctx_train", in.n_ctx_train);
    cJSON_AddBoolToObject(vk, "add_bos", in.add_bos);
    cJSON_AddNumberToObject(vk, "token_bos", in.token_bos);
    cJSON_AddNumberToObject(vk, "token_eos", in.token_eos);
    cJSON_AddNumberToObject(vk, "token_eot", in.token_eot);
    cJSON_AddStringToObject(vk, "chat_template", family ? family : "chatml");
    cJSON_AddBoolToObject(vk, "chat_template_recognised", recognised);
    return true;
}

static bool get_flag(const cJSON *req, const char *name, bool dflt, bool *out, serve_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, name);
    *out = dflt;
    if (!v) return true;
    if (!cJSON_IsBool(v)) {
        serve_error_set(err, 400, name, "'%s' must be a boolean", name);
        return false;
    }
    *out = cJSON_IsTrue(v);
    return true;
}

/* POST /tokenize {content, add_special = false, parse_special = true} ->
 * {tokens}. add_special puts BOS first where the model's metadata asks. */
static bool tokenize(const serve_state *s, const cJSON *req, cJSON *out, serve_error *err) {
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(req, "content");
    if (!cJSON_IsString(content)) {
        serve_error_set(err, 400, "content", "'content' must be a string");
        return false;
    }
    bool add_special, parse_special, with_pieces;
    if (!get_flag(req, "add_special", false, &add_special, err) ||
        !get_flag(req, "parse_special", true, &parse_special, err) ||
        !get_flag(req, "with_pieces", false, &with_pieces, err))
        return false;
    if (with_pieces) {
        serve_error_set(err, 400, "with_pieces", "'with_pieces' is not supported; /detokenize turns ids into text");
        return false;
    }
    int flags = (add_special ? VKA_TOKENIZE_MODEL_BOS : 0) | (parse_special ? VKA_TOKENIZE_PARSE_SPECIAL : 0);
    size_t n = 0;
    int32_t *ids = cli_tokenize(s->model, content->valuestring, strlen(content->valuestring), flags, &n);
    if (!ids) {
        serve_error_set(err, 400, "content", "cannot tokenize 'content': %s", vka_last_error());
        return false;
    }
    cJSON *list = cJSON_AddArrayToObject(out, "tokens");
    for (size_t i = 0; i < n && list; i++) cJSON_AddItemToArray(list, cJSON_CreateNumber(ids[i]));
    free(ids);
    return true;
}

/* POST /detokenize {tokens} -> {content}. */
static bool detokenize(const serve_state *s, const cJSON *req, cJSON *out, serve_error *err) {
    const cJSON *tokens = cJSON_GetObjectItemCaseSensitive(req, "tokens");
    if (!cJSON_IsArray(tokens)) {
        serve_error_set(err, 400, "tokens", "'tokens' must be an array of token ids");
        return false;
    }
    size_t n = (size_t)cJSON_GetArraySize(tokens), i = 0;
    int32_t *ids = malloc((n ? n : 1) * sizeof *ids);
    if (!ids) {
        serve_error_set(err, 500, NULL, "out of memory");
        return false;
    }
    vka_model_info in;
    vka_model_get_info(s->model, &in);
    const cJSON *t;
    cJSON_ArrayForEach(t, tokens) {
        if (!cJSON_IsNumber(t) || t->valuedouble != (double)(int32_t)t->valuedouble || t->valuedouble < 0 ||
            t->valuedouble >= in.n_vocab) {
            free(ids);
            serve_error_set(err, 400, "tokens", "tokens[%zu] is not a token id of this model (0 to %u)", i,
                            in.n_vocab - 1);
            return false;
        }
        ids[i++] = (int32_t)t->valuedouble;
    }
    /* a first guess of the size, then the size vka_detokenize asks for */
    size_t cap = n * 16 + 16, len = 0;
    char *text = malloc(cap);
    vka_status st = text ? vka_detokenize(s->model, ids, n, 0, text, cap, &len) : VKA_ERR_OUT_OF_MEMORY;
    /* (room for the NUL too) */
    if (st == VKA_ERR_BUFFER_TOO_SMALL || (st == VKA_OK && len >= cap)) {
        free(text);
        cap = len + 1;
        text = malloc(cap);
        st = text ? vka_detokenize(s->model, ids, n, 0, text, cap, &len) : VKA_ERR_OUT_OF_MEMORY;
    }
    free(ids);
    if (!text || st != VKA_OK) {
        free(text);
        serve_error_set(err, 500, NULL, "%s", vka_last_error());
        return false;
    }
    cJSON_AddStringToObject(out, "content", text);
    free(text);
    return true;
}

/* POST /apply-template {messages, tools, add_generation_prompt = true,
 * chat_template_kwargs: {enable_thinking}} -> {prompt}: the text
 * /v1/chat/completions would generate from. */
static bool apply_template(const serve_state *s, const cJSON *req, cJSON *out, serve_error *err) {
    const cJSON *messages = cJSON_GetObjectItemCaseSensitive(req, "messages");
    if (!cJSON_IsArray(messages)) {
        serve_error_set(err, 400, "messages", "'messages' must be an array");
        return false;
    }
    vka_chat_params cp;
    vka_chat_params_default(&cp);
    if (!get_flag(req, "add_generation_prompt", true, &cp.add_generation_prompt, err)) return false;
    const cJSON *kwargs = cJSON_GetObjectItemCaseSensitive(req, "chat_template_kwargs");
    if (kwargs && !get_flag(kwargs, "enable_thinking", true, &cp.enable_thinking, err)) return false;
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(req, "tools");
    char *tools_json = tools && !cJSON_IsNull(tools) ? cJSON_PrintUnformatted(tools) : NULL;
    char *json = cJSON_PrintUnformatted(messages), *prompt = NULL;
    cp.tools_json = tools_json;
    vka_status st = json ? vka_chat_apply_template(s->model, json, &cp, &prompt) : VKA_ERR_OUT_OF_MEMORY;
    free(json);
    free(tools_json);
    if (st != VKA_OK) {
        serve_error_set(err, 400, "messages", "%s", vka_last_error());
        return false;
    }
    cJSON_AddStringToObject(out, "prompt", prompt);
    vka_free(prompt);
    return true;
}

static const extension extensions[] = {
    {"/props", "GET", props},
    {"/tokenize", "POST", tokenize},
    {"/detokenize", "POST", detokenize},
    {"/apply-template", "POST", apply_template},
};

const char *serve_extension_method(const char *url) {
    for (size_t i = 0; i < sizeof extensions / sizeof extensions[0]; i++)
        if (strcmp(url, extensions[i].path) == 0) return extensions[i].method;
    return NULL;
}

char *serve_extension_answer(const serve_state *s, const char *url, const char *body, size_t len, int *status) {
    serve_error err;
    const extension *ext = NULL;
    for (size_t i = 0; i < sizeof extensions / sizeof extensions[0]; i++)
        if (strcmp(url, extensions[i].path) == 0) ext = &extensions[i];
    cJSON *req = NULL, *out = cJSON_CreateObject();
    bool ok = ext && out;
    if (!ok) serve_error_set(&err, ext ? 500 : 404, NULL, ext ? "out of memory" : "no such endpoint");
    if (ok && strcmp(ext->method, "POST") == 0) {
        req = cJSON_ParseWithLength(body ? body : "", len);
        ok = cJSON_IsObject(req);
        if (!ok)
            serve_error_set(&err, 400, NULL, req ? "the request body must be a JSON object" : "the request body is not valid JSON");
    }
    ok = ok && ext->answer(s, req, out, &err);
    char *text = ok ? cJSON_PrintUnformatted(out) : serve_error_json(&err);
    *status = ok ? 200 : err.status;
    cJSON_Delete(req);
    cJSON_Delete(out);
    return text;
}
