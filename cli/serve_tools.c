/* serve_tools.c — OpenAI tools in `vkagent serve`: the tools go into the chat
 * template, and a tool call is generated in the model's own call format
 * under the grammar vka_tool_calls_grammar builds from the tools' schemas, so
 * its arguments always parse and validate; the calls are read back here,
 * incrementally (streams), as tool_calls. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve.h"

/* The model's call format: its template's own syntax, else its family's,
 * else Hermes (the syntax of the "chatml" fallback template). */
static vka_tool_format model_format(const vka_model *model) {
    vka_tool_format f = vka_tool_format_detect(vka_model_meta_string(model, "tokenizer.chat_template"));
    if (f == VKA_TOOL_FORMAT_NONE) f = vka_tool_format_detect(vka_chat_template_family(model, NULL));
    return f == VKA_TOOL_FORMAT_NONE ? VKA_TOOL_FORMAT_HERMES : f;
}

/* The tools a call may name: all of them, or the one named `only`, as an
 * array; NULL with *err set. *strict: every one asks for OpenAI's strict
 * mode (the schema conversion's flag is for the whole grammar). */
static cJSON *callable_tools(const cJSON *tools, const char *only, bool *strict, serve_error *err) {
    cJSON *out = cJSON_CreateArray();
    const cJSON *tool;
    *strict = true;
    cJSON_ArrayForEach(tool, tools) {
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tool, "function");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(fn, "name");
        const cJSON *params = cJSON_GetObjectItemCaseSensitive(fn, "parameters");
        if (!cJSON_IsString(name) || (params && !cJSON_IsObject(params))) {
            serve_error_set(err, 400, "tools",
                            "each tool must be {\"type\": \"function\", \"function\": {\"name\", \"parameters\"}}");
            cJSON_Delete(out);
            return NULL;
        }
        if (only && strcmp(only, name->valuestring) != 0) continue;
        *strict = *strict && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(fn, "strict"));
        cJSON_AddItemToArray(out, cJSON_Duplicate(tool, true));
    }
    if (cJSON_GetArraySize(out) == 0) {
        serve_error_set(err, 400, "tool_choice", "'tool_choice' names a function that is not among the tools");
        cJSON_Delete(out);
        return NULL;
    }
    return out;
}

/* The grammar of the calls in the model's format (vka_tool_calls_grammar,
 * every format): required (or a named function) gives calls only, auto lets
 * text come first (or instead, in llama3); parallel allows several. */
static bool build_grammar(serve_job *job, const cJSON *callable, bool strict, bool required, bool parallel,
                          serve_error *err) {
    uint32_t flags = (parallel ? VKA_TOOL_GRAMMAR_PARALLEL : 0) | (required ? 0 : VKA_TOOL_GRAMMAR_AUTO);
    char *json = cJSON_PrintUnformatted(callable), *gbnf = NULL;
    vka_status st = json ? vka_tool_calls_grammar(json, job->tool_format, flags, strict ? VKA_JSON_SCHEMA_STRICT : 0,
                                                  &gbnf)
                         : VKA_ERR_OUT_OF_MEMORY;
    free(json);
    if (st == VKA_ERR_OUT_OF_MEMORY) {
        serve_error_set(err, 500, NULL, "out of memory");
        return false;
    }
    if (st != VKA_OK) {
        serve_error_set(err, 400, "tools", "a tool's parameters: %s", vka_last_error());
        return false;
    }
    /* the job frees its grammar with free() */
    job->grammar = strdup(gbnf);
    vka_free(gbnf);
    if (!job->grammar) {
        serve_error_set(err, 500, NULL, "out of memory");
        return false;
    }
    job->gp.sampling.grammar = job->grammar;
    job->gp.sampling.grammar_root = "root";
    return true;
}

