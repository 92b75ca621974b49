/* chat.h — chat templates: turning an OpenAI-style message list (and tools)
 * into the prompt text a model was trained on. Internal; the public entry
 * point is vka_chat_apply_template() in vkagent.h. Rules of each family are
 * written at the top of chat.c and in docs/chat-templates.md. */
#ifndef VKA_CHAT_H
#define VKA_CHAT_H

#include <stdbool.h>
#include <stddef.h>

#include "vkagent.h"

/* One message. Strings are UTF-8 and NUL-terminated; NULL means absent. */
typedef struct vka_chat_message {
    const char *role;              /* "system", "user", "assistant", "tool" (or "ipython") */
    const char *content;           /* NULL: none (an assistant turn that only calls tools) */
    const char *tool_calls_json;   /* assistant: JSON array of tool calls, each
                                    * {"function": {"name": s, "arguments": s|object}}
                                    * (OpenAI) or {"name", "arguments"} directly */
    const char *name;              /* accepted, rendered by no family */
    const char *tool_call_id;      /* tool: the id of the call answered; rendered by no family */
    const char *reasoning_content; /* assistant: its thinking (Qwen3 renders it in <think>) */
} vka_chat_message;

/* The families (the layouts rendered by C code, see chat.c). Values are
 * internal and may change; use the names for anything stored. */
typedef enum vka_chat_family {
    VKA_CHAT_CHATML = 0,   /* "chatml": <|im_start|>role ... <|im_end|> (Qwen2, Qwen2.5), Hermes-style tools */
    VKA_CHAT_QWEN3,        /* "qwen3": ChatML plus Qwen3's <think> handling */
    VKA_CHAT_LLAMA3,       /* "llama3": Llama-3.0 header ids, no tool section */
    VKA_CHAT_LLAMA31,      /* "llama3.1": Llama-3.1/3.2/3.3 system header, JSON tool calls, ipython results */
    VKA_CHAT_LLAMA2,       /* "llama2": [INST] with <<SYS>> folded into the first user turn */
    VKA_CHAT_MISTRAL,      /* "mistral": [INST] ... [/INST] without <<SYS>> (Mistral Instruct v0.1/v0.2) */
    VKA_CHAT_MISTRAL_V3,   /* "mistral-v3": [INST] ...[/INST], system before the last user turn (v0.3 layout, no tools) */
    VKA_CHAT_ZEPHYR,       /* "zephyr": <|user|>\n ... </s>\n */
    VKA_CHAT_GEMMA,        /* "gemma": <start_of_turn>user / model, system folded into the first user turn */
    VKA_CHAT_PHI3,         /* "phi3": <|user|>\n ... <|end|>\n */
    VKA_CHAT_FAMILY_COUNT
} vka_chat_family;

/* The family a template belongs to, recognised by distinctive substrings.
 * NULL, "" or an unrecognised template give VKA_CHAT_CHATML with
 * *recognised = false (the documented fallback). `recognised` may be NULL. */
vka_chat_family vka_chat_detect(const char *template_text, bool *recognised);

/* The override name of a family ("chatml", "llama3.1", ...). */
const char *vka_chat_family_name(vka_chat_family family);

/* Looks up an override name (case-insensitive); VKA_ERR_NOT_FOUND with the
 * list of known names when there is no such family. */
vka_status vka_chat_family_from_name(const char *name, vka_chat_family *family);

typedef struct vka_chat_render_params {
    const char *template_text;  /* the model's tokenizer.chat_template, or NULL */
    const char *family;         /* override name; NULL: detect from template_text */
    const char *tools_json;     /* OpenAI "tools" array as JSON text, or NULL */
    bool add_generation_prompt; /* end with the header of an assistant turn */
    bool enable_thinking;       /* false: Qwen3's enable_thinking=false (an empty <think> block
                                 * after the generation prompt); other families ignore it */
    const char *bos_text;       /* text of the BOS token; NULL: the family's usual one, "": none */
    const char *eos_text;       /* text of the EOS token; NULL: the family's usual one, "": none */
} vka_chat_render_params;

