/* sampler_unique.h — the uniqueItems side of a grammar constraint: when the
 * GBNF carries "# vka:unique" annotations (json_unique.h), tokens that would
 * complete an element equal to an earlier element of an annotated array are
 * masked out after the grammar's own mask, and refused on accept.
 *
 * Elements are compared when their bytes decide them (a string at its closing
 * quote, a container at its closing bracket, a number at the byte after it,
 * true/false/null at their first letter). A token that leaves a string or
 * number element on the way to an earlier element is also refused when the
 * grammar lets that element end only as a repeat (the rest of an enum value,
 * a digit at the top of a range): a bounded byte-by-byte search through the
 * grammar decides. What remains cornered: an element that must be a container
 * equal to an earlier one, or a new element required when every value the
 * grammar allows is already there (more items required than distinct values
 * exist): then no token is allowed and sampling fails with the sampler's
 * usual VKA_ERR_GRAMMAR. */
#ifndef VKA_SAMPLER_UNIQUE_H
#define VKA_SAMPLER_UNIQUE_H

#include <stdbool.h>
#include <stdint.h>

#include "vkagent.h"

struct vka_vocab;
struct vka_grammar_state;
typedef struct su_guard su_guard;

/* The guard for a GBNF text; *out is NULL when the text has no annotations.
 * Malformed annotations are VKA_ERR_GRAMMAR. */
vka_status su_guard_create(const struct vka_vocab *vocab, const char *gbnf, su_guard **out);
void su_guard_free(su_guard *guard);
void su_guard_reset(su_guard *guard);

/* Whether token id, allowed by the grammar in state gs, completes no repeated
 * element and leads into none that can only end as a repeat (false also on
 * out of memory). */
bool su_guard_allows(su_guard *guard, const struct vka_grammar_state *gs, int32_t id);
/* Sets logits[id] = -INFINITY for the tokens still allowed (the grammar's mask
 * for state gs applied) that su_guard_allows refuses. */
vka_status su_guard_mask(su_guard *guard, const struct vka_grammar_state *gs, float *logits, uint32_t n_vocab);
/* VKA_ERR_GRAMMAR when token id would complete a repeated element; the guard
 * is left as it was either way. */
vka_status su_guard_check(su_guard *guard, int32_t id);
/* Advances past token id (after the grammar accepted it). */
vka_status su_guard_accept(su_guard *guard, int32_t id);
/* Whether a whole document (matched apart from the guard's position) repeats no element. */
vka_status su_guard_document_ok(const su_guard *guard, const char *text, size_t len, bool *ok);

#endif