bool serve_parse_tools(const serve_state *s, const cJSON *root, serve_job *job, serve_error *err) {
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(root, "tools");
    const cJSON *choice = cJSON_GetObjectItemCaseSensitive(root, "tool_choice");
    bool have = cJSON_IsArray(tools) && cJSON_GetArraySize(tools) > 0;
    if (tools && !cJSON_IsNull(tools) && !cJSON_IsArray(tools)) {
        serve_error_set(err, 400, "tools", "'tools' must be an array");
        return false;
    }
    bool parallel = true; /* OpenAI's default */
    const cJSON *ptc = cJSON_GetObjectItemCaseSensitive(root, "parallel_tool_calls");
    if (ptc && !cJSON_IsNull(ptc)) {
        if (!cJSON_IsBool(ptc)) {
            serve_error_set(err, 400, "parallel_tool_calls", "'parallel_tool_calls' must be true or false");
            return false;
        }
        parallel = cJSON_IsTrue(ptc);
    }
    const char *mode = have ? "auto" : "none", *only = NULL;
    if (cJSON_IsString(choice)) mode = choice->valuestring;
    else if (cJSON_IsObject(choice)) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(choice, "function"), "name");
        if (!cJSON_IsString(name)) goto bad_choice;
        mode = "required";
        only = name->valuestring;
    } else if (choice && !cJSON_IsNull(choice))
        goto bad_choice;
    bool none = strcmp(mode, "none") == 0, required = strcmp(mode, "required") == 0;
    if (!none && !required && strcmp(mode, "auto") != 0) goto bad_choice;
    if (!have) {
        if (!required) return true;
        serve_error_set(err, 400, "tool_choice", "'tool_choice' asks for a tool call but there are no 'tools'");
        return false;
    }
    if (!(job->tools_json = cJSON_PrintUnformatted(tools))) {
        serve_error_set(err, 500, NULL, "out of memory");
        return false;
    }
    if (none) return true;
    if (job->gp.sampling.json_schema) {
        serve_error_set(err, 400, "response_format", "'response_format' cannot be combined with tool calls");
        return false;
    }
    job->tool_format = model_format(s->model);
    job->calls_required = required;
    bool strict = false;
    cJSON *callable = callable_tools(tools, only, &strict, err);
    bool ok = callable && build_grammar(job, callable, strict, required, parallel, err);
    cJSON_Delete(callable);
    job->tool_calls = ok;
    return ok;
bad_choice:
    serve_error_set(err, 400, "tool_choice",
                    "'tool_choice' must be 'none', 'auto', 'required' or {\"type\": \"function\", \"function\": {\"name\"}}");
    return false;
}

/* ---------------------------------------------------------------- reading calls back */

/* The incremental scanner below reads the calls as vka_tool_calls_grammar
 * writes them, so that streams send the arguments as they are written, and
 * whole answers are read by it too, so that a stream and a whole answer
 * always agree (cut-short calls included): Hermes ("<tool_call>\n" object
 * "\n</tool_call>", "\n" between calls), Llama 3.1 (a reply that is one
 * object), Mistral v0.3/Nemo ("[TOOL_CALLS]", an optional space, then a JSON
 * array of objects joined by ", "), Mistral's name[ARGS] form ("[TOOL_CALLS]"
 * name, an optional "[CALL_ID]" id, "[ARGS]" object, for each call), and
 * Qwen3-Coder and GLM, whose arguments' JSON is built from their elements. */
static const char HERMES_OPEN[] = "<tool_call>\n", HERMES_CLOSE[] = "\n</tool_call>", MISTRAL_MARK[] = "[TOOL_CALLS]";

static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static size_t skip_ws(const char *t, size_t len, size_t i) {
    while (i < len && is_ws(t[i])) i++;
    return i;
}

static bool has_at(const char *t, size_t len, size_t at, const char *word) {
    size_t n = strlen(word);
    return at <= len && len - at >= n && memcmp(t + at, word, n) == 0;
}

/* The end of the JSON value that starts at t[at]; *whole false when the text
 * ends first (the end is then len). Values are well formed here: the
 * grammar made them. */
