/* vk_spirv.h — the SPIR-V modules compiled from shaders/ at build time and
 * embedded by shaders/embed_spirv.py. */
#ifndef VKA_VK_SPIRV_H
#define VKA_VK_SPIRV_H

#include <stddef.h>
#include <stdint.h>

typedef struct vka_vk_spirv {
    const char *name;        /* variant name, e.g. "mm_reg_q8_0" */
    const uint32_t *code;
    size_t size;             /* bytes */
} vka_vk_spirv;

extern const vka_vk_spirv vka_vk_spirv_modules[];
extern const size_t vka_vk_spirv_count;

/* The module called `name`, or NULL. */
const vka_vk_spirv *vka_vk_spirv_find(const char *name);

#endif
