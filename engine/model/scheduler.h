/* scheduler.h — a scheduler: the KV pool, activation buffers and forward
 * graphs that its sessions share, ragged batches over several sessions,
 * and each session's blocks (its sequence in the pool). */
#ifndef VKA_SCHEDULER_H
#define VKA_SCHEDULER_H

#include <stdatomic.h>

#include "model/kv_pool.h"
#include "model/session.h"

#define VKA_SCHED_GRAPHS 8   /* forward graphs kept per scheduler, by shape */

/* Activation buffers, each with room for n_batch tokens (one row per token). */
typedef struct vka_activations {
    vka_tensor ids;              /* I32 [n_batch]: input token ids */
    vka_tensor layout;           /* I32 [layout_words]: positions and block tables (backend.h) */
    vka_tensor layout_swa;       /* the same with the sliding layers' tables (pool.n_swa_blocks > 0, else unallocated) */
    vka_tensor out_ids;          /* I32 [n_logit_rows]: the rows of the batch whose logits are wanted */
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
    /* mixture of experts only (else unallocated); k = n_expert_used */
    vka_tensor router;           /* [n_expert, n_batch] router logits */
    vka_tensor route;            /* [2k, n_batch] the chosen experts' weights and ids (backend.h MOE_ROUTE) */
    vka_tensor moe_gate;         /* [n_ff_exp, k * n_batch] one row per (token, expert) */
    vka_tensor moe_up;           /* [n_ff_exp, k * n_batch] */
    vka_tensor moe_down;         /* [n_embd, k * n_batch] */
} vka_activations;

/* A forward graph plus the tensor views its nodes point at. */
typedef struct vka_forward_graph {
    vka_graph graph;
    vka_tensor *views;
    uint32_t n_views, cap_views;
    uint32_t n_tokens;
    uint32_t n_out;              /* rows of logits (0: none) */
    uint64_t last_used;
    bool built;
    vka_status status;           /* first failure while building */
} vka_forward_graph;

struct vka_scheduler {
    vka_model *model;
    atomic_uint refs;            /* the caller's (unless private) and one per session */
    bool private_to_session;     /* the scheduler of one behind vka_session_create */
    uint32_t n_batch, n_seq_max, n_logit_rows, layout_words;
    bool kv_f16;
    vka_kv_pool pool;
    vka_activations act;
    vka_forward_graph graphs[VKA_SCHED_GRAPHS];
    uint64_t graph_clock;
    float *host_logits;          /* n_logit_rows rows read back after a batched step */
    int32_t *layout_host;        /* layout_words */
    int32_t *layout_swa_host;    /* layout_words when the sliding layers have their own blocks, else NULL */
    int32_t *ids_host, *out_host;
    vka_session *sessions;       /* list through session->sched_next */
    vka_session *device_logits;  /* the session whose logits are still only on the device (row 0) */
    uint64_t orders;             /* admission numbers handed out */
    uint64_t uses;               /* clock of session use (idle sessions give blocks back oldest first) */
    vka_scheduler_stats stats;
};

/* One sequence's part of a forward pass: n tokens from its n_evaluated on. */
typedef struct vka_batch_entry {
    vka_session *s;
    uint32_t n;
    bool last_row;               /* logits for its last token */
    float *all_rows;             /* else NULL; logits for each of its tokens (n rows) */
} vka_batch_entry;

/* The private scheduler of a session from vka_session_create. */
vka_status vka_sched_create_private(vka_model *m, uint32_t n_ctx, uint32_t n_batch, bool kv_f16, vka_scheduler **out);
void vka_sched_retain(vka_scheduler *sc);
void vka_sched_release(vka_scheduler *sc);
void vka_sched_link(vka_scheduler *sc, vka_session *s);
void vka_sched_unlink(vka_scheduler *sc, vka_session *s);

/* Runs one forward pass over the entries (their blocks prepared, at most
 * n_batch tokens, n_seq_max entries, n_logit_rows rows of logits). On
 * success every entry's n_evaluated advances and the logits asked for are
 * in its session (s->logits, or on the device for a lone entry). */
vka_status vka_sched_run(vka_scheduler *sc, vka_batch_entry *entries, uint32_t n_entries);

/* Logits of s that are still on the device are copied to s->logits (before
 * anything overwrites them) or forgotten when s changes. */
vka_status vka_sched_fetch_logits(vka_scheduler *sc);
void vka_sched_forget_logits(vka_session *s);

/* Builds the graph of one forward step over n_tokens with n_out rows of logits (forward.c). */
vka_status vka_forward_build(vka_scheduler *sc, uint32_t n_tokens, uint32_t n_out, vka_forward_graph *fg);
void vka_forward_graph_free(vka_forward_graph *fg);
/* The RoPE frequency factors sc's graphs use (NULL: none): phi3 picks its long or short ones by context size. */
vka_tensor *vka_forward_rope_factors(const vka_scheduler *sc);

/* ------------------------------------------------------------ a session's blocks (kv_seq.c) */

/* Makes room for tokens [n_evaluated, n_evaluated + n) of s: blocks exist
 * and are its own (copy on write). When the pool is short, sessions
 * without work give their blocks back, and if `preempt` the newest
 * generation other than s (and other than those marked in_batch) does;
 * VKA_ERR_CONTEXT_FULL when there is still no room. */
vka_status vka_seq_prepare(vka_session *s, uint32_t n, bool preempt);
/* The same for positions [pos, pos + n) (pos <= n_evaluated: rewriting rows
 * in place keeps the other rows of the blocks). */
vka_status vka_seq_prepare_range(vka_session *s, uint32_t pos, uint32_t n, bool preempt);
/* Takes prompt blocks already in the pool (same tokens after the same
 * blocks) instead of computing them; always leaves a token to evaluate. */
void vka_seq_match_prefix(vka_session *s);
/* Registers the full blocks below n_evaluated in the prefix cache. */
void vka_seq_register(vka_session *s);
/* Drops blocks past n_evaluated tokens (rewind, reset); a rewind past the
 * sliding layers' rows still held gives every block back (computed again). */
void vka_seq_truncate(vka_session *s);
/* Gives back the sliding layers' blocks that no window reaches any more. */
void vka_seq_slide(vka_session *s);
/* A session without blocks about to be given the rows of `evaluated` tokens
 * (restored, copied) whose sliding rows are there from position held_from:
 * its sliding layers start at the blocks that the window of the last of them
 * reaches, and none before held_from (vka_seq_prepare_range makes no others). */
void vka_seq_restore_start(vka_session *s, uint32_t evaluated, uint32_t held_from);
/* Gives every block back: the session's tokens stay and are computed again when used. */
void vka_seq_release_all(vka_session *s);
/* Shares src's blocks (forks); dst holds none before. */
vka_status vka_seq_share(vka_session *dst, const vka_session *src);
/* The cache row of position pos. */
static inline uint32_t vka_seq_row(const vka_session *s, uint32_t pos) {
    return s->blocks[pos / VKA_KV_BLOCK] * VKA_KV_BLOCK + pos % VKA_KV_BLOCK;
}
/* Reads or writes n rows of one layer's K or V cache at positions pos..pos+n-1
 * (writes need prepared blocks). */
vka_status vka_seq_rows_get(vka_session *s, uint32_t layer, bool v, uint32_t pos, uint32_t n, void *out);
vka_status vka_seq_rows_set(vka_session *s, uint32_t layer, bool v, uint32_t pos, uint32_t n, const void *in);

#endif
