/* vocab_grammar.h — what constrained sampling keeps per vocabulary: the
 * prefix trie of every token's bytes, and recently used grammars together
 * with their per-position mask caches (agents ask for the same tool-call
 * schema step after step; rebuilding the masks each time costs tens of ms
 * per position with a 150k-token vocabulary). */
#ifndef VKA_VOCAB_GRAMMAR_H
#define VKA_VOCAB_GRAMMAR_H

#include "structured/grammar.h"
#include "text/vocab.h"

/* The vocabulary's piece trie, built on first use (thread-safe). */
vka_status vka_vocab_grammar_vocab(const vka_vocab *vocab, const vka_grammar_vocab **out);

/* A grammar for (gbnf, root) and a fresh start state: from the cache when an
 * entry is free (its mask cache comes along), else parsed anew. The pair is
 * used by one sampler at a time; give it back with vka_vocab_grammar_put. */
typedef struct vka_grammar_lease {
    vka_grammar *grammar;
    vka_grammar_state *state;
    struct vka_grammar_cache_entry *entry;   /* NULL when not cached */
} vka_grammar_lease;

vka_status vka_vocab_grammar_get(const vka_vocab *vocab, const char *gbnf, const char *root, vka_grammar_lease *out);
/* A new start state in the lease's family (the sampler's reset). */
vka_status vka_vocab_grammar_restart(const vka_grammar_lease *lease, vka_grammar_state **out);

void vka_vocab_grammar_put(const vka_vocab *vocab, vka_grammar_lease *lease);

/* Frees the trie and the cache (vka_vocab_free). */
void vka_vocab_grammar_release(vka_vocab *vocab);

#endif
