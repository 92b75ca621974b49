/* serve_http.c — the HTTP side of `vkagent serve` on libmicrohttpd: routing,
 * the API key, body limits, and handing requests to the worker, with a
 * thread per connection that waits for its job (whole answers) or feeds
 * server-sent events from it (streams). A client that goes away cancels
 * its job. */
#include <microhttpd.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "serve.h"
#include "serve_llama.h"

/* How often a waiting thread looks whether its client is still there. */
#define POLL_SECONDS 0.05

typedef struct conn_ctx {
    char *body;
    size_t len, cap;
    bool too_large, responded;
} conn_ctx;

/* A streamed answer: owned by its MHD response, freed with it. */
typedef struct stream_ctx {
    serve_state *s;
    serve_request req;
    uint64_t id;
    int fd;
    char *pending;               /* SSE text not yet handed to MHD */
    size_t pending_len, pending_cap, pending_off;
    serve_stream st;             /* what of each choice is sent */
    bool over;
} stream_ctx;

static enum MHD_Result send_text(serve_state *s, struct MHD_Connection *conn, unsigned status, char *text,
                                 const char *type) {
    if (!text) return MHD_NO;
    serve_count_status(s, (int)status);
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    enum MHD_Result ok = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result send_error(serve_state *s, struct MHD_Connection *conn, const serve_error *e) {
    return send_text(s, conn, (unsigned)e->status, serve_error_json(e), "application/json");
}

static enum MHD_Result fail(serve_state *s, struct MHD_Connection *conn, int status, const char *param,
                            const char *message) {
    serve_error e;
    serve_error_set(&e, status, param, "%s", message);
    return send_error(s, conn, &e);
}

/* The client closed its end (or the socket broke). */
static bool peer_gone(int fd) {
    if (fd < 0) return false;
    struct pollfd p = {.fd = fd, .events = POLLIN | POLLRDHUP};
    if (poll(&p, 1, 0) <= 0) return false;
    if (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) return true;
    char c;
    return (p.revents & POLLIN) && recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

static int connection_fd(struct MHD_Connection *conn) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    return ci ? ci->connect_fd : -1;
}

/* Compares the whole key whatever the first difference, so that the time
 * taken tells nothing about how much of a guess was right. */
static bool key_matches(const char *given, const char *key) {
    size_t gl = strlen(given), kl = strlen(key);
    volatile unsigned char diff = gl != kl;
    for (size_t i = 0; i < kl; i++) diff |= (unsigned char)(key[i] ^ (i < gl ? given[i] : 0));
    return diff == 0;
}

static bool authorized(const serve_state *s, struct MHD_Connection *conn) {
    if (!s->api_key) return true;
    const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    return h && strncmp(h, "Bearer ", 7) == 0 && key_matches(h + 7, s->api_key);
}

/* Asks the worker to end every choice (under the lock). */
static void cancel_locked(serve_state *s, serve_request *r) {
    for (uint32_t i = 0; i < r->n; i++) r->choice[i]->cancel = true;
    pthread_cond_signal(&s->work);
}

/* Waits for a whole answer; false when the client left (its choices are
 * then cancelled and waited for, so that their sessions are freed). */
static bool wait_done(serve_state *s, serve_request *r, int fd) {
    pthread_mutex_lock(&s->lock);
    bool left = false;
    while (!serve_request_done(r)) {
        serve_wait_progress(s, POLL_SECONDS);
        if (!left && peer_gone(fd)) {
            left = true;
            cancel_locked(s, r);
        }
    }
    pthread_mutex_unlock(&s->lock);
    return !left && !r->job->cancel;
}

/* The first failed choice, or NULL (under the lock, or once all are done). */
static const serve_job *failed_choice(const serve_request *r) {
    for (uint32_t i = 0; i < r->n; i++)
        if (r->choice[i]->done && r->choice[i]->status != VKA_OK) return r->choice[i];
    return NULL;
}

/* The error of a choice that failed: a prompt too long for the context is
 * the client's (400), anything else the server's. */
static void job_error(const serve_request *r, serve_error *e) {
    const serve_job *job = failed_choice(r);
    if (!job) job = r->job;
    if (job->status == VKA_ERR_CONTEXT_FULL || job->status == VKA_ERR_INVALID_ARGUMENT ||
        job->status == VKA_ERR_GRAMMAR)
        serve_error_set(e, 400, r->endpoint == SERVE_CHAT ? "messages" : "prompt", "%s", job->error);
    else
        serve_error_set(e, 500, NULL, "generation failed: %s", job->error);
}

/* ---------------------------------------------------------------- streams */

/* Appends `text` (freed) to what is to be sent. */
static bool append_pending(stream_ctx *c, char *text) {
    bool ok = text && serve_append(&c->pending, &c->pending_len, &c->pending_cap, text, strlen(text));
    free(text);
    return ok;
}

/* The error event of a failed choice, in place of the rest of the stream. */
static bool error_event(stream_ctx *c) {
    serve_error e;
    job_error(&c->req, &e);
    char *json = serve_error_json(&e);
    size_t n = json ? strlen(json) + 9 : 0;
    char *ev = json ? malloc(n) : NULL;
    if (ev) snprintf(ev, n, "data: %s\n\n", json);
    free(json);
    return append_pending(c, ev);
}

/* Waits for the next things to send and formats them into c->pending
 * (serve_stream_events), [DONE] after the last; false when the client left
 * or memory ran out. */
static bool next_events(stream_ctx *c) {
    serve_state *s = c->s;
    c->pending_len = c->pending_off = 0;
    pthread_mutex_lock(&s->lock);
    bool ok = true;
    for (;;) {
        if (failed_choice(&c->req)) {
            c->over = true;
            ok = error_event(c);
            break;
        }
        if (!serve_stream_events(s, &c->req, c->id, &c->st, &c->pending, &c->pending_len, &c->pending_cap,
                                 &c->over)) {
            ok = false;
            break;
        }
        if (c->pending_len > 0 || c->over) break;
        serve_wait_progress(s, POLL_SECONDS);
        if (peer_gone(c->fd)) {
            cancel_locked(s, &c->req);
            ok = false;
            break;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return ok && (!c->over || append_pending(c, strdup("data: [DONE]\n\n")));
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    stream_ctx *c = cls;
    while (c->pending_off == c->pending_len) {
        if (c->over) return MHD_CONTENT_READER_END_OF_STREAM;
        if (!next_events(c)) return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    size_t n = c->pending_len - c->pending_off;
    if (n > max) n = max;
    memcpy(buf, c->pending + c->pending_off, n);
    c->pending_off += n;
    return (ssize_t)n;
}

/* The response is gone (sent, or the connection closed): a job still
 * running is cancelled and waited for before it is freed. */
static void stream_free(void *cls) {
    stream_ctx *c = cls;
    serve_state *s = c->s;
    pthread_mutex_lock(&s->lock);
    if (!serve_request_done(&c->req)) cancel_locked(s, &c->req);
    while (!serve_request_done(&c->req)) serve_wait_progress(s, POLL_SECONDS);
    pthread_mutex_unlock(&s->lock);
    serve_request_free(&c->req);
    free(c->pending);
    free(c);
}

static enum MHD_Result start_stream(serve_state *s, struct MHD_Connection *conn, serve_request *req, uint64_t id) {
    stream_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        serve_cancel(s, req);
        wait_done(s, req, -1);
        serve_request_free(req);
        return MHD_NO;
    }
    *c = (stream_ctx){.s = s, .req = *req, .id = id, .fd = connection_fd(conn)};
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, c, stream_free);
    if (!r) {
        stream_free(c);
        return MHD_NO;
    }
    serve_count_status(s, MHD_HTTP_OK);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    enum MHD_Result ok = MHD_queue_response(conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ok;
}

/* ---------------------------------------------------------------- requests */

static enum MHD_Result generate(serve_state *s, struct MHD_Connection *conn, serve_endpoint ep, conn_ctx *ctx) {
    serve_request req;
    serve_error err;
    if (!serve_parse_request(s, ep, ctx->body ? ctx->body : "", ctx->len, &req, &err)) return send_error(s, conn, &err);
    pthread_mutex_lock(&s->lock);
    uint64_t id = ++s->next_id;
    pthread_mutex_unlock(&s->lock);
    for (uint32_t i = 0; i < req.n; i++) req.choice[i]->id = id;
    if (!serve_submit(s, &req)) {
        serve_request_free(&req);
        return fail(s, conn, 503, NULL, "the server is busy (its queue is full) or shutting down; retry later");
    }
    if (req.stream) return start_stream(s, conn, &req, id);
    enum MHD_Result ok = MHD_NO;
    if (wait_done(s, &req, connection_fd(conn))) {
        if (failed_choice(&req)) {
            job_error(&req, &err);
            ok = send_error(s, conn, &err);
        } else {
            ok = send_text(s, conn, MHD_HTTP_OK, serve_completion_json(s, &req, id), "application/json");
        }
    }
    serve_request_free(&req);
    return ok;
}

typedef struct route {
    const char *path, *method;
} route;

static const route routes[] = {
    {"/health", "GET"},
    {"/v1/models", "GET"},
    {"/metrics", "GET"},
    {"/v1/chat/completions", "POST"},
    {"/v1/completions", "POST"},
};

/* Routing, the key and the body limit are checked as soon as the headers are
 * in; true when an answer was queued. */
static bool check_headers(serve_state *s, struct MHD_Connection *conn, const char *url, const char *method,
                          enum MHD_Result *res) {
    const route *found = NULL, extension = {url, serve_extension_method(url)};
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (strcmp(url, routes[i].path) == 0) found = &routes[i];
    if (extension.method) found = &extension; /* serve_llama.c's */
    if (!found) {
        *res = fail(s, conn, 404, NULL, "no such endpoint");
        return true;
    }
    if (strcmp(method, found->method) != 0) {
        serve_error e;
        serve_error_set(&e, 405, NULL, "%s needs %s", url, found->method);
        *res = send_error(s, conn, &e);
        return true;
    }
    if (strcmp(url, "/health") != 0 && !authorized(s, conn)) {
        *res = fail(s, conn, 401, NULL, "a valid API key is needed (Authorization: Bearer KEY)");
        return true;
    }
    const char *length = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (length && strtoull(length, NULL, 10) > s->max_body) {
        *res = fail(s, conn, 413, NULL, "the request body is over the server's limit");
        return true;
    }
    return false;
}

static bool append_body(serve_state *s, conn_ctx *ctx, const char *data, size_t n) {
    if (ctx->too_large || ctx->len + n > s->max_body) {
        ctx->too_large = true;
        return true;
    }
    return serve_append(&ctx->body, &ctx->len, &ctx->cap, data, n);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                              const char *version, const char *upload_data, size_t *upload_data_size,
                              void **con_cls) {
    (void)version;
    serve_state *s = cls;
    conn_ctx *ctx = *con_cls;
    if (!ctx) {
        if (!(ctx = calloc(1, sizeof *ctx))) return MHD_NO;
        *con_cls = ctx;
        pthread_mutex_lock(&s->lock);
        s->n_answering++;
        pthread_mutex_unlock(&s->lock);
        enum MHD_Result res;
        if (check_headers(s, conn, url, method, &res)) {
            ctx->responded = true;
            return res;
        }
        return MHD_YES;
    }
    if (ctx->responded) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size) {
        bool ok = append_body(s, ctx, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return ok ? MHD_YES : MHD_NO;
    }
    ctx->responded = true;
    if (ctx->too_large) return fail(s, conn, 413, NULL, "the request body is over the server's limit");
    pthread_mutex_lock(&s->lock);
    bool ready = s->ready && !s->stopping;
    char health[128];
    snprintf(health, sizeof health, "{\"status\":\"%s\",\"requests_running\":%u,\"requests_queued\":%u}",
             ready ? "ok" : s->ready ? "stopping" : "loading", s->n_active, s->n_queued);
    pthread_mutex_unlock(&s->lock);
    if (strcmp(url, "/health") == 0)
        return send_text(s, conn, ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, strdup(health), "application/json");
    if (!ready) return fail(s, conn, 503, NULL, s->ready ? "the server is shutting down" : "the model is loading");
    if (strcmp(url, "/metrics") == 0)
        return send_text(s, conn, MHD_HTTP_OK, serve_metrics_text(s), "text/plain; version=0.0.4");
    if (strcmp(url, "/v1/models") == 0) return send_text(s, conn, MHD_HTTP_OK, serve_models_json(s), "application/json");
    if (serve_extension_method(url)) {
        int status = 500;
        char *answer = serve_extension_answer(s, url, ctx->body, ctx->len, &status);
        return send_text(s, conn, (unsigned)status, answer, "application/json");
    }
    return generate(s, conn, strcmp(url, "/v1/completions") == 0 ? SERVE_COMPLETION : SERVE_CHAT, ctx);
}

/* A request's answer is sent (or its connection gone): a stop waits for this,
 * not only for the generation, so that a stream ends with its last chunk. */
static void completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode code) {
    (void)conn, (void)code;
    serve_state *s = cls;
    conn_ctx *ctx = *con_cls;
    if (!ctx) return;
    free(ctx->body);
    free(ctx);
    *con_cls = NULL;
    pthread_mutex_lock(&s->lock);
    s->n_answering--;
    pthread_cond_broadcast(&s->progress);
    pthread_mutex_unlock(&s->lock);
}

struct MHD_Daemon *serve_http_start(serve_state *s, const char *host, uint16_t port, uint16_t *bound_port) {
    char service[8];
    snprintf(service, sizeof service, "%u", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE},
                    *ai = NULL;
    int rc = getaddrinfo(host, service, &hints, &ai);
    if (rc != 0) {
        fprintf(stderr, "vkagent serve: cannot resolve --host %s: %s\n", host, gai_strerror(rc));
        return NULL;
    }
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC |
                     MHD_USE_ERROR_LOG | (ai->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    struct MHD_Daemon *d =
        MHD_start_daemon(flags, port, NULL, NULL, handle, s, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                         MHD_OPTION_NOTIFY_COMPLETED, completed, s, MHD_OPTION_CONNECTION_LIMIT, 256u,
                         MHD_OPTION_CONNECTION_TIMEOUT, 120u, MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!d) {
        fprintf(stderr, "vkagent serve: cannot listen on %s:%u (in use, or not an address of this machine)\n", host,
                port);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    *bound_port = info ? info->port : port;
    return d;
}

void serve_http_quiesce(struct MHD_Daemon *d) {
    MHD_socket fd = MHD_quiesce_daemon(d);
    if (fd != MHD_INVALID_SOCKET) close(fd);
}

void serve_http_stop(struct MHD_Daemon *d) { MHD_stop_daemon(d); }
