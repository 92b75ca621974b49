/* json_schema_node.c — the normal form of a schema: the conjunction of a set
 * of source schemas (allOf members and $ref targets flattened into the set)
 * reduced to one node with a facet per JSON type, or to a union of such
 * nodes when anyOf/oneOf/if/not choices are distributed. Equal sets give the
 * same node, which is what makes recursive schemas finite. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "structured/json_schema_impl.h"
#include "structured/json_schema_keywords.h"
#include "base/status.h"

/* ---------------------------------------------------------------- sets */

static int cmp_src(const js_src *a, const js_src *b) {
    if (a->schema != b->schema) return a->schema < b->schema ? -1 : 1;
    return (int)a->plain - (int)b->plain;
}

/* Adds a source; "plain" dominates, since a plain source's choices are
 * already distributed by whoever marked it. */
vka_status js_set_add(js_set *s, const cJSON *schema, bool plain) {
    uint32_t i = 0;
    while (i < s->n && s->items[i].schema < schema) i++;
    if (i < s->n && s->items[i].schema == schema) {
        if (plain) s->items[i].plain = true;
        return VKA_OK;
    }
    uint32_t cap = s->n;    /* exact capacity: sets are small and many */
    js_src *p = realloc(s->items, (size_t)(cap + 1) * sizeof *p);
    if (!p) return js_oom();
    s->items = p;
    memmove(p + i + 1, p + i, (size_t)(s->n - i) * sizeof *p);
    p[i] = (js_src){schema, plain};
    s->n++;
    return VKA_OK;
}

vka_status js_set_union(js_set *into, const js_set *from) {
    for (uint32_t i = 0; i < from->n; i++) VKA_TRY(js_set_add(into, from->items[i].schema, from->items[i].plain));
    return VKA_OK;
}

void js_set_free(js_set *s) {
    free(s->items);
    *s = (js_set){0};
}

static bool set_equal(const js_set *a, const js_set *b) {
    if (a->n != b->n) return false;
    for (uint32_t i = 0; i < a->n; i++)
        if (cmp_src(&a->items[i], &b->items[i]) != 0) return false;
    return true;
}

static vka_status set_copy(const js_set *from, js_set *to) {
    *to = (js_set){0};
    if (!from->n) return VKA_OK;
    to->items = malloc((size_t)from->n * sizeof *to->items);
    if (!to->items) return js_oom();
    memcpy(to->items, from->items, (size_t)from->n * sizeof *to->items);
    to->n = from->n;
    return VKA_OK;
}

/* ---------------------------------------------------------------- small helpers */

static bool has_string(char *const *list, uint32_t n, const char *s) {
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(list[i], s) == 0) return true;
    return false;
}

static vka_status add_string(char ***list, uint32_t *n, const char *s) {
    if (has_string(*list, *n, s)) return VKA_OK;
    char **p = realloc(*list, (size_t)(*n + 1) * sizeof *p);
    if (!p) return js_oom();
    *list = p;
    if (!(p[*n] = strdup(s))) return js_oom();
    (*n)++;
    return VKA_OK;
}

static void free_strings(char **list, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) free(list[i]);
    free(list);
}

/* A non-negative integer keyword value (counts and lengths). */
static vka_status get_count(const cJSON *schema, const char *path, const char *key, uint64_t *out, bool *present) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(schema, key);
    *present = v != NULL;
    if (!v) return VKA_OK;
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble != floor(v->valuedouble) || isinf(v->valuedouble))
        return js_fail_at(path, key, "must be a non-negative integer");
    *out = v->valuedouble >= 1.8e19 ? JS_UNBOUNDED - 1 : (uint64_t)v->valuedouble;
    return VKA_OK;
}

static void raise_min(uint64_t *min, uint64_t v) {
    if (v > *min) *min = v;
}

static void lower_max(uint64_t *max, uint64_t v) {
    if (v < *max) *max = v;
}

/* ---------------------------------------------------------------- type */

static vka_status type_mask(const char *path, const char *name, unsigned *mask) {
    static const struct {
        const char *name;
        unsigned mask;
    } types[] = {{"null", JT_NULL},     {"boolean", JT_BOOL},  {"object", JT_OBJECT},   {"array", JT_ARRAY},
                 {"string", JT_STRING}, {"number", JT_NUMBER}, {"integer", JT_INTEGER}};
    for (size_t i = 0; i < sizeof types / sizeof *types; i++)
        if (strcmp(types[i].name, name) == 0) return *mask = types[i].mask, VKA_OK;
    return js_fail_at(path, "type", "unknown type '%s' (HINT: one of null, boolean, object, array, string, number, integer)",
                      name);
}

static vka_status apply_type(js_node *n, const cJSON *type, const char *path) {
    unsigned mask = 0;
    if (cJSON_IsString(type)) {
        VKA_TRY(type_mask(path, type->valuestring, &mask));
    } else if (cJSON_IsArray(type)) {
        for (const cJSON *t = type->child; t; t = t->next) {
            unsigned m;
            if (!cJSON_IsString(t)) return js_fail_at(path, "type", "must list type names (strings)");
            VKA_TRY(type_mask(path, t->valuestring, &m));
            mask |= m;
        }
    } else {
        return js_fail_at(path, "type", "must be a type name or an array of them");
    }
    n->types &= mask;
    return VKA_OK;
}

/* ---------------------------------------------------------------- enum / const */

/* A set of JSON values by deep equality, hashed: enums of thousands of
 * values are intersected and deduplicated in linear time. Containers hash by
 * their type alone (compared one by one, as they are rare in enums). */
typedef struct value_set {
    const cJSON **slots;
    uint32_t cap;                       /* a power of two, at least twice the values */
} value_set;

static uint64_t value_hash(const cJSON *v) {
    uint64_t h = 1469598103934665603u;
    if (cJSON_IsString(v)) {
        for (const unsigned char *p = (const unsigned char *)v->valuestring; *p; p++) h = (h ^ *p) * 1099511628211u;
    } else if (cJSON_IsNumber(v)) {
        double d = v->valuedouble == 0 ? 0.0 : v->valuedouble;    /* -0 equals 0 */
        uint64_t bits;
        memcpy(&bits, &d, sizeof bits);
        h = (h ^ bits) * 1099511628211u;
    }
    return (h ^ (uint64_t)(v->type & 0xFF)) * 1099511628211u;
}

