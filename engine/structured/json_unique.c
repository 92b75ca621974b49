/* json_unique.c — "# vka:unique" annotations read from a GBNF text, and the
 * canonical form of JSON values under JSON Schema equality (the scanner that
 * applies them to output is json_unique_scan.c). */
#include <stdlib.h>
#include <string.h>

#include "structured/json_unique_impl.h"
#include "structured/json_rules.h"
#include "base/status.h"

#define ANNOTATION "# vka:unique"
/* Indices above 2^53 cannot be told apart as doubles (JSON.parse's view). */
#define MAX_INDEX 9007199254740992.0

/* ---------------------------------------------------------------- buffers */

bool ju_buf_reserve(ju_buf *b, size_t extra) {
    if (extra <= b->cap - b->len) return true;
    if (extra > SIZE_MAX / 4 - b->len) return false;
    size_t cap = b->cap ? b->cap : 64;
    while (cap - b->len < extra) cap *= 2;
    unsigned char *d = realloc(b->data, cap);
    if (!d) return false;
    b->data = d;
    b->cap = cap;
    return true;
}

static bool put_byte(ju_buf *b, unsigned char c) {
    if (!ju_buf_reserve(b, 1)) return false;
    b->data[b->len++] = c;
    return true;
}

void ju_buf_free(ju_buf *b) {
    free(b->data);
    *b = (ju_buf){0};
}

void ju_canon_scratch_free(ju_canon_scratch *s) {
    free(s->frames);
    free(s->members);
    free(s->order);
    ju_buf_free(&s->sorted);
    *s = (ju_canon_scratch){0};
}

/* ---------------------------------------------------------------- strings */

/* A string byte, with 0 and 1 escaped so that 0 can end the string. */
static bool put_string_byte(ju_buf *b, unsigned char c) {
    if (c > 1) return put_byte(b, c);
    return put_byte(b, 1) && put_byte(b, (unsigned char)(c + 1));
}

/* UTF-8 of cp, surrogates included (WTF-8: a lone surrogate keeps its own form). */
static bool put_code_point(ju_buf *b, uint32_t cp) {
    if (cp < 0x80) return put_string_byte(b, (unsigned char)cp);
    if (cp < 0x800) return put_byte(b, (unsigned char)(0xC0 | cp >> 6)) && put_byte(b, (unsigned char)(0x80 | (cp & 0x3F)));
    if (cp < 0x10000)
        return put_byte(b, (unsigned char)(0xE0 | cp >> 12)) && put_byte(b, (unsigned char)(0x80 | (cp >> 6 & 0x3F))) &&
               put_byte(b, (unsigned char)(0x80 | (cp & 0x3F)));
    return put_byte(b, (unsigned char)(0xF0 | cp >> 18)) && put_byte(b, (unsigned char)(0x80 | (cp >> 12 & 0x3F))) &&
           put_byte(b, (unsigned char)(0x80 | (cp >> 6 & 0x3F))) && put_byte(b, (unsigned char)(0x80 | (cp & 0x3F)));
}

