/* json_schema_rewrite.c — keywords the converter reduces to others: `not`
 * (negated keyword by keyword into schemas the converter enforces),
 * if/then/else (either the condition and `then`, or its negation and
 * `else`) and schema-valued dependencies; and the list of keywords it
 * refuses. Everything made here is exact; what cannot be negated exactly is
 * refused with the keyword named. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "structured/json_schema_impl.h"
#include "structured/json_schema_keywords.h"
#include "base/status.h"

#define MAX_NEGATION_DEPTH 32

const char *js_keyword_unsupported(const char *keyword, const cJSON *value) {
    if (strcmp(keyword, "unevaluatedProperties") == 0 || strcmp(keyword, "unevaluatedItems") == 0)
        return cJSON_IsTrue(value) || (cJSON_IsObject(value) && !value->child)
                   ? NULL
                   : "unevaluatedProperties/unevaluatedItems are not supported (HINT: use additionalProperties or "
                     "items, which say the same when no subschema declares members)";
    if (strcmp(keyword, "$dynamicRef") == 0 || strcmp(keyword, "$recursiveRef") == 0)
        return "dynamic references are not supported (HINT: use $ref)";
    return NULL;
}

/* ---------------------------------------------------------------- made schemas */

/* Keeps a made schema until the end of the conversion and gives it the
 * origin's path. */
static vka_status keep(js_conv *c, cJSON *made, const cJSON *origin, const cJSON **out) {
    if (!made) return js_oom();
    cJSON_AddItemToArray(c->scratch, made);
    *out = made;
    return js_index_synthetic(c, made, origin);
}

/* A made schema may hold a schema of the document without copying it: a
 * reference item, registered with the original's path and base URI. */
static vka_status alias(js_conv *c, const cJSON *schema, cJSON **out) {
    if (!cJSON_IsObject(schema)) {
        *out = cJSON_CreateBool(cJSON_IsTrue(schema));
        return *out ? VKA_OK : js_oom();
    }
    /* a reference item: shares the original's members, owns none of them */
    *out = cJSON_CreateObjectReference(schema->child);
    if (!*out) return js_oom();
    vka_status s = js_index_synthetic(c, *out, schema);
    if (s != VKA_OK) {
        cJSON_Delete(*out);
        *out = NULL;
    }
    return s;
}

