/* vk_graph.c — a graph becomes one command buffer, recorded once and
 * submitted for every step: per-step values live in host-visible memory the
 * shaders read (n_past in a small parameter buffer; a node's paged-KV layout
 * in its own INPUT tensor, vk_emit_kv.c), and no dispatch size depends on
 * them. Barriers go only where a dispatch touches what an
 * earlier one wrote (or writes what one read) since the last barrier. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/vulkan/vk_internal.h"
#include "backends/vulkan/vk_record.h"
#include "backends/vulkan/vk_rope.h"
#include "backends/vulkan/vk_spirv.h"


/* ------------------------------------------------------------ bindings */

static vk_binding bind_part(const vk_part *p) { return vk_bind_alloc(&p->alloc, p->bytes); }

vka_status vk_bind_plain(const vka_tensor *t, uint32_t elem_size, vk_binding *b, uint32_t *elem_off) {
    vk_storage *s = vk_storage_of(t);
    if (!s) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vulkan: tensor '%s' has no storage on this device",
                            t->name ? t->name : "?");
    if (t->offset % elem_size)
        return vka_fail(VKA_ERR_INTERNAL, "vulkan: view of '%s' at byte %zu is not element-aligned", t->name, t->offset);
    if (s->usage == VKA_USAGE_WEIGHT && (s->n_parts != 1 || t->parent))
        return vka_fail(VKA_ERR_UNSUPPORTED, "vulkan: weight '%s' used as a plain vector must be one whole row",
                        t->name ? t->name : "?");
    *b = bind_part(&s->parts[0]);
    *elem_off = (uint32_t)(t->offset / elem_size);
    return VKA_OK;
}

/* ------------------------------------------------------------ hazards */

static bool in_set(const void *const *set, uint32_t n, const void *key) {
    for (uint32_t i = 0; i < n; i++)
        if (set[i] == key) return true;
    return false;
}

vka_status vk_push_dispatch(rec *r, const vk_dispatch *d, const void *const *reads, const void *const *writes) {
    bool barrier = r->n_reads >= MAX_HAZARDS - 4 || r->n_writes >= MAX_HAZARDS - 4;
    for (const void *const *p = reads; *p && !barrier; p++) barrier = in_set(r->writes, r->n_writes, *p);
    for (const void *const *p = writes; *p && !barrier; p++)
        barrier = in_set(r->writes, r->n_writes, *p) || in_set(r->reads, r->n_reads, *p);
    if (barrier) r->n_reads = r->n_writes = 0;
    for (const void *const *p = writes; *p && r->q8_x; p++)
        if (*p == vk_storage_of(r->q8_x)) r->q8_x = NULL;
    for (const void *const *p = writes; *p && r->moe_groups; p++)
        if (*p == vk_storage_of(r->moe_groups) || *p == &r->gs->ws) r->moe_groups = NULL;
    for (const void *const *p = reads; *p; p++)
        if (!in_set(r->reads, r->n_reads, *p)) r->reads[r->n_reads++] = *p;
    for (const void *const *p = writes; *p; p++)
        if (!in_set(r->writes, r->n_writes, *p)) r->writes[r->n_writes++] = *p;
    if (r->n == r->cap) {
        uint32_t cap = r->cap ? 2 * r->cap : 128;
        vk_dispatch *grown = realloc(r->d, cap * sizeof *grown);
        if (!grown) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory recording a graph");
        r->d = grown;
        r->cap = cap;
    }
    r->d[r->n] = *d;
    r->d[r->n].barrier_before = barrier;
    for (uint32_t i = 0; i < VK_XTEX_BINDING; i++)
        if (!r->d[r->n].bind[i].buffer) r->d[r->n].bind[i] = vk_bind_alloc(&r->vb->dummy, 16);
    for (uint32_t i = VK_XTEX_BINDING; i < VK_BINDINGS; i++)
        if (!r->d[r->n].bind[i].view) r->d[r->n].bind[i].view = r->vb->dummy_view;
    r->n++;
    return VKA_OK;
}

vka_status vk_set_groups(vk_dispatch *d, uint64_t x, uint64_t y) {
    if (x == 0 || y == 0 || x > 65535 || y > 65535)
        return vka_fail(VKA_ERR_UNSUPPORTED, "vulkan: dispatch of %llu x %llu workgroups is out of range",
                        (unsigned long long)x, (unsigned long long)y);
    d->groups[0] = (uint32_t)x;
    d->groups[1] = (uint32_t)y;
    d->groups[2] = 1;
    return VKA_OK;
}

void vk_set_push(vk_dispatch *d, const void *pc, size_t size) {
    memcpy(d->push, pc, size);
    d->push_words = (uint32_t)(size / 4);
}

vka_status vk_rec_pipeline(rec *r, const char *module, const uint32_t *spec, uint32_t n_spec, bool full_sg,
                           vk_dispatch *d) {
    return vk_pipeline_get(r->vb, module, spec, n_spec, full_sg, &d->pipeline);
}