/* Defaults: no template, no override, no tools, add_generation_prompt and
 * enable_thinking true, BOS/EOS NULL. */
void vka_chat_render_params_init(vka_chat_render_params *params);

/* Renders `n` messages into prompt text (malloc'ed, NUL-terminated; free
 * with free()/vka_free). Errors: VKA_ERR_INVALID_ARGUMENT for NULL
 * arguments, a message without a role or with roles out of the order its
 * family requires; VKA_ERR_FORMAT for malformed tools/tool-calls JSON;
 * VKA_ERR_NOT_FOUND for an unknown family name; VKA_ERR_UNSUPPORTED for
 * tool messages or tool calls given to a family without a tool convention. */
vka_status vka_chat_render(const vka_chat_render_params *params, const vka_chat_message *msgs, size_t n,
                           char **out);

/* Parses an OpenAI "messages" JSON array. Each element must be an object
 * with a string "role"; "content" may be a string, null/absent (assistant
 * only) or an array of {"type": "text", "text": s} parts (joined without
 * separator); "tool_calls" must be an array (kept as JSON text);
 * "name", "tool_call_id" and "reasoning_content" must be strings when
 * present. On success *msgs holds *n messages, freed with
 * vka_chat_messages_free. Errors are VKA_ERR_FORMAT naming the message
 * index and key. */
vka_status vka_chat_messages_from_json(const char *json, vka_chat_message **msgs, size_t *n);

void vka_chat_messages_free(vka_chat_message *msgs, size_t n);

/* ---- Jinja templates (chat_jinja.c) ---- */

/* What a Jinja chat template is rendered with: messages (a JSON array),
 * tools (a JSON array or NULL, which the template sees as none),
 * add_generation_prompt, and the members of variables_json (an object, or
 * NULL), which may not redefine the others. */
typedef struct vka_chat_template_context {
    const char *template_text;
    const char *messages_json;
    const char *tools_json;
    bool add_generation_prompt;
    const char *variables_json;
} vka_chat_template_context;

/* Parses and renders the template (see vka_chat_template_render). */
vka_status vka_chat_jinja_render(const vka_chat_template_context *c, char **out);

/* Sets the thread's vka_chat_template_warning() text (NULL or "": none). */
void vka_chat_set_template_warning(const char *text);

/* ---- text and JSON helpers shared by chat.c and chat_json.c ---- */

/* A growing NUL-terminated string; the first failed allocation is sticky
 * (oom), so that rendering code can append freely and check once. */
typedef struct vka_chat_buf {
    char *data;
    size_t len;
    size_t cap;
    bool oom;
} vka_chat_buf;

void vka_chat_buf_append(vka_chat_buf *buf, const char *text, size_t len);
void vka_chat_buf_puts(vka_chat_buf *buf, const char *text);

/* Serialises a cJSON tree the way the templates' `tojson` filter does
 * (Python json.dumps with ensure_ascii=False, as transformers and
 * @huggingface/jinja both do): separators ", " and ": " (or "," and ": "
 * with indent > 0, one item per line), keys in their original order,
 * non-ASCII UTF-8 kept as it is, control characters escaped. Numbers are
 * written as JavaScript writes them (the shortest decimal that reads back
 * to the same double; integral values without a fraction), since the JSON
 * was parsed into doubles. `item` is a const cJSON *; void to keep cJSON
 * out of this header. */
void vka_chat_tojson(vka_chat_buf *buf, const void *item, int indent);

/* Appends `v` as JavaScript's Number.prototype.toString writes it (and
 * JSON.stringify, which writes "null" for NaN and infinities). */
void vka_chat_js_number(vka_chat_buf *buf, double v);

/* Appends `text` as a JSON string literal (quoted and escaped as above). */
void vka_chat_tojson_string(vka_chat_buf *buf, const char *text, size_t len);

#endif
