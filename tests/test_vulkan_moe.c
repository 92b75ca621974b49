/* test_vulkan_moe.c — the Vulkan mixture-of-experts ops against the CPU
 * reference (suite vulkan_ops, harness vulkan_ops_harness.c): the router's
 * choices and weights, the expert products for a few weight types (gate/up
 * on shared inputs, down on a row per slot), the weighted sum, and a token's
 * expert rows the same bits alone (row by row, mm_id.comp) as in a batch
 * (rows grouped by expert, mm_id_grouped.comp); batches past the 65535
 * workgroups of a dispatch dimension, and the same splitting at a lowered
 * limit. Small shapes: lavapipe is slow. */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vulkan_ops_harness.h"

/* Route rows for n tokens: router logits run through MOE_ROUTE on both backends. */
static void make_route(pair *route, pair *logits, int64_t n_expert, uint32_t k, uint32_t n, bool norm) {
    make(logits, "logits", VKA_TYPE_F32, n_expert, n, VKA_USAGE_ACTIVATION, random_floats((size_t)(n_expert * n), 3.0f));
    make(route, "route", VKA_TYPE_F32, 2 * k, n, VKA_USAGE_ACTIVATION, NULL);
    vka_node p = {.p.moe = {.n_used = k, .norm = norm}};
    run(VKA_OP_MOE_ROUTE, route, logits, NULL, NULL, &p, n, 0);
}

/* ids (odd-indexed halves of a route row) exact; weights to a few ulps (exp and the division in f32) */
static double route_tolerance(size_t i, double ref, void *ctx) {
    uint32_t k = *(const uint32_t *)ctx;
    return i % (2 * k) >= k ? 0.0 : fabs(ref) * 16 * FLT_EPSILON + 1e-30;
}

Test(vulkan_ops, moe_route) {
    open_backends();
    seed(41);
    uint32_t ks[] = {2, 8};
    for (int norm = 0; norm < 2; norm++)
        for (int i = 0; i < 2; i++) {
            pair logits, route;
            make_route(&route, &logits, 60, ks[i], 37, norm);
            compare(&route, route_tolerance, &ks[i], norm ? "moe_route normalised" : "moe_route");
            drop(&logits), drop(&route);
        }
    close_backends();
}

typedef struct id_tol {
    int64_t K;
} id_tol;

/* f32 sums of K products in another order: K eps relative to the magnitude of the terms (|w| <~ 2, |x| < 1) */
static double id_tolerance(size_t i, double ref, void *ctx) {
    (void)i;
    const id_tol *t = ctx;
    return (fabs(ref) + 2.0 * sqrt((double)t->K)) * (double)t->K * FLT_EPSILON;
}

static void check_matmul_id(vka_type type, int64_t K, int64_t M, int64_t n_expert, uint32_t k, uint32_t n,
                            bool per_slot) {
    pair logits, route, w, x, dst;
    make_route(&route, &logits, n_expert, k, n, true);
    make(&w, "experts", type, K, M * n_expert, VKA_USAGE_WEIGHT, random_rows(type, K, M * n_expert));
    uint32_t x_rows = per_slot ? n * k : n;
    make(&x, "x", VKA_TYPE_F32, K, x_rows, VKA_USAGE_ACTIVATION, random_floats((size_t)(K * x_rows), 1.0f));
    make(&dst, "dst", VKA_TYPE_F32, M, n * k, VKA_USAGE_ACTIVATION, NULL);
    vka_node p = {.p.moe = {.n_used = k, .per_slot = per_slot}};
    run(VKA_OP_MATMUL_ID, &dst, &w, &x, &route, &p, n, 0);
    id_tol t = {K};
    char what[80];
    snprintf(what, sizeof what, "matmul_id %s [%lld x %lld] x %lld experts, %u tokens%s", vka_type_name(type),
             (long long)K, (long long)M, (long long)n_expert, n, per_slot ? " per slot" : "");
    compare(&dst, id_tolerance, &t, what);
    /* the last token alone: the same bits as its rows in the batch */
    pair r1, x1, d1;
    view(&r1, &route, n - 1, 1, 2 * k);
    view(&x1, &x, per_slot ? (n - 1) * k : n - 1, per_slot ? k : 1, K);
    make(&d1, "d1", VKA_TYPE_F32, M, k, VKA_USAGE_ACTIVATION, NULL);
    run(VKA_OP_MATMUL_ID, &d1, &w, &x1, &r1, &p, 1, 0);
    float *alone = read_back(vk, &d1.v), *batch = read_back(vk, &dst.v);
    cr_expect_eq(memcmp(alone, batch + (size_t)(n - 1) * k * M, d1.v.nbytes), 0, "%s: a token alone differs", what);
    free(alone), free(batch);
    drop(&d1), drop(&logits), drop(&route), drop(&w), drop(&x), drop(&dst);
}

