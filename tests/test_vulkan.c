/* test_vulkan.c — the Vulkan backend as a whole: device listing and choice,
 * stories260K on Vulkan against the llama2.c goldens (logits, greedy text),
 * prefill batching that cannot change a bit, the f16 KV cache, errors
 * (context full, bad ids, out of device memory), weights read back, the
 * staging path, the pipeline cache file, statistics, and sessions on
 * several threads. Runs under the validation layer (meson sets
 * VKAGENT_VK_VALIDATION=1); any validation message fails the test. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <vulkan/vulkan.h>

#include "backends/backend.h"
#include "golden.h"
#include "model/model.h"
#include "model/session.h"
#include "model/synth.h"
#include "test_util.h"
#include "vkagent.h"
#include "backends/vulkan/vulkan_backend.h"

static void require_vulkan(void) {
    vka_vk_device_desc *devs = NULL;
    uint32_t n = 0;
    vka_status st = vka_vk_list_devices(&devs, &n);
    int best = st == VKA_OK ? vka_vk_best_device(devs, n) : -1;
    free(devs);
    if (best < 0) cr_skip_test("no usable Vulkan device (%s)", st == VKA_OK ? "none listed" : vka_last_error());
}

static void no_validation_messages(void) {
    cr_assert_eq(vka_vk_validation_messages(), 0, "%llu validation messages (printed above)",
                 (unsigned long long)vka_vk_validation_messages());
}

static vka_model *load(const char *rel, const char *device) {
    const char *path = test_data_path(rel);
    REQUIRE_FIXTURE(path);
    vka_model_params mp;
    vka_model_params_default(&mp);
    mp.device = device;
    vka_model *m = NULL;
    cr_assert_eq(vka_model_load(path, &mp, &m), VKA_OK, "loading %s: %s", path, vka_last_error());
    return m;
}

static vka_session *session(vka_model *m, uint32_t n_ctx, uint32_t n_batch, vka_kv_type kv) {
    vka_session_params sp;
    vka_session_params_default(&sp);
    sp.n_ctx = n_ctx;
    sp.n_batch = n_batch;
    sp.kv_type = kv;
    vka_session *s = NULL;
    cr_assert_eq(vka_session_create(m, &sp, &s), VKA_OK, "%s", vka_last_error());
    return s;
}

/* ------------------------------------------------------------ devices */

Test(vulkan, devices_are_listed_with_their_limits) {
    require_vulkan();
    vka_vk_device_desc *devs;
    uint32_t n;
    cr_assert_eq(vka_vk_list_devices(&devs, &n), VKA_OK, "%s", vka_last_error());
    cr_assert_gt(n, 0);
    for (uint32_t i = 0; i < n; i++) {
        const vka_vk_device_desc *d = &devs[i];
        cr_expect_eq(d->index, i);
        cr_expect_gt(strlen(d->name), 0);
        cr_expect_not_null(d->type_name);
        if (!d->usable) continue;
        cr_expect_geq(d->api_version, VK_API_VERSION_1_2 & ~0xfffu, "device %u: Vulkan 1.2+", i);
        cr_expect_geq(d->max_storage_buffer_range, 1u << 27, "Vulkan guarantees 128 MiB bindings");
        cr_expect_gt(d->max_memory_allocation_size, 0);
        cr_expect_geq(d->max_shared_memory, 16384, "Vulkan guarantees 16 KiB of shared memory");
        cr_expect_gt(d->n_heaps, 0);
        cr_expect_gt(d->subgroup_size, 0);
    }
    free(devs);
}

Test(vulkan, device_strings_choose_the_backend) {
    require_vulkan();
    vka_backend *b = NULL;
    cr_assert_eq(vka_backend_open("vulkan", &b), VKA_OK, "%s", vka_last_error());
    cr_expect_eq(strncmp(b->name, "vulkan:", 7), 0, "name '%s'", b->name);
    vka_backend_close(b);
    cr_assert_eq(vka_backend_open("vulkan:0", &b), VKA_OK, "%s", vka_last_error());
    cr_expect_eq(strncmp(b->name, "vulkan:0 ", 9), 0, "name '%s'", b->name);
    vka_backend_close(b);
    /* auto: a GPU when there is one; with only CPU-type devices (lavapipe), the CPU backend */
    vka_vk_device_desc *devs;
    uint32_t n_devs;
    cr_assert_eq(vka_vk_list_devices(&devs, &n_devs), VKA_OK);
    bool gpu = false;
    for (uint32_t i = 0; i < n_devs; i++)
        gpu |= devs[i].usable && (devs[i].type == VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU ||
                                  devs[i].type == VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU ||
                                  devs[i].type == VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU);
    free(devs);
    cr_assert_eq(vka_backend_open("auto", &b), VKA_OK, "%s", vka_last_error());
    const char *want = gpu ? "vulkan:" : "cpu";
    cr_expect_eq(strncmp(b->name, want, strlen(want)), 0, "auto should take %s: '%s'", want, b->name);
    vka_backend_close(b);
    cr_assert_eq(vka_backend_open("cpu", &b), VKA_OK);
    cr_expect_eq(strncmp(b->name, "cpu", 3), 0);
    vka_backend_close(b);
    b = NULL;
    cr_expect_eq(vka_backend_open("vulkan:99", &b), VKA_ERR_NOT_FOUND);
    cr_expect_null(b);
    cr_expect_neq(strstr(vka_last_error(), "vulkan:99"), NULL, "message: %s", vka_last_error());
    cr_expect_eq(vka_backend_open("vulkan:x", &b), VKA_ERR_INVALID_ARGUMENT);
    cr_expect_eq(vka_backend_open("opencl", &b), VKA_ERR_INVALID_ARGUMENT);
    no_validation_messages();
}

