/* number_syntax.h — JSON's number syntax, written independently of the
 * grammars under test, for test_json_number.c and number_probe.c. */
#ifndef VKA_NUMBER_SYNTAX_H
#define VKA_NUMBER_SYNTAX_H

#include <stdbool.h>

/* -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][-+]?[0-9]+)? over the whole string. */
static inline bool json_number_syntax(const char *s) {
    if (*s == '-') s++;
    if (*s == '0') s++;
    else if (*s >= '1' && *s <= '9') while (*s >= '0' && *s <= '9') s++;
    else return false;
    if (*s == '.') {
        if (!(*++s >= '0' && *s <= '9')) return false;
        while (*s >= '0' && *s <= '9') s++;
    }
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-') s++;
        if (!(*s >= '0' && *s <= '9')) return false;
        while (*s >= '0' && *s <= '9') s++;
    }
    return *s == 0;
}

#endif