static const char *wtype_suffix(vka_type t) {
    switch (t) {
    case VKA_TYPE_F32: return "f32";
    case VKA_TYPE_F16: return "f16";
    case VKA_TYPE_BF16: return "bf16";
    case VKA_TYPE_Q8_0: return "q8_0";
    case VKA_TYPE_Q4_0: return "q4_0";
    case VKA_TYPE_Q4_1: return "q4_1";
    case VKA_TYPE_Q5_0: return "q5_0";
    case VKA_TYPE_Q5_1: return "q5_1";
    case VKA_TYPE_Q4_K: return "q4_k";
    case VKA_TYPE_Q5_K: return "q5_k";
    case VKA_TYPE_Q6_K: return "q6_k";
    case VKA_TYPE_Q2_K: return "q2_k";
    case VKA_TYPE_Q3_K: return "q3_k";
    case VKA_TYPE_IQ4_NL: return "iq4_nl";
    case VKA_TYPE_IQ4_XS: return "iq4_xs";
    default: return NULL;
    }
}

static vka_status weight_of(const vka_tensor *t, const char *op, vk_storage **out) {
    vk_storage *s = vk_storage_of(t);
    if (!s || s->usage != VKA_USAGE_WEIGHT || t->parent || !wtype_suffix(s->type))
        return vka_fail(VKA_ERR_UNSUPPORTED, "vulkan: %s needs a whole weight tensor of a supported type ('%s')", op,
                        t && t->name ? t->name : "?");
    *out = s;
    return VKA_OK;
}

/* ------------------------------------------------------------ ops */

/* The ids are checked against the source's rows before each submit. */
static vka_status add_id_check(rec *r, const vka_node *n) {
    id_check *grown = realloc(r->gs->checks, (r->gs->n_checks + 1) * sizeof *grown);
    if (!grown) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
    r->gs->checks = grown;
    r->gs->checks[r->gs->n_checks++] = (id_check){n->src[1], n->src[0]->ne[1]};
    return VKA_OK;
}

/* Rows of an f32 activation tensor (the model picks the output rows of the
 * residual stream): a bit-exact copy. */
static vka_status emit_get_rows_act(rec *r, const vka_node *n, vk_dispatch *d, uint32_t d_off, uint32_t ids_off,
                                    uint32_t tokens) {
    const vka_tensor *src = n->src[0];
    if (src->type != VKA_TYPE_F32)
        return vka_fail(VKA_ERR_UNSUPPORTED, "vulkan: get_rows from a non-weight tensor needs F32 rows ('%s' is %s)",
                        src->name ? src->name : "?", vka_type_name(src->type));
    uint32_t s_off, ne0 = (uint32_t)src->ne[0], wg = 64;
    VKA_TRY(vk_bind_plain(src, 4, &d->bind[1], &s_off));
    uint32_t pc[9] = {ne0, tokens, 0, (uint32_t)src->ne[1], d_off, ids_off, ne0, s_off, 0};
    vk_set_push(d, pc, sizeof pc);
    VKA_TRY(vk_rec_pipeline(r, "get_rows_act", &wg, 1, false, d));
    VKA_TRY(vk_set_groups(d, vk_div_up(vk_div_up(ne0, 4), wg), tokens));
    const void *reads[] = {vk_storage_of(n->src[1]), vk_storage_of(src), NULL}, *writes[] = {vk_storage_of(n->dst), NULL};
    VKA_TRY(vk_push_dispatch(r, d, reads, writes));
    return add_id_check(r, n);
}

static vka_status emit_get_rows(rec *r, const vka_node *n) {
    vk_dispatch d = {0};
    uint32_t d_off, ids_off;
    VKA_TRY(vk_bind_plain(n->dst, 4, &d.bind[0], &d_off));
    VKA_TRY(vk_bind_plain(n->src[1], 4, &d.bind[2], &ids_off));
    uint32_t ne0 = (uint32_t)n->src[0]->ne[0], tokens = (uint32_t)n->src[1]->ne[1] * (uint32_t)n->src[1]->ne[0];
    if (n->dst->ne[0] != n->src[0]->ne[0] || n->dst->ne[1] < (int64_t)tokens)
        return vka_fail(VKA_ERR_INTERNAL, "vulkan: get_rows shapes do not agree");
    vk_storage *w = vk_storage_of(n->src[0]);
    if (w && w->usage != VKA_USAGE_WEIGHT) return emit_get_rows_act(r, n, &d, d_off, ids_off, tokens);
    VKA_TRY(weight_of(n->src[0], "get_rows", &w));
    char module[40];
    snprintf(module, sizeof module, "get_rows_%s", wtype_suffix(w->type));
    uint32_t wg = 64;
    VKA_TRY(vk_rec_pipeline(r, module, &wg, 1, false, &d));
    for (uint32_t i = 0; i < w->n_parts; i++) {
        const vk_part *p = &w->parts[i];
        uint32_t pc[9] = {ne0, tokens, p->row0, p->rows, d_off, ids_off, w->layout.stride,
                          (uint32_t)(p->scale_offset / 4), w->layout.s_row};
        vk_set_push(&d, pc, sizeof pc);
        d.bind[1] = bind_part(p);
        VKA_TRY(vk_set_groups(&d, vk_div_up(vk_div_up(ne0, 4), wg), tokens));
        const void *reads[] = {vk_storage_of(n->src[1]), NULL}, *writes[] = {vk_storage_of(n->dst), NULL};
        VKA_TRY(vk_push_dispatch(r, &d, reads, writes));
    }
    return add_id_check(r, n);
}

