/* vk_backend.c — the Vulkan backend object: opening a device, the op table
 * of backend.h, statistics, and closing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/vulkan/vk_internal.h"

static void vk_destroy(vka_backend *b) {
    vk_backend *vb = (vk_backend *)b;
    if (vb->device) {
        vkDeviceWaitIdle(vb->device);
        pthread_mutex_lock(&vb->mutex);
        vk_stage_flush(vb);
        vk_ropes_release_all(vb);
        if (vb->dummy_view) vkDestroyBufferView(vb->device, vb->dummy_view, NULL);
        vk_pipelines_release(vb);
        if (vb->xfer_pool) vkDestroyCommandPool(vb->device, vb->xfer_pool, NULL);
        if (vb->xfer_fence) vkDestroyFence(vb->device, vb->xfer_fence, NULL);
        vk_arena_release(vb, &vb->device_arena);
        vk_arena_release(vb, &vb->host_arena);
        pthread_mutex_unlock(&vb->mutex);
        vkDestroyDevice(vb->device, NULL);
    }
    vk_instance_destroy(vb->instance, vb->messenger);
    pthread_mutex_destroy(&vb->mutex);
    pthread_mutex_destroy(&vb->queue_mutex);
    free(vb);
}

static void vk_get_stats(vka_backend *b, vka_backend_stats *out) {
    vk_backend *vb = (vk_backend *)b;
    pthread_mutex_lock(&vb->mutex);
    memset(out, 0, sizeof *out);
    out->device_bytes = vb->device_arena.allocated + vb->host_arena.allocated;
    out->weight_bytes = vb->class_bytes[VK_MEM_WEIGHTS];
    out->kv_bytes = vb->class_bytes[VK_MEM_KV];
    out->activation_bytes = vb->class_bytes[VK_MEM_ACTIVATIONS];
    out->io_bytes = vb->class_bytes[VK_MEM_IO];
    out->internal_bytes = vb->class_bytes[VK_MEM_INTERNAL];
    out->computes = vb->steps;
    out->submits = vb->submits;
    out->host_seconds = vb->host_seconds;
    out->wait_seconds = vb->wait_seconds;
    out->pipeline_seconds = vb->pipeline_seconds;
    out->record_seconds = vb->record_seconds;
    out->pipelines = vb->pipelines_created;
    pthread_mutex_unlock(&vb->mutex);
}

/* The device arena's heap, less what vkagent holds there; a CPU-type or
 * integrated device takes its memory from the host, which may have less
 * left than the heap it reports. */
static bool vk_memory_budget(vka_backend *b, vka_memory_budget *out) {
    vk_backend *vb = (vk_backend *)b;
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&vb->mutex);
    uint32_t h = vb->device_arena.heap_index;
    uint64_t size = vb->mem_props.memoryHeaps[h].size, used = vb->heap_used[h];
    pthread_mutex_unlock(&vb->mutex);
    out->bytes = used < size ? size - used : 0;
    out->device = true;
    snprintf(out->where, sizeof out->where, "memory heap %u of %.120s", h, vb->desc.name);
    uint64_t host;
    bool shares_host = vb->desc.type == VK_PHYSICAL_DEVICE_TYPE_CPU ||
                       vb->desc.type == VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU;
    if (shares_host && vka_host_memory_available(&host) && host < out->bytes) {
        out->bytes = host;
        snprintf(out->where, sizeof out->where, "host memory (MemAvailable) behind %.120s", vb->desc.name);
    }
    return true;
}

const vka_backend_ops vk_backend_ops_table = {
    .destroy = vk_destroy,
    .tensor_alloc = vk_tensor_alloc,
    .tensor_free = vk_tensor_free,
    .tensor_set = vk_tensor_set,
    .tensor_get = vk_tensor_get,
    .tensor_copy = vk_tensor_copy,
    .compute = vk_compute,
    .graph_release = vk_graph_release,
    .get_stats = vk_get_stats,
    .measure_bandwidth = vk_measure_bandwidth,
    .memory_budget = vk_memory_budget,
};

/* Picks and probes the physical device; fills vb->phys and vb->desc. */
static vka_status choose_device(vk_backend *vb, int index) {
    uint32_t n;
    VkPhysicalDevice *phys;
    vka_vk_device_desc *descs;
    VKA_TRY(vk_enumerate(vb->instance, &phys, &descs, &n));
    vka_status st = VKA_OK;
    if (n == 0) {
        st = vka_fail(VKA_ERR_NOT_FOUND, "vulkan: no Vulkan device found");
    } else if (index < 0) {
        index = vka_vk_best_device(descs, n);
        if (index < 0)
            st = vka_fail(VKA_ERR_NOT_FOUND, "vulkan: none of the %u Vulkan devices is usable (%s: %s)", n,
                          descs[0].name, descs[0].unusable_reason);
    } else if ((uint32_t)index >= n) {
        st = vka_fail(VKA_ERR_NOT_FOUND, "vulkan: there is no device vulkan:%d (%u devices; `vkagent devices` lists "
                      "them)", index, n);
    } else if (!descs[index].usable) {
        st = vka_fail(VKA_ERR_UNSUPPORTED, "vulkan: device vulkan:%d (%s) cannot be used: %s", index,
                      descs[index].name, descs[index].unusable_reason);
    }
    if (st == VKA_OK) {
        vb->phys = phys[index];
        vb->desc = descs[index];
    }
    free(phys);
    free(descs);
    return st;
}

