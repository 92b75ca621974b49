/* gguf.c — strict GGUF v2/v3 reader: validates the header, metadata and
 * tensor infos of a mapped file up front; tensors are views into the map. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format/gguf.h"
#include "base/status.h"

#define GGUF_MAGIC 0x46554747u     /* "GGUF" read as a little-endian u32 */
#define DEFAULT_ALIGNMENT 32u
#define MAX_ARRAY_DEPTH 8          /* a top-level array is depth 1 */
/* Smallest encodings, to refuse counts the remaining bytes cannot hold
 * before anything is allocated for them. */
#define MIN_KV_BYTES 14u           /* key length 8 + one key byte + type 4 + one value byte */
#define MIN_TENSOR_INFO_BYTES 32u  /* name length 8 + n_dims 4 + one dim 8 + type 4 + offset 8 */
#define NO_INDEX UINT64_MAX
#define NAME_SHOWN 80              /* longest key/tensor name quoted in a message */

/* ---- arena: every string and array of a file, freed at once ---- */

typedef struct arena_chunk {
    struct arena_chunk *next;
    size_t used, cap;
} arena_chunk;

#define CHUNK_HEADER ((sizeof(arena_chunk) + 15) & ~(size_t)15)
#define CHUNK_BYTES ((size_t)64 << 10)

typedef struct arena {
    arena_chunk *head;
} arena;

static void *arena_alloc(arena *a, size_t n, size_t align) {
    arena_chunk *c = a->head;
    if (c) {
        size_t start = (c->used + align - 1) & ~(align - 1);
        if (start <= c->cap && c->cap - start >= n) {
            c->used = start + n;
            return (uint8_t *)c + CHUNK_HEADER + start;
        }
    }
    size_t cap = n > CHUNK_BYTES / 4 ? n : CHUNK_BYTES;
    if (cap > SIZE_MAX - CHUNK_HEADER) return NULL;
    arena_chunk *fresh = malloc(CHUNK_HEADER + cap);
    if (!fresh) return NULL;
    fresh->used = n;
    fresh->cap = cap;
    if (c && cap == n) {
        /* A dedicated chunk for a big block goes behind the head so the head's free space stays in use. */
        fresh->next = c->next;
        c->next = fresh;
    } else {
        fresh->next = c;
        a->head = fresh;
    }
    return (uint8_t *)fresh + CHUNK_HEADER;
}

