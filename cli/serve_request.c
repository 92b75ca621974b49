/* serve_request.c — an OpenAI request (chat completion or completion) checked
 * parameter by parameter and turned into a job: the prompt's tokens and the
 * generation parameters. Every refusal names the parameter at fault. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"
#include "serve.h"

#define MAX_STOP 4

void serve_error_set(serve_error *e, int status, const char *param, const char *fmt, ...) {
    e->status = status;
    e->param = param;
    e->code = NULL;
    e->type = status == 401 ? "authentication_error" : status >= 500 ? "server_error" : "invalid_request_error";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
}

/* A number member in [lo, hi], or absent/null (left as it is). */
static bool get_number(const cJSON *root, const char *name, double lo, double hi, double *out, serve_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, name);
    if (!v || cJSON_IsNull(v)) return true;
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo && v->valuedouble <= hi)) {
        serve_error_set(err, 400, name, "'%s' must be a number between %g and %g", name, lo, hi);
        return false;
    }
    *out = v->valuedouble;
    return true;
}

/* An integer member in [lo, hi], or absent/null. */
static bool get_int(const cJSON *root, const char *name, double lo, double hi, double *out, serve_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, name);
    if (!v || cJSON_IsNull(v)) return true;
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || !(v->valuedouble >= lo && v->valuedouble <= hi)) {
        serve_error_set(err, 400, name, "'%s' must be an integer between %.0f and %.0f", name, lo, hi);
        return false;
    }
    *out = v->valuedouble;
    return true;
}

static bool get_bool(const cJSON *root, const char *name, bool *out, serve_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, name);
    if (!v || cJSON_IsNull(v)) return true;
    if (!cJSON_IsBool(v)) {
        serve_error_set(err, 400, name, "'%s' must be true or false", name);
        return false;
    }
    *out = cJSON_IsTrue(v);
    return true;
}

static bool parse_stop(const cJSON *root, serve_job *job, serve_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "stop");
    if (!v || cJSON_IsNull(v)) return true;
    const cJSON *items[MAX_STOP];
    size_t n = 0;
    if (cJSON_IsString(v)) items[n++] = v;
    else if (cJSON_IsArray(v) && cJSON_GetArraySize(v) <= MAX_STOP) {
        const cJSON *it;
        cJSON_ArrayForEach(it, v) items[n++] = it;
    } else {
        serve_error_set(err, 400, "stop", "'stop' must be a string or an array of at most %d strings", MAX_STOP);
        return false;
    }
    job->stop = calloc(n ? n : 1, sizeof *job->stop);
    if (!job->stop) goto oom;
    for (size_t i = 0; i < n; i++) {
        if (!cJSON_IsString(items[i]) || !items[i]->valuestring[0]) {
            serve_error_set(err, 400, "stop", "'stop' must hold non-empty strings");
            return false;
        }
        if (!(job->stop[job->n_stop] = strdup(items[i]->valuestring))) goto oom;
        job->n_stop++;
    }
    job->gp.stop = (const char *const *)job->stop;
    job->gp.n_stop = job->n_stop;
    return true;
oom:
    serve_error_set(err, 500, NULL, "out of memory");
    return false;
}

/* logit_bias: {"token id": bias in [-100, 100]}, as OpenAI. */
static bool parse_logit_bias(const serve_state *s, const cJSON *root, serve_job *job, serve_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "logit_bias");
    if (!v || cJSON_IsNull(v)) return true;
    vka_model_info info;
    if (!cJSON_IsObject(v) || vka_model_get_info(s->model, &info) != VKA_OK) goto bad;
    int n = cJSON_GetArraySize(v);
    job->bias = calloc((size_t)n + 1, sizeof *job->bias);
    if (!job->bias) {
        serve_error_set(err, 500, NULL, "out of memory");
        return false;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, v) {
        char *end = NULL;
        long id = strtol(it->string, &end, 10);
        if (!it->string[0] || *end || id < 0 || id >= (long)info.n_vocab || !cJSON_IsNumber(it) ||
            !(it->valuedouble >= -100 && it->valuedouble <= 100))
            goto bad;
        job->bias[job->gp.sampling.n_logit_bias++] = (vka_logit_bias){(int32_t)id, (float)it->valuedouble};
    }
    job->gp.sampling.logit_bias = job->bias;
    return true;
bad:
    serve_error_set(err, 400, "logit_bias",
                    "'logit_bias' must map token ids (0 to the vocabulary size - 1) to numbers between -100 and 100");
    return false;
}

/* response_format: text, json_object (any JSON object) or json_schema (its
 * schema converted up front, so that a schema the converter refuses is a
 * 400 naming it). */
