/* regex_bound.c — length limits of any size, and the set operations that
 * meet counted pieces (intersection, complement). A DFA under a large length
 * bound becomes counted pieces when every accepted path passes through at
 * most one looping state whose only cycle is a self-loop: then the strings
 * are A · C^k · B with A, B finite, split by the lengths of A and B. */
#include <stdlib.h>
#include <string.h>

#include "structured/regex_impl.h"

/* Products with a counter up to this many states are preferred to pieces. */
#define SMALL_PRODUCT 4096u

static uint64_t total_min(const re_piece *p) { return (uint64_t)p->pre_w + p->suf_w + p->min; }
static uint64_t total_max(const re_piece *p) {
    return p->max == RE_UNBOUNDED ? RE_UNBOUNDED : (uint64_t)p->pre_w + p->suf_w + p->max;
}

/* ---------------------------------------------------------------- decomposition */

/* A copy of d with its own transition table, for surgery, and one more
 * state: a dead one, numbered d->n_states. */
static vka_status dfa_clone(const re_dfa *d, re_dfa **out) {
    uint32_t n = d->n_states, k = d->n_syms;
    VKA_TRY(re_dfa_alloc(n + 1, d->ranges, d->range_sym, d->n_ranges, k, out));
    memcpy((*out)->next, d->next, (size_t)n * k * sizeof *d->next);
    for (uint32_t y = 0; y < k; y++) (*out)->next[(size_t)n * k + y] = n;
    memcpy((*out)->accept, d->accept, n);
    (*out)->start = d->start;
    return VKA_OK;
}

/* Loop states (a self-loop) of d, when the graph without self-loops and the
 * dead state is acyclic and no path joins two loop states; else false. */
static bool find_loops(const re_dfa *d, uint8_t *is_loop) {
    uint32_t n = d->n_states, k = d->n_syms, dead = re_dfa_dead(d);
    uint32_t *indeg = calloc(n + 1u, sizeof *indeg), *queue = malloc((n + 1u) * sizeof *queue);
    uint8_t *below = calloc(n + 1u, 1);   /* reached from a loop state */
    bool ok = indeg && queue && below;
    for (uint32_t s = 0; ok && s < n; s++) {
        is_loop[s] = 0;
        if (s == dead) continue;
        for (uint32_t y = 0; y < k; y++) {
            uint32_t t = d->next[(size_t)s * k + y];
            if (t == s) is_loop[s] = 1;
            else if (t != dead) indeg[t]++;
        }
    }
    /* Kahn's order: every state is taken exactly when the graph is acyclic */
    uint32_t head = 0, tail = 0;
    for (uint32_t s = 0; ok && s < n; s++)
        if (s != dead && indeg[s] == 0) queue[tail++] = s;
    while (ok && head < tail) {
        uint32_t s = queue[head++];
        if (is_loop[s] && below[s]) ok = false;
        for (uint32_t y = 0; ok && y < k; y++) {
            uint32_t t = d->next[(size_t)s * k + y];
            if (t == s || t == dead) continue;
            if (is_loop[s] || below[s]) below[t] = 1;
            if (--indeg[t] == 0) queue[tail++] = t;
        }
    }
    ok = ok && tail == n - (dead != UINT32_MAX ? 1u : 0u);
    free(indeg), free(queue), free(below);
    return ok;
}

/* The lengths of the strings of a finite DFA (sorted), at most `cap`; false
 * when there are more. */
static bool finite_lengths(const re_dfa *d, uint64_t *lens, size_t cap, size_t *n_lens) {
    uint32_t n = d->n_states, k = d->n_syms, dead = re_dfa_dead(d);
    uint8_t *cur = calloc(n + 1u, 1), *nxt = calloc(n + 1u, 1);
    bool ok = cur && nxt, any = d->start != dead;
    *n_lens = 0;
    if (ok && any) cur[d->start] = 1;
    for (uint64_t len = 0; ok && any && len <= n; len++) {
        any = false;
        bool acc = false;
        memset(nxt, 0, n);
        for (uint32_t s = 0; s < n; s++) {
            if (!cur[s]) continue;
            acc = acc || d->accept[s];
            for (uint32_t y = 0; y < k; y++) {
                uint32_t t = d->next[(size_t)s * k + y];
                if (t != dead) nxt[t] = 1, any = true;
            }
        }
        if (acc) {
            if (*n_lens == cap) ok = false;
            else lens[(*n_lens)++] = len;
        }
        uint8_t *sw = cur;
        cur = nxt, nxt = sw;
    }
    free(cur), free(nxt);
    return ok;
}

