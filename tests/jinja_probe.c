/* jinja_probe.c — vka_chat_template_render (what `vkagent template
 * --chat-template` calls) as a filter, for tests/jinja/compare.mjs to check
 * against @huggingface/jinja without starting a process per case. Reads
 * lines, each a JSON object {"template": PATH, "messages": [...],
 * "tools": [...] (optional), "add_generation_prompt": bool (optional),
 * "variables": {...} (optional)}, and writes one JSON line for each:
 * {"ok": true, "text": S} or {"ok": false, "error": S}. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "vkagent.h"

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *text = NULL;
    size_t len = 0, cap = 0, n;
    char chunk[65536];
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (len + n + 1 > cap) {
            cap = (len + n + 1) * 2;
            char *grown = realloc(text, cap);
            if (!grown) break;
            text = grown;
        }
        memcpy(text + len, chunk, n);
        len += n;
    }
    fclose(f);
    if (text) text[len] = '\0';
    return text;
}

static cJSON *render_case(const cJSON *req) {
    cJSON *res = cJSON_CreateObject();
    const cJSON *path = cJSON_GetObjectItemCaseSensitive(req, "template");
    char *tmpl = cJSON_IsString(path) ? read_file(path->valuestring) : NULL;
    char *messages = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(req, "messages"));
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(req, "tools");
    char *tools_json = tools && !cJSON_IsNull(tools) ? cJSON_PrintUnformatted(tools) : NULL;
    const cJSON *vars = cJSON_GetObjectItemCaseSensitive(req, "variables");
    char *vars_json = vars ? cJSON_PrintUnformatted(vars) : NULL;
    vka_chat_params params;
    vka_chat_params_default(&params);
    params.tools_json = tools_json;
    params.add_generation_prompt = !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(req, "add_generation_prompt"));
    char *out = NULL;
    if (!tmpl || !messages) {
        cJSON_AddFalseToObject(res, "ok");
        cJSON_AddStringToObject(res, "error", "probe: bad request or unreadable template");
    } else if (vka_chat_template_render(tmpl, messages, &params, vars_json, &out) == VKA_OK) {
        cJSON_AddTrueToObject(res, "ok");
        cJSON_AddStringToObject(res, "text", out);
    } else {
        cJSON_AddFalseToObject(res, "ok");
        cJSON_AddStringToObject(res, "error", vka_last_error());
    }
    vka_free(out);
    free(tmpl);
    free(messages);
    free(tools_json);
    free(vars_json);
    return res;
}

int main(void) {
    static char line[1 << 20];
    while (fgets(line, sizeof line, stdin)) {
        cJSON *req = cJSON_Parse(line);
        cJSON *res = req ? render_case(req) : NULL;
        char *text = res ? cJSON_PrintUnformatted(res) : NULL;
        printf("%s\n", text ? text : "{\"ok\": false, \"error\": \"probe: bad line\"}");
        fflush(stdout);
        free(text);
        cJSON_Delete(res);
        cJSON_Delete(req);
    }
    return 0;
}
