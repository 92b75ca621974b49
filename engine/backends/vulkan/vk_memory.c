/* vk_memory.c — device memory: arenas of large allocations, each with one
 * buffer over all of it, sub-allocated first-fit per tensor; the staging
 * path that batches uploads into one command buffer, and read-backs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/vulkan/vk_internal.h"

#define MiB (1024.0 * 1024.0)

void vk_arena_init(vk_arena *a, const char *name, uint32_t type_index, uint32_t heap_index, bool host_visible,
                   bool coherent, VkDeviceSize chunk_size) {
    memset(a, 0, sizeof *a);
    a->name = name;
    a->type_index = type_index;
    a->heap_index = heap_index;
    a->host_visible = host_visible;
    a->coherent = coherent;
    a->chunk_size = chunk_size;
}

/* A memory type allowed by `bits` with all of `want`, preferring also `prefer`. */
static int find_type(const VkPhysicalDeviceMemoryProperties *mp, uint32_t bits, VkMemoryPropertyFlags want,
                     VkMemoryPropertyFlags prefer) {
    int found = -1;
    for (uint32_t i = 0; i < mp->memoryTypeCount; i++) {
        VkMemoryPropertyFlags f = mp->memoryTypes[i].propertyFlags;
        if (!(bits & (1u << i)) || (f & want) != want) continue;
        if ((f & prefer) == prefer) return (int)i;
        if (found < 0) found = (int)i;
    }
    return found;
}

static const VkBufferUsageFlags buffer_usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_UNIFORM_TEXEL_BUFFER_BIT |
                                               VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;

/* Every chunk ends with bytes never handed out, so that views rounded up to
 * whole 16-byte texels stay inside the buffer. */
#define CHUNK_SLACK ((VkDeviceSize)256)

vka_status vk_arenas_init(vk_backend *vb) {
    VkBuffer probe;
    VkBufferCreateInfo bci = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, .size = 4096, .usage = buffer_usage};
    VK_TRY(vkCreateBuffer(vb->device, &bci, NULL, &probe), "creating a probe buffer");
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(vb->device, probe, &req);
    vkDestroyBuffer(vb->device, probe, NULL);
    const VkPhysicalDeviceMemoryProperties *mp = &vb->mem_props;
    const VkMemoryPropertyFlags local = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
    const VkMemoryPropertyFlags host = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    /* Where the device shares memory with the host (CPU-type and integrated
     * devices), device-local memory that is also mappable takes uploads and
     * read-backs without staging copies. Discrete GPUs keep plain VRAM. */
    bool uma = vb->desc.type == VK_PHYSICAL_DEVICE_TYPE_CPU || vb->desc.type == VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU;
    bool staged = vk_env_on("VKAGENT_VK_FORCE_STAGING"); /* tests the staging path on shared-memory devices */
    int dev = uma ? find_type(mp, req.memoryTypeBits, local | host, 0) : -1;
    if (dev < 0) dev = find_type(mp, req.memoryTypeBits, local, 0);
    if (dev < 0) dev = find_type(mp, req.memoryTypeBits, 0, local);
    int hst = find_type(mp, req.memoryTypeBits, host, VK_MEMORY_PROPERTY_HOST_CACHED_BIT);
    if (dev < 0 || hst < 0)
        return vka_fail(VKA_ERR_UNSUPPORTED, "vulkan: %s has no usable memory type for storage buffers%s",
                        vb->desc.name, hst < 0 ? " (none host-visible and coherent)" : "");
    VkDeviceSize chunk = 256u << 20;
    if (chunk > vb->max_alloc) chunk = vb->max_alloc;
    VkMemoryPropertyFlags df = mp->memoryTypes[dev].propertyFlags, hf = mp->memoryTypes[hst].propertyFlags;
    vk_arena_init(&vb->device_arena, "device", (uint32_t)dev, mp->memoryTypes[dev].heapIndex,
                  !staged && (df & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) && (df & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT),
                  (df & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT) != 0, chunk);
    vk_arena_init(&vb->host_arena, "host-visible", (uint32_t)hst, mp->memoryTypes[hst].heapIndex, true,
                  (hf & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT) != 0, chunk < (64u << 20) ? chunk : (64u << 20));
    return VKA_OK;
}

