// wtypes.glsl — reading repacked weight rows (layouts written by
// engine/vulkan/vk_repack.c), one variant per -DWTYPE_* define.
//
// The including shader defines W_BINDING and the macros W_STRIDE (row stride:
// floats for F32, halves for F16/BF16, blocks for quantized types), W_SOFF
// (uint index of the scale region) and W_SROW (scale row stride in halves,
// even). Rows of float types are zero-padded to 16 bytes so that every
// group of four elements can be loaded whole.
//
// Dequantization is exactly the CPU reference's (engine/types.c): one
// multiply d * q per element, so dequantized values match it bit for bit.

layout(binding = W_BINDING) readonly buffer WU { uint wu[]; };
layout(binding = W_BINDING) readonly buffer WU2 { uvec2 wu2[]; };
layout(binding = W_BINDING) readonly buffer WF4 { vec4 wf4[]; };

#if defined(WTYPE_Q8_0) || defined(WTYPE_Q4_0) || defined(WTYPE_Q4_K) || defined(WTYPE_Q5_K) || defined(WTYPE_Q6_K)
#define W_QUANTIZED 1
#endif

// Scale of block b of row r (1 for float types).
float w_scale(uint r, uint b) {
#ifdef W_QUANTIZED
    uint s = r * W_SROW + b;
    vec2 h = unpackHalf2x16(wu[W_SOFF + (s >> 1)]);
    return (s & 1u) != 0u ? h.y : h.x;
#else
    return 1.0;
#endif
}

// Elements 32*b + 4*g .. +3 of row r, dequantized with the block's scale d.
vec4 w_group(uint r, uint b, uint g, float d) {
#if defined(WTYPE_F32)
    return wf4[(r * W_STRIDE + b * 32u + g * 4u) >> 2];
#elif defined(WTYPE_F16)
    uvec2 u = wu2[(r * W_STRIDE + b * 32u + g * 4u) >> 2];
    return vec4(unpackHalf2x16(u.x), unpackHalf2x16(u.y));
#elif defined(WTYPE_BF16)
    uvec2 u = wu2[(r * W_STRIDE + b * 32u + g * 4u) >> 2];
    return vec4(uintBitsToFloat(u.x << 16), uintBitsToFloat(u.x & 0xffff0000u),
                uintBitsToFloat(u.y << 16), uintBitsToFloat(u.y & 0xffff0000u));
#elif defined(WTYPE_Q8_0)
    // 32 int8 per block, 8 words
    int w = int(wu[(r * W_STRIDE + b) * 8u + g]);
    vec4 q = vec4(bitfieldExtract(w, 0, 8), bitfieldExtract(w, 8, 8), bitfieldExtract(w, 16, 8),
                  bitfieldExtract(w, 24, 8));
    return d * q;
#elif defined(WTYPE_Q4_0)
    // 16 bytes per block: byte j holds element j (low nibble) and j + 16 (high)
    uint w = wu[(r * W_STRIDE + b) * 4u + (g & 3u)];
    uvec4 n = (uvec4(w) >> (uvec4(0u, 8u, 16u, 24u) + (g >> 2) * 4u)) & 0xFu;
    return d * (vec4(n) - 8.0);
#else
#error "wtypes.glsl: no WTYPE_* defined"
#endif
}