static bool value_set_init(value_set *vs, uint32_t n) {
    vs->cap = 16;
    while (vs->cap < 2 * (uint64_t)n + 2) vs->cap *= 2;
    vs->slots = calloc(vs->cap, sizeof *vs->slots);
    return vs->slots != NULL;
}

/* The slot of v: where an equal value is, or the empty one to put it in. */
static const cJSON **value_slot(const value_set *vs, const cJSON *v) {
    uint32_t k = (uint32_t)value_hash(v) & (vs->cap - 1);
    while (vs->slots[k] && !js_json_equal(vs->slots[k], v)) k = (k + 1) & (vs->cap - 1);
    return &vs->slots[k];
}

/* values := values ∩ list (deep equality); NULL values means "unrestricted". */
static vka_status intersect_values(js_node *n, const cJSON *list, bool single) {
    uint32_t k = single ? 1 : (uint32_t)cJSON_GetArraySize(list);
    value_set old = {0}, kept = {0};
    cJSON *out = cJSON_CreateArray();
    bool ok = out && value_set_init(&kept, k) && (!n->values || value_set_init(&old, (uint32_t)cJSON_GetArraySize(n->values)));
    for (const cJSON *w = ok && n->values ? n->values->child : NULL; w; w = w->next) *value_slot(&old, w) = w;
    for (const cJSON *v = single ? list : list->child; ok && v; v = single ? NULL : v->next) {
        if (n->values && !*value_slot(&old, v)) continue;
        const cJSON **slot = value_slot(&kept, v);
        if (*slot) continue;    /* duplicates in an enum */
        cJSON *dup = cJSON_Duplicate(v, true);
        ok = dup != NULL;
        if (ok) cJSON_AddItemToArray(out, dup), *slot = dup;
    }
    free(old.slots);
    free(kept.slots);
    if (!ok) {
        cJSON_Delete(out);
        return js_oom();
    }
    cJSON_Delete(n->values);
    n->values = out;
    return VKA_OK;
}

static vka_status add_excluded(js_node *n, const cJSON *list, bool single) {
    if (!n->excluded && !(n->excluded = cJSON_CreateArray())) return js_oom();
    for (const cJSON *v = single ? list : list->child; v; v = single ? NULL : v->next) {
        cJSON *dup = cJSON_Duplicate(v, true);
        if (!dup) return js_oom();
        cJSON_AddItemToArray(n->excluded, dup);
    }
    return VKA_OK;
}

/* ---------------------------------------------------------------- strings */

static vka_status and_lang(js_node *n, re_lang *l) {
    if (!n->lang) {
        n->lang = l;
        return VKA_OK;
    }
    re_lang *both = NULL;
    vka_status s = re_intersect(n->lang, l, &both);
    re_free(l);
    if (s != VKA_OK) return s;
    re_free(n->lang);
    n->lang = both;
    return VKA_OK;
}

/* A regex error message, re-attributed to the keyword's JSON pointer. */
static vka_status regex_error(const char *path, const char *keyword, vka_status s) {
    if (s == VKA_ERR_OUT_OF_MEMORY) return s;
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", vka_last_error());
    return js_fail_at(path, keyword, "%s", msg);
}

/* Patterns compiled once per converter, by their text: a definition's
 * pattern is met again in every node that uses it. */
typedef struct js_lang_memo {
    const char *pattern;                /* the document's string; NULL: empty slot */
    re_lang *lang;
} js_lang_memo;

void js_lang_memo_free(js_conv *c) {
    js_lang_memo *table = c->lang_memo;
    for (uint32_t i = 0; i < c->cap_lang_memo; i++) re_free(table[i].lang);
    free(table);
    c->lang_memo = NULL;
    c->n_lang_memo = c->cap_lang_memo = 0;
}

static js_lang_memo *lang_slot(js_lang_memo *table, uint32_t cap, const char *pattern) {
    uint64_t h = 1469598103934665603u;
    for (const unsigned char *p = (const unsigned char *)pattern; *p; p++) h = (h ^ *p) * 1099511628211u;
    uint32_t k = (uint32_t)(h ^ (h >> 32)) & (cap - 1);
    while (table[k].pattern && strcmp(table[k].pattern, pattern) != 0) k = (k + 1) & (cap - 1);
    return &table[k];
}

static bool lang_memo_reserve(js_conv *c) {
    if ((uint64_t)(c->n_lang_memo + 1) * 2 <= c->cap_lang_memo) return true;
    uint32_t cap = c->cap_lang_memo ? c->cap_lang_memo * 2 : 64;
    js_lang_memo *table = calloc(cap, sizeof *table), *old = c->lang_memo;
    if (!table) return false;
    for (uint32_t i = 0; i < c->cap_lang_memo; i++)
        if (old[i].pattern) *lang_slot(table, cap, old[i].pattern) = old[i];
    free(old);
    c->lang_memo = table;
    c->cap_lang_memo = cap;
    return true;
}

/* The pattern's language, a copy of the one compiled first. */
static vka_status pattern_lang(js_conv *c, const char *pattern, re_lang **out) {
    if (!lang_memo_reserve(c)) return js_oom();
    js_lang_memo *e = lang_slot(c->lang_memo, c->cap_lang_memo, pattern);
    if (!e->pattern) {
        re_lang *l = NULL;
        VKA_TRY(re_from_pattern(pattern, &l));
        *e = (js_lang_memo){pattern, l};
        c->n_lang_memo++;
    }
    return re_copy(e->lang, out);
}

/* Intersects the node's strings with l, or with its complement (for `not`);
 * takes l. */
static vka_status and_lang_negated(js_node *n, re_lang *l, bool negate) {
    if (negate) {
        re_lang *comp = NULL;
        vka_status s = re_complement(l, &comp);
        re_free(l);
        if (s != VKA_OK) return s;
        l = comp;
    }
    return and_lang(n, l);
}

