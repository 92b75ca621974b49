/* types.c — ggml's tensor element types: names, block sizes, and conversion
 * of their block layouts to and from f32. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "format/types.h"
#include "format/types_iq4.h"
#include "format/types_kquants.h"

/* Byte identity with llama.cpp needs every multiply and add rounded on its
 * own, never fused: GCC does not fuse in ISO C mode (-std=c11), clang needs
 * telling. */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

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

/* --- 32-value blocks ------------------------------------------------------
 * Dequantization multiplies the integer by the f32 scale in one rounding
 * (and adds the f32 offset in a second one), like ggml, so results are
 * bit-identical to ggml's to_float. */

static void q4_0_to_f32(const void *src, float *dst, int64_t n) {
    const vka_block_q4_0 *b = src;
    for (int64_t i = 0; i < n / VKA_QK4_0; i++, dst += VKA_QK4_0) {
        float d = vka_f16_to_f32(b[i].d);
        for (int j = 0; j < VKA_QK4_0 / 2; j++) {
            dst[j] = (float)((b[i].qs[j] & 0x0f) - 8) * d;
            dst[j + VKA_QK4_0 / 2] = (float)((b[i].qs[j] >> 4) - 8) * d;
        }
    }
}

static void q4_1_to_f32(const void *src, float *dst, int64_t n) {
    const vka_block_q4_1 *b = src;
    for (int64_t i = 0; i < n / VKA_QK4_1; i++, dst += VKA_QK4_1) {
        float d = vka_f16_to_f32(b[i].d), m = vka_f16_to_f32(b[i].m);
        for (int j = 0; j < VKA_QK4_1 / 2; j++) {
            dst[j] = (float)(b[i].qs[j] & 0x0f) * d + m;
            dst[j + VKA_QK4_1 / 2] = (float)(b[i].qs[j] >> 4) * d + m;
        }
    }
}

static uint32_t load_le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The 5-bit quant j of a Q5 block: nibble as Q4_0 plus bit j of qh as bit 4. */
static int q5_quant(const uint8_t *qs, uint32_t qh, int j) {
    int nibble = j < 16 ? qs[j] & 0x0f : qs[j - 16] >> 4;
    return nibble | (int)((qh >> j) & 1) << 4;
}

static void q5_0_to_f32(const void *src, float *dst, int64_t n) {
    const vka_block_q5_0 *b = src;
    for (int64_t i = 0; i < n / VKA_QK5_0; i++, dst += VKA_QK5_0) {
        float d = vka_f16_to_f32(b[i].d);
        uint32_t qh = load_le32(b[i].qh);
        for (int j = 0; j < VKA_QK5_0; j++) dst[j] = (float)(q5_quant(b[i].qs, qh, j) - 16) * d;
    }
}

static void q5_1_to_f32(const void *src, float *dst, int64_t n) {
    const vka_block_q5_1 *b = src;
    for (int64_t i = 0; i < n / VKA_QK5_1; i++, dst += VKA_QK5_1) {
        float d = vka_f16_to_f32(b[i].d), m = vka_f16_to_f32(b[i].m);
        uint32_t qh = load_le32(b[i].qh);
        for (int j = 0; j < VKA_QK5_1; j++) dst[j] = (float)q5_quant(b[i].qs, qh, j) * d + m;
    }
}

static void q8_0_to_f32(const void *src, float *dst, int64_t n) {
    const vka_block_q8_0 *b = src;
    for (int64_t i = 0; i < n / VKA_QK8_0; i++, dst += VKA_QK8_0) {
        float d = vka_f16_to_f32(b[i].d);
        for (int j = 0; j < VKA_QK8_0; j++) dst[j] = (float)b[i].qs[j] * d;
    }
}

/* Quantizers: byte-identical to ggml's quantize_row_*_ref for Q8_0, Q4_0,
 * Q4_1, Q5_0 and Q5_1 (what llama-quantize uses without an importance
 * matrix): the same float operations in the same order, none fused.
 * Non-finite inputs give unspecified codes but never undefined behaviour. */

/* Q8_0: d = amax / 127 (stored as f16), q = round-half-away(x / d) using the
 * unrounded f32 inverse. */
static void q8_0_from_f32(const float *src, void *dst, int64_t n) {
    vka_block_q8_0 *b = dst;
    for (int64_t i = 0; i < n / VKA_QK8_0; i++, src += VKA_QK8_0) {
        float amax = 0.0f;
        for (int j = 0; j < VKA_QK8_0; j++) {
            float a = fabsf(src[j]);
            if (a > amax) amax = a;
        }
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = vka_f32_to_f16(d);
        for (int j = 0; j < VKA_QK8_0; j++) {
            const float v = src[j] * id;
            const float r = roundf(v);
            b[i].qs[j] = (int8_t)(r >= 127.0f ? 127 : r <= -127.0f ? -127 : r == r ? (int)r : 0);
        }
    }
}

/* A code from a shifted, scaled value: truncated toward zero as ggml's
 * integer casts do, clamped to [0, top] (also for NaN) without the undefined
 * behaviour of casting an out-of-range float. */
