/* test_grammar.c — GBNF parser and matcher: valid and invalid grammars (with
 * exact error positions), accept/reject tables, UTF-8 split across calls,
 * can_end / is_done, limits, and a seeded fuzz of malformed grammars. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "structured/grammar.h"
#include "test_util.h"

enum { REJECT = 0, PREFIX = 1, FULL = 2 };

static vka_grammar *parse_ok(const char *text) {
    vka_grammar *g = NULL;
    vka_status s = vka_grammar_parse(text, NULL, &g);
    cr_assert_eq(s, VKA_OK, "grammar should parse: %s\n--\n%s", vka_last_error(), text);
    return g;
}

/* REJECT, PREFIX (accepted but incomplete) or FULL (complete match). */
static int run_bytes(const vka_grammar *g, const char *s, size_t n) {
    vka_grammar_state *st;
    cr_assert_eq(vka_grammar_state_create(g, &st), VKA_OK, "%s", vka_last_error());
    bool ok = false;
    cr_assert_eq(vka_grammar_accept_bytes(st, s, n, &ok), VKA_OK, "%s", vka_last_error());
    int r = !ok ? REJECT : vka_grammar_can_end(st) ? FULL : PREFIX;
    vka_grammar_state_free(st);
    return r;
}

static int run(const vka_grammar *g, const char *s) { return run_bytes(g, s, strlen(s)); }

typedef struct row {
    const char *input;
    int expect;
} row;

static void check_table(const char *grammar, const row *rows, size_t n) {
    vka_grammar *g = parse_ok(grammar);
    for (size_t i = 0; i < n; i++)
        cr_expect_eq(run(g, rows[i].input), rows[i].expect, "grammar:\n%s\ninput '%s': got %d, want %d", grammar,
                     rows[i].input, run(g, rows[i].input), rows[i].expect);
    vka_grammar_free(g);
}

#define TABLE(grammar, ...)                                                \
    do {                                                                   \
        static const row rows_[] = {__VA_ARGS__};                          \
        check_table(grammar, rows_, sizeof rows_ / sizeof *rows_);         \
    } while (0)

static void expect_error(const char *text, const char *message) {
    vka_grammar *g = NULL;
    vka_status s = vka_grammar_parse(text, NULL, &g);
    cr_expect_eq(s, VKA_ERR_GRAMMAR, "grammar should fail (%s):\n%s", message, text);
    cr_expect_null(g);
    if (s == VKA_ERR_GRAMMAR)
        cr_expect(strstr(vka_last_error(), message) != NULL, "error for:\n%s\nwas:   %s\nwanted: %s", text,
                  vka_last_error(), message);
    vka_grammar_free(g);
}

static const char json_gbnf[] =
    "root   ::= value\n"
    "value  ::= object | array | string | number | (\"true\" | \"false\" | \"null\") ws\n"
    "object ::=\n"
    "  \"{\" ws (\n"
    "    string \":\" ws value\n"
    "    (\",\" ws string \":\" ws value)*\n"
    "  )? \"}\" ws\n"
    "array  ::= \"[\" ws ( value (\",\" ws value)* )? \"]\" ws\n"
    "string ::= \"\\\"\" ( [^\"\\\\\\x7F\\x00-\\x1F] | \"\\\\\" ([\"\\\\/bfnrt] | \"u\" [0-9a-fA-F]{4}) )* \"\\\"\" ws\n"
    "number ::= (\"-\"? ([0-9] | [1-9] [0-9]{0,15})) (\".\" [0-9]+)? ([eE] [-+]? [0-9]{1,16})? ws\n"
    "# optional whitespace, bounded\n"
    "ws ::= | \" \" | \"\\n\" [ \\t]{0,20}\n";

/* ---------------------------------------------------------------- parsing */

