/* main.c — `vkagent`: dispatch to a subcommand. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "common.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"run", cmd_run, "generate text from a prompt"},
    {"chat", cmd_chat, "chat with an instruct model in its own chat template"},
    {"serve", cmd_serve, "an OpenAI-compatible HTTP server on the continuous-batching scheduler"},
    {"agent", cmd_agent, "run a Lua agent script (vkagent agent SCRIPT.lua [args...])"},
    {"logits", cmd_logits, "print or save the logits at every prompt position"},
    {"tokenize", cmd_tokenize, "show the token ids and pieces of a text"},
    {"template", cmd_template, "print the prompt a model's chat template makes of messages (and tools)"},
    {"info", cmd_info, "show a GGUF file's metadata, tensors and derived hyperparameters"},
    {"devices", cmd_devices, "list the Vulkan devices, their limits and features (and a model's device memory)"},
    {"grammar", cmd_grammar, "print the GBNF of a JSON Schema, check documents against it, sample random ones"},
    {"bench", cmd_bench, "measure prompt and generation speed (and grammar masking, tokenizer, bandwidth)"},
    {"synth", cmd_synth, "write a random-weight model of a given shape and type, for benchmarks"},
    {"quantize", cmd_quantize, "convert a GGUF model to Q8_0, Q4_0, Q4_K_M, Q5_K_M, Q6_K, ..."},
};

static void usage(FILE *to) {
    fprintf(to, "usage: vkagent COMMAND [options]   (vkagent COMMAND --help for its options)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(to, "  %-16s %s\n", commands[i].name, commands[i].summary);
    fprintf(to, "  %-16s %s\n", "version", "print the version (also --version)");
    fprintf(to, "\nvkagent %s. Exit codes: 0 ok, 1 runtime error, 2 usage error (an unknown option, a missing\n"
            "or bad value), 3 constrained output cut off before the document was complete (run).\n"
            "-f - reads a prompt or text from standard input.\n", vka_version());
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        if (argc > 2 && (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0)) {
            puts("usage: vkagent version   (or vkagent --version): prints the version");
            return EXIT_OK;
        }
        if (argc > 2) return cli_usage_error("version", "unexpected argument '%s'", argv[2]);
        printf("vkagent %s\n", vka_version());
        return EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].run(argc - 2, argv + 2);
    fprintf(stderr, "vkagent: unknown command '%s'\n(see: vkagent --help)\n", argv[1]);
    return EXIT_USAGE;
}
