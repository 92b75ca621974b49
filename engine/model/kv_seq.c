/* kv_seq.c — a session's sequence in its scheduler's KV pool: its block
 * table (and the sliding-window layers' table, whose blocks behind the
 * window go back to the pool), copy on write of shared blocks, prefix
 * matching against blocks other sequences computed, and making room when
 * the pool is short (idle sessions first, then the newest generation). */
#include <stdlib.h>
#include <string.h>

#include "model/scheduler.h"
#include "base/status.h"

static uint32_t div_up(uint32_t a, uint32_t b) { return (a + b - 1) / b; }

static vka_status grow_table(vka_session *s, uint32_t want) {
    if (want <= s->cap_blocks) return VKA_OK;
    uint32_t cap = s->cap_blocks ? s->cap_blocks : 4;
    while (cap < want) cap *= 2;
    uint32_t *blocks = realloc(s->blocks, cap * sizeof *blocks);
    if (!blocks) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
    s->blocks = blocks;
    uint32_t *swa = realloc(s->swa_blocks, cap * sizeof *swa);
    if (!swa) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
    s->swa_blocks = swa;
    s->cap_blocks = cap;
    return VKA_OK;
}

/* ------------------------------------------------------------ the sliding layers' blocks */

static bool has_swa(const vka_session *s) { return s->sched->pool.n_swa_blocks > 0; }

/* The first block of sliding rows a sequence of `evaluated` tokens keeps:
 * its next token (at `evaluated`) reads positions from evaluated + 1 - window,
 * and its last one, evaluated again, from evaluated - window. */
static uint32_t swa_keep(const vka_session *s, uint32_t evaluated) {
    uint32_t w = s->model->hp.swa_window;
    return evaluated > w ? (evaluated - w) / VKA_KV_BLOCK : 0;
}

/* Whether the sliding rows that evaluating from n_evaluated on reads are
 * still held (a rewind further back than a window finds them given back). */
static bool swa_rows_held(const vka_session *s) {
    return !has_swa(s) || s->swa_first <= swa_keep(s, s->n_evaluated + 1);
}

void vka_seq_slide(vka_session *s) {
    if (!has_swa(s)) return;
    uint32_t keep = swa_keep(s, s->n_evaluated);
    if (keep > s->n_blocks) keep = s->n_blocks;
    for (; s->swa_first < keep; s->swa_first++) {
        vka_kv_swa_release(&s->sched->pool, s->swa_blocks[s->swa_first]);
        s->swa_blocks[s->swa_first] = VKA_KV_NONE;
    }
}

void vka_seq_restore_start(vka_session *s, uint32_t evaluated, uint32_t held_from) {
    if (!has_swa(s) || s->n_blocks != 0) return;
    uint32_t keep = swa_keep(s, evaluated), held = (held_from + VKA_KV_BLOCK - 1) / VKA_KV_BLOCK;
    s->swa_first = keep > held ? keep : held;
}

void vka_seq_release_all(vka_session *s) {
    for (uint32_t i = 0; i < s->n_blocks; i++) vka_kv_block_release(&s->sched->pool, s->blocks[i]);
    for (uint32_t i = s->swa_first; has_swa(s) && i < s->n_blocks; i++)
        vka_kv_swa_release(&s->sched->pool, s->swa_blocks[i]);
    s->swa_first = 0;
    s->n_blocks = 0;
    s->n_checked = 0;
    s->n_evaluated = 0;
    s->logits_fresh = false;
    vka_sched_forget_logits(s);
}

void vka_seq_truncate(vka_session *s) {
    if (!swa_rows_held(s)) { /* rewound past the sliding rows kept: computed again from the start */
        vka_seq_release_all(s);
        return;
    }
    uint32_t keep = div_up(s->n_evaluated, VKA_KV_BLOCK);
    while (s->n_blocks > keep) {
        vka_kv_block_release(&s->sched->pool, s->blocks[--s->n_blocks]);
        if (has_swa(s) && s->n_blocks >= s->swa_first) vka_kv_swa_release(&s->sched->pool, s->swa_blocks[s->n_blocks]);
    }
    if (s->swa_first > s->n_blocks) s->swa_first = s->n_blocks;
    uint32_t full = s->n_evaluated / VKA_KV_BLOCK;
    if (s->n_checked > full) s->n_checked = full;
}

