/* test_generate.c — the generation loop on stories260K: the llama2.c greedy
 * goldens, stop strings across token boundaries, callbacks, cancellation,
 * limits, seeded sampling, and whether output under a grammar is complete. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "golden.h"
#include "test_util.h"
#include "vkagent.h"

static vka_model *load_stories(void) {
    const char *path = test_data_path("models/stories260K.gguf");
    REQUIRE_FIXTURE(path);
    vka_model *m = NULL;
    vka_model_params mp;
    vka_model_params_default(&mp);
    mp.device = "cpu";
    cr_assert_eq(vka_model_load(path, &mp, &m), VKA_OK, "%s", vka_last_error());
    return m;
}

static vka_session *new_session(vka_model *m, uint32_t n_ctx) {
    vka_session_params sp;
    vka_session_params_default(&sp);
    sp.n_ctx = n_ctx;
    vka_session *s = NULL;
    cr_assert_eq(vka_session_create(m, &sp, &s), VKA_OK, "%s", vka_last_error());
    return s;
}

static void greedy_params(vka_generate_params *gp, int max_tokens) {
    vka_generate_params_default(gp);
    gp->sampling.temperature = 0;
    gp->max_tokens = max_tokens;
}

/* Every 64- and 200-step golden: the same text as llama2.c's run.c. */
static vka_session *stories_session(void *model) { return new_session(model, 512); }

Test(generate, greedy_matches_llama2c_goldens, .timeout = 300) {
    cJSON *g = golden_load(test_data_path("models/stories260K.golden.json"));
    if (!g) cr_skip_test("fixture missing: models/stories260K.golden.json");
    vka_model *m = load_stories();
    golden_expect_greedy(g, stories_session, m, "CPU");
    vka_model_free(m);
    cJSON_Delete(g);
}

typedef struct collected {
    char text[4096];
    size_t len;
    int calls;
    int stop_after;          /* return false after this many calls (0: never) */
    vka_session *cancel_at;  /* cancel this session after stop_after calls */
} collected;

static bool collect(const char *piece, size_t len, int32_t token, void *user) {
    (void)token;
    collected *c = user;
    cr_assert_lt(c->len + len, sizeof c->text);
    memcpy(c->text + c->len, piece, len);
    c->len += len;
    c->text[c->len] = '\0';
    c->calls++;
    if (c->cancel_at && c->calls == c->stop_after) vka_session_cancel(c->cancel_at);
    return c->cancel_at || !c->stop_after || c->calls < c->stop_after;
}

/* Greedy from "Once upon a time": ", there was a little girl named Lily."
 * The stop string "le gi" spans the tokens " little", " g" and "ir". */
Test(generate, stop_string_across_tokens) {
    vka_model *m = load_stories();
    vka_session *s = new_session(m, 128);
    vka_generate_params gp;
    greedy_params(&gp, 40);
    const char *stops[] = {"le gi", "never appears"};
    collected c = {0};
    gp.stop = stops;
    gp.n_stop = 2;
    gp.on_piece = collect;
    gp.user = &c;
    vka_generate_result r;
    cr_assert_eq(vka_generate(s, "Once upon a time", &gp, &r), VKA_OK, "%s", vka_last_error());
    cr_expect_eq(r.stop_reason, VKA_STOP_STRING);
    cr_expect_str_eq(r.text, ", there was a litt");
    cr_expect_str_eq(c.text, r.text, "streamed pieces must equal the result text");
    vka_generate_result_clear(&r);
    vka_session_free(s);
    vka_model_free(m);
}

Test(generate, callback_can_stop) {
    vka_model *m = load_stories();
    vka_session *s = new_session(m, 128);
    vka_generate_params gp;
    greedy_params(&gp, 40);
    collected c = {.stop_after = 3};
    gp.on_piece = collect;
    gp.user = &c;
    vka_generate_result r;
    cr_assert_eq(vka_generate(s, "Once upon a time", &gp, &r), VKA_OK);
    cr_expect_eq(r.stop_reason, VKA_STOP_CALLBACK);
    cr_expect_eq(c.calls, 3);
    cr_expect_eq(r.n_generated, 3);
    vka_generate_result_clear(&r);
    vka_session_free(s);
    vka_model_free(m);
}

