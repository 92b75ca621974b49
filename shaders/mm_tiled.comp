#version 450
// mm_tiled.comp — matrix-matrix product with shared-memory tiles (GPUs):
// a workgroup computes TM rows x TN tokens. Each K step stages L blocks of
// 32 (dequantized weights, inputs) in shared memory; K-lane l of every
// output group consumes block l of the step, so lane l sees blocks
// l, l+L, ... in increasing order: the canonical order of mm_common.glsl,
// the same as mm_reg.comp's, hence bit-identical results.
#extension GL_EXT_control_flow_attributes : require

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint L = 4;    // K-lanes
layout(constant_id = 2) const uint TM = 32;  // rows per workgroup
layout(constant_id = 3) const uint TN = 32;  // tokens per workgroup
layout(constant_id = 4) const uint RM = 4;   // rows per invocation
layout(constant_id = 5) const uint RN = 4;   // tokens per invocation
// gl_WorkGroupSize.x must be L * (TM / RM) * (TN / RN)

#include "mm_common.glsl"

const uint KS = L * 32u;            // elements per K step
shared float sw[TM * KS];           // also holds the lane sums at the end (TN <= 32)
shared float sx[TN * KS];

void main() {
    const uint lid = gl_LocalInvocationID.x;
    const uint WG = gl_WorkGroupSize.x;
    const uint lane = lid % L;
    const uint grp = lid / L;
    const uint gr = grp % (TM / RM);    // row group
    const uint gt = grp / (TM / RM);    // token group
    const uint row_base = gl_WorkGroupID.x * TM;
    const uint tok_base = gl_WorkGroupID.y * TN;

    precise float acc[RM * RN];
    [[unroll]] for (uint o = 0; o < RM * RN; o++) acc[o] = 0.0;

    const uint nb = (pc.K + 31u) / 32u;
    for (uint b0 = 0u; b0 < nb; b0 += L) {
        // stage weights: TM rows x L blocks x 8 groups
        for (uint i = lid; i < TM * L * 8u; i += WG) {
            const uint r = i / (L * 8u), rest = i % (L * 8u), lb = rest / 8u, g = rest % 8u;
            const uint b = b0 + lb;
            vec4 v = vec4(0.0);
            if (b < nb && b * 32u + g * 4u < pc.K) {
                const uint row = min(row_base + r, pc.rows - 1u);
                v = w_group(row, b, g, w_scale(row, b));
            }
            const uint s = r * KS + lb * 32u + g * 4u;
            sw[s] = v.x; sw[s + 1u] = v.y; sw[s + 2u] = v.z; sw[s + 3u] = v.w;
        }
        // stage inputs: TN tokens x KS elements
        for (uint i = lid; i < TN * KS; i += WG) {
            const uint t = i / KS, e = i % KS;
            const uint k = b0 * 32u + e;
            sx[i] = k < pc.K ? x_at(min(tok_base + t, pc.N - 1u), k) : 0.0;
        }
        barrier();
        const uint b = b0 + lane;
        if (b < nb) {
            const uint kend = min(32u, pc.K - b * 32u);
            for (uint k = 0u; k < kend; k++) {
                float wv[RM];
                [[unroll]] for (uint i = 0; i < RM; i++) wv[i] = sw[(gr * RM + i) * KS + lane * 32u + k];
                [[unroll]] for (uint j = 0; j < RN; j++) {
                    const float xv = sx[(gt * RN + j) * KS + lane * 32u + k];
                    [[unroll]] for (uint i = 0; i < RM; i++) acc[i * RN + j] = fma(wv[i], xv, acc[i * RN + j]);
                }
            }
        }
        barrier();
    }

    if (L > 1u) {
        // lane sums of output (i, j) of group grp at sw[(grp * RM * RN + o) * L + lane]
        [[unroll]] for (uint o = 0; o < RM * RN; o++) sw[(grp * RM * RN + o) * L + lane] = acc[o];
        barrier();
        [[unroll]] for (uint m = 1u; m < L; m <<= 1) {
            if ((lane & (2u * m - 1u)) == 0u)
                [[unroll]] for (uint o = 0; o < RM * RN; o++) {
                    const uint s = (grp * RM * RN + o) * L + lane;
                    sw[s] = sw[s] + sw[s + m];
                }
            barrier();
        }
        [[unroll]] for (uint o = 0; o < RM * RN; o++) acc[o] = sw[(grp * RM * RN + o) * L];
    }
    if (lane != 0u) return;
    [[unroll]] for (uint i = 0; i < RM; i++)
        [[unroll]] for (uint j = 0; j < RN; j++) {
            const uint r = row_base + gr * RM + i, t = tok_base + gt * RN + j;
            if (r < pc.rows && t < pc.N) store_out(r, t, acc[i * RN + j]);
        }
}
