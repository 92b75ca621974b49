/* gguf_builder.h — short calls over the GGUF writer (engine/format/gguf_write.h)
 * for tests that need small metadata-only GGUFs in memory, malformed ones
 * included. A writer failure aborts the test: it is a bug in the test. */
#ifndef VKA_TEST_GGUF_BUILDER_H
#define VKA_TEST_GGUF_BUILDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "format/gguf_write.h"

typedef struct gguf_builder {
    vka_gguf_writer *w;
    void *file;             /* after gb_finish */
    size_t file_size;
} gguf_builder;

static inline vka_gguf_writer *gb_writer(gguf_builder *b) {
    if (!b->w && vka_gguf_writer_create(&b->w) != VKA_OK) abort();
    return b->w;
}

static inline void gb_check(vka_status s) {
    if (s != VKA_OK) abort();
}

static inline void gb_kv_str(gguf_builder *b, const char *key, const char *v) {
    gb_check(vka_gguf_writer_add_str(gb_writer(b), key, v));
}

static inline void gb_kv_u32(gguf_builder *b, const char *key, uint32_t v) {
    gb_check(vka_gguf_writer_add_u32(gb_writer(b), key, v));
}

static inline void gb_kv_i32(gguf_builder *b, const char *key, int32_t v) {
    gb_check(vka_gguf_writer_add_i32(gb_writer(b), key, v));
}

static inline void gb_kv_bool(gguf_builder *b, const char *key, bool v) {
    gb_check(vka_gguf_writer_add_bool(gb_writer(b), key, v));
}

static inline void gb_kv_strs(gguf_builder *b, const char *key, const char *const *v, size_t n) {
    gb_check(vka_gguf_writer_add_str_array(gb_writer(b), key, v, n));
}

static inline void gb_kv_f32s(gguf_builder *b, const char *key, const float *v, size_t n) {
    gb_check(vka_gguf_writer_add_array(gb_writer(b), key, VKA_GGUF_FLOAT32, v, n));
}

static inline void gb_kv_i32s(gguf_builder *b, const char *key, const int32_t *v, size_t n) {
    gb_check(vka_gguf_writer_add_array(gb_writer(b), key, VKA_GGUF_INT32, v, n));
}

/* Writes the file into b->file / b->file_size. */
static inline void gb_finish(gguf_builder *b) {
    gb_check(vka_gguf_writer_write_memory(gb_writer(b), &b->file, &b->file_size));
}

static inline void gb_free(gguf_builder *b) {
    vka_gguf_writer_free(b->w);
    free(b->file);
    memset(b, 0, sizeof *b);
}

#endif
