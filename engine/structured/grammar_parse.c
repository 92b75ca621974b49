/* grammar_parse.c — GBNF text to a syntax tree: rules, alternatives,
 * sequences, literals, character classes, repetition; errors with line:column. */
#include <stdalign.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "structured/grammar_impl.h"
#include "base/status.h"

/* ---------------------------------------------------------------- small helpers */

struct g_arena_chunk {
    g_arena_chunk *next;
    size_t used, cap;
    alignas(max_align_t) unsigned char data[];
};

void *g_arena_alloc(g_arena *arena, size_t size) {
    size = (size + 15) & ~(size_t)15;
    g_arena_chunk *c = arena->head;
    if (!c || c->cap - c->used < size) {
        size_t cap = size > 65536 ? size : 65536;
        c = malloc(sizeof *c + cap);
        if (!c) return NULL;
        c->next = arena->head;
        c->used = 0;
        c->cap = cap;
        arena->head = c;
    }
    void *p = c->data + c->used;
    c->used += size;
    memset(p, 0, size);
    return p;
}

void g_arena_free(g_arena *arena) {
    g_arena_chunk *c = arena->head;
    while (c) {
        g_arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    arena->head = NULL;
}

bool g_grow(void **ptr, uint32_t *cap, uint32_t need, size_t elem) {
    if (need <= *cap) return true;
    uint64_t n = *cap ? *cap : 16;
    while (n < need) n *= 2;
    if (n > UINT32_MAX) return false;
    void *p = realloc(*ptr, (size_t)n * elem);
    if (!p) return false;
    *ptr = p;
    *cap = (uint32_t)n;
    return true;
}

void g_line_col(const char *text, uint32_t offset, uint32_t *line, uint32_t *col) {
    uint32_t l = 1, c = 1;
    for (uint32_t i = 0; i < offset && text[i]; i++) {
        unsigned char ch = (unsigned char)text[i];
        if (ch == '\n') {
            l++;
            c = 1;
        } else if ((ch & 0xC0) != 0x80) {
            c++;
        }
    }
    *line = l;
    *col = c;
}

/* ---------------------------------------------------------------- parser state */

typedef struct parser {
    g_syntax *syn;
    const char *text;
    const char *p;
    uint32_t depth;
    uint32_t *names;            /* rule index by name: open addressing, G_NONE empty */
    uint32_t names_bits;
    uint32_t *classes;          /* class index by ranges: equal classes are one (open addressing) */
    uint32_t classes_bits;
} parser;

static uint32_t offset_of(const parser *ps, const char *at) { return (uint32_t)(at - ps->text); }

__attribute__((format(printf, 3, 4)))
static vka_status fail_at(const parser *ps, const char *at, const char *fmt, ...) {
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    uint32_t line, col;
    g_line_col(ps->text, offset_of(ps, at), &line, &col);
    return vka_fail(VKA_ERR_GRAMMAR, "line %u, column %u: %s", line, col, what);
}

static vka_status oom(void) { return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory while parsing a grammar"); }

/* A printable description of the character at p, for messages. */
static const char *describe(const char *p, char buf[16]) {
    unsigned char c = (unsigned char)*p;
    if (c == 0) return "end of grammar";
    if (c == '\n') return "end of line";
    if (c < 0x20 || c == 0x7F) {
        snprintf(buf, 16, "byte 0x%02X", c);
        return buf;
    }
    size_t n = 1;
    while (n < 4 && ((unsigned char)p[n] & 0xC0) == 0x80) n++;
    buf[0] = '\'';
    memcpy(buf + 1, p, n);
    buf[n + 1] = '\'';
    buf[n + 2] = 0;
    return buf;
}

static bool is_word_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* Skips blanks and comments; newlines too when `newlines`. */
static void skip_space(parser *ps, bool newlines) {
    for (;;) {
        char c = *ps->p;
        if (c == ' ' || c == '\t' || c == '\r' || (newlines && c == '\n')) {
            ps->p++;
        } else if (c == '#') {
            while (*ps->p && *ps->p != '\n') ps->p++;
        } else {
            return;
        }
    }
}

/* ---------------------------------------------------------------- tree building */

static g_node *new_node(parser *ps, g_node_kind kind, const char *at) {
    g_node *n = g_arena_alloc(&ps->syn->arena, sizeof *n);
    if (!n) return NULL;
    n->kind = kind;
    n->offset = offset_of(ps, at);
    return n;
}

/* A growing list of child pointers, copied into the arena when done. */
typedef struct kid_list {
    g_node **items;
    uint32_t n, cap;
} kid_list;

static bool kids_push(kid_list *k, g_node *n) {
    if (!g_reserve((void **)&k->items, &k->cap, k->n + 1, sizeof *k->items)) return false;
    k->items[k->n++] = n;
    return true;
}

static bool kids_store(parser *ps, g_node *parent, kid_list *k) {
    parent->n_kids = k->n;
    if (k->n) {
        parent->kids = g_arena_alloc(&ps->syn->arena, k->n * sizeof *parent->kids);
        if (!parent->kids) return false;
        memcpy(parent->kids, k->items, k->n * sizeof *parent->kids);
    }
    return true;
}

static bool same_class(const g_syntax *syn, const g_class *a, const g_class *b) {
    return a->count == b->count && memcmp(syn->ranges + a->first, syn->ranges + b->first, a->count * sizeof *syn->ranges) == 0;
}

static uint32_t class_hash(const g_syntax *syn, const g_class *c) {
    uint32_t h = 2166136261u ^ c->count;
    for (uint32_t i = 0; i < c->count; i++) h = (h ^ syn->ranges[c->first + i].lo) * 16777619u ^ syn->ranges[c->first + i].hi;
    return h * 16777619u;
}

/* The slot of class c in the table: an equal class, or the empty slot where c goes. */
static uint32_t *class_slot(const parser *ps, const g_class *c) {
    uint32_t mask = (1u << ps->classes_bits) - 1, i = class_hash(ps->syn, c) & mask;
    for (; ps->classes[i] != G_NONE; i = (i + 1) & mask)
        if (same_class(ps->syn, &ps->syn->classes[ps->classes[i]], c)) break;
    return &ps->classes[i];
}

/* Keeps the class table at most half full. */
static bool class_room(parser *ps) {
    if (ps->classes && (uint64_t)(ps->syn->n_classes + 1) * 2 <= (1u << ps->classes_bits)) return true;
    uint32_t bits = ps->classes ? ps->classes_bits + 1 : 10;
    uint32_t *t = malloc(((size_t)1 << bits) * sizeof *t);
    if (!t) return false;
    memset(t, 0xFF, ((size_t)1 << bits) * sizeof *t);
    free(ps->classes);
    ps->classes = t;
    ps->classes_bits = bits;
    for (uint32_t k = 0; k < ps->syn->n_classes; k++) *class_slot(ps, &ps->syn->classes[k]) = k;
    return true;
}

/* Adds a class built from `ranges` (any order, may overlap), negated if asked. */
static vka_status add_class(parser *ps, g_range *ranges, uint32_t n, bool negate, uint32_t *out) {
    g_syntax *syn = ps->syn;
    /* sort (insertion sort: classes are short) and merge */
    for (uint32_t i = 1; i < n; i++) {
        g_range r = ranges[i];
        uint32_t j = i;
        while (j > 0 && ranges[j - 1].lo > r.lo) {
            ranges[j] = ranges[j - 1];
            j--;
        }
        ranges[j] = r;
    }
    uint32_t m = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (m && ranges[i].lo <= ranges[m - 1].hi + 1) {
            if (ranges[i].hi > ranges[m - 1].hi) ranges[m - 1].hi = ranges[i].hi;
        } else {
            ranges[m++] = ranges[i];
        }
    }
    if (!g_grow((void **)&syn->ranges, &syn->cap_ranges, syn->n_ranges + m + 1, sizeof *syn->ranges) ||
        !g_grow((void **)&syn->classes, &syn->cap_classes, syn->n_classes + 1, sizeof *syn->classes))
        return oom();
    g_class *c = &syn->classes[syn->n_classes];
    memset(c, 0, sizeof *c);
    c->first = syn->n_ranges;
    if (negate) {
        uint32_t next = 0;
        for (uint32_t i = 0; i < m; i++) {
            if (ranges[i].lo > next) syn->ranges[syn->n_ranges++] = (g_range){next, ranges[i].lo - 1};
            next = ranges[i].hi + 1;
        }
        if (next <= G_MAX_CP) syn->ranges[syn->n_ranges++] = (g_range){next, G_MAX_CP};
    } else {
        for (uint32_t i = 0; i < m; i++) syn->ranges[syn->n_ranges++] = ranges[i];
    }
    c->count = syn->n_ranges - c->first;
    for (uint32_t i = 0; i < c->count; i++) {
        g_range r = syn->ranges[c->first + i];
        for (uint32_t cp = r.lo; cp <= r.hi && cp < 128; cp++) c->ascii[cp >> 5] |= 1u << (cp & 31);
    }
    /* a class written again (every [0-9] of a grammar) is the same class:
     * masks and fills treat equal classes alike only when they are one */
    uint32_t *slot;
    if (!class_room(ps)) return oom();
    slot = class_slot(ps, c);
    if (*slot != G_NONE) {
        syn->n_ranges = c->first;
        *out = *slot;
        return VKA_OK;
    }
    *slot = syn->n_classes;
    *out = syn->n_classes++;
    return VKA_OK;
}

static vka_status single_char_node(parser *ps, uint32_t cp, const char *at, g_node **out) {
    g_range r = {cp, cp};
    g_node *n = new_node(ps, G_CLASS, at);
    if (!n) return oom();
    VKA_TRY(add_class(ps, &r, 1, false, &n->cls));
    *out = n;
    return VKA_OK;
}

/* ---------------------------------------------------------------- characters */

static vka_status decode_utf8(parser *ps, uint32_t *cp) {
    const unsigned char *s = (const unsigned char *)ps->p;
    uint32_t c = s[0], n, min;
    if (c < 0x80) {
        *cp = c;
        ps->p++;
        return VKA_OK;
    }
    if (c >= 0xC2 && c <= 0xDF) { n = 2; c &= 0x1F; min = 0x80; }
    else if (c >= 0xE0 && c <= 0xEF) { n = 3; c &= 0x0F; min = 0x800; }
    else if (c >= 0xF0 && c <= 0xF4) { n = 4; c &= 0x07; min = 0x10000; }
    else return fail_at(ps, ps->p, "invalid UTF-8 byte 0x%02X", s[0]);
    for (uint32_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return fail_at(ps, ps->p, "invalid UTF-8 sequence");
        c = (c << 6) | (s[i] & 0x3Fu);
    }
    if (c < min || c > G_MAX_CP || (c >= 0xD800 && c <= 0xDFFF))
        return fail_at(ps, ps->p, "invalid UTF-8 sequence");
    *cp = c;
    ps->p += n;
    return VKA_OK;
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* One character of a literal or class, escapes decoded. */
static vka_status parse_char(parser *ps, uint32_t *cp) {
    if (*ps->p != '\\') return decode_utf8(ps, cp);
    const char *at = ps->p;
    char e = ps->p[1];
    uint32_t digits = 0;
    switch (e) {
    case 'n': *cp = '\n'; break;
    case 't': *cp = '\t'; break;
    case 'r': *cp = '\r'; break;
    case '\\': case '"': case '\'': case '[': case ']': case '-': case '^': case '/':
        *cp = (uint32_t)e;
        break;
    case 'x': digits = 2; break;
    case 'u': digits = 4; break;
    case 'U': digits = 8; break;
    case 0: return fail_at(ps, at, "unfinished escape at end of grammar");
    default:
        if (e > 0x20 && e < 0x7F)
            return fail_at(ps, at, "unknown escape '\\%c' (known: \\n \\t \\r \\\\ \\\" \\' \\[ \\] \\- \\^ \\/ \\xHH \\uHHHH \\UHHHHHHHH)", e);
        return fail_at(ps, at, "unknown escape: '\\' followed by a non-printable or non-ASCII character");
    }
    ps->p += 2;
    if (!digits) return VKA_OK;
    uint32_t v = 0;
    for (uint32_t i = 0; i < digits; i++) {
        int h = hex_value(ps->p[i]);
        if (h < 0) return fail_at(ps, at, "escape '\\%c' needs %u hex digits", e, digits);
        v = (v << 4) | (uint32_t)h;
    }
    ps->p += digits;
    if (v > G_MAX_CP) return fail_at(ps, at, "escape value 0x%X is beyond U+10FFFF", v);
    if (v >= 0xD800 && v <= 0xDFFF) return fail_at(ps, at, "escape value U+%04X is a surrogate, not a character", v);
    *cp = v;
    return VKA_OK;
}

/* ---------------------------------------------------------------- atoms */

static vka_status parse_literal(parser *ps, g_node **out) {
    const char *open = ps->p++;
    kid_list k = {0};
    vka_status s = VKA_OK;
    while (*ps->p != '"') {
        if (*ps->p == 0 || *ps->p == '\n') {
            s = fail_at(ps, open, "unterminated string literal (no closing '\"' on this line)");
            goto done;
        }
        const char *at = ps->p;
        uint32_t cp;
        g_node *n = NULL;
        if ((s = parse_char(ps, &cp)) != VKA_OK || (s = single_char_node(ps, cp, at, &n)) != VKA_OK) goto done;
        if (!kids_push(&k, n)) { s = oom(); goto done; }
    }
    ps->p++;
    g_node *seq = new_node(ps, G_SEQ, open);
    if (!seq || !kids_store(ps, seq, &k)) { s = oom(); goto done; }
    *out = seq;
done:
    free(k.items);
    return s;
}

static vka_status parse_class(parser *ps, g_node **out) {
    const char *open = ps->p++;
    bool negate = false;
    if (*ps->p == '^') {
        negate = true;
        ps->p++;
    }
    g_range *ranges = NULL;
    uint32_t n = 0, cap = 0;
    vka_status s = VKA_OK;
    while (*ps->p != ']') {
        if (*ps->p == 0 || *ps->p == '\n') {
            s = fail_at(ps, open, "unterminated character class (no closing ']' on this line)");
            goto done;
        }
        const char *at = ps->p;
        uint32_t lo, hi;
        if ((s = parse_char(ps, &lo)) != VKA_OK) goto done;
        hi = lo;
        if (ps->p[0] == '-' && ps->p[1] != ']' && ps->p[1] != 0 && ps->p[1] != '\n') {
            ps->p++;
            if ((s = parse_char(ps, &hi)) != VKA_OK) goto done;
            if (hi < lo) {
                s = fail_at(ps, at, "character range U+%04X-U+%04X is reversed", lo, hi);
                goto done;
            }
        }
        if (!g_grow((void **)&ranges, &cap, n + 1, sizeof *ranges)) { s = oom(); goto done; }
        ranges[n++] = (g_range){lo, hi};
    }
    ps->p++;
    g_node *node = new_node(ps, G_CLASS, open);
    if (!node) { s = oom(); goto done; }
    if ((s = add_class(ps, ranges, n, negate, &node->cls)) != VKA_OK) goto done;
    *out = node;
done:
    free(ranges);
    return s;
}

static uint32_t name_hash(const char *name, size_t len) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)name[i]) * 16777619u;
    return h;
}

