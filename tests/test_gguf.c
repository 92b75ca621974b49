/* test_gguf.c — the GGUF reader: the stories260K fixture, a hand-written v2
 * file, lookups, and malformed files (truncations and patched bytes). */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "format/gguf.h"
#include "format/gguf_write.h"
#include "base/status.h"
#include "test_util.h"

/* ---- hand-written bytes, independent of the writer ---- */

typedef struct bb {
    uint8_t data[4096];
    size_t len;
} bb;

static void bb_raw(bb *b, const void *p, size_t n) {
    cr_assert_leq(b->len + n, sizeof b->data);
    memcpy(b->data + b->len, p, n);
    b->len += n;
}
static void bb_u8(bb *b, uint8_t v) { bb_raw(b, &v, 1); }
static void bb_u32(bb *b, uint32_t v) {
    for (int i = 0; i < 4; i++) bb_u8(b, (uint8_t)(v >> (8 * i)));
}
static void bb_u64(bb *b, uint64_t v) {
    for (int i = 0; i < 8; i++) bb_u8(b, (uint8_t)(v >> (8 * i)));
}
static void bb_str(bb *b, const char *s) {
    bb_u64(b, strlen(s));
    bb_raw(b, s, strlen(s));
}
static void bb_header(bb *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    bb_raw(b, "GGUF", 4);
    bb_u32(b, version);
    bb_u64(b, n_tensors);
    bb_u64(b, n_kv);
}
static void bb_pad(bb *b, size_t align) {
    while (b->len % align) bb_u8(b, 0);
}

/* ---- helpers ---- */

/* Opens a private copy of exactly n bytes, so that ASan sees any over-read. */
static vka_status open_copy(const void *data, size_t n, vka_gguf **out) {
    void *copy = malloc(n ? n : 1);
    cr_assert_not_null(copy);
    memcpy(copy, data, n);
    vka_status s = vka_gguf_open_memory(copy, n, out);
    if (s == VKA_OK) {
        /* keep the copy alive as long as the gguf: tests free both via close_copy */
        return s;
    }
    free(copy);
    return s;
}

static void close_copy(vka_gguf *g) {
    if (!g) return;
    void *map = (void *)g->map;
    vka_gguf_free(g);
    free(map);
}

#define EXPECT_FORMAT(data, n, substr)                                                                   \
    do {                                                                                                 \
        vka_gguf *g_ = (vka_gguf *)0x1;                                                                  \
        vka_status s_ = open_copy((data), (n), &g_);                                                     \
        cr_assert_eq(s_, VKA_ERR_FORMAT, "expected VKA_ERR_FORMAT, got %s (%s)", vka_status_name(s_),    \
                     vka_last_error());                                                                  \
        cr_assert_null(g_);                                                                              \
        cr_assert(strstr(vka_last_error(), (substr)), "message '%s' lacks '%s'", vka_last_error(), (substr)); \
        cr_assert(strstr(vka_last_error(), "offset"), "message '%s' names no offset", vka_last_error()); \
    } while (0)

static void patch_u32(uint8_t *buf, uint64_t at, uint32_t v) {
    for (int i = 0; i < 4; i++) buf[at + i] = (uint8_t)(v >> (8 * i));
}
static void patch_u64(uint8_t *buf, uint64_t at, uint64_t v) {
    for (int i = 0; i < 8; i++) buf[at + i] = (uint8_t)(v >> (8 * i));
}

/* A small valid file built with the writer, and where its parts are. */
typedef struct small_file {
    uint8_t *data;
    size_t size;
    vka_gguf_layout layout;
    uint64_t kv_a, kv_b, kv_flag, kv_words, kv_flags;  /* offsets of those key/value pairs */
    uint64_t info_ta, info_tb, data_ta, data_tb;
    uint64_t data_end;  /* end of the last tensor's data, before its padding */
} small_file;