Test(vulkan_ops, matmul_id) {
    open_backends();
    seed(42);
    check_matmul_id(VKA_TYPE_F32, 72, 10, 6, 2, 5, false);  /* a partial block of 32 */
    check_matmul_id(VKA_TYPE_Q8_0, 64, 16, 4, 2, 3, true);
    check_matmul_id(VKA_TYPE_Q4_K, 256, 8, 5, 3, 4, false);
    check_matmul_id(VKA_TYPE_Q6_K, 256, 8, 4, 2, 3, true);
    check_matmul_id(VKA_TYPE_F16, 64, 12, 8, 2, 1, true);   /* decode */
    check_matmul_id(VKA_TYPE_Q8_0, 64, 9, 3, 2, 41, false); /* several tiles of one expert's rows */
    close_backends();
}

static double sum_tolerance(size_t i, double ref, void *ctx) {
    (void)i, (void)ctx;
    return (fabs(ref) + 1.0) * 8 * FLT_EPSILON;
}

/* Rows row by row in the batch too (the path of a device without grouping). */
Test(vulkan_ops, matmul_id_ungrouped) {
    setenv("VKAGENT_VK_MOE_GROUPED", "0", 1);
    open_backends();
    seed(44);
    check_matmul_id(VKA_TYPE_Q4_K, 256, 8, 5, 3, 4, false);
    check_matmul_id(VKA_TYPE_F32, 72, 10, 6, 2, 5, true);
    close_backends();
}

/* Dispatches split at a lowered workgroup limit (VKAGENT_VK_MAX_GROUPS): the
 * grouped tiles, the rows of the ungrouped path and the weighted sum's 2-D
 * grid take several dispatches or rows, as batches past 65535 do; and
 * experts whose rows straddle weight parts (VKAGENT_VK_MAX_BINDING). */
Test(vulkan_ops, matmul_id_split_dispatches) {
    setenv("VKAGENT_VK_MAX_GROUPS", "3", 1);
    setenv("VKAGENT_VK_MAX_BINDING", "131072", 1);
    for (int grouped = 1; grouped >= 0; grouped--) {
        setenv("VKAGENT_VK_MOE_GROUPED", grouped ? "1" : "0", 1);
        open_backends();
        seed(45);
        check_matmul_id(VKA_TYPE_F32, 72, 10, 6, 2, 13, false);
        check_matmul_id(VKA_TYPE_Q8_0, 64, 100, 24, 2, 20, true); /* 163 KB of rows: two parts */
        uint32_t k = 3, n = 9;
        pair logits, route, src, x;
        make_route(&route, &logits, 7, k, n, true);
        make(&src, "src", VKA_TYPE_F32, 200, n * k, VKA_USAGE_ACTIVATION, random_floats((size_t)(200 * n * k), 2.0f));
        make(&x, "x", VKA_TYPE_F32, 200, n, VKA_USAGE_ACTIVATION, random_floats((size_t)(200 * n), 1.0f));
        vka_node p = {.p.moe = {.n_used = k}};
        run(VKA_OP_MOE_SUM, &x, &src, &route, NULL, &p, n, 0); /* 1800 sums: 8 workgroups, 3 x 3 */
        compare(&x, sum_tolerance, NULL, "moe_sum on a folded grid");
        drop(&logits), drop(&route), drop(&src), drop(&x);
        close_backends();
    }
}

/* More (token, expert) rows than one dispatch dimension holds (65535): both paths. */
Test(vulkan_ops, matmul_id_past_65535_rows) {
    for (int grouped = 1; grouped >= 0; grouped--) {
        setenv("VKAGENT_VK_MOE_GROUPED", grouped ? "1" : "0", 1);
        open_backends();
        seed(46);
        check_matmul_id(VKA_TYPE_Q8_0, 32, 4, 4, 2, 32770, false); /* 65540 rows */
        close_backends();
    }
}

Test(vulkan_ops, moe_sum) {
    open_backends();
    seed(43);
    uint32_t k = 3, n = 9;
    int64_t D = 50;
    pair logits, route, src, x;
    make_route(&route, &logits, 7, k, n, true);
    make(&src, "src", VKA_TYPE_F32, D, n * k, VKA_USAGE_ACTIVATION, random_floats((size_t)(D * n * k), 2.0f));
    make(&x, "x", VKA_TYPE_F32, D, n, VKA_USAGE_ACTIVATION, random_floats((size_t)(D * n), 1.0f));
    vka_node p = {.p.moe = {.n_used = k}};
    run(VKA_OP_MOE_SUM, &x, &src, &route, NULL, &p, n, 0);
    compare(&x, sum_tolerance, NULL, "moe_sum");
    drop(&logits), drop(&route), drop(&src), drop(&x);
    close_backends();
}
