/* scheduler_step.c — vka_scheduler_step: gathers the work of every open
 * generator of a scheduler's sessions into one ragged batch (one token for
 * each decoding sequence, then prompt chunks, older generations first),
 * makes room in the KV pool (idle sessions first, then preempting the
 * newest generation), runs one forward pass and lets each generator sample
 * from its own logits. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/generator.h"
#include "model/scheduler.h"
#include "base/status.h"

typedef struct candidate {
    vka_session *s;
    bool ready;                  /* its logits are fresh: it samples without a forward pass */
    bool in_pass;                /* it is an entry of this step's forward pass */
    bool prompt;                 /* its work this step is (part of) a prompt */
} candidate;

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int by_order(const void *a, const void *b) {
    uint64_t x = ((const candidate *)a)->s->order, y = ((const candidate *)b)->s->order;
    return x < y ? -1 : x > y;
}

static uint32_t pending(const vka_session *s) { return s->n_past - s->n_evaluated; }

/* Takes s's blocks back while its generation runs: it is computed again later. */
static void preempt(vka_scheduler *sc, vka_session *s) {
    vka_seq_release_all(s);
    s->preempted = true;
    sc->stats.preemptions++;
}

/* Every open generator that wants a token this step, oldest first. */
static vka_status collect(vka_scheduler *sc, candidate **out, uint32_t *n_out) {
    uint32_t cap = 0, n = 0;
    for (vka_session *s = sc->sessions; s; s = s->sched_next) cap += s->generator != NULL;
    candidate *c = calloc(cap ? cap : 1, sizeof *c);
    if (!c) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
    for (vka_session *s = sc->sessions; s; s = s->sched_next) {
        bool go_on = false;
        if (s->generator) (void)vka_generator_sched_begin(s->generator, &go_on); /* errors end that generator */
        if (!go_on) continue;
        c[n].s = s;
        if (pending(s) == 0) {
            /* logits left on the device are fetched; ones lost (shift,
             * preemption) come from evaluating the last token again */
            vka_status st = s->logits_on_device ? vka_sched_fetch_logits(sc) : VKA_OK;
            if (st != VKA_OK) {
                vka_generator_sched_fail(s->generator, st);
                continue;
            }
            if (!s->logits_fresh && s->n_evaluated > 0) s->n_evaluated--;
            c[n].ready = s->logits_fresh;
        }
        n++;
    }
    qsort(c, n, sizeof *c, by_order);
    *out = c;
    *n_out = n;
    return VKA_OK;
}

typedef struct gather {
    vka_batch_entry *e;
    uint32_t n_entries, tokens, rows;
} gather;

static bool full(const vka_scheduler *sc, const gather *b) {
    return b->n_entries == sc->n_seq_max || b->tokens == sc->n_batch || b->rows == sc->n_logit_rows;
}

static void add_entry(gather *b, candidate *c, uint32_t n) {
    c->in_pass = true;
    c->s->in_batch = true;
    c->prompt = n > 1 || c->s->preempted;
    b->e[b->n_entries++] = (vka_batch_entry){.s = c->s, .n = n, .last_row = n == pending(c->s)};
    b->tokens += n;
    b->rows += n == pending(c->s);
}

/* One token for each decoding sequence: when the pool is short, a newer
 * generation is preempted, or this one if it is the newest. */
static void gather_decodes(vka_scheduler *sc, candidate *c, uint32_t n, gather *b) {
    for (uint32_t i = 0; i < n && !full(sc, b); i++) {
        vka_session *s = c[i].s;
        if (c[i].ready || pending(s) != 1 || s->preempted) continue;
        vka_status st = vka_seq_prepare(s, 1, true);
        if (st == VKA_ERR_CONTEXT_FULL) preempt(sc, s);
        else if (st != VKA_OK) vka_generator_sched_fail(s->generator, st);
        else add_entry(b, &c[i], 1);
    }
}

/* Prompt chunks (and preempted sequences) in the tokens left: a prompt that
 * finds no room waits; it never preempts a running generation. */
