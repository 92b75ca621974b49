/* test_session_file.c — vka_session_save / vka_session_load: a loaded session
 * continues exactly as the saved one does (greedy, on every test device and
 * across devices), and files from another model, truncated, corrupt, of a
 * newer version or not session files at all are refused with nothing created. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"
#include "vkagent.h"

static vka_model *load_model(const char *rel, const char *device) {
    const char *path = test_data_path(rel);
    REQUIRE_FIXTURE(path);
    vka_model_params mp;
    vka_model_params_default(&mp);
    mp.device = device;
    vka_model *m = NULL;
    cr_assert_eq(vka_model_load(path, &mp, &m), VKA_OK, "loading %s: %s", path, vka_last_error());
    return m;
}

static vka_session *new_session(vka_model *m, uint32_t n_ctx, vka_kv_type kv) {
    vka_session_params sp;
    vka_session_params_default(&sp);
    sp.n_ctx = n_ctx;
    sp.kv_type = kv;
    vka_session *s = NULL;
    cr_assert_eq(vka_session_create(m, &sp, &s), VKA_OK, "%s", vka_last_error());
    return s;
}

static vka_generate_params greedy(int32_t max_tokens) {
    vka_generate_params gp;
    vka_generate_params_default(&gp);
    gp.sampling.temperature = 0;
    gp.max_tokens = max_tokens;
    gp.stop_on_eos = false;
    return gp;
}

/* Greedy continuation of the session's context: its text. */
static char *continue_greedy(vka_session *s, int32_t n) {
    vka_generate_params gp = greedy(n);
    vka_generate_result r;
    cr_assert_eq(vka_generate_tokens(s, NULL, 0, &gp, &r), VKA_OK, "%s", vka_last_error());
    cr_assert_eq(r.n_generated, (uint32_t)n);
    char *text = strdup(r.text);
    vka_generate_result_clear(&r);
    return text;
}

/* A session of stories260K that has generated a little (its last sampled
 * token still pending), saved to a fresh temporary file. */
static vka_session *saved_session(vka_model *m, vka_kv_type kv, char **path) {
    vka_session *s = new_session(m, 256, kv);
    vka_generate_params gp = greedy(10);
    vka_generate_result r;
    cr_assert_eq(vka_generate(s, "Once upon a time", &gp, &r), VKA_OK, "%s", vka_last_error());
    vka_generate_result_clear(&r);
    *path = test_temp_file("session");
    cr_assert_eq(vka_session_save(s, *path), VKA_OK, "%s", vka_last_error());
    return s;
}

static void expect_same_context(vka_session *a, vka_session *b) {
    cr_assert_eq(vka_session_n_past(a), vka_session_n_past(b));
    cr_assert(memcmp(vka_session_tokens(a), vka_session_tokens(b), vka_session_n_past(a) * sizeof(int32_t)) == 0);
}

static void check_round_trip(const char *save_device, const char *load_device, vka_kv_type kv) {
    vka_model *m = load_model("models/stories260K.gguf", save_device);
    char *path;
    vka_session *orig = saved_session(m, kv, &path);
    vka_model *m2 = strcmp(save_device, load_device) ? load_model("models/stories260K.gguf", load_device) : m;
    vka_session *loaded = NULL;
    cr_assert_eq(vka_session_load(m2, path, NULL, &loaded), VKA_OK, "%s", vka_last_error());
    expect_same_context(orig, loaded);
    cr_assert_eq(vka_session_n_ctx(loaded), 256);
    /* The saved logits come back bit for bit. */
    uint32_t n_vocab = 512;
    const float *la = vka_session_logits(orig), *lb = vka_session_logits(loaded);
    cr_assert(la && lb);
    cr_assert(memcmp(la, lb, n_vocab * sizeof *la) == 0, "logits differ after loading");
    char *want = continue_greedy(orig, 40), *got = continue_greedy(loaded, 40);
    cr_expect_str_eq(got, want, "%s -> %s: the loaded session continues differently", save_device, load_device);
    expect_same_context(orig, loaded);
    free(want);
    free(got);
    vka_session_free(loaded);
    vka_session_free(orig);
    remove(path);
    free(path);
    if (m2 != m) vka_model_free(m2);
    vka_model_free(m);
}

Test(session_file, continues_exactly_on_every_device) {
    const char *const *devices;
    int n = test_devices(&devices);
    for (int i = 0; i < n; i++) {
        check_round_trip(devices[i], devices[i], VKA_KV_F32);
        check_round_trip(devices[i], devices[i], VKA_KV_F16);
    }
}

/* A file is the same whichever backend wrote it: saved on one device,
 * loaded on another, the greedy continuation is the same text (when the
 * two backends agree on it, which the golden tests already require). */
Test(session_file, moves_between_devices) {
    const char *const *devices;
    int n = test_devices(&devices);
    if (n < 2) cr_skip_test("needs two devices in VKAGENT_TEST_DEVICES (e.g. cpu,vulkan)");
    check_round_trip(devices[0], devices[1], VKA_KV_F32);
    check_round_trip(devices[1], devices[0], VKA_KV_F32);
}

