/* test_scheduler.c — continuous batching: every sequence of random mixes
 * (staggered starts, prompt chunks, small pools that force preemption) gets
 * bit-identical logits and the same tokens as its solo run; shared prompt
 * prefixes are stored once; forks share blocks; contexts that can never fit
 * are refused with the numbers. Runs on the devices of VKAGENT_TEST_DEVICES. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/scheduler.h"
#include "model/synth.h"
#include "test_util.h"
#include "vkagent.h"

#define MAX_GEN 24
#define N_SEQ 6

/* A small llama with GQA, quantized (the integer kernels), a long context. */
static char *tiny_model(vka_ftype ftype) {
    vka_synth_params p = {.arch = "llama", .n_embd = 64, .n_layer = 2, .n_head = 4, .n_head_kv = 2, .n_ff = 160,
                          .n_ctx = 4096, .n_vocab = 300, .ftype = ftype, .seed = 11};
    char *path = test_temp_file("sched");
    cr_assert_not_null(path);
    cr_assert_eq(vka_synth_model(&p, path), VKA_OK, "%s", vka_last_error());
    return path;
}

static vka_model *load_path(const char *path, const char *device) {
    vka_model_params mp;
    vka_model_params_default(&mp);
    mp.device = device;
    vka_model *m = NULL;
    cr_assert_eq(vka_model_load(path, &mp, &m), VKA_OK, "loading %s: %s", path, vka_last_error());
    return m;
}

