/* cmd_tokenize.c — `vkagent tokenize`: ids and pieces of a text; works on
 * vocab-only GGUF files too. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "common.h"

static const char *const tokenize_help =
    "usage: vkagent tokenize [-m MODEL] [--json] [--no-bos] [--special] (TEXT | -f FILE)\n"
    "\n"
    "Prints one token per line (id and piece); with --json, {\"ids\": [...], \"pieces\": [...]}.\n"
    "-f - reads the text from standard input.\n"
    "  --no-bos    do not add BOS even if the model asks for it\n"
    "  --special   turn the text of special tokens (<s>, <|im_start|>) into those tokens\n";

/* A piece for display: its bytes when they are valid UTF-8, else the vocabulary text. */
static char *display_piece(const vka_model *m, int32_t id) {
    char buf[512];
    size_t len = 0;
    if (vka_token_to_piece(m, id, VKA_DETOKENIZE_SPECIAL, buf, sizeof buf - 1, &len) != VKA_OK) len = 0;
    buf[len] = '\0';
    bool valid = true;
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)buf[i];
        size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (!n || i + n > len) { valid = false; break; }
        for (size_t k = 1; k < n; k++) valid &= ((unsigned char)buf[i + k] >> 6) == 2;
        i += n;
    }
    return strdup(valid ? buf : vka_token_text(m, id));
}

static int print_tokens(const vka_model *m, const int32_t *ids, size_t n, bool json) {
    if (!json) {
        for (size_t i = 0; i < n; i++) {
            char *p = display_piece(m, ids[i]);
            printf("%6d  '%s'\n", ids[i], p ? p : "");
            free(p);
        }
        return EXIT_OK;
    }
    cJSON *root = cJSON_CreateObject(), *jids = cJSON_AddArrayToObject(root, "ids");
    cJSON *jpieces = cJSON_AddArrayToObject(root, "pieces");
    for (size_t i = 0; i < n; i++) {
        char *p = display_piece(m, ids[i]);
        cJSON_AddItemToArray(jids, cJSON_CreateNumber(ids[i]));
        cJSON_AddItemToArray(jpieces, cJSON_CreateString(p ? p : ""));
        free(p);
    }
    char *text = cJSON_PrintUnformatted(root);
    if (text) puts(text);
    free(text);
    cJSON_Delete(root);
    return text ? EXIT_OK : EXIT_RUNTIME;
}

int cmd_tokenize(int argc, char **argv) {
    cli_args a;
    cli_args_init(&a, "tokenize", argc, argv);
    const char *model_arg = NULL, *text = NULL, *file = NULL;
    bool json = false, no_bos = false, special = false;
    const char *arg;
    while ((arg = cli_args_next(&a))) {
        if (cli_is(arg, "-h", "--help")) {
            fputs(tokenize_help, stdout);
            return EXIT_OK;
        } else if (cli_is(arg, "-m", "--model")) model_arg = cli_value(&a, arg);
        else if (cli_is(arg, "-f", "--file")) file = cli_value(&a, arg);
        else if (cli_is(arg, "--json", NULL)) json = true;
        else if (cli_is(arg, "--no-bos", NULL)) no_bos = true;
        else if (cli_is(arg, "--special", NULL)) special = true;
        else if (arg[0] == '-' && arg[1]) return cli_usage_error("tokenize", "unknown option '%s'", arg);
        else if (text) return cli_usage_error("tokenize", "give one TEXT (quote it)");
        else text = arg;
    }
    if (a.failed) return EXIT_USAGE;
    if (!text == !file) return cli_usage_error("tokenize", "give a TEXT or -f FILE");
    size_t len = text ? strlen(text) : 0;
    char *loaded = file ? cli_read_file(file, "tokenize", &len) : NULL;
    if (file && !loaded) return EXIT_RUNTIME;
    char *path = cli_find_model(model_arg, "tokenize");
    vka_model *m = path ? cli_load_model(path, NULL, true, "tokenize") : NULL;
    int code = EXIT_RUNTIME;
    bool fallback = false;
    if (m && (vka_model_pretokenizer(m, &fallback), fallback)) {
        const char *pre = vka_model_meta_string(m, "tokenizer.ggml.pre");
        if (!pre) pre = "";
        fprintf(stderr, "vkagent tokenize: note: %s%s%s; splitting with GPT-2's pattern instead "
                "(docs/tokenizers.md lists the known names)\n", pre[0] ? "tokenizer.ggml.pre \"" : "",
                pre, pre[0] ? "\" is not a pre-tokenizer vkagent knows" : "the file has no tokenizer.ggml.pre");
    }
    if (m) {
        int flags = (no_bos ? 0 : VKA_TOKENIZE_MODEL_BOS) | (special ? VKA_TOKENIZE_PARSE_SPECIAL : 0);
        size_t n = 0;
        int32_t *ids = cli_tokenize(m, loaded ? loaded : text, len, flags, &n);
        if (ids)
            code = print_tokens(m, ids, n, json);
        else
            code = cli_runtime_error("tokenize", "tokenizing");
        free(ids);
    }
    vka_model_free(m);
    free(path);
    free(loaded);
    return code;
}
