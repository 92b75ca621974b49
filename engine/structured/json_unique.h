/* json_unique.h — uniqueItems where a grammar cannot say it: "# vka:unique"
 * annotations in a GBNF text name arrays (by instance path) whose elements
 * must be pairwise distinct under JSON Schema equality; a scanner follows the
 * output byte by byte and tells which continuations would repeat an element.
 *
 * Annotation lines start with "# vka:unique " at the beginning of a line and
 * hold a JSON array, the path pattern from the document root: a string step
 * is a member name, an integer step an array index, null any member or index.
 * GBNF ignores them (comments), so an annotated grammar parses as before.
 *
 * Equality is JSON Schema's (as JSON.parse then deep equality): numbers by
 * their double value (1 and 1.0 are equal, so are 0 and -0), strings by their
 * UTF-16 code units after decoding escapes ("\u0061" equals "a"; "\u0000" and
 * lone surrogate escapes are kept exactly), objects by their member sets in any
 * order, a repeated member name counting with its last value. Values are
 * compared through a canonical byte form (ju_canonical). */
#ifndef VKA_JSON_UNIQUE_H
#define VKA_JSON_UNIQUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vkagent.h"

/* ---------------------------------------------------------------- annotations */

typedef struct ju_set ju_set;

/* The annotations of a GBNF text; *out is NULL when it has none. A malformed
 * annotation is VKA_ERR_GRAMMAR naming its line. */
vka_status ju_set_parse(const char *gbnf, ju_set **out);
void ju_set_free(ju_set *set);
uint32_t ju_set_size(const ju_set *set);

/* ---------------------------------------------------------------- canonical form */

typedef struct ju_buf {
    unsigned char *data;
    size_t len, cap;
} ju_buf;

void ju_buf_free(ju_buf *b);
/* Grows b to hold `extra` more bytes; false when out of memory. */
bool ju_buf_reserve(ju_buf *b, size_t extra);

/* Scratch kept between calls of ju_canonical, so that repeated calls do not allocate. */
typedef struct ju_canon_scratch {
    struct ju_frame *frames;
    uint32_t cap_frames;
    size_t *members;
    uint32_t n_members, cap_members;
    uint32_t *order;            /* member order, then as much again for merging */
    uint32_t cap_order;
    ju_buf sorted;
} ju_canon_scratch;

void ju_canon_scratch_free(ju_canon_scratch *scratch);

/* Appends the canonical form of the JSON value in text (one value, with
 * whitespace around it allowed) to out: two values are equal exactly when
 * their canonical forms are the same bytes. *valid is false (and out as it
 * was) when the text is not one JSON value. */
vka_status ju_canonical(const char *text, size_t len, ju_canon_scratch *scratch, ju_buf *out, bool *valid);

/* JSON Schema equality of two JSON texts; VKA_ERR_INVALID_ARGUMENT when one is not JSON. */
vka_status ju_json_equal(const char *a, size_t a_len, const char *b, size_t b_len, bool *equal);

/* ---------------------------------------------------------------- the scanner */

typedef struct ju_scan ju_scan;

vka_status ju_scan_create(const ju_set *set, ju_scan **out);
void ju_scan_free(ju_scan *scan);
/* Back to the start of a document. */
void ju_scan_reset(ju_scan *scan);

/* Whether bytes would complete an element of an annotated array that equals
 * an earlier element of it (*repeats). The scanner is left as it was. */
vka_status ju_scan_try(ju_scan *scan, const char *bytes, size_t len, bool *repeats);
/* Advances past bytes (no trial open). *repeats as ju_scan_try; after a
 * repeat the scanner checks nothing more (the caller rejects the document). */
vka_status ju_scan_commit(ju_scan *scan, const char *bytes, size_t len, bool *repeats);

/* Nested trials: ju_scan_push feeds bytes as ju_scan_try does but keeps the
 * state they lead to, until the matching ju_scan_pop undoes them. On an
 * error nothing is pushed. */
vka_status ju_scan_push(ju_scan *scan, const char *bytes, size_t len, bool *repeats);
void ju_scan_pop(ju_scan *scan);

/* The element in progress in the innermost annotated array, when it is a
 * string or a number (a literal is decided by its first letter, containers
 * are not followed). */
typedef enum ju_pending { JU_PENDING_NONE, JU_PENDING_STRING, JU_PENDING_NUMBER } ju_pending;
ju_pending ju_scan_pending(const ju_scan *scan);
/* Whether the pending element may still end equal to an earlier element of
 * its array: a string whose content so far begins one (or ends inside an
 * escape; a string just opened counts as on its way to none), a number whose
 * value so far is one (or that is not a number yet). */
vka_status ju_scan_may_repeat(ju_scan *scan, bool *may);
/* Outside trials: the pending string's content so far (up to any escape
 * still open) begins no earlier element of its array, so no continuation of
 * it can repeat one, whatever bytes follow until its closing quote. */
bool ju_scan_pending_free(const ju_scan *scan);
/* Where a pending string's text ends: plainly, after a backslash, inside a
 * \u escape, after a high surrogate escape, inside a UTF-8 character. */
typedef enum ju_tail { JU_TAIL_PLAIN, JU_TAIL_ESCAPE, JU_TAIL_HEX, JU_TAIL_HIGH, JU_TAIL_MIDCHAR } ju_tail;
ju_tail ju_scan_string_tail(const ju_scan *scan);
/* For a pending string: each(ctx, rest, len) for each earlier element that
 * its content so far begins, with the raw bytes that would continue it into
 * that element (up to the first byte that needs an escape). *listed is false
 * when the string ends inside an escape, where raw bytes do not tell. */
vka_status ju_scan_continuations(ju_scan *scan, void (*each)(void *ctx, const unsigned char *rest, size_t len),
                                 void *ctx, bool *listed);

/* Token classes for ju_scan_must_try, from a token's bytes. */
enum { JU_TOKEN_QUOTE = 1, JU_TOKEN_BRACKET = 2, JU_TOKEN_BACKSLASH = 4 };
unsigned ju_token_flags(const char *bytes, size_t len);

/* Whether a token with these flags could complete a repeated element here;
 * false means ju_scan_try would surely say no. */
bool ju_scan_must_try(const ju_scan *scan, unsigned token_flags);
/* Inside an annotated array (at any depth below it). */
bool ju_scan_in_annotated(const ju_scan *scan);
/* Inside a string or member name: only tokens with a quote can leave it. */
bool ju_scan_in_string(const ju_scan *scan);

/* Whether a complete document satisfies the annotations: *ok false when an
 * annotated array repeats an element, or when the text is not JSON (the
 * annotations presuppose a JSON grammar). */
vka_status ju_check_document(const ju_set *set, const char *doc, size_t len, bool *ok);

#endif
