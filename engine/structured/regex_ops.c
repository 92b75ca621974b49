/* regex_ops.c — operations on DFAs: products (intersection, union,
 * difference), complement, comparisons, lengths of accepted strings, length
 * limits by a product with a counter, concatenation and repetition. */
#include <stdlib.h>
#include <string.h>

#include "structured/regex_impl.h"

/* ---------------------------------------------------------------- pair tables */

/* A map from a 64-bit key (a pair of states) to a dense id, with the keys
 * in order of insertion (the queue of a breadth-first product). */
typedef struct pairmap {
    uint64_t *keys;      /* by id */
    uint32_t n, cap;
    re_idtab ids;
} pairmap;

static void pairmap_free(pairmap *m) {
    free(m->keys);
    re_idtab_free(&m->ids);
    *m = (pairmap){0};
}

static uint64_t key_hash(const void *ctx, uint32_t id) { return re_hash_u64(((const pairmap *)ctx)->keys[id]); }

/* The id of key (added if new); UINT32_MAX when out of memory or, for a new
 * key, when `limit` ids exist already (*full set). */
static uint32_t pairmap_get(pairmap *m, uint64_t key, uint32_t limit, bool *full) {
    if (!re_idtab_reserve(&m->ids, m->n, key_hash, m)) return UINT32_MAX;
    size_t at = re_idtab_slot(&m->ids, re_hash_u64(key));
    for (uint32_t id; (id = m->ids.slots[at]) != UINT32_MAX; at = re_idtab_step(&m->ids, at))
        if (m->keys[id] == key) return id;
    if (m->n >= limit) {
        *full = true;
        return UINT32_MAX;
    }
    if (!js_grow((void **)&m->keys, &m->cap, m->n + 1, sizeof *m->keys)) return UINT32_MAX;
    m->keys[m->n] = key;
    m->ids.slots[at] = m->n;
    return m->n++;
}

static vka_status limit_or_oom(bool full, const char *what) {
    if (full)
        return vka_fail(VKA_ERR_GRAMMAR, "regular language too complex: %s needs more than %u automaton states", what,
                        RE_MAX_DFA_STATES);
    return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory: %s", what);
}

/* A growing transition table for products: rows of k entries. */
typedef struct rows {
    uint32_t *next;
    uint8_t *accept;
    uint32_t cap;
} rows;

static bool rows_reserve(rows *r, uint32_t n, uint32_t k) {
    uint32_t cap = r->cap;
    if (!js_grow((void **)&r->accept, &cap, n, 1)) return false;
    return js_grow((void **)&r->next, &r->cap, n, (size_t)k * sizeof *r->next);
}

static vka_status rows_to_dfa(rows *r, uint32_t n, const re_range *ranges, const uint32_t *rsym, size_t n_ranges,
                              uint32_t k, re_dfa **out) {
    re_dfa *d = NULL;
    VKA_TRY(re_dfa_alloc(n, ranges, rsym, n_ranges, k, &d));
    memcpy(d->next, r->next, (size_t)n * k * sizeof *d->next);
    memcpy(d->accept, r->accept, n);
    d->start = 0;
    return re_dfa_minimize(d, out);
}

/* ---------------------------------------------------------------- products */

/* The common refinement of two partitions: ranges with a symbol per pair. */
typedef struct refinement {
    re_range *ranges;
    uint32_t *rsym, *sym_a, *sym_b;
    size_t n_ranges;
    uint32_t n_syms;
} refinement;

static void refinement_free(refinement *r) {
    free(r->ranges), free(r->rsym), free(r->sym_a), free(r->sym_b);
}

