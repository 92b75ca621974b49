/* grammar_mask.c — token masks from two caches: per grammar position, the
 * tokens it accepts whatever lies below it on the stack (filled by
 * grammar_fill.c), and per stack configuration the finished mask as a sorted
 * list of token ids (allowed, or not allowed when that is shorter), which
 * later masks at the same configuration only copy out. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "structured/grammar_impl.h"
#include "base/status.h"

/* Remembered whole masks beyond this size are all forgotten at once. */
#define MEMO_MAX_BYTES ((size_t)64 << 20)
/* A position whose fill leaves more than this share of the vocabulary
 * (1/N) to the real stack is walked on the real stacks instead. */
#define UNC_SHARE_FOR_WALK 16u

static vka_status oom(void) { return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory in grammar masking"); }

/* ---------------------------------------------------------------- tables */

/* Both caches are hash tables keyed by arrays of numbers: positions by
 * their sorted automaton states, whole masks by their sorted stack tops
 * (frames are interned, so equal stacks are equal numbers); each key ends
 * with the incomplete character (cp, need, total). */
typedef struct entry {
    uint64_t hash;              /* 0: empty slot */
    uint32_t *key, n_key;
    uint32_t *a, n_a;           /* positions: rank ranges accepted whatever the stack below;
                                 * masks: token ids ascending, allowed or (inverted) not */
    uint32_t *b, n_b;           /* positions: rank ranges that need the real stack */
    bool inverted;
} entry;

struct g_table {
    entry *slots;
    uint32_t bits, used;
    size_t bytes;
};

static g_table *table_new(uint32_t bits) {
    g_table *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->bits = bits;
    t->slots = calloc((size_t)1 << bits, sizeof *t->slots);
    if (!t->slots) {
        free(t);
        return NULL;
    }
    return t;
}

static void table_clear(g_table *t) {
    if (!t || !t->used) return;
    for (uint32_t i = 0; i < (1u << t->bits); i++) {
        free(t->slots[i].key);
        free(t->slots[i].a);
        free(t->slots[i].b);
        t->slots[i] = (entry){0};
    }
    t->used = 0;
    t->bytes = 0;
}

static void table_free(g_table *t) {
    if (!t) return;
    table_clear(t);
    free(t->slots);
    free(t);
}

/* The slot of the key: its entry, or the empty slot where it belongs. */
static entry *table_find(g_table *t, uint64_t hash, const uint32_t *key, uint32_t n) {
    uint32_t mask = (1u << t->bits) - 1, i = (uint32_t)((hash * 0x9E3779B97F4A7C15ull) >> (64 - t->bits));
    for (; t->slots[i].hash; i = (i + 1) & mask) {
        const entry *e = &t->slots[i];
        if (e->hash == hash && e->n_key == n && memcmp(e->key, key, n * sizeof *key) == 0) break;
    }
    return &t->slots[i];
}

/* Stores `made` (its key and lists now owned by the table); everything is
 * forgotten first when the table would pass max_bytes. */
static vka_status table_insert(g_table **tp, const entry *made, size_t max_bytes, const entry **out) {
    g_table *t = *tp;
    size_t bytes = ((size_t)made->n_key + made->n_a + made->n_b) * sizeof(uint32_t) + sizeof *made;
    if (t->bytes + bytes > max_bytes) table_clear(t);
    if ((t->used + 1) * 2 > (1u << t->bits)) {
        g_table *bigger = table_new(t->bits + 1);
        if (!bigger) return oom();
        for (uint32_t i = 0; i < (1u << t->bits); i++) {
            const entry *e = &t->slots[i];
            if (e->hash) *table_find(bigger, e->hash, e->key, e->n_key) = *e;
        }
        bigger->used = t->used;
        bigger->bytes = t->bytes;
        free(t->slots);
        free(t);
        *tp = t = bigger;
    }
    entry *e = table_find(t, made->hash, made->key, made->n_key);
    *e = *made;
    t->used++;
    t->bytes += bytes;
    *out = e;
    return VKA_OK;
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* A key: the n numbers (sorted when `sort`), then the incomplete character.
 * Malloc'ed. */
static uint32_t *make_key(const uint32_t *items, uint32_t n, bool sort, const g_level *partial, uint32_t *n_key,
                          uint64_t *hash) {
    uint32_t *key = malloc(((size_t)n + 3) * sizeof *key);
    if (!key) return NULL;
    memcpy(key, items, n * sizeof *key);
    if (sort) qsort(key, n, sizeof *key, cmp_u32);
    key[n] = partial->cp;
    key[n + 1] = partial->need;
    key[n + 2] = partial->total;
    *n_key = n + 3;
    uint64_t h = 0xCBF29CE484222325ull;
    for (uint32_t i = 0; i < *n_key; i++) h = (h ^ key[i]) * 0x100000001B3ull;
    *hash = h ? h : 1;
    return key;
}

void g_mask_memo_clear(g_ctx *c) { table_clear(c->memo); }

/* ---------------------------------------------------------------- positions */

static uint32_t *copy_ranges(const g_ranges *r) {
    uint32_t *p = malloc((r->n ? r->n : 1) * sizeof *p);
    if (p && r->n) memcpy(p, r->items, r->n * sizeof *p);
    return p;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The positions on top of st's stacks, as pairs (automaton state, below):
 * below is G_FILL_CONTEXT (the unknown context) at depth 1, else the state
 * of the frame under the top, or G_FILL_BOTTOM for the empty stack. Sorted,
 * repeats dropped, as a key (two numbers each). */
static uint32_t *position_key(const g_ctx *c, const vka_grammar_state *st, uint32_t depth, uint32_t *n_key, uint64_t *hash) {
    uint64_t *pairs = malloc((st->n_tops ? st->n_tops : 1) * sizeof *pairs);
    if (!pairs) return NULL;
    uint32_t n = 0;
    for (uint32_t i = 0; i < st->n_tops; i++) {
        uint32_t f = st->tops[i];
        if (f <= G_FRAME_CONTEXT) continue;
        uint32_t p = c->frames[f].parent, below = G_FILL_CONTEXT, state = c->frames[f].state;
        /* a top inside a rule that soon returns takes the frame below along */
        if (depth > 1 || (c->g->flags[state] & G_FLAG_BOUNDED))
            below = p == G_FRAME_EMPTY ? G_FILL_BOTTOM : c->frames[p].state;
        pairs[n++] = (uint64_t)state << 32 | below;
    }
    qsort(pairs, n, sizeof *pairs, cmp_u64);
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++)
        if (!k || pairs[k - 1] != pairs[i]) pairs[k++] = pairs[i];
    uint32_t *flat = malloc(((size_t)2 * k + 1) * sizeof *flat);
    for (uint32_t i = 0; flat && i < k; i++) {
        flat[2 * i] = (uint32_t)(pairs[i] >> 32);
        flat[2 * i + 1] = (uint32_t)pairs[i];
    }
    free(pairs);
    if (!flat) return NULL;
    g_level partial = {.cp = st->cp, .need = st->need, .total = st->total};
    uint32_t *key = make_key(flat, 2 * k, false, &partial, n_key, hash);    /* sorted already */
    free(flat);
    return key;
}

/* The entry of the positions on top of st's stacks (with `depth` frames of
 * each stack): the tokens they accept whatever lies below, filled in one
 * walk on first use. */
static vka_status position_get(g_ctx *c, const vka_grammar_state *st, const vka_grammar_vocab *v, uint32_t depth,
                               const entry **out) {
    entry made = {0};
    if (!(made.key = position_key(c, st, depth, &made.n_key, &made.hash))) return oom();
    const entry *e = table_find(c->positions, made.hash, made.key, made.n_key);
    if (e->hash) {
        free(made.key);
        return *out = e, VKA_OK;
    }
    g_level partial = {.cp = st->cp, .need = st->need, .total = st->total};
    vka_status s = g_fill_run(c->fill, v, made.key, (made.n_key - 3) / 2, &partial, &c->acc, &c->unc);
    if (s == VKA_OK) {
        made.a = copy_ranges(&c->acc), made.n_a = c->acc.n;
        made.b = copy_ranges(&c->unc), made.n_b = c->unc.n;
        if (!made.a || !made.b) s = oom();
    }
    if (s == VKA_OK) {
        /* `inverted` marks positions whose tokens mostly depend on the stack below */
        uint32_t unc = 0;
        for (uint32_t i = 0; i < made.n_b; i += 2) unc += made.b[i + 1] - made.b[i];
        made.inverted = unc > v->n_sorted / UNC_SHARE_FOR_WALK;
    }
    if (s == VKA_OK) s = table_insert(&c->positions, &made, SIZE_MAX, out);
    if (s != VKA_OK) {
        free(made.key);
        free(made.a);
        free(made.b);
    }
    return s;
}

/* ---------------------------------------------------------------- per-vocabulary scratch */

static void caches_clear(g_ctx *c) {
    table_free(c->positions);
    table_free(c->memo);
    c->positions = NULL;
    c->memo = NULL;
}

void g_mask_caches_free(g_ctx *c) {
    caches_clear(c);
    g_fill_free(c->fill);
    c->fill = NULL;
    free(c->bits_a);
    free(c->bits_b);
    free(c->bits_id);
    free(c->acc.items);
    free(c->unc.items);
    free(c->saved);
}

static vka_status cache_prepare(g_ctx *c, const vka_grammar_vocab *v) {
    if (c->positions && c->cache_serial == v->serial) return VKA_OK;
    caches_clear(c);
    if (!c->fill && !(c->fill = g_fill_create(c->g))) return oom();
    if (!(c->positions = table_new(8)) || !(c->memo = table_new(8))) return oom();
    c->cache_serial = v->serial;
    uint32_t words = ((v->n_sorted > v->n_tokens ? v->n_sorted : v->n_tokens) + 31) / 32 + 1;
    if (words > c->n_bits_words) {
        free(c->bits_a);
        free(c->bits_b);
        free(c->bits_id);
        c->bits_a = malloc((size_t)words * sizeof *c->bits_a);
        c->bits_b = malloc((size_t)words * sizeof *c->bits_b);
        c->bits_id = malloc((size_t)words * sizeof *c->bits_id);
        c->n_bits_words = words;
        if (!c->bits_a || !c->bits_b || !c->bits_id) {
            c->n_bits_words = 0;
            return oom();
        }
    }
    return VKA_OK;
}

/* ---------------------------------------------------------------- rank bitsets */

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

static void bits_set_ranges(uint32_t *bits, const uint32_t *r, uint32_t n) {
    for (uint32_t k = 0; k < n; k += 2) bits_set_range(bits, r[k], r[k + 1]);
}

/* Allowed tokens by rank into c->bits_a: what the positions on top of the
 * stacks accept anyway, and those of their other tokens that the real
 * stacks accept. */
static vka_status allowed_ranks(const vka_grammar_state *st, const vka_grammar_vocab *v) {
    g_ctx *c = st->ctx;
    uint32_t words = (v->n_sorted + 31) / 32 + 1;
    memset(c->bits_a, 0, (size_t)words * sizeof *c->bits_a);
    const entry *e = NULL;
    VKA_TRY(position_get(c, st, v, 1, &e));
    /* most tokens leave the positions' rules (small rules called from many
     * places, such as one character of a string): then the frames below the
     * tops are taken into the position too, or else the real stacks walked */
    if (e->inverted) VKA_TRY(position_get(c, st, v, 2, &e));
    g_level partial = {.cp = st->cp, .need = st->need, .total = st->total};
    if (e->inverted) {
        VKA_TRY(g_fill_run_stacks(c->fill, v, c, st->tops, st->n_tops, &partial, &c->acc));
        bits_set_ranges(c->bits_a, c->acc.items, c->acc.n);
        return VKA_OK;
    }
    bits_set_ranges(c->bits_a, e->a, e->n_a);
    if (!e->n_b) return VKA_OK;
    memset(c->bits_b, 0, (size_t)words * sizeof *c->bits_b);
    bits_set_ranges(c->bits_b, e->b, e->n_b);
    return g_fill_check(c->fill, v, c, st->tops, st->n_tops, &partial, c->bits_b, c->bits_a);
}

/* ---------------------------------------------------------------- id lists */

/* Set bits in w[0..n): by halves, quarters, ... (no call per word where
 * the CPU's popcount instruction is not enabled). */
static uint32_t popcount_words(const uint32_t *w, uint32_t n) {
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t x = w[i] - ((w[i] >> 1) & 0x55555555u);
        x = (x & 0x33333333u) + ((x >> 2) & 0x33333333u);
        k += (((x + (x >> 4)) & 0x0F0F0F0Fu) * 0x01010101u) >> 24;
    }
    return k;
}

/* The set bits of bits[0 .. words) in ascending order into ids (malloc'ed). */
static uint32_t *bits_to_ids(const uint32_t *bits, uint32_t words, uint32_t count) {
    uint32_t *ids = malloc((count ? count : 1) * sizeof *ids), n = 0;
    if (!ids) return NULL;
    for (uint32_t w = 0; w < words; w++)
        for (uint32_t x = bits[w]; x; x &= x - 1) ids[n++] = w * 32 + (uint32_t)__builtin_ctz(x);
    return ids;
}

/* The mask of c->bits_a (ranks) as an id list: the allowed tokens, or when
 * most are allowed the others (end of generation where the grammar may end;
 * control tokens never). */
static vka_status make_id_list(g_ctx *c, const vka_grammar_vocab *v, bool can_end, entry *e) {
    uint32_t rank_words = (v->n_sorted + 31) / 32, id_words = (v->n_tokens + 31) / 32;
    uint32_t n_eog = 0;
    for (uint32_t i = 0; i < v->n_unranked; i++) n_eog += v->eog[v->unranked[i]];
    uint32_t allowed = popcount_words(c->bits_a, rank_words) + (can_end ? n_eog : 0);
    e->inverted = allowed > v->n_tokens / 2;
    uint32_t *ib = c->bits_id;
    memset(ib, 0, (size_t)id_words * sizeof *ib);
    /* only the shorter side is scattered from rank order to id order */
    for (uint32_t w = 0; w < rank_words; w++) {
        uint32_t x = e->inverted ? ~c->bits_a[w] : c->bits_a[w];
        if (w == rank_words - 1 && (v->n_sorted & 31)) x &= (1u << (v->n_sorted & 31)) - 1;
        for (; x; x &= x - 1) {
            uint32_t id = v->sorted[w * 32 + (uint32_t)__builtin_ctz(x)];
            ib[id >> 5] |= 1u << (id & 31);
        }
    }
    for (uint32_t i = 0; i < v->n_unranked; i++) {
        uint32_t id = v->unranked[i];
        bool ok = v->eog[id] && can_end;
        if (ok != e->inverted) ib[id >> 5] |= 1u << (id & 31);
    }
    e->n_a = e->inverted ? v->n_tokens - allowed : allowed;
    e->a = bits_to_ids(ib, id_words, e->n_a);
    return e->a ? VKA_OK : oom();
}

/* The finished mask of state st: remembered, or made and remembered. */
static vka_status mask_entry(const vka_grammar_state *st, const vka_grammar_vocab *v, const entry **out) {
    g_ctx *c = st->ctx;
    VKA_TRY(cache_prepare(c, v));
    g_level partial = {.cp = st->cp, .need = st->need, .total = st->total};
    entry made = {0};
    made.key = make_key(st->tops, st->n_tops, true, &partial, &made.n_key, &made.hash);
    if (!made.key) return oom();
    const entry *e = table_find(c->memo, made.hash, made.key, made.n_key);
    if (e->hash) {
        free(made.key);
        return *out = e, VKA_OK;
    }
    vka_status s = allowed_ranks(st, v);
    if (s == VKA_OK) s = make_id_list(c, v, vka_grammar_can_end(st), &made);
    if (s == VKA_OK) s = table_insert(&c->memo, &made, MEMO_MAX_BYTES, out);
    if (s != VKA_OK) {
        free(made.key);
        free(made.a);
    }
    return s;
}

/* ---------------------------------------------------------------- the reference: a plain walk */

/* Allowed ranks into c->bits_a by walking the whole trie from the real
 * state, without caches (tests compare the cached masks with it). */
static vka_status plain_ranks(const vka_grammar_state *st, const vka_grammar_vocab *v) {
    g_ctx *c = st->ctx;
    uint32_t *stack = malloc(((size_t)v->max_len + 2) * 2 * sizeof *stack);
    if (!stack) return oom();
    memset(c->bits_a, 0, (size_t)((v->n_sorted + 31) / 32 + 1) * sizeof *c->bits_a);
    uint32_t mark = c->n_frames, depth = 0;
    vka_status s = g_walk_start_state(c, st);
    stack[0] = 0;       /* node, next child */
    stack[1] = 0;
    while (s == VKA_OK) {
        const g_trie_node *nd = &v->nodes[stack[2 * depth]];
        if (stack[2 * depth + 1] == nd->n_children) {
            if (depth == 0) break;
            /* frames of finished subtrees are forgotten once they pile up */
            g_walk_pop_to(c, --depth, c->n_frames - mark > (1u << 16));
            continue;
        }
        uint32_t ci = nd->first_child + stack[2 * depth + 1]++;
        const g_trie_node *ch = &v->nodes[ci];
        if ((s = g_walk_push(c, ch->byte)) != VKA_OK) break;
        if (!g_level_alive(&c->levels[c->n_levels - 1])) {
            g_walk_pop_to(c, depth, false);
            continue;
        }
        bits_set_range(c->bits_a, ch->rank_begin, ch->rank_here_end);
        if (!ch->n_children) {
            g_walk_pop_to(c, depth, false);
            continue;
        }
        depth++;
        stack[2 * depth] = ci;
        stack[2 * depth + 1] = 0;
    }
    free(stack);
    g_frames_rollback(c, mark);
    return s;
}

/* ---------------------------------------------------------------- public */

static vka_status check_args(const vka_grammar_state *st, const vka_grammar_vocab *v, const void *out) {
    if (!st || !v || !out) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "grammar mask: NULL argument");
    return g_ctx_maybe_collect(st->ctx);
}

