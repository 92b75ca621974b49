/* bench_grammar.c — `vkagent bench --grammar`: for every grammar source (JSON
 * schemas, GBNF files, corpus directories of both) the compile time (schema to
 * ready sampler) and the time of every full token mask during random walks
 * through the real sampler (grammar_sample.c's walker), p50/p99/max per source
 * and overall, with the sources refused counted by reason. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "commands.h"
#include "common.h"
#include "grammar_sample.h"
#include "tools/tools.h"   /* engine internals for the tools */

static const char *const help =
    "usage: vkagent bench --grammar [-m VOCAB.gguf] [SOURCES] [-n 500] [--max-tokens 1000] [--seed 0]\n"
    "                     [schema options] [--json-out]\n"
    "\n"
    "SOURCES, any number of: --json-schema S (a file or the JSON itself), --grammar-file F (GBNF),\n"
    "--corpus DIR (every *.json schema and *.gbnf grammar in DIR, by name), --json (any JSON value;\n"
    "the default when no source is given).\n"
    "\n"
    "For each source: the compile time (conversion, grammar compilation and sampler creation, with\n"
    "empty mask caches; also in the thread's CPU time) and random walks through the real sampler with seeded random logits (as\n"
    "`vkagent grammar --sample` makes them) until -n tokens are sampled, timing every full token\n"
    "mask (the grammar's mask applied to the logits), in wall-clock time and in the thread's CPU\n"
    "time (less noisy where other work shares the cores). Walks are cut at --max-tokens tokens.\n"
    "Prints a line per source and p50/p99/max over all of them; sources that cannot be converted\n"
    "are counted by reason. The vocabulary defaults to ../shared/fixtures/vocab/qwen3.gguf.\n"
    "\n"
    "Schema options:\n" CLI_JSON_SCHEMA_OPTIONS_HELP;

/* Compile p99 is judged on sources up to this size (the target). */
#define TARGET_SOURCE_BYTES (100 * 1024)

typedef enum source_kind { SOURCE_SCHEMA, SOURCE_GBNF, SOURCE_ANY_JSON } source_kind;

typedef struct times_buf {
    double *v;
    size_t n, cap;
} times_buf;

typedef struct source_result {
    char *name;                 /* as given, or the path inside a corpus */
    source_kind kind;
    size_t bytes;
    bool refused, failed;
    char *reason;               /* normalized, for counting */
    char *message;              /* the error as reported */
    double compile_s;
    double convert_s;           /* of which JSON Schema to GBNF */
    double compile_cpu_s;       /* compile_s in this thread's CPU time */
    long walks, documents, capped, tokens;
    times_buf masks;            /* seconds, wall clock */
    times_buf masks_cpu;        /* seconds of this thread's CPU time: less noise on a busy machine */
} source_result;

typedef struct bench_cfg {
    const char *vocab_path;
    long tokens, max_tokens;
    uint64_t seed;
    uint32_t schema_flags;
    bool json_out;
    source_result *sources;
    size_t n_sources, cap_sources;
} bench_cfg;

/* ------------------------------------------------------------ timing the mask */

typedef struct timed_constraint {
    vka_sampler_constraint inner;
    times_buf *times, *cpu_times;
} timed_constraint;

/* Room for one more element in a growable array. */
static bool grow(void **v, size_t *cap, size_t n, size_t elem) {
    if (n < *cap) return true;
    size_t more = *cap ? 2 * *cap : 64;
    void *p = realloc(*v, more * elem);
    if (!p) return false;
    *v = p;
    *cap = more;
    return true;
}

static bool times_push(times_buf *t, double x) {
    if (!grow((void **)&t->v, &t->cap, t->n, sizeof *t->v)) return false;
    t->v[t->n++] = x;
    return true;
}

static bool tc_accepts(void *s, int32_t id) {
    timed_constraint *t = s;
    return t->inner.accepts(t->inner.state, id);
}

static double thread_cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static vka_status tc_mask(void *s, float *logits, uint32_t n) {
    timed_constraint *t = s;
    double c0 = thread_cpu_now(), t0 = cli_now();
    vka_status st = t->inner.mask(t->inner.state, logits, n);
    double dt = cli_now() - t0, dc = thread_cpu_now() - c0;
    if (st == VKA_OK && (!times_push(t->times, dt) || !times_push(t->cpu_times, dc)))
        return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
    return st;
}

