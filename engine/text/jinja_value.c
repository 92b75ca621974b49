/* jinja_value.c — the Jinja interpreter's values: the arena they live in,
 * errors, constructors, truth, equality and ordering as @huggingface/jinja
 * has them (JavaScript's), conversion from JSON, and their text forms
 * (printed, String(), tojson). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "jinja_internal.h"

/* ---------------------------------------------------------------- arena */

struct jarena_block {
    jarena_block *next;
    size_t size, used;
    _Alignas(16) unsigned char data[];
};

enum { JARENA_BLOCK = 64 * 1024 };

void *jarena_alloc(jarena *a, size_t size, jctx *ctx) {
    size = (size + 15) & ~(size_t)15;
    if (a->budget && (size > a->budget || a->used > a->budget - size))
        jfail_status(ctx, VKA_ERR_UNSUPPORTED, "the template needs more than %zu bytes of memory (the limit)",
                     a->budget);
    jarena_block *b = a->head;
    if (!b || b->size - b->used < size) {
        size_t cap = size > JARENA_BLOCK / 4 ? size : JARENA_BLOCK;
        b = malloc(sizeof *b + cap);
        if (!b) jfail_status(ctx, VKA_ERR_OUT_OF_MEMORY, "out of memory");
        b->size = cap;
        b->used = 0;
        if (cap == size && a->head) { /* a big one: keep filling the current block afterwards */
            b->next = a->head->next;
            a->head->next = b;
        } else {
            b->next = a->head;
            a->head = b;
        }
    }
    void *p = b->data + b->used;
    b->used += size;
    a->used += size;
    memset(p, 0, size);
    return p;
}

void jarena_free(jarena *a) {
    jarena_block *b = a->head;
    while (b) {
        jarena_block *next = b->next;
        free(b);
        b = next;
    }
    a->head = NULL;
    a->used = 0;
}

/* ---------------------------------------------------------------- errors */

static _Noreturn void vfail(jctx *ctx, vka_status status, const char *fmt, va_list ap) {
    char text[400];
    vsnprintf(text, sizeof text, fmt, ap);
    ctx->status = status;
    if (status == VKA_ERR_INVALID_ARGUMENT) snprintf(ctx->message, sizeof ctx->message, "template raised: %s", text);
    else snprintf(ctx->message, sizeof ctx->message, "template line %d: %s", ctx->line, text);
    longjmp(ctx->fail, 1);
}

_Noreturn void jfail(jctx *ctx, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vfail(ctx, VKA_ERR_FORMAT, fmt, ap);
}

_Noreturn void jfail_status(jctx *ctx, vka_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vfail(ctx, status, fmt, ap);
}

/* ---------------------------------------------------------------- constructors */

jv jv_undef(void) { return (jv){.t = JV_UNDEF}; }
jv jv_none(void) { return (jv){.t = JV_NONE}; }
jv jv_bool(bool b) { return (jv){.t = JV_BOOL, .u.b = b}; }
jv jv_int(double n) { return (jv){.t = JV_INT, .u.n = n}; }
jv jv_float(double n) { return (jv){.t = JV_FLOAT, .u.n = n}; }

jstr *jstr_new(jctx *ctx, const char *s, size_t len) {
    if (len > SIZE_MAX / 2) jfail_status(ctx, VKA_ERR_UNSUPPORTED, "string too long");
    jstr *str = jarena_alloc(&ctx->arena, sizeof *str + len + 1, ctx);
    str->len = len;
    if (len) memcpy(str->s, s, len);
    str->s[len] = '\0';
    return str;
}

jv jv_str(jctx *ctx, const char *s, size_t len) { return (jv){.t = JV_STR, .u.s = jstr_new(ctx, s, len)}; }
jv jv_cstr(jctx *ctx, const char *s) { return jv_str(ctx, s, strlen(s)); }