static vka_status emit_rms_norm(rec *r, const vka_node *n) {
    vk_dispatch d = {0};
    uint32_t d_off, x_off, w_off;
    VKA_TRY(vk_bind_plain(n->dst, 4, &d.bind[0], &d_off));
    VKA_TRY(vk_bind_plain(n->src[0], 4, &d.bind[1], &x_off));
    VKA_TRY(vk_bind_plain(n->src[1], 4, &d.bind[2], &w_off));
    const vk_tuning *t = &r->vb->tune;
    uint32_t ne0 = (uint32_t)n->src[0]->ne[0], rows = (uint32_t)n->src[0]->ne[1];
    float eps = n->p.eps;
    uint32_t pc[6] = {ne0, rows, x_off, d_off, w_off, 0};
    memcpy(&pc[5], &eps, 4);
    vk_set_push(&d, pc, sizeof pc);
    uint32_t spec[2] = {t->norm_wg, t->norm_rt};
    VKA_TRY(vk_rec_pipeline(r, "rms_norm", spec, 2, false, &d));
    VKA_TRY(vk_set_groups(&d, vk_div_up(rows, t->norm_wg / t->norm_rt), 1));
    const void *reads[] = {vk_storage_of(n->src[0]), vk_storage_of(n->src[1]), NULL};
    const void *writes[] = {vk_storage_of(n->dst), NULL};
    return vk_push_dispatch(r, &d, reads, writes);
}

/* Elementwise ops; a unary one (src[1] NULL) binds src[0] twice, `f` is its parameter. */
static vka_status emit_eltwise(rec *r, const vka_node *n, const char *module, float f) {
    vk_dispatch d = {0};
    uint32_t d_off, a_off, b_off;
    const vka_tensor *b = n->src[1] ? n->src[1] : n->src[0];
    VKA_TRY(vk_bind_plain(n->dst, 4, &d.bind[0], &d_off));
    VKA_TRY(vk_bind_plain(n->src[0], 4, &d.bind[1], &a_off));
    VKA_TRY(vk_bind_plain(b, 4, &d.bind[2], &b_off));
    uint64_t count = (uint64_t)n->src[0]->ne[0] * (uint64_t)n->src[0]->ne[1];
    uint32_t pc[5] = {(uint32_t)count, d_off, a_off, b_off, 0};
    memcpy(&pc[4], &f, sizeof f);
    vk_set_push(&d, pc, sizeof pc);
    uint32_t wg = r->vb->tune.elt_wg;
    VKA_TRY(vk_rec_pipeline(r, module, &wg, 1, false, &d));
    VKA_TRY(vk_set_groups(&d, vk_div_up(count, wg), 1));
    const void *reads[] = {vk_storage_of(n->src[0]), vk_storage_of(b), NULL};
    const void *writes[] = {vk_storage_of(n->dst), NULL};
    return vk_push_dispatch(r, &d, reads, writes);
}

static vka_status emit_argmax(rec *r, const vka_node *n) {
    vk_dispatch d = {0};
    uint32_t d_off, x_off;
    VKA_TRY(vk_bind_plain(n->dst, 4, &d.bind[0], &d_off));
    VKA_TRY(vk_bind_plain(n->src[0], 4, &d.bind[1], &x_off));
    uint32_t rows = (uint32_t)n->src[0]->ne[1];
    uint32_t pc[4] = {(uint32_t)n->src[0]->ne[0], rows, x_off, d_off};
    vk_set_push(&d, pc, sizeof pc);
    uint32_t wg = r->vb->tune.argmax_wg;
    VKA_TRY(vk_rec_pipeline(r, "argmax", &wg, 1, false, &d));
    VKA_TRY(vk_set_groups(&d, rows, 1));
    const void *reads[] = {vk_storage_of(n->src[0]), NULL}, *writes[] = {vk_storage_of(n->dst), NULL};
    return vk_push_dispatch(r, &d, reads, writes);
}

/* What a matmul dispatch reads (NULL-terminated): its input, the bias, the old dst when accumulating. */
static void matmul_reads(const vka_node *n, const void *input, const void *reads[4]) {
    uint32_t nr = 0;
    reads[nr++] = input;
    if (n->src[2]) reads[nr++] = vk_storage_of(n->src[2]);
    if (n->p.accumulate) reads[nr++] = vk_storage_of(n->dst);
    reads[nr] = NULL;
}

/* ------------------------------------------------------------ integer matmuls (CPU-type devices) */

/* Q4_0/Q8_0/Q2_K..Q6_K/IQ4_NL/IQ4_XS products on 8-bit activations (mm_q8.comp) for every batch size,
 * so that a token's result does not depend on the batch. */
static bool uses_q8(const vk_tuning *t, const vka_node *n) {
    vka_type ty = n->src[0]->type;
    return t->q8_act && vk_q8_weight_type(ty) && n->src[0]->ne[0] % 32 == 0;
}

static uint32_t q8_blocks(const vka_node *n) { return (uint32_t)(n->src[1]->ne[0] / 32 * n->src[1]->ne[1]); }

/* Word offset of the scales in gs->q8: after 16 words of pairs per block. */
static uint32_t q8_scale_words(const vka_node *n) { return q8_blocks(n) * 16; }

/* Quantizes the matmul's input into gs->q8 unless it already holds it. */
static vka_status emit_q8_act(rec *r, const vka_node *n) {
    const vka_tensor *x = n->src[1];
    if (r->q8_x == x) return VKA_OK;
    vk_dispatch d = {0};
    uint32_t x_off;
    VKA_TRY(vk_bind_plain(x, 4, &d.bind[2], &x_off));
    d.bind[0] = vk_bind_alloc(&r->gs->q8, r->gs->q8.size);
    uint32_t pc[4] = {(uint32_t)x->ne[0], (uint32_t)x->ne[1], x_off, q8_scale_words(n)};
    vk_set_push(&d, pc, sizeof pc);
    uint32_t wg = 64;
    VKA_TRY(vk_rec_pipeline(r, "q8_act", &wg, 1, false, &d));
    VKA_TRY(vk_set_groups(&d, vk_div_up(q8_blocks(n), wg), 1));
    const void *reads[] = {vk_storage_of(x), NULL}, *writes[] = {&r->gs->q8, NULL};
    VKA_TRY(vk_push_dispatch(r, &d, reads, writes));
    r->q8_x = x;
    return VKA_OK;
}

