/* context_shift.c — context shift: tokens after a kept prefix are dropped
 * and the rest moved down in the KV cache, so a conversation goes on past
 * the context. RoPE is a rotation by an angle linear in the position, so a
 * cached key moved from position p to p - d is rotated by -d; values carry
 * no position and are only moved. Works through tensor_get/tensor_set, the
 * same on every backend, a layer at a time. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/context_shift.h"
#include "base/status.h"

typedef struct rotation {
    uint32_t n_rot, head_dim, n_heads;
    vka_rope_mode mode;
    float *cos, *sin;              /* [n_rot / 2], rounded to f32 as the backends' tables are */
} rotation;

/* The angles of a rotation by `delta` positions, computed as the backends
 * compute theirs (vka_rope_theta, in double), frequency factors included.
 * No attention factor: the cached keys carry it once already (llama.cpp's
 * shift applies it again). */
static vka_status rotation_init(const vka_scheduler *sc, uint32_t layer, double delta, rotation *r) {
    const vka_model *m = sc->model;
    const vka_tensor *factors = vka_forward_rope_factors(sc); /* the ones the forward pass uses */
    float base, scale;
    vka_hparams_layer_rope(&m->hp, layer, &base, &scale);
    memset(r, 0, sizeof *r);
    r->n_rot = m->hp.n_rot;
    r->head_dim = m->hp.head_dim;
    r->n_heads = m->hp.n_head_kv;
    r->mode = m->arch->rope_mode;
    uint32_t half = r->n_rot / 2;
    r->cos = malloc((half ? half : 1) * sizeof *r->cos);
    r->sin = malloc((half ? half : 1) * sizeof *r->sin);
    float *ff = factors ? malloc(half * sizeof *ff + 1) : NULL;
    vka_status st = r->cos && r->sin && (ff || !factors) ? VKA_OK
                                                               : vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
    if (st == VKA_OK && ff)
        st = m->backend->ops->tensor_get(m->backend, factors, ff, 0, half * sizeof *ff);
    for (uint32_t i = 0; st == VKA_OK && i < half; i++) {
        double theta = vka_rope_theta(delta, i, r->n_rot, base, scale, ff);
        r->cos[i] = (float)cos(theta);
        r->sin[i] = (float)sin(theta);
    }
    free(ff);
    return st;
}

static void rotation_free(rotation *r) {
    free(r->cos);
    free(r->sin);
}

/* Rotates every head of n_rows cache rows in place (pairs as in the
 * backends' ROPE: adjacent for NORM, i and i + n_rot/2 for NEOX). */
static void rotate_rows(const rotation *r, float *rows, uint32_t n_rows) {
    uint32_t half = r->n_rot / 2;
    for (size_t h = 0; h < (size_t)n_rows * r->n_heads; h++) {
        float *v = rows + h * r->head_dim;
        for (uint32_t i = 0; i < half; i++) {
            uint32_t a = r->mode == VKA_ROPE_NORM ? 2 * i : i;
            uint32_t b = r->mode == VKA_ROPE_NORM ? 2 * i + 1 : i + half;
            double x0 = v[a], x1 = v[b];
            v[a] = (float)(x0 * r->cos[i] - x1 * r->sin[i]);
            v[b] = (float)(x0 * r->sin[i] + x1 * r->cos[i]);
        }
    }
}

typedef struct shift_job {
    vka_session *s;
    uint32_t from, to, n_rows;     /* rows [from, from + n_rows) move to [to, ...) */
    void *raw;                     /* n_rows rows of the widest cache */
    float *f32;
    rotation rot, rot_swa;         /* gemma3's sliding layers turn with their own RoPE base */
} shift_job;

static rotation *layer_rotation(shift_job *j, uint32_t layer) {
    return vka_hparams_layer_swa(&j->s->model->hp, layer) ? &j->rot_swa : &j->rot;
}

/* Moves one cache's rows (by position, through the block table); keys are
 * rotated on the way (through f32). */
