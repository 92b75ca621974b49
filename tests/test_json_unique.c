/* test_json_unique.c — uniqueItems outside the grammar: JSON Schema equality
 * through the canonical form, "# vka:unique" annotations and their path
 * patterns, whole documents, the incremental scanner's trials against
 * scanning from scratch, and sampling over the Qwen3 vocabulary (random walks
 * never repeat an element of an annotated array; without annotations the mask
 * is the grammar's own). */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "structured/grammar.h"
#include "structured/json_unique.h"
#include "model/model.h"
#include "sampling/sampler.h"
#include "sampling/sampler_grammar.h"
#include "test_util.h"
#include "text/vocab.h"
#include "structured/vocab_grammar.h"

/* ---------------------------------------------------------------- equality */

static bool equal(const char *a, const char *b) {
    bool eq = false;
    cr_assert_eq(ju_json_equal(a, strlen(a), b, strlen(b), &eq), VKA_OK, "%s vs %s: %s", a, b, vka_last_error());
    return eq;
}

Test(unique_equality, numbers_by_value) {
    cr_expect(equal("1", "1.0"));
    cr_expect(equal("1", "1e0"));
    cr_expect(equal("100", "1E2"));
    cr_expect(equal("0.5", "5e-1"));
    cr_expect(equal("0", "-0"), "0 === -0");
    cr_expect(equal("-0.0", "0e5"));
    cr_expect(equal("9007199254740993", "9007199254740992"), "JSON.parse rounds both to 2^53");
    cr_expect(equal("1e400", "1e999"), "both Infinity");
    cr_expect(!equal("1", "2"));
    cr_expect(!equal("0.1", "0.10000000000000002"));
    cr_expect(!equal("1", "\"1\""));
    cr_expect(!equal("1", "true"));
}

Test(unique_equality, strings_by_decoded_value) {
    cr_expect(equal("\"a\"", "\"\\u0061\""));
    cr_expect(equal("\"\\/\"", "\"/\""));
    cr_expect(equal("\"\\n\"", "\"\\u000a\""));
    cr_expect(equal("\"\\u00e9\"", "\"\xc3\xa9\""));
    cr_expect(equal("\"\\ud83d\\ude00\"", "\"\xf0\x9f\x98\x80\""), "a surrogate pair is its code point");
    cr_expect(equal("\"\\uD800\"", "\"\\ud800\""), "hex digits in either case");
    cr_expect(!equal("\"\\ud800\"", "\"\\udc00\""), "lone surrogates kept apart");
    cr_expect(!equal("\"\\ud800\"", "\"\""));
    cr_expect(!equal("\"a\\u0000b\"", "\"a\\u0000c\""), "a NUL does not end the comparison");
    cr_expect(!equal("\"a\\u0000\"", "\"a\""));
    cr_expect(!equal("\"\\u0001\"", "\"\\u0000\\u0002\""), "the escaping of 0 and 1 is unambiguous");
    cr_expect(!equal("\"ab\"", "\"a\""));
    cr_expect(!equal("\"a\"", "\"A\""));
}

Test(unique_equality, containers) {
    cr_expect(equal("{\"a\":1,\"b\":2}", "{\"b\":2,\"a\":1}"), "members in any order");
    cr_expect(equal(" { \"a\" : [ 1 , { } ] } ", "{\"a\":[1.0,{}]}"), "whitespace");
    cr_expect(equal("{\"a\":1,\"a\":2}", "{\"a\":2}"), "the last of a repeated name counts");
    cr_expect(!equal("{\"a\":2,\"a\":1}", "{\"a\":2}"));
    cr_expect(equal("{\"b\":0,\"a\":1,\"b\":2,\"a\":3}", "{\"a\":3,\"b\":2}"));
    cr_expect(equal("{\"\\u0061\":1}", "{\"a\":1}"), "names decoded");
    cr_expect(!equal("{\"a\\u0000\":1}", "{\"a\":1}"));
    cr_expect(equal("{\"a\":1,\"ab\":2}", "{\"ab\":2,\"a\":1}"), "a name that prefixes another");
    cr_expect(!equal("{\"a\":1}", "{\"a\":1,\"b\":null}"));
    cr_expect(!equal("{}", "[]"));
    cr_expect(!equal("[1,2]", "[2,1]"), "arrays in order");
    cr_expect(!equal("[[]]", "[]"));
    cr_expect(!equal("[1,[2]]", "[1,2]"));
    cr_expect(equal("[{\"x\":[1,{\"y\":\"\\u0062\",\"z\":null}]}]", "[{\"x\":[1e0,{\"z\":null,\"y\":\"b\"}]}]"));
    cr_expect(!equal("{\"a\":{\"b\":1}}", "{\"a\":{\"b\":1,\"c\":1}}"));
    cr_expect(!equal("null", "false"));
    cr_expect(equal("true", "true"));
}

Test(unique_equality, not_json_is_an_error) {
    static const char *const bad[] = {"[1,]", "01", "1.", "-", "tru", "\"a", "{\"a\"}", "{\"a\":1,}", "[1 2]", "",
                                      "1 2", "\"\\x\"", "\"\\u12\"", "\"a\tb\"", "{1:2}", "[", "nul", "+1", ".5"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        bool eq = true;
        cr_expect_eq(ju_json_equal(bad[i], strlen(bad[i]), "1", 1, &eq), VKA_ERR_INVALID_ARGUMENT, "%s", bad[i]);
        cr_expect(!eq);
    }
}

Test(unique_equality, deep_nesting_without_recursion) {
    enum { DEPTH = 100000 };
    char *a = malloc(2 * DEPTH + 1);
    cr_assert_not_null(a);
    memset(a, '[', DEPTH);
    memset(a + DEPTH, ']', DEPTH);
    a[2 * DEPTH] = 0;
    cr_expect(equal(a, a));
    free(a);
}

/* ---------------------------------------------------------------- annotations */