static bool refine(const re_dfa *a, const re_dfa *b, refinement *r) {
    *r = (refinement){0};
    size_t cap = a->n_ranges + b->n_ranges + 1;
    size_t table_n = (size_t)a->n_syms * b->n_syms;
    uint32_t *table = malloc((table_n + 1) * sizeof *table);
    r->ranges = malloc(cap * sizeof *r->ranges);
    r->rsym = malloc(cap * sizeof *r->rsym);
    r->sym_a = malloc(cap * sizeof *r->sym_a);
    r->sym_b = malloc(cap * sizeof *r->sym_b);
    if (!table || !r->ranges || !r->rsym || !r->sym_a || !r->sym_b) {
        free(table);
        return false;
    }
    for (size_t i = 0; i < table_n; i++) table[i] = UINT32_MAX;
    size_t i = 0, j = 0;
    while (i < a->n_ranges && j < b->n_ranges) {
        uint32_t hi = a->ranges[i].hi < b->ranges[j].hi ? a->ranges[i].hi : b->ranges[j].hi;
        uint32_t sa = a->range_sym[i], sb = b->range_sym[j];
        uint32_t *slot = &table[(size_t)sa * b->n_syms + sb];
        if (*slot == UINT32_MAX) {
            *slot = r->n_syms;
            r->sym_a[r->n_syms] = sa;
            r->sym_b[r->n_syms++] = sb;
        }
        uint32_t lo = a->ranges[i].lo > b->ranges[j].lo ? a->ranges[i].lo : b->ranges[j].lo;
        r->ranges[r->n_ranges] = (re_range){lo, hi};
        r->rsym[r->n_ranges++] = *slot;
        if (a->ranges[i].hi == hi) i++;
        if (b->ranges[j].hi == hi) j++;
    }
    free(table);
    return true;
}

static bool combine(re_setop op, bool x, bool y) {
    return op == RE_AND ? x && y : op == RE_OR ? x || y : x && !y;
}

vka_status re_dfa_product(const re_dfa *a, const re_dfa *b, re_setop op, re_dfa **out) {
    *out = NULL;
    refinement rf;
    if (!refine(a, b, &rf)) {
        refinement_free(&rf);
        return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory combining DFAs");
    }
    uint32_t dead_a = re_dfa_dead(a), dead_b = re_dfa_dead(b), k = rf.n_syms;
    pairmap m = {0};
    rows r = {0};
    bool full = false;
    vka_status st = VKA_OK;
    uint64_t start = (uint64_t)a->start << 32 | b->start;
    if (pairmap_get(&m, start, RE_MAX_DFA_STATES, &full) == UINT32_MAX) st = limit_or_oom(full, "a set operation");
    for (uint32_t id = 0; st == VKA_OK && id < m.n; id++) {
        uint32_t p = (uint32_t)(m.keys[id] >> 32), q = (uint32_t)m.keys[id];
        if (!rows_reserve(&r, id + 1, k)) {
            st = limit_or_oom(false, "a set operation");
            break;
        }
        if (m.keys[id] == UINT64_MAX) {   /* the collapsed hopeless pairs */
            r.accept[id] = 0;
            for (uint32_t y = 0; y < k; y++) r.next[(size_t)id * k + y] = id;
            continue;
        }
        r.accept[id] = combine(op, a->accept[p], b->accept[q]);
        for (uint32_t y = 0; y < k; y++) {
            uint32_t np = a->next[(size_t)p * a->n_syms + rf.sym_a[y]], nq = b->next[(size_t)q * b->n_syms + rf.sym_b[y]];
            /* pairs that can never accept collapse into one */
            bool hopeless = op == RE_AND ? (np == dead_a || nq == dead_b)
                            : op == RE_OR ? (np == dead_a && nq == dead_b)
                                          : np == dead_a;
            uint64_t key = hopeless ? UINT64_MAX : (uint64_t)np << 32 | nq;
            uint32_t t = pairmap_get(&m, key, RE_MAX_DFA_STATES, &full);
            if (t == UINT32_MAX) {
                st = limit_or_oom(full, "a set operation");
                break;
            }
            r.next[(size_t)id * k + y] = t;
        }
    }
    if (st == VKA_OK) st = rows_to_dfa(&r, m.n, rf.ranges, rf.rsym, rf.n_ranges, k, out);
    pairmap_free(&m);
    free(r.next), free(r.accept);
    refinement_free(&rf);
    return st;
}

