/* regex_impl.h — internals of the regular-language module (regex.h): sets of
 * code point ranges, Thompson NFAs, complete DFAs over a partition of the code
 * points, the parsed pattern tree, and languages with counted pieces. */
#ifndef VKA_REGEX_IMPL_H
#define VKA_REGEX_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "structured/regex.h"
#include "base/status.h"

/* Strings are sequences of Unicode scalar values: 0..0x10FFFF without the
 * surrogates, which UTF-8 cannot carry (so no document can hold them). */
#define RE_CP_END 0x110000u
#define RE_SURR_LO 0xD800u
#define RE_SURR_HI 0xDFFFu

/* Limits: a language needing more is VKA_ERR_GRAMMAR ("too complex"). */
#define RE_MAX_DFA_STATES 50000u
#define RE_MAX_NFA_STATES 400000u
#define RE_MAX_PIECES 256u
#define RE_MAX_SUBSET_ENTRIES 4000000u   /* NFA states in all the sets of one subset construction */
/* Counted repetitions of one class above this count stay counters (pieces)
 * instead of being unrolled into automaton states. */
#define RE_PIECE_MIN_COUNT 64u

/* ---------------------------------------------------------------- range sets (regex_ranges.c) */

typedef struct re_range {
    uint32_t lo, hi;   /* inclusive */
} re_range;

/* A set of code points: after re_rs_normalize, sorted, disjoint, not adjacent. */
typedef struct re_ranges {
    re_range *r;
    size_t n;
    uint32_t cap;
} re_ranges;

/* The index of the range holding cp in sorted disjoint ranges, or SIZE_MAX. */
size_t re_range_find(const re_range *r, size_t n, uint32_t cp);
bool re_rs_add(re_ranges *s, uint32_t lo, uint32_t hi);
void re_rs_normalize(re_ranges *s);
bool re_rs_copy(re_ranges *dst, const re_ranges *src);
bool re_rs_add_set(re_ranges *dst, const re_ranges *src);
/* The complement within the scalar values (surrogates never included). */
bool re_rs_complement(const re_ranges *s, re_ranges *out);
bool re_rs_intersect(const re_ranges *a, const re_ranges *b, re_ranges *out);
/* Removes the surrogates (normalized sets stay normalized). */
bool re_rs_scalar(re_ranges *s);
bool re_rs_has(const re_ranges *s, uint32_t cp);
bool re_rs_equal(const re_ranges *a, const re_ranges *b);
void re_rs_free(re_ranges *s);
/* Adds the other case of every letter whose case pairs are in `mode`. */
typedef enum re_case {
    RE_CASE_EXACT = 0,
    RE_CASE_ASCII,     /* ECMA-262 "i" without "u" on ASCII patterns: a-z <-> A-Z */
    RE_CASE_UNICODE,   /* "iu" on patterns whose non-ASCII classes are already case-closed:
                          a-z <-> A-Z, plus U+017F <-> s and U+212A <-> k (simple case folding) */
} re_case;
bool re_rs_case_close(re_ranges *s, re_case mode);

/* A hash table of dense ids 0..n-1 whose keys live elsewhere (interned
 * classes, subset states, state pairs): open addressing, linear probing. */
typedef struct re_idtab {
    uint32_t *slots;   /* UINT32_MAX: empty */
    size_t cap;        /* a power of two */
} re_idtab;

typedef uint64_t (*re_id_hash)(const void *ctx, uint32_t id);
/* Room for id n (rehashing ids 0..n-1 with hash when it grows). */
bool re_idtab_reserve(re_idtab *t, uint32_t n, re_id_hash hash, const void *ctx);
static inline size_t re_idtab_slot(const re_idtab *t, uint64_t h) { return h & (t->cap - 1); }
static inline size_t re_idtab_step(const re_idtab *t, size_t at) { return (at + 1) & (t->cap - 1); }
void re_idtab_free(re_idtab *t);
uint64_t re_hash_u32s(const uint32_t *v, size_t n);
uint64_t re_hash_u64(uint64_t k);

/* ---------------------------------------------------------------- DFAs (regex_dfa.c, regex_ops.c) */

