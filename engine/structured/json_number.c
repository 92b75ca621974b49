/* json_number.c — JSON numbers under minimum / maximum / exclusive* /
 * multipleOf as exact GBNF, and ajv's decision for one double.
 *
 * Forms written (the departures from "every JSON text ajv accepts"):
 * - type integer: -?(0|[1-9][0-9]{0,15}): no fraction, no exponent, at most
 *   16 digits. With bounds or multipleOf no "-0".
 * - type number, no keyword: -?(0|[1-9][0-9]{0,20})(.[0-9]{1,22})? and an
 *   exponent of at most 3 digits, bounded so the value stays below 1e308
 *   (1.7976931348623158e308 at most with a one-digit integer part and
 *   exponent 308): everything JSON.stringify writes for finite doubles.
 * - type number with a bound: plain decimals (no exponent, no "-0"), at most
 *   21 integer and 22 fraction digits.
 * - multipleOf m (integers and binary fractions c / 2^j, j <= 24): plain
 *   decimals with at most j fraction digits (none for integers), of
 *   magnitude at most 2^(53-j) (2^53 for type integer when j <= 16).
 *
 * Why the bounds are exact. JSON.parse and strtod round a decimal v to the
 * nearest double (ties to the even significand), so a text satisfies
 * "double(v) >= B" exactly when v > T, or v = T and the tie goes to B, where
 * T is the midpoint between B and the double below it (rounding is
 * monotone; values above T round to B or higher, values below to the double
 * below B or lower). Exclusive bounds become inclusive ones on the next
 * double (x > b is x >= nextafter(b, +inf)), upper bounds mirror this. T is
 * a dyadic rational computed exactly; the texts written have at most F
 * fraction digits, i.e. are multiples of 10^-F, so the condition is exactly
 * "v >= L" for the smallest such multiple L that passes (ceil of T, or T
 * itself when the tie passes). Every text of the forms is thus decided
 * exactly, whatever its digit count, near 0.1, 2^53 or anything else.
 *
 * Why multiples are exact. With m = c / 2^j (c odd when j > 0), the texts are
 * the values v = q * m for integers q with |q * c| <= 2^53 (|v| <=
 * 2^(53-j)): q * c fits a double's significand, so v is a double, parsed
 * exactly, and v / m = q exactly, an integer below 1e21, which is ajv's test
 * (res === parseInt(res)). A text is v written with j fraction digits, so
 * its grid value N = v * 10^j must be a multiple of c * 5^j; for type
 * integer (no fraction) N = v must be a multiple of c, and v / m = (v / c) *
 * 2^j is still a double when |v / c| <= 2^53, below 1e21 for j <= 16. Other
 * m (0.1, 0.01) are refused: ajv's division makes 0.3 / 0.1 non-integral. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "structured/json_number_impl.h"
#include "base/status.h"

#define INTEGER_DIGITS 16 /* type integer */
#define NUMBER_DIGITS 21  /* type number: integer part (JSON.stringify writes up to 21) */
#define FRACTION_DIGITS 22 /* type number: fraction (JSON.stringify writes up to 22) */
#define MAX_BINARY_PLACES 24 /* multipleOf c / 2^j beyond this j is refused */

bool js_number_admits(const js_number_spec *spec, double value) {
    if (!isfinite(value)) return false;                      /* ajv's strictNumbers */
    if (spec->integer && value != trunc(value)) return false; /* !(x % 1) */
    if (spec->has_min && (spec->min_exclusive ? !(value > spec->min) : !(value >= spec->min))) return false;
    if (spec->has_max && (spec->max_exclusive ? !(value < spec->max) : !(value <= spec->max))) return false;
    if (spec->multiple_of > 0) {
        /* ajv: res = x / m; invalid when res !== parseInt(res). parseInt reads
         * String(res), which has an exponent from 1e21 up: not an integer then */
        double q = value / spec->multiple_of;
        if (q != trunc(q) || fabs(q) >= 1e21) return false;
    }
    return true;
}

