/* json_schema_unique.c — the arrays whose uniqueItems a grammar cannot say
 * (elements from an unbounded set) are enforced at run time: the converter
 * writes the instance paths where such arrays sit as annotation lines,
 *
 *     # vka:unique ["jobs",null,"needs"]
 *
 * (a member name, an array index, or null for any name or index), found by
 * walking the rules emitted from the root. A path through a recursive part of
 * the schema has no finite set of patterns and is refused. An array reached
 * by several alternatives is checked whichever of them the document follows:
 * stricter than the schema at worst, never looser. */
#include <stdlib.h>
#include <string.h>

#include "structured/json_schema_impl.h"
#include "base/status.h"

#define MAX_PATTERNS 256

typedef struct walk {
    js_conv *c;
    uint32_t *first, *order;            /* edges grouped by parent */
    bool *reaches, *on_path, *is_unique;
    const js_edge **steps;              /* the path walked so far */
    uint32_t depth;
    cJSON *patterns;                    /* distinct, as JSON arrays */
} walk;

static vka_status group_edges(walk *w) {
    js_conv *c = w->c;
    w->first = calloc(c->n_nodes + 1, sizeof *w->first);
    w->order = calloc(c->n_edges ? c->n_edges : 1, sizeof *w->order);
    if (!w->first || !w->order) return js_oom();
    for (uint32_t e = 0; e < c->n_edges; e++) w->first[c->edges[e].parent + 1]++;
    for (uint32_t n = 0; n < c->n_nodes; n++) w->first[n + 1] += w->first[n];
    uint32_t *fill = calloc(c->n_nodes + 1, sizeof *fill);
    if (!fill) return js_oom();
    for (uint32_t e = 0; e < c->n_edges; e++) {
        uint32_t p = c->edges[e].parent;
        w->order[w->first[p] + fill[p]++] = e;
    }
    free(fill);
    return VKA_OK;
}

/* Which nodes lead to an array checked at run time (fixpoint over the edges). */
static void mark_reaching(walk *w) {
    js_conv *c = w->c;
    for (uint32_t i = 0; i < c->n_unique; i++) w->reaches[c->unique[i]] = w->is_unique[c->unique[i]] = true;
    for (bool changed = true; changed;) {
        changed = false;
        for (uint32_t e = 0; e < c->n_edges; e++)
            if (w->reaches[c->edges[e].child] && !w->reaches[c->edges[e].parent])
                w->reaches[c->edges[e].parent] = changed = true;
    }
}

static vka_status add_pattern(walk *w) {
    cJSON *p = cJSON_CreateArray();
    if (!p) return js_oom();
    for (uint32_t i = 0; i < w->depth; i++) {
        const js_edge *e = w->steps[i];
        cJSON *step = e->kind == JS_STEP_NAME    ? cJSON_CreateString(e->name)
                      : e->kind == JS_STEP_INDEX ? cJSON_CreateNumber((double)e->index)
                                                 : cJSON_CreateNull();
        if (!step) {
            cJSON_Delete(p);
            return js_oom();
        }
        cJSON_AddItemToArray(p, step);
    }
    for (const cJSON *q = w->patterns->child; q; q = q->next)
        if (js_json_equal(q, p)) {
            cJSON_Delete(p);
            return VKA_OK;
        }
    if (cJSON_GetArraySize(w->patterns) >= MAX_PATTERNS) {
        cJSON_Delete(p);
        return js_fail_at("#", "uniqueItems", "arrays with uniqueItems are reached by more than %d paths", MAX_PATTERNS);
    }
    cJSON_AddItemToArray(w->patterns, p);
    return VKA_OK;
}

static vka_status visit(walk *w, uint32_t node) {
    js_conv *c = w->c;
    if (w->is_unique[node]) VKA_TRY(add_pattern(w));
    if (w->depth >= JS_MAX_DEPTH)
        return js_fail_at(c->nodes[node]->path, "uniqueItems", "reached through more than %d levels", JS_MAX_DEPTH);
    w->on_path[node] = true;
    vka_status s = VKA_OK;
    for (uint32_t k = w->first[node]; k < w->first[node + 1] && s == VKA_OK; k++) {
        const js_edge *e = &c->edges[w->order[k]];
        if (!w->reaches[e->child]) continue;
        if (w->on_path[e->child]) {
            s = js_fail_at(c->nodes[e->child]->path, "uniqueItems",
                           "uniqueItems of arrays of free values inside a recursive schema is not supported (the run-time "
                           "check needs their paths) (HINT: the lenient option ignores it)");
            break;
        }
        bool moves = e->kind != JS_STEP_SAME;
        if (moves) w->steps[w->depth++] = e;
        s = visit(w, e->child);
        if (moves) w->depth--;
    }
    w->on_path[node] = false;
    return s;
}

static vka_status put_lines(js_conv *c, const cJSON *patterns) {
    for (const cJSON *p = patterns->child; p; p = p->next) {
        char *text = cJSON_PrintUnformatted(p);
        if (!text) return js_oom();
        bool ok = js_printf(&c->rules.text, "# vka:unique %s\n", text);
        free(text);
        if (!ok) return js_oom();
    }
    return VKA_OK;
}

vka_status js_put_unique_annotations(js_conv *c) {
    if (!c->n_unique) return VKA_OK;
    walk w = {.c = c};
    w.reaches = calloc(c->n_nodes, sizeof *w.reaches);
    w.on_path = calloc(c->n_nodes, sizeof *w.on_path);
    w.is_unique = calloc(c->n_nodes, sizeof *w.is_unique);
    w.steps = calloc(JS_MAX_DEPTH + 1, sizeof *w.steps);
    w.patterns = cJSON_CreateArray();
    vka_status s = w.reaches && w.on_path && w.is_unique && w.steps && w.patterns ? group_edges(&w) : js_oom();
    if (s == VKA_OK) {
        mark_reaching(&w);
        s = visit(&w, 0);
    }
    if (s == VKA_ERR_GRAMMAR && (c->flags & VKA_JSON_SCHEMA_LENIENT)) {
        js_warn(c, "#", "uniqueItems", "ignored (lenient): its arrays cannot be located by a finite set of paths");
        s = VKA_OK;
    } else if (s == VKA_OK) {
        s = put_lines(c, w.patterns);
    }
    free(w.first), free(w.order), free(w.reaches), free(w.on_path), free(w.is_unique), free(w.steps);
    cJSON_Delete(w.patterns);
    return s;
}

void js_edges_free(js_conv *c) {
    for (uint32_t i = 0; i < c->n_edges; i++) free(c->edges[i].name);
    free(c->edges);
    free(c->unique);
}