static vka_status apply_pattern(js_conv *c, js_node *n, const cJSON *v, const char *path, bool negate) {
    if (!cJSON_IsString(v)) return js_fail_at(path, "pattern", "must be a string (an ECMA-262 regular expression)");
    re_lang *l = NULL;
    vka_status s = pattern_lang(c, v->valuestring, &l);
    if (s != VKA_OK) return regex_error(path, "pattern", s);
    return and_lang_negated(n, l, negate);
}

/* ajv-formats' number formats: int32 and int64 only allow integers (int32
 * within its range); float, double and the always-valid formats add nothing. */
static bool apply_number_format(js_node *n, const char *f) {
    if (strcmp(f, "int32") == 0) {
        n->types &= ~(unsigned)JT_FRACTION;
        js_number_spec *num = &n->num;
        if (!num->has_min || num->min < -2147483648.0) num->has_min = true, num->min = -2147483648.0, num->min_exclusive = false;
        if (!num->has_max || num->max > 2147483647.0) num->has_max = true, num->max = 2147483647.0, num->max_exclusive = false;
        return true;
    }
    if (strcmp(f, "int64") == 0) {
        n->types &= ~(unsigned)JT_FRACTION;
        return true;
    }
    return strcmp(f, "float") == 0 || strcmp(f, "double") == 0 || strcmp(f, "password") == 0 ||
           strcmp(f, "binary") == 0;
}

static vka_status apply_format(js_conv *c, js_node *n, const cJSON *v, const char *path, bool negate) {
    if (!cJSON_IsString(v)) return js_fail_at(path, "format", "must be a string");
    const char *f = v->valuestring;
    if (!negate && apply_number_format(n, f)) return VKA_OK;
    bool known = false;
    re_lang *l = NULL;
    vka_status s = re_from_format(f, &known, &l);
    if (s != VKA_OK) return regex_error(path, "format", s);
    if (!known) {
        if (!re_format_is_validated(f)) return VKA_OK;     /* an annotation, as for ajv */
        if (c->flags & VKA_JSON_SCHEMA_LENIENT) {
            js_warn(c, path, "format", "ignored: this format is not enforced (lenient)");
            return VKA_OK;
        }
        return js_fail_at(path, "format", "'%s' cannot be enforced exactly (HINT: use a pattern, or the lenient option "
                                          "to ignore it)", f);
    }
    return and_lang_negated(n, l, negate);
}

static vka_status apply_string(js_conv *c, js_node *n, const cJSON *s, const char *path) {
    uint64_t v;
    bool present;
    VKA_TRY(get_count(s, path, "minLength", &v, &present));
    if (present) raise_min(&n->min_len, v);
    VKA_TRY(get_count(s, path, "maxLength", &v, &present));
    if (present) lower_max(&n->max_len, v);
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(s, "pattern");
    if (p) VKA_TRY(apply_pattern(c, n, p, path, false));
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(s, "format");
    if (f) VKA_TRY(apply_format(c, n, f, path, false));
    return VKA_OK;
}

/* ---------------------------------------------------------------- numbers */

static vka_status number_value(const cJSON *s, const char *path, const char *key, const cJSON **out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(s, key);
    *out = v;
    if (v && !cJSON_IsNumber(v) && !cJSON_IsBool(v)) return js_fail_at(path, key, "must be a number");
    if (v && cJSON_IsNumber(v) && !isfinite(v->valuedouble)) return js_fail_at(path, key, "must be a finite number");
    return VKA_OK;
}

static void raise_bound(js_number_spec *n, double v, bool exclusive) {
    if (!n->has_min || v > n->min || (v == n->min && exclusive)) {
        n->has_min = true;
        n->min = v;
        n->min_exclusive = exclusive;
    }
}

static void lower_bound(js_number_spec *n, double v, bool exclusive) {
    if (!n->has_max || v < n->max || (v == n->max && exclusive)) {
        n->has_max = true;
        n->max = v;
        n->max_exclusive = exclusive;
    }
}

static double gcd(double a, double b) {
    while (b > 0) {
        double t = fmod(a, b);
        a = b;
        b = t;
    }
    return a;
}

static vka_status apply_multiple(js_node *n, const cJSON *m, const char *path) {
    if (!cJSON_IsNumber(m) || !(m->valuedouble > 0) || !isfinite(m->valuedouble))
        return js_fail_at(path, "multipleOf", "must be a number above 0");
    double v = m->valuedouble, old = n->num.multiple_of;
    if (old == 0 || old == v) {
        n->num.multiple_of = v;
        return VKA_OK;
    }
    /* two integer divisors: their least common multiple (exact below 2^53) */
    if (v == floor(v) && old == floor(old)) {
        double l = old / gcd(old, v) * v;
        if (l < 9007199254740992.0) {
            n->num.multiple_of = l;
            return VKA_OK;
        }
    }
    return js_fail_at(path, "multipleOf", "%g together with another multipleOf %g is not supported", v, old);
}

static vka_status apply_number(js_node *n, const cJSON *s, const char *path) {
    const cJSON *mn, *mx, *emn, *emx;
    VKA_TRY(number_value(s, path, "minimum", &mn));
    VKA_TRY(number_value(s, path, "maximum", &mx));
    VKA_TRY(number_value(s, path, "exclusiveMinimum", &emn));
    VKA_TRY(number_value(s, path, "exclusiveMaximum", &emx));
    if ((mn && cJSON_IsBool(mn)) || (mx && cJSON_IsBool(mx))) return js_fail_at(path, "minimum", "must be a number");
    /* draft 4: a boolean exclusiveMinimum/exclusiveMaximum modifies minimum/maximum */
    if (mn) raise_bound(&n->num, mn->valuedouble, emn && cJSON_IsTrue(emn));
    if (mx) lower_bound(&n->num, mx->valuedouble, emx && cJSON_IsTrue(emx));
    if (emn && cJSON_IsNumber(emn)) raise_bound(&n->num, emn->valuedouble, true);
    if (emx && cJSON_IsNumber(emx)) lower_bound(&n->num, emx->valuedouble, true);
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(s, "multipleOf");
    if (m) VKA_TRY(apply_multiple(n, m, path));
    return VKA_OK;
}

