/* kv_pool.c — the paged KV cache's blocks: allocation, reference counts,
 * the prefix cache (registered full blocks found by their tokens and the
 * block before them) and its least-recently-used eviction. */
#include <stdlib.h>
#include <string.h>

#include "model/kv_pool.h"
#include "base/status.h"

static bool any_swa_layer(const vka_hparams *hp) {
    for (uint32_t il = 0; il < hp->n_layer; il++)
        if (vka_hparams_layer_swa(hp, il)) return true;
    return false;
}

/* A sequence holds the blocks from its window's start, one position early
 * (its last token may be evaluated again), to its end: at most window/32 + 2
 * blocks; a step of n tokens adds n/32 + 1 more to each sequence it runs. */
uint32_t vka_kv_swa_blocks_for(const vka_model *m, uint32_t n_blocks, uint32_t n_batch, uint32_t n_seq) {
    const vka_hparams *hp = &m->hp;
    if (!any_swa_layer(hp)) return 0;
    uint64_t need = (uint64_t)n_seq * (hp->swa_window / VKA_KV_BLOCK + 3) + n_batch / VKA_KV_BLOCK + 1;
    return need < n_blocks ? (uint32_t)need : 0;
}

uint64_t vka_kv_pool_bytes(const vka_model *m, uint32_t n_blocks, uint32_t n_swa_blocks, bool f16) {
    const vka_hparams *hp = &m->hp;
    uint64_t per_row = (uint64_t)hp->n_head_kv * (hp->head_dim + hp->head_dim_v) * (f16 ? 2u : 4u), rows = 0;
    for (uint32_t il = 0; il < hp->n_layer; il++)
        rows += (n_swa_blocks && vka_hparams_layer_swa(hp, il) ? n_swa_blocks : n_blocks) * (uint64_t)VKA_KV_BLOCK;
    return per_row * rows;
}

static vka_status alloc_cache(vka_kv_pool *pool, vka_tensor *t, const char *name, int64_t row, uint32_t n_blocks) {
    vka_type type = pool->f16 ? VKA_TYPE_F16 : VKA_TYPE_F32;
    vka_tensor_init(t, name, type, row, (int64_t)n_blocks * VKA_KV_BLOCK, VKA_USAGE_KV);
    vka_backend *b = pool->model->backend;
    vka_status st = b->ops->tensor_alloc(b, t, NULL);
    if (st != VKA_OK) {
        t->nbytes = 0;
        return vka_fail_context(st, "allocating the KV pool's %s", name);
    }
    return VKA_OK;
}

vka_status vka_kv_pool_init(vka_kv_pool *pool, vka_model *m, uint32_t n_blocks, uint32_t n_swa_blocks, bool f16) {
    memset(pool, 0, sizeof *pool);
    pool->model = m;
    pool->n_blocks = n_blocks;
    pool->n_swa_blocks = n_swa_blocks;
    pool->f16 = f16;
    pool->lru_head = pool->lru_tail = VKA_KV_NONE;
    pool->n_buckets = 1;
    while (pool->n_buckets < n_blocks) pool->n_buckets *= 2;
    const vka_hparams *hp = &m->hp;
    pool->k = calloc(hp->n_layer, sizeof *pool->k);
    pool->v = calloc(hp->n_layer, sizeof *pool->v);
    pool->blocks = calloc(n_blocks, sizeof *pool->blocks);
    pool->free_ids = malloc(n_blocks * sizeof *pool->free_ids);
    pool->buckets = malloc(pool->n_buckets * sizeof *pool->buckets);
    pool->swa_refs = calloc(n_swa_blocks ? n_swa_blocks : 1, sizeof *pool->swa_refs);
    pool->swa_gen = calloc(n_swa_blocks ? n_swa_blocks : 1, sizeof *pool->swa_gen);
    pool->swa_free_ids = malloc((n_swa_blocks ? n_swa_blocks : 1) * sizeof *pool->swa_free_ids);
    if (!pool->k || !pool->v || !pool->blocks || !pool->free_ids || !pool->buckets || !pool->swa_refs ||
        !pool->swa_gen || !pool->swa_free_ids) {
        vka_kv_pool_destroy(pool);
        return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
    }
    for (uint32_t i = 0; i < pool->n_buckets; i++) pool->buckets[i] = VKA_KV_NONE;
    /* handed out from the low ids up */
    for (uint32_t i = 0; i < n_blocks; i++) pool->free_ids[i] = n_blocks - 1 - i;
    pool->n_free = n_blocks;
    for (uint32_t i = 0; i < n_swa_blocks; i++) pool->swa_free_ids[i] = i;
    pool->n_swa_free = n_swa_blocks;
    for (uint32_t il = 0; il < hp->n_layer; il++) {
        uint32_t blocks = vka_kv_layer_swa(pool, il) ? n_swa_blocks : n_blocks;
        vka_status st = alloc_cache(pool, &pool->k[il], "k_cache", (int64_t)hp->n_head_kv * hp->head_dim, blocks);
        if (st == VKA_OK)
            st = alloc_cache(pool, &pool->v[il], "v_cache", (int64_t)hp->n_head_kv * hp->head_dim_v, blocks);
        if (st != VKA_OK) {
            vka_kv_pool_destroy(pool);
            return st;
        }
    }
    return VKA_OK;
}

