/* cmd_logits.c — `vkagent logits`: the logits after every prompt position,
 * as top-K lists or as a JSON file for comparison with other engines. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "common.h"

static const char *const logits_help =
    "usage: vkagent logits [-m MODEL] (-p PROMPT | --tokens ID,ID,...) [--top K] [--out FILE.json] [--device DEV]\n"
    "\n"
    "For each prompt position, prints the top-K ids with their logits (the\n"
    "prediction after that position). With --out, writes\n"
    "  {\"tokens\": [ids...], \"logits\": [[n_vocab floats] per position]}\n"
    "  -p TEXT is tokenized with BOS as the model asks; --tokens takes the ids as they are.\n"
    "      --kv-type auto|f32|f16, -b/--batch-size N as for run.\n";

typedef struct logits_opts {
    const char *model, *prompt, *tokens, *out, *device;
    long top;
    int32_t *ids;   /* --tokens, parsed before the model is loaded */
    size_t n_ids;
    vka_session_params sp;
} logits_opts;

static int parse_ids(const char *text, int32_t **out, size_t *n_out) {
    size_t cap = 16, n = 0;
    int32_t *ids = malloc(cap * sizeof *ids);
    const char *p = text;
    while (ids && *p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 0 || v > INT32_MAX) {
            free(ids);
            return cli_usage_error("logits", "--tokens: expected comma-separated ids, got '%s'", text);
        }
        if (n == cap) {
            int32_t *bigger = realloc(ids, (cap *= 2) * sizeof *ids);
            if (!bigger) break;
            ids = bigger;
        }
        ids[n++] = (int32_t)v;
        p = end;
        while (*p == ',' || *p == ' ') p++;
    }
    if (!ids || n == 0) {
        free(ids);
        return cli_usage_error("logits", "--tokens: no ids given");
    }
    *out = ids;
    *n_out = n;
    return 0;
}

static void print_top(const float *row, uint32_t n_vocab, long top, size_t pos, int32_t token) {
    printf("pos %zu (input %d):", pos, token);
    /* Selection of the top entries, one pass per rank: K is small. */
    int32_t chosen[64];
    long k = top < 64 ? top : 64;
    for (long r = 0; r < k && r < (long)n_vocab; r++) {
        int32_t best = -1;
        for (uint32_t i = 0; i < n_vocab; i++) {
            bool used = false;
            for (long q = 0; q < r; q++) used |= chosen[q] == (int32_t)i;
            if (!used && (best < 0 || row[i] > row[best])) best = (int32_t)i;
        }
        chosen[r] = best;
        printf(" %d:%.6f", best, (double)row[best]);
    }
    printf("\n");
}

static int write_json(const char *path, const int32_t *ids, size_t n, const float *logits, uint32_t n_vocab) {
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "vkagent logits: cannot write '%s'\n", path);
        return EXIT_RUNTIME;
    }
    fprintf(f, "{\"tokens\": [");
    for (size_t i = 0; i < n; i++) fprintf(f, "%s%d", i ? ", " : "", ids[i]);
    fprintf(f, "],\n\"logits\": [\n");
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "[");
        for (uint32_t j = 0; j < n_vocab; j++) fprintf(f, "%s%.9g", j ? "," : "", (double)logits[i * n_vocab + j]);
        fprintf(f, "]%s\n", i + 1 < n ? "," : "");
    }
    fprintf(f, "]}\n");
    return fclose(f) == 0 ? EXIT_OK : EXIT_RUNTIME;
}

static int parse_logits(int argc, char **argv, logits_opts *o) {
    cli_args a;
    cli_args_init(&a, "logits", argc, argv);
    vka_session_params_default(&o->sp);
    o->top = 5;
    const char *arg;
    long l;
    while ((arg = cli_args_next(&a))) {
        if (cli_is(arg, "-h", "--help")) {
            fputs(logits_help, stdout);
            return -1;
        } else if (cli_is(arg, "-m", "--model")) o->model = cli_value(&a, arg);
        else if (cli_is(arg, "-p", "--prompt")) o->prompt = cli_value(&a, arg);
        else if (cli_is(arg, "--tokens", NULL)) o->tokens = cli_value(&a, arg);
        else if (cli_is(arg, "--out", "-o")) o->out = cli_value(&a, arg);
        else if (cli_is(arg, "--device", NULL)) o->device = cli_device(&a, arg);
        else if (cli_is(arg, "--top", NULL)) cli_int(&a, arg, 0, 64, &o->top);
        else if (cli_is(arg, "-b", "--batch-size")) {
            if (cli_int(&a, arg, 1, 8192, &l)) o->sp.n_batch = (uint32_t)l;
        } else if (cli_is(arg, "--kv-type", NULL)) {
            const char *v = cli_value(&a, arg);
            if (v && strcmp(v, "f16") == 0) o->sp.kv_type = VKA_KV_F16;
            else if (v && strcmp(v, "f32") == 0) o->sp.kv_type = VKA_KV_F32;
            else if (v && strcmp(v, "auto") != 0) return cli_usage_error("logits", "--kv-type must be auto, f32 or f16");
        } else return cli_usage_error("logits", "unknown option '%s'", arg);
    }
    if (a.failed) return EXIT_USAGE;
    if (!o->prompt == !o->tokens) return cli_usage_error("logits", "give exactly one of -p and --tokens");
    return o->tokens ? parse_ids(o->tokens, &o->ids, &o->n_ids) : 0;
}

static int run_logits(vka_model *model, logits_opts *o) {
    int32_t *ids = NULL;
    size_t n = 0;
    if (o->tokens) { /* taken over from the options */
        ids = o->ids;
        n = o->n_ids;
        o->ids = NULL;
    } else {
        ids = cli_tokenize(model, o->prompt, strlen(o->prompt), VKA_TOKENIZE_MODEL_BOS, &n);
        if (!ids) return cli_runtime_error("logits", "tokenizing the prompt");
        if (n == 0) {
            free(ids);
            return cli_usage_error("logits", "the prompt has no tokens");
        }
    }
    vka_model_info info;
    vka_model_get_info(model, &info);
    o->sp.n_ctx = (uint32_t)n;
    vka_session *s = NULL;
    float *logits = malloc(n * info.n_vocab * sizeof *logits);
    int code = EXIT_OK;
    if (!logits) {
        fprintf(stderr, "vkagent logits: out of memory for %zu rows of logits\n", n);
        code = EXIT_RUNTIME;
    } else if (!(s = cli_create_session(model, &o->sp, "logits"))) code = EXIT_RUNTIME;
    else if (vka_session_feed_all_logits(s, ids, n, logits) != VKA_OK) code = cli_runtime_error("logits", "evaluating");
    else {
        for (size_t i = 0; i < n && o->top > 0; i++) print_top(logits + i * info.n_vocab, info.n_vocab, o->top, i, ids[i]);
        if (o->out) code = write_json(o->out, ids, n, logits, info.n_vocab);
    }
    vka_session_free(s);
    free(logits);
    free(ids);
    return code;
}

int cmd_logits(int argc, char **argv) {
    logits_opts o = {0};
    int parsed = parse_logits(argc, argv, &o);
    if (parsed) return parsed < 0 ? EXIT_OK : parsed;
    char *path = cli_find_model(o.model, "logits");
    vka_model *model = path ? cli_load_model(path, o.device, false, "logits") : NULL;
    int code = model ? run_logits(model, &o) : EXIT_RUNTIME;
    vka_model_free(model);
    free(path);
    free(o.ids);
    return code;
}
