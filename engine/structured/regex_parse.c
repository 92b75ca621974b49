/* regex_parse.c — the parser of ECMA-262 patterns as compiled with the "u"
 * flag (what ajv does with JSON Schema's `pattern`), into a tree of classes,
 * sequences, alternatives, repetitions, anchors and lookaheads. What is not a
 * regular language (back-references, lookbehind, word boundaries) and
 * property escapes are refused with the construct and its offset. */
#include <stdlib.h>
#include <string.h>

#include "structured/regex_impl.h"

#define MAX_DEPTH 500u

typedef struct parser {
    const uint32_t *s;
    size_t n, pos;
    re_syntax syntax;
    unsigned depth;
    char **names;      /* capture group names seen, for duplicates */
    size_t n_names;
    vka_status err;
} parser;

static bool failed(parser *p) { return p->err != VKA_OK; }

static void fail_at(parser *p, size_t at, const char *what) {
    if (failed(p)) return;
    p->err = vka_fail(VKA_ERR_GRAMMAR, "invalid regular expression: %s at offset %zu", what, at);
}

static void refuse_at(parser *p, size_t at, const char *what) {
    if (failed(p)) return;
    p->err = vka_fail(VKA_ERR_GRAMMAR, "regular expression: %s at offset %zu is not supported (not a regular language "
                      "this converter can enforce exactly)", what, at);
}

static void oom(parser *p) {
    if (!failed(p)) p->err = vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory parsing a regular expression");
}

static bool at_end(const parser *p) { return p->pos >= p->n; }
static uint32_t peek(const parser *p) { return at_end(p) ? UINT32_MAX : p->s[p->pos]; }
static uint32_t peek_at(const parser *p, size_t k) { return p->pos + k < p->n ? p->s[p->pos + k] : UINT32_MAX; }

static bool eat(parser *p, uint32_t c) {
    if (peek(p) != c) return false;
    p->pos++;
    return true;
}

/* ---------------------------------------------------------------- nodes */

void re_node_free(re_node *n) {
    if (!n) return;
    for (size_t i = 0; i < n->n_kids; i++) re_node_free(n->kids[i]);
    free(n->kids);
    re_rs_free(&n->cls);
    free(n);
}

static re_node *node_new(parser *p, re_node_kind kind, size_t offset) {
    re_node *n = calloc(1, sizeof *n);
    if (!n) {
        oom(p);
        return NULL;
    }
    n->kind = kind;
    n->offset = offset;
    n->has_assert = kind == RN_BOL || kind == RN_EOL || kind == RN_LOOK;
    return n;
}

/* Appends kid to n (freeing kid on failure). */
static bool node_add(parser *p, re_node *n, re_node *kid) {
    if (!kid) return false;
    if (n->n_kids == n->cap_kids) {
        size_t cap = n->cap_kids ? n->cap_kids * 2 : 4;
        re_node **k = realloc(n->kids, cap * sizeof *k);
        if (!k) {
            re_node_free(kid);
            oom(p);
            return false;
        }
        n->kids = k;
        n->cap_kids = cap;
    }
    n->kids[n->n_kids++] = kid;
    n->has_assert = n->has_assert || kid->has_assert;
    return true;
}

/* A class node for the set (taken over), case-closed when the syntax asks. */
static re_node *class_node(parser *p, re_ranges *set, bool negate, size_t offset) {
    re_node *n = node_new(p, RN_CLASS, offset);
    bool ok = n && re_rs_case_close(set, p->syntax.ci);
    if (ok && negate) {
        re_ranges c;
        ok = re_rs_complement(set, &c);
        re_rs_free(set);
        *set = c;
    }
    ok = ok && re_rs_scalar(set);
    if (!ok) {
        if (n) oom(p);
        re_rs_free(set);
        free(n);
        return NULL;
    }
    n->cls = *set;
    *set = (re_ranges){0};
    return n;
}

/* ---------------------------------------------------------------- escapes */

static int hex_val(uint32_t c) {
    if (c >= '0' && c <= '9') return (int)(c - '0');
    if (c >= 'a' && c <= 'f') return (int)(c - 'a' + 10);
    if (c >= 'A' && c <= 'F') return (int)(c - 'A' + 10);
    return -1;
}

/* Exactly k hex digits into *v. */
static bool hex_digits(parser *p, unsigned k, uint32_t *v) {
    uint32_t x = 0;
    for (unsigned i = 0; i < k; i++) {
        int h = hex_val(peek_at(p, i));
        if (h < 0) return false;
        x = x * 16 + (uint32_t)h;
    }
    p->pos += k;
    *v = x;
    return true;
}

