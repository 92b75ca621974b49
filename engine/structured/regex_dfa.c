/* regex_dfa.c — complete DFAs over a partition of the code points: creation,
 * Hopcroft minimization into a canonical form (equal languages give equal
 * DFAs), symbol lookup and matching. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "structured/regex_impl.h"

re_dfa *re_dfa_ref(re_dfa *d) {
    if (d) atomic_fetch_add_explicit(&d->refs, 1, memory_order_relaxed);
    return d;
}

void re_dfa_unref(re_dfa *d) {
    if (!d || atomic_fetch_sub_explicit(&d->refs, 1, memory_order_acq_rel) > 1) return;
    free(d->ranges);
    free(d->range_sym);
    free(d->next);
    free(d->accept);
    free(d);
}

vka_status re_dfa_alloc(uint32_t n_states, const re_range *ranges, const uint32_t *range_sym, size_t n_ranges,
                        uint32_t n_syms, re_dfa **out) {
    *out = NULL;
    re_dfa *d = calloc(1, sizeof *d);
    if (!d) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory building a DFA");
    atomic_init(&d->refs, 1);
    d->n_states = n_states;
    d->n_syms = n_syms;
    d->n_ranges = n_ranges;
    d->ranges = malloc((n_ranges ? n_ranges : 1) * sizeof *d->ranges);
    d->range_sym = malloc((n_ranges ? n_ranges : 1) * sizeof *d->range_sym);
    d->next = calloc((size_t)n_states * n_syms + 1, sizeof *d->next);
    d->accept = calloc(n_states + 1u, 1);
    if (!d->ranges || !d->range_sym || !d->next || !d->accept) {
        re_dfa_unref(d);
        return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory building a DFA (%u states)", n_states);
    }
    if (n_ranges) {
        memcpy(d->ranges, ranges, n_ranges * sizeof *ranges);
        memcpy(d->range_sym, range_sym, n_ranges * sizeof *range_sym);
    }
    *out = d;
    return VKA_OK;
}

uint32_t re_dfa_sym(const re_dfa *d, uint32_t cp) {
    size_t i = re_range_find(d->ranges, d->n_ranges, cp);
    return i == SIZE_MAX ? UINT32_MAX : d->range_sym[i];
}

uint32_t re_dfa_step(const re_dfa *d, uint32_t state, uint32_t cp) {
    uint32_t sym = re_dfa_sym(d, cp);
    return sym == UINT32_MAX ? UINT32_MAX : d->next[(size_t)state * d->n_syms + sym];
}

bool re_dfa_accepts(const re_dfa *d, const uint32_t *cps, size_t n) {
    uint32_t s = d->start;
    for (size_t i = 0; i < n; i++) {
        s = re_dfa_step(d, s, cps[i]);
        if (s == UINT32_MAX) return false;
    }
    return d->accept[s] != 0;
}

/* States from which an accepting state is reachable. */
static uint8_t *live_states(const re_dfa *d) {
    uint32_t n = d->n_states;
    uint8_t *live = calloc(n + 1u, 1);
    uint32_t *stack = malloc((n + 1u) * sizeof *stack);
    uint32_t *off = calloc(n + 2u, sizeof *off);
    uint32_t *pred = malloc(((size_t)n * d->n_syms + 1) * sizeof *pred);
    if (!live || !stack || !off || !pred) {
        free(live), free(stack), free(off), free(pred);
        return NULL;
    }
    size_t m = (size_t)n * d->n_syms;
    for (size_t i = 0; i < m; i++) off[d->next[i] + 1]++;
    for (uint32_t s = 0; s < n; s++) off[s + 1] += off[s];
    uint32_t *fill = stack;   /* reuse as a cursor array before the search */
    memcpy(fill, off, n * sizeof *fill);
    for (size_t i = 0; i < m; i++) pred[fill[d->next[i]]++] = (uint32_t)(i / d->n_syms);
    uint32_t top = 0;
    for (uint32_t s = 0; s < n; s++)
        if (d->accept[s]) live[s] = 1, stack[top++] = s;
    while (top) {
        uint32_t t = stack[--top];
        for (uint32_t k = off[t]; k < off[t + 1]; k++)
            if (!live[pred[k]]) live[pred[k]] = 1, stack[top++] = pred[k];
    }
    free(stack), free(off), free(pred);
    return live;
}

