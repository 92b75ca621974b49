// wtypes.glsl — reading repacked weight rows (layouts written by
// engine/backends/vulkan/vk_repack.c), one variant per -DWTYPE_* define.
//
// The including shader defines W_BINDING and the macros W_STRIDE (row
// stride: elements for F32/F16/BF16, blocks of 32 for Q8_0/Q4_0/Q4_1/Q5_0/
// Q5_1/IQ4_NL/IQ4_XS, super-blocks of 256 for Q2_K..Q6_K), W_SOFF (uint index
// of the scale region) and W_SROW (scale row stride: halves for Q8_0/Q4_0/
// IQ4_NL, uints for the others). Rows of
// float types are zero-padded to whole blocks of 32, so that a block can
// always be loaded whole, in 16-byte loads.
//
// The unit of work is a block of 32 elements (K-quant super-blocks hold 8).
// w_scale(r, b) gives what its elements need besides their quants (a
// W_SCALES: vec4 for Q2_K, vec2 for the others):
//   Q8_0, Q4_0, Q5_0, IQ4_NL: (d, -);  Q4_1, Q5_1: (d, -m);
//   Q4_K, Q5_K: (d * scale, dmin * min) of the sub-block;
//   Q3_K, Q6_K: (d * scale) of its two halves of 16;
//   Q2_K: (d * scale, dmin * min) of each half of 16;
//   IQ4_XS: (d * (scale - 32), -);  float types: unused.
// Dequantization is exactly the CPU reference's (engine/format/types.c,
// types_kquants.c): the same f32 operations in the same order, so every
// dequantized value matches it bit for bit.

#extension GL_EXT_control_flow_attributes : enable

layout(binding = W_BINDING) readonly buffer WU { uint wu[]; };
layout(binding = W_BINDING) readonly buffer WU2 { uvec2 wu2[]; };
layout(binding = W_BINDING) readonly buffer WF4 { vec4 wf4[]; };
layout(binding = W_BINDING) readonly buffer WU4 { uvec4 wu4[]; };

#if defined(WTYPE_Q2_K) || defined(WTYPE_Q3_K) || defined(WTYPE_Q4_K) || defined(WTYPE_Q5_K) || defined(WTYPE_Q6_K)
#define W_KQUANT 1
#endif
#if defined(WTYPE_IQ4_NL) || defined(WTYPE_IQ4_XS)
#define W_IQ4 1          // Q4_0's nibble layout, codes into a fixed code book
#endif
#if defined(WTYPE_Q2_K)
#define W_SCALES vec4    // (scale, min) of both halves of a block
#else
#define W_SCALES vec2
#endif
#if defined(WTYPE_Q4_1) || defined(WTYPE_Q5_0) || defined(WTYPE_Q5_1)
#define W_NIBBLE_EXT 1   // Q4_0's nibbles, with a min and/or a fifth bit
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

// Word i of the weight binding: scale records that are 4-byte but not
// 16-byte aligned (Q2_K, IQ4_XS).
uint w_word(uint i) {
#ifdef W_TEXEL
    return W_LOAD16(i >> 2)[i & 3u];
#else
    return wu[i];
#endif
}

// The four bytes of a word as floats (unsigned).
vec4 bytes_u(uint w) { return vec4(w & 0xffu, (w >> 8) & 0xffu, (w >> 16) & 0xffu, w >> 24); }

// Byte k (0..15) of a 16-byte value.
uint byte_of(uvec4 t, uint k) { return (t[k >> 2] >> (8u * (k & 3u))) & 0xffu; }

// K-quant value: scale * q - min, two roundings as in the CPU reference.
vec4 kq_value(vec4 q, vec2 sm) {
    precise vec4 p = sm.x * q;
    precise vec4 v = p - sm.y;
    return v;
}

#ifdef W_IQ4
// ggml's IQ4 code book (kvalues_iq4nl) as 16 signed bytes, 4 per word:
// -127 -104 -83 -65 | -49 -35 -22 -10 | 1 13 25 38 | 53 69 89 113
const uvec4 IQ4_BOOK = uvec4(0xbfad9881u, 0xf6eaddcfu, 0x26190d01u, 0x71594535u);

