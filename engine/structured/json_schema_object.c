/* json_schema_object.c — the object facet as GBNF. Declared members come in
 * a fixed order (properties, then names only `required` or dependencies
 * mention), each at most once; undeclared members follow, their keys split
 * into regions by which patternProperties match them (each region with the
 * value schema the standard gives it, and keys of declared names excluded in
 * every JSON spelling). Member counts (min/maxProperties) and
 * dependentRequired are tracked by a small automaton over the members. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "structured/json_schema_impl.h"
#include "structured/json_schema_keywords.h"
#include "base/status.h"

#define MAX_TRIGGERS 6          /* optional members with dependencies: 2^6 variants at most */
#define MAX_PATTERNS 6          /* patternProperties of an object: 2^6 key regions at most */

typedef struct member {
    const char *name;
    const char *rule;           /* value rule; NULL: the member cannot appear */
    char *kv;                   /* key W ":" W value (GBNF) */
    bool required;
} member;

typedef struct obj_plan {
    member *m;
    uint32_t n;
    const char *extra;          /* one undeclared member, or NULL when none may appear */
    uint64_t min, max;
    char sep[64];
} obj_plan;

static bool in_list(char *const *list, uint32_t n, const char *s) {
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(list[i], s) == 0) return true;
    return false;
}

/* ---------------------------------------------------------------- key languages */

static vka_status node_string_lang(js_conv *c, js_node *n, re_lang **out);

/* The strings a node admits, as a language (for propertyNames). */
static vka_status facet_string_lang(js_node *n, re_lang **out) {
    *out = NULL;
    if (n->values) {
        uint32_t k = 0;
        for (const cJSON *v = n->values->child; v; v = v->next) k += cJSON_IsString(v);
        const char **strs = calloc(k ? k : 1, sizeof *strs);
        size_t *lens = calloc(k ? k : 1, sizeof *lens);
        vka_status s = strs && lens ? VKA_OK : js_oom();
        uint32_t i = 0;
        for (const cJSON *v = n->values->child; v && s == VKA_OK; v = v->next)
            if (cJSON_IsString(v)) strs[i] = v->valuestring, lens[i++] = strlen(v->valuestring);
        if (s == VKA_OK) s = re_literals(strs, lens, k, out);
        free(strs), free(lens);
        return s;
    }
    re_lang *all = NULL, *limited = NULL;
    if (!(n->types & JT_STRING)) return re_literals(NULL, NULL, 0, out);
    vka_status s = n->lang ? VKA_OK : re_all(&all);
    if (s == VKA_OK) s = re_limit_length(n->lang ? n->lang : all, n->min_len, n->max_len, &limited);
    re_free(all);
    if (s != VKA_OK) return s;
    uint32_t k = 0;
    for (const cJSON *x = n->excluded ? n->excluded->child : NULL; x; x = x->next) k += cJSON_IsString(x);
    if (!k) return *out = limited, VKA_OK;
    const char **strs = calloc(k, sizeof *strs);
    size_t *lens = calloc(k, sizeof *lens);
    re_lang *ex = NULL, *not_ex = NULL;
    s = strs && lens ? VKA_OK : js_oom();
    uint32_t i = 0;
    for (const cJSON *x = n->excluded->child; x && s == VKA_OK; x = x->next)
        if (cJSON_IsString(x)) strs[i] = x->valuestring, lens[i++] = strlen(x->valuestring);
    if (s == VKA_OK) s = re_literals(strs, lens, k, &ex);
    if (s == VKA_OK) s = re_complement(ex, &not_ex);
    if (s == VKA_OK) s = re_intersect(limited, not_ex, out);
    free(strs), free(lens);
    re_free(ex), re_free(not_ex), re_free(limited);
    return s;
}

