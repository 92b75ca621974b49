/* test_regex.c — the regex module: pattern syntax and its refusals, every
 * construct, set operations, length limits of any size, formats, and the
 * GBNF renderings (raw and JSON-spelled) checked through the grammar matcher
 * against re_contains on seeded random strings. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "structured/grammar.h"
#include "structured/regex_impl.h"
#include "regex_spell.h"
#include "base/utf8.h"

/* ---------------------------------------------------------------- helpers */

static re_lang *pattern(const char *p) {
    re_lang *l = NULL;
    cr_assert_eq(re_from_pattern(p, &l), VKA_OK, "pattern %s: %s", p, vka_last_error());
    return l;
}

static bool has(const re_lang *l, const char *s) { return re_contains(l, s, strlen(s)); }

/* A grammar whose root is the language in the spelling. */
static vka_grammar *grammar_of(const re_lang *l, re_spelling sp, size_t *text_len) {
    js_rules rules = {0};
    js_buf expr = {0}, text = {0};
    cr_assert_eq(re_to_gbnf(l, sp, &rules, &expr), VKA_OK, "%s", vka_last_error());
    js_printf(&text, "root ::= %s\n%s", expr.data, rules.text.data ? rules.text.data : "");
    vka_grammar *g = NULL;
    cr_assert_eq(vka_grammar_parse(text.data, "root", &g), VKA_OK, "%s\n%.2000s", vka_last_error(), text.data);
    if (text_len) *text_len = text.len;
    js_buf_free(&expr), js_buf_free(&text), js_rules_free(&rules);
    return g;
}

static bool grammar_accepts(const vka_grammar *g, const char *s, size_t n) {
    vka_grammar_state *st = NULL;
    cr_assert_eq(vka_grammar_state_create(g, &st), VKA_OK);
    bool ok = false;
    vka_status s2 = vka_grammar_accept_bytes(st, s, n, &ok);
    cr_assert_eq(s2, VKA_OK, "%s", vka_last_error());
    bool yes = ok && vka_grammar_can_end(st);
    vka_grammar_state_free(st);
    return yes;
}

static uint64_t rng_state = 12345;
static uint32_t rnd(uint32_t n) {
    rng_state = rng_state * 6364136223846793005u + 1442695040888963407u;
    return (uint32_t)(rng_state >> 33) % n;
}

static const uint32_t alphabet[] = {'a', 'b', 'c', 'x', 'z', 'A', 'Z', '0', '5', '9', '-', '_', '.', '/', ':', '@', ' ',
                                    '\n', '\t', '"', '\\', 0, 0x7F, 0xE9, 0x2028, 0xFFFF, 0x1F600, 0x10FFFF};

/* Distance of each state to acceptance (UINT32_MAX: none). */
static uint32_t *distances(const re_dfa *d) {
    uint32_t *dist = malloc(d->n_states * sizeof *dist);
    for (uint32_t s = 0; s < d->n_states; s++) dist[s] = d->accept[s] ? 0 : UINT32_MAX;
    for (bool changed = true; changed;) {
        changed = false;
        for (uint32_t s = 0; s < d->n_states; s++)
            for (uint32_t y = 0; y < d->n_syms; y++) {
                uint32_t t = d->next[(size_t)s * d->n_syms + y];
                if (dist[t] != UINT32_MAX && dist[t] + 1 < dist[s]) dist[s] = dist[t] + 1, changed = true;
            }
    }
    return dist;
}

/* A walk through d towards acceptance (sometimes with one random step off it). */
static size_t walk(const re_dfa *d, uint32_t *cps, size_t cap) {
    size_t n = 0;
    {
        uint32_t *dist = distances(d), s = d->start;
        size_t off_at = rnd(4) == 0 ? rnd((uint32_t)cap + 1) : SIZE_MAX;
        while (n < cap && !(d->accept[s] && rnd(4) == 0)) {
            size_t r = rnd((uint32_t)d->n_ranges), tries = 0;
            uint32_t t = d->next[(size_t)s * d->n_syms + d->range_sym[r]];
            while ((dist[t] == UINT32_MAX || n + 1 + dist[t] > cap) && ++tries < 200) {
                r = rnd((uint32_t)d->n_ranges);
                t = d->next[(size_t)s * d->n_syms + d->range_sym[r]];
            }
            if (tries == 200 || n == off_at) {
                cps[n++] = alphabet[rnd(sizeof alphabet / sizeof *alphabet)];   /* off the path */
                break;
            }
            cps[n++] = d->ranges[r].lo + rnd(d->ranges[r].hi - d->ranges[r].lo + 1);
            s = t;
        }
        free(dist);
    }
    return n;
}

