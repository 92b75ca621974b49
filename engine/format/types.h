/* types.h — tensor element types in ggml's numbering (as stored in GGUF),
 * their block layouts, and conversion between them and f32. */
#ifndef VKA_TYPES_H
#define VKA_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Values are ggml's `enum ggml_type`; gaps are types ggml removed. */
typedef enum vka_type {
    VKA_TYPE_F32 = 0,
    VKA_TYPE_F16 = 1,
    VKA_TYPE_Q4_0 = 2,
    VKA_TYPE_Q4_1 = 3,
    VKA_TYPE_Q5_0 = 6,
    VKA_TYPE_Q5_1 = 7,
    VKA_TYPE_Q8_0 = 8,
    VKA_TYPE_Q8_1 = 9,
    VKA_TYPE_Q2_K = 10,
    VKA_TYPE_Q3_K = 11,
    VKA_TYPE_Q4_K = 12,
    VKA_TYPE_Q5_K = 13,
    VKA_TYPE_Q6_K = 14,
    VKA_TYPE_Q8_K = 15,
    VKA_TYPE_IQ2_XXS = 16,
    VKA_TYPE_IQ2_XS = 17,
    VKA_TYPE_IQ3_XXS = 18,
    VKA_TYPE_IQ1_S = 19,
    VKA_TYPE_IQ4_NL = 20,
    VKA_TYPE_IQ3_S = 21,
    VKA_TYPE_IQ2_S = 22,
    VKA_TYPE_IQ4_XS = 23,
    VKA_TYPE_I8 = 24,
    VKA_TYPE_I16 = 25,
    VKA_TYPE_I32 = 26,
    VKA_TYPE_I64 = 27,
    VKA_TYPE_F64 = 28,
    VKA_TYPE_IQ1_M = 29,
    VKA_TYPE_BF16 = 30,
    VKA_TYPE_TQ1_0 = 34,
    VKA_TYPE_TQ2_0 = 35,
    VKA_TYPE_MXFP4 = 39,
    VKA_TYPE_COUNT = 40,
} vka_type;

/* Block layouts (ggml's, byte for byte; all little-endian; f16 fields are
 * IEEE half bits). Blocks are read through these structs, so a row must
 * start 2-byte aligned (GGUF data is 32-aligned and every row size below is
 * even). */
#define VKA_QK4_0 32
#define VKA_QK4_1 32
#define VKA_QK5_0 32
#define VKA_QK5_1 32
#define VKA_QK8_0 32
#define VKA_QK_K 256
#define VKA_K_SCALE_SIZE 12
#define VKA_QK4_NL 32

/* x = d * (nibble - 8); byte j holds value j (low nibble) and j + 16 (high) */
typedef struct { uint16_t d; uint8_t qs[VKA_QK4_0 / 2]; } vka_block_q4_0;                  /* 18 bytes */
/* x = d * nibble + m; nibble order as Q4_0 */
typedef struct { uint16_t d, m; uint8_t qs[VKA_QK4_1 / 2]; } vka_block_q4_1;               /* 20 bytes */
/* x = d * (q - 16), q = nibble | fifth bit << 4; bit i of the little-endian
 * u32 qh is the fifth bit of value i; nibbles as Q4_0 */
typedef struct { uint16_t d; uint8_t qh[4]; uint8_t qs[VKA_QK5_0 / 2]; } vka_block_q5_0;   /* 22 bytes */
/* x = d * q + m, q as Q5_0 */
typedef struct { uint16_t d, m; uint8_t qh[4]; uint8_t qs[VKA_QK5_1 / 2]; } vka_block_q5_1; /* 24 bytes */
/* x = d * q */
typedef struct { uint16_t d; int8_t qs[VKA_QK8_0]; } vka_block_q8_0;                      /* 34 bytes */

/* K-quants: super-blocks of 256 values. */
typedef struct {                        /* 84 bytes: 16 sub-blocks of 16, x = d*sc*q - dmin*m */
    uint8_t scales[VKA_QK_K / 16];      /* low nibble 4-bit scale sc, high nibble 4-bit min m */
    uint8_t qs[VKA_QK_K / 4];           /* 2-bit quants, see vka_q2_k_to_f32 for the order */
    uint16_t d, dmin;                   /* f16 super-block scales */
} vka_block_q2_k;
typedef struct {                        /* 110 bytes: 16 sub-blocks of 16, x = d*(sc-32)*(q-4) */
    uint8_t hmask[VKA_QK_K / 8];        /* third bit of each quant */
    uint8_t qs[VKA_QK_K / 4];           /* low 2 bits */
    uint8_t scales[12];                 /* 16 x 6-bit scales, packed */
    uint16_t d;                         /* f16 super-block scale */
} vka_block_q3_k;
typedef struct {                        /* 144 bytes: 8 sub-blocks of 32, x = d*sc*q - dmin*m */
    uint16_t d, dmin;                   /* f16 super-block scales */
    uint8_t scales[VKA_K_SCALE_SIZE];   /* 8 x (6-bit scale, 6-bit min), packed */
    uint8_t qs[VKA_QK_K / 2];           /* 4-bit quants */
} vka_block_q4_k;
typedef struct {                        /* 176 bytes: as Q4_K with 5-bit quants */
    uint16_t d, dmin;
    uint8_t scales[VKA_K_SCALE_SIZE];
    uint8_t qh[VKA_QK_K / 8];           /* fifth bits */
    uint8_t qs[VKA_QK_K / 2];           /* low 4 bits */
} vka_block_q5_k;
typedef struct {                        /* 210 bytes: 16 sub-blocks of 16, x = d*sc*(q-32) */
    uint8_t ql[VKA_QK_K / 2];           /* low 4 bits */
    uint8_t qh[VKA_QK_K / 4];           /* high 2 bits */
    int8_t scales[VKA_QK_K / 16];       /* 16 int8 scales */
    uint16_t d;                         /* f16 super-block scale */
} vka_block_q6_k;

