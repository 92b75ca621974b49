/* vocab.c — the vocabulary's queries: token attributes, pieces and
 * detokenization, and tokenization: special tokens are cut out of the input
 * here, the raw text between them goes to the kind's tokenizer. */
#include <stdlib.h>
#include <string.h>

#include "base/status.h"
#include "text/vocab_internal.h"

vka_status vka_ids_push(vka_ids *ids, int32_t id) {
    if (ids->n == ids->cap) {
        size_t cap = ids->cap ? ids->cap * 2 : 64;
        int32_t *data = realloc(ids->data, cap * sizeof *data);
        if (!data) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory while tokenizing (%zu tokens)", ids->n);
        ids->data = data;
        ids->cap = cap;
    }
    ids->data[ids->n++] = id;
    return VKA_OK;
}

static bool valid_id(const vka_vocab *v, int32_t id) {
    return v && id >= 0 && (uint32_t)id < v->n_vocab;
}

/* ---- attributes ---- */

vka_vocab_kind vka_vocab_get_kind(const vka_vocab *v) { return v->kind; }
const char *vka_vocab_model_name(const vka_vocab *v) { return v->model_name; }
const char *vka_vocab_pre(const vka_vocab *v) { return v->pre; }
uint32_t vka_vocab_size(const vka_vocab *v) { return v->n_vocab; }
int32_t vka_vocab_bos(const vka_vocab *v) { return v->bos; }
int32_t vka_vocab_eos(const vka_vocab *v) { return v->eos; }
int32_t vka_vocab_unk(const vka_vocab *v) { return v->unk; }
int32_t vka_vocab_eot(const vka_vocab *v) { return v->eot; }
int32_t vka_vocab_eom(const vka_vocab *v) { return v->eom; }
int32_t vka_vocab_pad(const vka_vocab *v) { return v->pad; }
bool vka_vocab_add_bos(const vka_vocab *v) { return v->add_bos; }
bool vka_vocab_add_eos(const vka_vocab *v) { return v->add_eos; }

const char *vka_vocab_pretokenizer(const vka_vocab *v, bool *fallback) {
    if (fallback) *fallback = v->kind == VKA_VOCAB_BPE && v->bpe_pre_fallback;
    return v->kind == VKA_VOCAB_BPE ? vka_bpe_pre_name((vka_bpe_pre)v->bpe_pre) : "";
}

bool vka_vocab_nfc(const vka_vocab *v) { return v->kind == VKA_VOCAB_BPE && v->bpe_nfc; }

bool vka_vocab_strips_leading_space(const vka_vocab *v) {
    return v->kind == VKA_VOCAB_SPM && v->add_space_prefix;
}

bool vka_vocab_is_eog(const vka_vocab *v, int32_t id) {
    return valid_id(v, id) && (v->attr[id] & VKA_ATTR_EOG);
}

vka_token_type vka_vocab_token_type(const vka_vocab *v, int32_t id) {
    return valid_id(v, id) ? vka_vocab_type_of(v, id) : VKA_TOKEN_UNDEFINED;
}

bool vka_vocab_is_control(const vka_vocab *v, int32_t id) {
    return vka_vocab_token_type(v, id) == VKA_TOKEN_CONTROL;
}

float vka_vocab_score(const vka_vocab *v, int32_t id) {
    return valid_id(v, id) ? v->scores[id] : 0.0f;
}

const char *vka_vocab_text(const vka_vocab *v, int32_t id) {
    return valid_id(v, id) ? v->text_arena + v->text_off[id] : NULL;
}

/* ---- pieces and detokenization ---- */

/* Tokens whose text the tokenizer matches verbatim; the raw text after them
 * gets a SentencePiece space prefix, so the decoder drops it again. */
static bool is_special(vka_token_type t) {
    return t == VKA_TOKEN_CONTROL || t == VKA_TOKEN_UNKNOWN || t == VKA_TOKEN_USER_DEFINED;
}

size_t vka_vocab_piece(const vka_vocab *v, int32_t id, bool special, const char **bytes) {
    if (!valid_id(v, id)) {
        if (bytes) *bytes = "";
        return 0;
    }
    vka_token_type t = vka_vocab_type_of(v, id);
    if (!special && (t == VKA_TOKEN_CONTROL || t == VKA_TOKEN_UNKNOWN)) {
        if (bytes) *bytes = "";
        return 0;
    }
    if (bytes) *bytes = v->piece_arena + v->piece_off[id];
    return v->piece_off[id + 1] - v->piece_off[id];
}

