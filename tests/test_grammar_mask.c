/* test_grammar_mask.c — token masks against a brute-force check (each token's
 * bytes tried on a clone of the state) on a synthetic vocabulary of random
 * byte strings and JSON-ish tokens; EOS only where the grammar can end. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "structured/grammar.h"
#include "structured/grammar_impl.h"
#include "test_util.h"

typedef struct vocab {
    char **pieces;
    uint32_t *lens;
    uint32_t n;
    int32_t eog[2];
} vocab;

static uint64_t rng_next(uint64_t *s) {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

static void add_piece(vocab *v, const char *bytes, uint32_t len) {
    v->pieces[v->n] = malloc(len + 1);
    cr_assert_not_null(v->pieces[v->n]);
    memcpy(v->pieces[v->n], bytes, len);
    v->lens[v->n] = len;
    v->n++;
}

/* Fixed tokens first (JSON punctuation, words, UTF-8 pieces and fragments,
 * two empty control tokens of which one is EOS), then random byte strings. */
static vocab make_vocab(uint32_t n_random) {
    static const char *const fixed[] = {
        "{", "}", "[", "]", ",", ":", "\"", " ", "\n", "{\"", "\"}", "\":", "\",", "\"]", "],", "},", "\": \"",
        "\":\"", "\"\"", "true", "false", "null", "nul", "l", "tr", "ue", "0", "1", "2", "9", "10", "42", "-",
        ".", "e", "E", "+", "1.5", "-0", "00", "\\", "\\\"", "\\n", "\\u", "00e9", "name", "age", " name",
        "(", ")", "*", "/", "(1", "1+", "+(", "))", "x", "y", "yes", "no", "maybe", "ye", "s", "\t",
        "\xe4\xb8\xad", "\xe6\x96\x87", "\xe4", "\xb8\xad", "\xe4\xb8", "\xad", "\xc3\xa9", "\xc3", "\xa9",
        "\xf0\x9f\x98\x80", "\xf0\x9f", "\x98\x80", "\xff", "\x80", "caf\xc3\xa9", "\xe4\xb8\xad\xe6",
        "a", "b", "ab", "abc", "hello", " world", "\"a\"", "[1,", "{}", "[]",
    };
    vocab v = {0};
    uint32_t cap = (uint32_t)(sizeof fixed / sizeof *fixed) + n_random + 3;
    v.pieces = calloc(cap, sizeof *v.pieces);
    v.lens = calloc(cap, sizeof *v.lens);
    cr_assert(v.pieces && v.lens);
    add_piece(&v, "", 0);   /* id 0: a control token */
    v.eog[0] = (int32_t)v.n;
    add_piece(&v, "", 0);   /* id 1: EOS */
    v.eog[1] = 2;           /* id 2: an end-of-turn token with visible text */
    add_piece(&v, "<|end|>", 7);
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++) add_piece(&v, fixed[i], (uint32_t)strlen(fixed[i]));
    static const char alphabet[] = "{}[]\":, \n0123456789.-+eEabcnlrstuxy()*/\\";
    uint64_t seed = 12345;
    for (uint32_t i = 0; i < n_random; i++) {
        char buf[8];
        uint32_t len = 1 + (uint32_t)(rng_next(&seed) % 6);
        for (uint32_t k = 0; k < len; k++) {
            uint64_t r = rng_next(&seed);
            if (r % 10 < 8) buf[k] = alphabet[(r >> 8) % (sizeof alphabet - 1)];
            else buf[k] = (char)(0x80 + (r >> 8) % 0x75);    /* high bytes: leads and continuations */
        }
        add_piece(&v, buf, len);
    }
    return v;
}

static void free_vocab(vocab *v) {
    for (uint32_t i = 0; i < v->n; i++) free(v->pieces[i]);
    free(v->pieces);
    free(v->lens);
}

static vka_grammar_vocab *build(const vocab *v) {
    vka_grammar_vocab *gv = NULL;
    cr_assert_eq(vka_grammar_vocab_build((const char *const *)v->pieces, v->lens, v->n, v->eog, 2, &gv), VKA_OK, "%s",
                 vka_last_error());
    return gv;
}

