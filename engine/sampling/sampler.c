/* sampler.c — picks the next token from logits: penalties, grammar mask,
 * greedy or top-k / temperature / softmax / top-p / min-p and a seeded draw,
 * in the order documented above vka_sampling_params in vkagent.h. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sampling/sampler.h"
#include "sampling/sampler_grammar.h"
#include "base/status.h"

/* A candidate whose scaled logit (logit - best) / temperature is below this
 * has weight < e^-40 ~ 4e-18 against the best token's weight 1: less than
 * half an ulp of a sum that starts at 1, so it cannot change the softmax
 * normalisation. Dropping such tokens first keeps the sort small. */
#define WEIGHT_LOG_FLOOR (-40.0)

/* Slack on the min-p prefilter so that rounding in exp() can never make it
 * drop a token that the exact min-p test would keep. */
#define MIN_P_PREFILTER_SLACK 1e-6

/* top_k up to this is found with a heap in one pass; larger k by sorting. */
#define HEAP_TOP_K_MAX 4096

/* Logits are scanned in blocks of this many: one vectorisable test per
 * block decides whether any of them needs a closer look. */
#define SCAN_BLOCK 16

/* Below this many candidates a heapsort beats the radix sort's fixed cost. */
#define RADIX_SORT_MIN 1024

typedef struct candidate {
    float logit;
    int32_t id;
} candidate;

struct vka_sampler {
    vka_sampling_params params;     /* grammar pointers cleared: their strings are not kept */
    const struct vka_vocab *vocab;  /* for the grammar engine; may be NULL */
    uint32_t n_vocab;
    vka_rng rng;
    vka_sampler_constraint constraint;
    bool has_constraint;

    int32_t *history;               /* prompt and accepted tokens, oldest first */
    size_t n_history;
    size_t cap_history;

    /* Scratch, allocated once so that sampling never allocates. */
    uint32_t *counts;               /* (n_vocab) occurrences in the window; all zero between calls */
    float *work;                    /* (n_vocab) logits after penalties and mask */
    candidate *cand;                /* (n_vocab) candidates, best first */
    candidate *cand_tmp;            /* (n_vocab) radix sort buffer */
    double *weight;                 /* (n_vocab) exp of scaled logits, parallel to cand */
    vka_logit_bias *bias;           /* params.logit_bias, copied */
};

/* ------------------------------------------------------------------ RNG */