/* ---------------------------------------------------------------- objects */

static vka_status add_names_of(js_node *n, const cJSON *props) {
    for (const cJSON *k = props ? props->child : NULL; k; k = k->next) VKA_TRY(add_string(&n->names, &n->n_names, k->string));
    return VKA_OK;
}

/* The languages of a patternProperties object, compiled once per converter:
 * every node with the source among its set uses the same ones. */
typedef struct js_pattern_memo {
    const cJSON *pats;
    re_lang **langs;
    uint32_t n;
} js_pattern_memo;

static vka_status compile_patterns(js_conv *c, js_obj_src *o, const char *path) {
    uint32_t n = (uint32_t)cJSON_GetArraySize(o->pattern_properties);
    if (!n) return VKA_OK;
    for (uint32_t m = 0; m < c->n_pattern_memo; m++)
        if (c->pattern_memo[m].pats == o->pattern_properties) {
            o->pattern_langs = c->pattern_memo[m].langs;
            return VKA_OK;
        }
    if (!js_grow((void **)&c->pattern_memo, &c->cap_pattern_memo, c->n_pattern_memo + 1, sizeof *c->pattern_memo))
        return js_oom();
    re_lang **langs = calloc(n, sizeof *langs);
    if (!langs) return js_oom();
    c->pattern_memo[c->n_pattern_memo++] = (js_pattern_memo){o->pattern_properties, langs, n};
    o->pattern_langs = langs;
    uint32_t i = 0;
    for (const cJSON *k = o->pattern_properties->child; k; k = k->next, i++) {
        vka_status s = re_from_pattern(k->string, &langs[i]);
        if (s != VKA_OK) return regex_error(path, "patternProperties", s);
    }
    return VKA_OK;
}

static void pattern_memo_free(js_conv *c) {
    for (uint32_t m = 0; m < c->n_pattern_memo; m++) {
        for (uint32_t i = 0; i < c->pattern_memo[m].n; i++) re_free(c->pattern_memo[m].langs[i]);
        free(c->pattern_memo[m].langs);
    }
    free(c->pattern_memo);
    c->pattern_memo = NULL;
    c->n_pattern_memo = c->cap_pattern_memo = 0;
}

static vka_status apply_object_members(js_conv *c, js_node *n, const cJSON *s, const char *path) {
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(s, "properties");
    const cJSON *pats = cJSON_GetObjectItemCaseSensitive(s, "patternProperties");
    const cJSON *addl = cJSON_GetObjectItemCaseSensitive(s, "additionalProperties");
    if (props && !cJSON_IsObject(props)) return js_fail_at(path, "properties", "must be an object of schemas");
    if (pats && !cJSON_IsObject(pats)) return js_fail_at(path, "patternProperties", "must be an object of schemas");
    if (addl && !cJSON_IsObject(addl) && !cJSON_IsBool(addl))
        return js_fail_at(path, "additionalProperties", "must be a schema");
    if (!props && !pats && !addl) return VKA_OK;
    js_obj_src *p = realloc(n->objs, (size_t)(n->n_objs + 1) * sizeof *p);
    if (!p) return js_oom();
    n->objs = p;
    js_obj_src *o = &p[n->n_objs++];
    *o = (js_obj_src){.properties = props, .pattern_properties = pats, .additional = addl};
    VKA_TRY(compile_patterns(c, o, path));
    return add_names_of(n, props);
}

static vka_status string_list(const cJSON *v, const char *path, const char *key) {
    if (!cJSON_IsArray(v)) return js_fail_at(path, key, "must be an array of property names");
    for (const cJSON *e = v->child; e; e = e->next)
        if (!cJSON_IsString(e)) return js_fail_at(path, key, "must list property names (strings)");
    return VKA_OK;
}

static vka_status add_dep(js_node *n, const char *name, const cJSON *list) {
    js_dep *p = realloc(n->deps, (size_t)(n->n_deps + 1) * sizeof *p);
    if (!p) return js_oom();
    n->deps = p;
    js_dep *d = &p[n->n_deps++];
    *d = (js_dep){0};
    if (!(d->name = strdup(name))) return js_oom();
    for (const cJSON *e = list->child; e; e = e->next) VKA_TRY(add_string(&d->requires, &d->n_requires, e->valuestring));
    return VKA_OK;
}

static vka_status apply_dependencies(js_node *n, const cJSON *deps, const char *path, const char *key) {
    if (!cJSON_IsObject(deps)) return js_fail_at(path, key, "must be an object");
    for (const cJSON *d = deps->child; d; d = d->next) {
        if (!cJSON_IsArray(d)) continue;   /* schema-valued dependencies are choices (see flatten) */
        VKA_TRY(string_list(d, path, key));
        VKA_TRY(add_dep(n, d->string, d));
        VKA_TRY(add_string(&n->names, &n->n_names, d->string));
        for (const cJSON *e = d->child; e; e = e->next) VKA_TRY(add_string(&n->names, &n->n_names, e->valuestring));
    }
    return VKA_OK;
}

