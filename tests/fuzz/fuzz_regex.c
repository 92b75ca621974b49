/* fuzz_regex.c — the regular-expression compiler (JSON Schema `pattern`)
 * over arbitrary text: the pattern is the input up to its first NUL, and
 * the NUL-separated pieces after it are strings to test. Invariants: a
 * string of valid UTF-8 is in the language or in its complement, never both
 * (invalid UTF-8 is in neither); the language and its complement do not
 * intersect; a language that contains a string is not empty. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "structured/regex.h"
#include "base/utf8.h"


static void check_string(const re_lang *l, const re_lang *not_l, const char *s, size_t len) {
    bool in = re_contains(l, s, len), out = re_contains(not_l, s, len);
    if (vka_utf8_valid_prefix(s, len) == len) FUZZ_CHECK(in != out, "a string in %s the language and its complement", in ? "both" : "neither");
    else FUZZ_CHECK(!in && !out, "invalid UTF-8 in a language");
    if (in) FUZZ_CHECK(!re_is_empty(l), "an empty language contains a string");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *nul = memchr(data, 0, size);
    size_t pat_len = nul ? (size_t)(nul - data) : size;
    char *pattern = fuzz_strndup(data, pat_len);
    re_lang *l = NULL;
    if (re_from_pattern(pattern, &l) != VKA_OK) {
        FUZZ_CHECK(l == NULL && vka_last_error()[0], "a refused pattern leaves no language and says why");
        free(pattern);
        return 0;
    }
    re_lang *not_l = NULL, *both = NULL;
    if (re_complement(l, &not_l) == VKA_OK) {
        if (re_intersect(l, not_l, &both) == VKA_OK)
            FUZZ_CHECK(re_is_empty(both), "a language intersects its complement");
        check_string(l, not_l, "", 0);
        for (const uint8_t *p = nul ? nul + 1 : data + size; p < data + size;) {
            const uint8_t *end = memchr(p, 0, (size_t)(data + size - p));
            size_t len = end ? (size_t)(end - p) : (size_t)(data + size - p);
            check_string(l, not_l, (const char *)p, len);
            p += len + 1;
        }
    }
    re_free(both);
    re_free(not_l);
    re_free(l);
    free(pattern);
    return 0;
}
