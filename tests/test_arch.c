/* test_arch.c — every tiny model of ../shared/fixtures/arch (llama, qwen2,
 * qwen3 in F32, F16, BF16, Q8_0, Q4_0, Q4_K_M, Q5_K_M, Q6_K) and the gemma2,
 * gemma3, phi3 and qwen3moe models of fixtures/arch2 (F32, F16, Q8_0,
 * Q4_K_M) and its Q2_K, Q3_K_M, IQ4_NL, IQ4_XS llama/qwen3 files on each
 * test device: logits within the per-file tolerances of llama.cpp's goldens
 * and close to the float64 reference; greedy steps where the margins make
 * them decidable. Also the Mixtral-style fixtures of tests/data/fixtures
 * (llama with experts, and its legacy per-expert-tensor layout) and its
 * Phi-4-mini-shaped phi3 (partial rotary, LongRoPE attention factor). */
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
#include "format/gguf.h"
#include "format/gguf_write.h"
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
 * and so is Vulkan where it does the same (Q4_0/Q8_0/Q2_K..Q6_K/IQ4_NL/IQ4_XS on
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

/* The prompt's logits of a loaded model (n rows of 512: the fixtures' vocabulary). */
static float *prompt_logits(vka_model *m, const int32_t *ids, size_t n) {
    vka_session *s = NULL;
    cr_assert_eq(vka_session_create(m, NULL, &s), VKA_OK, "%s", vka_last_error());
    float *logits = malloc(n * 512 * sizeof *logits);
    cr_assert_eq(vka_session_feed_all_logits(s, ids, n, logits), VKA_OK, "%s", vka_last_error());
    vka_session_free(s);
    return logits;
}

/* A model file loaded on one test device. */
static vka_model *load_on(const char *path, const char *device) {
    vka_model_params mp;
    vka_model_params_default(&mp);
    mp.device = device;
    vka_model *m = NULL;
    cr_assert_eq(vka_model_load(path, &mp, &m), VKA_OK, "[%s] %s", device, vka_last_error());
    return m;
}

/* One model file checked against a golden on every test device. */
static void check_model(const char *path, const char *golden_path) {
    cJSON *g = golden_load(golden_path);
    cr_assert_not_null(g, "golden %s missing or invalid", golden_path);
    const char *const *devices;
    int n_devices = test_devices(&devices);
    for (int d = 0; d < n_devices; d++) {
        vka_model *m = load_on(path, devices[d]);
        int32_t *ids;
        size_t n = golden_ints(cJSON_GetObjectItem(g, "tokens"), &ids);
        float *logits = prompt_logits(m, ids, n);
        bool q8_acts = false; /* some of its products quantize the activations (false off Vulkan) */
        for (uint64_t i = 0; i < m->gguf->n_tensors; i++)
            q8_acts |= vka_vk_quantizes_activations(m->backend, m->gguf->tensors[i].type);
        check_logits(devices[d], g, logits, n, q8_acts);
        check_greedy(devices[d], m, g);
        free(logits);
        free(ids);
        vka_model_free(m);
    }
    cJSON_Delete(g);
}

/* One fixture (fixtures/DIR/NAME.gguf and its golden) on every test device. */
static void check_fixture(const char *dir, const char *name) {
    char rel[96];
    snprintf(rel, sizeof rel, "fixtures/%s/%s.gguf", dir, name);
    const char *path = test_data_path(rel);
    REQUIRE_FIXTURE(path);
    snprintf(rel, sizeof rel, "fixtures/%s/%s.golden.json", dir, name);
    check_model(path, test_data_path(rel));
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

/* tests/data/fixtures (made with tools/fixtures, README.md there): a
 * Mixtral-style llama with experts (top-2 of 4, weights renormalised; RoPE
 * base 250000, eps 3e-5, 2 heads on 1 KV head) with llama.cpp's goldens, in
 * F32 and Q8_0 (llama-quantize; the router stays F32). */
static const char *repo_fixture(char *buf, size_t cap, const char *file) {
    const char *src = getenv("VKAGENT_SOURCE_DIR");
    snprintf(buf, cap, "%s/tests/data/fixtures/%s", src ? src : ".", file);
    cr_assert(test_file_exists(buf), "missing %s (set VKAGENT_SOURCE_DIR)", buf);
    return buf;
}

ParameterizedTestParameters(arch, mixtral) {
    static arch_case cases[] = {{"mixtral-f32"}, {"mixtral-q8_0"}};
    return cr_make_param_array(arch_case, cases, sizeof cases / sizeof cases[0]);
}

ParameterizedTest(arch_case *c, arch, mixtral, .timeout = 300) {
    char path[512], golden[512], file[64];
    snprintf(file, sizeof file, "%s.gguf", c->name);
    repo_fixture(path, sizeof path, file);
    snprintf(file, sizeof file, "%s.golden.json", c->name);
    check_model(path, repo_fixture(golden, sizeof golden, file));
}

/* tests/data/fixtures' Phi-4-mini-shaped phi3 model: RoPE turns 12 of each
 * head's 16 dimensions, with the long factors (the session's context 256 >
 * original_context_length 32) and the attention factor the converter writes
 * (sqrt(1 + ln 8 / ln 32)); llama.cpp's goldens, a float64 reference. */
Test(arch, phi4mini, .timeout = 120) {
    char path[512], golden[512];
    repo_fixture(path, sizeof path, "phi4mini-f32.gguf");
    check_model(path, repo_fixture(golden, sizeof golden, "phi4mini-f32.golden.json"));
}

/* A writer holding g's metadata (its alignment key left to the writer). */
static vka_gguf_writer *copy_metadata(const vka_gguf *g) {
    vka_gguf_writer *w = NULL;
    cr_assert_eq(vka_gguf_writer_create(&w), VKA_OK);
    for (uint64_t i = 0; i < g->n_kv; i++)
        if (strcmp(g->kv[i].key.data, "general.alignment") != 0)
            cr_assert_eq(vka_gguf_writer_add_value(w, g->kv[i].key.data, &g->kv[i].value), VKA_OK);
    return w;
}

/* The legacy file rewritten with each matrix's experts back to back in expert
 * order (its own writer interleaves gate, down, up per expert, as old
 * converters did): the loader then reads the stacked matrix in place. A
 * tensor named `drop` is left out. */
static void *regroup_experts(const char *path, const char *drop, size_t *size) {
    vka_gguf *g = NULL;
    cr_assert_eq(vka_gguf_open(path, &g), VKA_OK, "%s", vka_last_error());
    vka_gguf_writer *w = copy_metadata(g);
    uint32_t n_expert = 0, n_layer = 0;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const vka_gguf_tensor *t = &g->tensors[i];
        unsigned il, e;
        char kind[8];
        int end = 0;
        if (sscanf(t->name.data, "blk.%u.ffn_%7[a-z].%u.weight%n", &il, kind, &e, &end) == 3 && !t->name.data[end]) {
            n_expert = e + 1 > n_expert ? e + 1 : n_expert;
            n_layer = il + 1 > n_layer ? il + 1 : n_layer;
            continue; /* added below, regrouped */
        }
        cr_assert_eq(vka_gguf_writer_add_tensor(w, t->name.data, t->type, t->n_dims, t->ne, t->data, t->nbytes), VKA_OK);
    }
    cr_assert_gt(n_expert, 1, "no per-expert tensors in %s", path);
    static const char *const kinds[] = {"gate", "down", "up"};
    for (uint32_t il = 0; il < n_layer; il++)
        for (int k = 0; k < 3; k++)
            for (uint32_t e = 0; e < n_expert; e++) {
                char name[64];
                snprintf(name, sizeof name, "blk.%u.ffn_%s.%u.weight", il, kinds[k], e);
                const vka_gguf_tensor *t = vka_gguf_find_tensor(g, name);
                cr_assert_not_null(t, "%s", name);
                if (drop && strcmp(name, drop) == 0) continue;
                cr_assert_eq(vka_gguf_writer_add_tensor(w, name, t->type, t->n_dims, t->ne, t->data, t->nbytes), VKA_OK);
            }
    void *out = NULL;
    cr_assert_eq(vka_gguf_writer_write_memory(w, &out, size), VKA_OK, "%s", vka_last_error());
    vka_gguf_writer_free(w);
    vka_gguf_free(g);
    return out;
}

/* The prompt's logits of model m equal `want` bit for bit. */
static void expect_same_logits(const float *want, vka_model *m, const int32_t *ids, size_t n, const char *device,
                               const char *what) {
    float *got = prompt_logits(m, ids, n);
    cr_expect_arr_eq(got, want, n * 512 * sizeof *got, "[%s] %s: logits differ from mixtral-f32.gguf's", device, what);
    free(got);
}

/* Legacy Mixtral files (one 2-D tensor per expert, blk.N.ffn_gate.E.weight;
 * the llama.cpp of the goldens no longer loads them): mixtral-legacy-f32.gguf
 * holds mixtral-f32's weights in that layout, so it must give the very same
 * logits as the 3-D file (checked against llama.cpp above) on each device,
 * with the experts copied into a stack (interleaved in the file) and, on the
 * CPU backends, which read weights from the file, read in place (back to
 * back; Vulkan copies every weight to the device either way). */
Test(arch, mixtral_legacy, .timeout = 300) {
    char path3d[512], legacy[512];
    repo_fixture(path3d, sizeof path3d, "mixtral-f32.gguf");
    repo_fixture(legacy, sizeof legacy, "mixtral-legacy-f32.gguf");
    size_t grouped_size;
    void *grouped = regroup_experts(legacy, NULL, &grouped_size);
    static const int32_t ids[] = {1, 403, 407, 261, 378, 13, 291, 280, 294, 499, 3, 256};
    size_t n = sizeof ids / sizeof ids[0];
    const char *const *devices;
    int n_devices = test_devices(&devices);
    for (int d = 0; d < n_devices; d++) {
        vka_model *m3 = load_on(path3d, devices[d]), *ml = load_on(legacy, devices[d]);
        float *want = prompt_logits(m3, ids, n);
        expect_same_logits(want, ml, ids, n, devices[d], "legacy, experts copied into a stack");
        if (strncmp(devices[d], "cpu", 3) == 0) {
            vka_model_params mp;
            vka_model_params_default(&mp);
            mp.device = devices[d];
            vka_model *mg = NULL;
            cr_assert_eq(vka_model_load_memory(grouped, grouped_size, "grouped", &mp, &mg), VKA_OK, "[%s] %s",
                         devices[d], vka_last_error());
            for (uint32_t il = 0; il < mg->hp.n_layer; il++)
                for (int k = 0; k < 3; k++)
                    cr_expect_null(mg->layers[il].stacked_exps[k], "[%s] layer %u: experts back to back were copied",
                                   devices[d], il);
            expect_same_logits(want, mg, ids, n, devices[d], "legacy, experts read in place");
            vka_model_free(mg);
        }
        free(want);
        vka_model_free(m3);
        vka_model_free(ml);
    }
    free(grouped);
}

/* A legacy file without one of its experts' tensors is refused with its name. */
Test(arch, mixtral_legacy_missing_expert) {
    char legacy[512];
    repo_fixture(legacy, sizeof legacy, "mixtral-legacy-f32.gguf");
    size_t size;
    void *data = regroup_experts(legacy, "blk.1.ffn_up.3.weight", &size);
    vka_model_params mp;
    vka_model_params_default(&mp);
    mp.device = "cpu";
    vka_model *m = NULL;
    cr_expect_eq(vka_model_load_memory(data, size, "partial", &mp, &m), VKA_ERR_FORMAT);
    cr_expect_null(m);
    cr_expect(strstr(vka_last_error(), "blk.1.ffn_up.3.weight") != NULL, "message: %s", vka_last_error());
    free(data);
}

/* mixtral-f32 with "llama.expert_weights_norm" = false added: llama.cpp never
 * reads that key for llama (nor qwen3moe) and always renormalises the chosen
 * experts' weights, so the logits must stay the file's own. */
Test(arch, mixtral_ignores_weights_norm) {
    char path[512];
    repo_fixture(path, sizeof path, "mixtral-f32.gguf");
    vka_gguf *g = NULL;
    cr_assert_eq(vka_gguf_open(path, &g), VKA_OK, "%s", vka_last_error());
    vka_gguf_writer *w = copy_metadata(g);
    cr_assert_eq(vka_gguf_writer_add_bool(w, "llama.expert_weights_norm", false), VKA_OK);
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const vka_gguf_tensor *t = &g->tensors[i];
        cr_assert_eq(vka_gguf_writer_add_tensor(w, t->name.data, t->type, t->n_dims, t->ne, t->data, t->nbytes), VKA_OK);
    }
    void *data = NULL;
    size_t size;
    cr_assert_eq(vka_gguf_writer_write_memory(w, &data, &size), VKA_OK, "%s", vka_last_error());
    vka_gguf_writer_free(w);
    vka_gguf_free(g);
    static const int32_t ids[] = {1, 403, 407, 261, 378, 13, 291, 280, 294, 499, 3, 256};
    size_t n = sizeof ids / sizeof ids[0];
    vka_model *m = load_on(path, "cpu-ref"), *mk = NULL;
    vka_model_params mp;
    vka_model_params_default(&mp);
    mp.device = "cpu-ref";
    cr_assert_eq(vka_model_load_memory(data, size, "with expert_weights_norm", &mp, &mk), VKA_OK, "%s",
                 vka_last_error());
    float *want = prompt_logits(m, ids, n);
    expect_same_logits(want, mk, ids, n, "cpu-ref", "expert_weights_norm false");
    free(want);
    vka_model_free(m);
    vka_model_free(mk);
    free(data);
}