/* -INFINITY into n floats, eight at a time (a fixed-size memcpy becomes
 * vector stores; a plain loop is not vectorized at -O2). */
static void fill_minus_infinity(float *x, uint32_t n) {
    static const float eight[8] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY,
                                   -INFINITY, -INFINITY, -INFINITY, -INFINITY};
    uint32_t i = 0;
    for (; i + 8 <= n; i += 8) memcpy(x + i, eight, sizeof eight);
    for (; i < n; i++) x[i] = -INFINITY;
}

vka_status vka_grammar_mask(const vka_grammar_state *st, const vka_grammar_vocab *v, float *logits) {
    VKA_TRY(check_args(st, v, logits));
    const entry *e;
    VKA_TRY(mask_entry(st, v, &e));
    if (e->inverted) {
        for (uint32_t i = 0; i < e->n_a; i++) logits[e->a[i]] = -INFINITY;
        return VKA_OK;
    }
    /* few allowed: keep their logits, mask everything, put them back */
    g_ctx *c = st->ctx;
    if (!g_grow((void **)&c->saved, &c->cap_saved, e->n_a ? e->n_a : 1, sizeof *c->saved)) return oom();
    for (uint32_t i = 0; i < e->n_a; i++) c->saved[i] = logits[e->a[i]];
    fill_minus_infinity(logits, v->n_tokens);
    for (uint32_t i = 0; i < e->n_a; i++) logits[e->a[i]] = c->saved[i];
    return VKA_OK;
}

