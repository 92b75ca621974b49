/* cmd_devices.c — `vkagent devices`: every Vulkan device with what vkagent
 * needs to know about it, and with -m, the device memory a model actually
 * takes on the chosen backend. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vulkan/vulkan.h>

#include "backends/backend.h"
#include "commands.h"
#include "common.h"
#include "model/model.h"
#include "model/session.h"
#include "backends/vulkan/vulkan_backend.h"

static const char *const devices_help =
    "usage: vkagent devices [-m MODEL [--device DEV] [-c N]]\n"
    "\n"
    "Lists every Vulkan device (N of --device vulkan:N) with its type, driver,\n"
    "Vulkan version, memory heaps, subgroup size, limits, and the optional features\n"
    "found (marked 'off' where a VKAGENT_VK_* variable switches them off; see\n"
    "docs/vulkan.md). The device `--device auto` would take is marked with '*'.\n"
    "\n"
    "  -m, --model PATH   also load PATH on the device (default auto), run one\n"
    "                     prompt token and one generated token, and print the\n"
    "                     device memory the backend holds\n"
    "      --device DEV   auto, cpu, vulkan, vulkan:N (default: $VKAGENT_DEVICE or auto)\n"
    "  -c, --ctx-size N   context of the session for -m (default 512)\n";

#define MiB (1024.0 * 1024.0)

static void print_version(const char *label, uint32_t v) {
    printf("    %-24s %u.%u.%u\n", label, VK_API_VERSION_MAJOR(v), VK_API_VERSION_MINOR(v), VK_API_VERSION_PATCH(v));
}

/* Prints a found feature; returns whether it was found. */
static int print_feature(const char *name, bool found, bool enabled, const char *note) {
    if (found) printf(" %s%s%s", name, enabled ? "" : " (off)", note ? note : "");
    return found;
}

static void print_device(const vka_vk_device_desc *d, bool best) {
    printf("%s vulkan:%u  %s  [%s]\n", best ? "*" : " ", d->index, d->name, d->type_name);
    printf("    %-24s %s %s (version 0x%08x)\n", "driver", d->driver_name, d->driver_info, d->driver_version);
    print_version("Vulkan", d->api_version);
    printf("    %-24s %04x:%04x\n", "vendor:device", d->vendor_id, d->device_id);
    if (!d->usable) {
        printf("    %-24s %s\n", "not usable", d->unusable_reason);
        return;
    }
    for (uint32_t h = 0; h < d->n_heaps; h++)
        printf("    %-24s %.0f MiB%s\n", h ? "" : "memory heaps", (double)d->heaps[h].size / MiB,
               d->heaps[h].device_local ? " (device-local)" : "");
    if (d->min_subgroup_size != d->max_subgroup_size)
        printf("    %-24s %u (%u..%u)\n", "subgroup size", d->subgroup_size, d->min_subgroup_size, d->max_subgroup_size);
    else
        printf("    %-24s %u\n", "subgroup size", d->subgroup_size);
    printf("    %-24s %.0f MiB\n", "maxStorageBufferRange", (double)d->max_storage_buffer_range / MiB);
    printf("    %-24s %.0f MiB\n", "maxMemoryAllocationSize", (double)d->max_memory_allocation_size / MiB);
    printf("    %-24s %u KiB\n", "max shared memory", d->max_shared_memory / 1024);
    const vka_vk_features *f = &d->found, *e = &d->enabled;
    printf("    %-24s", "optional features");
    int shown = 0;
    shown += print_feature("fp16", f->fp16, e->fp16, NULL);
    shown += print_feature("16bit-storage", f->storage16, e->storage16, NULL);
    shown += print_feature("8bit-storage", f->storage8, e->storage8, NULL);
    shown += print_feature("subgroup-arithmetic", f->subgroup_arith, e->subgroup_arith, NULL);
    shown += print_feature("subgroup-shuffle", f->subgroup_shuffle, e->subgroup_shuffle, NULL);
    shown += print_feature("subgroup-ballot", f->subgroup_ballot, e->subgroup_ballot, NULL);
    shown += print_feature("subgroup-size-control", f->size_control, e->size_control, NULL);
    shown += print_feature("full-subgroups", f->full_subgroups, e->full_subgroups, NULL);
    shown += print_feature("integer-dot-product", f->int_dot, e->int_dot, NULL);
    shown += print_feature("NV-cooperative-matrix", f->coopmat_nv, e->coopmat_nv, NULL);
    shown += print_feature("KHR-cooperative-matrix", f->coopmat_khr, e->coopmat_khr, " (no shader in this build)");
    if (!shown) printf(" none");
    printf("\n");
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
    if (code == EXIT_OK) {
        vka_backend_stats st;
        vka_backend_get_stats(m->backend, &st);
        printf("\nmodel on %s (loaded in %.2f s, session of %ld tokens, %s KV cache):\n", m->backend->name, load_s,
               n_ctx, s->kv_f16 ? "f16" : "f32");
        printf("    %-24s %.2f MiB allocated from the device\n", "device memory", (double)st.device_bytes / MiB);
        printf("    %-24s %.2f MiB (%.2f MiB in the file)\n", "weights", (double)st.weight_bytes / MiB,
               (double)m->weight_bytes / MiB);
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
    vka_vk_device_desc *devs = NULL;
    uint32_t n = 0;
    vka_status st = vka_vk_list_devices(&devs, &n);
    if (st == VKA_ERR_NOT_FOUND || (st == VKA_OK && n == 0)) {
        printf("no Vulkan devices (%s); vkagent runs on the CPU backend\n", st == VKA_OK ? "none listed" : vka_last_error());
    } else if (st != VKA_OK) {
        return cli_runtime_error("devices", "listing Vulkan devices");
    } else {
        int best = vka_vk_best_device(devs, n);
        for (uint32_t i = 0; i < n; i++) print_device(&devs[i], (int)i == best);
    }
    free(devs);
    return model ? model_memory(model, device, n_ctx) : EXIT_OK;
}