static uint8_t trunc_code(float shifted, int top) {
    return (uint8_t)(shifted >= (float)top ? top : shifted > 0.0f ? (int)shifted : 0);
}

/* Min and max of a block, as ggml's Q4_1/Q5_1 reference quantizers scan it. */
static void block_min_max(const float *x, float *min, float *max) {
    *min = FLT_MAX;
    *max = -FLT_MAX;
    for (int j = 0; j < 32; j++) {
        if (x[j] < *min) *min = x[j];
        if (x[j] > *max) *max = x[j];
    }
}

/* Packs 32 codes of up to 5 bits: low nibbles as Q4_0 (value j and j + 16
 * share byte j), the fifth bit of value j as bit j of the little-endian qh. */
static void pack_codes(const uint8_t *q, uint8_t *qs, uint8_t *qh) {
    uint32_t h = 0;
    for (int j = 0; j < 16; j++) {
        qs[j] = (uint8_t)((q[j] & 0x0f) | (q[j + 16] & 0x0f) << 4);
        h |= (uint32_t)(q[j] >> 4 & 1) << j | (uint32_t)(q[j + 16] >> 4 & 1) << (j + 16);
    }
    if (qh)
        for (int k = 0; k < 4; k++) qh[k] = (uint8_t)(h >> (8 * k));
}

/* Q4_1 and Q5_1, one block: d = (max - min) / (2^bits - 1), m = min;
 * q = min(2^bits - 1, trunc((x - min) / d + 0.5)). */
static void min_block_from_f32(const float *x, int bits, uint16_t *d16, uint16_t *m16, uint8_t *qs, uint8_t *qh) {
    float min, max;
    block_min_max(x, &min, &max);
    const int top = (1 << bits) - 1;
    const float d = (max - min) / (float)top;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    *d16 = vka_f32_to_f16(d);
    *m16 = vka_f32_to_f16(min);
    uint8_t q[32];
    for (int j = 0; j < 32; j++) {
        const float v = (x[j] - min) * id;
        q[j] = trunc_code(v + 0.5f, top);
    }
    pack_codes(q, qs, qh);
}

static void q4_1_from_f32(const float *src, void *dst, int64_t n) {
    vka_block_q4_1 *b = dst;
    for (int64_t i = 0; i < n / VKA_QK4_1; i++, src += VKA_QK4_1) min_block_from_f32(src, 4, &b[i].d, &b[i].m, b[i].qs, NULL);
}

static void q5_1_from_f32(const float *src, void *dst, int64_t n) {
    vka_block_q5_1 *b = dst;
    for (int64_t i = 0; i < n / VKA_QK5_1; i++, src += VKA_QK5_1) min_block_from_f32(src, 5, &b[i].d, &b[i].m, b[i].qs, b[i].qh);
}

/* Q4_0 and Q5_0, one block: the scale comes from the value of largest
 * magnitude with its sign (the first one on ties; +0 for an all-zero block,
 * whose d is then -0): d = max / -2^(bits-1), so that value maps to code 0
 * and the opposite extreme to 2^bits, clamped to 2^bits - 1.
 * q = min(2^bits - 1, trunc(x / d + 2^(bits-1) + 0.5)). */
static void signed_block_from_f32(const float *x, int bits, uint16_t *d16, uint8_t *qs, uint8_t *qh) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < 32; j++)
        if (fabsf(x[j]) > amax) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    const float half = (float)(1 << (bits - 1));
    const float d = max / -half;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    *d16 = vka_f32_to_f16(d);
    uint8_t q[32];
    for (int j = 0; j < 32; j++) {
        const float v = x[j] * id;
        q[j] = trunc_code(v + (half + 0.5f), (1 << bits) - 1);
    }
    pack_codes(q, qs, qh);
}

static void q4_0_from_f32(const float *src, void *dst, int64_t n) {
    vka_block_q4_0 *b = dst;
    for (int64_t i = 0; i < n / VKA_QK4_0; i++, src += VKA_QK4_0) signed_block_from_f32(src, 4, &b[i].d, b[i].qs, NULL);
}

static void q5_0_from_f32(const float *src, void *dst, int64_t n) {
    vka_block_q5_0 *b = dst;
    for (int64_t i = 0; i < n / VKA_QK5_0; i++, src += VKA_QK5_0) signed_block_from_f32(src, 5, &b[i].d, b[i].qs, b[i].qh);
}

