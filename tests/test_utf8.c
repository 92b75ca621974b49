/* test_utf8.c — UTF-8 validation, code point conversion and the streaming
 * assembler, checked against hand-worked byte sequences and a reference
 * validator written here from the code point ranges. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"
#include "test_util.h"

#define U(s) ((const unsigned char *)(s))

Test(utf8, seq_len_valid_sequences) {
    cr_assert_eq(vka_utf8_seq_len(U("A"), 1), 1);
    cr_assert_eq(vka_utf8_seq_len(U("\x00"), 1), 1);
    cr_assert_eq(vka_utf8_seq_len(U("\x7f"), 1), 1);
    cr_assert_eq(vka_utf8_seq_len(U("\xc2\x80"), 2), 2);          /* U+0080, smallest 2-byte */
    cr_assert_eq(vka_utf8_seq_len(U("\xc3\xa9"), 2), 2);          /* é */
    cr_assert_eq(vka_utf8_seq_len(U("\xdf\xbf"), 2), 2);          /* U+07FF */
    cr_assert_eq(vka_utf8_seq_len(U("\xe0\xa0\x80"), 3), 3);      /* U+0800, smallest 3-byte */
    cr_assert_eq(vka_utf8_seq_len(U("\xe2\x98\x95"), 3), 3);      /* ☕ U+2615 */
    cr_assert_eq(vka_utf8_seq_len(U("\xed\x9f\xbf"), 3), 3);      /* U+D7FF, just below the surrogates */
    cr_assert_eq(vka_utf8_seq_len(U("\xee\x80\x80"), 3), 3);      /* U+E000, just above them */
    cr_assert_eq(vka_utf8_seq_len(U("\xef\xbf\xbf"), 3), 3);      /* U+FFFF */
    cr_assert_eq(vka_utf8_seq_len(U("\xf0\x90\x80\x80"), 4), 4);  /* U+10000 */
    cr_assert_eq(vka_utf8_seq_len(U("\xf0\x9f\x98\x80"), 4), 4);  /* 😀 U+1F600 */
    cr_assert_eq(vka_utf8_seq_len(U("\xf4\x8f\xbf\xbf"), 4), 4);  /* U+10FFFF, the last code point */
    /* trailing bytes after the sequence do not matter */
    cr_assert_eq(vka_utf8_seq_len(U("\xc3\xa9zz"), 4), 2);
}

Test(utf8, seq_len_rejects_invalid) {
    cr_assert_eq(vka_utf8_seq_len(U("\x80"), 1), 0);              /* lone continuation */
    cr_assert_eq(vka_utf8_seq_len(U("\xbf"), 1), 0);
    cr_assert_eq(vka_utf8_seq_len(U("\xc0\x80"), 2), 0);          /* overlong NUL */
    cr_assert_eq(vka_utf8_seq_len(U("\xc1\xbf"), 2), 0);          /* overlong U+007F */
    cr_assert_eq(vka_utf8_seq_len(U("\xe0\x80\x80"), 3), 0);      /* overlong 3-byte */
    cr_assert_eq(vka_utf8_seq_len(U("\xe0\x9f\xbf"), 3), 0);      /* overlong U+07FF */
    cr_assert_eq(vka_utf8_seq_len(U("\xf0\x80\x80\x80"), 4), 0);  /* overlong 4-byte */
    cr_assert_eq(vka_utf8_seq_len(U("\xf0\x8f\xbf\xbf"), 4), 0);  /* overlong U+FFFF */
    cr_assert_eq(vka_utf8_seq_len(U("\xed\xa0\x80"), 3), 0);      /* U+D800 surrogate */
    cr_assert_eq(vka_utf8_seq_len(U("\xed\xbf\xbf"), 3), 0);      /* U+DFFF surrogate */
    cr_assert_eq(vka_utf8_seq_len(U("\xf4\x90\x80\x80"), 4), 0);  /* U+110000 */
    cr_assert_eq(vka_utf8_seq_len(U("\xf5\x80\x80\x80"), 4), 0);
    cr_assert_eq(vka_utf8_seq_len(U("\xff"), 1), 0);
    cr_assert_eq(vka_utf8_seq_len(U("\xfe"), 1), 0);
    cr_assert_eq(vka_utf8_seq_len(U("\xe2\x28\xa1"), 3), 0);      /* bad second byte */
    cr_assert_eq(vka_utf8_seq_len(U("\xe2\x98\x28"), 3), 0);      /* bad third byte */
    cr_assert_eq(vka_utf8_seq_len(U("\xf0\x9f\x98\x28"), 4), 0);  /* bad fourth byte */
    /* truncated: never reads past len */
    cr_assert_eq(vka_utf8_seq_len(U("\xe2\x98\x95"), 2), 0);
    cr_assert_eq(vka_utf8_seq_len(U("\xf0\x9f\x98\x80"), 3), 0);
    cr_assert_eq(vka_utf8_seq_len(U("\xc3\xa9"), 1), 0);
    cr_assert_eq(vka_utf8_seq_len(U("A"), 0), 0);
    cr_assert_eq(vka_utf8_seq_len(NULL, 4), 0);
}

