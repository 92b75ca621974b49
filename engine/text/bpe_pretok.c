/* bpe_pretok.c — the pre-tokenizers of byte-level BPE vocabularies: the
 * split patterns of GPT-2, Llama-3, Qwen2, SmolLM, GPT-4o and Tekken, written as scanners
 * over code points (no regex engine) with the Unicode classes of
 * unicode_data.c. Each scanner returns the match of its pattern's
 * alternatives, tried in order with the regex's greedy backtracking. */
#include <stdlib.h>
#include <string.h>

#include "base/status.h"
#include "text/unicode.h"
#include "base/utf8.h"
#include "text/vocab_internal.h"

#define RAW_BYTE 0x80000000u

const char *vka_bpe_pre_name(vka_bpe_pre pre) {
    switch (pre) {
    case VKA_BPE_PRE_GPT2: return "gpt2";
    case VKA_BPE_PRE_LLAMA3: return "llama3";
    case VKA_BPE_PRE_QWEN2: return "qwen2";
    case VKA_BPE_PRE_SMOLLM: return "smollm";
    case VKA_BPE_PRE_GPT4O: return "gpt4o";
    case VKA_BPE_PRE_TEKKEN: return "tekken";
    case VKA_BPE_PRE_COUNT: break;
    }
    return "?";
}

void vka_pretok_free(vka_pretok *ws) {
    free(ws->cp);
    free(ws->off);
    free(ws->cls);
    memset(ws, 0, sizeof *ws);
}

/* The text being scanned: code points [0, n) and their classes. */
typedef struct scan {
    const uint32_t *cp;
    const uint8_t *cls;
} scan;

static bool is_letter(const scan *s, size_t i) { return s->cls[i] & VKA_UC_LETTER; }
static bool is_number(const scan *s, size_t i) { return s->cls[i] & VKA_UC_NUMBER; }
static bool is_space(const scan *s, size_t i) { return s->cls[i] & VKA_UC_SPACE; }
/* [^\s\p{L}\p{N}] */
static bool is_other(const scan *s, size_t i) { return s->cls[i] == 0; }
static bool is_newline(const scan *s, size_t i) { return s->cp[i] == '\r' || s->cp[i] == '\n'; }

