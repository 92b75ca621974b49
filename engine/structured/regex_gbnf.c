/* regex_gbnf.c — languages as GBNF: a DFA as one rule per state (right
 * recursion, which the matcher runs as tail calls), counted pieces through
 * js_put_repeat, and code point classes either raw or spelled in every way a
 * JSON string may spell them (raw, short escapes, \uXXXX in either case,
 * surrogate pairs). */
#include <stdlib.h>
#include <string.h>

#include "structured/regex_impl.h"

typedef struct memo_entry {
    re_ranges set;
    unsigned kind;      /* spelling, or 100 + digits for hex sets */
    char *atom;
} memo_entry;

/* Renderings already made for this grammar (kept in js_rules across calls),
 * so equal sets share one rule however many strings use them. */
typedef struct gmemo {
    memo_entry *memo;
    size_t n_memo, cap_memo;
    uint32_t *slots;            /* open addressing: index + 1 into memo, 0 empty */
    size_t n_slots;             /* a power of two, at least twice n_memo */
} gmemo;

static uint64_t memo_hash(const re_ranges *set, unsigned kind) {
    uint64_t h = 1469598103934665603ull ^ kind;
    for (size_t i = 0; i < set->n; i++) {
        h = (h ^ set->r[i].lo) * 1099511628211ull;
        h = (h ^ set->r[i].hi) * 1099511628211ull;
    }
    return h ^ (h >> 29);
}

typedef struct gctx {
    js_rules *rules;
    gmemo *m;
    bool failed;
} gctx;

static void gmemo_free(void *p) {
    gmemo *m = p;
    for (size_t i = 0; i < m->n_memo; i++) {
        re_rs_free(&m->memo[i].set);
        free(m->memo[i].atom);
    }
    free(m->memo);
    free(m->slots);
    free(m);
}

/* The grammar's memo, made on first use. */
static bool gctx_init(gctx *g, js_rules *rules) {
    *g = (gctx){.rules = rules};
    if (!rules->memo) {
        if (!(rules->memo = calloc(1, sizeof(gmemo)))) return false;
        rules->memo_free = gmemo_free;
    }
    g->m = rules->memo;
    return true;
}

static const char *memo_find(const gctx *g, const re_ranges *set, unsigned kind) {
    const gmemo *m = g->m;
    if (!m->n_slots) return NULL;
    for (size_t i = memo_hash(set, kind) & (m->n_slots - 1);; i = (i + 1) & (m->n_slots - 1)) {
        uint32_t slot = m->slots[i];
        if (!slot) return NULL;
        const memo_entry *e = &m->memo[slot - 1];
        if (e->kind == kind && re_rs_equal(&e->set, set)) return e->atom;
    }
}

/* Puts entry `index` in the hash slots, growing them to keep them half empty. */
static bool memo_index(gmemo *m, size_t index) {
    if (2 * (m->n_memo + 1) > m->n_slots) {
        size_t n = m->n_slots ? 2 * m->n_slots : 64;
        uint32_t *slots = calloc(n, sizeof *slots);
        if (!slots) return false;
        free(m->slots);
        m->slots = slots;
        m->n_slots = n;
        for (size_t i = 0; i < m->n_memo; i++)
            if (i != index && !memo_index(m, i)) return false;
    }
    size_t i = memo_hash(&m->memo[index].set, m->memo[index].kind) & (m->n_slots - 1);
    while (m->slots[i]) i = (i + 1) & (m->n_slots - 1);
    m->slots[i] = (uint32_t)index + 1;
    return true;
}