static uint64_t splitmix64_next(uint64_t *x) {
    uint64_t z = (*x += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

void vka_rng_seed(vka_rng *rng, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) rng->s[i] = splitmix64_next(&x);
}

static inline uint64_t rotl64(uint64_t v, int k) { return (v << k) | (v >> (64 - k)); }

uint64_t vka_rng_next(vka_rng *rng) {
    uint64_t *s = rng->s;
    uint64_t result = rotl64(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return result;
}

double vka_rng_uniform(vka_rng *rng) {
    return (double)(vka_rng_next(rng) >> 11) * 0x1.0p-53;
}

/* ------------------------------------------------------------------ params */

void vka_sampling_params_default(vka_sampling_params *params) {
    if (!params) return;
    memset(params, 0, sizeof *params);
    params->temperature = 0.8f;
    params->top_k = 40;
    params->top_p = 0.95f;
    params->min_p = 0.05f;
    params->repeat_penalty = 1.0f;
    params->frequency_penalty = 0.0f;
    params->presence_penalty = 0.0f;
    params->penalty_last_n = 64;
    params->seed = 0;
}

static vka_status check_params(const vka_sampling_params *p) {
    if (!isfinite(p->temperature))
        return vka_fail(VKA_ERR_INVALID_ARGUMENT,
                        "sampling: temperature is %g; it must be a finite number (<= 0 for greedy)",
                        (double)p->temperature);
    if (!(p->top_p > 0.0f && p->top_p <= 1.0f))
        return vka_fail(VKA_ERR_INVALID_ARGUMENT,
                        "sampling: top_p is %g; it must be in (0, 1] (1 turns top-p off)",
                        (double)p->top_p);
    if (!(p->min_p >= 0.0f && p->min_p <= 1.0f))
        return vka_fail(VKA_ERR_INVALID_ARGUMENT,
                        "sampling: min_p is %g; it must be in [0, 1] (0 turns min-p off)",
                        (double)p->min_p);
    if (!(isfinite(p->repeat_penalty) && p->repeat_penalty > 0.0f))
        return vka_fail(VKA_ERR_INVALID_ARGUMENT,
                        "sampling: repeat_penalty is %g; it must be a finite number > 0 (1 turns it off)",
                        (double)p->repeat_penalty);
    if (!isfinite(p->frequency_penalty))
        return vka_fail(VKA_ERR_INVALID_ARGUMENT,
                        "sampling: frequency_penalty is %g; it must be finite (0 turns it off)",
                        (double)p->frequency_penalty);
    if (!isfinite(p->presence_penalty))
        return vka_fail(VKA_ERR_INVALID_ARGUMENT,
                        "sampling: presence_penalty is %g; it must be finite (0 turns it off)",
                        (double)p->presence_penalty);
    if (p->penalty_last_n < -1)
        return vka_fail(VKA_ERR_INVALID_ARGUMENT,
                        "sampling: penalty_last_n is %d; it must be >= 0, or -1 for the whole history",
                        (int)p->penalty_last_n);
    int n_structured = (p->grammar != NULL) + (p->json_schema != NULL) + (p->json ? 1 : 0);
    if (n_structured > 1)
        return vka_fail(VKA_ERR_INVALID_ARGUMENT,
                        "sampling: at most one of grammar, json_schema and json may be set");
    return VKA_OK;
}

/* ------------------------------------------------------------------ lifetime */

void vka_sampler_free(vka_sampler *s) {
    if (!s) return;
    if (s->has_constraint && s->constraint.free) s->constraint.free(s->constraint.state);
    free(s->history);
    free(s->counts);
    free(s->work);
    free(s->cand);
    free(s->cand_tmp);
    free(s->weight);
    free(s->bias);
    free(s);
}

static vka_status check_logit_bias(const vka_sampling_params *p, uint32_t n_vocab) {
    if (p->n_logit_bias && !p->logit_bias)
        return vka_fail(VKA_ERR_INVALID_ARGUMENT, "sampling: n_logit_bias is %zu but logit_bias is NULL", p->n_logit_bias);
    for (size_t i = 0; i < p->n_logit_bias; i++) {
        const vka_logit_bias *b = &p->logit_bias[i];
        if (b->token < 0 || (uint32_t)b->token >= n_vocab)
            return vka_fail(VKA_ERR_INVALID_ARGUMENT, "sampling: logit_bias[%zu] names token %d, outside the "
                            "vocabulary (0..%u)", i, (int)b->token, n_vocab - 1);
        if (isnan(b->bias) || b->bias == INFINITY)
            return vka_fail(VKA_ERR_INVALID_ARGUMENT, "sampling: logit_bias[%zu] (token %d) is %g; it must be "
                            "finite or -inf (a ban)", i, (int)b->token, (double)b->bias);
    }
    return VKA_OK;
}

/* Keeps a copy: the caller's array need not outlive the sampler. */
static vka_status copy_logit_bias(vka_sampler *s, const vka_sampling_params *p) {
    s->params.logit_bias = NULL;
    s->params.n_logit_bias = 0;
    if (!p->n_logit_bias) return VKA_OK;
    s->bias = malloc(p->n_logit_bias * sizeof *s->bias);
    if (!s->bias) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "sampling: out of memory for the logit biases");
    memcpy(s->bias, p->logit_bias, p->n_logit_bias * sizeof *s->bias);
    s->params.logit_bias = s->bias;
    s->params.n_logit_bias = p->n_logit_bias;
    return VKA_OK;
}

vka_status vka_sampler_new(const struct vka_vocab *vocab, uint32_t n_vocab,
                           const vka_sampling_params *params, vka_sampler **out) {
    if (!out) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_sampler_new: out is NULL");
    *out = NULL;
    if (n_vocab == 0 || n_vocab > (uint32_t)INT32_MAX)
        return vka_fail(VKA_ERR_INVALID_ARGUMENT,
                        "vka_sampler_new: n_vocab is %u; it must be in [1, %d]", n_vocab, INT32_MAX);
    vka_sampling_params defaults;
    if (!params) {
        vka_sampling_params_default(&defaults);
        params = &defaults;
    }
    VKA_TRY(check_params(params));
    VKA_TRY(check_logit_bias(params, n_vocab));

    vka_sampler *s = calloc(1, sizeof *s);
    if (!s) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "vka_sampler_new: out of memory");
    s->params = *params;
    s->params.grammar = NULL;
    s->params.grammar_root = NULL;
    s->params.json_schema = NULL;
    s->vocab = vocab;
    s->n_vocab = n_vocab;
    vka_rng_seed(&s->rng, params->seed);
    s->counts = calloc(n_vocab, sizeof *s->counts);
    s->work = malloc(n_vocab * sizeof *s->work);
    s->cand = malloc(n_vocab * sizeof *s->cand);
    s->cand_tmp = malloc(n_vocab * sizeof *s->cand_tmp);
    s->weight = malloc(n_vocab * sizeof *s->weight);
    if (!s->counts || !s->work || !s->cand || !s->cand_tmp || !s->weight) {
        vka_sampler_free(s);
        return vka_fail(VKA_ERR_OUT_OF_MEMORY,
                        "vka_sampler_new: out of memory for the scratch of %u tokens", n_vocab);
    }
    vka_status bias_st = copy_logit_bias(s, params);
    if (bias_st != VKA_OK) {
        vka_sampler_free(s);
        return bias_st;
    }
    if (params->grammar || params->json_schema || params->json) {
        vka_sampler_constraint c;
        vka_status st = vka_grammar_constraint_create(vocab, params, &c);
        if (st != VKA_OK) {
            vka_sampler_free(s);
            return st;
        }
        vka_sampler_set_constraint(s, &c);
    }
    *out = s;
    return VKA_OK;
}

