/* json_schema_impl.h — internals of the JSON Schema converter: the schema
 * document's index (paths, $id, anchors), the normal form every schema is
 * reduced to (a "node": the intersection of a set of source schemas, split
 * by JSON type into facets), and the GBNF emission from nodes. */
#ifndef VKA_JSON_SCHEMA_IMPL_H
#define VKA_JSON_SCHEMA_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "structured/json_number.h"
#include "structured/json_rules.h"
#include "structured/json_schema.h"
#include "structured/regex.h"

/* ---------------------------------------------------------------- JSON types */

/* Numbers are split into integral and fractional values so that "integer"
 * is a subset of "number" and intersections are a bitwise AND. */
enum {
    JT_NULL = 1,
    JT_BOOL = 2,
    JT_OBJECT = 4,
    JT_ARRAY = 8,
    JT_STRING = 16,
    JT_INTEGER = 32,            /* numbers with no fractional part */
    JT_FRACTION = 64,           /* numbers with one */
    JT_NUMBER = JT_INTEGER | JT_FRACTION,
    JT_ALL = 127,
};

/* ---------------------------------------------------------------- source schemas */

/* A schema of the document, possibly with its anyOf/oneOf/not/if already
 * distributed by an enclosing node ("plain": only its own keywords count). */
typedef struct js_src {
    const cJSON *schema;
    bool plain;
} js_src;

/* A conjunction of source schemas (sorted, no duplicates): the value must
 * satisfy all of them. The empty set is the schema `true`. */
typedef struct js_set {
    js_src *items;
    uint32_t n;
} js_set;

/* ---------------------------------------------------------------- nodes */

typedef struct js_node js_node;
typedef struct js_conv js_conv;

/* One source's object keywords, kept per source because a name that one
 * source declares may fall under another's patternProperties or
 * additionalProperties. */
typedef struct js_obj_src {
    const cJSON *properties;            /* object or NULL */
    const cJSON *pattern_properties;    /* object or NULL */
    re_lang **pattern_langs;            /* one per member of pattern_properties (the converter's) */
    const cJSON *additional;            /* schema or NULL (absent: true, or false under strict) */
    bool additional_false;              /* strict mode and no additionalProperties */
} js_obj_src;

/* One source's array keywords. */
typedef struct js_arr_src {
    const cJSON *prefix;                /* array of schemas or NULL */
    const cJSON *items;                 /* schema for the positions after prefix, or NULL (any) */
} js_arr_src;

typedef struct js_dep {
    char *name;                         /* when this member is present */
    char **requires;                    /* these must be too */
    uint32_t n_requires;
} js_dep;

/* A choice a node distributes: one of these schemas (anyOf / oneOf). */
typedef struct js_choice {
    const cJSON *list;                  /* array of schemas */
    bool one_of;
    const char *path;
} js_choice;

struct js_node {
    uint32_t id;
    js_set set;                         /* the sources it is the intersection of (owned) */
    const char *path;                   /* JSON pointer of its first source, for messages */
    bool building;                      /* under construction (recursion guard) */

    /* A union node: the value satisfies one of the alternatives (each a
     * node of its own, the choices distributed). Facets below are unused. */
    js_node **alts;
    uint32_t n_alts;
    bool is_union;

    unsigned types;                     /* JT_* allowed */
    cJSON *values;                      /* enum/const intersection (array), or NULL: unrestricted */
    cJSON *excluded;                    /* values excluded by `not` (array), or NULL */

    /* strings */
    uint64_t min_len, max_len;          /* code points; max JS_UNBOUNDED */
    re_lang *lang;                      /* patterns and formats intersected; NULL: any */

    /* numbers */
    js_number_spec num;                 /* bounds and multipleOf (num.integer unused: see types) */

    /* objects */
    js_obj_src *objs;
    uint32_t n_objs;
    char **names;                       /* declared names in order: properties, then others named */
    uint32_t n_names;
    char **required;
    uint32_t n_required;
    char **forbidden;                   /* names that must not appear (not: {required: [...]}) */
    uint32_t n_forbidden;
    js_dep *deps;
    uint32_t n_deps;
    js_set key_set;                     /* propertyNames schemas (strings the keys must be) */
    uint64_t min_props, max_props;

    /* arrays */
    js_arr_src *arrs;
    uint32_t n_arrs;
    uint64_t min_items, max_items;
    const cJSON *contains;              /* at most one contains schema */
    uint64_t min_contains, max_contains;
    bool unique;

    /* emission */
    char *rule;                         /* its rule name once emitted (or reserved) */
    bool emitted, empty;
};

/* ---------------------------------------------------------------- converter */

typedef struct js_path_entry {
    const cJSON *node;
    char *path;                         /* JSON pointer of node in the document */
    char *base;                         /* base URI in effect at node */
    uint32_t order;                     /* position in document order */
} js_path_entry;

typedef struct js_uri_entry {
    char *uri;                          /* absolute URI without fragment, or with "#anchor" */
    const cJSON *node;
} js_uri_entry;

/* The choices the rewritings made for one source (memoized, so that the same
 * source always yields the same synthetic schemas and node sets stay equal). */