void vka_kv_pool_destroy(vka_kv_pool *pool) {
    vka_backend *b = pool->model ? pool->model->backend : NULL;
    for (uint32_t il = 0; b && il < pool->model->hp.n_layer; il++) {
        if (pool->k && pool->k[il].nbytes) b->ops->tensor_free(b, &pool->k[il]);
        if (pool->v && pool->v[il].nbytes) b->ops->tensor_free(b, &pool->v[il]);
    }
    free(pool->k);
    free(pool->v);
    free(pool->blocks);
    free(pool->free_ids);
    free(pool->buckets);
    free(pool->swa_refs);
    free(pool->swa_gen);
    free(pool->swa_free_ids);
    memset(pool, 0, sizeof *pool);
}

/* ------------------------------------------------------------ the LRU list of cached blocks */

static void lru_remove(vka_kv_pool *pool, uint32_t id) {
    vka_kv_block *k = &pool->blocks[id];
    if (k->lru_prev != VKA_KV_NONE) pool->blocks[k->lru_prev].lru_next = k->lru_next;
    else pool->lru_head = k->lru_next;
    if (k->lru_next != VKA_KV_NONE) pool->blocks[k->lru_next].lru_prev = k->lru_prev;
    else pool->lru_tail = k->lru_prev;
    pool->n_cached--;
}

static void lru_push(vka_kv_pool *pool, uint32_t id) {
    vka_kv_block *k = &pool->blocks[id];
    k->lru_prev = pool->lru_tail;
    k->lru_next = VKA_KV_NONE;
    if (pool->lru_tail != VKA_KV_NONE) pool->blocks[pool->lru_tail].lru_next = id;
    else pool->lru_head = id;
    pool->lru_tail = id;
    pool->n_cached++;
}

/* ------------------------------------------------------------ the prefix cache */

