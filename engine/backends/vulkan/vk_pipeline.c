/* vk_pipeline.c — compute pipelines from the embedded SPIR-V, specialised
 * per device (workgroup and tile sizes), created on first use through a
 * pipeline cache that lives on disk in $XDG_CACHE_HOME/vkagent (default
 * ~/.cache/vkagent), one file per device UUID and driver version. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends/vulkan/vk_internal.h"
#include "backends/vulkan/vk_spirv.h"

const vka_vk_spirv *vka_vk_spirv_find(const char *name) {
    for (size_t i = 0; i < vka_vk_spirv_count; i++)
        if (strcmp(vka_vk_spirv_modules[i].name, name) == 0) return &vka_vk_spirv_modules[i];
    return NULL;
}

/* mkdir -p for the directories of `path` (best effort). */
static void make_parents(char *path) {
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST) {
            *p = '/';
            return;
        }
        *p = '/';
    }
}

static void cache_path(vk_backend *vb) {
    vb->pipeline_cache_path[0] = '\0';
    const char *off = getenv("VKAGENT_VK_PIPELINE_CACHE");
    if (off && strcmp(off, "0") == 0) return;
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    char dir[900];
    if (xdg && *xdg) snprintf(dir, sizeof dir, "%s/vkagent", xdg);
    else if (home && *home) snprintf(dir, sizeof dir, "%s/.cache/vkagent", home);
    else return;
    char uuid[33];
    for (int i = 0; i < 16; i++) snprintf(uuid + 2 * i, 3, "%02x", vb->desc.uuid[i]);
    snprintf(vb->pipeline_cache_path, sizeof vb->pipeline_cache_path, "%s/pipelines-%s-%08x.bin", dir, uuid,
             vb->desc.driver_version);
}

/* The saved cache, if it exists and its header names this device. */
static void *load_cache(vk_backend *vb, size_t *size) {
    *size = 0;
    if (!vb->pipeline_cache_path[0]) return NULL;
    FILE *f = fopen(vb->pipeline_cache_path, "rb");
    if (!f) return NULL;
    void *data = NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long n = ftell(f);
        if (n >= 32 && n < (1L << 30) && fseek(f, 0, SEEK_SET) == 0 && (data = malloc((size_t)n))) {
            if (fread(data, 1, (size_t)n, f) == (size_t)n) *size = (size_t)n;
        }
    }
    fclose(f);
    const uint32_t *h = data;
    if (*size && (h[0] < 32 || h[1] != VK_PIPELINE_CACHE_HEADER_VERSION_ONE || h[2] != vb->desc.vendor_id ||
                  h[3] != vb->desc.device_id)) {
        *size = 0; /* another device's or a damaged file: start afresh */
    }
    if (!*size) {
        free(data);
        data = NULL;
    }
    return data;
}

static void save_cache(vk_backend *vb) {
    if (!vb->pipeline_cache || !vb->pipeline_cache_dirty || !vb->pipeline_cache_path[0]) return;
    size_t size = 0;
    if (vkGetPipelineCacheData(vb->device, vb->pipeline_cache, &size, NULL) != VK_SUCCESS || !size) return;
    void *data = malloc(size);
    if (!data) return;
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", vb->pipeline_cache_path, (long)getpid());
    if (vkGetPipelineCacheData(vb->device, vb->pipeline_cache, &size, data) == VK_SUCCESS) {
        make_parents(tmp);
        FILE *f = fopen(tmp, "wb");
        if (f) {
            bool ok = fwrite(data, 1, size, f) == size;
            ok = fclose(f) == 0 && ok;
            /* rename is atomic: concurrent processes never read half a file */
            if (!ok || rename(tmp, vb->pipeline_cache_path) != 0) remove(tmp);
        }
    }
    free(data);
}

vka_status vk_pipelines_init(vk_backend *vb) {
    VkDescriptorSetLayoutBinding bindings[VK_BINDINGS];
    for (uint32_t i = 0; i < VK_BINDINGS; i++)
        bindings[i] = (VkDescriptorSetLayoutBinding){.binding = i,
                                                     .descriptorType = i >= VK_XTEX_BINDING
                                                                           ? VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER
                                                                           : VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                                     .descriptorCount = 1,
                                                     .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT};
    VkDescriptorSetLayoutCreateInfo dl = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
                                          .bindingCount = VK_BINDINGS, .pBindings = bindings};
    VK_TRY(vkCreateDescriptorSetLayout(vb->device, &dl, NULL, &vb->set_layout), "creating the descriptor set layout");
    VkPushConstantRange pr = {.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT, .offset = 0, .size = VK_PUSH_BYTES};
    VkPipelineLayoutCreateInfo pl = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO, .setLayoutCount = 1,
                                     .pSetLayouts = &vb->set_layout, .pushConstantRangeCount = 1,
                                     .pPushConstantRanges = &pr};
    VK_TRY(vkCreatePipelineLayout(vb->device, &pl, NULL, &vb->pipeline_layout), "creating the pipeline layout");
    vb->modules = calloc(vka_vk_spirv_count ? vka_vk_spirv_count : 1, sizeof *vb->modules);
    if (!vb->modules) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
    cache_path(vb);
    size_t size;
    void *data = load_cache(vb, &size);
    VkPipelineCacheCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO, .initialDataSize = size,
                                    .pInitialData = data};
    VkResult r = vkCreatePipelineCache(vb->device, &ci, NULL, &vb->pipeline_cache);
    if (r != VK_SUCCESS && data) { /* a cache the driver rejects is no reason to fail */
        ci.initialDataSize = 0;
        ci.pInitialData = NULL;
        r = vkCreatePipelineCache(vb->device, &ci, NULL, &vb->pipeline_cache);
    }
    free(data);
    VK_TRY(r, "creating the pipeline cache");
    return VKA_OK;
}

