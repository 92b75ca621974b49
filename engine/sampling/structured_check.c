/* structured_check.c — whole documents checked against the constraint of a
 * vka_sampling_params (GBNF, JSON Schema or any JSON) without a model: the
 * grammar the sampler would enforce, matched byte by byte. */
#include <stdlib.h>

#include "structured/grammar.h"
#include "structured/json_unique.h"
#include "sampling/sampler_grammar.h"
#include "base/status.h"

struct vka_structured_checker {
    vka_grammar *grammar;   /* parsed once; each document gets its own state */
    ju_set *unique;         /* "# vka:unique" arrays (uniqueItems); NULL without them */
};

vka_status vka_structured_checker_create(const vka_sampling_params *params, vka_structured_checker **out) {
    if (!out) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_structured_checker_create: out is NULL");
    *out = NULL;
    if (!params) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_structured_checker_create: params is NULL");
    char *gbnf = NULL;
    const char *root = NULL;
    VKA_TRY(vka_structured_gbnf(params, &gbnf, &root));
    vka_structured_checker *c = calloc(1, sizeof *c);
    vka_status st = c ? vka_grammar_parse(gbnf, root, &c->grammar) : vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
    if (st == VKA_OK) st = ju_set_parse(gbnf, &c->unique);
    free(gbnf);
    if (st != VKA_OK) {
        vka_structured_checker_free(c);
        return st;
    }
    *out = c;
    return VKA_OK;
}

vka_status vka_structured_check(vka_structured_checker *checker, const char *doc, size_t len, bool *accepted) {
    if (!checker || !accepted || (!doc && len))
        return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_structured_check: NULL checker, document or result");
    *accepted = false;
    /* A fresh state per document: documents never see each other's position,
     * and a matcher limit hit by one document does not poison the next. */
    vka_grammar_state *state = NULL;
    VKA_TRY(vka_grammar_state_create(checker->grammar, &state));
    bool all_bytes = true;
    vka_status st = len ? vka_grammar_accept_bytes(state, doc, len, &all_bytes) : VKA_OK;
    if (st == VKA_OK) *accepted = all_bytes && vka_grammar_can_end(state);
    vka_grammar_state_free(state);
    /* what the grammar cannot say: the elements of annotated arrays are distinct */
    if (st == VKA_OK && *accepted && checker->unique) st = ju_check_document(checker->unique, doc, len, accepted);
    return st;
}

void vka_structured_checker_free(vka_structured_checker *checker) {
    if (!checker) return;
    vka_grammar_free(checker->grammar);
    ju_set_free(checker->unique);
    free(checker);
}