static int hex_value(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* The code unit of "\uXXXX" at raw[i] (i at the backslash), or -1. */
static long unicode_escape(const char *raw, size_t len, size_t i) {
    if (len - i < 6 || raw[i] != '\\' || raw[i + 1] != 'u') return -1;
    long unit = 0;
    for (size_t k = 2; k < 6; k++) {
        int h = hex_value((unsigned char)raw[i + k]);
        if (h < 0) return -1;
        unit = unit * 16 + h;
    }
    return unit;
}

/* One escape at raw[*i] (the backslash): its code point(s) written, *i past it. */
static bool put_escape(const char *raw, size_t len, size_t *i, ju_buf *out, bool *oom) {
    static const char letters[] = "\"\\/bfnrt", bytes[] = "\"\\/\b\f\n\r\t";
    if (len - *i < 2) return false;
    const char *l = strchr(letters, raw[*i + 1]);
    if (l && raw[*i + 1]) {
        *i += 2;
        *oom = !put_string_byte(out, (unsigned char)bytes[l - letters]);
        return !*oom;
    }
    long unit = unicode_escape(raw, len, *i);
    if (unit < 0) return false;
    *i += 6;
    uint32_t cp = (uint32_t)unit;
    long low = unit >= 0xD800 && unit <= 0xDBFF ? unicode_escape(raw, len, *i) : -1;
    if (low >= 0xDC00 && low <= 0xDFFF) { /* a pair is one code point; anything else stays a lone unit */
        cp = 0x10000 + (((uint32_t)unit - 0xD800) << 10) + ((uint32_t)low - 0xDC00);
        *i += 6;
    }
    *oom = !put_code_point(out, cp);
    return !*oom;
}

bool ju_canonical_string(const char *raw, size_t len, ju_buf *out, bool *oom) {
    *oom = false;
    if (!put_byte(out, JU_STRING)) return !(*oom = true);
    if (!ju_canonical_string_body(raw, len, out, oom)) return false;
    if (!put_byte(out, 0)) return !(*oom = true);
    return true;
}

bool ju_canonical_string_body(const char *raw, size_t len, ju_buf *out, bool *oom) {
    *oom = false;
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)raw[i];
        if (c == '\\') {
            if (!put_escape(raw, len, &i, out, oom)) return false;
        } else if (c < 0x20 || c == '"') {
            return false;
        } else {
            if (!put_string_byte(out, c)) return !(*oom = true);
            i++;
        }
    }
    return true;
}

/* ---------------------------------------------------------------- the value parser */

typedef struct ju_frame {
    bool object;
    size_t out_start;           /* where its '[' or '{' is in out */
    uint32_t members_start;     /* objects: its first entry in scratch->members */
} ju_frame;

typedef struct parser {
    const unsigned char *p;
    size_t n, i;
    ju_canon_scratch *sc;
    ju_buf *out;
    uint32_t depth;
    bool oom;
} parser;

static void skip_ws(parser *ps) {
    while (ps->i < ps->n && (ps->p[ps->i] == ' ' || ps->p[ps->i] == '\t' || ps->p[ps->i] == '\n' || ps->p[ps->i] == '\r'))
        ps->i++;
}

static int peek(const parser *ps) { return ps->i < ps->n ? ps->p[ps->i] : -1; }

static bool fail_oom(parser *ps) { return !(ps->oom = true); }

static bool parse_string(parser *ps) {
    size_t start = ++ps->i; /* past the opening quote */
    bool escaped = false;
    while (ps->i < ps->n && (escaped || ps->p[ps->i] != '"')) {
        escaped = !escaped && ps->p[ps->i] == '\\';
        ps->i++;
    }
    if (ps->i >= ps->n) return false;
    bool ok = ju_canonical_string((const char *)ps->p + start, ps->i - start, ps->out, &ps->oom);
    ps->i++;
    return ok;
}

static size_t digits(const parser *ps, size_t i) {
    while (i < ps->n && ps->p[i] >= '0' && ps->p[i] <= '9') i++;
    return i;
}

/* The end of the JSON number at ps->i, or 0 when there is none. */
static size_t number_end(const parser *ps) {
    size_t i = ps->i;
    if (i < ps->n && ps->p[i] == '-') i++;
    size_t d = digits(ps, i);
    if (d == i || (ps->p[i] == '0' && d > i + 1)) return 0;
    i = d;
    if (i < ps->n && ps->p[i] == '.') {
        d = digits(ps, i + 1);
        if (d == i + 1) return 0;
        i = d;
    }
    if (i < ps->n && (ps->p[i] == 'e' || ps->p[i] == 'E')) {
        i++;
        if (i < ps->n && (ps->p[i] == '+' || ps->p[i] == '-')) i++;
        d = digits(ps, i);
        if (d == i) return 0;
        i = d;
    }
    return i;
}

/* Numbers compare as the doubles JSON.parse makes of them: strtod rounds the
 * same way (to nearest), 1e999 is infinity for both. */