static vka_status emit_matmul_q8(rec *r, const vka_node *n, const vk_storage *w) {
    VKA_TRY(emit_q8_act(r, n));
    const vka_tensor *x = n->src[1], *dst = n->dst, *bias = n->src[2];
    uint32_t K = (uint32_t)x->ne[0], M = (uint32_t)dst->ne[0], N = (uint32_t)x->ne[1];
    const vk_tuning *t = &r->vb->tune;
    vk_dispatch d = {0};
    uint32_t d_off, b_off = 0;
    VKA_TRY(vk_bind_plain(dst, 4, &d.bind[0], &d_off));
    if (bias) VKA_TRY(vk_bind_plain(bias, 4, &d.bind[3], &b_off));
    d.bind[VK_XTEX_BINDING].view = r->gs->q8_view;
    uint32_t flags = (bias ? 1u : 0u) | (n->p.accumulate ? 2u : 0u);
    bool mv = N == 1;
    uint32_t spec[4] = {mv ? t->mv_wg : t->mm_wg, 1, mv ? t->mv_tr : t->mm_tr, mv ? 1 : t->mm_tn};
    char module[40];
    snprintf(module, sizeof module, "mm_q8_%s", wtype_suffix(w->type));
    VKA_TRY(vk_rec_pipeline(r, module, spec, 4, false, &d));
    const void *reads[4], *writes[] = {vk_storage_of(dst), NULL};
    matmul_reads(n, &r->gs->q8, reads);
    for (uint32_t i = 0; i < w->n_parts; i++) {
        const vk_part *p = &w->parts[i];
        if (!p->view) return vka_fail(VKA_ERR_INTERNAL, "vulkan: weight part without a texel view");
        /* x_off: the word offset of the activations' scales (see mm_q8.comp) */
        uint32_t pc[12] = {p->rows, p->row0, K, N, q8_scale_words(n), d_off, M, b_off,
                           w->layout.stride, (uint32_t)(p->scale_offset / 4), w->layout.s_row, flags};
        vk_set_push(&d, pc, sizeof pc);
        d.bind[1] = bind_part(p);
        d.bind[VK_TEXEL_BINDING].view = p->view;
        VKA_TRY(vk_set_groups(&d, vk_div_up(p->rows, spec[0] * spec[2]), vk_div_up(N, spec[3])));
        VKA_TRY(vk_push_dispatch(r, &d, reads, writes));
    }
    return VKA_OK;
}

bool vka_vk_matmul_uses_coopmat(const vk_tuning *t, vka_type type) {
    char module[40];
    snprintf(module, sizeof module, "mm_cm_nv_%s", wtype_suffix(type));
    return t->coopmat && vka_vk_spirv_find(module);
}

