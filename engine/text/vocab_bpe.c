/* vocab_bpe.c — byte-level BPE ("gpt2" vocabularies): the settings chosen by
 * tokenizer.ggml.pre, and tokenization: NFC where the tokenizer asks for
 * it, pre-tokens (bpe_pretok.c), then each pre-token's bytes as GPT-2
 * characters merged lowest rank first, leftmost on ties. */
#include <stdlib.h>
#include <string.h>

#include "base/status.h"
#include "text/unicode.h"
#include "text/vocab_internal.h"

#define KEY_NORMALIZER "tokenizer.ggml.normalizer"

/* tokenizer.ggml.pre names, grouped as llama.cpp groups them (the names of
 * one line share one split pattern). NFC: Hugging Face's Qwen2 tokenizer
 * (Qwen1.5, Qwen2, Qwen2.5, Qwen3) has an NFC normalizer; GGUF keeps no
 * trace of it, so the name stands for it. */
typedef struct pre_entry {
    const char *name;
    vka_bpe_pre pre;
    bool ignore_merges;     /* Llama-3, Tekken: a pre-token that is a token is not merged */
    bool add_bos;           /* llama.cpp's add_bos default */
    bool nfc;
} pre_entry;

static const pre_entry PRE_NAMES[] = {
    {"llama-bpe", VKA_BPE_PRE_LLAMA3, true, true, false},
    {"llama3", VKA_BPE_PRE_LLAMA3, true, true, false},
    {"llama-v3", VKA_BPE_PRE_LLAMA3, true, true, false},
    {"falcon3", VKA_BPE_PRE_LLAMA3, true, true, false},
    {"falcon-h1", VKA_BPE_PRE_LLAMA3, true, true, false},
    {"pixtral", VKA_BPE_PRE_LLAMA3, true, true, false},
    {"midm-2.0", VKA_BPE_PRE_LLAMA3, true, true, false},
    {"lfm2", VKA_BPE_PRE_LLAMA3, true, true, false},
    {"jina-v5-nano", VKA_BPE_PRE_LLAMA3, true, true, false},
    {"dbrx", VKA_BPE_PRE_LLAMA3, false, false, false},
    {"smaug-bpe", VKA_BPE_PRE_LLAMA3, false, false, false},
    {"qwen2", VKA_BPE_PRE_QWEN2, false, false, true},
    {"deepseek-r1-qwen", VKA_BPE_PRE_QWEN2, false, false, false},
    {"megrez", VKA_BPE_PRE_QWEN2, false, false, false},
    {"stablelm2", VKA_BPE_PRE_QWEN2, false, false, false},
    {"kormo", VKA_BPE_PRE_QWEN2, false, false, false},
    {"f2llmv2", VKA_BPE_PRE_QWEN2, false, false, false},
    {"hunyuan", VKA_BPE_PRE_QWEN2, false, false, false},
    {"solar-open", VKA_BPE_PRE_QWEN2, false, false, false},
    {"gpt-2", VKA_BPE_PRE_GPT2, false, false, false},
    {"phi-2", VKA_BPE_PRE_GPT2, false, false, false},
    {"mpt", VKA_BPE_PRE_GPT2, false, false, false},
    {"olmo", VKA_BPE_PRE_GPT2, false, false, false},
    {"gigachat", VKA_BPE_PRE_GPT2, false, false, false},
    {"a.x-4.0", VKA_BPE_PRE_GPT2, false, false, false},
    {"mellum", VKA_BPE_PRE_GPT2, false, false, false},
    {"exaone4", VKA_BPE_PRE_GPT2, false, false, false},
    {"jais", VKA_BPE_PRE_GPT2, false, false, false},
    {"trillion", VKA_BPE_PRE_GPT2, false, false, false},
    {"granite-docling", VKA_BPE_PRE_GPT2, false, false, false},
    {"smollm", VKA_BPE_PRE_SMOLLM, false, false, false},
    {"starcoder", VKA_BPE_PRE_SMOLLM, false, false, false},
    {"refact", VKA_BPE_PRE_SMOLLM, false, false, false},
    {"command-r", VKA_BPE_PRE_SMOLLM, false, false, false},
    {"codeshell", VKA_BPE_PRE_SMOLLM, false, false, false},
    {"exaone", VKA_BPE_PRE_SMOLLM, false, false, false},
    {"minerva-7b", VKA_BPE_PRE_SMOLLM, false, false, false},
    {"mellum2", VKA_BPE_PRE_SMOLLM, false, false, false},
    {"gpt-4o", VKA_BPE_PRE_GPT4O, false, false, false},
    {"llama4", VKA_BPE_PRE_GPT4O, false, false, false},
    {"kanana2", VKA_BPE_PRE_GPT4O, false, false, false},
    {"talkie", VKA_BPE_PRE_GPT4O, false, false, false},
    {"minimax-m2", VKA_BPE_PRE_GPT4O, false, false, false},
    {"tekken", VKA_BPE_PRE_TEKKEN, true, true, false},
};