/* Records atom for (set, kind); returns the stored copy (NULL on failure). */
static const char *memo_add(gctx *g, const re_ranges *set, unsigned kind, const char *atom) {
    gmemo *m = g->m;
    if (m->n_memo == m->cap_memo) {
        size_t cap = m->cap_memo ? m->cap_memo * 2 : 16;
        memo_entry *grown = realloc(m->memo, cap * sizeof *grown);
        if (!grown) return g->failed = true, NULL;
        m->memo = grown;
        m->cap_memo = cap;
    }
    memo_entry *e = &m->memo[m->n_memo];
    e->kind = kind;
    e->atom = strdup(atom);
    if (!e->atom || !re_rs_copy(&e->set, set)) {
        free(e->atom);
        return g->failed = true, NULL;
    }
    if (!memo_index(m, m->n_memo)) {
        free(e->atom);
        re_rs_free(&e->set);
        return g->failed = true, NULL;
    }
    m->n_memo++;
    return e->atom;
}

/* ---------------------------------------------------------------- raw classes */

static void put_class_char(js_buf *b, uint32_t c) {
    if (c >= 0x20 && c < 0x7F) {
        if (strchr("\\]-[^\"", (int)c)) js_printf(b, "\\%c", (char)c);
        else js_printf(b, "%c", (char)c);
    } else if (c <= 0xFFFF) {
        js_printf(b, "\\u%04X", c);
    } else {
        js_printf(b, "\\U%08X", c);
    }
}

/* [ranges] (the set must not be empty). */
static void put_raw_class(js_buf *b, const re_ranges *s) {
    js_puts(b, "[");
    for (size_t i = 0; i < s->n; i++) {
        put_class_char(b, s->r[i].lo);
        if (s->r[i].hi == s->r[i].lo) continue;
        if (s->r[i].hi > s->r[i].lo + 1) js_puts(b, "-");
        put_class_char(b, s->r[i].hi);
    }
    js_puts(b, "]");
}

/* ---------------------------------------------------------------- hex digits */

/* The hex digit characters of the nibble values in mask (bit v: value v), both cases. */
static void put_nibble_class(js_buf *b, uint32_t mask) {
    js_puts(b, "[");
    for (int pass = 0; pass < 3; pass++) {
        /* digits, then lower-case letters, then upper-case letters */
        uint32_t first = pass == 0 ? 0 : 10, last = pass == 0 ? 9 : 15;
        for (uint32_t v = first; v <= last; v++) {
            if (!(mask >> v & 1)) continue;
            uint32_t w = v;
            while (w + 1 <= last && (mask >> (w + 1) & 1)) w++;
            char base = pass == 0 ? '0' : pass == 1 ? 'a' - 10 : 'A' - 10;
            js_printf(b, "%c", (char)(base + (int)v));
            if (w > v) js_printf(b, "%s%c", w > v + 1 ? "-" : "", (char)(base + (int)w));
            v = w;
        }
    }
    js_puts(b, "]");
}

/* The values of s within [base, base + span) shifted down by base. */
static bool slice(const re_ranges *s, uint32_t base, uint32_t span, re_ranges *out) {
    *out = (re_ranges){0};
    for (size_t i = 0; i < s->n; i++) {
        uint32_t lo = s->r[i].lo > base ? s->r[i].lo : base;
        uint32_t hi = s->r[i].hi < base + span - 1 ? s->r[i].hi : base + span - 1;
        if (lo <= hi && !re_rs_add(out, lo - base, hi - base)) return false;
    }
    return true;
}

static const char *hex_atom(gctx *g, const re_ranges *s, unsigned digits);

/* Alternatives "[d] rest" for the leading digit, grouping digits whose rests are equal. */
static bool hex_alternatives(gctx *g, const re_ranges *s, unsigned digits, js_buf *body) {
    uint32_t span = 1u << (4 * (digits - 1));
    re_ranges subs[16];
    bool ok = true, done[16] = {false};
    for (uint32_t v = 0; v < 16; v++) ok = slice(s, v * span, span, &subs[v]) && ok;
    bool first = true;
    for (uint32_t v = 0; ok && v < 16; v++) {
        if (done[v] || subs[v].n == 0) continue;
        uint32_t mask = 0;
        for (uint32_t w = v; w < 16; w++)
            if (!done[w] && re_rs_equal(&subs[w], &subs[v])) mask |= 1u << w, done[w] = true;
        js_puts(body, first ? "" : " | ");
        first = false;
        put_nibble_class(body, mask);
        const char *rest = hex_atom(g, &subs[v], digits - 1);
        if (!rest) ok = false;
        else if (*rest) js_printf(body, " %s", rest);
    }
    for (uint32_t v = 0; v < 16; v++) re_rs_free(&subs[v]);
    return ok && !body->failed;
}

