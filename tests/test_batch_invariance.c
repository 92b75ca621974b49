/* test_batch_invariance.c — backend.h's batch invariance in both CPU
 * backends: a token's output row is the same bits whatever n is, whichever
 * other tokens share the step and wherever its row sits in the batch, for
 * every op and every kernel set this CPU runs; and the paged-KV layouts of
 * ROPE, KV_STORE and ATTENTION (sequences of different lengths in shuffled,
 * scattered blocks) give the bits of each sequence run alone, of each token
 * run alone, and of the contiguous form, and refuse hostile tables. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "backends/cpu/cpu_fast_ops.h"
#include "backends/cpu/cpu_moe.h"
#include "backends/cpu/cpu_packed.h"
#include "cpu_attention_bound.h" /* attention_bounds */
#include "cpu_fast_check.h"

static vka_cpu_pool *pool;
/* three threads on any machine: work splits that differ with n are exercised */
static void setup(void) { cr_assert_eq(vka_cpu_pool_create_threads(3, &pool), VKA_OK); }
static void teardown(void) { vka_cpu_pool_free(pool); }
TestSuite(batch_invariance, .init = setup, .fini = teardown);

/* frand, make, random_weights: cpu_fast_check.h */

#define N_TOKENS 40 /* every tile height (4 and 8) with every remainder, and several tiles */

static int64_t irand(int64_t n) { /* uniform enough in [0, n) */
    return (int64_t)((frand() + 1.0f) * 0.5f * (float)n) % n;
}

/* n distinct indices of [0, total) in random order */
static void pick(int64_t *idx, int64_t n, int64_t total) {
    int64_t *all = malloc((size_t)total * sizeof *all);
    for (int64_t i = 0; i < total; i++) all[i] = i;
    for (int64_t i = 0; i < n; i++) {
        int64_t j = i + irand(total - i), tmp = all[i];
        all[i] = all[j];
        all[j] = tmp;
        idx[i] = all[i];
    }
    free(all);
}

/* Rows idx[0..n) of src, in that order. */
static vka_tensor gather(const vka_tensor *src, const int64_t *idx, int64_t n) {
    vka_tensor t = make(src->type, src->ne[0], n);
    for (int64_t i = 0; i < n; i++)
        memcpy((char *)t.data + (size_t)i * t.row_bytes, (const char *)src->data + (size_t)idx[i] * src->row_bytes,
               src->row_bytes);
    return t;
}

static bool same_row(const vka_tensor *a, int64_t ra, const vka_tensor *b, int64_t rb) {
    return memcmp((const char *)a->data + (size_t)ra * a->row_bytes, (const char *)b->data + (size_t)rb * b->row_bytes,
                  a->row_bytes) == 0;
}

/* ---- ops on rows of tokens ---- */

/* An op of n tokens: dst row j from row j of each input. */
typedef vka_status (*token_op)(const void *ctx, vka_tensor *dst, const vka_tensor *in0, const vka_tensor *in1);

/* Runs op on all N_TOKENS tokens, then on each token alone (a decode step),
 * then on a random batch of every size 1 .. N_TOKENS (random tokens in random
 * order, so at every row offset): each token's row must be the same bits. */
static void check_rows(const char *what, token_op op, const void *ctx, const vka_tensor *in0, const vka_tensor *in1,
                       vka_type out_type, int64_t out_ne0) {
    int64_t total = in0->ne[1];
    vka_tensor full = make(out_type, out_ne0, total);
    cr_assert_eq(op(ctx, &full, in0, in1), VKA_OK, "%s", what);
    int64_t idx[N_TOKENS];
    for (int64_t round = 0; round < 2 * total; round++) {
        int64_t n = round < total ? 1 : round - total + 1;
        if (round < total) idx[0] = round;
        else pick(idx, n, total);
        vka_tensor a = gather(in0, idx, n), b = in1 ? gather(in1, idx, n) : (vka_tensor){0};
        vka_tensor got = make(out_type, out_ne0, n);
        cr_assert_eq(op(ctx, &got, &a, in1 ? &b : NULL), VKA_OK, "%s", what);
        for (int64_t i = 0; i < n; i++)
            cr_assert(same_row(&got, i, &full, idx[i]), "%s: token %lld differs as row %lld of %lld from row %lld of %d",
                      what, (long long)idx[i], (long long)i, (long long)n, (long long)idx[i], (int)total);
        free(a.data); free(b.data); free(got.data);
    }
    free(full.data);
}

typedef struct matmul_ctx {
    const vka_fast_kernels *kern; /* NULL: the reference */
    const vka_tensor *w, *bias;
} matmul_ctx;

static vka_status run_matmul(const void *ctx, vka_tensor *dst, const vka_tensor *x, const vka_tensor *unused) {
    (void)unused;
    const matmul_ctx *c = ctx;
    if (!c->kern) return vka_cpu_matmul(pool, dst, c->w, x, c->bias, false);
    return vka_cpu_fast_matmul(c->kern, pool, dst, c->w, x, c->bias, false);
}

/* The weight types of the models (BF16 through the reference's row kernels
 * in the fast backend too), each kernel set's row kernels and, where it has
 * them, its kernels over repacked weights. */
static const vka_type matmul_types[] = {VKA_TYPE_F32,  VKA_TYPE_F16,  VKA_TYPE_BF16, VKA_TYPE_Q4_0,  VKA_TYPE_Q5_0,
                                        VKA_TYPE_Q8_0, VKA_TYPE_Q4_K, VKA_TYPE_Q5_K, VKA_TYPE_Q6_K,  VKA_TYPE_Q2_K,
                                        VKA_TYPE_Q3_K, VKA_TYPE_IQ4_NL, VKA_TYPE_IQ4_XS};

