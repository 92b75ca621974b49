/* bench_parallel.c — `vkagent bench --parallel N,...`: N sequences of a
 * prompt of P random tokens then G greedy tokens through one scheduler
 * (continuous batching), measured as llama.cpp's llama-batched-bench does:
 * aggregate prompt and generation throughput, per-sequence speed, KV blocks. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "common.h"
#include "tools/tools.h"   /* engine internals for the tools */

#define MAX_PARALLEL 256
#define MAX_LIST 32

/* One row of the report: one N, one repetition. */
typedef struct parallel_row {
    uint32_t n_seq;
    double pp_s, tg_s;
    uint64_t pp_tokens, tg_tokens; /* prompt tokens; tokens sampled in the generation phase */
    uint32_t blocks_peak, n_blocks, passes_pp, passes_tg; /* forward passes of each phase */
} parallel_row;

/* "1,2,4" into n[]; false (and a usage message) for anything else. */
static bool parse_list(const char *text, uint32_t *n, uint32_t *count) {
    *count = 0;
    const char *p = text;
    while (*p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 1 || v > MAX_PARALLEL || *count == MAX_LIST || (*end && *end != ',')) {
            cli_usage_error("bench", "--parallel: '%s' is not a list of 1..%d (at most %d values)", text,
                            MAX_PARALLEL, MAX_LIST);
            return false;
        }
        n[(*count)++] = (uint32_t)v;
        p = *end ? end + 1 : end;
    }
    if (*count == 0) cli_usage_error("bench", "--parallel: empty list");
    return *count > 0;
}


static uint64_t generated(vka_generator *const *g, uint32_t n) {
    uint64_t total = 0;
    for (uint32_t i = 0; i < n; i++) total += vka_generator_result(g[i])->n_generated;
    return total;
}

static bool all_started(vka_generator *const *g, uint32_t n) {
    for (uint32_t i = 0; i < n; i++)
        if (vka_generator_result(g[i])->n_generated == 0 && !vka_generator_done(g[i])) return false;
    return true;
}

/* Steps until every generator has its first token (the prompt phase) or no generator is
 * left (the generation phase); counts the forward passes and the peak of blocks used. */
static vka_status run_phase(vka_scheduler *sc, vka_generator *const *g, uint32_t n, bool prompt_phase,
                            parallel_row *r) {
    uint32_t active = n;
    vka_scheduler_stats st;
    VKA_TRY(vka_scheduler_get_stats(sc, &st));
    uint64_t passes_before = st.steps;
    while (prompt_phase ? !all_started(g, n) : active > 0) {
        VKA_TRY(vka_scheduler_step(sc, &active));
        VKA_TRY(vka_scheduler_get_stats(sc, &st));
        if (st.blocks_used > r->blocks_peak) r->blocks_peak = st.blocks_used;
    }
    *(prompt_phase ? &r->passes_pp : &r->passes_tg) = (uint32_t)(st.steps - passes_before);
    for (uint32_t i = 0; i < n; i++)
        if (vka_generator_status(g[i]) != VKA_OK) return vka_generator_status(g[i]);
    return VKA_OK;
}

/* Every sequence: a distinct random prompt of p tokens (no shared prefix, so
 * the prompt phase is all compute), then n + 1 greedy tokens with no EOS
 * stop: the first comes from the prompt's logits, the next n from n batched
 * decode passes, as llama-batched-bench times n decodes after the prompt. */
static vka_status run_parallel(vka_model *m, uint32_t n_seq, long p, long n, uint32_t batch, uint64_t seed,
                               parallel_row *r) {
    memset(r, 0, sizeof *r);
    r->n_seq = n_seq;
    uint32_t per_seq = (uint32_t)(p + n + 2);
    vka_scheduler_params sp;
    vka_scheduler_params_default(&sp);
    sp.n_kv_tokens = n_seq * ((per_seq + VKA_KV_BLOCK_TOKENS - 1) / VKA_KV_BLOCK_TOKENS * VKA_KV_BLOCK_TOKENS);
    /* all prompts in one pass unless -b says otherwise, so that no decode
     * of an early sequence mixes into the prompt phase */
    uint32_t all_prompts = n_seq * (uint32_t)p;
    sp.n_batch = batch ? batch : all_prompts > 512 ? all_prompts : 512;
    sp.n_seq_max = n_seq;
    vka_scheduler *sc = NULL;
    VKA_TRY(vka_scheduler_create(m, &sp, &sc));
    vka_session **s = calloc(n_seq, sizeof *s);
    vka_generator **g = calloc(n_seq, sizeof *g);
    int32_t *ids = malloc((size_t)(p ? p : 1) * sizeof *ids);
    vka_status st = s && g && ids ? VKA_OK : vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
    vka_session_params ssp;
    vka_session_params_default(&ssp);
    ssp.n_ctx = per_seq;
    vka_generate_params gp;
    vka_generate_params_default(&gp);
    gp.sampling.temperature = 0;
    gp.max_tokens = (int32_t)n + 1;
    gp.stop_on_eos = false;
    vka_rng rng;
    vka_rng_seed(&rng, seed);
    uint32_t n_vocab = m->hp.n_vocab;
    for (uint32_t i = 0; i < n_seq && st == VKA_OK; i++) {
        for (long k = 0; k < p; k++) ids[k] = 3 + (int32_t)(vka_rng_next(&rng) % (n_vocab - 3));
        st = vka_scheduler_session_create(sc, &ssp, &s[i]);
        if (st == VKA_OK) st = vka_generator_create_tokens(s[i], ids, (size_t)p, &gp, &g[i]);
    }
    vka_scheduler_stats stats;
    if (st == VKA_OK) st = vka_scheduler_get_stats(sc, &stats);
    r->n_blocks = stats.n_blocks;
    double t0 = cli_now();
    if (st == VKA_OK) st = run_phase(sc, g, n_seq, true, r);
    double t1 = cli_now();
    uint64_t first = st == VKA_OK ? generated(g, n_seq) : 0;
    if (st == VKA_OK) st = run_phase(sc, g, n_seq, false, r);
    double t2 = cli_now();
    r->pp_s = t1 - t0;
    r->tg_s = t2 - t1;
    r->pp_tokens = (uint64_t)n_seq * (uint64_t)p;
    r->tg_tokens = st == VKA_OK ? generated(g, n_seq) - first : 0;
    for (uint32_t i = 0; i < n_seq; i++) {
        if (g && g[i]) vka_generator_free(g[i]);
        if (s && s[i]) vka_session_free(s[i]);
    }
    free(ids);
    free(g);
    free(s);
    vka_scheduler_free(sc);
    return st;
}