static cJSON *typed(const char *type) {
    cJSON *o = cJSON_CreateObject();
    if (o && !cJSON_AddStringToObject(o, "type", type)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* {"type": T, key: number} */
static cJSON *typed_number(const char *type, const char *key, double v) {
    cJSON *o = typed(type);
    if (o && !cJSON_AddNumberToObject(o, key, v)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* ---------------------------------------------------------------- negation */

typedef struct parts {
    cJSON *list;                /* array of schemas, one of which holds (the negation) */
    bool always;                /* some part is `true`: the negation holds for everything */
} parts;

static vka_status negate(js_conv *c, const cJSON *s, int depth, cJSON **out);
static vka_status conjunction(js_conv *c, const cJSON *a, cJSON *made_b, const cJSON *b, cJSON **out);

static vka_status add_part(parts *p, cJSON *schema) {
    if (!schema) return js_oom();
    cJSON_AddItemToArray(p->list, schema);
    return VKA_OK;
}

static vka_status not_supported(const char *path, const char *keyword) {
    return js_fail_at(path, "not", "'not' of '%s' is not supported (HINT: state the allowed values positively)",
                      keyword);
}

static const char *const all_types[] = {"null", "boolean", "object", "array", "string", "number", "integer"};

/* not {type: T}: the other types. "integer" out of "number" is refused. */
static vka_status negate_type(const cJSON *type, const char *path, parts *p) {
    bool in[7] = {false};
    for (const cJSON *t = cJSON_IsArray(type) ? type->child : type; t; t = cJSON_IsArray(type) ? t->next : NULL) {
        if (!cJSON_IsString(t)) return js_fail_at(path, "type", "must be a type name or an array of them");
        for (int i = 0; i < 7; i++)
            if (strcmp(t->valuestring, all_types[i]) == 0) in[i] = true;
    }
    if (in[5]) in[6] = true;
    if (in[6] && !in[5]) {
        /* not integer: the other types, or a number that is not an integer */
        cJSON *o = typed("number");
        if (!o || !cJSON_AddTrueToObject(o, JS_KW_FRACTION)) {
            cJSON_Delete(o);
            return js_oom();
        }
        VKA_TRY(add_part(p, o));
        in[5] = true;   /* numbers are covered by that part */
    }
    cJSON *list = cJSON_CreateArray();
    if (!list) return js_oom();
    for (int i = 0; i < 6; i++)
        if (!in[i]) cJSON_AddItemToArray(list, cJSON_CreateString(all_types[i]));
    if (!list->child) {
        cJSON_Delete(list);
        return VKA_OK;      /* every type: the negation of this part is false */
    }
    cJSON *o = cJSON_CreateObject();
    if (!o) {
        cJSON_Delete(list);
        return js_oom();
    }
    cJSON_AddItemToObject(o, "type", list);
    return add_part(p, o);
}

static vka_status negate_values(const cJSON *v, bool single, parts *p) {
    cJSON *o = cJSON_CreateObject();
    cJSON *list = single ? cJSON_CreateArray() : cJSON_Duplicate(v, true);
    if (!o || !list) {
        cJSON_Delete(o);
        cJSON_Delete(list);
        return js_oom();
    }
    if (single) cJSON_AddItemToArray(list, cJSON_Duplicate(v, true));
    cJSON_AddItemToObject(o, JS_KW_NOT_ENUM, list);
    return add_part(p, o);
}

/* not {required: [a, b]}: an object without a, or without b. */
static vka_status negate_required(const cJSON *req, const char *path, parts *p) {
    if (!cJSON_IsArray(req)) return js_fail_at(path, "required", "must be an array of property names");
    for (const cJSON *e = req->child; e; e = e->next) {
        if (!cJSON_IsString(e)) return js_fail_at(path, "required", "must list property names (strings)");
        cJSON *o = typed("object"), *names = cJSON_CreateArray();
        if (!o || !names) {
            cJSON_Delete(o);
            cJSON_Delete(names);
            return js_oom();
        }
        cJSON_AddItemToArray(names, cJSON_CreateString(e->valuestring));
        cJSON_AddItemToObject(o, JS_KW_FORBID, names);
        VKA_TRY(add_part(p, o));
    }
    return VKA_OK;
}

/* not {properties: {a: S}}: an object that has a, with a value not in S. */
static vka_status negate_properties(js_conv *c, const cJSON *props, const char *path, int depth, parts *p) {
    if (!cJSON_IsObject(props)) return js_fail_at(path, "properties", "must be an object of schemas");
    for (const cJSON *k = props->child; k; k = k->next) {
        cJSON *neg = NULL;
        VKA_TRY(negate(c, k, depth + 1, &neg));
        if (cJSON_IsFalse(neg)) {   /* S is always true: this member never fails */
            cJSON_Delete(neg);
            continue;
        }
        cJSON *o = typed("object"), *req = cJSON_CreateArray(), *pr = cJSON_CreateObject();
        if (!o || !req || !pr) {
            cJSON_Delete(o), cJSON_Delete(req), cJSON_Delete(pr), cJSON_Delete(neg);
            return js_oom();
        }
        cJSON_AddItemToArray(req, cJSON_CreateString(k->string));
        cJSON_AddItemToObject(o, "required", req);
        cJSON_AddItemToObject(pr, k->string, neg);
        cJSON_AddItemToObject(o, "properties", pr);
        VKA_TRY(add_part(p, o));
    }
    return VKA_OK;
}

/* minX k / maxX k: the other side of the count, for type T. */
static vka_status negate_count(const cJSON *v, const char *path, const char *key, const char *type,
                               const char *other, bool is_min, parts *p) {
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble != floor(v->valuedouble))
        return js_fail_at(path, key, "must be a non-negative integer");
    if (is_min) {
        if (v->valuedouble == 0) return VKA_OK;    /* minX 0 always holds */
        return add_part(p, typed_number(type, other, v->valuedouble - 1));
    }
    return add_part(p, typed_number(type, other, v->valuedouble + 1));
}

static vka_status negate_bound(const cJSON *s, const cJSON *v, const char *path, parts *p) {
    if (cJSON_IsBool(v)) return VKA_OK;     /* draft-4 modifier: handled with its bound */
    if (!cJSON_IsNumber(v)) return js_fail_at(path, v->string, "must be a number");
    const char *k = v->string;
    bool d4min = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(s, "exclusiveMinimum"));
    bool d4max = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(s, "exclusiveMaximum"));
    const char *other;
    if (strcmp(k, "minimum") == 0) other = d4min ? "maximum" : "exclusiveMaximum";
    else if (strcmp(k, "maximum") == 0) other = d4max ? "minimum" : "exclusiveMinimum";
    else if (strcmp(k, "exclusiveMinimum") == 0) other = "maximum";
    else other = "minimum";
    return add_part(p, typed_number("number", other, v->valuedouble));
}

static vka_status negate_string_kw(const cJSON *v, const char *path, const char *kw, const char *made_kw, parts *p) {
    if (!cJSON_IsString(v)) return js_fail_at(path, kw, "must be a string");
    if (strcmp(kw, "format") == 0) {
        bool known = false;
        re_lang *l = NULL;
        vka_status s = re_from_format(v->valuestring, &known, &l);
        re_free(l);
        if (s != VKA_OK) return s;
        if (!known && !re_format_is_validated(v->valuestring)) return VKA_OK;   /* an annotation: always holds */
        if (!known) return not_supported(path, "format");
    }
    cJSON *o = typed("string");
    if (!o || !cJSON_AddStringToObject(o, made_kw, v->valuestring)) {
        cJSON_Delete(o);
        return js_oom();
    }
    return add_part(p, o);
}

/* not {items: S}: an array with an element not in S; not {contains: S}:
 * an array with no element in S. */
static vka_status negate_items(js_conv *c, const cJSON *s, const cJSON *v, const char *path, int depth, parts *p) {
    bool items = strcmp(v->string, "items") == 0;
    if (items && (cJSON_IsArray(v) || cJSON_GetObjectItemCaseSensitive(s, "prefixItems"))) return not_supported(path, "items");
    if (!items && (cJSON_GetObjectItemCaseSensitive(s, "minContains") || cJSON_GetObjectItemCaseSensitive(s, "maxContains")))
        return not_supported(path, "minContains/maxContains");
    cJSON *neg = NULL;
    VKA_TRY(negate(c, v, depth + 1, &neg));
    if (items && cJSON_IsFalse(neg)) {
        cJSON_Delete(neg);
        return VKA_OK;
    }
    cJSON *o = typed("array");
    if (!o) {
        cJSON_Delete(neg);
        return js_oom();
    }
    cJSON_AddItemToObject(o, items ? "contains" : "items", neg);
    return add_part(p, o);
}

/* not {anyOf: [A, B]} = allOf [not A, not B]; not {allOf: [A, B]} = not A or not B. */
static vka_status negate_list(js_conv *c, const cJSON *v, const char *path, int depth, bool any, parts *p) {
    if (!cJSON_IsArray(v) || !v->child) return js_fail_at(path, v->string, "must be a non-empty array of schemas");
    if (!any) {
        for (const cJSON *m = v->child; m; m = m->next) {
            cJSON *neg = NULL;
            VKA_TRY(negate(c, m, depth + 1, &neg));
            VKA_TRY(add_part(p, neg));
        }
        return VKA_OK;
    }
    cJSON *all = cJSON_CreateArray();
    if (!all) return js_oom();
    for (const cJSON *m = v->child; m; m = m->next) {
        cJSON *neg = NULL;
        vka_status st = negate(c, m, depth + 1, &neg);
        if (st != VKA_OK) {
            cJSON_Delete(all);
            return st;
        }
        cJSON_AddItemToArray(all, neg);
    }
    cJSON *o = cJSON_CreateObject();
    if (!o) {
        cJSON_Delete(all);
        return js_oom();
    }
    cJSON_AddItemToObject(o, "allOf", all);
    return add_part(p, o);
}

/* not {oneOf: [A, B, ...]}: none of them holds, or two of them hold. */
static vka_status negate_one_of(js_conv *c, const cJSON *v, const char *path, int depth, parts *p) {
    if (!cJSON_IsArray(v) || !v->child) return js_fail_at(path, "oneOf", "must be a non-empty array of schemas");
    if (cJSON_GetArraySize(v) > 8) return not_supported(path, "oneOf with more than 8 alternatives");
    VKA_TRY(negate_list(c, v, path, depth, true, p));     /* none */
    for (const cJSON *a = v->child; a; a = a->next)
        for (const cJSON *b = a->next; b; b = b->next) {
            cJSON *both = NULL;
            VKA_TRY(conjunction(c, a, NULL, b, &both));
            VKA_TRY(add_part(p, both));
        }
    return VKA_OK;
}

static bool is_annotation_or_unknown(const char *k) {
    static const char *const validation[] = {
        "type", "enum", "const", "required", "properties", "minLength", "maxLength", "pattern", "format",
        "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minItems", "maxItems",
        "minProperties", "maxProperties", "items", "prefixItems", "additionalItems", "contains", "minContains",
        "maxContains", "uniqueItems", "anyOf", "allOf", "oneOf", "not", "if", "then", "else", "$ref",
        "additionalProperties", "patternProperties", "propertyNames", "dependentRequired", "dependentSchemas",
        "dependencies", "unevaluatedProperties", "unevaluatedItems", "$dynamicRef", "$recursiveRef",
        JS_KW_FORBID, JS_KW_NOT_ENUM, JS_KW_NOT_PATTERN, JS_KW_NOT_FORMAT, JS_KW_FRACTION};
    for (size_t i = 0; i < sizeof validation / sizeof *validation; i++)
        if (strcmp(validation[i], k) == 0) return false;
    return true;
}

/* One keyword's contribution to the negation (a schema that holds where the
 * keyword fails). */
static vka_status negate_keyword(js_conv *c, const cJSON *s, const cJSON *k, const char *path, int depth, parts *p) {
    const char *kw = k->string;
    if (is_annotation_or_unknown(kw)) return VKA_OK;
    if (strcmp(kw, "type") == 0) return negate_type(k, path, p);
    if (strcmp(kw, "enum") == 0) return cJSON_IsArray(k) ? negate_values(k, false, p) : js_fail_at(path, kw, "must be an array");
    if (strcmp(kw, "const") == 0) return negate_values(k, true, p);
    if (strcmp(kw, "required") == 0) return negate_required(k, path, p);
    if (strcmp(kw, "properties") == 0) return negate_properties(c, k, path, depth, p);
    if (strcmp(kw, "minLength") == 0) return negate_count(k, path, kw, "string", "maxLength", true, p);
    if (strcmp(kw, "maxLength") == 0) return negate_count(k, path, kw, "string", "minLength", false, p);
    if (strcmp(kw, "minItems") == 0) return negate_count(k, path, kw, "array", "maxItems", true, p);
    if (strcmp(kw, "maxItems") == 0) return negate_count(k, path, kw, "array", "minItems", false, p);
    if (strcmp(kw, "minProperties") == 0) return negate_count(k, path, kw, "object", "maxProperties", true, p);
    if (strcmp(kw, "maxProperties") == 0) return negate_count(k, path, kw, "object", "minProperties", false, p);
    if (strcmp(kw, "minimum") == 0 || strcmp(kw, "maximum") == 0 || strcmp(kw, "exclusiveMinimum") == 0 ||
        strcmp(kw, "exclusiveMaximum") == 0)
        return negate_bound(s, k, path, p);
    if (strcmp(kw, "pattern") == 0) return negate_string_kw(k, path, kw, JS_KW_NOT_PATTERN, p);
    if (strcmp(kw, "format") == 0) return negate_string_kw(k, path, kw, JS_KW_NOT_FORMAT, p);
    if (strcmp(kw, "items") == 0 || strcmp(kw, "contains") == 0) return negate_items(c, s, k, path, depth, p);
    if (strcmp(kw, "additionalItems") == 0 && !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(s, "items"))) return VKA_OK;
    if (strcmp(kw, "anyOf") == 0) return negate_list(c, k, path, depth, true, p);
    if (strcmp(kw, "oneOf") == 0) return negate_one_of(c, k, path, depth, p);
    if (strcmp(kw, "allOf") == 0) return negate_list(c, k, path, depth, false, p);
    if (strcmp(kw, "uniqueItems") == 0 && cJSON_IsFalse(k)) return VKA_OK;
    if ((strcmp(kw, "minContains") == 0 || strcmp(kw, "maxContains") == 0) &&
        !cJSON_GetObjectItemCaseSensitive(s, "contains"))
        return VKA_OK;
    if (strcmp(kw, "not") == 0) {      /* not not X = X */
        cJSON *again = NULL;
        VKA_TRY(alias(c, k, &again));
        return add_part(p, again);
    }
    if (strcmp(kw, "$ref") == 0) {
        if (!cJSON_IsString(k)) return js_fail_at(path, "$ref", "must be a string");
        const cJSON *target;
        VKA_TRY(js_resolve_ref(c, s, k->valuestring, &target));
        cJSON *neg = NULL;
        VKA_TRY(negate(c, target, depth + 1, &neg));
        return add_part(p, neg);
    }
    if (strcmp(kw, JS_KW_NOT_ENUM) == 0) {
        cJSON *o = cJSON_CreateObject();
        if (o) cJSON_AddItemToObject(o, "enum", cJSON_Duplicate(k, true));
        return add_part(p, o);
    }
    if (strcmp(kw, JS_KW_FRACTION) == 0) return add_part(p, typed("integer"));
    if (strcmp(kw, JS_KW_FORBID) == 0) {
        cJSON *o = typed("object");
        if (o) cJSON_AddItemToObject(o, "required", cJSON_Duplicate(k, true));
        return add_part(p, o);
    }
    if (strcmp(kw, JS_KW_NOT_PATTERN) == 0 || strcmp(kw, JS_KW_NOT_FORMAT) == 0) {
        cJSON *o = typed("string");
        if (o) cJSON_AddStringToObject(o, strcmp(kw, JS_KW_NOT_PATTERN) == 0 ? "pattern" : "format", k->valuestring);
        return add_part(p, o);
    }
    return not_supported(path, kw);
}

