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
 *   K-quants, per super-block of 256:
 *     Q4_K  values qs (128 bytes)             scales d, dmin, 12 bytes of scales/mins (16 bytes)
 *     Q5_K  values qs (128), qh (32)          scales as Q4_K (16 bytes)
 *     Q6_K  values ql (128), qh (64)          scales 16 int8, then d and 14 bytes of padding (32 bytes)
 *     Q2_K  values qs (64)                    scales 16 bytes of scales/mins, d, dmin (20 bytes)
 *     Q3_K  values qs (64), hmask (32)        scales 12 bytes of scales, d, 2 bytes of padding (16 bytes)
 *     IQ4_XS values qs (128)                  scales d, scales_h, scales_l (8 bytes)
 *   (Q2_K's and IQ4_XS's scale records are read a word at a time.)
 * Values are moved, never converted, so dequantization stays exact. */
#include <string.h>

#include "backends/vulkan/vk_internal.h"

static uint32_t round_up(uint32_t x, uint32_t m) { return (x + m - 1) / m * m; }

vka_status vk_wlayout_init(vka_type type, int64_t k, vk_wlayout *out) {
    memset(out, 0, sizeof *out);
    if (k <= 0 || k > (1 << 24)) return vka_fail(VKA_ERR_UNSUPPORTED, "vulkan: rows of %lld elements", (long long)k);
    uint32_t n = (uint32_t)k;
    switch (type) {
    case VKA_TYPE_F32:
        out->stride = round_up(n, 32);
        out->row_bytes = (VkDeviceSize)out->stride * 4;
        return VKA_OK;
    case VKA_TYPE_F16:
    case VKA_TYPE_BF16:
        out->stride = round_up(n, 32);
        out->row_bytes = (VkDeviceSize)out->stride * 2;
        return VKA_OK;
    case VKA_TYPE_Q8_0:
    case VKA_TYPE_Q4_0:
    case VKA_TYPE_IQ4_NL:
        if (n % 32) return vka_fail(VKA_ERR_FORMAT, "vulkan: %s rows of %u elements (not whole blocks)", vka_type_name(type), n);
        out->nb = out->stride = n / 32;
        out->s_row = round_up(out->nb, 2);
        out->row_bytes = (VkDeviceSize)out->nb * (type == VKA_TYPE_Q8_0 ? 32 : 16);
        out->scale_row_bytes = (VkDeviceSize)out->s_row * 2;
        return VKA_OK;
    case VKA_TYPE_Q4_1:
    case VKA_TYPE_Q5_0:
    case VKA_TYPE_Q5_1:
        if (n % 32) return vka_fail(VKA_ERR_FORMAT, "vulkan: %s rows of %u elements (not whole blocks)", vka_type_name(type), n);
        out->nb = out->stride = n / 32;
        out->row_bytes = (VkDeviceSize)out->nb * 16;
        out->scale_row_bytes = (VkDeviceSize)out->nb * 8;
        out->s_row = 2 * out->nb; /* uints */
        return VKA_OK;
    case VKA_TYPE_Q4_K:
    case VKA_TYPE_Q5_K:
    case VKA_TYPE_Q6_K: {
        if (n % 256) return vka_fail(VKA_ERR_FORMAT, "vulkan: %s rows of %u elements (not whole super-blocks)",
                                     vka_type_name(type), n);
        uint32_t nsb = n / 256;
        out->stride = nsb;
        out->nb = n / 32;
        out->row_bytes = (VkDeviceSize)nsb * (type == VKA_TYPE_Q4_K ? 128 : type == VKA_TYPE_Q5_K ? 160 : 192);
        out->scale_row_bytes = (VkDeviceSize)nsb * (type == VKA_TYPE_Q6_K ? 32 : 16);
        out->s_row = (uint32_t)(out->scale_row_bytes / 4);
        return VKA_OK;
    }
    case VKA_TYPE_Q2_K:
    case VKA_TYPE_Q3_K:
    case VKA_TYPE_IQ4_XS: {
        if (n % 256) return vka_fail(VKA_ERR_FORMAT, "vulkan: %s rows of %u elements (not whole super-blocks)",
                                     vka_type_name(type), n);
        uint32_t nsb = n / 256;
        out->nb = n / 32;
        /* IQ4_XS's values are 16 bytes per block of 32, as IQ4_NL's: its stride counts blocks */
        out->stride = type == VKA_TYPE_IQ4_XS ? out->nb : nsb;
        out->row_bytes = (VkDeviceSize)nsb * (type == VKA_TYPE_Q2_K ? 64 : type == VKA_TYPE_Q3_K ? 96 : 128);
        out->scale_row_bytes = (VkDeviceSize)nsb * (type == VKA_TYPE_Q2_K ? 20 : type == VKA_TYPE_Q3_K ? 16 : 8);
        out->s_row = (uint32_t)(out->scale_row_bytes / 4);
        return VKA_OK;
    }
    default:
        return vka_fail(VKA_ERR_UNSUPPORTED, "vulkan: weights of type %s are not supported on Vulkan (supported: "
                        "f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q2_K, q3_K, q4_K, q5_K, q6_K, iq4_nl, iq4_xs)",
                        vka_type_name(type));
    }
}

