/* test_grammar_fill.c — the cached token masks (position fills through the
 * lazy DFA, subtrees taken whole, whole masks remembered by configuration)
 * against the plain trie walk, over the real Qwen3 vocabulary (byte-level
 * pieces: partial characters, long runs, every script) and grammars shaped
 * like the JSON Schema converter's: strings spelled in every JSON form,
 * counted strings, patterns with Unicode classes, objects with many optional
 * members, recursion. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "structured/grammar.h"
#include "structured/grammar_impl.h"
#include "model/model.h"
#include "test_util.h"
#include "text/vocab.h"
#include "structured/vocab_grammar.h"

static vka_model *model;
static const vka_grammar_vocab *gv;

static void load_vocab(void) {
    const char *path = test_data_path("fixtures/vocab/qwen3.gguf");
    REQUIRE_FIXTURE(path);
    vka_model_params mp;
    vka_model_params_default(&mp);
    mp.vocab_only = true;
    cr_assert_eq(vka_model_load(path, &mp, &model), VKA_OK, "%s", vka_last_error());
    cr_assert_eq(vka_vocab_grammar_vocab(model->vocab, &gv), VKA_OK, "%s", vka_last_error());
}

static void unload_vocab(void) { vka_model_free(model); }

static uint64_t rng_next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static bool bit(const uint32_t *bits, uint32_t id) { return (bits[id >> 5] >> (id & 31)) & 1u; }

/* Whether token id's piece ends inside a UTF-8 character. */
static bool ends_mid_character(int32_t id) {
    const char *p;
    size_t n = vka_vocab_piece(model->vocab, id, false, &p);
    size_t k = 0;
    while (k < n && k < 4 && ((unsigned char)p[n - 1 - k] & 0xC0) == 0x80) k++;
    if (k == n) return false;
    unsigned char lead = (unsigned char)p[n - 1 - k];
    size_t len = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    return k + 1 < len;
}

/* A seeded walk of up to `steps` tokens: at each step the cached mask (bits
 * and logits) must equal the plain walk's; then an allowed token is taken,
 * one that ends inside a character when `partial` says so and one exists.
 * Returns the masks compared; *mid counts steps that began inside a character. */
static int walk_and_compare(const char *grammar, int steps, uint64_t seed, bool partial, int *mid) {
    vka_grammar *g = NULL;
    cr_assert_eq(vka_grammar_parse(grammar, NULL, &g), VKA_OK, "%s", vka_last_error());
    vka_grammar_state *st = NULL;
    cr_assert_eq(vka_grammar_state_create(g, &st), VKA_OK);
    uint32_t n = vka_grammar_vocab_n_tokens(gv), words = (n + 31) / 32;
    uint32_t *cached = calloc(words, 4), *plain = calloc(words, 4);
    uint32_t *whole = malloc(n * sizeof *whole), *partials = malloc(n * sizeof *partials);
    float *logits = malloc(n * sizeof *logits);
    cr_assert(cached && plain && whole && partials && logits);
    int step;
    for (step = 0; step < steps; step++) {
        if (st->need) ++*mid;
        cr_assert_eq(vka_grammar_mask_bits(st, gv, cached), VKA_OK, "%s", vka_last_error());
        cr_assert_eq(g_mask_bits_uncached(st, gv, plain), VKA_OK, "%s", vka_last_error());
        for (uint32_t i = 0; i < n; i++) logits[i] = 1.0f;
        cr_assert_eq(vka_grammar_mask(st, gv, logits), VKA_OK, "%s", vka_last_error());
        uint32_t n_whole = 0, n_partial = 0;
        for (uint32_t id = 0; id < n; id++) {
            const char *p;
            size_t len = vka_vocab_piece(model->vocab, (int32_t)id, false, &p);
            cr_assert_eq(bit(cached, id), bit(plain, id), "seed %llu step %d token %u '%.*s': cached %d, plain walk %d",
                         (unsigned long long)seed, step, id, (int)len, p, bit(cached, id), bit(plain, id));
            cr_assert_eq(logits[id] == 1.0f, bit(plain, id), "seed %llu step %d token %u: logits", (unsigned long long)seed,
                         step, id);
            if (!bit(plain, id) || vka_vocab_is_eog(model->vocab, (int32_t)id)) continue;
            if (partial && ends_mid_character((int32_t)id)) partials[n_partial++] = id;
            else whole[n_whole++] = id;
        }
        if (vka_grammar_is_done(st) || n_whole + n_partial == 0) break;
        /* a token ending inside a character one time in four, when there is one */
        uint64_t r = rng_next(&seed);
        bool take_partial = n_partial && ((r & 3) == 0 || !n_whole);
        uint32_t pick = take_partial ? partials[(r >> 8) % n_partial] : whole[(r >> 8) % n_whole];
        cr_assert(vka_grammar_allows_token(st, gv, (int32_t)pick));
        cr_assert_eq(vka_grammar_accept_token(st, gv, (int32_t)pick), VKA_OK, "%s", vka_last_error());
    }
    free(cached);
    free(plain);
    free(whole);
    free(partials);
    free(logits);
    vka_grammar_state_free(st);
    vka_grammar_free(g);
    return step;
}

