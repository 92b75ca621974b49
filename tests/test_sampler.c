/* test_sampler.c — the sampler's stages one by one on hand-made logits, their
 * composition order, the RNG against published reference outputs, and
 * error handling (bad params, NaN/inf logits, grammar hook). */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sampling/sampler.h"
#include "test_util.h"

/* ------------------------------------------------------------------ helpers */

/* Parameters with every filter off: temperature 1, plain softmax draw. */
static vka_sampling_params plain_params(void) {
    vka_sampling_params p;
    vka_sampling_params_default(&p);
    p.temperature = 1.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    return p;
}

static vka_sampling_params greedy_params(void) {
    vka_sampling_params p = plain_params();
    p.temperature = 0.0f;
    return p;
}

static vka_sampler *make_sampler(uint32_t n_vocab, const vka_sampling_params *p) {
    vka_sampler *s = NULL;
    vka_status st = vka_sampler_new(NULL, n_vocab, p, &s);
    cr_assert_eq(st, VKA_OK, "vka_sampler_new: %s", vka_last_error());
    cr_assert_not_null(s);
    return s;
}

static int32_t sample_one(vka_sampler *s, const float *logits) {
    int32_t token = -1;
    vka_status st = vka_sampler_sample(s, logits, &token);
    cr_assert_eq(st, VKA_OK, "vka_sampler_sample: %s", vka_last_error());
    return token;
}

/* Draws n tokens and counts them per id (counts has n_vocab entries). */
static void count_draws(vka_sampler *s, const float *logits, uint32_t n_vocab, int n, int *counts) {
    memset(counts, 0, n_vocab * sizeof *counts);
    for (int i = 0; i < n; i++) {
        int32_t t = sample_one(s, logits);
        cr_assert(t >= 0 && (uint32_t)t < n_vocab, "token %d out of range", t);
        counts[t]++;
    }
}

/* Asserts that exactly the ids with want[id] true were drawn at least once. */
static void assert_drawn_set(const int *counts, const bool *want, uint32_t n_vocab) {
    for (uint32_t i = 0; i < n_vocab; i++) {
        if (want[i]) cr_assert_gt(counts[i], 0, "token %u should be drawn but never was", i);
        else cr_assert_eq(counts[i], 0, "token %u should never be drawn, was %d times", i, counts[i]);
    }
}

/* An independent xoshiro256** / splitmix64, written from the published
 * algorithm description, to check the library's stream. */
typedef struct ref_rng {
    uint64_t a, b, c, d;
} ref_rng;