static size_t value_end(const char *t, size_t len, size_t at, bool *whole) {
    *whole = true;
    size_t i = at;
    if (t[i] == '"' || t[i] == '{' || t[i] == '[') {
        int depth = 0;
        bool in_string = false;
        for (; i < len; i++) {
            char c = t[i];
            if (in_string) {
                if (c == '\\') i++;
                else if (c == '"') in_string = false;
            } else if (c == '"') in_string = true;
            else if (c == '{' || c == '[') depth++;
            else if (c == '}' || c == ']') depth--;
            if (!in_string && depth == 0) return i + 1;
        }
    } else {
        /* a number, true, false or null: up to what cannot belong to it */
        while (i < len && !is_ws(t[i]) && t[i] != ',' && t[i] != '}' && t[i] != ']') i++;
        if (i < len) return i;
    }
    *whole = false;
    return len;
}

/* The call object in t[at, len), its arguments under `args_key`: its name,
 * id and arguments as far as they go. Returns the end of the object, or 0
 * while it is not whole. */
static size_t read_call(const char *t, size_t len, size_t at, const char *args_key, serve_call *call) {
    size_t i = skip_ws(t, len, at);
    if (i >= len || t[i] != '{') return 0;
    i++;
    for (;;) {
        i = skip_ws(t, len, i);
        if (i >= len) return 0;
        if (t[i] == '}') return i + 1;
        if (t[i] == ',') {
            i++;
            continue;
        }
        /* a key is a string: anything else (a stray ']' would not even move
         * the scan on) is no call object */
        if (t[i] != '"') return 0;
        bool whole;
        size_t key_end = value_end(t, len, i, &whole);
        if (!whole) return 0;
        /* keys may be written with escapes (\u006e...): compared decoded */
        cJSON *k = cJSON_ParseWithLength(t + i, key_end - i);
        const char *key = cJSON_GetStringValue(k);
        bool is_name = key && strcmp(key, "name") == 0, is_args = key && strcmp(key, args_key) == 0;
        bool is_id = key && strcmp(key, "id") == 0;
        cJSON_Delete(k);
        i = skip_ws(t, len, key_end);
        if (i < len && t[i] == ':') i = skip_ws(t, len, i + 1);
        if (i >= len) return 0;
        size_t end = value_end(t, len, i, &whole);
        if (end == i) return 0; /* no value here (e.g. "name"]): not a call object */
        /* the first of each member counts (the grammar writes each once) */
        if (is_name && whole && t[i] == '"' && !call->name_len) {
            call->name_at = i;
            call->name_len = end - i;
        }
        if (is_id && whole && t[i] == '"' && !call->id_len) {
            call->id_at = i;
            call->id_len = end - i;
        }
        if (is_args && !call->args_at) {
            call->args_at = i;
            call->args_len = end - i;
            call->args_done = whole;
        }
        if (!whole) return 0;
        i = end;
    }
}

/* How many of the last bytes of t[0, len) begin `word` (a proper prefix of it). */
static size_t partial_suffix(const char *t, size_t len, const char *word) {
    size_t w = strlen(word);
    for (size_t k = w - 1 < len ? w - 1 : len; k > 0; k--)
        if (memcmp(t + len - k, word, k) == 0) return k;
    return 0;
}

static size_t trim_end(const char *t, size_t end) {
    while (end > 0 && is_ws(t[end - 1])) end--;
    return end;
}

/* A new call at the end of out->calls (zeroed); NULL when memory ran out. */
static serve_call *add_call(serve_scan *out, size_t *cap) {
    if (out->n_calls == *cap) {
        size_t c = *cap ? 2 * *cap : 4;
        serve_call *calls = realloc(out->calls, c * sizeof *calls);
        if (!calls) return NULL;
        out->calls = calls;
        *cap = c;
    }
    serve_call *call = &out->calls[out->n_calls++];
    memset(call, 0, sizeof *call);
    return call;
}

/* Hermes, from after the first opening tag: a call, then for each further
 * one "\n" and its opening tag. */
