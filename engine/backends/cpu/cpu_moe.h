/* cpu_moe.h — the mixture-of-experts ops on the CPU (backend.h: MOE_ROUTE,
 * MATMUL_ID, MOE_SUM), shared by cpu-ref and the fast backend. */
#ifndef VKA_CPU_MOE_H
#define VKA_CPU_MOE_H

#include "backends/cpu/cpu_fast.h"
#include "backends/cpu/cpu_ops.h"

vka_status vka_cpu_moe_route(vka_tensor *dst, const vka_tensor *logits, const vka_moe_params *p);
/* Tokens are grouped by expert: each expert's rows of src1 are gathered and
 * multiplied by its slab in one matrix product (fast kernels when `kern` is
 * not NULL, else the reference's), then scattered to their dst rows. Every
 * (token, slot) row is computed as a matrix product column would be, so a
 * token's result does not depend on the others of the batch. */
vka_status vka_cpu_matmul_id(const vka_fast_kernels *kern, vka_cpu_pool *pool, vka_tensor *dst, const vka_tensor *w,
                             const vka_tensor *x, const vka_tensor *route, const vka_moe_params *p);
vka_status vka_cpu_moe_sum(vka_tensor *dst, const vka_tensor *src, const vka_tensor *route, const vka_moe_params *p);

#endif