Test(session_file, empty_session_round_trips) {
    vka_model *m = load_model("models/stories260K.gguf", "cpu");
    vka_session *s = new_session(m, 64, VKA_KV_F32);
    char *path = test_temp_file("session");
    cr_assert_eq(vka_session_save(s, path), VKA_OK, "%s", vka_last_error());
    vka_session *t = NULL;
    cr_assert_eq(vka_session_load(m, path, NULL, &t), VKA_OK, "%s", vka_last_error());
    cr_expect_eq(vka_session_n_past(t), 0);
    cr_expect_eq(vka_session_n_ctx(t), 64);
    vka_session_free(t);
    vka_session_free(s);
    remove(path);
    free(path);
    vka_model_free(m);
}

/* A KV type other than the file's is converted: the context is the same,
 * and generation goes on from it. */
Test(session_file, converts_the_kv_type) {
    vka_model *m = load_model("models/stories260K.gguf", "cpu");
    char *path;
    vka_session *orig = saved_session(m, VKA_KV_F32, &path);
    vka_session_params sp;
    vka_session_params_default(&sp);
    sp.kv_type = VKA_KV_F16;
    sp.n_ctx = 300;
    vka_session *t = NULL;
    cr_assert_eq(vka_session_load(m, path, &sp, &t), VKA_OK, "%s", vka_last_error());
    cr_expect_eq(vka_session_n_ctx(t), 300);
    expect_same_context(orig, t);
    free(continue_greedy(t, 5));
    vka_session_free(t);
    vka_session_free(orig);
    remove(path);
    free(path);
    vka_model_free(m);
}

/* ------------------------------------------------------------ refusals */

static void expect_refused(vka_model *m, const char *path, const vka_session_params *sp, vka_status want,
                           const char *words) {
    vka_session *s = (vka_session *)(uintptr_t)1;
    vka_status st = vka_session_load(m, path, sp, &s);
    cr_expect_eq(st, want, "status %s, want %s (%s)", vka_status_name(st), vka_status_name(want), vka_last_error());
    cr_expect_null(s, "a refused load must not hand out a session");
    cr_expect(strstr(vka_last_error(), words) != NULL, "message '%s' does not say '%s'", vka_last_error(), words);
}

/* Writes a changed copy of the file at `path`; returns the copy's path. */
static char *altered_copy(const char *path, size_t keep, size_t flip_at, unsigned char flip, size_t set_at,
                          uint32_t set_value) {
    size_t len;
    unsigned char *bytes = (unsigned char *)test_read_file(path, &len);
    cr_assert(bytes);
    if (flip) bytes[flip_at] ^= flip;
    if (set_at) memcpy(bytes + set_at, &set_value, sizeof set_value);
    char *copy = test_write_temp(bytes, keep < len ? keep : len);
    free(bytes);
    return copy;
}

Test(session_file, refuses_bad_files) {
    vka_model *m = load_model("models/stories260K.gguf", "cpu");
    char *path;
    vka_session *orig = saved_session(m, VKA_KV_F32, &path);
    size_t len;
    free(test_read_file(path, &len));

    char *truncated = altered_copy(path, len - 100, 0, 0, 0, 0);
    expect_refused(m, truncated, NULL, VKA_ERR_FORMAT, "truncated");
    char *corrupt = altered_copy(path, SIZE_MAX, len - 20, 0x40, 0, 0); /* in the last V rows */
    expect_refused(m, corrupt, NULL, VKA_ERR_FORMAT, "checksum");
    char *future = altered_copy(path, SIZE_MAX, 0, 0, 8, 99);           /* the version field */
    expect_refused(m, future, NULL, VKA_ERR_UNSUPPORTED, "newer vkagent");
    char *not_session = test_write_temp("hello, this is not a session file at all: 64 bytes and more ......", 67);
    expect_refused(m, not_session, NULL, VKA_ERR_FORMAT, "not a vkagent session file");
    expect_refused(m, "/nonexistent/dir/s.vkas", NULL, VKA_ERR_NOT_FOUND, "cannot open");
    vka_session_params small;
    vka_session_params_default(&small);
    small.n_ctx = 4;
    expect_refused(m, path, &small, VKA_ERR_CONTEXT_FULL, "do not fit");

    /* Same shape, other weights (the q8_0 copy): another model. */
    vka_model *other = load_model("models/stories260K-q8_0.gguf", "cpu");
    expect_refused(other, path, NULL, VKA_ERR_INVALID_ARGUMENT, "another model");
    vka_model_free(other);

    const char *copies[] = {truncated, corrupt, future, not_session};
    for (size_t i = 0; i < 4; i++) {
        remove(copies[i]);
        free((char *)copies[i]);
    }
    vka_session_free(orig);
    remove(path);
    free(path);
    vka_model_free(m);
}

Test(session_file, save_reports_an_unwritable_path) {
    vka_model *m = load_model("models/stories260K.gguf", "cpu");
    vka_session *s = new_session(m, 64, VKA_KV_F32);
    cr_expect_eq(vka_session_save(s, "/nonexistent/dir/s.vkas"), VKA_ERR_IO);
    cr_expect(strstr(vka_last_error(), "/nonexistent/dir/s.vkas") != NULL, "%s", vka_last_error());
    cr_expect_eq(vka_session_save(NULL, "x"), VKA_ERR_INVALID_ARGUMENT);
    vka_session_free(s);
    vka_model_free(m);
}