static void gather_prompts(vka_scheduler *sc, candidate *c, uint32_t n, gather *b) {
    for (uint32_t i = 0; i < n && !full(sc, b); i++) {
        vka_session *s = c[i].s;
        if (c[i].ready || c[i].in_pass || s->generator == NULL || vka_generator_done(s->generator)) continue;
        vka_seq_match_prefix(s);
        uint32_t left = pending(s), room = sc->n_batch - b->tokens;
        if (left == 0) continue;
        uint32_t take = left < room ? left : room;
        vka_status st = vka_seq_prepare(s, take, false);
        if (st == VKA_ERR_CONTEXT_FULL) continue;
        if (st != VKA_OK) vka_generator_sched_fail(s->generator, st);
        else add_entry(b, &c[i], take);
    }
}

/* Nothing could run although generators wait: prompts half in hold the
 * pool. The newest one holding blocks gives them back; false when none can. */
static bool unjam(vka_scheduler *sc, candidate *c, uint32_t n) {
    for (uint32_t i = n; i-- > 1;)
        if (c[i].s->n_blocks > 0) {
            preempt(sc, c[i].s);
            return true;
        }
    return false;
}

/* Runs the gathered batch and lets every generator in it that got logits sample. */
static vka_status run_and_sample(vka_scheduler *sc, candidate *c, uint32_t n, gather *b) {
    double t0 = now_seconds();
    vka_status st = b->n_entries ? vka_sched_run(sc, b->e, b->n_entries) : VKA_OK;
    double seconds = now_seconds() - t0;
    for (uint32_t i = 0; i < n; i++) c[i].s->in_batch = false;
    VKA_TRY(st);
    for (uint32_t i = 0; i < n; i++) {
        vka_session *s = c[i].s;
        if (!s->generator || vka_generator_done(s->generator)) continue;
        if (c[i].in_pass && pending(s) == 0) s->preempted = false;
        if (c[i].ready || (c[i].in_pass && pending(s) == 0))
            (void)vka_generator_sched_sample(s->generator, c[i].in_pass ? seconds : 0, c[i].prompt);
        else if (c[i].in_pass)
            vka_generator_sched_time(s->generator, seconds, true);
    }
    return VKA_OK;
}

static uint32_t count_active(const vka_scheduler *sc) {
    uint32_t n = 0;
    for (const vka_session *s = sc->sessions; s; s = s->sched_next)
        n += s->generator && !vka_generator_done(s->generator);
    return n;
}

vka_status vka_scheduler_step(vka_scheduler *sc, uint32_t *n_active) {
    if (n_active) *n_active = 0;
    if (!sc) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_scheduler_step: scheduler is NULL");
    candidate *c = NULL;
    uint32_t n = 0;
    VKA_TRY(collect(sc, &c, &n));
    gather b = {.e = calloc(n ? n : 1, sizeof *b.e)};
    vka_status st = b.e ? VKA_OK : vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
    bool any_ready = false;
    for (uint32_t i = 0; i < n; i++) any_ready |= c[i].ready;
    while (st == VKA_OK) {
        gather_decodes(sc, c, n, &b);
        gather_prompts(sc, c, n, &b);
        if (b.n_entries || any_ready || n == 0 || !unjam(sc, c, n)) break;
    }
    if (st == VKA_OK && b.n_entries == 0 && !any_ready && n > 0) {
        /* the oldest alone cannot fit: only a context larger than the pool does that */
        vka_session *s = c[0].s;
        vka_generator_sched_fail(s->generator,
                                 vka_fail(VKA_ERR_CONTEXT_FULL, "%u tokens need %u KV blocks, but the pool has %u",
                                          s->n_past, (s->n_past + VKA_KV_BLOCK - 1) / VKA_KV_BLOCK,
                                          sc->pool.n_blocks));
    }
    if (st == VKA_OK) st = run_and_sample(sc, c, n, &b);
    free(b.e);
    free(c);
    if (n_active) *n_active = count_active(sc);
    return st;
}
