/* grammar_fill.c — walks of the vocabulary trie through the lazy DFA
 * (grammar_dfa.h): the tokens a grammar position accepts whatever lies below
 * it on the stack (a "fill" of the position cache), and the check of single
 * tokens against real stacks. A fill takes a subtree whole, without visiting
 * it, when every character its tokens still hold moves the DFA alike (inside
 * a JSON string, say): then only how many characters each token has left
 * matters. */
#include <stdlib.h>
#include <string.h>

#include "structured/grammar_dfa.h"
#include "base/status.h"
#include "base/utf8.h"

/* What follows a DFA state over one character set, step after step, as far
 * as a subtree's tokens need: it stays alive forever (a loop), lives for at
 * least n steps (unknown after), dies at step n, or stops being uniform (the
 * set's characters no longer move it alike) after n steps. */
enum { CHAIN_LOOP, CHAIN_ALIVE, CHAIN_DEAD, CHAIN_DEAD_CONTEXT, CHAIN_MIXED };
/* A subtree whose chain dies within SCAN_MIN_STEPS characters is visited,
 * not read token by token, when it holds more than SCAN_MAX_TOKENS. */
#define SCAN_MIN_STEPS 8u
#define SCAN_MAX_TOKENS 64u

typedef struct chain_slot {
    uint8_t kind, steps;
} chain_slot;

struct g_fill {
    g_dfa *dfa;
    uint64_t vocab;             /* the vocabulary of the last walk */
};