static vka_status node_string_lang(js_conv *c, js_node *n, re_lang **out) {
    if (!n->is_union) return facet_string_lang(n, out);
    VKA_TRY(re_literals(NULL, NULL, 0, out));
    for (uint32_t i = 0; i < n->n_alts; i++) {
        re_lang *a = NULL, *both = NULL;
        VKA_TRY(node_string_lang(c, n->alts[i], &a));
        vka_status s = re_union(*out, a, &both);
        re_free(a);
        VKA_TRY(s);
        re_free(*out);
        *out = both;
    }
    return VKA_OK;
}

/* ---------------------------------------------------------------- members */

static vka_status member_rule(js_conv *c, js_node *n, js_node *keys, const char *name, const char **rule) {
    *rule = NULL;
    if (in_list(n->forbidden, n->n_forbidden, name)) return VKA_OK;
    if (keys) {
        cJSON key = {.type = cJSON_String, .valuestring = (char *)name};
        bool ok;
        VKA_TRY(js_admits(c, keys, &key, &ok));
        if (!ok) return VKA_OK;
    }
    js_set set;
    VKA_TRY(js_member_set(c, n, name, &set));
    vka_status s = js_rule_of_set(c, &set, (js_step){JS_STEP_NAME, name, 0}, rule);
    js_set_free(&set);
    return s;
}

/* The member's key and value as a rule of its own, since each automaton
 * state that may write the member refers to it. */
static vka_status make_kv(js_conv *c, member *m) {
    js_buf b = {0};
    cJSON key = {.type = cJSON_String, .valuestring = (char *)m->name};
    vka_status s = js_emit_value(c, &key, &b);
    js_printf(&b, "%s \":\"%s %s", js_ws(c), js_ws(c), m->rule);
    char name[JS_NAME_CAP];
    if (s == VKA_OK && (b.failed || !js_rule_new(&c->rules, "kv", b.data, name))) s = js_oom();
    js_buf_free(&b);
    if (s == VKA_OK && !(m->kv = strdup(name))) s = js_oom();
    return s;
}

static vka_status plan_members(js_conv *c, js_node *n, js_node *keys, obj_plan *p, bool *empty) {
    p->m = calloc(n->n_names ? n->n_names : 1, sizeof *p->m);
    if (!p->m) return js_oom();
    for (uint32_t i = 0; i < n->n_names; i++) {
        member *m = &p->m[p->n++];
        m->name = n->names[i];
        m->required = in_list(n->required, n->n_required, m->name);
        VKA_TRY(member_rule(c, n, keys, m->name, &m->rule));
        if (!m->rule && m->required) *empty = true;
        if (m->rule) VKA_TRY(make_kv(c, m));
    }
    return VKA_OK;
}

/* ---------------------------------------------------------------- undeclared members */

typedef struct pattern_ref {
    const cJSON *schema;
    const re_lang *lang;
    uint32_t obj;
} pattern_ref;

/* The keys of region `mask` (the patterns in it match, the others do not). */
/* *out is NULL when the region is `base` itself (no patterns to split by). */
static vka_status region_keys(const re_lang *base, const pattern_ref *pats, uint32_t np, uint32_t mask, re_lang **out) {
    re_lang *cur = NULL;
    for (uint32_t j = 0; j < np && !(cur && re_is_empty(cur)); j++) {
        re_lang *side = NULL, *next = NULL;
        vka_status s = (mask >> j) & 1 ? VKA_OK : re_complement(pats[j].lang, &side);
        if (s == VKA_OK) s = re_intersect(cur ? cur : base, side ? side : pats[j].lang, &next);
        re_free(side);
        re_free(cur);
        cur = next;
        VKA_TRY(s);
    }
    *out = cur;
    return VKA_OK;
}

/* The value schemas of a region: the matching patterns' schemas, and the
 * additionalProperties of each object source none of whose patterns match. */