/* IQ4: 4-bit codes index the non-linear code book vka_iq4nl_values. */
typedef struct {                        /* 18 bytes: x = d * T[code] */
    uint16_t d;                         /* f16 scale */
    uint8_t qs[VKA_QK4_NL / 2];         /* byte j: value j (low nibble), value j + 16 (high) */
} vka_block_iq4_nl;
typedef struct {                        /* 136 bytes: 8 sub-blocks of 32, x = d*(ls-32)*T[code] */
    uint16_t d;                         /* f16 super-block scale */
    uint16_t scales_h;                  /* bits 2ib..2ib+1: top 2 bits of sub-block ib's 6-bit ls */
    uint8_t scales_l[VKA_QK_K / 64];    /* low 4 bits of ls: ib even low nibble of byte ib/2, odd high */
    uint8_t qs[VKA_QK_K / 2];           /* sub-block ib: bytes 16ib.. as an IQ4_NL block's qs */
} vka_block_iq4_xs;

/* The IQ4 code book (ggml's kvalues_iq4nl): code c decodes to vka_iq4nl_values[c]. */
extern const int8_t vka_iq4nl_values[16];

typedef struct vka_type_traits {
    const char *name;        /* ggml's name, e.g. "q4_0"; NULL for a removed number */
    uint32_t block_size;     /* elements per block */
    uint32_t type_size;      /* bytes per block */
    /* Converts n elements (a multiple of block_size) to f32; NULL if unsupported. */
    void (*to_f32)(const void *src, float *dst, int64_t n);
    /* Converts n f32 (a multiple of block_size) to this type; NULL if unsupported. */
    void (*from_f32)(const float *src, void *dst, int64_t n);
} vka_type_traits;

/* Traits of a type number, or NULL if the number is not a ggml type. */
const vka_type_traits *vka_type_get_traits(uint32_t type);

/* Name of a type number ("q4_0"), or "unknown" */
const char *vka_type_name(uint32_t type);

/* True if the engine can run matrices of this type (dequantize + matmul). */
bool vka_type_is_supported(uint32_t type);

/* Comma-separated list of the supported type names, for error messages. */
const char *vka_type_supported_list(void);

/* Bytes of a row of n elements; 0 if the type is unknown, n is negative or
 * not a multiple of the block size, or the size does not fit a size_t. */
size_t vka_type_row_size(vka_type type, int64_t n);

/* True if rows of f32 can be converted to this type (traits from_f32). Q8_0
 * and Q4_0 give the bytes of ggml's reference quantizers; Q2_K .. Q6_K,
 * IQ4_NL and IQ4_XS follow llama.cpp's quantization without an importance
 * matrix, byte for byte. */
bool vka_type_can_quantize(uint32_t type);

/* Sub-block j's 6-bit scale and min of a Q4_K/Q5_K block: j < 4 sit in the
 * low 6 bits of bytes j (scale) and j + 4 (min); j >= 4 keep their low 4 bits
 * in byte j + 4 (scale low nibble, min high nibble) and their top 2 bits in
 * bits 6-7 of bytes j - 4 (scale) and j (min). Inline: the CPU kernels unpack
 * them per super-block in their inner loop. */
static inline void vka_k4_scale_min(const uint8_t *scales, int j, int *sc, int *m) {
    if (j < 4) {
        *sc = scales[j] & 63;
        *m = scales[j + 4] & 63;
    } else {
        *sc = (scales[j + 4] & 0x0f) | (scales[j - 4] >> 6) << 4;
        *m = (scales[j + 4] >> 4) | (scales[j] >> 6) << 4;
    }
}

/* Sub-block j's scale (-32..31) of a Q3_K block: 6 bits stored with a bias
 * of 32, the low 4 in the nibbles of bytes 0-7 (j < 8 low nibble of byte j,
 * else high nibble of byte j - 8), the top 2 in bits 2*(j/4) of byte 8 + j%4. */
static inline int vka_k3_scale(const uint8_t *scales, int j) {
    int low = j < 8 ? scales[j] & 0x0f : scales[j - 8] >> 4;
    int high = (scales[8 + j % 4] >> (2 * (j / 4))) & 3;
    return (low | high << 4) - 32;
}

/* Sub-block ib's scale (-32..31) of an IQ4_XS block. */
static inline int vka_iq4_xs_scale(const vka_block_iq4_xs *b, int ib) {
    int low = (b->scales_l[ib / 2] >> (4 * (ib % 2))) & 0x0f;
    int high = (b->scales_h >> (2 * ib)) & 3;
    return (low | high << 4) - 32;
}

/* IEEE half and bfloat16 conversion: round to nearest even, overflow to
 * infinity, subnormals kept (not flushed), NaN kept NaN (quieted). */
float vka_f16_to_f32(uint16_t h);
uint16_t vka_f32_to_f16(float f);
float vka_bf16_to_f32(uint16_t h);
uint16_t vka_f32_to_bf16(float f);

#endif