static bool parse_number(parser *ps) {
    size_t end = number_end(ps);
    if (!end) return false;
    ju_buf *tmp = &ps->sc->sorted;
    tmp->len = 0;
    if (!ju_buf_reserve(tmp, end - ps->i + 1)) return fail_oom(ps);
    memcpy(tmp->data, ps->p + ps->i, end - ps->i);
    tmp->data[end - ps->i] = 0;
    double v = strtod((const char *)tmp->data, NULL);
    if (v == 0) v = 0; /* -0 equals 0 */
    ps->i = end;
    if (!ju_buf_reserve(ps->out, 1 + sizeof v)) return fail_oom(ps);
    ps->out->data[ps->out->len++] = JU_NUMBER;
    memcpy(ps->out->data + ps->out->len, &v, sizeof v);
    ps->out->len += sizeof v;
    return true;
}

static bool parse_literal(parser *ps) {
    static const char *const words[] = {"null", "true", "false"};
    for (size_t k = 0; k < 3; k++) {
        size_t n = strlen(words[k]);
        if (ps->n - ps->i >= n && memcmp(ps->p + ps->i, words[k], n) == 0) {
            ps->i += n;
            return put_byte(ps->out, (unsigned char)words[k][0]) || fail_oom(ps);
        }
    }
    return false;
}

static bool push_frame(parser *ps, bool object) {
    if (!js_grow((void **)&ps->sc->frames, &ps->sc->cap_frames, ps->depth + 1, sizeof *ps->sc->frames))
        return fail_oom(ps);
    ps->sc->frames[ps->depth++] = (ju_frame){object, ps->out->len, ps->sc->n_members};
    ps->i++;
    return put_byte(ps->out, object ? '{' : '[') || fail_oom(ps);
}

/* A member's name and colon; its value comes next. */
static bool parse_member_name(parser *ps) {
    skip_ws(ps);
    if (peek(ps) != '"') return false;
    ju_canon_scratch *sc = ps->sc;
    if (!js_grow((void **)&sc->members, &sc->cap_members, sc->n_members + 1, sizeof *sc->members)) return fail_oom(ps);
    sc->members[sc->n_members++] = ps->out->len;
    if (!parse_string(ps)) return false;
    skip_ws(ps);
    if (peek(ps) != ':') return false;
    ps->i++;
    return true;
}

/* Compares the names of members a and b (canonical strings end at their 0). */
static int name_cmp(const unsigned char *data, size_t a, size_t b) {
    for (;; a++, b++) {
        if (data[a] != data[b]) return data[a] < data[b] ? -1 : 1;
        if (data[a] == 0) return 0;
    }
}

/* Stable bottom-up merge sort of member indices by name. */
static void sort_members(uint32_t *a, uint32_t *tmp, uint32_t n, const unsigned char *data, const size_t *offs) {
    for (uint32_t width = 1; width < n; width *= 2) {
        for (uint32_t lo = 0; lo < n; lo += 2 * width) {
            uint32_t mid = lo + width < n ? lo + width : n, hi = lo + 2 * width < n ? lo + 2 * width : n;
            uint32_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) tmp[k++] = name_cmp(data, offs[a[j]], offs[a[i]]) < 0 ? a[j++] : a[i++];
            while (i < mid) tmp[k++] = a[i++];
            while (j < hi) tmp[k++] = a[j++];
        }
        memcpy(a, tmp, n * sizeof *a);
    }
}

/* Rewrites the object's members sorted by name, the last of each name only. */
static bool close_object(parser *ps, const ju_frame *f) {
    ju_canon_scratch *sc = ps->sc;
    uint32_t n = sc->n_members - f->members_start;
    size_t *offs = sc->members + f->members_start;
    if (n > UINT32_MAX / 2 - 1 || !js_grow((void **)&sc->order, &sc->cap_order, 2 * n + 2, sizeof *sc->order))
        return fail_oom(ps);
    for (uint32_t k = 0; k < n; k++) sc->order[k] = k;
    sort_members(sc->order, sc->order + n, n, ps->out->data, offs);
    ju_buf *sorted = &sc->sorted;
    sorted->len = 0;
    for (uint32_t k = 0; k < n; k++) {
        uint32_t m = sc->order[k];
        if (k + 1 < n && name_cmp(ps->out->data, offs[m], offs[sc->order[k + 1]]) == 0) continue;
        size_t end = m + 1 < n ? offs[m + 1] : ps->out->len;
        if (!ju_buf_reserve(sorted, end - offs[m])) return fail_oom(ps);
        memcpy(sorted->data + sorted->len, ps->out->data + offs[m], end - offs[m]);
        sorted->len += end - offs[m];
    }
    ps->out->len = f->out_start + 1;
    memcpy(ps->out->data + ps->out->len, sorted->data, sorted->len); /* never longer than what it replaces */
    ps->out->len += sorted->len;
    sc->n_members = f->members_start;
    return put_byte(ps->out, '}') || fail_oom(ps);
}

