/* sampler_unique.c — uniqueItems at sampling time: a JSON scanner over the
 * accepted output (json_unique_scan.c) tries the tokens the grammar allows,
 * only where one could complete an element of an annotated array. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "structured/grammar.h"
#include "structured/grammar_impl.h"
#include "structured/json_unique.h"
#include "sampling/sampler_unique.h"
#include "base/status.h"
#include "text/vocab.h"
#include "structured/vocab_grammar.h"

#define TOKEN_EOG 0x80u     /* beside the JU_TOKEN_* flags: end of generation, no bytes */

/* How far the look-ahead past a token goes: bytes deep, and bytes tried in all. */
#define LOOKAHEAD_DEPTH 48
#define LOOKAHEAD_BUDGET 4096
/* Earlier elements a pending string may still become, listed at most (beyond: every token is tried). */
#define RESTS_MAX 256

/* Bytes that go on with a string, by where its text ends (the others are fixed). */
typedef struct su_probes {
    unsigned char plain[1 + 93 + 51];  /* a quote, printable ASCII but '"', '\\' and DEL, UTF-8 lead bytes */
    unsigned char high[1 + 1 + 93 + 51]; /* a backslash (a low surrogate may follow), then those */
    unsigned char continuation[64];
} su_probes;

struct su_guard {
    const struct vka_vocab *vocab;
    ju_set *set;
    ju_scan *scan;
    uint32_t n_vocab;
    uint8_t *flags;          /* per token: JU_TOKEN_* and TOKEN_EOG */
    int32_t *special;        /* the tokens with a quote or a backslash: inside a string, */
    uint32_t n_special;      /* the only ones that end it or spell an escape */
    int32_t *opening;        /* the tokens with a '[': outside annotated arrays, */
    uint32_t n_opening;      /* the only ones that could open one and repeat in it */
    const vka_grammar_vocab *gvocab;   /* pieces in byte order; owned by the vocabulary */
    ju_buf rests;            /* mask_in_string's continuations */
    size_t rest_len[RESTS_MAX];
    uint32_t n_rests;
    su_probes probes;
};

static void fill_string_probes(su_probes *p);

void su_guard_free(su_guard *g) {
    if (!g) return;
    ju_scan_free(g->scan);
    ju_set_free(g->set);
    free(g->flags);
    free(g->special);
    free(g->opening);
    ju_buf_free(&g->rests);
    free(g);
}

static vka_status classify_tokens(su_guard *g) {
    g->flags = malloc(g->n_vocab ? g->n_vocab : 1);
    g->special = malloc((g->n_vocab ? g->n_vocab : 1) * sizeof *g->special);
    g->opening = malloc((g->n_vocab ? g->n_vocab : 1) * sizeof *g->opening);
    if (!g->flags || !g->special || !g->opening) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
    fill_string_probes(&g->probes);
    for (uint32_t id = 0; id < g->n_vocab; id++) {
        uint32_t len;
        const unsigned char *piece = g_piece(g->gvocab, id, &len);
        unsigned f = g->gvocab->eog[id] ? TOKEN_EOG : ju_token_flags((const char *)piece, len);
        g->flags[id] = (uint8_t)f;
        if (f & (JU_TOKEN_QUOTE | JU_TOKEN_BACKSLASH)) g->special[g->n_special++] = (int32_t)id;
        if (f & JU_TOKEN_BRACKET) g->opening[g->n_opening++] = (int32_t)id;
    }
    return VKA_OK;
}

vka_status su_guard_create(const struct vka_vocab *vocab, const char *gbnf, su_guard **out) {
    *out = NULL;
    ju_set *set = NULL;
    VKA_TRY(ju_set_parse(gbnf, &set));
    if (!set) return VKA_OK;
    su_guard *g = calloc(1, sizeof *g);
    if (!g) {
        ju_set_free(set);
        return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
    }
    g->set = set;
    g->vocab = vocab;
    g->n_vocab = vka_vocab_size(vocab);
    vka_status st = vka_vocab_grammar_vocab(vocab, &g->gvocab);
    if (st == VKA_OK && vka_grammar_vocab_n_tokens(g->gvocab) != g->n_vocab)
        st = vka_fail(VKA_ERR_INTERNAL, "uniqueItems: the grammar vocabulary does not match the vocabulary");
    if (st == VKA_OK) st = ju_scan_create(set, &g->scan);
    if (st == VKA_OK) st = classify_tokens(g);
    if (st != VKA_OK) {
        su_guard_free(g);
        return st;
    }
    *out = g;
    return VKA_OK;
}