void vk_repack_values(vka_type type, const vk_wlayout *l, const uint8_t *src, size_t src_row_bytes, int64_t k,
                      uint32_t n, uint8_t *dst) {
    for (uint32_t r = 0; r < n; r++, src += src_row_bytes, dst += l->row_bytes) {
        switch (type) {
        case VKA_TYPE_F32:
        case VKA_TYPE_F16:
        case VKA_TYPE_BF16: {
            size_t used = (size_t)k * (type == VKA_TYPE_F32 ? 4 : 2);
            memcpy(dst, src, used);
            memset(dst + used, 0, l->row_bytes - used);
            break;
        }
        case VKA_TYPE_Q8_0: {
            const vka_block_q8_0 *b = (const vka_block_q8_0 *)src;
            for (uint32_t i = 0; i < l->nb; i++) memcpy(dst + 32 * i, b[i].qs, 32);
            break;
        }
        case VKA_TYPE_Q4_0: {
            const vka_block_q4_0 *b = (const vka_block_q4_0 *)src;
            for (uint32_t i = 0; i < l->nb; i++) memcpy(dst + 16 * i, b[i].qs, 16);
            break;
        }
        case VKA_TYPE_IQ4_NL: {
            const vka_block_iq4_nl *b = (const vka_block_iq4_nl *)src;
            for (uint32_t i = 0; i < l->nb; i++) memcpy(dst + 16 * i, b[i].qs, 16);
            break;
        }
        case VKA_TYPE_IQ4_XS: {
            const vka_block_iq4_xs *b = (const vka_block_iq4_xs *)src;
            for (uint32_t i = 0; i < l->nb / 8; i++) memcpy(dst + 128 * i, b[i].qs, 128);
            break;
        }
        case VKA_TYPE_Q2_K: {
            const vka_block_q2_k *b = (const vka_block_q2_k *)src;
            for (uint32_t i = 0; i < l->stride; i++) memcpy(dst + 64 * i, b[i].qs, 64);
            break;
        }
        case VKA_TYPE_Q3_K: {
            const vka_block_q3_k *b = (const vka_block_q3_k *)src;
            for (uint32_t i = 0; i < l->stride; i++) {
                memcpy(dst + 96 * i, b[i].qs, 64);
                memcpy(dst + 96 * i + 64, b[i].hmask, 32);
            }
            break;
        }
        case VKA_TYPE_Q4_1:
        case VKA_TYPE_Q5_0:
        case VKA_TYPE_Q5_1: {
            const size_t block = vka_type_get_traits(type)->type_size;
            for (uint32_t i = 0; i < l->nb; i++) memcpy(dst + 16 * i, src + (i + 1) * block - 16, 16); /* qs ends the block */
            break;
        }
        case VKA_TYPE_Q4_K: {
            const vka_block_q4_k *b = (const vka_block_q4_k *)src;
            for (uint32_t i = 0; i < l->stride; i++) memcpy(dst + 128 * i, b[i].qs, 128);
            break;
        }
        case VKA_TYPE_Q5_K: {
            const vka_block_q5_k *b = (const vka_block_q5_k *)src;
            for (uint32_t i = 0; i < l->stride; i++) {
                memcpy(dst + 160 * i, b[i].qs, 128);
                memcpy(dst + 160 * i + 128, b[i].qh, 32);
            }
            break;
        }
        case VKA_TYPE_Q6_K: {
            const vka_block_q6_k *b = (const vka_block_q6_k *)src;
            for (uint32_t i = 0; i < l->stride; i++) {
                memcpy(dst + 192 * i, b[i].ql, 128);
                memcpy(dst + 192 * i + 128, b[i].qh, 64);
            }
            break;
        }
        default: break;
        }
    }
}