static vka_status region_values(js_conv *c, js_node *n, const pattern_ref *pats, uint32_t np, uint32_t mask,
                                js_set *set, bool *allowed) {
    *set = (js_set){0};
    bool any_additional = false;
    for (uint32_t j = 0; j < np; j++)
        if ((mask >> j) & 1) VKA_TRY(js_set_add(set, pats[j].schema, false));
    for (uint32_t o = 0; o < n->n_objs; o++) {
        bool matched = false;
        for (uint32_t j = 0; j < np; j++) matched |= ((mask >> j) & 1) && pats[j].obj == o;
        if (!matched && n->objs[o].additional) VKA_TRY(js_set_add(set, n->objs[o].additional, false));
        any_additional |= n->objs[o].additional != NULL;
    }
    /* strict: undeclared keys only where a pattern or an explicit additionalProperties allows them */
    *allowed = !(c->flags & VKA_JSON_SCHEMA_STRICT) || mask != 0 || any_additional;
    return VKA_OK;
}

static vka_status collect_patterns(js_node *n, pattern_ref **out, uint32_t *np) {
    *np = 0;
    for (uint32_t o = 0; o < n->n_objs; o++) *np += (uint32_t)cJSON_GetArraySize(n->objs[o].pattern_properties);
    *out = calloc(*np ? *np : 1, sizeof **out);
    if (!*out) return js_oom();
    uint32_t k = 0;
    for (uint32_t o = 0; o < n->n_objs; o++) {
        uint32_t j = 0;
        for (const cJSON *p = n->objs[o].pattern_properties ? n->objs[o].pattern_properties->child : NULL; p; p = p->next, j++)
            (*out)[k++] = (pattern_ref){p, n->objs[o].pattern_langs[j], o};
    }
    return VKA_OK;
}

/* Keys of no declared (or forbidden) name, in any spelling: the keys the
 * schema allows minus those. */
static vka_status undeclared_keys(js_conv *c, js_node *n, js_node *keys, re_lang **out) {
    re_lang *allowed = NULL, *declared = NULL, *not_declared = NULL;
    vka_status s = keys ? node_string_lang(c, keys, &allowed) : VKA_OK;
    /* forbidden names are out too (not: {required: [...]}) */
    uint32_t k = n->n_names + n->n_forbidden;
    const char **strs = calloc(k ? k : 1, sizeof *strs);
    size_t *lens = calloc(k ? k : 1, sizeof *lens);
    if (s == VKA_OK && (!strs || !lens)) s = js_oom();
    for (uint32_t i = 0; i < k && s == VKA_OK; i++) {
        strs[i] = i < n->n_names ? n->names[i] : n->forbidden[i - n->n_names];
        lens[i] = strlen(strs[i]);
    }
    if (s == VKA_OK) s = re_literals(strs, lens, k, &declared);
    if (s == VKA_OK) s = re_complement(declared, &not_declared);
    /* without propertyNames every key but the declared ones */
    if (s == VKA_OK && !allowed) *out = not_declared, not_declared = NULL;
    else if (s == VKA_OK) s = re_intersect(allowed, not_declared, out);
    free(strs), free(lens);
    re_free(allowed), re_free(declared), re_free(not_declared);
    return s;
}

/* The key expressions of an object's undeclared members, one per region
 * (NULL where the region is empty). They depend only on the declared and
 * forbidden names, the propertyNames node and the patterns, which many nodes
 * share (every alternative of an object, every use of a definition): the
 * converter computes them once per such signature. */
typedef struct js_key_memo {
    char *signature;                    /* NULL: empty slot */
    uint64_t hash;
    char **keys;                        /* 1 << n_patterns expressions */
    uint32_t n;
} js_key_memo;

void js_key_memo_free(js_conv *c) {
    for (uint32_t i = 0; i < c->cap_key_memo; i++) {
        js_key_memo *m = &((js_key_memo *)c->key_memo)[i];
        for (uint32_t k = 0; m->signature && k < m->n; k++) free(m->keys[k]);
        free(m->signature);
        free(m->keys);
    }
    free(c->key_memo);
    c->key_memo = NULL;
    c->n_key_memo = c->cap_key_memo = 0;
}