void su_guard_reset(su_guard *g) { ju_scan_reset(g->scan); }

/* ---------------------------------------------------------------- dead ends */

/* The bytes tried after a pending element, those that end it first. Strings
 * are followed through raw characters (an escape is finished, not begun:
 * where a character could be spelled either way, the raw spelling decides). */
static const unsigned char number_probes[] = ",] }\n\r\t1234567890.eE+-"; /* a 0 changes no fraction */
static const unsigned char escape_probes[] = "\"\\/bfnrtu";
static const unsigned char hex_probes[] = "0123456789abcdefABCDEF";

static void fill_string_probes(su_probes *p) {
    unsigned k = 0;
    p->plain[k++] = '"';
    for (unsigned b = 0x20; b < 0x80; b++)
        if (b != '"' && b != '\\' && b != 0x7F) p->plain[k++] = (unsigned char)b;
    for (unsigned b = 0xC2; b <= 0xF4; b++) p->plain[k++] = (unsigned char)b;
    p->high[0] = '\\'; /* a low surrogate escape may follow */
    memcpy(p->high + 1, p->plain, sizeof p->plain);
    for (unsigned b = 0; b < 64; b++) p->continuation[b] = (unsigned char)(0x80 + b);
}

static size_t probes_for(const su_guard *g, ju_pending kind, const unsigned char **probes) {
#define USE(a, n) return *probes = (a), (n)
    if (kind == JU_PENDING_NUMBER) USE(number_probes, sizeof number_probes - 1);
    switch (ju_scan_string_tail(g->scan)) {
    case JU_TAIL_ESCAPE: USE(escape_probes, sizeof escape_probes - 1);
    case JU_TAIL_HEX: USE(hex_probes, sizeof hex_probes - 1);
    case JU_TAIL_HIGH: USE(g->probes.high, sizeof g->probes.high);
    case JU_TAIL_MIDCHAR: USE(g->probes.continuation, sizeof g->probes.continuation);
    case JU_TAIL_PLAIN: break;
    }
    USE(g->probes.plain, sizeof g->probes.plain);
#undef USE
}

/* Whether the element in progress can still end without repeating (*alive),
 * from grammar state gs, a byte at a time (the scanner is where gs is). A
 * search cut short by its depth or budget counts as alive: only an element
 * surely cornered is refused. */
static vka_status can_finish(su_guard *g, const vka_grammar_state *gs, unsigned depth, int *budget, bool *alive) {
    ju_pending kind = ju_scan_pending(g->scan);
    *alive = true;
    if (kind == JU_PENDING_NONE || depth >= LOOKAHEAD_DEPTH) return VKA_OK;
    const unsigned char *probes;
    size_t n = probes_for(g, kind, &probes);
    for (size_t i = 0; i < n; i++) {
        if (--*budget < 0) return VKA_OK;
        vka_grammar_state *next = NULL;
        bool accepted = false, repeats = false, sub = false;
        VKA_TRY(vka_grammar_state_clone(gs, &next));
        vka_status st = vka_grammar_accept_bytes(next, &probes[i], 1, &accepted);
        if (st == VKA_ERR_GRAMMAR) { /* a matcher limit: the search is cut short */
            vka_grammar_state_free(next);
            return VKA_OK;
        }
        if (st == VKA_OK && accepted) st = ju_scan_push(g->scan, (const char *)&probes[i], 1, &repeats);
        else accepted = false;
        if (st == VKA_OK && accepted && !repeats) {
            bool may = false;
            /* ended, or no longer the start of an earlier element: it can end anew */
            if (ju_scan_pending(g->scan) == JU_PENDING_NONE) sub = true;
            else if ((st = ju_scan_may_repeat(g->scan, &may)) == VKA_OK) sub = !may;
            if (st == VKA_OK && !sub) st = can_finish(g, next, depth + 1, budget, &sub);
        }
        if (accepted) ju_scan_pop(g->scan);
        vka_grammar_state_free(next);
        if (st != VKA_OK || sub) return st;
    }
    *alive = false;
    return VKA_OK;
}

/* With the scanner pushed past token id: whether the element it leaves in
 * progress can only end as a repeat. */