/* The public list: the CPU backend first, then the Vulkan devices as the
 * backend lists them, each with the device string that opens it; exactly
 * one is the device "auto" takes, and opening "auto" gives it. */
Test(vulkan, public_device_list) {
    require_vulkan();
    vka_vk_device_desc *devs;
    uint32_t n_vk;
    cr_assert_eq(vka_vk_list_devices(&devs, &n_vk), VKA_OK);
    size_t n = 0;
    cr_expect_eq(vka_device_list(NULL, 0, &n), VKA_ERR_BUFFER_TOO_SMALL);
    cr_assert_geq(n, 1 + (size_t)n_vk);
    vka_device_info *list = calloc(n, sizeof *list);
    cr_assert_eq(vka_device_list(list, n, &n), VKA_OK, "%s", vka_last_error());
    size_t n_cpu = n - n_vk, n_auto = 0;
    cr_expect_str_eq(list[0].device, "cpu");
    cr_expect_eq(list[0].type, VKA_DEVICE_CPU);
    for (size_t i = 0; i < n; i++) n_auto += list[i].is_auto;
    cr_expect_eq(n_auto, 1);
    for (uint32_t i = 0; i < n_vk; i++) {
        const vka_device_info *d = &list[n_cpu + i];
        char want[32];
        snprintf(want, sizeof want, "vulkan:%u", i);
        cr_expect_str_eq(d->device, want);
        cr_expect_str_eq(d->name, devs[i].name);
        cr_expect_str_eq(d->type_name, devs[i].type_name);
        cr_expect_eq(d->type == VKA_DEVICE_VULKAN_CPU, devs[i].type == VK_PHYSICAL_DEVICE_TYPE_CPU);
        cr_expect_eq(d->usable, devs[i].usable);
        if (d->usable) cr_expect_gt(d->memory_bytes, 0, "%s has device-local memory", d->device);
        cr_expect_gt(strlen(d->vulkan_version), 4);
    }
    for (size_t i = 0; i < n; i++) {
        if (!list[i].is_auto) continue;
        vka_backend *b = NULL;
        cr_assert_eq(vka_backend_open("auto", &b), VKA_OK);
        cr_expect_eq(strncmp(b->name, list[i].device, strlen(list[i].device)), 0, "auto opened '%s', the list says %s",
                     b->name, list[i].device);
        vka_backend_close(b);
    }
    free(list);
    free(devs);
}

/* vka_model_warmup creates the pipelines: a generation after it creates
 * none, with either KV type; on the CPU backend it is a no-op. */
Test(vulkan, warmup_builds_every_pipeline) {
    require_vulkan();
    const char *path = test_data_path("models/stories260K.gguf");
    REQUIRE_FIXTURE(path);
    vka_model_params mp;
    vka_model_params_default(&mp);
    mp.device = "vulkan";
    vka_model *m = NULL;
    cr_assert_eq(vka_model_load(path, &mp, &m), VKA_OK, "%s", vka_last_error());
    cr_assert_eq(vka_model_warmup(m), VKA_OK, "%s", vka_last_error());
    vka_model_stats before, after;
    vka_model_get_stats(m, &before);
    cr_expect_gt(before.pipelines, 0);
    vka_kv_type kinds[] = {VKA_KV_AUTO, VKA_KV_F32};
    for (size_t k = 0; k < 2; k++) {
        vka_session_params sp;
        vka_session_params_default(&sp);
        sp.n_ctx = 64;
        sp.kv_type = kinds[k];
        vka_session *s = NULL;
        cr_assert_eq(vka_session_create(m, &sp, &s), VKA_OK, "%s", vka_last_error());
        vka_generate_params gp;
        vka_generate_params_default(&gp);
        gp.max_tokens = 4;
        vka_generate_result r;
        cr_assert_eq(vka_generate(s, "Once upon a time", &gp, &r), VKA_OK, "%s", vka_last_error());
        vka_generate_result_clear(&r);
        vka_session_free(s);
    }
    vka_model_get_stats(m, &after);
    cr_expect_eq(after.pipelines, before.pipelines, "generation created %u pipelines after the warm-up",
                 after.pipelines - before.pipelines);
    vka_model_free(m);
    mp.device = "cpu";
    cr_assert_eq(vka_model_load(path, &mp, &m), VKA_OK, "%s", vka_last_error());
    cr_expect_eq(vka_model_warmup(m), VKA_OK);
    vka_model_free(m);
    no_validation_messages();
}

/* The name says the device type; a CPU-type device is marked as such. */
Test(vulkan, backend_name_says_which_device) {
    require_vulkan();
    vka_vk_device_desc *devs;
    uint32_t n;
    cr_assert_eq(vka_vk_list_devices(&devs, &n), VKA_OK);
    int best = vka_vk_best_device(devs, n);
    vka_backend *b;
    cr_assert_eq(vka_vulkan_backend_create(-1, &b), VKA_OK, "%s", vka_last_error());
    char want[300];
    snprintf(want, sizeof want, "vulkan:%d %s [", best, devs[best].name);
    cr_expect_eq(strncmp(b->name, want, strlen(want)), 0, "'%s' should start with '%s'", b->name, want);
    if (devs[best].type == VK_PHYSICAL_DEVICE_TYPE_CPU) cr_expect_neq(strstr(b->name, "[cpu-type]"), NULL);
    vka_backend_close(b);
    free(devs);
    no_validation_messages();
}

