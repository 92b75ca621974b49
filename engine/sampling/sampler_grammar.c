/* sampler_grammar.c — the sampler constraint backed by the grammar engine.
 * The vocabulary keeps the prefix trie and recently used grammars with their
 * mask caches (vocab_grammar.c); a sampler leases one for its lifetime. */
#include <stdlib.h>
#include <string.h>

#include "structured/grammar.h"
#include "structured/json_schema.h"
#include "sampling/sampler_grammar.h"
#include "sampling/sampler_unique.h"
#include "base/status.h"
#include "structured/vocab_grammar.h"

typedef struct grammar_constraint {
    const vka_vocab *vocab;
    vka_grammar_lease lease;            /* grammar and state, from the vocabulary's cache */
    const vka_grammar_vocab *gvocab;    /* owned by the vocabulary */
    su_guard *unique;                   /* "# vka:unique" arrays; NULL without them */
} grammar_constraint;

static bool gc_accepts(void *state, int32_t id) {
    grammar_constraint *g = state;
    return vka_grammar_allows_token(g->lease.state, g->gvocab, id) &&
           (!g->unique || su_guard_allows(g->unique, g->lease.state, id));
}

static vka_status gc_mask(void *state, float *logits, uint32_t n_vocab) {
    grammar_constraint *g = state;
    if (n_vocab != vka_grammar_vocab_n_tokens(g->gvocab))
        return vka_fail(VKA_ERR_INTERNAL, "grammar vocabulary has %u tokens, logits %u",
                        vka_grammar_vocab_n_tokens(g->gvocab), n_vocab);
    VKA_TRY(vka_grammar_mask(g->lease.state, g->gvocab, logits));
    return g->unique ? su_guard_mask(g->unique, g->lease.state, logits, n_vocab) : VKA_OK;
}

/* The guard is asked first and moved last, so that a refusal by either
 * leaves both where they were. */
static vka_status gc_accept(void *state, int32_t id) {
    grammar_constraint *g = state;
    if (g->unique) VKA_TRY(su_guard_check(g->unique, id));
    VKA_TRY(vka_grammar_accept_token(g->lease.state, g->gvocab, id));
    return g->unique ? su_guard_accept(g->unique, id) : VKA_OK;
}

static bool gc_is_done(void *state) { return vka_grammar_is_done(((grammar_constraint *)state)->lease.state); }

static bool gc_can_end(void *state) { return vka_grammar_can_end(((grammar_constraint *)state)->lease.state); }

/* Replays `text` from the start state: a clone in the lease's family, so the
 * sampler's own position is not disturbed. */
static vka_status gc_text_complete(void *state, const char *text, size_t len, bool *complete) {
    grammar_constraint *g = state;
    vka_grammar_state *replay = NULL;
    *complete = false;
    VKA_TRY(vka_vocab_grammar_restart(&g->lease, &replay));
    bool accepted = false;
    vka_status st = vka_grammar_accept_bytes(replay, text, len, &accepted);
    *complete = st == VKA_OK && accepted && vka_grammar_can_end(replay);
    vka_grammar_state_free(replay);
    if (st == VKA_OK && *complete && g->unique) st = su_guard_document_ok(g->unique, text, len, complete);
    return st;
}

static void gc_reset(void *state) {
    grammar_constraint *g = state;
    /* A clone of the entry's start state keeps the shared mask cache. */
    vka_grammar_state *fresh = NULL;
    if (g->lease.entry && vka_vocab_grammar_restart(&g->lease, &fresh) == VKA_OK) {
        vka_grammar_state_free(g->lease.state);
        g->lease.state = fresh;
    }
    if (g->unique) su_guard_reset(g->unique);
}

static void gc_free(void *state) {
    grammar_constraint *g = state;
    if (!g) return;
    vka_vocab_grammar_put(g->vocab, &g->lease);
    su_guard_free(g->unique);
    free(g);
}

vka_status vka_structured_gbnf(const vka_sampling_params *p, char **gbnf, const char **root) {
    *gbnf = NULL;
    *root = "root";
    if (p->grammar) {
        *gbnf = strdup(p->grammar);
        if (p->grammar_root) *root = p->grammar_root;
    } else if (p->json_schema) {
        VKA_TRY(vka_json_schema_to_grammar(p->json_schema, p->json_schema_flags, gbnf, NULL));
    } else if (p->json) {
        /* any JSON value is the schema `true`, with the same options */
        VKA_TRY(vka_json_schema_to_grammar("true", p->json_schema_flags, gbnf, NULL));
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
    if (st == VKA_OK) {
        g->vocab = vocab;
        st = vka_vocab_grammar_get(vocab, gbnf, root, &g->lease);
    }
    if (st == VKA_OK) st = vka_vocab_grammar_vocab(vocab, &g->gvocab);
    if (st == VKA_OK) st = su_guard_create(vocab, gbnf, &g->unique);
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
        .can_end = gc_can_end,
        .text_complete = gc_text_complete,
    };
    return VKA_OK;
}
