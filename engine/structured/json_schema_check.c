/* json_schema_check.c — deciding values against nodes (to intersect enum and
 * const with their sibling keywords exactly) and proving two nodes share no
 * value (to accept oneOf only where exactly one alternative can match). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "structured/json_schema_impl.h"
#include "structured/json_schema_keywords.h"
#include "base/status.h"

#define MAX_CHECK_DEPTH 64

/* ---------------------------------------------------------------- equality */

static const cJSON *member(const cJSON *obj, const char *name) { return cJSON_GetObjectItemCaseSensitive(obj, name); }

bool js_json_equal(const cJSON *a, const cJSON *b) {
    if (cJSON_IsNumber(a) && cJSON_IsNumber(b)) return a->valuedouble == b->valuedouble;
    if ((a->type & 0xFF) != (b->type & 0xFF)) return false;
    if (cJSON_IsString(a)) return strcmp(a->valuestring, b->valuestring) == 0;
    if (cJSON_IsArray(a)) {
        const cJSON *x = a->child, *y = b->child;
        for (; x && y; x = x->next, y = y->next)
            if (!js_json_equal(x, y)) return false;
        return !x && !y;
    }
    if (cJSON_IsObject(a)) {
        if (cJSON_GetArraySize(a) != cJSON_GetArraySize(b)) return false;
        for (const cJSON *x = a->child; x; x = x->next) {
            const cJSON *y = member(b, x->string);
            if (!y || !js_json_equal(x, y)) return false;
        }
        return true;
    }
    return true;    /* null, true, false */
}

uint64_t js_utf8_length(const char *s) {
    uint64_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p & 0xC0) != 0x80) n++;
    return n;
}

/* ---------------------------------------------------------------- validation */

static unsigned type_of(const cJSON *v) {
    if (cJSON_IsNull(v)) return JT_NULL;
    if (cJSON_IsBool(v)) return JT_BOOL;
    if (cJSON_IsNumber(v)) return v->valuedouble == floor(v->valuedouble) ? JT_INTEGER : JT_FRACTION;
    if (cJSON_IsString(v)) return JT_STRING;
    if (cJSON_IsArray(v)) return JT_ARRAY;
    return JT_OBJECT;
}

static vka_status admits(js_conv *c, js_node *n, const cJSON *v, int depth, bool *ok);

static vka_status admits_set(js_conv *c, const js_set *set, const cJSON *v, int depth, bool *ok) {
    js_node *n;
    VKA_TRY(js_node_get(c, set, &n));
    return admits(c, n, v, depth + 1, ok);
}

static bool has_name(char *const *list, uint32_t n, const char *s) {
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(list[i], s) == 0) return true;
    return false;
}

static vka_status admits_object(js_conv *c, js_node *n, const cJSON *v, int depth, bool *ok) {
    uint64_t count = (uint64_t)cJSON_GetArraySize(v);
    *ok = count >= n->min_props && count <= n->max_props;
    for (uint32_t i = 0; i < n->n_required && *ok; i++) *ok = member(v, n->required[i]) != NULL;
    for (uint32_t i = 0; i < n->n_deps && *ok; i++)
        if (member(v, n->deps[i].name))
            for (uint32_t j = 0; j < n->deps[i].n_requires && *ok; j++) *ok = member(v, n->deps[i].requires[j]) != NULL;
    for (const cJSON *m = v->child; m && *ok; m = m->next) {
        if (has_name(n->forbidden, n->n_forbidden, m->string)) {
            *ok = false;
            break;
        }
        if (n->key_set.n) {
            cJSON *key = cJSON_CreateString(m->string);
            if (!key) return js_oom();
            vka_status s = admits_set(c, &n->key_set, key, depth, ok);
            cJSON_Delete(key);
            VKA_TRY(s);
            if (!*ok) break;
        }
        js_set set;
        VKA_TRY(js_member_set(c, n, m->string, &set));
        vka_status s = admits_set(c, &set, m, depth, ok);
        js_set_free(&set);
        VKA_TRY(s);
    }
    return VKA_OK;
}

