/* regex_formats.c — the string formats ajv-formats (3.0.1, "full" mode)
 * validates, as regular languages: built from internal patterns that state
 * each format's grammar (RFC 3339 dates and times with days per month and
 * leap years, RFC 3986 URIs, RFC 4291 IPv6 text forms, ...) the way
 * ajv-formats decides it, case-insensitively where it uses the "i" flag.
 *
 * Departures (stricter than ajv, never looser):
 *  - time, date-time, iso-time, iso-date-time: a leap second (second 60) is
 *    accepted only at 23:59 with a zero offset (Z, +00, -00:00, ...; or no
 *    offset for the iso- forms). ajv also accepts it at any local time that
 *    its offset arithmetic maps to 23:59 UTC (e.g. 15:59:60-08:00, or even
 *    24:59:60+01:00).
 *    ajv's arithmetic even accepts any second below 61 at local times outside
 *    00:00-23:59 that map to 23:59 UTC (e.g. 24:59:30+01:00): refused here.
 *  - seconds 59 and 60 with a fraction that begins with fourteen 9s
 *    (59.99999999999999...) are refused: ajv's decision there depends on how
 *    the decimal rounds to a double.
 *  - hostname: at most 63 characters (and an optional final dot), where ajv
 *    allows 253 with labels of at most 63: the exact language needs a DFA of
 *    about 24,000 states (total length times position in the label), far too
 *    large a grammar for one format; within 63 characters the label limit
 *    holds by itself.
 *  - "regex" (any ECMA-262 pattern) is not a regular language: unknown here,
 *    though validated (the converter refuses it). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "structured/regex_impl.h"

/* ---------------------------------------------------------------- pieces of grammar */

#define DIGIT "[0-9]"
#define HEX "[0-9a-f]" /* with case-insensitive syntax */
#define PCT "%" HEX HEX
/* decimal octet 0..255 without leading zeros, and the lax form (leading zeros, ajv's URI) */
#define OCTET "(?:25[0-5]|2[0-4]" DIGIT "|1" DIGIT DIGIT "|[1-9]?" DIGIT ")"
#define OCTET_LAX "(?:25[0-5]|2[0-4]" DIGIT "|[01]" DIGIT DIGIT "|" DIGIT DIGIT "?)"
#define IPV4(o) o "(?:\\." o "){3}"

/* RFC 3339 */
#define YEAR DIGIT "{4}"
#define LEAP_YEAR "(?:" DIGIT "{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)"
#define DATE                                                                                        \
    "(?:" YEAR "-(?:0[13578]|1[02])-(?:0[1-9]|[12]" DIGIT "|3[01])"                                 \
    "|" YEAR "-(?:0[469]|11)-(?:0[1-9]|[12]" DIGIT "|30)"                                           \
    "|" YEAR "-02-(?:0[1-9]|1" DIGIT "|2[0-8])"                                                     \
    "|" LEAP_YEAR "-02-29)"
#define FRACTION "(?:\\." DIGIT "+)?"
#define FRACTION_SAFE "(?:\\.(?!9{14})" DIGIT "+)?" /* see the departures above */
#define SECOND "(?:(?:[0-5][0-8]|[0-4]9)" FRACTION "|59" FRACTION_SAFE ")"
#define CLOCK "(?:[01]" DIGIT "|2[0-3]):[0-5]" DIGIT ":" SECOND
#define LEAP_CLOCK "23:59:60" FRACTION_SAFE
#define OFFSET "(?:z|[+-](?:[01]" DIGIT "|2[0-3])(?::?[0-5]" DIGIT ")?)"
#define ZERO_OFFSET "(?:z|[+-]00(?::?00)?)"
#define TIME "(?:" CLOCK OFFSET "|" LEAP_CLOCK ZERO_OFFSET ")"
#define ISO_TIME "(?:" CLOCK OFFSET "?|" LEAP_CLOCK ZERO_OFFSET "?)"
/* date and time are split at one 't' or white space character */
#define DATE_TIME_SEP "[t\\s]"

