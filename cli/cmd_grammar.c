/* cmd_grammar.c — `vkagent grammar`: checks a GBNF grammar, or prints the
 * GBNF a JSON Schema becomes (for debugging, and for other engines). */
#include <stdio.h>
#include <stdlib.h>

#include "commands.h"
#include "common.h"
#include "grammar.h"
#include "sampler_grammar.h"

static const char *const grammar_help =
    "usage: vkagent grammar (--json-schema FILE_OR_JSON | --json | --grammar-file FILE [--grammar-root NAME])\n"
    "\n"
    "Prints the GBNF grammar that constrained sampling uses: the conversion of a\n"
    "JSON Schema, the any-JSON grammar, or a GBNF file after checking that it\n"
    "parses (errors give line and column).\n";

int cmd_grammar(int argc, char **argv) {
    cli_args a;
    cli_args_init(&a, "grammar", argc, argv);
    const char *grammar_file = NULL, *schema = NULL;
    vka_sampling_params sp;
    vka_sampling_params_default(&sp);
    const char *arg;
    while ((arg = cli_args_next(&a))) {
        if (cli_is(arg, "-h", "--help")) {
            fputs(grammar_help, stdout);
            return EXIT_OK;
        } else if (cli_is(arg, "--json-schema", NULL)) schema = cli_value(&a, arg);
        else if (cli_is(arg, "--grammar-file", NULL)) grammar_file = cli_value(&a, arg);
        else if (cli_is(arg, "--grammar-root", NULL)) sp.grammar_root = cli_value(&a, arg);
        else if (cli_is(arg, "--json", NULL)) sp.json = true;
        else return cli_usage_error("grammar", "unknown argument '%s'", arg);
    }
    if (a.failed) return EXIT_USAGE;
    if ((grammar_file != NULL) + (schema != NULL) + sp.json != 1)
        return cli_usage_error("grammar", "give one of --json-schema, --json and --grammar-file");
    char *grammar_text, *schema_text;
    if (cli_load_structured(grammar_file, schema, "grammar", &sp, &grammar_text, &schema_text)) return EXIT_RUNTIME;
    char *gbnf = NULL;
    const char *root;
    vka_grammar *g = NULL;
    int code = EXIT_OK;
    if (vka_structured_gbnf(&sp, &gbnf, &root) != VKA_OK) code = cli_runtime_error("grammar", "converting");
    else if (vka_grammar_parse(gbnf, root, &g) != VKA_OK) code = cli_runtime_error("grammar", "checking the grammar");
    else fputs(gbnf, stdout);
    vka_grammar_free(g);
    free(gbnf);
    free(grammar_text);
    free(schema_text);
    return code;
}
