/* test_kv_swa.c — the sliding-window layers' bounded KV cache (gemma2 and
 * gemma3 of fixtures/arch2, windows of 6 and 5 positions): a session whose
 * pool gives the sliding layers a block space of their own, run far past
 * the window in chunks longer and shorter than it, gives the very logits of
 * an unbounded session that computed the same tokens in one pass (batch
 * invariance: bits, not a tolerance), holds no more sliding blocks than a
 * window and a step need, and stays exact through rewind, fork (private and
 * in a shared pool), save/load, context shift and the prefix cache. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/scheduler.h"
#include "test_util.h"
#include "vkagent.h"

#define N_TOKENS 200 /* past 30 windows */
#define N_CTX 256    /* 8 blocks */
#define N_BATCH 8    /* longer than either window: a step holds more than one window */

typedef struct swa_case {
    char file[32];
    char device[16];
} swa_case;

static vka_model *load(const swa_case *c) {
    const char *path = test_data_path(c->file);
    REQUIRE_FIXTURE(path);
    vka_model_params mp;
    vka_model_params_default(&mp);
    mp.device = c->device;
    vka_model *m = NULL;
    cr_assert_eq(vka_model_load(path, &mp, &m), VKA_OK, "loading %s on %s: %s", path, c->device, vka_last_error());
    cr_assert(m->hp.swa_window > 0 && m->hp.swa_window < 32, "%s: a sliding window shorter than a block", c->file);
    return m;
}

static vka_session *new_session(vka_model *m, uint32_t n_batch) {
    vka_session_params sp;
    vka_session_params_default(&sp);
    sp.n_ctx = N_CTX;
    sp.n_batch = n_batch;
    sp.kv_type = VKA_KV_F32;
    vka_session *s = NULL;
    cr_assert_eq(vka_session_create(m, &sp, &s), VKA_OK, "%s", vka_last_error());
    return s;
}

/* A scheduler of 16 blocks for two sequences: 7 sliding blocks. */
static vka_scheduler *shared_scheduler(vka_model *m) {
    vka_scheduler_params p;
    vka_scheduler_params_default(&p);
    p.n_kv_tokens = 512;
    p.n_batch = N_BATCH;
    p.n_seq_max = 2;
    p.kv_type = VKA_KV_F32;
    vka_scheduler *sc = NULL;
    cr_assert_eq(vka_scheduler_create(m, &p, &sc), VKA_OK, "%s", vka_last_error());
    cr_assert(sc->pool.n_swa_blocks > 0 && sc->pool.n_swa_blocks < sc->pool.n_blocks);
    return sc;
}

static void random_tokens(int32_t *ids, size_t n, uint32_t n_vocab, uint32_t seed) {
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        ids[i] = (int32_t)(1 + (seed >> 8) % (n_vocab - 1));
    }
}

/* Logits after every token of ids, fed to s in one call. */
static float *all_logits(vka_session *s, const int32_t *ids, size_t n) {
    float *out = malloc(n * s->model->hp.n_vocab * sizeof *out);
    cr_assert_not_null(out);
    cr_assert_eq(vka_session_feed_all_logits(s, ids, n, out), VKA_OK, "%s", vka_last_error());
    return out;
}

/* The sliding layers hold only the blocks a window (and one position before
 * it) reaches, and the pool counts exactly those as taken. */
static void check_bounded(const vka_session *s) {
    const vka_kv_pool *pool = &s->sched->pool;
    uint32_t held = s->n_blocks - s->swa_first, most = s->model->hp.swa_window / VKA_KV_BLOCK + 2;
    cr_assert_leq(held, most, "at %u tokens the sliding layers hold %u blocks (at most %u)", s->n_evaluated, held, most);
    cr_assert_eq(pool->n_swa_blocks - pool->n_swa_free, held, "the pool's sliding blocks in use match the table");
    for (uint32_t b = 0; b < s->swa_first; b++) cr_assert_eq(s->swa_blocks[b], VKA_KV_NONE);
}

