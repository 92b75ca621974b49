#version 450
// mm_reg.comp — matrix product with per-invocation register tiles: each
// invocation is K-lane `lane` of a tile of TR rows x TN tokens. With TN = 1
// it is the matrix-vector (decode) kernel; on CPU-type devices (L = 1) it is
// also the matrix-matrix kernel. Lane sums are combined through shared
// memory, or with subgroup shuffle-xor butterflies (-DSG_REDUCE), which add
// the same pairs in the same order (float addition commutes).
#extension GL_EXT_control_flow_attributes : require
#ifdef SG_REDUCE
#extension GL_KHR_shader_subgroup_shuffle : require
#endif

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint L = 1;   // K-lanes per output (power of two)
layout(constant_id = 2) const uint TR = 1;  // rows per invocation
layout(constant_id = 3) const uint TN = 1;  // tokens per invocation

#include "mm_common.glsl"

#ifndef SG_REDUCE
shared float red[gl_WorkGroupSize.x * TR * TN];
#endif

void main() {
    const uint lid = gl_LocalInvocationID.x;
    const uint lane = lid % L;
    const uint tile = gl_WorkGroupID.x * (gl_WorkGroupSize.x / L) + lid / L;
    const uint r0 = tile * TR;
    const uint t0 = gl_WorkGroupID.y * TN;

    uint rr[TR];
    uint tt[TN];
    [[unroll]] for (uint i = 0; i < TR; i++) rr[i] = min(r0 + i, pc.rows - 1u);
    [[unroll]] for (uint j = 0; j < TN; j++) tt[j] = min(t0 + j, pc.N - 1u);

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
            vec4 wv[TR * 4];   // 16 weights of each row, loaded 16 bytes at a time
            [[unroll]] for (uint i = 0; i < TR; i++) {
                vec4 part[4];
#ifdef W_BLOCK_RAW
                w_half_raw(raw[i], h, ds[i], part);
#else
                w_half(rr[i], b, h, ds[i], part);
#endif
                [[unroll]] for (uint g = 0; g < 4; g++) wv[i * 4 + g] = part[g];
            }
            if (kh + 16u <= kend) {
                [[unroll]] for (uint j = 0; j < TN; j++) {
                    [[unroll]] for (uint g = 0; g < 4; g++) {
                        const vec4 xv = x_group(tt[j], kh + 4u * g);
                        [[unroll]] for (uint i = 0; i < TR; i++) {
                            acc[i * TN + j] = fma(wv[i * 4 + g].x, xv.x, acc[i * TN + j]);
                            acc[i * TN + j] = fma(wv[i * 4 + g].y, xv.y, acc[i * TN + j]);
                            acc[i * TN + j] = fma(wv[i * 4 + g].z, xv.z, acc[i * TN + j]);
                            acc[i * TN + j] = fma(wv[i * 4 + g].w, xv.w, acc[i * TN + j]);
                        }
                    }
                }
            } else {
                // the row's last, partial block (float types): element by element up to K
                // (constant indices only: a dynamically indexed array would live in memory)
                for (uint g = 0u; kh + 4u * g < kend; g++) {
                    const uint k = kh + 4u * g;
                    vec4 wg[TR];
                    [[unroll]] for (uint i = 0; i < TR; i++) wg[i] = w_group(rr[i], b, (k - k0) / 4u, ds[i]);
                    [[unroll]] for (uint c = 0; c < 4; c++) {
                        if (k + c < kend) {
                            [[unroll]] for (uint j = 0; j < TN; j++) {
                                const float xs = x_at(tt[j], k + c);
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
#ifdef SG_REDUCE
        // lanes of an output are adjacent invocations of one full subgroup
        [[unroll]] for (uint m = 1u; m < L; m <<= 1)
            [[unroll]] for (uint o = 0; o < TR * TN; o++) acc[o] = acc[o] + subgroupShuffleXor(acc[o], m);
#else
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
#endif
    }
    if (lane != 0u) return;
    [[unroll]] for (uint i = 0; i < TR; i++)
        [[unroll]] for (uint j = 0; j < TN; j++)
            if (r0 + i < pc.rows && t0 + j < pc.N) store_out(r0 + i, t0 + j, acc[i * TN + j]);
}
