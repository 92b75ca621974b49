#version 450
// moe_group.comp — the rows of a batch's expert products grouped by expert
// (vk_moe.c): from the route's ids, for every expert the list of dst rows
// j = t*k + s that chose it, cut into tiles of at most TN rows of one
// expert, the unit of work of the grouped product (mm_id_grouped.comp). One
// workgroup; the order of a list does not matter, as every output is
// computed alone in the canonical order whatever tile holds its row.
//
// g (uints): [0] tiles in use; [1 + 2i], [2 + 2i]: tile i's first list
// index, and its expert | rows << 16; from g_list: the lists, expert by expert.

layout(local_size_x_id = 0) in;   // vk_moe.c: 256

layout(push_constant) uniform PC {
    uint E;         // experts (at most MAX_E, vk_moe.c checks)
    uint k;         // experts per token
    uint NK;        // dst rows: tokens * k
    uint r_off;     // float offset of route row 0 (2k floats per token: weights, then ids)
    uint TN;        // rows per tile
    uint g_off;     // uint offset of g in the binding
    uint g_list;    // index in g of the first list
} pc;

layout(binding = 0) buffer G { uint g[]; };
layout(binding = 1) readonly buffer ROUTE { float route[]; };

const uint MAX_E = 1024;
shared uint count[MAX_E];
shared uint fill[MAX_E];      // next list index of each expert
shared uint first_tile[MAX_E];

uint expert_of(uint j) {
    const uint t = j / pc.k, s = j % pc.k;
    return uint(route[pc.r_off + t * 2u * pc.k + pc.k + s]);
}

void main() {
    const uint lid = gl_LocalInvocationID.x, WG = gl_WorkGroupSize.x;
    for (uint e = lid; e < pc.E; e += WG) count[e] = 0u;
    memoryBarrierShared();
    barrier();
    for (uint j = lid; j < pc.NK; j += WG) {
        const uint e = expert_of(j);
        if (e < pc.E) atomicAdd(count[e], 1u);
    }
    memoryBarrierShared();
    barrier();
    if (lid == 0u) {
        uint rows = 0u, tiles = 0u;
        for (uint e = 0u; e < pc.E; e++) {
            fill[e] = rows;
            first_tile[e] = tiles;
            rows += count[e];
            tiles += (count[e] + pc.TN - 1u) / pc.TN;
        }
        g[pc.g_off] = tiles;
    }
    memoryBarrierShared();
    barrier();
    for (uint e = lid; e < pc.E; e += WG) {
        const uint n_tiles = (count[e] + pc.TN - 1u) / pc.TN;
        for (uint i = 0u; i < n_tiles; i++) {
            const uint at = pc.g_off + 1u + 2u * (first_tile[e] + i);
            g[at] = fill[e] + i * pc.TN;
            g[at + 1u] = e | (min(pc.TN, count[e] - i * pc.TN) << 16);
        }
    }
    memoryBarrierShared();
    barrier();
    for (uint j = lid; j < pc.NK; j += WG) {
        const uint e = expert_of(j);
        if (e < pc.E) g[pc.g_off + pc.g_list + atomicAdd(fill[e], 1u)] = j;
    }
}
