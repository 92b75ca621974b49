// attn_common.glsl — the attention arithmetic shared by the prefill kernel
// (attn_prefill.comp) and the decode split kernels (attn_split.comp,
// attn_merge.comp), so that a query gets the same bits on either path.
//
// Keys are taken in chunks of CH = 32 positions. A chunk's state is computed
// in a fixed order: score s_j = dot(q, k_j) * scale, the dot product as four
// running sums over d = 4i + c (fma, i in order) added as (c0 + c1) + (c2 + c3),
// then the scalar tail for d >= 4 * (HD / 4); m = max s_j; p_j = exp(s_j - m);
// l = sum p_j and o = sum p_j v_j (fma, j in order). Every chunk runs over
// all CH slots: slots past the query's last key get s = -inf, so p = 0 and
// they add exact zeros (an empty chunk is an exact no-op when merged).
// Chunks are merged left to right: M' = max(M, m), a = exp(M - M'),
// b = exp(m - M'), L' = L a + l b, O' = O a + o b, starting from chunk 0's
// state; out = O / L.
//
// Loops have constant trip counts and arrays constant indices once the
// specialization constants are known, so that CPU drivers (llvmpipe) keep
// them in registers instead of memory. With KV_TEXEL the caches are read
// through uniform texel buffers in 16-byte fetches (vector gathers on
// llvmpipe; storage-buffer loads go lane by lane there).
//
// The including shader declares HD/HDV (specialization constants), the KV_*
// variant, and push constants `pc` with k_off, v_off, k_stride, v_stride and
// scale (element units).
#extension GL_EXT_control_flow_attributes : enable

// Full unrolling is what makes llvmpipe keep the arrays in registers. The
// storage-buffer variants (GPUs, and CPU devices without texel views) keep
// the loops over a chunk's keys rolled: unrolled together with the loops
// over the head dimension, their bounds-checked scalar loads took llvmpipe
// minutes to compile (the GPU-shaped tests run them there), and since the
// trip counts are constant a driver would unroll them unasked. Loops over the
// head dimension are left to the driver, so that a GPU can keep the query in
// registers.
#if defined(KV_TEXEL)
#define UNROLL_KEYS [[unroll]]
#define UNROLL_DIMS [[unroll]]
#else
#define UNROLL_KEYS [[dont_unroll]]
#define UNROLL_DIMS
#endif

#include "attn_online.glsl"

const uint HD4 = HD / 4u, HDV4 = HDV / 4u;

#if defined(KV_TEXEL)
layout(binding = 5) uniform usamplerBuffer ktex;
layout(binding = 6) uniform usamplerBuffer vtex;
#if defined(KV_F32)
// a texel is 4 floats; e is a multiple of 4 for the vector loads
vec4 k4(uint e) { return uintBitsToFloat(texelFetch(ktex, int(e >> 2))); }
vec4 v4(uint e) { return uintBitsToFloat(texelFetch(vtex, int(e >> 2))); }
float k_at(uint e) { return uintBitsToFloat(texelFetch(ktex, int(e >> 2))[e & 3u]); }
float v_at(uint e) { return uintBitsToFloat(texelFetch(vtex, int(e >> 2))[e & 3u]); }
#else
// a texel is 8 halves
vec4 half4(uvec4 t, uint e) {
    const uvec2 u = (e & 4u) != 0u ? t.zw : t.xy;
    return vec4(unpackHalf2x16(u.x), unpackHalf2x16(u.y));
}
vec4 k4(uint e) { return half4(texelFetch(ktex, int(e >> 3)), e); }
vec4 v4(uint e) { return half4(texelFetch(vtex, int(e >> 3)), e); }
float k_at(uint e) { return half4(texelFetch(ktex, int(e >> 3)), e & ~3u)[e & 3u]; }
float v_at(uint e) { return half4(texelFetch(vtex, int(e >> 3)), e & ~3u)[e & 3u]; }
#endif
#else
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
vec4 k4(uint e) { return vec4(k_at(e), k_at(e + 1u), k_at(e + 2u), k_at(e + 3u)); }
vec4 v4(uint e) { return vec4(v_at(e), v_at(e + 1u), v_at(e + 2u), v_at(e + 3u)); }
#endif

vec4 q4[HD4 + 1u];      // the query, 4 components per entry (+1: never an empty array)
float qt[4];            // its last HD % 4 components
float p[CH];            // a chunk's scores, then its exp(s - m)

void load_query(uint base) {
    UNROLL_DIMS for (uint i = 0u; i < HD4; i++)
        q4[i] = vec4(qb[base + 4u * i], qb[base + 4u * i + 1u], qb[base + 4u * i + 2u], qb[base + 4u * i + 3u]);
    UNROLL_DIMS for (uint d = 4u * HD4; d < HD; d++) qt[d - 4u * HD4] = qb[base + d];
}

// Scores of the CH keys from k0 of kv head hkv into p[] (slots before `lo`,
// keys outside a sliding window, and slots from `cnt` on are -inf; at least
// one slot is not); soft-capped when pc.softcap > 0; returns their max.
float chunk_scores(uint k0, uint lo, uint cnt, uint hkv) {
    UNROLL_KEYS for (uint j = 0u; j < CH; j++) {
        const uint base = pc.k_off + (k0 + min(j, cnt - 1u)) * pc.k_stride + hkv * HD;
        precise vec4 a = vec4(0.0);
        UNROLL_DIMS for (uint i = 0u; i < HD4; i++) a = fma(q4[i], k4(base + 4u * i), a);
        precise float s = (a.x + a.y) + (a.z + a.w);
        UNROLL_DIMS for (uint d = 4u * HD4; d < HD; d++) s = fma(qt[d - 4u * HD4], k_at(base + d), s);
        precise float sc = s * pc.scale;
        if (pc.softcap > 0.0) {
            // tanh(u) = 1 - 2 / (e^(2u) + 1): exactly +-1 where e^(2u) overflows or vanishes
            precise float u = sc / pc.softcap;
            precise float th = 1.0 - 2.0 / (exp(2.0 * u) + 1.0);
            sc = pc.softcap * th;
        }
        p[j] = j < cnt && j >= lo ? sc : -1.0 / 0.0;
    }
    float m = p[0];
    UNROLL_KEYS for (uint j = 1u; j < CH; j++) m = max(m, p[j]);
    return m;
}

// p[j] = exp(p[j] - m); returns their sum.
float chunk_probs(float m) {
    precise float l = 0.0;
    UNROLL_KEYS for (uint j = 0u; j < CH; j++) {
        const float e = exp(p[j] - m);
        p[j] = e;
        l = l + e;
    }
    return l;
}

// Components 4i .. 4i+3 of the chunk's output: sum over j of p[j] * v_j.
vec4 chunk_out4(uint k0, uint cnt, uint hkv, uint i) {
    precise vec4 o = vec4(0.0);
    UNROLL_KEYS for (uint j = 0u; j < CH; j++)
        o = fma(vec4(p[j]), v4(pc.v_off + (k0 + min(j, cnt - 1u)) * pc.v_stride + hkv * HDV + 4u * i), o);
    return o;
}

// Component d (d >= 4 * HDV4) of the chunk's output.
float chunk_out1(uint k0, uint cnt, uint hkv, uint d) {
    precise float o = 0.0;
    UNROLL_KEYS for (uint j = 0u; j < CH; j++)
        o = fma(p[j], v_at(pc.v_off + (k0 + min(j, cnt - 1u)) * pc.v_stride + hkv * HDV + d), o);
    return o;
}
