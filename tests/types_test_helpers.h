/* types_test_helpers.h — helpers shared by test_types.c and
 * test_types_kquants.c: bit twiddling, an independent f16 decoder, seeded
 * random numbers, and calls through the type traits. */
#ifndef VKA_TYPES_TEST_HELPERS_H
#define VKA_TYPES_TEST_HELPERS_H

#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "format/gguf.h"
#include "test_util.h"
#include "format/types.h"

static inline uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* IEEE half from its fields, in double arithmetic. */
static inline double ref_f16_value(uint16_t h) {
    int sign = h >> 15, exp = (h >> 10) & 31, mant = h & 1023;
    double v;
    if (exp == 31) v = mant ? NAN : INFINITY;
    else if (exp == 0) v = ldexp(mant, -24);
    else v = ldexp(1024 + mant, exp - 25);
    return sign ? -v : v;
}

/* SplitMix64 and Box-Muller: seeded normal numbers. */
static inline uint64_t rng_next(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline double rng_uniform(uint64_t *s) { return ((double)(rng_next(s) >> 11) + 0.5) / 9007199254740992.0; }

static inline float rng_normal(uint64_t *s) {
    double u = rng_uniform(s), v = rng_uniform(s);
    return (float)(sqrt(-2 * log(u)) * cos(6.283185307179586 * v));
}

/* Sets `nbits` bits of a little-endian bit string starting at bit `pos`. */
static inline void put_bits(uint8_t *bytes, int pos, int nbits, unsigned value) {
    for (int k = 0; k < nbits; k++) {
        int bit = pos + k;
        if (value >> k & 1) bytes[bit / 8] |= (uint8_t)(1u << (bit % 8));
        else bytes[bit / 8] &= (uint8_t)~(1u << (bit % 8));
    }
}

static inline void put_u16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline unsigned get_bits(const uint8_t *bytes, int pos, int nbits) {
    unsigned v = 0;
    for (int k = 0; k < nbits; k++) v |= (unsigned)(bytes[(pos + k) / 8] >> ((pos + k) % 8) & 1) << k;
    return v;
}

static inline void dequantize(vka_type type, const void *blocks, float *out, int64_t n) {
    const vka_type_traits *t = vka_type_get_traits(type);
    cr_assert(t && t->to_f32, "%s has no to_f32", vka_type_name(type));
    t->to_f32(blocks, out, n);
}

static inline void quantize(vka_type type, const float *in, void *blocks, int64_t n) {
    const vka_type_traits *t = vka_type_get_traits(type);
    cr_assert(t && t->from_f32, "%s has no from_f32", vka_type_name(type));
    t->from_f32(in, blocks, n);
}

/* Opens a fixture GGUF under VKAGENT_TEST_DATA (the test skips if absent). */
static inline vka_gguf *open_fixture(const char *rel) {
    const char *path = test_data_path(rel);
    REQUIRE_FIXTURE(path);
    vka_gguf *g = NULL;
    vka_status s = vka_gguf_open(path, &g);
    cr_assert_eq(s, VKA_OK, "%s: %s", path, vka_last_error());
    return g;
}

#endif
