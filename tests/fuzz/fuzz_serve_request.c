/* fuzz_serve_request.c — `vkagent serve`'s request handling without the
 * network: arbitrary bytes as the body of a chat completion or a completion
 (up to the first NUL; the first byte picks which, and the model: Qwen3's
 * vocabulary and chat template, or stories260K without one), parsed and
 * checked as the server does (cli/serve_request.c, serve_tools.c), then
 * answered with the bytes after the NUL (or the body) as the generated text
 * (serve_response.c, tool calls read back). */
#include <cjson/cJSON.h>
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

/* The grammar a request asks for must be one the sampler accepts, and a
 * text complete under a tool-call grammar must read back as a call. */
static void check_constraint(serve_job *job, const uint8_t *text, size_t len) {
    const vka_sampling_params *sp = &job->gp.sampling;
    if (!sp->grammar && !sp->json_schema) return;
    vka_structured_checker *c = NULL;
    FUZZ_CHECK(vka_structured_checker_create(sp, &c) == VKA_OK, "the request's constraint does not compile: %s",
               vka_last_error());
    bool accepted = false;
    if (vka_structured_check(c, (const char *)text, len, &accepted) == VKA_OK && accepted && job->tool_calls &&
        strcmp(sp->grammar_root, "vkagent-call") == 0) {
        FUZZ_CHECK(serve_append(&job->text, &job->len, &job->cap, (const char *)text, len), "out of memory");
        cJSON *calls = serve_tool_calls(job, 1);
        FUZZ_CHECK(calls != NULL, "a complete call does not read back: %.*s", (int)len, (const char *)text);
        cJSON_Delete(calls);
        job->len = 0;
    }
    vka_structured_checker_free(c);
}

/* The answer, with the body standing in for the generated text. */
static void check_answer(serve_state *s, serve_request *r, const uint8_t *text, size_t len) {
    serve_job *job = r->job;
    FUZZ_CHECK(serve_append(&job->text, &job->len, &job->cap, (const char *)text, len), "out of memory");
    job->stop_reason = VKA_STOP_EOS;
    char *json = serve_completion_json(s, r, 1);
    FUZZ_CHECK(json != NULL, "no answer");
    cJSON *parsed = cJSON_Parse(json);
    FUZZ_CHECK(parsed != NULL, "the answer is not JSON: %s", json);
    cJSON_Delete(parsed);
    free(json);
    char *chunk = serve_chunk_sse(s, r, 1, (const char *)text, len, true, true, false);
    FUZZ_CHECK(chunk && strncmp(chunk, "data: {", 7) == 0, "a chunk is not an SSE event");
    free(chunk);
    free(serve_tool_chunk_sse(s, r, 1));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    serve_state s = {.model = models[data[0] % N_MODELS], .model_name = "fuzz", .request_timeout = 60};
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
        check_constraint(r.job, text, text_len);
        check_answer(&s, &r, text, text_len);
        serve_job_free(r.job);
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