/* The negation of schema s: a made schema (true/false, one part, or anyOf parts). */
static vka_status negate(js_conv *c, const cJSON *s, int depth, cJSON **out) {
    *out = NULL;
    const char *path = js_path_of(c, s);
    if (depth > MAX_NEGATION_DEPTH)
        return js_fail_at(path, "not", "'not' of a schema nested deeper than %d levels (or recursive) is not supported",
                          MAX_NEGATION_DEPTH);
    if (cJSON_IsBool(s)) {
        *out = cJSON_CreateBool(!cJSON_IsTrue(s));
        return *out ? VKA_OK : js_oom();
    }
    if (!cJSON_IsObject(s)) return js_fail_at(path, NULL, "a schema must be an object or a boolean");
    parts p = {cJSON_CreateArray(), false};
    if (!p.list) return js_oom();
    vka_status st = VKA_OK;
    for (const cJSON *k = s->child; k && st == VKA_OK; k = k->next) st = negate_keyword(c, s, k, path, depth, &p);
    if (st != VKA_OK) {
        cJSON_Delete(p.list);
        return st;
    }
    int n = cJSON_GetArraySize(p.list);
    if (n == 0) {
        cJSON_Delete(p.list);
        *out = cJSON_CreateFalse();     /* s holds for everything */
    } else if (n == 1) {
        *out = cJSON_DetachItemFromArray(p.list, 0);
        cJSON_Delete(p.list);
    } else {
        *out = cJSON_CreateObject();
        if (*out) cJSON_AddItemToObject(*out, "anyOf", p.list);
        else cJSON_Delete(p.list);
    }
    return *out ? VKA_OK : js_oom();
}

