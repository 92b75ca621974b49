/* model.h — a loaded model: hyperparameters derived from GGUF metadata
 * through the architecture table, weight tensors on the backend, vocabulary. */
#ifndef VKA_MODEL_H
#define VKA_MODEL_H

#include <stdatomic.h>

#include "backends/backend.h"
#include "format/gguf.h"
#include "vkagent.h"
#include "text/vocab.h"

/* What differs between architectures: data, plus a few hooks the shared
 * forward pass consults. Adding an architecture is a row in arch.c. */
typedef enum vka_arch_family {
    VKA_FAMILY_LLAMA = 0,           /* llama-style block: llama, mistral, qwen2, qwen3 */
    VKA_FAMILY_GEMMA2 = 1,          /* scaled embeddings, GELU FFN, post-norms, soft-caps, sliding layers */
    VKA_FAMILY_GEMMA3 = 2,          /* gemma2's block with q/k norms, a sliding pattern and a local RoPE base */
    VKA_FAMILY_PHI3 = 3,            /* fused QKV and gate/up matrices, RoPE factors and attention factor */
} vka_arch_family;

typedef struct vka_arch {
    const char *name;               /* general.architecture */
    vka_rope_mode rope_mode;
    bool qk_norm;                   /* per-head RMSNorm of q and k before RoPE (qwen3) */
    float default_rope_base;        /* when rope.freq_base is absent */
    vka_arch_family family;
} vka_arch;

const vka_arch *vka_arch_find(const char *name);
/* Comma-separated names, for error messages. */
const char *vka_arch_list(void);

#define VKA_MAX_LAYERS 4096u

typedef struct vka_hparams {
    uint32_t n_vocab;
    uint32_t n_ctx_train;
    uint32_t n_embd;
    uint32_t n_layer;
    uint32_t n_head;
    uint32_t n_head_kv;
    uint32_t n_ff;
    uint32_t head_dim;              /* attention.key_length, default n_embd / n_head */
    uint32_t head_dim_v;            /* attention.value_length, default head_dim */
    uint32_t n_rot;                 /* rope.dimension_count, default head_dim */
    float rms_eps;
    float rope_base;
    float rope_scale;               /* 1 / rope.scaling.factor for linear scaling */
    /* Architecture options (arch.c derives them from the family and the file's keys). */
    float attn_scale;               /* query scale, usually 1/sqrt(head_dim) */
    float embd_scale;               /* embeddings multiplied by it (gemma: sqrt(n_embd)); 1 otherwise */
    bool gemma_block;               /* GELU-gated FFN and post-attention / post-FFN norms */
    bool fused_weights;             /* attn_qkv and ffn_up holding gate and up (phi3) */
    float attn_softcap;             /* 0: none */
    float final_softcap;            /* 0: none */
    uint32_t swa_window;            /* 0: no sliding layers */
    uint8_t swa_layers[VKA_MAX_LAYERS / 8]; /* bit il set: layer il is a sliding-window layer */
    float rope_base_swa;            /* RoPE base and scale of the sliding layers */
    float rope_scale_swa;
    float rope_attn_factor;         /* rope.scaling.attn_factor: cos and sin multiplied by it (1: none) */
    uint32_t n_ctx_orig;            /* phi3: context beyond which rope_factors_long apply */
    /* Mixture of experts (n_expert 0: a dense FFN) */
    uint32_t n_expert;              /* expert_count */
    uint32_t n_expert_used;         /* expert_used_count: experts per token */
    uint32_t n_ff_exp;              /* expert_feed_forward_length, default feed_forward_length */
    bool expert_norm;               /* the chosen experts' weights renormalised to sum 1 */
} vka_hparams;

static inline bool vka_hparams_layer_swa(const vka_hparams *hp, uint32_t il) {
    return hp->swa_window && il < VKA_MAX_LAYERS && (hp->swa_layers[il / 8] >> (il % 8)) & 1u;
}

/* RoPE base and frequency scale of layer il (gemma3's sliding layers have their own). */
static inline void vka_hparams_layer_rope(const vka_hparams *hp, uint32_t il, float *base, float *scale) {
    bool swa = vka_hparams_layer_swa(hp, il);
    *base = swa ? hp->rope_base_swa : hp->rope_base;
    *scale = swa ? hp->rope_scale_swa : hp->rope_scale;
}