Test(vulkan, env_switches_turn_features_off) {
    require_vulkan();
    setenv("VKAGENT_VK_DISABLE", "all", 1);
    vka_vk_device_desc *devs;
    uint32_t n;
    cr_assert_eq(vka_vk_list_devices(&devs, &n), VKA_OK);
    for (uint32_t i = 0; i < n; i++) {
        const vka_vk_features *f = &devs[i].enabled;
        cr_expect(!f->fp16 && !f->storage16 && !f->storage8 && !f->int_dot && !f->subgroup_arith &&
                  !f->subgroup_shuffle && !f->subgroup_ballot && !f->size_control && !f->full_subgroups &&
                  !f->coopmat_nv && !f->coopmat_khr, "device %u keeps a feature with VKAGENT_VK_DISABLE=all", i);
    }
    free(devs);
    vka_backend *b;
    cr_assert_eq(vka_vulkan_backend_create(-1, &b), VKA_OK, "%s", vka_last_error());
    cr_expect(!b->kv_f16_default, "without 16-bit storage the KV cache defaults to f32");
    vka_backend_close(b);
    unsetenv("VKAGENT_VK_DISABLE");
    setenv("VKAGENT_VK_NO_FP16", "1", 1);
    vka_vk_features f = {.fp16 = true, .storage16 = true};
    vka_vk_apply_env_switches(&f);
    cr_expect(!f.fp16 && f.storage16, "one switch turns off one feature");
    no_validation_messages();
}

/* ------------------------------------------------------------ stories260K */

/* The 16 golden positions of stories260K.golden.json on Vulkan. */
static void stories_logits(vka_kv_type kv, double tol, const char *why) {
    cJSON *g = golden_load(test_data_path("models/stories260K.golden.json"));
    if (!g) cr_skip_test("fixture missing: models/stories260K.golden.json");
    vka_model *m = load("models/stories260K.gguf", "vulkan");
    cJSON *positions = cJSON_GetObjectItem(g, "positions");
    int n = cJSON_GetArraySize(positions);
    int32_t ids[16];
    cr_assert_leq(n, 16);
    for (int i = 0; i < n; i++)
        ids[i] = cJSON_GetObjectItem(cJSON_GetArrayItem(positions, i), "input_token")->valueint;
    vka_session *s = session(m, 0, 512, kv);
    float *logits = malloc((size_t)n * 512 * sizeof *logits);
    cr_assert_eq(vka_session_feed_all_logits(s, ids, (size_t)n, logits), VKA_OK, "%s", vka_last_error());
    double worst = 0;
    for (int i = 0; i < n; i++) {
        float *want;
        cr_assert_eq(golden_floats(cJSON_GetObjectItem(cJSON_GetArrayItem(positions, i), "logits"), &want), 512);
        logit_diff d = golden_compare(logits + i * 512, want, 512);
        worst = fmax(worst, d.max_abs);
        cr_expect_leq(d.max_abs, tol, "position %d: max abs diff %g > %g (%s)", i, d.max_abs, tol, why);
        free(want);
    }
    cr_log_info("kv %s: worst max abs diff %g", kv == VKA_KV_F16 ? "f16" : "f32", worst);
    free(logits);
    vka_session_free(s);
    vka_model_free(m);
    cJSON_Delete(g);
    no_validation_messages();
}

Test(vulkan, stories_logits_f32_kv_within_1e_3) {
    require_vulkan();
    stories_logits(VKA_KV_F32, 1e-3, "the issue's bound for F32 weights and an f32 KV cache");
}

Test(vulkan, stories_logits_f16_kv_within_stated_tolerance) {
    require_vulkan();
    /* K and V rounded to f16 carry a relative error <= 2^-11 (4.9e-4) each; through 5 layers and
     * the output projection that is ~1e-3 of logits up to |15|, i.e. ~1.5e-2 at the worst
     * position. Measured on lavapipe: 1.3e-2. Bound: 3e-2. */
    stories_logits(VKA_KV_F16, 3e-2, "f16 KV cache: see the derivation above");
}

typedef struct greedy_ctx {
    vka_model *model;
    vka_kv_type kv;
} greedy_ctx;

static vka_session *greedy_session(void *ctx) {
    greedy_ctx *c = ctx;
    return session(c->model, 512, 512, c->kv);
}

static void greedy_goldens(vka_kv_type kv) {
    cJSON *g = golden_load(test_data_path("models/stories260K.golden.json"));
    if (!g) cr_skip_test("fixture missing: models/stories260K.golden.json");
    greedy_ctx c = {load("models/stories260K.gguf", "vulkan"), kv};
    golden_expect_greedy(g, greedy_session, &c, kv == VKA_KV_F16 ? "kv f16" : "kv f32");
    vka_model_free(c.model);
    cJSON_Delete(g);
    no_validation_messages();
}

Test(vulkan, greedy_matches_goldens_f32_kv, .timeout = 600) {
    require_vulkan();
    greedy_goldens(VKA_KV_F32);
}

/* The default on devices with 16-bit storage (what `vkagent run --device vulkan` uses). */
Test(vulkan, greedy_matches_goldens_f16_kv, .timeout = 600) {
    require_vulkan();
    greedy_goldens(VKA_KV_F16);
}

static const int32_t prompt[] = {1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426,
                                 1, 261, 376, 298, 315, 421, 395, 317, 426, 403, 407, 261, 378, 432, 383, 286,
                                 300, 301, 302, 303, 304};
