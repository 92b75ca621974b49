/* grammar_impl.h — internals shared by the grammar files: the parsed syntax
 * tree, the compiled automaton, and the matcher's frame store and walks. */
#ifndef VKA_GRAMMAR_IMPL_H
#define VKA_GRAMMAR_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "structured/grammar.h"

#define G_NONE UINT32_MAX
#define G_MAX_CP 0x10FFFFu

/* ---------------------------------------------------------------- arena */

typedef struct g_arena_chunk g_arena_chunk;
typedef struct g_arena {
    g_arena_chunk *head;
} g_arena;

void *g_arena_alloc(g_arena *arena, size_t size);
void g_arena_free(g_arena *arena);

/* Growable array helper: ensures room for `need` elements of `elem` bytes. */
bool g_grow(void **ptr, uint32_t *cap, uint32_t need, size_t elem);

/* The same, checked here first: hot loops skip the call while there is room. */
static inline bool g_reserve(void **ptr, uint32_t *cap, uint32_t need, size_t elem) {
    return need <= *cap || g_grow(ptr, cap, need, elem);
}

/* ---------------------------------------------------------------- syntax tree */

typedef enum g_node_kind {
    G_ALT,      /* kids: alternatives */
    G_SEQ,      /* kids: in order */
    G_CLASS,    /* one code point of class `cls` */
    G_REF,      /* rule `rule` */
    G_REPEAT,   /* kids[0] repeated min..max times (max G_NONE: unbounded) */
} g_node_kind;

typedef struct g_node {
    g_node_kind kind;
    uint32_t offset;            /* byte offset in the grammar text, for messages */
    uint32_t n_kids;
    struct g_node **kids;
    uint32_t min, max;
    uint32_t cls;
    uint32_t rule;
} g_node;

typedef struct g_range {
    uint32_t lo, hi;
} g_range;

typedef struct g_class {
    uint32_t first, count;      /* sorted, disjoint, non-adjacent ranges in the range pool */
    uint32_t ascii[4];          /* bitmap of the ASCII code points it matches */
} g_class;

typedef struct g_rule {
    char *name;
    uint32_t offset;            /* of the definition; G_NONE while only referenced */
    uint32_t ref_offset;        /* first reference, for "undefined rule" */
    g_node *body;
} g_rule;

typedef struct g_syntax {
    const char *text;
    g_arena arena;
    g_rule *rules;
    uint32_t n_rules, cap_rules;
    g_class *classes;
    uint32_t n_classes, cap_classes;
    g_range *ranges;
    uint32_t n_ranges, cap_ranges;
} g_syntax;

/* Parses GBNF into `syn` (rules resolved, classes normalized). On error the
 * message is set and syn still must be released with g_syntax_free. */
vka_status g_parse(const char *text, g_syntax *syn);
void g_syntax_free(g_syntax *syn);

/* "line L, column C" (1-based, columns in characters) of a byte offset. */
void g_line_col(const char *text, uint32_t offset, uint32_t *line, uint32_t *col);

/* ---------------------------------------------------------------- compiled grammar */

/* BOUNDED: the state lies in a rule (kept, not inlined: too large) that
 * matches a bounded number of characters and then returns, so what follows
 * it depends on its caller (one character of a string, say). */
enum { G_FLAG_FINAL = 1, G_FLAG_EXIT_ONLY = 2, G_FLAG_BOUNDED = 4 };

struct vka_grammar {
    uint32_t n_states;
    uint32_t root_start;
    /* TERM edges of each state: [term_off[s], term_off[s+1]) */
    uint32_t *term_off, *term_cls, *term_to;
    /* epsilon closure of each state: the states in it that have TERM edges, */
    uint32_t *clo_term_off, *clo_term;
    /* the rule calls in it (callee start state, return state), */
    uint32_t *clo_call_off, *clo_call_start, *clo_call_ret;
    /* and whether it reaches the end of its rule (G_FLAG_*). */
    uint8_t *flags;
    g_class *classes;
    uint32_t n_classes;
    g_range *ranges;
};

vka_status g_compile(const g_syntax *syn, uint32_t root_rule, vka_grammar *out);

static inline bool g_class_has(const vka_grammar *g, uint32_t cls, uint32_t cp) {
    const g_class *c = &g->classes[cls];
    if (cp < 128) return (c->ascii[cp >> 5] >> (cp & 31)) & 1u;
    const g_range *r = g->ranges + c->first;
    for (uint32_t i = 0; i < c->count; i++) {
        if (cp < r[i].lo) return false;
        if (cp <= r[i].hi) return true;
    }
    return false;
}

static inline bool g_class_meets(const vka_grammar *g, uint32_t cls, uint32_t lo, uint32_t hi) {
    const g_class *c = &g->classes[cls];
    const g_range *r = g->ranges + c->first;
    for (uint32_t i = 0; i < c->count; i++)
        if (r[i].lo <= hi && lo <= r[i].hi) return true;
    return false;
}

