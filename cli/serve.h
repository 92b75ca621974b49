/* serve.h — what the parts of `vkagent serve` share: the server state, a
 * generation job handed from an HTTP thread to the scheduler's worker, and
 * the parsed OpenAI request. */
#ifndef VKA_CLI_SERVE_H
#define VKA_CLI_SERVE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vkagent.h"

/* One generation. The HTTP thread fills the inputs and submits it; the worker
 * owns `session` and `gen` and appends to the outputs under serve_state.lock;
 * the HTTP thread frees the job once `done` is set. */
typedef struct serve_job {
    /* inputs (read-only once submitted) */
    int32_t *ids;                /* the prompt's tokens */
    size_t n_ids;
    vka_generate_params gp;      /* its strings point into the fields below */
    char **stop;
    size_t n_stop;
    char *json_schema;           /* response_format's schema text, or NULL */
    char *tools_json;            /* the request's tools, for the chat template, or NULL */
    char *grammar;               /* the tool-call grammar, or NULL */
    bool tool_calls;             /* the text may be a tool call (tool_choice other than none) */
    const char *call_open, *call_close, *args_key; /* the family's call syntax (static strings) */
    vka_logit_bias *bias;
    double deadline;             /* cli_now() after which the worker cancels it */
    uint64_t id;                 /* the number in its answer's id, for the log */
    double t_submit, t_last;     /* when it was queued, when its last token came */
    uint32_t n_seen;             /* tokens generated at the last look */
    /* outputs, under the lock */
    char *text;                  /* emitted so far (stop strings excluded) */
    size_t len, cap;
    bool done;
    vka_status status;           /* VKA_OK or the error that ended it */
    char error[256];
    vka_stop_reason stop_reason;
    uint32_t n_prompt, n_generated;
    bool cancel;                 /* the client went away: stop it */
    /* the worker's */
    vka_session *session;
    vka_generator *gen;
    struct serve_job *next;
} serve_job;

#define SERVE_TTFT_BUCKETS 11
#define SERVE_ITL_BUCKETS 10
#define SERVE_N_STATUSES 8

/* What GET /metrics reports (under serve_state.lock). */
typedef struct serve_metrics {
    uint64_t by_status[SERVE_N_STATUSES + 1]; /* 200, 400, 401, 404, 405, 413, 500, 503, other */
    uint64_t prompt_tokens, generated_tokens;
    uint64_t ttft[SERVE_TTFT_BUCKETS + 1], itl[SERVE_ITL_BUCKETS + 1]; /* per bucket, the last one +Inf */
    double ttft_sum, itl_sum;
    uint64_t ttft_count, itl_count;
    uint32_t kv_blocks, kv_blocks_used;
} serve_metrics;

typedef struct serve_state {
    vka_model *model;            /* NULL while loading */
    vka_scheduler *sched;
    const char *model_name;
    const char *api_key;         /* NULL: no key needed */
    uint32_t parallel;           /* generations run at once */
    uint32_t queue_max;          /* waiting beyond those; more is 503 */
    double request_timeout;      /* seconds */
    size_t max_body;
    pthread_mutex_t lock;
    pthread_cond_t work;         /* the worker waits on it */
    pthread_cond_t progress;     /* HTTP threads wait on it */
    serve_job *queue_head, *queue_tail;
    serve_job *active;           /* admitted, being stepped */
    uint32_t n_queued, n_active;
    uint32_t n_answering;        /* requests whose answer is not yet all sent (HTTP side) */
    bool ready, stopping, worker_quit;
    uint64_t next_id;
    pthread_t worker;
    serve_metrics metrics;
} serve_state;

/* serve_worker.c: the thread that owns the scheduler. */
int serve_worker_start(serve_state *s);
/* Makes the worker finish what it has and return; joins it. */
void serve_worker_stop(serve_state *s);
/* Queues a job; false when the queue is full or the server is stopping (503). */
bool serve_submit(serve_state *s, serve_job *job);
/* Asks for a job's end (the client left); the worker cancels its generator. */
void serve_cancel(serve_state *s, serve_job *job);
/* Waits up to `seconds` for a change of any job (call with the lock held). */
void serve_wait_progress(serve_state *s, double seconds);
void serve_job_free(serve_job *job);
/* Appends n bytes to a growing NUL-terminated buffer; false when memory ran out. */
bool serve_append(char **buf, size_t *len, size_t *cap, const char *data, size_t n);
/* Jobs queued or running (under the lock). */
uint32_t serve_jobs_in_flight(serve_state *s);

/* A client error: the HTTP status and OpenAI's error fields. */
typedef struct serve_error {
    int status;
    const char *type;            /* "invalid_request_error", ... */
    const char *param;           /* the parameter at fault, or NULL */
    const char *code;            /* or NULL */
    char message[512];
} serve_error;

void serve_error_set(serve_error *e, int status, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

typedef enum serve_endpoint { SERVE_CHAT, SERVE_COMPLETION } serve_endpoint;

/* serve_request.c: an OpenAI request turned into a job. */
typedef struct serve_request {
    serve_endpoint endpoint;
    bool stream, include_usage;
    serve_job *job;
} serve_request;

/* Parses and validates a request body; false with *err set (the job is then
 * freed). */
bool serve_parse_request(serve_state *s, serve_endpoint ep, const char *body, size_t len, serve_request *out,
                         serve_error *err);

/* serve_tools.c: tools and tool_choice into the job (the tools for the
 * template, the grammar of a call); false with *err set. */
struct cJSON;
bool serve_parse_tools(const serve_state *s, const struct cJSON *root, serve_job *job, serve_error *err);
/* A finished job's text read as OpenAI tool_calls, or NULL when it is not a call. */
struct cJSON *serve_tool_calls(const serve_job *job, uint64_t id);

/* serve_response.c: the JSON of the answers (malloc'ed text). */
char *serve_error_json(const serve_error *e);
char *serve_models_json(const serve_state *s);
/* The whole answer of a finished job. */
char *serve_completion_json(const serve_state *s, const serve_request *r, uint64_t id);
/* A streamed chunk: `delta` text (may be NULL), the role on the first chunk,
 * the finish reason on the last; usage_only: the chunk with choices [] and the
 * usage. Returned as "data: {...}\n\n". */
char *serve_chunk_sse(const serve_state *s, const serve_request *r, uint64_t id, const char *delta, size_t len,
                      bool first, bool last, bool usage_only);
/* The chunk of a finished job's tool calls (NULL when its text is none). */
char *serve_tool_chunk_sse(const serve_state *s, const serve_request *r, uint64_t id);
const char *serve_finish_reason(vka_stop_reason reason);

/* serve_metrics.c: counting (the observe calls under the lock) and the
 * Prometheus text of GET /metrics (malloc'ed). */
void serve_count_status(serve_state *s, int status);
void serve_observe_ttft(serve_state *s, double seconds);
/* `tokens` tokens that came `seconds` apart each. */
void serve_observe_itl(serve_state *s, double seconds, uint64_t tokens);
char *serve_metrics_text(serve_state *s);

/* serve_http.c: the HTTP server (libmicrohttpd). */
struct MHD_Daemon;
struct MHD_Daemon *serve_http_start(serve_state *s, const char *host, uint16_t port, uint16_t *bound_port);
/* Stops accepting new connections (open ones go on). */
void serve_http_quiesce(struct MHD_Daemon *d);
void serve_http_stop(struct MHD_Daemon *d);

#endif
