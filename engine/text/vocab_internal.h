/* vocab_internal.h — the vocabulary's tables, shared by vocab.c and the
 * kind-specific tokenizers (vocab_spm.c; vocab_bpe.c for byte-level BPE). */
#ifndef VKA_VOCAB_INTERNAL_H
#define VKA_VOCAB_INTERNAL_H

#include <pthread.h>

#include "text/vocab.h"

/* A growing list of token ids (the tokenizer's output). */
typedef struct vka_ids {
    int32_t *data;
    size_t n, cap;
} vka_ids;

vka_status vka_ids_push(vka_ids *ids, int32_t id);

/* Per-token attribute byte: the token type in the low bits, flags above. */
enum {
    VKA_ATTR_TYPE_MASK = 0x07,
    VKA_ATTR_EOG = 0x08,
};

/* A byte trie over the texts of the tokens matched verbatim in the input
 * before the kind tokenizer runs (CONTROL, UNKNOWN, USER_DEFINED). */
typedef struct vka_special_node {
    int32_t token;          /* token ending here, or -1 */
    uint32_t first_child;   /* node index, 0 = none */
    uint32_t next_sibling;  /* node index, 0 = none */
    unsigned char byte;
} vka_special_node;

/* One "left right" merge of a byte-level BPE vocabulary, keyed by the two
 * token ids; empty slots have key UINT64_MAX. */
typedef struct vka_merge_slot {
    uint64_t key;           /* (uint64_t)left << 32 | right */
    uint32_t rank;          /* position in tokenizer.ggml.merges: lower merges first */
    int32_t merged;         /* id of the concatenation, or -1 if it is not a token */
} vka_merge_slot;

struct vka_vocab {
    vka_vocab_kind kind;
    char model_name[8];         /* "llama" or "gpt2" */
    char *pre;                  /* tokenizer.ggml.pre, "" when absent (selects the BPE pre-tokenizer) */
    uint32_t n_vocab;

    /* Token texts as stored, each NUL-terminated, in one arena:
     * text i is text_arena + text_off[i], length text_off[i+1] - text_off[i] - 1. */
    char *text_arena;
    uint32_t *text_off;         /* n_vocab + 1 */
    uint32_t max_text_len;

    /* Bytes each token stands for (see vka_vocab_piece), one arena:
     * piece i is piece_arena[piece_off[i] .. piece_off[i+1]). */
    char *piece_arena;
    uint32_t *piece_off;        /* n_vocab + 1 */

    float *scores;              /* n_vocab, all 0 when the file has none (BPE) */
    uint8_t *attr;              /* n_vocab: token type | VKA_ATTR_* flags */

    /* Open-addressing hash of text -> id; slots hold ids, -1 when empty. */
    int32_t *lookup;
    uint32_t lookup_mask;

    int32_t bos, eos, unk, eot, eom, pad;
    bool add_bos, add_eos, add_space_prefix;

    int32_t byte_token[256];    /* id of the byte token <0xNN>, or -1 */

    vka_special_node *special_nodes;   /* [0] unused, so that 0 means "none" */
    uint32_t n_special_nodes;
    uint32_t special_root[256];        /* first-byte index into special_nodes */

    vka_merge_slot *merges;     /* NULL for SentencePiece vocabularies */
    uint32_t merge_mask;
    uint32_t n_merges;          /* merges stored (entries of tokenizer.ggml.merges whose parts are tokens) */

    /* The grammar engine's prefix trie of all pieces, built on first use by
     * constrained sampling and shared by every sampler on this vocabulary. */
    pthread_mutex_t grammar_lock;
    struct vka_grammar_vocab *grammar_vocab;
    /* Recently used grammars with their mask caches (vocab_grammar.c). */
    struct vka_grammar_cache_entry *grammar_cache;
    /* Frees the two above; set by structured/vocab_grammar.c when it attaches
     * them, so that this layer need not know the grammar engine. */
    void (*grammar_release)(struct vka_vocab *v);

    /* Byte-level BPE settings (vocab_bpe.c, from tokenizer.ggml.pre and tokenizer.ggml.normalizer). */
    uint8_t bpe_pre;            /* vka_bpe_pre */
    bool bpe_pre_fallback;      /* tokenizer.ggml.pre was absent or unknown: GPT-2's pattern stands in */
    bool bpe_nfc;               /* NFC-normalize raw text before pre-tokenizing */
    bool bpe_ignore_merges;     /* a pre-token that is itself a token is emitted whole (Llama-3) */
    int32_t bpe_byte_id[256];   /* token of each byte's GPT-2 character, -1 when the vocabulary lacks it */
};

/* Length of token id's stored text (ids must be valid). */
static inline uint32_t vka_vocab_text_len(const vka_vocab *v, int32_t id) {
    return v->text_off[id + 1] - v->text_off[id] - 1;
}

static inline vka_token_type vka_vocab_type_of(const vka_vocab *v, int32_t id) {
    return (vka_token_type)(v->attr[id] & VKA_ATTR_TYPE_MASK);
}