static void chunk_destroy(vk_backend *vb, vk_arena *a, vk_chunk *c) {
    if (c->map) vkUnmapMemory(vb->device, c->memory);
    if (c->buffer) vkDestroyBuffer(vb->device, c->buffer, NULL);
    if (c->memory) {
        vkFreeMemory(vb->device, c->memory, NULL);
        a->allocated -= c->size;
        vb->heap_used[a->heap_index] -= c->size;
    }
    free(c->free);
    free(c);
}

void vk_arena_release(vk_backend *vb, vk_arena *a) {
    for (uint32_t i = 0; i < a->n_chunks; i++) chunk_destroy(vb, a, a->chunks[i]);
    free(a->chunks);
    a->chunks = NULL;
    a->n_chunks = a->cap_chunks = 0;
}

static vka_status oom(vk_backend *vb, vk_arena *a, VkDeviceSize size, const char *what) {
    uint32_t h = a->heap_index;
    return vka_fail(VKA_ERR_OUT_OF_DEVICE_MEMORY,
                    "vulkan: out of device memory allocating %.2f MiB for %s on %s: memory heap %u has %.2f MiB, "
                    "%.2f MiB of it already held by vkagent (%s arena: %.2f MiB in %u blocks). "
                    "HINT: use a smaller model or context, or --device cpu",
                    (double)size / MiB, what, vb->desc.name, h, (double)vb->mem_props.memoryHeaps[h].size / MiB,
                    (double)vb->heap_used[h] / MiB, a->name, (double)a->allocated / MiB, a->n_chunks);
}

static vka_status chunk_create(vk_backend *vb, vk_arena *a, VkDeviceSize size, const char *what, vk_chunk **out) {
    uint32_t h = a->heap_index;
    if (vb->heap_used[h] + size > vb->mem_props.memoryHeaps[h].size) return oom(vb, a, size, what);
    if (a->n_chunks == a->cap_chunks) {
        uint32_t cap = a->cap_chunks ? 2 * a->cap_chunks : 8;
        vk_chunk **chunks = realloc(a->chunks, cap * sizeof *chunks);
        if (!chunks) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
        a->chunks = chunks;
        a->cap_chunks = cap;
    }
    vk_chunk *c = calloc(1, sizeof *c);
    if (!c || !(c->free = malloc(8 * sizeof *c->free))) {
        free(c);
        return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
    }
    c->cap_free = 8;
    c->size = size;
    VkMemoryAllocateInfo mai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, .allocationSize = size,
                                .memoryTypeIndex = a->type_index};
    VkResult r = vkAllocateMemory(vb->device, &mai, NULL, &c->memory);
    if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY) {
        c->memory = VK_NULL_HANDLE;
        chunk_destroy(vb, a, c);
        return oom(vb, a, size, what);
    }
    vka_status st = vk_check(r, "allocating %.2f MiB of device memory for %s", (double)size / MiB, what);
    if (st != VKA_OK) {
        c->memory = VK_NULL_HANDLE;
        chunk_destroy(vb, a, c);
        return st;
    }
    a->allocated += size;
    vb->heap_used[h] += size;
    VkBufferCreateInfo bci = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, .size = size, .usage = buffer_usage};
    st = vk_check(vkCreateBuffer(vb->device, &bci, NULL, &c->buffer), "creating a %.2f MiB buffer", (double)size / MiB);
    if (st == VKA_OK) st = vk_check(vkBindBufferMemory(vb->device, c->buffer, c->memory, 0), "binding buffer memory");
    if (st == VKA_OK && a->host_visible)
        st = vk_check(vkMapMemory(vb->device, c->memory, 0, VK_WHOLE_SIZE, 0, (void **)&c->map), "mapping memory");
    if (st != VKA_OK) {
        chunk_destroy(vb, a, c);
        return st;
    }
    c->free[0] = (vk_range){0, size - CHUNK_SLACK};
    c->n_free = 1;
    a->chunks[a->n_chunks++] = c;
    *out = c;
    return VKA_OK;
}

