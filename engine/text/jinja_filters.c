/* jinja_filters.c — the Jinja interpreter's library: filters, tests, the
 * methods of strings, lists and dictionaries, and slicing, each as
 * @huggingface/jinja defines it. */
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wctype.h>

#include "base/utf8.h"
#include "jinja_internal.h"

/* ---------------------------------------------------------------- helpers */

static jv kwarg(const jdict *kw, const char *name) {
    jv *v = kw ? jdict_get(kw, name, strlen(name)) : NULL;
    return v ? *v : jv_undef();
}

/* The reference's `args.at(i) ?? kwargs.get(name) ?? fallback`. */
static jv arg_or(jargs a, size_t i, const char *name, jv fallback) {
    if (i < a.n) return a.pos[i];
    jv v = kwarg(a.kw, name);
    return v.t == JV_UNDEF && !(a.kw && jdict_get(a.kw, name, strlen(name))) ? fallback : v;
}

static bool is_container(jv v) { return v.t == JV_DICT; }
static bool is_object(jv v) { return v.t == JV_DICT && v.u.d->kind != JD_NAMESPACE; }

/* Code point boundaries of a string (JavaScript's Array.from(string)). */
static size_t *code_points(jctx *ctx, const jstr *s, size_t *count) {
    size_t *at = jarena_alloc(&ctx->arena, (s->len + 2) * sizeof *at, ctx), n = 0;
    for (size_t i = 0; i < s->len; i++)
        if (((unsigned char)s->s[i] & 0xc0) != 0x80) at[n++] = i;
    at[n] = s->len;
    *count = n;
    return at;
}

static locale_t utf8_loc;
static pthread_once_t utf8_loc_once = PTHREAD_ONCE_INIT;

static void make_utf8_locale(void) { utf8_loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0); }

/* JavaScript's toUpperCase/toLowerCase, one code point to one (the C
 * library's C.UTF-8 tables; ASCII only where that locale is missing), and
 * the sharp s to "SS"; JavaScript's other expansions (SpecialCasing.txt:
 * ligatures, some Greek and Armenian letters) are not made. */
static jv case_mapped(jctx *ctx, const jstr *s, bool upper) {
    pthread_once(&utf8_loc_once, make_utf8_locale);
    vka_chat_buf *buf = jbuf_open(ctx);
    for (size_t i = 0; i < s->len;) {
        uint32_t cp;
        size_t n = vka_utf8_decode((const unsigned char *)s->s + i, s->len - i, &cp);
        if (n == 0) { /* not UTF-8: the byte as it is */
            vka_chat_buf_append(buf, s->s + i, 1);
            i++;
            continue;
        }
        uint32_t mapped = cp;
        if (upper && cp == 0xdf) { /* the sharp s, the common one of SpecialCasing's expansions */
            vka_chat_buf_puts(buf, "SS");
            i += n;
            continue;
        }
        if (cp < 0x80) {
            if (upper && cp >= 'a' && cp <= 'z') mapped = cp - 32;
            if (!upper && cp >= 'A' && cp <= 'Z') mapped = cp + 32;
        } else if (utf8_loc) {
            mapped = (uint32_t)(upper ? towupper_l((wint_t)cp, utf8_loc) : towlower_l((wint_t)cp, utf8_loc));
        }
        char enc[4];
        size_t m = vka_utf8_encode(mapped, enc);
        if (m) vka_chat_buf_append(buf, enc, m);
        else vka_chat_buf_append(buf, s->s + i, n);
        i += n;
    }
    return jv_buf_string(ctx, buf);
}

static jv str_copy(jctx *ctx, const jstr *s) { return jv_str(ctx, s->s, s->len); }

static jv trim(jctx *ctx, const jstr *s, bool left, bool right) {
    size_t b = 0, e = s->len, w;
    while (left && b < e && (w = jws_len(s->s + b, e - b)) > 0) b += w;
    while (right && e > b && (w = jws_len_before(s->s + b, e - b)) > 0) e -= w;
    return jv_str(ctx, s->s + b, e - b);
}

static bool word_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* /\b\w/g upper-cased: each ASCII word character after a non-word one. */
static jv title_case(jctx *ctx, const jstr *s) {
    jv out = str_copy(ctx, s);
    for (size_t i = 0; i < s->len; i++)
        if (word_char(s->s[i]) && (i == 0 || !word_char(s->s[i - 1])) && s->s[i] >= 'a' && s->s[i] <= 'z')
            out.u.s->s[i] = (char)(s->s[i] - 32);
    return out;
}

/* JavaScript's parseInt(s, 10) and parseFloat(s); NaN when no number starts s. */
static double parse_number(const jstr *s, bool integer) {
    size_t i = 0, w;
    while (i < s->len && (w = jws_len(s->s + i, s->len - i)) > 0) i += w;
    size_t start = i;
    if (i < s->len && (s->s[i] == '+' || s->s[i] == '-')) i++;
    if (!integer && s->len - i >= 8 && memcmp(s->s + i, "Infinity", 8) == 0)
        return s->s[start] == '-' ? -INFINITY : INFINITY;
    size_t digits = 0;
    while (i < s->len && s->s[i] >= '0' && s->s[i] <= '9') i++, digits++;
    if (!integer && i < s->len && s->s[i] == '.') {
        i++;
        while (i < s->len && s->s[i] >= '0' && s->s[i] <= '9') i++, digits++;
    }
    if (!digits) return NAN;
    if (!integer && i < s->len && (s->s[i] == 'e' || s->s[i] == 'E')) {
        size_t j = i + 1;
        if (j < s->len && (s->s[j] == '+' || s->s[j] == '-')) j++;
        if (j < s->len && s->s[j] >= '0' && s->s[j] <= '9') {
            while (j < s->len && s->s[j] >= '0' && s->s[j] <= '9') j++;
            i = j;
        }
    }
    char tmp[128];
    size_t n = i - start < sizeof tmp - 1 ? i - start : sizeof tmp - 1;
    memcpy(tmp, s->s + start, n);
    tmp[n] = '\0';
    return integer ? trunc(strtod(tmp, NULL)) : strtod(tmp, NULL);
}