Test(generate, cancel_stops_at_next_token) {
    vka_model *m = load_stories();
    vka_session *s = new_session(m, 128);
    vka_generate_params gp;
    greedy_params(&gp, 40);
    vka_generate_result r;
    vka_session_cancel(s); /* with nothing in progress: nothing to stop, nothing kept */
    gp.max_tokens = 3;
    cr_assert_eq(vka_generate(s, "Once", &gp, &r), VKA_OK);
    cr_expect_eq(r.stop_reason, VKA_STOP_MAX_TOKENS);
    cr_expect_eq(r.n_generated, 3);
    vka_generate_result_clear(&r);
    gp.max_tokens = 40;
    collected c = {.stop_after = 4, .cancel_at = s};
    gp.on_piece = collect;
    gp.user = &c;
    cr_assert_eq(vka_generate(s, " upon", &gp, &r), VKA_OK);
    cr_expect_eq(r.stop_reason, VKA_STOP_CANCELLED);
    cr_expect_eq(r.n_generated, 4);
    vka_generate_result_clear(&r);
    vka_session_free(s);
    vka_model_free(m);
}

Test(generate, limits) {
    vka_model *m = load_stories();
    vka_session *s = new_session(m, 10);
    vka_generate_params gp;
    greedy_params(&gp, 100);
    vka_generate_result r;
    cr_assert_eq(vka_generate(s, "Once upon a time", &gp, &r), VKA_OK);
    cr_expect_eq(r.stop_reason, VKA_STOP_CONTEXT_FULL);
    cr_expect_eq(r.n_prompt_tokens, 5);
    cr_expect_eq(r.n_generated, 5);
    vka_generate_result_clear(&r);
    vka_session_reset(s);
    greedy_params(&gp, 2);
    cr_assert_eq(vka_generate(s, "Once upon a time", &gp, &r), VKA_OK);
    cr_expect_eq(r.stop_reason, VKA_STOP_MAX_TOKENS);
    cr_expect_eq(r.n_generated, 2);
    vka_generate_result_clear(&r);
    /* a prompt that does not fit is an error, and the session keeps its tokens */
    uint32_t before = vka_session_n_past(s);
    cr_expect_eq(vka_generate(s, "Once upon a time there was a big dog", &gp, &r), VKA_ERR_CONTEXT_FULL);
    cr_expect_eq(vka_session_n_past(s), before);
    vka_generate_result_clear(&r);
    vka_session_free(s);
    vka_model_free(m);
}

/* Same seed, same text; another seed, another text (temperature 1). */
Test(generate, seeded_sampling_is_reproducible) {
    vka_model *m = load_stories();
    char *texts[3];
    uint64_t seeds[3] = {42, 42, 7};
    for (int i = 0; i < 3; i++) {
        vka_session *s = new_session(m, 256);
        vka_generate_params gp;
        vka_generate_params_default(&gp);
        gp.sampling.temperature = 1.0f;
        gp.sampling.seed = seeds[i];
        gp.max_tokens = 60;
        vka_generate_result r;
        cr_assert_eq(vka_generate(s, "Once upon a time", &gp, &r), VKA_OK);
        texts[i] = strdup(r.text);
        vka_generate_result_clear(&r);
        vka_session_free(s);
    }
    cr_expect_str_eq(texts[0], texts[1]);
    cr_expect_str_neq(texts[0], texts[2]);
    for (int i = 0; i < 3; i++) free(texts[i]);
    vka_model_free(m);
}

Test(generate, bad_arguments) {
    vka_model *m = load_stories();
    vka_session *s = new_session(m, 64);
    vka_generate_params gp;
    vka_generate_params_default(&gp);
    vka_generate_result r;
    cr_expect_eq(vka_generate(NULL, "x", &gp, &r), VKA_ERR_INVALID_ARGUMENT);
    cr_expect_eq(vka_generate(s, NULL, &gp, &r), VKA_ERR_INVALID_ARGUMENT);
    const char *empty_stop[] = {""};
    gp.stop = empty_stop;
    gp.n_stop = 1;
    cr_expect_eq(vka_generate(s, "x", &gp, &r), VKA_ERR_INVALID_ARGUMENT);
    vka_generate_result_clear(&r);
    vka_session_free(s);
    vka_model_free(m);
}

/* The step-wise generator gives vka_generate's text, a few tokens per call,
 * with the prompt fed in chunks; freeing it early keeps what was generated. */