/* After "\u": HHHH (joined with a following \uHHHH trail surrogate), or {H...}. */
static bool unicode_escape(parser *p, size_t at, uint32_t *cp) {
    if (eat(p, '{')) {
        uint32_t v = 0;
        size_t digits = 0;
        for (int h; (h = hex_val(peek(p))) >= 0; p->pos++, digits++) {
            v = v * 16 + (uint32_t)h;
            if (v > 0x10FFFF) break;
        }
        if (digits == 0 || v > 0x10FFFF || !eat(p, '}')) {
            fail_at(p, at, "bad \\u{...} escape");
            return false;
        }
        *cp = v;
        return true;
    }
    uint32_t v;
    if (!hex_digits(p, 4, &v)) {
        fail_at(p, at, "bad \\u escape");
        return false;
    }
    if (v >= 0xD800 && v <= 0xDBFF && peek(p) == '\\' && peek_at(p, 1) == 'u') {
        size_t save = p->pos;
        uint32_t t;
        p->pos += 2;
        if (hex_digits(p, 4, &t) && t >= 0xDC00 && t <= 0xDFFF) {
            *cp = 0x10000 + ((v - 0xD800) << 10) + (t - 0xDC00);
            return true;
        }
        p->pos = save;
    }
    *cp = v;
    return true;
}

static bool is_syntax_char(uint32_t c) { return c < 128 && strchr("^$\\.*+?()[]{}|", (int)c) && c != 0; }

typedef enum esc_kind { ESC_CHAR, ESC_SET, ESC_ERROR } esc_kind;

static const re_range space_ranges[] = {{0x09, 0x0D}, {0x20, 0x20}, {0xA0, 0xA0}, {0x1680, 0x1680}, {0x2000, 0x200A},
                                        {0x2028, 0x2029}, {0x202F, 0x202F}, {0x205F, 0x205F}, {0x3000, 0x3000},
                                        {0xFEFF, 0xFEFF}};
static const re_range word_ranges[] = {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}};
static const re_range digit_ranges[] = {{'0', '9'}};

static bool set_from(re_ranges *set, const re_range *r, size_t n, bool negate) {
    re_ranges s = {0};
    for (size_t i = 0; i < n; i++)
        if (!re_rs_add(&s, r[i].lo, r[i].hi)) {
            re_rs_free(&s);
            return false;
        }
    if (!negate) {
        *set = s;
        return true;
    }
    bool ok = re_rs_complement(&s, set);
    re_rs_free(&s);
    return ok;
}

/* A class escape \d \D \s \S \w \W into *set; false when c is not one. */
static bool class_escape(parser *p, uint32_t c, re_ranges *set) {
    bool ok;
    switch (c) {
    case 'd': case 'D': ok = set_from(set, digit_ranges, 1, c == 'D'); break;
    case 's': case 'S': ok = set_from(set, space_ranges, sizeof space_ranges / sizeof *space_ranges, c == 'S'); break;
    case 'w': case 'W': ok = set_from(set, word_ranges, 4, c == 'W'); break;
    default: return false;
    }
    if (!ok) oom(p);
    return true;
}

/* The escape after a backslash at `at` (already consumed): a character, or a
 * set for class escapes. Inside classes \b is backspace and \- a hyphen. */