void vka_sampler_set_constraint(vka_sampler *s, const vka_sampler_constraint *c) {
    if (!s) return;
    if (s->has_constraint && s->constraint.free) s->constraint.free(s->constraint.state);
    s->has_constraint = c != NULL;
    if (c) s->constraint = *c;
    else memset(&s->constraint, 0, sizeof s->constraint);
}

uint32_t vka_sampler_n_vocab(const vka_sampler *s) { return s ? s->n_vocab : 0; }

void vka_sampler_reset(vka_sampler *s) {
    if (!s) return;
    s->n_history = 0;
    vka_rng_seed(&s->rng, s->params.seed);
    if (s->has_constraint && s->constraint.reset) s->constraint.reset(s->constraint.state);
}

bool vka_sampler_is_done(const vka_sampler *s) {
    return s && s->has_constraint && s->constraint.is_done(s->constraint.state);
}

bool vka_sampler_constrained(const vka_sampler *s) { return s && s->has_constraint; }

bool vka_sampler_can_end(const vka_sampler *s) {
    if (!vka_sampler_constrained(s)) return true;
    const vka_sampler_constraint *c = &s->constraint;
    return c->can_end ? c->can_end(c->state) : c->is_done(c->state);
}

vka_status vka_sampler_text_complete(const vka_sampler *s, const char *text, size_t len, bool *complete) {
    if (!vka_sampler_constrained(s)) return *complete = true, VKA_OK;
    const vka_sampler_constraint *c = &s->constraint;
    if (!c->text_complete) return *complete = vka_sampler_can_end(s), VKA_OK;
    return c->text_complete(c->state, text, len, complete);
}

/* ------------------------------------------------------------------ history */

/* Makes room for `n` more tokens. A bounded window only ever needs its last
 * penalty_last_n tokens, so older ones are dropped before growing. */
static vka_status history_reserve(vka_sampler *s, size_t n) {
    int32_t window = s->params.penalty_last_n;
    if (s->n_history + n <= s->cap_history) return VKA_OK;
    if (window > 0 && s->n_history > (size_t)window) {
        memmove(s->history, s->history + (s->n_history - (size_t)window),
                (size_t)window * sizeof *s->history);
        s->n_history = (size_t)window;
        if (s->n_history + n <= s->cap_history) return VKA_OK;
    }
    if (n > (SIZE_MAX / sizeof *s->history) / 2 - s->n_history)
        return vka_fail(VKA_ERR_OUT_OF_MEMORY, "sampler: history of %zu tokens is too long", n);
    size_t cap = s->cap_history ? s->cap_history : 64;
    while (cap < s->n_history + n) cap *= 2;
    int32_t *grown = realloc(s->history, cap * sizeof *grown);
    if (!grown) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "sampler: out of memory for the penalty history");
    s->history = grown;
    s->cap_history = cap;
    return VKA_OK;
}

