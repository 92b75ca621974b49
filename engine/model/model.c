/* model.c — loading a GGUF model: architecture, hyperparameters, vocabulary
 * and weights (handed to the backend, which may read them in place). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/kv_pool.h"
#include "model/model.h"
#include "base/status.h"

void vka_model_params_default(vka_model_params *params) {
    memset(params, 0, sizeof *params);
}

/* One expected dimension of a weight and where its size comes from, so that
 * a mismatch names the metadata key (or tokenizer array) to look at. */
typedef struct dim {
    int64_t n;
    const char *from;       /* e.g. "embedding_length"; arch-relative unless it starts with "tokenizer." */
} dim;

static const dim NO_DIM = {0, NULL};

static void describe_dim(const vka_model *m, dim d, char *buf, size_t cap) {
    bool global = strncmp(d.from, "tokenizer.", 10) == 0;
    snprintf(buf, cap, "%" PRId64 " from %s%s%s", d.n, global ? "" : m->arch_name, global ? "" : ".", d.from);
}

static vka_status shape_error(const vka_model *m, const vka_gguf_tensor *gt, const char *name, dim d0, dim d1) {
    char a[160], b[160] = "1";
    describe_dim(m, d0, a, sizeof a);
    if (d1.from) describe_dim(m, d1, b, sizeof b);
    return vka_fail(VKA_ERR_FORMAT, "tensor '%s' has shape [%" PRId64 ", %" PRId64 "] (%u dims), expected [%s, %s]",
                    name, gt->ne[0], gt->ne[1], gt->n_dims, a, b);
}

/* Finds a tensor and checks its shape: d1.from == NULL means a 1-D tensor [d0]. */
static vka_status find_checked(const vka_model *m, const char *name, dim d0, dim d1, const vka_gguf_tensor **out) {
    const vka_gguf_tensor *gt = vka_gguf_find_tensor(m->gguf, name);
    *out = gt;
    if (!gt) return vka_fail(VKA_ERR_FORMAT, "tensor '%s' is missing", name);
    int64_t want1 = d1.from ? d1.n : 1;
    if (gt->n_dims > 2 || gt->ne[0] != d0.n || gt->ne[1] != want1) return shape_error(m, gt, name, d0, d1);
    if (!vka_type_is_supported(gt->type))
        return vka_fail(VKA_ERR_UNSUPPORTED, "tensor '%s' has type %s (%u), which vkagent cannot compute (supported: %s)",
                        name, vka_type_name(gt->type), gt->type, vka_type_supported_list());
    if (!d1.from && gt->type != VKA_TYPE_F32)
        return vka_fail(VKA_ERR_UNSUPPORTED, "tensor '%s' is %s; 1-D tensors (norms, biases) must be f32", name,
                        vka_type_name(gt->type));
    return VKA_OK;
}

/* Rows [row0, row0 + n_rows) of the checked tensor gt as weight t on the
 * backend (all of them, or a part of a fused matrix: phi3's attn_qkv and
 * ffn_up); without a backend (vocab-only loads) nothing. */
static vka_status upload_rows(vka_model *m, vka_tensor *t, const vka_gguf_tensor *gt, int64_t row0, int64_t n_rows) {
    if (!m->backend) return VKA_OK;
    vka_tensor_init(t, gt->name.data, (vka_type)gt->type, gt->ne[0], n_rows, VKA_USAGE_WEIGHT);
    const char *data = (const char *)gt->data + (size_t)row0 * t->row_bytes;
    vka_status s = m->backend->ops->tensor_alloc(m->backend, t, data);
    if (s != VKA_OK) {
        t->nbytes = 0; /* not allocated: nothing to free */
        if (row0 == 0 && n_rows == gt->ne[1]) return vka_fail_context(s, "uploading tensor '%s'", gt->name.data);
        return vka_fail_context(s, "uploading rows %" PRId64 "..%" PRId64 " of tensor '%s'", row0, row0 + n_rows - 1,
                                gt->name.data);
    }
    m->n_params += (uint64_t)(gt->ne[0] * n_rows);
    m->weight_bytes += t->nbytes;
    /* the backend computes from its own copy: the file's pages need not stay resident */
    if (m->backend->ops->weight_is_copied && m->backend->ops->weight_is_copied(m->backend, t))
        vka_gguf_release_pages(m->gguf, data, t->nbytes);
    return VKA_OK;
}