static vka_status emit_matmul(rec *r, const vka_node *n) {
    vk_storage *w;
    VKA_TRY(weight_of(n->src[0], "matmul", &w));
    const vka_tensor *x = n->src[1], *dst = n->dst, *bias = n->src[2];
    uint32_t K = (uint32_t)n->src[0]->ne[0], M = (uint32_t)n->src[0]->ne[1], N = (uint32_t)x->ne[1];
    if (x->ne[0] != (int64_t)K || dst->ne[0] != (int64_t)M || dst->ne[1] != (int64_t)N)
        return vka_fail(VKA_ERR_INTERNAL, "vulkan: matmul shapes do not agree");
    const vk_tuning *t = &r->vb->tune;
    if (uses_q8(t, n) && r->gs->q8_view) return emit_matmul_q8(r, n, w);
    vk_dispatch d = {0};
    uint32_t d_off, x_off, b_off = 0;
    VKA_TRY(vk_bind_plain(dst, 4, &d.bind[0], &d_off));
    VKA_TRY(vk_bind_plain(x, 4, &d.bind[2], &x_off));
    if (bias) VKA_TRY(vk_bind_plain(bias, 4, &d.bind[3], &b_off));
    uint32_t flags = (bias ? 1u : 0u) | (n->p.accumulate ? 2u : 0u) | ((x_off % 4 == 0 && K % 4 == 0) ? 4u : 0u);
    const char *ty = wtype_suffix(w->type);
    char module[40];
    uint32_t spec[6], n_spec, rows_per_group, toks_per_group;
    bool full_sg = false;
    /* the tensor-core path, for the types shaders/meson.build compiles it for */
    bool coopmat = vka_vk_matmul_uses_coopmat(t, w->type);
    if (coopmat) {
        snprintf(module, sizeof module, "mm_cm_nv_%s", ty);
        spec[0] = 128;
        n_spec = 1;
        rows_per_group = 64;
        toks_per_group = 32;
        full_sg = true;
    } else if (N == 1 || !t->tiled) {
        bool mv = N == 1;
        uint32_t wg = mv ? t->mv_wg : t->mm_wg, tr = mv ? t->mv_tr : t->mm_tr, tn = mv ? 1 : t->mm_tn;
        bool sg = t->sg_reduce && t->lanes > 1;
        snprintf(module, sizeof module, sg ? "mm_reg_sg_%s" : "mm_reg_%s", ty);
        spec[0] = wg;
        spec[1] = t->lanes;
        spec[2] = tr;
        spec[3] = tn;
        n_spec = 4;
        rows_per_group = wg / t->lanes * tr;
        toks_per_group = tn;
        full_sg = sg;
    } else {
        snprintf(module, sizeof module, "mm_tiled_%s", ty);
        spec[0] = t->lanes * (t->tm / t->rm) * (t->tn / t->rn);
        spec[1] = t->lanes;
        spec[2] = t->tm;
        spec[3] = t->tn;
        spec[4] = t->rm;
        spec[5] = t->rn;
        n_spec = 6;
        rows_per_group = t->tm;
        toks_per_group = t->tn;
    }
    /* CPU-type devices read weights and inputs through texel views (vector gathers on llvmpipe) */
    vk_storage *xs = vk_storage_of(x);
    bool texel = !coopmat && t->texel && (N == 1 || !t->tiled) && K % 4 == 0 && x_off % 4 == 0 && xs->parts[0].view;
    if (texel) {
        snprintf(module, sizeof module, "mm_reg_cpu_%s", ty);
        full_sg = false;
        d.bind[VK_XTEX_BINDING].view = xs->parts[0].view;
    }
    VKA_TRY(vk_rec_pipeline(r, module, spec, n_spec, full_sg, &d));
    const void *reads[4], *writes[] = {vk_storage_of(dst), NULL};
    matmul_reads(n, vk_storage_of(x), reads);
    for (uint32_t i = 0; i < w->n_parts; i++) {
        const vk_part *p = &w->parts[i];
        uint32_t pc[12] = {p->rows, p->row0, K, N, x_off, d_off, M, b_off,
                           w->layout.stride, (uint32_t)(p->scale_offset / 4), w->layout.s_row, flags};
        vk_set_push(&d, pc, sizeof pc);
        d.bind[1] = bind_part(p);
        d.bind[VK_TEXEL_BINDING].view = texel ? p->view : VK_NULL_HANDLE;
        VKA_TRY(vk_set_groups(&d, vk_div_up(p->rows, rows_per_group), vk_div_up(N, toks_per_group)));
        VKA_TRY(vk_push_dispatch(r, &d, reads, writes));
    }
    return VKA_OK;
}

static vka_status emit_node(rec *r, const vka_node *n) {
    switch (n->op) {
    case VKA_OP_GET_ROWS: return emit_get_rows(r, n);
    case VKA_OP_RMS_NORM: return emit_rms_norm(r, n);
    case VKA_OP_MATMUL: return emit_matmul(r, n);
    case VKA_OP_ROPE: return vk_emit_rope(r, n);
    case VKA_OP_KV_STORE: return vk_emit_kv_store(r, n);
    case VKA_OP_ATTENTION: return vk_emit_attention(r, n);
    case VKA_OP_SWIGLU: return emit_eltwise(r, n, "swiglu", 0.0f);
    case VKA_OP_ADD: return emit_eltwise(r, n, "add", 0.0f);
    case VKA_OP_GEGLU: return emit_eltwise(r, n, "geglu", 0.0f);
    case VKA_OP_SCALE: return emit_eltwise(r, n, "scale", n->p.scale);
    case VKA_OP_SOFTCAP: return emit_eltwise(r, n, "softcap", n->p.cap);
    case VKA_OP_ARGMAX: return emit_argmax(r, n);
    case VKA_OP_MOE_ROUTE: return vk_emit_moe_route(r, n);
    case VKA_OP_MATMUL_ID: return vk_emit_matmul_id(r, n);
    case VKA_OP_MOE_SUM: return vk_emit_moe_sum(r, n);
    case VKA_OP_COUNT: break;
    }
    return vka_fail(VKA_ERR_INTERNAL, "vulkan: unknown op %d", (int)n->op);
}

/* ------------------------------------------------------------ recording */

static int64_t cache_rows(const vka_node *n) {
    if (n->op == VKA_OP_KV_STORE) return n->dst->ne[1];
    return n->src[1]->ne[1] < n->src[2]->ne[1] ? n->src[1]->ne[1] : n->src[2]->ne[1];
}