static vka_status admits_array(js_conv *c, js_node *n, const cJSON *v, int depth, bool *ok) {
    uint64_t count = (uint64_t)cJSON_GetArraySize(v), i = 0, hits = 0;
    *ok = count >= n->min_items && count <= n->max_items;
    for (const cJSON *e = v->child; e && *ok; e = e->next, i++) {
        js_set set;
        VKA_TRY(js_item_set(c, n, i, &set));
        vka_status s = admits_set(c, &set, e, depth, ok);
        js_set_free(&set);
        VKA_TRY(s);
        if (*ok && n->contains) {
            js_set cs = {0};
            bool hit = false;
            s = js_set_add(&cs, n->contains, false);
            if (s == VKA_OK) s = admits_set(c, &cs, e, depth, &hit);
            js_set_free(&cs);
            VKA_TRY(s);
            hits += hit;
        }
    }
    if (*ok && n->contains) *ok = hits >= n->min_contains && hits <= n->max_contains;
    for (const cJSON *a = v->child; a && *ok && n->unique; a = a->next)
        for (const cJSON *b = a->next; b && *ok; b = b->next) *ok = !js_json_equal(a, b);
    return VKA_OK;
}

static vka_status admits(js_conv *c, js_node *n, const cJSON *v, int depth, bool *ok) {
    *ok = false;
    if (depth > MAX_CHECK_DEPTH) return js_fail_at(n->path, NULL, "a value nested deeper than %d levels", MAX_CHECK_DEPTH);
    if (n->is_union) {
        for (uint32_t i = 0; i < n->n_alts && !*ok; i++) VKA_TRY(admits(c, n->alts[i], v, depth + 1, ok));
        return VKA_OK;
    }
    unsigned t = type_of(v);
    if (!(n->types & t)) return VKA_OK;
    if (n->values) {
        bool found = false;
        for (const cJSON *w = n->values->child; w && !found; w = w->next) found = js_json_equal(v, w);
        if (!found) return VKA_OK;
    }
    for (const cJSON *x = n->excluded ? n->excluded->child : NULL; x; x = x->next)
        if (js_json_equal(v, x)) return VKA_OK;
    switch (t) {
    case JT_STRING: {
        uint64_t len = js_utf8_length(v->valuestring);
        *ok = len >= n->min_len && len <= n->max_len &&
              (!n->lang || re_contains(n->lang, v->valuestring, strlen(v->valuestring)));
        return VKA_OK;
    }
    case JT_INTEGER:
    case JT_FRACTION:
        *ok = js_number_admits(&n->num, v->valuedouble);
        return VKA_OK;
    case JT_OBJECT:
        return admits_object(c, n, v, depth, ok);
    case JT_ARRAY:
        return admits_array(c, n, v, depth, ok);
    default:
        *ok = true;
        return VKA_OK;
    }
}

vka_status js_admits(js_conv *c, js_node *n, const cJSON *value, bool *ok) { return admits(c, n, value, 0, ok); }

/* ---------------------------------------------------------------- disjointness */

static vka_status disjoint(js_conv *c, js_node *a, js_node *b, int depth, bool *out);

/* Every value of `a` (an enum) is rejected by b. */
static vka_status values_outside(js_conv *c, js_node *a, js_node *b, bool *out) {
    *out = true;
    for (const cJSON *v = a->values->child; v && *out; v = v->next) {
        bool ok;
        VKA_TRY(js_admits(c, b, v, &ok));
        *out = !ok;
    }
    return VKA_OK;
}

static bool ranges_apart(uint64_t min_a, uint64_t max_a, uint64_t min_b, uint64_t max_b) {
    return max_a < min_b || max_b < min_a;
}

/* No number satisfies both numeric facets (bounds only; multipleOf ignored,
 * which can only make the answer "not proven"). */
static bool numbers_apart(const js_number_spec *a, const js_number_spec *b) {
    if (a->has_max && b->has_min && (a->max < b->min || (a->max == b->min && (a->max_exclusive || b->min_exclusive))))
        return true;
    if (b->has_max && a->has_min && (b->max < a->min || (b->max == a->min && (b->max_exclusive || a->min_exclusive))))
        return true;
    return false;
}

static vka_status strings_apart(const js_node *a, const js_node *b, bool *out) {
    uint64_t lo = a->min_len > b->min_len ? a->min_len : b->min_len;
    uint64_t hi = a->max_len < b->max_len ? a->max_len : b->max_len;
    *out = lo > hi;
    if (*out || (!a->lang && !b->lang)) return VKA_OK;
    re_lang *all = NULL, *both = NULL, *limited = NULL;
    vka_status s = VKA_OK;
    if (!a->lang || !b->lang) s = re_all(&all);
    if (s == VKA_OK) s = re_intersect(a->lang ? a->lang : all, b->lang ? b->lang : all, &both);
    if (s == VKA_OK) s = re_limit_length(both, lo, hi, &limited);
    if (s == VKA_OK) *out = re_is_empty(limited);
    re_free(all), re_free(both), re_free(limited);
    return s;
}

