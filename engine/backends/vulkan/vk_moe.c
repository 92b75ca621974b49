/* vk_moe.c — the mixture-of-experts ops on Vulkan (backend.h MOE_ROUTE,
 * MATMUL_ID, MOE_SUM): the router and the weighted sum are one invocation
 * per token or element. The expert products of one token (decode) read each
 * output row's expert from the route on the device (mm_id.comp); those of a
 * batch first group the rows by expert on the device (moe_group.comp, once
 * per route) and then run tiles of one expert's rows (mm_id_grouped.comp),
 * so that a weight block is read once per tile. Nothing is read back. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "backends/vulkan/vk_record.h"
#include "backends/vulkan/vk_spirv.h"
#include "base/status.h"

/* Experts moe_group.comp counts in shared memory (its MAX_E). */
#define GROUP_MAX_EXPERTS 1024u
#define GROUP_WG 256u

/* `count` workgroups of a one-dimensional kernel as a 2-D grid (rows of at
 * most t->max_groups, 65535: every device's maxComputeWorkGroupCount; the
 * kernel skips the indices past its end). */
static vka_status set_groups_folded(const vk_tuning *t, vk_dispatch *d, uint64_t count) {
    uint64_t x = count < t->max_groups ? count : t->max_groups;
    return vk_set_groups(d, x, (count + x - 1) / x);
}

vka_status vk_emit_moe_route(rec *r, const vka_node *n) {
    const vka_tensor *logits = n->src[0];
    uint32_t k = n->p.moe.n_used, E = (uint32_t)logits->ne[0], N = (uint32_t)logits->ne[1];
    if (k == 0 || k > E || n->dst->ne[0] != 2 * (int64_t)k || n->dst->ne[1] != (int64_t)N)
        return vka_fail(VKA_ERR_INTERNAL, "vulkan: moe_route shapes do not agree");
    vk_dispatch d = {0};
    uint32_t d_off, x_off;
    VKA_TRY(vk_bind_plain(n->dst, 4, &d.bind[0], &d_off));
    VKA_TRY(vk_bind_plain(logits, 4, &d.bind[1], &x_off));
    uint32_t pc[6] = {E, k, N, x_off, d_off, n->p.moe.norm ? 1u : 0u};
    vk_set_push(&d, pc, sizeof pc);
    uint32_t wg = r->vb->tune.elt_wg;
    VKA_TRY(vk_rec_pipeline(r, "moe_route", &wg, 1, false, &d));
    VKA_TRY(vk_set_groups(&d, vk_div_up(N, wg), 1));
    const void *reads[] = {vk_storage_of(logits), NULL}, *writes[] = {vk_storage_of(n->dst), NULL};
    return vk_push_dispatch(r, &d, reads, writes);
}

vka_status vk_emit_moe_sum(rec *r, const vka_node *n) {
    const vka_tensor *src = n->src[0], *route = n->src[1];
    uint32_t k = n->p.moe.n_used, D = (uint32_t)n->dst->ne[0], N = (uint32_t)n->dst->ne[1];
    if (k == 0 || src->ne[0] != (int64_t)D || src->ne[1] != (int64_t)N * k || route->ne[0] != 2 * (int64_t)k)
        return vka_fail(VKA_ERR_INTERNAL, "vulkan: moe_sum shapes do not agree");
    vk_dispatch d = {0};
    uint32_t d_off, s_off, r_off;
    VKA_TRY(vk_bind_plain(n->dst, 4, &d.bind[0], &d_off));
    VKA_TRY(vk_bind_plain(src, 4, &d.bind[1], &s_off));
    VKA_TRY(vk_bind_plain(route, 4, &d.bind[2], &r_off));
    uint32_t pc[6] = {D, N, k, s_off, r_off, d_off};
    vk_set_push(&d, pc, sizeof pc);
    uint32_t wg = r->vb->tune.elt_wg;
    VKA_TRY(vk_rec_pipeline(r, "moe_sum", &wg, 1, false, &d));
    VKA_TRY(set_groups_folded(&r->vb->tune, &d, vk_div_up((uint64_t)D * N, wg)));
    const void *reads[] = {vk_storage_of(src), vk_storage_of(route), vk_storage_of(n->dst), NULL};
    const void *writes[] = {vk_storage_of(n->dst), NULL};
    return vk_push_dispatch(r, &d, reads, writes);
}

/* "mm_id_<type>" in lower case (the shaders' module names). */
static vka_status id_module(vka_type type, const char *tensor, char *module, size_t cap) {
    int len = snprintf(module, cap, "mm_id_%s", vka_type_name(type));
    for (int i = 0; i < len && (size_t)i < cap; i++) module[i] = (char)tolower((unsigned char)module[i]);
    if (!vka_vk_spirv_find(module))
        return vka_fail(VKA_ERR_UNSUPPORTED, "vulkan: no expert product kernel for %s ('%s')", vka_type_name(type),
                        tensor ? tensor : "?");
    return VKA_OK;
}

