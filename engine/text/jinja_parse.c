/* jinja_parse.c — tokens to a syntax tree, with @huggingface/jinja's
 * grammar and operator precedence (which differ from Python Jinja's in
 * places, e.g. `~` binds like `+` and tests bind tighter than `*`). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jinja_internal.h"

typedef struct jparser {
    jctx *ctx;
    const jtokens *t;
    size_t cur;
} jparser;

typedef struct jnodes {
    jnode **items;
    size_t n, cap;
} jnodes;

static const jtok *tok_at(const jparser *p, size_t k) { return p->cur + k < p->t->n ? &p->t->items[p->cur + k] : NULL; }

static _Noreturn void parse_fail(jparser *p, const char *what) {
    const jtok *t = tok_at(p, 0);
    p->ctx->line = t ? t->line : p->t->n ? p->t->items[p->t->n - 1].line : 1;
    jfail(p->ctx, "%s", what);
}

static const jtok *next(jparser *p) {
    const jtok *t = tok_at(p, 0);
    if (!t) parse_fail(p, "Unexpected end of template");
    p->cur++;
    return t;
}

static bool is(const jparser *p, jtok_type type) {
    const jtok *t = tok_at(p, 0);
    return t && t->type == type;
}

static bool is_ident(const jparser *p, size_t k, const char *name) {
    const jtok *t = tok_at(p, k);
    return t && t->type == JT_IDENT && strcmp(t->value->s, name) == 0;
}

/* "{%" followed by one of the names (NULL-terminated list). */
static bool is_statement(const jparser *p, const char *const *names) {
    if (!is(p, JT_OPEN_STMT)) return false;
    for (; *names; names++)
        if (is_ident(p, 1, *names)) return true;
    return false;
}

static const jtok *expect(jparser *p, jtok_type type, const char *what) {
    const jtok *t = tok_at(p, 0);
    if (!t || t->type != type) parse_fail(p, what);
    p->cur++;
    return t;
}

static void expect_ident(jparser *p, const char *name) {
    if (!is_ident(p, 0, name)) {
        char msg[64];
        snprintf(msg, sizeof msg, "Expected %s", name);
        parse_fail(p, msg);
    }
    p->cur++;
}

static jnode *node(jparser *p, jnode_kind kind) {
    jnode *n = jarena_alloc(&p->ctx->arena, sizeof *n, p->ctx);
    n->kind = kind;
    const jtok *t = tok_at(p, 0);
    n->line = t ? t->line : p->t->n ? p->t->items[p->t->n - 1].line : 1;
    return n;
}

static void nodes_push(jparser *p, jnodes *list, jnode *n) {
    if (list->n == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 4;
        jnode **items = jarena_alloc(&p->ctx->arena, cap * sizeof *items, p->ctx);
        if (list->n) memcpy(items, list->items, list->n * sizeof *items);
        list->items = items;
        list->cap = cap;
    }
    list->items[list->n++] = n;
}

static void enter(jparser *p) {
    if (++p->ctx->depth > p->ctx->max_depth) parse_fail(p, "the template is nested too deeply");
}

static jnode *parse_any(jparser *p);
static jnode *parse_expression(jparser *p);
static jnode *parse_primary(jparser *p);
static jnode *parse_call(jparser *p, jnode *callee);

/* Statements up to "{% <one of names>". */
static jnodes parse_body(jparser *p, const char *const *names) {
    jnodes body = {0};
    while (!is_statement(p, names)) {
        if (!tok_at(p, 0)) parse_fail(p, "Unexpected end of template: a block is not closed");
        nodes_push(p, &body, parse_any(p));
    }
    return body;
}

static void end_tag(jparser *p, const char *name) {
    expect(p, JT_OPEN_STMT, "Expected {% token");
    expect_ident(p, name);
    expect(p, JT_CLOSE_STMT, "Expected %} token");
}

/* ---------------------------------------------------------------- expressions */

static jnode *sequence(jparser *p, bool primary) {
    jnode *first = primary ? parse_primary(p) : parse_expression(p);
    if (!is(p, JT_COMMA)) return first;
    jnode *tuple = node(p, N_TUPLE);
    jnodes items = {0};
    nodes_push(p, &items, first);
    while (is(p, JT_COMMA)) {
        p->cur++;
        nodes_push(p, &items, primary ? parse_primary(p) : parse_expression(p));
    }
    tuple->items = items.items;
    tuple->n = items.n;
    return tuple;
}

