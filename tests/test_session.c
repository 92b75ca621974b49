/* test_session.c — sessions on stories260K: logits against the llama2.c and
 * llama.cpp goldens, batching invariance, independent sessions on one model,
 * fork, rewind, context limits. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "golden.h"
#include "model/synth.h"
#include "test_util.h"
#include "vkagent.h"

static vka_model *load(const char *rel, const char *device) {
    const char *path = test_data_path(rel);
    REQUIRE_FIXTURE(path);
    vka_model_params mp;
    vka_model_params_default(&mp);
    mp.device = device;
    vka_model *m = NULL;
    vka_status st = vka_model_load(path, &mp, &m);
    cr_assert_eq(st, VKA_OK, "loading %s: %s", path, vka_last_error());
    return m;
}

static vka_session *session(vka_model *m, uint32_t n_ctx, uint32_t n_batch) {
    vka_session_params sp;
    vka_session_params_default(&sp);
    sp.n_ctx = n_ctx;
    sp.n_batch = n_batch;
    vka_session *s = NULL;
    cr_assert_eq(vka_session_create(m, &sp, &s), VKA_OK, "%s", vka_last_error());
    return s;
}

/* The 16 golden positions of stories260K.golden.json: logits within 1e-4. */
Test(session, stories_f32_logits_match_llama2c) {
    cJSON *g = golden_load(test_data_path("models/stories260K.golden.json"));
    if (!g) cr_skip_test("fixture missing: models/stories260K.golden.json");
    vka_model *m = load("models/stories260K.gguf", "cpu");
    cJSON *positions = cJSON_GetObjectItem(g, "positions");
    int n = cJSON_GetArraySize(positions);
    int32_t ids[16];
    for (int i = 0; i < n; i++)
        ids[i] = cJSON_GetObjectItem(cJSON_GetArrayItem(positions, i), "input_token")->valueint;
    vka_session *s = session(m, 0, 512);
    float *logits = malloc((size_t)n * 512 * sizeof *logits);
    cr_assert_eq(vka_session_feed_all_logits(s, ids, (size_t)n, logits), VKA_OK, "%s", vka_last_error());
    for (int i = 0; i < n; i++) {
        float *want;
        cJSON *pos = cJSON_GetArrayItem(positions, i);
        cr_assert_eq(golden_floats(cJSON_GetObjectItem(pos, "logits"), &want), 512);
        logit_diff d = golden_compare(logits + i * 512, want, 512);
        cr_expect_leq(d.max_abs, 1e-4, "position %d: max abs diff %g > 1e-4", i, d.max_abs); /* tolerance: issue 2 */
        free(want);
    }
    free(logits);
    vka_session_free(s);
    vka_model_free(m);
    cJSON_Delete(g);
}

/* llama.cpp-quantized copies: within the fixture README's per-type tolerances
 * of llama.cpp's logits, and close to the float64 reference of the stored
 * weights: cpu-ref keeps f32 activations (exact up to f32 rounding); the fast
 * cpu quantizes them to 8 bits per block of 32 as llama.cpp does, so it gets
 * llama.cpp's tolerance there too. */
