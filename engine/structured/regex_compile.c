/* regex_compile.c — from a parsed pattern to the language of the strings it
 * is found in. Parts without assertions become Thompson NFAs. Anchors and
 * lookaheads are edges that hold at the start only (^) or start obligations
 * on the rest of the string (lookaheads, $ being (?![\s\S])), see
 * regex_subset.c. A pattern with counted repetitions of a class larger than
 * RE_PIECE_MIN_COUNT keeps them as counters instead: it is compiled right
 * to left against the language of what may follow ("continuations"), kept
 * in two versions: for a position at the very start of the string (where ^
 * holds) and for any later position. Then
 *   $        is  K ∩ {""},
 *   (?=X)    is  K ∩ (X anywhere-suffix language),   (?!X) the difference,
 *   ^        keeps only the version at the start,
 * and the whole pattern, found at position 0 or after some prefix, is
 *   R0 ∪ Σ⁺·R1. */
#include <stdlib.h>
#include <string.h>

#include "structured/regex_impl.h"

/* Bounded repetitions of a part with assertions are unrolled up to this. */
#define MAX_ASSERT_UNROLL 16u

/* The languages of what may follow: at position 0 (k0) and later (k1). */
typedef struct cont {
    re_lang *k0, *k1;
} cont;

static void cont_free(cont *c) {
    if (c->k0 != c->k1) re_free(c->k1);
    re_free(c->k0);
    *c = (cont){0};
}

static bool same(const cont *c) { return c->k0 == c->k1; }

/* ---------------------------------------------------------------- plain parts */

static bool is_big_repeat(const re_node *n) {
    if (n->kind != RN_REPEAT || n->kids[0]->kind != RN_CLASS) return false;
    return n->max == RE_UNBOUNDED ? n->min > RE_PIECE_MIN_COUNT : n->max > RE_PIECE_MIN_COUNT;
}

/* A part whose counted repetitions of a class should stay counters. */
static bool has_big(const re_node *n) {
    if (is_big_repeat(n)) return true;
    if (n->kind != RN_CAT && n->kind != RN_ALT) return false;
    for (size_t i = 0; i < n->n_kids; i++)
        if (has_big(n->kids[i])) return true;
    return false;
}

static bool is_plain(const re_node *n) { return !n->has_assert && !has_big(n); }

static re_frag thompson(re_nfa *nfa, const re_node *n);

static re_frag thompson_seq(re_nfa *nfa, re_node *const *kids, size_t n_kids) {
    uint32_t in = re_nfa_state(nfa), at = in;
    for (size_t i = 0; i < n_kids && !nfa->failed; i++) {
        re_frag f = thompson(nfa, kids[i]);
        re_nfa_eps(nfa, at, f.in);
        at = f.out;
    }
    return (re_frag){in, at};
}

static re_frag thompson_repeat(re_nfa *nfa, const re_node *n) {
    uint32_t in = re_nfa_state(nfa), out = re_nfa_state(nfa), at = in;
    uint64_t copies = n->max == RE_UNBOUNDED ? n->min + 1 : n->max;
    for (uint64_t i = 0; i < copies && !nfa->failed; i++) {
        re_frag f = thompson(nfa, n->kids[0]);
        re_nfa_eps(nfa, at, f.in);
        if (i >= n->min) re_nfa_eps(nfa, at, out);
        if (n->max == RE_UNBOUNDED && i == n->min) re_nfa_eps(nfa, f.out, f.in);
        at = f.out;
    }
    re_nfa_eps(nfa, at, out);
    return (re_frag){in, out};
}

static bool contains_bol(const re_node *n) {
    if (n->kind == RN_BOL) return true;
    for (size_t i = 0; i < n->n_kids; i++)
        if (contains_bol(n->kids[i])) return true;
    return false;
}

static bool all_chars(re_ranges *all) {
    *all = (re_ranges){0};
    if (re_rs_add(all, 0, RE_CP_END - 1) && re_rs_scalar(all)) return true;
    re_rs_free(all);
    return false;
}

/* The automaton of a lookahead (?=x): x followed by anything, met at the
 * start of the string or later. */
static vka_status look_dfa(const re_node *x, bool at_start, re_dfa **out) {
    re_nfa nfa = {0};
    re_ranges all;
    if (!all_chars(&all)) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
    re_frag f = thompson(&nfa, x);
    re_nfa_class_edge(&nfa, f.out, f.out, &all);
    vka_status st = re_nfa_to_dfa_at(&nfa, f.in, f.out, at_start, out);
    re_nfa_free(&nfa);
    re_rs_free(&all);
    return st;
}