/* A state that loops on every symbol with the given acceptance (in a
 * minimal DFA: the dead or the universal state). */
static uint32_t sink(const re_dfa *d, bool accepting) {
    for (uint32_t s = 0; s < d->n_states; s++) {
        if ((d->accept[s] != 0) != accepting) continue;
        bool self = true;
        for (uint32_t y = 0; self && y < d->n_syms; y++) self = d->next[(size_t)s * d->n_syms + y] == s;
        if (self) return s;
    }
    return UINT32_MAX;
}

uint32_t re_dfa_dead(const re_dfa *d) { return sink(d, false); }
uint32_t re_dfa_universal(const re_dfa *d) { return sink(d, true); }

bool re_dfa_is_empty(const re_dfa *d) {
    /* minimal DFAs of the empty language are one dead state; others are checked */
    if (d->n_states == 1) return !d->accept[0];
    uint8_t *live = live_states(d);
    bool empty = live ? !live[d->start] : false;
    free(live);
    return empty;
}

bool re_dfa_sym_ranges(const re_dfa *d, uint32_t sym, re_ranges *out) {
    *out = (re_ranges){0};
    for (size_t i = 0; i < d->n_ranges; i++)
        if (d->range_sym[i] == sym && !re_rs_add(out, d->ranges[i].lo, d->ranges[i].hi)) return false;
    re_rs_normalize(out);
    return true;
}

/* ---------------------------------------------------------------- Hopcroft */

typedef struct part {
    uint32_t *elems, *loc, *blk, *bstart, *bend, *bmark;
    uint32_t n_blocks;
    uint32_t *work;
    uint8_t *in_work;
    uint32_t n_work;
} part;

static void part_free(part *p) {
    free(p->elems), free(p->loc), free(p->blk), free(p->bstart), free(p->bend), free(p->bmark);
    free(p->work), free(p->in_work);
}

static bool part_init(part *p, const re_dfa *d) {
    uint32_t n = d->n_states;
    *p = (part){0};
    p->elems = malloc(n * sizeof(uint32_t));
    p->loc = malloc(n * sizeof(uint32_t));
    p->blk = malloc(n * sizeof(uint32_t));
    p->bstart = malloc((n + 1u) * sizeof(uint32_t));
    p->bend = malloc((n + 1u) * sizeof(uint32_t));
    p->bmark = calloc(n + 1u, sizeof(uint32_t));
    p->work = malloc((n + 1u) * sizeof(uint32_t));
    p->in_work = calloc(n + 1u, 1);
    if (!p->elems || !p->loc || !p->blk || !p->bstart || !p->bend || !p->bmark || !p->work || !p->in_work) return false;
    /* accepting states first, then the others */
    uint32_t k = 0, n_acc = 0;
    for (uint32_t s = 0; s < n; s++)
        if (d->accept[s]) p->elems[k++] = s;
    n_acc = k;
    for (uint32_t s = 0; s < n; s++)
        if (!d->accept[s]) p->elems[k++] = s;
    for (uint32_t i = 0; i < n; i++) p->loc[p->elems[i]] = i;
    if (n_acc > 0) p->bstart[p->n_blocks] = 0, p->bend[p->n_blocks++] = n_acc;
    if (n_acc < n) p->bstart[p->n_blocks] = n_acc, p->bend[p->n_blocks++] = n;
    for (uint32_t b = 0; b < p->n_blocks; b++)
        for (uint32_t i = p->bstart[b]; i < p->bend[b]; i++) p->blk[p->elems[i]] = b;
    uint32_t first = 0;
    if (p->n_blocks == 2 && p->bend[1] - p->bstart[1] < p->bend[0] - p->bstart[0]) first = 1;
    p->work[p->n_work++] = first;
    p->in_work[first] = 1;
    return true;
}

