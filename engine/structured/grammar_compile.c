/* grammar_compile.c — syntax tree to the matcher's automaton: one NFA per rule
 * (calls between rules), nullable and left-recursion checks, inlining of small
 * non-recursive rules, and the epsilon closures the matcher steps through. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "structured/grammar_impl.h"
#include "base/status.h"

/* Small rules without loops (at most this many states after their own
 * inlining) are copied into their callers: `string ::= "\"" char* "\""` then
 * loops inside one rule, which keeps the per-position mask cache precise
 * (a position inside a separate `char` would see its rule end after one
 * character). Rules with loops stay shared: each copy of a loop state would
 * cost its own pass over the vocabulary in the mask cache. */
#define INLINE_LIMIT 48u
#define MAX_CLOSURE_ENTRIES (1u << 23)
/* States visited by all closure walks together: long chains of states joined
 * only by epsilon edges (x? repeated thousands of times) add no closure
 * entries but make the walks quadratic; this bounds the time (~0.1 s). */
#define MAX_CLOSURE_WORK (1ull << 25)

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
    if (!g_reserve((void **)&a->first_edge, &a->cap_states, a->n_states + 1, sizeof *a->first_edge)) return oom();
    if (!g_reserve((void **)&a->final, &a->cap_final, a->n_states + 1, 1)) return oom();
    (void)cap;
    a->first_edge[a->n_states] = G_NONE;
    a->final[a->n_states] = 0;
    *out = a->n_states++;
    return VKA_OK;
}