static vka_status history_append(vka_sampler *s, const int32_t *ids, size_t n) {
    int32_t window = s->params.penalty_last_n;
    if (window == 0 || n == 0) return VKA_OK;
    if (window > 0 && n > (size_t)window) {
        ids += n - (size_t)window;
        n = (size_t)window;
    }
    VKA_TRY(history_reserve(s, n));
    memcpy(s->history + s->n_history, ids, n * sizeof *ids);
    s->n_history += n;
    return VKA_OK;
}

vka_status vka_sampler_add_history(vka_sampler *s, const int32_t *ids, size_t n) {
    if (!s) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_sampler_add_history: sampler is NULL");
    if (n == 0) return VKA_OK;
    if (!ids) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_sampler_add_history: ids is NULL");
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || (uint32_t)ids[i] >= s->n_vocab)
            return vka_fail(VKA_ERR_INVALID_ARGUMENT,
                            "vka_sampler_add_history: ids[%zu] = %d is outside the vocabulary [0, %u)",
                            i, (int)ids[i], s->n_vocab);
    return history_append(s, ids, n);
}

vka_status vka_sampler_accept(vka_sampler *s, int32_t token) {
    if (!s) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_sampler_accept: sampler is NULL");
    if (token < 0 || (uint32_t)token >= s->n_vocab)
        return vka_fail(VKA_ERR_INVALID_ARGUMENT,
                        "vka_sampler_accept: token %d is outside the vocabulary [0, %u)",
                        (int)token, s->n_vocab);
    /* Room first, so that a failure cannot leave the grammar ahead of the history. */
    if (s->params.penalty_last_n != 0) VKA_TRY(history_reserve(s, 1));
    if (s->has_constraint) VKA_TRY(s->constraint.accept(s->constraint.state, token));
    return history_append(s, &token, 1);
}

/* ------------------------------------------------------------------ logits */

/* NaN is "impossible" (-inf); +inf becomes the largest float so that such
 * tokens share the probability instead of turning the softmax into NaN;
 * -0 becomes +0 so that float order and the radix sort's bit order agree. */
static inline float clean_logit(float v) {
    if (v != v) return -INFINITY;
    if (v == INFINITY) return FLT_MAX;
    if (v == 0.0f) return 0.0f;
    return v;
}

/* The largest logit, cleaned; -inf when all are -inf or NaN. Independent
 * lanes so that the compiler can vectorise the loop. */
static float max_logit(const float *logits, uint32_t n) {
    float lane[SCAN_BLOCK];
    for (int j = 0; j < SCAN_BLOCK; j++) lane[j] = -INFINITY;
    uint32_t i = 0;
    for (; i + SCAN_BLOCK <= n; i += SCAN_BLOCK) {
        const float *block = logits + i;
        for (int j = 0; j < SCAN_BLOCK; j++)
            lane[j] = block[j] > lane[j] ? block[j] : lane[j];    /* NaN never wins */
    }
    float best = -INFINITY;
    for (; i < n; i++) best = logits[i] > best ? logits[i] : best;
    for (int j = 0; j < SCAN_BLOCK; j++) best = lane[j] > best ? lane[j] : best;
    return clean_logit(best);
}

/* Whether any of the SCAN_BLOCK logits at `l` is >= bar (NaN never is). */
static inline bool block_reaches(const float *l, float bar) {
    int any = 0;
    for (int j = 0; j < SCAN_BLOCK; j++) any |= l[j] >= bar;
    return any != 0;
}

static bool penalties_active(const vka_sampler *s) {
    const vka_sampling_params *p = &s->params;
    return s->n_history > 0 && p->penalty_last_n != 0 &&
           (p->repeat_penalty != 1.0f || p->frequency_penalty != 0.0f || p->presence_penalty != 0.0f);
}

/* llama.cpp's semantics: the repetition penalty divides a positive logit and
 * multiplies a negative one (both make the token less likely), then
 * count * frequency_penalty + presence_penalty is subtracted. */
static void apply_penalties(vka_sampler *s, float *logits) {
    const vka_sampling_params *p = &s->params;
    size_t start = 0;
    if (p->penalty_last_n > 0 && s->n_history > (size_t)p->penalty_last_n)
        start = s->n_history - (size_t)p->penalty_last_n;
    const int32_t *window = s->history + start;
    size_t len = s->n_history - start;
    for (size_t i = 0; i < len; i++) s->counts[window[i]]++;
    for (size_t i = 0; i < len; i++) {
        int32_t id = window[i];
        uint32_t count = s->counts[id];
        if (count == 0) continue;      /* already penalised */
        s->counts[id] = 0;
        float v = clean_logit(logits[id]);
        if (v == -INFINITY) continue;
        if (p->repeat_penalty != 1.0f) v = v <= 0.0f ? v * p->repeat_penalty : v / p->repeat_penalty;
        v -= (float)count * p->frequency_penalty + p->presence_penalty;
        logits[id] = clean_logit(v);
    }
}