static jnode *binary(jparser *p, const char *op, jnode *left, jnode *right) {
    jnode *n = node(p, N_BINARY);
    n->str = jstr_new(p->ctx, op, strlen(op));
    n->a = left;
    n->b = right;
    n->line = left->line;
    return n;
}

static jnode *parse_args_list(jparser *p, bool parameters, size_t *count) {
    jnodes args = {0};
    bool saw_keyword = false, saw_spread = false;
    expect(p, JT_LPAREN, "Expected opening parenthesis for arguments list");
    while (!is(p, JT_RPAREN)) {
        if (!tok_at(p, 0)) parse_fail(p, "Expected closing parenthesis for arguments list");
        bool kw_spread = is(p, JT_POW), spread = is(p, JT_MUL) && strcmp(tok_at(p, 0)->value->s, "*") == 0;
        if (parameters && (kw_spread || spread)) parse_fail(p, "Argument unpacking is not allowed in parameter declarations");
        if (kw_spread) {
            p->cur++;
            jnode *n = node(p, N_KWSPREAD);
            n->a = parse_expression(p);
            nodes_push(p, &args, n);
            if (is(p, JT_COMMA)) p->cur++;
            if (!is(p, JT_RPAREN)) parse_fail(p, "`**` must be applied to the final argument");
            break;
        }
        jnode *arg;
        if (spread) {
            if (saw_spread) parse_fail(p, "Only one `*` argument unpacking is allowed");
            saw_spread = true;
            p->cur++;
            arg = node(p, N_SPREAD);
            arg->a = parse_expression(p);
        } else {
            arg = parse_expression(p);
            if (is(p, JT_EQUALS)) {
                p->cur++;
                if (arg->kind != N_IDENT) parse_fail(p, "Expected identifier for keyword argument");
                jnode *kw = node(p, N_KWARG);
                kw->str = arg->str;
                kw->a = parse_expression(p);
                arg = kw;
            }
            if (parameters) {
                if (arg->kind != N_IDENT && arg->kind != N_KWARG) parse_fail(p, "Expected identifier for parameter declaration");
                for (size_t i = 0; i < args.n; i++)
                    if (strcmp(args.items[i]->str->s, arg->str->s) == 0) parse_fail(p, "Duplicate parameter name");
            }
            if (arg->kind == N_KWARG) saw_keyword = true;
            else if (saw_keyword)
                parse_fail(p, parameters ? "Non-default argument follows default argument"
                                         : "Positional arguments must come before keyword arguments");
            else if (saw_spread) parse_fail(p, "Positional arguments must not follow `*` argument unpacking");
        }
        nodes_push(p, &args, arg);
        if (is(p, JT_COMMA)) p->cur++;
    }
    expect(p, JT_RPAREN, "Expected closing parenthesis for arguments list");
    *count = args.n;
    return (jnode *)args.items; /* the caller stores it as items */
}

static jnode *parse_member(jparser *p, jnode *object) {
    while (is(p, JT_DOT) || is(p, JT_LBRACKET)) {
        bool computed = is(p, JT_LBRACKET);
        p->cur++;
        jnode *m = node(p, N_MEMBER);
        m->a = object;
        m->flag = computed;
        if (computed) {
            jnode *parts[3] = {0};
            size_t n = 0;
            bool slice = false;
            while (!is(p, JT_RBRACKET)) {
                if (!tok_at(p, 0)) parse_fail(p, "Expected closing square bracket");
                if (n == 3) parse_fail(p, "Expected 0-3 arguments for slice expression");
                if (is(p, JT_COLON)) {
                    parts[n++] = NULL;
                    p->cur++;
                    slice = true;
                } else {
                    parts[n++] = parse_expression(p);
                    if (is(p, JT_COLON)) {
                        p->cur++;
                        slice = true;
                    }
                }
            }
            if (n == 0) parse_fail(p, "Expected at least one argument for member/slice expression");
            if (slice) {
                jnode *s = node(p, N_SLICE);
                s->a = parts[0];
                s->b = parts[1];
                s->c = parts[2];
                m->b = s;
            } else {
                m->b = parts[0];
            }
            expect(p, JT_RBRACKET, "Expected closing square bracket");
        } else {
            m->b = parse_primary(p);
            if (m->b->kind != N_IDENT && m->b->kind != N_INT)
                parse_fail(p, "Expected identifier or integer following dot operator");
        }
        object = m;
    }
    return object;
}

