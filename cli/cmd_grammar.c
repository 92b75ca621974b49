/* cmd_grammar.c — `vkagent grammar`: prints the GBNF a JSON Schema becomes (or
 * checks a GBNF file), checks documents against it, or samples random
 * documents from it (grammar_sample.c): the machine side of the property tests. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "common.h"
#include "tools/tools.h"   /* engine internals for the tools */
#include "grammar_sample.h"

static const char *const grammar_help =
    "usage: vkagent grammar (--json-schema S [schema options] | --json | --grammar-file FILE [--grammar-root NAME])\n"
    "                       [--check [--encoded] | --sample N [--seed K] [--vocab VOCAB.gguf] [--max-tokens N]]\n"
    "\n"
    "Prints the GBNF grammar that constrained sampling uses: the conversion of a\n"
    "JSON Schema (S: a file, or the JSON text itself), the any-JSON grammar, or a\n"
    "GBNF file after checking that it parses (errors give line and column).\n"
    "\n"
    "  --check        read documents from stdin, one per line, and print `accept` or\n"
    "                 `reject` for each (one line each, flushed): accept when the whole\n"
    "                 line is a complete document of the grammar, exactly what a\n"
    "                 generation could produce. Only \\n ends a line (a \\r before it\n"
    "                 belongs to the document); an empty line is checked as the empty\n"
    "                 document, so output lines match input lines one to one. A line\n"
    "                 the matcher cannot decide (a matcher limit) prints `error: WHY`\n"
    "                 and makes the exit status 1; otherwise it is 0.\n"
    "  --encoded      with --check: each line is a JSON string holding the document\n"
    "                 (as --sample prints them), for documents with newlines\n"
    "  --sample N     N random walks through the grammar, without a model: random\n"
    "                 logits (seeded) through the real sampler and token masks of a\n"
    "                 vocabulary, favouring the end after a while. Prints each\n"
    "                 complete document as a JSON string on its own line; a walk that\n"
    "                 reaches --max-tokens (default 1000) first is reported on stderr\n"
    "                 and not printed. Walk i uses seed K+i (--seed, default 0), so\n"
    "                 `--sample 1 --seed K+i` repeats it; even seeds sample at\n"
    "                 temperature 1, odd seeds greedily.\n"
    "  --vocab FILE   the vocabulary for --sample (a GGUF; default\n"
    "                 ../shared/fixtures/vocab/qwen3.gguf)\n"
    "\n"
    "Schema options:\n" CLI_JSON_SCHEMA_OPTIONS_HELP
    "\n"
    "Conversion warnings go to stderr; a schema that cannot be converted exits 1 with the reason.\n";

typedef struct grammar_opts {
    const char *grammar_file, *schema;
    bool check, encoded;
    grammar_sample_opts sample; /* n_walks > 0: --sample */
} grammar_opts;

/* The document a line stands for: the line itself, or with --encoded the
 * content of the JSON string on it. Returns NULL (and *why) when an encoded
 * line is not a JSON string; *doc_out is malloc'ed when encoded. */
static const char *line_document(const char *line, size_t len, bool encoded, char **owned, size_t *doc_len,
                                 const char **why) {
    *owned = NULL;
    *doc_len = len;
    if (!encoded) return line;
    cJSON *j = cJSON_ParseWithLength(line, len);
    if (!cJSON_IsString(j)) {
        cJSON_Delete(j);
        *why = "the line is not a JSON string";
        return NULL;
    }
    /* cJSON keeps strings NUL-terminated: a \u0000 inside would cut the document short */
    if (strstr(line, "\\u0000")) {
        cJSON_Delete(j);
        *why = "a NUL inside an encoded document is not supported";
        return NULL;
    }
    *owned = strdup(j->valuestring);
    cJSON_Delete(j);
    if (!*owned) *why = "out of memory";
    else *doc_len = strlen(*owned);
    return *owned;
}

/* --check: one verdict line per stdin line. */
static int check_documents(const vka_sampling_params *sp, bool encoded) {
    vka_structured_checker *checker = NULL;
    if (vka_structured_checker_create(sp, &checker) != VKA_OK) return cli_runtime_error("grammar", "building the checker");
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int code = EXIT_OK;
    while ((n = getline(&line, &cap, stdin)) >= 0) {
        size_t len = (size_t)n;
        if (len && line[len - 1] == '\n') len--;
        char *owned;
        size_t doc_len;
        const char *why = NULL;
        const char *doc = line_document(line, len, encoded, &owned, &doc_len, &why);
        bool accepted = false;
        if (doc && vka_structured_check(checker, doc, doc_len, &accepted) != VKA_OK) why = vka_last_error();
        if (why) {
            printf("error: %s\n", why);
            code = EXIT_RUNTIME;
        } else {
            puts(accepted ? "accept" : "reject");
        }
        fflush(stdout);
        free(owned);
    }
    free(line);
    vka_structured_checker_free(checker);
    return code;
}