/* ---------------------------------------------------------------- matcher internals */

/* A stack frame: a position (automaton state) and the frame below it.
 * Frames are interned, so equal stacks are equal indices. */
#define G_FRAME_EMPTY 0u        /* below the root: the grammar is complete */
#define G_FRAME_CONTEXT 1u      /* unknown context (context-free mask precomputation) */

typedef struct g_frame {
    uint32_t state, parent;
    uint32_t item_mark, top_mark;
} g_frame;

/* One step of a walk: the stack tops after some bytes, and any incomplete
 * UTF-8 character (its bits so far, continuation bytes still needed). */
typedef struct g_level {
    uint32_t set_begin, set_end;    /* tops in g_ctx.buf */
    uint32_t cp, need, total;
    uint32_t frame_mark;            /* frames count when this level was made */
    bool has_context;               /* G_FRAME_CONTEXT is among the tops */
    bool context_before;            /* some path popped into the unknown context earlier */
} g_level;

/* Rank ranges: pairs [b, e), ascending. */
typedef struct g_ranges {
    uint32_t *items;
    uint32_t n, cap;
} g_ranges;

/* Appends [b, e), merged with the last range when they touch; false when out of memory. */
bool g_ranges_add(g_ranges *r, uint32_t b, uint32_t e);

typedef struct g_fill g_fill;
typedef struct g_table g_table;

typedef struct g_ctx {
    uint32_t refs;
    const vka_grammar *g;
    /* frame store */
    g_frame *frames;
    uint32_t n_frames, cap_frames;
    uint64_t *keys;
    uint32_t *vals;
    uint32_t table_bits, table_used;
    uint32_t epoch;
    uint32_t gc_threshold;
    /* live states, for collecting unreachable frames */
    vka_grammar_state *live;
    /* walk scratch */
    g_level *levels;
    uint32_t n_levels, cap_levels;
    uint32_t *buf;
    uint32_t n_buf, cap_buf;
    uint32_t *work;
    uint32_t n_work, cap_work;
    /* mask caches for one vocabulary (grammar_mask.c) */
    uint64_t cache_serial;
    g_table *positions;             /* tokens the positions on top accept whatever lies below them */
    g_table *memo;                  /* whole masks by stack configuration */
    g_fill *fill;                   /* fills the position cache (grammar_fill.c) */
    uint32_t *bits_a, *bits_b, *bits_id, n_bits_words;
    g_ranges acc, unc;
    float *saved;                   /* logits kept while the rest are masked */
    uint32_t cap_saved;
} g_ctx;

struct vka_grammar_state {
    g_ctx *ctx;
    uint32_t *tops;
    uint32_t n_tops, cap_tops;
    uint32_t cp, need, total;
    vka_grammar_state *prev_live, *next_live;
};

/* The frame (state, parent), made if new; G_NONE with the error set on failure. */
uint32_t g_frame_intern(g_ctx *c, uint32_t state, uint32_t parent);

/* A frame store and walk scratch of its own (states make theirs; fills too). */
g_ctx *g_ctx_create(const vka_grammar *g);
void g_ctx_release(g_ctx *c);

/* Walks: levels[0] from a state, from given tops (with the incomplete
 * character and context flags of `proto`), or from one frame over an unknown context. */
vka_status g_walk_start_state(g_ctx *c, const vka_grammar_state *st);
vka_status g_walk_start_set(g_ctx *c, const uint32_t *tops, uint32_t n, const g_level *proto);
vka_status g_walk_start_context_free(g_ctx *c, uint32_t automaton_state);
/* Appends the level reached from the last level by one byte (possibly dead). */
vka_status g_walk_push(g_ctx *c, uint8_t byte);
/* Drops levels above `depth` (levels[0..depth] remain); frames made by the
 * dropped levels are forgotten when `forget_frames`. */
void g_walk_pop_to(g_ctx *c, uint32_t depth, bool forget_frames);
/* Forgets all frames made since `mark` (most recent first). */
void g_frames_rollback(g_ctx *c, uint32_t mark);

/* Forgets the whole masks remembered by stack configuration (frames renumbered). */
void g_mask_memo_clear(g_ctx *c);
/* Frees the mask caches of a family (its last state is gone). */
void g_mask_caches_free(g_ctx *c);

/* Collects unreachable frames when many have piled up (between walks only). */
vka_status g_ctx_maybe_collect(g_ctx *c);
/* Replaces a state's stack tops (no incomplete character). */
vka_status g_state_set_tops(vka_grammar_state *st, const uint32_t *tops, uint32_t n);
/* The mask by a plain walk of the whole trie, without the per-position cache
 * (for tests comparing the two). */
vka_status g_mask_bits_uncached(const vka_grammar_state *st, const vka_grammar_vocab *v, uint32_t *bits);