/* A lookahead edge; $ is the lookahead (?![\s\S]). Copies of a node (in
 * repetitions) and all $ share one lookahead. */
static re_frag thompson_look(re_nfa *nfa, const re_node *n) {
    static const char end_key = 0;
    re_frag f = {re_nfa_state(nfa), re_nfa_state(nfa)};
    const void *key = n->kind == RN_EOL ? (const void *)&end_key : (const void *)n;
    uint32_t look = re_nfa_look_find(nfa, key);
    if (look != UINT32_MAX) {
        re_nfa_look_edge(nfa, f.in, f.out, look);
        return f;
    }
    re_dfa *first = NULL, *later = NULL;
    vka_status st;
    if (n->kind == RN_EOL) {
        re_dfa *eps = NULL;
        st = re_dfa_epsilon(&eps);
        if (st == VKA_OK) st = re_dfa_complement(eps, &first);
        re_dfa_unref(eps);
        later = first;
    } else {
        st = look_dfa(n->kids[0], true, &first);
        if (st == VKA_OK && contains_bol(n->kids[0])) st = look_dfa(n->kids[0], false, &later);
        else later = first;
    }
    if (st != VKA_OK) {
        re_dfa_unref(first);
        re_nfa_fail(nfa, st);
        return f;
    }
    look = re_nfa_add_look(nfa, key, first, later, n->kind == RN_EOL || n->negated);
    re_nfa_look_edge(nfa, f.in, f.out, look);
    return f;
}

static re_frag thompson(re_nfa *nfa, const re_node *n) {
    switch (n->kind) {
    case RN_BOL: {
        re_frag f = {re_nfa_state(nfa), re_nfa_state(nfa)};
        re_nfa_bol_edge(nfa, f.in, f.out);
        return f;
    }
    case RN_EOL:
    case RN_LOOK: return thompson_look(nfa, n);
    case RN_CLASS: {
        re_frag f = {re_nfa_state(nfa), re_nfa_state(nfa)};
        re_nfa_class_edge(nfa, f.in, f.out, &n->cls);
        return f;
    }
    case RN_CAT: return thompson_seq(nfa, n->kids, n->n_kids);
    case RN_ALT: {
        re_frag f = {re_nfa_state(nfa), re_nfa_state(nfa)};
        for (size_t i = 0; i < n->n_kids && !nfa->failed; i++) {
            re_frag k = thompson(nfa, n->kids[i]);
            re_nfa_eps(nfa, f.in, k.in);
            re_nfa_eps(nfa, k.out, f.out);
        }
        return f;
    }
    case RN_REPEAT: return thompson_repeat(nfa, n);
    default: {   /* RN_EMPTY */
        uint32_t s = re_nfa_state(nfa);
        return (re_frag){s, s};
    }
    }
}

/* The language of a run of plain parts followed by k (a DFA-only language
 * when given), in one subset construction. */
static vka_status plain_then(re_node *const *kids, size_t n_kids, const re_dfa *k, re_dfa **out) {
    re_nfa nfa = {0};
    re_frag f = thompson_seq(&nfa, kids, n_kids);
    uint32_t end = f.out;
    if (k) {
        re_frag fk = re_nfa_add_dfa(&nfa, k);
        re_nfa_eps(&nfa, f.out, fk.in);
        end = fk.out;
    }
    vka_status st = re_nfa_to_dfa(&nfa, f.in, end, out);
    re_nfa_free(&nfa);
    return st;
}

/* L · k for the language L of a run of parts (plain, or one big repetition). */
static vka_status run_then(re_node *const *kids, size_t n_kids, const re_lang *k, re_lang **out) {
    const re_dfa *kd = re_lang_dfa_only(k);
    re_dfa *d = NULL;
    if (n_kids == 1 && is_big_repeat(kids[0])) {
        re_lang *piece = NULL;
        VKA_TRY(re_lang_piece(&kids[0]->kids[0]->cls, kids[0]->min, kids[0]->max, &piece));
        vka_status st = re_lang_concat(piece, k, out);
        re_free(piece);
        return st;
    }
    if (kd) {
        VKA_TRY(plain_then(kids, n_kids, kd, &d));
        return re_lang_from_dfa(d, out);
    }
    VKA_TRY(plain_then(kids, n_kids, NULL, &d));
    re_lang *l = NULL;
    VKA_TRY(re_lang_from_dfa(d, &l));
    vka_status st = re_lang_concat(l, k, out);
    re_free(l);
    return st;
}

