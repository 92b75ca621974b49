/* vk_tensor.c — tensor storage on the device: weights repacked and split by
 * rows into parts no larger than one descriptor binding; everything else in
 * one allocation (device-local, or host-visible for inputs and outputs). */
#include <stdlib.h>
#include <string.h>

#include "backends/vulkan/vk_internal.h"

#define MiB (1024.0 * 1024.0)

vk_storage *vk_storage_of(const vka_tensor *t) { return t ? (vk_storage *)vka_tensor_root(t)->impl : NULL; }

static vk_usage_class usage_class(vka_tensor_usage u) {
    switch (u) {
    case VKA_USAGE_WEIGHT: return VK_MEM_WEIGHTS;
    case VKA_USAGE_KV: return VK_MEM_KV;
    case VKA_USAGE_ACTIVATION: return VK_MEM_ACTIVATIONS;
    default: return VK_MEM_IO;
    }
}

static const char *tname(const vka_tensor *t) { return t->name ? t->name : "tensor"; }

static void storage_free(vk_backend *vb, vk_storage *s) {
    if (!s) return;
    for (uint32_t i = 0; i < s->n_parts; i++) {
        if (s->parts[i].view) vkDestroyBufferView(vb->device, s->parts[i].view, NULL);
        vk_free_mem(vb, s->arena, &s->parts[i].alloc);
    }
    vb->class_bytes[usage_class(s->usage)] -= s->bytes;
    free(s->parts);
    free(s);
}

/* Writes rows [r0, r0+n) of part p (part-local) from GGUF rows at src. */
static vka_status upload_rows(vk_backend *vb, vk_storage *s, const vk_part *p, uint32_t r0, uint32_t n,
                              const uint8_t *src, size_t src_row_bytes) {
    const vk_wlayout *l = &s->layout;
    VkDeviceSize per_row = l->row_bytes + l->scale_row_bytes;
    uint32_t slab = p->alloc.chunk->map ? n : (uint32_t)(VK_STAGING_BYTES / per_row);
    if (!slab) slab = 1;
    for (uint32_t done = 0; done < n;) {
        uint32_t m = n - done < slab ? n - done : slab;
        const uint8_t *from = src + (size_t)done * src_row_bytes;
        uint8_t *ptr;
        VKA_TRY(vk_stage_write(vb, &p->alloc, (VkDeviceSize)(r0 + done) * l->row_bytes, m * l->row_bytes, &ptr));
        vk_repack_values(s->type, l, from, src_row_bytes, s->ne0, m, ptr);
        if (l->scale_row_bytes) {
            VKA_TRY(vk_stage_write(vb, &p->alloc, p->scale_offset + (VkDeviceSize)(r0 + done) * l->scale_row_bytes,
                                   m * l->scale_row_bytes, &ptr));
            vk_repack_scales(s->type, l, from, src_row_bytes, m, ptr);
        }
        done += m;
    }
    return VKA_OK;
}

static vka_status alloc_weight(vk_backend *vb, vka_tensor *t, vk_storage *s, const void *init) {
    VKA_TRY(vk_wlayout_init(t->type, t->ne[0], &s->layout));
    const vk_wlayout *l = &s->layout;
    VkDeviceSize per_row = l->row_bytes + l->scale_row_bytes;
    VkDeviceSize rows_per_part = vb->max_binding / per_row;
    if (rows_per_part == 0)
        return vka_fail(VKA_ERR_UNSUPPORTED, "vulkan: one row of '%s' takes %llu bytes, more than one binding may "
                        "hold on %s (%llu)", tname(t), (unsigned long long)per_row, vb->desc.name,
                        (unsigned long long)vb->max_binding);
    if (rows_per_part > (VkDeviceSize)t->ne[1]) rows_per_part = (VkDeviceSize)t->ne[1];
    s->n_parts = (uint32_t)(((VkDeviceSize)t->ne[1] + rows_per_part - 1) / rows_per_part);
    s->parts = calloc(s->n_parts, sizeof *s->parts);
    if (!s->parts) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
    s->host = init;
    for (uint32_t i = 0; i < s->n_parts; i++) {
        vk_part *p = &s->parts[i];
        p->row0 = (uint32_t)(i * rows_per_part);
        p->rows = (uint32_t)((VkDeviceSize)t->ne[1] - p->row0 < rows_per_part ? (VkDeviceSize)t->ne[1] - p->row0
                                                                                : rows_per_part);
        p->scale_offset = (VkDeviceSize)p->rows * l->row_bytes;
        p->bytes = p->scale_offset + (VkDeviceSize)p->rows * l->scale_row_bytes;
        VKA_TRY(vk_alloc_mem(vb, s->arena, p->bytes, tname(t), &p->alloc));
        s->bytes += p->alloc.size;
        if (vb->tune.texel) VKA_TRY(vk_texel_view(vb, &p->alloc, p->bytes, &p->view));
        if (init)
            VKA_TRY(upload_rows(vb, s, p, 0, p->rows, (const uint8_t *)init + (size_t)p->row0 * t->row_bytes,
                                t->row_bytes));
        else
            VKA_TRY(vk_stage_zero(vb, &p->alloc, 0, p->bytes));
    }
    return VKA_OK;
}