/* Default mode: the GBNF on stdout, after checking that it parses. */
static int print_grammar(const vka_sampling_params *sp) {
    char *gbnf = NULL;
    const char *root = "root";
    vka_grammar *g = NULL;
    int code = EXIT_OK;
    if (sp->json_schema) code = cli_convert_schema(sp, "grammar", &gbnf);
    else if (vka_structured_gbnf(sp, &gbnf, &root) != VKA_OK) code = cli_runtime_error("grammar", "converting");
    if (code == EXIT_OK && vka_grammar_parse(gbnf, root, &g) != VKA_OK)
        code = cli_runtime_error("grammar", "checking the grammar");
    if (code == EXIT_OK) fputs(gbnf, stdout);
    vka_grammar_free(g);
    free(gbnf);
    return code;
}

static bool parse_mode_option(cli_args *a, const char *arg, grammar_opts *o, bool *matched) {
    long l;
    *matched = true;
    if (cli_is(arg, "--check", NULL)) o->check = true;
    else if (cli_is(arg, "--encoded", NULL)) o->encoded = true;
    else if (cli_is(arg, "--sample", NULL)) return cli_int(a, arg, 1, 1L << 30, &l) && ((o->sample.n_walks = l), true);
    else if (cli_is(arg, "--seed", NULL)) return cli_u64(a, arg, &o->sample.seed);
    else if (cli_is(arg, "--vocab", NULL)) return (o->sample.vocab = cli_value(a, arg)) != NULL;
    else if (cli_is(arg, "--max-tokens", NULL)) return cli_int(a, arg, 1, 1L << 24, &o->sample.max_tokens);
    else *matched = false;
    return true;
}

/* Returns 0 to go on, -1 after --help, else the exit code of a usage error. */
static int parse_grammar(int argc, char **argv, grammar_opts *o, vka_sampling_params *sp) {
    cli_args a;
    cli_args_init(&a, "grammar", argc, argv);
    const char *arg;
    while ((arg = cli_args_next(&a))) {
        bool matched;
        if (cli_is(arg, "-h", "--help")) {
            fputs(grammar_help, stdout);
            return -1;
        } else if (cli_is(arg, "--json-schema", NULL)) o->schema = cli_value(&a, arg);
        else if (cli_is(arg, "--grammar-file", NULL)) o->grammar_file = cli_value(&a, arg);
        else if (cli_is(arg, "--grammar-root", NULL)) sp->grammar_root = cli_value(&a, arg);
        else if (cli_is(arg, "--json", NULL)) sp->json = true;
        else if (!cli_parse_structured(&a, arg, &sp->json_schema_flags, &matched) || matched) continue;
        else if (!parse_mode_option(&a, arg, o, &matched) || matched) continue;
        else return cli_usage_error("grammar", "unknown argument '%s'", arg);
    }
    if (a.failed) return EXIT_USAGE;
    if ((o->grammar_file != NULL) + (o->schema != NULL) + sp->json != 1)
        return cli_usage_error("grammar", "give one of --json-schema, --json and --grammar-file");
    if (o->check && o->sample.n_walks) return cli_usage_error("grammar", "give --check or --sample, not both");
    if (o->encoded && !o->check) return cli_usage_error("grammar", "--encoded goes with --check");
    if (!o->sample.n_walks && (o->sample.vocab || o->sample.max_tokens || o->sample.seed))
        return cli_usage_error("grammar", "--seed, --vocab and --max-tokens go with --sample");
    if (sp->json_schema_flags && !o->schema)
        return cli_usage_error("grammar", "the --json-schema-* options go with --json-schema");
    return 0;
}

/* The grammar file or schema the options name (a schema: a file or the JSON itself). */
static int load_texts(const grammar_opts *o, vka_sampling_params *sp, char **grammar_text, char **schema_text) {
    if (o->grammar_file && !(sp->grammar = *grammar_text = cli_read_file(o->grammar_file, "grammar", NULL)))
        return EXIT_RUNTIME;
    if (o->schema && !(sp->json_schema = *schema_text = cli_read_schema(o->schema, "grammar"))) return EXIT_RUNTIME;
    return EXIT_OK;
}

int cmd_grammar(int argc, char **argv) {
    grammar_opts o = {0};
    vka_sampling_params sp;
    vka_sampling_params_default(&sp);
    int parsed = parse_grammar(argc, argv, &o, &sp);
    if (parsed) return parsed < 0 ? EXIT_OK : parsed;
    char *grammar_text = NULL, *schema_text = NULL;
    int code = load_texts(&o, &sp, &grammar_text, &schema_text);
    bool printing = !o.check && !o.sample.n_walks;
    /* printing converts the schema itself; the other modes convert it once first, for its warnings and errors */
    if (code == EXIT_OK && !printing && sp.json_schema) code = cli_convert_schema(&sp, "grammar", NULL);
    if (code == EXIT_OK) code = printing ? print_grammar(&sp) : o.check ? check_documents(&sp, o.encoded) : grammar_sample(&sp, &o.sample);
    free(grammar_text);
    free(schema_text);
    return code;
}
