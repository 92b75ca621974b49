/* test_json_number.c — numbers under JSON Schema's numeric keywords
 * (engine/structured/json_number.c): ajv's decision for one double, exact grammars at
 * the boundaries, refusals, grammar sizes for big ranges, and seeded
 * property tests (every text a grammar accepts is one js_number_admits
 * admits; every admitted text of the written forms is accepted). The same
 * grammars are checked against ajv itself by tests/number/compare.mjs. */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "structured/grammar.h"
#include "structured/json_number.h"
#include "number_syntax.h"

typedef struct built {
    vka_grammar *g;
    char *text; /* the whole grammar, for messages */
    size_t bytes;
} built;

static vka_status try_build(const js_number_spec *spec, built *b) {
    js_rules rules = {0};
    js_buf expr = {0}, all = {0};
    *b = (built){0};
    vka_status s = js_number_gbnf(spec, &rules, &expr);
    if (s == VKA_OK) {
        js_printf(&all, "root ::= %s\n%s", expr.data, rules.text.data ? rules.text.data : "");
        cr_assert(!all.failed);
        cr_assert_eq(vka_grammar_parse(all.data, "root", &b->g), VKA_OK, "grammar does not parse: %s\n%s",
                     vka_last_error(), all.data);
        b->text = all.data;
        b->bytes = all.len;
    }
    js_buf_free(&expr);
    js_rules_free(&rules);
    return s;
}

static built build(const js_number_spec *spec) {
    built b;
    cr_assert_eq(try_build(spec, &b), VKA_OK, "%s", vka_last_error());
    return b;
}

static void release(built *b) {
    vka_grammar_free(b->g);
    free(b->text);
}

static bool matches(const built *b, const char *text) {
    vka_grammar_state *st;
    cr_assert_eq(vka_grammar_state_create(b->g, &st), VKA_OK);
    bool ok = false;
    cr_assert_eq(vka_grammar_accept_bytes(st, text, strlen(text), &ok), VKA_OK, "%s", vka_last_error());
    ok = ok && vka_grammar_can_end(st);
    vka_grammar_state_free(st);
    return ok;
}

/* The soundness rule for one text: accepted only if JSON, finite, admitted. */
static void check_sound(const js_number_spec *spec, const built *b, const char *text) {
    if (!matches(b, text)) return;
    cr_assert(json_number_syntax(text), "grammar accepts non-JSON %s\n%s", text, b->text);
    double v = strtod(text, NULL);
    cr_assert(isfinite(v) && js_number_admits(spec, v), "grammar accepts %s, which ajv rejects\n%s", text, b->text);
}

#define SPEC(...) ((js_number_spec){__VA_ARGS__})
#define LIST(...) ((const char *const[]){__VA_ARGS__, NULL})

static void expect_texts(js_number_spec spec, const char *const *yes, const char *const *no) {
    built b = build(&spec);
    for (; yes && *yes; yes++) cr_expect(matches(&b, *yes), "should accept %s\n%s", *yes, b.text);
    for (; no && *no; no++) cr_expect(!matches(&b, *no), "should reject %s\n%s", *no, b.text);
    release(&b);
}

/* ---------------------------------------------------------------- ajv's decision */

Test(json_number, admits_like_ajv) {
    js_number_spec num = {0}, integer = {.integer = true};
    cr_expect(js_number_admits(&num, 1.5) && js_number_admits(&num, -0.0) && js_number_admits(&num, DBL_MAX));
    cr_expect(!js_number_admits(&num, INFINITY) && !js_number_admits(&num, -INFINITY) && !js_number_admits(&num, NAN));
    cr_expect(js_number_admits(&integer, -0.0) && js_number_admits(&integer, 1e300) && !js_number_admits(&integer, 0.5));
    cr_expect(!js_number_admits(&integer, INFINITY));
    js_number_spec min01 = {.has_min = true, .min = 0.1};
    cr_expect(js_number_admits(&min01, 0.1) && !js_number_admits(&min01, nextafter(0.1, 0)));
    min01.min_exclusive = true;
    cr_expect(!js_number_admits(&min01, 0.1) && js_number_admits(&min01, nextafter(0.1, 1)));
    js_number_spec max0 = {.has_max = true, .max = 0, .max_exclusive = true};
    cr_expect(!js_number_admits(&max0, -0.0) && !js_number_admits(&max0, 0) && js_number_admits(&max0, -5e-324));
    /* multipleOf divides in doubles: 0.3 / 0.1 = 2.9999999999999996 */
    js_number_spec tenth = {.multiple_of = 0.1};
    cr_expect(!js_number_admits(&tenth, 0.3) && js_number_admits(&tenth, 0.2) && js_number_admits(&tenth, 3));
    /* a quotient from 1e21 up is written with an exponent: parseInt fails it */
    js_number_spec tiny = {.multiple_of = 1e-10};
    cr_expect(js_number_admits(&tiny, 1e10) && !js_number_admits(&tiny, 1e12));
    js_number_spec seven = {.integer = true, .multiple_of = 7};
    cr_expect(js_number_admits(&seven, 14) && !js_number_admits(&seven, 15) && js_number_admits(&seven, -0.0));
    /* above 2^53 the rounded quotient passes a non-multiple */
    js_number_spec three_quarters = {.integer = true, .multiple_of = 0.75};
    cr_expect(js_number_admits(&three_quarters, 9007199254740991.0));
}

