/* grammar_mask.c — token masks: a byte trie over the vocabulary walked with
 * the matcher (shared prefixes matched once), and a per-position cache of
 * the tokens a position accepts whatever lies below it on the stack. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "grammar_impl.h"
#include "status.h"

typedef struct trie_node {
    uint32_t first_child;
    uint32_t rank_begin;        /* tokens in this subtree: ranks [rank_begin, rank_end) */
    uint32_t rank_here_end;     /* of which [rank_begin, rank_here_end) end exactly here */
    uint32_t rank_end;
    uint16_t n_children;
    uint8_t byte;
} trie_node;

struct vka_grammar_vocab {
    uint32_t n_tokens;
    uint64_t serial;            /* identifies the vocabulary in mask caches */
    char *bytes;
    uint32_t *offset;           /* token i: bytes[offset[i], offset[i+1]) */
    uint32_t *sorted;           /* rank -> token id, pieces in byte order */
    uint32_t n_sorted;
    uint32_t *rank_of;          /* token id -> rank, G_NONE for empty pieces and EOG */
    uint8_t *eog;
    trie_node *nodes;
    uint32_t n_nodes;
    uint32_t max_len;
};

static vka_status oom(void) { return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory in grammar masking"); }

/* ---------------------------------------------------------------- vocabulary trie */

typedef struct sort_item {
    const unsigned char *p;
    uint32_t len, id;
} sort_item;

static int cmp_piece(const void *a, const void *b) {
    const sort_item *x = a, *y = b;
    uint32_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->p, y->p, n);
    if (c) return c;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return x->id < y->id ? -1 : (x->id > y->id);
}

static const unsigned char *piece(const vka_grammar_vocab *v, uint32_t id, uint32_t *len) {
    *len = v->offset[id + 1] - v->offset[id];
    return (const unsigned char *)v->bytes + v->offset[id];
}

/* Children of each node are contiguous; nodes are made breadth first. */
static vka_status build_trie(vka_grammar_vocab *v) {
    uint32_t cap = v->n_sorted + 1, n = 1;
    uint32_t *depth = NULL, cap_depth = 0;
    v->nodes = malloc((size_t)cap * sizeof *v->nodes);
    if (!v->nodes || !g_grow((void **)&depth, &cap_depth, cap, sizeof *depth)) {
        free(depth);
        return oom();
    }
    v->nodes[0] = (trie_node){0, 0, 0, v->n_sorted, 0, 0};
    depth[0] = 0;
    for (uint32_t q = 0; q < n; q++) {
        trie_node nd = v->nodes[q];
        uint32_t d = depth[q], r = nd.rank_begin, len;
        while (r < nd.rank_end) {
            piece(v, v->sorted[r], &len);
            if (len != d) break;
            r++;
        }
        v->nodes[q].rank_here_end = r;
        v->nodes[q].first_child = n;
        uint32_t kids = 0;
        while (r < nd.rank_end) {
            const unsigned char *p = piece(v, v->sorted[r], &len);
            unsigned char b = p[d];
            uint32_t e = r + 1;
            while (e < nd.rank_end && piece(v, v->sorted[e], &len)[d] == b) e++;
            if (n + 1 > cap) {
                uint32_t ncap = cap * 2;
                trie_node *nn = realloc(v->nodes, (size_t)ncap * sizeof *nn);
                if (!nn) {
                    free(depth);
                    return oom();
                }
                v->nodes = nn;
                cap = ncap;
            }
            if (!g_grow((void **)&depth, &cap_depth, n + 1, sizeof *depth)) {
                free(depth);
                return oom();
            }
            v->nodes[n] = (trie_node){0, r, r, e, 0, b};
            depth[n] = d + 1;
            n++;
            kids++;
            r = e;
        }
        v->nodes[q].n_children = (uint16_t)kids;
    }
    v->n_nodes = n;
    free(depth);
    return VKA_OK;
}