/* Stable merge sort with a comparator that may fail (longjmp: all memory is in the arena). */
typedef struct sort_key {
    jctx *ctx;
    bool case_sensitive, reverse;
    const char *attribute; /* NULL: the items themselves */
} sort_key;

static jv attribute_value(jv item, const char *path);

static int sort_cmp(const sort_key *k, jv a, jv b) {
    if (k->attribute) a = attribute_value(a, k->attribute), b = attribute_value(b, k->attribute);
    int r = jv_compare(k->ctx, a, b, k->case_sensitive);
    return k->reverse ? -r : r;
}

static void merge_sort(const sort_key *k, jv *items, jv *tmp, size_t n) {
    if (n < 2) return;
    size_t h = n / 2;
    merge_sort(k, items, tmp, h);
    merge_sort(k, items + h, tmp, n - h);
    size_t i = 0, j = h, o = 0;
    while (i < h && j < n) tmp[o++] = sort_cmp(k, items[j], items[i]) < 0 ? items[j++] : items[i++];
    while (i < h) tmp[o++] = items[i++];
    while (j < n) tmp[o++] = items[j++];
    memcpy(items, tmp, n * sizeof *items);
}

static jv sorted(jctx *ctx, const jlist *l, sort_key *k) {
    jv out = jv_list(ctx, l->n);
    if (l->n) memcpy(out.u.l->items, l->items, l->n * sizeof(jv));
    out.u.l->n = l->n;
    jv *tmp = jarena_alloc(&ctx->arena, (l->n + 1) * sizeof(jv), ctx);
    k->ctx = ctx;
    merge_sort(k, out.u.l->items, tmp, l->n);
    return out;
}

/* getAttributeValue: a dotted path through objects and list indices. */
static jv attribute_value(jv item, const char *path) {
    jv v = item;
    while (*path) {
        const char *dot = strchr(path, '.');
        size_t len = dot ? (size_t)(dot - path) : strlen(path);
        if (is_container(v)) {
            jv *f = jdict_get(v.u.d, path, len);
            v = f ? *f : jv_undef();
        } else if (v.t == JV_LIST) {
            char tmp[24];
            if (len == 0 || len >= sizeof tmp) return jv_undef();
            memcpy(tmp, path, len);
            tmp[len] = '\0';
            char *end;
            long idx = strtol(tmp, &end, 10);
            if (end == tmp || idx < 0 || (size_t)idx >= v.u.l->n) return jv_undef();
            v = v.u.l->items[idx];
        } else {
            return jv_undef();
        }
        path += len + (dot != NULL);
        if (!dot) break;
    }
    return v;
}

/* The parts of Array.prototype.join: null and undefined become "". */
static jv join(jctx *ctx, const jlist *l, const jstr *sep) {
    vka_chat_buf *buf = jbuf_open(ctx);
    for (size_t i = 0; i < l->n; i++) {
        if (i && sep) vka_chat_buf_append(buf, sep->s, sep->len);
        jv v = l->items[i];
        if (v.t != JV_NONE && v.t != JV_UNDEF) jv_write_raw(ctx, buf, v);
    }
    return jv_buf_string(ctx, buf);
}

static jv to_json(jctx *ctx, jv v, const jjson_opts *o) {
    vka_chat_buf *buf = jbuf_open(ctx);
    jv_write_json(ctx, buf, v, o, 0);
    return jv_buf_string(ctx, buf);
}

static jv indent(jctx *ctx, const jstr *s, const jstr *pad, bool first, bool blank) {
    vka_chat_buf *buf = jbuf_open(ctx);
    size_t start = 0;
    for (size_t line = 0;; line++) {
        const char *nl = memchr(s->s + start, '\n', s->len - start);
        size_t end = nl ? (size_t)(nl - s->s) : s->len;
        if (!((!first && line == 0) || (!blank && end == start))) vka_chat_buf_append(buf, pad->s, pad->len);
        vka_chat_buf_append(buf, s->s + start, end - start);
        if (!nl) break;
        vka_chat_buf_puts(buf, "\n");
        start = end + 1;
        jbuf_check(ctx, buf);
    }
    return jv_buf_string(ctx, buf);
}

/* ---------------------------------------------------------------- string methods */

static const jstr *self_str(jv self) { return self.u.s; }