static void assert_same_row(const vka_session *s, const float *got, const float *want, uint32_t pos) {
    size_t row = s->model->hp.n_vocab * sizeof(float);
    cr_assert(memcmp(got, want, row) == 0, "logits after position %u differ from the unbounded session's", pos);
}

static struct criterion_test_params cases(void) {
    static const char *const files[] = {"fixtures/arch2/gemma2-f32.gguf", "fixtures/arch2/gemma3-f32.gguf"};
    const char *const *devices;
    int n_dev = test_devices(&devices);
    size_t n = 0;
    swa_case *c = cr_malloc(sizeof *c * 2 * (size_t)n_dev);
    for (int d = 0; d < n_dev; d++)
        for (int f = 0; f < 2; f++, n++) {
            snprintf(c[n].file, sizeof c[n].file, "%s", files[f]);
            snprintf(c[n].device, sizeof c[n].device, "%s", devices[d]);
        }
    return cr_make_param_array(swa_case, c, n, NULL);
}

ParameterizedTestParameters(kv_swa, bounded) { return cases(); }

/* Chunks of 1..13 tokens (shorter and longer than the window and than a
 * block) against one unbounded pass; then rewind past the window, fork,
 * save and load, each continued and compared. */
ParameterizedTest(swa_case *c, kv_swa, bounded, .timeout = 120) {
    vka_model *m = load(c);
    uint32_t n_vocab = m->hp.n_vocab;
    size_t row = n_vocab;
    int32_t ids[N_TOKENS + 20];
    random_tokens(ids, N_TOKENS + 20, n_vocab, 7);

    vka_session *ref = new_session(m, 512);
    cr_assert_eq(ref->sched->pool.n_swa_blocks, 0, "n_batch 512: a window and a step are not fewer than the pool");
    float *want = all_logits(ref, ids, N_TOKENS + 20);

    vka_session *s = new_session(m, N_BATCH);
    cr_assert(s->sched->pool.n_swa_blocks > 0 && s->sched->pool.n_swa_blocks < s->sched->pool.n_blocks,
              "the sliding layers get a smaller block space (%u of %u)", s->sched->pool.n_swa_blocks,
              s->sched->pool.n_blocks);
    uint32_t pos = 0;
    for (uint32_t chunk = 1; pos < N_TOKENS; chunk = chunk % 13 + 1) {
        uint32_t n = N_TOKENS - pos < chunk ? N_TOKENS - pos : chunk;
        float *got = all_logits(s, ids + pos, n);
        for (uint32_t i = 0; i < n; i++) assert_same_row(s, got + i * row, want + (pos + i) * row, pos + i);
        free(got);
        pos += n;
        check_bounded(s);
    }
    cr_assert_gt(s->swa_first, 3, "blocks behind the window were given back");

    /* fork: the sliding blocks still held are copied, the continuation is exact */
    vka_session *f = NULL;
    cr_assert_eq(vka_session_fork(s, &f), VKA_OK, "%s", vka_last_error());
    float *got = all_logits(f, ids + N_TOKENS, 20);
    for (uint32_t i = 0; i < 20; i++) assert_same_row(f, got + i * row, want + (N_TOKENS + i) * row, N_TOKENS + i);
    free(got);
    check_bounded(f);
    vka_session_free(f);

    /* save and load: the file has zeros for the rows given back; the loaded
     * session makes no blocks for them and continues exactly */
    char *path = test_temp_file("swa-session");
    cr_assert_eq(vka_session_save(s, path), VKA_OK, "%s", vka_last_error());
    vka_session_params sp;
    vka_session_params_default(&sp);
    sp.n_batch = N_BATCH;
    vka_session *l = NULL;
    cr_assert_eq(vka_session_load(m, path, &sp, &l), VKA_OK, "%s", vka_last_error());
    check_bounded(l);
    got = all_logits(l, ids + N_TOKENS, 20);
    for (uint32_t i = 0; i < 20; i++) assert_same_row(l, got + i * row, want + (N_TOKENS + i) * row, N_TOKENS + i);
    free(got);
    vka_session_free(l);
    /* into a session that keeps every row (n_batch 512: not bounded): the
     * rows given back are not in the file, so it computes the tokens again
     * rather than read zeros after a rewind */
    sp.n_batch = 512;
    cr_assert_eq(vka_session_load(m, path, &sp, &l), VKA_OK, "%s", vka_last_error());
    cr_assert_eq(l->sched->pool.n_swa_blocks, 0);
    cr_assert_eq(vka_session_rewind(l, 100), VKA_OK, "%s", vka_last_error());
    const float *row99 = NULL;
    cr_assert_eq(vka_session_get_logits(l, &row99), VKA_OK, "%s", vka_last_error());
    assert_same_row(l, row99, want + 99 * row, 99);
    vka_session_free(l);
    unlink(path);
    free(path);

    /* rewind far behind the window: the rows it needs were given back, so
     * the session computes its tokens again, and gets the same logits */
    cr_assert_eq(vka_session_rewind(s, 100), VKA_OK, "%s", vka_last_error());
    const float *logits = NULL;
    cr_assert_eq(vka_session_get_logits(s, &logits), VKA_OK, "%s", vka_last_error());
    assert_same_row(s, logits, want + 99 * row, 99);
    check_bounded(s);
    /* and a rewind within the window keeps its blocks */
    uint32_t first = s->swa_first;
    cr_assert_eq(vka_session_rewind(s, 99), VKA_OK, "%s", vka_last_error());
    cr_assert_eq(vka_session_get_logits(s, &logits), VKA_OK, "%s", vka_last_error());
    assert_same_row(s, logits, want + 98 * row, 98);
    cr_assert_eq(s->swa_first, first, "a one-token rewind keeps the sliding blocks");

    free(want);
    vka_session_free(s);
    vka_session_free(ref);
    vka_model_free(m);
}

