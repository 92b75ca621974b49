/* grammar_compile.c — syntax tree to the matcher's automaton: one NFA per rule
 * (calls between rules), nullable and left-recursion checks, inlining of small
 * non-recursive rules, and the epsilon closures the matcher steps through. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar_impl.h"
#include "status.h"

/* Small rules without loops (at most this many states after their own
 * inlining) are copied into their callers: `string ::= "\"" char* "\""` then
 * loops inside one rule, which keeps the per-position mask cache precise
 * (a position inside a separate `char` would see its rule end after one
 * character). Rules with loops stay shared: each copy of a loop state would
 * cost its own pass over the vocabulary in the mask cache. */
#define INLINE_LIMIT 48u
#define MAX_CLOSURE_ENTRIES (1u << 23)

enum { E_TERM, E_CALL, E_EPS };

typedef struct b_edge {
    uint32_t kind, arg, to, next;
} b_edge;

typedef struct nfa {
    uint32_t *first_edge;
    uint8_t *final;
    uint32_t n_states, cap_states, cap_final;
    b_edge *edges;
    uint32_t n_edges, cap_edges;
} nfa;

static vka_status too_large(void) {
    return vka_fail(VKA_ERR_GRAMMAR,
                    "grammar too large: more than %u automaton states after expanding repetitions "
                    "(HINT: large {m,n} counts multiply when nested)",
                    VKA_GRAMMAR_MAX_STATES);
}

