/* json_rules.h — building GBNF text for the JSON Schema converter and its
 * parts (regular languages, numbers): a growing buffer, fresh rule names,
 * and counted repetition that stays small for counts of any size. */
#ifndef VKA_JSON_RULES_H
#define VKA_JSON_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Text that grows; `failed` sticks after an allocation failure, and every
 * later append is a no-op, so callers check once at the end. */
typedef struct js_buf {
    char *data;
    size_t len, cap;
    bool failed;
} js_buf;

bool js_put(js_buf *b, const char *s, size_t n);
bool js_puts(js_buf *b, const char *s);
/* printf into the buffer; no length limit. */
bool js_printf(js_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void js_buf_free(js_buf *b);

/* A GBNF string literal ("...") matching exactly the bytes given. */
bool js_put_literal(js_buf *b, const char *s, size_t n);

/* A number as JavaScript's Number.prototype.toString writes it (shortest
 * round-trip digits; exponent form below 1e-6 and from 1e21): the spelling
 * JSON.stringify gives, used for enum and const values. */
void js_format_number(double v, char out[40]);

/* The grammar being built: rule lines and a counter for fresh names.
 * Names made here are "<prefix>_<n>"; the converter's own names use only
 * letters, digits and '-', so the two never collide. */
typedef struct js_rules {
    js_buf text;                /* "name ::= body\n" lines */
    uint32_t counter;
    /* Renderings a module keeps across calls so equal parts share one rule
     * (the regex module's character classes); freed by js_rules_free. */
    void *memo;
    void (*memo_free)(void *memo);
    struct js_text_memo *texts;         /* js_rules_recall/remember: hashed by key */
    uint32_t n_texts, cap_texts;        /* cap_texts: a power of two, or 0 */
} js_rules;

/* Text remembered under a key of bytes, for parts written again for equal
 * inputs (rules made by js_rule_new by their body, regular languages by
 * their automaton); keys start with a byte naming their kind. The text lives
 * as long as the rules; NULL when nothing is remembered. */
const char *js_rules_recall(const js_rules *r, const void *key, size_t len);
/* False when out of memory. */
bool js_rules_remember(js_rules *r, const void *key, size_t len, const char *text);

/* Frees the text and the memo. */
void js_rules_free(js_rules *r);

#define JS_NAME_CAP 48

/* A fresh rule name into `name` (JS_NAME_CAP bytes). `prefix`: [a-z0-9]+. */
void js_rule_name(js_rules *r, const char *prefix, char name[JS_NAME_CAP]);
/* Appends the rule "name ::= body". */
bool js_rule_add(js_rules *r, const char *name, const char *body);
/* A rule with this body, its name into `name`: the rule js_rule_new made
 * earlier with the same body, or else a fresh one (equal parts of a grammar,
 * such as a member's key and value in every alternative of its object, are
 * written once). */
bool js_rule_new(js_rules *r, const char *prefix, const char *body, char name[JS_NAME_CAP]);

/* Ensures room for `need` elements of `elem` bytes in a growing array. */
bool js_grow(void **ptr, uint32_t *cap, uint32_t need, size_t elem);

#define JS_UNBOUNDED UINT64_MAX

/* Appends to `expr` a GBNF expression matching `item` repeated n times,
 * min <= n <= max (max JS_UNBOUNDED: no upper bound), with `sep` between
 * consecutive items when sep is not NULL (e.g. `","`). `item` and `sep` are
 * GBNF atoms (a rule name, a literal or a parenthesized group). Counts of
 * any size: large ones are built from O(log n) helper rules (whose
 * automaton stays small) instead of n copies. */
bool js_put_repeat(js_rules *r, js_buf *expr, const char *item, const char *sep, uint64_t min, uint64_t max);

#endif