vka_status re_dfa_complement(const re_dfa *a, re_dfa **out) {
    VKA_TRY(re_dfa_alloc(a->n_states, a->ranges, a->range_sym, a->n_ranges, a->n_syms, out));
    memcpy((*out)->next, a->next, (size_t)a->n_states * a->n_syms * sizeof *a->next);
    for (uint32_t s = 0; s < a->n_states; s++) (*out)->accept[s] = !a->accept[s];
    (*out)->start = a->start;
    return VKA_OK;
}

bool re_dfa_equal(const re_dfa *a, const re_dfa *b) {
    return a->n_states == b->n_states && a->n_syms == b->n_syms && a->n_ranges == b->n_ranges &&
           a->start == b->start && memcmp(a->ranges, b->ranges, a->n_ranges * sizeof *a->ranges) == 0 &&
           memcmp(a->range_sym, b->range_sym, a->n_ranges * sizeof *a->range_sym) == 0 &&
           memcmp(a->next, b->next, (size_t)a->n_states * a->n_syms * sizeof *a->next) == 0 &&
           memcmp(a->accept, b->accept, a->n_states) == 0;
}

vka_status re_dfa_subset(const re_dfa *a, const re_dfa *b, bool *yes) {
    *yes = false;
    re_dfa *diff = NULL;
    VKA_TRY(re_dfa_product(a, b, RE_MINUS, &diff));
    *yes = re_dfa_is_empty(diff);
    re_dfa_unref(diff);
    return VKA_OK;
}

/* ---------------------------------------------------------------- lengths */

/* Distance of every useful state (reachable and live) from the start along
 * useful states; false when some state has two distances (paths of
 * different lengths, or a cycle). dist[s] = -1 for useless states. */
static bool unique_depths(const re_dfa *d, int64_t *dist) {
    uint32_t dead = re_dfa_dead(d), n = d->n_states;
    uint32_t *queue = malloc((n + 1u) * sizeof *queue);
    if (!queue) return false;
    for (uint32_t s = 0; s < n; s++) dist[s] = -1;
    uint32_t head = 0, tail = 0;
    bool ok = d->start != dead;
    if (ok) dist[d->start] = 0, queue[tail++] = d->start;
    while (ok && head < tail) {
        uint32_t s = queue[head++];
        for (uint32_t y = 0; ok && y < d->n_syms; y++) {
            uint32_t t = d->next[(size_t)s * d->n_syms + y];
            if (t == dead) continue;
            if (dist[t] < 0) dist[t] = dist[s] + 1, queue[tail++] = t;
            else ok = dist[t] == dist[s] + 1;
        }
    }
    free(queue);
    return ok;
}

int64_t re_dfa_fixed_width(const re_dfa *d) {
    /* minimal DFAs: every state but the dead one is live */
    int64_t *dist = malloc((d->n_states + 1u) * sizeof *dist);
    if (!dist || !unique_depths(d, dist)) {
        free(dist);
        return -1;
    }
    int64_t w = -1;
    for (uint32_t s = 0; s < d->n_states; s++) {
        if (!d->accept[s] || dist[s] < 0) continue;
        if (w >= 0 && dist[s] != w) w = -2;
        if (w != -2) w = dist[s];
    }
    free(dist);
    return w < 0 ? -1 : w;
}

