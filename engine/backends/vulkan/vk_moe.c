/* vk_moe.c — the mixture-of-experts ops on Vulkan (backend.h MOE_ROUTE,
 * MATMUL_ID, MOE_SUM): the router and the weighted sum are one invocation
 * per token or element; the expert products (mm_id.comp) read each output
 * row's expert from the route on the device, so a step needs no read-back. */
#include <ctype.h>
#include <stdio.h>

#include "backends/vulkan/vk_record.h"
#include "backends/vulkan/vk_spirv.h"
#include "base/status.h"

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
    VKA_TRY(vk_set_groups(&d, vk_div_up((uint64_t)D * N, wg), 1));
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
    vk_dispatch d = {0};
    uint32_t d_off, x_off, r_off;
    VKA_TRY(vk_bind_plain(dst, 4, &d.bind[0], &d_off));
    VKA_TRY(vk_bind_plain(x, 4, &d.bind[2], &x_off));
    VKA_TRY(vk_bind_plain(route, 4, &d.bind[3], &r_off));
    const vk_tuning *t = &r->vb->tune;
    uint32_t spec[2] = {t->mv_wg, t->lanes};
    VKA_TRY(vk_rec_pipeline(r, module, spec, 2, false, &d));
    const void *reads[] = {vk_storage_of(x), vk_storage_of(route), NULL}, *writes[] = {vk_storage_of(dst), NULL};
    uint32_t outs_per_group = t->mv_wg / t->lanes;
    for (uint32_t i = 0; i < w->n_parts; i++) { /* each part computes the outputs whose rows it holds */
        const vk_part *p = &w->parts[i];
        uint32_t pc[13] = {p->rows, p->row0, K, M, NK, k, x_off, d_off, r_off, w->layout.stride,
                           (uint32_t)(p->scale_offset / 4), w->layout.s_row, n->p.moe.per_slot ? 1u : 0u};
        vk_set_push(&d, pc, sizeof pc);
        d.bind[1] = vk_bind_alloc(&p->alloc, p->bytes);
        VKA_TRY(vk_set_groups(&d, vk_div_up(M, outs_per_group), NK));
        VKA_TRY(vk_push_dispatch(r, &d, reads, writes));
    }
    return VKA_OK;
}
