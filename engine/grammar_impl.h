/* grammar_impl.h — internals shared by the grammar files: the parsed syntax
 * tree, the compiled automaton, and the matcher's frame store and walks. */
#ifndef VKA_GRAMMAR_IMPL_H
#define VKA_GRAMMAR_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "grammar.h"

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

enum { G_FLAG_FINAL = 1, G_FLAG_EXIT_ONLY = 2 };

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

typedef struct g_cache_entry {
    uint32_t *acc, n_acc;           /* rank ranges [b, e) accepted whatever the context */
    uint32_t *unc, n_unc;           /* rank ranges needing the real stack */
} g_cache_entry;

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
    /* mask cache for one vocabulary */
    uint64_t cache_serial;
    g_cache_entry **cache;
    uint32_t *bits_a, *bits_b, n_bits_words;
    uint32_t *ranges_tmp, n_ranges_tmp, cap_ranges_tmp;
    uint32_t *ranges_tmp2, n_ranges_tmp2, cap_ranges_tmp2;
} g_ctx;

struct vka_grammar_state {
    g_ctx *ctx;
    uint32_t *tops;
    uint32_t n_tops, cap_tops;
    uint32_t cp, need, total;
    vka_grammar_state *prev_live, *next_live;
};

/* Walks: levels[0] from a state or from one frame over an unknown context. */
vka_status g_walk_start_state(g_ctx *c, const vka_grammar_state *st);
vka_status g_walk_start_context_free(g_ctx *c, uint32_t automaton_state);
/* Appends the level reached from the last level by one byte (possibly dead). */
vka_status g_walk_push(g_ctx *c, uint8_t byte);
/* Drops levels above `depth` (levels[0..depth] remain); frames made by the
 * dropped levels are forgotten when `forget_frames`. */
void g_walk_pop_to(g_ctx *c, uint32_t depth, bool forget_frames);
/* Forgets all frames made since `mark` (most recent first). */
void g_frames_rollback(g_ctx *c, uint32_t mark);

/* Collects unreachable frames when many have piled up (between walks only). */
vka_status g_ctx_maybe_collect(g_ctx *c);
/* Replaces a state's stack tops (no incomplete character). */
vka_status g_state_set_tops(vka_grammar_state *st, const uint32_t *tops, uint32_t n);
/* The mask by a plain walk of the whole trie, without the per-position cache
 * (for tests comparing the two). */
vka_status g_mask_bits_uncached(const vka_grammar_state *st, const vka_grammar_vocab *v, uint32_t *bits);

static inline bool g_level_alive(const g_level *l) { return l->set_end > l->set_begin; }

#endif