static bool is_eog(const vocab *v, uint32_t id) { return (int32_t)id == v->eog[0] || (int32_t)id == v->eog[1]; }

/* Token id allowed by trying its bytes on a clone (EOG: where the grammar can end). */
static bool brute_allowed(const vka_grammar_state *st, const vocab *v, uint32_t id) {
    if (is_eog(v, id)) return vka_grammar_can_end(st);
    if (v->lens[id] == 0) return false;
    vka_grammar_state *c;
    cr_assert_eq(vka_grammar_state_clone(st, &c), VKA_OK);
    bool ok = false;
    cr_assert_eq(vka_grammar_accept_bytes(c, v->pieces[id], v->lens[id], &ok), VKA_OK, "%s", vka_last_error());
    vka_grammar_state_free(c);
    return ok;
}

static bool bit(const uint32_t *bits, uint32_t id) { return (bits[id >> 5] >> (id & 31)) & 1u; }

/* Compares every way of asking (cached mask, plain trie walk, logits,
 * single-token check) with brute force, then picks an allowed token with a
 * seeded choice and accepts it; up to `steps` times. Returns the number of
 * masks checked; *partial counts those with a partial character pending. */
static int walk_from(const char *grammar, const char *prefix, const vocab *v, int steps, uint64_t seed, int *partial) {
    vka_grammar *g = NULL;
    cr_assert_eq(vka_grammar_parse(grammar, NULL, &g), VKA_OK, "%s", vka_last_error());
    vka_grammar_vocab *gv = build(v);
    vka_grammar_state *st;
    cr_assert_eq(vka_grammar_state_create(g, &st), VKA_OK);
    bool accepted = false;
    cr_assert_eq(vka_grammar_accept_bytes(st, prefix, strlen(prefix), &accepted), VKA_OK);
    cr_assert(accepted, "prefix '%s'", prefix);
    uint32_t words = (v->n + 31) / 32;
    uint32_t *cached = calloc(words, sizeof *cached), *plain = calloc(words, sizeof *plain);
    float *logits = malloc(v->n * sizeof *logits);
    uint32_t *choices = malloc(v->n * sizeof *choices);
    cr_assert(cached && plain && logits && choices);
    int partial_steps = 0, step;
    for (step = 0; step < steps; step++) {
        if (st->need) partial_steps++;
        cr_assert_eq(vka_grammar_mask_bits(st, gv, cached), VKA_OK, "%s", vka_last_error());
        cr_assert_eq(g_mask_bits_uncached(st, gv, plain), VKA_OK, "%s", vka_last_error());
        for (uint32_t i = 0; i < v->n; i++) logits[i] = (float)i * 0.5f;
        cr_assert_eq(vka_grammar_mask(st, gv, logits), VKA_OK, "%s", vka_last_error());
        uint32_t n_choices = 0;
        for (uint32_t id = 0; id < v->n; id++) {
            bool want = brute_allowed(st, v, id);
            cr_assert_eq(bit(cached, id), want, "step %d token %u '%.*s': cached mask %d, brute force %d", step, id,
                         (int)v->lens[id], v->pieces[id], bit(cached, id), want);
            cr_assert_eq(bit(plain, id), want, "step %d token %u: trie walk %d, brute force %d", step, id,
                         bit(plain, id), want);
            cr_assert_eq(vka_grammar_allows_token(st, gv, (int32_t)id), want, "step %d token %u: allows_token", step, id);
            if (want) {
                cr_assert_eq(logits[id], (float)id * 0.5f, "allowed logits stay as they were (exact)");
                if (!is_eog(v, id)) choices[n_choices++] = id;
            } else {
                cr_assert(isinf(logits[id]) && logits[id] < 0, "disallowed logits are -INFINITY");
            }
        }
        if (vka_grammar_is_done(st) || n_choices == 0) break;
        /* a rejected token leaves the state as it was */
        for (uint32_t id = 3; id < v->n; id++) {
            if (bit(cached, id)) continue;
            cr_assert_eq(vka_grammar_accept_token(st, gv, (int32_t)id), VKA_ERR_GRAMMAR);
            break;
        }
        uint32_t pick = choices[rng_next(&seed) % n_choices];
        cr_assert_eq(vka_grammar_accept_token(st, gv, (int32_t)pick), VKA_OK, "%s", vka_last_error());
    }
    free(cached);
    free(plain);
    free(logits);
    free(choices);
    vka_grammar_state_free(st);
    vka_grammar_vocab_free(gv);
    vka_grammar_free(g);
    if (partial) *partial += partial_steps;
    return step;
}

