/* vk_repack.c — weight rows as the shaders read them (shaders/wtypes.glsl).
 * GGUF's blocks are 18 or 34 bytes, so quantized values and scales would
 * sit at 2-byte alignment; on the device each part of a matrix holds all
 * its rows' values first (16-byte aligned rows) and then their f16 scales:
 *   F32, F16, BF16: round_up(K, 32) elements per row, zero-padded (whole blocks)
 *   Q8_0:      32 int8 per block; Q4_0: 16 bytes of nibbles per block (as in GGUF)
 *   scales:    one f16 per block, round_up(blocks, 2) per row
 * Values are moved, never converted, so dequantization stays exact. */
#include <string.h>

#include "vk_internal.h"

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
        if (n % 32) return vka_fail(VKA_ERR_FORMAT, "vulkan: %s rows of %u elements (not whole blocks)", vka_type_name(type), n);
        out->nb = out->stride = n / 32;
        out->s_row = round_up(out->nb, 2);
        out->row_bytes = (VkDeviceSize)out->nb * (type == VKA_TYPE_Q8_0 ? 32 : 16);
        out->scale_row_bytes = (VkDeviceSize)out->s_row * 2;
        return VKA_OK;
    default:
        return vka_fail(VKA_ERR_UNSUPPORTED, "vulkan: weights of type %s are not supported on Vulkan (supported: "
                        "f32, f16, bf16, q8_0, q4_0)", vka_type_name(type));
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
        default: break;
        }
    }
}

void vk_repack_scales(vka_type type, const vk_wlayout *l, const uint8_t *src, size_t src_row_bytes, uint32_t n,
                      uint8_t *dst) {
    size_t block = type == VKA_TYPE_Q8_0 ? sizeof(vka_block_q8_0) : sizeof(vka_block_q4_0);
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
    default: break;
    }
}