/* One character of a JSON string in every spelling, as the converter writes it. */
#define JSON_CHAR                                                                                        \
    "jc ::= [ !#-\\[\\]-\\uD7FF\\uE000-\\U0010FFFF] | \"\\\\\" ([\\\"\\\\/bfnrt] | \"u\" (hx | hi \"\\\\u\" lo))\n" \
    "hx ::= [0-9a-cefA-CEF] [0-9a-fA-F]{3} | [dD] [0-7] [0-9a-fA-F]{2}\n"                            \
    "hi ::= [dD] [89abAB] [0-9a-fA-F]{2}\n"                                                          \
    "lo ::= [dD] [c-fC-F] [0-9a-fA-F]{2}\n"

TestSuite(grammar_fill, .init = load_vocab, .fini = unload_vocab);

Test(grammar_fill, strings_in_every_spelling) {
    /* an unbounded string (a loop of right-recursive rules) and a counted one */
    const char *grammar = "root ::= \"{\\\"a\\\":\\\"\" s0 \"\\\",\\\"b\\\":\\\"\" c0 \"\\\"}\"\n"
                          "s0 ::= jc s0 | \"\"\n"
                          "c0 ::= jc c1 | \"\"\nc1 ::= jc c2 | \"\"\nc2 ::= jc c3 | \"\"\nc3 ::= jc c4 | \"\"\n"
                          "c4 ::= jc c5 | \"\"\nc5 ::= jc | \"\"\n" JSON_CHAR;
    int mid = 0, checked = 0;
    for (uint64_t seed = 1; seed <= 3; seed++) checked += walk_and_compare(grammar, 14, seed * 77, true, &mid);
    cr_expect(checked >= 30, "masks compared: %d", checked);
    cr_expect(mid > 0, "some steps should begin inside a character");
}

Test(grammar_fill, counted_pattern_with_unicode_spaces) {
    /* like (?:\s*[A-Za-z0-9+/]){12}=: classes that hold some characters above ASCII */
    const char *grammar = "root ::= \"\\\"\" (ws* [A-Za-z0-9+/]){12} ws* \"=\\\"\"\n"
                          "ws ::= [ \\t\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000\\uFEFF] | \"\\\\\" [nrt]\n";
    int mid = 0, checked = 0;
    for (uint64_t seed = 1; seed <= 3; seed++) checked += walk_and_compare(grammar, 12, seed * 31, true, &mid);
    cr_expect(checked >= 20, "masks compared: %d", checked);
}

Test(grammar_fill, scripts_and_partial_characters) {
    const char *grammar = "root ::= \"\\\"\" ([\\u4E00-\\u9FA5] | [a-z] | \"\\u00E9\" | [\\U0001F600-\\U0001F64F])+ \"\\\"\"\n";
    int mid = 0, checked = 0;
    for (uint64_t seed = 1; seed <= 3; seed++) checked += walk_and_compare(grammar, 12, seed * 5, true, &mid);
    cr_expect(checked >= 20, "masks compared: %d", checked);
    cr_expect(mid > 0, "some steps should begin inside a character");
}

Test(grammar_fill, many_optional_members) {
    /* after "{" every member may come first: many stack tops at once */
    char grammar[8192];
    size_t used = (size_t)snprintf(grammar, sizeof grammar, "root ::= \"{\" (");
    for (int k = 0; k < 40; k++)
        used += (size_t)snprintf(grammar + used, sizeof grammar - used, "%s\"\\\"key%c%c\\\":\" v", k ? " | " : "",
                                 'a' + k % 26, 'a' + k / 26);
    snprintf(grammar + used, sizeof grammar - used,
             " | \"\\\"\" s0 \"\\\":\" v)? \"}\"\nv ::= [0-9]+ | \"\\\"\" s0 \"\\\"\"\ns0 ::= jc s0 | \"\"\n" JSON_CHAR);
    int mid = 0, checked = 0;
    for (uint64_t seed = 1; seed <= 3; seed++) checked += walk_and_compare(grammar, 10, seed * 13, false, &mid);
    cr_expect(checked >= 15, "masks compared: %d", checked);
}

Test(grammar_fill, recursion) {
    const char *grammar = "root ::= value\n"
                          "value ::= \"{\" (member (\",\" member)*)? \"}\" | \"[\" (value (\",\" value)*)? \"]\" | str | [0-9]+\n"
                          "member ::= str \":\" value\n"
                          "str ::= \"\\\"\" s0 \"\\\"\"\ns0 ::= jc s0 | \"\"\n" JSON_CHAR;
    int mid = 0, checked = 0;
    for (uint64_t seed = 1; seed <= 3; seed++) checked += walk_and_compare(grammar, 16, seed * 101, false, &mid);
    cr_expect(checked >= 30, "masks compared: %d", checked);
}
