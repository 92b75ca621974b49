/* model.c — loading a GGUF model: architecture, hyperparameters, vocabulary
 * and weights (handed to the backend, which may read them in place). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "status.h"

void vka_model_params_default(vka_model_params *params) {
    memset(params, 0, sizeof *params);
}

/* Finds a tensor and checks its shape: ne1 == 0 means a 1-D tensor [ne0]. */
static vka_status find_checked(const vka_model *m, const char *name, int64_t ne0, int64_t ne1,
                               const vka_gguf_tensor **out) {
    const vka_gguf_tensor *gt = vka_gguf_find_tensor(m->gguf, name);
    *out = gt;
    if (!gt) return vka_fail(VKA_ERR_FORMAT, "tensor '%s' is missing", name);
    int64_t want1 = ne1 ? ne1 : 1;
    if (gt->n_dims > 2 || gt->ne[0] != ne0 || gt->ne[1] != want1)
        return vka_fail(VKA_ERR_FORMAT, "tensor '%s' has shape [%" PRId64 ", %" PRId64 "] (%u dims), expected [%" PRId64
                        ", %" PRId64 "]", name, gt->ne[0], gt->ne[1], gt->n_dims, ne0, want1);
    if (!vka_type_is_supported(gt->type))
        return vka_fail(VKA_ERR_UNSUPPORTED, "tensor '%s' has type %s (%u), which vkagent cannot compute (supported: %s)",
                        name, vka_type_name(gt->type), gt->type, vka_type_supported_list());
    if (!ne1 && gt->type != VKA_TYPE_F32)
        return vka_fail(VKA_ERR_UNSUPPORTED, "tensor '%s' is %s; 1-D tensors (norms, biases) must be f32", name,
                        vka_type_name(gt->type));
    return VKA_OK;
}

/* Gives tensor t the weights of `name` on the backend. */
static vka_status load_weight(vka_model *m, vka_tensor *t, const char *name, int64_t ne0, int64_t ne1) {
    const vka_gguf_tensor *gt;
    VKA_TRY(find_checked(m, name, ne0, ne1, &gt));
    vka_tensor_init(t, gt->name.data, (vka_type)gt->type, ne0, ne1 ? ne1 : 1, VKA_USAGE_WEIGHT);
    vka_status s = m->backend->ops->tensor_alloc(m->backend, t, gt->data);
    if (s != VKA_OK) {
        t->nbytes = 0; /* not allocated: nothing to free */
        return vka_fail_context(s, "uploading tensor '%s'", name);
    }
    m->n_params += (uint64_t)(ne0 * (ne1 ? ne1 : 1));
    m->weight_bytes += t->nbytes;
    return VKA_OK;
}

/* Loads `fmt` (with the layer number) if the file has it. */
static vka_status load_optional(vka_model *m, vka_tensor *storage, vka_tensor **slot, const char *name,
                                int64_t ne0, int64_t ne1) {
    *slot = NULL;
    if (!vka_gguf_find_tensor(m->gguf, name)) return VKA_OK;
    VKA_TRY(load_weight(m, storage, name, ne0, ne1));
    *slot = storage;
    return VKA_OK;
}

static vka_status load_layer(vka_model *m, uint32_t il) {
    const vka_hparams *hp = &m->hp;
    vka_layer *L = &m->layers[il];
    int64_t q_dim = (int64_t)hp->n_head * hp->head_dim;
    int64_t k_dim = (int64_t)hp->n_head_kv * hp->head_dim;
    int64_t v_dim = (int64_t)hp->n_head_kv * hp->head_dim_v;
    int64_t o_dim = (int64_t)hp->n_head * hp->head_dim_v;
    char name[96];
#define NAME(suffix) (snprintf(name, sizeof name, "blk.%u." suffix, il), name)
    VKA_TRY(load_weight(m, &L->attn_norm, NAME("attn_norm.weight"), hp->n_embd, 0));
    VKA_TRY(load_weight(m, &L->wq, NAME("attn_q.weight"), hp->n_embd, q_dim));
    VKA_TRY(load_weight(m, &L->wk, NAME("attn_k.weight"), hp->n_embd, k_dim));
    VKA_TRY(load_weight(m, &L->wv, NAME("attn_v.weight"), hp->n_embd, v_dim));
    VKA_TRY(load_optional(m, &L->biases[0], &L->bq, NAME("attn_q.bias"), q_dim, 0));
    VKA_TRY(load_optional(m, &L->biases[1], &L->bk, NAME("attn_k.bias"), k_dim, 0));
    VKA_TRY(load_optional(m, &L->biases[2], &L->bv, NAME("attn_v.bias"), v_dim, 0));
    VKA_TRY(load_optional(m, &L->norms[0], &L->q_norm, NAME("attn_q_norm.weight"), hp->head_dim, 0));
    VKA_TRY(load_optional(m, &L->norms[1], &L->k_norm, NAME("attn_k_norm.weight"), hp->head_dim, 0));
    if (m->arch->qk_norm && (!L->q_norm || !L->k_norm))
        return vka_fail(VKA_ERR_FORMAT, "architecture %s needs blk.%u.attn_q_norm/attn_k_norm tensors", m->arch->name, il);
    VKA_TRY(load_weight(m, &L->wo, NAME("attn_output.weight"), o_dim, hp->n_embd));
    VKA_TRY(load_weight(m, &L->ffn_norm, NAME("ffn_norm.weight"), hp->n_embd, 0));
    VKA_TRY(load_weight(m, &L->w_gate, NAME("ffn_gate.weight"), hp->n_embd, hp->n_ff));
    VKA_TRY(load_weight(m, &L->w_up, NAME("ffn_up.weight"), hp->n_embd, hp->n_ff));
    VKA_TRY(load_weight(m, &L->w_down, NAME("ffn_down.weight"), hp->n_ff, hp->n_embd));
#undef NAME
    return VKA_OK;
}

