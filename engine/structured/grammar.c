/* grammar.c — the GBNF matcher: a pushdown automaton whose configuration is a
 * set of parse stacks over interned frames, advanced one code point at a time
 * with partial UTF-8 characters held back and checked by their possible range. */
#include <stdlib.h>
#include <string.h>

#include "structured/grammar_impl.h"
#include "base/status.h"

/* ---------------------------------------------------------------- grammar objects */

vka_status vka_grammar_parse(const char *text, const char *root, vka_grammar **out) {
    if (!out) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_grammar_parse: out is NULL");
    *out = NULL;
    if (!root) root = "root";
    g_syntax syn;
    vka_status s = g_parse(text, &syn);
    uint32_t root_rule = G_NONE;
    if (s == VKA_OK) {
        for (uint32_t i = 0; i < syn.n_rules; i++)
            if (strcmp(syn.rules[i].name, root) == 0) root_rule = i;
        if (root_rule == G_NONE)
            s = vka_fail(VKA_ERR_GRAMMAR, "the grammar has no rule '%s' to start from (HINT: define '%s ::= ...' or pass the start rule's name)",
                         root, root);
    }
    vka_grammar *g = NULL;
    if (s == VKA_OK) {
        g = calloc(1, sizeof *g);
        if (!g) s = vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory while compiling a grammar");
    }
    if (s == VKA_OK) s = g_compile(&syn, root_rule, g);
    g_syntax_free(&syn);
    if (s != VKA_OK) {
        vka_grammar_free(g);
        return s;
    }
    *out = g;
    return VKA_OK;
}

void vka_grammar_free(vka_grammar *g) {
    if (!g) return;
    free(g->term_off);
    free(g->term_cls);
    free(g->term_to);
    free(g->clo_term_off);
    free(g->clo_term);
    free(g->clo_call_off);
    free(g->clo_call_start);
    free(g->clo_call_ret);
    free(g->flags);
    free(g->classes);
    free(g->ranges);
    free(g);
}

uint32_t vka_grammar_n_states(const vka_grammar *g) { return g ? g->n_states : 0; }

/* ---------------------------------------------------------------- frame store */

