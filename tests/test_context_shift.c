/* test_context_shift.c — vka_session_shift: after dropping tokens and
 * re-rotating the cached keys, the model sees the shortened context as if it
 * had been fed afresh. Exactly so (up to the KV type's rounding) in a
 * one-layer model, where a token's K and V depend on nothing but the token
 * and its position; in deeper models the first layer's keys must match a
 * fresh run, for both RoPE styles (llama: adjacent pairs; qwen2/qwen3: NEOX
 * halves, biases, per-head norms), on every test device. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/scheduler.h"
#include "model/synth.h"
#include "test_util.h"
#include "vkagent.h"

#define N_TOKENS 40
#define N_KEEP 5
#define N_DISCARD 12

static vka_model *load_path(const char *path, const char *device) {
    vka_model_params mp;
    vka_model_params_default(&mp);
    mp.device = device;
    vka_model *m = NULL;
    cr_assert_eq(vka_model_load(path, &mp, &m), VKA_OK, "loading %s: %s", path, vka_last_error());
    return m;
}

static vka_session *new_session(vka_model *m, vka_kv_type kv) {
    vka_session_params sp;
    vka_session_params_default(&sp);
    sp.n_ctx = 128;
    sp.n_batch = 16; /* several prefill chunks */
    sp.kv_type = kv;
    vka_session *s = NULL;
    cr_assert_eq(vka_session_create(m, &sp, &s), VKA_OK, "%s", vka_last_error());
    return s;
}

/* Seeded token ids in [1, n_vocab). */
static void random_tokens(int32_t *ids, size_t n, uint32_t n_vocab, uint32_t seed) {
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        ids[i] = (int32_t)(1 + (seed >> 8) % (n_vocab - 1));
    }
}

/* The shortened sequence: ids[0..N_KEEP) then ids[N_KEEP + N_DISCARD ..). */
static size_t shortened(const int32_t *ids, int32_t *out) {
    memcpy(out, ids, N_KEEP * sizeof *ids);
    memcpy(out + N_KEEP, ids + N_KEEP + N_DISCARD, (N_TOKENS - N_KEEP - N_DISCARD) * sizeof *ids);
    return N_TOKENS - N_DISCARD;
}

static double max_abs_diff(const float *a, const float *b, size_t n) {
    double worst = 0;
    for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs((double)a[i] - (double)b[i]));
    return worst;
}

/* Logits after feeding ids then `next` afresh. */
static float *fresh_logits(vka_model *m, vka_kv_type kv, const int32_t *ids, size_t n, int32_t next) {
    vka_session *s = new_session(m, kv);
    cr_assert_eq(vka_session_feed(s, ids, n), VKA_OK, "%s", vka_last_error());
    cr_assert_eq(vka_session_feed(s, &next, 1), VKA_OK, "%s", vka_last_error());
    uint32_t n_vocab = m->hp.n_vocab;
    float *out = malloc(n_vocab * sizeof *out);
    memcpy(out, vka_session_logits(s), n_vocab * sizeof *out);
    vka_session_free(s);
    return out;
}

/* Logits after feeding all ids, shifting, then feeding `next`. */
static float *shifted_logits(vka_model *m, vka_kv_type kv, const int32_t *ids, int32_t next) {
    vka_session *s = new_session(m, kv);
    cr_assert_eq(vka_session_feed(s, ids, N_TOKENS), VKA_OK, "%s", vka_last_error());
    cr_assert_eq(vka_session_shift(s, N_KEEP, N_DISCARD), VKA_OK, "%s", vka_last_error());
    int32_t want[N_TOKENS];
    size_t n = shortened(ids, want);
    cr_assert_eq(vka_session_n_past(s), n);
    cr_assert(memcmp(vka_session_tokens(s), want, n * sizeof *want) == 0, "the tokens did not move down");
    cr_assert_eq(vka_session_feed(s, &next, 1), VKA_OK, "%s", vka_last_error());
    uint32_t n_vocab = m->hp.n_vocab;
    float *out = malloc(n_vocab * sizeof *out);
    memcpy(out, vka_session_logits(s), n_vocab * sizeof *out);
    vka_session_free(s);
    return out;
}