static vka_status dead_end(su_guard *g, const vka_grammar_state *gs, const char *piece, size_t len, bool *dead) {
    *dead = false;
    bool may = false;
    if (ju_scan_pending(g->scan) == JU_PENDING_NONE) return VKA_OK;
    VKA_TRY(ju_scan_may_repeat(g->scan, &may));
    if (!may) return VKA_OK;
    vka_grammar_state *after = NULL;
    bool accepted = false, alive = true;
    VKA_TRY(vka_grammar_state_clone(gs, &after));
    vka_status st = vka_grammar_accept_bytes(after, piece, len, &accepted);
    int budget = LOOKAHEAD_BUDGET;
    if (st == VKA_ERR_GRAMMAR) st = VKA_OK; /* a matcher limit: then the token is not refused */
    else if (st == VKA_OK && accepted) st = can_finish(g, after, 0, &budget, &alive);
    vka_grammar_state_free(after);
    *dead = !alive;
    return st;
}

/* Whether token id would complete a repeated element, or (with gs, the
 * grammar's state) lead into an element that can only end as one. */
static vka_status refused(su_guard *g, const vka_grammar_state *gs, int32_t id, bool *out) {
    *out = false;
    if (id < 0 || (uint32_t)id >= g->n_vocab || (g->flags[id] & TOKEN_EOG)) return VKA_OK;
    /* a string that begins no earlier element stays so until its closing quote */
    if (!(g->flags[id] & JU_TOKEN_QUOTE) && ju_scan_pending_free(g->scan)) return VKA_OK;
    bool pending = gs && ju_scan_pending(g->scan) != JU_PENDING_NONE;
    if (!ju_scan_must_try(g->scan, g->flags[id]) && !pending) return VKA_OK;
    uint32_t len;
    const char *piece = (const char *)g_piece(g->gvocab, (uint32_t)id, &len);
    VKA_TRY(ju_scan_push(g->scan, piece, len, out));
    vka_status st = VKA_OK;
    if (!*out && gs) st = dead_end(g, gs, piece, len, out);
    ju_scan_pop(g->scan);
    return st;
}

bool su_guard_allows(su_guard *g, const vka_grammar_state *gs, int32_t id) {
    bool r;
    return refused(g, gs, id, &r) == VKA_OK && !r;
}

/* ---------------------------------------------------------------- masks */

static vka_status ban_if_refused(su_guard *g, const vka_grammar_state *gs, int32_t id, float *logits) {
    if (logits[id] == -INFINITY) return VKA_OK;
    bool r;
    VKA_TRY(refused(g, gs, id, &r));
    if (r) logits[id] = -INFINITY;
    return VKA_OK;
}

/* -1, 0, 1 as token piece `rank` sorts before, equal to, after bytes[0, n)
 * (the grammar vocabulary's order: bytes, then shorter first). */
static int piece_cmp(const vka_grammar_vocab *v, uint32_t rank, const unsigned char *bytes, size_t n) {
    uint32_t len;
    const unsigned char *p = g_piece(v, v->sorted[rank], &len);
    int c = memcmp(p, bytes, len < n ? len : n);
    if (c) return c;
    return len < n ? -1 : len > n;
}

/* Refuses, where refused, the tokens whose bytes begin `rest`: for each of
 * its prefixes, the pieces equal to it, by binary search over the grammar
 * vocabulary's pieces in byte order. */
static vka_status ban_prefix_tokens(su_guard *g, const vka_grammar_state *gs, const unsigned char *rest, size_t n,
                                    float *logits) {
    const vka_grammar_vocab *v = g->gvocab;
    for (size_t k = 1; k <= n && k <= v->max_len; k++) {
        uint32_t lo = 0, hi = v->n_sorted;
        while (lo < hi) {
            uint32_t mid = lo + (hi - lo) / 2;
            if (piece_cmp(v, mid, rest, k) < 0) lo = mid + 1;
            else hi = mid;
        }
        uint32_t len = 0;
        const unsigned char *p = lo < v->n_sorted ? g_piece(v, v->sorted[lo], &len) : NULL;
        if (!p || len < k || memcmp(p, rest, k) != 0)
            break; /* no piece begins with rest[0, k): none with a longer prefix either */
        for (uint32_t r = lo; r < v->n_sorted && piece_cmp(v, r, rest, k) == 0; r++)
            VKA_TRY(ban_if_refused(g, gs, (int32_t)v->sorted[r], logits));
    }
    return VKA_OK;
}