/* ---------------------------------------------------------------- boundaries */

Test(json_number, unbounded_forms) {
    expect_texts(SPEC(.integer = true), LIST("0", "-0", "7", "-9999999999999999", "9007199254740993"),
                 LIST("1.0", "1e2", "01", "-", "10000000000000000", "+1", ""));
    expect_texts(SPEC(0),
                 LIST("0", "-0", "1e308", "-1e308", "9.99e307", "1.7976931348623157e308", "1.7976931348623158e308",
                      "1.7976931348623158E+308", "0.9e308", "1e+21", "1.5e-7", "123.456", "5e-324", "1e-400", "1e007",
                      "0.0000012345678901234567", "100000000000000000000", "0.12345678901234568", "99e286", "1E+2"),
                 LIST("1e309", "1.7976931348623159e308", "1.79769313486231580793e308", "2e308", "0.5e309", "10e307",
                      "1e0308", "1e999", "01", "1.", ".5", "+1", "1e", "--1", "0x10", "Infinity", "NaN", " 1",
                      "1000000000000000000000"));
}

Test(json_number, integer_bounds_exact_to_2_53) {
    js_number_spec spec = {.integer = true, .has_max = true, .max = 9007199254740991.0};
    expect_texts(spec, LIST("9007199254740991", "0", "-9999999999999999"), LIST("9007199254740992", "9007199254740993"));
    /* 9007199254740993 parses to 2^53: a maximum written so is 2^53 */
    spec.max = 9007199254740992.0;
    expect_texts(spec, LIST("9007199254740992", "9007199254740993"), LIST("9007199254740994", "9007199254740995"));
    expect_texts(SPEC(.integer = true, .has_min = true, .min = 9007199254740992.0, .min_exclusive = true),
                 LIST("9007199254740994", "9007199254740995", "9999999999999999"),
                 LIST("9007199254740993", "9007199254740992", "0"));
    expect_texts(SPEC(.integer = true, .has_min = true, .min = -9007199254740991.0, .has_max = true,
                      .max = 9007199254740991.0),
                 LIST("-9007199254740991", "9007199254740991", "0", "-1", "1234567890123"),
                 LIST("-9007199254740992", "9007199254740992", "-0", "1.0"));
    /* decimal bounds on integers */
    expect_texts(SPEC(.integer = true, .has_min = true, .min = 0.5, .has_max = true, .max = 3.5), LIST("1", "2", "3"),
                 LIST("0", "4", "-1"));
    expect_texts(SPEC(.integer = true, .has_min = true, .min = -3, .min_exclusive = true, .has_max = true, .max = 0,
                      .max_exclusive = true),
                 LIST("-2", "-1"), LIST("-3", "0", "-0"));
}

