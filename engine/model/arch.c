/* arch.c — the architecture table and hyperparameter derivation. Adding an
 * architecture that shares the llama-style block is one row here; anything
 * structural (biases, q/k norms) is detected from the tensors present. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "model/model.h"
#include "base/status.h"

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

/* Limits on hyperparameters: far above any released model, low enough that
 * the sizes derived from them (tensor shapes, caches, per-layer tables)
 * cannot overflow or ask for absurd memory before anything is checked. */
#define MAX_LAYERS 4096u
#define MAX_EMBD (1u << 20)
#define MAX_HEADS 16384u
#define MAX_HEAD_DIM 1024u          /* what the attention kernels handle */
#define MAX_FF (1u << 22)
#define MAX_CTX (1u << 24)          /* the largest session context (session.c) */
#define DEFAULT_CTX 2048u

static void arch_key(char *key, size_t cap, const char *arch, const char *suffix) {
    snprintf(key, cap, "%s.%s", arch, suffix);
}

static bool arch_f32(const vka_gguf *g, const char *arch, const char *suffix, float *out) {
    char key[128];
    arch_key(key, sizeof key, arch, suffix);
    return vka_gguf_get_f32(g, key, out);
}

/* Reads "<arch>.<suffix>" as an integer in [min, max]. An absent key gives
 * `fallback` when it is optional (fallback != 0) and an error when it is
 * required; a present key of another type or out of range is always an
 * error naming the key, so that no command runs on a value it cannot use. */
static vka_status read_u32(const vka_gguf *g, const char *arch, const char *suffix, uint32_t min, uint32_t max,
                           uint32_t fallback, uint32_t *out) {
    char key[128];
    arch_key(key, sizeof key, arch, suffix);
    const vka_gguf_kv *kv = vka_gguf_find(g, key);
    if (!kv) {
        *out = fallback;
        if (fallback) return VKA_OK;
        return vka_fail(VKA_ERR_FORMAT, "metadata key '%s' is missing", key);
    }
    int64_t v;
    if (!vka_gguf_get_i64(g, key, &v))
        return vka_fail(VKA_ERR_FORMAT, "metadata key '%s' is a %s, expected an integer", key,
                        kv->value.type == VKA_GGUF_ARRAY ? "array" : vka_gguf_vtype_name(kv->value.type));
    if (v < (int64_t)min || v > (int64_t)max)
        return vka_fail(VKA_ERR_FORMAT, "metadata key '%s' is %" PRId64 ", out of range (%u..%u)", key, v, min, max);
    *out = (uint32_t)v;
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

/* Heads: counts, sizes, their sharing, and the rotated part of each head. */
static vka_status read_heads(const vka_gguf *g, const char *a, vka_hparams *hp) {
    VKA_TRY(read_u32(g, a, "attention.head_count", 1, MAX_HEADS, 0, &hp->n_head));
    VKA_TRY(read_u32(g, a, "attention.head_count_kv", 1, hp->n_head, hp->n_head, &hp->n_head_kv));
    if (hp->n_head % hp->n_head_kv)
        return vka_fail(VKA_ERR_FORMAT,
                        "metadata keys '%s.attention.head_count' (%u) and '%s.attention.head_count_kv' (%u): %u "
                        "attention heads cannot be shared by %u KV heads (the count must divide)",
                        a, hp->n_head, a, hp->n_head_kv, hp->n_head, hp->n_head_kv);
    char key[128];
    arch_key(key, sizeof key, a, "attention.key_length");
    if (!vka_gguf_find(g, key) && hp->n_embd % hp->n_head)
        return vka_fail(VKA_ERR_FORMAT,
                        "metadata keys '%s.embedding_length' (%u) and '%s.attention.head_count' (%u): the embedding "
                        "is not a whole number of heads, and '%s' is absent", a, hp->n_embd, a, hp->n_head, key);
    VKA_TRY(read_u32(g, a, "attention.key_length", 1, MAX_HEAD_DIM, hp->n_embd / hp->n_head, &hp->head_dim));
    if (hp->head_dim > MAX_HEAD_DIM)
        return vka_fail(VKA_ERR_FORMAT, "metadata keys '%s.embedding_length' / '%s.attention.head_count' give a head "
                        "size of %u, out of range (1..%u)", a, a, hp->head_dim, MAX_HEAD_DIM);
    VKA_TRY(read_u32(g, a, "attention.value_length", 1, MAX_HEAD_DIM, hp->head_dim, &hp->head_dim_v));
    VKA_TRY(read_u32(g, a, "rope.dimension_count", 1, UINT32_MAX, hp->head_dim, &hp->n_rot));
    if (hp->n_rot > hp->head_dim || hp->n_rot % 2)
        return vka_fail(VKA_ERR_FORMAT, "metadata key '%s.rope.dimension_count' is %u: it must be even and at most "
                        "the head size %u", a, hp->n_rot, hp->head_dim);
    return VKA_OK;
}

static vka_status read_floats(const vka_gguf *g, const vka_arch *arch, const char *a, vka_hparams *hp) {
    if (!arch_f32(g, a, "attention.layer_norm_rms_epsilon", &hp->rms_eps)) hp->rms_eps = 1e-5f;
    if (!(hp->rms_eps > 0.0f) || !(hp->rms_eps < 1.0f))
        return vka_fail(VKA_ERR_FORMAT, "metadata key '%s.attention.layer_norm_rms_epsilon' is %g, out of range "
                        "(0 < eps < 1)", a, (double)hp->rms_eps);
    if (!arch_f32(g, a, "rope.freq_base", &hp->rope_base)) hp->rope_base = arch->default_rope_base;
    if (!(hp->rope_base > 1.0f) || !isfinite(hp->rope_base))
        return vka_fail(VKA_ERR_FORMAT, "metadata key '%s.rope.freq_base' is %g, out of range (finite, > 1)", a,
                        (double)hp->rope_base);
    return VKA_OK;
}

vka_status vka_hparams_read(const vka_gguf *g, const vka_arch *arch, const char *a, uint32_t n_vocab,
                            vka_hparams *hp) {
    memset(hp, 0, sizeof *hp);
    VKA_TRY(read_u32(g, a, "embedding_length", 1, MAX_EMBD, 0, &hp->n_embd));
    VKA_TRY(read_u32(g, a, "block_count", 1, MAX_LAYERS, 0, &hp->n_layer));
    VKA_TRY(read_u32(g, a, "feed_forward_length", 1, MAX_FF, 0, &hp->n_ff));
    VKA_TRY(read_u32(g, a, "context_length", 1, MAX_CTX, DEFAULT_CTX, &hp->n_ctx_train));
    VKA_TRY(read_heads(g, a, hp));
    VKA_TRY(read_floats(g, arch, a, hp));
    uint32_t meta_vocab;
    VKA_TRY(read_u32(g, a, "vocab_size", 1, UINT32_MAX, n_vocab, &meta_vocab));
    if (meta_vocab != n_vocab)
        return vka_fail(VKA_ERR_FORMAT, "metadata key '%s.vocab_size' is %u but the tokenizer (tokenizer.ggml.tokens) "
                        "has %u tokens", a, meta_vocab, n_vocab);
    hp->n_vocab = n_vocab;
    return read_rope_scaling(g, a, hp);
}

bool vka_hparams_present(const vka_gguf *g, const char *a) {
    static const char *const required[] = {"embedding_length", "block_count", "feed_forward_length",
                                           "attention.head_count"};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        char key[128];
        arch_key(key, sizeof key, a, required[i]);
        if (!vka_gguf_find(g, key)) return false;
    }
    return true;
}
