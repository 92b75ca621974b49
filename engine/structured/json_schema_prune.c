/* Combinations of anyOf/oneOf/if members proved empty by the values they pin:
 * a member every object must have, held by `properties` to const/enum values
 * that no other source of the combination allows (saucectl's eight if/then
 * blocks on a required `kind`), so that the union skips them unbuilt. */
#include "base/status.h"
#include "structured/json_schema_impl.h"

#include <stdlib.h>
#include <string.h>

#define PRUNE_MAX_DEPTH 16          /* allOf/$ref levels read per member */
#define PRUNE_MAX_SOURCES 64        /* schemas read per member */
#define PRUNE_MAX_ENUM 256          /* larger enums are not read (no pin) */

static bool grow(void **items, uint32_t *cap, uint32_t need, size_t size) {
    if (need <= *cap) return true;
    uint32_t cap2 = *cap ? *cap * 2 : 8;
    while (cap2 < need) cap2 *= 2;
    void *p = realloc(*items, (size_t)cap2 * size);
    if (!p) return false;
    *items = p;
    *cap = cap2;
    return true;
}

static vka_status add_required(js_facts *f, const char *name) {
    if (!grow((void **)&f->required, &f->cap_required, f->n_required + 1, sizeof *f->required)) return js_oom();
    f->required[f->n_required++] = name;
    return VKA_OK;
}

static vka_status add_pin(js_facts *f, const char *name, const cJSON *values, js_pin_kind kind) {
    if (!grow((void **)&f->pins, &f->cap_pins, f->n_pins + 1, sizeof *f->pins)) return js_oom();
    f->pins[f->n_pins++] = (js_pin){name, values, kind};
    return VKA_OK;
}

/* The pin of one property schema: `false` (never present), const, or a
 * small enum. Anything else pins nothing (no pin is always sound). */
static vka_status pin_property(js_facts *f, const cJSON *prop) {
    if (cJSON_IsFalse(prop)) return add_pin(f, prop->string, NULL, JS_PIN_ABSENT);
    if (!cJSON_IsObject(prop)) return VKA_OK;
    const cJSON *cn = cJSON_GetObjectItemCaseSensitive(prop, "const");
    if (cn) return add_pin(f, prop->string, cn, JS_PIN_CONST);
    const cJSON *en = cJSON_GetObjectItemCaseSensitive(prop, "enum");
    if (cJSON_IsArray(en) && cJSON_GetArraySize(en) <= PRUNE_MAX_ENUM) return add_pin(f, prop->string, en, JS_PIN_ENUM);
    return VKA_OK;
}

/* A schema's own required and properties keywords. */
static vka_status read_keywords(js_facts *f, const cJSON *s) {
    if (!cJSON_IsObject(s)) return VKA_OK;
    const cJSON *req = cJSON_GetObjectItemCaseSensitive(s, "required");
    for (const cJSON *r = cJSON_IsArray(req) ? req->child : NULL; r; r = r->next)
        if (cJSON_IsString(r)) VKA_TRY(add_required(f, r->valuestring));
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(s, "properties");
    for (const cJSON *p = cJSON_IsObject(props) ? props->child : NULL; p; p = p->next) VKA_TRY(pin_property(f, p));
    return VKA_OK;
}

/* The schema and what it holds conjunctively: allOf members, $ref targets.
 * Reading fewer sources only means fewer proofs. */
static vka_status read_closure(js_conv *c, js_facts *f, const cJSON *s, uint32_t depth, uint32_t *budget) {
    if (!cJSON_IsObject(s) || depth > PRUNE_MAX_DEPTH || *budget == 0) return VKA_OK;
    (*budget)--;
    VKA_TRY(read_keywords(f, s));
    const cJSON *all = cJSON_GetObjectItemCaseSensitive(s, "allOf");
    for (const cJSON *m = cJSON_IsArray(all) ? all->child : NULL; m; m = m->next)
        VKA_TRY(read_closure(c, f, m, depth + 1, budget));
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(s, "$ref");
    const cJSON *target = NULL;
    if (cJSON_IsString(ref) && js_resolve_ref(c, s, ref->valuestring, &target) == VKA_OK)
        VKA_TRY(read_closure(c, f, target, depth + 1, budget));
    return VKA_OK;
}

