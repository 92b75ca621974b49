/* serve_tools.c — OpenAI tools in `vkagent serve`: the tools go into the chat
 * template, and a tool call is generated under a grammar built from the
 * tools' JSON schemas in the model family's call syntax, so its arguments
 * always parse and validate; the finished text is read back as tool_calls. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve.h"

/* How a family writes a call (docs/chat-templates.md, "Tools"). */
static void call_syntax(const vka_model *model, serve_job *job) {
    const char *family = vka_chat_template_family(model, NULL);
    bool hermes = strcmp(family, "chatml") == 0 || strcmp(family, "qwen3") == 0;
    job->call_open = hermes ? "<tool_call>\n" : "";
    job->call_close = hermes ? "\n</tool_call>" : "";
    job->args_key = strcmp(family, "llama3.1") == 0 ? "parameters" : "arguments";
}

/* {"anyOf": [{"name": const N, KEY: parameters}, ...]} over the tools (or
 * the one named `only`); NULL with *err set. *strict: every function asks
 * for OpenAI's strict mode (the conversion's flag is for the whole schema). */
static cJSON *call_schema(const cJSON *tools, const char *only, const char *key, bool *strict, serve_error *err) {
    cJSON *schema = cJSON_CreateObject(), *any = cJSON_AddArrayToObject(schema, "anyOf");
    const cJSON *tool;
    *strict = true;
    cJSON_ArrayForEach(tool, tools) {
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tool, "function");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(fn, "name");
        const cJSON *params = cJSON_GetObjectItemCaseSensitive(fn, "parameters");
        if (!cJSON_IsString(name) || (params && !cJSON_IsObject(params))) {
            serve_error_set(err, 400, "tools",
                            "each tool must be {\"type\": \"function\", \"function\": {\"name\", \"parameters\"}}");
            cJSON_Delete(schema);
            return NULL;
        }
        if (only && strcmp(only, name->valuestring) != 0) continue;
        *strict = *strict && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(fn, "strict"));
        cJSON *alt = cJSON_CreateObject();
        cJSON_AddStringToObject(alt, "type", "object");
        cJSON *props = cJSON_AddObjectToObject(alt, "properties");
        cJSON_AddStringToObject(cJSON_AddObjectToObject(props, "name"), "const", name->valuestring);
        cJSON_AddItemToObject(props, key, params ? cJSON_Duplicate(params, true)
                                                 : cJSON_Parse("{\"type\": \"object\", \"properties\": {}}"));
        cJSON *req = cJSON_AddArrayToObject(alt, "required");
        cJSON_AddItemToArray(req, cJSON_CreateString("name"));
        cJSON_AddItemToArray(req, cJSON_CreateString(key));
        cJSON_AddFalseToObject(alt, "additionalProperties");
        cJSON_AddItemToArray(any, alt);
    }
    if (cJSON_GetArraySize(any) == 0) {
        serve_error_set(err, 400, "tool_choice", "'tool_choice' names a function that is not among the tools");
        cJSON_Delete(schema);
        return NULL;
    }
    return schema;
}