static js_key_memo *key_slot(js_key_memo *table, uint32_t cap, uint64_t hash, const char *signature) {
    uint32_t k = (uint32_t)(hash ^ (hash >> 32)) & (cap - 1);
    while (table[k].signature && (table[k].hash != hash || strcmp(table[k].signature, signature) != 0))
        k = (k + 1) & (cap - 1);
    return &table[k];
}

static bool key_memo_reserve(js_conv *c) {
    if ((uint64_t)(c->n_key_memo + 1) * 2 <= c->cap_key_memo) return true;
    uint32_t cap = c->cap_key_memo ? c->cap_key_memo * 2 : 64;
    js_key_memo *table = calloc(cap, sizeof *table), *old = c->key_memo;
    if (!table) return false;
    for (uint32_t i = 0; i < c->cap_key_memo; i++)
        if (old[i].signature) *key_slot(table, cap, old[i].hash, old[i].signature) = old[i];
    free(old);
    c->key_memo = table;
    c->cap_key_memo = cap;
    return true;
}

/* Names length-prefixed (any byte may occur in them), then the other inputs. */
static bool key_signature(js_node *n, js_node *keys, const pattern_ref *pats, uint32_t np, js_buf *sig) {
    for (uint32_t i = 0; i < n->n_names; i++) js_printf(sig, "%zu:%s", strlen(n->names[i]), n->names[i]);
    js_puts(sig, "|");
    for (uint32_t i = 0; i < n->n_forbidden; i++) js_printf(sig, "%zu:%s", strlen(n->forbidden[i]), n->forbidden[i]);
    js_printf(sig, "|%ld|", keys ? (long)keys->id : -1L);
    for (uint32_t j = 0; j < np; j++) js_printf(sig, "%p,", (const void *)pats[j].lang);
    return !sig->failed;
}

static uint64_t text_hash(const char *s) {
    uint64_t h = 1469598103934665603u;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) h = (h ^ *p) * 1099511628211u;
    return h;
}

static vka_status compute_region_keys(js_conv *c, js_node *n, js_node *keys, const pattern_ref *pats, uint32_t np,
                                      char **out) {
    re_lang *base = NULL;
    vka_status s = undeclared_keys(c, n, keys, &base);
    for (uint32_t mask = 0; mask < (1u << np) && s == VKA_OK; mask++) {
        re_lang *own = NULL;
        s = region_keys(base, pats, np, mask, &own);
        const re_lang *region = own ? own : base;
        if (s == VKA_OK && !re_is_empty(region)) {
            js_buf key = {0};
            bool empty = false;
            s = js_emit_string_lang(c, region, 0, JS_UNBOUNDED, &key, &empty);
            if (s == VKA_OK && key.failed) s = js_oom();
            if (s == VKA_OK && !empty) out[mask] = key.data, key.data = NULL;
            js_buf_free(&key);
        }
        re_free(own);
    }
    re_free(base);
    return s;
}

static vka_status region_key_texts(js_conv *c, js_node *n, js_node *keys, const pattern_ref *pats, uint32_t np,
                                   char *const **out) {
    js_buf sig = {0};
    if (!key_signature(n, keys, pats, np, &sig) || !key_memo_reserve(c)) {
        js_buf_free(&sig);
        return js_oom();
    }
    uint64_t hash = text_hash(sig.data);
    js_key_memo *m = key_slot(c->key_memo, c->cap_key_memo, hash, sig.data);
    if (m->signature) {
        js_buf_free(&sig);
        *out = m->keys;
        return VKA_OK;
    }
    char **texts = calloc((size_t)1 << np, sizeof *texts);
    vka_status s = texts ? compute_region_keys(c, n, keys, pats, np, texts) : js_oom();
    if (s != VKA_OK) {
        for (uint32_t k = 0; texts && k < (1u << np); k++) free(texts[k]);
        free(texts);
        js_buf_free(&sig);
        return s;
    }
    /* the slot again: computing may have added entries (a propertyNames node emitted) */
    m = key_slot(c->key_memo, c->cap_key_memo, hash, sig.data);
    if (m->signature) {
        for (uint32_t k = 0; k < (1u << np); k++) free(texts[k]);
        free(texts);
        js_buf_free(&sig);
        *out = m->keys;
        return VKA_OK;
    }
    *m = (js_key_memo){sig.data, hash, texts, 1u << np};
    c->n_key_memo++;
    *out = texts;
    return VKA_OK;
}

