/* backend.h — the one op interface both compute backends implement (the
 * plain-C reference in engine/backends/cpu/, Vulkan in engine/backends/vulkan/).
 *
 * The forward pass (engine/model/forward.c) describes one step as a graph: a list
 * of ops over tensors. A backend runs the graph; it never knows what a model
 * is. Graphs are built once per shape and may be run many times (a backend
 * may keep recorded work in graph->backend_state), with the per-step
 * position n_past passed to vka_backend_compute. */
#ifndef VKA_BACKEND_H
#define VKA_BACKEND_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "format/types.h"
#include "vkagent.h"

typedef struct vka_backend vka_backend;
struct vka_backend_stats;

typedef enum vka_tensor_usage {
    VKA_USAGE_WEIGHT = 0,     /* uploaded once from host data, then read-only */
    VKA_USAGE_ACTIVATION = 1, /* scratch written and read by ops */
    VKA_USAGE_KV = 2,         /* KV cache: persistent, written by KV_STORE */
    VKA_USAGE_INPUT = 3,      /* written by the host before each compute (token ids) */
    VKA_USAGE_OUTPUT = 4,     /* written by ops, read back by the host (logits, argmax) */
} vka_tensor_usage;

/* A 2-D tensor of rows: ne[0] elements per row (the innermost, input-feature
 * dimension), ne[1] rows. Rows are contiguous; row_bytes = row size of ne[0]
 * elements of `type`. A view shares its parent's storage from byte `offset`. */
typedef struct vka_tensor {
    const char *name;
    vka_type type;
    int64_t ne[2];
    size_t row_bytes;
    size_t nbytes;                 /* row_bytes * ne[1] */
    vka_tensor_usage usage;
    struct vka_tensor *parent;     /* non-NULL for a view */
    size_t offset;                 /* byte offset into the parent (views) */
    void *data;                    /* host memory (CPU backend: weights point into the GGUF mapping) */
    void *impl;                    /* backend-private storage */
} vka_tensor;

/* Fills in a tensor's shape (row_bytes, nbytes from type and ne). */
void vka_tensor_init(vka_tensor *t, const char *name, vka_type type, int64_t ne0, int64_t ne1,
                     vka_tensor_usage usage);
/* A view of rows [row, row + n_rows) of `parent`, optionally re-shaped to
 * rows of ne0 elements (same bytes, e.g. [dim, n] as [head_dim, heads * n]). */
void vka_tensor_view(vka_tensor *view, vka_tensor *parent, int64_t row, int64_t n_rows, int64_t ne0);
/* The tensor that owns the storage (follows views). */
const vka_tensor *vka_tensor_root(const vka_tensor *t);

typedef enum vka_rope_mode {
    VKA_ROPE_NORM = 0,   /* rotate adjacent pairs (2i, 2i+1): llama */
    VKA_ROPE_NEOX = 1,   /* rotate (i, i + n_rot/2): qwen2, qwen3 */
} vka_rope_mode;