static int walk_and_compare(const char *grammar, const vocab *v, int steps, uint64_t seed, int *partial) {
    return walk_from(grammar, "", v, steps, seed, partial);
}

static const char json_gbnf[] =
    "root   ::= value\n"
    "value  ::= object | array | string | number | (\"true\" | \"false\" | \"null\") ws\n"
    "object ::= \"{\" ws ( string \":\" ws value (\",\" ws string \":\" ws value)* )? \"}\" ws\n"
    "array  ::= \"[\" ws ( value (\",\" ws value)* )? \"]\" ws\n"
    "string ::= \"\\\"\" ( [^\"\\\\\\x7F\\x00-\\x1F] | \"\\\\\" ([\"\\\\/bfnrt] | \"u\" [0-9a-fA-F]{4}) )* \"\\\"\" ws\n"
    "number ::= (\"-\"? ([0-9] | [1-9] [0-9]{0,15})) (\".\" [0-9]+)? ([eE] [-+]? [0-9]{1,16})? ws\n"
    "ws ::= | \" \" | \"\\n\" [ \\t]{0,20}\n";

Test(grammar_mask, json_matches_brute_force) {
    vocab v = make_vocab(3000);
    int checked = 0;
    for (uint64_t seed = 1; seed <= 4; seed++) checked += walk_and_compare(json_gbnf, &v, 14, seed, NULL);
    cr_expect(checked >= 40, "masks checked: %d", checked);
    /* inside a string inside objects: tokens such as '",' leave the string
     * rule and need the stack below it */
    for (uint64_t seed = 1; seed <= 4; seed++) walk_from(json_gbnf, "[{\"k\": {\"a\":\"x", &v, 6, seed, NULL);
    walk_from(json_gbnf, "{\"k\": [1", &v, 6, 9, NULL);
    free_vocab(&v);
}

Test(grammar_mask, arithmetic_matches_brute_force) {
    vocab v = make_vocab(2000);
    int checked = walk_and_compare("root ::= expr\nexpr ::= term ((\"+\" | \"-\") term)*\nterm ::= factor ((\"*\" | \"/\") factor)*\n"
                     "factor ::= [0-9]+ | \"(\" expr \")\"\n",
                     &v, 16, 7, NULL);
    cr_expect(checked >= 10, "masks checked: %d", checked);
    free_vocab(&v);
}

Test(grammar_mask, utf8_fragments_match_brute_force) {
    vocab v = make_vocab(2000);
    int partial = 0, checked = 0;
    for (uint64_t seed = 1; seed <= 6; seed++)
        checked += walk_and_compare("root ::= ([一-龥] | [\\u00e0-\\u00ff] | \"😀\" | [a-c])+ \".\"?", &v, 10, seed, &partial);
    cr_expect(checked >= 30, "masks checked: %d", checked);
    cr_expect(partial > 0, "some steps should start inside a character (tokens ending mid-character)");
    free_vocab(&v);
}

Test(grammar_mask, choices_and_completion) {
    vocab v = make_vocab(1000);
    int checked = walk_and_compare("root ::= (\"yes\" | \"no\" | \"maybe\") \"\\n\"", &v, 6, 3, NULL);
    cr_expect(checked >= 2, "masks checked: %d", checked);
    free_vocab(&v);
}

