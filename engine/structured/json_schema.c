/* json_schema.c — JSON Schema (draft 2020-12, with the draft 4-7 spellings
 * still common) to GBNF: the entry points and the shared rules. The schema is
 * indexed (json_schema_doc.c), reduced to nodes (json_schema_node.c) and
 * written out rule by rule (json_schema_emit.c and friends). The semantics,
 * departures and options are in docs/structured-output.md. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "structured/json_schema.h"
#include "structured/json_schema_impl.h"
#include "structured/json_schema_keywords.h"
#include "base/status.h"
#include "base/utf8.h"

const char *js_keep_name(js_conv *c, const char *name) {
    if (!js_grow((void **)&c->kept, &c->cap_kept, c->n_kept + 1, sizeof *c->kept)) return NULL;
    char *dup = strdup(name);
    if (dup) c->kept[c->n_kept++] = dup;
    return dup;
}

/* The rules every grammar may use: any JSON value, and whitespace. */
static vka_status put_shared(js_conv *c) {
    const char *w = js_ws(c);
    if (c->need & JS_NEED_VALUE) {
        js_number_spec any = {0};
        js_buf number = {0}, string = {0};
        bool empty;
        vka_status s = js_number_gbnf(&any, &c->rules, &number);
        if (s == VKA_OK) s = js_emit_string_lang(c, NULL, 0, JS_UNBOUNDED, &string, &empty);
        if (s == VKA_OK) {
            js_printf(&c->rules.text,
                      "value ::= value-object | value-array | value-string | %s | \"true\" | \"false\" | \"null\"\n"
                      "value-object ::= \"{\"%s (value-member (%s \",\"%s value-member)*)?%s \"}\"\n"
                      "value-member ::= value-string%s \":\"%s value\n"
                      "value-array ::= \"[\"%s (value (%s \",\"%s value)*)?%s \"]\"\n"
                      "value-string ::= %s\n",
                      number.data, w, w, w, w, w, w, w, w, w, w, string.data);
        }
        js_buf_free(&number);
        js_buf_free(&string);
        VKA_TRY(s);
    }
    if (c->need & JS_NEED_WS) {
        if (c->ws == VKA_JSON_WS_SPACED) js_puts(&c->rules.text, "sp ::= \" \"?\n");
        else js_puts(&c->rules.text, "ws ::= [ \\t\\n\\r]*\n");
    }
    return c->rules.text.failed ? js_oom() : VKA_OK;
}

static void conv_free(js_conv *c) {
    js_nodes_free(c);
    js_index_free(c);
    js_rules_free(&c->rules);
    js_buf_free(&c->warnings);
    free(c->rewrites);
    free(c->negations);
    js_exclusive_free(c);
    js_type_bounds_free(c);
    js_key_memo_free(c);
    js_lang_memo_free(c);
    js_edges_free(c);
    for (uint32_t i = 0; i < c->n_kept; i++) free(c->kept[i]);
    free(c->kept);
    cJSON_Delete(c->scratch);
    cJSON_Delete(c->doc);
}

static vka_status convert(js_conv *c) {
    VKA_TRY(js_index_document(c));
    js_node *root;
    VKA_TRY(js_node_of(c, c->doc, &root));
    const char *rule;
    VKA_TRY(js_emit(c, root, &rule));
    if (!rule) return js_fail_at("#", NULL, "no JSON value satisfies this schema");
    /* flexible whitespace: also around the document, as JSON allows */
    if (c->ws == VKA_JSON_WS_FLEXIBLE) {
        char body[JS_NAME_CAP + 16];
        snprintf(body, sizeof body, "ws %s ws", rule);
        if (!js_rule_add(&c->rules, "root", body)) return js_oom();
        c->need |= JS_NEED_WS;
    } else if (strcmp(rule, "root") != 0 && !js_rule_add(&c->rules, "root", rule)) {
        return js_oom();
    }
    VKA_TRY(put_shared(c));
    return js_put_unique_annotations(c);
}

