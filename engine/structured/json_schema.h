/* json_schema.h — JSON Schema (draft 2020-12) to GBNF, internal entry points.
 * The public one is vka_json_schema_to_grammar (vkagent.h); the semantics are
 * in docs/structured-output.md. */
#ifndef VKA_JSON_SCHEMA_H
#define VKA_JSON_SCHEMA_H

#include "vkagent.h"

/* Where the generated grammars allow whitespace. */
typedef enum vka_json_ws {
    VKA_JSON_WS_COMPACT = 0,    /* none: {"a":1,"b":[1,2]} */
    VKA_JSON_WS_SPACED = 1,     /* one optional space after { [ , : and before } ]: { "a": 1, "b": [1, 2] } */
    VKA_JSON_WS_FLEXIBLE = 2,   /* any JSON whitespace between tokens (VKA_JSON_SCHEMA_FLEXIBLE_WS) */
} vka_json_ws;

/* An internal flag beside the public VKA_JSON_SCHEMA_* ones: the spaced layout. */
#define VKA_JSON_SCHEMA_SPACED_WS_INTERNAL (1u << 31)

/* vka_json_schema_to_grammar with the internal flags too. */
vka_status vka_json_schema_convert(const char *schema_json, uint32_t flags, char **gbnf_out, char **warnings_out);

/* Compact (or the given) whitespace, no options; start rule "root". */
vka_status vka_json_schema_to_gbnf(const char *schema_json, char **gbnf_out);
vka_status vka_json_schema_to_gbnf_ws(const char *schema_json, vka_json_ws ws, char **gbnf_out);

/* GBNF for any JSON value (the schema `true`), start rule "root"; made once,
 * owned by the library. NULL only when out of memory. */
const char *vka_json_any_gbnf(void);
const char *vka_json_any_gbnf_ws(vka_json_ws ws);

#endif