Test(grammar_mask, eos_only_where_the_grammar_can_end) {
    vocab v = make_vocab(100);
    vka_grammar *g;
    cr_assert_eq(vka_grammar_parse("root ::= \"ab\" \"c\"?", NULL, &g), VKA_OK);
    vka_grammar_vocab *gv = build(&v);
    vka_grammar_state *st;
    cr_assert_eq(vka_grammar_state_create(g, &st), VKA_OK);
    cr_expect(!vka_grammar_allows_token(st, gv, v.eog[0]));
    cr_expect(!vka_grammar_allows_token(st, gv, v.eog[1]));
    cr_expect(!vka_grammar_allows_token(st, gv, 0), "control tokens are never allowed");
    cr_expect_eq(vka_grammar_accept_token(st, gv, v.eog[0]), VKA_ERR_GRAMMAR);
    int32_t ab = -1;
    for (uint32_t i = 0; i < v.n; i++)
        if (v.lens[i] == 2 && memcmp(v.pieces[i], "ab", 2) == 0) ab = (int32_t)i;
    cr_assert(ab >= 0);
    cr_assert_eq(vka_grammar_accept_token(st, gv, ab), VKA_OK, "%s", vka_last_error());
    cr_expect(vka_grammar_allows_token(st, gv, v.eog[0]));
    cr_expect(vka_grammar_allows_token(st, gv, v.eog[1]), "an EOG token with visible text counts as EOG");
    cr_expect_eq(vka_grammar_accept_token(st, gv, 0), VKA_ERR_GRAMMAR);
    cr_assert_eq(vka_grammar_accept_token(st, gv, v.eog[1]), VKA_OK);
    cr_expect(vka_grammar_is_done(st), "after EOS nothing follows");
    cr_expect_eq(vka_grammar_accept_token(st, gv, -1), VKA_ERR_INVALID_ARGUMENT);
    cr_expect_eq(vka_grammar_accept_token(st, gv, (int32_t)v.n), VKA_ERR_INVALID_ARGUMENT);
    cr_expect(!vka_grammar_allows_token(st, gv, (int32_t)v.n));
    vka_grammar_state_free(st);
    vka_grammar_vocab_free(gv);
    vka_grammar_free(g);
    free_vocab(&v);
}

Test(grammar_mask, one_state_family_with_two_vocabularies) {
    /* the per-position cache belongs to one vocabulary at a time */
    vocab a = make_vocab(500), b = make_vocab(50);
    vka_grammar *g;
    cr_assert_eq(vka_grammar_parse("root ::= [a-z]+", NULL, &g), VKA_OK);
    vka_grammar_vocab *ga = build(&a), *gb = build(&b);
    vka_grammar_state *st;
    cr_assert_eq(vka_grammar_state_create(g, &st), VKA_OK);
    uint32_t *bits_a = calloc((a.n + 31) / 32, 4), *bits_b = calloc((b.n + 31) / 32, 4);
    cr_assert_eq(vka_grammar_mask_bits(st, ga, bits_a), VKA_OK);
    cr_assert_eq(vka_grammar_mask_bits(st, gb, bits_b), VKA_OK);
    for (uint32_t id = 0; id < b.n; id++) cr_expect_eq(bit(bits_b, id), brute_allowed(st, &b, id), "token %u", id);
    cr_assert_eq(vka_grammar_mask_bits(st, ga, bits_a), VKA_OK);
    for (uint32_t id = 0; id < a.n; id++) cr_expect_eq(bit(bits_a, id), brute_allowed(st, &a, id), "token %u", id);
    free(bits_a);
    free(bits_b);
    vka_grammar_state_free(st);
    vka_grammar_vocab_free(ga);
    vka_grammar_vocab_free(gb);
    vka_grammar_free(g);
    free_vocab(&a);
    free_vocab(&b);
}

Test(grammar_mask, vocab_build_checks_arguments) {
    const char *pieces[] = {"a", "b"};
    uint32_t lens[] = {1, 1};
    int32_t bad[] = {5};
    vka_grammar_vocab *gv = NULL;
    cr_expect_eq(vka_grammar_vocab_build(pieces, lens, 2, bad, 1, &gv), VKA_ERR_INVALID_ARGUMENT);
    cr_expect_null(gv);
    cr_expect(strstr(vka_last_error(), "id 5") != NULL, "%s", vka_last_error());
    cr_expect_eq(vka_grammar_vocab_build(NULL, lens, 2, NULL, 0, &gv), VKA_ERR_INVALID_ARGUMENT);
    cr_expect_eq(vka_grammar_vocab_build(pieces, lens, 2, NULL, 0, &gv), VKA_OK);
    cr_expect_eq(vka_grammar_vocab_n_tokens(gv), 2);
    vka_grammar_vocab_free(gv);
}
