/* json_number_digits.c — the digit automaton behind bounded numbers: the
 * plain decimal texts whose grid value lies in a range and is a multiple of
 * a modulus, read digit by digit and rendered as GBNF.
 *
 * A text with k integer digits is compared, digit by digit, with the range's
 * ends written at the same width (k + fraction digits, the fraction padded
 * by zeros). While its prefix equals an end's prefix it is "tight" to that
 * end; those few states are written inline as nested groups. Once it is
 * tight to neither end, only what is left matters: L digits remain and the
 * prefix P read so far has some residue. With N = P * 10^L + S, N is a
 * multiple of M exactly when S = -P * 10^L (mod M), which depends on P only
 * modulo g(L) = M / gcd(M, 10^L). So the free states are (L, P mod g(L)):
 * one rule each, shared by every length and by both signs. For M = 1 there
 * is one free state per L, written in closed form ([0-9]{n} ...). */
#include <stdlib.h>
#include <string.h>

#include "structured/json_number_impl.h"
#include "base/status.h"

/* ---------------------------------------------------------------- decimal naturals */

void jn_dec_from_u64(jn_dec *x, uint64_t v) {
    memset(x, 0, sizeof *x);
    for (int i = JN_DIGITS - 1; v && i >= 0; i--, v /= 10) x->d[i] = (uint8_t)(v % 10);
}

void jn_dec_pow10(jn_dec *x, unsigned w) {
    memset(x, 0, sizeof *x);
    x->d[JN_DIGITS - 1 - w] = 1;
}

void jn_dec_nines(jn_dec *x, unsigned w) {
    memset(x, 0, sizeof *x);
    memset(x->d + JN_DIGITS - w, 9, w);
}

bool jn_dec_mul_small(jn_dec *x, unsigned k) {
    unsigned carry = 0;
    for (int i = JN_DIGITS - 1; i >= 0; i--) {
        unsigned t = x->d[i] * k + carry;
        x->d[i] = (uint8_t)(t % 10);
        carry = t / 10;
    }
    return carry == 0;
}

bool jn_dec_half(jn_dec *x) {
    unsigned rem = 0;
    for (int i = 0; i < JN_DIGITS; i++) {
        unsigned t = rem * 10 + x->d[i];
        x->d[i] = (uint8_t)(t / 2);
        rem = t % 2;
    }
    return rem != 0;
}

void jn_dec_add_one(jn_dec *x) {
    for (int i = JN_DIGITS - 1; i >= 0; i--) {
        if (x->d[i] < 9) {
            x->d[i]++;
            return;
        }
        x->d[i] = 0;
    }
}

void jn_dec_sub_one(jn_dec *x) {
    for (int i = JN_DIGITS - 1; i >= 0; i--) {
        if (x->d[i] > 0) {
            x->d[i]--;
            return;
        }
        x->d[i] = 9;
    }
}

int jn_dec_cmp(const jn_dec *a, const jn_dec *b) { return memcmp(a->d, b->d, JN_DIGITS); }

bool jn_dec_is_zero(const jn_dec *x) {
    for (int i = 0; i < JN_DIGITS; i++)
        if (x->d[i]) return false;
    return true;
}

/* ---------------------------------------------------------------- residues */

typedef struct free_state {
    uint64_t residue; /* P mod g(len) */
    uint32_t len;     /* digits left */
    char name[JS_NAME_CAP];
} free_state;

struct jn_automaton {
    js_rules *rules;
    jn_shape shape;
    unsigned twos, fives;        /* modulus = 2^twos * 5^fives * (a part prime to 10) */
    uint64_t pow10_mod[JN_DIGITS]; /* 10^L mod modulus */
    free_state *states;          /* made in this order; bodies written in it too */
    uint32_t n_states, cap_states, n_written;
    uint32_t *table; /* open addressing over states: index + 1, 0 for empty */
    uint32_t table_cap;
};