/* A random string: from the DFA part, from a counted piece, or random code points. */
static size_t random_string(const re_lang *l, uint32_t *cps, size_t cap) {
    size_t n = 0;
    uint32_t way = rnd(3);
    if (way == 0 && !re_dfa_is_empty(l->dfa)) {
        uint32_t *dist = distances(l->dfa);
        size_t reach = dist[l->dfa->start] + 40u;   /* long enough to reach acceptance */
        free(dist);
        return walk(l->dfa, cps, cap < reach ? cap : reach);
    }
    if (way == 1 && l->n_pieces) {
        const re_piece *p = &l->pieces[rnd((uint32_t)l->n_pieces)];
        uint64_t k = p->min + rnd(3);
        if (p->max != RE_UNBOUNDED && k > p->max) k = p->max;
        if (p->pre_w + p->suf_w + k > cap) return 0;
        n = walk(p->pre, cps, p->pre_w);
        for (uint64_t i = 0; i < k; i++) {
            const re_range *r = &p->cls.r[rnd((uint32_t)p->cls.n)];
            cps[n++] = r->lo + rnd(r->hi - r->lo + 1);
        }
        return n + walk(p->suf, cps + n, p->suf_w);
    }
    size_t len = rnd(cap < 40 ? (uint32_t)cap : 40);
    for (; n < len; n++) cps[n] = alphabet[rnd(sizeof alphabet / sizeof *alphabet)];
    return n;
}

/* The grammars of l agree with re_contains on `count` random strings. */
static void check_renderings(const re_lang *l, const char *what, int count) {
    vka_grammar *raw = grammar_of(l, RE_RAW, NULL), *json = grammar_of(l, RE_JSON_STRING, NULL);
    static uint32_t cps[1200];
    int accepted = 0;
    for (int i = 0; i < count; i++) {
        size_t n = random_string(l, cps, 1200);
        js_buf r = {0}, j = {0};
        for (size_t k = 0; k < n; k++) {
            char u[4];
            js_put(&r, u, vka_utf8_encode(cps[k], u));
            regex_spell(cps[k], rnd(1024), &j);
        }
        bool yes = re_contains(l, r.data ? r.data : "", r.len);
        accepted += yes;
        cr_expect_eq(grammar_accepts(raw, r.data ? r.data : "", r.len), yes, "%s: raw grammar on '%s' (in: %d)", what,
                     r.data ? r.data : "", yes);
        cr_expect_eq(grammar_accepts(json, j.data ? j.data : "", j.len), yes, "%s: JSON grammar on '%s' (in: %d)", what,
                     j.data ? j.data : "", yes);
        js_buf_free(&r), js_buf_free(&j);
    }
    cr_expect(accepted > 0 || re_is_empty(l), "%s: no random string was accepted", what);
    vka_grammar_free(raw), vka_grammar_free(json);
}

typedef struct row {
    const char *pattern;
    const char *yes[6];
    const char *no[6];
} row;

static void check_rows(const row *rows, size_t n) {
    for (size_t i = 0; i < n; i++) {
        re_lang *l = pattern(rows[i].pattern);
        for (size_t k = 0; k < 6 && rows[i].yes[k]; k++)
            cr_expect(has(l, rows[i].yes[k]), "%s should match '%s'", rows[i].pattern, rows[i].yes[k]);
        for (size_t k = 0; k < 6 && rows[i].no[k]; k++)
            cr_expect(!has(l, rows[i].no[k]), "%s should not match '%s'", rows[i].pattern, rows[i].no[k]);
        re_free(l);
    }
}

/* ---------------------------------------------------------------- syntax */

