/* regex_subset.c — subset construction of NFAs with lookaheads into DFAs.
 * A configuration is an NFA state with the obligations its path has taken
 * on: lookaheads met earlier, each as the state of its automaton on the text
 * read since. An obligation is settled early when its automaton reaches its
 * universal state (the lookahead holds: a positive one is dropped, a
 * negative one kills the path) or its dead state (the reverse); otherwise
 * it is decided at the end of the string by the automaton's acceptance. A
 * DFA state is a set of configurations; it accepts when one of them is at
 * the final state with every pending obligation holding at the end. Without
 * lookaheads every obligation set is empty and this is the textbook
 * construction. */
#include <stdlib.h>
#include <string.h>

#include "structured/regex_impl.h"

/* Results of the obligation and configuration functions besides an id. */
#define DIES UINT32_MAX          /* an obligation failed: the path is gone */
#define NO_MEMORY (UINT32_MAX - 1)

typedef struct subset {
    const re_nfa *n;
    re_alphabet a;
    uint32_t *sil_off, *sil_edge;    /* empty edges (ε, ^, lookahead) by source state: indexes into n->edges */
    uint32_t *cls_off, *cls_edge;    /* class edges by source state */
    /* obligation sets: sorted (automaton << 32 | state) arrays, interned; set 0 is empty */
    uint64_t *ob_pool, *ob_tmp;
    uint32_t ob_pool_n, ob_pool_cap, ob_tmp_cap;
    uint32_t *ob_off, n_ob, cap_ob_off;
    uint8_t *ob_end;                 /* every obligation of the set holds at the end of the string */
    uint32_t cap_ob_pos;
    re_idtab ob_ids;
    /* configurations (NFA state << 32 | obligation set), interned */
    uint64_t *cfg;
    uint32_t n_cfg, cap_cfg;
    re_idtab cfg_ids;
    uint32_t *mark, cap_mark, gen;
    uint32_t *stack, cap_stack;
    uint32_t *tmp, tmp_n, cap_tmp;   /* a set being built */
    /* DFA states: their configuration sets, concatenated */
    uint32_t *pool, pool_n, pool_cap;
    uint32_t *set_off, cap_off;
    uint32_t n_dfa, cap_dfa;
    uint32_t *trans;
    uint8_t *accept;
    re_idtab ids;
    uint64_t *pairs;                 /* (symbol << 32 | configuration) of one DFA state's moves */
    uint32_t pairs_n, pairs_cap;
    bool too_many;
} subset;

static void subset_free(subset *s) {
    re_alphabet_free(&s->a);
    free(s->sil_off), free(s->sil_edge), free(s->cls_off), free(s->cls_edge);
    free(s->ob_pool), free(s->ob_tmp), free(s->ob_off), free(s->ob_end);
    free(s->cfg), free(s->mark), free(s->stack), free(s->tmp), free(s->pool), free(s->set_off);
    free(s->trans), free(s->accept), free(s->pairs);
    re_idtab_free(&s->ob_ids), re_idtab_free(&s->cfg_ids), re_idtab_free(&s->ids);
}

/* Edges by source state: empty ones and class ones apart. */
static bool index_edges(subset *s) {
    const re_nfa *n = s->n;
    uint32_t ns = n->n_states;
    s->sil_off = calloc(ns + 2u, sizeof(uint32_t));
    s->cls_off = calloc(ns + 2u, sizeof(uint32_t));
    s->sil_edge = malloc((n->n_edges + 1u) * sizeof(uint32_t));
    s->cls_edge = malloc((n->n_edges + 1u) * sizeof(uint32_t));
    uint32_t *sf = malloc((ns + 1u) * sizeof *sf), *cf = malloc((ns + 1u) * sizeof *cf);
    bool ok = s->sil_off && s->cls_off && s->sil_edge && s->cls_edge && sf && cf;
    for (uint32_t i = 0; ok && i < n->n_edges; i++) {
        bool silent = n->edges[i].cls == RE_EPS || n->edges[i].cls == RE_BOL || (n->edges[i].cls & RE_LOOK_BIT);
        (silent ? s->sil_off : s->cls_off)[n->edges[i].from + 1]++;
    }
    for (uint32_t q = 0; ok && q < ns; q++) s->sil_off[q + 1] += s->sil_off[q], s->cls_off[q + 1] += s->cls_off[q];
    if (ok) memcpy(sf, s->sil_off, ns * sizeof *sf), memcpy(cf, s->cls_off, ns * sizeof *cf);
    for (uint32_t i = 0; ok && i < n->n_edges; i++) {
        bool silent = n->edges[i].cls == RE_EPS || n->edges[i].cls == RE_BOL || (n->edges[i].cls & RE_LOOK_BIT);
        if (silent) s->sil_edge[sf[n->edges[i].from]++] = i;
        else s->cls_edge[cf[n->edges[i].from]++] = i;
    }
    free(sf), free(cf);
    return ok;
}