static const pre_entry *find_pre(const char *name) {
    for (size_t i = 0; name && i < sizeof PRE_NAMES / sizeof *PRE_NAMES; i++)
        if (strcmp(PRE_NAMES[i].name, name) == 0) return &PRE_NAMES[i];
    return NULL;
}

bool vka_bpe_pre_adds_bos(const char *pre) {
    const pre_entry *e = find_pre(pre);
    return e && e->add_bos;
}

static vka_status read_normalizer(vka_vocab *v, const vka_gguf *g) {
    const vka_gguf_kv *kv = vka_gguf_find(g, KEY_NORMALIZER);
    if (!kv) return VKA_OK;
    const char *value = vka_gguf_get_str(g, KEY_NORMALIZER);
    if (!value)
        return vka_fail(VKA_ERR_FORMAT, KEY_NORMALIZER " must be a string (\"nfc\" or \"none\"), but it is a %s",
                        vka_gguf_vtype_name(kv->value.type));
    if (strcmp(value, "nfc") == 0 || strcmp(value, "NFC") == 0) v->bpe_nfc = true;
    else if (strcmp(value, "none") == 0 || value[0] == '\0') v->bpe_nfc = false;
    else
        return vka_fail(VKA_ERR_UNSUPPORTED, KEY_NORMALIZER " = \"%.40s\" is not supported; supported are \"nfc\" "
                        "and \"none\"", value);
    return VKA_OK;
}

vka_status vka_bpe_prepare(vka_vocab *v, const vka_gguf *g) {
    const pre_entry *e = find_pre(v->pre);
    v->bpe_pre = (uint8_t)(e ? e->pre : VKA_BPE_PRE_GPT2);
    v->bpe_pre_fallback = e == NULL;
    v->bpe_ignore_merges = e && e->ignore_merges;
    v->bpe_nfc = e && e->nfc;
    VKA_TRY(read_normalizer(v, g));
    for (int b = 0; b < 256; b++) {
        char ch[4];
        size_t n = vka_utf8_encode(vka_gpt2_byte_to_cp((unsigned char)b), ch);
        v->bpe_byte_id[b] = vka_vocab_find(v, ch, n);
    }
    return VKA_OK;
}

/* ---- merging one pre-token ---- */

typedef struct bpe_sym {
    int32_t id;             /* -1 once merged into its left neighbour */
    int32_t prev, next;     /* neighbours, -1 at the ends */
} bpe_sym;

/* A merge that was possible when queued; stale once either side changed. */
typedef struct bpe_cand {
    uint32_t rank;
    int32_t left, right;
    int32_t left_id, right_id, merged;
} bpe_cand;

typedef struct bpe_ctx {
    const vka_vocab *v;
    vka_ids *out;
    bpe_sym *sym;
    size_t sym_cap;
    bpe_cand *heap;
    size_t heap_n;          /* room for 2 * sym_cap */
    char *mapped;           /* a pre-token as GPT-2 characters (ignore_merges), 2 * max_text_len bytes */
} bpe_ctx;

static bool cand_before(const bpe_cand *a, const bpe_cand *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

static void heap_push(bpe_ctx *c, bpe_cand cand) {
    size_t i = c->heap_n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!cand_before(&cand, &c->heap[parent])) break;
        c->heap[i] = c->heap[parent];
        i = parent;
    }
    c->heap[i] = cand;
}

static bpe_cand heap_pop(bpe_ctx *c) {
    bpe_cand top = c->heap[0], last = c->heap[--c->heap_n];
    size_t i = 0, n = c->heap_n;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= n) break;
        if (child + 1 < n && cand_before(&c->heap[child + 1], &c->heap[child])) child++;
        if (!cand_before(&c->heap[child], &last)) break;
        c->heap[i] = c->heap[child];
        i = child;
    }
    if (n) c->heap[i] = last;
    return top;
}

/* Queues the merge of symbols a and b (adjacent) if the vocabulary has it. */
static void queue_pair(bpe_ctx *c, int32_t a, int32_t b) {
    if (a < 0 || b < 0) return;
    uint32_t rank;
    int32_t merged;
    int32_t la = c->sym[a].id, rb = c->sym[b].id;
    if (!vka_vocab_merge(c->v, la, rb, &rank, &merged) || merged < 0) return;
    heap_push(c, (bpe_cand){.rank = rank, .left = a, .right = b, .left_id = la, .right_id = rb, .merged = merged});
}