static void check_matmul(const vka_fast_kernels *kern, vka_type type, bool packed) {
    /* 150 rows: the last group of 16 is part padding; k = 544 (17 blocks of 32) where blocks are 32 */
    const int64_t k = vka_type_get_traits(type)->block_size == 256 ? 512 : 544, m = 150;
    rng_state = 77u * (uint64_t)type + packed;
    float *deq = malloc((size_t)(k * m) * sizeof *deq);
    vka_tensor w = random_weights(type, k, m, deq), x = make(VKA_TYPE_F32, k, N_TOKENS), bias = make(VKA_TYPE_F32, m, 1);
    for (int64_t i = 0; i < k * N_TOKENS; i++) f32(&x)[i] = frand() * (i % 7 == 0 ? 4.0f : 1.0f);
    for (int64_t i = 0; i < m; i++) f32(&bias)[i] = frand();
    if (packed) {
        w.impl = vka_cpu_fast_pack(kern, pool, &w, w.data);
        if (!w.impl) goto done; /* no packed kernel for this type */
    }
    char what[96];
    snprintf(what, sizeof what, "matmul %s %s%s", kern ? kern->isa : "reference", vka_type_get_traits(type)->name,
             packed ? " packed" : "");
    matmul_ctx ctx = {kern, &w, type == VKA_TYPE_Q4_0 ? &bias : NULL};
    check_rows(what, run_matmul, &ctx, &x, NULL, VKA_TYPE_F32, m);
done:
    vka_packed_free(w.impl);
    free(deq); free(w.data); free(x.data); free(bias.data);
}

static void check_matmul_set(const vka_fast_kernels *kern) {
    for (size_t t = 0; t < sizeof matmul_types / sizeof matmul_types[0]; t++) {
        check_matmul(kern, matmul_types[t], false);
        if (kern && kern->packed) check_matmul(kern, matmul_types[t], true);
    }
}

Test(batch_invariance, matmul_reference) { check_matmul_set(NULL); }
Test(batch_invariance, matmul_scalar) { check_matmul_set(&vka_fast_scalar); }

Test(batch_invariance, matmul_avx2) {
    if (!vka_fast_avx2()) cr_skip("this CPU (or build) has no AVX2/FMA/F16C");
    check_matmul_set(vka_fast_avx2());
}

Test(batch_invariance, matmul_avx512_vnni) {
    if (!vka_fast_vnni()) cr_skip("this CPU (or build) has no AVX-512 VNNI");
    check_matmul_set(vka_fast_vnni());
}

Test(batch_invariance, matmul_neon) {
    if (!vka_fast_neon()) cr_skip("not an arm64 build");
    check_matmul_set(vka_fast_neon());
}

/* The other row ops: the reference (kern NULL) and each fast kernel set. */
typedef struct rows_ctx {
    const vka_fast_op_kernels *kern;
    const vka_tensor *weight;
} rows_ctx;

static vka_status run_rms_norm(const void *ctx, vka_tensor *dst, const vka_tensor *x, const vka_tensor *unused) {
    (void)unused;
    const rows_ctx *c = ctx;
    if (c->kern) vka_fast_rms_norm(c->kern, pool, dst, x, c->weight, 1e-5f);
    else vka_cpu_rms_norm(dst, x, c->weight, 1e-5f);
    return VKA_OK;
}

static vka_status run_swiglu(const void *ctx, vka_tensor *dst, const vka_tensor *a, const vka_tensor *b) {
    const rows_ctx *c = ctx;
    if (c->kern) vka_fast_swiglu(c->kern, pool, dst, a, b);
    else vka_cpu_swiglu(dst, a, b);
    return VKA_OK;
}

static vka_status run_add(const void *ctx, vka_tensor *dst, const vka_tensor *a, const vka_tensor *b) {
    const rows_ctx *c = ctx;
    if (c->kern) vka_fast_add(c->kern, pool, dst, a, b);
    else vka_cpu_add(dst, a, b);
    return VKA_OK;
}

static vka_status run_argmax(const void *ctx, vka_tensor *dst, const vka_tensor *x, const vka_tensor *unused) {
    (void)ctx;
    (void)unused;
    vka_cpu_argmax(dst, x);
    return VKA_OK;
}

static vka_tensor random_rows(int64_t ne0, int64_t ne1, float amplitude) {
    vka_tensor t = make(VKA_TYPE_F32, ne0, ne1);
    for (int64_t i = 0; i < ne0 * ne1; i++) f32(&t)[i] = frand() * amplitude;
    return t;
}

Test(batch_invariance, row_ops) {
    const vka_fast_op_kernels *sets[] = {NULL, &vka_fast_ops_scalar, vka_fast_ops_avx2()};
    static const int64_t widths[] = {2048, 37, 8192};
    for (size_t s = 0; s < sizeof sets / sizeof sets[0]; s++) {
        if (s > 0 && !sets[s]) continue; /* a set this CPU cannot run */
        const char *isa = sets[s] ? sets[s]->isa : "reference";
        for (size_t c = 0; c < sizeof widths / sizeof widths[0]; c++) {
            int64_t d = widths[c];
            rng_state = 500 + c;
            vka_tensor x = random_rows(d, N_TOKENS, 3.0f), y = random_rows(d, N_TOKENS, 8.0f);
            vka_tensor w = random_rows(d, 1, 1.0f);
            rows_ctx ctx = {sets[s], &w};
            char what[64];
            snprintf(what, sizeof what, "rms_norm %s %lld", isa, (long long)d);
            check_rows(what, run_rms_norm, &ctx, &x, NULL, VKA_TYPE_F32, d);
            snprintf(what, sizeof what, "swiglu %s %lld", isa, (long long)d);
            check_rows(what, run_swiglu, &ctx, &y, &x, VKA_TYPE_F32, d);
            snprintf(what, sizeof what, "add %s %lld", isa, (long long)d);
            check_rows(what, run_add, &ctx, &x, &y, VKA_TYPE_F32, d);
            free(x.data); free(y.data); free(w.data);
        }
    }
}

Test(batch_invariance, argmax) {
    rng_state = 600;
    vka_tensor x = random_rows(1000, N_TOKENS, 1.0f);
    for (int64_t j = 0; j < N_TOKENS; j += 3) f32(&x)[j * 1000 + 7] = f32(&x)[j * 1000 + 900] = 2.0f; /* ties: the first */
    check_rows("argmax", run_argmax, NULL, &x, NULL, VKA_TYPE_I32, 1);
    free(x.data);
}

/* GET_ROWS from an F32 activation (the model picks the rows of the residual
 * stream that need logits): the rows' exact bits, NaN payloads, signed zeros
 * and subnormals included; and from a quantized table. */
