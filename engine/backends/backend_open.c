/* backend_open.c — the choice of backend from a device string. Kept apart
 * from backend.c, whose helpers the backends use, so that the backends'
 * folders depend on the interface and only this file depends on them. */
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "backends/vulkan/vulkan_backend.h"
#include "base/status.h"

/* "vulkan:N" -> N; -1 when the suffix is not a number. */
static int device_number(const char *s) {
    if (!*s) return -1;
    long n = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || n > 100000) return -1;
        n = n * 10 + (*s - '0');
    }
    return (int)n;
}

vka_status vka_backend_open(const char *device, vka_backend **out) { return vka_backend_open_threads(device, 0, out); }

vka_status vka_backend_open_threads(const char *device, unsigned n_threads, vka_backend **out) {
    *out = NULL;
    if (!device || !*device) device = getenv("VKAGENT_DEVICE");
    if (!device || !*device) device = "auto";
    if (strcmp(device, "cpu") == 0) return vka_cpu_fast_backend_create_threads(n_threads, out);
    if (strcmp(device, "cpu-ref") == 0) return vka_cpu_backend_create_threads(n_threads, out);
    if (strcmp(device, "auto") == 0) {
        /* a GPU (discrete, integrated, virtual), else the CPU backend; the backend's name says which */
        int gpu = vka_vk_auto_gpu();
        if (gpu >= 0 && vka_vulkan_backend_create(gpu, out) == VKA_OK) return VKA_OK;
        return vka_cpu_fast_backend_create_threads(n_threads, out);
    }
    if (strcmp(device, "vulkan") == 0) return vka_vulkan_backend_create(-1, out);
    if (strncmp(device, "vulkan:", 7) == 0) {
        int n = device_number(device + 7);
        if (n < 0) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "device '%s': expected vulkan:N with N a device number "
                                   "(`vkagent devices` lists them)", device);
        return vka_vulkan_backend_create(n, out);
    }
    return vka_fail(VKA_ERR_INVALID_ARGUMENT, "unknown device '%s' (expected auto, cpu, cpu-ref, vulkan or vulkan:N)", device);
}
