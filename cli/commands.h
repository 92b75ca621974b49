/* commands.h — the subcommands of `vkagent`; each takes the arguments after
 * its name and returns the process exit code (0 ok, 1 runtime, 2 usage). */
#ifndef VKA_CLI_COMMANDS_H
#define VKA_CLI_COMMANDS_H

#include <stdbool.h>
#include <stdint.h>

int cmd_run(int argc, char **argv);
int cmd_agent(int argc, char **argv);
int cmd_logits(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_devices(int argc, char **argv);
int cmd_grammar(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_template(int argc, char **argv);
int cmd_serve(int argc, char **argv);

/* Tokenizer throughput (bench_tokenizer.c), run by `vkagent bench --tokenizer`. */
int bench_tokenizer(int argc, char **argv);
/* Grammar compile and token-mask times (bench_grammar.c), run by `vkagent bench --grammar`. */
int bench_grammar(int argc, char **argv);

/* Continuous batching throughput (bench_parallel.c), run by `vkagent bench --parallel`. */
typedef struct bench_parallel_opts {
    const char *model, *device;
    const char *list;            /* "1,2,4": the numbers of sequences */
    long p, n, reps;
    uint32_t batch;              /* 0: every prompt in one forward pass (at least 512 tokens) */
    bool json;
} bench_parallel_opts;
int bench_parallel(const bench_parallel_opts *o);

#endif