static bool parse_response_format(const cJSON *root, serve_job *job, serve_error *err) {
    const cJSON *rf = cJSON_GetObjectItemCaseSensitive(root, "response_format");
    if (!rf || cJSON_IsNull(rf)) return true;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(rf, "type");
    if (!cJSON_IsObject(rf) || !cJSON_IsString(type)) {
        serve_error_set(err, 400, "response_format", "'response_format' must be an object with a 'type'");
        return false;
    }
    if (strcmp(type->valuestring, "text") == 0) return true;
    if (strcmp(type->valuestring, "json_object") == 0) {
        job->json_schema = strdup("{\"type\": \"object\"}");
        job->gp.sampling.json_schema = job->json_schema;
        if (!job->json_schema) serve_error_set(err, 500, NULL, "out of memory");
        return job->json_schema != NULL;
    }
    if (strcmp(type->valuestring, "json_schema") != 0) {
        serve_error_set(err, 400, "response_format.type",
                        "'response_format.type' must be 'text', 'json_object' or 'json_schema'");
        return false;
    }
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(rf, "json_schema");
    const cJSON *schema = cJSON_GetObjectItemCaseSensitive(js, "schema");
    if (!cJSON_IsObject(js) || !(cJSON_IsObject(schema) || cJSON_IsBool(schema))) {
        serve_error_set(err, 400, "response_format.json_schema",
                        "'response_format.json_schema' must be an object with a 'schema'");
        return false;
    }
    bool strict = false;
    if (!get_bool(js, "strict", &strict, err)) return false;
    job->json_schema = cJSON_PrintUnformatted(schema);
    if (!job->json_schema) {
        serve_error_set(err, 500, NULL, "out of memory");
        return false;
    }
    job->gp.sampling.json_schema = job->json_schema;
    job->gp.sampling.json_schema_flags = strict ? VKA_JSON_SCHEMA_STRICT : 0;
    char *gbnf = NULL;
    if (vka_json_schema_to_grammar(job->json_schema, job->gp.sampling.json_schema_flags, &gbnf, NULL) != VKA_OK) {
        serve_error_set(err, 400, "response_format.json_schema.schema", "%s", vka_last_error());
        return false;
    }
    vka_free(gbnf);
    return true;
}

/* The sampling parameters, with OpenAI's defaults (temperature 1, top_p 1,
 * no top-k or min-p) and a fresh seed unless one is given. */
static bool parse_sampling(const serve_state *s, const cJSON *root, serve_job *job, serve_error *err) {
    vka_sampling_params *sp = &job->gp.sampling;
    double temperature = 1, top_p = 1, fp = 0, pp = 0;
    double seed = (double)((uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)job);
    if (!get_number(root, "temperature", 0, 2, &temperature, err) || !get_number(root, "top_p", 0, 1, &top_p, err) ||
        !get_number(root, "frequency_penalty", -2, 2, &fp, err) ||
        !get_number(root, "presence_penalty", -2, 2, &pp, err) ||
        !get_int(root, "seed", -9007199254740991.0, 9007199254740991.0, &seed, err))
        return false;
    if (top_p <= 0) {
        serve_error_set(err, 400, "top_p", "'top_p' must be above 0");
        return false;
    }
    sp->temperature = (float)temperature;
    sp->top_p = (float)top_p;
    sp->top_k = 0;
    sp->min_p = 0;
    sp->frequency_penalty = (float)fp;
    sp->presence_penalty = (float)pp;
    sp->penalty_last_n = -1;
    sp->seed = (uint64_t)(int64_t)seed;
    return parse_logit_bias(s, root, job, err);
}

/* Everything but the prompt, common to both endpoints. */
static bool parse_common(const serve_state *s, serve_endpoint ep, const cJSON *root, serve_request *r,
                         serve_error *err) {
    serve_job *job = r->job;
    vka_generate_params_default(&job->gp);
    /* OpenAI: completions default to 16 tokens, chat to what the context holds. */
    double max_tokens = ep == SERVE_COMPLETION ? 16 : 0;
    if (!get_int(root, "max_tokens", 1, 1e9, &max_tokens, err) ||
        !get_int(root, "max_completion_tokens", 1, 1e9, &max_tokens, err))
        return false;
    job->gp.max_tokens = (int32_t)max_tokens;
    /* Every choice runs at once, so n is bounded by --parallel too. */
    double n = 1, n_max = s->parallel < SERVE_MAX_N ? s->parallel : SERVE_MAX_N;
    if (n_max < 1) n_max = 1;
    if (!get_int(root, "n", 1, n_max, &n, err)) return false;
    r->n = (uint32_t)n;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (model && !cJSON_IsString(model)) {
        serve_error_set(err, 400, "model", "'model' must be a string");
        return false;
    }
    if (!get_bool(root, "stream", &r->stream, err)) return false;
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(root, "stream_options");
    if (so && !cJSON_IsNull(so)) {
        if (!cJSON_IsObject(so)) {
            serve_error_set(err, 400, "stream_options", "'stream_options' must be an object");
            return false;
        }
        if (!get_bool(so, "include_usage", &r->include_usage, err)) return false;
    }
    job->deadline = cli_now() + s->request_timeout;
    return parse_sampling(s, root, job, err) && parse_stop(root, job, err) && parse_response_format(root, job, err);
}