static vka_status run_get_rows(const void *ctx, vka_tensor *dst, const vka_tensor *ids, const vka_tensor *unused) {
    (void)unused;
    return vka_cpu_get_rows(dst, ctx, ids);
}

Test(batch_invariance, get_rows) {
    rng_state = 700;
    vka_tensor act = random_rows(96, 50, 1.0f);
    uint32_t odd[4] = {0x7fc01234u, 0xffa00001u, 0x80000000u, 0x00000003u}; /* NaNs with payloads, -0, subnormal */
    for (int i = 0; i < 4; i++) memcpy(f32(&act) + 96 * 5 + i, &odd[i], 4);
    vka_tensor ids = make(VKA_TYPE_I32, 1, N_TOKENS);
    for (int64_t j = 0; j < N_TOKENS; j++) ((int32_t *)ids.data)[j] = j == 0 ? 5 : (int32_t)irand(50);
    vka_tensor got = make(VKA_TYPE_F32, 96, N_TOKENS);
    cr_assert_eq(vka_cpu_get_rows(&got, &act, &ids), VKA_OK);
    for (int64_t j = 0; j < N_TOKENS; j++)
        cr_assert(same_row(&got, j, &act, ((int32_t *)ids.data)[j]), "row %lld is not activation row %d", (long long)j,
                  ((int32_t *)ids.data)[j]);
    check_rows("get_rows f32", run_get_rows, &act, &ids, NULL, VKA_TYPE_F32, 96);
    float *deq = malloc(256 * 50 * sizeof *deq);
    vka_tensor table = random_weights(VKA_TYPE_Q4_K, 256, 50, deq);
    check_rows("get_rows q4_K", run_get_rows, &table, &ids, NULL, VKA_TYPE_F32, 256);
    /* ids past the table, or fewer ids than rows asked for, are refused */
    ((int32_t *)ids.data)[3] = 50;
    cr_expect_eq(vka_cpu_get_rows(&got, &act, &ids), VKA_ERR_INVALID_ARGUMENT);
    vka_tensor few = make(VKA_TYPE_I32, 1, 2);
    cr_expect_eq(vka_cpu_get_rows(&got, &act, &few), VKA_ERR_INVALID_ARGUMENT);
    free(deq); free(table.data); free(act.data); free(ids.data); free(got.data); free(few.data);
}

/* ---- paged KV: sequences of different lengths in scattered blocks ---- */

#define MAX_SEQ 5
#define MAX_BATCH 128

/* Sequence s holds positions 0 .. len[s]-1 in the cache blocks table[s];
 * the step's tokens are its last chunk[s] positions, sequences in a random
 * order. */
typedef struct paged {
    int n_seq;
    int64_t len[MAX_SEQ], chunk[MAX_SEQ], n_blocks[MAX_SEQ];
    int32_t table[MAX_SEQ][8];
    int64_t cache_rows;
    int64_t n;                                   /* the step's tokens */
    int seq_of[MAX_BATCH];
    int64_t pos_of[MAX_BATCH];
} paged;

static paged random_paged(void) {
    paged pg = {.n_seq = MAX_SEQ};
    int64_t blocks = 0;
    for (int s = 0; s < MAX_SEQ; s++) {
        pg.len[s] = s == 0 ? 1 : s == 1 ? 40 + irand(30) : 1 + irand(200); /* a first token; a prompt from 0 */
        pg.chunk[s] = s == 1 ? pg.len[s] : 1 + irand(pg.len[s] < 9 ? pg.len[s] : 9);
        pg.n_blocks[s] = (pg.len[s] + VKA_KV_BLOCK - 1) / VKA_KV_BLOCK;
        blocks += pg.n_blocks[s];
    }
    blocks += 3; /* free blocks between them */
    pg.cache_rows = blocks * VKA_KV_BLOCK;
    int64_t perm[64];
    pick(perm, blocks, blocks); /* shuffled block ids: no sequence is contiguous or in order */
    int64_t next = 0;
    for (int s = 0; s < MAX_SEQ; s++)
        for (int64_t b = 0; b < pg.n_blocks[s]; b++) pg.table[s][b] = (int32_t)perm[next++];
    int64_t order[MAX_SEQ];
    pick(order, MAX_SEQ, MAX_SEQ);
    for (int i = 0; i < MAX_SEQ; i++) {
        int s = (int)order[i];
        for (int64_t p = pg.len[s] - pg.chunk[s]; p < pg.len[s]; p++) {
            pg.seq_of[pg.n] = s;
            pg.pos_of[pg.n++] = p;
        }
    }
    return pg;
}

static int64_t paged_row(const paged *pg, int s, int64_t p) {
    return (int64_t)pg->table[s][p / VKA_KV_BLOCK] * VKA_KV_BLOCK + p % VKA_KV_BLOCK;
}

/* The layout (backend.h) of the step's tokens idx[0..m): positions, then
 * each sequence's table once, the first one seen last (and a spare word
 * between tables), so offsets differ from one batch to the next. */
static vka_tensor make_layout(const paged *pg, const int64_t *idx, int64_t m) {
    int64_t words = 2 * m + MAX_SEQ * 9;
    vka_tensor l = make(VKA_TYPE_I32, words, 1);
    int32_t *w = l.data, start[MAX_SEQ] = {0};
    int64_t end = words;
    for (int64_t i = 0; i < m; i++) {
        int s = pg->seq_of[idx[i]];
        if (!start[s]) {
            end -= pg->n_blocks[s] + 1;
            start[s] = (int32_t)end;
            memcpy(w + end, pg->table[s], (size_t)pg->n_blocks[s] * sizeof(int32_t));
        }
        w[i] = (int32_t)pg->pos_of[idx[i]];
        w[m + i] = start[s];
    }
    return l;
}

static void all_tokens(int64_t *idx, int64_t n) {
    for (int64_t i = 0; i < n; i++) idx[i] = i;
}

/* ROPE: each token rotated by its own position, the same bits in the batch,
 * alone, and in the contiguous form at n_past = its position. */
