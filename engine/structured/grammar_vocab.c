/* grammar_vocab.c — a vocabulary indexed for token masks: pieces in byte order
 * (ranks), their prefix trie, and for each trie node what the rest of its
 * tokens hold (characters, how many), so a fill can take a subtree whole. */
#include <stdlib.h>
#include <string.h>

#include "structured/grammar_impl.h"
#include "base/status.h"

static vka_status oom(void) { return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory in grammar masking"); }

/* ---------------------------------------------------------------- pieces in order */

typedef struct sort_item {
    const unsigned char *p;
    uint32_t len, id;
} sort_item;

static int cmp_piece(const void *a, const void *b) {
    const sort_item *x = a, *y = b;
    uint32_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->p, y->p, n);
    if (c) return c;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return x->id < y->id ? -1 : (x->id > y->id);
}

/* ---------------------------------------------------------------- trie */

/* Children of each node are contiguous; nodes are made breadth first, so a
 * node's children (and all its descendants) come after it. */
static vka_status build_trie(vka_grammar_vocab *v) {
    uint32_t cap = v->n_sorted + 1, n = 1;
    uint32_t *depth = NULL, cap_depth = 0;
    v->nodes = malloc((size_t)cap * sizeof *v->nodes);
    if (!v->nodes || !g_grow((void **)&depth, &cap_depth, cap, sizeof *depth)) {
        free(depth);
        return oom();
    }
    v->nodes[0] = (g_trie_node){0, 0, 0, v->n_sorted, 0, 0};
    depth[0] = 0;
    for (uint32_t q = 0; q < n; q++) {
        g_trie_node nd = v->nodes[q];
        uint32_t d = depth[q], r = nd.rank_begin, len;
        while (r < nd.rank_end) {
            g_piece(v, v->sorted[r], &len);
            if (len != d) break;
            r++;
        }
        v->nodes[q].rank_here_end = r;
        v->nodes[q].first_child = n;
        uint32_t kids = 0;
        while (r < nd.rank_end) {
            const unsigned char *p = g_piece(v, v->sorted[r], &len);
            unsigned char b = p[d];
            uint32_t e = r + 1;
            while (e < nd.rank_end && g_piece(v, v->sorted[e], &len)[d] == b) e++;
            if (!g_grow((void **)&v->nodes, &cap, n + 1, sizeof *v->nodes) ||
                !g_grow((void **)&depth, &cap_depth, n + 1, sizeof *depth)) {
                free(depth);
                return oom();
            }
            v->nodes[n] = (g_trie_node){0, r, r, e, 0, b};
            depth[n] = d + 1;
            n++;
            kids++;
            r = e;
        }
        v->nodes[q].n_children = (uint16_t)kids;
    }
    v->n_nodes = n;
    free(depth);
    return VKA_OK;
}

/* ---------------------------------------------------------------- suffixes */

/* While building: per node, the characters after its prefix and how many;
 * inside a character, the groups that character may still become. */
typedef struct suffix_info {
    g_charset set;
    uint32_t chars;
    uint32_t pending;
} suffix_info;

const uint32_t g_group_starts[G_GROUPS + 1] = {
    0x80, 0x85, 0x86, 0xA0, 0xA1, 0x1680, 0x1681, 0x2000, 0x200B, 0x2028, 0x202A,
    0x202F, 0x2030, 0x205F, 0x2060, 0x3000, 0x3001, 0xE000, 0xFEFF, 0xFF00, 0x110000,
};

uint32_t g_group_first(uint32_t g) { return g_group_starts[g]; }

uint32_t g_group_of(uint32_t cp) {
    uint32_t lo = 0, hi = G_GROUPS - 1;      /* the last group starting at or below cp */
    while (lo < hi) {
        uint32_t mid = (lo + hi + 1) / 2;
        if (g_group_starts[mid] <= cp) lo = mid;
        else hi = mid - 1;
    }
    return lo;
}

