/* gguf_write.c — GGUF v3 writer: metadata is serialized as it is added,
 * tensor infos and data are laid out and streamed when the file is written. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "format/gguf_write.h"
#include "base/status.h"

#define DEFAULT_ALIGNMENT 32u
#define MAX_ARRAY_DEPTH 8
#define HEADER_BYTES 24u
#define FILE_BUFFER_BYTES ((size_t)1 << 20)

/* A growing byte buffer; an allocation failure is remembered and reported once. */
typedef struct bytes {
    uint8_t *data;
    size_t len, cap;
    bool failed;
} bytes;

static void put(bytes *b, const void *src, size_t n) {
    if (b->failed) return;
    if (n > b->cap - b->len) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap - b->len < n) {
            if (cap > SIZE_MAX / 2) {
                b->failed = true;
                return;
            }
            cap *= 2;
        }
        uint8_t *data = realloc(b->data, cap);
        if (!data) {
            b->failed = true;
            return;
        }
        b->data = data;
        b->cap = cap;
    }
    if (n) memcpy(b->data + b->len, src, n);
    b->len += n;
}

static void put_u8(bytes *b, uint8_t v) { put(b, &v, 1); }
static void put_u16(bytes *b, uint16_t v) {
    uint8_t le[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    put(b, le, 2);
}
static void put_u32(bytes *b, uint32_t v) {
    uint8_t le[4];
    for (int i = 0; i < 4; i++) le[i] = (uint8_t)(v >> (8 * i));
    put(b, le, 4);
}
static void put_u64(bytes *b, uint64_t v) {
    uint8_t le[8];
    for (int i = 0; i < 8; i++) le[i] = (uint8_t)(v >> (8 * i));
    put(b, le, 8);
}
static void put_str(bytes *b, const char *s, uint64_t len) {
    put_u64(b, len);
    put(b, s, (size_t)len);
}

typedef struct kv_entry {
    char *key;
    size_t offset;  /* in kv_bytes */
} kv_entry;

typedef struct tensor_entry {
    char *name;
    size_t name_len;
    uint32_t type, n_dims;
    int64_t ne[VKA_GGUF_MAX_DIMS];
    uint64_t nbytes;
    const void *data;
    vka_gguf_fill_fn fill;
    void *user;
} tensor_entry;

struct vka_gguf_writer {
    bytes kv_bytes;
    kv_entry *kvs;
    size_t n_kv, cap_kv;
    tensor_entry *tensors;
    size_t n_tensors, cap_tensors;
    uint32_t alignment;
};

vka_status vka_gguf_writer_create(vka_gguf_writer **out) {
    if (!out) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_gguf_writer_create: out is NULL");
    *out = calloc(1, sizeof **out);
    if (!*out) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "GGUF writer: out of memory");
    (*out)->alignment = DEFAULT_ALIGNMENT;
    return VKA_OK;
}

void vka_gguf_writer_free(vka_gguf_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++) free(w->kvs[i].key);
    for (size_t i = 0; i < w->n_tensors; i++) free(w->tensors[i].name);
    free(w->kvs);
    free(w->tensors);
    free(w->kv_bytes.data);
    free(w);
}

static bool reserve(void **items, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return true;
    size_t cap2 = *cap ? *cap * 2 : 16;
    void *p = realloc(*items, cap2 * elem);
    if (!p) return false;
    *items = p;
    *cap = cap2;
    return true;
}

static vka_status oom(void) { return vka_fail(VKA_ERR_OUT_OF_MEMORY, "GGUF writer: out of memory"); }

/* ---- metadata ---- */

static vka_status check_key(const vka_gguf_writer *w, const char *key) {
    if (!w || !key) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "GGUF writer: writer or key is NULL");
    if (!key[0]) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "GGUF writer: empty key");
    for (size_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->kvs[i].key, key) == 0)
            return vka_fail(VKA_ERR_INVALID_ARGUMENT, "GGUF writer: duplicate key '%s'", key);
    return VKA_OK;
}