static char *one_layer_model(const char *arch) {
    vka_synth_params p = {.arch = arch, .n_embd = 64, .n_layer = 1, .n_head = 4, .n_head_kv = 2, .n_ff = 128,
                          .n_ctx = 256, .n_vocab = 300, .ftype = VKA_FTYPE_F32, .seed = 7};
    char *path = test_temp_file("shift1");
    cr_assert_not_null(path);
    cr_assert_eq(vka_synth_model(&p, path), VKA_OK, "%s", vka_last_error());
    return path;
}

static void check_one_layer(const char *arch, const char *device) {
    char *path = one_layer_model(arch);
    vka_model *m = load_path(path, device);
    int32_t ids[N_TOKENS], short_ids[N_TOKENS];
    random_tokens(ids, N_TOKENS, m->hp.n_vocab, 11);
    size_t n_short = shortened(ids, short_ids);
    int32_t next = 42;

    float *fresh32 = fresh_logits(m, VKA_KV_F32, short_ids, n_short, next);
    float *shift32 = shifted_logits(m, VKA_KV_F32, ids, next);
    double d32 = max_abs_diff(fresh32, shift32, m->hp.n_vocab);
    /* f32 cache: the moved keys differ from fresh ones only by the f32
     * rounding of two rotations instead of one (a few ulps, ~1e-7 relative);
     * 1e-4 on logits of size ~1 leaves a wide margin. */
    cr_expect_leq(d32, 1e-4, "%s on %s, f32 KV: shifted logits differ from fresh by %g", arch, device, d32);

    float *fresh16 = fresh_logits(m, VKA_KV_F16, short_ids, n_short, next);
    float *shift16 = shifted_logits(m, VKA_KV_F16, ids, next);
    double d16 = max_abs_diff(fresh16, shift16, m->hp.n_vocab);
    /* f16 cache: a moved key is rounded to f16 once more than a fresh one
     * (after its rotation: relative error 2^-11 per element), while V is the
     * same. The fresh f16 cache already rounds every K and V once, so the
     * extra error is bounded by the f16 cache's own error against f32 (the
     * KV type's tolerance, measured here), twice for margin; 1e-5 as a floor
     * where that error happens to be tiny. */
    double kv_error = max_abs_diff(fresh16, fresh32, m->hp.n_vocab);
    cr_expect_leq(d16, 2 * kv_error + 1e-5, "%s on %s, f16 KV: shifted logits differ from fresh by %g (the f16 "
                  "cache's own error: %g)", arch, device, d16, kv_error);
    cr_log_info("%s on %s: f32 %g, f16 %g (f16 cache error %g)", arch, device, d32, d16, kv_error);

    free(fresh32);
    free(shift32);
    free(fresh16);
    free(shift16);
    vka_model_free(m);
    remove(path);
    free(path);
}

Test(context_shift, one_layer_matches_fresh_feed) {
    const char *const *devices;
    int n = test_devices(&devices);
    for (int i = 0; i < n; i++) {
        check_one_layer("llama", devices[i]); /* NORM RoPE */
        check_one_layer("qwen2", devices[i]); /* NEOX RoPE, K bias */
        check_one_layer("qwen3", devices[i]); /* NEOX, per-head K norm before RoPE */
    }
}

/* Layer 0's K rows (as f32) of a session, for the first n positions. */
static float *layer0_keys(vka_session *s, uint32_t n) {
    vka_tensor *k = &s->sched->pool.k[0];
    void *raw = malloc(k->row_bytes * n);
    float *out = malloc((size_t)k->ne[0] * n * sizeof *out);
    cr_assert_eq(vka_seq_rows_get(s, 0, false, 0, n, raw), VKA_OK, "%s", vka_last_error());
    vka_type_get_traits(k->type)->to_f32(raw, out, k->ne[0] * (int64_t)n);
    free(raw);
    return out;
}

/* In a deep model the moved entries keep what upper layers read of the
 * dropped tokens, so logits differ from a fresh run by design; but the first
 * layer's keys depend only on token and position, so they must match. */