Test(regex, refuses_with_construct_and_offset) {
    static const struct {
        const char *pattern, *message;
    } rows[] = {
        {"(?<=a)b", "lookbehind"}, {"x(?<!a)b", "offset 1"}, {"(a)\\1", "back-reference"},
        {"(?<n>a)\\k<n>", "back-reference"}, {"\\bx", "word boundary"}, {"x\\B", "non-word-boundary"},
        {"\\p{L}", "property"}, {"a\\P{Lu}", "offset 1"}, {"^.{0,100000}(?:^a)*$", "repetition"}, {"^(?:a(?=b)){20}.{0,100}$", "repetition"},
        {"\\-", "invalid escape"}, {"a{", "lone '{'"}, {"{1}", "lone '{'"}, {"a{2,1}", "out of order"},
        {"]", "lone ']'"}, {"}", "lone '}'"}, {"(?=a)*", "lookahead cannot be repeated"}, {"\\c1", "\\c"},
        {"[\\d-z]", "range end"}, {"[z-a]", "out of order"}, {"\\00", "decimal escape"}, {"\\u{110000}", "\\u{"},
        {"(", "unterminated group"}, {")", "unmatched ')'"}, {"[", "unterminated character class"},
        {"(?<a>x)(?<a>y)", "duplicate group name"}, {"a**", "nothing to repeat"}, {"^*", "nothing to repeat"},
        {"\\", "end of pattern"}, {"(?x)", "invalid group"}, {"\\xZ1", "\\x"}, {"\xff", "UTF-8"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        re_lang *l = NULL;
        cr_expect_eq(re_from_pattern(rows[i].pattern, &l), VKA_ERR_GRAMMAR, "pattern %s should be refused", rows[i].pattern);
        cr_expect_null(l);
        cr_expect(strstr(vka_last_error(), rows[i].message) != NULL, "pattern %s: error '%s' lacks '%s'", rows[i].pattern,
                  vka_last_error(), rows[i].message);
    }
}

Test(regex, constructs) {
    static const row rows[] = {
        {"abc", {"abc", "xabcx", "abcabc"}, {"ab", "", "acb"}},
        {"^abc$", {"abc"}, {"xabc", "abcx", "abc\n"}},
        {"^a|b$", {"ax", "xb", "ab"}, {"xa", "bx", ""}},
        {"^(?:cat|dog)s?$", {"cat", "dogs"}, {"cats!", "do"}},
        {"^a*b+c?d{2}e{1,3}f{2,}$", {"bddeff", "aabbcddeeefff"}, {"bddef", "bdeff", "bddeeeeff"}},
        {"^a+?b*?c??$", {"a", "abbc"}, {"b", ""}},
        {"^[a-c][^a-c][\\d\\s][\\D][\\w][\\W][.]$", {"aZ5xz-.", "c\n\tZ_+."}, {"dZ5xz-.", "aZ5xz-x"}},
        {"^.$", {"a", "\xC3\xA9", "\xF0\x9F\x98\x80", "\t"}, {"\n", "\r", "\xE2\x80\xA8", "ab"}},
        {"^[\\s\\S]$", {"\n", "\xE2\x80\xA9"}, {""}},
        {"^\\s+$", {" \t\n\v\f\r", "\xC2\xA0\xE1\x9A\x80\xE2\x80\x80\xE2\x80\x8A\xE3\x80\x80\xEF\xBB\xBF"}, {"\xE2\x80\x8B", "a"}},
        {"^\\w+$", {"az_AZ09"}, {"\xC3\xA9", "-"}},
        {"^\\x41\\u0042\\u{43}\\cJ\\t\\v\\f\\r\\n$", {"ABC\n\t\v\f\r\n"}, {"ABC"}},
        {"^a\\0b$", {NULL}, {"ab", "a0b"}},
        {"^\\uD83D\\uDE00$", {"\xF0\x9F\x98\x80"}, {""}},
        {"^[\\u{1F600}-\\u{1F64F}]$", {"\xF0\x9F\x98\x80", "\xF0\x9F\x99\x8F"}, {"\xF0\x9F\x99\x90"}},
        {"^\\/\\.\\*\\+\\?\\(\\)\\[\\]\\{\\}\\|\\^\\$\\\\$", {"/.*+?()[]{}|^$\\"}, {""}},
        {"^[\\b\\-a]$", {"\b", "-", "a"}, {"b"}},
        {"^[-a][a-][--/]$", {"-a-", "aa/", "a-."}, {"b--"}},
        {"^[^]$", {"x", "\n"}, {""}},
        {"^[]$", {NULL}, {"", "a"}},
        {"^(?<year>\\d{4})-(\\d\\d)$", {"2024-01"}, {"24-01"}},
        {"a(?=b)", {"ab", "xabx"}, {"a", "ac"}},
        {"^a(?!b)", {"a", "ac"}, {"ab", "xa"}},
        {"^(?=.*\\d)(?=.*[a-z]).{4,}$", {"abc1", "1xyz"}, {"abcd", "1234", "a1"}},
        {"(?:^|,)x(?:,|$)", {"x", "a,x", "x,b", "a,x,b"}, {"ax", "xa", "a,xb"}},
        {"a^b", {NULL}, {"ab", "a^b"}},
        {"a$b", {NULL}, {"ab", "a$b"}},
        {"$^", {""}, {"a"}},
        {"^$", {""}, {"a", "\n"}},
        {"", {"", "a"}, {NULL}},
        {"x{0}", {""}, {NULL}},
        {"a{2,33311}CC", {"aaCC", "xaaaCCx"}, {"aCC", "aaC"}},
        {"^a{2,5}b*", {"aab", "aaaaaab"}, {"ab"}},
        {"b*a{2,5}$", {"aa", "xaaaaaa"}, {"a", "aab"}},
        {"^(?:a(?=b)|c){2}", {"cc", "cab"}, {"abc", "ca", "aa"}},
    };
    check_rows(rows, sizeof rows / sizeof *rows);
}

/* ---------------------------------------------------------------- set operations */

Test(regex, set_operations) {
    re_lang *digits = pattern("^[0-9]+$"), *short3 = pattern("^.{0,3}$"), *both = NULL, *either = NULL, *not_digits = NULL,
            *none = NULL, *all = NULL;
    cr_assert_eq(re_intersect(digits, short3, &both), VKA_OK);
    cr_assert_eq(re_union(digits, short3, &either), VKA_OK);
    cr_assert_eq(re_complement(digits, &not_digits), VKA_OK);
    cr_assert_eq(re_intersect(digits, not_digits, &none), VKA_OK);
    cr_assert_eq(re_union(digits, not_digits, &all), VKA_OK);
    cr_expect(has(both, "123") && !has(both, "1234") && !has(both, "ab") && !has(both, ""));
    cr_expect(has(either, "1234") && has(either, "ab") && has(either, "") && !has(either, "abcd"));
    cr_expect(has(not_digits, "") && has(not_digits, "1a") && !has(not_digits, "42"));
    cr_expect(re_is_empty(none));
    cr_expect(!re_is_empty(all) && has(all, "anything \xF0\x9F\x98\x80") && has(all, ""));
    check_renderings(both, "digits and short", 300);
    check_renderings(not_digits, "not digits", 300);
    re_free(digits), re_free(short3), re_free(both), re_free(either), re_free(not_digits), re_free(none), re_free(all);

    const char *words[] = {"id", "name", "na\xC3\xAFve"};
    size_t lens[] = {2, 4, 6};
    re_lang *lits = NULL, *others = NULL;
    cr_assert_eq(re_literals(words, lens, 3, &lits), VKA_OK);
    cr_assert_eq(re_complement(lits, &others), VKA_OK);
    cr_expect(has(lits, "name") && has(lits, "na\xC3\xAFve") && !has(lits, "nam") && !has(lits, "names"));
    cr_expect(!has(others, "id") && has(others, "") && has(others, "idx"));
    check_renderings(others, "not the literals", 300);
    re_free(lits), re_free(others);
}

/* ---------------------------------------------------------------- length limits */

/* l limited to [lo, hi]; the grammar stays small whatever the bound. */
static re_lang *limited(const re_lang *l, uint64_t lo, uint64_t hi) {
    re_lang *out = NULL;
    cr_assert_eq(re_limit_length(l, lo, hi, &out), VKA_OK, "%s", vka_last_error());
    size_t text_len = 0;
    vka_grammar *g = grammar_of(out, RE_JSON_STRING, &text_len);
    cr_expect_lt(text_len, 200000u, "grammar of %zu bytes", text_len);
    vka_grammar_free(g);
    return out;
}

static char *repeat(const char *unit, size_t n) {
    size_t u = strlen(unit);
    char *s = malloc(u * n + 1);
    for (size_t i = 0; i < n; i++) memcpy(s + i * u, unit, u);
    s[u * n] = 0;
    return s;
}

Test(regex, huge_length_limits) {
    re_lang *all = NULL;
    cr_assert_eq(re_all(&all), VKA_OK);
    re_lang *any = limited(all, 0, 10000000), *word = pattern("^[a-z]+$"), *words = limited(word, 1, 10000000);
    re_lang *prefixed = pattern("^ab[0-9]*$"), *pre = limited(prefixed, 1000, RE_UNBOUNDED);
    re_lang *small = limited(word, 2, 3), *not_lit = NULL;
    char *long_word = repeat("q", 5000), *long_digits = repeat("7", 998);
    cr_expect(has(any, "") && has(any, long_word) && has(words, long_word) && !has(words, ""));
    char *ab = malloc(1003);
    snprintf(ab, 1003, "ab%s", long_digits);
    cr_expect(has(pre, ab) && !has(pre, "ab12"));
    cr_expect(has(small, "ab") && !has(small, "abcd") && !has(small, "a"));
    /* rendered with counters: a long string goes through the grammar */
    vka_grammar *g = grammar_of(words, RE_JSON_STRING, NULL);
    cr_expect(grammar_accepts(g, long_word, strlen(long_word)));
    vka_grammar_free(g);
    check_renderings(any, "any string up to 10^7", 200);
    check_renderings(pre, "ab digits, 1000 or more", 100);
    check_renderings(small, "2 or 3 letters", 200);
    /* a surrogate-pair escape is one character */
    re_lang *one = limited(all, 1, 1);
    g = grammar_of(one, RE_JSON_STRING, NULL);
    cr_expect(grammar_accepts(g, "\\ud83d\\ude00", 12) && grammar_accepts(g, "\\uD83D\\uDE00", 12));
    cr_expect(!grammar_accepts(g, "\\ud83d", 6) && !grammar_accepts(g, "ab", 2));
    vka_grammar_free(g);
    /* several loops under a huge bound: refused clearly */
    re_lang *two = pattern("^[a-z]+@[a-z]+$"), *out = NULL;
    cr_expect_eq(re_limit_length(two, 0, 10000000, &out), VKA_ERR_GRAMMAR);
    cr_expect(strstr(vka_last_error(), "too complex") != NULL, "%s", vka_last_error());
    re_lang *two_small = limited(two, 0, 200);
    cr_expect(has(two_small, "ab@cd"));
    /* complement and intersection of counted languages */
    cr_assert_eq(re_complement(words, &not_lit), VKA_OK);
    cr_expect(has(not_lit, "") && has(not_lit, "A") && !has(not_lit, "abc"));
    re_lang *meet = NULL;
    cr_assert_eq(re_intersect(words, any, &meet), VKA_OK);
    cr_expect(has(meet, long_word) && !has(meet, "A"));
    free(long_word), free(long_digits), free(ab);
    re_free(all), re_free(any), re_free(word), re_free(words), re_free(prefixed), re_free(pre), re_free(small);
    re_free(one), re_free(two), re_free(two_small), re_free(not_lit), re_free(meet);
}

Test(regex, large_counts_in_patterns) {
    static const char *ok[] = {"^.{0,100000}$", "^a{100000}$", "^[a-z]{1,1000000}\\.txt$", ".{0,100000}", "^x{1000}",
                               "^(?:ab){1,3000}$", "^[0-9]{3}-[a-z]{2,99999}$"};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        re_lang *l = pattern(ok[i]);
        size_t text_len = 0;
        vka_grammar *g = grammar_of(l, RE_JSON_STRING, &text_len);
        cr_expect_lt(text_len, 300000u, "%s: grammar of %zu bytes", ok[i], text_len);
        vka_grammar_free(g);
        re_free(l);
    }
    re_lang *l = pattern("^a{100000}$");
    char *s = repeat("a", 100000);
    cr_expect(has(l, s));
    s[99999] = 0;
    cr_expect(!has(l, s));
    free(s), re_free(l);
    re_lang *bad = NULL;
    cr_expect_eq(re_from_pattern("^(?:[a-z]+,){0,1000000}$", &bad), VKA_ERR_GRAMMAR);
    cr_expect(strstr(vka_last_error(), "too complex") != NULL, "%s", vka_last_error());
    cr_expect_eq(re_from_pattern("[ab]*a[ab]{30}", &bad), VKA_ERR_GRAMMAR);
    cr_expect(strstr(vka_last_error(), "too complex") != NULL, "%s", vka_last_error());
}

