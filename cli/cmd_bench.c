/* cmd_bench.c — `vkagent bench`: prompt-processing and generation speed of a
 * model (median and spread over repetitions, as llama-bench reports them),
 * generation as a fraction of the memory-bandwidth limit, and the cost of
 * grammar-constrained sampling. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "common.h"
#include "tools/tools.h"   /* engine internals for the tools */

static const char *const bench_help =
    "usage: vkagent bench -m MODEL [-p 512] [-n 128] [-d 0] [-r 3] [--device DEV] [--bandwidth] [--json]\n"
    "       vkagent bench -m MODEL --parallel [N,N...] [-p 512] [-n 128] [-r 1] [-b B] [--device DEV] [--json]\n"
    "       vkagent bench --grammar [-m VOCAB.gguf] [--json-schema S ... | --grammar-file F ... | --corpus DIR ...\n"
    "                               | --json] [-n 500] [--json-out]    (details: bench --grammar --help)\n"
    "       vkagent bench --tokenizer [-m VOCAB.gguf] [--file F] [--reps N] [--json]\n"
    "\n"
    "Model: prefill of -p random tokens (pp) and -n greedy decode steps from an empty context (tg),\n"
    "-r times (as llama-bench measures pp512 and tg128); with -d, both after a context of that many\n"
    "tokens (untimed), as llama-bench's -d measures speed deep in a conversation; prints\n"
    "tokens/s (median, min-max), load time and memory. --bandwidth measures the device's read\n"
    "bandwidth and reports generation as a fraction of the bandwidth limit (bytes of weights and\n"
    "KV cache read per token / bandwidth).\n"
    "Parallel: for each N (default 1,2,4,8,16), N sequences through one scheduler (continuous\n"
    "batching), as llama-batched-bench measures: each a distinct prompt of -p random tokens, then -n\n"
    "greedy tokens (no EOS stop). Prompt phase: until every sequence has its first token (all\n"
    "prompts in one forward pass unless -b is smaller; then sequences whose prompt is in decode\n"
    "during it, and S_TG counts only the tokens after it); generation: the -n batched decode passes\n"
    "after it. Columns: PP, TG, B (= N), N_KV (N x (PP + TG)), T_PP/S_PP (prompt time, N x PP /\n"
    "time), T_TG/S_TG (generation time, N x TG / time), TG/seq (S_TG / N: one sequence's speed), T/S\n"
    "(both phases), KV blocks (peak blocks of the pool in use, and per sequence). -r: runs per N\n"
    "(default 1).\n"
    "Grammar: compile time (schema to ready sampler) and full token-mask time, p50/p99/max, over\n"
    "random walks with random logits (default vocabulary: ../shared/fixtures/vocab/qwen3.gguf,\n"
    "151,936 tokens), for each schema or grammar and over all of them.\n"
    "Tokenizer: MB/s tokenizing a built-in 1 MB mixed-language text (or --file).\n"
    "\n"
    "Schema options (with --grammar --json-schema):\n" CLI_JSON_SCHEMA_OPTIONS_HELP;

typedef struct bench_opts {
    const char *model, *device;
    long p, n, depth, reps;
    bool json, bandwidth;
    uint32_t batch;
} bench_opts;

static int compare_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, compare_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* ------------------------------------------------------------ model speed */

/* One repetition, measured like llama-bench: pp = a prefill of p random
 * tokens after `depth` tokens of context; tg = n greedy steps after the same
 * context (and one first token), so that the two tests do not mix. The
 * context is prefilled untimed and kept; each test rewinds to it. */
static int run_once(vka_model *m, const bench_opts *o, uint64_t seed, double *pp_tps, double *tg_tps) {
    vka_session_params sp;
    vka_session_params_default(&sp);
    sp.n_ctx = (uint32_t)(o->depth + (o->p > o->n ? o->p : o->n) + 2);
    if (o->batch) sp.n_batch = o->batch;
    vka_session *s = NULL;
    if (vka_session_create(m, &sp, &s) != VKA_OK) return cli_runtime_error("bench", "creating a session");
    size_t n_ids = (size_t)(o->depth + o->p + 1);
    int32_t *ids = malloc(n_ids * sizeof *ids);
    vka_rng rng;
    vka_rng_seed(&rng, seed);
    uint32_t n_vocab = m->hp.n_vocab;
    for (size_t i = 0; i < n_ids; i++) ids[i] = 3 + (int32_t)(vka_rng_next(&rng) % (n_vocab - 3));
    int code = EXIT_OK;
    const uint32_t depth = (uint32_t)o->depth;
    if (depth && vka_session_feed(s, ids, depth) != VKA_OK) code = cli_runtime_error("bench", "context prefill");
    double t0 = cli_now();
    if (code == EXIT_OK && o->p && vka_session_feed(s, ids + depth, (size_t)o->p) != VKA_OK)
        code = cli_runtime_error("bench", "prefill");
    double t1 = cli_now();
    if (code == EXIT_OK && vka_session_rewind(s, depth) != VKA_OK) code = cli_runtime_error("bench", "rewind");
    int32_t tok = ids[depth + (uint32_t)o->p];
    if (code == EXIT_OK && vka_session_feed(s, &tok, 1) != VKA_OK) code = cli_runtime_error("bench", "first token");
    double t2 = cli_now();
    for (long i = 0; i < o->n && code == EXIT_OK; i++)
        if (vka_session_argmax(s, &tok) != VKA_OK || vka_session_feed(s, &tok, 1) != VKA_OK)
            code = cli_runtime_error("bench", "decode");
    double t3 = cli_now();
    *pp_tps = o->p ? (double)o->p / (t1 - t0) : 0;
    *tg_tps = o->n ? (double)o->n / (t3 - t2) : 0;
    free(ids);
    vka_session_free(s);
    return code;
}