/* a * b mod m for a, b < m < 2^59 (no 128-bit type in C11). */
static uint64_t mul_mod(uint64_t a, uint64_t b, uint64_t m) {
    uint64_t r = 0;
    for (; b; b >>= 1) {
        if (b & 1) r = r + a >= m ? r + a - m : r + a;
        a = a + a >= m ? a + a - m : a + a;
    }
    return r;
}

static uint64_t pow_u64(uint64_t base, unsigned e) {
    uint64_t p = 1;
    while (e--) p *= base;
    return p;
}

/* g(L): the part of the modulus the next L digits cannot supply. */
static uint64_t group(const jn_automaton *a, unsigned len) {
    unsigned t = len < a->twos ? len : a->twos, f = len < a->fives ? len : a->fives;
    return a->shape.modulus / (pow_u64(2, t) * pow_u64(5, f));
}

/* Whether some L-digit suffix completes a prefix of this residue. */
static bool free_live(const jn_automaton *a, unsigned len, uint64_t residue) {
    uint64_t m = a->shape.modulus;
    if (m == 1 || len >= 19) return true; /* 10^19 > 2^59 > m: every residue class has a suffix */
    uint64_t r = mul_mod(residue, a->pow10_mod[len], m);
    uint64_t need = r ? m - r : 0;        /* the smallest suffix that completes the multiple */
    return need < pow_u64(10, len);
}

/* Whether the text may end here (the remaining digits all zero): P * 10^L = 0 mod M. */
static bool zeros_complete(const jn_automaton *a, unsigned len, uint64_t prefix_mod) {
    return mul_mod(prefix_mod % a->shape.modulus, a->pow10_mod[len], a->shape.modulus) == 0;
}

vka_status jn_automaton_create(js_rules *rules, const jn_shape *shape, jn_automaton **out) {
    *out = NULL;
    if (shape->modulus == 0 || shape->modulus >= (1ull << 59) || shape->int_digits == 0 ||
        shape->int_digits + shape->frac_digits + 1 >= JN_DIGITS)
        return vka_fail(VKA_ERR_INTERNAL, "number automaton: shape out of range");
    jn_automaton *a = calloc(1, sizeof *a);
    if (!a) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory building a number grammar");
    a->rules = rules;
    a->shape = *shape;
    for (uint64_t m = shape->modulus; m % 2 == 0; m /= 2) a->twos++;
    for (uint64_t m = shape->modulus; m % 5 == 0; m /= 5) a->fives++;
    uint64_t p = 1 % shape->modulus;
    for (unsigned i = 0; i < JN_DIGITS; i++, p = p * 10 % shape->modulus) a->pow10_mod[i] = p;
    *out = a;
    return VKA_OK;
}

void jn_automaton_free(jn_automaton *a) {
    if (!a) return;
    free(a->states);
    free(a->table);
    free(a);
}

uint32_t jn_automaton_n_states(const jn_automaton *a) { return a->n_states; }

static uint32_t state_hash(unsigned len, uint64_t residue) {
    uint64_t h = (residue * 0x9E3779B97F4A7C15ull) ^ (len * 0xC2B2AE3D27D4EB4Full);
    return (uint32_t)(h >> 32);
}

static bool table_grow(jn_automaton *a) {
    uint32_t cap = a->table_cap ? a->table_cap * 2 : 64;
    uint32_t *t = calloc(cap, sizeof *t);
    if (!t) return false;
    for (uint32_t i = 0; i < a->n_states; i++) {
        uint32_t h = state_hash(a->states[i].len, a->states[i].residue) & (cap - 1);
        while (t[h]) h = (h + 1) & (cap - 1);
        t[h] = i + 1;
    }
    free(a->table);
    a->table = t;
    a->table_cap = cap;
    return true;
}