Test(json_number, decimal_bounds_round_like_json_parse) {
    /* 0.1 is 0.1000000000000000055511...; decimals above the midpoint
     * 0.09999999999999999861222... with the double below parse to 0.1 */
    expect_texts(SPEC(.has_min = true, .min = 0.1),
                 LIST("0.1", "0.10", "0.0999999999999999986123", "5", "123456789012345678901"),
                 LIST("0.0999999999999999986122", "0.09999999999999999168", "0.0999999999999999", "0.09", "0", "-0.1",
                      "1e5"));
    /* next double 0.10000000000000001942...; midpoint 0.10000000000000001249... */
    expect_texts(SPEC(.has_min = true, .min = 0.1, .min_exclusive = true),
                 LIST("0.1000000000000000125", "0.10000000000000002", "0.2"),
                 LIST("0.1", "0.1000000000000000124", "0.10000000000000001", "0.1000000000000000055511151231257827"));
    expect_texts(SPEC(.has_min = true, .min = 0.5, .has_max = true, .max = 100, .max_exclusive = true),
                 LIST("0.5", "99.99999999999999", "50", "99.999999999999992894"),
                 LIST("100", "99.999999999999999", "0.49999999999999997", "100.0", "-1"));
    expect_texts(SPEC(.has_max = true, .max = 0.3),
                 LIST("0.3", "0.30000000000000001", "-0.0000000000000000000001", "-123456789012345678901.1234"),
                 LIST("0.30000000000000002", "0.31", "1"));
    expect_texts(SPEC(.has_min = true, .min = 1e-7, .min_exclusive = true),
                 LIST("0.0000001000000000000001", "0.000001"),
                 LIST("0.0000001", "0.0000001000000000000000", "0", "0.0000000999999999999999", "1e-6"));
    /* -0: equal to 0 for every comparison, but never written under bounds */
    expect_texts(SPEC(.has_min = true, .min = 0), LIST("0", "0.0", "1"), LIST("-0", "-0.0", "-0.0000000000000000000001"));
    expect_texts(SPEC(.has_max = true, .max = 0, .max_exclusive = true), LIST("-0.0000000000000000000001", "-5"),
                 LIST("0", "-0", "0.0"));
    expect_texts(SPEC(.has_min = true, .min = -1e308, .has_max = true, .max = 1e308),
                 LIST("0", "-999999999999999999999.9999999999999999999999", "999999999999999999999"), LIST("1e308"));
}

Test(json_number, multiples) {
    expect_texts(SPEC(.integer = true, .multiple_of = 7, .has_min = true, .min = 1, .has_max = true, .max = 100),
                 LIST("7", "14", "98"), LIST("0", "1", "99", "105", "-7", "7.0"));
    expect_texts(SPEC(.integer = true, .multiple_of = 1024),
                 LIST("0", "1024", "-2048", "9007199254740992", "1099511627776"),
                 LIST("512", "1000", "9007199254743040", "1024.0"));
    expect_texts(SPEC(.multiple_of = 0.5), LIST("1.5", "2", "2.0", "-0.5", "4503599627370495.5"),
                 LIST("1.25", "0.50000000000000001", "2.00", "4503599627370496.5", "1e1"));
    expect_texts(SPEC(.multiple_of = 0.25, .has_min = true, .min = 0.3, .has_max = true, .max = 1),
                 LIST("0.5", "0.75", "1", "1.0", "1.00", "0.50"), LIST("0.25", "1.25", "0.3", "0", "0.125"));
    expect_texts(SPEC(.multiple_of = 1.5), LIST("0", "1.5", "3", "-4.5", "3.0"), LIST("1", "0.75", "4"));
    expect_texts(SPEC(.integer = true, .multiple_of = 0.5, .has_max = true, .max = 3), LIST("3", "-7", "0"),
                 LIST("3.5", "4", "2.5"));
    expect_texts(SPEC(.integer = true, .multiple_of = 1e300), LIST("0"), LIST("1", "-0"));
}

