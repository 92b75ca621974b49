/* utf8.h — strict UTF-8 helpers: sequence validation, code point decoding and
 * encoding, and the stream that holds back incomplete characters. */
#ifndef VKA_UTF8_H
#define VKA_UTF8_H

#include <stddef.h>
#include <stdint.h>

#include "vkagent.h"

/* Length of a valid UTF-8 sequence starting at s (1..4), or 0 if invalid or
 * truncated within len bytes. Overlong forms, surrogates (U+D800..U+DFFF)
 * and code points above U+10FFFF are invalid. */
size_t vka_utf8_seq_len(const unsigned char *s, size_t len);

/* vka_utf8_valid_prefix(s, len) is public: vkagent.h. */

/* Decodes the valid sequence at s into *cp and returns its length, or
 * returns 0 (and leaves *cp alone) when it is invalid or truncated. */
size_t vka_utf8_decode(const unsigned char *s, size_t len, uint32_t *cp);

/* Writes the UTF-8 form of cp to out (room for 4 bytes); returns its length,
 * or 0 for a surrogate or a value above U+10FFFF. */
size_t vka_utf8_encode(uint32_t cp, char *out);

/* Incremental UTF-8 assembly for streaming: push a token's bytes, get back
 * only complete characters; invalid bytes are passed through unchanged so
 * nothing is lost. Zero-initialize before use. */
typedef struct vka_utf8_stream {
    unsigned char pending[4];
    size_t n_pending;
} vka_utf8_stream;

/* Appends the bytes that form complete characters (after any held back
 * before) to out (capacity at least len + 4); returns how many were written. */
size_t vka_utf8_stream_push(vka_utf8_stream *stream, const char *bytes, size_t len, char *out);
/* Emits whatever is still held back (an incomplete character at the end). */
size_t vka_utf8_stream_flush(vka_utf8_stream *stream, char *out);

#endif
