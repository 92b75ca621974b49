/* grammar_dfa.c — the lazily built DFA of grammar_dfa.h: states interned by
 * their sorted stack tops, successors made with the matcher's own step
 * (g_walk_push) on first use, incomplete characters merged when the exact
 * bits cannot matter. */
#include <stdlib.h>
#include <string.h>

#include "structured/grammar_dfa.h"
#include "base/status.h"

/* Everything is dropped once a DFA holds this much (a successor table is 1 KiB). */
#define MAX_FRAMES (1u << 21)
#define MAX_STATES (1u << 18)
#define MAX_TRANSITIONS (1u << 23)

static vka_status oom(void) { return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory in grammar masking"); }

/* ---------------------------------------------------------------- classes */

/* The groups (see G_GROUPS) class cls holds wholly, and those it holds in part. */
static void class_groups(const vka_grammar *g, uint32_t cls, uint32_t *all, uint32_t *some) {
    const g_class *c = &g->classes[cls];
    const g_range *r = g->ranges + c->first;
    uint32_t covered[G_GROUPS] = {0};
    *all = *some = 0;
    for (uint32_t i = 0; i < c->count; i++) {
        uint32_t lo = r[i].lo < 0x80 ? 0x80 : r[i].lo, hi = r[i].hi;
        for (uint32_t grp = 0; grp < G_GROUPS && lo <= hi; grp++) {
            uint32_t glo = g_group_first(grp), ghi = g_group_first(grp + 1) - 1;
            if (grp == 16) ghi = 0xD7FF;    /* the surrogates follow group 16 and are in no group */
            uint32_t a = lo > glo ? lo : glo, b = hi < ghi ? hi : ghi;
            if (a <= b) covered[grp] += b - a + 1;
        }
    }
    for (uint32_t grp = 0; grp < G_GROUPS; grp++) {
        uint32_t size = (grp == 16 ? 0xD800 : g_group_first(grp + 1)) - g_group_first(grp);
        if (covered[grp] == size) *all |= 1u << grp;
        else if (covered[grp]) *some |= 1u << grp;
    }
}

/* The code points a character can still become after these bits: [lo, hi],
 * empty (lo > hi) when none is valid. */
static void char_range(uint32_t cp, uint32_t need, uint32_t total, uint32_t *lo, uint32_t *hi) {
    static const uint32_t least[5] = {0, 0, 0x80, 0x800, 0x10000};
    uint32_t shift = 6 * need;
    *lo = cp << shift;
    *hi = *lo | ((1u << shift) - 1);
    if (*lo < least[total]) *lo = least[total];
    if (*hi > G_MAX_CP) *hi = G_MAX_CP;
    if (*lo >= 0xD800 && *hi <= 0xDFFF) *lo = *hi + 1;     /* surrogates only */
}

/* The lead bytes (bit b - 0xC0) of characters class cls holds. */
static uint64_t class_leads(const vka_grammar *g, uint32_t cls) {
    uint64_t leads = 0;
    for (uint32_t b = 0xC2; b <= 0xF4; b++) {
        uint32_t total = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : 2, lo, hi;
        char_range(b & (0x7Fu >> total), total - 1, total, &lo, &hi);
        if (lo <= hi && g_class_meets(g, cls, lo, hi)) leads |= 1ull << (b - 0xC0);
    }
    return leads;
}

/* class_all, class_some and class_lead of cls, worked out on first use. */
static void class_info(g_dfa *d, uint32_t cls) {
    if (d->class_ready[cls]) return;
    class_groups(d->g, cls, &d->class_all[cls], &d->class_some[cls]);
    d->class_lead[cls] = class_leads(d->g, cls);
    d->class_ready[cls] = 1;
}

/* Whether the groups in `span` are alike for every class on the edges of
 * these tops: each holds all of them or none. Then which of their code
 * points an incomplete character becomes does not matter. */
static bool groups_alike(g_dfa *d, const uint32_t *tops, uint32_t n, uint32_t span) {
    const vka_grammar *g = d->g;
    for (uint32_t i = 0; i < n; i++) {
        if (tops[i] <= G_FRAME_CONTEXT) continue;
        uint32_t a = d->ctx->frames[tops[i]].state;
        for (uint32_t k = g->term_off[a]; k < g->term_off[a + 1]; k++) {
            class_info(d, g->term_cls[k]);
            uint32_t all = d->class_all[g->term_cls[k]] & span;
            if ((d->class_some[g->term_cls[k]] & span) || (all && all != span)) return false;
        }
    }
    return true;
}

static uint32_t partial_span(uint32_t cp, uint32_t need, uint32_t total) {
    uint32_t lo, hi;
    char_range(cp, need, total, &lo, &hi);
    return lo <= hi ? g_groups_of_range(lo, hi) : 0;
}

/* What limits the next continuation byte: only after the lead byte, and
 * more for E0, ED, F0 and F4 than for the others (0). */
static uint32_t lead_kind(uint32_t cp, uint32_t need, uint32_t total) {
    if (total - need != 1) return 0;
    if (total == 3 && (cp == 0x0 || cp == 0xD)) return 1 + cp;
    if (total == 4 && (cp == 0x0 || cp == 0x4)) return 20 + cp;
    return 0;
}

/* The lowest continuation byte that may follow an incomplete character of
 * bits cp, and the highest. */
static void continuation_range(uint32_t cp, uint32_t need, uint32_t total, uint8_t *lo, uint8_t *hi) {
    *lo = 0x80;
    *hi = 0xBF;
    uint32_t kind = lead_kind(cp, need, total);
    if (kind == 1) *lo = 0xA0;          /* E0 */
    else if (kind == 14) *hi = 0x9F;    /* ED */
    else if (kind == 20) *lo = 0x90;    /* F0 */
    else if (kind == 24) *hi = 0x8F;    /* F4 */
}

/* One incomplete character for all that behave alike: their completions lie
 * in the same groups (alike for the tops) and the same bytes may follow. The
 * first one seen stands for the others. */
static vka_status canonical_partial(g_dfa *d, uint32_t span, const g_level *L, uint32_t *cp) {
    uint64_t key = (uint64_t)span << 16 | L->need << 12 | L->total << 8 | lead_kind(L->cp, L->need, L->total);
    uint32_t mask = (1u << d->canon_bits) - 1, i = (uint32_t)(key * 0x9E3779B97F4A7C15ull >> 40) & mask;
    for (; d->canon_keys[i] != UINT64_MAX; i = (i + 1) & mask)
        if (d->canon_keys[i] == key) return *cp = d->canon_cps[i], VKA_OK;
    if ((d->canon_used + 1) * 2 > (1u << d->canon_bits)) {
        /* too many kinds to remember: this one stands for itself */
        *cp = L->cp;
        return VKA_OK;
    }
    d->canon_keys[i] = key;
    d->canon_cps[i] = *cp = L->cp;
    d->canon_used++;
    return VKA_OK;
}

/* ---------------------------------------------------------------- states */

static uint64_t hash_state(const uint32_t *tops, uint32_t n, const g_level *L) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ ((uint64_t)L->cp << 8) ^ ((uint64_t)L->need << 4) ^ L->total ^
                 ((uint64_t)L->context_before << 40) ^ ((uint64_t)L->has_context << 41);
    for (uint32_t i = 0; i < n; i++) h = (h ^ tops[i]) * 0x100000001B3ull + (h >> 29);
    return h ? h : 1;
}

