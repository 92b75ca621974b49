/* vk_rope.h — shared RoPE cos/sin tables (vk_rope.c). Callers hold vb->mutex. */
#ifndef VKA_VK_ROPE_H
#define VKA_VK_ROPE_H

#include "backends/vulkan/vk_internal.h"

/* A table for rp's n_rot, base, scale and attention factor covering positions
 * [0, n_pos) (or more), shared when one exists. */
vka_status vk_rope_acquire(vk_backend *vb, const vka_rope_params *rp, const vk_storage *factors, uint32_t n_pos,
                           vk_rope_table **out);
void vk_rope_release(vk_backend *vb, vk_rope_table *t);

#endif
