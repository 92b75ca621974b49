/* json_schema.c — JSON Schema (the subset in docs/structured-output.md) to
 * GBNF: one rule per schema node, shared primitive rules, local $refs. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "json_schema.h"
#include "json_schema_legacy_impl.h"
#include "status.h"

#define MAX_SCHEMA_DEPTH 128
#define MAX_COUNT 10000.0           /* VKA_GRAMMAR_MAX_REPEAT: {m,n} counts in the grammar */
#define MAX_EXACT_INT 9007199254740992.0

/* ---------------------------------------------------------------- fixed grammars */

#define ANY_COMMON                                                                    \
    "value ::= object | array | string | number | \"true\" | \"false\" | \"null\"\n" \
    "string ::= \"\\\"\" char* \"\\\"\"\n"                                            \
    "char ::= [^\"\\\\\\x00-\\x1F] | \"\\\\\" ([\"\\\\/bfnrt] | \"u\" [0-9a-fA-F]{4})\n" \
    "number ::= \"-\"? (\"0\" | [1-9] [0-9]{0,15}) (\".\" [0-9]{1,16})? ([eE] [-+]? [0-9]{1,3})?\n"

static const char any_compact[] =
    "root ::= value\n" ANY_COMMON
    "object ::= \"{\" (member (\",\" member)*)? \"}\"\n"
    "member ::= string \":\" value\n"
    "array ::= \"[\" (value (\",\" value)*)? \"]\"\n";

static const char any_spaced[] =
    "root ::= value\n" ANY_COMMON
    "object ::= \"{\" sp (member (\",\" sp member)*)? sp \"}\"\n"
    "member ::= string sp \":\" sp value\n"
    "array ::= \"[\" sp (value (\",\" sp value)*)? sp \"]\"\n"
    "sp ::= \" \"?\n";

const char *vka_json_any_gbnf(void) { return any_compact; }

const char *vka_json_any_gbnf_ws(vka_json_ws ws) { return ws == VKA_JSON_WS_SPACED ? any_spaced : any_compact; }

static bool put_literal(js_buf *b, const char *s, size_t n) { return js_put_literal(b, s, n); }

/* The JSON text of a string value (quoted, escaped as JSON requires). */
static bool put_json_string(js_buf *b, const char *s) {
    js_puts(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"') js_puts(b, "\\\"");
        else if (*p == '\\') js_puts(b, "\\\\");
        else if (*p == '\n') js_puts(b, "\\n");
        else if (*p == '\r') js_puts(b, "\\r");
        else if (*p == '\t') js_puts(b, "\\t");
        else if (*p == '\b') js_puts(b, "\\b");
        else if (*p == '\f') js_puts(b, "\\f");
        else if (*p < 0x20) js_printf(b, "\\u%04x", *p);
        else js_put(b, (const char *)p, 1);
    }
    return js_puts(b, "\"");
}

/* ---------------------------------------------------------------- converter state */

typedef struct ref_memo {
    char *ref;
    char *rule;
} ref_memo;

typedef struct conv {
    cJSON *doc;
    vka_json_ws ws;
    js_buf rules;               /* generated rules, in order */
    char **names;               /* rule names in use */
    uint32_t n_names, cap_names;
    ref_memo *refs;
    uint32_t n_refs, cap_refs;
    unsigned need;              /* primitives used (NEED_*) */
    int depth;
    cJSON *merged;              /* schemas made by folding siblings into alternatives; freed at the end */
} conv;

enum { NEED_STRING = 1, NEED_NUMBER = 2, NEED_INTEGER = 4, NEED_VALUE = 8, NEED_SP = 16, NEED_CHAR = 32 };

static const char *const reserved[] = {"root", "value", "object", "member", "array", "string", "char",
                                       "number", "integer", "boolean", "null", "sp"};

static bool grow(void **ptr, uint32_t *cap, uint32_t need, size_t elem) {
    if (need <= *cap) return true;
    uint32_t n = *cap ? *cap * 2 : 16;
    while (n < need) n *= 2;
    void *p = realloc(*ptr, (size_t)n * elem);
    if (!p) return false;
    *ptr = p;
    *cap = n;
    return true;
}