/* The language of a run of parts. */
static vka_status run_lang(re_node *const *kids, size_t n_kids, re_lang **out) {
    if (n_kids == 1 && is_big_repeat(kids[0]))
        return re_lang_piece(&kids[0]->kids[0]->cls, kids[0]->min, kids[0]->max, out);
    re_dfa *d = NULL;
    VKA_TRY(plain_then(kids, n_kids, NULL, &d));
    return re_lang_from_dfa(d, out);
}

/* ---------------------------------------------------------------- continuations */

static vka_status compile(const re_node *n, const cont *k, cont *out);

static vka_status lang_and(const re_lang *a, const re_lang *b, bool minus, re_lang **out) {
    if (!minus) return re_intersect(a, b, out);
    re_lang *nb = NULL;
    VKA_TRY(re_complement(b, &nb));
    vka_status st = re_intersect(a, nb, out);
    re_free(nb);
    return st;
}

static vka_status epsilon_lang(re_lang **out) {
    re_dfa *e = NULL;
    VKA_TRY(re_dfa_epsilon(&e));
    return re_lang_from_dfa(e, out);
}

static vka_status empty_lang(re_lang **out) {
    re_dfa *e = NULL;
    VKA_TRY(re_dfa_empty(&e));
    return re_lang_from_dfa(e, out);
}

/* Applies f (meet with x0 / x1) to both versions of k. */
static vka_status meet(const cont *k, const re_lang *x0, const re_lang *x1, bool minus, cont *out) {
    *out = (cont){0};
    VKA_TRY(lang_and(k->k0, x0, minus, &out->k0));
    if (same(k) && x0 == x1) {
        out->k1 = out->k0;
        return VKA_OK;
    }
    vka_status st = lang_and(k->k1, x1, minus, &out->k1);
    if (st != VKA_OK) re_free(out->k0), *out = (cont){0};
    return st;
}

static vka_status compile_any(cont *out) {
    *out = (cont){0};
    VKA_TRY(re_all(&out->k0));
    out->k1 = out->k0;
    return VKA_OK;
}

static vka_status compile_look(const re_node *n, const cont *k, cont *out) {
    cont any, x;
    VKA_TRY(compile_any(&any));
    vka_status st = compile(n->kids[0], &any, &x);
    cont_free(&any);
    if (st != VKA_OK) return st;
    st = meet(k, x.k0, x.k1, n->negated, out);
    cont_free(&x);
    return st;
}

static vka_status compile_eol(const cont *k, cont *out) {
    re_lang *e = NULL;
    VKA_TRY(epsilon_lang(&e));
    vka_status st = meet(k, e, e, false, out);
    re_free(e);
    return st;
}

static vka_status compile_bol(const cont *k, cont *out) {
    *out = (cont){0};
    VKA_TRY(re_lang_copy(k->k0, &out->k0));
    vka_status st = empty_lang(&out->k1);
    if (st != VKA_OK) re_free(out->k0), *out = (cont){0};
    return st;
}

/* A run of parts without assertions: R1 = L·K1, and R0 = (L∖ε)·K1 ∪ K0
 * when L holds the empty string, (L∖ε)·K1 otherwise (R0 = R1 when K0 = K1). */
static vka_status compile_run(re_node *const *kids, size_t n_kids, const cont *k, cont *out) {
    *out = (cont){0};
    if (same(k)) {
        VKA_TRY(run_then(kids, n_kids, k->k1, &out->k1));
        out->k0 = out->k1;
        return VKA_OK;
    }
    re_lang *l = NULL, *ne = NULL, *head = NULL;
    VKA_TRY(run_lang(kids, n_kids, &l));
    bool nullable = re_contains(l, "", 0);
    vka_status st = re_lang_concat(l, k->k1, &out->k1);
    if (st == VKA_OK) st = re_lang_nonempty(l, &ne);
    if (st == VKA_OK) st = re_lang_concat(ne, k->k1, &head);
    if (st == VKA_OK && nullable) st = re_union(head, k->k0, &out->k0);
    else if (st == VKA_OK) out->k0 = head, head = NULL;
    re_free(l), re_free(ne), re_free(head);
    if (st != VKA_OK) {
        re_free(out->k1);
        re_free(out->k0);
        *out = (cont){0};
    }
    return st;
}