static void check_quantized_on(const char *device, const char *model_rel, const char *golden_rel, double tol_max,
                               double tol_rms) {
    cJSON *g = golden_load(test_data_path(golden_rel));
    if (!g) cr_skip_test("fixture missing: %s", golden_rel);
    vka_model *m = load(model_rel, device);
    int32_t *ids;
    size_t n = golden_ints(cJSON_GetObjectItem(g, "tokens"), &ids);
    vka_session *s = session(m, 0, 512);
    float *logits = malloc(n * 512 * sizeof *logits);
    cr_assert_eq(vka_session_feed_all_logits(s, ids, n, logits), VKA_OK, "%s", vka_last_error());
    cJSON *rows = cJSON_GetObjectItem(g, "logits");
    cJSON *ref_rows = cJSON_GetObjectItem(cJSON_GetObjectItem(g, "reference_f64"), "logits");
    double worst = 0, sum_sq = 0, worst_ref = 0;
    for (size_t i = 0; i < n; i++) {
        float *want, *ref;
        golden_floats(cJSON_GetArrayItem(rows, (int)i), &want);
        golden_floats(cJSON_GetArrayItem(ref_rows, (int)i), &ref);
        logit_diff d = golden_compare(logits + i * 512, want, 512);
        logit_diff r = golden_compare(logits + i * 512, ref, 512);
        worst = fmax(worst, d.max_abs);
        worst_ref = fmax(worst_ref, r.max_abs);
        sum_sq += d.rms * d.rms;
        free(want);
        free(ref);
    }
    double rms = sqrt(sum_sq / (double)n);
    cr_expect_leq(worst, tol_max, "%s on %s: max abs %g vs llama.cpp > %g", model_rel, device, worst, tol_max);
    cr_expect_leq(rms, tol_rms, "%s on %s: rms %g vs llama.cpp > %g", model_rel, device, rms, tol_rms);
    double tol_ref = strcmp(device, "cpu-ref") == 0 ? 1e-3 : tol_max;
    cr_expect_leq(worst_ref, tol_ref, "%s on %s: max abs %g vs float64 reference > %g", model_rel, device, worst_ref,
                  tol_ref);
    free(logits);
    free(ids);
    vka_session_free(s);
    vka_model_free(m);
    cJSON_Delete(g);
}

static void check_quantized(const char *model_rel, const char *golden_rel, double tol_max, double tol_rms) {
    check_quantized_on("cpu-ref", model_rel, golden_rel, tol_max, tol_rms);
    check_quantized_on("cpu", model_rel, golden_rel, tol_max, tol_rms);
}

Test(session, stories_q8_0_within_tolerance) {
    check_quantized("models/stories260K-q8_0.gguf", "models/stories260K-q8_0.golden.json", 0.6, 0.12);
}

Test(session, stories_q4_0_within_tolerance) {
    check_quantized("models/stories260K-q4_0.gguf", "models/stories260K-q4_0.golden.json", 0.6, 0.15);
}

static const int32_t prompt[] = {1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426};
#define PROMPT_LEN (sizeof prompt / sizeof prompt[0])

/* The same tokens in one batch, in chunks of 3, and one by one: identical logits. */
Test(session, batching_does_not_change_logits) {
    vka_model *m = load("models/stories260K.gguf", "cpu");
    float *whole = malloc(PROMPT_LEN * 512 * sizeof(float)), *chunked = malloc(PROMPT_LEN * 512 * sizeof(float));
    vka_session *a = session(m, 64, 512), *b = session(m, 64, 3), *c = session(m, 64, 512);
    cr_assert_eq(vka_session_feed_all_logits(a, prompt, PROMPT_LEN, whole), VKA_OK);
    cr_assert_eq(vka_session_feed_all_logits(b, prompt, PROMPT_LEN, chunked), VKA_OK);
    cr_expect_eq(memcmp(whole, chunked, PROMPT_LEN * 512 * sizeof(float)), 0, "chunked prefill differs");
    for (size_t i = 0; i < PROMPT_LEN; i++) {
        cr_assert_eq(vka_session_feed(c, &prompt[i], 1), VKA_OK);
        const float *l = vka_session_logits(c);
        cr_assert_not_null(l);
        cr_expect_eq(memcmp(l, whole + i * 512, 512 * sizeof(float)), 0, "token-by-token differs at %zu", i);
    }
    vka_session_free(a);
    vka_session_free(b);
    vka_session_free(c);
    free(whole);
    free(chunked);
    vka_model_free(m);
}

/* Greedy ids of n steps after the prompt, through the low-level API. */
static void greedy_ids(vka_session *s, int32_t *out, int n) {
    for (int i = 0; i < n; i++) {
        cr_assert_eq(vka_session_argmax(s, &out[i]), VKA_OK, "%s", vka_last_error());
        cr_assert_eq(vka_session_feed(s, &out[i], 1), VKA_OK, "%s", vka_last_error());
    }
}