/* The slot of the name in the table: its rule, or the empty slot where it goes. */
static uint32_t *name_slot(const parser *ps, const char *name, size_t len) {
    uint32_t mask = (1u << ps->names_bits) - 1, i = name_hash(name, len) & mask;
    for (;; i = (i + 1) & mask) {
        uint32_t r = ps->names[i];
        if (r == G_NONE) return &ps->names[i];
        const char *have = ps->syn->rules[r].name;
        if (strncmp(have, name, len) == 0 && have[len] == 0) return &ps->names[i];
    }
}

/* Keeps the name table at most half full. */
static bool names_room(parser *ps) {
    if (ps->names && (uint64_t)(ps->syn->n_rules + 1) * 2 <= (1u << ps->names_bits)) return true;
    uint32_t bits = ps->names ? ps->names_bits + 1 : 10;
    uint32_t *t = malloc(((size_t)1 << bits) * sizeof *t);
    if (!t) return false;
    memset(t, 0xFF, ((size_t)1 << bits) * sizeof *t);
    free(ps->names);
    ps->names = t;
    ps->names_bits = bits;
    for (uint32_t r = 0; r < ps->syn->n_rules; r++) {
        const char *name = ps->syn->rules[r].name;
        *name_slot(ps, name, strlen(name)) = r;
    }
    return true;
}

