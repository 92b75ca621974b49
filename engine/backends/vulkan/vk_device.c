/* vk_device.c — Vulkan instance (with the validation layer on request),
 * device enumeration and feature probing, the VKAGENT_VK_* switches, device
 * creation and the shapes chosen per device. */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backends/vulkan/vk_internal.h"

double vk_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

const char *vk_result_name(VkResult r) {
    switch (r) {
#define R(x) case x: return #x;
    R(VK_SUCCESS) R(VK_NOT_READY) R(VK_TIMEOUT) R(VK_EVENT_SET) R(VK_EVENT_RESET) R(VK_INCOMPLETE)
    R(VK_ERROR_OUT_OF_HOST_MEMORY) R(VK_ERROR_OUT_OF_DEVICE_MEMORY) R(VK_ERROR_INITIALIZATION_FAILED)
    R(VK_ERROR_DEVICE_LOST) R(VK_ERROR_MEMORY_MAP_FAILED) R(VK_ERROR_LAYER_NOT_PRESENT)
    R(VK_ERROR_EXTENSION_NOT_PRESENT) R(VK_ERROR_FEATURE_NOT_PRESENT) R(VK_ERROR_INCOMPATIBLE_DRIVER)
    R(VK_ERROR_TOO_MANY_OBJECTS) R(VK_ERROR_FORMAT_NOT_SUPPORTED) R(VK_ERROR_FRAGMENTED_POOL)
    R(VK_ERROR_UNKNOWN) R(VK_ERROR_OUT_OF_POOL_MEMORY) R(VK_ERROR_INVALID_EXTERNAL_HANDLE)
    R(VK_ERROR_FRAGMENTATION) R(VK_ERROR_INVALID_OPAQUE_CAPTURE_ADDRESS) R(VK_PIPELINE_COMPILE_REQUIRED)
#undef R
    default: return "VkResult (unknown)";
    }
}

vka_status vk_check(VkResult r, const char *fmt, ...) {
    if (r == VK_SUCCESS) return VKA_OK;
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    vka_status s = r == VK_ERROR_OUT_OF_DEVICE_MEMORY ? VKA_ERR_OUT_OF_DEVICE_MEMORY
                 : r == VK_ERROR_OUT_OF_HOST_MEMORY ? VKA_ERR_OUT_OF_MEMORY
                                                     : VKA_ERR_DEVICE;
    return vka_fail(s, "vulkan: %s failed: %s (%d)", what, vk_result_name(r), (int)r);
}

/* The queue family to compute on: one with compute, preferring one without
 * graphics (dedicated compute); -1 if none (or out of memory). */
static int compute_family(VkPhysicalDevice phys) {
    uint32_t nq = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(phys, &nq, NULL);
    VkQueueFamilyProperties *q = calloc(nq ? nq : 1, sizeof *q);
    if (!q) return -1;
    vkGetPhysicalDeviceQueueFamilyProperties(phys, &nq, q);
    int family = -1;
    for (uint32_t i = 0; i < nq; i++) {
        if (!(q[i].queueFlags & VK_QUEUE_COMPUTE_BIT)) continue;
        bool dedicated = !(q[i].queueFlags & VK_QUEUE_GRAPHICS_BIT);
        if (family < 0 || dedicated) family = (int)i;
        if (dedicated) break;
    }
    free(q);
    return family;
}

/* ------------------------------------------------------------ switches */

bool vk_env_on(const char *name) {
    const char *v = getenv(name);
    return v && *v && strcmp(v, "0") != 0;
}

/* VKAGENT_VK_DISABLE: "all" or a comma-separated list of the names below. */
static bool disabled(const char *name, const char *single_switch) {
    if (vk_env_on(single_switch)) return true;
    const char *list = getenv("VKAGENT_VK_DISABLE");
    if (!list || !*list) return false;
    if (strcmp(list, "all") == 0) return true;
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && strncmp(p, name, n) == 0) return true;
        if (!end) break;
        p = end + 1;
    }
    return false;
}