static void arena_free(arena *a) {
    arena_chunk *c = a->head;
    while (c) {
        arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
}

/* ---- name index: open addressing over key and tensor names ---- */

/* The name's bytes live in the arena, which never moves (the kv and tensor arrays do). */
typedef struct name_slot {
    const char *name;
    uint64_t len;
    uint64_t index;
} name_slot;

typedef struct name_index {
    name_slot *slots;
    uint64_t cap;  /* a power of two; at most half full */
    uint64_t count;
} name_index;

static uint64_t hash_name(const char *s, uint64_t len) {
    uint64_t h = 0xcbf29ce484222325ull;  /* FNV-1a */
    for (uint64_t i = 0; i < len; i++) h = (h ^ (uint8_t)s[i]) * 0x100000001b3ull;
    return h;
}

static const name_slot *index_lookup(const name_index *ix, const char *s, uint64_t len) {
    if (!ix->slots) return NULL;
    for (uint64_t i = hash_name(s, len) & (ix->cap - 1);; i = (i + 1) & (ix->cap - 1)) {
        const name_slot *slot = &ix->slots[i];
        if (!slot->name) return NULL;
        if (slot->len == len && memcmp(slot->name, s, len) == 0) return slot;
    }
}

static bool index_grow(name_index *ix) {
    uint64_t cap = ix->cap ? ix->cap * 2 : 64;
    name_slot *slots = calloc(cap, sizeof *slots);
    if (!slots) return false;
    for (uint64_t i = 0; i < ix->cap; i++) {
        const name_slot *old = &ix->slots[i];
        if (!old->name) continue;
        uint64_t j = hash_name(old->name, old->len) & (cap - 1);
        while (slots[j].name) j = (j + 1) & (cap - 1);
        slots[j] = *old;
    }
    free(ix->slots);
    ix->slots = slots;
    ix->cap = cap;
    return true;
}

/* Adds a name; if it is already there, stores the first index in *existing and adds nothing. */
static vka_status index_add(name_index *ix, const vka_gguf_str *name, uint64_t index, uint64_t *existing) {
    const name_slot *found = index_lookup(ix, name->data, name->len);
    if (found) {
        *existing = found->index;
        return VKA_OK;
    }
    *existing = NO_INDEX;
    if ((ix->count + 1) * 2 > ix->cap && !index_grow(ix))
        return vka_fail(VKA_ERR_OUT_OF_MEMORY, "GGUF: out of memory indexing names");
    uint64_t i = hash_name(name->data, name->len) & (ix->cap - 1);
    while (ix->slots[i].name) i = (i + 1) & (ix->cap - 1);
    ix->slots[i] = (name_slot){name->data, name->len, index};
    ix->count++;
    return VKA_OK;
}

/* What vka_gguf_open returns; the public part comes first so the pointers convert. */
typedef struct gguf_impl {
    vka_gguf pub;
    arena mem;
    name_index keys, tensor_names;
} gguf_impl;

static void impl_free(gguf_impl *g) {
    if (!g) return;
    if (g->pub.owns_map && g->pub.map && g->pub.size) munmap((void *)g->pub.map, g->pub.size);
    free(g->pub.kv);
    free(g->pub.tensors);
    free(g->keys.slots);
    free(g->tensor_names.slots);
    arena_free(&g->mem);
    free(g);
}

/* ---- parser ---- */

typedef struct parser {
    const uint8_t *base;
    size_t size;
    size_t pos;
    gguf_impl *g;
    char where[160];  /* the item being read, for messages: "key #3 'llama.block_count'" */
} parser;

static vka_status fail_at(const parser *p, size_t offset, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static vka_status fail_at(const parser *p, size_t offset, const char *fmt, ...) {
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (p->where[0])
        return vka_fail(VKA_ERR_FORMAT, "GGUF offset %zu, %s: %s", offset, p->where, msg);
    return vka_fail(VKA_ERR_FORMAT, "GGUF offset %zu: %s", offset, msg);
}

static vka_status out_of_memory(void) {
    return vka_fail(VKA_ERR_OUT_OF_MEMORY, "GGUF: out of memory while reading the metadata");
}

static size_t remaining(const parser *p) { return p->size - p->pos; }

static vka_status need(parser *p, uint64_t n, const char *what) {
    if (n > remaining(p))
        return fail_at(p, p->pos, "truncated file: %s needs %" PRIu64 " bytes, only %zu remain (file is %zu bytes)",
                       what, n, remaining(p), p->size);
    return VKA_OK;
}

static uint16_t le16(const uint8_t *b) { return (uint16_t)(b[0] | b[1] << 8); }
static uint32_t le32(const uint8_t *b) {
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}
static uint64_t le64(const uint8_t *b) { return (uint64_t)le32(b) | (uint64_t)le32(b + 4) << 32; }

static vka_status read_u32(parser *p, const char *what, uint32_t *out) {
    VKA_TRY(need(p, 4, what));
    *out = le32(p->base + p->pos);
    p->pos += 4;
    return VKA_OK;
}

static vka_status read_u64(parser *p, const char *what, uint64_t *out) {
    VKA_TRY(need(p, 8, what));
    *out = le64(p->base + p->pos);
    p->pos += 8;
    return VKA_OK;
}

static void name_for_message(const char *s, uint64_t len, char *buf, size_t cap) {
    int shown = len > NAME_SHOWN ? NAME_SHOWN : (int)len;
    snprintf(buf, cap, "'%.*s%s'", shown, s, len > NAME_SHOWN ? "..." : "");
}

/* Formatted only on failure: string reads are the hot path (vocabularies hold ~10^5 strings). */
static vka_status string_error(const parser *p, size_t at, const char *what, uint64_t index, uint64_t len) {
    char item[80];
    if (index == NO_INDEX) snprintf(item, sizeof item, "%s", what);
    else snprintf(item, sizeof item, "%s element %" PRIu64, what, index);
    size_t left = p->size - at;
    if (left < 8)
        return fail_at(p, at, "truncated file: the length of %s needs 8 bytes, only %zu remain (file is %zu bytes)",
                       item, left, p->size);
    return fail_at(p, at, "%s is %" PRIu64 " bytes long, past the end of the file (%zu bytes remain)", item, len,
                   left - 8);
}

/* `what` names the string; `index` (or NO_INDEX) its array element. */
static vka_status read_string(parser *p, const char *what, uint64_t index, vka_gguf_str *out) {
    size_t at = p->pos;
    if (remaining(p) < 8) return string_error(p, at, what, index, 0);
    uint64_t len = le64(p->base + at);
    if (len > remaining(p) - 8) return string_error(p, at, what, index, len);
    p->pos += 8;
    char *s = arena_alloc(&p->g->mem, (size_t)len + 1, 1);
    if (!s) return out_of_memory();
    memcpy(s, p->base + p->pos, (size_t)len);
    s[len] = '\0';
    p->pos += (size_t)len;
    out->data = s;
    out->len = len;
    return VKA_OK;
}

static size_t encoded_size(vka_gguf_vtype t) {  /* the smallest encoding for STRING and ARRAY */
    switch (t) {
    case VKA_GGUF_UINT8: case VKA_GGUF_INT8: case VKA_GGUF_BOOL: return 1;
    case VKA_GGUF_UINT16: case VKA_GGUF_INT16: return 2;
    case VKA_GGUF_UINT32: case VKA_GGUF_INT32: case VKA_GGUF_FLOAT32: return 4;
    case VKA_GGUF_UINT64: case VKA_GGUF_INT64: case VKA_GGUF_FLOAT64: case VKA_GGUF_STRING: return 8;
    case VKA_GGUF_ARRAY: return 12;
    case VKA_GGUF_VTYPE_COUNT: break;
    }
    return 1;
}

static size_t native_size(vka_gguf_vtype t) {
    switch (t) {
    case VKA_GGUF_UINT8: case VKA_GGUF_INT8: return 1;
    case VKA_GGUF_UINT16: case VKA_GGUF_INT16: return 2;
    case VKA_GGUF_UINT32: case VKA_GGUF_INT32: return 4;
    case VKA_GGUF_FLOAT32: return sizeof(float);
    case VKA_GGUF_UINT64: case VKA_GGUF_INT64: return 8;
    case VKA_GGUF_FLOAT64: return sizeof(double);
    case VKA_GGUF_BOOL: return sizeof(bool);
    case VKA_GGUF_STRING: return sizeof(vka_gguf_str);
    case VKA_GGUF_ARRAY: case VKA_GGUF_VTYPE_COUNT: break;
    }
    return sizeof(vka_gguf_value);
}

static vka_status check_bool(const parser *p, size_t at, uint8_t byte, uint64_t index) {
    if (byte <= 1) return VKA_OK;
    if (index == NO_INDEX) return fail_at(p, at, "invalid bool byte 0x%02x (must be 0 or 1)", byte);
    return fail_at(p, at, "invalid bool byte 0x%02x in array element %" PRIu64 " (must be 0 or 1)", byte, index);
}

static vka_status read_array(parser *p, int depth, vka_gguf_array *arr);

/* Fixed-size elements: the caller has checked that all n fit. */
static void read_fixed_elements(parser *p, vka_gguf_array *arr) {
    const uint8_t *b = p->base + p->pos;
    uint64_t n = arr->n;
    switch (arr->type) {
    case VKA_GGUF_UINT8: case VKA_GGUF_INT8: memcpy(arr->data, b, (size_t)n); break;
    case VKA_GGUF_UINT16: case VKA_GGUF_INT16:
        for (uint64_t i = 0; i < n; i++) ((uint16_t *)arr->data)[i] = le16(b + 2 * i);
        break;
    case VKA_GGUF_UINT32: case VKA_GGUF_INT32: case VKA_GGUF_FLOAT32:
        for (uint64_t i = 0; i < n; i++) {
            uint32_t v = le32(b + 4 * i);
            memcpy((uint8_t *)arr->data + 4 * i, &v, 4);
        }
        break;
    case VKA_GGUF_UINT64: case VKA_GGUF_INT64: case VKA_GGUF_FLOAT64:
        for (uint64_t i = 0; i < n; i++) {
            uint64_t v = le64(b + 8 * i);
            memcpy((uint8_t *)arr->data + 8 * i, &v, 8);
        }
        break;
    default: break;
    }
    p->pos += (size_t)(n * encoded_size(arr->type));
}

static vka_status read_elements(parser *p, int depth, vka_gguf_array *arr) {
    switch (arr->type) {
    case VKA_GGUF_BOOL:
        for (uint64_t i = 0; i < arr->n; i++) {
            uint8_t byte = p->base[p->pos];
            VKA_TRY(check_bool(p, p->pos, byte, i));
            ((bool *)arr->data)[i] = byte == 1;
            p->pos++;
        }
        return VKA_OK;
    case VKA_GGUF_STRING:
        for (uint64_t i = 0; i < arr->n; i++)
            VKA_TRY(read_string(p, "string array", i, &((vka_gguf_str *)arr->data)[i]));
        return VKA_OK;
    case VKA_GGUF_ARRAY:
        for (uint64_t i = 0; i < arr->n; i++) {
            vka_gguf_value *v = &((vka_gguf_value *)arr->data)[i];
            v->type = VKA_GGUF_ARRAY;
            VKA_TRY(read_array(p, depth + 1, &v->v.arr));
        }
        return VKA_OK;
    default:
        read_fixed_elements(p, arr);
        return VKA_OK;
    }
}

/* An array header (element type, count) and its elements; `depth` counts this array. */
static vka_status read_array(parser *p, int depth, vka_gguf_array *arr) {
    size_t at = p->pos;
    uint32_t type;
    VKA_TRY(read_u32(p, "the array element type", &type));
    if (type >= VKA_GGUF_VTYPE_COUNT)
        return fail_at(p, at, "unknown array element type %" PRIu32 " (valid: 0..%d)", type, VKA_GGUF_VTYPE_COUNT - 1);
    arr->type = (vka_gguf_vtype)type;
    VKA_TRY(read_u64(p, "the array length", &arr->n));
    size_t min = encoded_size(arr->type);
    if (arr->n > remaining(p) / min)
        return fail_at(p, at, "array of %" PRIu64 " %s elements cannot fit in the %zu bytes left in the file",
                       arr->n, vka_gguf_vtype_name(arr->type), remaining(p));
    if (type == VKA_GGUF_ARRAY && arr->n > 0 && depth + 1 > MAX_ARRAY_DEPTH)
        return fail_at(p, p->pos, "arrays nested deeper than %d levels", MAX_ARRAY_DEPTH);
    arr->data = NULL;
    if (arr->n == 0) return VKA_OK;
    size_t bytes = (size_t)arr->n * native_size(arr->type);
    arr->data = arena_alloc(&p->g->mem, bytes, 16);
    if (!arr->data) return out_of_memory();
    return read_elements(p, depth, arr);
}

static vka_status read_value(parser *p, vka_gguf_vtype type, vka_gguf_value *v) {
    v->type = type;
    size_t n = encoded_size(type);
    if (type != VKA_GGUF_STRING && type != VKA_GGUF_ARRAY) {
        char what[48];
        snprintf(what, sizeof what, "the %s value", vka_gguf_vtype_name(type));
        VKA_TRY(need(p, n, what));
    }
    const uint8_t *b = p->base + p->pos;
    switch (type) {
    case VKA_GGUF_UINT8: v->v.u = b[0]; break;
    case VKA_GGUF_INT8: v->v.i = (int8_t)b[0]; break;
    case VKA_GGUF_UINT16: v->v.u = le16(b); break;
    case VKA_GGUF_INT16: v->v.i = (int16_t)le16(b); break;
    case VKA_GGUF_UINT32: v->v.u = le32(b); break;
    case VKA_GGUF_INT32: v->v.i = (int32_t)le32(b); break;
    case VKA_GGUF_UINT64: v->v.u = le64(b); break;
    case VKA_GGUF_INT64: v->v.i = (int64_t)le64(b); break;
    case VKA_GGUF_FLOAT32: {
        uint32_t bits = le32(b);
        float f;
        memcpy(&f, &bits, sizeof f);
        v->v.f = f;
        break;
    }
    case VKA_GGUF_FLOAT64: {
        uint64_t bits = le64(b);
        memcpy(&v->v.f, &bits, sizeof v->v.f);
        break;
    }
    case VKA_GGUF_BOOL:
        VKA_TRY(check_bool(p, p->pos, b[0], NO_INDEX));
        v->v.b = b[0] == 1;
        break;
    case VKA_GGUF_STRING: return read_string(p, "the string value", NO_INDEX, &v->v.str);
    case VKA_GGUF_ARRAY: return read_array(p, 1, &v->v.arr);
    case VKA_GGUF_VTYPE_COUNT: break;
    }
    p->pos += n;
    return VKA_OK;
}

static bool is_key(const vka_gguf_str *s, const char *key) {
    return s->len == strlen(key) && memcmp(s->data, key, s->len) == 0;
}

static vka_status check_alignment(parser *p, size_t at, const vka_gguf_value *v) {
    if (v->type != VKA_GGUF_UINT32)
        return fail_at(p, at, "general.alignment must be a uint32, not %s", vka_gguf_vtype_name(v->type));
    uint64_t a = v->v.u;
    if (a == 0 || (a & (a - 1)) != 0)
        return fail_at(p, at, "general.alignment is %" PRIu64 "; it must be a nonzero power of two", a);
    p->g->pub.alignment = (uint32_t)a;
    return VKA_OK;
}

/* Grows a malloc'ed array of `elem`-byte items to hold at least `need` of them. */
static bool grow(void **items, uint64_t *cap, uint64_t need, size_t elem) {
    if (need <= *cap) return true;
    uint64_t cap2 = *cap ? *cap : 64;
    while (cap2 < need) cap2 *= 2;
    void *p = realloc(*items, (size_t)cap2 * elem);
    if (!p) return false;
    memset((uint8_t *)p + *cap * elem, 0, (size_t)(cap2 - *cap) * elem);
    *items = p;
    *cap = cap2;
    return true;
}

static vka_status read_kv(parser *p, uint64_t i) {
    vka_gguf *g = &p->g->pub;
    vka_gguf_kv *kv = &g->kv[i];
    snprintf(p->where, sizeof p->where, "key #%" PRIu64, i);
    size_t key_at = p->pos;
    VKA_TRY(read_string(p, "the key", NO_INDEX, &kv->key));
    if (kv->key.len == 0) return fail_at(p, key_at, "empty key");
    if (memchr(kv->key.data, '\0', (size_t)kv->key.len))
        return fail_at(p, key_at, "key contains a NUL byte");
    char name[NAME_SHOWN + 8];
    name_for_message(kv->key.data, kv->key.len, name, sizeof name);
    snprintf(p->where, sizeof p->where, "key #%" PRIu64 " %s", i, name);
    uint64_t first;
    VKA_TRY(index_add(&p->g->keys, &kv->key, i, &first));
    if (first != NO_INDEX) return fail_at(p, key_at, "duplicate key (already defined as key #%" PRIu64 ")", first);
    size_t type_at = p->pos;
    uint32_t type;
    VKA_TRY(read_u32(p, "the value type", &type));
    if (type >= VKA_GGUF_VTYPE_COUNT)
        return fail_at(p, type_at, "unknown value type %" PRIu32 " (valid: 0..%d)", type, VKA_GGUF_VTYPE_COUNT - 1);
    VKA_TRY(read_value(p, (vka_gguf_vtype)type, &kv->value));
    if (is_key(&kv->key, "general.alignment")) VKA_TRY(check_alignment(p, type_at, &kv->value));
    return VKA_OK;
}

static vka_status read_kvs(parser *p, uint64_t n_kv) {
    if (n_kv > remaining(p) / MIN_KV_BYTES)
        return fail_at(p, 16, "metadata count %" PRIu64 " is impossible: the %zu bytes after the header hold at most %zu",
                       n_kv, remaining(p), remaining(p) / MIN_KV_BYTES);
    uint64_t cap = 0;
    for (uint64_t i = 0; i < n_kv; i++) {
        if (!grow((void **)&p->g->pub.kv, &cap, i + 1, sizeof(vka_gguf_kv))) return out_of_memory();
        VKA_TRY(read_kv(p, i));
    }
    p->g->pub.n_kv = n_kv;
    return VKA_OK;
}

static const char *removed_type_name(uint32_t type) {
    switch (type) {
    case 4: return "q4_2";
    case 5: return "q4_3";
    case 31: return "q4_0_4_4";
    case 32: return "q4_0_4_8";
    case 33: return "q4_0_8_8";
    case 36: return "iq4_nl_4_4";
    case 37: return "iq4_nl_4_8";
    case 38: return "iq4_nl_8_8";
    default: return NULL;
    }
}

static vka_status read_dims(parser *p, vka_gguf_tensor *t) {
    size_t at = p->pos;
    VKA_TRY(read_u32(p, "n_dims", &t->n_dims));
    if (t->n_dims == 0 || t->n_dims > VKA_GGUF_MAX_DIMS)
        return fail_at(p, at, "n_dims is %" PRIu32 " (must be 1..%d)", t->n_dims, VKA_GGUF_MAX_DIMS);
    for (int d = 0; d < VKA_GGUF_MAX_DIMS; d++) t->ne[d] = 1;
    int64_t n_elements = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) {
        size_t dim_at = p->pos;
        uint64_t raw;
        VKA_TRY(read_u64(p, "a dimension", &raw));
        int64_t ne;
        memcpy(&ne, &raw, sizeof ne);
        if (ne <= 0) return fail_at(p, dim_at, "dimension %" PRIu32 " is %" PRId64 " (must be >= 1)", d, ne);
        if (n_elements > INT64_MAX / ne)
            return fail_at(p, dim_at, "the element count overflows int64 at dimension %" PRIu32, d);
        n_elements *= ne;
        t->ne[d] = ne;
    }
    return VKA_OK;
}

static vka_status read_tensor_type(parser *p, vka_gguf_tensor *t) {
    size_t at = p->pos;
    VKA_TRY(read_u32(p, "the tensor type", &t->type));
    const vka_type_traits *tr = vka_type_get_traits(t->type);
    if (!tr) {
        const char *removed = removed_type_name(t->type);
        if (removed)
            return fail_at(p, at, "tensor type %s (%" PRIu32 ") was removed from ggml and is not readable", removed, t->type);
        return fail_at(p, at, "unknown tensor type %" PRIu32, t->type);
    }
    if (t->ne[0] % tr->block_size != 0)
        return fail_at(p, at, "row length %" PRId64 " is not a multiple of the %s block size %" PRIu32,
                       t->ne[0], tr->name, tr->block_size);
    uint64_t n_elements = 1;
    for (int d = 0; d < VKA_GGUF_MAX_DIMS; d++) n_elements *= (uint64_t)t->ne[d];
    uint64_t blocks = n_elements / tr->block_size;
    if (blocks > UINT64_MAX / tr->type_size || blocks * tr->type_size > SIZE_MAX)
        return fail_at(p, at, "the tensor's size in bytes overflows");
    t->nbytes = blocks * tr->type_size;
    return VKA_OK;
}

static vka_status read_tensor_info(parser *p, uint64_t i) {
    vka_gguf_tensor *t = &p->g->pub.tensors[i];
    snprintf(p->where, sizeof p->where, "tensor #%" PRIu64, i);
    size_t name_at = p->pos;
    VKA_TRY(read_string(p, "the tensor name", NO_INDEX, &t->name));
    if (memchr(t->name.data, '\0', (size_t)t->name.len))
        return fail_at(p, name_at, "tensor name contains a NUL byte");
    char name[NAME_SHOWN + 8];
    name_for_message(t->name.data, t->name.len, name, sizeof name);
    snprintf(p->where, sizeof p->where, "tensor #%" PRIu64 " %s", i, name);
    uint64_t first;
    VKA_TRY(index_add(&p->g->tensor_names, &t->name, i, &first));
    if (first != NO_INDEX)
        return fail_at(p, name_at, "duplicate tensor name (already used by tensor #%" PRIu64 ")", first);
    VKA_TRY(read_dims(p, t));
    VKA_TRY(read_tensor_type(p, t));
    size_t offset_at = p->pos;
    VKA_TRY(read_u64(p, "the tensor data offset", &t->offset));
    uint32_t align = p->g->pub.alignment;
    if (t->offset % align != 0)
        return fail_at(p, offset_at, "data offset %" PRIu64 " is not a multiple of the alignment %" PRIu32,
                       t->offset, align);
    return VKA_OK;
}

typedef struct extent {
    uint64_t start, end;
    uint64_t index;
} extent;

static int compare_extents(const void *a, const void *b) {
    const extent *x = a, *y = b;
    if (x->start != y->start) return x->start < y->start ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

static vka_status check_overlaps(parser *p) {
    vka_gguf *g = &p->g->pub;
    if (g->n_tensors < 2) return VKA_OK;
    extent *ex = malloc((size_t)g->n_tensors * sizeof *ex);
    if (!ex) return out_of_memory();
    for (uint64_t i = 0; i < g->n_tensors; i++)
        ex[i] = (extent){g->tensors[i].offset, g->tensors[i].offset + g->tensors[i].nbytes, i};
    qsort(ex, (size_t)g->n_tensors, sizeof *ex, compare_extents);
    vka_status s = VKA_OK;
    for (uint64_t i = 1; i < g->n_tensors && s == VKA_OK; i++) {
        if (ex[i].start >= ex[i - 1].end) continue;
        const vka_gguf_tensor *a = &g->tensors[ex[i - 1].index], *b = &g->tensors[ex[i].index];
        p->where[0] = '\0';
        s = fail_at(p, (size_t)(g->data_offset + b->offset),
                    "tensor '%.*s' (data bytes %" PRIu64 "..%" PRIu64 ") overlaps tensor '%.*s' (data bytes %" PRIu64 "..%" PRIu64 ")",
                    NAME_SHOWN, b->name.data, b->offset, b->offset + b->nbytes,
                    NAME_SHOWN, a->name.data, a->offset, a->offset + a->nbytes);
    }
    free(ex);
    return s;
}

static vka_status check_tensor_data(parser *p) {
    vka_gguf *g = &p->g->pub;
    if (g->n_tensors == 0) return VKA_OK;
    p->where[0] = '\0';
    if (g->data_offset > p->size)
        return fail_at(p, p->size, "truncated file: the tensor data section starts at offset %" PRIu64
                       " but the file is only %zu bytes", g->data_offset, p->size);
    uint64_t data_bytes = p->size - g->data_offset;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        vka_gguf_tensor *t = &g->tensors[i];
        if (t->offset > data_bytes || t->nbytes > data_bytes - t->offset)
            return fail_at(p, p->size, "truncated file: tensor '%.*s' needs data bytes %" PRIu64 "..%" PRIu64
                           " (file offsets %" PRIu64 "..%" PRIu64 ") but the file is only %zu bytes",
                           NAME_SHOWN, t->name.data, t->offset, t->offset + t->nbytes,
                           g->data_offset + t->offset, g->data_offset + t->offset + t->nbytes, p->size);
        t->data = p->base + g->data_offset + t->offset;
    }
    return check_overlaps(p);
}

static vka_status read_tensor_infos(parser *p, uint64_t n_tensors) {
    vka_gguf *g = &p->g->pub;
    p->where[0] = '\0';
    if (n_tensors > remaining(p) / MIN_TENSOR_INFO_BYTES)
        return fail_at(p, 8, "tensor count %" PRIu64 " is impossible: the %zu bytes after the metadata hold at most %zu",
                       n_tensors, remaining(p), remaining(p) / MIN_TENSOR_INFO_BYTES);
    uint64_t cap = 0;
    for (uint64_t i = 0; i < n_tensors; i++) {
        if (!grow((void **)&g->tensors, &cap, i + 1, sizeof(vka_gguf_tensor))) return out_of_memory();
        VKA_TRY(read_tensor_info(p, i));
    }
    g->n_tensors = n_tensors;
    p->where[0] = '\0';
    uint64_t a = g->alignment;
    g->data_offset = ((uint64_t)p->pos + a - 1) / a * a;
    return check_tensor_data(p);
}

static vka_status read_header(parser *p, uint64_t *n_tensors, uint64_t *n_kv) {
    vka_gguf *g = &p->g->pub;
    uint32_t magic;
    VKA_TRY(read_u32(p, "the magic", &magic));
    if (magic != GGUF_MAGIC)
        return fail_at(p, 0, "not a GGUF file (magic bytes %02x %02x %02x %02x, expected \"GGUF\")",
                       p->base[0], p->base[1], p->base[2], p->base[3]);
    VKA_TRY(read_u32(p, "the version", &g->version));
    if (g->version == 1)
        return fail_at(p, 4, "GGUF version 1 is not supported (only 2 and 3). HINT: re-convert the model with a current llama.cpp");
    if (g->version == 0x02000000u || g->version == 0x03000000u)
        return fail_at(p, 4, "big-endian GGUF files are not supported");
    if (g->version != 2 && g->version != 3)
        return fail_at(p, 4, "unsupported GGUF version %" PRIu32 " (supported: 2 and 3)", g->version);
    VKA_TRY(read_u64(p, "the tensor count", n_tensors));
    VKA_TRY(read_u64(p, "the metadata count", n_kv));
    return VKA_OK;
}

static vka_status parse(const uint8_t *data, size_t size, vka_gguf **out) {
    gguf_impl *g = calloc(1, sizeof *g);
    if (!g) return out_of_memory();
    g->pub.map = data;
    g->pub.size = size;
    g->pub.alignment = DEFAULT_ALIGNMENT;
    parser p = {.base = data, .size = size, .pos = 0, .g = g};
    uint64_t n_tensors = 0, n_kv = 0;
    vka_status s = read_header(&p, &n_tensors, &n_kv);
    if (s == VKA_OK) s = read_kvs(&p, n_kv);
    if (s == VKA_OK) s = read_tensor_infos(&p, n_tensors);
    if (s != VKA_OK) {
        impl_free(g);
        return s;
    }
    *out = &g->pub;
    return VKA_OK;
}

vka_status vka_gguf_open_memory(const void *data, size_t size, vka_gguf **out) {
    if (!out) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_gguf_open_memory: out is NULL");
    *out = NULL;
    if (!data && size) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_gguf_open_memory: data is NULL");
    static const uint8_t empty[1];
    return parse(data ? data : empty, size, out);
}

vka_status vka_gguf_open(const char *path, vka_gguf **out) {
    if (!out || !path) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_gguf_open: path or out is NULL");
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        return vka_fail(err == ENOENT ? VKA_ERR_NOT_FOUND : VKA_ERR_IO, "cannot open '%s': %s", path, strerror(err));
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return vka_fail(VKA_ERR_IO, "cannot read '%s': not a regular file", path);
    }
    size_t size = (size_t)st.st_size;
    const uint8_t *map = NULL;
    if (size > 0) {
        void *m = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            int err = errno;
            close(fd);
            return vka_fail(VKA_ERR_IO, "cannot map '%s': %s", path, strerror(err));
        }
        map = m;
    }
    close(fd);
    vka_status s = vka_gguf_open_memory(map, size, out);
    if (s != VKA_OK) {
        if (map) munmap((void *)map, size);
        return vka_fail_context(s, "'%s'", path);
    }
    (*out)->owns_map = map != NULL;
    return VKA_OK;
}