/* ---------------------------------------------------------------- choices */

/* A made array of schemas, kept. */
static vka_status keep_list(js_conv *c, cJSON *list, const cJSON *origin, const cJSON **out) {
    VKA_TRY(keep(c, list, origin, out));
    for (const cJSON *m = list->child; m; m = m->next) VKA_TRY(js_index_synthetic(c, m, origin));
    return VKA_OK;
}

/* Every made object below `made` gets the origin's path (for messages). */
static vka_status index_made(js_conv *c, const cJSON *made, const cJSON *origin) {
    for (const cJSON *m = made->child; m; m = m->next) {
        if (!cJSON_IsObject(m) && !cJSON_IsArray(m)) continue;
        if (m->type & cJSON_IsReference) continue;   /* a schema of the document, indexed already */
        VKA_TRY(js_index_synthetic(c, m, origin));
        VKA_TRY(index_made(c, m, origin));
    }
    return VKA_OK;
}

static vka_status rewrite_not(js_conv *c, const cJSON *s, const cJSON *not, const cJSON **out) {
    cJSON *neg = NULL;
    VKA_TRY(negate(c, not, 0, &neg));
    cJSON *list = cJSON_CreateArray();
    if (!list) {
        cJSON_Delete(neg);
        return js_oom();
    }
    cJSON_AddItemToArray(list, neg);
    VKA_TRY(keep_list(c, list, s, out));
    return index_made(c, list, s);
}