/* Weights of one transformer block. Shapes are [ne0, ne1] = [in, out]. */
typedef struct vka_layer {
    vka_tensor attn_norm;           /* [n_embd] */
    vka_tensor wq;                  /* [n_embd, n_head * head_dim] */
    vka_tensor wk;                  /* [n_embd, n_head_kv * head_dim] */
    vka_tensor wv;                  /* [n_embd, n_head_kv * head_dim_v] */
    vka_tensor *bq, *bk, *bv;       /* optional biases [out] (qwen2), point into `biases` */
    vka_tensor biases[3];
    vka_tensor *q_norm, *k_norm;    /* optional per-head norms [head_dim] (qwen3) */
    vka_tensor norms[2];
    vka_tensor wo;                  /* [n_head * head_dim_v, n_embd] */
    vka_tensor ffn_norm;            /* [n_embd] */
    vka_tensor w_gate;              /* [n_embd, n_ff] */
    vka_tensor w_up;                /* [n_embd, n_ff] */
    vka_tensor w_down;              /* [n_ff, n_embd] */
    vka_tensor post_attn_norm;      /* [n_embd] gemma: norm of the attention output before the residual */
    vka_tensor post_ffn_norm;       /* [n_embd] gemma: norm of the FFN output before the residual */
    /* mixture of experts (instead of w_gate, w_up, w_down) */
    vka_tensor ffn_gate_inp;        /* router [n_embd, n_expert] */
    vka_tensor gate_exps, up_exps;  /* [n_embd, n_ff_exp * n_expert]: expert e's rows e*n_ff_exp.. */
    vka_tensor down_exps;           /* [n_ff_exp, n_embd * n_expert] */
    void *stacked_exps[3];          /* legacy per-expert files: gate, up, down stacked (when not in place) */
} vka_layer;

struct vka_model {
    char *path;
    vka_gguf *gguf;
    vka_vocab *vocab;
    const vka_arch *arch;
    char *arch_name;                /* general.architecture as stored */
    vka_hparams hp;
    vka_backend *backend;           /* NULL for vocab-only models */
    vka_tensor tok_embd;            /* [n_embd, n_vocab] */
    vka_tensor output_norm;         /* [n_embd] */
    vka_tensor output_own;          /* [n_embd, n_vocab] when not tied */
    vka_tensor *output;             /* &output_own, or &tok_embd when tied */
    vka_tensor rope_freqs_own;      /* [n_rot / 2] llama3 frequency factors */
    vka_tensor *rope_freqs;         /* NULL when absent */
    vka_tensor rope_long_own;       /* [n_rot / 2] phi3 rope_factors_long (rope_factors_short: rope_freqs) */
    vka_tensor *rope_freqs_long;    /* NULL when absent */
    vka_layer *layers;
    uint64_t n_params;
    uint64_t weight_bytes;
    bool vocab_only;
    /* The caller's reference plus one per session: vka_model_free drops the
     * caller's, vka_session_free a session's; the last one frees the model. */
    atomic_uint refs;
};

/* Reads and checks hyperparameters (no tensors): used by load and by
 * `vkagent info`. Every value out of range is a VKA_ERR_FORMAT naming its
 * metadata key. */
vka_status vka_hparams_read(const vka_gguf *gguf, const vka_arch *arch, const char *arch_name,
                            uint32_t n_vocab, vka_hparams *hp);
/* Whether the file has the keys every model needs (vocab-only files may not). */
bool vka_hparams_present(const vka_gguf *gguf, const char *arch_name);

/* The same as vka_model_load over a GGUF in memory that the caller keeps
 * alive while the model lives (tests, fuzzing); `name` stands for the path
 * in messages. */
vka_status vka_model_load_memory(const void *data, size_t size, const char *name, const vka_model_params *params,
                                 vka_model **out);

/* Reference counting of a model by its sessions (see refs). */
void vka_model_retain(vka_model *model);
void vka_model_release(vka_model *model);

/* Bytes a session's KV cache needs for n_ctx tokens (its sliding-window
 * layers: their window and a default batch of 512 when that is fewer). */
uint64_t vka_model_kv_bytes(const vka_model *model, uint32_t n_ctx, bool f16);

#endif