static jnode *parse_call(jparser *p, jnode *callee) {
    jnode *call = node(p, N_CALL);
    call->a = callee;
    call->items = (jnode **)parse_args_list(p, false, &call->n);
    jnode *e = parse_member(p, call);
    if (is(p, JT_LPAREN)) e = parse_call(p, e);
    return e;
}

static jnode *parse_call_member(jparser *p) {
    jnode *member = parse_member(p, parse_primary(p));
    return is(p, JT_LPAREN) ? parse_call(p, member) : member;
}

static jnode *parse_unary_sign(jparser *p) {
    const jtok *t = tok_at(p, 0);
    if (t && (t->type == JT_UNARY || t->type == JT_ADD) && (strcmp(t->value->s, "-") == 0 || strcmp(t->value->s, "+") == 0)) {
        p->cur++;
        enter(p);
        jnode *n = node(p, N_UNARY);
        n->str = t->value;
        n->a = parse_unary_sign(p);
        p->ctx->depth--;
        return n;
    }
    return parse_call_member(p);
}

static jnode *parse_filter(jparser *p) {
    jnode *operand = parse_unary_sign(p);
    while (is(p, JT_PIPE)) {
        p->cur++;
        jnode *f = node(p, N_FILTER);
        jnode *filter = parse_primary(p);
        if (filter->kind != N_IDENT) parse_fail(p, "Expected identifier for the filter");
        if (is(p, JT_LPAREN)) filter = parse_call(p, filter);
        f->a = operand;
        f->b = filter;
        operand = f;
    }
    return operand;
}

static jnode *parse_test(jparser *p) {
    jnode *operand = parse_filter(p);
    while (is_ident(p, 0, "is")) {
        p->cur++;
        jnode *t = node(p, N_TEST);
        t->flag = is_ident(p, 0, "not");
        if (t->flag) p->cur++;
        jnode *name = parse_primary(p);
        if (name->kind != N_IDENT) parse_fail(p, "Expected identifier for the test");
        t->str = name->str;
        t->a = operand;
        operand = t;
    }
    return operand;
}

static jnode *parse_binary_level(jparser *p, int level);

/* Levels, loosest first: or, and, (not), comparison, additive, multiplicative, power. */
static jnode *parse_operand(jparser *p, int level) {
    return level == 6 ? parse_test(p) : parse_binary_level(p, level + 1);
}

static bool level_operator(jparser *p, int level, const char **op) {
    const jtok *t = tok_at(p, 0);
    if (!t) return false;
    switch (level) {
    case 0: return is_ident(p, 0, "or") && (*op = "or");
    case 1: return is_ident(p, 0, "and") && (*op = "and");
    case 3:
        if (is_ident(p, 0, "not") && is_ident(p, 1, "in")) return (*op = "not in"), p->cur++, true;
        if (is_ident(p, 0, "in")) return (*op = "in"), true;
        return t->type == JT_CMP && (*op = t->value->s);
    case 4: return t->type == JT_ADD && (*op = t->value->s);
    case 5: return t->type == JT_MUL && (*op = t->value->s);
    case 6: return t->type == JT_POW && (*op = t->value->s);
    default: return false;
    }
}

static jnode *parse_binary_level(jparser *p, int level) {
    enter(p);
    jnode *left;
    if (level == 2) { /* not */
        if (is_ident(p, 0, "not")) {
            jnode *n = node(p, N_UNARY);
            n->str = next(p)->value;
            n->a = parse_binary_level(p, 2);
            left = n;
        } else {
            left = parse_binary_level(p, 3);
        }
        p->ctx->depth--;
        return left;
    }
    left = parse_operand(p, level);
    const char *op;
    while (level_operator(p, level, &op)) {
        p->cur++;
        jnode *right = parse_operand(p, level);
        left = binary(p, op, left, right);
    }
    p->ctx->depth--;
    return left;
}

