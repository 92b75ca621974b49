/* jinja_globals.c — the Jinja interpreter's global names: namespace(),
 * range(), raise_exception(), strftime_now() and the constants, as
 * @huggingface/jinja defines them. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "jinja_internal.h"

static bool is_object(jv v) { return v.t == JV_DICT && v.u.d->kind != JD_NAMESPACE; }

static jv g_raise_exception(jctx *ctx, jv self, const jv *a, size_t n) {
    (void)self;
    vka_chat_buf *buf = jbuf_open(ctx);
    jv_write_raw(ctx, buf, n ? a[0] : jv_undef());
    jv msg = jv_buf_string(ctx, buf);
    jfail_status(ctx, VKA_ERR_INVALID_ARGUMENT, "%s", msg.u.s->s);
}

static jv g_range(jctx *ctx, jv self, const jv *a, size_t n) {
    (void)self;
    for (size_t i = 0; i < n; i++)
        if (!jv_is_number(a[i])) jfail(ctx, "range() arguments must be numbers");
    if (n == 0) jfail(ctx, "range() needs an argument");
    double start = n >= 2 ? a[0].u.n : 0, stop = n >= 2 ? a[1].u.n : a[0].u.n, stride = n >= 3 ? a[2].u.n : 1;
    if (stride == 0) jfail(ctx, "range() step must not be zero");
    double count = ceil((stop - start) / stride);
    if (count > (double)ctx->max_steps) jfail_status(ctx, VKA_ERR_UNSUPPORTED, "range() of %.0f items is past the limit", count);
    jv out = jv_list(ctx, count > 0 ? (size_t)count : 0);
    for (double i = start; stride > 0 ? i < stop : i > stop; i += stride)
        jlist_push(ctx, out.u.l, floor(i) == i ? jv_int(i) : jv_float(i));
    return out;
}

static jv g_strftime_now(jctx *ctx, jv self, const jv *a, size_t n) {
    (void)self;
    if (n < 1 || a[0].t != JV_STR) jfail(ctx, "strftime_now() needs a format string");
    static const char *const months[] = {"January", "February", "March", "April", "May", "June", "July",
                                         "August", "September", "October", "November", "December"};
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    vka_chat_buf *buf = jbuf_open(ctx);
    const jstr *f = a[0].u.s;
    for (size_t i = 0; i < f->len; i++) {
        char tmp[32] = "";
        char c = i + 1 < f->len && f->s[i] == '%' ? f->s[i + 1] : 0;
        switch (c) {
        case 'Y': snprintf(tmp, sizeof tmp, "%d", tm.tm_year + 1900); break;
        case 'm': snprintf(tmp, sizeof tmp, "%02d", tm.tm_mon + 1); break;
        case 'd': snprintf(tmp, sizeof tmp, "%02d", tm.tm_mday); break;
        case 'b': snprintf(tmp, sizeof tmp, "%.3s", months[tm.tm_mon]); break;
        case 'B': snprintf(tmp, sizeof tmp, "%s", months[tm.tm_mon]); break;
        case 'H': snprintf(tmp, sizeof tmp, "%02d", tm.tm_hour); break;
        case 'M': snprintf(tmp, sizeof tmp, "%02d", tm.tm_min); break;
        case '%': snprintf(tmp, sizeof tmp, "%%"); break;
        default: vka_chat_buf_append(buf, f->s + i, 1); continue;
        }
        vka_chat_buf_puts(buf, tmp);
        i++;
    }
    return jv_buf_string(ctx, buf);
}

static void namespace_entry(jctx *ctx, jdict *d, jv pair_value) {
    if (pair_value.t != JV_LIST || pair_value.u.l->n != 2)
        jfail(ctx, "namespace expected an object or an iterable of [key, value] pairs");
    jv key = pair_value.u.l->items[0];
    if (key.t != JV_STR) jfail(ctx, "namespace keys must be strings");
    jdict_set(ctx, d, key.u.s, pair_value.u.l->items[1]);
}

static jv g_namespace(jctx *ctx, jv self, const jv *args, size_t n) {
    (void)self;
    jargs a = jsplit_args(args, n);
    if (a.n > 1) jfail(ctx, "namespace expected at most 1 argument, got %zu", a.n);
    jv ns = jv_dict(ctx, JD_NAMESPACE);
    if (a.n == 1) {
        jv src = a.pos[0];
        if (is_object(src))
            for (size_t i = 0; i < src.u.d->n; i++) jdict_set(ctx, ns.u.d, src.u.d->keys[i], src.u.d->vals[i]);
        else if (src.t == JV_LIST)
            for (size_t i = 0; i < src.u.l->n; i++) namespace_entry(ctx, ns.u.d, src.u.l->items[i]);
        else jfail(ctx, "'%s' object is not iterable", jv_type_name(src));
    }
    if (a.kw)
        for (size_t i = 0; i < a.kw->n; i++) jdict_set(ctx, ns.u.d, a.kw->keys[i], a.kw->vals[i]);
    return ns;
}

void jglobals_install(jctx *ctx, jenv *env) {
    jenv_set(ctx, env, jstr_new(ctx, "namespace", 9), jv_builtin(ctx, "namespace", g_namespace, jv_none()));
    static const char *const consts[] = {"false", "true", "none", "False", "True", "None"};
    for (size_t i = 0; i < 6; i++) {
        const char *name = consts[i];
        jv v = (name[0] | 32) == 'n' ? jv_none() : jv_bool((name[0] | 32) == 't');
        jenv_set(ctx, env, jstr_new(ctx, name, strlen(name)), v);
    }
    jenv_set(ctx, env, jstr_new(ctx, "raise_exception", 15), jv_builtin(ctx, "raise_exception", g_raise_exception, jv_none()));
    jenv_set(ctx, env, jstr_new(ctx, "range", 5), jv_builtin(ctx, "range", g_range, jv_none()));
    jenv_set(ctx, env, jstr_new(ctx, "strftime_now", 12), jv_builtin(ctx, "strftime_now", g_strftime_now, jv_none()));
}