static bool fits(vka_gguf_vtype t, const vka_gguf_value *v) {
    switch (t) {
    case VKA_GGUF_UINT8: return v->v.u <= UINT8_MAX;
    case VKA_GGUF_UINT16: return v->v.u <= UINT16_MAX;
    case VKA_GGUF_UINT32: return v->v.u <= UINT32_MAX;
    case VKA_GGUF_INT8: return v->v.i >= INT8_MIN && v->v.i <= INT8_MAX;
    case VKA_GGUF_INT16: return v->v.i >= INT16_MIN && v->v.i <= INT16_MAX;
    case VKA_GGUF_INT32: return v->v.i >= INT32_MIN && v->v.i <= INT32_MAX;
    default: return true;
    }
}

static void put_f32(bytes *b, float f) {
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    put_u32(b, bits);
}

static void put_f64(bytes *b, double f) {
    uint64_t bits;
    memcpy(&bits, &f, sizeof bits);
    put_u64(b, bits);
}

static vka_status put_array(bytes *b, const char *key, vka_gguf_vtype type, const void *data, uint64_t n, int depth);

static vka_status put_scalar(bytes *b, const char *key, const vka_gguf_value *v) {
    if (!fits(v->type, v))
        return vka_fail(VKA_ERR_INVALID_ARGUMENT, "GGUF writer: key '%s': value out of range for %s", key,
                        vka_gguf_vtype_name(v->type));
    switch (v->type) {
    case VKA_GGUF_UINT8: put_u8(b, (uint8_t)v->v.u); break;
    case VKA_GGUF_INT8: put_u8(b, (uint8_t)v->v.i); break;
    case VKA_GGUF_UINT16: put_u16(b, (uint16_t)v->v.u); break;
    case VKA_GGUF_INT16: put_u16(b, (uint16_t)v->v.i); break;
    case VKA_GGUF_UINT32: put_u32(b, (uint32_t)v->v.u); break;
    case VKA_GGUF_INT32: put_u32(b, (uint32_t)v->v.i); break;
    case VKA_GGUF_UINT64: put_u64(b, v->v.u); break;
    case VKA_GGUF_INT64: put_u64(b, (uint64_t)v->v.i); break;
    case VKA_GGUF_FLOAT32: put_f32(b, (float)v->v.f); break;
    case VKA_GGUF_FLOAT64: put_f64(b, v->v.f); break;
    case VKA_GGUF_BOOL: put_u8(b, v->v.b ? 1 : 0); break;
    case VKA_GGUF_STRING:
        if (!v->v.str.data && v->v.str.len)
            return vka_fail(VKA_ERR_INVALID_ARGUMENT, "GGUF writer: key '%s': string data is NULL", key);
        put_str(b, v->v.str.data, v->v.str.len);
        break;
    case VKA_GGUF_ARRAY: return put_array(b, key, v->v.arr.type, v->v.arr.data, v->v.arr.n, 1);
    default:
        return vka_fail(VKA_ERR_INVALID_ARGUMENT, "GGUF writer: key '%s': unknown value type %d", key, (int)v->type);
    }
    return VKA_OK;
}

static vka_status put_elements(bytes *b, const char *key, vka_gguf_vtype type, const void *data, uint64_t n,
                               int depth) {
    for (uint64_t i = 0; i < n; i++) {
        switch (type) {
        case VKA_GGUF_UINT8: case VKA_GGUF_INT8: put_u8(b, ((const uint8_t *)data)[i]); break;
        case VKA_GGUF_UINT16: case VKA_GGUF_INT16: put_u16(b, ((const uint16_t *)data)[i]); break;
        case VKA_GGUF_UINT32: case VKA_GGUF_INT32: put_u32(b, ((const uint32_t *)data)[i]); break;
        case VKA_GGUF_UINT64: case VKA_GGUF_INT64: put_u64(b, ((const uint64_t *)data)[i]); break;
        case VKA_GGUF_FLOAT32: put_f32(b, ((const float *)data)[i]); break;
        case VKA_GGUF_FLOAT64: put_f64(b, ((const double *)data)[i]); break;
        case VKA_GGUF_BOOL: put_u8(b, ((const bool *)data)[i] ? 1 : 0); break;
        case VKA_GGUF_STRING: {
            const vka_gguf_str *s = &((const vka_gguf_str *)data)[i];
            if (!s->data && s->len)
                return vka_fail(VKA_ERR_INVALID_ARGUMENT, "GGUF writer: key '%s': string element %" PRIu64 " is NULL",
                                key, i);
            put_str(b, s->data, s->len);
            break;
        }
        case VKA_GGUF_ARRAY: {
            const vka_gguf_value *v = &((const vka_gguf_value *)data)[i];
            if (v->type != VKA_GGUF_ARRAY)
                return vka_fail(VKA_ERR_INVALID_ARGUMENT,
                                "GGUF writer: key '%s': element %" PRIu64 " of an array of arrays is a %s", key, i,
                                vka_gguf_vtype_name(v->type));
            VKA_TRY(put_array(b, key, v->v.arr.type, v->v.arr.data, v->v.arr.n, depth + 1));
            break;
        }
        default: break;
        }
    }
    return VKA_OK;
}