static ju_set *parse_set(const char *gbnf) {
    ju_set *set = NULL;
    cr_assert_eq(ju_set_parse(gbnf, &set), VKA_OK, "%s: %s", gbnf, vka_last_error());
    return set;
}

Test(unique_annotations, read_from_comment_lines) {
    cr_expect_null(parse_set("root ::= \"a\"\n"));
    cr_expect_null(parse_set("root ::= \"a\"\n# vka:uniqueness is just a comment\n  # vka:unique [] indented: a comment\n"));
    ju_set *set = parse_set("root ::= \"[]\"\n# vka:unique [\"tags\"]\n# vka:unique [\"jobs\",null,\"needs\"]\n"
                            "# vka:unique []\r\n# vka:unique\t[0, 9007199254740992, \"\\u0000\"]  ");
    cr_assert_not_null(set);
    cr_expect_eq(ju_set_size(set), 4);
    ju_set_free(set);
}

Test(unique_annotations, malformed_ones_name_their_line) {
    static const char *const bad[] = {"[1.5]", "[-1]", "[true]", "[[0]]", "[{}]", "{}", "\"a\"", "", "[\"a\"] x",
                                      "[\"a\",]", "[9007199254740994]"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char gbnf[256];
        snprintf(gbnf, sizeof gbnf, "root ::= \"a\"\n# vka:unique []\n# vka:unique %s\n", bad[i]);
        ju_set *set = NULL;
        cr_expect_eq(ju_set_parse(gbnf, &set), VKA_ERR_GRAMMAR, "%s", bad[i]);
        cr_expect_null(set);
        cr_expect(strstr(vka_last_error(), "line 3") && strstr(vka_last_error(), "vka:unique"), "%s: %s", bad[i],
                  vka_last_error());
    }
}

/* ---------------------------------------------------------------- documents */

static bool doc_ok(const char *gbnf_annotations, const char *doc) {
    ju_set *set = parse_set(gbnf_annotations);
    cr_assert_not_null(set);
    bool ok = false;
    cr_assert_eq(ju_check_document(set, doc, strlen(doc), &ok), VKA_OK, "%s", vka_last_error());
    ju_set_free(set);
    return ok;
}

#define ROOT "# vka:unique []\n"

Test(unique_documents, root_array) {
    cr_expect(doc_ok(ROOT, "[\"a\",\"b\"]"));
    cr_expect(!doc_ok(ROOT, "[\"a\",\"a\"]"));
    cr_expect(!doc_ok(ROOT, " [ \"a\" , \"\\u0061\" ] "));
    cr_expect(!doc_ok(ROOT, "[1,2,1.0]"));
    cr_expect(!doc_ok(ROOT, "[{\"a\":1,\"b\":2},{\"b\":2,\"a\":1}]"));
    cr_expect(doc_ok(ROOT, "[[1,2],[2,1]]"));
    cr_expect(doc_ok(ROOT, "[true,false,null,0,\"\",[],{}]"));
    cr_expect(!doc_ok(ROOT, "[true,false,true]"));
    cr_expect(!doc_ok(ROOT, "[null,null]"));
    cr_expect(!doc_ok(ROOT, "[[],[]]"));
    cr_expect(!doc_ok(ROOT, "[{},{}]"));
    cr_expect(doc_ok(ROOT, "[]"));
    cr_expect(doc_ok(ROOT, "{\"a\":[1,1]}"), "only the root array is named");
    cr_expect(doc_ok(ROOT, "\"x\""));
    cr_expect(doc_ok(ROOT, "12"));
    cr_expect(!doc_ok(ROOT, "[1,1"), "not a whole value");
    cr_expect(!doc_ok(ROOT, "[1,2] x"), "not JSON");
    cr_expect(!doc_ok(ROOT, ""));
}

Test(unique_documents, member_names) {
    const char *a = "# vka:unique [\"tags\"]\n";
    cr_expect(!doc_ok(a, "{\"tags\":[\"x\",\"x\"]}"));
    cr_expect(!doc_ok(a, "{\"t\\u0061gs\":[\"x\",\"x\"]}"), "names decoded");
    cr_expect(doc_ok(a, "{\"other\":[\"x\",\"x\"],\"tags\":[\"x\",\"y\"]}"));
    cr_expect(doc_ok(a, "[[\"x\",\"x\"]]"));
    cr_expect(doc_ok(a, "{\"tags\":{\"tags\":[1,1]}}"), "a path from the root, not anywhere");
    cr_expect(doc_ok(a, "{\"tags\":\"x\"}"), "only arrays have elements");
    /* JSON.parse keeps the last member of a name; every one is checked, which is stricter */
    cr_expect(!doc_ok(a, "{\"tags\":[1,1],\"tags\":[2]}"));
    cr_expect(!doc_ok(a, "{\"tags\":[2],\"tags\":[1,1]}"));
}

Test(unique_documents, any_step_and_indices) {
    const char *jobs = "# vka:unique [\"jobs\",null,\"needs\"]\n";
    cr_expect(!doc_ok(jobs, "{\"jobs\":{\"a\":{\"needs\":[\"x\",\"x\"]}}}"));
    cr_expect(doc_ok(jobs, "{\"jobs\":{\"a\":{\"needs\":[\"x\"]},\"b\":{\"needs\":[\"x\"]}}}"));
    cr_expect(!doc_ok(jobs, "{\"jobs\":[{\"needs\":[\"y\",\"y\"]}]}"), "null matches an index too");
    cr_expect(doc_ok(jobs, "{\"jobs\":{\"a\":{\"other\":[1,1]}}}"));
    const char *second = "# vka:unique [1]\n";
    cr_expect(doc_ok(second, "[[1,1],[2,3]]"));
    cr_expect(!doc_ok(second, "[[1,2],[3,3]]"));
    cr_expect(doc_ok(second, "{\"1\":[3,3]}"), "an index is not a member name");
    cr_expect(doc_ok("# vka:unique [\"0\"]\n", "[[3,3]]"), "a member name is not an index");
    cr_expect(!doc_ok("# vka:unique [\"0\"]\n", "{\"0\":[3,3]}"));
    const char *each = "# vka:unique [null]\n";
    cr_expect(!doc_ok(each, "[[\"a\"],[\"b\",\"b\"]]"));
    cr_expect(doc_ok(each, "[[\"a\"],[\"a\"]]"), "the outer array is not named");
    cr_expect(!doc_ok("# vka:unique [null]\n# vka:unique []\n", "[[\"a\"],[\"a\"]]"));
    cr_expect(!doc_ok("# vka:unique [null]\n# vka:unique []\n", "[[\"a\",[1]],[\"b\",[1.0],[1]]]"), "[1.0] and [1]");
    cr_expect(!doc_ok("# vka:unique [null,null]\n", "[[[1],[1,1]]]"));
}

