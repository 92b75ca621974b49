#version 450
// q8_act.comp — activations quantized to 8 bits per block of 32 for the
// integer matrix kernel (mm_q8.comp): one invocation per (token, block).
// d = max|x| / 127, q = round-to-even(x / d) clamped to [-127, 127] (the CPU
// backend's quantizer, engine/backends/cpu/cpu_fast_scalar.c), so
// |x - q d| <= d / 2 per element.
//
// Output (words of xq): token t's block b at 16 (t nb + b): for each group
// g = 0..7 of 4 elements, word 2g = q[4g+2] + q[4g] * 65536 and word 2g+1 =
// q[4g+3] + q[4g+1] * 65536 (signed halves, as integers mod 2^32: the pairs
// mm_q8.comp multiplies with weight pairs); then at s_off + 2 (t nb + b):
// d (float bits) and the block's sum of q.
#extension GL_EXT_control_flow_attributes : require

layout(local_size_x_id = 0) in;

layout(push_constant) uniform PC {
    uint K;       // input features (a multiple of 32)
    uint N;       // tokens
    uint x_off;   // float offset of token 0's input row
    uint s_off;   // word offset of the scale region in xq
} pc;

layout(binding = 0) writeonly buffer XQ { uint xq[]; };
layout(binding = 2) readonly buffer XF { float xf[]; };

void main() {
    const uint nb = pc.K / 32u;
    const uint id = gl_GlobalInvocationID.x;
    if (id >= nb * pc.N) return;
    const uint t = id / nb, b = id % nb;
    const uint base = pc.x_off + t * pc.K + b * 32u;
    float v[32];
    float amax = 0.0;
    [[unroll]] for (uint i = 0u; i < 32u; i++) {
        v[i] = xf[base + i];
        amax = abs(v[i]) > amax ? abs(v[i]) : amax;   // NaN skipped, as the CPU quantizer
    }
    const float d = amax / 127.0;
    const float inv = d > 0.0 ? 1.0 / d : 0.0;
    int q[32];
    int sum = 0;
    [[unroll]] for (uint i = 0u; i < 32u; i++) {
        q[i] = int(clamp(roundEven(v[i] * inv), -127.0, 127.0));   // x/d may round a hair past 127
        sum += q[i];
    }
    [[unroll]] for (uint g = 0u; g < 8u; g++) {
        xq[id * 16u + 2u * g] = uint(q[4u * g + 2u] + q[4u * g] * 65536);
        xq[id * 16u + 2u * g + 1u] = uint(q[4u * g + 3u] + q[4u * g + 1u] * 65536);
    }
    xq[pc.s_off + 2u * id] = floatBitsToUint(d);
    xq[pc.s_off + 2u * id + 1u] = uint(sum);
}
