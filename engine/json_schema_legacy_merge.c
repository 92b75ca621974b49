/* json_schema_merge.c — schemas that put keywords beside anyOf/oneOf/$ref
 * ({"type": "object", "oneOf": [...]}, common in tool schemas): the sibling
 * keywords are folded into each alternative (or the referenced schema), so
 * every alternative carries the whole constraint. */
#include <stdio.h>
#include <string.h>

#include "json_schema_legacy_impl.h"

/* Keys both sides may constrain that merge by union instead of conflicting. */
static bool merge_object_members(cJSON *into, const cJSON *from) {
    for (const cJSON *m = from->child; m; m = m->next)
        if (!cJSON_GetObjectItemCaseSensitive(into, m->string)) {
            cJSON *dup = cJSON_Duplicate(m, true);
            if (!dup) return false;
            cJSON_AddItemToObject(into, m->string, dup);
        }
    return true;
}

static bool contains_string(const cJSON *array, const char *s) {
    for (const cJSON *e = array->child; e; e = e->next)
        if (cJSON_IsString(e) && strcmp(e->valuestring, s) == 0) return true;
    return false;
}

static bool merge_required(cJSON *into, const cJSON *from) {
    for (const cJSON *e = from->child; e; e = e->next)
        if (cJSON_IsString(e) && !contains_string(into, e->valuestring)) {
            cJSON *s = cJSON_CreateString(e->valuestring);
            if (!s) return false;
            cJSON_AddItemToArray(into, s);
        }
    return true;
}

/* Folds one sibling keyword into the alternative. */
static js_merge_result merge_keyword(cJSON *alt, const cJSON *kw, char *conflict, size_t cap) {
    cJSON *mine = cJSON_GetObjectItemCaseSensitive(alt, kw->string);
    if (!mine) {
        cJSON *dup = cJSON_Duplicate(kw, true);
        if (!dup) return JS_MERGE_OOM;
        cJSON_AddItemToObject(alt, kw->string, dup);
        return JS_MERGE_OK;
    }
    if (strcmp(kw->string, "properties") == 0 && cJSON_IsObject(mine) && cJSON_IsObject(kw))
        return merge_object_members(mine, kw) ? JS_MERGE_OK : JS_MERGE_OOM;
    if (strcmp(kw->string, "required") == 0 && cJSON_IsArray(mine) && cJSON_IsArray(kw))
        return merge_required(mine, kw) ? JS_MERGE_OK : JS_MERGE_OOM;
    /* Equal values agree; anything else would need a real intersection. */
    if (cJSON_Compare(mine, kw, true)) return JS_MERGE_OK;
    snprintf(conflict, cap, "%s", kw->string);
    return JS_MERGE_CONFLICT;
}

js_merge_result js_merge_siblings(const cJSON *schema, const char *combiner, const cJSON *alt,
                                  bool (*is_annotation)(const char *key), cJSON **out, char *conflict, size_t cap) {
    *out = NULL;
    cJSON *merged = cJSON_IsObject(alt) ? cJSON_Duplicate(alt, true) : NULL;
    if (cJSON_IsTrue(alt)) merged = cJSON_CreateObject();
    if (!merged) return cJSON_IsObject(alt) || cJSON_IsTrue(alt) ? JS_MERGE_OOM : JS_MERGE_NOT_OBJECT;
    for (const cJSON *kw = schema->child; kw; kw = kw->next) {
        if (strcmp(kw->string, combiner) == 0 || is_annotation(kw->string)) continue;
        js_merge_result r = merge_keyword(merged, kw, conflict, cap);
        if (r != JS_MERGE_OK) {
            cJSON_Delete(merged);
            return r;
        }
    }
    *out = merged;
    return JS_MERGE_OK;
}