/* An atom for `digits` hex digits (either case) spelling a value of s ("" for
 * zero digits). */
static const char *hex_atom(gctx *g, const re_ranges *s, unsigned digits) {
    if (digits == 0) return "";
    const char *known = memo_find(g, s, 100 + digits);
    if (known) return known;
    uint32_t span = 1u << (4 * digits);
    js_buf body = {0};
    if (s->n == 1 && s->r[0].lo == 0 && s->r[0].hi == span - 1) {
        put_nibble_class(&body, 0xFFFF);
        if (digits > 1) js_printf(&body, "{%u}", digits);
    } else if (digits == 1) {
        uint32_t mask = 0;
        for (size_t i = 0; i < s->n; i++)
            for (uint32_t v = s->r[i].lo; v <= s->r[i].hi; v++) mask |= 1u << v;
        put_nibble_class(&body, mask);
    } else {
        js_buf alts = {0};
        char name[JS_NAME_CAP];
        bool ok = hex_alternatives(g, s, digits, &alts) && js_rule_new(g->rules, "rehex", alts.data, name);
        js_buf_free(&alts);
        if (!ok) {
            g->failed = true;
            return NULL;
        }
        js_puts(&body, name);
    }
    const char *atom = body.failed ? NULL : memo_add(g, s, 100 + digits, body.data);
    js_buf_free(&body);
    if (!atom) g->failed = true;
    return atom;
}

/* ---------------------------------------------------------------- JSON spelling */

static const struct {
    uint32_t cp;
    char letter;
} short_escapes[] = {{'"', '"'}, {'\\', '\\'}, {'/', '/'}, {'\b', 'b'}, {'\f', 'f'}, {'\n', 'n'}, {'\r', 'r'}, {'\t', 't'}};

/* Alternatives after "\\u" for the code points above U+FFFF: high surrogate,
 * "\\u", low surrogate, grouped by equal sets of low surrogates. */
static bool pair_alternatives(gctx *g, const re_ranges *astral, js_buf *out) {
    bool first = true, ok = true;
    uint32_t hi = 0xD800;
    while (ok && hi <= 0xDBFF) {
        re_ranges lows, his = {0};
        ok = slice(astral, 0x10000 + ((hi - 0xD800) << 10), 1024, &lows);
        if (!ok || lows.n == 0) {
            re_rs_free(&lows);
            hi++;
            continue;
        }
        uint32_t end = hi;
        /* consecutive high surrogates with the same low set */
        while (ok && end < 0xDBFF) {
            re_ranges next;
            ok = slice(astral, 0x10000 + ((end + 1 - 0xD800) << 10), 1024, &next);
            bool same = ok && re_rs_equal(&next, &lows);
            re_rs_free(&next);
            if (!same) break;
            end++;
        }
        for (size_t i = 0; i < lows.n; i++) lows.r[i].lo += 0xDC00, lows.r[i].hi += 0xDC00;
        ok = ok && re_rs_add(&his, hi, end);
        const char *h = ok ? hex_atom(g, &his, 4) : NULL;
        const char *l = h ? hex_atom(g, &lows, 4) : NULL;
        if (l) js_printf(out, "%s%s \"\\\\u\" %s", first ? "" : " | ", h, l);
        ok = ok && l;
        first = false;
        re_rs_free(&lows), re_rs_free(&his);
        hi = end + 1;
    }
    return ok;
}