/* allOf [a, b] as a made schema holding aliases of a and b. */
static vka_status conjunction(js_conv *c, const cJSON *a, cJSON *made_b, const cJSON *b, cJSON **out) {
    cJSON *all = cJSON_CreateArray(), *o = cJSON_CreateObject();
    cJSON *ra = NULL, *rb = made_b;
    vka_status st = all && o ? alias(c, a, &ra) : js_oom();
    if (st == VKA_OK && !rb) st = b ? alias(c, b, &rb) : ((rb = cJSON_CreateTrue()) ? VKA_OK : js_oom());
    if (st != VKA_OK) {
        cJSON_Delete(all), cJSON_Delete(o);
        return st;
    }
    cJSON_AddItemToArray(all, ra);
    cJSON_AddItemToArray(all, rb);
    cJSON_AddItemToObject(o, "allOf", all);
    *out = o;
    return VKA_OK;
}

/* if/then/else: (if and then) or (not if and else). */
static vka_status rewrite_if(js_conv *c, const cJSON *s, const cJSON *cond, const cJSON **out) {
    const cJSON *then = cJSON_GetObjectItemCaseSensitive(s, "then");
    const cJSON *els = cJSON_GetObjectItemCaseSensitive(s, "else");
    cJSON *neg = NULL;
    VKA_TRY(negate(c, cond, 0, &neg));
    cJSON *list = cJSON_CreateArray(), *yes = NULL, *no = NULL;
    vka_status st = list ? conjunction(c, cond, NULL, then, &yes) : js_oom();
    if (st == VKA_OK) {
        cJSON *e = NULL;
        st = els ? alias(c, els, &e) : ((e = cJSON_CreateTrue()) ? VKA_OK : js_oom());
        cJSON *all = cJSON_CreateArray();
        no = cJSON_CreateObject();
        if (st == VKA_OK && all && no) {
            cJSON_AddItemToArray(all, neg);
            cJSON_AddItemToArray(all, e);
            cJSON_AddItemToObject(no, "allOf", all);
            neg = NULL;
        } else {
            cJSON_Delete(all), cJSON_Delete(e);
            if (st == VKA_OK) st = js_oom();
        }
    }
    cJSON_Delete(neg);
    if (st != VKA_OK) {
        cJSON_Delete(list), cJSON_Delete(yes), cJSON_Delete(no);
        return st;
    }
    cJSON_AddItemToArray(list, yes);
    cJSON_AddItemToArray(list, no);
    VKA_TRY(keep_list(c, list, s, out));
    return index_made(c, list, s);
}