/* Gives tensor t the weights of `name` on the backend; without a backend
 * (vocab-only loads) only checks the tensor against the hyperparameters. */
static vka_status load_weight(vka_model *m, vka_tensor *t, const char *name, dim d0, dim d1) {
    const vka_gguf_tensor *gt;
    VKA_TRY(find_checked(m, name, d0, d1, &gt));
    return upload_rows(m, t, gt, 0, d1.from ? d1.n : 1);
}

/* Loads `name` if the file has it. */
static vka_status load_optional(vka_model *m, vka_tensor *storage, vka_tensor **slot, const char *name, dim d0,
                                dim d1) {
    *slot = NULL;
    if (!vka_gguf_find_tensor(m->gguf, name)) return VKA_OK;
    VKA_TRY(load_weight(m, storage, name, d0, d1));
    *slot = storage;
    return VKA_OK;
}

/* phi3's attn_qkv: output rows Q, then K, then V, loaded as wq, wk, wv. */
static vka_status load_fused_qkv(vka_model *m, vka_layer *L, const char *name, dim embd, dim q, dim k, dim v) {
    const vka_gguf_tensor *gt;
    dim all = {q.n + k.n + v.n, "attention.head_count * key_length + 2 * head_count_kv * key_length"};
    VKA_TRY(find_checked(m, name, embd, all, &gt));
    VKA_TRY(upload_rows(m, &L->wq, gt, 0, q.n));
    VKA_TRY(upload_rows(m, &L->wk, gt, q.n, k.n));
    return upload_rows(m, &L->wv, gt, q.n + k.n, v.n);
}

/* phi3's ffn_up: rows [0, n_ff) the gate, [n_ff, 2 n_ff) the up projection. */
static vka_status load_fused_gate_up(vka_model *m, vka_layer *L, const char *name, dim embd, dim ff) {
    const vka_gguf_tensor *gt;
    VKA_TRY(find_checked(m, name, embd, (dim){2 * ff.n, "2 * feed_forward_length"}, &gt));
    VKA_TRY(upload_rows(m, &L->w_gate, gt, 0, ff.n));
    return upload_rows(m, &L->w_up, gt, ff.n, ff.n);
}

/* A 3-D expert tensor [d0, d1, n_expert] (expert e's matrix is its e-th
 * slab), held as the 2-D matrix of its d1 * n_expert rows. */
static vka_status load_expert_tensor(vka_model *m, vka_tensor *t, const char *name, dim d0, dim d1) {
    const vka_gguf_tensor *gt = vka_gguf_find_tensor(m->gguf, name);
    if (!gt) return vka_fail(VKA_ERR_FORMAT, "tensor '%s' is missing", name);
    int64_t n_expert = m->hp.n_expert;
    if (gt->n_dims != 3 || gt->ne[0] != d0.n || gt->ne[1] != d1.n || gt->ne[2] != n_expert)
        return vka_fail(VKA_ERR_FORMAT, "tensor '%s' has shape [%" PRId64 ", %" PRId64 ", %" PRId64 "] (%u dims), "
                        "expected [%" PRId64 " from %s.%s, %" PRId64 " from %s.%s, %" PRId64 " from %s.expert_count]",
                        name, gt->ne[0], gt->ne[1], gt->ne[2], gt->n_dims, d0.n, m->arch_name, d0.from, d1.n,
                        m->arch_name, d1.from, n_expert, m->arch_name);
    if (!vka_type_is_supported(gt->type))
        return vka_fail(VKA_ERR_UNSUPPORTED, "tensor '%s' has type %s (%u), which vkagent cannot compute (supported: %s)",
                        name, vka_type_name(gt->type), gt->type, vka_type_supported_list());
    return upload_rows(m, t, gt, 0, d1.n * n_expert);
}

/* Old converters wrote Mixtral's experts as one 2-D tensor per expert,
 * blk.N.ffn_KIND.E.weight (E = 0 .. n_expert-1). They are stacked into the
 * 3-D layout: read in place when the file holds them back to back in expert
 * order, else copied into a buffer the layer owns (*owned), kept while the
 * backend reads the weights from it (freed at once when it copies them). */
