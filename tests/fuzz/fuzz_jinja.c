/* fuzz_jinja.c — the Jinja interpreter on hostile templates: the input up to
 * its first NUL is a template, the rest (when there is a NUL) the JSON
 * context it renders with. Parsing and rendering must end (within the
 * sandbox's limits, set small here) with text or with a message, never a
 * crash, a leak or a hang. */
#include <stdlib.h>
#include <string.h>

#include "text/jinja.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *nul = memchr(data, 0, size);
    size_t tmpl_len = nul ? (size_t)(nul - data) : size;
    char *context = nul ? fuzz_strndup(nul + 1, size - tmpl_len - 1) : NULL;
    vka_jinja_template *t = NULL;
    if (vka_jinja_parse((const char *)data, tmpl_len, &t) == VKA_OK) {
        FUZZ_CHECK(t != NULL, "a parsed template");
        vka_jinja_limits limits = {.max_memory = 8u << 20, .max_output = 1u << 20, .max_steps = 200000,
                                   .max_depth = 100};
        char *out = NULL;
        size_t len = 0;
        if (vka_jinja_render(t, context ? context : "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}",
                             &limits, &out, &len) == VKA_OK) {
            FUZZ_CHECK(out != NULL && out[len] == '\0', "rendered text is NUL-terminated");
            FUZZ_CHECK(len <= limits.max_output, "output within its limit (%zu bytes)", len);
        } else {
            FUZZ_CHECK(out == NULL && vka_last_error()[0], "a failed render leaves no text and says why");
        }
        free(out);
        vka_jinja_free(t);
    } else {
        FUZZ_CHECK(t == NULL && vka_last_error()[0], "a failed parse says why");
    }
    free(context);
    return 0;
}