ParameterizedTestParameters(kv_swa, shared) { return cases(); }

/* A scheduler's pool shared by two sessions: a fork shares the parent's
 * sliding blocks, and the first write into the shared last block copies it
 * for the writer; both continuations stay exact. */
ParameterizedTest(swa_case *c, kv_swa, shared, .timeout = 120) {
    vka_model *m = load(c);
    size_t row = m->hp.n_vocab;
    int32_t ids[120], other[20];
    random_tokens(ids, 120, m->hp.n_vocab, 5);
    random_tokens(other, 20, m->hp.n_vocab, 9);
    vka_session *ref = new_session(m, 512);
    float *want = all_logits(ref, ids, 120);
    vka_session *ref2 = new_session(m, 512);
    cr_assert_eq(vka_session_feed(ref2, ids, 100), VKA_OK, "%s", vka_last_error());
    float *want2 = all_logits(ref2, other, 20);

    vka_scheduler *sc = shared_scheduler(m);
    vka_session *a = NULL, *b = NULL;
    cr_assert_eq(vka_scheduler_session_create(sc, NULL, &a), VKA_OK, "%s", vka_last_error());
    float *got = all_logits(a, ids, 100);
    cr_assert_eq(vka_session_fork(a, &b), VKA_OK, "%s", vka_last_error());
    cr_assert(sc->pool.swa_refs[a->swa_blocks[a->n_blocks - 1]] == 2, "the fork shares the sliding blocks");
    free(got);
    got = all_logits(a, ids + 100, 20);
    for (uint32_t i = 0; i < 20; i++) assert_same_row(a, got + i * row, want + (100 + i) * row, 100 + i);
    free(got);
    got = all_logits(b, other, 20);
    for (uint32_t i = 0; i < 20; i++) assert_same_row(b, got + i * row, want2 + i * row, 100 + i);
    free(got);
    cr_assert_leq(a->n_blocks - a->swa_first, m->hp.swa_window / VKA_KV_BLOCK + 2);
    cr_assert_leq(b->n_blocks - b->swa_first, m->hp.swa_window / VKA_KV_BLOCK + 2);
    cr_assert_eq(sc->pool.n_swa_blocks - sc->pool.n_swa_free,
                 (a->n_blocks - a->swa_first) + (b->n_blocks - b->swa_first), "no sliding block is shared any more");

    free(want);
    free(want2);
    vka_session_free(a);
    vka_session_free(b);
    vka_scheduler_free(sc);
    vka_session_free(ref);
    vka_session_free(ref2);
    vka_model_free(m);
}

