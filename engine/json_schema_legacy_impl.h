/* json_schema_impl.h — internals of the JSON Schema converter: a growing
 * text buffer and the integer-range grammar generator. */
#ifndef VKA_JSON_SCHEMA_LEGACY_IMPL_H
#define VKA_JSON_SCHEMA_LEGACY_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "json_rules.h"

/* Unbounded integers and the integral part of numbers have at most this many
 * digits (values beyond 2^53 lose precision in most JSON parsers anyway; it
 * keeps a model from emitting digits forever). Fractions: as many, exponents
 * at most 3 digits. */
#define JS_MAX_INT_DIGITS 16

/* A parenthesized GBNF expression matching exactly the JSON integers in
 * [lo, hi] (either side may be open), in canonical form (no leading zeros,
 * no "-0"). |bounds| must be below 2^63. */
bool js_integer_range(js_buf *b, bool has_lo, int64_t lo, bool has_hi, int64_t hi);

typedef enum js_merge_result {
    JS_MERGE_OK = 0,
    JS_MERGE_OOM,
    JS_MERGE_CONFLICT,     /* a keyword with different values on both sides */
    JS_MERGE_NOT_OBJECT,   /* the alternative is not a schema object */
} js_merge_result;

/* A new schema: `alt` with every keyword of `schema` except `combiner` and
 * annotations folded in (properties and required by union; other keywords
 * must be absent from alt or equal). On conflict the keyword is named in
 * `conflict`. The caller frees *out with cJSON_Delete. */
js_merge_result js_merge_siblings(const cJSON *schema, const char *combiner, const cJSON *alt,
                                  bool (*is_annotation)(const char *key), cJSON **out, char *conflict, size_t cap);

#endif