/* What recording needs before emitting: context limits, RoPE positions, workspace. */
static void survey(const vk_tuning *t, const vka_graph *g, vk_graph_state *gs, VkDeviceSize *ws_bytes,
                   VkDeviceSize *q8_bytes) {
    gs->max_n_past = INT64_MAX;
    gs->rope_tokens = 0;
    *ws_bytes = 16;
    *q8_bytes = 0;
    for (uint32_t i = 0; i < g->n_nodes; i++) {
        const vka_node *n = &g->nodes[i];
        bool kv = n->op == VKA_OP_KV_STORE || n->op == VKA_OP_ATTENTION;
        if (kv && cache_rows(n) > gs->kv_rows) gs->kv_rows = cache_rows(n);
        /* nodes with a layout: the host checks the rows (backend.h) */
        if (kv && !n->layout) {
            int64_t room = cache_rows(n) - n->src[0]->ne[1];
            if (room < gs->max_n_past) gs->max_n_past = room;
        }
        if (n->op == VKA_OP_MATMUL && uses_q8(t, n)) {
            /* 2.25 bytes per input element: it fits one binding wherever the f32 input does */
            VkDeviceSize need = q8_scale_words(n) * 4 + (VkDeviceSize)q8_blocks(n) * 8;
            if (need > *q8_bytes) *q8_bytes = need;
        } else if (n->op == VKA_OP_ATTENTION && n->src[0]->ne[1] == 1) {
            VkDeviceSize chunks = ((VkDeviceSize)n->src[1]->ne[1] + 31) / 32;
            VkDeviceSize need = (VkDeviceSize)n->p.attn.n_head * chunks * (n->p.attn.head_dim_v + 2) * 4;
            if (need > *ws_bytes) *ws_bytes = need;
        } else if (n->op == VKA_OP_MATMUL_ID && vk_moe_grouped(t, n)) {
            VkDeviceSize need = vk_moe_ws_bytes(t, n);
            if (need > *ws_bytes) *ws_bytes = need;
        } else if (n->op == VKA_OP_ROPE && n->layout) {
            gs->paged_ropes = true;
        } else if (n->op == VKA_OP_ROPE && n->p.rope.n_heads) {
            uint32_t tokens = (uint32_t)((n->src[0]->ne[1] + n->p.rope.n_heads - 1) / n->p.rope.n_heads);
            if (tokens > gs->rope_tokens) gs->rope_tokens = tokens;
        }
    }
}

/* Positions the RoPE tables cover: contiguous nodes up to the room the KV
 * nodes leave (else pos_hint) plus their tokens; nodes with a layout every
 * row of the largest cache (positions stay below it, backend.h), without KV
 * nodes pos_hint (checked at compute, positions_needed). */
static int64_t rope_positions(const vk_graph_state *gs, int64_t pos_hint) {
    int64_t limit = 1;
    if (gs->rope_tokens) {
        int64_t room = gs->max_n_past != INT64_MAX ? gs->max_n_past : pos_hint;
        limit = (room > 0 ? room : 0) + gs->rope_tokens;
    }
    int64_t paged = gs->paged_ropes ? (gs->kv_rows ? gs->kv_rows : pos_hint) : 0;
    return paged > limit ? paged : limit;
}

/* The RoPE nodes with a layout in a graph without KV nodes, whose positions compute checks. */
static vka_status collect_pos_checks(const vka_graph *g, vk_graph_state *gs) {
    if (!gs->paged_ropes || gs->kv_rows) return VKA_OK;
    for (uint32_t i = 0; i < g->n_nodes; i++) {
        const vka_node *n = &g->nodes[i];
        if (n->op != VKA_OP_ROPE || !n->layout || !n->p.rope.n_heads) continue;
        pos_check *grown = realloc(gs->pos_checks, (gs->n_pos_checks + 1) * sizeof *grown);
        if (!grown) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
        gs->pos_checks = grown;
        uint32_t tokens = (uint32_t)((n->src[0]->ne[1] + n->p.rope.n_heads - 1) / n->p.rope.n_heads);
        gs->pos_checks[gs->n_pos_checks++] = (pos_check){n->layout, tokens};
    }
    return VKA_OK;
}

static void state_free(vk_backend *vb, vk_graph_state *gs) {
    if (!gs) return;
    if (gs->pool) vkDestroyCommandPool(vb->device, gs->pool, NULL);
    if (gs->fence) vkDestroyFence(vb->device, gs->fence, NULL);
    if (gs->dpool) vkDestroyDescriptorPool(vb->device, gs->dpool, NULL);
    vb->class_bytes[VK_MEM_INTERNAL] -= gs->params.size + gs->ws.size + gs->q8.size;
    vk_free_mem(vb, &vb->host_arena, &gs->params);
    vk_free_mem(vb, &vb->device_arena, &gs->ws);
    if (gs->q8_view) vkDestroyBufferView(vb->device, gs->q8_view, NULL);
    if (gs->q8.chunk) vk_free_mem(vb, &vb->device_arena, &gs->q8);
    for (uint32_t i = 0; i < gs->n_ropes; i++) vk_rope_release(vb, gs->ropes[i]);
    free(gs->checks);
    free(gs->pos_checks);
    free(gs);
}

