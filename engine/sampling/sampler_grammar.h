/* sampler_grammar.h — plugs the grammar engine into the sampler: a GBNF
 * grammar, a JSON schema or "any JSON" becomes a sampler constraint. */
#ifndef VKA_SAMPLER_GRAMMAR_H
#define VKA_SAMPLER_GRAMMAR_H

#include "sampling/sampler.h"
#include "text/vocab.h"

/* Builds the constraint the params ask for (grammar, json_schema or json).
 * Errors in the grammar or schema are VKA_ERR_GRAMMAR with the position. */
vka_status vka_grammar_constraint_create(const vka_vocab *vocab, const vka_sampling_params *params,
                                        vka_sampler_constraint *out);

/* The GBNF text the params stand for (malloc'ed): the grammar as given, the
 * schema converted, or the any-JSON grammar. */
vka_status vka_structured_gbnf(const vka_sampling_params *params, char **gbnf, const char **root);

#endif