void vk_pipelines_release(vk_backend *vb) {
    if (!vb->device) return;
    save_cache(vb);
    for (uint32_t i = 0; i < vb->n_pipelines; i++) {
        vkDestroyPipeline(vb->device, vb->pipelines[i]->pipeline, NULL);
        free(vb->pipelines[i]);
    }
    free(vb->pipelines);
    vb->pipelines = NULL;
    vb->n_pipelines = 0;
    for (size_t i = 0; vb->modules && i < vka_vk_spirv_count; i++)
        if (vb->modules[i]) vkDestroyShaderModule(vb->device, vb->modules[i], NULL);
    free(vb->modules);
    vb->modules = NULL;
    if (vb->pipeline_cache) vkDestroyPipelineCache(vb->device, vb->pipeline_cache, NULL);
    if (vb->pipeline_layout) vkDestroyPipelineLayout(vb->device, vb->pipeline_layout, NULL);
    if (vb->set_layout) vkDestroyDescriptorSetLayout(vb->device, vb->set_layout, NULL);
}

static vka_status module_for(vk_backend *vb, const char *name, VkShaderModule *out) {
    const vka_vk_spirv *m = vka_vk_spirv_find(name);
    if (!m) return vka_fail(VKA_ERR_INTERNAL, "vulkan: no shader module '%s' in this build", name);
    size_t i = (size_t)(m - vka_vk_spirv_modules);
    if (!vb->modules[i]) {
        VkShaderModuleCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO, .codeSize = m->size,
                                       .pCode = m->code};
        VK_TRY(vkCreateShaderModule(vb->device, &ci, NULL, &vb->modules[i]), "creating shader module %s", name);
    }
    *out = vb->modules[i];
    return VKA_OK;
}

/* Caller holds vb->mutex. */
vka_status vk_pipeline_get(vk_backend *vb, const char *module, const uint32_t *spec, uint32_t n_spec,
                           bool full_subgroups, vk_pipeline **out) {
    for (uint32_t i = 0; i < vb->n_pipelines; i++) {
        vk_pipeline *p = vb->pipelines[i];
        if (p->n_spec == n_spec && p->full_subgroups == full_subgroups && strcmp(p->module, module) == 0 &&
            memcmp(p->spec, spec, n_spec * sizeof *spec) == 0) {
            *out = p;
            return VKA_OK;
        }
    }
    if (n_spec > VK_MAX_SPEC || strlen(module) >= sizeof vb->pipelines[0]->module)
        return vka_fail(VKA_ERR_INTERNAL, "vulkan: pipeline %s: too many specialization constants", module);
    if (vb->n_pipelines == vb->cap_pipelines) {
        uint32_t cap = vb->cap_pipelines ? 2 * vb->cap_pipelines : 32;
        vk_pipeline **grown = realloc(vb->pipelines, cap * sizeof *grown);
        if (!grown) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
        vb->pipelines = grown;
        vb->cap_pipelines = cap;
    }
    VkShaderModule sm = VK_NULL_HANDLE;
    VKA_TRY(module_for(vb, module, &sm));
    vk_pipeline *p = calloc(1, sizeof *p);
    if (!p) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
    snprintf(p->module, sizeof p->module, "%s", module);
    memcpy(p->spec, spec, n_spec * sizeof *spec);
    p->n_spec = n_spec;
    p->full_subgroups = full_subgroups;
    VkSpecializationMapEntry entries[VK_MAX_SPEC];
    for (uint32_t i = 0; i < n_spec; i++) entries[i] = (VkSpecializationMapEntry){i, i * 4, 4};
    VkSpecializationInfo si = {.mapEntryCount = n_spec, .pMapEntries = entries, .dataSize = n_spec * 4,
                               .pData = p->spec};
    VkComputePipelineCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                  .flags = full_subgroups ? VK_PIPELINE_SHADER_STAGE_CREATE_REQUIRE_FULL_SUBGROUPS_BIT : 0,
                  .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                  .module = sm,
                  .pName = "main",
                  .pSpecializationInfo = &si},
        .layout = vb->pipeline_layout,
    };
    double t0 = vk_now();
    VkResult r = vkCreateComputePipelines(vb->device, vb->pipeline_cache, 1, &ci, NULL, &p->pipeline);
    vb->pipeline_seconds += vk_now() - t0;
    if (r != VK_SUCCESS) {
        free(p);
        return vk_check(r, "creating pipeline %s", module);
    }
    vb->pipeline_cache_dirty = true;
    vb->pipelines_created++;
    vb->pipelines[vb->n_pipelines++] = p;
    *out = p;
    return VKA_OK;
}