Test(grammar, parses_valid_grammars) {
    static const char *const ok[] = {
        "root ::= \"a\"",
        "root ::= \"a\" # trailing comment\n# comment line\n",
        "\n\n  # leading comments\nroot ::= x\nx ::= [a-z]\n",
        "root ::= (\n  \"a\"\n  | \"b\"\n)\n",
        "root ::= \"a\" |\n  \"b\"\n",
        "root ::= \"a\"\n  | \"b\"\n",
        "root ::= rule-with-dashes_and_9\nrule-with-dashes_and_9 ::= \"x\"\n",
        "root ::= \"\\n\\t\\r\\\\\\\"\\x41\\u00e9\\U0001F600\"",
        "root ::= [\\]\\[\\-^a] [^\\n] .",
        "root ::= [-a] [a-]",
        "root ::= \"a\"* \"b\"+ \"c\"? \"d\"{2} \"e\"{2,} \"f\"{1,3} \"g\"{0}",
        "root ::= \"a\" { 2 , 3 }",
        "root ::= | \"a\"",
        "root ::= ()",
        "root ::= \"\"",
        "root ::= \"é中😀\" [α-ω]",
        "root ::= \"a\"\r\nb ::= \"b\"\r\n",
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        vka_grammar *g = NULL;
        cr_expect_eq(vka_grammar_parse(ok[i], NULL, &g), VKA_OK, "grammar %zu failed: %s\n%s", i, vka_last_error(), ok[i]);
        vka_grammar_free(g);
    }
}

Test(grammar, errors_have_exact_positions) {
    /* columns count characters: "root ::= " is 9 of them */
    expect_error("root ::= \"abc", "line 1, column 10: unterminated string literal");
    expect_error("root ::= \"ab\ncd\"", "line 1, column 10: unterminated string literal");
    expect_error("root ::= [a-z", "line 1, column 10: unterminated character class");
    expect_error("root ::= (\"a\" \"b\"", "line 1, column 10: '(' is never closed");
    expect_error("root ::= (\"a\"\nb ::= \"c\"", "line 1, column 10: '(' is never closed");
    expect_error("root ::= \"a\")", "line 1, column 13: ')' without a matching '('");
    expect_error("root ::= \"a\"]", "line 1, column 13: ']' without a matching '['");
    expect_error("root ::= \"a\"\nx ::= y", "line 2, column 7: undefined rule 'y'");
    expect_error("root ::= [z-a]", "line 1, column 11: character range U+007A-U+0061 is reversed");
    expect_error("root ::= \"\\q\"", "line 1, column 11: unknown escape '\\q'");
    expect_error("root ::= \"\\x4\"", "line 1, column 11: escape '\\x' needs 2 hex digits");
    expect_error("root ::= \"\\uD800\"", "line 1, column 11: escape value U+D800 is a surrogate");
    expect_error("root ::= \"\\U00110000\"", "line 1, column 11: escape value 0x110000 is beyond U+10FFFF");
    expect_error("root ::= \"a\"{10001}", "line 1, column 14: repetition count is larger than the limit 10000");
    expect_error("root ::= \"a\"{3,2}", "line 1, column 13: repetition {3,2}: the maximum is below the minimum");
    expect_error("root ::= \"a\"{x}", "line 1, column 14: expected a number");
    expect_error("root ::= \"a\"{2", "line 1, column 15: expected '}'");
    expect_error("root ::= *", "line 1, column 10: '*' has nothing before it to repeat");
    expect_error("root = \"a\"", "line 1, column 6: expected '::=' after the rule name 'root'");
    expect_error("::= \"a\"", "line 1, column 1: expected a rule name");
    expect_error("root ::= \"a\" b ::= \"c\"", "line 1, column 14: a new rule starts here");
    expect_error("root ::= \"a\"\nroot ::= \"b\"", "line 2, column 1: rule 'root' is defined twice (first at line 1, column 1)");
    expect_error("root ::= \"é\" )", "line 1, column 14: ')' without a matching '('");
    expect_error("root ::= \"a\" @", "line 1, column 14: unexpected '@'");
    expect_error("root ::= \"\xff\"", "line 1, column 11: invalid UTF-8");
}

Test(grammar, whole_grammar_errors) {
    expect_error("", "empty grammar");
    expect_error("  \n\n# only a comment\n", "empty grammar");
    expect_error("a ::= \"x\"", "no rule 'root'");
    vka_grammar *g = NULL;
    cr_expect_eq(vka_grammar_parse("a ::= \"x\"", "a", &g), VKA_OK, "%s", vka_last_error());
    cr_expect_eq(run(g, "x"), FULL);
    vka_grammar_free(g);
    cr_expect_eq(vka_grammar_parse("root ::= \"x\"", "start", &g), VKA_ERR_GRAMMAR);
    cr_expect(strstr(vka_last_error(), "'start'") != NULL, "%s", vka_last_error());
    cr_expect_eq(vka_grammar_parse(NULL, NULL, &g), VKA_ERR_INVALID_ARGUMENT);
}

