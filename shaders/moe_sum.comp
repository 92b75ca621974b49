#version 450
// moe_sum.comp — the weighted sum of the experts' outputs (backend.h
// MOE_SUM): dst[i, t] += sum over s in order of w_s * src[i, t*k + s].

layout(local_size_x_id = 0) in;

layout(push_constant) uniform PC {
    uint D;         // floats per row
    uint N;         // tokens
    uint k;         // experts per token
    uint s_off;     // float offset of src row 0
    uint r_off;     // float offset of route row 0
    uint d_off;     // float offset of dst row 0
} pc;

layout(binding = 0) buffer DST { float dst[]; };
layout(binding = 1) readonly buffer SRC { float src[]; };
layout(binding = 2) readonly buffer ROUTE { float route[]; };

void main() {
    // a 2-D grid where D * N needs more than 65535 workgroups in x (vk_moe.c)
    const uint g = gl_GlobalInvocationID.y * (gl_NumWorkGroups.x * gl_WorkGroupSize.x) + gl_GlobalInvocationID.x;
    if (g >= pc.D * pc.N) return;
    const uint t = g / pc.D, i = g % pc.D;
    precise float acc = 0.0;
    for (uint s = 0u; s < pc.k; s++)
        acc = acc + route[pc.r_off + t * 2u * pc.k + s] * src[pc.s_off + (t * pc.k + s) * pc.D + i];
    dst[pc.d_off + t * pc.D + i] = dst[pc.d_off + t * pc.D + i] + acc;
}