ParameterizedTestParameters(kv_swa, prefix) { return cases(); }

/* The prefix cache with bounded sliding layers: a registered prefix is
 * reused when the sliding rows of its last window are still intact (a
 * reset and the same prompt again; another session of a shared pool), and
 * the logits after it are exact. */
ParameterizedTest(swa_case *c, kv_swa, prefix, .timeout = 120) {
    vka_model *m = load(c);
    size_t row = m->hp.n_vocab;
    int32_t ids[140];
    random_tokens(ids, 140, m->hp.n_vocab, 3);
    vka_session *ref = new_session(m, 512);
    float *want = all_logits(ref, ids, 140);

    vka_session *s = new_session(m, N_BATCH);
    cr_assert_eq(vka_session_feed(s, ids, 100), VKA_OK, "%s", vka_last_error());
    cr_assert_eq(vka_session_reset(s), VKA_OK);
    cr_assert_eq(vka_session_feed(s, ids, 120), VKA_OK, "%s", vka_last_error());
    vka_scheduler_stats st;
    cr_assert_eq(vka_scheduler_get_stats(s->sched, &st), VKA_OK);
    cr_assert_eq(st.prefix_tokens, 96, "the three full blocks of the first prompt are found (%llu)",
                 (unsigned long long)st.prefix_tokens);
    const float *logits = NULL;
    cr_assert_eq(vka_session_get_logits(s, &logits), VKA_OK, "%s", vka_last_error());
    assert_same_row(s, logits, want + 119 * row, 119);
    float *got = all_logits(s, ids + 120, 20);
    for (uint32_t i = 0; i < 20; i++) assert_same_row(s, got + i * row, want + (120 + i) * row, 120 + i);
    free(got);
    check_bounded(s);

    /* another prompt hands every sliding block out again: the links go
     * stale, nothing is taken, and the logits stay exact */
    int32_t other[100];
    random_tokens(other, 100, m->hp.n_vocab, 13);
    cr_assert_eq(vka_session_reset(s), VKA_OK);
    cr_assert_eq(vka_session_feed(s, other, 100), VKA_OK, "%s", vka_last_error());
    cr_assert_eq(vka_session_reset(s), VKA_OK);
    cr_assert_eq(vka_session_feed(s, ids, 120), VKA_OK, "%s", vka_last_error());
    cr_assert_eq(vka_scheduler_get_stats(s->sched, &st), VKA_OK);
    cr_assert_eq(st.prefix_tokens, 96, "no stale prefix is taken (%llu)", (unsigned long long)st.prefix_tokens);
    cr_assert_eq(vka_session_get_logits(s, &logits), VKA_OK, "%s", vka_last_error());
    assert_same_row(s, logits, want + 119 * row, 119);
    vka_session_free(s);

    /* two sessions of one pool: the second finds the first's blocks while
     * the first still holds them */
    vka_scheduler *sc = shared_scheduler(m);
    vka_session *a = NULL, *b = NULL;
    cr_assert_eq(vka_scheduler_session_create(sc, NULL, &a), VKA_OK, "%s", vka_last_error());
    cr_assert_eq(vka_scheduler_session_create(sc, NULL, &b), VKA_OK, "%s", vka_last_error());
    cr_assert_eq(vka_session_feed(a, ids, 70), VKA_OK, "%s", vka_last_error());
    cr_assert_eq(vka_session_feed(b, ids, 70), VKA_OK, "%s", vka_last_error());
    cr_assert_eq(vka_scheduler_get_stats(sc, &st), VKA_OK);
    cr_assert_eq(st.prefix_tokens, 64, "b takes a's two full blocks (%llu)", (unsigned long long)st.prefix_tokens);
    got = all_logits(b, ids + 70, 30);
    for (uint32_t i = 0; i < 30; i++) assert_same_row(b, got + i * row, want + (70 + i) * row, 70 + i);
    free(got);
    got = all_logits(a, ids + 70, 30);
    for (uint32_t i = 0; i < 30; i++) assert_same_row(a, got + i * row, want + (70 + i) * row, 70 + i);
    free(got);

    free(want);
    vka_session_free(a);
    vka_session_free(b);
    vka_scheduler_free(sc);
    vka_session_free(ref);
    vka_model_free(m);
}