Test(json_number, multiple_refused_or_empty) {
    built b;
    const double inexact[] = {0.1, 0.01, 0.3, 1.1, 1e-8};
    for (size_t i = 0; i < sizeof inexact / sizeof *inexact; i++) {
        cr_assert_eq(try_build(&SPEC(.multiple_of = inexact[i]), &b), VKA_ERR_GRAMMAR);
        cr_expect(strstr(vka_last_error(), "is not supported exactly"), "%s", vka_last_error());
    }
    cr_assert_eq(try_build(&SPEC(.multiple_of = 0.01), &b), VKA_ERR_GRAMMAR);
    cr_expect(strstr(vka_last_error(), "multipleOf 0.01 is not supported exactly"), "%s", vka_last_error());
    cr_assert_eq(try_build(&SPEC(.integer = true, .multiple_of = 997), &b), VKA_ERR_GRAMMAR);
    cr_expect(strstr(vka_last_error(), "multipleOf 997"), "%s", vka_last_error());
    const js_number_spec empty[] = {
        SPEC(.has_min = true, .min = 5, .has_max = true, .max = 3),
        SPEC(.integer = true, .has_min = true, .min = 0, .min_exclusive = true, .has_max = true, .max = 1,
             .max_exclusive = true),
        SPEC(.integer = true, .multiple_of = 7, .has_min = true, .min = 1, .has_max = true, .max = 6),
        SPEC(.has_min = true, .min = 2, .min_exclusive = true, .has_max = true, .max = 2),
        SPEC(.has_min = true, .min = 1e30), /* beyond the 21 integer digits written */
        SPEC(.multiple_of = 0.5, .has_min = true, .min = 0.6, .has_max = true, .max = 0.9),
        SPEC(.integer = true, .multiple_of = 1e300, .has_min = true, .min = 1), /* 0 only, below 1 */
    };
    for (size_t i = 0; i < sizeof empty / sizeof *empty; i++) {
        cr_assert_eq(try_build(&empty[i], &b), VKA_ERR_GRAMMAR, "spec %zu", i);
        cr_expect(strstr(vka_last_error(), "nothing satisfies"), "%s", vka_last_error());
    }
    cr_expect_eq(try_build(&SPEC(.has_min = true, .min = NAN), &b), VKA_ERR_GRAMMAR);
    cr_expect_eq(try_build(&SPEC(.multiple_of = -2), &b), VKA_ERR_GRAMMAR);
}

Test(json_number, big_ranges_give_small_grammars) {
    struct {
        js_number_spec spec;
        size_t max_bytes;
        uint32_t max_states;
    } cases[] = {
        {SPEC(.integer = true, .has_min = true, .min = -9007199254740991.0, .has_max = true, .max = 9007199254740991.0),
         1000, 600},
        {SPEC(.has_min = true, .min = -1e15 + 0.3, .min_exclusive = true, .has_max = true, .max = 123456.789), 3000, 2000},
        {SPEC(.integer = true, .multiple_of = 7, .has_min = true, .min = -9007199254740991.0, .has_max = true,
              .max = 9007199254740991.0),
         20000, 15000},
        {SPEC(.integer = true, .multiple_of = 1000), 2000, 2000},
        {SPEC(.multiple_of = 0.125), 3000, 2000},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        built b = build(&cases[i].spec);
        uint32_t states = vka_grammar_n_states(b.g);
        cr_expect(b.bytes <= cases[i].max_bytes && states <= cases[i].max_states, "case %zu: %zu bytes, %u states", i,
                  b.bytes, states);
        release(&b);
    }
}

/* ---------------------------------------------------------------- property tests */

static uint64_t rng_state;
static uint32_t rnd(uint32_t n) { /* uniform-ish in [0, n) */
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)((rng_state >> 33) % n);
}

static void put_digits(char *out, size_t *len, unsigned n, bool nonzero_first) {
    for (unsigned i = 0; i < n; i++) out[(*len)++] = (char)('0' + (i == 0 && nonzero_first ? 1 + rnd(9) : rnd(10)));
}

/* A random text near JSON numbers: mostly valid, some not. */
static void random_text(char *out, size_t cap) {
    size_t len = 0;
    if (rnd(3) == 0) out[len++] = '-';
    unsigned int_digits = rnd(24);
    if (int_digits == 0) out[len++] = '0';
    else put_digits(out, &len, int_digits, rnd(30) != 0);
    if (rnd(2)) out[len++] = '.', put_digits(out, &len, rnd(26), false);
    if (rnd(4) == 0) {
        out[len++] = "eE"[rnd(2)];
        if (rnd(2)) out[len++] = "+-"[rnd(2)];
        put_digits(out, &len, rnd(5), false);
    }
    out[len] = 0;
    (void)cap;
}

static double random_double(void) {
    static const double pool[] = {0, 1, -1, 0.1, 0.3, 0.5, 1e-7, 2.5, 99.99, 100, 123.456, 1e15, 1e16, 1e21,
                                  9007199254740992.0, 9007199254740991.0, -9007199254740991.0, 5e-324, 1e308,
                                  4503599627370495.5, 1.0 / 3};
    char buf[64];
    switch (rnd(4)) {
    case 0: return pool[rnd(sizeof pool / sizeof *pool)] * (rnd(4) ? 1 : -1);
    case 1: return (double)rnd(2000000) - 1000000;
    case 2:
        snprintf(buf, sizeof buf, "%s%u.%ue%d", rnd(3) ? "" : "-", rnd(1000), rnd(100000), (int)rnd(30) - 12);
        return strtod(buf, NULL);
    default: return ldexp((double)rnd(1u << 30), (int)rnd(80) - 40) * (rnd(2) ? 1 : -1);
    }
}