jv jv_list(jctx *ctx, size_t cap) {
    jlist *l = jarena_alloc(&ctx->arena, sizeof *l, ctx);
    if (cap) {
        if (cap > SIZE_MAX / sizeof(jv)) jfail_status(ctx, VKA_ERR_UNSUPPORTED, "list too long");
        l->items = jarena_alloc(&ctx->arena, cap * sizeof(jv), ctx);
        l->cap = cap;
    }
    return (jv){.t = JV_LIST, .u.l = l};
}

void jlist_push(jctx *ctx, jlist *l, jv v) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        if (cap > SIZE_MAX / sizeof(jv)) jfail_status(ctx, VKA_ERR_UNSUPPORTED, "list too long");
        jv *items = jarena_alloc(&ctx->arena, cap * sizeof(jv), ctx);
        if (l->n) memcpy(items, l->items, l->n * sizeof(jv));
        l->items = items;
        l->cap = cap;
    }
    l->items[l->n++] = v;
}

jv jv_dict(jctx *ctx, jdict_kind kind) {
    jdict *d = jarena_alloc(&ctx->arena, sizeof *d, ctx);
    d->kind = kind;
    return (jv){.t = JV_DICT, .u.d = d};
}

/* Linear search: the dictionaries of chat templates are small. */
jv *jdict_get(const jdict *d, const char *key, size_t len) {
    for (size_t i = 0; i < d->n; i++)
        if (d->keys[i]->len == len && memcmp(d->keys[i]->s, key, len) == 0) return &d->vals[i];
    return NULL;
}

void jdict_set(jctx *ctx, jdict *d, jstr *key, jv v) {
    jv *slot = jdict_get(d, key->s, key->len);
    if (slot) {
        *slot = v;
        return;
    }
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 8;
        jstr **keys = jarena_alloc(&ctx->arena, cap * sizeof *keys, ctx);
        jv *vals = jarena_alloc(&ctx->arena, cap * sizeof *vals, ctx);
        if (d->n) {
            memcpy(keys, d->keys, d->n * sizeof *keys);
            memcpy(vals, d->vals, d->n * sizeof *vals);
        }
        d->keys = keys;
        d->vals = vals;
        d->cap = cap;
    }
    d->keys[d->n] = key;
    d->vals[d->n++] = v;
}

jv jv_builtin(jctx *ctx, const char *name, jbuiltin_fn fn, jv self) {
    jfunc *f = jarena_alloc(&ctx->arena, sizeof *f, ctx);
    f->kind = JF_BUILTIN;
    f->builtin = fn;
    f->self = self;
    f->name = name;
    return (jv){.t = JV_FUNC, .u.fn = f};
}

/* The reference's type names, for messages. */
const char *jv_type_name(jv v) {
    switch (v.t) {
    case JV_UNDEF: return "UndefinedValue";
    case JV_NONE: return "NullValue";
    case JV_BOOL: return "BooleanValue";
    case JV_INT: return "IntegerValue";
    case JV_FLOAT: return "FloatValue";
    case JV_STR: return "StringValue";
    case JV_LIST: return "ArrayValue";
    case JV_DICT: return v.u.d->kind == JD_NAMESPACE ? "NamespaceValue" : "ObjectValue";
    case JV_FUNC: return "FunctionValue";
    }
    return "?";
}

bool jv_is_number(jv v) { return v.t == JV_INT || v.t == JV_FLOAT; }

bool jv_truthy(jv v) {
    switch (v.t) {
    case JV_UNDEF:
    case JV_NONE: return false;
    case JV_BOOL: return v.u.b;
    case JV_INT:
    case JV_FLOAT: return v.u.n != 0 && !isnan(v.u.n);
    case JV_STR: return v.u.s->len > 0;
    case JV_LIST: return v.u.l->n > 0;
    case JV_DICT: return v.u.d->kind == JD_NAMESPACE || v.u.d->n > 0; /* a namespace is a JS object: true */
    case JV_FUNC: return true;
    }
    return false;
}

