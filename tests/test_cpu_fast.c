/* test_cpu_fast.c — the fast CPU backend (device `cpu`) against the reference
 * (`cpu-ref`): every kernel set this CPU runs (portable C, AVX2, AVX-512
 * VNNI; NEON on arm64, also checked from x86 under qemu by scripts/test-arm64) for every
 * weight type it accelerates, on seeded random inputs, with bounds derived
 * from how the fast path rounds. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "backends/cpu/cpu_packed.h"
#include "backends/cpu/cpu_ops.h"
#include "cpu_fast_check.h"

static vka_cpu_pool *pool;
static void setup(void) { cr_assert_eq(vka_cpu_pool_create_threads(2, &pool), VKA_OK); }
static void teardown(void) { vka_cpu_pool_free(pool); }
TestSuite(cpu_fast, .init = setup, .fini = teardown);

/* frand, make, random_weights: cpu_fast_check.h */

/* The bounds on |fast - reference| (derived in cpu_fast_check.h, shared
 * with the arm64 check tests/arm64/check_fast.c): fast_bound for the
 * activations as given; fast_bound_same_activations against the reference fed
 * the 8-bit activations the kernels see, where only float rounding differs. */
static void check_exact_activations(const vka_fast_kernels *kern, const vka_tensor *w, const float *deq,
                                    const vka_tensor *x) {
    int64_t k = x->ne[0], n = x->ne[1], m = w->ne[1];
    vka_tensor xq = make(VKA_TYPE_F32, k, n), want = make(VKA_TYPE_F32, m, n), got = make(VKA_TYPE_F32, m, n);
    vka_q8_act *blocks = malloc(vka_fast_act_row_bytes(k));
    for (int64_t j = 0; j < n; j++) {
        vka_fast_quantize_row(f32(x) + j * k, blocks, k);
        for (int64_t i = 0; i < k; i++) f32(&xq)[j * k + i] = (float)blocks[i / 32].q[i % 32] * blocks[i / 32].d;
    }
    cr_assert_eq(vka_cpu_matmul(pool, &want, w, &xq, NULL, false), VKA_OK);
    cr_assert_eq(vka_cpu_fast_matmul(kern, pool, &got, w, x, NULL, false), VKA_OK);
    for (int64_t j = 0; j < n; j++)
        for (int64_t r = 0; r < m; r++) {
            double tol = fast_bound_same_activations(deq + r * k, f32(&xq) + j * k, k);
            double a = f32(&got)[j * m + r], b = f32(&want)[j * m + r];
            cr_assert(fabs(a - b) <= tol, "%s %s, same activations: row %ld token %ld: fast %.8g reference %.8g (bound %.3g)",
                      kern->isa, vka_type_get_traits(w->type)->name, (long)r, (long)j, a, b, tol);
        }
    free(blocks);
    free(xq.data); free(want.data); free(got.data);
}

/* packed: through the weights repacked as the backend does at load (the
 * kernels must have packed kernels for the type); m = 150 leaves the last
 * group of 16 rows part padding, and packed types with blocks of 32 get 17
 * blocks a row, so the last of their block pairs is half empty. */
static void check_type(const vka_fast_kernels *kern, vka_type type, int64_t n_tokens, bool with_bias, bool packed) {
    /* m * k * n over the pool's threshold for n >= 7: several threads */
    const int64_t k = packed && vka_type_get_traits(type)->block_size == 32 ? 544 : 512, m = 150;
    rng_state = 1000u * (uint64_t)type + (uint64_t)n_tokens;
    float *deq = malloc((size_t)(k * m) * sizeof *deq);
    vka_tensor w = random_weights(type, k, m, deq);
    if (packed) {
        w.impl = vka_cpu_fast_pack(kern, pool, &w, w.data);
        cr_assert_not_null(w.impl, "%s packs no %s", kern->isa, vka_type_get_traits(type)->name);
    }
    vka_tensor x = make(VKA_TYPE_F32, k, n_tokens), bias = make(VKA_TYPE_F32, m, 1);
    vka_tensor want = make(VKA_TYPE_F32, m, n_tokens), got = make(VKA_TYPE_F32, m, n_tokens);
    for (int64_t i = 0; i < k * n_tokens; i++) f32(&x)[i] = frand() * (i % 7 == 0 ? 4.0f : 1.0f); /* some outliers */
    for (int64_t i = 0; i < m; i++) f32(&bias)[i] = frand();
    cr_assert_eq(vka_cpu_matmul(pool, &want, &w, &x, with_bias ? &bias : NULL, false), VKA_OK);
    cr_assert_eq(vka_cpu_fast_matmul(kern, pool, &got, &w, &x, with_bias ? &bias : NULL, false), VKA_OK);
    for (int64_t j = 0; j < n_tokens; j++)
        for (int64_t r = 0; r < m; r++) {
            double tol = fast_bound(deq + r * k, f32(&x) + j * k, k, is_quantized(type));
            double a = f32(&got)[j * m + r], b = f32(&want)[j * m + r];
            cr_assert(fabs(a - b) <= tol, "%s %s: row %ld token %ld of %ld: fast %.8g reference %.8g (bound %.3g)",
                      kern->isa, vka_type_get_traits(type)->name, (long)r, (long)j, (long)n_tokens, a, b, tol);
        }
    if (is_quantized(type)) check_exact_activations(kern, &w, deq, &x);
    /* accumulate adds onto what dst holds */
    memcpy(want.data, got.data, got.nbytes);
    cr_assert_eq(vka_cpu_fast_matmul(kern, pool, &got, &w, &x, NULL, true), VKA_OK);
    vka_tensor once = make(VKA_TYPE_F32, m, n_tokens);
    cr_assert_eq(vka_cpu_fast_matmul(kern, pool, &once, &w, &x, NULL, false), VKA_OK);
    for (int64_t i = 0; i < m * n_tokens; i++)
        cr_assert(f32(&got)[i] == f32(&want)[i] + f32(&once)[i], "%s accumulate at %ld", kern->isa, (long)i);
    free(deq);
    vka_packed_free(w.impl);
    free(w.data); free(x.data); free(bias.data); free(want.data); free(got.data); free(once.data);
}

