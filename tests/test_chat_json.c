/* test_chat_json.c — the tojson serialiser (against Python json.dumps /
 * @huggingface/jinja output written out by hand) and the parsing of OpenAI
 * messages arrays, malformed input included. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "text/chat.h"
#include "test_util.h"

static char *dump(const char *json, int indent) {
    cJSON *tree = cJSON_Parse(json);
    cr_assert_not_null(tree, "test input does not parse: %s", json);
    vka_chat_buf buf = {0};
    vka_chat_tojson(&buf, tree, indent);
    cJSON_Delete(tree);
    cr_assert(!buf.oom);
    return buf.data;
}

static void expect_dump(const char *json, int indent, const char *expected) {
    char *got = dump(json, indent);
    cr_expect_str_eq(got, expected, "tojson(%s, indent=%d)", json, indent);
    free(got);
}

Test(chat_json, separators_and_key_order) {
    expect_dump("{\"b\":1,\"a\":[1,2,{\"z\":null,\"y\":true}],\"c\":false}", 0,
                "{\"b\": 1, \"a\": [1, 2, {\"z\": null, \"y\": true}], \"c\": false}");
    expect_dump("[]", 0, "[]");
    expect_dump("{}", 0, "{}");
    expect_dump("[[],{}]", 0, "[[], {}]");
}

Test(chat_json, string_escapes_keep_utf8) {
    /* json.dumps(ensure_ascii=False): ", \, \b \f \n \r \t short escapes, other
     * controls as \u00xx (lowercase), '/' and DEL and non-ASCII as they are. */
    expect_dump("[\"q\\\" b\\\\ s/ \\b\\f\\n\\r\\t \\u0001\\u001f \\u007f\"]", 0,
                "[\"q\\\" b\\\\ s/ \\b\\f\\n\\r\\t \\u0001\\u001f \x7f\"]");
    expect_dump("{\"名称\":\"我想了解关于GPT-4的更多信息。\"}", 0, "{\"名称\": \"我想了解关于GPT-4的更多信息。\"}");
    /* \u escapes in the input are UTF-8 after parsing and stay so */
    expect_dump("[\"\\u6211\\ud83d\\ude00\"]", 0, "[\"我😀\"]");
}

Test(chat_json, numbers_as_javascript_prints_them) {
    /* Expected strings are what JavaScript's String(x) gives (ECMA-262 Number::toString). */
    expect_dump("[0, -0, 1, -3, 100, 123456789012, 9007199254740993]", 0,
                "[0, 0, 1, -3, 100, 123456789012, 9007199254740992]");
    expect_dump("[1.5, 0.1, -0.000001, 2.5e-5, 1e-7, 1.25e-10]", 0,
                "[1.5, 0.1, -0.000001, 0.000025, 1e-7, 1.25e-10]");
    expect_dump("[1e21, 1e20, 1.5e300, 123.456, 1.0, 3.14159265358979]", 0,
                "[1e+21, 100000000000000000000, 1.5e+300, 123.456, 1, 3.14159265358979]");
}

Test(chat_json, indent_four_like_json_dumps) {
    /* Python: json.dumps(x, indent=4) */
    expect_dump("{\"a\":1,\"b\":[1,{\"c\":\"d\"}],\"e\":{},\"f\":[]}", 4,
                "{\n"
                "    \"a\": 1,\n"
                "    \"b\": [\n"
                "        1,\n"
                "        {\n"
                "            \"c\": \"d\"\n"
                "        }\n"
                "    ],\n"
                "    \"e\": {},\n"
                "    \"f\": []\n"
                "}");
}

/* ---------------------------------------------------------------- messages */

Test(chat_json, messages_basic_fields) {
    vka_chat_message *m = NULL;
    size_t n = 0;
    cr_assert_eq(vka_chat_messages_from_json(
                     "[{\"role\":\"system\",\"content\":\"S\"},"
                     " {\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"c1\",\"type\":\"function\","
                     "\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}],\"reasoning_content\":\"R\"},"
                     " {\"role\":\"tool\",\"tool_call_id\":\"c1\",\"name\":\"f\",\"content\":\"42\"},"
                     " {\"role\":\"assistant\",\"tool_calls\":[]}]",
                     &m, &n),
                 VKA_OK, "%s", vka_last_error());
    cr_assert_eq(n, 4);
    cr_expect_str_eq(m[0].role, "system");
    cr_expect_str_eq(m[0].content, "S");
    cr_expect_null(m[0].tool_calls_json);
    cr_expect_null(m[1].content);
    cr_expect_str_eq(m[1].reasoning_content, "R");
    cr_assert_not_null(m[1].tool_calls_json);
    cr_expect(strstr(m[1].tool_calls_json, "\"name\":\"f\"") != NULL, "%s", m[1].tool_calls_json);
    cr_expect_str_eq(m[2].tool_call_id, "c1");
    cr_expect_str_eq(m[2].name, "f");
    cr_expect_str_eq(m[2].content, "42");
    cr_expect_null(m[3].tool_calls_json, "an empty tool_calls array means no calls");
    vka_chat_messages_free(m, n);
}