/* After a value: a comma, or the end of the innermost container. Sets
 * *value when another value follows. */
static bool after_value(parser *ps, bool *value) {
    ju_frame *f = &ps->sc->frames[ps->depth - 1];
    int c = peek(ps);
    ps->i++;
    if (c == ',') return *value = true, !f->object || parse_member_name(ps);
    *value = false;
    ps->depth--;
    if (c == ']' && !f->object) return put_byte(ps->out, ']') || fail_oom(ps);
    if (c == '}' && f->object) return close_object(ps, f);
    return false;
}

/* A value's first bytes: a scalar whole, a container opened (*opened). */
static bool start_value(parser *ps, bool *opened) {
    int c = peek(ps);
    *opened = c == '[' || c == '{';
    if (*opened) {
        if (!push_frame(ps, c == '{')) return false;
        skip_ws(ps);
        int next = peek(ps);
        if (next == (c == '{' ? '}' : ']')) { /* empty */
            *opened = false;
            ps->i++;
            ps->depth--;
            return put_byte(ps->out, (unsigned char)next) || fail_oom(ps);
        }
        return c == '[' || parse_member_name(ps);
    }
    if (c == '"') return parse_string(ps);
    if (c == '-' || (c >= '0' && c <= '9')) return parse_number(ps);
    return parse_literal(ps);
}

static bool parse_value(parser *ps) {
    bool want_value = true;
    for (;;) {
        skip_ws(ps);
        if (want_value) {
            bool opened;
            if (!start_value(ps, &opened)) return false;
            want_value = opened;
        } else if (ps->depth == 0) {
            return ps->i == ps->n;
        } else if (!after_value(ps, &want_value)) {
            return false;
        }
    }
}

vka_status ju_canonical(const char *text, size_t len, ju_canon_scratch *scratch, ju_buf *out, bool *valid) {
    parser ps = {.p = (const unsigned char *)text, .n = len, .sc = scratch, .out = out};
    size_t start = out->len;
    scratch->n_members = 0;
    *valid = parse_value(&ps);
    if (!*valid) out->len = start;
    if (ps.oom) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory comparing JSON values");
    return VKA_OK;
}

vka_status ju_json_equal(const char *a, size_t a_len, const char *b, size_t b_len, bool *equal) {
    ju_canon_scratch sc = {0};
    ju_buf ca = {0}, cb = {0};
    bool va = false, vb = false;
    vka_status st = ju_canonical(a, a_len, &sc, &ca, &va);
    if (st == VKA_OK) st = ju_canonical(b, b_len, &sc, &cb, &vb);
    if (st == VKA_OK && (!va || !vb))
        st = vka_fail(VKA_ERR_INVALID_ARGUMENT, "ju_json_equal: the %s text is not one JSON value", va ? "second" : "first");
    *equal = st == VKA_OK && ca.len == cb.len && memcmp(ca.data, cb.data, ca.len) == 0;
    ju_buf_free(&ca);
    ju_buf_free(&cb);
    ju_canon_scratch_free(&sc);
    return st;
}

/* ---------------------------------------------------------------- annotations */

void ju_set_free(ju_set *set) {
    if (!set) return;
    free(set->patterns);
    free(set->steps);
    ju_buf_free(&set->names);
    free(set);
}

uint32_t ju_set_size(const ju_set *set) { return set ? set->n_patterns : 0; }

