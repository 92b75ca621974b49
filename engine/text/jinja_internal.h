/* jinja_internal.h — the types shared by the Jinja interpreter's parts:
 * tokens (jinja_lex.c), syntax tree (jinja_parse.c), values and their arena
 * (jinja_value.c), evaluation (jinja_eval.c) and filters and methods
 * (jinja_filters.c). The semantics follow @huggingface/jinja, the reference
 * renderer, including its JavaScript-flavoured equality and number printing. */
#ifndef VKA_JINJA_INTERNAL_H
#define VKA_JINJA_INTERNAL_H

#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chat.h"
#include "jinja.h"

/* ---- arena: every value and syntax node of one parse or render lives in
 * one, freed at once. Errors leave through longjmp (see jctx), which is safe
 * because nothing is owned outside the arena. */
typedef struct jarena_block jarena_block;
typedef struct jarena {
    jarena_block *head;
    size_t used;   /* bytes handed out, compared with `budget` */
    size_t budget; /* 0: unlimited */
} jarena;

/* ---- values ---- */
typedef enum jv_type {
    JV_UNDEF = 0,
    JV_NONE,
    JV_BOOL,
    JV_INT,   /* a whole number; held as a double, as JavaScript does */
    JV_FLOAT,
    JV_STR,
    JV_LIST,
    JV_DICT,
    JV_FUNC,
} jv_type;

typedef struct jstr {
    size_t len;
    char s[]; /* NUL-terminated */
} jstr;

typedef struct jv {
    jv_type t;
    union {
        bool b;
        double n; /* JV_INT and JV_FLOAT */
        jstr *s;
        struct jlist *l;
        struct jdict *d;
        struct jfunc *fn;
    } u;
} jv;

typedef struct jlist {
    size_t n, cap;
    jv *items;
    bool tuple; /* from a (a, b) literal: the reference's TupleValue, which some checks refuse */
} jlist;

typedef enum jdict_kind {
    JD_OBJECT = 0, /* a mapping: JSON objects, dict literals, loop */
    JD_NAMESPACE,  /* namespace(): attributes may be assigned; not a mapping */
    JD_KWARGS,     /* keyword arguments passed to a function (an object too) */
} jdict_kind;

typedef struct jdict {
    jdict_kind kind;
    size_t n, cap;
    jstr **keys;
    jv *vals;
} jdict;

struct jctx;
struct jnode;
struct jenv;
typedef jv (*jbuiltin_fn)(struct jctx *ctx, jv self, const jv *args, size_t n);

typedef enum jfunc_kind { JF_BUILTIN, JF_MACRO, JF_CALLER } jfunc_kind;

typedef struct jfunc {
    jfunc_kind kind;
    jbuiltin_fn builtin;    /* JF_BUILTIN */
    jv self;                /* JF_BUILTIN: the value a method is bound to */
    const char *name;
    const struct jnode *node; /* JF_MACRO: the macro; JF_CALLER: the call block */
    struct jenv *env;       /* where it was defined */
} jfunc;

/* ---- tokens ---- */
typedef enum jtok_type {
    JT_TEXT, JT_NUMBER, JT_STRING, JT_IDENT, JT_EQUALS, JT_LPAREN, JT_RPAREN, JT_OPEN_STMT, JT_CLOSE_STMT,
    JT_OPEN_EXPR, JT_CLOSE_EXPR, JT_LBRACKET, JT_RBRACKET, JT_LBRACE, JT_RBRACE, JT_COMMA, JT_DOT, JT_COLON,
    JT_PIPE, JT_ADD, JT_MUL, JT_POW, JT_CMP, JT_UNARY, JT_COMMENT,
} jtok_type;

typedef struct jtok {
    jtok_type type;
    int line;
    jstr *value; /* text, literal, name or operator */
} jtok;

/* ---- syntax tree ---- */
typedef enum jnode_kind {
    /* expressions */
    N_STR, N_INT, N_FLOAT, N_IDENT, N_ARRAY, N_TUPLE, N_OBJECT, N_BINARY, N_UNARY, N_MEMBER, N_SLICE, N_CALL,
    N_KWARG, N_SPREAD, N_KWSPREAD, N_FILTER, N_TEST, N_TERNARY, N_SELECT,
    /* statements */
    N_IF, N_FOR, N_SET, N_MACRO, N_CALLBLOCK, N_FILTERBLOCK, N_BREAK, N_CONTINUE, N_COMMENT,
} jnode_kind;

typedef struct jnode {
    jnode_kind kind;
    int line;
    bool flag;       /* N_MEMBER: computed ([...]); N_TEST: negated; N_CALLBLOCK: has caller params */
    jstr *str;       /* literal text, name, operator, test name */
    double num;
    struct jnode *a, *b, *c;
    struct jnode **items; /* arguments, elements, body, keys */
    size_t n;
    struct jnode **items2; /* alternate body, values */
    size_t n2;
    unsigned special; /* N_MACRO/N_CALLBLOCK: the special names the body reads (JS_* bits) */
} jnode;

enum { JS_CALLER = 1, JS_KWARGS = 2, JS_VARARGS = 4 };

struct vka_jinja_template {
    jarena arena;
    jnode *root; /* a block: items/n */
};

