/* jinja_eval.c — rendering a parsed template: scopes, expressions,
 * statements, macros and call blocks, with @huggingface/jinja's semantics;
 * and the entry points of jinja.h. Errors and limits leave through
 * longjmp to vka_jinja_render, which frees the render's arena. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "base/status.h"
#include "jinja_internal.h"

/* ---------------------------------------------------------------- scopes */

jenv *jenv_new(jctx *ctx, jenv *parent) {
    jenv *env = jarena_alloc(&ctx->arena, sizeof *env, ctx);
    env->parent = parent;
    env->vars = jv_dict(ctx, JD_OBJECT).u.d;
    return env;
}

void jenv_set(jctx *ctx, jenv *env, jstr *name, jv v) { jdict_set(ctx, env->vars, name, v); }

static jv lookup(const jenv *env, const jstr *name) {
    for (; env; env = env->parent) {
        jv *v = jdict_get(env->vars, name->s, name->len);
        if (v) return *v;
    }
    return jv_undef();
}

static void step(jctx *ctx) {
    if (++ctx->steps > ctx->max_steps)
        jfail_status(ctx, VKA_ERR_UNSUPPORTED, "the template runs past %zu steps (the limit)", ctx->max_steps);
}

static void enter(jctx *ctx, const jnode *node) {
    if (++ctx->depth > ctx->max_depth)
        jfail_status(ctx, VKA_ERR_UNSUPPORTED, "the template nests past depth %u (the limit)", ctx->max_depth);
    ctx->line = node->line;
}

/* ---------------------------------------------------------------- arguments */

jargs jsplit_args(const jv *args, size_t n) {
    jargs a = {.pos = (jv *)args, .n = n};
    if (n && args[n - 1].t == JV_DICT && args[n - 1].u.d->kind == JD_KWARGS) {
        a.kw = args[n - 1].u.d;
        a.n--;
    }
    return a;
}

static bool has_keywords(jnode *const *args, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (args[i]->kind == N_KWARG || args[i]->kind == N_SPREAD || args[i]->kind == N_KWSPREAD) return true;
    return false;
}

static void add_keyword(jctx *ctx, jdict *kw, jstr *key, jv v) {
    if (jdict_get(kw, key->s, key->len)) jfail(ctx, "Got multiple values for keyword argument '%s'", key->s);
    jdict_set(ctx, kw, key, v);
}

