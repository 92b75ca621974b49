/* gguf_write.h — building GGUF v3 files: metadata and tensors are collected,
 * then written in one pass, streamed to a file or into a memory buffer. */
#ifndef VKA_GGUF_WRITE_H
#define VKA_GGUF_WRITE_H

#include <stdbool.h>
#include <stdint.h>

#include "format/gguf.h"

/* Layout of a written file (all little-endian):
 *   0   "GGUF", u32 version 3, u64 n_tensors, u64 n_kv
 *   24  the key/value pairs in the order added: string key, u32 type, value
 *       (string = u64 length + bytes; array = u32 element type + u64 count + elements)
 *   tensor_info_offset: per tensor in the order added: string name, u32 n_dims,
 *       n_dims x u64 ne, u32 type, u64 offset (from data_offset)
 *   zero padding up to data_offset (a multiple of the alignment)
 *   data_offset: each tensor's bytes in the order added, each followed by zero
 *       padding up to a multiple of the alignment (the last one too, as ggml does).
 * The alignment is the value of general.alignment if it was added, else 32. */
typedef struct vka_gguf_layout {
    uint64_t kv_offset;            /* 24 */
    uint64_t tensor_info_offset;
    uint64_t data_offset;
    uint64_t file_size;
    uint32_t alignment;
} vka_gguf_layout;

typedef struct vka_gguf_writer vka_gguf_writer;

vka_status vka_gguf_writer_create(vka_gguf_writer **out);
void vka_gguf_writer_free(vka_gguf_writer *w);

/* Metadata. Keys must be non-empty and unique (VKA_ERR_INVALID_ARGUMENT
 * otherwise); values are serialized at once, nothing of the caller's is kept.
 * "general.alignment" must be a uint32 nonzero power of two and sets the
 * layout's alignment. */
vka_status vka_gguf_writer_add_u8(vka_gguf_writer *w, const char *key, uint8_t v);
vka_status vka_gguf_writer_add_i8(vka_gguf_writer *w, const char *key, int8_t v);
vka_status vka_gguf_writer_add_u16(vka_gguf_writer *w, const char *key, uint16_t v);
vka_status vka_gguf_writer_add_i16(vka_gguf_writer *w, const char *key, int16_t v);
vka_status vka_gguf_writer_add_u32(vka_gguf_writer *w, const char *key, uint32_t v);
vka_status vka_gguf_writer_add_i32(vka_gguf_writer *w, const char *key, int32_t v);
vka_status vka_gguf_writer_add_u64(vka_gguf_writer *w, const char *key, uint64_t v);
vka_status vka_gguf_writer_add_i64(vka_gguf_writer *w, const char *key, int64_t v);
vka_status vka_gguf_writer_add_f32(vka_gguf_writer *w, const char *key, float v);
vka_status vka_gguf_writer_add_f64(vka_gguf_writer *w, const char *key, double v);
vka_status vka_gguf_writer_add_bool(vka_gguf_writer *w, const char *key, bool v);
/* A NUL-terminated string. */
vka_status vka_gguf_writer_add_str(vka_gguf_writer *w, const char *key, const char *s);
/* `len` bytes, which may include NUL bytes (s may be NULL when len is 0). */
vka_status vka_gguf_writer_add_strn(vka_gguf_writer *w, const char *key, const char *s, uint64_t len);
/* An array of n elements of `type` in the layout vka_gguf_array uses:
 * native C scalars (uint8_t..int64_t, float, double, bool), vka_gguf_str for
 * STRING, vka_gguf_value (each of type ARRAY) for arrays of arrays. */
vka_status vka_gguf_writer_add_array(vka_gguf_writer *w, const char *key, vka_gguf_vtype type,
                                     const void *data, uint64_t n);
/* An array of NUL-terminated strings. */
vka_status vka_gguf_writer_add_str_array(vka_gguf_writer *w, const char *key, const char *const *strs, uint64_t n);
/* Any value, e.g. one read by vka_gguf_open (to copy a key through).
 * Arrays may nest up to 8 levels, as the reader accepts. */
vka_status vka_gguf_writer_add_value(vka_gguf_writer *w, const char *key, const vka_gguf_value *v);
/* Adds general.alignment (a nonzero power of two). */
vka_status vka_gguf_writer_set_alignment(vka_gguf_writer *w, uint32_t alignment);

/* Tensors. The name must be non-empty and unique, n_dims 1..4, every ne >= 1,
 * `type` a ggml type with traits in types.c, ne[0] a multiple of its block
 * size and nbytes exactly the tensor's size. The data is NOT copied: it is
 * read from `data` when the file is written, so it must stay valid until then. */
vka_status vka_gguf_writer_add_tensor(vka_gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                                      const int64_t *ne, const void *data, uint64_t nbytes);

/* Produces a tensor's bytes at write time into dst (nbytes long); for data
 * made on the fly (quantization, random weights) one tensor at a time. */
typedef vka_status (*vka_gguf_fill_fn)(void *user, const char *name, void *dst, uint64_t nbytes);
vka_status vka_gguf_writer_add_tensor_fill(vka_gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                                           const int64_t *ne, vka_gguf_fill_fn fill, void *user);

/* Where the parts of the file will be, for tests that patch written bytes. */
vka_status vka_gguf_writer_layout(const vka_gguf_writer *w, vka_gguf_layout *out);
/* File offset of a key/value pair (its key's u64 length), or false if absent. */
bool vka_gguf_writer_kv_offset(const vka_gguf_writer *w, const char *key, uint64_t *offset);
/* File offsets of a tensor's info (its name's u64 length) and of its data. */
bool vka_gguf_writer_tensor_offsets(const vka_gguf_writer *w, const char *name, uint64_t *info_offset,
                                    uint64_t *data_offset);

/* Streams the file to `path` (created or truncated; removed again on failure). */
vka_status vka_gguf_writer_write_file(const vka_gguf_writer *w, const char *path);
/* The whole file in a malloc'ed buffer (free with free()/vka_free). */
vka_status vka_gguf_writer_write_memory(const vka_gguf_writer *w, void **out, size_t *size);

#endif