static vka_status write_commands(vk_backend *vb, vk_graph_state *gs, const rec *r) {
    VkDescriptorPoolSize ps[2] = {{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, r->n * VK_XTEX_BINDING},
                                  {VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER, r->n * 2}};
    VkDescriptorPoolCreateInfo pci = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO, .maxSets = r->n,
                                      .poolSizeCount = 2, .pPoolSizes = ps};
    VK_TRY(vkCreateDescriptorPool(vb->device, &pci, NULL, &gs->dpool), "creating a descriptor pool for %u dispatches",
           r->n);
    VkDescriptorSet *sets = malloc(r->n * sizeof *sets);
    VkDescriptorSetLayout *layouts = malloc(r->n * sizeof *layouts);
    VkDescriptorBufferInfo *infos = malloc((size_t)r->n * VK_BINDINGS * sizeof *infos);
    VkWriteDescriptorSet *writes = malloc(3 * (size_t)r->n * sizeof *writes);
    vka_status st = sets && layouts && infos && writes ? VKA_OK : vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
    for (uint32_t i = 0; st == VKA_OK && i < r->n; i++) layouts[i] = vb->set_layout;
    if (st == VKA_OK) {
        VkDescriptorSetAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
                                          .descriptorPool = gs->dpool, .descriptorSetCount = r->n,
                                          .pSetLayouts = layouts};
        st = vk_check(vkAllocateDescriptorSets(vb->device, &ai, sets), "allocating %u descriptor sets", r->n);
    }
    if (st == VKA_OK) {
        for (uint32_t i = 0; i < r->n; i++) {
            for (uint32_t b = 0; b < VK_BINDINGS; b++)
                infos[i * VK_BINDINGS + b] = (VkDescriptorBufferInfo){r->d[i].bind[b].buffer, r->d[i].bind[b].offset,
                                                                      r->d[i].bind[b].range};
            /* bindings 0..4 are storage buffers, 5 and 6 texel views */
            writes[3 * i] = (VkWriteDescriptorSet){.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET, .dstSet = sets[i],
                                                   .dstBinding = 0, .descriptorCount = VK_XTEX_BINDING,
                                                   .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                                   .pBufferInfo = &infos[i * VK_BINDINGS]};
            for (uint32_t b = VK_XTEX_BINDING; b <= VK_TEXEL_BINDING; b++)
                writes[3 * i + 1 + b - VK_XTEX_BINDING] = (VkWriteDescriptorSet){
                    .sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET, .dstSet = sets[i], .dstBinding = b,
                    .descriptorCount = 1, .descriptorType = VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER,
                    .pTexelBufferView = &r->d[i].bind[b].view};
        }
        vkUpdateDescriptorSets(vb->device, 3 * r->n, writes, 0, NULL);
    }
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    if (st == VKA_OK) st = vk_check(vkBeginCommandBuffer(gs->cmd, &bi), "beginning a command buffer");
    if (st == VKA_OK) {
        /* uploads, host writes and the previous step's results are visible to this step */
        VkMemoryBarrier in = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                              .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT |
                                               VK_ACCESS_HOST_WRITE_BIT,
                              .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT};
        vkCmdPipelineBarrier(gs->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT |
                             VK_PIPELINE_STAGE_HOST_BIT, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &in, 0, NULL, 0, NULL);
        VkMemoryBarrier mid = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                               .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_SHADER_READ_BIT,
                               .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT};
        VkPipeline bound = VK_NULL_HANDLE;
        for (uint32_t i = 0; i < r->n; i++) {
            const vk_dispatch *d = &r->d[i];
            if (d->barrier_before && i > 0)
                vkCmdPipelineBarrier(gs->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                                     VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &mid, 0, NULL, 0, NULL);
            if (d->pipeline->pipeline != bound) {
                vkCmdBindPipeline(gs->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, d->pipeline->pipeline);
                bound = d->pipeline->pipeline;
            }
            vkCmdBindDescriptorSets(gs->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, vb->pipeline_layout, 0, 1, &sets[i], 0,
                                    NULL);
            vkCmdPushConstants(gs->cmd, vb->pipeline_layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, d->push_words * 4,
                               d->push);
            vkCmdDispatch(gs->cmd, d->groups[0], d->groups[1], d->groups[2]);
        }
        VkMemoryBarrier out = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                               .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT,
                               .dstAccessMask = VK_ACCESS_HOST_READ_BIT | VK_ACCESS_TRANSFER_READ_BIT};
        vkCmdPipelineBarrier(gs->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                             VK_PIPELINE_STAGE_HOST_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &out, 0, NULL, 0, NULL);
        st = vk_check(vkEndCommandBuffer(gs->cmd), "ending a command buffer");
    }
    free(sets);
    free(layouts);
    free(infos);
    free(writes);
    return st;
}

/* Records g for positions up to pos_hint (RoPE tables) when no KV op bounds them. Caller holds vb->mutex. */
static vka_status record(vk_backend *vb, const vka_graph *g, int64_t pos_hint, vk_graph_state **out) {
    vk_graph_state *gs = calloc(1, sizeof *gs);
    if (!gs) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
    VkDeviceSize ws_bytes, q8_bytes;
    survey(&vb->tune, g, gs, &ws_bytes, &q8_bytes);
    gs->pos_limit = rope_positions(gs, pos_hint);
    if (gs->pos_limit > UINT32_MAX) gs->pos_limit = UINT32_MAX; /* a table that large is refused, with the count */
    vka_status st = collect_pos_checks(g, gs);
    if (st == VKA_OK) st = vk_cmd_create(vb, 0, &gs->pool, &gs->cmd, &gs->fence);
    if (st == VKA_OK) st = vk_alloc_mem(vb, &vb->host_arena, 256, "step parameters", &gs->params);
    if (st == VKA_OK) st = vk_alloc_mem(vb, &vb->device_arena, ws_bytes, "the ops' workspace", &gs->ws);
    if (st == VKA_OK && q8_bytes) st = vk_alloc_mem(vb, &vb->device_arena, q8_bytes, "8-bit activations", &gs->q8);
    if (st == VKA_OK && q8_bytes) st = vk_texel_view(vb, &gs->q8, q8_bytes, &gs->q8_view);
    /* what was allocated (a failed allocation is zeroed); state_free takes it back */
    vb->class_bytes[VK_MEM_INTERNAL] += gs->params.size + gs->ws.size + gs->q8.size;
    if (st == VKA_OK) {
        gs->params_map = (uint32_t *)(gs->params.chunk->map + gs->params.offset);
        memset(gs->params_map, 0, 256);
    }
    rec r = {.vb = vb, .gs = gs};
    for (uint32_t i = 0; st == VKA_OK && i < g->n_nodes; i++) {
        st = emit_node(&r, &g->nodes[i]);
        if (st != VKA_OK) st = vka_fail_context(st, "recording node %u (op %d)", i, (int)g->nodes[i].op);
    }
    if (st == VKA_OK && r.n == 0) st = vka_fail(VKA_ERR_INVALID_ARGUMENT, "vulkan: the graph has no nodes");
    if (st == VKA_OK) st = vk_stage_flush(vb); /* RoPE tables */
    if (st == VKA_OK) st = write_commands(vb, gs, &r);
    free(r.d);
    if (st != VKA_OK) {
        state_free(vb, gs);
        return st;
    }
    *out = gs;
    return VKA_OK;
}