static vka_status tc_accept(void *s, int32_t id) {
    timed_constraint *t = s;
    return t->inner.accept(t->inner.state, id);
}

static bool tc_is_done(void *s) {
    timed_constraint *t = s;
    return t->inner.is_done(t->inner.state);
}

static bool tc_can_end(void *s) {
    timed_constraint *t = s;
    return t->inner.can_end ? t->inner.can_end(t->inner.state) : t->inner.is_done(t->inner.state);
}

static void tc_reset(void *s) {
    timed_constraint *t = s;
    if (t->inner.reset) t->inner.reset(t->inner.state);
}

static void tc_free(void *s) {
    timed_constraint *t = s;
    if (t->inner.free) t->inner.free(t->inner.state);
    free(t);
}

typedef struct maker_ctx {
    const vka_vocab *vocab;
    uint32_t n_vocab;
    times_buf *times, *cpu_times;   /* where the masks of the current source go */
} maker_ctx;

/* What vka_sampler_new does for a grammar, with the constraint wrapped in a
 * timer: a plain sampler, then the grammar engine's constraint installed. */
static vka_status make_timed_sampler(void *user, const vka_sampling_params *p, vka_sampler **out) {
    maker_ctx *mc = user;
    vka_sampling_params plain = *p;
    plain.grammar = NULL;
    plain.json_schema = NULL;
    plain.json = false;
    vka_sampler *s = NULL;
    VKA_TRY(vka_sampler_new(mc->vocab, mc->n_vocab, &plain, &s));
    timed_constraint *t = calloc(1, sizeof *t);
    vka_status st = t ? vka_grammar_constraint_create(mc->vocab, p, &t->inner) : vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
    if (st != VKA_OK) {
        free(t);
        vka_sampler_free(s);
        return st;
    }
    t->times = mc->times;
    t->cpu_times = mc->cpu_times;
    vka_sampler_constraint c = {
        .state = t, .accepts = tc_accepts, .mask = tc_mask, .accept = tc_accept, .is_done = tc_is_done,
        .reset = tc_reset, .free = tc_free, .can_end = tc_can_end,
        .text_complete = NULL,
    };
    vka_sampler_set_constraint(s, &c);
    *out = s;
    return VKA_OK;
}

/* ------------------------------------------------------------ statistics */

static int compare_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile q (0..1] of sorted v[0..n). */
static double percentile(const double *v, size_t n, double q) {
    if (!n) return 0;
    size_t k = (size_t)ceil(q * (double)n);
    return v[k ? k - 1 : 0];
}

typedef struct summary {
    double p50, p99, max;
    size_t n;
} summary;

static summary summarize(double *v, size_t n) {
    qsort(v, n, sizeof *v, compare_double);
    return (summary){percentile(v, n, 0.5), percentile(v, n, 0.99), n ? v[n - 1] : 0, n};
}

/* An error message with the parts that name one schema's places (JSON
 * pointers, line and column) taken out, so that equal causes count together. */
static char *normalize_reason(const char *msg) {
    size_t n = strlen(msg);
    char *out = malloc(n + 1);
    if (!out) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (strncmp(msg + i, " (HINT", 6) == 0) break;
        if (msg[i] == '#' && (msg[i + 1] == '/' || msg[i + 1] == ':' || msg[i + 1] == ' ' || !msg[i + 1])) {
            out[o++] = '#';
            i++;
            /* a pointer may hold ':' and ',' itself: it ends at ": " or a space */
            while (i < n && msg[i] != ' ' && !(msg[i] == ':' && msg[i + 1] == ' ')) i++;
            continue;
        }
        if (msg[i] >= '0' && msg[i] <= '9' && o && (out[o - 1] == ' ' || out[o - 1] == '(')) {
            out[o++] = 'N';
            while (i < n && msg[i] >= '0' && msg[i] <= '9') i++;
            continue;
        }
        out[o++] = msg[i++];
    }
    out[o] = 0;
    return out;
}

