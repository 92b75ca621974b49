/* sampler_grammar.c — the sampler constraint backed by the grammar engine.
 * The vocabulary's prefix trie is built once and shared; each sampler owns
 * its parsed grammar and matcher state. */
#include <stdlib.h>
#include <string.h>

#include "grammar.h"
#include "json_schema.h"
#include "sampler_grammar.h"
#include "status.h"
#include "vocab_internal.h"

typedef struct grammar_constraint {
    vka_grammar *grammar;
    vka_grammar_state *state;
    const vka_grammar_vocab *gvocab;   /* owned by the vocabulary */
} grammar_constraint;

/* Every token's bytes (control tokens empty, so never allowed) and the
 * end-of-generation ids, which the grammar allows only where it may end. */
static vka_status build_grammar_vocab(vka_vocab *v) {
    uint32_t n = v->n_vocab;
    const char **pieces = malloc(n * sizeof *pieces);
    uint32_t *lens = malloc(n * sizeof *lens);
    int32_t *eog = malloc(n * sizeof *eog);
    size_t n_eog = 0;
    vka_status st = pieces && lens && eog ? VKA_OK : vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
    for (uint32_t i = 0; st == VKA_OK && i < n; i++) {
        lens[i] = (uint32_t)vka_vocab_piece(v, (int32_t)i, false, &pieces[i]);
        if (vka_vocab_is_eog(v, (int32_t)i)) eog[n_eog++] = (int32_t)i;
    }
    if (st == VKA_OK) st = vka_grammar_vocab_build(pieces, lens, n, eog, n_eog, &v->grammar_vocab);
    free(pieces);
    free(lens);
    free(eog);
    return st;
}

static vka_status shared_grammar_vocab(const vka_vocab *cv, const vka_grammar_vocab **out) {
    vka_vocab *v = (vka_vocab *)cv; /* the cache is the only mutable part, guarded by its lock */
    pthread_mutex_lock(&v->grammar_lock);
    vka_status st = v->grammar_vocab ? VKA_OK : build_grammar_vocab(v);
    pthread_mutex_unlock(&v->grammar_lock);
    *out = v->grammar_vocab;
    return st;
}

static bool gc_accepts(void *state, int32_t id) {
    grammar_constraint *g = state;
    return vka_grammar_allows_token(g->state, g->gvocab, id);
}

static vka_status gc_mask(void *state, float *logits, uint32_t n_vocab) {
    grammar_constraint *g = state;
    if (n_vocab != vka_grammar_vocab_n_tokens(g->gvocab))
        return vka_fail(VKA_ERR_INTERNAL, "grammar vocabulary has %u tokens, logits %u",
                        vka_grammar_vocab_n_tokens(g->gvocab), n_vocab);
    return vka_grammar_mask(g->state, g->gvocab, logits);
}

static vka_status gc_accept(void *state, int32_t id) {
    grammar_constraint *g = state;
    return vka_grammar_accept_token(g->state, g->gvocab, id);
}

static bool gc_is_done(void *state) { return vka_grammar_is_done(((grammar_constraint *)state)->state); }

static void gc_reset(void *state) {
    grammar_constraint *g = state;
    vka_grammar_state *fresh = NULL;
    if (vka_grammar_state_create(g->grammar, &fresh) == VKA_OK) {
        vka_grammar_state_free(g->state);
        g->state = fresh;
    }
}

static void gc_free(void *state) {
    grammar_constraint *g = state;
    if (!g) return;
    vka_grammar_state_free(g->state);
    vka_grammar_free(g->grammar);
    free(g);
}

vka_status vka_structured_gbnf(const vka_sampling_params *p, char **gbnf, const char **root) {
    *gbnf = NULL;
    *root = "root";
    if (p->grammar) {
        *gbnf = strdup(p->grammar);
        if (p->grammar_root) *root = p->grammar_root;
    } else if (p->json_schema) {
        VKA_TRY(vka_json_schema_to_gbnf(p->json_schema, gbnf));
    } else if (p->json) {
        *gbnf = strdup(vka_json_any_gbnf());
    } else {
        return vka_fail(VKA_ERR_INVALID_ARGUMENT, "no grammar, json_schema or json in the sampling params");
    }
    return *gbnf ? VKA_OK : vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
}

vka_status vka_grammar_constraint_create(const vka_vocab *vocab, const vka_sampling_params *p,
                                        vka_sampler_constraint *out) {
    if (!vocab) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "constrained sampling needs the model's vocabulary");
    char *gbnf = NULL;
    const char *root;
    VKA_TRY(vka_structured_gbnf(p, &gbnf, &root));
    grammar_constraint *g = calloc(1, sizeof *g);
    vka_status st = g ? VKA_OK : vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
    if (st == VKA_OK) st = vka_grammar_parse(gbnf, root, &g->grammar);
    if (st == VKA_OK) st = vka_grammar_state_create(g->grammar, &g->state);
    if (st == VKA_OK) st = shared_grammar_vocab(vocab, &g->gvocab);
    free(gbnf);
    if (st != VKA_OK) {
        gc_free(g);
        return st;
    }
    *out = (vka_sampler_constraint){
        .state = g,
        .accepts = gc_accepts,
        .mask = gc_mask,
        .accept = gc_accept,
        .is_done = gc_is_done,
        .reset = gc_reset,
        .free = gc_free,
    };
    return VKA_OK;
}