/* RFC 3339 appendix A, as ajv's duration: P, then a date part and/or a time part, or weeks */
#define DURATION_DATE "(?:" DIGIT "+Y(?:" DIGIT "+M)?(?:" DIGIT "+D)?|" DIGIT "+M(?:" DIGIT "+D)?|" DIGIT "+D)"
#define DURATION_TIME "T(?:" DIGIT "+H(?:" DIGIT "+M)?(?:" DIGIT "+S)?|" DIGIT "+M(?:" DIGIT "+S)?|" DIGIT "+S)"
#define DURATION "P(?:" DURATION_DATE "(?:" DURATION_TIME ")?|" DURATION_TIME "|" DIGIT "+W)"

/* email and hostname (ajv's: dot-atom local part, LDH labels) */
#define ATEXT "[a-z0-9!#$%&'*+/=?^_`{|}~-]"
#define LDH_LABEL "[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
#define EMAIL ATEXT "+(?:\\." ATEXT "+)*@(?:" LDH_LABEL "\\.)+" LDH_LABEL
#define HOSTNAME "(?=.{1,63}\\.?$)" LDH_LABEL "(?:\\." LDH_LABEL ")*\\.?"

#define UUID "(?:urn:uuid:)?" HEX "{8}-(?:" HEX "{4}-){3}" HEX "{12}"

/* RFC 6901 and the relative JSON pointer draft */
#define POINTER "(?:/(?:[^~/]|~0|~1)*)*"
#define POINTER_FRAGMENT "#(?:/(?:[a-z0-9_\\-.!$&'()*+,;:=@]|" PCT "|~0|~1)*)*"
#define RELATIVE_POINTER "(?:0|[1-9]" DIGIT "*)(?:#|" POINTER ")"

/* RFC 6570 level 4 templates, as ajv checks them */
#define VARCHAR "(?:[a-z0-9_]|" PCT ")"
#define VARSPEC VARCHAR "+(?::[1-9]" DIGIT "{0,3}|\\*)?"
#define TEMPLATE                                                                           \
    "(?:[^\\x00-\\x20\"'<>%\\\\^`{|}]|" PCT "|\\{[+#./;?&=,!@|]?" VARSPEC "(?:," VARSPEC ")*\\})*"

/* base64 lines: ajv tests its pattern with the "m" flag and no anchoring,
 * so a string is a "byte" string when some line of it is base64 */
#define LINE_END "[\\n\\r\\u2028\\u2029]"
#define BASE64 "(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?"
#define BYTE "(?:^|" LINE_END ")" BASE64 "(?:$|" LINE_END ")"

/* the URL pattern of ajv (dperini's): http(s)/ftp, public IPv4 or domain
 * with a top-level label of letters, optional port and path; "iu" flags */
#define URL_CHAR "[a-z0-9\\u00a1-\\uffff]"
#define URL_IP                                                                                          \
    "(?!(?:10|127)(?:\\.\\d{1,3}){3})(?!(?:169\\.254|192\\.168)(?:\\.\\d{1,3}){2})"                     \
    "(?!172\\.(?:1[6-9]|2\\d|3[01])(?:\\.\\d{1,3}){2})"                                                 \
    "(?:[1-9]\\d?|1\\d\\d|2[01]\\d|22[0-3])(?:\\.(?:1?\\d{1,2}|2[0-4]\\d|25[0-5])){2}"                  \
    "\\.(?:[1-9]\\d?|1\\d\\d|2[0-4]\\d|25[0-4])"
#define URL_LABEL "(?:" URL_CHAR "+-)*" URL_CHAR "+"
#define URL_HOST URL_LABEL "(?:\\." URL_LABEL ")*\\.[a-z\\u00a1-\\uffff]{2,}"
#define URL "(?:https?|ftp)://(?:\\S+@)?(?:" URL_IP "|" URL_HOST ")(?::\\d{2,5})?(?:/\\S*)?"

/* ---------------------------------------------------------------- generated patterns */

