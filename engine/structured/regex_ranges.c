/* regex_ranges.c — sets of code points as sorted range lists, for the classes
 * of patterns and the symbols of DFAs; case closure for case-insensitive
 * internal patterns; UTF-8 decoding of strings to match; the hash table of
 * ids the module's interning shares. */
#include <stdlib.h>
#include <string.h>

#include "structured/regex_impl.h"
#include "base/utf8.h"

bool re_rs_add(re_ranges *s, uint32_t lo, uint32_t hi) {
    if (lo > hi) return true;
    if (s->n >= UINT32_MAX - 1 || !js_grow((void **)&s->r, &s->cap, (uint32_t)s->n + 1, sizeof *s->r)) return false;
    s->r[s->n++] = (re_range){lo, hi};
    return true;
}

static int cmp_range(const void *a, const void *b) {
    const re_range *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo ? 1 : 0;
}

void re_rs_normalize(re_ranges *s) {
    if (s->n < 2) return;
    qsort(s->r, s->n, sizeof *s->r, cmp_range);
    size_t k = 0;
    for (size_t i = 1; i < s->n; i++) {
        /* merge overlapping and adjacent ranges */
        if (s->r[i].lo <= s->r[k].hi || s->r[i].lo == s->r[k].hi + 1) {
            if (s->r[i].hi > s->r[k].hi) s->r[k].hi = s->r[i].hi;
        } else {
            s->r[++k] = s->r[i];
        }
    }
    s->n = k + 1;
}

bool re_rs_copy(re_ranges *dst, const re_ranges *src) {
    *dst = (re_ranges){0};
    if (re_rs_add_set(dst, src)) return true;
    re_rs_free(dst);
    return false;
}

bool re_rs_add_set(re_ranges *dst, const re_ranges *src) {
    for (size_t i = 0; i < src->n; i++)
        if (!re_rs_add(dst, src->r[i].lo, src->r[i].hi)) return false;
    re_rs_normalize(dst);
    return true;
}

/* The results of the operations below are empty after a failure. */
static bool fail_empty(re_ranges *out) {
    re_rs_free(out);
    return false;
}

bool re_rs_complement(const re_ranges *s, re_ranges *out) {
    *out = (re_ranges){0};
    uint32_t next = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (s->r[i].lo > next && !re_rs_add(out, next, s->r[i].lo - 1)) return fail_empty(out);
        next = s->r[i].hi + 1;
    }
    if (next < RE_CP_END && !re_rs_add(out, next, RE_CP_END - 1)) return fail_empty(out);
    return re_rs_scalar(out) || fail_empty(out);
}

bool re_rs_intersect(const re_ranges *a, const re_ranges *b, re_ranges *out) {
    *out = (re_ranges){0};
    size_t i = 0, j = 0;
    while (i < a->n && j < b->n) {
        uint32_t lo = a->r[i].lo > b->r[j].lo ? a->r[i].lo : b->r[j].lo;
        uint32_t hi = a->r[i].hi < b->r[j].hi ? a->r[i].hi : b->r[j].hi;
        if (lo <= hi && !re_rs_add(out, lo, hi)) return fail_empty(out);
        if (a->r[i].hi < b->r[j].hi) i++;
        else j++;
    }
    return true;
}

bool re_rs_scalar(re_ranges *s) {
    re_ranges out = {0};
    for (size_t i = 0; i < s->n; i++) {
        uint32_t lo = s->r[i].lo, hi = s->r[i].hi >= RE_CP_END ? RE_CP_END - 1 : s->r[i].hi;
        if (lo > hi) continue;
        bool ok = true;
        if (hi < RE_SURR_LO || lo > RE_SURR_HI) {
            ok = re_rs_add(&out, lo, hi);
        } else {
            if (lo < RE_SURR_LO) ok = re_rs_add(&out, lo, RE_SURR_LO - 1);
            if (ok && hi > RE_SURR_HI) ok = re_rs_add(&out, RE_SURR_HI + 1, hi);
        }
        if (!ok) {
            re_rs_free(&out);
            return false;
        }
    }
    re_rs_free(s);
    *s = out;
    re_rs_normalize(s);
    return true;
}

size_t re_range_find(const re_range *r, size_t n, uint32_t cp) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < r[mid].lo) hi = mid;
        else if (cp > r[mid].hi) lo = mid + 1;
        else return mid;
    }
    return SIZE_MAX;
}

