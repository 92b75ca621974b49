#version 450
// mm_id_grouped.comp — expert matrix products of a batch (backend.h
// MATMUL_ID) on rows grouped by expert (moe_group.comp): a workgroup takes
// one tile of up to TN dst rows j = t*k + s that chose the same expert e,
// and each invocation K-lane `lane` of TR weight rows of W_e x those TN
// inputs, so a weight block is read once per tile instead of once per row.
// Every output is summed in the canonical order of mm_common.glsl (the
// order of mm_id.comp, which decode uses), so a token's rows have the same
// bits alone and in a batch. A weight split into parts is dispatched once
// per part; outputs whose row lies in another part are left alone.
#extension GL_EXT_control_flow_attributes : require

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint L = 1;   // K-lanes per output (power of two)
layout(constant_id = 2) const uint TR = 1;  // weight rows per invocation
layout(constant_id = 3) const uint TN = 1;  // dst rows per tile

layout(push_constant) uniform PC {
    uint rows;      // rows in this weight part
    uint row0;      // index of the part's first row in the whole matrix
    uint K;         // input features
    uint M;         // rows per expert (floats per dst row)
    uint k;         // experts per token
    uint x_off;     // float offset of the input's row 0
    uint d_off;     // float offset of dst row 0
    uint w_stride;  // weight row stride (see wtypes.glsl)
    uint s_off;     // scale region (uint index)
    uint s_row;     // scale row stride
    uint per_slot;  // 1: input row j, 0: input row t
    uint tile0;     // the tile of workgroup y = 0 (dispatches of at most 65535 tiles)
    uint g_off;     // uint offset of the groups (moe_group.comp's layout) in binding 3
    uint g_list;    // index in the groups of the first list
    uint x_vec4;    // 1: inputs aligned for 16-byte loads
} pc;

#define W_BINDING 1
#define W_STRIDE pc.w_stride
#define W_SOFF pc.s_off
#define W_SROW pc.s_row
#include "wtypes.glsl"

layout(binding = 0) buffer DST { float dst[]; };
layout(binding = 2) readonly buffer XF { float xf[]; };
layout(binding = 2) readonly buffer XF4 { vec4 xf4[]; };
layout(binding = 3) readonly buffer GROUPS { uint g[]; };

#ifdef X_TEXEL
// inputs through a uniform texel buffer (CPU drivers: vector gathers); x_off and K multiples of 4
layout(binding = 5) uniform usamplerBuffer xtex;
vec4 x_group(uint xr, uint kk) { return uintBitsToFloat(texelFetch(xtex, int((pc.x_off + xr * pc.K + kk) >> 2))); }
float x_at(uint xr, uint kk) {
    const uint i = pc.x_off + xr * pc.K + kk;
    const vec4 v = uintBitsToFloat(texelFetch(xtex, int(i >> 2)));
    const uint c = i & 3u;
    return c == 0u ? v.x : c == 1u ? v.y : c == 2u ? v.z : v.w;
}
#else
vec4 x_group(uint xr, uint kk) {
    const uint i = pc.x_off + xr * pc.K + kk;
    if (pc.x_vec4 != 0u) return xf4[i >> 2];
    return vec4(xf[i], xf[i + 1u], xf[i + 2u], xf[i + 3u]);
}
float x_at(uint xr, uint kk) { return xf[pc.x_off + xr * pc.K + kk]; }
#endif

shared float red[gl_WorkGroupSize.x * TR * TN];