/* ---------------------------------------------------------------- equality and order */

/* JavaScript's Number(string): trimmed, "" is 0, otherwise a whole numeric
 * literal or NaN. */
static double js_to_number(const char *s, size_t len) {
    size_t w;
    while (len && (w = jws_len(s, len)) > 0) s += w, len -= w;
    while (len && (w = jws_len_before(s, len)) > 0) len -= w;
    if (len == 0) return 0;
    char tmp[64];
    if (len >= sizeof tmp) return NAN;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    const char *body = tmp + (tmp[0] == '+' || tmp[0] == '-');
    if (strcmp(body, "Infinity") == 0) return tmp[0] == '-' ? -INFINITY : INFINITY;
    for (const char *p = body; *p; p++) /* strtod's inf/nan spellings are no JS numbers */
        if (*p == 'i' || *p == 'I' || *p == 'n' || *p == 'N') return NAN;
    char *end;
    double v = strtod(tmp, &end);
    return *end ? NAN : v;
}

static bool is_object(jv v) { return v.t == JV_LIST || v.t == JV_DICT || v.t == JV_FUNC; }

/* JavaScript's == on the underlying values, which the reference's == uses. */
bool jv_loose_eq(jctx *ctx, jv a, jv b) {
    bool a_nullish = a.t == JV_UNDEF || a.t == JV_NONE, b_nullish = b.t == JV_UNDEF || b.t == JV_NONE;
    if (a_nullish || b_nullish) return a_nullish && b_nullish;
    if (a.t == JV_BOOL) return jv_loose_eq(ctx, jv_int(a.u.b ? 1 : 0), b);
    if (b.t == JV_BOOL) return jv_loose_eq(ctx, a, jv_int(b.u.b ? 1 : 0));
    if (is_object(a) && is_object(b)) {
        if (a.t != b.t) return false;
        return a.t == JV_LIST ? a.u.l == b.u.l : a.t == JV_DICT ? a.u.d == b.u.d : a.u.fn == b.u.fn;
    }
    if (is_object(a) || is_object(b)) { /* ToPrimitive: the object's String() */
        vka_chat_buf *buf = jbuf_open(ctx);
        jv_write_raw(ctx, buf, is_object(a) ? a : b);
        jv prim = jv_buf_string(ctx, buf);
        return is_object(a) ? jv_loose_eq(ctx, prim, b) : jv_loose_eq(ctx, a, prim);
    }
    if (jv_is_number(a) && jv_is_number(b)) return a.u.n == b.u.n;
    if (a.t == JV_STR && b.t == JV_STR) return a.u.s->len == b.u.s->len && memcmp(a.u.s->s, b.u.s->s, a.u.s->len) == 0;
    if (a.t == JV_STR) return js_to_number(a.u.s->s, a.u.s->len) == b.u.n;
    return a.u.n == js_to_number(b.u.s->s, b.u.s->len);
}

/* JavaScript's === on the underlying values (tests equalto, `in` on lists). */
bool jv_strict_eq(jv a, jv b) {
    if (jv_is_number(a) && jv_is_number(b)) return a.u.n == b.u.n;
    if (a.t != b.t) return false;
    switch (a.t) {
    case JV_UNDEF:
    case JV_NONE: return true;
    case JV_BOOL: return a.u.b == b.u.b;
    case JV_STR: return a.u.s->len == b.u.s->len && memcmp(a.u.s->s, b.u.s->s, a.u.s->len) == 0;
    case JV_LIST: return a.u.l == b.u.l;
    case JV_DICT: return a.u.d == b.u.d;
    case JV_FUNC: return a.u.fn == b.u.fn;
    default: return false;
    }
}