/* A GBNF literal of `text` (only \n and the quote need escapes here). */
static void put_literal(FILE *f, const char *text) {
    fputc('"', f);
    for (const char *p = text; *p; p++) {
        if (*p == '\n') fputs("\\n", f);
        else if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

/* Whether a family writes calls the Hermes way (<tool_call> tags): only
 * there can an answer hold text and then several calls, because only those
 * templates render such a message back (docs/chat-templates.md, "Tools"). */
static bool tagged(const serve_job *job) { return job->call_open[0] != '\0'; }

/* The grammar of the calls, by tool_choice:
 *   required (or a named function): one call, or with parallel calls several
 *     separated by "\n", as the template writes them;
 *   auto: text, then optionally calls (tagged families), or either one call
 *     or text that does not begin like one (the others).
 * The text of "auto" may hold '<' only before a character other than 't'
 * and '<', so that it never holds "<tool_call>": what follows a call's
 * opening tag is always a call. */
static bool build_grammar(serve_job *job, const cJSON *schema, bool strict, bool required, bool parallel,
                          serve_error *err) {
    char *json = cJSON_PrintUnformatted(schema), *gbnf = NULL;
    uint32_t flags = strict ? VKA_JSON_SCHEMA_STRICT : 0;
    vka_status st = json ? vka_json_schema_to_grammar(json, flags, &gbnf, NULL) : VKA_ERR_OUT_OF_MEMORY;
    free(json);
    if (st != VKA_OK) {
        serve_error_set(err, 400, "tools", "a tool's parameters: %s", vka_last_error());
        return false;
    }
    size_t size = 0;
    FILE *f = open_memstream(&job->grammar, &size);
    if (!f) {
        vka_free(gbnf);
        serve_error_set(err, 500, NULL, "out of memory");
        return false;
    }
    fprintf(f, "%s\nvkagent-call ::= ", gbnf);
    put_literal(f, job->call_open);
    fputs(" root ", f);
    put_literal(f, job->call_close);
    bool several = parallel && tagged(job);
    fprintf(f, "\nvkagent-calls ::= vkagent-call%s\n", several ? " (\"\\n\" vkagent-call)*" : "");
    if (tagged(job))
        fputs("vkagent-text ::= [^<]* (\"<\" [^t<] [^<]*)*\nvkagent-auto ::= vkagent-text vkagent-calls?\n", f);
    else
        fputs("vkagent-auto ::= vkagent-calls | [^{] .*\n", f);
    fclose(f);
    vka_free(gbnf);
    job->gp.sampling.grammar = job->grammar;
    job->gp.sampling.grammar_root = required ? "vkagent-calls" : "vkagent-auto";
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
    call_syntax(s->model, job);
    bool strict = false;
    cJSON *schema = call_schema(tools, only, job->args_key, &strict, err);
    bool ok = schema && build_grammar(job, schema, strict, required, parallel, err);
    cJSON_Delete(schema);
    job->tool_calls = ok;
    return ok;
bad_choice:
    serve_error_set(err, 400, "tool_choice",
                    "'tool_choice' must be 'none', 'auto', 'required' or {\"type\": \"function\", \"function\": {\"name\"}}");
    return false;
}

/* ---------------------------------------------------------------- reading calls back */

static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static size_t skip_ws(const char *t, size_t len, size_t i) {
    while (i < len && is_ws(t[i])) i++;
    return i;
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

/* The call object in t[at, len): its name and arguments as far as they go.
 * Returns the end of the object, or 0 while it is not whole. */
static size_t read_call(const serve_job *job, const char *t, size_t len, size_t at, serve_call *call) {
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
        bool whole;
        size_t key_end = value_end(t, len, i, &whole);
        if (!whole) return 0;
        /* keys may be written with escapes (\u006e...): compared decoded */
        cJSON *k = cJSON_ParseWithLength(t + i, key_end - i);
        const char *name = cJSON_GetStringValue(k);
        bool is_name = name && strcmp(name, "name") == 0, is_args = name && strcmp(name, job->args_key) == 0;
        cJSON_Delete(k);
        i = skip_ws(t, len, key_end);
        if (i < len && t[i] == ':') i = skip_ws(t, len, i + 1);
        if (i >= len) return 0;
        size_t end = value_end(t, len, i, &whole);
        /* the first of each member counts (the grammar writes each once) */
        if (is_name && whole && t[i] == '"' && !call->name_len) {
            call->name_at = i;
            call->name_len = end - i;
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

static bool add_call(serve_scan *out, size_t *cap) {
    if (out->n_calls == *cap) {
        size_t c = *cap ? 2 * *cap : 4;
        serve_call *calls = realloc(out->calls, c * sizeof *calls);
        if (!calls) return false;
        out->calls = calls;
        *cap = c;
    }
    memset(&out->calls[out->n_calls++], 0, sizeof *out->calls);
    return true;
}

/* The calls from t[at] on: a call, then for each further one "\n" and its
 * opening tag. */
static bool read_calls(const serve_job *job, const char *t, size_t len, size_t at, serve_scan *out) {
    size_t open = strlen(job->call_open), close = strlen(job->call_close), cap = 0;
    for (;;) {
        if (!add_call(out, &cap)) return false;
        serve_call *call = &out->calls[out->n_calls - 1];
        size_t end = read_call(job, t, len, at, call);
        if (end == 0 || len - end < close || memcmp(t + end, job->call_close, close) != 0) return true;
        call->closed = true;
        at = end + close;
        if (!tagged(job) || len - at < open + 1 || t[at] != '\n' || memcmp(t + at + 1, job->call_open, open) != 0)
            return true;
        at += 1 + open;
    }
}

bool serve_scan_text(const serve_job *job, bool final, serve_scan *out) {
    memset(out, 0, sizeof *out);
    const char *t = job->text ? job->text : "";
    size_t len = job->len;
    out->content_end = len;
    if (!job->tool_calls) return true;
    if (!tagged(job)) {
        /* one call, or text that does not begin with '{' */
        if (len == 0) return true;
        if (t[0] != '{') return true;
        out->content_end = 0;
        return read_calls(job, t, len, 0, out);
    }
    const char *open = memmem(t, len, job->call_open, strlen(job->call_open));
    if (!open) {
        if (!final) out->content_end = trim_end(t, len - partial_suffix(t, len, job->call_open));
        return true;
    }
    out->content_end = trim_end(t, (size_t)(open - t));
    return read_calls(job, t, len, (size_t)(open - t) + strlen(job->call_open), out);
}

void serve_call_id(const serve_job *job, size_t call, char *buf, size_t size) {
    snprintf(buf, size, "call_%llu_%u_%zu", (unsigned long long)job->id, job->index, call);
}

char *serve_call_name(const serve_job *job, const serve_call *call) {
    cJSON *name = cJSON_ParseWithLength(job->text + call->name_at, call->name_len);
    char *copy = cJSON_IsString(name) ? strdup(name->valuestring) : NULL;
    cJSON_Delete(name);
    return copy;
}

/* The calls whose name is whole, as OpenAI's tool_calls; the arguments are
 * the generated JSON text as it is (what a stream sends piece by piece). */
cJSON *serve_tool_calls(const serve_job *job, const serve_scan *scan) {
    cJSON *calls = NULL;
    for (size_t i = 0; i < scan->n_calls; i++) {
        const serve_call *sc = &scan->calls[i];
        if (!sc->name_len) break;
        char id[64], *name = serve_call_name(job, sc);
        if (!name) break;
        if (!calls) calls = cJSON_CreateArray();
        serve_call_id(job, i, id, sizeof id);
        cJSON *call = cJSON_CreateObject();
        cJSON_AddStringToObject(call, "id", id);
        cJSON_AddStringToObject(call, "type", "function");
        cJSON *fn = cJSON_AddObjectToObject(call, "function");
        cJSON_AddStringToObject(fn, "name", name);
        cJSON_AddItemToObject(fn, "arguments", serve_string_n(job->text + sc->args_at, sc->args_len));
        cJSON_AddItemToArray(calls, call);
        free(name);
    }
    return calls;
}
