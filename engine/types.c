/* types.c — ggml's tensor element types: names, block sizes, and conversion
 * of their block layouts to and from f32. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "types.h"

float vka_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;
    uint32_t bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (mant << 13);             /* inf / NaN */
    } else if (exp != 0) {
        bits = sign | ((exp + 112) << 23) | (mant << 13);     /* normal: rebias 15 -> 127 */
    } else if (mant == 0) {
        bits = sign;                                           /* zero */
    } else {
        /* subnormal: value = mant * 2^-24; normalise it */
        int shift = 0;
        while (!(mant & 0x400)) { mant <<= 1; shift++; }
        mant &= 0x3ff;
        bits = sign | ((uint32_t)(113 - shift) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

uint16_t vka_f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t abs = x & 0x7fffffff;
    if (abs > 0x7f800000) return (uint16_t)(sign | 0x7e00 | ((abs >> 13) & 0x3ff));  /* NaN stays NaN */
    if (abs >= 0x477ff000) return (uint16_t)(sign | 0x7c00);                          /* rounds to inf */
    if (abs < 0x38800000) {
        /* result is subnormal (or zero): value / 2^-24, rounded to nearest even */
        if (abs < 0x33000000) return (uint16_t)sign;
        uint32_t mant = (abs & 0x7fffff) | 0x800000;
        int shift = 126 - (int)(abs >> 23);                   /* 14 .. 24 */
        uint32_t half = mant >> shift;
        uint32_t rem = mant & ((1u << shift) - 1);
        uint32_t mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1))) half++;
        return (uint16_t)(sign | half);
    }
    /* normal: drop 13 mantissa bits with round to nearest even (carry may bump the exponent) */
    uint32_t rounded = abs + 0xfff + ((abs >> 13) & 1);
    return (uint16_t)(sign | ((rounded - 0x38000000) >> 13));
}

float vka_bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

uint16_t vka_f32_to_bf16(float f) {
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    if ((x & 0x7fffffff) > 0x7f800000) return (uint16_t)((x >> 16) | 0x40);  /* quiet NaN */
    return (uint16_t)((x + 0x7fff + ((x >> 16) & 1)) >> 16);
}

static void f32_to_f32(const void *src, float *dst, int64_t n) { memcpy(dst, src, (size_t)n * sizeof(float)); }
static void f32_from_f32(const float *src, void *dst, int64_t n) { memcpy(dst, src, (size_t)n * sizeof(float)); }

static void f16_to_f32_row(const void *src, float *dst, int64_t n) {
    const uint16_t *s = src;
    for (int64_t i = 0; i < n; i++) dst[i] = vka_f16_to_f32(s[i]);
}
static void f16_from_f32_row(const float *src, void *dst, int64_t n) {
    uint16_t *d = dst;
    for (int64_t i = 0; i < n; i++) d[i] = vka_f32_to_f16(src[i]);
}
static void bf16_to_f32_row(const void *src, float *dst, int64_t n) {
    const uint16_t *s = src;
    for (int64_t i = 0; i < n; i++) dst[i] = vka_bf16_to_f32(s[i]);
}
static void bf16_from_f32_row(const float *src, void *dst, int64_t n) {
    uint16_t *d = dst;
    for (int64_t i = 0; i < n; i++) d[i] = vka_f32_to_bf16(src[i]);
}

/* Q8_0: x = d * q */
static void q8_0_to_f32(const void *src, float *dst, int64_t n) {
    const vka_block_q8_0 *b = src;
    for (int64_t i = 0; i < n / VKA_QK8_0; i++) {
        float d = vka_f16_to_f32(b[i].d);
        for (int j = 0; j < VKA_QK8_0; j++) dst[i * VKA_QK8_0 + j] = d * (float)b[i].qs[j];
    }
}

/* Q4_0: x = d * (nibble - 8); byte j holds value j (low nibble) and j + 16 (high) */
static void q4_0_to_f32(const void *src, float *dst, int64_t n) {
    const vka_block_q4_0 *b = src;
    for (int64_t i = 0; i < n / VKA_QK4_0; i++) {
        float d = vka_f16_to_f32(b[i].d);
        float *out = dst + i * VKA_QK4_0;
        for (int j = 0; j < VKA_QK4_0 / 2; j++) {
            out[j] = d * (float)((b[i].qs[j] & 0x0f) - 8);
            out[j + VKA_QK4_0 / 2] = d * (float)((b[i].qs[j] >> 4) - 8);
        }
    }
}