// The 4 codes (0..15) in the bytes of a word.
uvec4 iq4_codes(uint codes) { return (uvec4(codes) >> uvec4(0u, 8u, 16u, 24u)) & 0xfu; }

// The code book word holding each code's value (byte c & 3 of it), with
// selects only: an array indexed by a variable would go through memory on
// CPU drivers.
uvec4 iq4_book_word(uvec4 c) {
    const bvec4 b2 = notEqual(c & 4u, uvec4(0u)), b3 = notEqual(c & 8u, uvec4(0u));
    return mix(mix(uvec4(IQ4_BOOK.x), uvec4(IQ4_BOOK.y), b2), mix(uvec4(IQ4_BOOK.z), uvec4(IQ4_BOOK.w), b2), b3);
}

// The code book values of the 4 codes in the bytes of a word.
vec4 iq4_values(uint codes) {
    const uvec4 c = iq4_codes(codes);
    return vec4(ivec4(iq4_book_word(c) << (24u - 8u * (c & 3u))) >> 24);   // the code's byte, sign-extended
}

// The same values as 4 signed bytes of a word (mm_q8.comp's integer kernel).
uint iq4_bytes(uint codes) {
    const uvec4 c = iq4_codes(codes);
    const uvec4 b = (iq4_book_word(c) >> (8u * (c & 3u))) & 0xffu;
    return b.x | (b.y << 8) | (b.z << 16) | (b.w << 24);
}
#endif

#ifdef WTYPE_Q3_K
// Q3_K sub-block s's scale (0..15) from the 12 packed bytes: low 4 bits in
// the nibbles of bytes 0-7 (s < 8 low nibble of byte s, else high nibble of
// byte s - 8), top 2 bits in bits 2(s/4).. of byte 8 + s%4; bias 32.
int k3_scale(uvec4 t, uint s) {
    const uint low = s < 8u ? byte_of(t, s) & 0xfu : byte_of(t, s - 8u) >> 4;
    const uint high = (byte_of(t, 8u + (s & 3u)) >> (2u * (s >> 2))) & 3u;
    return int(low | (high << 4)) - 32;
}
#endif

#ifdef W_NIBBLE_EXT
// Block b of row r's 8 scale bytes: (d | m << 16, qh).
uvec2 w_ext(uint r, uint b) {
    const uint s = W_SOFF + r * W_SROW + 2u * b;   // even: W_SOFF and W_SROW are
#ifdef W_TEXEL
    const uvec4 t = W_LOAD16(s >> 2);
    return (s & 2u) != 0u ? t.zw : t.xy;
#else
    return wu2[s >> 1];
#endif
}

// The fifth bits of 4 consecutive values (bits 0..3 of `bits`) moved to
// bit 4 of their bytes.
uint fifth_bits(uint bits) {
    return ((bits & 1u) | ((bits & 2u) << 7) | ((bits & 4u) << 14) | ((bits & 8u) << 21)) << 4;
}

// Values 32b + 16h + 4c .. +3 (c = 0..3) as 4 codes in the bytes of a word:
// nibbles as Q4_0, plus the fifth bit (Q5_0, Q5_1).
uint ext_codes(uint nibbles, uint qh, uint h, uint c) {
#if defined(WTYPE_Q4_1)
    return nibbles;
#else
    return nibbles | fifth_bits((qh >> (16u * h + 4u * c)) & 0xfu);
#endif
}

// A code's value: d * (q - 16) for Q5_0 (one rounding, as the CPU
// reference), d * q + m for Q4_1 and Q5_1 (two, as kq_value with -m).
vec4 ext_value(vec4 q, vec2 sm) {
#if defined(WTYPE_Q5_0)
    return sm.x * (q - 16.0);
#else
    return kq_value(q, sm);
#endif
}
#endif

