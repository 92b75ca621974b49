#version 450
// rope.comp — rotary embedding in place, rows of head_dim, row r belongs to
// token r / n_heads, at the token's position (paged.glsl: n_past + token, or
// from the node's layout). cos/sin come from a table computed on the host in
// double precision exactly as the CPU reference does (attention factor
// included), so the rotation matches it bit for bit. Only the first n_rot
// elements of a row turn; the rest of the head passes through (partial rotary).
layout(local_size_x_id = 0) in;

layout(push_constant) uniform PC {
    uint rows;      // heads * tokens
    uint n_heads;   // heads per token
    uint ne0;       // head_dim
    uint n_rot;
    uint neox;      // 1: pairs (i, i + n_rot/2); 0: adjacent pairs
    uint x_off;
    uint tab_off;   // vec2 offset of position 0
    uint n_pos;     // positions the table holds (a position past them is clamped)
    uint lay_off, lay_len;
} pc;

layout(binding = 0) buffer X { float x[]; };
layout(binding = 1) readonly buffer TAB { vec2 tab[]; };   // [pos][n_rot/2] = (cos, sin)
#include "paged.glsl"

void main() {
    const uint half_rot = pc.n_rot / 2u;
    const uint id = gl_GlobalInvocationID.x;
    const uint row = id / half_rot, i = id % half_rot;
    if (row >= pc.rows) return;
    const uint pos = min(token_pos(row / pc.n_heads), pc.n_pos - 1u);
    const vec2 cs = tab[pc.tab_off + pos * half_rot + i];
    const uint base = pc.x_off + row * pc.ne0;
    const uint a = base + (pc.neox != 0u ? i : 2u * i);
    const uint b = base + (pc.neox != 0u ? i + half_rot : 2u * i + 1u);
    const float x0 = x[a], x1 = x[b];
    precise float ra = x0 * cs.x - x1 * cs.y;
    precise float rb = x0 * cs.y + x1 * cs.x;
    x[a] = ra;
    x[b] = rb;
}