/* IPv6 text forms (RFC 4291 2.2, as RFC 3986 writes them): eight groups,
 * or "::" standing for one group or more between a head and a tail of at
 * most seven groups together, where an IPv4 address counts as two at the end. */
static bool put_ipv6(js_buf *b, const char *octet) {
    const char *h = HEX "{1,4}";
    js_printf(b, "(?:(?:%s:){6}(?:%s:%s|" IPV4("%s") ")", h, h, h, octet, octet);
    for (int head = 0; head <= 7; head++) {
        js_puts(b, "|");
        if (head == 1) js_puts(b, h);
        if (head > 1) js_printf(b, "(?:%s:){%d}%s", h, head - 1, h);
        js_puts(b, "::(?:");
        for (int tail = 0; tail <= 7 - head; tail++) {
            if (tail > 0) js_puts(b, "|");
            if (tail == 1) js_puts(b, h);
            if (tail > 1) js_printf(b, "(?:%s:){%d}(?:%s:%s|" IPV4("%s") ")", h, tail - 2, h, h, octet, octet);
        }
        js_puts(b, ")");
    }
    return js_puts(b, ")");
}

/* RFC 3986 URIs and references as ajv's patterns decide them: a scheme
 * (optional for references), then "//" or a single "/" before an authority
 * (ajv's quirk), an absolute path, or a rootless path (references: also
 * nothing), then query and fragment. References also allow '"' in host
 * names, paths, queries and fragments. */
static bool put_uri(js_buf *b, bool reference) {
    const char *q = reference ? "\"" : "";
    /* (the percent-encoding PCT goes in as an argument: it holds a '%') */
    char sub[64], pchar[96], qchar[96];
    snprintf(sub, sizeof sub, "(?:[a-z0-9\\-._~!$&'%s()*+,;=]|%s)", q, PCT);
    snprintf(pchar, sizeof pchar, "(?:[a-z0-9\\-._~!$&'%s()*+,;=:@]|%s)", q, PCT);
    snprintf(qchar, sizeof qchar, "(?:[a-z0-9\\-._~!$&'%s()*+,;=:@/?]|%s)", q, PCT);
    js_printf(b, "^(?:[a-z][a-z0-9+\\-.]*:)%s(?:", reference ? "?" : "");
    /* authority: userinfo, host (IP literal, IPv4, registered name), port; then path-abempty */
    js_printf(b, "/?/(?:(?:[a-z0-9\\-._~!$&'()*+,;=:]|%s)*@)?(?:\\[(?:", PCT);
    put_ipv6(b, OCTET_LAX);
    js_puts(b, "|v" HEX "+\\.[a-z0-9\\-._~!$&'()*+,;=:]+)\\]|" IPV4(OCTET_LAX) "|");
    js_printf(b, "%s*)(?::" DIGIT "*)?(?:/%s*)*", sub, pchar);
    /* path-absolute, path-rootless */
    js_printf(b, "|/(?:%s+(?:/%s*)*)?|%s+(?:/%s*)*)%s", pchar, pchar, pchar, pchar, reference ? "?" : "");
    js_printf(b, "(?:\\?%s*)?(?:#%s*)?$", qchar, qchar);
    return !b->failed;
}

/* ---------------------------------------------------------------- the table */

typedef enum kind { K_PATTERN, K_UNANCHORED, K_IPV6, K_URI, K_URI_REF, K_ALL, K_NUMBER, K_NOT_REGULAR } kind;