static vka_status alloc_plain(vk_backend *vb, vka_tensor *t, vk_storage *s) {
    VkDeviceSize bytes = ((VkDeviceSize)t->nbytes + 15) & ~(VkDeviceSize)15;
    if (bytes > vb->max_binding)
        return vka_fail(VKA_ERR_UNSUPPORTED, "vulkan: '%s' needs %.2f MiB in one binding; %s binds at most %.2f MiB. "
                        "HINT: use a smaller context (n_ctx) or batch (n_batch)", tname(t), (double)bytes / MiB,
                        vb->desc.name, (double)vb->max_binding / MiB);
    s->parts = calloc(1, sizeof *s->parts);
    if (!s->parts) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
    s->n_parts = 1;
    s->parts[0].rows = (uint32_t)t->ne[1];
    s->parts[0].bytes = bytes;
    VKA_TRY(vk_alloc_mem(vb, s->arena, bytes, tname(t), &s->parts[0].alloc));
    s->bytes = s->parts[0].alloc.size;
    if (vb->tune.texel && (t->usage == VKA_USAGE_ACTIVATION || t->usage == VKA_USAGE_KV))
        VKA_TRY(vk_texel_view(vb, &s->parts[0].alloc, bytes, &s->parts[0].view));
    return vk_stage_zero(vb, &s->parts[0].alloc, 0, s->parts[0].alloc.size);
}

vka_status vk_tensor_alloc(vka_backend *b, vka_tensor *t, const void *init) {
    vk_backend *vb = (vk_backend *)b;
    if (t->parent) return vka_fail(VKA_ERR_INTERNAL, "vulkan: tensor_alloc on a view ('%s')", tname(t));
    if (t->ne[0] <= 0 || t->ne[1] <= 0 || t->ne[1] > (int64_t)UINT32_MAX)
        return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vulkan: '%s' has shape [%lld, %lld]", tname(t),
                        (long long)t->ne[0], (long long)t->ne[1]);
    vk_storage *s = calloc(1, sizeof *s);
    if (!s) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
    s->usage = t->usage;
    s->type = t->type;
    s->ne0 = t->ne[0];
    s->ne1 = t->ne[1];
    bool io = t->usage == VKA_USAGE_INPUT || t->usage == VKA_USAGE_OUTPUT;
    s->arena = io ? &vb->host_arena : &vb->device_arena;
    pthread_mutex_lock(&vb->mutex);
    vka_status st = t->usage == VKA_USAGE_WEIGHT ? alloc_weight(vb, t, s, init) : alloc_plain(vb, t, s);
    vb->class_bytes[usage_class(s->usage)] += s->bytes; /* what was allocated; storage_free takes it back */
    if (st == VKA_OK) t->impl = s;
    else storage_free(vb, s);
    pthread_mutex_unlock(&vb->mutex);
    return st;
}

void vk_tensor_free(vka_backend *b, vka_tensor *t) {
    vk_backend *vb = (vk_backend *)b;
    vk_storage *s = t->impl;
    if (!s) return;
    pthread_mutex_lock(&vb->mutex);
    storage_free(vb, s);
    pthread_mutex_unlock(&vb->mutex);
    t->impl = NULL;
}

static vka_status check_range(const vka_tensor *t, const vk_storage *s, size_t offset, size_t size) {
    if (!s) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vulkan: tensor '%s' has no storage", tname(t));
    if (offset > t->nbytes || size > t->nbytes - offset)
        return vka_fail(VKA_ERR_INVALID_ARGUMENT, "range %zu+%zu is outside tensor '%s' (%zu bytes)", offset, size,
                        tname(t), t->nbytes);
    return VKA_OK;
}

/* Whole rows [r0, r0+n) of a weight, in GGUF layout, written or read part by part. */
static vka_status weight_rows_set(vk_backend *vb, vk_storage *s, size_t row_bytes, uint64_t r0, uint64_t n,
                                  const uint8_t *src) {
    for (uint32_t i = 0; i < s->n_parts && n; i++) {
        vk_part *p = &s->parts[i];
        if (r0 >= (uint64_t)p->row0 + p->rows) continue;
        uint32_t local = (uint32_t)(r0 - p->row0);
        uint32_t m = (uint32_t)(p->rows - local < n ? p->rows - local : n);
        VKA_TRY(upload_rows(vb, s, p, local, m, src, row_bytes));
        src += (size_t)m * row_bytes;
        r0 += m;
        n -= m;
    }
    return VKA_OK;
}

