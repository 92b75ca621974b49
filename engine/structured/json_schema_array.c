/* json_schema_array.c — the array facet as GBNF: prefix positions, the
 * shared schema of the positions after them, item counts of any size, and
 * `contains` with its counts (elements that match it counted through a small
 * automaton of (elements so far, matches so far)). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "structured/json_schema_impl.h"
#include "structured/json_schema_keywords.h"
#include "base/status.h"

#define MAX_CONTAINS_STATES 100000u

typedef struct arr_plan {
    const char **pos;           /* rules of the prefix positions */
    uint64_t k;                 /* prefix positions that can appear */
    const char *rest;           /* rule of the later positions, NULL: none can appear */
    uint64_t min, max;
    char sep[64];               /* "," with the whitespace around it */
} arr_plan;

/* The position's step: a prefix index, or any index from the prefix on. */
static js_step item_step(const js_node *n, uint64_t index) {
    return index < js_prefix_len(n) ? (js_step){JS_STEP_INDEX, NULL, index} : (js_step){JS_STEP_ANY, NULL, 0};
}

static vka_status item_rule(js_conv *c, js_node *n, uint64_t index, const char **rule) {
    js_set set;
    VKA_TRY(js_item_set(c, n, index, &set));
    vka_status s = js_rule_of_set(c, &set, item_step(n, index), rule);
    js_set_free(&set);
    return s;
}

/* The rules of the positions, and the counts they leave possible. */
static vka_status plan_array(js_conv *c, js_node *n, arr_plan *p, bool *empty) {
    uint64_t k = js_prefix_len(n);
    p->min = n->min_items;
    p->max = n->max_items;
    if (k > p->max) k = p->max;
    p->pos = k ? calloc((size_t)k, sizeof *p->pos) : NULL;
    if (k && !p->pos) return js_oom();
    for (uint64_t i = 0; i < k; i++) {
        VKA_TRY(item_rule(c, n, i, &p->pos[i]));
        if (!p->pos[i]) {       /* nothing fits here: the array ends before */
            if (p->max > i) p->max = i;
            k = i;
            break;
        }
    }
    p->k = k;
    p->rest = NULL;
    if (p->max > k) VKA_TRY(item_rule(c, n, js_prefix_len(n), &p->rest));
    if (!p->rest && p->max > k) p->max = k;
    snprintf(p->sep, sizeof p->sep, "%s \",\"%s", js_ws(c), js_ws(c));
    *empty = p->max < p->min;
    return VKA_OK;
}

/* Elements from prefix position i on (i < k): the position, then either the
 * next one or the end (where the count allows), then the later ones. */
static vka_status put_from(js_conv *c, const arr_plan *p, uint64_t i, js_buf *out) {
    js_puts(out, p->pos[i]);
    if (i + 1 < p->k) {
        bool optional = i + 1 >= p->min;
        js_printf(out, " (%s ", p->sep);
        VKA_TRY(put_from(c, p, i + 1, out));
        js_puts(out, optional ? ")?" : ")");
        return VKA_OK;
    }
    if (p->rest && p->max > p->k) {
        char unit[160];
        snprintf(unit, sizeof unit, "(%s %s)", p->sep, p->rest);
        uint64_t lo = p->min > p->k ? p->min - p->k : 0;
        uint64_t hi = p->max == JS_UNBOUNDED ? JS_UNBOUNDED : p->max - p->k;
        js_puts(out, " ");
        if (!js_put_repeat(&c->rules, out, unit, NULL, lo, hi)) return js_oom();
    }
    return VKA_OK;
}

static vka_status put_elements(js_conv *c, const arr_plan *p, js_buf *out) {
    if (p->k == 0) {
        if (p->max == 0) return js_puts(out, "\"\"") ? VKA_OK : js_oom();
        char sep[80];
        snprintf(sep, sizeof sep, "(%s)", p->sep);
        return js_put_repeat(&c->rules, out, p->rest, sep, p->min, p->max) ? VKA_OK : js_oom();
    }
    js_puts(out, "(");
    VKA_TRY(put_from(c, p, 0, out));
    js_puts(out, p->min == 0 ? ")?" : ")");
    return out->failed ? js_oom() : VKA_OK;
}

/* ---------------------------------------------------------------- contains */

/* An automaton over (elements so far i, matches of `contains` so far h):
 * each element is a match (items and contains) or another (items, and not
 * contains when maxContains bounds the matches). Without maxItems, counting
 * stops at `last` elements, after which a closed form takes the rest. Only
 * states from which the counts can still be met are written. */