vka_status vka_seq_share(vka_session *dst, const vka_session *src) {
    VKA_TRY(grow_table(dst, src->n_blocks));
    for (uint32_t i = 0; i < src->n_blocks; i++) {
        vka_kv_block_retain(&src->sched->pool, src->blocks[i]);
        dst->blocks[i] = src->blocks[i];
        dst->swa_blocks[i] = VKA_KV_NONE;
        if (has_swa(src) && i >= src->swa_first) {
            vka_kv_swa_retain(&src->sched->pool, src->swa_blocks[i]);
            dst->swa_blocks[i] = src->swa_blocks[i];
        }
    }
    dst->swa_first = src->swa_first;
    dst->n_blocks = src->n_blocks;
    dst->n_checked = src->n_checked;
    return VKA_OK;
}

/* ------------------------------------------------------------ making room */

/* Whether s may give its blocks back now: nothing of it is in the step being
 * gathered, and no generation of it is running (or preemption is allowed). */
static bool idle(const vka_session *s) {
    return !s->in_batch && s->n_blocks > 0 && (!s->generator || vka_generator_done(s->generator));
}

/* The idle session other than `self` used least recently, or NULL. */
static vka_session *oldest_idle(vka_scheduler *sc, const vka_session *self) {
    vka_session *best = NULL;
    for (vka_session *o = sc->sessions; o; o = o->sched_next)
        if (o != self && idle(o) && (!best || o->last_use < best->last_use)) best = o;
    return best;
}

/* The running generation admitted last, other than `self` and the step's, or NULL. */
static vka_session *newest_running(vka_scheduler *sc, const vka_session *self) {
    vka_session *best = NULL;
    for (vka_session *o = sc->sessions; o; o = o->sched_next)
        if (o != self && !o->in_batch && o->n_blocks > 0 && o->generator && !vka_generator_done(o->generator) &&
            (!best || o->order > best->order))
            best = o;
    return best;
}

/* Frees one session's blocks for s; false when nobody can give any. */
static bool make_room(vka_session *s, bool preempt) {
    vka_scheduler *sc = s->sched;
    vka_session *victim = oldest_idle(sc, s);
    if (!victim && preempt) {
        victim = newest_running(sc, s);
        /* never one older than s: the newer one waits instead */
        if (victim && s->generator && victim->order < s->order) victim = NULL;
        if (victim) {
            victim->preempted = true;
            sc->stats.preemptions++;
        }
    }
    if (!victim) return false;
    vka_seq_release_all(victim);
    return true;
}

/* A block of the pool's main space, or of the sliding layers' when swa. */
static vka_status alloc_block_in(vka_session *s, bool preempt, bool swa, uint32_t *id) {
    vka_kv_pool *pool = &s->sched->pool;
    while ((swa ? pool->n_swa_free : vka_kv_pool_available(pool)) == 0)
        if (!make_room(s, preempt))
            return vka_fail(VKA_ERR_CONTEXT_FULL, "the KV pool is full: its %u blocks of %u tokens%s are held by "
                            "other sessions and this one holds %u", swa ? pool->n_swa_blocks : pool->n_blocks,
                            VKA_KV_BLOCK, swa ? " for the sliding-window layers" : "", s->n_blocks);
    return swa ? vka_kv_swa_alloc(pool, id) : vka_kv_block_alloc(pool, id);
}

static vka_status alloc_block(vka_session *s, bool preempt, uint32_t *id) { return alloc_block_in(s, preempt, false, id); }

static void release_in(vka_kv_pool *pool, bool swa, uint32_t id) {
    if (swa) vka_kv_swa_release(pool, id);
    else vka_kv_block_release(pool, id);
}

/* Entry b of s's table (the sliding layers' when swa), shared with another
 * holder, becomes a copy of its own (the rows evaluated so far). */
static vka_status copy_on_write(vka_session *s, bool swa, uint32_t b, bool preempt) {
    vka_kv_pool *pool = &s->sched->pool;
    uint32_t *slot = swa ? &s->swa_blocks[b] : &s->blocks[b], fresh;
    VKA_TRY(alloc_block_in(s, preempt, swa, &fresh));
    uint32_t valid = s->n_evaluated > b * VKA_KV_BLOCK ? s->n_evaluated - b * VKA_KV_BLOCK : 0;
    vka_status st =
        valid ? vka_kv_block_copy(pool, swa, fresh, *slot, valid < VKA_KV_BLOCK ? valid : VKA_KV_BLOCK) : VKA_OK;
    if (st != VKA_OK) {
        release_in(pool, swa, fresh);
        return st;
    }
    release_in(pool, swa, *slot);
    *slot = fresh;
    return VKA_OK;
}

/* Block b of s becomes its own: copied if shared, out of the prefix cache if
 * registered; so do its sliding rows when they have their own block. */
