#version 450
// argmax.comp — index of the largest value of each row (lowest index on
// ties), one workgroup per row. The result does not depend on the order in
// which candidates meet: (value, index) pairs are compared by value, then
// by lower index.
#extension GL_EXT_control_flow_attributes : require
layout(local_size_x_id = 0) in;

layout(push_constant) uniform PC {
    uint ne0, rows;
    uint x_off, d_off;
} pc;

layout(binding = 0) writeonly buffer DST { int dst[]; };
layout(binding = 1) readonly buffer X { float x[]; };

shared float sv[gl_WorkGroupSize.x];
shared uint si[gl_WorkGroupSize.x];

bool better(float v, uint i, float bv, uint bi) { return v > bv || (v == bv && i < bi); }

void main() {
    const uint lid = gl_LocalInvocationID.x, row = gl_WorkGroupID.x;
    const uint base = pc.x_off + row * pc.ne0;
    float bv = -1.0 / 0.0;
    uint bi = 0xffffffffu;
    for (uint i = lid; i < pc.ne0; i += gl_WorkGroupSize.x) {
        const float v = x[base + i];
        if (bi == 0xffffffffu || v > bv) { bv = v; bi = i; }
    }
    sv[lid] = bv;
    si[lid] = bi;
    barrier();
    [[unroll]] for (uint m = gl_WorkGroupSize.x / 2u; m > 0u; m >>= 1) {
        if (lid < m && si[lid + m] != 0xffffffffu &&
            (si[lid] == 0xffffffffu || better(sv[lid + m], si[lid + m], sv[lid], si[lid]))) {
            sv[lid] = sv[lid + m];
            si[lid] = si[lid + m];
        }
        barrier();
    }
    if (lid == 0u) dst[pc.d_off + row] = int(si[0]);
}
