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
    /* name      rope mode      qk_norm  default rope base  family */
    {"llama", VKA_ROPE_NORM, false, 10000.0f, VKA_FAMILY_LLAMA},
    {"mistral", VKA_ROPE_NORM, false, 10000.0f, VKA_FAMILY_LLAMA},
    {"qwen2", VKA_ROPE_NEOX, false, 1000000.0f, VKA_FAMILY_LLAMA},
    {"qwen3", VKA_ROPE_NEOX, true, 1000000.0f, VKA_FAMILY_LLAMA},
    {"qwen3moe", VKA_ROPE_NEOX, true, 1000000.0f, VKA_FAMILY_LLAMA}, /* qwen3 attention, experts from the expert_* keys */
    {"gemma2", VKA_ROPE_NEOX, false, 10000.0f, VKA_FAMILY_GEMMA2},
    {"gemma3", VKA_ROPE_NEOX, true, 10000.0f, VKA_FAMILY_GEMMA3},
    {"phi3", VKA_ROPE_NEOX, false, 10000.0f, VKA_FAMILY_PHI3},
};

const vka_arch *vka_arch_find(const char *name) {
    for (size_t i = 0; i < sizeof arches / sizeof arches[0]; i++)
        if (strcmp(arches[i].name, name) == 0) return &arches[i];
    return NULL;
}

const char *vka_arch_list(void) { return "llama, mistral, qwen2, qwen3, qwen3moe, gemma2, gemma3, phi3"; }

/* Limits on hyperparameters: far above any released model, low enough that
 * the sizes derived from them (tensor shapes, caches, per-layer tables)
 * cannot overflow or ask for absurd memory before anything is checked. */
#define MAX_LAYERS VKA_MAX_LAYERS
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

#define MAX_EXPERTS 4096u

/* Mixture of experts: present when "<arch>.expert_count" is (0 means a dense
 * model, as some llama files write). qwen3moe and Mixtral-style llama files
 * always renormalise the chosen experts' weights: llama.cpp builds both so and
 * never reads expert_weights_norm for them (a file's false would be ignored
 * there, so it is here). Only the softmax gating function (1) is supported. */
static vka_status read_experts(const vka_gguf *g, const char *a, vka_hparams *hp) {
    char key[128];
    arch_key(key, sizeof key, a, "expert_count");
    if (!vka_gguf_find(g, key)) {
        if (strcmp(a, "qwen3moe") == 0) return vka_fail(VKA_ERR_FORMAT, "metadata key '%s' is missing", key);
        return VKA_OK;
    }
    VKA_TRY(read_u32(g, a, "expert_count", 0, MAX_EXPERTS, 0, &hp->n_expert));
    if (hp->n_expert == 0) return VKA_OK;
    VKA_TRY(read_u32(g, a, "expert_used_count", 1, hp->n_expert, 0, &hp->n_expert_used));
    VKA_TRY(read_u32(g, a, "expert_feed_forward_length", 1, MAX_FF, hp->n_ff, &hp->n_ff_exp));
    hp->expert_norm = true;
    uint32_t gating;
    VKA_TRY(read_u32(g, a, "expert_gating_func", 0, UINT32_MAX, 1, &gating));
    if (gating != 1)
        return vka_fail(VKA_ERR_UNSUPPORTED, "metadata key '%s.expert_gating_func' is %u: only softmax gating (1) is "
                        "supported", a, gating);
    return VKA_OK;
}

/* An optional positive float key: false when absent, an error when present but not a positive finite number. */
static vka_status read_positive(const vka_gguf *g, const char *a, const char *suffix, bool *present, float *out) {
    char key[128];
    arch_key(key, sizeof key, a, suffix);
    *present = vka_gguf_find(g, key) != NULL;
    if (!*present) return VKA_OK;
    if (!vka_gguf_get_f32(g, key, out) || !(*out > 0.0f) || !isfinite(*out))
        return vka_fail(VKA_ERR_FORMAT, "metadata key '%s' must be a positive number", key);
    return VKA_OK;
}

static void set_swa_layer(vka_hparams *hp, uint32_t il) { hp->swa_layers[il / 8] |= (uint8_t)(1u << (il % 8)); }

/* Which layers slide: attention.sliding_window_pattern is either N (layer il
 * slides iff il % N < N - 1) or an array of one bool per layer (true:
 * sliding); absent, the family's N (gemma2 2: even layers; gemma3 6). */
