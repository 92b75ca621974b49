/* grammar_dfa.h — a lazily built DFA over bytes on top of the matcher, for
 * walks over the vocabulary trie: a DFA state is a set of stack tops (in a
 * frame store of its own) with any incomplete character, made once, and its
 * successors are computed on first use and then looked up. */
#ifndef VKA_GRAMMAR_DFA_H
#define VKA_GRAMMAR_DFA_H

#include "grammar_impl.h"

/* Dead states: plain, and after a path that left the starting rule into the
 * unknown context (the tokens there depend on the real stack). */
#define G_DFA_DEAD 0u
#define G_DFA_DEAD_CONTEXT 1u
#define G_DFA_FIRST 2u

typedef struct g_dfa_state {
    uint32_t tops, n_tops;      /* frames in tops_pool, sorted */
    uint32_t cp;                /* an incomplete character: its bits so far, */
    uint8_t need, total;        /* continuation bytes still needed, its length */
    bool has_context, context_before;
    bool non_ascii_uniform;     /* every class on its edges holds all code points above ASCII or none */
    uint64_t hash;
    uint32_t trans;             /* 256 successors in trans_pool; G_NONE until the first is needed */
    uint32_t chars;             /* its g_dfa_chars in chars_pool; G_NONE until needed */
} g_dfa_state;

/* How the characters move a state, as far as skipping subtrees needs it.
 * ASCII characters fall into cells: those of one cell are taken by the same
 * edges (so lead to the same successor). */
enum { G_NA_NONE, G_NA_ALL, G_NA_PARTIAL };
typedef struct g_dfa_chars {
    uint32_t start[4];          /* ASCII characters some edge takes */
    uint32_t like_non_ascii[4]; /* ASCII characters every edge treats as it treats those above ASCII */
    bool non_ascii;             /* some edge takes characters above ASCII */
    bool non_ascii_alike;       /* ... and every edge takes all of them or none */
    uint64_t next_ok;           /* the bytes 0xC0 + i (no incomplete character) or 0x80 + i (one
                                 * pending) that may continue: some edge takes a character they can start */
    uint8_t cell[128];          /* each ASCII character's cell: an index into cells */
    uint32_t cells;             /* masks of the cells (4 words each) in cell_pool */
} g_dfa_chars;

typedef struct g_dfa {
    g_ctx *ctx;                 /* the frames of the DFA's states */
    const vka_grammar *g;
    uint8_t *class_na;          /* G_NA_* per class */
    g_dfa_state *states;
    uint32_t n_states, cap_states;
    uint32_t *tops_pool, n_tops_pool, cap_tops_pool;
    uint32_t *trans_pool, n_trans_pool, cap_trans_pool;
    g_dfa_chars *chars_pool;
    uint32_t n_chars_pool, cap_chars_pool;
    uint32_t *cell_pool, n_cell_pool, cap_cell_pool;
    uint32_t *table;            /* open addressing: state ids, G_NONE empty */
    uint32_t table_bits;
    uint32_t *scratch, cap_scratch;
    uint64_t generation;        /* counts resets: memos keyed by state ids check it */
} g_dfa;

g_dfa *g_dfa_create(const vka_grammar *g);
void g_dfa_free(g_dfa *d);

/* Drops every state once they pile up; only between walks (ids change). */
vka_status g_dfa_maybe_reset(g_dfa *d);

/* The state of the positions pairs[0 .. 2n) (see G_FILL_CONTEXT) after the
 * incomplete character of `partial` (cp, need, total). */
vka_status g_dfa_start_positions(g_dfa *d, const uint32_t *pairs, uint32_t n, const g_level *partial, uint32_t *out);
/* The state of real stacks: tops are frames of `from`, copied in with
 * everything below them; the incomplete character of `partial`. */
vka_status g_dfa_start_stacks(g_dfa *d, const g_ctx *from, const uint32_t *tops, uint32_t n, const g_level *partial,
                              uint32_t *out);

vka_status g_dfa_step_new(g_dfa *d, uint32_t s, uint8_t byte, uint32_t *out);

/* The successor of state s (not dead) after one byte. */
static inline vka_status g_dfa_step(g_dfa *d, uint32_t s, uint8_t byte, uint32_t *out) {
    uint32_t t = d->states[s].trans;
    if (t != G_NONE && d->trans_pool[t + byte] != G_NONE) {
        *out = d->trans_pool[t + byte];
        return VKA_OK;
    }
    return g_dfa_step_new(d, s, byte, out);
}

/* The state after the rest of state s's incomplete character, when which
 * character it becomes cannot matter (non_ascii_uniform). */
vka_status g_dfa_complete(g_dfa *d, uint32_t s, uint32_t *out);

/* How characters move state s: made on first use (the cells only when it
 * has no incomplete character). */
vka_status g_dfa_chars_of(g_dfa *d, uint32_t s, const g_dfa_chars **out);

#endif
