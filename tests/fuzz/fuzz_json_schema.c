/* fuzz_json_schema.c — the JSON Schema converter over arbitrary text, with
 * its option flags from the first byte. A schema it converts must give a
 * grammar the GBNF parser accepts (it is what the sampler will load). */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "structured/grammar.h"
#include "vkagent.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    uint32_t flags = data[0] & (VKA_JSON_SCHEMA_STRICT | VKA_JSON_SCHEMA_LENIENT | VKA_JSON_SCHEMA_FLEXIBLE_WS |
                                VKA_JSON_SCHEMA_ONEOF_AS_ANYOF);
    char *schema = fuzz_strndup(data + 1, size - 1);
    char *gbnf = NULL, *warnings = NULL;
    vka_status s = vka_json_schema_to_grammar(schema, flags, &gbnf, &warnings);
    if (s == VKA_OK) {
        FUZZ_CHECK(gbnf != NULL, "no grammar");
        vka_grammar *g = NULL;
        vka_status ps = vka_grammar_parse(gbnf, NULL, &g);
        /* Limits of the matcher (states, repetitions) are errors the user
         * sees; anything else means the converter wrote invalid GBNF. */
        const char *e = vka_last_error();
        FUZZ_CHECK(ps == VKA_OK || ps == VKA_ERR_OUT_OF_MEMORY || strstr(e, "limit") || strstr(e, "too ") ||
                       strstr(e, "deeper than"),
                   "the converted grammar does not parse: %s\n--- grammar ---\n%s", vka_last_error(), gbnf);
        vka_grammar_free(g);
    } else {
        FUZZ_CHECK(gbnf == NULL && vka_last_error()[0], "a failed conversion leaves no grammar and says why");
    }
    vka_free(gbnf);
    vka_free(warnings);
    free(schema);
    return 0;
}
