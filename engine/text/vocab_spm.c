/* vocab_spm.c — SentencePiece BPE ("llama" vocabularies): characters are
 * merged pairwise, best-scoring pair first, through a priority queue so that
 * long inputs take O(n log n); what stays unknown falls back to byte tokens. */
#include <stdlib.h>
#include <string.h>

#include "base/status.h"
#include "text/vocab_internal.h"

/* A run of the escaped text; merged-away symbols have len 0. */
typedef struct symbol {
    size_t start, len;
    ptrdiff_t prev, next;   /* neighbouring live symbols, -1 at the ends */
} symbol;

/* A candidate merge of symbol `left` with its right neighbour, valid only if
 * their lengths still add up to `len` when it is popped. */
typedef struct bigram {
    float score;
    size_t left;
    size_t len;
} bigram;

typedef struct spm_state {
    const vka_vocab *v;
    const char *text;       /* escaped: spaces as U+2581 */
    symbol *sym;
    size_t n_sym;
    bigram *heap;
    size_t n_heap, cap_heap;
} spm_state;

static vka_status no_memory(void) {
    return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory while tokenizing");
}

/* ---- the priority queue: highest score first, leftmost on ties ---- */

static bool before(const bigram *a, const bigram *b) {
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static void swap_bigrams(bigram *a, bigram *b) {
    bigram t = *a;
    *a = *b;
    *b = t;
}

static vka_status heap_push(spm_state *st, bigram b) {
    if (st->n_heap == st->cap_heap) {
        size_t cap = st->cap_heap ? st->cap_heap * 2 : 64;
        bigram *h = realloc(st->heap, cap * sizeof *h);
        if (!h) return no_memory();
        st->heap = h;
        st->cap_heap = cap;
    }
    size_t i = st->n_heap++;
    st->heap[i] = b;
    while (i > 0 && before(&st->heap[i], &st->heap[(i - 1) / 2])) {
        swap_bigrams(&st->heap[i], &st->heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    return VKA_OK;
}

static bigram heap_pop(spm_state *st) {
    bigram top = st->heap[0];
    st->heap[0] = st->heap[--st->n_heap];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, best = i;
        if (l < st->n_heap && before(&st->heap[l], &st->heap[best])) best = l;
        if (r < st->n_heap && before(&st->heap[r], &st->heap[best])) best = r;
        if (best == i) break;
        swap_bigrams(&st->heap[i], &st->heap[best]);
        i = best;
    }
    return top;
}

/* ---- merging ---- */

/* Queues the merge of left with right when their concatenation is a token. */
static vka_status try_bigram(spm_state *st, ptrdiff_t left, ptrdiff_t right) {
    if (left < 0 || right < 0) return VKA_OK;
    const symbol *l = &st->sym[left], *r = &st->sym[right];
    int32_t id = vka_vocab_find_plain(st->v, st->text + l->start, l->len + r->len);
    if (id < 0) return VKA_OK;
    return heap_push(st, (bigram){.score = st->v->scores[id], .left = (size_t)left, .len = l->len + r->len});
}

/* Symbols start as single characters; an invalid byte is a symbol of its own. */
static vka_status split_chars(spm_state *st, size_t len) {
    st->sym = malloc((len ? len : 1) * sizeof *st->sym);
    if (!st->sym) return no_memory();
    for (size_t at = 0; at < len;) {
        size_t n = vka_utf8_seq_len((const unsigned char *)st->text + at, len - at);
        if (n == 0) n = 1;
        size_t i = st->n_sym++;
        st->sym[i] = (symbol){.start = at, .len = n, .prev = (ptrdiff_t)i - 1, .next = (ptrdiff_t)i + 1};
        at += n;
    }
    if (st->n_sym) st->sym[st->n_sym - 1].next = -1;
    return VKA_OK;
}

static vka_status merge_all(spm_state *st) {
    for (size_t i = 1; i < st->n_sym; i++) VKA_TRY(try_bigram(st, (ptrdiff_t)i - 1, (ptrdiff_t)i));
    while (st->n_heap > 0) {
        bigram b = heap_pop(st);
        symbol *l = &st->sym[b.left];
        if (l->len == 0 || l->next < 0) continue;
        symbol *r = &st->sym[l->next];
        if (r->len == 0 || l->len + r->len != b.len) continue; /* one side changed since it was queued */
        l->len += r->len;
        r->len = 0;
        l->next = r->next;
        if (l->next >= 0) st->sym[l->next].prev = (ptrdiff_t)b.left;
        VKA_TRY(try_bigram(st, l->prev, (ptrdiff_t)b.left));
        VKA_TRY(try_bigram(st, (ptrdiff_t)b.left, l->next));
    }
    return VKA_OK;
}

/* A symbol that is no token is spelled with byte tokens; when the
 * vocabulary lacks one of them, the whole character becomes UNK. */
static vka_status emit_symbol(const spm_state *st, const symbol *s, vka_ids *out) {
    const vka_vocab *v = st->v;
    const unsigned char *bytes = (const unsigned char *)st->text + s->start;
    int32_t id = vka_vocab_find_plain(v, (const char *)bytes, s->len);
    if (id >= 0) return vka_ids_push(out, id);
    bool all_bytes = true;
    for (size_t k = 0; k < s->len; k++) all_bytes = all_bytes && v->byte_token[bytes[k]] >= 0;
    if (all_bytes) {
        for (size_t k = 0; k < s->len; k++) VKA_TRY(vka_ids_push(out, v->byte_token[bytes[k]]));
        return VKA_OK;
    }
    if (v->unk < 0)
        return vka_fail(VKA_ERR_UNSUPPORTED, "the vocabulary cannot represent the text byte 0x%02X: it has "
                        "neither byte tokens for it nor an unknown token", bytes[0]);
    return vka_ids_push(out, v->unk);
}

/* ' ' -> U+2581, optionally with a U+2581 in front. */
static char *escape_spaces(const char *text, size_t len, bool space_prefix, size_t *out_len) {
    if (len > (SIZE_MAX - 4) / 3) return NULL;
    char *buf = malloc(3 * len + 4);
    if (!buf) return NULL;
    static const char marker[3] = {(char)0xE2, (char)0x96, (char)0x81};
    size_t n = 0;
    if (space_prefix) {
        memcpy(buf, marker, 3);
        n = 3;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(buf + n, marker, 3);
            n += 3;
        } else {
            buf[n++] = text[i];
        }
    }
    *out_len = n;
    return buf;
}

static vka_status run(spm_state *st, size_t len, vka_ids *out) {
    VKA_TRY(split_chars(st, len));
    VKA_TRY(merge_all(st));
    for (ptrdiff_t i = st->n_sym ? 0 : -1; i >= 0; i = st->sym[i].next) VKA_TRY(emit_symbol(st, &st->sym[i], out));
    return VKA_OK;
}

vka_status vka_spm_tokenize(const vka_vocab *v, const char *text, size_t len, bool space_prefix, vka_ids *out) {
    size_t n = 0;
    char *escaped = escape_spaces(text, len, space_prefix, &n);
    if (!escaped) return no_memory();
    spm_state st = {.v = v, .text = escaped};
    vka_status s = run(&st, n, out);
    free(st.heap);
    free(st.sym);
    free(escaped);
    return s;
}