static int compare_text(const jstr *a, const jstr *b, bool case_sensitive) {
    size_t n = a->len < b->len ? a->len : b->len;
    for (size_t i = 0; i < n; i++) {
        unsigned char x = (unsigned char)a->s[i], y = (unsigned char)b->s[i];
        if (!case_sensitive) {
            if (x >= 'A' && x <= 'Z') x = (unsigned char)(x + 32);
            if (y >= 'A' && y <= 'Z') y = (unsigned char)(y + 32);
        }
        if (x != y) return x < y ? -1 : 1;
    }
    return a->len < b->len ? -1 : a->len > b->len ? 1 : 0;
}

/* The reference's ordering for sort and dictsort. */
int jv_compare(jctx *ctx, jv a, jv b, bool case_sensitive) {
    if (a.t == JV_NONE || b.t == JV_NONE || a.t == JV_UNDEF || b.t == JV_UNDEF) {
        if (a.t == b.t) return 0;
        jfail(ctx, "Cannot compare %s with %s", jv_type_name(a), jv_type_name(b));
    }
    bool a_num = jv_is_number(a) || a.t == JV_BOOL, b_num = jv_is_number(b) || b.t == JV_BOOL;
    if (a_num && b_num) {
        double x = a.t == JV_BOOL ? a.u.b : a.u.n, y = b.t == JV_BOOL ? b.u.b : b.u.n;
        return x < y ? -1 : x > y ? 1 : 0;
    }
    if (a.t != b.t) jfail(ctx, "Cannot compare different types: %s and %s", jv_type_name(a), jv_type_name(b));
    if (a.t != JV_STR) jfail(ctx, "Cannot compare type: %s", jv_type_name(a));
    return compare_text(a.u.s, b.u.s, case_sensitive);
}

/* ---------------------------------------------------------------- from JSON */

/* JavaScript's Object.entries order: keys that are array indices first,
 * ascending, then the others in insertion order. */
static bool array_index_key(const char *k, double *value) {
    size_t len = strlen(k);
    if (len == 0 || len > 10 || (k[0] == '0' && len > 1)) return false;
    double v = 0;
    for (size_t i = 0; i < len; i++) {
        if (k[i] < '0' || k[i] > '9') return false;
        v = v * 10 + (k[i] - '0');
    }
    *value = v;
    return v < 4294967295.0;
}

static jv object_from_json(jctx *ctx, const cJSON *obj) {
    jv d = jv_dict(ctx, JD_OBJECT);
    double next = -1; /* index keys, smallest first: a selection pass per key (objects are small) */
    for (;;) {
        double best = INFINITY, v;
        const cJSON *pick = NULL;
        for (const cJSON *c = obj->child; c; c = c->next)
            if (c->string && array_index_key(c->string, &v) && v > next && v < best) best = v, pick = c;
        if (!pick) break;
        jdict_set(ctx, d.u.d, jstr_new(ctx, pick->string, strlen(pick->string)), jv_from_json(ctx, pick));
        next = best;
    }
    double v;
    for (const cJSON *c = obj->child; c; c = c->next)
        if (c->string && !array_index_key(c->string, &v))
            jdict_set(ctx, d.u.d, jstr_new(ctx, c->string, strlen(c->string)), jv_from_json(ctx, c));
    return d;
}

jv jv_from_json(jctx *ctx, const void *cjson_item) {
    const cJSON *item = cjson_item;
    if (++ctx->depth > ctx->max_depth) jfail_status(ctx, VKA_ERR_UNSUPPORTED, "JSON nested too deeply");
    jv out = jv_undef();
    if (cJSON_IsNull(item)) out = jv_none();
    else if (cJSON_IsBool(item)) out = jv_bool(cJSON_IsTrue(item));
    else if (cJSON_IsNumber(item)) {
        double n = item->valuedouble; /* JS: Number.isInteger decides the kind */
        out = isfinite(n) && floor(n) == n ? jv_int(n) : jv_float(n);
    } else if (cJSON_IsString(item)) out = jv_cstr(ctx, item->valuestring);
    else if (cJSON_IsArray(item)) {
        out = jv_list(ctx, (size_t)cJSON_GetArraySize(item));
        for (const cJSON *c = item->child; c; c = c->next) jlist_push(ctx, out.u.l, jv_from_json(ctx, c));
    } else if (cJSON_IsObject(item)) out = object_from_json(ctx, item);
    ctx->depth--;
    return out;
}

