/* fuzz_serve_request.c — `vkagent serve`'s request handling without the
 * network: arbitrary bytes as the body of a chat completion or a completion
 (up to the first NUL; the first byte picks which, and the model: Qwen3's
 * vocabulary and chat template, or stories260K without one), parsed and
 * checked as the server does (cli/serve_request.c, serve_tools.c), then
 * answered with the bytes after the NUL (or the body) as the generated text
 * of each choice (serve_response.c, tool calls read back, in the model's
 * format or in one bits 2-4 of the first byte pick), whole and streamed: the
 * stream reassembled gives the whole answer. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "serve.h"

static const char *const model_files[] = {"fixtures/vocab/qwen3.gguf", "models/stories260K.gguf"};
#define N_MODELS 2
static vka_model *models[N_MODELS];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    vka_model_params mp;
    vka_model_params_default(&mp);
    mp.vocab_only = true;
    for (int i = 0; i < N_MODELS; i++) {
        char *path = fuzz_data_path(model_files[i]);
        fuzz_require_file(path);
        FUZZ_CHECK(vka_model_load(path, &mp, &models[i]) == VKA_OK, "loading %s: %s", path, vka_last_error());
        free(path);
    }
    return 0;
}

/* A text the tool-call grammar accepts reads back as its calls: each call
 * whole, with a name and arguments that parse; under "required" there is
 * at least one and no content before. */
static void check_calls(serve_job *job, const uint8_t *text, size_t len) {
    FUZZ_CHECK(serve_append(&job->text, &job->len, &job->cap, (const char *)text, len), "out of memory");
    serve_scan scan;
    FUZZ_CHECK(serve_scan_text(job, true, &scan), "out of memory");
    bool required = job->calls_required;
    FUZZ_CHECK(!required || (scan.n_calls > 0 && scan.content_end == 0), "a required call does not read back: %.*s",
               (int)len, (const char *)text);
    for (size_t i = 0; i < scan.n_calls; i++) {
        const serve_call *call = &scan.calls[i];
        FUZZ_CHECK(call->closed && call->name_len && call->args_done, "call %zu of %.*s does not read back", i, (int)len,
                   (const char *)text);
        cJSON *args = cJSON_ParseWithLength(serve_call_args(job, call), call->args_len);
        FUZZ_CHECK(args != NULL, "call %zu's arguments do not parse: %.*s", i, (int)len, (const char *)text);
        cJSON_Delete(args);
    }
    /* the library's reader, which answers for the other formats, agrees */
    vka_tool_calls *parsed = NULL;
    FUZZ_CHECK(vka_tool_calls_parse(job->text, job->tool_format, &parsed) == VKA_OK, "out of memory");
    FUZZ_CHECK(parsed->n_calls == scan.n_calls, "%zu calls read back by vka_tool_calls_parse, %zu scanned: %.*s",
               parsed->n_calls, scan.n_calls, (int)len, (const char *)text);
    vka_tool_calls_free(parsed);
    serve_scan_free(&scan);
    job->len = 0;
}

/* The grammar a request asks for must be one the sampler accepts. */
static void check_constraint(serve_job *job, const uint8_t *text, size_t len) {
    const vka_sampling_params *sp = &job->gp.sampling;
    if (!sp->grammar && !sp->json_schema) return;
    vka_structured_checker *c = NULL;
    FUZZ_CHECK(vka_structured_checker_create(sp, &c) == VKA_OK, "the request's constraint does not compile: %s",
               vka_last_error());
    bool accepted = false;
    if (vka_structured_check(c, (const char *)text, len, &accepted) == VKA_OK && accepted && job->tool_calls)
        check_calls(job, text, len);
    vka_structured_checker_free(c);
}

/* What a client rebuilds from the stream: per choice, the content and the
 * calls' names and arguments, as "content\x01name\x02args\x01..." */
static void reassemble(const char *events, char **out, uint32_t n) {
    const char *p = events;
    while ((p = strstr(p, "data: ")) != NULL) {
        p += 6;
        const char *end = strstr(p, "\n\n");
        FUZZ_CHECK(end != NULL, "an event without its blank line");
        cJSON *ev = cJSON_ParseWithLength(p, (size_t)(end - p));
        FUZZ_CHECK(ev != NULL, "an event is not JSON: %.*s", (int)(end - p), p);
        const cJSON *ch;
        cJSON_ArrayForEach(ch, cJSON_GetObjectItem(ev, "choices")) {
            int index = cJSON_GetObjectItem(ch, "index")->valueint;
            FUZZ_CHECK(index >= 0 && (uint32_t)index < n, "choice index %d", index);
            const cJSON *delta = cJSON_GetObjectItem(ch, "delta");
            const cJSON *content = delta ? cJSON_GetObjectItem(delta, "content") : cJSON_GetObjectItem(ch, "text");
            size_t len = strlen(out[index]);
            if (cJSON_IsString(content)) {
                out[index] = realloc(out[index], len + strlen(content->valuestring) + 1);
                strcpy(out[index] + len, content->valuestring);
            }
            const cJSON *tc, *calls = delta ? cJSON_GetObjectItem(delta, "tool_calls") : NULL;
            cJSON_ArrayForEach(tc, calls) {
                const cJSON *fn = cJSON_GetObjectItem(tc, "function");
                const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(fn, "name"));
                const char *args = cJSON_GetStringValue(cJSON_GetObjectItem(fn, "arguments"));
                FUZZ_CHECK(args != NULL, "a tool-call delta without arguments");
                len = strlen(out[index]);
                size_t size = len + (name ? strlen(name) + 2 : 0) + strlen(args) + 1;
                out[index] = realloc(out[index], size);
                snprintf(out[index] + len, size - len, "%s%s%s%s", name ? "\x01" : "", name ? name : "", name ? "\x02" : "", args);
            }
        }
        cJSON_Delete(ev);
        p = end;
    }
}