static vka_status put_array(bytes *b, const char *key, vka_gguf_vtype type, const void *data, uint64_t n, int depth) {
    if ((unsigned)type >= VKA_GGUF_VTYPE_COUNT)
        return vka_fail(VKA_ERR_INVALID_ARGUMENT, "GGUF writer: key '%s': unknown array element type %d", key, (int)type);
    if (depth > MAX_ARRAY_DEPTH)
        return vka_fail(VKA_ERR_INVALID_ARGUMENT, "GGUF writer: key '%s': arrays nested deeper than %d levels", key,
                        MAX_ARRAY_DEPTH);
    if (n && !data) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "GGUF writer: key '%s': array data is NULL", key);
    put_u32(b, (uint32_t)type);
    put_u64(b, n);
    return put_elements(b, key, type, data, n, depth);
}

static vka_status check_alignment_value(const char *key, const vka_gguf_value *v, uint32_t *alignment) {
    if (strcmp(key, "general.alignment") != 0) return VKA_OK;
    if (v->type != VKA_GGUF_UINT32 || v->v.u == 0 || v->v.u > UINT32_MAX || (v->v.u & (v->v.u - 1)) != 0)
        return vka_fail(VKA_ERR_INVALID_ARGUMENT, "GGUF writer: general.alignment must be a uint32 nonzero power of two");
    *alignment = (uint32_t)v->v.u;
    return VKA_OK;
}

vka_status vka_gguf_writer_add_value(vka_gguf_writer *w, const char *key, const vka_gguf_value *v) {
    VKA_TRY(check_key(w, key));
    if (!v) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "GGUF writer: key '%s': value is NULL", key);
    uint32_t alignment = w->alignment;
    VKA_TRY(check_alignment_value(key, v, &alignment));
    if (!reserve((void **)&w->kvs, &w->cap_kv, w->n_kv + 1, sizeof *w->kvs)) return oom();
    char *key_copy = strdup(key);
    if (!key_copy) return oom();
    size_t start = w->kv_bytes.len;
    put_str(&w->kv_bytes, key, strlen(key));
    put_u32(&w->kv_bytes, (uint32_t)v->type);
    vka_status s = put_scalar(&w->kv_bytes, key, v);
    if (s == VKA_OK && w->kv_bytes.failed) s = oom();
    if (s != VKA_OK) {
        w->kv_bytes.len = start;
        w->kv_bytes.failed = false;
        free(key_copy);
        return s;
    }
    w->kvs[w->n_kv++] = (kv_entry){key_copy, start};
    w->alignment = alignment;
    return VKA_OK;
}

static vka_status add_unsigned(vka_gguf_writer *w, const char *key, vka_gguf_vtype t, uint64_t u) {
    vka_gguf_value v = {.type = t, .v.u = u};
    return vka_gguf_writer_add_value(w, key, &v);
}

static vka_status add_signed(vka_gguf_writer *w, const char *key, vka_gguf_vtype t, int64_t i) {
    vka_gguf_value v = {.type = t, .v.i = i};
    return vka_gguf_writer_add_value(w, key, &v);
}