static void check_fixture(const char *rel, const char *device) {
    const char *path = test_data_path(rel);
    REQUIRE_FIXTURE(path);
    vka_model *m = load_path(path, device);
    int32_t ids[N_TOKENS], short_ids[N_TOKENS];
    random_tokens(ids, N_TOKENS, m->hp.n_vocab, 5);
    size_t n_short = shortened(ids, short_ids);

    vka_session *shifted = new_session(m, VKA_KV_F32), *fresh = new_session(m, VKA_KV_F32);
    cr_assert_eq(vka_session_feed(shifted, ids, N_TOKENS), VKA_OK, "%s", vka_last_error());
    cr_assert_eq(vka_session_shift(shifted, N_KEEP, N_DISCARD), VKA_OK, "%s", vka_last_error());
    cr_assert_eq(vka_session_feed(fresh, short_ids, n_short), VKA_OK, "%s", vka_last_error());
    /* The last token is evaluated again over the shifted cache when logits
     * are asked for; rows before it are the moved ones. */
    uint32_t moved = (uint32_t)n_short - 1;
    float *a = layer0_keys(shifted, moved), *b = layer0_keys(fresh, moved);
    size_t n = (size_t)shifted->sched->pool.k[0].ne[0] * moved;
    double worst = 0, scale = 0;
    for (size_t i = 0; i < n; i++) {
        worst = fmax(worst, fabs((double)a[i] - (double)b[i]));
        scale = fmax(scale, fabs((double)b[i]));
    }
    /* f32 cache: two f32 rotations instead of one, a few ulps of the largest
     * key; 1e-5 relative is a wide margin and far below what a wrong angle,
     * sign or pairing gives (order 1). */
    cr_expect_leq(worst, 1e-5 * scale, "%s on %s: layer-0 keys after the shift differ from fresh by %g (keys up to %g)",
                  rel, device, worst, scale);
    /* And the session goes on: logits exist and a token can follow. */
    int32_t next = 3;
    cr_assert_eq(vka_session_feed(shifted, &next, 1), VKA_OK, "%s", vka_last_error());
    cr_assert_not_null(vka_session_logits(shifted));
    free(a);
    free(b);
    vka_session_free(shifted);
    vka_session_free(fresh);
    vka_model_free(m);
}

Test(context_shift, first_layer_keys_match_fresh_in_deep_models) {
    const char *const *devices;
    int n = test_devices(&devices);
    for (int i = 0; i < n; i++) {
        check_fixture("fixtures/arch/llama-f32.gguf", devices[i]);
        check_fixture("fixtures/arch/qwen2-f32.gguf", devices[i]);
        check_fixture("fixtures/arch/qwen3-f32.gguf", devices[i]);
        check_fixture("fixtures/arch2/gemma3-f32.gguf", devices[i]); /* layer 0 slides: its own RoPE base */
        check_fixture("fixtures/arch2/phi3-f32.gguf", devices[i]);   /* RoPE frequency factors */
        check_fixture("models/stories260K.gguf", devices[i]);
    }
}

/* Dropping the tail is a rewind: exactly the fresh logits. Pending tokens
 * (fed to the context, not yet evaluated) move with the rest. */