vka_status js_facts_of_set(const js_set *set, js_facts *out) {
    *out = (js_facts){0};
    for (uint32_t i = 0; i < set->n; i++) VKA_TRY(read_keywords(out, set->items[i].schema));
    return VKA_OK;
}

vka_status js_facts_of_schema(js_conv *c, const cJSON *schema, js_facts *out) {
    *out = (js_facts){0};
    uint32_t budget = PRUNE_MAX_SOURCES;
    return read_closure(c, out, schema, 0, &budget);
}

void js_facts_free(js_facts *f) {
    free(f->required);
    free(f->pins);
    *f = (js_facts){0};
}

static bool pin_allows(const js_pin *p, const cJSON *v) {
    if (p->kind == JS_PIN_ABSENT) return false;
    if (p->kind == JS_PIN_CONST) return js_json_equal(p->values, v);
    for (const cJSON *e = p->values->child; e; e = e->next)
        if (js_json_equal(e, v)) return true;
    return false;
}

/* Whether some value is allowed by every pin on `name` (all pins of parts). */
static bool name_satisfiable(const js_facts *const *parts, uint32_t n, const char *name) {
    const js_pin *first = NULL;
    for (uint32_t i = 0; i < n && !first; i++)
        for (uint32_t j = 0; j < parts[i]->n_pins && !first; j++)
            if (strcmp(parts[i]->pins[j].name, name) == 0) first = &parts[i]->pins[j];
    if (!first) return true;
    if (first->kind == JS_PIN_ABSENT) return false;
    const cJSON *one = first->values;
    const cJSON *v = first->kind == JS_PIN_CONST ? one : one->child;
    for (; v; v = first->kind == JS_PIN_CONST ? NULL : v->next) {
        bool all = true;
        for (uint32_t i = 0; i < n && all; i++)
            for (uint32_t j = 0; j < parts[i]->n_pins && all; j++)
                if (&parts[i]->pins[j] != first && strcmp(parts[i]->pins[j].name, name) == 0)
                    all = pin_allows(&parts[i]->pins[j], v);
        if (all) return true;
    }
    return false;
}

bool js_facts_conflict(const js_facts *const *parts, uint32_t n) {
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t j = 0; j < parts[i]->n_required; j++)
            if (!name_satisfiable(parts, n, parts[i]->required[j])) return true;
    return false;
}

/* ---------------------------------------------------------------- unions */

void js_union_facts_free(js_union_facts *u) {
    for (uint32_t i = 0; i < u->n; i++) js_facts_free(&u->all[i]);
    free(u->all);
    free(u->parts);
    free(u->sizes);
    *u = (js_union_facts){0};
}

vka_status js_union_facts_new(js_conv *c, const js_set *base, const cJSON *const *lists, uint32_t n_lists,
                              js_union_facts *u) {
    *u = (js_union_facts){0};
    uint32_t total = 1;
    for (uint32_t i = 0; i < n_lists; i++) total += (uint32_t)cJSON_GetArraySize(lists[i]);
    u->all = calloc(total, sizeof *u->all);
    u->parts = calloc((size_t)n_lists + 1, sizeof *u->parts);
    u->sizes = calloc((size_t)n_lists + 1, sizeof *u->sizes);
    if (!u->all || !u->parts || !u->sizes) {
        js_union_facts_free(u);
        return js_oom();
    }
    u->n = total;
    u->n_lists = n_lists;
    vka_status s = js_facts_of_set(base, &u->all[0]);
    uint32_t at = 1;
    for (uint32_t i = 0; i < n_lists && s == VKA_OK; i++) {
        u->sizes[i] = (uint32_t)cJSON_GetArraySize(lists[i]);
        for (const cJSON *m = lists[i]->child; m && s == VKA_OK; m = m->next) s = js_facts_of_schema(c, m, &u->all[at++]);
    }
    return s;
}

bool js_union_facts_conflict(js_union_facts *u, uint64_t k) {
    uint32_t at = 1;
    u->parts[0] = &u->all[0];
    for (uint32_t i = 0; i < u->n_lists; i++) {
        u->parts[i + 1] = &u->all[at + (uint32_t)(k % u->sizes[i])];
        k /= u->sizes[i];
        at += u->sizes[i];
    }
    return js_facts_conflict(u->parts, u->n_lists + 1);
}
