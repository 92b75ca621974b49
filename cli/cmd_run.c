/* cmd_run.c — `vkagent run`: stream a model's continuation of a prompt to
 * stdout; timings and diagnostics go to stderr so stdout can be piped. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "common.h"
#include "run_session.h"

#define MAX_STOPS 16

static const char *const run_help =
    "usage: vkagent run [-m MODEL] (-p PROMPT | -f FILE) [options]\n"
    "\n"
    "Streams the generated text (not the prompt, unless --echo) to stdout; the\n"
    "timing summary goes to stderr.\n"
    "\n"
    "Exit codes: 0 ok, 1 runtime error, 2 usage error, 3 the output under --grammar-file,\n"
    "--json-schema or --json stopped before the document was complete (max tokens, a\n"
    "full context, Ctrl-C or a stop string): what was printed is not a valid document.\n"
    "\n"
    "  -m, --model PATH          GGUF model (default: $VKAGENT_MODEL, models/, ../shared/models/stories260K.gguf)\n"
    "  -p, --prompt TEXT         prompt text (default: empty, i.e. BOS only)\n"
    "  -f, --file PATH           read the prompt from a file ('-': standard input)\n"
    "  -n, --n-predict N         tokens to generate (default 128; -1: until the context is full)\n"
    "      --temp T              temperature (default 0.8; 0 = greedy)\n"
    "      --top-k K             (default 40; 0 = off)\n"
    "      --top-p P             (default 0.95; 1 = off)\n"
    "      --min-p P             (default 0.05; 0 = off)\n"
    "      --repeat-penalty R    (default 1.0 = off)\n"
    "      --repeat-last-n N     penalty window (default 64; -1 = whole context)\n"
    "      --frequency-penalty F (default 0)\n"
    "      --presence-penalty F  (default 0)\n"
    "      --logit-bias ID=BIAS  add BIAS to token ID's logit (repeatable; ID=-inf bans the token)\n"
    "      --seed S              RNG seed (default 0; -1: a random seed, printed on stderr)\n"
    "      --stop STR            stop when STR appears (repeatable, up to 16); STR is not printed\n"
    "      --echo                print the prompt before the continuation\n"
    "      --special             parse special-token text in the prompt (e.g. <|im_start|>)\n"
    "      --grammar-file FILE   constrain the output to a GBNF grammar (root rule \"root\")\n"
    "      --grammar-root NAME   start rule of the grammar\n"
    "      --json-schema S       constrain the output to a JSON Schema (a file, or the JSON text itself)\n"
    CLI_JSON_SCHEMA_OPTIONS_HELP
    "      --json                constrain the output to any JSON value\n"
    "  -c, --ctx-size N          context size (default: the model's, at most 4096)\n"
    "  -b, --batch-size N        prompt tokens per step (default 512)\n"
    "      --kv-type auto|f32|f16\n"
    "      --device DEV          auto, cpu, cpu-ref, vulkan, vulkan:N (default: $VKAGENT_DEVICE or auto)\n"
    "      --session FILE        a saved session, like a prompt cache: when FILE exists it is loaded (its context\n"
    "                            size and KV type unless -c/--kv-type say otherwise); with -p/-f the part of it the\n"
    "                            prompt starts with is kept and only the rest of the prompt is read; without a\n"
    "                            prompt the run continues the saved text. After the run, the session (prompt and\n"
    "                            output) is saved to FILE\n"
    "  -h, --help\n";

typedef struct run_opts {
    const char *model, *prompt, *prompt_file, *device;
    const char *grammar_file, *json_schema;
    const char *session_file;
    char *grammar_text, *schema_text;   /* loaded, owned */
    const char *stops[MAX_STOPS];
    size_t n_stops;
    bool echo, special;
    vka_generate_params gp;
    vka_session_params sp;
} run_opts;

static bool parse_kv_type(cli_args *a, const char *arg, vka_kv_type *out) {
    const char *v = cli_value(a, arg);
    if (!v) return false;
    if (strcmp(v, "auto") == 0) *out = VKA_KV_AUTO;
    else if (strcmp(v, "f32") == 0) *out = VKA_KV_F32;
    else if (strcmp(v, "f16") == 0) *out = VKA_KV_F16;
    else {
        a->failed = true;
        cli_usage_error(a->cmd, "--kv-type must be auto, f32 or f16, not '%s'", v);
        return false;
    }
    return true;
}