void vka_vk_apply_env_switches(vka_vk_features *f) {
    if (disabled("fp16", "VKAGENT_VK_NO_FP16")) f->fp16 = false;
    if (disabled("16bit_storage", "VKAGENT_VK_NO_16BIT_STORAGE")) f->storage16 = false;
    if (disabled("8bit_storage", "VKAGENT_VK_NO_8BIT_STORAGE")) f->storage8 = false;
    if (disabled("int_dot", "VKAGENT_VK_NO_INT_DOT")) f->int_dot = false;
    if (disabled("subgroup", "VKAGENT_VK_NO_SUBGROUP")) {
        f->subgroup_arith = f->subgroup_shuffle = f->subgroup_ballot = false;
        f->size_control = f->full_subgroups = false;
    }
    if (disabled("coopmat", "VKAGENT_VK_NO_COOPMAT")) f->coopmat_nv = f->coopmat_khr = false;
    if (!f->fp16 || !f->size_control || !f->full_subgroups) f->coopmat_nv = false; /* its shader needs them */
}

/* ------------------------------------------------------------ instance */

static atomic_uint_fast64_t validation_count;

uint64_t vka_vk_validation_messages(void) { return (uint64_t)atomic_load(&validation_count); }

static VKAPI_ATTR VkBool32 VKAPI_CALL on_validation(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                   VkDebugUtilsMessageTypeFlagsEXT types,
                                                   const VkDebugUtilsMessengerCallbackDataEXT *data, void *user) {
    (void)types;
    (void)user;
    if (severity < VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT) return VK_FALSE;
    atomic_fetch_add(&validation_count, 1);
    /* Validation is a debugging mode asked for with VKAGENT_VK_VALIDATION=1: its messages go to stderr. */
    fprintf(stderr, "vkagent: vulkan validation %s: %s\n",
            severity >= VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT ? "error" : "warning",
            data && data->pMessage ? data->pMessage : "(no message)");
    return VK_FALSE;
}

static bool has_instance_layer(const char *name) {
    uint32_t n = 0;
    if (vkEnumerateInstanceLayerProperties(&n, NULL) != VK_SUCCESS || !n) return false;
    VkLayerProperties *p = calloc(n, sizeof *p);
    bool found = false;
    if (p && vkEnumerateInstanceLayerProperties(&n, p) == VK_SUCCESS)
        for (uint32_t i = 0; i < n && !found; i++) found = strcmp(p[i].layerName, name) == 0;
    free(p);
    return found;
}

static bool has_instance_extension(const char *name) {
    uint32_t n = 0;
    if (vkEnumerateInstanceExtensionProperties(NULL, &n, NULL) != VK_SUCCESS || !n) return false;
    VkExtensionProperties *p = calloc(n, sizeof *p);
    bool found = false;
    if (p && vkEnumerateInstanceExtensionProperties(NULL, &n, p) == VK_SUCCESS)
        for (uint32_t i = 0; i < n && !found; i++) found = strcmp(p[i].extensionName, name) == 0;
    free(p);
    return found;
}