/* K-quants: each super-block's scale bytes. */
static void repack_kscales(vka_type type, const vk_wlayout *l, const uint8_t *src, uint8_t *dst) {
    for (uint32_t i = 0; i < l->stride; i++) {
        if (type == VKA_TYPE_Q6_K) {
            const vka_block_q6_k *b = (const vka_block_q6_k *)src + i;
            memcpy(dst + 32 * i, b->scales, 16);
            memcpy(dst + 32 * i + 16, &b->d, 2);
            memset(dst + 32 * i + 18, 0, 14);
        } else {
            /* Q4_K, Q5_K: d, dmin and the 12 scale bytes lead the block */
            memcpy(dst + 16 * i, src + (size_t)i * (type == VKA_TYPE_Q4_K ? sizeof(vka_block_q4_k)
                                                                           : sizeof(vka_block_q5_k)), 16);
        }
    }
}

/* Q2_K, Q3_K, IQ4_XS: each super-block's scale record. */
static void repack_small_kscales(vka_type type, const vk_wlayout *l, const uint8_t *src, uint8_t *dst) {
    for (uint32_t i = 0; i < l->nb / 8; i++) {
        if (type == VKA_TYPE_Q2_K) {
            const vka_block_q2_k *b = (const vka_block_q2_k *)src + i;
            memcpy(dst + 20 * i, b->scales, 16);
            memcpy(dst + 20 * i + 16, &b->d, 2);
            memcpy(dst + 20 * i + 18, &b->dmin, 2);
        } else if (type == VKA_TYPE_Q3_K) {
            const vka_block_q3_k *b = (const vka_block_q3_k *)src + i;
            memcpy(dst + 16 * i, b->scales, 12);
            memcpy(dst + 16 * i + 12, &b->d, 2);
            memset(dst + 16 * i + 14, 0, 2);
        } else {
            const vka_block_iq4_xs *b = (const vka_block_iq4_xs *)src + i;
            memcpy(dst + 8 * i, &b->d, 2);
            memcpy(dst + 8 * i + 2, &b->scales_h, 2);
            memcpy(dst + 8 * i + 4, b->scales_l, 4);
        }
    }
}

/* Q4_1, Q5_0, Q5_1: each block's (d, m, qh) in 8 bytes. */
static void repack_ext_scales(vka_type type, const vk_wlayout *l, const uint8_t *src, uint8_t *dst) {
    for (uint32_t i = 0; i < l->nb; i++, dst += 8) {
        memset(dst, 0, 8);
        if (type == VKA_TYPE_Q4_1) {
            memcpy(dst, src + 20 * i, 4);             /* d, m */
        } else if (type == VKA_TYPE_Q5_0) {
            memcpy(dst, src + 22 * i, 2);             /* d */
            memcpy(dst + 4, src + 22 * i + 2, 4);     /* qh */
        } else {
            memcpy(dst, src + 24 * i, 8);             /* d, m, qh */
        }
    }
}

void vk_repack_scales(vka_type type, const vk_wlayout *l, const uint8_t *src, size_t src_row_bytes, uint32_t n,
                      uint8_t *dst) {
    if (type == VKA_TYPE_Q4_1 || type == VKA_TYPE_Q5_0 || type == VKA_TYPE_Q5_1) {
        for (uint32_t r = 0; r < n; r++) repack_ext_scales(type, l, src + r * src_row_bytes, dst + r * l->scale_row_bytes);
        return;
    }
    if (type == VKA_TYPE_Q4_K || type == VKA_TYPE_Q5_K || type == VKA_TYPE_Q6_K) {
        for (uint32_t r = 0; r < n; r++) repack_kscales(type, l, src + r * src_row_bytes, dst + r * l->scale_row_bytes);
        return;
    }
    if (type == VKA_TYPE_Q2_K || type == VKA_TYPE_Q3_K || type == VKA_TYPE_IQ4_XS) {
        for (uint32_t r = 0; r < n; r++)
            repack_small_kscales(type, l, src + r * src_row_bytes, dst + r * l->scale_row_bytes);
        return;
    }
    /* Q8_0, Q4_0, IQ4_NL */
    size_t block = vka_type_get_traits(type)->type_size;
    for (uint32_t r = 0; r < n; r++, src += src_row_bytes, dst += l->scale_row_bytes) {
        uint16_t *d = (uint16_t *)dst;
        for (uint32_t i = 0; i < l->nb; i++) memcpy(&d[i], src + i * block, 2); /* d is the block's first field */
        for (uint32_t i = l->nb; i < l->s_row; i++) d[i] = 0;
    }
}