static vka_status find_or_add_rule(parser *ps, const char *name, size_t len, uint32_t *out) {
    g_syntax *syn = ps->syn;
    if (!names_room(ps)) return oom();
    uint32_t *slot = name_slot(ps, name, len);
    if (*slot != G_NONE) {
        *out = *slot;
        return VKA_OK;
    }
    if (!g_grow((void **)&syn->rules, &syn->cap_rules, syn->n_rules + 1, sizeof *syn->rules)) return oom();
    g_rule *r = &syn->rules[syn->n_rules];
    memset(r, 0, sizeof *r);
    r->name = malloc(len + 1);
    if (!r->name) return oom();
    memcpy(r->name, name, len);
    r->name[len] = 0;
    r->offset = G_NONE;
    r->ref_offset = G_NONE;
    *slot = syn->n_rules;
    *out = syn->n_rules++;
    return VKA_OK;
}

/* True when p starts "name ::=" (the next rule's definition). */
static bool at_definition(const char *p) {
    while (is_word_char(*p)) p++;
    while (*p == ' ' || *p == '\t') p++;
    return p[0] == ':' && p[1] == ':' && p[2] == '=';
}

static vka_status parse_alternates(parser *ps, bool nested, g_node **out);

static vka_status parse_repeat_count(parser *ps, uint32_t *value) {
    const char *at = ps->p;
    if (*ps->p < '0' || *ps->p > '9') {
        char buf[16];
        return fail_at(ps, ps->p, "expected a number in '{...}', found %s", describe(ps->p, buf));
    }
    uint64_t v = 0;
    while (*ps->p >= '0' && *ps->p <= '9') {
        v = v * 10 + (uint64_t)(*ps->p - '0');
        if (v > VKA_GRAMMAR_MAX_REPEAT)
            return fail_at(ps, at, "repetition count is larger than the limit %u", VKA_GRAMMAR_MAX_REPEAT);
        ps->p++;
    }
    *value = (uint32_t)v;
    return VKA_OK;
}