static vka_status apply_object(js_conv *c, js_node *n, const cJSON *s, const char *path) {
    VKA_TRY(apply_object_members(c, n, s, path));
    const cJSON *req = cJSON_GetObjectItemCaseSensitive(s, "required");
    if (req) {
        VKA_TRY(string_list(req, path, "required"));
        for (const cJSON *e = req->child; e; e = e->next) {
            VKA_TRY(add_string(&n->required, &n->n_required, e->valuestring));
            VKA_TRY(add_string(&n->names, &n->n_names, e->valuestring));
        }
    }
    const cJSON *forbid = cJSON_GetObjectItemCaseSensitive(s, JS_KW_FORBID);
    for (const cJSON *e = forbid ? forbid->child : NULL; e; e = e->next)
        VKA_TRY(add_string(&n->forbidden, &n->n_forbidden, e->valuestring));
    uint64_t v;
    bool present;
    VKA_TRY(get_count(s, path, "minProperties", &v, &present));
    if (present) raise_min(&n->min_props, v);
    VKA_TRY(get_count(s, path, "maxProperties", &v, &present));
    if (present) lower_max(&n->max_props, v);
    const cJSON *dr = cJSON_GetObjectItemCaseSensitive(s, "dependentRequired");
    if (dr) VKA_TRY(apply_dependencies(n, dr, path, "dependentRequired"));
    const cJSON *dp = cJSON_GetObjectItemCaseSensitive(s, "dependencies");
    if (dp) VKA_TRY(apply_dependencies(n, dp, path, "dependencies"));
    const cJSON *pn = cJSON_GetObjectItemCaseSensitive(s, "propertyNames");
    if (pn) {
        if (!cJSON_IsObject(pn) && !cJSON_IsBool(pn)) return js_fail_at(path, "propertyNames", "must be a schema");
        VKA_TRY(js_set_add(&n->key_set, pn, false));
    }
    return VKA_OK;
}

/* ---------------------------------------------------------------- arrays */

static vka_status apply_array_items(js_node *n, const cJSON *s, const char *path) {
    const cJSON *prefix = cJSON_GetObjectItemCaseSensitive(s, "prefixItems");
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(s, "items");
    const cJSON *additional = cJSON_GetObjectItemCaseSensitive(s, "additionalItems");
    if (prefix && !cJSON_IsArray(prefix)) return js_fail_at(path, "prefixItems", "must be an array of schemas");
    if (cJSON_IsArray(items)) {
        /* draft 4-7 tuples: items as an array, additionalItems after it */
        if (prefix) return js_fail_at(path, "items", "an array of items beside prefixItems is ambiguous");
        prefix = items;
        items = additional;
    } else if (additional) {
        /* additionalItems without a tuple of items has no effect */
    }
    if (items && !cJSON_IsObject(items) && !cJSON_IsBool(items)) return js_fail_at(path, "items", "must be a schema");
    if (!prefix && !items) return VKA_OK;
    js_arr_src *p = realloc(n->arrs, (size_t)(n->n_arrs + 1) * sizeof *p);
    if (!p) return js_oom();
    n->arrs = p;
    p[n->n_arrs++] = (js_arr_src){prefix, items};
    return VKA_OK;
}

static vka_status apply_array(js_conv *c, js_node *n, const cJSON *s, const char *path) {
    VKA_TRY(apply_array_items(n, s, path));
    uint64_t v;
    bool present;
    VKA_TRY(get_count(s, path, "minItems", &v, &present));
    if (present) raise_min(&n->min_items, v);
    VKA_TRY(get_count(s, path, "maxItems", &v, &present));
    if (present) lower_max(&n->max_items, v);
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(s, "uniqueItems");
    if (u && !cJSON_IsBool(u)) return js_fail_at(path, "uniqueItems", "must be a boolean");
    if (cJSON_IsTrue(u)) n->unique = true;
    const cJSON *contains = cJSON_GetObjectItemCaseSensitive(s, "contains");
    uint64_t minc = 1, maxc = JS_UNBOUNDED;
    VKA_TRY(get_count(s, path, "minContains", &v, &present));
    if (present) minc = v;
    VKA_TRY(get_count(s, path, "maxContains", &v, &present));
    if (present) maxc = v;
    if (!contains) return VKA_OK;
    if (!cJSON_IsObject(contains) && !cJSON_IsBool(contains)) return js_fail_at(path, "contains", "must be a schema");
    if (n->contains && n->contains != contains) {
        if (c->flags & VKA_JSON_SCHEMA_LENIENT) {
            js_warn(c, path, "contains", "ignored: a second contains on the same array is not enforced (lenient)");
            return VKA_OK;
        }
        return js_fail_at(path, "contains", "two different 'contains' constraints on one array are not supported");
    }
    n->contains = contains;
    n->min_contains = minc;
    n->max_contains = maxc;
    return VKA_OK;
}

/* ---------------------------------------------------------------- one source */

vka_status js_unsupported(js_conv *c, const char *path, const char *keyword, const char *why) {
    if (c->flags & VKA_JSON_SCHEMA_LENIENT) {
        char msg[512];
        snprintf(msg, sizeof msg, "ignored (lenient): %s", why);
        js_warn(c, path, keyword, msg);
        return VKA_OK;
    }
    return js_fail_at(path, keyword, "%s (HINT: the lenient option ignores it)", why);
}

/* Keywords this converter cannot enforce exactly in a source schema. */
static vka_status check_unsupported(js_conv *c, const cJSON *s, const char *path) {
    for (const cJSON *k = s->child; k; k = k->next) {
        const char *why = js_keyword_unsupported(k->string, k);
        if (why) VKA_TRY(js_unsupported(c, path, k->string, why));
    }
    return VKA_OK;
}

static vka_status apply_source(js_conv *c, js_node *n, const cJSON *s) {
    const char *path = js_path_of(c, s);
    if (cJSON_IsFalse(s)) {
        n->types = 0;
        return VKA_OK;
    }
    if (cJSON_IsTrue(s)) return VKA_OK;
    if (!cJSON_IsObject(s)) return js_fail_at(path, NULL, "a schema must be an object or a boolean");
    VKA_TRY(check_unsupported(c, s, path));
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(s, "type");
    if (type) VKA_TRY(apply_type(n, type, path));
    const cJSON *en = cJSON_GetObjectItemCaseSensitive(s, "enum");
    if (en && !cJSON_IsArray(en)) return js_fail_at(path, "enum", "must be an array");
    if (en) VKA_TRY(intersect_values(n, en, false));
    const cJSON *cn = cJSON_GetObjectItemCaseSensitive(s, "const");
    if (cn) VKA_TRY(intersect_values(n, cn, true));
    const cJSON *ex = cJSON_GetObjectItemCaseSensitive(s, JS_KW_NOT_ENUM);
    if (ex) VKA_TRY(add_excluded(n, ex, false));
    const cJSON *np = cJSON_GetObjectItemCaseSensitive(s, JS_KW_NOT_PATTERN);
    if (np) VKA_TRY(apply_pattern(c, n, np, path, true));
    if (cJSON_GetObjectItemCaseSensitive(s, JS_KW_FRACTION)) n->types &= ~(unsigned)JT_INTEGER;
    const cJSON *nf = cJSON_GetObjectItemCaseSensitive(s, JS_KW_NOT_FORMAT);
    if (nf) VKA_TRY(apply_format(c, n, nf, path, true));
    VKA_TRY(apply_string(c, n, s, path));
    VKA_TRY(apply_number(n, s, path));
    VKA_TRY(apply_object(c, n, s, path));
    return apply_array(c, n, s, path);
}