/* ---------------------------------------------------------------- text forms */

void jbuf_check(jctx *ctx, const vka_chat_buf *buf) {
    if (buf->oom) jfail_status(ctx, VKA_ERR_OUT_OF_MEMORY, "out of memory");
    if (buf->len > ctx->max_output)
        jfail_status(ctx, VKA_ERR_UNSUPPORTED, "the template's text grows past %zu bytes (the limit)", ctx->max_output);
}

vka_chat_buf *jbuf_open(jctx *ctx) {
    if (ctx->n_bufs == sizeof ctx->bufs / sizeof ctx->bufs[0])
        jfail_status(ctx, VKA_ERR_UNSUPPORTED, "the template is nested too deeply");
    vka_chat_buf *buf = jarena_alloc(&ctx->arena, sizeof *buf, ctx);
    ctx->bufs[ctx->n_bufs++] = buf;
    return buf;
}

static void jbuf_forget(jctx *ctx, vka_chat_buf *buf) {
    for (size_t i = ctx->n_bufs; i-- > 0;)
        if (ctx->bufs[i] == buf) {
            ctx->bufs[i] = ctx->bufs[--ctx->n_bufs];
            break;
        }
    free(buf->data);
    *buf = (vka_chat_buf){0};
}

void jbufs_free(jctx *ctx) {
    for (size_t i = 0; i < ctx->n_bufs; i++) {
        free(ctx->bufs[i]->data);
        *ctx->bufs[i] = (vka_chat_buf){0};
    }
    ctx->n_bufs = 0;
}

jv jv_buf_string(jctx *ctx, vka_chat_buf *buf) {
    jbuf_check(ctx, buf); /* on failure the buffer is freed with the others */
    jv v = jv_str(ctx, buf->data ? buf->data : "", buf->len);
    jbuf_forget(ctx, buf);
    return v;
}

static void write_js_number(vka_chat_buf *buf, double n) {
    if (isnan(n)) vka_chat_buf_puts(buf, "NaN");
    else if (isinf(n)) vka_chat_buf_puts(buf, n < 0 ? "-Infinity" : "Infinity");
    else vka_chat_js_number(buf, n);
}

/* RuntimeValue.toString(): what {{ v }} prints. */
void jv_write(jctx *ctx, vka_chat_buf *buf, jv v) {
    switch (v.t) {
    case JV_FLOAT:
        if (v.u.n == 0 && signbit(v.u.n)) vka_chat_buf_puts(buf, "-0.0");
        else if (isfinite(v.u.n) && floor(v.u.n) == v.u.n && fabs(v.u.n) < 1e21) { /* toFixed(1) */
            char tmp[40];
            snprintf(tmp, sizeof tmp, "%.1f", v.u.n);
            vka_chat_buf_puts(buf, tmp);
        } else write_js_number(buf, v.u.n);
        break;
    case JV_LIST:
    case JV_DICT: {
        jjson_opts o = {0};
        jv_write_json(ctx, buf, v, &o, 0);
        break;
    }
    default: jv_write_raw(ctx, buf, v);
    }
}