void vk_unpack_row(vka_type type, const vk_wlayout *l, const uint8_t *values, const uint8_t *scales, int64_t k,
                   uint8_t *dst) {
    switch (type) {
    case VKA_TYPE_F32: memcpy(dst, values, (size_t)k * 4); break;
    case VKA_TYPE_F16:
    case VKA_TYPE_BF16: memcpy(dst, values, (size_t)k * 2); break;
    case VKA_TYPE_Q8_0: {
        vka_block_q8_0 *b = (vka_block_q8_0 *)dst;
        for (uint32_t i = 0; i < l->nb; i++) {
            memcpy(&b[i].d, scales + 2 * i, 2);
            memcpy(b[i].qs, values + 32 * i, 32);
        }
        break;
    }
    case VKA_TYPE_Q4_0: {
        vka_block_q4_0 *b = (vka_block_q4_0 *)dst;
        for (uint32_t i = 0; i < l->nb; i++) {
            memcpy(&b[i].d, scales + 2 * i, 2);
            memcpy(b[i].qs, values + 16 * i, 16);
        }
        break;
    }
    case VKA_TYPE_Q4_1:
    case VKA_TYPE_Q5_0:
    case VKA_TYPE_Q5_1: {
        const size_t block = vka_type_get_traits(type)->type_size;
        for (uint32_t i = 0; i < l->nb; i++) {
            uint8_t *b = dst + i * block;
            const uint8_t *sc = scales + 8 * i;
            if (type == VKA_TYPE_Q4_1) memcpy(b, sc, 4);
            else if (type == VKA_TYPE_Q5_0) memcpy(b, sc, 2), memcpy(b + 2, sc + 4, 4);
            else memcpy(b, sc, 8);
            memcpy(b + block - 16, values + 16 * i, 16);
        }
        break;
    }
    case VKA_TYPE_Q4_K: {
        vka_block_q4_k *b = (vka_block_q4_k *)dst;
        for (uint32_t i = 0; i < l->stride; i++) {
            memcpy(&b[i], scales + 16 * i, 16);
            memcpy(b[i].qs, values + 128 * i, 128);
        }
        break;
    }
    case VKA_TYPE_Q5_K: {
        vka_block_q5_k *b = (vka_block_q5_k *)dst;
        for (uint32_t i = 0; i < l->stride; i++) {
            memcpy(&b[i], scales + 16 * i, 16);
            memcpy(b[i].qs, values + 160 * i, 128);
            memcpy(b[i].qh, values + 160 * i + 128, 32);
        }
        break;
    }
    case VKA_TYPE_Q6_K: {
        vka_block_q6_k *b = (vka_block_q6_k *)dst;
        for (uint32_t i = 0; i < l->stride; i++) {
            memcpy(b[i].ql, values + 192 * i, 128);
            memcpy(b[i].qh, values + 192 * i + 128, 64);
            memcpy(b[i].scales, scales + 32 * i, 16);
            memcpy(&b[i].d, scales + 32 * i + 16, 2);
        }
        break;
    }
    case VKA_TYPE_IQ4_NL: {
        vka_block_iq4_nl *b = (vka_block_iq4_nl *)dst;
        for (uint32_t i = 0; i < l->nb; i++) {
            memcpy(&b[i].d, scales + 2 * i, 2);
            memcpy(b[i].qs, values + 16 * i, 16);
        }
        break;
    }
    case VKA_TYPE_Q2_K: {
        vka_block_q2_k *b = (vka_block_q2_k *)dst;
        for (uint32_t i = 0; i < l->stride; i++) {
            memcpy(b[i].scales, scales + 20 * i, 16);
            memcpy(&b[i].d, scales + 20 * i + 16, 2);
            memcpy(&b[i].dmin, scales + 20 * i + 18, 2);
            memcpy(b[i].qs, values + 64 * i, 64);
        }
        break;
    }
    case VKA_TYPE_Q3_K: {
        vka_block_q3_k *b = (vka_block_q3_k *)dst;
        for (uint32_t i = 0; i < l->stride; i++) {
            memcpy(b[i].qs, values + 96 * i, 64);
            memcpy(b[i].hmask, values + 96 * i + 64, 32);
            memcpy(b[i].scales, scales + 16 * i, 12);
            memcpy(&b[i].d, scales + 16 * i + 12, 2);
        }
        break;
    }
    case VKA_TYPE_IQ4_XS: {
        vka_block_iq4_xs *b = (vka_block_iq4_xs *)dst;
        for (uint32_t i = 0; i < l->nb / 8; i++) {
            memcpy(&b[i].d, scales + 8 * i, 2);
            memcpy(&b[i].scales_h, scales + 8 * i + 2, 2);
            memcpy(b[i].scales_l, scales + 8 * i + 4, 4);
            memcpy(b[i].qs, values + 128 * i, 128);
        }
        break;
    }
    default: break;
    }
}