/* ---------------------------------------------------------------- messages */

/* The shortest text that reads back as x (integers below 1e17 in full). */
static void shortest(double x, char out[32]) {
    if (x == trunc(x) && fabs(x) < 1e17) {
        snprintf(out, 32, "%.0f", x);
        return;
    }
    for (int p = 1; p <= 17; p++) {
        snprintf(out, 32, "%.*g", p, x);
        if (strtod(out, NULL) == x) return;
    }
}

/* "integer minimum 1, exclusiveMaximum 5, multipleOf 2" */
static void describe(const js_number_spec *spec, char *out, size_t cap) {
    char v[32];
    int n = snprintf(out, cap, "%s", spec->integer ? "integer" : "number");
    if (spec->has_min && n >= 0 && (size_t)n < cap) {
        shortest(spec->min, v);
        n += snprintf(out + n, cap - (size_t)n, " %s %s", spec->min_exclusive ? "exclusiveMinimum" : "minimum", v);
    }
    if (spec->has_max && n >= 0 && (size_t)n < cap) {
        shortest(spec->max, v);
        n += snprintf(out + n, cap - (size_t)n, " %s %s", spec->max_exclusive ? "exclusiveMaximum" : "maximum", v);
    }
    if (spec->multiple_of > 0 && n >= 0 && (size_t)n < cap) {
        shortest(spec->multiple_of, v);
        snprintf(out + n, cap - (size_t)n, " multipleOf %s", v);
    }
}

/* ---------------------------------------------------------------- unbounded forms */

/* A fixed-width run of digits (leading zeros allowed) whose value is <= the
 * digits of s (width strlen(s)). */
static void put_digits_at_most(js_buf *out, const char *s) {
    size_t n = strlen(s);
    if (n == 1) {
        js_printf(out, "[0-%c]", s[0]);
        return;
    }
    js_puts(out, "(");
    if (s[0] > '0' && n == 2) js_printf(out, "[0-%c] [0-9] | ", s[0] - 1);
    if (s[0] > '0' && n > 2) js_printf(out, "[0-%c] [0-9]{%zu} | ", s[0] - 1, n - 1);
    js_printf(out, "\"%c\" ", s[0]);
    put_digits_at_most(out, s + 1);
    js_puts(out, ")");
}

/* An optional exponent that keeps value * 10^e below the mantissa's limit:
 * any negative exponent (underflow gives 0 or a subnormal, both finite), a
 * positive one up to max_exp (3 digits at most, leading zeros allowed). */
static bool exponent_rule(js_rules *rules, const char *max_exp, char name[JS_NAME_CAP]) {
    js_buf b = {0};
    js_puts(&b, "([eE] (\"-\" [0-9]{1,3} | \"+\"? ([0-9]{1,2} | ");
    put_digits_at_most(&b, max_exp);
    js_puts(&b, ")))?");
    bool ok = !b.failed && js_rule_new(rules, "num", b.data, name);
    js_buf_free(&b);
    return ok;
}

/* Every JSON number text of a finite double within the forms:
 * "0.f" e<=308 (< 1e308), "d.f" e<=307 (< 1e308), 2 to 21 integer digits
 * e<=287 (< 1e308), and 1.f e308 with the mantissa at most
 * 1.7976931348623158 (16 fraction digits: below the midpoint between
 * DBL_MAX and 2^1024, so it rounds to DBL_MAX, not to infinity). */