/* ---------------------------------------------------------------- the scanner */

typedef struct scanner {
    ju_set *set;
    ju_scan *scan;
} scanner;

static scanner scanner_new(const char *annotations, const char *prefix) {
    scanner s = {parse_set(annotations), NULL};
    cr_assert_eq(ju_scan_create(s.set, &s.scan), VKA_OK);
    bool r = true;
    cr_assert_eq(ju_scan_commit(s.scan, prefix, strlen(prefix), &r), VKA_OK);
    cr_assert(!r, "the prefix %s repeats", prefix);
    return s;
}

static void scanner_free(scanner *s) {
    ju_scan_free(s->scan);
    ju_set_free(s->set);
}

static bool tries(scanner *s, const char *bytes) {
    bool r = false;
    cr_assert_eq(ju_scan_try(s->scan, bytes, strlen(bytes), &r), VKA_OK);
    return r;
}

Test(unique_scan, strings_at_their_closing_quote) {
    scanner s = scanner_new(ROOT, "[\"ab\",");
    cr_expect(tries(&s, "\"ab\""));
    cr_expect(tries(&s, "\"ab\"]"));
    cr_expect(tries(&s, "\"a\\u0062\""));
    cr_expect(!tries(&s, "\"ab"), "not complete yet");
    cr_expect(!tries(&s, "\"abc\""));
    cr_expect(!tries(&s, "\"ab\\\""), "an escaped quote does not end it");
    cr_expect(tries(&s, "\"x\",\"x\""), "a repeat inside the token itself");
    cr_expect(!tries(&s, "\"x\",\"y\""));
    cr_expect(tries(&s, "\"x\",\"ab\""));
    bool r = true;
    cr_assert_eq(ju_scan_commit(s.scan, "\"a", 2, &r), VKA_OK);
    cr_expect(!r);
    cr_expect(ju_scan_in_string(s.scan));
    cr_expect(tries(&s, "b\""), "the trials left no trace");
    cr_expect(!tries(&s, "bb\""));
    cr_expect(!ju_scan_must_try(s.scan, 0), "inside a string only a quote can end an element");
    cr_expect(ju_scan_must_try(s.scan, JU_TOKEN_QUOTE));
    scanner_free(&s);
}

Test(unique_scan, numbers_at_the_byte_after) {
    scanner s = scanner_new(ROOT, "[1,2,1");
    cr_expect(!tries(&s, "0"));
    cr_expect(tries(&s, ","));
    cr_expect(tries(&s, "]"));
    cr_expect(tries(&s, " "));
    cr_expect(!tries(&s, ".5,"));
    cr_expect(tries(&s, ".0,"));
    cr_expect(tries(&s, "e0]"));
    cr_expect(!tries(&s, "e1]"));
    cr_expect(!tries(&s, "2"), "12 is not there yet");
    scanner_free(&s);
    s = scanner_new(ROOT, "[0,-");
    cr_expect(tries(&s, "0,"), "-0 equals 0");
    cr_expect(!tries(&s, "0.5,"));
    scanner_free(&s);
}

Test(unique_scan, literals_at_their_first_letter) {
    scanner s = scanner_new(ROOT, "[true, ");
    cr_expect(tries(&s, "t"), "true is decided by its t");
    cr_expect(!tries(&s, "f"));
    cr_expect(!tries(&s, "nu"));
    bool r = true;
    cr_assert_eq(ju_scan_commit(s.scan, "null,fal", 8, &r), VKA_OK);
    cr_expect(!r);
    cr_expect(!tries(&s, "se,"), "false was filed at its f");
    cr_expect(tries(&s, "se,n"));
    cr_expect(tries(&s, "se,f"));
    scanner_free(&s);
}

Test(unique_scan, containers_at_their_closing_bracket) {
    scanner s = scanner_new(ROOT, "[{\"a\":1,\"b\":[2]},{\"b\":[2],");
    cr_expect(tries(&s, "\"a\":1}"));
    cr_expect(tries(&s, "\"a\":1.0 }"));
    cr_expect(!tries(&s, "\"a\":1"));
    cr_expect(!tries(&s, "\"a\":2}"));
    cr_expect(!tries(&s, "\"a\":1,\"c\":3}"));
    cr_expect(tries(&s, "\"a\":0,\"a\":1}"), "the last of a repeated name");
    scanner_free(&s);
    s = scanner_new(ROOT, "[[],[1,[\"x\"]],");
    cr_expect(tries(&s, "[]"));
    cr_expect(tries(&s, "[1,[\"x\"]]"));
    cr_expect(!tries(&s, "[1,[\"x\"],2]"));
    scanner_free(&s);
}

Test(unique_scan, arrays_opened_by_the_token) {
    scanner s = scanner_new("# vka:unique [\"t\"]\n", "{\"t\":");
    cr_expect(!ju_scan_must_try(s.scan, JU_TOKEN_QUOTE), "no annotated array is open");
    cr_expect(ju_scan_must_try(s.scan, JU_TOKEN_BRACKET), "but a '[' could open one");
    cr_expect(tries(&s, "[\"a\",\"a\"]"));
    cr_expect(!tries(&s, "[\"a\",\"b\"]"));
    scanner_free(&s);
    s = scanner_new("# vka:unique [\"t\"]\n", "{\"u\":");
    cr_expect(!tries(&s, "[\"a\",\"a\"]"));
    scanner_free(&s);
}

