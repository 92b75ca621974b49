/* check_fast.c — the fast CPU backend's NEON kernels against the reference
 * matmul (`cpu-ref`'s vka_cpu_matmul), as tests/test_cpu_fast.c checks every
 * kernel set, but standalone (no Criterion, which has no arm64 build here) so
 * scripts/test-arm64 can cross-compile it with the engine sources it needs and
 * run it under qemu-aarch64. The same seeded inputs and derived bounds
 * (tests/cpu_fast_check.h); the checks mirror test_cpu_fast.c's check_type and
 * check_exact_activations, reporting in print where those assert. Prints
 * PASS/FAIL per check; exits 1 on a failure. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/cpu_fast.h"
#include "backends/cpu/cpu_ops.h"
#include "../cpu_fast_check.h"

static vka_cpu_pool *pool;
static int failures; /* in the current check */

/* Reports a failed comparison (the first few of each check: one is enough to debug). */
static void fail(const char *fmt, ...) {
    if (failures++ >= 3) return;
    va_list ap;
    va_start(ap, fmt);
    printf("  ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
}

/* Against the reference fed the 8-bit activations the kernels see: only float rounding differs. */
static void check_same_activations(const vka_fast_kernels *kern, const vka_tensor *w, const float *deq,
                                   const vka_tensor *x) {
    int64_t k = x->ne[0], n = x->ne[1], m = w->ne[1];
    vka_tensor xq = make(VKA_TYPE_F32, k, n), want = make(VKA_TYPE_F32, m, n), got = make(VKA_TYPE_F32, m, n);
    vka_q8_act *blocks = malloc(vka_fast_act_row_bytes(k));
    for (int64_t j = 0; j < n; j++) {
        vka_fast_quantize_row(f32(x) + j * k, blocks, k);
        for (int64_t i = 0; i < k; i++) f32(&xq)[j * k + i] = (float)blocks[i / 32].q[i % 32] * blocks[i / 32].d;
    }
    if (vka_cpu_matmul(pool, &want, w, &xq, NULL, false) != VKA_OK ||
        vka_cpu_fast_matmul(kern, pool, &got, w, x, NULL, false) != VKA_OK)
        fail("matmul failed");
    for (int64_t j = 0; j < n; j++)
        for (int64_t r = 0; r < m; r++) {
            double tol = fast_bound_same_activations(deq + r * k, f32(&xq) + j * k, k);
            double a = f32(&got)[j * m + r], b = f32(&want)[j * m + r];
            if (!(fabs(a - b) <= tol))
                fail("same activations: row %ld token %ld of %ld: fast %.8g reference %.8g (bound %.3g)", (long)r,
                     (long)j, (long)n, a, b, tol);
        }
    free(blocks);
    free(xq.data);
    free(want.data);
    free(got.data);
}

/* One weight type and token count: the bound against the reference, the same
 * activations, and accumulate adding onto what dst holds. */
static void check_type(const vka_fast_kernels *kern, vka_type type, int64_t n_tokens, bool with_bias) {
    const int64_t k = 512, m = 150; /* as test_cpu_fast.c: several threads from 7 tokens */
    rng_state = 1000u * (uint64_t)type + (uint64_t)n_tokens;
    float *deq = malloc((size_t)(k * m) * sizeof *deq);
    vka_tensor w = random_weights(type, k, m, deq);
    vka_tensor x = make(VKA_TYPE_F32, k, n_tokens), bias = make(VKA_TYPE_F32, m, 1);
    vka_tensor want = make(VKA_TYPE_F32, m, n_tokens), got = make(VKA_TYPE_F32, m, n_tokens);
    vka_tensor once = make(VKA_TYPE_F32, m, n_tokens);
    for (int64_t i = 0; i < k * n_tokens; i++) f32(&x)[i] = frand() * (i % 7 == 0 ? 4.0f : 1.0f); /* some outliers */
    for (int64_t i = 0; i < m; i++) f32(&bias)[i] = frand();
    if (vka_cpu_matmul(pool, &want, &w, &x, with_bias ? &bias : NULL, false) != VKA_OK ||
        vka_cpu_fast_matmul(kern, pool, &got, &w, &x, with_bias ? &bias : NULL, false) != VKA_OK)
        fail("matmul failed");
    for (int64_t j = 0; j < n_tokens; j++)
        for (int64_t r = 0; r < m; r++) {
            double tol = fast_bound(deq + r * k, f32(&x) + j * k, k, is_quantized(type));
            double a = f32(&got)[j * m + r], b = f32(&want)[j * m + r];
            if (!(fabs(a - b) <= tol))
                fail("row %ld token %ld of %ld: fast %.8g reference %.8g (bound %.3g)", (long)r, (long)j,
                     (long)n_tokens, a, b, tol);
        }
    if (is_quantized(type)) check_same_activations(kern, &w, deq, &x);
    memcpy(want.data, got.data, got.nbytes);
    if (vka_cpu_fast_matmul(kern, pool, &got, &w, &x, NULL, true) != VKA_OK ||
        vka_cpu_fast_matmul(kern, pool, &once, &w, &x, NULL, false) != VKA_OK)
        fail("matmul failed");
    for (int64_t i = 0; i < m * n_tokens; i++)
        if (f32(&got)[i] != f32(&want)[i] + f32(&once)[i]) {
            fail("accumulate at %ld", (long)i);
            break;
        }
    free(deq);
    free(w.data); free(x.data); free(bias.data); free(want.data); free(got.data); free(once.data);
}

/* The verdict of the check just run; resets the count. */
static bool report(const char *isa, const char *what) {
    bool ok = failures == 0;
    printf("%s %s %s\n", ok ? "PASS" : "FAIL", isa, what);
    failures = 0;
    return ok;
}

/* The types with a NEON kernel: the common ones (fast_check_types), then
 * Q5_K and the low-bit types (test_cpu_fast.c's check_low_bit_kernels). */
static const vka_type low_bit_types[] = {VKA_TYPE_Q5_K, VKA_TYPE_Q2_K, VKA_TYPE_Q3_K, VKA_TYPE_IQ4_NL, VKA_TYPE_IQ4_XS};
#define N_LOW_BIT (sizeof low_bit_types / sizeof low_bit_types[0])
#define N_NEON_TYPES (sizeof fast_check_types / sizeof fast_check_types[0] + N_LOW_BIT)
static vka_type neon_type(size_t t) {
    size_t common = sizeof fast_check_types / sizeof fast_check_types[0];
    return t < common ? fast_check_types[t] : low_bit_types[t - common];
}

/* Every type with a kernel, over token counts that cover each tile height
 * (1..4) and a second tile. */
static bool check_kernels(const vka_fast_kernels *kern) {
    vka_type types[N_NEON_TYPES];
    size_t n_types = 0;
    for (size_t t = 0; t < N_NEON_TYPES; t++) types[n_types++] = neon_type(t);
    bool ok = true;
    for (size_t t = 0; t < n_types; t++) {
        vka_type type = types[t];
        if (!kern->dot[type]) fail("no kernel");
        for (size_t n = 0; kern->dot[type] && n < sizeof fast_check_tokens / sizeof fast_check_tokens[0]; n++)
            check_type(kern, type, fast_check_tokens[n], n % 2 == 0);
        ok &= report(kern->isa, vka_type_get_traits(type)->name);
    }
    return ok;
}

/* The set's quantizer gives vka_fast_quantize_row's bytes (as compiled for
 * this CPU) on quantizer_inputs (cpu_fast_check.h), as test_cpu_fast.c checks. */
static bool check_quantizer(const vka_fast_kernels *kern) {
    const int64_t n = 32 * 64;
    float *x = malloc((size_t)n * sizeof *x);
    size_t bytes = vka_fast_act_row_bytes(n);
    vka_q8_act *want = malloc(bytes), *got = malloc(bytes);
    for (int round = 0; round < FAST_CHECK_QUANTIZER_ROUNDS; round++) {
        quantizer_inputs(x, n, round);
        vka_fast_quantize_row(x, want, n);
        memset(got, 0x55, bytes);
        kern->quantize(x, got, n);
        if (memcmp(want, got, bytes) != 0) {
            for (int64_t b = 0; b < n / 32; b++)
                if (memcmp(&want[b], &got[b], sizeof want[b]) != 0) {
                    fail("round %d: block %ld differs (d %g/%g sum %d/%d)", round, (long)b, (double)want[b].d,
                         (double)got[b].d, want[b].sum, got[b].sum);
                    break;
                }
            if (failures == 0) fail("round %d: the d*sum floats differ", round);
        }
    }
    free(x); free(want); free(got);
    return report(kern->isa, "quantizer bit for bit");
}

/* Batch invariance (backend.h), as tests/test_batch_invariance.c checks the
 * x86 sets: each token's row of a 40-token product is the same bits when the
 * token runs alone and in a batch of every size 2..40 at other rows. */
static bool check_invariance(const vka_fast_kernels *kern) {
    const int64_t k = 544, m = 150, total = 40;
    for (size_t t = 0; t < N_NEON_TYPES; t++) {
        vka_type type = neon_type(t);
        int64_t kt = vka_type_get_traits(type)->block_size == 256 ? 512 : k;
        rng_state = 3000u + (uint64_t)type;
        float *deq = malloc((size_t)(kt * m) * sizeof *deq);
        vka_tensor w = random_weights(type, kt, m, deq), x = make(VKA_TYPE_F32, kt, total);
        vka_tensor full = make(VKA_TYPE_F32, m, total);
        for (int64_t i = 0; i < kt * total; i++) f32(&x)[i] = frand();
        if (vka_cpu_fast_matmul(kern, pool, &full, &w, &x, NULL, false) != VKA_OK) fail("matmul failed");
        for (int64_t n = 1; n <= total; n++) {
            /* tokens (7j + n) mod 40 for j < n: every size, at shifted rows */
            vka_tensor xs = make(VKA_TYPE_F32, kt, n), got = make(VKA_TYPE_F32, m, n);
            for (int64_t j = 0; j < n; j++)
                memcpy(f32(&xs) + j * kt, f32(&x) + ((7 * j + n) % total) * kt, (size_t)kt * sizeof(float));
            if (vka_cpu_fast_matmul(kern, pool, &got, &w, &xs, NULL, false) != VKA_OK) fail("matmul failed");
            for (int64_t j = 0; j < n; j++)
                if (memcmp(f32(&got) + j * m, f32(&full) + ((7 * j + n) % total) * m, (size_t)m * sizeof(float)))
                    fail("%s: token %ld differs as row %ld of %ld", vka_type_get_traits(type)->name,
                         (long)((7 * j + n) % total), (long)j, (long)n);
            free(xs.data); free(got.data);
        }
        free(deq); free(w.data); free(x.data); free(full.data);
    }
    return report(kern->isa, "batch invariance");
}

/* vka_fast_select picks NEON on arm64; VKAGENT_CPU_ISA=scalar still forces the portable set. */
static bool check_select(const vka_fast_kernels *neon) {
    if (vka_fast_select() != neon) fail("vka_fast_select gives %s", vka_fast_select()->isa);
    setenv("VKAGENT_CPU_ISA", "scalar", 1);
    if (vka_fast_select() != &vka_fast_scalar) fail("VKAGENT_CPU_ISA=scalar gives %s", vka_fast_select()->isa);
    unsetenv("VKAGENT_CPU_ISA");
    return report(neon->isa, "selection");
}

int main(void) {
    const vka_fast_kernels *neon = vka_fast_neon();
    if (!neon) {
        printf("FAIL: vka_fast_neon() is NULL: not an arm64 build\n");
        return 1;
    }
    if (vka_cpu_pool_create_threads(2, &pool) != VKA_OK) {
        printf("FAIL: no thread pool\n");
        return 1;
    }
    bool ok = check_select(neon);
    ok &= check_quantizer(neon);
    ok &= check_kernels(neon);
    ok &= check_invariance(neon);
    vka_cpu_pool_free(pool);
    printf("%s: NEON kernels (%s)\n", ok ? "PASS" : "FAIL", neon->isa);
    return ok ? 0 : 1;
}
