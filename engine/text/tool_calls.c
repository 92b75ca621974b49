/* tool_calls.c — reading a model's tool calls back from its text, in the
 * call syntax its chat template renders (Hermes tags, Llama 3.1 JSON,
 * Mistral [TOOL_CALLS], Qwen3-Coder and GLM elements: with the tools'
 * schemas, text parameters stay text), as OpenAI tool_calls. */
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/status.h"
#include "tool_calls.h"
#include "vkagent.h"

/* ---------------------------------------------------------------- detection */

static const struct {
    const char *family;
    vka_tool_format format;
} family_formats[] = {
    {"chatml", VKA_TOOL_FORMAT_HERMES},
    {"qwen3", VKA_TOOL_FORMAT_HERMES},
    {"llama3.1", VKA_TOOL_FORMAT_LLAMA3},
    {"mistral-v3", VKA_TOOL_FORMAT_MISTRAL},
};

/* Templates are recognised by the markers their assistant tool calls
 * render; the more specific ones first, since Qwen3-Coder's calls also sit
 * in <tool_call> tags and Mistral's name[ARGS] templates also write
 * [TOOL_CALLS]. */
vka_tool_format vka_tool_format_detect(const char *t) {
    if (!t) return VKA_TOOL_FORMAT_NONE;
    for (size_t i = 0; i < sizeof family_formats / sizeof *family_formats; i++)
        if (strcmp(t, family_formats[i].family) == 0) return family_formats[i].format;
    if (strstr(t, "[TOOL_CALLS]")) return strstr(t, "[ARGS]") ? VKA_TOOL_FORMAT_MISTRAL_ARGS : VKA_TOOL_FORMAT_MISTRAL;
    if (strstr(t, "<function=") && strstr(t, "<parameter=")) return VKA_TOOL_FORMAT_QWEN3_CODER;
    /* functionary's <function=N>{...}</function> and MiniMax's <invoke name=>
     * are formats of their own, not read here */
    if (strstr(t, "<function=") || strstr(t, "<invoke name=")) return VKA_TOOL_FORMAT_NONE;
    if (strstr(t, "<arg_key>")) return VKA_TOOL_FORMAT_GLM;
    if (strstr(t, "<tool_call>")) return VKA_TOOL_FORMAT_HERMES;
    /* Llama 3.1-3.3 ask for {"name": ..., "parameters": ...} in plain text */
    if (strstr(t, "<|python_tag|>") || (strstr(t, "<|start_header_id|>") && strstr(t, "\"parameters\"")))
        return VKA_TOOL_FORMAT_LLAMA3;
    return VKA_TOOL_FORMAT_NONE;
}

const char *vka_tool_format_name(vka_tool_format format) {
    switch (format) {
    case VKA_TOOL_FORMAT_HERMES: return "hermes";
    case VKA_TOOL_FORMAT_LLAMA3: return "llama3";
    case VKA_TOOL_FORMAT_MISTRAL: return "mistral";
    case VKA_TOOL_FORMAT_MISTRAL_ARGS: return "mistral-args";
    case VKA_TOOL_FORMAT_QWEN3_CODER: return "qwen3-coder";
    case VKA_TOOL_FORMAT_GLM: return "glm";
    case VKA_TOOL_FORMAT_NONE: break;
    }
    return "none";
}

/* ---------------------------------------------------------------- parameter schemas */

static bool all_strings(const cJSON *values) {
    const cJSON *v;
    int n = 0;
    cJSON_ArrayForEach(v, values) {
        if (!cJSON_IsString(v)) return false;
        n++;
    }
    return n > 0;
}

bool vka_tool_param_is_text(const cJSON *schema) {
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(schema, "type");
    if (type) return cJSON_IsString(type) && strcmp(type->valuestring, "string") == 0;
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(schema, "const");
    if (c) return cJSON_IsString(c);
    return all_strings(cJSON_GetObjectItemCaseSensitive(schema, "enum"));
}

