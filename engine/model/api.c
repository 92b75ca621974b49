/* api.c — the public entry points over models and vocabularies that are thin
 * wrappers: model info, metadata, tokenization, pieces, sampler creation. */
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "sampling/sampler.h"
#include "base/status.h"

vka_status vka_model_get_info(const vka_model *m, vka_model_info *info) {
    if (!m || !info) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_model_get_info: model and info are required");
    memset(info, 0, sizeof *info);
    const char *name = vka_gguf_get_str(m->gguf, "general.name");
    info->architecture = m->arch_name;
    info->name = name ? name : "";
    info->device = m->backend ? m->backend->name : "none (vocab only)";
    info->tokenizer = vka_vocab_model_name(m->vocab);
    info->n_vocab = vka_vocab_size(m->vocab);
    info->n_ctx_train = m->hp.n_ctx_train;
    info->n_embd = m->hp.n_embd;
    info->n_layer = m->hp.n_layer;
    info->n_head = m->hp.n_head;
    info->n_head_kv = m->hp.n_head_kv;
    info->n_ff = m->hp.n_ff;
    info->head_dim = m->hp.head_dim;
    info->head_dim_v = m->hp.head_dim_v;
    info->token_bos = vka_vocab_bos(m->vocab);
    info->token_eos = vka_vocab_eos(m->vocab);
    info->token_unk = vka_vocab_unk(m->vocab);
    info->token_eot = vka_vocab_eot(m->vocab);
    info->add_bos = vka_vocab_add_bos(m->vocab);
    info->n_params = m->n_params;
    info->weight_bytes = m->weight_bytes;
    info->vocab_only = m->vocab_only;
    return VKA_OK;
}

const char *vka_model_meta_string(const vka_model *m, const char *key) {
    if (!m || !key) return NULL;
    return vka_gguf_get_str(m->gguf, key);
}

vka_status vka_tokenize(const vka_model *m, const char *text, size_t len, int flags, int32_t *ids, size_t capacity,
                        size_t *n_tokens) {
    if (!m || (!text && len) || !n_tokens || (!ids && capacity))
        return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_tokenize: model, text and n_tokens are required");
    int32_t *all = NULL;
    size_t n = 0;
    VKA_TRY(vka_vocab_tokenize(m->vocab, text ? text : "", len, flags, &all, &n));
    *n_tokens = n;
    vka_status st = VKA_OK;
    if (n > capacity)
        st = vka_fail(VKA_ERR_BUFFER_TOO_SMALL, "%zu tokens do not fit in a buffer of %zu", n, capacity);
    else if (n)
        memcpy(ids, all, n * sizeof *ids);
    free(all);
    return st;
}

static vka_status check_token(const vka_model *m, int32_t token) {
    if (token < 0 || (uint32_t)token >= vka_vocab_size(m->vocab))
        return vka_fail(VKA_ERR_INVALID_ARGUMENT, "token id %d is outside the vocabulary (0..%u)", token,
                        vka_vocab_size(m->vocab) - 1);
    return VKA_OK;
}

vka_status vka_token_to_piece(const vka_model *m, int32_t token, int flags, char *buf, size_t capacity, size_t *len) {
    if (!m || !len || (!buf && capacity))
        return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_token_to_piece: model and len are required");
    VKA_TRY(check_token(m, token));
    const char *bytes;
    size_t n = vka_vocab_piece(m->vocab, token, flags & VKA_DETOKENIZE_SPECIAL, &bytes);
    *len = n;
    if (n > capacity) return vka_fail(VKA_ERR_BUFFER_TOO_SMALL, "piece of %zu bytes does not fit in %zu", n, capacity);
    memcpy(buf, bytes, n);
    return VKA_OK;
}

