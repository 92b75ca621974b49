#version 450
// attn_merge.comp — decode attention, pass 2: merges the chunk states of
// attn_split.comp left to right (one invocation per (head, output
// component)) with the same functions, in the same order, as the prefill
// kernel.
layout(binding = 0) writeonly buffer OUT { float outp[]; };
layout(binding = 1) readonly buffer WS { float ws[]; };

#include "attn_online.glsl"

void main() {
    const uint item = gl_GlobalInvocationID.x;
    const uint h = item / HDV, d = item % HDV;
    if (h >= pc.n_head) return;
    const uint n_keys = query_keys(0u);
    const uint c0 = query_first_key(n_keys) / CH, nch = min((n_keys + CH - 1u) / CH, c0 + pc.max_chunks);
    uint w = pc.ws_off + h * pc.max_chunks * (HDV + 2u);   // slot 0: chunk c0
    float M = ws[w];
    precise float Ls = ws[w + 1u];
    precise float O = ws[w + 2u + d];
    for (uint c = c0 + 1u; c < nch; c++) {
        w += HDV + 2u;
        float Mn, a, b;
        merge_weights(M, ws[w], Mn, a, b);
        Ls = merge_value(Ls, ws[w + 1u], a, b);
        O = merge_value(O, ws[w + 2u + d], a, b);
        M = Mn;
    }
    outp[pc.o_off + h * HDV + d] = O / Ls;
}