/* Pairwise union of two continuations (taken over). */
static vka_status cont_union(cont *a, cont *b, cont *out) {
    *out = (cont){0};
    vka_status st = re_union(a->k0, b->k0, &out->k0);
    if (st == VKA_OK && same(a) && same(b)) out->k1 = out->k0;
    else if (st == VKA_OK) st = re_union(a->k1, b->k1, &out->k1);
    cont_free(a), cont_free(b);
    if (st != VKA_OK) cont_free(out);
    return st;
}

static vka_status cont_copy(const cont *k, cont *out) {
    *out = (cont){0};
    VKA_TRY(re_lang_copy(k->k0, &out->k0));
    if (same(k)) {
        out->k1 = out->k0;
        return VKA_OK;
    }
    vka_status st = re_lang_copy(k->k1, &out->k1);
    if (st != VKA_OK) re_free(out->k0), *out = (cont){0};
    return st;
}

/* Parts from right to left; runs of plain parts share one automaton. */
static vka_status compile_cat(const re_node *n, const cont *k, cont *out) {
    cont cur;
    VKA_TRY(cont_copy(k, &cur));
    size_t i = n->n_kids;
    vka_status st = VKA_OK;
    while (st == VKA_OK && i > 0) {
        size_t j = i - 1;
        cont next;
        if (is_big_repeat(n->kids[j])) {
            st = compile_run(n->kids + j, 1, &cur, &next);
        } else if (is_plain(n->kids[j])) {
            while (j > 0 && is_plain(n->kids[j - 1]) && !is_big_repeat(n->kids[j - 1])) j--;
            st = compile_run(n->kids + j, i - j, &cur, &next);
        } else {
            st = compile(n->kids[j], &cur, &next);
        }
        cont_free(&cur);
        if (st == VKA_OK) cur = next;
        i = j;
    }
    if (st != VKA_OK) return st;
    *out = cur;
    return VKA_OK;
}

static vka_status compile_alt(const re_node *n, const cont *k, cont *out) {
    VKA_TRY(compile(n->kids[0], k, out));
    for (size_t i = 1; i < n->n_kids; i++) {
        cont next, acc = *out;
        vka_status st = compile(n->kids[i], k, &next);
        if (st != VKA_OK) {
            cont_free(out);
            return st;
        }
        VKA_TRY(cont_union(&acc, &next, out));
    }
    return VKA_OK;
}

/* x{m,n} with assertions inside, unrolled: x^m (x (x ...)?)?. */
static vka_status compile_repeat(const re_node *n, const cont *k, cont *out) {
    if (n->max == RE_UNBOUNDED || n->max > MAX_ASSERT_UNROLL)
        return vka_fail(VKA_ERR_GRAMMAR, "regular expression: an anchor or lookahead inside a repetition of more "
                        "than %u (at offset %zu) is not supported", MAX_ASSERT_UNROLL, n->offset);
    cont cur;
    VKA_TRY(cont_copy(k, &cur));
    vka_status st = VKA_OK;
    for (uint64_t i = 0; st == VKA_OK && i < n->max - n->min; i++) {
        cont step, keep;
        st = compile(n->kids[0], &cur, &step);
        if (st == VKA_OK) st = cont_copy(k, &keep);
        else break;
        cont_free(&cur);
        if (st == VKA_OK) st = cont_union(&step, &keep, &cur);
        else cont_free(&step);
    }
    for (uint64_t i = 0; st == VKA_OK && i < n->min; i++) {
        cont step;
        st = compile(n->kids[0], &cur, &step);
        cont_free(&cur);
        if (st == VKA_OK) cur = step;
    }
    if (st != VKA_OK) {
        cont_free(&cur);
        return st;
    }
    *out = cur;
    return VKA_OK;
}

static vka_status compile(const re_node *n, const cont *k, cont *out) {
    if (is_plain(n) || is_big_repeat(n)) return compile_run((re_node *const *)&n, 1, k, out);
    switch (n->kind) {
    case RN_CAT: return compile_cat(n, k, out);
    case RN_ALT: return compile_alt(n, k, out);
    case RN_REPEAT: return compile_repeat(n, k, out);
    case RN_BOL: return compile_bol(k, out);
    case RN_EOL: return compile_eol(k, out);
    case RN_LOOK: return compile_look(n, k, out);
    default: return vka_fail(VKA_ERR_INVALID_ARGUMENT, "regular expression: unexpected node");
    }
}