static vka_status own_block(vka_session *s, uint32_t b, bool preempt) {
    vka_kv_pool *pool = &s->sched->pool;
    uint32_t id = s->blocks[b];
    if (s->n_checked > b) s->n_checked = b; /* its contents change: entered again once full */
    if (has_swa(s) && b >= s->swa_first) {
        if (pool->swa_refs[s->swa_blocks[b]] > 1) VKA_TRY(copy_on_write(s, true, b, preempt));
        else vka_kv_swa_touch(pool, s->swa_blocks[b]); /* a prefix-cache link to its old rows goes stale */
    }
    if (pool->blocks[id].refs == 1) {
        vka_kv_block_unregister(pool, id);
        return VKA_OK;
    }
    return copy_on_write(s, false, b, preempt);
}

vka_status vka_seq_prepare_range(vka_session *s, uint32_t pos, uint32_t n, bool preempt) {
    if (n == 0) return VKA_OK;
    uint32_t first = pos / VKA_KV_BLOCK, last = (pos + n - 1) / VKA_KV_BLOCK;
    if (first > s->n_blocks) return vka_fail(VKA_ERR_INTERNAL, "KV position %u is past the session's blocks", pos);
    VKA_TRY(grow_table(s, last + 1));
    /* the session itself must not be chosen to give room while it asks */
    bool was = s->in_batch;
    s->in_batch = true;
    vka_status st = VKA_OK;
    for (uint32_t b = first; st == VKA_OK && b <= last; b++) {
        if (b < s->n_blocks) {
            st = own_block(s, b, preempt);
        } else {
            st = alloc_block(s, preempt, &s->blocks[b]);
            /* sliding rows from swa_first on (a restored session starts past its dropped ones) */
            s->swa_blocks[b] = VKA_KV_NONE;
            if (st == VKA_OK && has_swa(s) && b >= s->swa_first) {
                st = alloc_block_in(s, preempt, true, &s->swa_blocks[b]);
                if (st != VKA_OK) vka_kv_block_release(&s->sched->pool, s->blocks[b]);
            }
            if (st == VKA_OK) s->n_blocks = b + 1;
        }
    }
    s->in_batch = was;
    return st;
}

vka_status vka_seq_prepare(vka_session *s, uint32_t n, bool preempt) {
    if (!swa_rows_held(s)) vka_seq_release_all(s); /* computed again from the start (rewinds do this first) */
    return vka_seq_prepare_range(s, s->n_evaluated, n, preempt);
}

/* ------------------------------------------------------------ the prefix cache */

/* Whether the prefix of j registered blocks (in s->blocks) still has the
 * sliding rows its continuation reads: those of the blocks from its last
 * window's on, through their links. */
static bool swa_rows_cached(const vka_session *s, uint32_t j) {
    for (uint32_t c = swa_keep(s, j * VKA_KV_BLOCK); c < j; c++)
        if (vka_kv_swa_linked(&s->sched->pool, s->blocks[c]) == VKA_KV_NONE) return false;
    return true;
}

/* With bounded sliding layers a session without blocks takes the longest
 * registered prefix whose last window's sliding rows are still linked and
 * intact (the rows before it are not needed). */
static void match_prefix_swa(vka_session *s) {
    vka_kv_pool *pool = &s->sched->pool;
    if (s->n_blocks != 0) return;
    uint32_t k = 0;
    while ((k + 1) * VKA_KV_BLOCK < s->n_past && grow_table(s, k + 1) == VKA_OK) {
        uint32_t id = vka_kv_block_lookup(pool, k ? s->blocks[k - 1] : VKA_KV_NONE, s->tokens + k * VKA_KV_BLOCK);
        if (id == VKA_KV_NONE) break;
        s->blocks[k++] = id; /* not held yet: only the chain so far */
    }
    while (k > 0 && !swa_rows_cached(s, k)) k--;
    if (k == 0) return;
    s->swa_first = swa_keep(s, k * VKA_KV_BLOCK);
    for (uint32_t c = 0; c < k; c++) {
        vka_kv_block_retain(pool, s->blocks[c]);
        s->swa_blocks[c] = c < s->swa_first ? VKA_KV_NONE : vka_kv_swa_linked(pool, s->blocks[c]);
        if (c >= s->swa_first) vka_kv_swa_take(pool, s->swa_blocks[c]);
    }
    s->n_blocks = s->n_checked = k;
    s->n_evaluated = k * VKA_KV_BLOCK;
    s->sched->stats.prefix_tokens += k * VKA_KV_BLOCK;
}