/* The body of the rule for one JSON string character of set s. */
static bool json_char_body(gctx *g, const re_ranges *s, js_buf *body) {
    re_ranges forbidden = {0}, allowed = {0}, raw = {0}, bmp = {0}, astral = {0}, lim = {0};
    bool ok = re_rs_add(&forbidden, 0, 0x1F) && re_rs_add(&forbidden, '"', '"') && re_rs_add(&forbidden, '\\', '\\') &&
              re_rs_complement(&forbidden, &allowed) && re_rs_intersect(s, &allowed, &raw) &&
              re_rs_add(&lim, 0, 0xFFFF) && re_rs_intersect(s, &lim, &bmp);
    re_rs_free(&lim);
    ok = ok && re_rs_add(&lim, 0x10000, RE_CP_END - 1) && re_rs_intersect(s, &lim, &astral);
    const char *sep = "";
    if (ok && raw.n) {
        put_raw_class(body, &raw);
        sep = " | ";
    }
    /* the escapes: "\\" then a letter, or "u" and hex digits */
    js_buf esc = {0};
    uint32_t n_letters = 0;
    js_buf letters = {0};
    for (size_t i = 0; ok && i < sizeof short_escapes / sizeof *short_escapes; i++)
        if (re_rs_has(s, short_escapes[i].cp)) {
            js_printf(&letters, "%s%c", short_escapes[i].letter == '"' || short_escapes[i].letter == '\\' ? "\\" : "",
                      short_escapes[i].letter);
            n_letters++;
        }
    if (n_letters) js_printf(&esc, "[%s]", letters.data);
    if (ok && (bmp.n || astral.n)) {
        js_printf(&esc, "%s\"u\" (", n_letters ? " | " : "");
        const char *h = bmp.n ? hex_atom(g, &bmp, 4) : "";
        ok = h != NULL;
        if (ok && bmp.n) js_puts(&esc, h);
        if (ok && astral.n) {
            if (bmp.n) js_puts(&esc, " | ");
            ok = pair_alternatives(g, &astral, &esc);
        }
        js_puts(&esc, ")");
    }
    if (ok && esc.len) js_printf(body, "%s\"\\\\\" (%s)", sep, esc.data);
    ok = ok && !esc.failed && !letters.failed;
    js_buf_free(&esc), js_buf_free(&letters);
    re_rs_free(&forbidden), re_rs_free(&allowed), re_rs_free(&raw), re_rs_free(&bmp), re_rs_free(&astral);
    re_rs_free(&lim);
    return ok && !body->failed;
}

/* An atom for one code point of s (not empty) in the spelling. */
static const char *class_atom(gctx *g, const re_ranges *s, re_spelling spelling) {
    const char *known = memo_find(g, s, (unsigned)spelling);
    if (known) return known;
    js_buf body = {0};
    bool ok;
    if (spelling == RE_RAW) {
        put_raw_class(&body, s);
        ok = !body.failed;
    } else {
        js_buf rule = {0};
        char name[JS_NAME_CAP];
        ok = json_char_body(g, s, &rule) && js_rule_new(g->rules, "rechar", rule.data, name);
        js_buf_free(&rule);
        if (ok) js_puts(&body, name);
    }
    const char *atom = ok && !body.failed ? memo_add(g, s, (unsigned)spelling, body.data) : NULL;
    js_buf_free(&body);
    if (!atom) g->failed = true;
    return atom;
}

/* ---------------------------------------------------------------- DFAs */

/* The code points of the moves from s to t. */
static bool move_set(const re_dfa *d, uint32_t s, uint32_t t, re_ranges *out) {
    *out = (re_ranges){0};
    for (size_t i = 0; i < d->n_ranges; i++)
        if (d->next[(size_t)s * d->n_syms + d->range_sym[i]] == t && !re_rs_add(out, d->ranges[i].lo, d->ranges[i].hi))
            return false;
    re_rs_normalize(out);
    return true;
}

/* Whether state s accepts and has no moves (then a reference to it is "" ). */
static bool is_final_sink(const re_dfa *d, uint32_t s, uint32_t dead) {
    if (!d->accept[s]) return false;
    for (uint32_t y = 0; y < d->n_syms; y++)
        if (d->next[(size_t)s * d->n_syms + y] != dead) return false;
    return true;
}

