/* forward.c — the transformer forward pass, written once for every
 * architecture and backend as a graph of backend ops. One step takes the
 * tokens in act.ids (of any sequences: act.layout says where each sits in
 * the paged KV pool) and leaves the logits of the rows act.out_ids names
 * (and their argmax) in act.logits. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/scheduler.h"
#include "base/status.h"

/* A view of the first n rows of a per-token buffer, optionally re-shaped to
 * rows of ne0 elements (e.g. q as one row per head). */
static vka_tensor *view(vka_forward_graph *fg, vka_tensor *t, int64_t row, int64_t n, int64_t ne0) {
    if (fg->n_views == fg->cap_views) {
        fg->status = vka_fail(VKA_ERR_INTERNAL, "forward graph ran out of views");
        return t;
    }
    vka_tensor *v = &fg->views[fg->n_views++];
    vka_tensor_view(v, t, row, n, ne0 ? ne0 : t->ne[0]);
    return v;
}

static void node(vka_forward_graph *fg, const vka_node *n) {
    if (fg->status == VKA_OK) fg->status = vka_graph_add(&fg->graph, n);
}

static void rms_norm(vka_forward_graph *fg, vka_tensor *dst, vka_tensor *x, vka_tensor *w, float eps) {
    node(fg, &(vka_node){.op = VKA_OP_RMS_NORM, .dst = dst, .src = {x, w}, .p.eps = eps});
}

/* dst = w·x (+ bias), or dst += w·x when accumulate */
static void matmul(vka_forward_graph *fg, vka_tensor *dst, vka_tensor *w, vka_tensor *x, vka_tensor *bias,
                   bool accumulate) {
    node(fg, &(vka_node){.op = VKA_OP_MATMUL, .dst = dst, .src = {w, x, bias}, .p.accumulate = accumulate});
}

vka_tensor *vka_forward_rope_factors(const vka_scheduler *sc) {
    const vka_model *m = sc->model;
    if (!m->rope_freqs_long) return m->rope_freqs;
    /* phi3 (as llama.cpp): the long factors when a sequence's context exceeds the original one */
    uint32_t n_ctx_seq = sc->private_to_session ? sc->pool.n_blocks * VKA_KV_BLOCK : vka_session_default_n_ctx(m);
    return n_ctx_seq > m->hp.n_ctx_orig ? m->rope_freqs_long : m->rope_freqs;
}

static void rope(vka_forward_graph *fg, const vka_scheduler *sc, uint32_t il, vka_tensor *heads, uint32_t n_heads,
                 vka_tensor *layout) {
    const vka_model *m = sc->model;
    vka_rope_params p = {
        .mode = m->arch->rope_mode, .n_heads = n_heads, .n_rot = m->hp.n_rot, .attn_factor = m->hp.rope_attn_factor};
    vka_hparams_layer_rope(&m->hp, il, &p.freq_base, &p.freq_scale);
    node(fg, &(vka_node){.op = VKA_OP_ROPE, .dst = heads, .src = {heads, vka_forward_rope_factors(sc)}, .p.rope = p,
                         .layout = layout});
}

/* gemma's post-norms: x += rms(out)·w, out being a [n_embd, n] sub-block output (overwritten). */
static void add_normed(vka_forward_graph *fg, vka_tensor *x, vka_tensor *out, vka_tensor *w, float eps) {
    rms_norm(fg, out, out, w, eps);
    node(fg, &(vka_node){.op = VKA_OP_ADD, .dst = x, .src = {x, out}});
}