static VkDeviceSize align_up(VkDeviceSize x, VkDeviceSize a) { return (x + a - 1) / a * a; }

/* First fit in c; false if no free range is large enough. */
static bool chunk_take(vk_chunk *c, VkDeviceSize size, VkDeviceSize *offset) {
    for (uint32_t i = 0; i < c->n_free; i++) {
        if (c->free[i].size < size) continue;
        *offset = c->free[i].offset;
        c->free[i].offset += size;
        c->free[i].size -= size;
        if (c->free[i].size == 0) {
            memmove(&c->free[i], &c->free[i + 1], (c->n_free - i - 1) * sizeof *c->free);
            c->n_free--;
        }
        c->used += size;
        return true;
    }
    return false;
}

vka_status vk_alloc_mem(vk_backend *vb, vk_arena *a, VkDeviceSize size, const char *what, vk_alloc *out) {
    memset(out, 0, sizeof *out);
    size = align_up(size ? size : 1, vb->align);
    if (size + CHUNK_SLACK > vb->max_alloc)
        return vka_fail(VKA_ERR_OUT_OF_DEVICE_MEMORY,
                        "vulkan: %s needs one allocation of %.2f MiB; %s allows at most %.2f MiB "
                        "(maxMemoryAllocationSize)",
                        what, (double)size / MiB, vb->desc.name, (double)vb->max_alloc / MiB);
    VkDeviceSize offset = 0;
    for (uint32_t i = 0; i < a->n_chunks; i++) {
        if (chunk_take(a->chunks[i], size, &offset)) {
            *out = (vk_alloc){a->chunks[i], offset, size};
            return VKA_OK;
        }
    }
    vk_chunk *c = NULL;
    /* chunks grow with the arena (16 MiB, then as much as it already holds, up to chunk_size), so
     * that small models do not take a large block */
    VkDeviceSize grow = a->allocated < ((VkDeviceSize)16 << 20) ? (VkDeviceSize)16 << 20 : a->allocated;
    if (grow > a->chunk_size) grow = a->chunk_size;
    VKA_TRY(chunk_create(vb, a, size + CHUNK_SLACK > grow ? size + CHUNK_SLACK : grow, what, &c));
    chunk_take(c, size, &offset);
    *out = (vk_alloc){c, offset, size};
    return VKA_OK;
}

void vk_free_mem(vk_backend *vb, vk_arena *a, vk_alloc *al) {
    vk_chunk *c = al->chunk;
    if (!c) return;
    vk_stage_flush(vb); /* a queued copy may still target the range; the next allocation may reuse it */
    /* insert [offset, offset+size) into the sorted free list, merging neighbours */
    uint32_t i = 0;
    while (i < c->n_free && c->free[i].offset < al->offset) i++;
    bool merge_prev = i > 0 && c->free[i - 1].offset + c->free[i - 1].size == al->offset;
    bool merge_next = i < c->n_free && al->offset + al->size == c->free[i].offset;
    if (merge_prev && merge_next) {
        c->free[i - 1].size += al->size + c->free[i].size;
        memmove(&c->free[i], &c->free[i + 1], (c->n_free - i - 1) * sizeof *c->free);
        c->n_free--;
    } else if (merge_prev) {
        c->free[i - 1].size += al->size;
    } else if (merge_next) {
        c->free[i].offset = al->offset;
        c->free[i].size += al->size;
    } else {
        if (c->n_free == c->cap_free) {
            vk_range *grown = realloc(c->free, 2 * c->cap_free * sizeof *grown);
            if (!grown) { /* cannot record the range: the bytes stay lost until the chunk goes */
                c->used -= al->size;
                memset(al, 0, sizeof *al);
                return;
            }
            c->free = grown;
            c->cap_free *= 2;
        }
        memmove(&c->free[i + 1], &c->free[i], (c->n_free - i) * sizeof *c->free);
        c->free[i] = (vk_range){al->offset, al->size};
        c->n_free++;
    }
    c->used -= al->size;
    memset(al, 0, sizeof *al);
    if (c->used == 0) { /* give empty chunks back to the device */
        for (uint32_t k = 0; k < a->n_chunks; k++) {
            if (a->chunks[k] != c) continue;
            a->chunks[k] = a->chunks[--a->n_chunks];
            chunk_destroy(vb, a, c);
            break;
        }
    }
}

