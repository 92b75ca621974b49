#version 450
// moe_route.comp — the mixture-of-experts router (backend.h MOE_ROUTE): one
// invocation per token: softmax of its router logits, the k largest in
// descending order (lowest id first on ties), weights renormalised on request.

layout(local_size_x_id = 0) in;

layout(push_constant) uniform PC {
    uint E;         // experts (floats per logits row)
    uint k;         // experts per token
    uint N;         // tokens
    uint x_off;     // float offset of logits row 0
    uint d_off;     // float offset of route row 0 (2k floats: weights, then ids)
    uint norm;      // 1: the k weights divided by their sum
} pc;

layout(binding = 0) buffer DST { float dst[]; };
layout(binding = 1) readonly buffer SRC { float src[]; };

const float NORM_MIN = 6.103515625e-5;   // VKA_MOE_NORM_MIN

bool picked(uint ob, uint n, uint e) {
    for (uint s = 0u; s < n; s++)
        if (uint(dst[ob + pc.k + s]) == e) return true;
    return false;
}

void main() {
    const uint t = gl_GlobalInvocationID.x;
    if (t >= pc.N) return;
    const uint xb = pc.x_off + t * pc.E, ob = pc.d_off + t * 2u * pc.k;
    float mx = src[xb];
    for (uint e = 1u; e < pc.E; e++) mx = max(mx, src[xb + e]);
    precise float sum = 0.0;
    for (uint e = 0u; e < pc.E; e++) sum = sum + exp(src[xb + e] - mx);
    precise float chosen = 0.0;
    for (uint s = 0u; s < pc.k; s++) {
        uint best = 0xffffffffu;
        for (uint e = 0u; e < pc.E; e++)
            if (!picked(ob, s, e) && (best == 0xffffffffu || src[xb + e] > src[xb + best])) best = e;
        const float w = exp(src[xb + best] - mx) / sum;
        dst[ob + pc.k + s] = float(best);
        dst[ob + s] = w;
        chosen = chosen + w;
    }
    if (pc.norm != 0u) {
        const float div = max(chosen, NORM_MIN);
        for (uint s = 0u; s < pc.k; s++) dst[ob + s] = dst[ob + s] / div;
    }
}
