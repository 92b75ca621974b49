/* cpu_fast.h — the fast CPU backend's matrix products (device `cpu`; the
 * plain-C ops of cpu_ops.h stay the oracle, device `cpu-ref`). Quantized
 * weights are multiplied with activations quantized to 8 bits per block of
 * 32 (integer dot products); f16/f32 weights with f32 activations. Kernels
 * exist in portable C, AVX2 and AVX-512 VNNI (chosen at run time) and NEON
 * (arm64 builds). */
#ifndef VKA_CPU_FAST_H
#define VKA_CPU_FAST_H

#include "backends/cpu/cpu_ops.h"

/* 32 activations as q[i] * d, q in -127..127; sum = the sum of q (the
 * offset of unsigned weight codes, e.g. Q4_0's -8, is applied through it). */
typedef struct vka_q8_act {
    float d;
    int32_t sum;
    int8_t q[32];
} vka_q8_act;

/* A quantized row of n activations: n/32 blocks, then n/32 floats d * sum
 * (for the weight types with a per-block min, Q4_K, read 8 at a time). */
static inline size_t vka_fast_act_row_bytes(int64_t n) { return (size_t)(n / 32) * (sizeof(vka_q8_act) + sizeof(float)); }
static inline const float *vka_fast_act_dsum(const vka_q8_act *row, int64_t n) { return (const float *)(row + n / 32); }

/* Quantizes n floats (a multiple of 32) to a row of vka_fast_act_row_bytes(n)
 * at out: d = max|x| / 127, q = x / d rounded to nearest, so |x - q*d| <= d/2. */
void vka_fast_quantize_row(const float *x, vka_q8_act *out, int64_t n);

/* out[j] = dot(weight row w of k elements, activation row x[j]) for j < nx
 * (nx <= VKA_FAST_TILE). x[j] points to k/32 vka_q8_act blocks for the
 * quantized types and to k floats for F32/F16. */
#define VKA_FAST_TILE 4
typedef void (*vka_fast_dot_fn)(int64_t k, const void *w, const void *const *x, int nx, float *out);

/* Defines `attr static void dot_NAME`, a vka_fast_dot_fn over
 * NAME_tile(k, w, x, out, nx) (w as wtype*, x as xtype* const*) instantiated
 * for each tile height, so nx is a constant inside each instance and, the
 * loops over it unrolled, the tile's accumulators live in registers. attr: a
 * target attribute (the x86 sets) or nothing. */
#define VKA_FAST_TILED(attr, name, wtype, xtype)                                                        \
    attr static void dot_##name(int64_t k, const void *w, const void *const *x, int nx, float *out) { \
        const xtype *const *xs = (const xtype *const *)x;                                            \
        switch (nx) {                                                                                \
        case 1: name##_tile(k, (const wtype *)w, xs, out, 1); break;                                 \
        case 2: name##_tile(k, (const wtype *)w, xs, out, 2); break;                                 \
        case 3: name##_tile(k, (const wtype *)w, xs, out, 3); break;                                 \
        default: name##_tile(k, (const wtype *)w, xs, out, 4); break;                                \
        }                                                                                            \
    }

/* A matrix product over weights repacked at load (cpu_packed.h). */
struct vka_packed_product;
typedef void (*vka_packed_fn)(const struct vka_packed_product *p, int64_t g0, int64_t g1);

/* One implementation of every supported weight type's kernel. */
typedef struct vka_fast_kernels {
    const char *isa;                     /* "scalar", "avx2", "avx512vnni", "neon", "neon-dotprod" */
    /* vka_fast_quantize_row, with identical results */
    void (*quantize)(const float *x, vka_q8_act *out, int64_t n);
    vka_fast_dot_fn dot[VKA_TYPE_COUNT]; /* NULL: the type falls back to the reference matmul */
    /* The kernels for repacked weights by type, or NULL (no repacking): a
     * function, as the running CPU decides whether they can run. */
    const vka_packed_fn *(*packed)(void);
} vka_fast_kernels;

extern const vka_fast_kernels vka_fast_scalar;
/* The AVX2 kernels, or NULL when this CPU (or compiler) lacks AVX2/FMA/F16C. */
const vka_fast_kernels *vka_fast_avx2(void);
/* The same with AVX-512 VNNI dot products, or NULL without AVX-512VL/VNNI. */
const vka_fast_kernels *vka_fast_vnni(void);
/* The NEON kernels where the build targets arm64 (dot products with the
 * dot-product extension if the compiler targets it), else NULL. */
const vka_fast_kernels *vka_fast_neon(void);
/* The best kernels for this CPU; VKAGENT_CPU_ISA=scalar or avx2 forces those. */
const vka_fast_kernels *vka_fast_select(void);

/* As vka_cpu_matmul with the given kernels; types without a kernel use the
 * reference. A weight whose impl holds its repacked copy (vka_packed, made
 * by vka_cpu_fast_pack) goes through the packed kernels. */
vka_status vka_cpu_fast_matmul(const vka_fast_kernels *kern, vka_cpu_pool *pool, vka_tensor *dst, const vka_tensor *w,
                               const vka_tensor *x, const vka_tensor *bias, bool accumulate);

/* The repacked copy of weight matrix w (ne[1] rows of ne[0], GGUF data at
 * `data`) for these kernels, filled on the pool's threads, or NULL when they have no packed kernel for its
 * type (or memory runs out: the GGUF layout still works). */
struct vka_packed *vka_cpu_fast_pack(const vka_fast_kernels *kern, vka_cpu_pool *pool, const vka_tensor *w,
                                     const void *data);

#endif
