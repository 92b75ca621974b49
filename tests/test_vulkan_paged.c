/* test_vulkan_paged.c — the Vulkan backend's paged KV caches (a node's
 * `layout`, engine/backends/backend.h): RoPE at per-token positions, KV
 * stores through block tables, attention of each token over its own
 * sequence's scattered blocks, for ragged batches of several sequences
 * (prefill chunks and decode tokens interleaved), f32 and f16 caches, the
 * texel and storage-buffer kernels. Each result is compared bit for bit with
 * the same data laid out contiguously (layout NULL) on Vulkan, which makes
 * every case also a batch-invariance check. Also: GET_ROWS from an f32
 * activation tensor, and tables that point outside the caches. Part of the
 * test_vulkan_ops executable (suite vulkan_ops, its harness). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vulkan_ops_harness.h"

/* ------------------------------------------------------------ Vulkan-only tensors and graphs */

static void vk_make(vka_tensor *t, const char *name, vka_type type, int64_t ne0, int64_t ne1, vka_tensor_usage usage,
                    const void *data) {
    vka_tensor_init(t, name, type, ne0, ne1, usage);
    cr_assert_eq(vk->ops->tensor_alloc(vk, t, NULL), VKA_OK, "%s: %s", name, vka_last_error());
    if (data) cr_assert_eq(vk->ops->tensor_set(vk, t, data, 0, t->nbytes), VKA_OK, "%s", vka_last_error());
}

static void vk_drop(vka_tensor *t) { vk->ops->tensor_free(vk, t); }

/* Runs the nodes as one graph on Vulkan. */
static void vk_run(const vka_node *nodes, uint32_t n_nodes, uint32_t n_tokens, uint32_t n_past) {
    vka_graph g;
    vka_graph_init(&g, n_tokens);
    for (uint32_t i = 0; i < n_nodes; i++) cr_assert_eq(vka_graph_add(&g, &nodes[i]), VKA_OK);
    cr_assert_eq(vka_backend_compute(vk, &g, n_past), VKA_OK, "vulkan: %s", vka_last_error());
    vka_graph_free(&g);
}

/* ------------------------------------------------------------ ragged batches */

#define MAX_SEQ 8

/* A step over several sequences: sequence s holds len[s] positions after
 * the step, the last news[s] of them computed in it; tokens interleaved
 * round-robin; blocks a random permutation of the cache's. */
typedef struct batch {
    uint32_t n_seq, n;
    uint32_t len[MAX_SEQ], news[MAX_SEQ];
    uint32_t seq[256], pos[256];      /* per token */
    uint32_t first[MAX_SEQ];          /* word of sequence s's table in the layout */
    int32_t *layout;
    uint32_t words;
    uint32_t blocks, rows;            /* cache blocks; rows (a few past the last block) */
} batch;

static uint32_t n_blocks(uint32_t len) { return (len + VKA_KV_BLOCK - 1) / VKA_KV_BLOCK; }