static vka_status rope_any(bool fast, vka_tensor *x, const vka_rope_params *p, const vka_tensor *layout, uint32_t n_past) {
    if (fast) return vka_fast_rope(pool, x, NULL, p, layout, n_past);
    return vka_cpu_rope(x, NULL, p, layout, n_past);
}

/* Whole heads, and Phi-4-mini's partial rotary (48 of 64) with an attention factor. */
static const vka_rope_params rope_cases[] = {{VKA_ROPE_NEOX, 4, 64, 1000000.0f, 1.0f, 0.0f},
                                             {VKA_ROPE_NEOX, 4, 48, 10000.0f, 1.0f, 1.1902f}};

Test(batch_invariance, rope_paged) {
    rng_state = 800;
    paged pg = random_paged();
    vka_tensor x = random_rows(64, 4 * pg.n, 1.0f);
    for (int run = 0; run < 4; run++) {
        int fast = run % 2;
        const vka_rope_params p = rope_cases[run / 2];
        vka_tensor all = make(VKA_TYPE_F32, 64, 4 * pg.n);
        memcpy(all.data, x.data, x.nbytes);
        int64_t idx[MAX_BATCH];
        all_tokens(idx, pg.n);
        vka_tensor layout = make_layout(&pg, idx, pg.n);
        cr_assert_eq(rope_any(fast, &all, &p, &layout, 0), VKA_OK);
        for (int64_t t = 0; t < pg.n; t++) {
            vka_tensor one = make(VKA_TYPE_F32, 64, 4), contiguous = make(VKA_TYPE_F32, 64, 4);
            memcpy(one.data, f32(&x) + t * 4 * 64, one.nbytes);
            memcpy(contiguous.data, one.data, one.nbytes);
            vka_tensor l1 = make_layout(&pg, &t, 1);
            cr_assert_eq(rope_any(fast, &one, &p, &l1, 12345), VKA_OK); /* n_past is ignored with a layout */
            cr_assert_eq(rope_any(!fast, &contiguous, &p, NULL, (uint32_t)pg.pos_of[t]), VKA_OK);
            cr_assert_eq(memcmp(one.data, f32(&all) + t * 4 * 64, one.nbytes), 0, "rope token %lld alone", (long long)t);
            cr_assert_eq(memcmp(one.data, contiguous.data, one.nbytes), 0, "rope token %lld contiguous", (long long)t);
            free(one.data); free(contiguous.data); free(l1.data);
        }
        free(all.data); free(layout.data);
    }
    free(x.data);
}

/* A cache of `rows` rows filled with NaN: a kernel that reads a row it was
 * not given gets NaN into its results. */
static vka_tensor nan_cache(vka_type type, int64_t dim, int64_t rows) {
    vka_tensor t = make(type, dim, rows);
    for (int64_t i = 0; i < dim * rows; i++) {
        if (type == VKA_TYPE_F16) ((uint16_t *)t.data)[i] = 0x7e00;
        else f32(&t)[i] = NAN;
    }
    return t;
}

/* KV_STORE: token t's row lands in row(t, pos(t)) with the bits the
 * contiguous store gives position pos(t); no other row is written. */
Test(batch_invariance, kv_store_paged) {
    for (int f16 = 0; f16 < 2; f16++) {
        vka_type type = f16 ? VKA_TYPE_F16 : VKA_TYPE_F32;
        rng_state = 900 + (uint64_t)f16;
        paged pg = random_paged();
        const int64_t dim = 72;
        vka_tensor src = random_rows(dim, pg.n, 2.0f), cache = nan_cache(type, dim, pg.cache_rows);
        int64_t idx[MAX_BATCH];
        all_tokens(idx, pg.n);
        vka_tensor layout = make_layout(&pg, idx, pg.n);
        cr_assert_eq(vka_cpu_kv_store(&cache, &src, &layout, 0), VKA_OK);
        vka_tensor blank = nan_cache(type, dim, 1);
        int64_t written = 0;
        for (int64_t r = 0; r < pg.cache_rows; r++) written += !same_row(&cache, r, &blank, 0);
        cr_expect_eq(written, pg.n, "%lld rows written for %lld tokens", (long long)written, (long long)pg.n);
        for (int s = 0; s < pg.n_seq; s++) {
            vka_tensor contiguous = nan_cache(type, dim, pg.len[s]);
            int64_t first = 0;
            while (pg.seq_of[first] != s) first++;
            vka_tensor part;
            vka_tensor_view(&part, &src, first, pg.chunk[s], dim);
            cr_assert_eq(vka_cpu_kv_store(&contiguous, &part, NULL, (uint32_t)(pg.len[s] - pg.chunk[s])), VKA_OK);
            for (int64_t p = pg.len[s] - pg.chunk[s]; p < pg.len[s]; p++)
                cr_assert(same_row(&cache, paged_row(&pg, s, p), &contiguous, p), "%s sequence %d position %lld",
                          f16 ? "f16" : "f32", s, (long long)p);
            free(contiguous.data);
        }
        free(src.data); free(cache.data); free(layout.data); free(blank.data);
    }
}

/* ATTENTION: kern NULL is the reference. */
static vka_status attention_any(const vka_fast_op_kernels *kern, vka_tensor *dst, const vka_tensor *q,
                                const vka_tensor *k, const vka_tensor *v, const vka_attention_params *p,
                                const vka_tensor *layout, uint32_t n_past) {
    if (kern) return vka_fast_attention(kern, pool, dst, q, k, v, p, layout, n_past);
    return vka_cpu_attention(pool, dst, q, k, v, p, layout, n_past);
}

typedef struct attn_shape {
    uint32_t n_head, n_head_kv, head_dim, head_dim_v;
} attn_shape;

/* The caches of a paged step: each sequence's rows contiguous (kc, vc) and
 * scattered through the shared caches (k, v, NaN where no sequence is). */
typedef struct attn_data {
    paged pg;
    vka_tensor q, k, v, kc[MAX_SEQ], vc[MAX_SEQ];
} attn_data;

static void copy_rows(vka_tensor *paged_cache, const vka_tensor *contiguous, const paged *pg, int s) {
    for (int64_t p = 0; p < pg->len[s]; p++)
        memcpy((char *)paged_cache->data + (size_t)paged_row(pg, s, p) * paged_cache->row_bytes,
               (const char *)contiguous->data + (size_t)p * contiguous->row_bytes, contiguous->row_bytes);
}