static bool tokenize_into(const serve_state *s, serve_job *job, const char *text, int flags, const char *param,
                          serve_error *err) {
    job->ids = cli_tokenize(s->model, text, strlen(text), flags, &job->n_ids);
    if (!job->ids) {
        serve_error_set(err, 400, param, "cannot tokenize '%s': %s", param, vka_last_error());
        return false;
    }
    return true;
}

/* Chat: the messages (and tools) rendered in the model's chat template,
 * tokenized with its special tokens (BOS only where the template writes it). */
static bool parse_chat(const serve_state *s, const cJSON *root, serve_request *r, serve_error *err) {
    const cJSON *messages = cJSON_GetObjectItemCaseSensitive(root, "messages");
    if (!cJSON_IsArray(messages) || cJSON_GetArraySize(messages) == 0) {
        serve_error_set(err, 400, "messages", "'messages' must be a non-empty array");
        return false;
    }
    if (!serve_parse_tools(s, root, r->job, err)) return false;
    vka_chat_params cp;
    vka_chat_params_default(&cp);
    /* chat_template_kwargs.enable_thinking, vLLM's and llama.cpp's extension:
     * false renders Qwen3's empty think block (as /apply-template does) */
    const cJSON *kwargs = cJSON_GetObjectItemCaseSensitive(root, "chat_template_kwargs");
    const cJSON *thinking = cJSON_IsObject(kwargs) ? cJSON_GetObjectItemCaseSensitive(kwargs, "enable_thinking") : NULL;
    if (thinking && !cJSON_IsBool(thinking)) {
        serve_error_set(err, 400, "chat_template_kwargs", "'chat_template_kwargs.enable_thinking' must be a boolean");
        return false;
    }
    if (thinking) cp.enable_thinking = cJSON_IsTrue(thinking);
    char *json = cJSON_PrintUnformatted(messages), *prompt = NULL;
    if (!json) {
        serve_error_set(err, 500, NULL, "out of memory");
        return false;
    }
    cp.tools_json = r->job->tools_json;
    vka_status st = vka_chat_apply_template(s->model, json, &cp, &prompt);
    free(json);
    if (st != VKA_OK) {
        serve_error_set(err, 400, "messages", "%s", vka_last_error());
        return false;
    }
    r->job->gp.parse_special = true;
    bool ok = tokenize_into(s, r->job, prompt, VKA_TOKENIZE_PARSE_SPECIAL, "messages", err);
    vka_free(prompt);
    return ok;
}

/* Completion: a prompt string (or an array of exactly one), BOS first when
 * the model wants one. */
static bool parse_completion(const serve_state *s, const cJSON *root, serve_request *r, serve_error *err) {
    const cJSON *prompt = cJSON_GetObjectItemCaseSensitive(root, "prompt");
    if (cJSON_IsArray(prompt) && cJSON_GetArraySize(prompt) == 1) prompt = cJSON_GetArrayItem(prompt, 0);
    if (!cJSON_IsString(prompt)) {
        serve_error_set(err, 400, "prompt", "'prompt' must be a string (or an array of one string)");
        return false;
    }
    return tokenize_into(s, r->job, prompt->valuestring, VKA_TOKENIZE_MODEL_BOS, "prompt", err);
}

/* The choices after the first: copies of it that share its inputs, each
 * with the next seed, so that choice i gives what a request of its own
 * with seed + i gives. */
static bool add_choices(serve_request *r, serve_error *err) {
    serve_job *first = r->job;
    uint32_t n = r->n;
    r->choice[0] = first;
    r->n = 1;
    for (uint32_t i = 1; i < n; i++) {
        serve_job *job = calloc(1, sizeof *job);
        if (!job) {
            serve_error_set(err, 500, NULL, "out of memory");
            return false;
        }
        job->leader = first;
        job->index = i;
        job->ids = first->ids;
        job->n_ids = first->n_ids;
        job->gp = first->gp;
        job->gp.sampling.seed = first->gp.sampling.seed + i;
        job->tool_calls = first->tool_calls;
        job->tool_format = first->tool_format;
        job->calls_required = first->calls_required;
        job->deadline = first->deadline;
        r->choice[r->n++] = job;
    }
    return true;
}

bool serve_parse_request(serve_state *s, serve_endpoint ep, const char *body, size_t len, serve_request *out,
                         serve_error *err) {
    memset(out, 0, sizeof *out);
    out->endpoint = ep;
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (!root || !cJSON_IsObject(root)) {
        serve_error_set(err, 400, NULL, root ? "the request body must be a JSON object" : "the request body is not valid JSON");
        cJSON_Delete(root);
        return false;
    }
    out->job = calloc(1, sizeof *out->job);
    bool ok = out->job != NULL;
    if (!ok) serve_error_set(err, 500, NULL, "out of memory");
    ok = ok && parse_common(s, ep, root, out, err) &&
         (ep == SERVE_CHAT ? parse_chat(s, root, out, err) : parse_completion(s, root, out, err)) &&
         add_choices(out, err);
    cJSON_Delete(root);
    if (!ok) serve_request_free(out);
    return ok;
}