static jv m_upper(jctx *ctx, jv self, const jv *a, size_t n) {
    (void)a, (void)n;
    return case_mapped(ctx, self_str(self), true);
}
static jv m_lower(jctx *ctx, jv self, const jv *a, size_t n) {
    (void)a, (void)n;
    return case_mapped(ctx, self_str(self), false);
}
static jv m_strip(jctx *ctx, jv self, const jv *a, size_t n) { (void)a, (void)n; return trim(ctx, self.u.s, true, true); }
static jv m_lstrip(jctx *ctx, jv self, const jv *a, size_t n) { (void)a, (void)n; return trim(ctx, self.u.s, true, false); }
static jv m_rstrip(jctx *ctx, jv self, const jv *a, size_t n) { (void)a, (void)n; return trim(ctx, self.u.s, false, true); }
static jv m_title(jctx *ctx, jv self, const jv *a, size_t n) { (void)a, (void)n; return title_case(ctx, self.u.s); }
static jv m_capitalize(jctx *ctx, jv self, const jv *a, size_t n) {
    (void)a, (void)n;
    const jstr *str = self.u.s;
    if (str->len == 0) return self;
    size_t first = 1; /* the first character upper-cased, the rest as it is */
    while (first < str->len && ((unsigned char)str->s[first] & 0xc0) == 0x80) first++;
    jv head = case_mapped(ctx, jstr_new(ctx, str->s, first), true);
    vka_chat_buf *buf = jbuf_open(ctx);
    vka_chat_buf_append(buf, head.u.s->s, head.u.s->len);
    vka_chat_buf_append(buf, str->s + first, str->len - first);
    return jv_buf_string(ctx, buf);
}

static bool affix(const jstr *s, const jstr *p, bool start) {
    if (p->len > s->len) return false;
    return memcmp(start ? s->s : s->s + s->len - p->len, p->s, p->len) == 0;
}

static jv starts_or_ends(jctx *ctx, jv self, const jv *a, size_t n, bool start) {
    const char *name = start ? "startswith" : "endswith";
    if (n == 0) jfail(ctx, "%s() requires at least one argument", name);
    if (a[0].t == JV_STR) return jv_bool(affix(self.u.s, a[0].u.s, start));
    if (a[0].t == JV_LIST) {
        for (size_t i = 0; i < a[0].u.l->n; i++) {
            jv item = a[0].u.l->items[i];
            if (item.t != JV_STR) jfail(ctx, "%s() tuple elements must be strings", name);
            if (affix(self.u.s, item.u.s, start)) return jv_bool(true);
        }
        return jv_bool(false);
    }
    jfail(ctx, "%s() argument must be a string or tuple of strings", name);
}
static jv m_startswith(jctx *ctx, jv self, const jv *a, size_t n) { return starts_or_ends(ctx, self, a, n, true); }
static jv m_endswith(jctx *ctx, jv self, const jv *a, size_t n) { return starts_or_ends(ctx, self, a, n, false); }

static jv split_whitespace(jctx *ctx, const jstr *s, double maxsplit) {
    jv out = jv_list(ctx, 0);
    size_t i = 0, w;
    while (i < s->len && (w = jws_len(s->s + i, s->len - i)) > 0) i += w;
    while (i < s->len) {
        size_t start = i;
        while (i < s->len && jws_len(s->s + i, s->len - i) == 0) i++;
        if (maxsplit >= 0 && (double)out.u.l->n >= maxsplit) {
            jlist_push(ctx, out.u.l, jv_str(ctx, s->s + start, s->len - start));
            break;
        }
        jlist_push(ctx, out.u.l, jv_str(ctx, s->s + start, i - start));
        while (i < s->len && (w = jws_len(s->s + i, s->len - i)) > 0) i += w;
    }
    return out;
}

static jv m_split(jctx *ctx, jv self, const jv *a, size_t n) {
    jv sep = n > 0 ? a[0] : jv_none(), maxsplit = n > 1 ? a[1] : jv_int(-1);
    if (sep.t != JV_STR && sep.t != JV_NONE) jfail(ctx, "sep argument must be a string or null");
    if (maxsplit.t != JV_INT) jfail(ctx, "maxsplit argument must be a number");
    const jstr *s = self.u.s;
    if (sep.t == JV_NONE) return split_whitespace(ctx, s, maxsplit.u.n);
    if (sep.u.s->len == 0) jfail(ctx, "empty separator");
    jv out = jv_list(ctx, 0);
    size_t start = 0;
    for (size_t i = 0; i + sep.u.s->len <= s->len;) {
        bool limit = maxsplit.u.n >= 0 && (double)out.u.l->n >= maxsplit.u.n;
        if (!limit && memcmp(s->s + i, sep.u.s->s, sep.u.s->len) == 0) {
            jlist_push(ctx, out.u.l, jv_str(ctx, s->s + start, i - start));
            i += sep.u.s->len;
            start = i;
        } else {
            i++;
        }
    }
    jlist_push(ctx, out.u.l, jv_str(ctx, s->s + start, s->len - start));
    return out;
}