Test(generate, stepwise_equals_generate) {
    vka_model *m = load_stories();
    vka_generate_params gp;
    vka_generate_params_default(&gp);
    gp.sampling.temperature = 0.9f;
    gp.sampling.seed = 11;
    gp.max_tokens = 50;
    const char *stops[] = {"park"};
    gp.stop = stops;
    gp.n_stop = 1;
    vka_session *a = new_session(m, 256), *b = new_session(m, 256);
    vka_generate_result whole;
    cr_assert_eq(vka_generate(a, "Once upon a time there was a girl", &gp, &whole), VKA_OK);

    collected c = {0};
    gp.on_piece = collect;
    gp.user = &c;
    vka_generator *g = NULL;
    cr_assert_eq(vka_generator_create(b, "Once upon a time there was a girl", &gp, &g), VKA_OK, "%s", vka_last_error());
    gp.stop = NULL; /* the generator keeps its own copy of the stop strings */
    gp.n_stop = 0;
    int steps = 0;
    bool done = false;
    while (!done) {
        cr_assert_eq(vka_generator_step(g, 3, 4, &done), VKA_OK, "%s", vka_last_error());
        cr_assert_lt(++steps, 100);
        cr_assert_leq(vka_generator_result(g)->n_generated, (uint32_t)(3 * steps));
    }
    cr_expect_geq(steps, 3, "the 10-token prompt in chunks of 4 takes 3 steps before sampling");
    const vka_generate_result *r = vka_generator_result(g);
    cr_expect_str_eq(r->text, whole.text);
    cr_expect_str_eq(c.text, whole.text, "streamed pieces equal the text");
    cr_expect_eq(r->stop_reason, whole.stop_reason);
    cr_expect_eq(r->n_generated, whole.n_generated);
    cr_expect_eq(r->n_prompt_tokens, whole.n_prompt_tokens);
    cr_expect(vka_generator_done(g));
    vka_generator_free(g);
    cr_expect_arr_eq(vka_session_tokens(a), vka_session_tokens(b), vka_session_n_past(a) * sizeof(int32_t));

    /* ended early: the session keeps the generated tokens */
    vka_session_reset(b);
    gp.on_piece = NULL;
    cr_assert_eq(vka_generator_create(b, "Once", &gp, &g), VKA_OK);
    cr_assert_eq(vka_generator_step(g, 1, 0, &done), VKA_OK); /* prefill */
    cr_assert_eq(vka_generator_step(g, 5, 0, &done), VKA_OK);
    cr_expect_eq(vka_generator_result(g)->n_generated, 5);
    vka_generator_free(g);
    cr_expect_eq(vka_session_n_past(b), 2 + 5);
    vka_generate_result_clear(&whole);
    vka_session_free(a);
    vka_session_free(b);
    vka_model_free(m);
}

/* ------------------------------------------------------------ grammar_complete */

/* Generates from `prompt` in a fresh session of n_ctx tokens. */
static vka_generate_result in_fresh_session(vka_model *m, uint32_t n_ctx, const char *prompt,
                                            const vka_generate_params *gp) {
    vka_session *s = new_session(m, n_ctx);
    vka_generate_result r;
    cr_assert_eq(vka_generate(s, prompt, gp, &r), VKA_OK, "%s", vka_last_error());
    vka_session_free(s);
    return r;
}

/* Greedy under `grammar` (NULL: none) from `prompt` in a 128-token session. */
static vka_generate_result constrained(vka_model *m, const char *prompt, const char *grammar, int max_tokens,
                                       const char *stop) {
    vka_generate_params gp;
    greedy_params(&gp, max_tokens);
    gp.sampling.grammar = grammar;
    const char *stops[] = {stop};
    gp.stop = stop ? stops : NULL;
    gp.n_stop = stop ? 1 : 0;
    return in_fresh_session(m, 128, prompt, &gp);
}

#define EXPECT_OUTCOME(r, reason, complete, want_text)                                                  \
    do {                                                                                                \
        cr_expect_eq((r).stop_reason, reason, "stop %s", vka_stop_reason_name((r).stop_reason));         \
        cr_expect_eq((r).grammar_complete, complete, "'%s' complete: %d", (r).text, (r).grammar_complete); \
        if (want_text) cr_expect_str_eq((r).text, (const char *)(want_text));                           \
        vka_generate_result_clear(&r);                                                                  \
    } while (0)