static vka_status oom(void) { return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory while converting a JSON schema"); }

__attribute__((format(printf, 3, 4)))
static vka_status fail_at(const char *path, const char *keyword, const char *fmt, ...) {
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (keyword) return vka_fail(VKA_ERR_GRAMMAR, "JSON schema at %s/%s: %s", path, keyword, what);
    return vka_fail(VKA_ERR_GRAMMAR, "JSON schema at %s: %s", path, what);
}

static bool name_taken(const conv *c, const char *name) {
    for (size_t i = 0; i < sizeof reserved / sizeof *reserved; i++)
        if (strcmp(reserved[i], name) == 0) return true;
    for (uint32_t i = 0; i < c->n_names; i++)
        if (strcmp(c->names[i], name) == 0) return true;
    return false;
}

/* A fresh rule name from a hint: [a-zA-Z0-9-] only, made unique with -2, -3... */
static vka_status new_name(conv *c, const char *hint, bool allow_root, char **out) {
    size_t n = strlen(hint);
    if (n > 60) n = 60;
    char base[72];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = hint[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-';
        base[k++] = ok ? ch : '-';
    }
    if (!k) base[k++] = 'x';
    base[k] = 0;
    char name[96];
    snprintf(name, sizeof name, "%s", base);
    bool free_root = allow_root && strcmp(name, "root") == 0;
    for (unsigned i = 2; !free_root && name_taken(c, name); i++) snprintf(name, sizeof name, "%s-%u", base, i);
    if (!grow((void **)&c->names, &c->cap_names, c->n_names + 1, sizeof *c->names)) return oom();
    c->names[c->n_names] = strdup(name);
    if (!c->names[c->n_names]) return oom();
    *out = c->names[c->n_names++];
    return VKA_OK;
}

/* ---------------------------------------------------------------- keyword checks */

static const char *const annotations[] = {"description", "title", "$schema", "$id", "$comment", "default",
                                          "examples", "readOnly", "writeOnly", "deprecated", "$defs", "definitions"};
static const char *const supported[] = {"type", "properties", "required", "additionalProperties", "items",
                                        "prefixItems", "minItems", "maxItems", "enum", "const", "minLength",
                                        "maxLength", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
                                        "oneOf", "anyOf", "$ref"};

static bool in_list(const char *const *list, size_t n, const char *s) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], s) == 0) return true;
    return false;
}

#define IN(list, s) in_list(list, sizeof list / sizeof *list, s)

static vka_status check_keywords(const cJSON *schema, const char *path) {
    for (const cJSON *k = schema->child; k; k = k->next) {
        if (IN(annotations, k->string) || IN(supported, k->string)) continue;
        return fail_at(path, k->string, "unsupported keyword '%s' (HINT: see docs/structured-output.md for the supported subset)",
                       k->string);
    }
    return VKA_OK;
}

/* Keywords other than annotations besides `keyword` (for $ref / anyOf / oneOf). */
static const char *first_sibling(const cJSON *schema, const char *keyword) {
    for (const cJSON *k = schema->child; k; k = k->next)
        if (strcmp(k->string, keyword) != 0 && !IN(annotations, k->string)) return k->string;
    return NULL;
}

/* ---------------------------------------------------------------- schema nodes */

static vka_status gen(conv *c, const cJSON *schema, const char *path, const char *hint, char **rule);

/* path + "/" + key; a path too long for the buffer ends in "..." (messages only). */
static void join_path(char *out, size_t cap, const char *path, const char *key) {
    int n = snprintf(out, cap, "%s/%s", path, key);
    if (n < 0 || (size_t)n >= cap) memcpy(out + cap - 4, "...", 4);
}

static const char *sp(const conv *c) { return c->ws == VKA_JSON_WS_SPACED ? " sp" : ""; }

/* A non-negative integer keyword (count), at most MAX_COUNT. */
static vka_status get_count(const cJSON *schema, const char *path, const char *key, double dflt, double *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(schema, key);
    *out = dflt;
    if (!v) return VKA_OK;
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble != floor(v->valuedouble))
        return fail_at(path, key, "must be a non-negative integer");
    if (v->valuedouble > MAX_COUNT)
        return fail_at(path, key, "%.0f is above the supported limit %.0f (grammar repetition counts)", v->valuedouble, MAX_COUNT);
    *out = v->valuedouble;
    return VKA_OK;
}

/* Appends "{lo,hi}" (hi < 0: unbounded) in GBNF form. */
static void put_repeat(js_buf *b, double lo, double hi) {
    if (hi < 0) js_printf(b, "{%.0f,}", lo);
    else if (lo == hi) js_printf(b, "{%.0f}", lo);
    else js_printf(b, "{%.0f,%.0f}", lo, hi);
}

static vka_status gen_string(conv *c, const cJSON *schema, const char *path, js_buf *body) {
    double lo, hi;
    VKA_TRY(get_count(schema, path, "minLength", 0, &lo));
    VKA_TRY(get_count(schema, path, "maxLength", -1, &hi));
    if (hi >= 0 && hi < lo) return fail_at(path, "maxLength", "is below minLength: no string can match");
    if (lo == 0 && hi < 0) {
        c->need |= NEED_STRING;
        js_puts(body, "string");
        return VKA_OK;
    }
    c->need |= NEED_CHAR;
    js_puts(body, "\"\\\"\" char");
    put_repeat(body, lo, hi);
    js_puts(body, " \"\\\"\"");
    return VKA_OK;
}

