/* cmd_quantize.c — `vkagent quantize IN.gguf OUT.gguf TYPE`: converts a model,
 * copying all metadata, with progress per tensor on stderr. */
#include <stdio.h>
#include <stdlib.h>

#include "commands.h"
#include "common.h"
#include "tools/tools.h"   /* engine internals for the tools */

static const char *const quantize_help =
    "usage: vkagent quantize IN.gguf OUT.gguf TYPE [--tensor-type SUBSTRING=TYPE ...] [--allow-requantize]\n"
    "\n"
    "TYPE: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K_S, Q3_K_M (= Q3_K),\n"
    "Q3_K_L, Q4_K_S, Q4_K_M (= Q4_K), Q5_K_S, Q5_K_M (= Q5_K), Q6_K, IQ4_NL, IQ4_XS.\n"
    "The mixes follow llama.cpp (without an importance matrix): the output tensor gets Q6_K\n"
    "(Q8_0 for Q8_0); Q4_K_M and Q5_K_M give Q6_K to attn_v and ffn_down in the first and\n"
    "last eighth of the layers and every third layer between; Q2_K and the Q3_K mixes give\n"
    "attn_v, attn_output and ffn_down more bits. Rows that are not whole K-quant\n"
    "super-blocks take llama-quantize's substitutes (Q2_K, Q3_K -> Q4_0, Q4_K -> Q5_0,\n"
    "Q5_K -> Q5_1, Q6_K -> Q8_0, IQ4_XS -> IQ4_NL); rows that 32 does not divide, F16.\n"
    "--tensor-type ffn_down=f32 keeps tensors whose name contains\n"
    "ffn_down in F32. The input is never overwritten.\n";

static void show_progress(const vka_quantize_progress *p, void *user) {
    (void)user;
    fprintf(stderr, "[%4llu/%4llu] %-32s %6s -> %-6s %10.1f KiB -> %10.1f KiB\n", (unsigned long long)p->index + 1,
            (unsigned long long)p->count, p->name, vka_type_name(p->from), vka_type_name(p->to),
            (double)p->bytes_in / 1024, (double)p->bytes_out / 1024);
}

int cmd_quantize(int argc, char **argv) {
    cli_args a;
    cli_args_init(&a, "quantize", argc, argv);
    const char *pos[3] = {0};
    int n_pos = 0;
    const char *overrides[32];
    vka_quantize_params qp = {.progress = show_progress};
    const char *arg;
    while ((arg = cli_args_next(&a))) {
        if (cli_is(arg, "-h", "--help")) {
            fputs(quantize_help, stdout);
            return EXIT_OK;
        } else if (cli_is(arg, "--tensor-type", NULL)) {
            const char *v = cli_value(&a, arg);
            if (v && qp.n_overrides == 32) return cli_usage_error("quantize", "at most 32 --tensor-type overrides");
            if (v) overrides[qp.n_overrides++] = v;
        } else if (cli_is(arg, "--allow-requantize", NULL)) qp.allow_requantize = true;
        else if (arg[0] == '-' && arg[1]) return cli_usage_error("quantize", "unknown option '%s'", arg);
        else if (n_pos == 3) return cli_usage_error("quantize", "too many arguments");
        else pos[n_pos++] = arg;
    }
    if (a.failed) return EXIT_USAGE;
    if (n_pos != 3) return cli_usage_error("quantize", "give IN.gguf OUT.gguf TYPE");
    if (!vka_ftype_from_name(pos[2], &qp.ftype))
        return cli_usage_error("quantize", "unknown TYPE '%s' (one of %s)", pos[2], vka_ftype_list());
    qp.overrides = overrides;
    double t0 = cli_now();
    if (vka_quantize_file(pos[0], pos[1], &qp) != VKA_OK) return cli_runtime_error("quantize", pos[0]);
    fprintf(stderr, "wrote %s (%s) in %.2f s\n", pos[1], vka_ftype_name(qp.ftype), cli_now() - t0);
    return EXIT_OK;
}