/* The greedy continuation forced by a grammar: cut off by max_tokens it is
 * incomplete; let run, the grammar ends it and it is complete. */
Test(generate, grammar_complete_after_max_tokens_or_the_grammar) {
    vka_model *m = load_stories();
    const char *story = "root ::= \", there was a little girl\"";
    vka_generate_result r = constrained(m, "Once upon a time", story, 3, NULL);
    EXPECT_OUTCOME(r, VKA_STOP_MAX_TOKENS, false, NULL);
    r = constrained(m, "Once upon a time", story, 40, NULL);
    EXPECT_OUTCOME(r, VKA_STOP_GRAMMAR, true, ", there was a little girl");
    /* max_tokens where the grammar may end (though more could follow): complete */
    r = constrained(m, "Once upon a time", "root ::= [a-z ,]+", 4, NULL);
    EXPECT_OUTCOME(r, VKA_STOP_MAX_TOKENS, true, ", there was a");
    /* without a grammar every output is complete */
    r = constrained(m, "Once upon a time", NULL, 3, NULL);
    EXPECT_OUTCOME(r, VKA_STOP_MAX_TOKENS, true, NULL);
    vka_model_free(m);
}

/* A JSON schema (and any-JSON) document cut off after a few tokens. */
Test(generate, grammar_complete_json_cut_off) {
    vka_model *m = load_stories();
    vka_generate_params gp;
    greedy_params(&gp, 4);
    gp.sampling.json_schema = "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"}},"
                              "\"required\":[\"name\"],\"additionalProperties\":false}";
    vka_generate_result r = in_fresh_session(m, 128, "Once upon a time", &gp);
    EXPECT_OUTCOME(r, VKA_STOP_MAX_TOKENS, false, NULL);
    gp.sampling.json_schema = NULL;
    gp.sampling.json = true;
    gp.max_tokens = 1; /* complete exactly when the one token is a whole value (a digit, say) */
    r = in_fresh_session(m, 128, "Once upon a time", &gp);
    cJSON *parsed = cJSON_Parse(r.text);
    cr_expect_eq(r.grammar_complete, parsed != NULL, "'%s'", r.text);
    cJSON_Delete(parsed);
    vka_generate_result_clear(&r);
    vka_model_free(m);
}

/* A stop string cuts inside what the grammar accepted: completeness is
 * decided on the text returned, not on the grammar's own position. */
Test(generate, grammar_complete_with_stop_strings) {
    vka_model *m = load_stories();
    /* the stop string comes before the grammar's end */
    vka_generate_result r =
        constrained(m, "Once upon a time", "root ::= \", there was a little girl\"", 40, "little");
    EXPECT_OUTCOME(r, VKA_STOP_STRING, false, ", there was a ");
    /* the grammar may end where the text was cut */
    r = constrained(m, "Once upon a time", "root ::= \", there was a\" [a-z ]*", 40, " little");
    EXPECT_OUTCOME(r, VKA_STOP_STRING, true, ", there was a");
    /* the grammar accepted a complete ", there was a little", but the text
     * returned ends inside it */
    r = constrained(m, "Once upon a time", "root ::= \", there was a little\" [a-z ]*", 40, "ttle");
    EXPECT_OUTCOME(r, VKA_STOP_STRING, false, ", there was a li");
    /* right after BOS the first piece loses its space, which the grammar saw */
    r = constrained(m, "", "root ::= \" Once upon a\" [a-z ]*", 40, " time");
    EXPECT_OUTCOME(r, VKA_STOP_STRING, true, "Once upon a");
    r = constrained(m, "", "root ::= \" Once upon a time\" [a-z ]*", 40, " time");
    EXPECT_OUTCOME(r, VKA_STOP_STRING, false, "Once upon a");
    vka_model_free(m);
}