static bool read_hermes(const char *t, size_t len, size_t at, serve_scan *out) {
    size_t open = strlen(HERMES_OPEN), close = strlen(HERMES_CLOSE), cap = 0;
    for (;;) {
        serve_call *call = add_call(out, &cap);
        if (!call) return false;
        size_t end = read_call(t, len, at, "arguments", call);
        if (end == 0 || !has_at(t, len, end, HERMES_CLOSE)) return true;
        call->closed = true;
        at = end + close;
        if (!has_at(t, len, at, "\n") || !has_at(t, len, at + 1, HERMES_OPEN)) return true;
        at += 1 + open;
    }
}

/* Llama 3.1: the one call object the reply is. */
static bool read_llama3(const char *t, size_t len, size_t at, serve_scan *out) {
    size_t cap = 0;
    serve_call *call = add_call(out, &cap);
    if (!call) return false;
    call->closed = read_call(t, len, at, "parameters", call) != 0;
    return true;
}

/* Mistral v0.3/Nemo, from after the marker: [obj, obj, ...]. */
static bool read_mistral(const char *t, size_t len, size_t at, serve_scan *out) {
    size_t cap = 0;
    if (has_at(t, len, at, " ")) at++;
    if (!has_at(t, len, at, "[")) return true;
    for (at++;;) {
        serve_call *call = add_call(out, &cap);
        if (!call) return false;
        size_t end = read_call(t, len, at, "arguments", call);
        if (end == 0) return true;
        call->closed = true;
        if (!has_at(t, len, end, ", ")) return true;
        at = end + 2;
    }
}

/* Mistral's name[ARGS] form, from after the first marker: name, then
 * optionally [CALL_ID] and the id, then [ARGS] and the arguments object;
 * each further call after the marker again. Names and ids are raw text. */
static bool read_mistral_args(const char *t, size_t len, size_t at, serve_scan *out) {
    size_t cap = 0;
    for (;;) {
        serve_call *call = add_call(out, &cap);
        if (!call) return false;
        const char *bracket = memchr(t + at, '[', len - at);
        if (!bracket || bracket == t + at) return true;
        call->raw = true;
        call->name_at = at;
        call->name_len = (size_t)(bracket - t) - at;
        at = (size_t)(bracket - t);
        if (has_at(t, len, at, "[CALL_ID]")) {
            size_t id = at + 9;
            const char *id_end = memchr(t + id, '[', len - id);
            if (!id_end) return true;
            call->id_at = id;
            call->id_len = (size_t)(id_end - t) - id;
            at = (size_t)(id_end - t);
        }
        if (!has_at(t, len, at, "[ARGS]") || at + 6 >= len) return true;
        bool whole;
        call->args_at = at + 6;
        size_t end = value_end(t, len, call->args_at, &whole);
        call->args_len = end - call->args_at;
        call->args_done = call->closed = whole;
        if (!whole || !has_at(t, len, end, MISTRAL_MARK)) return true;
        at = end + strlen(MISTRAL_MARK);
    }
}

/* Llama 3.1: a reply whose first non-blank character is '{' is a call;
 * until that character comes, nothing is content yet. */
static bool scan_llama3(const char *t, size_t len, bool final, serve_scan *out) {
    size_t at = skip_ws(t, len, 0);
    if (at == len) {
        if (!final) out->content_end = 0;
        return true;
    }
    if (t[at] != '{') return true;
    out->content_end = 0;
    return read_llama3(t, len, at, out);
}

/* ---------------------------------------------------------------- Qwen3-Coder and GLM */

/* In these formats each argument is an element: the arguments' JSON is built
 * here as the elements come, {"P": V, ...}, a text parameter's raw text
 * escaped into a JSON string, any other's JSON as written (the grammar holds
 * it to its schema). What is built only grows as the text does: a value's
 * end that may still be the start of its closing tag waits. */
static const char XML_OPEN[] = "<tool_call>", QWEN_CLOSE[] = "\n</parameter>", GLM_CLOSE[] = "</arg_value>";

