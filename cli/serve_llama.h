/* serve_llama.h — `vkagent serve`'s llama.cpp-style extension endpoints
 * (serve_llama.c): GET /props, POST /tokenize, /detokenize, /apply-template. */
#ifndef VKA_CLI_SERVE_LLAMA_H
#define VKA_CLI_SERVE_LLAMA_H

#include <stddef.h>

#include "serve.h"

/* The method of the extension endpoint `url`, or NULL when it is none. */
const char *serve_extension_method(const char *url);
/* Answers one (the model is loaded): *status and the malloc'ed JSON text,
 * an OpenAI error object when *status is not 200. */
char *serve_extension_answer(const serve_state *s, const char *url, const char *body, size_t len, int *status);

#endif
