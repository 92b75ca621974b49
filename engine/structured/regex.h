/* regex.h — regular languages over Unicode code points, for JSON Schema's
 * `pattern`, `format`, `propertyNames` and the keys of objects: ECMA-262
 * patterns and the standard formats as minimal DFAs, set operations on them,
 * and their GBNF (raw, or spelled as the inside of a JSON string). */
#ifndef VKA_REGEX_H
#define VKA_REGEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "structured/json_rules.h"
#include "vkagent.h"

/* A set of strings of code points (a regular language). Immutable once made;
 * every operation returns a new one. */
typedef struct re_lang re_lang;

#define RE_UNBOUNDED UINT64_MAX

/* The pattern as JSON Schema applies it (ECMA-262 syntax with the "u" flag,
 * as ajv compiles it): a string is in the language when the pattern matches
 * somewhere in it (unanchored search; ^ and $ anchor, anywhere in the
 * pattern). Supported: alternation, groups (capturing, named, (?:)),
 * greedy and lazy quantifiers, classes and class escapes (\d \s \w and
 * negations), ".", every character escape of u-mode, lookaheads (?= ) (?! )
 * anywhere (exactly, repetitions included). Refused with VKA_ERR_GRAMMAR
 * naming the construct and its offset (in code points): lookbehind,
 * back-references, \b \B, \p{..} property escapes, patterns that u-mode
 * rejects (as ajv would), and languages too complex for the state limits.
 * Counted repetitions of a class of any size stay counters where the
 * pattern's structure allows (e.g. ^.{0,100000}$). */
vka_status re_from_pattern(const char *pattern, re_lang **out);

/* The strings valid for a JSON Schema `format` (as ajv-formats 3's "full"
 * mode decides them): date, time, date-time, iso-time, iso-date-time,
 * duration, uri, uri-reference, uri-template, url, email, hostname, ipv4,
 * ipv6, uuid, json-pointer, json-pointer-uri-fragment,
 * relative-json-pointer, byte; password and binary (every string). Exact,
 * except documented stricter corners (regex_formats.c): leap seconds only at
 * 23:59 with a zero offset, no second 59/60 fraction beginning with fourteen
 * 9s, hostnames of at most 63 characters. *known is false, and *out NULL,
 * for a format this module does not define: unknown names, "regex" (not
 * regular) and the number formats (the converter decides). Built once per
 * process and shared; thread-safe. */
vka_status re_from_format(const char *format, bool *known, re_lang **out);

/* Whether ajv-formats validates this format name at all (string formats,
 * "regex", and the number formats int32, int64, float, double alike). A
 * format it does not know is an annotation. */
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
/* A copy of the language (its automata shared, counted). */
vka_status re_copy(const re_lang *l, re_lang **out);

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

/* A GBNF atom for one code point of the set [lo[i], hi[i]] (any order,
 * overlaps allowed; surrogates ignored) in the given spelling (a JSON string
 * character in any of its forms, for RE_JSON_STRING). An empty set is
 * VKA_ERR_GRAMMAR. Renderings are shared within one call only: callers
 * reuse the atom for equal sets. */
vka_status re_class_gbnf(const uint32_t *lo, const uint32_t *hi, size_t n, re_spelling spelling, js_rules *rules,
                         js_buf *expr);

#endif