/* ---------------------------------------------------------------- obligation sets */

static uint64_t ob_hash(const void *ctx, uint32_t id) {
    const subset *s = ctx;
    uint32_t len = s->ob_off[id + 1] - s->ob_off[id];
    return re_hash_u32s(len ? (const uint32_t *)(s->ob_pool + s->ob_off[id]) : NULL, 2u * len);
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The id of the set ob_tmp[0 .. n) (sorted, distinct); added if new. */
static uint32_t ob_intern(subset *s, uint32_t n) {
    if (n == 0) return 0;
    if (!re_idtab_reserve(&s->ob_ids, s->n_ob, ob_hash, s)) return NO_MEMORY;
    size_t at = re_idtab_slot(&s->ob_ids, re_hash_u32s((const uint32_t *)s->ob_tmp, 2u * n));
    for (uint32_t id; (id = s->ob_ids.slots[at]) != UINT32_MAX; at = re_idtab_step(&s->ob_ids, at))
        if (s->ob_off[id + 1] - s->ob_off[id] == n && memcmp(s->ob_pool + s->ob_off[id], s->ob_tmp, n * 8u) == 0)
            return id;
    if (!js_grow((void **)&s->ob_pool, &s->ob_pool_cap, s->ob_pool_n + n, sizeof *s->ob_pool) ||
        !js_grow((void **)&s->ob_off, &s->cap_ob_off, s->n_ob + 2, sizeof *s->ob_off) ||
        !js_grow((void **)&s->ob_end, &s->cap_ob_pos, s->n_ob + 1, 1))
        return NO_MEMORY;
    memcpy(s->ob_pool + s->ob_pool_n, s->ob_tmp, n * 8u);
    s->ob_pool_n += n;
    s->ob_off[s->n_ob + 1] = s->ob_pool_n;
    s->ob_end[s->n_ob] = 1;
    for (uint32_t i = 0; i < n; i++) {
        const re_auto *a = &s->n->autos[s->ob_tmp[i] >> 32];
        if ((a->dfa->accept[(uint32_t)s->ob_tmp[i]] != 0) == a->negated) s->ob_end[s->n_ob] = 0;
    }
    s->ob_ids.slots[at] = s->n_ob;
    return s->n_ob++;
}

/* Appends obligation (m, state) to ob_tmp[0 .. *n) unless it is settled;
 * false when it kills the path. */
static bool ob_put(subset *s, uint32_t m, uint32_t state, uint32_t *n) {
    const re_auto *a = &s->n->autos[m];
    bool holds = state == a->universal, fails = state == a->dead;
    if (a->negated ? holds : fails) return false;
    if (a->negated ? fails : holds) return true;   /* settled: dropped */
    s->ob_tmp[(*n)++] = (uint64_t)m << 32 | state;
    return true;
}

/* Set o with one more obligation: automaton m at its start; DIES if that fails at once. */
static uint32_t ob_with(subset *s, uint32_t o, uint32_t m) {
    uint32_t len = s->ob_off[o + 1] - s->ob_off[o];
    if (!js_grow((void **)&s->ob_tmp, &s->ob_tmp_cap, len + 1, sizeof *s->ob_tmp)) return NO_MEMORY;
    if (len) memcpy(s->ob_tmp, s->ob_pool + s->ob_off[o], len * 8u);
    uint32_t n = len;
    if (!ob_put(s, m, s->n->autos[m].dfa->start, &n)) return DIES;
    if (n > 1) qsort(s->ob_tmp, n, sizeof *s->ob_tmp, cmp_u64);
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++)
        if (k == 0 || s->ob_tmp[i] != s->ob_tmp[k - 1]) s->ob_tmp[k++] = s->ob_tmp[i];
    return ob_intern(s, k);
}