/* ------------------------------------------------------------ compute */

static vka_status check_ids(const vk_graph_state *gs) {
    for (uint32_t i = 0; i < gs->n_checks; i++) {
        const vka_tensor *t = gs->checks[i].ids;
        vk_storage *s = vk_storage_of(t);
        if (!s->parts[0].alloc.chunk->map) continue; /* ids kept on the device are the caller's to check */
        const int32_t *ids = (const int32_t *)(s->parts[0].alloc.chunk->map + s->parts[0].alloc.offset + t->offset);
        int64_t n = t->ne[0] * t->ne[1];
        for (int64_t j = 0; j < n; j++)
            if (ids[j] < 0 || ids[j] >= gs->checks[i].rows)
                return vka_fail(VKA_ERR_INVALID_ARGUMENT, "token id %d is outside the vocabulary (0..%lld)", ids[j],
                                (long long)gs->checks[i].rows - 1);
    }
    return VKA_OK;
}

/* Positions this step's RoPE nodes reach (exclusive): contiguous ones
 * n_past + their tokens; those with a layout in a graph without KV nodes
 * the largest position their layout holds (n words each, host-visible). */
static int64_t positions_needed(const vk_graph_state *gs, uint32_t n_past) {
    int64_t need = gs->rope_tokens ? (int64_t)n_past + gs->rope_tokens : 0;
    for (uint32_t i = 0; i < gs->n_pos_checks; i++) {
        const vka_tensor *t = gs->pos_checks[i].layout;
        vk_storage *s = vk_storage_of(t);
        if (!s || !s->parts[0].alloc.chunk->map) continue; /* a layout kept on the device: the shader clamps */
        const int32_t *pos = (const int32_t *)(s->parts[0].alloc.chunk->map + s->parts[0].alloc.offset + t->offset);
        for (uint32_t j = 0; j < gs->pos_checks[i].tokens; j++)
            if ((int64_t)pos[j] + 1 > need) need = (int64_t)pos[j] + 1;
    }
    return need;
}

static int64_t position_hint(int64_t need, uint32_t n_past) {
    int64_t hint = 2 * (need > (int64_t)n_past ? need : (int64_t)n_past);
    return hint > 4096 ? hint : 4096;
}

vka_status vk_compute(vka_backend *b, vka_graph *g, uint32_t n_past) {
    vk_backend *vb = (vk_backend *)b;
    double t0 = vk_now();
    if (g->backend_state && g->state_owner != b) return vka_fail(VKA_ERR_INTERNAL, "vulkan: graph belongs to another backend");
    vk_graph_state *gs = g->backend_state;
    pthread_mutex_lock(&vb->mutex);
    vka_status st = vk_stage_flush(vb);
    int64_t need = gs ? positions_needed(gs, n_past) : 0;
    if (st == VKA_OK && gs && need > gs->pos_limit) {
        /* RoPE positions beyond the recorded tables (graphs without KV ops): record again */
        state_free(vb, gs);
        gs = g->backend_state = NULL;
    }
    double record_s = 0;
    if (st == VKA_OK && !gs) {
        double r0 = vk_now();
        st = record(vb, g, position_hint(need, n_past), &gs);
        if (st == VKA_OK && (need = positions_needed(gs, n_past)) > gs->pos_limit) {
            /* a layout's positions past the default tables: once more with room for them */
            state_free(vb, gs);
            st = record(vb, g, position_hint(need, n_past), &gs);
        }
        if (st == VKA_OK) {
            g->backend_state = gs;
            g->state_owner = b;
        }
        record_s = vk_now() - r0;
        vb->record_seconds += record_s;
    }
    pthread_mutex_unlock(&vb->mutex);
    VKA_TRY(st);
    if ((int64_t)n_past > gs->max_n_past)
        return vka_fail(VKA_ERR_CONTEXT_FULL, "KV cache overflow: %u + %u tokens > %lld", n_past, g->n_tokens,
                        (long long)(gs->max_n_past + g->n_tokens));
    VKA_TRY(check_ids(gs));
    gs->params_map[0] = n_past;
    double wait = 0;
    st = vk_submit_wait(vb, gs->cmd, gs->fence, &wait);
    double total = vk_now() - t0;
    pthread_mutex_lock(&vb->mutex);
    vb->steps++;
    vb->submits++;
    vb->wait_seconds += wait;
    vb->host_seconds += total - wait - record_s;
    pthread_mutex_unlock(&vb->mutex);
    return st;
}

void vk_graph_release(vka_backend *b, vka_graph *g) {
    vk_backend *vb = (vk_backend *)b;
    if (!g->backend_state) return;
    pthread_mutex_lock(&vb->mutex);
    state_free(vb, g->backend_state);
    pthread_mutex_unlock(&vb->mutex);
    g->backend_state = NULL;
    g->state_owner = NULL;
}