typedef enum vka_op {
    /* dst[ne0, n] = f32 rows of src0 (any supported type) picked by src1 (I32 ids [n]) */
    VKA_OP_GET_ROWS = 0,
    /* dst = src0 / sqrt(mean(src0^2) + eps) * src1 per row of ne0; src1 F32 [ne0] */
    VKA_OP_RMS_NORM = 1,
    /* dst[out, n] (+)= src0[in, out] · src1[in, n] (+ src2 bias [out] if given).
     * src0 is the weight (any supported type), src1 and dst F32. */
    VKA_OP_MATMUL = 2,
    /* in place on src0 (F32, rows of head_dim, heads * n rows): rotary embedding
     * at each token's position (see `layout` below); src1 optional F32
     * frequency factors [n_rot/2] */
    VKA_OP_ROPE = 3,
    /* dst (KV cache [kv_dim, rows], F32 or F16): the cache row of each token's
     * position (see `layout`) = the token's row of src0 [kv_dim, n] */
    VKA_OP_KV_STORE = 4,
    /* dst[n_head*head_dim_v, n] = causal softmax(q·k * scale) · v, GQA: token i
     * attends to positions 0 .. pos(i) of its own sequence (see `layout`).
     * src0 q [n_head*head_dim, n], src1 K cache [n_head_kv*head_dim, rows],
     * src2 V cache [n_head_kv*head_dim_v, rows] */
    VKA_OP_ATTENTION = 5,
    /* dst = silu(src0) * src1 elementwise */
    VKA_OP_SWIGLU = 6,
    /* dst = src0 + src1 elementwise */
    VKA_OP_ADD = 7,
    /* dst (I32 [1, rows]) = index of the largest value of each row of src0 (lowest on ties) */
    VKA_OP_ARGMAX = 8,
    /* dst = gelu(src0) * src1 elementwise, GELU in its tanh form:
     * gelu(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) (gemma's FFN) */
    VKA_OP_GEGLU = 9,
    /* dst = src0 * p.scale elementwise (may be in place) */
    VKA_OP_SCALE = 10,
    /* dst = p.cap * tanh(src0 / p.cap) elementwise (soft-capping; may be in place) */
    VKA_OP_SOFTCAP = 11,
    /* Mixture-of-experts router: dst (F32 [2k, n], a "route" row per token:
     * weights w_0..w_{k-1}, then expert ids id_0..id_{k-1} as exact floats) from
     * the router logits src0 (F32 [n_expert, n]): p = softmax(logits); the k
     * largest p in descending order (lowest id first on ties); w_s = p_s, or
     * p_s / max(sum of the k p, VKA_MOE_NORM_MIN) when p.moe.norm */
    VKA_OP_MOE_ROUTE = 12,
    /* Expert matrix products: dst row t*k + s (F32 [out, n*k]) = W_e · x where
     * e = id_s of route row t (src2), W_e = rows [e*out, (e+1)*out) of src0 (the
     * 3-D expert tensor [in, out, n_expert] stored as [in, out * n_expert], any
     * supported type), x = row t of src1 (F32 [in, n]) or, when
     * p.moe.per_slot, row t*k + s of src1 (F32 [in, n*k]) */
    VKA_OP_MATMUL_ID = 13,
    /* dst[ne0, n] += the sum over s = 0..k-1, in that order, of w_s * row
     * t*k + s of src0 (F32 [ne0, n*k]); w_s from route row t (src1) */
    VKA_OP_MOE_SUM = 14,
    VKA_OP_COUNT = 15,
} vka_op;

/* MOE_ROUTE, MATMUL_ID, MOE_SUM: k experts per token */
typedef struct vka_moe_params {
    uint32_t n_used;         /* k */
    bool norm;               /* MOE_ROUTE: renormalise the k weights to sum 1 */
    bool per_slot;           /* MATMUL_ID: src1 has a row per (token, slot) */
} vka_moe_params;

/* The smallest sum MOE_ROUTE divides by (llama.cpp clamps it the same way). */
#define VKA_MOE_NORM_MIN 6.103515625e-5f

typedef struct vka_rope_params {
    vka_rope_mode mode;
    uint32_t n_heads;        /* heads per token: row r belongs to token r / n_heads */
    uint32_t n_rot;          /* rotated dimensions per head (<= head_dim) */
    float freq_base;         /* theta_i = pos * freq_scale * base^(-2i/n_rot) / factor_i */
    float freq_scale;
    /* RoPE's attention factor (LongRoPE's mscale, phi3's rope.scaling.attn_factor):
     * cos and sin are multiplied by it, so the n_rot rotated dimensions are scaled
     * and the head_dim - n_rot passed-through ones are not (0: none, as 1). */
    float attn_factor;
} vka_rope_params;

/* The factor cos and sin are multiplied by (f32, as every backend rounds it). */
static inline float vka_rope_mscale(const vka_rope_params *p) { return p->attn_factor > 0.0f ? p->attn_factor : 1.0f; }

/* The rotation angle of pair i at position pos, in double, as every backend
 * computes it (the CPU reference directly, Vulkan into its cos/sin tables),
 * so that both round the same value to f32. ff: frequency factors or NULL. */
static inline double vka_rope_theta(double pos, uint32_t i, uint32_t n_rot, float base, float scale, const float *ff) {
    double theta = pos * (double)scale * pow((double)base, -2.0 * i / (double)n_rot);
    return ff ? theta / (double)ff[i] : theta;
}

typedef struct vka_attention_params {
    uint32_t n_head, n_head_kv, head_dim, head_dim_v;
    float scale;             /* usually 1/sqrt(head_dim) */
    /* Optional (0: off). softcap: each score s = scale * q·k becomes
     * softcap * tanh(s / softcap) before the softmax (gemma2). window: a
     * query at position p sees only keys at positions j with p - j < window,
     * i.e. the last `window` positions, itself included (sliding-window
     * layers; the cache keeps every row: only the visible ones are used). */
    float softcap;
    uint32_t window;
} vka_attention_params;