/* Highest logit, lowest id on ties; -1 when every logit is -inf or NaN. */
static int32_t argmax(const float *logits, uint32_t n) {
    float best = max_logit(logits, n);
    if (best == -INFINITY) return -1;
    uint32_t i = 0;
    while (i + SCAN_BLOCK <= n && !block_reaches(logits + i, best)) i += SCAN_BLOCK;
    while (clean_logit(logits[i]) != best) i++;
    return (int32_t)i;
}

static vka_status no_candidates(const vka_sampler *s) {
    if (s->has_constraint)
        return vka_fail(VKA_ERR_GRAMMAR,
                        "sampling: the grammar allows none of the tokens with a finite logit");
    return vka_fail(VKA_ERR_INVALID_ARGUMENT,
                    "sampling: all %u logits are NaN or -inf; there is nothing to sample", s->n_vocab);
}

static vka_status sample_greedy(vka_sampler *s, const float *logits, int32_t *token) {
    int32_t best = argmax(logits, s->n_vocab);
    if (best < 0) return no_candidates(s);
    /* Masking only removes tokens, so an allowed argmax stays the argmax. */
    if (s->has_constraint && !s->constraint.accepts(s->constraint.state, best)) {
        VKA_TRY(s->constraint.mask(s->constraint.state, s->work, s->n_vocab));
        best = argmax(s->work, s->n_vocab);
        if (best < 0) return no_candidates(s);
    }
    *token = best;
    return VKA_OK;
}

/* ------------------------------------------------------------------ candidates */

/* Unsigned key whose ascending order is the float's descending order
 * (no NaN and no -0 reach here). */
static inline uint32_t descending_key(float v) {
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
    return ~u;
}

/* The rank as one integer, smallest first: logit descending, then id
 * ascending. A single comparison keeps the heap's inner loop branch-light. */
static inline uint64_t rank_key(candidate c) {
    return (uint64_t)descending_key(c.logit) << 32 | (uint32_t)c.id;
}

/* a ranks after b: lower logit, or the same logit and a higher id. */
static inline bool ranks_after(candidate a, candidate b) { return rank_key(a) > rank_key(b); }

/* Min-heap on rank: the root is the worst of the best k seen so far. */
static void heap_sift_up(candidate *h, uint32_t i) {
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (!ranks_after(h[i], h[parent])) break;
        candidate t = h[i];
        h[i] = h[parent];
        h[parent] = t;
        i = parent;
    }
}

static void heap_sift_down(candidate *h, uint32_t n, uint32_t i) {
    for (;;) {
        uint32_t worst = i, l = 2 * i + 1, r = l + 1;
        if (l < n && ranks_after(h[l], h[worst])) worst = l;
        if (r < n && ranks_after(h[r], h[worst])) worst = r;
        if (worst == i) return;
        candidate t = h[i];
        h[i] = h[worst];
        h[worst] = t;
        i = worst;
    }
}

/* Turns a rank min-heap of n candidates into an array sorted best first,
 * in place (heapsort: the worst goes to the end, one by one). */
static void heap_sort_best_first(candidate *h, uint32_t n) {
    for (uint32_t end = n; end > 1; end--) {
        candidate t = h[0];
        h[0] = h[end - 1];
        h[end - 1] = t;
        heap_sift_down(h, end - 1, 0);
    }
}

/* Puts logit `raw` of token `id` into the full heap if it beats the root.
 * Ids arrive in ascending order, so a tie with the root ranks after it. */
static inline void heap_offer(candidate *heap, uint32_t k, float raw, uint32_t id) {
    if (!(raw > heap[0].logit)) return;
    float v = clean_logit(raw);                 /* +inf may tie FLT_MAX */
    if (!(v > heap[0].logit)) return;
    heap[0] = (candidate){v, (int32_t)id};
    heap_sift_down(heap, k, 0);
}

/* The k best-ranked finite logits in one pass, unsorted. Most blocks hold
 * nothing above the heap's root and are skipped after one test. */