static void batch_init(batch *b, uint32_t n_seq, const uint32_t *len, const uint32_t *news, uint32_t spare_blocks) {
    memset(b, 0, sizeof *b);
    b->n_seq = n_seq;
    uint32_t table_words = 0;
    for (uint32_t s = 0; s < n_seq; s++) {
        b->len[s] = len[s];
        b->news[s] = news[s];
        b->n += news[s];
        table_words += n_blocks(len[s]);
    }
    cr_assert(b->n <= 256);
    b->blocks = table_words + spare_blocks;
    b->rows = b->blocks * VKA_KV_BLOCK + 5;
    b->words = 2 * b->n + table_words;
    b->layout = malloc(b->words * sizeof *b->layout);
    /* the cache's blocks shuffled: sequences get scattered, non-adjacent blocks */
    uint32_t *perm = malloc(b->blocks * sizeof *perm);
    cr_assert(b->layout && perm);
    for (uint32_t i = 0; i < b->blocks; i++) perm[i] = i;
    for (uint32_t i = b->blocks; i > 1; i--) {
        uint32_t j = (uint32_t)(next_u64() % i), tmp = perm[i - 1];
        perm[i - 1] = perm[j];
        perm[j] = tmp;
    }
    uint32_t w = 2 * b->n, used = 0;
    for (uint32_t s = 0; s < n_seq; s++) {
        b->first[s] = w;
        for (uint32_t k = 0; k < n_blocks(len[s]); k++) b->layout[w++] = (int32_t)perm[used++];
    }
    free(perm);
    uint32_t done[MAX_SEQ] = {0}, t = 0;
    while (t < b->n)
        for (uint32_t s = 0; s < n_seq; s++)
            if (done[s] < news[s]) {
                b->seq[t] = s;
                b->pos[t] = len[s] - news[s] + done[s]++;
                b->layout[t] = (int32_t)b->pos[t];
                b->layout[b->n + t] = (int32_t)b->first[s];
                t++;
            }
}

/* The cache row of position p of sequence s. */
static uint32_t batch_row(const batch *b, uint32_t s, uint32_t p) {
    return (uint32_t)b->layout[b->first[s] + p / VKA_KV_BLOCK] * VKA_KV_BLOCK + p % VKA_KV_BLOCK;
}

/* ------------------------------------------------------------ kv_store */

static void check_paged_kv_store(vka_type type, int64_t kv_dim, uint32_t n_seq, const uint32_t *len,
                                 const uint32_t *news) {
    batch b;
    batch_init(&b, n_seq, len, news, 2);
    size_t row = vka_type_row_size(type, kv_dim);
    uint8_t *expect = random_rows(type, kv_dim, b.rows); /* earlier contents: rows not stored must be kept */
    float *src = random_floats((size_t)kv_dim * b.n, 50.0f);
    vka_tensor cache, x, lay;
    vk_make(&cache, "cache", type, kv_dim, b.rows, VKA_USAGE_KV, expect);
    vk_make(&x, "x", VKA_TYPE_F32, kv_dim, b.n, VKA_USAGE_ACTIVATION, src);
    vk_make(&lay, "layout", VKA_TYPE_I32, b.words, 1, VKA_USAGE_INPUT, b.layout);
    vka_node n = {.op = VKA_OP_KV_STORE, .dst = &cache, .src = {&x}, .layout = &lay};
    vk_run(&n, 1, b.n, 0);
    for (uint32_t t = 0; t < b.n; t++) /* f16: round to nearest even, as the shader */
        vka_type_get_traits(type)->from_f32(src + (size_t)t * kv_dim, expect + batch_row(&b, b.seq[t], b.pos[t]) * row,
                                            kv_dim);
    uint8_t *got = read_back(vk, &cache);
    cr_expect_eq(memcmp(got, expect, cache.nbytes), 0, "paged kv_store %s dim %lld, %u sequences, %u tokens differs",
                 vka_type_name(type), (long long)kv_dim, n_seq, b.n);
    free(got), free(expect), free(src), free(b.layout);
    vk_drop(&cache), vk_drop(&x), vk_drop(&lay);
}

Test(vulkan_ops, paged_kv_store) {
    open_backends();
    seed(80);
    vka_type types[] = {VKA_TYPE_F32, VKA_TYPE_F16};
    uint32_t len[] = {40, 1, 97, 33}, news[] = {7, 1, 1, 33};
    uint32_t one_len[] = {70}, one_new[] = {1};
    for (int i = 0; i < 2; i++) {
        check_paged_kv_store(types[i], 64, 4, len, news);
        check_paged_kv_store(types[i], 6, 4, len, news);
        check_paged_kv_store(types[i], 64, 1, one_len, one_new); /* decode */
    }
    check_paged_kv_store(VKA_TYPE_F32, 31, 4, len, news); /* odd rows (an f16 cache needs 16-bit storage for them) */
    close_backends();
}