#define PROMPT_LEN (sizeof prompt / sizeof prompt[0])

/* One batch, chunks of 3, chunks of 16, and token by token: the same bits. */
static void batching_invariant(vka_kv_type kv) {
    vka_model *m = load("models/stories260K.gguf", "vulkan");
    size_t bytes = PROMPT_LEN * 512 * sizeof(float);
    float *whole = malloc(bytes), *chunked = malloc(bytes), *chunked16 = malloc(bytes), *single = malloc(bytes);
    vka_session *a = session(m, 64, 512, kv), *b = session(m, 64, 3, kv), *c = session(m, 64, 16, kv),
                *d = session(m, 64, 512, kv);
    cr_assert_eq(vka_session_feed_all_logits(a, prompt, PROMPT_LEN, whole), VKA_OK, "%s", vka_last_error());
    cr_assert_eq(vka_session_feed_all_logits(b, prompt, PROMPT_LEN, chunked), VKA_OK, "%s", vka_last_error());
    cr_assert_eq(vka_session_feed_all_logits(c, prompt, PROMPT_LEN, chunked16), VKA_OK, "%s", vka_last_error());
    for (size_t i = 0; i < PROMPT_LEN; i++) {
        cr_assert_eq(vka_session_feed(d, &prompt[i], 1), VKA_OK, "%s", vka_last_error());
        const float *l = vka_session_logits(d);
        cr_assert_not_null(l, "%s", vka_last_error());
        memcpy(single + i * 512, l, 512 * sizeof(float));
    }
    const char *kvn = kv == VKA_KV_F16 ? "f16" : "f32";
    cr_expect_eq(memcmp(whole, chunked, bytes), 0, "kv %s: chunks of 3 differ from one batch", kvn);
    cr_expect_eq(memcmp(whole, chunked16, bytes), 0, "kv %s: chunks of 16 differ from one batch", kvn);
    for (size_t i = 0; i < PROMPT_LEN; i++)
        cr_expect_eq(memcmp(whole + i * 512, single + i * 512, 512 * sizeof(float)), 0,
                     "kv %s: token %zu fed alone differs from the batch", kvn, i);
    /* greedy argmax on the device agrees with the logits read back */
    int32_t best;
    cr_assert_eq(vka_session_argmax(d, &best), VKA_OK);
    const float *last = single + (PROMPT_LEN - 1) * 512;
    int32_t want = 0;
    for (int i = 1; i < 512; i++)
        if (last[i] > last[want]) want = i;
    cr_expect_eq(best, want);
    vka_session_free(a), vka_session_free(b), vka_session_free(c), vka_session_free(d);
    free(whole), free(chunked), free(chunked16), free(single);
    vka_model_free(m);
    no_validation_messages();
}

Test(vulkan, prefill_batching_is_bit_identical_f32_kv) {
    require_vulkan();
    batching_invariant(VKA_KV_F32);
}

Test(vulkan, prefill_batching_is_bit_identical_f16_kv) {
    require_vulkan();
    batching_invariant(VKA_KV_F16);
}

/* llama.cpp-quantized copies on Vulkan with f32 activations: within 1e-3 of
 * the CPU reference. (CPU-type devices otherwise quantize the activations of
 * Q4_0/Q8_0/K-quant/IQ4 products: stories_*_with_8_bit_activations below.) */
static void quantized_matches_cpu(const char *model_rel) {
    setenv("VKAGENT_VK_Q8_ACT", "0", 1);
    vka_model *mv = load(model_rel, "vulkan"), *mc = load(model_rel, "cpu-ref"); /* the oracle, f32 activations */
    vka_session *sv = session(mv, 64, 512, VKA_KV_F32), *sc = session(mc, 64, 512, VKA_KV_F32);
    size_t bytes = PROMPT_LEN * 512 * sizeof(float);
    float *lv = malloc(bytes), *lc = malloc(bytes);
    cr_assert_eq(vka_session_feed_all_logits(sv, prompt, PROMPT_LEN, lv), VKA_OK, "%s", vka_last_error());
    cr_assert_eq(vka_session_feed_all_logits(sc, prompt, PROMPT_LEN, lc), VKA_OK, "%s", vka_last_error());
    logit_diff d = golden_compare(lv, lc, PROMPT_LEN * 512);
    /* both are f32 computations of the same dequantized weights: f32 rounding differences only */
    cr_expect_leq(d.max_abs, 1e-3, "%s: max abs %g vs the CPU reference", model_rel, d.max_abs);
    free(lv), free(lc);
    vka_session_free(sv), vka_session_free(sc);
    vka_model_free(mv), vka_model_free(mc);
    no_validation_messages();
}

Test(vulkan, stories_q8_0_matches_cpu) {
    require_vulkan();
    quantized_matches_cpu("models/stories260K-q8_0.gguf");
}

Test(vulkan, stories_q4_0_matches_cpu) {
    require_vulkan();
    quantized_matches_cpu("models/stories260K-q4_0.gguf");
}

/* Where the device quantizes Q4_0/Q8_0/K-quant/IQ4 activations to 8 bits per block of 32
 * (the integer kernels of CPU-type devices), as llama.cpp and the fast cpu
 * backend do, the logits are held to the bounds test_session.c grants those
 * against llama.cpp's goldens (the fixture README's per-type tolerances);
 * the kernels themselves are checked op by op against derived bounds in
 * test_vulkan_ops.c. A token prefilled in a batch or alone gives the same bits. */