const cJSON *vka_tool_properties(const cJSON *tools, const char *name, size_t name_len) {
    const cJSON *tool;
    cJSON_ArrayForEach(tool, tools) {
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tool, "function");
        const char *n = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(fn, "name"));
        if (n && strlen(n) == name_len && memcmp(n, name, name_len) == 0)
            return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(fn, "parameters"), "properties");
    }
    return NULL;
}

bool vka_tool_parameter_is_text(const char *tools_json, const char *function, const char *parameter) {
    if (!tools_json || !function || !parameter) return false;
    cJSON *tools = cJSON_Parse(tools_json);
    const cJSON *props = vka_tool_properties(tools, function, strlen(function));
    bool text = vka_tool_param_is_text(cJSON_GetObjectItemCaseSensitive(props, parameter));
    cJSON_Delete(tools);
    return text;
}

/* ---------------------------------------------------------------- result building */

/* The result under construction; `ok` turns false on the first thing that
 * is not a whole, well-formed call. */
typedef struct {
    vka_tool_call *calls;
    size_t n, cap;
    bool ok, oom;
    /* the tools' array, when the caller gave it: their schemas say which
     * parameters of the XML-like formats are text */
    const cJSON *tools;
} call_list;

static char *copy_n(const char *s, size_t n) {
    char *c = malloc(n + 1);
    if (!c) return NULL;
    memcpy(c, s, n);
    c[n] = '\0';
    return c;
}

/* Takes ownership of the three strings (any may be NULL on OOM: then all go). */
static void add_call(call_list *l, char *name, char *args, char *id) {
    if (!name || !args || l->oom) {
        l->oom = l->oom || !name || !args;
        free(name), free(args), free(id);
        return;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 4;
        vka_tool_call *calls = realloc(l->calls, cap * sizeof *calls);
        if (!calls) {
            l->oom = true;
            free(name), free(args), free(id);
            return;
        }
        l->calls = calls;
        l->cap = cap;
    }
    l->calls[l->n++] = (vka_tool_call){name, args, id};
}

static void free_calls(vka_tool_call *calls, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free((char *)calls[i].name);
        free((char *)calls[i].arguments);
        free((char *)calls[i].id);
    }
    free(calls);
}

/* ---------------------------------------------------------------- JSON scanning */

static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static const char *skip_ws(const char *p) {
    while (is_ws(*p)) p++;
    return p;
}

static bool starts(const char *p, const char *word) { return strncmp(p, word, strlen(word)) == 0; }

/* The end of the well-formed JSON value at p, or NULL. */
static const char *json_end(const char *p, cJSON **value) {
    const char *end = NULL;
    cJSON *v = cJSON_ParseWithOpts(p, &end, false);
    if (!v) return NULL;
    if (value) *value = v;
    else cJSON_Delete(v);
    return end;
}

/* A call object {"name": "N", ARGS_KEY: {...}, "id": "..."} at p, its
 * arguments kept as written; members may come in any order. Returns the end
 * of the object, or NULL when it is not such a call. */
static const char *read_call_object(const char *p, const char *const *args_keys, call_list *l) {
    p = skip_ws(p);
    if (*p != '{') return NULL;
    char *name = NULL, *args = NULL, *id = NULL;
    p = skip_ws(p + 1);
    while (*p != '}') {
        cJSON *key = NULL, *value = NULL;
        const char *key_end = json_end(p, &key);
        bool is_string_key = key_end && cJSON_IsString(key);
        const char *k = is_string_key ? key->valuestring : "";
        const char *v = is_string_key ? skip_ws(key_end) : NULL;
        const char *v_end = v && *v == ':' ? json_end(skip_ws(v + 1), &value) : NULL;
        if (v_end) {
            v = skip_ws(v + 1);
            if (strcmp(k, "name") == 0 && cJSON_IsString(value) && !name) name = copy_n(value->valuestring, strlen(value->valuestring));
            else if (strcmp(k, "id") == 0 && cJSON_IsString(value) && !id) id = copy_n(value->valuestring, strlen(value->valuestring));
            for (const char *const *a = args_keys; *a && !args; a++)
                if (strcmp(k, *a) == 0 && cJSON_IsObject(value)) args = copy_n(v, (size_t)(v_end - v));
        }
        cJSON_Delete(key);
        cJSON_Delete(value);
        if (!v_end) goto bad;
        p = skip_ws(v_end);
        if (*p == ',' && *skip_ws(p + 1) != '}') p = skip_ws(p + 1);
        else if (*p != '}') goto bad;
    }
    if (!name || !name[0] || !args) goto bad; /* a call names its function: "" (or "\u0000") is text */
    add_call(l, name, args, id);
    return p + 1;
bad:
    free(name), free(args), free(id);
    return NULL;
}

