/* chat_jinja.c — chat templates rendered by the Jinja interpreter: the
 * context a template sees (as transformers' apply_chat_template builds it)
 * and vka_chat_template_render; the warning kept when a model's own
 * template fails and the family layout stands in. */
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "base/status.h"
#include "chat.h"
#include "jinja.h"

static _Thread_local char template_warning[512];

const char *vka_chat_template_warning(void) { return template_warning; }

void vka_chat_set_template_warning(const char *text) {
    snprintf(template_warning, sizeof template_warning, "%s", text ? text : "");
}

static vka_status parse_member(cJSON *ctx, const char *key, const char *json, bool want_array) {
    cJSON *v = cJSON_ParseWithOpts(json, NULL, true);
    if (!v || (want_array && !cJSON_IsArray(v))) {
        cJSON_Delete(v);
        return vka_fail(VKA_ERR_FORMAT, "chat template: %s is not a JSON %s", key, want_array ? "array" : "value");
    }
    cJSON_AddItemToObject(ctx, key, v);
    return VKA_OK;
}

/* {"messages": [...], "tools": [...] | null, "add_generation_prompt": b, ...variables}. */
static vka_status build_context(const vka_chat_template_context *c, char **out) {
    cJSON *ctx = cJSON_CreateObject();
    if (!ctx) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
    vka_status st = parse_member(ctx, "messages", c->messages_json, true);
    if (st == VKA_OK && c->tools_json) st = parse_member(ctx, "tools", c->tools_json, true);
    else if (st == VKA_OK) cJSON_AddNullToObject(ctx, "tools");
    if (st == VKA_OK) cJSON_AddBoolToObject(ctx, "add_generation_prompt", c->add_generation_prompt);
    cJSON *vars = NULL;
    if (st == VKA_OK && c->variables_json) {
        vars = cJSON_ParseWithOpts(c->variables_json, NULL, true);
        if (!vars || !cJSON_IsObject(vars)) st = vka_fail(VKA_ERR_FORMAT, "chat template: the variables are not a JSON object");
    }
    for (cJSON *v = vars ? vars->child : NULL; st == VKA_OK && v; v = v->next) {
        if (cJSON_GetObjectItemCaseSensitive(ctx, v->string)) {
            st = vka_fail(VKA_ERR_INVALID_ARGUMENT, "chat template: variable '%s' is defined twice", v->string);
            break;
        }
        cJSON_AddItemToObject(ctx, v->string, cJSON_Duplicate(v, true));
    }
    cJSON_Delete(vars);
    *out = st == VKA_OK ? cJSON_PrintUnformatted(ctx) : NULL;
    cJSON_Delete(ctx);
    if (st == VKA_OK && !*out) st = vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
    return st;
}

vka_status vka_chat_jinja_render(const vka_chat_template_context *c, char **out) {
    *out = NULL;
    vka_jinja_template *t = NULL;
    VKA_TRY(vka_jinja_parse(c->template_text, strlen(c->template_text), &t));
    char *context = NULL;
    vka_status st = build_context(c, &context);
    if (st == VKA_OK) st = vka_jinja_render(t, context, NULL, out, NULL);
    cJSON_free(context);
    vka_jinja_free(t);
    return st;
}

vka_status vka_chat_template_render(const char *template_text, const char *messages_json,
                                    const vka_chat_params *params, const char *variables_json, char **out_text) {
    if (out_text) *out_text = NULL;
    if (!template_text || !messages_json || !out_text)
        return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_chat_template_render: template_text, messages_json and "
                                                  "out_text must not be NULL");
    vka_chat_params defaults;
    vka_chat_params_default(&defaults);
    if (!params) params = &defaults;
    vka_chat_template_context c = {.template_text = template_text, .messages_json = messages_json,
                                   .tools_json = params->tools_json,
                                   .add_generation_prompt = params->add_generation_prompt,
                                   .variables_json = variables_json};
    return vka_chat_jinja_render(&c, out_text);
}
