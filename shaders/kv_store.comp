#version 450
// kv_store.comp — cache rows n_past .. n_past+n-1 = src rows. The written
// elements are one contiguous run of the cache. Variants: -DKV_F32,
// -DKV_F16S (16-bit storage), -DKV_F16P (portable: f16 pairs packed in
// 32-bit words; the words at both ends keep their other half).
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
} pc;

layout(binding = 1) readonly buffer SRC { float src[]; };
layout(binding = 4) readonly buffer PARAMS { uint n_past; } params;
#if defined(KV_F32)
layout(binding = 0) writeonly buffer DST { float cache[]; };
#elif defined(KV_F16S)
layout(binding = 0) writeonly buffer DST { uint16_t cache[]; };
#elif defined(KV_F16P)
layout(binding = 0) buffer DST { uint cache[]; };
#endif
#include "f16.glsl"

void main() {
    const uint i = gl_GlobalInvocationID.x;
    const uint e0 = pc.dst_off + params.n_past * pc.row;   // first element written
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