uint32_t g_groups_of_range(uint32_t lo, uint32_t hi) {
    if (lo < 0x80) lo = 0x80;
    if (hi > G_MAX_CP) hi = G_MAX_CP;
    if (lo >= 0xD800 && lo <= 0xDFFF) lo = 0xE000;
    if (hi >= 0xD800 && hi <= 0xDFFF) hi = 0xD7FF;
    if (lo > hi) return 0;
    uint32_t a = g_group_of(lo), b = g_group_of(hi);
    return (b == 31 ? UINT32_MAX : (2u << b) - 1) & ~((1u << a) - 1);
}

/* The code points an incomplete character of these bits may become. */
static void partial_range(uint32_t cp, uint32_t left, uint32_t total, uint32_t *lo, uint32_t *hi) {
    static const uint32_t least[5] = {0, 0, 0x80, 0x800, 0x10000};
    *lo = cp << (6 * left);
    *hi = *lo | ((1u << (6 * left)) - 1);
    if (*lo < least[total]) *lo = least[total];
}

/* Bytes in a UTF-8 sequence led by b (0: b cannot lead one). */
static uint32_t utf8_length(unsigned char b) {
    if (b < 0x80) return 1;
    if (b >= 0xC2 && b <= 0xDF) return 2;
    if (b >= 0xE0 && b <= 0xEF) return 3;
    if (b >= 0xF0 && b <= 0xF4) return 4;
    return 0;
}

/* Whether b may follow `lead` as the second byte (no overlong forms, no
 * surrogates, nothing above U+10FFFF: what the matcher accepts). */
static bool second_byte_ok(unsigned char lead, unsigned char b) {
    unsigned char lo = 0x80, hi = 0xBF;
    if (lead == 0xE0) lo = 0xA0;
    else if (lead == 0xED) hi = 0x9F;
    else if (lead == 0xF0) lo = 0x90;
    else if (lead == 0xF4) hi = 0x8F;
    return b >= lo && b <= hi;
}

static void suffix_merge(suffix_info *into, const suffix_info *from, uint32_t chars_before) {
    for (int w = 0; w < 4; w++) into->set.ascii[w] |= from->set.ascii[w];
    into->set.groups |= from->set.groups;
    uint32_t chars = chars_before + from->chars;
    if (chars > into->chars) into->chars = chars;
    into->set.flags &= from->set.flags;
}

/* Over the tokens below node q, what follows q's prefix: from q on when the
 * prefix ends on a character boundary (left 0), else after the rest of the
 * character it ends in (`left` continuation bytes; its bits so far `cp`, its
 * length `total`). Children are done first. */
static suffix_info node_suffix(const vka_grammar_vocab *v, const suffix_info *info, uint32_t q, uint32_t left,
                               uint32_t cp, uint32_t total) {
    const g_trie_node *nd = &v->nodes[q];
    suffix_info s = {.set.flags = G_CHARS_VALID};
    if (left && nd->rank_here_end > nd->rank_begin) {
        /* tokens that end inside the character: any it may become */
        uint32_t lo, hi;
        partial_range(cp, left, total, &lo, &hi);
        s.pending |= g_groups_of_range(lo, hi);
    }
    for (uint32_t k = 0; k < nd->n_children; k++) {
        uint32_t c = nd->first_child + k;
        unsigned char b = v->nodes[c].byte;
        if (left) {
            /* a continuation byte, and after a lead byte one that it allows */
            bool lead = (nd->byte & 0xC0) == 0xC0;
            if ((b & 0xC0) != 0x80 || (lead && !second_byte_ok(nd->byte, b))) {
                s.set.flags = 0;
                continue;
            }
            s.pending |= left == 1 ? 1u << g_group_of((cp << 6) | (b & 0x3Fu)) : info[c].pending;
            suffix_merge(&s, &info[c], 0);
            continue;
        }
        uint32_t len = utf8_length(b);
        if (len == 0) {
            s.set.flags = 0;
            continue;
        }
        if (len == 1) s.set.ascii[b >> 5] |= 1u << (b & 31);
        else s.set.groups |= info[c].pending;
        suffix_merge(&s, &info[c], 1);      /* the character c starts counts one */
    }
    return s;
}

static uint64_t charset_hash(const g_charset *c) {
    uint64_t h = c->flags ^ ((uint64_t)c->groups << 8);
    for (int w = 0; w < 4; w++) h = (h ^ c->ascii[w]) * 0x100000001B3ull + (h >> 31);
    return h;
}