/* The rule name of free state (len, residue), made (and queued) on first use. */
static vka_status free_state_name(jn_automaton *a, unsigned len, uint64_t residue, const char **name) {
    if (a->table_cap) {
        uint32_t h = state_hash(len, residue) & (a->table_cap - 1);
        for (; a->table[h]; h = (h + 1) & (a->table_cap - 1)) {
            free_state *s = &a->states[a->table[h] - 1];
            if (s->len == len && s->residue == residue) {
                *name = s->name;
                return VKA_OK;
            }
        }
    }
    if (a->n_states >= JN_MAX_STATES)
        return vka_fail(VKA_ERR_GRAMMAR, "the exact grammar needs more than %u residue states", JN_MAX_STATES);
    if ((a->n_states + 1) * 2 > a->table_cap && !table_grow(a))
        return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory building a number grammar");
    if (!js_grow((void **)&a->states, &a->cap_states, a->n_states + 1, sizeof *a->states))
        return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory building a number grammar");
    free_state *s = &a->states[a->n_states++];
    s->len = len;
    s->residue = residue;
    js_rule_name(a->rules, "num", s->name);
    uint32_t h = state_hash(len, residue) & (a->table_cap - 1);
    while (a->table[h]) h = (h + 1) & (a->table_cap - 1);
    a->table[h] = a->n_states;
    *name = s->name;
    return VKA_OK;
}

/* ---------------------------------------------------------------- rendering */

/* A character class for the digits set in `mask` (bit d: digit d). */
static void put_digit_class(js_buf *out, unsigned mask) {
    js_puts(out, "[");
    for (unsigned d = 0; d < 10;) {
        if (!(mask >> d & 1)) {
            d++;
            continue;
        }
        unsigned e = d;
        while (e + 1 < 10 && (mask >> (e + 1) & 1)) e++;
        if (e >= d + 2) js_printf(out, "%u-%u", d, e);
        else for (unsigned x = d; x <= e; x++) js_printf(out, "%u", x);
        d = e + 1;
    }
    js_puts(out, "]");
}

/* Free state (len, residue) as an expression: nothing for the end, a closed
 * form when there is no modulus, else its rule's name. *live: not dead. */
static vka_status put_free(jn_automaton *a, unsigned len, uint64_t residue, js_buf *out, bool *live) {
    *live = free_live(a, len, residue);
    if (!*live || len == 0) return VKA_OK;
    unsigned frac = a->shape.frac_digits;
    if (a->shape.modulus == 1) {
        if (len == frac + 1) js_puts(out, "[0-9]");
        if (len > frac + 1) js_printf(out, "[0-9]{%u}", len - frac);
        if (len >= frac && frac > 0) js_printf(out, "%s(\".\" [0-9]{1,%u})?", len > frac ? " " : "", frac);
        if (len < frac) js_printf(out, "[0-9]{0,%u}", len);
        return VKA_OK;
    }
    const char *name = NULL;
    VKA_TRY(free_state_name(a, len, residue, &name));
    js_puts(out, name);
    return VKA_OK;
}

/* Wraps the digit alternatives of a state `len` digits from the end: a "."
 * comes before the first fraction digit, and the text may stop where the
 * remaining digits may be zeros (`can_end`). *live: the state is not dead. */
static void wrap_alternatives(const jn_automaton *a, unsigned len, bool can_end, const js_buf *alts, js_buf *out,
                              bool *live) {
    unsigned frac = a->shape.frac_digits;
    bool has_alts = alts->len > 0;
    *live = has_alts || can_end;
    if (!has_alts) return; /* the end only: nothing to write */
    if (len == frac && frac > 0) js_printf(out, can_end ? "(\".\" (%s))?" : "\".\" (%s)", alts->data);
    else js_printf(out, can_end ? "(%s)?" : "(%s)", alts->data);
}

/* Groups of digits that lead to the same free state. */
typedef struct digit_groups {
    unsigned n, mask[10];
    uint64_t residue[10];
} digit_groups;

static void group_add(digit_groups *g, uint64_t residue, unsigned d) {
    for (unsigned i = 0; i < g->n; i++) {
        if (g->residue[i] == residue) {
            g->mask[i] |= 1u << d;
            return;
        }
    }
    g->residue[g->n] = residue;
    g->mask[g->n++] = 1u << d;
}

static void put_separator(js_buf *out) {
    if (out->len) js_puts(out, " | ");
}