/* A complete DFA. The scalar values are cut into `n_ranges` sorted disjoint
 * ranges (covering all of them), each mapped to one of `n_syms` symbols;
 * next[state * n_syms + sym] is the transition. Immutable once built and
 * shared by an atomic reference count (the formats are cached and shared
 * between threads). */
typedef struct re_dfa {
    _Atomic uint32_t refs;
    uint32_t n_states, n_syms, start;
    size_t n_ranges;
    re_range *ranges;
    uint32_t *range_sym;
    uint32_t *next;
    uint8_t *accept;
} re_dfa;

re_dfa *re_dfa_ref(re_dfa *d);
void re_dfa_unref(re_dfa *d);
/* A DFA with n states over the partition given by `ranges` (n_syms symbols),
 * transitions all to state 0 and nothing accepting. */
vka_status re_dfa_alloc(uint32_t n_states, const re_range *ranges, const uint32_t *range_sym, size_t n_ranges,
                        uint32_t n_syms, re_dfa **out);
/* The minimal DFA of the same language, states numbered breadth-first from
 * the start (so equal languages give equal DFAs), symbols merged where they
 * behave alike. Consumes `d` (unref). */
vka_status re_dfa_minimize(re_dfa *d, re_dfa **out);

uint32_t re_dfa_sym(const re_dfa *d, uint32_t cp);      /* UINT32_MAX for a surrogate or >= 0x110000 */
uint32_t re_dfa_step(const re_dfa *d, uint32_t state, uint32_t cp);   /* UINT32_MAX: no scalar value */
bool re_dfa_accepts(const re_dfa *d, const uint32_t *cps, size_t n);
/* The state from which nothing is accepted (UINT32_MAX if none). */
uint32_t re_dfa_dead(const re_dfa *d);
/* The state from which everything is accepted (UINT32_MAX if none). */
uint32_t re_dfa_universal(const re_dfa *d);
bool re_dfa_is_empty(const re_dfa *d);
/* The code points of symbol `sym`. */
bool re_dfa_sym_ranges(const re_dfa *d, uint32_t sym, re_ranges *out);

vka_status re_dfa_empty(re_dfa **out);
vka_status re_dfa_epsilon(re_dfa **out);
vka_status re_dfa_any(re_dfa **out);                     /* every string */
vka_status re_dfa_class(const re_ranges *cls, re_dfa **out);   /* one code point of cls */

typedef enum re_setop { RE_AND, RE_OR, RE_MINUS } re_setop;
vka_status re_dfa_product(const re_dfa *a, const re_dfa *b, re_setop op, re_dfa **out);
vka_status re_dfa_complement(const re_dfa *a, re_dfa **out);
bool re_dfa_equal(const re_dfa *a, const re_dfa *b);      /* both minimal */
/* a is a subset of b; *ok false on failure (then the answer is false). */
vka_status re_dfa_subset(const re_dfa *a, const re_dfa *b, bool *yes);
/* Every accepted string has this length; -1 when lengths differ or none is accepted. */
int64_t re_dfa_fixed_width(const re_dfa *d);
/* Length of the longest accepted string; -1 when unbounded or empty. */
int64_t re_dfa_longest(const re_dfa *d);
/* A shortest accepted string (code points, malloc'ed); *n = SIZE_MAX when empty. */
vka_status re_dfa_shortest(const re_dfa *d, uint32_t **cps, size_t *n);
/* The strings of d with lo <= length <= hi (hi may be RE_UNBOUNDED), by a
 * product with a counter; VKA_ERR_GRAMMAR when that exceeds the state limit. */
vka_status re_dfa_limit_length(const re_dfa *d, uint64_t lo, uint64_t hi, re_dfa **out);
/* Concatenation and repetition, through NFAs. */
vka_status re_dfa_concat(const re_dfa *a, const re_dfa *b, re_dfa **out);
vka_status re_dfa_repeat(const re_dfa *a, uint64_t min, uint64_t max, re_dfa **out);

/* ---------------------------------------------------------------- NFAs (regex_nfa.c, regex_subset.c) */

