/* common.c — option parsing, default model lookup and error printing shared
 * by the subcommands. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#ifndef VKA_SOURCE_DIR
#define VKA_SOURCE_DIR "."
#endif

#define STORIES_URL "https://huggingface.co/ggml-org/models/resolve/main/tinyllamas/stories260K.gguf"

void cli_args_init(cli_args *a, const char *cmd, int argc, char **argv) {
    a->argc = argc;
    a->argv = argv;
    a->i = 0;
    a->cmd = cmd;
    a->failed = false;
}

const char *cli_args_next(cli_args *a) {
    if (a->failed || a->i >= a->argc) return NULL;
    return a->argv[a->i++];
}

/* "--name=value" matches "--name" too. */
static bool name_matches(const char *arg, const char *name) {
    if (!name) return false;
    size_t n = strlen(name);
    return strncmp(arg, name, n) == 0 && (arg[n] == '\0' || (arg[n] == '=' && name[1] == '-'));
}

bool cli_is(const char *arg, const char *name1, const char *name2) {
    return name_matches(arg, name1) || name_matches(arg, name2);
}

const char *cli_value(cli_args *a, const char *arg) {
    const char *eq = strchr(arg, '=');
    if (arg[0] == '-' && arg[1] == '-' && eq) return eq + 1;
    if (a->i >= a->argc) {
        cli_usage_error(a->cmd, "option %s needs a value", arg);
        a->failed = true;
        return NULL;
    }
    return a->argv[a->i++];
}

bool cli_int(cli_args *a, const char *arg, long min, long max, long *out) {
    const char *v = cli_value(a, arg);
    if (!v) return false;
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || *end || end == v || x < min || x > max) {
        cli_usage_error(a->cmd, "%s: '%s' is not a whole number in %ld..%ld", arg, v, min, max);
        a->failed = true;
        return false;
    }
    *out = x;
    return true;
}

bool cli_float(cli_args *a, const char *arg, double min, double max, float *out) {
    const char *v = cli_value(a, arg);
    if (!v) return false;
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || *end || end == v || !(x >= min && x <= max)) {
        cli_usage_error(a->cmd, "%s: '%s' is not a number in %g..%g", arg, v, min, max);
        a->failed = true;
        return false;
    }
    *out = (float)x;
    return true;
}

bool cli_u64(cli_args *a, const char *arg, uint64_t *out) {
    const char *v = cli_value(a, arg);
    if (!v) return false;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || *end || end == v || v[0] == '-') {
        cli_usage_error(a->cmd, "%s: '%s' is not a non-negative whole number", arg, v);
        a->failed = true;
        return false;
    }
    *out = x;
    return true;
}

const char *cli_device(cli_args *a, const char *arg) {
    const char *v = cli_value(a, arg);
    if (!v) return NULL;
    if (strcmp(v, "auto") == 0 || strcmp(v, "cpu") == 0 || strcmp(v, "cpu-ref") == 0 || strcmp(v, "vulkan") == 0)
        return v;
    const char *n = v + 7;
    if (strncmp(v, "vulkan:", 7) == 0 && *n && strspn(n, "0123456789") == strlen(n) && strlen(n) < 6) return v;
    cli_usage_error(a->cmd, "%s: unknown device '%s' (expected auto, cpu, cpu-ref, vulkan or vulkan:N, N as "
                    "`vkagent devices` lists them)", arg, v);
    a->failed = true;
    return NULL;
}

const char *cli_template(cli_args *a, const char *arg) {
    const char *v = cli_value(a, arg);
    if (v && vka_chat_template_check(v) != VKA_OK) {
        cli_usage_error(a->cmd, "%s: %s", arg, vka_last_error());
        a->failed = true;
        return NULL;
    }
    return v;
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "vkagent %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(see: vkagent %s --help)\n", cmd);
    return EXIT_USAGE;
}

int cli_runtime_error(const char *cmd, const char *what) {
    fprintf(stderr, "vkagent %s: %s: %s\n", cmd, what, vka_last_error());
    return EXIT_RUNTIME;
}

vka_session *cli_create_session(vka_model *model, const vka_session_params *params, const char *cmd) {
    vka_session *s = NULL;
    if (vka_session_create(model, params, &s) != VKA_OK) {
        cli_runtime_error(cmd, "creating a session");
        return NULL;
    }
    const char *warning = vka_session_warning(s);
    if (warning) fprintf(stderr, "vkagent %s: warning: %s\n", cmd, warning);
    return s;
}

