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

/* The grammar: one call in the family's syntax ("required" and a named
 * function), or that or text not starting like a call ("auto"). */
static bool build_grammar(serve_job *job, const cJSON *schema, bool strict, bool required, serve_error *err) {
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
    fprintf(f, "\nvkagent-auto ::= vkagent-call | [^%s] .*\n", job->call_open[0] ? "<" : "{");
    fclose(f);
    vka_free(gbnf);
    job->gp.sampling.grammar = job->grammar;
    job->gp.sampling.grammar_root = required ? "vkagent-call" : "vkagent-auto";
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
    bool ok = schema && build_grammar(job, schema, strict, required, err);
    cJSON_Delete(schema);
    job->tool_calls = ok;
    return ok;
bad_choice:
    serve_error_set(err, 400, "tool_choice",
                    "'tool_choice' must be 'none', 'auto', 'required' or {\"type\": \"function\", \"function\": {\"name\"}}");
    return false;
}

/* Appends the call in text[0, len) (JSON {"name", KEY}) to `calls`. */
static bool read_call(const serve_job *job, const char *text, size_t len, cJSON *calls, uint64_t id) {
    cJSON *obj = cJSON_ParseWithLength(text, len);
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(obj, "name");
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(obj, job->args_key);
    char *args_text = cJSON_IsString(name) && cJSON_IsObject(args) ? cJSON_PrintUnformatted(args) : NULL;
    if (args_text) {
        char call_id[48];
        snprintf(call_id, sizeof call_id, "call_%llu_%d", (unsigned long long)id, cJSON_GetArraySize(calls));
        cJSON *call = cJSON_CreateObject();
        cJSON_AddStringToObject(call, "id", call_id);
        cJSON_AddStringToObject(call, "type", "function");
        cJSON *fn = cJSON_AddObjectToObject(call, "function");
        cJSON_AddStringToObject(fn, "name", name->valuestring);
        cJSON_AddStringToObject(fn, "arguments", args_text);
        cJSON_AddItemToArray(calls, call);
    }
    free(args_text);
    cJSON_Delete(obj);
    return args_text != NULL;
}

cJSON *serve_tool_calls(const serve_job *job, uint64_t id) {
    if (!job->tool_calls || !job->text) return NULL;
    size_t open = strlen(job->call_open), close = strlen(job->call_close);
    if (job->len < open + close || strncmp(job->text, job->call_open, open) != 0 ||
        strncmp(job->text + job->len - close, job->call_close, close) != 0)
        return NULL;
    if (!open && job->text[0] != '{') return NULL;
    cJSON *calls = cJSON_CreateArray();
    if (!read_call(job, job->text + open, job->len - open - close, calls, id)) {
        cJSON_Delete(calls);
        return NULL;
    }
    return calls;
}
