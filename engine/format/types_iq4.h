/* types_iq4.h — ggml's IQ4_NL and IQ4_XS formats (4-bit codes into a fixed
 * non-linear code book): conversion to f32 and quantization from f32.
 * Internal to types.c, which puts them in the traits table. */
#ifndef VKA_TYPES_IQ4_H
#define VKA_TYPES_IQ4_H

#include <stdint.h>

/* n values (a multiple of 32 for IQ4_NL, 256 for IQ4_XS); src 2-byte aligned. */
void vka_iq4_nl_to_f32(const void *src, float *dst, int64_t n);
void vka_iq4_xs_to_f32(const void *src, float *dst, int64_t n);

/* llama.cpp's quantize_iq4_nl / quantize_iq4_xs without an importance
 * matrix (what llama-quantize writes), float operation for float operation. */
void vka_iq4_nl_from_f32(const float *src, void *dst, int64_t n);
void vka_iq4_xs_from_f32(const float *src, void *dst, int64_t n);

#endif
