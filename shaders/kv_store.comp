#version 450
// kv_store.comp — each token's row of src into the cache row of its position.
// Contiguous (no layout): rows n_past .. n_past+n-1, one contiguous run of
// the cache. Paged (paged.glsl): row(t, pos(t)) through the token's block
// table; rows outside the cache are skipped. Variants: -DKV_F32, -DKV_F16S
// (16-bit storage), -DKV_F16P (portable: f16 pairs packed in 32-bit words;
// contiguous: the words at both ends keep their other half; paged: rows
// start on whole words, which the host checks, so no word is shared).
#ifdef KV_F16S
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_shader_explicit_arithmetic_types_int16 : require
#endif
layout(local_size_x_id = 0) in;

layout(push_constant) uniform PC {
    uint count;     // n * kv_dim elements
    uint row;       // kv_dim: elements per cache row
    uint src_off;   // float offset of src
    uint dst_off;   // element offset of the cache (row 0)
    uint n;         // tokens
    uint rows;      // cache rows
    uint lay_off, lay_len;
} pc;

layout(binding = 1) readonly buffer SRC { float src[]; };
#if defined(KV_F32)
layout(binding = 0) writeonly buffer DST { float cache[]; };
#elif defined(KV_F16S)
layout(binding = 0) writeonly buffer DST { uint16_t cache[]; };
#elif defined(KV_F16P)
layout(binding = 0) buffer DST { uint cache[]; };
#endif
#include "f16.glsl"
#include "paged.glsl"

// The cache row of token t, or ~0u when the table points outside the cache.
uint paged_row(uint t) {
    const uint pos = token_pos(t);
    const uint b = token_block(t, pc.n, pos / KV_BLOCK);
    if (b >= (pc.rows + KV_BLOCK - 1u) / KV_BLOCK) return ~0u;
    const uint r = b * KV_BLOCK + pos % KV_BLOCK;
    return r < pc.rows ? r : ~0u;
}

void store_paged(uint i) {
#if defined(KV_F16P)
    const uint words = pc.row / 2u;   // per row (kv_dim even)
    if (i >= pc.n * words) return;
    const uint t = i / words, w = i % words;
    const uint r = paged_row(t);
    if (r == ~0u) return;
    const uint s = pc.src_off + t * pc.row + 2u * w;
    cache[(pc.dst_off + r * pc.row) / 2u + w] = f32_to_f16_bits(src[s]) | (f32_to_f16_bits(src[s + 1u]) << 16);
#else
    if (i >= pc.count) return;
    const uint t = i / pc.row, e = i % pc.row;
    const uint r = paged_row(t);
    if (r == ~0u) return;
#if defined(KV_F32)
    cache[pc.dst_off + r * pc.row + e] = src[pc.src_off + i];
#else
    cache[pc.dst_off + r * pc.row + e] = uint16_t(f32_to_f16_bits(src[pc.src_off + i]));
#endif
#endif
}

void main() {
    const uint i = gl_GlobalInvocationID.x;
    if (paged()) {
        store_paged(i);
        return;
    }
    const uint e0 = pc.dst_off + step[0] * pc.row;   // first element written
#if defined(KV_F16P)
    // word w0 + i holds elements 2(w0+i), 2(w0+i)+1
    const uint w = e0 / 2u + i;
    const uint e = 2u * w;
    if (e >= e0 + pc.count) return;
    uint word = cache[w];
    if (e >= e0) word = (word & 0xffff0000u) | f32_to_f16_bits(src[pc.src_off + e - e0]);
    if (e + 1u >= e0 && e + 1u < e0 + pc.count)
        word = (word & 0x0000ffffu) | (f32_to_f16_bits(src[pc.src_off + e + 1u - e0]) << 16);
    cache[w] = word;
#else
    if (i >= pc.count) return;
#if defined(KV_F32)
    cache[e0 + i] = src[pc.src_off + i];
#else
    cache[e0 + i] = uint16_t(f32_to_f16_bits(src[pc.src_off + i]));
#endif
#endif
}