static esc_kind escape(parser *p, size_t at, bool in_class, uint32_t *cp, re_ranges *set) {
    if (at_end(p)) {
        fail_at(p, at, "\\ at end of pattern");
        return ESC_ERROR;
    }
    uint32_t c = p->s[p->pos++];
    if (class_escape(p, c, set)) return failed(p) ? ESC_ERROR : ESC_SET;
    switch (c) {
    case 'f': *cp = '\f'; return ESC_CHAR;
    case 'n': *cp = '\n'; return ESC_CHAR;
    case 'r': *cp = '\r'; return ESC_CHAR;
    case 't': *cp = '\t'; return ESC_CHAR;
    case 'v': *cp = '\v'; return ESC_CHAR;
    case 'c': {
        uint32_t l = peek(p);
        if ((l >= 'a' && l <= 'z') || (l >= 'A' && l <= 'Z')) {
            p->pos++;
            *cp = l % 32;
            return ESC_CHAR;
        }
        fail_at(p, at, "\\c must be followed by a letter");
        return ESC_ERROR;
    }
    case '0':
        if (peek(p) >= '0' && peek(p) <= '9') {
            fail_at(p, at, "invalid decimal escape");
            return ESC_ERROR;
        }
        *cp = 0;
        return ESC_CHAR;
    case 'x':
        if (!hex_digits(p, 2, cp)) {
            fail_at(p, at, "bad \\x escape");
            return ESC_ERROR;
        }
        return ESC_CHAR;
    case 'u': return unicode_escape(p, at, cp) ? ESC_CHAR : ESC_ERROR;
    case 'p': case 'P': refuse_at(p, at, "Unicode property escape \\p{...}"); return ESC_ERROR;
    case 'k': refuse_at(p, at, "named back-reference \\k<...>"); return ESC_ERROR;
    default: break;
    }
    if (c >= '1' && c <= '9') {
        refuse_at(p, at, "back-reference");
        return ESC_ERROR;
    }
    if (in_class && c == 'b') {
        *cp = '\b';
        return ESC_CHAR;
    }
    if (in_class && c == '-') {
        *cp = '-';
        return ESC_CHAR;
    }
    if (!in_class && (c == 'b' || c == 'B')) {
        refuse_at(p, at, c == 'b' ? "word boundary \\b" : "non-word-boundary \\B");
        return ESC_ERROR;
    }
    if (is_syntax_char(c) || c == '/') {
        *cp = c;
        return ESC_CHAR;
    }
    fail_at(p, at, "invalid escape");
    return ESC_ERROR;
}

/* ---------------------------------------------------------------- classes */

/* One class atom: a character (ESC_CHAR) or a set (ESC_SET). */
static esc_kind class_atom(parser *p, uint32_t *cp, re_ranges *set) {
    size_t at = p->pos;
    uint32_t c = p->s[p->pos++];
    if (c != '\\') {
        *cp = c;
        return ESC_CHAR;
    }
    return escape(p, at, true, cp, set);
}

static re_node *parse_class(parser *p) {
    size_t at = p->pos++;   /* '[' */
    bool negate = eat(p, '^');
    re_ranges set = {0};
    while (!failed(p)) {
        if (at_end(p)) {
            fail_at(p, at, "unterminated character class");
            break;
        }
        if (eat(p, ']')) break;
        uint32_t a = 0, b = 0;
        re_ranges sa = {0}, sb = {0};
        size_t atom_at = p->pos;
        esc_kind ka = class_atom(p, &a, &sa);
        if (ka == ESC_ERROR) break;
        if (peek(p) == '-' && peek_at(p, 1) != ']' && peek_at(p, 1) != UINT32_MAX) {
            p->pos++;
            esc_kind kb = class_atom(p, &b, &sb);
            if (kb == ESC_ERROR || ka == ESC_SET || kb == ESC_SET) {
                if (kb != ESC_ERROR) fail_at(p, atom_at, "character class escape as a range end");
                re_rs_free(&sa), re_rs_free(&sb);
                break;
            }
            if (a > b) {
                fail_at(p, atom_at, "range out of order in character class");
                break;
            }
            if (!re_rs_add(&set, a, b)) oom(p);
            continue;
        }
        bool ok = ka == ESC_SET ? re_rs_add_set(&set, &sa) : re_rs_add(&set, a, a);
        re_rs_free(&sa);
        if (!ok) oom(p);
    }
    if (failed(p)) {
        re_rs_free(&set);
        return NULL;
    }
    re_rs_normalize(&set);
    return class_node(p, &set, negate, at);
}

/* ---------------------------------------------------------------- atoms and terms */

static re_node *parse_disjunction(parser *p);

static re_node *char_node(parser *p, uint32_t c, size_t at) {
    re_ranges set = {0};
    if (!re_rs_add(&set, c, c)) {
        oom(p);
        return NULL;
    }
    return class_node(p, &set, false, at);
}

