/* test_cpu_ops.c — the CPU reference ops against formulas evaluated in double
 * precision here (the end-to-end goldens check them again as a whole). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "backends/cpu/cpu_ops.h"

static vka_cpu_pool *pool;
static void setup(void) { cr_assert_eq(vka_cpu_pool_create(&pool), VKA_OK); }
static void teardown(void) { vka_cpu_pool_free(pool); }

static uint64_t rng_state = 12345;
static float frand(void) { /* uniform in [-1, 1), a plain LCG: the test only needs variety */
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(rng_state >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static vka_tensor make(vka_type type, int64_t ne0, int64_t ne1) {
    vka_tensor t;
    vka_tensor_init(&t, "t", type, ne0, ne1, VKA_USAGE_ACTIVATION);
    t.data = calloc(1, t.nbytes);
    return t;
}

static vka_tensor make_random(int64_t ne0, int64_t ne1) {
    vka_tensor t = make(VKA_TYPE_F32, ne0, ne1);
    for (int64_t i = 0; i < ne0 * ne1; i++) ((float *)t.data)[i] = frand();
    return t;
}

TestSuite(cpu_ops, .init = setup, .fini = teardown);

Test(cpu_ops, matmul_f32_bias_accumulate) {
    int64_t K = 37, M = 5, N = 3;
    vka_tensor w = make_random(K, M), x = make_random(K, N), b = make_random(M, 1), y = make_random(M, N);
    float *before = malloc(y.nbytes);
    memcpy(before, y.data, y.nbytes);
    cr_assert_eq(vka_cpu_matmul(pool, &y, &w, &x, &b, true), VKA_OK);
    for (int64_t j = 0; j < N; j++)
        for (int64_t r = 0; r < M; r++) {
            double want = before[j * M + r] + ((float *)b.data)[r];
            for (int64_t k = 0; k < K; k++) want += (double)((float *)w.data)[r * K + k] * ((float *)x.data)[j * K + k];
            cr_expect_float_eq(((float *)y.data)[j * M + r], want, 1e-5, "(%ld,%ld)", (long)r, (long)j); /* f32 sum of 37 terms */
        }
    free(before);
    free(w.data); free(x.data); free(b.data); free(y.data);
}

/* A Q8_0 weight row: dequantized values d*q dotted with x. */
Test(cpu_ops, matmul_q8_0) {
    int64_t K = 64, M = 2;
    vka_tensor w = make(VKA_TYPE_Q8_0, K, M), x = make_random(K, 1), y = make(VKA_TYPE_F32, M, 1);
    vka_block_q8_0 *blocks = w.data;
    for (int b = 0; b < 4; b++) {
        blocks[b].d = vka_f32_to_f16(0.5f * (float)(b + 1));
        for (int i = 0; i < 32; i++) blocks[b].qs[i] = (int8_t)(i - 16 + b);
    }
    cr_assert_eq(vka_cpu_matmul(pool, &y, &w, &x, NULL, false), VKA_OK);
    for (int r = 0; r < 2; r++) {
        double want = 0;
        for (int k = 0; k < 32; k++) want += 0.5 * (2 * r + 1) * (k - 16 + 2 * r) * ((float *)x.data)[k];
        for (int k = 0; k < 32; k++) want += 0.5 * (2 * r + 2) * (k - 16 + 2 * r + 1) * ((float *)x.data)[32 + k];
        cr_expect_float_eq(((float *)y.data)[r], want, 1e-4, "row %d", r); /* |terms| <= 16*2, 64 of them */
    }
    free(w.data); free(x.data); free(y.data);
}

Test(cpu_ops, rms_norm) {
    vka_tensor x = make_random(10, 2), w = make_random(10, 1), y = make(VKA_TYPE_F32, 10, 2);
    vka_cpu_rms_norm(&y, &x, &w, 1e-5f);
    for (int j = 0; j < 2; j++) {
        double ss = 0;
        for (int i = 0; i < 10; i++) ss += pow(((float *)x.data)[j * 10 + i], 2);
        double scale = 1.0 / sqrt(ss / 10 + 1e-5);
        for (int i = 0; i < 10; i++)
            cr_expect_float_eq(((float *)y.data)[j * 10 + i], ((float *)x.data)[j * 10 + i] * scale * ((float *)w.data)[i],
                               1e-6, "");
    }
    free(x.data); free(w.data); free(y.data);
}

/* Rotating by theta = pos * base^(-2i/n): NORM pairs (2i, 2i+1), NEOX (i, i + n/2). */
Test(cpu_ops, rope_modes) {
    for (int mode = 0; mode < 2; mode++) {
        vka_tensor x = make_random(8, 2 * 3); /* head_dim 8, 3 heads, 2 tokens */
        float *orig = malloc(x.nbytes);
        memcpy(orig, x.data, x.nbytes);
        vka_rope_params p = {.mode = (vka_rope_mode)mode, .n_heads = 3, .n_rot = 8, .freq_base = 100.0f, .freq_scale = 1.0f};
        cr_assert_eq(vka_cpu_rope(&x, NULL, &p, NULL, 5), VKA_OK);
        for (int r = 0; r < 6; r++) {
            double pos = 5 + r / 3;
            for (int i = 0; i < 4; i++) {
                double theta = pos * pow(100.0, -2.0 * i / 8.0);
                int a = mode == VKA_ROPE_NORM ? 2 * i : i, b = mode == VKA_ROPE_NORM ? 2 * i + 1 : i + 4;
                double x0 = orig[r * 8 + a], x1 = orig[r * 8 + b];
                cr_expect_float_eq(((float *)x.data)[r * 8 + a], x0 * cos(theta) - x1 * sin(theta), 1e-6, "");
                cr_expect_float_eq(((float *)x.data)[r * 8 + b], x0 * sin(theta) + x1 * cos(theta), 1e-6, "");
            }
        }
        free(orig);
        free(x.data);
    }
}

/* Partial rotary with frequency factors and an attention factor (Phi-4-mini's
 * LongRoPE): the first n_rot = 4 of 10 dimensions turn and are scaled by the
 * factor; the other 6 pass through untouched. */
Test(cpu_ops, rope_partial_attn_factor) {
    for (int mode = 0; mode < 2; mode++) {
        vka_tensor x = make_random(10, 2 * 2), ff = make(VKA_TYPE_F32, 2, 1); /* head_dim 10, 2 heads, 2 tokens */
        ((float *)ff.data)[0] = 1.5f;
        ((float *)ff.data)[1] = 3.25f;
        float *orig = malloc(x.nbytes);
        memcpy(orig, x.data, x.nbytes);
        vka_rope_params p = {.mode = (vka_rope_mode)mode, .n_heads = 2, .n_rot = 4, .freq_base = 100.0f,
                             .freq_scale = 0.5f, .attn_factor = 1.25f};
        cr_assert_eq(vka_cpu_rope(&x, &ff, &p, NULL, 7), VKA_OK);
        const float *got = x.data;
        for (int r = 0; r < 4; r++) {
            double pos = 7 + r / 2;
            for (int i = 0; i < 2; i++) {
                double theta = pos * 0.5 * pow(100.0, -2.0 * i / 4.0) / ((float *)ff.data)[i];
                int a = mode == VKA_ROPE_NORM ? 2 * i : i, b = mode == VKA_ROPE_NORM ? 2 * i + 1 : i + 2;
                double x0 = orig[r * 10 + a], x1 = orig[r * 10 + b];
                cr_expect_float_eq(got[r * 10 + a], 1.25 * (x0 * cos(theta) - x1 * sin(theta)), 1e-6, "");
                cr_expect_float_eq(got[r * 10 + b], 1.25 * (x0 * sin(theta) + x1 * cos(theta)), 1e-6, "");
            }
            for (int d = 4; d < 10; d++) cr_expect_eq(got[r * 10 + d], orig[r * 10 + d], "row %d dim %d", r, d);
        }
        free(orig);
        free(ff.data);
        free(x.data);
    }
}

/* Causal GQA attention: 4 query heads share 2 KV heads; queries at positions 2 and 3. */
Test(cpu_ops, attention_causal_gqa) {
    uint32_t hd = 4, nh = 4, nkv = 2, n_past = 2, n = 2;
    vka_tensor q = make_random(hd * nh, n), k = make_random(hd * nkv, 8), v = make_random(hd * nkv, 8);
    vka_tensor out = make(VKA_TYPE_F32, hd * nh, n);
    vka_attention_params p = {.n_head = nh, .n_head_kv = nkv, .head_dim = hd, .head_dim_v = hd, .scale = 0.5f};
    cr_assert_eq(vka_cpu_attention(pool, &out, &q, &k, &v, &p, NULL, n_past), VKA_OK);
    const float *Q = q.data, *K = k.data, *V = v.data, *O = out.data;
    for (uint32_t t = 0; t < n; t++)
        for (uint32_t h = 0; h < nh; h++) {
            uint32_t g = h / 2, keys = n_past + t + 1;
            double s[8], mx = -1e30, sum = 0;
            for (uint32_t j = 0; j < keys; j++) {
                s[j] = 0;
                for (uint32_t i = 0; i < hd; i++) s[j] += (double)Q[t * hd * nh + h * hd + i] * K[j * hd * nkv + g * hd + i];
                s[j] *= 0.5;
                mx = fmax(mx, s[j]);
            }
            for (uint32_t j = 0; j < keys; j++) sum += (s[j] = exp(s[j] - mx));
            for (uint32_t i = 0; i < hd; i++) {
                double want = 0;
                for (uint32_t j = 0; j < keys; j++) want += s[j] / sum * V[j * hd * nkv + g * hd + i];
                cr_expect_float_eq(O[t * hd * nh + h * hd + i], want, 1e-5, "token %u head %u", t, h);
            }
        }
    free(q.data); free(k.data); free(v.data); free(out.data);
}

Test(cpu_ops, get_rows_swiglu_add_argmax) {
    vka_tensor table = make_random(6, 4), ids = make(VKA_TYPE_I32, 1, 3), rows = make(VKA_TYPE_F32, 6, 3);
    int32_t want_ids[3] = {3, 0, 3};
    memcpy(ids.data, want_ids, sizeof want_ids);
    cr_assert_eq(vka_cpu_get_rows(&rows, &table, &ids), VKA_OK);
    for (int j = 0; j < 3; j++)
        cr_expect_arr_eq((float *)rows.data + j * 6, (float *)table.data + want_ids[j] * 6, 6 * sizeof(float));
    ((int32_t *)ids.data)[1] = 4;
    cr_expect_eq(vka_cpu_get_rows(&rows, &table, &ids), VKA_ERR_INVALID_ARGUMENT, "id past the table");

    vka_tensor g = make_random(5, 1), u = make_random(5, 1), o = make(VKA_TYPE_F32, 5, 1);
    vka_cpu_swiglu(&o, &g, &u);
    for (int i = 0; i < 5; i++) {
        double gi = ((float *)g.data)[i];
        cr_expect_float_eq(((float *)o.data)[i], gi / (1 + exp(-gi)) * ((float *)u.data)[i], 1e-6, "");
    }
    vka_cpu_add(&o, &g, &u);
    for (int i = 0; i < 5; i++)
        cr_expect_float_eq(((float *)o.data)[i], ((float *)g.data)[i] + ((float *)u.data)[i], 1e-7, "");

    vka_tensor logits = make(VKA_TYPE_F32, 4, 2), am = make(VKA_TYPE_I32, 1, 2);
    float vals[8] = {1, 3, 3, 2, -1, -5, -0.5f, -2};
    memcpy(logits.data, vals, sizeof vals);
    vka_cpu_argmax(&am, &logits);
    cr_expect_eq(((int32_t *)am.data)[0], 1, "lowest id on ties");
    cr_expect_eq(((int32_t *)am.data)[1], 2);
    free(table.data); free(ids.data); free(rows.data); free(g.data); free(u.data); free(o.data);
    free(logits.data); free(am.data);
}
