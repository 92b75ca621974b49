/* test_unicode.c — the Unicode classes and NFC (unicode.c over the generated
 * unicode_data.c): hand-picked facts from the Unicode Character Database,
 * NFC cases worked out from UAX #15, and every NFC case of Unicode's own
 * NormalizationTest.txt (Debian's unicode-data, read at test time). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/unicode.h"
#include "base/utf8.h"

/* ---- classes ---- */

Test(unicode, letter_number_space_classes) {
    struct {
        uint32_t cp;
        unsigned want;
    } cases[] = {
        {'a', VKA_UC_LETTER}, {'Z', VKA_UC_LETTER}, {'0', VKA_UC_NUMBER}, {' ', VKA_UC_SPACE},
        {'\t', VKA_UC_SPACE}, {'\n', VKA_UC_SPACE}, {'\r', VKA_UC_SPACE}, {0x0B, VKA_UC_SPACE},
        {'_', 0}, {'\'', 0}, {0x00, 0}, {0x1F, 0},
        {0x0085, VKA_UC_SPACE},                 /* NEXT LINE is White_Space */
        {0x00A0, VKA_UC_SPACE},                 /* NO-BREAK SPACE */
        {0x200B, 0},                            /* ZERO WIDTH SPACE is not White_Space (Cf) */
        {0x200D, 0},                            /* ZERO WIDTH JOINER */
        {0x2028, VKA_UC_SPACE}, {0x3000, VKA_UC_SPACE}, {0xFEFF, 0},
        {0x00E9, VKA_UC_LETTER},                /* é */
        {0x00AA, VKA_UC_LETTER},                /* ª (Lo) */
        {0x00B2, VKA_UC_NUMBER},                /* ² (No) */
        {0x00BD, VKA_UC_NUMBER},                /* ½ (No) */
        {0x216B, VKA_UC_NUMBER},                /* Ⅻ (Nl) */
        {0x0660, VKA_UC_NUMBER},                /* ARABIC-INDIC DIGIT ZERO */
        {0x4E00, VKA_UC_LETTER},                /* 一, first of the CJK range */
        {0x9FFF, VKA_UC_LETTER},                /* last of it in Unicode 14+ */
        {0xAC00, VKA_UC_LETTER}, {0xD7A3, VKA_UC_LETTER},   /* Hangul syllables, first and last */
        {0x20000, VKA_UC_LETTER},               /* CJK Extension B */
        {0x0E31, 0},                            /* THAI CHARACTER MAI HAN-AKAT (Mn) */
        {0x094D, 0},                            /* DEVANAGARI SIGN VIRAMA (Mn) */
        {0x093E, 0},                            /* DEVANAGARI VOWEL SIGN AA (Mc) */
        {0x1F600, 0},                           /* 😀 (So) */
        {0x1F3FD, 0},                           /* skin tone modifier (Sk) */
        {0xE000, 0},                            /* private use */
        {0x10FFFF, 0}, {0x110000, 0}, {0xFFFFFFFF, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        unsigned got = vka_unicode_flags(cases[i].cp) & (VKA_UC_LETTER | VKA_UC_NUMBER | VKA_UC_SPACE);
        cr_expect_eq(got, cases[i].want, "U+%04X: flags %u, expected %u", cases[i].cp, got, cases[i].want);
    }
}

Test(unicode, combining_classes) {
    cr_expect_eq(vka_unicode_ccc('a'), 0);
    cr_expect_eq(vka_unicode_ccc(0x0300), 230);   /* COMBINING GRAVE ACCENT */
    cr_expect_eq(vka_unicode_ccc(0x0301), 230);
    cr_expect_eq(vka_unicode_ccc(0x0323), 220);   /* COMBINING DOT BELOW */
    cr_expect_eq(vka_unicode_ccc(0x0345), 240);   /* COMBINING GREEK YPOGEGRAMMENI */
    cr_expect_eq(vka_unicode_ccc(0x093C), 7);     /* DEVANAGARI SIGN NUKTA */
    cr_expect_eq(vka_unicode_ccc(0x094D), 9);     /* DEVANAGARI SIGN VIRAMA */
    cr_expect_eq(vka_unicode_ccc(0x0E38), 103);   /* THAI CHARACTER SARA U */
    cr_expect_eq(vka_unicode_ccc(0x05B0), 10);    /* HEBREW POINT SHEVA */
    cr_expect_eq(vka_unicode_ccc(0x1161), 0);     /* Hangul vowel jamo are starters */
    cr_expect_eq(vka_unicode_ccc(0x110000), 0);
}

Test(unicode, decompositions_and_compositions) {
    uint32_t d[4];
    cr_assert_eq(vka_unicode_decompose(0x00E9, d), 2);   /* é = e + U+0301 */
    cr_expect(d[0] == 'e' && d[1] == 0x0301);
    cr_assert_eq(vka_unicode_decompose(0x1E69, d), 3);   /* ṩ = s + dot below + dot above (recursive) */
    cr_expect(d[0] == 's' && d[1] == 0x0323 && d[2] == 0x0307);
    cr_assert_eq(vka_unicode_decompose(0x212B, d), 2);   /* Å ANGSTROM SIGN -> Å -> A + ring above */
    cr_expect(d[0] == 'A' && d[1] == 0x030A);
    cr_assert_eq(vka_unicode_decompose(0xD55C, d), 3);   /* 한 = ᄒ ᅡ ᆫ */
    cr_expect(d[0] == 0x1112 && d[1] == 0x1161 && d[2] == 0x11AB);
    cr_assert_eq(vka_unicode_decompose(0xAC00, d), 2);   /* 가 = ᄀ ᅡ (no final) */
    cr_expect(d[0] == 0x1100 && d[1] == 0x1161);
    cr_assert_eq(vka_unicode_decompose('x', d), 1);
    cr_expect_eq(d[0], 'x');
    cr_expect_eq(vka_unicode_compose('e', 0x0301), 0x00E9);
    cr_expect_eq(vka_unicode_compose('A', 0x030A), 0x00C5);
    cr_expect_eq(vka_unicode_compose(0x1112, 0x1161), 0xD558);   /* 하 */
    cr_expect_eq(vka_unicode_compose(0xD558, 0x11AB), 0xD55C);   /* 하 + ᆫ = 한 */
    cr_expect_eq(vka_unicode_compose(0xD55C, 0x11AB), 0, "an LVT syllable takes no second final");
    cr_expect_eq(vka_unicode_compose(0x0915, 0x093C), 0, "U+0958 (क़) is a composition exclusion");
    cr_expect_eq(vka_unicode_compose('x', 0x0301), 0);
}

/* ---- NFC ---- */

static char *nfc(const char *s) {
    char *out = NULL;
    size_t len = 0;
    cr_assert_eq(vka_nfc(s, strlen(s), &out, &len), VKA_OK, "%s", vka_last_error());
    cr_assert_eq(strlen(out), len);
    return out;
}

#define EXPECT_NFC(in, want)                                                             \
    do {                                                                                 \
        char *got_ = nfc(in);                                                            \
        cr_expect_str_eq(got_, want, "NFC of \"%s\"", in);                               \
        free(got_);                                                                      \
    } while (0)

Test(unicode, nfc_hand_picked) {
    EXPECT_NFC("caf\x65\xcc\x81", "caf\xc3\xa9");                  /* e + U+0301 -> é */
    EXPECT_NFC("caf\xc3\xa9", "caf\xc3\xa9");                      /* already composed */
    EXPECT_NFC("\xe2\x84\xab", "\xc3\x85");                        /* U+212B ANGSTROM SIGN -> U+00C5 */
    EXPECT_NFC("\xe2\x84\xa6", "\xce\xa9");                        /* U+2126 OHM SIGN -> U+03A9 */
    EXPECT_NFC("\xe1\x84\x92\xe1\x85\xa1\xe1\x86\xab", "\xed\x95\x9c");   /* jamo ᄒ ᅡ ᆫ -> 한 */
    EXPECT_NFC("\xe1\x84\x92\xe1\x85\xa1", "\xed\x95\x98");        /* ᄒ ᅡ -> 하 */
    EXPECT_NFC("\xed\x95\x98\xe1\x86\xab", "\xed\x95\x9c");        /* 하 + ᆫ -> 한 */
    /* U+0958 क़ is excluded from composition: it decomposes to क + nukta and stays so */
    EXPECT_NFC("\xe0\xa5\x98", "\xe0\xa4\x95\xe0\xa4\xbc");
    EXPECT_NFC("\xe0\xa4\x95\xe0\xa4\xbc", "\xe0\xa4\x95\xe0\xa4\xbc");
    /* canonical reordering: acute (230) after dot below (220); then composition.
     * s + U+0307 (dot above, 230) + U+0323 (dot below, 220) -> s + 0323 + 0307 -> ṩ U+1E69 */
    EXPECT_NFC("s\xcc\x87\xcc\xa3", "\xe1\xb9\xa9");
    /* a + U+0301 + U+0301: the first makes á, the second finds no pair with á and stays */
    EXPECT_NFC("a\xcc\x81\xcc\x81", "\xc3\xa1\xcc\x81");
    /* a + U+0323 + U+0302: ạ composes first, then ậ U+1EAD */
    EXPECT_NFC("a\xcc\xa3\xcc\x82", "\xe1\xba\xad");
    /* a + U+0302 + U+0323 reorders to the same */
    EXPECT_NFC("a\xcc\x82\xcc\xa3", "\xe1\xba\xad");
    /* reordering without composition: Hebrew etnahta (220) and sheva (10) swap */
    EXPECT_NFC("\xd7\x90\xd6\x91\xd6\xb0", "\xd7\x90\xd6\xb0\xd6\x91");
    /* a leading combining mark has nothing to join */
    EXPECT_NFC("\xcc\x81" "e", "\xcc\x81" "e");
    /* U+0344 decomposes to U+0308 U+0301 and never recomposes (non-starter decomposition) */
    EXPECT_NFC("\xcd\x84", "\xcc\x88\xcc\x81");
    /* a precomposed Latin-1 letter opens up when a mark of lower class follows:
     * é + dot below -> e + dot below + acute -> ẹ (U+1EB9) + acute (no precomposed form) */
    EXPECT_NFC("\xc3\xa9\xcc\xa3", "\xe1\xba\xb9\xcc\x81");
    EXPECT_NFC("", "");
    EXPECT_NFC("plain ASCII stays", "plain ASCII stays");
}

Test(unicode, nfc_keeps_invalid_bytes) {
    /* invalid bytes pass through and block composition across them */
    const char in[] = "e\xff\xcc\x81 \xe2\x84\xab\xc3";
    char *out = NULL;
    size_t len = 0;
    cr_assert_eq(vka_nfc(in, sizeof in - 1, &out, &len), VKA_OK);
    const char want[] = "e\xff\xcc\x81 \xc3\x85\xc3";
    cr_assert_eq(len, sizeof want - 1);
    cr_assert_eq(memcmp(out, want, len), 0);
    free(out);
}

Test(unicode, nfc_long_run_of_marks) {
    /* 3000 alternating marks of classes 230 and 220 after one base: the run takes the counting
     * sort; all 220s come first, then the 230s, each group in its original order */
    size_t n = 3000;
    char *in = malloc(1 + 2 * n + 1);
    in[0] = 'x';
    for (size_t i = 0; i < n; i++) memcpy(in + 1 + 2 * i, i % 2 ? "\xcc\xa3" : "\xcc\x81", 2);
    in[1 + 2 * n] = '\0';
    char *out = nfc(in);
    cr_assert_eq(strlen(out), 1 + 2 * n);
    cr_assert_eq(out[0], 'x');
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(memcmp(out + 1 + 2 * i, i < n / 2 ? "\xcc\xa3" : "\xcc\x81", 2), 0, "mark %zu", i);
    free(out);
    free(in);
}

Test(unicode, quick_check) {
    cr_expect(vka_nfc_quick_check("hello world, 12345678", 21));
    cr_expect(vka_nfc_quick_check("caf\xc3\xa9 \xe4\xbd\xa0\xe5\xa5\xbd", 10));
    cr_expect_not(vka_nfc_quick_check("cafe\xcc\x81", 6), "U+0301 is NFC_QC Maybe");
    cr_expect_not(vka_nfc_quick_check("\xe2\x84\xab", 3), "U+212B is NFC_QC No");
    /* Hebrew accent etnahta (220) before point sheva (10): both quick-check Yes, but out of order */
    cr_expect_not(vka_nfc_quick_check("\xd7\x90\xd6\x91\xd6\xb0", 6));
    cr_expect(vka_nfc_quick_check("\xd7\x90\xd6\xb0\xd6\x91", 6));
    cr_expect_not(vka_nfc_quick_check("\xe1\x84\x92\xe1\x85\xa1", 6), "a vowel jamo is Maybe");
    cr_expect(vka_nfc_quick_check("\xff\xfe", 2), "invalid bytes are left alone");
    cr_expect(vka_nfc_quick_check("", 0));
}

/* ---- NormalizationTest.txt ---- */

static size_t parse_field(const char *f, char *out) {
    size_t n = 0;
    while (*f) {
        char *end;
        unsigned long cp = strtoul(f, &end, 16);
        if (end == f) break;
        n += vka_utf8_encode((uint32_t)cp, out + n);
        f = end;
        while (*f == ' ') f++;
    }
    out[n] = '\0';
    return n;
}

static FILE *open_normalization_test(void) {
    static const char *const candidates[] = {
        "bzip2 -dc /usr/share/unicode/NormalizationTest.txt.bz2 2>/dev/null",
        "cat /usr/share/unicode/NormalizationTest.txt 2>/dev/null",
    };
    for (size_t i = 0; i < 2; i++) {
        FILE *f = popen(candidates[i], "r");
        if (!f) continue;
        int c = fgetc(f);
        if (c != EOF) {
            ungetc(c, f);
            return f;
        }
        pclose(f);
    }
    return NULL;
}

/* Every line: c2 == NFC(c1) == NFC(c2) == NFC(c3) and c4 == NFC(c4) == NFC(c5).
 * Part 1 lists every code point NFC changes or that takes part in a
 * composition; all the others must come out unchanged. */
Test(unicode, normalization_test_file, .timeout = 120) {
    FILE *f = open_normalization_test();
    if (!f)
        cr_skip_test("NormalizationTest.txt(.bz2) not found in /usr/share/unicode (Debian package unicode-data)");
    char line[2048], col[5][512];
    size_t len[5], lines = 0, failures = 0;
    bool in_part1 = false;
    static bool listed[0x110000];
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '@') {
            in_part1 = strncmp(line, "@Part1", 6) == 0;
            continue;
        }
        if (line[0] == '#' || line[0] == '\n') continue;
        char *p = line;
        for (int i = 0; i < 5; i++) {
            char *semi = strchr(p, ';');
            cr_assert_not_null(semi, "malformed line %zu", lines);
            *semi = '\0';
            len[i] = parse_field(p, col[i]);
            p = semi + 1;
        }
        if (in_part1) {
            uint32_t cp;
            vka_utf8_decode((const unsigned char *)col[0], len[0], &cp);
            listed[cp] = true;
        }
        for (int i = 0; i < 5; i++) {
            int want = i < 3 ? 1 : 3;
            char *out;
            size_t out_len;
            cr_assert_eq(vka_nfc(col[i], len[i], &out, &out_len), VKA_OK);
            if (out_len != len[want] || memcmp(out, col[want], out_len) != 0) {
                if (failures < 10) cr_log_error("NFC of column %d of line %zu differs from column %d", i + 1,
                                                lines + 1, want + 1);
                failures++;
            }
            free(out);
        }
        lines++;
    }
    pclose(f);
    cr_assert_gt(lines, 10000, "only %zu test lines read", lines);
    cr_assert_eq(failures, 0, "%zu NFC mismatches", failures);
    size_t unchanged_failures = 0;
    for (uint32_t cp = 0; cp < 0x110000; cp++) {
        if (listed[cp] || (cp >= 0xD800 && cp <= 0xDFFF)) continue;
        char s[4], *out;
        size_t n = vka_utf8_encode(cp, s), out_len;
        cr_assert_eq(vka_nfc(s, n, &out, &out_len), VKA_OK);
        if (out_len != n || memcmp(out, s, n) != 0) unchanged_failures++;
        free(out);
    }
    cr_assert_eq(unchanged_failures, 0, "%zu code points outside Part 1 were changed", unchanged_failures);
}