#define T(id, nm, bs, ts, to, from) [id] = {nm, bs, ts, to, from}
static const vka_type_traits traits[VKA_TYPE_COUNT] = {
    T(VKA_TYPE_F32, "f32", 1, 4, f32_to_f32, f32_from_f32),
    T(VKA_TYPE_F16, "f16", 1, 2, f16_to_f32_row, f16_from_f32_row),
    T(VKA_TYPE_Q4_0, "q4_0", 32, 18, q4_0_to_f32, NULL),
    T(VKA_TYPE_Q4_1, "q4_1", 32, 20, NULL, NULL),
    T(VKA_TYPE_Q5_0, "q5_0", 32, 22, NULL, NULL),
    T(VKA_TYPE_Q5_1, "q5_1", 32, 24, NULL, NULL),
    T(VKA_TYPE_Q8_0, "q8_0", 32, 34, q8_0_to_f32, NULL),
    T(VKA_TYPE_Q8_1, "q8_1", 32, 36, NULL, NULL),
    T(VKA_TYPE_Q2_K, "q2_K", 256, 84, NULL, NULL),
    T(VKA_TYPE_Q3_K, "q3_K", 256, 110, NULL, NULL),
    T(VKA_TYPE_Q4_K, "q4_K", 256, 144, NULL, NULL),
    T(VKA_TYPE_Q5_K, "q5_K", 256, 176, NULL, NULL),
    T(VKA_TYPE_Q6_K, "q6_K", 256, 210, NULL, NULL),
    T(VKA_TYPE_Q8_K, "q8_K", 256, 292, NULL, NULL),
    T(VKA_TYPE_IQ2_XXS, "iq2_xxs", 256, 66, NULL, NULL),
    T(VKA_TYPE_IQ2_XS, "iq2_xs", 256, 74, NULL, NULL),
    T(VKA_TYPE_IQ3_XXS, "iq3_xxs", 256, 98, NULL, NULL),
    T(VKA_TYPE_IQ1_S, "iq1_s", 256, 50, NULL, NULL),
    T(VKA_TYPE_IQ4_NL, "iq4_nl", 32, 18, NULL, NULL),
    T(VKA_TYPE_IQ3_S, "iq3_s", 256, 110, NULL, NULL),
    T(VKA_TYPE_IQ2_S, "iq2_s", 256, 82, NULL, NULL),
    T(VKA_TYPE_IQ4_XS, "iq4_xs", 256, 136, NULL, NULL),
    T(VKA_TYPE_I8, "i8", 1, 1, NULL, NULL),
    T(VKA_TYPE_I16, "i16", 1, 2, NULL, NULL),
    T(VKA_TYPE_I32, "i32", 1, 4, NULL, NULL),
    T(VKA_TYPE_I64, "i64", 1, 8, NULL, NULL),
    T(VKA_TYPE_F64, "f64", 1, 8, NULL, NULL),
    T(VKA_TYPE_IQ1_M, "iq1_m", 256, 56, NULL, NULL),
    T(VKA_TYPE_BF16, "bf16", 1, 2, bf16_to_f32_row, bf16_from_f32_row),
    T(VKA_TYPE_TQ1_0, "tq1_0", 256, 54, NULL, NULL),
    T(VKA_TYPE_TQ2_0, "tq2_0", 256, 66, NULL, NULL),
    T(VKA_TYPE_MXFP4, "mxfp4", 32, 17, NULL, NULL),
};
#undef T

const vka_type_traits *vka_type_get_traits(uint32_t type) {
    if (type >= VKA_TYPE_COUNT || !traits[type].name) return NULL;
    return &traits[type];
}

const char *vka_type_name(uint32_t type) {
    const vka_type_traits *t = vka_type_get_traits(type);
    return t ? t->name : "unknown";
}

/* The weight types the forward pass runs (F32 also for norms and biases). */
static const vka_type supported[] = {
    VKA_TYPE_F32, VKA_TYPE_F16, VKA_TYPE_BF16, VKA_TYPE_Q8_0, VKA_TYPE_Q4_0,
};

bool vka_type_is_supported(uint32_t type) {
    for (size_t i = 0; i < sizeof supported / sizeof supported[0]; i++)
        if (supported[i] == type) return vka_type_get_traits(type)->to_f32 != NULL;
    return false;
}

const char *vka_type_supported_list(void) {
    static _Thread_local char list[256];
    size_t used = 0;
    list[0] = '\0';
    for (size_t i = 0; i < sizeof supported / sizeof supported[0]; i++) {
        int w = snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", traits[supported[i]].name);
        if (w < 0 || (size_t)w >= sizeof list - used) break;
        used += (size_t)w;
    }
    return list;
}

size_t vka_type_row_size(vka_type type, int64_t n) {
    const vka_type_traits *t = vka_type_get_traits((uint32_t)type);
    if (!t || n < 0 || n % t->block_size) return 0;
    return (size_t)(n / t->block_size) * t->type_size;
}
