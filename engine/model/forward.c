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

static void rope(vka_forward_graph *fg, const vka_model *m, vka_tensor *heads, uint32_t n_heads, vka_tensor *layout) {
    vka_rope_params p = {
        .mode = m->arch->rope_mode,
        .n_heads = n_heads,
        .n_rot = m->hp.n_rot,
        .freq_base = m->hp.rope_base,
        .freq_scale = m->hp.rope_scale,
    };
    node(fg, &(vka_node){.op = VKA_OP_ROPE, .dst = heads, .src = {heads, m->rope_freqs}, .p.rope = p,
                         .layout = layout});
}

static void attention_block(vka_forward_graph *fg, vka_scheduler *sc, uint32_t il, uint32_t n) {
    vka_model *m = sc->model;
    const vka_hparams *hp = &m->hp;
    vka_layer *L = &m->layers[il];
    vka_activations *a = &sc->act;
    vka_tensor *kc = &sc->pool.k[il], *vc = &sc->pool.v[il];
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
    rope(fg, m, q_heads, hp->n_head, &a->layout);
    rope(fg, m, k_heads, hp->n_head_kv, &a->layout);
    node(fg, &(vka_node){.op = VKA_OP_KV_STORE, .dst = kc, .src = {k}, .layout = &a->layout});
    node(fg, &(vka_node){.op = VKA_OP_KV_STORE, .dst = vc, .src = {v}, .layout = &a->layout});
    vka_attention_params ap = {
        .n_head = hp->n_head,
        .n_head_kv = hp->n_head_kv,
        .head_dim = hp->head_dim,
        .head_dim_v = hp->head_dim_v,
        .scale = 1.0f / sqrtf((float)hp->head_dim),
    };
    node(fg, &(vka_node){.op = VKA_OP_ATTENTION, .dst = att, .src = {q, kc, vc}, .p.attn = ap,
                         .layout = &a->layout});
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
    node(fg, &(vka_node){.op = VKA_OP_SWIGLU, .dst = gate, .src = {gate, up}});
    matmul(fg, x, &L->w_down, gate, NULL, true); /* residual: x += Wdown·(silu(gate)·up) */
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
    for (uint32_t il = 0; il < m->hp.n_layer; il++) {
        attention_block(fg, sc, il, n);
        ffn_block(fg, sc, il, n);
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
