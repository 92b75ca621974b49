/* number_probe.c — the numeric-keyword grammars (engine/structured/json_number.c) as a
 * filter, for tests/number/compare.mjs to check against ajv. Reads lines:
 *   S INTEGER HAS_MIN MIN_EXCL MIN HAS_MAX MAX_EXCL MAX MULTIPLE_OF
 *       build the grammar for this spec; prints "G ok BYTES RULES STATES"
 *       or "G error MESSAGE"
 *   T TEXT   prints "G A": G 1/0 whether the grammar matches the whole text
 *            ("-" when the spec gave an error), A 1/0 js_number_admits on
 *            the double the text parses to ("x" when it is not JSON number
 *            syntax)
 *   W N SEED prints N texts "w TEXT" from random walks through the grammar
 *            (each character chosen uniformly among those it allows, the
 *            end included where it may end)
 *   P        prints the grammar, then a line "END" */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "structured/grammar.h"
#include "structured/json_number.h"
#include "number_syntax.h"

static bool full_match(const vka_grammar *g, const char *text) {
    vka_grammar_state *st;
    if (vka_grammar_state_create(g, &st) != VKA_OK) return false;
    bool ok = false;
    if (vka_grammar_accept_bytes(st, text, strlen(text), &ok) != VKA_OK) ok = false;
    ok = ok && vka_grammar_can_end(st);
    vka_grammar_state_free(st);
    return ok;
}

/* One random complete text of the grammar into out (cap bytes). */
static bool random_walk(const vka_grammar *g, uint64_t *seed, char *out, size_t cap) {
    static const char alphabet[] = "0123456789.-+eE";
    vka_grammar_state *st;
    if (vka_grammar_state_create(g, &st) != VKA_OK) return false;
    size_t len = 0;
    bool done = false;
    while (!done && len + 1 < cap) {
        char next[sizeof alphabet];
        unsigned n = 0;
        for (const char *c = alphabet; *c; c++) {
            vka_grammar_state *probe;
            bool ok = false;
            if (vka_grammar_state_clone(st, &probe) != VKA_OK) break;
            if (vka_grammar_accept_bytes(probe, c, 1, &ok) == VKA_OK && ok) next[n++] = *c;
            vka_grammar_state_free(probe);
        }
        bool can_end = vka_grammar_can_end(st);
        unsigned choices = n + (can_end ? 1u : 0u);
        if (choices == 0) break;
        *seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
        unsigned pick = (unsigned)((*seed >> 33) % choices);
        if (pick == n) {
            done = true;
        } else {
            bool ok;
            vka_grammar_accept_bytes(st, &next[pick], 1, &ok);
            out[len++] = next[pick];
        }
    }
    out[len] = 0;
    vka_grammar_state_free(st);
    return done;
}

/* Builds the grammar of spec; its text into *text (NULL on error). */
static vka_grammar *build(const js_number_spec *spec, char **text) {
    js_rules rules = {0};
    js_buf expr = {0}, all = {0};
    vka_grammar *g = NULL;
    *text = NULL;
    vka_status s = js_number_gbnf(spec, &rules, &expr);
    if (s != VKA_OK) {
        printf("G error %s\n", vka_last_error());
    } else {
        js_printf(&all, "root ::= %s\n%s", expr.data, rules.text.data ? rules.text.data : "");
        if (all.failed || vka_grammar_parse(all.data, "root", &g) != VKA_OK) {
            printf("G error grammar does not parse: %s\n", vka_last_error());
        } else {
            unsigned lines = 0;
            for (size_t i = 0; i < all.len; i++) lines += all.data[i] == '\n';
            printf("G ok %zu %u %u\n", all.len, lines, vka_grammar_n_states(g));
            *text = all.data;
            all.data = NULL;
        }
    }
    js_buf_free(&all);
    js_buf_free(&expr);
    js_rules_free(&rules);
    return g;
}

int main(void) {
    char line[4096];
    js_number_spec spec = {0};
    vka_grammar *g = NULL;
    char *text = NULL;
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\r\n")] = 0;
        if (line[0] == 'S') {
            int integer, has_min, min_excl, has_max, max_excl;
            if (sscanf(line + 1, "%d %d %d %lf %d %d %lf %lf", &integer, &has_min, &min_excl, &spec.min, &has_max,
                       &max_excl, &spec.max, &spec.multiple_of) != 8) {
                fprintf(stderr, "number_probe: bad spec line: %s\n", line);
                return 2;
            }
            spec.integer = integer, spec.has_min = has_min, spec.min_exclusive = min_excl;
            spec.has_max = has_max, spec.max_exclusive = max_excl;
            vka_grammar_free(g);
            free(text);
            g = build(&spec, &text);
        } else if (line[0] == 'T' && line[1] == ' ') {
            const char *t = line + 2;
            char verdict = g ? (full_match(g, t) ? '1' : '0') : '-';
            char admits = json_number_syntax(t) ? (js_number_admits(&spec, strtod(t, NULL)) ? '1' : '0') : 'x';
            printf("%c %c\n", verdict, admits);
        } else if (line[0] == 'W' && g) {
            unsigned count;
            unsigned long long seed;
            if (sscanf(line + 1, "%u %llu", &count, &seed) != 2) return 2;
            uint64_t state = seed;
            char walk[256];
            for (unsigned i = 0; i < count; i++)
                if (random_walk(g, &state, walk, sizeof walk)) printf("w %s\n", walk);
        } else if (line[0] == 'P') {
            printf("%s\nEND\n", text ? text : "");
            fflush(stdout);
        }

    }
    vka_grammar_free(g);
    free(text);
    return 0;
}