#define RE_EPS UINT32_MAX           /* an empty edge */
#define RE_BOL (UINT32_MAX - 1)     /* an empty edge taken only at the start of the string (^) */
#define RE_LOOK_BIT 0x80000000u     /* an empty edge starting lookahead number (cls & ~RE_LOOK_BIT) */

typedef struct re_nfa_edge {
    uint32_t from, to, cls;   /* cls: a class index, RE_EPS, RE_BOL or RE_LOOK_BIT | lookahead */
} re_nfa_edge;

/* An obligation automaton: the DFA of X·Σ* for a lookahead (?=X) or (?!X),
 * run on the rest of the string; it holds when the DFA accepts at the end
 * (X may hold $). From its universal state (accepting whatever follows) or
 * its dead state the outcome is known early. */
typedef struct re_auto {
    re_dfa *dfa;
    bool negated;
    uint32_t dead, universal;
} re_auto;

/* A lookahead: its automaton when met at the start of the string (where ^
 * inside it holds) and later. */
typedef struct re_look {
    uint32_t at_start, later;
    const void *key;          /* what it was built from (its pattern node): repetitions share it */
} re_look;

typedef struct re_nfa {
    uint32_t n_states;
    re_nfa_edge *edges;
    uint32_t n_edges, cap_edges;
    re_ranges *classes;          /* interned: equal classes share an index */
    uint32_t n_classes, cap_classes;
    re_idtab class_ids;
    re_auto *autos;
    uint32_t n_autos, cap_autos;
    re_look *looks;
    uint32_t n_looks, cap_looks;
    bool failed;                 /* allocation failure, too many states, or `status`: sticks */
    bool too_big;
    vka_status status;           /* the first error met while building, if any */
} re_nfa;

/* A fragment: the states between `in` and `out` (one entry, one exit). */
typedef struct re_frag {
    uint32_t in, out;
} re_frag;

uint32_t re_nfa_state(re_nfa *n);
void re_nfa_eps(re_nfa *n, uint32_t from, uint32_t to);
void re_nfa_bol_edge(re_nfa *n, uint32_t from, uint32_t to);
/* The lookahead built from `key`, or UINT32_MAX. */
uint32_t re_nfa_look_find(const re_nfa *n, const void *key);
/* A new lookahead, taking the references of both DFAs (one reference when
 * they are the same); its number (UINT32_MAX on failure). */
uint32_t re_nfa_add_look(re_nfa *n, const void *key, re_dfa *at_start, re_dfa *later, bool negated);
void re_nfa_look_edge(re_nfa *n, uint32_t from, uint32_t to, uint32_t look);
/* An edge on the class (interned copy). */
void re_nfa_class_edge(re_nfa *n, uint32_t from, uint32_t to, const re_ranges *cls);
uint32_t re_nfa_class_id(re_nfa *n, const re_ranges *cls);
void re_nfa_edge_to(re_nfa *n, uint32_t from, uint32_t to, uint32_t cls_id);
/* The DFA's language as a fragment. */
re_frag re_nfa_add_dfa(re_nfa *n, const re_dfa *d);
/* Records an error met while building (the first one is kept). */
void re_nfa_fail(re_nfa *n, vka_status status);
void re_nfa_free(re_nfa *n);
/* Subset construction then minimization; VKA_ERR_GRAMMAR beyond the limits.
 * The start closure is at the start of the string (^ edges hold there). */
vka_status re_nfa_to_dfa(const re_nfa *n, uint32_t start, uint32_t final, re_dfa **out);
/* The same, with ^ edges holding at the start only when at_start. */
vka_status re_nfa_to_dfa_at(const re_nfa *n, uint32_t start, uint32_t final, bool at_start, re_dfa **out);

/* The partition of the code points for a subset construction: atoms cut at
 * every boundary of the classes and automata, grouped into symbols. */
typedef struct re_alphabet {
    re_range *atoms;          /* disjoint ranges covering the scalar values */
    uint32_t *atom_sym;
    size_t n_atoms;
    uint32_t n_syms;
    uint32_t *cls_off, *cls_syms;   /* symbols of class c: cls_syms[cls_off[c] .. cls_off[c + 1]) */
    uint32_t *auto_sym;             /* [sym * n_autos + m]: automaton m's symbol */
} re_alphabet;