/* A dependent schema {a: S}: not an object with a, or S. */
static vka_status rewrite_dependent(js_conv *c, const cJSON *s, const char *name, const cJSON *dep, const cJSON **out) {
    cJSON *list = cJSON_CreateArray();
    cJSON *others = cJSON_CreateObject(), *types = cJSON_CreateArray();
    cJSON *without = typed("object"), *names = cJSON_CreateArray(), *then = NULL;
    vka_status st = list && others && types && without && names ? alias(c, dep, &then) : js_oom();
    if (st != VKA_OK) {
        cJSON_Delete(list), cJSON_Delete(others), cJSON_Delete(types), cJSON_Delete(without), cJSON_Delete(names);
        return st;
    }
    for (int i = 0; i < 6; i++)
        if (strcmp(all_types[i], "object") != 0) cJSON_AddItemToArray(types, cJSON_CreateString(all_types[i]));
    cJSON_AddItemToObject(others, "type", types);
    cJSON_AddItemToArray(names, cJSON_CreateString(name));
    cJSON_AddItemToObject(without, JS_KW_FORBID, names);
    cJSON_AddItemToArray(list, others);
    cJSON_AddItemToArray(list, without);
    cJSON_AddItemToArray(list, then);
    VKA_TRY(keep_list(c, list, s, out));
    return index_made(c, list, s);
}