static const char *const name_arguments[] = {"arguments", NULL};
static const char *const name_parameters[] = {"parameters", "arguments", NULL};

/* ---------------------------------------------------------------- formats */

/* <tool_call>{...}</tool_call>, repeated with whitespace between. */
static void parse_hermes(const char *p, call_list *l) {
    while (*p) {
        if (!starts(p, "<tool_call>") || !(p = read_call_object(p + 11, name_arguments, l))) return;
        p = skip_ws(p);
        if (!starts(p, "</tool_call>")) return;
        p = skip_ws(p + 12);
    }
    l->ok = l->n > 0;
}

/* One or more call objects, separated by ';' or whitespace. */
static void parse_llama3(const char *p, call_list *l) {
    while (*p) {
        if (!(p = read_call_object(p, name_parameters, l))) return;
        p = skip_ws(p);
        if (*p == ';') p = skip_ws(p + 1);
    }
    l->ok = l->n > 0;
}

/* [TOOL_CALLS] then either a JSON array of call objects (v0.3, Nemo) or
 * name[CALL_ID]id[ARGS]{...} calls, each after [TOOL_CALLS] or directly
 * after the previous one (Ministral 3 writes the marker once). */
static void parse_mistral(const char *p, call_list *l) {
    while (*p) {
        if (starts(p, "[TOOL_CALLS]")) p = skip_ws(p + 12);
        if (*p == '[') {
            p = skip_ws(p + 1);
            while (*p != ']') {
                if (!(p = read_call_object(p, name_arguments, l))) return;
                p = skip_ws(p);
                if (*p == ',') p = skip_ws(p + 1);
                else if (*p != ']') return;
            }
            p = skip_ws(p + 1);
            continue;
        }
        const char *name_end = strchr(p, '[');
        if (!name_end || name_end == p) return;
        const char *q = name_end;
        char *id = NULL;
        if (starts(q, "[CALL_ID]")) {
            const char *id_end = strstr(q + 9, "[ARGS]");
            if (!id_end) return;
            id = copy_n(q + 9, (size_t)(id_end - q - 9));
            q = id_end;
        }
        cJSON *args = NULL;
        const char *args_end = starts(q, "[ARGS]") ? json_end(q + 6, &args) : NULL;
        bool is_object = cJSON_IsObject(args);
        cJSON_Delete(args);
        if (!args_end || !is_object) {
            free(id);
            return;
        }
        const char *a = skip_ws(q + 6);
        add_call(l, copy_n(p, (size_t)(name_end - p)), copy_n(a, (size_t)(args_end - a)), id);
        p = skip_ws(args_end);
    }
    l->ok = l->n > 0;
}

/* Adds member `key` with value `v`: the text as a string where the tool's
 * schema makes the parameter text (`props`: the tool's properties, or NULL);
 * otherwise JSON when it parses as a whole (the templates write objects,
 * lists and numbers with tojson), else the text as a string. */
