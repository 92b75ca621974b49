/* cmd_chat.c — `vkagent chat`: an interactive conversation with a model in
 * its own chat template. One line of input is one user message; replies
 * stream as they are generated. Works with piped stdin for scripting. */
#include <cjson/cJSON.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "chat_shift.h"
#include "common.h"
#include "line_input.h"

#define MAX_STOPS 16

static const char *const chat_help =
    "usage: vkagent chat [-m MODEL] [--system TEXT] [--template NAME] [-n N] [sampling options]\n"
    "\n"
    "Reads one user message per line from stdin and streams the model's replies.\n"
    "On a terminal, lines can be edited and earlier ones recalled (arrow keys,\n"
    "Ctrl-R); the history is kept in $VKAGENT_HISTORY, else\n"
    "$XDG_STATE_HOME/vkagent/history, else ~/.vkagent_history.\n"
    "Commands (/help lists them): /reset (forget the conversation), /system TEXT\n"
    "(set the system message and reset), /quit. A line starting with // sends\n"
    "the rest with one /. Ctrl-C stops a reply; at the prompt it quits.\n"
    "  -m, --model PATH     GGUF model with a chat template (an instruct model)\n"
    "      --system TEXT    system message\n"
    "      --template NAME  chat format instead of the model's: chatml, qwen3, llama3, llama3.1,\n"
    "                       llama2, mistral, mistral-v3, zephyr, gemma, phi3\n"
    "      --no-think       Qwen3: answer without the <think> block\n"
    "      --stop STR       end a reply when STR appears (repeatable, up to 16); STR is not printed\n"
    "  -n, --n-predict N    at most N tokens per reply (default: until the end of the turn)\n"
    "  -c, --ctx-size N     context size (default: the model's, at most 4096)\n"
    "      --device DEV     auto, cpu, cpu-ref, vulkan, vulkan:N\n"
    "      --temp, --top-k, --top-p, --min-p, --repeat-penalty, --seed ... as for run\n";

typedef struct chat_state {
    vka_session *session;
    cJSON *messages;
    char *system;
    vka_chat_params chat;
    vka_generate_params gen;
    bool interactive;
    const char *stops[MAX_STOPS];
} chat_state;

static vka_session *volatile replying;

static void on_sigint(int sig) {
    (void)sig;
    if (replying) vka_session_cancel(replying);
    else _exit(EXIT_OK); /* at the prompt, Ctrl-C quits */
}

static void add_message(cJSON *messages, const char *role, const char *content) {
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", role);
    cJSON_AddStringToObject(m, "content", content);
    cJSON_AddItemToArray(messages, m);
}

static void reset(chat_state *c) {
    cJSON_Delete(c->messages);
    c->messages = cJSON_CreateArray();
    if (c->system && *c->system) add_message(c->messages, "system", c->system);
    vka_session_reset(c->session);
}

/* Drops the oldest user/assistant exchange (the system message stays). */
static bool drop_oldest_turn(cJSON *messages) {
    int first = cJSON_GetArraySize(messages) > 0 &&
                strcmp(cJSON_GetObjectItem(cJSON_GetArrayItem(messages, 0), "role")->valuestring, "system") == 0;
    if (cJSON_GetArraySize(messages) - first < 3) return false;
    cJSON_DeleteItemFromArray(messages, first);
    cJSON_DeleteItemFromArray(messages, first);
    return true;
}

/* Sends the user's line and streams the reply; the conversation keeps it. */
static int reply(chat_state *c, const char *line) {
    add_message(c->messages, "user", line);
    vka_generate_result r;
    for (;;) {
        char *json = cJSON_PrintUnformatted(c->messages);
        replying = c->session;
        vka_status st = vka_session_chat(c->session, json, &c->chat, &c->gen, &r);
        replying = NULL;
        if (st == VKA_ERR_CONTEXT_FULL && drop_oldest_turn(c->messages)) {
            vka_generate_result_clear(&r);
            /* The exchange leaves the session by a context shift: the rest
             * of the history stays in the KV cache and is not read again. */
            char *after = cJSON_PrintUnformatted(c->messages);
            bool shifted = after && cli_chat_shift(c->session, &c->chat, json, after);
            fprintf(stderr, "[context full: dropped the oldest exchange%s]\n", shifted ? "" : "; reading the rest again");
            free(after);
            free(json);
            continue;
        }
        free(json);
        static bool warned; /* the template's failure is said once, not at every turn */
        if (!warned && vka_chat_template_warning()[0]) {
            fprintf(stderr, "[warning: %s]\n", vka_chat_template_warning());
            warned = true;
        }
        if (st != VKA_OK) {
            cJSON_DeleteItemFromArray(c->messages, cJSON_GetArraySize(c->messages) - 1);
            vka_generate_result_clear(&r);
            return cli_runtime_error("chat", "generating the reply");
        }
        break;
    }
    fputc('\n', stdout);
    if (r.stop_reason == VKA_STOP_CANCELLED) fprintf(stderr, "[stopped]\n");
    if (r.stop_reason == VKA_STOP_CONTEXT_FULL) fprintf(stderr, "[context full]\n");
    add_message(c->messages, "assistant", r.text);
    vka_generate_result_clear(&r);
    return EXIT_OK;
}