/* Set o after reading a character of symbol y; DIES if an obligation fails. */
static uint32_t ob_step(subset *s, uint32_t o, uint32_t y) {
    if (o == 0) return 0;
    uint32_t len = s->ob_off[o + 1] - s->ob_off[o], n = 0;
    if (!js_grow((void **)&s->ob_tmp, &s->ob_tmp_cap, len, sizeof *s->ob_tmp)) return NO_MEMORY;
    for (uint32_t i = 0; i < len; i++) {
        uint64_t ob = s->ob_pool[s->ob_off[o] + i];
        uint32_t m = (uint32_t)(ob >> 32);
        const re_dfa *d = s->n->autos[m].dfa;
        uint32_t next = d->next[(size_t)(uint32_t)ob * d->n_syms + s->a.auto_sym[(size_t)y * s->n->n_autos + m]];
        if (!ob_put(s, m, next, &n)) return DIES;
    }
    /* distinct states stay distinct or merge: sort again */
    if (n > 1) qsort(s->ob_tmp, n, sizeof *s->ob_tmp, cmp_u64);
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++)
        if (k == 0 || s->ob_tmp[i] != s->ob_tmp[k - 1]) s->ob_tmp[k++] = s->ob_tmp[i];
    return ob_intern(s, k);
}

/* ---------------------------------------------------------------- configurations */

static uint64_t cfg_hash(const void *ctx, uint32_t id) { return re_hash_u64(((const subset *)ctx)->cfg[id]); }

static uint32_t cfg_intern(subset *s, uint32_t q, uint32_t o) {
    if (s->n->n_looks == 0) return q;   /* without lookaheads configuration q is NFA state q */
    uint64_t key = (uint64_t)q << 32 | o;
    if (!re_idtab_reserve(&s->cfg_ids, s->n_cfg, cfg_hash, s)) return NO_MEMORY;
    size_t at = re_idtab_slot(&s->cfg_ids, re_hash_u64(key));
    for (uint32_t id; (id = s->cfg_ids.slots[at]) != UINT32_MAX; at = re_idtab_step(&s->cfg_ids, at))
        if (s->cfg[id] == key) return id;
    if (!js_grow((void **)&s->cfg, &s->cap_cfg, s->n_cfg + 1, sizeof *s->cfg) ||
        !js_grow((void **)&s->mark, &s->cap_mark, s->n_cfg + 1, sizeof *s->mark) ||
        !js_grow((void **)&s->stack, &s->cap_stack, s->n_cfg + 1, sizeof *s->stack) ||
        !js_grow((void **)&s->tmp, &s->cap_tmp, s->n_cfg + 1, sizeof *s->tmp))
        return NO_MEMORY;
    s->cfg[s->n_cfg] = key;
    s->mark[s->n_cfg] = 0;
    s->cfg_ids.slots[at] = s->n_cfg;
    return s->n_cfg++;
}

/* The closure of tmp[0 .. tmp_n) under empty edges (^ ones only at_start),
 * sorted, back into tmp; false when out of memory. */
static bool closure(subset *s, bool at_start) {
    const re_nfa *n = s->n;
    s->gen++;
    uint32_t top = 0, k = 0;
    for (uint32_t i = 0; i < s->tmp_n; i++)
        if (s->mark[s->tmp[i]] != s->gen) s->mark[s->tmp[i]] = s->gen, s->stack[top++] = s->tmp[i];
    while (top) {
        uint32_t c = s->stack[--top];
        s->tmp[k++] = c;
        uint32_t q = (uint32_t)(s->cfg[c] >> 32), o = (uint32_t)s->cfg[c];
        for (uint32_t e = s->sil_off[q]; e < s->sil_off[q + 1]; e++) {
            const re_nfa_edge *edge = &n->edges[s->sil_edge[e]];
            uint32_t o2 = o;
            if (edge->cls == RE_BOL && !at_start) continue;
            if (edge->cls & RE_LOOK_BIT && edge->cls != RE_EPS && edge->cls != RE_BOL) {
                const re_look *look = &n->looks[edge->cls & ~RE_LOOK_BIT];
                o2 = ob_with(s, o, at_start ? look->at_start : look->later);
                if (o2 == DIES) continue;
                if (o2 == NO_MEMORY) return false;
            }
            uint32_t t = cfg_intern(s, edge->to, o2);
            if (t == NO_MEMORY) return false;
            if (s->mark[t] != s->gen) s->mark[t] = s->gen, s->stack[top++] = t;
        }
    }
    s->tmp_n = k;
    return re_sort_u32(s->tmp, k);
}

/* ---------------------------------------------------------------- DFA states */

static uint64_t state_hash(const void *ctx, uint32_t id) {
    const subset *s = ctx;
    uint32_t len = s->set_off[id + 1] - s->set_off[id];
    return re_hash_u32s(len ? s->pool + s->set_off[id] : NULL, len);
}

