/* tool_grammar_xml.c — tool-call grammars of the formats that write each
 * argument as an element of its own: Qwen3-Coder's
 *   <tool_call>\n<function=N>\n<parameter=P>\nV\n</parameter>\n...</function>\n</tool_call>
 * and GLM 4.5+'s
 *   <tool_call>N\n<arg_key>P</arg_key>\n<arg_value>V</arg_value>\n...</tool_call>
 * (GLM 4.6 writes those newlines, 4.7 none: each is optional). The real
 * templates write a string value as it is and any other with tojson, so a
 * parameter whose schema admits only strings is raw text here (held to its
 * schema's string keywords, never holding the closing tag the reader looks
 * for), and any other is JSON under its schema; text/tool_calls.h decides
 * which, for this grammar and for the reader alike. */
#include <stdlib.h>
#include <string.h>

#include "base/status.h"
#include "json_rules.h"
#include "regex.h"
#include "text/tool_calls.h"
#include "tool_grammar.h"

/* What differs between the two formats. */
typedef struct {
    const char *close;          /* the tag that ends a value */
    const char *name_forbidden; /* bytes a function name cannot hold (the reader's end of it) */
    const char *key_forbidden;  /* bytes a parameter name cannot hold */
} xml_syntax;

static const xml_syntax qwen_syntax = {"</parameter>", ">\n", ">"};
static const xml_syntax glm_syntax = {"</arg_value>", "< \t\n\r", "<"};

static const cJSON *member(const cJSON *o, const char *key) { return cJSON_GetObjectItemCaseSensitive(o, key); }

/* Replaces *l by its intersection with `part` (consumed). */
static vka_status narrow(re_lang **l, re_lang *part) {
    re_lang *both = NULL;
    vka_status st = re_intersect(*l, part, &both);
    re_free(part);
    if (st == VKA_OK) {
        re_free(*l);
        *l = both;
    }
    return st;
}

/* The strings among `values` (a JSON value or an array of them) as a language. */
static vka_status string_literals(const cJSON *values, bool is_array, re_lang **out) {
    int n = is_array ? cJSON_GetArraySize(values) : 1;
    const char **strs = calloc((size_t)n + 1, sizeof *strs);
    size_t *lens = calloc((size_t)n + 1, sizeof *lens), k = 0;
    if (!strs || !lens) {
        free(strs), free(lens);
        return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory building a tool grammar");
    }
    for (int i = 0; i < n; i++) {
        const cJSON *v = is_array ? cJSON_GetArrayItem(values, i) : values;
        if (cJSON_IsString(v)) {
            strs[k] = v->valuestring;
            lens[k++] = strlen(v->valuestring);
        }
    }
    vka_status st = re_literals(strs, lens, k, out);
    free(strs), free(lens);
    return st;
}

static bool count_of(const cJSON *v, uint64_t *n) {
    if (!cJSON_IsNumber(v) || v->valuedouble < 0) return false;
    *n = v->valuedouble >= 1.8e19 ? RE_UNBOUNDED : (uint64_t)v->valuedouble;
    return true;
}

/* The raw texts a text parameter with `schema` may hold: what its const or
 * enum, pattern, format and lengths allow, less every text holding `close`. */
