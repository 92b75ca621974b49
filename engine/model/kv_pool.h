/* kv_pool.h — a scheduler's paged KV cache: per layer one K and one V
 * tensor of n_blocks * VKA_KV_BLOCK rows, handed out a block at a time to
 * sequences (sessions), with reference counts for sharing and a prefix
 * cache that finds blocks already holding the same tokens at the same
 * positions (after the same earlier blocks). */
#ifndef VKA_KV_POOL_H
#define VKA_KV_POOL_H

#include "backends/backend.h"
#include "model/model.h"

#define VKA_KV_NONE UINT32_MAX

typedef struct vka_kv_block {
    uint32_t refs;                   /* sequences holding it */
    uint32_t gen;                    /* changes whenever its contents may change: keys naming it as parent go stale */
    bool registered;                 /* in the prefix cache (full, immutable while registered) */
    uint32_t parent, parent_gen;     /* the block before it when registered (VKA_KV_NONE for the first) */
    uint64_t hash;
    uint32_t hash_next;              /* chain in its hash bucket */
    uint32_t lru_prev, lru_next;     /* among cached blocks (refs 0, registered) */
    int32_t tokens[VKA_KV_BLOCK];    /* what it holds, when registered (checked on every match) */
    /* when registered in a pool with sliding blocks: the sliding layers'
     * block of the same positions (VKA_KV_NONE: none), usable while its
     * generation is still swa_gen (neither handed out again nor written) */
    uint32_t swa, swa_gen;
} vka_kv_block;

typedef struct vka_kv_pool {
    vka_model *model;
    uint32_t n_blocks;
    bool f16;
    vka_tensor *k, *v;               /* per layer [kv_dim, n_blocks * VKA_KV_BLOCK] */
    vka_kv_block *blocks;
    uint32_t *free_ids;              /* never-registered free blocks (a stack) */
    uint32_t n_free;
    uint32_t lru_head, lru_tail;     /* cached blocks, least recently released first */
    uint32_t n_cached;
    uint32_t *buckets;               /* hash buckets: first block or VKA_KV_NONE */
    uint32_t n_buckets;
    /* Sliding-window layers (gemma2/3) need only their last window of
     * positions: when that bounds them below the pool, their caches have
     * n_swa_blocks blocks, a block space of their own (reference-counted,
     * outside the prefix cache) that sequences index with a second table.
     * 0: every layer uses the blocks above. Free ones are handed out
     * oldest first (a queue), so that their rows stay for the prefix cache
     * as long as possible. */
    uint32_t n_swa_blocks;
    uint32_t *swa_refs;
    uint32_t *swa_gen;               /* changes whenever a block's rows may change */
    uint32_t *swa_free_ids;          /* a ring of n_swa_blocks: n_swa_free from swa_free_head */
    uint32_t n_swa_free, swa_free_head;
} vka_kv_pool;

/* Blocks the sliding-window layers of m need for n_seq sequences stepping
 * at most n_batch tokens in all (a window, the step, block rounding), or 0
 * when that would not be fewer than n_blocks (or m has no sliding layers). */
uint32_t vka_kv_swa_blocks_for(const vka_model *m, uint32_t n_blocks, uint32_t n_batch, uint32_t n_seq);
/* Bytes of a pool of n_blocks (n_swa_blocks for the sliding layers; 0: n_blocks) for the model. */
uint64_t vka_kv_pool_bytes(const vka_model *m, uint32_t n_blocks, uint32_t n_swa_blocks, bool f16);
vka_status vka_kv_pool_init(vka_kv_pool *pool, vka_model *m, uint32_t n_blocks, uint32_t n_swa_blocks, bool f16);

/* Whether layer il's cache is in the sliding layers' block space. */
static inline bool vka_kv_layer_swa(const vka_kv_pool *pool, uint32_t il) {
    return pool->n_swa_blocks && vka_hparams_layer_swa(&pool->model->hp, il);
}
void vka_kv_pool_destroy(vka_kv_pool *pool);

/* Blocks that can be handed out now (free, or cached and evictable). */
static inline uint32_t vka_kv_pool_available(const vka_kv_pool *pool) { return pool->n_free + pool->n_cached; }

/* A block for one holder: a free one, else the least recently cached one
 * (dropped from the prefix cache). VKA_ERR_CONTEXT_FULL when none is left
 * (the caller makes room and tries again). */
vka_status vka_kv_block_alloc(vka_kv_pool *pool, uint32_t *id);
void vka_kv_block_retain(vka_kv_pool *pool, uint32_t id);
void vka_kv_block_release(vka_kv_pool *pool, uint32_t id);

/* A registered block holding `tokens` (VKA_KV_BLOCK of them) right after
 * block `parent` as it is now (VKA_KV_NONE: at position 0), or VKA_KV_NONE. */
uint32_t vka_kv_block_lookup(const vka_kv_pool *pool, uint32_t parent, const int32_t *tokens);
/* Enters a full block into the prefix cache (no-op if it already is). */
void vka_kv_block_register(vka_kv_pool *pool, uint32_t id, uint32_t parent, const int32_t *tokens);
/* Takes a block out of the prefix cache before its rows change. */
void vka_kv_block_unregister(vka_kv_pool *pool, uint32_t id);

/* Blocks of the sliding layers' space (n_swa_blocks > 0): a free one
 * (VKA_ERR_CONTEXT_FULL when none), holders counted. */
vka_status vka_kv_swa_alloc(vka_kv_pool *pool, uint32_t *id);
void vka_kv_swa_retain(vka_kv_pool *pool, uint32_t id);
void vka_kv_swa_release(vka_kv_pool *pool, uint32_t id);
/* A held sliding block is about to be written in place. */
static inline void vka_kv_swa_touch(vka_kv_pool *pool, uint32_t id) { pool->swa_gen[id]++; }
/* The sliding block that registered block id links to, if its rows are
 * still those it had when linked; else VKA_KV_NONE. */
uint32_t vka_kv_swa_linked(const vka_kv_pool *pool, uint32_t id);
/* Links registered block id to sliding block swa (its rows now). */
void vka_kv_swa_link(vka_kv_pool *pool, uint32_t id, uint32_t swa);
/* Takes one more holder of a sliding block, free or not (a linked one found
 * by the prefix cache). */
void vka_kv_swa_take(vka_kv_pool *pool, uint32_t id);

/* Copies the first n_rows rows of block src into block dst, every layer of
 * the block's space (the sliding layers' when swa, else the others). */
vka_status vka_kv_block_copy(vka_kv_pool *pool, bool swa, uint32_t dst, uint32_t src, uint32_t n_rows);

/* Copies a whole block from another pool of the same model, KV type and spaces. */
vka_status vka_kv_block_copy_between(vka_kv_pool *dst_pool, bool swa, uint32_t dst, vka_kv_pool *src_pool,
                                     uint32_t src);

/* Reads or writes n rows of one layer's K (v false) or V cache starting at
 * cache row `row` (within one block). */
vka_status vka_kv_rows_get(vka_kv_pool *pool, uint32_t layer, bool v, uint32_t row, uint32_t n, void *out);
vka_status vka_kv_rows_set(vka_kv_pool *pool, uint32_t layer, bool v, uint32_t row, uint32_t n, const void *in);

#endif