vka_status vka_grammar_vocab_build(const char *const *pieces, const uint32_t *lens, uint32_t n_tokens,
                                   const int32_t *eog_ids, size_t n_eog, vka_grammar_vocab **out) {
    static uint64_t next_serial = 1;
    if (!out || (n_tokens && (!pieces || !lens)) || (n_eog && !eog_ids))
        return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_grammar_vocab_build: NULL argument");
    *out = NULL;
    uint64_t total = 0;
    for (uint32_t i = 0; i < n_tokens; i++) {
        if (lens[i] && !pieces[i]) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_grammar_vocab_build: piece %u is NULL", i);
        total += lens[i];
    }
    if (total >= UINT32_MAX) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_grammar_vocab_build: pieces too long in total");
    vka_grammar_vocab *v = calloc(1, sizeof *v);
    sort_item *items = NULL;
    vka_status s = VKA_OK;
    if (!v) return oom();
    v->n_tokens = n_tokens;
    v->serial = __atomic_fetch_add(&next_serial, 1, __ATOMIC_RELAXED);
    v->bytes = malloc(total ? total : 1);
    v->offset = malloc(((size_t)n_tokens + 1) * sizeof *v->offset);
    v->rank_of = malloc((n_tokens ? n_tokens : 1) * sizeof *v->rank_of);
    v->eog = calloc(n_tokens ? n_tokens : 1, 1);
    v->sorted = malloc((n_tokens ? n_tokens : 1) * sizeof *v->sorted);
    items = malloc((n_tokens ? n_tokens : 1) * sizeof *items);
    if (!v->bytes || !v->offset || !v->rank_of || !v->eog || !v->sorted || !items) { s = oom(); goto done; }
    for (size_t i = 0; i < n_eog; i++) {
        if (eog_ids[i] < 0 || (uint32_t)eog_ids[i] >= n_tokens) {
            s = vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_grammar_vocab_build: end-of-generation id %d is out of range (vocabulary of %u)",
                         eog_ids[i], n_tokens);
            goto done;
        }
        v->eog[eog_ids[i]] = 1;
    }
    uint32_t at = 0;
    for (uint32_t i = 0; i < n_tokens; i++) {
        v->offset[i] = at;
        if (lens[i]) memcpy(v->bytes + at, pieces[i], lens[i]);
        at += lens[i];
        if (lens[i] > v->max_len) v->max_len = lens[i];
        v->rank_of[i] = G_NONE;
        if (lens[i] && !v->eog[i]) items[v->n_sorted++] = (sort_item){(const unsigned char *)v->bytes + v->offset[i], lens[i], i};
    }
    v->offset[n_tokens] = at;
    qsort(items, v->n_sorted, sizeof *items, cmp_piece);
    for (uint32_t r = 0; r < v->n_sorted; r++) {
        v->sorted[r] = items[r].id;
        v->rank_of[items[r].id] = r;
    }
    s = build_trie(v);
done:
    free(items);
    if (s != VKA_OK) {
        vka_grammar_vocab_free(v);
        return s;
    }
    *out = v;
    return VKA_OK;
}

void vka_grammar_vocab_free(vka_grammar_vocab *v) {
    if (!v) return;
    free(v->bytes);
    free(v->offset);
    free(v->sorted);
    free(v->rank_of);
    free(v->eog);
    free(v->nodes);
    free(v);
}

uint32_t vka_grammar_vocab_n_tokens(const vka_grammar_vocab *v) { return v ? v->n_tokens : 0; }

/* ---------------------------------------------------------------- rank ranges */

static bool range_add(uint32_t **items, uint32_t *n, uint32_t *cap, uint32_t b, uint32_t e) {
    if (b >= e) return true;
    if (*n && (*items)[*n - 1] == b) {
        (*items)[*n - 1] = e;
        return true;
    }
    if (!g_grow((void **)items, cap, *n + 2, sizeof **items)) return false;
    (*items)[(*n)++] = b;
    (*items)[(*n)++] = e;
    return true;
}

static void bits_set_range(uint32_t *bits, uint32_t b, uint32_t e) {
    while (b < e && (b & 31)) {
        bits[b >> 5] |= 1u << (b & 31);
        b++;
    }
    while (b + 32 <= e) {
        bits[b >> 5] = UINT32_MAX;
        b += 32;
    }
    while (b < e) {
        bits[b >> 5] |= 1u << (b & 31);
        b++;
    }
}

/* ---------------------------------------------------------------- trie walk */

/* Walks the whole trie from the walk's level 0 (already started). Tokens on
 * live paths go to ranges_tmp (accepted); with a context-free start, tokens
 * whose paths left the starting rule go to ranges_tmp2 (need the real stack). */