static vka_status weight_rows_get(vk_backend *vb, const vk_storage *s, size_t row_bytes, uint64_t r0, uint64_t n,
                                  uint8_t *dst) {
    const vk_wlayout *l = &s->layout;
    uint8_t *values = malloc(l->row_bytes), *scales = malloc(l->scale_row_bytes ? l->scale_row_bytes : 1);
    vka_status st = values && scales ? VKA_OK : vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
    for (uint64_t r = r0; st == VKA_OK && r < r0 + n; r++) {
        const vk_part *p = &s->parts[0];
        for (uint32_t i = 0; i < s->n_parts; i++)
            if (r >= s->parts[i].row0 && r < (uint64_t)s->parts[i].row0 + s->parts[i].rows) p = &s->parts[i];
        uint64_t local = r - p->row0;
        st = vk_read(vb, &p->alloc, local * l->row_bytes, l->row_bytes, values);
        if (st == VKA_OK && l->scale_row_bytes)
            st = vk_read(vb, &p->alloc, p->scale_offset + local * l->scale_row_bytes, l->scale_row_bytes, scales);
        if (st == VKA_OK) vk_unpack_row(s->type, l, values, scales, s->ne0, dst + (r - r0) * row_bytes);
    }
    free(values);
    free(scales);
    return st;
}

vka_status vk_tensor_set(vka_backend *b, vka_tensor *t, const void *data, size_t offset, size_t size) {
    vk_backend *vb = (vk_backend *)b;
    vk_storage *s = vk_storage_of(t);
    VKA_TRY(check_range(t, s, offset, size));
    offset += t->offset;
    vka_status st = VKA_OK;
    pthread_mutex_lock(&vb->mutex);
    if (s->usage == VKA_USAGE_WEIGHT) {
        size_t rb = vka_tensor_root(t)->row_bytes;
        if (offset % rb || size % rb) {
            st = vka_fail(VKA_ERR_UNSUPPORTED, "vulkan: weights of '%s' can only be written in whole rows", tname(t));
        } else {
            s->host = NULL; /* the caller's copy no longer describes the device's */
            st = weight_rows_set(vb, s, rb, offset / rb, size / rb, data);
        }
    } else if (size) {
        uint8_t *ptr;
        st = vk_stage_write(vb, &s->parts[0].alloc, offset, size, &ptr);
        if (st == VKA_OK) memcpy(ptr, data, size);
    }
    pthread_mutex_unlock(&vb->mutex);
    return st;
}

vka_status vk_tensor_get(vka_backend *b, const vka_tensor *t, void *data, size_t offset, size_t size) {
    vk_backend *vb = (vk_backend *)b;
    vk_storage *s = vk_storage_of(t);
    VKA_TRY(check_range(t, s, offset, size));
    offset += t->offset;
    vka_status st = VKA_OK;
    pthread_mutex_lock(&vb->mutex);
    if (s->usage == VKA_USAGE_WEIGHT) {
        size_t rb = vka_tensor_root(t)->row_bytes;
        uint64_t r0 = offset / rb, r1 = (offset + size + rb - 1) / rb;
        uint8_t *rows = malloc((size_t)(r1 - r0) * rb);
        st = rows ? weight_rows_get(vb, s, rb, r0, r1 - r0, rows) : vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
        if (st == VKA_OK) memcpy(data, rows + (offset - r0 * rb), size);
        free(rows);
    } else if (size) {
        st = vk_read(vb, &s->parts[0].alloc, offset, size, data);
    }
    pthread_mutex_unlock(&vb->mutex);
    return st;
}

vka_status vk_tensor_copy(vka_backend *b, vka_tensor *dst, const vka_tensor *src, size_t size) {
    vk_backend *vb = (vk_backend *)b;
    vk_storage *ds = vk_storage_of(dst), *ss = vk_storage_of(src);
    VKA_TRY(check_range(dst, ds, 0, size));
    VKA_TRY(check_range(src, ss, 0, size));
    if (ds->usage == VKA_USAGE_WEIGHT || ss->usage == VKA_USAGE_WEIGHT)
        return vka_fail(VKA_ERR_UNSUPPORTED, "vulkan: tensor_copy between weights");
    if (!size) return VKA_OK;
    pthread_mutex_lock(&vb->mutex);
    vka_status st = vk_stage_copy(vb, &ds->parts[0].alloc, dst->offset, &ss->parts[0].alloc, src->offset, size);
    pthread_mutex_unlock(&vb->mutex);
    return st;
}