static void attention_block(vka_forward_graph *fg, vka_scheduler *sc, uint32_t il, uint32_t n) {
    vka_model *m = sc->model;
    const vka_hparams *hp = &m->hp;
    vka_layer *L = &m->layers[il];
    vka_activations *a = &sc->act;
    vka_tensor *kc = &sc->pool.k[il], *vc = &sc->pool.v[il];
    /* a sliding layer's cache rows may be in a block space of their own */
    vka_tensor *kv_layout = vka_kv_layer_swa(&sc->pool, il) ? &a->layout_swa : &a->layout;
    vka_tensor *x = view(fg, &a->x, 0, n, 0), *xb = view(fg, &a->xb, 0, n, 0);
    vka_tensor *q = view(fg, &a->q, 0, n, 0), *k = view(fg, &a->k, 0, n, 0), *v = view(fg, &a->v, 0, n, 0);
    vka_tensor *q_heads = view(fg, &a->q, 0, n, hp->head_dim), *k_heads = view(fg, &a->k, 0, n, hp->head_dim);
    vka_tensor *att = view(fg, &a->att, 0, n, 0);

    rms_norm(fg, xb, x, &L->attn_norm, hp->rms_eps);
    matmul(fg, q, &L->wq, xb, L->bq, false);
    matmul(fg, k, &L->wk, xb, L->bk, false);
    matmul(fg, v, &L->wv, xb, L->bv, false);
    if (m->arch->qk_norm) { /* qwen3: each head normed on its own before RoPE */
        rms_norm(fg, q_heads, q_heads, L->q_norm, hp->rms_eps);
        rms_norm(fg, k_heads, k_heads, L->k_norm, hp->rms_eps);
    }
    rope(fg, sc, il, q_heads, hp->n_head, &a->layout);
    rope(fg, sc, il, k_heads, hp->n_head_kv, &a->layout);
    node(fg, &(vka_node){.op = VKA_OP_KV_STORE, .dst = kc, .src = {k}, .layout = kv_layout});
    node(fg, &(vka_node){.op = VKA_OP_KV_STORE, .dst = vc, .src = {v}, .layout = kv_layout});
    vka_attention_params ap = {
        .n_head = hp->n_head,
        .n_head_kv = hp->n_head_kv,
        .head_dim = hp->head_dim,
        .head_dim_v = hp->head_dim_v,
        .scale = hp->attn_scale, /* RoPE's attention factor is in q and k's rotated dimensions already */
        .softcap = hp->attn_softcap,
        .window = vka_hparams_layer_swa(hp, il) ? hp->swa_window : 0,
    };
    node(fg, &(vka_node){.op = VKA_OP_ATTENTION, .dst = att, .src = {q, kc, vc}, .p.attn = ap,
                         .layout = kv_layout});
    if (hp->gemma_block) { /* x += rms(Wo·att)·post_attention_norm */
        matmul(fg, xb, &L->wo, att, NULL, false);
        add_normed(fg, x, xb, &L->post_attn_norm, hp->rms_eps);
        return;
    }
    matmul(fg, x, &L->wo, att, NULL, true); /* residual: x += Wo·att */
}

static void ffn_block(vka_forward_graph *fg, vka_scheduler *sc, uint32_t il, uint32_t n) {
    const vka_hparams *hp = &sc->model->hp;
    vka_layer *L = &sc->model->layers[il];
    vka_activations *a = &sc->act;
    vka_tensor *x = view(fg, &a->x, 0, n, 0), *xb = view(fg, &a->xb, 0, n, 0);
    vka_tensor *gate = view(fg, &a->gate, 0, n, 0), *up = view(fg, &a->up, 0, n, 0);

    rms_norm(fg, xb, x, &L->ffn_norm, hp->rms_eps);
    matmul(fg, gate, &L->w_gate, xb, NULL, false);
    matmul(fg, up, &L->w_up, xb, NULL, false);
    if (hp->gemma_block) { /* x += rms(Wdown·(gelu(gate)·up))·post_ffw_norm */
        node(fg, &(vka_node){.op = VKA_OP_GEGLU, .dst = gate, .src = {gate, up}});
        matmul(fg, xb, &L->w_down, gate, NULL, false);
        add_normed(fg, x, xb, &L->post_ffn_norm, hp->rms_eps);
        return;
    }
    node(fg, &(vka_node){.op = VKA_OP_SWIGLU, .dst = gate, .src = {gate, up}});
    matmul(fg, x, &L->w_down, gate, NULL, true); /* residual: x += Wdown·(silu(gate)·up) */
}

/* Mixture of experts: the router picks k experts per token and weighs
 * them; each chosen expert is a SwiGLU FFN of its own (rows t*k + s of the
 * moe buffers), and x += the weighted sum of their outputs. */
