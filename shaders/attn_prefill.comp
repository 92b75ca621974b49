#version 450
// attn_prefill.comp — causal attention with GQA for a batch of queries, one
// invocation per (token, head), keys in chunks merged with an online softmax
// (attn_common.glsl). Query t sees positions 0 .. pos(t) (paged.glsl), or the
// last pc.window of them.
#ifdef KV_F16S
#extension GL_EXT_shader_16bit_storage : require
#endif
layout(binding = 0) writeonly buffer OUT { float outp[]; };
layout(binding = 1) readonly buffer Q { float qb[]; };
#include "attn_common.glsl"

precise vec4 O4[HDV4 + 1u];
precise float Ot[4];

void main() {
    const uint item = gl_GlobalInvocationID.x;
    if (item >= pc.n_tokens * pc.n_head) return;
    const uint t = item / pc.n_head, h = item % pc.n_head;
    const uint hkv = h / (pc.n_head / pc.n_head_kv);
    load_query(pc.q_off + (t * pc.n_head + h) * HD);
    const uint n_keys = query_keys(t);
    const uint first = query_first_key(n_keys), c0 = first / CH;   // chunks before c0 are outside the window
    const uint nch = min((n_keys + CH - 1u) / CH, c0 + pc.max_chunks);   // no more chunks than the cache has

    const uint cnt0 = min(CH, n_keys - c0 * CH), r0 = chunk_row(t, c0, cnt0);
    float M = chunk_scores(r0, first - c0 * CH, cnt0, hkv);
    precise float Ls = chunk_probs(M);
    UNROLL_DIMS for (uint i = 0u; i < HDV4; i++) O4[i] = chunk_out4(r0, cnt0, hkv, i);
    UNROLL_DIMS for (uint d = 4u * HDV4; d < HDV; d++) Ot[d - 4u * HDV4] = chunk_out1(r0, cnt0, hkv, d);
    for (uint c = c0 + 1u; c < nch; c++) {
        const uint cnt = min(CH, n_keys - c * CH), k0 = chunk_row(t, c, cnt);
        const float m = chunk_scores(k0, 0u, cnt, hkv);
        const float l = chunk_probs(m);
        float Mn, a, b;
        merge_weights(M, m, Mn, a, b);
        Ls = merge_value(Ls, l, a, b);
        UNROLL_DIMS for (uint i = 0u; i < HDV4; i++) O4[i] = merge_value4(O4[i], chunk_out4(k0, cnt, hkv, i), a, b);
        UNROLL_DIMS for (uint d = 4u * HDV4; d < HDV; d++)
            Ot[d - 4u * HDV4] = merge_value(Ot[d - 4u * HDV4], chunk_out1(k0, cnt, hkv, d), a, b);
        M = Mn;
    }
    const uint o = pc.o_off + (t * pc.n_head + h) * HDV;
    UNROLL_DIMS for (uint i = 0u; i < HDV4; i++) {
        const vec4 r = O4[i] / Ls;
        outp[o + 4u * i] = r.x;
        outp[o + 4u * i + 1u] = r.y;
        outp[o + 4u * i + 2u] = r.z;
        outp[o + 4u * i + 3u] = r.w;
    }
    UNROLL_DIMS for (uint d = 4u * HDV4; d < HDV; d++) outp[o + d] = Ot[d - 4u * HDV4] / Ls;
}