static bool add_argument(cJSON *args, const cJSON *props, const char *key, size_t key_len, const char *v,
                         size_t v_len) {
    char *k = copy_n(key, key_len), *text = copy_n(v, v_len);
    bool is_text = k && vka_tool_param_is_text(cJSON_GetObjectItemCaseSensitive(props, k));
    cJSON *value = text && !is_text ? cJSON_ParseWithLength(text, v_len) : NULL;
    if (!value && text) value = cJSON_CreateString(text);
    bool added = k && value && cJSON_AddItemToObject(args, k, value);
    if (!added) cJSON_Delete(value);
    free(k), free(text);
    return added;
}

/* One <parameter=P>\nV\n</parameter> (p after "<parameter="): the end, or NULL. */
static const char *read_parameter(const char *p, const cJSON *props, cJSON *args) {
    const char *name_end = strchr(p, '>');
    if (!name_end) return NULL;
    const char *v = name_end + 1, *v_end = strstr(v, "</parameter>");
    if (!v_end) return NULL;
    const char *end = v_end + 12;
    if (*v == '\n') v++;
    if (v_end > v && v_end[-1] == '\n') v_end--;
    return add_argument(args, props, p, (size_t)(name_end - p), v, (size_t)(v_end - v)) ? end : NULL;
}

/* <tool_call>\n<function=N>\n<parameter=P>...</parameter>\n</function>\n</tool_call>
 * (Seed-OSS writes the tags as <seed:tool_call>) */
static void parse_qwen3_coder(const char *p, call_list *l) {
    while (*p) {
        bool seed = starts(p, "<seed:tool_call>");
        if (!seed && !starts(p, "<tool_call>")) return;
        p = skip_ws(p + (seed ? 16 : 11));
        if (!starts(p, "<function=")) return;
        const char *name = p + 10, *name_end = strchr(name, '>');
        if (!name_end || name_end == name) return;
        cJSON *args = cJSON_CreateObject();
        const cJSON *props = vka_tool_properties(l->tools, name, (size_t)(name_end - name));
        p = skip_ws(name_end + 1);
        while (args && starts(p, "<parameter=")) {
            if (!(p = read_parameter(p + 11, props, args))) break;
            p = skip_ws(p);
        }
        char *text = p && starts(p, "</function>") ? cJSON_PrintUnformatted(args) : NULL;
        cJSON_Delete(args);
        if (!text) return;
        add_call(l, copy_n(name, (size_t)(name_end - name)), text, NULL);
        p = skip_ws(p + 11);
        if (!starts(p, seed ? "</seed:tool_call>" : "</tool_call>")) return;
        p = skip_ws(p + (seed ? 17 : 12));
    }
    l->ok = l->n > 0;
}

/* <tool_call>N\n<arg_key>K</arg_key>\n<arg_value>V</arg_value>...</tool_call>
 * (GLM 4.5-4.7 and the templates that copy it) */
static void parse_glm(const char *p, call_list *l) {
    while (*p) {
        if (!starts(p, "<tool_call>")) return;
        const char *name = skip_ws(p + 11), *name_end = name;
        while (*name_end && *name_end != '<' && !is_ws(*name_end)) name_end++;
        if (name_end == name) return;
        cJSON *args = cJSON_CreateObject();
        const cJSON *props = vka_tool_properties(l->tools, name, (size_t)(name_end - name));
        p = skip_ws(name_end);
        while (args && starts(p, "<arg_key>")) {
            const char *k = p + 9, *k_end = strstr(k, "</arg_key>");
            const char *v = k_end ? skip_ws(k_end + 10) : NULL;
            const char *v_end = v && starts(v, "<arg_value>") ? strstr(v + 11, "</arg_value>") : NULL;
            if (!v_end || !add_argument(args, props, k, (size_t)(k_end - k), v + 11, (size_t)(v_end - v - 11))) break;
            p = skip_ws(v_end + 12);
        }
        char *text = starts(p, "</tool_call>") ? cJSON_PrintUnformatted(args) : NULL;
        cJSON_Delete(args);
        if (!text) return;
        add_call(l, copy_n(name, (size_t)(name_end - name)), text, NULL);
        p = skip_ws(p + 12);
    }
    l->ok = l->n > 0;
}