static void quantized_activations_within_goldens(const char *model_rel, const char *golden_rel, vka_type type,
                                                 double tol_max, double tol_rms) {
    cJSON *g = golden_load(test_data_path(golden_rel));
    if (!g) cr_skip_test("fixture missing: %s", golden_rel);
    vka_model *m = load(model_rel, "vulkan");
    if (!vka_vk_quantizes_activations(m->backend, type)) {
        vka_model_free(m);
        cJSON_Delete(g);
        cr_skip_test("this device keeps f32 activations for %s (not a CPU-type device)", vka_type_name(type));
    }
    int32_t *ids;
    size_t n = golden_ints(cJSON_GetObjectItem(g, "tokens"), &ids);
    float *whole = malloc(n * 512 * sizeof *whole), *single = malloc(n * 512 * sizeof *single);
    vka_session *s = session(m, 0, 512, VKA_KV_F32), *one = session(m, 0, 1, VKA_KV_F32);
    cr_assert_eq(vka_session_feed_all_logits(s, ids, n, whole), VKA_OK, "%s", vka_last_error());
    cr_assert_eq(vka_session_feed_all_logits(one, ids, n, single), VKA_OK, "%s", vka_last_error());
    cr_expect_eq(memcmp(whole, single, n * 512 * sizeof *whole), 0, "%s: batch of %zu and token by token differ",
                 model_rel, n);
    double worst = 0, sum_sq = 0;
    for (size_t i = 0; i < n; i++) {
        float *want;
        golden_floats(cJSON_GetArrayItem(cJSON_GetObjectItem(g, "logits"), (int)i), &want);
        logit_diff d = golden_compare(whole + i * 512, want, 512);
        worst = fmax(worst, d.max_abs);
        sum_sq += d.rms * d.rms;
        free(want);
    }
    double rms = sqrt(sum_sq / (double)n);
    cr_expect_leq(worst, tol_max, "%s: max abs %g vs llama.cpp > %g", model_rel, worst, tol_max);
    cr_expect_leq(rms, tol_rms, "%s: rms %g vs llama.cpp > %g", model_rel, rms, tol_rms);
    free(whole), free(single), free(ids);
    vka_session_free(s), vka_session_free(one);
    vka_model_free(m);
    cJSON_Delete(g);
    no_validation_messages();
}

Test(vulkan, stories_q8_0_with_8_bit_activations) {
    require_vulkan();
    quantized_activations_within_goldens("models/stories260K-q8_0.gguf", "models/stories260K-q8_0.golden.json",
                                         VKA_TYPE_Q8_0, 0.6, 0.12);
}

Test(vulkan, stories_q4_0_with_8_bit_activations) {
    require_vulkan();
    quantized_activations_within_goldens("models/stories260K-q4_0.gguf", "models/stories260K-q4_0.golden.json",
                                         VKA_TYPE_Q4_0, 0.6, 0.15);
}

/* Writes the model `sp` describes to a temporary file, loads it on Vulkan
 * and on the CPU reference, and compares all logits of `ids` (f32 KV on both
 * sides, so only f32 rounding differs: max abs <= 1e-3) and the next greedy
 * token. `check` (optional) looks at the CPU model first. */
static void synth_matches_cpu(const vka_synth_params *sp, const int32_t *ids, size_t n,
                              void (*check)(const vka_model *cpu, const vka_model *vk)) {
    setenv("VKAGENT_VK_Q8_ACT", "0", 1); /* f32 activations (Q8_0 substitutes would be quantized on CPU-type devices) */
    char *path = test_temp_file("synth");
    cr_assert_not_null(path);
    cr_assert_eq(vka_synth_model(sp, path), VKA_OK, "%s", vka_last_error());
    vka_model_params mp;
    vka_model_params_default(&mp);
    mp.device = "vulkan";
    vka_model *mv = NULL, *mc = NULL;
    cr_assert_eq(vka_model_load(path, &mp, &mv), VKA_OK, "%s", vka_last_error());
    mp.device = "cpu-ref"; /* the oracle: f32 activations as on Vulkan */
    cr_assert_eq(vka_model_load(path, &mp, &mc), VKA_OK, "%s", vka_last_error());
    if (check) check(mc, mv);
    size_t vocab = sp->n_vocab, bytes = n * vocab * sizeof(float);
    float *lv = malloc(bytes), *lc = malloc(bytes);
    vka_session *sv = session(mv, 16, 8, VKA_KV_F32), *sc = session(mc, 16, 8, VKA_KV_F32);
    cr_assert_eq(vka_session_feed_all_logits(sv, ids, n, lv), VKA_OK, "%s", vka_last_error());
    cr_assert_eq(vka_session_feed_all_logits(sc, ids, n, lc), VKA_OK, "%s", vka_last_error());
    logit_diff d = golden_compare(lv, lc, n * vocab);
    cr_expect_leq(d.max_abs, 1e-3, "max abs %g vs the CPU reference", d.max_abs);
    int32_t vk_next, cpu_next;
    cr_assert_eq(vka_session_argmax(sv, &vk_next), VKA_OK);
    cr_assert_eq(vka_session_argmax(sc, &cpu_next), VKA_OK);
    cr_expect_eq(vk_next, cpu_next);
    free(lv), free(lc);
    vka_session_free(sv), vka_session_free(sc);
    vka_model_free(mv), vka_model_free(mc);
    unlink(path);
    free(path);
    no_validation_messages();
}