Test(grammar, left_recursion_rejected) {
    expect_error("root ::= expr\nexpr ::= expr \"+\" \"1\" | \"1\"",
                 "line 2, column 1: rule 'expr' is left-recursive (expr -> expr)");
    expect_error("root ::= a\na ::= b \"x\"\nb ::= \"y\" | a",
                 "rule 'a' is left-recursive (a -> b -> a)");
    /* through a nullable prefix */
    expect_error("root ::= a\na ::= \"x\"* a \"y\" | \"z\"", "rule 'a' is left-recursive");
    expect_error("root ::= n a\nn ::= \"\"\na ::= n root", "left-recursive");
    expect_error("root ::= root", "rule 'root' is left-recursive (root -> root)");
    /* right recursion and recursion after a character are fine */
    vka_grammar *g = parse_ok("root ::= \"(\" root \")\" | \"x\"\nlist ::= \"a\" list | \"\"");
    cr_expect_eq(run(g, "((x))"), FULL);
    vka_grammar_free(g);
}

/* ---------------------------------------------------------------- matching */

Test(grammar, json_table) {
    TABLE(json_gbnf,
          {"{}", FULL},
          {"{\"a\": 1}", FULL},
          {"{\"a\":[1, 2.5, -3e10, true, false, null, \"x\"]}", FULL},
          {"{\"nested\": {\"deep\": {\"er\": []}}}", FULL},
          {"\"esc \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u00e9\"", FULL},
          {"\"caf\xc3\xa9 \xe4\xb8\xad\"", FULL},
          {"[1, 2", PREFIX},
          {"{\"a\"", PREFIX},
          {"{\"a\" 1}", REJECT},
          {"[1,,2]", REJECT},
          {"[01]", REJECT},
          {"\"raw\ncontrol\"", REJECT},
          {"\"bad \\x escape\"", REJECT},
          {"\"\\u12G4\"", REJECT},
          {"tru", PREFIX},
          {"truth", REJECT},
          {"{\"a\": 1}}", REJECT});
}

Test(grammar, arithmetic_table) {
    TABLE("root ::= expr\n"
          "expr ::= term ((\"+\" | \"-\") term)*\n"
          "term ::= factor ((\"*\" | \"/\") factor)*\n"
          "factor ::= number | \"(\" expr \")\" | \"-\" factor\n"
          "number ::= [0-9]+\n",
          {"1", FULL},
          {"1+2*3", FULL},
          {"(1+2)*-3", FULL},
          {"((((4))))/2", FULL},
          {"1+", PREFIX},
          {"((1)", PREFIX},
          {"1)", REJECT},
          {"+1", REJECT},
          {"1**2", REJECT},
          {"", PREFIX});
}

Test(grammar, choice_table) {
    TABLE("root ::= (\"yes\" | \"no\" | \"maybe\" | \"y\") \"\\n\"",
          {"yes\n", FULL},
          {"y\n", FULL},
          {"no\n", FULL},
          {"maybe\n", FULL},
          {"ye", PREFIX},
          {"yess\n", REJECT},
          {"n\n", REJECT},
          {"YES\n", REJECT});
}

Test(grammar, utf8_classes_table) {
    TABLE("root ::= [一-龥]+",
          {"中文", FULL},
          {"\xe9\xbe\xa5", FULL},      /* U+9FA5, the upper end */
          {"\xe4\xb8\x80", FULL},      /* U+4E00, the lower end */
          {"\xe9\xbe\xa6", REJECT},    /* U+9FA6 */
          {"\xe3\x80\x80", REJECT},    /* U+3000 */
          {"a", REJECT},
          {"中a", REJECT});
    TABLE("root ::= [^\\x00-\\x7F]+",
          {"é", FULL},
          {"ß中😀", FULL},
          {"e", REJECT},
          {"é!", REJECT});
    TABLE("root ::= . . \"!\"",
          {"a😀!", FULL},
          {"\xc3\xa9\xc3\xa9!", FULL},
          {"abc", REJECT});
    TABLE("root ::= \"\\u00e9\" [\\U0001F600-\\U0001F64F]",
          {"é😀", FULL},
          {"é🙏", FULL},      /* U+1F64F */
          {"é🚀", REJECT});   /* U+1F680 */
}

