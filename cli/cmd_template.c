/* cmd_template.c — `vkagent template`: the prompt a model's chat template
 * makes of an OpenAI-style message list (and tools), printed exactly as
 * rendered; works on vocab-only GGUF files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "commands.h"
#include "common.h"

static const char *const template_help =
    "usage: vkagent template [-m MODEL] --messages FILE.json [--tools FILE.json]\n"
    "                        [--no-generation-prompt] [--no-thinking] [--template NAME]\n"
    "       vkagent template --chat-template FILE.jinja [--messages FILE.json] [--tools FILE.json]\n"
    "                        [--no-generation-prompt] [--var NAME=VALUE ...]\n"
    "\n"
    "Prints the prompt text the model's chat template makes of the messages, byte\n"
    "for byte (no newline is added). FILE.json holds an OpenAI \"messages\" array\n"
    "([{\"role\": \"user\", \"content\": \"Hi\"}, ...]); the tools file an OpenAI \"tools\"\n"
    "array. '-' reads the messages from standard input. Only the tokenizer metadata\n"
    "is loaded, so vocab-only GGUF files work.\n"
    "  --no-generation-prompt  do not end with the opening of an assistant turn\n"
    "  --no-thinking           Qwen3: an empty <think></think> after the generation prompt\n"
    "  --template NAME         use this family instead of the model's template: chatml, qwen3,\n"
    "                          llama3, llama3.1, llama2, mistral, mistral-v3, zephyr, gemma, phi3\n"
    "  --chat-template FILE    render this Jinja chat template instead of a model's (no model is\n"
    "                          loaded; messages default to []), as transformers does\n"
    "  --var NAME=VALUE        a template variable (bos_token, enable_thinking, ...): VALUE is\n"
    "                          read as JSON when it parses, otherwise as a string\n";

/* Adds NAME=VALUE to the object of template variables. */
static bool add_var(cJSON *vars, const char *arg) {
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg) {
        cli_usage_error("template", "--var wants NAME=VALUE, got '%s'", arg);
        return false;
    }
    char *name = strndup(arg, (size_t)(eq - arg));
    cJSON *value = cJSON_ParseWithOpts(eq + 1, NULL, true);
    if (!value) value = cJSON_CreateString(eq + 1);
    bool ok = name && value;
    if (ok) {
        cJSON_DeleteItemFromObjectCaseSensitive(vars, name); /* the last one given wins */
        cJSON_AddItemToObject(vars, name, value);
    } else {
        cJSON_Delete(value);
    }
    free(name);
    return ok;
}

/* --chat-template: a template file rendered with no model. */
static int render_template_file(const char *template_path, const char *messages, const vka_chat_params *params,
                                const cJSON *vars) {
    size_t len;
    char *text = cli_read_file(template_path, "template", &len);
    if (!text) return EXIT_RUNTIME;
    char *vars_json = cJSON_PrintUnformatted(vars);
    char *prompt = NULL;
    int code = EXIT_RUNTIME;
    if (strlen(text) != len) {
        fprintf(stderr, "vkagent template: '%s' contains a NUL byte\n", template_path);
    } else if (vars_json && vka_chat_template_render(text, messages, params, vars_json, &prompt) == VKA_OK) {
        fputs(prompt, stdout);
        code = fflush(stdout) == 0 ? EXIT_OK : EXIT_RUNTIME;
    } else {
        code = cli_runtime_error("template", "rendering the template file");
    }
    vka_free(prompt);
    cJSON_free(vars_json);
    free(text);
    return code;
}

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
    const char *model_arg = NULL, *messages_path = NULL, *tools_path = NULL, *template_path = NULL;
    cJSON *vars = cJSON_CreateObject();
    vka_chat_params params;
    vka_chat_params_default(&params);
    const char *arg;
    while ((arg = cli_args_next(&a))) {
        if (cli_is(arg, "-h", "--help")) {
            fputs(template_help, stdout);
            cJSON_Delete(vars);
            return EXIT_OK;
        } else if (cli_is(arg, "-m", "--model")) model_arg = cli_value(&a, arg);
        else if (cli_is(arg, "--messages", NULL)) messages_path = cli_value(&a, arg);
        else if (cli_is(arg, "--tools", NULL)) tools_path = cli_value(&a, arg);
        else if (cli_is(arg, "--template", NULL)) params.template_override = cli_template(&a, arg);
        else if (cli_is(arg, "--no-generation-prompt", NULL)) params.add_generation_prompt = false;
        else if (cli_is(arg, "--no-thinking", NULL)) params.enable_thinking = false;
        else if (cli_is(arg, "--chat-template", NULL)) template_path = cli_value(&a, arg);
        else if (cli_is(arg, "--var", NULL)) {
            const char *v = cli_value(&a, arg);
            if (v && !add_var(vars, v)) a.failed = true;
        } else {
            cJSON_Delete(vars);
            return cli_usage_error("template", "unknown argument '%s'", arg);
        }
    }
    if (a.failed || !vars) {
        cJSON_Delete(vars);
        return EXIT_USAGE;
    }
    if (template_path) {
        char *msgs = messages_path ? read_json_arg(messages_path) : strdup("[]");
        char *tool_text = msgs && tools_path ? read_json_arg(tools_path) : NULL;
        int rc = EXIT_RUNTIME;
        if (msgs && (tool_text || !tools_path)) {
            params.tools_json = tool_text;
            rc = render_template_file(template_path, msgs, &params, vars);
        }
        free(tool_text);
        free(msgs);
        cJSON_Delete(vars);
        return rc;
    }
    cJSON_Delete(vars);
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
            if (vka_chat_template_warning()[0]) fprintf(stderr, "vkagent template: warning: %s\n", vka_chat_template_warning());
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
