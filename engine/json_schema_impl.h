/* json_schema_impl.h — internals of the JSON Schema converter: a growing
 * text buffer and the integer-range grammar generator. */
#ifndef VKA_JSON_SCHEMA_IMPL_H
#define VKA_JSON_SCHEMA_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Text that grows; `failed` sticks after an allocation failure. */
typedef struct js_buf {
    char *data;
    size_t len, cap;
    bool failed;
} js_buf;

bool js_put(js_buf *b, const char *s, size_t n);
bool js_puts(js_buf *b, const char *s);
bool js_printf(js_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A parenthesized GBNF expression matching exactly the JSON integers in
 * [lo, hi] (either side may be open), in canonical form (no leading zeros,
 * no "-0"). |bounds| must be below 2^63. */
bool js_integer_range(js_buf *b, bool has_lo, int64_t lo, bool has_hi, int64_t hi);

#endif
