/* fuzz_grammar_match.c — the grammar matcher driven by arbitrary bytes: a
 * fixed set of grammars and a small vocabulary (JSON punctuation, words,
 * whole and split UTF-8 characters, an empty control token, an end token).
 * The first byte picks the grammar; each following byte is an operation:
 * feed raw bytes, accept a token (id in the next byte), compute the masks,
 * clone. Invariants: the float mask, the bit mask and allows_token agree; a
 * token is accepted exactly when it is allowed and exactly when its bytes
 * are; the end token is allowed exactly where the grammar can end. */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "structured/grammar.h"

/* Written here rather than taken from the JSON Schema converter, so that
 * this target fuzzes the matcher alone. */
static const char *const grammar_texts[] = {
    "root ::= value\n"
    "value ::= object | array | string | number | \"true\" | \"false\" | \"null\"\n"
    "object ::= \"{\" ws (member (\",\" ws member)*)? \"}\" ws\n"
    "member ::= string \":\" ws value\n"
    "array ::= \"[\" ws (value (\",\" ws value)*)? \"]\" ws\n"
    "string ::= \"\\\"\" ([^\"\\\\\\x00-\\x1f] | \"\\\\\" ([\"\\\\/bfnrt] | \"u\" [0-9a-fA-F]{4}))* \"\\\"\" ws\n"
    "number ::= \"-\"? (\"0\" | [1-9] [0-9]*) (\".\" [0-9]+)? ([eE] [-+]? [0-9]+)? ws\n"
    "ws ::= [ \\t\\n]*\n",
    "root ::= expr\n"
    "expr ::= term ([-+*/] term)*\n"
    "term ::= [0-9]+ (\".\" [0-9]{1,3})? | \"(\" expr \")\" | \"-\" term\n",
    "root ::= [a-z\\u00e9]{2,5} (\"x\"? [^\\n\"\\\\]{0,3}){1,4} \"\\u00e9\\u20ac\\U0001F600\"\n",
    "root ::= \"{\" ws \"\\\"a\\\"\" ws \":\" ws num (\",\" ws \"\\\"b\\\"\" ws \":\" ws str)? ws \"}\"\n"
    "num ::= \"-\"? ([0-9] | [1-9] [0-9]{1,15}) (\".\" [0-9]+)? ([eE] [-+]? [0-9]{1,2})?\n"
    "str ::= \"\\\"\" ([^\"\\\\\\x00-\\x1f] | \"\\\\\" [\"\\\\/bfnrt] | \"\\\\u\" [0-9a-fA-F]{4})* \"\\\"\"\n"
    "ws ::= [ \\n]{0,2}\n",
    "root ::= (\"a\" root \"b\")? | \"[\" list \"]\"\n"
    "list ::= (item (\",\" item)*)?\n"
    "item ::= \"true\" | \"false\" | \"null\" | [0-9]+ | \"[\" list \"]\"\n",
};
#define N_GRAMMARS (sizeof grammar_texts / sizeof grammar_texts[0])

static const char *const pieces[] = {
    "{", "}", "[", "]", ",", ":", "\"", " ", "\n", "\t", "{\"", "\"}", "\":", "\",", "\"]", "],", "},",
    "a", "b", "x", "z", "ab", "\"a\"", "\"b\"", "true", "false", "null", "tr", "ue", "nu", "ll",
    "0", "1", "7", "12", "3.5", ".", "e", "E", "e+", "-", "+", "*", "/", "(", ")", "(1+2)", "))",
    "\\", "\\n", "\\\"", "\\u", "00e9", "\\u00", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
    "\xc3", "\xa9", "\xe2\x82", "\xac", "\xf0\x9f", "\x98\x80", "\x01", "\xff",
    "", /* a control token: never allowed */
    "", /* the end-of-generation token */
};
#define N_TOKENS (sizeof pieces / sizeof pieces[0])
#define CONTROL_ID ((int32_t)N_TOKENS - 2)
#define EOG_ID ((int32_t)N_TOKENS - 1)

static vka_grammar *grammars[N_GRAMMARS];
static vka_grammar_vocab *vocab;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    for (size_t i = 0; i < N_GRAMMARS; i++) {
        FUZZ_CHECK(vka_grammar_parse(grammar_texts[i], NULL, &grammars[i]) == VKA_OK, "grammar %zu: %s", i,
                   vka_last_error());
    }
    uint32_t lens[N_TOKENS];
    for (size_t i = 0; i < N_TOKENS; i++) lens[i] = (uint32_t)strlen(pieces[i]);
    int32_t eog = EOG_ID;
    FUZZ_CHECK(vka_grammar_vocab_build(pieces, lens, N_TOKENS, &eog, 1, &vocab) == VKA_OK, "vocab: %s",
               vka_last_error());
    return 0;
}