Test(unique_scan, several_levels_closed_by_one_token) {
    scanner s = scanner_new("# vka:unique [null]\n# vka:unique []\n", "[[\"a\",\"b\"],[\"c\",\"c");
    cr_expect(tries(&s, "\"]]"), "the inner array repeats \"c\"");
    cr_expect(!tries(&s, "d\"]]"));
    cr_expect(!tries(&s, "d\"],[\"c\"]]"));
    cr_expect(tries(&s, "d\"],[\"c\",\"cd\"]]"), "equal to the second");
    scanner_free(&s);
    s = scanner_new("# vka:unique [null]\n# vka:unique []\n", "[[\"a\",\"b\"],[\"c\"],[\"a\",\"b");
    cr_expect(tries(&s, "\"]"), "the outer array repeats");
    cr_expect(tries(&s, "\"]]"));
    cr_expect(!tries(&s, "\",\"c\"]]"));
    cr_expect(tries(&s, "\",\"b\"]"), "the inner array repeats first");
    scanner_free(&s);
}

Test(unique_scan, lost_on_bytes_that_are_not_json) {
    scanner s = scanner_new(ROOT, "[1,");
    bool r = true;
    cr_assert_eq(ju_scan_commit(s.scan, "}", 1, &r), VKA_OK);
    cr_expect(!r);
    cr_expect(!ju_scan_must_try(s.scan, JU_TOKEN_QUOTE | JU_TOKEN_BRACKET), "nothing is checked any more");
    cr_expect(!tries(&s, "1,1,"));
    scanner_free(&s);
}

/* ---------------------------------------------------------------- trials against scanning from scratch */

typedef struct rng64 {
    uint64_t s;
} rng64;

static uint32_t rnd(rng64 *r, uint32_t n) {
    r->s ^= r->s << 13;
    r->s ^= r->s >> 7;
    r->s ^= r->s << 17;
    return (uint32_t)(r->s % n);
}

typedef struct text {
    char *p;
    size_t len, cap;
} text;

static void put(text *t, const char *s) {
    size_t n = strlen(s);
    if (t->len + n + 1 > t->cap) {
        t->cap = 2 * (t->len + n + 1);
        t->p = realloc(t->p, t->cap);
        cr_assert_not_null(t->p);
    }
    memcpy(t->p + t->len, s, n + 1);
    t->len += n;
}

/* A random JSON value with many near-equal spellings, so that repeats are common. */
static void random_value(rng64 *r, text *t, int depth) {
    static const char *const scalars[] = {"1", "1.0", "-0", "0", "2e0", "true", "false", "null", "\"a\"", "\"\\u0061\"",
                                          "\"b\"", "\"\"", "\"\\ud800\"", "\"a\\u0000\"", "\"\\/\"", "\"/\""};
    uint32_t k = rnd(r, depth > 3 ? 16 : 20);
    if (k < 16) {
        put(t, scalars[k]);
        return;
    }
    bool object = k >= 18;
    put(t, object ? "{" : "[");
    uint32_t n = rnd(r, 4);
    for (uint32_t i = 0; i < n; i++) {
        if (i) put(t, rnd(r, 3) ? "," : " , ");
        if (object) put(t, rnd(r, 2) ? "\"k\":" : "\"\\u006b\" :");
        random_value(r, t, depth + 1);
    }
    put(t, object ? "}" : "]");
}

/* An array of fewer than max_elements random values. */
static text random_document(rng64 *r, uint32_t max_elements) {
    text t = {0};
    put(&t, "[");
    uint32_t n = rnd(r, max_elements);
    for (uint32_t k = 0; k < n; k++) {
        if (k) put(&t, ",");
        random_value(r, &t, 1);
    }
    put(&t, "]");
    return t;
}

/* Feeds doc in random pieces to a scanner that tries each piece before
 * committing it; a fresh scanner over the text up to the end of the piece
 * must agree with every trial. */
static void trials_agree(const ju_set *set, const char *doc, size_t len, rng64 *r, bool *repeated) {
    ju_scan *scan = NULL;
    cr_assert_eq(ju_scan_create(set, &scan), VKA_OK);
    *repeated = false;
    for (size_t at = 0; at < len && !*repeated;) {
        size_t n = 1 + rnd(r, 6);
        if (n > len - at) n = len - at;
        bool tried = false, scratch = false, committed = false;
        cr_assert_eq(ju_scan_try(scan, doc + at, n, &tried), VKA_OK);
        ju_scan *fresh = NULL;
        cr_assert_eq(ju_scan_create(set, &fresh), VKA_OK);
        cr_assert_eq(ju_scan_commit(fresh, doc, at + n, &scratch), VKA_OK);
        ju_scan_free(fresh);
        cr_assert_eq(tried, scratch, "%.*s | %.*s: the trial says %d, from scratch %d", (int)at, doc, (int)n, doc + at,
                     tried, scratch);
        cr_assert_eq(ju_scan_commit(scan, doc + at, n, &committed), VKA_OK);
        cr_assert_eq(committed, tried);
        *repeated = committed;
        at += n;
    }
    ju_scan_free(scan);
}

Test(unique_scan, trials_match_scanning_from_scratch) {
    ju_set *set = parse_set("# vka:unique []\n# vka:unique [null]\n# vka:unique [1,\"k\"]\n");
    rng64 r = {0x9E3779B97F4A7C15u};
    int repeated_docs = 0, unique_docs = 0;
    for (int i = 0; i < 3000; i++) {
        text t = random_document(&r, 6);
        bool repeated, whole = false;
        trials_agree(set, t.p, t.len, &r, &repeated);
        cr_assert_eq(ju_check_document(set, t.p, t.len, &whole), VKA_OK);
        cr_assert_eq(whole, !repeated, "%s", t.p);
        repeated ? repeated_docs++ : unique_docs++;
        free(t.p);
    }
    cr_expect_gt(repeated_docs, 300);
    cr_expect_gt(unique_docs, 300);
    ju_set_free(set);
}

