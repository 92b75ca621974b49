/* json_unique_impl.h — what the annotation parser (json_unique.c) and the
 * scanner (json_unique_scan.c) share: the patterns and the canonical form's
 * byte codes. */
#ifndef VKA_JSON_UNIQUE_IMPL_H
#define VKA_JSON_UNIQUE_IMPL_H

#include "structured/json_unique.h"

/* Canonical form: a self-delimiting byte string per value.
 *   null, true, false: 'n' 't' 'f'
 *   number: 'd' and the 8 bytes of the double (-0 written as 0)
 *   string: 's', the WTF-8 of its UTF-16 code units with bytes 0 and 1 escaped
 *           (0 as 1 1, 1 as 1 2), then 0
 *   array: '[' elements ']'
 *   object: '{' members (the name as a string, then the value) sorted by
 *           name bytes, one per name (its last value), then '}' */
enum { JU_NULL = 'n', JU_TRUE = 't', JU_FALSE = 'f', JU_NUMBER = 'd', JU_STRING = 's' };

typedef enum ju_step_kind { JU_STEP_ANY, JU_STEP_NAME, JU_STEP_INDEX } ju_step_kind;

typedef struct ju_step {
    ju_step_kind kind;
    uint64_t index;          /* JU_STEP_INDEX */
    size_t name_off;         /* JU_STEP_NAME: the name's canonical form in set->names */
    size_t name_len;
} ju_step;

typedef struct ju_pattern {
    uint32_t first;          /* its steps: set->steps[first .. first + n) */
    uint32_t n;
} ju_pattern;

struct ju_set {
    ju_pattern *patterns;
    uint32_t n_patterns;
    ju_step *steps;
    uint32_t n_steps;
    ju_buf names;
};

/* Appends the canonical form of the JSON string whose raw text (between the
 * quotes, escapes undecoded) is given; false when it is not a valid string body
 * or out of memory (*oom says which). */
bool ju_canonical_string(const char *raw, size_t len, ju_buf *out, bool *oom);
/* The same without the leading 's' and the final 0: what raw adds to a string. */
bool ju_canonical_string_body(const char *raw, size_t len, ju_buf *out, bool *oom);

#endif