vka_status vk_instance_create(bool validation, VkInstance *instance, VkDebugUtilsMessengerEXT *messenger) {
    *instance = VK_NULL_HANDLE;
    *messenger = VK_NULL_HANDLE;
    uint32_t version = VK_API_VERSION_1_0;
    if (vkEnumerateInstanceVersion(&version) != VK_SUCCESS) version = VK_API_VERSION_1_0;
    if (version < VK_API_VERSION_1_2)
        return vka_fail(VKA_ERR_NOT_FOUND, "vulkan: the Vulkan loader supports only %u.%u; vkagent needs 1.2",
                        VK_API_VERSION_MAJOR(version), VK_API_VERSION_MINOR(version));
    const char *exts[2];
    uint32_t n_exts = 0;
    VkInstanceCreateFlags flags = 0;
    if (has_instance_extension(VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME)) {
        exts[n_exts++] = VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME;
        flags |= VK_INSTANCE_CREATE_ENUMERATE_PORTABILITY_BIT_KHR;
    }
    const char *layer = "VK_LAYER_KHRONOS_validation";
    if (validation) {
        if (!has_instance_layer(layer))
            return vka_fail(VKA_ERR_UNSUPPORTED, "vulkan: VKAGENT_VK_VALIDATION is set but %s is not installed. "
                            "HINT: install vulkan-validationlayers, or unset VKAGENT_VK_VALIDATION", layer);
        if (!has_instance_extension(VK_EXT_DEBUG_UTILS_EXTENSION_NAME))
            return vka_fail(VKA_ERR_UNSUPPORTED, "vulkan: validation needs %s, which the loader lacks",
                            VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
        exts[n_exts++] = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
    }
    VkApplicationInfo app = {
        .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
        .pApplicationName = "vkagent",
        .pEngineName = "vkagent",
        .apiVersion = version >= VK_API_VERSION_1_3 ? VK_API_VERSION_1_3 : VK_API_VERSION_1_2,
    };
    VkDebugUtilsMessengerCreateInfoEXT dbg = {
        .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
        .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
        .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
        .pfnUserCallback = on_validation,
    };
    VkInstanceCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
        .pNext = validation ? &dbg : NULL,   /* also reports on instance creation itself */
        .flags = flags,
        .pApplicationInfo = &app,
        .enabledLayerCount = validation ? 1 : 0,
        .ppEnabledLayerNames = &layer,
        .enabledExtensionCount = n_exts,
        .ppEnabledExtensionNames = exts,
    };
    VkResult r = vkCreateInstance(&ci, NULL, instance);
    if (r == VK_ERROR_INCOMPATIBLE_DRIVER)
        return vka_fail(VKA_ERR_NOT_FOUND, "vulkan: no Vulkan driver is installed (vkCreateInstance: %s)",
                        vk_result_name(r));
    VK_TRY(r, "creating the Vulkan instance");
    if (validation) {
        PFN_vkCreateDebugUtilsMessengerEXT create =
            (PFN_vkCreateDebugUtilsMessengerEXT)vkGetInstanceProcAddr(*instance, "vkCreateDebugUtilsMessengerEXT");
        r = create ? create(*instance, &dbg, NULL, messenger) : VK_ERROR_EXTENSION_NOT_PRESENT;
        if (r != VK_SUCCESS) {
            vkDestroyInstance(*instance, NULL);
            *instance = VK_NULL_HANDLE;
            return vk_check(r, "creating the validation messenger");
        }
    }
    return VKA_OK;
}

void vk_instance_destroy(VkInstance instance, VkDebugUtilsMessengerEXT messenger) {
    if (!instance) return;
    if (messenger) {
        PFN_vkDestroyDebugUtilsMessengerEXT destroy =
            (PFN_vkDestroyDebugUtilsMessengerEXT)vkGetInstanceProcAddr(instance, "vkDestroyDebugUtilsMessengerEXT");
        if (destroy) destroy(instance, messenger, NULL);
    }
    vkDestroyInstance(instance, NULL);
}

/* ------------------------------------------------------------ probing */

static bool has_device_extension(VkPhysicalDevice phys, const char *name) {
    uint32_t n = 0;
    if (vkEnumerateDeviceExtensionProperties(phys, NULL, &n, NULL) != VK_SUCCESS || !n) return false;
    VkExtensionProperties *p = calloc(n, sizeof *p);
    bool found = false;
    if (p && vkEnumerateDeviceExtensionProperties(phys, NULL, &n, p) == VK_SUCCESS)
        for (uint32_t i = 0; i < n && !found; i++) found = strcmp(p[i].extensionName, name) == 0;
    free(p);
    return found;
}

static const char *type_name(VkPhysicalDeviceType t) {
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual";
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return "cpu-type";
    default: return "other";
    }
}

/* True if the device offers 16x16x16 f16 x f16 -> f32 subgroup cooperative matrices. */
static bool coopmat_nv_shape(VkInstance instance, VkPhysicalDevice phys) {
    PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesNV get =
        (PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesNV)vkGetInstanceProcAddr(
            instance, "vkGetPhysicalDeviceCooperativeMatrixPropertiesNV");
    uint32_t n = 0;
    if (!get || get(phys, &n, NULL) != VK_SUCCESS || !n) return false;
    VkCooperativeMatrixPropertiesNV *p = calloc(n, sizeof *p);
    bool ok = false;
    if (p) {
        for (uint32_t i = 0; i < n; i++) p[i].sType = VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_NV;
        if (get(phys, &n, p) == VK_SUCCESS)
            for (uint32_t i = 0; i < n && !ok; i++)
                ok = p[i].MSize == 16 && p[i].NSize == 16 && p[i].KSize == 16 &&
                     p[i].AType == VK_COMPONENT_TYPE_FLOAT16_NV && p[i].BType == VK_COMPONENT_TYPE_FLOAT16_NV &&
                     p[i].CType == VK_COMPONENT_TYPE_FLOAT32_NV && p[i].DType == VK_COMPONENT_TYPE_FLOAT32_NV &&
                     p[i].scope == VK_SCOPE_SUBGROUP_NV;
    }
    free(p);
    return ok;
}