static vka_tensor random_cache_rows(vka_type type, int64_t dim, int64_t rows) {
    vka_tensor t = make(type, dim, rows);
    for (int64_t i = 0; i < dim * rows; i++) {
        if (type == VKA_TYPE_F16) ((uint16_t *)t.data)[i] = vka_f32_to_f16(frand());
        else f32(&t)[i] = frand();
    }
    return t;
}

static attn_data attn_setup(const attn_shape *sh, vka_type type, uint64_t seed) {
    rng_state = seed;
    attn_data d = {.pg = random_paged()};
    int64_t kd = (int64_t)sh->n_head_kv * sh->head_dim, vd = (int64_t)sh->n_head_kv * sh->head_dim_v;
    d.q = random_rows((int64_t)sh->n_head * sh->head_dim, d.pg.n, 2.0f);
    d.k = nan_cache(type, kd, d.pg.cache_rows);
    d.v = nan_cache(type, vd, d.pg.cache_rows);
    for (int s = 0; s < d.pg.n_seq; s++) {
        d.kc[s] = random_cache_rows(type, kd, d.pg.len[s]);
        d.vc[s] = random_cache_rows(type, vd, d.pg.len[s]);
        copy_rows(&d.k, &d.kc[s], &d.pg, s);
        copy_rows(&d.v, &d.vc[s], &d.pg, s);
    }
    return d;
}

static void attn_free(attn_data *d) {
    free(d->q.data); free(d->k.data); free(d->v.data);
    for (int s = 0; s < d->pg.n_seq; s++) {
        free(d->kc[s].data);
        free(d->vc[s].data);
    }
}

/* Tokens idx[0..m) as a step of their own: each row must be its row of `full`. */
static void expect_same_step(const vka_fast_op_kernels *kern, const attn_data *d, const vka_attention_params *p,
                             const vka_tensor *full, const int64_t *idx, int64_t m, const char *what) {
    vka_tensor q = gather(&d->q, idx, m), out = make(VKA_TYPE_F32, full->ne[0], m);
    vka_tensor layout = make_layout(&d->pg, idx, m);
    cr_assert_eq(attention_any(kern, &out, &q, &d->k, &d->v, p, &layout, 0), VKA_OK, "%s", what);
    for (int64_t i = 0; i < m; i++)
        cr_assert(same_row(&out, i, full, idx[i]), "%s %s: token %lld (sequence %d, position %lld) as row %lld of %lld",
                  kern ? kern->isa : "reference", what, (long long)idx[i], d->pg.seq_of[idx[i]],
                  (long long)d->pg.pos_of[idx[i]], (long long)i, (long long)m);
    free(q.data); free(out.data); free(layout.data);
}

/* Each sequence's tokens in the contiguous form (its own caches, n_past =
 * its first position): the bits of the paged step. */
static void expect_contiguous(const vka_fast_op_kernels *kern, const attn_data *d, const vka_attention_params *p,
                              const vka_tensor *full) {
    for (int s = 0; s < d->pg.n_seq; s++) {
        int64_t idx[MAX_BATCH], m = 0;
        for (int64_t t = 0; t < d->pg.n; t++)
            if (d->pg.seq_of[t] == s) idx[m++] = t;
        vka_tensor q = gather(&d->q, idx, m), out = make(VKA_TYPE_F32, full->ne[0], m);
        uint32_t n_past = (uint32_t)(d->pg.len[s] - d->pg.chunk[s]);
        cr_assert_eq(attention_any(kern, &out, &q, &d->kc[s], &d->vc[s], p, NULL, n_past), VKA_OK);
        for (int64_t i = 0; i < m; i++)
            cr_assert(same_row(&out, i, full, idx[i]), "%s: sequence %d position %lld paged differs from contiguous",
                      kern ? kern->isa : "reference", s, (long long)d->pg.pos_of[idx[i]]);
        free(q.data); free(out.data);
    }
}

/* The fast kernels' paged step against the reference's, within the bound
 * test_cpu_fast_ops derives (cpu_attention_bound.h), evaluated for each
 * token over its sequence's contiguous caches. */
static void expect_near_reference(const vka_fast_op_kernels *kern, const attn_data *d, const vka_attention_params *p,
                                  const vka_tensor *got, const vka_tensor *want) {
    double *tol = malloc(p->head_dim_v * sizeof *tol);
    for (int64_t t = 0; t < d->pg.n; t++) {
        int s = d->pg.seq_of[t];
        attn_case c = {p->n_head, p->n_head_kv, p->head_dim, p->head_dim_v, 1, (uint32_t)d->pg.pos_of[t]};
        vka_tensor qt;
        vka_tensor_view(&qt, (vka_tensor *)&d->q, t, 1, d->q.ne[0]);
        for (uint32_t h = 0; h < p->n_head; h++) {
            attention_bounds(&c, &qt, &d->kc[s], &d->vc[s], p->scale, 0, h, tol);
            if (p->softcap > 0.0f || p->window) /* the bound knows neither: outputs are averages of |v| <= 1 */
                for (uint32_t i = 0; i < p->head_dim_v; i++) tol[i] = 2e-5;
            for (uint32_t i = 0; i < p->head_dim_v; i++) {
                size_t at = (size_t)t * (size_t)got->ne[0] + (size_t)h * p->head_dim_v + i;
                double a = f32(got)[at], b = f32(want)[at];
                cr_assert(fabs(a - b) <= tol[i], "%s: sequence %d position %lld head %u dim %u: %.9g vs reference %.9g "
                          "(bound %.3g)", kern->isa, s, (long long)d->pg.pos_of[t], h, i, a, b, tol[i]);
            }
        }
    }
    free(tol);
}

/* Every check of one kernel set (NULL: the reference) on one random step;
 * returns the step's output (the caller frees it). */