/* ------------------------------------------------------------ sources */

static source_result *add_source(bench_cfg *c, const char *name, source_kind kind) {
    if (!grow((void **)&c->sources, &c->cap_sources, c->n_sources, sizeof *c->sources)) return NULL;
    source_result *r = &c->sources[c->n_sources];
    *r = (source_result){.kind = kind};
    if (!(r->name = strdup(name))) return NULL;
    c->n_sources++;
    return r;
}

static bool has_suffix(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static int compare_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Every *.json and *.gbnf file of dir, sorted by name. */
static int add_corpus(bench_cfg *c, const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return cli_usage_error("bench", "cannot open the corpus directory '%s'", dir);
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    int code = EXIT_OK;
    while ((e = readdir(d)) && code == EXIT_OK) {
        if (!has_suffix(e->d_name, ".json") && !has_suffix(e->d_name, ".gbnf")) continue;
        if (!grow((void **)&names, &cap, n, sizeof *names)) code = EXIT_RUNTIME;
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        char *path = code == EXIT_OK ? malloc(len) : NULL;
        if (!path) code = EXIT_RUNTIME;
        else snprintf(path, len, "%s/%s", dir, e->d_name), names[n++] = path;
    }
    closedir(d);
    if (names) qsort(names, n, sizeof *names, compare_str);
    for (size_t i = 0; i < n; i++) {
        if (code == EXIT_OK && !add_source(c, names[i], has_suffix(names[i], ".gbnf") ? SOURCE_GBNF : SOURCE_SCHEMA))
            code = EXIT_RUNTIME;
        free(names[i]);
    }
    free(names);
    if (code != EXIT_OK) fputs("vkagent bench: out of memory\n", stderr);
    else if (n == 0) code = cli_usage_error("bench", "the corpus directory '%s' holds no *.json or *.gbnf file", dir);
    return code;
}

static int parse_args(int argc, char **argv, bench_cfg *c) {
    cli_args a;
    cli_args_init(&a, "bench", argc, argv);
    const char *arg;
    bool matched;
    int code = EXIT_OK;
    while ((arg = cli_args_next(&a)) && code == EXIT_OK) {
        const char *v;
        if (cli_is(arg, "-h", "--help")) {
            fputs(help, stdout);
            return -1;
        } else if (cli_is(arg, "--grammar", NULL)) continue;
        else if (cli_is(arg, "-m", "--vocab")) c->vocab_path = cli_value(&a, arg);
        else if (cli_is(arg, "-n", NULL)) cli_int(&a, arg, 1, 1L << 24, &c->tokens);
        else if (cli_is(arg, "--max-tokens", NULL)) cli_int(&a, arg, 1, 1L << 24, &c->max_tokens);
        else if (cli_is(arg, "--seed", NULL)) cli_u64(&a, arg, &c->seed);
        else if (cli_is(arg, "--json-out", NULL)) c->json_out = true;
        else if (cli_is(arg, "--json", NULL)) code = add_source(c, "any JSON", SOURCE_ANY_JSON) ? EXIT_OK : EXIT_RUNTIME;
        else if (cli_is(arg, "--json-schema", NULL)) {
            if ((v = cli_value(&a, arg))) code = add_source(c, v, SOURCE_SCHEMA) ? EXIT_OK : EXIT_RUNTIME;
        } else if (cli_is(arg, "--grammar-file", NULL)) {
            if ((v = cli_value(&a, arg))) code = add_source(c, v, SOURCE_GBNF) ? EXIT_OK : EXIT_RUNTIME;
        } else if (cli_is(arg, "--corpus", NULL)) {
            if ((v = cli_value(&a, arg))) code = add_corpus(c, v);
        } else if (!cli_parse_structured(&a, arg, &c->schema_flags, &matched) || matched) continue;
        else return cli_usage_error("bench", "unknown argument '%s' (with --grammar)", arg);
    }
    if (code != EXIT_OK) return code;
    if (a.failed) return EXIT_USAGE;
    if (!c->n_sources && !add_source(c, "any JSON", SOURCE_ANY_JSON)) return EXIT_RUNTIME;
    return EXIT_OK;
}

/* ------------------------------------------------------------ running */

static void set_error(source_result *r, bool refused, const char *message) {
    r->refused = refused;
    r->failed = !refused;
    r->message = strdup(message);
    r->reason = normalize_reason(message);
}

/* The source's text into the sampling params (*text owned by the caller). */
static bool load_source(source_result *r, vka_sampling_params *sp, char **text) {
    *text = NULL;
    if (r->kind == SOURCE_ANY_JSON) {
        sp->json = true;
        return true;
    }
    size_t len = 0;
    *text = r->kind == SOURCE_GBNF ? cli_read_file(r->name, "bench", &len) : cli_read_schema(r->name, "bench");
    if (!*text) {
        set_error(r, false, "cannot read the source");
        return false;
    }
    r->bytes = strlen(*text);
    if (r->kind == SOURCE_GBNF) sp->grammar = *text;
    else sp->json_schema = *text;
    return true;
}

static void run_source(const bench_cfg *c, grammar_walker *w, maker_ctx *mc, source_result *r) {
    vka_sampling_params sp;
    vka_sampling_params_default(&sp);
    sp.json_schema_flags = c->schema_flags;
    char *text;
    if (!load_source(r, &sp, &text)) return;
    mc->times = &r->masks;
    mc->cpu_times = &r->masks_cpu;
    /* compile: schema to ready sampler, mask caches empty; timed in two
     * parts, the conversion to GBNF and the grammar with the sampler (the
     * walks below convert again and find the grammar in the vocabulary's cache) */
    vka_sampler *s = NULL;
    char *gbnf = NULL, *warnings = NULL;
    double c0 = thread_cpu_now(), t0 = cli_now();
    vka_status st = sp.json_schema ? vka_json_schema_to_grammar(sp.json_schema, sp.json_schema_flags, &gbnf, &warnings) : VKA_OK;
    double t1 = cli_now();
    if (st == VKA_OK) {
        vka_sampling_params grammar_sp = sp;
        if (gbnf) grammar_sp.json_schema = NULL, grammar_sp.grammar = gbnf;
        st = make_timed_sampler(mc, &grammar_sp, &s);
    }
    r->compile_s = cli_now() - t0;
    r->compile_cpu_s = thread_cpu_now() - c0;
    r->convert_s = t1 - t0;
    vka_sampler_free(s);
    free(gbnf);
    free(warnings);
    if (st != VKA_OK) {
        set_error(r, st == VKA_ERR_GRAMMAR, vka_last_error());
        free(text);
        return;
    }
    w->base = &sp;
    text_buf doc = {0};
    while (r->tokens < c->tokens) {
        long n = 0;
        int got = grammar_walk(w, c->seed + (uint64_t)r->walks, &doc, &n);
        r->walks++;
        r->tokens += n;
        if (got < 0) {
            set_error(r, false, w->error);
            break;
        }
        if (got == 0) r->capped++;
        else r->documents++;
    }
    free(doc.data);
    w->base = NULL;
    free(text);
}

/* ------------------------------------------------------------ reports */

typedef struct reason_count {
    const char *reason;
    long n;
} reason_count;

static int compare_reason(const void *a, const void *b) {
    const reason_count *x = a, *y = b;
    if (x->n != y->n) return x->n > y->n ? -1 : 1;
    return strcmp(x->reason, y->reason);
}

/* Distinct reasons of refused (refused = true) or failed sources, most frequent first. */
static reason_count *count_reasons(const bench_cfg *c, bool refused, size_t *n_out) {
    reason_count *v = calloc(c->n_sources + 1, sizeof *v);
    size_t n = 0;
    for (size_t i = 0; v && i < c->n_sources; i++) {
        const source_result *r = &c->sources[i];
        if (!(refused ? r->refused : r->failed)) continue;
        const char *why = r->reason ? r->reason : "out of memory";
        size_t k = 0;
        while (k < n && strcmp(v[k].reason, why) != 0) k++;
        if (k == n) v[n++] = (reason_count){why, 0};
        v[k].n++;
    }
    if (v) qsort(v, n, sizeof *v, compare_reason);
    *n_out = n;
    return v;
}

typedef struct totals {
    summary compile, compile_target, convert, grammar, mask, mask_cpu, compile_cpu, compile_target_cpu;
    long tokens, walks, documents, capped, refused, failed;
} totals;

static totals compute_totals(bench_cfg *c) {
    totals t = {0};
    times_buf compile = {0}, compile_target = {0}, convert = {0}, grammar = {0}, masks = {0}, masks_cpu = {0};
    times_buf compile_cpu = {0}, compile_target_cpu = {0};
    bool ok = true;
    for (size_t i = 0; i < c->n_sources; i++) {
        source_result *r = &c->sources[i];
        t.tokens += r->tokens, t.walks += r->walks, t.documents += r->documents, t.capped += r->capped;
        t.refused += r->refused, t.failed += r->failed;
        if (r->refused || (r->failed && !r->walks)) continue;
        ok &= times_push(&compile, r->compile_s);
        ok &= times_push(&convert, r->convert_s);
        ok &= times_push(&grammar, r->compile_s - r->convert_s);
        ok &= times_push(&compile_cpu, r->compile_cpu_s);
        if (r->bytes <= TARGET_SOURCE_BYTES) ok &= times_push(&compile_target, r->compile_s);
        if (r->bytes <= TARGET_SOURCE_BYTES) ok &= times_push(&compile_target_cpu, r->compile_cpu_s);
        for (size_t k = 0; k < r->masks.n; k++) ok &= times_push(&masks, r->masks.v[k]);
        for (size_t k = 0; k < r->masks_cpu.n; k++) ok &= times_push(&masks_cpu, r->masks_cpu.v[k]);
    }
    if (!ok) fputs("vkagent bench: out of memory for the statistics\n", stderr);
    t.compile = summarize(compile.v, compile.n);
    t.compile_target = summarize(compile_target.v, compile_target.n);
    t.compile_cpu = summarize(compile_cpu.v, compile_cpu.n);
    t.compile_target_cpu = summarize(compile_target_cpu.v, compile_target_cpu.n);
    free(compile_cpu.v);
    free(compile_target_cpu.v);
    t.convert = summarize(convert.v, convert.n);
    t.grammar = summarize(grammar.v, grammar.n);
    free(convert.v);
    free(grammar.v);
    t.mask = summarize(masks.v, masks.n);
    t.mask_cpu = summarize(masks_cpu.v, masks_cpu.n);
    free(masks_cpu.v);
    free(compile.v);
    free(compile_target.v);
    free(masks.v);
    return t;
}

static const char *kind_name(source_kind k) {
    return k == SOURCE_SCHEMA ? "json_schema" : k == SOURCE_GBNF ? "gbnf" : "any_json";
}

static void print_source_line(source_result *r) {
    char size[32] = "";
    if (r->kind != SOURCE_ANY_JSON) snprintf(size, sizeof size, "%.1f KB", (double)r->bytes / 1024);
    if (r->refused || (r->failed && !r->walks)) {
        printf("%9s  %-8s %s: %s\n", size, r->refused ? "refused" : "failed", r->name, r->message ? r->message : "?");
        return;
    }
    summary m = summarize(r->masks.v, r->masks.n);
    printf("%9s  compile %8.3f ms (cpu %8.3f)  masks %6zu: p50 %8.1f us  p99 %8.1f us  max %8.1f us  (%ld tokens, %ld walks, "
           "%ld cut)  %s\n",
           size, 1e3 * r->compile_s, 1e3 * r->compile_cpu_s, m.n, 1e6 * m.p50, 1e6 * m.p99, 1e6 * m.max, r->tokens, r->walks, r->capped, r->name);
    if (r->failed) printf("%9s  failed during the walks: %s\n", "", r->message ? r->message : "?");
}

static void print_text(bench_cfg *c, uint32_t n_vocab) {
    for (size_t i = 0; i < c->n_sources; i++) print_source_line(&c->sources[i]);
    totals t = compute_totals(c);
    printf("\nconstrained sampling over %u tokens: %zu sources (%ld refused, %ld failed), %ld tokens in %ld walks "
           "(%ld cut off at %ld tokens)\n",
           n_vocab, c->n_sources, t.refused, t.failed, t.tokens, t.walks, t.capped, c->max_tokens);
    printf("compile (schema to ready sampler): p50 %.3f ms, p99 %.3f ms, max %.3f ms over %zu sources; "
           "up to 100 KB: p99 %.3f ms over %zu (target <= 50 ms)\n",
           1e3 * t.compile.p50, 1e3 * t.compile.p99, 1e3 * t.compile.max, t.compile.n, 1e3 * t.compile_target.p99,
           t.compile_target.n);
    printf("  of which the conversion to GBNF: p50 %.3f ms, p99 %.3f ms, max %.3f ms; the grammar and sampler: p50 %.3f ms, "
           "p99 %.3f ms, max %.3f ms\n",
           1e3 * t.convert.p50, 1e3 * t.convert.p99, 1e3 * t.convert.max, 1e3 * t.grammar.p50, 1e3 * t.grammar.p99,
           1e3 * t.grammar.max);
    printf("  the same in thread CPU time: p50 %.3f ms, p99 %.3f ms, max %.3f ms; up to 100 KB: p99 %.3f ms\n",
           1e3 * t.compile_cpu.p50, 1e3 * t.compile_cpu.p99, 1e3 * t.compile_cpu.max, 1e3 * t.compile_target_cpu.p99);
    printf("full token mask: p50 %.1f us, p99 %.1f us, max %.1f us over %zu masks (targets: p50 <= 100 us, p99 <= 1000 us)\n",
           1e6 * t.mask.p50, 1e6 * t.mask.p99, 1e6 * t.mask.max, t.mask.n);
    printf("  the same in thread CPU time: p50 %.1f us, p99 %.1f us, max %.1f us\n", 1e6 * t.mask_cpu.p50,
           1e6 * t.mask_cpu.p99, 1e6 * t.mask_cpu.max);
    for (int refused = 1; refused >= 0; refused--) {
        size_t n;
        reason_count *v = count_reasons(c, refused, &n);
        if (n) printf("%s, by reason:\n", refused ? "refused" : "failed");
        for (size_t k = 0; v && k < n; k++) printf("%6ld  %s\n", v[k].n, v[k].reason);
        free(v);
    }
}

static cJSON *summary_json(summary s, double scale) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "p50", scale * s.p50);
    cJSON_AddNumberToObject(j, "p99", scale * s.p99);
    cJSON_AddNumberToObject(j, "max", scale * s.max);
    cJSON_AddNumberToObject(j, "n", (double)s.n);
    return j;
}