/* Cancelled, stopped by the callback, or out of context: incomplete. */
Test(generate, grammar_complete_after_cancel_callback_or_full_context) {
    vka_model *m = load_stories();
    const char *story = "root ::= \", there was a little girl named Lily.\"";
    vka_session *s = new_session(m, 128);
    vka_generate_params gp;
    greedy_params(&gp, 40);
    gp.sampling.grammar = story;
    collected c = {.stop_after = 3, .cancel_at = s};
    gp.on_piece = collect;
    gp.user = &c;
    vka_generate_result r;
    cr_assert_eq(vka_generate(s, "Once upon a time", &gp, &r), VKA_OK, "%s", vka_last_error());
    EXPECT_OUTCOME(r, VKA_STOP_CANCELLED, false, NULL);
    vka_session_reset(s);
    c = (collected){.stop_after = 3};
    cr_assert_eq(vka_generate(s, "Once upon a time", &gp, &r), VKA_OK, "%s", vka_last_error());
    EXPECT_OUTCOME(r, VKA_STOP_CALLBACK, false, NULL);
    vka_session_free(s);

    greedy_params(&gp, 100);
    gp.sampling.grammar = story;
    r = in_fresh_session(m, 10, "Once upon a time", &gp);
    EXPECT_OUTCOME(r, VKA_STOP_CONTEXT_FULL, false, NULL);
    vka_model_free(m);
}

/* Step-wise: incomplete until the grammar has ended the generation. */
Test(generate, grammar_complete_stepwise) {
    vka_model *m = load_stories();
    vka_session *s = new_session(m, 128);
    vka_generate_params gp;
    greedy_params(&gp, 40);
    gp.sampling.grammar = "root ::= \", there was\"";
    vka_generator *g = NULL;
    cr_assert_eq(vka_generator_create(s, "Once upon a time", &gp, &g), VKA_OK, "%s", vka_last_error());
    bool done = false;
    cr_assert_eq(vka_generator_step(g, 1, 0, &done), VKA_OK); /* prefill */
    cr_assert_eq(vka_generator_step(g, 1, 0, &done), VKA_OK);
    cr_expect_not(done);
    cr_expect_not(vka_generator_result(g)->grammar_complete);
    while (!done) cr_assert_eq(vka_generator_step(g, 4, 0, &done), VKA_OK, "%s", vka_last_error());
    cr_expect_eq(vka_generator_result(g)->stop_reason, VKA_STOP_GRAMMAR);
    cr_expect(vka_generator_result(g)->grammar_complete);
    vka_generator_free(g);
    vka_session_free(s);
    vka_model_free(m);
}

/* A cancel names the generation it saw in progress: one that lands after
 * that generation ended (here: its generator freed unstepped) does not stop
 * the next one. */
Test(generate, cancel_does_not_carry_over) {
    vka_model *m = load_stories();
    vka_session *s = new_session(m, 128);
    vka_generate_params gp;
    greedy_params(&gp, 5);
    vka_generator *g = NULL;
    cr_assert_eq(vka_generator_create(s, "Once", &gp, &g), VKA_OK, "%s", vka_last_error());
    vka_session_cancel(s);
    vka_generator_free(g);
    vka_generate_result r;
    cr_assert_eq(vka_generate(s, " upon", &gp, &r), VKA_OK, "%s", vka_last_error());
    cr_expect_eq(r.stop_reason, VKA_STOP_MAX_TOKENS, "stopped by %s", vka_stop_reason_name(r.stop_reason));
    cr_expect_eq(r.n_generated, 5);
    vka_generate_result_clear(&r);

    /* the generator that was in progress is the one stopped */
    cr_assert_eq(vka_generator_create(s, " a", &gp, &g), VKA_OK, "%s", vka_last_error());
    vka_session_cancel(s);
    bool done = false;
    cr_assert_eq(vka_generator_step(g, 0, 0, &done), VKA_OK); /* the prompt */
    cr_assert_eq(vka_generator_step(g, 1, 0, &done), VKA_OK);
    cr_expect(done);
    cr_expect_eq(vka_generator_result(g)->stop_reason, VKA_STOP_CANCELLED);
    cr_expect_eq(vka_generator_result(g)->n_generated, 0);
    cr_expect_eq(vka_generator_result(g)->n_prompt_tokens, 0, "cancelled before its prompt was fed");
    vka_generator_free(g);
    vka_session_free(s);
    vka_model_free(m);
}