static int parse_run(int argc, char **argv, run_opts *o) {
    cli_args a;
    cli_args_init(&a, "run", argc, argv);
    vka_generate_params_default(&o->gp);
    vka_session_params_default(&o->sp);
    o->gp.max_tokens = 128;
    const char *arg;
    long l;
    while ((arg = cli_args_next(&a))) {
        bool matched;
        if (cli_is(arg, "-h", "--help")) {
            fputs(run_help, stdout);
            return -1;
        } else if (cli_is(arg, "-m", "--model")) o->model = cli_value(&a, arg);
        else if (cli_is(arg, "-p", "--prompt")) o->prompt = cli_value(&a, arg);
        else if (cli_is(arg, "-f", "--file")) o->prompt_file = cli_value(&a, arg);
        else if (cli_is(arg, "--device", NULL)) o->device = cli_device(&a, arg);
        else if (cli_is(arg, "-n", "--n-predict")) {
            if (cli_int(&a, arg, -1, 1 << 24, &l)) o->gp.max_tokens = (int32_t)l;
        } else if (cli_is(arg, "-c", "--ctx-size")) {
            if (cli_int(&a, arg, 0, 1 << 24, &l)) o->sp.n_ctx = (uint32_t)l;
        } else if (cli_is(arg, "-b", "--batch-size")) {
            if (cli_int(&a, arg, 1, 8192, &l)) o->sp.n_batch = (uint32_t)l;
        } else if (cli_is(arg, "--kv-type", NULL)) parse_kv_type(&a, arg, &o->sp.kv_type);
        else if (cli_is(arg, "--stop", NULL)) {
            const char *v = cli_value(&a, arg);
            if (v && (!*v || o->n_stops == MAX_STOPS)) return cli_usage_error("run", "--stop needs a non-empty string (at most %d)", MAX_STOPS);
            if (v) o->stops[o->n_stops++] = v;
        } else if (cli_is(arg, "--echo", NULL)) o->echo = true;
        else if (cli_is(arg, "--grammar-file", NULL)) o->grammar_file = cli_value(&a, arg);
        else if (cli_is(arg, "--grammar-root", NULL)) o->gp.sampling.grammar_root = cli_value(&a, arg);
        else if (cli_is(arg, "--json-schema", NULL)) o->json_schema = cli_value(&a, arg);
        else if (cli_is(arg, "--json", NULL)) o->gp.sampling.json = true;
        else if (cli_is(arg, "--special", NULL)) o->special = true;
        else if (cli_is(arg, "--session", NULL)) o->session_file = cli_value(&a, arg);
        else if (!cli_parse_sampling(&a, arg, &o->gp.sampling, &matched) || matched) continue;
        else if (!cli_parse_structured(&a, arg, &o->gp.sampling.json_schema_flags, &matched) || matched) continue;
        else return cli_usage_error("run", "unknown option '%s'", arg);
        if (a.failed) return EXIT_USAGE;
    }
    if (a.failed) return EXIT_USAGE;
    if (o->prompt && o->prompt_file) return cli_usage_error("run", "give -p or -f, not both");
    if ((o->grammar_file != NULL) + (o->json_schema != NULL) + o->gp.sampling.json > 1)
        return cli_usage_error("run", "give at most one of --grammar-file, --json-schema and --json");
    return 0;
}

static vka_session *volatile running_session;

static void on_sigint(int sig) {
    (void)sig;
    if (running_session) vka_session_cancel(running_session);
}

static void print_summary(const vka_generate_result *r, const vka_model *m) {
    vka_model_info info;
    vka_model_get_info(m, &info);
    double pp = r->prompt_seconds > 0 ? r->n_prompt_tokens / r->prompt_seconds : 0;
    double tg = r->generate_seconds > 0 ? r->n_generated / r->generate_seconds : 0;
    fprintf(stderr, "\n[%s] prompt: %u tokens, %.3f s, %.1f tokens/s | generated: %u tokens, %.3f s, %.1f tokens/s | stop: %s\n",
            info.device, r->n_prompt_tokens, r->prompt_seconds, pp, r->n_generated, r->generate_seconds, tg,
            vka_stop_reason_name(r->stop_reason));
}