/* ------------------------------------------------------------ attention */

typedef struct paged_attn {
    uint32_t n_head, n_head_kv, head_dim, head_dim_v;
    vka_type cache;
} paged_attn;

/* Runs the batch paged (scattered blocks, one graph) and each sequence alone
 * on contiguous caches holding the same rows; each query's output must have
 * the same bits. */
static void check_paged_attention(paged_attn a, uint32_t n_seq, const uint32_t *len, const uint32_t *news) {
    batch b;
    batch_init(&b, n_seq, len, news, 3);
    int64_t kd = (int64_t)a.n_head_kv * a.head_dim, vd = (int64_t)a.n_head_kv * a.head_dim_v;
    int64_t qd = (int64_t)a.n_head * a.head_dim, od = (int64_t)a.n_head * a.head_dim_v;
    size_t krow = vka_type_row_size(a.cache, kd), vrow = vka_type_row_size(a.cache, vd);
    uint8_t *kp = random_rows(a.cache, kd, b.rows), *vp = random_rows(a.cache, vd, b.rows);
    uint8_t *ks[MAX_SEQ], *vs[MAX_SEQ];
    for (uint32_t s = 0; s < n_seq; s++) {
        ks[s] = random_rows(a.cache, kd, len[s]);
        vs[s] = random_rows(a.cache, vd, len[s]);
        for (uint32_t p = 0; p < len[s]; p++) {
            memcpy(kp + batch_row(&b, s, p) * krow, ks[s] + p * krow, krow);
            memcpy(vp + batch_row(&b, s, p) * vrow, vs[s] + p * vrow, vrow);
        }
    }
    float *q = random_floats((size_t)qd * b.n, 8.0f / sqrtf((float)a.head_dim));
    vka_tensor kc, vc, qt, out, lay;
    vk_make(&kc, "k", a.cache, kd, b.rows, VKA_USAGE_KV, kp);
    vk_make(&vc, "v", a.cache, vd, b.rows, VKA_USAGE_KV, vp);
    vk_make(&qt, "q", VKA_TYPE_F32, qd, b.n, VKA_USAGE_ACTIVATION, q);
    vk_make(&out, "out", VKA_TYPE_F32, od, b.n, VKA_USAGE_ACTIVATION, NULL);
    vk_make(&lay, "layout", VKA_TYPE_I32, b.words, 1, VKA_USAGE_INPUT, b.layout);
    vka_node n = {.op = VKA_OP_ATTENTION, .dst = &out, .src = {&qt, &kc, &vc}, .layout = &lay,
                  .p.attn = {a.n_head, a.n_head_kv, a.head_dim, a.head_dim_v, 1.0f / sqrtf((float)a.head_dim), 0.0f, 0}};
    vk_run(&n, 1, b.n, 0);
    float *paged = read_back(vk, &out);
    for (uint32_t s = 0; s < n_seq; s++) {
        uint32_t k = news[s];
        float *qs = malloc((size_t)qd * k * sizeof *qs);
        uint32_t tok[256], m = 0;
        for (uint32_t t = 0; t < b.n; t++)
            if (b.seq[t] == s) tok[m++] = t;
        for (uint32_t i = 0; i < k; i++) memcpy(qs + (size_t)i * qd, q + (size_t)tok[i] * qd, (size_t)qd * sizeof *q);
        vka_tensor kc1, vc1, q1, out1;
        vk_make(&kc1, "k1", a.cache, kd, len[s], VKA_USAGE_KV, ks[s]);
        vk_make(&vc1, "v1", a.cache, vd, len[s], VKA_USAGE_KV, vs[s]);
        vk_make(&q1, "q1", VKA_TYPE_F32, qd, k, VKA_USAGE_ACTIVATION, qs);
        vk_make(&out1, "out1", VKA_TYPE_F32, od, k, VKA_USAGE_ACTIVATION, NULL);
        vka_node n1 = n;
        n1.dst = &out1, n1.src[0] = &q1, n1.src[1] = &kc1, n1.src[2] = &vc1, n1.layout = NULL;
        vk_run(&n1, 1, k, len[s] - k);
        float *alone = read_back(vk, &out1);
        for (uint32_t i = 0; i < k; i++)
            cr_expect_eq(memcmp(alone + (size_t)i * od, paged + (size_t)tok[i] * od, (size_t)od * sizeof(float)), 0,
                         "attention %s cache, %u/%u heads, dims %u/%u: sequence %u (%u keys) query at %u: paged in a "
                         "batch of %u differs from contiguous alone", vka_type_name(a.cache), a.n_head, a.n_head_kv,
                         a.head_dim, a.head_dim_v, s, len[s], len[s] - k + i, b.n);
        free(alone), free(qs), free(ks[s]), free(vs[s]);
        vk_drop(&kc1), vk_drop(&vc1), vk_drop(&q1), vk_drop(&out1);
    }
    free(paged), free(kp), free(vp), free(q), free(b.layout);
    vk_drop(&kc), vk_drop(&vc), vk_drop(&qt), vk_drop(&out), vk_drop(&lay);
}