static bool build(serve_call *call, size_t *cap, const char *s, size_t n) {
    if (call->args_len + n + 1 > *cap) {
        size_t c = *cap ? *cap : 64;
        while (c < call->args_len + n + 1) c *= 2;
        char *b = realloc(call->built, c);
        if (!b) return false;
        call->built = b;
        *cap = c;
    }
    memcpy(call->built + call->args_len, s, n);
    call->args_len += n;
    call->built[call->args_len] = '\0';
    return true;
}

/* Appends raw text as the inside of a JSON string (bytes from 0x80 as they
 * are, so a character cut at the end is completed by what follows). */
static bool build_escaped(serve_call *call, size_t *cap, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        size_t k = 0;
        if (c == '"' || c == '\\') k = (size_t)snprintf(esc, sizeof esc, "\\%c", c);
        else if (c == '\n') k = (size_t)snprintf(esc, sizeof esc, "\\n");
        else if (c < 0x20) k = (size_t)snprintf(esc, sizeof esc, "\\u%04x", c);
        if (!(k ? build(call, cap, esc, k) : build(call, cap, s + i, 1))) return false;
    }
    return true;
}

/* The start of a parameter: `"P":` after a comma when not the first, and a
 * text parameter's opening quote. *is_text tells which. */
static bool build_key(const serve_job *job, serve_call *call, size_t *cap, const char *key, size_t key_len,
                      bool *is_text) {
    char *name = serve_call_name(job, call), *k = strndup(key, key_len);
    *is_text = name && k && vka_tool_parameter_is_text(job->tools_json, name, k);
    cJSON *str = k ? cJSON_CreateString(k) : NULL;
    char *quoted = str ? cJSON_PrintUnformatted(str) : NULL;
    bool ok = quoted && build(call, cap, call->args_len > 1 ? "," : "", call->args_len > 1) &&
              build(call, cap, quoted, strlen(quoted)) && build(call, cap, *is_text ? ":\"" : ":", *is_text ? 2 : 1);
    cJSON_Delete(str);
    free(quoted), free(name), free(k);
    return ok;
}

/* A value from t[v] to its closing tag `close`, or as far as it surely goes.
 * Returns the position after the tag, or 0 while it has not come. */
static size_t build_value(serve_call *call, size_t *cap, const char *t, size_t len, size_t v, const char *close,
                          bool is_text, bool *ok) {
    const char *end = memmem(t + v, len - v, close, strlen(close));
    size_t upto = end ? (size_t)(end - t) : len - partial_suffix(t + v, len - v, close);
    *ok = is_text ? build_escaped(call, cap, t + v, upto - v) : build(call, cap, t + v, upto - v);
    if (!end || !*ok) return 0;
    *ok = !is_text || build(call, cap, "\"", 1);
    return (size_t)(end - t) + strlen(close);
}

/* The end of the arguments: "}", then the call's closing. */
static bool build_end(serve_call *call, size_t *cap) {
    call->args_done = true;
    return build(call, cap, "}", 1);
}

/* Qwen3-Coder calls, from after the first "<tool_call>":
 * \n<function=N>\n (<parameter=P>\nV\n</parameter>\n)* </function>\n</tool_call>, "\n" between calls. */
static bool read_qwen3_coder(const serve_job *job, const char *t, size_t len, size_t at, serve_scan *out) {
    size_t ncap = 0;
    for (;;) {
        serve_call *call = add_call(out, &ncap);
        size_t cap = 0;
        if (!call) return false;
        if (!has_at(t, len, at, "\n<function=")) return true;
        at += 11;
        const char *gt = memchr(t + at, '>', len - at);
        if (!gt) return true;
        call->raw = true;
        call->name_at = at;
        call->name_len = (size_t)(gt - t) - at;
        at = (size_t)(gt - t) + 1;
        if (!has_at(t, len, at, "\n")) return true;
        if (!build(call, &cap, "{", 1)) return false;
        at++;
        while (has_at(t, len, at, "<parameter=")) {
            const char *k = t + at + 11, *k_end = memchr(k, '>', len - (size_t)(k - t));
            if (!k_end || !has_at(t, len, (size_t)(k_end - t) + 1, "\n")) return true;
            bool is_text, ok;
            if (!build_key(job, call, &cap, k, (size_t)(k_end - k), &is_text)) return false;
            size_t end = build_value(call, &cap, t, len, (size_t)(k_end - t) + 2, QWEN_CLOSE, is_text, &ok);
            if (!ok) return false;
            if (!end || !has_at(t, len, end, "\n")) return true;
            at = end + 1;
        }
        if (!has_at(t, len, at, "</function>\n</tool_call>")) return true;
        if (!build_end(call, &cap)) return false;
        call->closed = true;
        at += 24;
        if (!has_at(t, len, at, "\n<tool_call>")) return true;
        at += 12;
    }
}