static void build_small(small_file *f) {
    vka_gguf_writer *w;
    cr_assert_eq(vka_gguf_writer_create(&w), VKA_OK);
    cr_assert_eq(vka_gguf_writer_add_str(w, "general.architecture", "llama"), VKA_OK);
    cr_assert_eq(vka_gguf_writer_add_u32(w, "k.a", 7), VKA_OK);
    cr_assert_eq(vka_gguf_writer_add_u32(w, "k.b", 8), VKA_OK);
    cr_assert_eq(vka_gguf_writer_add_bool(w, "flag", true), VKA_OK);
    const char *words[] = {"one", "two", ""};
    cr_assert_eq(vka_gguf_writer_add_str_array(w, "words", words, 3), VKA_OK);
    bool flags[] = {true, false};
    cr_assert_eq(vka_gguf_writer_add_array(w, "flags", VKA_GGUF_BOOL, flags, 2), VKA_OK);
    uint32_t inner[] = {1, 2, 3};
    vka_gguf_value rows[2] = {
        {.type = VKA_GGUF_ARRAY, .v.arr = {VKA_GGUF_UINT32, 3, inner}},
        {.type = VKA_GGUF_ARRAY, .v.arr = {VKA_GGUF_UINT32, 0, NULL}},
    };
    cr_assert_eq(vka_gguf_writer_add_array(w, "nested", VKA_GGUF_ARRAY, rows, 2), VKA_OK);
    cr_assert_eq(vka_gguf_writer_add_f32(w, "eps", 1e-5f), VKA_OK);
    static float a[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    static uint8_t b[34];  /* one q8_0 block: f16 scale 1.0, then 32 int8 */
    b[0] = 0x00;
    b[1] = 0x3c;
    for (int i = 0; i < 32; i++) b[2 + i] = (uint8_t)(i - 16);
    cr_assert_eq(vka_gguf_writer_add_tensor(w, "ta", VKA_TYPE_F32, 2, (int64_t[]){4, 2}, a, sizeof a), VKA_OK);
    cr_assert_eq(vka_gguf_writer_add_tensor(w, "tb", VKA_TYPE_Q8_0, 1, (int64_t[]){32}, b, sizeof b), VKA_OK);
    cr_assert_eq(vka_gguf_writer_layout(w, &f->layout), VKA_OK);
    cr_assert(vka_gguf_writer_kv_offset(w, "k.a", &f->kv_a));
    cr_assert(vka_gguf_writer_kv_offset(w, "k.b", &f->kv_b));
    cr_assert(vka_gguf_writer_kv_offset(w, "flag", &f->kv_flag));
    cr_assert(vka_gguf_writer_kv_offset(w, "words", &f->kv_words));
    cr_assert(vka_gguf_writer_kv_offset(w, "flags", &f->kv_flags));
    cr_assert(vka_gguf_writer_tensor_offsets(w, "ta", &f->info_ta, &f->data_ta));
    cr_assert(vka_gguf_writer_tensor_offsets(w, "tb", &f->info_tb, &f->data_tb));
    void *mem;
    cr_assert_eq(vka_gguf_writer_write_memory(w, &mem, &f->size), VKA_OK);
    f->data = mem;
    f->data_end = f->data_tb + sizeof b;
    vka_gguf_writer_free(w);
}

/* Offsets inside a key/value pair / tensor info (see gguf_write.h). */
static uint64_t kv_value_at(uint64_t kv, size_t key_len) { return kv + 8 + key_len + 4; }
static uint64_t info_ndims_at(uint64_t info, size_t name_len) { return info + 8 + name_len; }
static uint64_t info_dim_at(uint64_t info, size_t name_len, int d) { return info + 8 + name_len + 4 + 8 * (uint64_t)d; }
static uint64_t info_type_at(uint64_t info, size_t name_len, int n_dims) { return info_dim_at(info, name_len, n_dims); }
static uint64_t info_offset_at(uint64_t info, size_t name_len, int n_dims) { return info_dim_at(info, name_len, n_dims) + 4; }

/* ---- the fixture ---- */

Test(gguf, stories260k) {
    const char *path = test_data_path("models/stories260K.gguf");
    REQUIRE_FIXTURE(path);
    vka_gguf *g;
    cr_assert_eq(vka_gguf_open(path, &g), VKA_OK, "%s", vka_last_error());
    cr_assert_eq(g->version, 3);
    cr_assert_eq(g->n_kv, 23);
    cr_assert_eq(g->n_tensors, 48);
    cr_assert_eq(g->alignment, 32);
    cr_assert_eq(g->data_offset, 14304);
    cr_assert_eq(g->size, 1185504);
    cr_assert(g->owns_map);
    cr_assert_str_eq(vka_gguf_get_str(g, "general.architecture"), "llama");
    cr_assert_str_eq(vka_gguf_get_str(g, "general.name"), "stories260K");
    cr_assert_str_eq(vka_gguf_get_str(g, "tokenizer.ggml.model"), "llama");
    struct { const char *key; uint32_t want; } u32s[] = {
        {"general.alignment", 32}, {"general.file_type", 0}, {"llama.context_length", 512},
        {"llama.embedding_length", 64}, {"llama.block_count", 5}, {"llama.feed_forward_length", 172},
        {"llama.attention.head_count", 8}, {"llama.attention.head_count_kv", 4},
        {"llama.rope.dimension_count", 8}, {"llama.vocab_size", 512}, {"tokenizer.ggml.bos_token_id", 1},
        {"tokenizer.ggml.eos_token_id", 2}, {"tokenizer.ggml.unknown_token_id", 0},
    };
    for (size_t i = 0; i < sizeof u32s / sizeof u32s[0]; i++) {
        uint32_t v = 12345;
        cr_assert(vka_gguf_get_u32(g, u32s[i].key, &v), "%s", u32s[i].key);
        cr_assert_eq(v, u32s[i].want, "%s = %u", u32s[i].key, v);
        cr_assert_eq(vka_gguf_find(g, u32s[i].key)->value.type, VKA_GGUF_UINT32);
    }
    float f;
    cr_assert(vka_gguf_get_f32(g, "llama.rope.freq_base", &f));
    cr_assert_float_eq(f, 10000.0f, 0);  /* exact in f32 */
    cr_assert(vka_gguf_get_f32(g, "llama.attention.layer_norm_rms_epsilon", &f));
    cr_assert_float_eq(f, 1e-5f, 0);     /* stored as the f32 nearest 1e-5 */
    bool b = false;
    cr_assert(vka_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b) && b);
    cr_assert(vka_gguf_get_bool(g, "tokenizer.ggml.add_eos_token", &b) && !b);

    const vka_gguf_array *tokens = vka_gguf_get_array(g, "tokenizer.ggml.tokens", VKA_GGUF_STRING);
    cr_assert_not_null(tokens);
    cr_assert_eq(tokens->n, 512);
    const vka_gguf_str *tok = tokens->data;
    cr_assert_str_eq(tok[0].data, "<unk>");
    cr_assert_str_eq(tok[1].data, "<s>");
    cr_assert_str_eq(tok[2].data, "</s>");
    cr_assert_str_eq(tok[3].data, "<0x00>");
    cr_assert_str_eq(tok[258].data, "<0xFF>");
    cr_assert_str_eq(tok[403].data, "\xe2\x96\x81Once");  /* U+2581 + "Once" (README: 403 = ' Once') */
    cr_assert_str_eq(tok[410].data, "\xe2\x96\x81");
    cr_assert_eq(tok[403].len, 7);
    const vka_gguf_array *scores = vka_gguf_get_array(g, "tokenizer.ggml.scores", VKA_GGUF_FLOAT32);
    cr_assert_not_null(scores);
    cr_assert_eq(scores->n, 512);
    /* README: 0 for ids 0-258, then -(id-259); exact small integers in f32 */
    cr_assert_float_eq(((const float *)scores->data)[100], 0.0f, 0);
    cr_assert_float_eq(((const float *)scores->data)[300], -41.0f, 0);
    cr_assert_float_eq(((const float *)scores->data)[511], -252.0f, 0);
    const vka_gguf_array *types = vka_gguf_get_array(g, "tokenizer.ggml.token_type", VKA_GGUF_INT32);
    cr_assert_not_null(types);
    const int32_t *tt = types->data;
    cr_assert(tt[0] == 2 && tt[1] == 3 && tt[2] == 3 && tt[3] == 6 && tt[258] == 6 && tt[259] == 1 && tt[511] == 1);
    cr_assert_null(vka_gguf_get_array(g, "tokenizer.ggml.tokens", VKA_GGUF_INT32));

    /* Tensors: file order and shapes from the README; offsets packed at 32-byte alignment. */
    cr_assert_str_eq(g->tensors[0].name.data, "token_embd.weight");
    cr_assert_str_eq(g->tensors[46].name.data, "output_norm.weight");
    cr_assert_str_eq(g->tensors[47].name.data, "output.weight");
    const vka_gguf_tensor *emb = vka_gguf_find_tensor(g, "token_embd.weight");
    cr_assert_eq(emb, &g->tensors[0]);
    cr_assert_eq(emb->n_dims, 2);
    cr_assert(emb->ne[0] == 64 && emb->ne[1] == 512 && emb->ne[2] == 1 && emb->ne[3] == 1);
    cr_assert_eq(emb->type, VKA_TYPE_F32);
    cr_assert_eq(emb->offset, 0);
    cr_assert_eq(emb->nbytes, 64 * 512 * 4);
    cr_assert_eq((const uint8_t *)emb->data, g->map + 14304);
    const char *block_names[] = {"attn_norm", "attn_q", "attn_k", "attn_v", "attn_output",
                                 "ffn_norm", "ffn_gate", "ffn_down", "ffn_up"};
    int64_t block_ne[][2] = {{64, 1}, {64, 64}, {64, 32}, {64, 32}, {64, 64}, {64, 1}, {64, 172}, {172, 64}, {64, 172}};
    uint64_t expect_offset = 64 * 512 * 4;
    for (int l = 0; l < 5; l++) {
        for (int j = 0; j < 9; j++) {
            char name[64];
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, block_names[j]);
            const vka_gguf_tensor *t = vka_gguf_find_tensor(g, name);
            cr_assert_not_null(t, "%s", name);
            cr_assert_eq(t, &g->tensors[1 + 9 * l + j]);
            cr_assert_eq(t->n_dims, block_ne[j][1] == 1 ? 1u : 2u, "%s", name);
            cr_assert(t->ne[0] == block_ne[j][0] && t->ne[1] == block_ne[j][1], "%s", name);
            cr_assert_eq(t->offset, expect_offset, "%s", name);
            uint64_t bytes = (uint64_t)(block_ne[j][0] * block_ne[j][1] * 4);
            cr_assert_eq(t->nbytes, bytes);
            expect_offset += (bytes + 31) / 32 * 32;
        }
    }
    const vka_gguf_tensor *out = vka_gguf_find_tensor(g, "output.weight");
    cr_assert_eq(out->offset + out->nbytes + g->data_offset, g->size);  /* no trailing bytes */
    /* output.weight is a copy of token_embd.weight (tied) */
    cr_assert_eq(memcmp(out->data, emb->data, (size_t)emb->nbytes), 0);
    cr_assert_null(vka_gguf_find_tensor(g, "output.weigh"));
    cr_assert_null(vka_gguf_find_tensor(g, "nope"));
    vka_gguf_free(g);
}

