#version 450
// get_rows.comp — embedding lookup: dst row t = dequantized row ids[t] of a
// weight part holding rows [row0, row0 + rows); ids outside the part are
// left to the part that holds them (one dispatch per part). -DSRC_ACT: the
// source is an f32 activation tensor (rows of ne0 floats from element s_off,
// one part of all rows): the rows are copied bit for bit.
layout(local_size_x_id = 0) in;

layout(push_constant) uniform PC {
    uint ne0;       // elements per row
    uint n;         // tokens
    uint row0, rows;
    uint d_off;     // float offset of dst row 0
    uint ids_off;   // int offset of ids[0]
    uint w_stride, s_off, s_row;
} pc;

#ifdef SRC_ACT
layout(binding = 1) readonly buffer SRC { float srcf[]; };
vec4 src_group(uint r, uint k) {
    const uint i = pc.s_off + r * pc.ne0 + k;
    return vec4(srcf[i], k + 1u < pc.ne0 ? srcf[i + 1u] : 0.0, k + 2u < pc.ne0 ? srcf[i + 2u] : 0.0,
                k + 3u < pc.ne0 ? srcf[i + 3u] : 0.0);
}
#else
#define W_BINDING 1
#define W_STRIDE pc.w_stride
#define W_SOFF pc.s_off
#define W_SROW pc.s_row
#include "wtypes.glsl"
vec4 src_group(uint r, uint k) {
    const uint b = k / 32u;
    return w_group(r, b, (k % 32u) / 4u, w_scale(r, b));
}
#endif

layout(binding = 0) writeonly buffer DST { float dst[]; };
layout(binding = 2) readonly buffer IDS { int ids[]; };

void main() {
    const uint k = gl_GlobalInvocationID.x * 4u;
    const uint t = gl_WorkGroupID.y;
    if (k >= pc.ne0) return;
    const int id = ids[pc.ids_off + t];
    if (id < int(pc.row0) || id >= int(pc.row0 + pc.rows)) return;
    const vec4 v = src_group(uint(id) - pc.row0, k);
    const uint o = pc.d_off + t * pc.ne0 + k;
    dst[o] = v.x;
    if (k + 1u < pc.ne0) dst[o + 1u] = v.y;
    if (k + 2u < pc.ne0) dst[o + 2u] = v.z;
    if (k + 3u < pc.ne0) dst[o + 3u] = v.w;
}
