/* json_schema_keywords.h — which keywords the converter enforces, ignores or
 * refuses, and the rewritings of not, if/then/else and schema dependencies
 * into choices (json_schema_rewrite.c). */
#ifndef VKA_JSON_SCHEMA_KEYWORDS_H
#define VKA_JSON_SCHEMA_KEYWORDS_H

#include "structured/json_schema_impl.h"

/* Keywords of the schemas the rewritings make. They say what the standard
 * has no positive keyword for; the \x01 keeps them apart from any keyword
 * a real schema would use. */
#define JS_KW_FORBID "\x01" "forbid"            /* names an object must not have */
#define JS_KW_NOT_ENUM "\x01" "notEnum"         /* values the instance must not be */
#define JS_KW_NOT_PATTERN "\x01" "notPattern"   /* a string must not match */
#define JS_KW_NOT_FORMAT "\x01" "notFormat"     /* a string must not be of this format */
#define JS_KW_FRACTION "\x01" "fraction"        /* a number must not be an integer */

/* Why a keyword (with this value) cannot be enforced exactly, or NULL when it
 * is enforced, or is an annotation (unknown keywords included). */
const char *js_keyword_unsupported(const char *keyword, const cJSON *value);

/* The choices (arrays of schemas, one of which must hold) that `not`,
 * if/then/else and schema-valued dependencies of schema `s` amount to. At
 * most 8. The arrays live as long as the converter. */
vka_status js_rewrite_choices(js_conv *c, const cJSON *s, const char *path, const cJSON **choices, uint32_t *n);

/* The negation of schema s as a schema the converter enforces (memoized). */
vka_status js_negation(js_conv *c, const cJSON *s, const cJSON **out);

/* Makes the members of a oneOf (in the context of the other sources, `base`)
 * exclusive where they may overlap, replacing choice->list, unless oneOf is to
 * be read as anyOf. */
vka_status js_check_one_of(js_conv *c, const js_set *base, js_choice *choice);

/* The oneOf list with member i replaced by "i and not j" for each j set in
 * partners[i] (memoized per list and partners). */
vka_status js_exclusive_one_of(js_conv *c, const cJSON *list, const uint64_t *partners, uint32_t n, const cJSON **out);

void js_exclusive_free(js_conv *c);

#endif
