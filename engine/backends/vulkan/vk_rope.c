/* vk_rope.c — rotary-embedding tables: cos/sin for every position and
 * frequency, computed on the host in double precision with exactly the CPU
 * reference's formula (engine/backends/cpu/cpu_ops.c), attention factor
 * included, so that RoPE on the device rotates by the same f32 values.
 * Shared by graphs, counted by reference. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/vulkan/vk_internal.h"
#include "backends/vulkan/vk_rope.h"

static vka_status read_factors(vk_backend *vb, const vk_storage *f, uint32_t n, float *out) {
    if (f->type != VKA_TYPE_F32 || f->ne0 * f->ne1 < (int64_t)n)
        return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vulkan: RoPE frequency factors must be %u f32 values", n);
    if (f->host) {
        memcpy(out, f->host, n * sizeof *out);
        return VKA_OK;
    }
    return vk_read(vb, &f->parts[0].alloc, 0, n * sizeof *out, out); /* F32 rows keep their bytes on the device */
}

static vka_status fill_table(vk_backend *vb, vk_rope_table *t) {
    uint32_t half = t->n_rot / 2;
    float *ff = NULL;
    if (t->factors) {
        ff = malloc(half * sizeof *ff);
        if (!ff) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
        vka_status st = read_factors(vb, t->factors, half, ff);
        if (st != VKA_OK) {
            free(ff);
            return st;
        }
    }
    VkDeviceSize row = (VkDeviceSize)half * 2 * sizeof(float);
    uint32_t slab = (uint32_t)(VK_STAGING_BYTES / row);
    vka_status st = VKA_OK;
    for (uint32_t p0 = 0; st == VKA_OK && p0 < t->n_pos; p0 += slab) {
        uint32_t n = t->n_pos - p0 < slab ? t->n_pos - p0 : slab;
        float *out;
        st = vk_stage_write(vb, &t->alloc, p0 * row, n * row, (uint8_t **)&out);
        for (uint32_t k = 0; st == VKA_OK && k < n; k++) {
            double pos = (double)(p0 + k);
            for (uint32_t i = 0; i < half; i++) {
                double theta = vka_rope_theta(pos, i, t->n_rot, t->base, t->scale, ff);
                out[2 * ((size_t)k * half + i)] = (float)cos(theta) * t->mscale;
                out[2 * ((size_t)k * half + i) + 1] = (float)sin(theta) * t->mscale;
            }
        }
    }
    free(ff);
    return st;
}

vka_status vk_rope_acquire(vk_backend *vb, const vka_rope_params *rp, const vk_storage *factors, uint32_t n_pos,
                           vk_rope_table **out) {
    uint32_t n_rot = rp->n_rot;
    float base = rp->freq_base, scale = rp->freq_scale, mscale = vka_rope_mscale(rp);
    for (uint32_t i = 0; i < vb->n_ropes; i++) {
        vk_rope_table *t = vb->ropes[i];
        if (t->n_rot == n_rot && t->base == base && t->scale == scale && t->mscale == mscale && t->factors == factors &&
            t->n_pos >= n_pos) {
            t->refs++;
            *out = t;
            return VKA_OK;
        }
    }
    VkDeviceSize bytes = (VkDeviceSize)n_pos * (n_rot / 2) * 2 * sizeof(float);
    if (bytes > vb->max_binding)
        return vka_fail(VKA_ERR_UNSUPPORTED, "vulkan: a RoPE table for %u positions needs %llu bytes, more than one "
                        "binding holds. HINT: use a smaller context", n_pos, (unsigned long long)bytes);
    if (vb->n_ropes == vb->cap_ropes) {
        uint32_t cap = vb->cap_ropes ? 2 * vb->cap_ropes : 4;
        vk_rope_table **grown = realloc(vb->ropes, cap * sizeof *grown);
        if (!grown) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
        vb->ropes = grown;
        vb->cap_ropes = cap;
    }
    vk_rope_table *t = calloc(1, sizeof *t);
    if (!t) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
    *t = (vk_rope_table){.n_rot = n_rot,
                         .n_pos = n_pos,
                         .base = base,
                         .scale = scale,
                         .mscale = mscale,
                         .factors = factors,
                         .refs = 1};
    vka_status st = vk_alloc_mem(vb, &vb->device_arena, bytes, "a RoPE table", &t->alloc);
    if (st == VKA_OK) st = fill_table(vb, t);
    if (st != VKA_OK) {
        vk_free_mem(vb, &vb->device_arena, &t->alloc);
        free(t);
        return st;
    }
    vb->class_bytes[VK_MEM_INTERNAL] += t->alloc.size;
    vb->ropes[vb->n_ropes++] = t;
    *out = t;
    return VKA_OK;
}

void vk_rope_release(vk_backend *vb, vk_rope_table *t) {
    if (!t || --t->refs) return;
    for (uint32_t i = 0; i < vb->n_ropes; i++) {
        if (vb->ropes[i] != t) continue;
        vb->ropes[i] = vb->ropes[--vb->n_ropes];
        break;
    }
    vb->class_bytes[VK_MEM_INTERNAL] -= t->alloc.size;
    vk_free_mem(vb, &vb->device_arena, &t->alloc);
    free(t);
}

void vk_ropes_release_all(vk_backend *vb) {
    while (vb->n_ropes) {
        vk_rope_table *t = vb->ropes[0];
        t->refs = 1;
        vk_rope_release(vb, t);
    }
    free(vb->ropes);
    vb->ropes = NULL;
    vb->cap_ropes = 0;
}