static inline bool g_level_alive(const g_level *l) { return l->set_end > l->set_begin; }

/* ---------------------------------------------------------------- vocabulary */

typedef struct g_trie_node {
    uint32_t first_child;
    uint32_t rank_begin;        /* tokens in this subtree: ranks [rank_begin, rank_end) */
    uint32_t rank_here_end;     /* of which [rank_begin, rank_here_end) end exactly here */
    uint32_t rank_end;
    uint16_t n_children;
    uint8_t byte;
} g_trie_node;

/* Code points above ASCII fall into these groups, ranges in order (the
 * surrogates in none): the characters JSON Schema patterns single out
 * (Unicode spaces, line terminators, NEL, the BOM) stand alone, so most
 * classes hold a group wholly or not at all. */
#define G_GROUPS 20
uint32_t g_group_of(uint32_t cp);                     /* cp above ASCII, not a surrogate */
uint32_t g_groups_of_range(uint32_t lo, uint32_t hi); /* bit g: group g meets [lo, hi] */
uint32_t g_group_first(uint32_t g);                   /* its first code point */
extern const uint32_t g_group_starts[G_GROUPS + 1];   /* the same, then 0x110000 */

/* A set of characters: the ASCII ones, the groups of the others, and
 * whether the strings it was taken from are whole UTF-8 characters (the
 * last one possibly incomplete; its groups are those it may become). */
enum { G_CHARS_VALID = 1 };
typedef struct g_charset {
    uint32_t ascii[4];
    uint32_t groups;
    uint32_t flags;
} g_charset;

struct vka_grammar_vocab {
    uint32_t n_tokens;
    uint64_t serial;            /* identifies the vocabulary in mask caches */
    char *bytes;
    uint32_t *offset;           /* token i: bytes[offset[i], offset[i+1]) */
    uint32_t *sorted;           /* rank -> token id, pieces in byte order */
    uint32_t n_sorted;
    uint32_t *rank_of;          /* token id -> rank, G_NONE for empty pieces and EOG */
    uint32_t *unranked;         /* those ids, ascending */
    uint32_t n_unranked;
    uint8_t *eog;
    g_trie_node *nodes;         /* breadth first: descendants after their node */
    uint32_t n_nodes;
    /* what the tokens below each node hold after the node's prefix (after
     * the rest of its last character when the prefix ends inside one): */
    uint32_t *node_charset;     /* their characters, an index into charsets */
    uint8_t *node_chars;        /* the most characters one of them has (capped 255) */
    uint8_t *node_char_left;    /* continuation bytes the prefix's last character still needs */
    g_charset *charsets;        /* the distinct sets */
    uint32_t n_charsets;
    uint8_t *rank_chars;        /* per rank: the characters of the piece (lead and ASCII bytes, capped 255) */
    uint32_t max_len;
};

static inline const unsigned char *g_piece(const vka_grammar_vocab *v, uint32_t id, uint32_t *len) {
    *len = v->offset[id + 1] - v->offset[id];
    return (const unsigned char *)v->bytes + v->offset[id];
}

/* ---------------------------------------------------------------- fills */

/* The fill engine of one family of states (grammar_fill.c); NULL when out of memory. */
g_fill *g_fill_create(const vka_grammar *g);
void g_fill_free(g_fill *f);
/* How many DFA states it holds (for tests and diagnostics). */
uint32_t g_fill_dfa_states(const g_fill *f);
/* Positions for fills: pairs (automaton state, below), below the state of
 * the frame under it, or one of these. */
#define G_FILL_CONTEXT G_NONE           /* the unknown context */
#define G_FILL_BOTTOM (G_NONE - 1)      /* the empty stack */

/* Tokens (ranks) that the positions pairs[0 .. 2n) accept on top of any
 * stacks, after the incomplete character of `partial` (cp, need, total),
 * into acc; those that leave them and so depend on the stack below, into unc. */
vka_status g_fill_run(g_fill *f, const vka_grammar_vocab *v, const uint32_t *pairs, uint32_t n, const g_level *partial,
                      g_ranges *acc, g_ranges *unc);
/* Tokens (ranks) that the real stacks `tops` (frames of `from`) accept after
 * the incomplete character of `partial`, into acc: a whole walk. */
vka_status g_fill_run_stacks(g_fill *f, const vka_grammar_vocab *v, const g_ctx *from, const uint32_t *tops, uint32_t n,
                             const g_level *partial, g_ranges *acc);
/* Sets in `allowed` the bits of the tokens (ranks) with bits in `todo` that
 * the real stacks `tops` (frames of `from`) accept after the incomplete
 * character of `partial`. */
vka_status g_fill_check(g_fill *f, const vka_grammar_vocab *v, const g_ctx *from, const uint32_t *tops, uint32_t n,
                        const g_level *partial, const uint32_t *todo, uint32_t *allowed);

#endif
