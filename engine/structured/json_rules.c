/* json_rules.c — GBNF text building for the JSON Schema converter: growing
 * buffers, fresh rule names, and counted repetition of any size. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "structured/json_rules.h"

bool js_put(js_buf *b, const char *s, size_t n) {
    if (b->failed) return false;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->data, cap);
        if (!p) {
            b->failed = true;
            return false;
        }
        b->data = p;
        b->cap = cap;
    }
    if (n) memcpy(b->data + b->len, s, n);    /* s may be NULL when n is 0 */
    b->len += n;
    b->data[b->len] = 0;
    return true;
}

bool js_puts(js_buf *b, const char *s) { return js_put(b, s, strlen(s)); }

bool js_printf(js_buf *b, const char *fmt, ...) {
    if (b->failed) return false;
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return b->failed = true, false;
    if ((size_t)n < sizeof small) return js_put(b, small, (size_t)n);
    /* too long for the stack buffer: format again into the right size */
    char *big = malloc((size_t)n + 1);
    if (!big) return b->failed = true, false;
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    bool ok = js_put(b, big, (size_t)n);
    free(big);
    return ok;
}

void js_buf_free(js_buf *b) {
    free(b->data);
    *b = (js_buf){0};
}

bool js_put_literal(js_buf *b, const char *s, size_t n) {
    js_puts(b, "\"");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            js_put(b, e, 2);
        } else if (c == '\n') {
            js_puts(b, "\\n");
        } else if (c == '\t') {
            js_puts(b, "\\t");
        } else if (c == '\r') {
            js_puts(b, "\\r");
        } else if (c < 0x20 || c == 0x7F) {
            js_printf(b, "\\x%02X", c);
        } else {
            js_put(b, (const char *)&s[i], 1);
        }
    }
    return js_puts(b, "\"");
}

bool js_grow(void **ptr, uint32_t *cap, uint32_t need, size_t elem) {
    if (need <= *cap) return true;
    uint32_t n = *cap ? *cap : 8;
    while (n < need) {
        if (n > UINT32_MAX / 2) return false;
        n *= 2;
    }
    void *p = realloc(*ptr, (size_t)n * elem);
    if (!p) return false;
    *ptr = p;
    *cap = n;
    return true;
}

typedef struct js_text_memo {
    uint64_t hash;
    char *key;                          /* NULL: empty slot */
    size_t len;
    char *text;
} js_text_memo;

static void texts_free(js_rules *r) {
    for (uint32_t i = 0; i < r->cap_texts; i++) free(r->texts[i].key), free(r->texts[i].text);
    free(r->texts);
    r->texts = NULL;
    r->n_texts = r->cap_texts = 0;
}

void js_rules_free(js_rules *r) {
    js_buf_free(&r->text);
    texts_free(r);
    if (r->memo && r->memo_free) r->memo_free(r->memo);
    r->memo = NULL;
    r->memo_free = NULL;
}

void js_rule_name(js_rules *r, const char *prefix, char name[JS_NAME_CAP]) {
    snprintf(name, JS_NAME_CAP, "%.24s_%u", prefix, ++r->counter);
}

bool js_rule_add(js_rules *r, const char *name, const char *body) {
    return js_printf(&r->text, "%s ::= %s\n", name, body);
}

static uint64_t bytes_hash(const void *key, size_t len) {
    uint64_t h = 1469598103934665603u;
    for (const unsigned char *p = key, *e = p + len; p < e; p++) h = (h ^ *p) * 1099511628211u;
    return h;
}

static js_text_memo *text_slot(js_text_memo *table, uint32_t cap, uint64_t hash, const void *key, size_t len) {
    uint32_t k = (uint32_t)(hash ^ (hash >> 32)) & (cap - 1);
    while (table[k].key && (table[k].hash != hash || table[k].len != len || memcmp(table[k].key, key, len) != 0))
        k = (k + 1) & (cap - 1);
    return &table[k];
}

