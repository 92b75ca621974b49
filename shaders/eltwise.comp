#version 450
// eltwise.comp — elementwise ops over contiguous f32 runs: -DOP_ADD
// (dst = a + b) and -DOP_SWIGLU (dst = silu(a) * b).
layout(local_size_x_id = 0) in;

layout(push_constant) uniform PC {
    uint count;
    uint d_off, a_off, b_off;
} pc;

layout(binding = 0) writeonly buffer DST { float dst[]; };
layout(binding = 1) readonly buffer A { float a[]; };
layout(binding = 2) readonly buffer B { float b[]; };

void main() {
    const uint i = gl_GlobalInvocationID.x;
    if (i >= pc.count) return;
    const float x = a[pc.a_off + i], y = b[pc.b_off + i];
#if defined(OP_ADD)
    dst[pc.d_off + i] = x + y;
#elif defined(OP_SWIGLU)
    precise float s = x / (1.0 + exp(-x));
    dst[pc.d_off + i] = s * y;
#else
#error "eltwise.comp: no OP_* defined"
#endif
}