/* Postfix operator at ps->p applied to *item. */
static vka_status parse_postfix(parser *ps, g_node **item) {
    const char *at = ps->p;
    uint32_t min, max;
    char c = *ps->p;
    if (c == '*') { min = 0; max = G_NONE; ps->p++; }
    else if (c == '+') { min = 1; max = G_NONE; ps->p++; }
    else if (c == '?') { min = 0; max = 1; ps->p++; }
    else {
        ps->p++;
        skip_space(ps, false);
        VKA_TRY(parse_repeat_count(ps, &min));
        skip_space(ps, false);
        max = min;
        if (*ps->p == ',') {
            ps->p++;
            skip_space(ps, false);
            max = G_NONE;
            if (*ps->p != '}') VKA_TRY(parse_repeat_count(ps, &max));
            skip_space(ps, false);
        }
        if (*ps->p != '}') {
            char buf[16];
            return fail_at(ps, ps->p, "expected '}' to close the repetition, found %s", describe(ps->p, buf));
        }
        ps->p++;
        if (max != G_NONE && max < min)
            return fail_at(ps, at, "repetition {%u,%u}: the maximum is below the minimum", min, max);
    }
    g_node *r = new_node(ps, G_REPEAT, at);
    if (!r) return oom();
    r->kids = g_arena_alloc(&ps->syn->arena, sizeof *r->kids);
    if (!r->kids) return oom();
    r->kids[0] = *item;
    r->n_kids = 1;
    r->min = min;
    r->max = max;
    *item = r;
    return VKA_OK;
}