static size_t skip_nl(const char *t, size_t len, size_t at) { return has_at(t, len, at, "\n") ? at + 1 : at; }

/* GLM calls, from after the first "<tool_call>": N\n? (<arg_key>P</arg_key>\n?<arg_value>V</arg_value>\n?)*
 * </tool_call>, an optional "\n" between calls. */
static bool read_glm(const serve_job *job, const char *t, size_t len, size_t at, serve_scan *out) {
    size_t ncap = 0;
    for (;;) {
        serve_call *call = add_call(out, &ncap);
        size_t cap = 0;
        if (!call) return false;
        size_t name_end = at;
        while (name_end < len && t[name_end] != '<' && t[name_end] != '\n') name_end++;
        if (name_end == len || name_end == at) return true;
        call->raw = true;
        call->name_at = at;
        call->name_len = name_end - at;
        if (!build(call, &cap, "{", 1)) return false;
        at = skip_nl(t, len, name_end);
        while (has_at(t, len, at, "<arg_key>")) {
            const char *k = t + at + 9, *k_end = memmem(k, len - (size_t)(k - t), "</arg_key>", 10);
            if (!k_end) return true;
            size_t v = skip_nl(t, len, (size_t)(k_end - t) + 10);
            if (!has_at(t, len, v, "<arg_value>")) return true;
            bool is_text, ok;
            if (!build_key(job, call, &cap, k, (size_t)(k_end - k), &is_text)) return false;
            size_t end = build_value(call, &cap, t, len, v + 11, GLM_CLOSE, is_text, &ok);
            if (!ok) return false;
            if (!end) return true;
            at = skip_nl(t, len, end);
        }
        if (!has_at(t, len, at, "</tool_call>")) return true;
        if (!build_end(call, &cap)) return false;
        call->closed = true;
        at = skip_nl(t, len, at + 12);
        if (!has_at(t, len, at, XML_OPEN)) return true;
        at += strlen(XML_OPEN);
    }
}

const char *serve_call_args(const serve_job *job, const serve_call *call) {
    return call->built ? call->built : job->text + call->args_at;
}

void serve_scan_free(serve_scan *scan) {
    for (size_t i = 0; i < scan->n_calls; i++) free(scan->calls[i].built);
    free(scan->calls);
    scan->calls = NULL;
    scan->n_calls = 0;
}

bool serve_scan_text(const serve_job *job, bool final, serve_scan *out) {
    memset(out, 0, sizeof *out);
    const char *t = job->text ? job->text : "";
    size_t len = job->len;
    out->content_end = len;
    if (!job->tool_calls || job->tool_format == VKA_TOOL_FORMAT_NONE) return true;
    if (job->tool_format == VKA_TOOL_FORMAT_LLAMA3) return scan_llama3(t, len, final, out);
    bool xml = job->tool_format == VKA_TOOL_FORMAT_QWEN3_CODER || job->tool_format == VKA_TOOL_FORMAT_GLM;
    const char *mark = job->tool_format == VKA_TOOL_FORMAT_HERMES ? HERMES_OPEN : xml ? XML_OPEN : MISTRAL_MARK;
    const char *open = memmem(t, len, mark, strlen(mark));
    if (!open) {
        if (!final) out->content_end = trim_end(t, len - partial_suffix(t, len, mark));
        return true;
    }
    out->content_end = trim_end(t, (size_t)(open - t));
    size_t at = (size_t)(open - t) + strlen(mark);
    switch (job->tool_format) {
    case VKA_TOOL_FORMAT_MISTRAL: return read_mistral(t, len, at, out);
    case VKA_TOOL_FORMAT_MISTRAL_ARGS: return read_mistral_args(t, len, at, out);
    case VKA_TOOL_FORMAT_QWEN3_CODER: return read_qwen3_coder(job, t, len, at, out);
    case VKA_TOOL_FORMAT_GLM: return read_glm(job, t, len, at, out);
    default: return read_hermes(t, len, at, out);
    }
}