static vka_status move_rows(shift_job *j, uint32_t layer, bool v) {
    vka_kv_pool *pool = &j->s->sched->pool;
    const vka_tensor *cache = v ? &pool->v[layer] : &pool->k[layer];
    VKA_TRY(vka_seq_rows_get(j->s, layer, v, j->from, j->n_rows, j->raw));
    if (!v) {
        const vka_type_traits *tr = vka_type_get_traits(cache->type);
        int64_t n = cache->ne[0] * (int64_t)j->n_rows;
        tr->to_f32(j->raw, j->f32, n);
        rotate_rows(layer_rotation(j, layer), j->f32, j->n_rows);
        tr->from_f32(j->f32, j->raw, n);
    }
    return vka_seq_rows_set(j->s, layer, v, j->to, j->n_rows, j->raw);
}

static vka_status shift_caches(vka_session *s, uint32_t from, uint32_t to, uint32_t n_rows) {
    const vka_hparams *hp = &s->model->hp;
    shift_job j = {.s = s, .from = from, .to = to, .n_rows = n_rows};
    uint32_t widest = hp->head_dim > hp->head_dim_v ? hp->head_dim : hp->head_dim_v;
    size_t elems = (size_t)hp->n_head_kv * widest * n_rows;
    j.raw = malloc(elems * sizeof(float));
    j.f32 = malloc(elems * sizeof(float));
    vka_status st = j.raw && j.f32 ? VKA_OK : vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory shifting the context");
    /* the rotation of each kind of layer present, made by its first layer */
    for (uint32_t il = 0; st == VKA_OK && il < hp->n_layer; il++) {
        rotation *r = layer_rotation(&j, il);
        if (!r->cos) st = rotation_init(s->sched, il, -(double)(from - to), r);
    }
    /* the destination rows become this session's own (copied if shared) */
    if (st == VKA_OK) st = vka_seq_prepare_range(s, to, n_rows, false);
    for (uint32_t il = 0; st == VKA_OK && il < hp->n_layer; il++) {
        st = move_rows(&j, il, false);
        if (st == VKA_OK) st = move_rows(&j, il, true);
    }
    rotation_free(&j.rot);
    rotation_free(&j.rot_swa);
    free(j.raw);
    free(j.f32);
    return st;
}

vka_status vka_session_shift_kv(vka_session *s, uint32_t n_keep, uint32_t n_discard) {
    if (n_keep > s->n_past || n_discard > s->n_past - n_keep)
        return vka_fail(VKA_ERR_INVALID_ARGUMENT, "cannot drop %u tokens after %u: the session holds %u", n_discard,
                        n_keep, s->n_past);
    if (n_discard == 0) return VKA_OK;
    uint32_t tail = n_keep + n_discard;
    uint32_t evaluated = s->n_evaluated;
    if (evaluated > tail && s->swa_first > 0) {
        /* The sliding-window layers gave back rows (older than a window)
         * that the shifted window may need, the kept prefix's: the kept
         * tokens are computed again instead of moved. */
        vka_seq_release_all(s);
        evaluated = 0;
    } else if (evaluated > tail) {
        /* On failure part of the cache may have moved: what is left is
         * consistent only up to the kept prefix. */
        vka_status st = shift_caches(s, tail, n_keep, evaluated - tail);
        if (st != VKA_OK) {
            s->n_evaluated = s->n_evaluated < n_keep ? s->n_evaluated : n_keep;
            s->n_past = s->n_evaluated;
            s->logits_fresh = false;
            vka_sched_forget_logits(s);
            vka_seq_truncate(s);
            return st;
        }
        evaluated -= n_discard;
    } else if (evaluated > n_keep) {
        evaluated = n_keep;
    }
    memmove(s->tokens + n_keep, s->tokens + tail, (size_t)(s->n_past - tail) * sizeof *s->tokens);
    s->n_past -= n_discard;
    s->n_evaluated = evaluated;
    vka_sched_forget_logits(s);
    vka_seq_truncate(s);
    /* The host logits followed the old context: the last token is evaluated
     * again over the shifted cache (as rewind does) when logits are asked for. */
    s->logits_fresh = false;
    if (s->n_evaluated == s->n_past && s->n_past > 0) s->n_evaluated--;
    return VKA_OK;
}

vka_status vka_session_shift(vka_session *s, uint32_t n_keep, uint32_t n_discard) {
    if (!s) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_session_shift: session is NULL");
    VKA_TRY(vka_session_check_idle(s, "vka_session_shift"));
    return vka_session_shift_kv(s, n_keep, n_discard);
}