vka_status vka_vocab_detokenize(const vka_vocab *v, const int32_t *ids, size_t n_ids, bool special, char *buf,
                                size_t cap, size_t *out_len) {
    if (!v || (!ids && n_ids) || (!buf && cap) || !out_len)
        return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_vocab_detokenize: NULL argument");
    bool strip = vka_vocab_strips_leading_space(v);
    bool at_boundary = true;
    size_t len = 0;
    for (size_t i = 0; i < n_ids; i++) {
        if (!valid_id(v, ids[i]))
            return vka_fail(VKA_ERR_INVALID_ARGUMENT, "token %zu of %zu is %d, not a token of this vocabulary "
                            "(0..%u)", i, n_ids, (int)ids[i], v->n_vocab - 1);
        const char *piece;
        size_t n = vka_vocab_piece(v, ids[i], special, &piece);
        if (is_special(vka_vocab_type_of(v, ids[i]))) {
            at_boundary = true;
        } else if (n > 0) {
            if (strip && at_boundary && piece[0] == ' ') {
                piece++;
                n--;
            }
            at_boundary = false;
        }
        if (len < cap) memcpy(buf + len, piece, n < cap - len ? n : cap - len);
        len += n;
    }
    *out_len = len;
    if (len < cap) buf[len] = '\0';
    if (len > cap)
        return vka_fail(VKA_ERR_BUFFER_TOO_SMALL, "the text needs %zu bytes, the buffer holds %zu", len, cap);
    return VKA_OK;
}

/* ---- tokenization ---- */

/* One run of raw text (no special tokens in it) through the kind's
 * tokenizer. after_special: it starts the text or follows a special token. */
static vka_status tokenize_fragment(const vka_vocab *v, const char *text, size_t len, bool after_special,
                                    vka_ids *out) {
    switch (v->kind) {
    case VKA_VOCAB_SPM:
        return vka_spm_tokenize(v, text, len, after_special && v->add_space_prefix, out);
    case VKA_VOCAB_BPE:
        return vka_bpe_tokenize(v, text, len, out);
    }
    return vka_fail(VKA_ERR_UNSUPPORTED, "unknown vocabulary kind %d", (int)v->kind);
}

/* Cuts special tokens out of the text (leftmost, then longest match: the
 * trie makes this one pass over the input however many specials there are). */
static vka_status partition(const vka_vocab *v, const char *text, size_t len, bool parse_special, vka_ids *out) {
    size_t start = 0;
    bool after_special = true;
    for (size_t i = 0; i < len;) {
        size_t match_len = 0;
        int32_t id = vka_vocab_match_special(v, text + i, len - i, parse_special, &match_len);
        if (id < 0) {
            i++;
            continue;
        }
        if (i > start) VKA_TRY(tokenize_fragment(v, text + start, i - start, after_special, out));
        VKA_TRY(vka_ids_push(out, id));
        after_special = true;
        i += match_len;
        start = i;
    }
    if (start < len) VKA_TRY(tokenize_fragment(v, text + start, len - start, after_special, out));
    return VKA_OK;
}

static vka_status tokenize_into(const vka_vocab *v, const char *text, size_t len, int flags, vka_ids *out) {
    bool want_bos = (flags & VKA_TOKENIZE_ADD_BOS) || ((flags & VKA_TOKENIZE_MODEL_BOS) && v->add_bos);
    bool want_eos = (flags & VKA_TOKENIZE_MODEL_BOS) && v->add_eos;
    if (want_bos && v->bos >= 0) VKA_TRY(vka_ids_push(out, v->bos));
    VKA_TRY(partition(v, text, len, (flags & VKA_TOKENIZE_PARSE_SPECIAL) != 0, out));
    /* A rendered chat template already starts with the BOS text: keep one BOS. */
    if (want_bos && v->bos >= 0 && out->n >= 2 && out->data[1] == v->bos) {
        memmove(out->data + 1, out->data + 2, (out->n - 2) * sizeof *out->data);
        out->n--;
    }
    if (want_eos && v->eos >= 0) VKA_TRY(vka_ids_push(out, v->eos));
    return VKA_OK;
}

vka_status vka_vocab_tokenize(const vka_vocab *v, const char *text, size_t len, int flags, int32_t **out_ids,
                              size_t *out_n) {
    if (!v || (!text && len) || !out_ids || !out_n)
        return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_vocab_tokenize: NULL argument");
    *out_ids = NULL;
    *out_n = 0;
    vka_ids ids = {0};
    vka_status s = tokenize_into(v, text, len, flags, &ids);
    if (s != VKA_OK) {
        free(ids.data);
        return s;
    }
    *out_ids = ids.data;
    *out_n = ids.n;
    return VKA_OK;
}