static bool group_name(parser *p, size_t at) {
    size_t start = p->pos;
    while (!at_end(p) && peek(p) != '>') {
        uint32_t c = peek(p);
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '$' ||
                  (p->pos > start && c >= '0' && c <= '9');
        if (!ok) {
            refuse_at(p, at, "group name other than ASCII letters, digits, '_' and '$'");
            return false;
        }
        p->pos++;
    }
    if (p->pos == start || !eat(p, '>')) {
        fail_at(p, at, "bad group name");
        return false;
    }
    size_t len = p->pos - 1 - start;
    char *name = malloc(len + 1);
    char **names = realloc(p->names, (p->n_names + 1) * sizeof *names);
    if (!name || !names) {
        free(name);
        if (names) p->names = names;
        oom(p);
        return false;
    }
    p->names = names;
    for (size_t i = 0; i < len; i++) name[i] = (char)p->s[start + i];
    name[len] = 0;
    for (size_t i = 0; i < p->n_names; i++)
        if (strcmp(p->names[i], name) == 0) {
            free(name);
            fail_at(p, at, "duplicate group name");
            return false;
        }
    p->names[p->n_names++] = name;
    return true;
}

/* After '(' : the group's kind, then its disjunction and ')'. */
static re_node *parse_group(parser *p, bool *is_look) {
    size_t at = p->pos++;
    re_node *look = NULL;
    *is_look = false;
    if (eat(p, '?')) {
        if (eat(p, ':')) {
        } else if (eat(p, '=') || eat(p, '!')) {
            look = node_new(p, RN_LOOK, at);
            if (!look) return NULL;
            look->negated = p->s[p->pos - 1] == '!';
            *is_look = true;
        } else if (peek(p) == '<' && (peek_at(p, 1) == '=' || peek_at(p, 1) == '!')) {
            refuse_at(p, at, "lookbehind (?<=...) / (?<!...)");
            return NULL;
        } else if (eat(p, '<')) {
            if (!group_name(p, at)) return NULL;
        } else {
            fail_at(p, at, "invalid group");
            return NULL;
        }
    }
    re_node *inner = parse_disjunction(p);
    if (!inner) {
        re_node_free(look);
        return NULL;
    }
    if (!eat(p, ')')) {
        fail_at(p, at, "unterminated group");
        re_node_free(inner);
        re_node_free(look);
        return NULL;
    }
    if (!look) return inner;
    return node_add(p, look, inner) ? look : (re_node_free(look), NULL);
}

static bool parse_count(parser *p, uint64_t *v) {
    if (peek(p) < '0' || peek(p) > '9') return false;
    uint64_t x = 0;
    while (peek(p) >= '0' && peek(p) <= '9') {
        uint64_t d = p->s[p->pos++] - '0';
        /* counts beyond any string length saturate (no document is that long) */
        x = x > (RE_UNBOUNDED - 1 - d) / 10 ? RE_UNBOUNDED - 1 : x * 10 + d;
    }
    *v = x;
    return true;
}

/* A quantifier at the current position into min/max; false when none. */
static bool parse_quantifier(parser *p, uint64_t *min, uint64_t *max) {
    uint32_t c = peek(p);
    size_t at = p->pos;
    if (c == '*' || c == '+' || c == '?') {
        p->pos++;
        *min = c == '+' ? 1 : 0;
        *max = c == '?' ? 1 : RE_UNBOUNDED;
    } else if (c == '{') {
        p->pos++;
        if (!parse_count(p, min)) {
            fail_at(p, at, "lone '{' (write \\{)");
            return false;
        }
        *max = *min;
        if (eat(p, ',')) {
            *max = RE_UNBOUNDED;
            if (peek(p) != '}' && !parse_count(p, max)) {
                fail_at(p, at, "incomplete quantifier");
                return false;
            }
        }
        if (!eat(p, '}')) {
            fail_at(p, at, "incomplete quantifier");
            return false;
        }
        if (*max < *min) {
            fail_at(p, at, "numbers out of order in {} quantifier");
            return false;
        }
    } else {
        return false;
    }
    eat(p, '?');   /* lazy: the same language */
    return true;
}