/* What llama-quantize makes of a model whose rows are whole blocks of 32 but
 * not super-blocks of 256 (Qwen2.5-0.5B: 896; SmolLM: 576): Q4_K_M and
 * Q5_K_M files full of Q5_0, Q5_1 and Q8_0 substitutes. Quantized here the
 * same way, they load and run on Vulkan and agree with the CPU reference. */
static vka_type expected_substitute;

static void has_substitute(const vka_model *cpu, const vka_model *vk) {
    (void)vk;
    bool found = false;
    for (uint64_t i = 0; i < cpu->gguf->n_tensors; i++) found |= cpu->gguf->tensors[i].type == expected_substitute;
    cr_assert(found, "no %s tensor in the file", vka_type_name(expected_substitute));
}

static void k_mix_with_substitutes(vka_ftype ftype, vka_type substitute) {
    vka_synth_params sp = {0};
    cr_assert(vka_synth_preset("qwen2.5-0.5b", &sp));
    sp.n_embd = 96;
    sp.n_ff = 256;
    sp.n_layer = 2;
    sp.n_head = 6;
    sp.n_head_kv = 2;
    sp.n_vocab = 300;
    sp.vocab_from = NULL;
    sp.ftype = ftype;
    sp.seed = 9;
    expected_substitute = substitute;
    const int32_t ids[] = {1, 17, 299, 42, 100, 7, 250};
    synth_matches_cpu(&sp, ids, sizeof ids / sizeof ids[0], has_substitute);
}

Test(vulkan, q4_k_m_with_q5_0_substitutes) {
    require_vulkan();
    k_mix_with_substitutes(VKA_FTYPE_Q4_K_M, VKA_TYPE_Q5_0);
}

Test(vulkan, q5_k_m_with_q5_1_substitutes) {
    require_vulkan();
    k_mix_with_substitutes(VKA_FTYPE_Q5_K_M, VKA_TYPE_Q5_1);
}

/* A generated model with more than maxStorageBufferRange of weights (lavapipe:
 * 128 MiB), its token embedding alone 137 MiB, loads and runs on Vulkan with
 * the big tensors split across bindings, and agrees with the CPU reference. */
static void exceeds_a_binding(const vka_model *cpu, const vka_model *vk) {
    (void)cpu;
    cr_assert_gt(vk->weight_bytes, (uint64_t)128 << 20, "the model must exceed one binding");
}

Test(vulkan, model_larger_than_a_binding, .timeout = 600) {
    require_vulkan();
    vka_synth_params sp = {0};
    cr_assert(vka_synth_preset("stories260K", &sp));
    sp.n_embd = 256;
    sp.n_ff = 512;
    sp.n_layer = 2;
    sp.n_head = 4;
    sp.n_head_kv = 2;
    sp.n_vocab = 140000;       /* 256 x 140000 f32 = 137 MiB per vocabulary matrix */
    sp.ftype = VKA_FTYPE_F32;
    sp.seed = 5;
    const int32_t ids[] = {1, 300, 139999, 77, 1024};
    synth_matches_cpu(&sp, ids, sizeof ids / sizeof ids[0], exceeds_a_binding);
}

/* ------------------------------------------------------------ threads */

typedef struct thread_job {
    vka_model *model;
    char text[2048];
    vka_status status;
} thread_job;

static void *generate_on_thread(void *arg) {
    thread_job *job = arg;
    vka_session_params sp;
    vka_session_params_default(&sp);
    sp.n_ctx = 256;
    vka_session *s = NULL;
    job->status = vka_session_create(job->model, &sp, &s);
    if (job->status != VKA_OK) return NULL;
    vka_generate_params gp;
    vka_generate_params_default(&gp);
    gp.sampling.temperature = 0;
    gp.max_tokens = 100;
    vka_generate_result r;
    job->status = vka_generate(s, "Once upon a time", &gp, &r);
    if (job->status == VKA_OK) snprintf(job->text, sizeof job->text, "%s", r.text);
    vka_generate_result_clear(&r);
    vka_session_free(s);
    return NULL;
}

/* Sessions on one model from four threads share the device queue: each gets
 * the text a lone session gets. */