/* ---- a v2 file written by hand ---- */

Test(gguf, version2_by_hand) {
    bb b = {0};
    bb_header(&b, 2, 1, 3);
    bb_str(&b, "general.architecture");
    bb_u32(&b, 8);
    bb_str(&b, "llama");
    bb_str(&b, "n");
    bb_u32(&b, 5);  /* int32 */
    bb_u32(&b, (uint32_t)-3);
    bb_str(&b, "list");
    bb_u32(&b, 9);
    bb_u32(&b, 2);  /* uint16 elements */
    bb_u64(&b, 3);
    uint8_t u16s[] = {1, 0, 0xff, 0xff, 0x34, 0x12};
    bb_raw(&b, u16s, sizeof u16s);
    bb_str(&b, "w");
    bb_u32(&b, 1);
    bb_u64(&b, 2);
    bb_u32(&b, 0);  /* f32 */
    bb_u64(&b, 0);
    size_t infos_end = b.len;
    bb_pad(&b, 32);
    float vals[2] = {1.5f, -2.0f};
    bb_raw(&b, vals, sizeof vals);

    vka_gguf *g;
    cr_assert_eq(open_copy(b.data, b.len, &g), VKA_OK, "%s", vka_last_error());
    cr_assert_eq(g->version, 2);
    cr_assert_eq(g->n_kv, 3);
    cr_assert_eq(g->alignment, 32);
    cr_assert_eq(g->data_offset, (infos_end + 31) / 32 * 32);
    cr_assert_str_eq(vka_gguf_get_str(g, "general.architecture"), "llama");
    int64_t n;
    cr_assert(vka_gguf_get_i64(g, "n", &n));
    cr_assert_eq(n, -3);
    uint32_t u;
    cr_assert_not(vka_gguf_get_u32(g, "n", &u));  /* negative does not fit */
    const vka_gguf_array *list = vka_gguf_get_array(g, "list", VKA_GGUF_UINT16);
    cr_assert_not_null(list);
    cr_assert_eq(list->n, 3);
    const uint16_t *l = list->data;
    cr_assert(l[0] == 1 && l[1] == 0xffff && l[2] == 0x1234);
    const vka_gguf_tensor *t = vka_gguf_find_tensor(g, "w");
    cr_assert_not_null(t);
    cr_assert_eq(t->nbytes, 8);
    float got[2];
    memcpy(got, t->data, sizeof got);
    cr_assert(got[0] == 1.5f && got[1] == -2.0f);  /* exact: copied bits */
    close_copy(g);
}