static vka_status trie_walk(g_ctx *c, const vka_grammar_vocab *v) {
    typedef struct dfs_item {
        uint32_t node, next;
    } dfs_item;
    dfs_item *stack = malloc(((size_t)v->max_len + 2) * sizeof *stack);
    if (!stack) return oom();
    uint32_t base_frames = c->n_frames;
    uint32_t depth = 0;
    vka_status s = VKA_OK;
    c->n_ranges_tmp = c->n_ranges_tmp2 = 0;
    stack[0] = (dfs_item){0, 0};
    for (;;) {
        dfs_item *it = &stack[depth];
        const trie_node *nd = &v->nodes[it->node];
        if (it->next == nd->n_children) {
            if (depth == 0) break;
            depth--;
            /* forget frames of finished subtrees once they pile up */
            g_walk_pop_to(c, depth, c->n_frames - base_frames > (1u << 16));
            continue;
        }
        const trie_node *ch = &v->nodes[nd->first_child + it->next++];
        if ((s = g_walk_push(c, ch->byte)) != VKA_OK) break;
        const g_level *L = &c->levels[c->n_levels - 1];
        bool alive = g_level_alive(L);
        bool ok;
        if (alive)
            ok = range_add(&c->ranges_tmp, &c->n_ranges_tmp, &c->cap_ranges_tmp, ch->rank_begin, ch->rank_here_end);
        else if (L->context_before)
            ok = range_add(&c->ranges_tmp2, &c->n_ranges_tmp2, &c->cap_ranges_tmp2, ch->rank_begin, ch->rank_end);
        else
            ok = true;
        if (!ok) {
            s = oom();
            break;
        }
        if (alive && ch->n_children) {
            stack[++depth] = (dfs_item){(uint32_t)(ch - v->nodes), 0};
        } else {
            g_walk_pop_to(c, depth, false);
        }
    }
    free(stack);
    return s;
}

/* ---------------------------------------------------------------- cache */

static vka_status cache_prepare(g_ctx *c, const vka_grammar_vocab *v) {
    if (c->cache && c->cache_serial == v->serial) return VKA_OK;
    if (c->cache) {
        for (uint32_t s = 0; s < c->g->n_states; s++) {
            if (!c->cache[s]) continue;
            free(c->cache[s]->acc);
            free(c->cache[s]->unc);
            free(c->cache[s]);
        }
        free(c->cache);
        c->cache = NULL;
    }
    c->cache = calloc(c->g->n_states ? c->g->n_states : 1, sizeof *c->cache);
    if (!c->cache) return oom();
    c->cache_serial = v->serial;
    uint32_t words = (v->n_sorted + 31) / 32 + 1;
    if (words > c->n_bits_words) {
        free(c->bits_a);
        free(c->bits_b);
        c->bits_a = malloc((size_t)words * sizeof *c->bits_a);
        c->bits_b = malloc((size_t)words * sizeof *c->bits_b);
        c->n_bits_words = words;
        if (!c->bits_a || !c->bits_b) {
            c->n_bits_words = 0;
            return oom();
        }
    }
    return VKA_OK;
}

static uint32_t *copy_ranges(const uint32_t *r, uint32_t n) {
    uint32_t *p = malloc((n ? n : 1) * sizeof *p);
    if (p && n) memcpy(p, r, n * sizeof *p);
    return p;
}

/* Tokens that automaton state s (on top of a stack) accepts whatever the
 * frames below it are, and those that reach below it and need checking. */
static vka_status cache_get(g_ctx *c, const vka_grammar_vocab *v, uint32_t state, const g_cache_entry **out) {
    if (c->cache[state]) {
        *out = c->cache[state];
        return VKA_OK;
    }
    uint32_t mark = c->n_frames;
    vka_status s = g_walk_start_context_free(c, state);
    if (s == VKA_OK) s = trie_walk(c, v);
    g_frames_rollback(c, mark);
    VKA_TRY(s);
    g_cache_entry *e = calloc(1, sizeof *e);
    if (!e) return oom();
    e->acc = copy_ranges(c->ranges_tmp, c->n_ranges_tmp);
    e->n_acc = c->n_ranges_tmp;
    e->unc = copy_ranges(c->ranges_tmp2, c->n_ranges_tmp2);
    e->n_unc = c->n_ranges_tmp2;
    if (!e->acc || !e->unc) {
        free(e->acc);
        free(e->unc);
        free(e);
        return oom();
    }
    c->cache[state] = e;
    *out = e;
    return VKA_OK;
}

/* ---------------------------------------------------------------- masks */

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
    const trie_node *nd = &v->nodes[node];
    uint32_t lo = nd->first_child, hi = lo + nd->n_children;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (v->nodes[mid].byte < b) lo = mid + 1;
        else hi = mid;
    }
    return lo;     /* the child exists: the token being walked has this prefix */
}

