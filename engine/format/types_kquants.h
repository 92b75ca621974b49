/* types_kquants.h — ggml's K-quant super-block formats (Q2_K .. Q6_K):
 * conversion to f32 and quantization from f32.
 * Internal to types.c, which puts them in the traits table. */
#ifndef VKA_TYPES_KQUANTS_H
#define VKA_TYPES_KQUANTS_H

#include <stdint.h>

/* n (a multiple of 256) values; src is n/256 blocks (2-byte aligned). */
void vka_q2_k_to_f32(const void *src, float *dst, int64_t n);
void vka_q3_k_to_f32(const void *src, float *dst, int64_t n);
void vka_q4_k_to_f32(const void *src, float *dst, int64_t n);
void vka_q5_k_to_f32(const void *src, float *dst, int64_t n);
void vka_q6_k_to_f32(const void *src, float *dst, int64_t n);

/* The search llama.cpp's quantize_row_q{4,5,6}_K_ref does (what
 * llama-quantize uses without an importance matrix), float operation for
 * float operation. */
void vka_q4_k_from_f32(const float *src, void *dst, int64_t n);
void vka_q5_k_from_f32(const float *src, void *dst, int64_t n);
void vka_q6_k_from_f32(const float *src, void *dst, int64_t n);
/* quantize_row_q{2,3}_K_ref (what llama-quantize uses for them without an
 * importance matrix), float operation for float operation. */
void vka_q2_k_from_f32(const float *src, void *dst, int64_t n);
void vka_q3_k_from_f32(const float *src, void *dst, int64_t n);

#endif