/* ---- lookups ---- */

Test(gguf, lookup_conversions) {
    bb b = {0};
    bb_header(&b, 3, 0, 9);
    bb_str(&b, "u64big"); bb_u32(&b, 10); bb_u64(&b, (uint64_t)UINT32_MAX + 1);
    bb_str(&b, "u64max"); bb_u32(&b, 10); bb_u64(&b, UINT64_MAX);
    bb_str(&b, "u8"); bb_u32(&b, 0); bb_u8(&b, 200);
    bb_str(&b, "i16neg"); bb_u32(&b, 3); bb_u8(&b, 0xfe); bb_u8(&b, 0xff);
    bb_str(&b, "i64"); bb_u32(&b, 11); bb_u64(&b, (uint64_t)UINT32_MAX);
    bb_str(&b, "f64"); bb_u32(&b, 12); double d = 0.25; uint64_t bits; memcpy(&bits, &d, 8); bb_u64(&b, bits);
    bb_str(&b, "flag"); bb_u32(&b, 7); bb_u8(&b, 0);
    bb_str(&b, "s"); bb_u32(&b, 8); bb_str(&b, "x");
    bb_str(&b, "arr"); bb_u32(&b, 9); bb_u32(&b, 4); bb_u64(&b, 0);
    vka_gguf *g;
    cr_assert_eq(open_copy(b.data, b.len, &g), VKA_OK, "%s", vka_last_error());
    cr_assert_eq(g->data_offset, (b.len + 31) / 32 * 32);  /* no tensors: the data section may be absent */
    uint32_t u = 0;
    int64_t i = 0;
    float f = 0;
    bool flag = true;
    cr_assert_not(vka_gguf_get_u32(g, "u64big", &u));
    cr_assert(vka_gguf_get_i64(g, "u64big", &i) && i == (int64_t)UINT32_MAX + 1);
    cr_assert_not(vka_gguf_get_i64(g, "u64max", &i));
    cr_assert(vka_gguf_get_u32(g, "u8", &u) && u == 200);
    cr_assert_not(vka_gguf_get_u32(g, "i16neg", &u));
    cr_assert(vka_gguf_get_i64(g, "i16neg", &i) && i == -2);
    cr_assert(vka_gguf_get_u32(g, "i64", &u) && u == UINT32_MAX);
    cr_assert(vka_gguf_get_f32(g, "f64", &f) && f == 0.25f);  /* exact in both widths */
    cr_assert(vka_gguf_get_f32(g, "u8", &f) && f == 200.0f);
    cr_assert(vka_gguf_get_f32(g, "i16neg", &f) && f == -2.0f);
    cr_assert_not(vka_gguf_get_f32(g, "s", &f));
    cr_assert_not(vka_gguf_get_u32(g, "f64", &u));
    cr_assert_not(vka_gguf_get_u32(g, "flag", &u));
    cr_assert(vka_gguf_get_bool(g, "flag", &flag) && !flag);
    cr_assert_not(vka_gguf_get_bool(g, "u8", &flag));
    cr_assert_str_eq(vka_gguf_get_str(g, "s"), "x");
    cr_assert_null(vka_gguf_get_str(g, "u8"));
    cr_assert_null(vka_gguf_get_str(g, "missing"));
    const vka_gguf_array *arr = vka_gguf_get_array(g, "arr", VKA_GGUF_UINT32);
    cr_assert_not_null(arr);
    cr_assert_eq(arr->n, 0);
    cr_assert_null(vka_gguf_get_array(g, "arr", VKA_GGUF_INT32));
    cr_assert_null(vka_gguf_get_array(g, "s", VKA_GGUF_STRING));
    cr_assert_null(vka_gguf_find(g, NULL));
    cr_assert_null(vka_gguf_find(NULL, "s"));
    cr_assert_null(vka_gguf_find_tensor(g, "s"));
    cr_assert_str_eq(vka_gguf_vtype_name(VKA_GGUF_UINT8), "uint8");
    cr_assert_str_eq(vka_gguf_vtype_name(VKA_GGUF_FLOAT64), "float64");
    cr_assert_str_eq(vka_gguf_vtype_name(VKA_GGUF_ARRAY), "array");
    cr_assert_str_eq(vka_gguf_vtype_name((vka_gguf_vtype)13), "unknown");
    close_copy(g);
}