static void print_row(const parallel_row *r, long p, long n, bool json) {
    double pp_tps = r->pp_s > 0 ? (double)r->pp_tokens / r->pp_s : 0;
    double tg_tps = r->tg_s > 0 ? (double)r->tg_tokens / r->tg_s : 0;
    double total_s = r->pp_s + r->tg_s;
    double total_tps = total_s > 0 ? (double)(r->pp_tokens + r->tg_tokens) / total_s : 0;
    uint32_t n_kv = r->n_seq * (uint32_t)(p + n);
    if (json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddNumberToObject(j, "pp", (double)p);
        cJSON_AddNumberToObject(j, "tg", (double)n);
        cJSON_AddNumberToObject(j, "parallel", r->n_seq);
        cJSON_AddNumberToObject(j, "n_kv", n_kv);
        cJSON_AddNumberToObject(j, "pp_s", r->pp_s);
        cJSON_AddNumberToObject(j, "pp_tokens_per_s", pp_tps);
        cJSON_AddNumberToObject(j, "tg_s", r->tg_s);
        cJSON_AddNumberToObject(j, "tg_tokens", (double)r->tg_tokens);
        cJSON_AddNumberToObject(j, "tg_tokens_per_s", tg_tps);
        cJSON_AddNumberToObject(j, "tg_tokens_per_s_per_seq", tg_tps / r->n_seq);
        cJSON_AddNumberToObject(j, "total_s", total_s);
        cJSON_AddNumberToObject(j, "total_tokens_per_s", total_tps);
        cJSON_AddNumberToObject(j, "kv_blocks_used", r->blocks_peak);
        cJSON_AddNumberToObject(j, "kv_blocks_pool", r->n_blocks);
        cJSON_AddNumberToObject(j, "kv_block_tokens", VKA_KV_BLOCK_TOKENS);
        cJSON_AddNumberToObject(j, "passes_pp", r->passes_pp);
        cJSON_AddNumberToObject(j, "passes_tg", r->passes_tg);
        char *text = cJSON_PrintUnformatted(j);
        if (text) puts(text);
        free(text);
        cJSON_Delete(j);
    } else {
        printf("| %5ld | %4ld | %3u | %6u | %8.3f | %8.2f | %8.3f | %8.2f | %10.2f | %8.3f | %8.2f | %4u (%4.1f/seq) |\n",
               p, n, r->n_seq, n_kv, r->pp_s, pp_tps, r->tg_s, tg_tps, tg_tps / r->n_seq, total_s, total_tps,
               r->blocks_peak, (double)r->blocks_peak / r->n_seq);
    }
    fflush(stdout);
}

int bench_parallel(const bench_parallel_opts *o) {
    uint32_t list[MAX_LIST], count;
    if (!parse_list(o->list, list, &count)) return EXIT_USAGE;
    char *path = cli_find_model(o->model, "bench");
    if (!path) return EXIT_RUNTIME;
    vka_model *m = cli_load_model(path, o->device, false, "bench");
    free(path);
    if (!m) return EXIT_RUNTIME;
    parallel_row r;
    /* first-use costs (weights paged in, pipelines built for the prompt's
     * shapes and for batched decodes) out of the figures */
    vka_status st = run_parallel(m, 2, o->p, 2, o->batch, 99, &r);
    if (st == VKA_OK && !o->json) {
        printf("model   %s (%s)\ndevice  %s; KV blocks of %d tokens (peak in use)\n", m->path, m->arch_name,
               m->backend->name, VKA_KV_BLOCK_TOKENS);
        printf("|    PP |   TG |   B |   N_KV |   T_PP s | S_PP t/s |   T_TG s | S_TG t/s | "
               "TG/seq t/s |      T s |    S t/s | KV blocks       |\n");
    }
    for (uint32_t i = 0; i < count && st == VKA_OK; i++)
        for (long rep = 0; rep < o->reps && st == VKA_OK; rep++) {
            st = run_parallel(m, list[i], o->p, o->n, o->batch, (uint64_t)rep + 1, &r);
            if (st == VKA_OK) print_row(&r, o->p, o->n, o->json);
        }
    vka_model_free(m);
    return st == VKA_OK ? EXIT_OK : cli_runtime_error("bench", "parallel run");
}
