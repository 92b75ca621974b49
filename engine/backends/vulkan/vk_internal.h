/* vk_internal.h — the Vulkan backend's private types, shared by the files of
 * engine/backends/vulkan/: device context, memory arenas, tensor storage (weights
 * repacked, split by rows into parts no larger than one binding), pipelines
 * and recorded graphs. */
#ifndef VKA_VK_INTERNAL_H
#define VKA_VK_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <vulkan/vulkan.h>

#include "backends/backend.h"
#include "base/status.h"
#include "backends/vulkan/vulkan_backend.h"

/* ------------------------------------------------------------ errors */

const char *vk_result_name(VkResult r);
/* VKA_OK for VK_SUCCESS; otherwise sets an error naming the VkResult and
 * what was being done (out-of-memory results map to their statuses). */
vka_status vk_check(VkResult r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define VK_TRY(call, ...) VKA_TRY(vk_check((call), __VA_ARGS__))

/* ------------------------------------------------------------ memory */

typedef struct vk_range {
    VkDeviceSize offset, size;
} vk_range;

/* One VkDeviceMemory with one buffer over all of it, sub-allocated first-fit. */
typedef struct vk_chunk {
    VkDeviceMemory memory;
    VkBuffer buffer;
    VkDeviceSize size, used;
    uint8_t *map;                    /* host-visible chunks stay mapped */
    vk_range *free;                  /* sorted, coalesced */
    uint32_t n_free, cap_free;
} vk_chunk;

typedef struct vk_arena {
    const char *name;
    uint32_t type_index, heap_index;
    bool host_visible, coherent;
    VkDeviceSize chunk_size;
    vk_chunk **chunks;
    uint32_t n_chunks, cap_chunks;
    uint64_t allocated;              /* bytes of device memory held */
} vk_arena;

typedef struct vk_alloc {
    vk_chunk *chunk;
    VkDeviceSize offset, size;
} vk_alloc;

/* ------------------------------------------------------------ tensors */

/* Device layout of a weight matrix's rows (see vk_repack.c). */
typedef struct vk_wlayout {
    uint32_t stride;                 /* floats (F32), halves (F16/BF16) or blocks per row */
    uint32_t nb;                     /* blocks of 32 per row (quantized) */
    uint32_t s_row;                  /* scale row stride: halves for Q8_0/Q4_0/IQ4_NL (even), else uints; 0 for float types */
    VkDeviceSize row_bytes;          /* bytes of a row's values */
    VkDeviceSize scale_row_bytes;    /* bytes of a row's scales */
} vk_wlayout;

typedef struct vk_part {
    vk_alloc alloc;
    VkBufferView view;               /* R32G32B32A32_UINT view of the part (when tune.texel) */
    uint32_t row0, rows;
    VkDeviceSize bytes;              /* bound range */
    VkDeviceSize scale_offset;       /* byte offset of the scale region in the part */
} vk_part;

typedef enum vk_usage_class { VK_MEM_WEIGHTS, VK_MEM_KV, VK_MEM_ACTIVATIONS, VK_MEM_IO, VK_MEM_INTERNAL, VK_MEM_CLASSES } vk_usage_class;

typedef struct vk_storage {
    vka_tensor_usage usage;
    vka_type type;
    vk_arena *arena;
    vk_part *parts;
    uint32_t n_parts;
    vk_wlayout layout;               /* weights only */
    int64_t ne0, ne1;
    const void *host;                /* weights: the caller's data (alive for the backend's lifetime) */
    VkDeviceSize bytes;              /* device bytes held */
} vk_storage;

/* ------------------------------------------------------------ pipelines */

#define VK_STAGING_BYTES ((VkDeviceSize)32 << 20)

#define VK_MAX_SPEC 8
#define VK_PUSH_BYTES 128
#define VK_BINDINGS 7                /* 0 dst, 1..3 sources, 4 per-step parameters: storage buffers */
#define VK_XTEX_BINDING 5            /* matmul inputs as a uniform texel buffer (CPU-type devices) */
#define VK_TEXEL_BINDING 6           /* matmul weights as a uniform texel buffer (CPU-type devices) */

typedef struct vk_pipeline {
    char module[40];
    uint32_t spec[VK_MAX_SPEC];      /* spec[0]: workgroup size */
    uint32_t n_spec;
    bool full_subgroups;
    VkPipeline pipeline;
} vk_pipeline;

/* Shapes chosen per device (VKAGENT_VK_PROFILE=cpu|gpu overrides). */
typedef struct vk_tuning {
    bool cpu_shapes;                 /* CPU-type device: register tiles, no shared memory */
    uint32_t lanes;                  /* K-lanes of the canonical matmul order */
    uint32_t mv_wg, mv_tr;           /* matrix-vector: mm_reg with TN = 1 */
    bool tiled;                      /* prefill: mm_tiled (GPU) or mm_reg (CPU) */
    uint32_t mm_wg, mm_tr, mm_tn;    /* mm_reg as matrix-matrix */
    uint32_t tm, tn, rm, rn;         /* mm_tiled */
    bool sg_reduce;                  /* lane sums by subgroup shuffles */
    bool texel;                      /* matmul weights and inputs through texel buffer views */
    bool q8_act;                     /* vk_q8_weight_type matmuls: 8-bit activations, integer kernel (mm_q8) */
    bool moe_grouped;                /* batched expert products on rows grouped by expert (vk_moe.c) */
    uint32_t max_groups;             /* workgroups per dimension vk_moe.c's ops dispatch (65535; lower: tests) */
    bool coopmat;                    /* NV cooperative matrices for F16/Q8_0/Q4_0 */
    uint32_t norm_wg, norm_rt;
    bool attn_split;                 /* decode attention split by key chunks (GPUs) */
    uint32_t elt_wg, attn_wg, argmax_wg;
} vk_tuning;

/* ------------------------------------------------------------ backend */

typedef struct vk_rope_table {
    uint32_t n_rot, n_pos;
    float base, scale, mscale;      /* mscale: the attention factor cos and sin carry */
    const vk_storage *factors;
    vk_alloc alloc;
    uint32_t refs;
} vk_rope_table;

typedef struct vk_backend {
    vka_backend base;
    VkInstance instance;
    VkDebugUtilsMessengerEXT messenger;
    VkPhysicalDevice phys;
    VkDevice device;
    VkQueue queue;
    uint32_t queue_family;
    vka_vk_device_desc desc;
    VkPhysicalDeviceMemoryProperties mem_props;
    VkDeviceSize max_binding;        /* largest range one descriptor may bind */
    VkDeviceSize max_alloc;
    VkDeviceSize align;
    vk_tuning tune;

    pthread_mutex_t mutex;           /* arenas, staging, pipelines, rope tables, stats */
    pthread_mutex_t queue_mutex;     /* vkQueueSubmit */

    vk_arena device_arena;           /* weights, activations, KV cache */
    vk_arena host_arena;             /* inputs, outputs, per-step parameters, staging */
    uint64_t heap_used[VK_MAX_MEMORY_HEAPS];
    uint64_t class_bytes[VK_MEM_CLASSES];

    /* staging: uploads are batched into one command buffer */
    vk_alloc staging;
    VkDeviceSize staging_used;
    VkCommandPool xfer_pool;
    VkCommandBuffer xfer_cmd;
    VkFence xfer_fence;
    bool xfer_recording;

    VkDescriptorSetLayout set_layout;
    VkPipelineLayout pipeline_layout;
    VkPipelineCache pipeline_cache;
    bool pipeline_cache_dirty;
    char pipeline_cache_path[1024];
    vk_pipeline **pipelines;
    uint32_t n_pipelines, cap_pipelines;
    VkShaderModule *modules;         /* per vka_vk_spirv_modules entry, created on demand */
    vk_alloc dummy;                  /* bound to unused bindings */
    VkBufferView dummy_view;

    vk_rope_table **ropes;
    uint32_t n_ropes, cap_ropes;

    uint64_t steps, submits;
    double host_seconds, wait_seconds;
    double pipeline_seconds;
    double record_seconds;
    uint32_t pipelines_created;
} vk_backend;

/* vk_device.c */
vka_status vk_instance_create(bool validation, VkInstance *instance, VkDebugUtilsMessengerEXT *messenger);
/* A command pool with one primary command buffer, and a fence; on failure
 * what was made stays in the outputs for the caller's usual cleanup. */
vka_status vk_cmd_create(vk_backend *vb, VkCommandPoolCreateFlags flags, VkCommandPool *pool, VkCommandBuffer *cmd,
                         VkFence *fence);
/* An environment switch is on: set, non-empty and not "0". */
bool vk_env_on(const char *name);
void vk_instance_destroy(VkInstance instance, VkDebugUtilsMessengerEXT messenger);
void vk_probe_device(VkInstance instance, VkPhysicalDevice phys, uint32_t index, vka_vk_device_desc *d);
/* Every physical device, probed; the caller frees *phys and *descs. */
vka_status vk_enumerate(VkInstance instance, VkPhysicalDevice **phys, vka_vk_device_desc **descs, uint32_t *n);
vka_status vk_device_create(vk_backend *vb);
void vk_choose_tuning(vk_backend *vb);

/* vk_memory.c */
void vk_arena_init(vk_arena *a, const char *name, uint32_t type_index, uint32_t heap_index, bool host_visible,
                   bool coherent, VkDeviceSize chunk_size);
vka_status vk_arenas_init(vk_backend *vb);
void vk_arena_release(vk_backend *vb, vk_arena *a);
vka_status vk_alloc_mem(vk_backend *vb, vk_arena *a, VkDeviceSize size, const char *what, vk_alloc *out);
void vk_free_mem(vk_backend *vb, vk_arena *a, vk_alloc *al);
/* Staging: a pointer where `size` bytes bound for dst+offset are written
 * now (the mapped destination itself when it is host-visible). */
vka_status vk_stage_write(vk_backend *vb, const vk_alloc *dst, VkDeviceSize offset, VkDeviceSize size, uint8_t **ptr);
vka_status vk_stage_zero(vk_backend *vb, const vk_alloc *dst, VkDeviceSize offset, VkDeviceSize size);
vka_status vk_stage_copy(vk_backend *vb, const vk_alloc *dst, VkDeviceSize dst_off, const vk_alloc *src,
                         VkDeviceSize src_off, VkDeviceSize size);
vka_status vk_stage_flush(vk_backend *vb);
/* An R32G32B32A32_UINT view of `size` bytes (rounded up to 16) from the allocation's start. */
vka_status vk_texel_view(vk_backend *vb, const vk_alloc *a, VkDeviceSize size, VkBufferView *out);
vka_status vk_read(vk_backend *vb, const vk_alloc *src, VkDeviceSize offset, VkDeviceSize size, void *out);
vka_status vk_submit_wait(vk_backend *vb, VkCommandBuffer cmd, VkFence fence, double *wait_s);

/* vk_repack.c */
vka_status vk_wlayout_init(vka_type type, int64_t k, vk_wlayout *out);
/* Device bytes of rows [r0, r0+n) of a weight matrix (values, scales) from
 * the GGUF rows at src (row_bytes apart). */
void vk_repack_values(vka_type type, const vk_wlayout *l, const uint8_t *src, size_t src_row_bytes, int64_t k,
                      uint32_t n, uint8_t *dst);
void vk_repack_scales(vka_type type, const vk_wlayout *l, const uint8_t *src, size_t src_row_bytes, uint32_t n,
                      uint8_t *dst);
/* The inverse, for reading weights back: one GGUF row from device bytes. */
void vk_unpack_row(vka_type type, const vk_wlayout *l, const uint8_t *values, const uint8_t *scales, int64_t k,
                   uint8_t *dst);
/* Weight types the integer kernel on 8-bit activations (mm_q8.comp) takes. */
bool vk_q8_weight_type(vka_type type);

/* vk_tensor.c */
extern const vka_backend_ops vk_backend_ops_table;
vka_status vk_tensor_alloc(vka_backend *b, vka_tensor *t, const void *init);
void vk_tensor_free(vka_backend *b, vka_tensor *t);
vka_status vk_tensor_set(vka_backend *b, vka_tensor *t, const void *data, size_t offset, size_t size);
vka_status vk_tensor_get(vka_backend *b, const vka_tensor *t, void *data, size_t offset, size_t size);
vka_status vk_tensor_copy(vka_backend *b, vka_tensor *dst, const vka_tensor *src, size_t size);
/* Storage of a tensor (its root's), or NULL. */
vk_storage *vk_storage_of(const vka_tensor *t);

/* vk_pipeline.c */
vka_status vk_pipelines_init(vk_backend *vb);
void vk_pipelines_release(vk_backend *vb);
vka_status vk_pipeline_get(vk_backend *vb, const char *module, const uint32_t *spec, uint32_t n_spec,
                           bool full_subgroups, vk_pipeline **out);

/* vk_graph.c */
vka_status vk_compute(vka_backend *b, vka_graph *g, uint32_t n_past);
void vk_graph_release(vka_backend *b, vka_graph *g);
void vk_ropes_release_all(vk_backend *vb);

/* vk_bandwidth.c */
vka_status vk_measure_bandwidth(vka_backend *b, double *bytes_per_second);

double vk_now(void);

/* Whether a matrix product with `type` weights takes the NV cooperative-
 * matrix shader (weights and activations rounded to f16) under tuning t. */
bool vka_vk_matmul_uses_coopmat(const vk_tuning *t, vka_type type);

#endif