Test(utf8, truncation_reads_only_len_bytes) {
    /* A heap buffer of exactly the truncated length: ASan catches any read past it. */
    unsigned char *p = malloc(2);
    cr_assert_not_null(p);
    p[0] = 0xe2;
    p[1] = 0x98;
    cr_assert_eq(vka_utf8_seq_len(p, 2), 0);
    uint32_t cp = 0;
    cr_assert_eq(vka_utf8_decode(p, 2, &cp), 0);
    free(p);
}

Test(utf8, decode_known_code_points) {
    uint32_t cp = 0;
    cr_assert_eq(vka_utf8_decode(U("A"), 1, &cp), 1);
    cr_assert_eq(cp, 0x41);
    cr_assert_eq(vka_utf8_decode(U("\xc3\xa9"), 2, &cp), 2);
    cr_assert_eq(cp, 0xE9);
    cr_assert_eq(vka_utf8_decode(U("\xe2\x96\x81"), 3, &cp), 3);
    cr_assert_eq(cp, 0x2581);
    cr_assert_eq(vka_utf8_decode(U("\xc4\xa0"), 2, &cp), 2);      /* Ġ */
    cr_assert_eq(cp, 0x120);
    cr_assert_eq(vka_utf8_decode(U("\xf0\x9f\x98\x80"), 4, &cp), 4);
    cr_assert_eq(cp, 0x1F600);
    cr_assert_eq(vka_utf8_decode(U("\xf4\x8f\xbf\xbf"), 4, &cp), 4);
    cr_assert_eq(cp, 0x10FFFF);
    cp = 7;
    cr_assert_eq(vka_utf8_decode(U("\xed\xa0\x80"), 3, &cp), 0);
    cr_assert_eq(cp, 7, "an invalid sequence leaves *cp alone");
}

Test(utf8, encode_known_code_points) {
    char out[4];
    cr_assert_eq(vka_utf8_encode(0x24, out), 1);
    cr_assert_eq(memcmp(out, "$", 1), 0);
    cr_assert_eq(vka_utf8_encode(0xA2, out), 2);
    cr_assert_eq(memcmp(out, "\xc2\xa2", 2), 0);
    cr_assert_eq(vka_utf8_encode(0x20AC, out), 3);
    cr_assert_eq(memcmp(out, "\xe2\x82\xac", 3), 0);
    cr_assert_eq(vka_utf8_encode(0x10348, out), 4);
    cr_assert_eq(memcmp(out, "\xf0\x90\x8d\x88", 4), 0);
    cr_assert_eq(vka_utf8_encode(0xD800, out), 0);
    cr_assert_eq(vka_utf8_encode(0xDFFF, out), 0);
    cr_assert_eq(vka_utf8_encode(0x110000, out), 0);
}