static vka_tensor check_attention(const vka_fast_op_kernels *kern, const attn_shape *sh, vka_type type, uint64_t seed,
                                  const vka_tensor *reference, float softcap, uint32_t window) {
    attn_data d = attn_setup(sh, type, seed);
    vka_attention_params p = {sh->n_head, sh->n_head_kv, sh->head_dim, sh->head_dim_v,
                              1.0f / sqrtf((float)sh->head_dim), softcap, window};
    int64_t out_dim = (int64_t)sh->n_head * sh->head_dim_v, idx[MAX_BATCH];
    vka_tensor full = make(VKA_TYPE_F32, out_dim, d.pg.n);
    all_tokens(idx, d.pg.n);
    vka_tensor layout = make_layout(&d.pg, idx, d.pg.n);
    cr_assert_eq(attention_any(kern, &full, &d.q, &d.k, &d.v, &p, &layout, 0), VKA_OK);
    for (int64_t i = 0; i < out_dim * d.pg.n; i++) cr_assert(isfinite(f32(&full)[i]), "a NaN row was read");
    for (int64_t t = 0; t < d.pg.n; t++) expect_same_step(kern, &d, &p, &full, &t, 1, "alone");
    for (int round = 0; round < 6; round++) { /* random sub-batches in random order */
        int64_t m = 1 + irand(d.pg.n);
        pick(idx, m, d.pg.n);
        expect_same_step(kern, &d, &p, &full, idx, m, "in a sub-batch");
    }
    expect_contiguous(kern, &d, &p, &full);
    if (reference) expect_near_reference(kern, &d, &p, &full, reference);
    free(layout.data);
    attn_free(&d);
    return full;
}

static const attn_shape attn_shapes[] = {
    {32, 8, 64, 64}, /* Llama-3.2-1B */
    {14, 2, 64, 64}, /* Qwen2.5-0.5B: 7 query heads per KV head (passes of 4 and 3) */
    {3, 3, 36, 40},  /* no sharing; sizes not multiples of 8 and 16 */
};

Test(batch_invariance, attention_paged) {
    const vka_fast_op_kernels *sets[] = {&vka_fast_ops_scalar, vka_fast_ops_avx2()};
    for (size_t c = 0; c < sizeof attn_shapes / sizeof attn_shapes[0]; c++)
        for (int f16 = 0; f16 < 2; f16++) {
            vka_type type = f16 ? VKA_TYPE_F16 : VKA_TYPE_F32;
            uint64_t seed = 1000 + 10 * c + (uint64_t)f16;
            vka_tensor reference = check_attention(NULL, &attn_shapes[c], type, seed, NULL, 0.0f, 0);
            for (size_t s = 0; s < sizeof sets / sizeof sets[0]; s++) {
                if (!sets[s]) continue; /* a set this CPU cannot run */
                vka_tensor got = check_attention(sets[s], &attn_shapes[c], type, seed, &reference, 0.0f, 0);
                free(got.data);
            }
            free(reference.data);
        }
}

/* gemma's attention: soft-capped scores and sliding windows (from one key
 * to more than a block), the same promises. */
Test(batch_invariance, attention_paged_window_softcap) {
    const vka_fast_op_kernels *sets[] = {&vka_fast_ops_scalar, vka_fast_ops_avx2()};
    const attn_shape sh = {4, 2, 32, 32};
    const uint32_t windows[] = {1, 7, 40};
    for (int w = 0; w < 3; w++) {
        uint64_t seed = 1100 + (uint64_t)w;
        float softcap = w == 1 ? 0.0f : 5.0f;
        vka_tensor reference = check_attention(NULL, &sh, VKA_TYPE_F32, seed, NULL, softcap, windows[w]);
        for (size_t s = 0; s < sizeof sets / sizeof sets[0]; s++) {
            if (!sets[s]) continue;
            vka_tensor got = check_attention(sets[s], &sh, VKA_TYPE_F32, seed, &reference, softcap, windows[w]);
            free(got.data);
        }
        free(reference.data);
    }
}

/* ---- hostile layouts: refused with an error, nothing read or written out of bounds ---- */

/* Two tokens of one sequence at positions 38 and 39 (blocks 2 and 0 of a
 * 4-block cache), then `edit` applied to the words. */
typedef struct hostile {
    const char *what;
    int64_t word;                                 /* -1: the tensor's type is wrong, -2: too few words */
    int32_t value;
    vka_status want_rope, want_store, want_attention;
} hostile;

#define BAD VKA_ERR_INVALID_ARGUMENT
#define FULL VKA_ERR_CONTEXT_FULL
static const hostile hostiles[] = {
    {"negative position", 0, -1, BAD, BAD, BAD},
    {"table start inside the positions", 2, 1, BAD, BAD, BAD},
    {"table start past the tensor", 3, 6, BAD, BAD, BAD},
    {"negative table start", 3, -5, BAD, BAD, BAD},
    {"position past the table", 1, 64, VKA_OK, BAD, BAD},
    {"position at the largest int", 1, 2147483647, VKA_OK, BAD, BAD},
    {"negative block", 5, -1, VKA_OK, BAD, BAD},
    {"block past the cache", 5, 4, VKA_OK, FULL, FULL},
    {"block id overflowing a row number", 5, 2147483647, VKA_OK, FULL, FULL},
    {"a key's block past the cache (only attention reads it)", 4, 4, VKA_OK, VKA_OK, FULL},
    {"a key's block elsewhere inside the cache", 4, 3, VKA_OK, VKA_OK, VKA_OK},
    {"wrong type", -1, 0, BAD, BAD, BAD},
    {"too few words", -2, 0, BAD, BAD, BAD},
};
#undef BAD
#undef FULL

static vka_tensor hostile_layout(const hostile *h) {
    vka_tensor l = make(VKA_TYPE_I32, 6, 1);
    int32_t *w = l.data;
    w[0] = 38; w[1] = 39; w[2] = 4; w[3] = 4; w[4] = 2; w[5] = 0; /* positions 0-31 in block 2, 32-63 in block 0 */
    if (h->word >= 0) w[h->word] = h->value;
    if (h->word == -1) l.type = VKA_TYPE_F32;
    if (h->word == -2) l.ne[0] = 3;
    return l;
}