/* Reads minimum, maximum, exclusiveMinimum, exclusiveMaximum as an integer range; has_lo and has_hi false
 * when unbounded on that side. */
static vka_status integer_bounds(const cJSON *schema, const char *path, bool *has_lo, double *lo, bool *has_hi,
                                 double *hi) {
    *has_lo = *has_hi = false;
    const cJSON *mn = cJSON_GetObjectItemCaseSensitive(schema, "minimum");
    const cJSON *mx = cJSON_GetObjectItemCaseSensitive(schema, "maximum");
    const cJSON *emn = cJSON_GetObjectItemCaseSensitive(schema, "exclusiveMinimum");
    const cJSON *emx = cJSON_GetObjectItemCaseSensitive(schema, "exclusiveMaximum");
    const struct {
        const cJSON *v;
        const char *key;
    } all[4] = {{mn, "minimum"}, {mx, "maximum"}, {emn, "exclusiveMinimum"}, {emx, "exclusiveMaximum"}};
    for (int i = 0; i < 4; i++) {
        if (!all[i].v) continue;
        bool draft4 = i >= 2 && cJSON_IsBool(all[i].v);
        if (!draft4 && !cJSON_IsNumber(all[i].v)) return fail_at(path, all[i].key, "must be a number");
        if (!draft4 && fabs(all[i].v->valuedouble) > MAX_EXACT_INT)
            return fail_at(path, all[i].key, "is beyond the supported range +-2^53");
    }
    if (mn) { *has_lo = true; *lo = ceil(mn->valuedouble); }
    if (mx) { *has_hi = true; *hi = floor(mx->valuedouble); }
    if (emn) {
        if (cJSON_IsBool(emn)) {        /* draft 4: modifies minimum */
            if (cJSON_IsTrue(emn) && mn && mn->valuedouble == *lo) *lo += 1;
        } else {
            double v = floor(emn->valuedouble) + 1;
            if (!*has_lo || v > *lo) *lo = v;
            *has_lo = true;
        }
    }
    if (emx) {
        if (cJSON_IsBool(emx)) {
            if (cJSON_IsTrue(emx) && mx && mx->valuedouble == *hi) *hi -= 1;
        } else {
            double v = ceil(emx->valuedouble) - 1;
            if (!*has_hi || v < *hi) *hi = v;
            *has_hi = true;
        }
    }
    if (*has_lo && *has_hi && *lo > *hi) return fail_at(path, NULL, "the integer bounds leave no value (minimum above maximum)");
    return VKA_OK;
}

