/* schema_check.c — validation of JSON values against the schema subset:
 * type, properties, required, additionalProperties, items, min/maxItems,
 * enum, const, min/maxLength, minimum/maximum (+exclusive), anyOf, oneOf,
 * local $ref, with sibling keywords applying alongside combiners. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "schema_check.h"

static bool fail(char *why, size_t cap, const char *msg, const char *detail) {
    snprintf(why, cap, "%s%s%s", msg, detail ? ": " : "", detail ? detail : "");
    return false;
}

static const cJSON *follow(const cJSON *root, const char *ref) {
    const cJSON *node = root;
    const char *p = ref + 1;
    while (node && *p == '/') {
        char key[128];
        size_t n = 0;
        for (p++; *p && *p != '/' && n < sizeof key - 1; p++) key[n++] = *p;
        key[n] = '\0';
        node = cJSON_GetObjectItemCaseSensitive(node, key);
    }
    return node;
}

static size_t utf8_length(const char *s) {
    size_t n = 0;
    for (; *s; s++) n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

static bool is_type(const cJSON *v, const char *t) {
    if (!strcmp(t, "object")) return cJSON_IsObject(v);
    if (!strcmp(t, "array")) return cJSON_IsArray(v);
    if (!strcmp(t, "string")) return cJSON_IsString(v);
    if (!strcmp(t, "number")) return cJSON_IsNumber(v);
    if (!strcmp(t, "integer")) return cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble);
    if (!strcmp(t, "boolean")) return cJSON_IsBool(v);
    if (!strcmp(t, "null")) return cJSON_IsNull(v);
    return false;
}

static bool check_type(const cJSON *type, const cJSON *v, char *why, size_t cap) {
    if (!type) return true;
    if (cJSON_IsString(type)) return is_type(v, type->valuestring) || fail(why, cap, "wrong type, wanted", type->valuestring);
    const cJSON *t;
    cJSON_ArrayForEach(t, type) if (is_type(v, t->valuestring)) return true;
    return fail(why, cap, "wrong type", NULL);
}

static bool check_enum(const cJSON *s, const cJSON *v, char *why, size_t cap) {
    const cJSON *en = cJSON_GetObjectItemCaseSensitive(s, "enum"), *cn = cJSON_GetObjectItemCaseSensitive(s, "const");
    if (cn && !cJSON_Compare(cn, v, true)) return fail(why, cap, "not the const value", NULL);
    if (!en) return true;
    const cJSON *e;
    cJSON_ArrayForEach(e, en) if (cJSON_Compare(e, v, true)) return true;
    return fail(why, cap, "not one of the enum values", NULL);
}

static bool check_number(const cJSON *s, const cJSON *v, char *why, size_t cap) {
    if (!cJSON_IsNumber(v)) return true;
    const cJSON *k;
    if ((k = cJSON_GetObjectItemCaseSensitive(s, "minimum")) && v->valuedouble < k->valuedouble) return fail(why, cap, "below minimum", NULL);
    if ((k = cJSON_GetObjectItemCaseSensitive(s, "maximum")) && v->valuedouble > k->valuedouble) return fail(why, cap, "above maximum", NULL);
    if ((k = cJSON_GetObjectItemCaseSensitive(s, "exclusiveMinimum")) && cJSON_IsNumber(k) && v->valuedouble <= k->valuedouble)
        return fail(why, cap, "not above exclusiveMinimum", NULL);
    if ((k = cJSON_GetObjectItemCaseSensitive(s, "exclusiveMaximum")) && cJSON_IsNumber(k) && v->valuedouble >= k->valuedouble)
        return fail(why, cap, "not below exclusiveMaximum", NULL);
    return true;
}

static bool check_string(const cJSON *s, const cJSON *v, char *why, size_t cap) {
    if (!cJSON_IsString(v)) return true;
    size_t n = utf8_length(v->valuestring);
    const cJSON *k;
    if ((k = cJSON_GetObjectItemCaseSensitive(s, "minLength")) && n < (size_t)k->valuedouble) return fail(why, cap, "shorter than minLength", NULL);
    if ((k = cJSON_GetObjectItemCaseSensitive(s, "maxLength")) && n > (size_t)k->valuedouble) return fail(why, cap, "longer than maxLength", NULL);
    return true;
}

static bool check_array(const cJSON *root, const cJSON *s, const cJSON *v, char *why, size_t cap) {
    if (!cJSON_IsArray(v)) return true;
    int n = cJSON_GetArraySize(v);
    const cJSON *k;
    if ((k = cJSON_GetObjectItemCaseSensitive(s, "minItems")) && n < k->valueint) return fail(why, cap, "fewer than minItems", NULL);
    if ((k = cJSON_GetObjectItemCaseSensitive(s, "maxItems")) && n > k->valueint) return fail(why, cap, "more than maxItems", NULL);
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(s, "items"), *e;
    if (items) cJSON_ArrayForEach(e, v) if (!schema_check(root, items, e, why, cap)) return false;
    return true;
}

static bool check_object(const cJSON *root, const cJSON *s, const cJSON *v, char *why, size_t cap) {
    if (!cJSON_IsObject(v)) return true;
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(s, "properties");
    const cJSON *req = cJSON_GetObjectItemCaseSensitive(s, "required"), *r, *m;
    const cJSON *extra = cJSON_GetObjectItemCaseSensitive(s, "additionalProperties");
    cJSON_ArrayForEach(r, req) if (!cJSON_GetObjectItemCaseSensitive(v, r->valuestring)) return fail(why, cap, "missing required", r->valuestring);
    cJSON_ArrayForEach(m, v) {
        const cJSON *ps = props ? cJSON_GetObjectItemCaseSensitive(props, m->string) : NULL;
        if (ps && !schema_check(root, ps, m, why, cap)) return false;
        /* vkagent's default for objects with properties: no others (docs/structured-output.md) */
        bool closed = props ? !cJSON_IsTrue(extra) && !cJSON_IsObject(extra) : cJSON_IsFalse(extra);
        if (!ps && closed) return fail(why, cap, "property not allowed", m->string);
        if (!ps && cJSON_IsObject(extra) && !schema_check(root, extra, m, why, cap)) return false;
    }
    return true;
}

/* anyOf: at least one; oneOf: exactly one. */
static bool check_combiners(const cJSON *root, const cJSON *s, const cJSON *v, char *why, size_t cap) {
    const char *keys[] = {"anyOf", "oneOf"};
    for (int k = 0; k < 2; k++) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(s, keys[k]), *alt;
        if (!list) continue;
        int matches = 0;
        char inner[256];
        cJSON_ArrayForEach(alt, list) matches += schema_check(root, alt, v, inner, sizeof inner);
        if (matches == 0) return fail(why, cap, keys[k], "no alternative matches");
        if (k == 1 && matches > 1) return fail(why, cap, "oneOf", "more than one alternative matches");
    }
    return true;
}

bool schema_check(const cJSON *root, const cJSON *s, const cJSON *v, char *why, size_t cap) {
    if (cJSON_IsTrue(s)) return true;
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(s, "$ref");
    if (ref) {
        const cJSON *target = follow(root, ref->valuestring);
        if (!target) return fail(why, cap, "unresolvable $ref", ref->valuestring);
        if (!schema_check(root, target, v, why, cap)) return false;
    }
    return check_type(cJSON_GetObjectItemCaseSensitive(s, "type"), v, why, cap) && check_enum(s, v, why, cap) &&
           check_number(s, v, why, cap) && check_string(s, v, why, cap) && check_array(root, s, v, why, cap) &&
           check_object(root, s, v, why, cap) && check_combiners(root, s, v, why, cap);
}
