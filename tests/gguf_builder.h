/* gguf_builder.h — writes small GGUF v3 files (metadata only) in memory, so
 * tests can feed the loaders exactly the metadata they need, malformed too. */
#ifndef VKA_TEST_GGUF_BUILDER_H
#define VKA_TEST_GGUF_BUILDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct gguf_builder {
    unsigned char *body;    /* the key/value pairs */
    size_t n, cap;
    uint64_t n_kv;
    unsigned char *file;    /* header + body, after gb_finish */
    size_t file_size;
} gguf_builder;

static inline void gb_raw(gguf_builder *b, const void *p, size_t len) {
    if (b->n + len > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + len) cap *= 2;
        b->body = realloc(b->body, cap);
        if (!b->body) abort();
        b->cap = cap;
    }
    memcpy(b->body + b->n, p, len);
    b->n += len;
}

static inline void gb_u32(gguf_builder *b, uint32_t v) { gb_raw(b, &v, 4); }
static inline void gb_u64(gguf_builder *b, uint64_t v) { gb_raw(b, &v, 8); }

static inline void gb_string(gguf_builder *b, const char *s) {
    gb_u64(b, strlen(s));
    gb_raw(b, s, strlen(s));
}

/* GGUF value types used here. */
enum { GB_UINT32 = 4, GB_INT32 = 5, GB_FLOAT32 = 6, GB_BOOL = 7, GB_STRING = 8, GB_ARRAY = 9 };

static inline void gb_key(gguf_builder *b, const char *key, uint32_t type) {
    gb_string(b, key);
    gb_u32(b, type);
    b->n_kv++;
}

static inline void gb_kv_str(gguf_builder *b, const char *key, const char *v) {
    gb_key(b, key, GB_STRING);
    gb_string(b, v);
}

static inline void gb_kv_u32(gguf_builder *b, const char *key, uint32_t v) {
    gb_key(b, key, GB_UINT32);
    gb_u32(b, v);
}

static inline void gb_kv_i32(gguf_builder *b, const char *key, int32_t v) {
    gb_key(b, key, GB_INT32);
    gb_raw(b, &v, 4);
}

static inline void gb_kv_bool(gguf_builder *b, const char *key, bool v) {
    unsigned char c = v;
    gb_key(b, key, GB_BOOL);
    gb_raw(b, &c, 1);
}

static inline void gb_kv_strs(gguf_builder *b, const char *key, const char *const *v, size_t n) {
    gb_key(b, key, GB_ARRAY);
    gb_u32(b, GB_STRING);
    gb_u64(b, n);
    for (size_t i = 0; i < n; i++) gb_string(b, v[i]);
}

static inline void gb_kv_f32s(gguf_builder *b, const char *key, const float *v, size_t n) {
    gb_key(b, key, GB_ARRAY);
    gb_u32(b, GB_FLOAT32);
    gb_u64(b, n);
    gb_raw(b, v, n * 4);
}

static inline void gb_kv_i32s(gguf_builder *b, const char *key, const int32_t *v, size_t n) {
    gb_key(b, key, GB_ARRAY);
    gb_u32(b, GB_INT32);
    gb_u64(b, n);
    gb_raw(b, v, n * 4);
}

/* Header + pairs, no tensors. */
static inline void gb_finish(gguf_builder *b) {
    b->file_size = 24 + b->n;
    b->file = malloc(b->file_size);
    if (!b->file) abort();
    uint32_t version = 3;
    uint64_t n_tensors = 0;
    memcpy(b->file, "GGUF", 4);
    memcpy(b->file + 4, &version, 4);
    memcpy(b->file + 8, &n_tensors, 8);
    memcpy(b->file + 16, &b->n_kv, 8);
    if (b->n) memcpy(b->file + 24, b->body, b->n);
}

static inline void gb_free(gguf_builder *b) {
    free(b->body);
    free(b->file);
    memset(b, 0, sizeof *b);
}

#endif
