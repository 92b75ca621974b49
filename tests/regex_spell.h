/* regex_spell.h — one code point written as JSON string text in a spelling
 * picked by `choice` (a random number): raw when allowed, a short escape, or
 * \uXXXX (a surrogate pair above U+FFFF) in lower or upper case. Shared by
 * test_regex.c and regex_probe.c to feed JSON-spelled grammars. */
#ifndef VKA_TEST_REGEX_SPELL_H
#define VKA_TEST_REGEX_SPELL_H

#include <string.h>

#include "structured/json_rules.h"
#include "base/utf8.h"

static inline void regex_spell(uint32_t c, unsigned choice, js_buf *b) {
    static const char shorts[] = "\"\\/\b\f\n\r\t", letters[] = "\"\\/bfnrt";
    const char *sh = c && c < 128 ? strchr(shorts, (int)c) : NULL;
    bool must_escape = c < 0x20 || c == '"' || c == '\\';
    unsigned way = choice % 4;
    if (sh && (must_escape || way == 0)) {
        js_printf(b, "\\%c", letters[sh - shorts]);
    } else if (!must_escape && way < 2) {
        char u[4];
        js_put(b, u, vka_utf8_encode(c, u));
    } else {
        const char *fmt = (choice >> 2) % 2 ? "\\u%04x" : "\\u%04X";
        if (c < 0x10000) {
            js_printf(b, fmt, c);
        } else {
            js_printf(b, fmt, 0xD800 + ((c - 0x10000) >> 10));
            js_printf(b, fmt, 0xDC00 + ((c - 0x10000) & 0x3FF));
        }
    }
}

#endif
