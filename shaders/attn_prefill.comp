#version 450
// attn_prefill.comp — causal attention with GQA for a batch of queries, one
// invocation per (token, head), keys in chunks merged with an online softmax
// (attn_common.glsl). Token t sits at position n_past + t.
#ifdef KV_F16S
#extension GL_EXT_shader_16bit_storage : require
#endif
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint HD = 64;
layout(constant_id = 2) const uint HDV = 64;

layout(push_constant) uniform PC {
    uint n_head, n_head_kv, n_tokens;
    uint q_off, o_off;
    uint k_off, v_off, k_stride, v_stride;
    uint ws_off, max_chunks;
    float scale;
} pc;

layout(binding = 0) writeonly buffer OUT { float outp[]; };
layout(binding = 1) readonly buffer Q { float qb[]; };
layout(binding = 4) readonly buffer PARAMS { uint n_past; } params;
#include "attn_common.glsl"

precise float O[HDV];

void main() {
    const uint item = gl_GlobalInvocationID.x;
    if (item >= pc.n_tokens * pc.n_head) return;
    const uint t = item / pc.n_head, h = item % pc.n_head;
    const uint hkv = h / (pc.n_head / pc.n_head_kv);
    for (uint d = 0u; d < HD; d++) q[d] = qb[pc.q_off + (t * pc.n_head + h) * HD + d];
    const uint n_keys = params.n_past + t + 1u;
    const uint nch = (n_keys + CH - 1u) / CH;

    float M = chunk_scores(0u, min(CH, n_keys), hkv);
    precise float Ls = chunk_probs(min(CH, n_keys), M);
    for (uint d = 0u; d < HDV; d++) O[d] = chunk_out(0u, min(CH, n_keys), hkv, d);
    for (uint c = 1u; c < nch; c++) {
        const uint k0 = c * CH, cnt = min(CH, n_keys - k0);
        const float m = chunk_scores(k0, cnt, hkv);
        const float l = chunk_probs(cnt, m);
        float Mn, a, b;
        merge_weights(M, m, Mn, a, b);
        Ls = merge_value(Ls, l, a, b);
        for (uint d = 0u; d < HDV; d++) O[d] = merge_value(O[d], chunk_out(k0, cnt, hkv, d), a, b);
        M = Mn;
    }
    const uint o = pc.o_off + (t * pc.n_head + h) * HDV;
    for (uint d = 0u; d < HDV; d++) outp[o + d] = O[d] / Ls;
}
