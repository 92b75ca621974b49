/* regex_nfa.c — Thompson NFAs with edges on code point classes, and their
 * subset construction into DFAs over the coarsest partition of the code
 * points that the classes induce. */
#include <stdlib.h>
#include <string.h>

#include "regex_impl.h"

/* ---------------------------------------------------------------- building */

uint32_t re_nfa_state(re_nfa *n) {
    if (n->n_states >= RE_MAX_NFA_STATES) {
        n->failed = n->too_big = true;
        return 0;
    }
    return n->n_states++;
}

static void add_edge(re_nfa *n, uint32_t from, uint32_t to, uint32_t cls) {
    if (n->failed) return;
    if (!js_grow((void **)&n->edges, &n->cap_edges, n->n_edges + 1, sizeof *n->edges)) {
        n->failed = true;
        return;
    }
    n->edges[n->n_edges++] = (re_nfa_edge){from, to, cls};
}

void re_nfa_eps(re_nfa *n, uint32_t from, uint32_t to) { add_edge(n, from, to, RE_EPS); }

static uint64_t class_hash(const re_ranges *cls) { return re_hash_u32s((const uint32_t *)cls->r, 2 * cls->n); }

static uint64_t class_id_hash(const void *ctx, uint32_t id) { return class_hash(&((const re_nfa *)ctx)->classes[id]); }

/* Classes are interned: repetitions and DFA embeddings add the same ones
 * many times, and the partition is built from the distinct ones. */
uint32_t re_nfa_class_id(re_nfa *n, const re_ranges *cls) {
    if (n->failed) return 0;
    re_ranges norm = {0};
    if (!re_rs_copy(&norm, cls) || !re_rs_scalar(&norm) ||
        !re_idtab_reserve(&n->class_ids, n->n_classes, class_id_hash, n) ||
        !js_grow((void **)&n->classes, &n->cap_classes, n->n_classes + 1, sizeof *n->classes)) {
        re_rs_free(&norm);
        n->failed = true;
        return 0;
    }
    size_t at = re_idtab_slot(&n->class_ids, class_hash(&norm));
    for (uint32_t id; (id = n->class_ids.slots[at]) != UINT32_MAX; at = re_idtab_step(&n->class_ids, at))
        if (re_rs_equal(&n->classes[id], &norm)) {
            re_rs_free(&norm);
            return id;
        }
    n->classes[n->n_classes] = norm;
    n->class_ids.slots[at] = n->n_classes;
    return n->n_classes++;
}

void re_nfa_edge_to(re_nfa *n, uint32_t from, uint32_t to, uint32_t cls_id) { add_edge(n, from, to, cls_id); }

void re_nfa_class_edge(re_nfa *n, uint32_t from, uint32_t to, const re_ranges *cls) {
    uint32_t id = re_nfa_class_id(n, cls);
    add_edge(n, from, to, id);
}

re_frag re_nfa_add_dfa(re_nfa *n, const re_dfa *d) {
    re_frag f = {re_nfa_state(n), re_nfa_state(n)};
    uint32_t base = n->n_states, dead = re_dfa_dead(d);
    for (uint32_t s = 0; s < d->n_states; s++) re_nfa_state(n);
    uint32_t *cls = malloc((d->n_syms + 1u) * sizeof *cls);
    if (!cls) n->failed = true;
    for (uint32_t y = 0; !n->failed && y < d->n_syms; y++) {
        re_ranges r;
        if (!re_dfa_sym_ranges(d, y, &r)) {
            n->failed = true;
            break;
        }
        cls[y] = re_nfa_class_id(n, &r);
        re_rs_free(&r);
    }
    if (n->failed) {
        free(cls);
        return f;
    }
    re_nfa_eps(n, f.in, base + d->start);
    for (uint32_t s = 0; s < d->n_states; s++) {
        if (s == dead) continue;
        if (d->accept[s]) re_nfa_eps(n, base + s, f.out);
        for (uint32_t y = 0; y < d->n_syms; y++) {
            uint32_t t = d->next[(size_t)s * d->n_syms + y];
            if (t != dead) add_edge(n, base + s, base + t, cls[y]);
        }
    }
    free(cls);
    return f;
}

