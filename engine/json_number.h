/* json_number.h — JSON numbers under JSON Schema's numeric keywords as
 * grammars: bounds (inclusive and exclusive, integer and decimal) and
 * multipleOf, decided as ajv decides them (IEEE doubles), never approximated
 * on the accepting side. */
#ifndef VKA_JSON_NUMBER_H
#define VKA_JSON_NUMBER_H

#include <stdbool.h>

#include "json_rules.h"
#include "vkagent.h"

/* The numbers a schema allows. Bounds are the doubles the schema's JSON text
 * parses to (cJSON and JSON.parse agree on them). */
typedef struct js_number_spec {
    bool integer;                   /* type "integer": the value must be integral */
    bool has_min, min_exclusive;
    double min;
    bool has_max, max_exclusive;
    double max;
    double multiple_of;             /* 0: none; else > 0 */
} js_number_spec;

/* Whether `value` satisfies the spec as ajv decides it (double arithmetic:
 * x >= min, x > min, x <= max, x < max, x / multipleOf an integer). */
bool js_number_admits(const js_number_spec *spec, double value);

/* Appends to `expr` one GBNF atom matching JSON number texts of values that
 * satisfy the spec; every text it matches parses to a finite double that
 * js_number_admits. Canonical forms only where the document says so
 * (docs/structured-output.md: no "-0", no leading zeros, no exponent when a
 * bound or multipleOf applies, at most 15 significant digits beside a
 * decimal bound). VKA_ERR_GRAMMAR when no number satisfies the spec, or for
 * a multipleOf this module cannot decide exactly (the message says which). */
vka_status js_number_gbnf(const js_number_spec *spec, js_rules *rules, js_buf *expr);

#endif