static uint32_t select_top_k(const float *logits, uint32_t n, uint32_t k, candidate *heap) {
    uint32_t size = 0, i = 0;
    for (; i < n && size < k; i++) {
        float v = clean_logit(logits[i]);
        if (v == -INFINITY) continue;
        heap[size] = (candidate){v, (int32_t)i};
        heap_sift_up(heap, size++);
    }
    if (size < k) return size;
    for (; i < n && i % SCAN_BLOCK != 0; i++) heap_offer(heap, k, logits[i], i);
    for (; i + SCAN_BLOCK <= n; i += SCAN_BLOCK) {
        if (!block_reaches(logits + i, heap[0].logit)) continue;
        for (uint32_t j = i; j < i + SCAN_BLOCK; j++) heap_offer(heap, k, logits[j], j);
    }
    for (; i < n; i++) heap_offer(heap, k, logits[i], i);
    return size;
}

/* Stable LSD radix sort by descending logit, three 11-bit digits, all
 * histograms from one read. The input is in ascending id order, so ties
 * stay in id order: the same total order as ranks_after. */
static void radix_sort_by_rank(candidate *a, candidate *tmp, uint32_t n) {
    enum { DIGIT_BITS = 11, BUCKETS = 1 << DIGIT_BITS, PASSES = 3 };
    static const int shift[PASSES] = {0, 11, 22};
    uint32_t offset[PASSES][BUCKETS];
    memset(offset, 0, sizeof offset);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t key = descending_key(a[i].logit);
        for (int p = 0; p < PASSES; p++) offset[p][(key >> shift[p]) & (BUCKETS - 1)]++;
    }
    candidate *src = a, *dst = tmp;
    for (int p = 0; p < PASSES; p++) {
        uint32_t *off = offset[p];
        if (off[(descending_key(src[0].logit) >> shift[p]) & (BUCKETS - 1)] == n) continue;  /* one bucket */
        uint32_t sum = 0;
        for (int b = 0; b < BUCKETS; b++) {
            uint32_t c = off[b];
            off[b] = sum;
            sum += c;
        }
        for (uint32_t i = 0; i < n; i++)
            dst[off[(descending_key(src[i].logit) >> shift[p]) & (BUCKETS - 1)]++] = src[i];
        candidate *t = src;
        src = dst;
        dst = t;
    }
    if (src != a) memcpy(a, src, n * sizeof *a);
}

/* Stage 5: the logit relative to the best one, divided by the temperature
 * (as a multiplication by its inverse, computed once per sample). */
static inline double scaled_logit(float logit, double best, double inv_temperature) {
    return ((double)logit - best) * inv_temperature;
}

/* Sorts s->cand (in id order) best first. Our own sorts: they allocate
 * nothing and their result is fully determined by the total rank order. */
static void sort_by_rank(vka_sampler *s, uint32_t n) {
    if (n >= RADIX_SORT_MIN) {
        radix_sort_by_rank(s->cand, s->cand_tmp, n);
        return;
    }
    for (uint32_t i = n / 2; i-- > 0;) heap_sift_down(s->cand, n, i);
    heap_sort_best_first(s->cand, n);
}

/* Appends to s->cand, in id order, every finite logit whose scaled value
 * reaches floor_scaled; returns how many. A block is read closely only if
 * one of its logits reaches a bar set safely below the exact boundary. */
static uint32_t gather_above(vka_sampler *s, const float *logits, double best, double inv_temperature,
                             double floor_scaled) {
    uint32_t n = s->n_vocab, n_cand = 0;
    double boundary = best + floor_scaled / inv_temperature;
    double bar_d = boundary - 1e-5 * (fabs(best) + fabs(boundary)) - 1e-30;
    float bar = bar_d < -FLT_MAX ? -INFINITY : (float)bar_d;
    for (uint32_t i = 0; i < n; i += SCAN_BLOCK) {
        uint32_t end = n - i < SCAN_BLOCK ? n : i + SCAN_BLOCK;
        if (end - i == SCAN_BLOCK && !block_reaches(logits + i, bar)) continue;
        for (uint32_t j = i; j < end; j++) {
            float v = clean_logit(logits[j]);
            if (v != -INFINITY && scaled_logit(v, best, inv_temperature) >= floor_scaled)
                s->cand[n_cand++] = (candidate){v, (int32_t)j};
        }
    }
    return n_cand;
}