static jnode *parse_if_expression(jparser *p) {
    enter(p);
    jnode *a = parse_binary_level(p, 0);
    if (is_ident(p, 0, "if")) {
        p->cur++;
        jnode *test = parse_binary_level(p, 0);
        if (is_ident(p, 0, "else")) {
            p->cur++;
            jnode *t = node(p, N_TERNARY);
            t->a = test;
            t->b = a;
            t->c = parse_if_expression(p);
            a = t;
        } else {
            jnode *s = node(p, N_SELECT);
            s->a = a;
            s->b = test;
            a = s;
        }
    }
    p->ctx->depth--;
    return a;
}

static jnode *parse_expression(jparser *p) { return parse_if_expression(p); }

static double number_value(const char *s) { return strtod(s, NULL); }

static jnode *parse_primary(jparser *p) {
    enter(p);
    const jtok *t = next(p);
    jnode *n;
    switch (t->type) {
    case JT_NUMBER:
        n = node(p, strchr(t->value->s, '.') ? N_FLOAT : N_INT);
        n->num = number_value(t->value->s);
        break;
    case JT_STRING: {
        n = node(p, N_STR);
        n->str = t->value;
        if (is(p, JT_STRING)) { /* adjacent literals concatenate */
            vka_chat_buf *buf = jbuf_open(p->ctx);
            vka_chat_buf_append(buf, t->value->s, t->value->len);
            while (is(p, JT_STRING)) {
                const jtok *more = next(p);
                vka_chat_buf_append(buf, more->value->s, more->value->len);
            }
            n->str = jv_buf_string(p->ctx, buf).u.s;
        }
        break;
    }
    case JT_IDENT:
        n = node(p, N_IDENT);
        n->str = t->value;
        break;
    case JT_LPAREN:
        n = sequence(p, false);
        expect(p, JT_RPAREN, "Expected closing parenthesis");
        break;
    case JT_LBRACKET: {
        jnodes values = {0};
        n = node(p, N_ARRAY);
        while (!is(p, JT_RBRACKET)) {
            if (!tok_at(p, 0)) parse_fail(p, "Expected closing square bracket");
            nodes_push(p, &values, parse_expression(p));
            if (is(p, JT_COMMA)) p->cur++;
        }
        p->cur++;
        n->items = values.items;
        n->n = values.n;
        break;
    }
    case JT_LBRACE: {
        jnodes keys = {0}, values = {0};
        n = node(p, N_OBJECT);
        while (!is(p, JT_RBRACE)) {
            if (!tok_at(p, 0)) parse_fail(p, "Expected closing curly bracket");
            nodes_push(p, &keys, parse_expression(p));
            expect(p, JT_COLON, "Expected colon between key and value in object literal");
            nodes_push(p, &values, parse_expression(p));
            if (is(p, JT_COMMA)) p->cur++;
        }
        p->cur++;
        n->items = keys.items;
        n->n = keys.n;
        n->items2 = values.items;
        n->n2 = values.n;
        break;
    }
    default:
        p->cur--;
        parse_fail(p, "Unexpected token");
    }
    p->ctx->depth--;
    return n;
}

/* ---------------------------------------------------------------- statements */

static jnode *parse_if(jparser *p) {
    static const char *const stops[] = {"elif", "else", "endif", NULL};
    static const char *const endif[] = {"endif", NULL};
    enter(p);
    jnode *n = node(p, N_IF);
    n->a = parse_expression(p);
    expect(p, JT_CLOSE_STMT, "Expected closing statement token");
    jnodes body = parse_body(p, stops), alt = {0};
    if (is_statement(p, (const char *const[]){"elif", NULL})) {
        p->cur += 2;
        nodes_push(p, &alt, parse_if(p));
    } else if (is_statement(p, (const char *const[]){"else", NULL})) {
        p->cur += 2;
        expect(p, JT_CLOSE_STMT, "Expected closing statement token");
        alt = parse_body(p, endif);
    }
    n->items = body.items;
    n->n = body.n;
    n->items2 = alt.items;
    n->n2 = alt.n;
    p->ctx->depth--;
    return n;
}

