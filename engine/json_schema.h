/* json_schema.h — JSON Schema (a documented subset) to GBNF, and a fixed
 * grammar for any JSON value. See docs/structured-output.md. */
#ifndef VKA_JSON_SCHEMA_H
#define VKA_JSON_SCHEMA_H

#include "vkagent.h"

/* Where the generated grammars allow whitespace. */
typedef enum vka_json_ws {
    VKA_JSON_WS_COMPACT = 0,    /* none: {"a":1,"b":[1,2]} */
    VKA_JSON_WS_SPACED = 1,     /* one optional space after { [ , : and before } ]: { "a": 1, "b": [1, 2] } */
} vka_json_ws;

/* Converts a JSON Schema (text) to GBNF with start rule "root", compact
 * whitespace. *gbnf_out is malloc'ed (free with free/vka_free). Unsupported
 * keywords and invalid schemas are VKA_ERR_GRAMMAR naming the keyword and its
 * JSON pointer ("#/properties/name/pattern"). */
vka_status vka_json_schema_to_gbnf(const char *schema_json, char **gbnf_out);
vka_status vka_json_schema_to_gbnf_ws(const char *schema_json, vka_json_ws ws, char **gbnf_out);

/* GBNF for any JSON value (recursive, no depth bound), start rule "root". */
const char *vka_json_any_gbnf(void);
const char *vka_json_any_gbnf_ws(vka_json_ws ws);

#endif
