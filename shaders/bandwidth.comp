#version 450
// bandwidth.comp — reads a buffer once, for `vkagent bench --bandwidth`:
// workgroup w reads its contiguous share, consecutive invocations read
// consecutive 16-byte values (coalesced on GPUs, one gather on llvmpipe).
// -DTEXEL reads through a texel view (the fast path on CPU-type devices).
layout(local_size_x_id = 0) in;

layout(push_constant) uniform PC {
    uint n;         // 16-byte values in the buffer
} pc;

#ifdef TEXEL
layout(binding = 6) uniform usamplerBuffer src;
#define LOAD(i) texelFetch(src, int(i))
#else
layout(binding = 1) readonly buffer S { uvec4 s[]; };
#define LOAD(i) s[i]
#endif
layout(binding = 0) writeonly buffer D { uint d[]; };

void main() {
    const uint wg = gl_WorkGroupSize.x;
    const uint share = (pc.n + gl_NumWorkGroups.x - 1u) / gl_NumWorkGroups.x;
    const uint begin = gl_WorkGroupID.x * share, end = min(begin + share, pc.n);
    uvec4 acc = uvec4(0u);
    for (uint i = begin + gl_LocalInvocationID.x; i < end; i += wg) acc ^= LOAD(i);
    d[gl_GlobalInvocationID.x] = acc.x ^ acc.y ^ acc.z ^ acc.w;   // keeps the loads
}