static js_number_spec random_spec(void) {
    static const double multiples[] = {1, 2, 3, 7, 10, 60, 100, 1000, 1024, 0.5, 0.25, 0.125, 1.5, 0.75, 2.5};
    js_number_spec s = {.integer = rnd(2), .has_min = rnd(3) != 0, .min_exclusive = rnd(2), .has_max = rnd(3) != 0,
                        .max_exclusive = rnd(2)};
    s.min = random_double();
    s.max = rnd(3) ? random_double() : s.min + ldexp(1, (int)rnd(40) - 20);
    if (s.has_min && s.has_max && s.min > s.max) {
        double t = s.min;
        s.min = s.max, s.max = t;
    }
    if (rnd(3) == 0) s.multiple_of = multiples[rnd(sizeof multiples / sizeof *multiples)];
    return s;
}

/* Writes x with k fraction digits, rounding toward -inf (down) or +inf. */
static void fixed_text(double x, int k, bool up, char *out, size_t cap) {
    snprintf(out, cap, "%.*f", k, x);
    double y = strtod(out, NULL);
    if (up ? y >= x : y <= x) return;
    double step = pow(10, -k) * (up ? 1 : -1);
    snprintf(out, cap, "%.*f", k, y + step);
}

/* Texts around one double: neighbours written at many precisions. */
static unsigned texts_near(double x, char texts[][80], unsigned n) {
    double around[] = {x, nextafter(x, INFINITY), nextafter(x, -INFINITY)};
    for (unsigned i = 0; i < 3; i++) {
        snprintf(texts[n++], 80, "%.17g", around[i]);
        if (fabs(around[i]) < 1e21)
            for (int k = 0; k <= 22; k += 1 + (int)rnd(4)) fixed_text(around[i], k, rnd(2), texts[n++], 80);
    }
    return n;
}

/* Canonical plain decimal within the digit caps of a spec's forms. */
static bool in_plain_forms(const js_number_spec *spec, const char *t, unsigned max_frac) {
    const char *p = t;
    if (*p == '-') p++;
    size_t int_len = strspn(p, "0123456789");
    const char *dot = p + int_len;
    size_t frac_len = *dot == '.' ? strspn(dot + 1, "0123456789") : 0;
    bool nonzero = strpbrk(p, "123456789") != NULL;
    if (!json_number_syntax(t) || strpbrk(t, "eE")) return false;
    if (t[0] == '-' && !nonzero) return false;
    if (int_len > (spec->integer ? 16u : 21u) || frac_len > max_frac) return false;
    return !(spec->integer && *dot == '.');
}

static void check_walks(const js_number_spec *spec, const built *b, unsigned count) {
    static const char alphabet[] = "0123456789.-+eE";
    for (unsigned w = 0; w < count; w++) {
        vka_grammar_state *st;
        cr_assert_eq(vka_grammar_state_create(b->g, &st), VKA_OK);
        char text[128];
        size_t len = 0;
        for (;;) {
            char next[16];
            unsigned n = 0;
            for (const char *c = alphabet; *c; c++) {
                vka_grammar_state *probe;
                bool ok = false;
                cr_assert_eq(vka_grammar_state_clone(st, &probe), VKA_OK);
                cr_assert_eq(vka_grammar_accept_bytes(probe, c, 1, &ok), VKA_OK);
                if (ok) next[n++] = *c;
                vka_grammar_state_free(probe);
            }
            unsigned choices = n + (vka_grammar_can_end(st) ? 1 : 0);
            cr_assert(choices > 0 && len + 1 < sizeof text, "walk stuck after %.*s\n%s", (int)len, text, b->text);
            unsigned pick = rnd(choices);
            if (pick == n) break;
            bool ok;
            cr_assert_eq(vka_grammar_accept_bytes(st, &next[pick], 1, &ok), VKA_OK);
            text[len++] = next[pick];
        }
        text[len] = 0;
        vka_grammar_state_free(st);
        cr_assert(json_number_syntax(text), "walk gave non-JSON %s\n%s", text, b->text);
        double v = strtod(text, NULL);
        cr_assert(js_number_admits(spec, v), "walk gave %s, which ajv rejects\n%s", text, b->text);
    }
}

