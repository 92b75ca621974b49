/* cmd_devices.c — `vkagent devices`: where models can run (vka_device_list:
 * the CPU backends and every Vulkan device with what vkagent needs to know
 * about it), and with -m, the device memory a model actually takes on the
 * chosen backend (vka_model_get_stats). Public API only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "common.h"

static const char *const devices_help =
    "usage: vkagent devices [-m MODEL [--device DEV] [-c N]]\n"
    "\n"
    "Lists the CPU backends (cpu: SIMD kernels; cpu-ref: the plain-C reference\n"
    "the tests compare against) and every Vulkan device (N of --device vulkan:N)\n"
    "with its type, driver, Vulkan version, memory heaps, subgroup size, limits,\n"
    "and the optional features found (marked 'off' where a VKAGENT_VK_* variable\n"
    "switches them off; see docs/vulkan.md). The device `--device auto` would take\n"
    "is marked with '*'.\n"
    "\n"
    "  -m, --model PATH   also load PATH on the device (default auto), run one\n"
    "                     prompt token and one generated token, and print the\n"
    "                     device memory the backend holds\n"
    "      --device DEV   auto, cpu, cpu-ref, vulkan, vulkan:N (default: $VKAGENT_DEVICE or auto)\n"
    "  -c, --ctx-size N   context of the session for -m (default 512)\n";

#define MiB (1024.0 * 1024.0)

static void print_vulkan_device(const vka_device_info *d) {
    printf("%s %s  %s  [%s]\n", d->is_auto ? "*" : " ", d->device, d->name, d->type_name);
    printf("    %-24s %s\n", "driver", d->driver);
    printf("    %-24s %s\n", "Vulkan", d->vulkan_version);
    printf("    %-24s %04x:%04x\n", "vendor:device", d->vendor_id, d->device_id);
    if (!d->usable) {
        printf("    %-24s %s\n", "not usable", d->unusable_reason);
        return;
    }
    for (uint32_t h = 0; h < d->n_heaps; h++)
        printf("    %-24s %.0f MiB%s\n", h ? "" : "memory heaps", (double)d->heaps[h].bytes / MiB,
               d->heaps[h].device_local ? " (device-local)" : "");
    if (d->min_subgroup_size != d->max_subgroup_size)
        printf("    %-24s %u (%u..%u)\n", "subgroup size", d->subgroup_size, d->min_subgroup_size, d->max_subgroup_size);
    else
        printf("    %-24s %u\n", "subgroup size", d->subgroup_size);
    printf("    %-24s %.0f MiB\n", "maxStorageBufferRange", (double)d->max_storage_buffer_range / MiB);
    printf("    %-24s %.0f MiB\n", "maxMemoryAllocationSize", (double)d->max_allocation_bytes / MiB);
    printf("    %-24s %u KiB\n", "max shared memory", d->max_shared_memory / 1024);
    printf("    %-24s %s\n", "optional features", d->features[0] ? d->features : "none");
}

static void print_cpu_device(const vka_device_info *d) {
    printf("%s %-9s %s\n", d->is_auto ? "*" : " ", d->device, d->name);
}

/* Every device; EXIT_OK, or EXIT_RUNTIME when they cannot be listed. */
static int list_devices(void) {
    size_t n = 0;
    vka_status st = vka_device_list(NULL, 0, &n);
    if (st != VKA_OK && st != VKA_ERR_BUFFER_TOO_SMALL) return cli_runtime_error("devices", "listing devices");
    vka_device_info *devs = calloc(n, sizeof *devs);
    if (!devs) return cli_runtime_error("devices", "out of memory");
    if (vka_device_list(devs, n, &n) != VKA_OK) {
        free(devs);
        return cli_runtime_error("devices", "listing devices");
    }
    bool vulkan = false;
    for (size_t i = 0; i < n; i++) {
        bool cpu = devs[i].type == VKA_DEVICE_CPU;
        if (cpu) print_cpu_device(&devs[i]);
        else print_vulkan_device(&devs[i]);
        vulkan |= !cpu;
    }
    if (!vulkan) printf("no Vulkan devices; vkagent runs on the CPU backend\n");
    free(devs);
    return EXIT_OK;
}