void vk_probe_device(VkInstance instance, VkPhysicalDevice phys, uint32_t index, vka_vk_device_desc *d) {
    memset(d, 0, sizeof *d);
    d->index = index;
    VkPhysicalDeviceProperties props;
    vkGetPhysicalDeviceProperties(phys, &props);
    snprintf(d->name, sizeof d->name, "%s", props.deviceName);
    d->type = (int)props.deviceType;
    d->type_name = type_name(props.deviceType);
    d->api_version = props.apiVersion;
    d->driver_version = props.driverVersion;
    d->vendor_id = props.vendorID;
    d->device_id = props.deviceID;
    d->max_storage_buffer_range = props.limits.maxStorageBufferRange;
    d->max_shared_memory = props.limits.maxComputeSharedMemorySize;

    VkPhysicalDeviceMemoryProperties mp;
    vkGetPhysicalDeviceMemoryProperties(phys, &mp);
    d->n_heaps = mp.memoryHeapCount < VKA_VK_MAX_HEAPS ? mp.memoryHeapCount : VKA_VK_MAX_HEAPS;
    for (uint32_t i = 0; i < d->n_heaps; i++) {
        d->heaps[i].size = mp.memoryHeaps[i].size;
        d->heaps[i].device_local = (mp.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) != 0;
    }

    if (props.apiVersion < VK_API_VERSION_1_2) {
        snprintf(d->unusable_reason, sizeof d->unusable_reason, "Vulkan %u.%u (vkagent needs 1.2)",
                 VK_API_VERSION_MAJOR(props.apiVersion), VK_API_VERSION_MINOR(props.apiVersion));
        return;
    }
    bool v13 = props.apiVersion >= VK_API_VERSION_1_3;
    bool ext_size_control = has_device_extension(phys, VK_EXT_SUBGROUP_SIZE_CONTROL_EXTENSION_NAME);
    bool ext_int_dot = has_device_extension(phys, VK_KHR_SHADER_INTEGER_DOT_PRODUCT_EXTENSION_NAME);
    bool ext_coopmat_nv = has_device_extension(phys, VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME);

    /* pNext chains are built front to back: each CHAIN() puts a struct in front */
#define CHAIN(head, s) ((s).pNext = (head), (head) = &(s))
    VkPhysicalDeviceDriverProperties driver = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
    VkPhysicalDeviceSubgroupProperties sg = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
    VkPhysicalDeviceSubgroupSizeControlProperties sgc = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_PROPERTIES};
    VkPhysicalDeviceMaintenance3Properties m3 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES};
    VkPhysicalDeviceIDProperties idp = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_ID_PROPERTIES};
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
    void *props_chain = NULL;
    CHAIN(props_chain, driver);
    CHAIN(props_chain, sg);
    if (v13 || ext_size_control) CHAIN(props_chain, sgc);
    CHAIN(props_chain, m3);
    CHAIN(props_chain, idp);
    p2.pNext = props_chain;
    vkGetPhysicalDeviceProperties2(phys, &p2);
    snprintf(d->driver_name, sizeof d->driver_name, "%s", driver.driverName);
    snprintf(d->driver_info, sizeof d->driver_info, "%s", driver.driverInfo);
    memcpy(d->uuid, idp.deviceUUID, sizeof d->uuid);
    d->max_memory_allocation_size = m3.maxMemoryAllocationSize;
    d->subgroup_size = sg.subgroupSize;
    d->min_subgroup_size = d->max_subgroup_size = sg.subgroupSize;
    if (v13 || ext_size_control) {
        d->min_subgroup_size = sgc.minSubgroupSize;
        d->max_subgroup_size = sgc.maxSubgroupSize;
    }
    bool compute_sg = (sg.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) != 0;
    d->found.subgroup_arith = compute_sg && (sg.supportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT);
    d->found.subgroup_shuffle = compute_sg && (sg.supportedOperations & VK_SUBGROUP_FEATURE_SHUFFLE_BIT);
    d->found.subgroup_ballot = compute_sg && (sg.supportedOperations & VK_SUBGROUP_FEATURE_BALLOT_BIT);

    VkPhysicalDeviceCooperativeMatrixFeaturesNV cm = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV};
    VkPhysicalDeviceShaderIntegerDotProductFeatures idot = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_FEATURES};
    VkPhysicalDeviceSubgroupSizeControlFeatures sgcf = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_FEATURES};
    VkPhysicalDeviceVulkan12Features f12 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
    VkPhysicalDeviceVulkan11Features f11 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES};
    VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
    void *feat_chain = NULL;
    if (ext_coopmat_nv) CHAIN(feat_chain, cm);
    if (v13 || ext_int_dot) CHAIN(feat_chain, idot);
    if (v13 || ext_size_control) CHAIN(feat_chain, sgcf);
    CHAIN(feat_chain, f12);
    CHAIN(feat_chain, f11);
    f2.pNext = feat_chain;
    vkGetPhysicalDeviceFeatures2(phys, &f2);
    d->found.fp16 = f12.shaderFloat16;
    d->found.storage16 = f11.storageBuffer16BitAccess;
    d->found.storage8 = f12.storageBuffer8BitAccess;
    d->found.int_dot = (v13 || ext_int_dot) && idot.shaderIntegerDotProduct;
    d->found.size_control = (v13 || ext_size_control) && sgcf.subgroupSizeControl;
    d->found.full_subgroups = (v13 || ext_size_control) && sgcf.computeFullSubgroups;
    d->found.coopmat_nv = ext_coopmat_nv && cm.cooperativeMatrix && coopmat_nv_shape(instance, phys);
    d->found.coopmat_khr = has_device_extension(phys, "VK_KHR_cooperative_matrix");
    d->enabled = d->found;
    vka_vk_apply_env_switches(&d->enabled);

    if (compute_family(phys) < 0) {
        snprintf(d->unusable_reason, sizeof d->unusable_reason, "no compute queue");
        return;
    }
    d->usable = true;
}