static vka_status rewrite_dependencies(js_conv *c, const cJSON *s, const char *key, const cJSON **choices,
                                       uint32_t *n) {
    const cJSON *deps = cJSON_GetObjectItemCaseSensitive(s, key);
    if (!deps) return VKA_OK;
    if (!cJSON_IsObject(deps)) return js_fail_at(js_path_of(c, s), key, "must be an object");
    for (const cJSON *d = deps->child; d; d = d->next) {
        if (cJSON_IsArray(d)) continue;     /* names: dependentRequired, applied as a keyword */
        if (!cJSON_IsObject(d) && !cJSON_IsBool(d)) return js_fail_at(js_path_of(c, s), key, "values must be schemas");
        if (cJSON_IsTrue(d) || (cJSON_IsObject(d) && !d->child)) continue;
        if (*n >= 8) return js_fail_at(js_path_of(c, s), key, "more than 8 schema dependencies are not supported");
        VKA_TRY(rewrite_dependent(c, s, d->string, d, &choices[(*n)++]));
    }
    return VKA_OK;
}

/* Under the lenient option a `not` (or `if`) this converter cannot negate
 * exactly is dropped with a warning instead of refusing the schema. */
static vka_status lenient_drop(js_conv *c, vka_status st, const char *path, const char *keyword, uint32_t *n) {
    if (st != VKA_ERR_GRAMMAR || !(c->flags & VKA_JSON_SCHEMA_LENIENT)) return st;
    char why[600];
    snprintf(why, sizeof why, "ignored (lenient): %s", vka_last_error());
    js_warn(c, path, keyword, why);
    (*n)--;
    return VKA_OK;
}

static vka_status rewrite_uncached(js_conv *c, const cJSON *s, const char *path, const cJSON **choices, uint32_t *n) {
    const cJSON *not = cJSON_GetObjectItemCaseSensitive(s, "not");
    if (not) VKA_TRY(lenient_drop(c, rewrite_not(c, s, not, &choices[(*n)++]), path, "not", n));
    const cJSON *cond = cJSON_GetObjectItemCaseSensitive(s, "if");
    bool branches = cJSON_GetObjectItemCaseSensitive(s, "then") || cJSON_GetObjectItemCaseSensitive(s, "else");
    if (cond && branches) VKA_TRY(lenient_drop(c, rewrite_if(c, s, cond, &choices[(*n)++]), path, "if", n));
    VKA_TRY(rewrite_dependencies(c, s, "dependentSchemas", choices, n));
    return rewrite_dependencies(c, s, "dependencies", choices, n);
}

vka_status js_rewrite_choices(js_conv *c, const cJSON *s, const char *path, const cJSON **choices, uint32_t *n) {
    *n = 0;
    for (uint32_t i = 0; i < c->n_rewrites; i++)
        if (c->rewrites[i].src == s) {
            *n = c->rewrites[i].n;
            memcpy(choices, c->rewrites[i].choices, *n * sizeof *choices);
            return VKA_OK;
        }
    VKA_TRY(rewrite_uncached(c, s, path, choices, n));
    if (!js_grow((void **)&c->rewrites, &c->cap_rewrites, c->n_rewrites + 1, sizeof *c->rewrites)) return js_oom();
    js_rewrite_memo *m = &c->rewrites[c->n_rewrites++];
    m->src = s;
    m->n = *n;
    memcpy(m->choices, choices, *n * sizeof *choices);
    return VKA_OK;
}

