/* json_number.h — JSON numbers under JSON Schema's numeric keywords as
 * grammars: bounds (inclusive and exclusive, integer and decimal) and
 * multipleOf, decided as ajv decides them (IEEE doubles), never approximated
 * on the accepting side. */
#ifndef VKA_JSON_NUMBER_H
#define VKA_JSON_NUMBER_H

#include <stdbool.h>

#include "structured/json_rules.h"
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

/* Whether `value` satisfies the spec as ajv decides it (strictNumbers, double
 * arithmetic): finite, integral for type integer, x >= min, x > min,
 * x <= max, x < max, and q = x / multipleOf integral with |q| < 1e21 (ajv
 * tests q === parseInt(q), and String(q) has an exponent from 1e21 up). */
bool js_number_admits(const js_number_spec *spec, double value);

/* Appends to `expr` one GBNF atom (a rule name or a group; helper rules
 * "num_<n>" go to `rules`) matching JSON number texts of values that satisfy the spec;
 * every text it matches parses to a finite double that js_number_admits.
 * Within the forms written it is exact: a text of those forms is matched
 * exactly when ajv accepts it, whatever its digit count (bounds are compared
 * with the rounding JSON.parse does, not with 15-digit approximations).
 * The forms (the departures, see json_number.c):
 * - integer: -?(0|[1-9][0-9]{0,15}), no fraction or exponent;
 * - number without keywords: up to 21 integer and 22 fraction digits, an
 *   exponent of up to 3 digits keeping the value below 1e308 (or at most
 *   1.7976931348623158e308): all JSON.stringify writes for finite doubles;
 * - with a bound or multipleOf: plain decimals (no exponent, no "-0");
 * - multipleOf: integers and binary fractions m = c / 2^j (0.5, 0.25, 1.5),
 *   at most j fraction digits, only exact multiples, |x| <= 2^(53-j) (type
 *   integer: 2^53 for j <= 16).
 * VKA_ERR_GRAMMAR when nothing of these forms satisfies the spec ("nothing
 * satisfies ..."), for a multipleOf not decided exactly ("multipleOf 0.01 is
 * not supported exactly: ..."), or for one whose exact grammar would be too
 * large (multipleOf 997: more than 1500 residue states). */
vka_status js_number_gbnf(const js_number_spec *spec, js_rules *rules, js_buf *expr);

#endif