void main() {
    const uint tile = pc.tile0 + gl_WorkGroupID.y;
    if (tile >= g[pc.g_off]) return;   // the dispatch covers the most tiles a batch can have
    const uint first = g[pc.g_off + 1u + 2u * tile], packed = g[pc.g_off + 2u + 2u * tile];
    const uint e = packed & 0xffffu, n_rows = packed >> 16;
    const uint per_group = gl_WorkGroupSize.x / L * TR;
    // whole workgroups whose rows all lie in another part of the weight leave at once
    const uint wg_row = e * pc.M + gl_WorkGroupID.x * per_group;
    if (wg_row >= pc.row0 + pc.rows || wg_row + per_group <= pc.row0) return;

    const uint lid = gl_LocalInvocationID.x;
    const uint lane = lid % L;
    const uint o0 = (gl_WorkGroupID.x * (gl_WorkGroupSize.x / L) + lid / L) * TR;

    uint rr[TR];        // part-local weight rows (clamped into the part; stores check)
    bool live[TR];
    [[unroll]] for (uint i = 0; i < TR; i++) {
        const uint row = e * pc.M + min(o0 + i, pc.M - 1u);
        live[i] = o0 + i < pc.M && row >= pc.row0 && row < pc.row0 + pc.rows;
        rr[i] = clamp(row, pc.row0, pc.row0 + pc.rows - 1u) - pc.row0;
    }
    uint jj[TN], xr[TN];
    [[unroll]] for (uint j = 0; j < TN; j++) {
        jj[j] = g[pc.g_off + pc.g_list + first + min(j, n_rows - 1u)];
        xr[j] = pc.per_slot != 0u ? jj[j] : jj[j] / pc.k;
    }

    precise float acc[TR * TN];
    [[unroll]] for (uint o = 0; o < TR * TN; o++) acc[o] = 0.0;

    const uint nb = (pc.K + 31u) / 32u;
    for (uint b = lane; b < nb; b += L) {
        const uint k0 = b * 32u;
        const uint kend = min(k0 + 32u, pc.K);
        W_SCALES ds[TR];
        [[unroll]] for (uint i = 0; i < TR; i++) ds[i] = w_scale(rr[i], b);
#ifdef W_BLOCK_RAW
        w_raw raw[TR];
        [[unroll]] for (uint i = 0; i < TR; i++) raw[i] = w_block_raw(rr[i], b);
#endif
        for (uint h = 0u; h < 2u && k0 + 16u * h < kend; h++) {
            const uint kh = k0 + 16u * h;
            vec4 wv[TR * 4];
            [[unroll]] for (uint i = 0; i < TR; i++) {
                vec4 part[4];
#ifdef W_BLOCK_RAW
                w_half_raw(raw[i], h, ds[i], part);
#else
                w_half(rr[i], b, h, ds[i], part);
#endif
                [[unroll]] for (uint q = 0; q < 4; q++) wv[i * 4 + q] = part[q];
            }
            if (kh + 16u <= kend) {
                [[unroll]] for (uint j = 0; j < TN; j++) {
                    [[unroll]] for (uint q = 0; q < 4; q++) {
                        const vec4 xv = x_group(xr[j], kh + 4u * q);
                        [[unroll]] for (uint i = 0; i < TR; i++) {
                            acc[i * TN + j] = fma(wv[i * 4 + q].x, xv.x, acc[i * TN + j]);
                            acc[i * TN + j] = fma(wv[i * 4 + q].y, xv.y, acc[i * TN + j]);
                            acc[i * TN + j] = fma(wv[i * 4 + q].z, xv.z, acc[i * TN + j]);
                            acc[i * TN + j] = fma(wv[i * 4 + q].w, xv.w, acc[i * TN + j]);
                        }
                    }
                }
            } else {
                // the row's last, partial block (float types): element by element up to K
                for (uint q = 0u; kh + 4u * q < kend; q++) {
                    const uint kk = kh + 4u * q;
                    vec4 wg[TR];
                    [[unroll]] for (uint i = 0; i < TR; i++) wg[i] = w_group(rr[i], b, (kk - k0) / 4u, ds[i]);
                    [[unroll]] for (uint c = 0; c < 4; c++) {
                        if (kk + c < kend) {
                            [[unroll]] for (uint j = 0; j < TN; j++) {
                                const float xs = x_at(xr[j], kk + c);
                                [[unroll]] for (uint i = 0; i < TR; i++)
                                    acc[i * TN + j] = fma(wg[i][c], xs, acc[i * TN + j]);
                            }
                        }
                    }
                }
            }
        }
    }

    if (L > 1u) {
        [[unroll]] for (uint o = 0; o < TR * TN; o++) red[(lid - lane) * TR * TN + o * L + lane] = acc[o];
        barrier();
        [[unroll]] for (uint m = 1u; m < L; m <<= 1) {
            if ((lane & (2u * m - 1u)) == 0u)
                [[unroll]] for (uint o = 0; o < TR * TN; o++) {
                    const uint base = (lid - lane) * TR * TN + o * L + lane;
                    red[base] = red[base] + red[base + m];
                }
            barrier();
        }
        [[unroll]] for (uint o = 0; o < TR * TN; o++) acc[o] = red[(lid - lane) * TR * TN + o * L];
    }
    if (lane != 0u) return;
    [[unroll]] for (uint i = 0; i < TR; i++)
        [[unroll]] for (uint j = 0; j < TN; j++)
            if (live[i] && j < n_rows) dst[pc.d_off + jj[j] * pc.M + o0 + i] = acc[i * TN + j];
}