static vka_status gen_number(conv *c, const cJSON *schema, const char *path, bool integer, js_buf *body) {
    static const char *const bound_keys[] = {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"};
    if (!integer) {
        for (int i = 0; i < 4; i++)
            if (cJSON_GetObjectItemCaseSensitive(schema, bound_keys[i]))
                return fail_at(path, bound_keys[i],
                               "bounds are supported on type \"integer\" only, not \"number\" (HINT: use an integer, "
                               "or drop the bound)");
        c->need |= NEED_NUMBER;
        js_puts(body, "number");
        return VKA_OK;
    }
    bool has_lo, has_hi;
    double lo = 0, hi = 0;
    VKA_TRY(integer_bounds(schema, path, &has_lo, &lo, &has_hi, &hi));
    if (!has_lo && !has_hi) {
        c->need |= NEED_INTEGER;
        js_puts(body, "integer");
        return VKA_OK;
    }
    return js_integer_range(body, has_lo, (int64_t)lo, has_hi, (int64_t)hi) ? VKA_OK : oom();
}

/* enum / const: the values' compact JSON texts as literals. */
static vka_status gen_enum(const cJSON *values, bool single, const char *path, const char *key, js_buf *body) {
    bool first = true;
    for (const cJSON *v = values; v; v = single ? NULL : v->next) {
        char *text = cJSON_PrintUnformatted(v);
        if (!text) return oom();
        js_buf tmp = {0};
        if (cJSON_IsString(v)) put_json_string(&tmp, v->valuestring);
        else js_puts(&tmp, text);
        free(text);
        if (tmp.failed) {
            free(tmp.data);
            return oom();
        }
        if (!first) js_puts(body, " | ");
        put_literal(body, tmp.data, tmp.len);
        free(tmp.data);
        first = false;
    }
    if (first) return fail_at(path, key, "is empty: no value can match");
    return VKA_OK;
}

typedef struct prop {
    const char *key;
    char *rule;
    bool required;
} prop;

/* The object's members in schema order; the first member present has no
 * comma, so the text is: A(i) = kv_i B(i+1) [| A(i+1) when optional], with
 * B(i) the remaining members each behind a comma (optional ones in "( )?"). */
static void put_kv(conv *c, js_buf *b, const prop *p) {
    js_buf key = {0};
    put_json_string(&key, p->key);
    if (!key.failed) put_literal(b, key.data, key.len);
    else b->failed = true;
    free(key.data);
    js_printf(b, "%s \":\"%s %s", sp(c), sp(c), p->rule);
}

static void put_rest(conv *c, js_buf *b, const prop *p, uint32_t i, uint32_t n, const char *extra) {
    for (uint32_t j = i; j < n; j++) {
        js_printf(b, " %s\",\"%s ", p[j].required ? "" : "(", sp(c));
        put_kv(c, b, &p[j]);
        if (!p[j].required) js_puts(b, ")?");
    }
    if (extra) js_printf(b, " (\",\"%s %s)*", sp(c), extra);
}

static void put_members(conv *c, js_buf *b, const prop *p, uint32_t i, uint32_t n, const char *extra) {
    if (i == n) {
        if (extra) js_printf(b, "(%s (\",\"%s %s)*)?", extra, sp(c), extra);
        return;
    }
    if (!p[i].required) js_puts(b, "(");
    put_kv(c, b, &p[i]);
    put_rest(c, b, p, i + 1, n, extra);
    if (!p[i].required) {
        js_puts(b, " | ");
        put_members(c, b, p, i + 1, n, extra);
        js_puts(b, ")");
    }
}

static vka_status gen_object(conv *c, const cJSON *schema, const char *path, const char *name, js_buf *body) {
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(schema, "properties");
    const cJSON *req = cJSON_GetObjectItemCaseSensitive(schema, "required");
    const cJSON *addl = cJSON_GetObjectItemCaseSensitive(schema, "additionalProperties");
    char sub[1024];
    if (props && !cJSON_IsObject(props)) return fail_at(path, "properties", "must be an object");
    if (req && !cJSON_IsArray(req)) return fail_at(path, "required", "must be an array of property names");
    if (!props && !addl) {
        /* no declared properties: any object (additionalProperties absent) */
        if (req && cJSON_GetArraySize(req) > 0)
            return fail_at(path, "required", "names properties that 'properties' does not declare");
        c->need |= NEED_VALUE;
        js_puts(body, "object");
        return VKA_OK;
    }
    uint32_t n = props ? (uint32_t)cJSON_GetArraySize(props) : 0;
    prop *p = calloc(n ? n : 1, sizeof *p);
    if (!p) return oom();
    vka_status s = VKA_OK;
    char *extra = NULL;
    uint32_t i = 0;
    for (const cJSON *k = props ? props->child : NULL; k; k = k->next, i++) {
        p[i].key = k->string;
        join_path(sub, sizeof sub, path, "properties");
        char sub2[1024];
        join_path(sub2, sizeof sub2, sub, k->string);
        char hint[128];
        snprintf(hint, sizeof hint, "%s-%s", name, k->string);
        if ((s = gen(c, k, sub2, hint, &p[i].rule)) != VKA_OK) goto done;
    }
    for (const cJSON *r = req ? req->child : NULL; r; r = r->next) {
        if (!cJSON_IsString(r)) { s = fail_at(path, "required", "must list property names (strings)"); goto done; }
        bool found = false;
        for (uint32_t j = 0; j < n; j++)
            if (strcmp(p[j].key, r->valuestring) == 0) found = p[j].required = true;
        if (!found) {
            s = fail_at(path, "required", "names '%s', which 'properties' does not declare", r->valuestring);
            goto done;
        }
    }
    if (addl && !cJSON_IsFalse(addl)) {
        char hint[128];
        snprintf(hint, sizeof hint, "%s-additional", name);
        join_path(sub, sizeof sub, path, "additionalProperties");
        char *value_rule;
        if ((s = gen(c, addl, sub, hint, &value_rule)) != VKA_OK) goto done;
        char kv_hint[140];
        snprintf(kv_hint, sizeof kv_hint, "%s-kv", hint);
        if ((s = new_name(c, kv_hint, false, &extra)) != VKA_OK) goto done;
        c->need |= NEED_STRING;
        js_printf(&c->rules, "%s ::= string%s \":\"%s %s\n", extra, sp(c), sp(c), value_rule);
    }
    js_printf(body, "\"{\"%s ", sp(c));
    put_members(c, body, p, 0, n, extra);
    js_printf(body, "%s \"}\"", sp(c));
done:
    free(p);
    return s;
}

static vka_status gen_array(conv *c, const cJSON *schema, const char *path, const char *name, js_buf *body) {
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(schema, "items");
    const cJSON *prefix = cJSON_GetObjectItemCaseSensitive(schema, "prefixItems");
    char sub[1024], hint[128];
    double lo, hi;
    VKA_TRY(get_count(schema, path, "minItems", 0, &lo));
    VKA_TRY(get_count(schema, path, "maxItems", -1, &hi));
    if (prefix && !cJSON_IsArray(prefix)) return fail_at(path, "prefixItems", "must be an array of schemas");
    if (items && cJSON_IsArray(items))
        return fail_at(path, "items", "an array of schemas (draft 4 tuples) is not supported (HINT: use prefixItems)");
    uint32_t k = prefix ? (uint32_t)cJSON_GetArraySize(prefix) : 0;
    if (items && cJSON_IsFalse(items) && (hi < 0 || hi > k)) hi = k;
    if (hi >= 0 && hi < lo) return fail_at(path, "maxItems", "allows fewer items than minItems (or prefixItems with items false)");
    char **el = calloc(k + 1, sizeof *el);
    if (!el) return oom();
    vka_status s = VKA_OK;
    for (uint32_t i = 0; i < k; i++) {
        char idx[32];
        snprintf(idx, sizeof idx, "prefixItems/%u", i);
        join_path(sub, sizeof sub, path, idx);
        snprintf(hint, sizeof hint, "%s-%u", name, i);
        if ((s = gen(c, cJSON_GetArrayItem(prefix, (int)i), sub, hint, &el[i])) != VKA_OK) goto done;
    }
    const char *item = NULL;
    if (!(items && cJSON_IsFalse(items))) {
        if (items) {
            join_path(sub, sizeof sub, path, "items");
            snprintf(hint, sizeof hint, "%s-item", name);
            char *item_rule;
            if ((s = gen(c, items, sub, hint, &item_rule)) != VKA_OK) goto done;
            item = item_rule;
        } else {
            c->need |= NEED_VALUE;
            item = "value";
        }
    }
    /* prefix items, optional from index lo on; then the rest */
    js_printf(body, "\"[\"%s ", sp(c));
    uint32_t open = 0;
    uint32_t n_prefix = hi >= 0 && hi < k ? (uint32_t)hi : k;
    for (uint32_t i = 0; i < n_prefix; i++) {
        if (i >= lo) {
            js_puts(body, "(");
            open++;
        }
        if (i) js_printf(body, "\",\"%s ", sp(c));
        js_printf(body, "%s ", el[i]);
    }
    if (item && (hi < 0 || hi > k)) {
        double rlo = lo > k ? lo - k : 0, rhi = hi < 0 ? -1 : hi - k;
        if (k == 0) {
            if (rlo == 0) {
                js_printf(body, "(%s (\",\"%s %s)", item, sp(c), item);
                put_repeat(body, 0, rhi < 0 ? -1 : rhi - 1);
                js_puts(body, ")? ");
            } else {
                js_printf(body, "%s (\",\"%s %s)", item, sp(c), item);
                put_repeat(body, rlo - 1, rhi < 0 ? -1 : rhi - 1);
                js_puts(body, " ");
            }
        } else {
            js_printf(body, "(\",\"%s %s)", sp(c), item);
            put_repeat(body, rlo, rhi);
            js_puts(body, " ");
        }
    }
    for (uint32_t i = 0; i < open; i++) js_puts(body, ")? ");
    js_printf(body, "%s\"]\"", c->ws == VKA_JSON_WS_SPACED ? "sp " : "");
done:
    free(el);
    return s;
}

static vka_status gen_typed(conv *c, const cJSON *schema, const char *path, const char *name, const char *type,
                            js_buf *body) {
    if (strcmp(type, "string") == 0) return gen_string(c, schema, path, body);
    if (strcmp(type, "number") == 0) return gen_number(c, schema, path, false, body);
    if (strcmp(type, "integer") == 0) return gen_number(c, schema, path, true, body);
    if (strcmp(type, "boolean") == 0) return js_puts(body, "(\"true\" | \"false\")") ? VKA_OK : oom();
    if (strcmp(type, "null") == 0) return js_puts(body, "\"null\"") ? VKA_OK : oom();
    if (strcmp(type, "object") == 0) return gen_object(c, schema, path, name, body);
    if (strcmp(type, "array") == 0) return gen_array(c, schema, path, name, body);
    return fail_at(path, "type", "unknown type '%s'", type);
}

/* The type a schema without "type" describes, from its keywords. */
static const char *implied_type(const cJSON *schema) {
    static const char *const object_keys[] = {"properties", "required", "additionalProperties"};
    static const char *const array_keys[] = {"items", "prefixItems", "minItems", "maxItems"};
    static const char *const string_keys[] = {"minLength", "maxLength"};
    static const char *const number_keys[] = {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"};
    for (const cJSON *k = schema->child; k; k = k->next) {
        if (IN(object_keys, k->string)) return "object";
        if (IN(array_keys, k->string)) return "array";
        if (IN(string_keys, k->string)) return "string";
        if (IN(number_keys, k->string)) return "number";
    }
    return NULL;
}

static vka_status resolve_ref(conv *c, const cJSON *schema, const char *path, char **rule);

static vka_status gen_alternatives(conv *c, const cJSON *list, const char *path, const char *key, const char *name,
                                   js_buf *body) {
    if (!cJSON_IsArray(list) || !list->child) return fail_at(path, key, "must be a non-empty array of schemas");
    char sub[1024], hint[128];
    uint32_t i = 0;
    for (const cJSON *alt = list->child; alt; alt = alt->next, i++) {
        char idx[48];
        snprintf(idx, sizeof idx, "%s/%u", key, i);
        join_path(sub, sizeof sub, path, idx);
        snprintf(hint, sizeof hint, "%s-%u", name, i);
        char *rule;
        VKA_TRY(gen(c, alt, sub, hint, &rule));
        js_printf(body, "%s%s", i ? " | " : "", rule);
    }
    return VKA_OK;
}

static bool is_annotation(const char *key) { return IN(annotations, key); }

/* Keeps a merged schema alive until the conversion ends (rules refer to it). */
static vka_status keep_merged(conv *c, const char *path, const char *combiner, js_merge_result r, cJSON *m,
                              const char *conflict) {
    if (r == JS_MERGE_OOM) return oom();
    if (r == JS_MERGE_NOT_OBJECT) return fail_at(path, combiner, "alternatives must be schema objects");
    if (r == JS_MERGE_CONFLICT)
        return fail_at(path, conflict, "'%s' here conflicts with the '%s' alternatives (HINT: move it into them)",
                       conflict, combiner);
    if (!c->merged && !(c->merged = cJSON_CreateArray())) {
        cJSON_Delete(m);
        return oom();
    }
    cJSON_AddItemToArray(c->merged, m);
    return VKA_OK;
}

static vka_status resolve_ref(conv *c, const cJSON *schema, const char *path, char **rule);
static const cJSON *follow_pointer(const cJSON *doc, const char *ref);

/* {"type": "object", "oneOf": [...]} and {"$ref": ..., "maxItems": 3}: the
 * sibling keywords join each alternative / the referenced schema. */
static vka_status gen_with_siblings(conv *c, const cJSON *schema, const char *combiner, const char *path,
                                    const char *name, js_buf *body) {
    char conflict[64] = "";
    cJSON *m = NULL;
    if (strcmp(combiner, "$ref") == 0) {
        const cJSON *ref = cJSON_GetObjectItemCaseSensitive(schema, "$ref");
        const cJSON *target = cJSON_IsString(ref) && ref->valuestring[0] == '#' ? follow_pointer(c->doc, ref->valuestring) : NULL;
        if (!target) return fail_at(path, "$ref", "must be a local reference (\"#...\") to a schema in this document");
        js_merge_result r = js_merge_siblings(schema, combiner, target, is_annotation, &m, conflict, sizeof conflict);
        VKA_TRY(keep_merged(c, path, combiner, r, m, conflict));
        char *rule = NULL;
        VKA_TRY(gen(c, m, path, name, &rule));
        return js_puts(body, rule) ? VKA_OK : oom();
    }
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(schema, combiner);
    if (!cJSON_IsArray(list) || !list->child) return fail_at(path, combiner, "must be a non-empty array of schemas");
    cJSON *alts = cJSON_CreateArray();
    VKA_TRY(keep_merged(c, path, combiner, alts ? JS_MERGE_OK : JS_MERGE_OOM, alts, conflict));
    for (const cJSON *alt = list->child; alt; alt = alt->next) {
        js_merge_result r = js_merge_siblings(schema, combiner, alt, is_annotation, &m, conflict, sizeof conflict);
        if (r == JS_MERGE_OOM) return oom();
        if (r == JS_MERGE_NOT_OBJECT) return fail_at(path, combiner, "alternatives must be schema objects");
        if (r == JS_MERGE_CONFLICT)
            return fail_at(path, conflict, "'%s' here conflicts with the '%s' alternatives (HINT: move it into them)",
                           conflict, combiner);
        cJSON_AddItemToArray(alts, m);
    }
    return gen_alternatives(c, alts, path, combiner, name, body);
}

static vka_status gen_body(conv *c, const cJSON *schema, const char *path, const char *name, js_buf *body) {
    if (cJSON_IsTrue(schema)) {
        c->need |= NEED_VALUE;
        js_puts(body, "value");
        return VKA_OK;
    }
    if (cJSON_IsFalse(schema)) return fail_at(path, NULL, "the schema false matches nothing");
    if (!cJSON_IsObject(schema)) return fail_at(path, NULL, "a schema must be an object or a boolean");
    VKA_TRY(check_keywords(schema, path));
    static const char *const combiners[] = {"$ref", "anyOf", "oneOf"};
    for (int i = 0; i < 3; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(schema, combiners[i]);
        if (!v) continue;
        if (first_sibling(schema, combiners[i])) return gen_with_siblings(c, schema, combiners[i], path, name, body);
        if (i == 0) {
            char *rule = NULL;
            VKA_TRY(resolve_ref(c, schema, path, &rule));
            return js_puts(body, rule) ? VKA_OK : oom();
        }
        return gen_alternatives(c, v, path, combiners[i], name, body);
    }
    const cJSON *en = cJSON_GetObjectItemCaseSensitive(schema, "enum");
    const cJSON *cn = cJSON_GetObjectItemCaseSensitive(schema, "const");
    if (en && cn) return fail_at(path, "const", "'const' together with 'enum' is not supported");
    if (en) {
        if (!cJSON_IsArray(en)) return fail_at(path, "enum", "must be an array");
        return gen_enum(en->child, false, path, "enum", body);
    }
    if (cn) return gen_enum(cn, true, path, "const", body);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(schema, "type");
    if (!type) {
        const char *t = implied_type(schema);
        if (!t) {
            c->need |= NEED_VALUE;
            js_puts(body, "value");
            return VKA_OK;
        }
        return gen_typed(c, schema, path, name, t, body);
    }
    if (cJSON_IsString(type)) return gen_typed(c, schema, path, name, type->valuestring, body);
    if (!cJSON_IsArray(type) || !type->child) return fail_at(path, "type", "must be a type name or a non-empty array of them");
    bool first = true;
    for (const cJSON *t = type->child; t; t = t->next) {
        if (!cJSON_IsString(t)) return fail_at(path, "type", "must list type names (strings)");
        js_puts(body, first ? "(" : " | ");
        VKA_TRY(gen_typed(c, schema, path, name, t->valuestring, body));
        first = false;
    }
    js_puts(body, ")");
    return VKA_OK;
}

/* Makes rule `hint...` for the schema and returns its name. */
static vka_status gen(conv *c, const cJSON *schema, const char *path, const char *hint, char **rule) {
    if (++c->depth > MAX_SCHEMA_DEPTH) {
        c->depth--;
        return fail_at(path, NULL, "schema nested deeper than %d levels", MAX_SCHEMA_DEPTH);
    }
    char *name;
    vka_status s = new_name(c, hint, c->depth == 1, &name);
    js_buf body = {0};
    if (s == VKA_OK) s = gen_body(c, schema, path, name, &body);
    if (s == VKA_OK && body.failed) s = oom();
    if (s == VKA_OK) {
        js_printf(&c->rules, "%s ::= %s\n", name, body.data);
        *rule = name;
    }
    free(body.data);
    c->depth--;
    return s;
}

/* ---------------------------------------------------------------- $ref */

/* Follows a local JSON pointer ("#/a/b~1c"); NULL when it leads nowhere. */
static const cJSON *follow_pointer(const cJSON *doc, const char *ref) {
    const cJSON *node = doc;
    const char *p = ref + 1;
    while (*p == '/') {
        p++;
        char token[256];
        size_t n = 0;
        while (*p && *p != '/') {
            char ch = *p++;
            if (ch == '~' && *p == '0') { ch = '~'; p++; }
            else if (ch == '~' && *p == '1') { ch = '/'; p++; }
            if (n + 1 >= sizeof token) return NULL;
            token[n++] = ch;
        }
        token[n] = 0;
        if (cJSON_IsArray(node)) {
            char *end;
            long idx = strtol(token, &end, 10);
            if (*end || end == token || idx < 0) return NULL;
            node = cJSON_GetArrayItem(node, (int)idx);
        } else if (cJSON_IsObject(node)) {
            node = cJSON_GetObjectItemCaseSensitive(node, token);
        } else {
            return NULL;
        }
        if (!node) return NULL;
    }
    return *p ? NULL : node;
}

static vka_status resolve_ref(conv *c, const cJSON *schema, const char *path, char **rule) {
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(schema, "$ref");
    if (!cJSON_IsString(ref)) return fail_at(path, "$ref", "must be a string");
    const char *r = ref->valuestring;
    if (r[0] != '#')
        return fail_at(path, "$ref", "'%s' is not a local reference (only \"#...\" pointers into this schema are supported)", r);
    for (uint32_t i = 0; i < c->n_refs; i++) {
        if (strcmp(c->refs[i].ref, r) == 0) {
            *rule = c->refs[i].rule;
            return VKA_OK;
        }
    }
    const cJSON *target = follow_pointer(c->doc, r);
    if (!target) return fail_at(path, "$ref", "'%s' does not point to anything in this schema", r);
    if (!grow((void **)&c->refs, &c->cap_refs, c->n_refs + 1, sizeof *c->refs)) return oom();
    const char *slash = strrchr(r, '/');
    const char *hint = slash && slash[1] ? slash + 1 : "ref";
    char *name;
    VKA_TRY(new_name(c, hint, false, &name));
    c->refs[c->n_refs].ref = strdup(r);
    c->refs[c->n_refs].rule = name;
    if (!c->refs[c->n_refs].ref) return oom();
    c->n_refs++;
    /* the rule is named before its body is made, so recursive refs resolve */
    js_buf body = {0};
    vka_status s = gen_body(c, target, r, name, &body);
    if (s == VKA_OK && body.failed) s = oom();
    if (s == VKA_OK) js_printf(&c->rules, "%s ::= %s\n", name, body.data);
    free(body.data);
    VKA_TRY(s);
    *rule = name;
    return VKA_OK;
}

/* ---------------------------------------------------------------- entry points */

static void put_primitives(conv *c) {
    js_buf *b = &c->rules;
    if (c->need & NEED_VALUE) {
        js_puts(b, c->ws == VKA_JSON_WS_SPACED ? any_spaced + strlen("root ::= value\n") : any_compact + strlen("root ::= value\n"));
        if (c->need & NEED_INTEGER) js_puts(b, "integer ::= \"-\"? (\"0\" | [1-9] [0-9]{0,15})\n");
        return;
    }
    if (c->need & NEED_STRING) js_puts(b, "string ::= \"\\\"\" char* \"\\\"\"\n");
    if (c->need & (NEED_STRING | NEED_CHAR))
        js_puts(b, "char ::= [^\"\\\\\\x00-\\x1F] | \"\\\\\" ([\"\\\\/bfnrt] | \"u\" [0-9a-fA-F]{4})\n");
    if (c->need & NEED_NUMBER)
        js_puts(b, "number ::= \"-\"? (\"0\" | [1-9] [0-9]{0,15}) (\".\" [0-9]{1,16})? ([eE] [-+]? [0-9]{1,3})?\n");
    if (c->need & NEED_INTEGER) js_puts(b, "integer ::= \"-\"? (\"0\" | [1-9] [0-9]{0,15})\n");
    if (c->ws == VKA_JSON_WS_SPACED) js_puts(b, "sp ::= \" \"?\n");
}

vka_status vka_json_schema_to_gbnf_ws(const char *schema_json, vka_json_ws ws, char **gbnf_out) {
    if (!schema_json || !gbnf_out) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_json_schema_to_gbnf: NULL argument");
    *gbnf_out = NULL;
    const char *end = NULL;
    cJSON *doc = cJSON_ParseWithOpts(schema_json, &end, true);
    if (!doc) {
        size_t off = end ? (size_t)(end - schema_json) : 0;
        return vka_fail(VKA_ERR_GRAMMAR, "JSON schema is not valid JSON (near byte offset %zu)", off);
    }
    conv c = {.doc = doc, .ws = ws};
    vka_status s;
    char *root;
    if (!grow((void **)&c.refs, &c.cap_refs, 1, sizeof *c.refs)) {
        s = oom();
        goto done;
    }
    c.refs[0].ref = strdup("#");
    c.refs[0].rule = "root";
    if (!c.refs[0].ref) {
        s = oom();
        goto done;
    }
    c.n_refs = 1;
    s = gen(&c, doc, "#", "root", &root);
    if (s == VKA_OK) {
        put_primitives(&c);
        if (c.rules.failed) s = oom();
    }
    if (s == VKA_OK) {
        *gbnf_out = c.rules.data;
        c.rules.data = NULL;
    }
done:
    free(c.rules.data);
    for (uint32_t i = 0; i < c.n_names; i++) free(c.names[i]);
    free(c.names);
    for (uint32_t i = 0; i < c.n_refs; i++) free(c.refs[i].ref);
    free(c.refs);
    cJSON_Delete(c.merged);
    cJSON_Delete(doc);
    return s;
}

vka_status vka_json_schema_to_gbnf(const char *schema_json, char **gbnf_out) {
    return vka_json_schema_to_gbnf_ws(schema_json, VKA_JSON_WS_COMPACT, gbnf_out);
}

/* Scaffolding while the draft 2020-12 converter is built: flags not yet applied. */
vka_status vka_json_schema_to_grammar(const char *schema_json, uint32_t flags, char **gbnf_out, char **warnings_out) {
    (void)flags;
    if (warnings_out) *warnings_out = NULL;
    return vka_json_schema_to_gbnf_ws(schema_json, VKA_JSON_WS_COMPACT, gbnf_out);
}

vka_status vka_json_schema_convert(const char *schema_json, uint32_t flags, char **gbnf_out, char **warnings_out) {
    if (warnings_out) *warnings_out = NULL;
    return vka_json_schema_to_gbnf_ws(schema_json, (flags & VKA_JSON_SCHEMA_FLEXIBLE_WS) ? VKA_JSON_WS_FLEXIBLE : VKA_JSON_WS_COMPACT, gbnf_out);
}