/* Where the calls begin in `text`, or NULL when it holds none. */
static const char *calls_start(const char *text, vka_tool_format format) {
    switch (format) {
    case VKA_TOOL_FORMAT_HERMES:
    case VKA_TOOL_FORMAT_GLM: return strstr(text, "<tool_call>");
    case VKA_TOOL_FORMAT_QWEN3_CODER: {
        const char *tag = strstr(text, "<tool_call>"), *seed = strstr(text, "<seed:tool_call>");
        return !seed || (tag && tag < seed) ? tag : seed;
    }
    case VKA_TOOL_FORMAT_MISTRAL:
    case VKA_TOOL_FORMAT_MISTRAL_ARGS: return strstr(text, "[TOOL_CALLS]");
    case VKA_TOOL_FORMAT_LLAMA3: {
        /* a reply that is a call begins with '{'; <|python_tag|> may follow text */
        const char *tag = strstr(text, "<|python_tag|>"), *p = skip_ws(text);
        return tag ? tag : *p == '{' ? p : NULL;
    }
    case VKA_TOOL_FORMAT_NONE: break;
    }
    return NULL;
}

static void parse_calls(const char *p, vka_tool_format format, call_list *l) {
    switch (format) {
    case VKA_TOOL_FORMAT_HERMES: parse_hermes(p, l); break;
    case VKA_TOOL_FORMAT_QWEN3_CODER: parse_qwen3_coder(p, l); break;
    case VKA_TOOL_FORMAT_GLM: parse_glm(p, l); break;
    case VKA_TOOL_FORMAT_MISTRAL:
    case VKA_TOOL_FORMAT_MISTRAL_ARGS: parse_mistral(p, l); break;
    case VKA_TOOL_FORMAT_LLAMA3:
        parse_llama3(skip_ws(starts(p, "<|python_tag|>") ? p + 14 : p), l);
        break;
    case VKA_TOOL_FORMAT_NONE: break;
    }
}

vka_status vka_tool_calls_parse(const char *text, vka_tool_format format, vka_tool_calls **out) {
    return vka_tool_calls_parse_tools(text, format, NULL, out);
}

vka_status vka_tool_calls_parse_tools(const char *text, vka_tool_format format, const char *tools_json,
                                      vka_tool_calls **out) {
    if (out) *out = NULL;
    if (!text || !out) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_tool_calls_parse: NULL text or out");
    cJSON *tools = tools_json ? cJSON_Parse(tools_json) : NULL;
    if (tools_json && !cJSON_IsArray(tools)) {
        cJSON_Delete(tools);
        return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_tool_calls_parse_tools: tools is not a JSON array");
    }
    call_list l = {.tools = tools};
    const char *start = calls_start(text, format);
    if (start) parse_calls(start, format, &l);
    cJSON_Delete(tools);
    l.tools = NULL;
    if (l.oom) {
        free_calls(l.calls, l.n);
        return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory reading tool calls");
    }
    if (!l.ok) {
        /* not whole calls: everything is content */
        free_calls(l.calls, l.n);
        l.calls = NULL;
        l.n = 0;
        start = NULL;
    }
    size_t content_len = start ? (size_t)(start - text) : strlen(text);
    while (start && content_len > 0 && is_ws(text[content_len - 1])) content_len--;
    vka_tool_calls *r = calloc(1, sizeof *r);
    char *content = copy_n(text, content_len);
    if (!r || !content) {
        free(r), free(content);
        free_calls(l.calls, l.n);
        return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory reading tool calls");
    }
    r->content = content;
    r->calls = l.calls;
    r->n_calls = l.n;
    *out = r;
    return VKA_OK;
}

void vka_tool_calls_free(vka_tool_calls *calls) {
    if (!calls) return;
    free((char *)calls->content);
    free_calls((vka_tool_call *)calls->calls, calls->n_calls);
    free(calls);
}