/* Checks tokens (ranks with bit set in `todo`) against the real state in rank
 * order, reusing the walk over shared prefixes and skipping every token under
 * a dead prefix at once; sets the bits of allowed ones in `allowed`. */
static vka_status check_tokens(g_ctx *c, const vka_grammar_state *st, const vka_grammar_vocab *v,
                               const uint32_t *todo, uint32_t *allowed) {
    uint32_t mark = c->n_frames;
    VKA_TRY(g_walk_start_state(c, st));
    uint32_t *path = malloc(((size_t)v->max_len + 1) * sizeof *path);
    if (!path) return oom();
    path[0] = 0;
    const unsigned char *prev = NULL;
    uint32_t prev_len = 0;
    vka_status s = VKA_OK;
    uint32_t r = next_todo(todo, allowed, 0, v->n_sorted);
    while (r < v->n_sorted) {
        uint32_t len;
        const unsigned char *p = piece(v, v->sorted[r], &len);
        uint32_t lcp = 0, limit = c->n_levels - 1;
        if (limit > len) limit = len;
        if (limit > prev_len) limit = prev_len;
        while (lcp < limit && prev[lcp] == p[lcp]) lcp++;
        g_walk_pop_to(c, lcp, false);
        prev = p;
        prev_len = len;
        uint32_t depth = lcp;
        while (depth < len && g_level_alive(&c->levels[depth])) {
            if ((s = g_walk_push(c, p[depth])) != VKA_OK) break;
            path[depth + 1] = child_with_byte(v, path[depth], p[depth]);
            depth++;
        }
        if (s != VKA_OK) break;
        if (!g_level_alive(&c->levels[depth])) {
            /* every token under this prefix dies here too */
            r = next_todo(todo, allowed, v->nodes[path[depth]].rank_end, v->n_sorted);
            continue;
        }
        allowed[r >> 5] |= 1u << (r & 31);
        r = next_todo(todo, allowed, r + 1, v->n_sorted);
    }
    free(path);
    g_frames_rollback(c, mark);
    return s;
}

/* Allowed tokens by rank into c->bits_a. */
static vka_status allowed_ranks(const vka_grammar_state *st, const vka_grammar_vocab *v, bool use_cache) {
    g_ctx *c = st->ctx;
    VKA_TRY(cache_prepare(c, v));
    uint32_t words = (v->n_sorted + 31) / 32 + 1;
    memset(c->bits_a, 0, (size_t)words * sizeof *c->bits_a);
    if (st->need || !use_cache) {
        uint32_t mark = c->n_frames;
        vka_status s = g_walk_start_state(c, st);
        if (s == VKA_OK) s = trie_walk(c, v);
        g_frames_rollback(c, mark);
        VKA_TRY(s);
        for (uint32_t i = 0; i < c->n_ranges_tmp; i += 2) bits_set_range(c->bits_a, c->ranges_tmp[i], c->ranges_tmp[i + 1]);
        return VKA_OK;
    }
    memset(c->bits_b, 0, (size_t)words * sizeof *c->bits_b);
    bool any_unc = false;
    for (uint32_t i = 0; i < st->n_tops; i++) {
        uint32_t f = st->tops[i];
        if (f <= G_FRAME_CONTEXT) continue;
        uint32_t state = c->frames[f].state;
        bool seen = false;
        for (uint32_t j = 0; j < i && !seen; j++)
            seen = st->tops[j] > G_FRAME_CONTEXT && c->frames[st->tops[j]].state == state;
        if (seen) continue;
        const g_cache_entry *e = NULL;
        VKA_TRY(cache_get(c, v, state, &e));
        for (uint32_t k = 0; k < e->n_acc; k += 2) bits_set_range(c->bits_a, e->acc[k], e->acc[k + 1]);
        for (uint32_t k = 0; k < e->n_unc; k += 2) bits_set_range(c->bits_b, e->unc[k], e->unc[k + 1]);
        any_unc |= e->n_unc > 0;
    }
    return any_unc ? check_tokens(c, st, v, c->bits_b, c->bits_a) : VKA_OK;
}

static vka_status check_args(const vka_grammar_state *st, const vka_grammar_vocab *v, const void *out) {
    if (!st || !v || !out) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "grammar mask: NULL argument");
    return g_ctx_maybe_collect(st->ctx);
}