static void part_mark(part *p, uint32_t s, uint32_t *touched, uint32_t *n_touched) {
    uint32_t b = p->blk[s];
    uint32_t pos = p->bstart[b] + p->bmark[b];
    if (p->loc[s] < pos) return;   /* already marked */
    uint32_t other = p->elems[pos];
    p->elems[pos] = s;
    p->elems[p->loc[s]] = other;
    p->loc[other] = p->loc[s];
    p->loc[s] = pos;
    if (p->bmark[b]++ == 0) touched[(*n_touched)++] = b;
}

/* Splits every touched block into marked and unmarked states; the smaller
 * half gets the new block number and joins the worklist. */
static void part_split(part *p, const uint32_t *touched, uint32_t n_touched) {
    for (uint32_t i = 0; i < n_touched; i++) {
        uint32_t b = touched[i], m = p->bmark[b], size = p->bend[b] - p->bstart[b];
        p->bmark[b] = 0;
        if (m == size) continue;
        uint32_t nb = p->n_blocks++;
        if (m <= size - m) {
            p->bstart[nb] = p->bstart[b];
            p->bend[nb] = p->bstart[b] + m;
            p->bstart[b] += m;
        } else {
            p->bstart[nb] = p->bstart[b] + m;
            p->bend[nb] = p->bend[b];
            p->bend[b] = p->bstart[b] + m;
        }
        for (uint32_t k = p->bstart[nb]; k < p->bend[nb]; k++) p->blk[p->elems[k]] = nb;
        p->work[p->n_work++] = nb;
        p->in_work[nb] = 1;
    }
}

/* Inverse transitions: pred[off[y * n + t] .. off[y * n + t + 1]) are the
 * states going to t on symbol y. */
static bool inverse(const re_dfa *d, uint32_t **off_out, uint32_t **pred_out) {
    size_t n = d->n_states, k = d->n_syms, m = n * k;
    uint32_t *off = calloc(m + 2, sizeof *off), *pred = malloc((m + 1) * sizeof *pred);
    uint32_t *cur = malloc((m + 1) * sizeof *cur);
    if (!off || !pred || !cur) {
        free(off), free(pred), free(cur);
        return false;
    }
    for (size_t s = 0; s < n; s++)
        for (size_t y = 0; y < k; y++) off[y * n + d->next[s * k + y] + 1]++;
    for (size_t i = 0; i < m; i++) off[i + 1] += off[i];
    memcpy(cur, off, m * sizeof *cur);
    for (size_t s = 0; s < n; s++)
        for (size_t y = 0; y < k; y++) pred[cur[y * n + d->next[s * k + y]]++] = (uint32_t)s;
    free(cur);
    *off_out = off;
    *pred_out = pred;
    return true;
}

/* Block of each state under the coarsest partition compatible with the DFA. */
static vka_status hopcroft(const re_dfa *d, uint32_t **blocks, uint32_t *n_blocks) {
    part p = {0};
    uint32_t *off = NULL, *pred = NULL, *snap = malloc((d->n_states + 1u) * sizeof *snap);
    uint32_t *touched = malloc((d->n_states + 1u) * sizeof *touched);
    bool ok = snap && touched && part_init(&p, d) && inverse(d, &off, &pred);
    uint32_t n = d->n_states;
    while (ok && p.n_work) {
        uint32_t s_blk = p.work[--p.n_work];
        p.in_work[s_blk] = 0;
        uint32_t len = p.bend[s_blk] - p.bstart[s_blk];
        memcpy(snap, p.elems + p.bstart[s_blk], len * sizeof *snap);
        for (uint32_t y = 0; y < d->n_syms; y++) {
            uint32_t n_touched = 0;
            for (uint32_t i = 0; i < len; i++) {
                size_t at = (size_t)y * n + snap[i];
                for (uint32_t k = off[at]; k < off[at + 1]; k++) part_mark(&p, pred[k], touched, &n_touched);
            }
            part_split(&p, touched, n_touched);
        }
    }
    free(off), free(pred), free(snap), free(touched);
    if (!ok) {
        part_free(&p);
        return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory minimizing a DFA of %u states", d->n_states);
    }
    *blocks = p.blk;
    p.blk = NULL;
    *n_blocks = p.n_blocks;
    part_free(&p);
    return VKA_OK;
}

/* ---------------------------------------------------------------- canonical form */

