/* cpu_packed.c — repacking GGUF weight rows into the interleaved layout of
 * cpu_packed.h (portable C, run once at load). Each row's block is first
 * read as 32 unsigned codes, then scattered into the group's code vectors. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "backends/cpu/cpu_packed.h"

#define BLOCK 32

/* Per-block bytes of each layout (see cpu_packed.h). */
#define Q4_0_BLOCK (2 * 16 + 256)
#define Q5_0_BLOCK (2 * 16 + 256 + 64)
#define Q8_0_BLOCK (2 * 16 + 512)
#define Q4_K_SUPER (2 * 16 * 2 + 2 * 8 * 16 + 8 * 256)
#define Q6_K_BLOCK (256 + 64 + 64)
#define Q6_K_SUPER (2 * 16 + 16 * 16 + 8 * Q6_K_BLOCK)

bool vka_packed_supported(vka_type type, int64_t k) {
    switch (type) {
    case VKA_TYPE_Q4_0:
    case VKA_TYPE_Q5_0:
    case VKA_TYPE_Q8_0: return k > 0 && k % BLOCK == 0;
    case VKA_TYPE_Q4_K:
    case VKA_TYPE_Q6_K: return k > 0 && k % VKA_QK_K == 0;
    default: return false;
    }
}

static size_t group_bytes(vka_type type, int64_t k) {
    switch (type) {
    case VKA_TYPE_Q4_0: return (size_t)(k / BLOCK) * Q4_0_BLOCK;
    case VKA_TYPE_Q5_0: return (size_t)(k / BLOCK) * Q5_0_BLOCK;
    case VKA_TYPE_Q8_0: return (size_t)(k / BLOCK) * Q8_0_BLOCK;
    case VKA_TYPE_Q4_K: return (size_t)(k / VKA_QK_K) * Q4_K_SUPER;
    case VKA_TYPE_Q6_K: return (size_t)(k / VKA_QK_K) * Q6_K_SUPER;
    default: return 0;
    }
}

/* Code vectors g and g + 4 share 64 bytes: g's codes low, g + 4's high. */
static void put_nibbles(uint8_t *dst, int row, const uint8_t *codes) {
    for (int g = 0; g < 4; g++)
        for (int t = 0; t < 4; t++)
            dst[64 * g + 4 * row + t] = (uint8_t)((codes[4 * g + t] & 15) | (codes[16 + 4 * g + t] & 15) << 4);
}

static void put_bytes(uint8_t *dst, int row, const uint8_t *codes) {
    for (int g = 0; g < 8; g++)
        for (int t = 0; t < 4; t++) dst[64 * g + 4 * row + t] = codes[4 * g + t];
}

/* Bit `bit` of each code into mask g (8 bytes, little-endian), bit 4*row + t. */
static void put_bit(uint8_t *masks, int bit, int row, const uint8_t *codes) {
    for (int g = 0; g < 8; g++)
        for (int t = 0; t < 4; t++) {
            int pos = 4 * row + t;
            if (codes[4 * g + t] >> bit & 1) masks[8 * g + pos / 8] |= (uint8_t)(1u << (pos % 8));
        }
}

static void put_f16(uint8_t *dst, int row, uint16_t v) { memcpy(dst + 2 * row, &v, 2); }

static void pack_q4_0(uint8_t *gw, int row, const vka_block_q4_0 *src, int64_t nb) {
    for (int64_t b = 0; b < nb; b++) {
        uint8_t codes[BLOCK], *dst = gw + b * Q4_0_BLOCK;
        for (int l = 0; l < 16; l++) {
            codes[l] = src[b].qs[l] & 15;
            codes[l + 16] = src[b].qs[l] >> 4;
        }
        put_f16(dst, row, src[b].d);
        put_nibbles(dst + 32, row, codes);
    }
}

static void pack_q5_0(uint8_t *gw, int row, const vka_block_q5_0 *src, int64_t nb) {
    for (int64_t b = 0; b < nb; b++) {
        uint8_t codes[BLOCK], *dst = gw + b * Q5_0_BLOCK;
        uint32_t qh;
        memcpy(&qh, src[b].qh, 4);
        for (int l = 0; l < 16; l++) {
            codes[l] = (uint8_t)((src[b].qs[l] & 15) | ((qh >> l) & 1) << 4);
            codes[l + 16] = (uint8_t)((src[b].qs[l] >> 4) | ((qh >> (l + 16)) & 1) << 4);
        }
        put_f16(dst, row, src[b].d);
        put_nibbles(dst + 32, row, codes);
        put_bit(dst + 32 + 256, 4, row, codes);
    }
}

static void pack_q8_0(uint8_t *gw, int row, const vka_block_q8_0 *src, int64_t nb) {
    for (int64_t b = 0; b < nb; b++) {
        uint8_t codes[BLOCK], *dst = gw + b * Q8_0_BLOCK;
        for (int l = 0; l < BLOCK; l++) codes[l] = (uint8_t)(src[b].qs[l] + 128);
        put_f16(dst, row, src[b].d);
        put_bytes(dst + 32, row, codes);
    }
}

