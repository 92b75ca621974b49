/* serve_metrics.c — what `vkagent serve` counts (answers by status, tokens,
 * time to first token, inter-token latency, the KV pool) and GET /metrics,
 * the Prometheus text exposition of it. */
#include <stdio.h>
#include <stdlib.h>

#include "serve.h"

/* Upper bounds of the histograms' buckets, in seconds (+Inf is added). */
static const double ttft_bounds[SERVE_TTFT_BUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
static const double itl_bounds[SERVE_ITL_BUCKETS] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1};

static const int statuses[SERVE_N_STATUSES] = {200, 400, 401, 404, 405, 413, 500, 503};

void serve_count_status(serve_state *s, int status) {
    pthread_mutex_lock(&s->lock);
    size_t i = 0;
    while (i < SERVE_N_STATUSES && statuses[i] != status) i++;
    s->metrics.by_status[i]++; /* i == SERVE_N_STATUSES: "other" */
    pthread_mutex_unlock(&s->lock);
}

static void observe(uint64_t *buckets, const double *bounds, size_t n, double *sum, uint64_t *count, double x,
                    uint64_t times) {
    size_t i = 0;
    while (i < n && x > bounds[i]) i++;
    buckets[i] += times;
    *sum += x * (double)times;
    *count += times;
}

void serve_observe_ttft(serve_state *s, double seconds) {
    serve_metrics *m = &s->metrics;
    observe(m->ttft, ttft_bounds, SERVE_TTFT_BUCKETS, &m->ttft_sum, &m->ttft_count, seconds, 1);
}

void serve_observe_itl(serve_state *s, double seconds, uint64_t tokens) {
    serve_metrics *m = &s->metrics;
    observe(m->itl, itl_bounds, SERVE_ITL_BUCKETS, &m->itl_sum, &m->itl_count, seconds, tokens);
}

static void put_histogram(FILE *f, const char *name, const char *help, const uint64_t *buckets,
                          const double *bounds, size_t n, double sum, uint64_t count) {
    fprintf(f, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cumulative = 0;
    for (size_t i = 0; i < n; i++) {
        cumulative += buckets[i];
        fprintf(f, "%s_bucket{le=\"%g\"} %llu\n", name, bounds[i], (unsigned long long)cumulative);
    }
    fprintf(f, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.9g\n%s_count %llu\n", name, (unsigned long long)count, name,
            sum, name, (unsigned long long)count);
}

static void put_value(FILE *f, const char *name, const char *type, const char *help, double v) {
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name, help, name, type, name, v);
}

char *serve_metrics_text(serve_state *s) {
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    if (!f) return NULL;
    pthread_mutex_lock(&s->lock);
    const serve_metrics *m = &s->metrics;
    fputs("# HELP vkagent_requests_total HTTP answers by status.\n# TYPE vkagent_requests_total counter\n", f);
    for (size_t i = 0; i <= SERVE_N_STATUSES; i++) {
        if (i < SERVE_N_STATUSES) fprintf(f, "vkagent_requests_total{status=\"%d\"} ", statuses[i]);
        else fputs("vkagent_requests_total{status=\"other\"} ", f);
        fprintf(f, "%llu\n", (unsigned long long)m->by_status[i]);
    }
    put_value(f, "vkagent_prompt_tokens_total", "counter", "Prompt tokens of the finished generations.",
              (double)m->prompt_tokens);
    put_value(f, "vkagent_generated_tokens_total", "counter", "Tokens generated.", (double)m->generated_tokens);
    put_value(f, "vkagent_requests_running", "gauge", "Generations being stepped.", s->n_active);
    put_value(f, "vkagent_requests_queued", "gauge", "Generations waiting for a place.", s->n_queued);
    put_value(f, "vkagent_kv_blocks", "gauge", "Blocks in the KV pool.", m->kv_blocks);
    put_value(f, "vkagent_kv_blocks_used", "gauge", "KV blocks held by sessions (after the last step).",
              m->kv_blocks_used);
    put_value(f, "vkagent_kv_block_tokens", "gauge", "Tokens per KV block.", VKA_KV_BLOCK_TOKENS);
    put_value(f, "vkagent_prefix_cache_tokens_total", "counter",
              "Prompt tokens found in the KV pool (a shared prefix, or the other choices of n > 1) instead of computed.",
              (double)m->prefix_tokens);
    put_histogram(f, "vkagent_time_to_first_token_seconds", "From a request's arrival to its first token.", m->ttft,
                  ttft_bounds, SERVE_TTFT_BUCKETS, m->ttft_sum, m->ttft_count);
    put_histogram(f, "vkagent_inter_token_latency_seconds", "Time between a generation's tokens.", m->itl,
                  itl_bounds, SERVE_ITL_BUCKETS, m->itl_sum, m->itl_count);
    pthread_mutex_unlock(&s->lock);
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}