Test(chat_json, messages_content_parts_joined) {
    vka_chat_message *m = NULL;
    size_t n = 0;
    cr_assert_eq(vka_chat_messages_from_json("[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Hello, \"},"
                                             "{\"type\":\"text\",\"text\":\"world\"}]}]",
                                             &m, &n),
                 VKA_OK, "%s", vka_last_error());
    cr_assert_eq(n, 1);
    cr_expect_str_eq(m[0].content, "Hello, world");
    vka_chat_messages_free(m, n);
}

Test(chat_json, messages_empty_array) {
    vka_chat_message *m = NULL;
    size_t n = 99;
    cr_assert_eq(vka_chat_messages_from_json("[]", &m, &n), VKA_OK);
    cr_expect_eq(n, 0);
    vka_chat_messages_free(m, n);
}

static void expect_error(const char *json, vka_status want, const char *fragment) {
    vka_chat_message *m = (vka_chat_message *)1;
    size_t n = 7;
    vka_status st = vka_chat_messages_from_json(json, &m, &n);
    cr_expect_eq(st, want, "%s: got %s (%s)", json, vka_status_name(st), vka_last_error());
    cr_expect_null(m, "no messages on error");
    cr_expect_eq(n, 0);
    cr_expect(strstr(vka_last_error(), fragment) != NULL, "%s: message \"%s\" lacks \"%s\"", json, vka_last_error(),
              fragment);
}

Test(chat_json, malformed_messages) {
    expect_error("[{\"role\": \"user\", \"content\": \"x\"", VKA_ERR_FORMAT, "invalid JSON at offset");
    expect_error("[{\"role\": \"user\",\n \"content\": x}]", VKA_ERR_FORMAT, "line 2");
    expect_error("[] trailing", VKA_ERR_FORMAT, "invalid JSON");
    expect_error("{\"role\": \"user\"}", VKA_ERR_FORMAT, "expected a JSON array");
    expect_error("[1]", VKA_ERR_FORMAT, "messages[0]: expected an object");
    expect_error("[{\"role\":\"user\",\"content\":\"a\"},{\"content\":\"x\"}]", VKA_ERR_FORMAT,
                 "messages[1]: \"role\" is missing");
    expect_error("[{\"role\": 3, \"content\": \"x\"}]", VKA_ERR_FORMAT, "messages[0].role: expected a string");
    expect_error("[{\"role\": \"user\", \"content\": 5}]", VKA_ERR_FORMAT,
                 "messages[0].content: expected a string or an array");
    expect_error("[{\"role\": \"user\", \"content\": {\"text\": \"x\"}}]", VKA_ERR_FORMAT, "messages[0].content");
    expect_error("[{\"role\": \"user\"}]", VKA_ERR_FORMAT, "\"content\" is missing");
    expect_error("[{\"role\": \"tool\", \"content\": null}]", VKA_ERR_FORMAT, "only assistant messages may omit it");
    expect_error("[{\"role\": \"user\", \"content\": [{\"type\": \"text\"}]}]", VKA_ERR_FORMAT,
                 "messages[0].content[0]: a text part needs a string \"text\"");
    expect_error("[{\"role\": \"user\", \"content\": [\"hi\"]}]", VKA_ERR_FORMAT, "messages[0].content[0]");
    expect_error("[{\"role\": \"user\", \"content\": [{\"type\": \"image_url\", \"image_url\": {\"url\": \"x\"}}]}]",
                 VKA_ERR_UNSUPPORTED, "image_url");
    expect_error("[{\"role\": \"assistant\", \"tool_calls\": {\"name\": \"f\"}}]", VKA_ERR_FORMAT,
                 "messages[0].tool_calls: expected an array");
    expect_error("[{\"role\": \"tool\", \"content\": \"x\", \"tool_call_id\": 7}]", VKA_ERR_FORMAT,
                 "messages[0].tool_call_id: expected a string");
}

Test(chat_json, null_arguments_rejected) {
    vka_chat_message *m = NULL;
    size_t n = 0;
    cr_expect_eq(vka_chat_messages_from_json(NULL, &m, &n), VKA_ERR_INVALID_ARGUMENT);
    cr_expect_eq(vka_chat_messages_from_json("[]", NULL, &n), VKA_ERR_INVALID_ARGUMENT);
    vka_chat_messages_free(NULL, 0);
}