static uint32_t n_experts(const vka_node *n) { return (uint32_t)(n->src[0]->ne[1] / n->dst->ne[0]); }

/* One token (decode) stays row by row: its tiles would hold one row each
 * (measured on lavapipe, 32 experts top-8: tg32 about half mm_id's speed). */
bool vk_moe_grouped(const vk_tuning *t, const vka_node *n) {
    return t->moe_grouped && n->src[2]->ne[1] > 1 && n->dst->ne[0] > 0 && n_experts(n) <= GROUP_MAX_EXPERTS;
}

/* The grouped kernel's workgroup size, weight rows per invocation and rows
 * per tile: CPU-type devices mm_reg's matrix-matrix register tiles; GPUs
 * (whose mm_reg shapes are for decode) K-lanes over one weight row and 8
 * rows of a tile, so that a weight block serves 8 rows. */
typedef struct group_shape {
    uint32_t wg, tr, tn;
} group_shape;

static group_shape shape_of(const vk_tuning *t) {
    if (t->cpu_shapes) return (group_shape){t->mm_wg, t->mm_tr, t->mm_tn};
    return (group_shape){t->mv_wg, 1, 8};
}

/* The most tiles of TN rows NK rows over E experts make: a partial tile per expert at most. */
static uint64_t max_tiles(uint64_t NK, uint64_t E, uint64_t TN) { return (NK + TN - 1) / TN + (E < NK ? E : NK); }

/* Index of the first list in the groups (moe_group.comp's layout): after the tile count and the tiles. */
static uint32_t group_list_at(const vk_tuning *t, const vka_node *n) {
    uint64_t NK = (uint64_t)n->dst->ne[1];
    return (uint32_t)(1 + 2 * max_tiles(NK, n_experts(n), shape_of(t).tn));
}

VkDeviceSize vk_moe_ws_bytes(const vk_tuning *t, const vka_node *n) {
    return ((VkDeviceSize)group_list_at(t, n) + (VkDeviceSize)n->dst->ne[1]) * 4;
}

/* The rows of the route's batch grouped by expert into gs->ws, unless it already holds them. */
static vka_status emit_group(rec *r, const vka_node *n) {
    const vka_tensor *route = n->src[2];
    if (r->moe_groups == route) return VKA_OK;
    const vk_tuning *t = &r->vb->tune;
    if (r->gs->ws.size < vk_moe_ws_bytes(t, n))
        return vka_fail(VKA_ERR_INTERNAL, "vulkan: the workspace cannot hold the expert groups");
    vk_dispatch d = {0};
    uint32_t r_off;
    d.bind[0] = vk_bind_alloc(&r->gs->ws, r->gs->ws.size);
    VKA_TRY(vk_bind_plain(route, 4, &d.bind[1], &r_off));
    uint32_t pc[7] = {n_experts(n), n->p.moe.n_used, (uint32_t)n->dst->ne[1], r_off, shape_of(t).tn, 0,
                      group_list_at(t, n)};
    vk_set_push(&d, pc, sizeof pc);
    uint32_t wg = GROUP_WG;
    VKA_TRY(vk_rec_pipeline(r, "moe_group", &wg, 1, false, &d));
    VKA_TRY(vk_set_groups(&d, 1, 1));
    const void *reads[] = {vk_storage_of(route), NULL}, *writes[] = {&r->gs->ws, NULL};
    VKA_TRY(vk_push_dispatch(r, &d, reads, writes));
    r->moe_groups = route;
    return VKA_OK;
}

/* A batch's products on its rows grouped by expert: per weight part, the
 * tiles in dispatches of at most t->max_groups (most end at once: the count
 * covers the worst case, the device knows the real one). */