vka_status vka_gguf_writer_add_u8(vka_gguf_writer *w, const char *key, uint8_t v) { return add_unsigned(w, key, VKA_GGUF_UINT8, v); }
vka_status vka_gguf_writer_add_i8(vka_gguf_writer *w, const char *key, int8_t v) { return add_signed(w, key, VKA_GGUF_INT8, v); }
vka_status vka_gguf_writer_add_u16(vka_gguf_writer *w, const char *key, uint16_t v) { return add_unsigned(w, key, VKA_GGUF_UINT16, v); }
vka_status vka_gguf_writer_add_i16(vka_gguf_writer *w, const char *key, int16_t v) { return add_signed(w, key, VKA_GGUF_INT16, v); }
vka_status vka_gguf_writer_add_u32(vka_gguf_writer *w, const char *key, uint32_t v) { return add_unsigned(w, key, VKA_GGUF_UINT32, v); }
vka_status vka_gguf_writer_add_i32(vka_gguf_writer *w, const char *key, int32_t v) { return add_signed(w, key, VKA_GGUF_INT32, v); }
vka_status vka_gguf_writer_add_u64(vka_gguf_writer *w, const char *key, uint64_t v) { return add_unsigned(w, key, VKA_GGUF_UINT64, v); }
vka_status vka_gguf_writer_add_i64(vka_gguf_writer *w, const char *key, int64_t v) { return add_signed(w, key, VKA_GGUF_INT64, v); }

vka_status vka_gguf_writer_add_f32(vka_gguf_writer *w, const char *key, float f) {
    vka_gguf_value v = {.type = VKA_GGUF_FLOAT32, .v.f = f};
    return vka_gguf_writer_add_value(w, key, &v);
}

vka_status vka_gguf_writer_add_f64(vka_gguf_writer *w, const char *key, double f) {
    vka_gguf_value v = {.type = VKA_GGUF_FLOAT64, .v.f = f};
    return vka_gguf_writer_add_value(w, key, &v);
}

vka_status vka_gguf_writer_add_bool(vka_gguf_writer *w, const char *key, bool b) {
    vka_gguf_value v = {.type = VKA_GGUF_BOOL, .v.b = b};
    return vka_gguf_writer_add_value(w, key, &v);
}

vka_status vka_gguf_writer_add_strn(vka_gguf_writer *w, const char *key, const char *s, uint64_t len) {
    vka_gguf_value v = {.type = VKA_GGUF_STRING, .v.str = {(char *)s, len}};
    return vka_gguf_writer_add_value(w, key, &v);
}

vka_status vka_gguf_writer_add_str(vka_gguf_writer *w, const char *key, const char *s) {
    if (!s) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "GGUF writer: key '%s': string is NULL", key ? key : "(null)");
    return vka_gguf_writer_add_strn(w, key, s, strlen(s));
}

vka_status vka_gguf_writer_add_array(vka_gguf_writer *w, const char *key, vka_gguf_vtype type, const void *data,
                                     uint64_t n) {
    vka_gguf_value v = {.type = VKA_GGUF_ARRAY, .v.arr = {type, n, (void *)data}};
    return vka_gguf_writer_add_value(w, key, &v);
}

vka_status vka_gguf_writer_add_str_array(vka_gguf_writer *w, const char *key, const char *const *strs, uint64_t n) {
    if (n && !strs) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "GGUF writer: key '%s': strings are NULL", key ? key : "(null)");
    if (n > SIZE_MAX / sizeof(vka_gguf_str)) return oom();
    vka_gguf_str *items = malloc(n ? (size_t)n * sizeof *items : 1);
    if (!items) return oom();
    for (uint64_t i = 0; i < n; i++) {
        if (!strs[i]) {
            free(items);
            return vka_fail(VKA_ERR_INVALID_ARGUMENT, "GGUF writer: key '%s': string %" PRIu64 " is NULL",
                            key ? key : "(null)", i);
        }
        items[i] = (vka_gguf_str){(char *)strs[i], strlen(strs[i])};
    }
    vka_status s = vka_gguf_writer_add_array(w, key, VKA_GGUF_STRING, items, n);
    free(items);
    return s;
}

vka_status vka_gguf_writer_set_alignment(vka_gguf_writer *w, uint32_t alignment) {
    return vka_gguf_writer_add_u32(w, "general.alignment", alignment);
}

