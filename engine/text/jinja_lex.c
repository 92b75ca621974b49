/* jinja_lex.c — template text to tokens, as @huggingface/jinja's lexer does
 * it: first the text-level passes (one trailing newline dropped,
 * lstrip_blocks, trim_blocks, transformers' {% generation %} tags removed),
 * then tokens with {%- -%} whitespace control. Each byte keeps the line it
 * came from, for error messages. */
#include <stdlib.h>
#include <string.h>

#include "jinja_internal.h"

typedef struct jsrc {
    char *s;
    int *line;
    size_t len;
} jsrc;

static jsrc src_new(jctx *ctx, size_t cap) {
    jsrc out = {.s = jarena_alloc(&ctx->arena, cap + 1, ctx), .line = jarena_alloc(&ctx->arena, (cap + 1) * sizeof(int), ctx)};
    return out;
}

static void src_put(jsrc *out, const jsrc *in, size_t i) {
    out->s[out->len] = in->s[i];
    out->line[out->len++] = in->line[i];
}

/* Line starts as JavaScript's multiline ^ sees them: after \n, \r, U+2028, U+2029. */
static bool after_line_break(const jsrc *in, size_t i) {
    if (i == 0) return true;
    char c = in->s[i - 1];
    if (c == '\n' || c == '\r') return true;
    return i >= 3 && (unsigned char)in->s[i - 3] == 0xe2 && (unsigned char)in->s[i - 2] == 0x80 &&
           ((unsigned char)c == 0xa8 || (unsigned char)c == 0xa9);
}

/* lstrip_blocks: spaces and tabs from a line's start up to "{%", "{#" or "{-". */
static jsrc pass_lstrip(jctx *ctx, const jsrc *in) {
    jsrc out = src_new(ctx, in->len);
    for (size_t i = 0; i < in->len;) {
        if (after_line_break(in, i)) {
            size_t j = i;
            while (j < in->len && (in->s[j] == ' ' || in->s[j] == '\t')) j++;
            if (j + 1 < in->len && in->s[j] == '{' && strchr("#%-", in->s[j + 1]) && in->s[j + 1]) i = j;
        }
        src_put(&out, in, i++);
    }
    return out;
}

/* trim_blocks: the newline right after "#}", "%}" or "-}". */
static jsrc pass_trim(jctx *ctx, const jsrc *in) {
    jsrc out = src_new(ctx, in->len);
    for (size_t i = 0; i < in->len;) {
        if (i + 2 < in->len && in->s[i] && strchr("#%-", in->s[i]) && in->s[i + 1] == '}' && in->s[i + 2] == '\n') {
            src_put(&out, in, i);
            src_put(&out, in, i + 1);
            i += 3;
        } else {
            src_put(&out, in, i++);
        }
    }
    return out;
}

static size_t skip_ws(const jsrc *in, size_t i) {
    size_t w;
    while (i < in->len && (w = jws_len(in->s + i, in->len - i)) > 0) i += w;
    return i;
}

/* Length of a {% generation %} or {% endgeneration %} tag at i (0 if none),
 * with its modifiers and the whitespace after it. */
static size_t generation_tag(const jsrc *in, size_t i, bool *lstrip, bool *rstrip, size_t *after) {
    if (i + 2 > in->len || in->s[i] != '{' || in->s[i + 1] != '%') return 0;
    size_t j = i + 2;
    *lstrip = j < in->len && in->s[j] == '-';
    j = skip_ws(in, j + *lstrip);
    if (in->len - j >= 3 && memcmp(in->s + j, "end", 3) == 0 && in->len - j >= 13 &&
        memcmp(in->s + j + 3, "generation", 10) == 0)
        j += 3;
    if (in->len - j < 10 || memcmp(in->s + j, "generation", 10) != 0) return 0;
    j = skip_ws(in, j + 10);
    *rstrip = j < in->len && in->s[j] == '-';
    j += *rstrip;
    if (in->len - j < 2 || in->s[j] != '%' || in->s[j + 1] != '}') return 0;
    *after = j + 2;
    return skip_ws(in, j + 2) - i;
}