#define MAX_SPLIT_LENGTHS 32u

typedef struct split {
    re_dfa *a, *b;              /* paths from the start to q; from q on to acceptance */
    re_ranges cls;              /* q's self-loop */
    uint64_t a_lens[MAX_SPLIT_LENGTHS], b_lens[MAX_SPLIT_LENGTHS];
    size_t n_a, n_b;
} split;

/* A (accepting only q, q stopping there) and B (starting at q, without its
 * self-loop) for loop state q. */
static vka_status split_at(const re_dfa *d, uint32_t q, split *sp) {
    uint32_t k = d->n_syms, dead = d->n_states;
    re_dfa *a = NULL, *b = NULL;
    vka_status st = dfa_clone(d, &a);
    if (st == VKA_OK) st = dfa_clone(d, &b);
    if (st != VKA_OK) {
        re_dfa_unref(a);
        return st;
    }
    re_ranges cls = {0};
    bool ok = true;
    for (uint32_t s = 0; s < d->n_states; s++) a->accept[s] = s == q;
    for (uint32_t y = 0; y < k; y++) {
        a->next[(size_t)q * k + y] = dead;
        if (d->next[(size_t)q * k + y] == q) {
            b->next[(size_t)q * k + y] = dead;
            re_ranges r;
            ok = ok && re_dfa_sym_ranges(d, y, &r) && re_rs_add_set(&cls, &r);
            re_rs_free(&r);
        }
    }
    b->start = q;
    if (!ok) {
        re_dfa_unref(a), re_dfa_unref(b), re_rs_free(&cls);
        return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
    }
    sp->cls = cls;
    st = re_dfa_minimize(a, &sp->a);
    if (st == VKA_OK) st = re_dfa_minimize(b, &sp->b);
    else re_dfa_unref(b);
    if (st != VKA_OK) return st;
    if (!finite_lengths(sp->a, sp->a_lens, MAX_SPLIT_LENGTHS, &sp->n_a) ||
        !finite_lengths(sp->b, sp->b_lens, MAX_SPLIT_LENGTHS, &sp->n_b))
        return vka_fail(VKA_ERR_GRAMMAR, "regular language too complex for a large length limit: more than %u "
                        "different lengths around a repetition", MAX_SPLIT_LENGTHS);
    return VKA_OK;
}

static void split_free(split *sp) {
    re_dfa_unref(sp->a), re_dfa_unref(sp->b);
    re_rs_free(&sp->cls);
}

/* The pieces of the strings through loop state q with lengths in [lo, hi]. */
static vka_status pieces_through(const split *sp, uint64_t lo, uint64_t hi, re_lang *l) {
    vka_status st = VKA_OK;
    for (size_t i = 0; st == VKA_OK && i < sp->n_a; i++) {
        re_dfa *pre = NULL;
        st = re_dfa_limit_length(sp->a, sp->a_lens[i], sp->a_lens[i], &pre);
        for (size_t j = 0; st == VKA_OK && j < sp->n_b; j++) {
            uint64_t fixed = sp->a_lens[i] + sp->b_lens[j];
            if (hi != RE_UNBOUNDED && fixed > hi) continue;
            re_dfa *suf = NULL;
            st = re_dfa_limit_length(sp->b, sp->b_lens[j], sp->b_lens[j], &suf);
            if (st != VKA_OK) break;
            re_piece p = {.pre = pre, .suf = suf, .pre_w = (uint32_t)sp->a_lens[i], .suf_w = (uint32_t)sp->b_lens[j],
                          .cls = sp->cls, .min = lo > fixed ? lo - fixed : 0,
                          .max = hi == RE_UNBOUNDED ? RE_UNBOUNDED : hi - fixed};
            st = re_lang_put_piece(l, &p);
            re_dfa_unref(suf);
        }
        re_dfa_unref(pre);
    }
    return st;
}