Test(batch_invariance, hostile_layouts) {
    const attn_shape sh = {2, 1, 16, 16};
    vka_attention_params p = {2, 1, 16, 16, 0.25f, 0.0f, 0};
    vka_rope_params rp = {VKA_ROPE_NORM, 2, 16, 10000.0f, 1.0f, 0.0f};
    rng_state = 1100;
    for (size_t i = 0; i < sizeof hostiles / sizeof hostiles[0]; i++) {
        const hostile *h = &hostiles[i];
        vka_tensor l = hostile_layout(h), q = random_rows(32, 2, 1.0f), out = make(VKA_TYPE_F32, 32, 2);
        vka_tensor k = random_cache_rows(VKA_TYPE_F32, sh.head_dim, 4 * VKA_KV_BLOCK);
        vka_tensor v = random_cache_rows(VKA_TYPE_F16, sh.head_dim_v, 4 * VKA_KV_BLOCK), before = make(VKA_TYPE_F32, 16, 128);
        vka_tensor src = random_rows(16, 2, 1.0f), x = random_rows(16, 4, 1.0f);
        memcpy(before.data, k.data, k.nbytes);
        cr_expect_eq(vka_cpu_rope(&x, NULL, &rp, &l, 0), h->want_rope, "reference rope: %s", h->what);
        cr_expect_eq(vka_fast_rope(pool, &x, NULL, &rp, &l, 0), h->want_rope, "fast rope: %s", h->what);
        cr_expect_eq(vka_cpu_attention(pool, &out, &q, &k, &v, &p, &l, 0), h->want_attention, "reference attention: %s", h->what);
        cr_expect_eq(vka_fast_attention(&vka_fast_ops_scalar, pool, &out, &q, &k, &v, &p, &l, 0), h->want_attention,
                     "fast attention: %s", h->what);
        if (vka_fast_ops_avx2())
            cr_expect_eq(vka_fast_attention(vka_fast_ops_avx2(), pool, &out, &q, &k, &v, &p, &l, 0), h->want_attention,
                         "avx2 attention: %s", h->what);
        cr_expect_eq(vka_cpu_kv_store(&k, &src, &l, 0), h->want_store, "kv_store: %s", h->what);
        if (h->want_store != VKA_OK) cr_expect_eq(memcmp(before.data, k.data, k.nbytes), 0, "kv_store wrote on refusal: %s", h->what);
        free(l.data); free(q.data); free(out.data); free(k.data); free(v.data); free(before.data); free(src.data);
        free(x.data);
    }
}

/* ---- through the backends: the graph's layout reaches the ops ---- */

static vka_tensor backend_tensor(vka_backend *b, vka_type type, int64_t ne0, int64_t ne1, vka_tensor_usage usage,
                                 const vka_tensor *init) {
    vka_tensor t;
    vka_tensor_init(&t, "t", type, ne0, ne1, usage);
    cr_assert_eq(b->ops->tensor_alloc(b, &t, NULL), VKA_OK);
    if (init) cr_assert_eq(b->ops->tensor_set(b, &t, init->data, 0, t.nbytes), VKA_OK);
    return t;
}

/* GET_ROWS picks rows of an F32 activation, ROPE, KV_STORE and ATTENTION run
 * on a paged step: the same bits as the ops called directly (the fast
 * backend with the kernels it selects). */
Test(batch_invariance, backends_pass_the_layout) {
    const attn_shape sh = {4, 2, 32, 32};
    for (int fast = 0; fast < 2; fast++) {
        vka_backend *b = NULL;
        cr_assert_eq(fast ? vka_cpu_fast_backend_create_threads(2, &b) : vka_cpu_backend_create_threads(2, &b), VKA_OK);
        attn_data d = attn_setup(&sh, VKA_TYPE_F32, 1200 + (uint64_t)fast);
        int64_t n = d.pg.n, idx[MAX_BATCH];
        all_tokens(idx, n);
        vka_tensor host_layout = make_layout(&d.pg, idx, n), host_kv = random_rows(64, n, 1.0f);
        vka_tensor layout = backend_tensor(b, VKA_TYPE_I32, host_layout.ne[0], 1, VKA_USAGE_INPUT, &host_layout);
        vka_tensor q = backend_tensor(b, VKA_TYPE_F32, 128, n, VKA_USAGE_ACTIVATION, &d.q);
        vka_tensor kv = backend_tensor(b, VKA_TYPE_F32, 64, n, VKA_USAGE_ACTIVATION, &host_kv);
        vka_tensor k = backend_tensor(b, VKA_TYPE_F32, 64, d.pg.cache_rows, VKA_USAGE_KV, &d.k);
        vka_tensor v = backend_tensor(b, VKA_TYPE_F32, 64, d.pg.cache_rows, VKA_USAGE_KV, &d.v);
        vka_tensor out = backend_tensor(b, VKA_TYPE_F32, 128, n, VKA_USAGE_ACTIVATION, NULL);
        vka_tensor ids = backend_tensor(b, VKA_TYPE_I32, 3, 1, VKA_USAGE_INPUT, NULL);
        vka_tensor picked = backend_tensor(b, VKA_TYPE_F32, 128, 3, VKA_USAGE_OUTPUT, NULL);
        int32_t pick_ids[3] = {(int32_t)n - 1, 0, (int32_t)n / 2};
        cr_assert_eq(b->ops->tensor_set(b, &ids, pick_ids, 0, sizeof pick_ids), VKA_OK);
        vka_tensor q_heads;
        vka_tensor_view(&q_heads, &q, 0, n, 32);
        vka_graph g;
        vka_graph_init(&g, (uint32_t)n);
        vka_rope_params rp = {VKA_ROPE_NEOX, 4, 32, 10000.0f, 1.0f, 0.0f};
        vka_attention_params p = {4, 2, 32, 32, 0.17f, 0.0f, 0};
        cr_assert_eq(vka_graph_add(&g, &(vka_node){.op = VKA_OP_ROPE, .src = {&q_heads}, .layout = &layout, .p.rope = rp}),
                     VKA_OK);
        cr_assert_eq(vka_graph_add(&g, &(vka_node){.op = VKA_OP_KV_STORE, .dst = &k, .src = {&kv}, .layout = &layout}),
                     VKA_OK);
        cr_assert_eq(vka_graph_add(&g, &(vka_node){.op = VKA_OP_ATTENTION, .dst = &out, .src = {&q, &k, &v},
                                                   .layout = &layout, .p.attn = p}),
                     VKA_OK);
        cr_assert_eq(vka_graph_add(&g, &(vka_node){.op = VKA_OP_GET_ROWS, .dst = &picked, .src = {&out, &ids}}), VKA_OK);
        cr_assert_eq(vka_backend_compute(b, &g, 999), VKA_OK); /* n_past is ignored with a layout */
        /* the same by direct calls on host copies */
        vka_tensor want_heads;
        vka_tensor_view(&want_heads, &d.q, 0, n, 32);
        vka_tensor want = make(VKA_TYPE_F32, 128, n);
        const vka_fast_op_kernels *kern = fast ? vka_fast_ops_select() : NULL;
        cr_assert_eq(rope_any(fast, &want_heads, &rp, &host_layout, 0), VKA_OK);
        cr_assert_eq(vka_cpu_kv_store(&d.k, &host_kv, &host_layout, 0), VKA_OK);
        cr_assert_eq(attention_any(kern, &want, &d.q, &d.k, &d.v, &p, &host_layout, 0), VKA_OK);
        cr_expect_eq(memcmp(k.data, d.k.data, k.nbytes), 0, "%s: K cache", b->name);
        cr_expect_eq(memcmp(out.data, want.data, want.nbytes), 0, "%s: attention", b->name);
        for (int r = 0; r < 3; r++)
            cr_expect(same_row(&picked, r, &want, pick_ids[r]), "%s: picked row %d", b->name, r);
        vka_graph_free(&g);
        vka_tensor *owned[] = {&layout, &q, &kv, &k, &v, &out, &ids, &picked};
        for (size_t i = 0; i < sizeof owned / sizeof owned[0]; i++) b->ops->tensor_free(b, owned[i]);
        vka_backend_close(b);
        free(want.data); free(host_layout.data); free(host_kv.data);
        attn_free(&d);
    }
}

