/* regex_lang.c — languages as a DFA plus counted pieces (pre · C{m,n} · suf
 * with fixed-width pre and suf), so that counters of any size stay counters:
 * creation, union, concatenation, matching, and the public entry points that
 * need no more than that. */
#include <stdlib.h>
#include <string.h>

#include "structured/regex_impl.h"

/* ---------------------------------------------------------------- structure */

static void piece_free(re_piece *p) {
    re_dfa_unref(p->pre);
    re_dfa_unref(p->suf);
    re_rs_free(&p->cls);
}

void re_free(re_lang *l) {
    if (!l) return;
    re_dfa_unref(l->dfa);
    for (size_t i = 0; i < l->n_pieces; i++) piece_free(&l->pieces[i]);
    free(l->pieces);
    free(l);
}

vka_status re_lang_from_dfa(re_dfa *d, re_lang **out) {
    *out = calloc(1, sizeof **out);
    if (!*out) {
        re_dfa_unref(d);
        return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
    }
    (*out)->dfa = d;
    return VKA_OK;
}

static vka_status empty_lang(re_lang **out) {
    re_dfa *d = NULL;
    VKA_TRY(re_dfa_empty(&d));
    return re_lang_from_dfa(d, out);
}

static bool piece_copy(re_piece *dst, const re_piece *src) {
    *dst = *src;
    dst->cls = (re_ranges){0};
    if (!re_rs_copy(&dst->cls, &src->cls)) return false;
    re_dfa_ref(dst->pre);
    re_dfa_ref(dst->suf);
    return true;
}

/* Appends a copy of p to l. */
vka_status re_lang_add_piece(re_lang *l, const re_piece *p) {
    if (l->n_pieces >= RE_MAX_PIECES)
        return vka_fail(VKA_ERR_GRAMMAR, "regular language too complex: more than %u counted parts", RE_MAX_PIECES);
    re_piece *ps = realloc(l->pieces, (l->n_pieces + 1) * sizeof *ps);
    if (!ps) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
    l->pieces = ps;
    if (!piece_copy(&ps[l->n_pieces], p)) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
    l->n_pieces++;
    return VKA_OK;
}

vka_status re_lang_copy(const re_lang *l, re_lang **out) {
    VKA_TRY(re_lang_from_dfa(re_dfa_ref(l->dfa), out));
    for (size_t i = 0; i < l->n_pieces; i++) {
        vka_status st = re_lang_add_piece(*out, &l->pieces[i]);
        if (st != VKA_OK) {
            re_free(*out);
            *out = NULL;
            return st;
        }
    }
    return VKA_OK;
}

vka_status re_copy(const re_lang *l, re_lang **out) {
    *out = NULL;
    if (!l) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "re_copy: NULL language");
    return re_lang_copy(l, out);
}

const re_dfa *re_lang_dfa_only(const re_lang *l) { return l->n_pieces ? NULL : l->dfa; }

/* The piece as a DFA: pre, then the class min..max times, then suf. */
vka_status re_piece_to_dfa(const re_piece *p, re_dfa **out) {
    re_nfa n = {0};
    re_frag fp = re_nfa_add_dfa(&n, p->pre), fs = re_nfa_add_dfa(&n, p->suf);
    uint32_t cls = re_nfa_class_id(&n, &p->cls), at = fp.out;
    uint64_t copies = p->max == RE_UNBOUNDED ? p->min : p->max;
    if (copies >= RE_MAX_NFA_STATES) n.failed = n.too_big = true;
    for (uint64_t i = 0; i < copies && !n.failed; i++) {
        uint32_t next = re_nfa_state(&n);
        if (i >= p->min) re_nfa_eps(&n, at, fs.in);
        re_nfa_edge_to(&n, at, next, cls);
        at = next;
    }
    if (p->max == RE_UNBOUNDED) re_nfa_edge_to(&n, at, at, cls);
    re_nfa_eps(&n, at, fs.in);
    vka_status st = re_nfa_to_dfa(&n, fp.in, fs.out, out);
    re_nfa_free(&n);
    return st;
}

/* Adds d's language to l's DFA part. */
static vka_status add_dfa(re_lang *l, const re_dfa *d) {
    if (re_dfa_is_empty(d)) return VKA_OK;
    if (re_dfa_is_empty(l->dfa)) {
        re_dfa_unref(l->dfa);
        l->dfa = re_dfa_ref((re_dfa *)d);
        return VKA_OK;
    }
    re_dfa *u = NULL;
    VKA_TRY(re_dfa_product(l->dfa, d, RE_OR, &u));
    re_dfa_unref(l->dfa);
    l->dfa = u;
    return VKA_OK;
}