/* ---------------------------------------------------------------- flattening */

/* Adds the sources a conjunction implies: allOf members and $ref targets
 * (recursively), and collects the choices of the non-plain ones. */
typedef struct flat {
    js_set set;
    js_choice *choices;
    uint32_t n_choices;
    const cJSON **choice_src;           /* the source each choice came from */
} flat;

static vka_status add_choice(flat *f, const cJSON *src, const cJSON *list, bool one_of, const char *path) {
    js_choice *p = realloc(f->choices, (size_t)(f->n_choices + 1) * sizeof *p);
    if (!p) return js_oom();
    f->choices = p;
    const cJSON **q = realloc(f->choice_src, (size_t)(f->n_choices + 1) * sizeof *q);
    if (!q) return js_oom();
    f->choice_src = q;
    p[f->n_choices] = (js_choice){list, one_of, path};
    q[f->n_choices++] = src;
    return VKA_OK;
}

static vka_status schema_list(const cJSON *v, const char *path, const char *key) {
    if (!cJSON_IsArray(v) || !v->child) return js_fail_at(path, key, "must be a non-empty array of schemas");
    for (const cJSON *e = v->child; e; e = e->next)
        if (!cJSON_IsObject(e) && !cJSON_IsBool(e)) return js_fail_at(path, key, "must be a non-empty array of schemas");
    return VKA_OK;
}

/* Choices a source makes: anyOf, oneOf, and the rewritings of not, if/then/else
 * and schema dependencies into anyOf (json_schema_rewrite.c). */
static vka_status collect_choices(js_conv *c, flat *f, const cJSON *s, const char *path) {
    const cJSON *any = cJSON_GetObjectItemCaseSensitive(s, "anyOf");
    if (any) {
        VKA_TRY(schema_list(any, path, "anyOf"));
        VKA_TRY(add_choice(f, s, any, false, path));
    }
    const cJSON *one = cJSON_GetObjectItemCaseSensitive(s, "oneOf");
    if (one) {
        VKA_TRY(schema_list(one, path, "oneOf"));
        VKA_TRY(add_choice(f, s, one, true, path));
    }
    const cJSON *rewritten[8];
    uint32_t n = 0;
    VKA_TRY(js_rewrite_choices(c, s, path, rewritten, &n));
    for (uint32_t i = 0; i < n; i++) VKA_TRY(add_choice(f, s, rewritten[i], false, path));
    return VKA_OK;
}

static vka_status flatten_one(js_conv *c, flat *f, const cJSON *s, bool plain, uint32_t depth) {
    if (depth > JS_MAX_DEPTH) return js_fail_at(js_path_of(c, s), NULL, "allOf/$ref nested deeper than %d levels", JS_MAX_DEPTH);
    for (uint32_t i = 0; i < f->set.n; i++)
        if (f->set.items[i].schema == s && (f->set.items[i].plain || !plain)) return VKA_OK;   /* already in */
    VKA_TRY(js_set_add(&f->set, s, plain));
    if (!cJSON_IsObject(s)) return VKA_OK;
    const char *path = js_path_of(c, s);
    const cJSON *all = cJSON_GetObjectItemCaseSensitive(s, "allOf");
    if (all) {
        VKA_TRY(schema_list(all, path, "allOf"));
        for (const cJSON *m = all->child; m; m = m->next) VKA_TRY(flatten_one(c, f, m, false, depth + 1));
    }
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(s, "$ref");
    if (ref) {
        if (!cJSON_IsString(ref)) return js_fail_at(path, "$ref", "must be a string");
        const cJSON *target;
        VKA_TRY(js_resolve_ref(c, s, ref->valuestring, &target));
        VKA_TRY(flatten_one(c, f, target, false, depth + 1));
    }
    if (!plain) VKA_TRY(collect_choices(c, f, s, path));
    return VKA_OK;
}

static void flat_free(flat *f) {
    js_set_free(&f->set);
    free(f->choices);
    free(f->choice_src);
}

/* ---------------------------------------------------------------- nodes */

static void node_free(js_node *n) {
    js_set_free(&n->set);
    free(n->alts);
    cJSON_Delete(n->values);
    cJSON_Delete(n->excluded);
    re_free(n->lang);
    free(n->objs);
    free_strings(n->names, n->n_names);
    free_strings(n->required, n->n_required);
    free_strings(n->forbidden, n->n_forbidden);
    for (uint32_t i = 0; i < n->n_deps; i++) {
        free(n->deps[i].name);
        free_strings(n->deps[i].requires, n->deps[i].n_requires);
    }
    free(n->deps);
    js_set_free(&n->key_set);
    free(n->arrs);
    free(n->rule);
    free(n);
}

void js_nodes_free(js_conv *c) {
    for (uint32_t i = 0; i < c->n_nodes; i++) node_free(c->nodes[i]);
    free(c->nodes);
    pattern_memo_free(c);
    free(c->node_table);
    c->nodes = NULL;
    c->node_table = NULL;
    c->n_nodes = c->cap_nodes = c->cap_table = 0;
}

/* Nodes are looked up by their set for every member, item and alternative:
 * a hash table keeps that constant-time where a scan made large schemas
 * quadratic in their node count. */
