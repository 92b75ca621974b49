/* vk_repack.c — weight rows as the shaders read them (shaders/wtypes.glsl).
 * GGUF's blocks are 18, 34, 110 bytes..., so quantized values and scales would
 * sit at 2-byte alignment; on the device each part of a matrix holds all
 * its rows' values first (16-byte aligned rows) and then their scales:
 *   F32, F16, BF16: round_up(K, 32) elements per row, zero-padded (whole blocks)
 *   Q8_0:      32 int8 per block; Q4_0, IQ4_NL: 16 bytes of nibbles per block (as in GGUF)
 *   scales:    one f16 per block, round_up(blocks, 2) per row
 *   Q4_1, Q5_0, Q5_1: 16 bytes of nibbles per block (as in GGUF); scales
 *              8 bytes per block: d, m (f16; 0 for Q5_0), the 4 qh bytes
 *              (0 for Q4_1), so one 8-byte load gives all a block needs
 *   per super-block of 256:
 *     Q4_K  values qs (128 bytes)             scales d, dmin, 12 bytes of scales/mins (16 bytes)
 *     Q5_K  values qs (128), qh (32)          scales as Q4_K (16 bytes)
 *     Q6_K  values ql (128), qh (64)          scales 16 int8, then d and 14 bytes of padding (32 bytes)
 *     Q2_K  values qs (64)                    scales 16 bytes of scales/mins, d, dmin (20 bytes)
 *     Q3_K  values qs (64), hmask (32)        scales 12 bytes of scales, d, 2 bytes of padding (16 bytes)
 *     IQ4_XS values qs (128)                  scales d, scales_h, scales_l (8 bytes)
 *   (Q2_K's and IQ4_XS's scale records are read a word at a time.)
 * Values are moved, never converted, so dequantization stays exact: each
 * type is a list of the block's fields and where they go (quant_layouts). */
#include <stddef.h>
#include <string.h>

#include "backends/vulkan/vk_internal.h"

static uint32_t round_up(uint32_t x, uint32_t m) { return (x + m - 1) / m * m; }

/* `len` bytes at `src` in a GGUF block go to `dst` in the block's value bytes or scale record. */
typedef struct field {
    uint16_t src, dst, len;
} field;

typedef struct quant_layout {
    vka_type type;
    uint16_t stride_elems;       /* elements per unit of the row stride the shaders take (32 or 256) */
    uint16_t value_bytes;        /* device value bytes per GGUF block */
    uint16_t scale_bytes;        /* device scale bytes per GGUF block (the rest of a record is zero) */
    bool f16_scales;             /* one f16 per block, rows of an even count; s_row in halves, else in uints */
    field values[2], scales[2];  /* unused entries have len 0 */
} quant_layout;

#define F(block, member, to) {offsetof(block, member), to, sizeof(((block *)0)->member)}

static const quant_layout quant_layouts[] = {
    {VKA_TYPE_Q8_0, 32, 32, 2, true, {F(vka_block_q8_0, qs, 0)}, {F(vka_block_q8_0, d, 0)}},
    {VKA_TYPE_Q4_0, 32, 16, 2, true, {F(vka_block_q4_0, qs, 0)}, {F(vka_block_q4_0, d, 0)}},
    {VKA_TYPE_IQ4_NL, 32, 16, 2, true, {F(vka_block_iq4_nl, qs, 0)}, {F(vka_block_iq4_nl, d, 0)}},
    {VKA_TYPE_Q4_1, 32, 16, 8, false, {F(vka_block_q4_1, qs, 0)}, {F(vka_block_q4_1, d, 0), F(vka_block_q4_1, m, 2)}},
    {VKA_TYPE_Q5_0, 32, 16, 8, false, {F(vka_block_q5_0, qs, 0)}, {F(vka_block_q5_0, d, 0), F(vka_block_q5_0, qh, 4)}},
    {VKA_TYPE_Q5_1, 32, 16, 8, false, {F(vka_block_q5_1, qs, 0)}, {{0, 0, 8}}}, /* d, m, qh */
    {VKA_TYPE_Q4_K, 256, 128, 16, false, {F(vka_block_q4_k, qs, 0)}, {{0, 0, 16}}}, /* d, dmin, scales */
    {VKA_TYPE_Q5_K, 256, 160, 16, false, {F(vka_block_q5_k, qs, 0), F(vka_block_q5_k, qh, 128)}, {{0, 0, 16}}},
    {VKA_TYPE_Q6_K, 256, 192, 32, false, {F(vka_block_q6_k, ql, 0), F(vka_block_q6_k, qh, 128)},
     {F(vka_block_q6_k, scales, 0), F(vka_block_q6_k, d, 16)}},
    {VKA_TYPE_Q2_K, 256, 64, 20, false, {F(vka_block_q2_k, qs, 0)},
     {F(vka_block_q2_k, scales, 0), {offsetof(vka_block_q2_k, d), 16, 4}}}, /* d, dmin */
    {VKA_TYPE_Q3_K, 256, 96, 16, false, {F(vka_block_q3_k, qs, 0), F(vka_block_q3_k, hmask, 64)},
     {F(vka_block_q3_k, scales, 0), F(vka_block_q3_k, d, 12)}},
    {VKA_TYPE_IQ4_XS, 32, 128, 8, false, {F(vka_block_iq4_xs, qs, 0)}, {{0, 0, 8}}}, /* d, scales_h, scales_l */
};