static const struct format {
    const char *name;
    kind kind;
    re_case ci;
    const char *pattern;   /* anchored with ^(?: )$ unless K_UNANCHORED */
} formats[] = {
    {"date", K_PATTERN, RE_CASE_EXACT, DATE},
    {"time", K_PATTERN, RE_CASE_ASCII, TIME},
    {"date-time", K_PATTERN, RE_CASE_ASCII, DATE DATE_TIME_SEP TIME},
    {"iso-time", K_PATTERN, RE_CASE_ASCII, ISO_TIME},
    {"iso-date-time", K_PATTERN, RE_CASE_ASCII, DATE DATE_TIME_SEP ISO_TIME},
    {"duration", K_PATTERN, RE_CASE_EXACT, DURATION},
    {"uri", K_URI, RE_CASE_ASCII, NULL},
    {"uri-reference", K_URI_REF, RE_CASE_ASCII, NULL},
    {"uri-template", K_PATTERN, RE_CASE_ASCII, TEMPLATE},
    {"url", K_PATTERN, RE_CASE_UNICODE, URL},
    {"email", K_PATTERN, RE_CASE_ASCII, EMAIL},
    {"hostname", K_PATTERN, RE_CASE_ASCII, HOSTNAME},
    {"ipv4", K_PATTERN, RE_CASE_EXACT, IPV4(OCTET)},
    {"ipv6", K_IPV6, RE_CASE_ASCII, NULL},
    {"regex", K_NOT_REGULAR, RE_CASE_EXACT, NULL},
    {"uuid", K_PATTERN, RE_CASE_ASCII, UUID},
    {"json-pointer", K_PATTERN, RE_CASE_EXACT, POINTER},
    {"json-pointer-uri-fragment", K_PATTERN, RE_CASE_ASCII, POINTER_FRAGMENT},
    {"relative-json-pointer", K_PATTERN, RE_CASE_EXACT, RELATIVE_POINTER},
    {"byte", K_UNANCHORED, RE_CASE_EXACT, BYTE},
    {"int32", K_NUMBER, RE_CASE_EXACT, NULL},
    {"int64", K_NUMBER, RE_CASE_EXACT, NULL},
    {"float", K_NUMBER, RE_CASE_EXACT, NULL},
    {"double", K_NUMBER, RE_CASE_EXACT, NULL},
    {"password", K_ALL, RE_CASE_EXACT, NULL},
    {"binary", K_ALL, RE_CASE_EXACT, NULL},
};

static const struct format *find(const char *name) {
    for (size_t i = 0; name && i < sizeof formats / sizeof *formats; i++)
        if (strcmp(formats[i].name, name) == 0) return &formats[i];
    return NULL;
}

bool re_format_is_validated(const char *format) { return find(format) != NULL; }

/* The format's language, built from its pattern. */
static vka_status build(const struct format *f, re_lang **out) {
    if (f->kind == K_ALL) return re_all(out);
    js_buf p = {0};
    if (f->kind == K_IPV6) {
        js_puts(&p, "^");
        put_ipv6(&p, OCTET);
        js_puts(&p, "$");
    } else if (f->kind == K_URI || f->kind == K_URI_REF) {
        put_uri(&p, f->kind == K_URI_REF);
    } else if (f->kind == K_UNANCHORED) {
        js_puts(&p, f->pattern);
    } else {
        js_printf(&p, "^(?:%s)$", f->pattern);
    }
    vka_status s = p.failed ? vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory") : re_pattern_lang(p.data, f->ci, out);
    js_buf_free(&p);
    return s;
}

/* Built once per process (some take milliseconds) and shared: languages
 * are immutable and their DFAs reference-counted atomically. */
static re_lang *cache[sizeof formats / sizeof *formats];
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;

vka_status re_from_format(const char *format, bool *known, re_lang **out) {
    if (!format || !known || !out) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "re_from_format: NULL argument");
    *out = NULL;
    const struct format *f = find(format);
    *known = f && f->kind != K_NUMBER && f->kind != K_NOT_REGULAR;
    if (!*known) return VKA_OK;
    size_t i = (size_t)(f - formats);
    pthread_mutex_lock(&cache_lock);
    vka_status s = cache[i] ? VKA_OK : build(f, &cache[i]);
    if (s == VKA_OK) s = re_lang_copy(cache[i], out);
    pthread_mutex_unlock(&cache_lock);
    if (s != VKA_OK) return vka_fail_context(s, "format '%s'", format);
    return VKA_OK;
}
