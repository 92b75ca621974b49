/* cmd_synth.c — `vkagent synth`: writes a GGUF model with random weights of
 * a chosen shape and type, for benchmarks without downloads. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "common.h"
#include "tools/tools.h"   /* engine internals for the tools */

static const char *const synth_help =
    "usage: vkagent synth -o OUT.gguf [--preset NAME] [--type TYPE] [--seed S] [shape options]\n"
    "\n"
    "Writes a model with random weights (uniform, std 1/sqrt(fan_in)) for benchmarks.\n"
    "  --preset NAME      stories260K, llama-1b-body (default: Llama-3.2-1B's body with a\n"
    "                     512-token vocabulary), llama-3.2-1b, llama-3.1-8b, qwen2.5-0.5b,\n"
    "                     qwen2.5-1.5b, qwen3-0.6b\n"
    "  --type TYPE        a TYPE of vkagent quantize: F32, F16, BF16, Q8_0, Q4_0, Q4_K_M, Q5_K_M,\n"
    "                     Q6_K, Q2_K, Q3_K_M, IQ4_XS, ... (default Q8_0)\n"
    "  --arch A --dim N --layers N --heads N --kv-heads N --ffn N --ctx N --vocab N --head-dim N\n"
    "                     override the preset's shape\n"
    "  --vocab-from GGUF  copy the tokenizer of another GGUF (e.g. a vocab-only file)\n"
    "  --tied             no output.weight (the embeddings are the output)\n";

/* Rewritten in place with \r, so only on a terminal: a log or a pipe gets
 * the summary line alone. */
static void progress(const char *tensor, uint64_t done, uint64_t total, void *user) {
    (void)user;
    if (!isatty(STDERR_FILENO)) return;
    fprintf(stderr, "\r[%4llu/%4llu] %-40s", (unsigned long long)done, (unsigned long long)total, tensor);
    if (done == total) fputc('\n', stderr);
}

static bool parse_u32(cli_args *a, const char *arg, uint32_t *out) {
    long v;
    if (!cli_int(a, arg, 1, 1 << 24, &v)) return false;
    *out = (uint32_t)v;
    return true;
}

int cmd_synth(int argc, char **argv) {
    cli_args a;
    cli_args_init(&a, "synth", argc, argv);
    vka_synth_params p = {.ftype = VKA_FTYPE_Q8_0, .progress = progress};
    vka_synth_preset("llama-1b-body", &p);
    const char *out = NULL, *arg;
    while ((arg = cli_args_next(&a))) {
        if (cli_is(arg, "-h", "--help")) {
            fputs(synth_help, stdout);
            return EXIT_OK;
        } else if (cli_is(arg, "-o", "--out")) out = cli_value(&a, arg);
        else if (cli_is(arg, "--preset", NULL)) {
            const char *v = cli_value(&a, arg);
            if (v && !vka_synth_preset(v, &p))
                return cli_usage_error("synth", "unknown preset '%s' (one of %s)", v, vka_synth_preset_list());
        } else if (cli_is(arg, "--type", NULL)) {
            const char *v = cli_value(&a, arg);
            if (v && !vka_ftype_from_name(v, &p.ftype))
                return cli_usage_error("synth", "unknown type '%s' (one of %s)", v, vka_ftype_list());
        } else if (cli_is(arg, "--seed", NULL)) cli_u64(&a, arg, &p.seed);
        else if (cli_is(arg, "--arch", NULL)) p.arch = cli_value(&a, arg);
        else if (cli_is(arg, "--dim", NULL)) parse_u32(&a, arg, &p.n_embd);
        else if (cli_is(arg, "--layers", NULL)) parse_u32(&a, arg, &p.n_layer);
        else if (cli_is(arg, "--heads", NULL)) parse_u32(&a, arg, &p.n_head);
        else if (cli_is(arg, "--kv-heads", NULL)) parse_u32(&a, arg, &p.n_head_kv);
        else if (cli_is(arg, "--ffn", NULL)) parse_u32(&a, arg, &p.n_ff);
        else if (cli_is(arg, "--ctx", NULL)) parse_u32(&a, arg, &p.n_ctx);
        else if (cli_is(arg, "--vocab", NULL)) parse_u32(&a, arg, &p.n_vocab);
        else if (cli_is(arg, "--head-dim", NULL)) parse_u32(&a, arg, &p.head_dim);
        else if (cli_is(arg, "--vocab-from", NULL)) p.vocab_from = cli_value(&a, arg);
        else if (cli_is(arg, "--tied", NULL)) p.tied_output = true;
        else return cli_usage_error("synth", "unknown argument '%s'", arg);
        if (a.failed) return EXIT_USAGE;
    }
    if (a.failed) return EXIT_USAGE;
    if (!out) return cli_usage_error("synth", "give -o OUT.gguf");
    double t0 = cli_now();
    if (vka_synth_model(&p, out) != VKA_OK) return cli_runtime_error("synth", out);
    fprintf(stderr, "wrote %s (%s %s, dim %u, %u layers) in %.1f s\n", out, p.arch, vka_ftype_name(p.ftype), p.n_embd,
            p.n_layer, cli_now() - t0);
    return EXIT_OK;
}
