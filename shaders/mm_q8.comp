#version 450
// mm_q8.comp — matrix product of Q4_0 / Q8_0 / Q2_K..Q6_K / IQ4_NL / IQ4_XS weights with activations
// quantized to 8 bits per block of 32 (q8_act.comp), in integer arithmetic,
// for CPU-type devices (llvmpipe: each invocation is one lane of an 8-wide
// SIMD vector; there is no integer dot instruction that glslc can emit).
// Register tiles of TR rows x TN tokens, whole rows per invocation (no
// K-lanes); TN = 1 is the matrix-vector kernel. Weights through the texel
// view W_TEXEL, quantized activations through the texel view at binding 5.
//
// Two 8-bit products per 32-bit multiply: a weight pair (w_a, w_b) packed as
// E = w_a + w_b 2^16 times an activation pair packed as X = x_b + x_a 2^16
// gives, mod 2^32, L + M 2^16 with M = w_a x_a + w_b x_b (the wanted dot) and
// L = w_a x_b. While |L| < 2^15 and |M| < 2^15 (sums of such products
// included), M = (T + 2^15) >> 16 exactly (arithmetic shift):
// - Q4_0 and Q4_K codes n in [0, 15], |x| <= 127: 8 products (16 elements) give
//   |M| <= 16 * 15 * 127 = 30480 and |L| <= 8 * 15 * 127 = 15240; Q2_K and
//   Q3_K codes (0..3, 0..7) less; the two halves of 16 of a block are summed
//   apart, as their scales differ; Q5_K codes (0..31) are taken apart every
//   8 elements (|M| <= 31496), Q6_K's (0..63) every 4 (|M| <= 32004);
// - Q8_0 weights |w| <= 128: one product gives |M| <= 2 * 128 * 127 = 32512,
//   |L| <= 16256, so each product is taken apart on its own; so are IQ4_NL's
//   and IQ4_XS's, their codes' code book values (|T| <= 127).
// A block's integer sum is exact; it is scaled into the f32 accumulator as
// acc = fma(d_w * d_x, float(sum), acc) (Q4_K: then acc = fma(-(dmin_w * d_x),
// float(sum of x codes), acc); Q5_K as Q4_K); Q2_K, Q3_K and Q6_K first combine their halves'
// sums with the 4-, 6- or 8-bit integer scales and mins into one exact integer
// per block (Q3_K: scale (s - 32) times sum (q - 4) x; Q6_K: scale times
// sum (q - 32) x; Q2_K: sum sc q x, then
// the min term sum m x through the halves' code sums, as Q4_K's), scaled by
// d_w d_x (and dmin_w d_x). Blocks in increasing order: one
// order for every batch size (the matrix-vector and matrix-matrix dispatches
// give the same bits for a token).
#extension GL_EXT_control_flow_attributes : require

layout(local_size_x_id = 0) in;
layout(constant_id = 2) const uint TR = 1;  // rows per invocation
layout(constant_id = 3) const uint TN = 1;  // tokens per invocation

// pc.x_off: here the word offset of the activations' scale region in xq
#include "mm_common.glsl"

uint xword(uvec4 xv[4], uint w) { return xv[w >> 2][w & 3u]; }