static cJSON *reasons_json(const bench_cfg *c, bool refused) {
    cJSON *j = cJSON_CreateObject();
    size_t n;
    reason_count *v = count_reasons(c, refused, &n);
    for (size_t k = 0; v && k < n; k++) cJSON_AddNumberToObject(j, v[k].reason, (double)v[k].n);
    free(v);
    return j;
}

static cJSON *source_json(source_result *r) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "name", r->name);
    cJSON_AddStringToObject(j, "kind", kind_name(r->kind));
    cJSON_AddNumberToObject(j, "bytes", (double)r->bytes);
    cJSON_AddStringToObject(j, "status", r->refused ? "refused" : r->failed ? "failed" : "ok");
    if (r->message) cJSON_AddStringToObject(j, "error", r->message);
    if (r->refused) return j;
    cJSON_AddNumberToObject(j, "compile_ms", 1e3 * r->compile_s);
    cJSON_AddNumberToObject(j, "compile_cpu_ms", 1e3 * r->compile_cpu_s);
    cJSON_AddNumberToObject(j, "convert_ms", 1e3 * r->convert_s);
    cJSON_AddNumberToObject(j, "tokens", (double)r->tokens);
    cJSON_AddNumberToObject(j, "walks", (double)r->walks);
    cJSON_AddNumberToObject(j, "documents", (double)r->documents);
    cJSON_AddNumberToObject(j, "cut_off", (double)r->capped);
    cJSON_AddItemToObject(j, "mask_us", summary_json(summarize(r->masks.v, r->masks.n), 1e6));
    cJSON_AddItemToObject(j, "mask_cpu_us", summary_json(summarize(r->masks_cpu.v, r->masks_cpu.n), 1e6));
    return j;
}

