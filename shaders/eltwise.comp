#version 450
// eltwise.comp — elementwise ops over contiguous f32 runs: -DOP_ADD
// (dst = a + b), -DOP_SWIGLU (dst = silu(a) * b), -DOP_GEGLU (dst = gelu(a) * b,
// GELU's tanh form), -DOP_SCALE (dst = a * f) and -DOP_SOFTCAP
// (dst = f * tanh(a / f)); the unary ones bind a as b too.
layout(local_size_x_id = 0) in;

layout(push_constant) uniform PC {
    uint count;
    uint d_off, a_off, b_off;
    float f;        // OP_SCALE: the factor; OP_SOFTCAP: the cap
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
#elif defined(OP_GEGLU)
    // tanh(u) = 1 - 2 / (e^(2u) + 1): GLSL's tanh may be inexact for large |u| on some drivers;
    // e^(2u) overflowing to +inf gives exactly 1
    precise float u = 0.7978845608028654 * (x + 0.044715 * x * x * x);
    precise float t = 1.0 - 2.0 / (exp(2.0 * u) + 1.0);
    precise float g = 0.5 * x * (1.0 + t);
    dst[pc.d_off + i] = g * y;
#elif defined(OP_SCALE)
    dst[pc.d_off + i] = x * pc.f;
#elif defined(OP_SOFTCAP)
    precise float u = x / pc.f;
    precise float t = 1.0 - 2.0 / (exp(2.0 * u) + 1.0);
    dst[pc.d_off + i] = pc.f * t;
#else
#error "eltwise.comp: no OP_* defined"
#endif
}