int64_t re_dfa_longest(const re_dfa *d) {
    /* longest path over live states by depth-first search with colours;
     * a back edge means a cycle, so lengths are unbounded */
    uint32_t n = d->n_states, dead = re_dfa_dead(d);
    if (d->start == dead) return -1;
    int64_t *best = malloc((n + 1u) * sizeof *best);
    uint8_t *colour = calloc(n + 1u, 1);
    uint32_t *stack = malloc((n + 1u) * sizeof *stack), *edge = malloc((n + 1u) * sizeof *edge);
    int64_t result = -1;
    bool cyclic = false;
    if (!best || !colour || !stack || !edge) goto done;
    uint32_t top = 0;
    stack[top] = d->start, edge[top++] = 0, colour[d->start] = 1;
    while (top && !cyclic) {
        uint32_t s = stack[top - 1];
        if (edge[top - 1] == 0) best[s] = d->accept[s] ? 0 : INT64_MIN;
        if (edge[top - 1] < d->n_syms) {
            uint32_t t = d->next[(size_t)s * d->n_syms + edge[top - 1]++];
            if (t == dead) continue;
            if (colour[t] == 1) cyclic = true;
            else if (colour[t] == 0) colour[t] = 1, stack[top] = t, edge[top++] = 0;
            else if (best[t] != INT64_MIN && best[t] + 1 > best[s]) best[s] = best[t] + 1;
            continue;
        }
        colour[s] = 2;
        top--;
        if (top) {
            uint32_t p = stack[top - 1];
            if (best[s] != INT64_MIN && best[s] + 1 > best[p]) best[p] = best[s] + 1;
        }
    }
    if (!cyclic && best[d->start] != INT64_MIN) result = best[d->start];
done:
    free(best), free(colour), free(stack), free(edge);
    return cyclic ? -1 : result;
}

vka_status re_dfa_shortest(const re_dfa *d, uint32_t **cps, size_t *n) {
    *cps = NULL;
    *n = SIZE_MAX;
    uint32_t ns = d->n_states;
    uint32_t *parent = malloc((ns + 1u) * sizeof *parent), *via = malloc((ns + 1u) * sizeof *via);
    uint32_t *queue = malloc((ns + 1u) * sizeof *queue);
    if (!parent || !via || !queue) {
        free(parent), free(via), free(queue);
        return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
    }
    for (uint32_t s = 0; s < ns; s++) parent[s] = UINT32_MAX;
    uint32_t head = 0, tail = 0, found = UINT32_MAX;
    parent[d->start] = d->start;
    queue[tail++] = d->start;
    while (head < tail && found == UINT32_MAX) {
        uint32_t s = queue[head++];
        if (d->accept[s]) {
            found = s;
            break;
        }
        for (uint32_t y = 0; y < d->n_syms; y++) {
            uint32_t t = d->next[(size_t)s * d->n_syms + y];
            if (parent[t] == UINT32_MAX) parent[t] = s, via[t] = y, queue[tail++] = t;
        }
    }
    vka_status st = VKA_OK;
    if (found != UINT32_MAX) {
        size_t len = 0;
        for (uint32_t s = found; s != d->start; s = parent[s]) len++;
        *cps = malloc((len + 1) * sizeof **cps);
        if (!*cps) {
            st = vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
        } else {
            size_t i = len;
            for (uint32_t s = found; s != d->start; s = parent[s]) {
                /* the lowest code point of the symbol taken */
                uint32_t cp = 0;
                for (size_t r = 0; r < d->n_ranges; r++)
                    if (d->range_sym[r] == via[s]) {
                        cp = d->ranges[r].lo;
                        break;
                    }
                (*cps)[--i] = cp;
            }
            *n = len;
        }
    }
    free(parent), free(via), free(queue);
    return st;
}

