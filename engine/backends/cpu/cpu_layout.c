/* cpu_layout.c — validating a node's paged-KV layout before an op reads
 * through it: only the words the op will use (each token's position and
 * table start, the table entries of the positions it touches), never the
 * whole table. */
#include "backends/cpu/cpu_layout.h"
#include "base/status.h"

vka_status vka_cpu_layout_init(vka_cpu_layout *l, const vka_tensor *layout, int64_t n, uint32_t n_past, const char *op) {
    *l = (vka_cpu_layout){.n = n, .n_past = n_past, .max_pos = (int64_t)n_past + n - 1};
    if (!layout) return VKA_OK;
    if (layout->type != VKA_TYPE_I32 || !layout->data || layout->ne[1] < 1 || layout->ne[0] < 2 * n)
        return vka_fail(VKA_ERR_INVALID_ARGUMENT, "%s: the layout must be an I32 tensor of at least 2 * %lld words",
                        op, (long long)n);
    l->words = layout->data;
    l->n_words = layout->ne[0];
    l->max_pos = -1;
    for (int64_t t = 0; t < n; t++) {
        int32_t pos = l->words[t], tab = l->words[n + t];
        if (pos < 0)
            return vka_fail(VKA_ERR_INVALID_ARGUMENT, "%s: token %lld has the negative position %d", op, (long long)t,
                            pos);
        if (tab < 2 * n || tab >= l->n_words)
            return vka_fail(VKA_ERR_INVALID_ARGUMENT,
                            "%s: token %lld's block table starts at word %d, outside the tables (words %lld .. %lld)",
                            op, (long long)t, tab, (long long)(2 * n), (long long)l->n_words - 1);
        if (pos > l->max_pos) l->max_pos = pos;
    }
    return VKA_OK;
}

vka_status vka_cpu_layout_check_rows(const vka_cpu_layout *l, int64_t t, int64_t first, int64_t last,
                                     int64_t cache_rows, const char *op) {
    if (!l->words) {
        if (last >= cache_rows)
            return vka_fail(VKA_ERR_CONTEXT_FULL, "%s: position %lld is past the KV cache's %lld rows", op,
                            (long long)last, (long long)cache_rows);
        return VKA_OK;
    }
    int64_t tab = l->words[l->n + t];
    for (int64_t b = first / VKA_KV_BLOCK; b <= last / VKA_KV_BLOCK; b++) {
        if (tab + b >= l->n_words)
            return vka_fail(VKA_ERR_INVALID_ARGUMENT,
                            "%s: token %lld's block table (from word %lld) ends before position %lld's entry (the "
                            "layout has %lld words)",
                            op, (long long)t, (long long)tab, (long long)(b * VKA_KV_BLOCK), (long long)l->n_words);
        int64_t block = l->words[tab + b];
        int64_t top = b == last / VKA_KV_BLOCK ? last % VKA_KV_BLOCK : VKA_KV_BLOCK - 1;
        if (block < 0)
            return vka_fail(VKA_ERR_INVALID_ARGUMENT, "%s: token %lld's block %lld is the negative id %lld", op,
                            (long long)t, (long long)b, (long long)block);
        if (block * VKA_KV_BLOCK + top >= cache_rows)
            return vka_fail(VKA_ERR_CONTEXT_FULL,
                            "%s: token %lld's block %lld is cache block %lld, row %lld past the KV cache's %lld rows",
                            op, (long long)t, (long long)b, (long long)block, (long long)(block * VKA_KV_BLOCK + top),
                            (long long)cache_rows);
    }
    return VKA_OK;
}

vka_status vka_cpu_layout_check_keys(vka_cpu_layout *l, const vka_tensor *layout, int64_t n, uint32_t n_past,
                                     const vka_tensor *k_cache, const vka_tensor *v_cache) {
    VKA_TRY(vka_cpu_layout_init(l, layout, n, n_past, "attention"));
    int64_t rows = k_cache->ne[1] < v_cache->ne[1] ? k_cache->ne[1] : v_cache->ne[1];
    if (!layout) return vka_cpu_layout_check_rows(l, 0, 0, l->max_pos, rows, "attention");
    for (int64_t t = 0; t < n; t++)
        VKA_TRY(vka_cpu_layout_check_rows(l, t, 0, vka_cpu_layout_pos(l, t), rows, "attention"));
    return VKA_OK;
}