static vka_status load_legacy_experts(vka_model *m, vka_tensor *t, void **owned, uint32_t il, const char *kind,
                                      dim d0, dim d1) {
    uint32_t n_expert = m->hp.n_expert;
    const vka_gguf_tensor *first = NULL, *gt;
    size_t bytes = 0;
    bool in_place = true;
    char name[96];
    for (uint32_t e = 0; e < n_expert; e++) {
        snprintf(name, sizeof name, "blk.%u.ffn_%s.%u.weight", il, kind, e);
        VKA_TRY(find_checked(m, name, d0, d1, &gt));
        if (!first) {
            first = gt;
            bytes = vka_type_row_size((vka_type)gt->type, d0.n) * (size_t)d1.n;
        } else if (gt->type != first->type) {
            return vka_fail(VKA_ERR_UNSUPPORTED, "tensor '%s' is %s but '%s' is %s: the experts of one matrix must "
                            "share a type", name, vka_type_name(gt->type), first->name.data,
                            vka_type_name(first->type));
        }
        in_place &= (const char *)gt->data == (const char *)first->data + e * bytes;
    }
    vka_gguf_tensor stacked = *first; /* named after expert 0's tensor in messages */
    stacked.ne[1] = d1.n * n_expert;
    stacked.nbytes = bytes * n_expert;
    if (!in_place && m->backend) {
        char *buf = malloc(stacked.nbytes);
        if (!buf) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory stacking the experts of blk.%u.ffn_%s", il, kind);
        *owned = buf;
        for (uint32_t e = 0; e < n_expert; e++) {
            snprintf(name, sizeof name, "blk.%u.ffn_%s.%u.weight", il, kind, e);
            memcpy(buf + e * bytes, vka_gguf_find_tensor(m->gguf, name)->data, bytes);
        }
        stacked.data = buf;
    }
    VKA_TRY(upload_rows(m, t, &stacked, 0, stacked.ne[1]));
    if (*owned && m->backend->ops->weight_is_copied && m->backend->ops->weight_is_copied(m->backend, t)) {
        free(*owned);
        *owned = NULL;
    }
    return VKA_OK;
}

/* Expert matrix KIND (gate, up, down) of layer il: the 3-D ffn_KIND_exps
 * tensor, or the legacy per-expert tensors when only those are there. */
static vka_status load_expert_matrix(vka_model *m, vka_tensor *t, void **owned, uint32_t il, const char *kind,
                                     dim d0, dim d1) {
    char name[96], legacy[96];
    snprintf(name, sizeof name, "blk.%u.ffn_%s_exps.weight", il, kind);
    snprintf(legacy, sizeof legacy, "blk.%u.ffn_%s.0.weight", il, kind);
    if (!vka_gguf_find_tensor(m->gguf, name) && vka_gguf_find_tensor(m->gguf, legacy))
        return load_legacy_experts(m, t, owned, il, kind, d0, d1);
    return load_expert_tensor(m, t, name, d0, d1);
}

/* The router and the experts' gate, up and down matrices of layer il. */
static vka_status load_experts(vka_model *m, uint32_t il) {
    const vka_hparams *hp = &m->hp;
    vka_layer *L = &m->layers[il];
    dim embd = {hp->n_embd, "embedding_length"};
    dim experts = {hp->n_expert, "expert_count"};
    dim ff = {hp->n_ff_exp, "expert_feed_forward_length"};
    char name[96];
    snprintf(name, sizeof name, "blk.%u.ffn_gate_inp.weight", il);
    VKA_TRY(load_weight(m, &L->ffn_gate_inp, name, embd, experts));
    VKA_TRY(load_expert_matrix(m, &L->gate_exps, &L->stacked_exps[0], il, "gate", embd, ff));
    VKA_TRY(load_expert_matrix(m, &L->up_exps, &L->stacked_exps[1], il, "up", embd, ff));
    return load_expert_matrix(m, &L->down_exps, &L->stacked_exps[2], il, "down", ff, embd);
}