Test(vulkan, sessions_on_several_threads, .timeout = 600) {
    require_vulkan();
    vka_model *m = load("models/stories260K.gguf", "vulkan");
    thread_job alone = {.model = m};
    generate_on_thread(&alone);
    cr_assert_eq(alone.status, VKA_OK, "%s", vka_last_error());
    thread_job jobs[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (thread_job){.model = m};
        cr_assert_eq(pthread_create(&th[i], NULL, generate_on_thread, &jobs[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        cr_expect_eq(jobs[i].status, VKA_OK, "thread %d failed", i);
        cr_expect_str_eq(jobs[i].text, alone.text, "thread %d", i);
    }
    vka_model_free(m);
    no_validation_messages();
}

/* ------------------------------------------------------------ errors */

Test(vulkan, context_full_and_bad_ids_are_errors) {
    require_vulkan();
    vka_backend *b;
    cr_assert_eq(vka_vulkan_backend_create(-1, &b), VKA_OK, "%s", vka_last_error());
    vka_tensor cache, src, table, ids, rows;
    vka_tensor_init(&cache, "k", VKA_TYPE_F32, 8, 4, VKA_USAGE_KV);
    vka_tensor_init(&src, "src", VKA_TYPE_F32, 8, 2, VKA_USAGE_ACTIVATION);
    cr_assert_eq(b->ops->tensor_alloc(b, &cache, NULL), VKA_OK);
    cr_assert_eq(b->ops->tensor_alloc(b, &src, NULL), VKA_OK);
    vka_graph g;
    vka_graph_init(&g, 2);
    vka_node n = {.op = VKA_OP_KV_STORE, .dst = &cache, .src = {&src}};
    cr_assert_eq(vka_graph_add(&g, &n), VKA_OK);
    cr_expect_eq(vka_backend_compute(b, &g, 2), VKA_OK, "%s", vka_last_error()); /* rows 2, 3: fits */
    cr_expect_eq(vka_backend_compute(b, &g, 3), VKA_ERR_CONTEXT_FULL, "rows 3, 4 of 4 must not fit");
    vka_graph_free(&g);

    float data[4 * 8] = {0};
    vka_tensor_init(&table, "table", VKA_TYPE_F32, 8, 4, VKA_USAGE_WEIGHT);
    vka_tensor_init(&ids, "ids", VKA_TYPE_I32, 1, 1, VKA_USAGE_INPUT);
    vka_tensor_init(&rows, "rows", VKA_TYPE_F32, 8, 1, VKA_USAGE_ACTIVATION);
    cr_assert_eq(b->ops->tensor_alloc(b, &table, data), VKA_OK);
    cr_assert_eq(b->ops->tensor_alloc(b, &ids, NULL), VKA_OK);
    cr_assert_eq(b->ops->tensor_alloc(b, &rows, NULL), VKA_OK);
    int32_t bad = 4;
    cr_assert_eq(b->ops->tensor_set(b, &ids, &bad, 0, sizeof bad), VKA_OK);
    vka_graph_init(&g, 1);
    n = (vka_node){.op = VKA_OP_GET_ROWS, .dst = &rows, .src = {&table, &ids}};
    cr_assert_eq(vka_graph_add(&g, &n), VKA_OK);
    cr_expect_eq(vka_backend_compute(b, &g, 0), VKA_ERR_INVALID_ARGUMENT, "id 4 of a 4-row table");
    cr_expect_neq(strstr(vka_last_error(), "token id 4"), NULL, "message: %s", vka_last_error());
    vka_graph_free(&g);
    vka_tensor *all[] = {&cache, &src, &table, &ids, &rows};
    for (int i = 0; i < 5; i++) b->ops->tensor_free(b, all[i]);
    vka_backend_close(b);
    no_validation_messages();
}

Test(vulkan, out_of_device_memory_names_the_sizes, .timeout = 300) {
    require_vulkan();
    vka_vk_device_desc *devs;
    uint32_t n;
    cr_assert_eq(vka_vk_list_devices(&devs, &n), VKA_OK);
    const vka_vk_device_desc *d = &devs[vka_vk_best_device(devs, n)];
    uint64_t heap = 0;
    for (uint32_t i = 0; i < d->n_heaps; i++)
        if (d->heaps[i].device_local && d->heaps[i].size > heap) heap = d->heaps[i].size;
    free(devs);
    if (heap > (8ull << 30)) cr_skip_test("device heap of %llu bytes: too large to exhaust in a test",
                                          (unsigned long long)heap);
    vka_backend *b;
    cr_assert_eq(vka_vulkan_backend_create(-1, &b), VKA_OK, "%s", vka_last_error());
    /* a weight tensor larger than the whole heap, split into bindings that each fit */
    int64_t rows = (int64_t)(heap / (16384 * 4)) + 64;
    vka_tensor t;
    vka_tensor_init(&t, "huge", VKA_TYPE_F32, 16384, rows, VKA_USAGE_WEIGHT);
    cr_expect_eq(b->ops->tensor_alloc(b, &t, NULL), VKA_ERR_OUT_OF_DEVICE_MEMORY, "%s", vka_last_error());
    const char *msg = vka_last_error();
    cr_expect_neq(strstr(msg, "out of device memory"), NULL, "message: %s", msg);
    cr_expect_neq(strstr(msg, "MiB"), NULL, "the message names the sizes: %s", msg);
    cr_expect_neq(strstr(msg, "huge"), NULL, "and the tensor: %s", msg);
    /* the backend stays usable */
    vka_tensor small;
    vka_tensor_init(&small, "small", VKA_TYPE_F32, 16, 16, VKA_USAGE_ACTIVATION);
    cr_expect_eq(b->ops->tensor_alloc(b, &small, NULL), VKA_OK, "%s", vka_last_error());
    b->ops->tensor_free(b, &small);
    vka_backend_stats st;
    vka_backend_get_stats(b, &st);
    cr_expect_lt(st.device_bytes, heap / 2, "the failed tensor's memory was given back");
    vka_backend_close(b);
    no_validation_messages();
}

/* ------------------------------------------------------------ memory paths */

/* Weights come back byte for byte in GGUF layout (they are repacked on the
 * device); activations written and read through the staging path too. */
static void round_trips(void) {
    vka_backend *b;
    cr_assert_eq(vka_vulkan_backend_create(-1, &b), VKA_OK, "%s", vka_last_error());
    vka_type types[] = {VKA_TYPE_F32,  VKA_TYPE_F16,  VKA_TYPE_BF16, VKA_TYPE_Q8_0, VKA_TYPE_Q4_0, VKA_TYPE_Q4_1,
                        VKA_TYPE_Q5_0, VKA_TYPE_Q5_1, VKA_TYPE_Q4_K, VKA_TYPE_Q5_K, VKA_TYPE_Q6_K,
                        VKA_TYPE_Q2_K, VKA_TYPE_Q3_K, VKA_TYPE_IQ4_NL, VKA_TYPE_IQ4_XS};
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        vka_tensor w;
        uint32_t block = vka_type_get_traits(types[ti])->block_size;
        int64_t ne0 = block == 1 ? 45 : 3 * (int64_t)block;   /* floats: not whole blocks of 32 */
        vka_tensor_init(&w, "w", types[ti], ne0, 37, VKA_USAGE_WEIGHT);
        uint8_t *data = malloc(w.nbytes), *back = malloc(w.nbytes);
        for (size_t i = 0; i < w.nbytes; i++) data[i] = (uint8_t)(i * 37 + 11);
        cr_assert_eq(b->ops->tensor_alloc(b, &w, data), VKA_OK, "%s", vka_last_error());
        cr_assert_eq(b->ops->tensor_get(b, &w, back, 0, w.nbytes), VKA_OK, "%s", vka_last_error());
        cr_expect_eq(memcmp(data, back, w.nbytes), 0, "%s weights read back differ", vka_type_name(types[ti]));
        /* a range inside rows */
        cr_assert_eq(b->ops->tensor_get(b, &w, back, w.row_bytes + 3, 50), VKA_OK);
        cr_expect_eq(memcmp(data + w.row_bytes + 3, back, 50), 0);
        b->ops->tensor_free(b, &w);
        free(data), free(back);
    }
    vka_tensor a, c;
    vka_tensor_init(&a, "a", VKA_TYPE_F32, 100, 3, VKA_USAGE_KV);
    vka_tensor_init(&c, "c", VKA_TYPE_F32, 100, 3, VKA_USAGE_KV);
    cr_assert_eq(b->ops->tensor_alloc(b, &a, NULL), VKA_OK);
    cr_assert_eq(b->ops->tensor_alloc(b, &c, NULL), VKA_OK);
    float v[300], out[300];
    for (int i = 0; i < 300; i++) v[i] = (float)i * 0.5f;
    cr_assert_eq(b->ops->tensor_set(b, &a, v, 0, sizeof v), VKA_OK);
    cr_assert_eq(b->ops->tensor_copy(b, &c, &a, 200 * sizeof(float)), VKA_OK, "%s", vka_last_error());
    cr_assert_eq(b->ops->tensor_get(b, &c, out, 0, sizeof out), VKA_OK);
    cr_expect_eq(memcmp(out, v, 200 * sizeof(float)), 0, "copied part");
    cr_expect_eq(out[250], 0.0f, "the rest stays zero");
    cr_expect_eq(b->ops->tensor_get(b, &c, out, 1, sizeof out), VKA_ERR_INVALID_ARGUMENT, "range past the end");
    b->ops->tensor_free(b, &a);
    b->ops->tensor_free(b, &c);
    vka_backend_close(b);
    no_validation_messages();
}

Test(vulkan, weights_and_buffers_round_trip) {
    require_vulkan();
    round_trips();
}

Test(vulkan, weights_and_buffers_round_trip_through_staging) {
    require_vulkan();
    setenv("VKAGENT_VK_FORCE_STAGING", "1", 1);
    round_trips();
}

/* ------------------------------------------------------------ cache, stats */

Test(vulkan, pipeline_cache_file_and_stats) {
    require_vulkan();
    char *dir = test_temp_dir("cache");
    cr_assert_not_null(dir);
    setenv("XDG_CACHE_HOME", dir, 1);
    vka_model *m = load("models/stories260K.gguf", "vulkan");
    vka_session *s = session(m, 64, 512, VKA_KV_F32);
    cr_assert_eq(vka_session_feed(s, prompt, 8), VKA_OK, "%s", vka_last_error());
    int32_t tok;
    cr_assert_eq(vka_session_argmax(s, &tok), VKA_OK);
    for (int i = 0; i < 4; i++) cr_assert_eq(vka_session_feed(s, &tok, 1), VKA_OK);
    vka_backend_stats st;
    vka_backend_get_stats(m->backend, &st);
    cr_expect_geq(st.weight_bytes, m->weight_bytes, "weights held: %llu of %llu", (unsigned long long)st.weight_bytes,
                  (unsigned long long)m->weight_bytes);
    cr_expect_gt(st.kv_bytes, 0);
    cr_expect_geq(st.device_bytes, st.weight_bytes + st.kv_bytes + st.activation_bytes);
    cr_expect_geq(st.computes, 5, "a prefill and four decode steps");
    cr_expect_gt(st.pipelines, 0);
    cr_expect(st.host_seconds >= 0 && st.wait_seconds > 0);
    vka_session_free(s);
    vka_model_free(m);
    /* the cache is written when the backend closes: one file for this device and driver */
    char *sub = NULL;
    cr_assert_geq(asprintf(&sub, "%s/vkagent", dir), 0);
    DIR *d = opendir(sub);
    cr_assert_not_null(d, "no %s after closing the backend", sub);
    int files = 0;
    struct dirent *e;
    char *path = NULL;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "pipelines-", 10) != 0) continue;
        files++;
        free(path);
        cr_assert_geq(asprintf(&path, "%s/%s", sub, e->d_name), 0);
    }
    closedir(d);
    cr_expect_eq(files, 1);
    size_t len = 0;
    char *data = files ? test_read_file(path, &len) : NULL;
    cr_expect_geq(len, 32, "a pipeline cache starts with a 32-byte header");
    free(data);
    if (files) remove(path);
    rmdir(sub);
    rmdir(dir);
    free(path), free(sub), free(dir);
    no_validation_messages();
}
