/* session.h — a session's state: the tokens of its context, its blocks in
 * its scheduler's KV pool, its logits, its open generator. */
#ifndef VKA_SESSION_H
#define VKA_SESSION_H

#include <stdatomic.h>

#include "backends/backend.h"
#include "model/model.h"

struct vka_session {
    vka_model *model;
    vka_scheduler *sched;        /* where its KV blocks, buffers and graphs are */
    vka_session *sched_next;     /* the scheduler's list of sessions */
    uint32_t n_ctx;
    uint32_t n_batch;
    bool kv_f16;
    uint32_t *blocks;            /* its block table: blocks[i] holds positions 32i .. 32i+31 */
    uint32_t n_blocks, cap_blocks;
    /* The sliding-window layers' table when the pool gives them a block
     * space of their own (pool.n_swa_blocks): swa_blocks[i] holds their rows
     * of the same positions as blocks[i] for swa_first <= i < n_blocks; the
     * blocks below swa_first lie outside every window and were given back. */
    uint32_t *swa_blocks;        /* cap_blocks entries, VKA_KV_NONE below swa_first */
    uint32_t swa_first;
    uint32_t n_checked;          /* leading full blocks already in the prefix cache (or swapped for one there) */
    uint64_t order;              /* admission number of its current generation (older first) */
    uint64_t last_use;           /* scheduler clock when last evaluated */
    bool in_batch;               /* being gathered into the current step (not to be preempted) */
    bool preempted;              /* its blocks were taken back during a generation */
    int32_t *tokens;             /* the context: n_past tokens */
    uint32_t n_past;
    uint32_t n_evaluated;        /* tokens already in the KV cache (<= n_past) */
    float *logits;               /* host copy, n_vocab */
    bool logits_fresh;           /* logits match n_evaluated == n_past */
    bool logits_on_device;       /* they are row 0 of the scheduler's logits (sched->device_logits == this) */
    /* Cancellation targets one generation, named by a number that is never
     * reused: `active` is the number of the generation in progress (0: none),
     * and vka_session_cancel copies it into `cancel_id`. A cancel that reads
     * `active` just before that generation ends names a number no later
     * generation has, so it cannot stop the next one. */
    struct vka_generator *generator; /* the open generator, NULL when idle */
    uint64_t generations;        /* numbers handed out so far (the owner thread's) */
    atomic_uint_fast64_t active;
    atomic_uint_fast64_t cancel_id;
    char warning[160];           /* vka_session_warning; "" when none */
};

/* VKA_OK when no generator is open on the session, else VKA_ERR_BUSY
 * naming `what` (the call refused). Every call that changes a session
 * (feed, reset, rewind, fork, save, generate, another generator) checks it. */
vka_status vka_session_check_idle(const vka_session *s, const char *what);

/* Feeds tokens without the idle check: the open generator's own prefill. */
vka_status vka_session_feed_tokens(vka_session *s, const int32_t *ids, size_t n_ids);

/* Evaluates tokens[n_evaluated .. n_past) (the context not yet in the KV cache). */
vka_status vka_session_evaluate_pending(vka_session *s);

/* Logits predicting the next token, evaluating pending tokens first. */
vka_status vka_session_get_logits(vka_session *s, const float **out);

/* Appends a sampled token to the context without evaluating it yet: the next
 * evaluation batches it with whatever follows. */
vka_status vka_session_push_pending(vka_session *s, int32_t token);

#endif