/* ---------------------------------------------------------------- renderings */

Test(regex, renderings_agree_with_contains) {
    static const char *patterns[] = {
        "^[a-zA-Z0-9_-]+$", "^\\d{3}-\\d{4}$", "^(\\([0-9]{3}\\))?[0-9]{3}-[0-9]{4}$", "^https?://", "[\"\\\\/]",
        "^[^a-z]*$", "\\u{1F600}|\\u00e9", "^(?=.*\\d).{2,6}$", "^[\\u0000-\\u001F\\u007F]+$", "^.{3}$", "^$", "x",
        "^[\\uD7FF\\uE000\\uFFFF\\u{10000}\\u{10FFFF}]+$", "^[\\u{10000}-\\u{10400}\\u{10FFF0}-\\u{10FFFF}]$",
    };
    for (size_t i = 0; i < sizeof patterns / sizeof *patterns; i++) {
        re_lang *l = pattern(patterns[i]);
        check_renderings(l, patterns[i], 400);
        re_free(l);
    }
}

Test(regex, json_spelling) {
    re_lang *l = pattern("^[\\u00e9/\"\\\\\\n\\u{1F600}A]$");
    vka_grammar *g = grammar_of(l, RE_JSON_STRING, NULL);
    static const char *yes[] = {"\xC3\xA9", "\\u00e9", "\\u00E9", "/", "\\/", "\\\"", "\\\\", "\\n", "\\u000a",
                                "\\u000A", "\xF0\x9F\x98\x80", "\\ud83d\\ude00", "\\uD83D\\uDE00", "\\uD83d\\udE00",
                                "A", "\\u0041"};
    static const char *no[] = {"\"", "\\", "\n", "\\ud83d", "\\ude00", "\\U00e9", "\\u00e", "\\x41", "\\a", "B",
                               "\\u0042", "\\uD83D\\uDE01", "\\ud800\\udc00"};
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
        cr_expect(grammar_accepts(g, yes[i], strlen(yes[i])), "should accept %s", yes[i]);
    for (size_t i = 0; i < sizeof no / sizeof *no; i++)
        cr_expect(!grammar_accepts(g, no[i], strlen(no[i])), "should reject %s", no[i]);
    vka_grammar_free(g);
    re_free(l);
    /* re_class_gbnf: one character of a set, in both spellings */
    uint32_t lo[] = {'a', 0x1F600}, hi[] = {'c', 0x1F64F};
    js_rules rules = {0};
    js_buf expr = {0}, text = {0};
    cr_assert_eq(re_class_gbnf(lo, hi, 2, RE_JSON_STRING, &rules, &expr), VKA_OK, "%s", vka_last_error());
    js_printf(&text, "root ::= %s\n%s", expr.data, rules.text.data);
    cr_assert_eq(vka_grammar_parse(text.data, "root", &g), VKA_OK, "%s\n%s", vka_last_error(), text.data);
    cr_expect(grammar_accepts(g, "b", 1) && grammar_accepts(g, "\\u0062", 6) && grammar_accepts(g, "\\uD83D\\uDE4F", 12));
    cr_expect(!grammar_accepts(g, "d", 1) && !grammar_accepts(g, "\\uD83D\\uDE50", 12));
    vka_grammar_free(g);
    js_buf_free(&expr), js_buf_free(&text), js_rules_free(&rules);
    cr_expect_eq(re_class_gbnf(lo, hi, 0, RE_RAW, &rules, &expr), VKA_ERR_GRAMMAR);
    re_lang *empty = pattern("a^");
    cr_expect_eq(re_to_gbnf(empty, RE_RAW, &rules, &expr), VKA_ERR_GRAMMAR);
    re_free(empty);
    js_buf_free(&expr), js_rules_free(&rules);
}