static vka_status load_weights(vka_model *m) {
    const vka_hparams *hp = &m->hp;
    VKA_TRY(load_weight(m, &m->tok_embd, "token_embd.weight", hp->n_embd, hp->n_vocab));
    m->layers = calloc(hp->n_layer, sizeof *m->layers);
    if (!m->layers) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory for %u layers", hp->n_layer);
    for (uint32_t il = 0; il < hp->n_layer; il++) VKA_TRY(load_layer(m, il));
    VKA_TRY(load_weight(m, &m->output_norm, "output_norm.weight", hp->n_embd, 0));
    vka_tensor *own = NULL;
    VKA_TRY(load_optional(m, &m->output_own, &own, "output.weight", hp->n_embd, hp->n_vocab));
    m->output = own ? own : &m->tok_embd; /* tied embeddings when there is no output.weight */
    VKA_TRY(load_optional(m, &m->rope_freqs_own, &m->rope_freqs, "rope_freqs.weight", hp->n_rot / 2, 0));
    return VKA_OK;
}

static vka_status load_metadata(vka_model *m) {
    const char *arch = vka_gguf_get_str(m->gguf, "general.architecture");
    if (!arch) return vka_fail(VKA_ERR_FORMAT, "general.architecture is missing");
    m->arch_name = strdup(arch);
    if (!m->arch_name) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
    VKA_TRY(vka_vocab_load(m->gguf, &m->vocab));
    m->arch = vka_arch_find(arch);
    if (!m->arch) {
        if (m->vocab_only) return VKA_OK; /* a tokenizer needs no architecture */
        return vka_fail(VKA_ERR_UNSUPPORTED, "architecture '%s' is not supported (supported: %s)", arch,
                        vka_arch_list());
    }
    vka_status s = vka_hparams_read(m->gguf, m->arch, arch, vka_vocab_size(m->vocab), &m->hp);
    if (s != VKA_OK && m->vocab_only) return VKA_OK; /* vocab-only files may carry partial hparams */
    return s;
}

vka_status vka_model_load(const char *path, const vka_model_params *params, vka_model **out) {
    if (!path || !out) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_model_load: path and out_model are required");
    *out = NULL;
    vka_model_params defaults;
    if (!params) {
        vka_model_params_default(&defaults);
        params = &defaults;
    }
    vka_model *m = calloc(1, sizeof *m);
    if (!m || !(m->path = strdup(path))) {
        free(m);
        return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
    }
    m->vocab_only = params->vocab_only;
    vka_status s = vka_gguf_open(path, &m->gguf);
    if (s != VKA_OK) { /* the reader's message already names the file */
        vka_model_free(m);
        return s;
    }
    s = load_metadata(m);
    if (s == VKA_OK && !m->vocab_only) {
        s = vka_backend_open(params->device, &m->backend);
        if (s == VKA_OK) s = load_weights(m);
    }
    if (s != VKA_OK) {
        vka_model_free(m);
        return vka_fail_context(s, "loading '%s'", path);
    }
    *out = m;
    return VKA_OK;
}

static void free_weight(vka_model *m, vka_tensor *t) {
    if (t && t->nbytes && m->backend) m->backend->ops->tensor_free(m->backend, t);
}

void vka_model_free(vka_model *m) {
    if (!m) return;
    if (m->layers) {
        for (uint32_t il = 0; il < m->hp.n_layer; il++) {
            vka_layer *L = &m->layers[il];
            vka_tensor *all[] = {&L->attn_norm, &L->wq, &L->wk, &L->wv, L->bq, L->bk, L->bv, L->q_norm,
                                 L->k_norm, &L->wo, &L->ffn_norm, &L->w_gate, &L->w_up, &L->w_down};
            for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free_weight(m, all[i]);
        }
        free(m->layers);
    }
    free_weight(m, &m->tok_embd);
    free_weight(m, &m->output_norm);
    free_weight(m, &m->output_own);
    free_weight(m, m->rope_freqs);
    vka_backend_close(m->backend);
    vka_vocab_free(m->vocab);
    vka_gguf_free(m->gguf);
    free(m->arch_name);
    free(m->path);
    free(m);
}

uint64_t vka_model_kv_bytes(const vka_model *m, uint32_t n_ctx, bool f16) {
    const vka_hparams *hp = &m->hp;
    uint64_t per_token = (uint64_t)hp->n_head_kv * (hp->head_dim + hp->head_dim_v) * (f16 ? 2u : 4u);
    return per_token * n_ctx * hp->n_layer;
}
