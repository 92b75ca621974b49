/* test_arch.c — every tiny model of ../shared/fixtures/arch (llama, qwen2,
 * qwen3 in F32, F16, BF16, Q8_0, Q4_0, Q4_K_M, Q5_K_M, Q6_K) and the gemma2,
 * gemma3, phi3 and qwen3moe models of fixtures/arch2 (F32, F16, Q8_0,
 * Q4_K_M) and its Q2_K, Q3_K_M, IQ4_NL, IQ4_XS llama/qwen3 files on each
 * test device: logits within the per-file tolerances of llama.cpp's goldens
 * and close to the float64 reference; greedy steps where the margins make
 * them decidable. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden.h"
#include "test_util.h"
#include "vkagent.h"
#include "backends/vulkan/vulkan_backend.h"
#include "model/model.h"

static const char *const archs[] = {"llama", "qwen2", "qwen3"};
static const char *const types[] = {"f32", "f16", "bf16", "q8_0", "q4_0", "q4_k_m", "q5_k_m", "q6_k"};

typedef struct arch_case {
    char name[32];
} arch_case;

ParameterizedTestParameters(arch, logits_and_greedy) {
    static arch_case cases[24];
    int n = 0;
    for (int a = 0; a < 3; a++)
        for (int t = 0; t < 8; t++) snprintf(cases[n++].name, sizeof cases[0].name, "%s-%s", archs[a], types[t]);
    return cr_make_param_array(arch_case, cases, (size_t)n);
}

/* Float64 reference of the stored weights: an engine keeping f32 activations
 * lands within ~1e-5 on CPU (cpu-ref; cpu for float weights); GPU reductions
 * in another order get 1e-3. The fast `cpu` multiplies quantized weights
 * with activations quantized to 8 bits per block of 32, as llama.cpp does, so
 * it is held to the tolerance the fixtures grant llama.cpp's logits (tol_max),
 * and so is Vulkan where it does the same (Q4_0/Q8_0/Q2_K/Q3_K/Q4_K/IQ4_NL/IQ4_XS on
 * CPU-type devices: vka_vk_quantizes_activations). */
static double reference_tolerance(const char *device, const cJSON *g, double tol_max, bool q8_acts) {
    const char *type = cJSON_GetStringValue(cJSON_GetObjectItem(g, "type"));
    bool float_weights = type && (strcmp(type, "F32") == 0 || strcmp(type, "F16") == 0 || strcmp(type, "BF16") == 0);
    if (strcmp(device, "cpu-ref") == 0) return 1e-4;
    if (strcmp(device, "cpu") == 0) return float_weights ? 1e-4 : tol_max;
    return q8_acts ? tol_max : 2e-3;
}

static void check_logits(const char *device, const cJSON *g, const float *logits, size_t n_rows, bool q8_acts) {
    const cJSON *tol = cJSON_GetObjectItem(g, "tolerance");
    double tol_max = cJSON_GetObjectItem(tol, "max_abs")->valuedouble;
    double tol_rms = cJSON_GetObjectItem(tol, "rms")->valuedouble;
    const cJSON *rows = cJSON_GetObjectItem(g, "logits");
    const cJSON *ref_rows = cJSON_GetObjectItem(cJSON_GetObjectItem(g, "reference_f64"), "logits");
    double worst = 0, sq = 0, worst_ref = 0;
    for (size_t i = 0; i < n_rows; i++) {
        float *want, *ref;
        size_t nv = golden_floats(cJSON_GetArrayItem(rows, (int)i), &want);
        golden_floats(cJSON_GetArrayItem(ref_rows, (int)i), &ref);
        logit_diff d = golden_compare(logits + i * nv, want, nv), r = golden_compare(logits + i * nv, ref, nv);
        worst = fmax(worst, d.max_abs);
        worst_ref = fmax(worst_ref, r.max_abs);
        sq += d.rms * d.rms;
        free(want);
        free(ref);
    }
    double rms = sqrt(sq / (double)n_rows);
    cr_expect_leq(worst, tol_max, "[%s] max abs %g vs llama.cpp > tolerance %g", device, worst, tol_max);
    cr_expect_leq(rms, tol_rms, "[%s] rms %g vs llama.cpp > tolerance %g", device, rms, tol_rms);
    double tol_ref = reference_tolerance(device, g, tol_max, q8_acts);
    cr_expect_leq(worst_ref, tol_ref, "[%s] max abs %g vs float64 reference > %g", device, worst_ref, tol_ref);
}

/* Teacher-forced greedy: at every step whose recorded margin is at least the
 * type's margin tolerance, the argmax must be llama.cpp's token. */
static void check_greedy(const char *device, vka_model *m, const cJSON *g) {
    const cJSON *greedy = cJSON_GetObjectItem(g, "greedy");
    double tol_margin = cJSON_GetObjectItem(cJSON_GetObjectItem(g, "tolerance"), "margin")->valuedouble;
    int32_t *prompt, *want;
    float *margins;
    size_t np = golden_ints(cJSON_GetObjectItem(greedy, "prompt_tokens"), &prompt);
    size_t n = golden_ints(cJSON_GetObjectItem(greedy, "tokens"), &want);
    golden_floats(cJSON_GetObjectItem(greedy, "margins"), &margins);
    vka_session *s = NULL;
    cr_assert_eq(vka_session_create(m, NULL, &s), VKA_OK, "%s", vka_last_error());
    cr_assert_eq(vka_session_feed(s, prompt, np), VKA_OK, "%s", vka_last_error());
    int checked = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t got;
        cr_assert_eq(vka_session_argmax(s, &got), VKA_OK, "%s", vka_last_error());
        if (margins[i] >= tol_margin) {
            cr_expect_eq(got, want[i], "[%s] greedy step %zu: %d, llama.cpp %d (margin %g)", device, i, got, want[i],
                         (double)margins[i]);
            checked++;
        }
        cr_assert_eq(vka_session_feed(s, &want[i], 1), VKA_OK); /* teacher forcing */
    }
    int n_checkable = cJSON_GetObjectItem(greedy, "n_checkable")->valueint;
    cr_expect_eq(checked, n_checkable, "[%s] checked %d steps, golden says %d are checkable", device, checked,
                 n_checkable);
    vka_session_free(s);
    free(prompt);
    free(want);
    free(margins);
}

