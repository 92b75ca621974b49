/* cmd_serve.c — `vkagent serve`: an OpenAI-compatible HTTP server on the
 * continuous-batching scheduler. The options, the start (listening at once,
 * /health 503 until the model is loaded) and the graceful stop on SIGTERM. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "common.h"
#include "serve.h"

static const char *const serve_help =
    "usage: vkagent serve [-m MODEL] [options]\n"
    "An OpenAI-compatible HTTP server: POST /v1/chat/completions, POST /v1/completions,\n"
    "GET /v1/models, GET /metrics, GET /health. Requests share batches through the scheduler.\n\n"
    "  -m, --model PATH      GGUF model (default: $VKAGENT_MODEL, models/ or ../shared)\n"
    "      --host ADDR       address to listen on (default 127.0.0.1: this machine only)\n"
    "      --port N          port (default 8080; 0 picks a free one, printed on stderr)\n"
    "      --parallel N      generations run together (default 4)\n"
    "      --queue N         requests waiting beyond those; more are refused with 503 (default 64)\n"
    "      --kv-pool TOKENS  KV cache pool shared by all requests (default: 4 x the default context)\n"
    "      --api-key KEY     require 'Authorization: Bearer KEY' (default: $VKAGENT_API_KEY, else none)\n"
    "      --device D        auto, cpu, vulkan or vulkan:N (default auto)\n"
    "      --timeout SEC     a generation running longer is ended (default 600)\n"
    "      --max-body BYTES  larger request bodies are refused with 413 (default 1048576)\n"
    "      --grace SEC       on SIGTERM, time given to requests in flight (default 30)\n"
    "  -h, --help\n"
    "docs/serve.md describes the endpoints and what is supported.\n";

typedef struct serve_opts {
    const char *model, *host, *api_key, *device;
    long port, parallel, queue, kv_pool, timeout, max_body, grace;
} serve_opts;

static bool parse_opts(int argc, char **argv, serve_opts *o, bool *help) {
    *o = (serve_opts){.host = "127.0.0.1", .port = 8080, .parallel = 4, .queue = 64, .timeout = 600,
                      .max_body = 1 << 20, .grace = 30, .api_key = getenv("VKAGENT_API_KEY")};
    cli_args a;
    cli_args_init(&a, "serve", argc, argv);
    const char *arg;
    while ((arg = cli_args_next(&a))) {
        if (cli_is(arg, "-h", "--help")) *help = true;
        else if (cli_is(arg, "-m", "--model")) o->model = cli_value(&a, arg);
        else if (cli_is(arg, "--host", NULL)) o->host = cli_value(&a, arg);
        else if (cli_is(arg, "--api-key", NULL)) o->api_key = cli_value(&a, arg);
        else if (cli_is(arg, "--device", NULL)) o->device = cli_device(&a, arg);
        else if (cli_is(arg, "--port", NULL)) cli_int(&a, arg, 0, 65535, &o->port);
        else if (cli_is(arg, "--parallel", NULL)) cli_int(&a, arg, 1, 256, &o->parallel);
        else if (cli_is(arg, "--queue", NULL)) cli_int(&a, arg, 0, 100000, &o->queue);
        else if (cli_is(arg, "--kv-pool", NULL)) cli_int(&a, arg, 0, 1L << 24, &o->kv_pool);
        else if (cli_is(arg, "--timeout", NULL)) cli_int(&a, arg, 1, 1L << 24, &o->timeout);
        else if (cli_is(arg, "--max-body", NULL)) cli_int(&a, arg, 1024, 1L << 30, &o->max_body);
        else if (cli_is(arg, "--grace", NULL)) cli_int(&a, arg, 0, 3600, &o->grace);
        else {
            cli_usage_error("serve", "unknown argument '%s'", arg);
            return false;
        }
        if (*help) return true;
    }
    if (a.failed) return false;
    if (o->api_key && !o->api_key[0]) o->api_key = NULL;
    return true;
}

/* The name /v1/models lists: the file name without its folder and .gguf. */
static char *model_name(const char *path) {
    const char *base = strrchr(path, '/');
    char *name = strdup(base ? base + 1 : path);
    size_t n = name ? strlen(name) : 0;
    if (n > 5 && strcmp(name + n - 5, ".gguf") == 0) name[n - 5] = '\0';
    return name;
}