static jv replace(jctx *ctx, const jstr *s, const jstr *old, const jstr *new_text, double count) {
    if (count == 0) return str_copy(ctx, s);
    double remaining = count < 0 || isnan(count) ? INFINITY : count;
    vka_chat_buf *buf = jbuf_open(ctx);
    if (old->len == 0) { /* before every code point and at the end */
        size_t n;
        size_t *at = code_points(ctx, s, &n);
        for (size_t i = 0; i <= n; i++) {
            if (remaining > 0) vka_chat_buf_append(buf, new_text->s, new_text->len), remaining--;
            if (i < n) vka_chat_buf_append(buf, s->s + at[i], at[i + 1] - at[i]);
            jbuf_check(ctx, buf);
        }
        return jv_buf_string(ctx, buf);
    }
    size_t i = 0;
    while (i < s->len) {
        if (remaining > 0 && i + old->len <= s->len && memcmp(s->s + i, old->s, old->len) == 0) {
            vka_chat_buf_append(buf, new_text->s, new_text->len);
            remaining--;
            i += old->len;
            jbuf_check(ctx, buf);
        } else {
            vka_chat_buf_append(buf, s->s + i, 1);
            i++;
        }
    }
    return jv_buf_string(ctx, buf);
}

static jv m_replace(jctx *ctx, jv self, const jv *a, size_t n) {
    if (n < 2) jfail(ctx, "replace() requires at least two arguments");
    if (a[0].t != JV_STR || a[1].t != JV_STR) jfail(ctx, "replace() arguments must be strings");
    jv count = jv_none();
    if (n > 2) {
        count = a[2];
        if (count.t == JV_DICT && count.u.d->kind == JD_KWARGS) {
            jv *c = jdict_get(count.u.d, "count", 5);
            count = c ? *c : jv_none();
        }
    }
    if (count.t != JV_INT && count.t != JV_NONE) jfail(ctx, "replace() count argument must be a number or null");
    return replace(ctx, self.u.s, a[0].u.s, a[1].u.s, count.t == JV_NONE ? -1 : count.u.n);
}

/* ---------------------------------------------------------------- dict methods */

static jv pair(jctx *ctx, jstr *key, jv value) {
    jv p = jv_list(ctx, 2);
    jlist_push(ctx, p.u.l, (jv){.t = JV_STR, .u.s = key});
    jlist_push(ctx, p.u.l, value);
    return p;
}

static jv m_items(jctx *ctx, jv self, const jv *a, size_t n) {
    (void)a, (void)n;
    jv out = jv_list(ctx, self.u.d->n);
    for (size_t i = 0; i < self.u.d->n; i++) jlist_push(ctx, out.u.l, pair(ctx, self.u.d->keys[i], self.u.d->vals[i]));
    return out;
}
static jv m_keys(jctx *ctx, jv self, const jv *a, size_t n) {
    (void)a, (void)n;
    jv out = jv_list(ctx, self.u.d->n);
    for (size_t i = 0; i < self.u.d->n; i++) jlist_push(ctx, out.u.l, (jv){.t = JV_STR, .u.s = self.u.d->keys[i]});
    return out;
}
static jv m_values(jctx *ctx, jv self, const jv *a, size_t n) {
    (void)a, (void)n;
    jv out = jv_list(ctx, self.u.d->n);
    for (size_t i = 0; i < self.u.d->n; i++) jlist_push(ctx, out.u.l, self.u.d->vals[i]);
    return out;
}
static jv m_get(jctx *ctx, jv self, const jv *a, size_t n) {
    if (n < 1 || a[0].t != JV_STR) jfail(ctx, "Object key must be a string: got %s", n ? jv_type_name(a[0]) : "undefined");
    jv *v = jdict_get(self.u.d, a[0].u.s->s, a[0].u.s->len);
    return v ? *v : n > 1 ? a[1] : jv_none();
}
static jv m_dictsort(jctx *ctx, jv self, const jv *a, size_t n) {
    jargs args = jsplit_args(a, n);
    jv cs = arg_or(args, 0, "case_sensitive", jv_bool(false)), by = arg_or(args, 1, "by", jv_cstr(ctx, "key"));
    jv reverse = arg_or(args, 2, "reverse", jv_bool(false));
    if (cs.t != JV_BOOL) jfail(ctx, "case_sensitive must be a boolean");
    if (by.t != JV_STR) jfail(ctx, "by must be a string");
    if (strcmp(by.u.s->s, "key") && strcmp(by.u.s->s, "value")) jfail(ctx, "by must be either 'key' or 'value'");
    if (reverse.t != JV_BOOL) jfail(ctx, "reverse must be a boolean");
    jv items = m_items(ctx, self, NULL, 0);
    sort_key k = {.case_sensitive = cs.u.b, .reverse = reverse.u.b, .attribute = by.u.s->s[0] == 'k' ? "0" : "1"};
    return sorted(ctx, items.u.l, &k);
}

/* ---------------------------------------------------------------- member access */

typedef struct jmethod {
    const char *name;
    jbuiltin_fn fn;
} jmethod;

static const jmethod string_methods[] = {
    {"upper", m_upper}, {"lower", m_lower}, {"strip", m_strip}, {"title", m_title}, {"capitalize", m_capitalize},
    {"rstrip", m_rstrip}, {"lstrip", m_lstrip}, {"startswith", m_startswith}, {"endswith", m_endswith},
    {"split", m_split}, {"replace", m_replace},
};
static const jmethod dict_methods[] = {
    {"get", m_get}, {"items", m_items}, {"keys", m_keys}, {"values", m_values}, {"dictsort", m_dictsort},
};

static jv find_method(jctx *ctx, const jmethod *table, size_t n, jv self, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(table[i].name, name) == 0) return jv_builtin(ctx, table[i].name, table[i].fn, self);
    return jv_undef();
}

