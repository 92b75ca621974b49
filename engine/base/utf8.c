/* utf8.c — strict UTF-8 validation (Unicode 15, table 3-7), code point
 * conversion, and the streaming assembler used when printing token pieces. */
#include <string.h>

#include "base/utf8.h"

typedef enum utf8_state { UTF8_INVALID, UTF8_INCOMPLETE, UTF8_COMPLETE } utf8_state;

/* Expected length from the lead byte; 0 for bytes that never start a sequence
 * (continuation bytes, C0/C1 which could only start overlong forms, F5..FF). */
static size_t lead_length(unsigned char c) {
    if (c < 0x80) return 1;
    if (c < 0xC2) return 0;
    if (c < 0xE0) return 2;
    if (c < 0xF0) return 3;
    if (c < 0xF5) return 4;
    return 0;
}

/* The allowed range of the second byte depends on the lead byte: this is
 * where overlongs (E0, F0), surrogates (ED) and > U+10FFFF (F4) are cut. */
static void second_byte_range(unsigned char lead, unsigned char *lo, unsigned char *hi) {
    *lo = 0x80;
    *hi = 0xBF;
    if (lead == 0xE0) *lo = 0xA0;
    else if (lead == 0xED) *hi = 0x9F;
    else if (lead == 0xF0) *lo = 0x90;
    else if (lead == 0xF4) *hi = 0x8F;
}

/* Classifies the bytes at s: a complete valid sequence (length in *need), a
 * valid prefix cut short by the end of the buffer, or invalid. */
static utf8_state classify(const unsigned char *s, size_t len, size_t *need) {
    if (len == 0) return UTF8_INCOMPLETE;
    size_t n = lead_length(s[0]);
    if (n == 0) return UTF8_INVALID;
    *need = n;
    for (size_t i = 1; i < n; i++) {
        if (i >= len) return UTF8_INCOMPLETE;
        unsigned char lo = 0x80, hi = 0xBF;
        if (i == 1) second_byte_range(s[0], &lo, &hi);
        if (s[i] < lo || s[i] > hi) return UTF8_INVALID;
    }
    return UTF8_COMPLETE;
}

size_t vka_utf8_seq_len(const unsigned char *s, size_t len) {
    size_t need = 0;
    if (!s) return 0;
    return classify(s, len, &need) == UTF8_COMPLETE ? need : 0;
}

size_t vka_utf8_valid_prefix(const char *s, size_t len) {
    size_t i = 0;
    while (i < len) {
        size_t n = vka_utf8_seq_len((const unsigned char *)s + i, len - i);
        if (!n) return i;
        i += n;
    }
    return len;
}

size_t vka_utf8_decode(const unsigned char *s, size_t len, uint32_t *cp) {
    size_t n = vka_utf8_seq_len(s, len);
    if (n == 0) return 0;
    static const unsigned char lead_mask[5] = {0, 0x7F, 0x1F, 0x0F, 0x07};
    uint32_t v = s[0] & lead_mask[n];
    for (size_t i = 1; i < n; i++) v = (v << 6) | (s[i] & 0x3Fu);
    *cp = v;
    return n;
}

size_t vka_utf8_encode(uint32_t cp, char *out) {
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp >= 0xD800 && cp <= 0xDFFF) return 0;
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    if (cp > 0x10FFFF) return 0;
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Byte i of the held-back bytes followed by the new ones. */
static unsigned char joined_at(const vka_utf8_stream *st, const char *bytes, size_t i) {
    return i < st->n_pending ? st->pending[i] : (unsigned char)bytes[i - st->n_pending];
}

size_t vka_utf8_stream_push(vka_utf8_stream *stream, const char *bytes, size_t len, char *out) {
    if (!stream || !out) return 0;
    if (!bytes) len = 0;
    size_t total = stream->n_pending + len;
    size_t i = 0, written = 0;
    while (i < total) {
        unsigned char window[4];
        size_t avail = total - i < 4 ? total - i : 4;
        for (size_t k = 0; k < avail; k++) window[k] = joined_at(stream, bytes, i + k);
        size_t need = 1;
        utf8_state state = classify(window, avail, &need);
        if (state == UTF8_INCOMPLETE) {
            /* avail < need <= 4 here, so the tail fits the pending buffer. */
            memcpy(stream->pending, window, avail);
            stream->n_pending = avail;
            return written;
        }
        if (state == UTF8_INVALID) need = 1; /* pass the stray byte through, resync on the next */
        memcpy(out + written, window, need);
        written += need;
        i += need;
    }
    stream->n_pending = 0;
    return written;
}

size_t vka_utf8_stream_flush(vka_utf8_stream *stream, char *out) {
    if (!stream || !out) return 0;
    size_t n = stream->n_pending;
    memcpy(out, stream->pending, n);
    stream->n_pending = 0;
    return n;
}