static uint64_t hash_floats(const float *x, size_t n) {
    uint64_t h = 1469598103934665603ull;
    const unsigned char *p = (const unsigned char *)x;
    for (size_t i = 0; i < n * sizeof *x; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

/* One sequence's work: a prompt, sampling parameters, and what it produced. */
typedef struct seq {
    int32_t prompt[400];
    size_t n_prompt;
    uint32_t seed;
    float temperature;
    int32_t out[MAX_GEN];
    uint64_t logit_hash[MAX_GEN];
    uint32_t n_out;
} seq;

static void random_seq(seq *q, uint32_t n_vocab, unsigned *rng, const int32_t *shared, size_t n_shared) {
    memset(q, 0, sizeof *q);
    q->n_prompt = n_shared + 1 + (size_t)(rand_r(rng) % 90);
    if (q->n_prompt > 400) q->n_prompt = 400;
    for (size_t i = 0; i < q->n_prompt; i++)
        q->prompt[i] = i < n_shared ? shared[i] : 1 + (int32_t)((unsigned)rand_r(rng) % (n_vocab - 1));
    q->seed = (uint32_t)rand_r(rng);
    q->temperature = rand_r(rng) % 3 == 0 ? 0.0f : 0.9f;
}

static void params_for(const seq *q, vka_generate_params *gp) {
    vka_generate_params_default(gp);
    gp->max_tokens = MAX_GEN;
    gp->stop_on_eos = false;
    gp->sampling.seed = q->seed;
    gp->sampling.temperature = q->temperature;
}

/* After a step: record the token a generator added and the logits it sampled from. */
static void record(seq *q, vka_session *s, vka_generator *g) {
    uint32_t n = vka_generator_result(g)->n_generated;
    if (n == q->n_out || n > MAX_GEN) return;
    cr_assert_eq(n, q->n_out + 1, "a step added %u tokens", n - q->n_out);
    q->out[q->n_out] = vka_session_tokens(s)[vka_session_n_past(s) - 1];
    q->logit_hash[q->n_out] = hash_floats(s->logits, s->model->hp.n_vocab);
    q->n_out++;
}

/* The reference: the sequence alone in a session of its own, prompt in chunks of n_batch. */
static void run_solo(vka_model *m, seq *q, uint32_t n_batch) {
    vka_session_params sp;
    vka_session_params_default(&sp);
    sp.n_ctx = 1024;
    sp.n_batch = n_batch;
    vka_session *s;
    cr_assert_eq(vka_session_create(m, &sp, &s), VKA_OK, "%s", vka_last_error());
    vka_generate_params gp;
    params_for(q, &gp);
    vka_generator *g;
    cr_assert_eq(vka_generator_create_tokens(s, q->prompt, q->n_prompt, &gp, &g), VKA_OK, "%s", vka_last_error());
    bool done = false;
    while (!done) {
        cr_assert_eq(vka_generator_step(g, 1, n_batch, &done), VKA_OK, "%s", vka_last_error());
        record(q, s, g);
    }
    vka_generator_free(g);
    vka_session_free(s);
}

typedef struct mix {
    uint32_t n_kv_tokens, n_batch, n_seq_max;
    uint32_t start_step[N_SEQ];  /* the step at which each sequence's generator is created */
} mix;

/* The same sequences through one scheduler, started at staggered steps. */
static vka_scheduler_stats run_mixed(vka_model *m, seq *q, uint32_t n, const mix *x) {
    vka_scheduler_params p;
    vka_scheduler_params_default(&p);
    p.n_kv_tokens = x->n_kv_tokens;
    p.n_batch = x->n_batch;
    p.n_seq_max = x->n_seq_max;
    vka_scheduler *sc;
    cr_assert_eq(vka_scheduler_create(m, &p, &sc), VKA_OK, "%s", vka_last_error());
    vka_session *s[N_SEQ] = {0};
    vka_generator *g[N_SEQ] = {0};
    for (uint32_t i = 0; i < n; i++) {
        cr_assert_eq(vka_scheduler_session_create(sc, NULL, &s[i]), VKA_OK, "%s", vka_last_error());
        q[i].n_out = 0;
    }
    uint32_t started = 0, active = 1;
    for (uint32_t step = 0; started < n || active > 0; step++) {
        cr_assert_lt(step, 2000, "the scheduler does not finish");
        for (uint32_t i = 0; i < n; i++)
            if (!g[i] && x->start_step[i] <= step) {
                vka_generate_params gp;
                params_for(&q[i], &gp);
                cr_assert_eq(vka_generator_create_tokens(s[i], q[i].prompt, q[i].n_prompt, &gp, &g[i]), VKA_OK, "%s",
                             vka_last_error());
                started++;
            }
        cr_assert_eq(vka_scheduler_step(sc, &active), VKA_OK, "%s", vka_last_error());
        for (uint32_t i = 0; i < n; i++)
            if (g[i]) record(&q[i], s[i], g[i]);
    }
    vka_scheduler_stats st;
    cr_assert_eq(vka_scheduler_get_stats(sc, &st), VKA_OK);
    for (uint32_t i = 0; i < n; i++) {
        cr_expect_eq(vka_generator_status(g[i]), VKA_OK, "sequence %u ended with an error", i);
        cr_expect_eq(vka_generator_result(g[i])->stop_reason, VKA_STOP_MAX_TOKENS, "sequence %u stopped: %s", i,
                     vka_stop_reason_name(vka_generator_result(g[i])->stop_reason));
        vka_generator_free(g[i]);
        vka_session_free(s[i]);
    }
    vka_scheduler_free(sc);
    return st;
}

static void expect_same(const seq *solo, const seq *mixed, uint32_t n, const char *what) {
    for (uint32_t i = 0; i < n; i++) {
        cr_expect_eq(mixed[i].n_out, solo[i].n_out, "%s: sequence %u made %u tokens, alone %u", what, i,
                     mixed[i].n_out, solo[i].n_out);
        for (uint32_t j = 0; j < solo[i].n_out && j < mixed[i].n_out; j++) {
            cr_expect_eq(mixed[i].logit_hash[j], solo[i].logit_hash[j],
                         "%s: sequence %u's logits before token %u differ from its solo run", what, i, j);
            cr_expect_eq(mixed[i].out[j], solo[i].out[j], "%s: sequence %u token %u differs", what, i, j);
        }
    }
}

/* Random mixes: prompts that span blocks, some sharing a prefix, staggered
 * starts, batches that cut prompts into chunks, and pools small enough that
 * sequences are preempted and recomputed. */
static void check_random_mixes(const char *device, vka_ftype ftype) {
    char *path = tiny_model(ftype);
    vka_model *m = load_path(path, device);
    unsigned rng = 1234;
    int32_t shared[70];
    for (size_t i = 0; i < 70; i++) shared[i] = 1 + (int32_t)(i * 7 % 299);
    uint64_t preemptions = 0;
    for (int round = 0; round < 4; round++) {
        seq solo[N_SEQ], mixed[N_SEQ];
        uint32_t n = 2 + (uint32_t)(rand_r(&rng) % (N_SEQ - 1));
        for (uint32_t i = 0; i < n; i++) random_seq(&solo[i], 300, &rng, shared, i % 2 ? 70 : 0);
        for (uint32_t i = 0; i < n; i++) run_solo(m, &solo[i], 1 + (uint32_t)(rand_r(&rng) % 64));
        memcpy(mixed, solo, sizeof solo);
        mix x = {.n_batch = 8 + (uint32_t)(rand_r(&rng) % 60), .n_seq_max = 2 + (uint32_t)(rand_r(&rng) % 5)};
        /* rounds 2 and 3: a pool of 7 blocks for up to 6 sequences of up to 6 blocks each */
        x.n_kv_tokens = round >= 2 ? 7 * VKA_KV_BLOCK : 4096;
        for (uint32_t i = 0; i < n; i++) x.start_step[i] = (uint32_t)(rand_r(&rng) % 12);
        vka_scheduler_stats st = run_mixed(m, mixed, n, &x);
        preemptions += st.preemptions;
        char what[96];
        snprintf(what, sizeof what, "%s round %d (%u sequences, batch %u, %u per step)", device, round, n, x.n_batch,
                 x.n_seq_max);
        expect_same(solo, mixed, n, what);
    }
    cr_expect_gt(preemptions, 0, "%s: the small pools never preempted anyone: the test lost its point", device);
    vka_model_free(m);
    unlink(path);
    free(path);
}

Test(scheduler, batch_invariance_random_mixes) {
    const char *const *devices;
    int n = test_devices(&devices);
    for (int i = 0; i < n; i++) {
        check_random_mixes(devices[i], VKA_FTYPE_Q4_0);
        check_random_mixes(devices[i], VKA_FTYPE_F16);
    }
}

/* 16 agents with one 1,000-token system prompt: its blocks are stored once. */
static void check_shared_prefix(const char *device) {
    char *path = tiny_model(VKA_FTYPE_Q8_0);
    vka_model *m = load_path(path, device);
    vka_scheduler_params p;
    vka_scheduler_params_default(&p);
    p.n_kv_tokens = 2048;
    vka_scheduler *sc;
    cr_assert_eq(vka_scheduler_create(m, &p, &sc), VKA_OK, "%s", vka_last_error());
    enum { AGENTS = 16, SYSTEM = 1000 };
    int32_t prompt[SYSTEM + 8];
    for (int i = 0; i < SYSTEM; i++) prompt[i] = 1 + i % 297;
    vka_session *s[AGENTS];
    vka_generator *g[AGENTS];
    for (int a = 0; a < AGENTS; a++) {
        cr_assert_eq(vka_scheduler_session_create(sc, NULL, &s[a]), VKA_OK, "%s", vka_last_error());
        for (int i = 0; i < 8; i++) prompt[SYSTEM + i] = 2 + (a * 8 + i) % 290;
        vka_generate_params gp;
        vka_generate_params_default(&gp);
        gp.max_tokens = 4;
        gp.stop_on_eos = false;
        cr_assert_eq(vka_generator_create_tokens(s[a], prompt, SYSTEM + 8, &gp, &g[a]), VKA_OK, "%s", vka_last_error());
    }
    uint32_t active = AGENTS;
    for (int step = 0; active > 0; step++) {
        cr_assert_lt(step, 500);
        cr_assert_eq(vka_scheduler_step(sc, &active), VKA_OK, "%s", vka_last_error());
    }
    vka_scheduler_stats st;
    cr_assert_eq(vka_scheduler_get_stats(sc, &st), VKA_OK);
    uint32_t prefix_blocks = SYSTEM / VKA_KV_BLOCK; /* 31 full blocks; the 32nd mixes in each agent's own tokens */
    /* one copy of the prefix, and each agent's own tail: 2 blocks (positions 992 .. 1011) */
    cr_expect_leq(st.blocks_used, prefix_blocks + AGENTS * 2, "%s: %u blocks in use", device, st.blocks_used);
    cr_expect_geq(st.blocks_shared, prefix_blocks, "%s: only %u blocks shared", device, st.blocks_shared);
    /* the second agent starts while the first is still computing the prompt
     * (its copies are swapped for the first's afterwards); the others find it */
    cr_expect_geq(st.prefix_tokens, (uint64_t)(AGENTS - 2) * prefix_blocks * VKA_KV_BLOCK,
                  "%s: %llu prompt tokens found in the pool", device, (unsigned long long)st.prefix_tokens);
    for (int a = 0; a < AGENTS; a++) {
        vka_session_kv_info info;
        cr_assert_eq(vka_session_get_kv_info(s[a], &info), VKA_OK);
        cr_expect_geq(info.blocks_shared, prefix_blocks, "%s: agent %d shares %u blocks", device, a, info.blocks_shared);
        cr_expect_eq(info.tokens, SYSTEM + 8 + 3, "%s: agent %d holds %u tokens", device, a, info.tokens);
        cr_expect_eq(vka_generator_result(g[a])->n_generated, 4);
    }
    for (int a = 0; a < AGENTS; a++) {
        vka_generator_free(g[a]);
        vka_session_free(s[a]);
    }
    vka_scheduler_free(sc);
    vka_model_free(m);
    unlink(path);
    free(path);
}

Test(scheduler, shared_system_prompt_is_stored_once) {
    const char *const *devices;
    int n = test_devices(&devices);
    for (int i = 0; i < n; i++) check_shared_prefix(devices[i]);
}

/* A fork in a scheduler shares its parent's blocks and continues exactly
 * like a fork made by copying. */
Test(scheduler, fork_shares_blocks) {
    char *path = tiny_model(VKA_FTYPE_Q4_0);
    vka_model *m = load_path(path, "cpu");
    vka_scheduler *sc;
    cr_assert_eq(vka_scheduler_create(m, NULL, &sc), VKA_OK, "%s", vka_last_error());
    vka_session *a, *solo, *f, *fs;
    cr_assert_eq(vka_scheduler_session_create(sc, NULL, &a), VKA_OK, "%s", vka_last_error());
    cr_assert_eq(vka_session_create(m, NULL, &solo), VKA_OK, "%s", vka_last_error());
    int32_t ids[100];
    for (int i = 0; i < 100; i++) ids[i] = 1 + i * 3 % 299;
    cr_assert_eq(vka_session_feed(a, ids, 100), VKA_OK, "%s", vka_last_error());
    cr_assert_eq(vka_session_feed(solo, ids, 100), VKA_OK, "%s", vka_last_error());
    cr_assert_eq(vka_session_fork(a, &f), VKA_OK, "%s", vka_last_error());
    cr_assert_eq(vka_session_fork(solo, &fs), VKA_OK, "%s", vka_last_error());
    cr_expect_eq(vka_session_scheduler(f), sc, "a scheduler's fork stays in it");
    cr_expect_neq(vka_session_scheduler(fs), vka_session_scheduler(solo), "a private fork gets its own");
    vka_session_kv_info info;
    cr_assert_eq(vka_session_get_kv_info(f, &info), VKA_OK);
    cr_expect_eq(info.blocks, 4);
    cr_expect_eq(info.blocks_shared, 4, "the fork shares all 4 blocks");
    /* both go on differently; each matches its private twin bit for bit */
    int32_t x = 17, y = 29;
    cr_assert_eq(vka_session_feed(a, &x, 1), VKA_OK, "%s", vka_last_error());
    cr_assert_eq(vka_session_feed(f, &y, 1), VKA_OK, "%s", vka_last_error());
    cr_assert_eq(vka_session_feed(solo, &x, 1), VKA_OK, "%s", vka_last_error());
    cr_assert_eq(vka_session_feed(fs, &y, 1), VKA_OK, "%s", vka_last_error());
    size_t bytes = m->hp.n_vocab * sizeof(float);
    cr_expect_eq(memcmp(vka_session_logits(a), vka_session_logits(solo), bytes), 0, "parent differs");
    cr_expect_eq(memcmp(vka_session_logits(f), vka_session_logits(fs), bytes), 0, "fork differs");
    cr_assert_eq(vka_session_get_kv_info(f, &info), VKA_OK);
    cr_expect_eq(info.blocks_shared, 3, "the written block was copied; 3 stay shared");
    vka_session_free(a);
    vka_session_free(f);
    vka_session_free(solo);
    vka_session_free(fs);
    vka_scheduler_free(sc);
    vka_model_free(m);
    unlink(path);
    free(path);
}

/* A context larger than the pool is refused with the numbers; one that fits works. */
Test(scheduler, context_larger_than_pool) {
    char *path = tiny_model(VKA_FTYPE_Q4_0);
    vka_model *m = load_path(path, "cpu");
    vka_scheduler_params p;
    vka_scheduler_params_default(&p);
    p.n_kv_tokens = 100; /* 4 blocks */
    vka_scheduler *sc;
    cr_assert_eq(vka_scheduler_create(m, &p, &sc), VKA_OK, "%s", vka_last_error());
    vka_session_params sp;
    vka_session_params_default(&sp);
    sp.n_ctx = 200;
    vka_session *s = NULL;
    cr_expect_eq(vka_scheduler_session_create(sc, &sp, &s), VKA_ERR_CONTEXT_FULL);
    cr_expect_not_null(strstr(vka_last_error(), "128"), "the message names the pool: %s", vka_last_error());
    cr_assert_eq(vka_scheduler_session_create(sc, NULL, &s), VKA_OK, "%s", vka_last_error());
    cr_expect_eq(vka_session_n_ctx(s), 128, "the default context is capped by the pool");
    int32_t ids[129];
    for (int i = 0; i < 129; i++) ids[i] = 5;
    cr_expect_eq(vka_session_feed(s, ids, 129), VKA_ERR_CONTEXT_FULL);
    cr_expect_eq(vka_session_feed(s, ids, 128), VKA_OK, "%s", vka_last_error());
    vka_session_free(s);
    vka_scheduler_free(sc);
    vka_model_free(m);
    unlink(path);
    free(path);
}

/* A generator whose grammar fails ends alone; the others go on. Bad
 * arguments are refused. */
Test(scheduler, bad_input) {
    cr_expect_eq(vka_scheduler_create(NULL, NULL, NULL), VKA_ERR_INVALID_ARGUMENT);
    cr_expect_eq(vka_scheduler_step(NULL, NULL), VKA_ERR_INVALID_ARGUMENT);
    char *path = tiny_model(VKA_FTYPE_Q4_0);
    vka_model *m = load_path(path, "cpu");
    vka_scheduler_params p;
    vka_scheduler_params_default(&p);
    p.n_batch = 0;
    p.kv_type = (vka_kv_type)7;
    vka_scheduler *sc = NULL;
    cr_expect_eq(vka_scheduler_create(m, &p, &sc), VKA_ERR_INVALID_ARGUMENT);
    cr_assert_eq(vka_scheduler_create(m, NULL, &sc), VKA_OK, "%s", vka_last_error());
    uint32_t active = 9;
    cr_expect_eq(vka_scheduler_step(sc, &active), VKA_OK, "an empty scheduler steps");
    cr_expect_eq(active, 0);
    vka_scheduler_free(sc);
    vka_model_free(m);
    unlink(path);
    free(path);
}