/* Mistral's templates accept only ids of nine letters or digits: those
 * formats get such ids, made from the same numbers. */
static void mistral_call_id(const serve_job *job, size_t call, char *buf, size_t size) {
    static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    /* splitmix64 of the three numbers: distinct ids, barring a 1 in 62^9 chance */
    uint64_t x = job->id * 0x9E3779B97F4A7C15ull ^ ((uint64_t)job->index << 32 | (uint64_t)call);
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    x ^= x >> 31;
    char id[10];
    for (int i = 0; i < 9; i++, x /= 62) id[i] = digits[x % 62];
    id[9] = '\0';
    snprintf(buf, size, "%s", id);
}

void serve_call_id(const serve_job *job, size_t call, char *buf, size_t size) {
    if (job->tool_format == VKA_TOOL_FORMAT_MISTRAL || job->tool_format == VKA_TOOL_FORMAT_MISTRAL_ARGS)
        mistral_call_id(job, call, buf, size);
    else
        snprintf(buf, size, "call_%llu_%u_%zu", (unsigned long long)job->id, job->index, call);
}

/* A scanned string (JSON, or raw text in Mistral's name[ARGS] form). */
static char *scanned_string(const serve_job *job, const serve_call *call, size_t at, size_t len) {
    if (call->raw) return strndup(job->text + at, len);
    cJSON *v = cJSON_ParseWithLength(job->text + at, len);
    char *copy = cJSON_IsString(v) ? strdup(v->valuestring) : NULL;
    cJSON_Delete(v);
    return copy;
}

char *serve_call_name(const serve_job *job, const serve_call *call) {
    return scanned_string(job, call, call->name_at, call->name_len);
}

void serve_scanned_call_id(const serve_job *job, size_t i, const serve_call *call, char *buf, size_t size) {
    /* the model's own id where it came before the arguments (a stream's first
     * delta of a call, sent once they begin, carries it) */
    char *own = call->id_len && (!call->args_at || call->id_at < call->args_at)
                    ? scanned_string(job, call, call->id_at, call->id_len)
                    : NULL;
    if (own && own[0]) snprintf(buf, size, "%s", own);
    else serve_call_id(job, i, buf, size);
    free(own);
}

/* The calls whose name is whole, as OpenAI's tool_calls; the arguments are
 * the generated JSON text as it is (what a stream sends piece by piece). */
cJSON *serve_scanned_calls(const serve_job *job, const serve_scan *scan) {
    cJSON *calls = NULL;
    for (size_t i = 0; i < scan->n_calls; i++) {
        const serve_call *sc = &scan->calls[i];
        if (!sc->name_len) break;
        char id[64], *name = serve_call_name(job, sc);
        if (!name) break;
        if (!calls) calls = cJSON_CreateArray();
        serve_scanned_call_id(job, i, sc, id, sizeof id);
        cJSON *call = cJSON_CreateObject();
        cJSON_AddStringToObject(call, "id", id);
        cJSON_AddStringToObject(call, "type", "function");
        cJSON *fn = cJSON_AddObjectToObject(call, "function");
        cJSON_AddStringToObject(fn, "name", name);
        cJSON_AddItemToObject(fn, "arguments", serve_string_n(serve_call_args(job, sc), sc->args_len));
        cJSON_AddItemToArray(calls, call);
        free(name);
    }
    return calls;
}
