/* json_schema_int.c — grammars for integer ranges (JSON Schema minimum /
 * maximum on integers), built digit by digit. */
#include <stdio.h>
#include <string.h>

#include "json_schema_legacy_impl.h"

/* All n-digit strings s with a <= s <= z (same length, so string order is
 * numeric order), as one GBNF atom or sequence. */
static void put_same_len(js_buf *b, const char *a, const char *z, size_t n) {
    if (n == 0) return;
    if (a[0] == z[0]) {
        js_printf(b, "\"%c\"", a[0]);
        if (n > 1) {
            js_puts(b, " ");
            put_same_len(b, a + 1, z + 1, n - 1);
        }
        return;
    }
    bool rest_a_zero = true, rest_z_nine = true;
    for (size_t i = 1; i < n; i++) {
        if (a[i] != '0') rest_a_zero = false;
        if (z[i] != '9') rest_z_nine = false;
    }
    char nines[24], zeros[24];
    memset(nines, '9', n);
    memset(zeros, '0', n);
    int lo_d = rest_a_zero ? a[0] : a[0] + 1;
    int hi_d = rest_z_nine ? z[0] : z[0] - 1;
    bool first = true;
    js_puts(b, "(");
    if (!rest_a_zero) {
        js_printf(b, "\"%c\" ", a[0]);
        put_same_len(b, a + 1, nines, n - 1);
        first = false;
    }
    if (lo_d <= hi_d) {
        js_printf(b, "%s[%c-%c]", first ? "" : " | ", lo_d, hi_d);
        if (n > 1) js_printf(b, " [0-9]{%zu}", n - 1);
        first = false;
    }
    if (!rest_z_nine) {
        js_printf(b, "%s\"%c\" ", first ? "" : " | ", z[0]);
        put_same_len(b, zeros, z + 1, n - 1);
    }
    js_puts(b, ")");
}

static uint64_t pow10u(size_t d) {
    uint64_t p = 1;
    while (d--) p *= 10;
    return p;
}

/* Alternatives (joined by " | ") for the naturals in [lo, hi] or [lo, inf). */
static void put_naturals(js_buf *b, uint64_t lo, bool has_hi, uint64_t hi) {
    char lo_s[24], hi_s[24], a[24], z[24];
    size_t dl = (size_t)snprintf(lo_s, sizeof lo_s, "%llu", (unsigned long long)lo);
    size_t dh = has_hi ? (size_t)snprintf(hi_s, sizeof hi_s, "%llu", (unsigned long long)hi) : dl;
    bool first = true;
    for (size_t d = dl; d <= dh; d++) {
        uint64_t from = d == dl ? lo : pow10u(d - 1);
        uint64_t to = (d == dh && has_hi) ? hi : pow10u(d) - 1;
        if (from > to) continue;
        snprintf(a, sizeof a, "%llu", (unsigned long long)from);
        snprintf(z, sizeof z, "%llu", (unsigned long long)to);
        if (!first) js_puts(b, " | ");
        put_same_len(b, a, z, d);
        first = false;
    }
    if (!has_hi && dl < JS_MAX_INT_DIGITS) {
        /* everything with more digits than lo, up to the digit cap */
        js_printf(b, "%s[1-9] [0-9]{%zu,%d}", first ? "" : " | ", dl, JS_MAX_INT_DIGITS - 1);
    }
}

bool js_integer_range(js_buf *b, bool has_lo, int64_t lo, bool has_hi, int64_t hi) {
    bool first = true;
    js_puts(b, "(");
    if (!has_lo || lo < 0) {
        uint64_t mag_lo = has_hi && hi < 0 ? (uint64_t)(-hi) : 1;
        js_puts(b, "\"-\" (");
        put_naturals(b, mag_lo, has_lo, has_lo ? (uint64_t)(-lo) : 0);
        js_puts(b, ")");
        first = false;
    }
    if (!has_hi || hi >= 0) {
        if (!first) js_puts(b, " | ");
        put_naturals(b, has_lo && lo > 0 ? (uint64_t)lo : 0, has_hi, has_hi ? (uint64_t)hi : 0);
    }
    return js_puts(b, ")");
}
