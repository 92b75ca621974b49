/* backend_devices.c — vka_device_list: the CPU backend and every Vulkan
 * device, described for the public API (`vkagent devices` prints it). Like
 * backend_open.c, it knows both backends; the backends do not know it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "backends/vulkan/vulkan_backend.h"
#include "base/status.h"

/* The CPU backends that open in this build ("cpu", and the plain-C reference
 * "cpu-ref" where it is a device of its own), named as they name themselves
 * (threads, instruction set). */
static const char *const cpu_devices[] = {"cpu", "cpu-ref"};
#define N_CPU_DEVICES (sizeof cpu_devices / sizeof cpu_devices[0])

static bool describe_cpu(vka_device_info *d, const char *device, bool is_auto) {
    vka_backend *b = NULL;
    if (vka_backend_open(device, &b) != VKA_OK) return false;
    memset(d, 0, sizeof *d);
    snprintf(d->device, sizeof d->device, "%s", device);
    snprintf(d->name, sizeof d->name, "%s", b->name);
    vka_backend_close(b);
    d->type = VKA_DEVICE_CPU;
    d->type_name = "cpu";
    uint64_t avail;
    if (vka_host_memory_available(&avail)) d->memory_bytes = avail;
    d->is_auto = is_auto;
    d->usable = true;
    return true;
}

static vka_device_type type_of(const char *type_name) {
    if (strcmp(type_name, "discrete") == 0) return VKA_DEVICE_DISCRETE_GPU;
    if (strcmp(type_name, "integrated") == 0) return VKA_DEVICE_INTEGRATED_GPU;
    if (strcmp(type_name, "virtual") == 0) return VKA_DEVICE_VIRTUAL_GPU;
    if (strcmp(type_name, "cpu-type") == 0) return VKA_DEVICE_VULKAN_CPU;
    return VKA_DEVICE_OTHER;
}

/* Appends " name" (and " (off)") to the features text for a found feature. */
static void add_feature(char *text, size_t cap, const char *name, bool found, bool enabled) {
    if (!found) return;
    size_t len = strlen(text);
    snprintf(text + len, cap - len, "%s%s%s", len ? " " : "", name, enabled ? "" : " (off)");
}

static void describe_features(vka_device_info *d, const vka_vk_features *f, const vka_vk_features *e) {
    add_feature(d->features, sizeof d->features, "fp16", f->fp16, e->fp16);
    add_feature(d->features, sizeof d->features, "16bit-storage", f->storage16, e->storage16);
    add_feature(d->features, sizeof d->features, "8bit-storage", f->storage8, e->storage8);
    add_feature(d->features, sizeof d->features, "subgroup-arithmetic", f->subgroup_arith, e->subgroup_arith);
    add_feature(d->features, sizeof d->features, "subgroup-shuffle", f->subgroup_shuffle, e->subgroup_shuffle);
    add_feature(d->features, sizeof d->features, "subgroup-ballot", f->subgroup_ballot, e->subgroup_ballot);
    add_feature(d->features, sizeof d->features, "subgroup-size-control", f->size_control, e->size_control);
    add_feature(d->features, sizeof d->features, "full-subgroups", f->full_subgroups, e->full_subgroups);
    add_feature(d->features, sizeof d->features, "integer-dot-product", f->int_dot, e->int_dot);
    add_feature(d->features, sizeof d->features, "NV-cooperative-matrix", f->coopmat_nv, e->coopmat_nv);
    /* found but unused: no shader in this build takes it */
    add_feature(d->features, sizeof d->features, "KHR-cooperative-matrix", f->coopmat_khr, false);
}

static void describe_vulkan(vka_device_info *d, const vka_vk_device_desc *v, bool is_auto) {
    memset(d, 0, sizeof *d);
    snprintf(d->device, sizeof d->device, "vulkan:%u", v->index);
    snprintf(d->name, sizeof d->name, "%s", v->name);
    d->type_name = v->type_name;
    d->type = type_of(v->type_name);
    d->is_auto = is_auto;
    d->usable = v->usable;
    snprintf(d->unusable_reason, sizeof d->unusable_reason, "%s", v->usable ? "" : v->unusable_reason);
    snprintf(d->driver, sizeof d->driver, "%.240s %.240s (version 0x%08x)", v->driver_name, v->driver_info,
             v->driver_version);
    /* VK_API_VERSION_MAJOR/MINOR/PATCH, spelled out to keep vulkan.h private */
    snprintf(d->vulkan_version, sizeof d->vulkan_version, "%u.%u.%u", (v->api_version >> 22) & 0x7Fu,
             (v->api_version >> 12) & 0x3FFu, v->api_version & 0xFFFu);
    d->vendor_id = v->vendor_id;
    d->device_id = v->device_id;
    d->n_heaps = v->n_heaps < VKA_DEVICE_MAX_HEAPS ? v->n_heaps : VKA_DEVICE_MAX_HEAPS;
    for (uint32_t h = 0; h < d->n_heaps; h++) {
        d->heaps[h].bytes = v->heaps[h].size;
        d->heaps[h].device_local = v->heaps[h].device_local;
        if (v->heaps[h].device_local) d->memory_bytes += v->heaps[h].size;
    }
    d->subgroup_size = v->subgroup_size;
    d->min_subgroup_size = v->min_subgroup_size;
    d->max_subgroup_size = v->max_subgroup_size;
    d->max_storage_buffer_range = v->max_storage_buffer_range;
    d->max_allocation_bytes = v->max_memory_allocation_size;
    d->max_shared_memory = v->max_shared_memory;
    describe_features(d, &v->found, &v->enabled);
}

vka_status vka_device_list(vka_device_info *out, size_t capacity, size_t *n_devices) {
    if (!n_devices || (!out && capacity))
        return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_device_list: n_devices (and out, with a capacity) are required");
    vka_vk_device_desc *devs = NULL;
    uint32_t n_vk = 0;
    if (vka_vk_list_devices(&devs, &n_vk) != VKA_OK) n_vk = 0; /* no loader or driver: the CPU alone */
    int best = vka_vk_best_device(devs, n_vk);
    /* "auto": the best device when it is a GPU, else the CPU backend (backend_open.c) */
    bool gpu = best >= 0 && type_of(devs[best].type_name) <= VKA_DEVICE_VIRTUAL_GPU;
    vka_device_info scratch;
    size_t n = 0;
    for (size_t i = 0; i < N_CPU_DEVICES; i++)
        if (describe_cpu(n < capacity ? &out[n] : &scratch, cpu_devices[i], !gpu && i == 0)) n++;
    for (uint32_t i = 0; i < n_vk; i++, n++)
        if (n < capacity) describe_vulkan(&out[n], &devs[i], gpu && (int)i == best);
    free(devs);
    *n_devices = n;
    if (capacity < *n_devices)
        return vka_fail(VKA_ERR_BUFFER_TOO_SMALL, "%zu devices do not fit in %zu entries", *n_devices, capacity);
    return VKA_OK;
}