vka_status vka_detokenize(const vka_model *m, const int32_t *ids, size_t n_ids, int flags, char *buf, size_t capacity,
                          size_t *len) {
    if (!m || !len || (!ids && n_ids) || (!buf && capacity))
        return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_detokenize: model, ids and len are required");
    bool strip = vka_vocab_strips_leading_space(m->vocab);
    int32_t bos = vka_vocab_bos(m->vocab);
    size_t total = 0;
    for (size_t i = 0; i < n_ids; i++) {
        VKA_TRY(check_token(m, ids[i]));
        const char *bytes;
        size_t n = vka_vocab_piece(m->vocab, ids[i], flags & VKA_DETOKENIZE_SPECIAL, &bytes);
        /* SentencePiece: the dummy-prefix space of the first piece (at the
         * start, or right after BOS) is not part of the text. */
        bool first = i == 0 || (i == 1 && ids[0] == bos);
        if (strip && first && n && bytes[0] == ' ') { bytes++; n--; }
        if (total + n <= capacity) memcpy(buf + total, bytes, n);
        total += n;
    }
    *len = total;
    if (total < capacity) buf[total] = '\0';
    if (total > capacity)
        return vka_fail(VKA_ERR_BUFFER_TOO_SMALL, "text of %zu bytes does not fit in %zu", total, capacity);
    return VKA_OK;
}

const char *vka_token_text(const vka_model *m, int32_t token) {
    if (!m || token < 0 || (uint32_t)token >= vka_vocab_size(m->vocab)) return NULL;
    return vka_vocab_text(m->vocab, token);
}

const char *vka_model_pretokenizer(const vka_model *m, bool *fallback) {
    if (fallback) *fallback = false;
    return m ? vka_vocab_pretokenizer(m->vocab, fallback) : NULL;
}

vka_status vka_sampler_create(const vka_model *m, const vka_sampling_params *params, vka_sampler **out) {
    if (!m || !out) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_sampler_create: model and out are required");
    return vka_sampler_new(m->vocab, vka_vocab_size(m->vocab), params, out);
}

vka_status vka_token_lookup(const vka_model *m, const char *text, int32_t *id) {
    if (!m || !text || !id) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_token_lookup: model, text and id are required");
    *id = -1;
    size_t len = strlen(text);
    int32_t found = vka_vocab_find(m->vocab, text, len);
    /* Then the bytes a token stands for (" the" for "Ġthe" or "▁the"): the
     * lowest id, so a whole-word token wins over a byte token of one byte. */
    for (uint32_t i = 0; found < 0 && i < vka_vocab_size(m->vocab); i++) {
        const char *bytes;
        size_t n = vka_vocab_piece(m->vocab, (int32_t)i, true, &bytes);
        if (n == len && n && memcmp(bytes, text, n) == 0) found = (int32_t)i;
    }
    if (found < 0) return vka_fail(VKA_ERR_NOT_FOUND, "no token has the text '%s'", text);
    *id = found;
    return VKA_OK;
}

uint32_t vka_token_attributes(const vka_model *m, int32_t token) {
    if (!m || token < 0 || (uint32_t)token >= vka_vocab_size(m->vocab)) return 0;
    uint32_t attr = 0;
    switch (vka_vocab_token_type(m->vocab, token)) {
    case VKA_TOKEN_CONTROL: attr |= VKA_TOKEN_ATTR_CONTROL; break;
    case VKA_TOKEN_BYTE: attr |= VKA_TOKEN_ATTR_BYTE; break;
    case VKA_TOKEN_USER_DEFINED: attr |= VKA_TOKEN_ATTR_USER_DEFINED; break;
    case VKA_TOKEN_UNKNOWN: attr |= VKA_TOKEN_ATTR_UNKNOWN; break;
    case VKA_TOKEN_UNUSED: attr |= VKA_TOKEN_ATTR_UNUSED; break;
    default: attr |= VKA_TOKEN_ATTR_NORMAL; break;
    }
    if (vka_vocab_is_eog(m->vocab, token)) attr |= VKA_TOKEN_ATTR_EOG;
    if (token == vka_vocab_bos(m->vocab)) attr |= VKA_TOKEN_ATTR_BOS;
    return attr;
}

vka_status vka_model_get_stats(const vka_model *m, vka_model_stats *out) {
    if (!m || !out) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_model_get_stats: model and stats are required");
    memset(out, 0, sizeof *out);
    if (!m->backend) return VKA_OK; /* vocab-only: nothing on a device */
    vka_backend_stats st;
    vka_backend_get_stats(m->backend, &st);
    *out = (vka_model_stats){st.device_bytes, st.weight_bytes, st.kv_bytes, st.activation_bytes, st.io_bytes,
                             st.internal_bytes, st.pipelines, st.pipeline_seconds, st.record_seconds, st.computes,
                             st.host_seconds};
    return VKA_OK;
}