/* Every type with a kernel (fast_check_types), over token counts covering every tile height of both
 * layouts (fast_check_tokens). */
static void check_kernels(const vka_fast_kernels *kern) {
    const vka_packed_fn *packed = kern->packed ? kern->packed() : NULL;
    for (size_t t = 0; t < sizeof fast_check_types / sizeof fast_check_types[0]; t++) {
        vka_type type = fast_check_types[t];
        cr_assert_not_null(kern->dot[type], "%s has no %s kernel", kern->isa, vka_type_get_traits(type)->name);
        for (size_t n = 0; n < sizeof fast_check_tokens / sizeof fast_check_tokens[0]; n++) {
            check_type(kern, type, fast_check_tokens[n], n % 2 == 0, false);
            if (packed && packed[type]) check_type(kern, type, fast_check_tokens[n], n % 2 == 1, true);
        }
    }
}

/* Q5_K and the low-bit types have portable, x86 and NEON kernels (no packed
 * layout; scripts/test-arm64 checks the NEON ones from x86): each set
 * against the reference. */
static void check_low_bit_kernels(const vka_fast_kernels *kern) {
    static const vka_type types[] = {VKA_TYPE_Q5_K, VKA_TYPE_Q2_K, VKA_TYPE_Q3_K, VKA_TYPE_IQ4_NL, VKA_TYPE_IQ4_XS};
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        cr_assert_not_null(kern->dot[types[t]], "%s has no %s kernel", kern->isa, vka_type_get_traits(types[t])->name);
        for (size_t n = 0; n < sizeof fast_check_tokens / sizeof fast_check_tokens[0]; n++)
            check_type(kern, types[t], fast_check_tokens[n], n % 2 == 0, false);
    }
}

Test(cpu_fast, low_bit_kernels_match_reference) {
    const vka_fast_kernels *sets[] = {&vka_fast_scalar, vka_fast_avx2(), vka_fast_vnni(), vka_fast_neon()};
    for (size_t s = 0; s < sizeof sets / sizeof sets[0]; s++)
        if (sets[s]) check_low_bit_kernels(sets[s]); /* NULL: a set this CPU cannot run */
}

/* Where the CPU runs the packed kernels, every quantized type the CPU
 * backend meets in the common files has one. */
Test(cpu_fast, packed_kernels_cover_common_types) {
    const vka_fast_kernels *vnni = vka_fast_vnni();
    const vka_packed_fn *packed = vnni && vnni->packed ? vnni->packed() : NULL;
    if (!packed) cr_skip("this CPU (or build) has no AVX-512 VNNI with BW");
    static const vka_type wanted[] = {VKA_TYPE_Q4_0, VKA_TYPE_Q5_0, VKA_TYPE_Q8_0, VKA_TYPE_Q4_K, VKA_TYPE_Q6_K};
    for (size_t i = 0; i < sizeof wanted / sizeof wanted[0]; i++)
        cr_expect_not_null(packed[wanted[i]], "no packed %s kernel", vka_type_get_traits(wanted[i])->name);
}

Test(cpu_fast, scalar_kernels_match_reference) { check_kernels(&vka_fast_scalar); }

Test(cpu_fast, avx2_kernels_match_reference) {
    const vka_fast_kernels *avx2 = vka_fast_avx2();
    if (!avx2) cr_skip("this CPU (or build) has no AVX2/FMA/F16C");
    check_kernels(avx2);
}

Test(cpu_fast, vnni_kernels_match_reference) {
    const vka_fast_kernels *vnni = vka_fast_vnni();
    if (!vnni) cr_skip("this CPU (or build) has no AVX-512 VNNI");
    check_kernels(vnni);
}

Test(cpu_fast, neon_kernels_match_reference) {
    const vka_fast_kernels *neon = vka_fast_neon();
    if (!neon) cr_skip("not an arm64 build (scripts/test-arm64 checks the NEON kernels under qemu)");
    check_kernels(neon);
}