static vka_status oom(void) { return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory while compiling a grammar"); }

static vka_status new_state(nfa *a, uint32_t *out) {
    if (a->n_states >= VKA_GRAMMAR_MAX_STATES) return too_large();
    uint32_t cap = a->cap_states;
    if (!g_grow((void **)&a->first_edge, &a->cap_states, a->n_states + 1, sizeof *a->first_edge)) return oom();
    if (!g_grow((void **)&a->final, &a->cap_final, a->n_states + 1, 1)) return oom();
    (void)cap;
    a->first_edge[a->n_states] = G_NONE;
    a->final[a->n_states] = 0;
    *out = a->n_states++;
    return VKA_OK;
}

static vka_status add_edge(nfa *a, uint32_t from, uint32_t kind, uint32_t arg, uint32_t to) {
    if (!g_grow((void **)&a->edges, &a->cap_edges, a->n_edges + 1, sizeof *a->edges)) return oom();
    a->edges[a->n_edges] = (b_edge){kind, arg, to, a->first_edge[from]};
    a->first_edge[from] = a->n_edges++;
    return VKA_OK;
}

static void nfa_free(nfa *a) {
    free(a->first_edge);
    free(a->final);
    free(a->edges);
    memset(a, 0, sizeof *a);
}

/* ---------------------------------------------------------------- tree to NFA */

/* Adds the automaton for `n` starting at state `from`; *exit is where it ends.
 * Every loop gets a fresh head state, so sharing `from` is safe. */
static vka_status compile_node(nfa *a, const g_node *n, uint32_t from, uint32_t *exit) {
    uint32_t t, cur, x, e;
    switch (n->kind) {
    case G_CLASS:
    case G_REF:
        VKA_TRY(new_state(a, &t));
        VKA_TRY(add_edge(a, from, n->kind == G_CLASS ? E_TERM : E_CALL, n->kind == G_CLASS ? n->cls : n->rule, t));
        *exit = t;
        return VKA_OK;
    case G_SEQ:
        cur = from;
        for (uint32_t i = 0; i < n->n_kids; i++) VKA_TRY(compile_node(a, n->kids[i], cur, &cur));
        *exit = cur;
        return VKA_OK;
    case G_ALT:
        if (n->n_kids == 1) return compile_node(a, n->kids[0], from, exit);
        VKA_TRY(new_state(a, &x));
        for (uint32_t i = 0; i < n->n_kids; i++) {
            VKA_TRY(compile_node(a, n->kids[i], from, &e));
            VKA_TRY(add_edge(a, e, E_EPS, 0, x));
        }
        *exit = x;
        return VKA_OK;
    case G_REPEAT:
        cur = from;
        for (uint32_t i = 0; i < n->min; i++) VKA_TRY(compile_node(a, n->kids[0], cur, &cur));
        if (n->max == G_NONE) {
            VKA_TRY(new_state(a, &x));
            VKA_TRY(add_edge(a, cur, E_EPS, 0, x));
            VKA_TRY(compile_node(a, n->kids[0], x, &e));
            VKA_TRY(add_edge(a, e, E_EPS, 0, x));
            *exit = x;
        } else if (n->max > n->min) {
            /* nested optionals: after k extra copies exactly one position is live */
            VKA_TRY(new_state(a, &x));
            VKA_TRY(add_edge(a, cur, E_EPS, 0, x));
            for (uint32_t i = n->min; i < n->max; i++) {
                VKA_TRY(compile_node(a, n->kids[0], cur, &cur));
                VKA_TRY(add_edge(a, cur, E_EPS, 0, x));
            }
            *exit = x;
        } else {
            *exit = cur;
        }
        return VKA_OK;
    }
    return vka_fail(VKA_ERR_INTERNAL, "unknown grammar node kind");
}

static bool has_loop(const g_node *n) {
    if (n->kind == G_REPEAT && n->max == G_NONE) return true;
    for (uint32_t i = 0; i < n->n_kids; i++)
        if (has_loop(n->kids[i])) return true;
    return false;
}

/* ---------------------------------------------------------------- analysis */

typedef struct analysis {
    const g_syntax *syn;
    nfa base;
    uint32_t *rule_first, *rule_end;    /* state range of each rule in `base` */
    uint8_t *nullable;
    uint32_t *mark;                     /* per state, epoch of the last visit */
    uint32_t epoch;
    uint32_t *queue;
    uint32_t cap_queue;
} analysis;

/* Visits the states of rule r reachable from its start without consuming a
 * character (epsilon edges, and calls of nullable rules). Calls `on_call` for
 * every call edge met; returns whether an end of the rule is reachable. */
typedef void (*call_fn)(void *user, uint32_t callee);

static vka_status nullable_walk(analysis *an, uint32_t r, call_fn on_call, void *user, bool *reaches_end) {
    const nfa *a = &an->base;
    uint32_t size = an->rule_end[r] - an->rule_first[r];
    if (!g_grow((void **)&an->queue, &an->cap_queue, size + 1, sizeof *an->queue)) return oom();
    an->epoch++;
    uint32_t n = 0, head = 0;
    an->queue[n++] = an->rule_first[r];
    an->mark[an->rule_first[r]] = an->epoch;
    bool end = false;
    while (head < n) {
        uint32_t s = an->queue[head++];
        if (a->final[s]) end = true;
        for (uint32_t e = a->first_edge[s]; e != G_NONE; e = a->edges[e].next) {
            const b_edge *ed = &a->edges[e];
            if (ed->kind == E_TERM) continue;
            if (ed->kind == E_CALL) {
                if (on_call) on_call(user, ed->arg);
                if (!an->nullable[ed->arg]) continue;
            }
            if (an->mark[ed->to] != an->epoch) {
                an->mark[ed->to] = an->epoch;
                an->queue[n++] = ed->to;
            }
        }
    }
    *reaches_end = end;
    return VKA_OK;
}

static vka_status compute_nullable(analysis *an) {
    bool changed = true;
    while (changed) {
        changed = false;
        for (uint32_t r = 0; r < an->syn->n_rules; r++) {
            if (an->nullable[r]) continue;
            bool end;
            VKA_TRY(nullable_walk(an, r, NULL, NULL, &end));
            if (end) {
                an->nullable[r] = 1;
                changed = true;
            }
        }
    }
    return VKA_OK;
}

typedef struct edge_list {
    uint32_t *to;
    uint32_t n, cap;
    bool failed;
} edge_list;

static void collect_call(void *user, uint32_t callee) {
    edge_list *l = user;
    if (l->failed) return;
    for (uint32_t i = 0; i < l->n; i++)
        if (l->to[i] == callee) return;
    if (!g_grow((void **)&l->to, &l->cap, l->n + 1, sizeof *l->to)) {
        l->failed = true;
        return;
    }
    l->to[l->n++] = callee;
}

/* Rejects rules that can reach themselves without consuming a character. */
static vka_status check_left_recursion(analysis *an) {
    uint32_t n_rules = an->syn->n_rules;
    edge_list *left = calloc(n_rules, sizeof *left);
    uint8_t *color = calloc(n_rules, 1);
    uint32_t *stack = malloc((size_t)n_rules * sizeof *stack);
    uint32_t *next = calloc(n_rules, sizeof *next);
    vka_status s = VKA_OK;
    if (!left || !color || !stack || !next) { s = oom(); goto done; }
    for (uint32_t r = 0; r < n_rules; r++) {
        bool end;
        if ((s = nullable_walk(an, r, collect_call, &left[r], &end)) != VKA_OK) goto done;
        if (left[r].failed) { s = oom(); goto done; }
    }
    for (uint32_t root = 0; root < n_rules; root++) {
        if (color[root]) continue;
        uint32_t depth = 0;
        stack[depth++] = root;
        color[root] = 1;
        while (depth) {
            uint32_t r = stack[depth - 1];
            if (next[r] == left[r].n) {
                color[r] = 2;
                depth--;
                continue;
            }
            uint32_t c = left[r].to[next[r]++];
            if (color[c] == 0) {
                color[c] = 1;
                stack[depth++] = c;
            } else if (color[c] == 1) {
                /* the cycle is stack[i..depth-1] -> c */
                uint32_t i = depth;
                while (i > 0 && stack[i - 1] != c) i--;
                i--;
                char path[384];
                size_t used = 0;
                path[0] = 0;
                for (uint32_t k = i; k <= depth && used < sizeof path - 8; k++) {
                    const char *name = an->syn->rules[k < depth ? stack[k] : c].name;
                    int w = snprintf(path + used, sizeof path - used, "%s%s", k > i ? " -> " : "", name);
                    if (w < 0) break;
                    used += (size_t)w;
                    if (used >= sizeof path) used = sizeof path - 1;
                }
                uint32_t line, col;
                g_line_col(an->syn->text, an->syn->rules[c].offset, &line, &col);
                s = vka_fail(VKA_ERR_GRAMMAR,
                             "line %u, column %u: rule '%s' is left-recursive (%s): it can reach itself "
                             "without consuming a character (HINT: rewrite with repetition, e.g. "
                             "expr ::= term (\"+\" term)*)",
                             line, col, an->syn->rules[c].name, path);
                goto done;
            }
        }
    }
done:
    if (left)
        for (uint32_t r = 0; r < n_rules; r++) free(left[r].to);
    free(left);
    free(color);
    free(stack);
    free(next);
    return s;
}

/* Marks rules that lie on a cycle of calls (recursive rules), and lists all
 * rules callees-first (Tarjan's SCC order). */
static vka_status find_recursive(analysis *an, uint8_t *recursive, uint32_t *order) {
    uint32_t n_rules = an->syn->n_rules;
    const nfa *a = &an->base;
    uint32_t *index = malloc((size_t)n_rules * sizeof *index);
    uint32_t *low = malloc((size_t)n_rules * sizeof *low);
    uint8_t *on_stack = calloc(n_rules, 1);
    uint32_t *scc = malloc((size_t)n_rules * sizeof *scc);
    uint32_t *call_stack = malloc((size_t)n_rules * sizeof *call_stack);
    uint32_t *cursor = malloc((size_t)n_rules * sizeof *cursor);   /* next state to scan */
    uint32_t *edge = malloc((size_t)n_rules * sizeof *edge);       /* next edge of that state */
    vka_status s = VKA_OK;
    if (!index || !low || !on_stack || !scc || !call_stack || !cursor || !edge) { s = oom(); goto done; }
    for (uint32_t i = 0; i < n_rules; i++) index[i] = G_NONE;
    uint32_t counter = 0, n_scc = 0, n_order = 0;
    for (uint32_t root = 0; root < n_rules; root++) {
        if (index[root] != G_NONE) continue;
        uint32_t depth = 0;
        call_stack[depth++] = root;
        index[root] = low[root] = counter++;
        scc[n_scc++] = root;
        on_stack[root] = 1;
        cursor[root] = an->rule_first[root];
        edge[root] = a->first_edge[cursor[root]];
        while (depth) {
            uint32_t r = call_stack[depth - 1];
            /* next call edge of r */
            uint32_t callee = G_NONE;
            while (cursor[r] < an->rule_end[r]) {
                if (edge[r] == G_NONE) {
                    cursor[r]++;
                    if (cursor[r] < an->rule_end[r]) edge[r] = a->first_edge[cursor[r]];
                    continue;
                }
                const b_edge *ed = &a->edges[edge[r]];
                edge[r] = ed->next;
                if (ed->kind == E_CALL) {
                    callee = ed->arg;
                    break;
                }
            }
            if (callee != G_NONE) {
                if (callee == r) recursive[r] = 1;
                if (index[callee] == G_NONE) {
                    index[callee] = low[callee] = counter++;
                    scc[n_scc++] = callee;
                    on_stack[callee] = 1;
                    cursor[callee] = an->rule_first[callee];
                    edge[callee] = a->first_edge[cursor[callee]];
                    call_stack[depth++] = callee;
                } else if (on_stack[callee] && index[callee] < low[r]) {
                    low[r] = index[callee];
                }
                continue;
            }
            depth--;
            if (depth && low[r] < low[call_stack[depth - 1]]) low[call_stack[depth - 1]] = low[r];
            if (low[r] == index[r]) {
                uint32_t first = n_scc;
                do first--; while (scc[first] != r);
                for (uint32_t k = first; k < n_scc; k++) {
                    on_stack[scc[k]] = 0;
                    if (n_scc - first > 1) recursive[scc[k]] = 1;
                    order[n_order++] = scc[k];
                }
                n_scc = first;
            }
        }
    }
done:
    free(index);
    free(low);
    free(on_stack);
    free(scc);
    free(call_stack);
    free(cursor);
    free(edge);
    return s;
}

/* ---------------------------------------------------------------- inlining */

typedef struct inliner {
    const analysis *an;
    const uint8_t *inline_rule;
    nfa out;
    uint32_t *kept_start;       /* start state in `out` of each kept rule */
} inliner;

/* Copies rule r into `out`, splicing in copies of the inlined rules it calls.
 * Inline copies report their end states in *exits instead of marking them final. */
static vka_status copy_rule(inliner *in, uint32_t r, bool as_inline, uint32_t *entry, edge_list *exits) {
    const nfa *a = &in->an->base;
    uint32_t first = in->an->rule_first[r], end = in->an->rule_end[r];
    uint32_t base = in->out.n_states;
    for (uint32_t s = first; s < end; s++) {
        uint32_t t;
        VKA_TRY(new_state(&in->out, &t));
    }
    *entry = base;
    for (uint32_t s = first; s < end; s++) {
        uint32_t ms = base + (s - first);
        if (a->final[s]) {
            if (as_inline) {
                collect_call(exits, ms);
                if (exits->failed) return oom();
            } else {
                in->out.final[ms] = 1;
            }
        }
        for (uint32_t e = a->first_edge[s]; e != G_NONE; e = a->edges[e].next) {
            const b_edge *ed = &a->edges[e];
            uint32_t to = base + (ed->to - first);
            if (ed->kind == E_CALL && in->inline_rule[ed->arg]) {
                uint32_t sub_entry;
                edge_list sub_exits = {0};
                vka_status st = copy_rule(in, ed->arg, true, &sub_entry, &sub_exits);
                if (st == VKA_OK) st = add_edge(&in->out, ms, E_EPS, 0, sub_entry);
                for (uint32_t k = 0; st == VKA_OK && k < sub_exits.n; k++)
                    st = add_edge(&in->out, sub_exits.to[k], E_EPS, 0, to);
                free(sub_exits.to);
                VKA_TRY(st);
            } else {
                VKA_TRY(add_edge(&in->out, ms, ed->kind, ed->arg, to));
            }
        }
    }
    return VKA_OK;
}

/* ---------------------------------------------------------------- closures */

static vka_status build_tables(const nfa *a, uint32_t root_start, vka_grammar *g) {
    uint32_t n = a->n_states;
    g->n_states = n;
    g->root_start = root_start;
    g->term_off = calloc((size_t)n + 1, sizeof *g->term_off);
    g->clo_term_off = calloc((size_t)n + 1, sizeof *g->clo_term_off);
    g->clo_call_off = calloc((size_t)n + 1, sizeof *g->clo_call_off);
    g->flags = calloc(n ? n : 1, 1);
    uint32_t *mark = calloc(n ? n : 1, sizeof *mark);
    uint32_t *queue = malloc((n ? n : 1) * sizeof *queue);
    uint32_t cap_terms = 0, cap_calls = 0, cap_rets = 0;
    vka_status s = VKA_OK;
    if (!g->term_off || !g->clo_term_off || !g->clo_call_off || !g->flags || !mark || !queue) { s = oom(); goto done; }

    uint32_t n_term = 0;
    for (uint32_t st = 0; st < n; st++) {
        g->term_off[st] = n_term;
        for (uint32_t e = a->first_edge[st]; e != G_NONE; e = a->edges[e].next)
            if (a->edges[e].kind == E_TERM) n_term++;
    }
    g->term_off[n] = n_term;
    g->term_cls = malloc((n_term ? n_term : 1) * sizeof *g->term_cls);
    g->term_to = malloc((n_term ? n_term : 1) * sizeof *g->term_to);
    if (!g->term_cls || !g->term_to) { s = oom(); goto done; }
    for (uint32_t st = 0; st < n; st++) {
        /* edges are prepended while building; store them in written order */
        uint32_t k = g->term_off[st + 1];
        for (uint32_t e = a->first_edge[st]; e != G_NONE; e = a->edges[e].next) {
            if (a->edges[e].kind != E_TERM) continue;
            k--;
            g->term_cls[k] = a->edges[e].arg;
            g->term_to[k] = a->edges[e].to;
        }
    }

    uint32_t n_clo_term = 0, n_clo_call = 0;
    for (uint32_t st = 0; st < n; st++) {
        g->clo_term_off[st] = n_clo_term;
        g->clo_call_off[st] = n_clo_call;
        uint32_t epoch = st + 1, qn = 0, head = 0;
        queue[qn++] = st;
        mark[st] = epoch;
        bool final = false;
        while (head < qn) {
            uint32_t q = queue[head++];
            if (a->final[q]) final = true;
            if (g->term_off[q + 1] > g->term_off[q]) {
                if (!g_grow((void **)&g->clo_term, &cap_terms, n_clo_term + 1, sizeof *g->clo_term)) { s = oom(); goto done; }
                g->clo_term[n_clo_term++] = q;
            }
            for (uint32_t e = a->first_edge[q]; e != G_NONE; e = a->edges[e].next) {
                const b_edge *ed = &a->edges[e];
                if (ed->kind == E_CALL) {
                    if (!g_grow((void **)&g->clo_call_start, &cap_calls, n_clo_call + 1, sizeof(uint32_t)) ||
                        !g_grow((void **)&g->clo_call_ret, &cap_rets, n_clo_call + 1, sizeof(uint32_t))) {
                        s = oom();
                        goto done;
                    }
                    g->clo_call_start[n_clo_call] = ed->arg;
                    g->clo_call_ret[n_clo_call++] = ed->to;
                } else if (ed->kind == E_EPS && mark[ed->to] != epoch) {
                    mark[ed->to] = epoch;
                    queue[qn++] = ed->to;
                }
            }
        }
        if (n_clo_term + n_clo_call > MAX_CLOSURE_ENTRIES) {
            s = vka_fail(VKA_ERR_GRAMMAR,
                         "grammar too ambiguous: its epsilon closures exceed %u entries "
                         "(HINT: write x{0,n} rather than x? repeated n times)",
                         MAX_CLOSURE_ENTRIES);
            goto done;
        }
        uint8_t f = final ? G_FLAG_FINAL : 0;
        if (final && n_clo_term == g->clo_term_off[st] && n_clo_call == g->clo_call_off[st]) f |= G_FLAG_EXIT_ONLY;
        g->flags[st] = f;
    }
    g->clo_term_off[n] = n_clo_term;
    g->clo_call_off[n] = n_clo_call;
done:
    free(mark);
    free(queue);
    return s;
}

vka_status g_compile(const g_syntax *syn, uint32_t root_rule, vka_grammar *g) {
    analysis an = {.syn = syn};
    inliner in = {.an = &an};
    uint32_t n_rules = syn->n_rules;
    uint8_t *recursive = calloc(n_rules, 1);
    uint8_t *inline_rule = calloc(n_rules, 1);
    uint32_t *order = malloc((size_t)n_rules * sizeof *order);
    uint32_t *size = calloc(n_rules, sizeof *size);
    an.rule_first = malloc((size_t)n_rules * sizeof *an.rule_first);
    an.rule_end = malloc((size_t)n_rules * sizeof *an.rule_end);
    an.nullable = calloc(n_rules, 1);
    in.kept_start = malloc((size_t)n_rules * sizeof *in.kept_start);
    vka_status s = VKA_OK;
    if (!recursive || !inline_rule || !order || !size || !an.rule_first || !an.rule_end || !an.nullable ||
        !in.kept_start) { s = oom(); goto done; }

    for (uint32_t r = 0; r < n_rules; r++) {
        uint32_t start, exit;
        an.rule_first[r] = an.base.n_states;
        if ((s = new_state(&an.base, &start)) != VKA_OK) goto done;
        if ((s = compile_node(&an.base, syn->rules[r].body, start, &exit)) != VKA_OK) goto done;
        an.base.final[exit] = 1;
        an.rule_end[r] = an.base.n_states;
    }
    an.mark = calloc(an.base.n_states, sizeof *an.mark);
    if (!an.mark) { s = oom(); goto done; }
    if ((s = compute_nullable(&an)) != VKA_OK) goto done;
    if ((s = check_left_recursion(&an)) != VKA_OK) goto done;
    if ((s = find_recursive(&an, recursive, order)) != VKA_OK) goto done;

    /* callees come first in `order`, so their sizes are known */
    for (uint32_t i = 0; i < n_rules; i++) {
        uint32_t r = order[i];
        if (recursive[r] || r == root_rule || has_loop(syn->rules[r].body)) continue;
        uint64_t total = an.rule_end[r] - an.rule_first[r];
        for (uint32_t st = an.rule_first[r]; st < an.rule_end[r]; st++)
            for (uint32_t e = an.base.first_edge[st]; e != G_NONE; e = an.base.edges[e].next)
                if (an.base.edges[e].kind == E_CALL && inline_rule[an.base.edges[e].arg])
                    total += size[an.base.edges[e].arg];
        size[r] = total > INLINE_LIMIT ? INLINE_LIMIT + 1 : (uint32_t)total;
        inline_rule[r] = total <= INLINE_LIMIT;
    }
    in.inline_rule = inline_rule;
    for (uint32_t r = 0; r < n_rules; r++) {
        in.kept_start[r] = G_NONE;
        if (inline_rule[r]) continue;
        if ((s = copy_rule(&in, r, false, &in.kept_start[r], NULL)) != VKA_OK) goto done;
    }
    for (uint32_t e = 0; e < in.out.n_edges; e++)
        if (in.out.edges[e].kind == E_CALL) in.out.edges[e].arg = in.kept_start[in.out.edges[e].arg];
    if ((s = build_tables(&in.out, in.kept_start[root_rule], g)) != VKA_OK) goto done;
    g->n_classes = syn->n_classes;
    g->classes = malloc((syn->n_classes ? syn->n_classes : 1) * sizeof *g->classes);
    g->ranges = malloc((syn->n_ranges ? syn->n_ranges : 1) * sizeof *g->ranges);
    if (!g->classes || !g->ranges) { s = oom(); goto done; }
    if (syn->n_classes) memcpy(g->classes, syn->classes, syn->n_classes * sizeof *g->classes);
    if (syn->n_ranges) memcpy(g->ranges, syn->ranges, syn->n_ranges * sizeof *g->ranges);
done:
    nfa_free(&an.base);
    nfa_free(&in.out);
    free(an.rule_first);
    free(an.rule_end);
    free(an.nullable);
    free(an.mark);
    free(an.queue);
    free(in.kept_start);
    free(recursive);
    free(inline_rule);
    free(order);
    free(size);
    return s;
}