/* ---------------------------------------------------------------- an independent oracle */

/* JSON.parse-then-deep-equality on cJSON trees (strings without NUL). */
static const cJSON *last_member(const cJSON *o, const char *name) {
    const cJSON *found = NULL;
    for (const cJSON *m = o->child; m; m = m->next)
        if (strcmp(m->string, name) == 0) found = m;
    return found;
}

static bool oracle_equal(const cJSON *a, const cJSON *b) {
    if (cJSON_IsNumber(a) && cJSON_IsNumber(b)) return a->valuedouble == b->valuedouble;
    if (cJSON_IsString(a) && cJSON_IsString(b)) return strcmp(a->valuestring, b->valuestring) == 0;
    if ((a->type & 0xFF) != (b->type & 0xFF)) return false;
    if (cJSON_IsArray(a)) {
        const cJSON *x = a->child, *y = b->child;
        for (; x && y; x = x->next, y = y->next)
            if (!oracle_equal(x, y)) return false;
        return !x && !y;
    }
    if (cJSON_IsObject(a)) {
        int na = 0, nb = 0;
        for (const cJSON *m = a->child; m; m = m->next) {
            if (last_member(a, m->string) != m) continue;
            na++;
            const cJSON *o = last_member(b, m->string);
            if (!o || !oracle_equal(m, o)) return false;
        }
        for (const cJSON *m = b->child; m; m = m->next) nb += last_member(b, m->string) == m;
        return na == nb;
    }
    return true; /* null, true, false of the same type */
}

/* Whether every array at a path matching pattern (a cJSON array) from v has distinct elements. */
static bool oracle_unique(const cJSON *v, const cJSON *pattern, int step) {
    if (step == cJSON_GetArraySize(pattern)) {
        if (!cJSON_IsArray(v)) return true;
        for (const cJSON *x = v->child; x; x = x->next)
            for (const cJSON *y = x->next; y; y = y->next)
                if (oracle_equal(x, y)) return false;
        return true;
    }
    const cJSON *s = cJSON_GetArrayItem(pattern, step);
    int index = 0;
    for (const cJSON *c = cJSON_IsArray(v) || cJSON_IsObject(v) ? v->child : NULL; c; c = c->next, index++) {
        bool member = cJSON_IsObject(v);
        bool match = cJSON_IsNull(s) || (cJSON_IsString(s) && member && strcmp(s->valuestring, c->string) == 0) ||
                     (cJSON_IsNumber(s) && !member && s->valuedouble == index);
        if (member && last_member(v, c->string) != c) continue; /* JSON.parse keeps the last */
        if (match && !oracle_unique(c, pattern, step + 1)) return false;
    }
    return true;
}

static bool oracle_ok(const char *doc, const char *const *patterns, size_t n_patterns) {
    cJSON *v = cJSON_Parse(doc);
    cr_assert_not_null(v, "not JSON: %s", doc);
    bool ok = true;
    for (size_t i = 0; i < n_patterns && ok; i++) {
        cJSON *p = cJSON_Parse(patterns[i]);
        ok = oracle_unique(v, p, 0);
        cJSON_Delete(p);
    }
    cJSON_Delete(v);
    return ok;
}

Test(unique_documents, agree_with_the_oracle) {
    static const char *const patterns[] = {"[]", "[null]", "[1,\"k\"]"};
    ju_set *set = parse_set("# vka:unique []\n# vka:unique [null]\n# vka:unique [1,\"k\"]\n");
    rng64 r = {12345};
    for (int i = 0; i < 3000; i++) {
        text t = random_document(&r, 5);
        if (!strstr(t.p, "\\u0000") && !strstr(t.p, "\\ud800")) { /* cJSON cuts at NUL, refuses lone surrogates */
            bool ok = false;
            cr_assert_eq(ju_check_document(set, t.p, t.len, &ok), VKA_OK);
            cr_assert_eq(ok, oracle_ok(t.p, patterns, 3), "%s", t.p);
        }
        free(t.p);
    }
    ju_set_free(set);
}

/* ---------------------------------------------------------------- sampling over the Qwen3 vocabulary */

static vka_model *model;
static uint32_t n_vocab;
static bool *closing;   /* per token: more closing brackets than opening, or a quote */

static void load_vocab(void) {
    const char *path = test_data_path("fixtures/vocab/qwen3.gguf");
    REQUIRE_FIXTURE(path);
    vka_model_params mp;
    vka_model_params_default(&mp);
    mp.vocab_only = true;
    cr_assert_eq(vka_model_load(path, &mp, &model), VKA_OK, "%s", vka_last_error());
    n_vocab = vka_vocab_size(model->vocab);
    closing = calloc(n_vocab, sizeof *closing);
    cr_assert_not_null(closing);
    for (uint32_t id = 0; id < n_vocab; id++) {
        const char *p;
        size_t len = vka_vocab_piece(model->vocab, (int32_t)id, false, &p);
        int net = 0;
        bool quote = false;
        for (size_t i = 0; i < len; i++) {
            net += (p[i] == ']' || p[i] == '}') - (p[i] == '[' || p[i] == '{');
            quote |= p[i] == '"';
        }
        closing[id] = net > 0 || (net == 0 && quote) || vka_vocab_is_eog(model->vocab, (int32_t)id);
    }
}

static void unload_vocab(void) {
    vka_model_free(model);
    free(closing);
}

/* The token's bytes as a string. */
static void piece_of(int32_t id, char buf[512]) {
    const char *piece;
    size_t n = vka_vocab_piece(model->vocab, id, false, &piece);
    cr_assert_lt(n, 512);
    memcpy(buf, piece, n);
    buf[n] = 0;
}

/* Random logits; after a while closing tokens are favoured, so that walks end. */
static void random_logits(rng64 *r, float *logits, int step) {
    float bias = step > 24 ? (float)(step - 24) * 0.25f : 0.0f;
    if (bias > 30) bias = 30;
    for (uint32_t id = 0; id < n_vocab; id++)
        logits[id] = (float)rnd(r, 6000) / 1000.0f + (closing[id] ? bias : 0.0f);
}

