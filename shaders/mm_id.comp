#version 450
// mm_id.comp — expert matrix products (backend.h MATMUL_ID): dst row j =
// t*k + s (token t, slot s) gets W_e · x, e the expert route row t names in
// slot s, W_e rows e*M .. e*M + M-1 of the weight (the 3-D expert tensor as
// one matrix). Each output is one (row, dst row) pair computed by L K-lanes
// in the canonical order of mm_common.glsl (blocks of 32 per lane, lanes
// added by the pairwise tree), so a token's rows do not depend on the rest
// of the batch. A weight split into parts is dispatched once per part;
// outputs whose row lies in another part are left alone. Batches (more
// than one token) take mm_id_grouped.comp where the device allows.
#extension GL_EXT_control_flow_attributes : require

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint L = 1;   // K-lanes per output (power of two)

layout(push_constant) uniform PC {
    uint rows;      // rows in this weight part
    uint row0;      // index of the part's first row in the whole matrix
    uint K;         // input features
    uint M;         // rows per expert (floats per dst row)
    uint NK;        // dst rows: tokens * k
    uint k;         // experts per token
    uint x_off;     // float offset of the input's row 0
    uint d_off;     // float offset of dst row 0
    uint r_off;     // float offset of route row 0 (2k floats per token: weights, then ids)
    uint w_stride;  // weight row stride (see wtypes.glsl)
    uint s_off;     // scale region (uint index)
    uint s_row;     // scale row stride
    uint per_slot;  // 1: input row j, 0: input row t
    uint j0;        // dst row of workgroup y = 0 (dispatches of at most 65535 rows)
} pc;

#define W_BINDING 1
#define W_STRIDE pc.w_stride
#define W_SOFF pc.s_off
#define W_SROW pc.s_row
#include "wtypes.glsl"

layout(binding = 0) buffer DST { float dst[]; };
layout(binding = 2) readonly buffer XF { float xf[]; };
layout(binding = 3) readonly buffer ROUTE { float route[]; };

shared float red[gl_WorkGroupSize.x];

void main() {
    const uint lid = gl_LocalInvocationID.x;
    const uint lane = lid % L;
    const uint o = gl_WorkGroupID.x * (gl_WorkGroupSize.x / L) + lid / L;
    const uint j = pc.j0 + gl_WorkGroupID.y;
    const uint t = j / pc.k, s = j % pc.k;
    const uint e = uint(route[pc.r_off + t * 2u * pc.k + pc.k + s]);
    const uint row = e * pc.M + o;
    const bool live = o < pc.M && j < pc.NK && row >= pc.row0 && row < pc.row0 + pc.rows;
    const uint r = live ? row - pc.row0 : 0u;
    const uint xb = pc.x_off + (pc.per_slot != 0u ? j : t) * pc.K;

    precise float acc = 0.0;
    const uint nb = live ? (pc.K + 31u) / 32u : 0u;
    for (uint b = lane; b < nb; b += L) {
        const uint k0 = b * 32u;
        const uint kend = min(k0 + 32u, pc.K);
        const W_SCALES ds = w_scale(r, b);
#ifdef W_BLOCK_RAW
        const w_raw raw = w_block_raw(r, b);
#endif
        for (uint h = 0u; h < 2u && k0 + 16u * h < kend; h++) {
            const uint kh = k0 + 16u * h;
            vec4 wv[4];
#ifdef W_BLOCK_RAW
            w_half_raw(raw, h, ds, wv);
#else
            w_half(r, b, h, ds, wv);
#endif
            if (kh + 16u <= kend) {
                [[unroll]] for (uint g = 0; g < 4; g++) {
                    const uint i = xb + kh + 4u * g;
                    acc = fma(wv[g].x, xf[i], acc);
                    acc = fma(wv[g].y, xf[i + 1u], acc);
                    acc = fma(wv[g].z, xf[i + 2u], acc);
                    acc = fma(wv[g].w, xf[i + 3u], acc);
                }
            } else {
                // the row's last, partial block (float types): element by element up to K
                for (uint g = 0u; kh + 4u * g < kend; g++) {
                    const uint kk = kh + 4u * g;
                    const vec4 wg = w_group(r, b, (kk - k0) / 4u, ds);
                    [[unroll]] for (uint c = 0; c < 4; c++)
                        if (kk + c < kend) acc = fma(wg[c], xf[xb + kk + c], acc);
                }
            }
        }
    }

    if (L > 1u) {
        red[lid] = acc;
        barrier();
        [[unroll]] for (uint m = 1u; m < L; m <<= 1) {
            if ((lane & (2u * m - 1u)) == 0u) red[lid] = red[lid] + red[lid + m];
            barrier();
        }
        acc = red[lid];
    }
    if (lane == 0u && live) dst[pc.d_off + j * pc.M + o] = acc;
}