static void print_model_memory(const vka_model *m, const vka_session *s, double load_s, long n_ctx) {
    vka_model_info info;
    vka_model_stats st;
    vka_model_get_info(m, &info);
    vka_model_get_stats(m, &st);
    printf("\nmodel on %s (loaded in %.2f s, session of %ld tokens, %s KV cache):\n", info.device, load_s, n_ctx,
           vka_session_kv_type(s) == VKA_KV_F16 ? "f16" : "f32");
    printf("    %-24s %.2f MiB allocated from the device\n", "device memory", (double)st.device_bytes / MiB);
    printf("    %-24s %.2f MiB (%.2f MiB in the file)\n", "weights", (double)st.weight_bytes / MiB,
           (double)info.weight_bytes / MiB);
    printf("    %-24s %.2f MiB\n", "KV cache", (double)st.kv_bytes / MiB);
    printf("    %-24s %.2f MiB\n", "activations", (double)st.activation_bytes / MiB);
    printf("    %-24s %.2f MiB\n", "inputs/outputs", (double)st.io_bytes / MiB);
    printf("    %-24s %.2f MiB\n", "internal", (double)st.internal_bytes / MiB);
    printf("    %-24s %u in %.2f s (recording graphs: %.2f s)\n", "pipelines created", st.pipelines,
           st.pipeline_seconds, st.record_seconds);
    if (st.computes)
        printf("    %-24s %.3f ms per step outside device work (%llu steps)\n", "host time",
               st.host_seconds * 1e3 / (double)st.computes, (unsigned long long)st.computes);
}

/* Loads the model, runs a token of prompt and one of generation, prints what the backend holds. */
static int model_memory(const char *model_arg, const char *device, long n_ctx) {
    char *path = cli_find_model(model_arg, "devices");
    if (!path) return EXIT_RUNTIME;
    double t0 = cli_now();
    vka_model *m = cli_load_model(path, device, false, "devices");
    free(path);
    if (!m) return EXIT_RUNTIME;
    double load_s = cli_now() - t0;
    vka_session_params sp;
    vka_session_params_default(&sp);
    sp.n_ctx = (uint32_t)n_ctx;
    vka_session *s = NULL;
    int code = EXIT_OK;
    int32_t tok = 1;
    if (vka_session_create(m, &sp, &s) != VKA_OK) {
        code = cli_runtime_error("devices", "creating a session");
    } else if (vka_session_feed(s, &tok, 1) != VKA_OK || vka_session_argmax(s, &tok) != VKA_OK ||
               vka_session_feed(s, &tok, 1) != VKA_OK || vka_session_argmax(s, &tok) != VKA_OK) {
        code = cli_runtime_error("devices", "evaluating two tokens");
    }
    if (code == EXIT_OK) print_model_memory(m, s, load_s, n_ctx);
    vka_session_free(s);
    vka_model_free(m);
    return code;
}

int cmd_devices(int argc, char **argv) {
    cli_args a;
    cli_args_init(&a, "devices", argc, argv);
    const char *model = NULL, *device = NULL, *arg;
    long n_ctx = 512;
    while ((arg = cli_args_next(&a))) {
        if (cli_is(arg, "-h", "--help")) {
            fputs(devices_help, stdout);
            return EXIT_OK;
        } else if (cli_is(arg, "-m", "--model")) model = cli_value(&a, arg);
        else if (cli_is(arg, "--device", NULL)) device = cli_device(&a, arg);
        else if (cli_is(arg, "-c", "--ctx-size")) cli_int(&a, arg, 1, 1 << 24, &n_ctx);
        else return cli_usage_error("devices", "unknown argument '%s'", arg);
    }
    if (a.failed) return EXIT_USAGE;
    if (device && !model) return cli_usage_error("devices", "--device goes with -m MODEL");
    int code = list_devices();
    if (code != EXIT_OK) return code;
    return model ? model_memory(model, device, n_ctx) : EXIT_OK;
}