/* Every scalar value encodes to the length its range dictates and decodes back. */
Test(utf8, encode_decode_round_trip_all_scalars) {
    for (uint32_t cp = 0; cp <= 0x10FFFF; cp++) {
        if (cp >= 0xD800 && cp <= 0xDFFF) continue;
        char buf[4];
        size_t want = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
        size_t n = vka_utf8_encode(cp, buf);
        cr_assert_eq(n, want, "U+%04X encoded in %zu bytes", cp, n);
        uint32_t back = 0;
        cr_assert_eq(vka_utf8_decode((const unsigned char *)buf, n, &back), n);
        cr_assert_eq(back, cp);
    }
}

/* Reference validator, written from the definition (decode the bits, then
 * reject overlongs, surrogates and values past U+10FFFF), not from byte tables. */
static size_t ref_seq_len(const unsigned char *s, size_t len) {
    if (len == 0) return 0;
    size_t n;
    uint32_t cp;
    if (s[0] < 0x80) return 1;
    else if ((s[0] & 0xE0) == 0xC0) n = 2, cp = s[0] & 0x1F;
    else if ((s[0] & 0xF0) == 0xE0) n = 3, cp = s[0] & 0x0F;
    else if ((s[0] & 0xF8) == 0xF0) n = 4, cp = s[0] & 0x07;
    else return 0;
    if (len < n) return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return n;
}

Test(utf8, seq_len_agrees_with_reference_on_all_short_prefixes) {
    /* All 1- and 2-byte strings, and all 3-byte strings with a lead >= 0xE0. */
    unsigned char s[4];
    for (unsigned a = 0; a < 256; a++) {
        s[0] = (unsigned char)a;
        cr_assert_eq(vka_utf8_seq_len(s, 1), ref_seq_len(s, 1), "byte %02x", a);
        for (unsigned b = 0; b < 256; b++) {
            s[1] = (unsigned char)b;
            cr_assert_eq(vka_utf8_seq_len(s, 2), ref_seq_len(s, 2), "bytes %02x %02x", a, b);
            if (a < 0xE0) continue;
            for (unsigned c = 0x70; c < 0xD0; c++) {
                s[2] = (unsigned char)c;
                s[3] = 0x80;
                cr_assert_eq(vka_utf8_seq_len(s, 4), ref_seq_len(s, 4), "bytes %02x %02x %02x 80", a, b, c);
            }
        }
    }
}

/* ---- the stream ---- */

Test(utf8, stream_holds_back_split_character) {
    vka_utf8_stream st = {0};
    char out[16];
    cr_assert_eq(vka_utf8_stream_push(&st, "\xe2", 1, out), 0);
    cr_assert_eq(vka_utf8_stream_push(&st, "\x98", 1, out), 0);
    size_t n = vka_utf8_stream_push(&st, "\x95", 1, out);
    cr_assert_eq(n, 3);
    cr_assert_eq(memcmp(out, "\xe2\x98\x95", 3), 0);
    cr_assert_eq(vka_utf8_stream_flush(&st, out), 0);
}

Test(utf8, stream_emits_complete_prefix_and_keeps_tail) {
    vka_utf8_stream st = {0};
    char out[16];
    size_t n = vka_utf8_stream_push(&st, "ab\xf0\x9f", 4, out);
    cr_assert_eq(n, 2);
    cr_assert_eq(memcmp(out, "ab", 2), 0);
    n = vka_utf8_stream_push(&st, "\x98\x80!", 3, out);
    cr_assert_eq(n, 5);
    cr_assert_eq(memcmp(out, "\xf0\x9f\x98\x80!", 5), 0);
}

