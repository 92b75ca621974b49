/* bench_tokenizer.c — tokenizer throughput: tokenizes a built-in 1 MB
 * mixed-language text (or a file) several times through the public API and
 * reports the median MB/s. Uses only vkagent.h and the CLI helpers. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "common.h"

static const char *const bench_tokenizer_help =
    "usage: vkagent bench --tokenizer [-m MODEL.gguf] [--file F] [--reps N] [--json]\n"
    "\n"
    "Tokenizes a text N times (default 5) and prints the median speed in MB/s\n"
    "(10^6 bytes of input per second); --file - reads standard input. Without\n"
    "--file, the text is a built-in\n"
    "1 MiB mix of English, code, JSON, Chinese, Japanese, Korean, Russian,\n"
    "Arabic, Hindi, emoji, numbers and whitespace, the same on every run. Only the\n"
    "vocabulary is loaded (vocab-only GGUF files work). No BOS is added and\n"
    "special-token text is not parsed.\n";

#define TEXT_BYTES (1u << 20)

/* Snippets the text is drawn from; numbers and identifiers are mixed in by
 * the seeded generator so that not every word repeats. */
static const char *const SNIPPETS[] = {
    "The quick brown fox jumps over the lazy dog. ",
    "I'm sure it's what they've said: we'll see, he'd know. ",
    "Large language models predict the next token from the previous ones.\n",
    "def add(a, b):\n    return a + b\n\n",
    "for (int i = 0; i < n; i++) { sum += x[i] * w[i]; }\n",
    "{\"name\": \"write_file\", \"args\": {\"path\": \"notes.txt\", \"content\": \"hi\"}}\n",
    "local t = {x = 1, y = \"two\"} -- a Lua table\n",
    "https://example.com/path?query=1&other=two#frag ",
    "\xe6\x88\x91\xe6\x83\xb3\xe4\xba\x86\xe8\xa7\xa3\xe5\x85\xb3\xe4\xba\x8e" "GPT-4"
    "\xe7\x9a\x84\xe6\x9b\xb4\xe5\xa4\x9a\xe4\xbf\xa1\xe6\x81\xaf\xe3\x80\x82",                  /* 我想了解关于GPT-4的更多信息。 */
    "\xe4\xbd\xa0\xe5\xa5\xbd\xef\xbc\x8c\xe4\xb8\x96\xe7\x95\x8c\xef\xbc\x81\xe4\xbb\x8a\xe5\xa4\xa9"
    "\xe5\xa4\xa9\xe6\xb0\x94\xe5\xbe\x88\xe5\xa5\xbd\xe3\x80\x82\n",                              /* 你好，世界！今天天气很好。 */
    "\xe3\x81\x93\xe3\x82\x93\xe3\x81\xab\xe3\x81\xa1\xe3\x81\xaf\xe3\x80\x81\xe4\xb8\x96\xe7\x95\x8c"
    "\xe3\x80\x82",                                                                                /* こんにちは、世界。 */
    "\xec\x95\x88\xeb\x85\x95\xed\x95\x98\xec\x84\xb8\xec\x9a\x94 \xec\x84\xb8\xea\xb3\x84 ",      /* 안녕하세요 세계 */
    "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82, \xd0\xba\xd0\xb0\xd0\xba \xd0\xb4\xd0\xb5"
    "\xd0\xbb\xd0\xb0? ",                                                                          /* Привет, как дела? */
    "\xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7 \xd8\xa8\xd8\xa7\xd9\x84\xd8\xb9\xd8\xa7\xd9\x84\xd9\x85 ",
    "\xe0\xa4\xa8\xe0\xa4\xae\xe0\xa4\xb8\xe0\xa5\x8d\xe0\xa4\xa4\xe0\xa5\x87 ",                  /* नमस्ते */
    "Emoji: \xf0\x9f\xa6\x99\xf0\x9f\x9a\x80\xf0\x9f\x8e\x89 \xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x91\xa9"
    "\xe2\x80\x8d\xf0\x9f\x91\xa7 \xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd ",
    "na\xc3\xafve caf\xc3\xa9 r\xc3\xa9sum\xc3\xa9 fa\xc3\xa7" "ade ",
    "    \n\t\t\n\n",
    "repeated!!!!!!?????? ...... ",
};

