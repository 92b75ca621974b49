/* cpu_packed.h — quantized weights repacked at load for the fast CPU
 * backend's matrix-matrix kernels: 16 rows interleaved, so one 512-bit
 * vector holds 4 consecutive codes of each of 16 rows and an integer dot
 * product instruction (VNNI's dpbusd) against 4 broadcast activation bytes
 * advances 16 output rows at once. Outputs then sit in vector lanes: no
 * horizontal sums, one scale multiply per block of 32 for 16 rows, and
 * every weight block decoded once is applied to up to 8 tokens.
 *
 * Layout: the matrix is cut into groups of 16 rows (the last group padded
 * with zero rows); a group stores, for each block of 32 columns in order,
 * the block's scales for the 16 rows and its codes. Codes are unsigned
 * (value + offset); in a "code vector" g (0..7) byte 4*i + t is the code of
 * row i, column 4*g + t of the block. Per type and block of 32 (f16 scales,
 * little-endian masks):
 *   Q4_0: d[16] | nibbles[256]             value = code - 8
 *   Q5_0: d[16] | nibbles[256] | bit4[8]    value = code - 16 (bit4[g]: a u64 per code vector)
 *   Q8_0: d[16] | codes[512]                value = code - 128
 * and per super-block of 256 (8 blocks of 32):
 *   Q4_K: d[16] dmin[16] | sc[8][16] m[8][16] (u8) | nibbles[8][256]    x = d*sc*code - dmin*m
 *   Q6_K: d[16] | sc[16][16] (i8, per 16 columns) | (nibbles[256] bit4[8] bit5[8])[8]
 *                                                  x = d*sc*(code - 32)
 * "nibbles" hold code vectors g and g + 4 in the low and high nibbles of
 * 64 bytes (g < 4). Every type keeps its GGUF size: the layout moves bytes,
 * it does not widen them, so generation reads no more memory than before. */
#ifndef VKA_CPU_PACKED_H
#define VKA_CPU_PACKED_H

#include "backends/cpu/cpu_fast.h"

#define VKA_PACK_ROWS 16

typedef struct vka_packed {
    vka_type type;
    int64_t k, rows;       /* the original matrix: rows of k values */
    int64_t n_groups;      /* ceil(rows / 16) */
    size_t group_bytes;    /* one group: every block of its 16 rows */
    uint8_t *data;         /* 64-byte aligned, n_groups * group_bytes */
} vka_packed;

/* Memory for large read-mostly buffers: 64-byte aligned, on transparent
 * huge pages (2 MiB) from 2 MiB up where the kernel offers them; free(). */
uint8_t *vka_cpu_alloc_large(size_t bytes);

/* Whether `type` with rows of k values has a packed layout. */
bool vka_packed_supported(vka_type type, int64_t k);

/* Repacks the rows*k matrix at w (GGUF layout of `type`). NULL when the type
 * is not supported or memory runs out (the caller keeps the GGUF layout). */
vka_packed *vka_pack(vka_type type, int64_t k, int64_t rows, const void *w);
/* The same in two steps, so that groups can be filled on several threads:
 * the storage (uninitialized), then groups [g0, g1) from the GGUF rows. */
vka_packed *vka_packed_alloc(vka_type type, int64_t k, int64_t rows);
void vka_packed_fill(vka_packed *p, const void *w, int64_t g0, int64_t g1);
void vka_packed_free(vka_packed *p);
size_t vka_packed_bytes(const vka_packed *p);

/* One matrix product over the groups [g0, g1): dst row j (token j) gets
 * columns 16*g .. of w·act_j (+ bias, or added onto dst when accumulate). */
typedef struct vka_packed_product {
    const vka_packed *w;
    const char *act;            /* n_act rows of vka_fast_act_row_bytes(k): quantized activations */
    size_t act_row_bytes;
    const int32_t *half_sums;   /* Q6_K: per activation row, k/16 sums of 16 codes; else NULL */
    int64_t n_act;
    float *dst;
    size_t dst_row_floats;
    const float *bias;          /* NULL: none */
    bool accumulate;
} vka_packed_product;

/* The AVX-512 VNNI kernels for the packed types (NULL entries elsewhere);
 * NULL when the running CPU lacks AVX-512 F/BW/VL/VNNI. */
const vka_packed_fn *vka_packed_avx512(void);
/* The AVX2 kernels for them (CPUs without AVX-512 VNNI); only for a caller
 * that holds vka_fast_avx2()'s kernel set (its CPU check covers these). */
const vka_packed_fn *vka_packed_avx2(void);

#endif