void vka_gguf_free(vka_gguf *gguf) { impl_free((gguf_impl *)gguf); }

void vka_gguf_release_pages(const vka_gguf *g, const void *p, size_t n) {
    /* only our own read-only private file mapping: its pages are never
     * written, so MADV_DONTNEED can only drop them, never lose data */
    if (!g || !g->owns_map || !p || n == 0) return;
    uintptr_t begin = (uintptr_t)p, end = begin + n, map = (uintptr_t)g->map;
    if (begin < map || end > map + g->size) return;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t first = (begin + page - 1) & ~(page - 1), last = end & ~(page - 1);
    if (first < last) madvise((void *)first, last - first, MADV_DONTNEED);
}

/* ---- lookups ---- */

const vka_gguf_kv *vka_gguf_find(const vka_gguf *gguf, const char *key) {
    if (!gguf || !key) return NULL;
    const gguf_impl *g = (const gguf_impl *)gguf;
    const name_slot *slot = index_lookup(&g->keys, key, strlen(key));
    return slot ? &gguf->kv[slot->index] : NULL;
}

const vka_gguf_tensor *vka_gguf_find_tensor(const vka_gguf *gguf, const char *name) {
    if (!gguf || !name) return NULL;
    const gguf_impl *g = (const gguf_impl *)gguf;
    const name_slot *slot = index_lookup(&g->tensor_names, name, strlen(name));
    return slot ? &gguf->tensors[slot->index] : NULL;
}