static vka_sampling_params walk_params(const char *gbnf, uint64_t seed) {
    vka_sampling_params p;
    vka_sampling_params_default(&p);
    p.grammar = gbnf;
    p.temperature = seed % 2 ? 0.0f : 1.0f; /* greedy walks take the one-token check first */
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.seed = seed;
    return p;
}

/* One walk of up to 600 tokens on sampler s; true when the document completed. */
static bool walk_on(vka_sampler *s, uint64_t seed, text *doc) {
    rng64 r = {seed * 0x9E3779B97F4A7C15u + 1};
    float *logits = malloc(n_vocab * sizeof *logits);
    cr_assert_not_null(logits);
    doc->len = 0;
    put(doc, "");
    bool complete = false;
    for (int step = 0; step < 600 && !complete; step++) {
        random_logits(&r, logits, step);
        int32_t tok = -1;
        cr_assert_eq(vka_sampler_sample(s, logits, &tok), VKA_OK, "seed %llu after %s: %s", (unsigned long long)seed,
                     doc->p, vka_last_error());
        cr_assert_eq(vka_sampler_accept(s, tok), VKA_OK, "%s", vka_last_error());
        if (vka_vocab_is_eog(model->vocab, tok)) break;
        char buf[512];
        piece_of(tok, buf);
        put(doc, buf);
        complete = vka_sampler_is_done(s);
    }
    free(logits);
    return complete || vka_sampler_can_end(s);
}

static bool walk(const char *gbnf, uint64_t seed, text *doc) {
    vka_sampling_params p = walk_params(gbnf, seed);
    vka_sampler *s = NULL;
    cr_assert_eq(vka_sampler_new(model->vocab, n_vocab, &p, &s), VKA_OK, "%s", vka_last_error());
    bool complete = walk_on(s, seed, doc);
    vka_sampler_free(s);
    return complete;
}

/* Elements with many spellings of few values; every element can still be
 * continued into another value, so no walk is cornered. */
#define ANY_VALUE_RULES                                                                                         \
    "value ::= object | array | string | number | \"true\" | \"false\" | \"null\"\n"                            \
    "object ::= \"{\" ( string \":\" value ( \",\" string \":\" value )* )? \"}\"\n"                             \
    "array ::= \"[\" ( value ( \",\" value )* )? \"]\"\n"                                                        \
    "string ::= \"\\\"\" ( [ab] | \"\\\\u006\" [12] | \"\\\\/\" | \"/\" )* \"\\\"\"\n"                           \
    "number ::= \"-\"? [0-2] ( \".\" [0-9]+ )? ( [eE] [0-9]+ )?\n"
#define ANY_ROOT "root ::= \"[\" ( value ( \",\" \" \"? value )* )? \"]\"\n"

static const char *const g_any = ANY_ROOT ANY_VALUE_RULES "# vka:unique []\n";
static const char *const g_any_plain = ANY_ROOT ANY_VALUE_RULES;
static const char *const g_paths =
    "root ::= \"{\\\"tags\\\":\" strs \",\\\"m\\\":[\" ( strs ( \",\" strs )* )? \"],\\\"p\\\":[\" strs \",\" strs "
    "\"],\\\"free\\\":\" strs \"}\"\n"
    "strs ::= \"[\" ( str ( \",\" str )* )? \"]\"\n"
    "str ::= \"\\\"\" [ab]* \"\\\"\"\n"
    "# vka:unique [\"tags\"]\n# vka:unique [\"m\",null]\n# vka:unique [\"p\",1]\n";

TestSuite(unique_sampler, .init = load_vocab, .fini = unload_vocab, .timeout = 600);

Test(unique_sampler, walks_never_repeat_an_element) {
    static const char *const root[] = {"[]"};
    text doc = {0};
    int complete = 0, elements = 0;
    for (uint64_t seed = 0; seed < 40; seed++) {
        if (!walk(g_any, seed, &doc)) continue;
        complete++;
        cr_assert(oracle_ok(doc.p, root, 1), "seed %llu repeats: %s", (unsigned long long)seed, doc.p);
        cJSON *v = cJSON_Parse(doc.p);
        elements += cJSON_GetArraySize(v);
        cJSON_Delete(v);
    }
    cr_expect_gt(complete, 30);
    cr_expect_gt(elements, 100, "walks long enough to meet repeats");
    free(doc.p);
}

Test(unique_sampler, the_same_walks_repeat_without_annotations) {
    /* the test above means something only if unannotated walks do repeat */
    static const char *const root[] = {"[]"};
    text doc = {0};
    int repeating = 0;
    for (uint64_t seed = 0; seed < 40; seed++)
        if (walk(g_any_plain, seed, &doc) && !oracle_ok(doc.p, root, 1)) repeating++;
    cr_expect_gt(repeating, 5);
    free(doc.p);
}

Test(unique_sampler, walks_follow_the_paths) {
    static const char *const annotated[] = {"[\"tags\"]", "[\"m\",null]", "[\"p\",1]"};
    static const char *const others[] = {"[\"free\"]", "[\"p\",0]", "[\"m\"]"};
    text doc = {0};
    int complete = 0, others_repeat = 0;
    for (uint64_t seed = 0; seed < 40; seed++) {
        if (!walk(g_paths, seed, &doc)) continue;
        complete++;
        cr_assert(oracle_ok(doc.p, annotated, 3), "seed %llu repeats: %s", (unsigned long long)seed, doc.p);
        others_repeat += !oracle_ok(doc.p, others, 3);
    }
    cr_expect_gt(complete, 30);
    cr_expect_gt(others_repeat, 5, "arrays that are not annotated may repeat");
    free(doc.p);
}