static bool is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* "dir/name" in a new allocation (NULL when out of memory). */
static char *join(const char *dir, const char *name) {
    char *p = NULL;
    return asprintf(&p, "%s/%s", dir, name) < 0 ? NULL : p;
}

/* models/default.gguf, else the first *.gguf by name. */
static char *model_in_dir(const char *dir) {
    char *path = join(dir, "default.gguf");
    if (path && is_file(path)) return path;
    free(path);
    DIR *d = opendir(dir);
    if (!d) return NULL;
    char *first = NULL;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len > 5 && strcmp(e->d_name + len - 5, ".gguf") == 0 && (!first || strcmp(e->d_name, first) < 0)) {
            free(first);
            first = strdup(e->d_name);
        }
    }
    closedir(d);
    path = first ? join(dir, first) : NULL;
    free(first);
    return path;
}

char *cli_find_model(const char *arg, const char *cmd) {
    if (arg) return strdup(arg);
    const char *env = getenv("VKAGENT_MODEL");
    if (env && *env) return strdup(env);
    char *dir = join(VKA_SOURCE_DIR, "models");
    char *found = dir ? model_in_dir(dir) : NULL;
    char *shared = found ? NULL : join(VKA_SOURCE_DIR, "../shared/models/stories260K.gguf");
    if (!found && shared && is_file(shared)) {
        found = shared;
        shared = NULL;
    }
    if (!found)
        fprintf(stderr,
                "vkagent %s: no model given and none found. Looked at:\n"
                "  1. -m/--model (not given)\n"
                "  2. $VKAGENT_MODEL (not set)\n"
                "  3. %s/*.gguf (none)\n"
                "  4. %s (missing)\n"
                "HINT: get the default model (1.2 MB) with\n"
                "  mkdir -p %s && curl -L -o %s/stories260K.gguf %s\n"
                "or pass -m PATH/TO/MODEL.gguf\n",
                cmd, dir, shared, dir, dir, STORIES_URL);
    free(dir);
    free(shared);
    return found;
}

/* "loading NN%" rewritten in place with \r, so only on a terminal: a log or a
 * pipe gets no progress lines. */
static bool show_load_progress(float fraction, void *user) {
    int *shown = user, percent = (int)(fraction * 100);
    if (percent == *shown) return true;
    *shown = percent;
    if (fraction >= 1) fputs("\r             \r", stderr); /* gone once loaded */
    else fprintf(stderr, "\rloading %3d%%", percent);
    return true;
}

vka_model *cli_load_model(const char *path, const char *device, bool vocab_only, const char *cmd) {
    vka_model_params mp;
    vka_model_params_default(&mp);
    mp.device = device;
    mp.vocab_only = vocab_only;
    int shown = -1;
    if (!vocab_only && isatty(STDERR_FILENO)) {
        mp.progress = show_load_progress;
        mp.progress_user = &shown;
    }
    vka_model *model = NULL;
    if (vka_model_load(path, &mp, &model) != VKA_OK) {
        if (shown >= 0 && shown < 100) fputs("\r             \r", stderr);
        fprintf(stderr, "vkagent %s: %s\n", cmd, vka_last_error());
        return NULL;
    }
    return model;
}

char *cli_read_file(const char *path, const char *cmd, size_t *len) {
    bool from_stdin = strcmp(path, "-") == 0;
    FILE *f = from_stdin ? stdin : fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "vkagent %s: cannot open '%s': %s\n", cmd, path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n - 1 == 0) {
            char *bigger = realloc(buf, cap * 2);
            if (!bigger) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
    }
    bool failed = ferror(f) || !buf;
    if (!from_stdin) fclose(f);
    if (failed) {
        free(buf);
        fprintf(stderr, "vkagent %s: cannot read %s%s%s\n", cmd, from_stdin ? "" : "'",
                from_stdin ? "standard input" : path, from_stdin ? "" : "'");
        return NULL;
    }
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int32_t *cli_tokenize(const vka_model *m, const char *text, size_t len, int flags, size_t *n) {
    size_t cap = len + 16;
    int32_t *ids = malloc(cap * sizeof *ids);
    vka_status st = ids ? vka_tokenize(m, text, len, flags, ids, cap, n) : VKA_ERR_OUT_OF_MEMORY;
    if (st == VKA_ERR_BUFFER_TOO_SMALL) { /* retry with the size it asked for */
        free(ids);
        cap = *n;
        ids = malloc(cap * sizeof *ids);
        st = ids ? vka_tokenize(m, text, len, flags, ids, cap, n) : VKA_ERR_OUT_OF_MEMORY;
    }
    if (st != VKA_OK) {
        free(ids);
        return NULL;
    }
    return ids;
}

