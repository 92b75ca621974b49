/* vulkan_ops_harness.h — the Vulkan op tests' shared harness
 * (vulkan_ops_harness.c): the Vulkan backend beside the CPU reference,
 * seeded random data, tensors on both, a node run on both, comparisons. */
#ifndef VKA_VULKAN_OPS_HARNESS_H
#define VKA_VULKAN_OPS_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backends/backend.h"
#include "backends/vulkan/vulkan_backend.h"
#include "format/types.h"

extern vka_backend *vk, *cpu;

/* Opens both backends (skips the test without a Vulkan device). */
void open_backends(void);
/* Closes both and fails the test on any validation message. */
void close_backends(void);

void seed(uint64_t s);
uint64_t next_u64(void);
/* uniform in [-1, 1) */
float uniform(void);
float *random_floats(size_t n, float scale);
void put_f16(uint8_t *p, float v);
/* Random rows of `type` (quantized blocks: random quants, sub-block scales
 * and mins; super-block scales in a sane range). */
void *random_rows(vka_type type, int64_t ne0, int64_t ne1);

typedef struct pair {
    vka_tensor c, v;                 /* CPU and Vulkan copies */
} pair;

/* A tensor on both backends, filled with `data` (NULL: zeros). Weights keep `data` (taken over). */
void make(pair *p, const char *name, vka_type type, int64_t ne0, int64_t ne1, vka_tensor_usage usage, void *data);
void drop(pair *p);
/* Views of rows [row, row+n) of both copies, re-shaped to rows of ne0. */
void view(pair *out, pair *parent, int64_t row, int64_t n, int64_t ne0);
/* Runs one node on both backends. Sources may be NULL. */
void run(vka_op op, pair *dst, pair *s0, pair *s1, pair *s2, const vka_node *params, uint32_t n_tokens,
         uint32_t n_past);
/* Reads a tensor (or view) back from a backend (the caller frees it). */
void *read_back(vka_backend *b, const vka_tensor *t);

typedef double (*tol_fn)(size_t i, double ref, void *ctx);
/* Compares the Vulkan result with the CPU one element by element: |vk - cpu| <= tol(i). */
void compare(const pair *dst, tol_fn tol, void *ctx, const char *what);
/* Tolerance 0. */
double exact(size_t i, double ref, void *ctx);

#define N_TYPES 11
/* The weight types the Vulkan backend reads, but for small_types. */
extern const vka_type all_types[N_TYPES];
#define N_SMALL_TYPES 4
/* The 2- to 4-bit types Q2_K, Q3_K, IQ4_NL, IQ4_XS: they share every kernel's
 * code with the types above but for dequantization (shaders/wtypes.glsl), so
 * the tests check them at a few shapes only (lavapipe is slow). */
extern const vka_type small_types[N_SMALL_TYPES];
/* Super-blocks of 256 values (K-quants, IQ4_XS). */
bool kquant(vka_type t);
bool quantized(vka_type t);
/* A row length for `type`: `blocks` quant blocks' worth (x 8 for super-blocks), or `floats` for float types. */
int64_t row_len(vka_type t, int64_t floats, int64_t blocks);

#endif