static vka_status text_language(const cJSON *schema, const char *close, re_lang **out) {
    re_lang *l = NULL, *part = NULL;
    /* close has no pattern syntax in it: the pattern finds it anywhere */
    vka_status st = re_from_pattern(close, &part);
    if (st == VKA_OK) st = re_complement(part, &l);
    re_free(part);
    const cJSON *c = member(schema, "const"), *e = member(schema, "enum");
    const cJSON *pattern = member(schema, "pattern"), *format = member(schema, "format");
    if (st == VKA_OK && (c || cJSON_IsArray(e))) {
        st = string_literals(c ? c : e, !c, &part);
        if (st == VKA_OK) st = narrow(&l, part);
    }
    if (st == VKA_OK && cJSON_IsString(pattern)) {
        st = re_from_pattern(pattern->valuestring, &part);
        if (st == VKA_OK) st = narrow(&l, part);
    }
    if (st == VKA_OK && cJSON_IsString(format)) {
        bool known = false;
        st = re_from_format(format->valuestring, &known, &part);
        if (st == VKA_OK && known) st = narrow(&l, part);
    }
    uint64_t min = 0, max = RE_UNBOUNDED;
    bool has_min = count_of(member(schema, "minLength"), &min), has_max = count_of(member(schema, "maxLength"), &max);
    bool limited = has_min || has_max;
    if (st == VKA_OK && limited) {
        st = re_limit_length(l, min, max, &part);
        if (st == VKA_OK) {
            re_free(l);
            l = part;
        }
    }
    if (st == VKA_OK && re_is_empty(l)) st = vka_fail(VKA_ERR_GRAMMAR, "no text satisfies the schema");
    if (st != VKA_OK) {
        re_free(l);
        return st;
    }
    *out = l;
    return VKA_OK;
}

/* "rule ::= <the raw texts of text_language>". */
static vka_status put_text_value(FILE *f, js_rules *rules, const cJSON *schema, const char *close, const char *rule) {
    re_lang *l = NULL;
    vka_status st = text_language(schema, close, &l);
    if (st != VKA_OK) return st;
    js_buf expr = {0};
    st = re_to_gbnf(l, RE_RAW, rules, &expr);
    re_free(l);
    if (st == VKA_OK && expr.failed) st = vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory building a tool grammar");
    if (st == VKA_OK) fprintf(f, "%s ::= %.*s\n", rule, (int)expr.len, expr.data);
    js_buf_free(&expr);
    return st;
}

/* One parameter's element around its value rule `value`. */
static void put_element(FILE *f, vka_tool_format format, const char *key_atom, const char *value) {
    if (format == VKA_TOOL_FORMAT_GLM)
        fprintf(f, "\"<arg_key>\" %s \"</arg_key>\" nl \"<arg_value>\" %s \"</arg_value>\" nl\n", key_atom, value);
    else
        fprintf(f, "\"<parameter=\" %s \">\\n\" %s \"\\n</parameter>\\n\"\n", key_atom, value);
}

static bool writable(const char *name, const char *forbidden) { return name[strcspn(name, forbidden)] == '\0'; }

/* The rule of parameter `key` (schema `schema`) of tool i, the j-th: its
 * element, and its value's rules. */
static vka_status put_param(FILE *f, js_rules *rules, vka_tool_format format, const xml_syntax *x, int i, int j,
                            const char *key, const cJSON *schema, uint32_t schema_flags) {
    char value[48], prefix[48];
    snprintf(value, sizeof value, "val%dx%d", i, j);
    vka_status st;
    if (vka_tool_param_is_text(schema)) {
        st = put_text_value(f, rules, schema, x->close, value);
    } else {
        snprintf(prefix, sizeof prefix, "t%dj%d-", i, j);
        cJSON *copy = cJSON_Duplicate(schema, true);
        st = copy ? vka_tool_grammar_schema(f, copy, schema_flags, prefix)
                  : vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory building a tool grammar");
        if (st == VKA_OK) fprintf(f, "%s ::= %sroot\n", value, prefix);
    }
    if (st != VKA_OK) return st;
    fprintf(f, "param%dx%d ::= ", i, j);
    char *key_atom = NULL;
    size_t size = 0;
    FILE *k = open_memstream(&key_atom, &size);
    if (!k) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory building a tool grammar");
    vka_tool_grammar_literal(k, key);
    bool ok = fclose(k) == 0;
    if (ok) put_element(f, format, key_atom, value);
    free(key_atom);
    return ok ? VKA_OK : vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory building a tool grammar");
}

static bool is_required(const cJSON *required, const char *key) {
    const cJSON *r;
    cJSON_ArrayForEach(r, required) if (cJSON_IsString(r) && strcmp(r->valuestring, key) == 0) return true;
    return false;
}

/* Tool i's call rule "call<i>" and its parameters' rules; *free_params is
 * set when it takes any parameter (no properties declared, none forbidden). */