/* Token ids by their bytes. */
static int32_t token_of(const char *piece) {
    for (uint32_t id = 0; id < n_vocab; id++) {
        const char *p;
        size_t n = vka_vocab_piece(model->vocab, (int32_t)id, false, &p);
        if (n == strlen(piece) && memcmp(p, piece, n) == 0) return (int32_t)id;
    }
    cr_assert_fail("no token %s", piece);
    return -1;
}

/* Elements from few values, fewer elements than values: each walk must end
 * (a token that leads into an element that can only end as a repeat is
 * refused before it is taken) and never repeat. */
static const char *const g_enum =
    "root ::= \"[\" str ( \",\" str ){1,5} \"]\"\n"
    "str ::= \"\\\"\" ( r e | r e d | r s | s e d | e d | d | d r | s r | e r s | e s | e e | e ) \"\\\"\"\n"
    "r ::= \"r\" | \"\\\\u0072\"\ne ::= \"e\" | \"\\\\u0065\"\nd ::= \"d\" | \"\\\\u0064\"\ns ::= \"s\" | \"\\\\u0073\"\n"
    "# vka:unique []\n";
static const char *const g_digits =
    "root ::= \"[\" int ( \",\" int ){1,5} \"]\" \nint ::= \"1\"? [0-9]\n# vka:unique []\n";

Test(unique_sampler, walks_are_not_cornered_by_forced_endings) {
    static const char *const root[] = {"[]"};
    const char *const grammars[] = {g_enum, g_digits};
    text doc = {0};
    for (int k = 0; k < 2; k++) {
        int complete = 0, elements = 0;
        for (uint64_t seed = 0; seed < 30; seed++) {
            if (!walk(grammars[k], seed, &doc)) continue; /* a sampling error fails inside */
            complete++;
            cr_assert(oracle_ok(doc.p, root, 1), "seed %llu repeats: %s", (unsigned long long)seed, doc.p);
            cJSON *v = cJSON_Parse(doc.p);
            elements += cJSON_GetArraySize(v);
            cJSON_Delete(v);
        }
        cr_expect_eq(complete, 30, "grammar %d", k);
        cr_expect_gt(elements, 60, "grammar %d: walks long enough to meet repeats", k);
    }
    free(doc.p);
}

/* Whether the constraint, after the tokens spelled by `steps`, allows the token spelled `next`. */
static bool allowed_after(const char *gbnf, const char *const *steps, size_t n, const char *next) {
    vka_sampling_params p = walk_params(gbnf, 0);
    vka_sampler_constraint c;
    cr_assert_eq(vka_grammar_constraint_create(model->vocab, &p, &c), VKA_OK, "%s", vka_last_error());
    for (size_t i = 0; i < n; i++) cr_assert_eq(c.accept(c.state, token_of(steps[i])), VKA_OK, "%s", steps[i]);
    float *logits = calloc(n_vocab, sizeof *logits);
    cr_assert_not_null(logits);
    int32_t id = token_of(next);
    cr_assert_eq(c.mask(c.state, logits, n_vocab), VKA_OK, "%s", vka_last_error());
    bool allowed = logits[id] != -INFINITY;
    cr_assert_eq(c.accepts(c.state, id), allowed, "the one-token check agrees with the mask");
    free(logits);
    c.free(c.state);
    return allowed;
}

Test(unique_sampler, tokens_into_cornered_elements_are_refused) {
    const char *digits[] = {"[", "7", ",", "1", ",", "1", "0", ","};
    cr_expect(!allowed_after(g_digits, digits, 3, "7"), "7 can only end as the 7 before it");
    cr_expect(allowed_after(g_digits, digits, 3, "8"));
    cr_expect(allowed_after(g_digits, digits, 3, "1"), "1 may go on to 1x");
    cr_expect(!allowed_after(g_digits, digits, 6, ","), "a repeat of 1");
    cr_expect(allowed_after(g_digits, digits, 6, "0"), "10 is new");
    cr_expect(allowed_after(g_digits, digits, 8, "1"), "11 is new");
    const char *words[] = {"[", "\"", "re", "\",", "\"", "red", "\",", "\"", "\\", "u", "0", "0", "7", "2"};
    cr_expect(!allowed_after(g_enum, words, 8, "re"), "re and red are both there");
    cr_expect(allowed_after(g_enum, words, 8, "r"), "rs is new");
    cr_expect(allowed_after(g_enum, words, 8, "e"));
    cr_expect(allowed_after(g_enum, words, 8, "d"), "d and dr");
    cr_expect(!allowed_after(g_enum, words, 14, "e"), "r spelled as an escape, then e");
    cr_expect(allowed_after(g_enum, words, 14, "s"));
    cr_expect(allowed_after(g_enum, words, 13, "2"), "r may still become rs");
}

Test(unique_sampler, accept_refuses_a_repeat_and_stays_put) {
    vka_sampling_params p = walk_params(g_any, 1);
    vka_sampler *s = NULL;
    cr_assert_eq(vka_sampler_new(model->vocab, n_vocab, &p, &s), VKA_OK, "%s", vka_last_error());
    const char *steps[] = {"[", "\"", "a", "\",", "\""};
    for (size_t i = 0; i < 5; i++) cr_assert_eq(vka_sampler_accept(s, token_of(steps[i])), VKA_OK, "%s", vka_last_error());
    int32_t again = token_of("a"), close = token_of("\"");
    cr_assert_eq(vka_sampler_accept(s, again), VKA_OK);
    cr_expect_eq(vka_sampler_accept(s, close), VKA_ERR_GRAMMAR, "\"a\" twice");
    cr_expect(strstr(vka_last_error(), "unique"), "%s", vka_last_error());
    /* greedy: the repeat is the best token, the mask moves on to another */
    float *logits = calloc(n_vocab, sizeof *logits);
    cr_assert_not_null(logits);
    logits[close] = 10;
    logits[token_of("b")] = 5;
    int32_t tok = -1;
    cr_assert_eq(vka_sampler_sample(s, logits, &tok), VKA_OK, "%s", vka_last_error());
    cr_expect_eq(tok, token_of("b"));
    cr_assert_eq(vka_sampler_accept(s, tok), VKA_OK, "the refusal left the state as it was");
    cr_assert_eq(vka_sampler_accept(s, close), VKA_OK, "\"ab\" is new");
    bool complete = true;
    cr_assert_eq(vka_sampler_text_complete(s, "[\"a\",\"a\"]", 9, &complete), VKA_OK);
    cr_expect(!complete, "a whole document with a repeat is not complete");
    cr_assert_eq(vka_sampler_text_complete(s, "[\"a\",\"ab\"]", 10, &complete), VKA_OK);
    cr_expect(complete);
    free(logits);
    vka_sampler_free(s);
}