static vka_status oom(void) { return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory in grammar masking"); }

bool g_ranges_add(g_ranges *r, uint32_t b, uint32_t e) {
    if (b >= e) return true;
    if (r->n && r->items[r->n - 1] == b) {
        r->items[r->n - 1] = e;
        return true;
    }
    if (!g_reserve((void **)&r->items, &r->cap, r->n + 2, sizeof *r->items)) return false;
    r->items[r->n++] = b;
    r->items[r->n++] = e;
    return true;
}

/* ---------------------------------------------------------------- chains */

/* The character that stands for charset x: its lowest ASCII character, else
 * 128 + its lowest group; and the bytes of such a character. */
static uint32_t stand_in(const g_charset *x, char bytes[4], size_t *n) {
    for (int w = 0; w < 4; w++)
        if (x->ascii[w]) {
            uint32_t c = (uint32_t)w * 32 + (uint32_t)__builtin_ctz(x->ascii[w]);
            bytes[0] = (char)c;
            *n = 1;
            return c;
        }
    uint32_t grp = (uint32_t)__builtin_ctz(x->groups | 1u << 31);
    *n = grp < G_GROUPS ? vka_utf8_encode(g_group_first(grp), bytes) : 0;
    return 128 + grp;
}

/* Whether every character of x (stood in for by c) moves state s alike: all
 * in one cell (a group whose code points some edge holds in part never is). */
static inline bool uniform(const g_dfa *d, const g_dfa_chars *ch, const g_charset *x, uint32_t c) {
    if (x->groups & ch->mixed_groups) return false;
    if (c >= 128 + G_GROUPS) return true;   /* no character at all */
    const uint32_t *cell = d->cell_pool + ch->cells + 5 * ch->cell[c];
    return !(x->ascii[0] & ~cell[0]) && !(x->ascii[1] & ~cell[1]) && !(x->ascii[2] & ~cell[2]) &&
           !(x->ascii[3] & ~cell[3]) && !(x->groups & ~cell[4]);
}

/* What follows state s over charset x for up to `want` steps (see CHAIN_*).
 * Each step is a successor looked up and a cell compared, so chains are
 * followed afresh each time: remembering them cost more than it saved. */
static vka_status chain_of(g_fill *f, uint32_t s, const g_charset *x, uint32_t want, chain_slot *out) {
    g_dfa *d = f->dfa;
    char bytes[4];
    size_t n_bytes;
    uint32_t c = stand_in(x, bytes, &n_bytes), cur = s;
    for (uint32_t n = 0; n < want; n++) {
        const g_dfa_chars *ch;
        VKA_TRY(g_dfa_chars_of(d, cur, &ch));
        if (!uniform(d, ch, x, c)) return *out = (chain_slot){CHAIN_MIXED, (uint8_t)n}, VKA_OK;
        uint32_t next = cur;
        for (size_t i = 0; i < n_bytes && next >= G_DFA_FIRST; i++) VKA_TRY(g_dfa_step(d, next, (uint8_t)bytes[i], &next));
        if (next < G_DFA_FIRST) {
            *out = (chain_slot){next == G_DFA_DEAD_CONTEXT ? CHAIN_DEAD_CONTEXT : CHAIN_DEAD, (uint8_t)(n + 1)};
            return VKA_OK;
        }
        if (next == cur) return *out = (chain_slot){CHAIN_LOOP, 0}, VKA_OK;
        cur = next;
    }
    *out = (chain_slot){CHAIN_ALIVE, (uint8_t)want};
    return VKA_OK;
}

/* ---------------------------------------------------------------- fills */

typedef struct dfs_item {
    uint32_t node, state, next, chars;     /* chars: in the node's prefix (lead and ASCII bytes) */
} dfs_item;

/* The tokens of ranks [b, e) below a node whose prefix holds `chars`
 * characters: those with fewer than `steps` more live, the others die (and
 * depend on the real stack when the chain died in the unknown context). */
static vka_status settle_by_length(const vka_grammar_vocab *v, uint32_t b, uint32_t e, uint32_t chars, const chain_slot *ch,
                                   g_ranges *acc, g_ranges *unc) {
    g_ranges *dead = ch->kind == CHAIN_DEAD_CONTEXT ? unc : NULL;
    uint32_t run = b;
    bool run_lives = true;
    for (uint32_t r = b; r <= e; r++) {
        bool lives = r < e && (uint32_t)v->rank_chars[r] - chars < ch->steps;
        if (r < e && lives == run_lives) continue;
        /* a run of equal fates ends at r */
        g_ranges *into = run_lives ? acc : dead;
        if (into && !g_ranges_add(into, run, r)) return oom();
        run = r;
        run_lives = lives;
    }
    return VKA_OK;
}

/* Settles the tokens below trie node c (after its own) from DFA state s
 * without visiting them, when their characters all move s alike; *done
 * says whether it could. `chars`: characters in c's prefix. */
static vka_status settle_subtree(g_fill *f, const vka_grammar_vocab *v, uint32_t c, uint32_t s, uint32_t chars,
                                 g_ranges *acc, g_ranges *unc, bool *done) {
    *done = false;
    const g_dfa_state *st = &f->dfa->states[s];
    const g_charset *x = &v->charsets[v->node_charset[c]];
    /* the walk and the vocabulary agree where characters end */
    if (!(x->flags & G_CHARS_VALID) || st->need != v->node_char_left[c]) return VKA_OK;
    if (st->need) {
        /* inside a character: any completion leads to the same state */
        if (!st->partial_alike) return VKA_OK;
        VKA_TRY(g_dfa_complete(f->dfa, s, &s));
        if (s < G_DFA_FIRST) return VKA_OK;
    }
    const g_trie_node *nd = &v->nodes[c];
    uint32_t most = v->node_chars[c];
    chain_slot ch = {.kind = CHAIN_LOOP};
    if (most) VKA_TRY(chain_of(f, s, x, most, &ch));
    bool dead = ch.kind == CHAIN_DEAD || ch.kind == CHAIN_DEAD_CONTEXT;
    bool all = ch.kind == CHAIN_LOOP || ch.steps > most || (!dead && ch.steps == most);
    if (!all && !dead) return VKA_OK;
    /* fates by length: when the chain dies within a few characters, visiting
     * the few levels above its death is cheaper than reading every token of
     * a large subtree */
    if (!all && ch.steps < SCAN_MIN_STEPS && nd->rank_end - nd->rank_here_end > SCAN_MAX_TOKENS) return VKA_OK;
    *done = true;
    if (all) return g_ranges_add(acc, nd->rank_here_end, nd->rank_end) ? VKA_OK : oom();
    return settle_by_length(v, nd->rank_here_end, nd->rank_end, chars, &ch, acc, unc);
}

static vka_status walk_trie(g_fill *f, const vka_grammar_vocab *v, uint32_t start, g_ranges *acc, g_ranges *unc) {
    dfs_item *stack = malloc(((size_t)v->max_len + 2) * sizeof *stack);
    if (!stack) return oom();
    uint32_t depth = 0;
    vka_status s = VKA_OK;
    stack[0] = (dfs_item){0, start, 0, 0};
    while (s == VKA_OK) {
        dfs_item *it = &stack[depth];
        const g_trie_node *nd = &v->nodes[it->node];
        if (it->next == nd->n_children) {
            if (depth == 0) break;
            depth--;
            continue;
        }
        uint32_t c = nd->first_child + it->next++;
        const g_trie_node *ch = &v->nodes[c];
        uint32_t next, chars = it->chars + ((ch->byte & 0xC0) != 0x80);
        if ((s = g_dfa_step(f->dfa, it->state, ch->byte, &next)) != VKA_OK) break;
        bool ok = true, done = false;
        if (next == G_DFA_DEAD_CONTEXT) ok = g_ranges_add(unc, ch->rank_begin, ch->rank_end);
        else if (next != G_DFA_DEAD) ok = g_ranges_add(acc, ch->rank_begin, ch->rank_here_end);
        if (!ok) s = oom();
        if (s != VKA_OK || next < G_DFA_FIRST || !ch->n_children) continue;
        if ((s = settle_subtree(f, v, c, next, chars, acc, unc, &done)) != VKA_OK || done) continue;
        stack[++depth] = (dfs_item){c, next, 0, chars};
    }
    free(stack);
    return s;
}

/* Between walks: the DFA may start afresh once large. */
static vka_status prepare(g_fill *f, const vka_grammar_vocab *v) {
    f->vocab = v->serial;
    return g_dfa_maybe_reset(f->dfa);
}

vka_status g_fill_run(g_fill *f, const vka_grammar_vocab *v, const uint32_t *pairs, uint32_t n, const g_level *partial,
                      g_ranges *acc, g_ranges *unc) {
    acc->n = unc->n = 0;
    VKA_TRY(prepare(f, v));
    uint32_t start;
    VKA_TRY(g_dfa_start_positions(f->dfa, pairs, n, partial, &start));
    return walk_trie(f, v, start, acc, unc);
}

vka_status g_fill_run_stacks(g_fill *f, const vka_grammar_vocab *v, const g_ctx *from, const uint32_t *tops, uint32_t n,
                             const g_level *partial, g_ranges *acc) {
    g_ranges unc = {0};
    acc->n = 0;
    VKA_TRY(prepare(f, v));
    uint32_t start;
    VKA_TRY(g_dfa_start_stacks(f->dfa, from, tops, n, partial, &start));
    vka_status s = walk_trie(f, v, start, acc, &unc);
    free(unc.items);    /* real stacks have no unknown context: always empty */
    return s;
}

/* ---------------------------------------------------------------- checks on real stacks */

/* The first set bit of `todo & ~done` at or after rank r, or n. */
static uint32_t next_todo(const uint32_t *todo, const uint32_t *done, uint32_t r, uint32_t n) {
    uint32_t w = r >> 5;
    uint32_t words = (n + 31) / 32;
    if (w >= words) return n;
    uint32_t bits = (todo[w] & ~done[w]) & (UINT32_MAX << (r & 31));
    while (!bits) {
        if (++w >= words) return n;
        bits = todo[w] & ~done[w];
    }
    uint32_t found = w * 32 + (uint32_t)__builtin_ctz(bits);
    return found < n ? found : n;
}

static uint32_t child_with_byte(const vka_grammar_vocab *v, uint32_t node, unsigned char b) {
    const g_trie_node *nd = &v->nodes[node];
    uint32_t lo = nd->first_child, hi = lo + nd->n_children;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (v->nodes[mid].byte < b) lo = mid + 1;
        else hi = mid;
    }
    return lo;     /* the child exists: the token being walked has this prefix */
}