static uint32_t set_hash(const js_set *set) {
    uint64_t h = 1469598103934665603u;
    for (uint32_t i = 0; i < set->n; i++) {
        h = (h ^ (uint64_t)(uintptr_t)set->items[i].schema) * 1099511628211u;
        h = (h ^ (uint64_t)set->items[i].plain) * 1099511628211u;
    }
    return (uint32_t)(h ^ (h >> 29));
}

static void table_put(uint32_t *table, uint32_t cap, uint32_t hash, uint32_t index) {
    uint32_t k = hash & (cap - 1);
    while (table[k]) k = (k + 1) & (cap - 1);
    table[k] = index + 1;
}

static bool table_reserve(js_conv *c, uint32_t n_nodes) {
    if ((uint64_t)n_nodes * 2 <= c->cap_table) return true;
    uint32_t cap = c->cap_table ? c->cap_table * 2 : 64;
    uint32_t *table = calloc(cap, sizeof *table);
    if (!table) return false;
    for (uint32_t i = 0; i < c->n_nodes; i++) table_put(table, cap, set_hash(&c->nodes[i]->set), i);
    free(c->node_table);
    c->node_table = table;
    c->cap_table = cap;
    return true;
}

static vka_status node_new(js_conv *c, const js_set *set, js_node **out) {
    js_node *n = calloc(1, sizeof *n);
    if (!n) return js_oom();
    if (set_copy(set, &n->set) != VKA_OK || !js_grow((void **)&c->nodes, &c->cap_nodes, c->n_nodes + 1, sizeof *c->nodes) ||
        !table_reserve(c, c->n_nodes + 1)) {
        node_free(n);
        return js_oom();
    }
    n->id = c->n_nodes;
    c->nodes[c->n_nodes++] = n;
    table_put(c->node_table, c->cap_table, set_hash(set), n->id);
    n->types = JT_ALL;
    n->max_len = n->max_props = n->max_items = JS_UNBOUNDED;
    n->path = set->n ? js_path_of(c, set->items[0].schema) : "#";
    *out = n;
    return VKA_OK;
}

static js_node *find_node(const js_conv *c, const js_set *set) {
    if (!c->cap_table) return NULL;
    for (uint32_t k = set_hash(set) & (c->cap_table - 1); c->node_table[k]; k = (k + 1) & (c->cap_table - 1))
        if (set_equal(&c->nodes[c->node_table[k] - 1]->set, set)) return c->nodes[c->node_table[k] - 1];
    return NULL;
}

/* Drops enum values that the other keywords reject, and excluded ones, so
 * that the values left are exactly the schema's. */
static vka_status filter_values(js_conv *c, js_node *n) {
    if (!n->values) return VKA_OK;
    cJSON *values = n->values;
    n->values = NULL;
    cJSON *kept = cJSON_CreateArray();
    vka_status s = kept ? VKA_OK : js_oom();
    for (const cJSON *v = values->child; v && s == VKA_OK; v = v->next) {
        bool ok = false;
        s = js_admits(c, n, v, &ok);
        for (const cJSON *x = n->excluded ? n->excluded->child : NULL; x && ok; x = x->next)
            if (js_json_equal(v, x)) ok = false;
        cJSON *dup = ok && s == VKA_OK ? cJSON_Duplicate(v, true) : NULL;
        if (ok && s == VKA_OK && !dup) s = js_oom();
        if (dup) cJSON_AddItemToArray(kept, dup);
    }
    cJSON_Delete(values);
    n->values = kept;
    return s;
}

/* The alternatives: one per combination of the choices' members, each the
 * node of the whole set (choices now plain) plus the chosen members. */
static vka_status build_union(js_conv *c, js_node *n, flat *f) {
    /* oneOf members made exclusive first, in the context of every source */
    js_set ctx = {0};
    vka_status st = set_copy(&f->set, &ctx);
    for (uint32_t i = 0; i < f->n_choices && st == VKA_OK; i++) st = js_set_add(&ctx, f->choice_src[i], true);
    for (uint32_t i = 0; i < f->n_choices && st == VKA_OK; i++)
        if (f->choices[i].one_of) st = js_check_one_of(c, &ctx, &f->choices[i]);
    js_set_free(&ctx);
    VKA_TRY(st);
    uint64_t combos = 1;
    for (uint32_t i = 0; i < f->n_choices; i++) {
        combos *= (uint64_t)cJSON_GetArraySize(f->choices[i].list);
        if (combos > JS_MAX_ALTERNATIVES)
            return js_fail_at(n->path, NULL, "the combinations of anyOf/oneOf/if alternatives here exceed %d (HINT: "
                                             "factor the schema so fewer choices multiply)", JS_MAX_ALTERNATIVES);
    }
    js_set base = {0};
    vka_status s = set_copy(&f->set, &base);
    for (uint32_t i = 0; i < f->n_choices && s == VKA_OK; i++) s = js_set_add(&base, f->choice_src[i], true);
    n->alts = s == VKA_OK ? calloc((size_t)combos, sizeof *n->alts) : NULL;
    if (s == VKA_OK && !n->alts) s = js_oom();
    n->is_union = true;
    /* combinations whose sources admit no common type are empty: they are
     * skipped rather than built (most of them, where choices nest) */
    unsigned base_types = JT_ALL;
    for (uint32_t i = 0; i < base.n && base_types; i++) base_types &= js_type_bound(c, base.items[i].schema);
    /* and so are combinations of objects whose members pin a required
     * member to values that do not meet (json_schema_prune.c) */
    js_union_facts facts = {0};
    const cJSON **lists = s == VKA_OK ? malloc((size_t)f->n_choices * sizeof *lists) : NULL;
    if (s == VKA_OK && !lists) s = js_oom();
    for (uint32_t i = 0; i < f->n_choices && s == VKA_OK; i++) lists[i] = f->choices[i].list;
    if (s == VKA_OK) s = js_union_facts_new(c, &base, lists, f->n_choices, &facts);
    free(lists);
    for (uint64_t k = 0; k < combos && s == VKA_OK; k++) {
        unsigned types = base_types;
        uint64_t rest = k;
        for (uint32_t i = 0; i < f->n_choices && types; i++) {
            uint64_t size = (uint64_t)cJSON_GetArraySize(f->choices[i].list);
            types &= js_type_bound(c, cJSON_GetArrayItem(f->choices[i].list, (int)(rest % size)));
            rest /= size;
        }
        if (!types || (types == JT_OBJECT && js_union_facts_conflict(&facts, k))) continue;
        js_set alt = {0};
        s = set_copy(&base, &alt);
        rest = k;
        for (uint32_t i = 0; i < f->n_choices && s == VKA_OK; i++) {
            uint64_t size = (uint64_t)cJSON_GetArraySize(f->choices[i].list);
            s = js_set_add(&alt, cJSON_GetArrayItem(f->choices[i].list, (int)(rest % size)), false);
            rest /= size;
        }
        js_node *a = NULL;
        if (s == VKA_OK) s = js_node_get(c, &alt, &a);
        js_set_free(&alt);
        if (s == VKA_OK) n->alts[n->n_alts++] = a;
    }
    js_union_facts_free(&facts);
    js_set_free(&base);
    return s;
}