static vka_status put_any_number(js_rules *rules, js_buf *expr) {
    char e308[JS_NAME_CAP], e307[JS_NAME_CAP], e287[JS_NAME_CAP], top[JS_NAME_CAP];
    if (!exponent_rule(rules, "308", e308) || !exponent_rule(rules, "307", e307) || !exponent_rule(rules, "287", e287))
        return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory building a number grammar");
    jn_automaton *a;
    jn_shape shape = {1, 16, 1};
    VKA_TRY(jn_automaton_create(rules, &shape, &a));
    jn_dec lo, hi;
    jn_dec_pow10(&lo, 16);
    jn_dec_from_u64(&hi, 17976931348623158ull);
    js_buf body = {0};
    bool empty;
    js_printf(&body, "\"-\"? (\"0\" (\".\" [0-9]{1,%d})? %s | [1-9] ((\".\" [0-9]{1,%d})? %s | [0-9]{1,%d} (\".\" [0-9]{1,%d})? %s) | (",
              FRACTION_DIGITS, e308, FRACTION_DIGITS, e307, NUMBER_DIGITS - 1, FRACTION_DIGITS, e287);
    vka_status s = jn_put_magnitudes(a, &lo, &hi, &body, &empty);
    js_puts(&body, ") [eE] \"+\"? \"308\")");
    if (s == VKA_OK && (body.failed || !js_rule_new(rules, "num", body.data, top) || !js_puts(expr, top)))
        s = vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory building a number grammar");
    js_buf_free(&body);
    jn_automaton_free(a);
    return s;
}

/* ---------------------------------------------------------------- bounds as grid values */

/* A signed multiple of 10^-F, as its magnitude in units of 10^-F. */
typedef struct grid {
    bool neg;
    jn_dec mag;
} grid;

typedef enum { BOUND_AT, BOUND_NOTHING, BOUND_EVERYTHING } bound_kind;

/* x = s * 2^t with s an integer below 2^53. */
static void split_double(double x, int64_t *s, int *t) {
    int e = 0;
    double f = frexp(x, &e);
    *s = (int64_t)ldexp(f, 53);
    *t = e - 53;
}

/* floor(|T| * 10^F) for T = sum * 2^t, and whether that is exact. */
static void scaled_floor(uint64_t sum, int t, unsigned frac, jn_dec *out, bool *exact) {
    jn_dec_from_u64(out, sum);
    for (unsigned i = 0; i < frac; i++) jn_dec_mul_small(out, 10);
    *exact = true;
    for (int i = 0; i < t; i++) jn_dec_mul_small(out, 2);
    for (int i = 0; i < -t && !jn_dec_is_zero(out); i++)
        if (jn_dec_half(out)) *exact = false;
    if (t < 0 && jn_dec_is_zero(out) && sum) *exact = false;
}

static bool significand_even(double x) {
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    return (bits & 1) == 0;
}

/* The smallest (lower) or largest (upper) multiple g of 10^-F whose text
 * parses to a double >= B (lower) or <= B (upper); see the file comment. */
static bound_kind bound_grid(double b, bool lower, unsigned frac, grid *g) {
    if (!(fabs(b) < 1e30)) return (b < 0) == lower ? BOUND_EVERYTHING : BOUND_NOTHING; /* beyond every text written */
    double beside = nextafter(b, lower ? -INFINITY : INFINITY);
    int64_t sb, sa;
    int tb, ta;
    split_double(b, &sb, &tb);
    split_double(beside, &sa, &ta);
    if (sb == 0) tb = ta;
    if (sa == 0) ta = tb;
    int t = tb < ta ? tb : ta; /* neighbours: the exponents differ by at most one */
    int64_t sum = sb * ((int64_t)1 << (tb - t)) + sa * ((int64_t)1 << (ta - t));
    bool neg = sum < 0, exact, tie_to_b = significand_even(b);
    jn_dec x;
    /* T = sum * 2^(t-1): the midpoint */
    scaled_floor((uint64_t)(neg ? -sum : sum), t - 1, frac, &x, &exact);
    g->mag = x;
    g->neg = neg;
    bool on_t_ok = exact && tie_to_b; /* T itself passes */
    if (lower && !neg && !on_t_ok) jn_dec_add_one(&g->mag);    /* above T */
    if (lower && neg && exact && !tie_to_b) jn_dec_sub_one(&g->mag);
    if (!lower && !neg && exact && !tie_to_b) {
        if (jn_dec_is_zero(&g->mag)) g->neg = true, jn_dec_add_one(&g->mag);
        else jn_dec_sub_one(&g->mag);
    }
    if (!lower && neg && !on_t_ok) jn_dec_add_one(&g->mag);
    if (jn_dec_is_zero(&g->mag)) g->neg = false;
    return BOUND_AT;
}

