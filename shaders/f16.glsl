// f16.glsl — f32 -> f16 bits with round-to-nearest-even, the same rounding
// as the CPU reference (vka_f32_to_f16 in engine/format/types.c), so that an f16
// KV cache holds the same bits on every backend. (GLSL's own conversions
// leave the rounding mode to the implementation.)
uint f32_to_f16_bits(float f) {
    const uint x = floatBitsToUint(f);
    const uint sign = (x >> 16) & 0x8000u;
    const uint a = x & 0x7fffffffu;
    if (a > 0x7f800000u) return sign | 0x7e00u | ((a >> 13) & 0x3ffu);   // NaN stays NaN
    if (a >= 0x477ff000u) return sign | 0x7c00u;                          // rounds to infinity
    if (a < 0x38800000u) {                                                // subnormal or zero
        if (a < 0x33000000u) return sign;
        const uint mant = (a & 0x7fffffu) | 0x800000u;
        const uint shift = 126u - (a >> 23);
        uint h = mant >> shift;
        const uint rem = mant & ((1u << shift) - 1u);
        const uint mid = 1u << (shift - 1u);
        if (rem > mid || (rem == mid && (h & 1u) != 0u)) h++;
        return sign | h;
    }
    const uint rounded = a + 0xfffu + ((a >> 13) & 1u);
    return sign | ((rounded - 0x38000000u) >> 13);
}
