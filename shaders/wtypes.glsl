// wtypes.glsl — reading repacked weight rows (layouts written by
// engine/vulkan/vk_repack.c), one variant per -DWTYPE_* define.
//
// The including shader defines W_BINDING and the macros W_STRIDE (row stride:
// floats for F32, halves for F16/BF16, blocks for quantized types), W_SOFF
// (uint index of the scale region) and W_SROW (scale row stride in halves,
// even). Rows of float types are zero-padded to whole blocks of 32, so that
// a block can always be loaded whole, in 16-byte loads.
//
// Dequantization is exactly the CPU reference's (engine/types.c): one
// multiply d * q per element, so dequantized values match it bit for bit.

#extension GL_EXT_control_flow_attributes : enable

layout(binding = W_BINDING) readonly buffer WU { uint wu[]; };
layout(binding = W_BINDING) readonly buffer WU2 { uvec2 wu2[]; };
layout(binding = W_BINDING) readonly buffer WF4 { vec4 wf4[]; };
layout(binding = W_BINDING) readonly buffer WU4 { uvec4 wu4[]; };

#if defined(WTYPE_Q8_0) || defined(WTYPE_Q4_0) || defined(WTYPE_Q4_K) || defined(WTYPE_Q5_K) || defined(WTYPE_Q6_K)
#define W_QUANTIZED 1
#endif

vec4 unpack_bf16x2(uvec2 u) {
    return vec4(uintBitsToFloat(u.x << 16), uintBitsToFloat(u.x & 0xffff0000u),
                uintBitsToFloat(u.y << 16), uintBitsToFloat(u.y & 0xffff0000u));
}

#ifdef W_TEXEL
// The same bytes through a uniform texel buffer (R32G32B32A32_UINT): on CPU
// drivers (llvmpipe) texel fetches are vector gathers while storage-buffer
// loads go lane by lane, several times slower.
layout(binding = 6) uniform usamplerBuffer wtex;
#define W_LOAD16(i) texelFetch(wtex, int(i))
#else
#define W_LOAD16(i) wu4[i]
#endif

// Scale of block b of row r (1 for float types).
float w_scale(uint r, uint b) {
#if defined(W_QUANTIZED) && defined(W_TEXEL)
    const uint s = r * W_SROW + b;
    const uvec4 t = W_LOAD16((W_SOFF >> 2) + (s >> 3));
    const vec2 h = unpackHalf2x16(t[(s >> 1) & 3u]);
    return (s & 1u) != 0u ? h.y : h.x;
#elif defined(W_QUANTIZED)
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
    return unpack_bf16x2(u);
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

// Elements 32*b + 16*h .. +15 of row r (h = 0, 1), dequantized with the
// block's scale d, read with 16-byte loads: the same values as w_group().
void w_half(uint r, uint b, uint h, float d, out vec4 v[4]) {
#if defined(WTYPE_F32)
    const uint i = (r * W_STRIDE + b * 32u + h * 16u) >> 2;
    v[0] = uintBitsToFloat(W_LOAD16(i)); v[1] = uintBitsToFloat(W_LOAD16(i + 1u));
    v[2] = uintBitsToFloat(W_LOAD16(i + 2u)); v[3] = uintBitsToFloat(W_LOAD16(i + 3u));
#elif defined(WTYPE_F16)
    const uint i = (r * W_STRIDE + b * 32u + h * 16u) >> 3;
    const uvec4 a = W_LOAD16(i), c = W_LOAD16(i + 1u);
    v[0] = vec4(unpackHalf2x16(a.x), unpackHalf2x16(a.y));
    v[1] = vec4(unpackHalf2x16(a.z), unpackHalf2x16(a.w));
    v[2] = vec4(unpackHalf2x16(c.x), unpackHalf2x16(c.y));
    v[3] = vec4(unpackHalf2x16(c.z), unpackHalf2x16(c.w));
#elif defined(WTYPE_BF16)
    const uint i = (r * W_STRIDE + b * 32u + h * 16u) >> 3;
    const uvec4 a = W_LOAD16(i), c = W_LOAD16(i + 1u);
    v[0] = unpack_bf16x2(a.xy); v[1] = unpack_bf16x2(a.zw);
    v[2] = unpack_bf16x2(c.xy); v[3] = unpack_bf16x2(c.zw);
#elif defined(WTYPE_Q8_0)
    const ivec4 q = ivec4(W_LOAD16((r * W_STRIDE + b) * 2u + h));
    [[unroll]] for (uint c = 0u; c < 4u; c++)
        v[c] = d * vec4(bitfieldExtract(q[c], 0, 8), bitfieldExtract(q[c], 8, 8), bitfieldExtract(q[c], 16, 8),
                        bitfieldExtract(q[c], 24, 8));
#elif defined(WTYPE_Q4_0)
    const uvec4 q = (W_LOAD16(r * W_STRIDE + b) >> (h * 4u)) & 0x0f0f0f0fu;
    [[unroll]] for (uint c = 0u; c < 4u; c++)
        v[c] = d * (vec4(q[c] & 0xffu, (q[c] >> 8) & 0xffu, (q[c] >> 16) & 0xffu, q[c] >> 24) - 8.0);
#endif
}