void vka_seq_match_prefix(vka_session *s) {
    vka_kv_pool *pool = &s->sched->pool;
    if (s->n_evaluated % VKA_KV_BLOCK || s->n_blocks != s->n_evaluated / VKA_KV_BLOCK) return;
    if (has_swa(s)) {
        match_prefix_swa(s);
        return;
    }
    /* a block is taken only when a token after it is left to compute, so
     * that the step still produces the logits */
    while (s->n_evaluated + VKA_KV_BLOCK < s->n_past) {
        if (grow_table(s, s->n_blocks + 1) != VKA_OK) return;
        uint32_t parent = s->n_blocks ? s->blocks[s->n_blocks - 1] : VKA_KV_NONE;
        uint32_t id = vka_kv_block_lookup(pool, parent, s->tokens + s->n_evaluated);
        if (id == VKA_KV_NONE) return;
        vka_kv_block_retain(pool, id);
        s->blocks[s->n_blocks++] = id;
        s->n_evaluated += VKA_KV_BLOCK;
        s->n_checked = s->n_blocks;
        s->sched->stats.prefix_tokens += VKA_KV_BLOCK;
    }
}

/* Full blocks are entered in the prefix cache. A block equal to one already
 * there (two sequences computed the same prompt in the same step) is
 * swapped for it: the contents are the same bits (batch invariance), and
 * the copy goes back to the pool. */
void vka_seq_register(vka_session *s) {
    vka_kv_pool *pool = &s->sched->pool;
    uint32_t full = s->n_evaluated / VKA_KV_BLOCK;
    if (full > s->n_blocks) full = s->n_blocks;
    for (uint32_t b = s->n_checked; b < full; b++) {
        uint32_t parent = b ? s->blocks[b - 1] : VKA_KV_NONE, id = s->blocks[b];
        const int32_t *tokens = s->tokens + b * VKA_KV_BLOCK;
        if (pool->blocks[id].registered) continue;
        uint32_t same = vka_kv_block_lookup(pool, parent, tokens);
        if (same == VKA_KV_NONE) {
            vka_kv_block_register(pool, id, parent, tokens);
            /* its sliding rows, while held, for a later match's last window */
            if (has_swa(s)) vka_kv_swa_link(pool, id, b >= s->swa_first ? s->swa_blocks[b] : VKA_KV_NONE);
            continue;
        }
        vka_kv_block_retain(pool, same);
        vka_kv_block_release(pool, id);
        s->blocks[b] = same;
        /* the same rows: ours stand in for sliding rows the cache lost */
        if (has_swa(s) && b >= s->swa_first && vka_kv_swa_linked(pool, same) == VKA_KV_NONE)
            vka_kv_swa_link(pool, same, s->swa_blocks[b]);
    }
    if (full > s->n_checked) s->n_checked = full;
}

/* ------------------------------------------------------------ rows by position */

/* Positions pos..pos+n-1, a block's run at a time. */
static vka_status each_run(vka_session *s, uint32_t layer, bool v, uint32_t pos, uint32_t n, char *out,
                           const char *in) {
    vka_kv_pool *pool = &s->sched->pool;
    size_t row_bytes = (v ? pool->v : pool->k)[layer].row_bytes;
    if (n && (pos + n - 1) / VKA_KV_BLOCK >= s->n_blocks)
        return vka_fail(VKA_ERR_INTERNAL, "KV rows %u..%u are past the session's %u blocks", pos, pos + n - 1,
                        s->n_blocks);
    bool swa = vka_kv_layer_swa(pool, layer);
    while (n > 0) {
        uint32_t run = VKA_KV_BLOCK - pos % VKA_KV_BLOCK;
        if (run > n) run = n;
        uint32_t b = pos / VKA_KV_BLOCK, id = swa ? s->swa_blocks[b] : s->blocks[b];
        uint32_t row = id * VKA_KV_BLOCK + pos % VKA_KV_BLOCK;
        if (swa && b < s->swa_first) { /* given back: outside every window, never read; zeros when asked */
            if (out) memset(out, 0, row_bytes * run);
        } else {
            VKA_TRY(out ? vka_kv_rows_get(pool, layer, v, row, run, out)
                        : vka_kv_rows_set(pool, layer, v, row, run, in));
        }
        if (out) out += row_bytes * run;
        else in += row_bytes * run;
        pos += run;
        n -= run;
    }
    return VKA_OK;
}

vka_status vka_seq_rows_get(vka_session *s, uint32_t layer, bool v, uint32_t pos, uint32_t n, void *out) {
    return each_run(s, layer, v, pos, n, out, NULL);
}

vka_status vka_seq_rows_set(vka_session *s, uint32_t layer, bool v, uint32_t pos, uint32_t n, const void *in) {
    return each_run(s, layer, v, pos, n, NULL, in);
}
