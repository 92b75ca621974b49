/* tool_grammar.c — the GBNF grammar of tool calls in a model's own call
 * syntax (vka_tool_format), each call's arguments under its tool's JSON
 * schema, so that what is generated is what vka_tool_calls_parse reads. The
 * XML-like formats (Qwen3-Coder, GLM) are in tool_grammar_xml.c. */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/status.h"
#include "tool_grammar.h"
#include "vkagent.h"

void vka_tool_grammar_literal(FILE *f, const char *text) {
    fputc('"', f);
    for (const char *p = text; *p; p++) {
        if (*p == '\n') fputs("\\n", f);
        else if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

static bool is_name_char(char c) { return isalnum((unsigned char)c) || c == '-' || c == '_'; }

/* Writes `gbnf` with every rule name prefixed by `prefix`, so that several
 * converted schemas live in one grammar: names are the words outside string
 * literals, character classes, repetition counts and comments. */
static void put_prefixed(FILE *f, const char *gbnf, const char *prefix) {
    const char *p = gbnf;
    while (*p) {
        if (*p == '"' || *p == '[' || *p == '{') {
            /* literals, classes and repetition counts {m,n} hold no names */
            char close = *p == '"' ? '"' : *p == '[' ? ']' : '}';
            fputc(*p++, f);
            while (*p && *p != close) {
                if (*p == '\\' && p[1]) fputc(*p++, f);
                fputc(*p++, f);
            }
            if (*p) fputc(*p++, f);
        } else if (*p == '#') {
            while (*p && *p != '\n') fputc(*p++, f);
        } else if (is_name_char(*p)) {
            fputs(prefix, f);
            while (is_name_char(*p)) fputc(*p++, f);
        } else {
            fputc(*p++, f);
        }
    }
    fputc('\n', f);
}

/* The tools' functions: the name and the "parameters" schema of each (an
 * empty object schema when absent). NULL with the error set. */
static cJSON *read_tools(const char *tools_json) {
    cJSON *tools = tools_json ? cJSON_Parse(tools_json) : NULL;
    int n = cJSON_GetArraySize(tools);
    bool ok = cJSON_IsArray(tools) && n > 0;
    for (int i = 0; ok && i < n; i++) {
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(tools, i), "function");
        const cJSON *params = cJSON_GetObjectItemCaseSensitive(fn, "parameters");
        ok = cJSON_IsString(cJSON_GetObjectItemCaseSensitive(fn, "name")) && (!params || cJSON_IsObject(params));
    }
    if (ok) return tools;
    cJSON_Delete(tools);
    vka_fail(VKA_ERR_INVALID_ARGUMENT, "tools: expected a non-empty array of {\"type\": \"function\", \"function\": "
                                       "{\"name\": string, \"parameters\": object}}");
    return NULL;
}

static cJSON *tool_parameters(const cJSON *tool) {
    const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tool, "function");
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(fn, "parameters");
    return params ? cJSON_Duplicate(params, true) : cJSON_Parse("{\"type\": \"object\", \"properties\": {}}");
}

static const char *tool_name(const cJSON *tool) {
    return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(tool, "function"), "name")->valuestring;
}

/* {"anyOf": [{"name": const N, KEY: parameters}, ...]}: one call object;
 * with_id adds Mistral v0.3's optional "id" (nine letters or digits, as its
 * template requires). */
static cJSON *call_object_schema(const cJSON *tools, const char *args_key, bool with_id) {
    cJSON *schema = cJSON_CreateObject(), *any = cJSON_AddArrayToObject(schema, "anyOf");
    const cJSON *tool;
    cJSON_ArrayForEach(tool, tools) {
        cJSON *alt = cJSON_CreateObject();
        cJSON_AddStringToObject(alt, "type", "object");
        cJSON *props = cJSON_AddObjectToObject(alt, "properties");
        cJSON_AddStringToObject(cJSON_AddObjectToObject(props, "name"), "const", tool_name(tool));
        cJSON_AddItemToObject(props, args_key, tool_parameters(tool));
        if (with_id) cJSON_AddItemToObject(props, "id", cJSON_Parse("{\"type\": \"string\", \"pattern\": \"^[a-zA-Z0-9]{9}$\"}"));
        cJSON *req = cJSON_AddArrayToObject(alt, "required");
        cJSON_AddItemToArray(req, cJSON_CreateString("name"));
        cJSON_AddItemToArray(req, cJSON_CreateString(args_key));
        cJSON_AddFalseToObject(alt, "additionalProperties");
        cJSON_AddItemToArray(any, alt);
    }
    return schema;
}

vka_status vka_tool_grammar_schema(FILE *f, cJSON *schema, uint32_t schema_flags, const char *prefix) {
    char *json = cJSON_PrintUnformatted(schema), *gbnf = NULL;
    cJSON_Delete(schema);
    vka_status st = json ? vka_json_schema_to_grammar(json, schema_flags, &gbnf, NULL)
                         : vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory building a tool grammar");
    free(json);
    if (st == VKA_OK) put_prefixed(f, gbnf, prefix);
    vka_free(gbnf);
    return st;
}