/* A block of zeros gives a zero activation scale, not a division by zero. */
Test(cpu_fast, quantize_zero_block_and_extremes) {
    float x[64] = {0};
    x[32] = -3.0f;
    x[33] = 3.0f;
    x[34] = 1.0f;
    vka_q8_act *q = malloc(vka_fast_act_row_bytes(64));
    vka_fast_quantize_row(x, q, 64);
    cr_expect_eq(q[0].d, 0.0f);
    cr_expect_eq(q[0].sum, 0);
    cr_expect_float_eq(q[1].d, 3.0f / 127.0f, 1e-9);
    cr_expect_eq(q[1].q[0], -127);
    cr_expect_eq(q[1].q[1], 127);
    cr_expect_eq(q[1].q[2], 42); /* 1/3 of 127 = 42.33 */
    cr_expect_eq(q[1].sum, 42);
    const float *dsum = vka_fast_act_dsum(q, 64); /* after the blocks: d * sum */
    cr_expect_eq(dsum[0], 0.0f);
    cr_expect_eq(dsum[1], q[1].d * 42.0f);
    free(q);
}

/* Every kernel set's quantizer gives the portable one's bytes, on ordinary
 * values, zero blocks, ties, NaN, infinities, huge and tiny values
 * (quantizer_inputs, cpu_fast_check.h). */
Test(cpu_fast, quantizers_match_bit_for_bit) {
    const int64_t n = 32 * 64;
    float *x = malloc((size_t)n * sizeof *x);
    size_t bytes = vka_fast_act_row_bytes(n);
    vka_q8_act *want = malloc(bytes), *got = malloc(bytes);
    const vka_fast_kernels *sets[] = {&vka_fast_scalar, vka_fast_avx2(), vka_fast_vnni(), vka_fast_neon()};
    for (int round = 0; round < FAST_CHECK_QUANTIZER_ROUNDS; round++) {
        quantizer_inputs(x, n, round);
        vka_fast_quantize_row(x, want, n);
        for (size_t s = 0; s < sizeof sets / sizeof sets[0]; s++) {
            if (!sets[s]) continue; /* a set this CPU cannot run: nothing to compare */
            memset(got, 0x55, bytes);
            sets[s]->quantize(x, got, n);
            cr_expect_eq(memcmp(want, got, bytes), 0, "%s quantizer differs in round %d", sets[s]->isa, round);
        }
    }
    free(x); free(want); free(got);
}

/* Types without a fast kernel (Q5_1 here) give exactly the reference. */
Test(cpu_fast, other_types_fall_back_to_reference) {
    rng_state = 7;
    const int64_t k = 256, m = 8;
    float *deq = malloc((size_t)(k * m) * sizeof *deq);
    vka_tensor w = random_weights(VKA_TYPE_Q5_1, k, m, deq);
    vka_tensor x = make(VKA_TYPE_F32, k, 2), want = make(VKA_TYPE_F32, m, 2), got = make(VKA_TYPE_F32, m, 2);
    for (int64_t i = 0; i < k * 2; i++) f32(&x)[i] = frand();
    cr_assert_eq(vka_cpu_matmul(pool, &want, &w, &x, NULL, false), VKA_OK);
    cr_assert_eq(vka_cpu_fast_matmul(vka_fast_select(), pool, &got, &w, &x, NULL, false), VKA_OK);
    cr_expect_eq(memcmp(want.data, got.data, want.nbytes), 0);
    free(deq);
    free(w.data); free(x.data); free(want.data); free(got.data);
}

/* `cpu` is the fast backend, `cpu-ref` the reference; VKAGENT_CPU_ISA=scalar picks the portable kernels,
 * =avx2 the AVX2 ones where the CPU has them (on arm64 it changes nothing: NEON). */
Test(cpu_fast, devices) {
    vka_backend *b = NULL;
    cr_assert_eq(vka_backend_open("cpu-ref", &b), VKA_OK);
    cr_expect_eq(strncmp(b->name, "cpu-ref (", 9), 0, "%s", b->name);
    vka_backend_close(b);
    cr_assert_eq(vka_backend_open("cpu", &b), VKA_OK);
    cr_expect_eq(strncmp(b->name, "cpu (", 5), 0, "%s", b->name);
    cr_expect(strstr(b->name, vka_fast_select()->isa) != NULL, "%s", b->name);
    vka_backend_close(b);
    setenv("VKAGENT_CPU_ISA", "scalar", 1);
    cr_assert_eq(vka_backend_open("cpu", &b), VKA_OK);
    cr_expect(strstr(b->name, "scalar") != NULL, "%s", b->name);
    vka_backend_close(b);
    setenv("VKAGENT_CPU_ISA", "avx2", 1);
    cr_assert_eq(vka_backend_open("cpu", &b), VKA_OK);
    const char *without_vnni = vka_fast_avx2() ? "avx2" : vka_fast_neon() ? vka_fast_neon()->isa : "scalar";
    cr_expect(strstr(b->name, without_vnni) != NULL, "%s", b->name);
    vka_backend_close(b);
    unsetenv("VKAGENT_CPU_ISA");
}