static void moe_block(vka_forward_graph *fg, vka_scheduler *sc, uint32_t il, uint32_t n) {
    const vka_hparams *hp = &sc->model->hp;
    vka_layer *L = &sc->model->layers[il];
    vka_activations *a = &sc->act;
    uint32_t k = hp->n_expert_used;
    vka_tensor *x = view(fg, &a->x, 0, n, 0), *xb = view(fg, &a->xb, 0, n, 0);
    vka_tensor *router = view(fg, &a->router, 0, n, 0), *route = view(fg, &a->route, 0, n, 0);
    vka_tensor *gate = view(fg, &a->moe_gate, 0, (int64_t)n * k, 0), *up = view(fg, &a->moe_up, 0, (int64_t)n * k, 0);
    vka_tensor *down = view(fg, &a->moe_down, 0, (int64_t)n * k, 0);
    vka_moe_params shared = {.n_used = k}, per_slot = {.n_used = k, .per_slot = true};

    rms_norm(fg, xb, x, &L->ffn_norm, hp->rms_eps);
    matmul(fg, router, &L->ffn_gate_inp, xb, NULL, false);
    node(fg, &(vka_node){.op = VKA_OP_MOE_ROUTE, .dst = route, .src = {router},
                         .p.moe = {.n_used = k, .norm = hp->expert_norm}});
    node(fg, &(vka_node){.op = VKA_OP_MATMUL_ID, .dst = gate, .src = {&L->gate_exps, xb, route}, .p.moe = shared});
    node(fg, &(vka_node){.op = VKA_OP_MATMUL_ID, .dst = up, .src = {&L->up_exps, xb, route}, .p.moe = shared});
    node(fg, &(vka_node){.op = VKA_OP_SWIGLU, .dst = gate, .src = {gate, up}});
    node(fg, &(vka_node){.op = VKA_OP_MATMUL_ID, .dst = down, .src = {&L->down_exps, gate, route}, .p.moe = per_slot});
    node(fg, &(vka_node){.op = VKA_OP_MOE_SUM, .dst = x, .src = {down, route}, .p.moe = shared});
}

/* Final norm and vocabulary projection for the n_out rows act.out_ids picks
 * (the rows whose next token is wanted: one per sequence, or every row). */
static void output_block(vka_forward_graph *fg, vka_scheduler *sc, uint32_t n, uint32_t n_out) {
    vka_model *m = sc->model;
    vka_activations *a = &sc->act;
    vka_tensor *x = view(fg, &a->x, 0, n, 0), *xb = view(fg, &a->xb, 0, n_out, 0);
    vka_tensor *rows = view(fg, &a->out_ids, 0, n_out, 1);
    vka_tensor *logits = view(fg, &a->logits, 0, n_out, 0), *argmax = view(fg, &a->argmax, 0, n_out, 1);

    node(fg, &(vka_node){.op = VKA_OP_GET_ROWS, .dst = xb, .src = {x, rows}});
    rms_norm(fg, xb, xb, &m->output_norm, m->hp.rms_eps);
    matmul(fg, logits, m->output, xb, NULL, false);
    if (m->hp.final_softcap > 0.0f)
        node(fg, &(vka_node){.op = VKA_OP_SOFTCAP, .dst = logits, .src = {logits}, .p.cap = m->hp.final_softcap});
    node(fg, &(vka_node){.op = VKA_OP_ARGMAX, .dst = argmax, .src = {logits}});
}

vka_status vka_forward_build(vka_scheduler *sc, uint32_t n, uint32_t n_out, vka_forward_graph *fg) {
    vka_model *m = sc->model;
    memset(fg, 0, sizeof *fg);
    fg->cap_views = 16 * m->hp.n_layer + 16;
    fg->views = calloc(fg->cap_views, sizeof *fg->views);
    if (!fg->views) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory building the forward graph");
    vka_graph_init(&fg->graph, n);
    fg->n_tokens = n;
    fg->n_out = n_out;

    vka_tensor *ids = view(fg, &sc->act.ids, 0, n, 1), *x = view(fg, &sc->act.x, 0, n, 0);
    node(fg, &(vka_node){.op = VKA_OP_GET_ROWS, .dst = x, .src = {&m->tok_embd, ids}});
    if (m->hp.embd_scale != 1.0f) /* gemma: embeddings times sqrt(n_embd) */
        node(fg, &(vka_node){.op = VKA_OP_SCALE, .dst = x, .src = {x}, .p.scale = m->hp.embd_scale});
    for (uint32_t il = 0; il < m->hp.n_layer; il++) {
        attention_block(fg, sc, il, n);
        if (m->hp.n_expert) moe_block(fg, sc, il, n);
        else ffn_block(fg, sc, il, n);
    }
    if (n_out) output_block(fg, sc, n, n_out);

    if (fg->status != VKA_OK) {
        vka_status st = fg->status;
        vka_forward_graph_free(fg);
        return st;
    }
    fg->built = true;
    return VKA_OK;
}

void vka_forward_graph_free(vka_forward_graph *fg) {
    vka_graph_free(&fg->graph);
    free(fg->views);
    memset(fg, 0, sizeof *fg);
}