/* "class child" for each group, into alts. */
static vka_status put_groups(jn_automaton *a, unsigned len, const digit_groups *g, js_buf *alts) {
    for (unsigned i = 0; i < g->n; i++) {
        put_separator(alts);
        put_digit_class(alts, g->mask[i]);
        js_buf child = {0};
        bool live;
        vka_status s = put_free(a, len, g->residue[i], &child, &live);
        if (s == VKA_OK && child.len) js_printf(alts, " %s", child.data);
        if (s == VKA_OK && child.failed) s = vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory building a number grammar");
        js_buf_free(&child);
        VKA_TRY(s);
    }
    return VKA_OK;
}

/* The body of free state s: its digit alternatives, wrapped. */
static vka_status write_free_state(jn_automaton *a, uint32_t index) {
    unsigned len = a->states[index].len;
    uint64_t residue = a->states[index].residue, next_group = group(a, len - 1);
    digit_groups g = {0};
    for (unsigned d = 0; d < 10; d++) {
        uint64_t r = (residue * 10 + d) % next_group;
        if (free_live(a, len - 1, r)) group_add(&g, r, d);
    }
    js_buf alts = {0}, body = {0};
    vka_status s = put_groups(a, len - 1, &g, &alts);
    bool live;
    bool can_end = len <= a->shape.frac_digits && zeros_complete(a, len, residue);
    if (s == VKA_OK) wrap_alternatives(a, len, can_end, &alts, &body, &live);
    if (s == VKA_OK && !body.len && !body.failed) js_puts(&body, "\"\"");
    if (s == VKA_OK && (alts.failed || body.failed || !js_rule_add(a->rules, a->states[index].name, body.data)))
        s = vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory building a number grammar");
    js_buf_free(&alts);
    js_buf_free(&body);
    return s;
}

/* The two ends of one length's range, `width` digits each. */
typedef struct span {
    const uint8_t *lo, *hi;
    unsigned width;
} span;

static bool all_equal(const uint8_t *d, unsigned n, uint8_t v) {
    for (unsigned i = 0; i < n; i++)
        if (d[i] != v) return false;
    return true;
}

/* The suffix language from digit `pos` of span sp, the prefix read so far
 * having residue prefix_mod (mod M) and equal to lo's (tight_lo) and/or hi's
 * (tight_hi) prefix. Appends it to out (nothing for the end); *live: not dead. */
static vka_status put_state(jn_automaton *a, const span *sp, unsigned pos, uint64_t prefix_mod, bool tight_lo,
                            bool tight_hi, js_buf *out, bool *live) {
    unsigned len = sp->width - pos;
    uint64_t m = a->shape.modulus;
    /* an end whose remaining digits are all 0 (lo) or all 9 (hi) no longer constrains */
    if (tight_lo && all_equal(sp->lo + pos, len, 0)) tight_lo = false;
    if (tight_hi && all_equal(sp->hi + pos, len, 9)) tight_hi = false;
    if (!tight_lo && !tight_hi) return put_free(a, len, prefix_mod % group(a, len), out, live);

    unsigned first = tight_lo ? sp->lo[pos] : 0, last = tight_hi ? sp->hi[pos] : 9;
    digit_groups g = {0};
    js_buf alts = {0};
    vka_status s = VKA_OK;
    for (unsigned d = first; d <= last && s == VKA_OK; d++) {
        bool lo_next = tight_lo && d == sp->lo[pos], hi_next = tight_hi && d == sp->hi[pos];
        uint64_t next_mod = (prefix_mod * 10 + d) % m;
        if (lo_next && all_equal(sp->lo + pos + 1, len - 1, 0)) lo_next = false;
        if (hi_next && all_equal(sp->hi + pos + 1, len - 1, 9)) hi_next = false;
        if (!lo_next && !hi_next) {
            uint64_t r = next_mod % group(a, len - 1);
            if (free_live(a, len - 1, r)) group_add(&g, r, d);
            continue;
        }
        js_buf child = {0};
        bool child_live;
        s = put_state(a, sp, pos + 1, next_mod, lo_next, hi_next, &child, &child_live);
        if (s == VKA_OK && child_live) {
            put_separator(&alts);
            js_printf(&alts, "\"%u\"%s%s", d, child.len ? " " : "", child.len ? child.data : "");
        }
        if (s == VKA_OK && child.failed) s = vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory building a number grammar");
        js_buf_free(&child);
    }
    if (s == VKA_OK) s = put_groups(a, len - 1, &g, &alts);
    /* stopping here pads with zeros: below lo unless lo's rest is zeros (then not tight) */
    bool can_end = len <= a->shape.frac_digits && !tight_lo && zeros_complete(a, len, prefix_mod);
    if (s == VKA_OK) wrap_alternatives(a, len, can_end, &alts, out, live);
    if (s == VKA_OK && alts.failed) s = vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory building a number grammar");
    js_buf_free(&alts);
    return s;
}

