// mm_common.glsl — what both matrix kernels (mm_reg.comp, mm_tiled.comp)
// share: push constants, activation loads, the lane-tree order and the
// final store (bias, residual accumulate).
//
// THE CANONICAL REDUCTION ORDER (identical in every matrix kernel of a
// device, so that a row·token product has the same bits whether computed
// alone or inside a batch): K is cut into blocks of 32 (the last one may be
// partial for float types); K-lane l (0 <= l < L, L a specialization
// constant per device) accumulates the blocks b = l, l+L, l+2L, ... in
// increasing order, element by element in increasing k, as
// acc = fma(w_k, x_k, acc) with w_k the dequantized weight; then the L lane
// sums are added by a fixed pairwise tree: level m = 1, 2, 4, ...:
// s[l] = s[l] + s[l + m] for l a multiple of 2m. Then + bias, then
// dst_old + value when accumulating.

layout(push_constant) uniform PC {
    uint rows;      // rows in this weight part (dispatch covers them)
    uint row0;      // index of the part's first row in the whole matrix
    uint K;         // input features
    uint N;         // tokens
    uint x_off;     // float offset of token 0's input row
    uint d_off;     // float offset of dst (token 0, row 0 of the whole matrix)
    uint d_stride;  // floats per dst row (rows of the whole matrix)
    uint b_off;     // float offset of the bias (row 0)
    uint w_stride;  // weight row stride (see wtypes.glsl)
    uint s_off;     // scale region (uint index)
    uint s_row;     // scale row stride in halves
    uint flags;     // F_* below
} pc;

#define F_BIAS 1u
#define F_ACCUMULATE 2u
#define F_X_VEC4 4u

#define W_BINDING 1
#define W_STRIDE pc.w_stride
#define W_SOFF pc.s_off
#define W_SROW pc.s_row
#include "wtypes.glsl"

layout(binding = 0) buffer DST { float dst[]; };
layout(binding = 2) readonly buffer XF { float xf[]; };
layout(binding = 2) readonly buffer XF4 { vec4 xf4[]; };
layout(binding = 3) readonly buffer BIAS { float bias[]; };

#ifdef X_TEXEL
// Inputs through a uniform texel buffer (R32G32B32A32_UINT view of the
// activations): on CPU drivers (llvmpipe) texel fetches are vector gathers
// while storage-buffer loads go lane by lane. Needs x_off and K multiples of 4.
layout(binding = 5) uniform usamplerBuffer xtex;
vec4 x_group(uint t, uint k) { return uintBitsToFloat(texelFetch(xtex, int((pc.x_off + t * pc.K + k) >> 2))); }
float x_at(uint t, uint k) {
    const uint i = pc.x_off + t * pc.K + k;
    const vec4 v = uintBitsToFloat(texelFetch(xtex, int(i >> 2)));
    const uint c = i & 3u;
    return c == 0u ? v.x : c == 1u ? v.y : c == 2u ? v.z : v.w;
}
#else
// Input elements k..k+3 of token t (k + 4 <= K).
vec4 x_group(uint t, uint k) {
    uint i = pc.x_off + t * pc.K + k;
    if ((pc.flags & F_X_VEC4) != 0u) return xf4[i >> 2];
    return vec4(xf[i], xf[i + 1u], xf[i + 2u], xf[i + 3u]);
}

float x_at(uint t, uint k) { return xf[pc.x_off + t * pc.K + k]; }
#endif

// Part-local row r, token t: adds the bias and the old value as asked.
void store_out(uint r, uint t, float sum) {
    uint row = pc.row0 + r;
    precise float v = sum;
    if ((pc.flags & F_BIAS) != 0u) v = v + bias[pc.b_off + row];
    uint i = pc.d_off + t * pc.d_stride + row;
    if ((pc.flags & F_ACCUMULATE) != 0u) v = dst[i] + v;
    dst[i] = v;
}