vka_status g_fill_check(g_fill *f, const vka_grammar_vocab *v, const g_ctx *from, const uint32_t *tops, uint32_t n,
                        const g_level *partial, const uint32_t *todo, uint32_t *allowed) {
    VKA_TRY(prepare(f, v));
    uint32_t *path = malloc(((size_t)v->max_len + 1) * 2 * sizeof *path);
    if (!path) return oom();
    uint32_t *state_at = path + v->max_len + 1;     /* DFA state after each prefix */
    vka_status s = g_dfa_start_stacks(f->dfa, from, tops, n, partial, &state_at[0]);
    path[0] = 0;
    const unsigned char *prev = NULL;
    uint32_t prev_len = 0, valid = 0;   /* state_at[0..valid] hold for prev's prefixes */
    for (uint32_t r = next_todo(todo, allowed, 0, v->n_sorted); s == VKA_OK && r < v->n_sorted;) {
        uint32_t len, lcp = 0;
        const unsigned char *p = g_piece(v, v->sorted[r], &len);
        uint32_t limit = valid < len ? valid : len;
        if (limit > prev_len) limit = prev_len;
        while (lcp < limit && prev[lcp] == p[lcp]) lcp++;
        prev = p;
        prev_len = len;
        uint32_t depth = lcp;
        while (depth < len && state_at[depth] >= G_DFA_FIRST) {
            if ((s = g_dfa_step(f->dfa, state_at[depth], p[depth], &state_at[depth + 1])) != VKA_OK) break;
            path[depth + 1] = child_with_byte(v, path[depth], p[depth]);
            depth++;
        }
        valid = depth;
        if (s != VKA_OK) break;
        if (state_at[depth] < G_DFA_FIRST) {
            /* every token under this prefix dies here too */
            r = next_todo(todo, allowed, v->nodes[path[depth]].rank_end, v->n_sorted);
            continue;
        }
        allowed[r >> 5] |= 1u << (r & 31);
        r = next_todo(todo, allowed, r + 1, v->n_sorted);
    }
    free(path);
    return s;
}

/* ---------------------------------------------------------------- life */

g_fill *g_fill_create(const vka_grammar *g) {
    g_fill *f = calloc(1, sizeof *f);
    if (!f) return NULL;
    if (!(f->dfa = g_dfa_create(g))) {
        free(f);
        return NULL;
    }
    return f;
}

uint32_t g_fill_dfa_states(const g_fill *f) { return f ? f->dfa->n_states : 0; }

void g_fill_free(g_fill *f) {
    if (!f) return;
    g_dfa_free(f->dfa);
    free(f);
}
