/* cpu_attention_bound.h — the derived bound on |fast - reference| for each
 * output of CPU attention, shared by tests/test_cpu_fast_ops.c (contiguous
 * caches) and tests/test_batch_invariance.c (paged steps, checked through
 * each sequence's contiguous caches). u = FLT_EPSILON / 2 is the unit
 * roundoff and gamma(n) = n u / (1 - n u) bounds n roundings. */
#ifndef VKA_TEST_CPU_ATTENTION_BOUND_H
#define VKA_TEST_CPU_ATTENTION_BOUND_H

#include <float.h>
#include <math.h>
#include <stdlib.h>

#include "backends/backend.h"

static const double u = FLT_EPSILON / 2.0;
static inline double gamma_n(double n) { return n * u / (1.0 - n * u); }

/* q's rows are `tokens` tokens at positions n_past .. n_past + tokens - 1; cache row p holds position p. */
typedef struct attn_case {
    uint32_t n_head, n_head_kv, head_dim, head_dim_v, tokens, n_past;
} attn_case;

static inline double cache_at(const vka_tensor *t, int64_t row, int64_t i) {
    const char *r = (const char *)t->data + (size_t)row * t->row_bytes;
    return t->type == VKA_TYPE_F16 ? vka_f16_to_f32(((const uint16_t *)r)[i]) : ((const float *)r)[i];
}

/* The bound on |fast - reference| for each output of (token, head), from
 * exact scores s_t = scale q.k_t and S_t = scale sum |q_i k_ti| in double:
 * - each side's score is within a_t = (gamma(d) + 2u) S_t of s_t (a d-term
 *   dot product in some order, then the product with scale);
 * - x_t = s_t - max rounds by u |x_t|, the exponential errs by <= 3u
 *   (relative; expf 2u); a shift common to every score cancels in the
 *   normalization, so each e^x_t is off by a factor (1 + eta_t) with
 *   eta_t <= eta = max_t (a_t + u |x_t|) + 3u;
 * - the weights w_t = e_t / sum are then off by eta_t + eta (the sum moves by
 *   at most eta relative) + gamma(n) (summing n keys) + 2u (division, or an
 *   inverse and a product);
 * - the output sum_t w_t v_ti adds gamma(n) sum_t w_t |v_ti|.
 * Per side |out - exact| <= (2 eta + 2 gamma(n) + 2u) sum_t w_t |v_ti|; the
 * two sides differ by twice that (1% more for second-order terms). */
static inline void attention_bounds(const attn_case *c, const vka_tensor *q, const vka_tensor *k, const vka_tensor *v,
                             float scale, uint32_t token, uint32_t h, double *tol) {
    uint32_t hkv = h / (c->n_head / c->n_head_kv), n_keys = c->n_past + token + 1;
    const float *qh = (const float *)q->data + (size_t)token * q->ne[0] + (size_t)h * c->head_dim;
    double *s = malloc(n_keys * sizeof *s), *S = malloc(n_keys * sizeof *S), max = -INFINITY, sum = 0.0, eta = 0.0;
    for (uint32_t t = 0; t < n_keys; t++) {
        s[t] = S[t] = 0.0;
        for (uint32_t i = 0; i < c->head_dim; i++) {
            double p = (double)qh[i] * cache_at(k, t, (int64_t)hkv * c->head_dim + i);
            s[t] += p;
            S[t] += fabs(p);
        }
        s[t] *= scale;
        S[t] *= scale;
        max = fmax(max, s[t]);
    }
    for (uint32_t t = 0; t < n_keys; t++) {
        eta = fmax(eta, (gamma_n(c->head_dim) + 2.0 * u) * S[t] + u * fabs(s[t] - max));
        sum += exp(s[t] - max);
    }
    eta += 3.0 * u;
    double factor = 2.0 * (2.0 * eta + 2.0 * gamma_n(n_keys) + 2.0 * u) * 1.01;
    for (uint32_t i = 0; i < c->head_dim_v; i++) {
        double weighted = 0.0;
        for (uint32_t t = 0; t < n_keys; t++)
            weighted += exp(s[t] - max) / sum * fabs(cache_at(v, t, (int64_t)hkv * c->head_dim_v + i));
        tol[i] = factor * weighted;
    }
    free(s);
    free(S);
}

#endif