/* Keeps the states reachable from the start, in breadth-first order. */
static vka_status reachable(const re_dfa *d, re_dfa **out) {
    uint32_t n = d->n_states, k = d->n_syms;
    uint32_t *order = malloc((n + 1u) * sizeof *order), *id = malloc((n + 1u) * sizeof *id);
    if (!order || !id) {
        free(order), free(id);
        return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory minimizing a DFA");
    }
    for (uint32_t s = 0; s < n; s++) id[s] = UINT32_MAX;
    uint32_t head = 0, tail = 0;
    order[tail++] = d->start;
    id[d->start] = 0;
    while (head < tail) {
        uint32_t s = order[head++];
        for (uint32_t y = 0; y < k; y++) {
            uint32_t t = d->next[(size_t)s * k + y];
            if (id[t] == UINT32_MAX) id[t] = tail, order[tail++] = t;
        }
    }
    vka_status st = re_dfa_alloc(tail, d->ranges, d->range_sym, d->n_ranges, k, out);
    if (st == VKA_OK) {
        for (uint32_t i = 0; i < tail; i++) {
            (*out)->accept[i] = d->accept[order[i]];
            for (uint32_t y = 0; y < k; y++) (*out)->next[(size_t)i * k + y] = id[d->next[(size_t)order[i] * k + y]];
        }
        (*out)->start = 0;
    }
    free(order), free(id);
    return st;
}

/* Symbols with equal columns merged, numbered by their lowest code point;
 * adjacent ranges of one symbol merged. */
static vka_status merge_syms(const re_dfa *d, re_dfa **out) {
    uint32_t n = d->n_states, k = d->n_syms;
    uint32_t *new_of = malloc((k + 1u) * sizeof *new_of), *rep = malloc((k + 1u) * sizeof *rep);
    re_range *ranges = malloc((d->n_ranges + 1) * sizeof *ranges);
    uint32_t *rsym = malloc((d->n_ranges + 1) * sizeof *rsym);
    uint64_t *hash = malloc((k + 1u) * sizeof *hash);
    vka_status st = VKA_OK;
    if (!new_of || !rep || !ranges || !rsym || !hash) {
        st = vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory minimizing a DFA");
        goto done;
    }
    for (uint32_t y = 0; y < k; y++) {
        new_of[y] = UINT32_MAX;
        uint64_t h = 1469598103934665603u;
        for (uint32_t s = 0; s < n; s++) h = (h ^ d->next[(size_t)s * k + y]) * 1099511628211u;
        hash[y] = h;
    }
    uint32_t n_new = 0;
    size_t n_ranges = 0;
    for (size_t i = 0; i < d->n_ranges; i++) {
        uint32_t y = d->range_sym[i];
        if (new_of[y] == UINT32_MAX) {
            /* the first symbol with the same column, if one was seen */
            for (uint32_t j = 0; j < n_new && new_of[y] == UINT32_MAX; j++) {
                uint32_t z = rep[j];
                if (hash[z] != hash[y]) continue;
                bool same = true;
                for (uint32_t s = 0; same && s < n; s++) same = d->next[(size_t)s * k + y] == d->next[(size_t)s * k + z];
                if (same) new_of[y] = j;
            }
            if (new_of[y] == UINT32_MAX) rep[n_new] = y, new_of[y] = n_new++;
        }
        uint32_t ny = new_of[y];
        if (n_ranges && rsym[n_ranges - 1] == ny && ranges[n_ranges - 1].hi + 1 == d->ranges[i].lo) {
            ranges[n_ranges - 1].hi = d->ranges[i].hi;
        } else {
            ranges[n_ranges] = d->ranges[i];
            rsym[n_ranges++] = ny;
        }
    }
    st = re_dfa_alloc(n, ranges, rsym, n_ranges, n_new, out);
    if (st == VKA_OK) {
        memcpy((*out)->accept, d->accept, n);
        for (uint32_t s = 0; s < n; s++)
            for (uint32_t j = 0; j < n_new; j++) (*out)->next[(size_t)s * n_new + j] = d->next[(size_t)s * k + rep[j]];
        (*out)->start = d->start;
    }
done:
    free(new_of), free(rep), free(ranges), free(rsym), free(hash);
    return st;
}

