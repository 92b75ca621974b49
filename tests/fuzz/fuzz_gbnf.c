/* fuzz_gbnf.c — the GBNF parser over arbitrary text; a grammar that parses
 * is then matched against the bytes after the first NUL of the input (the
 * text before it is the grammar), byte by byte and all at once, and both
 * ways must agree. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "structured/grammar.h"

/* Feeds `input` one byte at a time; returns how many bytes were accepted
 * before the first refusal or error. */
static size_t feed_bytewise(vka_grammar_state *st, const uint8_t *input, size_t len, bool *error) {
    *error = false;
    for (size_t i = 0; i < len; i++) {
        bool ok;
        if (vka_grammar_accept_bytes(st, input + i, 1, &ok) != VKA_OK) {
            *error = true;
            return i;
        }
        if (!ok) return i;
    }
    return len;
}

static void match(const vka_grammar *g, const uint8_t *input, size_t len) {
    vka_grammar_state *bytewise = NULL, *whole = NULL;
    if (vka_grammar_state_create(g, &bytewise) != VKA_OK) return; /* a matcher limit at the start */
    FUZZ_CHECK(vka_grammar_state_clone(bytewise, &whole) == VKA_OK, "clone: %s", vka_last_error());
    bool error;
    size_t taken = feed_bytewise(bytewise, input, len, &error);
    bool ok;
    vka_status s = vka_grammar_accept_bytes(whole, input, len, &ok);
    if (!error && s == VKA_OK) {
        FUZZ_CHECK(ok == (taken == len), "bytewise took %zu of %zu bytes, all at once %s", taken, len,
                   ok ? "accepted" : "refused");
        if (ok) FUZZ_CHECK(vka_grammar_can_end(bytewise) == vka_grammar_can_end(whole), "can_end differs");
    }
    (void)vka_grammar_is_done(bytewise);
    vka_grammar_state_free(whole);
    vka_grammar_state_free(bytewise);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *nul = memchr(data, 0, size);
    size_t text_len = nul ? (size_t)(nul - data) : size;
    char *text = fuzz_strndup(data, text_len);
    vka_grammar *g = NULL;
    if (vka_grammar_parse(text, NULL, &g) == VKA_OK) {
        FUZZ_CHECK(vka_grammar_n_states(g) > 0, "a grammar without states");
        if (nul) match(g, nul + 1, size - text_len - 1);
        vka_grammar_free(g);
    } else {
        FUZZ_CHECK(g == NULL && vka_last_error()[0], "a failed parse leaves no grammar and says why");
    }
    free(text);
    return 0;
}