/* ------------------------------------------------------------ transfers */


vka_status vk_submit_wait(vk_backend *vb, VkCommandBuffer cmd, VkFence fence, double *wait_s) {
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &cmd};
    pthread_mutex_lock(&vb->queue_mutex);
    VkResult r = vkQueueSubmit(vb->queue, 1, &si, fence);
    pthread_mutex_unlock(&vb->queue_mutex);
    VK_TRY(r, "submitting work to the queue");
    double t0 = vk_now();
    r = vkWaitForFences(vb->device, 1, &fence, VK_TRUE, UINT64_MAX);
    if (wait_s) *wait_s = vk_now() - t0;
    VK_TRY(r, "waiting for the device");
    VK_TRY(vkResetFences(vb->device, 1, &fence), "resetting a fence");
    return VKA_OK;
}

static vka_status xfer_begin(vk_backend *vb) {
    if (vb->xfer_recording) return VKA_OK;
    if (!vb->staging.chunk) {
        VKA_TRY(vk_alloc_mem(vb, &vb->host_arena, VK_STAGING_BYTES, "the staging buffer", &vb->staging));
        vb->class_bytes[VK_MEM_INTERNAL] += vb->staging.size;
    }
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                   .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    VK_TRY(vkBeginCommandBuffer(vb->xfer_cmd, &bi), "beginning a transfer command buffer");
    /* earlier shader and host writes become visible to the copies */
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                          .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT | VK_ACCESS_HOST_WRITE_BIT,
                          .dstAccessMask = VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT};
    vkCmdPipelineBarrier(vb->xfer_cmd,
                         VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT | VK_PIPELINE_STAGE_HOST_BIT,
                         VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
    vb->xfer_recording = true;
    vb->staging_used = 0;
    return VKA_OK;
}

vka_status vk_stage_flush(vk_backend *vb) {
    if (!vb->xfer_recording) return VKA_OK;
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                          .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
                          .dstAccessMask = VK_ACCESS_HOST_READ_BIT | VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT};
    vkCmdPipelineBarrier(vb->xfer_cmd, VK_PIPELINE_STAGE_TRANSFER_BIT,
                         VK_PIPELINE_STAGE_HOST_BIT | VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
    vb->xfer_recording = false;
    vb->staging_used = 0;
    VK_TRY(vkEndCommandBuffer(vb->xfer_cmd), "ending a transfer command buffer");
    VKA_TRY(vk_submit_wait(vb, vb->xfer_cmd, vb->xfer_fence, NULL));
    vb->submits++;
    VK_TRY(vkResetCommandPool(vb->device, vb->xfer_pool, 0), "resetting the transfer command pool");
    return VKA_OK;
}

/* Room for `size` bytes in the staging buffer, flushing pending copies first if needed. */
static vka_status stage_reserve(vk_backend *vb, VkDeviceSize size, VkDeviceSize *offset) {
    VKA_TRY(xfer_begin(vb));
    if (vb->staging_used + size > vb->staging.size) {
        VKA_TRY(vk_stage_flush(vb));
        VKA_TRY(xfer_begin(vb));
    }
    *offset = vb->staging_used;
    vb->staging_used = (vb->staging_used + size + 15) & ~(VkDeviceSize)15;
    return VKA_OK;
}

vka_status vk_stage_write(vk_backend *vb, const vk_alloc *dst, VkDeviceSize offset, VkDeviceSize size, uint8_t **ptr) {
    if (dst->chunk->map) {
        *ptr = dst->chunk->map + dst->offset + offset;
        return VKA_OK;
    }
    VKA_TRY(xfer_begin(vb));
    if (size > vb->staging.size)
        return vka_fail(VKA_ERR_INTERNAL, "vulkan: staged write of %llu bytes exceeds the staging buffer",
                        (unsigned long long)size);
    VkDeviceSize so;
    VKA_TRY(stage_reserve(vb, size, &so));
    VkBufferCopy region = {.srcOffset = vb->staging.offset + so, .dstOffset = dst->offset + offset, .size = size};
    vkCmdCopyBuffer(vb->xfer_cmd, vb->staging.chunk->buffer, dst->chunk->buffer, 1, &region);
    *ptr = vb->staging.chunk->map + vb->staging.offset + so;
    return VKA_OK;
}

