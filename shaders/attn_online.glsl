// attn_online.glsl — merging two online-softmax states (running state M, L,
// O and a chunk's m, l, o), shared by every attention kernel so that the
// prefill and decode paths perform the very same operations; and the
// interface all of them share with engine/backends/vulkan/vk_emit_kv.c (vk_emit_attention):
// workgroup size, head dimensions, push constants, and where each query's
// keys are (paged.glsl: contiguous from n_past, or through block tables).
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint HD = 64;
layout(constant_id = 2) const uint HDV = 64;

layout(push_constant) uniform PC {
    uint n_head, n_head_kv, n_tokens;
    uint q_off, o_off;
    uint k_off, v_off, k_stride, v_stride;
    uint ws_off, max_chunks;
    float scale;
    uint rows;      // cache rows (the smaller of K's and V's)
    uint lay_off, lay_len;
    float softcap;  // > 0: scores s become softcap * tanh(s / softcap)
    uint window;    // > 0: a query sees only its last `window` positions
} pc;

#include "paged.glsl"

const uint CH = 32u;    // keys per chunk: KV_BLOCK, so that a chunk lies in one block

// Keys query t attends to: its position + 1. Paged, positions are not bounded
// by the cache rows (a sliding layer's cache holds only its window's blocks):
// chunk_row keeps every read inside the cache.
uint query_keys(uint t) { return paged() ? token_pos(t) + 1u : step[0] + t + 1u; }

// The first key query t sees, given its key count (0 unless a sliding
// window hides older ones); its chunk is the first one the query uses.
uint query_first_key(uint n_keys) { return pc.window != 0u && n_keys > pc.window ? n_keys - pc.window : 0u; }

// First cache row of chunk c (cnt keys) of query t: contiguous c * CH;
// paged, the chunk's block, clamped so that its cnt rows are in the cache.
uint chunk_row(uint t, uint c, uint cnt) {
    if (!paged()) return c * CH;
    const uint k0 = min(token_block(t, pc.n_tokens, c), pc.rows / CH) * CH;
    return min(k0, pc.rows - cnt);
}

// Weights of the running state (a) and of the new chunk (b) in a merge.
void merge_weights(float M, float m, out float Mn, out float a, out float b) {
    Mn = max(M, m);
    a = exp(M - Mn);
    b = exp(m - Mn);
}

float merge_value(float run, float chunk, float a, float b) {
    precise float r = run * a + chunk * b;
    return r;
}

// The same for four components at once: each one the scalar operation's bits.
vec4 merge_value4(vec4 run, vec4 chunk, float a, float b) {
    precise vec4 r = run * a + chunk * b;
    return r;
}
