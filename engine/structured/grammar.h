/* grammar.h — GBNF grammars for constrained generation: the parser, a
 * pushdown matcher over Unicode code points, and token masks over a vocabulary.
 *
 * Typical use by a sampler:
 *
 *     vka_grammar *g;              // once per generation (or shared, it is immutable)
 *     VKA_TRY(vka_grammar_parse(text, "root", &g));
 *     vka_grammar_vocab *gv;       // once per vocabulary (immutable, shareable)
 *     VKA_TRY(vka_grammar_vocab_build(pieces, lens, n_vocab, eog_ids, n_eog, &gv));
 *     vka_grammar_state *st;
 *     VKA_TRY(vka_grammar_state_create(g, &st));
 *     for (;;) {
 *         // cheap path: sample unconstrained, keep the token if the grammar allows it
 *         if (!vka_grammar_allows_token(st, gv, id)) {
 *             VKA_TRY(vka_grammar_mask(st, gv, logits));   // -INFINITY where not allowed
 *             ... sample again from the masked logits ...
 *         }
 *         VKA_TRY(vka_grammar_accept_token(st, gv, id));
 *         if (vka_grammar_is_done(st)) break;               // nothing more can follow
 *     }
 *
 * Lifetimes: a state refers to its grammar, which must outlive it. A state and
 * its clones share internal caches (stack frames, per-vocabulary mask cache):
 * use one family of clones from one thread at a time. Different families are
 * independent. Grammars and vocabularies are read-only after creation.
 *
 * The syntax accepted and the limits are documented in docs/structured-output.md. */
#ifndef VKA_GRAMMAR_H
#define VKA_GRAMMAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vkagent.h"

/* Limits; exceeding one is a VKA_ERR_GRAMMAR with a message that names it. */
#define VKA_GRAMMAR_MAX_REPEAT 10000u        /* m and n in {m,n} */
#define VKA_GRAMMAR_MAX_NESTING 256u         /* nested ( ) groups */
#define VKA_GRAMMAR_MAX_STATES 2000000u      /* automaton states after expanding repetitions */
#define VKA_GRAMMAR_MAX_STACKS 10000u        /* simultaneous parse stacks while matching */
#define VKA_GRAMMAR_MAX_FRAMES (1u << 23)    /* stack frames held by one family of states */

typedef struct vka_grammar vka_grammar;
typedef struct vka_grammar_state vka_grammar_state;
typedef struct vka_grammar_vocab vka_grammar_vocab;

/* Parses and checks GBNF `text` (UTF-8, NUL-terminated) with start rule
 * `root` (NULL: "root"). Errors are VKA_ERR_GRAMMAR, "line L, column C: what"
 * where a position applies. */
vka_status vka_grammar_parse(const char *text, const char *root, vka_grammar **out);
void vka_grammar_free(vka_grammar *grammar);

/* Number of automaton states (for diagnostics and tests). */
uint32_t vka_grammar_n_states(const vka_grammar *grammar);

/* A matcher at the start of the grammar. */
vka_status vka_grammar_state_create(const vka_grammar *grammar, vka_grammar_state **out);
/* An independent copy of `state` (same position), sharing its caches. */
vka_status vka_grammar_state_clone(const vka_grammar_state *state, vka_grammar_state **out);
void vka_grammar_state_free(vka_grammar_state *state);

/* Feeds bytes (UTF-8; may end inside a character). *accepted is false, and
 * the state unchanged, when no continuation of the grammar starts with them.
 * Errors (VKA_ERR_GRAMMAR for exceeding a matcher limit, out of memory) also
 * leave the state unchanged. */
vka_status vka_grammar_accept_bytes(vka_grammar_state *state, const void *bytes, size_t len,
                                    bool *accepted);

/* The grammar may finish here (end-of-generation is allowed). False while a
 * character is incomplete. */
bool vka_grammar_can_end(const vka_grammar_state *state);

/* The grammar is complete and nothing more can follow: generation should stop. */
bool vka_grammar_is_done(const vka_grammar_state *state);

/* ---------------------------------------------------------------- vocabularies */

/* Indexes a vocabulary for masking: pieces[i] holds lens[i] bytes, the text
 * token i stands for in the output. Tokens with empty pieces (control tokens)
 * are never allowed; the `eog_ids` (end of generation: EOS, EOT, ...) are
 * allowed exactly where the grammar can end, whatever their piece. */
vka_status vka_grammar_vocab_build(const char *const *pieces, const uint32_t *lens, uint32_t n_tokens,
                                   const int32_t *eog_ids, size_t n_eog, vka_grammar_vocab **out);
void vka_grammar_vocab_free(vka_grammar_vocab *vocab);
uint32_t vka_grammar_vocab_n_tokens(const vka_grammar_vocab *vocab);

/* Writes -INFINITY into logits[id] (n_tokens floats) for every token the
 * grammar does not allow next; the others are left as they are. */
vka_status vka_grammar_mask(const vka_grammar_state *state, const vka_grammar_vocab *vocab, float *logits);

/* The same set as a bitset: bit (id % 32) of bits[id / 32] is 1 where token
 * id is allowed; bits holds (n_tokens + 31) / 32 words, all written. */
vka_status vka_grammar_mask_bits(const vka_grammar_state *state, const vka_grammar_vocab *vocab,
                                 uint32_t *bits);

/* Whether one token may come next; cheap (no full mask). False also for ids
 * out of range and when a matcher limit is hit (vka_grammar_mask then
 * reports the error). */
bool vka_grammar_allows_token(const vka_grammar_state *state, const vka_grammar_vocab *vocab, int32_t id);

/* Advances the state by token id. VKA_ERR_GRAMMAR (state unchanged) when the
 * grammar does not allow it. After an end-of-generation token the state is
 * done. */
vka_status vka_grammar_accept_token(vka_grammar_state *state, const vka_grammar_vocab *vocab, int32_t id);

#endif