int cli_load_structured(const char *grammar_file, const char *json_schema, const char *cmd, vka_sampling_params *sp,
                        char **grammar_text, char **schema_text) {
    *grammar_text = *schema_text = NULL;
    if (grammar_file) {
        if (!(*grammar_text = cli_read_file(grammar_file, cmd, NULL))) return EXIT_RUNTIME;
        sp->grammar = *grammar_text;
    }
    if (json_schema) {
        if (!(*schema_text = cli_read_schema(json_schema, cmd))) {
            free(*grammar_text);
            *grammar_text = NULL;
            sp->grammar = NULL;
            return EXIT_RUNTIME;
        }
        sp->json_schema = *schema_text;
        /* converted once here (its warnings printed), then used as the grammar */
        int code = cli_convert_schema(sp, cmd, grammar_text);
        if (code != EXIT_OK) { /* the caller owns nothing after a failure */
            free(*schema_text);
            free(*grammar_text);
            *schema_text = *grammar_text = NULL;
            sp->json_schema = sp->grammar = NULL;
            return code;
        }
        sp->grammar = *grammar_text;
        sp->grammar_root = NULL;
        sp->json_schema = NULL;
        return EXIT_OK;
    }
    return EXIT_OK;
}

char *cli_default_vocab(void) {
    const char *data = getenv("VKAGENT_TEST_DATA");
    char buf[4096];
    snprintf(buf, sizeof buf, "%s/fixtures/vocab/qwen3.gguf", data && *data ? data : VKA_SOURCE_DIR "/../shared");
    return strdup(buf);
}

char *cli_read_schema(const char *json_schema, const char *cmd) {
    /* Inline JSON starts with '{' (or is true/false); anything else is a path. */
    const char *p = json_schema;
    while (*p == ' ' || *p == '\n' || *p == '\t') p++;
    bool inline_json = *p == '{' || strcmp(p, "true") == 0 || strcmp(p, "false") == 0;
    if (!inline_json) return cli_read_file(json_schema, cmd, NULL);
    char *text = strdup(json_schema);
    if (!text) fprintf(stderr, "vkagent %s: out of memory\n", cmd);
    return text;
}

int cli_convert_schema(const vka_sampling_params *sp, const char *cmd, char **gbnf) {
    char *text = NULL, *warnings = NULL;
    vka_status st = vka_json_schema_to_grammar(sp->json_schema, sp->json_schema_flags, &text, &warnings);
    /* one line each: the converter lists the ignored keywords one per line */
    for (char *line = warnings; line && *line;) {
        char *end = strchr(line, '\n');
        int n = end ? (int)(end - line) : (int)strlen(line);
        if (n) fprintf(stderr, "vkagent %s: warning: %.*s\n", cmd, n, line);
        line = end ? end + 1 : line + n;
    }
    free(warnings);
    if (st != VKA_OK) {
        free(text);
        return cli_runtime_error(cmd, "converting the JSON schema");
    }
    if (gbnf) *gbnf = text;
    else free(text);
    return EXIT_OK;
}

bool cli_parse_structured(cli_args *a, const char *arg, uint32_t *json_schema_flags, bool *matched) {
    static const struct {
        const char *name;
        uint32_t flag;
    } options[] = {
        {"--json-schema-strict", VKA_JSON_SCHEMA_STRICT},
        {"--json-schema-lenient", VKA_JSON_SCHEMA_LENIENT},
        {"--json-schema-flexible-ws", VKA_JSON_SCHEMA_FLEXIBLE_WS},
        {"--json-schema-oneof-as-anyof", VKA_JSON_SCHEMA_ONEOF_AS_ANYOF},
    };
    (void)a; /* flags take no value: nothing can go wrong yet */
    for (size_t i = 0; i < sizeof options / sizeof options[0]; i++)
        if (strcmp(arg, options[i].name) == 0) {
            *json_schema_flags |= options[i].flag;
            *matched = true;
            return true;
        }
    *matched = false;
    return true;
}