/* The "call" rule of each format, and what separates calls. */
static vka_status put_calls(FILE *f, const cJSON *tools, vka_tool_format format, bool parallel,
                            uint32_t schema_flags) {
    vka_status st = VKA_OK;
    switch (format) {
    case VKA_TOOL_FORMAT_HERMES:
        st = vka_tool_grammar_schema(f, call_object_schema(tools, "arguments", false), schema_flags, "obj-");
        fputs("call ::= \"<tool_call>\\n\" obj-root \"\\n</tool_call>\"\n", f);
        fprintf(f, "calls ::= call%s\n", parallel ? " (\"\\n\" call)*" : "");
        break;
    case VKA_TOOL_FORMAT_LLAMA3:
        /* one call per message: the Llama 3.1 template renders no more */
        st = vka_tool_grammar_schema(f, call_object_schema(tools, "parameters", false), schema_flags, "obj-");
        fputs("calls ::= obj-root\n", f);
        break;
    case VKA_TOOL_FORMAT_MISTRAL:
        st = vka_tool_grammar_schema(f, call_object_schema(tools, "arguments", true), schema_flags, "obj-");
        /* v0.3 writes "[TOOL_CALLS] [", Nemo "[TOOL_CALLS][" */
        fprintf(f, "calls ::= \"[TOOL_CALLS]\" \" \"? \"[\" obj-root %s\"]\"\n", parallel ? "(\", \" obj-root)* " : "");
        break;
    case VKA_TOOL_FORMAT_MISTRAL_ARGS: {
        int i = 0;
        const cJSON *tool;
        fputs("call ::= ", f);
        for (i = 0; i < cJSON_GetArraySize(tools); i++) fprintf(f, "%scall%d", i ? " | " : "", i);
        fputc('\n', f);
        i = 0;
        cJSON_ArrayForEach(tool, tools) {
            char prefix[32];
            snprintf(prefix, sizeof prefix, "t%d-", i);
            fprintf(f, "call%d ::= \"[TOOL_CALLS]\" ", i);
            vka_tool_grammar_literal(f, tool_name(tool));
            /* the id the template writes for history; the models write none */
            fprintf(f, " (\"[CALL_ID]\" [a-zA-Z0-9]{9})? \"[ARGS]\" t%d-root\n", i++);
            if ((st = vka_tool_grammar_schema(f, tool_parameters(tool), schema_flags, prefix)) != VKA_OK) break;
        }
        fprintf(f, "calls ::= call%s\n", parallel ? " call*" : "");
        break;
    }
    case VKA_TOOL_FORMAT_QWEN3_CODER:
    case VKA_TOOL_FORMAT_GLM: st = vka_tool_grammar_xml_calls(f, tools, format, parallel, schema_flags); break;
    default:
        st = vka_fail(VKA_ERR_UNSUPPORTED, "no tool-call grammar for the %s format", vka_tool_format_name(format));
    }
    return st;
}

/* Free text before the calls (tool_choice "auto") never holds the opening
 * marker: after "<" (HERMES, QWEN3_CODER, GLM: "<tool_call>") or "["
 * (MISTRAL) comes neither the marker's
 * next character nor another "<"/"[", so the first marker begins the calls. */
static void put_root(FILE *f, vka_tool_format format, bool allow_text) {
    if (!allow_text) {
        fputs("root ::= calls\n", f);
        return;
    }
    switch (format) {
    case VKA_TOOL_FORMAT_HERMES:
    case VKA_TOOL_FORMAT_QWEN3_CODER:
    case VKA_TOOL_FORMAT_GLM:
        fputs("text ::= [^<]* (\"<\" [^t<] [^<]*)*\nroot ::= text calls?\n", f);
        break;
    case VKA_TOOL_FORMAT_MISTRAL:
    case VKA_TOOL_FORMAT_MISTRAL_ARGS:
        fputs("text ::= [^[]* (\"[\" [^T[] [^[]*)*\nroot ::= text calls?\n", f);
        break;
    default:
        /* LLAMA3: a call, or text that does not begin like one */
        fputs("root ::= calls | [^{] .*\n", f);
    }
}

vka_status vka_tool_calls_grammar(const char *tools_json, vka_tool_format format, uint32_t flags,
                                  uint32_t schema_flags, char **gbnf_out) {
    if (gbnf_out) *gbnf_out = NULL;
    if (!gbnf_out) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_tool_calls_grammar: NULL gbnf_out");
    cJSON *tools = read_tools(tools_json);
    if (!tools) return VKA_ERR_INVALID_ARGUMENT;
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    if (!f) {
        cJSON_Delete(tools);
        return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory building a tool grammar");
    }
    vka_status st = put_calls(f, tools, format, (flags & VKA_TOOL_GRAMMAR_PARALLEL) != 0, schema_flags);
    if (st == VKA_OK) put_root(f, format, (flags & VKA_TOOL_GRAMMAR_AUTO) != 0);
    cJSON_Delete(tools);
    if (fclose(f) != 0 && st == VKA_OK) st = vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory building a tool grammar");
    if (st != VKA_OK) {
        free(text);
        return st;
    }
    *gbnf_out = text;
    return VKA_OK;
}