Test(gguf, many_tensors_found_by_name) {
    enum { N = 700 };
    vka_gguf_writer *w;
    cr_assert_eq(vka_gguf_writer_create(&w), VKA_OK);
    static float one[N];
    for (int i = 0; i < N; i++) {
        one[i] = (float)i;
        char name[32];
        snprintf(name, sizeof name, "blk.%d.w", i);
        cr_assert_eq(vka_gguf_writer_add_tensor(w, name, VKA_TYPE_F32, 1, (int64_t[]){1}, &one[i], 4), VKA_OK);
    }
    void *mem;
    size_t size;
    cr_assert_eq(vka_gguf_writer_write_memory(w, &mem, &size), VKA_OK);
    vka_gguf_writer_free(w);
    vka_gguf *g;
    cr_assert_eq(vka_gguf_open_memory(mem, size, &g), VKA_OK, "%s", vka_last_error());
    cr_assert_eq(g->n_tensors, N);
    for (int i = N - 1; i >= 0; i--) {
        char name[32];
        snprintf(name, sizeof name, "blk.%d.w", i);
        const vka_gguf_tensor *t = vka_gguf_find_tensor(g, name);
        cr_assert_not_null(t, "%s", name);
        cr_assert_str_eq(t->name.data, name);
        cr_assert_eq(*(const float *)t->data, (float)i);
        cr_assert_eq(t->offset, (uint64_t)i * 32);  /* each 4-byte tensor padded to 32 */
    }
    cr_assert_null(vka_gguf_find_tensor(g, "blk.700.w"));
    vka_gguf_free(g);
    free(mem);
}

Test(gguf, accepts_known_types_the_engine_cannot_run) {
    static uint8_t block[66];  /* one iq2_xxs block: 256 values in 66 bytes */
    vka_gguf_writer *w;
    cr_assert_eq(vka_gguf_writer_create(&w), VKA_OK);
    cr_assert_eq(vka_gguf_writer_add_tensor(w, "q", VKA_TYPE_IQ2_XXS, 1, (int64_t[]){256}, block, 66), VKA_OK);
    void *mem;
    size_t size;
    cr_assert_eq(vka_gguf_writer_write_memory(w, &mem, &size), VKA_OK);
    vka_gguf_writer_free(w);
    vka_gguf *g;
    cr_assert_eq(vka_gguf_open_memory(mem, size, &g), VKA_OK, "%s", vka_last_error());
    cr_assert_eq(g->tensors[0].type, VKA_TYPE_IQ2_XXS);
    cr_assert_eq(g->tensors[0].nbytes, 66);
    vka_gguf_free(g);
    free(mem);
}

/* ---- files and paths ---- */

Test(gguf, open_from_path_and_errors) {
    small_file f;
    build_small(&f);
    char *path = test_write_temp(f.data, f.size);
    cr_assert_not_null(path);
    vka_gguf *g;
    cr_assert_eq(vka_gguf_open(path, &g), VKA_OK, "%s", vka_last_error());
    cr_assert(g->owns_map);
    cr_assert_eq(g->size, f.size);
    cr_assert_eq(memcmp(g->map, f.data, f.size), 0);
    vka_gguf_free(g);

    /* a truncated file on disk: the message names the path and the offset */
    char *cut = test_write_temp(f.data, 30);
    g = (vka_gguf *)0x1;
    cr_assert_eq(vka_gguf_open(cut, &g), VKA_ERR_FORMAT);
    cr_assert_null(g);
    cr_assert(strstr(vka_last_error(), cut), "%s", vka_last_error());
    cr_assert(strstr(vka_last_error(), "offset"), "%s", vka_last_error());
    char *empty = test_write_temp("", 0);
    cr_assert_eq(vka_gguf_open(empty, &g), VKA_ERR_FORMAT);
    cr_assert(strstr(vka_last_error(), "truncated"), "%s", vka_last_error());
    cr_assert_eq(vka_gguf_open("/nonexistent/x.gguf", &g), VKA_ERR_NOT_FOUND);
    cr_assert(strstr(vka_last_error(), "/nonexistent/x.gguf"));
    cr_assert_eq(vka_gguf_open("/tmp", &g), VKA_ERR_IO);
    cr_assert_eq(vka_gguf_open_memory(NULL, 10, &g), VKA_ERR_INVALID_ARGUMENT);
    unlink(path);
    unlink(cut);
    unlink(empty);
    free(path);
    free(cut);
    free(empty);
    free(f.data);
}

/* ---- malformed files ---- */

Test(gguf, every_truncation_fails_cleanly) {
    small_file f;
    build_small(&f);
    cr_assert_gt(f.size, f.data_end, "the last tensor should be followed by padding");
    for (size_t len = 0; len < f.data_end; len++) {
        vka_gguf *g = (vka_gguf *)0x1;
        vka_status s = open_copy(f.data, len, &g);
        cr_assert_eq(s, VKA_ERR_FORMAT, "prefix %zu: %s (%s)", len, vka_status_name(s), vka_last_error());
        cr_assert_null(g);
        const char *m = vka_last_error();
        cr_assert(strstr(m, "truncated") || strstr(m, "past the end") || strstr(m, "cannot fit") ||
                  strstr(m, "impossible"), "prefix %zu: %s", len, m);
        cr_assert(strstr(m, "offset"), "prefix %zu: %s", len, m);
    }
    /* Only the trailing padding may be missing. */
    for (size_t len = f.data_end; len <= f.size; len++) {
        vka_gguf *g;
        cr_assert_eq(open_copy(f.data, len, &g), VKA_OK, "prefix %zu: %s", len, vka_last_error());
        cr_assert_eq(g->n_tensors, 2);
        close_copy(g);
    }
    free(f.data);
}

Test(gguf, bad_magic_and_versions) {
    small_file f;
    build_small(&f);
    f.data[0] = 'X';
    EXPECT_FORMAT(f.data, f.size, "not a GGUF file");
    f.data[0] = 'G';
    patch_u32(f.data, 4, 1);
    EXPECT_FORMAT(f.data, f.size, "version 1 is not supported");
    patch_u32(f.data, 4, 4);
    EXPECT_FORMAT(f.data, f.size, "unsupported GGUF version 4");
    patch_u32(f.data, 4, 0x03000000);
    EXPECT_FORMAT(f.data, f.size, "big-endian");
    patch_u32(f.data, 4, 3);
    vka_gguf *g;
    cr_assert_eq(open_copy(f.data, f.size, &g), VKA_OK);  /* the patches were undone */
    close_copy(g);
    free(f.data);
}