static void print_json(bench_cfg *c, uint32_t n_vocab) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "vocab", n_vocab);
    cJSON_AddNumberToObject(j, "tokens_per_source", (double)c->tokens);
    cJSON_AddNumberToObject(j, "max_tokens", (double)c->max_tokens);
    cJSON *sources = cJSON_AddArrayToObject(j, "sources");
    for (size_t i = 0; i < c->n_sources; i++) cJSON_AddItemToArray(sources, source_json(&c->sources[i]));
    totals t = compute_totals(c);
    cJSON_AddNumberToObject(j, "tokens", (double)t.tokens);
    cJSON_AddNumberToObject(j, "walks", (double)t.walks);
    cJSON_AddNumberToObject(j, "refused", (double)t.refused);
    cJSON_AddNumberToObject(j, "failed", (double)t.failed);
    cJSON_AddItemToObject(j, "compile_ms", summary_json(t.compile, 1e3));
    cJSON_AddItemToObject(j, "compile_ms_up_to_100kb", summary_json(t.compile_target, 1e3));
    cJSON_AddItemToObject(j, "compile_cpu_ms", summary_json(t.compile_cpu, 1e3));
    cJSON_AddItemToObject(j, "compile_cpu_ms_up_to_100kb", summary_json(t.compile_target_cpu, 1e3));
    cJSON_AddItemToObject(j, "convert_ms", summary_json(t.convert, 1e3));
    cJSON_AddItemToObject(j, "grammar_ms", summary_json(t.grammar, 1e3));
    cJSON_AddItemToObject(j, "mask_us", summary_json(t.mask, 1e6));
    cJSON_AddItemToObject(j, "mask_cpu_us", summary_json(t.mask_cpu, 1e6));
    cJSON_AddItemToObject(j, "refused_by_reason", reasons_json(c, true));
    cJSON_AddItemToObject(j, "failed_by_reason", reasons_json(c, false));
    char *text = cJSON_PrintUnformatted(j);
    if (text) puts(text);
    free(text);
    cJSON_Delete(j);
}