static bool table_resize(g_dfa *d, uint32_t bits) {
    uint32_t size = 1u << bits, mask = size - 1;
    uint32_t *t = malloc((size_t)size * sizeof *t);
    if (!t) return false;
    memset(t, 0xFF, (size_t)size * sizeof *t);
    for (uint32_t s = G_DFA_FIRST; s < d->n_states; s++) {
        uint32_t i = (uint32_t)d->states[s].hash & mask;
        while (t[i] != G_NONE) i = (i + 1) & mask;
        t[i] = s;
    }
    free(d->table);
    d->table = t;
    d->table_bits = bits;
    return true;
}

static bool same_state(const g_dfa *d, const g_dfa_state *s, const uint32_t *tops, uint32_t n, const g_level *L) {
    return s->n_tops == n && s->cp == L->cp && s->need == L->need && s->total == L->total &&
           s->context_before == L->context_before && s->has_context == L->has_context &&
           memcmp(d->tops_pool + s->tops, tops, n * sizeof *tops) == 0;
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* The state of tops[0..n) (sorted in place) with L's character and flags. */
static vka_status intern_state(g_dfa *d, uint32_t *tops, uint32_t n, const g_level *L0, uint32_t *out) {
    qsort(tops, n, sizeof *tops, cmp_u32);
    g_level L = *L0;
    bool alike = false;
    if (L.need) {
        uint32_t span = partial_span(L.cp, L.need, L.total);
        alike = span && groups_alike(d, tops, n, span);
        if (alike) VKA_TRY(canonical_partial(d, span, &L, &L.cp));
    }
    uint64_t h = hash_state(tops, n, &L);
    uint32_t mask = (1u << d->table_bits) - 1, i = (uint32_t)h & mask;
    for (; d->table[i] != G_NONE; i = (i + 1) & mask) {
        const g_dfa_state *s = &d->states[d->table[i]];
        if (s->hash == h && same_state(d, s, tops, n, &L)) return *out = d->table[i], VKA_OK;
    }
    if (!g_grow((void **)&d->states, &d->cap_states, d->n_states + 1, sizeof *d->states) ||
        !g_grow((void **)&d->tops_pool, &d->cap_tops_pool, d->n_tops_pool + n, sizeof *d->tops_pool))
        return oom();
    memcpy(d->tops_pool + d->n_tops_pool, tops, n * sizeof *tops);
    uint32_t id = d->n_states++;
    d->states[id] = (g_dfa_state){.tops = d->n_tops_pool, .n_tops = n, .cp = L.cp, .need = (uint8_t)L.need,
                                  .total = (uint8_t)L.total, .has_context = L.has_context,
                                  .context_before = L.context_before, .partial_alike = alike, .hash = h,
                                  .trans = G_NONE, .chars = G_NONE};
    d->n_tops_pool += n;
    d->table[i] = id;
    if ((uint64_t)d->n_states * 2 > ((uint64_t)1 << d->table_bits) && !table_resize(d, d->table_bits + 1)) return oom();
    *out = id;
    return VKA_OK;
}

/* The state for the tops of level L of the DFA's walk scratch. */
static vka_status intern_level(g_dfa *d, const g_level *L, uint32_t *out) {
    uint32_t n = L->set_end - L->set_begin;
    if (!g_grow((void **)&d->scratch, &d->cap_scratch, n ? n : 1, sizeof *d->scratch)) return oom();
    memcpy(d->scratch, d->ctx->buf + L->set_begin, n * sizeof *d->scratch);
    return intern_state(d, d->scratch, n, L, out);
}

/* Whether the byte may follow in state st: some edge takes a character it
 * can start (or continue, inside an incomplete character). */
static bool may_follow(const g_dfa_state *st, const g_dfa_chars *ch, uint8_t byte) {
    if (st->need) return (byte & 0xC0) == 0x80 && ((ch->next_ok >> (byte - 0x80)) & 1u);
    if (byte < 0x80) return (ch->start[byte >> 5] >> (byte & 31)) & 1u;
    return byte >= 0xC0 && ((ch->next_ok >> (byte - 0xC0)) & 1u);
}

/* For an incomplete character of state st: the groups each continuation
 * byte 0x80 + i leads into (0 where none is valid), in one pass (the ranges
 * rise with the byte). */
static void continuation_spans(const g_dfa_state *st, uint32_t spans[64]) {
    uint32_t g = 0;
    for (uint32_t i = 0; i < 64; i++) {
        uint32_t lo, hi;
        char_range((st->cp << 6) | i, st->need - 1u, st->total, &lo, &hi);
        if (lo < 0x80 || lo > hi || lo > G_MAX_CP) {
            spans[i] = 0;
            continue;
        }
        if (lo >= 0xD800 && lo <= 0xDFFF) lo = 0xE000;
        if (hi >= 0xD800 && hi <= 0xDFFF) hi = 0xD7FF;
        if (lo > hi) {
            spans[i] = 0;
            continue;
        }
        while (g_group_starts[g + 1] <= lo) g++;
        uint32_t h = g;
        while (g_group_starts[h + 1] <= hi) h++;
        spans[i] = (h == 31 ? UINT32_MAX : (2u << h) - 1) & ~((1u << g) - 1);
    }
}

/* For an incomplete character: the continuation bytes whose characters some
 * edge may take (by the groups the edges' classes touch: a few more than
 * exactly, which only costs asking the matcher). */
static void next_bytes(g_dfa *d, const g_dfa_state *st, const uint32_t *spans, g_dfa_chars *ch) {
    const vka_grammar *g = d->g;
    uint32_t touched = 0;
    ch->next_ok = 0;
    if (!st->need) return;
    for (uint32_t i = 0; i < st->n_tops; i++) {
        uint32_t fr = d->tops_pool[st->tops + i];
        if (fr <= G_FRAME_CONTEXT) continue;
        uint32_t a = d->ctx->frames[fr].state;
        for (uint32_t k = g->term_off[a]; k < g->term_off[a + 1]; k++) {
            class_info(d, g->term_cls[k]);
            touched |= d->class_all[g->term_cls[k]] | d->class_some[g->term_cls[k]];
        }
    }
    for (uint32_t i = 0; i < 64; i++)
        if (spans[i] & touched) ch->next_ok |= 1ull << i;
}

/* The lowest lead byte (no incomplete character) or continuation byte (one
 * pending) that leads where 0xC0 + i or 0x80 + i does: the same groups, alike
 * for the state (a cell with no mixed group), and the same limits on what may
 * follow; else the byte itself. Such bytes are neighbours (the groups rise
 * with the bytes), so each is compared with the one before. */
static void high_reps(const g_dfa *d, const g_dfa_state *st, const uint32_t *spans, g_dfa_chars *ch) {
    uint8_t lo = 0x80, hi = 0xBF;
    if (st->need) continuation_range(st->cp, st->need, st->total, &lo, &hi);
    uint32_t prev = UINT32_MAX;
    for (uint32_t i = 0; i < 64; i++) {
        uint32_t byte = (st->need ? 0x80 : 0xC0) + i, key = UINT32_MAX;
        if (!st->need && d->lead_key[i] != UINT32_MAX) {
            uint32_t span = d->lead_key[i] >> 8;
            bool one_cell = !(span & ch->mixed_groups);
            for (uint32_t grp = 0; one_cell && grp < G_GROUPS; grp++)
                one_cell = !((span >> grp) & 1u) || ch->cell[128 + grp] == ch->cell[128 + __builtin_ctz(span)];
            if (one_cell) key = d->lead_key[i];
        } else if (st->need && st->partial_alike && byte >= lo && byte <= hi) {
            key = spans[i];
        }
        ch->high_rep[i] = key != UINT32_MAX && key == prev ? ch->high_rep[i - 1] : (uint8_t)byte;
        prev = key;
    }
}

/* A byte that leads from state s where `byte` does: the lowest ASCII
 * character of its cell (the same edges take both), or see high_reps; the
 * byte itself otherwise. */
static uint8_t same_as(const g_dfa *d, const g_dfa_state *st, const g_dfa_chars *ch, uint8_t byte) {
    if (!st->need && byte < 0x80) {
        const uint32_t *cell = d->cell_pool + ch->cells + 5 * ch->cell[byte];
        for (int w = 0; w < 4; w++)
            if (cell[w]) return (uint8_t)(w * 32 + __builtin_ctz(cell[w]));
        return byte;
    }
    return (uint8_t)(byte >= 0x80 ? ch->high_rep[byte & 0x3F] : byte);
}

vka_status g_dfa_step_new(g_dfa *d, uint32_t s, uint8_t byte, uint32_t *out) {
    if (d->states[s].trans == G_NONE) {
        if (!g_grow((void **)&d->trans_pool, &d->cap_trans_pool, d->n_trans_pool + 256, sizeof *d->trans_pool))
            return oom();
        memset(d->trans_pool + d->n_trans_pool, 0xFF, 256 * sizeof *d->trans_pool);
        d->states[s].trans = d->n_trans_pool;
        d->n_trans_pool += 256;
    }
    /* a byte no edge can take dies without asking the matcher (most do) */
    const g_dfa_chars *ch = NULL;
    VKA_TRY(g_dfa_chars_of(d, s, &ch));
    if (!may_follow(&d->states[s], ch, byte)) {
        uint32_t dead = d->states[s].has_context || d->states[s].context_before ? G_DFA_DEAD_CONTEXT : G_DFA_DEAD;
        d->trans_pool[d->states[s].trans + byte] = dead;
        return *out = dead, VKA_OK;
    }
    uint8_t rep = same_as(d, &d->states[s], ch, byte);
    uint32_t next;
    if (rep != byte) {
        VKA_TRY(g_dfa_step(d, s, rep, &next));
    } else {
        const g_dfa_state *st = &d->states[s];
        g_level proto = {.cp = st->cp, .need = st->need, .total = st->total, .has_context = st->has_context,
                         .context_before = st->context_before};
        VKA_TRY(g_walk_start_set(d->ctx, d->tops_pool + st->tops, st->n_tops, &proto));
        VKA_TRY(g_walk_push(d->ctx, byte));
        const g_level *L = &d->ctx->levels[d->ctx->n_levels - 1];
        next = L->context_before ? G_DFA_DEAD_CONTEXT : G_DFA_DEAD;
        if (g_level_alive(L)) VKA_TRY(intern_level(d, L, &next));
    }
    d->trans_pool[d->states[s].trans + byte] = next;
    *out = next;
    return VKA_OK;
}

vka_status g_dfa_complete(g_dfa *d, uint32_t s, uint32_t *out) {
    const g_dfa_state *st = &d->states[s];
    /* a continuation byte that the lead allows; then any */
    uint8_t byte, hi;
    continuation_range(st->cp, st->need, st->total, &byte, &hi);
    uint32_t cur = s, left = st->need;
    for (; left && cur >= G_DFA_FIRST; left--, byte = 0x80) VKA_TRY(g_dfa_step(d, cur, byte, &cur));
    *out = cur;
    return VKA_OK;
}

/* Splits the cells by one class: each into its part in the class and the
 * rest. A cell is 5 words: the ASCII characters, then the groups. */
static vka_status refine(g_dfa *d, uint32_t first, uint32_t *n, const uint32_t *in_class) {
    for (uint32_t i = 0, end = *n; i < end; i++) {
        uint32_t *m = d->cell_pool + first + 5 * i, in[5], out[5], any_in = 0, any_out = 0;
        for (int w = 0; w < 5; w++) {
            in[w] = m[w] & in_class[w];
            out[w] = m[w] & ~in_class[w];
            any_in |= in[w];
            any_out |= out[w];
        }
        if (!any_in || !any_out) continue;
        if (!g_grow((void **)&d->cell_pool, &d->cap_cell_pool, first + 5 * (*n + 1), sizeof *d->cell_pool)) return oom();
        m = d->cell_pool + first + 5 * i;
        memcpy(m, in, sizeof in);
        memcpy(d->cell_pool + first + 5 * (*n)++, out, sizeof out);
    }
    return VKA_OK;
}

static vka_status make_chars(g_dfa *d, uint32_t s, g_dfa_chars *ch) {
    const vka_grammar *g = d->g;
    uint32_t spans[64] = {0};
    memset(ch, 0, sizeof *ch);
    if (d->states[s].need) continuation_spans(&d->states[s], spans);
    next_bytes(d, &d->states[s], spans, ch);
    uint32_t first = d->n_cell_pool, n = 1;
    if (!g_grow((void **)&d->cell_pool, &d->cap_cell_pool, first + 5, sizeof *d->cell_pool)) return oom();
    memset(d->cell_pool + first, 0xFF, 4 * sizeof *d->cell_pool);
    d->cell_pool[first + 4] = (1u << G_GROUPS) - 1;
    if (++d->class_epoch == 0) {
        memset(d->class_mark, 0, (g->n_classes ? g->n_classes : 1) * sizeof *d->class_mark);
        d->class_epoch = 1;
    }
    for (uint32_t i = 0; i < d->states[s].n_tops; i++) {
        uint32_t fr = d->tops_pool[d->states[s].tops + i];
        if (fr <= G_FRAME_CONTEXT) continue;
        uint32_t a = d->ctx->frames[fr].state;
        for (uint32_t k = g->term_off[a]; k < g->term_off[a + 1]; k++) {
            uint32_t cls = g->term_cls[k], in_class[5];
            if (d->class_mark[cls] == d->class_epoch) continue;     /* many edges share a class */
            d->class_mark[cls] = d->class_epoch;
            class_info(d, cls);
            if (!d->states[s].need) ch->next_ok |= d->class_lead[cls];
            memcpy(in_class, g->classes[cls].ascii, 4 * sizeof *in_class);
            in_class[4] = d->class_all[cls];
            for (int w = 0; w < 4; w++) ch->start[w] |= in_class[w];
            ch->mixed_groups |= d->class_some[cls];
            VKA_TRY(refine(d, first, &n, in_class));
        }
    }
    for (uint32_t i = 0; i < n; i++) {
        const uint32_t *m = d->cell_pool + first + 5 * i;
        for (uint32_t w = 0; w < 5; w++)
            for (uint32_t x = m[w]; x; x &= x - 1) ch->cell[w * 32 + (uint32_t)__builtin_ctz(x)] = (uint8_t)i;
    }
    ch->cells = first;
    d->n_cell_pool = first + 5 * n;
    high_reps(d, &d->states[s], spans, ch);
    return VKA_OK;
}

vka_status g_dfa_chars_make(g_dfa *d, uint32_t s, const g_dfa_chars **out) {
    if (d->states[s].chars == G_NONE) {
        g_dfa_chars ch;
        VKA_TRY(make_chars(d, s, &ch));
        if (!g_grow((void **)&d->chars_pool, &d->cap_chars_pool, d->n_chars_pool + 1, sizeof *d->chars_pool)) return oom();
        d->chars_pool[d->n_chars_pool] = ch;
        d->states[s].chars = d->n_chars_pool++;
    }
    *out = &d->chars_pool[d->states[s].chars];
    return VKA_OK;
}

/* ---------------------------------------------------------------- starts */

vka_status g_dfa_start_positions(g_dfa *d, const uint32_t *pairs, uint32_t n, const g_level *partial, uint32_t *out) {
    uint32_t *tops = malloc((n ? n : 1) * sizeof *tops);
    if (!tops) return oom();
    vka_status s = VKA_OK;
    for (uint32_t i = 0; i < n && s == VKA_OK; i++) {
        uint32_t below = pairs[2 * i + 1], parent = G_FRAME_CONTEXT;
        if (below == G_FILL_BOTTOM) parent = G_FRAME_EMPTY;
        else if (below != G_FILL_CONTEXT) parent = g_frame_intern(d->ctx, below, G_FRAME_CONTEXT);
        if (parent == G_NONE || (tops[i] = g_frame_intern(d->ctx, pairs[2 * i], parent)) == G_NONE) s = VKA_ERR_GRAMMAR;
    }
    g_level L = {.cp = partial->cp, .need = partial->need, .total = partial->total};
    if (s == VKA_OK) s = intern_state(d, tops, n, &L, out);
    free(tops);
    return s;
}

/* Frame f of `from` with everything below it, as a frame of the DFA's store. */
static uint32_t import_frame(g_dfa *d, const g_ctx *from, uint32_t f) {
    uint32_t depth = 0;
    for (uint32_t x = f; x > G_FRAME_CONTEXT; x = from->frames[x].parent) depth++;
    if (!g_grow((void **)&d->scratch, &d->cap_scratch, depth ? depth : 1, sizeof *d->scratch)) return oom(), G_NONE;
    uint32_t i = depth;
    for (uint32_t x = f; x > G_FRAME_CONTEXT; x = from->frames[x].parent) d->scratch[--i] = from->frames[x].state;
    uint32_t below = f;     /* the bottom: the empty stack (or the unknown context) */
    while (below > G_FRAME_CONTEXT) below = from->frames[below].parent;
    for (i = 0; i < depth && below != G_NONE; i++) below = g_frame_intern(d->ctx, d->scratch[i], below);
    return below;
}

vka_status g_dfa_start_stacks(g_dfa *d, const g_ctx *from, const uint32_t *tops, uint32_t n, const g_level *partial,
                              uint32_t *out) {
    uint32_t *mine = malloc((n ? n : 1) * sizeof *mine);
    if (!mine) return oom();
    vka_status s = VKA_OK;
    for (uint32_t i = 0; i < n && s == VKA_OK; i++)
        if ((mine[i] = import_frame(d, from, tops[i])) == G_NONE) s = VKA_ERR_GRAMMAR;
    g_level L = {.cp = partial->cp, .need = partial->need, .total = partial->total};
    if (s == VKA_OK) s = intern_state(d, mine, n, &L, out);
    free(mine);
    return s;
}

/* ---------------------------------------------------------------- life */

static vka_status reset(g_dfa *d) {
    d->n_states = G_DFA_FIRST;
    d->n_tops_pool = d->n_trans_pool = d->n_chars_pool = d->n_cell_pool = 0;
    memset(d->canon_keys, 0xFF, ((size_t)1 << d->canon_bits) * sizeof *d->canon_keys);
    d->canon_used = 0;
    d->generation++;
    g_frames_rollback(d->ctx, 2);
    return table_resize(d, 10) ? VKA_OK : oom();
}

vka_status g_dfa_maybe_reset(g_dfa *d) {
    if (d->ctx->n_frames > MAX_FRAMES || d->n_states > MAX_STATES || d->n_trans_pool > MAX_TRANSITIONS) return reset(d);
    return VKA_OK;
}

g_dfa *g_dfa_create(const vka_grammar *g) {
    g_dfa *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->g = g;
    d->ctx = g_ctx_create(g);
    size_t n_classes = g->n_classes ? g->n_classes : 1;
    d->class_all = malloc(n_classes * sizeof *d->class_all);
    d->class_some = malloc(n_classes * sizeof *d->class_some);
    d->class_lead = malloc(n_classes * sizeof *d->class_lead);
    d->class_mark = calloc(n_classes, sizeof *d->class_mark);
    d->class_ready = calloc(n_classes, 1);
    /* room for a first few hundred states: growing from nothing costs a
     * first fill many copies of its tables */
    uint32_t want = 256;
    if (!g_grow((void **)&d->states, &d->cap_states, want, sizeof *d->states) ||
        !g_grow((void **)&d->trans_pool, &d->cap_trans_pool, want * 256, sizeof *d->trans_pool) ||
        !g_grow((void **)&d->chars_pool, &d->cap_chars_pool, want, sizeof *d->chars_pool) ||
        !g_grow((void **)&d->cell_pool, &d->cap_cell_pool, want * 5 * 8, sizeof *d->cell_pool) ||
        !g_grow((void **)&d->tops_pool, &d->cap_tops_pool, want * 4, sizeof *d->tops_pool)) {
        g_dfa_free(d);
        return NULL;
    }
    d->canon_bits = 12;
    d->canon_keys = malloc(((size_t)1 << d->canon_bits) * sizeof *d->canon_keys);
    d->canon_cps = malloc(((size_t)1 << d->canon_bits) * sizeof *d->canon_cps);
    if (!d->ctx || !d->class_all || !d->class_some || !d->class_lead || !d->class_mark || !d->class_ready || !d->canon_keys ||
        !d->canon_cps || reset(d) != VKA_OK) {
        g_dfa_free(d);
        return NULL;
    }
    /* what tells lead bytes apart: the groups of their characters, and the limits on what follows */
    for (uint32_t i = 0; i < 64; i++) {
        uint32_t b = 0xC0 + i, total = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : 2, bits = b & (0x7Fu >> total);
        uint32_t span = b >= 0xC2 && b <= 0xF4 ? partial_span(bits, total - 1, total) : 0;
        d->lead_key[i] = span ? span << 8 | lead_kind(bits, total - 1, total) << 2 | total : UINT32_MAX;
    }
    return d;
}

void g_dfa_free(g_dfa *d) {
    if (!d) return;
    g_ctx_release(d->ctx);
    free(d->class_all);
    free(d->class_some);
    free(d->class_lead);
    free(d->class_mark);
    free(d->class_ready);
    free(d->canon_keys);
    free(d->canon_cps);
    free(d->states);
    free(d->tops_pool);
    free(d->trans_pool);
    free(d->chars_pool);
    free(d->cell_pool);
    free(d->table);
    free(d->scratch);
    free(d);
}
