/* cpu_fast_avx2.c — the fast backend's kernels in AVX2 (with FMA and F16C),
 * compiled through function attributes so the build needs no -march flag;
 * vka_fast_avx2 offers them only when the running CPU has those features. */
#include "backends/cpu/cpu_fast.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define X86_TARGET "avx2,fma,f16c"
#define X86_ISA "avx2"
#include "backends/cpu/cpu_fast_x86.h"

const vka_fast_kernels *vka_fast_avx2(void) {
    __builtin_cpu_init();
    bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && has_f16c();
    return ok ? &x86_kernels : NULL;
}

#else

const vka_fast_kernels *vka_fast_avx2(void) { return NULL; }

#endif