static vka_status put_region(js_conv *c, js_node *n, const char *key, const pattern_ref *pats, uint32_t np,
                             uint32_t mask, js_buf *alts) {
    js_set values = {0};
    bool allowed = false;
    const char *value = NULL;
    vka_status s = region_values(c, n, pats, np, mask, &values, &allowed);
    if (s == VKA_OK && allowed) s = js_rule_of_set(c, &values, (js_step){JS_STEP_ANY, NULL, 0}, &value);
    if (s == VKA_OK && value) js_printf(alts, "%s(%s%s \":\"%s %s)", alts->len ? " | " : "", key, js_ws(c), js_ws(c), value);
    js_set_free(&values);
    return s;
}

static vka_status plan_extra(js_conv *c, js_node *n, js_node *keys, obj_plan *p) {
    p->extra = NULL;
    pattern_ref *pats = NULL;
    uint32_t np = 0;
    VKA_TRY(collect_patterns(n, &pats, &np));
    if (np > MAX_PATTERNS) {
        free(pats);
        return js_unsupported(c, n->path, "patternProperties", "more than 6 patternProperties on one object are not supported");
    }
    js_buf alts = {0};
    char *const *key_texts = NULL;
    vka_status s = region_key_texts(c, n, keys, pats, np, &key_texts);
    for (uint32_t mask = 0; mask < (1u << np) && s == VKA_OK; mask++)
        if (key_texts[mask]) s = put_region(c, n, key_texts[mask], pats, np, mask, &alts);
    if (s == VKA_OK && alts.failed) s = js_oom();
    if (s == VKA_OK && alts.len) {
        char name[JS_NAME_CAP];
        if (!js_rule_new(&c->rules, "extra", alts.data, name)) s = js_oom();
        else if (!(p->extra = js_keep_name(c, name))) s = js_oom();
    }
    js_buf_free(&alts);
    free(pats);
    return s;
}

/* ---------------------------------------------------------------- the member automaton */

/* States (members considered i, members written count): count is exact, or
 * "at least cap" once it reaches cap when maxProperties is unbounded. Only
 * states from which the counts can still be met are written, so no text the
 * grammar admits leads to a dead end. */
typedef struct counter {
    uint64_t cap;
    uint64_t *required_after;   /* required members in i..n-1 */
    uint64_t *possible_after;   /* members that can appear in i..n-1 */
    char base[JS_NAME_CAP];
} counter;

static void state(char *out, size_t cap, const counter *k, uint32_t i, uint64_t count) {
    snprintf(out, cap, "%s_%u_%llu", k->base, i, (unsigned long long)count);
}

/* "At least cap" members: only when cap covers minProperties (a cap lowered
 * to the number of declared members counts exactly). */
static bool saturated(const obj_plan *p, const counter *k, uint64_t count) {
    return p->max == JS_UNBOUNDED && count == k->cap && k->cap >= p->min;
}

static bool productive(const obj_plan *p, const counter *k, uint32_t i, uint64_t count) {
    if (p->max != JS_UNBOUNDED && count + k->required_after[i] > p->max) return false;
    if (p->extra || saturated(p, k, count)) return true;
    return count + k->possible_after[i] >= p->min;
}

/* After the declared members: the undeclared ones, as many as the counts allow. */
static vka_status put_extras(js_conv *c, const obj_plan *p, const counter *k, uint64_t count, js_buf *body) {
    uint64_t lo = p->min > count && !saturated(p, k, count) ? p->min - count : 0;
    uint64_t hi = p->max == JS_UNBOUNDED ? JS_UNBOUNDED : p->max - count;
    if (!p->extra || hi == 0) return js_puts(body, "\"\"") ? VKA_OK : js_oom();
    if (count == 0) {
        char sep[80];
        snprintf(sep, sizeof sep, "(%s)", p->sep);
        return js_put_repeat(&c->rules, body, p->extra, sep, lo, hi) ? VKA_OK : js_oom();
    }
    char unit[160];
    snprintf(unit, sizeof unit, "(%s %s)", p->sep, p->extra);
    return js_put_repeat(&c->rules, body, unit, NULL, lo, hi) ? VKA_OK : js_oom();
}