static uint64_t ref_splitmix(uint64_t seed, int index) {
    uint64_t z = seed + (uint64_t)(index + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static ref_rng ref_seed(uint64_t seed) {
    ref_rng r = {ref_splitmix(seed, 0), ref_splitmix(seed, 1), ref_splitmix(seed, 2), ref_splitmix(seed, 3)};
    return r;
}

static uint64_t ref_next(ref_rng *r) {
    uint64_t x = r->b * 5;
    uint64_t out = ((x << 7) | (x >> 57)) * 9;
    uint64_t t = r->b << 17;
    uint64_t c = r->c ^ r->a;
    uint64_t d = r->d ^ r->b;
    uint64_t b = r->b ^ c;
    uint64_t a = r->a ^ d;
    c ^= t;
    d = (d << 45) | (d >> 19);
    *r = (ref_rng){a, b, c, d};
    return out;
}

static double ref_uniform(ref_rng *r) { return (double)(ref_next(r) >> 11) / 9007199254740992.0; }

/* Greedy winner between `target` (given base logit, penalised by the
 * sampler's history) and a competitor id with logit `competitor`. */
static int32_t greedy_duel(vka_sampler *s, uint32_t n_vocab, int32_t target, float target_logit,
                           int32_t competitor_id, float competitor) {
    float logits[16];
    cr_assert_leq(n_vocab, 16);
    for (uint32_t i = 0; i < n_vocab; i++) logits[i] = -100.0f;
    logits[target] = target_logit;
    logits[competitor_id] = competitor;
    return sample_one(s, logits);
}

/* Asserts that `target`'s penalised logit is `expected` to within 1e-3,
 * by letting it compete with a token just below and just above. */
static void assert_penalised(vka_sampler *s, uint32_t n_vocab, int32_t target, float base,
                             int32_t competitor_id, float expected) {
    const float eps = 1e-3f; /* tolerance on the penalised logit */
    cr_assert_eq(greedy_duel(s, n_vocab, target, base, competitor_id, expected - eps), target,
                 "token %d: penalised logit should be > %g", target, (double)(expected - eps));
    cr_assert_eq(greedy_duel(s, n_vocab, target, base, competitor_id, expected + eps), competitor_id,
                 "token %d: penalised logit should be < %g", target, (double)(expected + eps));
}

/* ------------------------------------------------------------------ RNG */

Test(rng, splitmix64_seed0_matches_published_outputs) {
    /* The first four outputs of Vigna's splitmix64.c with state 0. */
    vka_rng r;
    vka_rng_seed(&r, 0);
    cr_assert_eq(r.s[0], 0xE220A8397B1DCDAFull);
    cr_assert_eq(r.s[1], 0x6E789E6AA1B965F4ull);
    cr_assert_eq(r.s[2], 0x06C45D188009454Full);
    cr_assert_eq(r.s[3], 0xF88BB8A8724C81ECull);
}

Test(rng, xoshiro256starstar_seed0_matches_published_outputs) {
    /* xoshiro256** seeded from splitmix64(0): widely published reference values. */
    static const uint64_t expected[6] = {
        0x99EC5F36CB75F2B4ull, 0xBF6E1F784956452Aull, 0x1A5F849D4933E6E0ull,
        0x6AA594F1262D2D2Cull, 0xBBA5AD4A1F842E59ull, 0xFFEF8375D9EBCACAull,
    };
    vka_rng r;
    vka_rng_seed(&r, 0);
    for (int i = 0; i < 6; i++) cr_assert_eq(vka_rng_next(&r), expected[i], "output %d", i);
}

Test(rng, matches_independent_implementation) {
    static const uint64_t seeds[] = {1, 42, 0xDEADBEEFull, UINT64_MAX};
    for (size_t k = 0; k < sizeof seeds / sizeof seeds[0]; k++) {
        vka_rng r;
        vka_rng_seed(&r, seeds[k]);
        ref_rng ref = ref_seed(seeds[k]);
        for (int i = 0; i < 1000; i++) {
            double u = vka_rng_uniform(&r), v = ref_uniform(&ref);
            cr_assert(u == v, "seed %llu draw %d: %.17g != %.17g", (unsigned long long)seeds[k], i, u, v);
            cr_assert(u >= 0.0 && u < 1.0);
        }
    }
}

Test(rng, uniform_uses_top_53_bits) {
    vka_rng r, copy;
    vka_rng_seed(&r, 7);
    copy = r;
    uint64_t x = vka_rng_next(&copy);
    cr_assert(vka_rng_uniform(&r) == (double)(x >> 11) * 0x1.0p-53);
}

/* ------------------------------------------------------------------ params */

Test(params, defaults_as_documented) {
    vka_sampling_params p;
    memset(&p, 0xAB, sizeof p);
    vka_sampling_params_default(&p);
    cr_assert_float_eq(p.temperature, 0.8f, 0); /* exact: assigned constants */
    cr_assert_eq(p.top_k, 40);
    cr_assert_float_eq(p.top_p, 0.95f, 0);
    cr_assert_float_eq(p.min_p, 0.05f, 0);
    cr_assert_float_eq(p.repeat_penalty, 1.0f, 0);
    cr_assert_float_eq(p.frequency_penalty, 0.0f, 0);
    cr_assert_float_eq(p.presence_penalty, 0.0f, 0);
    cr_assert_eq(p.penalty_last_n, 64);
    cr_assert_eq(p.seed, 0);
    cr_assert_null(p.grammar);
    cr_assert_null(p.grammar_root);
    cr_assert_null(p.json_schema);
    cr_assert_eq(p.json, false);
    vka_sampling_params_default(NULL); /* must not crash */
}

Test(params, null_params_mean_defaults) {
    vka_sampler *s = make_sampler(4, NULL);
    float logits[4] = {0, 1, 2, 3};
    int32_t t = sample_one(s, logits);
    cr_assert(t >= 0 && t < 4);
    vka_sampler_free(s);
}

static void expect_invalid(vka_sampling_params p, vka_status want, const char *field) {
    vka_sampler *s = (vka_sampler *)&p; /* must be overwritten with NULL */
    vka_status st = vka_sampler_new(NULL, 8, &p, &s);
    cr_assert_eq(st, want, "%s: got %s", field, vka_status_name(st));
    cr_assert_null(s);
    cr_assert_not_null(strstr(vka_last_error(), field), "message '%s' should name %s", vka_last_error(), field);
}

Test(params, invalid_values_are_rejected) {
    vka_sampling_params p;
    const vka_status bad = VKA_ERR_INVALID_ARGUMENT;
    p = plain_params(); p.temperature = NAN; expect_invalid(p, bad, "temperature");
    p = plain_params(); p.temperature = INFINITY; expect_invalid(p, bad, "temperature");
    p = plain_params(); p.top_p = 0.0f; expect_invalid(p, bad, "top_p");
    p = plain_params(); p.top_p = -0.5f; expect_invalid(p, bad, "top_p");
    p = plain_params(); p.top_p = 1.5f; expect_invalid(p, bad, "top_p");
    p = plain_params(); p.top_p = NAN; expect_invalid(p, bad, "top_p");
    p = plain_params(); p.min_p = -0.1f; expect_invalid(p, bad, "min_p");
    p = plain_params(); p.min_p = 1.1f; expect_invalid(p, bad, "min_p");
    p = plain_params(); p.min_p = NAN; expect_invalid(p, bad, "min_p");
    p = plain_params(); p.repeat_penalty = 0.0f; expect_invalid(p, bad, "repeat_penalty");
    p = plain_params(); p.repeat_penalty = -1.0f; expect_invalid(p, bad, "repeat_penalty");
    p = plain_params(); p.repeat_penalty = NAN; expect_invalid(p, bad, "repeat_penalty");
    p = plain_params(); p.repeat_penalty = INFINITY; expect_invalid(p, bad, "repeat_penalty");
    p = plain_params(); p.frequency_penalty = NAN; expect_invalid(p, bad, "frequency_penalty");
    p = plain_params(); p.presence_penalty = -INFINITY; expect_invalid(p, bad, "presence_penalty");
    p = plain_params(); p.penalty_last_n = -2; expect_invalid(p, bad, "penalty_last_n");
    p = plain_params(); p.grammar = "root ::= \"a\""; p.json = true; expect_invalid(p, bad, "json");
    /* Temporary: no grammar engine in this build yet. */
    /* constrained sampling needs the vocabulary's token bytes */
    p = plain_params(); p.grammar = "root ::= \"a\""; expect_invalid(p, bad, "vocabulary");
    p = plain_params(); p.json_schema = "{}"; expect_invalid(p, bad, "vocabulary");
    p = plain_params(); p.json = true; expect_invalid(p, bad, "vocabulary");
}

Test(params, edge_values_are_accepted) {
    vka_sampling_params p = plain_params();
    p.top_p = 1.0f;
    p.min_p = 1.0f;
    p.top_k = -5;
    p.temperature = -3.0f;      /* greedy */
    p.penalty_last_n = -1;
    p.frequency_penalty = -0.5f; /* negative: encourages repetition */
    vka_sampler *s = make_sampler(8, &p);
    vka_sampler_free(s);
}

Test(params, bad_arguments) {
    vka_sampler *s = NULL;
    cr_assert_eq(vka_sampler_new(NULL, 0, NULL, &s), VKA_ERR_INVALID_ARGUMENT);
    cr_assert_not_null(strstr(vka_last_error(), "n_vocab"));
    cr_assert_eq(vka_sampler_new(NULL, 8, NULL, NULL), VKA_ERR_INVALID_ARGUMENT);
    s = make_sampler(4, NULL);
    float logits[4] = {0};
    int32_t t;
    cr_assert_eq(vka_sampler_sample(s, NULL, &t), VKA_ERR_INVALID_ARGUMENT);
    cr_assert_eq(vka_sampler_sample(s, logits, NULL), VKA_ERR_INVALID_ARGUMENT);
    cr_assert_eq(vka_sampler_sample(NULL, logits, &t), VKA_ERR_INVALID_ARGUMENT);
    cr_assert_eq(vka_sampler_accept(s, 4), VKA_ERR_INVALID_ARGUMENT);
    cr_assert_eq(vka_sampler_accept(s, -1), VKA_ERR_INVALID_ARGUMENT);
    cr_assert_eq(vka_sampler_accept(NULL, 0), VKA_ERR_INVALID_ARGUMENT);
    int32_t ids[3] = {0, 1, 7};
    cr_assert_eq(vka_sampler_add_history(s, ids, 3), VKA_ERR_INVALID_ARGUMENT);
    cr_assert_not_null(strstr(vka_last_error(), "ids[2]"));
    cr_assert_eq(vka_sampler_add_history(s, NULL, 0), VKA_OK);
    cr_assert_eq(vka_sampler_is_done(NULL), false);
    cr_assert_eq(vka_sampler_is_done(s), false);
    vka_sampler_free(s);
    vka_sampler_free(NULL);
    vka_sampler_reset(NULL);
}

/* ------------------------------------------------------------------ greedy */

Test(greedy, argmax_lowest_id_on_ties) {
    vka_sampling_params p = greedy_params();
    vka_sampler *s = make_sampler(6, &p);
    float a[6] = {1.0f, 3.0f, -2.0f, 3.0f, 2.9f, 3.0f};
    cr_assert_eq(sample_one(s, a), 1);
    float b[6] = {-5.0f, -4.0f, -1.0f, -3.0f, -1.0f, -9.0f};
    cr_assert_eq(sample_one(s, b), 2);
    float c[6] = {0.0f, -0.0f, 0.0f, -1.0f, -0.0f, 0.0f}; /* -0 == +0: a tie */
    cr_assert_eq(sample_one(s, c), 0);
    float d[6] = {-0.0f, 0.0f, -1.0f, -1.0f, -1.0f, -1.0f};
    cr_assert_eq(sample_one(s, d), 0);
    vka_sampler_free(s);
}

Test(greedy, ignores_seed_and_repeats) {
    float l[5] = {0.1f, 0.5f, 0.4f, 0.5f, -1.0f};
    for (uint64_t seed = 0; seed < 3; seed++) {
        vka_sampling_params p = greedy_params();
        p.seed = seed;
        vka_sampler *s = make_sampler(5, &p);
        for (int i = 0; i < 10; i++) cr_assert_eq(sample_one(s, l), 1);
        vka_sampler_free(s);
    }
}

Test(greedy, penalties_apply_first) {
    vka_sampling_params p = greedy_params();
    p.repeat_penalty = 2.0f;
    vka_sampler *s = make_sampler(4, &p);
    float l[4] = {2.0f, 1.5f, 0.0f, 0.0f};
    cr_assert_eq(sample_one(s, l), 0);
    cr_assert_eq(vka_sampler_accept(s, 0), VKA_OK);
    cr_assert_eq(sample_one(s, l), 1); /* 2.0 / 2 = 1.0 < 1.5 */
    vka_sampler_free(s);
}

/* ------------------------------------------------------------------ penalties */

Test(penalties, repetition_divides_positive_multiplies_negative) {
    vka_sampling_params p = greedy_params();
    p.repeat_penalty = 2.0f;
    vka_sampler *s = make_sampler(8, &p);
    int32_t hist[3] = {1, 2, 3};
    cr_assert_eq(vka_sampler_add_history(s, hist, 3), VKA_OK);
    assert_penalised(s, 8, 1, 3.0f, 5, 1.5f);    /* 3 / 2 */
    assert_penalised(s, 8, 2, -1.0f, 5, -2.0f);  /* -1 * 2 */
    assert_penalised(s, 8, 3, 0.0f, 5, 0.0f);    /* 0 stays 0 */
    assert_penalised(s, 8, 4, 3.0f, 5, 3.0f);    /* not in history: unchanged */
    vka_sampler_free(s);

    p.repeat_penalty = 0.5f; /* < 1 makes repeated tokens more likely */
    s = make_sampler(8, &p);
    cr_assert_eq(vka_sampler_add_history(s, hist, 3), VKA_OK);
    assert_penalised(s, 8, 1, 3.0f, 5, 6.0f);
    assert_penalised(s, 8, 2, -1.0f, 5, -0.5f);
    vka_sampler_free(s);
}

Test(penalties, frequency_and_presence_count_within_window) {
    vka_sampling_params p = greedy_params();
    p.frequency_penalty = 0.5f;
    p.presence_penalty = 0.25f;
    p.penalty_last_n = 4;
    vka_sampler *s = make_sampler(8, &p);
    /* history 4 1 1 2 3 1 -> window (last 4) is 1 2 3 1 */
    int32_t hist[6] = {4, 1, 1, 2, 3, 1};
    cr_assert_eq(vka_sampler_add_history(s, hist, 6), VKA_OK);
    assert_penalised(s, 8, 1, 2.0f, 7, 2.0f - (2 * 0.5f + 0.25f)); /* count 2 */
    assert_penalised(s, 8, 2, 2.0f, 7, 2.0f - (1 * 0.5f + 0.25f)); /* count 1 */
    assert_penalised(s, 8, 3, -1.0f, 7, -1.0f - 0.75f);
    assert_penalised(s, 8, 4, 2.0f, 7, 2.0f);                       /* outside the window */
    /* Accepting a token moves the window: now 2 3 1 5 */
    cr_assert_eq(vka_sampler_accept(s, 5), VKA_OK);
    assert_penalised(s, 8, 1, 2.0f, 7, 2.0f - 0.75f);
    assert_penalised(s, 8, 5, 2.0f, 7, 2.0f - 0.75f);
    vka_sampler_free(s);

    p.penalty_last_n = -1; /* all history: 4 1 1 2 3 1 */
    s = make_sampler(8, &p);
    cr_assert_eq(vka_sampler_add_history(s, hist, 6), VKA_OK);
    assert_penalised(s, 8, 1, 2.0f, 7, 2.0f - (3 * 0.5f + 0.25f));
    assert_penalised(s, 8, 4, 2.0f, 7, 2.0f - 0.75f);
    vka_sampler_free(s);

    p.penalty_last_n = 0; /* off */
    s = make_sampler(8, &p);
    cr_assert_eq(vka_sampler_add_history(s, hist, 6), VKA_OK);
    assert_penalised(s, 8, 1, 2.0f, 7, 2.0f);
    vka_sampler_free(s);
}

Test(penalties, repetition_then_frequency) {
    /* llama.cpp order: repetition first, then subtract count*freq + presence. */
    vka_sampling_params p = greedy_params();
    p.repeat_penalty = 2.0f;
    p.frequency_penalty = 1.0f;
    p.presence_penalty = 0.5f;
    vka_sampler *s = make_sampler(8, &p);
    int32_t hist[3] = {1, 1, 2};
    cr_assert_eq(vka_sampler_add_history(s, hist, 3), VKA_OK);
    assert_penalised(s, 8, 1, 4.0f, 7, 4.0f / 2 - (2 * 1.0f + 0.5f));  /* -0.5 */
    assert_penalised(s, 8, 2, -1.0f, 7, -1.0f * 2 - (1.0f + 0.5f));    /* -3.5 */
    vka_sampler_free(s);
}

Test(penalties, long_history_keeps_only_the_window) {
    /* Many accepts force the bounded history to drop old tokens. */
    vka_sampling_params p = greedy_params();
    p.presence_penalty = 1.0f;
    p.penalty_last_n = 3;
    vka_sampler *s = make_sampler(8, &p);
    for (int i = 0; i < 1000; i++) cr_assert_eq(vka_sampler_accept(s, i % 5), VKA_OK);
    /* last three accepted: 997%5=2, 998%5=3, 999%5=4 */
    assert_penalised(s, 8, 0, 1.0f, 7, 1.0f);
    assert_penalised(s, 8, 1, 1.0f, 7, 1.0f);
    assert_penalised(s, 8, 2, 1.0f, 7, 0.0f);
    assert_penalised(s, 8, 3, 1.0f, 7, 0.0f);
    assert_penalised(s, 8, 4, 1.0f, 7, 0.0f);
    vka_sampler_free(s);

    p.penalty_last_n = -1;
    p.presence_penalty = 0.0f;
    p.frequency_penalty = 0.001f;
    s = make_sampler(8, &p);
    for (int i = 0; i < 1000; i++) cr_assert_eq(vka_sampler_accept(s, i % 5), VKA_OK);
    assert_penalised(s, 8, 0, 1.0f, 7, 1.0f - 200 * 0.001f); /* each id 200 times */
    vka_sampler_free(s);
}

Test(penalties, window_follows_every_accept) {
    /* The count of token 0 among the last W accepted tokens, checked after
     * each accept, across the history's growth and compaction. */
    static const int32_t windows[4] = {3, 64, 100, -1};
    for (int w = 0; w < 4; w++) {
        vka_sampling_params p = greedy_params();
        p.frequency_penalty = 0.01f;
        p.penalty_last_n = windows[w];
        vka_sampler *s = make_sampler(16, &p);
        int32_t seen[400];
        ref_rng ref = ref_seed(55);
        for (int i = 0; i < 400; i++) {
            seen[i] = (int32_t)(ref_next(&ref) % 4);
            cr_assert_eq(vka_sampler_accept(s, seen[i]), VKA_OK);
            int from = windows[w] < 0 || i + 1 < windows[w] ? 0 : i + 1 - windows[w];
            int count = 0;
            for (int j = from; j <= i; j++) count += seen[j] == 0;
            assert_penalised(s, 16, 0, 1.0f, 15, 1.0f - (float)count * 0.01f);
        }
        vka_sampler_free(s);
    }
}

Test(penalties, reset_clears_history) {
    vka_sampling_params p = greedy_params();
    p.presence_penalty = 1.0f;
    vka_sampler *s = make_sampler(8, &p);
    int32_t hist[1] = {2};
    cr_assert_eq(vka_sampler_add_history(s, hist, 1), VKA_OK);
    assert_penalised(s, 8, 2, 1.0f, 7, 0.0f);
    vka_sampler_reset(s);
    assert_penalised(s, 8, 2, 1.0f, 7, 1.0f);
    vka_sampler_free(s);
}

/* ------------------------------------------------------------------ top-k */

/* n tokens with two logit levels: ids i % 3 == 0 get 1, the rest 0. With
 * k below the number of level-1 tokens, top-k keeps the k lowest such ids. */
static void check_top_k_ties(uint32_t n, int32_t k, int draws) {
    vka_sampling_params p = plain_params();
    p.top_k = k;
    p.seed = 99;
    vka_sampler *s = make_sampler(n, &p);
    float *logits = malloc(n * sizeof *logits);
    int *counts = malloc(n * sizeof *counts);
    bool *want = calloc(n, sizeof *want);
    int kept = 0;
    for (uint32_t i = 0; i < n; i++) {
        logits[i] = i % 3 == 0 ? 1.0f : 0.0f;
        if (i % 3 == 0 && kept < k) {
            want[i] = true;
            kept++;
        }
    }
    cr_assert_eq(kept, k);
    count_draws(s, logits, n, draws, counts);
    assert_drawn_set(counts, want, n);
    free(logits);
    free(counts);
    free(want);
    vka_sampler_free(s);
}

Test(top_k, keeps_exactly_k_distinct_logits) {
    vka_sampling_params p = plain_params();
    p.top_k = 2;
    vka_sampler *s = make_sampler(6, &p);
    float l[6] = {0.0f, 5.0f, 1.0f, 4.8f, -3.0f, 4.0f};
    int counts[6];
    bool want[6] = {false, true, false, true, false, false};
    count_draws(s, l, 6, 500, counts);
    assert_drawn_set(counts, want, 6);
    vka_sampler_free(s);
}

Test(top_k, ties_keep_lowest_ids_small_k) {
    check_top_k_ties(10, 3, 600);
    check_top_k_ties(5000, 300, 15000);   /* each of 300 expected 50 times */
}

Test(top_k, ties_keep_lowest_ids_large_k) {
    check_top_k_ties(5000, 600, 18000);   /* each of 600 expected 30 times */
}

Test(top_k, k_above_vocab_is_off) {
    vka_sampling_params p = plain_params();
    p.top_k = 100;
    vka_sampler *s = make_sampler(4, &p);
    float l[4] = {0.0f, 0.1f, 0.2f, 0.3f};
    int counts[4];
    bool want[4] = {true, true, true, true};
    count_draws(s, l, 4, 400, counts);
    assert_drawn_set(counts, want, 4);
    vka_sampler_free(s);
}

/* ------------------------------------------------------------------ top-p, min-p */

/* Weights 8:4:2:1:1 -> probabilities 1/2, 1/4, 1/8, 1/16, 1/16. */
static void powers_of_two_logits(float *l) {
    l[0] = logf(8.0f);
    l[1] = logf(4.0f);
    l[2] = logf(2.0f);
    l[3] = 0.0f;
    l[4] = 0.0f;
}

static void check_filter(float top_p, float min_p, int32_t top_k, const bool *want) {
    vka_sampling_params p = plain_params();
    p.top_p = top_p;
    p.min_p = min_p;
    p.top_k = top_k;
    p.seed = 5;
    vka_sampler *s = make_sampler(5, &p);
    float l[5];
    int counts[5];
    powers_of_two_logits(l);
    count_draws(s, l, 5, 3000, counts);
    assert_drawn_set(counts, want, 5);
    vka_sampler_free(s);
}

Test(top_p, smallest_prefix_reaching_p) {
    /* cumulative: 0.5, 0.75, 0.875, 0.9375, 1 */
    check_filter(0.49f, 0.0f, 0, (bool[5]){true, false, false, false, false});
    check_filter(0.51f, 0.0f, 0, (bool[5]){true, true, false, false, false});
    check_filter(0.74f, 0.0f, 0, (bool[5]){true, true, false, false, false});
    check_filter(0.76f, 0.0f, 0, (bool[5]){true, true, true, false, false});
    check_filter(0.93f, 0.0f, 0, (bool[5]){true, true, true, true, false});
    check_filter(0.95f, 0.0f, 0, (bool[5]){true, true, true, true, true});
    /* the same through the top-k (heap) path */
    check_filter(0.74f, 0.0f, 4, (bool[5]){true, true, false, false, false});
    /* top-k 4 leaves 8:4:2:1 -> cumulative 0.533, 0.8, 0.933, 1 */
    check_filter(0.93f, 0.0f, 4, (bool[5]){true, true, true, false, false});
    check_filter(0.95f, 0.0f, 4, (bool[5]){true, true, true, true, false});
}

Test(top_p, renormalises_kept_tokens) {
    /* top_p 0.74 keeps 1/2 and 1/4: renormalised 2/3 and 1/3. */
    vka_sampling_params p = plain_params();
    p.top_p = 0.74f;
    p.seed = 11;
    vka_sampler *s = make_sampler(5, &p);
    float l[5];
    int counts[5];
    powers_of_two_logits(l);
    const int n = 20000;
    count_draws(s, l, 5, n, counts);
    /* sd of the frequency is sqrt(p(1-p)/n) = 0.0033; tolerance 0.015 */
    cr_assert_float_eq((double)counts[0] / n, 2.0 / 3.0, 0.015);
    vka_sampler_free(s);
}

Test(min_p, drops_tokens_below_fraction_of_best) {
    /* relative to the best: 1, 0.5, 0.25, 0.125, 0.125 */
    bool all[5] = {true, true, true, true, true};
    bool three[5] = {true, true, true, false, false};
    bool two[5] = {true, true, false, false, false};
    bool one[5] = {true, false, false, false, false};
    check_filter(1.0f, 0.12f, 0, all);
    check_filter(1.0f, 0.2f, 0, three);
    check_filter(1.0f, 0.3f, 0, two);
    check_filter(1.0f, 0.6f, 0, one);
    check_filter(1.0f, 1.0f, 0, one);
    /* with top-p on (no prefilter) and through the top-k path: same sets */
    check_filter(0.999f, 0.2f, 0, three);
    check_filter(1.0f, 0.3f, 4, two);
    check_filter(0.999f, 0.3f, 4, two);
}

/* ------------------------------------------------------------------ temperature */

static double frequency_of_token1(float temperature, int n) {
    vka_sampling_params p = plain_params();
    p.temperature = temperature;
    p.seed = 2024;
    vka_sampler *s = make_sampler(2, &p);
    float l[2] = {0.0f, 1.0f};
    int counts[2];
    count_draws(s, l, 2, n, counts);
    vka_sampler_free(s);
    return (double)counts[1] / n;
}

Test(temperature, scales_logits) {
    const int n = 20000;
    /* p1 = 1 / (1 + exp(-1 / T)); sd sqrt(p(1-p)/n) <= 0.0036; tolerance 0.015 */
    cr_assert_float_eq(frequency_of_token1(1.0f, n), 1.0 / (1.0 + exp(-1.0)), 0.015);
    cr_assert_float_eq(frequency_of_token1(0.5f, n), 1.0 / (1.0 + exp(-2.0)), 0.015);
    cr_assert_float_eq(frequency_of_token1(2.0f, n), 1.0 / (1.0 + exp(-0.5)), 0.015);
    cr_assert_float_eq(frequency_of_token1(0.1f, n), 1.0 / (1.0 + exp(-10.0)), 0.015);
}

/* ------------------------------------------------------------------ composition */

Test(order, penalties_before_top_k) {
    vka_sampling_params p = plain_params();
    p.top_k = 1;
    p.repeat_penalty = 100.0f;
    vka_sampler *s = make_sampler(4, &p);
    float l[4] = {5.0f, 4.0f, 3.0f, 0.0f};
    int32_t hist[1] = {0};
    cr_assert_eq(vka_sampler_add_history(s, hist, 1), VKA_OK);
    for (int i = 0; i < 50; i++) cr_assert_eq(sample_one(s, l), 1); /* 5/100 < 4 */
    vka_sampler_free(s);
}

Test(order, top_k_before_top_p) {
    /* weights 4:2:1:1. After top-k 2: 2/3, 1/3, so top_p 0.6 keeps only id 0;
     * on the full distribution (1/2, 1/4, ...) it would keep two. */
    vka_sampling_params p = plain_params();
    p.top_k = 2;
    p.top_p = 0.6f;
    vka_sampler *s = make_sampler(4, &p);
    float l[4] = {logf(4.0f), logf(2.0f), 0.0f, 0.0f};
    for (int i = 0; i < 200; i++) cr_assert_eq(sample_one(s, l), 0);
    vka_sampler_free(s);
}

Test(order, temperature_before_top_p) {
    /* weights 4:2:1. T = 1: p0 = 4/7 = 0.571 >= 0.5 keeps id 0 alone.
     * T = 2: weights 2:1.414:1, p0 = 0.453 < 0.5, so ids 0 and 1 survive. */
    bool one[3] = {true, false, false}, two[3] = {true, true, false};
    float l[3] = {logf(4.0f), logf(2.0f), 0.0f};
    int counts[3];
    vka_sampling_params p = plain_params();
    p.top_p = 0.5f;
    vka_sampler *s = make_sampler(3, &p);
    count_draws(s, l, 3, 1000, counts);
    assert_drawn_set(counts, one, 3);
    vka_sampler_free(s);
    p.temperature = 2.0f;
    s = make_sampler(3, &p);
    count_draws(s, l, 3, 1000, counts);
    assert_drawn_set(counts, two, 3);
    vka_sampler_free(s);
}

Test(order, defaults_compose) {
    /* Defaults: top_k 40, T 0.8, top_p 0.95, min_p 0.05. 100 tokens with
     * logit -i/4: T-scaled weights exp(-i/3.2). min_p keeps i/3.2 <= ln 20,
     * i <= 9.58 -> ids 0..9; top-p 0.95 over the 40 kept by top-k needs the
     * first m with 1 - q^m >= 0.95 (1 - q^40), q = exp(-1/3.2): m = 10
     * (computed here below), so the result is ids 0..9. */
    const double q = exp(-1.0 / 3.2);
    int m = 0;
    while (1.0 - pow(q, m) < 0.95 * (1.0 - pow(q, 40))) m++;
    int min_p_keep = 0;
    while (pow(q, min_p_keep) >= 0.05) min_p_keep++;
    int expect = m < min_p_keep ? m : min_p_keep;
    cr_assert_eq(expect, 10, "hand computation: top-p keeps %d, min-p keeps %d", m, min_p_keep);

    vka_sampler *s = make_sampler(100, NULL);
    float l[100];
    int counts[100];
    bool want[100];
    for (int i = 0; i < 100; i++) {
        l[i] = -(float)i / 4.0f;
        want[i] = i < expect;
    }
    count_draws(s, l, 100, 20000, counts);
    assert_drawn_set(counts, want, 100);
    vka_sampler_free(s);
}

/* ------------------------------------------------------------------ draws */

Test(draw, uses_one_uniform_per_draw_best_first) {
    /* Equal logits: with n tokens the draw picks floor(u * n), u from the
     * reference RNG. Seed 0 uniforms 0.6013, 0.7478, 0.1030, 0.4166, 0.7330,
     * 0.9997 (from the published outputs) give these by hand: */
    static const int32_t two[6] = {1, 1, 0, 0, 1, 1};
    static const int32_t four[6] = {2, 2, 0, 1, 2, 3};
    vka_sampling_params p = plain_params();
    vka_sampler *s2 = make_sampler(2, &p);
    vka_sampler *s4 = make_sampler(4, &p);
    float l[4] = {0.5f, 0.5f, 0.5f, 0.5f};
    for (int i = 0; i < 6; i++) {
        cr_assert_eq(sample_one(s2, l), two[i], "draw %d", i);
        cr_assert_eq(sample_one(s4, l), four[i], "draw %d", i);
    }
    vka_sampler_free(s2);
    vka_sampler_free(s4);

    /* Longer: against the reference RNG, 5 unequal tokens, any seed. */
    p.seed = 31337;
    vka_sampler *s = make_sampler(5, &p);
    float w[5];
    powers_of_two_logits(w);
    /* sorted best first: ids 0,1,2 then the tie 3,4 in id order; cumulative 8,12,14,15,16 of 16 */
    static const double cum[5] = {8, 12, 14, 15, 16};
    ref_rng ref = ref_seed(31337);
    for (int i = 0; i < 2000; i++) {
        double r = ref_uniform(&ref) * 16.0;
        int32_t want = 0;
        while (want < 4 && !(r < cum[want])) want++;
        /* the float logits make the weights 8:4:2:1:1 only to ~1e-7: skip
         * draws that land that close to a boundary */
        bool near = false;
        for (int j = 0; j < 5; j++) near = near || fabs(r - cum[j]) < 1e-5;
        int32_t got = sample_one(s, w);
        if (!near) cr_assert_eq(got, want, "draw %d (r = %.9f)", i, r);
    }
    vka_sampler_free(s);
}

/* Equal logits make every weight exactly 1: the walk order is then the id
 * order (ties), a top-p cut keeps the first ceil(p * m) of m tokens, and
 * the draw picks floor(u * kept) exactly. Checked against the reference
 * RNG through the heap path and both sorts. */
static void check_equal_logits(uint32_t n, int32_t top_k, float top_p, uint32_t expect_kept) {
    vka_sampling_params p = plain_params();
    p.top_k = top_k;
    p.top_p = top_p;
    p.seed = 2718;
    vka_sampler *s = make_sampler(n, &p);
    float *l = malloc(n * sizeof *l);
    for (uint32_t i = 0; i < n; i++) l[i] = 0.25f;
    ref_rng ref = ref_seed(2718);
    for (int i = 0; i < 300; i++) {
        int32_t want = (int32_t)floor(ref_uniform(&ref) * (double)expect_kept);
        cr_assert_eq(sample_one(s, l), want, "n %u top_k %d top_p %g draw %d", n, top_k, (double)top_p, i);
    }
    free(l);
    vka_sampler_free(s);
}

Test(draw, equal_logits_walk_in_id_order) {
    check_equal_logits(100, 0, 1.0f, 100);      /* qsort */
    check_equal_logits(3000, 0, 1.0f, 3000);    /* radix sort */
    check_equal_logits(3000, 0, 0.5f, 1500);    /* top-p: 0.5 * 3000 */
    check_equal_logits(3000, 2000, 0.5f, 1000); /* heap top-k, then top-p */
    check_equal_logits(6000, 5000, 0.5f, 2500); /* top-k above the heap size: sort, then cut */
    check_equal_logits(6000, 5000, 0.25f, 1250);
    check_equal_logits(6000, 5000, 0.3f, 1501);  /* 0.3f is 0.30000001: 1500 falls short */
}

Test(draw, same_seed_same_sequence) {
    const uint32_t n = 1000;
    float *l = malloc(n * sizeof *l);
    ref_rng g = ref_seed(4);
    for (uint32_t i = 0; i < n; i++) l[i] = (float)(ref_uniform(&g) * 8.0 - 4.0);
    vka_sampling_params p;
    vka_sampling_params_default(&p);
    p.seed = 77;
    vka_sampler *a = make_sampler(n, &p), *b = make_sampler(n, &p);
    p.seed = 78;
    vka_sampler *c = make_sampler(n, &p);
    int32_t first[200];
    int differ = 0;
    for (int i = 0; i < 200; i++) {
        first[i] = sample_one(a, l);
        cr_assert_eq(sample_one(b, l), first[i], "draw %d", i);
        differ += sample_one(c, l) != first[i];
    }
    cr_assert_gt(differ, 20, "another seed should give another sequence");
    vka_sampler_reset(a);
    for (int i = 0; i < 200; i++) cr_assert_eq(sample_one(a, l), first[i], "after reset, draw %d", i);
    free(l);
    vka_sampler_free(a);
    vka_sampler_free(b);
    vka_sampler_free(c);
}

Test(draw, chi_square_matches_softmax) {
    /* 8 tokens with probabilities p_i = (i + 1) / 36 given as logits ln(i + 1). */
    enum { K = 8, N = 36000 };
    vka_sampling_params p = plain_params();
    p.seed = 123456789;
    vka_sampler *s = make_sampler(K, &p);
    float l[K];
    int counts[K];
    for (int i = 0; i < K; i++) l[i] = logf((float)(i + 1));
    count_draws(s, l, K, N, counts);
    double chi2 = 0.0;
    for (int i = 0; i < K; i++) {
        double e = N * (i + 1) / 36.0;
        chi2 += (counts[i] - e) * (counts[i] - e) / e;
    }
    /* 7 degrees of freedom: P(chi2 > 24.3) = 0.001. Generous bound 40. */
    cr_assert_lt(chi2, 40.0, "chi2 = %g, counts %d %d %d %d %d %d %d %d", chi2, counts[0], counts[1],
                 counts[2], counts[3], counts[4], counts[5], counts[6], counts[7]);
    vka_sampler_free(s);
}

/* ------------------------------------------------------------------ bad logits */

Test(logits, nan_never_chosen) {
    float l[6] = {NAN, 0.0f, NAN, 0.5f, -INFINITY, NAN};
    int counts[6];
    for (int32_t k = 0; k <= 3; k += 3) {   /* sort path and heap path */
        vka_sampling_params p = plain_params();
        p.top_k = k;
        vka_sampler *s = make_sampler(6, &p);
        count_draws(s, l, 6, 1000, counts);
        assert_drawn_set(counts, (bool[6]){false, true, false, true, false, false}, 6);
        vka_sampler_free(s);
    }

    vka_sampling_params p = greedy_params();
    vka_sampler *s = make_sampler(6, &p);
    cr_assert_eq(sample_one(s, l), 3);
    float g[6] = {NAN, -1.0f, NAN, -2.0f, NAN, NAN};
    cr_assert_eq(sample_one(s, g), 1);
    vka_sampler_free(s);
}

Test(logits, all_invalid_is_an_error) {
    float l[4] = {NAN, -INFINITY, NAN, -INFINITY};
    for (int greedy = 0; greedy < 2; greedy++) {
        for (int k = 0; k < 2; k++) {
            vka_sampling_params p = greedy ? greedy_params() : plain_params();
            p.top_k = k ? 2 : 0;
            vka_sampler *s = make_sampler(4, &p);
            int32_t t = 42;
            cr_assert_eq(vka_sampler_sample(s, l, &t), VKA_ERR_INVALID_ARGUMENT);
            cr_assert_not_null(strstr(vka_last_error(), "NaN"));
            vka_sampler_free(s);
        }
    }
}

Test(logits, positive_infinity_shares_probability) {
    vka_sampling_params p = plain_params();
    vka_sampler *s = make_sampler(5, &p);
    float l[5] = {0.0f, INFINITY, 1e30f, INFINITY, NAN};
    int counts[5];
    count_draws(s, l, 5, 1000, counts);
    assert_drawn_set(counts, (bool[5]){false, true, false, true, false}, 5);
    vka_sampler_free(s);
    p = greedy_params();
    s = make_sampler(5, &p);
    cr_assert_eq(sample_one(s, l), 1);
    vka_sampler_free(s);
}

Test(logits, extreme_values_stay_in_range) {
    vka_sampling_params p = plain_params();
    p.temperature = 1e-30f;
    p.repeat_penalty = 1.5f;
    p.frequency_penalty = 1e30f;
    vka_sampler *s = make_sampler(6, &p);
    float l[6] = {FLT_MAX, -FLT_MAX, 1e-40f, -1e-40f, FLT_MAX, 0.0f};
    int32_t hist[2] = {0, 3};
    cr_assert_eq(vka_sampler_add_history(s, hist, 2), VKA_OK);
    for (int i = 0; i < 100; i++) cr_assert_eq(sample_one(s, l), 4);
    vka_sampler_free(s);
}

Test(logits, large_vocabulary_all_paths) {
    /* Qwen-size vocabulary: default params (top-k heap), top-k off with top-p
     * (full sort), top-k off with only min-p (prefilter), large top-k. */
    const uint32_t n = 151936;
    float *l = malloc(n * sizeof *l);
    ref_rng g = ref_seed(8);
    for (uint32_t i = 0; i < n; i++) l[i] = (float)(ref_uniform(&g) * 20.0 - 10.0);
    l[1234] = NAN;
    vka_sampling_params variants[4];
    for (int v = 0; v < 4; v++) vka_sampling_params_default(&variants[v]);
    variants[1].top_k = 0;
    variants[2].top_k = 0;
    variants[2].top_p = 1.0f;
    variants[3].top_k = 5000;
    for (int v = 0; v < 4; v++) {
        vka_sampler *s = make_sampler(n, &variants[v]);
        for (int i = 0; i < 20; i++) {
            int32_t t = sample_one(s, l);
            cr_assert(t >= 0 && (uint32_t)t < n && t != 1234);
            /* min_p 0.05 at T 0.8 keeps logits within 0.8 ln 20 = 2.40 of the best */
            cr_assert_gt(l[t], 10.0f - 2.4f - 0.01f, "variant %d: token %d logit %g", v, t, (double)l[t]);
            cr_assert_eq(vka_sampler_accept(s, t), VKA_OK);
        }
        vka_sampler_free(s);
    }
    free(l);
}

Test(logits, best_token_found_anywhere) {
    /* 1007 = 62 blocks of 16 + 15: the best token in the unaligned head
     * (after a heap fill of 3), in a block, and in the tail. */
    const uint32_t n = 1007;
    static const uint32_t where[4] = {5, 500, 1000, 1006};
    float *l = malloc(n * sizeof *l);
    for (int w = 0; w < 4; w++) {
        for (uint32_t i = 0; i < n; i++) l[i] = -(float)(i % 7);
        l[where[w]] = 5.0f;
        for (int v = 0; v < 3; v++) {
            vka_sampling_params p = plain_params();
            if (v == 0) p.temperature = 0.0f;
            if (v == 1) p.top_k = 3;
            p.min_p = 0.5f;          /* only the best survives: e^-5 < 0.5 */
            vka_sampler *s = make_sampler(n, &p);
            cr_assert_eq(sample_one(s, l), (int32_t)where[w], "variant %d", v);
            vka_sampler_free(s);
        }
    }
    free(l);
}

Test(logits, single_token_vocabulary) {
    vka_sampler *s = make_sampler(1, NULL);
    float l[1] = {-3.0f};
    for (int i = 0; i < 5; i++) cr_assert_eq(sample_one(s, l), 0);
    vka_sampler_free(s);
}

/* ------------------------------------------------------------------ grammar hook */

typedef struct fake_grammar {
    bool allowed[8];
    int32_t final_token;   /* accepting it completes the grammar */
    bool done;
    int accepts_calls, mask_calls, accept_calls, reset_calls, free_calls;
} fake_grammar;

static bool fake_accepts(void *state, int32_t token) {
    fake_grammar *g = state;
    g->accepts_calls++;
    return g->allowed[token];
}

static vka_status fake_mask(void *state, float *logits, uint32_t n_vocab) {
    fake_grammar *g = state;
    g->mask_calls++;
    for (uint32_t i = 0; i < n_vocab; i++)
        if (!g->allowed[i]) logits[i] = -INFINITY;
    return VKA_OK;
}

static vka_status fake_accept(void *state, int32_t token) {
    fake_grammar *g = state;
    g->accept_calls++;
    if (!g->allowed[token]) return VKA_ERR_GRAMMAR;
    if (token == g->final_token) g->done = true;
    return VKA_OK;
}

static bool fake_is_done(void *state) { return ((fake_grammar *)state)->done; }

static void fake_reset(void *state) {
    fake_grammar *g = state;
    g->reset_calls++;
    g->done = false;
}

static void fake_free(void *state) { ((fake_grammar *)state)->free_calls++; }

static vka_sampler *make_constrained(const vka_sampling_params *p, fake_grammar *g) {
    vka_sampler *s = make_sampler(8, p);
    vka_sampler_constraint c = {g, fake_accepts, fake_mask, fake_accept, fake_is_done, fake_reset, fake_free, NULL, NULL};
    vka_sampler_set_constraint(s, &c);
    return s;
}

Test(grammar_hook, mask_before_top_k) {
    /* top_k 1 after masking id 0 keeps id 1; masking after top-k would leave nothing. */
    fake_grammar g = {.allowed = {false, true, true, true, true, true, true, true}, .final_token = -1};
    vka_sampling_params p = plain_params();
    p.top_k = 1;
    vka_sampler *s = make_constrained(&p, &g);
    float l[8] = {5, 4, 3, 2, 1, 0, -1, -2};
    for (int i = 0; i < 20; i++) cr_assert_eq(sample_one(s, l), 1);
    cr_assert_eq(g.mask_calls, 20);
    vka_sampler_free(s);
    cr_assert_eq(g.free_calls, 1);
}

Test(grammar_hook, mask_after_penalties) {
    /* id 1 is penalised below id 2, id 0 is masked: id 2 wins. */
    fake_grammar g = {.allowed = {false, true, true, true, true, true, true, true}, .final_token = -1};
    vka_sampling_params p = greedy_params();
    p.presence_penalty = 2.0f;
    vka_sampler *s = make_constrained(&p, &g);
    int32_t hist[1] = {1};
    cr_assert_eq(vka_sampler_add_history(s, hist, 1), VKA_OK);
    float l[8] = {9, 4, 3, 0, 0, 0, 0, 0};
    float before[8];
    memcpy(before, l, sizeof l);
    cr_assert_eq(sample_one(s, l), 2);
    cr_assert_eq(memcmp(before, l, sizeof l), 0, "the caller's logits must not be modified");
    vka_sampler_free(s);
}

Test(grammar_hook, greedy_checks_one_token_first) {
    fake_grammar g = {.allowed = {true, true, false, true, true, true, true, true}, .final_token = 3};
    vka_sampling_params p = greedy_params();
    vka_sampler *s = make_constrained(&p, &g);
    float allowed_best[8] = {0, 1, 0, 0, 0, 0, 0, 0};
    cr_assert_eq(sample_one(s, allowed_best), 1);
    cr_assert_eq(g.mask_calls, 0, "an allowed argmax needs no mask");
    float banned_best[8] = {0, 1, 5, 0, 0, 0, 0, 0};
    cr_assert_eq(sample_one(s, banned_best), 1);
    cr_assert_eq(g.mask_calls, 1);
    vka_sampler_free(s);
}

Test(grammar_hook, accept_and_done) {
    fake_grammar g = {.allowed = {true, true, false, true, true, true, true, true}, .final_token = 3};
    vka_sampling_params p = plain_params();
    vka_sampler *s = make_constrained(&p, &g);
    cr_assert_eq(vka_sampler_is_done(s), false);
    cr_assert_eq(vka_sampler_accept(s, 2), VKA_ERR_GRAMMAR);
    cr_assert_eq(vka_sampler_accept(s, 1), VKA_OK);
    cr_assert_eq(vka_sampler_is_done(s), false);
    cr_assert_eq(vka_sampler_accept(s, 3), VKA_OK);
    cr_assert_eq(vka_sampler_is_done(s), true);
    vka_sampler_reset(s);
    cr_assert_eq(g.reset_calls, 1);
    cr_assert_eq(vka_sampler_is_done(s), false);
    vka_sampler_free(s);
    cr_assert_eq(g.free_calls, 1);
}

Test(grammar_hook, nothing_allowed_is_a_grammar_error) {
    fake_grammar g = {.final_token = -1}; /* nothing allowed */
    float l[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    for (int greedy = 0; greedy < 2; greedy++) {
        vka_sampling_params p = greedy ? greedy_params() : plain_params();
        vka_sampler *s = make_constrained(&p, &g);
        int32_t t;
        cr_assert_eq(vka_sampler_sample(s, l, &t), VKA_ERR_GRAMMAR);
        vka_sampler_free(s);
    }
    cr_assert_eq(g.free_calls, 2);
}

Test(grammar_hook, replacing_frees_the_old_one) {
    fake_grammar a = {.final_token = -1}, b = {.final_token = -1};
    vka_sampling_params p = plain_params();
    vka_sampler *s = make_constrained(&p, &a);
    vka_sampler_constraint c = {&b, fake_accepts, fake_mask, fake_accept, fake_is_done, fake_reset, fake_free, NULL, NULL};
    vka_sampler_set_constraint(s, &c);
    cr_assert_eq(a.free_calls, 1);
    vka_sampler_set_constraint(s, NULL);
    cr_assert_eq(b.free_calls, 1);
    cr_assert_eq(vka_sampler_is_done(s), false);
    vka_sampler_free(s);
    cr_assert_eq(a.free_calls + b.free_calls, 2);
}

/* ------------------------------------------------------------------ logit_bias */

/* Biases are added before every other stage; -inf bans a token even under
 * greedy sampling; the caller's array is copied; bad entries are refused. */
Test(logit_bias, adds_and_bans) {
    float logits[4] = {1.0f, 3.0f, 2.0f, 0.0f};
    vka_logit_bias bias[] = {{1, -INFINITY}, {3, 1.5f}, {3, 1.0f}};
    vka_sampling_params p = greedy_params();
    p.logit_bias = bias;
    p.n_logit_bias = 2;
    vka_sampler *s = make_sampler(4, &p);
    bias[0].token = 0;   /* the sampler kept its own copy */
    cr_expect_eq(sample_one(s, logits), 2, "token 1 is banned: 2 (2.0) beats 3 (1.5)");
    vka_sampler_free(s);
    p.n_logit_bias = 3;  /* token 3 listed twice: 0 + 1.5 + 1.0 beats 2.0 */
    bias[0].token = 1;
    s = make_sampler(4, &p);
    cr_expect_eq(sample_one(s, logits), 3);
    vka_sampler_free(s);
    /* sampled draws never pick a banned token */
    p = plain_params();
    vka_logit_bias ban[] = {{1, -INFINITY}, {2, -INFINITY}};
    p.logit_bias = ban;
    p.n_logit_bias = 2;
    s = make_sampler(4, &p);
    for (int i = 0; i < 200; i++) {
        int32_t t = sample_one(s, logits);
        cr_assert(t == 0 || t == 3, "draw %d gave banned token %d", i, t);
    }
    vka_sampler_free(s);
}

Test(logit_bias, bad_entries_are_refused) {
    vka_sampling_params p = greedy_params();
    vka_sampler *s = NULL;
    vka_logit_bias out_of_range[] = {{4, 1.0f}}, nan_bias[] = {{0, NAN}}, plus_inf[] = {{0, INFINITY}};
    p.logit_bias = out_of_range;
    p.n_logit_bias = 1;
    cr_expect_eq(vka_sampler_new(NULL, 4, &p, &s), VKA_ERR_INVALID_ARGUMENT);
    cr_expect_neq(strstr(vka_last_error(), "outside the vocabulary"), NULL, "%s", vka_last_error());
    p.logit_bias = nan_bias;
    cr_expect_eq(vka_sampler_new(NULL, 4, &p, &s), VKA_ERR_INVALID_ARGUMENT);
    p.logit_bias = plus_inf;
    cr_expect_eq(vka_sampler_new(NULL, 4, &p, &s), VKA_ERR_INVALID_ARGUMENT);
    p.logit_bias = NULL;
    cr_expect_eq(vka_sampler_new(NULL, 4, &p, &s), VKA_ERR_INVALID_ARGUMENT);
    cr_expect_null(s);
}