/* Adds a piece, as a DFA when its count is small, dropping it when empty. */
vka_status re_lang_put_piece(re_lang *l, const re_piece *p) {
    if (p->cls.n == 0 && p->min > 0) return VKA_OK;
    if (p->max != RE_UNBOUNDED && p->min > p->max) return VKA_OK;
    if (re_dfa_is_empty(p->pre) || re_dfa_is_empty(p->suf)) return VKA_OK;
    uint64_t count = p->max == RE_UNBOUNDED ? p->min : p->max;
    if (count <= RE_PIECE_MIN_COUNT || p->cls.n == 0) {
        re_piece small = *p;
        if (p->cls.n == 0) small.max = 0;
        re_dfa *d = NULL;
        VKA_TRY(re_piece_to_dfa(&small, &d));
        vka_status st = add_dfa(l, d);
        re_dfa_unref(d);
        return st;
    }
    return re_lang_add_piece(l, p);
}

vka_status re_lang_piece(const re_ranges *cls, uint64_t min, uint64_t max, re_lang **out) {
    re_dfa *eps = NULL;
    VKA_TRY(re_dfa_epsilon(&eps));
    re_piece p = {.pre = eps, .suf = eps, .cls = *cls, .min = min, .max = max};
    vka_status st = empty_lang(out);
    if (st == VKA_OK) st = re_lang_put_piece(*out, &p);
    re_dfa_unref(eps);
    if (st != VKA_OK) re_free(*out), *out = NULL;
    return st;
}

/* ---------------------------------------------------------------- union */

vka_status re_union(const re_lang *a, const re_lang *b, re_lang **out) {
    *out = NULL;
    re_lang *l = NULL;
    VKA_TRY(re_lang_copy(a, &l));
    vka_status st = add_dfa(l, b->dfa);
    for (size_t i = 0; st == VKA_OK && i < b->n_pieces; i++) st = re_lang_add_piece(l, &b->pieces[i]);
    if (st != VKA_OK) {
        re_free(l);
        return st;
    }
    *out = l;
    return VKA_OK;
}

/* ---------------------------------------------------------------- concatenation */

/* E · C ⊆ E (left) or C · E ⊆ E (right): then E · C{m,n} = E · C^m. */
static vka_status absorbs(const re_dfa *e, const re_ranges *cls, bool on_right, bool *yes) {
    re_dfa *c = NULL, *ec = NULL;
    VKA_TRY(re_dfa_class(cls, &c));
    vka_status st = on_right ? re_dfa_concat(e, c, &ec) : re_dfa_concat(c, e, &ec);
    if (st == VKA_OK) st = re_dfa_subset(ec, e, yes);
    re_dfa_unref(c), re_dfa_unref(ec);
    return st;
}

/* d · p (d_first) or p · d, added to l: d joins the piece's prefix (or
 * suffix) when that keeps one width; otherwise the piece becomes states,
 * its count cut to the minimum when the joined side absorbs the class. */
static vka_status concat_side(re_lang *l, const re_piece *p, const re_dfa *d, bool d_first) {
    if (re_dfa_is_empty(d)) return VKA_OK;
    re_dfa *side = NULL;
    VKA_TRY(d_first ? re_dfa_concat(d, p->pre, &side) : re_dfa_concat(p->suf, d, &side));
    int64_t w = re_dfa_fixed_width(side);
    re_piece q = *p;
    vka_status st = VKA_OK;
    if (w >= 0) {
        if (d_first) q.pre = side, q.pre_w = (uint32_t)w;
        else q.suf = side, q.suf_w = (uint32_t)w;
        st = re_lang_put_piece(l, &q);
    } else {
        bool yes = false;
        st = absorbs(side, &p->cls, d_first, &yes);
        if (st == VKA_OK && yes) q.max = q.min;   /* the longer repetitions are in side · C^min already */
        re_dfa *eps = NULL, *core = NULL, *whole = NULL;
        if (st == VKA_OK) st = re_dfa_epsilon(&eps);
        if (st == VKA_OK) {
            if (d_first) q.pre = eps, q.pre_w = 0;
            else q.suf = eps, q.suf_w = 0;
            st = re_piece_to_dfa(&q, &core);   /* within the state limit */
            if (st == VKA_OK) st = d_first ? re_dfa_concat(side, core, &whole) : re_dfa_concat(core, side, &whole);
            if (st == VKA_OK) st = add_dfa(l, whole);
        }
        re_dfa_unref(eps), re_dfa_unref(core), re_dfa_unref(whole);
    }
    re_dfa_unref(side);
    return st;
}

static vka_status concat_pieces(re_lang *l, const re_piece *a, const re_piece *b) {
    /* two counters in a row: the one with the smaller count becomes states */
    uint64_t ca = a->max == RE_UNBOUNDED ? a->min : a->max, cb = b->max == RE_UNBOUNDED ? b->min : b->max;
    re_dfa *d = NULL;
    vka_status st = re_piece_to_dfa(ca <= cb ? a : b, &d);
    if (st == VKA_OK) st = ca <= cb ? concat_side(l, b, d, true) : concat_side(l, a, d, false);
    re_dfa_unref(d);
    return st;
}