Test(grammar, repetition_bounds_table) {
    TABLE("root ::= \"a\"{3}", {"aaa", FULL}, {"aa", PREFIX}, {"aaaa", REJECT});
    TABLE("root ::= \"a\"{2,}", {"a", PREFIX}, {"aa", FULL}, {"aaaaaaaaaa", FULL});
    TABLE("root ::= \"a\"{2,4} \"b\"", {"aab", FULL}, {"aaaab", FULL}, {"ab", REJECT}, {"aaaaab", REJECT});
    TABLE("root ::= \"a\"{0,2} \"b\"", {"b", FULL}, {"aab", FULL}, {"aaab", REJECT});
    TABLE("root ::= \"x\" \"a\"{0} \"y\"", {"xy", FULL}, {"xay", REJECT});
    TABLE("root ::= (\"ab\" | \"c\"){2,3}", {"abc", FULL}, {"cab", FULL}, {"ccc", FULL}, {"c", PREFIX}, {"cccc", REJECT});
    TABLE("root ::= [0-9]{1,3} (\".\" [0-9]{1,3}){3}", {"192.168.0.1", FULL}, {"1.2.3", PREFIX}, {"1.2.3.4.5", REJECT},
          {"1234.1.1.1", REJECT});
    TABLE("root ::= (\"a\"?)*  \"b\"", {"b", FULL}, {"aaab", FULL});
    TABLE("root ::= \"a\"{10000}", {"aaaa", PREFIX});
}

Test(grammar, empty_alternatives_and_nullable_rules) {
    TABLE("root ::= \"<\" ws \">\"\nws ::= | \" \" ws", {"<>", FULL}, {"<   >", FULL}, {"< x>", REJECT});
    TABLE("root ::= \"\"", {"", FULL}, {"a", REJECT});
    TABLE("root ::= a b c\na ::= \"a\"?\nb ::= \"b\"?\nc ::= \"c\"?", {"", FULL}, {"ac", FULL}, {"abc", FULL},
          {"ca", REJECT});
}

Test(grammar, can_end_and_is_done) {
    vka_grammar *g = parse_ok("root ::= \"ab\" \"c\"?");
    vka_grammar_state *st;
    bool ok;
    cr_assert_eq(vka_grammar_state_create(g, &st), VKA_OK);
    cr_expect(!vka_grammar_can_end(st));
    cr_expect(!vka_grammar_is_done(st));
    cr_assert_eq(vka_grammar_accept_bytes(st, "ab", 2, &ok), VKA_OK);
    cr_expect(ok);
    cr_expect(vka_grammar_can_end(st), "\"ab\" completes the grammar");
    cr_expect(!vka_grammar_is_done(st), "\"c\" may still follow");
    cr_assert_eq(vka_grammar_accept_bytes(st, "c", 1, &ok), VKA_OK);
    cr_expect(ok);
    cr_expect(vka_grammar_can_end(st));
    cr_expect(vka_grammar_is_done(st), "nothing can follow \"abc\"");
    cr_assert_eq(vka_grammar_accept_bytes(st, "c", 1, &ok), VKA_OK);
    cr_expect(!ok);
    vka_grammar_state_free(st);
    vka_grammar_free(g);

    g = parse_ok("root ::= [a-z]+");
    cr_assert_eq(vka_grammar_state_create(g, &st), VKA_OK);
    cr_assert_eq(vka_grammar_accept_bytes(st, "abc", 3, &ok), VKA_OK);
    cr_expect(vka_grammar_can_end(st));
    cr_expect(!vka_grammar_is_done(st), "an open-ended loop is never done");
    vka_grammar_state_free(st);
    vka_grammar_free(g);
}