/* The node a member `name` of objects of n must satisfy. */
static vka_status member_node(js_conv *c, js_node *n, const char *name, js_node **out) {
    js_set set;
    VKA_TRY(js_member_set(c, n, name, &set));
    vka_status s = js_node_get(c, &set, out);
    js_set_free(&set);
    return s;
}

/* A member named `name` cannot appear in objects of n (forbidden, or its
 * schema is false, e.g. an undeclared name beside additionalProperties: false). */
static vka_status member_excluded(js_conv *c, js_node *n, const char *name, bool *out) {
    *out = has_name(n->forbidden, n->n_forbidden, name);
    if (*out) return VKA_OK;
    js_node *m;
    VKA_TRY(member_node(c, n, name, &m));
    *out = !m->is_union && !m->building && m->types == 0;
    return VKA_OK;
}

/* Objects apart: counts that cannot meet, a member one requires and the other
 * excludes, or a member both require with schemas apart. */
static vka_status objects_apart(js_conv *c, js_node *a, js_node *b, int depth, bool *out) {
    *out = ranges_apart(a->min_props, a->max_props, b->min_props, b->max_props);
    for (int side = 0; side < 2 && !*out; side++) {
        js_node *x = side ? b : a, *y = side ? a : b;
        for (uint32_t i = 0; i < x->n_required && !*out; i++) {
            const char *name = x->required[i];
            VKA_TRY(member_excluded(c, y, name, out));
            if (*out || side || !has_name(y->required, y->n_required, name)) continue;
            js_node *nx = NULL, *ny = NULL;
            VKA_TRY(member_node(c, x, name, &nx));
            VKA_TRY(member_node(c, y, name, &ny));
            VKA_TRY(disjoint(c, nx, ny, depth + 1, out));
        }
    }
    return VKA_OK;
}

/* Item counts apart, or a position both must fill with schemas apart. */
static vka_status arrays_apart(js_conv *c, js_node *a, js_node *b, int depth, bool *out) {
    *out = ranges_apart(a->min_items, a->max_items, b->min_items, b->max_items);
    uint64_t must = a->min_items > b->min_items ? a->min_items : b->min_items;
    uint64_t k = js_prefix_len(a) > js_prefix_len(b) ? js_prefix_len(a) : js_prefix_len(b);
    for (uint64_t i = 0; i < must && i <= k && !*out; i++) {
        js_set sa, sb;
        js_node *na = NULL, *nb = NULL;
        VKA_TRY(js_item_set(c, a, i, &sa));
        vka_status s = js_item_set(c, b, i, &sb);
        if (s == VKA_OK) s = js_node_get(c, &sa, &na);
        if (s == VKA_OK) s = js_node_get(c, &sb, &nb);
        if (s == VKA_OK) s = disjoint(c, na, nb, depth + 1, out);
        js_set_free(&sa);
        js_set_free(&sb);
        VKA_TRY(s);
    }
    return VKA_OK;
}

/* The facet of one type shared by both nodes has no common value. */
static vka_status type_apart(js_conv *c, js_node *a, js_node *b, unsigned t, int depth, bool *out) {
    *out = false;
    switch (t) {
    case JT_STRING: return strings_apart(a, b, out);
    case JT_INTEGER:
    case JT_FRACTION: *out = numbers_apart(&a->num, &b->num); return VKA_OK;
    case JT_OBJECT: return objects_apart(c, a, b, depth, out);
    case JT_ARRAY: return arrays_apart(c, a, b, depth, out);
    default: return VKA_OK;    /* null, booleans: no facet to tell them apart */
    }
}

