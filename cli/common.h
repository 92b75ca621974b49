/* common.h — what the vkagent subcommands share: exit codes, option parsing,
 * finding the default model, loading it with a message on failure. */
#ifndef VKA_CLI_COMMON_H
#define VKA_CLI_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vkagent.h"

/* EXIT_INCOMPLETE: constrained output (grammar, JSON schema) stopped before
 * the document was complete, so what was printed is not a valid document. */
enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2, EXIT_INCOMPLETE = 3 };

/* One argv walk: cli_args_next() returns the next option or positional. */
typedef struct cli_args {
    int argc;
    char **argv;
    int i;
    const char *cmd;         /* subcommand name for messages */
    bool failed;             /* a usage error was printed */
} cli_args;

void cli_args_init(cli_args *a, const char *cmd, int argc, char **argv);
/* The next argument, or NULL at the end. */
const char *cli_args_next(cli_args *a);
/* True if `arg` is one of the names (NULL-terminated list of "-x", "--long"). */
bool cli_is(const char *arg, const char *name1, const char *name2);
/* The value after the current option (or from "--opt=value"); prints a usage
 * error and returns NULL if missing. */
const char *cli_value(cli_args *a, const char *arg);
bool cli_int(cli_args *a, const char *arg, long min, long max, long *out);
bool cli_float(cli_args *a, const char *arg, double min, double max, float *out);
bool cli_u64(cli_args *a, const char *arg, uint64_t *out);
/* The value of --device, checked at once: auto, cpu, vulkan or vulkan:N
 * (NULL after a usage error). Whether device N exists is known only when
 * loading. */
const char *cli_device(cli_args *a, const char *arg);
/* The value of --template, checked at once against the chat formats the
 * library knows (NULL after a usage error). */
const char *cli_template(cli_args *a, const char *arg);

/* Prints "vkagent CMD: message" + a hint to use --help; returns EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints "vkagent CMD: message: vka_last_error()"; returns EXIT_RUNTIME. */
int cli_runtime_error(const char *cmd, const char *what);

/* The model to use: `arg` (-m), else VKAGENT_MODEL, else models/ in the
 * checkout, else ../shared/models/stories260K.gguf next to the checkout.
 * Returns a malloc'ed path, or NULL after printing where it looked. */
char *cli_find_model(const char *arg, const char *cmd);

/* The vocabulary used without a model (bench --grammar, grammar --sample):
 * $VKAGENT_TEST_DATA/fixtures/vocab/qwen3.gguf, by default in ../shared next
 * to the checkout. Malloc'ed. */
char *cli_default_vocab(void);

/* Loads a model, printing the error; returns NULL on failure. */
vka_model *cli_load_model(const char *path, const char *device, bool vocab_only, const char *cmd);

/* Creates a session, printing the error (NULL on failure) and a warning when
 * the context is longer than the model was trained for. */
vka_session *cli_create_session(vka_model *model, const vka_session_params *params, const char *cmd);

/* Reads a whole file (for prompts, grammars, schemas), or standard input when
 * `path` is "-"; NULL + message on failure. */
char *cli_read_file(const char *path, const char *cmd, size_t *len);

double cli_now(void);

/* A vka_piece_fn that writes each piece to stdout as it comes. */
bool cli_print_piece(const char *piece, size_t len, int32_t token, void *user);

/* Loads --grammar-file / --json-schema (file or inline JSON) into the sampling
 * params; the texts are returned for the caller to free. A schema is
 * converted once here (cli_convert_schema), so that its warnings are printed
 * and its errors reported before a model is loaded. EXIT_OK or EXIT_RUNTIME. */
int cli_load_structured(const char *grammar_file, const char *json_schema, const char *cmd, vka_sampling_params *sp,
                        char **grammar_text, char **schema_text);

/* The text of a --json-schema argument: the JSON itself when it starts with
 * '{' (or is true/false), else the file it names. NULL + message on failure. */
char *cli_read_schema(const char *json_schema, const char *cmd);

/* The options of the JSON Schema conversion (json_schema_flags), for every
 * command that takes --json-schema: --json-schema-strict, --json-schema-lenient,
 * --json-schema-flexible-ws, --json-schema-oneof-as-anyof (VKA_JSON_SCHEMA_*
 * bits set in *json_schema_flags). *matched says
 * whether `arg` was one of them; returns false after a usage error. */
bool cli_parse_structured(cli_args *a, const char *arg, uint32_t *json_schema_flags, bool *matched);

/* Their lines for --help texts, after the --json-schema line. */
#define CLI_JSON_SCHEMA_OPTIONS_HELP                                                                           \
    "      --json-schema-strict  undeclared members only where the schema allows them\n"                       \
    "                            (additionalProperties defaults to false, as OpenAI's strict mode)\n"          \
    "      --json-schema-lenient ignore validation keywords that cannot be enforced exactly\n"                 \
    "                            (each named in a warning) instead of refusing the schema\n"                   \
    "      --json-schema-flexible-ws\n"                                                                        \
    "                            any JSON whitespace between tokens (default: none, compact JSON)\n"           \
    "      --json-schema-oneof-as-anyof\n"                                                                     \
    "                            take a oneOf whose alternatives may overlap as anyOf instead of refusing it\n"

/* Converts the schema of `sp` (json_schema, json_schema_flags) to GBNF,
 * printing the converter's warnings on stderr ("vkagent CMD: warning: ...")
 * and its error if it fails. *gbnf (may be NULL: only check) is malloc'ed.
 * EXIT_OK or EXIT_RUNTIME. */
int cli_convert_schema(const vka_sampling_params *sp, const char *cmd, char **gbnf);

/* The sampling options shared by run, chat and agent (--temp, --top-k,
 * --top-p, --min-p, --repeat-penalty, --repeat-last-n, --frequency-penalty,
 * --presence-penalty, --logit-bias ID=BIAS (repeatable), --seed; --seed -1 draws a random seed and prints it on
 * stderr, so that the run can be repeated). *matched says whether `arg` was
 * one of them; returns false after a usage error. */
bool cli_parse_sampling(cli_args *a, const char *arg, vka_sampling_params *s, bool *matched);

/* Tokenizes text; returns malloc'ed ids (NULL on failure, vka_last_error() says why). */
int32_t *cli_tokenize(const vka_model *m, const char *text, size_t len, int flags, size_t *n);

/* How many leading tokens a and b share. */
size_t cli_common_prefix(const int32_t *a, size_t na, const int32_t *b, size_t nb);

#endif
