#version 450
// attn_split.comp — decode attention, pass 1: the state of every key chunk
// of every head in parallel (one invocation per (head, chunk)); the dispatch
// covers max_chunks chunks from the query's first one (the window's, else 0)
// and chunks past the query's keys exit at once, so the recorded command
// buffer serves every step. Pass 2: attn_merge.comp.
#ifdef KV_F16S
#extension GL_EXT_shader_16bit_storage : require
#endif
layout(binding = 0) writeonly buffer WS { float ws[]; };   // [head][chunk] (m, l, o[HDV])
layout(binding = 1) readonly buffer Q { float qb[]; };
#include "attn_common.glsl"

void main() {
    const uint item = gl_GlobalInvocationID.x;
    const uint h = item / pc.max_chunks, slot = item % pc.max_chunks;
    if (h >= pc.n_head) return;
    const uint n_keys = query_keys(0u), first = query_first_key(n_keys);
    const uint c = first / CH + slot;   // chunks before the window's are not looked at
    if (c * CH >= n_keys) return;       // past the keys
    const uint hkv = h / (pc.n_head / pc.n_head_kv);
    load_query(pc.q_off + h * HD);
    const uint cnt = min(CH, n_keys - c * CH), k0 = chunk_row(0u, c, cnt);
    const float m = chunk_scores(k0, c == first / CH ? first - c * CH : 0u, cnt, hkv);
    const float l = chunk_probs(m);
    const uint w = pc.ws_off + (h * pc.max_chunks + slot) * (HDV + 2u);
    ws[w] = m;
    ws[w + 1u] = l;
    UNROLL_DIMS for (uint i = 0u; i < HDV4; i++) {
        const vec4 o = chunk_out4(k0, cnt, hkv, i);
        ws[w + 2u + 4u * i] = o.x;
        ws[w + 3u + 4u * i] = o.y;
        ws[w + 4u + 4u * i] = o.z;
        ws[w + 5u + 4u * i] = o.w;
    }
    UNROLL_DIMS for (uint d = 4u * HDV4; d < HDV; d++) ws[w + 2u + d] = chunk_out1(k0, cnt, hkv, d);
}
