/* json_number_impl.h — internals of json_number.c (specs, exact bounds, the
 * unbounded forms) shared with json_number_digits.c (the digit automaton that
 * writes bounded numbers and multiples). */
#ifndef VKA_JSON_NUMBER_IMPL_H
#define VKA_JSON_NUMBER_IMPL_H

#include <stdint.h>

#include "structured/json_number.h"

/* ---------------------------------------------------------------- decimal naturals */

/* Room for every value handled: grid values below 10^47, thresholds below
 * 10^57 before they are clamped. */
#define JN_DIGITS 64

/* A natural number as decimal digits (each 0..9), most significant first. */
typedef struct jn_dec {
    uint8_t d[JN_DIGITS];
} jn_dec;

void jn_dec_from_u64(jn_dec *x, uint64_t v);
/* 10^w and 10^w - 1 (w < JN_DIGITS). */
void jn_dec_pow10(jn_dec *x, unsigned w);
void jn_dec_nines(jn_dec *x, unsigned w);
/* x *= k (k <= 10); false on overflow. */
bool jn_dec_mul_small(jn_dec *x, unsigned k);
/* x = floor(x / 2); returns the remainder. */
bool jn_dec_half(jn_dec *x);
void jn_dec_add_one(jn_dec *x);
void jn_dec_sub_one(jn_dec *x); /* x > 0 */
int jn_dec_cmp(const jn_dec *a, const jn_dec *b);
bool jn_dec_is_zero(const jn_dec *x);

/* ---------------------------------------------------------------- the digit automaton */

/* The texts written: unsigned plain decimals, an integer part of at most
 * int_digits digits without leading zeros, then optionally "." and 1 to
 * frac_digits digits (no exponent). A text's grid value N is its value times
 * 10^frac_digits (its digits with the fraction padded by zeros); N must be a
 * multiple of modulus (1: any). */
typedef struct jn_shape {
    unsigned int_digits, frac_digits;
    uint64_t modulus; /* 1 <= modulus < 2^59 */
} jn_shape;

/* States beyond this many residue rules make the grammar too big to be
 * worth it: VKA_ERR_GRAMMAR. */
#define JN_MAX_STATES 1500u

typedef struct jn_automaton jn_automaton;

vka_status jn_automaton_create(js_rules *rules, const jn_shape *shape, jn_automaton **out);
void jn_automaton_free(jn_automaton *a);

/* Appends "a | b | ..." (or nothing, *empty then true): the texts of the
 * shape whose grid value N lies in [lo, hi] (lo <= hi < 10^(int+frac digits)).
 * Rules for the residue states it refers to are added to the rules. */
vka_status jn_put_magnitudes(jn_automaton *a, const jn_dec *lo, const jn_dec *hi, js_buf *out, bool *empty);

/* Number of residue rules made so far (for tests and budgets). */
uint32_t jn_automaton_n_states(const jn_automaton *a);

#endif
