/* gguf.h — a strict GGUF (v2, v3) reader: the file is memory-mapped, metadata
 * is parsed and validated up front, tensors are views into the mapping. */
#ifndef VKA_GGUF_H
#define VKA_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vkagent.h"
#include "format/types.h"

typedef enum vka_gguf_vtype {
    VKA_GGUF_UINT8 = 0,
    VKA_GGUF_INT8 = 1,
    VKA_GGUF_UINT16 = 2,
    VKA_GGUF_INT16 = 3,
    VKA_GGUF_UINT32 = 4,
    VKA_GGUF_INT32 = 5,
    VKA_GGUF_FLOAT32 = 6,
    VKA_GGUF_BOOL = 7,
    VKA_GGUF_STRING = 8,
    VKA_GGUF_ARRAY = 9,
    VKA_GGUF_UINT64 = 10,
    VKA_GGUF_INT64 = 11,
    VKA_GGUF_FLOAT64 = 12,
    VKA_GGUF_VTYPE_COUNT = 13,
} vka_gguf_vtype;

/* A string: NUL-terminated copy (GGUF strings may hold NUL; len is exact). */
typedef struct vka_gguf_str {
    char *data;
    uint64_t len;
} vka_gguf_str;

typedef struct vka_gguf_value vka_gguf_value;

/* An array. Elements are stored unpacked in native C types:
 * UINT8..INT64/FLOAT32/FLOAT64 as uint8_t..int64_t/float/double, BOOL as
 * bool, STRING as vka_gguf_str, ARRAY as vka_gguf_value (each of type ARRAY).
 * An empty array has data NULL; arrays nest at most 8 levels deep. */
typedef struct vka_gguf_array {
    vka_gguf_vtype type;
    uint64_t n;
    void *data;
} vka_gguf_array;

struct vka_gguf_value {
    vka_gguf_vtype type;
    union {
        uint64_t u;         /* UINT8/16/32/64 */
        int64_t i;          /* INT8/16/32/64 */
        double f;           /* FLOAT32/64 */
        bool b;
        vka_gguf_str str;
        vka_gguf_array arr;
    } v;
};

typedef struct vka_gguf_kv {
    vka_gguf_str key;
    vka_gguf_value value;
} vka_gguf_kv;

#define VKA_GGUF_MAX_DIMS 4

typedef struct vka_gguf_tensor {
    vka_gguf_str name;
    uint32_t n_dims;
    int64_t ne[VKA_GGUF_MAX_DIMS];  /* ne[0] innermost (row length); unused dims are 1 */
    uint32_t type;                   /* vka_type number as stored */
    uint64_t offset;                 /* from the start of the data section */
    uint64_t nbytes;
    const void *data;                /* view into the mapping */
} vka_gguf_tensor;

typedef struct vka_gguf {
    uint32_t version;
    uint64_t n_kv;
    vka_gguf_kv *kv;
    uint64_t n_tensors;
    vka_gguf_tensor *tensors;
    uint32_t alignment;              /* general.alignment, default 32 */
    uint64_t data_offset;            /* start of the data section in the file */
    const uint8_t *map;              /* the whole file */
    size_t size;
    bool owns_map;                   /* mmapped by us (unmapped on free) */
} vka_gguf;

/* Tells the kernel that bytes [p, p + n) of a file this gguf mapped itself
 * are not needed for now (a backend holds its own copy): the whole pages
 * inside the range leave the process's resident set, and a later read
 * faults them back in from the file, unchanged. Does nothing for memory
 * the gguf does not own (vka_gguf_open_memory), where dropping pages could
 * lose data. */
void vka_gguf_release_pages(const vka_gguf *g, const void *p, size_t n);

/* Opens and validates a GGUF file. Every structural error is a
 * VKA_ERR_FORMAT with a message naming what is wrong and where. */
vka_status vka_gguf_open(const char *path, vka_gguf **out);

/* The same over a buffer the caller keeps alive (tests, embedded models). */
vka_status vka_gguf_open_memory(const void *data, size_t size, vka_gguf **out);

/* Frees a vka_gguf made by vka_gguf_open* (it carries hidden lookup tables). */
void vka_gguf_free(vka_gguf *gguf);

/* Lookups; NULL / false when absent or of an incompatible type. */
const vka_gguf_kv *vka_gguf_find(const vka_gguf *gguf, const char *key);
const vka_gguf_tensor *vka_gguf_find_tensor(const vka_gguf *gguf, const char *name);
/* Any integer type whose value fits. */
bool vka_gguf_get_u32(const vka_gguf *gguf, const char *key, uint32_t *out);
bool vka_gguf_get_i64(const vka_gguf *gguf, const char *key, int64_t *out);
/* FLOAT32 or FLOAT64 (or an integer). */
bool vka_gguf_get_f32(const vka_gguf *gguf, const char *key, float *out);
bool vka_gguf_get_bool(const vka_gguf *gguf, const char *key, bool *out);
/* The NUL-terminated string, or NULL. */
const char *vka_gguf_get_str(const vka_gguf *gguf, const char *key);
/* An array with elements of `type`, or NULL. */
const vka_gguf_array *vka_gguf_get_array(const vka_gguf *gguf, const char *key, vka_gguf_vtype type);

const char *vka_gguf_vtype_name(vka_gguf_vtype type);

#endif
