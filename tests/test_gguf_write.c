/* test_gguf_write.c — the GGUF writer: exact bytes of a small file, round
 * trips of every value type through the reader, layout, streaming, errors. */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "format/gguf.h"
#include "format/gguf_write.h"
#include "base/status.h"
#include "test_util.h"

static vka_gguf_writer *new_writer(void) {
    vka_gguf_writer *w = NULL;
    cr_assert_eq(vka_gguf_writer_create(&w), VKA_OK);
    return w;
}

/* Writes to memory and opens the result; *mem must be freed after the gguf. */
static vka_gguf *write_and_read(const vka_gguf_writer *w, void **mem) {
    size_t size;
    cr_assert_eq(vka_gguf_writer_write_memory(w, mem, &size), VKA_OK, "%s", vka_last_error());
    vka_gguf *g;
    cr_assert_eq(vka_gguf_open_memory(*mem, size, &g), VKA_OK, "%s", vka_last_error());
    return g;
}

static uint64_t le64_at(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

Test(gguf_write, exact_bytes_of_a_small_file) {
    vka_gguf_writer *w = new_writer();
    cr_assert_eq(vka_gguf_writer_add_u32(w, "a", 5), VKA_OK);
    float t[2] = {1.0f, 2.0f};
    cr_assert_eq(vka_gguf_writer_add_tensor(w, "t", VKA_TYPE_F32, 1, (int64_t[]){2}, t, sizeof t), VKA_OK);
    /* Assembled by hand from the GGUF spec. */
    static const uint8_t expect[128] = {
        'G', 'G', 'U', 'F', 3, 0, 0, 0,       /* magic, version 3 */
        1, 0, 0, 0, 0, 0, 0, 0,               /* 1 tensor */
        1, 0, 0, 0, 0, 0, 0, 0,               /* 1 key/value */
        1, 0, 0, 0, 0, 0, 0, 0, 'a',          /* key "a" */
        4, 0, 0, 0, 5, 0, 0, 0,               /* uint32 5 */
        1, 0, 0, 0, 0, 0, 0, 0, 't',          /* tensor "t" */
        1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0,   /* n_dims 1, ne 2 */
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,   /* f32, offset 0; then zeros up to 96 */
        [96] = 0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0x40,  /* 1.0f, 2.0f; zeros up to 128 */
    };
    void *mem;
    size_t size;
    cr_assert_eq(vka_gguf_writer_write_memory(w, &mem, &size), VKA_OK);
    cr_assert_eq(size, sizeof expect);
    cr_assert_eq(memcmp(mem, expect, size), 0);
    vka_gguf_layout l;
    cr_assert_eq(vka_gguf_writer_layout(w, &l), VKA_OK);
    cr_assert(l.kv_offset == 24 && l.tensor_info_offset == 41 && l.data_offset == 96 && l.file_size == 128 &&
              l.alignment == 32);
    uint64_t kv, info, data;
    cr_assert(vka_gguf_writer_kv_offset(w, "a", &kv) && kv == 24);
    cr_assert(vka_gguf_writer_tensor_offsets(w, "t", &info, &data) && info == 41 && data == 96);
    cr_assert_not(vka_gguf_writer_kv_offset(w, "b", &kv));
    cr_assert_not(vka_gguf_writer_tensor_offsets(w, "u", &info, &data));
    free(mem);
    vka_gguf_writer_free(w);
}

/* The value of `key`, asserting that it exists with type t. */
static const vka_gguf_value *value_of(const vka_gguf *g, const char *key, vka_gguf_vtype t) {
    const vka_gguf_kv *kv = vka_gguf_find(g, key);
    cr_assert_not_null(kv, "%s", key);
    cr_assert_eq(kv->value.type, t, "%s", key);
    return &kv->value;
}

/* The elements of array `key`, asserting their type and count. */
static const void *array_of(const vka_gguf *g, const char *key, vka_gguf_vtype t, uint64_t n) {
    const vka_gguf_array *a = vka_gguf_get_array(g, key, t);
    cr_assert_not_null(a, "%s", key);
    cr_assert_eq(a->n, n, "%s", key);
    return a->data;
}

Test(gguf_write, scalars_round_trip) {
    vka_gguf_writer *w = new_writer();
    cr_assert_eq(vka_gguf_writer_add_u8(w, "u8.min", 0), VKA_OK);
    cr_assert_eq(vka_gguf_writer_add_u8(w, "u8.max", UINT8_MAX), VKA_OK);
    cr_assert_eq(vka_gguf_writer_add_i8(w, "i8.min", INT8_MIN), VKA_OK);
    cr_assert_eq(vka_gguf_writer_add_i8(w, "i8.max", INT8_MAX), VKA_OK);
    cr_assert_eq(vka_gguf_writer_add_u16(w, "u16.max", UINT16_MAX), VKA_OK);
    cr_assert_eq(vka_gguf_writer_add_i16(w, "i16.min", INT16_MIN), VKA_OK);
    cr_assert_eq(vka_gguf_writer_add_i16(w, "i16.max", INT16_MAX), VKA_OK);
    cr_assert_eq(vka_gguf_writer_add_u32(w, "u32.max", UINT32_MAX), VKA_OK);
    cr_assert_eq(vka_gguf_writer_add_i32(w, "i32.min", INT32_MIN), VKA_OK);
    cr_assert_eq(vka_gguf_writer_add_u64(w, "u64.max", UINT64_MAX), VKA_OK);
    cr_assert_eq(vka_gguf_writer_add_i64(w, "i64.min", INT64_MIN), VKA_OK);
    cr_assert_eq(vka_gguf_writer_add_i64(w, "i64.max", INT64_MAX), VKA_OK);
    cr_assert_eq(vka_gguf_writer_add_f32(w, "f32.negzero", -0.0f), VKA_OK);
    cr_assert_eq(vka_gguf_writer_add_f32(w, "f32.max", FLT_MAX), VKA_OK);
    cr_assert_eq(vka_gguf_writer_add_f32(w, "f32.inf", INFINITY), VKA_OK);
    cr_assert_eq(vka_gguf_writer_add_f32(w, "f32.nan", NAN), VKA_OK);
    cr_assert_eq(vka_gguf_writer_add_f64(w, "f64.min", DBL_TRUE_MIN), VKA_OK);
    cr_assert_eq(vka_gguf_writer_add_f64(w, "f64.tenth", 0.1), VKA_OK);
    cr_assert_eq(vka_gguf_writer_add_bool(w, "yes", true), VKA_OK);
    cr_assert_eq(vka_gguf_writer_add_bool(w, "no", false), VKA_OK);
    cr_assert_eq(vka_gguf_writer_add_str(w, "s.empty", ""), VKA_OK);
    cr_assert_eq(vka_gguf_writer_add_strn(w, "s.nul", "a\0b", 3), VKA_OK);
    cr_assert_eq(vka_gguf_writer_add_strn(w, "s.null0", NULL, 0), VKA_OK);
    cr_assert_eq(vka_gguf_writer_add_str(w, "s.unicode", "h\xc3\xa9llo \xe2\x98\x95 \xf0\x9d\x84\x9e"), VKA_OK);
    void *mem;
    vka_gguf *g = write_and_read(w, &mem);
    cr_assert_eq(g->n_kv, 24);
    cr_assert_eq(g->n_tensors, 0);
    const vka_gguf_value *v;
#define VAL(key, t) value_of(g, key, t)
    cr_assert_eq(VAL("u8.min", VKA_GGUF_UINT8)->v.u, 0);
    cr_assert_eq(VAL("u8.max", VKA_GGUF_UINT8)->v.u, 255);
    cr_assert_eq(VAL("i8.min", VKA_GGUF_INT8)->v.i, -128);
    cr_assert_eq(VAL("i8.max", VKA_GGUF_INT8)->v.i, 127);
    cr_assert_eq(VAL("u16.max", VKA_GGUF_UINT16)->v.u, 65535);
    cr_assert_eq(VAL("i16.min", VKA_GGUF_INT16)->v.i, -32768);
    cr_assert_eq(VAL("i16.max", VKA_GGUF_INT16)->v.i, 32767);
    cr_assert_eq(VAL("u32.max", VKA_GGUF_UINT32)->v.u, 4294967295u);
    cr_assert_eq(VAL("i32.min", VKA_GGUF_INT32)->v.i, -2147483647 - 1);
    cr_assert_eq(VAL("u64.max", VKA_GGUF_UINT64)->v.u, 18446744073709551615ull);
    cr_assert_eq(VAL("i64.min", VKA_GGUF_INT64)->v.i, -9223372036854775807ll - 1);
    cr_assert_eq(VAL("i64.max", VKA_GGUF_INT64)->v.i, 9223372036854775807ll);
    v = VAL("f32.negzero", VKA_GGUF_FLOAT32);
    cr_assert(v->v.f == 0.0 && signbit(v->v.f));
    cr_assert_eq(VAL("f32.max", VKA_GGUF_FLOAT32)->v.f, 3.4028234663852886e38);  /* exact */
    cr_assert(isinf(VAL("f32.inf", VKA_GGUF_FLOAT32)->v.f));
    cr_assert(isnan(VAL("f32.nan", VKA_GGUF_FLOAT32)->v.f));
    cr_assert_eq(VAL("f64.min", VKA_GGUF_FLOAT64)->v.f, 4.9406564584124654e-324);  /* exact */
    cr_assert_eq(VAL("f64.tenth", VKA_GGUF_FLOAT64)->v.f, 0.1);                    /* exact: f64 kept */
    cr_assert(VAL("yes", VKA_GGUF_BOOL)->v.b);
    cr_assert_not(VAL("no", VKA_GGUF_BOOL)->v.b);
    v = VAL("s.empty", VKA_GGUF_STRING);
    cr_assert(v->v.str.len == 0 && v->v.str.data[0] == '\0');
    v = VAL("s.nul", VKA_GGUF_STRING);
    cr_assert(v->v.str.len == 3 && memcmp(v->v.str.data, "a\0b\0", 4) == 0);
    cr_assert_eq(VAL("s.null0", VKA_GGUF_STRING)->v.str.len, 0);
    cr_assert_str_eq(vka_gguf_get_str(g, "s.unicode"), "h\xc3\xa9llo \xe2\x98\x95 \xf0\x9d\x84\x9e");
    cr_assert_eq(vka_gguf_find(g, "s.unicode")->value.v.str.len, 15);
#undef VAL
    vka_gguf_free(g);
    free(mem);
    vka_gguf_writer_free(w);
}

Test(gguf_write, arrays_round_trip) {
    vka_gguf_writer *w = new_writer();
    uint8_t u8s[] = {0, 255};
    int8_t i8s[] = {-128, 127};
    uint16_t u16s[] = {0, 65535};
    int16_t i16s[] = {-32768, 32767};
    uint32_t u32s[] = {0, UINT32_MAX};
    int32_t i32s[] = {INT32_MIN, INT32_MAX};
    uint64_t u64s[] = {0, UINT64_MAX};
    int64_t i64s[] = {INT64_MIN, INT64_MAX};
    float f32s[] = {1.5f, -0.0f, -FLT_MAX};
    double f64s[] = {1e300, -2.5};
    bool bools[] = {true, false, true};
    vka_gguf_str strs[] = {{"", 0}, {"x\0y", 3}, {"\xc3\xbc", 2}};
    const char *cstrs[] = {"<unk>", "", "\xe2\x96\x81the"};
    cr_assert_eq(vka_gguf_writer_add_array(w, "u8", VKA_GGUF_UINT8, u8s, 2), VKA_OK);
    cr_assert_eq(vka_gguf_writer_add_array(w, "i8", VKA_GGUF_INT8, i8s, 2), VKA_OK);
    cr_assert_eq(vka_gguf_writer_add_array(w, "u16", VKA_GGUF_UINT16, u16s, 2), VKA_OK);
    cr_assert_eq(vka_gguf_writer_add_array(w, "i16", VKA_GGUF_INT16, i16s, 2), VKA_OK);
    cr_assert_eq(vka_gguf_writer_add_array(w, "u32", VKA_GGUF_UINT32, u32s, 2), VKA_OK);
    cr_assert_eq(vka_gguf_writer_add_array(w, "i32", VKA_GGUF_INT32, i32s, 2), VKA_OK);
    cr_assert_eq(vka_gguf_writer_add_array(w, "u64", VKA_GGUF_UINT64, u64s, 2), VKA_OK);
    cr_assert_eq(vka_gguf_writer_add_array(w, "i64", VKA_GGUF_INT64, i64s, 2), VKA_OK);
    cr_assert_eq(vka_gguf_writer_add_array(w, "f32", VKA_GGUF_FLOAT32, f32s, 3), VKA_OK);
    cr_assert_eq(vka_gguf_writer_add_array(w, "f64", VKA_GGUF_FLOAT64, f64s, 2), VKA_OK);
    cr_assert_eq(vka_gguf_writer_add_array(w, "bool", VKA_GGUF_BOOL, bools, 3), VKA_OK);
    cr_assert_eq(vka_gguf_writer_add_array(w, "str", VKA_GGUF_STRING, strs, 3), VKA_OK);
    cr_assert_eq(vka_gguf_writer_add_str_array(w, "cstr", cstrs, 3), VKA_OK);
    cr_assert_eq(vka_gguf_writer_add_array(w, "empty.u32", VKA_GGUF_UINT32, NULL, 0), VKA_OK);
    cr_assert_eq(vka_gguf_writer_add_array(w, "empty.str", VKA_GGUF_STRING, NULL, 0), VKA_OK);
    /* [["a", "b"], []] and [[[1], [2, 3]]] */
    vka_gguf_str ab[] = {{"a", 1}, {"b", 1}};
    vka_gguf_value str_rows[] = {
        {.type = VKA_GGUF_ARRAY, .v.arr = {VKA_GGUF_STRING, 2, ab}},
        {.type = VKA_GGUF_ARRAY, .v.arr = {VKA_GGUF_STRING, 0, NULL}},
    };
    cr_assert_eq(vka_gguf_writer_add_array(w, "nested.str", VKA_GGUF_ARRAY, str_rows, 2), VKA_OK);
    int32_t one[] = {1}, two_three[] = {2, 3};
    vka_gguf_value inner[] = {
        {.type = VKA_GGUF_ARRAY, .v.arr = {VKA_GGUF_INT32, 1, one}},
        {.type = VKA_GGUF_ARRAY, .v.arr = {VKA_GGUF_INT32, 2, two_three}},
    };
    vka_gguf_value outer[] = {{.type = VKA_GGUF_ARRAY, .v.arr = {VKA_GGUF_ARRAY, 2, inner}}};
    cr_assert_eq(vka_gguf_writer_add_array(w, "nested.i32", VKA_GGUF_ARRAY, outer, 1), VKA_OK);

    void *mem;
    vka_gguf *g = write_and_read(w, &mem);
#define ARR(key, t, count) array_of(g, key, t, count)
    const uint8_t *ru8 = ARR("u8", VKA_GGUF_UINT8, 2);
    cr_assert(ru8[0] == 0 && ru8[1] == 255);
    const int8_t *ri8 = ARR("i8", VKA_GGUF_INT8, 2);
    cr_assert(ri8[0] == -128 && ri8[1] == 127);
    const uint16_t *ru16 = ARR("u16", VKA_GGUF_UINT16, 2);
    cr_assert(ru16[0] == 0 && ru16[1] == 65535);
    const int16_t *ri16 = ARR("i16", VKA_GGUF_INT16, 2);
    cr_assert(ri16[0] == -32768 && ri16[1] == 32767);
    const uint32_t *ru32 = ARR("u32", VKA_GGUF_UINT32, 2);
    cr_assert(ru32[0] == 0 && ru32[1] == 4294967295u);
    const int32_t *ri32 = ARR("i32", VKA_GGUF_INT32, 2);
    cr_assert(ri32[0] == -2147483647 - 1 && ri32[1] == 2147483647);
    const uint64_t *ru64 = ARR("u64", VKA_GGUF_UINT64, 2);
    cr_assert(ru64[0] == 0 && ru64[1] == 18446744073709551615ull);
    const int64_t *ri64 = ARR("i64", VKA_GGUF_INT64, 2);
    cr_assert(ri64[0] == -9223372036854775807ll - 1 && ri64[1] == 9223372036854775807ll);
    const float *rf32 = ARR("f32", VKA_GGUF_FLOAT32, 3);
    cr_assert(rf32[0] == 1.5f && rf32[1] == 0.0f && signbit(rf32[1]) && rf32[2] == -FLT_MAX);  /* exact */
    const double *rf64 = ARR("f64", VKA_GGUF_FLOAT64, 2);
    cr_assert(rf64[0] == 1e300 && rf64[1] == -2.5);  /* exact */
    const bool *rb = ARR("bool", VKA_GGUF_BOOL, 3);
    cr_assert(rb[0] && !rb[1] && rb[2]);
    const vka_gguf_str *rs = ARR("str", VKA_GGUF_STRING, 3);
    cr_assert(rs[0].len == 0 && rs[0].data[0] == '\0');
    cr_assert(rs[1].len == 3 && memcmp(rs[1].data, "x\0y\0", 4) == 0);
    cr_assert_str_eq(rs[2].data, "\xc3\xbc");
    const vka_gguf_str *rc = ARR("cstr", VKA_GGUF_STRING, 3);
    cr_assert_str_eq(rc[0].data, "<unk>");
    cr_assert_str_eq(rc[1].data, "");
    cr_assert_str_eq(rc[2].data, "\xe2\x96\x81the");
    ARR("empty.u32", VKA_GGUF_UINT32, 0);
    ARR("empty.str", VKA_GGUF_STRING, 0);
    const vka_gguf_value *rows = ARR("nested.str", VKA_GGUF_ARRAY, 2);
    cr_assert(rows[0].type == VKA_GGUF_ARRAY && rows[0].v.arr.type == VKA_GGUF_STRING && rows[0].v.arr.n == 2);
    cr_assert_str_eq(((const vka_gguf_str *)rows[0].v.arr.data)[1].data, "b");
    cr_assert(rows[1].v.arr.type == VKA_GGUF_STRING && rows[1].v.arr.n == 0);
    const vka_gguf_value *o = ARR("nested.i32", VKA_GGUF_ARRAY, 1);
    cr_assert(o[0].v.arr.type == VKA_GGUF_ARRAY && o[0].v.arr.n == 2);
    const vka_gguf_value *in = o[0].v.arr.data;
    cr_assert(in[0].v.arr.n == 1 && ((const int32_t *)in[0].v.arr.data)[0] == 1);
    cr_assert(in[1].v.arr.n == 2 && ((const int32_t *)in[1].v.arr.data)[1] == 3);
#undef ARR
    vka_gguf_free(g);
    free(mem);
    vka_gguf_writer_free(w);
}

Test(gguf_write, nesting_up_to_eight_levels) {
    uint8_t leaf[] = {9};
    vka_gguf_value levels[9];
    levels[0] = (vka_gguf_value){.type = VKA_GGUF_ARRAY, .v.arr = {VKA_GGUF_UINT8, 1, leaf}};
    for (int d = 1; d < 9; d++)
        levels[d] = (vka_gguf_value){.type = VKA_GGUF_ARRAY, .v.arr = {VKA_GGUF_ARRAY, 1, &levels[d - 1]}};
    vka_gguf_writer *w = new_writer();
    cr_assert_eq(vka_gguf_writer_add_value(w, "deep8", &levels[7]), VKA_OK);  /* 8 arrays */
    cr_assert_eq(vka_gguf_writer_add_value(w, "deep9", &levels[8]), VKA_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(vka_last_error(), "nested deeper than 8"));
    void *mem;
    vka_gguf *g = write_and_read(w, &mem);
    cr_assert_eq(g->n_kv, 1);
    const vka_gguf_value *v = &vka_gguf_find(g, "deep8")->value;
    for (int d = 0; d < 7; d++) v = v->v.arr.data;
    cr_assert_eq(v->v.arr.type, VKA_GGUF_UINT8);
    cr_assert_eq(((const uint8_t *)v->v.arr.data)[0], 9);
    vka_gguf_free(g);
    free(mem);
    vka_gguf_writer_free(w);
}

Test(gguf_write, rejects_bad_input_and_stays_usable) {
    vka_gguf_writer *w = new_writer();
    cr_assert_eq(vka_gguf_writer_add_u32(w, "k", 1), VKA_OK);
    cr_assert_eq(vka_gguf_writer_add_u32(w, "k", 2), VKA_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(vka_last_error(), "duplicate key 'k'"));
    cr_assert_eq(vka_gguf_writer_add_u32(w, "", 2), VKA_ERR_INVALID_ARGUMENT);
    cr_assert_eq(vka_gguf_writer_add_u32(w, NULL, 2), VKA_ERR_INVALID_ARGUMENT);
    cr_assert_eq(vka_gguf_writer_set_alignment(w, 0), VKA_ERR_INVALID_ARGUMENT);
    cr_assert_eq(vka_gguf_writer_set_alignment(w, 48), VKA_ERR_INVALID_ARGUMENT);
    cr_assert_eq(vka_gguf_writer_add_i32(w, "general.alignment", 32), VKA_ERR_INVALID_ARGUMENT);
    vka_gguf_value big = {.type = VKA_GGUF_UINT8, .v.u = 256};
    cr_assert_eq(vka_gguf_writer_add_value(w, "big", &big), VKA_ERR_INVALID_ARGUMENT);
    vka_gguf_value small = {.type = VKA_GGUF_INT8, .v.i = -129};
    cr_assert_eq(vka_gguf_writer_add_value(w, "small", &small), VKA_ERR_INVALID_ARGUMENT);
    vka_gguf_value bad_type = {.type = (vka_gguf_vtype)13};
    cr_assert_eq(vka_gguf_writer_add_value(w, "bad", &bad_type), VKA_ERR_INVALID_ARGUMENT);
    uint32_t x = 1;
    vka_gguf_value not_array[] = {{.type = VKA_GGUF_UINT32, .v.u = 1}};
    cr_assert_eq(vka_gguf_writer_add_array(w, "mixed", VKA_GGUF_ARRAY, not_array, 1), VKA_ERR_INVALID_ARGUMENT);
    cr_assert_eq(vka_gguf_writer_add_array(w, "null", VKA_GGUF_UINT32, NULL, 1), VKA_ERR_INVALID_ARGUMENT);
    cr_assert_eq(vka_gguf_writer_add_str(w, "nullstr", NULL), VKA_ERR_INVALID_ARGUMENT);
    cr_assert_eq(vka_gguf_writer_add_u32(w, "k2", x), VKA_OK);

    float d[64] = {0};
    cr_assert_eq(vka_gguf_writer_add_tensor(w, "t", VKA_TYPE_F32, 1, (int64_t[]){4}, d, 16), VKA_OK);
    cr_assert_eq(vka_gguf_writer_add_tensor(w, "t", VKA_TYPE_F32, 1, (int64_t[]){4}, d, 16), VKA_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(vka_last_error(), "duplicate tensor name 't'"));
    cr_assert_eq(vka_gguf_writer_add_tensor(w, "", VKA_TYPE_F32, 1, (int64_t[]){4}, d, 16), VKA_ERR_INVALID_ARGUMENT);
    cr_assert_eq(vka_gguf_writer_add_tensor(w, "n", VKA_TYPE_F32, 1, (int64_t[]){4}, d, 12), VKA_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(vka_last_error(), "12 bytes given, its shape and type need 16"));
    cr_assert_eq(vka_gguf_writer_add_tensor(w, "n", VKA_TYPE_F32, 0, (int64_t[]){4}, d, 16), VKA_ERR_INVALID_ARGUMENT);
    cr_assert_eq(vka_gguf_writer_add_tensor(w, "n", VKA_TYPE_F32, 5, (int64_t[]){1, 1, 1, 1, 1}, d, 4),
                 VKA_ERR_INVALID_ARGUMENT);
    cr_assert_eq(vka_gguf_writer_add_tensor(w, "n", VKA_TYPE_F32, 2, (int64_t[]){4, 0}, d, 0), VKA_ERR_INVALID_ARGUMENT);
    cr_assert_eq(vka_gguf_writer_add_tensor(w, "n", VKA_TYPE_F32, 1, (int64_t[]){-4}, d, 16), VKA_ERR_INVALID_ARGUMENT);
    cr_assert_eq(vka_gguf_writer_add_tensor(w, "n", 77, 1, (int64_t[]){4}, d, 16), VKA_ERR_INVALID_ARGUMENT);
    cr_assert_eq(vka_gguf_writer_add_tensor(w, "n", 4, 1, (int64_t[]){32}, d, 20), VKA_ERR_INVALID_ARGUMENT);
    cr_assert_eq(vka_gguf_writer_add_tensor(w, "n", VKA_TYPE_Q8_0, 1, (int64_t[]){48}, d, 51), VKA_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(vka_last_error(), "not a multiple of the q8_0 block size 32"));
    cr_assert_eq(vka_gguf_writer_add_tensor(w, "n", VKA_TYPE_F32, 1, (int64_t[]){4}, NULL, 16), VKA_ERR_INVALID_ARGUMENT);
    cr_assert_eq(vka_gguf_writer_add_tensor_fill(w, "n", VKA_TYPE_F32, 1, (int64_t[]){4}, NULL, NULL),
                 VKA_ERR_INVALID_ARGUMENT);

    void *mem;
    vka_gguf *g = write_and_read(w, &mem);
    cr_assert_eq(g->n_kv, 2);
    cr_assert_str_eq(g->kv[0].key.data, "k");
    cr_assert_str_eq(g->kv[1].key.data, "k2");
    cr_assert_eq(g->n_tensors, 1);
    cr_assert_eq(g->alignment, 32);
    vka_gguf_free(g);
    free(mem);
    vka_gguf_writer_free(w);
}

Test(gguf_write, alignment_and_padding) {
    vka_gguf_writer *w = new_writer();
    cr_assert_eq(vka_gguf_writer_add_str(w, "general.architecture", "x"), VKA_OK);
    cr_assert_eq(vka_gguf_writer_set_alignment(w, 64), VKA_OK);
    uint16_t h[3] = {0x3c00, 0x4000, 0xc000};
    float f[5] = {1, 2, 3, 4, 5};
    uint8_t q[68];
    for (int i = 0; i < 68; i++) q[i] = (uint8_t)(i + 1);
    cr_assert_eq(vka_gguf_writer_add_tensor(w, "h", VKA_TYPE_F16, 1, (int64_t[]){3}, h, 6), VKA_OK);
    cr_assert_eq(vka_gguf_writer_add_tensor(w, "f", VKA_TYPE_F32, 2, (int64_t[]){5, 1}, f, 20), VKA_OK);
    cr_assert_eq(vka_gguf_writer_add_tensor(w, "q", VKA_TYPE_Q8_0, 1, (int64_t[]){64}, q, 68), VKA_OK);
    vka_gguf_layout l;
    cr_assert_eq(vka_gguf_writer_layout(w, &l), VKA_OK);
    cr_assert_eq(l.alignment, 64);
    void *mem;
    vka_gguf *g = write_and_read(w, &mem);
    const uint8_t *bytes = mem;
    cr_assert_eq(g->alignment, 64);
    cr_assert_eq(g->data_offset % 64, 0);
    cr_assert_eq(g->data_offset, l.data_offset);
    cr_assert_eq(g->tensors[0].offset, 0);
    cr_assert_eq(g->tensors[1].offset, 64);
    cr_assert_eq(g->tensors[2].offset, 128);
    cr_assert_eq(g->size, l.data_offset + 128 + 128);  /* 68 bytes padded to 128 */
    cr_assert_eq(g->size, l.file_size);
    cr_assert_eq(memcmp(g->tensors[0].data, h, 6), 0);
    cr_assert_eq(memcmp(g->tensors[1].data, f, 20), 0);
    cr_assert_eq(memcmp(g->tensors[2].data, q, 68), 0);
    cr_assert(g->tensors[1].n_dims == 2 && g->tensors[1].ne[0] == 5 && g->tensors[1].ne[1] == 1);
    /* every padding byte is zero: after the infos, and after each tensor */
    uint64_t info_q, data_q;
    cr_assert(vka_gguf_writer_tensor_offsets(w, "q", &info_q, &data_q));
    uint64_t infos_end = info_q + 8 + 1 + 4 + 8 + 4 + 8;
    for (uint64_t i = infos_end; i < l.data_offset; i++) cr_assert_eq(bytes[i], 0, "byte %lu", (unsigned long)i);
    uint64_t pads[][2] = {{6, 64}, {64 + 20, 128}, {128 + 68, 256}};
    for (int p = 0; p < 3; p++)
        for (uint64_t i = pads[p][0]; i < pads[p][1]; i++) cr_assert_eq(bytes[l.data_offset + i], 0);
    /* the offsets the writer reports point at the right bytes */
    uint64_t kv;
    cr_assert(vka_gguf_writer_kv_offset(w, "general.alignment", &kv));
    cr_assert_eq(le64_at(bytes + kv), 17);
    cr_assert_eq(memcmp(bytes + kv + 8, "general.alignment", 17), 0);
    cr_assert_eq(le64_at(bytes + info_q), 1);
    cr_assert_eq(bytes[info_q + 8], 'q');
    cr_assert_eq(data_q, l.data_offset + 128);
    vka_gguf_free(g);
    free(mem);
    vka_gguf_writer_free(w);
}

typedef struct fill_state {
    int calls;
    bool fail;
} fill_state;

/* Byte i of a tensor is (i * 7 + name[0]) & 0xff. */
static vka_status fill_pattern(void *user, const char *name, void *dst, uint64_t nbytes) {
    fill_state *st = user;
    st->calls++;
    if (st->fail) return vka_fail(VKA_ERR_IO, "boom from the fill callback");
    for (uint64_t i = 0; i < nbytes; i++) ((uint8_t *)dst)[i] = (uint8_t)(i * 7 + (uint8_t)name[0]);
    return VKA_OK;
}

Test(gguf_write, file_and_memory_agree_with_fill_callbacks) {
    fill_state st = {0};
    vka_gguf_writer *w = new_writer();
    cr_assert_eq(vka_gguf_writer_add_str(w, "general.name", "filled"), VKA_OK);
    cr_assert_eq(vka_gguf_writer_add_tensor_fill(w, "a", VKA_TYPE_Q4_0, 2, (int64_t[]){64, 3}, fill_pattern, &st), VKA_OK);
    float b[3] = {1, 2, 3};
    cr_assert_eq(vka_gguf_writer_add_tensor(w, "b", VKA_TYPE_F32, 1, (int64_t[]){3}, b, 12), VKA_OK);
    cr_assert_eq(vka_gguf_writer_add_tensor_fill(w, "c", VKA_TYPE_F16, 1, (int64_t[]){1000}, fill_pattern, &st), VKA_OK);
    char *path = test_write_temp("", 0);
    cr_assert_eq(vka_gguf_writer_write_file(w, path), VKA_OK, "%s", vka_last_error());
    cr_assert_eq(st.calls, 2);
    void *mem;
    size_t size;
    cr_assert_eq(vka_gguf_writer_write_memory(w, &mem, &size), VKA_OK);
    cr_assert_eq(st.calls, 4);
    size_t file_size;
    char *file = test_read_file(path, &file_size);
    cr_assert_not_null(file);
    cr_assert_eq(file_size, size);
    cr_assert_eq(memcmp(file, mem, size), 0);
    vka_gguf *g;
    cr_assert_eq(vka_gguf_open(path, &g), VKA_OK, "%s", vka_last_error());
    const vka_gguf_tensor *a = vka_gguf_find_tensor(g, "a");
    cr_assert_eq(a->nbytes, 3 * 2 * 18);  /* 3 rows of 2 q4_0 blocks */
    for (uint64_t i = 0; i < a->nbytes; i++) cr_assert_eq(((const uint8_t *)a->data)[i], (uint8_t)(i * 7 + 'a'));
    const vka_gguf_tensor *c = vka_gguf_find_tensor(g, "c");
    cr_assert_eq(c->nbytes, 2000);
    cr_assert_eq(((const uint8_t *)c->data)[1999], (uint8_t)(1999 * 7 + 'c'));
    cr_assert_eq(memcmp(vka_gguf_find_tensor(g, "b")->data, b, 12), 0);
    vka_gguf_free(g);
    unlink(path);
    free(path);
    free(file);
    free(mem);
    vka_gguf_writer_free(w);
}

Test(gguf_write, failing_fill_removes_the_file) {
    fill_state st = {.fail = true};
    vka_gguf_writer *w = new_writer();
    cr_assert_eq(vka_gguf_writer_add_tensor_fill(w, "x", VKA_TYPE_F32, 1, (int64_t[]){8}, fill_pattern, &st), VKA_OK);
    char *path = test_write_temp("", 0);
    cr_assert_eq(vka_gguf_writer_write_file(w, path), VKA_ERR_IO);
    cr_assert(strstr(vka_last_error(), "writing tensor 'x'"), "%s", vka_last_error());
    cr_assert(strstr(vka_last_error(), "boom"), "%s", vka_last_error());
    cr_assert_not(test_file_exists(path));
    void *mem = (void *)0x1;
    size_t size = 1;
    cr_assert_eq(vka_gguf_writer_write_memory(w, &mem, &size), VKA_ERR_IO);
    cr_assert_null(mem);
    cr_assert_eq(size, 0);
    cr_assert_eq(vka_gguf_writer_write_file(w, "/nonexistent/dir/x.gguf"), VKA_ERR_IO);
    cr_assert(strstr(vka_last_error(), "/nonexistent/dir/x.gguf"));
    free(path);
    vka_gguf_writer_free(w);
}

/* Copying every key and tensor of a file written by another program must
 * reproduce it byte for byte (same order, 32-byte alignment, packed data). */
Test(gguf_write, copy_of_stories260k_is_byte_identical) {
    const char *path = test_data_path("models/stories260K.gguf");
    REQUIRE_FIXTURE(path);
    vka_gguf *src;
    cr_assert_eq(vka_gguf_open(path, &src), VKA_OK, "%s", vka_last_error());
    vka_gguf_writer *w = new_writer();
    for (uint64_t i = 0; i < src->n_kv; i++)
        cr_assert_eq(vka_gguf_writer_add_value(w, src->kv[i].key.data, &src->kv[i].value), VKA_OK, "%s",
                     vka_last_error());
    for (uint64_t i = 0; i < src->n_tensors; i++) {
        const vka_gguf_tensor *t = &src->tensors[i];
        cr_assert_eq(vka_gguf_writer_add_tensor(w, t->name.data, t->type, t->n_dims, t->ne, t->data, t->nbytes),
                     VKA_OK, "%s", vka_last_error());
    }
    void *mem;
    size_t size;
    cr_assert_eq(vka_gguf_writer_write_memory(w, &mem, &size), VKA_OK);
    cr_assert_eq(size, src->size);
    cr_assert_eq(memcmp(mem, src->map, size), 0);
    free(mem);
    vka_gguf_writer_free(w);
    vka_gguf_free(src);
}

/* The same for the other fixtures (vocab-only files, every quantized type of the arch fixtures). */
Test(gguf_write, copies_of_fixtures_are_byte_identical) {
    const char *names[] = {
        "fixtures/vocab/qwen3.gguf", "fixtures/vocab/llama3.gguf", "fixtures/arch/llama-q4_k_m.gguf",
        "fixtures/arch/qwen2-q5_k_m.gguf", "fixtures/arch/qwen3-q6_k.gguf", "fixtures/arch/llama-bf16.gguf",
        "models/stories260K-q4_0.gguf",
    };
    for (size_t n = 0; n < sizeof names / sizeof names[0]; n++) {
        const char *path = test_data_path(names[n]);
        REQUIRE_FIXTURE(path);
        vka_gguf *src;
        cr_assert_eq(vka_gguf_open(path, &src), VKA_OK, "%s", vka_last_error());
        vka_gguf_writer *w = new_writer();
        for (uint64_t i = 0; i < src->n_kv; i++)
            cr_assert_eq(vka_gguf_writer_add_value(w, src->kv[i].key.data, &src->kv[i].value), VKA_OK);
        for (uint64_t i = 0; i < src->n_tensors; i++) {
            const vka_gguf_tensor *t = &src->tensors[i];
            cr_assert_eq(vka_gguf_writer_add_tensor(w, t->name.data, t->type, t->n_dims, t->ne, t->data, t->nbytes),
                         VKA_OK, "%s", vka_last_error());
        }
        void *mem;
        size_t size;
        cr_assert_eq(vka_gguf_writer_write_memory(w, &mem, &size), VKA_OK);
        cr_assert_eq(size, src->size, "%s: %zu vs %zu", names[n], size, src->size);
        cr_assert_eq(memcmp(mem, src->map, size), 0, "%s", names[n]);
        free(mem);
        vka_gguf_writer_free(w);
        vka_gguf_free(src);
    }
}