/* Bytes one decode step reads: every weight once, plus the KV cache so far
 * (the context, and on average half of the generated tokens). */
static double bytes_per_token(const vka_model *m, const bench_opts *o) {
    double kv_row = (double)vka_model_kv_bytes(m, 1, false);
    return (double)m->weight_bytes + kv_row * ((double)o->depth + (double)o->n / 2 + 1);
}

static void print_model_report(const vka_model *m, const bench_opts *o, double load_s, double *pp, double *tg,
                               double bandwidth, const vka_backend_stats *st) {
    double pp_min = pp[0], pp_max = pp[0], tg_min = tg[0], tg_max = tg[0];
    for (int i = 1; i < o->reps; i++) {
        pp_min = fmin(pp_min, pp[i]), pp_max = fmax(pp_max, pp[i]);
        tg_min = fmin(tg_min, tg[i]), tg_max = fmax(tg_max, tg[i]);
    }
    double pp_med = median(pp, (int)o->reps), tg_med = median(tg, (int)o->reps);
    double limit = bandwidth > 0 ? bandwidth / bytes_per_token(m, o) : 0;
    double host_ms = st->computes ? 1e3 * st->host_seconds / (double)st->computes : 0;
    if (o->json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "model", m->path);
        cJSON_AddStringToObject(j, "device", m->backend->name);
        cJSON_AddStringToObject(j, "arch", m->arch_name);
        cJSON_AddNumberToObject(j, "weight_bytes", (double)m->weight_bytes);
        cJSON_AddNumberToObject(j, "device_bytes", (double)st->device_bytes);
        cJSON_AddNumberToObject(j, "load_s", load_s);
        cJSON_AddNumberToObject(j, "pp_tokens", (double)o->p);
        cJSON_AddNumberToObject(j, "tg_tokens", (double)o->n);
        cJSON_AddNumberToObject(j, "depth", (double)o->depth);
        cJSON_AddNumberToObject(j, "reps", (double)o->reps);
        cJSON_AddNumberToObject(j, "pp_tokens_per_s", pp_med);
        cJSON_AddNumberToObject(j, "pp_min", pp_min);
        cJSON_AddNumberToObject(j, "pp_max", pp_max);
        cJSON_AddNumberToObject(j, "tg_tokens_per_s", tg_med);
        cJSON_AddNumberToObject(j, "tg_min", tg_min);
        cJSON_AddNumberToObject(j, "tg_max", tg_max);
        cJSON_AddNumberToObject(j, "bandwidth_bytes_per_s", bandwidth);
        cJSON_AddNumberToObject(j, "tg_limit_tokens_per_s", limit);
        cJSON_AddNumberToObject(j, "tg_fraction_of_limit", limit > 0 ? tg_med / limit : 0);
        cJSON_AddNumberToObject(j, "host_ms_per_compute", host_ms);
        char *text = cJSON_PrintUnformatted(j);
        if (text) puts(text);
        free(text);
        cJSON_Delete(j);
        return;
    }
    printf("model   %s (%s, %.1f MiB of weights)\ndevice  %s, %.1f MiB in use\nload    %.3f s\n", m->path,
           m->arch_name, (double)m->weight_bytes / (1 << 20), m->backend->name, (double)st->device_bytes / (1 << 20),
           load_s);
    char pp_name[48], tg_name[48], at[24] = "";
    if (o->depth) snprintf(at, sizeof at, " @ d%ld", o->depth); /* llama-bench's label */
    snprintf(pp_name, sizeof pp_name, "pp%ld%s", o->p, at);
    snprintf(tg_name, sizeof tg_name, "tg%ld%s", o->n, at);
    printf("| test          | tokens/s (median) | min - max         | reps |\n");
    printf("| %-13s | %17.2f | %7.2f - %-7.2f | %4ld |\n", pp_name, pp_med, pp_min, pp_max, o->reps);
    printf("| %-13s | %17.2f | %7.2f - %-7.2f | %4ld |\n", tg_name, tg_med, tg_min, tg_max, o->reps);
    if (st->computes) printf("host time per compute (outside device waits): %.3f ms\n", host_ms);
    if (limit > 0)
        printf("bandwidth %.2f GB/s -> generation limit %.2f tokens/s (%.1f MB read per token); tg is %.1f%% of it\n",
               bandwidth / 1e9, limit, bytes_per_token(m, o) / 1e6, 100 * tg_med / limit);
}