/* ---------------------------------------------------------------- formats */

Test(regex, formats) {
    static const struct {
        const char *format;
        const char *yes[5];
        const char *no[5];
    } rows[] = {
        {"date", {"2024-02-29", "2000-02-29", "1999-12-31"}, {"1900-02-29", "2023-02-29", "2024-04-31", "2024-1-01"}},
        {"time", {"23:59:60Z", "12:00:00.5+05:30", "00:00:00z", "23:59:59-0800"}, {"12:00:00", "24:00:00Z", "12:60:00Z", "12:00:00+24:00"}},
        {"date-time", {"2024-01-01T00:00:00Z", "2024-01-01 12:00:00+01:00", "2024-01-01t00:00:00z"}, {"2024-01-01T00:00:00", "2024-01-01TT00:00:00Z"}},
        {"iso-time", {"12:00:00", "23:59:60"}, {"12:00"}},
        {"duration", {"P1Y2M3DT4H5M6S", "PT1S", "P2W", "P1D"}, {"P", "PT", "P1W2D", "p1D", "P1YT"}},
        {"email", {"a.b+c@example.com", "x@y.z"}, {"a..b@x.com", "@x.com", "a@-x.com", "a@x"}},
        {"hostname", {"example.com", "a", "a-b.c.", "xn--80ak6aa92e.com"}, {"-a.com", "a-.com", "a..b", ""}},
        {"ipv4", {"192.168.0.1", "0.0.0.0", "255.255.255.255"}, {"256.0.0.1", "01.2.3.4", "1.2.3"}},
        {"ipv6", {"::", "::1", "2001:db8::7", "1:2:3:4:5:6:7:8", "::ffff:1.2.3.4"}, {"1:2:3:4:5:6:7:8:9", ":::", "1::2::3", "g::"}},
        {"uuid", {"123e4567-e89b-12d3-a456-426614174000", "urn:uuid:123E4567-E89B-12D3-A456-426614174000"}, {"123e4567e89b12d3a456426614174000"}},
        {"uri", {"http://example.com/a?b#c", "urn:isbn:0451450523", "mailto:a@b.c"}, {"/relative", "http://a b", "1http://x"}},
        {"uri-reference", {"/relative", "", "#frag", "http://x/\"q\""}, {"\\x", "a b"}},
        {"uri-template", {"http://x/{id}", "{+path}/{a,b:3}", "{x*}"}, {"{}", "{a:0}", "<"}},
        {"url", {"http://example.com", "https://8.8.8.8/p", "HTTPS://EXAMPLE.COM"}, {"http://10.0.0.1", "http://localhost", "ws://x.com"}},
        {"json-pointer", {"", "/a~0b/~1", "/"}, {"a", "/~2"}},
        {"json-pointer-uri-fragment", {"#", "#/a%20b"}, {"#/a b", "/a"}},
        {"relative-json-pointer", {"0", "1#", "2/a"}, {"01", "-1", "#"}},
        {"byte", {"", "QUJD", "QQ==", "!!!\n"}, {"QUJ", "Q", "!!!"}},
    };
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        bool known = false;
        re_lang *l = NULL;
        cr_assert_eq(re_from_format(rows[i].format, &known, &l), VKA_OK, "%s: %s", rows[i].format, vka_last_error());
        cr_assert(known && l, "%s should be known", rows[i].format);
        for (size_t k = 0; k < 5 && rows[i].yes[k]; k++)
            cr_expect(has(l, rows[i].yes[k]), "%s should accept '%s'", rows[i].format, rows[i].yes[k]);
        for (size_t k = 0; k < 5 && rows[i].no[k]; k++)
            cr_expect(!has(l, rows[i].no[k]), "%s should reject '%s'", rows[i].format, rows[i].no[k]);
        check_renderings(l, rows[i].format, 100);
        re_free(l);
    }
    static const char *validated[] = {"regex", "int32", "int64", "float", "double", "password", "binary", "date", "uri"};
    for (size_t i = 0; i < sizeof validated / sizeof *validated; i++)
        cr_expect(re_format_is_validated(validated[i]), "%s", validated[i]);
    static const char *unknown[] = {"iri", "idn-email", "color", "", "Date"};
    for (size_t i = 0; i < sizeof unknown / sizeof *unknown; i++) {
        bool known = true;
        re_lang *l = NULL;
        cr_expect(!re_format_is_validated(unknown[i]), "%s", unknown[i]);
        cr_expect_eq(re_from_format(unknown[i], &known, &l), VKA_OK);
        cr_expect(!known && !l, "%s", unknown[i]);
    }
    bool known = true;
    re_lang *l = NULL;
    cr_expect_eq(re_from_format("regex", &known, &l), VKA_OK);
    cr_expect(!known && !l, "regex is validated by ajv but not regular");
}