Test(grammar, utf8_split_across_calls) {
    vka_grammar *g = parse_ok("root ::= [一-龥] \"!\"");
    vka_grammar_state *st;
    bool ok;
    cr_assert_eq(vka_grammar_state_create(g, &st), VKA_OK);
    /* 中 = E4 B8 AD: each byte alone */
    cr_assert_eq(vka_grammar_accept_bytes(st, "\xe4", 1, &ok), VKA_OK);
    cr_expect(ok, "E4 can start a character in U+4E00..U+9FA5");
    cr_expect(!vka_grammar_can_end(st));
    /* E4 80 would be U+4000..U+403F: outside the class, rejected, state kept */
    cr_assert_eq(vka_grammar_accept_bytes(st, "\x80", 1, &ok), VKA_OK);
    cr_expect(!ok, "E4 80 cannot complete to a character of the class");
    cr_assert_eq(vka_grammar_accept_bytes(st, "\xb8", 1, &ok), VKA_OK);
    cr_expect(ok);
    /* not a continuation byte */
    cr_assert_eq(vka_grammar_accept_bytes(st, "!", 1, &ok), VKA_OK);
    cr_expect(!ok);
    cr_assert_eq(vka_grammar_accept_bytes(st, "\xad!", 2, &ok), VKA_OK);
    cr_expect(ok);
    cr_expect(vka_grammar_is_done(st));
    vka_grammar_state_free(st);

    /* a lead byte whose characters all lie outside an ASCII class */
    cr_assert_eq(vka_grammar_state_create(g, &st), VKA_OK);
    cr_assert_eq(vka_grammar_accept_bytes(st, "\xe3", 1, &ok), VKA_OK);
    cr_expect(!ok, "E3 gives U+3000..U+3FFF, below the class");
    vka_grammar_state_free(st);
    vka_grammar_free(g);

    g = parse_ok("root ::= .+");
    cr_assert_eq(vka_grammar_state_create(g, &st), VKA_OK);
    static const char *const invalid[] = {"\x80", "\xc0\x80", "\xe0\x80", "\xed\xa0", "\xf4\x90", "\xf5", "\xff"};
    for (size_t i = 0; i < sizeof invalid / sizeof *invalid; i++) {
        cr_assert_eq(vka_grammar_accept_bytes(st, invalid[i], strlen(invalid[i]), &ok), VKA_OK);
        cr_expect(!ok, "invalid UTF-8 #%zu must be rejected", i);
    }
    /* 😀 = F0 9F 98 80 split 1 + 3 */
    cr_assert_eq(vka_grammar_accept_bytes(st, "\xf0", 1, &ok), VKA_OK);
    cr_expect(ok);
    cr_assert_eq(vka_grammar_accept_bytes(st, "\x9f\x98\x80", 3, &ok), VKA_OK);
    cr_expect(ok);
    cr_expect(vka_grammar_can_end(st));
    vka_grammar_state_free(st);
    vka_grammar_free(g);
}

Test(grammar, rejected_bytes_leave_state_unchanged) {
    vka_grammar *g = parse_ok("root ::= \"abc\" | \"abd\"");
    vka_grammar_state *st, *copy;
    bool ok;
    cr_assert_eq(vka_grammar_state_create(g, &st), VKA_OK);
    cr_assert_eq(vka_grammar_accept_bytes(st, "ab", 2, &ok), VKA_OK);
    cr_assert_eq(vka_grammar_state_clone(st, &copy), VKA_OK);
    cr_assert_eq(vka_grammar_accept_bytes(st, "cx", 2, &ok), VKA_OK);
    cr_expect(!ok);
    cr_assert_eq(vka_grammar_accept_bytes(st, "d", 1, &ok), VKA_OK);
    cr_expect(ok, "after a rejected 'cx' the state is still after 'ab'");
    cr_expect(vka_grammar_is_done(st));
    /* the clone is independent */
    cr_expect(!vka_grammar_can_end(copy));
    cr_assert_eq(vka_grammar_accept_bytes(copy, "c", 1, &ok), VKA_OK);
    cr_expect(ok);
    cr_expect(vka_grammar_is_done(copy));
    vka_grammar_state_free(st);
    vka_grammar_state_free(copy);
    vka_grammar_free(g);
}