typedef struct contains_plan {
    const char **hit, **other;  /* per position 0..k (k: every later position) */
    uint64_t k;                 /* prefix positions */
    uint64_t m, big_m;          /* minContains, maxContains (JS_UNBOUNDED) */
    uint64_t last;              /* elements counted */
    uint64_t top;               /* matches counted (saturating at m when maxContains is unbounded) */
    bool *productive;           /* [(last + 1) * (top + 1)] */
    char base[JS_NAME_CAP];
} contains_plan;

static uint64_t at(const contains_plan *q, uint64_t i) { return i < q->k ? i : q->k; }

static bool *prod(const contains_plan *q, uint64_t i, uint64_t h) { return &q->productive[i * (q->top + 1) + h]; }

static uint64_t after_hit(const contains_plan *q, uint64_t h) {
    return q->big_m == JS_UNBOUNDED && h == q->m ? h : h + 1;
}

/* At `last` elements with no maxItems: any number more, between lo and hi of them matches. */
static bool tail_possible(const contains_plan *q, uint64_t h) {
    uint64_t lo = q->m > h ? q->m - h : 0;
    return lo == 0 || q->hit[q->k];
}

static void mark_productive(const arr_plan *p, contains_plan *q) {
    for (uint64_t i = q->last + 1; i-- > 0;)
        for (uint64_t h = 0; h <= q->top; h++) {
            bool ok;
            if (p->max == JS_UNBOUNDED && i == q->last) {
                ok = tail_possible(q, h);
            } else {
                ok = i >= p->min && h >= q->m;
                if (!ok && i < p->max && i < q->last) {
                    uint64_t hh = after_hit(q, h);
                    ok = (q->hit[at(q, i)] && hh <= q->top && hh <= q->big_m && *prod(q, i + 1, hh)) ||
                         (q->other[at(q, i)] && *prod(q, i + 1, h));
                }
            }
            *prod(q, i, h) = ok;
        }
}

static void state_name(char *out, size_t cap, const contains_plan *q, uint64_t i, uint64_t h) {
    snprintf(out, cap, "%s_%llu_%llu", q->base, (unsigned long long)i, (unsigned long long)h);
}

static vka_status put_tail(js_conv *c, const arr_plan *p, const contains_plan *q, uint64_t h, js_buf *out) {
    uint64_t lo = q->m > h ? q->m - h : 0;
    uint64_t hi = q->big_m == JS_UNBOUNDED ? JS_UNBOUNDED : q->big_m - h;
    const char *other = q->other[q->k], *hit = q->hit[q->k];
    char others[200] = "\"\"", unit[480];
    if (other) snprintf(others, sizeof others, "(%s %s)*", p->sep, other);
    if (!hit || hi == 0) return js_puts(out, others) ? VKA_OK : js_oom();
    snprintf(unit, sizeof unit, "(%s %s %s)", p->sep, hit, others);
    js_printf(out, "%s ", others);
    return js_put_repeat(&c->rules, out, unit, NULL, lo, hi) ? VKA_OK : js_oom();
}

static vka_status put_state(js_conv *c, const arr_plan *p, const contains_plan *q, uint64_t i, uint64_t h) {
    char name[96], next[96];
    state_name(name, sizeof name, q, i, h);
    js_buf body = {0};
    bool first = true;
    if (p->max == JS_UNBOUNDED && i == q->last) {
        vka_status s = i > 0 ? put_tail(c, p, q, h, &body) : (js_puts(&body, "\"\"") ? VKA_OK : js_oom());
        if (s != VKA_OK) {
            js_buf_free(&body);
            return s;
        }
        first = false;
    } else {
        if (i >= p->min && h >= q->m) js_puts(&body, "\"\""), first = false;
        const char *sep = i > 0 ? p->sep : "";
        uint64_t hh = after_hit(q, h);
        if (i < p->max && i < q->last && q->hit[at(q, i)] && hh <= q->top && hh <= q->big_m && *prod(q, i + 1, hh)) {
            state_name(next, sizeof next, q, i + 1, hh);
            js_printf(&body, "%s%s %s %s", first ? "" : " | ", sep, q->hit[at(q, i)], next);
            first = false;
        }
        if (i < p->max && i < q->last && q->other[at(q, i)] && *prod(q, i + 1, h)) {
            state_name(next, sizeof next, q, i + 1, h);
            js_printf(&body, "%s%s %s %s", first ? "" : " | ", sep, q->other[at(q, i)], next);
        }
    }
    bool ok = !body.failed && js_rule_add(&c->rules, name, body.data);
    js_buf_free(&body);
    return ok ? VKA_OK : js_oom();
}