static const char *const chat_commands_help =
    "/help         this list\n"
    "/reset        forget the conversation\n"
    "/system TEXT  set the system message (empty: none) and reset\n"
    "/quit, /exit  end the chat (as Ctrl-D does)\n"
    "//TEXT        send /TEXT as a message\n";

static int handle_line(chat_state *c, const char *line) {
    if (!*line) return EXIT_OK;
    if (strncmp(line, "//", 2) == 0) return reply(c, line + 1);
    if (strcmp(line, "/quit") == 0 || strcmp(line, "/exit") == 0) return -1;
    if (strcmp(line, "/help") == 0) {
        fputs(chat_commands_help, stderr);
        return EXIT_OK;
    }
    if (strcmp(line, "/reset") == 0) {
        reset(c);
        fprintf(stderr, "[conversation reset]\n");
        return EXIT_OK;
    }
    if (strncmp(line, "/system", 7) == 0 && (line[7] == ' ' || line[7] == '\0')) {
        free(c->system);
        c->system = strdup(line[7] ? line + 8 : "");
        reset(c);
        fprintf(stderr, "[system message set; conversation reset]\n");
        return EXIT_OK;
    }
    if (line[0] == '/') { /* a mistyped command is not a message for the model */
        fprintf(stderr, "[unknown command '%.*s': /help lists them; //TEXT sends /TEXT]\n", (int)strcspn(line, " "),
                line);
        return EXIT_OK;
    }
    return reply(c, line);
}

static int chat_loop(chat_state *c) {
    cli_line_input *in = cli_line_input_open("> ");
    if (!in) {
        fprintf(stderr, "vkagent chat: out of memory\n");
        return EXIT_RUNTIME;
    }
    int code = EXIT_OK;
    signal(SIGINT, on_sigint);
    const char *line;
    while ((line = cli_line_input_read(in))) {
        int rc = handle_line(c, line);
        if (rc < 0) break;
        if (rc) code = rc;
    }
    signal(SIGINT, SIG_DFL);
    cli_line_input_close(in);
    return code;
}

int cmd_chat(int argc, char **argv) {
    cli_args a;
    cli_args_init(&a, "chat", argc, argv);
    chat_state c = {.interactive = isatty(STDIN_FILENO)};
    vka_chat_params_default(&c.chat);
    vka_generate_params_default(&c.gen);
    c.gen.max_tokens = -1;
    c.gen.on_piece = cli_print_piece;
    vka_session_params sp;
    vka_session_params_default(&sp);
    const char *model_arg = NULL, *device = NULL, *arg;
    long l;
    while ((arg = cli_args_next(&a))) {
        bool matched;
        if (cli_is(arg, "-h", "--help")) {
            fputs(chat_help, stdout);
            return EXIT_OK;
        } else if (cli_is(arg, "-m", "--model")) model_arg = cli_value(&a, arg);
        else if (cli_is(arg, "--device", NULL)) device = cli_device(&a, arg);
        else if (cli_is(arg, "--system", NULL)) {
            const char *v = cli_value(&a, arg);
            if (v) c.system = strdup(v);
        } else if (cli_is(arg, "--template", NULL)) c.chat.template_override = cli_template(&a, arg);
        else if (cli_is(arg, "--no-think", NULL)) c.chat.enable_thinking = false;
        else if (cli_is(arg, "--stop", NULL)) {
            const char *v = cli_value(&a, arg);
            if (v && (!*v || c.gen.n_stop == MAX_STOPS)) {
                free(c.system);
                return cli_usage_error("chat", "--stop needs a non-empty string (at most %d)", MAX_STOPS);
            }
            if (v) c.stops[c.gen.n_stop++] = v;
        }
        else if (cli_is(arg, "-n", "--n-predict")) {
            if (cli_int(&a, arg, -1, 1 << 24, &l)) c.gen.max_tokens = (int32_t)l;
        } else if (cli_is(arg, "-c", "--ctx-size")) {
            if (cli_int(&a, arg, 0, 1 << 24, &l)) sp.n_ctx = (uint32_t)l;
        } else if (!cli_parse_sampling(&a, arg, &c.gen.sampling, &matched) || matched) continue;
        else return cli_usage_error("chat", "unknown option '%s'", arg);
    }
    if (a.failed) {
        free(c.system);
        return EXIT_USAGE;
    }
    c.gen.stop = c.stops;
    char *path = cli_find_model(model_arg, "chat");
    vka_model *m = path ? cli_load_model(path, device, false, "chat") : NULL;
    int code = EXIT_RUNTIME;
    if (m) {
        vka_model_info info;
        vka_model_get_info(m, &info);
        if ((c.session = cli_create_session(m, &sp, "chat"))) {
            bool known;
            const char *family = vka_chat_template_family(m, &known);
            const char *own = vka_model_meta_string(m, "tokenizer.chat_template");
            bool has_template = own && own[0] && !c.chat.template_override;
            fprintf(stderr, "[%s, %s, chat format %s%s]\n", info.name[0] ? info.name : path, info.device,
                    has_template ? "the model's template" : c.chat.template_override ? c.chat.template_override : family,
                    has_template || c.chat.template_override ? "" : " (no template in the model: fallback)");
            reset(&c);
            code = chat_loop(&c);
        }
    }
    cJSON_Delete(c.messages);
    free(c.system);
    vka_session_free(c.session);
    vka_model_free(m);
    free(path);
    return code;
}
