/* arch.c — the architecture table and hyperparameter derivation. Adding an
 * architecture that shares the llama-style block is one row here; anything
 * structural (biases, q/k norms) is detected from the tensors present. */
#include <stdio.h>
#include <string.h>

#include "model.h"
#include "status.h"

static const vka_arch arches[] = {
    /* name      rope mode      qk_norm  default rope base */
    {"llama", VKA_ROPE_NORM, false, 10000.0f},
    {"mistral", VKA_ROPE_NORM, false, 10000.0f},
    {"qwen2", VKA_ROPE_NEOX, false, 1000000.0f},
    {"qwen3", VKA_ROPE_NEOX, true, 1000000.0f},
};

const vka_arch *vka_arch_find(const char *name) {
    for (size_t i = 0; i < sizeof arches / sizeof arches[0]; i++)
        if (strcmp(arches[i].name, name) == 0) return &arches[i];
    return NULL;
}

const char *vka_arch_list(void) { return "llama, mistral, qwen2, qwen3"; }

/* Reads "<arch>.<suffix>" as u32. */
static bool arch_u32(const vka_gguf *g, const char *arch, const char *suffix, uint32_t *out) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    return vka_gguf_get_u32(g, key, out);
}

static bool arch_f32(const vka_gguf *g, const char *arch, const char *suffix, float *out) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    return vka_gguf_get_f32(g, key, out);
}

static vka_status require_u32(const vka_gguf *g, const char *arch, const char *suffix, uint32_t *out) {
    if (!arch_u32(g, arch, suffix, out))
        return vka_fail(VKA_ERR_FORMAT, "metadata key '%s.%s' is missing or not an integer", arch, suffix);
    if (*out == 0) return vka_fail(VKA_ERR_FORMAT, "metadata key '%s.%s' is 0", arch, suffix);
    return VKA_OK;
}

static vka_status read_rope_scaling(const vka_gguf *g, const char *arch, vka_hparams *hp) {
    char key[128];
    snprintf(key, sizeof key, "%s.rope.scaling.type", arch);
    const char *type = vka_gguf_get_str(g, key);
    hp->rope_scale = 1.0f;
    float factor = 1.0f;
    bool has_factor = arch_f32(g, arch, "rope.scaling.factor", &factor);
    if (!type || strcmp(type, "none") == 0) {
        /* Older files give only a linear factor. */
        if (!type && has_factor && factor > 0.0f) hp->rope_scale = 1.0f / factor;
        return VKA_OK;
    }
    if (strcmp(type, "linear") == 0) {
        if (!has_factor || !(factor > 0.0f))
            return vka_fail(VKA_ERR_FORMAT, "rope scaling 'linear' needs a positive %s.rope.scaling.factor", arch);
        hp->rope_scale = 1.0f / factor;
        return VKA_OK;
    }
    if (strcmp(type, "llama3") == 0) return VKA_OK; /* carried by the rope_freqs.weight tensor */
    return vka_fail(VKA_ERR_UNSUPPORTED, "rope scaling type '%s' is not supported (supported: none, linear, llama3)",
                    type);
}

vka_status vka_hparams_read(const vka_gguf *g, const vka_arch *arch, const char *a, uint32_t n_vocab,
                            vka_hparams *hp) {
    memset(hp, 0, sizeof *hp);
    VKA_TRY(require_u32(g, a, "embedding_length", &hp->n_embd));
    VKA_TRY(require_u32(g, a, "block_count", &hp->n_layer));
    VKA_TRY(require_u32(g, a, "attention.head_count", &hp->n_head));
    VKA_TRY(require_u32(g, a, "feed_forward_length", &hp->n_ff));
    if (!arch_u32(g, a, "context_length", &hp->n_ctx_train) || hp->n_ctx_train == 0) hp->n_ctx_train = 2048;
    if (!arch_u32(g, a, "attention.head_count_kv", &hp->n_head_kv)) hp->n_head_kv = hp->n_head;
    if (hp->n_head_kv == 0 || hp->n_head % hp->n_head_kv)
        return vka_fail(VKA_ERR_FORMAT, "%u attention heads cannot be shared by %u KV heads", hp->n_head,
                        hp->n_head_kv);
    if (!arch_u32(g, a, "attention.key_length", &hp->head_dim)) {
        if (hp->n_embd % hp->n_head)
            return vka_fail(VKA_ERR_FORMAT, "embedding length %u is not a multiple of %u heads", hp->n_embd,
                            hp->n_head);
        hp->head_dim = hp->n_embd / hp->n_head;
    }
    if (!arch_u32(g, a, "attention.value_length", &hp->head_dim_v)) hp->head_dim_v = hp->head_dim;
    if (!arch_u32(g, a, "rope.dimension_count", &hp->n_rot)) hp->n_rot = hp->head_dim;
    if (hp->head_dim == 0 || hp->head_dim_v == 0 || hp->head_dim > 1024 || hp->head_dim_v > 1024)
        return vka_fail(VKA_ERR_FORMAT, "head size %u/%u is out of range", hp->head_dim, hp->head_dim_v);
    if (hp->n_rot > hp->head_dim || hp->n_rot % 2)
        return vka_fail(VKA_ERR_FORMAT, "rope.dimension_count %u must be even and at most the head size %u",
                        hp->n_rot, hp->head_dim);
    if (!arch_f32(g, a, "attention.layer_norm_rms_epsilon", &hp->rms_eps)) hp->rms_eps = 1e-5f;
    if (!arch_f32(g, a, "rope.freq_base", &hp->rope_base)) hp->rope_base = arch->default_rope_base;
    if (!(hp->rms_eps > 0.0f) || !(hp->rope_base > 1.0f))
        return vka_fail(VKA_ERR_FORMAT, "rms epsilon %g or rope base %g is out of range", (double)hp->rms_eps,
                        (double)hp->rope_base);
    uint32_t meta_vocab;
    if (arch_u32(g, a, "vocab_size", &meta_vocab) && meta_vocab != n_vocab)
        return vka_fail(VKA_ERR_FORMAT, "%s.vocab_size is %u but the tokenizer has %u tokens", a, meta_vocab, n_vocab);
    hp->n_vocab = n_vocab;
    return read_rope_scaling(g, a, hp);
}