static void dec_max(jn_dec *x, const jn_dec *y) {
    if (jn_dec_cmp(x, y) < 0) *x = *y;
}

static void dec_min(jn_dec *x, const jn_dec *y) {
    if (jn_dec_cmp(x, y) > 0) *x = *y;
}

/* Lengths first..last whose whole range is taken, without modulus:
 * [1-9] [0-9]{first-1,last-1} and the fraction. */
static void put_full_lengths(const jn_automaton *a, unsigned first, unsigned last, js_buf *out) {
    put_separator(out);
    if (first == last) js_printf(out, first > 2 ? "[1-9] [0-9]{%u}" : "[1-9] [0-9]", first - 1);
    else js_printf(out, "[1-9] [0-9]{%u,%u}", first - 1, last - 1);
    if (a->shape.frac_digits) js_printf(out, " (\".\" [0-9]{1,%u})?", a->shape.frac_digits);
}

/* One integer-digit count k: the span [lo, hi] cut to the k-digit texts. */
static vka_status put_length(jn_automaton *a, unsigned k, const jn_dec *lo, const jn_dec *hi, js_buf *out,
                             bool *full) {
    unsigned frac = a->shape.frac_digits, width = k + frac;
    jn_dec from, to;
    if (k == 1) memset(&from, 0, sizeof from);
    else jn_dec_pow10(&from, width - 1);
    jn_dec_nines(&to, width);
    *full = k > 1 && a->shape.modulus == 1 && jn_dec_cmp(lo, &from) <= 0 && jn_dec_cmp(hi, &to) >= 0;
    if (*full) return VKA_OK;
    dec_max(&from, lo);
    dec_min(&to, hi);
    if (jn_dec_cmp(&from, &to) > 0) return VKA_OK;
    span sp = {from.d + JN_DIGITS - width, to.d + JN_DIGITS - width, width};
    js_buf alt = {0};
    bool live;
    vka_status s = put_state(a, &sp, 0, 0, true, true, &alt, &live);
    if (s == VKA_OK && live) {
        put_separator(out);
        js_puts(out, alt.len ? alt.data : "\"\"");
    }
    if (s == VKA_OK && alt.failed) s = vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory building a number grammar");
    js_buf_free(&alt);
    return s;
}

vka_status jn_put_magnitudes(jn_automaton *a, const jn_dec *lo, const jn_dec *hi, js_buf *out, bool *empty) {
    js_buf alts = {0};
    vka_status s = VKA_OK;
    unsigned run_first = 0; /* a run of full lengths being collected, 0: none */
    for (unsigned k = 1; k <= a->shape.int_digits && s == VKA_OK; k++) {
        bool full;
        s = put_length(a, k, lo, hi, &alts, &full);
        if (full && !run_first) run_first = k;
        if (!full && run_first) put_full_lengths(a, run_first, k - 1, &alts), run_first = 0;
    }
    if (s == VKA_OK && run_first) put_full_lengths(a, run_first, a->shape.int_digits, &alts);
    while (s == VKA_OK && a->n_written < a->n_states) s = write_free_state(a, a->n_written++);
    if (s == VKA_OK && alts.failed) s = vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory building a number grammar");
    *empty = alts.len == 0;
    if (s == VKA_OK && alts.len) js_puts(out, alts.data);
    js_buf_free(&alts);
    return s;
}