static vka_status disjoint(js_conv *c, js_node *a, js_node *b, int depth, bool *out) {
    *out = false;
    /* a node still being built has its facets or alternatives incomplete: nothing is proven */
    if (depth > MAX_CHECK_DEPTH || a == b || a->building || b->building) return VKA_OK;
    if (a->is_union || b->is_union) {
        js_node *u = a->is_union ? a : b, *o = a->is_union ? b : a;
        *out = true;
        for (uint32_t i = 0; i < u->n_alts && *out; i++) VKA_TRY(disjoint(c, u->alts[i], o, depth + 1, out));
        return VKA_OK;
    }
    if (a->values) return values_outside(c, a, b, out);
    if (b->values) return values_outside(c, b, a, out);
    unsigned shared = a->types & b->types;
    *out = true;
    for (unsigned t = 1; t <= JT_FRACTION && *out; t <<= 1)
        if (shared & t) VKA_TRY(type_apart(c, a, b, t, depth, out));
    return VKA_OK;
}

vka_status js_disjoint(js_conv *c, js_node *a, js_node *b, bool *out) { return disjoint(c, a, b, 0, out); }

/* ---------------------------------------------------------------- type bounds */

/* Memo of js_type_bound: open addressing on the schema's address. A schema
 * met again while its own bound is being read counts as any type there, so
 * recursion ends and every bound stays an upper bound. */
typedef struct js_bound_entry {
    const cJSON *schema;                /* NULL: empty slot */
    unsigned mask;
    bool done;
} js_bound_entry;

#define MAX_BOUND_DEPTH 64

static uint32_t pointer_hash(const cJSON *p) {
    uint64_t h = (uint64_t)(uintptr_t)p * 0x9E3779B97F4A7C15u;
    return (uint32_t)(h >> 32);
}

static js_bound_entry *bound_slot(js_conv *c, const cJSON *schema) {
    uint32_t k = pointer_hash(schema) & (c->cap_bounds - 1);
    while (c->bounds[k].schema && c->bounds[k].schema != schema) k = (k + 1) & (c->cap_bounds - 1);
    return &c->bounds[k];
}

static bool bounds_reserve(js_conv *c) {
    if ((uint64_t)(c->n_bounds + 1) * 2 <= c->cap_bounds) return true;
    uint32_t cap = c->cap_bounds ? c->cap_bounds * 2 : 256;
    js_bound_entry *old = c->bounds;
    uint32_t old_cap = c->cap_bounds;
    c->bounds = calloc(cap, sizeof *c->bounds);
    if (!c->bounds) {
        c->bounds = old;
        return false;
    }
    c->cap_bounds = cap;
    for (uint32_t i = 0; i < old_cap; i++)
        if (old[i].schema) *bound_slot(c, old[i].schema) = old[i];
    free(old);
    return true;
}

void js_type_bounds_free(js_conv *c) {
    free(c->bounds);
    c->bounds = NULL;
    c->n_bounds = c->cap_bounds = 0;
}

static unsigned type_name_bound(const cJSON *name) {
    static const struct {
        const char *name;
        unsigned mask;
    } types[] = {{"null", JT_NULL},     {"boolean", JT_BOOL},  {"object", JT_OBJECT},   {"array", JT_ARRAY},
                 {"string", JT_STRING}, {"number", JT_NUMBER}, {"integer", JT_NUMBER}};
    if (!cJSON_IsString(name)) return JT_ALL;
    for (size_t i = 0; i < sizeof types / sizeof *types; i++)
        if (strcmp(types[i].name, name->valuestring) == 0) return types[i].mask;
    return JT_ALL;     /* an unknown name: the conversion reports it */
}

static unsigned keyword_type_bound(const cJSON *type) {
    if (!cJSON_IsArray(type)) return type_name_bound(type);
    unsigned mask = 0;
    for (const cJSON *t = type->child; t; t = t->next) mask |= type_name_bound(t);
    return mask;
}

/* Numbers count as both integer and fraction: a bound need not tell them apart. */
static unsigned value_type_bound(const cJSON *v) { return type_of(v) & JT_NUMBER ? JT_NUMBER : type_of(v); }

static unsigned bound_of(js_conv *c, const cJSON *s, int depth);

static unsigned choice_bound(js_conv *c, const cJSON *list, int depth) {
    if (!cJSON_IsArray(list) || !list->child) return JT_ALL;
    unsigned mask = 0;
    for (const cJSON *m = list->child; m; m = m->next) mask |= bound_of(c, m, depth + 1);
    return mask;
}