static vka_status setup(vk_backend *vb, int index) {
    VKA_TRY(vk_instance_create(vk_env_on("VKAGENT_VK_VALIDATION"), &vb->instance, &vb->messenger));
    VKA_TRY(choose_device(vb, index));
    vkGetPhysicalDeviceMemoryProperties(vb->phys, &vb->mem_props);
    VkPhysicalDeviceProperties props;
    vkGetPhysicalDeviceProperties(vb->phys, &props);
    vb->max_alloc = vb->desc.max_memory_allocation_size ? vb->desc.max_memory_allocation_size : ((VkDeviceSize)1 << 30);
    vb->max_binding = props.limits.maxStorageBufferRange;
    const char *cap = getenv("VKAGENT_VK_MAX_BINDING"); /* smaller bindings, to test splitting */
    if (cap && *cap) {
        unsigned long long v = strtoull(cap, NULL, 0);
        if (v >= 4096 && v < vb->max_binding) vb->max_binding = v;
    }
    if (vb->max_binding > vb->max_alloc - 4096) vb->max_binding = vb->max_alloc - 4096;
    vb->max_binding &= ~(VkDeviceSize)15;
    vb->align = 256;
    if (props.limits.minStorageBufferOffsetAlignment > vb->align) vb->align = props.limits.minStorageBufferOffsetAlignment;
    if (props.limits.nonCoherentAtomSize > vb->align) vb->align = props.limits.nonCoherentAtomSize;
    VKA_TRY(vk_device_create(vb));
    vk_choose_tuning(vb);
    VkFormatProperties fp;
    vkGetPhysicalDeviceFormatProperties(vb->phys, VK_FORMAT_R32G32B32A32_UINT, &fp);
    if (!(fp.bufferFeatures & VK_FORMAT_FEATURE_UNIFORM_TEXEL_BUFFER_BIT) ||
        props.limits.maxTexelBufferElements < (vb->max_binding + 15) / 16 || props.limits.minTexelBufferOffsetAlignment > 256)
        vb->tune.texel = false;
    if (!vb->tune.texel) vb->tune.q8_act = false; /* mm_q8 reads through texel views only */
    VKA_TRY(vk_arenas_init(vb));
    VKA_TRY(vk_pipelines_init(vb));
    VKA_TRY(vk_cmd_create(vb, VK_COMMAND_POOL_CREATE_TRANSIENT_BIT, &vb->xfer_pool, &vb->xfer_cmd, &vb->xfer_fence));
    VKA_TRY(vk_alloc_mem(vb, &vb->device_arena, 256, "an unused binding", &vb->dummy));
    VKA_TRY(vk_stage_zero(vb, &vb->dummy, 0, 256));
    VKA_TRY(vk_texel_view(vb, &vb->dummy, 16, &vb->dummy_view));
    vb->class_bytes[VK_MEM_INTERNAL] += vb->dummy.size;
    snprintf(vb->base.name, sizeof vb->base.name, "vulkan:%u %.200s [%s]", vb->desc.index, vb->desc.name,
             vb->desc.type_name);
    /* an f16 cache where the shaders can store halves natively; f32 otherwise */
    vb->base.kv_f16_default = vb->desc.enabled.storage16;
    return VKA_OK;
}

vka_status vka_vulkan_backend_create(int index, vka_backend **out) {
    *out = NULL;
    vk_backend *vb = calloc(1, sizeof *vb);
    if (!vb) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
    vb->base.ops = &vk_backend_ops_table;
    pthread_mutex_init(&vb->mutex, NULL);
    pthread_mutex_init(&vb->queue_mutex, NULL);
    vka_status st = setup(vb, index);
    if (st != VKA_OK) {
        vk_destroy(&vb->base);
        return st;
    }
    *out = &vb->base;
    return VKA_OK;
}

bool vka_vk_rounds_to_f16(const vka_backend *b, vka_type type) {
    if (!b || b->ops != &vk_backend_ops_table) return false; /* another backend */
    return vka_vk_matmul_uses_coopmat(&((const vk_backend *)b)->tune, type);
}

bool vka_vk_quantizes_activations(const vka_backend *b, vka_type type) {
    if (!b || b->ops != &vk_backend_ops_table) return false; /* another backend */
    const vk_backend *vb = (const vk_backend *)b;
    return vb->tune.q8_act && vk_q8_weight_type(type);
}