static bool add_dfa_state(subset *s) {
    uint32_t n = s->n_dfa + 1, cap = s->cap_dfa, k = s->a.n_syms;
    if ((uint64_t)s->pool_n + s->tmp_n >= UINT32_MAX || (uint64_t)n * k >= UINT32_MAX) return false;
    /* accept and trans share one capacity (rows of states) */
    bool ok = js_grow((void **)&s->accept, &cap, n, 1);
    cap = s->cap_dfa;
    ok = ok && js_grow((void **)&s->trans, &cap, n, (size_t)k * sizeof *s->trans);
    ok = ok && js_grow((void **)&s->set_off, &s->cap_off, n + 1, sizeof *s->set_off);
    ok = ok && js_grow((void **)&s->pool, &s->pool_cap, s->pool_n + s->tmp_n, sizeof *s->pool);
    if (!ok) return false;
    s->cap_dfa = cap;
    if (s->tmp_n) memcpy(s->pool + s->pool_n, s->tmp, s->tmp_n * sizeof *s->tmp);
    s->pool_n += s->tmp_n;
    s->set_off[s->n_dfa + 1] = s->pool_n;
    s->n_dfa++;
    return true;
}

/* The DFA state of the set in tmp (added if new); UINT32_MAX on failure. */
static uint32_t intern(subset *s) {
    if (!re_idtab_reserve(&s->ids, s->n_dfa, state_hash, s)) return UINT32_MAX;
    size_t at = re_idtab_slot(&s->ids, re_hash_u32s(s->tmp, s->tmp_n));
    for (uint32_t id; (id = s->ids.slots[at]) != UINT32_MAX; at = re_idtab_step(&s->ids, at)) {
        uint32_t len = s->set_off[id + 1] - s->set_off[id];
        if (len == s->tmp_n && (len == 0 || memcmp(s->pool + s->set_off[id], s->tmp, len * sizeof *s->tmp) == 0))
            return id;
    }
    /* the states, and their sets together (a counter that many paths enter
     * makes sets that grow with it: quadratic work) */
    if (s->n_dfa >= RE_MAX_DFA_STATES || s->pool_n + s->tmp_n > RE_MAX_SUBSET_ENTRIES) {
        s->too_many = true;
        return UINT32_MAX;
    }
    if (!add_dfa_state(s)) return UINT32_MAX;
    s->ids.slots[at] = s->n_dfa - 1;
    return s->n_dfa - 1;
}

/* The moves of DFA state id: every (symbol, configuration) reached. */
static bool collect_moves(subset *s, uint32_t id) {
    s->pairs_n = 0;
    for (uint32_t i = s->set_off[id]; i < s->set_off[id + 1]; i++) {
        uint64_t c = s->cfg[s->pool[i]];
        uint32_t q = (uint32_t)(c >> 32), o = (uint32_t)c;
        for (uint32_t e = s->cls_off[q]; e < s->cls_off[q + 1]; e++) {
            const re_nfa_edge *edge = &s->n->edges[s->cls_edge[e]];
            for (uint32_t j = s->a.cls_off[edge->cls]; j < s->a.cls_off[edge->cls + 1]; j++) {
                uint32_t y = s->a.cls_syms[j], o2 = ob_step(s, o, y);
                if (o2 == DIES) continue;
                uint32_t t = o2 == NO_MEMORY ? NO_MEMORY : cfg_intern(s, edge->to, o2);
                if (t == NO_MEMORY || !js_grow((void **)&s->pairs, &s->pairs_cap, s->pairs_n + 1, sizeof *s->pairs))
                    return false;
                s->pairs[s->pairs_n++] = (uint64_t)y << 32 | t;
            }
        }
    }
    if (s->pairs_n > 1) qsort(s->pairs, s->pairs_n, sizeof *s->pairs, cmp_u64);
    return true;
}

static vka_status too_complex_or_oom(const subset *s) {
    if (s->too_many)
        return vka_fail(VKA_ERR_GRAMMAR, "regular expression too complex: its automaton needs more than %u states",
                        RE_MAX_DFA_STATES);
    return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory building a DFA");
}

static bool accepting(const subset *s, uint32_t id, uint32_t final) {
    for (uint32_t i = s->set_off[id]; i < s->set_off[id + 1]; i++) {
        uint64_t c = s->cfg[s->pool[i]];
        if ((uint32_t)(c >> 32) == final && s->ob_end[(uint32_t)c]) return true;
    }
    return false;
}

