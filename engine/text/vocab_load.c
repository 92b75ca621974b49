/* vocab_load.c — reads tokenizer.* metadata from a parsed GGUF into the
 * vocabulary's tables: texts, scores, types, pieces, special ids, the
 * end-of-generation set, the special-token trie and the BPE merges. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/status.h"
#include "text/vocab_internal.h"

#define KEY_MODEL "tokenizer.ggml.model"
#define KEY_PRE "tokenizer.ggml.pre"
#define KEY_TOKENS "tokenizer.ggml.tokens"
#define KEY_SCORES "tokenizer.ggml.scores"
#define KEY_TYPES "tokenizer.ggml.token_type"
#define KEY_MERGES "tokenizer.ggml.merges"

static vka_status out_of_memory(const char *what) {
    return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory while loading the vocabulary (%s)", what);
}

/* ---- reading metadata ---- */

static bool is_integer_vtype(vka_gguf_vtype t) {
    return t <= VKA_GGUF_INT32 || t == VKA_GGUF_UINT64 || t == VKA_GGUF_INT64;
}

static bool is_signed_vtype(vka_gguf_vtype t) {
    return t == VKA_GGUF_INT8 || t == VKA_GGUF_INT16 || t == VKA_GGUF_INT32 || t == VKA_GGUF_INT64;
}

static int64_t array_int(const vka_gguf_array *a, uint64_t i) {
    switch (a->type) {
    case VKA_GGUF_UINT8: return ((const uint8_t *)a->data)[i];
    case VKA_GGUF_INT8: return ((const int8_t *)a->data)[i];
    case VKA_GGUF_UINT16: return ((const uint16_t *)a->data)[i];
    case VKA_GGUF_INT16: return ((const int16_t *)a->data)[i];
    case VKA_GGUF_UINT32: return ((const uint32_t *)a->data)[i];
    case VKA_GGUF_INT32: return ((const int32_t *)a->data)[i];
    case VKA_GGUF_UINT64: {
        uint64_t u = ((const uint64_t *)a->data)[i];
        return u > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)u;
    }
    case VKA_GGUF_INT64: return ((const int64_t *)a->data)[i];
    default: return 0;
    }
}

/* The array under key, whose elements must satisfy `ok`; NULL in *out when absent. */
static vka_status find_array(const vka_gguf *g, const char *key, bool (*ok)(vka_gguf_vtype),
                             const char *expected, const vka_gguf_array **out) {
    *out = NULL;
    const vka_gguf_kv *kv = vka_gguf_find(g, key);
    if (!kv) return VKA_OK;
    if (kv->value.type != VKA_GGUF_ARRAY)
        return vka_fail(VKA_ERR_FORMAT, "%s must be an array of %s, but it is a %s", key, expected,
                        vka_gguf_vtype_name(kv->value.type));
    if (!ok(kv->value.v.arr.type))
        return vka_fail(VKA_ERR_FORMAT, "%s must be an array of %s, but its elements are %s", key, expected,
                        vka_gguf_vtype_name(kv->value.v.arr.type));
    *out = &kv->value.v.arr;
    return VKA_OK;
}

static bool is_string_vtype(vka_gguf_vtype t) { return t == VKA_GGUF_STRING; }
static bool is_float_vtype(vka_gguf_vtype t) { return t == VKA_GGUF_FLOAT32 || t == VKA_GGUF_FLOAT64; }

static vka_status check_length(const vka_gguf_array *a, const char *key, uint32_t n_vocab) {
    if (a && a->n != n_vocab)
        return vka_fail(VKA_ERR_FORMAT, "%s has %" PRIu64 " entries but " KEY_TOKENS " has %" PRIu32
                        "; they must agree", key, a->n, n_vocab);
    return VKA_OK;
}

static vka_status read_bool(const vka_gguf *g, const char *key, bool fallback, bool *out) {
    const vka_gguf_kv *kv = vka_gguf_find(g, key);
    *out = fallback;
    if (!kv) return VKA_OK;
    if (!vka_gguf_get_bool(g, key, out))
        return vka_fail(VKA_ERR_FORMAT, "%s must be a bool, but it is a %s", key,
                        vka_gguf_vtype_name(kv->value.type));
    return VKA_OK;
}

/* A special token id: absent -> fallback (if it exists in the vocabulary,
 * else -1); a signed -1 means "none"; anything else must name a token. */