static int grid_cmp(const grid *a, const grid *b) {
    if (a->neg != b->neg) return a->neg ? -1 : 1;
    int c = jn_dec_cmp(&a->mag, &b->mag);
    return a->neg ? -c : c;
}

/* ---------------------------------------------------------------- multipleOf */

typedef struct multiple {
    uint64_t odd;       /* m = odd / 2^places (odd is m itself when m is an integer) */
    unsigned places;
    bool only_zero;     /* m > 2^53: no other multiple within the exact window */
} multiple;

static vka_status analyse_multiple(const js_number_spec *spec, multiple *mu) {
    double m = spec->multiple_of;
    *mu = (multiple){0};
    if (m > 0x1p53) {
        mu->only_zero = true;
        return VKA_OK;
    }
    for (unsigned j = 0; j <= MAX_BINARY_PLACES; j++) {
        double c = ldexp(m, (int)j);
        if (c == trunc(c)) {
            mu->odd = (uint64_t)c;
            mu->places = j;
            return VKA_OK;
        }
    }
    char v[32];
    shortest(m, v);
    return vka_fail(VKA_ERR_GRAMMAR,
                    "multipleOf %s is not supported exactly: ajv divides in binary floating point (where 0.3 / 0.1 is "
                    "not an integer); integers and binary fractions such as 0.5 or 0.25 are supported",
                    v);
}

/* ---------------------------------------------------------------- bounded forms */

typedef struct plan {
    jn_shape shape;
    grid lo, hi;
} plan;

/* The grid range of the texts: bounds, digit caps and the window of exact multiples. */
static bool plan_range(const js_number_spec *spec, const multiple *mu, plan *p) {
    unsigned width = p->shape.int_digits + p->shape.frac_digits;
    grid cap = {false, {{0}}};
    jn_dec_nines(&cap.mag, width);
    if (spec->multiple_of > 0) {
        jn_dec window;
        if (mu->only_zero) memset(&window, 0, sizeof window);
        else if (spec->integer && mu->places <= 16) jn_dec_from_u64(&window, 1ull << 53);
        else {
            jn_dec_from_u64(&window, 1ull << (53 - mu->places));
            for (unsigned i = 0; i < p->shape.frac_digits; i++) jn_dec_mul_small(&window, 10);
        }
        if (jn_dec_cmp(&window, &cap.mag) < 0) cap.mag = window;
    }
    p->lo = cap, p->lo.neg = !jn_dec_is_zero(&cap.mag);
    p->hi = cap;
    if (spec->has_min) {
        grid g;
        double b = spec->min_exclusive ? nextafter(spec->min, INFINITY) : spec->min;
        bound_kind k = bound_grid(b, true, p->shape.frac_digits, &g);
        if (k == BOUND_NOTHING) return false;
        if (k == BOUND_AT && grid_cmp(&g, &p->lo) > 0) p->lo = g;
    }
    if (spec->has_max) {
        grid g;
        double b = spec->max_exclusive ? nextafter(spec->max, -INFINITY) : spec->max;
        bound_kind k = bound_grid(b, false, p->shape.frac_digits, &g);
        if (k == BOUND_NOTHING) return false;
        if (k == BOUND_AT && grid_cmp(&g, &p->hi) < 0) p->hi = g;
    }
    return grid_cmp(&p->lo, &p->hi) <= 0;
}

