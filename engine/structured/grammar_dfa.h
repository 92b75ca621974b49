/* grammar_dfa.h — a lazily built DFA over bytes on top of the matcher, for
 * walks over the vocabulary trie: a DFA state is a set of stack tops (in a
 * frame store of its own) with any incomplete character, made once, and its
 * successors are computed on first use and then looked up. */
#ifndef VKA_GRAMMAR_DFA_H
#define VKA_GRAMMAR_DFA_H

#include "structured/grammar_impl.h"

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
    bool partial_alike;         /* all that its incomplete character may become is alike for its edges */
    uint64_t hash;
    uint32_t trans;             /* 256 successors in trans_pool; G_NONE until the first is needed */
    uint32_t chars;             /* its g_dfa_chars in chars_pool; G_NONE until needed */
} g_dfa_state;

/* How the characters move a state, as far as skipping subtrees needs it.
 * ASCII characters and the groups of the others (G_GROUPS) fall into cells:
 * those of one cell are taken by the same edges, so lead to the same
 * successor (a group only when no edge holds part of it: mixed_groups). */
typedef struct g_dfa_chars {
    uint32_t start[4];          /* ASCII characters some edge takes */
    uint64_t next_ok;           /* the bytes 0xC0 + i (no incomplete character) or 0x80 + i (one
                                 * pending) that may continue: some edge takes a character they can start */
    uint32_t mixed_groups;      /* groups some edge holds only in part */
    uint8_t cell[128 + G_GROUPS]; /* the cell of each ASCII character, then of each group */
    uint8_t high_rep[64];       /* for 0xC0 + i (no incomplete character) or 0x80 + i (one pending):
                                 * the lowest byte that leads to the same state */
    uint32_t cells;             /* the cells' masks in cell_pool, 5 words each (ASCII, then groups) */
} g_dfa_chars;

typedef struct g_dfa {
    g_ctx *ctx;                 /* the frames of the DFA's states */
    const vka_grammar *g;
    uint32_t *class_all, *class_some;   /* per class: the groups it holds wholly, in part */
    uint64_t *class_lead;       /* per class: the lead bytes (bit b - 0xC0) of characters it holds */
    uint32_t *class_mark, class_epoch;  /* classes already seen while describing a state */
    uint8_t *class_ready;       /* class_all, class_some and class_lead are worked out (on first use) */
    uint32_t lead_key[64];      /* lead byte 0xC0 + i: the groups of its characters and what may follow it */
    uint64_t *canon_keys;       /* incomplete characters that behave alike -> the bits that stand for them */
    uint32_t *canon_cps, canon_bits, canon_used;
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
 * character it becomes cannot matter (partial_alike). */
vka_status g_dfa_complete(g_dfa *d, uint32_t s, uint32_t *out);

/* How characters move state s: made on first use. */
vka_status g_dfa_chars_make(g_dfa *d, uint32_t s, const g_dfa_chars **out);

static inline vka_status g_dfa_chars_of(g_dfa *d, uint32_t s, const g_dfa_chars **out) {
    if (d->states[s].chars != G_NONE) return *out = &d->chars_pool[d->states[s].chars], VKA_OK;
    return g_dfa_chars_make(d, s, out);
}

#endif