Test(unique_sampler, reset_forgets_the_elements) {
    vka_sampling_params p = walk_params(g_any, 6);
    vka_sampler *s = NULL;
    cr_assert_eq(vka_sampler_new(model->vocab, n_vocab, &p, &s), VKA_OK, "%s", vka_last_error());
    text first = {0}, second = {0};
    walk_on(s, 6, &first);
    vka_sampler_reset(s);
    walk_on(s, 6, &second);
    cr_expect_str_eq(second.p, first.p);
    free(first.p);
    free(second.p);
    vka_sampler_free(s);
}

/* Whether doc followed by token id repeats an element, by a scanner started from scratch. */
static bool repeats_from_scratch(const ju_set *set, const text *doc, int32_t id) {
    char buf[512];
    piece_of(id, buf);
    text t = {0};
    put(&t, doc->p);
    put(&t, buf);
    ju_scan *fresh = NULL;
    bool repeats = false;
    cr_assert_eq(ju_scan_create(set, &fresh), VKA_OK);
    cr_assert_eq(ju_scan_commit(fresh, t.p, t.len, &repeats), VKA_OK);
    ju_scan_free(fresh);
    free(t.p);
    return repeats;
}

/* Tokens worth checking from scratch among the allowed ones: those that can end something. */
static bool may_end_an_element(int32_t id) {
    char buf[512];
    piece_of(id, buf);
    return strpbrk(buf, "\",]} tfn") != NULL;
}

/* One step's masks: the constraint's (mine) must be the grammar's (plain)
 * less exactly the tokens whose bytes complete a repeat. Returns the best
 * token left (-1 when none) and counts the banned ones. */
static int32_t check_step(const vka_sampler_constraint *c, const ju_set *set, const text *doc, const float *mine,
                          const float *plain, int *banned, rng64 *r) {
    int32_t best = -1;
    for (uint32_t k = 0; k < n_vocab; k++) {
        int32_t id = (int32_t)k;
        if (mine[id] != plain[id]) {
            cr_assert(set && mine[id] == -INFINITY, "token %d differs without a repeat to ban", id);
            cr_assert(repeats_from_scratch(set, doc, id), "%s + token %d banned without a repeat", doc->p, id);
            cr_assert(!c->accepts(c->state, id));
            ++*banned;
            continue;
        }
        if (mine[id] == -INFINITY) continue;
        if (set && (may_end_an_element(id) || rnd(r, 100) == 0))
            cr_assert(!repeats_from_scratch(set, doc, id), "%s + token %d repeats but is allowed", doc->p, id);
        if (best < 0 || mine[id] > mine[best]) best = id;
    }
    return best;
}

/* Walks a grammar state and the constraint side by side, comparing their masks. */
static void compare_masks(const char *gbnf, uint64_t seed, int *banned) {
    vka_sampling_params p = walk_params(gbnf, seed);
    vka_sampler_constraint c;
    cr_assert_eq(vka_grammar_constraint_create(model->vocab, &p, &c), VKA_OK, "%s", vka_last_error());
    vka_grammar *g = NULL;
    vka_grammar_state *st = NULL;
    const vka_grammar_vocab *gv = NULL;
    cr_assert_eq(vka_grammar_parse(gbnf, NULL, &g), VKA_OK);
    cr_assert_eq(vka_grammar_state_create(g, &st), VKA_OK);
    cr_assert_eq(vka_vocab_grammar_vocab(model->vocab, &gv), VKA_OK);
    ju_set *set = NULL;
    cr_assert_eq(ju_set_parse(gbnf, &set), VKA_OK);
    float *mine = malloc(n_vocab * sizeof *mine), *plain = malloc(n_vocab * sizeof *plain);
    cr_assert(mine && plain);
    text doc = {0};
    put(&doc, "");
    rng64 r = {seed + 7};
    for (int step = 0; step < 80 && !c.is_done(c.state); step++) {
        random_logits(&r, mine, step);
        memcpy(plain, mine, n_vocab * sizeof *plain);
        cr_assert_eq(c.mask(c.state, mine, n_vocab), VKA_OK, "%s", vka_last_error());
        cr_assert_eq(vka_grammar_mask(st, gv, plain), VKA_OK);
        int32_t best = check_step(&c, set, &doc, mine, plain, banned, &r);
        if (best < 0) break; /* cornered: the sampler would report it */
        cr_assert(c.accepts(c.state, best));
        cr_assert_eq(c.accept(c.state, best), VKA_OK, "%s", vka_last_error());
        cr_assert_eq(vka_grammar_accept_token(st, gv, best), VKA_OK);
        if (vka_vocab_is_eog(model->vocab, best)) break;
        char buf[512];
        piece_of(best, buf);
        put(&doc, buf);
    }
    free(doc.p);
    free(mine);
    free(plain);
    ju_set_free(set);
    vka_grammar_state_free(st);
    vka_grammar_free(g);
    c.free(c.state);
}

Test(unique_sampler, mask_is_the_grammar_mask_without_annotations) {
    int banned = 0;
    for (uint64_t seed = 0; seed < 4; seed++) compare_masks(g_any_plain, seed, &banned);
    cr_expect_eq(banned, 0);
}

Test(unique_sampler, mask_bans_exactly_the_repeats) {
    int banned = 0;
    for (uint64_t seed = 0; seed < 6; seed++) compare_masks(g_any, seed, &banned);
    cr_expect_gt(banned, 0, "some repeats were met and banned");
}
