#version 450
// mm_cm_nv.comp — matrix product on NVIDIA tensor cores through
// GL_NV_cooperative_matrix: f16 inputs (dequantized weights and activations
// rounded to f16), f32 accumulation, 16x16x16 steps. A workgroup of four
// subgroups (SGS invocations each) computes 64 rows x 32 tokens; K advances
// one 32-element block at a time, in increasing order, for every batch size,
// so results do not depend on how tokens are batched. Used for every matrix
// product (decode included) on devices where it is enabled.
// (GL_KHR_cooperative_matrix would be the portable spelling; Debian 12's
// glslc cannot compile it, see docs/vulkan.md.)
#extension GL_EXT_control_flow_attributes : require
#extension GL_NV_cooperative_matrix : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_KHR_shader_subgroup_basic : require

layout(local_size_x_id = 0) in;       // 4 * subgroup size
#include "mm_common.glsl"

const uint TM = 64u, TN = 32u;
shared float16_t swh[TM * 32u];       // [row][k]
shared float16_t sxh[TN * 32u];       // [token][k]
shared float sout[TM * TN];           // [token][row]

void main() {
    const uint lid = gl_LocalInvocationID.x;
    const uint WG = gl_WorkGroupSize.x;
    const uint sg = gl_SubgroupID;
    const uint row_base = gl_WorkGroupID.x * TM;
    const uint tok_base = gl_WorkGroupID.y * TN;

    fcoopmatNV<32, gl_ScopeSubgroup, 16, 16> c0 = fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>(0.0);
    fcoopmatNV<32, gl_ScopeSubgroup, 16, 16> c1 = fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>(0.0);

    const uint nb = (pc.K + 31u) / 32u;
    for (uint b = 0u; b < nb; b++) {
        for (uint i = lid; i < TM * 8u; i += WG) {
            const uint r = i / 8u, g = i % 8u;
            vec4 v = vec4(0.0);
            if (b * 32u + g * 4u < pc.K) {
                const uint row = min(row_base + r, pc.rows - 1u);
                v = w_group(row, b, g, w_scale(row, b));
            }
            const uint s = r * 32u + g * 4u;
            swh[s] = float16_t(v.x); swh[s + 1u] = float16_t(v.y);
            swh[s + 2u] = float16_t(v.z); swh[s + 3u] = float16_t(v.w);
        }
        for (uint i = lid; i < TN * 32u; i += WG) {
            const uint t = i / 32u, k = b * 32u + i % 32u;
            sxh[i] = float16_t(k < pc.K ? x_at(min(tok_base + t, pc.N - 1u), k) : 0.0);
        }
        barrier();
        [[unroll]] for (uint kk = 0u; kk < 32u; kk += 16u) {
            fcoopmatNV<16, gl_ScopeSubgroup, 16, 16> a;
            fcoopmatNV<16, gl_ScopeSubgroup, 16, 16> b0;
            fcoopmatNV<16, gl_ScopeSubgroup, 16, 16> b1;
            coopMatLoadNV(a, swh, sg * 16u * 32u + kk, 32u, false);
            coopMatLoadNV(b0, sxh, kk, 32u, true);
            coopMatLoadNV(b1, sxh, 16u * 32u + kk, 32u, true);
            c0 = coopMatMulAddNV(a, b0, c0);
            c1 = coopMatMulAddNV(a, b1, c1);
        }
        barrier();
    }
    coopMatStoreNV(c0, sout, sg * 16u, TM, true);
    coopMatStoreNV(c1, sout, 16u * TM + sg * 16u, TM, true);
    barrier();
    for (uint i = lid; i < TM * TN; i += WG) {
        const uint t = i / TM, r = i % TM;
        if (row_base + r < pc.rows && tok_base + t < pc.N) store_out(row_base + r, tok_base + t, sout[i]);
    }
}
