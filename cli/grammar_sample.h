/* grammar_sample.h — `vkagent grammar --sample`: random walks through a
 * grammar with random logits and a real vocabulary, no model weights. */
#ifndef VKA_CLI_GRAMMAR_SAMPLE_H
#define VKA_CLI_GRAMMAR_SAMPLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vkagent.h"
#include "tools/tools.h"   /* engine internals for the tools */

typedef struct grammar_sample_opts {
    long n_walks;           /* documents to try for */
    uint64_t seed;          /* walk i uses seed + i */
    const char *vocab;      /* GGUF with a vocabulary; NULL: cli_default_vocab() */
    long max_tokens;        /* a walk longer than this is abandoned; 0: 1000 */
} grammar_sample_opts;

/* The random walker, also used by `vkagent bench --grammar` (bench_grammar.c). */
typedef struct text_buf {
    char *data;
    size_t len, cap;
} text_buf;

typedef struct grammar_walker {
    const vka_vocab *vocab;
    uint32_t n_vocab;
    unsigned char *kinds;                /* per token: how it moves a walk towards its end */
    float *logits;
    vka_structured_checker *checker;     /* grammar_sample only */
    const vka_sampling_params *base;
    long max_tokens;
    /* NULL: vka_sampler_new. The bench makes its samplers itself, to time the masks. */
    vka_status (*make_sampler)(void *user, const vka_sampling_params *p, vka_sampler **out);
    void *user;
    char error[512];                     /* why the last walk failed */
} grammar_walker;

/* max_tokens 0: 1000. False when out of memory. */
bool grammar_walker_init(grammar_walker *w, const vka_vocab *vocab, const vka_sampling_params *base, long max_tokens);
void grammar_walker_free(grammar_walker *w);

/* One walk with a fresh sampler (temperature 1 for even seeds, greedy for odd
 * ones): 1 for a complete document (in *doc), 0 when it reached max_tokens,
 * -1 on an error (w->error says why). *n_tokens: tokens accepted. */
int grammar_walk(grammar_walker *w, uint64_t seed, text_buf *doc, long *n_tokens);

/* Prints each complete document as a JSON string on its own line (stdout);
 * abandoned walks are reported on stderr. EXIT_OK, or EXIT_RUNTIME when the
 * sampler fails or a document it produced is not one the checker accepts. */
int grammar_sample(const vka_sampling_params *sp, const grammar_sample_opts *o);

#endif