/* ---- tensors ---- */

/* Validates and appends t; `given` is the caller's byte count (NO_SIZE for a fill callback). */
#define NO_SIZE UINT64_MAX
static vka_status add_tensor(vka_gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims, const int64_t *ne,
                             uint64_t given, tensor_entry *t) {
    if (!w || !name || !ne) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "GGUF writer: NULL tensor argument");
    if (!name[0]) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "GGUF writer: empty tensor name");
    for (size_t i = 0; i < w->n_tensors; i++)
        if (strcmp(w->tensors[i].name, name) == 0)
            return vka_fail(VKA_ERR_INVALID_ARGUMENT, "GGUF writer: duplicate tensor name '%s'", name);
    if (n_dims == 0 || n_dims > VKA_GGUF_MAX_DIMS)
        return vka_fail(VKA_ERR_INVALID_ARGUMENT, "GGUF writer: tensor '%s': n_dims %" PRIu32 " (must be 1..%d)", name,
                        n_dims, VKA_GGUF_MAX_DIMS);
    const vka_type_traits *tr = vka_type_get_traits(type);
    if (!tr) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "GGUF writer: tensor '%s': unknown type %" PRIu32, name, type);
    uint64_t n_elements = 1;
    for (int d = 0; d < VKA_GGUF_MAX_DIMS; d++) t->ne[d] = 1;
    for (uint32_t d = 0; d < n_dims; d++) {
        if (ne[d] <= 0 || (uint64_t)ne[d] > (uint64_t)INT64_MAX / n_elements)
            return vka_fail(VKA_ERR_INVALID_ARGUMENT, "GGUF writer: tensor '%s': bad dimension %" PRIu32 " = %" PRId64,
                            name, d, ne[d]);
        n_elements *= (uint64_t)ne[d];
        t->ne[d] = ne[d];
    }
    if (ne[0] % tr->block_size != 0)
        return vka_fail(VKA_ERR_INVALID_ARGUMENT, "GGUF writer: tensor '%s': row length %" PRId64
                        " is not a multiple of the %s block size %" PRIu32, name, ne[0], tr->name, tr->block_size);
    uint64_t blocks = n_elements / tr->block_size;
    if (blocks > SIZE_MAX / tr->type_size)
        return vka_fail(VKA_ERR_INVALID_ARGUMENT, "GGUF writer: tensor '%s' is too large", name);
    t->nbytes = blocks * tr->type_size;
    if (given != NO_SIZE && given != t->nbytes)
        return vka_fail(VKA_ERR_INVALID_ARGUMENT, "GGUF writer: tensor '%s': %" PRIu64 " bytes given, its shape and type need %" PRIu64,
                        name, given, t->nbytes);
    t->type = type;
    t->n_dims = n_dims;
    if (!reserve((void **)&w->tensors, &w->cap_tensors, w->n_tensors + 1, sizeof *w->tensors)) return oom();
    t->name_len = strlen(name);
    t->name = strdup(name);
    if (!t->name) return oom();
    w->tensors[w->n_tensors++] = *t;
    return VKA_OK;
}

vka_status vka_gguf_writer_add_tensor(vka_gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                                      const int64_t *ne, const void *data, uint64_t nbytes) {
    if (!data) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "GGUF writer: tensor '%s': data is NULL", name ? name : "(null)");
    tensor_entry t = {.data = data};
    return add_tensor(w, name, type, n_dims, ne, nbytes, &t);
}

vka_status vka_gguf_writer_add_tensor_fill(vka_gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                                           const int64_t *ne, vka_gguf_fill_fn fill, void *user) {
    if (!fill) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "GGUF writer: tensor '%s': fill is NULL", name ? name : "(null)");
    tensor_entry t = {.fill = fill, .user = user};
    return add_tensor(w, name, type, n_dims, ne, NO_SIZE, &t);
}

/* ---- layout ---- */

static uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

static uint64_t tensor_info_bytes(const tensor_entry *t) { return 8 + t->name_len + 4 + 8ull * t->n_dims + 4 + 8; }