void re_nfa_free(re_nfa *n) {
    for (size_t i = 0; i < n->n_classes; i++) re_rs_free(&n->classes[i]);
    free(n->classes);
    free(n->edges);
    re_idtab_free(&n->class_ids);
    *n = (re_nfa){0};
}

/* ---------------------------------------------------------------- the symbol partition */

typedef struct alphabet {
    re_range *atoms;          /* disjoint ranges covering the scalar values */
    uint32_t *atom_sym;
    size_t n_atoms;
    uint32_t n_syms;
    uint32_t *cls_off, *cls_syms;   /* symbols of class c: cls_syms[cls_off[c] .. cls_off[c + 1]) */
} alphabet;

static void alphabet_free(alphabet *a) {
    free(a->atoms), free(a->atom_sym), free(a->cls_off), free(a->cls_syms);
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static size_t atom_index(const alphabet *a, uint32_t cp) {
    size_t lo = 0, hi = a->n_atoms;
    while (lo + 1 < hi) {
        size_t mid = (lo + hi) / 2;
        if (a->atoms[mid].lo <= cp) lo = mid;
        else hi = mid;
    }
    return lo;
}

/* Atoms: the ranges between consecutive class boundaries. Symbols: atoms
 * that lie in exactly the same classes. */
static bool build_alphabet(const re_nfa *n, alphabet *a) {
    *a = (alphabet){0};
    size_t nb = 4;
    for (size_t c = 0; c < n->n_classes; c++) nb += 2 * n->classes[c].n;
    uint32_t *bounds = malloc(nb * sizeof *bounds);
    if (!bounds) return false;
    size_t k = 0;
    bounds[k++] = 0, bounds[k++] = RE_SURR_LO, bounds[k++] = RE_SURR_HI + 1, bounds[k++] = RE_CP_END;
    for (size_t c = 0; c < n->n_classes; c++)
        for (size_t i = 0; i < n->classes[c].n; i++)
            bounds[k++] = n->classes[c].r[i].lo, bounds[k++] = n->classes[c].r[i].hi + 1;
    qsort(bounds, k, sizeof *bounds, cmp_u32);
    a->atoms = malloc(k * sizeof *a->atoms);
    bool ok = a->atoms != NULL;
    for (size_t i = 0; ok && i + 1 < k; i++) {
        if (bounds[i] == bounds[i + 1] || bounds[i] == RE_SURR_LO) continue;
        a->atoms[a->n_atoms++] = (re_range){bounds[i], bounds[i + 1] - 1};
    }
    free(bounds);
    /* membership lists: for each atom, the classes holding it (as a hash) */
    uint64_t *sig = ok ? calloc(a->n_atoms + 1, sizeof *sig) : NULL;
    a->atom_sym = ok ? malloc((a->n_atoms + 1) * sizeof *a->atom_sym) : NULL;
    ok = ok && sig && a->atom_sym;
    for (size_t c = 0; ok && c < n->n_classes; c++)
        for (size_t i = 0; i < n->classes[c].n; i++) {
            size_t first = atom_index(a, n->classes[c].r[i].lo), last = atom_index(a, n->classes[c].r[i].hi);
            for (size_t t = first; t <= last; t++) sig[t] = (sig[t] ^ (c + 1) * 0x9E3779B97F4A7C15u) * 1099511628211u;
        }
    /* equal signatures: the same symbol (a hash collision only merges atoms
     * of different classes, which the check below rules out) */
    uint32_t *rep = ok ? malloc((a->n_atoms + 1) * sizeof *rep) : NULL;
    ok = ok && rep;
    for (size_t t = 0; ok && t < a->n_atoms; t++) {
        uint32_t y = UINT32_MAX;
        for (uint32_t j = 0; j < a->n_syms && y == UINT32_MAX; j++) {
            if (sig[rep[j]] != sig[t]) continue;
            bool same = true;
            for (size_t c = 0; same && c < n->n_classes; c++)
                same = re_rs_has(&n->classes[c], a->atoms[t].lo) == re_rs_has(&n->classes[c], a->atoms[rep[j]].lo);
            if (same) y = j;
        }
        if (y == UINT32_MAX) rep[a->n_syms] = (uint32_t)t, y = a->n_syms++;
        a->atom_sym[t] = y;
    }
    free(sig);
    free(rep);
    /* symbols of each class */
    a->cls_off = ok ? calloc(n->n_classes + 1, sizeof *a->cls_off) : NULL;
    size_t total = 0;
    for (size_t c = 0; ok && a->cls_off && c < n->n_classes; c++)
        for (size_t i = 0; i < n->classes[c].n; i++)
            total += atom_index(a, n->classes[c].r[i].hi) - atom_index(a, n->classes[c].r[i].lo) + 1;
    a->cls_syms = ok && a->cls_off ? malloc((total + 1) * sizeof *a->cls_syms) : NULL;
    ok = ok && a->cls_off && a->cls_syms;
    uint8_t *seen = ok ? calloc(a->n_syms + 1, 1) : NULL;
    ok = ok && seen;
    size_t w = 0;
    for (size_t c = 0; ok && c < n->n_classes; c++) {
        a->cls_off[c] = (uint32_t)w;
        size_t start = w;
        for (size_t i = 0; i < n->classes[c].n; i++) {
            size_t first = atom_index(a, n->classes[c].r[i].lo), last = atom_index(a, n->classes[c].r[i].hi);
            for (size_t t = first; t <= last; t++)
                if (!seen[a->atom_sym[t]]) seen[a->atom_sym[t]] = 1, a->cls_syms[w++] = a->atom_sym[t];
        }
        for (size_t i = start; i < w; i++) seen[a->cls_syms[i]] = 0;
    }
    if (ok) a->cls_off[n->n_classes] = (uint32_t)w;
    free(seen);
    return ok;
}

/* ---------------------------------------------------------------- subset construction */

typedef struct subset {
    const re_nfa *n;
    alphabet a;
    uint32_t *eps_off, *eps_to;      /* epsilon edges by source state */
    uint32_t *cls_off;               /* class edges by source state: indexes into n->edges */
    uint32_t *cls_edge;
    uint32_t *mark, gen;
    uint32_t *stack, *tmp;
    size_t tmp_n;
    uint32_t *pool;                  /* the DFA states' NFA state sets, concatenated */
    size_t pool_n;
    uint32_t pool_cap;
    size_t *set_off;
    uint32_t n_dfa, cap_dfa, cap_off;
    uint32_t *trans;
    uint8_t *accept;
    re_idtab ids;                    /* DFA state ids, by set */
    uint64_t *pairs;                 /* (symbol << 32 | target) of one DFA state's moves */
    size_t pairs_n;
    uint32_t pairs_cap;
} subset;

static void subset_free(subset *s) {
    alphabet_free(&s->a);
    free(s->eps_off), free(s->eps_to), free(s->cls_off), free(s->cls_edge);
    free(s->mark), free(s->stack), free(s->tmp), free(s->pool), free(s->set_off);
    free(s->trans), free(s->accept), free(s->pairs);
    re_idtab_free(&s->ids);
}

/* Edges by source state, epsilon and class edges apart. */
static bool index_edges(subset *s) {
    const re_nfa *n = s->n;
    uint32_t ns = n->n_states;
    s->eps_off = calloc(ns + 2u, sizeof(uint32_t));
    s->cls_off = calloc(ns + 2u, sizeof(uint32_t));
    s->eps_to = malloc((n->n_edges + 1) * sizeof(uint32_t));
    s->cls_edge = malloc((n->n_edges + 1) * sizeof(uint32_t));
    s->mark = calloc(ns + 1u, sizeof(uint32_t));
    s->stack = malloc((ns + 1u) * sizeof(uint32_t));
    s->tmp = malloc((ns + 1u) * sizeof(uint32_t));
    if (!s->eps_off || !s->cls_off || !s->eps_to || !s->cls_edge || !s->mark || !s->stack || !s->tmp) return false;
    for (size_t i = 0; i < n->n_edges; i++) {
        if (n->edges[i].cls == RE_EPS) s->eps_off[n->edges[i].from + 1]++;
        else s->cls_off[n->edges[i].from + 1]++;
    }
    for (uint32_t q = 0; q < ns; q++) s->eps_off[q + 1] += s->eps_off[q], s->cls_off[q + 1] += s->cls_off[q];
    uint32_t *ef = malloc((ns + 1u) * sizeof *ef), *cf = malloc((ns + 1u) * sizeof *cf);
    if (!ef || !cf) {
        free(ef), free(cf);
        return false;
    }
    memcpy(ef, s->eps_off, ns * sizeof *ef);
    memcpy(cf, s->cls_off, ns * sizeof *cf);
    for (size_t i = 0; i < n->n_edges; i++) {
        if (n->edges[i].cls == RE_EPS) s->eps_to[ef[n->edges[i].from]++] = n->edges[i].to;
        else s->cls_edge[cf[n->edges[i].from]++] = (uint32_t)i;
    }
    free(ef), free(cf);
    return true;
}

/* The epsilon closure of tmp[0 .. tmp_n), sorted, back into tmp. */
static void closure(subset *s) {
    s->gen++;
    size_t top = 0, k = 0;
    for (size_t i = 0; i < s->tmp_n; i++)
        if (s->mark[s->tmp[i]] != s->gen) s->mark[s->tmp[i]] = s->gen, s->stack[top++] = s->tmp[i];
    while (top) {
        uint32_t q = s->stack[--top];
        s->tmp[k++] = q;
        for (uint32_t e = s->eps_off[q]; e < s->eps_off[q + 1]; e++) {
            uint32_t t = s->eps_to[e];
            if (s->mark[t] != s->gen) s->mark[t] = s->gen, s->stack[top++] = t;
        }
    }
    s->tmp_n = k;
    qsort(s->tmp, k, sizeof *s->tmp, cmp_u32);
}

static uint64_t state_hash(const void *ctx, uint32_t id) {
    const subset *s = ctx;
    return re_hash_u32s(s->pool + s->set_off[id], s->set_off[id + 1] - s->set_off[id]);
}

/* Appends the set in tmp as DFA state n_dfa (its row of moves and its
 * accept flag are filled when it is explored). */
static bool add_dfa_state(subset *s) {
    uint32_t n = s->n_dfa + 1, cap = s->cap_dfa, k = s->a.n_syms;
    if (s->pool_n + s->tmp_n >= UINT32_MAX || (size_t)n * k >= UINT32_MAX) return false;
    /* accept and trans share one capacity (rows of states) */
    bool ok = js_grow((void **)&s->accept, &cap, n, 1);
    cap = s->cap_dfa;
    ok = ok && js_grow((void **)&s->trans, &cap, n, (size_t)k * sizeof *s->trans);
    ok = ok && js_grow((void **)&s->set_off, &s->cap_off, n + 1, sizeof *s->set_off);
    ok = ok && js_grow((void **)&s->pool, &s->pool_cap, (uint32_t)(s->pool_n + s->tmp_n), sizeof *s->pool);
    if (!ok) return false;
    s->cap_dfa = cap;
    if (s->tmp_n) memcpy(s->pool + s->pool_n, s->tmp, s->tmp_n * sizeof *s->tmp);
    s->pool_n += s->tmp_n;
    s->set_off[s->n_dfa + 1] = s->pool_n;
    s->n_dfa++;
    return true;
}

/* The DFA state of the set in tmp (added if new); UINT32_MAX on failure. */
static uint32_t intern(subset *s, bool *too_many) {
    if (!re_idtab_reserve(&s->ids, s->n_dfa, state_hash, s)) return UINT32_MAX;
    size_t at = re_idtab_slot(&s->ids, re_hash_u32s(s->tmp, s->tmp_n));
    for (uint32_t id; (id = s->ids.slots[at]) != UINT32_MAX; at = re_idtab_step(&s->ids, at)) {
        size_t len = s->set_off[id + 1] - s->set_off[id];
        if (len == s->tmp_n && (len == 0 || memcmp(s->pool + s->set_off[id], s->tmp, len * sizeof *s->tmp) == 0))
            return id;
    }
    if (s->n_dfa >= RE_MAX_DFA_STATES) {
        *too_many = true;
        return UINT32_MAX;
    }
    if (!add_dfa_state(s)) return UINT32_MAX;
    s->ids.slots[at] = s->n_dfa - 1;
    return s->n_dfa - 1;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The moves of DFA state id: every (symbol, target) of its NFA states. */
static bool collect_moves(subset *s, uint32_t id) {
    s->pairs_n = 0;
    for (size_t i = s->set_off[id]; i < s->set_off[id + 1]; i++) {
        uint32_t q = s->pool[i];
        for (uint32_t e = s->cls_off[q]; e < s->cls_off[q + 1]; e++) {
            const re_nfa_edge *edge = &s->n->edges[s->cls_edge[e]];
            for (uint32_t j = s->a.cls_off[edge->cls]; j < s->a.cls_off[edge->cls + 1]; j++) {
                if (s->pairs_n >= UINT32_MAX - 1 ||
                    !js_grow((void **)&s->pairs, &s->pairs_cap, (uint32_t)s->pairs_n + 1, sizeof *s->pairs))
                    return false;
                s->pairs[s->pairs_n++] = (uint64_t)s->a.cls_syms[j] << 32 | edge->to;
            }
        }
    }
    if (s->pairs_n > 1) qsort(s->pairs, s->pairs_n, sizeof *s->pairs, cmp_u64);
    return true;
}

static vka_status too_complex_or_oom(bool too_many) {
    if (too_many)
        return vka_fail(VKA_ERR_GRAMMAR, "regular expression too complex: its automaton needs more than %u states",
                        RE_MAX_DFA_STATES);
    return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory building a DFA");
}

/* DFA state 0 is the empty set (dead), state 1 the start's closure; every
 * state's moves are explored in order of creation. */
static vka_status explore(subset *s, uint32_t start, uint32_t final) {
    bool too_many = false;
    uint32_t k = s->a.n_syms;
    s->tmp_n = 0;
    if (intern(s, &too_many) == UINT32_MAX) return too_complex_or_oom(too_many);
    s->tmp[0] = start;
    s->tmp_n = 1;
    closure(s);
    if (intern(s, &too_many) == UINT32_MAX) return too_complex_or_oom(too_many);
    for (uint32_t id = 0; id < s->n_dfa; id++) {
        if (!collect_moves(s, id)) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory building a DFA");
        for (uint32_t y = 0; y < k; y++) s->trans[(size_t)id * k + y] = 0;
        for (size_t i = 0; i < s->pairs_n;) {
            uint32_t y = (uint32_t)(s->pairs[i] >> 32);
            s->tmp_n = 0;
            for (; i < s->pairs_n && (uint32_t)(s->pairs[i] >> 32) == y; i++) s->tmp[s->tmp_n++] = (uint32_t)s->pairs[i];
            closure(s);
            uint32_t t = intern(s, &too_many);
            if (t == UINT32_MAX) return too_complex_or_oom(too_many);
            s->trans[(size_t)id * k + y] = t;
        }
        s->accept[id] = 0;
        for (size_t i = s->set_off[id]; i < s->set_off[id + 1]; i++)
            if (s->pool[i] == final) s->accept[id] = 1;
    }
    return VKA_OK;
}

vka_status re_nfa_to_dfa(const re_nfa *n, uint32_t start, uint32_t final, re_dfa **out) {
    *out = NULL;
    if (n->too_big)
        return vka_fail(VKA_ERR_GRAMMAR, "regular expression too complex: more than %u automaton states",
                        RE_MAX_NFA_STATES);
    if (n->failed) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory building an automaton");
    subset s = {.n = n};
    if (!js_grow((void **)&s.set_off, &s.cap_off, 1, sizeof *s.set_off) || !build_alphabet(n, &s.a) || !index_edges(&s)) {
        subset_free(&s);
        return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory building a DFA");
    }
    s.set_off[0] = 0;
    vka_status st = explore(&s, start, final);
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
