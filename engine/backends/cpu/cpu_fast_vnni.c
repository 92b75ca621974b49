/* cpu_fast_vnni.c — the fast backend's kernels with AVX-512 VNNI's
 * _mm256_dpbusd_epi32 (on 256-bit vectors, AVX-512VL) in place of the
 * maddubs/madd pair where the weight codes need no per-16 scale (Q4_0,
 * Q5_0, Q8_0); vka_fast_vnni offers them only when the running CPU has it. */
#include "backends/cpu/cpu_fast.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define X86_TARGET "avx2,fma,f16c,avx512f,avx512vl,avx512vnni"
#define X86_ISA "avx512vnni"
#define X86_VNNI 1
#include "backends/cpu/cpu_fast_x86.h"

const vka_fast_kernels *vka_fast_vnni(void) {
    __builtin_cpu_init();
    bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && has_f16c() &&
              __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
    return ok ? &x86_kernels : NULL;
}

#else

const vka_fast_kernels *vka_fast_vnni(void) { return NULL; }

#endif