static void paged_attention_cases(vka_type cache) {
    /* ragged prefill + decode: a chunk of 7, single decode tokens, a whole 33-token prompt, one key */
    uint32_t len[] = {40, 97, 33, 1, 64}, news[] = {7, 1, 33, 1, 2};
    /* decode only: one token per sequence (n = 4), and one sequence alone (n = 1, the GPU split path) */
    uint32_t dlen[] = {130, 5, 32, 77}, dnews[] = {1, 1, 1, 1};
    uint32_t olen[] = {300}, onews[] = {1};
    paged_attn texel = {8, 2, 64, 64, cache};  /* texel kernels on CPU-type devices */
    paged_attn plain = {6, 3, 18, 10, cache};  /* head dims not multiples of 4: storage-buffer kernels */
    check_paged_attention(texel, 5, len, news);
    check_paged_attention(plain, 5, len, news);
    check_paged_attention(texel, 4, dlen, dnews);
    check_paged_attention(plain, 4, dlen, dnews);
    check_paged_attention(texel, 1, olen, onews);
    check_paged_attention(plain, 1, olen, onews);
}

Test(vulkan_ops, paged_attention_f32) {
    open_backends();
    seed(81);
    paged_attention_cases(VKA_TYPE_F32);
    close_backends();
}

Test(vulkan_ops, paged_attention_f16) {
    open_backends();
    seed(82);
    paged_attention_cases(VKA_TYPE_F16);
    close_backends();
}

/* ------------------------------------------------------------ rope */

/* Tokens at the layout's positions (with a KV node of `rows` rows in the
 * graph, or none) against each token alone at n_past = its position. */
