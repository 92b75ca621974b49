/* session.h — a session's state: KV cache, activation buffers, the tokens of
 * its context, and the forward graphs built for it. */
#ifndef VKA_SESSION_H
#define VKA_SESSION_H

#include <stdatomic.h>

#include "backends/backend.h"
#include "model/model.h"

/* A forward graph plus the tensor views its nodes point at. */
typedef struct vka_forward_graph {
    vka_graph graph;
    vka_tensor *views;
    uint32_t n_views, cap_views;
    uint32_t n_tokens;
    bool all_logits;             /* logits for every token, not only the last */
    bool built;
    vka_status status;           /* first failure while building */
} vka_forward_graph;

/* Activation buffers, each with room for n_batch tokens (one row per token). */
typedef struct vka_activations {
    vka_tensor ids;              /* I32 [n_batch]: input token ids */
    vka_tensor x;                /* [n_embd, n_batch] residual stream */
    vka_tensor xb;               /* [n_embd, n_batch] normed input of a sub-block */
    vka_tensor q;                /* [n_head * head_dim, n_batch] */
    vka_tensor k;                /* [n_head_kv * head_dim, n_batch] */
    vka_tensor v;                /* [n_head_kv * head_dim_v, n_batch] */
    vka_tensor att;              /* [n_head * head_dim_v, n_batch] attention output */
    vka_tensor gate;             /* [n_ff, n_batch] */
    vka_tensor up;               /* [n_ff, n_batch] */
    vka_tensor logits;           /* [n_vocab, n_logit_rows] */
    vka_tensor argmax;           /* I32 [n_logit_rows] */
} vka_activations;

struct vka_session {
    vka_model *model;
    uint32_t n_ctx;
    uint32_t n_batch;
    uint32_t n_logit_rows;       /* rows of logits one step can produce (bounds feed_all_logits chunks) */
    bool kv_f16;
    vka_activations act;
    vka_tensor *k_cache;         /* per layer [n_head_kv * head_dim, n_ctx] */
    vka_tensor *v_cache;         /* per layer [n_head_kv * head_dim_v, n_ctx] */
    int32_t *tokens;             /* the context: n_past tokens */
    uint32_t n_past;
    uint32_t n_evaluated;        /* tokens already in the KV cache (<= n_past) */
    float *logits;               /* host copy, n_vocab */
    bool logits_fresh;           /* logits match n_evaluated == n_past */
    vka_forward_graph decode;    /* one token, last logits */
    vka_forward_graph prefill;   /* the most recent other shape */
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

/* Builds the graph of one forward step over n_tokens (forward.c). */
vka_status vka_forward_build(vka_session *s, uint32_t n_tokens, bool all_logits, vka_forward_graph *fg);
void vka_forward_graph_free(vka_forward_graph *fg);

/* Evaluates tokens[n_evaluated .. n_past) (the context not yet in the KV cache). */
vka_status vka_session_evaluate_pending(vka_session *s);

/* Logits predicting the next token, evaluating pending tokens first. */
vka_status vka_session_get_logits(vka_session *s, const float **out);

/* Appends a sampled token to the context without evaluating it yet: the next
 * evaluation batches it with whatever follows. */
vka_status vka_session_push_pending(vka_session *s, int32_t token);

#endif