static vka_status emit_grouped(rec *r, const vka_node *n, const vk_storage *w, const char *type_module) {
    VKA_TRY(emit_group(r, n));
    const vka_tensor *x = n->src[1], *dst = n->dst;
    const vk_tuning *t = &r->vb->tune;
    uint32_t k = n->p.moe.n_used, K = (uint32_t)x->ne[0], M = (uint32_t)dst->ne[0], NK = (uint32_t)dst->ne[1];
    vk_dispatch d = {0};
    uint32_t d_off, x_off;
    VKA_TRY(vk_bind_plain(dst, 4, &d.bind[0], &d_off));
    VKA_TRY(vk_bind_plain(x, 4, &d.bind[2], &x_off));
    d.bind[3] = vk_bind_alloc(&r->gs->ws, r->gs->ws.size);
    /* CPU-type devices read weights and inputs through texel views (vector gathers on llvmpipe) */
    vk_storage *xs = vk_storage_of(x);
    bool texel = t->texel && K % 4 == 0 && x_off % 4 == 0 && xs->parts[0].view;
    char module[80];
    snprintf(module, sizeof module, "mm_id_grouped_%s%s", texel ? "cpu_" : "", type_module + strlen("mm_id_"));
    if (texel) d.bind[VK_XTEX_BINDING].view = xs->parts[0].view;
    group_shape sh = shape_of(t);
    uint32_t spec[4] = {sh.wg, t->lanes, sh.tr, sh.tn};
    VKA_TRY(vk_rec_pipeline(r, module, spec, 4, false, &d));
    const void *reads[] = {vk_storage_of(x), &r->gs->ws, NULL}, *writes[] = {vk_storage_of(dst), NULL};
    uint32_t rows_per_group = sh.wg / t->lanes * sh.tr;
    uint64_t tiles = max_tiles(NK, n_experts(n), sh.tn);
    for (uint32_t i = 0; i < w->n_parts; i++) {
        const vk_part *p = &w->parts[i];
        if (texel && !p->view) return vka_fail(VKA_ERR_INTERNAL, "vulkan: weight part without a texel view");
        d.bind[1] = vk_bind_alloc(&p->alloc, p->bytes);
        d.bind[VK_TEXEL_BINDING].view = texel ? p->view : VK_NULL_HANDLE;
        for (uint64_t tile0 = 0; tile0 < tiles; tile0 += t->max_groups) {
            uint64_t count = tiles - tile0 < t->max_groups ? tiles - tile0 : t->max_groups;
            uint32_t pc[15] = {p->rows, p->row0, K, M, k, x_off, d_off, w->layout.stride,
                               (uint32_t)(p->scale_offset / 4), w->layout.s_row, n->p.moe.per_slot ? 1u : 0u,
                               (uint32_t)tile0, 0, group_list_at(t, n), (x_off % 4 == 0 && K % 4 == 0) ? 1u : 0u};
            vk_set_push(&d, pc, sizeof pc);
            VKA_TRY(vk_set_groups(&d, vk_div_up(M, rows_per_group), count));
            VKA_TRY(vk_push_dispatch(r, &d, reads, writes));
        }
    }
    return VKA_OK;
}

vka_status vk_emit_matmul_id(rec *r, const vka_node *n) {
    const vka_tensor *wt = n->src[0], *x = n->src[1], *route = n->src[2], *dst = n->dst;
    vk_storage *w = vk_storage_of(wt);
    if (!w || w->usage != VKA_USAGE_WEIGHT || wt->parent)
        return vka_fail(VKA_ERR_UNSUPPORTED, "vulkan: matmul_id needs a whole weight tensor ('%s')",
                        wt->name ? wt->name : "?");
    uint32_t k = n->p.moe.n_used, K = (uint32_t)wt->ne[0], M = (uint32_t)dst->ne[0];
    uint32_t N = (uint32_t)route->ne[1], NK = N * k;
    int64_t x_rows = n->p.moe.per_slot ? (int64_t)NK : (int64_t)N;
    if (k == 0 || M == 0 || wt->ne[1] % M || x->ne[0] != (int64_t)K || x->ne[1] < x_rows ||
        dst->ne[1] != (int64_t)NK || route->ne[0] != 2 * (int64_t)k)
        return vka_fail(VKA_ERR_INTERNAL, "vulkan: matmul_id shapes do not agree");
    char module[40];
    VKA_TRY(id_module(w->type, wt->name, module, sizeof module));
    const vk_tuning *t = &r->vb->tune;
    if (vk_moe_grouped(t, n)) return emit_grouped(r, n, w, module);
    vk_dispatch d = {0};
    uint32_t d_off, x_off, r_off;
    VKA_TRY(vk_bind_plain(dst, 4, &d.bind[0], &d_off));
    VKA_TRY(vk_bind_plain(x, 4, &d.bind[2], &x_off));
    VKA_TRY(vk_bind_plain(route, 4, &d.bind[3], &r_off));
    uint32_t spec[2] = {t->mv_wg, t->lanes};
    VKA_TRY(vk_rec_pipeline(r, module, spec, 2, false, &d));
    const void *reads[] = {vk_storage_of(x), vk_storage_of(route), NULL}, *writes[] = {vk_storage_of(dst), NULL};
    uint32_t outs_per_group = t->mv_wg / t->lanes;
    for (uint32_t i = 0; i < w->n_parts; i++) { /* each part computes the outputs whose rows it holds */
        const vk_part *p = &w->parts[i];
        d.bind[1] = vk_bind_alloc(&p->alloc, p->bytes);
        for (uint32_t j0 = 0; j0 < NK; j0 += t->max_groups) { /* at most max_groups dst rows a dispatch */
            uint32_t rows = NK - j0 < t->max_groups ? NK - j0 : t->max_groups;
            uint32_t pc[14] = {p->rows, p->row0, K, M, NK, k, x_off, d_off, r_off, w->layout.stride,
                               (uint32_t)(p->scale_offset / 4), w->layout.s_row, n->p.moe.per_slot ? 1u : 0u, j0};
            vk_set_push(&d, pc, sizeof pc);
            VKA_TRY(vk_set_groups(&d, vk_div_up(M, outs_per_group), rows));
            VKA_TRY(vk_push_dispatch(r, &d, reads, writes));
        }
    }
    return VKA_OK;
}
