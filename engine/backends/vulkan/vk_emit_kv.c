/* vk_emit_kv.c — recording the ops that find each token's position and its
 * cache rows: RoPE, KV store and attention. Without a layout token t sits at
 * n_past + t (the step's parameter buffer, binding 4); with one (backend.h,
 * "Paged KV caches") the node's layout tensor takes binding 4 and the
 * shaders read positions and block tables from it (shaders/paged.glsl). */
#include <stdio.h>
#include <string.h>

#include "backends/vulkan/vk_record.h"
#include "backends/vulkan/vk_rope.h"

/* Binds what the node's shaders read at binding 4 (the step parameters, or
 * the layout of a node that has one) and gives the layout's word offset and
 * length (0: contiguous). */
static vka_status bind_positions(rec *r, const vka_node *n, uint32_t tokens, vk_dispatch *d, uint32_t lay[2]) {
    lay[0] = lay[1] = 0;
    if (!n->layout) {
        d->bind[4] = vk_bind_alloc(&r->gs->params, 16);
        return VKA_OK;
    }
    const vka_tensor *l = n->layout;
    if (l->type != VKA_TYPE_I32 || l->ne[0] < 2 * (int64_t)tokens || l->ne[0] > UINT32_MAX)
        return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vulkan: the layout '%s' must be an I32 row of at least %u words "
                        "(2 per token and the block tables)", l->name ? l->name : "?", 2 * tokens);
    VKA_TRY(vk_bind_plain(l, 4, &d->bind[4], &lay[0]));
    lay[1] = (uint32_t)l->ne[0];
    return VKA_OK;
}

/* The layout's storage in a NULL-terminated list of reads (nothing but the host writes it). */
static const void *layout_storage(const vka_node *n) { return n->layout ? vk_storage_of(n->layout) : NULL; }

/* The graph keeps one reference per distinct RoPE table it uses. */
static vka_status hold_rope(vk_graph_state *gs, vk_backend *vb, vk_rope_table *tab) {
    for (uint32_t i = 0; i < gs->n_ropes; i++)
        if (gs->ropes[i] == tab) {
            vk_rope_release(vb, tab);
            return VKA_OK;
        }
    if (gs->n_ropes == sizeof gs->ropes / sizeof gs->ropes[0]) {
        vk_rope_release(vb, tab);
        return vka_fail(VKA_ERR_UNSUPPORTED, "vulkan: more than %u RoPE configurations in one graph",
                        (unsigned)(sizeof gs->ropes / sizeof gs->ropes[0]));
    }
    gs->ropes[gs->n_ropes++] = tab;
    return VKA_OK;
}

vka_status vk_emit_rope(rec *r, const vka_node *n) {
    const vka_rope_params *rp = &n->p.rope;
    const vka_tensor *x = n->src[0];
    if (rp->n_rot == 0 || rp->n_rot % 2 || rp->n_rot > x->ne[0] || rp->n_heads == 0)
        return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vulkan: rope with n_rot %u on rows of %lld", rp->n_rot,
                        (long long)x->ne[0]);
    vk_graph_state *gs = r->gs;
    vk_rope_table *tab = NULL;
    VKA_TRY(vk_rope_acquire(r->vb, rp, n->src[1] ? vk_storage_of(n->src[1]) : NULL, (uint32_t)gs->pos_limit, &tab));
    VKA_TRY(hold_rope(gs, r->vb, tab));
    vk_dispatch d = {0};
    uint32_t x_off, lay[2];
    uint32_t rows = (uint32_t)x->ne[1];
    VKA_TRY(vk_bind_plain(x, 4, &d.bind[0], &x_off));
    VKA_TRY(bind_positions(r, n, vk_div_up(rows, rp->n_heads), &d, lay));
    d.bind[1] = vk_bind_alloc(&tab->alloc, (VkDeviceSize)tab->n_pos * rp->n_rot * sizeof(float));
    uint32_t pc[10] = {rows, rp->n_heads, (uint32_t)x->ne[0], rp->n_rot, rp->mode == VKA_ROPE_NEOX, x_off, 0,
                       tab->n_pos, lay[0], lay[1]};
    vk_set_push(&d, pc, sizeof pc);
    uint32_t wg = 64;
    VKA_TRY(vk_rec_pipeline(r, "rope", &wg, 1, false, &d));
    VKA_TRY(vk_set_groups(&d, vk_div_up((uint64_t)rows * (rp->n_rot / 2), wg), 1));
    const void *reads[] = {vk_storage_of(x), layout_storage(n), NULL}, *writes[] = {vk_storage_of(x), NULL};
    return vk_push_dispatch(r, &d, reads, writes);
}