/* One step from the canonical form at c[*i]; *i past it. NULL when fine, else why not. */
static const char *read_step(ju_set *set, const ju_buf *c, size_t *i, ju_step *step, bool *oom) {
    unsigned char k = c->data[*i];
    *step = (ju_step){.kind = JU_STEP_ANY};
    if (k == JU_NULL) return ++*i, NULL;
    if (k == JU_STRING) {
        size_t end = *i + 1;
        while (c->data[end]) end += c->data[end] == 1 ? 2 : 1;
        *step = (ju_step){.kind = JU_STEP_NAME, .name_off = set->names.len, .name_len = end + 1 - *i};
        if (!ju_buf_reserve(&set->names, step->name_len)) return *oom = true, "out of memory";
        memcpy(set->names.data + set->names.len, c->data + *i, step->name_len);
        set->names.len += step->name_len;
        *i = end + 1;
        return NULL;
    }
    if (k == JU_NUMBER) {
        double v;
        memcpy(&v, c->data + *i + 1, sizeof v);
        *i += 1 + sizeof v;
        if (!(v >= 0 && v <= MAX_INDEX && v == (double)(uint64_t)v)) return "an index must be an integer from 0 to 2^53";
        *step = (ju_step){.kind = JU_STEP_INDEX, .index = (uint64_t)v};
        return NULL;
    }
    return "a step is a member name (string), an array index (integer) or null (any)";
}

/* The pattern in text (one JSON array), added to set. NULL when fine, else why not. */
static const char *add_pattern(ju_set *set, const char *text, size_t len, ju_canon_scratch *sc, ju_buf *c, bool *oom) {
    bool valid = false;
    c->len = 0;
    if (ju_canonical(text, len, sc, c, &valid) != VKA_OK) return *oom = true, "out of memory";
    if (!valid || c->data[0] != '[') return "expected a JSON array after " ANNOTATION;
    uint32_t first = set->n_steps;
    for (size_t i = 1; c->data[i] != ']';) {
        ju_step step;
        const char *why = read_step(set, c, &i, &step, oom);
        if (why) return why;
        ju_step *steps = realloc(set->steps, (set->n_steps + 1) * sizeof *steps);
        if (!steps) return *oom = true, "out of memory";
        set->steps = steps;
        set->steps[set->n_steps++] = step;
    }
    ju_pattern *patterns = realloc(set->patterns, (set->n_patterns + 1) * sizeof *patterns);
    if (!patterns) return *oom = true, "out of memory";
    set->patterns = patterns;
    set->patterns[set->n_patterns++] = (ju_pattern){first, set->n_steps - first};
    return NULL;
}

/* The annotation on the line at text (its text after the marker in *rest), or false. */
static bool annotation_line(const char *line, size_t len, const char **rest, size_t *rest_len) {
    size_t n = strlen(ANNOTATION);
    if (len < n || memcmp(line, ANNOTATION, n) != 0) return false;
    if (len > n && line[n] != ' ' && line[n] != '\t' && line[n] != '\r') return false; /* "# vka:uniqueness": a comment */
    *rest = line + n;
    *rest_len = len - n;
    return true;
}

static vka_status parse_lines(const char *gbnf, ju_set *set) {
    ju_canon_scratch sc = {0};
    ju_buf c = {0};
    vka_status st = VKA_OK;
    unsigned line_no = 1;
    for (const char *line = gbnf; *line && st == VKA_OK; line_no++) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        const char *rest;
        size_t rest_len;
        if (annotation_line(line, len, &rest, &rest_len)) {
            bool oom = false;
            const char *why = add_pattern(set, rest, rest_len, &sc, &c, &oom);
            if (why && oom) st = vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory reading the %s annotations", ANNOTATION);
            else if (why) st = vka_fail(VKA_ERR_GRAMMAR, "line %u: malformed %s annotation: %s", line_no, ANNOTATION, why);
        }
        line = nl ? nl + 1 : line + len;
    }
    ju_buf_free(&c);
    ju_canon_scratch_free(&sc);
    return st;
}

vka_status ju_set_parse(const char *gbnf, ju_set **out) {
    *out = NULL;
    if (!gbnf || !strstr(gbnf, ANNOTATION)) return VKA_OK;
    ju_set *set = calloc(1, sizeof *set);
    if (!set) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
    vka_status st = parse_lines(gbnf, set);
    if (st != VKA_OK || set->n_patterns == 0) {
        ju_set_free(set);
        return st;
    }
    *out = set;
    return VKA_OK;
}