#if defined(WTYPE_Q4_0)
// Sum of (n - 8) x over a block: low nibbles are elements 0..15, high 16..31.
int block_dot(uvec4 q0, uvec4 q1, uvec4 xv[4], int xsum) {
    uint lo = 0u, hi = 0u;
    [[unroll]] for (uint c = 0u; c < 4u; c++) {
        const uint w = q0[c];
        lo += (w & 0x000f000fu) * xword(xv, 2u * c) + ((w >> 8) & 0x000f000fu) * xword(xv, 2u * c + 1u);
        hi += ((w >> 4) & 0x000f000fu) * xword(xv, 8u + 2u * c) + ((w >> 12) & 0x000f000fu) * xword(xv, 9u + 2u * c);
    }
    return (int(lo + 0x8000u) >> 16) + (int(hi + 0x8000u) >> 16) - 8 * xsum;
}
#elif defined(WTYPE_Q4_K)
// Sum of n x over a sub-block of 32: its halves' codes as bytes (kq_half), in
// q0 (elements 0..15) and q1 (16..31).
int block_dot(uvec4 q0, uvec4 q1, uvec4 xv[4], int xsum) {
    uint lo = 0u, hi = 0u;
    [[unroll]] for (uint c = 0u; c < 4u; c++) {
        lo += (q0[c] & 0x00ff00ffu) * xword(xv, 2u * c) + ((q0[c] >> 8) & 0x00ff00ffu) * xword(xv, 2u * c + 1u);
        hi += (q1[c] & 0x00ff00ffu) * xword(xv, 8u + 2u * c) + ((q1[c] >> 8) & 0x00ff00ffu) * xword(xv, 9u + 2u * c);
    }
    return (int(lo + 0x8000u) >> 16) + (int(hi + 0x8000u) >> 16);
}
#elif defined(WTYPE_Q5_K)
// Q4_K's sum with codes up to 31: taken apart every 4 products (8 elements).
int block_dot(uvec4 q0, uvec4 q1, uvec4 xv[4], int xsum) {
    uint lo0 = 0u, lo1 = 0u, hi0 = 0u, hi1 = 0u;
    [[unroll]] for (uint c = 0u; c < 2u; c++) {
        lo0 += (q0[c] & 0x00ff00ffu) * xword(xv, 2u * c) + ((q0[c] >> 8) & 0x00ff00ffu) * xword(xv, 2u * c + 1u);
        hi0 += (q1[c] & 0x00ff00ffu) * xword(xv, 8u + 2u * c) + ((q1[c] >> 8) & 0x00ff00ffu) * xword(xv, 9u + 2u * c);
    }
    [[unroll]] for (uint c = 2u; c < 4u; c++) {
        lo1 += (q0[c] & 0x00ff00ffu) * xword(xv, 2u * c) + ((q0[c] >> 8) & 0x00ff00ffu) * xword(xv, 2u * c + 1u);
        hi1 += (q1[c] & 0x00ff00ffu) * xword(xv, 8u + 2u * c) + ((q1[c] >> 8) & 0x00ff00ffu) * xword(xv, 9u + 2u * c);
    }
    return (int(lo0 + 0x8000u) >> 16) + (int(lo1 + 0x8000u) >> 16) + (int(hi0 + 0x8000u) >> 16) +
           (int(hi1 + 0x8000u) >> 16);
}
#elif defined(WTYPE_Q2_K) || defined(WTYPE_Q3_K) || defined(WTYPE_Q6_K)
#define W_KINT 1   // 16-value halves with integer scales
#ifdef WTYPE_Q6_K
const uint HALF_STEP = 1u;   // words per extraction: 2 products, codes up to 63
#else
const uint HALF_STEP = 4u;   // the whole half at once
#endif
// Sums of n x over each half of 16 of a block (codes as bytes, kq_half).
ivec2 half_dots(uvec4 q0, uvec4 q1, uvec4 xv[4]) {
    int lo = 0, hi = 0;
    [[unroll]] for (uint c0 = 0u; c0 < 4u; c0 += HALF_STEP) {
        uint tl = 0u, th = 0u;
        [[unroll]] for (uint k = 0u; k < HALF_STEP; k++) {   // constant bounds: unrolled whole
            const uint c = c0 + k;
            tl += (q0[c] & 0x00ff00ffu) * xword(xv, 2u * c) + ((q0[c] >> 8) & 0x00ff00ffu) * xword(xv, 2u * c + 1u);
            th += (q1[c] & 0x00ff00ffu) * xword(xv, 8u + 2u * c) + ((q1[c] >> 8) & 0x00ff00ffu) * xword(xv, 9u + 2u * c);
        }
        lo += int(tl + 0x8000u) >> 16;
        hi += int(th + 0x8000u) >> 16;
    }
    return ivec2(lo, hi);
}