/* Stage 4 (top-k) and the weight floor: fills s->cand best first and
 * returns how many there are (0 when no logit is finite). */
static uint32_t collect_candidates(vka_sampler *s, const float *logits, double inv_temperature) {
    const vka_sampling_params *p = &s->params;
    uint32_t n = s->n_vocab, n_cand;

    if (p->top_k > 0 && p->top_k <= HEAP_TOP_K_MAX && (uint32_t)p->top_k < n) {
        n_cand = select_top_k(logits, n, (uint32_t)p->top_k, s->cand);
        if (n_cand == 0) return 0;
        heap_sort_best_first(s->cand, n_cand);
        double best = s->cand[0].logit;
        for (uint32_t i = 1; i < n_cand; i++)
            if (scaled_logit(s->cand[i].logit, best, inv_temperature) < WEIGHT_LOG_FLOOR) return i;
        return n_cand;
    }

    float best = max_logit(logits, n);
    if (best == -INFINITY) return 0;
    /* Without top-p nothing needs the softmax of the tokens min-p will
     * drop, so min-p can prefilter too (prefixes of the same order commute). */
    double floor_scaled = WEIGHT_LOG_FLOOR;
    if (p->min_p > 0.0f && p->top_p >= 1.0f) {
        double min_p_log = log((double)p->min_p) - MIN_P_PREFILTER_SLACK;
        if (min_p_log > floor_scaled) floor_scaled = min_p_log;
    }
    n_cand = gather_above(s, logits, best, inv_temperature, floor_scaled);
    sort_by_rank(s, n_cand);
    if (p->top_k > 0 && (uint32_t)p->top_k < n_cand) n_cand = (uint32_t)p->top_k;
    return n_cand;
}

/* ------------------------------------------------------------------ sampling */

/* Stages 5-9 on the sorted candidates. All sums run best first. */
static int32_t draw_from_candidates(vka_sampler *s, uint32_t n_cand, double inv_temperature) {
    const vka_sampling_params *p = &s->params;
    const double best = s->cand[0].logit;
    double *w = s->weight;

    double total = 0.0;
    for (uint32_t i = 0; i < n_cand; i++) {
        w[i] = exp(scaled_logit(s->cand[i].logit, best, inv_temperature));
        total += w[i];
    }

    uint32_t n = n_cand;
    if (p->top_p < 1.0f) {
        double target = (double)p->top_p * total, cum = 0.0;
        for (uint32_t i = 0; i < n_cand; i++) {
            cum += w[i];
            if (cum >= target) {
                n = i + 1;
                break;
            }
        }
    }
    if (p->min_p > 0.0f) {
        double threshold = (double)p->min_p * w[0];
        for (uint32_t i = 1; i < n; i++) {
            if (w[i] < threshold) {
                n = i;
                break;
            }
        }
    }

    double kept = 0.0;
    for (uint32_t i = 0; i < n; i++) kept += w[i];
    double r = vka_rng_uniform(&s->rng) * kept, acc = 0.0;
    for (uint32_t i = 0; i < n; i++) {
        acc += w[i];
        if (r < acc) return s->cand[i].id;
    }
    return s->cand[n - 1].id;   /* r rounded up to the sum */
}

vka_status vka_sampler_sample(vka_sampler *s, const float *logits, int32_t *token) {
    if (!s || !logits || !token)
        return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_sampler_sample: %s is NULL",
                        !s ? "sampler" : !logits ? "logits" : "token");
    const float *src = logits;
    bool penalise = penalties_active(s);
    if (penalise || s->has_constraint || s->params.n_logit_bias) {
        memcpy(s->work, logits, s->n_vocab * sizeof *logits);  /* cleaned as it is read */
        for (size_t i = 0; i < s->params.n_logit_bias; i++) s->work[s->bias[i].token] += s->bias[i].bias;
        if (penalise) apply_penalties(s, s->work);
        src = s->work;
    }
    if (s->params.temperature <= 0.0f) return sample_greedy(s, src, token);

    if (s->has_constraint) VKA_TRY(s->constraint.mask(s->constraint.state, s->work, s->n_vocab));
    double inv_temperature = 1.0 / (double)s->params.temperature;
    uint32_t n_cand = collect_candidates(s, src, inv_temperature);
    if (n_cand == 0) return no_candidates(s);
    *token = draw_from_candidates(s, n_cand, inv_temperature);
    return VKA_OK;
}