static jsrc pass_generation(jctx *ctx, const jsrc *in) {
    jsrc out = src_new(ctx, in->len);
    size_t last = 0; /* in index where the copied text resumes */
    for (size_t i = 0; i < in->len;) {
        bool lstrip, rstrip;
        size_t after, n = generation_tag(in, i, &lstrip, &rstrip, &after);
        if (!n) {
            i++;
            continue;
        }
        size_t end = i, w;
        while (lstrip && end > last && (w = jws_len_before(in->s + last, end - last)) > 0) end -= w;
        for (size_t k = last; k < end; k++) src_put(&out, in, k);
        if (!rstrip)
            for (size_t k = after; k < i + n; k++) src_put(&out, in, k);
        last = i = i + n;
    }
    for (size_t k = last; k < in->len; k++) src_put(&out, in, k);
    return out;
}

static jsrc preprocess(jctx *ctx, const char *text, size_t len) {
    jsrc in = src_new(ctx, len);
    int line = 1;
    for (size_t i = 0; i < len; i++) {
        in.s[i] = text[i];
        in.line[i] = line;
        if (text[i] == '\n') line++;
    }
    in.len = len;
    if (in.len && in.s[in.len - 1] == '\n') in.len--;
    jsrc a = pass_lstrip(ctx, &in);
    jsrc b = pass_trim(ctx, &a);
    return pass_generation(ctx, &b);
}

/* ---------------------------------------------------------------- tokens */

typedef struct jlexer {
    jctx *ctx;
    jsrc src;
    size_t pos;
    jtokens *out;
    int curly_depth;
} jlexer;

static bool is_word(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}
static bool is_digit(char c) { return c >= '0' && c <= '9'; }

static int line_at(const jlexer *lx) {
    if (lx->src.len == 0) return 1;
    return lx->src.line[lx->pos < lx->src.len ? lx->pos : lx->src.len - 1];
}

static _Noreturn void lex_fail(jlexer *lx, const char *what) {
    lx->ctx->line = line_at(lx);
    jfail(lx->ctx, "%s", what);
}

static void push(jlexer *lx, jtok_type type, const char *value, size_t len) {
    jtokens *t = lx->out;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 256;
        jtok *items = jarena_alloc(&lx->ctx->arena, cap * sizeof *items, lx->ctx);
        if (t->n) memcpy(items, t->items, t->n * sizeof *items);
        t->items = items;
        t->cap = cap;
    }
    t->items[t->n++] = (jtok){.type = type, .line = line_at(lx), .value = jstr_new(lx->ctx, value, len)};
}

static jtok_type last_type(const jlexer *lx, bool *none) {
    *none = lx->out->n == 0;
    return *none ? JT_TEXT : lx->out->items[lx->out->n - 1].type;
}

/* Like the reference's consumeWhile: running into the end of the input is an error. */
static size_t consume_while(jlexer *lx, bool (*pred)(char)) {
    size_t start = lx->pos;
    while (lx->pos < lx->src.len && pred(lx->src.s[lx->pos]))
        if (++lx->pos >= lx->src.len) lex_fail(lx, "Unexpected end of input");
    return lx->pos - start;
}

static void consume_ws(jlexer *lx) {
    size_t w;
    while (lx->pos < lx->src.len && (w = jws_len(lx->src.s + lx->pos, lx->src.len - lx->pos)) > 0)
        if ((lx->pos += w) >= lx->src.len) lex_fail(lx, "Unexpected end of input");
}

static void skip_leading_ws(jlexer *lx) {
    size_t w;
    while (lx->pos < lx->src.len && (w = jws_len(lx->src.s + lx->pos, lx->src.len - lx->pos)) > 0) lx->pos += w;
}