typedef struct js_rewrite_memo {
    const cJSON *src;
    const cJSON *choices[8];
    uint32_t n;
} js_rewrite_memo;

/* Where a child value sits relative to its parent's (for uniqueItems paths). */
typedef enum js_step_kind { JS_STEP_SAME, JS_STEP_NAME, JS_STEP_INDEX, JS_STEP_ANY } js_step_kind;

typedef struct js_step {
    js_step_kind kind;
    const char *name;                   /* JS_STEP_NAME */
    uint64_t index;                     /* JS_STEP_INDEX */
} js_step;

/* A parent node's rule refers to a child node's rule at that step. */
typedef struct js_edge {
    uint32_t parent, child;
    js_step_kind kind;
    char *name;
    uint64_t index;
} js_edge;

struct js_conv {
    cJSON *doc;
    uint32_t flags;                     /* VKA_JSON_SCHEMA_* */
    vka_json_ws ws;
    js_rules rules;
    js_buf warnings;

    js_path_entry *paths;               /* every schema object of the document, sorted by node */
    uint32_t n_paths, cap_paths;
    js_uri_entry *uris;                 /* $id and $anchor targets */
    uint32_t n_uris, cap_uris;

    js_node **nodes;                    /* every node made, for memo lookup and freeing */
    uint32_t n_nodes, cap_nodes;
    uint32_t *node_table;               /* open-addressed hash of node sets: index + 1, 0 empty */
    uint32_t cap_table;                 /* a power of two, at least twice n_nodes */
    struct js_pattern_memo *pattern_memo; /* patternProperties compiled, per object */
    uint32_t n_pattern_memo, cap_pattern_memo;
    void *lang_memo;                    /* patterns compiled, by text (json_schema_node.c) */
    uint32_t n_lang_memo, cap_lang_memo;
    void *key_memo;                     /* undeclared-key expressions by signature (json_schema_object.c) */
    uint32_t n_key_memo, cap_key_memo;
    struct js_bound_entry *bounds;      /* type bounds of schemas, hashed by pointer */
    uint32_t n_bounds, cap_bounds;      /* cap_bounds: a power of two, or 0 */
    cJSON *scratch;                     /* schemas the converter made (kept until the end) */
    const cJSON *false_schema;          /* the schema `false`, in scratch */
    js_rewrite_memo *rewrites;
    uint32_t n_rewrites, cap_rewrites;
    js_rewrite_memo *negations;
    uint32_t n_negations, cap_negations;
    void *exclusive;                    /* oneOf lists made exclusive (json_schema_rewrite.c) */
    uint32_t n_exclusive, cap_exclusive;
    uint32_t depth;                     /* recursion depth of building/emitting */
    unsigned need;                      /* shared rules used (JS_NEED_*) */
    js_edge *edges;                     /* recorded while emitting */
    uint32_t n_edges, cap_edges;
    js_node *parent;                    /* the node being emitted */
    js_step step;                       /* where the next child rule sits */
    uint32_t *unique;                   /* arrays whose uniqueItems is checked at run time */
    uint32_t n_unique, cap_unique;
    const char *any_string;             /* the rule of any string, once made */
    char **kept;                        /* rule names made outside nodes, alive until the end */
    uint32_t n_kept, cap_kept;
};

/* A copy of `name` that lives as long as the converter. */
const char *js_keep_name(js_conv *c, const char *name);

enum { JS_NEED_VALUE = 1, JS_NEED_WS = 2 };

#define JS_MAX_DEPTH 200
#define JS_MAX_ALTERNATIVES 512         /* anyOf x anyOf products, if/then/else expansions */
#define JS_MAX_PATTERN_REGIONS 64       /* key regions from patternProperties combinations */
#define JS_MAX_OBJECT_STATES 200000     /* member positions x counts of min/maxProperties */