/* node_charset, node_chars, node_char_left and the distinct charsets; rank_chars. */
static vka_status compute_suffixes(vka_grammar_vocab *v) {
    suffix_info *info = malloc((size_t)v->n_nodes * sizeof *info);
    v->node_char_left = malloc(v->n_nodes);
    if (!v->node_char_left) {
        free(info);
        return oom();
    }
    /* parents first: where each prefix ends within its last character, and
     * that character's bits so far and length */
    uint32_t *pend_cp = malloc((size_t)v->n_nodes * sizeof *pend_cp);
    uint8_t *pend_total = malloc(v->n_nodes);
    if (!pend_cp || !pend_total) {
        free(info);
        free(pend_cp);
        free(pend_total);
        return oom();
    }
    v->node_char_left[0] = 0;
    pend_cp[0] = pend_total[0] = 0;
    for (uint32_t q = 0; q < v->n_nodes; q++)
        for (uint32_t k = 0; k < v->nodes[q].n_children; k++) {
            uint32_t c = v->nodes[q].first_child + k, left = v->node_char_left[q];
            unsigned char b = v->nodes[c].byte;
            uint32_t len = utf8_length(b);
            if (left && (b & 0xC0) == 0x80) {
                v->node_char_left[c] = (uint8_t)(left - 1);
                pend_cp[c] = (pend_cp[q] << 6) | (b & 0x3Fu);
                pend_total[c] = pend_total[q];
            } else {
                v->node_char_left[c] = (uint8_t)(!left && len > 1 ? len - 1 : 0);
                pend_cp[c] = len > 1 ? b & (0x7Fu >> len) : 0;
                pend_total[c] = (uint8_t)len;
            }
        }
    uint32_t table_bits = 12, *table = NULL, cap_sets = 0;
    while ((1u << table_bits) < v->n_nodes * 2) table_bits++;
    table = malloc(((size_t)1 << table_bits) * sizeof *table);
    v->node_charset = malloc((size_t)v->n_nodes * sizeof *v->node_charset);
    v->node_chars = malloc(v->n_nodes);
    v->rank_chars = malloc(v->n_sorted ? v->n_sorted : 1);
    vka_status s = info && table && v->node_charset && v->node_chars && v->rank_chars ? VKA_OK : oom();
    if (s == VKA_OK) memset(table, 0xFF, ((size_t)1 << table_bits) * sizeof *table);
    uint32_t mask = (1u << table_bits) - 1;
    for (uint32_t q = v->n_nodes; s == VKA_OK && q-- > 0;) {
        info[q] = node_suffix(v, info, q, v->node_char_left[q], pend_cp[q], pend_total[q]);
        v->node_chars[q] = (uint8_t)(info[q].chars > 255 ? 255 : info[q].chars);
        /* the same sets recur all over the trie: each is kept once */
        uint32_t i = (uint32_t)charset_hash(&info[q].set) & mask;
        while (table[i] != G_NONE && memcmp(&v->charsets[table[i]], &info[q].set, sizeof info[q].set) != 0) i = (i + 1) & mask;
        if (table[i] == G_NONE) {
            if (!g_grow((void **)&v->charsets, &cap_sets, v->n_charsets + 1, sizeof *v->charsets)) s = oom();
            else v->charsets[table[i] = v->n_charsets++] = info[q].set;
        }
        v->node_charset[q] = table[i];
    }
    for (uint32_t r = 0; s == VKA_OK && r < v->n_sorted; r++) {
        uint32_t len, n = 0;
        const unsigned char *p = g_piece(v, v->sorted[r], &len);
        for (uint32_t k = 0; k < len; k++) n += (p[k] & 0xC0) != 0x80;
        v->rank_chars[r] = (uint8_t)(n > 255 ? 255 : n);
    }
    free(info);
    free(table);
    free(pend_cp);
    free(pend_total);
    return s;
}

/* ---------------------------------------------------------------- public */

