/* test_moe_ops.c — the mixture-of-experts ops on the CPU backends: the
 * reference's router and weighted sum against formulas in double, its expert
 * products against a plain product per row, the fast backend's expert
 * products bit-identical to its own matrix product of each expert's slab, and
 * every result of a token the same alone or in a batch. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "backends/cpu/cpu_moe.h"
#include "backends/cpu/cpu_packed.h"
#include "cpu_fast_check.h"

static vka_cpu_pool *pool;
static void setup(void) {
    rng_state = 777;
    cr_assert_eq(vka_cpu_pool_create(&pool), VKA_OK);
}
static void teardown(void) { vka_cpu_pool_free(pool); }

/* frand, make: cpu_fast_check.h */
static vka_tensor make_random(int64_t ne0, int64_t ne1) {
    vka_tensor t = make(VKA_TYPE_F32, ne0, ne1);
    for (int64_t i = 0; i < ne0 * ne1; i++) f32(&t)[i] = frand();
    return t;
}

/* A weight of `type` from random values (through the type's quantizer). */
static vka_tensor make_weight(vka_type type, int64_t ne0, int64_t ne1) {
    float *deq = malloc((size_t)(ne0 * ne1) * sizeof *deq);
    vka_tensor w = random_weights(type, ne0, ne1, deq);
    free(deq);
    w.usage = VKA_USAGE_WEIGHT;
    return w;
}

static float *row(const vka_tensor *t, int64_t r) { return (float *)((char *)t->data + (size_t)r * t->row_bytes); }

TestSuite(moe_ops, .init = setup, .fini = teardown);

Test(moe_ops, route_softmax_topk) {
    int64_t E = 8, N = 6;
    uint32_t k = 3;
    vka_tensor logits = make_random(E, N), route = make(VKA_TYPE_F32, 2 * k, N);
    for (int64_t i = 0; i < E; i++) row(&logits, 5)[i] = 0.25f; /* all tied: ids 0, 1, 2 */
    for (int norm = 0; norm < 2; norm++) {
        vka_moe_params p = {.n_used = k, .norm = norm};
        cr_assert_eq(vka_cpu_moe_route(&route, &logits, &p), VKA_OK);
        for (int64_t t = 0; t < N; t++) {
            const float *r = row(&logits, t), *w = row(&route, t);
            double sum = 0, top = 0;
            for (int64_t e = 0; e < E; e++) sum += exp((double)r[e]);
            for (uint32_t s = 0; s < k; s++) {
                int64_t id = (int64_t)w[k + s];
                /* exactly s experts are above it, or tied with it at a lower id */
                int above = 0;
                for (int64_t e = 0; e < E; e++) above += r[e] > r[id] || (r[e] == r[id] && e < id);
                cr_expect_eq(above, (int)s, "token %ld slot %u: expert %ld", (long)t, s, (long)id);
                top += exp((double)r[id]) / sum;
            }
            for (uint32_t s = 0; s < k; s++) {
                double p_s = exp((double)r[(int64_t)w[k + s]]) / sum;
                double want = norm ? p_s / top : p_s;
                cr_expect_float_eq(w[s], want, 1e-6, "token %ld slot %u", (long)t, s);
            }
        }
        cr_expect(row(&route, 5)[k] == 0.0f && row(&route, 5)[k + 1] == 1.0f && row(&route, 5)[k + 2] == 2.0f);
    }
    free(logits.data);
    free(route.data);
}

/* Route rows naming the given experts (weights 1/k). */
static vka_tensor make_route(const int *ids, int64_t n, uint32_t k) {
    vka_tensor r = make(VKA_TYPE_F32, 2 * k, n);
    for (int64_t t = 0; t < n; t++)
        for (uint32_t s = 0; s < k; s++) {
            row(&r, t)[s] = 1.0f / (float)k;
            row(&r, t)[k + s] = (float)ids[t * k + s];
        }
    return r;
}

Test(moe_ops, matmul_id_reference) {
    int64_t K = 40, OUT = 5, E = 4, N = 3;
    uint32_t k = 2;
    int ids[] = {3, 0, 1, 3, 2, 1};
    vka_tensor w = make_weight(VKA_TYPE_F32, K, OUT * E), route = make_route(ids, N, k);
    for (int per_slot = 0; per_slot < 2; per_slot++) {
        vka_tensor x = make_random(K, per_slot ? N * k : N), y = make(VKA_TYPE_F32, OUT, N * k);
        vka_moe_params p = {.n_used = k, .per_slot = per_slot};
        cr_assert_eq(vka_cpu_matmul_id(NULL, pool, &y, &w, &x, &route, &p), VKA_OK);
        for (int64_t t = 0; t < N; t++)
            for (uint32_t s = 0; s < k; s++) {
                const float *in = row(&x, per_slot ? t * k + s : t);
                for (int64_t o = 0; o < OUT; o++) {
                    const float *wr = row(&w, ids[t * k + s] * OUT + o);
                    double want = 0;
                    for (int64_t i = 0; i < K; i++) want += (double)wr[i] * in[i];
                    cr_expect_float_eq(row(&y, t * k + s)[o], want, 1e-5, "row %ld out %ld", (long)(t * k + s),
                                       (long)o);
                }
            }
        free(x.data);
        free(y.data);
    }
    int bad[] = {0, 4, 1, 1, 2, 2}; /* expert 4 of 4 */
    vka_tensor bad_route = make_route(bad, N, k), x = make_random(K, N), y = make(VKA_TYPE_F32, OUT, N * k);
    vka_moe_params p = {.n_used = k};
    cr_expect_eq(vka_cpu_matmul_id(NULL, pool, &y, &w, &x, &bad_route, &p), VKA_ERR_INTERNAL);
    free(bad_route.data);
    free(x.data);
    free(y.data);
    free(w.data);
    free(route.data);
}