static bool is_unsigned(vka_gguf_vtype t) {
    return t == VKA_GGUF_UINT8 || t == VKA_GGUF_UINT16 || t == VKA_GGUF_UINT32 || t == VKA_GGUF_UINT64;
}

static bool is_signed(vka_gguf_vtype t) {
    return t == VKA_GGUF_INT8 || t == VKA_GGUF_INT16 || t == VKA_GGUF_INT32 || t == VKA_GGUF_INT64;
}

bool vka_gguf_get_u32(const vka_gguf *gguf, const char *key, uint32_t *out) {
    const vka_gguf_kv *kv = vka_gguf_find(gguf, key);
    if (!kv || !out) return false;
    const vka_gguf_value *v = &kv->value;
    if (is_unsigned(v->type) && v->v.u <= UINT32_MAX) {
        *out = (uint32_t)v->v.u;
        return true;
    }
    if (is_signed(v->type) && v->v.i >= 0 && v->v.i <= (int64_t)UINT32_MAX) {
        *out = (uint32_t)v->v.i;
        return true;
    }
    return false;
}

bool vka_gguf_get_i64(const vka_gguf *gguf, const char *key, int64_t *out) {
    const vka_gguf_kv *kv = vka_gguf_find(gguf, key);
    if (!kv || !out) return false;
    const vka_gguf_value *v = &kv->value;
    if (is_unsigned(v->type) && v->v.u <= (uint64_t)INT64_MAX) {
        *out = (int64_t)v->v.u;
        return true;
    }
    if (is_signed(v->type)) {
        *out = v->v.i;
        return true;
    }
    return false;
}