/* Fills the layout; offsets[i] (if given) receives tensor i's offset in the data section. */
static vka_status compute_layout(const vka_gguf_writer *w, vka_gguf_layout *l, uint64_t *offsets) {
    l->alignment = w->alignment;
    l->kv_offset = HEADER_BYTES;
    l->tensor_info_offset = HEADER_BYTES + w->kv_bytes.len;
    uint64_t pos = l->tensor_info_offset;
    for (size_t i = 0; i < w->n_tensors; i++) pos += tensor_info_bytes(&w->tensors[i]);
    l->data_offset = align_up(pos, w->alignment);
    uint64_t data = 0;
    for (size_t i = 0; i < w->n_tensors; i++) {
        if (offsets) offsets[i] = data;
        uint64_t padded = align_up(w->tensors[i].nbytes, w->alignment);
        if (padded > UINT64_MAX - l->data_offset - data)
            return vka_fail(VKA_ERR_INVALID_ARGUMENT, "GGUF writer: the tensors' total size overflows");
        data += padded;
    }
    l->file_size = l->data_offset + data;
    return VKA_OK;
}

vka_status vka_gguf_writer_layout(const vka_gguf_writer *w, vka_gguf_layout *out) {
    if (!w || !out) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_gguf_writer_layout: NULL argument");
    return compute_layout(w, out, NULL);
}

bool vka_gguf_writer_kv_offset(const vka_gguf_writer *w, const char *key, uint64_t *offset) {
    if (!w || !key) return false;
    for (size_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kvs[i].key, key) != 0) continue;
        if (offset) *offset = HEADER_BYTES + w->kvs[i].offset;
        return true;
    }
    return false;
}

bool vka_gguf_writer_tensor_offsets(const vka_gguf_writer *w, const char *name, uint64_t *info_offset,
                                    uint64_t *data_offset) {
    if (!w || !name) return false;
    vka_gguf_layout l;
    if (compute_layout(w, &l, NULL) != VKA_OK) return false;
    uint64_t info = l.tensor_info_offset, data = l.data_offset;
    for (size_t i = 0; i < w->n_tensors; i++) {
        const tensor_entry *t = &w->tensors[i];
        if (strcmp(t->name, name) == 0) {
            if (info_offset) *info_offset = info;
            if (data_offset) *data_offset = data;
            return true;
        }
        info += tensor_info_bytes(t);
        data += align_up(t->nbytes, w->alignment);
    }
    return false;
}

/* ---- output ---- */

/* Where the bytes go: a FILE (streamed) or a buffer of the final size. */
typedef struct sink {
    FILE *file;
    uint8_t *mem;
    uint64_t pos;
} sink;

static vka_status sink_write(sink *s, const void *src, size_t n) {
    if (s->file) {
        if (n && fwrite(src, 1, n, s->file) != n)
            return vka_fail(VKA_ERR_IO, "GGUF writer: write failed at offset %" PRIu64 ": %s", s->pos, strerror(errno));
    } else if (n) {
        memcpy(s->mem + s->pos, src, n);
    }
    s->pos += n;
    return VKA_OK;
}

static vka_status sink_zeros(sink *s, uint64_t n) {
    static const uint8_t zeros[256];
    while (n) {
        size_t chunk = n > sizeof zeros ? sizeof zeros : (size_t)n;
        VKA_TRY(sink_write(s, zeros, chunk));
        n -= chunk;
    }
    return VKA_OK;
}

static vka_status write_head(const vka_gguf_writer *w, const vka_gguf_layout *l, const uint64_t *offsets, sink *s) {
    bytes head = {0};
    put(&head, "GGUF", 4);
    put_u32(&head, 3);
    put_u64(&head, w->n_tensors);
    put_u64(&head, w->n_kv);
    put(&head, w->kv_bytes.data, w->kv_bytes.len);
    for (size_t i = 0; i < w->n_tensors; i++) {
        const tensor_entry *t = &w->tensors[i];
        put_str(&head, t->name, t->name_len);
        put_u32(&head, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims; d++) put_u64(&head, (uint64_t)t->ne[d]);
        put_u32(&head, t->type);
        put_u64(&head, offsets[i]);
    }
    vka_status st = head.failed ? oom() : sink_write(s, head.data, head.len);
    if (st == VKA_OK) st = sink_zeros(s, l->data_offset - head.len);
    free(head.data);
    return st;
}

