/* cmd_template.c — `vkagent template`: the prompt a model's chat template
 * makes of an OpenAI-style message list (and tools), printed exactly as
 * rendered; works on vocab-only GGUF files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "common.h"

static const char *const template_help =
    "usage: vkagent template [-m MODEL] --messages FILE.json [--tools FILE.json]\n"
    "                        [--no-generation-prompt] [--no-thinking] [--template NAME]\n"
    "\n"
    "Prints the prompt text the model's chat template makes of the messages, byte\n"
    "for byte (no newline is added). FILE.json holds an OpenAI \"messages\" array\n"
    "([{\"role\": \"user\", \"content\": \"Hi\"}, ...]); the tools file an OpenAI \"tools\"\n"
    "array. '-' reads the messages from standard input. Only the tokenizer metadata\n"
    "is loaded, so vocab-only GGUF files work.\n"
    "  --no-generation-prompt  do not end with the opening of an assistant turn\n"
    "  --no-thinking           Qwen3: an empty <think></think> after the generation prompt\n"
    "  --template NAME         use this family instead of the model's template: chatml, qwen3,\n"
    "                          llama3, llama3.1, llama2, mistral, mistral-v3, zephyr, gemma, phi3\n";

static char *read_json_arg(const char *path) {
    size_t len;
    char *text = cli_read_file(path, "template", &len); /* "-": standard input */
    if (text && strlen(text) != len) {
        fprintf(stderr, "vkagent template: '%s' contains a NUL byte; JSON text cannot\n", path);
        free(text);
        return NULL;
    }
    return text;
}

int cmd_template(int argc, char **argv) {
    cli_args a;
    cli_args_init(&a, "template", argc, argv);
    const char *model_arg = NULL, *messages_path = NULL, *tools_path = NULL;
    vka_chat_params params;
    vka_chat_params_default(&params);
    const char *arg;
    while ((arg = cli_args_next(&a))) {
        if (cli_is(arg, "-h", "--help")) {
            fputs(template_help, stdout);
            return EXIT_OK;
        } else if (cli_is(arg, "-m", "--model")) model_arg = cli_value(&a, arg);
        else if (cli_is(arg, "--messages", NULL)) messages_path = cli_value(&a, arg);
        else if (cli_is(arg, "--tools", NULL)) tools_path = cli_value(&a, arg);
        else if (cli_is(arg, "--template", NULL)) params.template_override = cli_template(&a, arg);
        else if (cli_is(arg, "--no-generation-prompt", NULL)) params.add_generation_prompt = false;
        else if (cli_is(arg, "--no-thinking", NULL)) params.enable_thinking = false;
        else return cli_usage_error("template", "unknown argument '%s'", arg);
    }
    if (a.failed) return EXIT_USAGE;
    if (!messages_path) return cli_usage_error("template", "--messages FILE.json is required");
    char *messages = read_json_arg(messages_path);
    char *tools = messages && tools_path ? read_json_arg(tools_path) : NULL;
    char *path = messages && (tools || !tools_path) ? cli_find_model(model_arg, "template") : NULL;
    vka_model *m = path ? cli_load_model(path, NULL, true, "template") : NULL;
    int code = EXIT_RUNTIME;
    if (m) {
        params.tools_json = tools;
        char *prompt = NULL;
        if (vka_chat_apply_template(m, messages, &params, &prompt) == VKA_OK) {
            fputs(prompt, stdout);
            code = fflush(stdout) == 0 ? EXIT_OK : EXIT_RUNTIME;
            vka_free(prompt);
        } else {
            code = cli_runtime_error("template", "rendering the chat template");
        }
    }
    vka_model_free(m);
    free(path);
    free(tools);
    free(messages);
    return code;
}