Test(json_number, random_specs_sound_and_complete_in_forms) {
    rng_state = 20240611;
    static char texts[600][80];
    unsigned specs_built = 0, accepted = 0;
    for (unsigned trial = 0; trial < 150; trial++) {
        js_number_spec spec = random_spec();
        built b;
        vka_status s = try_build(&spec, &b);
        if (s != VKA_OK) {
            cr_assert_eq(s, VKA_ERR_GRAMMAR);
            cr_assert(strstr(vka_last_error(), "nothing satisfies"), "%s", vka_last_error());
            continue;
        }
        specs_built++;
        unsigned n = 0;
        if (spec.has_min) n = texts_near(spec.min, texts, n);
        if (spec.has_max) n = texts_near(spec.max, texts, n);
        n = texts_near(random_double(), texts, n);
        while (n < 400) random_text(texts[n++], 80);
        unsigned max_frac = spec.integer ? 0 : 22;
        if (spec.multiple_of > 0) {
            /* exact multiples q * m: m = c / 2^j, written with j places */
            int j = 0;
            while (ldexp(spec.multiple_of, j) != trunc(ldexp(spec.multiple_of, j))) j++;
            max_frac = spec.integer ? 0 : (unsigned)j;
            double center = spec.has_min ? spec.min : spec.has_max ? spec.max : 0;
            double q0 = fabs(center / spec.multiple_of) < 1e15 ? round(center / spec.multiple_of) : 0;
            for (int i = -40; i <= 40 && n < 600; i++) snprintf(texts[n++], 80, "%.*f", j, (q0 + i) * spec.multiple_of);
        }
        for (unsigned i = 0; i < n; i++) {
            check_sound(&spec, &b, texts[i]);
            bool in_forms = in_plain_forms(&spec, texts[i], max_frac);
            if (in_forms && spec.multiple_of > 0) {
                /* only exact multiples within 2^(53-j) (|x| < 2^52 here: exact doubles) */
                double v = strtod(texts[i], NULL), q = v / spec.multiple_of;
                char back[80];
                snprintf(back, sizeof back, "%.*f", (int)max_frac, v);
                in_forms = fabs(v) < 0x1p52 / 16 && q == trunc(q) && strncmp(back, texts[i], strlen(texts[i])) == 0;
            }
            if (!in_forms) continue;
            bool admitted = js_number_admits(&spec, strtod(texts[i], NULL));
            cr_expect_eq(matches(&b, texts[i]), admitted, "%s: grammar %d, admits %d\n%s", texts[i], !admitted, admitted,
                         b.text);
            accepted += admitted;
        }
        check_walks(&spec, &b, 10);
        release(&b);
    }
    cr_expect(specs_built > 100 && accepted > 2000, "%u specs, %u accepted texts: too few to test much", specs_built,
              accepted);
}

Test(json_number, every_double_as_printf_writes_it) {
    /* %.17g (and the shortest form) of any finite double is within the
     * unbounded number's forms: at most 17 integer digits, 21 fraction
     * digits, exponents up to e+308 with a one-digit mantissa */
    js_number_spec spec = {0};
    built b = build(&spec);
    rng_state = 7;
    char text[64];
    for (unsigned i = 0; i < 20000; i++) {
        uint64_t bits = rng_state;
        rnd(2);
        double x;
        memcpy(&x, &bits, sizeof x);
        if (!isfinite(x)) continue;
        if (i % 3 == 0) x = random_double();
        int p = i % 2 ? 17 : 1 + (int)rnd(17);
        snprintf(text, sizeof text, "%.*g", p, x);
        cr_assert(matches(&b, text) == isfinite(strtod(text, NULL)), "%s\n%s", text, b.text);
    }
    const char *edges[] = {"1.7976931348623157e+308", "-1.7976931348623157e+308", "2.2250738585072014e-308",
                           "4.9406564584124654e-324", "1e+21", "1e-07"};
    for (size_t i = 0; i < sizeof edges / sizeof *edges; i++) cr_expect(matches(&b, edges[i]), "%s", edges[i]);
    check_walks(&spec, &b, 300);
    release(&b);
}
