/* vulkan_backend.h — the Vulkan backend as the rest of vkagent sees it:
 * device enumeration (for `vkagent devices` and device choice), backend
 * creation, and the validation-message count the tests check. */
#ifndef VKA_VULKAN_BACKEND_H
#define VKA_VULKAN_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

#include "backends/backend.h"

/* Optional device features vkagent probes; each can be switched off. */
typedef struct vka_vk_features {
    bool fp16;               /* shaderFloat16 */
    bool storage16;          /* storageBuffer16BitAccess */
    bool storage8;           /* storageBuffer8BitAccess */
    bool int_dot;            /* shaderIntegerDotProduct */
    bool subgroup_arith;     /* subgroup arithmetic in compute shaders */
    bool subgroup_shuffle;   /* subgroup shuffle in compute shaders */
    bool subgroup_ballot;    /* subgroup ballot/broadcast in compute shaders */
    bool size_control;       /* subgroupSizeControl */
    bool full_subgroups;     /* computeFullSubgroups */
    bool coopmat_nv;         /* VK_NV_cooperative_matrix with 16x16x16 f16 -> f32 */
    bool coopmat_khr;        /* VK_KHR_cooperative_matrix (no shader for it in this build) */
} vka_vk_features;

#define VKA_VK_MAX_HEAPS 16

typedef struct vka_vk_device_desc {
    uint32_t index;                  /* N of "vulkan:N" */
    char name[256];
    int type;                        /* VkPhysicalDeviceType */
    const char *type_name;           /* "discrete", "integrated", "virtual", "cpu-type", "other" */
    char driver_name[256];
    char driver_info[256];
    uint32_t driver_version, api_version, vendor_id, device_id;
    uint8_t uuid[16];
    uint32_t n_heaps;
    struct {
        uint64_t size;
        bool device_local;
    } heaps[VKA_VK_MAX_HEAPS];
    uint32_t subgroup_size, min_subgroup_size, max_subgroup_size;
    uint64_t max_storage_buffer_range;
    uint64_t max_memory_allocation_size;
    uint32_t max_shared_memory;
    vka_vk_features found;           /* what the device offers */
    vka_vk_features enabled;         /* what vkagent uses after the VKAGENT_VK_* switches */
    bool usable;                     /* Vulkan 1.2+ with a compute queue */
    char unusable_reason[128];
} vka_vk_device_desc;

/* Lists every Vulkan device (a temporary instance); *out is malloc'ed,
 * free it with free(). No Vulkan loader or driver: VKA_ERR_NOT_FOUND. */
vka_status vka_vk_list_devices(vka_vk_device_desc **out, uint32_t *n);

/* Index of the device "auto"/"vulkan" prefer (discrete, integrated, virtual,
 * then CPU-type), or -1 if none is usable. */
int vka_vk_best_device(const vka_vk_device_desc *devs, uint32_t n);

/* Index of the device "auto" takes: the best GPU (discrete, integrated,
 * virtual); -1 when there is none (no Vulkan, or only CPU-type devices such
 * as lavapipe, where the CPU backend is faster). */
int vka_vk_auto_gpu(void);

/* Opens device `index` (-1: the best one) as a backend. */
vka_status vka_vulkan_backend_create(int index, vka_backend **out);

/* Whether matrix products with `type` weights on backend `b` quantize the
 * activations to 8 bits per block of 32 (d = max|x|/127, so |x - q d| <= d/2
 * per element): the integer kernels of CPU-type devices. False for a backend
 * that is not Vulkan. */
bool vka_vk_quantizes_activations(const vka_backend *b, vka_type type);

/* Whether matrix products with `type` weights on backend `b` round weights
 * and activations to f16 (the cooperative-matrix path: |fl16(v) - v| <=
 * 2^-11 |v| + 2^-25 per element), accumulating in f32. False for a backend
 * that is not Vulkan. */
bool vka_vk_rounds_to_f16(const vka_backend *b, vka_type type);

/* Validation-layer warnings and errors seen since the process started
 * (VKAGENT_VK_VALIDATION=1). */
uint64_t vka_vk_validation_messages(void);

/* The optional features a VKAGENT_VK_* environment switch turns off. */
void vka_vk_apply_env_switches(vka_vk_features *f);

#endif