static void check_paged_rope(const uint32_t *positions, uint32_t n, uint32_t kv_rows) {
    const uint32_t heads = 3, hd = 64;
    vka_rope_params rp = {VKA_ROPE_NEOX, heads, 64, 10000.0f, 1.0f, 0.0f};
    float *x = random_floats((size_t)hd * heads * n, 2.0f);
    int32_t *words = calloc(2 * n + 1, sizeof *words);
    for (uint32_t t = 0; t < n; t++) words[t] = (int32_t)positions[t], words[n + t] = (int32_t)(2 * n);
    vka_tensor xt, lay, cache, src;
    vk_make(&xt, "x", VKA_TYPE_F32, hd, (int64_t)heads * n, VKA_USAGE_ACTIVATION, x);
    vk_make(&lay, "layout", VKA_TYPE_I32, 2 * n + 1, 1, VKA_USAGE_INPUT, words);
    vka_node nodes[2] = {{.op = VKA_OP_ROPE, .dst = &xt, .src = {&xt}, .layout = &lay, .p.rope = rp}};
    if (kv_rows) {
        /* the cache's rows bound the positions: the tables are sized from them */
        vk_make(&cache, "cache", VKA_TYPE_F32, 4, kv_rows, VKA_USAGE_KV, NULL);
        vk_make(&src, "src", VKA_TYPE_F32, 4, n, VKA_USAGE_ACTIVATION, NULL);
        nodes[1] = (vka_node){.op = VKA_OP_KV_STORE, .dst = &cache, .src = {&src}, .layout = &lay};
    }
    vk_run(nodes, kv_rows ? 2 : 1, n, 0);
    float *paged = read_back(vk, &xt);
    for (uint32_t t = 0; t < n; t++) {
        vka_tensor x1;
        vk_make(&x1, "x1", VKA_TYPE_F32, hd, heads, VKA_USAGE_ACTIVATION, x + (size_t)t * hd * heads);
        vka_node n1 = {.op = VKA_OP_ROPE, .dst = &x1, .src = {&x1}, .p.rope = rp};
        vk_run(&n1, 1, 1, positions[t]);
        float *alone = read_back(vk, &x1);
        cr_expect_eq(memcmp(alone, paged + (size_t)t * hd * heads, (size_t)hd * heads * sizeof(float)), 0,
                     "rope: token %u at position %u (of %u, cache rows %u) differs from the same token alone", t,
                     positions[t], n, kv_rows);
        free(alone);
        vk_drop(&x1);
    }
    free(paged), free(x), free(words);
    vk_drop(&xt), vk_drop(&lay);
    if (kv_rows) vk_drop(&cache), vk_drop(&src);
}

Test(vulkan_ops, paged_rope) {
    open_backends();
    seed(83);
    uint32_t pos[] = {5, 6, 7, 0, 100, 31, 32, 3};
    check_paged_rope(pos, 8, 0);
    check_paged_rope(pos, 8, 128);
    uint32_t far[] = {4499, 1, 4400};
    check_paged_rope(far, 3, 4500);  /* tables from the cache rows, beyond the default 4096 */
    uint32_t farther[] = {2, 6000, 6001};
    check_paged_rope(farther, 3, 0); /* no KV node: positions read at compute, tables grown */
    close_backends();
}

/* ------------------------------------------------------------ hostile tables */

/* Positions and blocks far outside the caches: every access stays inside
 * the buffers (clamped or skipped), nothing fails, and a tensor allocated
 * next to the cache keeps its bytes. */