/* --seed -1: a seed drawn from the system's entropy, printed so that the run
 * can be repeated (as llama.cpp prints the seed it drew). */
static bool parse_seed(cli_args *a, const char *arg, uint64_t *seed) {
    const char *eq = arg[1] == '-' ? strchr(arg, '=') : NULL;
    const char *v = eq ? eq + 1 : a->i < a->argc ? a->argv[a->i] : NULL;
    if (!v || strcmp(v, "-1") != 0) return cli_u64(a, arg, seed);
    if (!eq) a->i++;
    uint32_t drawn;
    if (getrandom(&drawn, sizeof drawn, 0) != (ssize_t)sizeof drawn) /* no entropy source: the clock will do */
        drawn = (uint32_t)time(NULL) ^ ((uint32_t)getpid() << 16) ^ (uint32_t)(cli_now() * 1e9);
    *seed = drawn;
    fprintf(stderr, "vkagent %s: seed: %" PRIu64 " (--seed %" PRIu64 " repeats this)\n", a->cmd, *seed, *seed);
    return true;
}

#define MAX_LOGIT_BIAS 256

/* --logit-bias ID=BIAS (repeatable): BIAS a finite number or -inf (a ban).
 * The list lives as long as the process, as the parsed options do; the
 * sampler checks the ids against the vocabulary. */
static bool parse_logit_bias(cli_args *a, const char *arg, vka_sampling_params *s) {
    static vka_logit_bias biases[MAX_LOGIT_BIAS];
    const char *v = cli_value(a, arg);
    if (!v) return false;
    char *end;
    errno = 0;
    long id = strtol(v, &end, 10);
    bool ok = !errno && end != v && *end == '=' && id >= 0 && id <= INT32_MAX;
    const char *b = ok ? end + 1 : v;
    double bias = ok ? strtod(b, &end) : 0;
    if (!ok || end == b || *end || isnan(bias) || bias == INFINITY) {
        cli_usage_error(a->cmd, "%s: '%s' is not ID=BIAS (a token id, and a number or -inf)", arg, v);
        a->failed = true;
        return false;
    }
    if (s->n_logit_bias >= MAX_LOGIT_BIAS) {
        cli_usage_error(a->cmd, "%s: at most %d biases", arg, MAX_LOGIT_BIAS);
        a->failed = true;
        return false;
    }
    biases[s->n_logit_bias] = (vka_logit_bias){(int32_t)id, (float)bias};
    s->logit_bias = biases;
    s->n_logit_bias++;
    return true;
}

bool cli_parse_sampling(cli_args *a, const char *arg, vka_sampling_params *s, bool *matched) {
    long l;
    *matched = true;
    if (cli_is(arg, "--temp", NULL)) return cli_float(a, arg, 0, 100, &s->temperature);
    if (cli_is(arg, "--top-k", NULL)) return cli_int(a, arg, 0, 1 << 30, &l) && ((s->top_k = (int32_t)l), true);
    if (cli_is(arg, "--top-p", NULL)) return cli_float(a, arg, 0, 1, &s->top_p);
    if (cli_is(arg, "--min-p", NULL)) return cli_float(a, arg, 0, 1, &s->min_p);
    if (cli_is(arg, "--repeat-penalty", NULL)) return cli_float(a, arg, 0, 100, &s->repeat_penalty);
    if (cli_is(arg, "--repeat-last-n", NULL))
        return cli_int(a, arg, -1, 1 << 24, &l) && ((s->penalty_last_n = (int32_t)l), true);
    if (cli_is(arg, "--frequency-penalty", NULL)) return cli_float(a, arg, -100, 100, &s->frequency_penalty);
    if (cli_is(arg, "--presence-penalty", NULL)) return cli_float(a, arg, -100, 100, &s->presence_penalty);
    if (cli_is(arg, "--logit-bias", NULL)) return parse_logit_bias(a, arg, s);
    if (cli_is(arg, "--seed", NULL)) return parse_seed(a, arg, &s->seed);
    *matched = false;
    return true;
}

bool cli_print_piece(const char *piece, size_t len, int32_t token, void *user) {
    (void)token;
    (void)user;
    fwrite(piece, 1, len, stdout);
    fflush(stdout);
    return true;
}

size_t cli_common_prefix(const int32_t *a, size_t na, const int32_t *b, size_t nb) {
    size_t i = 0;
    while (i < na && i < nb && a[i] == b[i]) i++;
    return i;
}