jv jmember_builtin(jctx *ctx, jv object, const char *name) {
    if (object.t == JV_STR) {
        if (strcmp(name, "length") == 0) return jv_int((double)jutf16_length(object.u.s->s, object.u.s->len));
        return find_method(ctx, string_methods, sizeof string_methods / sizeof string_methods[0], object, name);
    }
    if (object.t == JV_LIST) return strcmp(name, "length") == 0 ? jv_int((double)object.u.l->n) : jv_undef();
    if (is_object(object)) return find_method(ctx, dict_methods, sizeof dict_methods / sizeof dict_methods[0], object, name);
    return jv_undef();
}

/* ---------------------------------------------------------------- slicing */

static double clampd(double v, double lo, double hi) { return v < lo ? lo : v > hi ? hi : v; }

jv jindex(jctx *ctx, jv object, double i) {
    if (object.t == JV_LIST) {
        double n = (double)object.u.l->n;
        if (i < 0) i += n;
        return i >= 0 && i < n ? object.u.l->items[(size_t)i] : jv_undef();
    }
    size_t n;
    size_t *at = code_points(ctx, object.u.s, &n);
    if (i < 0) i += (double)n;
    if (i < 0 || i >= (double)n) return jv_undef();
    return jv_str(ctx, object.u.s->s + at[(size_t)i], at[(size_t)i + 1] - at[(size_t)i]);
}

jv jslice(jctx *ctx, jv object, jv start, jv stop, jv stride) {
    if (object.t != JV_LIST && object.t != JV_STR) jfail(ctx, "Slice object must be an array or string");
    if ((start.t != JV_INT && start.t != JV_UNDEF) || (stop.t != JV_INT && stop.t != JV_UNDEF) ||
        (stride.t != JV_INT && stride.t != JV_UNDEF))
        jfail(ctx, "Slice start, stop and step must be numeric or undefined");
    size_t count = object.t == JV_LIST ? object.u.l->n : 0;
    size_t *at = object.t == JV_STR ? code_points(ctx, object.u.s, &count) : NULL;
    double len = (double)count, st = stride.t == JV_UNDEF ? 1 : stride.u.n;
    double b, e;
    if (st >= 0) {
        b = start.t == JV_UNDEF ? 0 : start.u.n;
        e = stop.t == JV_UNDEF ? len : stop.u.n;
        b = b < 0 ? fmax(len + b, 0) : fmin(b, len);
        e = e < 0 ? fmax(len + e, 0) : fmin(e, len);
    } else {
        b = start.t == JV_UNDEF ? len - 1 : start.u.n;
        e = stop.t == JV_UNDEF ? -1 : stop.u.n;
        b = b < 0 ? fmax(len + b, -1) : fmin(b, len - 1);
        e = e < -1 ? fmax(len + e, -1) : fmin(e, len - 1);
    }
    double dir = st > 0 ? 1 : st < 0 ? -1 : 0;
    if (dir == 0) jfail(ctx, "slice step cannot be zero"); /* the reference would loop forever */
    jv out = object.t == JV_LIST ? jv_list(ctx, 0) : jv_undef();
    vka_chat_buf *buf = object.t == JV_STR ? jbuf_open(ctx) : NULL;
    for (double i = b; dir * i < dir * e; i += st) {
        size_t k = (size_t)clampd(i, 0, len - 1);
        if (buf) vka_chat_buf_append(buf, object.u.s->s + at[k], at[k + 1] - at[k]);
        else jlist_push(ctx, out.u.l, object.u.l->items[k]);
    }
    return buf ? jv_buf_string(ctx, buf) : out;
}

/* ---------------------------------------------------------------- tests */

static const char *const test_names[] = {"boolean", "callable", "odd", "even", "false", "true", "none", "string",
                                         "number", "integer", "iterable", "mapping", "sequence", "lower", "upper",
                                         "defined", "undefined", "equalto", "eq", NULL};

bool jtest_exists(const char *name) {
    for (const char *const *t = test_names; *t; t++)
        if (strcmp(*t, name) == 0) return true;
    return false;
}

static bool same_case(jctx *ctx, jv v, bool upper) {
    if (v.t != JV_STR) return false;
    jv c = case_mapped(ctx, v.u.s, upper);
    return c.u.s->len == v.u.s->len && memcmp(c.u.s->s, v.u.s->s, v.u.s->len) == 0;
}

bool jtest_apply(jctx *ctx, const char *name, jv v, const jv *arg) {
    if (!strcmp(name, "boolean")) return v.t == JV_BOOL;
    if (!strcmp(name, "callable")) return v.t == JV_FUNC;
    if (!strcmp(name, "odd") || !strcmp(name, "even")) {
        if (v.t != JV_INT) jfail(ctx, "cannot %s on %s", name, jv_type_name(v));
        return (fmod(v.u.n, 2) != 0) == (name[0] == 'o');
    }
    if (!strcmp(name, "false")) return v.t == JV_BOOL && !v.u.b;
    if (!strcmp(name, "true")) return v.t == JV_BOOL && v.u.b;
    if (!strcmp(name, "none")) return v.t == JV_NONE;
    if (!strcmp(name, "string")) return v.t == JV_STR;
    if (!strcmp(name, "number")) return jv_is_number(v);
    if (!strcmp(name, "integer")) return v.t == JV_INT;
    if (!strcmp(name, "iterable")) return v.t == JV_LIST || v.t == JV_STR;
    if (!strcmp(name, "mapping")) return is_object(v);
    if (!strcmp(name, "sequence")) return v.t == JV_LIST || is_object(v) || v.t == JV_STR;
    if (!strcmp(name, "lower")) return same_case(ctx, v, false);
    if (!strcmp(name, "upper")) return same_case(ctx, v, true);
    if (!strcmp(name, "defined")) return v.t != JV_UNDEF;
    if (!strcmp(name, "undefined")) return v.t == JV_UNDEF;
    if (!strcmp(name, "equalto") || !strcmp(name, "eq")) return jv_strict_eq(v, arg ? *arg : jv_undef());
    jfail(ctx, "Unknown test: %s", name);
}