static vka_status load_layer(vka_model *m, uint32_t il) {
    const vka_hparams *hp = &m->hp;
    vka_layer *L = &m->layers[il];
    dim embd = {hp->n_embd, "embedding_length"};
    dim q = {(int64_t)hp->n_head * hp->head_dim, "attention.head_count * key_length"};
    dim k = {(int64_t)hp->n_head_kv * hp->head_dim, "attention.head_count_kv * key_length"};
    dim v = {(int64_t)hp->n_head_kv * hp->head_dim_v, "attention.head_count_kv * value_length"};
    dim o = {(int64_t)hp->n_head * hp->head_dim_v, "attention.head_count * value_length"};
    dim head = {hp->head_dim, "attention.key_length"};
    dim ff = {hp->n_ff, "feed_forward_length"};
    char name[96];
#define NAME(suffix) (snprintf(name, sizeof name, "blk.%u." suffix, il), name)
    VKA_TRY(load_weight(m, &L->attn_norm, NAME("attn_norm.weight"), embd, NO_DIM));
    if (hp->fused_weights) {
        VKA_TRY(load_fused_qkv(m, L, NAME("attn_qkv.weight"), embd, q, k, v));
    } else {
        VKA_TRY(load_weight(m, &L->wq, NAME("attn_q.weight"), embd, q));
        VKA_TRY(load_weight(m, &L->wk, NAME("attn_k.weight"), embd, k));
        VKA_TRY(load_weight(m, &L->wv, NAME("attn_v.weight"), embd, v));
    }
    VKA_TRY(load_optional(m, &L->biases[0], &L->bq, NAME("attn_q.bias"), q, NO_DIM));
    VKA_TRY(load_optional(m, &L->biases[1], &L->bk, NAME("attn_k.bias"), k, NO_DIM));
    VKA_TRY(load_optional(m, &L->biases[2], &L->bv, NAME("attn_v.bias"), v, NO_DIM));
    VKA_TRY(load_optional(m, &L->norms[0], &L->q_norm, NAME("attn_q_norm.weight"), head, NO_DIM));
    VKA_TRY(load_optional(m, &L->norms[1], &L->k_norm, NAME("attn_k_norm.weight"), head, NO_DIM));
    if (m->arch->qk_norm && (!L->q_norm || !L->k_norm))
        return vka_fail(VKA_ERR_FORMAT, "architecture %s needs blk.%u.attn_q_norm/attn_k_norm tensors", m->arch->name, il);
    VKA_TRY(load_weight(m, &L->wo, NAME("attn_output.weight"), o, embd));
    VKA_TRY(load_weight(m, &L->ffn_norm, NAME("ffn_norm.weight"), embd, NO_DIM));
    if (hp->gemma_block) {
        VKA_TRY(load_weight(m, &L->post_attn_norm, NAME("post_attention_norm.weight"), embd, NO_DIM));
        VKA_TRY(load_weight(m, &L->post_ffn_norm, NAME("post_ffw_norm.weight"), embd, NO_DIM));
    }
    if (hp->n_expert) {
        VKA_TRY(load_experts(m, il));
    } else if (hp->fused_weights) {
        VKA_TRY(load_fused_gate_up(m, L, NAME("ffn_up.weight"), embd, ff));
        VKA_TRY(load_weight(m, &L->w_down, NAME("ffn_down.weight"), ff, embd));
    } else {
        VKA_TRY(load_weight(m, &L->w_gate, NAME("ffn_gate.weight"), embd, ff));
        VKA_TRY(load_weight(m, &L->w_up, NAME("ffn_up.weight"), embd, ff));
        VKA_TRY(load_weight(m, &L->w_down, NAME("ffn_down.weight"), ff, embd));
    }
#undef NAME
    return VKA_OK;
}

/* Tells the caller's progress callback (if any) how far the load is; a
 * false from it cancels the load. */
static vka_status report_progress(const vka_model_params *p, uint32_t done, uint32_t total) {
    if (!p || !p->progress) return VKA_OK;
    if (p->progress((float)done / (float)total, p->progress_user)) return VKA_OK;
    return vka_fail(VKA_ERR_CANCELLED, "the load was cancelled by the progress callback");
}

/* Loads the weights onto m->backend, or, without one, checks their shapes;
 * progress (may be NULL) is told after the embeddings and each layer. */