vka_status re_dfa_limit_length(const re_dfa *d, uint64_t lo, uint64_t hi, re_dfa **out) {
    *out = NULL;
    if (re_dfa_is_empty(d)) return re_dfa_empty(out);
    int64_t longest = re_dfa_longest(d);
    if (longest >= 0 && (uint64_t)longest < lo) return re_dfa_empty(out);
    if (longest >= 0 && (uint64_t)longest <= hi) hi = RE_UNBOUNDED;   /* no string is longer */
    if (hi != RE_UNBOUNDED && lo > hi) return re_dfa_empty(out);
    if (lo == 0 && hi == RE_UNBOUNDED) {
        *out = re_dfa_ref((re_dfa *)d);
        return VKA_OK;
    }
    /* states (s, c): c is the length so far, saturating at lo when there is no upper bound */
    uint64_t top = hi == RE_UNBOUNDED ? lo : hi;
    uint32_t dead = re_dfa_dead(d), k = d->n_syms;
    pairmap m = {0};
    rows r = {0};
    bool full = false;
    vka_status st = VKA_OK;
    if ((uint64_t)d->n_states * (top + 1) > (uint64_t)RE_MAX_DFA_STATES * 64)
        return limit_or_oom(true, "a length limit");
    if (pairmap_get(&m, (uint64_t)d->start << 32 | 0, RE_MAX_DFA_STATES, &full) == UINT32_MAX)
        st = limit_or_oom(full, "a length limit");
    for (uint32_t id = 0; st == VKA_OK && id < m.n; id++) {
        uint64_t key = m.keys[id];
        uint32_t s = (uint32_t)(key >> 32), c = (uint32_t)key;
        if (!rows_reserve(&r, id + 1, k)) {
            st = limit_or_oom(false, "a length limit");
            break;
        }
        bool sink = key == UINT64_MAX;
        r.accept[id] = !sink && d->accept[s] && c >= lo && (hi == RE_UNBOUNDED || c <= hi);
        for (uint32_t y = 0; y < k; y++) {
            uint32_t t = sink ? 0 : d->next[(size_t)s * k + y];
            uint64_t nc = (uint64_t)c + 1;
            if (hi == RE_UNBOUNDED && nc > lo) nc = lo;
            bool gone = sink || t == dead || (hi != RE_UNBOUNDED && nc > hi);
            uint32_t to = pairmap_get(&m, gone ? UINT64_MAX : (uint64_t)t << 32 | nc, RE_MAX_DFA_STATES, &full);
            if (to == UINT32_MAX) {
                st = limit_or_oom(full, "a length limit");
                break;
            }
            r.next[(size_t)id * k + y] = to;
        }
    }
    if (st == VKA_OK) st = rows_to_dfa(&r, m.n, d->ranges, d->range_sym, d->n_ranges, k, out);
    pairmap_free(&m);
    free(r.next), free(r.accept);
    return st;
}

/* ---------------------------------------------------------------- concatenation, repetition */

vka_status re_dfa_concat(const re_dfa *a, const re_dfa *b, re_dfa **out) {
    re_nfa n = {0};
    re_frag fa = re_nfa_add_dfa(&n, a), fb = re_nfa_add_dfa(&n, b);
    re_nfa_eps(&n, fa.out, fb.in);
    vka_status st = re_nfa_to_dfa(&n, fa.in, fb.out, out);
    re_nfa_free(&n);
    return st;
}

vka_status re_dfa_repeat(const re_dfa *a, uint64_t min, uint64_t max, re_dfa **out) {
    re_nfa n = {0};
    uint32_t in = re_nfa_state(&n), end = re_nfa_state(&n), at = in;
    uint64_t copies = max == RE_UNBOUNDED ? min + 1 : max;
    if (copies > RE_MAX_NFA_STATES) copies = RE_MAX_NFA_STATES, n.failed = n.too_big = true;
    for (uint64_t i = 0; i < copies && !n.failed; i++) {
        re_frag f = re_nfa_add_dfa(&n, a);
        re_nfa_eps(&n, at, f.in);
        if (i >= min) re_nfa_eps(&n, at, end);   /* optional copies may be skipped */
        if (max == RE_UNBOUNDED && i == min) re_nfa_eps(&n, f.out, f.in);   /* the last one loops */
        at = f.out;
    }
    re_nfa_eps(&n, at, end);
    vka_status st = re_nfa_to_dfa(&n, in, end, out);
    re_nfa_free(&n);
    return st;
}