/* ---------------------------------------------------------------- filters without arguments */

static jv list_filter(jctx *ctx, jv v, const char *name) {
    const jlist *l = v.u.l;
    if (!strcmp(name, "list")) return v;
    if (!strcmp(name, "first")) return l->n ? l->items[0] : jv_undef();
    if (!strcmp(name, "last")) return l->n ? l->items[l->n - 1] : jv_undef();
    if (!strcmp(name, "length")) return jv_int((double)l->n);
    if (!strcmp(name, "reverse")) {
        jv out = jv_list(ctx, l->n);
        for (size_t i = l->n; i-- > 0;) jlist_push(ctx, out.u.l, l->items[i]);
        return out;
    }
    if (!strcmp(name, "sort")) {
        sort_key k = {0};
        return sorted(ctx, l, &k);
    }
    if (!strcmp(name, "join")) return join(ctx, l, NULL);
    if (!strcmp(name, "string")) {
        jjson_opts o = {0};
        return to_json(ctx, v, &o);
    }
    if (!strcmp(name, "unique")) {
        jv out = jv_list(ctx, 0);
        for (size_t i = 0; i < l->n; i++) {
            bool seen = false;
            for (size_t k = 0; k < out.u.l->n && !seen; k++) seen = jv_strict_eq(out.u.l->items[k], l->items[i]);
            if (!seen) jlist_push(ctx, out.u.l, l->items[i]);
        }
        return out;
    }
    jfail(ctx, "Unknown ArrayValue filter: %s", name);
}

static jv string_filter(jctx *ctx, jv v, const char *name) {
    if (!strcmp(name, "length")) return jmember_builtin(ctx, v, "length");
    if (!strcmp(name, "upper")) return m_upper(ctx, v, NULL, 0);
    if (!strcmp(name, "lower")) return m_lower(ctx, v, NULL, 0);
    if (!strcmp(name, "title")) return m_title(ctx, v, NULL, 0);
    if (!strcmp(name, "capitalize")) return m_capitalize(ctx, v, NULL, 0);
    if (!strcmp(name, "trim")) return trim(ctx, v.u.s, true, true);
    if (!strcmp(name, "indent")) {
        jstr *pad = jstr_new(ctx, "    ", 4);
        return indent(ctx, v.u.s, pad, false, false);
    }
    if (!strcmp(name, "join") || !strcmp(name, "string")) return v;
    if (!strcmp(name, "int")) {
        double n = parse_number(v.u.s, true);
        return jv_int(isnan(n) ? 0 : n + 0.0);
    }
    if (!strcmp(name, "float")) {
        double n = parse_number(v.u.s, false);
        return jv_float(isnan(n) ? 0 : n);
    }
    jfail(ctx, "Unknown StringValue filter: %s", name);
}

static jv plain_filter(jctx *ctx, jv v, const char *name) {
    if (!strcmp(name, "safe")) return v;
    if (!strcmp(name, "tojson")) {
        jjson_opts o = {.undefined_as_null = true};
        return to_json(ctx, v, &o);
    }
    if (v.t == JV_LIST) return list_filter(ctx, v, name);
    if (v.t == JV_STR) return string_filter(ctx, v, name);
    if (jv_is_number(v)) {
        if (!strcmp(name, "abs")) return v.t == JV_INT ? jv_int(fabs(v.u.n)) : jv_float(fabs(v.u.n));
        if (!strcmp(name, "int")) return jv_int(trunc(v.u.n) + 0.0);
        if (!strcmp(name, "float")) return jv_float(v.u.n);
        if (!strcmp(name, "string")) {
            vka_chat_buf *buf = jbuf_open(ctx);
            jv_write(ctx, buf, v);
            return jv_buf_string(ctx, buf);
        }
        jfail(ctx, "Unknown NumericValue filter: %s", name);
    }
    if (is_object(v)) {
        if (!strcmp(name, "items")) return m_items(ctx, v, NULL, 0);
        if (!strcmp(name, "length")) return jv_int((double)v.u.d->n);
        jv builtin = jmember_builtin(ctx, v, name);
        if (builtin.t == JV_FUNC) return jcall(ctx, builtin, NULL, 0, NULL);
        jfail(ctx, "Unknown ObjectValue filter: %s", name);
    }
    if (v.t == JV_BOOL) {
        if (!strcmp(name, "bool")) return v;
        if (!strcmp(name, "int")) return jv_int(v.u.b ? 1 : 0);
        if (!strcmp(name, "float")) return jv_float(v.u.b ? 1 : 0);
        if (!strcmp(name, "string")) return jv_cstr(ctx, v.u.b ? "true" : "false");
        jfail(ctx, "Unknown BooleanValue filter: %s", name);
    }
    jfail(ctx, "Cannot apply filter \"%s\" to type: %s", name, jv_type_name(v));
}

