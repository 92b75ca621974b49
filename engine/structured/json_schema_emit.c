/* json_schema_emit.c — GBNF from nodes: one rule per node, an alternative
 * per JSON type its facets leave possible (enum values, null, booleans,
 * strings, numbers, arrays; objects in json_schema_object.c). A facet that no
 * value can satisfy is left out; a node with none left is empty, and its
 * parent treats it as "cannot appear". */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "structured/json_schema_impl.h"
#include "structured/json_schema_keywords.h"
#include "base/status.h"

const char *js_ws(js_conv *c) {
    if (c->ws == VKA_JSON_WS_COMPACT) return "";
    c->need |= JS_NEED_WS;
    return c->ws == VKA_JSON_WS_SPACED ? " sp" : " ws";
}

/* ---------------------------------------------------------------- rule names */

/* A readable rule name from the node's path ("#/properties/user/items" ->
 * "user-items"), unique by its node id. */
static char *rule_name(const js_node *n, bool root, vka_json_ws ws) {
    /* with flexible whitespace "root" is the document with whitespace around it */
    if (root) return strdup(ws == VKA_JSON_WS_FLEXIBLE ? "root-value" : "root");
    const char *p = n->path;
    const char *last = strrchr(p, '/');
    const char *hint = last ? last + 1 : "node";
    static const char *const keywords[] = {"items", "additionalProperties", "anyOf", "oneOf", "allOf", "not", "then",
                                           "else", "if", "contains", "prefixItems", "propertyNames"};
    /* an index or a keyword says little: prefix the segment before it */
    bool weak = (*hint >= '0' && *hint <= '9') || !*hint;
    for (size_t i = 0; i < sizeof keywords / sizeof *keywords && !weak; i++) weak = strcmp(hint, keywords[i]) == 0;
    char buf[48];
    size_t k = 0;
    if (weak && last && last > p) {
        const char *prev = last - 1;
        while (prev > p && *prev != '/') prev--;
        for (const char *q = *prev == '/' ? prev + 1 : prev; q < last && k < 20; q++)
            buf[k++] = ((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9')) ? *q : '-';
        buf[k++] = '-';
    }
    for (const char *q = hint; *q && k < 40; q++)
        buf[k++] = ((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9')) ? *q : '-';
    if (!k || buf[0] == '-') buf[k++] = 'x';
    buf[k] = 0;
    char name[72];
    snprintf(name, sizeof name, "%s-%u", buf, n->id);
    return strdup(name);
}

/* ---------------------------------------------------------------- any value */

/* Whether the node says nothing at all (the schema `true`). */
static bool unconstrained(const js_node *n) {
    return !n->is_union && n->types == JT_ALL && !n->values && !n->excluded && n->min_len == 0 &&
           n->max_len == JS_UNBOUNDED && !n->lang && !n->num.has_min && !n->num.has_max && !n->num.multiple_of &&
           !n->n_objs && !n->n_required && !n->n_forbidden && !n->n_deps && !n->key_set.n && n->min_props == 0 &&
           n->max_props == JS_UNBOUNDED && !n->n_arrs && n->min_items == 0 && n->max_items == JS_UNBOUNDED &&
           !n->contains && !n->unique && !(n->n_names && (n->n_objs || n->n_required));
}

/* ---------------------------------------------------------------- strings */

static vka_status js_emit_string_lang_uncached(js_conv *c, const re_lang *lang, uint64_t min, uint64_t max,
                                               js_buf *body, bool *empty);

vka_status js_emit_string_lang(js_conv *c, const re_lang *lang, uint64_t min, uint64_t max, js_buf *body, bool *empty) {
    /* any string: one shared rule */
    if (!lang && min == 0 && max == JS_UNBOUNDED && c->any_string) {
        *empty = false;
        return js_puts(body, c->any_string) ? VKA_OK : js_oom();
    }
    if (!lang && min == 0 && max == JS_UNBOUNDED) {
        js_buf text = {0};
        vka_status s = js_emit_string_lang_uncached(c, NULL, 0, JS_UNBOUNDED, &text, empty);
        char name[JS_NAME_CAP];
        if (s == VKA_OK && (text.failed || !js_rule_new(&c->rules, "string", text.data, name) ||
                            !(c->any_string = js_keep_name(c, name))))
            s = js_oom();
        js_buf_free(&text);
        if (s == VKA_OK) js_puts(body, c->any_string);
        return s;
    }
    return js_emit_string_lang_uncached(c, lang, min, max, body, empty);
}

static vka_status js_emit_string_lang_uncached(js_conv *c, const re_lang *lang, uint64_t min, uint64_t max,
                                               js_buf *body, bool *empty) {
    re_lang *all = NULL, *limited = NULL;
    vka_status s = lang ? VKA_OK : re_all(&all);
    const re_lang *l = lang ? lang : all;
    if (s == VKA_OK && (min > 0 || max != JS_UNBOUNDED)) s = re_limit_length(l, min, max, &limited);
    if (limited) l = limited;
    *empty = s == VKA_OK && re_is_empty(l);
    if (s == VKA_OK && !*empty) {
        js_puts(body, "\"\\\"\" ");
        s = re_to_gbnf(l, RE_JSON_STRING, &c->rules, body);
        js_puts(body, " \"\\\"\"");
    }
    re_free(all);
    re_free(limited);
    return s;
}

/* The string facet, without the excluded string values. */
static vka_status emit_string(js_conv *c, js_node *n, js_buf *body, bool *empty) {
    uint32_t k = 0;
    for (const cJSON *x = n->excluded ? n->excluded->child : NULL; x; x = x->next) k += cJSON_IsString(x);
    if (!k) return js_emit_string_lang(c, n->lang, n->min_len, n->max_len, body, empty);
    const char **strs = calloc(k, sizeof *strs);
    size_t *lens = calloc(k, sizeof *lens);
    re_lang *out = NULL, *not_out = NULL, *all = NULL, *both = NULL;
    vka_status s = strs && lens ? VKA_OK : js_oom();
    uint32_t i = 0;
    for (const cJSON *x = n->excluded->child; x && s == VKA_OK; x = x->next)
        if (cJSON_IsString(x)) strs[i] = x->valuestring, lens[i++] = strlen(x->valuestring);
    if (s == VKA_OK) s = re_literals(strs, lens, k, &out);
    if (s == VKA_OK) s = re_complement(out, &not_out);
    if (s == VKA_OK && !n->lang) s = re_all(&all);
    if (s == VKA_OK) s = re_intersect(n->lang ? n->lang : all, not_out, &both);
    if (s == VKA_OK) s = js_emit_string_lang(c, both, n->min_len, n->max_len, body, empty);
    free(strs), free(lens);
    re_free(out), re_free(not_out), re_free(all), re_free(both);
    return s;
}

/* ---------------------------------------------------------------- numbers */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* One interval of the numeric facet; empty intervals are skipped. */
static vka_status emit_number_part(js_conv *c, const char *path, const js_number_spec *spec, js_buf *body, bool *first) {
    js_buf part = {0};
    vka_status s = js_number_gbnf(spec, &c->rules, &part);
    if (s == VKA_ERR_GRAMMAR && spec->multiple_of && (c->flags & VKA_JSON_SCHEMA_LENIENT) &&
        strstr(vka_last_error(), "multipleOf")) {
        char why[600];
        snprintf(why, sizeof why, "ignored (lenient): %s", vka_last_error());
        js_warn(c, path, "multipleOf", why);
        js_number_spec without = *spec;
        without.multiple_of = 0;
        js_buf_free(&part);
        return emit_number_part(c, path, &without, body, first);
    }
    if (s == VKA_ERR_GRAMMAR && strstr(vka_last_error(), "nothing satisfies")) {
        s = VKA_OK;     /* nothing in this interval */
    } else if (s == VKA_ERR_GRAMMAR) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", vka_last_error());
        s = js_fail_at(path, NULL, "%s", msg);
    } else if (s == VKA_OK) {
        js_puts(body, *first ? "" : " | ");
        js_puts(body, part.data);
        *first = false;
    }
    js_buf_free(&part);
    return s;
}

/* Numbers that must not be integers (not: {type: integer}): plain decimals
 * with a nonzero fraction and at most 15 significant digits, which no
 * rounding to a double can turn into an integer. Bounds beside it are
 * refused. */
static vka_status emit_fraction(js_conv *c, js_node *n, js_buf *body, bool *empty) {
    (void)c;
    const js_number_spec *x = &n->num;
    if (x->has_min || x->has_max || x->multiple_of || n->excluded)
        return js_unsupported(c, n->path, "not", "bounds or multipleOf on numbers that must not be integers");
    js_puts(body, "(\"-\"? (\"0.\" [0-9]{0,14} [1-9]");
    for (int digits = 1; digits <= 14; digits++)
        js_printf(body, " | [1-9] [0-9]{%d} \".\" [0-9]{0,%d} [1-9]", digits - 1, 14 - digits);
    js_puts(body, "))");
    *empty = false;
    return body->failed ? js_oom() : VKA_OK;
}

/* The numeric facet: integers only, or all numbers; excluded values split
 * the range into open intervals. */
static vka_status emit_number(js_conv *c, js_node *n, js_buf *body, bool *empty) {
    if (!(n->types & JT_INTEGER)) return emit_fraction(c, n, body, empty);
    js_number_spec spec = n->num;
    spec.integer = !(n->types & JT_FRACTION);
    uint32_t k = 0;
    for (const cJSON *x = n->excluded ? n->excluded->child : NULL; x; x = x->next) k += cJSON_IsNumber(x);
    double *cuts = k ? calloc(k, sizeof *cuts) : NULL;
    if (k && !cuts) return js_oom();
    uint32_t i = 0;
    for (const cJSON *x = n->excluded ? n->excluded->child : NULL; x; x = x->next)
        if (cJSON_IsNumber(x)) cuts[i++] = x->valuedouble;
    if (k) qsort(cuts, k, sizeof *cuts, cmp_double);
    bool first = true;
    vka_status s = VKA_OK;
    js_number_spec part = spec;
    for (i = 0; i <= k && s == VKA_OK; i++) {
        if (i < k) {
            part.has_max = true, part.max = cuts[i], part.max_exclusive = true;
            if (spec.has_max && (spec.max < cuts[i] || (spec.max == cuts[i] && spec.max_exclusive))) part = spec, i = k;
        } else {
            part.has_max = spec.has_max, part.max = spec.max, part.max_exclusive = spec.max_exclusive;
        }
        s = emit_number_part(c, n->path, &part, body, &first);
        if (i < k) part.has_min = true, part.min = cuts[i], part.min_exclusive = true;
    }
    free(cuts);
    *empty = first;
    return s;
}

/* ---------------------------------------------------------------- enum / const values */

static vka_status emit_member_value(js_conv *c, const cJSON *m, js_buf *body);

/* Decodes one UTF-8 code point (the schema text was checked to be valid UTF-8). */
static uint32_t next_code_point(const unsigned char **p) {
    const unsigned char *s = *p;
    uint32_t cp;
    int extra;
    if (s[0] < 0x80) cp = s[0], extra = 0;
    else if ((s[0] & 0xE0) == 0xC0) cp = s[0] & 0x1Fu, extra = 1;
    else if ((s[0] & 0xF0) == 0xE0) cp = s[0] & 0x0Fu, extra = 2;
    else cp = s[0] & 0x07u, extra = 3;
    int i = 1;
    for (; i <= extra && (s[i] & 0xC0) == 0x80; i++) cp = (cp << 6) | (s[i] & 0x3Fu);
    *p = s + i;
    return cp;
}

/* A string value as a sequence of its characters, each in every JSON
 * spelling (one shared rule per distinct character), in one rule. */
static vka_status emit_string_literal(js_conv *c, const char *text, js_buf *body) {
    js_buf seq = {0};
    js_puts(&seq, "\"\\\"\"");
    for (const unsigned char *p = (const unsigned char *)text; *p;) {
        uint32_t cp = next_code_point(&p);
        js_puts(&seq, " ");
        vka_status s = re_class_gbnf(&cp, &cp, 1, RE_JSON_STRING, &c->rules, &seq);
        if (s != VKA_OK) {
            js_buf_free(&seq);
            return s;
        }
    }
    js_puts(&seq, " \"\\\"\"");
    bool ok = !seq.failed && js_printf(body, "(%s)", seq.data);
    js_buf_free(&seq);
    return ok ? VKA_OK : js_oom();
}

vka_status js_emit_value(js_conv *c, const cJSON *v, js_buf *body) {
    const char *w = js_ws(c);
    if (cJSON_IsString(v)) return emit_string_literal(c, v->valuestring, body);
    if (cJSON_IsNumber(v)) {
        char text[40];
        js_format_number(v->valuedouble, text);
        return js_put_literal(body, text, strlen(text)) ? VKA_OK : js_oom();
    }
    if (cJSON_IsArray(v) || cJSON_IsObject(v)) {
        bool obj = cJSON_IsObject(v);
        js_printf(body, "(\"%s\"%s", obj ? "{" : "[", w);
        for (const cJSON *m = v->child; m; m = m->next) {
            if (m != v->child) js_printf(body, "%s \",\"%s", w, w);
            js_puts(body, " ");
            VKA_TRY(obj ? emit_member_value(c, m, body) : js_emit_value(c, m, body));
        }
        js_printf(body, "%s \"%s\")", w, obj ? "}" : "]");
        return body->failed ? js_oom() : VKA_OK;
    }
    js_puts(body, cJSON_IsNull(v) ? "\"null\"" : cJSON_IsTrue(v) ? "\"true\"" : "\"false\"");
    return body->failed ? js_oom() : VKA_OK;
}

static vka_status emit_member_value(js_conv *c, const cJSON *m, js_buf *body) {
    cJSON key = {.type = cJSON_String, .valuestring = m->string};
    VKA_TRY(js_emit_value(c, &key, body));
    js_printf(body, "%s \":\"%s ", js_ws(c), js_ws(c));
    return js_emit_value(c, m, body);
}

static vka_status emit_values(js_conv *c, js_node *n, js_buf *body, bool *empty) {
    *empty = true;
    for (const cJSON *v = n->values->child; v; v = v->next) {
        js_puts(body, *empty ? "" : " | ");
        VKA_TRY(js_emit_value(c, v, body));
        *empty = false;
    }
    return VKA_OK;
}

/* ---------------------------------------------------------------- nodes */

static vka_status add_edge(js_conv *c, js_node *child, js_step step) {
    if (!c->parent) return VKA_OK;
    if (!js_grow((void **)&c->edges, &c->cap_edges, c->n_edges + 1, sizeof *c->edges)) return js_oom();
    js_edge *e = &c->edges[c->n_edges];
    *e = (js_edge){c->parent->id, child->id, step.kind, NULL, step.index};
    if (step.kind == JS_STEP_NAME && !(e->name = strdup(step.name))) return js_oom();
    c->n_edges++;
    return VKA_OK;
}

vka_status js_rule_of_set(js_conv *c, const js_set *set, js_step step, const char **rule) {
    js_node *n;
    VKA_TRY(js_node_get(c, set, &n));
    VKA_TRY(add_edge(c, n, step));
    return js_emit(c, n, rule);
}

static vka_status emit_facets(js_conv *c, js_node *n, js_buf *body, bool *empty) {
    *empty = true;
    if (n->values) return emit_values(c, n, body, empty);
    bool excluded_null = false, excluded_true = false, excluded_false = false;
    for (const cJSON *x = n->excluded ? n->excluded->child : NULL; x; x = x->next) {
        excluded_null |= cJSON_IsNull(x);
        excluded_true |= cJSON_IsTrue(x);
        excluded_false |= cJSON_IsFalse(x);
        if ((cJSON_IsObject(x) && (n->types & JT_OBJECT)) || (cJSON_IsArray(x) && (n->types & JT_ARRAY)))
            return js_fail_at(n->path, "not", "excluding an object or array value is not supported");
    }
    const char *alts[7] = {0};
    int k = 0;
    if ((n->types & JT_NULL) && !excluded_null) alts[k++] = "\"null\"";
    if ((n->types & JT_BOOL) && !excluded_true) alts[k++] = "\"true\"";
    if ((n->types & JT_BOOL) && !excluded_false) alts[k++] = "\"false\"";
    for (int i = 0; i < k; i++) js_puts(body, i ? " | " : ""), js_puts(body, alts[i]);
    *empty = k == 0;
    struct {
        unsigned type;
        vka_status (*fn)(js_conv *, js_node *, js_buf *, bool *);
    } facets[] = {{JT_STRING, emit_string}, {JT_NUMBER, emit_number}, {JT_ARRAY, js_emit_array}, {JT_OBJECT, js_emit_object}};
    for (size_t f = 0; f < sizeof facets / sizeof *facets; f++) {
        if (!(n->types & facets[f].type)) continue;
        js_buf part = {0};
        bool part_empty = true;
        vka_status s = facets[f].fn(c, n, &part, &part_empty);
        if (s == VKA_OK && part.failed) s = js_oom();
        if (s == VKA_OK && !part_empty) {
            js_puts(body, *empty ? "" : " | ");
            js_puts(body, part.data);
            *empty = false;
        }
        js_buf_free(&part);
        VKA_TRY(s);
    }
    return VKA_OK;
}

static vka_status emit_union(js_conv *c, js_node *n, js_buf *body, bool *empty) {
    *empty = true;
    for (uint32_t i = 0; i < n->n_alts; i++) {
        const char *rule;
        VKA_TRY(add_edge(c, n->alts[i], (js_step){JS_STEP_SAME, NULL, 0}));
        VKA_TRY(js_emit(c, n->alts[i], &rule));
        if (!rule) continue;
        bool dup = false;   /* the same alternative reached twice */
        for (uint32_t j = 0; j < i && !dup; j++) dup = n->alts[j] == n->alts[i];
        if (dup) continue;
        js_puts(body, *empty ? "" : " | ");
        js_puts(body, rule);
        *empty = false;
    }
    return VKA_OK;
}

vka_status js_emit(js_conv *c, js_node *n, const char **rule) {
    *rule = NULL;
    if (n->emitted) {
        *rule = n->empty ? NULL : n->rule;
        return VKA_OK;
    }
    if (n->rule) {              /* being emitted: a recursive reference */
        *rule = n->rule;
        return VKA_OK;
    }
    if (unconstrained(n) && c->n_nodes > 0 && n != c->nodes[0]) {
        c->need |= JS_NEED_VALUE;
        *rule = "value";
        return VKA_OK;
    }
    if (++c->depth > JS_MAX_DEPTH) {
        c->depth--;
        return js_fail_at(n->path, NULL, "schemas nested deeper than %d levels", JS_MAX_DEPTH);
    }
    n->rule = rule_name(n, c->nodes[0] == n, c->ws);
    vka_status s = n->rule ? VKA_OK : js_oom();
    js_buf body = {0};
    bool empty = true;
    if (s == VKA_OK && unconstrained(n)) {
        c->need |= JS_NEED_VALUE;
        js_puts(&body, "value");
        empty = false;
    } else if (s == VKA_OK) {
        js_node *outer = c->parent;
        c->parent = n;
        s = n->is_union ? emit_union(c, n, &body, &empty) : emit_facets(c, n, &body, &empty);
        c->parent = outer;
    }
    if (s == VKA_OK && body.failed) s = js_oom();
    if (s == VKA_OK && !empty && !js_rule_add(&c->rules, n->rule, body.data)) s = js_oom();
    js_buf_free(&body);
    c->depth--;
    n->emitted = true;
    n->empty = empty;
    *rule = empty ? NULL : n->rule;
    return s;
}