static void collect_rest(void *ctx, const unsigned char *rest, size_t len) {
    su_guard *g = ctx;
    if (g->n_rests == RESTS_MAX) return;
    if (!ju_buf_reserve(&g->rests, len)) {
        g->n_rests = RESTS_MAX; /* then every token is tried */
        return;
    }
    g->rest_len[g->n_rests++] = len;
    memcpy(g->rests.data + g->rests.len, rest, len);
    g->rests.len += len;
}

/* Inside a pending string element, a token that neither ends it nor spells
 * an escape only matters if its bytes begin the rest of an earlier element:
 * those are looked up by their spelling, each prefix of each rest. */
static vka_status mask_in_string(su_guard *g, const vka_grammar_state *gs, float *logits, bool *done) {
    bool listed = false;
    g->rests.len = 0;
    g->n_rests = 0;
    *done = false;
    VKA_TRY(ju_scan_continuations(g->scan, collect_rest, g, &listed));
    if (!listed || g->n_rests == RESTS_MAX) return VKA_OK; /* not settled: the caller tries every token */
    size_t off = 0;
    for (uint32_t r = 0; r < g->n_rests; r++) {
        VKA_TRY(ban_prefix_tokens(g, gs, g->rests.data + off, g->rest_len[r], logits));
        off += g->rest_len[r];
    }
    for (uint32_t k = 0; k < g->n_special; k++) VKA_TRY(ban_if_refused(g, gs, g->special[k], logits));
    *done = true;
    return VKA_OK;
}

/* Every allowed token tried. The grammar's mask leaves few allowed outside
 * strings: blocks of logits all -INFINITY are passed over in one test. */
static vka_status ban_all_refused(su_guard *g, const vka_grammar_state *gs, float *logits, uint32_t n_vocab) {
    enum { BLOCK = 16 };
    uint32_t id = 0;
    for (; id + BLOCK <= n_vocab; id += BLOCK) {
        int any = 0;
        for (int j = 0; j < BLOCK; j++) any |= logits[id + j] != -INFINITY;
        if (!any) continue;
        for (int j = 0; j < BLOCK; j++) VKA_TRY(ban_if_refused(g, gs, (int32_t)id + j, logits));
    }
    for (; id < n_vocab; id++) VKA_TRY(ban_if_refused(g, gs, (int32_t)id, logits));
    return VKA_OK;
}

vka_status su_guard_mask(su_guard *g, const vka_grammar_state *gs, float *logits, uint32_t n_vocab) {
    if (n_vocab != g->n_vocab)
        return vka_fail(VKA_ERR_INTERNAL, "uniqueItems: vocabulary of %u tokens, logits %u", g->n_vocab, n_vocab);
    if (!ju_scan_must_try(g->scan, JU_TOKEN_QUOTE | JU_TOKEN_BRACKET)) return VKA_OK; /* not JSON: nothing is checked */
    if (!ju_scan_in_annotated(g->scan)) {
        for (uint32_t k = 0; k < g->n_opening; k++) VKA_TRY(ban_if_refused(g, gs, g->opening[k], logits));
        return VKA_OK;
    }
    if (ju_scan_in_string(g->scan)) {
        bool done = true;
        if (ju_scan_pending(g->scan) == JU_PENDING_STRING && !ju_scan_pending_free(g->scan))
            VKA_TRY(mask_in_string(g, gs, logits, &done));
        else for (uint32_t k = 0; k < g->n_special; k++) VKA_TRY(ban_if_refused(g, gs, g->special[k], logits));
        if (done) return VKA_OK;
    }
    return ban_all_refused(g, gs, logits, n_vocab);
}

vka_status su_guard_check(su_guard *g, int32_t id) {
    bool r;
    VKA_TRY(refused(g, NULL, id, &r));
    if (r)
        return vka_fail(VKA_ERR_GRAMMAR, "token %d would repeat an element of an array whose items must be unique",
                        (int)id);
    return VKA_OK;
}

vka_status su_guard_accept(su_guard *g, int32_t id) {
    if (id < 0 || (uint32_t)id >= g->n_vocab || (g->flags[id] & TOKEN_EOG)) return VKA_OK;
    const char *piece;
    size_t len = vka_vocab_piece(g->vocab, id, false, &piece);
    bool r;
    return ju_scan_commit(g->scan, piece, len, &r);
}

vka_status su_guard_document_ok(const su_guard *g, const char *text, size_t len, bool *ok) {
    return ju_check_document(g->set, text, len, ok);
}
