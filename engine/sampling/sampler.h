/* sampler.h — the sampler's internal side: its real constructor (the public
 * vka_sampler_create wraps it with the model's vocabulary), the seeded RNG,
 * and the hook through which a grammar constrains which tokens may follow. */
#ifndef VKA_SAMPLER_H
#define VKA_SAMPLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vkagent.h"

struct vka_vocab;

/* ------------------------------------------------------------------ RNG */

/* xoshiro256** (Blackman & Vigna), seeded with four outputs of splitmix64.
 * Plain integer arithmetic, so every machine produces the same stream. */
typedef struct vka_rng {
    uint64_t s[4];
} vka_rng;

void vka_rng_seed(vka_rng *rng, uint64_t seed);
uint64_t vka_rng_next(vka_rng *rng);
/* A uniform double in [0, 1) from the top 53 bits of one vka_rng_next. */
double vka_rng_uniform(vka_rng *rng);

/* ------------------------------------------------------------------ grammar hook */

/* What a grammar (or JSON-schema) engine provides to constrain sampling.
 * The sampler calls it at stage 2 of the documented order: after the
 * penalties, before greedy/top-k. */
typedef struct vka_sampler_constraint {
    void *state;
    /* Whether `token` may come next. Used to skip the full mask when the
     * greedy choice is already allowed (the result is the same either way). */
    bool (*accepts)(void *state, int32_t token);
    /* Sets logits[id] = -INFINITY for every id that may not come next.
     * Tokens already at -INFINITY may be skipped. */
    vka_status (*mask)(void *state, float *logits, uint32_t n_vocab);
    /* Advances past `token`; fails with VKA_ERR_GRAMMAR if it may not come next
     * (and then leaves the state as it was). */
    vka_status (*accept)(void *state, int32_t token);
    /* The grammar is complete and nothing more may follow. */
    bool (*is_done)(void *state);
    /* Back to the start state. */
    void (*reset)(void *state);
    /* Releases `state`; called once, by vka_sampler_free. May be NULL. */
    void (*free)(void *state);
    /* The grammar may end here (the tokens accepted so far form a complete
     * document). May be NULL: is_done stands in. */
    bool (*can_end)(void *state);
    /* Whether `text`, matched from the start by a separate matcher (the
     * state is untouched), is a complete document: for output that was cut
     * inside a token (a stop string). May be NULL: can_end stands in. */
    vka_status (*text_complete)(void *state, const char *text, size_t len, bool *complete);
} vka_sampler_constraint;

/* ------------------------------------------------------------------ sampler */

/* Creates a sampler for n_vocab-token logits. `vocab` (may be NULL) is kept
 * for the grammar engine, which needs token texts; it must outlive the
 * sampler. `params` NULL means vka_sampling_params_default. Invalid params
 * are VKA_ERR_INVALID_ARGUMENT. Grammar/JSON params are VKA_ERR_GRAMMAR
 * until the grammar engine is built in. */
vka_status vka_sampler_new(const struct vka_vocab *vocab, uint32_t n_vocab,
                           const vka_sampling_params *params, vka_sampler **out);

/* Adds tokens (e.g. the prompt) to the penalty history only: the grammar
 * does not see them. Ids outside [0, n_vocab) are VKA_ERR_INVALID_ARGUMENT
 * and nothing is added. Allocates only when penalty_last_n is -1. */
vka_status vka_sampler_add_history(vka_sampler *s, const int32_t *ids, size_t n);

/* Clears the history, re-seeds the RNG with the original seed and resets
 * the grammar: the sampler behaves as if newly created. */
void vka_sampler_reset(vka_sampler *s);

/* Installs the constraint that the grammar engine built; the sampler owns
 * it from then on (c->free runs in vka_sampler_free). Replaces, and frees,
 * any earlier one. `c` NULL removes it. */
void vka_sampler_set_constraint(vka_sampler *s, const vka_sampler_constraint *c);

uint32_t vka_sampler_n_vocab(const vka_sampler *s);

/* Whether a grammar (or JSON schema) constrains the sampler. */
bool vka_sampler_constrained(const vka_sampler *s);

/* Whether the accepted tokens form a complete document of the grammar
 * (true without a grammar). */
bool vka_sampler_can_end(const vka_sampler *s);

/* Whether `text` (len bytes, from the start of the output) is a complete
 * document of the grammar, matched apart from the sampler's own state
 * (true without a grammar). */
vka_status vka_sampler_text_complete(const vka_sampler *s, const char *text, size_t len, bool *complete);

#endif