/* Constrained output that stopped early: says why on stderr; EXIT_INCOMPLETE. */
static int report_incomplete(const vka_generate_result *r) {
    const char *why = "generation stopped", *hint = "";
    switch (r->stop_reason) {
    case VKA_STOP_MAX_TOKENS: why = "max tokens reached", hint = " HINT: raise -n"; break;
    case VKA_STOP_CONTEXT_FULL: why = "the context is full", hint = " HINT: raise -c or shorten the prompt"; break;
    case VKA_STOP_CANCELLED: why = "interrupted"; break;
    case VKA_STOP_STRING: why = "a stop string appeared"; break;
    default: break;
    }
    fprintf(stderr, "vkagent run: the output stopped before the grammar was complete (%s); it is not a valid document.%s\n",
            why, hint);
    return EXIT_INCOMPLETE;
}

/* The prompt is given as text, or (ids non-NULL: --session) as the tokens
 * left to read after what the saved session already holds. */
static int generate_and_print(vka_session *session, const char *prompt, const int32_t *ids, size_t n_ids,
                              run_opts *o) {
    if (o->echo) fputs(prompt, stdout);
    o->gp.stop = o->stops;
    o->gp.n_stop = o->n_stops;
    o->gp.on_piece = cli_print_piece;
    o->gp.parse_special = o->special;
    vka_generate_result result;
    running_session = session;
    signal(SIGINT, on_sigint);
    vka_status st = ids ? vka_generate_tokens(session, ids, n_ids, &o->gp, &result)
                        : vka_generate(session, prompt, &o->gp, &result);
    signal(SIGINT, SIG_DFL);
    running_session = NULL;
    fputc('\n', stdout);
    fflush(stdout);
    int code = EXIT_OK;
    if (st != VKA_OK) code = cli_runtime_error("run", "generation failed");
    else print_summary(&result, vka_session_model(session));
    if (st == VKA_OK && !result.grammar_complete) code = report_incomplete(&result);
    vka_generate_result_clear(&result);
    return code;
}

int cmd_run(int argc, char **argv) {
    run_opts o = {0};
    int parsed = parse_run(argc, argv, &o);
    if (parsed) return parsed < 0 ? EXIT_OK : parsed;
    char *file_prompt = NULL;
    if (o.prompt_file && !(file_prompt = cli_read_file(o.prompt_file, "run", NULL))) return EXIT_RUNTIME;
    const char *prompt = file_prompt ? file_prompt : o.prompt ? o.prompt : "";
    if (cli_load_structured(o.grammar_file, o.json_schema, "run", &o.gp.sampling, &o.grammar_text, &o.schema_text)) {
        free(file_prompt);
        return EXIT_RUNTIME;
    }
    char *path = cli_find_model(o.model, "run");
    vka_model *model = path ? cli_load_model(path, o.device, false, "run") : NULL;
    vka_session *session = NULL;
    int code = EXIT_RUNTIME;
    if (model && o.session_file) {
        int32_t *ids = NULL;
        size_t n_ids = 0;
        const char *given = o.prompt || o.prompt_file ? prompt : NULL;
        session = cli_session_open(model, o.session_file, &o.sp, given, o.special, &ids, &n_ids);
        static const int32_t no_tokens[1];   /* nothing new to read: the saved context goes on */
        if (session) code = generate_and_print(session, prompt, ids ? ids : no_tokens, n_ids, &o);
        if (session && code != EXIT_RUNTIME) {
            int saved = cli_session_store(session, o.session_file);
            if (saved != EXIT_OK) code = saved;
        }
        free(ids);
    } else if (model && (session = cli_create_session(model, &o.sp, "run"))) {
        code = generate_and_print(session, prompt, NULL, 0, &o);
    }
    vka_session_free(session);
    vka_model_free(model);
    free(path);
    free(file_prompt);
    free(o.grammar_text);
    free(o.schema_text);
    return code;
}