vka_status vka_json_schema_convert(const char *schema_json, uint32_t flags, char **gbnf_out, char **warnings_out) {
    if (!schema_json || !gbnf_out) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_json_schema_to_grammar: NULL argument");
    *gbnf_out = NULL;
    if (warnings_out) *warnings_out = NULL;
    /* JSON text is UTF-8 (RFC 8259); cJSON would pass other bytes through */
    size_t len = strlen(schema_json), valid = vka_utf8_valid_prefix(schema_json, len);
    if (valid < len) return vka_fail(VKA_ERR_GRAMMAR, "JSON schema is not valid UTF-8 (at byte offset %zu)", valid);
    const char *end = NULL;
    js_conv c = {.flags = flags};
    c.ws = flags & VKA_JSON_SCHEMA_FLEXIBLE_WS ? VKA_JSON_WS_FLEXIBLE : VKA_JSON_WS_COMPACT;
    if (flags & VKA_JSON_SCHEMA_SPACED_WS_INTERNAL) c.ws = VKA_JSON_WS_SPACED;
    c.doc = cJSON_ParseWithOpts(schema_json, &end, true);
    if (!c.doc) {
        size_t off = end ? (size_t)(end - schema_json) : 0;
        return vka_fail(VKA_ERR_GRAMMAR, "JSON schema is not valid JSON (near byte offset %zu)", off);
    }
    c.scratch = cJSON_CreateArray();
    cJSON *f = cJSON_CreateFalse();
    vka_status s = c.scratch && f ? VKA_OK : js_oom();
    if (f && c.scratch) cJSON_AddItemToArray(c.scratch, f), c.false_schema = f;
    else cJSON_Delete(f);
    if (s == VKA_OK) s = convert(&c);
    if (s == VKA_OK) {
        *gbnf_out = c.rules.text.data;
        c.rules.text.data = NULL;
        if (warnings_out && c.warnings.len) {
            *warnings_out = c.warnings.data;
            c.warnings.data = NULL;
        }
    }
    conv_free(&c);
    return s;
}

vka_status vka_json_schema_to_grammar(const char *schema_json, uint32_t flags, char **gbnf_out, char **warnings_out) {
    return vka_json_schema_convert(schema_json, flags & ~(uint32_t)VKA_JSON_SCHEMA_SPACED_WS_INTERNAL, gbnf_out,
                                   warnings_out);
}

vka_status vka_json_schema_to_gbnf_ws(const char *schema_json, vka_json_ws ws, char **gbnf_out) {
    uint32_t flags = ws == VKA_JSON_WS_SPACED ? VKA_JSON_SCHEMA_SPACED_WS_INTERNAL
                     : ws == VKA_JSON_WS_FLEXIBLE ? VKA_JSON_SCHEMA_FLEXIBLE_WS
                                                  : 0;
    return vka_json_schema_convert(schema_json, flags, gbnf_out, NULL);
}

vka_status vka_json_schema_to_gbnf(const char *schema_json, char **gbnf_out) {
    return vka_json_schema_to_gbnf_ws(schema_json, VKA_JSON_WS_COMPACT, gbnf_out);
}

/* ---------------------------------------------------------------- any JSON value */

static char *any_grammar[3];
static pthread_once_t any_once = PTHREAD_ONCE_INIT;

static void make_any(void) {
    for (int ws = 0; ws < 3; ws++)
        if (vka_json_schema_to_gbnf_ws("true", (vka_json_ws)ws, &any_grammar[ws]) != VKA_OK) any_grammar[ws] = NULL;
}

const char *vka_json_any_gbnf_ws(vka_json_ws ws) {
    pthread_once(&any_once, make_any);
    return any_grammar[ws <= VKA_JSON_WS_FLEXIBLE ? ws : 0];
}

const char *vka_json_any_gbnf(void) { return vka_json_any_gbnf_ws(VKA_JSON_WS_COMPACT); }