W_SCALES w_scale(uint r, uint b) {
#ifdef W_NIBBLE_EXT
    const vec2 dm = unpackHalf2x16(w_ext(r, b).x);
    return vec2(dm.x, -dm.y);
#elif defined(WTYPE_Q8_0) || defined(WTYPE_Q4_0) || defined(WTYPE_IQ4_NL)
    const uint s = r * W_SROW + b;
#ifdef W_TEXEL
    const vec2 h = unpackHalf2x16(W_LOAD16((W_SOFF >> 2) + (s >> 3))[(s >> 1) & 3u]);
#else
    const vec2 h = unpackHalf2x16(wu[W_SOFF + (s >> 1)]);
#endif
    return vec2((s & 1u) != 0u ? h.y : h.x, 0.0);
#elif defined(WTYPE_Q4_K) || defined(WTYPE_Q5_K)
    // per super-block: d, dmin (f16), then 12 bytes of 6-bit scales and mins
    const uvec4 t = W_LOAD16(((W_SOFF + r * W_SROW) >> 2) + (b >> 3));
    const vec2 dd = unpackHalf2x16(t.x);
    const uint j = b & 7u;
    uint sc, m;
    if (j < 4u) {
        sc = byte_of(t, 4u + j) & 63u;
        m = byte_of(t, 8u + j) & 63u;
    } else {
        sc = (byte_of(t, 8u + j) & 0x0fu) | ((byte_of(t, j) >> 6) << 4);
        m = (byte_of(t, 8u + j) >> 4) | ((byte_of(t, 4u + j) >> 6) << 4);
    }
    precise float ds = dd.x * float(sc);
    precise float dm = dd.y * float(m);
    return vec2(ds, dm);
#elif defined(WTYPE_Q6_K)
    // per super-block: 16 int8 scales, then d (f16)
    const uint base = ((W_SOFF + r * W_SROW) >> 2) + (b >> 3) * 2u;
    const uvec4 t = W_LOAD16(base);
    const float d = unpackHalf2x16(W_LOAD16(base + 1u).x).x;
    const uint j = b & 7u;
    const int s0 = bitfieldExtract(int(t[j >> 1]), int(16u * (j & 1u)), 8);
    const int s1 = bitfieldExtract(int(t[j >> 1]), int(16u * (j & 1u) + 8u), 8);
    precise float d0 = d * float(s0);
    precise float d1 = d * float(s1);
    return vec2(d0, d1);
#elif defined(WTYPE_Q2_K)
    // per super-block 5 words: 16 scale bytes (low nibble scale, high nibble
    // min of a sub-block of 16), then d, dmin (f16)
    const uint base = W_SOFF + r * W_SROW + (b >> 3) * 5u, j = b & 7u;
    const uint s = (w_word(base + (j >> 1)) >> (16u * (j & 1u))) & 0xffffu;   // sub-blocks 2j, 2j + 1
    const vec2 dd = unpackHalf2x16(w_word(base + 4u));
    precise float dl0 = dd.x * float(s & 0xfu);
    precise float ml0 = dd.y * float((s >> 4) & 0xfu);
    precise float dl1 = dd.x * float((s >> 8) & 0xfu);
    precise float ml1 = dd.y * float(s >> 12);
    return vec4(dl0, ml0, dl1, ml1);
#elif defined(WTYPE_Q3_K)
    // per super-block 16 bytes: 12 bytes of packed 6-bit scales, d (f16), 2 of padding
    const uvec4 t = W_LOAD16(((W_SOFF + r * W_SROW) >> 2) + (b >> 3));
    const float d = unpackHalf2x16(t.w).x;
    const uint j = b & 7u;
    precise float d0 = d * float(k3_scale(t, 2u * j));
    precise float d1 = d * float(k3_scale(t, 2u * j + 1u));
    return vec2(d0, d1);
#elif defined(WTYPE_IQ4_XS)
    // per super-block 2 words: d (f16), scales_h (2 bits per sub-block); 4 bytes of scales_l (nibbles)
    const uint base = W_SOFF + r * W_SROW + (b >> 3) * 2u, j = b & 7u;
    const uint w0 = w_word(base), w1 = w_word(base + 1u);
    const uint ls = ((w1 >> (4u * j)) & 0xfu) | (((w0 >> (16u + 2u * j)) & 3u) << 4);
    precise float dl = unpackHalf2x16(w0).x * float(int(ls) - 32);
    return vec2(dl, 0.0);
#else
    return vec2(1.0, 0.0);
#endif
}

