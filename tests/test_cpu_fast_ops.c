/* test_cpu_fast_ops.c — the fast CPU backend's ops other than the matrix
 * product (cpu_fast_ops.h) against the reference ops of cpu_ops.h (the
 * oracle, device `cpu-ref`), for every kernel set this CPU runs (portable C,
 * AVX2), on seeded random inputs of the shapes real models use: Llama-3.2-1B's
 * 32 query heads on 8 KV heads, Qwen2.5-0.5B's 14 on 2, odd head sizes,
 * decoding deep in a context and prompt batches, f32 and f16 caches. Each
 * bound is derived where it is asserted; u = FLT_EPSILON / 2 is the unit
 * roundoff and gamma(n) = n u / (1 - n u) bounds n roundings. */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "backends/cpu/cpu_fast_ops.h"
#include "backends/cpu/cpu_ops.h"
#include "cpu_attention_bound.h" /* u, gamma_n, attn_case, attention_bounds */

static vka_cpu_pool *pool;
static void setup(void) { cr_assert_eq(vka_cpu_pool_create_threads(2, &pool), VKA_OK); }
static void teardown(void) { vka_cpu_pool_free(pool); }
TestSuite(cpu_fast_ops, .init = setup, .fini = teardown);

#define SUBNORMAL_ULP 1.401298464324817e-45 /* 2^-149: results below FLT_MIN round to multiples of it */