ParameterizedTestParameters(kv_swa, shift) { return cases(); }

/* Context shift after the sliding layers gave rows back: the kept tokens
 * are computed again, so the logits are those of a fresh session fed the
 * shortened context. */
ParameterizedTest(swa_case *c, kv_swa, shift, .timeout = 120) {
    vka_model *m = load(c);
    size_t row = m->hp.n_vocab;
    int32_t ids[120], shortened[120];
    random_tokens(ids, 120, m->hp.n_vocab, 11);
    uint32_t n_keep = 4, n_discard = 50;

    vka_session *s = new_session(m, N_BATCH);
    cr_assert_eq(vka_session_feed(s, ids, 120), VKA_OK, "%s", vka_last_error());
    cr_assert_gt(s->swa_first, 0);
    cr_assert_eq(vka_session_shift(s, n_keep, n_discard), VKA_OK, "%s", vka_last_error());
    const float *got = NULL;
    cr_assert_eq(vka_session_get_logits(s, &got), VKA_OK, "%s", vka_last_error());
    check_bounded(s);

    memcpy(shortened, ids, n_keep * sizeof *ids);
    memcpy(shortened + n_keep, ids + n_keep + n_discard, (120 - n_keep - n_discard) * sizeof *ids);
    vka_session *fresh = new_session(m, 512);
    float *want = all_logits(fresh, shortened, 120 - n_discard);
    assert_same_row(s, got, want + (120 - n_discard - 1) * row, 120 - n_discard - 1);

    free(want);
    vka_session_free(fresh);
    vka_session_free(s);
    vka_model_free(m);
}

/* The memory estimate (vkagent info, a session's sizing check) counts the
 * sliding layers at their bound: gemma2's one sliding layer of two holds 20
 * blocks (a window, a default batch of 512) instead of the context's. */
Test(kv_swa, estimate) {
    swa_case c = {"fixtures/arch2/gemma2-f32.gguf", "cpu"};
    vka_model *m = load(&c);
    uint64_t row = (uint64_t)m->hp.n_head_kv * (m->hp.head_dim + m->hp.head_dim_v) * 4;
    uint32_t n_ctx = 8192;
    cr_assert_eq(vka_kv_swa_blocks_for(m, n_ctx / VKA_KV_BLOCK, 512, 1), 512 / 32 + 3 + 1);
    cr_assert_eq(vka_model_kv_bytes(m, n_ctx, false), row * (n_ctx + 20 * VKA_KV_BLOCK));
    cr_assert_eq(vka_kv_pool_bytes(m, n_ctx / VKA_KV_BLOCK, 20, false), row * (n_ctx + 20 * VKA_KV_BLOCK));
    cr_assert_eq(vka_model_kv_bytes(m, 256, false), row * 2 * 256, "a small context is not bounded");
    vka_model_free(m);
}
