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

/* One generation: one choice of a request. The HTTP thread fills the inputs
 * and submits it; the worker owns `session` and `gen` and appends to the
 * outputs under serve_state.lock; the HTTP thread frees the job once `done`
 * is set. The other choices of a request (n > 1) share the first one's
 * inputs: their `leader` points to it, and only the leader frees them. */
typedef struct serve_job {
    /* inputs (read-only once submitted) */
    struct serve_job *leader;    /* the request's first choice, or NULL for that one */
    uint32_t index;              /* the choice's index */
    int32_t *ids;                /* the prompt's tokens */
    size_t n_ids;
    vka_generate_params gp;      /* its strings point into the fields below */
    char **stop;
    size_t n_stop;
    char *json_schema;           /* response_format's schema text, or NULL */
    char *tools_json;            /* the request's tools, for the chat template, or NULL */
    char *grammar;               /* the tool-call grammar, or NULL */
    bool tool_calls;             /* the text may be a tool call (tool_choice other than none) */
    vka_tool_format tool_format; /* how the model writes calls (when tool_calls) */
    bool calls_required;         /* tool_choice "required" or a named function */
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
    uint64_t prefix_tokens;      /* prompt tokens found in the KV pool instead of computed */
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

struct serve_request;

/* serve_worker.c: the thread that owns the scheduler. */
int serve_worker_start(serve_state *s);
/* Makes the worker finish what it has and return; joins it. */
void serve_worker_stop(serve_state *s);
/* Queues the request's choices together; false when the queue has no room
 * for all of them or the server is stopping (503). */
bool serve_submit(serve_state *s, struct serve_request *r);
/* Asks for the end of every choice (the client left); the worker cancels their generators. */
void serve_cancel(serve_state *s, struct serve_request *r);
/* Every choice is done (under the lock). */
bool serve_request_done(const struct serve_request *r);
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

/* Most choices (`n`) in one request. */
#define SERVE_MAX_N 16

/* serve_request.c: an OpenAI request turned into jobs, one per choice. */
typedef struct serve_request {
    serve_endpoint endpoint;
    bool stream, include_usage;
    serve_job *job;              /* the first choice (choice[0]) */
    serve_job *choice[SERVE_MAX_N];
    uint32_t n;                  /* choices */
} serve_request;

/* Frees every choice of the request (the leader last). */
void serve_request_free(serve_request *r);

/* Parses and validates a request body; false with *err set (the job is then
 * freed). */
bool serve_parse_request(serve_state *s, serve_endpoint ep, const char *body, size_t len, serve_request *out,
                         serve_error *err);

/* serve_tools.c: tools, tool_choice and parallel_tool_calls into the job
 * (the tools for the template, the grammar of the calls); false with *err set. */
struct cJSON;
bool serve_parse_tools(const serve_state *s, const struct cJSON *root, serve_job *job, serve_error *err);

/* A tool call found in a job's text: offsets into the text. */
typedef struct serve_call {
    size_t name_at, name_len;    /* the name's JSON string, quotes included; name_len 0 until it is whole */
    size_t id_at, id_len;        /* the id the model wrote (as the name is), id_len 0 when none (yet) */
    bool raw;                    /* name and id are raw text, not JSON strings (Mistral's name[ARGS], Qwen3-Coder, GLM) */
    size_t args_at, args_len;    /* the arguments' JSON text so far; args_len 0 until it begins */
    char *built;                 /* Qwen3-Coder, GLM: the arguments' JSON built from the elements so far
                                    (args_len bytes, malloc'ed: serve_scan_free), args_at unused; else NULL */
    bool args_done;              /* the arguments' value is whole */
    bool closed;                 /* the call's syntax is whole (its closing tag written) */
} serve_call;

/* A job's text read as content, then tool calls. */
typedef struct serve_scan {
    size_t content_end;          /* the content is text[0, content_end) */
    serve_call *calls;           /* malloc'ed (serve_scan_free), n_calls of them */
    size_t n_calls;
} serve_scan;

/* A scanned call's arguments text (args_len bytes). */
const char *serve_call_args(const serve_job *job, const serve_call *call);
/* Frees what serve_scan_text allocated. */
void serve_scan_free(serve_scan *scan);
/* Reads a job's text so far (streams, and whole answers), in the job's call format. final: the generation has ended. Before the
 * end, content_end stops before what may still turn out to be the start of
 * a call (and the whitespace before it), so that what it covers never
 * changes; at the end it covers the whole text when there is no call. The
 * content before calls loses its trailing whitespace. False when memory
 * ran out. */
bool serve_scan_text(const serve_job *job, bool final, serve_scan *out);
/* A call's id: distinct over the calls of every choice of every request
 * (nine letters and digits in the Mistral formats, as their templates ask). */
void serve_call_id(const serve_job *job, size_t call, char *buf, size_t size);
/* Scanned call i's id: the model's own where it wrote one before the
 * arguments (Mistral's [CALL_ID]), else serve_call_id's. */
void serve_scanned_call_id(const serve_job *job, size_t i, const serve_call *call, char *buf, size_t size);
/* The name of a call (malloc'ed), NULL when memory ran out. */
char *serve_call_name(const serve_job *job, const serve_call *call);
/* A finished job's calls read by serve_scan_text as OpenAI tool_calls
 * (NULL when none). */
struct cJSON *serve_scanned_calls(const serve_job *job, const serve_scan *scan);

/* serve_response.c: the JSON of the answers (malloc'ed text). */
char *serve_error_json(const serve_error *e);
char *serve_models_json(const serve_state *s);
/* The whole answer of a request whose choices are all finished. */
char *serve_completion_json(const serve_state *s, const serve_request *r, uint64_t id);

/* Where a stream is, for each choice. */
typedef struct serve_stream_choice {
    size_t sent;                 /* bytes of content sent */
    size_t calls_started;        /* calls whose first chunk (id, name) went */
    size_t args_sent;            /* bytes of the arguments of call calls_started - 1 sent */
    bool started, finished;      /* the role chunk went; the finish chunk went */
} serve_stream_choice;

typedef struct serve_stream {
    serve_stream_choice choice[SERVE_MAX_N];
    bool usage_sent;
} serve_stream;

/* The SSE events ("data: {...}\n\n" each) of what the request's choices
 * produced since the last call (under the lock): content deltas, tool-call
 * deltas (the first with the call's id and name, then fragments of its
 * arguments as they are generated), each finished choice's last chunk,
 * then the usage chunk when asked for once all are finished. Appended to
 * *buf; *over: everything is sent (only [DONE] is left). False when memory
 * ran out. */
bool serve_stream_events(const serve_state *s, const serve_request *r, uint64_t id, serve_stream *st, char **buf,
                         size_t *len, size_t *cap, bool *over);
const char *serve_finish_reason(vka_stop_reason reason);
/* A cJSON string of text[0, len) (cJSON strings end at a NUL). */
struct cJSON *serve_string_n(const char *text, size_t len);

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