static void write_bits(const entry *e, uint32_t n_tokens, uint32_t *bits) {
    uint32_t words = (n_tokens + 31) / 32;
    memset(bits, e->inverted ? 0xFF : 0, (size_t)words * sizeof *bits);
    if (e->inverted && (n_tokens & 31)) bits[words - 1] = (1u << (n_tokens & 31)) - 1;
    for (uint32_t i = 0; i < e->n_a; i++) bits[e->a[i] >> 5] ^= 1u << (e->a[i] & 31);
}

vka_status vka_grammar_mask_bits(const vka_grammar_state *st, const vka_grammar_vocab *v, uint32_t *bits) {
    VKA_TRY(check_args(st, v, bits));
    const entry *e;
    VKA_TRY(mask_entry(st, v, &e));
    write_bits(e, v->n_tokens, bits);
    return VKA_OK;
}

vka_status g_mask_bits_uncached(const vka_grammar_state *st, const vka_grammar_vocab *v, uint32_t *bits) {
    VKA_TRY(check_args(st, v, bits));
    VKA_TRY(cache_prepare(st->ctx, v));
    VKA_TRY(plain_ranks(st, v));
    const uint32_t *ranks = st->ctx->bits_a;
    bool end = vka_grammar_can_end(st);
    memset(bits, 0, (size_t)((v->n_tokens + 31) / 32) * sizeof *bits);
    for (uint32_t id = 0; id < v->n_tokens; id++) {
        uint32_t r = v->rank_of[id];
        bool ok = r == G_NONE ? (v->eog[id] && end) : (ranks[r >> 5] >> (r & 31)) & 1u;
        if (ok) bits[id >> 5] |= 1u << (id & 31);
    }
    return VKA_OK;
}

bool vka_grammar_allows_token(const vka_grammar_state *st, const vka_grammar_vocab *v, int32_t id) {
    if (!st || !v || id < 0 || (uint32_t)id >= v->n_tokens) return false;
    if (v->eog[id]) return vka_grammar_can_end(st);
    if (v->rank_of[id] == G_NONE) return false;
    g_ctx *c = st->ctx;
    uint32_t len;
    const unsigned char *p = g_piece(v, (uint32_t)id, &len);
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
        return vka_fail(VKA_ERR_INVALID_ARGUMENT, "token %d is out of range (vocabulary of %u)", id, v->n_tokens);
    if (v->eog[id]) {
        if (!vka_grammar_can_end(st))
            return vka_fail(VKA_ERR_GRAMMAR, "end-of-generation token %d is not allowed: the grammar is not complete here", id);
        static const uint32_t done_top = G_FRAME_EMPTY;
        return g_state_set_tops(st, &done_top, 1);
    }
    if (v->rank_of[id] == G_NONE)
        return vka_fail(VKA_ERR_GRAMMAR, "token %d has no text (a control token) and cannot match a grammar", id);
    uint32_t len;
    const unsigned char *p = g_piece(v, (uint32_t)id, &len);
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