/* One rule per live state; the atom of the start state into expr. */
static bool put_dfa(gctx *g, const re_dfa *d, re_spelling spelling, js_buf *expr) {
    uint32_t n = d->n_states, dead = re_dfa_dead(d);
    char (*names)[JS_NAME_CAP] = malloc((n + 1u) * sizeof *names);
    uint8_t *seen = calloc(n + 1u, 1);
    bool ok = names && seen;
    for (uint32_t s = 0; ok && s < n; s++) js_rule_name(g->rules, "re", names[s]);
    if (ok && is_final_sink(d, d->start, dead)) {
        js_puts(expr, "\"\"");
        free(names), free(seen);
        return true;
    }
    for (uint32_t s = 0; ok && s < n; s++) {
        if (s == dead || is_final_sink(d, s, dead)) continue;
        js_buf body = {0};
        memset(seen, 0, n);
        for (uint32_t y = 0; ok && y < d->n_syms; y++) {
            uint32_t t = d->next[(size_t)s * d->n_syms + y];
            if (t == dead || seen[t]) continue;
            seen[t] = 1;
            re_ranges set;
            ok = move_set(d, s, t, &set);
            const char *atom = ok ? class_atom(g, &set, spelling) : NULL;
            re_rs_free(&set);
            ok = atom != NULL;
            if (!ok) break;
            js_printf(&body, "%s%s", body.len ? " | " : "", atom);
            if (!is_final_sink(d, t, dead)) js_printf(&body, " %s", names[t]);
        }
        if (d->accept[s]) js_printf(&body, "%s\"\"", body.len ? " | " : "");
        ok = ok && !body.failed && js_rule_add(g->rules, names[s], body.data);
        js_buf_free(&body);
    }
    if (ok) js_puts(expr, names[d->start]);
    free(names), free(seen);
    return ok && !g->failed;
}

static bool put_piece(gctx *g, const re_piece *p, re_spelling spelling, js_buf *expr) {
    js_puts(expr, "(");
    bool ok = true;
    if (p->pre_w > 0) {
        ok = put_dfa(g, p->pre, spelling, expr);
        js_puts(expr, " ");
    }
    const char *atom = ok ? class_atom(g, &p->cls, spelling) : NULL;
    ok = atom && js_put_repeat(g->rules, expr, atom, NULL, p->min, p->max);
    if (ok && p->suf_w > 0) {
        js_puts(expr, " ");
        ok = put_dfa(g, p->suf, spelling, expr);
    }
    js_puts(expr, ")");
    return ok && !expr->failed;
}

/* ---------------------------------------------------------------- memo */

/* The bytes of a DFA: equal bytes, equal automata, equal GBNF. */
static void put_dfa_key(js_buf *k, const re_dfa *d) {
    uint32_t head[4] = {d ? d->n_states : UINT32_MAX, d ? d->n_syms : 0, d ? d->start : 0, d ? (uint32_t)d->n_ranges : 0};
    js_put(k, (const char *)head, sizeof head);
    if (!d) return;
    js_put(k, (const char *)d->ranges, d->n_ranges * sizeof *d->ranges);
    js_put(k, (const char *)d->range_sym, d->n_ranges * sizeof *d->range_sym);
    js_put(k, (const char *)d->next, (size_t)d->n_states * d->n_syms * sizeof *d->next);
    js_put(k, (const char *)d->accept, d->n_states);
}

