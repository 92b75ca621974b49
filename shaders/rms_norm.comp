#version 450
// rms_norm.comp — dst = x / sqrt(mean(x^2) + eps) * w per row. RT threads
// share a row (RT = 1 on CPU-type devices: one invocation per row); thread
// i sums elements i, i+RT, ... in order, then a fixed pairwise tree. The
// order depends only on RT, never on the number of rows. May run in place.
#extension GL_EXT_control_flow_attributes : require
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint RT = 1;

layout(push_constant) uniform PC {
    uint ne0, rows;
    uint x_off, d_off, w_off;
    float eps;
} pc;

layout(binding = 0) buffer DST { float dst[]; };
layout(binding = 1) readonly buffer X { float x[]; };
layout(binding = 2) readonly buffer W { float w[]; };

shared float red[gl_WorkGroupSize.x];

void main() {
    const uint lid = gl_LocalInvocationID.x;
    const uint lt = lid % RT;
    const uint row = gl_WorkGroupID.x * (gl_WorkGroupSize.x / RT) + lid / RT;
    const bool live = row < pc.rows;
    const uint xo = pc.x_off + (live ? row : 0u) * pc.ne0;
    precise float s = 0.0;
    for (uint i = lt; i < pc.ne0; i += RT) {
        const float v = x[xo + i];
        s = fma(v, v, s);
    }
    if (RT > 1u) {
        red[lid] = s;
        barrier();
        [[unroll]] for (uint m = 1u; m < RT; m <<= 1) {
            if ((lt & (2u * m - 1u)) == 0u) red[lid] = red[lid] + red[lid + m];
            barrier();
        }
        s = red[lid - lt];
    }
    if (!live) return;
    precise float mean = s / float(pc.ne0);
    const float scale = 1.0 / sqrt(mean + pc.eps);
    const uint d0 = pc.d_off + row * pc.ne0;
    for (uint i = lt; i < pc.ne0; i += RT) {
        precise float v = x[xo + i] * scale;
        dst[d0 + i] = v * w[pc.w_off + i];
    }
}