static vka_status parse_group(parser *ps, g_node **out) {
    const char *open = ps->p++;
    if (++ps->depth > VKA_GRAMMAR_MAX_NESTING)
        return fail_at(ps, open, "groups nested deeper than %u levels", VKA_GRAMMAR_MAX_NESTING);
    VKA_TRY(parse_alternates(ps, true, out));
    skip_space(ps, true);
    if (*ps->p != ')') {
        if (*ps->p == 0 || at_definition(ps->p))
            return fail_at(ps, open, "'(' is never closed");
        char buf[16];
        return fail_at(ps, ps->p, "expected ')', found %s", describe(ps->p, buf));
    }
    ps->p++;
    ps->depth--;
    return VKA_OK;
}

/* One atom at ps->p, or *out = NULL when the sequence ends here. */
static vka_status parse_atom(parser *ps, bool nested, g_node **out) {
    char c = *ps->p;
    char buf[16];
    *out = NULL;
    if (c == '"') return parse_literal(ps, out);
    if (c == '[') return parse_class(ps, out);
    if (c == '(') return parse_group(ps, out);
    if (c == '.') {
        g_range all = {0, G_MAX_CP};
        g_node *n = new_node(ps, G_CLASS, ps->p++);
        if (!n) return oom();
        VKA_TRY(add_class(ps, &all, 1, false, &n->cls));
        *out = n;
        return VKA_OK;
    }
    if (is_word_char(c)) {
        const char *start = ps->p;
        if (at_definition(start)) {
            if (nested) return VKA_OK;      /* the caller reports the open '(' */
            return fail_at(ps, start, "a new rule starts here: put it on a line of its own");
        }
        while (is_word_char(*ps->p)) ps->p++;
        g_node *n = new_node(ps, G_REF, start);
        if (!n) return oom();
        VKA_TRY(find_or_add_rule(ps, start, (size_t)(ps->p - start), &n->rule));
        g_rule *r = &ps->syn->rules[n->rule];
        if (r->ref_offset == G_NONE) r->ref_offset = n->offset;
        *out = n;
        return VKA_OK;
    }
    if (c == 0 || c == '\n' || c == '|') return VKA_OK;
    if (c == ')') {
        if (nested) return VKA_OK;
        return fail_at(ps, ps->p, "')' without a matching '('");
    }
    if (c == '*' || c == '+' || c == '?' || c == '{')
        return fail_at(ps, ps->p, "'%c' has nothing before it to repeat", c);
    if (c == ']') return fail_at(ps, ps->p, "']' without a matching '['");
    if (c == '}') return fail_at(ps, ps->p, "'}' without a matching '{'");
    return fail_at(ps, ps->p, "unexpected %s", describe(ps->p, buf));
}

