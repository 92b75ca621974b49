/* vulkan_ops_harness.c — what the Vulkan op tests share (test_vulkan_ops.c,
 * test_vulkan_paged.c): both backends opened, seeded random data, tensors
 * made on both, one node run on both, results compared. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vulkan_ops_harness.h"

#define MAX_HOST 64

vka_backend *vk, *cpu;
static void *host_keep[MAX_HOST]; /* weight data the CPU backend reads in place */
static int n_host_keep;

void open_backends(void) {
    vka_status st = vka_vulkan_backend_create(-1, &vk);
    if (st == VKA_ERR_NOT_FOUND) cr_skip_test("no Vulkan device: %s", vka_last_error());
    cr_assert_eq(st, VKA_OK, "opening Vulkan: %s", vka_last_error());
    cr_assert_eq(vka_cpu_backend_create(&cpu), VKA_OK, "%s", vka_last_error());
}

void close_backends(void) {
    vka_backend_close(vk);
    vka_backend_close(cpu);
    vk = cpu = NULL;
    for (int i = 0; i < n_host_keep; i++) free(host_keep[i]);
    n_host_keep = 0;
    cr_assert_eq(vka_vk_validation_messages(), 0, "%llu validation messages (printed above)",
                 (unsigned long long)vka_vk_validation_messages());
}

static uint64_t rng_state;
void seed(uint64_t s) { rng_state = s * 0x9e3779b97f4a7c15ull + 1; }
uint64_t next_u64(void) {
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
/* uniform in [-1, 1) */
float uniform(void) { return (float)((double)(next_u64() >> 11) / 9007199254740992.0 * 2.0 - 1.0); }

float *random_floats(size_t n, float scale) {
    float *v = malloc(n * sizeof *v);
    cr_assert(v);
    for (size_t i = 0; i < n; i++) v[i] = uniform() * scale;
    return v;
}

void put_f16(uint8_t *p, float v) {
    uint16_t h = vka_f32_to_f16(v);
    memcpy(p, &h, 2);
}

/* Random rows of `type` (quantized blocks: random quants, sub-block scales
 * and mins; super-block scales in a sane range). */
void *random_rows(vka_type type, int64_t ne0, int64_t ne1) {
    size_t row = vka_type_row_size(type, ne0), n = row * (size_t)ne1;
    uint8_t *data = malloc(n ? n : 1);
    cr_assert(data);
    if (type == VKA_TYPE_Q4_K || type == VKA_TYPE_Q5_K || type == VKA_TYPE_Q6_K) {
        size_t bs = vka_type_get_traits(type)->type_size;
        for (size_t i = 0; i < n; i++) data[i] = (uint8_t)(next_u64() & 0xff);
        for (size_t off = 0; off < n; off += bs) {
            if (type == VKA_TYPE_Q6_K) {
                put_f16(data + off + 208, 0.0005f + 0.002f * fabsf(uniform())); /* d after ql, qh, scales */
            } else {
                put_f16(data + off, 0.0005f + 0.002f * fabsf(uniform()));     /* d */
                put_f16(data + off + 2, 0.001f * fabsf(uniform()));           /* dmin */
            }
        }
        return data;
    }
    if (type == VKA_TYPE_Q4_1 || type == VKA_TYPE_Q5_1) {
        /* random quants and qh; d and a negative m of a realistic size */
        size_t bs = vka_type_get_traits(type)->type_size;
        for (size_t i = 0; i < n; i++) data[i] = (uint8_t)(next_u64() & 0xff);
        for (size_t off = 0; off < n; off += bs) {
            put_f16(data + off, 0.002f + 0.02f * fabsf(uniform()));
            put_f16(data + off + 2, -0.1f * fabsf(uniform()));
        }
        return data;
    }
    if (type == VKA_TYPE_Q2_K || type == VKA_TYPE_Q3_K || type == VKA_TYPE_IQ4_XS) {
        /* random quants and sub-block scales; d (and Q2_K's dmin) of a realistic size */
        size_t bs = vka_type_get_traits(type)->type_size;
        for (size_t i = 0; i < n; i++) data[i] = (uint8_t)(next_u64() & 0xff);
        for (size_t off = 0; off < n; off += bs) {
            if (type == VKA_TYPE_Q2_K) {
                put_f16(data + off + 80, 0.002f + 0.01f * fabsf(uniform()));  /* d after scales, qs */
                put_f16(data + off + 82, 0.002f * fabsf(uniform()));          /* dmin */
            } else if (type == VKA_TYPE_Q3_K) {
                put_f16(data + off + 108, 0.0005f + 0.002f * fabsf(uniform())); /* d after hmask, qs, scales */
            } else {
                put_f16(data + off, 0.00002f + 0.0001f * fabsf(uniform()));     /* d first */
            }
        }
        return data;
    }
    if (type == VKA_TYPE_Q8_0 || type == VKA_TYPE_Q4_0 || type == VKA_TYPE_Q5_0 || type == VKA_TYPE_IQ4_NL) {
        size_t bs = vka_type_get_traits(type)->type_size;
        for (size_t off = 0; off < n; off += bs) {
            uint16_t d = vka_f32_to_f16(0.002f + 0.02f * fabsf(uniform()));
            memcpy(data + off, &d, 2);
            for (size_t j = 2; j < bs; j++) data[off + j] = (uint8_t)(next_u64() & 0xff);
        }
        return data;
    }
    float *f = random_floats((size_t)(ne0 * ne1), 1.0f);
    vka_type_get_traits(type)->from_f32(f, data, ne0 * ne1);
    free(f);
    return data;
}

/* A tensor on both backends, filled with `data` (NULL: zeros). Weights keep `data` (taken over). */
void make(pair *p, const char *name, vka_type type, int64_t ne0, int64_t ne1, vka_tensor_usage usage,
                 void *data) {
    vka_tensor_init(&p->c, name, type, ne0, ne1, usage);
    vka_tensor_init(&p->v, name, type, ne0, ne1, usage);
    if (usage == VKA_USAGE_WEIGHT) {
        cr_assert(data && n_host_keep < MAX_HOST);
        host_keep[n_host_keep++] = data;
        cr_assert_eq(cpu->ops->tensor_alloc(cpu, &p->c, data), VKA_OK, "%s", vka_last_error());
        cr_assert_eq(vk->ops->tensor_alloc(vk, &p->v, data), VKA_OK, "%s: %s", name, vka_last_error());
        return;
    }
    cr_assert_eq(cpu->ops->tensor_alloc(cpu, &p->c, NULL), VKA_OK, "%s", vka_last_error());
    cr_assert_eq(vk->ops->tensor_alloc(vk, &p->v, NULL), VKA_OK, "%s: %s", name, vka_last_error());
    if (data) {
        cr_assert_eq(cpu->ops->tensor_set(cpu, &p->c, data, 0, p->c.nbytes), VKA_OK);
        cr_assert_eq(vk->ops->tensor_set(vk, &p->v, data, 0, p->v.nbytes), VKA_OK, "%s", vka_last_error());
        free(data);
    }
}

void drop(pair *p) {
    cpu->ops->tensor_free(cpu, &p->c);
    vk->ops->tensor_free(vk, &p->v);
}

/* Views of rows [row, row+n) of both copies, re-shaped to rows of ne0. */
void view(pair *out, pair *parent, int64_t row, int64_t n, int64_t ne0) {
    vka_tensor_view(&out->c, &parent->c, row, n, ne0);
    vka_tensor_view(&out->v, &parent->v, row, n, ne0);
}

/* Runs one node on both backends. Sources may be NULL. */
void run(vka_op op, pair *dst, pair *s0, pair *s1, pair *s2, const vka_node *params, uint32_t n_tokens,
                uint32_t n_past) {
    vka_node nc = params ? *params : (vka_node){0}, nv = nc;
    nc.op = nv.op = op;
    nc.dst = &dst->c;
    nv.dst = &dst->v;
    pair *src[3] = {s0, s1, s2};
    for (int i = 0; i < 3; i++) {
        nc.src[i] = src[i] ? &src[i]->c : NULL;
        nv.src[i] = src[i] ? &src[i]->v : NULL;
    }
    vka_graph gc, gv;
    vka_graph_init(&gc, n_tokens);
    vka_graph_init(&gv, n_tokens);
    cr_assert_eq(vka_graph_add(&gc, &nc), VKA_OK);
    cr_assert_eq(vka_graph_add(&gv, &nv), VKA_OK);
    cr_assert_eq(vka_backend_compute(cpu, &gc, n_past), VKA_OK, "cpu: %s", vka_last_error());
    cr_assert_eq(vka_backend_compute(vk, &gv, n_past), VKA_OK, "vulkan: %s", vka_last_error());
    vka_graph_free(&gc);
    vka_graph_free(&gv);
}

/* Reads a tensor (or view) back from a backend. */
void *read_back(vka_backend *b, const vka_tensor *t) {
    void *out = malloc(t->nbytes);
    cr_assert(out);
    cr_assert_eq(b->ops->tensor_get(b, t, out, 0, t->nbytes), VKA_OK, "%s", vka_last_error());
    return out;
}

/* Compares the Vulkan result with the CPU one element by element: |vk - cpu| <= tol(i). */
void compare(const pair *dst, tol_fn tol, void *ctx, const char *what) {
    float *c = read_back(cpu, &dst->c), *v = read_back(vk, &dst->v);
    size_t n = dst->c.nbytes / sizeof(float), bad = 0;
    double worst = 0;
    size_t worst_i = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)v[i] - (double)c[i]), t = tol(i, c[i], ctx);
        if (!(d <= t)) {
            if (bad < 5) cr_log_error("%s: element %zu: vulkan %.9g cpu %.9g (diff %.3g > tol %.3g)", what, i, v[i], c[i], d, t);
            bad++;
        }
        if (d > worst) worst = d, worst_i = i;
    }
    cr_expect_eq(bad, 0, "%s: %zu of %zu elements outside tolerance (worst diff %.3g at %zu)", what, bad, n, worst,
                 worst_i);
    free(c);
    free(v);
}