/* DFA state 0 is the empty set (dead), state 1 the start's closure; every
 * state's moves are explored in order of creation. */
static vka_status explore(subset *s, uint32_t start, uint32_t final, bool at_start) {
    uint32_t k = s->a.n_syms;
    s->tmp_n = 0;
    if (intern(s) == UINT32_MAX) return too_complex_or_oom(s);
    uint32_t first = cfg_intern(s, start, 0);
    if (first == NO_MEMORY) return too_complex_or_oom(s);
    s->tmp[0] = first;
    s->tmp_n = 1;
    if (!closure(s, at_start) || intern(s) == UINT32_MAX) return too_complex_or_oom(s);
    for (uint32_t id = 0; id < s->n_dfa; id++) {
        if (!collect_moves(s, id)) return too_complex_or_oom(s);
        for (uint32_t y = 0; y < k; y++) s->trans[(size_t)id * k + y] = 0;
        for (uint32_t i = 0; i < s->pairs_n;) {
            uint32_t y = (uint32_t)(s->pairs[i] >> 32);
            s->tmp_n = 0;
            for (; i < s->pairs_n && (uint32_t)(s->pairs[i] >> 32) == y; i++) s->tmp[s->tmp_n++] = (uint32_t)s->pairs[i];
            uint32_t t = closure(s, false) ? intern(s) : UINT32_MAX;
            if (t == UINT32_MAX) return too_complex_or_oom(s);
            s->trans[(size_t)id * k + y] = t;
        }
        s->accept[id] = accepting(s, id, final);
    }
    return VKA_OK;
}

vka_status re_nfa_to_dfa_at(const re_nfa *n, uint32_t start, uint32_t final, bool at_start, re_dfa **out) {
    *out = NULL;
    if (n->status != VKA_OK) return n->status;
    if (n->too_big)
        return vka_fail(VKA_ERR_GRAMMAR, "regular expression too complex: more than %u automaton states",
                        RE_MAX_NFA_STATES);
    if (n->failed) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory building an automaton");
    subset s = {.n = n};
    bool ok = re_alphabet_build(n, &s.a) && index_edges(&s) &&
              js_grow((void **)&s.set_off, &s.cap_off, 1, sizeof *s.set_off) &&
              js_grow((void **)&s.ob_off, &s.cap_ob_off, 2, sizeof *s.ob_off) &&
              js_grow((void **)&s.ob_end, &s.cap_ob_pos, 1, 1);
    if (!ok) {
        subset_free(&s);
        return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory building a DFA");
    }
    if (ok && n->n_looks == 0) {
        /* configurations are the NFA states themselves */
        uint32_t ns = n->n_states;
        ok = js_grow((void **)&s.cfg, &s.cap_cfg, ns + 1, sizeof *s.cfg) &&
             js_grow((void **)&s.mark, &s.cap_mark, ns + 1, sizeof *s.mark) &&
             js_grow((void **)&s.stack, &s.cap_stack, ns + 1, sizeof *s.stack) &&
             js_grow((void **)&s.tmp, &s.cap_tmp, ns + 1, sizeof *s.tmp);
        for (uint32_t q = 0; ok && q < ns; q++) s.cfg[q] = (uint64_t)q << 32, s.mark[q] = 0;
        s.n_cfg = ns;
    }
    if (!ok) {
        subset_free(&s);
        return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory building a DFA");
    }
    s.set_off[0] = 0;
    s.ob_off[0] = s.ob_off[1] = 0;   /* set 0: no obligations */
    s.ob_end[0] = 1;
    s.n_ob = 1;
    vka_status st = explore(&s, start, final, at_start);
    re_dfa *d = NULL;
    if (st == VKA_OK) st = re_dfa_alloc(s.n_dfa, s.a.atoms, s.a.atom_sym, s.a.n_atoms, s.a.n_syms, &d);
    if (st == VKA_OK) {
        memcpy(d->next, s.trans, (size_t)s.n_dfa * s.a.n_syms * sizeof *d->next);
        memcpy(d->accept, s.accept, s.n_dfa);
        d->start = 1;
        st = re_dfa_minimize(d, out);
    }
    subset_free(&s);
    return st;
}

vka_status re_nfa_to_dfa(const re_nfa *n, uint32_t start, uint32_t final, re_dfa **out) {
    return re_nfa_to_dfa_at(n, start, final, true, out);
}