vka_status js_negation(js_conv *c, const cJSON *s, const cJSON **out) {
    /* memoized like the choices, so the same schema always has the same negation */
    for (uint32_t i = 0; i < c->n_negations; i++)
        if (c->negations[i].src == s) {
            *out = c->negations[i].choices[0];
            return VKA_OK;
        }
    cJSON *neg = NULL;
    VKA_TRY(negate(c, s, 0, &neg));
    VKA_TRY(keep(c, neg, s, out));
    VKA_TRY(index_made(c, neg, s));
    if (!js_grow((void **)&c->negations, &c->cap_negations, c->n_negations + 1, sizeof *c->negations)) return js_oom();
    c->negations[c->n_negations++] = (js_rewrite_memo){.src = s, .choices = {*out}, .n = 1};
    return VKA_OK;
}

/* ---------------------------------------------------------------- exclusive oneOf */

typedef struct exclusive_memo {
    const cJSON *list;
    uint64_t *partners;
    uint32_t n;
    const cJSON *made;
} exclusive_memo;

vka_status js_exclusive_one_of(js_conv *c, const cJSON *list, const uint64_t *partners, uint32_t n, const cJSON **out) {
    exclusive_memo *memo = c->exclusive;
    for (uint32_t i = 0; i < c->n_exclusive; i++)
        if (memo[i].list == list && memo[i].n == n && memcmp(memo[i].partners, partners, n * sizeof *partners) == 0) {
            *out = memo[i].made;
            return VKA_OK;
        }
    cJSON *made = cJSON_CreateArray();
    if (!made) return js_oom();
    vka_status s = VKA_OK;
    uint32_t i = 0;
    for (const cJSON *m = list->child; m && s == VKA_OK; m = m->next, i++) {
        cJSON *member = NULL;
        if (!partners[i]) {
            s = alias(c, m, &member);
        } else {
            /* allOf [member, not partner, ...] */
            cJSON *all = cJSON_CreateArray(), *self = NULL;
            member = cJSON_CreateObject();
            s = all && member ? alias(c, m, &self) : js_oom();
            if (s == VKA_OK) cJSON_AddItemToArray(all, self);
            uint32_t j = 0;
            for (const cJSON *o = list->child; o && s == VKA_OK; o = o->next, j++) {
                if (!((partners[i] >> j) & 1)) continue;
                const cJSON *neg = NULL;
                s = js_negation(c, o, &neg);
                cJSON *ref = NULL;
                if (s == VKA_OK) s = alias(c, neg, &ref);
                if (s == VKA_OK) cJSON_AddItemToArray(all, ref);
            }
            if (member) cJSON_AddItemToObject(member, "allOf", all);
            else cJSON_Delete(all);
        }
        if (member) cJSON_AddItemToArray(made, member);
    }
    if (s != VKA_OK) {
        cJSON_Delete(made);
        return s;
    }
    const cJSON *kept;
    VKA_TRY(keep_list(c, made, list, &kept));
    VKA_TRY(index_made(c, made, list));
    if (!js_grow((void **)&c->exclusive, &c->cap_exclusive, c->n_exclusive + 1, sizeof(exclusive_memo))) return js_oom();
    uint64_t *copy = malloc(n * sizeof *copy);
    if (!copy) return js_oom();
    memcpy(copy, partners, n * sizeof *copy);
    ((exclusive_memo *)c->exclusive)[c->n_exclusive++] = (exclusive_memo){list, copy, n, kept};
    *out = kept;
    return VKA_OK;
}

void js_exclusive_free(js_conv *c) {
    exclusive_memo *memo = c->exclusive;
    for (uint32_t i = 0; i < c->n_exclusive; i++) free(memo[i].partners);
    free(c->exclusive);
}
