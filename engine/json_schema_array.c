/* json_schema_array.c — the array facet as GBNF: prefix positions, the
 * shared schema of the positions after them, item counts of any size, and
 * `contains` with its counts (elements that match it counted through a small
 * automaton of (elements so far, matches so far)). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_schema_impl.h"
#include "json_schema_keywords.h"
#include "status.h"

#define MAX_CONTAINS_STATES 100000u

typedef struct arr_plan {
    const char **pos;           /* rules of the prefix positions */
    uint64_t k;                 /* prefix positions that can appear */
    const char *rest;           /* rule of the later positions, NULL: none can appear */
    uint64_t min, max;
    char sep[64];               /* "," with the whitespace around it */
} arr_plan;

static vka_status item_rule(js_conv *c, js_node *n, uint64_t index, const char **rule) {
    js_set set;
    VKA_TRY(js_item_set(c, n, index, &set));
    vka_status s = js_rule_of_set(c, &set, rule);
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

typedef struct contains_plan {
    const char *hit;            /* an element matching items and contains */
    const char *other;          /* an element that may (or, with maxContains, must not) match contains */
    uint64_t m, big_m;          /* minContains, maxContains */
    uint64_t saturate;          /* element count from which counting stops (max unbounded) */
} contains_plan;

/* Rule name of state (elements i, matches h). */
static void state_name(char *out, size_t cap, const char *base, uint64_t i, uint64_t h) {
    snprintf(out, cap, "%s_%llu_%llu", base, (unsigned long long)i, (unsigned long long)h);
}

/* After `saturate` elements (max unbounded): any number more, with between
 * lo and hi further matches. */
static vka_status put_tail(js_conv *c, const arr_plan *p, const contains_plan *q, uint64_t h, js_buf *out) {
    uint64_t lo = q->m > h ? q->m - h : 0;
    uint64_t hi = q->big_m == JS_UNBOUNDED ? JS_UNBOUNDED : q->big_m - h;
    char others[160], unit[400];
    snprintf(others, sizeof others, "(%s %s)*", p->sep, q->other);
    if (q->big_m == JS_UNBOUNDED && lo == 0) return js_puts(out, others) ? VKA_OK : js_oom();
    snprintf(unit, sizeof unit, "(%s %s %s)", p->sep, q->hit, others);
    js_printf(out, "%s ", others);
    return js_put_repeat(&c->rules, out, unit, NULL, lo, hi) ? VKA_OK : js_oom();
}

/* One state's rule: end here if allowed, or one more element (a match or not). */
static vka_status put_state(js_conv *c, const arr_plan *p, const contains_plan *q, const char *base, uint64_t i,
                            uint64_t h, js_buf *rules) {
    char name[96], next[96];
    state_name(name, sizeof name, base, i, h);
    js_buf body = {0};
    bool first = true;
    if (p->max == JS_UNBOUNDED && i == q->saturate) {
        js_puts(&body, "");
        VKA_TRY(put_tail(c, p, q, h, &body));
        first = false;
    } else {
        if (i >= p->min && h >= q->m) js_puts(&body, "\"\""), first = false;
        if (i < p->max) {
            const char *sep = i > 0 ? p->sep : "";
            uint64_t hh = q->big_m == JS_UNBOUNDED && h == q->m ? h : h + 1;
            if (hh <= q->big_m) {
                state_name(next, sizeof next, base, i + 1, hh);
                js_printf(&body, "%s%s %s %s", first ? "" : " | ", sep, q->hit, next);
                first = false;
            }
            state_name(next, sizeof next, base, i + 1, h);
            js_printf(&body, "%s%s %s %s", first ? "" : " | ", sep, q->other, next);
            first = false;
        }
    }
    if (first) js_puts(&body, "[^\\x00-\\U0010FFFF]");    /* a dead state: matches nothing */
    bool ok = !body.failed && js_printf(rules, "%s ::= %s\n", name, body.data);
    js_buf_free(&body);
    return ok ? VKA_OK : js_oom();
}

static vka_status put_contains(js_conv *c, js_node *n, const arr_plan *p, const contains_plan *q, js_buf *out) {
    uint64_t last = p->max == JS_UNBOUNDED ? q->saturate : p->max;
    uint64_t top = q->big_m == JS_UNBOUNDED ? q->m : q->big_m;
    if ((last + 1) * (top + 1) > MAX_CONTAINS_STATES)
        return js_unsupported(c, n->path, "contains", "the counts of items and contains here need too many states");
    char base[JS_NAME_CAP];
    js_rule_name(&c->rules, "contains", base);
    for (uint64_t i = 0; i <= last; i++)
        for (uint64_t h = 0; h <= top && h <= i; h++) VKA_TRY(put_state(c, p, q, base, i, h, &c->rules.text));
    /* states with more matches than elements never occur, but may be named */
    for (uint64_t i = 0; i <= last; i++)
        for (uint64_t h = i + 1; h <= top; h++) {
            char name[96];
            state_name(name, sizeof name, base, i, h);
            js_printf(&c->rules.text, "%s ::= [^\\x00-\\U0010FFFF]\n", name);
        }
    char start[96];
    state_name(start, sizeof start, base, 0, 0);
    return js_puts(out, start) ? VKA_OK : js_oom();
}

/* contains with its counts, on arrays without prefix positions. */
static vka_status emit_contains(js_conv *c, js_node *n, arr_plan *p, js_buf *out, bool *empty) {
    contains_plan q = {.m = n->min_contains, .big_m = n->max_contains};
    if (q.m == 0 && q.big_m == JS_UNBOUNDED) return put_elements(c, p, out);
    if (p->k > 0) return js_unsupported(c, n->path, "contains", "contains beside prefixItems is not supported");
    js_set set;
    VKA_TRY(js_item_set(c, n, 0, &set));
    vka_status s = js_set_add(&set, n->contains, false);
    if (s == VKA_OK) s = js_rule_of_set(c, &set, &q.hit);
    q.other = p->rest;
    if (s == VKA_OK && q.big_m != JS_UNBOUNDED) {
        /* the other elements must not match: items and not contains */
        const cJSON *neg;
        js_set_free(&set);
        VKA_TRY(js_item_set(c, n, 0, &set));
        s = js_negation(c, n->contains, &neg);
        if (s == VKA_OK) s = js_set_add(&set, neg, false);
        if (s == VKA_OK) s = js_rule_of_set(c, &set, &q.other);
    }
    js_set_free(&set);
    VKA_TRY(s);
    if (!q.hit) {
        if (q.m > 0) return *empty = true, VKA_OK;
        q.hit = q.other;
    }
    if (!q.other) {
        if (p->max > q.big_m) p->max = q.big_m;
        q.other = q.hit;
        q.big_m = JS_UNBOUNDED;
    }
    if (p->max < p->min || p->max < q.m) return *empty = true, VKA_OK;
    q.saturate = p->min > q.m ? p->min : q.m;
    if (q.saturate == 0) q.saturate = 1;
    return put_contains(c, n, p, &q, out);
}

vka_status js_emit_array(js_conv *c, js_node *n, js_buf *body, bool *empty) {
    arr_plan p = {0};
    vka_status s = plan_array(c, n, &p, empty);
    if (s == VKA_OK && !*empty && n->unique && p.max > 1)
        s = js_unsupported(c, n->path, "uniqueItems",
                           "uniqueItems on arrays that may hold two or more elements is not supported (HINT: maxItems 1, "
                           "or the lenient option, which ignores it)");
    js_buf elems = {0};
    if (s == VKA_OK && !*empty) {
        s = n->contains ? emit_contains(c, n, &p, &elems, empty) : put_elements(c, &p, &elems);
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