/* Loads the model and starts the scheduler and its worker; /health turns 200. */
static int become_ready(serve_state *s, const serve_opts *o, const char *path) {
    vka_model *model = cli_load_model(path, o->device, false, "serve");
    if (!model) return EXIT_RUNTIME;
    vka_scheduler_params sp;
    vka_scheduler_params_default(&sp);
    sp.n_kv_tokens = (uint32_t)o->kv_pool;
    sp.n_seq_max = (uint32_t)o->parallel;
    if (vka_scheduler_create(model, &sp, &s->sched) != VKA_OK) {
        vka_model_free(model);
        return cli_runtime_error("serve", "creating the scheduler");
    }
    s->model = model;
    if (serve_worker_start(s) != 0) return EXIT_RUNTIME;
    pthread_mutex_lock(&s->lock);
    s->ready = true;
    pthread_mutex_unlock(&s->lock);
    return EXIT_OK;
}

/* SIGTERM: refuse new requests, give those in flight up to `grace` seconds,
 * then cancel what is left. */
static void drain(serve_state *s, struct MHD_Daemon *d, long grace) {
    pthread_mutex_lock(&s->lock);
    s->stopping = true;
    pthread_mutex_unlock(&s->lock);
    serve_http_quiesce(d);
    double until = cli_now() + (double)grace;
    pthread_mutex_lock(&s->lock);
    /* the generations, then the last bytes of their answers */
    while ((serve_jobs_in_flight(s) > 0 || s->n_answering > 0) && cli_now() < until) serve_wait_progress(s, 0.05);
    uint32_t left = serve_jobs_in_flight(s);
    pthread_mutex_unlock(&s->lock);
    if (left) fprintf(stderr, "vkagent serve: grace period over, cancelling %u request(s)\n", left);
}

int cmd_serve(int argc, char **argv) {
    serve_opts o;
    bool help = false;
    if (!parse_opts(argc, argv, &o, &help)) return EXIT_USAGE;
    if (help) {
        fputs(serve_help, stdout);
        return EXIT_OK;
    }
    char *path = cli_find_model(o.model, "serve");
    if (!path) return EXIT_RUNTIME;
    /* Every thread started from here on inherits the mask: only sigwait sees these. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    serve_state s = {.api_key = o.api_key, .parallel = (uint32_t)o.parallel, .queue_max = (uint32_t)o.queue,
                     .request_timeout = (double)o.timeout, .max_body = (size_t)o.max_body};
    s.model_name = model_name(path);
    pthread_mutex_init(&s.lock, NULL);
    pthread_cond_init(&s.work, NULL);
    pthread_cond_init(&s.progress, NULL);
    uint16_t port = 0;
    struct MHD_Daemon *d = s.model_name ? serve_http_start(&s, o.host, (uint16_t)o.port, &port) : NULL;
    int code = EXIT_RUNTIME;
    if (d) {
        bool v6 = strchr(o.host, ':') != NULL; /* an IPv6 address goes in brackets in a URL */
        fprintf(stderr, "vkagent serve: listening on http://%s%s%s:%u (loading %s)\n", v6 ? "[" : "", o.host,
                v6 ? "]" : "", port, path);
        code = become_ready(&s, &o, path);
        if (code == EXIT_OK) {
            fprintf(stderr, "vkagent serve: ready (%s, %ld in parallel)\n", s.model_name, o.parallel);
            int sig = 0;
            sigwait(&sigs, &sig);
            fprintf(stderr, "vkagent serve: %s: finishing the requests in flight\n", strsignal(sig));
            drain(&s, d, o.grace);
            serve_worker_stop(&s);
        }
        serve_http_stop(d);
    }
    vka_scheduler_free(s.sched);
    vka_model_free(s.model);
    pthread_cond_destroy(&s.progress);
    pthread_cond_destroy(&s.work);
    pthread_mutex_destroy(&s.lock);
    free((char *)s.model_name);
    free(path);
    if (code == EXIT_OK) fprintf(stderr, "vkagent serve: stopped\n");
    return code;
}