static void pack_q4_k(uint8_t *gw, int row, const vka_block_q4_k *src, int64_t n_super) {
    for (int64_t s = 0; s < n_super; s++) {
        uint8_t *dst = gw + s * Q4_K_SUPER;
        put_f16(dst, row, src[s].d);
        put_f16(dst + 32, row, src[s].dmin);
        for (int j = 0; j < 8; j++) {
            int sc, m;
            vka_k4_scale_min(src[s].scales, j, &sc, &m);
            dst[64 + 16 * j + row] = (uint8_t)sc;
            dst[64 + 128 + 16 * j + row] = (uint8_t)m;
            uint8_t codes[BLOCK];
            for (int l = 0; l < BLOCK; l++) codes[l] = (src[s].qs[32 * (j / 2) + l] >> (4 * (j % 2))) & 15;
            put_nibbles(dst + 64 + 256 + 256 * j, row, codes);
        }
    }
}

static void pack_q6_k(uint8_t *gw, int row, const vka_block_q6_k *src, int64_t n_super) {
    for (int64_t s = 0; s < n_super; s++) {
        uint8_t *dst = gw + s * Q6_K_SUPER;
        put_f16(dst, row, src[s].d);
        for (int h = 0; h < 16; h++) dst[32 + 16 * h + row] = (uint8_t)src[s].scales[h];
        for (int j = 0; j < 8; j++) {
            int half = j / 4, g = j % 4;
            uint8_t codes[BLOCK];
            for (int l = 0; l < BLOCK; l++) {
                int low = (src[s].ql[64 * half + 32 * (g % 2) + l] >> (4 * (g / 2))) & 15;
                int high = (src[s].qh[32 * half + l] >> (2 * g)) & 3;
                codes[l] = (uint8_t)(low | high << 4);
            }
            uint8_t *blk = dst + 32 + 256 + Q6_K_BLOCK * j;
            put_nibbles(blk, row, codes);
            put_bit(blk + 256, 4, row, codes);
            put_bit(blk + 256 + 64, 5, row, codes);
        }
    }
}

static void pack_row(vka_type type, uint8_t *gw, int row, const void *src, int64_t k) {
    switch (type) {
    case VKA_TYPE_Q4_0: pack_q4_0(gw, row, src, k / BLOCK); break;
    case VKA_TYPE_Q5_0: pack_q5_0(gw, row, src, k / BLOCK); break;
    case VKA_TYPE_Q8_0: pack_q8_0(gw, row, src, k / BLOCK); break;
    case VKA_TYPE_Q4_K: pack_q4_k(gw, row, src, k / VKA_QK_K); break;
    case VKA_TYPE_Q6_K: pack_q6_k(gw, row, src, k / VKA_QK_K); break;
    default: break;
    }
}

/* Large matrices on 2 MiB pages where the kernel offers them: filling a
 * 500 MiB model page by page costs more than repacking it, and the kernels
 * stream through fewer TLB entries. */
#define HUGE_PAGE ((size_t)2 << 20)

uint8_t *vka_cpu_alloc_large(size_t bytes) {
    if (bytes < HUGE_PAGE) return aligned_alloc(64, (bytes + 63) & ~(size_t)63);
    size_t rounded = (bytes + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
    uint8_t *p = aligned_alloc(HUGE_PAGE, rounded);
#ifdef MADV_HUGEPAGE
    if (p) madvise(p, rounded, MADV_HUGEPAGE); /* advice only: without it, 4 KiB pages */
#endif
    return p;
}

vka_packed *vka_packed_alloc(vka_type type, int64_t k, int64_t rows) {
    if (!vka_packed_supported(type, k) || rows <= 0) return NULL;
    vka_packed *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->type = type;
    p->k = k;
    p->rows = rows;
    p->n_groups = (rows + VKA_PACK_ROWS - 1) / VKA_PACK_ROWS;
    p->group_bytes = group_bytes(type, k);
    size_t total = p->group_bytes * (size_t)p->n_groups;
    p->data = vka_cpu_alloc_large(total);
    if (!p->data) {
        free(p);
        return NULL;
    }
    return p;
}

void vka_packed_fill(vka_packed *p, const void *w, int64_t g0, int64_t g1) {
    const vka_type_traits *tr = vka_type_get_traits(p->type);
    size_t row_bytes = (size_t)(p->k / tr->block_size) * tr->type_size;
    for (int64_t g = g0; g < g1; g++) {
        uint8_t *gw = p->data + (size_t)g * p->group_bytes;
        /* zeroed first: padding rows get zero scales and codes, and masks are OR-ed into */
        memset(gw, 0, p->group_bytes);
        for (int64_t r = g * VKA_PACK_ROWS; r < (g + 1) * VKA_PACK_ROWS && r < p->rows; r++)
            pack_row(p->type, gw, (int)(r % VKA_PACK_ROWS), (const char *)w + (size_t)r * row_bytes, p->k);
    }
}

vka_packed *vka_pack(vka_type type, int64_t k, int64_t rows, const void *w) {
    vka_packed *p = vka_packed_alloc(type, k, rows);
    if (p) vka_packed_fill(p, w, 0, p->n_groups);
    return p;
}

void vka_packed_free(vka_packed *p) {
    if (!p) return;
    free(p->data);
    free(p);
}

size_t vka_packed_bytes(const vka_packed *p) { return p ? p->group_bytes * (size_t)p->n_groups : 0; }