static const char *kv_variant(const vk_backend *vb, vka_type t) {
    if (t == VKA_TYPE_F32) return "f32";
    if (t == VKA_TYPE_F16) return vb->desc.enabled.storage16 ? "f16s" : "f16p";
    return NULL;
}

vka_status vk_emit_kv_store(rec *r, const vka_node *n) {
    const vka_tensor *cache = n->dst, *src = n->src[0];
    const char *kv = kv_variant(r->vb, cache->type);
    if (!kv) return vka_fail(VKA_ERR_UNSUPPORTED, "vulkan: KV cache of type %s", vka_type_name(cache->type));
    if (cache->ne[0] != src->ne[0]) return vka_fail(VKA_ERR_INTERNAL, "vulkan: kv_store row sizes differ");
    uint32_t esize = cache->type == VKA_TYPE_F32 ? 4 : 2;
    uint32_t tokens = (uint32_t)src->ne[1];
    vk_dispatch d = {0};
    uint32_t dst_off, src_off, lay[2];
    VKA_TRY(vk_bind_plain(cache, esize, &d.bind[0], &dst_off));
    VKA_TRY(vk_bind_plain(src, 4, &d.bind[1], &src_off));
    VKA_TRY(bind_positions(r, n, tokens, &d, lay));
    bool packed = strcmp(kv, "f16p") == 0;
    /* paged rows go anywhere: two tokens must never share a packed word */
    if (packed && n->layout && (cache->ne[0] % 2 || dst_off % 2))
        return vka_fail(VKA_ERR_UNSUPPORTED, "vulkan: a paged f16 cache without 16-bit storage needs rows of an even "
                        "number of elements at an even offset ('%s': %lld at %u)", cache->name ? cache->name : "?",
                        (long long)cache->ne[0], dst_off);
    uint64_t count = (uint64_t)src->ne[0] * tokens;
    uint32_t pc[8] = {(uint32_t)count, (uint32_t)cache->ne[0], src_off, dst_off, tokens, (uint32_t)cache->ne[1],
                      lay[0], lay[1]};
    vk_set_push(&d, pc, sizeof pc);
    char module[40];
    snprintf(module, sizeof module, "kv_store_%s", kv);
    uint32_t wg = 256;
    VKA_TRY(vk_rec_pipeline(r, module, &wg, 1, false, &d));
    uint64_t invocations = packed ? count / 2 + 2 : count;
    VKA_TRY(vk_set_groups(&d, vk_div_up(invocations, wg), 1));
    const void *reads[] = {vk_storage_of(src), layout_storage(n), NULL}, *writes[] = {vk_storage_of(cache), NULL};
    return vk_push_dispatch(r, &d, reads, writes);
}