vka_status vk_stage_zero(vk_backend *vb, const vk_alloc *dst, VkDeviceSize offset, VkDeviceSize size) {
    if (dst->chunk->map) {
        memset(dst->chunk->map + dst->offset + offset, 0, size);
        return VKA_OK;
    }
    VKA_TRY(xfer_begin(vb));
    vkCmdFillBuffer(vb->xfer_cmd, dst->chunk->buffer, dst->offset + offset, (size + 3) & ~(VkDeviceSize)3, 0);
    return VKA_OK;
}

vka_status vk_stage_copy(vk_backend *vb, const vk_alloc *dst, VkDeviceSize dst_off, const vk_alloc *src,
                         VkDeviceSize src_off, VkDeviceSize size) {
    if (dst->chunk->map && src->chunk->map) {
        memmove(dst->chunk->map + dst->offset + dst_off, src->chunk->map + src->offset + src_off, size);
        return VKA_OK;
    }
    VKA_TRY(xfer_begin(vb));
    VkBufferCopy region = {.srcOffset = src->offset + src_off, .dstOffset = dst->offset + dst_off, .size = size};
    vkCmdCopyBuffer(vb->xfer_cmd, src->chunk->buffer, dst->chunk->buffer, 1, &region);
    return vk_stage_flush(vb);
}

vka_status vk_texel_view(vk_backend *vb, const vk_alloc *a, VkDeviceSize size, VkBufferView *out) {
    VkBufferViewCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_BUFFER_VIEW_CREATE_INFO, .buffer = a->chunk->buffer,
                                 .format = VK_FORMAT_R32G32B32A32_UINT, .offset = a->offset,
                                 .range = (size + 15) & ~(VkDeviceSize)15};
    VK_TRY(vkCreateBufferView(vb->device, &ci, NULL, out), "creating a texel view of %llu bytes",
           (unsigned long long)ci.range);
    return VKA_OK;
}

vka_status vk_read(vk_backend *vb, const vk_alloc *src, VkDeviceSize offset, VkDeviceSize size, void *out) {
    VKA_TRY(vk_stage_flush(vb)); /* pending uploads may target it */
    if (src->chunk->map) {
        memcpy(out, src->chunk->map + src->offset + offset, size);
        return VKA_OK;
    }
    uint8_t *dst = out;
    while (size) {
        VKA_TRY(xfer_begin(vb));
        VkDeviceSize n = size < vb->staging.size ? size : vb->staging.size;
        VkBufferCopy region = {.srcOffset = src->offset + offset, .dstOffset = vb->staging.offset, .size = n};
        vkCmdCopyBuffer(vb->xfer_cmd, src->chunk->buffer, vb->staging.chunk->buffer, 1, &region);
        VKA_TRY(vk_stage_flush(vb));
        memcpy(dst, vb->staging.chunk->map + vb->staging.offset, n);
        dst += n;
        offset += n;
        size -= n;
    }
    return VKA_OK;
}

vka_status vk_cmd_create(vk_backend *vb, VkCommandPoolCreateFlags flags, VkCommandPool *pool, VkCommandBuffer *cmd,
                         VkFence *fence) {
    VkCommandPoolCreateInfo cpi = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO, .flags = flags,
                                   .queueFamilyIndex = vb->queue_family};
    VK_TRY(vkCreateCommandPool(vb->device, &cpi, NULL, pool), "creating a command pool");
    VkCommandBufferAllocateInfo cai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO, .commandPool = *pool,
                                       .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY, .commandBufferCount = 1};
    VK_TRY(vkAllocateCommandBuffers(vb->device, &cai, cmd), "allocating a command buffer");
    VkFenceCreateInfo fci = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    VK_TRY(vkCreateFence(vb->device, &fci, NULL, fence), "creating a fence");
    return VKA_OK;
}