/* String(v.value): JavaScript's conversion of the raw value. */
void jv_write_raw(jctx *ctx, vka_chat_buf *buf, jv v) {
    switch (v.t) {
    case JV_UNDEF: vka_chat_buf_puts(buf, "undefined"); break;
    case JV_NONE: vka_chat_buf_puts(buf, "null"); break;
    case JV_BOOL: vka_chat_buf_puts(buf, v.u.b ? "true" : "false"); break;
    case JV_INT:
    case JV_FLOAT: write_js_number(buf, v.u.n); break;
    case JV_STR: vka_chat_buf_append(buf, v.u.s->s, v.u.s->len); break;
    case JV_LIST: /* Array.prototype.toString: the elements' toString() joined by "," */
        if (++ctx->depth > ctx->max_depth) jfail_status(ctx, VKA_ERR_UNSUPPORTED, "values nested too deeply");
        for (size_t i = 0; i < v.u.l->n; i++) {
            if (i) vka_chat_buf_puts(buf, ",");
            jv_write(ctx, buf, v.u.l->items[i]);
        }
        ctx->depth--;
        break;
    case JV_DICT: vka_chat_buf_puts(buf, v.u.d->kind == JD_NAMESPACE ? "[object Object]" : "[object Map]"); break;
    case JV_FUNC: vka_chat_buf_puts(buf, "[function]"); break;
    }
    jbuf_check(ctx, buf);
}

/* JSON.stringify of a string, then (ensure_ascii) every UTF-16 unit from
 * 0x7f up as \uXXXX. */
static void write_json_string(vka_chat_buf *buf, const char *s, size_t len, bool ensure_ascii) {
    if (!ensure_ascii) {
        vka_chat_tojson_string(buf, s, len);
        return;
    }
    vka_chat_buf tmp = {0};
    vka_chat_tojson_string(&tmp, s, len);
    for (size_t i = 0; i < tmp.len;) {
        unsigned char c = (unsigned char)tmp.data[i];
        uint32_t cp = c;
        size_t n = 1;
        if (c >= 0xc0) {
            n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
            if (i + n > tmp.len) n = tmp.len - i;
            cp = c & (0x3f >> (n - 1));
            for (size_t k = 1; k < n; k++) cp = (cp << 6) | ((unsigned char)tmp.data[i + k] & 0x3f);
        }
        char hex[16];
        if (cp < 0x7f) vka_chat_buf_append(buf, tmp.data + i, 1);
        else if (cp < 0x10000) {
            snprintf(hex, sizeof hex, "\\u%04x", (unsigned)cp);
            vka_chat_buf_puts(buf, hex);
        } else {
            cp -= 0x10000;
            snprintf(hex, sizeof hex, "\\u%04x\\u%04x", (unsigned)(0xd800 + (cp >> 10)), (unsigned)(0xdc00 + (cp & 0x3ff)));
            vka_chat_buf_puts(buf, hex);
        }
        i += n;
    }
    if (tmp.oom) buf->oom = true;
    free(tmp.data);
}

static void json_pad(vka_chat_buf *buf, int indent, int depth) {
    vka_chat_buf_puts(buf, "\n");
    for (int i = 0; i < indent * depth; i++) vka_chat_buf_puts(buf, " ");
}