bool re_alphabet_build(const re_nfa *n, re_alphabet *a);
void re_alphabet_free(re_alphabet *a);
int re_cmp_u32(const void *a, const void *b);
/* Sorts v ascending: insertion for short arrays, else a byte-wise radix sort
 * (passes over bytes that are zero everywhere skipped); false when out of memory. */
bool re_sort_u32(uint32_t *v, size_t n);

/* ---------------------------------------------------------------- languages (regex_lang.c) */

/* pre · cls{min,max} · suf, where pre and suf accept strings of one length
 * each (so every string splits in one way only). */
typedef struct re_piece {
    re_dfa *pre, *suf;
    uint32_t pre_w, suf_w;
    re_ranges cls;
    uint64_t min, max;     /* max may be RE_UNBOUNDED */
} re_piece;

/* The union of a DFA's language and the pieces'. */
struct re_lang {
    re_dfa *dfa;
    re_piece *pieces;
    size_t n_pieces;
};

vka_status re_lang_from_dfa(re_dfa *d, re_lang **out);   /* takes the reference */
vka_status re_lang_piece(const re_ranges *cls, uint64_t min, uint64_t max, re_lang **out);
vka_status re_lang_copy(const re_lang *l, re_lang **out);
vka_status re_lang_concat(const re_lang *a, const re_lang *b, re_lang **out);
/* The language without the empty string. */
vka_status re_lang_nonempty(const re_lang *a, re_lang **out);
/* When the language is a DFA only (no pieces), that DFA (borrowed); else NULL. */
const re_dfa *re_lang_dfa_only(const re_lang *l);
/* Appends a copy of p (no checks). */
vka_status re_lang_add_piece(re_lang *l, const re_piece *p);
/* Adds p: nothing when it is empty, into the DFA when its count is small. */
vka_status re_lang_put_piece(re_lang *l, const re_piece *p);
vka_status re_piece_to_dfa(const re_piece *p, re_dfa **out);
/* d ∩ lengths [lo, hi] as a language: a DFA when small, else counted pieces. */
vka_status re_lang_bounded(const re_dfa *d, uint64_t lo, uint64_t hi, re_lang **out);

/* ---------------------------------------------------------------- patterns (regex_parse.c, regex_compile.c) */

typedef enum re_node_kind {
    RN_EMPTY,      /* matches "" */
    RN_CLASS,      /* one code point of cls */
    RN_CAT,        /* kids in sequence */
    RN_ALT,        /* one of kids */
    RN_REPEAT,     /* kids[0] min..max times */
    RN_BOL,        /* ^ */
    RN_EOL,        /* $ */
    RN_LOOK,       /* (?=kids[0]) or, negated, (?!kids[0]) */
} re_node_kind;

typedef struct re_node {
    re_node_kind kind;
    bool negated;
    bool has_assert;   /* an anchor or lookahead somewhere inside */
    re_ranges cls;
    struct re_node **kids;
    size_t n_kids, cap_kids;
    uint64_t min, max;
    size_t offset;     /* in code points, for messages */
} re_node;

typedef struct re_syntax {
    re_case ci;        /* case-insensitive matching (internal patterns only) */
} re_syntax;

/* Parses an ECMA-262 pattern (u flag) of len bytes of UTF-8. */
vka_status re_parse(const char *pattern, size_t len, re_syntax syntax, re_node **out);
void re_node_free(re_node *n);
/* The language of strings in which the pattern matches somewhere (the
 * tree is simplified in place first: repetitions at unanchored edges). */
vka_status re_compile(re_node *root, re_lang **out);
/* Both in one: the internal patterns of the formats use this. */
vka_status re_pattern_lang(const char *pattern, re_case ci, re_lang **out);

/* ---------------------------------------------------------------- small helpers */

/* Decodes UTF-8 into code points (malloc'ed); false for invalid UTF-8. */
bool re_utf8_to_cps(const char *s, size_t len, uint32_t **cps, size_t *n);

#endif