static uint64_t next_random(uint64_t *x) {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* The built-in text: snippets, numbers and made-up identifiers drawn with a
 * fixed seed, cut at a snippet boundary at most TEXT_BYTES long. */
static char *builtin_text(size_t *len) {
    char *text = malloc(TEXT_BYTES + 1);
    if (!text) return NULL;
    uint64_t x = 0x2545F4914F6CDD1Dull;
    size_t n = 0;
    for (;;) {
        char piece[96];
        uint64_t r = next_random(&x);
        size_t k = r % 8 == 0 ? (size_t)snprintf(piece, sizeof piece, "%llu ", (unsigned long long)(r >> 40))
                   : r % 8 == 1 ? (size_t)snprintf(piece, sizeof piece, "var_%llx = ", (unsigned long long)(r >> 44))
                                : 0;
        const char *s = k ? piece : SNIPPETS[(r >> 8) % (sizeof SNIPPETS / sizeof *SNIPPETS)];
        if (!k) k = strlen(s);
        if (n + k > TEXT_BYTES) break;
        memcpy(text + n, s, k);
        n += k;
    }
    text[n] = '\0';
    *len = n;
    return text;
}

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int bench_tokenizer(int argc, char **argv) {
    cli_args a;
    cli_args_init(&a, "bench --tokenizer", argc, argv);
    const char *model_arg = NULL, *file = NULL;
    long reps = 5;
    bool json = false;
    const char *arg;
    while ((arg = cli_args_next(&a))) {
        if (cli_is(arg, "-h", "--help")) {
            fputs(bench_tokenizer_help, stdout);
            return EXIT_OK;
        } else if (cli_is(arg, "-m", "--model")) model_arg = cli_value(&a, arg);
        else if (cli_is(arg, "--file", "-f")) file = cli_value(&a, arg);
        else if (cli_is(arg, "--reps", NULL)) cli_int(&a, arg, 1, 1000, &reps);
        else if (cli_is(arg, "--json", NULL)) json = true;
        else return cli_usage_error("bench --tokenizer", "unknown argument '%s'", arg);
    }
    if (a.failed) return EXIT_USAGE;
    size_t len = 0;
    char *text = file ? cli_read_file(file, "bench --tokenizer", &len) : builtin_text(&len);
    if (!text) return file ? EXIT_RUNTIME : cli_runtime_error("bench --tokenizer", "out of memory");
    char *path = cli_find_model(model_arg, "bench --tokenizer");
    vka_model *m = path ? cli_load_model(path, NULL, true, "bench --tokenizer") : NULL;
    size_t cap = len + 16, n_tokens = 0;   /* every token covers at least one byte */
    int32_t *ids = malloc(cap * sizeof *ids);
    double *seconds = malloc((size_t)reps * sizeof *seconds);
    int code = EXIT_RUNTIME;
    if (m && ids && seconds) {
        code = EXIT_OK;
        for (long r = 0; r < reps && code == EXIT_OK; r++) {
            double t0 = cli_now();
            if (vka_tokenize(m, text, len, 0, ids, cap, &n_tokens) != VKA_OK)
                code = cli_runtime_error("bench --tokenizer", "tokenizing");
            seconds[r] = cli_now() - t0;
        }
    } else if (m) {
        code = cli_runtime_error("bench --tokenizer", "out of memory");
    }
    if (code == EXIT_OK) {
        qsort(seconds, (size_t)reps, sizeof *seconds, compare_doubles);
        double median = reps % 2 ? seconds[reps / 2] : (seconds[reps / 2 - 1] + seconds[reps / 2]) / 2;
        double mbs = median > 0 ? (double)len / median / 1e6 : 0;
        if (json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "model", path);
            cJSON_AddStringToObject(o, "text", file ? file : "builtin");
            cJSON_AddNumberToObject(o, "bytes", (double)len);
            cJSON_AddNumberToObject(o, "tokens", (double)n_tokens);
            cJSON_AddNumberToObject(o, "reps", (double)reps);
            cJSON_AddNumberToObject(o, "median_seconds", median);
            cJSON_AddNumberToObject(o, "median_mb_per_s", mbs);
            cJSON_AddNumberToObject(o, "min_seconds", seconds[0]);
            cJSON_AddNumberToObject(o, "max_seconds", seconds[reps - 1]);
            char *out = cJSON_PrintUnformatted(o);
            if (out) puts(out);
            else code = cli_runtime_error("bench --tokenizer", "out of memory");
            free(out);
            cJSON_Delete(o);
        }
        else
            printf("tokenizer: %zu bytes -> %zu tokens (%.2f bytes/token), %ld reps: median %.1f ms, "
                   "%.2f MB/s (min %.1f ms, max %.1f ms)\n",
                   len, n_tokens, n_tokens ? (double)len / (double)n_tokens : 0.0, reps, median * 1e3, mbs,
                   seconds[0] * 1e3, seconds[reps - 1] * 1e3);
    }
    free(seconds);
    free(ids);
    vka_model_free(m);
    free(path);
    free(text);
    return code;
}