static uint32_t ascii_lower(uint32_t c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

/* 's|'t|'re|'ve|'m|'ll|'d — `icase`: ASCII letters of either case, as the
 * (?i:...) group of Llama-3/Qwen2 (Hugging Face's regex and llama.cpp both
 * fold only ASCII here). Returns the match length or 0. */
static size_t contraction(const scan *s, size_t i, size_t e, bool icase) {
    if (s->cp[i] != '\'' || i + 1 >= e) return 0;
    uint32_t a = icase ? ascii_lower(s->cp[i + 1]) : s->cp[i + 1];
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if (i + 2 >= e) return 0;
    uint32_t b = icase ? ascii_lower(s->cp[i + 2]) : s->cp[i + 2];
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    return 0;
}

/* End of the run of code points from i that satisfy `in`. */
static size_t run_end(const scan *s, size_t i, size_t e, bool (*in)(const scan *, size_t)) {
    while (i < e && in(s, i)) i++;
    return i;
}

/* \s+(?!\S)|\s+ at a space: the whole run when it ends the text, else the
 * run but its last space (which then leads the next pre-token), at least one. */
static size_t spaces(const scan *s, size_t i, size_t e) {
    size_t k = run_end(s, i + 1, e, is_space);
    return k == e || k - i == 1 ? k - i : k - 1 - i;
}

/* GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
static size_t match_gpt2(const scan *s, size_t i, size_t e) {
    size_t n = contraction(s, i, e, false);
    if (n) return n;
    size_t j = s->cp[i] == ' ' && i + 1 < e ? i + 1 : i;
    if (is_letter(s, j)) return run_end(s, j, e, is_letter) - i;
    if (is_number(s, j)) return run_end(s, j, e, is_number) - i;
    if (is_other(s, j)) return run_end(s, j, e, is_other) - i;
    return spaces(s, i, e);
}

/* Llama-3 (max_digits 3) and Qwen2 (max_digits 1):
 * (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,max_digits}
 * | ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ */
static size_t match_llama3(const scan *s, size_t i, size_t e, size_t max_digits) {
    size_t n = contraction(s, i, e, true);
    if (n) return n;
    /* a letter run, optionally led by one character that is none of \r \n letter number */
    size_t j = !is_letter(s, i) && !is_number(s, i) && !is_newline(s, i) && i + 1 < e ? i + 1 : i;
    if (is_letter(s, j)) return run_end(s, j, e, is_letter) - i;
    if (is_number(s, i)) {
        size_t k = i + 1;
        while (k < e && k - i < max_digits && is_number(s, k)) k++;
        return k - i;
    }
    j = s->cp[i] == ' ' && i + 1 < e ? i + 1 : i;
    if (is_other(s, j)) {
        size_t k = run_end(s, j, e, is_other);
        return run_end(s, k, e, is_newline) - i;
    }
    /* \s*[\r\n]+: spaces up to and including the last newline of the run */
    size_t k = run_end(s, i, e, is_space);
    for (size_t p = k; p > i; p--)
        if (is_newline(s, p - 1)) return p - i;
    return spaces(s, i, e);
}

/* GPT-4o's letter classes as llama.cpp evaluates them: its regex engine
 * sees every non-ASCII letter as one and the same byte, so case is told
 * only for ASCII. "Upper" ([\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}] in the original
 * pattern) is a letter other than a-z, "lower" ([\p{Ll}\p{Lm}\p{Lo}\p{M}]) a
 * letter other than A-Z: a non-ASCII letter is both, a mark neither. */
static bool is_upper(const scan *s, size_t i) { return is_letter(s, i) && !(s->cp[i] >= 'a' && s->cp[i] <= 'z'); }
static bool is_lower(const scan *s, size_t i) { return is_letter(s, i) && !(s->cp[i] >= 'A' && s->cp[i] <= 'Z'); }

/* End of the cased word piece at j, or j when none: Upper*Lower+, else
 * Upper+Lower*, as the regex's backtracking finds them. */
static size_t cased_word(const scan *s, size_t j, size_t e) {
    size_t u = run_end(s, j, e, is_upper);
    /* Upper* greedy then Lower+: the whole upper run when a lower one follows */
    if (u < e && is_lower(s, u)) return run_end(s, u, e, is_lower);
    /* else Upper* gives back code points until one that is also lower; nothing
     * after it is lower, so Lower+ takes just that one */
    for (size_t c = u; c > j; c--)
        if (is_lower(s, c - 1)) return c;
    /* Upper+Lower*: the upper run (no lower follows it) */
    return u;
}

/* GPT-4o (contractions, max_digits 3) and Tekken (neither, max_digits 1), in
 * llama.cpp's form:
 * [^\r\n\p{L}\p{N}]?Upper*Lower+C?|[^\r\n\p{L}\p{N}]?Upper+Lower*C?|\p{N}{1,max_digits}
 * | ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+
 * where C is (?i:'s|'t|'re|'ve|'m|'ll|'d) (ASCII case folding). */
static size_t match_gpt4o(const scan *s, size_t i, size_t e, size_t max_digits, bool contractions) {
    /* a cased word, optionally led by one character that is none of \r \n letter number */
    size_t j = !is_letter(s, i) && !is_number(s, i) && !is_newline(s, i) && i + 1 < e ? i + 1 : i;
    size_t k = cased_word(s, j, e);
    if (k > j) return k + (contractions && k < e ? contraction(s, k, e, true) : 0) - i;
    if (is_number(s, i)) {
        k = i + 1;
        while (k < e && k - i < max_digits && is_number(s, k)) k++;
        return k - i;
    }
    j = s->cp[i] == ' ' && i + 1 < e ? i + 1 : i;
    if (is_other(s, j)) {
        k = run_end(s, j, e, is_other);
        while (k < e && (is_newline(s, k) || s->cp[k] == '/')) k++;
        return k - i;
    }
    /* \s*[\r\n]+: spaces up to and including the last newline of the run */
    k = run_end(s, i, e, is_space);
    for (size_t p = k; p > i; p--)
        if (is_newline(s, p - 1)) return p - i;
    return spaces(s, i, e);
}

/* The code points, offsets and classes of the text, in ws. */
static vka_status decode(vka_pretok *ws, const char *text, size_t len, size_t *n_out) {
    if (len + 1 > ws->cap) {
        size_t cap = len + 1 > 2 * ws->cap ? len + 1 : 2 * ws->cap;
        vka_pretok grown = {.cp = malloc(cap * sizeof *grown.cp), .off = malloc(cap * sizeof *grown.off),
                            .cls = malloc(cap), .cap = cap};
        if (!grown.cp || !grown.off || !grown.cls) {
            vka_pretok_free(&grown);
            return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory while pre-tokenizing %zu bytes", len);
        }
        vka_pretok_free(ws);
        *ws = grown;
    }
    const unsigned char *t = (const unsigned char *)text;
    size_t n = 0;
    for (size_t i = 0; i < len; n++) {
        uint32_t cp;
        size_t k = t[i] < 0x80 ? (cp = t[i], 1) : vka_utf8_decode(t + i, len - i, &cp);
        if (k == 0) {
            cp = RAW_BYTE | t[i];
            k = 1;
        }
        ws->cp[n] = cp;
        ws->off[n] = (uint32_t)i;
        ws->cls[n] = (uint8_t)(vka_unicode_flags(cp) & (VKA_UC_LETTER | VKA_UC_NUMBER | VKA_UC_SPACE));
        i += k;
    }
    ws->off[n] = (uint32_t)len;
    *n_out = n;
    return VKA_OK;
}

vka_status vka_pretokenize(vka_pretok *ws, vka_bpe_pre pre, const char *text, size_t len, vka_pretoken_fn emit,
                           void *user) {
    if (len >= UINT32_MAX)
        return vka_fail(VKA_ERR_UNSUPPORTED, "a text of %zu bytes is too long to tokenize at once (4 GiB at most)",
                        len);
    size_t n = 0;
    VKA_TRY(decode(ws, text, len, &n));
    scan s = {ws->cp, ws->cls};
    size_t next_number = 0;   /* SmolLM: where the stretch between digits that holds i ends (a number, or n) */
    for (size_t i = 0; i < n;) {
        size_t m;
        switch (pre) {
        case VKA_BPE_PRE_LLAMA3: m = match_llama3(&s, i, n, 3); break;
        case VKA_BPE_PRE_QWEN2: m = match_llama3(&s, i, n, 1); break;
        case VKA_BPE_PRE_GPT4O: m = match_gpt4o(&s, i, n, 3, true); break;
        case VKA_BPE_PRE_TEKKEN: m = match_gpt4o(&s, i, n, 1, false); break;
        case VKA_BPE_PRE_SMOLLM:
            /* Digits(individual_digits) splits first; GPT-2's pattern then runs on each stretch between digits */
            if (is_number(&s, i)) {
                m = 1;
                break;
            }
            if (next_number <= i) {
                next_number = i + 1;
                while (next_number < n && !is_number(&s, next_number)) next_number++;
            }
            m = match_gpt2(&s, i, next_number);
            break;
        default: m = match_gpt2(&s, i, n); break;
        }
        VKA_TRY(emit(user, text + ws->off[i], ws->off[i + m] - ws->off[i]));
        i += m;
    }
    return VKA_OK;
}