/* The sources' keywords, in document order: declared members come out in the
 * order the schema writes them, whatever the order of the set. */
static vka_status apply_in_document_order(js_conv *c, js_node *n, const js_set *set) {
    uint32_t *order = malloc((size_t)(set->n ? set->n : 1) * sizeof *order);
    if (!order) return js_oom();
    for (uint32_t i = 0; i < set->n; i++) order[i] = i;
    for (uint32_t i = 1; i < set->n; i++)      /* insertion sort: sets are small */
        for (uint32_t j = i; j > 0 && js_doc_order(c, set->items[order[j - 1]].schema) >
                                          js_doc_order(c, set->items[order[j]].schema); j--) {
            uint32_t t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    vka_status s = VKA_OK;
    for (uint32_t i = 0; i < set->n && s == VKA_OK; i++) s = apply_source(c, n, set->items[order[i]].schema);
    free(order);
    return s;
}

static vka_status build_node(js_conv *c, js_node *n) {
    flat f = {0};
    vka_status s = VKA_OK;
    /* plain sources first: reached again through another source's allOf,
     * they must not have their choices collected a second time */
    for (int pass = 1; pass >= 0; pass--)
        for (uint32_t i = 0; i < n->set.n && s == VKA_OK; i++)
            if (n->set.items[i].plain == (bool)pass) s = flatten_one(c, &f, n->set.items[i].schema, n->set.items[i].plain, 0);
    if (s == VKA_OK && f.n_choices) s = build_union(c, n, &f);
    else if (s == VKA_OK) s = apply_in_document_order(c, n, &f.set);
    if (s == VKA_OK && !n->is_union) s = filter_values(c, n);
    flat_free(&f);
    return s;
}

vka_status js_node_get(js_conv *c, const js_set *set, js_node **out) {
    js_node *n = find_node(c, set);
    if (n) {
        *out = n;
        return VKA_OK;
    }
    if (++c->depth > JS_MAX_DEPTH) {
        c->depth--;
        return js_fail_at(set->n ? js_path_of(c, set->items[0].schema) : "#", NULL,
                          "schemas nested deeper than %d levels", JS_MAX_DEPTH);
    }
    vka_status s = node_new(c, set, &n);
    if (s == VKA_OK) {
        n->building = true;
        s = build_node(c, n);
        n->building = false;
    }
    c->depth--;
    *out = n;
    return s;
}

vka_status js_node_of(js_conv *c, const cJSON *schema, js_node **out) {
    js_set set = {0};
    vka_status s = js_set_add(&set, schema, false);
    if (s == VKA_OK) s = js_node_get(c, &set, out);
    js_set_free(&set);
    return s;
}

/* ---------------------------------------------------------------- member and item schemas */

static bool pattern_matches(const js_obj_src *o, uint32_t i, const char *name) {
    return re_contains(o->pattern_langs[i], name, strlen(name));
}

vka_status js_member_set(js_conv *c, const js_node *n, const char *name, js_set *out) {
    *out = (js_set){0};
    /* strict: a name no source declares needs a pattern that matches it or
     * an explicit additionalProperties somewhere */
    bool closed = (c->flags & VKA_JSON_SCHEMA_STRICT) && !has_string(n->names, n->n_names, name);
    for (uint32_t i = 0; i < n->n_objs; i++) {
        const js_obj_src *o = &n->objs[i];
        const cJSON *own = o->properties ? cJSON_GetObjectItemCaseSensitive(o->properties, name) : NULL;
        bool matched = own != NULL;
        if (own) VKA_TRY(js_set_add(out, own, false));
        uint32_t j = 0;
        for (const cJSON *p = o->pattern_properties ? o->pattern_properties->child : NULL; p; p = p->next, j++)
            if (pattern_matches(o, j, name)) {
                matched = true;
                VKA_TRY(js_set_add(out, p, false));
            }
        if (!matched && o->additional) VKA_TRY(js_set_add(out, o->additional, false));
        if (o->additional || (matched && !own)) closed = false;
    }
    if (closed) VKA_TRY(js_set_add(out, c->false_schema, false));
    return VKA_OK;
}

uint64_t js_prefix_len(const js_node *n) {
    uint64_t k = 0;
    for (uint32_t i = 0; i < n->n_arrs; i++) {
        uint64_t p = (uint64_t)cJSON_GetArraySize(n->arrs[i].prefix);
        if (p > k) k = p;
    }
    return k;
}

vka_status js_item_set(js_conv *c, const js_node *n, uint64_t index, js_set *out) {
    (void)c;
    *out = (js_set){0};
    for (uint32_t i = 0; i < n->n_arrs; i++) {
        const js_arr_src *a = &n->arrs[i];
        uint64_t p = (uint64_t)cJSON_GetArraySize(a->prefix);
        if (index < p) VKA_TRY(js_set_add(out, cJSON_GetArrayItem(a->prefix, (int)index), false));
        else if (a->items) VKA_TRY(js_set_add(out, a->items, false));
    }
    return VKA_OK;
}