static vka_status write_tensor_data(const tensor_entry *t, uint32_t alignment, sink *s) {
    if (t->data) {
        VKA_TRY(sink_write(s, t->data, (size_t)t->nbytes));
    } else if (!s->file) {
        /* In memory the tensor is produced in place. */
        VKA_TRY(t->fill(t->user, t->name, s->mem + s->pos, t->nbytes));
        s->pos += t->nbytes;
    } else {
        void *tmp = malloc((size_t)t->nbytes);
        if (!tmp) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "GGUF writer: no memory for tensor '%s' (%" PRIu64 " bytes)",
                                  t->name, t->nbytes);
        vka_status st = t->fill(t->user, t->name, tmp, t->nbytes);
        if (st == VKA_OK) st = sink_write(s, tmp, (size_t)t->nbytes);
        free(tmp);
        VKA_TRY(st);
    }
    return sink_zeros(s, align_up(t->nbytes, alignment) - t->nbytes);
}

static vka_status write_all(const vka_gguf_writer *w, const vka_gguf_layout *l, const uint64_t *offsets, sink *s) {
    VKA_TRY(write_head(w, l, offsets, s));
    for (size_t i = 0; i < w->n_tensors; i++) {
        vka_status st = write_tensor_data(&w->tensors[i], w->alignment, s);
        if (st != VKA_OK) return vka_fail_context(st, "writing tensor '%s'", w->tensors[i].name);
    }
    return VKA_OK;
}

/* The layout plus each tensor's data offset (malloc'ed; at least one slot). */
static vka_status prepare(const vka_gguf_writer *w, vka_gguf_layout *l, uint64_t **offsets) {
    *offsets = malloc((w->n_tensors ? w->n_tensors : 1) * sizeof **offsets);
    if (!*offsets) return oom();
    vka_status st = compute_layout(w, l, *offsets);
    if (st != VKA_OK) {
        free(*offsets);
        *offsets = NULL;
    }
    return st;
}

vka_status vka_gguf_writer_write_memory(const vka_gguf_writer *w, void **out, size_t *size) {
    if (!w || !out || !size) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_gguf_writer_write_memory: NULL argument");
    *out = NULL;
    *size = 0;
    vka_gguf_layout l;
    uint64_t *offsets;
    VKA_TRY(prepare(w, &l, &offsets));
    uint8_t *mem = l.file_size <= SIZE_MAX ? malloc((size_t)l.file_size) : NULL;
    if (!mem) {
        free(offsets);
        return vka_fail(VKA_ERR_OUT_OF_MEMORY, "GGUF writer: no memory for a %" PRIu64 "-byte file", l.file_size);
    }
    sink s = {.mem = mem};
    vka_status st = write_all(w, &l, offsets, &s);
    free(offsets);
    if (st != VKA_OK) {
        free(mem);
        return st;
    }
    *out = mem;
    *size = (size_t)l.file_size;
    return VKA_OK;
}

vka_status vka_gguf_writer_write_file(const vka_gguf_writer *w, const char *path) {
    if (!w || !path) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_gguf_writer_write_file: NULL argument");
    vka_gguf_layout l;
    uint64_t *offsets;
    VKA_TRY(prepare(w, &l, &offsets));
    FILE *f = fopen(path, "wb");
    if (!f) {
        int err = errno;
        free(offsets);
        return vka_fail(VKA_ERR_IO, "cannot create '%s': %s", path, strerror(err));
    }
    setvbuf(f, NULL, _IOFBF, FILE_BUFFER_BYTES);
    sink s = {.file = f};
    vka_status st = write_all(w, &l, offsets, &s);
    free(offsets);
    if (fclose(f) != 0 && st == VKA_OK)
        st = vka_fail(VKA_ERR_IO, "GGUF writer: closing '%s' failed: %s", path, strerror(errno));
    if (st != VKA_OK) {
        unlink(path);
        return vka_fail_context(st, "'%s'", path);
    }
    return VKA_OK;
}