static vka_status load_weights(vka_model *m, const vka_model_params *progress) {
    const vka_hparams *hp = &m->hp;
    dim embd = {hp->n_embd, "embedding_length"};
    dim vocab = {hp->n_vocab, "tokenizer.ggml.tokens"};
    VKA_TRY(load_weight(m, &m->tok_embd, "token_embd.weight", embd, vocab));
    m->layers = calloc(hp->n_layer, sizeof *m->layers);
    if (!m->layers) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory for %u layers", hp->n_layer);
    uint32_t steps = hp->n_layer + 2;
    VKA_TRY(report_progress(progress, 1, steps));
    for (uint32_t il = 0; il < hp->n_layer; il++) {
        VKA_TRY(load_layer(m, il));
        VKA_TRY(report_progress(progress, il + 2, steps));
    }
    VKA_TRY(load_weight(m, &m->output_norm, "output_norm.weight", embd, NO_DIM));
    vka_tensor *own = NULL;
    VKA_TRY(load_optional(m, &m->output_own, &own, "output.weight", embd, vocab));
    m->output = own ? own : &m->tok_embd; /* tied embeddings when there is no output.weight */
    dim rot = {hp->n_rot / 2, "rope.dimension_count / 2"};
    VKA_TRY(load_optional(m, &m->rope_freqs_own, &m->rope_freqs, "rope_freqs.weight", rot, NO_DIM));
    if (hp->fused_weights && !m->rope_freqs) { /* phi3: the short factors, and the long ones for long contexts */
        VKA_TRY(load_optional(m, &m->rope_freqs_own, &m->rope_freqs, "rope_factors_short.weight", rot, NO_DIM));
        VKA_TRY(load_optional(m, &m->rope_long_own, &m->rope_freqs_long, "rope_factors_long.weight", rot, NO_DIM));
    }
    return report_progress(progress, steps, steps);
}

/* A vocab-only load of a file with tensors checks them without loading them. */
static vka_status check_weights(vka_model *m) {
    vka_status s = load_weights(m, NULL);
    free(m->layers);
    m->layers = NULL;
    m->output = NULL;
    m->rope_freqs = NULL;
    m->rope_freqs_long = NULL;
    return s;
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
    /* A vocab-only file (no tensors) may carry partial hyperparameters; values
     * that are there must still be valid, since commands print and use them. */
    if (m->vocab_only && m->gguf->n_tensors == 0 && !vka_hparams_present(m->gguf, arch)) return VKA_OK;
    VKA_TRY(vka_hparams_read(m->gguf, m->arch, arch, vka_vocab_size(m->vocab), &m->hp));
    if (m->vocab_only && m->gguf->n_tensors > 0) return check_weights(m);
    return VKA_OK;
}

/* Everything after the GGUF is open; m->gguf is set. */
/* A file of tokenizer metadata alone (such as the vocab-only fixtures) cannot
 * run: say what it is good for rather than name the first missing tensor. */
static vka_status refuse_vocab_file(const vka_model *m) {
    if (m->gguf->n_tensors > 0 || !vka_gguf_find(m->gguf, "tokenizer.ggml.tokens")) return VKA_OK;
    return vka_fail(VKA_ERR_INVALID_ARGUMENT, "this file holds only a vocabulary (no weights), so it cannot generate; "
                    "load it vocab-only to tokenize and render chat templates (vkagent tokenize, template, info)");
}

static vka_status load_model(vka_model *m, const vka_model_params *params) {
    m->vocab_only = params->vocab_only;
    if (!m->vocab_only) VKA_TRY(refuse_vocab_file(m));
    vka_status s = report_progress(params, 0, 1);
    if (s == VKA_OK) s = load_metadata(m);
    if (s == VKA_OK && !m->vocab_only) {
        s = vka_backend_open_threads(params->device, params->n_threads, &m->backend);
        if (s == VKA_OK) s = load_weights(m, params);
    } else if (s == VKA_OK) {
        s = report_progress(params, 1, 1);
    }
    return s;
}

static vka_model *model_new(const char *path) {
    vka_model *m = calloc(1, sizeof *m);
    if (!m || !(m->path = strdup(path))) {
        free(m);
        return NULL;
    }
    atomic_init(&m->refs, 1);
    return m;
}