/* The reference's toJSON: Python-like separators, insertion order. */
void jv_write_json(jctx *ctx, vka_chat_buf *buf, jv v, const jjson_opts *o, int depth) {
    const char *item_sep = o->item_sep ? o->item_sep : o->indent ? "," : ", ";
    const char *key_sep = o->key_sep ? o->key_sep : ": ";
    if (depth > (int)ctx->max_depth) jfail_status(ctx, VKA_ERR_UNSUPPORTED, "values nested too deeply");
    switch (v.t) {
    case JV_NONE: vka_chat_buf_puts(buf, "null"); break;
    case JV_UNDEF: vka_chat_buf_puts(buf, o->undefined_as_null ? "null" : "undefined"); break;
    case JV_BOOL: vka_chat_buf_puts(buf, v.u.b ? "true" : "false"); break;
    case JV_INT:
    case JV_FLOAT: vka_chat_js_number(buf, v.u.n); break;
    case JV_STR: write_json_string(buf, v.u.s->s, v.u.s->len, o->ensure_ascii); break;
    case JV_LIST:
        if (v.u.l->tuple) jfail(ctx, "Cannot convert to JSON: TupleValue");
        vka_chat_buf_puts(buf, "[");
        for (size_t i = 0; i < v.u.l->n; i++) {
            if (i) vka_chat_buf_puts(buf, item_sep);
            if (o->indent) json_pad(buf, o->indent, depth + 1);
            jv_write_json(ctx, buf, v.u.l->items[i], o, depth + 1);
        }
        if (o->indent && v.u.l->n) json_pad(buf, o->indent, depth);
        vka_chat_buf_puts(buf, "]");
        break;
    case JV_DICT: {
        const jdict *d = v.u.d;
        size_t *order = jarena_alloc(&ctx->arena, (d->n + 1) * sizeof *order, ctx);
        for (size_t i = 0; i < d->n; i++) order[i] = i;
        if (o->sort_keys) /* insertion sort: stable, and dictionaries are small */
            for (size_t i = 1; i < d->n; i++)
                for (size_t k = i; k > 0 && compare_text(d->keys[order[k - 1]], d->keys[order[k]], true) > 0; k--) {
                    size_t t = order[k];
                    order[k] = order[k - 1];
                    order[k - 1] = t;
                }
        vka_chat_buf_puts(buf, "{");
        for (size_t i = 0; i < d->n; i++) {
            if (i) vka_chat_buf_puts(buf, item_sep);
            if (o->indent) json_pad(buf, o->indent, depth + 1);
            write_json_string(buf, d->keys[order[i]]->s, d->keys[order[i]]->len, o->ensure_ascii);
            vka_chat_buf_puts(buf, key_sep);
            jv_write_json(ctx, buf, d->vals[order[i]], o, depth + 1);
        }
        if (o->indent && d->n) json_pad(buf, o->indent, depth);
        vka_chat_buf_puts(buf, "}");
        break;
    }
    case JV_FUNC: jfail(ctx, "Cannot convert to JSON: FunctionValue");
    }
    jbuf_check(ctx, buf);
}

/* ---------------------------------------------------------------- whitespace */

/* JavaScript's \s (and what trim() removes): ASCII 9-13 and space, and
 * U+00A0, U+1680, U+2000-200A, U+2028, U+2029, U+202F, U+205F, U+3000, U+FEFF. */
static bool js_space(uint32_t cp) {
    return cp == 32 || (cp >= 9 && cp <= 13) || cp == 0xa0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) ||
           cp == 0x2028 || cp == 0x2029 || cp == 0x202f || cp == 0x205f || cp == 0x3000 || cp == 0xfeff;
}

static size_t decode(const char *s, size_t len, uint32_t *cp) {
    unsigned char c = (unsigned char)s[0];
    if (c < 0x80) return *cp = c, 1;
    size_t n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
    if (n > len || n == 1) return *cp = 0xfffd, 1;
    uint32_t v = c & (0x3f >> (n - 1));
    for (size_t k = 1; k < n; k++) {
        if (((unsigned char)s[k] & 0xc0) != 0x80) return *cp = 0xfffd, 1;
        v = (v << 6) | ((unsigned char)s[k] & 0x3f);
    }
    *cp = v;
    return n;
}

size_t jws_len(const char *s, size_t len) {
    if (len == 0) return 0;
    uint32_t cp;
    size_t n = decode(s, len, &cp);
    return js_space(cp) ? n : 0;
}

size_t jws_len_before(const char *s, size_t len) {
    if (len == 0) return 0;
    size_t start = len - 1;
    while (start > 0 && len - start < 4 && ((unsigned char)s[start] & 0xc0) == 0x80) start--;
    uint32_t cp;
    size_t n = decode(s + start, len - start, &cp);
    return start + n == len && js_space(cp) ? n : 0;
}

/* String length in UTF-16 units, as JavaScript counts it. */
size_t jutf16_length(const char *s, size_t len) {
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c & 0xc0) != 0x80) n += c >= 0xf0 ? 2 : 1;
    }
    return n;
}
