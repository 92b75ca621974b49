/* cpu_layout.h — a node's paged-KV layout (backend.h, above VKA_KV_BLOCK) as
 * the CPU ops read it: each token's position and the cache row of any
 * position of its sequence. Everything an op will read is validated first,
 * so a hostile table gets an error, never a read or write out of bounds. */
#ifndef VKA_CPU_LAYOUT_H
#define VKA_CPU_LAYOUT_H

#include "backends/backend.h"

typedef struct vka_cpu_layout {
    const int32_t *words; /* the layout's words; NULL: contiguous (token t at n_past + t, row p = p) */
    int64_t n_words;
    int64_t n;            /* tokens of the step */
    uint32_t n_past;      /* contiguous form only */
    int64_t max_pos;      /* the largest position of any token (-1 when n = 0) */
} vka_cpu_layout;

/* Reads `layout` (NULL: contiguous at n_past) for a step of n tokens: an I32
 * tensor of at least 2n words whose positions are >= 0 and whose table
 * starts lie in [2n, ne[0]). VKA_ERR_INVALID_ARGUMENT naming `op` otherwise. */
vka_status vka_cpu_layout_init(vka_cpu_layout *l, const vka_tensor *layout, int64_t n, uint32_t n_past, const char *op);

/* Checks that positions first .. last of token t's sequence have table
 * entries inside the layout (VKA_ERR_INVALID_ARGUMENT) and rows below
 * cache_rows (VKA_ERR_CONTEXT_FULL). */
vka_status vka_cpu_layout_check_rows(const vka_cpu_layout *l, int64_t t, int64_t first, int64_t last,
                                     int64_t cache_rows, const char *op);

/* Both of the above for attention: the layout of q's n tokens, and every
 * key row each token reads (positions 0 .. its own) inside both caches. */
vka_status vka_cpu_layout_check_keys(vka_cpu_layout *l, const vka_tensor *layout, int64_t n, uint32_t n_past,
                                     const vka_tensor *k_cache, const vka_tensor *v_cache);

/* Token t's position. */
static inline int64_t vka_cpu_layout_pos(const vka_cpu_layout *l, int64_t t) {
    return l->words ? (int64_t)l->words[t] : (int64_t)l->n_past + t;
}

/* Token t's block table (VKA_KV_BLOCK positions per entry); NULL when contiguous. */
static inline const int32_t *vka_cpu_layout_table(const vka_cpu_layout *l, int64_t t) {
    return l->words ? l->words + l->words[l->n + t] : NULL;
}

/* The cache row of position p of token t's sequence (checked beforehand). */
static inline int64_t vka_cpu_layout_row(const vka_cpu_layout *l, int64_t t, int64_t p) {
    const int32_t *table = vka_cpu_layout_table(l, t);
    if (!table) return p;
    return (int64_t)table[p / VKA_KV_BLOCK] * VKA_KV_BLOCK + p % VKA_KV_BLOCK;
}

#endif
