/* fuzz_tool_calls.c — reading tool calls back from model text: the first
 * byte picks the format (and, by its high bit, whether the tools' schemas
 * are given), the rest (up to a NUL) is the text. Whatever the
 * text, the parse succeeds, every call has a name and arguments that parse as
 * a JSON object, and the content is the text before the calls (or all of it). */
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "vkagent.h"
#include "fuzz.h"

/* Tools whose schemas make parameters text or JSON (vka_tool_calls_parse_tools). */
static const char *const tools_json =
    "[{\"type\": \"function\", \"function\": {\"name\": \"a\", \"parameters\": {\"type\": \"object\", "
    "\"properties\": {\"x\": {\"type\": \"string\"}, \"y\": {\"type\": \"integer\"}, \"z\": {\"enum\": [\"1\"]}}}}}]";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    vka_tool_format format = (vka_tool_format)(data[0] % 7);
    char *text = fuzz_strndup(data + 1, size - 1);
    vka_tool_calls *r = NULL;
    /* the first byte's high bit: read with the tools' schemas */
    vka_status st = data[0] & 0x80 ? vka_tool_calls_parse_tools(text, format, tools_json, &r)
                                   : vka_tool_calls_parse(text, format, &r);
    FUZZ_CHECK(st == VKA_OK && r, "parse failed: %s", vka_last_error());
    size_t content_len = strlen(r->content);
    FUZZ_CHECK(strncmp(r->content, text, content_len) == 0, "content is not the start of the text");
    FUZZ_CHECK(r->n_calls > 0 || strcmp(r->content, text) == 0, "no calls, yet content is not the whole text");
    for (size_t i = 0; i < r->n_calls; i++) {
        FUZZ_CHECK(r->calls[i].name && r->calls[i].name[0], "call %zu has no name", i);
        cJSON *args = cJSON_Parse(r->calls[i].arguments);
        FUZZ_CHECK(cJSON_IsObject(args), "call %zu: arguments %s are not a JSON object", i, r->calls[i].arguments);
        cJSON_Delete(args);
    }
    vka_tool_calls_free(r);
    free(text);
    return 0;
}