bool vk_q8_weight_type(vka_type type) {
    return type == VKA_TYPE_Q4_0 || type == VKA_TYPE_Q8_0 || type == VKA_TYPE_Q4_K || type == VKA_TYPE_IQ4_NL ||
           type == VKA_TYPE_IQ4_XS || type == VKA_TYPE_Q2_K || type == VKA_TYPE_Q3_K || type == VKA_TYPE_Q5_K ||
           type == VKA_TYPE_Q6_K;
}

static const quant_layout *quant_layout_of(vka_type type) {
    for (size_t i = 0; i < sizeof quant_layouts / sizeof quant_layouts[0]; i++)
        if (quant_layouts[i].type == type) return &quant_layouts[i];
    return NULL;
}

vka_status vk_wlayout_init(vka_type type, int64_t k, vk_wlayout *out) {
    memset(out, 0, sizeof *out);
    if (k <= 0 || k > (1 << 24)) return vka_fail(VKA_ERR_UNSUPPORTED, "vulkan: rows of %lld elements", (long long)k);
    uint32_t n = (uint32_t)k;
    if (type == VKA_TYPE_F32 || type == VKA_TYPE_F16 || type == VKA_TYPE_BF16) {
        out->stride = round_up(n, 32);
        out->row_bytes = (VkDeviceSize)out->stride * (type == VKA_TYPE_F32 ? 4 : 2);
        return VKA_OK;
    }
    const quant_layout *q = quant_layout_of(type);
    if (!q)
        return vka_fail(VKA_ERR_UNSUPPORTED, "vulkan: weights of type %s are not supported on Vulkan (supported: "
                        "f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q2_K, q3_K, q4_K, q5_K, q6_K, iq4_nl, iq4_xs)",
                        vka_type_name(type));
    uint32_t block = vka_type_get_traits(type)->block_size;
    if (n % block)
        return vka_fail(VKA_ERR_FORMAT, "vulkan: %s rows of %u elements (not whole %s)", vka_type_name(type), n,
                        block == 32 ? "blocks" : "super-blocks");
    uint32_t blocks = n / block;
    out->nb = n / 32;
    out->stride = n / q->stride_elems;
    out->row_bytes = (VkDeviceSize)blocks * q->value_bytes;
    if (q->f16_scales) {
        out->s_row = round_up(blocks, 2);
        out->scale_row_bytes = (VkDeviceSize)out->s_row * 2;
    } else {
        out->scale_row_bytes = (VkDeviceSize)blocks * q->scale_bytes;
        out->s_row = (uint32_t)(out->scale_row_bytes / 4);
    }
    return VKA_OK;
}

static uint32_t blocks_per_row(vka_type type, int64_t k) {
    return (uint32_t)(k / vka_type_get_traits(type)->block_size);
}

/* Copies the two `fields` of `blocks` blocks between GGUF blocks of `block_bytes` and device
 * records of `rec` bytes: to the device, or back from it. */
static void copy_fields(const field f[2], uint32_t blocks, size_t block_bytes, size_t rec, bool to_device,
                        const uint8_t *from, uint8_t *to) {
    size_t from_size = to_device ? block_bytes : rec, to_size = to_device ? rec : block_bytes;
    for (uint32_t i = 0; i < blocks; i++)
        for (size_t j = 0; j < 2 && f[j].len; j++)
            memcpy(to + i * to_size + (to_device ? f[j].dst : f[j].src),
                   from + i * from_size + (to_device ? f[j].src : f[j].dst), f[j].len);
}

void vk_repack_values(vka_type type, const vk_wlayout *l, const uint8_t *src, size_t src_row_bytes, int64_t k,
                      uint32_t n, uint8_t *dst) {
    const quant_layout *q = quant_layout_of(type);
    size_t block_bytes = vka_type_get_traits(type)->type_size;
    for (uint32_t r = 0; r < n; r++, src += src_row_bytes, dst += l->row_bytes) {
        if (!q) { /* float types */
            size_t used = (size_t)k * (type == VKA_TYPE_F32 ? 4 : 2);
            memcpy(dst, src, used);
            memset(dst + used, 0, l->row_bytes - used);
            continue;
        }
        copy_fields(q->values, blocks_per_row(type, k), block_bytes, q->value_bytes, true, src, dst);
    }
}

void vk_repack_scales(vka_type type, const vk_wlayout *l, const uint8_t *src, size_t src_row_bytes, uint32_t n,
                      uint8_t *dst) {
    const quant_layout *q = quant_layout_of(type);
    if (!q) return;
    size_t block_bytes = vka_type_get_traits(type)->type_size;
    uint32_t blocks = (uint32_t)(src_row_bytes / block_bytes);
    for (uint32_t r = 0; r < n; r++, src += src_row_bytes, dst += l->scale_row_bytes) {
        memset(dst, 0, l->scale_row_bytes); /* padding: records' tails, an odd row's last half */
        copy_fields(q->scales, blocks, block_bytes, q->scale_bytes, true, src, dst);
    }
}

void vk_unpack_row(vka_type type, const vk_wlayout *l, const uint8_t *values, const uint8_t *scales, int64_t k,
                   uint8_t *dst) {
    const quant_layout *q = quant_layout_of(type);
    if (!q) {
        memcpy(dst, values, (size_t)k * (type == VKA_TYPE_F32 ? 4 : 2));
        return;
    }
    (void)l;
    /* every byte of a block belongs to one field, so the block comes back whole */
    size_t block_bytes = vka_type_get_traits(type)->type_size;
    uint32_t blocks = blocks_per_row(type, k);
    copy_fields(q->values, blocks, block_bytes, q->value_bytes, false, values, dst);
    copy_fields(q->scales, blocks, block_bytes, q->scale_bytes, false, scales, dst);
}
