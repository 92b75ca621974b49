/* vk_record.h — recording a graph into dispatches, shared by vk_graph.c
 * (recording, submission, the weight and elementwise ops) and vk_emit_kv.c
 * (the ops that find positions and cache rows: RoPE, KV store, attention). */
#ifndef VKA_VK_RECORD_H
#define VKA_VK_RECORD_H

#include "backends/vulkan/vk_internal.h"

#define MAX_HAZARDS 32

typedef struct vk_binding {
    VkBuffer buffer;
    VkDeviceSize offset, range;
    VkBufferView view;         /* the texel binding */
} vk_binding;

typedef struct vk_dispatch {
    vk_pipeline *pipeline;
    vk_binding bind[VK_BINDINGS];
    uint32_t push[VK_PUSH_BYTES / 4];
    uint32_t push_words;
    uint32_t groups[3];
    bool barrier_before;
} vk_dispatch;

typedef struct id_check {
    const vka_tensor *ids;
    int64_t rows;
} id_check;

/* A RoPE node with a layout in a graph without KV nodes: its positions are
 * checked against the tables at compute (with KV nodes the host promises
 * positions below the cache rows, which the tables cover). */
typedef struct pos_check {
    const vka_tensor *layout;
    uint32_t tokens;
} pos_check;

typedef struct vk_graph_state {
    VkCommandPool pool;
    VkCommandBuffer cmd;
    VkFence fence;
    VkDescriptorPool dpool;
    vk_alloc params, ws;
    vk_alloc q8;               /* 8-bit activations of the integer matmuls (q8_act.comp's output) */
    VkBufferView q8_view;
    uint32_t *params_map;
    vk_rope_table *ropes[8];
    uint32_t n_ropes;
    int64_t max_n_past;        /* largest n_past the contiguous KV nodes allow (INT64_MAX without) */
    int64_t kv_rows;           /* most cache rows of any KV node (0 without) */
    int64_t pos_limit;         /* positions the RoPE tables cover */
    uint32_t rope_tokens;      /* tokens of the largest RoPE node without a layout */
    bool paged_ropes;          /* a RoPE node has a layout */
    id_check *checks;
    uint32_t n_checks;
    pos_check *pos_checks;
    uint32_t n_pos_checks;
} vk_graph_state;

typedef struct rec {
    vk_backend *vb;
    vk_graph_state *gs;
    vk_dispatch *d;
    uint32_t n, cap;
    const void *reads[MAX_HAZARDS], *writes[MAX_HAZARDS];
    uint32_t n_reads, n_writes;
    const vka_tensor *q8_x;    /* the input gs->q8 holds quantized, until something writes it */
    const vka_tensor *moe_groups; /* the route whose rows gs->ws holds grouped by expert (vk_moe.c) */
} rec;

static inline vk_binding vk_bind_alloc(const vk_alloc *a, VkDeviceSize range) {
    return (vk_binding){a->chunk->buffer, a->offset, range, NULL};
}

static inline uint32_t vk_div_up(uint64_t a, uint64_t b) { return (uint32_t)((a + b - 1) / b); }

/* A whole non-weight tensor's storage (or a one-row weight), and the element offset of t in it. */
vka_status vk_bind_plain(const vka_tensor *t, uint32_t elem_size, vk_binding *b, uint32_t *elem_off);
/* Adds a dispatch reading `reads` and writing `writes` (NULL-terminated lists of resources). */
vka_status vk_push_dispatch(rec *r, const vk_dispatch *d, const void *const *reads, const void *const *writes);
vka_status vk_set_groups(vk_dispatch *d, uint64_t x, uint64_t y);
void vk_set_push(vk_dispatch *d, const void *pc, size_t size);
vka_status vk_rec_pipeline(rec *r, const char *module, const uint32_t *spec, uint32_t n_spec, bool full_sg,
                           vk_dispatch *d);

/* vk_emit_kv.c */
vka_status vk_emit_rope(rec *r, const vka_node *n);
vka_status vk_emit_kv_store(rec *r, const vka_node *n);
vka_status vk_emit_attention(rec *r, const vka_node *n);

/* vk_moe.c */
vka_status vk_emit_moe_route(rec *r, const vka_node *n);
vka_status vk_emit_matmul_id(rec *r, const vka_node *n);
vka_status vk_emit_moe_sum(rec *r, const vka_node *n);
/* Whether a MATMUL_ID node runs on grouped rows, and the workspace its groups need. */
bool vk_moe_grouped(const vk_tuning *t, const vka_node *n);
VkDeviceSize vk_moe_ws_bytes(const vk_tuning *t, const vka_node *n);

#endif