static uint64_t rng_state;
static float frand(void) { /* uniform in [-1, 1), a plain LCG */
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(rng_state >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static vka_tensor make(vka_type type, int64_t ne0, int64_t ne1) {
    vka_tensor t;
    vka_tensor_init(&t, "t", type, ne0, ne1, VKA_USAGE_ACTIVATION);
    t.data = calloc(1, t.nbytes);
    return t;
}

static vka_tensor make_random(int64_t ne0, int64_t ne1, float amplitude) {
    vka_tensor t = make(VKA_TYPE_F32, ne0, ne1);
    for (int64_t i = 0; i < ne0 * ne1; i++) ((float *)t.data)[i] = frand() * amplitude * (i % 11 == 0 ? 4.0f : 1.0f);
    return t;
}

static float *f32(const vka_tensor *t) { return t->data; }

/* The kernel sets to check: the portable ones always, AVX2 where the CPU has it. */
static int kernel_sets(const vka_fast_op_kernels *sets[2]) {
    sets[0] = &vka_fast_ops_scalar;
    sets[1] = vka_fast_ops_avx2();
    return sets[1] ? 2 : 1;
}

Test(cpu_fast_ops, avx2_available_where_the_cpu_has_it) {
    if (!vka_fast_ops_avx2()) cr_skip("no AVX2/FMA/F16C on this CPU (or build): only the portable kernels run");
    cr_expect_str_eq(vka_fast_ops_avx2()->isa, "avx2");
    cr_expect_eq(vka_fast_ops_select(), vka_fast_ops_avx2());
    setenv("VKAGENT_CPU_ISA", "scalar", 1);
    cr_expect_eq(vka_fast_ops_select(), &vka_fast_ops_scalar);
    unsetenv("VKAGENT_CPU_ISA");
}

/* e^x against exp in double over the whole float range, every 2^-10 and
 * around the edges. expf (the portable kernel) is within 1 ulp <= 2u
 * relative (glibc's documented bound); the AVX2 exp within 3u (derived at
 * exp8). Below ln(FLT_MIN) the true value is under FLT_MIN: the AVX2 kernel
 * gives 0, expf a subnormal within half of 2^-149. */
static void check_exp(const vka_fast_op_kernels *kern) {
    const double rel = strcmp(kern->isa, "scalar") == 0 ? 2.0 * u : 3.0 * u;
    const int64_t n = 185 * 1024;
    float *x = malloc((size_t)n * sizeof *x), *y = malloc((size_t)n * sizeof *y);
    for (int64_t i = 0; i < n; i++) x[i] = -92.0f + (float)i / 1024.0f; /* exact in f32 */
    kern->exp(x, y, n);
    double worst = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double want = exp((double)x[i]);
        if (want > FLT_MAX) {
            cr_assert(isinf(y[i]) && y[i] > 0, "%s exp(%.9g) = %.9g, want +inf", kern->isa, x[i], y[i]);
            continue;
        }
        double err = fabs(y[i] - want), tol = want < FLT_MIN ? FLT_MIN : rel * want + SUBNORMAL_ULP;
        if (want >= FLT_MIN) worst = fmax(worst, err / want / u);
        cr_assert(err <= tol, "%s exp(%.9g) = %.9g, want %.9g (error %.3g, bound %.3g)", kern->isa, x[i], y[i], want,
                  err, tol);
    }
    cr_log_info("%s exp: worst relative error %.2f u", kern->isa, worst);
    float special[5] = {-INFINITY, 0.0f, 88.72283172607422f, 88.72283935546875f, NAN}, out[5];
    kern->exp(special, out, 5);
    cr_expect_eq(out[0], 0.0f);
    cr_expect_eq(out[1], 1.0f);
    cr_expect(isfinite(out[2]) && out[2] > 3.4e38f, "%s: largest finite %.9g", kern->isa, out[2]);
    cr_expect(isinf(out[3]), "%s: first overflow %.9g", kern->isa, out[3]);
    cr_expect(isnan(out[4]), "%s: NaN gave %.9g", kern->isa, out[4]);
    free(x);
    free(y);
}

Test(cpu_fast_ops, exp_accuracy) {
    const vka_fast_op_kernels *sets[2];
    for (int s = 0; s < kernel_sets(sets); s++) check_exp(sets[s]);
}

/* RMS norm: the reference sums squares in double (error ~n 2^-53, negligible),
 * the fast kernels in f32: positive terms, so within gamma(n) of the sum.
 * The scale 1/sqrt(mean + eps) then differs by gamma(n)/2 (the square root
 * halves it) plus each side's rounding to f32 (u each); out = x*scale*w
 * rounds twice per side (4u). The product of the (1 + e) factors exceeds
 * their sum by less than 0.1%. */
Test(cpu_fast_ops, rms_norm_matches_reference) {
    static const int64_t shapes[][2] = {{2048, 1}, {2048, 7}, {896, 300}, {64, 3}, {37, 2}};
    const vka_fast_op_kernels *sets[2];
    for (int s = 0; s < kernel_sets(sets); s++)
        for (size_t c = 0; c < sizeof shapes / sizeof shapes[0]; c++) {
            int64_t n = shapes[c][0], rows = shapes[c][1];
            rng_state = 100 + c;
            vka_tensor x = make_random(n, rows, 3.0f), w = make_random(n, 1, 1.0f);
            vka_tensor want = make(VKA_TYPE_F32, n, rows), got = make(VKA_TYPE_F32, n, rows);
            vka_cpu_rms_norm(&want, &x, &w, 1e-5f);
            vka_fast_rms_norm(sets[s], pool, &got, &x, &w, 1e-5f);
            double rel = (gamma_n((double)n) / 2.0 + 6.0 * u) * 1.001;
            for (int64_t i = 0; i < n * rows; i++) {
                double a = f32(&got)[i], b = f32(&want)[i];
                cr_assert(fabs(a - b) <= rel * fabs(b), "%s rms_norm %ldx%ld at %ld: %.9g vs %.9g", sets[s]->isa,
                          (long)n, (long)rows, (long)i, a, b);
            }
            free(x.data); free(w.data); free(want.data); free(got.data);
        }
}

/* SwiGLU g / (1 + e^-g) * u: each side's exponential is within its bound
 * (expf 2u, the AVX2 exp 3u) relative, which 1 + e^-g passes on at most
 * unchanged (e/(1+e) < 1); the addition, division and product round once
 * each (3u). So each side is within 6u of the exact value, and the two
 * within 12u (1% for the products of the factors). Gates up to +-100 reach
 * e^-g's overflow (a zero result) and underflow (g itself). */
Test(cpu_fast_ops, swiglu_matches_reference) {
    static const int64_t shapes[][2] = {{8192, 1}, {4864, 9}, {100, 3}};
    const vka_fast_op_kernels *sets[2];
    for (int s = 0; s < kernel_sets(sets); s++)
        for (size_t c = 0; c < sizeof shapes / sizeof shapes[0]; c++) {
            int64_t n = shapes[c][0], rows = shapes[c][1];
            rng_state = 200 + c;
            vka_tensor g = make_random(n, rows, 6.0f), up = make_random(n, rows, 1.0f);
            for (int64_t i = 0; i < n * rows; i += 97) f32(&g)[i] = frand() * 100.0f;
            vka_tensor want = make(VKA_TYPE_F32, n, rows), got = make(VKA_TYPE_F32, n, rows);
            vka_cpu_swiglu(&want, &g, &up);
            vka_fast_swiglu(sets[s], pool, &got, &g, &up);
            for (int64_t i = 0; i < n * rows; i++) {
                double a = f32(&got)[i], b = f32(&want)[i];
                cr_assert(fabs(a - b) <= 12.0 * u * 1.01 * fabs(b) + SUBNORMAL_ULP,
                          "%s swiglu at %ld (gate %.9g): %.9g vs %.9g", sets[s]->isa, (long)i, f32(&g)[i], a, b);
            }
            free(g.data); free(up.data); free(want.data); free(got.data);
        }
}

/* Addition rounds once, as the reference does: equal. */
Test(cpu_fast_ops, add_equals_reference) {
    const vka_fast_op_kernels *sets[2];
    for (int s = 0; s < kernel_sets(sets); s++) {
        rng_state = 300;
        vka_tensor a = make_random(2051, 300, 1.0f), b = make_random(2051, 300, 1.0f);
        vka_tensor want = make(VKA_TYPE_F32, 2051, 300), got = make(VKA_TYPE_F32, 2051, 300);
        vka_cpu_add(&want, &a, &b);
        vka_fast_add(sets[s], pool, &got, &a, &b);
        cr_expect_eq(memcmp(want.data, got.data, want.nbytes), 0, "%s add", sets[s]->isa);
        free(a.data); free(b.data); free(want.data); free(got.data);
    }
}

/* RoPE computes the same angles and rotations: equal, bit for bit. */
Test(cpu_fast_ops, rope_equals_reference) {
    static const struct {
        vka_rope_mode mode;
        uint32_t heads, head_dim, n_rot, tokens, n_past;
        bool factors;
        float attn_factor;
    } cases[] = {
        {VKA_ROPE_NORM, 32, 64, 64, 1, 0, false, 0.0f},   {VKA_ROPE_NORM, 8, 64, 64, 9, 37, true, 0.0f},
        {VKA_ROPE_NEOX, 14, 64, 64, 1, 500, false, 0.0f}, {VKA_ROPE_NEOX, 2, 128, 64, 7, 3, true, 0.0f},
        {VKA_ROPE_NORM, 32, 64, 64, 128, 512, false, 0.0f}, /* a prompt batch: tokens split over threads */
        /* Phi-4-mini's shape: 3/4 of the head turned, LongRoPE factors and attention factor */
        {VKA_ROPE_NEOX, 6, 128, 96, 5, 20, true, 1.1902f},  {VKA_ROPE_NORM, 3, 80, 32, 4, 2, false, 0.75f},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        rng_state = 400 + c;
        vka_tensor x = make_random(cases[c].head_dim, (int64_t)cases[c].heads * cases[c].tokens, 1.0f);
        vka_tensor ff = make(VKA_TYPE_F32, cases[c].n_rot / 2, 1), y = make(VKA_TYPE_F32, x.ne[0], x.ne[1]);
        for (uint32_t i = 0; i < cases[c].n_rot / 2; i++) f32(&ff)[i] = 1.0f + (float)i * 0.25f;
        memcpy(y.data, x.data, x.nbytes);
        vka_rope_params p = {cases[c].mode, cases[c].heads, cases[c].n_rot, 500000.0f, 0.5f, cases[c].attn_factor};
        const vka_tensor *factors = cases[c].factors ? &ff : NULL;
        cr_assert_eq(vka_cpu_rope(&x, factors, &p, NULL, cases[c].n_past), VKA_OK);
        cr_assert_eq(vka_fast_rope(pool, &y, factors, &p, NULL, cases[c].n_past), VKA_OK);
        cr_expect_eq(memcmp(x.data, y.data, x.nbytes), 0, "rope case %zu", c);
        free(x.data); free(ff.data); free(y.data);
    }
}

/* Fills a cache of n_ctx rows with random values (f16: through the conversion both sides read). */
static vka_tensor random_cache(vka_type type, uint32_t dim, uint32_t n_ctx) {
    vka_tensor t = make(type, dim, n_ctx);
    for (int64_t i = 0; i < (int64_t)dim * n_ctx; i++) {
        if (type == VKA_TYPE_F16) ((uint16_t *)t.data)[i] = vka_f32_to_f16(frand());
        else f32(&t)[i] = frand();
    }
    return t;
}

static void check_attention(const vka_fast_op_kernels *kern, const attn_case *c, vka_type cache_type) {
    rng_state = 500 + c->n_head * 7 + c->tokens * 13 + c->n_past + (cache_type == VKA_TYPE_F16);
    uint32_t n_ctx = c->n_past + c->tokens + 3; /* rows past the last position must not be read */
    float scale = 1.0f / sqrtf((float)c->head_dim);
    vka_tensor q = make_random((int64_t)c->n_head * c->head_dim, c->tokens, 2.0f);
    vka_tensor k = random_cache(cache_type, c->n_head_kv * c->head_dim, n_ctx);
    vka_tensor v = random_cache(cache_type, c->n_head_kv * c->head_dim_v, n_ctx);
    int64_t out_dim = (int64_t)c->n_head * c->head_dim_v;
    vka_tensor want = make(VKA_TYPE_F32, out_dim, c->tokens), got = make(VKA_TYPE_F32, out_dim, c->tokens);
    vka_attention_params p = {c->n_head, c->n_head_kv, c->head_dim, c->head_dim_v, scale, 0.0f, 0};
    cr_assert_eq(vka_cpu_attention(pool, &want, &q, &k, &v, &p, NULL, c->n_past), VKA_OK);
    cr_assert_eq(vka_fast_attention(kern, pool, &got, &q, &k, &v, &p, NULL, c->n_past), VKA_OK);
    double *tol = malloc(c->head_dim_v * sizeof *tol);
    for (uint32_t t = 0; t < c->tokens; t++)
        for (uint32_t h = 0; h < c->n_head; h++) {
            attention_bounds(c, &q, &k, &v, scale, t, h, tol);
            for (uint32_t i = 0; i < c->head_dim_v; i++) {
                size_t at = (size_t)t * (size_t)out_dim + (size_t)h * c->head_dim_v + i;
                double a = f32(&got)[at], b = f32(&want)[at];
                cr_assert(fabs(a - b) <= tol[i],
                          "%s %s %u/%u heads d%u/%u, %u tokens after %u: token %u head %u dim %u: "
                          "fast %.9g reference %.9g (bound %.3g)",
                          kern->isa, cache_type == VKA_TYPE_F16 ? "f16" : "f32", c->n_head, c->n_head_kv,
                          c->head_dim, c->head_dim_v, c->tokens, c->n_past, t, h, i, a, b, tol[i]);
            }
        }
    /* each (token, KV head) is computed whole by one thread: one thread or three give the same bits */
    vka_cpu_pool *other;
    for (unsigned threads = 1; threads <= 3; threads += 2) {
        cr_assert_eq(vka_cpu_pool_create_threads(threads, &other), VKA_OK);
        memset(want.data, 0, want.nbytes);
        cr_assert_eq(vka_fast_attention(kern, other, &want, &q, &k, &v, &p, NULL, c->n_past), VKA_OK);
        cr_expect_eq(memcmp(want.data, got.data, got.nbytes), 0, "%s: %u threads differ", kern->isa, threads);
        vka_cpu_pool_free(other);
    }
    free(tol);
    free(q.data); free(k.data); free(v.data); free(want.data); free(got.data);
}

static const attn_case attn_cases[] = {
    {32, 8, 64, 64, 1, 0},     /* Llama-3.2-1B: the first token */
    {32, 8, 64, 64, 1, 1},
    {32, 8, 64, 64, 1, 300},   /* decoding deep in a context: heads split over threads */
    {32, 8, 64, 64, 9, 0},     /* a prompt */
    {32, 8, 64, 64, 9, 20},    /* a prompt after a context */
    {32, 8, 64, 64, 64, 100},  /* a prompt batch split over threads */
    {14, 2, 64, 64, 1, 50},    /* Qwen2.5-0.5B: 7 query heads per KV head (passes of 4 and 3) */
    {14, 2, 64, 64, 5, 3},
    {16, 8, 128, 128, 3, 10},  /* Qwen3's head size */
    {3, 3, 36, 40, 4, 2},      /* no sharing; sizes not multiples of 8 and 16 */
};

static void check_all_attention(const vka_fast_op_kernels *kern) {
    for (size_t c = 0; c < sizeof attn_cases / sizeof attn_cases[0]; c++) {
        check_attention(kern, &attn_cases[c], VKA_TYPE_F32);
        check_attention(kern, &attn_cases[c], VKA_TYPE_F16);
    }
}

Test(cpu_fast_ops, attention_scalar_matches_reference) { check_all_attention(&vka_fast_ops_scalar); }

Test(cpu_fast_ops, attention_avx2_matches_reference) {
    if (!vka_fast_ops_avx2()) cr_skip("this CPU (or build) has no AVX2/FMA/F16C");
    check_all_attention(vka_fast_ops_avx2());
}

/* What the reference refuses, the fast op refuses. */
/* gemma's attention: a sliding window (keys before it must get weight 0,
 * also when the window starts past a cache block) and soft-capped scores;
 * outputs are convex combinations of values in [-1, 1]. */
Test(cpu_fast_ops, attention_window_softcap_matches_reference) {
    const vka_fast_op_kernels *sets[2];
    int n_sets = kernel_sets(sets);
    struct { uint32_t tokens, n_past, window; float softcap; } cases[] = {
        {9, 30, 5, 10.0f}, {1, 70, 6, 0.0f}, {3, 40, 33, 3.0f}, {4, 2, 100, 10.0f}};
    for (int ki = 0; ki < n_sets; ki++)
        for (int ci = 0; ci < 4; ci++) {
            rng_state = 900 + (uint64_t)ci;
            uint32_t n_ctx = cases[ci].n_past + cases[ci].tokens;
            vka_tensor q = make_random(4 * 32, cases[ci].tokens, 8.0f);
            vka_tensor k = random_cache(VKA_TYPE_F32, 2 * 32, n_ctx), v = random_cache(VKA_TYPE_F16, 2 * 32, n_ctx);
            vka_tensor want = make(VKA_TYPE_F32, 4 * 32, cases[ci].tokens);
            vka_tensor got = make(VKA_TYPE_F32, 4 * 32, cases[ci].tokens);
            vka_attention_params p = {4, 2, 32, 32, 0.5f, cases[ci].softcap, cases[ci].window};
            cr_assert_eq(vka_cpu_attention(pool, &want, &q, &k, &v, &p, NULL, cases[ci].n_past), VKA_OK);
            cr_assert_eq(vka_fast_attention(sets[ki], pool, &got, &q, &k, &v, &p, NULL, cases[ci].n_past), VKA_OK);
            for (int64_t i = 0; i < 4 * 32 * (int64_t)cases[ci].tokens; i++)
                cr_assert(fabs(f32(&got)[i] - f32(&want)[i]) <= 2e-5, "%s case %d value %lld: fast %.9g reference %.9g",
                          sets[ki]->isa, ci, (long long)i, (double)f32(&got)[i], (double)f32(&want)[i]);
            free(q.data); free(k.data); free(v.data); free(want.data); free(got.data);
        }
}

Test(cpu_fast_ops, attention_past_the_cache) {
    vka_tensor q = make(VKA_TYPE_F32, 64, 2), k = make(VKA_TYPE_F32, 64, 4), v = make(VKA_TYPE_F32, 64, 4);
    vka_tensor out = make(VKA_TYPE_F32, 64, 2);
    vka_attention_params p = {1, 1, 64, 64, 0.125f, 0.0f, 0};
    cr_expect_eq(vka_fast_attention(vka_fast_ops_select(), pool, &out, &q, &k, &v, &p, NULL, 3), VKA_ERR_CONTEXT_FULL);
    cr_expect_eq(vka_fast_attention(vka_fast_ops_select(), pool, &out, &q, &k, &v, &p, NULL, 2), VKA_OK);
    free(q.data); free(k.data); free(v.data); free(out.data);
}
