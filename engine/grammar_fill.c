/* grammar_fill.c — walks of the vocabulary trie through the lazy DFA
 * (grammar_dfa.h): the tokens a grammar position accepts whatever lies below
 * it on the stack (a "fill" of the position cache), and the check of single
 * tokens against real stacks. A fill takes a subtree whole, without visiting
 * it, when every character its tokens still hold moves the DFA alike (inside
 * a JSON string, say): then only how many characters each token has left
 * matters. */
#include <stdlib.h>
#include <string.h>

#include "grammar_dfa.h"
#include "status.h"
#include "utf8.h"

/* What follows a DFA state over one character set, step after step, as far
 * as a subtree's tokens need: it stays alive forever (a loop), lives for at
 * least n steps (unknown after), dies at step n, or stops being uniform (the
 * set's characters no longer move it alike) after n steps. */
enum { CHAIN_LOOP, CHAIN_ALIVE, CHAIN_DEAD, CHAIN_DEAD_CONTEXT, CHAIN_MIXED };
#define CHAIN_MAX 255u

typedef struct chain_slot {
    uint64_t key;               /* DFA state << 32 | charset; UINT64_MAX: empty */
    uint8_t kind, steps;
} chain_slot;

struct g_fill {
    g_dfa *dfa;
    chain_slot *chains;         /* memo of chain results */
    uint32_t chain_bits, chain_used;
    uint64_t chain_generation;  /* the DFA generation and vocabulary they belong to */
    uint64_t chain_vocab;
    uint32_t chain_path[CHAIN_MAX];
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

/* Whether every character of x moves state s alike: all in one cell (a
 * group whose code points some edge holds in part never is). */
static vka_status uniform(g_dfa *d, uint32_t s, const g_charset *x, bool *yes) {
    const g_dfa_chars *ch;
    VKA_TRY(g_dfa_chars_of(d, s, &ch));
    *yes = false;
    if (x->groups & ch->mixed_groups) return VKA_OK;
    uint32_t c = 128 + (uint32_t)__builtin_ctz(x->groups | 1u << 31);
    for (int w = 3; w >= 0; w--)
        if (x->ascii[w]) c = (uint32_t)w * 32 + (uint32_t)__builtin_ctz(x->ascii[w]);
    if (c >= 128 + G_GROUPS) return *yes = true, VKA_OK;   /* no character at all */
    const uint32_t *cell = d->cell_pool + ch->cells + 5 * ch->cell[c];
    *yes = !(x->ascii[0] & ~cell[0]) && !(x->ascii[1] & ~cell[1]) && !(x->ascii[2] & ~cell[2]) &&
           !(x->ascii[3] & ~cell[3]) && !(x->groups & ~cell[4]);
    return VKA_OK;
}

/* The successor of s after any one character of x (uniform): its lowest
 * ASCII character, else the first code point of its lowest group. */
static vka_status step_any(g_dfa *d, uint32_t s, const g_charset *x, uint32_t *out) {
    for (int w = 0; w < 4; w++)
        if (x->ascii[w]) return g_dfa_step(d, s, (uint8_t)(w * 32 + __builtin_ctz(x->ascii[w])), out);
    char bytes[4];
    size_t n = vka_utf8_encode(g_group_first((uint32_t)__builtin_ctz(x->groups)), bytes);
    uint32_t cur = s;
    for (size_t i = 0; i < n && cur >= G_DFA_FIRST; i++) VKA_TRY(g_dfa_step(d, cur, (uint8_t)bytes[i], &cur));
    *out = cur;
    return VKA_OK;
}

static vka_status chains_clear(g_fill *f, uint32_t bits) {
    free(f->chains);
    f->chains = malloc(((size_t)1 << bits) * sizeof *f->chains);
    if (!f->chains) return oom();
    for (uint32_t i = 0; i < (1u << bits); i++) f->chains[i].key = UINT64_MAX;
    f->chain_bits = bits;
    f->chain_used = 0;
    return VKA_OK;
}

static chain_slot *chain_find(chain_slot *t, uint32_t bits, uint64_t key) {
    uint32_t mask = (1u << bits) - 1, i = (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> (64 - bits));
    while (t[i].key != UINT64_MAX && t[i].key != key) i = (i + 1) & mask;
    return &t[i];
}

static vka_status chain_store(g_fill *f, uint64_t key, uint8_t kind, uint8_t steps) {
    if ((f->chain_used + 1) * 2 > (1u << f->chain_bits)) {
        chain_slot *old = f->chains;
        uint32_t old_bits = f->chain_bits, used = f->chain_used;
        f->chains = NULL;
        if (chains_clear(f, old_bits + 1) != VKA_OK) {
            f->chains = old;
            f->chain_bits = old_bits;
            return oom();
        }
        for (uint32_t i = 0; i < (1u << old_bits); i++)
            if (old[i].key != UINT64_MAX) *chain_find(f->chains, f->chain_bits, old[i].key) = old[i];
        f->chain_used = used;
        free(old);
    }
    chain_slot *slot = chain_find(f->chains, f->chain_bits, key);
    if (slot->key != key) f->chain_used++;
    *slot = (chain_slot){key, kind, steps};
    return VKA_OK;
}

/* The result one step earlier on a chain. */
static chain_slot chain_before(chain_slot t) {
    if (t.kind == CHAIN_LOOP) return t;
    if (t.steps >= CHAIN_MAX) return (chain_slot){0, CHAIN_ALIVE, CHAIN_MAX};
    t.steps++;
    return t;
}

/* What follows state s over charset x for `want` steps (see CHAIN_*),
 * remembered for s and every state on the way: a later fill that starts a
 * step further along the same chain (the next position of a counted
 * repetition) finds it ready. */
static vka_status chain_of(g_fill *f, uint32_t s, uint32_t charset, const g_charset *x, uint32_t want, chain_slot *out) {
    g_dfa *d = f->dfa;
    uint32_t n = 0, cur = s;
    chain_slot tail;
    for (;;) {
        uint64_t key = (uint64_t)cur << 32 | charset;
        const chain_slot *slot = chain_find(f->chains, f->chain_bits, key);
        if (slot->key == key && (slot->kind != CHAIN_ALIVE || slot->steps >= want - n)) {
            tail = *slot;
            break;
        }
        if (n == want) {
            tail = (chain_slot){0, CHAIN_ALIVE, 0};
            break;
        }
        bool same;
        VKA_TRY(uniform(d, cur, x, &same));
        uint32_t next = cur;
        if (same) VKA_TRY(step_any(d, cur, x, &next));
        if (next < G_DFA_FIRST || next == cur) {
            uint8_t kind = next == G_DFA_DEAD ? CHAIN_DEAD : next == G_DFA_DEAD_CONTEXT ? CHAIN_DEAD_CONTEXT
                         : same ? CHAIN_LOOP : CHAIN_MIXED;
            tail = (chain_slot){0, kind, kind == CHAIN_DEAD || kind == CHAIN_DEAD_CONTEXT};
            VKA_TRY(chain_store(f, key, tail.kind, tail.steps));
            break;
        }
        f->chain_path[n++] = cur;
        cur = next;
    }
    for (uint32_t i = n; i-- > 0;) {
        tail = chain_before(tail);
        VKA_TRY(chain_store(f, (uint64_t)f->chain_path[i] << 32 | charset, tail.kind, tail.steps));
    }
    *out = tail;
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
    uint32_t cs = v->node_charset[c];
    const g_charset *x = &v->charsets[cs];
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
    if (most) VKA_TRY(chain_of(f, s, cs, x, most, &ch));
    bool dead = ch.kind == CHAIN_DEAD || ch.kind == CHAIN_DEAD_CONTEXT;
    bool all = ch.kind == CHAIN_LOOP || ch.steps > most || (!dead && ch.steps == most);
    if (!all && !dead) return VKA_OK;
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

/* Chain results name DFA states and charsets: they go when either changes. */
static vka_status prepare(g_fill *f, const vka_grammar_vocab *v) {
    VKA_TRY(g_dfa_maybe_reset(f->dfa));
    if (f->chains && f->chain_generation == f->dfa->generation && f->chain_vocab == v->serial) return VKA_OK;
    VKA_TRY(chains_clear(f, 10));
    f->chain_generation = f->dfa->generation;
    f->chain_vocab = v->serial;
    return VKA_OK;
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
    free(f->chains);
    free(f);
}