vka_status vk_enumerate(VkInstance instance, VkPhysicalDevice **phys, vka_vk_device_desc **descs, uint32_t *n) {
    *phys = NULL;
    *descs = NULL;
    *n = 0;
    uint32_t count = 0;
    VK_TRY(vkEnumeratePhysicalDevices(instance, &count, NULL), "enumerating devices");
    if (!count) return VKA_OK;
    VkPhysicalDevice *p = calloc(count, sizeof *p);
    vka_vk_device_desc *d = calloc(count, sizeof *d);
    vka_status st = p && d ? VKA_OK : vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory listing devices");
    if (st == VKA_OK) st = vk_check(vkEnumeratePhysicalDevices(instance, &count, p), "enumerating devices");
    for (uint32_t i = 0; st == VKA_OK && i < count; i++) vk_probe_device(instance, p[i], i, &d[i]);
    if (st != VKA_OK) {
        free(p);
        free(d);
        return st;
    }
    *phys = p;
    *descs = d;
    *n = count;
    return VKA_OK;
}

vka_status vka_vk_list_devices(vka_vk_device_desc **out, uint32_t *n) {
    VkInstance instance;
    VkDebugUtilsMessengerEXT messenger;
    *out = NULL;
    *n = 0;
    VKA_TRY(vk_instance_create(vk_env_on("VKAGENT_VK_VALIDATION"), &instance, &messenger));
    VkPhysicalDevice *phys;
    vka_status st = vk_enumerate(instance, &phys, out, n);
    free(phys);
    vk_instance_destroy(instance, messenger);
    return st;
}

static int type_rank(int type) {
    switch (type) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return 0;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 1;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return 3;
    default: return 4;
    }
}

int vka_vk_best_device(const vka_vk_device_desc *devs, uint32_t n) {
    int best = -1;
    for (uint32_t i = 0; i < n; i++) {
        if (!devs[i].usable) continue;
        if (best < 0 || type_rank(devs[i].type) < type_rank(devs[best].type)) best = (int)i;
    }
    return best;
}