/* "-" (magnitudes of the negative values) | magnitudes of the others. */
static vka_status put_signed(jn_automaton *a, const plan *p, js_buf *body) {
    bool empty = true;
    if (p->lo.neg) {
        jn_dec one, from;
        jn_dec_from_u64(&one, 1);
        from = p->hi.neg ? p->hi.mag : one;
        js_buf neg = {0};
        vka_status s = jn_put_magnitudes(a, &from, &p->lo.mag, &neg, &empty);
        if (s == VKA_OK && !empty) js_printf(body, "\"-\" (%s)", neg.data);
        if (s == VKA_OK && neg.failed) s = vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory building a number grammar");
        js_buf_free(&neg);
        VKA_TRY(s);
    }
    if (!p->hi.neg) {
        jn_dec zero;
        memset(&zero, 0, sizeof zero);
        const jn_dec *from = p->lo.neg ? &zero : &p->lo.mag;
        js_buf pos = {0};
        bool pos_empty;
        vka_status s = jn_put_magnitudes(a, from, &p->hi.mag, &pos, &pos_empty);
        if (s == VKA_OK && !pos_empty) js_printf(body, "%s%s", empty ? "" : " | ", pos.data);
        if (s == VKA_OK && pos.failed) s = vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory building a number grammar");
        js_buf_free(&pos);
        VKA_TRY(s);
    }
    return VKA_OK;
}

static vka_status no_number(const plan *p, const char *what) {
    return vka_fail(VKA_ERR_GRAMMAR, "nothing satisfies %s (among plain decimals of at most %u integer digits)", what,
                    p->shape.int_digits);
}

static vka_status put_bounded(const js_number_spec *spec, js_rules *rules, js_buf *expr) {
    multiple mu = {0};
    plan p = {.shape = {spec->integer ? INTEGER_DIGITS : NUMBER_DIGITS, spec->integer ? 0 : FRACTION_DIGITS, 1}};
    char what[200];
    describe(spec, what, sizeof what);
    if (spec->multiple_of > 0) {
        VKA_TRY(analyse_multiple(spec, &mu));
        p.shape.frac_digits = spec->integer ? 0 : mu.places;
        uint64_t modulus = mu.only_zero ? 1 : mu.odd;
        for (unsigned i = 0; i < p.shape.frac_digits; i++) {
            if (modulus > (1ull << 59) / 5)
                return vka_fail(VKA_ERR_GRAMMAR, "%s: multipleOf too fine for an exact grammar", what);
            modulus *= 5;
        }
        if (modulus >= 1ull << 59)
            return vka_fail(VKA_ERR_GRAMMAR, "%s: multipleOf too large for an exact grammar", what);
        p.shape.modulus = modulus;
    }
    if (!plan_range(spec, &mu, &p)) return no_number(&p, what);
    jn_automaton *a;
    VKA_TRY(jn_automaton_create(rules, &p.shape, &a));
    js_buf body = {0};
    vka_status s = put_signed(a, &p, &body);
    if (s == VKA_ERR_GRAMMAR) s = vka_fail_context(s, "%s", what);
    if (s == VKA_OK && body.len == 0 && !body.failed) s = no_number(&p, what);
    char top[JS_NAME_CAP];
    if (s == VKA_OK && (body.failed || !js_rule_new(rules, "num", body.data, top) || !js_puts(expr, top)))
        s = vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory building a number grammar");
    js_buf_free(&body);
    jn_automaton_free(a);
    return s;
}

vka_status js_number_gbnf(const js_number_spec *spec, js_rules *rules, js_buf *expr) {
    if ((spec->has_min && !isfinite(spec->min)) || (spec->has_max && !isfinite(spec->max)) ||
        !(spec->multiple_of >= 0) || !isfinite(spec->multiple_of))
        return vka_fail(VKA_ERR_GRAMMAR, "number bounds and multipleOf must be finite (multipleOf positive)");
    if (spec->has_min || spec->has_max || spec->multiple_of > 0) return put_bounded(spec, rules, expr);
    if (spec->integer) {
        if (!js_printf(expr, "(\"-\"? (\"0\" | [1-9] [0-9]{0,%d}))", INTEGER_DIGITS - 1))
            return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory building a number grammar");
        return VKA_OK;
    }
    return put_any_number(rules, expr);
}