static void strip_trailing_ws(jlexer *lx) {
    jtokens *t = lx->out;
    if (!t->n || t->items[t->n - 1].type != JT_TEXT) return;
    jstr *s = t->items[t->n - 1].value;
    size_t w;
    while (s->len && (w = jws_len_before(s->s, s->len)) > 0) s->len -= w;
    s->s[s->len] = '\0';
    if (s->len == 0) t->n--;
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static void lex_string(jlexer *lx, char quote) {
    vka_chat_buf *buf = jbuf_open(lx->ctx);
    const char *s = lx->src.s;
    size_t len = lx->src.len;
    for (;;) {
        if (lx->pos >= len) {
            lex_fail(lx, "Unexpected end of input");
        }
        char c = s[lx->pos++];
        if (c == quote) break;
        if (c != '\\') {
            vka_chat_buf_append(buf, &c, 1);
            continue;
        }
        if (lx->pos >= len) {
            lex_fail(lx, "Unexpected end of input");
        }
        char e = s[lx->pos++];
        char plain = 0;
        switch (e) {
        case 'n': plain = '\n'; break;
        case 't': plain = '\t'; break;
        case 'r': plain = '\r'; break;
        case 'b': plain = '\b'; break;
        case 'f': plain = '\f'; break;
        case 'v': plain = '\v'; break;
        case '\'': case '"': case '\\': plain = e; break;
        default: break;
        }
        if (plain) {
            vka_chat_buf_append(buf, &plain, 1);
        } else if (e == 'x' || e == 'u') {
            size_t digits = e == 'x' ? 2 : 4;
            unsigned cp = 0;
            for (size_t k = 0; k < digits; k++) {
                int h = lx->pos + k < len ? hex_value(s[lx->pos + k]) : -1;
                if (h < 0) {
                    lex_fail(lx, "Invalid hexadecimal escape sequence");
                }
                cp = cp * 16 + (unsigned)h;
            }
            lx->pos += digits;
            if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd; /* a lone UTF-16 half has no UTF-8 form */
            char utf8[4];
            size_t n = 0;
            if (cp < 0x80) utf8[n++] = (char)cp;
            else if (cp < 0x800) utf8[n++] = (char)(0xc0 | (cp >> 6)), utf8[n++] = (char)(0x80 | (cp & 0x3f));
            else {
                utf8[n++] = (char)(0xe0 | (cp >> 12));
                utf8[n++] = (char)(0x80 | ((cp >> 6) & 0x3f));
                utf8[n++] = (char)(0x80 | (cp & 0x3f));
            }
            vka_chat_buf_append(buf, utf8, n);
        } else {
            lex_fail(lx, "Unexpected escaped character");
        }
    }
    jstr *text = jv_buf_string(lx->ctx, buf).u.s;
    push(lx, JT_STRING, text->s, text->len);
}

typedef struct jrule {
    const char *seq;
    jtok_type type;
} jrule;

/* The reference's table, in its order (longer operators before their prefixes). */
static const jrule rules[] = {
    {"{%", JT_OPEN_STMT}, {"%}", JT_CLOSE_STMT}, {"{{", JT_OPEN_EXPR}, {"}}", JT_CLOSE_EXPR}, {"(", JT_LPAREN},
    {")", JT_RPAREN}, {"{", JT_LBRACE}, {"}", JT_RBRACE}, {"[", JT_LBRACKET}, {"]", JT_RBRACKET}, {",", JT_COMMA},
    {".", JT_DOT}, {":", JT_COLON}, {"|", JT_PIPE}, {"<=", JT_CMP}, {">=", JT_CMP}, {"==", JT_CMP}, {"!=", JT_CMP},
    {"<", JT_CMP}, {">", JT_CMP}, {"+", JT_ADD}, {"-", JT_ADD}, {"~", JT_ADD}, {"**", JT_POW}, {"*", JT_MUL},
    {"//", JT_MUL}, {"/", JT_MUL}, {"%", JT_MUL}, {"=", JT_EQUALS},
};

static bool lex_rule(jlexer *lx) {
    for (size_t r = 0; r < sizeof rules / sizeof rules[0]; r++) {
        const char *seq = rules[r].seq;
        size_t n = strlen(seq);
        if (strcmp(seq, "}}") == 0 && lx->curly_depth > 0) continue; /* "}}" closing a dict literal */
        if (lx->src.len - lx->pos < n || memcmp(lx->src.s + lx->pos, seq, n) != 0) continue;
        push(lx, rules[r].type, seq, n);
        if (rules[r].type == JT_OPEN_EXPR) lx->curly_depth = 0;
        else if (rules[r].type == JT_LBRACE) lx->curly_depth++;
        else if (rules[r].type == JT_RBRACE) lx->curly_depth--;
        lx->pos += n;
        return true;
    }
    return false;
}

/* Text up to the next "{%", "{{" or "{#". */
static bool lex_text(jlexer *lx) {
    size_t end = lx->pos;
    const char *s = lx->src.s;
    while (end < lx->src.len) {
        if (s[end] == '{' && end + 1 < lx->src.len && (s[end + 1] == '%' || s[end + 1] == '{' || s[end + 1] == '#'))
            break;
        end++;
    }
    if (end == lx->pos) return false;
    push(lx, JT_TEXT, s + lx->pos, end - lx->pos);
    lx->pos = end;
    return true;
}

static void lex_comment(jlexer *lx) {
    lx->pos += 2;
    bool strip_before = lx->pos < lx->src.len && lx->src.s[lx->pos] == '-';
    lx->pos += strip_before;
    size_t end = lx->pos;
    while (end + 1 < lx->src.len && !(lx->src.s[end] == '#' && lx->src.s[end + 1] == '}')) end++;
    if (end + 1 >= lx->src.len) lex_fail(lx, "Missing end of comment tag");
    bool strip_after = end > lx->pos && lx->src.s[end - 1] == '-';
    if (strip_before) strip_trailing_ws(lx);
    push(lx, JT_COMMENT, lx->src.s + lx->pos, end - lx->pos - strip_after);
    lx->pos = end + 2;
    if (strip_after) skip_leading_ws(lx);
}

static bool is_digit_pred(char c) { return is_digit(c); }
static bool is_word_pred(char c) { return is_word(c); }

/* A number, after an optional sign already consumed (`start` is where the token begins). */
static void lex_number(jlexer *lx, size_t start, bool after_dot) {
    consume_while(lx, is_digit_pred);
    if (!after_dot && lx->pos + 1 < lx->src.len && lx->src.s[lx->pos] == '.' && is_digit(lx->src.s[lx->pos + 1])) {
        lx->pos++;
        consume_while(lx, is_digit_pred);
    }
    push(lx, JT_NUMBER, lx->src.s + start, lx->pos - start);
}

static void lex_one(jlexer *lx) {
    bool none;
    jtok_type last = last_type(lx, &none);
    const char *s = lx->src.s;
    if ((none || last == JT_CLOSE_STMT || last == JT_CLOSE_EXPR || last == JT_COMMENT) && lex_text(lx)) return;
    size_t p = lx->pos, len = lx->src.len;
    if (s[p] == '{' && p + 1 < len) {
        if (s[p + 1] == '#') return lex_comment(lx);
        if (p + 2 < len && s[p + 2] == '-' && (s[p + 1] == '%' || s[p + 1] == '{')) {
            strip_trailing_ws(lx);
            push(lx, s[p + 1] == '%' ? JT_OPEN_STMT : JT_OPEN_EXPR, s + p, 2);
            if (s[p + 1] == '{') lx->curly_depth = 0;
            lx->pos += 3;
            return;
        }
    }
    consume_ws(lx);
    p = lx->pos;
    char c = s[p];
    if (c == '-' && p + 2 < len && s[p + 2] == '}' && (s[p + 1] == '%' || s[p + 1] == '}')) {
        push(lx, s[p + 1] == '%' ? JT_CLOSE_STMT : JT_CLOSE_EXPR, s + p + 1, 2);
        lx->pos += 3;
        skip_leading_ws(lx);
        return;
    }
    if (c == '-' || c == '+') {
        if (none || last == JT_TEXT) lex_fail(lx, "Unexpected character");
        if (!(last == JT_IDENT || last == JT_NUMBER || last == JT_STRING || last == JT_RPAREN || last == JT_RBRACKET)) {
            lx->pos++;
            if (lx->pos < len && is_digit(s[lx->pos])) return lex_number(lx, p, false);
            push(lx, JT_UNARY, s + p, 1);
            return;
        }
    }
    if (lex_rule(lx)) return;
    if (c == '\'' || c == '"') {
        lx->pos++;
        return lex_string(lx, c);
    }
    if (is_digit(c)) return lex_number(lx, p, last == JT_DOT && !none);
    if (is_word(c)) {
        size_t n = consume_while(lx, is_word_pred);
        push(lx, JT_IDENT, s + p, n);
        return;
    }
    lex_fail(lx, "Unexpected character");
}

void jtokenize(jctx *ctx, const char *text, size_t len, jtokens *out) {
    jlexer lx = {.ctx = ctx, .src = preprocess(ctx, text, len), .out = out};
    while (lx.pos < lx.src.len) lex_one(&lx);
}