static vka_status oom(void) { return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory in the grammar matcher"); }

static inline uint64_t frame_key(uint32_t state, uint32_t parent) { return ((uint64_t)state << 32) | parent; }

static inline uint32_t slot_of(uint64_t key, uint32_t bits) {
    return (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> (64 - bits));
}

/* Inserts frames [2, n_frames) in index order: the table then equals the one
 * built incrementally, which keeps rollback (delete newest first) valid. */
static bool table_rebuild(g_ctx *c, uint32_t bits) {
    size_t size = (size_t)1 << bits;
    uint64_t *keys = malloc(size * sizeof *keys);
    uint32_t *vals = malloc(size * sizeof *vals);
    if (!keys || !vals) {
        free(keys);
        free(vals);
        return false;
    }
    memset(vals, 0xFF, size * sizeof *vals);
    uint32_t mask = (uint32_t)size - 1;
    for (uint32_t f = 2; f < c->n_frames; f++) {
        uint64_t key = frame_key(c->frames[f].state, c->frames[f].parent);
        uint32_t i = slot_of(key, bits);
        while (vals[i] != G_NONE) i = (i + 1) & mask;
        keys[i] = key;
        vals[i] = f;
    }
    free(c->keys);
    free(c->vals);
    c->keys = keys;
    c->vals = vals;
    c->table_bits = bits;
    return true;
}

uint32_t g_frame_intern(g_ctx *c, uint32_t state, uint32_t parent) {
    uint64_t key = frame_key(state, parent);
    uint32_t mask = (1u << c->table_bits) - 1;
    uint32_t i = slot_of(key, c->table_bits);
    for (;;) {
        uint32_t v = c->vals[i];
        if (v == G_NONE) break;
        if (c->keys[i] == key) return v;
        i = (i + 1) & mask;
    }
    if (c->n_frames >= VKA_GRAMMAR_MAX_FRAMES) {
        vka_fail(VKA_ERR_GRAMMAR, "grammar matcher limit: more than %u stack frames (grammar too ambiguous or nested too deeply)",
                 VKA_GRAMMAR_MAX_FRAMES);
        return G_NONE;
    }
    if (!g_grow((void **)&c->frames, &c->cap_frames, c->n_frames + 1, sizeof *c->frames)) {
        oom();
        return G_NONE;
    }
    uint32_t f = c->n_frames++;
    c->frames[f] = (g_frame){state, parent, 0, 0};
    if ((uint64_t)(c->n_frames) * 2 > ((uint64_t)1 << c->table_bits)) {
        if (!table_rebuild(c, c->table_bits + 1)) {
            c->n_frames--;
            oom();
            return G_NONE;
        }
        return f;
    }
    c->keys[i] = key;
    c->vals[i] = f;
    return f;
}

void g_frames_rollback(g_ctx *c, uint32_t mark) {
    uint32_t mask = (1u << c->table_bits) - 1;
    while (c->n_frames > mark && c->n_frames > 2) {
        uint32_t f = --c->n_frames;
        uint32_t i = slot_of(frame_key(c->frames[f].state, c->frames[f].parent), c->table_bits);
        while (c->vals[i] != f) i = (i + 1) & mask;
        c->vals[i] = G_NONE;
    }
}

static void next_epoch(g_ctx *c) {
    if (++c->epoch == 0) {
        for (uint32_t f = 0; f < c->n_frames; f++) c->frames[f].item_mark = c->frames[f].top_mark = 0;
        c->epoch = 1;
    }
}

/* Drops frames no live state can reach; indices change (parents stay below
 * children, so one pass in order remaps them). */
static vka_status collect_garbage(g_ctx *c) {
    uint32_t *remap = malloc((size_t)c->n_frames * sizeof *remap);
    if (!remap) return oom();
    memset(remap, 0xFF, (size_t)c->n_frames * sizeof *remap);
    remap[G_FRAME_EMPTY] = G_FRAME_EMPTY;
    remap[G_FRAME_CONTEXT] = G_FRAME_CONTEXT;
    for (vka_grammar_state *st = c->live; st; st = st->next_live)
        for (uint32_t i = 0; i < st->n_tops; i++)
            for (uint32_t f = st->tops[i]; f > G_FRAME_CONTEXT && remap[f] == G_NONE; f = c->frames[f].parent)
                remap[f] = 0;
    uint32_t n = 2;
    for (uint32_t f = 2; f < c->n_frames; f++) {
        if (remap[f] == G_NONE) continue;
        g_frame fr = c->frames[f];
        fr.parent = remap[fr.parent];
        fr.item_mark = fr.top_mark = 0;
        remap[f] = n;
        c->frames[n++] = fr;
    }
    c->n_frames = n;
    c->epoch = 1;
    for (uint32_t f = 0; f < 2; f++) c->frames[f].item_mark = c->frames[f].top_mark = 0;
    for (vka_grammar_state *st = c->live; st; st = st->next_live)
        for (uint32_t i = 0; i < st->n_tops; i++) st->tops[i] = remap[st->tops[i]];
    free(remap);
    g_mask_memo_clear(c);
    uint32_t bits = 12;
    while (((uint64_t)1 << bits) < (uint64_t)n * 2) bits++;
    if (!table_rebuild(c, bits)) return oom();
    c->gc_threshold = n * 2 > (1u << 16) ? n * 2 : (1u << 16);
    return VKA_OK;
}

vka_status g_ctx_maybe_collect(g_ctx *c) {
    return c->n_frames > c->gc_threshold ? collect_garbage(c) : VKA_OK;
}

/* ---------------------------------------------------------------- stepping */

static vka_status emit_top(g_ctx *c, uint32_t f, uint32_t set_begin) {
    if (c->frames[f].top_mark == c->epoch) return VKA_OK;
    c->frames[f].top_mark = c->epoch;
    if (c->n_buf - set_begin >= VKA_GRAMMAR_MAX_STACKS)
        return vka_fail(VKA_ERR_GRAMMAR, "grammar matcher limit: more than %u parse stacks at once (grammar too ambiguous)",
                        VKA_GRAMMAR_MAX_STACKS);
    if (!g_grow((void **)&c->buf, &c->cap_buf, c->n_buf + 1, sizeof *c->buf)) return oom();
    c->buf[c->n_buf++] = f;
    return VKA_OK;
}

static vka_status push_work(g_ctx *c, uint32_t state, uint32_t parent) {
    if (!g_grow((void **)&c->work, &c->cap_work, c->n_work + 2, sizeof *c->work)) return oom();
    c->work[c->n_work++] = state;
    c->work[c->n_work++] = parent;
    return VKA_OK;
}

/* Appends to buf the stack tops reached from (state, parent) without
 * consuming a character: entering called rules, leaving finished ones. */
static vka_status closure(g_ctx *c, uint32_t state, uint32_t parent, uint32_t set_begin) {
    const vka_grammar *g = c->g;
    c->n_work = 0;
    VKA_TRY(push_work(c, state, parent));
    while (c->n_work) {
        uint32_t P = c->work[--c->n_work];
        uint32_t s = c->work[--c->n_work];
        uint32_t c0 = g->clo_call_off[s], c1 = g->clo_call_off[s + 1];
        bool final = g->flags[s] & G_FLAG_FINAL;
        if (c0 != c1 || final) {
            /* only states that lead elsewhere can start a cycle */
            uint32_t f = g_frame_intern(c, s, P);
            if (f == G_NONE) return VKA_ERR_GRAMMAR;
            if (c->frames[f].item_mark == c->epoch) continue;
            c->frames[f].item_mark = c->epoch;
        }
        for (uint32_t k = g->clo_term_off[s]; k < g->clo_term_off[s + 1]; k++) {
            uint32_t t = g_frame_intern(c, g->clo_term[k], P);
            if (t == G_NONE) return VKA_ERR_GRAMMAR;
            VKA_TRY(emit_top(c, t, set_begin));
        }
        for (uint32_t k = c0; k < c1; k++) {
            uint32_t ret = g->clo_call_ret[k];
            uint32_t F = P;
            if (!(g->flags[ret] & G_FLAG_EXIT_ONLY)) {
                F = g_frame_intern(c, ret, P);
                if (F == G_NONE) return VKA_ERR_GRAMMAR;
            }
            VKA_TRY(push_work(c, g->clo_call_start[k], F));
        }
        if (final) {
            if (P <= G_FRAME_CONTEXT) VKA_TRY(emit_top(c, P, set_begin));
            else VKA_TRY(push_work(c, c->frames[P].state, c->frames[P].parent));
        }
    }
    return VKA_OK;
}

/* Appends the tops after code point cp from the set buf[b, e). */
static vka_status advance_cp(g_ctx *c, uint32_t b, uint32_t e, uint32_t cp) {
    const vka_grammar *g = c->g;
    uint32_t set_begin = c->n_buf;
    next_epoch(c);
    for (uint32_t i = b; i < e; i++) {
        uint32_t f = c->buf[i];
        if (f <= G_FRAME_CONTEXT) continue;
        uint32_t s = c->frames[f].state, P = c->frames[f].parent;
        for (uint32_t k = g->term_off[s]; k < g->term_off[s + 1]; k++)
            if (g_class_has(g, g->term_cls[k], cp)) VKA_TRY(closure(c, g->term_to[k], P, set_begin));
    }
    return VKA_OK;
}

/* Appends the tops of buf[b, e) that could match a code point in [lo, hi]. */
static vka_status filter_range(g_ctx *c, uint32_t b, uint32_t e, uint32_t lo, uint32_t hi) {
    const vka_grammar *g = c->g;
    if (!g_grow((void **)&c->buf, &c->cap_buf, c->n_buf + (e - b), sizeof *c->buf)) return oom();
    for (uint32_t i = b; i < e; i++) {
        uint32_t f = c->buf[i];
        if (f <= G_FRAME_CONTEXT) continue;
        uint32_t s = c->frames[f].state;
        for (uint32_t k = g->term_off[s]; k < g->term_off[s + 1]; k++) {
            if (g_class_meets(g, g->term_cls[k], lo, hi)) {
                c->buf[c->n_buf++] = f;
                break;
            }
        }
    }
    return VKA_OK;
}

static const uint32_t utf8_min[5] = {0, 0, 0x80, 0x800, 0x10000};

vka_status g_walk_push(g_ctx *c, uint8_t byte) {
    if (!g_grow((void **)&c->levels, &c->cap_levels, c->n_levels + 1, sizeof *c->levels)) return oom();
    g_level L = c->levels[c->n_levels - 1];
    g_level N = {0};
    N.set_begin = N.set_end = c->n_buf;
    N.frame_mark = c->n_frames;
    N.context_before = L.context_before || L.has_context;
    vka_status s = VKA_OK;
    if (!g_level_alive(&L)) goto push;
    uint32_t cp, need, total;
    if (L.need == 0) {
        if (byte < 0x80) { cp = byte; need = 0; total = 1; }
        else if (byte >= 0xC2 && byte <= 0xDF) { cp = byte & 0x1Fu; need = 1; total = 2; }
        else if (byte >= 0xE0 && byte <= 0xEF) { cp = byte & 0x0Fu; need = 2; total = 3; }
        else if (byte >= 0xF0 && byte <= 0xF4) { cp = byte & 0x07u; need = 3; total = 4; }
        else goto push;
    } else {
        if ((byte & 0xC0) != 0x80) goto push;
        cp = (L.cp << 6) | (byte & 0x3Fu);
        need = L.need - 1;
        total = L.total;
    }
    if (need == 0) {
        if (cp < utf8_min[total] || cp > G_MAX_CP || (cp >= 0xD800 && cp <= 0xDFFF)) goto push;
        s = advance_cp(c, L.set_begin, L.set_end, cp);
    } else {
        uint32_t shift = 6 * need;
        uint32_t lo = cp << shift, hi = lo | ((1u << shift) - 1);
        if (lo < utf8_min[total]) lo = utf8_min[total];
        if (hi > G_MAX_CP) hi = G_MAX_CP;
        if (lo > hi || (lo >= 0xD800 && hi <= 0xDFFF)) goto push;
        N.cp = cp;
        N.need = need;
        N.total = total;
        s = filter_range(c, L.set_begin, L.set_end, lo, hi);
    }
    N.set_end = c->n_buf;
    for (uint32_t i = N.set_begin; i < N.set_end; i++)
        if (c->buf[i] == G_FRAME_CONTEXT) N.has_context = true;
push:
    if (s != VKA_OK) {
        c->n_buf = N.set_begin;
        return s;
    }
    c->levels[c->n_levels++] = N;
    return VKA_OK;
}

void g_walk_pop_to(g_ctx *c, uint32_t depth, bool forget_frames) {
    if (depth + 1 >= c->n_levels) return;
    uint32_t mark = c->levels[depth + 1].frame_mark;
    c->n_levels = depth + 1;
    c->n_buf = c->levels[depth].set_end;
    if (forget_frames) g_frames_rollback(c, mark);
}

static vka_status walk_reset(g_ctx *c) {
    c->n_levels = 0;
    c->n_buf = 0;
    if (!g_grow((void **)&c->levels, &c->cap_levels, 1, sizeof *c->levels)) return oom();
    c->levels[0] = (g_level){0};
    c->levels[0].frame_mark = c->n_frames;
    c->n_levels = 1;
    return VKA_OK;
}

vka_status g_walk_start_set(g_ctx *c, const uint32_t *tops, uint32_t n, const g_level *proto) {
    VKA_TRY(walk_reset(c));
    if (!g_grow((void **)&c->buf, &c->cap_buf, n ? n : 1, sizeof *c->buf)) return oom();
    if (n) memcpy(c->buf, tops, n * sizeof *c->buf);
    c->n_buf = n;
    g_level *L = &c->levels[0];
    L->set_end = n;
    L->cp = proto->cp;
    L->need = proto->need;
    L->total = proto->total;
    L->has_context = proto->has_context;
    L->context_before = proto->context_before;
    return VKA_OK;
}

vka_status g_walk_start_state(g_ctx *c, const vka_grammar_state *st) {
    g_level proto = {.cp = st->cp, .need = st->need, .total = st->total};
    return g_walk_start_set(c, st->tops, st->n_tops, &proto);
}

vka_status g_walk_start_context_free(g_ctx *c, uint32_t automaton_state) {
    VKA_TRY(walk_reset(c));
    uint32_t f = g_frame_intern(c, automaton_state, G_FRAME_CONTEXT);
    if (f == G_NONE) return VKA_ERR_GRAMMAR;
    if (!g_grow((void **)&c->buf, &c->cap_buf, 1, sizeof *c->buf)) return oom();
    c->buf[0] = f;
    c->n_buf = 1;
    c->levels[0].set_end = 1;
    return VKA_OK;
}

/* ---------------------------------------------------------------- states */

void g_ctx_release(g_ctx *c) {
    if (!c || --c->refs) return;
    g_mask_caches_free(c);
    free(c->frames);
    free(c->keys);
    free(c->vals);
    free(c->levels);
    free(c->buf);
    free(c->work);
    free(c);
}

g_ctx *g_ctx_create(const vka_grammar *g) {
    g_ctx *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->refs = 1;
    c->g = g;
    c->epoch = 1;
    c->gc_threshold = 1u << 16;
    c->cap_frames = 0;
    if (!g_grow((void **)&c->frames, &c->cap_frames, 1024, sizeof *c->frames)) goto fail;
    c->frames[G_FRAME_EMPTY] = (g_frame){G_NONE, G_NONE, 0, 0};
    c->frames[G_FRAME_CONTEXT] = (g_frame){G_NONE, G_NONE, 0, 0};
    c->n_frames = 2;
    if (!table_rebuild(c, 12)) goto fail;
    return c;
fail:
    g_ctx_release(c);
    return NULL;
}

static void link_live(vka_grammar_state *st) {
    g_ctx *c = st->ctx;
    st->prev_live = NULL;
    st->next_live = c->live;
    if (c->live) c->live->prev_live = st;
    c->live = st;
}

static vka_status set_tops(vka_grammar_state *st, const uint32_t *tops, uint32_t n) {
    if (!g_grow((void **)&st->tops, &st->cap_tops, n ? n : 1, sizeof *st->tops)) return oom();
    if (n) memcpy(st->tops, tops, n * sizeof *tops);
    st->n_tops = n;
    return VKA_OK;
}

vka_status g_state_set_tops(vka_grammar_state *st, const uint32_t *tops, uint32_t n) {
    VKA_TRY(set_tops(st, tops, n));
    st->cp = st->need = st->total = 0;
    return VKA_OK;
}

vka_status vka_grammar_state_create(const vka_grammar *g, vka_grammar_state **out) {
    if (!g || !out) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_grammar_state_create: NULL argument");
    *out = NULL;
    vka_grammar_state *st = calloc(1, sizeof *st);
    if (!st) return oom();
    st->ctx = g_ctx_create(g);
    if (!st->ctx) {
        free(st);
        return oom();
    }
    link_live(st);
    g_ctx *c = st->ctx;
    vka_status s = walk_reset(c);
    if (s == VKA_OK) {
        next_epoch(c);
        s = closure(c, g->root_start, G_FRAME_EMPTY, 0);
    }
    if (s == VKA_OK) s = set_tops(st, c->buf, c->n_buf);
    if (s != VKA_OK) {
        vka_grammar_state_free(st);
        return s;
    }
    *out = st;
    return VKA_OK;
}

vka_status vka_grammar_state_clone(const vka_grammar_state *src, vka_grammar_state **out) {
    if (!src || !out) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_grammar_state_clone: NULL argument");
    *out = NULL;
    vka_grammar_state *st = calloc(1, sizeof *st);
    if (!st) return oom();
    if (set_tops(st, src->tops, src->n_tops) != VKA_OK) {
        free(st);
        return oom();
    }
    st->ctx = src->ctx;
    st->ctx->refs++;
    st->cp = src->cp;
    st->need = src->need;
    st->total = src->total;
    link_live(st);
    *out = st;
    return VKA_OK;
}

void vka_grammar_state_free(vka_grammar_state *st) {
    if (!st) return;
    g_ctx *c = st->ctx;
    if (st->prev_live) st->prev_live->next_live = st->next_live;
    else c->live = st->next_live;
    if (st->next_live) st->next_live->prev_live = st->prev_live;
    free(st->tops);
    g_ctx_release(c);
    free(st);
}

vka_status vka_grammar_accept_bytes(vka_grammar_state *st, const void *bytes, size_t len, bool *accepted) {
    if (!st || (!bytes && len) || !accepted)
        return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_grammar_accept_bytes: NULL argument");
    *accepted = false;
    g_ctx *c = st->ctx;
    VKA_TRY(g_ctx_maybe_collect(c));
    VKA_TRY(g_walk_start_state(c, st));
    uint32_t mark = c->n_frames;
    const uint8_t *p = bytes;
    for (size_t i = 0; i < len; i++) {
        vka_status s = g_walk_push(c, p[i]);
        if (s != VKA_OK) {
            g_frames_rollback(c, mark);
            return s;
        }
        if (!g_level_alive(&c->levels[c->n_levels - 1])) {
            g_frames_rollback(c, mark);
            return VKA_OK;
        }
    }
    const g_level *L = &c->levels[c->n_levels - 1];
    VKA_TRY(set_tops(st, c->buf + L->set_begin, L->set_end - L->set_begin));
    st->cp = L->cp;
    st->need = L->need;
    st->total = L->total;
    *accepted = true;
    return VKA_OK;
}

bool vka_grammar_can_end(const vka_grammar_state *st) {
    if (!st || st->need) return false;
    for (uint32_t i = 0; i < st->n_tops; i++)
        if (st->tops[i] == G_FRAME_EMPTY) return true;
    return false;
}

bool vka_grammar_is_done(const vka_grammar_state *st) {
    return vka_grammar_can_end(st) && st->n_tops == 1;
}