Test(utf8, stream_passes_invalid_bytes_through) {
    vka_utf8_stream st = {0};
    char out[16];
    size_t n = vka_utf8_stream_push(&st, "\xff" "a\xed\xa0\x80", 5, out);
    cr_assert_eq(n, 5, "a surrogate's bytes pass through one by one");
    cr_assert_eq(memcmp(out, "\xff" "a\xed\xa0\x80", 5), 0);
    /* A held-back lead byte followed by a non-continuation byte is given up. */
    cr_assert_eq(vka_utf8_stream_push(&st, "\xe2", 1, out), 0);
    n = vka_utf8_stream_push(&st, "A", 1, out);
    cr_assert_eq(n, 2);
    cr_assert_eq(memcmp(out, "\xe2" "A", 2), 0);
    /* Two pending bytes, then a new lead byte: the first two are invalid, the lead is held. */
    cr_assert_eq(vka_utf8_stream_push(&st, "\xe2\x98", 2, out), 0);
    n = vka_utf8_stream_push(&st, "\xf0", 1, out);
    cr_assert_eq(n, 2);
    cr_assert_eq(memcmp(out, "\xe2\x98", 2), 0);
    n = vka_utf8_stream_flush(&st, out);
    cr_assert_eq(n, 1);
    cr_assert_eq((unsigned char)out[0], 0xf0);
}

Test(utf8, stream_flush_emits_truncated_tail) {
    vka_utf8_stream st = {0};
    char out[16];
    cr_assert_eq(vka_utf8_stream_push(&st, "x\xe2\x98", 3, out), 1);
    cr_assert_eq(vka_utf8_stream_flush(&st, out), 2);
    cr_assert_eq(memcmp(out, "\xe2\x98", 2), 0);
    cr_assert_eq(vka_utf8_stream_flush(&st, out), 0, "flush empties the stream");
    cr_assert_eq(vka_utf8_stream_push(&st, NULL, 0, out), 0);
}

/* Positions inside a valid multi-byte character of s, by the reference. */
static void mark_inside(const unsigned char *s, size_t len, bool *inside) {
    memset(inside, 0, len + 1);
    for (size_t i = 0; i < len;) {
        size_t n = ref_seq_len(s + i, len - i);
        if (n == 0) n = 1;
        for (size_t k = 1; k < n; k++) inside[i + k] = true;
        i += n;
    }
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t next_rand(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 32);
}

/* Random byte soup (biased towards UTF-8-looking bytes) in random chunks:
 * nothing is lost or reordered, and no output chunk ends inside a character. */
Test(utf8, stream_random_chunks_lose_nothing) {
    static const unsigned char alphabet[] = {'a', ' ', 0xc3, 0xa9, 0xe2, 0x98, 0x95, 0xf0, 0x9f, 0x98,
                                             0x80, 0xed, 0xa0, 0xff, 0xc0, 0xf4, 0x90, 0xbf};
    enum { LEN = 64 };
    unsigned char in[LEN];
    char out[LEN + 8];
    bool inside[LEN + 1];
    for (int round = 0; round < 2000; round++) {
        for (size_t i = 0; i < LEN; i++) in[i] = alphabet[next_rand() % sizeof alphabet];
        mark_inside(in, LEN, inside);
        vka_utf8_stream st = {0};
        size_t total = 0;
        for (size_t at = 0; at < LEN;) {
            size_t chunk = 1 + next_rand() % 5;
            if (chunk > LEN - at) chunk = LEN - at;
            size_t n = vka_utf8_stream_push(&st, (const char *)in + at, chunk, out + total);
            cr_assert_leq(n, chunk + 4);
            total += n;
            at += chunk;
            cr_assert_not(inside[total], "round %d: output split a character at byte %zu", round, total);
        }
        total += vka_utf8_stream_flush(&st, out + total);
        cr_assert_eq(total, LEN);
        cr_assert_eq(memcmp(out, in, LEN), 0, "round %d: bytes changed", round);
    }
}

Test(utf8, valid_prefix) {
    cr_expect_eq(vka_utf8_valid_prefix("", 0), 0);
    cr_expect_eq(vka_utf8_valid_prefix("a\xc3\xa9\xf0\x9f\x98\x80", 7), 7);
    cr_expect_eq(vka_utf8_valid_prefix("ab\x80" "c", 4), 2);       /* lone continuation */
    cr_expect_eq(vka_utf8_valid_prefix("a\xed\xa0\x80", 4), 1);  /* a surrogate */
    cr_expect_eq(vka_utf8_valid_prefix("a\xc3", 2), 1);            /* cut short */
}