#define T(id, nm, bs, ts, to, from) [id] = {nm, bs, ts, to, from}
static const vka_type_traits traits[VKA_TYPE_COUNT] = {
    T(VKA_TYPE_F32, "f32", 1, 4, f32_to_f32, f32_from_f32),
    T(VKA_TYPE_F16, "f16", 1, 2, f16_to_f32_row, f16_from_f32_row),
    T(VKA_TYPE_Q4_0, "q4_0", 32, 18, q4_0_to_f32, q4_0_from_f32),
    T(VKA_TYPE_Q4_1, "q4_1", 32, 20, q4_1_to_f32, q4_1_from_f32),
    T(VKA_TYPE_Q5_0, "q5_0", 32, 22, q5_0_to_f32, q5_0_from_f32),
    T(VKA_TYPE_Q5_1, "q5_1", 32, 24, q5_1_to_f32, q5_1_from_f32),
    T(VKA_TYPE_Q8_0, "q8_0", 32, 34, q8_0_to_f32, q8_0_from_f32),
    T(VKA_TYPE_Q8_1, "q8_1", 32, 36, NULL, NULL),
    T(VKA_TYPE_Q2_K, "q2_K", 256, 84, vka_q2_k_to_f32, vka_q2_k_from_f32),
    T(VKA_TYPE_Q3_K, "q3_K", 256, 110, vka_q3_k_to_f32, vka_q3_k_from_f32),
    T(VKA_TYPE_Q4_K, "q4_K", 256, 144, vka_q4_k_to_f32, vka_q4_k_from_f32),
    T(VKA_TYPE_Q5_K, "q5_K", 256, 176, vka_q5_k_to_f32, vka_q5_k_from_f32),
    T(VKA_TYPE_Q6_K, "q6_K", 256, 210, vka_q6_k_to_f32, vka_q6_k_from_f32),
    T(VKA_TYPE_Q8_K, "q8_K", 256, 292, NULL, NULL),
    T(VKA_TYPE_IQ2_XXS, "iq2_xxs", 256, 66, NULL, NULL),
    T(VKA_TYPE_IQ2_XS, "iq2_xs", 256, 74, NULL, NULL),
    T(VKA_TYPE_IQ3_XXS, "iq3_xxs", 256, 98, NULL, NULL),
    T(VKA_TYPE_IQ1_S, "iq1_s", 256, 50, NULL, NULL),
    T(VKA_TYPE_IQ4_NL, "iq4_nl", 32, 18, vka_iq4_nl_to_f32, vka_iq4_nl_from_f32),
    T(VKA_TYPE_IQ3_S, "iq3_s", 256, 110, NULL, NULL),
    T(VKA_TYPE_IQ2_S, "iq2_s", 256, 82, NULL, NULL),
    T(VKA_TYPE_IQ4_XS, "iq4_xs", 256, 136, vka_iq4_xs_to_f32, vka_iq4_xs_from_f32),
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

_Static_assert(sizeof(vka_block_q4_0) == 18, "q4_0 block layout");
_Static_assert(sizeof(vka_block_q4_1) == 20, "q4_1 block layout");
_Static_assert(sizeof(vka_block_q5_0) == 22, "q5_0 block layout");
_Static_assert(sizeof(vka_block_q5_1) == 24, "q5_1 block layout");
_Static_assert(sizeof(vka_block_q8_0) == 34, "q8_0 block layout");
_Static_assert(sizeof(vka_block_q2_k) == 84, "q2_K block layout");
_Static_assert(sizeof(vka_block_q3_k) == 110, "q3_K block layout");
_Static_assert(sizeof(vka_block_q4_k) == 144, "q4_K block layout");
_Static_assert(sizeof(vka_block_q5_k) == 176, "q5_K block layout");
_Static_assert(sizeof(vka_block_q6_k) == 210, "q6_K block layout");
_Static_assert(sizeof(vka_block_iq4_nl) == 18, "iq4_nl block layout");
_Static_assert(sizeof(vka_block_iq4_xs) == 136, "iq4_xs block layout");

const vka_type_traits *vka_type_get_traits(uint32_t type) {
    if (type >= VKA_TYPE_COUNT || !traits[type].name) return NULL;
    return &traits[type];
}

const char *vka_type_name(uint32_t type) {
    const vka_type_traits *t = vka_type_get_traits(type);
    return t ? t->name : "unknown";
}

/* The weight types the forward pass runs (F32 also for norms and biases).
 * Q4_1, Q5_0 and Q5_1 are in: llama-quantize writes Q5_0/Q5_1 for the rows
 * of a Q4_K/Q5_K mix that are not whole super-blocks (Qwen2.5-0.5B's 896,
 * SmolLM's 576). A backend may still refuse a type it has no kernels for
 * (the Vulkan one says so when it loads the weights). */
static const vka_type supported[] = {
    VKA_TYPE_F32,  VKA_TYPE_F16,  VKA_TYPE_BF16, VKA_TYPE_Q8_0, VKA_TYPE_Q4_0,   VKA_TYPE_Q4_1,   VKA_TYPE_Q5_0,
    VKA_TYPE_Q5_1, VKA_TYPE_Q2_K, VKA_TYPE_Q3_K, VKA_TYPE_Q4_K, VKA_TYPE_Q5_K,   VKA_TYPE_Q6_K,   VKA_TYPE_IQ4_NL,
    VKA_TYPE_IQ4_XS,
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
    uint64_t blocks = (uint64_t)(n / t->block_size);
    if (blocks > SIZE_MAX / t->type_size) return 0;
    return (size_t)blocks * t->type_size;
}

bool vka_type_can_quantize(uint32_t type) {
    const vka_type_traits *t = vka_type_get_traits(type);
    return t && t->from_f32;
}
