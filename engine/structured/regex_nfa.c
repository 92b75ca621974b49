/* regex_nfa.c — Thompson NFAs: edges on code point classes, empty edges,
 * edges that hold only at the start of the string (^) and edges that start a
 * lookahead (an obligation checked by a DFA on what follows); and the
 * partition of the code points that their classes and automata induce. */
#include <stdlib.h>
#include <string.h>

#include "structured/regex_impl.h"

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

void re_nfa_bol_edge(re_nfa *n, uint32_t from, uint32_t to) { add_edge(n, from, to, RE_BOL); }

/* An obligation automaton (taking the reference); its index, or UINT32_MAX. */
static uint32_t add_auto(re_nfa *n, re_dfa *d, bool negated) {
    if (!js_grow((void **)&n->autos, &n->cap_autos, n->n_autos + 1, sizeof *n->autos)) {
        re_dfa_unref(d);
        n->failed = true;
        return UINT32_MAX;
    }
    n->autos[n->n_autos] = (re_auto){d, negated, re_dfa_dead(d), re_dfa_universal(d)};
    return n->n_autos++;
}

uint32_t re_nfa_look_find(const re_nfa *n, const void *key) {
    for (uint32_t i = 0; i < n->n_looks; i++)
        if (n->looks[i].key == key) return i;
    return UINT32_MAX;
}

uint32_t re_nfa_add_look(re_nfa *n, const void *key, re_dfa *at_start, re_dfa *later, bool negated) {
    uint32_t a = add_auto(n, at_start, negated);
    uint32_t b = later == at_start ? a : add_auto(n, later, negated);
    if (n->failed || !js_grow((void **)&n->looks, &n->cap_looks, n->n_looks + 1, sizeof *n->looks)) {
        n->failed = true;
        return UINT32_MAX;
    }
    n->looks[n->n_looks] = (re_look){a, b, key};
    return n->n_looks++;
}

void re_nfa_look_edge(re_nfa *n, uint32_t from, uint32_t to, uint32_t look) {
    if (look != UINT32_MAX) add_edge(n, from, to, RE_LOOK_BIT | look);
}

void re_nfa_fail(re_nfa *n, vka_status status) {
    if (n->status == VKA_OK) n->status = status;
    n->failed = true;
}

void re_nfa_free(re_nfa *n) {
    for (size_t i = 0; i < n->n_classes; i++) re_rs_free(&n->classes[i]);
    for (uint32_t m = 0; m < n->n_autos; m++) re_dfa_unref(n->autos[m].dfa);
    free(n->classes);
    free(n->edges);
    free(n->autos);
    free(n->looks);
    re_idtab_free(&n->class_ids);
    *n = (re_nfa){0};
}

/* ---------------------------------------------------------------- the symbol partition */

void re_alphabet_free(re_alphabet *a) {
    free(a->atoms), free(a->atom_sym), free(a->cls_off), free(a->cls_syms), free(a->auto_sym);
    *a = (re_alphabet){0};
}

int re_cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

bool re_sort_u32(uint32_t *v, size_t n) {
    if (n <= 48) {
        for (size_t i = 1; i < n; i++) {
            uint32_t x = v[i];
            size_t j = i;
            for (; j > 0 && v[j - 1] > x; j--) v[j] = v[j - 1];
            v[j] = x;
        }
        return true;
    }
    uint32_t all = 0;
    for (size_t i = 0; i < n; i++) all |= v[i];
    uint32_t *tmp = malloc(n * sizeof *tmp);
    if (!tmp) return false;
    uint32_t *from = v, *to = tmp;
    for (unsigned shift = 0; shift < 32; shift += 8) {
        if (!((all >> shift) & 0xFFu)) continue;
        size_t count[257] = {0};
        for (size_t i = 0; i < n; i++) count[((from[i] >> shift) & 0xFFu) + 1]++;
        for (size_t b = 1; b < 257; b++) count[b] += count[b - 1];
        for (size_t i = 0; i < n; i++) to[count[(from[i] >> shift) & 0xFFu]++] = from[i];
        uint32_t *t = from;
        from = to, to = t;
    }
    if (from != v) memcpy(v, from, n * sizeof *v);
    free(tmp);
    return true;
}

static size_t atom_index(const re_alphabet *a, uint32_t cp) {
    size_t lo = 0, hi = a->n_atoms;
    while (lo + 1 < hi) {
        size_t mid = (lo + hi) / 2;
        if (a->atoms[mid].lo <= cp) lo = mid;
        else hi = mid;
    }
    return lo;
}