static unsigned keywords_bound(js_conv *c, const cJSON *s, int depth) {
    unsigned mask = JT_ALL;
    const cJSON *type = member(s, "type");
    if (type) mask &= keyword_type_bound(type);
    const cJSON *en = member(s, "enum");
    if (cJSON_IsArray(en)) {
        unsigned values = 0;
        for (const cJSON *v = en->child; v; v = v->next) values |= value_type_bound(v);
        mask &= values;
    }
    const cJSON *cn = member(s, "const");
    if (cn) mask &= value_type_bound(cn);
    const cJSON *all = member(s, "allOf");
    for (const cJSON *m = cJSON_IsArray(all) ? all->child : NULL; m && mask; m = m->next) mask &= bound_of(c, m, depth + 1);
    const cJSON *ref = member(s, "$ref");
    const cJSON *target = NULL;
    if (mask && cJSON_IsString(ref) && js_resolve_ref(c, s, ref->valuestring, &target) == VKA_OK)
        mask &= bound_of(c, target, depth + 1);
    if (mask && member(s, "anyOf")) mask &= choice_bound(c, member(s, "anyOf"), depth);
    if (mask && member(s, "oneOf")) mask &= choice_bound(c, member(s, "oneOf"), depth);
    return mask;
}

static unsigned bound_of(js_conv *c, const cJSON *s, int depth) {
    if (cJSON_IsFalse(s)) return 0;
    if (!cJSON_IsObject(s) || depth > MAX_BOUND_DEPTH || !bounds_reserve(c)) return JT_ALL;
    js_bound_entry *e = bound_slot(c, s);
    if (e->schema) return e->done ? e->mask : JT_ALL;
    *e = (js_bound_entry){s, JT_ALL, false};
    c->n_bounds++;
    unsigned mask = keywords_bound(c, s, depth);
    e = bound_slot(c, s);      /* the table may have grown meanwhile */
    e->mask = mask;
    e->done = true;
    return mask;
}

unsigned js_type_bound(js_conv *c, const cJSON *schema) { return bound_of(c, schema, 0); }

/* oneOf: the members that may overlap (in the context `base`) are made
 * exclusive, each member i becoming "i and not j" for every j it may share a
 * value with; `not` is exact (json_schema_rewrite.c), so the alternatives are
 * then disjoint and the union is exactly oneOf. Members proven apart are left
 * as they are. */
vka_status js_check_one_of(js_conv *c, const js_set *base, js_choice *choice) {
    if (c->flags & VKA_JSON_SCHEMA_ONEOF_AS_ANYOF) return VKA_OK;
    uint32_t n = (uint32_t)cJSON_GetArraySize(choice->list);
    if (n > 64) return js_fail_at(choice->path, "oneOf", "more than 64 alternatives are not supported (HINT: anyOf)");
    js_node **alts = calloc(n, sizeof *alts);
    uint64_t *partners = calloc(n, sizeof *partners);
    vka_status s = alts && partners ? VKA_OK : js_oom();
    uint32_t i = 0;
    for (const cJSON *m = choice->list->child; m && s == VKA_OK; m = m->next, i++) {
        js_set set = {0};
        s = js_set_union(&set, base);
        if (s == VKA_OK) s = js_set_add(&set, m, false);
        if (s == VKA_OK) s = js_node_get(c, &set, &alts[i]);
        js_set_free(&set);
    }
    bool overlap = false;
    for (uint32_t x = 0; x < n && s == VKA_OK; x++)
        for (uint32_t y = x + 1; y < n && s == VKA_OK; y++) {
            bool apart = false;
            s = js_disjoint(c, alts[x], alts[y], &apart);
            if (s == VKA_OK && !apart) {
                partners[x] |= 1ull << y;
                partners[y] |= 1ull << x;
                overlap = true;
            }
        }
    const cJSON *exclusive = NULL;
    if (s == VKA_OK && overlap) s = js_exclusive_one_of(c, choice->list, partners, n, &exclusive);
    if (s == VKA_ERR_GRAMMAR) {
        char why[700];
        snprintf(why, sizeof why, "%s", vka_last_error());
        s = js_fail_at(choice->path, "oneOf",
                       "its alternatives may both match a value, and making them exclusive failed: %s (HINT: make them "
                       "exclusive, e.g. with a \"const\" member that tells them apart, use anyOf, or the "
                       "oneof-as-anyof option)",
                       why);
    }
    if (s == VKA_OK && exclusive) choice->list = exclusive;
    free(alts);
    free(partners);
    return s;
}
