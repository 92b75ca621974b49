/* tool_calls.h — what the tool-call reader (tool_calls.c) and the tool-call
 * grammar (structured/tool_grammar*.c) must decide alike. */
#ifndef VKA_TOOL_CALLS_H
#define VKA_TOOL_CALLS_H

#include <cjson/cJSON.h>
#include <stdbool.h>

/* Whether a parameter with this JSON schema is written as raw text in the
 * XML-like call formats (Qwen3-Coder <parameter=P>, GLM <arg_value>): the
 * templates write strings as they are and every other value with tojson, so
 * a parameter whose schema admits only strings ("type": "string", or an
 * enum/const of strings alone) is text, anything else is JSON. */
bool vka_tool_param_is_text(const cJSON *schema);

/* The "properties" object of the function named `name` (of length
 * `name_len`) among OpenAI `tools` (an array), or NULL. */
const cJSON *vka_tool_properties(const cJSON *tools, const char *name, size_t name_len);

#endif