static vka_status grow(bpe_ctx *c, size_t n) {
    if (n <= c->sym_cap) return VKA_OK;
    size_t cap = n > 2 * c->sym_cap ? n : 2 * c->sym_cap;
    bpe_sym *sym = realloc(c->sym, cap * sizeof *sym);
    if (!sym) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory while tokenizing a word of %zu bytes", n);
    c->sym = sym;
    /* n - 1 pairs to start with; each merge takes one and adds at most two */
    bpe_cand *heap = realloc(c->heap, 2 * cap * sizeof *heap);
    if (!heap) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory while tokenizing a word of %zu bytes", n);
    c->heap = heap;
    c->sym_cap = cap;
    return VKA_OK;
}

static vka_status byte_symbol(const vka_vocab *v, unsigned char b, int32_t *id) {
    *id = v->bpe_byte_id[b] >= 0 ? v->bpe_byte_id[b] : v->unk;
    if (*id < 0)
        return vka_fail(VKA_ERR_FORMAT, "the vocabulary has no token for byte 0x%02X (GPT-2 character U+%04X) and "
                        "no unknown token; byte-level BPE needs all 256", b, (unsigned)vka_gpt2_byte_to_cp(b));
    return VKA_OK;
}

/* Llama-3's ignore_merges: the pre-token's GPT-2 text, if it is a token. */
static int32_t whole_token(bpe_ctx *c, const unsigned char *p, size_t n) {
    if (n > c->v->max_text_len) return -1;
    size_t len = 0;
    for (size_t k = 0; k < n; k++) len += vka_utf8_encode(vka_gpt2_byte_to_cp(p[k]), c->mapped + len);
    return vka_vocab_find_plain(c->v, c->mapped, len);
}

static vka_status merge_pretoken(void *user, const char *piece, size_t n) {
    bpe_ctx *c = user;
    const unsigned char *p = (const unsigned char *)piece;
    int32_t id;
    if (n == 1) {
        VKA_TRY(byte_symbol(c->v, p[0], &id));
        return vka_ids_push(c->out, id);
    }
    if (c->v->bpe_ignore_merges && (id = whole_token(c, p, n)) >= 0) return vka_ids_push(c->out, id);
    if (n > INT32_MAX) return vka_fail(VKA_ERR_UNSUPPORTED, "a word of %zu bytes is too long to tokenize", n);
    VKA_TRY(grow(c, n));
    for (size_t k = 0; k < n; k++) {
        VKA_TRY(byte_symbol(c->v, p[k], &c->sym[k].id));
        c->sym[k].prev = (int32_t)k - 1;
        c->sym[k].next = k + 1 < n ? (int32_t)k + 1 : -1;
    }
    c->heap_n = 0;
    for (size_t k = 0; k + 1 < n; k++) queue_pair(c, (int32_t)k, (int32_t)k + 1);
    while (c->heap_n) {
        bpe_cand m = heap_pop(c);
        bpe_sym *l = &c->sym[m.left], *r = &c->sym[m.right];
        if (l->id != m.left_id || r->id != m.right_id || l->next != m.right) continue;
        l->id = m.merged;
        l->next = r->next;
        if (r->next >= 0) c->sym[r->next].prev = m.left;
        r->id = -1;
        queue_pair(c, l->prev, m.left);
        queue_pair(c, m.left, l->next);
    }
    for (int32_t k = 0; k >= 0; k = c->sym[k].next) VKA_TRY(vka_ids_push(c->out, c->sym[k].id));
    return VKA_OK;
}

vka_status vka_bpe_tokenize(const vka_vocab *v, const char *text, size_t len, vka_ids *out) {
    char *normalized = NULL;
    if (v->bpe_nfc && !vka_nfc_quick_check(text, len)) {
        size_t n;
        VKA_TRY(vka_nfc(text, len, &normalized, &n));
        text = normalized;
        len = n;
    }
    bpe_ctx c = {.v = v, .out = out};
    vka_pretok ws = {0};
    vka_status s = VKA_OK;
    if (v->bpe_ignore_merges) {
        c.mapped = malloc(2 * (size_t)v->max_text_len + 1);
        if (!c.mapped) s = vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory while tokenizing");
    }
    if (s == VKA_OK) s = vka_pretokenize(&ws, (vka_bpe_pre)v->bpe_pre, text, len, merge_pretoken, &c);
    vka_pretok_free(&ws);
    free(c.sym);
    free(c.heap);
    free(c.mapped);
    free(normalized);
    return s;
}