static jnode *parse_for(jparser *p) {
    static const char *const stops[] = {"endfor", "else", NULL};
    static const char *const endfor[] = {"endfor", NULL};
    jnode *n = node(p, N_FOR);
    n->a = sequence(p, true);
    if (n->a->kind != N_IDENT && n->a->kind != N_TUPLE) parse_fail(p, "Expected identifier/tuple for the loop variable");
    if (!is_ident(p, 0, "in")) parse_fail(p, "Expected `in` keyword following loop variable");
    p->cur++;
    n->b = parse_expression(p);
    expect(p, JT_CLOSE_STMT, "Expected closing statement token");
    jnodes body = parse_body(p, stops), alt = {0};
    if (is_statement(p, (const char *const[]){"else", NULL})) {
        p->cur += 2;
        expect(p, JT_CLOSE_STMT, "Expected closing statement token");
        alt = parse_body(p, endfor);
    }
    n->items = body.items;
    n->n = body.n;
    n->items2 = alt.items;
    n->n2 = alt.n;
    return n;
}

static jnode *parse_set(jparser *p) {
    static const char *const endset[] = {"endset", NULL};
    jnode *n = node(p, N_SET);
    n->a = sequence(p, false);
    if (is(p, JT_EQUALS)) {
        p->cur++;
        n->b = sequence(p, false);
    } else {
        expect(p, JT_CLOSE_STMT, "Expected %} token");
        jnodes body = parse_body(p, endset);
        n->items = body.items;
        n->n = body.n;
        expect(p, JT_OPEN_STMT, "Expected {% token");
        expect_ident(p, "endset");
    }
    expect(p, JT_CLOSE_STMT, "Expected closing statement token");
    return n;
}

/* Which of caller, kwargs and varargs a macro body reads without declaring
 * them (the reference binds only those). A coarse walk over the tree. */
static unsigned special_names(const jnode *n, unsigned depth) {
    if (!n || depth > 400) return 0;
    unsigned bits = 0;
    if (n->kind == N_IDENT) {
        if (strcmp(n->str->s, "caller") == 0) bits |= JS_CALLER;
        else if (strcmp(n->str->s, "kwargs") == 0) bits |= JS_KWARGS;
        else if (strcmp(n->str->s, "varargs") == 0) bits |= JS_VARARGS;
        return bits;
    }
    if (n->kind == N_MEMBER && !n->flag) return special_names(n->a, depth + 1);
    bits |= special_names(n->a, depth + 1) | special_names(n->b, depth + 1) | special_names(n->c, depth + 1);
    for (size_t i = 0; i < n->n; i++) bits |= special_names(n->items[i], depth + 1);
    for (size_t i = 0; i < n->n2; i++) bits |= special_names(n->items2[i], depth + 1);
    return bits;
}

static unsigned declared_names(jnode *const *params, size_t n) {
    unsigned bits = 0;
    for (size_t i = 0; i < n; i++) {
        const char *name = params[i]->str->s;
        bits |= strcmp(name, "caller") == 0 ? JS_CALLER : strcmp(name, "kwargs") == 0 ? JS_KWARGS
                : strcmp(name, "varargs") == 0 ? JS_VARARGS : 0u;
    }
    return bits;
}

static unsigned body_specials(jnode *const *params, size_t np, jnode *const *body, size_t nb) {
    unsigned bits = 0;
    for (size_t i = 0; i < nb; i++) bits |= special_names(body[i], 0);
    for (size_t i = 0; i < np; i++)
        if (params[i]->kind == N_KWARG) bits |= special_names(params[i]->a, 0);
    return bits & ~declared_names(params, np);
}

static jnode *parse_macro(jparser *p) {
    static const char *const endmacro[] = {"endmacro", NULL};
    jnode *n = node(p, N_MACRO);
    jnode *name = parse_primary(p);
    if (name->kind != N_IDENT) parse_fail(p, "Expected identifier following macro statement");
    n->str = name->str;
    n->items = (jnode **)parse_args_list(p, true, &n->n);
    expect(p, JT_CLOSE_STMT, "Expected closing statement token");
    jnodes body = parse_body(p, endmacro);
    n->items2 = body.items;
    n->n2 = body.n;
    n->special = body_specials(n->items, n->n, n->items2, n->n2);
    return n;
}