// The sums of x codes over the two halves of 16 of a block (xsum: the
// block's): the first half's 8 pair words summed hold (sum of low halves) +
// (sum of high halves) 2^16, each within +-8 * 127, so both come apart exactly.
ivec2 half_xsums(uvec4 xv[4], int xsum) {
    const uvec4 v = xv[0] + xv[1];
    const uint t = v.x + v.y + v.z + v.w;
    const int x0 = (int(t + 0x8000u) >> 16) + (int(t << 16) >> 16);
    return ivec2(x0, xsum - x0);
}

// Per row and block: (d, dmin) of the super-block in dw, and the halves'
// integer scales in sc: Q2_K (scale 0, min 0, scale 1, min 1), Q3_K (scale 0 - 32, scale 1 - 32, -, -).
void int_scales(uint r, uint b, out vec2 dw, out ivec4 sc) {
#if defined(WTYPE_Q2_K)
    // 5 words per super-block: 16 bytes (low nibble scale, high nibble min of a half), then d, dmin (f16)
    const uint base = W_SOFF + r * W_SROW + (b >> 3) * 5u, j = b & 7u;
    const uint s = (w_word(base + (j >> 1)) >> (16u * (j & 1u))) & 0xffffu;
    dw = unpackHalf2x16(w_word(base + 4u));
    sc = ivec4(s & 0xfu, (s >> 4) & 0xfu, (s >> 8) & 0xfu, s >> 12);
#elif defined(WTYPE_Q6_K)
    // per super-block 2 records of 16 bytes: 16 int8 scales, then d (f16)
    const uint base = ((W_SOFF + r * W_SROW) >> 2) + (b >> 3) * 2u, j = b & 7u;
    const int w = int(W_LOAD16(base)[j >> 1]);
    dw = vec2(unpackHalf2x16(W_LOAD16(base + 1u).x).x, 0.0);
    sc = ivec4(bitfieldExtract(w, int(16u * (j & 1u)), 8), bitfieldExtract(w, int(16u * (j & 1u) + 8u), 8), 0, 0);
#else
    // 16 bytes per super-block: 12 of packed 6-bit scales, d (f16), padding
    const uvec4 t = W_LOAD16(((W_SOFF + r * W_SROW) >> 2) + (b >> 3));
    dw = vec2(unpackHalf2x16(t.w).x, 0.0);
    const uint j = b & 7u;
    sc = ivec4(k3_scale(t, 2u * j), k3_scale(t, 2u * j + 1u), 0, 0);
#endif
}

// The block's exact integer sums: (sum of scale x code x activation, sum of
// min x activation); xh: the halves' activation code sums (half_xsums).
ivec2 block_int(uvec4 q0, uvec4 q1, uvec4 xv[4], ivec2 xh, ivec4 sc) {
    const ivec2 s = half_dots(q0, q1, xv);
#if defined(WTYPE_Q2_K)
    return ivec2(sc.x * s.x + sc.z * s.y, sc.y * xh.x + sc.w * xh.y);
#elif defined(WTYPE_Q3_K)
    return ivec2(sc.x * (s.x - 4 * xh.x) + sc.y * (s.y - 4 * xh.y), 0);   // codes q stand for q - 4
#else
    return ivec2(sc.x * (s.x - 32 * xh.x) + sc.y * (s.y - 32 * xh.y), 0);   // q - 32: |sum| < 2^24
#endif
}
#elif defined(WTYPE_Q8_0) || defined(W_IQ4)
// Signed weight bytes: elements 0..15 in q0, 16..31 in q1 (IQ4: the codes' code book values).
int block_dot(uvec4 q0, uvec4 q1, uvec4 xv[4], int xsum) {
    int s = 0;
    [[unroll]] for (uint c = 0u; c < 8u; c++) {
        // signed byte pairs: ((b ^ 0x80) & 0xff) - 0x80 per half, borrows included
        const uint w = (c < 4u ? q0[c] : q1[c - 4u]) ^ 0x80808080u;
        const uint e = (w & 0x00ff00ffu) - 0x00800080u, o = ((w >> 8) & 0x00ff00ffu) - 0x00800080u;
        s += (int(e * xword(xv, 2u * c) + 0x8000u) >> 16) + (int(o * xword(xv, 2u * c + 1u) + 0x8000u) >> 16);
    }
    return s;
}
#else
#error "mm_q8.comp: Q4_0, Q8_0, Q2_K..Q6_K, IQ4_NL or IQ4_XS only"
#endif