/* Every range boundary of the classes and of the automata, sorted. */
static uint32_t *boundaries(const re_nfa *n, size_t *count) {
    size_t nb = 4;
    for (size_t c = 0; c < n->n_classes; c++) nb += 2 * n->classes[c].n;
    for (uint32_t m = 0; m < n->n_autos; m++) nb += 2 * n->autos[m].dfa->n_ranges;
    uint32_t *b = malloc(nb * sizeof *b);
    if (!b) return NULL;
    size_t k = 0;
    b[k++] = 0, b[k++] = RE_SURR_LO, b[k++] = RE_SURR_HI + 1, b[k++] = RE_CP_END;
    for (size_t c = 0; c < n->n_classes; c++)
        for (size_t i = 0; i < n->classes[c].n; i++) b[k++] = n->classes[c].r[i].lo, b[k++] = n->classes[c].r[i].hi + 1;
    for (uint32_t m = 0; m < n->n_autos; m++)
        for (size_t i = 0; i < n->autos[m].dfa->n_ranges; i++)
            b[k++] = n->autos[m].dfa->ranges[i].lo, b[k++] = n->autos[m].dfa->ranges[i].hi + 1;
    if (!re_sort_u32(b, k)) {
        free(b);
        return NULL;
    }
    *count = k;
    return b;
}

/* Whether atoms t and u lie in the same classes and have the same symbol in every automaton. */
static bool alike(const re_nfa *n, const re_alphabet *a, size_t t, size_t u) {
    uint32_t x = a->atoms[t].lo, y = a->atoms[u].lo;
    for (size_t c = 0; c < n->n_classes; c++)
        if (re_rs_has(&n->classes[c], x) != re_rs_has(&n->classes[c], y)) return false;
    for (uint32_t m = 0; m < n->n_autos; m++)
        if (re_dfa_sym(n->autos[m].dfa, x) != re_dfa_sym(n->autos[m].dfa, y)) return false;
    return true;
}

/* Atoms: the ranges between consecutive boundaries. Symbols: atoms that
 * behave alike (same classes, same automaton symbols). */
bool re_alphabet_build(const re_nfa *n, re_alphabet *a) {
    *a = (re_alphabet){0};
    size_t k = 0;
    uint32_t *bounds = boundaries(n, &k);
    if (!bounds) return false;
    a->atoms = malloc(k * sizeof *a->atoms);
    bool ok = a->atoms != NULL;
    for (size_t i = 0; ok && i + 1 < k; i++) {
        if (bounds[i] == bounds[i + 1] || bounds[i] == RE_SURR_LO) continue;
        a->atoms[a->n_atoms++] = (re_range){bounds[i], bounds[i + 1] - 1};
    }
    free(bounds);
    /* a signature per atom: the classes holding it and its automaton symbols, hashed */
    uint64_t *sig = ok ? calloc(a->n_atoms + 1, sizeof *sig) : NULL;
    a->atom_sym = ok ? malloc((a->n_atoms + 1) * sizeof *a->atom_sym) : NULL;
    ok = ok && sig && a->atom_sym;
    for (size_t c = 0; ok && c < n->n_classes; c++)
        for (size_t i = 0; i < n->classes[c].n; i++) {
            size_t first = atom_index(a, n->classes[c].r[i].lo), last = atom_index(a, n->classes[c].r[i].hi);
            for (size_t t = first; t <= last; t++) sig[t] = (sig[t] ^ (c + 1) * 0x9E3779B97F4A7C15u) * 1099511628211u;
        }
    for (uint32_t m = 0; ok && m < n->n_autos; m++)
        for (size_t t = 0; t < a->n_atoms; t++)
            sig[t] = (sig[t] ^ ((uint64_t)m << 32 | re_dfa_sym(n->autos[m].dfa, a->atoms[t].lo))) * 1099511628211u;
    uint32_t *rep = ok ? malloc((a->n_atoms + 1) * sizeof *rep) : NULL;
    ok = ok && rep;
    for (size_t t = 0; ok && t < a->n_atoms; t++) {
        uint32_t y = UINT32_MAX;
        for (uint32_t j = 0; j < a->n_syms && y == UINT32_MAX; j++)
            if (sig[rep[j]] == sig[t] && alike(n, a, t, rep[j])) y = j;
        if (y == UINT32_MAX) rep[a->n_syms] = (uint32_t)t, y = a->n_syms++;
        a->atom_sym[t] = y;
    }
    /* each automaton's symbol for each of ours */
    a->auto_sym = ok ? malloc(((size_t)a->n_syms * n->n_autos + 1) * sizeof *a->auto_sym) : NULL;
    ok = ok && a->auto_sym;
    for (uint32_t y = 0; ok && y < a->n_syms; y++)
        for (uint32_t m = 0; m < n->n_autos; m++)
            a->auto_sym[(size_t)y * n->n_autos + m] = re_dfa_sym(n->autos[m].dfa, a->atoms[rep[y]].lo);
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
    if (!ok) re_alphabet_free(a);
    return ok;
}