int vka_vk_auto_gpu(void) {
    vka_vk_device_desc *devs = NULL;
    uint32_t n = 0;
    if (vka_vk_list_devices(&devs, &n) != VKA_OK) return -1;
    int best = vka_vk_best_device(devs, n);
    /* a CPU-type device (lavapipe) is slower than the CPU backend on the same cores */
    if (best >= 0 && type_rank(devs[best].type) > 2) best = -1;
    free(devs);
    return best;
}

/* ------------------------------------------------------------ device */

vka_status vk_device_create(vk_backend *vb) {
    const vka_vk_device_desc *d = &vb->desc;
    bool v13 = d->api_version >= VK_API_VERSION_1_3;
    int family = compute_family(vb->phys);
    if (family < 0) return vka_fail(VKA_ERR_UNSUPPORTED, "vulkan: device %u (%s) has no compute queue", d->index, d->name);
    vb->queue_family = (uint32_t)family;

    const vka_vk_features *f = &vb->desc.enabled;
    const char *exts[4];
    uint32_t n_exts = 0;
    VkPhysicalDeviceCooperativeMatrixFeaturesNV cm = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV,
                                                      .cooperativeMatrix = VK_TRUE};
    VkPhysicalDeviceSubgroupSizeControlFeatures sgc = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_FEATURES,
        .subgroupSizeControl = f->size_control,
        .computeFullSubgroups = f->full_subgroups};
    VkPhysicalDeviceVulkan13Features f13 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_3_FEATURES,
                                           .subgroupSizeControl = f->size_control,
                                           .computeFullSubgroups = f->full_subgroups};
    VkPhysicalDeviceVulkan12Features f12 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES,
                                           .shaderFloat16 = f->fp16};
    VkPhysicalDeviceVulkan11Features f11 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES,
                                           .storageBuffer16BitAccess = f->storage16};
    VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
    void *chain = NULL;
    if (f->coopmat_nv) {
        CHAIN(chain, cm);
        exts[n_exts++] = VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME;
    }
    if (f->size_control || f->full_subgroups) {
        if (v13) {
            CHAIN(chain, f13);
        } else {
            CHAIN(chain, sgc);
            exts[n_exts++] = VK_EXT_SUBGROUP_SIZE_CONTROL_EXTENSION_NAME;
        }
    }
    CHAIN(chain, f12);
    CHAIN(chain, f11);
    f2.pNext = chain;
    float prio = 1.0f;
    VkDeviceQueueCreateInfo qci = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                   .queueFamilyIndex = vb->queue_family,
                                   .queueCount = 1,
                                   .pQueuePriorities = &prio};
    VkDeviceCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
                             .pNext = &f2,
                             .queueCreateInfoCount = 1,
                             .pQueueCreateInfos = &qci,
                             .enabledExtensionCount = n_exts,
                             .ppEnabledExtensionNames = exts};
    VK_TRY(vkCreateDevice(vb->phys, &ci, NULL, &vb->device), "creating the logical device on %s", d->name);
    vkGetDeviceQueue(vb->device, vb->queue_family, 0, &vb->queue);
    return VKA_OK;
}

/* ------------------------------------------------------------ shapes */

static uint32_t env_u32(const char *name, uint32_t dflt) {
    const char *v = getenv(name);
    if (!v || !*v) return dflt;
    char *end;
    unsigned long x = strtoul(v, &end, 0);
    return *end ? dflt : (uint32_t)x;
}

static uint32_t clamp_u32(uint32_t v, uint32_t lo, uint32_t hi) { return v < lo ? lo : v > hi ? hi : v; }

/* A workgroup size: a power of two from max(8, lanes) to 256. */
static uint32_t pow2_wg(uint32_t v, uint32_t lanes) {
    uint32_t lo = lanes > 8 ? lanes : 8, w = lo;
    while (w < v && w < 256) w *= 2;
    return w;
}