static void free_cfg(bench_cfg *c) {
    for (size_t i = 0; i < c->n_sources; i++) {
        free(c->sources[i].name);
        free(c->sources[i].reason);
        free(c->sources[i].message);
        free(c->sources[i].masks.v);
        free(c->sources[i].masks_cpu.v);
    }
    free(c->sources);
}

int bench_grammar(int argc, char **argv) {
    bench_cfg c = {.tokens = 500, .max_tokens = 1000};
    int code = parse_args(argc, argv, &c);
    char *path = NULL;
    vka_model *m = NULL;
    if (code == EXIT_OK) {
        path = c.vocab_path ? strdup(c.vocab_path) : cli_default_vocab();
        m = path ? cli_load_model(path, NULL, true, "bench") : NULL;
        if (!m) code = EXIT_RUNTIME;
    }
    /* the vocabulary's token trie is built once, before anything is timed */
    const vka_grammar_vocab *gv;
    if (code == EXIT_OK && vka_vocab_grammar_vocab(m->vocab, &gv) != VKA_OK) code = cli_runtime_error("bench", "vocabulary");
    grammar_walker w;
    maker_ctx mc = {0};
    if (code == EXIT_OK && !grammar_walker_init(&w, m->vocab, NULL, c.max_tokens))
        code = (fputs("vkagent bench: out of memory\n", stderr), EXIT_RUNTIME);
    if (code == EXIT_OK) {
        mc = (maker_ctx){.vocab = m->vocab, .n_vocab = w.n_vocab};
        w.make_sampler = make_timed_sampler;
        w.user = &mc;
        for (size_t i = 0; i < c.n_sources; i++) run_source(&c, &w, &mc, &c.sources[i]);
        if (c.json_out) print_json(&c, w.n_vocab);
        else print_text(&c, w.n_vocab);
        grammar_walker_free(&w);
    }
    vka_model_free(m);
    free(path);
    free_cfg(&c);
    return code < 0 ? EXIT_OK : code;
}
