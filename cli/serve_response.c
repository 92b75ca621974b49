/* serve_response.c — the JSON that `vkagent serve` answers with, in OpenAI's
 * shapes: chat completions and completions (whole, or as server-sent-event
 * chunks), the model list and error objects. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "serve.h"

const char *serve_finish_reason(vka_stop_reason reason) {
    switch (reason) {
    case VKA_STOP_MAX_TOKENS:
    case VKA_STOP_CONTEXT_FULL:
    case VKA_STOP_CANCELLED: /* --timeout or the end of the grace period cut it */
        return "length";
    default:
        return "stop";
    }
}

/* Prints and frees `root`. */
static char *print_free(cJSON *root) {
    char *text = root ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return text;
}

char *serve_error_json(const serve_error *e) {
    cJSON *root = cJSON_CreateObject();
    cJSON *err = cJSON_AddObjectToObject(root, "error");
    cJSON_AddStringToObject(err, "message", e->message);
    cJSON_AddStringToObject(err, "type", e->type ? e->type : "invalid_request_error");
    if (e->param) cJSON_AddStringToObject(err, "param", e->param);
    else cJSON_AddNullToObject(err, "param");
    if (e->code) cJSON_AddStringToObject(err, "code", e->code);
    else cJSON_AddNullToObject(err, "code");
    return print_free(root);
}

char *serve_models_json(const serve_state *s) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "object", "list");
    cJSON *data = cJSON_AddArrayToObject(root, "data");
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "id", s->model_name);
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddNumberToObject(m, "created", (double)time(NULL));
    cJSON_AddStringToObject(m, "owned_by", "vkagent");
    cJSON_AddItemToArray(data, m);
    return print_free(root);
}

static void add_usage(cJSON *root, const serve_job *job) {
    cJSON *u = cJSON_AddObjectToObject(root, "usage");
    cJSON_AddNumberToObject(u, "prompt_tokens", job->n_prompt);
    cJSON_AddNumberToObject(u, "completion_tokens", job->n_generated);
    cJSON_AddNumberToObject(u, "total_tokens", (double)job->n_prompt + job->n_generated);
}

/* The members every answer starts with. */
static cJSON *envelope(const serve_state *s, const serve_request *r, uint64_t id, bool chunk) {
    char ident[48];
    snprintf(ident, sizeof ident, "%s-%llu", r->endpoint == SERVE_CHAT ? "chatcmpl" : "cmpl", (unsigned long long)id);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "id", ident);
    cJSON_AddStringToObject(root, "object", r->endpoint == SERVE_COMPLETION ? "text_completion"
                                            : chunk                         ? "chat.completion.chunk"
                                                                            : "chat.completion");
    cJSON_AddNumberToObject(root, "created", (double)time(NULL));
    cJSON_AddStringToObject(root, "model", s->model_name);
    return root;
}

/* cJSON strings are NUL-terminated: the text of a piece is copied first. */
static cJSON *string_n(const char *text, size_t len) {
    char *copy = malloc(len + 1);
    if (!copy) return NULL;
    memcpy(copy, text, len);
    copy[len] = '\0';
    cJSON *v = cJSON_CreateString(copy);
    free(copy);
    return v;
}

/* "tool_calls" when the text is a tool call, else as serve_finish_reason. */
static const char *finish_reason_of(const serve_job *job, uint64_t id) {
    cJSON *calls = serve_tool_calls(job, id);
    cJSON_Delete(calls);
    return calls ? "tool_calls" : serve_finish_reason(job->stop_reason);
}

char *serve_completion_json(const serve_state *s, const serve_request *r, uint64_t id) {
    const serve_job *job = r->job;
    cJSON *root = envelope(s, r, id, false);
    cJSON *choices = cJSON_AddArrayToObject(root, "choices");
    cJSON *c = cJSON_CreateObject();
    cJSON_AddItemToArray(choices, c);
    cJSON_AddNumberToObject(c, "index", 0);
    cJSON *calls = serve_tool_calls(job, id);
    cJSON *text = calls ? cJSON_CreateNull() : string_n(job->text ? job->text : "", job->len);
    if (r->endpoint == SERVE_CHAT) {
        cJSON *msg = cJSON_AddObjectToObject(c, "message");
        cJSON_AddStringToObject(msg, "role", "assistant");
        cJSON_AddItemToObject(msg, "content", text);
        if (calls) cJSON_AddItemToObject(msg, "tool_calls", calls);
        cJSON_AddNullToObject(msg, "refusal");
    } else {
        cJSON_AddItemToObject(c, "text", text);
    }
    cJSON_AddNullToObject(c, "logprobs");
    cJSON_AddStringToObject(c, "finish_reason", calls ? "tool_calls" : serve_finish_reason(job->stop_reason));
    add_usage(root, job);
    return print_free(root);
}

/* "data: JSON\n\n" of `root` (freed). */
static char *sse(cJSON *root) {
    char *json = print_free(root);
    if (!json) return NULL;
    size_t n = strlen(json) + 9;
    char *out = malloc(n);
    if (out) snprintf(out, n, "data: %s\n\n", json);
    free(json);
    return out;
}

char *serve_chunk_sse(const serve_state *s, const serve_request *r, uint64_t id, const char *delta, size_t len,
                      bool first, bool last, bool usage_only) {
    cJSON *root = envelope(s, r, id, true);
    cJSON *choices = cJSON_AddArrayToObject(root, "choices");
    if (usage_only) {
        add_usage(root, r->job);
        return sse(root);
    }
    cJSON *c = cJSON_CreateObject();
    cJSON_AddItemToArray(choices, c);
    cJSON_AddNumberToObject(c, "index", 0);
    cJSON *text = string_n(delta ? delta : "", delta ? len : 0);
    if (r->endpoint == SERVE_CHAT) {
        cJSON *d = cJSON_AddObjectToObject(c, "delta");
        if (first) cJSON_AddStringToObject(d, "role", "assistant");
        if (delta || first) cJSON_AddItemToObject(d, "content", text);
        else cJSON_Delete(text);
    } else {
        cJSON_AddItemToObject(c, "text", text);
    }
    cJSON_AddNullToObject(c, "logprobs");
    if (last) cJSON_AddStringToObject(c, "finish_reason", finish_reason_of(r->job, id));
    else cJSON_AddNullToObject(c, "finish_reason");
    if (r->include_usage) cJSON_AddNullToObject(root, "usage");
    return sse(root);
}

char *serve_tool_chunk_sse(const serve_state *s, const serve_request *r, uint64_t id) {
    cJSON *calls = serve_tool_calls(r->job, id);
    if (!calls) return NULL;
    cJSON *root = envelope(s, r, id, true);
    cJSON *c = cJSON_CreateObject();
    cJSON_AddItemToArray(cJSON_AddArrayToObject(root, "choices"), c);
    cJSON_AddNumberToObject(c, "index", 0);
    /* Stream deltas number their calls. */
    int i = 0;
    cJSON *call;
    cJSON_ArrayForEach(call, calls) cJSON_AddNumberToObject(call, "index", i++);
    cJSON_AddItemToObject(cJSON_AddObjectToObject(c, "delta"), "tool_calls", calls);
    cJSON_AddNullToObject(c, "logprobs");
    cJSON_AddNullToObject(c, "finish_reason");
    if (r->include_usage) cJSON_AddNullToObject(root, "usage");
    return sse(root);
}