/* The id of `text` if it is a token the kind tokenizer may produce from raw
 * text (NORMAL or UNDEFINED), else -1. Control, byte, unused and
 * user-defined tokens are never produced by merging. */
int32_t vka_vocab_find_plain(const vka_vocab *v, const char *text, size_t len);

/* The longest special token whose text starts `text`: USER_DEFINED tokens
 * always, CONTROL and UNKNOWN ones only when parse_special. Returns its id
 * and sets *match_len, or returns -1. */
int32_t vka_vocab_match_special(const vka_vocab *v, const char *text, size_t len, bool parse_special,
                                size_t *match_len);

/* The byte-level BPE merge of tokens (left, right): true and its rank and
 * merged id when tokenizer.ggml.merges has it. */
bool vka_vocab_merge(const vka_vocab *v, int32_t left, int32_t right, uint32_t *rank, int32_t *merged);

/* The same for the merge written "left right" in tokenizer.ggml.merges. */
bool vka_vocab_merge_text(const vka_vocab *v, const char *left, size_t left_len, const char *right,
                          size_t right_len, uint32_t *rank, int32_t *merged);

/* GPT-2's byte <-> code point mapping: bytes that are printable Latin-1
 * stand for themselves, the other 68 for U+0100.. in byte order. */
uint32_t vka_gpt2_byte_to_cp(unsigned char byte);
int vka_gpt2_cp_to_byte(uint32_t cp);   /* -1 when cp stands for no byte */

/* SentencePiece BPE over one fragment of raw text (no special tokens in it):
 * ' ' becomes U+2581, a U+2581 is prepended when space_prefix, pieces are
 * merged by score, leftover characters fall back to byte tokens (or one UNK
 * each when the vocabulary lacks byte tokens). */
vka_status vka_spm_tokenize(const vka_vocab *v, const char *text, size_t len, bool space_prefix,
                            vka_ids *out);

/* ---- byte-level BPE (vocab_bpe.c, bpe_pretok.c) ---- */

/* The pre-tokenizers: the regular expression each one implements is written
 * in bpe_pretok.c; docs/tokenizers.md lists the tokenizer.ggml.pre names
 * that select them. */
typedef enum vka_bpe_pre {
    VKA_BPE_PRE_GPT2 = 0,       /* GPT-2's pattern (also the fallback) */
    VKA_BPE_PRE_LLAMA3,         /* Llama-3 (tiktoken cl100k-style, numbers in groups of 1-3 digits) */
    VKA_BPE_PRE_QWEN2,          /* Qwen2/2.5/3: Llama-3's pattern with single digits */
    VKA_BPE_PRE_SMOLLM,         /* SmolLM: every digit alone, GPT-2's pattern between digits */
    VKA_BPE_PRE_GPT4O,          /* GPT-4o (o200k): cased word pieces with contractions, 1-3 digits */
    VKA_BPE_PRE_TEKKEN,         /* Mistral Tekken: GPT-4o's cased pieces without contractions, single digits */
    VKA_BPE_PRE_COUNT
} vka_bpe_pre;

/* Name of a pre-tokenizer ("gpt2", "llama3", "qwen2", "smollm", "gpt4o", "tekken"). */
const char *vka_bpe_pre_name(vka_bpe_pre pre);

/* Scratch space of the pre-tokenizer (the text as code points), reused
 * across calls; zero-initialize, release with vka_pretok_free. */
typedef struct vka_pretok {
    uint32_t *cp;               /* code point, or 0x80000000 | byte for a byte that is not valid UTF-8 */
    uint32_t *off;              /* byte offset of each code point, n + 1 entries */
    uint8_t *cls;               /* VKA_UC_LETTER / NUMBER / SPACE flags */
    size_t cap;
} vka_pretok;

void vka_pretok_free(vka_pretok *ws);

/* Receives one pre-token: `len` bytes at `piece` (a slice of the text). */
typedef vka_status (*vka_pretoken_fn)(void *user, const char *piece, size_t len);

/* Splits text into pre-tokens as `pre`'s pattern does, calling emit for
 * each in order; together they cover the text exactly. Bytes that are not
 * valid UTF-8 count as punctuation (neither letter, number nor space). */
vka_status vka_pretokenize(vka_pretok *ws, vka_bpe_pre pre, const char *text, size_t len, vka_pretoken_fn emit,
                           void *user);

/* Reads the BPE settings of a "gpt2" vocabulary whose tokens, types and
 * lookup hash are loaded: the pre-tokenizer, NFC, ignore_merges, the byte
 * tokens. */
vka_status vka_bpe_prepare(vka_vocab *v, const vka_gguf *g);

/* Whether llama.cpp's default for add_bos is true for this
 * tokenizer.ggml.pre (the Llama-3 family); the file's add_bos_token wins. */
bool vka_bpe_pre_adds_bos(const char *pre);

/* Byte-level BPE over one fragment of raw text (no special tokens in it):
 * NFC when the vocabulary asks for it, pre-tokenization, then each
 * pre-token's bytes as GPT-2 characters merged by rank. */
vka_status vka_bpe_tokenize(const vka_vocab *v, const char *text, size_t len, vka_ids *out);

#endif