/* vka_generator_cancel stops its own generator and no other. */
Test(generate, generator_cancel_is_per_generator) {
    vka_model *m = load_stories();
    vka_session *a = new_session(m, 64), *b = new_session(m, 64);
    vka_generate_params gp;
    greedy_params(&gp, 4);
    vka_generator *ga = NULL, *gb = NULL;
    cr_assert_eq(vka_generator_create(a, "Once", &gp, &ga), VKA_OK, "%s", vka_last_error());
    cr_assert_eq(vka_generator_create(b, "Once", &gp, &gb), VKA_OK, "%s", vka_last_error());
    vka_generator_cancel(ga);
    bool done_a = false, done_b = false;
    while (!done_a) cr_assert_eq(vka_generator_step(ga, 8, 0, &done_a), VKA_OK);
    while (!done_b) cr_assert_eq(vka_generator_step(gb, 8, 0, &done_b), VKA_OK);
    cr_expect_eq(vka_generator_result(ga)->stop_reason, VKA_STOP_CANCELLED);
    cr_expect_eq(vka_generator_result(gb)->stop_reason, VKA_STOP_MAX_TOKENS);
    cr_expect_eq(vka_generator_result(gb)->n_generated, 4);
    vka_generator_free(ga);
    vka_generator_free(gb);
    vka_session_free(a);
    vka_session_free(b);
    vka_model_free(m);
}

/* While a generator is open, whatever would change the session is refused
 * with VKA_ERR_BUSY; reads work; after vka_generator_free all work again. */
Test(generate, open_generator_makes_the_session_busy) {
    vka_model *m = load_stories();
    vka_session *s = new_session(m, 64);
    vka_generator *g = NULL, *g2 = NULL;
    cr_assert_eq(vka_generator_create(s, "Once", NULL, &g), VKA_OK, "%s", vka_last_error()); /* NULL: defaults */
    cr_assert_eq(vka_generator_step(g, 2, 0, NULL), VKA_OK, "%s", vka_last_error());
    int32_t tok = 1;
    vka_generate_result r;
    vka_session *fork = NULL;
    cr_expect_eq(vka_generator_create(s, "x", NULL, &g2), VKA_ERR_BUSY);
    cr_expect_null(g2);
    cr_expect_eq(vka_generate(s, "x", NULL, &r), VKA_ERR_BUSY);
    cr_expect_neq(strstr(vka_last_error(), "generator is open"), NULL, "message: %s", vka_last_error());
    cr_expect_eq(vka_session_feed(s, &tok, 1), VKA_ERR_BUSY);
    float logits[512];
    cr_expect_eq(vka_session_feed_all_logits(s, &tok, 1, logits), VKA_ERR_BUSY);
    cr_expect_eq(vka_session_reset(s), VKA_ERR_BUSY);
    cr_expect_eq(vka_session_rewind(s, 0), VKA_ERR_BUSY);
    cr_expect_eq(vka_session_fork(s, &fork), VKA_ERR_BUSY);
    cr_expect_null(fork);
    cr_expect_eq(vka_session_chat(s, "[{\"role\": \"user\", \"content\": \"hi\"}]", NULL, NULL, &r), VKA_ERR_BUSY);
    cr_expect_str_eq(vka_status_name(VKA_ERR_BUSY), "VKA_ERR_BUSY");
    cr_expect_gt(vka_session_n_past(s), 0);
    cr_expect_eq(vka_generator_step(g, 2, 0, NULL), VKA_OK, "the generator itself goes on: %s", vka_last_error());
    vka_generator_free(g);
    cr_expect_eq(vka_session_rewind(s, 1), VKA_OK, "%s", vka_last_error());
    cr_expect_eq(vka_generate(s, " upon", NULL, &r), VKA_OK, "NULL params are the defaults: %s", vka_last_error());
    vka_generate_result_clear(&r);
    vka_session_free(s);
    vka_model_free(m);
}

/* A session freed under an open generator ends it: later steps fail
 * cleanly and the generator can still be freed (ASan checks the memory). */
Test(generate, session_freed_under_a_generator) {
    vka_model *m = load_stories();
    vka_session *s = new_session(m, 64);
    vka_generator *g = NULL;
    cr_assert_eq(vka_generator_create(s, "Once", NULL, &g), VKA_OK, "%s", vka_last_error());
    cr_assert_eq(vka_generator_step(g, 1, 0, NULL), VKA_OK);
    vka_session_free(s);
    cr_expect(vka_generator_done(g));
    cr_expect_eq(vka_generator_step(g, 1, 0, NULL), VKA_OK, "a done generator's step does nothing");
    cr_expect_eq(vka_generator_result(g)->stop_reason, VKA_STOP_CANCELLED);
    vka_generator_free(g);
    vka_model_free(m);
}