/* An atom (NULL on error); *quantifiable false for lookaheads. */
static re_node *parse_atom(parser *p, bool *quantifiable) {
    size_t at = p->pos;
    uint32_t c = peek(p);
    *quantifiable = true;
    switch (c) {
    case '.': {
        p->pos++;
        re_ranges set = {0};
        bool ok = re_rs_add(&set, '\n', '\n') && re_rs_add(&set, '\r', '\r') && re_rs_add(&set, 0x2028, 0x2029);
        if (!ok) {
            re_rs_free(&set);
            oom(p);
            return NULL;
        }
        re_node *n = node_new(p, RN_CLASS, at);
        re_ranges all;
        if (n && !re_rs_complement(&set, &all)) n = (free(n), oom(p), NULL);
        re_rs_free(&set);
        if (n) n->cls = all;
        return n;
    }
    case '(': {
        bool is_look;
        re_node *n = parse_group(p, &is_look);
        *quantifiable = !is_look;
        return n;
    }
    case '[': return parse_class(p);
    case '\\': {
        p->pos++;
        uint32_t cp = 0;
        re_ranges set = {0};
        esc_kind k = escape(p, at, false, &cp, &set);
        if (k == ESC_ERROR) return NULL;
        if (k == ESC_SET) return class_node(p, &set, false, at);
        return char_node(p, cp, at);
    }
    case '*': case '+': case '?': fail_at(p, at, "nothing to repeat"); return NULL;
    case '{': fail_at(p, at, "lone '{' (write \\{)"); return NULL;
    case '}': fail_at(p, at, "lone '}' (write \\})"); return NULL;
    case ']': fail_at(p, at, "lone ']' (write \\])"); return NULL;
    default: p->pos++; return char_node(p, c, at);
    }
}

/* A term: an assertion, or an atom with an optional quantifier. */
static re_node *parse_term(parser *p) {
    size_t at = p->pos;
    if (eat(p, '^') || eat(p, '$')) {
        re_node *n = node_new(p, p->s[at] == '^' ? RN_BOL : RN_EOL, at);
        uint64_t mn, mx;
        if (n && parse_quantifier(p, &mn, &mx)) fail_at(p, at, "nothing to repeat");
        if (failed(p)) re_node_free(n), n = NULL;
        return n;
    }
    bool quantifiable;
    re_node *atom = parse_atom(p, &quantifiable);
    if (!atom) return NULL;
    uint64_t min, max;
    size_t qat = p->pos;
    if (!parse_quantifier(p, &min, &max)) {
        if (failed(p)) re_node_free(atom), atom = NULL;
        return atom;
    }
    if (!quantifiable) {
        fail_at(p, qat, "a lookahead cannot be repeated");
        re_node_free(atom);
        return NULL;
    }
    re_node *rep = node_new(p, RN_REPEAT, at);
    if (!rep || !node_add(p, rep, atom)) {
        if (!rep) re_node_free(atom);
        re_node_free(rep);
        return NULL;
    }
    rep->min = min;
    rep->max = max;
    return rep;
}

static re_node *parse_alternative(parser *p) {
    re_node *cat = node_new(p, RN_CAT, p->pos);
    while (cat && !at_end(p) && peek(p) != '|' && peek(p) != ')') {
        if (!node_add(p, cat, parse_term(p))) {
            re_node_free(cat);
            return NULL;
        }
    }
    if (cat && cat->n_kids == 1) {
        re_node *only = cat->kids[0];
        cat->n_kids = 0;
        re_node_free(cat);
        return only;
    }
    if (cat && cat->n_kids == 0) cat->kind = RN_EMPTY;
    return cat;
}

static re_node *parse_disjunction(parser *p) {
    if (++p->depth > MAX_DEPTH) {
        fail_at(p, p->pos, "groups nested too deeply");
        return NULL;
    }
    size_t at = p->pos;
    re_node *first = parse_alternative(p);
    if (!first || peek(p) != '|') {
        p->depth--;
        return first;
    }
    re_node *alt = node_new(p, RN_ALT, at);
    bool ok = alt && node_add(p, alt, first);
    if (!alt) re_node_free(first);
    while (ok && eat(p, '|')) ok = node_add(p, alt, parse_alternative(p));
    p->depth--;
    if (!ok) {
        re_node_free(alt);
        return NULL;
    }
    return alt;
}

vka_status re_parse(const char *pattern, size_t len, re_syntax syntax, re_node **out) {
    *out = NULL;
    uint32_t *cps = NULL;
    size_t n = 0;
    if (!re_utf8_to_cps(pattern, len, &cps, &n))
        return vka_fail(VKA_ERR_GRAMMAR, "invalid regular expression: not valid UTF-8");
    parser p = {.s = cps, .n = n, .syntax = syntax};
    re_node *root = parse_disjunction(&p);
    if (root && !at_end(&p)) {
        fail_at(&p, p.pos, "unmatched ')'");
        re_node_free(root);
        root = NULL;
    }
    for (size_t i = 0; i < p.n_names; i++) free(p.names[i]);
    free(p.names);
    free(cps);
    if (!root) return p.err != VKA_OK ? p.err : vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory parsing a pattern");
    *out = root;
    return VKA_OK;
}