vka_status vka_grammar_mask(const vka_grammar_state *st, const vka_grammar_vocab *v, float *logits) {
    VKA_TRY(check_args(st, v, logits));
    VKA_TRY(allowed_ranks(st, v, true));
    const uint32_t *bits = st->ctx->bits_a;
    bool end = vka_grammar_can_end(st);
    for (uint32_t id = 0; id < v->n_tokens; id++) {
        uint32_t r = v->rank_of[id];
        bool ok = r == G_NONE ? (v->eog[id] && end) : (bits[r >> 5] >> (r & 31)) & 1u;
        if (!ok) logits[id] = -INFINITY;
    }
    return VKA_OK;
}

static vka_status mask_bits(const vka_grammar_state *st, const vka_grammar_vocab *v, uint32_t *out, bool use_cache) {
    VKA_TRY(check_args(st, v, out));
    VKA_TRY(allowed_ranks(st, v, use_cache));
    const uint32_t *bits = st->ctx->bits_a;
    bool end = vka_grammar_can_end(st);
    memset(out, 0, (size_t)((v->n_tokens + 31) / 32) * sizeof *out);
    for (uint32_t id = 0; id < v->n_tokens; id++) {
        uint32_t r = v->rank_of[id];
        bool ok = r == G_NONE ? (v->eog[id] && end) : (bits[r >> 5] >> (r & 31)) & 1u;
        if (ok) out[id >> 5] |= 1u << (id & 31);
    }
    return VKA_OK;
}

vka_status vka_grammar_mask_bits(const vka_grammar_state *st, const vka_grammar_vocab *v, uint32_t *bits) {
    return mask_bits(st, v, bits, true);
}

vka_status g_mask_bits_uncached(const vka_grammar_state *st, const vka_grammar_vocab *v, uint32_t *bits) {
    return mask_bits(st, v, bits, false);
}

bool vka_grammar_allows_token(const vka_grammar_state *st, const vka_grammar_vocab *v, int32_t id) {
    if (!st || !v || id < 0 || (uint32_t)id >= v->n_tokens) return false;
    if (v->eog[id]) return vka_grammar_can_end(st);
    if (v->rank_of[id] == G_NONE) return false;
    g_ctx *c = st->ctx;
    uint32_t len;
    const unsigned char *p = piece(v, (uint32_t)id, &len);
    uint32_t mark = c->n_frames;
    bool ok = g_walk_start_state(c, st) == VKA_OK;
    for (uint32_t i = 0; ok && i < len; i++) {
        ok = g_walk_push(c, p[i]) == VKA_OK && g_level_alive(&c->levels[c->n_levels - 1]);
    }
    g_frames_rollback(c, mark);
    return ok;
}

vka_status vka_grammar_accept_token(vka_grammar_state *st, const vka_grammar_vocab *v, int32_t id) {
    if (!st || !v) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_grammar_accept_token: NULL argument");
    if (id < 0 || (uint32_t)id >= v->n_tokens)
        return vka_fail(VKA_ERR_INVALID_ARGUMENT, "token id %d is out of range (vocabulary of %u)", id, v->n_tokens);
    if (v->eog[id]) {
        if (!vka_grammar_can_end(st))
            return vka_fail(VKA_ERR_GRAMMAR, "end-of-generation token %d is not allowed: the grammar is not complete here", id);
        static const uint32_t done_top = G_FRAME_EMPTY;
        return g_state_set_tops(st, &done_top, 1);
    }
    if (v->rank_of[id] == G_NONE)
        return vka_fail(VKA_ERR_GRAMMAR, "token %d has no text (a control token) and cannot match a grammar", id);
    uint32_t len;
    const unsigned char *p = piece(v, (uint32_t)id, &len);
    bool accepted;
    VKA_TRY(vka_grammar_accept_bytes(st, p, len, &accepted));
    if (!accepted) {
        char shown[64];
        uint32_t n = 0;
        for (uint32_t i = 0; i < len && n + 5 < sizeof shown; i++) {
            unsigned char b = p[i];
            if (b >= 0x20 && b < 0x7F && b != '"' && b != '\\') {
                shown[n++] = (char)b;
            } else {
                static const char hex[] = "0123456789abcdef";
                shown[n++] = '\\';
                shown[n++] = 'x';
                shown[n++] = hex[b >> 4];
                shown[n++] = hex[b & 15];
            }
        }
        shown[n] = 0;
        return vka_fail(VKA_ERR_GRAMMAR, "token %d (\"%s\") is not allowed by the grammar here", id, shown);
    }
    return VKA_OK;
}
