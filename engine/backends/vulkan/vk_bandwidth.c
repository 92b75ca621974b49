/* vk_bandwidth.c — the device's memory read bandwidth, measured with a
 * shader that reads one large buffer (for `vkagent bench --bandwidth`). */
#include <string.h>

#include "backends/vulkan/vk_internal.h"

#define GROUPS 256u
#define WG 64u

/* Records `reps` reads of the whole buffer; caller holds vb->mutex. */
static vka_status record_reads(vk_backend *vb, VkCommandBuffer cmd, VkDescriptorSet set, vk_pipeline *p, uint32_t n,
                               uint32_t reps) {
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    VK_TRY(vkBeginCommandBuffer(cmd, &bi), "beginning the bandwidth command buffer");
    vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, p->pipeline);
    vkCmdBindDescriptorSets(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, vb->pipeline_layout, 0, 1, &set, 0, NULL);
    vkCmdPushConstants(cmd, vb->pipeline_layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof n, &n);
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER, .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT,
                          .dstAccessMask = VK_ACCESS_SHADER_WRITE_BIT};
    for (uint32_t r = 0; r < reps; r++) {
        if (r) vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0,
                                    1, &mb, 0, NULL, 0, NULL);
        vkCmdDispatch(cmd, GROUPS, 1, 1);
    }
    VK_TRY(vkEndCommandBuffer(cmd), "ending the bandwidth command buffer");
    return VKA_OK;
}

vka_status vk_measure_bandwidth(vka_backend *b, double *bytes_per_second) {
    vk_backend *vb = (vk_backend *)b;
    *bytes_per_second = 0;
    VkDeviceSize bytes = (VkDeviceSize)256 << 20;
    if (bytes > vb->max_binding) bytes = vb->max_binding & ~(VkDeviceSize)15;
    uint64_t heap = vb->mem_props.memoryHeaps[vb->device_arena.heap_index].size;
    if (bytes > heap / 4) bytes = (heap / 4) & ~(VkDeviceSize)15;
    vk_alloc src = {0}, dst = {0};
    VkBufferView view = VK_NULL_HANDLE;
    VkCommandPool pool = VK_NULL_HANDLE;
    VkCommandBuffer cmd = VK_NULL_HANDLE;
    VkFence fence = VK_NULL_HANDLE;
    VkDescriptorPool dpool = VK_NULL_HANDLE;
    VkDescriptorSet set = VK_NULL_HANDLE;
    vk_pipeline *p = NULL;
    const uint32_t reps = 4;
    double best = 0;
    pthread_mutex_lock(&vb->mutex);
    vka_status st = vk_alloc_mem(vb, &vb->device_arena, bytes, "the bandwidth buffer", &src);
    if (st == VKA_OK) st = vk_alloc_mem(vb, &vb->device_arena, GROUPS * WG * 4, "the bandwidth result", &dst);
    if (st == VKA_OK) st = vk_stage_zero(vb, &src, 0, bytes);
    if (st == VKA_OK) st = vk_stage_flush(vb);
    if (st == VKA_OK && vb->tune.texel) st = vk_texel_view(vb, &src, bytes, &view);
    uint32_t spec = WG;
    if (st == VKA_OK) st = vk_pipeline_get(vb, view ? "bandwidth_texel" : "bandwidth", &spec, 1, false, &p);
    if (st == VKA_OK) st = vk_cmd_create(vb, 0, &pool, &cmd, &fence);
    VkDescriptorPoolSize ps[2] = {{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, VK_XTEX_BINDING},
                                  {VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER, 2}};
    VkDescriptorPoolCreateInfo dpi = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO, .maxSets = 1,
                                      .poolSizeCount = 2, .pPoolSizes = ps};
    if (st == VKA_OK) st = vk_check(vkCreateDescriptorPool(vb->device, &dpi, NULL, &dpool), "creating a descriptor pool");
    VkDescriptorSetAllocateInfo dai = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO, .descriptorPool = dpool,
                                       .descriptorSetCount = 1, .pSetLayouts = &vb->set_layout};
    if (st == VKA_OK) st = vk_check(vkAllocateDescriptorSets(vb->device, &dai, &set), "allocating a descriptor set");
    if (st == VKA_OK) {
        VkDescriptorBufferInfo infos[VK_XTEX_BINDING];
        for (uint32_t i = 0; i < VK_XTEX_BINDING; i++) infos[i] = (VkDescriptorBufferInfo){vb->dummy.chunk->buffer,
                                                                                            vb->dummy.offset, 16};
        infos[0] = (VkDescriptorBufferInfo){dst.chunk->buffer, dst.offset, GROUPS * WG * 4};
        infos[1] = (VkDescriptorBufferInfo){src.chunk->buffer, src.offset, bytes};
        VkBufferView views[2] = {vb->dummy_view, view ? view : vb->dummy_view};
        VkWriteDescriptorSet w[3] = {
            {.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET, .dstSet = set, .dstBinding = 0,
             .descriptorCount = VK_XTEX_BINDING, .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, .pBufferInfo = infos},
            {.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET, .dstSet = set, .dstBinding = VK_XTEX_BINDING,
             .descriptorCount = 1, .descriptorType = VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER, .pTexelBufferView = &views[0]},
            {.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET, .dstSet = set, .dstBinding = VK_TEXEL_BINDING,
             .descriptorCount = 1, .descriptorType = VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER, .pTexelBufferView = &views[1]},
        };
        vkUpdateDescriptorSets(vb->device, 3, w, 0, NULL);
        st = record_reads(vb, cmd, set, p, (uint32_t)(bytes / 16), reps);
    }
    pthread_mutex_unlock(&vb->mutex);
    /* the first run pays for compiling the shader; the best of the others counts */
    for (int trial = 0; st == VKA_OK && trial < 4; trial++) {
        double t0 = vk_now();
        st = vk_submit_wait(vb, cmd, fence, NULL);
        double t = vk_now() - t0;
        if (st == VKA_OK && trial > 0 && (double)bytes * reps / t > best) best = (double)bytes * reps / t;
    }
    pthread_mutex_lock(&vb->mutex);
    if (dpool) vkDestroyDescriptorPool(vb->device, dpool, NULL);
    if (fence) vkDestroyFence(vb->device, fence, NULL);
    if (pool) vkDestroyCommandPool(vb->device, pool, NULL);
    if (view) vkDestroyBufferView(vb->device, view, NULL);
    vk_free_mem(vb, &vb->device_arena, &src);
    vk_free_mem(vb, &vb->device_arena, &dst);
    pthread_mutex_unlock(&vb->mutex);
    if (st == VKA_OK) *bytes_per_second = best;
    return st;
}