bool vka_gguf_get_f32(const vka_gguf *gguf, const char *key, float *out) {
    const vka_gguf_kv *kv = vka_gguf_find(gguf, key);
    if (!kv || !out) return false;
    const vka_gguf_value *v = &kv->value;
    if (v->type == VKA_GGUF_FLOAT32 || v->type == VKA_GGUF_FLOAT64) *out = (float)v->v.f;
    else if (is_unsigned(v->type)) *out = (float)v->v.u;
    else if (is_signed(v->type)) *out = (float)v->v.i;
    else return false;
    return true;
}

bool vka_gguf_get_bool(const vka_gguf *gguf, const char *key, bool *out) {
    const vka_gguf_kv *kv = vka_gguf_find(gguf, key);
    if (!kv || !out || kv->value.type != VKA_GGUF_BOOL) return false;
    *out = kv->value.v.b;
    return true;
}

const char *vka_gguf_get_str(const vka_gguf *gguf, const char *key) {
    const vka_gguf_kv *kv = vka_gguf_find(gguf, key);
    return kv && kv->value.type == VKA_GGUF_STRING ? kv->value.v.str.data : NULL;
}

const vka_gguf_array *vka_gguf_get_array(const vka_gguf *gguf, const char *key, vka_gguf_vtype type) {
    const vka_gguf_kv *kv = vka_gguf_find(gguf, key);
    if (!kv || kv->value.type != VKA_GGUF_ARRAY || kv->value.v.arr.type != type) return NULL;
    return &kv->value.v.arr;
}

const char *vka_gguf_vtype_name(vka_gguf_vtype type) {
    static const char *const names[VKA_GGUF_VTYPE_COUNT] = {
        "uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
        "bool", "string", "array", "uint64", "int64", "float64",
    };
    return (unsigned)type < VKA_GGUF_VTYPE_COUNT ? names[type] : "unknown";
}