/* FNV-1a over the parent's identity and the tokens. */
static uint64_t key_hash(uint32_t parent, uint32_t parent_gen, const int32_t *tokens) {
    uint64_t h = 1469598103934665603ull;
    uint32_t words[2] = {parent, parent_gen};
    const unsigned char *p = (const unsigned char *)words;
    for (size_t i = 0; i < sizeof words; i++) h = (h ^ p[i]) * 1099511628211ull;
    p = (const unsigned char *)tokens;
    for (size_t i = 0; i < VKA_KV_BLOCK * sizeof *tokens; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

static uint32_t gen_of(const vka_kv_pool *pool, uint32_t id) { return id == VKA_KV_NONE ? 0 : pool->blocks[id].gen; }

uint32_t vka_kv_block_lookup(const vka_kv_pool *pool, uint32_t parent, const int32_t *tokens) {
    uint32_t parent_gen = gen_of(pool, parent);
    uint64_t h = key_hash(parent, parent_gen, tokens);
    for (uint32_t id = pool->buckets[h & (pool->n_buckets - 1)]; id != VKA_KV_NONE; id = pool->blocks[id].hash_next) {
        const vka_kv_block *k = &pool->blocks[id];
        if (k->hash == h && k->parent == parent && k->parent_gen == parent_gen &&
            memcmp(k->tokens, tokens, sizeof k->tokens) == 0)
            return id;
    }
    return VKA_KV_NONE;
}

void vka_kv_block_register(vka_kv_pool *pool, uint32_t id, uint32_t parent, const int32_t *tokens) {
    vka_kv_block *k = &pool->blocks[id];
    if (k->registered) return;
    /* an equal block already registered: keep the first (callers swap theirs for it) */
    if (vka_kv_block_lookup(pool, parent, tokens) != VKA_KV_NONE) return;
    k->registered = true;
    k->swa = VKA_KV_NONE;
    k->parent = parent;
    k->parent_gen = gen_of(pool, parent);
    memcpy(k->tokens, tokens, sizeof k->tokens);
    k->hash = key_hash(k->parent, k->parent_gen, tokens);
    uint32_t *bucket = &pool->buckets[k->hash & (pool->n_buckets - 1)];
    k->hash_next = *bucket;
    *bucket = id;
}

void vka_kv_block_unregister(vka_kv_pool *pool, uint32_t id) {
    vka_kv_block *k = &pool->blocks[id];
    k->gen++; /* blocks registered after this one no longer match through it */
    if (!k->registered) return;
    uint32_t *link = &pool->buckets[k->hash & (pool->n_buckets - 1)];
    while (*link != id) link = &pool->blocks[*link].hash_next;
    *link = k->hash_next;
    k->registered = false;
    if (k->refs == 0) {
        lru_remove(pool, id);
        pool->free_ids[pool->n_free++] = id;
    }
}

/* ------------------------------------------------------------ holding blocks */

vka_status vka_kv_block_alloc(vka_kv_pool *pool, uint32_t *id) {
    if (pool->n_free == 0 && pool->lru_head != VKA_KV_NONE) vka_kv_block_unregister(pool, pool->lru_head);
    if (pool->n_free == 0)
        return vka_fail(VKA_ERR_CONTEXT_FULL, "the KV pool's %u blocks are all in use", pool->n_blocks);
    *id = pool->free_ids[--pool->n_free];
    vka_kv_block *k = &pool->blocks[*id];
    k->refs = 1;
    k->gen++;
    return VKA_OK;
}

void vka_kv_block_retain(vka_kv_pool *pool, uint32_t id) {
    vka_kv_block *k = &pool->blocks[id];
    if (k->refs++ == 0) lru_remove(pool, id); /* a cached block taken up again */
}

void vka_kv_block_release(vka_kv_pool *pool, uint32_t id) {
    vka_kv_block *k = &pool->blocks[id];
    if (--k->refs > 0) return;
    if (k->registered) lru_push(pool, id);
    else pool->free_ids[pool->n_free++] = id;
}

/* ------------------------------------------------------------ the sliding layers' blocks */

vka_status vka_kv_swa_alloc(vka_kv_pool *pool, uint32_t *id) {
    if (pool->n_swa_free == 0)
        return vka_fail(VKA_ERR_CONTEXT_FULL, "the sliding-window layers' %u KV blocks are all in use",
                        pool->n_swa_blocks);
    *id = pool->swa_free_ids[pool->swa_free_head];
    pool->swa_free_head = (pool->swa_free_head + 1) % pool->n_swa_blocks;
    pool->n_swa_free--;
    pool->swa_refs[*id] = 1;
    pool->swa_gen[*id]++;
    return VKA_OK;
}

void vka_kv_swa_retain(vka_kv_pool *pool, uint32_t id) { pool->swa_refs[id]++; }

void vka_kv_swa_release(vka_kv_pool *pool, uint32_t id) {
    if (--pool->swa_refs[id] > 0) return;
    pool->swa_free_ids[(pool->swa_free_head + pool->n_swa_free) % pool->n_swa_blocks] = id;
    pool->n_swa_free++;
}

uint32_t vka_kv_swa_linked(const vka_kv_pool *pool, uint32_t id) {
    const vka_kv_block *k = &pool->blocks[id];
    return k->registered && k->swa != VKA_KV_NONE && pool->swa_gen[k->swa] == k->swa_gen ? k->swa : VKA_KV_NONE;
}

void vka_kv_swa_link(vka_kv_pool *pool, uint32_t id, uint32_t swa) {
    pool->blocks[id].swa = swa;
    pool->blocks[id].swa_gen = swa == VKA_KV_NONE ? 0 : pool->swa_gen[swa];
}

/* A free block leaves the queue from wherever it is (rare: a prefix match). */
void vka_kv_swa_take(vka_kv_pool *pool, uint32_t id) {
    if (pool->swa_refs[id]++ > 0) return;
    uint32_t n = pool->n_swa_blocks, i = 0;
    while (i < pool->n_swa_free && pool->swa_free_ids[(pool->swa_free_head + i) % n] != id) i++;
    for (; i + 1 < pool->n_swa_free; i++)
        pool->swa_free_ids[(pool->swa_free_head + i) % n] = pool->swa_free_ids[(pool->swa_free_head + i + 1) % n];
    pool->n_swa_free--;
}

/* ------------------------------------------------------------ rows */

/* The first n_rows rows of block src of src_pool into block dst of dst_pool,
 * every layer of the space (sliding layers' when swa). */
static vka_status copy_rows(vka_kv_pool *dst_pool, bool swa, uint32_t dst, vka_kv_pool *src_pool, uint32_t src,
                            uint32_t n_rows) {
    vka_backend *b = dst_pool->model->backend;
    for (uint32_t il = 0; il < dst_pool->model->hp.n_layer; il++) {
        if (vka_kv_layer_swa(dst_pool, il) != swa) continue;
        vka_tensor *to_caches[2] = {&dst_pool->k[il], &dst_pool->v[il]};
        vka_tensor *from_caches[2] = {&src_pool->k[il], &src_pool->v[il]};
        for (int c = 0; c < 2; c++) {
            vka_tensor to, from;
            vka_tensor_view(&to, to_caches[c], (int64_t)dst * VKA_KV_BLOCK, n_rows, to_caches[c]->ne[0]);
            vka_tensor_view(&from, from_caches[c], (int64_t)src * VKA_KV_BLOCK, n_rows, from_caches[c]->ne[0]);
            VKA_TRY(b->ops->tensor_copy(b, &to, &from, to_caches[c]->row_bytes * n_rows));
        }
    }
    return VKA_OK;
}

vka_status vka_kv_block_copy(vka_kv_pool *pool, bool swa, uint32_t dst, uint32_t src, uint32_t n_rows) {
    return copy_rows(pool, swa, dst, pool, src, n_rows);
}

vka_status vka_kv_block_copy_between(vka_kv_pool *dst_pool, bool swa, uint32_t dst, vka_kv_pool *src_pool,
                                     uint32_t src) {
    return copy_rows(dst_pool, swa, dst, src_pool, src, VKA_KV_BLOCK);
}

vka_status vka_kv_rows_get(vka_kv_pool *pool, uint32_t layer, bool v, uint32_t row, uint32_t n, void *out) {
    vka_tensor *t = v ? &pool->v[layer] : &pool->k[layer];
    vka_backend *b = pool->model->backend;
    return b->ops->tensor_get(b, t, out, t->row_bytes * row, t->row_bytes * n);
}

vka_status vka_kv_rows_set(vka_kv_pool *pool, uint32_t layer, bool v, uint32_t row, uint32_t n, const void *in) {
    vka_tensor *t = v ? &pool->v[layer] : &pool->k[layer];
    vka_backend *b = pool->model->backend;
    return b->ops->tensor_set(b, t, in, t->row_bytes * row, t->row_bytes * n);
}