void vk_choose_tuning(vk_backend *vb) {
    vk_tuning *t = &vb->tune;
    memset(t, 0, sizeof *t);
    const char *profile = getenv("VKAGENT_VK_PROFILE");
    bool cpu = vb->desc.type == VK_PHYSICAL_DEVICE_TYPE_CPU;
    if (profile && strcmp(profile, "cpu") == 0) cpu = true;
    if (profile && strcmp(profile, "gpu") == 0) cpu = false;
    t->cpu_shapes = cpu;
    t->elt_wg = 256;
    t->argmax_wg = 128;
    if (cpu) {
        /* llvmpipe runs a workgroup on one thread, invocations 8-wide in SIMD:
         * whole rows per invocation, no shared memory, and large register tiles
         * (measured on lavapipe: every gather they save pays for the spills) */
        t->lanes = 1;
        t->mv_wg = 16;
        t->mv_tr = 16;
        t->tiled = false;
        t->mm_wg = 32;
        t->mm_tr = 16;
        t->mm_tn = 8; /* 16 x 16 is ~20% faster still, but llvmpipe then JIT-compiles each type for ~8 s */
        t->texel = true;
        t->norm_wg = 64;
        t->norm_rt = 1;
        /* attention: 16 queries x heads per workgroup (two SIMD rows), and
         * decode per head over all chunks rather than split by chunk: the
         * split dispatch covers the whole context, and llvmpipe pays for its
         * idle invocations (measured, 32 heads of 64: 1.0 ms vs 4-6 ms a
         * layer at 1024 keys) */
        t->attn_wg = 16;
        t->attn_split = false;
    } else {
        uint32_t sg = vb->desc.max_subgroup_size ? vb->desc.max_subgroup_size : 32;
        t->lanes = 4;
        t->mv_wg = sg > 64 ? sg : 64;
        t->mv_tr = 1;
        t->tiled = true;
        t->rm = t->rn = 4;
        t->norm_wg = 64;
        t->norm_rt = 64;
        t->attn_wg = 64;
        t->attn_split = true;
        t->coopmat = vb->desc.enabled.coopmat_nv && vb->desc.min_subgroup_size == 32 && vb->desc.max_subgroup_size == 32;
    }
    /* measurement knobs, kept to shapes the kernels accept */
    uint32_t lanes = env_u32("VKAGENT_VK_LANES", t->lanes);
    if (lanes && lanes <= 32 && !(lanes & (lanes - 1))) t->lanes = lanes;
    t->mv_tr = clamp_u32(env_u32("VKAGENT_VK_MV_TR", t->mv_tr), 1, 32);
    t->mm_tr = clamp_u32(env_u32("VKAGENT_VK_MM_TR", t->mm_tr), 1, 32);
    t->mm_tn = clamp_u32(env_u32("VKAGENT_VK_MM_TN", t->mm_tn), 1, 32);
    t->mv_wg = pow2_wg(env_u32("VKAGENT_VK_MV_WG", t->mv_wg), t->lanes);
    t->mm_wg = pow2_wg(env_u32("VKAGENT_VK_MM_WG", t->mm_wg), t->lanes);
    /* lane sums by shuffles need lanes within one full subgroup */
    uint32_t max_sg = vb->desc.max_subgroup_size ? vb->desc.max_subgroup_size : 1;
    t->sg_reduce = !cpu && t->lanes > 1 && vb->desc.enabled.subgroup_shuffle && vb->desc.enabled.full_subgroups &&
                   vb->desc.min_subgroup_size >= t->lanes && t->mv_wg % max_sg == 0;
    /* shared-memory tiles: weights and inputs of one K step (lanes blocks of 32) must fit */
    t->tm = t->tn = 32;
    while (t->tm > 4 && (VkDeviceSize)(t->tm + t->tn) * t->lanes * 32 * 4 > vb->desc.max_shared_memory)
        t->tm = t->tn = t->tm / 2;
    if (t->rm > t->tm) t->rm = t->rn = t->tm;
    t->texel = env_u32("VKAGENT_VK_TEXEL", t->texel) != 0;
    /* llvmpipe: integer products on 8-bit activations beat f32 arithmetic on
     * dequantized weights (docs/vulkan.md); the kernel reads through texel views */
    t->q8_act = cpu && t->texel && env_u32("VKAGENT_VK_Q8_ACT", 1) != 0;
    t->attn_wg = pow2_wg(env_u32("VKAGENT_VK_ATTN_WG", t->attn_wg), 1);
    /* 0: every expert product row by row, as decode does (tests and measurements) */
    t->moe_grouped = env_u32("VKAGENT_VK_MOE_GROUPED", 1) != 0;
    /* a lower limit splits small batches the way 65535 splits huge ones (tests) */
    t->max_groups = clamp_u32(env_u32("VKAGENT_VK_MAX_GROUPS", 65535), 1, 65535);
}