/* d's strings with lengths in [lo, hi] as the finite part and pieces. */
static vka_status decompose(const re_dfa *d, uint64_t lo, uint64_t hi, re_lang *l, bool *possible) {
    uint8_t *is_loop = malloc(d->n_states + 1u);
    if (!is_loop) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
    *possible = find_loops(d, is_loop);
    vka_status st = VKA_OK;
    re_dfa *finite = NULL, *f = NULL;
    if (*possible) st = dfa_clone(d, &finite);
    uint32_t dead = d->n_states, k = d->n_syms;
    for (uint32_t q = 0; *possible && st == VKA_OK && q < d->n_states; q++) {
        if (!is_loop[q]) continue;
        split sp = {0};
        st = split_at(d, q, &sp);
        if (st == VKA_OK) st = pieces_through(&sp, lo, hi, l);
        split_free(&sp);
        /* the finite part avoids every loop state */
        finite->accept[q] = 0;
        for (uint32_t y = 0; y < k; y++) finite->next[(size_t)q * k + y] = dead;
    }
    if (*possible && st == VKA_OK) {
        re_dfa *fm = NULL;
        st = re_dfa_minimize(finite, &fm);
        finite = NULL;
        if (st == VKA_OK) st = re_dfa_limit_length(fm, lo, hi, &f);
        re_dfa_unref(fm);
        if (st == VKA_OK) {
            re_dfa *u = NULL;
            st = re_dfa_product(l->dfa, f, RE_OR, &u);
            if (st == VKA_OK) re_dfa_unref(l->dfa), l->dfa = u;
        }
    }
    re_dfa_unref(finite), re_dfa_unref(f);
    free(is_loop);
    return st;
}

vka_status re_lang_bounded(const re_dfa *d, uint64_t lo, uint64_t hi, re_lang **out) {
    *out = NULL;
    if (hi != RE_UNBOUNDED) {
        int64_t longest = re_dfa_longest(d);
        if (longest >= 0 && (uint64_t)longest <= hi) hi = RE_UNBOUNDED;
    }
    re_dfa *r = NULL;
    uint64_t span = hi == RE_UNBOUNDED ? lo : hi;
    if ((hi == RE_UNBOUNDED && lo == 0) || (span < SMALL_PRODUCT && (uint64_t)d->n_states * (span + 1) <= SMALL_PRODUCT)) {
        VKA_TRY(re_dfa_limit_length(d, lo, hi, &r));
        return re_lang_from_dfa(r, out);
    }
    VKA_TRY(re_dfa_empty(&r));
    VKA_TRY(re_lang_from_dfa(r, out));
    bool possible = false;
    vka_status st = decompose(d, lo, hi, *out, &possible);
    if (st == VKA_OK && !possible) {
        re_free(*out);
        *out = NULL;
        st = re_dfa_limit_length(d, lo, hi, &r);
        if (st == VKA_OK) return re_lang_from_dfa(r, out);
        return vka_fail_context(st, "length limit %llu..%llu on a language with several repetitions",
                                (unsigned long long)lo, (unsigned long long)hi);
    }
    if (st != VKA_OK) re_free(*out), *out = NULL;
    return st;
}

/* ---------------------------------------------------------------- length limits */

vka_status re_limit_length(const re_lang *a, uint64_t min, uint64_t max, re_lang **out) {
    *out = NULL;
    re_lang *l = NULL;
    VKA_TRY(re_lang_bounded(a->dfa, min, max, &l));
    vka_status st = VKA_OK;
    for (size_t i = 0; st == VKA_OK && i < a->n_pieces; i++) {
        re_piece p = a->pieces[i];
        uint64_t fixed = (uint64_t)p.pre_w + p.suf_w;
        if (max != RE_UNBOUNDED && max < fixed + p.min) continue;
        if (min > fixed && min - fixed > p.min) p.min = min - fixed;
        if (max != RE_UNBOUNDED && (p.max == RE_UNBOUNDED || max - fixed < p.max)) p.max = max - fixed;
        st = re_lang_put_piece(l, &p);
    }
    if (st != VKA_OK) {
        re_free(l);
        return st;
    }
    *out = l;
    return VKA_OK;
}

/* ---------------------------------------------------------------- intersection */

/* pre · C* · suf as a DFA: the piece without its count. */
static vka_status piece_closure(const re_piece *p, re_dfa **out) {
    re_piece q = *p;
    q.min = 0;
    q.max = RE_UNBOUNDED;
    return re_piece_to_dfa(&q, out);
}

static vka_status add_bounded(re_lang *l, const re_dfa *e, uint64_t lo, uint64_t hi) {
    re_lang *b = NULL, *u = NULL;
    VKA_TRY(re_lang_bounded(e, lo, hi, &b));
    vka_status st = re_union(l, b, &u);
    re_free(b);
    if (st != VKA_OK) return st;
    /* move u's contents into l */
    re_dfa_unref(l->dfa);
    for (size_t i = 0; i < l->n_pieces; i++) {
        re_dfa_unref(l->pieces[i].pre), re_dfa_unref(l->pieces[i].suf);
        re_rs_free(&l->pieces[i].cls);
    }
    free(l->pieces);
    *l = *u;
    free(u);
    return VKA_OK;
}