/* ---------------------------------------------------------------- filters with arguments */

static jv tojson_filter(jctx *ctx, jv v, jargs a) {
    jv ind = kwarg(a.kw, "indent"), ascii = kwarg(a.kw, "ensure_ascii"), sort = kwarg(a.kw, "sort_keys");
    jv seps = kwarg(a.kw, "separators");
    if (ind.t != JV_INT && ind.t != JV_NONE && ind.t != JV_UNDEF) jfail(ctx, "If set, indent must be a number");
    if (ascii.t != JV_BOOL && ascii.t != JV_UNDEF) jfail(ctx, "If set, ensure_ascii must be a boolean");
    if (sort.t != JV_BOOL && sort.t != JV_UNDEF) jfail(ctx, "If set, sort_keys must be a boolean");
    jjson_opts o = {.undefined_as_null = true};
    if (ind.t == JV_INT) o.indent = (int)clampd(ind.u.n, -1, 1000); /* a negative indent pads nothing, as "".repeat */
    if (o.indent < 0) o.indent = 0, o.item_sep = ",";
    o.ensure_ascii = ascii.t == JV_BOOL && ascii.u.b;
    o.sort_keys = sort.t == JV_BOOL && sort.u.b;
    if (seps.t == JV_LIST) {
        if (seps.u.l->n != 2 || seps.u.l->items[0].t != JV_STR || seps.u.l->items[1].t != JV_STR)
            jfail(ctx, "separators must be a tuple of two strings");
        o.item_sep = seps.u.l->items[0].u.s->s;
        o.key_sep = seps.u.l->items[1].u.s->s;
    } else if (seps.t != JV_NONE && seps.t != JV_UNDEF) {
        jfail(ctx, "If set, separators must be a tuple of two strings");
    }
    return to_json(ctx, v, &o);
}

static jv select_filter(jctx *ctx, jv v, const jnode *call, jenv *env, bool select) {
    const char *name = select ? "selectattr" : "rejectattr";
    for (size_t i = 0; i < v.u.l->n; i++)
        if (!is_container(v.u.l->items[i])) jfail(ctx, "`%s` can only be applied to array of objects", name);
    for (size_t i = 0; i < call->n; i++)
        if (call->items[i]->kind != N_STR) jfail(ctx, "arguments of `%s` must be strings", name);
    if (call->n == 0) jfail(ctx, "`%s` needs an attribute name", name);
    const jstr *attr = call->items[0]->str;
    const char *test = call->n > 1 ? call->items[1]->str->s : NULL;
    jv value = call->n > 2 ? jeval(ctx, call->items[2], env) : jv_undef();
    if (test && !jtest_exists(test)) jfail(ctx, "Unknown test: %s", test);
    jv out = jv_list(ctx, 0);
    for (size_t i = 0; i < v.u.l->n; i++) {
        jv *field = jdict_get(v.u.l->items[i].u.d, attr->s, attr->len);
        bool r = field ? (test ? jtest_apply(ctx, test, *field, &value) : jv_truthy(*field)) : false;
        if (r == select) jlist_push(ctx, out.u.l, v.u.l->items[i]);
    }
    return out;
}

static jv list_call_filter(jctx *ctx, jv v, const char *name, const jnode *call, jenv *env) {
    if (!strcmp(name, "selectattr") || !strcmp(name, "rejectattr")) return select_filter(ctx, v, call, env, name[0] == 's');
    jargs a = jeval_args(ctx, call->items, call->n, env);
    if (!strcmp(name, "sort")) {
        jv reverse = arg_or(a, 0, "reverse", jv_bool(false)), cs = arg_or(a, 1, "case_sensitive", jv_bool(false));
        jv attr = arg_or(a, 2, "attribute", jv_none());
        if (reverse.t != JV_BOOL) jfail(ctx, "reverse must be a boolean");
        if (cs.t != JV_BOOL) jfail(ctx, "case_sensitive must be a boolean");
        if (attr.t != JV_STR && attr.t != JV_INT && attr.t != JV_NONE) jfail(ctx, "attribute must be a string, integer, or null");
        sort_key k = {.reverse = reverse.u.b, .case_sensitive = cs.u.b};
        if (attr.t == JV_STR) k.attribute = attr.u.s->s;
        if (attr.t == JV_INT) {
            vka_chat_buf *buf = jbuf_open(ctx);
            jv_write_raw(ctx, buf, attr);
            k.attribute = jv_buf_string(ctx, buf).u.s->s;
        }
        return sorted(ctx, v.u.l, &k);
    }
    if (!strcmp(name, "map")) {
        jv attr = kwarg(a.kw, "attribute");
        if (!a.kw || !jdict_get(a.kw, "attribute", 9))
            jfail(ctx, "`map` expressions without `attribute` set are not currently supported.");
        if (attr.t != JV_STR) jfail(ctx, "attribute must be a string");
        jv *dflt = a.kw ? jdict_get(a.kw, "default", 7) : NULL;
        jv out = jv_list(ctx, v.u.l->n);
        for (size_t i = 0; i < v.u.l->n; i++) {
            if (!is_container(v.u.l->items[i])) jfail(ctx, "items in map must be an object");
            jv item = attribute_value(v.u.l->items[i], attr.u.s->s);
            jlist_push(ctx, out.u.l, item.t == JV_UNDEF && dflt ? *dflt : item);
        }
        return out;
    }
    jfail(ctx, "Unknown ArrayValue filter: %s", name);
}