/* The rules of a match and of another element at position i (i == k: all later ones). */
static vka_status position_rules(js_conv *c, js_node *n, uint64_t i, bool exclusive, const char **hit, const char **other) {
    js_set set;
    VKA_TRY(js_item_set(c, n, i, &set));
    vka_status s = js_set_add(&set, n->contains, false);
    if (s == VKA_OK) s = js_rule_of_set(c, &set, item_step(n, i), hit);
    js_set_free(&set);
    if (s == VKA_OK) s = js_item_set(c, n, i, &set);
    if (s != VKA_OK) return s;
    if (exclusive) {
        const cJSON *neg = NULL;
        s = js_negation(c, n->contains, &neg);
        if (s == VKA_OK) s = js_set_add(&set, neg, false);
    }
    if (s == VKA_OK) s = js_rule_of_set(c, &set, item_step(n, i), other);
    js_set_free(&set);
    return s;
}

static vka_status emit_contains(js_conv *c, js_node *n, arr_plan *p, js_buf *out, bool *empty) {
    contains_plan q = {.m = n->min_contains, .big_m = n->max_contains, .k = p->k};
    if (q.m == 0 && q.big_m == JS_UNBOUNDED) return put_elements(c, p, out);
    if (q.m > q.big_m) return *empty = true, VKA_OK;   /* minContains above maxContains: no array */
    q.last = p->max != JS_UNBOUNDED ? p->max : (p->min > q.m ? p->min : q.m);
    if (q.last < q.k && p->max == JS_UNBOUNDED) q.last = q.k;
    if (p->max == JS_UNBOUNDED && q.last == 0) q.last = 1;
    q.top = q.big_m == JS_UNBOUNDED ? q.m : q.big_m;
    if (q.top > q.last) q.top = q.last;
    if ((q.last + 1) * (q.top + 1) > MAX_CONTAINS_STATES)
        return js_unsupported(c, n->path, "contains", "the counts of items and contains here need too many states");
    q.hit = calloc(q.k + 1, sizeof *q.hit);
    q.other = calloc(q.k + 1, sizeof *q.other);
    q.productive = calloc((q.last + 1) * (q.top + 1), sizeof *q.productive);
    vka_status s = q.hit && q.other && q.productive ? VKA_OK : js_oom();
    for (uint64_t i = 0; i <= q.k && s == VKA_OK; i++)
        s = position_rules(c, n, i, q.big_m != JS_UNBOUNDED, &q.hit[i], &q.other[i]);
    if (s == VKA_OK) {
        mark_productive(p, &q);
        *empty = !*prod(&q, 0, 0);
    }
    if (s == VKA_OK && !*empty) {
        js_rule_name(&c->rules, "contains", q.base);
        for (uint64_t i = 0; i <= q.last && s == VKA_OK; i++)
            for (uint64_t h = 0; h <= q.top && h <= i && s == VKA_OK; h++)
                if (*prod(&q, i, h)) s = put_state(c, p, &q, i, h);
        char start[96];
        state_name(start, sizeof start, &q, 0, 0);
        if (s == VKA_OK && !js_puts(out, start)) s = js_oom();
    }
    free(q.hit), free(q.other), free(q.productive);
    return s;
}

/* ---------------------------------------------------------------- uniqueItems */

#define MAX_UNIQUE_VALUES 8     /* 2^8 subsets of values used */

/* The values an element may take, when they are few: an enum or const, or
 * only null and booleans. NULL when the domain is not such a small set. */
static vka_status finite_domain(js_conv *c, js_node *item, cJSON **out) {
    *out = NULL;
    if (item->is_union) return VKA_OK;
    if (item->values) {
        if (cJSON_GetArraySize(item->values) > MAX_UNIQUE_VALUES) return VKA_OK;
        *out = cJSON_Duplicate(item->values, true);
        return *out ? VKA_OK : js_oom();
    }
    if (item->types & ~(unsigned)(JT_NULL | JT_BOOL)) return VKA_OK;
    cJSON *v = cJSON_CreateArray();
    if (!v) return js_oom();
    if (item->types & JT_NULL) cJSON_AddItemToArray(v, cJSON_CreateNull());
    if (item->types & JT_BOOL) cJSON_AddItemToArray(v, cJSON_CreateTrue()), cJSON_AddItemToArray(v, cJSON_CreateFalse());
    /* drop the excluded ones */
    for (const cJSON *x = item->excluded ? item->excluded->child : NULL; x; x = x->next)
        for (int i = cJSON_GetArraySize(v); i-- > 0;)
            if (js_json_equal(cJSON_GetArrayItem(v, i), x)) cJSON_DeleteItemFromArray(v, i);
    (void)c;
    *out = v;
    return VKA_OK;
}