vka_status vk_emit_attention(rec *r, const vka_node *n) {
    const vka_attention_params *ap = &n->p.attn;
    const vka_tensor *q = n->src[0], *kc = n->src[1], *vc = n->src[2];
    if (kc->type != vc->type) return vka_fail(VKA_ERR_UNSUPPORTED, "vulkan: K and V caches of different types");
    const char *kv = kv_variant(r->vb, kc->type);
    if (!kv) return vka_fail(VKA_ERR_UNSUPPORTED, "vulkan: KV cache of type %s", vka_type_name(kc->type));
    if (!ap->n_head_kv || ap->n_head % ap->n_head_kv || q->ne[0] != (int64_t)ap->n_head * ap->head_dim ||
        kc->ne[0] < (int64_t)ap->n_head_kv * ap->head_dim || vc->ne[0] < (int64_t)ap->n_head_kv * ap->head_dim_v ||
        kc->ne[1] < 1 || vc->ne[1] < 1)
        return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vulkan: attention shapes do not agree");
    uint32_t esize = kc->type == VKA_TYPE_F32 ? 4 : 2;
    uint32_t tokens = (uint32_t)q->ne[1];
    uint32_t max_chunks = vk_div_up((uint64_t)kc->ne[1], 32);
    uint32_t cache_rows = (uint32_t)(kc->ne[1] < vc->ne[1] ? kc->ne[1] : vc->ne[1]);
    vk_dispatch d = {0};
    uint32_t o_off, q_off, k_off, v_off, lay[2];
    VKA_TRY(vk_bind_plain(n->dst, 4, &d.bind[0], &o_off));
    VKA_TRY(vk_bind_plain(q, 4, &d.bind[1], &q_off));
    VKA_TRY(vk_bind_plain(kc, esize, &d.bind[2], &k_off));
    VKA_TRY(vk_bind_plain(vc, esize, &d.bind[3], &v_off));
    VKA_TRY(bind_positions(r, n, tokens, &d, lay));
    float scale = ap->scale, softcap = ap->softcap;
    uint32_t pc[17] = {ap->n_head, ap->n_head_kv, tokens, q_off, o_off, k_off, v_off,
                       (uint32_t)kc->ne[0], (uint32_t)vc->ne[0], 0, max_chunks, 0, cache_rows, lay[0], lay[1],
                       0, ap->window};
    memcpy(&pc[11], &scale, 4);
    memcpy(&pc[15], &softcap, 4);
    vk_set_push(&d, pc, sizeof pc);
    uint32_t spec[3] = {r->vb->tune.attn_wg, ap->head_dim, ap->head_dim_v};
    const void *caches[] = {vk_storage_of(q), vk_storage_of(kc), vk_storage_of(vc), layout_storage(n), NULL};
    /* CPU-type devices read the caches through texel views, 4 aligned elements at a time */
    const vk_storage *ks = vk_storage_of(kc), *vs = vk_storage_of(vc);
    bool texel = r->vb->tune.texel && ks->parts[0].view && vs->parts[0].view &&
                 (k_off | v_off | pc[7] | pc[8] | ap->head_dim | ap->head_dim_v) % 4 == 0;
    if (texel) {
        kv = kc->type == VKA_TYPE_F32 ? "tf32" : "tf16";
        d.bind[VK_XTEX_BINDING].view = ks->parts[0].view;
        d.bind[VK_TEXEL_BINDING].view = vs->parts[0].view;
    }
    char module[40];
    /* one invocation per (query, head), looping over the chunks; decode
     * splits the chunks over invocations where the device wants the
     * parallelism (the two paths give the same bits) */
    if (tokens > 1 || !r->vb->tune.attn_split) {
        snprintf(module, sizeof module, "attn_prefill_%s", kv);
        VKA_TRY(vk_rec_pipeline(r, module, spec, 3, false, &d));
        VKA_TRY(vk_set_groups(&d, vk_div_up((uint64_t)tokens * ap->n_head, spec[0]), 1));
        const void *writes[] = {vk_storage_of(n->dst), NULL};
        return vk_push_dispatch(r, &d, caches, writes);
    }
    /* decode: chunk states over the whole context, then a left-to-right merge */
    vk_dispatch m = d;
    d.bind[0] = vk_bind_alloc(&r->gs->ws, r->gs->ws.size);
    snprintf(module, sizeof module, "attn_split_%s", kv);
    VKA_TRY(vk_rec_pipeline(r, module, spec, 3, false, &d));
    VKA_TRY(vk_set_groups(&d, vk_div_up((uint64_t)ap->n_head * max_chunks, spec[0]), 1));
    const void *ws_w[] = {&r->gs->ws, NULL};
    VKA_TRY(vk_push_dispatch(r, &d, caches, ws_w));
    m.bind[1] = vk_bind_alloc(&r->gs->ws, r->gs->ws.size);
    m.bind[2] = m.bind[3] = (vk_binding){0};
    m.bind[VK_XTEX_BINDING].view = m.bind[VK_TEXEL_BINDING].view = VK_NULL_HANDLE;
    VKA_TRY(vk_rec_pipeline(r, "attn_merge", spec, 3, false, &m));
    VKA_TRY(vk_set_groups(&m, vk_div_up((uint64_t)ap->n_head * ap->head_dim_v, spec[0]), 1));
    const void *ws_r[] = {&r->gs->ws, layout_storage(n), NULL}, *writes[] = {vk_storage_of(n->dst), NULL};
    return vk_push_dispatch(r, &m, ws_r, writes);
}