Test(gguf, absurd_counts) {
    small_file f;
    build_small(&f);
    patch_u64(f.data, 16, UINT64_C(1) << 60);
    EXPECT_FORMAT(f.data, f.size, "metadata count 1152921504606846976 is impossible");
    patch_u64(f.data, 16, 8);
    patch_u64(f.data, 8, UINT64_C(1) << 40);
    EXPECT_FORMAT(f.data, f.size, "tensor count 1099511627776 is impossible");
    patch_u64(f.data, 8, 2);
    /* "words" array length (key 5 bytes) */
    uint64_t len_at = kv_value_at(f.kv_words, 5) + 4;
    patch_u64(f.data, len_at, UINT64_C(1) << 59);
    EXPECT_FORMAT(f.data, f.size, "cannot fit");
    patch_u64(f.data, len_at, UINT64_MAX);
    EXPECT_FORMAT(f.data, f.size, "cannot fit");
    free(f.data);
}

Test(gguf, string_lengths_past_the_end) {
    small_file f;
    build_small(&f);
    patch_u64(f.data, f.kv_a, UINT64_MAX);  /* the key length of "k.a" */
    EXPECT_FORMAT(f.data, f.size, "the key is 18446744073709551615 bytes long, past the end");
    patch_u64(f.data, f.kv_a, 3);
    /* element 1 of "words": after type, count and element 0 ("one") */
    uint64_t el1 = kv_value_at(f.kv_words, 5) + 4 + 8 + 8 + 3;
    patch_u64(f.data, el1, f.size);
    EXPECT_FORMAT(f.data, f.size, "string array element 1 is");
    free(f.data);
}

Test(gguf, duplicate_keys_and_tensor_names) {
    small_file f;
    build_small(&f);
    f.data[f.kv_b + 8 + 2] = 'a';  /* "k.b" -> "k.a" */
    EXPECT_FORMAT(f.data, f.size, "duplicate key (already defined as key #1)");
    cr_assert(strstr(vka_last_error(), "'k.a'"));
    f.data[f.kv_b + 8 + 2] = 'b';
    f.data[f.info_tb + 8 + 1] = 'a';  /* "tb" -> "ta" */
    EXPECT_FORMAT(f.data, f.size, "duplicate tensor name (already used by tensor #0)");
    free(f.data);
}

Test(gguf, invalid_bools) {
    small_file f;
    build_small(&f);
    uint64_t at = kv_value_at(f.kv_flag, 4);
    f.data[at] = 2;
    EXPECT_FORMAT(f.data, f.size, "invalid bool byte 0x02");
    cr_assert(strstr(vka_last_error(), "'flag'"));
    f.data[at] = 1;
    f.data[kv_value_at(f.kv_flags, 5) + 12 + 1] = 0xff;
    EXPECT_FORMAT(f.data, f.size, "invalid bool byte 0xff in array element 1");
    free(f.data);
}

Test(gguf, bad_value_types) {
    small_file f;
    build_small(&f);
    patch_u32(f.data, kv_value_at(f.kv_a, 3) - 4, 13);
    EXPECT_FORMAT(f.data, f.size, "unknown value type 13");
    patch_u32(f.data, kv_value_at(f.kv_a, 3) - 4, 4);
    patch_u32(f.data, kv_value_at(f.kv_words, 5), 99);
    EXPECT_FORMAT(f.data, f.size, "unknown array element type 99");
    free(f.data);
}

Test(gguf, empty_key_and_nul_in_key) {
    bb b = {0};
    bb_header(&b, 3, 0, 1);
    bb_u64(&b, 0);
    bb_u32(&b, 4);
    bb_u32(&b, 1);
    EXPECT_FORMAT(b.data, b.len, "empty key");
    b = (bb){0};
    bb_header(&b, 3, 0, 1);
    bb_u64(&b, 3);
    bb_raw(&b, "a\0b", 3);
    bb_u32(&b, 0);
    bb_u8(&b, 1);
    EXPECT_FORMAT(b.data, b.len, "NUL byte");
}

/* `depth` arrays nested in one another, the innermost holding one u8. */
static void nested_file(bb *b, int depth) {
    *b = (bb){0};
    bb_header(b, 3, 0, 1);
    bb_str(b, "deep");
    bb_u32(b, 9);
    for (int d = 1; d < depth; d++) {
        bb_u32(b, 9);
        bb_u64(b, 1);
    }
    bb_u32(b, 0);
    bb_u64(b, 1);
    bb_u8(b, 42);
}

Test(gguf, nesting_limit) {
    bb b;
    nested_file(&b, 8);
    vka_gguf *g;
    cr_assert_eq(open_copy(b.data, b.len, &g), VKA_OK, "%s", vka_last_error());
    const vka_gguf_value *v = &vka_gguf_find(g, "deep")->value;
    for (int d = 1; d < 8; d++) {
        cr_assert_eq(v->type, VKA_GGUF_ARRAY);
        cr_assert_eq(v->v.arr.type, VKA_GGUF_ARRAY);
        cr_assert_eq(v->v.arr.n, 1);
        v = v->v.arr.data;
    }
    cr_assert_eq(v->v.arr.type, VKA_GGUF_UINT8);
    cr_assert_eq(((const uint8_t *)v->v.arr.data)[0], 42);
    close_copy(g);
    nested_file(&b, 9);
    EXPECT_FORMAT(b.data, b.len, "nested deeper than 8 levels");
    /* a hostile file nesting far deeper is refused the same way, without deep recursion */
    b = (bb){0};
    bb_header(&b, 3, 0, 1);
    bb_str(&b, "deep");
    bb_u32(&b, 9);
    for (int d = 0; d < 300; d++) {
        bb_u32(&b, 9);
        bb_u64(&b, 1);
    }
    EXPECT_FORMAT(b.data, b.len, "nested deeper than 8 levels");
}

