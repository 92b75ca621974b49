// attn_online.glsl — merging two online-softmax states (running state M, L,
// O and a chunk's m, l, o), shared by every attention kernel so that the
// prefill and decode paths perform the very same operations; and the
// interface all of them share with engine/backends/vulkan/vk_graph.c (emit_attention):
// workgroup size, head dimensions, push constants, the step's n_past.
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

layout(binding = 4) readonly buffer PARAMS { uint n_past; } params;

const uint CH = 32u;    // keys per chunk

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