static vka_status check_build_args(const char *const *pieces, const uint32_t *lens, uint32_t n_tokens,
                                   const int32_t *eog_ids, size_t n_eog, vka_grammar_vocab **out, uint64_t *total) {
    if (!out || (n_tokens && (!pieces || !lens)) || (n_eog && !eog_ids))
        return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_grammar_vocab_build: NULL argument");
    *out = NULL;
    *total = 0;
    for (uint32_t i = 0; i < n_tokens; i++) {
        if (lens[i] && !pieces[i]) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_grammar_vocab_build: piece %u is NULL", i);
        *total += lens[i];
    }
    if (*total >= UINT32_MAX) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_grammar_vocab_build: pieces too long in total");
    for (size_t i = 0; i < n_eog; i++)
        if (eog_ids[i] < 0 || (uint32_t)eog_ids[i] >= n_tokens)
            return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_grammar_vocab_build: end-of-generation id %d is out of range (vocabulary of %u)",
                            eog_ids[i], n_tokens);
    return VKA_OK;
}

/* Copies the pieces and ranks them (EOG and empty pieces get no rank). */
static vka_status rank_pieces(vka_grammar_vocab *v, const char *const *pieces, const uint32_t *lens) {
    uint32_t n_tokens = v->n_tokens;
    sort_item *items = malloc((n_tokens ? n_tokens : 1) * sizeof *items);
    if (!items) return oom();
    uint32_t at = 0;
    for (uint32_t i = 0; i < n_tokens; i++) {
        v->offset[i] = at;
        if (lens[i]) memcpy(v->bytes + at, pieces[i], lens[i]);
        at += lens[i];
        if (lens[i] > v->max_len) v->max_len = lens[i];
        v->rank_of[i] = G_NONE;
        if (lens[i] && !v->eog[i]) items[v->n_sorted++] = (sort_item){(const unsigned char *)v->bytes + v->offset[i], lens[i], i};
        else v->unranked[v->n_unranked++] = i;
    }
    v->offset[n_tokens] = at;
    qsort(items, v->n_sorted, sizeof *items, cmp_piece);
    for (uint32_t r = 0; r < v->n_sorted; r++) {
        v->sorted[r] = items[r].id;
        v->rank_of[items[r].id] = r;
    }
    free(items);
    return VKA_OK;
}

vka_status vka_grammar_vocab_build(const char *const *pieces, const uint32_t *lens, uint32_t n_tokens,
                                   const int32_t *eog_ids, size_t n_eog, vka_grammar_vocab **out) {
    static uint64_t next_serial = 1;
    uint64_t total = 0;
    VKA_TRY(check_build_args(pieces, lens, n_tokens, eog_ids, n_eog, out, &total));
    vka_grammar_vocab *v = calloc(1, sizeof *v);
    if (!v) return oom();
    size_t n = n_tokens ? n_tokens : 1;
    v->n_tokens = n_tokens;
    v->serial = __atomic_fetch_add(&next_serial, 1, __ATOMIC_RELAXED);
    v->bytes = malloc(total ? total : 1);
    v->offset = malloc((n + 1) * sizeof *v->offset);
    v->rank_of = malloc(n * sizeof *v->rank_of);
    v->eog = calloc(n, 1);
    v->sorted = malloc(n * sizeof *v->sorted);
    v->unranked = malloc(n * sizeof *v->unranked);
    vka_status s = v->bytes && v->offset && v->rank_of && v->eog && v->sorted && v->unranked ? VKA_OK : oom();
    for (size_t i = 0; s == VKA_OK && i < n_eog; i++) v->eog[eog_ids[i]] = 1;
    if (s == VKA_OK) s = rank_pieces(v, pieces, lens);
    if (s == VKA_OK) s = build_trie(v);
    if (s == VKA_OK) s = compute_suffixes(v);
    if (s != VKA_OK) {
        vka_grammar_vocab_free(v);
        return s;
    }
    *out = v;
    return VKA_OK;
}

void vka_grammar_vocab_free(vka_grammar_vocab *v) {
    if (!v) return;
    free(v->bytes);
    free(v->offset);
    free(v->sorted);
    free(v->rank_of);
    free(v->unranked);
    free(v->eog);
    free(v->nodes);
    free(v->node_charset);
    free(v->node_chars);
    free(v->node_char_left);
    free(v->charsets);
    free(v->rank_chars);
    free(v);
}

uint32_t vka_grammar_vocab_n_tokens(const vka_grammar_vocab *v) { return v ? v->n_tokens : 0; }