static jnode *parse_call_block(jparser *p) {
    static const char *const endcall[] = {"endcall", NULL};
    jnode *n = node(p, N_CALLBLOCK);
    if (is(p, JT_LPAREN)) {
        n->flag = true;
        n->items = (jnode **)parse_args_list(p, true, &n->n);
    }
    jnode *callee = parse_primary(p);
    if (callee->kind != N_IDENT) parse_fail(p, "Expected identifier following call statement");
    jnode *call = node(p, N_CALL);
    call->a = callee;
    call->items = (jnode **)parse_args_list(p, false, &call->n);
    n->a = call;
    expect(p, JT_CLOSE_STMT, "Expected closing statement token");
    jnodes body = parse_body(p, endcall);
    n->items2 = body.items;
    n->n2 = body.n;
    n->special = body_specials(n->items, n->n, n->items2, n->n2);
    end_tag(p, "endcall");
    return n;
}

static jnode *parse_filter_block(jparser *p) {
    static const char *const endfilter[] = {"endfilter", NULL};
    jnode *n = node(p, N_FILTERBLOCK);
    jnode *filter = parse_primary(p);
    if (filter->kind == N_IDENT && is(p, JT_LPAREN)) filter = parse_call(p, filter);
    if (filter->kind != N_IDENT && filter->kind != N_CALL) parse_fail(p, "Expected a filter");
    n->a = filter;
    expect(p, JT_CLOSE_STMT, "Expected closing statement token");
    jnodes body = parse_body(p, endfilter);
    n->items = body.items;
    n->n = body.n;
    end_tag(p, "endfilter");
    return n;
}

static jnode *parse_statement(jparser *p) {
    expect(p, JT_OPEN_STMT, "Expected opening statement token");
    if (!is(p, JT_IDENT)) parse_fail(p, "Unknown statement");
    const char *name = next(p)->value->s;
    jnode *n;
    if (strcmp(name, "set") == 0) return parse_set(p);
    if (strcmp(name, "if") == 0) {
        n = parse_if(p);
        end_tag(p, "endif");
    } else if (strcmp(name, "macro") == 0) {
        n = parse_macro(p);
        end_tag(p, "endmacro");
    } else if (strcmp(name, "for") == 0) {
        n = parse_for(p);
        end_tag(p, "endfor");
    } else if (strcmp(name, "call") == 0) {
        n = parse_call_block(p);
    } else if (strcmp(name, "break") == 0 || strcmp(name, "continue") == 0) {
        n = node(p, name[0] == 'b' ? N_BREAK : N_CONTINUE);
        expect(p, JT_CLOSE_STMT, "Expected closing statement token");
    } else if (strcmp(name, "filter") == 0) {
        n = parse_filter_block(p);
    } else {
        p->cur--;
        parse_fail(p, "Unknown statement type");
    }
    return n;
}

static jnode *parse_any(jparser *p) {
    const jtok *t = tok_at(p, 0);
    enter(p);
    jnode *n;
    switch (t->type) {
    case JT_COMMENT:
        n = node(p, N_COMMENT);
        p->cur++;
        break;
    case JT_TEXT:
        n = node(p, N_STR);
        n->str = next(p)->value;
        break;
    case JT_OPEN_STMT: n = parse_statement(p); break;
    case JT_OPEN_EXPR:
        p->cur++;
        n = parse_expression(p);
        expect(p, JT_CLOSE_EXPR, "Expected closing expression token");
        break;
    default: parse_fail(p, "Unexpected token type");
    }
    p->ctx->depth--;
    return n;
}

jnode *jparse_tokens(jctx *ctx, const jtokens *tokens) {
    jparser p = {.ctx = ctx, .t = tokens};
    jnodes body = {0};
    while (p.cur < tokens->n) nodes_push(&p, &body, parse_any(&p));
    jnode *root = node(&p, N_IF); /* a block: only its items are used */
    root->items = body.items;
    root->n = body.n;
    return root;
}
