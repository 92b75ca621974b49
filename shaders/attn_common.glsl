// attn_common.glsl — the attention arithmetic shared by the prefill kernel
// (attn_prefill.comp) and the decode split kernels (attn_split.comp,
// attn_merge.comp), so that a query gets the same bits on either path.
//
// Keys are taken in chunks of CH = 32 positions. A chunk's state is computed
// in a fixed order: scores s_j = (q . k_j) * scale (fma over d in order),
// m = max s_j, p_j = exp(s_j - m), l = sum p_j (j in order),
// o_d = sum p_j v_jd (fma, j in order). Chunks are merged left to right:
// M' = max(M, m), a = exp(M - M'), b = exp(m - M'), L' = L a + l b,
// O'_d = O_d a + o_d b, starting from chunk 0's state; out_d = O_d / L.
//
// The including shader declares HD/HDV (specialization constants) and the
// KV_* variant, and its push constants `pc` with k_off, v_off, k_stride,
// v_stride and scale.

#if defined(KV_F32)
layout(binding = 2) readonly buffer KC { float kc[]; };
layout(binding = 3) readonly buffer VC { float vc[]; };
float k_at(uint e) { return kc[e]; }
float v_at(uint e) { return vc[e]; }
#elif defined(KV_F16S)
layout(binding = 2) readonly buffer KC { float16_t kc[]; };
layout(binding = 3) readonly buffer VC { float16_t vc[]; };
float k_at(uint e) { return float(kc[e]); }
float v_at(uint e) { return float(vc[e]); }
#elif defined(KV_F16P)
layout(binding = 2) readonly buffer KC { uint kc[]; };
layout(binding = 3) readonly buffer VC { uint vc[]; };
float k_at(uint e) { const vec2 h = unpackHalf2x16(kc[e >> 1]); return (e & 1u) != 0u ? h.y : h.x; }
float v_at(uint e) { const vec2 h = unpackHalf2x16(vc[e >> 1]); return (e & 1u) != 0u ? h.y : h.x; }
#else
#error "attn_common.glsl: no KV_* defined"
#endif

#include "attn_online.glsl"

float q[HD];            // the query
float p[CH];            // a chunk's scores, then its exp(s - m)

// Scores of keys k0 .. k0+cnt-1 of kv head hkv into p[]; returns their max.
float chunk_scores(uint k0, uint cnt, uint hkv) {
    for (uint j = 0u; j < cnt; j++) {
        const uint base = pc.k_off + (k0 + j) * pc.k_stride + hkv * HD;
        precise float a = 0.0;
        for (uint d = 0u; d < HD; d++) a = fma(q[d], k_at(base + d), a);
        precise float sc = a * pc.scale;
        p[j] = sc;
    }
    float m = p[0];
    for (uint j = 1u; j < cnt; j++) m = max(m, p[j]);
    return m;
}

// p[j] = exp(p[j] - m); returns their sum.
float chunk_probs(uint cnt, float m) {
    precise float l = 0.0;
    for (uint j = 0u; j < cnt; j++) {
        const float e = exp(p[j] - m);
        p[j] = e;
        l = l + e;
    }
    return l;
}

// Output component d of the chunk: sum over j of p[j] * v_jd.
float chunk_out(uint k0, uint cnt, uint hkv, uint d) {
    precise float o = 0.0;
    for (uint j = 0u; j < cnt; j++) o = fma(p[j], v_at(pc.v_off + (k0 + j) * pc.v_stride + hkv * HDV + d), o);
    return o;
}