/* Both masks and the per-token check agree, and the end token goes with can_end. */
static void check_masks(const vka_grammar_state *st) {
    float logits[N_TOKENS];
    uint32_t bits[(N_TOKENS + 31) / 32];
    for (size_t i = 0; i < N_TOKENS; i++) logits[i] = 0.0f;
    if (vka_grammar_mask(st, vocab, logits) != VKA_OK) return; /* a matcher limit: reported, not a bug */
    FUZZ_CHECK(vka_grammar_mask_bits(st, vocab, bits) == VKA_OK, "mask_bits failed after mask: %s", vka_last_error());
    for (uint32_t id = 0; id < N_TOKENS; id++) {
        bool in_mask = logits[id] == 0.0f, in_bits = (bits[id / 32] >> (id % 32)) & 1;
        bool allows = vka_grammar_allows_token(st, vocab, (int32_t)id);
        FUZZ_CHECK(in_mask == in_bits && in_bits == allows, "token %u: mask %d, bits %d, allows %d", id, in_mask,
                   in_bits, allows);
    }
    FUZZ_CHECK(!((bits[EOG_ID / 32] >> (EOG_ID % 32)) & 1) == !vka_grammar_can_end(st), "end token vs can_end");
    FUZZ_CHECK(!((bits[CONTROL_ID / 32] >> (CONTROL_ID % 32)) & 1), "an empty control token was allowed");
}

/* Accepts token `id` if the grammar allows it; the state moves on then. */
static void step_token(vka_grammar_state **st, int32_t id) {
    bool allowed = vka_grammar_allows_token(*st, vocab, id);
    vka_grammar_state *by_token = NULL, *by_bytes = NULL;
    if (vka_grammar_state_clone(*st, &by_token) != VKA_OK) return;
    vka_status s = vka_grammar_accept_token(by_token, vocab, id);
    if (allowed) FUZZ_CHECK(s == VKA_OK, "allowed token %d refused: %s", (int)id, vka_last_error());
    if (s == VKA_OK && !allowed) {
        float logits[N_TOKENS] = {0};
        FUZZ_CHECK(vka_grammar_mask(*st, vocab, logits) != VKA_OK, "token %d accepted but not allowed", (int)id);
    }
    if (id != EOG_ID && pieces[id][0] && vka_grammar_state_clone(*st, &by_bytes) == VKA_OK) {
        bool ok;
        if (vka_grammar_accept_bytes(by_bytes, pieces[id], strlen(pieces[id]), &ok) == VKA_OK)
            FUZZ_CHECK(ok == (s == VKA_OK), "token %d: by token %d, by bytes %d", (int)id, s == VKA_OK, ok);
        vka_grammar_state_free(by_bytes);
    }
    if (s == VKA_OK) {
        vka_grammar_state_free(*st);
        *st = by_token;
    } else {
        vka_grammar_state_free(by_token);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    vka_grammar_state *st = NULL;
    if (vka_grammar_state_create(grammars[data[0] % N_GRAMMARS], &st) != VKA_OK) return 0;
    for (size_t i = 1; i < size && !vka_grammar_is_done(st);) {
        uint8_t op = data[i++];
        switch (op & 3) {
        case 0: { /* raw bytes */
            size_t n = ((op >> 2) & 7) + 1;
            if (n > size - i) n = size - i;
            bool ok;
            (void)vka_grammar_accept_bytes(st, data + i, n, &ok);
            i += n;
            break;
        }
        case 1: check_masks(st); break;
        case 2: /* a token: the next byte is its id */
            if (i < size) step_token(&st, (int32_t)(data[i++] % N_TOKENS));
            break;
        default: { /* continue on a clone, then on the original again */
            vka_grammar_state *c = NULL;
            if (vka_grammar_state_clone(st, &c) == VKA_OK) {
                FUZZ_CHECK(vka_grammar_can_end(c) == vka_grammar_can_end(st), "a clone differs");
                vka_grammar_state_free(st);
                st = c;
            }
        }
        }
    }
    vka_grammar_state_free(st);
    return 0;
}