/* Two sessions on one model, stepped alternately, give what each gives alone. */
Test(session, interleaved_sessions_are_independent) {
    vka_model *m = load("models/stories260K.gguf", "cpu");
    const int32_t p1[] = {1, 403, 407, 261, 378}, p2[] = {1, 317, 269, 274, 287};
    int32_t alone1[40], alone2[40], mixed1[40], mixed2[40];
    vka_session *s = session(m, 128, 512);
    cr_assert_eq(vka_session_feed(s, p1, 5), VKA_OK);
    greedy_ids(s, alone1, 40);
    vka_session_reset(s);
    cr_assert_eq(vka_session_feed(s, p2, 5), VKA_OK);
    greedy_ids(s, alone2, 40);
    vka_session_free(s);

    vka_session *a = session(m, 128, 512), *b = session(m, 128, 512);
    cr_assert_eq(vka_session_feed(a, p1, 5), VKA_OK);
    cr_assert_eq(vka_session_feed(b, p2, 5), VKA_OK);
    for (int i = 0; i < 40; i++) {
        greedy_ids(a, &mixed1[i], 1);
        greedy_ids(b, &mixed2[i], 1);
    }
    cr_expect_arr_eq(alone1, mixed1, sizeof alone1);
    cr_expect_arr_eq(alone2, mixed2, sizeof alone2);
    cr_expect_neq(memcmp(alone1, alone2, sizeof alone1), 0, "different prompts should differ");
    vka_session_free(a);
    vka_session_free(b);
    vka_model_free(m);
}

/* A fork continues exactly like its parent; rewinding replays the same path. */
Test(session, fork_and_rewind) {
    vka_model *m = load("models/stories260K.gguf", "cpu");
    vka_session *a = session(m, 128, 512);
    cr_assert_eq(vka_session_feed(a, prompt, 5), VKA_OK);
    vka_session *f = NULL;
    cr_assert_eq(vka_session_fork(a, &f), VKA_OK, "%s", vka_last_error());
    cr_expect_eq(vka_session_n_past(f), 5);
    int32_t from_a[20], from_f[20], again[20];
    greedy_ids(a, from_a, 20);
    greedy_ids(f, from_f, 20);
    cr_expect_arr_eq(from_a, from_f, sizeof from_a);
    cr_assert_eq(vka_session_rewind(a, 5), VKA_OK);
    greedy_ids(a, again, 20);
    cr_expect_arr_eq(from_a, again, sizeof from_a);
    cr_expect_eq(vka_session_rewind(a, 1000), VKA_ERR_INVALID_ARGUMENT);
    vka_session_free(a);
    vka_session_free(f);
    vka_model_free(m);
}

Test(session, context_full_and_bad_ids_are_errors) {
    vka_model *m = load("models/stories260K.gguf", "cpu");
    vka_session *s = session(m, 8, 4);
    cr_expect_eq(vka_session_feed(s, prompt, 9), VKA_ERR_CONTEXT_FULL);
    cr_expect_eq(vka_session_n_past(s), 0, "a refused feed leaves the session as it was");
    int32_t bad[] = {1, 512};
    cr_expect_eq(vka_session_feed(s, bad, 2), VKA_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(vka_last_error(), "512") != NULL, "%s", vka_last_error());
    cr_assert_eq(vka_session_feed(s, prompt, 8), VKA_OK);
    cr_expect_eq(vka_session_feed(s, prompt, 1), VKA_ERR_CONTEXT_FULL);
    cr_expect_null(vka_session_logits(NULL));
    vka_session_free(s);
    vka_model_free(m);
}

/* Feeding nothing (an empty prompt continuing a session) is fine, including
 * the NULL ids an empty tokenization gives (UBSan checks the copy). */