static jv call_filter(jctx *ctx, jv v, const jnode *call, jenv *env) {
    if (call->a->kind != N_IDENT) jfail(ctx, "Unknown filter");
    const char *name = call->a->str->s;
    if (!strcmp(name, "tojson")) return tojson_filter(ctx, v, jeval_args(ctx, call->items, call->n, env));
    if (!strcmp(name, "join")) {
        if (v.t != JV_STR && v.t != JV_LIST) jfail(ctx, "Cannot apply filter \"join\" to type: %s", jv_type_name(v));
        jargs a = jeval_args(ctx, call->items, call->n, env);
        jv sep = arg_or(a, 0, "separator", jv_cstr(ctx, ""));
        if (sep.t != JV_STR) jfail(ctx, "separator must be a string");
        if (v.t == JV_LIST) return join(ctx, v.u.l, sep.u.s);
        size_t n;
        size_t *at = code_points(ctx, v.u.s, &n);
        jv chars = jv_list(ctx, n);
        for (size_t i = 0; i < n; i++) jlist_push(ctx, chars.u.l, jv_str(ctx, v.u.s->s + at[i], at[i + 1] - at[i]));
        return join(ctx, chars.u.l, sep.u.s);
    }
    if (!strcmp(name, "int") || !strcmp(name, "float")) {
        bool integer = name[0] == 'i';
        jargs a = jeval_args(ctx, call->items, call->n, env);
        jv dflt = arg_or(a, 0, "default", integer ? jv_int(0) : jv_float(0));
        if (v.t == JV_STR) {
            double n = parse_number(v.u.s, integer);
            return isnan(n) ? dflt : integer ? jv_int(n + 0.0) : jv_float(n);
        }
        if (jv_is_number(v)) return integer ? jv_int(trunc(v.u.n) + 0.0) : jv_float(v.u.n);
        if (v.t == JV_BOOL) return integer ? jv_int(v.u.b) : jv_float(v.u.b);
        jfail(ctx, "Cannot apply filter \"%s\" to type: %s", name, jv_type_name(v));
    }
    if (!strcmp(name, "default") || !strcmp(name, "d")) {
        jargs a = jeval_args(ctx, call->items, call->n, env);
        jv dflt = a.n > 0 ? a.pos[0] : jv_cstr(ctx, "");
        jv boolean = arg_or(a, 1, "boolean", jv_bool(false));
        if (boolean.t != JV_BOOL) jfail(ctx, "`default` filter flag must be a boolean");
        return v.t == JV_UNDEF || (boolean.u.b && !jv_truthy(v)) ? dflt : v;
    }
    if (v.t == JV_LIST) return list_call_filter(ctx, v, name, call, env);
    if (v.t == JV_STR) {
        jargs a = jeval_args(ctx, call->items, call->n, env);
        if (!strcmp(name, "indent")) {
            jv width = arg_or(a, 0, "width", jv_int(4));
            if (width.t != JV_INT && width.t != JV_STR) jfail(ctx, "width must be an integer or a string");
            jv first = arg_or(a, 1, "first", jv_bool(false)), blank = arg_or(a, 2, "blank", jv_bool(false));
            jstr *pad = width.t == JV_STR ? width.u.s : NULL;
            if (!pad) {
                size_t w = (size_t)clampd(width.u.n, 0, 4096);
                pad = jarena_alloc(&ctx->arena, sizeof *pad + w + 1, ctx);
                memset(pad->s, ' ', w);
                pad->len = w;
            }
            return indent(ctx, v.u.s, pad, jv_truthy(first), jv_truthy(blank));
        }
        if (!strcmp(name, "replace")) {
            jv *args = jarena_alloc(&ctx->arena, (a.n + 2) * sizeof *args, ctx);
            if (a.n) memcpy(args, a.pos, a.n * sizeof *args);
            args[a.n] = (jv){.t = JV_DICT, .u.d = a.kw};
            return m_replace(ctx, v, args, a.n + 1);
        }
        jfail(ctx, "Unknown StringValue filter: %s", name);
    }
    if (is_object(v)) {
        jv builtin = jmember_builtin(ctx, v, name);
        if (builtin.t == JV_FUNC) {
            jargs a = jeval_args(ctx, call->items, call->n, env);
            jv *args = jarena_alloc(&ctx->arena, (a.n + 2) * sizeof *args, ctx);
            if (a.n) memcpy(args, a.pos, a.n * sizeof *args);
            size_t n = a.n;
            if (a.kw && a.kw->n) args[n++] = (jv){.t = JV_DICT, .u.d = a.kw};
            return jcall(ctx, builtin, args, n, env);
        }
        jfail(ctx, "Unknown ObjectValue filter: %s", name);
    }
    jfail(ctx, "Cannot apply filter \"%s\" to type: %s", name, jv_type_name(v));
}

jv jfilter_apply(jctx *ctx, jv operand, const jnode *filter, jenv *env) {
    ctx->line = filter->line;
    if (filter->kind == N_IDENT) return plain_filter(ctx, operand, filter->str->s);
    if (filter->kind == N_CALL) return call_filter(ctx, operand, filter, env);
    jfail(ctx, "Unknown filter");
}