bool re_rs_has(const re_ranges *s, uint32_t cp) { return re_range_find(s->r, s->n, cp) != SIZE_MAX; }

bool re_rs_equal(const re_ranges *a, const re_ranges *b) {
    return a->n == b->n && (a->n == 0 || memcmp(a->r, b->r, a->n * sizeof *a->r) == 0);
}

void re_rs_free(re_ranges *s) {
    free(s->r);
    *s = (re_ranges){0};
}

/* The code points whose case partner is also added: ASCII letters always;
 * with simple case folding also the two non-ASCII characters that fold to
 * ASCII letters (U+017F LATIN SMALL LETTER LONG S -> s, U+212A KELVIN SIGN -> k). */
static bool add_partner(re_ranges *extra, uint32_t c, re_case mode) {
    if (c >= 'a' && c <= 'z') {
        if (!re_rs_add(extra, c - 32, c - 32)) return false;
    } else if (c >= 'A' && c <= 'Z') {
        if (!re_rs_add(extra, c + 32, c + 32)) return false;
    }
    if (mode != RE_CASE_UNICODE) return true;
    uint32_t lower = (c >= 'A' && c <= 'Z') ? c + 32 : c;
    if (lower == 's' || c == 0x17F) return re_rs_add(extra, 's', 's') && re_rs_add(extra, 'S', 'S') &&
                                           re_rs_add(extra, 0x17F, 0x17F);
    if (lower == 'k' || c == 0x212A) return re_rs_add(extra, 'k', 'k') && re_rs_add(extra, 'K', 'K') &&
                                            re_rs_add(extra, 0x212A, 0x212A);
    return true;
}

bool re_rs_case_close(re_ranges *s, re_case mode) {
    if (mode == RE_CASE_EXACT) return true;
    static const uint32_t specials[] = {0x17F, 0x212A};
    re_ranges extra = {0};
    bool ok = true;
    for (size_t i = 0; ok && i < s->n; i++) {
        uint32_t lo = s->r[i].lo, hi = s->r[i].hi;
        for (uint32_t c = lo; ok && c <= hi && c < 0x80; c++) ok = add_partner(&extra, c, mode);
        for (size_t k = 0; ok && k < 2; k++)
            if (specials[k] >= lo && specials[k] <= hi) ok = add_partner(&extra, specials[k], mode);
    }
    ok = ok && re_rs_add_set(s, &extra);
    re_rs_free(&extra);
    return ok;
}

bool re_utf8_to_cps(const char *s, size_t len, uint32_t **cps, size_t *n) {
    uint32_t *out = malloc((len + 1) * sizeof *out);
    if (!out) return false;
    size_t k = 0;
    for (size_t i = 0; i < len;) {
        size_t step = vka_utf8_decode((const unsigned char *)s + i, len - i, &out[k]);
        if (step == 0) {
            free(out);
            return false;
        }
        i += step;
        k++;
    }
    *cps = out;
    *n = k;
    return true;
}

/* ---------------------------------------------------------------- id tables */

bool re_idtab_reserve(re_idtab *t, uint32_t n, re_id_hash hash, const void *ctx) {
    if ((size_t)(n + 1u) * 2 <= t->cap) return true;
    size_t cap = t->cap ? t->cap * 2 : 256;
    uint32_t *slots = malloc(cap * sizeof *slots);
    if (!slots) return false;
    for (size_t i = 0; i < cap; i++) slots[i] = UINT32_MAX;
    re_idtab grown = {slots, cap};
    for (uint32_t id = 0; id < n; id++) {
        size_t at = re_idtab_slot(&grown, hash(ctx, id));
        while (slots[at] != UINT32_MAX) at = re_idtab_step(&grown, at);
        slots[at] = id;
    }
    free(t->slots);
    *t = grown;
    return true;
}

void re_idtab_free(re_idtab *t) {
    free(t->slots);
    *t = (re_idtab){0};
}

uint64_t re_hash_u64(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdu;
    k ^= k >> 33;
    return k;
}

uint64_t re_hash_u32s(const uint32_t *v, size_t n) {
    uint64_t h = 1469598103934665603u ^ n;
    for (size_t i = 0; i < n; i++) h = (h ^ v[i]) * 1099511628211u;
    return h;
}