vka_status re_lang_concat(const re_lang *a, const re_lang *b, re_lang **out) {
    *out = NULL;
    re_lang *l = NULL;
    VKA_TRY(empty_lang(&l));
    vka_status st = VKA_OK;
    if (!re_dfa_is_empty(a->dfa) && !re_dfa_is_empty(b->dfa)) {
        re_dfa *d = NULL;
        st = re_dfa_concat(a->dfa, b->dfa, &d);
        if (st == VKA_OK) st = add_dfa(l, d);
        re_dfa_unref(d);
    }
    for (size_t j = 0; st == VKA_OK && j < b->n_pieces; j++) st = concat_side(l, &b->pieces[j], a->dfa, true);
    for (size_t i = 0; st == VKA_OK && i < a->n_pieces; i++) {
        st = concat_side(l, &a->pieces[i], b->dfa, false);
        for (size_t j = 0; st == VKA_OK && j < b->n_pieces; j++) st = concat_pieces(l, &a->pieces[i], &b->pieces[j]);
    }
    if (st != VKA_OK) {
        re_free(l);
        return st;
    }
    *out = l;
    return VKA_OK;
}

/* ---------------------------------------------------------------- matching */

static bool piece_contains(const re_piece *p, const uint32_t *cps, size_t n) {
    uint64_t fixed = (uint64_t)p->pre_w + p->suf_w;
    if (n < fixed || n - fixed < p->min || (p->max != RE_UNBOUNDED && n - fixed > p->max)) return false;
    if (!re_dfa_accepts(p->pre, cps, p->pre_w) || !re_dfa_accepts(p->suf, cps + n - p->suf_w, p->suf_w)) return false;
    for (size_t i = p->pre_w; i < n - p->suf_w; i++)
        if (!re_rs_has(&p->cls, cps[i])) return false;
    return true;
}

bool re_contains(const re_lang *l, const char *utf8, size_t len) {
    uint32_t *cps = NULL;
    size_t n = 0;
    if (!l || !re_utf8_to_cps(utf8, len, &cps, &n)) return false;
    bool yes = re_dfa_accepts(l->dfa, cps, n);
    for (size_t i = 0; !yes && i < l->n_pieces; i++) yes = piece_contains(&l->pieces[i], cps, n);
    free(cps);
    return yes;
}

bool re_is_empty(const re_lang *l) {
    /* pieces are only kept when they hold strings */
    return l->n_pieces == 0 && re_dfa_is_empty(l->dfa);
}

/* ---------------------------------------------------------------- simple languages */

vka_status re_all(re_lang **out) {
    re_dfa *d = NULL;
    VKA_TRY(re_dfa_any(&d));
    return re_lang_from_dfa(d, out);
}

vka_status re_literals(const char *const *strs, const size_t *lens, size_t n, re_lang **out) {
    *out = NULL;
    re_nfa nfa = {0};
    uint32_t start = re_nfa_state(&nfa), final = re_nfa_state(&nfa);
    for (size_t i = 0; i < n && !nfa.failed; i++) {
        uint32_t *cps = NULL;
        size_t len = 0;
        if (!re_utf8_to_cps(strs[i], lens[i], &cps, &len)) {
            re_nfa_free(&nfa);
            return vka_fail(VKA_ERR_GRAMMAR, "string %zu is not valid UTF-8", i);
        }
        uint32_t at = start;
        for (size_t k = 0; k < len; k++) {
            re_ranges one = {0};
            uint32_t next = re_nfa_state(&nfa);
            if (!re_rs_add(&one, cps[k], cps[k])) nfa.failed = true;
            re_nfa_class_edge(&nfa, at, next, &one);
            re_rs_free(&one);
            at = next;
        }
        re_nfa_eps(&nfa, at, final);
        free(cps);
    }
    re_dfa *d = NULL;
    vka_status st = re_nfa_to_dfa(&nfa, start, final, &d);
    re_nfa_free(&nfa);
    if (st != VKA_OK) return st;
    return re_lang_from_dfa(d, out);
}

vka_status re_lang_nonempty(const re_lang *a, re_lang **out) {
    *out = NULL;
    re_dfa *eps = NULL, *d = NULL;
    VKA_TRY(re_dfa_epsilon(&eps));
    vka_status st = re_dfa_product(a->dfa, eps, RE_MINUS, &d);
    re_dfa_unref(eps);
    if (st != VKA_OK) return st;
    VKA_TRY(re_lang_from_dfa(d, out));
    for (size_t i = 0; st == VKA_OK && i < a->n_pieces; i++) {
        re_piece p = a->pieces[i];
        if (p.pre_w + p.suf_w == 0 && p.min == 0) p.min = 1;
        st = re_lang_put_piece(*out, &p);
    }
    if (st != VKA_OK) re_free(*out), *out = NULL;
    return st;
}