Test(grammar, deep_nesting_in_input_and_long_inputs) {
    vka_grammar *g = parse_ok("root ::= \"(\" root \")\" | \"x\"");
    size_t depth = 20000;
    char *s = malloc(depth * 2 + 2);
    cr_assert_not_null(s);
    memset(s, '(', depth);
    s[depth] = 'x';
    memset(s + depth + 1, ')', depth);
    s[2 * depth + 1] = 0;
    cr_expect_eq(run(g, s), FULL);
    s[2 * depth] = 0;
    cr_expect_eq(run(g, s), PREFIX);
    free(s);
    vka_grammar_free(g);

    /* a long input through a loop, fed in many calls, exercises frame collection */
    g = parse_ok("root ::= (\"[\" [a-z]* \"]\")*");
    vka_grammar_state *st;
    bool ok = true;
    cr_assert_eq(vka_grammar_state_create(g, &st), VKA_OK);
    cr_assert_eq(vka_grammar_accept_bytes(st, "[", 1, &ok), VKA_OK);
    for (int i = 1; i < 50000 && ok; i++)
        cr_assert_eq(vka_grammar_accept_bytes(st, i % 7 ? "ab" : "][", 2, &ok), VKA_OK);
    cr_expect(ok);
    vka_grammar_state_free(st);
    vka_grammar_free(g);
}

/* ---------------------------------------------------------------- malformed grammars */

Test(grammar, limits_fail_cleanly) {
    size_t n = VKA_GRAMMAR_MAX_NESTING + 10;
    char *deep = malloc(n * 2 + 32);
    cr_assert_not_null(deep);
    strcpy(deep, "root ::= ");
    size_t at = strlen(deep);
    memset(deep + at, '(', n);
    at += n;
    deep[at++] = '"';
    deep[at++] = 'a';
    deep[at++] = '"';
    memset(deep + at, ')', n);
    deep[at + n] = 0;
    expect_error(deep, "groups nested deeper than 256 levels");
    free(deep);

    /* 100 levels are fine */
    char ok[400] = "root ::= ";
    for (int i = 0; i < 100; i++) strcat(ok, "(");
    strcat(ok, "\"a\"");
    for (int i = 0; i < 100; i++) strcat(ok, ")");
    vka_grammar *g = parse_ok(ok);
    cr_expect_eq(run(g, "a"), FULL);
    vka_grammar_free(g);

    expect_error("root ::= (\"ab\"{10000}){10000}", "grammar too large");
    expect_error("root ::= \"a\"?????????", "too many repetition operators");
    /* x? repeated: every position is reachable from every earlier one */
    expect_error("root ::= \"a\"?{8000}", "grammar too ambiguous");
}

/* xorshift64*, so the fuzz table is the same on every run */
static uint64_t rng_next(uint64_t *s) {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

Test(grammar, fuzz_malformed_grammars_fail_cleanly) {
    static const char *const pieces[] = {"root", " ::= ", "::=", "a", "b-1", "\"", "\"x\"", "[", "]", "[^a-z]", "(",
                                         ")", "|", "*", "+", "?", "{", "}", "{2,3}", "{1,}", ",", "\\", "\\x4",
                                         "\\u00e9", ".", "#c\n", "\n", " ", "\xe4\xb8\xad", "\xff", "-", "^",
                                         "\"\\\"", "root ::= a\n", "a ::= ", "a ::= a \"x\"\n"};
    uint64_t seed = 0x9E3779B97F4A7C15ull;
    char text[256];
    int parsed = 0, failed = 0;
    for (int iter = 0; iter < 3000; iter++) {
        size_t len = 0;
        int n = 1 + (int)(rng_next(&seed) % 14);
        if (iter % 2 == 0) {
            strcpy(text, "root ::= ");
            len = strlen(text);
        }
        for (int k = 0; k < n; k++) {
            const char *p = pieces[rng_next(&seed) % (sizeof pieces / sizeof *pieces)];
            size_t pl = strlen(p);
            if (len + pl + 1 >= sizeof text) break;
            memcpy(text + len, p, pl);
            len += pl;
        }
        text[len] = 0;
        vka_grammar *g = NULL;
        vka_status s = vka_grammar_parse(text, NULL, &g);
        cr_assert(s == VKA_OK || s == VKA_ERR_GRAMMAR, "status %d for:\n%s", s, text);
        if (s == VKA_OK) {
            parsed++;
            cr_assert_not_null(g);
            /* whatever it accepts must not crash the matcher */
            run(g, "ab\"x\xe4\xb8\xad");
        } else {
            failed++;
            cr_assert_null(g);
            cr_assert(strlen(vka_last_error()) > 0);
        }
        vka_grammar_free(g);
    }
    cr_expect(parsed > 10 && failed > 100, "the table should mix valid (%d) and invalid (%d) grammars", parsed, failed);
}