Test(gguf, bad_alignment) {
    uint32_t bad[] = {0, 48, 3};
    for (size_t i = 0; i < 3; i++) {
        bb b = {0};
        bb_header(&b, 3, 0, 1);
        bb_str(&b, "general.alignment");
        bb_u32(&b, 4);
        bb_u32(&b, bad[i]);
        EXPECT_FORMAT(b.data, b.len, "nonzero power of two");
    }
    bb b = {0};
    bb_header(&b, 3, 0, 1);
    bb_str(&b, "general.alignment");
    bb_u32(&b, 5);  /* int32 */
    bb_u32(&b, 32);
    EXPECT_FORMAT(b.data, b.len, "general.alignment must be a uint32, not int32");
}

Test(gguf, bad_dimensions) {
    small_file f;
    build_small(&f);
    uint64_t ndims = info_ndims_at(f.info_ta, 2);
    patch_u32(f.data, ndims, 0);
    EXPECT_FORMAT(f.data, f.size, "n_dims is 0");
    cr_assert(strstr(vka_last_error(), "'ta'"));
    patch_u32(f.data, ndims, 5);
    EXPECT_FORMAT(f.data, f.size, "n_dims is 5");
    patch_u32(f.data, ndims, 2);
    uint64_t d0 = info_dim_at(f.info_ta, 2, 0), d1 = info_dim_at(f.info_ta, 2, 1);
    patch_u64(f.data, d1, 0);
    EXPECT_FORMAT(f.data, f.size, "dimension 1 is 0");
    patch_u64(f.data, d1, (uint64_t)-5);
    EXPECT_FORMAT(f.data, f.size, "dimension 1 is -5");
    patch_u64(f.data, d0, UINT64_C(1) << 32);
    patch_u64(f.data, d1, UINT64_C(1) << 32);
    EXPECT_FORMAT(f.data, f.size, "overflows int64");
    /* fits int64 elements, but not bytes: 2^62 f32 values */
    patch_u64(f.data, d0, UINT64_C(1) << 32);
    patch_u64(f.data, d1, UINT64_C(1) << 30);
    EXPECT_FORMAT(f.data, f.size, "size in bytes overflows");
    /* plausible element count, data far past the end */
    patch_u64(f.data, d0, 1 << 20);
    patch_u64(f.data, d1, 2);
    EXPECT_FORMAT(f.data, f.size, "tensor 'ta' needs data bytes");
    free(f.data);
}

Test(gguf, bad_tensor_types) {
    small_file f;
    build_small(&f);
    uint64_t type_at = info_type_at(f.info_tb, 2, 1);
    patch_u32(f.data, type_at, 77);
    EXPECT_FORMAT(f.data, f.size, "unknown tensor type 77");
    patch_u32(f.data, type_at, 4);
    EXPECT_FORMAT(f.data, f.size, "q4_2 (4) was removed");
    patch_u32(f.data, type_at, 33);
    EXPECT_FORMAT(f.data, f.size, "q4_0_8_8 (33) was removed");
    patch_u32(f.data, type_at, 36);
    EXPECT_FORMAT(f.data, f.size, "iq4_nl_4_4 (36) was removed");
    patch_u32(f.data, type_at, VKA_TYPE_Q8_0);
    patch_u64(f.data, info_dim_at(f.info_tb, 2, 0), 48);
    EXPECT_FORMAT(f.data, f.size, "row length 48 is not a multiple of the q8_0 block size 32");
    free(f.data);
}

Test(gguf, bad_tensor_offsets) {
    small_file f;
    build_small(&f);
    uint64_t off_at = info_offset_at(f.info_tb, 2, 1);
    uint64_t good = f.data_tb - f.layout.data_offset;
    cr_assert_eq(good, 32);  /* "ta" is 32 bytes of f32 */
    patch_u64(f.data, off_at, 40);
    EXPECT_FORMAT(f.data, f.size, "data offset 40 is not a multiple of the alignment 32");
    patch_u64(f.data, off_at, 0);
    EXPECT_FORMAT(f.data, f.size, "overlaps tensor");
    cr_assert(strstr(vka_last_error(), "'ta'") && strstr(vka_last_error(), "'tb'"), "%s", vka_last_error());
    patch_u64(f.data, off_at, 64);
    EXPECT_FORMAT(f.data, f.size, "tensor 'tb' needs data bytes 64..98");
    patch_u64(f.data, off_at, UINT64_MAX - 31);
    EXPECT_FORMAT(f.data, f.size, "tensor 'tb' needs data bytes");
    patch_u64(f.data, off_at, good);
    /* the data section itself past the end: a file that stops inside the padding after the infos */
    uint64_t infos_end = info_offset_at(f.info_tb, 2, 1) + 8;
    cr_assert_lt(infos_end, f.layout.data_offset, "the small file should have padding after its infos");
    EXPECT_FORMAT(f.data, (size_t)infos_end, "data section starts at offset");
    free(f.data);
}

Test(gguf, nul_in_tensor_name) {
    small_file f;
    build_small(&f);
    f.data[f.info_tb + 8 + 1] = 0;
    EXPECT_FORMAT(f.data, f.size, "tensor name contains a NUL byte");
    free(f.data);
}