/* "X", the spelling, the DFA, then each piece. */
static bool lang_key(const re_lang *l, re_spelling spelling, js_buf *k) {
    uint32_t head[2] = {(uint32_t)spelling, (uint32_t)l->n_pieces};
    js_puts(k, "X");
    js_put(k, (const char *)head, sizeof head);
    put_dfa_key(k, l->dfa);
    for (size_t i = 0; i < l->n_pieces; i++) {
        const re_piece *p = &l->pieces[i];
        uint64_t nums[5] = {p->pre_w, p->suf_w, p->min, p->max, p->cls.n};
        js_put(k, (const char *)nums, sizeof nums);
        js_put(k, (const char *)p->cls.r, p->cls.n * sizeof *p->cls.r);
        put_dfa_key(k, p->pre_w > 0 ? p->pre : NULL);
        put_dfa_key(k, p->suf_w > 0 ? p->suf : NULL);
    }
    return !k->failed;
}

static vka_status to_gbnf_uncached(const re_lang *l, re_spelling spelling, js_rules *rules, js_buf *expr);

/* Equal languages recur (a pattern or format in every node that uses its
 * definition, the keys of equal objects): each is written once, and its
 * atom reused. */
vka_status re_to_gbnf(const re_lang *l, re_spelling spelling, js_rules *rules, js_buf *expr) {
    if (!l || !rules || !expr) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "re_to_gbnf: NULL argument");
    if (re_is_empty(l)) return vka_fail(VKA_ERR_GRAMMAR, "no string satisfies the constraints (empty language)");
    js_buf key = {0}, atom = {0};
    if (!lang_key(l, spelling, &key)) {
        js_buf_free(&key);
        return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory writing a regular language as GBNF");
    }
    const char *known = js_rules_recall(rules, key.data, key.len);
    vka_status s = VKA_OK;
    if (known) {
        js_puts(expr, known);
    } else {
        s = to_gbnf_uncached(l, spelling, rules, &atom);
        if (s == VKA_OK && (atom.failed || !js_rules_remember(rules, key.data, key.len, atom.data)))
            s = vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory writing a regular language as GBNF");
        if (s == VKA_OK) js_puts(expr, atom.data);
    }
    js_buf_free(&key);
    js_buf_free(&atom);
    if (s == VKA_OK && expr->failed) s = vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory writing a regular language as GBNF");
    return s;
}

static vka_status to_gbnf_uncached(const re_lang *l, re_spelling spelling, js_rules *rules, js_buf *expr) {
    gctx g;
    if (!gctx_init(&g, rules)) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory writing a regular language as GBNF");
    bool dfa_part = !re_dfa_is_empty(l->dfa), ok = true;
    size_t parts = (dfa_part ? 1 : 0) + l->n_pieces;
    if (parts > 1) js_puts(expr, "(");
    if (dfa_part) ok = put_dfa(&g, l->dfa, spelling, expr);
    for (size_t i = 0; ok && i < l->n_pieces; i++) {
        if (dfa_part || i > 0) js_puts(expr, " | ");
        ok = put_piece(&g, &l->pieces[i], spelling, expr);
    }
    if (parts > 1) js_puts(expr, ")");
    if (!ok || expr->failed || rules->text.failed)
        return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory writing a regular language as GBNF");
    return VKA_OK;
}

vka_status re_class_gbnf(const uint32_t *lo, const uint32_t *hi, size_t n, re_spelling spelling, js_rules *rules,
                         js_buf *expr) {
    if ((n && (!lo || !hi)) || !rules || !expr) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "re_class_gbnf: NULL argument");
    re_ranges set = {0};
    bool ok = true;
    for (size_t i = 0; ok && i < n; i++) ok = lo[i] > hi[i] || re_rs_add(&set, lo[i], hi[i]);
    if (ok) re_rs_normalize(&set);
    ok = ok && re_rs_scalar(&set);
    if (ok && set.n == 0) {
        re_rs_free(&set);
        return vka_fail(VKA_ERR_GRAMMAR, "empty character class");
    }
    gctx g;
    ok = ok && gctx_init(&g, rules);
    const char *atom = ok ? class_atom(&g, &set, spelling) : NULL;
    if (atom) js_puts(expr, atom);
    ok = atom && !expr->failed && !rules->text.failed;
    re_rs_free(&set);
    return ok ? VKA_OK : vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory writing a character class as GBNF");
}