/* ---- mixture of experts (cpu_moe.c) ---- */

#define MOE_K 2u

typedef struct moe_ctx {
    const vka_fast_kernels *kern; /* NULL: the reference */
    const vka_tensor *w;          /* expert slabs [k_in, m * n_expert] */
    int64_t m;                    /* rows per expert */
    bool per_slot;
} moe_ctx;

/* Rows of MOE_K * width floats (a token's slots side by side) as MOE_K rows of width each. */
static vka_tensor slots(const vka_tensor *t, int64_t width) {
    vka_tensor v;
    vka_tensor_init(&v, "slots", VKA_TYPE_F32, width, t->ne[1] * MOE_K, VKA_USAGE_ACTIVATION);
    v.data = t->data;
    return v;
}

static vka_status run_route(const void *ctx, vka_tensor *dst, const vka_tensor *logits, const vka_tensor *unused) {
    (void)ctx, (void)unused;
    vka_moe_params p = {.n_used = MOE_K, .norm = true};
    return vka_cpu_moe_route(dst, logits, &p);
}

/* A token's row: its input (per slot: its MOE_K inputs side by side) and its route row; out: its MOE_K rows. */
static vka_status run_matmul_id(const void *ctx, vka_tensor *dst, const vka_tensor *x, const vka_tensor *route) {
    const moe_ctx *c = ctx;
    vka_moe_params p = {.n_used = MOE_K, .per_slot = c->per_slot};
    vka_tensor out = slots(dst, c->m), in = c->per_slot ? slots(x, c->w->ne[0]) : *x;
    return vka_cpu_matmul_id(c->kern, pool, &out, c->w, &in, route, &p);
}

static vka_status run_moe_sum(const void *ctx, vka_tensor *dst, const vka_tensor *src, const vka_tensor *route) {
    (void)ctx;
    vka_moe_params p = {.n_used = MOE_K};
    vka_tensor in = slots(src, dst->ne[0]);
    return vka_cpu_moe_sum(dst, &in, route, &p);
}

static void check_matmul_id(const vka_fast_kernels *kern, vka_type type, const vka_tensor *route) {
    int64_t k_in = 256, m = 32, n_expert = 6;
    float *deq = malloc((size_t)(k_in * m * n_expert) * sizeof *deq);
    vka_tensor w = random_weights(type, k_in, m * n_expert, deq);
    free(deq);
    w.usage = VKA_USAGE_WEIGHT;
    w.impl = kern ? vka_cpu_fast_pack(kern, pool, &w, w.data) : NULL;
    for (int per_slot = 0; per_slot < 2; per_slot++) {
        moe_ctx c = {kern, &w, m, per_slot};
        vka_tensor x = random_rows(per_slot ? k_in * MOE_K : k_in, N_TOKENS, 1.0f);
        char what[80];
        snprintf(what, sizeof what, "matmul_id %s %s%s", vka_type_name(type), kern ? kern->isa : "reference",
                 per_slot ? " per slot" : "");
        check_rows(what, run_matmul_id, &c, &x, route, VKA_TYPE_F32, m * MOE_K);
        free(x.data);
    }
    vka_packed_free(w.impl);
    free(w.data);
}

Test(batch_invariance, moe) {
    vka_tensor logits = random_rows(6, N_TOKENS, 3.0f), route = make(VKA_TYPE_F32, 2 * MOE_K, N_TOKENS);
    cr_assert_eq(run_route(NULL, &route, &logits, NULL), VKA_OK);
    check_rows("moe_route", run_route, NULL, &logits, NULL, VKA_TYPE_F32, 2 * MOE_K);
    vka_tensor src = random_rows(24 * MOE_K, N_TOKENS, 2.0f);
    check_rows("moe_sum", run_moe_sum, NULL, &src, &route, VKA_TYPE_F32, 24);
    check_matmul_id(NULL, VKA_TYPE_Q8_0, &route);
    const vka_fast_kernels *fast = vka_fast_select();
    check_matmul_id(fast, VKA_TYPE_Q4_K, &route);
    check_matmul_id(fast, VKA_TYPE_Q8_0, &route);
    check_matmul_id(fast, VKA_TYPE_F16, &route);
    free(logits.data), free(route.data), free(src.data);
}
