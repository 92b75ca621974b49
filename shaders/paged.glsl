// paged.glsl — where a token's position and its keys' cache rows come from,
// for rope.comp, kv_store.comp and the attention kernels (the contract is in
// engine/backends/backend.h, "Paged KV caches").
//
// Binding 4 holds either the step's parameter words (word 0: n_past) or, for
// a node with a layout (pc.lay_len > 0 words), the layout tensor from word
// pc.lay_off: word t = pos(t); word n + t = where token t's block table
// starts; the tables after. Contiguous (lay_len = 0): token t sits at
// position n_past + t and position p in cache row p.
//
// The host promises rows inside the caches; a shader must still never step
// outside its buffers, so every word index is clamped into the layout and
// every block into the cache (a hostile table gives wrong numbers, never a
// stray access). The clamps are per token or per chunk of KV_BLOCK keys,
// never per key.
//
// The including shader declares push constants `pc` with lay_off and lay_len.

layout(binding = 4) readonly buffer STEP { uint step[]; };

const uint KV_BLOCK = 32u;   // VKA_KV_BLOCK: positions per cache block

bool paged() { return pc.lay_len != 0u; }

uint lay_word(uint i) { return step[pc.lay_off + min(i, pc.lay_len - 1u)]; }

// Position of token t (of n in the step).
uint token_pos(uint t) { return paged() ? lay_word(t) : step[0] + t; }

// The cache block holding positions c*KV_BLOCK .. of token t's sequence
// (paged only).
uint token_block(uint t, uint n, uint c) { return lay_word(lay_word(n + t) + c); }