double exact(size_t i, double ref, void *ctx) {
    (void)i, (void)ref, (void)ctx;
    return 0.0; /* tolerance 0: the same f32 operations on both sides */
}

const vka_type all_types[N_TYPES] = {VKA_TYPE_F32,  VKA_TYPE_F16,  VKA_TYPE_BF16, VKA_TYPE_Q8_0,
                                     VKA_TYPE_Q4_0, VKA_TYPE_Q4_1, VKA_TYPE_Q5_0, VKA_TYPE_Q5_1,
                                     VKA_TYPE_Q4_K, VKA_TYPE_Q5_K, VKA_TYPE_Q6_K};
const vka_type small_types[N_SMALL_TYPES] = {VKA_TYPE_Q2_K, VKA_TYPE_Q3_K, VKA_TYPE_IQ4_NL, VKA_TYPE_IQ4_XS};
bool kquant(vka_type t) { return vka_type_get_traits(t)->block_size == 256; }
bool quantized(vka_type t) { return vka_type_get_traits(t)->block_size > 1; }
/* A row length for `type`: `blocks` quant blocks' worth (x 8 for super-blocks), or `floats` for float types. */
int64_t row_len(vka_type t, int64_t floats, int64_t blocks) {
    return kquant(t) ? blocks * 256 : quantized(t) ? blocks * 32 : floats;
}