static vka_status put_tool(FILE *f, js_rules *rules, vka_tool_format format, const cJSON *tool, int i,
                           uint32_t schema_flags, bool *free_params) {
    const xml_syntax *x = format == VKA_TOOL_FORMAT_GLM ? &glm_syntax : &qwen_syntax;
    const cJSON *fn = member(tool, "function"), *params = member(fn, "parameters");
    const char *name = member(fn, "name")->valuestring;
    const cJSON *props = member(params, "properties"), *required = member(params, "required"), *p;
    if (!name[0] || !writable(name, x->name_forbidden))
        return vka_fail(VKA_ERR_INVALID_ARGUMENT, "tool name \"%s\" cannot be written in the %s call format", name,
                        vka_tool_format_name(format));
    cJSON_ArrayForEach(p, props) if (!writable(p->string, x->key_forbidden)) return vka_fail(
        VKA_ERR_INVALID_ARGUMENT, "parameter \"%s\" of tool \"%s\" cannot be written in the %s call format",
        p->string, name, vka_tool_format_name(format));

    fprintf(f, "call%d ::= ", i);
    fputs(format == VKA_TOOL_FORMAT_GLM ? "\"<tool_call>\" " : "\"<tool_call>\\n<function=\" ", f);
    vka_tool_grammar_literal(f, name);
    fputs(format == VKA_TOOL_FORMAT_GLM ? " nl" : " \">\\n\"", f);
    int j = 0;
    cJSON_ArrayForEach(p, props) fprintf(f, " param%dx%d%s", i, j++, is_required(required, p->string) ? "" : "?");
    if (j == 0 && !cJSON_IsFalse(member(params, "additionalProperties"))) {
        fputs(" freeparam*", f);
        *free_params = true;
    }
    fputs(format == VKA_TOOL_FORMAT_GLM ? " \"</tool_call>\"\n" : " \"</function>\\n</tool_call>\"\n", f);

    j = 0;
    cJSON_ArrayForEach(p, props) {
        vka_status st = put_param(f, rules, format, x, i, j++, p->string, p, schema_flags);
        if (st != VKA_OK) return vka_fail_context(st, "parameter \"%s\" of tool \"%s\"", p->string, name);
    }
    return VKA_OK;
}

vka_status vka_tool_grammar_xml_calls(FILE *f, const cJSON *tools, vka_tool_format format, bool parallel,
                                      uint32_t schema_flags) {
    const xml_syntax *x = format == VKA_TOOL_FORMAT_GLM ? &glm_syntax : &qwen_syntax;
    int n = cJSON_GetArraySize(tools);
    fputs("call ::= ", f);
    for (int i = 0; i < n; i++) fprintf(f, "%scall%d", i ? " | " : "", i);
    /* the templates put a newline between calls (GLM 4.7 none) */
    fprintf(f, "\ncalls ::= call%s\n", !parallel ? "" : format == VKA_TOOL_FORMAT_GLM ? " (nl call)*" : " (\"\\n\" call)*");
    if (format == VKA_TOOL_FORMAT_GLM) fputs("nl ::= \"\\n\"?\n", f);
    js_rules rules = {0};
    bool free_params = false;
    vka_status st = VKA_OK;
    for (int i = 0; i < n && st == VKA_OK; i++)
        st = put_tool(f, &rules, format, cJSON_GetArrayItem(tools, i), i, schema_flags, &free_params);
    if (st == VKA_OK && free_params) {
        /* any name the reader can end, any value (read back as JSON where it parses) */
        st = put_text_value(f, &rules, NULL, x->close, "freeval");
        fputs("freeparam ::= ", f);
        put_element(f, format, format == VKA_TOOL_FORMAT_GLM ? "[^<]+" : "[^>]+", "freeval");
    }
    if (st == VKA_OK && rules.text.failed) st = vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory building a tool grammar");
    if (st == VKA_OK && rules.text.len) fwrite(rules.text.data, 1, rules.text.len, f);
    js_rules_free(&rules);
    return st;
}
