/* regex.h — regular languages over Unicode code points, for JSON Schema's
 * `pattern`, `format`, `propertyNames` and the keys of objects: ECMA-262
 * patterns and the standard formats as minimal DFAs, set operations on them,
 * and their GBNF (raw, or spelled as the inside of a JSON string). */
#ifndef VKA_REGEX_H
#define VKA_REGEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json_rules.h"
#include "vkagent.h"

/* A set of strings of code points (a regular language). Immutable once made;
 * every operation returns a new one. */
typedef struct re_lang re_lang;

#define RE_UNBOUNDED UINT64_MAX

/* The pattern as JSON Schema applies it (ECMA-262 syntax with the "u" flag,
 * as ajv compiles it): a string is in the language when the pattern matches
 * somewhere in it (unanchored search; ^ and $ anchor). Lookaround,
 * back-references and other non-regular features are VKA_ERR_GRAMMAR naming
 * the construct and its offset in the pattern. */
vka_status re_from_pattern(const char *pattern, re_lang **out);

/* The strings valid for a JSON Schema `format` (as ajv-formats' "full" mode
 * decides them). *known is false, and *out NULL, for a format this module
 * does not define (the converter decides whether that is an error). */
vka_status re_from_format(const char *format, bool *known, re_lang **out);

/* Whether ajv-formats validates this format name at all (string formats and
 * the number formats int32, int64, float, double alike). A format it does not
 * know is an annotation. (Declared by the converter's author; the regex
 * module defines it.) */
bool re_format_is_validated(const char *format);

/* Every string. */
vka_status re_all(re_lang **out);
/* Exactly the given UTF-8 strings (strs[i] holds lens[i] bytes). */
vka_status re_literals(const char *const *strs, const size_t *lens, size_t n, re_lang **out);

/* Set operations. Lengths are counted in code points. */
vka_status re_intersect(const re_lang *a, const re_lang *b, re_lang **out);
vka_status re_union(const re_lang *a, const re_lang *b, re_lang **out);
vka_status re_complement(const re_lang *a, re_lang **out);
/* The strings of `a` whose length n satisfies min <= n <= max (max may be
 * RE_UNBOUNDED). Bounds of any size; a language whose shape needs an
 * explicit counter too large to build is VKA_ERR_GRAMMAR saying so. */
vka_status re_limit_length(const re_lang *a, uint64_t min, uint64_t max, re_lang **out);

bool re_is_empty(const re_lang *l);
/* Whether the UTF-8 text (len bytes) is in the language (invalid UTF-8: no). */
bool re_contains(const re_lang *l, const char *utf8, size_t len);
void re_free(re_lang *l);

typedef enum re_spelling {
    RE_RAW = 0,                 /* each code point as itself (UTF-8) */
    RE_JSON_STRING = 1,         /* as the text between the quotes of a JSON string: each code
                                   point in every spelling JSON allows (raw where allowed,
                                   \" \\ \/ \b \f \n \r \t, \uXXXX in either case, surrogate
                                   pairs for code points above U+FFFF; lone surrogates never) */
} re_spelling;

/* Appends to `expr` one GBNF atom (a rule name or a parenthesized group)
 * matching exactly the language's strings in the given spelling; helper rules
 * go into `rules`. An empty language is VKA_ERR_GRAMMAR. */
vka_status re_to_gbnf(const re_lang *l, re_spelling spelling, js_rules *rules, js_buf *expr);

/* A GBNF atom for one code point of the set [lo[i], hi[i]] (sorted, disjoint)
 * in the given spelling (a JSON string character in any of its forms, for
 * RE_JSON_STRING). Memoized in `rules` is not required; callers reuse names. */
vka_status re_class_gbnf(const uint32_t *lo, const uint32_t *hi, size_t n, re_spelling spelling, js_rules *rules,
                         js_buf *expr);

#endif