/* ---- evaluation state ---- */
typedef struct jenv {
    struct jenv *parent;
    jdict *vars;
    bool call_block; /* the scope a {% call %} passes its macro */
} jenv;

typedef struct jctx {
    jarena arena;
    jmp_buf fail;
    vka_status status;
    char message[512];
    int line; /* of the node being evaluated, for messages */
    size_t steps, max_steps, max_output;
    unsigned depth, max_depth;
    enum { JUMP_NONE, JUMP_BREAK, JUMP_CONTINUE } jump;
    /* text buffers being filled (malloc'ed): freed when an error jumps out */
    vka_chat_buf *bufs[64];
    size_t n_bufs;
} jctx;

/* arena (jinja_value.c) */
void *jarena_alloc(jarena *a, size_t size, jctx *ctx);
void jarena_free(jarena *a);

/* errors: never return (jinja_value.c) */
_Noreturn void jfail(jctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
_Noreturn void jfail_status(jctx *ctx, vka_status status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* values (jinja_value.c) */
jv jv_undef(void);
jv jv_none(void);
jv jv_bool(bool b);
jv jv_int(double n);
jv jv_float(double n);
jv jv_str(jctx *ctx, const char *s, size_t len);
jv jv_cstr(jctx *ctx, const char *s);
jstr *jstr_new(jctx *ctx, const char *s, size_t len);
jv jv_list(jctx *ctx, size_t cap);
void jlist_push(jctx *ctx, jlist *l, jv v);
jv jv_dict(jctx *ctx, jdict_kind kind);
jv *jdict_get(const jdict *d, const char *key, size_t len);
void jdict_set(jctx *ctx, jdict *d, jstr *key, jv v);
jv jv_builtin(jctx *ctx, const char *name, jbuiltin_fn fn, jv self);
const char *jv_type_name(jv v);
bool jv_is_number(jv v);
bool jv_truthy(jv v);
bool jv_loose_eq(jctx *ctx, jv a, jv b);
bool jv_strict_eq(jv a, jv b);
int jv_compare(jctx *ctx, jv a, jv b, bool case_sensitive);
jv jv_from_json(jctx *ctx, const void *cjson_item);

/* text forms (jinja_value.c): what {{ v }} prints, JavaScript's
 * String(v.value) (used by ~, + and join), and tojson */
void jv_write(jctx *ctx, vka_chat_buf *buf, jv v);
void jv_write_raw(jctx *ctx, vka_chat_buf *buf, jv v);
typedef struct jjson_opts {
    int indent; /* 0: none */
    bool ensure_ascii, sort_keys, undefined_as_null;
    const char *item_sep, *key_sep; /* NULL: the defaults */
} jjson_opts;
void jv_write_json(jctx *ctx, vka_chat_buf *buf, jv v, const jjson_opts *opts, int depth);
vka_chat_buf *jbuf_open(jctx *ctx);              /* a registered buffer, see jctx.bufs */
jv jv_buf_string(jctx *ctx, vka_chat_buf *buf); /* takes a registered buffer's text into a value, closing it */
void jbufs_free(jctx *ctx);                      /* after an error: frees what the open buffers hold */
void jbuf_check(jctx *ctx, const vka_chat_buf *buf);

/* text helpers (jinja_value.c) */
size_t jws_len(const char *s, size_t len);      /* bytes of the JavaScript whitespace at s, or 0 */
size_t jws_len_before(const char *s, size_t len); /* bytes of the whitespace ending at s + len, or 0 */
size_t jutf16_length(const char *s, size_t len);

/* lexing and parsing (jinja_lex.c, jinja_parse.c); errors leave through ctx */
typedef struct jtokens {
    jtok *items;
    size_t n, cap;
} jtokens;
void jtokenize(jctx *ctx, const char *text, size_t len, jtokens *out);
jnode *jparse_tokens(jctx *ctx, const jtokens *tokens);

/* evaluation (jinja_eval.c) */
jv jeval(jctx *ctx, const jnode *node, jenv *env);
jv jcall(jctx *ctx, jv fn, const jv *args, size_t n, jenv *env);
jenv *jenv_new(jctx *ctx, jenv *parent);
void jenv_set(jctx *ctx, jenv *env, jstr *name, jv v);
void jrender_block(jctx *ctx, jnode *const *body, size_t n, jenv *env, vka_chat_buf *out);
/* positional arguments and keyword arguments of a call, as the reference splits them */
typedef struct jargs {
    jv *pos;
    size_t n;
    jdict *kw; /* NULL when none */
} jargs;
jargs jeval_args(jctx *ctx, jnode *const *args, size_t n, jenv *env);
jargs jsplit_args(const jv *args, size_t n);

/* filters, tests, methods and globals (jinja_filters.c) */
jv jfilter_apply(jctx *ctx, jv operand, const jnode *filter, jenv *env);
bool jtest_apply(jctx *ctx, const char *name, jv operand, const jv *arg);
bool jtest_exists(const char *name);
jv jmember_builtin(jctx *ctx, jv object, const char *name);
void jglobals_install(jctx *ctx, jenv *env);
jv jslice(jctx *ctx, jv object, jv start, jv stop, jv step);
jv jindex(jctx *ctx, jv object, double i); /* list or string; negative counts from the end */

#endif