/* The same from the whole answer. */
static char *flatten_choice(const cJSON *choice) {
    const cJSON *msg = cJSON_GetObjectItem(choice, "message");
    const char *content = cJSON_GetStringValue(msg ? cJSON_GetObjectItem(msg, "content") : cJSON_GetObjectItem(choice, "text"));
    char *out = strdup(content ? content : "");
    const cJSON *tc, *calls = msg ? cJSON_GetObjectItem(msg, "tool_calls") : NULL;
    cJSON_ArrayForEach(tc, calls) {
        const cJSON *fn = cJSON_GetObjectItem(tc, "function");
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(fn, "name"));
        const char *args = cJSON_GetStringValue(cJSON_GetObjectItem(fn, "arguments"));
        size_t len = strlen(out);
        size_t size = len + strlen(name) + strlen(args) + 3;
        out = realloc(out, size);
        snprintf(out + len, size - len, "\x01%s\x02%s", name, args);
    }
    return out;
}

/* The answer, with the text standing in for what each choice generated:
 * whole, and streamed as it grows (in three parts); the stream reassembled
 * as a client does gives the whole answer. */
static void check_answer(serve_state *s, serve_request *r, const uint8_t *text, size_t len) {
    len = strnlen((const char *)text, len); /* JSON strings end at a NUL: generated text has none */
    serve_stream st;
    memset(&st, 0, sizeof st);
    char *events = NULL, *streamed[SERVE_MAX_N];
    size_t ev_len = 0, ev_cap = 0;
    bool over = false;
    for (int part = 1; part <= 3; part++) {
        for (uint32_t i = 0; i < r->n; i++) {
            serve_job *job = r->choice[i];
            size_t upto = len * (size_t)part / 3;
            FUZZ_CHECK(serve_append(&job->text, &job->len, &job->cap, (const char *)text + job->len, upto - job->len),
                       "out of memory");
            job->done = part == 3;
            job->stop_reason = VKA_STOP_EOS;
        }
        FUZZ_CHECK(serve_stream_events(s, r, 1, &st, &events, &ev_len, &ev_cap, &over), "out of memory");
    }
    FUZZ_CHECK(over, "a stream of finished choices is not over");
    for (uint32_t i = 0; i < r->n; i++) streamed[i] = strdup("");
    reassemble(events ? events : "", streamed, r->n);
    free(events);
    char *json = serve_completion_json(s, r, 1);
    FUZZ_CHECK(json != NULL, "no answer");
    cJSON *parsed = cJSON_Parse(json);
    FUZZ_CHECK(parsed != NULL, "the answer is not JSON: %s", json);
    const cJSON *choices = cJSON_GetObjectItem(parsed, "choices");
    FUZZ_CHECK(cJSON_GetArraySize(choices) == (int)r->n, "%d choices for n = %u", cJSON_GetArraySize(choices), r->n);
    for (uint32_t i = 0; i < r->n; i++) {
        char *whole = flatten_choice(cJSON_GetArrayItem(choices, (int)i));
        FUZZ_CHECK(strcmp(whole, streamed[i]) == 0, "choice %u streamed differs: %s vs %s", i, streamed[i], whole);
        free(whole);
        free(streamed[i]);
    }
    cJSON_Delete(parsed);
    free(json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    serve_state s = {.model = models[data[0] % N_MODELS], .model_name = "fuzz", .request_timeout = 60, .parallel = 4};
    serve_endpoint ep = (data[0] >> 1) & 1 ? SERVE_COMPLETION : SERVE_CHAT;
    serve_request r;
    serve_error err;
    memset(&err, 0, sizeof err);
    const uint8_t *body = data + 1, *nul = memchr(body, 0, size - 1);
    size_t body_len = nul ? (size_t)(nul - body) : size - 1;
    const uint8_t *text = nul ? nul + 1 : body;
    size_t text_len = nul ? size - 1 - body_len - 1 : body_len;
    if (serve_parse_request(&s, ep, (const char *)body, body_len, &r, &err)) {
        FUZZ_CHECK(r.job && r.job->n_ids > 0, "an accepted request has prompt tokens");
        /* bits 2-4 of the first byte, 1 to 6: the calls are read in that
         * format instead of the model's (every reader's stream must agree
         * with its whole answer; the grammar is the model's, so not checked) */
        vka_tool_format pick = (vka_tool_format)((data[0] >> 2) & 7);
        bool repick = r.job->tool_calls && pick >= VKA_TOOL_FORMAT_HERMES && pick <= VKA_TOOL_FORMAT_GLM;
        for (uint32_t i = 0; repick && i < r.n; i++) r.choice[i]->tool_format = pick;
        if (!repick) check_constraint(r.job, text, text_len);
        check_answer(&s, &r, text, text_len);
        serve_request_free(&r);
    } else {
        FUZZ_CHECK(r.job == NULL, "a refused request leaves no job");
        FUZZ_CHECK(err.status == 400 || err.status == 500, "status %d", err.status);
        FUZZ_CHECK(err.message[0] && (!err.param || err.param[0]), "a refusal says why");
        char *json = serve_error_json(&err);
        FUZZ_CHECK(json != NULL, "no error object");
        free(json);
    }
    return 0;
}