/* Errors: "JSON schema at <path>/<keyword>: <what>". */
vka_status js_fail_at(const char *path, const char *keyword, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
vka_status js_oom(void);
void js_warn(js_conv *c, const char *path, const char *keyword, const char *why);

/* Document index (json_schema_doc.c). */
vka_status js_index_document(js_conv *c);
const char *js_path_of(const js_conv *c, const cJSON *schema);
/* Document order of a schema (made schemas come after the document's). */
uint32_t js_doc_order(const js_conv *c, const cJSON *schema);
/* Registers a schema the converter made, with the path (and base URI) of the
 * schema it stands for, so messages and $refs inside it work. */
vka_status js_index_synthetic(js_conv *c, const cJSON *made, const cJSON *origin);
/* The schema a $ref in `from` points to (local pointers, $id-relative URIs, anchors). */
vka_status js_resolve_ref(js_conv *c, const cJSON *from, const char *ref, const cJSON **out);
void js_index_free(js_conv *c);

/* Sets (json_schema_node.c). */
vka_status js_set_add(js_set *s, const cJSON *schema, bool plain);
vka_status js_set_union(js_set *into, const js_set *from);
void js_set_free(js_set *s);

/* The node of a conjunction (memoized: equal sets give the same node). */
vka_status js_node_get(js_conv *c, const js_set *set, js_node **out);
vka_status js_node_of(js_conv *c, const cJSON *schema, js_node **out);
void js_nodes_free(js_conv *c);

/* The set of schemas a member `name` of an object of `n` must satisfy. */
vka_status js_member_set(js_conv *c, const js_node *n, const char *name, js_set *out);
/* The set for array position i (0-based). */
vka_status js_item_set(js_conv *c, const js_node *n, uint64_t index, js_set *out);
/* Number of positions whose schema differs from the positions after them. */
uint64_t js_prefix_len(const js_node *n);

/* Validation of a JSON value against a node, exactly as the schema decides
 * (json_schema_check.c): for enum/const intersection. */
vka_status js_admits(js_conv *c, js_node *n, const cJSON *value, bool *ok);
/* Deep equality as JSON Schema defines it (numbers by value, members unordered). */
bool js_json_equal(const cJSON *a, const cJSON *b);
/* An upper bound of the JSON types (JT_*) a value of `schema` can have, read
 * from its type, enum, const, allOf, $ref, anyOf and oneOf alone: sources
 * whose bounds share no type have no common value. Never fails (any doubt
 * gives JT_ALL). */
unsigned js_type_bound(js_conv *c, const cJSON *schema);
void js_type_bounds_free(js_conv *c);

/* What sources say of an object's members (json_schema_prune.c): the names
 * they require and the values `properties` pins them to, to prove a union's
 * combination empty without building it. Names and values point into the
 * schemas. */
typedef enum js_pin_kind { JS_PIN_ABSENT, JS_PIN_CONST, JS_PIN_ENUM } js_pin_kind;
typedef struct js_pin {
    const char *name;
    const cJSON *values;            /* the const value or the enum array */
    js_pin_kind kind;               /* ABSENT: the property schema is false */
} js_pin;
typedef struct js_facts {
    const char **required;
    js_pin *pins;
    uint32_t n_required, cap_required, n_pins, cap_pins;
} js_facts;
/* The facts of the set's sources (own keywords: a node's set is flattened). */
vka_status js_facts_of_set(const js_set *set, js_facts *out);
/* The facts of a schema with its allOf members and $ref targets. */
vka_status js_facts_of_schema(js_conv *c, const cJSON *schema, js_facts *out);
/* Whether an object satisfying all parts cannot exist: a name required by one
 * part whose pins over all parts allow no common value. Sound only where the
 * parts' values are all objects (the caller's type bound). */
bool js_facts_conflict(const js_facts *const *parts, uint32_t n);
void js_facts_free(js_facts *f);
/* The facts of a union's base (all[0]) and of every member of its choice
 * lists (from all[1], list by list), read once for all its combinations;
 * combination k takes member (k / product of earlier sizes) % size of each. */
typedef struct js_union_facts {
    js_facts *all;
    const js_facts **parts;         /* scratch: one combination's */
    uint32_t *sizes;
    uint32_t n, n_lists;
} js_union_facts;
vka_status js_union_facts_new(js_conv *c, const js_set *base, const cJSON *const *lists, uint32_t n_lists,
                              js_union_facts *u);
/* Whether combination k provably admits no object (see js_facts_conflict). */
bool js_union_facts_conflict(js_union_facts *u, uint64_t k);
void js_union_facts_free(js_union_facts *u);

/* Whether two nodes provably share no value (false: unknown or overlapping). */
vka_status js_disjoint(js_conv *c, js_node *a, js_node *b, bool *disjoint);

/* UTF-8 length in code points (for minLength/maxLength on values). */
uint64_t js_utf8_length(const char *s);

/* Emission (json_schema_emit.c, json_schema_object.c). */
vka_status js_emit(js_conv *c, js_node *n, const char **rule);
vka_status js_emit_object(js_conv *c, js_node *n, js_buf *body, bool *empty);
void js_key_memo_free(js_conv *c);
void js_lang_memo_free(js_conv *c);
vka_status js_emit_array(js_conv *c, js_node *n, js_buf *body, bool *empty);
/* The rule of the node of a set, or NULL when that node is empty; `step` says
 * where its value sits relative to the node being emitted. */
vka_status js_rule_of_set(js_conv *c, const js_set *set, js_step step, const char **rule);
/* The instance-path patterns of the arrays in c->unique, as "# vka:unique"
 * annotation lines for the runtime (json_schema_unique.c). */
vka_status js_put_unique_annotations(js_conv *c);
void js_edges_free(js_conv *c);
/* unsupported keyword: an error, or a warning under the lenient option */
vka_status js_unsupported(js_conv *c, const char *path, const char *keyword, const char *why);
vka_status js_emit_string_lang(js_conv *c, const re_lang *lang, uint64_t min, uint64_t max, js_buf *body, bool *empty);
/* The whitespace token between structural characters ("" when compact). */
const char *js_ws(js_conv *c);
/* A JSON value as a GBNF atom (enum/const), every string in any JSON spelling. */
vka_status js_emit_value(js_conv *c, const cJSON *v, js_buf *body);

#endif