/* The first key position a query at `pos` sees under attention params p. */
static inline int64_t vka_attention_first_key(const vka_attention_params *p, int64_t pos) {
    return p->window && pos + 1 > (int64_t)p->window ? pos + 1 - (int64_t)p->window : 0;
}

/* Paged KV caches and ragged batches.
 *
 * ROPE, KV_STORE and ATTENTION find each token's position and cache rows in
 * the node's `layout`, an I32 tensor (usage INPUT, one row of ne[0] words)
 * the host writes before each run. For a step of n tokens (the token of row
 * t of the activations being token t):
 *
 *   word t            (t < n): pos(t), the token's position in its sequence
 *   word n + t        (t < n): tab(t), the index (in words of this tensor)
 *                              where the block table of t's sequence starts
 *   words from 2n on:          block tables, one per sequence of the batch:
 *                              table[b] = the cache block holding positions
 *                              b*VKA_KV_BLOCK .. b*VKA_KV_BLOCK + VKA_KV_BLOCK-1
 *
 * Position p of token t's sequence sits in cache row
 *   row(t, p) = table_t[p / VKA_KV_BLOCK] * VKA_KV_BLOCK + p % VKA_KV_BLOCK
 * KV_STORE writes row(t, pos(t)); ATTENTION reads rows row(t, 0 .. pos(t));
 * ROPE rotates by pos(t). Sequences are independent: token t never sees
 * another sequence's keys, and a sequence's own later tokens in the same
 * batch only as the causal order allows (the host lists a sequence's tokens
 * in position order and stores every table entry a token can reach).
 * The host guarantees every row it names is inside the caches (backends may
 * check cheaply, never by reading the whole table).
 *
 * Batch invariance: a token's results (every op's output row, bit for bit)
 * depend only on its own inputs, its position and the cache rows it reads,
 * never on n, on the other tokens of the step, or on where its rows sit in
 * the cache. Schedulers rely on it: a sequence gets the same logits alone or
 * in any batch.
 *
 * With layout NULL (tests, tools) the old contiguous form holds: token t at
 * position n_past + t (vka_backend_compute's n_past), row(t, p) = p. */
#define VKA_KV_BLOCK 32u

typedef struct vka_node {
    vka_op op;
    vka_tensor *dst;
    vka_tensor *src[3];
    vka_tensor *layout;                  /* ROPE, KV_STORE, ATTENTION: see above (NULL: contiguous) */
    union {
        float eps;                       /* RMS_NORM */
        bool accumulate;                 /* MATMUL: dst += instead of dst = */
        vka_rope_params rope;            /* ROPE */
        vka_attention_params attn;       /* ATTENTION */
        float scale;                     /* SCALE */
        float cap;                       /* SOFTCAP */
        vka_moe_params moe;              /* MOE_ROUTE, MATMUL_ID, MOE_SUM */
    } p;
} vka_node;

typedef struct vka_graph {
    vka_node *nodes;
    uint32_t n_nodes, cap;
    uint32_t n_tokens;               /* tokens processed per run */
    void *backend_state;             /* owned by the backend that ran it */
    vka_backend *state_owner;
} vka_graph;

void vka_graph_init(vka_graph *g, uint32_t n_tokens);
/* Appends a node; VKA_ERR_OUT_OF_MEMORY on failure (the graph stays valid). */
vka_status vka_graph_add(vka_graph *g, const vka_node *node);
/* Frees the nodes and any backend state. */
void vka_graph_free(vka_graph *g);

/* Memory a backend can still hand out for a session's buffers, so that sizes
 * asked for by the user (context, batch) are refused before allocating. */
typedef struct vka_memory_budget {
    uint64_t bytes;
    bool device;                     /* device memory (else host memory) */
    char where[192];                 /* in words: "host memory (MemAvailable)", "memory heap 0 of ..." */
} vka_memory_budget;

