/* unicode.c — NFC normalization (UAX #15: canonical decomposition, canonical
 * ordering, canonical composition, Hangul done algorithmically) and the
 * property lookups behind it, over the generated tables of unicode_data.c. */
#include <stdlib.h>
#include <string.h>

#include "base/status.h"
#include "text/unicode.h"
#include "base/utf8.h"

/* Hangul syllable arithmetic (Unicode chapter 3.12). */
#define S_BASE 0xAC00u
#define L_BASE 0x1100u
#define V_BASE 0x1161u
#define T_BASE 0x11A7u
#define L_COUNT 19u
#define V_COUNT 21u
#define T_COUNT 28u
#define N_COUNT (V_COUNT * T_COUNT)
#define S_COUNT (L_COUNT * N_COUNT)

/* A byte that is not valid UTF-8 travels through normalization as this
 * marker | byte: above every code point, so it has class 0, no
 * decomposition and no composition. */
#define RAW_BYTE 0x80000000u

uint8_t vka_unicode_ccc(uint32_t cp) {
    if (!(vka_unicode_flags(cp) & VKA_UC_CCC)) return 0;
    size_t lo = 0, hi = vka_uc_n_ccc;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < vka_uc_ccc[mid].first) hi = mid;
        else if (cp > vka_uc_ccc[mid].last) lo = mid + 1;
        else return vka_uc_ccc[mid].ccc;
    }
    return 0;
}

size_t vka_unicode_decompose(uint32_t cp, uint32_t out[4]) {
    if (cp >= S_BASE && cp < S_BASE + S_COUNT) {
        uint32_t s = cp - S_BASE;
        out[0] = L_BASE + s / N_COUNT;
        out[1] = V_BASE + (s % N_COUNT) / T_COUNT;
        if (s % T_COUNT == 0) return 2;
        out[2] = T_BASE + s % T_COUNT;
        return 3;
    }
    if (cp >= vka_uc_decomps[0].cp && cp < 0x110000) {
        size_t lo = 0, hi = vka_uc_n_decomps;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (vka_uc_decomps[mid].cp < cp) lo = mid + 1;
            else hi = mid;
        }
        if (lo < vka_uc_n_decomps && vka_uc_decomps[lo].cp == cp) {
            const vka_uc_decomp *d = &vka_uc_decomps[lo];
            memcpy(out, vka_uc_decomp_data + d->offset, d->len * sizeof *out);
            return d->len;
        }
    }
    out[0] = cp;
    return 1;
}

uint32_t vka_unicode_compose(uint32_t a, uint32_t b) {
    if (a >= L_BASE && a < L_BASE + L_COUNT && b >= V_BASE && b < V_BASE + V_COUNT)
        return S_BASE + ((a - L_BASE) * V_COUNT + (b - V_BASE)) * T_COUNT;
    if (a >= S_BASE && a < S_BASE + S_COUNT && (a - S_BASE) % T_COUNT == 0 && b > T_BASE &&
        b < T_BASE + T_COUNT)
        return a + (b - T_BASE);
    size_t lo = 0, hi = vka_uc_n_comps;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const vka_uc_comp *c = &vka_uc_comps[mid];
        if (c->first < a || (c->first == a && c->second < b)) lo = mid + 1;
        else hi = mid;
    }
    if (lo < vka_uc_n_comps && vka_uc_comps[lo].first == a && vka_uc_comps[lo].second == b)
        return vka_uc_comps[lo].composite;
    return 0;
}

static bool eight_ascii(const unsigned char *s) {
    uint64_t w;
    memcpy(&w, s, 8);
    return (w & 0x8080808080808080ull) == 0;
}

bool vka_nfc_quick_check(const char *text, size_t len) {
    const unsigned char *s = (const unsigned char *)text;
    uint8_t last_ccc = 0;
    for (size_t i = 0; i < len;) {
        if (i + 8 <= len && eight_ascii(s + i)) {
            i += 8;
            last_ccc = 0;
            continue;
        }
        uint32_t cp;
        size_t k = s[i] < 0x80 ? (cp = s[i], 1) : vka_utf8_decode(s + i, len - i, &cp);
        if (k == 0) {
            i++;
            last_ccc = 0;
            continue;
        }
        i += k;
        if (cp < vka_unicode_nfc_first) {
            last_ccc = 0;
            continue;
        }
        unsigned f = vka_unicode_flags(cp);
        if (f & (VKA_UC_QC_NO | VKA_UC_QC_MAYBE)) return false;
        uint8_t ccc = (f & VKA_UC_CCC) ? vka_unicode_ccc(cp) : 0;
        if (ccc && last_ccc > ccc) return false;
        last_ccc = ccc;
    }
    return true;
}

/* ---- the full algorithm ---- */

typedef struct cp_buf {
    uint32_t *cp;
    uint8_t *ccc;
    size_t n, cap;
} cp_buf;