// The 16 quants of half h of block b of row r, as 4 words of 4 bytes.
#if defined(WTYPE_Q2_K)
uvec4 kq_half(uint r, uint b, uint h) {
    // 64 bytes per super-block; block j: bits 2(j%4)..+1 of bytes 32(j/4) ..+31
    const uint j = b & 7u;
    return (W_LOAD16((r * W_STRIDE + (b >> 3)) * 4u + (j >> 2) * 2u + h) >> (2u * (j & 3u))) & 0x03030303u;
}
#elif defined(WTYPE_Q3_K)
uvec4 kq_half(uint r, uint b, uint h) {
    // 64 bytes of low bits as Q2_K, then 32 of hmask: the third bit of block j's element l is bit j of hmask[l]
    const uint j = b & 7u, base = (r * W_STRIDE + (b >> 3)) * 6u;
    const uvec4 lo = (W_LOAD16(base + (j >> 2) * 2u + h) >> (2u * (j & 3u))) & 0x03030303u;
    const uvec4 hi = (W_LOAD16(base + 4u + h) >> j) & 0x01010101u;
    return lo | (hi << 2);
}
#elif defined(WTYPE_Q4_K)
uvec4 kq_half(uint r, uint b, uint h) {
    const uint j = b & 7u;   // sub-block: low nibbles of 32 bytes for even j, high for odd
    return (W_LOAD16((r * W_STRIDE + (b >> 3)) * 8u + (j >> 1) * 2u + h) >> (4u * (j & 1u))) & 0x0f0f0f0fu;
}
#elif defined(WTYPE_Q5_K)
uvec4 kq_half(uint r, uint b, uint h) {
    const uint j = b & 7u, base = (r * W_STRIDE + (b >> 3)) * 10u;   // 128 bytes of nibbles, 32 of fifth bits
    const uvec4 lo = (W_LOAD16(base + (j >> 1) * 2u + h) >> (4u * (j & 1u))) & 0x0f0f0f0fu;
    const uvec4 hi = (W_LOAD16(base + 8u + h) >> j) & 0x01010101u;
    return lo | (hi << 4);
}
#elif defined(WTYPE_Q6_K)
uvec4 kq_half(uint r, uint b, uint h) {
    const uint j = b & 7u, half_ = j >> 2, g = j & 3u, base = (r * W_STRIDE + (b >> 3)) * 12u;
    const uvec4 lo = (W_LOAD16(base + 4u * half_ + 2u * (g & 1u) + h) >> (4u * (g >> 1))) & 0x0f0f0f0fu;
    const uvec4 hi = (W_LOAD16(base + 8u + 2u * half_ + h) >> (2u * g)) & 0x03030303u;
    return lo | (hi << 4);
}
#endif

// Elements 32*b + 4*g .. +3 of row r, dequantized with the block's scales.
vec4 w_group(uint r, uint b, uint g, W_SCALES sm) {
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
    return sm.x * q;
#elif defined(WTYPE_Q4_0)
    // 16 bytes per block: byte j holds element j (low nibble) and j + 16 (high)
    uint w = wu[(r * W_STRIDE + b) * 4u + (g & 3u)];
    uvec4 n = (uvec4(w) >> (uvec4(0u, 8u, 16u, 24u) + (g >> 2) * 4u)) & 0xFu;
    return sm.x * (vec4(n) - 8.0);
#elif defined(W_NIBBLE_EXT)
    const uint w = (W_LOAD16(r * W_STRIDE + b)[g & 3u] >> (4u * (g >> 2))) & 0x0f0f0f0fu;
    return ext_value(bytes_u(ext_codes(w, w_ext(r, b).y, g >> 2, g & 3u)), sm);
#elif defined(W_IQ4)
    const uint w = (W_LOAD16(r * W_STRIDE + b)[g & 3u] >> (4u * (g >> 2))) & 0x0f0f0f0fu;
    return sm.x * iq4_values(w);
#elif defined(WTYPE_Q2_K)
    return kq_value(bytes_u(kq_half(r, b, g >> 2)[g & 3u]), (g >> 2) != 0u ? sm.zw : sm.xy);
#elif defined(WTYPE_Q3_K)
    return ((g >> 2) != 0u ? sm.y : sm.x) * (bytes_u(kq_half(r, b, g >> 2)[g & 3u]) - 4.0);
#elif defined(WTYPE_Q4_K) || defined(WTYPE_Q5_K)
    return kq_value(bytes_u(kq_half(r, b, g >> 2)[g & 3u]), sm);
#elif defined(WTYPE_Q6_K)
    return ((g >> 2) != 0u ? sm.y : sm.x) * (bytes_u(kq_half(r, b, g >> 2)[g & 3u]) - 32.0);
#else
#error "wtypes.glsl: no WTYPE_* defined"
#endif
}

