/* grammar_sample.h — `vkagent grammar --sample`: random walks through a
 * grammar with random logits and a real vocabulary, no model weights. */
#ifndef VKA_CLI_GRAMMAR_SAMPLE_H
#define VKA_CLI_GRAMMAR_SAMPLE_H

#include <stdint.h>

#include "vkagent.h"

typedef struct grammar_sample_opts {
    long n_walks;           /* documents to try for */
    uint64_t seed;          /* walk i uses seed + i */
    const char *vocab;      /* GGUF with a vocabulary; NULL: cli_default_vocab() */
    long max_tokens;        /* a walk longer than this is abandoned; 0: 1000 */
} grammar_sample_opts;

/* Prints each complete document as a JSON string on its own line (stdout);
 * abandoned walks are reported on stderr. EXIT_OK, or EXIT_RUNTIME when the
 * sampler fails or a document it produced is not one the checker accepts. */
int grammar_sample(const vka_sampling_params *sp, const grammar_sample_opts *o);

#endif