void main() {
    const uint r0 = gl_GlobalInvocationID.x * TR;
    const uint t0 = gl_WorkGroupID.y * TN;
    uint rr[TR];
    uint tt[TN];
    [[unroll]] for (uint i = 0; i < TR; i++) rr[i] = min(r0 + i, pc.rows - 1u);
    [[unroll]] for (uint j = 0; j < TN; j++) tt[j] = min(t0 + j, pc.N - 1u);

    precise float acc[TR * TN];
    [[unroll]] for (uint o = 0; o < TR * TN; o++) acc[o] = 0.0;

    const uint nb = pc.K / 32u;
    for (uint b = 0u; b < nb; b++) {
        vec2 dw[TR];
        uvec4 q0[TR], q1[TR];
#ifdef W_KINT
        ivec4 isc[TR];
#endif
        [[unroll]] for (uint i = 0; i < TR; i++) {
#ifdef W_KINT
            int_scales(rr[i], b, dw[i], isc[i]);
#else
            dw[i] = w_scale(rr[i], b);
#endif
#if defined(WTYPE_Q4_K) || defined(WTYPE_Q5_K) || defined(W_KINT)
            q0[i] = kq_half(rr[i], b, 0u);
            q1[i] = kq_half(rr[i], b, 1u);
#elif defined(WTYPE_Q4_0)
            q0[i] = W_LOAD16(rr[i] * W_STRIDE + b);
            q1[i] = q0[i];
#elif defined(W_IQ4)
            // looked up once per row and block, not per token
            const uvec4 codes = W_LOAD16(rr[i] * W_STRIDE + b);
            [[unroll]] for (uint c = 0u; c < 4u; c++) {
                q0[i][c] = iq4_bytes(codes[c] & 0x0f0f0f0fu);
                q1[i][c] = iq4_bytes((codes[c] >> 4) & 0x0f0f0f0fu);
            }
#else
            q0[i] = W_LOAD16((rr[i] * W_STRIDE + b) * 2u);
            q1[i] = W_LOAD16((rr[i] * W_STRIDE + b) * 2u + 1u);
#endif
        }
        [[unroll]] for (uint j = 0; j < TN; j++) {
            const uint xb = tt[j] * nb + b;
            uvec4 xv[4];
            [[unroll]] for (uint g = 0; g < 4; g++) xv[g] = texelFetch(xtex, int(xb * 4u + g));
            const uvec4 sc = texelFetch(xtex, int((pc.x_off >> 2) + (xb >> 1)));
            const uvec2 ds = (xb & 1u) != 0u ? sc.zw : sc.xy;
            const float dx = uintBitsToFloat(ds.x);
#ifdef W_KINT
            const ivec2 xhalf = half_xsums(xv, int(ds.y));   // once per token, for all TR rows
#endif
            [[unroll]] for (uint i = 0; i < TR; i++) {
#ifdef W_KINT
                const ivec2 s = block_int(q0[i], q1[i], xv, xhalf, isc[i]);
#else
                const ivec2 s = ivec2(block_dot(q0[i], q1[i], xv, int(ds.y)), int(ds.y));
#endif
                precise float scale = dw[i].x * dx;
                acc[i * TN + j] = fma(scale, float(s.x), acc[i * TN + j]);
#if defined(WTYPE_Q4_K) || defined(WTYPE_Q5_K) || defined(WTYPE_Q2_K)
                precise float mins = dw[i].y * dx;
                acc[i * TN + j] = fma(-mins, float(s.y), acc[i * TN + j]);
#endif
            }
        }
    }
    [[unroll]] for (uint i = 0; i < TR; i++)
        [[unroll]] for (uint j = 0; j < TN; j++)
            if (r0 + i < pc.rows && t0 + j < pc.N) store_out(r0 + i, t0 + j, acc[i * TN + j]);
}