static vka_status read_special_id(const vka_gguf *g, const char *key, uint32_t n_vocab, int32_t fallback,
                                  int32_t *out) {
    const vka_gguf_kv *kv = vka_gguf_find(g, key);
    if (!kv) {
        *out = fallback >= 0 && (uint32_t)fallback < n_vocab ? fallback : -1;
        return VKA_OK;
    }
    int64_t id;
    if (!is_integer_vtype(kv->value.type))
        return vka_fail(VKA_ERR_FORMAT, "%s must be an integer token id, but it is a %s", key,
                        vka_gguf_vtype_name(kv->value.type));
    if (!vka_gguf_get_i64(g, key, &id))
        return vka_fail(VKA_ERR_FORMAT, "%s = %" PRIu64 " is out of range: the vocabulary has %" PRIu32 " tokens",
                        key, kv->value.v.u, n_vocab);
    if (id == -1 && is_signed_vtype(kv->value.type)) {
        *out = -1;
        return VKA_OK;
    }
    if (id < 0 || id >= (int64_t)n_vocab)
        return vka_fail(VKA_ERR_FORMAT, "%s = %" PRId64 " is out of range: the vocabulary has %" PRIu32
                        " tokens (ids 0..%" PRIu32 ")", key, id, n_vocab, n_vocab - 1);
    *out = (int32_t)id;
    return VKA_OK;
}

/* ---- the text -> id hash ---- */