static int bench_model(const bench_opts *o) {
    char *path = cli_find_model(o->model, "bench");
    if (!path) return EXIT_RUNTIME;
    double t0 = cli_now();
    vka_model *m = cli_load_model(path, o->device, false, "bench");
    double load_s = cli_now() - t0;
    free(path);
    if (!m) return EXIT_RUNTIME;
    double bandwidth = 0;
    int code = EXIT_OK;
    if (o->bandwidth) {
        if (!m->backend->ops->measure_bandwidth)
            fprintf(stderr, "vkagent bench: %s cannot measure its bandwidth\n", m->backend->name);
        else if (m->backend->ops->measure_bandwidth(m->backend, &bandwidth) != VKA_OK)
            code = cli_runtime_error("bench", "measuring bandwidth");
    }
    double *pp = calloc((size_t)o->reps, sizeof *pp), *tg = calloc((size_t)o->reps, sizeof *tg);
    double warm_pp, warm_tg;
    bench_opts warm = *o;
    warm.p = o->p < 16 ? o->p : 16;
    warm.n = 2;
    warm.depth = 0;
    if (code == EXIT_OK) code = run_once(m, &warm, 99, &warm_pp, &warm_tg); /* first-use costs out of the figures */
    vka_backend_stats before = {0}, after = {0};
    vka_backend_get_stats(m->backend, &before);
    for (long r = 0; r < o->reps && code == EXIT_OK; r++) code = run_once(m, o, (uint64_t)r + 1, &pp[r], &tg[r]);
    vka_backend_get_stats(m->backend, &after);
    after.computes -= before.computes;
    after.host_seconds -= before.host_seconds;
    if (code == EXIT_OK) print_model_report(m, o, load_s, pp, tg, bandwidth, &after);
    free(pp);
    free(tg);
    vka_model_free(m);
    return code;
}

/* --parallel's list: "--parallel=1,2", or the next argument when it is a
 * list of numbers (it starts with a digit), else the default list. */
static const char *parallel_list(cli_args *a, const char *arg) {
    if (strchr(arg, '=')) return cli_value(a, arg);
    if (a->i < a->argc && a->argv[a->i][0] >= '0' && a->argv[a->i][0] <= '9') return a->argv[a->i++];
    return "1,2,4,8,16";
}

int cmd_bench(int argc, char **argv) {
    /* --grammar: the grammar benchmark (bench_grammar.c) takes all the arguments itself */
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "--grammar") == 0) return bench_grammar(argc, argv);
    /* --tokenizer: the tokenizer benchmark takes the other arguments itself */
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "--tokenizer") == 0) {
            char **rest = malloc((size_t)argc * sizeof *rest);
            int n = 0;
            for (int k = 0; k < argc; k++)
                if (k != i) rest[n++] = argv[k];
            int code = rest ? bench_tokenizer(n, rest) : EXIT_RUNTIME;
            free(rest);
            return code;
        }
    cli_args a;
    cli_args_init(&a, "bench", argc, argv);
    bench_opts o = {.p = 512, .n = 128, .reps = 3};
    const char *parallel = NULL;
    bool reps_given = false;
    const char *arg;
    long l;
    while ((arg = cli_args_next(&a))) {
        if (cli_is(arg, "-h", "--help")) {
            fputs(bench_help, stdout);
            return EXIT_OK;
        } else if (cli_is(arg, "-m", "--model")) o.model = cli_value(&a, arg);
        else if (cli_is(arg, "--device", NULL)) o.device = cli_device(&a, arg);
        else if (cli_is(arg, "-p", NULL)) cli_int(&a, arg, 0, 1 << 20, &o.p);
        else if (cli_is(arg, "-n", NULL)) cli_int(&a, arg, 1, 1 << 20, &o.n);
        else if (cli_is(arg, "-d", "--depth")) cli_int(&a, arg, 0, 1 << 20, &o.depth);
        else if (cli_is(arg, "-r", "--reps")) reps_given = cli_int(&a, arg, 1, 1000, &o.reps);
        else if (cli_is(arg, "--parallel", NULL)) parallel = parallel_list(&a, arg);
        else if (cli_is(arg, "-b", "--batch-size")) {
            if (cli_int(&a, arg, 1, 8192, &l)) o.batch = (uint32_t)l;
        } else if (cli_is(arg, "--json", NULL)) o.json = true;
        else if (cli_is(arg, "--bandwidth", NULL)) o.bandwidth = true;
        else return cli_usage_error("bench", "unknown argument '%s'", arg);
    }
    if (a.failed) return EXIT_USAGE;
    if (parallel) {
        if (o.p < 1) return cli_usage_error("bench", "--parallel needs -p of at least 1");
        bench_parallel_opts po = {.model = o.model, .device = o.device, .list = parallel, .p = o.p, .n = o.n,
                                  .reps = reps_given ? o.reps : 1, .batch = o.batch, .json = o.json};
        return bench_parallel(&po);
    }
    return bench_model(&o);
}