static vka_status read_swa_pattern(const vka_gguf *g, const char *a, uint32_t default_n, vka_hparams *hp) {
    char key[128];
    arch_key(key, sizeof key, a, "attention.sliding_window_pattern");
    const vka_gguf_kv *kv = vka_gguf_find(g, key);
    if (kv && kv->value.type == VKA_GGUF_ARRAY) {
        const vka_gguf_array *arr = &kv->value.v.arr;
        if (arr->type != VKA_GGUF_BOOL || arr->n != hp->n_layer)
            return vka_fail(VKA_ERR_FORMAT, "metadata key '%s' must be an integer or an array of %u bools", key,
                            hp->n_layer);
        for (uint32_t il = 0; il < hp->n_layer; il++)
            if (((const bool *)arr->data)[il]) set_swa_layer(hp, il);
        return VKA_OK;
    }
    uint32_t n;
    VKA_TRY(read_u32(g, a, "attention.sliding_window_pattern", 1, MAX_LAYERS, default_n, &n));
    for (uint32_t il = 0; il < hp->n_layer; il++)
        if (il % n < n - 1) set_swa_layer(hp, il);
    return VKA_OK;
}

/* gemma2 and gemma3 (as llama.cpp builds them): the soft-caps, the sliding
 * window and its layers, gemma3's local RoPE; the defaults are llama.cpp's. */
static vka_status read_gemma(const vka_gguf *g, const vka_arch *arch, const char *a, vka_hparams *hp) {
    bool g2 = arch->family == VKA_FAMILY_GEMMA2, present;
    hp->gemma_block = true;
    hp->embd_scale = sqrtf((float)hp->n_embd);
    /* the 27B models (46 layers in gemma2, 62 in gemma3) scale queries by the head size the embedding implies */
    if (hp->n_layer == (g2 ? 46u : 62u)) hp->attn_scale = 1.0f / sqrtf((float)(hp->n_embd / hp->n_head));
    float v;
    VKA_TRY(read_positive(g, a, "final_logit_softcapping", &present, &v));
    hp->final_softcap = present ? v : g2 ? 30.0f : 0.0f; /* gemma3 caps only when the key says so */
    if (g2) {
        VKA_TRY(read_positive(g, a, "attn_logit_softcapping", &present, &v));
        hp->attn_softcap = present ? v : 50.0f;
    }
    char key[128];
    arch_key(key, sizeof key, a, "attention.sliding_window");
    if (g2 || vka_gguf_find(g, key)) /* gemma2 defaults to 4096; gemma3 has sliding layers only with the key */
        VKA_TRY(read_u32(g, a, "attention.sliding_window", 0, UINT32_MAX, g2 ? 4096u : 0u, &hp->swa_window));
    if (hp->swa_window) VKA_TRY(read_swa_pattern(g, a, g2 ? 2u : 6u, hp));
    VKA_TRY(read_positive(g, a, "rope.freq_base_swa", &present, &v));
    if (g2) {
        hp->rope_base_swa = present ? v : hp->rope_base;
        hp->rope_scale_swa = hp->rope_scale;
    } else { /* gemma3's local layers: their own base (10000 when absent), never scaled */
        hp->rope_base_swa = present ? v : 10000.0f;
        hp->rope_scale_swa = 1.0f;
    }
    return VKA_OK;
}

/* phi3 (Phi-3, Phi-4-mini): the context the short RoPE factors cover. */
static vka_status read_phi3(const vka_gguf *g, const char *a, vka_hparams *hp) {
    hp->fused_weights = true;
    return read_u32(g, a, "rope.scaling.original_context_length", 1, MAX_CTX, hp->n_ctx_train, &hp->n_ctx_orig);
}

/* What the family adds to the llama-style hyperparameters. */
static vka_status read_family(const vka_gguf *g, const vka_arch *arch, const char *a, vka_hparams *hp) {
    hp->attn_scale = 1.0f / sqrtf((float)hp->head_dim);
    hp->embd_scale = 1.0f;
    /* RoPE's attention factor (LongRoPE: the converter writes it for Phi-3/4 files), any
     * family as llama.cpp reads it: cos and sin carry it, so with a partial rotation
     * (Phi-4-mini) only the rotated dimensions are scaled */
    bool present;
    VKA_TRY(read_positive(g, a, "rope.scaling.attn_factor", &present, &hp->rope_attn_factor));
    if (!present) hp->rope_attn_factor = 1.0f;
    hp->rope_base_swa = hp->rope_base;
    hp->rope_scale_swa = hp->rope_scale;
    switch (arch->family) {
    case VKA_FAMILY_GEMMA2:
    case VKA_FAMILY_GEMMA3: return read_gemma(g, arch, a, hp);
    case VKA_FAMILY_PHI3: return read_phi3(g, a, hp);
    case VKA_FAMILY_LLAMA: break;
    }
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
    VKA_TRY(read_experts(g, a, hp));
    uint32_t meta_vocab;
    VKA_TRY(read_u32(g, a, "vocab_size", 1, UINT32_MAX, n_vocab, &meta_vocab));
    if (meta_vocab != n_vocab)
        return vka_fail(VKA_ERR_FORMAT, "metadata key '%s.vocab_size' is %u but the tokenizer (tokenizer.ggml.tokens) "
                        "has %u tokens", a, meta_vocab, n_vocab);
    hp->n_vocab = n_vocab;
    VKA_TRY(read_rope_scaling(g, a, hp));
    return read_family(g, arch, a, hp);
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