/* Evaluates call arguments into positional values and keyword arguments. */
jargs jeval_args(jctx *ctx, jnode *const *args, size_t n, jenv *env) {
    jlist *pos = jv_list(ctx, n + 1).u.l;
    jdict *kw = jv_dict(ctx, JD_KWARGS).u.d;
    for (size_t i = 0; i < n; i++) {
        if (args[i]->kind == N_SPREAD) {
            jv v = jeval(ctx, args[i]->a, env);
            if (v.t != JV_LIST) jfail(ctx, "Cannot unpack non-iterable type: %s", jv_type_name(v));
            for (size_t k = 0; k < v.u.l->n; k++) jlist_push(ctx, pos, v.u.l->items[k]);
        } else if (args[i]->kind != N_KWARG && args[i]->kind != N_KWSPREAD) {
            jlist_push(ctx, pos, jeval(ctx, args[i], env));
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (args[i]->kind == N_KWARG) {
            add_keyword(ctx, kw, args[i]->str, jeval(ctx, args[i]->a, env));
        } else if (args[i]->kind == N_KWSPREAD) {
            jv v = jeval(ctx, args[i]->a, env);
            if (v.t != JV_DICT || v.u.d->kind == JD_NAMESPACE)
                jfail(ctx, "Argument after ** must be a mapping, not %s", jv_type_name(v));
            for (size_t k = 0; k < v.u.d->n; k++) add_keyword(ctx, kw, v.u.d->keys[k], v.u.d->vals[k]);
        }
    }
    return (jargs){.pos = pos->items, .n = pos->n, .kw = kw};
}

/* Arguments as one array, keyword arguments (when any) as a last JD_KWARGS dict. */
static jv *call_args(jctx *ctx, jnode *const *args, size_t n, jenv *env, size_t *count, bool always_kw) {
    if (!always_kw && !has_keywords(args, n)) {
        jv *vals = jarena_alloc(&ctx->arena, (n + 1) * sizeof *vals, ctx);
        for (size_t i = 0; i < n; i++) vals[i] = jeval(ctx, args[i], env);
        *count = n;
        return vals;
    }
    jargs a = jeval_args(ctx, args, n, env);
    jv *vals = jarena_alloc(&ctx->arena, (a.n + 1) * sizeof *vals, ctx);
    if (a.n) memcpy(vals, a.pos, a.n * sizeof *vals);
    *count = a.n;
    if (always_kw || a.kw->n) vals[(*count)++] = (jv){.t = JV_DICT, .u.d = a.kw};
    return vals;
}

/* ---------------------------------------------------------------- macros */

static void bind_parameters(jctx *ctx, const char *display, jnode *const *params, size_t np, unsigned special,
                            const jv *args, size_t n, jenv *scope) {
    jargs a = jsplit_args(args, n);
    jdict *kw = jv_dict(ctx, JD_OBJECT).u.d; /* the keyword arguments no parameter took */
    if (a.kw)
        for (size_t k = 0; k < a.kw->n; k++) jdict_set(ctx, kw, a.kw->keys[k], a.kw->vals[k]);
    bool *pending = jarena_alloc(&ctx->arena, np + 1, ctx);
    for (size_t i = 0; i < np; i++) {
        jstr *name = params[i]->str;
        jv value = jv_undef();
        bool given = i < a.n;
        if (given) value = a.pos[i];
        jv *from_kw = given ? NULL : jdict_get(kw, name->s, name->len);
        if (from_kw) { /* take it out of kw */
            value = *from_kw;
            given = true;
            size_t at = (size_t)(from_kw - kw->vals);
            memmove(kw->keys + at, kw->keys + at + 1, (kw->n - at - 1) * sizeof *kw->keys);
            memmove(kw->vals + at, kw->vals + at + 1, (kw->n - at - 1) * sizeof *kw->vals);
            kw->n--;
        }
        pending[i] = !given && params[i]->kind == N_KWARG;
        jenv_set(ctx, scope, name, value);
    }
    if (special & JS_KWARGS) jenv_set(ctx, scope, jstr_new(ctx, "kwargs", 6), (jv){.t = JV_DICT, .u.d = kw});
    else if (kw->n) jfail(ctx, "macro %s takes no keyword argument '%s'", display, kw->keys[0]->s);
    if (special & JS_VARARGS) {
        jv rest = jv_list(ctx, 0);
        for (size_t i = np; i < a.n; i++) jlist_push(ctx, rest.u.l, a.pos[i]);
        jenv_set(ctx, scope, jstr_new(ctx, "varargs", 7), rest);
    } else if (a.n > np) {
        jfail(ctx, "macro %s takes not more than %zu argument(s)", display, np);
    }
    for (size_t i = 0; i < np; i++)
        if (pending[i]) jenv_set(ctx, scope, params[i]->str, jeval(ctx, params[i]->a, scope));
}

static jv render_to_string(jctx *ctx, jnode *const *body, size_t n, jenv *env) {
    vka_chat_buf *buf = jbuf_open(ctx);
    jrender_block(ctx, body, n, env, buf);
    return jv_buf_string(ctx, buf);
}

static jv call_macro(jctx *ctx, const jfunc *fn, const jv *args, size_t n, jenv *call_site) {
    const jnode *m = fn->node;
    jenv *parent = fn->env;
    if (m->special & JS_CALLER) {
        jv caller = jv_undef();
        if (call_site && call_site->call_block) {
            jv *c = jdict_get(call_site->vars, "caller", 6);
            if (c) caller = *c;
        }
        parent = jenv_new(ctx, fn->env);
        jenv_set(ctx, parent, jstr_new(ctx, "caller", 6), caller);
    }
    jenv *scope = jenv_new(ctx, parent);
    char display[80];
    snprintf(display, sizeof display, "'%s'", m->str->s);
    bind_parameters(ctx, display, m->items, m->n, m->special, args, n, scope);
    return render_to_string(ctx, m->items2, m->n2, scope);
}

static jv call_caller(jctx *ctx, const jfunc *fn, const jv *args, size_t n) {
    const jnode *c = fn->node;
    jenv *scope = jenv_new(ctx, fn->env);
    bind_parameters(ctx, "None", c->items, c->n, c->special, args, n, scope);
    return render_to_string(ctx, c->items2, c->n2, scope);
}

jv jcall(jctx *ctx, jv fn, const jv *args, size_t n, jenv *env) {
    if (fn.t != JV_FUNC) jfail(ctx, "Cannot call something that is not a function: got %s", jv_type_name(fn));
    step(ctx);
    switch (fn.u.fn->kind) {
    case JF_BUILTIN: return fn.u.fn->builtin(ctx, fn.u.fn->self, args, n);
    case JF_MACRO: return call_macro(ctx, fn.u.fn, args, n, env);
    case JF_CALLER: return call_caller(ctx, fn.u.fn, args, n);
    }
    return jv_undef();
}

/* ---------------------------------------------------------------- expressions */

static jv member(jctx *ctx, const jnode *node, jenv *env) {
    jv object = jeval(ctx, node->a, env);
    const jnode *pn = node->b;
    jv prop;
    if (node->flag) {
        if (pn->kind == N_SLICE) {
            jv start = pn->a ? jeval(ctx, pn->a, env) : jv_undef();
            jv stop = pn->b ? jeval(ctx, pn->b, env) : jv_undef();
            jv stride = pn->c ? jeval(ctx, pn->c, env) : jv_undef();
            return jslice(ctx, object, start, stop, stride);
        }
        prop = jeval(ctx, pn, env);
    } else if (pn->kind == N_INT) {
        prop = jv_int(pn->num);
    } else {
        prop = (jv){.t = JV_STR, .u.s = pn->str};
    }
    if (object.t == JV_DICT) {
        if (prop.t != JV_STR) jfail(ctx, "Cannot access property with non-string: got %s", jv_type_name(prop));
        jv *v = jdict_get(object.u.d, prop.u.s->s, prop.u.s->len);
        if (v) return *v;
        return object.u.d->kind == JD_NAMESPACE ? jv_undef() : jmember_builtin(ctx, object, prop.u.s->s);
    }
    if (object.t == JV_LIST || object.t == JV_STR) {
        if (prop.t == JV_INT) return jindex(ctx, object, prop.u.n); /* JavaScript's .at(i) */
        if (prop.t == JV_STR) return jmember_builtin(ctx, object, prop.u.s->s);
        jfail(ctx, "Cannot access property with non-string/non-number: got %s", jv_type_name(prop));
    }
    if (prop.t != JV_STR) jfail(ctx, "Cannot access property with non-string: got %s", jv_type_name(prop));
    return jv_undef(); /* numbers, booleans, none and undefined have no attributes */
}

static jv concat(jctx *ctx, jv a, jv b) {
    vka_chat_buf *buf = jbuf_open(ctx);
    jv_write_raw(ctx, buf, a);
    jv_write_raw(ctx, buf, b);
    return jv_buf_string(ctx, buf);
}

static bool str_contains(const jstr *hay, const jstr *needle) {
    if (needle->len == 0) return true;
    if (needle->len > hay->len) return false;
    for (size_t i = 0; i + needle->len <= hay->len; i++)
        if (memcmp(hay->s + i, needle->s, needle->len) == 0) return true;
    return false;
}

static jv arithmetic(jctx *ctx, const char *op, jv left, jv right) {
    double a = left.u.n, b = right.u.n;
    bool is_float = left.t == JV_FLOAT || right.t == JV_FLOAT;
    if (!strcmp(op, "+")) return is_float ? jv_float(a + b) : jv_int(a + b);
    if (!strcmp(op, "-")) return is_float ? jv_float(a - b) : jv_int(a - b);
    if (!strcmp(op, "*")) return is_float ? jv_float(a * b) : jv_int(a * b);
    if (!strcmp(op, "/")) return jv_float(a / b);
    if (!strcmp(op, "//")) return is_float ? jv_float(floor(a / b)) : jv_int(floor(a / b));
    if (!strcmp(op, "%")) return is_float ? jv_float(fmod(a, b)) : jv_int(fmod(a, b));
    if (!strcmp(op, "<")) return jv_bool(a < b);
    if (!strcmp(op, ">")) return jv_bool(a > b);
    if (!strcmp(op, ">=")) return jv_bool(a >= b);
    if (!strcmp(op, "<=")) return jv_bool(a <= b);
    jfail(ctx, "Unknown operator \"%s\" between %s and %s", op, jv_type_name(left), jv_type_name(right));
}

static jv power(jctx *ctx, jv left, jv right) {
    double a = left.t == JV_BOOL ? left.u.b : left.u.n, b = right.t == JV_BOOL ? right.u.b : right.u.n;
    if (a == 0 && b < 0) jfail(ctx, "0.0 cannot be raised to a negative power");
    double r = pow(a, b);
    if (!isfinite(r)) jfail(ctx, "Exponentiation result is not a finite real number");
    return left.t == JV_FLOAT || right.t == JV_FLOAT || b < 0 ? jv_float(r) : jv_int(r);
}

static bool numeric_like(jv v) { return jv_is_number(v) || v.t == JV_BOOL; }

/* The reference's evaluateBinaryExpression, case by case in its order. */
static jv binary(jctx *ctx, const jnode *node, jenv *env) {
    const char *op = node->str->s;
    jv left = jeval(ctx, node->a, env);
    if (!strcmp(op, "and")) return jv_truthy(left) ? jeval(ctx, node->b, env) : left;
    if (!strcmp(op, "or")) return jv_truthy(left) ? left : jeval(ctx, node->b, env);
    jv right = jeval(ctx, node->b, env);
    ctx->line = node->line;
    if (!strcmp(op, "==")) return jv_bool(jv_loose_eq(ctx, left, right));
    if (!strcmp(op, "!=")) return jv_bool(!jv_loose_eq(ctx, left, right));
    bool in = !strcmp(op, "in"), not_in = !strcmp(op, "not in");
    if (jv_is_number(left) && jv_is_number(right) && strcmp(op, "~") && strcmp(op, "**"))
        return arithmetic(ctx, op, left, right);
    if (left.t == JV_UNDEF || right.t == JV_UNDEF) {
        if (right.t == JV_UNDEF && (in || not_in)) return jv_bool(not_in);
        if (!strcmp(op, "~") && left.t != JV_NONE && right.t != JV_NONE)
            return concat(ctx, left.t == JV_UNDEF ? jv_cstr(ctx, "") : left, right.t == JV_UNDEF ? jv_cstr(ctx, "") : right);
        jfail(ctx, "Cannot perform operation %s on undefined values", op);
    }
    if (left.t == JV_NONE || right.t == JV_NONE) jfail(ctx, "Cannot perform operation on null values");
    if (!strcmp(op, "~")) return concat(ctx, left, right);
    if (!strcmp(op, "**") && numeric_like(left) && numeric_like(right)) return power(ctx, left, right);
    if (left.t == JV_LIST && right.t == JV_LIST) {
        if (!strcmp(op, "+")) {
            jv out = jv_list(ctx, left.u.l->n + right.u.l->n);
            for (size_t i = 0; i < left.u.l->n; i++) jlist_push(ctx, out.u.l, left.u.l->items[i]);
            for (size_t i = 0; i < right.u.l->n; i++) jlist_push(ctx, out.u.l, right.u.l->items[i]);
            return out;
        }
    } else if (right.t == JV_LIST && (in || not_in)) {
        bool found = false;
        for (size_t i = 0; i < right.u.l->n && !found; i++) found = jv_strict_eq(right.u.l->items[i], left);
        return jv_bool(in ? found : !found);
    }
    if ((left.t == JV_STR || right.t == JV_STR) && !strcmp(op, "+")) return concat(ctx, left, right);
    if (left.t == JV_STR && right.t == JV_STR && (in || not_in)) {
        bool found = str_contains(right.u.s, left.u.s);
        return jv_bool(in ? found : !found);
    }
    if (left.t == JV_STR && right.t == JV_DICT && right.u.d->kind != JD_NAMESPACE && (in || not_in)) {
        bool found = jdict_get(right.u.d, left.u.s->s, left.u.s->len) != NULL;
        return jv_bool(in ? found : !found);
    }
    jfail(ctx, "Unknown operator \"%s\" between %s and %s", op, jv_type_name(left), jv_type_name(right));
}

static jv unary(jctx *ctx, const jnode *node, jenv *env) {
    jv arg = jeval(ctx, node->a, env);
    if (!strcmp(node->str->s, "not")) return jv_bool(!jv_truthy(arg));
    double sign = node->str->s[0] == '-' ? -1 : 1;
    if (jv_is_number(arg) || arg.t == JV_BOOL) {
        double v = arg.t == JV_BOOL ? (arg.u.b ? 1 : 0) : arg.u.n;
        return arg.t == JV_FLOAT ? jv_float(sign * v) : jv_int(sign * v);
    }
    jfail(ctx, "Unknown operator \"%s\" for %s", node->str->s, jv_type_name(arg));
}

static jv object_literal(jctx *ctx, const jnode *node, jenv *env) {
    jv d = jv_dict(ctx, JD_OBJECT);
    for (size_t i = 0; i < node->n; i++) {
        jv key = jeval(ctx, node->items[i], env);
        if (key.t != JV_STR) jfail(ctx, "Object keys must be strings: got %s", jv_type_name(key));
        jdict_set(ctx, d.u.d, key.u.s, jeval(ctx, node->items2[i], env));
    }
    return d;
}

static jv define_macro(jctx *ctx, const jnode *node, jenv *env) {
    jfunc *f = jarena_alloc(&ctx->arena, sizeof *f, ctx);
    f->kind = JF_MACRO;
    f->node = node;
    f->env = env;
    f->name = node->str->s;
    jenv_set(ctx, env, node->str, (jv){.t = JV_FUNC, .u.fn = f});
    return jv_none();
}

static jv call_block(jctx *ctx, const jnode *node, jenv *env) {
    jfunc *f = jarena_alloc(&ctx->arena, sizeof *f, ctx);
    f->kind = JF_CALLER;
    f->node = node;
    f->env = env;
    f->name = "caller";
    const jnode *call = node->a;
    size_t n;
    jv *args = call_args(ctx, call->items, call->n, env, &n, true);
    jv fn = jeval(ctx, call->a, env);
    if (fn.t != JV_FUNC) jfail(ctx, "Cannot call something that is not a function: got %s", jv_type_name(fn));
    jenv *site = jenv_new(ctx, env);
    site->call_block = true;
    jenv_set(ctx, site, jstr_new(ctx, "caller", 6), (jv){.t = JV_FUNC, .u.fn = f});
    return jcall(ctx, fn, args, n, site);
}

static void render_if(jctx *ctx, const jnode *node, jenv *env, vka_chat_buf *out);
static void render_for(jctx *ctx, const jnode *node, jenv *env, vka_chat_buf *out);
static void execute_set(jctx *ctx, const jnode *node, jenv *env);

static jv eval_node(jctx *ctx, const jnode *node, jenv *env) {
    switch (node->kind) {
    case N_IDENT: return lookup(env, node->str);
    case N_INT: return jv_int(node->num);
    case N_FLOAT: return jv_float(node->num);
    case N_STR: return (jv){.t = JV_STR, .u.s = node->str};
    case N_BINARY: return binary(ctx, node, env);
    case N_UNARY: return unary(ctx, node, env);
    case N_MEMBER: return member(ctx, node, env);
    case N_CALL: {
        size_t n;
        jv *args = call_args(ctx, node->items, node->n, env, &n, false);
        jv fn = jeval(ctx, node->a, env);
        ctx->line = node->line;
        return jcall(ctx, fn, args, n, env);
    }
    case N_FILTER: return jfilter_apply(ctx, jeval(ctx, node->a, env), node->b, env);
    case N_TEST: {
        jv operand = jeval(ctx, node->a, env);
        ctx->line = node->line;
        bool r = jtest_apply(ctx, node->str->s, operand, NULL);
        return jv_bool(node->flag ? !r : r);
    }
    case N_TERNARY: return jeval(ctx, jv_truthy(jeval(ctx, node->a, env)) ? node->b : node->c, env);
    case N_SELECT: return jv_truthy(jeval(ctx, node->b, env)) ? jeval(ctx, node->a, env) : jv_undef();
    case N_ARRAY:
    case N_TUPLE: {
        jv l = jv_list(ctx, node->n);
        for (size_t i = 0; i < node->n; i++) jlist_push(ctx, l.u.l, jeval(ctx, node->items[i], env));
        l.u.l->tuple = node->kind == N_TUPLE;
        return l;
    }
    case N_OBJECT: return object_literal(ctx, node, env);
    case N_IF:
    case N_FOR: {
        vka_chat_buf *buf = jbuf_open(ctx);
        if (node->kind == N_IF) render_if(ctx, node, env, buf);
        else render_for(ctx, node, env, buf);
        return jv_buf_string(ctx, buf);
    }
    case N_SET: execute_set(ctx, node, env); return jv_none();
    case N_MACRO: return define_macro(ctx, node, env);
    case N_CALLBLOCK: return call_block(ctx, node, env);
    case N_FILTERBLOCK: return jfilter_apply(ctx, render_to_string(ctx, node->items, node->n, env), node->a, env);
    case N_COMMENT: return jv_none();
    case N_BREAK:
    case N_CONTINUE: ctx->jump = node->kind == N_BREAK ? JUMP_BREAK : JUMP_CONTINUE; return jv_none();
    case N_SLICE:
    case N_KWARG:
    case N_SPREAD:
    case N_KWSPREAD: break;
    }
    jfail(ctx, "this expression cannot stand here");
}

jv jeval(jctx *ctx, const jnode *node, jenv *env) {
    enter(ctx, node);
    jv v = eval_node(ctx, node, env);
    ctx->depth--;
    return v;
}

/* ---------------------------------------------------------------- statements */

static void assign_tuple(jctx *ctx, const jnode *targets, jv value, jenv *env, const char *where) {
    if (value.t != JV_LIST) jfail(ctx, "Cannot unpack non-iterable type%s: %s", where, jv_type_name(value));
    if (value.u.l->n != targets->n)
        jfail(ctx, "Too %s items to unpack%s", targets->n > value.u.l->n ? "few" : "many", where);
    for (size_t i = 0; i < targets->n; i++) {
        if (targets->items[i]->kind != N_IDENT) jfail(ctx, "Cannot unpack to non-identifier");
        jenv_set(ctx, env, targets->items[i]->str, value.u.l->items[i]);
    }
}

static void execute_set(jctx *ctx, const jnode *node, jenv *env) {
    jv rhs = node->b ? jeval(ctx, node->b, env) : render_to_string(ctx, node->items, node->n, env);
    const jnode *target = node->a;
    ctx->line = node->line;
    if (target->kind == N_IDENT) {
        jenv_set(ctx, env, target->str, rhs);
    } else if (target->kind == N_TUPLE) {
        assign_tuple(ctx, target, rhs, env, " in set");
    } else if (target->kind == N_MEMBER) {
        jv object = jeval(ctx, target->a, env);
        if (object.t != JV_DICT || object.u.d->kind != JD_NAMESPACE)
            jfail(ctx, "cannot assign attribute on non-namespace object");
        if (target->flag || target->b->kind != N_IDENT) jfail(ctx, "Cannot assign to member with non-identifier property");
        jdict_set(ctx, object.u.d, target->b->str, rhs);
    } else {
        jfail(ctx, "Invalid LHS inside assignment expression");
    }
}

static void render_if(jctx *ctx, const jnode *node, jenv *env, vka_chat_buf *out) {
    if (jv_truthy(jeval(ctx, node->a, env))) jrender_block(ctx, node->items, node->n, env, out);
    else jrender_block(ctx, node->items2, node->n2, env, out);
}

static void bind_loop_var(jctx *ctx, const jnode *var, jv item, jenv *scope) {
    if (var->kind == N_IDENT) jenv_set(ctx, scope, var->str, item);
    else assign_tuple(ctx, var, item, scope, "");
}

static jv loop_object(jctx *ctx, const jlist *items, size_t i) {
    jv d = jv_dict(ctx, JD_OBJECT);
    jdict *l = d.u.d;
    double n = (double)items->n, k = (double)i;
    jdict_set(ctx, l, jstr_new(ctx, "index", 5), jv_int(k + 1));
    jdict_set(ctx, l, jstr_new(ctx, "index0", 6), jv_int(k));
    jdict_set(ctx, l, jstr_new(ctx, "revindex", 8), jv_int(n - k));
    jdict_set(ctx, l, jstr_new(ctx, "revindex0", 9), jv_int(n - k - 1));
    jdict_set(ctx, l, jstr_new(ctx, "first", 5), jv_bool(i == 0));
    jdict_set(ctx, l, jstr_new(ctx, "last", 4), jv_bool(i + 1 == items->n));
    jdict_set(ctx, l, jstr_new(ctx, "length", 6), jv_int(n));
    jdict_set(ctx, l, jstr_new(ctx, "previtem", 8), i > 0 ? items->items[i - 1] : jv_undef());
    jdict_set(ctx, l, jstr_new(ctx, "nextitem", 8), i + 1 < items->n ? items->items[i + 1] : jv_undef());
    return d;
}

static void render_for(jctx *ctx, const jnode *node, jenv *env, vka_chat_buf *out) {
    jenv *scope = jenv_new(ctx, env);
    const jnode *iter_node = node->b, *test = NULL;
    if (iter_node->kind == N_SELECT) { /* {% for x in xs if cond %} */
        test = iter_node->b;
        iter_node = iter_node->a;
    }
    jv iterable = jeval(ctx, iter_node, scope);
    ctx->line = node->line;
    if (iterable.t == JV_DICT && iterable.u.d->kind != JD_NAMESPACE) iterable = jmember_builtin(ctx, iterable, "keys"),
        iterable = jcall(ctx, iterable, NULL, 0, env);
    if (iterable.t != JV_LIST) jfail(ctx, "Expected iterable or object type in for loop: got %s", jv_type_name(iterable));
    const jnode *var = node->a;
    jlist *items = jv_list(ctx, iterable.u.l->n).u.l;
    for (size_t i = 0; i < iterable.u.l->n; i++) {
        jv cur = iterable.u.l->items[i];
        if (var->kind == N_TUPLE) {
            if (cur.t != JV_LIST || cur.u.l->tuple)
                jfail(ctx, "Cannot unpack non-iterable type: %s", cur.t == JV_LIST ? "TupleValue" : jv_type_name(cur));
            if (cur.u.l->n != var->n) jfail(ctx, "Too %s items to unpack", var->n > cur.u.l->n ? "few" : "many");
        }
        if (test) {
            jenv *probe = jenv_new(ctx, scope);
            bind_loop_var(ctx, var, cur, probe);
            if (!jv_truthy(jeval(ctx, test, probe))) continue;
        }
        jlist_push(ctx, items, cur);
    }
    bool none = true;
    jstr *loop_name = jstr_new(ctx, "loop", 4);
    for (size_t i = 0; i < items->n; i++) {
        step(ctx);
        jenv_set(ctx, scope, loop_name, loop_object(ctx, items, i));
        bind_loop_var(ctx, var, items->items[i], scope);
        jrender_block(ctx, node->items, node->n, scope, out);
        if (ctx->jump == JUMP_CONTINUE) {
            ctx->jump = JUMP_NONE;
            continue; /* as the reference: a continued iteration does not count as one */
        }
        if (ctx->jump == JUMP_BREAK) {
            ctx->jump = JUMP_NONE;
            break;
        }
        none = false;
    }
    if (none) jrender_block(ctx, node->items2, node->n2, scope, out);
}

void jrender_block(jctx *ctx, jnode *const *body, size_t n, jenv *env, vka_chat_buf *out) {
    for (size_t i = 0; i < n && ctx->jump == JUMP_NONE; i++) {
        const jnode *s = body[i];
        step(ctx);
        enter(ctx, s);
        switch (s->kind) {
        case N_STR: vka_chat_buf_append(out, s->str->s, s->str->len); break;
        case N_IF: render_if(ctx, s, env, out); break;
        case N_FOR: render_for(ctx, s, env, out); break;
        case N_SET: execute_set(ctx, s, env); break;
        case N_COMMENT: break;
        default: {
            jv v = eval_node(ctx, s, env);
            if (v.t != JV_NONE && v.t != JV_UNDEF) jv_write(ctx, out, v);
        }
        }
        ctx->depth--;
        jbuf_check(ctx, out);
    }
}

/* ---------------------------------------------------------------- entry points */

static const vka_jinja_limits default_limits = {
    .max_memory = 64u << 20, .max_output = 16u << 20, .max_steps = 2000000, .max_depth = 200};

static void ctx_init(jctx *ctx, const vka_jinja_limits *limits) {
    memset(ctx, 0, sizeof *ctx);
    const vka_jinja_limits *d = &default_limits;
    ctx->arena.budget = limits && limits->max_memory ? limits->max_memory : d->max_memory;
    ctx->max_output = limits && limits->max_output ? limits->max_output : d->max_output;
    ctx->max_steps = limits && limits->max_steps ? limits->max_steps : d->max_steps;
    ctx->max_depth = limits && limits->max_depth ? limits->max_depth : d->max_depth;
    ctx->line = 1;
}

/* After an error jumped back: frees everything and reports it. */
static vka_status failed(jctx *ctx) {
    jbufs_free(ctx);
    jarena_free(&ctx->arena);
    vka_status st = vka_fail(ctx->status, "%s", ctx->message);
    free(ctx);
    return st;
}

vka_status vka_jinja_parse(const char *text, size_t len, vka_jinja_template **out) {
    if (out) *out = NULL;
    if (!text || !out) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_jinja_parse: NULL argument");
    jctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
    ctx_init(ctx, NULL);
    ctx->arena.budget = 0; /* the template's own size bounds the tree */
    ctx->max_output = SIZE_MAX;
    if (setjmp(ctx->fail)) return failed(ctx);
    jtokens tokens = {0};
    jtokenize(ctx, text, len, &tokens);
    jnode *root = jparse_tokens(ctx, &tokens);
    vka_jinja_template *t = jarena_alloc(&ctx->arena, sizeof *t, ctx);
    t->root = root;
    t->arena = ctx->arena; /* the template lives in its own arena */
    free(ctx);
    *out = t;
    return VKA_OK;
}

void vka_jinja_free(vka_jinja_template *tmpl) {
    if (!tmpl) return;
    jarena arena = tmpl->arena;
    jarena_free(&arena);
}

static void set_context(jctx *ctx, jenv *env, const char *context_json) {
    if (!context_json) return;
    cJSON *json = cJSON_ParseWithOpts(context_json, NULL, true);
    if (!json || !cJSON_IsObject(json)) {
        cJSON_Delete(json);
        jfail(ctx, "the context is not a JSON object");
    }
    jv vars = jv_from_json(ctx, json); /* all in the arena: cJSON can go before anything can fail */
    cJSON_Delete(json);
    for (size_t i = 0; i < vars.u.d->n; i++) {
        jstr *name = vars.u.d->keys[i];
        if (jdict_get(env->vars, name->s, name->len)) jfail(ctx, "Variable already declared: %s", name->s);
        jenv_set(ctx, env, name, vars.u.d->vals[i]);
    }
}

vka_status vka_jinja_render(const vka_jinja_template *tmpl, const char *context_json, const vka_jinja_limits *limits,
                            char **out, size_t *out_len) {
    if (out) *out = NULL;
    if (out_len) *out_len = 0;
    if (!tmpl || !out) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_jinja_render: NULL argument");
    jctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
    ctx_init(ctx, limits);
    if (setjmp(ctx->fail)) return failed(ctx);
    jenv *env = jenv_new(ctx, NULL);
    jglobals_install(ctx, env);
    set_context(ctx, env, context_json);
    vka_chat_buf *buf = jbuf_open(ctx);
    jrender_block(ctx, tmpl->root->items, tmpl->root->n, env, buf);
    if (ctx->jump != JUMP_NONE) jfail(ctx, "break or continue outside a loop");
    jbuf_check(ctx, buf);
    char *text = buf->data ? buf->data : calloc(1, 1);
    size_t len = buf->len;
    buf->data = NULL; /* handed to the caller */
    ctx->n_bufs = 0;
    jarena_free(&ctx->arena);
    free(ctx);
    if (!text) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
    *out = text;
    if (out_len) *out_len = len;
    return VKA_OK;
}