Test(moe_ops, moe_sum) {
    int64_t D = 7, N = 3;
    uint32_t k = 2;
    int ids[] = {0, 1, 1, 0, 1, 0};
    vka_tensor src = make_random(D, N * k), route = make_route(ids, N, k), x = make_random(D, N);
    for (int64_t t = 0; t < N; t++) row(&route, t)[0] = 0.75f; /* weights 0.75, 0.5 */
    float *before = malloc(x.nbytes);
    memcpy(before, x.data, x.nbytes);
    vka_moe_params p = {.n_used = k};
    cr_assert_eq(vka_cpu_moe_sum(&x, &src, &route, &p), VKA_OK);
    for (int64_t t = 0; t < N; t++)
        for (int64_t i = 0; i < D; i++) {
            double want = before[t * D + i] + 0.75 * row(&src, t * k)[i] + 0.5 * row(&src, t * k + 1)[i];
            cr_expect_float_eq(row(&x, t)[i], want, 1e-6);
        }
    free(before);
    free(src.data);
    free(route.data);
    free(x.data);
}

/* The fast kernels (packed where they have a layout for the type): each row
 * of an expert product equals the kernels' own product of that expert's
 * slab and the token's input, bit for bit; and a token alone gets the rows
 * it gets in the batch. */
static void check_fast(vka_type type, int64_t K, int64_t OUT, bool per_slot) {
    const vka_fast_kernels *kern = vka_fast_select();
    int64_t E = 4, N = 5;
    uint32_t k = 2;
    int ids[] = {2, 0, 0, 3, 3, 2, 1, 2, 0, 1};
    vka_tensor w = make_weight(type, K, OUT * E), route = make_route(ids, N, k);
    w.impl = vka_cpu_fast_pack(kern, pool, &w, w.data);
    vka_tensor x = make_random(K, per_slot ? N * k : N), y = make(VKA_TYPE_F32, OUT, N * k);
    vka_moe_params p = {.n_used = k, .per_slot = per_slot};
    cr_assert_eq(vka_cpu_matmul_id(kern, pool, &y, &w, &x, &route, &p), VKA_OK);
    vka_tensor one = make(VKA_TYPE_F32, OUT, k);
    for (int64_t t = 0; t < N; t++) {
        vka_tensor xt = x, rt = route;
        xt.data = row(&x, per_slot ? t * k : t);
        xt.ne[1] = per_slot ? k : 1;
        rt.data = row(&route, t);
        rt.ne[1] = 1;
        cr_assert_eq(vka_cpu_matmul_id(kern, pool, &one, &w, &xt, &rt, &p), VKA_OK);
        cr_expect_eq(memcmp(one.data, row(&y, t * k), one.nbytes), 0, "%s: token %ld alone differs from the batch",
                     vka_type_name(type), (long)t);
        for (uint32_t s = 0; s < k; s++) { /* the expert's slab as a matrix of its own */
            vka_tensor slab = make(type, K, OUT), xs = make(VKA_TYPE_F32, K, 1), ys = make(VKA_TYPE_F32, OUT, 1);
            memcpy(slab.data, (char *)w.data + (size_t)(ids[t * k + s] * OUT) * w.row_bytes, slab.nbytes);
            slab.usage = VKA_USAGE_WEIGHT;
            /* slabs off the packed 16-row groups go through the unpacked kernels */
            slab.impl = OUT % VKA_PACK_ROWS == 0 ? vka_cpu_fast_pack(kern, pool, &slab, slab.data) : NULL;
            memcpy(xs.data, row(&x, per_slot ? t * k + s : t), xs.nbytes);
            cr_assert_eq(vka_cpu_fast_matmul(kern, pool, &ys, &slab, &xs, NULL, false), VKA_OK);
            cr_expect_eq(memcmp(ys.data, row(&y, t * k + s), ys.nbytes), 0, "%s: token %ld slot %u (packed %d)",
                         vka_type_name(type), (long)t, s, slab.impl != NULL);
            vka_packed_free(slab.impl);
            free(slab.data);
            free(xs.data);
            free(ys.data);
        }
    }
    vka_packed_free(w.impl);
    free(one.data);
    free(w.data);
    free(route.data);
    free(x.data);
    free(y.data);
}

Test(moe_ops, matmul_id_fast_q8_0) { check_fast(VKA_TYPE_Q8_0, 64, 32, false); }
Test(moe_ops, matmul_id_fast_q4_k_per_slot) { check_fast(VKA_TYPE_Q4_K, 256, 16, true); }
Test(moe_ops, matmul_id_fast_q6_k_unaligned) { check_fast(VKA_TYPE_Q6_K, 256, 24, true); } /* slabs off the 16-row groups */
Test(moe_ops, matmul_id_fast_f16) { check_fast(VKA_TYPE_F16, 48, 8, false); }
