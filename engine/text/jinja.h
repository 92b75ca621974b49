/* jinja.h — a sandboxed Jinja2 interpreter for chat templates: the subset
 * that models' tokenizer.chat_template texts use, rendering byte for byte
 * as @huggingface/jinja does (trim_blocks and lstrip_blocks on, as
 * transformers' apply_chat_template sets them). Internal API. */
#ifndef VKA_JINJA_H
#define VKA_JINJA_H

#include <stddef.h>

#include "vkagent.h"

typedef struct vka_jinja_template vka_jinja_template;

/* Bounds on one render, so that a hostile template (templates are data
 * from a model file) cannot run away. Zero fields mean the defaults. */
typedef struct vka_jinja_limits {
    size_t max_memory;     /* bytes allocated for values during one render (default 64 MiB) */
    size_t max_output;     /* bytes of rendered text (default 16 MiB) */
    size_t max_steps;      /* statements, loop iterations and calls executed (default 2,000,000) */
    unsigned max_depth;    /* nesting of expressions, blocks and macro calls (default 200) */
} vka_jinja_limits;

/* Parses `len` bytes of template text. Errors: VKA_ERR_FORMAT with the
 * line number ("template line 3: ..."); VKA_ERR_OUT_OF_MEMORY. */
vka_status vka_jinja_parse(const char *text, size_t len, vka_jinja_template **out);

void vka_jinja_free(vka_jinja_template *tmpl);

/* Renders with the variables of `context_json`, a JSON object (NULL: none).
 * `limits` NULL means the defaults. *out is malloc'ed and NUL-terminated
 * (the text itself may contain NUL bytes when the template or the context
 * does; *out_len, when not NULL, gets its length). Errors:
 * VKA_ERR_INVALID_ARGUMENT when the template called raise_exception (the
 * message is "template raised: " and its text — the template rejects this
 * input), VKA_ERR_FORMAT for any other error while rendering (with the
 * line), VKA_ERR_UNSUPPORTED when a limit is reached. */
vka_status vka_jinja_render(const vka_jinja_template *tmpl, const char *context_json, const vka_jinja_limits *limits,
                            char **out, size_t *out_len);

#endif