Test(context_shift, tail_drop_and_pending_tokens) {
    char *path = one_layer_model("llama");
    vka_model *m = load_path(path, "cpu");
    int32_t ids[N_TOKENS];
    random_tokens(ids, N_TOKENS, m->hp.n_vocab, 3);
    vka_session *s = new_session(m, VKA_KV_F32);
    cr_assert_eq(vka_session_feed(s, ids, N_TOKENS), VKA_OK, "%s", vka_last_error());
    cr_assert_eq(vka_session_shift(s, N_TOKENS - 6, 6), VKA_OK, "%s", vka_last_error());
    float *fresh = fresh_logits(m, VKA_KV_F32, ids, N_TOKENS - 7, ids[N_TOKENS - 7]);
    const float *got = vka_session_logits(s);
    cr_assert_not_null(got);
    cr_expect_leq(max_abs_diff(got, fresh, m->hp.n_vocab), 1e-5, "no key moved: the same computation");
    free(fresh);

    /* Pending: the tokens pushed after the last evaluation are moved too. */
    cr_assert_eq(vka_session_push_pending(s, 9), VKA_OK);
    cr_assert_eq(vka_session_push_pending(s, 10), VKA_OK);
    uint32_t before = vka_session_n_past(s);
    cr_assert_eq(vka_session_shift(s, 2, 3), VKA_OK, "%s", vka_last_error());
    cr_expect_eq(vka_session_n_past(s), before - 3);
    cr_expect_eq(vka_session_tokens(s)[before - 4], 10);
    cr_expect_eq(vka_session_tokens(s)[2], ids[5]);
    cr_assert_not_null(vka_session_logits(s));

    cr_expect_eq(vka_session_shift(s, 10, before), VKA_ERR_INVALID_ARGUMENT);
    cr_expect_eq(vka_session_shift(NULL, 0, 1), VKA_ERR_INVALID_ARGUMENT);
    cr_expect_eq(vka_session_shift(s, 0, 0), VKA_OK);
    vka_session_free(s);
    vka_model_free(m);
    remove(path);
    free(path);
}

static vka_model *stories(void) {
    const char *path = test_data_path("models/stories260K.gguf");
    REQUIRE_FIXTURE(path);
    return load_path(path, "cpu");
}

static vka_generate_result generate_long(vka_session *s, bool shift) {
    vka_generate_params gp;
    vka_generate_params_default(&gp);
    gp.sampling.temperature = 0;
    gp.max_tokens = 70;
    gp.stop_on_eos = false;
    gp.context_shift = shift;
    gp.n_keep = 1; /* BOS */
    vka_generate_result r;
    cr_assert_eq(vka_generate(s, "Once upon a time", &gp, &r), VKA_OK, "%s", vka_last_error());
    return r;
}

/* With context_shift a generation goes on past a 32-token context until
 * max_tokens, keeping BOS; without it, it stops when the context is full. */
Test(context_shift, generator_shifts_when_the_context_fills) {
    vka_model *m = stories();
    vka_session_params sp;
    vka_session_params_default(&sp);
    sp.n_ctx = 32;
    vka_session *s = NULL;
    cr_assert_eq(vka_session_create(m, &sp, &s), VKA_OK, "%s", vka_last_error());
    vka_generate_result r = generate_long(s, true);
    cr_expect_eq(r.stop_reason, VKA_STOP_MAX_TOKENS, "stopped by %s", vka_stop_reason_name(r.stop_reason));
    cr_expect_eq(r.n_generated, 70);
    cr_expect_leq(vka_session_n_past(s), 32);
    cr_expect_eq(vka_session_tokens(s)[0], 1, "BOS is kept");
    vka_generate_result_clear(&r);
    vka_session_reset(s);
    r = generate_long(s, false);
    cr_expect_eq(r.stop_reason, VKA_STOP_CONTEXT_FULL);
    cr_expect_eq(vka_session_n_past(s), 32);
    vka_generate_result_clear(&r);
    vka_session_free(s);
    vka_model_free(m);
}

/* While a generator is open, shifting or saving its session is refused. */
Test(context_shift, busy_while_a_generator_is_open) {
    vka_model *m = stories();
    vka_session *s = NULL;
    cr_assert_eq(vka_session_create(m, NULL, &s), VKA_OK, "%s", vka_last_error());
    cr_assert_eq(vka_session_feed(s, (const int32_t[]){1, 400, 401}, 3), VKA_OK, "%s", vka_last_error());
    vka_generator *g = NULL;
    cr_assert_eq(vka_generator_create(s, " and", NULL, &g), VKA_OK, "%s", vka_last_error());
    cr_expect_eq(vka_session_shift(s, 1, 1), VKA_ERR_BUSY);
    cr_expect(strstr(vka_last_error(), "vka_session_shift") != NULL, "%s", vka_last_error());
    cr_expect_eq(vka_session_save(s, "/tmp/never-written.vkas"), VKA_ERR_BUSY);
    vka_generator_free(g);
    cr_expect_eq(vka_session_shift(s, 1, 1), VKA_OK, "%s", vka_last_error());
    vka_session_free(s);
    vka_model_free(m);
}