static vka_status quotient(const re_dfa *d, const uint32_t *blk, uint32_t n_blocks, re_dfa **out) {
    uint32_t k = d->n_syms;
    VKA_TRY(re_dfa_alloc(n_blocks, d->ranges, d->range_sym, d->n_ranges, k, out));
    for (uint32_t s = 0; s < d->n_states; s++) {
        uint32_t b = blk[s];
        (*out)->accept[b] = d->accept[s];
        for (uint32_t y = 0; y < k; y++) (*out)->next[(size_t)b * k + y] = blk[d->next[(size_t)s * k + y]];
    }
    (*out)->start = blk[d->start];
    return VKA_OK;
}

vka_status re_dfa_minimize(re_dfa *d, re_dfa **out) {
    *out = NULL;
    re_dfa *a = NULL, *b = NULL, *c = NULL, *e = NULL;
    uint32_t *blk = NULL, n_blocks = 0;
    vka_status st = merge_syms(d, &a);
    if (st == VKA_OK) st = reachable(a, &b);
    if (st == VKA_OK) st = hopcroft(b, &blk, &n_blocks);
    if (st == VKA_OK) st = quotient(b, blk, n_blocks, &c);
    if (st == VKA_OK) st = merge_syms(c, &e);
    if (st == VKA_OK) st = reachable(e, out);   /* breadth-first numbering over the final symbols */
    free(blk);
    re_dfa_unref(a), re_dfa_unref(b), re_dfa_unref(c), re_dfa_unref(e);
    re_dfa_unref(d);
    return st;
}

/* ---------------------------------------------------------------- simple languages */

/* The scalar values as ranges: [0, D7FF] and [E000, 10FFFF]. */
static const re_range all_ranges[2] = {{0, RE_SURR_LO - 1}, {RE_SURR_HI + 1, RE_CP_END - 1}};
static const uint32_t all_syms[2] = {0, 0};

static vka_status one_state(bool accept, re_dfa **out) {
    VKA_TRY(re_dfa_alloc(1, all_ranges, all_syms, 2, 1, out));
    (*out)->accept[0] = accept;
    return VKA_OK;
}

vka_status re_dfa_empty(re_dfa **out) { return one_state(false, out); }
vka_status re_dfa_any(re_dfa **out) { return one_state(true, out); }

vka_status re_dfa_epsilon(re_dfa **out) {
    VKA_TRY(re_dfa_alloc(2, all_ranges, all_syms, 2, 1, out));
    (*out)->accept[0] = 1;
    (*out)->next[0] = 1;
    (*out)->next[1] = 1;
    return VKA_OK;
}

vka_status re_dfa_class(const re_ranges *cls, re_dfa **out) {
    re_ranges c = {0}, other = {0};
    re_range *ranges = NULL;
    uint32_t *syms = NULL;
    vka_status st = VKA_OK;
    bool ok = re_rs_copy(&c, cls) && re_rs_scalar(&c) && re_rs_complement(&c, &other);
    size_t n = c.n + other.n;
    if (ok) {
        ranges = malloc((n + 1) * sizeof *ranges);
        syms = malloc((n + 1) * sizeof *syms);
        ok = ranges && syms;
    }
    if (!ok) {
        st = vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory building a DFA");
        goto done;
    }
    /* the partition: the class's ranges (symbol 0) and the others' (symbol 1), in order */
    for (size_t i = 0, j = 0, k = 0; k < n; k++) {
        bool take_c = j == other.n || (i < c.n && c.r[i].lo < other.r[j].lo);
        ranges[k] = take_c ? c.r[i++] : other.r[j++];
        syms[k] = take_c ? 0 : 1;
    }
    re_dfa *d = NULL;
    st = re_dfa_alloc(3, ranges, syms, n, 2, &d);
    if (st == VKA_OK) {
        /* 0 --cls--> 1 (accepting), everything else to 2 (dead) */
        d->next[0] = 1, d->next[1] = 2;
        d->next[2] = 2, d->next[3] = 2, d->next[4] = 2, d->next[5] = 2;
        d->accept[1] = 1;
        st = re_dfa_minimize(d, out);
    }
done:
    free(ranges), free(syms);
    re_rs_free(&c), re_rs_free(&other);
    return st;
}