static vka_status parse_sequence(parser *ps, bool nested, g_node **out) {
    g_node *seq = new_node(ps, G_SEQ, ps->p);
    if (!seq) return oom();
    kid_list k = {0};
    vka_status s = VKA_OK;
    for (;;) {
        skip_space(ps, nested);
        g_node *item = NULL;
        if ((s = parse_atom(ps, nested, &item)) != VKA_OK) break;
        if (!item) break;
        for (uint32_t n_postfix = 0;; n_postfix++) {
            skip_space(ps, nested);
            char c = *ps->p;
            if (c != '*' && c != '+' && c != '?' && c != '{') break;
            if (n_postfix == 8) {
                s = fail_at(ps, ps->p, "too many repetition operators on one item");
                goto done;
            }
            if ((s = parse_postfix(ps, &item)) != VKA_OK) goto done;
        }
        if (!kids_push(&k, item)) { s = oom(); break; }
    }
done:
    if (s == VKA_OK && !kids_store(ps, seq, &k)) s = oom();
    free(k.items);
    if (s == VKA_OK) *out = seq;
    return s;
}

static vka_status parse_alternates(parser *ps, bool nested, g_node **out) {
    g_node *alt = new_node(ps, G_ALT, ps->p);
    if (!alt) return oom();
    kid_list k = {0};
    vka_status s = VKA_OK;
    for (;;) {
        g_node *seq = NULL;
        if ((s = parse_sequence(ps, nested, &seq)) != VKA_OK) break;
        if (!kids_push(&k, seq)) { s = oom(); break; }
        if (*ps->p == '|') {
            ps->p++;
            skip_space(ps, true);
            continue;
        }
        if (!nested) {
            /* a line that starts with '|' continues the rule */
            const char *save = ps->p;
            skip_space(ps, true);
            if (*ps->p == '|') {
                ps->p++;
                skip_space(ps, true);
                continue;
            }
            ps->p = save;
        }
        break;
    }
    if (s == VKA_OK && !kids_store(ps, alt, &k)) s = oom();
    free(k.items);
    if (s == VKA_OK) *out = alt;
    return s;
}