#if defined(WTYPE_Q4_0) || defined(W_NIBBLE_EXT) || defined(W_IQ4)
// Nibble types keep both halves of a block in one 16-byte load (and the
// fifth bits in one word): callers load a block once (w_block_raw) and take
// the halves from it.
#define W_BLOCK_RAW 1
struct w_raw {
    uvec4 q;    // the 16 nibble bytes
    uint qh;    // the fifth bits (Q5_0, Q5_1)
};
w_raw w_block_raw(uint r, uint b) {
#ifdef W_NIBBLE_EXT
    return w_raw(W_LOAD16(r * W_STRIDE + b), w_ext(r, b).y);
#else
    return w_raw(W_LOAD16(r * W_STRIDE + b), 0u);
#endif
}
void w_half_raw(w_raw raw, uint h, vec2 sm, out vec4 v[4]) {
    const uvec4 q = (raw.q >> (h * 4u)) & 0x0f0f0f0fu;
#ifdef W_NIBBLE_EXT
    [[unroll]] for (uint c = 0u; c < 4u; c++) v[c] = ext_value(bytes_u(ext_codes(q[c], raw.qh, h, c)), sm);
#elif defined(W_IQ4)
    [[unroll]] for (uint c = 0u; c < 4u; c++) v[c] = sm.x * iq4_values(q[c]);
#else
    // d * (n - 8) rounded once equals fma(d, n, -8 d) rounded once (-8 d is exact): one
    // operation fewer per weight, the same bits as w_group()
    const float m8 = -8.0 * sm.x;
    [[unroll]] for (uint c = 0u; c < 4u; c++) v[c] = fma(vec4(sm.x), bytes_u(q[c]), vec4(m8));
#endif
}
#endif

#ifndef W_BLOCK_RAW
// Elements 32*b + 16*h .. +15 of row r (h = 0, 1), dequantized, read with
// 16-byte loads: the same values as w_group(). (Nibble types: w_half_raw.)
void w_half(uint r, uint b, uint h, W_SCALES sm, out vec4 v[4]) {
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
        v[c] = sm.x * vec4(bitfieldExtract(q[c], 0, 8), bitfieldExtract(q[c], 8, 8), bitfieldExtract(q[c], 16, 8),
                           bitfieldExtract(q[c], 24, 8));
#elif defined(WTYPE_Q4_K) || defined(WTYPE_Q5_K)
    const uvec4 q = kq_half(r, b, h);
    [[unroll]] for (uint c = 0u; c < 4u; c++) v[c] = kq_value(bytes_u(q[c]), sm);
#elif defined(WTYPE_Q6_K)
    const uvec4 q = kq_half(r, b, h);
    const float d = h != 0u ? sm.y : sm.x;
    [[unroll]] for (uint c = 0u; c < 4u; c++) v[c] = d * (bytes_u(q[c]) - 32.0);
#elif defined(WTYPE_Q3_K)
    const uvec4 q = kq_half(r, b, h);
    const float d = h != 0u ? sm.y : sm.x;
    [[unroll]] for (uint c = 0u; c < 4u; c++) v[c] = d * (bytes_u(q[c]) - 4.0);
#elif defined(WTYPE_Q2_K)
    const uvec4 q = kq_half(r, b, h);
    const vec2 s = h != 0u ? sm.zw : sm.xy;
    [[unroll]] for (uint c = 0u; c < 4u; c++) v[c] = kq_value(bytes_u(q[c]), s);
#endif
}
#endif