/* ---- the vocab-only fixtures (values from ../shared/fixtures/README.md) ---- */

static void count_token_types(const vka_gguf *g, int64_t counts[8]) {
    const vka_gguf_array *types = vka_gguf_get_array(g, "tokenizer.ggml.token_type", VKA_GGUF_INT32);
    cr_assert_not_null(types);
    memset(counts, 0, 8 * sizeof counts[0]);
    for (uint64_t i = 0; i < types->n; i++) {
        int32_t t = ((const int32_t *)types->data)[i];
        cr_assert(t >= 0 && t < 8);
        counts[t]++;
    }
}

Test(gguf, vocab_fixtures) {
    const char *qwen = test_data_path("fixtures/vocab/qwen3.gguf");
    const char *llama = test_data_path("fixtures/vocab/llama3.gguf");
    REQUIRE_FIXTURE(qwen);
    REQUIRE_FIXTURE(llama);
    vka_gguf *g;
    int64_t counts[8];
    uint32_t u;
    bool b;

    cr_assert_eq(vka_gguf_open(qwen, &g), VKA_OK, "%s", vka_last_error());
    cr_assert_eq(g->n_tensors, 0);
    cr_assert_str_eq(vka_gguf_get_str(g, "general.architecture"), "qwen3");
    cr_assert_str_eq(vka_gguf_get_str(g, "tokenizer.ggml.model"), "gpt2");
    cr_assert_str_eq(vka_gguf_get_str(g, "tokenizer.ggml.pre"), "qwen2");
    cr_assert_eq(vka_gguf_get_array(g, "tokenizer.ggml.tokens", VKA_GGUF_STRING)->n, 151936);
    cr_assert_eq(vka_gguf_get_array(g, "tokenizer.ggml.merges", VKA_GGUF_STRING)->n, 151387);
    count_token_types(g, counts);
    cr_assert(counts[1] == 151643 && counts[3] == 20 && counts[4] == 6 && counts[5] == 267);  /* NORMAL CONTROL USER_DEFINED UNUSED */
    cr_assert(vka_gguf_get_u32(g, "tokenizer.ggml.eos_token_id", &u) && u == 151645);
    cr_assert(vka_gguf_get_u32(g, "qwen3.block_count", &u) && u == 28);
    cr_assert(vka_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b) && !b);
    const vka_gguf_str *tok = vka_gguf_get_array(g, "tokenizer.ggml.tokens", VKA_GGUF_STRING)->data;
    cr_assert_str_eq(tok[151645].data, "<|im_end|>");
    cr_assert_str_eq(tok[151935].data, "[PAD151935]");
    cr_assert_not_null(vka_gguf_get_str(g, "tokenizer.chat_template"));
    vka_gguf_free(g);

    cr_assert_eq(vka_gguf_open(llama, &g), VKA_OK, "%s", vka_last_error());
    cr_assert_str_eq(vka_gguf_get_str(g, "general.architecture"), "llama");
    cr_assert_str_eq(vka_gguf_get_str(g, "tokenizer.ggml.pre"), "llama-bpe");
    cr_assert_eq(vka_gguf_get_array(g, "tokenizer.ggml.tokens", VKA_GGUF_STRING)->n, 128256);
    cr_assert_eq(vka_gguf_get_array(g, "tokenizer.ggml.merges", VKA_GGUF_STRING)->n, 280147);
    count_token_types(g, counts);
    cr_assert(counts[1] == 128000 && counts[3] == 256);
    cr_assert(vka_gguf_get_u32(g, "tokenizer.ggml.bos_token_id", &u) && u == 128000);
    cr_assert(vka_gguf_get_u32(g, "llama.feed_forward_length", &u) && u == 14336);
    float f;
    cr_assert(vka_gguf_get_f32(g, "llama.rope.freq_base", &f) && f == 500000.0f);  /* exact in f32 */
    vka_gguf_free(g);
}

/* Releasing a tensor's pages drops them from the resident set only: a read
 * afterwards sees the same bytes (from the file). Memory the gguf does not
 * own is never released: its bytes stay, even where they were anonymous. */
Test(gguf, released_pages_read_back_unchanged) {
    const char *path = test_data_path("models/stories260K.gguf");
    REQUIRE_FIXTURE(path);
    vka_gguf *g;
    cr_assert_eq(vka_gguf_open(path, &g), VKA_OK, "%s", vka_last_error());
    size_t n = g->size - g->data_offset;
    uint8_t *before = malloc(n);
    memcpy(before, g->map + g->data_offset, n);
    vka_gguf_release_pages(g, g->map + g->data_offset, n);
    cr_expect_eq(memcmp(before, g->map + g->data_offset, n), 0);
    vka_gguf_release_pages(g, g->map, g->size + 1); /* past the end: ignored */
    cr_expect_eq(memcmp(before, g->map + g->data_offset, n), 0);
    vka_gguf_free(g);

    /* the same bytes in anonymous memory the caller owns: left alone */
    size_t size = (size_t)sysconf(_SC_PAGESIZE) * 512;
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    uint8_t *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert(mem != MAP_FAILED);
    size_t got = fread(mem, 1, size, f);
    fclose(f);
    cr_assert_eq(vka_gguf_open_memory(mem, got, &g), VKA_OK, "%s", vka_last_error());
    vka_gguf_release_pages(g, g->map + g->data_offset, got - g->data_offset);
    cr_expect_eq(memcmp(before, mem + g->data_offset, got - g->data_offset), 0);
    vka_gguf_free(g);
    munmap(mem, size);
    free(before);
}