static vka_status parse_rule(parser *ps) {
    const char *start = ps->p;
    char buf[16];
    if (!is_word_char(*ps->p)) return fail_at(ps, ps->p, "expected a rule name, found %s", describe(ps->p, buf));
    while (is_word_char(*ps->p)) ps->p++;
    uint32_t id;
    VKA_TRY(find_or_add_rule(ps, start, (size_t)(ps->p - start), &id));
    skip_space(ps, false);
    if (ps->p[0] != ':' || ps->p[1] != ':' || ps->p[2] != '=')
        return fail_at(ps, ps->p, "expected '::=' after the rule name '%s', found %s", ps->syn->rules[id].name,
                       describe(ps->p, buf));
    ps->p += 3;
    g_rule *r = &ps->syn->rules[id];
    if (r->offset != G_NONE) {
        uint32_t line, col;
        g_line_col(ps->text, r->offset, &line, &col);
        return fail_at(ps, start, "rule '%s' is defined twice (first at line %u, column %u)", r->name, line, col);
    }
    r->offset = offset_of(ps, start);
    skip_space(ps, true);
    g_node *body;
    VKA_TRY(parse_alternates(ps, false, &body));
    ps->syn->rules[id].body = body;
    skip_space(ps, false);
    if (*ps->p != 0 && *ps->p != '\n') return fail_at(ps, ps->p, "unexpected %s", describe(ps->p, buf));
    return VKA_OK;
}

vka_status g_parse(const char *text, g_syntax *syn) {
    memset(syn, 0, sizeof *syn);
    syn->text = text;
    if (!text) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "grammar text is NULL");
    if (strlen(text) >= UINT32_MAX / 2) return vka_fail(VKA_ERR_GRAMMAR, "grammar text is too long");
    parser ps = {.syn = syn, .text = text, .p = text};
    skip_space(&ps, true);
    if (*ps.p == 0) return vka_fail(VKA_ERR_GRAMMAR, "empty grammar: no rules defined");
    vka_status s = VKA_OK;
    while (*ps.p && s == VKA_OK) {
        s = parse_rule(&ps);
        skip_space(&ps, true);
    }
    free(ps.names);
    free(ps.classes);
    VKA_TRY(s);
    for (uint32_t i = 0; i < syn->n_rules; i++) {
        g_rule *r = &syn->rules[i];
        if (r->offset == G_NONE)
            return fail_at(&ps, text + r->ref_offset, "undefined rule '%s'", r->name);
    }
    return VKA_OK;
}

void g_syntax_free(g_syntax *syn) {
    for (uint32_t i = 0; i < syn->n_rules; i++) free(syn->rules[i].name);
    free(syn->rules);
    free(syn->classes);
    free(syn->ranges);
    g_arena_free(&syn->arena);
    memset(syn, 0, sizeof *syn);
}