static vka_status put_member_state(js_conv *c, const obj_plan *p, const counter *k, uint32_t i, uint64_t count) {
    char name[96], next[96];
    state(name, sizeof name, k, i, count);
    js_buf body = {0};
    vka_status s = VKA_OK;
    if (i == p->n) {
        s = put_extras(c, p, k, count, &body);
    } else {
        const member *m = &p->m[i];
        uint64_t after = saturated(p, k, count) ? count : count + 1;
        bool take = m->rule && (p->max == JS_UNBOUNDED || count < p->max) && productive(p, k, i + 1, after);
        bool skip = !m->required && productive(p, k, i + 1, count);
        if (take) {
            state(next, sizeof next, k, i + 1, after);
            js_printf(&body, "%s%s %s", count ? p->sep : "", m->kv, next);
        }
        if (skip) {
            state(next, sizeof next, k, i + 1, count);
            js_printf(&body, "%s%s", take ? " | " : "", next);
        }
    }
    if (s == VKA_OK && (body.failed || !js_rule_add(&c->rules, name, body.data))) s = js_oom();
    js_buf_free(&body);
    return s;
}

static vka_status count_members(const obj_plan *p, counter *k) {
    k->required_after = calloc(p->n + 1, sizeof *k->required_after);
    k->possible_after = calloc(p->n + 1, sizeof *k->possible_after);
    if (!k->required_after || !k->possible_after) return js_oom();
    for (uint32_t i = p->n; i-- > 0;) {
        k->required_after[i] = k->required_after[i + 1] + (p->m[i].required && p->m[i].rule);
        k->possible_after[i] = k->possible_after[i + 1] + (p->m[i].rule != NULL);
    }
    return VKA_OK;
}

/* The members of one variant (required flags fixed) as an automaton; its
 * start state's name into `start`, or "" when the counts cannot be met. */
static vka_status put_members(js_conv *c, js_node *n, const obj_plan *p, char *start, size_t cap) {
    counter k = {.cap = p->max != JS_UNBOUNDED ? p->max : (p->min > 1 ? p->min : 1)};
    if (!p->extra && k.cap > p->n) k.cap = p->n > 0 ? p->n : 1;  /* no more members than declared */
    start[0] = 0;
    vka_status s = count_members(p, &k);
    if (s == VKA_OK && (uint64_t)(p->n + 1) * (k.cap + 1) > JS_MAX_OBJECT_STATES)
        s = js_unsupported(c, n->path, "maxProperties", "the member counts here need too many states");
    if (s == VKA_OK && productive(p, &k, 0, 0)) {
        js_rule_name(&c->rules, "obj", k.base);
        for (uint32_t i = 0; i <= p->n && s == VKA_OK; i++)
            for (uint64_t count = 0; count <= k.cap && count <= i && s == VKA_OK; count++)
                if (productive(p, &k, i, count)) s = put_member_state(c, p, &k, i, count);
        state(start, cap, &k, 0, 0);
    }
    free(k.required_after);
    free(k.possible_after);
    return s;
}

/* ---------------------------------------------------------------- dependencies */

static member *find_member(obj_plan *p, const char *name) {
    for (uint32_t i = 0; i < p->n; i++)
        if (strcmp(p->m[i].name, name) == 0) return &p->m[i];
    return NULL;
}

/* Makes the dependencies of present members required, until nothing changes;
 * false when a member that must be present cannot be. */