/* The whole pattern in one automaton: anything, the pattern, anything;
 * anchors and lookaheads anywhere (repetitions included) are edges. */
static vka_status compile_whole(const re_node *root, re_lang **out) {
    re_nfa nfa = {0};
    re_ranges all;
    if (!all_chars(&all)) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
    /* a leading ^ and a trailing $ of the top sequence (most patterns) mean
     * no "anything" before or after: smaller subsets to construct */
    re_node *const *kids = (re_node *const *)&root;
    size_t n_kids = 1;
    if (root->kind == RN_CAT) kids = root->kids, n_kids = root->n_kids;
    bool bol = n_kids > 0 && kids[0]->kind == RN_BOL;
    bool eol = n_kids > (bol ? 1u : 0u) && kids[n_kids - 1]->kind == RN_EOL;
    uint32_t first = re_nfa_state(&nfa), last = re_nfa_state(&nfa);
    re_frag f = thompson_seq(&nfa, kids + bol, n_kids - bol - eol);
    if (!bol) re_nfa_class_edge(&nfa, first, first, &all);
    re_nfa_eps(&nfa, first, f.in);
    re_nfa_eps(&nfa, f.out, last);
    if (!eol) re_nfa_class_edge(&nfa, last, last, &all);
    re_dfa *d = NULL;
    vka_status st = re_nfa_to_dfa(&nfa, first, last, &d);
    re_nfa_free(&nfa);
    re_rs_free(&all);
    if (st != VKA_OK) return st;
    return re_lang_from_dfa(d, out);
}

/* Σ*·X{m,n}·Y = Σ*·X^m·Y (the prefix absorbs the further copies), and
 * likewise X{m,n}·Σ* = X^m·Σ*: a repetition at an unanchored edge of the
 * pattern (or of a top-level alternative) keeps its minimum only. Large
 * counts there would otherwise make the subset construction quadratic. */
static void trim_edges(re_node *n, bool left, bool right) {
    if (n->kind == RN_ALT) {
        for (size_t i = 0; i < n->n_kids; i++) trim_edges(n->kids[i], left, right);
        return;
    }
    if (n->kind == RN_REPEAT) {
        if (left || right) n->max = n->min;
        return;
    }
    if (n->kind != RN_CAT || n->n_kids == 0) return;
    if (n->n_kids == 1) {
        trim_edges(n->kids[0], left, right);
        return;
    }
    if (left) trim_edges(n->kids[0], true, false);
    if (right) trim_edges(n->kids[n->n_kids - 1], false, true);
}

vka_status re_compile(re_node *root, re_lang **out) {
    *out = NULL;
    trim_edges(root, true, true);
    /* counted repetitions of a class stay counters through continuations */
    if (!has_big(root)) return compile_whole(root, out);
    cont any, r;
    VKA_TRY(compile_any(&any));
    vka_status st = compile(root, &any, &r);
    if (st != VKA_OK) {
        cont_free(&any);
        return st;
    }
    /* found at the start (R0) or after one character or more (Σ⁺·R1) */
    if (same(&r)) {
        st = re_lang_concat(any.k0, r.k1, out);
    } else if (re_is_empty(r.k1)) {
        st = re_lang_copy(r.k0, out);
    } else {
        re_lang *plus = NULL, *later = NULL;
        st = re_lang_nonempty(any.k0, &plus);
        if (st == VKA_OK) st = re_lang_concat(plus, r.k1, &later);
        if (st == VKA_OK) st = re_union(r.k0, later, out);
        re_free(plus), re_free(later);
    }
    cont_free(&any), cont_free(&r);
    return st;
}

vka_status re_pattern_lang(const char *pattern, re_case ci, re_lang **out) {
    *out = NULL;
    re_node *root = NULL;
    VKA_TRY(re_parse(pattern, strlen(pattern), (re_syntax){.ci = ci}, &root));
    vka_status st = re_compile(root, out);
    re_node_free(root);
    return st;
}

vka_status re_from_pattern(const char *pattern, re_lang **out) {
    if (!pattern || !out) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "re_from_pattern: NULL argument");
    return re_pattern_lang(pattern, RE_CASE_EXACT, out);
}
