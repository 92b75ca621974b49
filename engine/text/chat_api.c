/* chat_api.c — the public chat-template entry points: read the template and
 * BOS/EOS texts from a model, then render with chat.c. Kept apart so that
 * chat.c is testable without a model. */
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "text/chat.h"
#include "base/status.h"

void vka_chat_params_default(vka_chat_params *params) {
    if (!params) return;
    memset(params, 0, sizeof *params);
    params->add_generation_prompt = true;
    params->enable_thinking = true;
}

/* The token's text, or "" when the model has no such token. */
static const char *special_text(const vka_model *model, int32_t token) {
    if (token < 0) return "";
    const char *text = vka_token_text(model, token);
    return text ? text : "";
}

/* A tool call's arguments given as a JSON string (OpenAI's form) become the
 * object they spell: templates (Llama 3.1, Qwen2.5, Hermes) write them with
 * tojson and expect the object transformers' users pass, as llama.cpp also
 * arranges. A string that is not a JSON object stays as it is. */
static void arguments_as_objects(cJSON *message) {
    cJSON *calls = cJSON_GetObjectItemCaseSensitive(message, "tool_calls");
    for (cJSON *call = cJSON_IsArray(calls) ? calls->child : NULL; call; call = call->next) {
        cJSON *fn = cJSON_GetObjectItemCaseSensitive(call, "function");
        cJSON *holder = cJSON_IsObject(fn) ? fn : call;
        cJSON *args = cJSON_GetObjectItemCaseSensitive(holder, "arguments");
        if (!cJSON_IsString(args)) continue;
        cJSON *parsed = cJSON_Parse(args->valuestring);
        if (cJSON_IsObject(parsed)) cJSON_ReplaceItemInObjectCaseSensitive(holder, "arguments", parsed);
        else cJSON_Delete(parsed);
    }
}

/* The messages as the template gets them: content given as text parts
 * (OpenAI's [{"type": "text", "text": ...}]) becomes the joined string, as
 * the family layouts read it, since most templates print content as a
 * string; tool-call arguments as objects (above); the rest as it is. */
static vka_status template_messages(const char *messages_json, const vka_chat_message *msgs, size_t n, char **out) {
    cJSON *arr = cJSON_Parse(messages_json);
    if (!arr) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "chat template: out of memory");
    size_t i = 0;
    for (cJSON *m = arr->child; m && i < n; m = m->next, i++) {
        cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        if (cJSON_IsArray(content) && msgs[i].content)
            cJSON_ReplaceItemInObjectCaseSensitive(m, "content", cJSON_CreateString(msgs[i].content));
        arguments_as_objects(m);
    }
    *out = cJSON_PrintUnformatted(arr);
    cJSON_Delete(arr);
    return *out ? VKA_OK : vka_fail(VKA_ERR_OUT_OF_MEMORY, "chat template: out of memory");
}

/* The model's own template, with the variables transformers passes:
 * bos_token, eos_token, (when false) enable_thinking, then the caller's
 * keyword arguments, which win. */
static vka_status render_model_template(const vka_chat_render_params *rp, const char *kwargs_json,
                                        const char *messages_json, char **out) {
    cJSON *kwargs = kwargs_json ? cJSON_Parse(kwargs_json) : NULL;
    if (kwargs_json && !cJSON_IsObject(kwargs)) {
        cJSON_Delete(kwargs);
        return vka_fail(VKA_ERR_INVALID_ARGUMENT, "template_kwargs_json is not a JSON object");
    }
    cJSON *vars = kwargs ? kwargs : cJSON_CreateObject();
    if (!vars) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
    if (!cJSON_HasObjectItem(vars, "bos_token")) cJSON_AddStringToObject(vars, "bos_token", rp->bos_text);
    if (!cJSON_HasObjectItem(vars, "eos_token")) cJSON_AddStringToObject(vars, "eos_token", rp->eos_text);
    if (!rp->enable_thinking && !cJSON_HasObjectItem(vars, "enable_thinking"))
        cJSON_AddFalseToObject(vars, "enable_thinking");
    char *vars_json = cJSON_PrintUnformatted(vars);
    cJSON_Delete(vars);
    if (!vars_json) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
    vka_chat_template_context c = {.template_text = rp->template_text, .messages_json = messages_json,
                                   .tools_json = rp->tools_json,
                                   .add_generation_prompt = rp->add_generation_prompt,
                                   .variables_json = vars_json};
    vka_status st = vka_chat_jinja_render(&c, out);
    cJSON_free(vars_json);
    return st;
}

vka_status vka_chat_apply_template(const vka_model *model, const char *messages_json,
                                   const vka_chat_params *params, char **out_text) {
    if (out_text) *out_text = NULL;
    if (!model || !messages_json || !out_text)
        return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_chat_apply_template: model, messages_json and out_text "
                                                  "must not be NULL");
    vka_chat_params defaults;
    vka_chat_params_default(&defaults);
    if (!params) params = &defaults;

    vka_model_info info;
    VKA_TRY(vka_model_get_info(model, &info));
    vka_chat_render_params rp;
    vka_chat_render_params_init(&rp);
    rp.template_text = vka_model_meta_string(model, "tokenizer.chat_template");
    rp.family = params->template_override;
    rp.tools_json = params->tools_json;
    rp.add_generation_prompt = params->add_generation_prompt;
    rp.enable_thinking = params->enable_thinking;
    rp.bos_text = special_text(model, info.token_bos);
    rp.eos_text = special_text(model, info.token_eos);

    vka_chat_set_template_warning(NULL);
    vka_chat_message *msgs = NULL;
    size_t n = 0;
    VKA_TRY(vka_chat_messages_from_json(messages_json, &msgs, &n)); /* checked the same way on both paths */
    vka_status st = VKA_ERR_NOT_FOUND;
    if (rp.template_text && rp.template_text[0] && !rp.family) {
        char *template_msgs = NULL;
        st = template_messages(messages_json, msgs, n, &template_msgs);
        if (st == VKA_OK) st = render_model_template(&rp, params->template_kwargs_json, template_msgs, out_text);
        cJSON_free(template_msgs);
        /* The template rejecting the conversation (raise_exception) is the
         * model's answer; anything else falls back to the family layout. */
        if (st != VKA_OK && st != VKA_ERR_INVALID_ARGUMENT) {
            char warning[600];
            snprintf(warning, sizeof warning, "the model's chat template failed (%s); using the '%s' layout instead",
                     vka_last_error(), vka_chat_family_name(vka_chat_detect(rp.template_text, NULL)));
            vka_chat_set_template_warning(warning);
        }
    }
    if (st != VKA_OK && st != VKA_ERR_INVALID_ARGUMENT) st = vka_chat_render(&rp, msgs, n, out_text);
    vka_chat_messages_free(msgs, n);
    return st;
}

const char *vka_chat_template_family(const vka_model *model, bool *recognised) {
    if (!model) return NULL;
    vka_chat_family family = vka_chat_detect(vka_model_meta_string(model, "tokenizer.chat_template"), recognised);
    return vka_chat_family_name(family);
}

vka_status vka_chat_template_check(const char *family) {
    if (!family) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_chat_template_check: NULL family");
    vka_chat_family f;
    return vka_chat_family_from_name(family, &f);
}