Test(session, feeding_no_tokens_keeps_the_context) {
    vka_model *m = load("models/stories260K.gguf", "cpu");
    vka_session *s = session(m, 64, 512);
    int32_t ids[3] = {1, 403, 407};
    cr_assert_eq(vka_session_feed(s, ids, 3), VKA_OK, "%s", vka_last_error());
    cr_assert_eq(vka_session_feed(s, NULL, 0), VKA_OK, "%s", vka_last_error());
    cr_assert_eq(vka_session_n_past(s), 3);
    vka_generate_params gp;
    vka_generate_params_default(&gp);
    gp.max_tokens = 2;
    vka_generate_result r;
    cr_assert_eq(vka_generate(s, "", &gp, &r), VKA_OK, "%s", vka_last_error());
    cr_assert_eq(r.n_prompt_tokens, 0);
    cr_assert_eq(r.n_generated, 2);
    vka_generate_result_clear(&r);
    vka_session_free(s);
    vka_model_free(m);
}

static long max_rss_kib(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* A context whose KV cache cannot fit is refused before anything is
 * allocated, naming the sizes and what to lower. The model is shaped for a
 * big cache (8 layers of one 1024-wide head: 64 KiB a token in f32, so 1 TiB
 * at 2^24 tokens), more than any test machine has. */
Test(session, context_larger_than_memory_fails_fast) {
    vka_synth_params p = {.arch = "llama", .n_embd = 64, .n_layer = 8, .n_head = 1, .n_head_kv = 1, .n_ff = 64,
                          .n_ctx = 4096, .head_dim = 1024, .n_vocab = 300, .ftype = VKA_FTYPE_F32, .seed = 1};
    char *path = test_temp_file("bigkv");
    cr_assert_not_null(path);
    cr_assert_eq(vka_synth_model(&p, path), VKA_OK, "%s", vka_last_error());
    vka_model_params mp;
    vka_model_params_default(&mp);
    mp.device = "cpu";
    vka_model *m = NULL;
    cr_assert_eq(vka_model_load(path, &mp, &m), VKA_OK, "%s", vka_last_error());
    vka_session_params sp;
    vka_session_params_default(&sp);
    sp.n_ctx = 1u << 24;
    sp.kv_type = VKA_KV_F32;
    vka_session *s = NULL;
    long rss_before = max_rss_kib();
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    vka_status st = vka_session_create(m, &sp, &s);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    cr_expect_eq(st, VKA_ERR_OUT_OF_MEMORY, "got %s: %s", vka_status_name(st), vka_last_error());
    cr_expect_null(s);
    const char *msg = vka_last_error();
    cr_expect(strstr(msg, "a context of 16777216 tokens needs 1024.0 GiB of KV cache (f32)") != NULL, "%s", msg);
    cr_expect(strstr(msg, "is available in host memory (MemAvailable): lower the context size (n_ctx, -c)") != NULL,
              "%s", msg);
    double seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    cr_expect_lt(seconds, 1.0, "refusing took %.2f s", seconds);
    cr_expect_lt(max_rss_kib() - rss_before, 64 * 1024, "resident memory grew by %ld KiB", max_rss_kib() - rss_before);
    /* A context that fits still works on the same model. */
    sp.n_ctx = 64;
    cr_expect_eq(vka_session_create(m, &sp, &s), VKA_OK, "%s", vka_last_error());
    vka_session_free(s);
    vka_model_free(m);
    unlink(path);
    free(path);
}

/* Sessions keep their model alive: the model freed first, its sessions go on
 * working, and the last one frees it (ASan reports a use-after-free or a
 * leak otherwise). */
Test(session, sessions_keep_the_model_alive) {
    vka_model *m = load("models/stories260K.gguf", "cpu");
    vka_session *a = session(m, 32, 8), *b = session(m, 32, 8);
    vka_model_free(m);
    int32_t ids[2] = {1, 403};
    cr_assert_eq(vka_session_feed(a, ids, 2), VKA_OK, "%s", vka_last_error());
    vka_session_free(a);
    cr_assert_eq(vka_session_feed(b, ids, 2), VKA_OK, "%s", vka_last_error());
    vka_model_info info;
    cr_expect_eq(vka_model_get_info(vka_session_model(b), &info), VKA_OK);
    cr_expect_eq(info.n_vocab, 512);
    vka_session *c = NULL;
    cr_assert_eq(vka_session_fork(b, &c), VKA_OK, "%s", vka_last_error());
    vka_session_free(b);
    cr_expect_eq(vka_session_n_past(c), 2);
    vka_session_free(c);
}