Test(vulkan_ops, paged_tables_outside_the_cache) {
    open_backends();
    seed(84);
    const uint32_t n = 3, kd = 32, rows = 70;
    int32_t words[] = {1 << 30, -5, 40, 6, -1000, 1 << 29, 1 << 30, -7, 1};
    vka_tensor kc, vc, canary, q, qh, out, src, lay;
    float *canary_data = random_floats(4096, 1.0f);
    vk_make(&kc, "k", VKA_TYPE_F16, kd, rows, VKA_USAGE_KV, NULL);
    vk_make(&vc, "v", VKA_TYPE_F16, kd, rows, VKA_USAGE_KV, NULL);
    vk_make(&canary, "canary", VKA_TYPE_F32, 4096, 1, VKA_USAGE_KV, canary_data);
    float *q_data = random_floats(2 * kd * n, 1.0f), *src_data = random_floats(kd * n, 1.0f);
    vk_make(&q, "q", VKA_TYPE_F32, 2 * kd, n, VKA_USAGE_ACTIVATION, q_data);
    vk_make(&out, "out", VKA_TYPE_F32, 2 * kd, n, VKA_USAGE_ACTIVATION, NULL);
    vk_make(&src, "src", VKA_TYPE_F32, kd, n, VKA_USAGE_ACTIVATION, src_data);
    vk_make(&lay, "layout", VKA_TYPE_I32, 9, 1, VKA_USAGE_INPUT, words);
    vka_tensor_view(&qh, &q, 0, n, kd); /* rows of one head */
    vka_node nodes[] = {
        {.op = VKA_OP_KV_STORE, .dst = &kc, .src = {&src}, .layout = &lay},
        {.op = VKA_OP_KV_STORE, .dst = &vc, .src = {&src}, .layout = &lay},
        {.op = VKA_OP_ROPE, .dst = &qh, .src = {&qh}, .layout = &lay, .p.rope = {VKA_ROPE_NORM, 2, 16, 10000.0f, 1.0f, 0.0f}},
        {.op = VKA_OP_ATTENTION, .dst = &out, .src = {&q, &kc, &vc}, .layout = &lay, .p.attn = {2, 1, 32, 32, 0.2f, 0.0f, 0}},
    };
    vk_run(nodes, 4, n, 0);
    float *c = read_back(vk, &canary);
    cr_expect_eq(memcmp(c, canary_data, 4096 * sizeof(float)), 0, "a hostile table wrote past the cache");
    free(c), free(canary_data), free(q_data), free(src_data);
    vk_drop(&kc), vk_drop(&vc), vk_drop(&canary), vk_drop(&q), vk_drop(&out), vk_drop(&src), vk_drop(&lay);
    close_backends();
}

/* ------------------------------------------------------------ get_rows from activations */

/* The model picks the output rows of the residual stream x [n_embd, n]:
 * GET_ROWS from an f32 activation tensor (whole, or a view) copies bits. */
Test(vulkan_ops, get_rows_from_activation) {
    open_backends();
    seed(85);
    int64_t widths[] = {1, 6, 2048, 4097};
    for (int w = 0; w < 4; w++) {
        int64_t ne0 = widths[w], rows = 37;
        float *x = random_floats((size_t)(ne0 * rows), 3.0f);
        int32_t ids[] = {36, 0, 5, 5, 17};
        vka_tensor xt, xv, it, dst;
        vk_make(&xt, "x", VKA_TYPE_F32, ne0, rows, VKA_USAGE_ACTIVATION, x);
        vk_make(&it, "ids", VKA_TYPE_I32, 1, 5, VKA_USAGE_INPUT, ids);
        vk_make(&dst, "rows", VKA_TYPE_F32, ne0, 5, VKA_USAGE_ACTIVATION, NULL);
        vka_node n = {.op = VKA_OP_GET_ROWS, .dst = &dst, .src = {&xt, &it}};
        vk_run(&n, 1, 5, 0);
        float *got = read_back(vk, &dst);
        for (int i = 0; i < 5; i++)
            cr_expect_eq(memcmp(got + i * ne0, x + ids[i] * ne0, (size_t)ne0 * sizeof(float)), 0,
                         "get_rows of activation rows [%lld]: row %d (id %d) differs", (long long)ne0, i, ids[i]);
        free(got);
        /* a view from row 3: ids count from the view's first row */
        vka_tensor_view(&xv, &xt, 3, 34, ne0);
        n.src[0] = &xv;
        int32_t vids[] = {33, 0, 2, 2, 14};
        cr_assert_eq(vk->ops->tensor_set(vk, &it, vids, 0, sizeof vids), VKA_OK);
        vk_run(&n, 1, 5, 0);
        got = read_back(vk, &dst);
        for (int i = 0; i < 5; i++)
            cr_expect_eq(memcmp(got + i * ne0, x + (3 + vids[i]) * ne0, (size_t)ne0 * sizeof(float)), 0,
                         "get_rows of a view's rows [%lld]: row %d differs", (long long)ne0, i);
        free(got), free(x);
        vk_drop(&xt), vk_drop(&it), vk_drop(&dst);
    }
    close_backends();
}