static vka_status meet_dfa_piece(re_lang *l, const re_dfa *d, const re_piece *p) {
    re_dfa *c = NULL, *e = NULL;
    VKA_TRY(piece_closure(p, &c));
    bool inside = false;
    vka_status st = re_dfa_subset(c, d, &inside);
    if (st == VKA_OK && inside) st = re_lang_add_piece(l, p);
    else if (st == VKA_OK) st = re_dfa_product(c, d, RE_AND, &e);
    if (st == VKA_OK && e) st = add_bounded(l, e, total_min(p), total_max(p));
    re_dfa_unref(c), re_dfa_unref(e);
    return st;
}

static vka_status meet_pieces(re_lang *l, const re_piece *a, const re_piece *b) {
    re_dfa *ca = NULL, *cb = NULL, *e = NULL;
    vka_status st = piece_closure(a, &ca);
    if (st == VKA_OK) st = piece_closure(b, &cb);
    if (st == VKA_OK) st = re_dfa_product(ca, cb, RE_AND, &e);
    uint64_t lo = total_min(a) > total_min(b) ? total_min(a) : total_min(b);
    uint64_t hi = total_max(a) < total_max(b) ? total_max(a) : total_max(b);
    if (st == VKA_OK && (hi == RE_UNBOUNDED || lo <= hi)) st = add_bounded(l, e, lo, hi);
    re_dfa_unref(ca), re_dfa_unref(cb), re_dfa_unref(e);
    return st;
}

vka_status re_intersect(const re_lang *a, const re_lang *b, re_lang **out) {
    *out = NULL;
    re_dfa *d = NULL;
    VKA_TRY(re_dfa_product(a->dfa, b->dfa, RE_AND, &d));
    re_lang *l = NULL;
    VKA_TRY(re_lang_from_dfa(d, &l));
    vka_status st = VKA_OK;
    for (size_t j = 0; st == VKA_OK && j < b->n_pieces; j++) st = meet_dfa_piece(l, a->dfa, &b->pieces[j]);
    for (size_t i = 0; st == VKA_OK && i < a->n_pieces; i++) {
        st = meet_dfa_piece(l, b->dfa, &a->pieces[i]);
        for (size_t j = 0; st == VKA_OK && j < b->n_pieces; j++) st = meet_pieces(l, &a->pieces[i], &b->pieces[j]);
    }
    if (st != VKA_OK) {
        re_free(l);
        return st;
    }
    *out = l;
    return VKA_OK;
}

/* ---------------------------------------------------------------- complement */

/* Everything but the piece: outside its closure, or inside with another length. */
static vka_status piece_complement(const re_piece *p, re_lang **out) {
    re_dfa *c = NULL, *nc = NULL;
    VKA_TRY(piece_closure(p, &c));
    vka_status st = re_dfa_complement(c, &nc);
    if (st == VKA_OK) st = re_lang_from_dfa(nc, out);
    if (st == VKA_OK && total_min(p) > 0) st = add_bounded(*out, c, 0, total_min(p) - 1);
    if (st == VKA_OK && p->max != RE_UNBOUNDED) st = add_bounded(*out, c, total_max(p) + 1, RE_UNBOUNDED);
    re_dfa_unref(c);
    if (st != VKA_OK) re_free(*out), *out = NULL;
    return st;
}

vka_status re_complement(const re_lang *a, re_lang **out) {
    *out = NULL;
    re_dfa *d = NULL;
    VKA_TRY(re_dfa_complement(a->dfa, &d));
    re_lang *l = NULL;
    VKA_TRY(re_lang_from_dfa(d, &l));
    vka_status st = VKA_OK;
    for (size_t i = 0; st == VKA_OK && i < a->n_pieces; i++) {
        re_lang *np = NULL, *m = NULL;
        st = piece_complement(&a->pieces[i], &np);
        if (st == VKA_OK) st = re_intersect(l, np, &m);
        re_free(np);
        if (st == VKA_OK) re_free(l), l = m;
    }
    if (st != VKA_OK) {
        re_free(l);
        return st;
    }
    *out = l;
    return VKA_OK;
}