typedef struct vka_backend_ops {
    void (*destroy)(vka_backend *b);
    /* Gives t storage. WEIGHT tensors are filled from `init` (t->nbytes
     * bytes, kept alive by the caller for the backend's lifetime: the CPU
     * backend reads it in place). Other usages start zeroed. */
    vka_status (*tensor_alloc)(vka_backend *b, vka_tensor *t, const void *init);
    void (*tensor_free)(vka_backend *b, vka_tensor *t);
    vka_status (*tensor_set)(vka_backend *b, vka_tensor *t, const void *data, size_t offset, size_t size);
    vka_status (*tensor_get)(vka_backend *b, const vka_tensor *t, void *data, size_t offset, size_t size);
    /* Copies `size` bytes between two tensors' storage (KV cache forks). */
    vka_status (*tensor_copy)(vka_backend *b, vka_tensor *dst, const vka_tensor *src, size_t size);
    /* Runs every node in order; nodes without a layout put token t at position n_past + t. */
    vka_status (*compute)(vka_backend *b, vka_graph *g, uint32_t n_past);
    /* Releases what the backend keeps for g (called by vka_graph_free). */
    void (*graph_release)(vka_backend *b, vka_graph *g);
    /* Optional (may be NULL): counters for `vkagent bench`. */
    void (*get_stats)(vka_backend *b, struct vka_backend_stats *stats);
    /* Optional: measures the device's memory read bandwidth in bytes/s. */
    vka_status (*measure_bandwidth)(vka_backend *b, double *bytes_per_second);
    /* Optional: what is left to allocate (false when it cannot be known). */
    bool (*memory_budget)(vka_backend *b, vka_memory_budget *out);
    /* Optional: whether weight t (allocated from host data) is computed from
     * a copy the backend keeps, so the host data is rarely read again (the
     * model then lets the kernel drop the file's pages; reads still work). */
    bool (*weight_is_copied)(vka_backend *b, const vka_tensor *t);
} vka_backend_ops;

/* What a backend has done and holds (backends without a counter leave it 0). */
typedef struct vka_backend_stats {
    uint64_t computes;               /* graph runs */
    double host_seconds;             /* host time inside compute, minus waiting for the device and recording */
    double wait_seconds;             /* time waiting for the device */
    uint64_t device_bytes;           /* device memory allocated (weights, caches, buffers) */
    /* Vulkan: device_bytes by use (after repacking), and one-time costs */
    uint64_t weight_bytes, kv_bytes, activation_bytes, io_bytes, internal_bytes;
    uint64_t submits;                /* queue submissions (steps and transfers) */
    double record_seconds;           /* recording graphs (once per graph shape), pipelines included */
    double pipeline_seconds;         /* creating pipelines */
    uint32_t pipelines;              /* pipelines created */
} vka_backend_stats;

struct vka_backend {
    const vka_backend_ops *ops;
    char name[256];                  /* in words, e.g. "cpu" or "vulkan:0 (llvmpipe ...)" */
    bool kv_f16_default;             /* what VKA_KV_AUTO chooses */
};

/* Opens the backend for a device string ("auto", "cpu", "cpu-ref", "vulkan", "vulkan:N");
 * NULL means VKAGENT_DEVICE or "auto". */
vka_status vka_backend_open(const char *device, vka_backend **out);
/* The same with the CPU backend's thread count (0: VKAGENT_THREADS, else
 * one per core); the Vulkan backend does not use it. */
vka_status vka_backend_open_threads(const char *device, unsigned n_threads, vka_backend **out);
void vka_backend_close(vka_backend *b);

/* The reference CPU backend (device `cpu-ref`, the tests' oracle). */
vka_status vka_cpu_backend_create(vka_backend **out);
vka_status vka_cpu_backend_create_threads(unsigned n_threads, vka_backend **out);
/* The fast CPU backend (device `cpu`): the reference's plumbing with SIMD kernels for the
 * matrix products, attention, norms, RoPE and SwiGLU (get_rows, kv_store, argmax stay plain C). */
vka_status vka_cpu_fast_backend_create_threads(unsigned n_threads, vka_backend **out);

/* Host memory available to this process: MemAvailable of /proc/meminfo, else
 * the free physical pages. False when neither can be read. */
bool vka_host_memory_available(uint64_t *bytes);

/* Memory held and time spent by a backend (for `vkagent bench`, `devices --model`). */
void vka_backend_get_stats(vka_backend *b, vka_backend_stats *out);

static inline vka_status vka_backend_compute(vka_backend *b, vka_graph *g, uint32_t n_past) {
    return b->ops->compute(b, g, n_past);
}

#endif