static uint64_t hash_bytes(uint64_t h, const char *s, size_t len) {
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

#define HASH_SEED 0xcbf29ce484222325ull

static uint32_t pow2_at_least(uint64_t n) {
    uint32_t c = 16;
    while (c < n) c <<= 1;
    return c;
}

/* Finds the token whose text is a followed by b (b may be empty). */
static int32_t find_joined(const vka_vocab *v, const char *a, size_t alen, const char *b, size_t blen) {
    if (!v->lookup) return -1;
    uint64_t h = hash_bytes(hash_bytes(HASH_SEED, a, alen), b, blen);
    for (uint32_t slot = (uint32_t)h & v->lookup_mask;; slot = (slot + 1) & v->lookup_mask) {
        int32_t id = v->lookup[slot];
        if (id < 0) return -1;
        const char *t = v->text_arena + v->text_off[id];
        if (vka_vocab_text_len(v, id) == alen + blen && memcmp(t, a, alen) == 0 &&
            (blen == 0 || memcmp(t + alen, b, blen) == 0))
            return id;
    }
}

int32_t vka_vocab_find(const vka_vocab *vocab, const char *text, size_t len) {
    if (!vocab || (!text && len)) return -1;
    return find_joined(vocab, text ? text : "", len, "", 0);
}

int32_t vka_vocab_find_plain(const vka_vocab *v, const char *text, size_t len) {
    if (len > v->max_text_len) return -1;
    int32_t id = find_joined(v, text, len, "", 0);
    if (id < 0) return -1;
    vka_token_type t = vka_vocab_type_of(v, id);
    return t == VKA_TOKEN_NORMAL || t == VKA_TOKEN_UNDEFINED ? id : -1;
}

/* Duplicate texts keep the first id. */
static vka_status build_lookup(vka_vocab *v) {
    uint32_t cap = pow2_at_least((uint64_t)v->n_vocab * 2);
    v->lookup = malloc((size_t)cap * sizeof *v->lookup);
    if (!v->lookup) return out_of_memory("token hash");
    memset(v->lookup, 0xff, (size_t)cap * sizeof *v->lookup);
    v->lookup_mask = cap - 1;
    for (uint32_t id = 0; id < v->n_vocab; id++) {
        const char *t = v->text_arena + v->text_off[id];
        uint32_t len = vka_vocab_text_len(v, (int32_t)id);
        if (find_joined(v, t, len, "", 0) >= 0) continue;
        uint32_t slot = (uint32_t)hash_bytes(HASH_SEED, t, len) & v->lookup_mask;
        while (v->lookup[slot] >= 0) slot = (slot + 1) & v->lookup_mask;
        v->lookup[slot] = (int32_t)id;
    }
    return VKA_OK;
}

/* ---- texts, scores, types ---- */

static vka_status load_texts(vka_vocab *v, const vka_gguf_array *tokens) {
    const vka_gguf_str *s = tokens->data;
    uint64_t total = 0;
    for (uint32_t i = 0; i < v->n_vocab; i++) {
        total += s[i].len + 1;
        if (total > UINT32_MAX)
            return vka_fail(VKA_ERR_UNSUPPORTED, KEY_TOKENS " holds more than 4 GiB of text (at token %" PRIu32 ")", i);
    }
    v->text_arena = malloc(total);
    v->text_off = malloc(((size_t)v->n_vocab + 1) * sizeof *v->text_off);
    if (!v->text_arena || !v->text_off) return out_of_memory("token texts");
    uint32_t at = 0;
    for (uint32_t i = 0; i < v->n_vocab; i++) {
        v->text_off[i] = at;
        memcpy(v->text_arena + at, s[i].data, s[i].len);
        at += (uint32_t)s[i].len;
        v->text_arena[at++] = '\0';
        if (s[i].len > v->max_text_len) v->max_text_len = (uint32_t)s[i].len;
    }
    v->text_off[v->n_vocab] = at;
    return VKA_OK;
}

static vka_status load_scores(vka_vocab *v, const vka_gguf_array *scores) {
    v->scores = calloc(v->n_vocab, sizeof *v->scores);
    if (!v->scores) return out_of_memory("token scores");
    if (!scores) return VKA_OK;
    for (uint32_t i = 0; i < v->n_vocab; i++)
        v->scores[i] = scores->type == VKA_GGUF_FLOAT32 ? ((const float *)scores->data)[i]
                                                        : (float)((const double *)scores->data)[i];
    return VKA_OK;
}

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* The byte of a byte token's text "<0xNN>", or -1. */
static int byte_token_value(const char *t, uint32_t len) {
    if (len != 6 || memcmp(t, "<0x", 3) != 0 || t[5] != '>') return -1;
    int hi = hex_digit(t[3]), lo = hex_digit(t[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

static vka_status load_types(vka_vocab *v, const vka_gguf_array *types) {
    v->attr = malloc(v->n_vocab);
    if (!v->attr) return out_of_memory("token types");
    for (int i = 0; i < 256; i++) v->byte_token[i] = -1;
    for (uint32_t i = 0; i < v->n_vocab; i++) {
        int64_t t = types ? array_int(types, i) : VKA_TOKEN_NORMAL;
        if (t < VKA_TOKEN_UNDEFINED || t > VKA_TOKEN_BYTE)
            return vka_fail(VKA_ERR_FORMAT, KEY_TYPES "[%" PRIu32 "] = %" PRId64 " is not a token type (0..6)", i, t);
        v->attr[i] = (uint8_t)t;
        if (t != VKA_TOKEN_BYTE) continue;
        const char *text = v->text_arena + v->text_off[i];
        int b = byte_token_value(text, vka_vocab_text_len(v, (int32_t)i));
        if (b < 0)
            return vka_fail(VKA_ERR_FORMAT, KEY_TYPES "[%" PRIu32 "] marks \"%.40s\" as a byte token, but byte "
                            "tokens are written <0xNN>", i, text);
        if (v->byte_token[b] < 0) v->byte_token[b] = (int32_t)i;
    }
    return VKA_OK;
}

/* ---- pieces ---- */

/* SentencePiece: U+2581 (E2 96 81) stands for a space. */
static uint32_t spm_unescape(const char *t, uint32_t len, char *out) {
    uint32_t n = 0;
    for (uint32_t i = 0; i < len;) {
        if (i + 2 < len && (unsigned char)t[i] == 0xE2 && (unsigned char)t[i + 1] == 0x96 &&
            (unsigned char)t[i + 2] == 0x81) {
            out[n++] = ' ';
            i += 3;
        } else {
            out[n++] = t[i++];
        }
    }
    return n;
}

/* Byte-level BPE: each code point of the text stands for one byte; code
 * points outside the mapping (and invalid bytes) are kept as they are. */
static uint32_t bpe_unmap(const char *t, uint32_t len, char *out) {
    uint32_t n = 0;
    for (uint32_t i = 0; i < len;) {
        uint32_t cp;
        size_t k = vka_utf8_decode((const unsigned char *)t + i, len - i, &cp);
        int b = k ? vka_gpt2_cp_to_byte(cp) : -1;
        if (b >= 0) {
            out[n++] = (char)b;
            i += (uint32_t)k;
        } else {
            if (k == 0) k = 1;
            memcpy(out + n, t + i, k);
            n += (uint32_t)k;
            i += (uint32_t)k;
        }
    }
    return n;
}

/* A piece is never longer than the stored text, so the pieces fit in an
 * arena of the texts' size. Control and unknown tokens store their text
 * (shown only when `special` is asked for); unused tokens stand for nothing. */
static vka_status build_pieces(vka_vocab *v) {
    v->piece_arena = malloc(v->text_off[v->n_vocab] ? v->text_off[v->n_vocab] : 1);
    v->piece_off = malloc(((size_t)v->n_vocab + 1) * sizeof *v->piece_off);
    if (!v->piece_arena || !v->piece_off) return out_of_memory("token pieces");
    uint32_t at = 0;
    for (uint32_t i = 0; i < v->n_vocab; i++) {
        const char *t = v->text_arena + v->text_off[i];
        uint32_t len = vka_vocab_text_len(v, (int32_t)i);
        char *out = v->piece_arena + at;
        v->piece_off[i] = at;
        switch (vka_vocab_type_of(v, (int32_t)i)) {
        case VKA_TOKEN_NORMAL:
        case VKA_TOKEN_UNDEFINED:
            at += v->kind == VKA_VOCAB_SPM ? spm_unescape(t, len, out) : bpe_unmap(t, len, out);
            break;
        case VKA_TOKEN_BYTE:
            out[0] = (char)byte_token_value(t, len);
            at += 1;
            break;
        case VKA_TOKEN_CONTROL:
        case VKA_TOKEN_UNKNOWN:
        case VKA_TOKEN_USER_DEFINED:
            memcpy(out, t, len);
            at += len;
            break;
        case VKA_TOKEN_UNUSED:
            break;
        }
    }
    v->piece_off[v->n_vocab] = at;
    return VKA_OK;
}

/* ---- special ids and the end-of-generation set ---- */

/* Control-token texts that end a reply in the model families we know. */
static const char *const END_MARKERS[] = {
    "</s>", "<|endoftext|>", "<|end_of_text|>", "<|eot_id|>", "<|eom_id|>", "<|im_end|>", "<|end|>",
    "<end_of_turn>", "<|return|>", "<|call|>", "<EOT>", "_<EOT>", "<|EOT|>", "<end_of_utterance>",
    "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>",
};

/* Control-token texts that end a turn (not the whole text), for eot. */
static const char *const TURN_MARKERS[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|EOT|>", "<EOT>", "_<EOT>",
};

static int32_t find_control(const vka_vocab *v, const char *text) {
    int32_t id = vka_vocab_find(v, text, strlen(text));
    return id >= 0 && vka_vocab_type_of(v, id) == VKA_TOKEN_CONTROL ? id : -1;
}

static vka_status load_special_ids(vka_vocab *v, const vka_gguf *g) {
    bool spm = v->kind == VKA_VOCAB_SPM;
    /* SentencePiece vocabularies without these keys use llama.cpp's defaults. */
    VKA_TRY(read_special_id(g, "tokenizer.ggml.bos_token_id", v->n_vocab, spm ? 1 : -1, &v->bos));
    VKA_TRY(read_special_id(g, "tokenizer.ggml.eos_token_id", v->n_vocab, spm ? 2 : -1, &v->eos));
    VKA_TRY(read_special_id(g, "tokenizer.ggml.unknown_token_id", v->n_vocab, spm ? 0 : -1, &v->unk));
    VKA_TRY(read_special_id(g, "tokenizer.ggml.eot_token_id", v->n_vocab, -1, &v->eot));
    VKA_TRY(read_special_id(g, "tokenizer.ggml.eom_token_id", v->n_vocab, -1, &v->eom));
    VKA_TRY(read_special_id(g, "tokenizer.ggml.padding_token_id", v->n_vocab, -1, &v->pad));
    /* llama.cpp's defaults: SentencePiece and the Llama-3 BPE family add BOS */
    VKA_TRY(read_bool(g, "tokenizer.ggml.add_bos_token", spm || vka_bpe_pre_adds_bos(v->pre), &v->add_bos));
    VKA_TRY(read_bool(g, "tokenizer.ggml.add_eos_token", false, &v->add_eos));
    VKA_TRY(read_bool(g, "tokenizer.ggml.add_space_prefix", spm, &v->add_space_prefix));
    if (!spm) v->add_space_prefix = false;

    if (!vka_gguf_find(g, "tokenizer.ggml.eot_token_id"))
        for (size_t i = 0; v->eot < 0 && i < sizeof TURN_MARKERS / sizeof *TURN_MARKERS; i++)
            v->eot = find_control(v, TURN_MARKERS[i]);
    if (!vka_gguf_find(g, "tokenizer.ggml.eom_token_id")) v->eom = find_control(v, "<|eom_id|>");

    /* Only CONTROL tokens join by their text: Qwen3 has an ordinary "</s>". */
    for (size_t i = 0; i < sizeof END_MARKERS / sizeof *END_MARKERS; i++) {
        int32_t id = find_control(v, END_MARKERS[i]);
        if (id >= 0) v->attr[id] |= VKA_ATTR_EOG;
    }
    if (v->eos >= 0) v->attr[v->eos] |= VKA_ATTR_EOG;
    if (v->eot >= 0) v->attr[v->eot] |= VKA_ATTR_EOG;
    if (v->eom >= 0) v->attr[v->eom] |= VKA_ATTR_EOG;
    return VKA_OK;
}

/* ---- the special-token trie ---- */

static bool matched_verbatim(vka_token_type t) {
    return t == VKA_TOKEN_CONTROL || t == VKA_TOKEN_UNKNOWN || t == VKA_TOKEN_USER_DEFINED;
}

static uint32_t trie_child(const vka_vocab *v, uint32_t node, unsigned char byte) {
    uint32_t c = v->special_nodes[node].first_child;
    while (c && v->special_nodes[c].byte != byte) c = v->special_nodes[c].next_sibling;
    return c;
}

static uint32_t trie_new_node(vka_vocab *v, unsigned char byte) {
    uint32_t n = v->n_special_nodes++;
    v->special_nodes[n] = (vka_special_node){.token = -1, .byte = byte};
    return n;
}

static void trie_insert(vka_vocab *v, int32_t id) {
    const unsigned char *t = (const unsigned char *)v->text_arena + v->text_off[id];
    uint32_t len = vka_vocab_text_len(v, id);
    uint32_t node = v->special_root[t[0]];
    if (!node) node = v->special_root[t[0]] = trie_new_node(v, t[0]);
    for (uint32_t i = 1; i < len; i++) {
        uint32_t c = trie_child(v, node, t[i]);
        if (!c) {
            c = trie_new_node(v, t[i]);
            v->special_nodes[c].next_sibling = v->special_nodes[node].first_child;
            v->special_nodes[node].first_child = c;
        }
        node = c;
    }
    if (v->special_nodes[node].token < 0) v->special_nodes[node].token = id;
}

static vka_status build_special_trie(vka_vocab *v) {
    uint64_t n_nodes = 1;
    for (uint32_t i = 0; i < v->n_vocab; i++)
        if (matched_verbatim(vka_vocab_type_of(v, (int32_t)i))) n_nodes += vka_vocab_text_len(v, (int32_t)i);
    if (n_nodes > UINT32_MAX) return vka_fail(VKA_ERR_UNSUPPORTED, "special token texts are too long");
    v->special_nodes = malloc((size_t)n_nodes * sizeof *v->special_nodes);
    if (!v->special_nodes) return out_of_memory("special-token trie");
    v->n_special_nodes = 1;
    for (uint32_t i = 0; i < v->n_vocab; i++)
        if (matched_verbatim(vka_vocab_type_of(v, (int32_t)i)) && vka_vocab_text_len(v, (int32_t)i) > 0)
            trie_insert(v, (int32_t)i);
    return VKA_OK;
}

int32_t vka_vocab_match_special(const vka_vocab *v, const char *text, size_t len, bool parse_special,
                                size_t *match_len) {
    const unsigned char *s = (const unsigned char *)text;
    if (len == 0) return -1;
    int32_t best = -1;
    uint32_t node = v->special_root[s[0]];
    for (size_t i = 1; node; i++) {
        int32_t id = v->special_nodes[node].token;
        if (id >= 0 && (parse_special || vka_vocab_type_of(v, id) == VKA_TOKEN_USER_DEFINED)) {
            best = id;
            *match_len = i;
        }
        if (i >= len) break;
        node = trie_child(v, node, s[i]);
    }
    return best;
}

/* ---- byte-level BPE merges ---- */

uint32_t vka_gpt2_byte_to_cp(unsigned char b) {
    /* Printable Latin-1 stands for itself; the rest, in byte order, for
     * U+0100 + n: 0x00..0x20 (n 0..32), 0x7F..0xA0 (n 33..66), 0xAD (n 67). */
    if (b <= 0x20) return 0x100u + b;
    if (b >= 0x7F && b <= 0xA0) return 0x100u + 33 + (b - 0x7Fu);
    if (b == 0xAD) return 0x100u + 67;
    return b;
}

int vka_gpt2_cp_to_byte(uint32_t cp) {
    if (cp < 0x100) return (cp <= 0x20 || (cp >= 0x7F && cp <= 0xA0) || cp == 0xAD) ? -1 : (int)cp;
    uint32_t n = cp - 0x100;
    if (n <= 32) return (int)n;
    if (n <= 66) return (int)(0x7F + (n - 33));
    if (n == 67) return 0xAD;
    return -1;
}

static uint64_t merge_hash(uint64_t key) {
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdull;
    key ^= key >> 33;
    return key;
}

bool vka_vocab_merge(const vka_vocab *v, int32_t left, int32_t right, uint32_t *rank, int32_t *merged) {
    if (!v->merges || left < 0 || right < 0) return false;
    uint64_t key = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
    for (uint32_t s = (uint32_t)merge_hash(key) & v->merge_mask;; s = (s + 1) & v->merge_mask) {
        if (v->merges[s].key == UINT64_MAX) return false;
        if (v->merges[s].key == key) {
            if (rank) *rank = v->merges[s].rank;
            if (merged) *merged = v->merges[s].merged;
            return true;
        }
    }
}

bool vka_vocab_merge_text(const vka_vocab *v, const char *left, size_t left_len, const char *right,
                          size_t right_len, uint32_t *rank, int32_t *merged) {
    return vka_vocab_merge(v, find_joined(v, left, left_len, "", 0), find_joined(v, right, right_len, "", 0), rank,
                           merged);
}

/* Entries whose parts are not tokens can never apply and are skipped (as
 * llama.cpp's lenient loader does); a repeated pair keeps its first rank. */
static vka_status load_merges(vka_vocab *v, const vka_gguf_array *merges) {
    uint32_t cap = pow2_at_least(merges->n + merges->n / 3 + 1);
    if (merges->n > UINT32_MAX / 2) return vka_fail(VKA_ERR_UNSUPPORTED, KEY_MERGES " has too many entries");
    v->merges = malloc((size_t)cap * sizeof *v->merges);
    if (!v->merges) return out_of_memory("merges");
    for (uint32_t i = 0; i < cap; i++) v->merges[i].key = UINT64_MAX;
    v->merge_mask = cap - 1;
    const vka_gguf_str *m = merges->data;
    for (uint64_t i = 0; i < merges->n; i++) {
        const char *sp = m[i].len > 1 ? memchr(m[i].data + 1, ' ', m[i].len - 1) : NULL;
        if (!sp || (uint64_t)(sp - m[i].data) + 1 >= m[i].len)
            return vka_fail(VKA_ERR_FORMAT, KEY_MERGES "[%" PRIu64 "] = \"%.60s\" is not two tokens separated by "
                            "a space", i, m[i].data);
        size_t llen = (size_t)(sp - m[i].data), rlen = m[i].len - llen - 1;
        int32_t left = find_joined(v, m[i].data, llen, "", 0);
        int32_t right = find_joined(v, sp + 1, rlen, "", 0);
        if (left < 0 || right < 0 || vka_vocab_merge(v, left, right, NULL, NULL)) continue;
        uint64_t key = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
        uint32_t s = (uint32_t)merge_hash(key) & v->merge_mask;
        while (v->merges[s].key != UINT64_MAX) s = (s + 1) & v->merge_mask;
        v->merges[s] = (vka_merge_slot){.key = key, .rank = (uint32_t)i,
                                        .merged = find_joined(v, m[i].data, llen, sp + 1, rlen)};
        v->n_merges++;
    }
    return VKA_OK;
}

/* ---- load / free ---- */

void vka_vocab_free(vka_vocab *v) {
    if (!v) return;
    if (v->grammar_release) v->grammar_release(v);
    pthread_mutex_destroy(&v->grammar_lock);
    free(v->pre);
    free(v->text_arena);
    free(v->text_off);
    free(v->piece_arena);
    free(v->piece_off);
    free(v->scores);
    free(v->attr);
    free(v->lookup);
    free(v->special_nodes);
    free(v->merges);
    free(v);
}

static vka_status read_kind(vka_vocab *v, const vka_gguf *g) {
    const vka_gguf_kv *kv = vka_gguf_find(g, KEY_MODEL);
    if (!kv)
        return vka_fail(VKA_ERR_FORMAT, KEY_MODEL " is missing: the file has no tokenizer. HINT: convert the "
                        "model with its tokenizer (llama.cpp's convert_hf_to_gguf.py writes it)");
    const char *model = vka_gguf_get_str(g, KEY_MODEL);
    if (!model)
        return vka_fail(VKA_ERR_FORMAT, KEY_MODEL " must be a string, but it is a %s",
                        vka_gguf_vtype_name(kv->value.type));
    if (strcmp(model, "llama") == 0) v->kind = VKA_VOCAB_SPM;
    else if (strcmp(model, "gpt2") == 0) v->kind = VKA_VOCAB_BPE;
    else
        return vka_fail(VKA_ERR_UNSUPPORTED, "tokenizer model \"%.60s\" (" KEY_MODEL ") is not supported; "
                        "supported are \"llama\" (SentencePiece) and \"gpt2\" (byte-level BPE)", model);
    strcpy(v->model_name, model);
    const char *pre = vka_gguf_get_str(g, KEY_PRE);
    v->pre = strdup(pre ? pre : "");
    if (!v->pre) return out_of_memory("pre-tokenizer name");
    return VKA_OK;
}

static vka_status load_tables(vka_vocab *v, const vka_gguf *g) {
    VKA_TRY(read_kind(v, g));
    const vka_gguf_array *tokens, *scores, *types, *merges;
    VKA_TRY(find_array(g, KEY_TOKENS, is_string_vtype, "string", &tokens));
    VKA_TRY(find_array(g, KEY_SCORES, is_float_vtype, "float32", &scores));
    VKA_TRY(find_array(g, KEY_TYPES, is_integer_vtype, "int32", &types));
    VKA_TRY(find_array(g, KEY_MERGES, is_string_vtype, "string", &merges));
    if (!tokens) return vka_fail(VKA_ERR_FORMAT, KEY_TOKENS " is missing: the vocabulary has no tokens");
    if (tokens->n == 0 || tokens->n > INT32_MAX)
        return vka_fail(VKA_ERR_FORMAT, KEY_TOKENS " has %" PRIu64 " entries; a vocabulary needs 1..%d",
                        tokens->n, INT32_MAX);
    v->n_vocab = (uint32_t)tokens->n;
    VKA_TRY(check_length(scores, KEY_SCORES, v->n_vocab));
    VKA_TRY(check_length(types, KEY_TYPES, v->n_vocab));
    if (v->kind == VKA_VOCAB_SPM && !scores)
        return vka_fail(VKA_ERR_FORMAT, KEY_SCORES " is missing; SentencePiece (\"llama\") vocabularies need "
                        "the scores to merge pieces");
    if (v->kind == VKA_VOCAB_BPE && !merges)
        return vka_fail(VKA_ERR_FORMAT, KEY_MERGES " is missing; byte-level BPE (\"gpt2\") vocabularies need "
                        "the merges");
    VKA_TRY(load_texts(v, tokens));
    VKA_TRY(load_scores(v, scores));
    VKA_TRY(load_types(v, types));
    VKA_TRY(build_lookup(v));
    VKA_TRY(build_pieces(v));
    VKA_TRY(load_special_ids(v, g));
    VKA_TRY(build_special_trie(v));
    if (v->kind == VKA_VOCAB_BPE) {
        VKA_TRY(load_merges(v, merges));
        VKA_TRY(vka_bpe_prepare(v, g));
    }
    return VKA_OK;
}

vka_status vka_vocab_load(const vka_gguf *gguf, vka_vocab **out) {
    if (!gguf || !out) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_vocab_load: gguf and out must not be NULL");
    *out = NULL;
    vka_vocab *v = calloc(1, sizeof *v);
    if (!v) return out_of_memory("vocabulary");
    pthread_mutex_init(&v->grammar_lock, NULL);
    vka_status s = load_tables(v, gguf);
    if (s != VKA_OK) {
        vka_vocab_free(v);
        return vka_fail_context(s, "loading the vocabulary");
    }
    *out = v;
    return VKA_OK;
}