vka_status vka_model_load(const char *path, const vka_model_params *params, vka_model **out) {
    if (!path || !out) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_model_load: path and out_model are required");
    *out = NULL;
    vka_model_params defaults;
    if (!params) {
        vka_model_params_default(&defaults);
        params = &defaults;
    }
    vka_model *m = model_new(path);
    if (!m) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
    vka_status s = vka_gguf_open(path, &m->gguf);
    if (s != VKA_OK) { /* the reader's message already names the file */
        vka_model_free(m);
        return s;
    }
    s = load_model(m, params);
    if (s != VKA_OK) {
        vka_model_free(m);
        return vka_fail_context(s, "loading '%s'", path);
    }
    *out = m;
    return VKA_OK;
}

vka_status vka_model_load_memory(const void *data, size_t size, const char *name, const vka_model_params *params,
                                 vka_model **out) {
    if (!name || !params || !out) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_model_load_memory: NULL argument");
    *out = NULL;
    vka_model *m = model_new(name);
    if (!m) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
    vka_status s = vka_gguf_open_memory(data, size, &m->gguf);
    if (s == VKA_OK) s = load_model(m, params);
    if (s != VKA_OK) {
        vka_model_free(m);
        return vka_fail_context(s, "loading '%s'", name);
    }
    *out = m;
    return VKA_OK;
}

static void free_weight(vka_model *m, vka_tensor *t) {
    if (t && t->nbytes && m->backend) m->backend->ops->tensor_free(m->backend, t);
}

void vka_model_retain(vka_model *m) { atomic_fetch_add(&m->refs, 1); }

static void model_destroy(vka_model *m) {
    if (m->layers) {
        for (uint32_t il = 0; il < m->hp.n_layer; il++) {
            vka_layer *L = &m->layers[il];
            vka_tensor *all[] = {&L->attn_norm, &L->wq, &L->wk, &L->wv, L->bq, L->bk, L->bv, L->q_norm,
                                 L->k_norm, &L->wo, &L->ffn_norm, &L->w_gate, &L->w_up, &L->w_down,
                                 &L->ffn_gate_inp, &L->gate_exps, &L->up_exps, &L->down_exps,
                                 &L->post_attn_norm, &L->post_ffn_norm};
            for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free_weight(m, all[i]);
            for (size_t i = 0; i < 3; i++) free(L->stacked_exps[i]); /* after the weights reading them */
        }
        free(m->layers);
    }
    free_weight(m, &m->tok_embd);
    free_weight(m, &m->output_norm);
    free_weight(m, &m->output_own);
    free_weight(m, m->rope_freqs);
    free_weight(m, m->rope_freqs_long);
    vka_backend_close(m->backend);
    vka_vocab_free(m->vocab);
    vka_gguf_free(m->gguf);
    free(m->arch_name);
    free(m->path);
    free(m);
}

/* Sessions on other threads may release at the same time: the one that
 * takes the count to zero frees. */
void vka_model_release(vka_model *m) {
    if (m && atomic_fetch_sub(&m->refs, 1) == 1) model_destroy(m);
}

void vka_model_free(vka_model *m) { vka_model_release(m); }

uint64_t vka_model_kv_bytes(const vka_model *m, uint32_t n_ctx, bool f16) {
    const vka_hparams *hp = &m->hp;
    uint64_t per_row = (uint64_t)hp->n_head_kv * (hp->head_dim + hp->head_dim_v) * (f16 ? 2u : 4u), rows = 0;
    /* a session's private pool: its sliding layers hold a window and a default batch (512) */
    uint32_t n_blocks = (uint32_t)(((uint64_t)n_ctx + VKA_KV_BLOCK - 1) / VKA_KV_BLOCK);
    uint64_t swa_rows = (uint64_t)vka_kv_swa_blocks_for(m, n_blocks, 512, 1) * VKA_KV_BLOCK;
    for (uint32_t il = 0; il < hp->n_layer; il++)
        rows += swa_rows && vka_hparams_layer_swa(hp, il) ? swa_rows : n_ctx;
    return per_row * rows;
}
