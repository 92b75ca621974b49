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

/* The prompt is counted once; the completion tokens of every choice. */
static void add_usage(cJSON *root, const serve_request *r) {
    uint64_t generated = 0;
    for (uint32_t i = 0; i < r->n; i++) generated += r->choice[i]->n_generated;
    uint32_t prompt = r->job->n_prompt;
    cJSON *u = cJSON_AddObjectToObject(root, "usage");
    cJSON_AddNumberToObject(u, "prompt_tokens", prompt);
    cJSON_AddNumberToObject(u, "completion_tokens", (double)generated);
    cJSON_AddNumberToObject(u, "total_tokens", (double)(prompt + generated));
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

cJSON *serve_string_n(const char *text, size_t len) {
    char *copy = malloc(len + 1);
    if (!copy) return NULL;
    /* a model may generate a NUL byte (a <0x00> token): a C string would end
     * there, cutting a whole answer short while a stream's later pieces go
     * on, so NULs are left out of every text alike */
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (text[i]) copy[n++] = text[i];
    copy[n] = '\0';
    cJSON *v = cJSON_CreateString(copy);
    free(copy);
    return v;
}

/* A finished choice's finish reason: "tool_calls" when it ended (not cut)
 * after a whole call. */
static const char *finish_reason_of(const serve_job *job, bool called) {
    const char *reason = serve_finish_reason(job->stop_reason);
    return called && strcmp(reason, "stop") == 0 ? "tool_calls" : reason;
}

/* A finished job's content (NULL with calls and no text, as OpenAI
 * answers), calls (NULL when none) and whether it ended with a whole call;
 * false when memory ran out. */
static bool read_answer(const serve_job *job, cJSON **content, cJSON **calls, bool *called) {
    /* the incremental reader, whole answers too, so that a stream and a
     * whole answer always agree (cut-short calls included) */
    const char *text = job->text ? job->text : "";
    serve_scan scan;
    if (!serve_scan_text(job, true, &scan)) return false;
    *calls = serve_scanned_calls(job, &scan);
    *content = *calls && scan.content_end == 0 ? cJSON_CreateNull() : serve_string_n(text, scan.content_end);
    *called = scan.n_calls > 0 && scan.calls[scan.n_calls - 1].closed;
    serve_scan_free(&scan);
    return true;
}

/* One choice of a whole answer; false when memory ran out. */
static bool add_choice(cJSON *choices, const serve_request *r, const serve_job *job) {
    cJSON *text, *calls;
    bool called;
    if (!read_answer(job, &text, &calls, &called)) return false;
    cJSON *c = cJSON_CreateObject();
    cJSON_AddItemToArray(choices, c);
    cJSON_AddNumberToObject(c, "index", job->index);
    if (r->endpoint == SERVE_CHAT) {
        cJSON *msg = cJSON_AddObjectToObject(c, "message");
        cJSON_AddStringToObject(msg, "role", "assistant");
        cJSON_AddItemToObject(msg, "content", text);
        if (calls) cJSON_AddItemToObject(msg, "tool_calls", calls);
        cJSON_AddNullToObject(msg, "refusal");
    } else {
        cJSON_AddItemToObject(c, "text", text);
        cJSON_Delete(calls);
    }
    cJSON_AddNullToObject(c, "logprobs");
    cJSON_AddStringToObject(c, "finish_reason", finish_reason_of(job, called));
    return true;
}

char *serve_completion_json(const serve_state *s, const serve_request *r, uint64_t id) {
    cJSON *root = envelope(s, r, id, false);
    cJSON *choices = cJSON_AddArrayToObject(root, "choices");
    for (uint32_t i = 0; i < r->n; i++)
        if (!add_choice(choices, r, r->choice[i])) {
            cJSON_Delete(root);
            return NULL;
        }
    add_usage(root, r);
    return print_free(root);
}

/* ---------------------------------------------------------------- streams */

/* Bytes of text[from, len) that end on a whole UTF-8 character. */
static size_t utf8_complete(const char *text, size_t from, size_t len) {
    size_t lead = len;
    while (lead > from && len - lead < 4 && ((unsigned char)text[lead - 1] & 0xC0) == 0x80) lead--;
    if (lead == from) return len - from;
    unsigned char c = (unsigned char)text[lead - 1];
    size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    return (len - (lead - 1) < need ? lead - 1 : len) - from;
}

/* Where the events of one call go. */
typedef struct sink {
    const serve_state *s;
    const serve_request *r;
    uint64_t id;
    char **buf;
    size_t *len, *cap;
} sink;

/* Appends "data: JSON\n\n" of `root` (freed). */
static bool emit(const sink *k, cJSON *root) {
    char *json = print_free(root);
    bool ok = json && serve_append(k->buf, k->len, k->cap, "data: ", 6) &&
              serve_append(k->buf, k->len, k->cap, json, strlen(json)) && serve_append(k->buf, k->len, k->cap, "\n\n", 2);
    free(json);
    return ok;
}

/* A chunk for one choice; *delta receives the delta object (chat) or is
 * NULL (completions, whose chunks carry `text`). */
static cJSON *chunk(const sink *k, uint32_t index, const char *finish, cJSON **delta) {
    cJSON *root = envelope(k->s, k->r, k->id, true);
    cJSON *c = cJSON_CreateObject();
    cJSON_AddItemToArray(cJSON_AddArrayToObject(root, "choices"), c);
    cJSON_AddNumberToObject(c, "index", index);
    *delta = k->r->endpoint == SERVE_CHAT ? cJSON_AddObjectToObject(c, "delta") : NULL;
    cJSON_AddNullToObject(c, "logprobs");
    if (finish) cJSON_AddStringToObject(c, "finish_reason", finish);
    else cJSON_AddNullToObject(c, "finish_reason");
    if (k->r->include_usage) cJSON_AddNullToObject(root, "usage");
    return root;
}

/* A text chunk, or with `finish` a choice's last chunk (a chat's has an
 * empty delta; a completion's an empty text). */
static bool emit_text(const sink *k, uint32_t index, const char *text, size_t len, const char *finish) {
    cJSON *delta, *root = chunk(k, index, finish, &delta);
    if (!delta)
        cJSON_AddItemToObject(cJSON_GetArrayItem(cJSON_GetObjectItem(root, "choices"), 0), "text",
                              serve_string_n(text, len));
    else if (!finish)
        cJSON_AddItemToObject(delta, "content", serve_string_n(text, len));
    return emit(k, root);
}

/* A tool-call delta: the first one with id, type and name (`sc` and name
 * non-NULL), the others with a piece of the arguments. */
static bool emit_call(const sink *k, const serve_job *job, size_t call, const serve_call *sc, const char *name,
                      const char *args, size_t args_len) {
    cJSON *delta, *root = chunk(k, job->index, NULL, &delta);
    cJSON *tc = cJSON_CreateObject();
    cJSON_AddItemToArray(cJSON_AddArrayToObject(delta, "tool_calls"), tc);
    cJSON_AddNumberToObject(tc, "index", (double)call);
    if (name) {
        char id[64];
        serve_scanned_call_id(job, call, sc, id, sizeof id);
        cJSON_AddStringToObject(tc, "id", id);
        cJSON_AddStringToObject(tc, "type", "function");
    }
    cJSON *fn = cJSON_AddObjectToObject(tc, "function");
    if (name) cJSON_AddStringToObject(fn, "name", name);
    cJSON_AddItemToObject(fn, "arguments", serve_string_n(args, args_len));
    return emit(k, root);
}

/* The calls' new deltas: each call's first chunk once its name is whole,
 * then its arguments as far as they go, before the next call. */
static bool call_events(const sink *k, const serve_job *job, const serve_scan *scan, bool final,
                        serve_stream_choice *cs) {
    for (size_t i = cs->calls_started ? cs->calls_started - 1 : 0; i < scan->n_calls; i++) {
        const serve_call *call = &scan->calls[i];
        /* a call's first delta once its arguments begin (its name, and any id
         * written before them, are whole then), or at the end */
        if (!call->name_len || !(call->args_at || call->built || call->closed || final)) break;
        if (i >= cs->calls_started) {
            char *name = serve_call_name(job, call);
            if (!name) break; /* as serve_scanned_calls does */
            bool ok = emit_call(k, job, i, call, name, "", 0);
            free(name);
            if (!ok) return false;
            cs->calls_started = i + 1;
            cs->args_sent = 0;
        }
        const char *args = serve_call_args(job, call);
        bool whole = call->args_done || final;
        size_t n = call->args_len <= cs->args_sent ? 0
                   : whole                        ? call->args_len - cs->args_sent
                                                  : utf8_complete(args, cs->args_sent, call->args_len);
        if (n > 0 && !emit_call(k, job, i, NULL, NULL, args + cs->args_sent, n)) return false;
        cs->args_sent += n;
        /* the next call once this one's arguments (or its whole syntax) are sent */
        if (!(call->args_done || call->closed) || cs->args_sent < call->args_len) break;
    }
    return true;
}

/* One choice's new events. */
static bool choice_events(const sink *k, const serve_job *job, serve_stream_choice *cs) {
    bool chat = k->r->endpoint == SERVE_CHAT;
    if (!cs->started) {
        cs->started = true;
        if (chat) {
            cJSON *delta, *root = chunk(k, job->index, NULL, &delta);
            cJSON_AddStringToObject(delta, "role", "assistant");
            cJSON_AddStringToObject(delta, "content", "");
            if (!emit(k, root)) return false;
        }
    }
    bool final = job->done;
    serve_scan scan;
    if (!serve_scan_text(job, final, &scan)) return false;
    const char *text = job->text ? job->text : "";
    bool ok = true;
    size_t end = scan.content_end;
    if (cs->calls_started == 0 && end > cs->sent) {
        /* content before a call ends before its tag, on a whole character */
        size_t n = final || scan.n_calls ? end - cs->sent : utf8_complete(text, cs->sent, end);
        if (n > 0) ok = emit_text(k, job->index, text + cs->sent, n, NULL);
        cs->sent += n;
    }
    ok = ok && call_events(k, job, &scan, final, cs);
    if (ok && final) {
        cs->finished = true;
        bool called = scan.n_calls > 0 && scan.calls[scan.n_calls - 1].closed;
        ok = emit_text(k, job->index, "", 0, finish_reason_of(job, called));
    }
    serve_scan_free(&scan);
    return ok;
}

bool serve_stream_events(const serve_state *s, const serve_request *r, uint64_t id, serve_stream *st, char **buf,
                         size_t *len, size_t *cap, bool *over) {
    sink k = {s, r, id, buf, len, cap};
    bool all_done = true;
    for (uint32_t i = 0; i < r->n; i++) {
        serve_stream_choice *cs = &st->choice[i];
        if (cs->finished) continue;
        if (!choice_events(&k, r->choice[i], cs)) return false;
        all_done = all_done && cs->finished;
    }
    *over = all_done;
    if (!all_done || !r->include_usage || st->usage_sent) return true;
    st->usage_sent = true;
    cJSON *root = envelope(s, r, id, true);
    cJSON_AddArrayToObject(root, "choices");
    add_usage(root, r);
    return emit(&k, root);
}