static bool texts_reserve(js_rules *r) {
    if ((uint64_t)(r->n_texts + 1) * 2 <= r->cap_texts) return true;
    uint32_t cap = r->cap_texts ? r->cap_texts * 2 : 256;
    js_text_memo *table = calloc(cap, sizeof *table);
    if (!table) return false;
    for (uint32_t i = 0; i < r->cap_texts; i++)
        if (r->texts[i].key) *text_slot(table, cap, r->texts[i].hash, r->texts[i].key, r->texts[i].len) = r->texts[i];
    free(r->texts);
    r->texts = table;
    r->cap_texts = cap;
    return true;
}

const char *js_rules_recall(const js_rules *r, const void *key, size_t len) {
    if (!r->cap_texts) return NULL;
    const js_text_memo *e = text_slot(r->texts, r->cap_texts, bytes_hash(key, len), key, len);
    return e->key ? e->text : NULL;
}

bool js_rules_remember(js_rules *r, const void *key, size_t len, const char *text) {
    if (!texts_reserve(r)) return false;
    uint64_t hash = bytes_hash(key, len);
    js_text_memo *e = text_slot(r->texts, r->cap_texts, hash, key, len);
    if (e->key) return true;
    char *k = malloc(len ? len : 1), *t = strdup(text);
    if (!k || !t) {
        free(k), free(t);
        return false;
    }
    memcpy(k, key, len);
    *e = (js_text_memo){hash, k, len, t};
    r->n_texts++;
    return true;
}

bool js_rule_new(js_rules *r, const char *prefix, const char *body, char name[JS_NAME_CAP]) {
    /* keyed "R" + body */
    size_t len = strlen(body);
    char *key = malloc(len + 1);
    if (!key) return false;
    key[0] = 'R';
    memcpy(key + 1, body, len);
    const char *known = js_rules_recall(r, key, len + 1);
    if (known) {
        snprintf(name, JS_NAME_CAP, "%s", known);
        free(key);
        return true;
    }
    js_rule_name(r, prefix, name);
    bool ok = js_rules_remember(r, key, len + 1, name) && js_rule_add(r, name, body);
    free(key);
    return ok;
}

/* ---------------------------------------------------------------- counted repetition */

/* Counts up to DIRECT_MAX are written as GBNF x{m,n}, which the grammar
 * compiler unrolls into one automaton state per copy. Larger counts are
 * split into chunks of CHUNK copies held in a rule (one state per use), so
 * n copies cost O(CHUNK * log n) states instead of n. */
#define DIRECT_MAX 64u
#define CHUNK 32u

static bool put_count(js_buf *out, const char *x, uint64_t lo, uint64_t hi) {
    if (hi == 0) return js_puts(out, "\"\"");
    if (lo == 1 && hi == 1) return js_printf(out, "%s", x);
    if (lo == hi) return js_printf(out, "%s{%llu}", x, (unsigned long long)lo);
    return js_printf(out, "%s{%llu,%llu}", x, (unsigned long long)lo, (unsigned long long)hi);
}

/* A rule holding CHUNK copies of x. */
static bool chunk_rule(js_rules *r, const char *x, char name[JS_NAME_CAP]) {
    js_buf body = {0};
    put_count(&body, x, CHUNK, CHUNK);
    bool ok = !body.failed && js_rule_new(r, "rep", body.data, name);
    js_buf_free(&body);
    return ok;
}

/* x exactly a times: (chunk){a / CHUNK} x{a % CHUNK}, recursively. */
static bool put_exact(js_rules *r, js_buf *out, const char *x, uint64_t a) {
    if (a <= DIRECT_MAX) return put_count(out, x, a, a);
    char chunk[JS_NAME_CAP];
    if (!chunk_rule(r, x, chunk)) return false;
    js_puts(out, "(");
    put_exact(r, out, chunk, a / CHUNK);
    if (a % CHUNK) {
        js_puts(out, " ");
        put_count(out, x, a % CHUNK, a % CHUNK);
    }
    return js_puts(out, ")");
}

/* x 0..b times, unambiguously: with b = CHUNK q + m, either fewer than q
 * whole chunks and a partial one, or exactly q chunks and at most m more. */