static vka_status buf_push(cp_buf *b, uint32_t cp) {
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        uint32_t *c = realloc(b->cp, cap * sizeof *c);
        if (!c) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory while normalizing text (NFC)");
        b->cp = c;
        uint8_t *k = realloc(b->ccc, cap);
        if (!k) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory while normalizing text (NFC)");
        b->ccc = k;
        b->cap = cap;
    }
    b->cp[b->n] = cp;
    b->ccc[b->n] = cp & RAW_BYTE ? 0 : vka_unicode_ccc(cp);
    b->n++;
    return VKA_OK;
}

static vka_status decompose_all(const unsigned char *s, size_t len, cp_buf *b) {
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t k = vka_utf8_decode(s + i, len - i, &cp);
        if (k == 0) {
            VKA_TRY(buf_push(b, RAW_BYTE | s[i]));
            i++;
            continue;
        }
        i += k;
        uint32_t d[4];
        size_t n = cp < 0x80 ? (d[0] = cp, 1) : vka_unicode_decompose(cp, d);
        for (size_t j = 0; j < n; j++) VKA_TRY(buf_push(b, d[j]));
    }
    return VKA_OK;
}

/* Stable sort of one run of non-starters by combining class: insertion sort
 * for the usual handful, a counting sort for long (hostile) runs. */
static vka_status sort_run(cp_buf *b, size_t start, size_t end) {
    size_t n = end - start;
    if (n <= 32) {
        for (size_t i = start + 1; i < end; i++) {
            uint32_t cp = b->cp[i];
            uint8_t c = b->ccc[i];
            size_t j = i;
            for (; j > start && b->ccc[j - 1] > c; j--) {
                b->cp[j] = b->cp[j - 1];
                b->ccc[j] = b->ccc[j - 1];
            }
            b->cp[j] = cp;
            b->ccc[j] = c;
        }
        return VKA_OK;
    }
    uint32_t *tmp = malloc(n * sizeof *tmp);
    if (!tmp) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory while normalizing text (NFC)");
    size_t at[257] = {0};
    for (size_t i = start; i < end; i++) at[b->ccc[i] + 1]++;
    for (int c = 1; c <= 256; c++) at[c] += at[c - 1];
    for (size_t i = start; i < end; i++) tmp[at[b->ccc[i]]++] = b->cp[i];
    memcpy(b->cp + start, tmp, n * sizeof *tmp);
    free(tmp);
    for (size_t i = start; i < end; i++) b->ccc[i] = vka_unicode_ccc(b->cp[i]);
    return VKA_OK;
}

static vka_status canonical_order(cp_buf *b) {
    for (size_t i = 0; i < b->n;) {
        if (b->ccc[i] == 0) {
            i++;
            continue;
        }
        size_t end = i;
        while (end < b->n && b->ccc[end] != 0) end++;
        if (end - i > 1) VKA_TRY(sort_run(b, i, end));
        i = end;
    }
    return VKA_OK;
}

/* Canonical composition in place: each character joins the last starter
 * when nothing between them blocks it (a character of the same or a higher
 * class, or a starter). Returns the new length. */
static size_t compose_all(cp_buf *b) {
    if (b->n == 0) return 0;
    size_t starter = 0, out = 1;
    /* last_ccc: class of the last character kept after the starter (0: none
     * kept since it); 256 while the text opens with non-starters, which have
     * no starter to join. */
    int last_ccc = b->ccc[0] ? 256 : 0;
    for (size_t i = 1; i < b->n; i++) {
        uint32_t cp = b->cp[i];
        int ccc = b->ccc[i];
        if (last_ccc == 0 || last_ccc < ccc) {
            uint32_t composite = vka_unicode_compose(b->cp[starter], cp);
            if (composite) {
                b->cp[starter] = composite;
                continue;
            }
        }
        if (ccc == 0) {
            starter = out;
            last_ccc = 0;
        } else {
            last_ccc = ccc;
        }
        b->cp[out] = cp;
        b->ccc[out] = (uint8_t)ccc;
        out++;
    }
    return out;
}

static vka_status encode_all(const cp_buf *b, size_t n, char **out, size_t *out_len) {
    char *s = malloc(n * 4 + 1);
    if (!s) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory while normalizing text (NFC)");
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        if (b->cp[i] & RAW_BYTE) s[len++] = (char)(b->cp[i] & 0xFF);
        else len += vka_utf8_encode(b->cp[i], s + len);
    }
    s[len] = '\0';
    *out = s;
    *out_len = len;
    return VKA_OK;
}

vka_status vka_nfc(const char *text, size_t len, char **out, size_t *out_len) {
    if ((!text && len) || !out || !out_len) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_nfc: NULL argument");
    *out = NULL;
    *out_len = 0;
    if (vka_nfc_quick_check(text, len)) {
        char *s = malloc(len + 1);
        if (!s) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory while normalizing text (NFC)");
        if (len) memcpy(s, text, len);
        s[len] = '\0';
        *out = s;
        *out_len = len;
        return VKA_OK;
    }
    cp_buf b = {0};
    vka_status s = decompose_all((const unsigned char *)text, len, &b);
    if (s == VKA_OK) s = canonical_order(&b);
    if (s == VKA_OK) s = encode_all(&b, compose_all(&b), out, out_len);
    free(b.cp);
    free(b.ccc);
    return s;
}