/* One fixture (fixtures/DIR/NAME.gguf and its golden) on every test device. */
static void check_fixture(const char *dir, const char *name) {
    char rel[96];
    snprintf(rel, sizeof rel, "fixtures/%s/%s.gguf", dir, name);
    const char *path = test_data_path(rel);
    REQUIRE_FIXTURE(path);
    snprintf(rel, sizeof rel, "fixtures/%s/%s.golden.json", dir, name);
    cJSON *g = golden_load(test_data_path(rel));
    cr_assert_not_null(g, "golden %s missing or invalid", rel);
    const char *const *devices;
    int n_devices = test_devices(&devices);
    for (int d = 0; d < n_devices; d++) {
        vka_model_params mp;
        vka_model_params_default(&mp);
        mp.device = devices[d];
        vka_model *m = NULL;
        cr_assert_eq(vka_model_load(path, &mp, &m), VKA_OK, "[%s] %s", devices[d], vka_last_error());
        int32_t *ids;
        size_t n = golden_ints(cJSON_GetObjectItem(g, "tokens"), &ids);
        vka_session *s = NULL;
        cr_assert_eq(vka_session_create(m, NULL, &s), VKA_OK, "%s", vka_last_error());
        float *logits = malloc(n * 512 * sizeof *logits);
        cr_assert_eq(vka_session_feed_all_logits(s, ids, n, logits), VKA_OK, "%s", vka_last_error());
        bool q8_acts = false; /* some of its products quantize the activations (false off Vulkan) */
        for (uint64_t i = 0; i < m->gguf->n_tensors; i++)
            q8_acts |= vka_vk_quantizes_activations(m->backend, m->gguf->tensors[i].type);
        check_logits(devices[d], g, logits, n, q8_acts);
        check_greedy(devices[d], m, g);
        free(logits);
        free(ids);
        vka_session_free(s);
        vka_model_free(m);
    }
    cJSON_Delete(g);
}

ParameterizedTest(arch_case *c, arch, logits_and_greedy, .timeout = 300) { check_fixture("arch", c->name); }

/* arch2: gemma2 (soft-caps, sliding window, post-norms, GELU FFN), gemma3
 * (q/k norms, sliding pattern, local RoPE base, linear scaling) and phi3
 * (fused matrices, RoPE factors and attention factor). Engines with an f32
 * GELU land on the float64 reference; llama.cpp's fp16 GELU table is inside
 * the gemma rows' tolerances. */
ParameterizedTestParameters(arch, arch2) {
    static const char *const archs2[] = {"gemma2", "gemma3", "phi3"};
    static const char *const types2[] = {"f32", "f16", "q8_0", "q4_k_m"};
    static arch_case cases[12];
    int n = 0;
    for (int a = 0; a < 3; a++)
        for (int t = 0; t < 4; t++) snprintf(cases[n++].name, sizeof cases[0].name, "%s-%s", archs2[a], types2[t]);
    return cr_make_param_array(arch_case, cases, (size_t)n);
}

ParameterizedTest(arch_case *c, arch, arch2, .timeout = 300) { check_fixture("arch2", c->name); }

/* arch2's qwen3moe (top-2 of 8 experts, renormalised weights; router F32 in
 * every file): the expert ops (router, expert products, weighted sum). */
ParameterizedTestParameters(arch, moe) {
    static arch_case cases[] = {{"qwen3moe-f32"}, {"qwen3moe-f16"}, {"qwen3moe-q8_0"}, {"qwen3moe-q4_k_m"}};
    return cr_make_param_array(arch_case, cases, sizeof cases / sizeof cases[0]);
}

ParameterizedTest(arch_case *c, arch, moe, .timeout = 300) { check_fixture("arch2", c->name); }

/* arch2's low-bit files of the arch/ llama and qwen3 models: Q2_K (with
 * Q3_K for attn_v, attn_output, ffn_down), Q3_K_M (Q3_K, Q4_K, Q5_K),
 * IQ4_NL and IQ4_XS (each with a Q6_K output). */
ParameterizedTestParameters(arch, low_bit) {
    static const char *const archs3[] = {"llama", "qwen3"};
    static const char *const types3[] = {"q2_k", "q3_k_m", "iq4_nl", "iq4_xs"};
    static arch_case cases[8];
    int n = 0;
    for (int a = 0; a < 2; a++)
        for (int t = 0; t < 4; t++) snprintf(cases[n++].name, sizeof cases[0].name, "%s-%s", archs3[a], types3[t]);
    return cr_make_param_array(arch_case, cases, (size_t)n);
}

ParameterizedTest(arch_case *c, arch, low_bit, .timeout = 300) { check_fixture("arch2", c->name); }