static bool close_dependencies(js_node *n, obj_plan *p) {
    for (bool changed = true; changed;) {
        changed = false;
        for (uint32_t d = 0; d < n->n_deps; d++) {
            member *t = find_member(p, n->deps[d].name);
            if (!t || !t->required) continue;
            for (uint32_t j = 0; j < n->deps[d].n_requires; j++) {
                member *r = find_member(p, n->deps[d].requires[j]);
                if (!r || !r->rule) return false;
                if (!r->required) r->required = changed = true;
            }
        }
    }
    for (uint32_t i = 0; i < p->n; i++)
        if (p->m[i].required && !p->m[i].rule) return false;
    return true;
}

/* One variant per presence of the optional members that have dependencies:
 * present ones become required (with what they need), absent ones cannot
 * appear. */
static vka_status put_variants(js_conv *c, js_node *n, obj_plan *p, js_buf *body, bool *empty) {
    member *triggers[MAX_TRIGGERS];
    uint32_t nt = 0;
    if (!close_dependencies(n, p)) return *empty = true, VKA_OK;
    for (uint32_t d = 0; d < n->n_deps; d++) {
        member *t = find_member(p, n->deps[d].name);
        bool seen = false;
        for (uint32_t j = 0; j < nt; j++) seen |= triggers[j] == t;
        if (!t || !t->rule || t->required || seen) continue;
        if (nt == MAX_TRIGGERS) return js_unsupported(c, n->path, "dependentRequired", "more than 6 optional members with dependencies are not supported");
        triggers[nt++] = t;
    }
    bool *saved = calloc(p->n ? p->n : 1, sizeof *saved);
    const char **rules = calloc(p->n ? p->n : 1, sizeof *rules);
    if (!saved || !rules) {
        free(saved), free(rules);
        return js_oom();
    }
    for (uint32_t i = 0; i < p->n; i++) saved[i] = p->m[i].required, rules[i] = p->m[i].rule;
    vka_status s = VKA_OK;
    *empty = true;
    for (uint32_t mask = 0; mask < (1u << nt) && s == VKA_OK; mask++) {
        for (uint32_t i = 0; i < p->n; i++) p->m[i].required = saved[i], p->m[i].rule = rules[i];
        for (uint32_t j = 0; j < nt; j++) {
            if ((mask >> j) & 1) triggers[j]->required = true;
            else triggers[j]->rule = NULL;
        }
        if (!close_dependencies(n, p)) continue;
        char start[96];
        s = put_members(c, n, p, start, sizeof start);
        if (s != VKA_OK || !start[0]) continue;
        js_printf(body, "%s%s", *empty ? "" : " | ", start);
        *empty = false;
    }
    for (uint32_t i = 0; i < p->n; i++) p->m[i].required = saved[i], p->m[i].rule = rules[i];
    free(saved), free(rules);
    return s;
}

/* ---------------------------------------------------------------- entry */

vka_status js_emit_object(js_conv *c, js_node *n, js_buf *body, bool *empty) {
    obj_plan p = {.min = n->min_props, .max = n->max_props};
    *empty = p.min > p.max;
    js_node *keys = NULL;
    vka_status s = VKA_OK;
    if (n->key_set.n) s = js_node_get(c, &n->key_set, &keys);
    if (s == VKA_OK && !*empty) s = plan_members(c, n, keys, &p, empty);
    if (s == VKA_OK && !*empty) s = plan_extra(c, n, keys, &p);
    snprintf(p.sep, sizeof p.sep, "%s \",\"%s ", js_ws(c), js_ws(c));
    js_buf variants = {0};
    if (s == VKA_OK && !*empty) s = put_variants(c, n, &p, &variants, empty);
    if (s == VKA_OK && variants.failed) s = js_oom();
    if (s == VKA_OK && !*empty) {
        const char *w = js_ws(c);
        js_printf(body, "\"{\"%s (%s)%s \"}\"", w, variants.data, w);
    }
    js_buf_free(&variants);
    for (uint32_t i = 0; i < p.n; i++) free(p.m[i].kv);
    free(p.m);
    return s;
}