static unsigned popcount(unsigned x) {
    unsigned n = 0;
    for (; x; x &= x - 1) n++;
    return n;
}

/* Distinct elements from a small set of values: one state per subset used. */
static vka_status put_unique(js_conv *c, const arr_plan *p, const cJSON *domain, js_buf *out, bool *empty) {
    unsigned nv = (unsigned)cJSON_GetArraySize(domain);
    if (p->min > nv) return *empty = true, VKA_OK;
    char **lits = calloc(nv ? nv : 1, sizeof *lits);
    if (!lits) return js_oom();
    vka_status s = VKA_OK;
    unsigned i = 0;
    for (const cJSON *v = domain->child; v && s == VKA_OK; v = v->next, i++) {
        js_buf b = {0};
        s = js_emit_value(c, v, &b);
        lits[i] = b.data;
        if (s == VKA_OK && b.failed) s = js_oom();
    }
    char base[JS_NAME_CAP];
    js_rule_name(&c->rules, "unique", base);
    for (unsigned mask = 0; mask < (1u << nv) && s == VKA_OK; mask++) {
        unsigned used = popcount(mask);
        if (used > p->max) continue;
        js_buf body = {0};
        bool first = true;
        if (used >= p->min) js_puts(&body, "\"\""), first = false;
        for (unsigned v = 0; v < nv && used < p->max; v++) {
            if (mask & (1u << v)) continue;
            js_printf(&body, "%s%s %s %s_%u", first ? "" : " | ", used ? p->sep : "", lits[v], base, mask | (1u << v));
            first = false;
        }
        char name[JS_NAME_CAP + 16];
        snprintf(name, sizeof name, "%s_%u", base, mask);
        if (body.failed || !js_rule_add(&c->rules, name, body.data)) s = js_oom();
        js_buf_free(&body);
    }
    if (s == VKA_OK && !js_printf(out, "%s_0", base)) s = js_oom();
    for (i = 0; i < nv; i++) free(lits[i]);
    free(lits);
    return s;
}

/* Elements from a small set of values get a grammar of distinct sequences;
 * any other array is written without the uniqueness, which the runtime then
 * enforces (a "# vka:unique" annotation of its path: the sampler never lets
 * an element repeat, the checker rejects repeats). */
static vka_status emit_unique(js_conv *c, js_node *n, arr_plan *p, js_buf *out, bool *empty) {
    cJSON *domain = NULL;
    vka_status s = VKA_OK;
    if (p->k == 0 && !n->contains) {
        js_set set;
        js_node *item = NULL;
        VKA_TRY(js_item_set(c, n, 0, &set));
        s = js_node_get(c, &set, &item);
        js_set_free(&set);
        if (s == VKA_OK) s = finite_domain(c, item, &domain);
    }
    if (s == VKA_OK && domain) {
        s = put_unique(c, p, domain, out, empty);
    } else if (s == VKA_OK) {
        if (!js_grow((void **)&c->unique, &c->cap_unique, c->n_unique + 1, sizeof *c->unique)) s = js_oom();
        else c->unique[c->n_unique++] = n->id;
        if (s == VKA_OK) s = n->contains ? emit_contains(c, n, p, out, empty) : put_elements(c, p, out);
    }
    cJSON_Delete(domain);
    return s;
}

vka_status js_emit_array(js_conv *c, js_node *n, js_buf *body, bool *empty) {
    arr_plan p = {0};
    vka_status s = plan_array(c, n, &p, empty);
    js_buf elems = {0};
    if (s == VKA_OK && !*empty) {
        if (n->unique && p.max > 1) s = emit_unique(c, n, &p, &elems, empty);
        else if (n->contains) s = emit_contains(c, n, &p, &elems, empty);
        else s = put_elements(c, &p, &elems);
        if (s == VKA_OK && elems.failed) s = js_oom();
    }
    if (s == VKA_OK && !*empty) {
        const char *w = js_ws(c);
        js_printf(body, "\"[\"%s %s%s \"]\"", w, elems.data, w);
    }
    js_buf_free(&elems);
    free(p.pos);
    return s;
}