static vka_status add_edge(nfa *a, uint32_t from, uint32_t kind, uint32_t arg, uint32_t to) {
    if (!g_reserve((void **)&a->edges, &a->cap_edges, a->n_edges + 1, sizeof *a->edges)) return oom();
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
    uint32_t *rule_exit;                /* its one final state */
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

/* Which rules can match the empty string: a rule is walked again only when
 * a rule it calls has just turned out nullable (a worklist over the callers;
 * repeating passes over all rules is quadratic on long chains of rules). */
static vka_status compute_nullable(analysis *an) {
    uint32_t n_rules = an->syn->n_rules;
    const nfa *a = &an->base;
    uint32_t *off = calloc((size_t)n_rules + 1, sizeof *off), *callers = NULL, *queue = NULL;
    uint8_t *queued = calloc(n_rules ? n_rules : 1, 1);
    vka_status s = VKA_OK;
    if (!off || !queued) { s = oom(); goto done; }
    /* callers of each rule, as lists in one array (a caller once per call) */
    for (uint32_t pass = 0; pass < 2; pass++) {
        for (uint32_t r = 0; r < n_rules; r++)
            for (uint32_t st = an->rule_first[r]; st < an->rule_end[r]; st++)
                for (uint32_t e = a->first_edge[st]; e != G_NONE; e = a->edges[e].next) {
                    if (a->edges[e].kind != E_CALL) continue;
                    if (pass == 0) off[a->edges[e].arg + 1]++;
                    else callers[off[a->edges[e].arg]++] = r;
                }
        if (pass == 0) {
            for (uint32_t r = 0; r < n_rules; r++) off[r + 1] += off[r];
            if (!(callers = malloc((off[n_rules] ? off[n_rules] : 1) * sizeof *callers))) { s = oom(); goto done; }
        } else {
            for (uint32_t r = n_rules; r > 0; r--) off[r] = off[r - 1];   /* back to the starts */
            off[0] = 0;
        }
    }
    if (!(queue = malloc((n_rules ? n_rules : 1) * sizeof *queue))) { s = oom(); goto done; }
    /* a ring of at most n_rules entries: each rule is in it at most once */
    uint32_t head = 0, count = 0;
    for (uint32_t r = 0; r < n_rules; r++) queue[count++] = r, queued[r] = 1;
    while (count) {
        uint32_t r = queue[head];
        head = (head + 1) % n_rules;
        count--;
        queued[r] = 0;
        if (an->nullable[r]) continue;
        bool end;
        if ((s = nullable_walk(an, r, NULL, NULL, &end)) != VKA_OK) goto done;
        if (!end) continue;
        an->nullable[r] = 1;
        for (uint32_t k = off[r]; k < off[r + 1]; k++) {
            uint32_t c = callers[k];
            if (an->nullable[c] || queued[c]) continue;
            queue[(head + count++) % n_rules] = c;
            queued[c] = 1;
        }
    }
done:
    free(off);
    free(callers);
    free(queue);
    free(queued);
    return s;
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

/* Marks rules that lie on a cycle of calls (recursive rules: 1 when the
 * cycle is the rule calling itself, 2 when it passes through other rules),
 * and lists all rules callees-first (Tarjan's SCC order). */
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
                    if (n_scc - first > 1) recursive[scc[k]] = 2;
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

/* ---------------------------------------------------------------- equal rules */

/* Rules with the same automaton (the same classes, and calls to rules that
 * are the same in turn) are one rule: converters write many copies (a
 * string's characters for every property, a key's spelling for every key),
 * and token masks are filled once per automaton state. canon[r] is the
 * first rule equal to r; rules on cycles through other rules keep their own. */
typedef struct rule_sig {
    uint64_t hash;
    uint32_t begin, end;        /* words in sig_words */
} rule_sig;

static vka_status rule_signature(const analysis *an, uint32_t r, const uint32_t *canon, uint32_t **words,
                                 uint32_t *n, uint32_t *cap) {
    const nfa *a = &an->base;
    uint32_t first = an->rule_first[r];
    for (uint32_t st = first; st < an->rule_end[r]; st++) {
        if (!g_reserve((void **)words, cap, *n + 2, sizeof **words)) return oom();
        (*words)[(*n)++] = G_NONE - 1;      /* a state begins */
        (*words)[(*n)++] = a->final[st];
        for (uint32_t e = a->first_edge[st]; e != G_NONE; e = a->edges[e].next) {
            const b_edge *ed = &a->edges[e];
            uint32_t arg = ed->kind == E_CALL ? (ed->arg == r ? G_NONE : canon[ed->arg]) : ed->arg;
            if (!g_reserve((void **)words, cap, *n + 3, sizeof **words)) return oom();
            (*words)[(*n)++] = ed->kind;
            (*words)[(*n)++] = arg;
            (*words)[(*n)++] = ed->to - first;
        }
    }
    return VKA_OK;
}

static vka_status merge_equal_rules(analysis *an, const uint8_t *recursive, const uint32_t *order, uint32_t root,
                                    uint32_t *canon) {
    uint32_t n_rules = an->syn->n_rules, bits = 4;
    while ((1u << bits) < n_rules * 2) bits++;
    uint32_t *table = malloc(((size_t)1 << bits) * sizeof *table), *words = NULL, n_words = 0, cap_words = 0;
    rule_sig *sigs = malloc((n_rules ? n_rules : 1) * sizeof *sigs);
    vka_status s = table && sigs ? VKA_OK : oom();
    if (s == VKA_OK) memset(table, 0xFF, ((size_t)1 << bits) * sizeof *table);
    for (uint32_t r = 0; r < n_rules; r++) canon[r] = r;
    /* callees first: a rule's signature names its callees' merged rules */
    for (uint32_t i = 0; s == VKA_OK && i < n_rules; i++) {
        uint32_t r = order[i];
        if (recursive[r] == 2 || r == root) continue;
        uint32_t begin = n_words;
        if ((s = rule_signature(an, r, canon, &words, &n_words, &cap_words)) != VKA_OK) break;
        uint64_t h = 0xCBF29CE484222325ull;
        for (uint32_t k = begin; k < n_words; k++) h = (h ^ words[k]) * 0x100000001B3ull;
        sigs[r] = (rule_sig){h, begin, n_words};
        uint32_t mask = (1u << bits) - 1, slot = (uint32_t)h & mask;
        for (; table[slot] != G_NONE; slot = (slot + 1) & mask) {
            const rule_sig *o = &sigs[table[slot]];
            if (o->hash == h && o->end - o->begin == n_words - begin &&
                memcmp(words + o->begin, words + begin, (n_words - begin) * sizeof *words) == 0)
                break;
        }
        if (table[slot] == G_NONE) table[slot] = r;
        else canon[r] = table[slot];
    }
    /* every call goes to the merged rule */
    for (uint32_t e = 0; s == VKA_OK && e < an->base.n_edges; e++)
        if (an->base.edges[e].kind == E_CALL) an->base.edges[e].arg = canon[an->base.edges[e].arg];
    free(table);
    free(words);
    free(sigs);
    return s;
}

/* ---------------------------------------------------------------- inlining */

typedef struct inliner {
    const analysis *an;
    const uint8_t *inline_rule;
    nfa out;
    uint32_t *kept_start;       /* start state in `out` of each kept rule */
} inliner;

/* Room for n more states in `out`, without ending edges or finality. */
static vka_status new_states(nfa *a, uint32_t n, uint32_t *first) {
    if ((uint64_t)a->n_states + n > VKA_GRAMMAR_MAX_STATES) return too_large();
    if (!g_grow((void **)&a->first_edge, &a->cap_states, a->n_states + n, sizeof *a->first_edge) ||
        !g_grow((void **)&a->final, &a->cap_final, a->n_states + n, 1))
        return oom();
    memset(a->first_edge + a->n_states, 0xFF, (size_t)n * sizeof *a->first_edge);
    memset(a->final + a->n_states, 0, n);
    *first = a->n_states;
    a->n_states += n;
    return VKA_OK;
}

/* Copies rule r into `out`, splicing in copies of the inlined rules it calls
 * (a rule ends in one state, its `exit`, which an inline copy links to the
 * state after the call instead of marking it final). */
static vka_status copy_rule(inliner *in, uint32_t r, bool as_inline, uint32_t *entry) {
    const nfa *a = &in->an->base;
    uint32_t first = in->an->rule_first[r], end = in->an->rule_end[r], base = 0;
    VKA_TRY(new_states(&in->out, end - first, &base));
    *entry = base;
    if (!as_inline) in->out.final[base + (in->an->rule_exit[r] - first)] = 1;
    for (uint32_t s = first; s < end; s++) {
        uint32_t ms = base + (s - first);
        for (uint32_t e = a->first_edge[s]; e != G_NONE; e = a->edges[e].next) {
            const b_edge *ed = &a->edges[e];
            uint32_t to = base + (ed->to - first);
            if (ed->kind == E_CALL && in->inline_rule[ed->arg]) {
                uint32_t sub, callee = ed->arg;
                VKA_TRY(copy_rule(in, callee, true, &sub));
                VKA_TRY(add_edge(&in->out, ms, E_EPS, 0, sub));
                VKA_TRY(add_edge(&in->out, sub + (in->an->rule_exit[callee] - in->an->rule_first[callee]), E_EPS, 0, to));
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
    uint64_t work = 0;
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
                if (!g_reserve((void **)&g->clo_term, &cap_terms, n_clo_term + 1, sizeof *g->clo_term)) { s = oom(); goto done; }
                g->clo_term[n_clo_term++] = q;
            }
            for (uint32_t e = a->first_edge[q]; e != G_NONE; e = a->edges[e].next) {
                const b_edge *ed = &a->edges[e];
                if (ed->kind == E_CALL) {
                    if (!g_reserve((void **)&g->clo_call_start, &cap_calls, n_clo_call + 1, sizeof(uint32_t)) ||
                        !g_reserve((void **)&g->clo_call_ret, &cap_rets, n_clo_call + 1, sizeof(uint32_t))) {
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
        work += qn;
        if (n_clo_term + n_clo_call > MAX_CLOSURE_ENTRIES || work > MAX_CLOSURE_WORK) {
            s = vka_fail(VKA_ERR_GRAMMAR,
                         "grammar too ambiguous: its epsilon closures exceed %u entries or %llu steps "
                         "(HINT: write x{0,n} rather than x? repeated n times)",
                         MAX_CLOSURE_ENTRIES, (unsigned long long)MAX_CLOSURE_WORK);
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
    uint32_t *canon = malloc((n_rules ? n_rules : 1) * sizeof *canon);
    an.rule_first = malloc((size_t)n_rules * sizeof *an.rule_first);
    an.rule_end = malloc((size_t)n_rules * sizeof *an.rule_end);
    an.rule_exit = malloc((size_t)n_rules * sizeof *an.rule_exit);
    an.nullable = calloc(n_rules, 1);
    in.kept_start = malloc((size_t)n_rules * sizeof *in.kept_start);
    vka_status s = VKA_OK;
    if (!recursive || !inline_rule || !order || !size || !canon || !an.rule_first || !an.rule_end || !an.rule_exit || !an.nullable ||
        !in.kept_start) { s = oom(); goto done; }

    for (uint32_t r = 0; r < n_rules; r++) {
        uint32_t start, exit;
        an.rule_first[r] = an.base.n_states;
        if ((s = new_state(&an.base, &start)) != VKA_OK) goto done;
        if ((s = compile_node(&an.base, syn->rules[r].body, start, &exit)) != VKA_OK) goto done;
        an.base.final[exit] = 1;
        an.rule_exit[r] = exit;
        an.rule_end[r] = an.base.n_states;
    }
    an.mark = calloc(an.base.n_states, sizeof *an.mark);
    if (!an.mark) { s = oom(); goto done; }
    if ((s = compute_nullable(&an)) != VKA_OK) goto done;
    if ((s = check_left_recursion(&an)) != VKA_OK) goto done;
    if ((s = find_recursive(&an, recursive, order)) != VKA_OK) goto done;
    if ((s = merge_equal_rules(&an, recursive, order, root_rule, canon)) != VKA_OK) goto done;

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
        if (inline_rule[r] || canon[r] != r) continue;     /* merged rules are called no more */
        if ((s = copy_rule(&in, r, false, &in.kept_start[r])) != VKA_OK) goto done;
        size[r] = in.out.n_states - in.kept_start[r];       /* now: the states of its copy */
    }
    for (uint32_t e = 0; e < in.out.n_edges; e++)
        if (in.out.edges[e].kind == E_CALL) in.out.edges[e].arg = in.kept_start[in.out.edges[e].arg];
    if ((s = build_tables(&in.out, in.kept_start[root_rule], g)) != VKA_OK) goto done;
    for (uint32_t r = 0; r < n_rules; r++) {
        if (in.kept_start[r] == G_NONE || recursive[r] || r == root_rule || has_loop(syn->rules[r].body)) continue;
        for (uint32_t st = in.kept_start[r]; st < in.kept_start[r] + size[r]; st++) g->flags[st] |= G_FLAG_BOUNDED;
    }
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
    free(an.rule_exit);
    free(an.nullable);
    free(an.mark);
    free(an.queue);
    free(in.kept_start);
    free(recursive);
    free(inline_rule);
    free(order);
    free(size);
    free(canon);
    return s;
}