static bool put_upto(js_rules *r, js_buf *out, const char *x, uint64_t b) {
    if (b <= DIRECT_MAX) return put_count(out, x, 0, b);
    char chunk[JS_NAME_CAP];
    if (!chunk_rule(r, x, chunk)) return false;
    uint64_t q = b / CHUNK, m = b % CHUNK;
    js_puts(out, "(");
    put_upto(r, out, chunk, q - 1);
    js_puts(out, " ");
    put_count(out, x, 0, CHUNK - 1);
    js_puts(out, " | ");
    put_exact(r, out, chunk, q);
    if (m) {
        js_puts(out, " ");
        put_count(out, x, 0, m);
    }
    return js_puts(out, ")");
}

/* x min..max times (max JS_UNBOUNDED: at least min). */
static bool put_range(js_rules *r, js_buf *out, const char *x, uint64_t min, uint64_t max) {
    if (max == JS_UNBOUNDED) {
        if (min == 0) return js_printf(out, "%s*", x);
        if (min == 1) return js_printf(out, "%s+", x);
        js_puts(out, "(");
        put_exact(r, out, x, min);
        return js_printf(out, " %s*)", x);
    }
    if (min == max) return put_exact(r, out, x, min);
    if (max <= DIRECT_MAX) return put_count(out, x, min, max);
    if (min == 0) return put_upto(r, out, x, max);
    js_puts(out, "(");
    put_exact(r, out, x, min);
    js_puts(out, " ");
    put_upto(r, out, x, max - min);
    return js_puts(out, ")");
}

bool js_put_repeat(js_rules *r, js_buf *expr, const char *item, const char *sep, uint64_t min, uint64_t max) {
    if (max != JS_UNBOUNDED && min > max) return false;
    if (!sep) return put_range(r, expr, item, min, max);
    if (max == 0) return js_puts(expr, "\"\"");
    js_buf unit = {0};
    js_printf(&unit, "(%s %s)", sep, item);
    bool ok = !unit.failed;
    uint64_t rest_max = max == JS_UNBOUNDED ? JS_UNBOUNDED : max - 1;
    if (ok && min == 0) {
        js_printf(expr, "(%s ", item);
        ok = put_range(r, expr, unit.data, 0, rest_max);
        js_puts(expr, ")?");
    } else if (ok) {
        js_printf(expr, "(%s ", item);
        ok = put_range(r, expr, unit.data, min - 1, rest_max);
        js_puts(expr, ")");
    }
    js_buf_free(&unit);
    return ok && !expr->failed && !r->text.failed;
}

/* ---------------------------------------------------------------- numbers as JavaScript writes them */

void js_format_number(double v, char out[40]) {
    if (v == 0 || v != v) {
        snprintf(out, 40, "0");
        return;
    }
    char e[40];
    for (int p = 1; p <= 17; p++) {     /* the fewest significant digits that read back as v */
        snprintf(e, sizeof e, "%.*e", p - 1, v);
        if (strtod(e, NULL) == v) break;
    }
    bool neg = e[0] == '-';
    char digits[24];
    size_t k = 0;
    const char *q = e + neg;
    for (; *q && *q != 'e'; q++)
        if (*q >= '0' && *q <= '9') digits[k++] = *q;
    while (k > 1 && digits[k - 1] == '0') k--;
    digits[k] = 0;
    int n = atoi(q + 1) + 1;    /* the value is 0.DIGITS x 10^n */
    char *o = out;
    if (neg) *o++ = '-';
    if ((int)k <= n && n <= 21) {
        o += sprintf(o, "%s", digits);
        for (int i = (int)k; i < n; i++) *o++ = '0';
        *o = 0;
    } else if (0 < n && n <= 21) {
        sprintf(o, "%.*s.%s", n, digits, digits + n);
    } else if (-6 < n && n <= 0) {
        o += sprintf(o, "0.");
        for (int i = 0; i < -n; i++) *o++ = '0';
        sprintf(o, "%s", digits);
    } else {
        sprintf(o, "%c%s%s%se%c%d", digits[0], k > 1 ? "." : "", digits + 1, "", n - 1 >= 0 ? '+' : '-', abs(n - 1));
    }
}
