/* tool_grammar.h — the parts of vka_tool_calls_grammar shared by its JSON
 * formats (tool_grammar.c) and its XML-like ones (tool_grammar_xml.c). */
#ifndef VKA_TOOL_GRAMMAR_H
#define VKA_TOOL_GRAMMAR_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "vkagent.h"

/* A GBNF string literal of `text`. */
void vka_tool_grammar_literal(FILE *f, const char *text);

/* Converts the JSON schema `schema` (consumed) with `schema_flags` and
 * writes its rules with every name prefixed by `prefix` (its start rule is
 * then "<prefix>root"). */
vka_status vka_tool_grammar_schema(FILE *f, cJSON *schema, uint32_t schema_flags, const char *prefix);

/* The "calls" rule (and its helpers) of QWEN3_CODER or GLM calls to `tools`
 * (a validated array of OpenAI tools): one call, or several with `parallel`. */
vka_status vka_tool_grammar_xml_calls(FILE *f, const cJSON *tools, vka_tool_format format, bool parallel,
                                      uint32_t schema_flags);

#endif
