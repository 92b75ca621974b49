/* test_tool_calls.c — vka_tool_calls_parse, vka_tool_format_detect and
 * vka_tool_calls_grammar: every format's single and several calls, text
 * before them, malformed and cut-short text (all content, no call), and round
 * trips through the real templates of tests/data/templates. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vkagent.h"
#include "test_util.h"

static vka_tool_calls *parse(const char *text, vka_tool_format format) {
    vka_tool_calls *r = NULL;
    cr_assert_eq(vka_tool_calls_parse(text, format, &r), VKA_OK, "%s", vka_last_error());
    cr_assert_not_null(r);
    return r;
}

/* Arguments compare as JSON values, not as text. */
static void expect_call(const vka_tool_calls *r, size_t i, const char *name, const char *args) {
    cr_assert_lt(i, r->n_calls);
    cr_expect_str_eq(r->calls[i].name, name);
    cJSON *got = cJSON_Parse(r->calls[i].arguments), *want = cJSON_Parse(args);
    cr_assert_not_null(got, "arguments do not parse: %s", r->calls[i].arguments);
    cr_expect(cJSON_Compare(got, want, true), "arguments %s, expected %s", r->calls[i].arguments, args);
    cJSON_Delete(got);
    cJSON_Delete(want);
}

/* No calls, and the text comes back unchanged as content. */
static void expect_content_only(const char *text, vka_tool_format format) {
    vka_tool_calls *r = parse(text, format);
    cr_expect_eq(r->n_calls, 0, "%s: %zu calls from %s", vka_tool_format_name(format), r->n_calls, text);
    cr_expect_str_eq(r->content, text);
    vka_tool_calls_free(r);
}

Test(tool_calls, hermes) {
    vka_tool_calls *r = parse("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>",
                              VKA_TOOL_FORMAT_HERMES);
    cr_assert_eq(r->n_calls, 1);
    cr_expect_str_eq(r->content, "");
    expect_call(r, 0, "get_weather", "{\"city\": \"Paris\"}");
    cr_expect_str_eq(r->calls[0].arguments, "{\"city\": \"Paris\"}", "arguments kept as written");
    cr_expect_null(r->calls[0].id);
    vka_tool_calls_free(r);

    r = parse("Let me look.\n\n<tool_call>\n{\"arguments\": {\"q\": [1, {\"a\": \"}\"}]}, \"name\": \"search\"}\n"
              "</tool_call>\n<tool_call>\n{\"name\": \"now\", \"arguments\": {}}\n</tool_call>\n",
              VKA_TOOL_FORMAT_HERMES);
    cr_assert_eq(r->n_calls, 2);
    cr_expect_str_eq(r->content, "Let me look.");
    expect_call(r, 0, "search", "{\"q\": [1, {\"a\": \"}\"}]}");
    expect_call(r, 1, "now", "{}");
    vka_tool_calls_free(r);
}

Test(tool_calls, llama3) {
    vka_tool_calls *r = parse("{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}", VKA_TOOL_FORMAT_LLAMA3);
    cr_assert_eq(r->n_calls, 1);
    cr_expect_str_eq(r->content, "");
    expect_call(r, 0, "get_weather", "{\"city\": \"Paris\"}");
    vka_tool_calls_free(r);

    r = parse("Checking.<|python_tag|>{\"name\": \"a\", \"parameters\": {\"x\": 1}}; {\"name\": \"b\", \"arguments\": {}}",
              VKA_TOOL_FORMAT_LLAMA3);
    cr_assert_eq(r->n_calls, 2);
    cr_expect_str_eq(r->content, "Checking.");
    expect_call(r, 0, "a", "{\"x\": 1}");
    expect_call(r, 1, "b", "{}");
    vka_tool_calls_free(r);

    /* a reply that is text, even with braces later, is content */
    expect_content_only("The set {1, 2} has two members.", VKA_TOOL_FORMAT_LLAMA3);
    /* built-in tools' code after the tag is not a JSON call */
    expect_content_only("<|python_tag|>brave_search.call(query=\"x\")", VKA_TOOL_FORMAT_LLAMA3);
}

Test(tool_calls, mistral_json_list) {
    vka_tool_calls *r = parse("[TOOL_CALLS][{\"name\": \"a\", \"arguments\": {\"x\": 1}, \"id\": \"abcDEF123\"}, "
                              "{\"name\": \"b\", \"arguments\": {}}]",
                              VKA_TOOL_FORMAT_MISTRAL);
    cr_assert_eq(r->n_calls, 2);
    cr_expect_str_eq(r->content, "");
    expect_call(r, 0, "a", "{\"x\": 1}");
    cr_expect_str_eq(r->calls[0].id, "abcDEF123");
    expect_call(r, 1, "b", "{}");
    cr_expect_null(r->calls[1].id);
    vka_tool_calls_free(r);
}

Test(tool_calls, mistral_args) {
    vka_tool_calls *r = parse("Sure. [TOOL_CALLS]get_weather[ARGS]{\"city\": \"Paris\"}[TOOL_CALLS]search[CALL_ID]"
                              "xY12345zz[ARGS]{\"q\": \"[ARGS]\"}",
                              VKA_TOOL_FORMAT_MISTRAL_ARGS);
    cr_assert_eq(r->n_calls, 2);
    cr_expect_str_eq(r->content, "Sure.");
    expect_call(r, 0, "get_weather", "{\"city\": \"Paris\"}");
    expect_call(r, 1, "search", "{\"q\": \"[ARGS]\"}");
    cr_expect_str_eq(r->calls[1].id, "xY12345zz");
    vka_tool_calls_free(r);

    /* the marker written once before several calls (Ministral 3), and either
     * Mistral syntax read under either format */
    r = parse("[TOOL_CALLS]a[ARGS]{}b[ARGS]{\"y\": [true]}", VKA_TOOL_FORMAT_MISTRAL);
    cr_assert_eq(r->n_calls, 2);
    expect_call(r, 0, "a", "{}");
    expect_call(r, 1, "b", "{\"y\": [true]}");
    vka_tool_calls_free(r);
}

Test(tool_calls, qwen3_coder) {
    vka_tool_calls *r = parse("I will check.\n<tool_call>\n<function=get_weather>\n<parameter=city>\nNew York\n"
                              "</parameter>\n<parameter=days>\n3\n</parameter>\n<parameter=opts>\n{\"a\": [1]}\n"
                              "</parameter>\n</function>\n</tool_call>\n<tool_call>\n<function=now>\n</function>\n"
                              "</tool_call>",
                              VKA_TOOL_FORMAT_QWEN3_CODER);
    cr_assert_eq(r->n_calls, 2);
    cr_expect_str_eq(r->content, "I will check.");
    expect_call(r, 0, "get_weather", "{\"city\": \"New York\", \"days\": 3, \"opts\": {\"a\": [1]}}");
    expect_call(r, 1, "now", "{}");
    vka_tool_calls_free(r);
}

Test(tool_calls, glm) {
    vka_tool_calls *r = parse("Calling.\n<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>New York</arg_value>\n"
                              "<arg_key>days</arg_key>\n<arg_value>[1, 2]</arg_value>\n</tool_call>"
                              "<tool_call>now</tool_call>",
                              VKA_TOOL_FORMAT_GLM);
    cr_assert_eq(r->n_calls, 2);
    cr_expect_str_eq(r->content, "Calling.");
    expect_call(r, 0, "get_weather", "{\"city\": \"New York\", \"days\": [1, 2]}");
    expect_call(r, 1, "now", "{}");
    vka_tool_calls_free(r);
    expect_content_only("<tool_call>a<arg_key>x</arg_key><arg_value>1</tool_call>", VKA_TOOL_FORMAT_GLM);
}

/* Cut short at every byte, and damaged: never a call, never a crash. */
Test(tool_calls, malformed_is_content) {
    static const struct {
        vka_tool_format format;
        const char *text;
    } whole[] = {
        {VKA_TOOL_FORMAT_HERMES, "Hi <tool_call>\n{\"name\": \"a\", \"arguments\": {\"x\": \"y\"}}\n</tool_call>"},
        {VKA_TOOL_FORMAT_LLAMA3, "{\"name\": \"a\", \"parameters\": {\"x\": [1, 2]}}"},
        {VKA_TOOL_FORMAT_MISTRAL, "[TOOL_CALLS][{\"name\": \"a\", \"arguments\": {\"x\": 1}}]"},
        {VKA_TOOL_FORMAT_MISTRAL_ARGS, "[TOOL_CALLS]a[ARGS]{\"x\": {\"y\": null}}"},
        {VKA_TOOL_FORMAT_QWEN3_CODER, "<tool_call>\n<function=a>\n<parameter=x>\n1\n</parameter>\n</function>\n</tool_call>"},
        {VKA_TOOL_FORMAT_QWEN3_CODER, "<seed:tool_call>\n<function=a>\n</function>\n</seed:tool_call>"},
        {VKA_TOOL_FORMAT_GLM, "<tool_call>a\n<arg_key>x</arg_key>\n<arg_value>{\"y\": 1}</arg_value>\n</tool_call>"},
    };
    for (size_t i = 0; i < sizeof whole / sizeof *whole; i++) {
        const char *t = whole[i].text;
        size_t len = strlen(t);
        for (size_t cut = 0; cut < len; cut++) {
            char *part = strndup(t, cut);
            expect_content_only(part, whole[i].format);
            free(part);
        }
        vka_tool_calls *r = parse(t, whole[i].format);
        cr_expect_eq(r->n_calls, 1, "%s", t);
        vka_tool_calls_free(r);
    }
    const char *bad[] = {
        "<tool_call>\n{\"name\": \"a\", \"arguments\": \"{\\\"x\\\": 1}\"}\n</tool_call>", /* arguments not an object */
        "<tool_call>\n{\"name\": 3, \"arguments\": {}}\n</tool_call>",
        "<tool_call>\n{\"arguments\": {}}\n</tool_call>",
        "<tool_call>\n{\"name\": \"a\", \"arguments\": {}}\n</tool_call> and then text",
        "<tool_call>\n{\"name\": \"a\", \"arguments\": {},}\n</tool_call>",
        "<tool_call>\n{\"name\": \"a\" \"arguments\": {}}\n</tool_call>",
        "<tool_call>\n{\"name\": \"a\", \"arguments\": {}}\n</tool_call><tool_call>{}</tool_call>",
        "<tool_call></tool_call>",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) expect_content_only(bad[i], VKA_TOOL_FORMAT_HERMES);
    expect_content_only("[TOOL_CALLS][ARGS]{}", VKA_TOOL_FORMAT_MISTRAL_ARGS);
    expect_content_only("[TOOL_CALLS]a[ARGS][1]", VKA_TOOL_FORMAT_MISTRAL_ARGS);
    expect_content_only("[TOOL_CALLS][{\"name\": \"a\", \"arguments\": {}}", VKA_TOOL_FORMAT_MISTRAL);
    expect_content_only("<tool_call>\n{\"name\": \"a\", \"arguments\": {}}\n</tool_call>", VKA_TOOL_FORMAT_NONE);
    expect_content_only("", VKA_TOOL_FORMAT_HERMES);

    vka_tool_calls *r = NULL;
    cr_expect_eq(vka_tool_calls_parse(NULL, VKA_TOOL_FORMAT_HERMES, &r), VKA_ERR_INVALID_ARGUMENT);
    cr_expect_null(r);
    vka_tool_calls_free(NULL);
}

Test(tool_calls, detect) {
    cr_expect_eq(vka_tool_format_detect("qwen3"), VKA_TOOL_FORMAT_HERMES);
    cr_expect_eq(vka_tool_format_detect("llama3.1"), VKA_TOOL_FORMAT_LLAMA3);
    cr_expect_eq(vka_tool_format_detect("mistral-v3"), VKA_TOOL_FORMAT_MISTRAL);
    cr_expect_eq(vka_tool_format_detect("llama2"), VKA_TOOL_FORMAT_NONE);
    cr_expect_eq(vka_tool_format_detect(NULL), VKA_TOOL_FORMAT_NONE);
    cr_expect_str_eq(vka_tool_format_name(VKA_TOOL_FORMAT_MISTRAL_ARGS), "mistral-args");
}

/* ---------------------------------------------------------------- round trips through real templates */

static char *read_template(const char *name) {
    const char *src = getenv("VKAGENT_SOURCE_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/data/templates/%s", src ? src : ".", name);
    char *text = test_read_file(path, NULL);
    cr_assert_not_null(text, "cannot read %s", path);
    return text;
}

static const char *tools_json =
    "[{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Weather\", \"parameters\": {\"type\": \"object\", "
    "\"properties\": {\"city\": {\"type\": \"string\", \"description\": \"City\"}, \"days\": {\"type\": \"integer\", \"description\": \"Days\"}}, \"required\": [\"city\"]}}},"
    "{\"type\": \"function\", \"function\": {\"name\": \"search\", \"description\": \"Search\", \"parameters\": {\"type\": \"object\", "
    "\"properties\": {\"query\": {\"type\": \"string\", \"description\": \"Query\"}}, \"required\": [\"query\"]}}}]";

static char *render(const char *tmpl, const char *messages, bool add_generation_prompt) {
    vka_chat_params cp;
    vka_chat_params_default(&cp);
    cp.tools_json = tools_json;
    cp.add_generation_prompt = add_generation_prompt;
    char *out = NULL;
    cr_assert_eq(vka_chat_template_render(tmpl, messages, &cp,
                                          "{\"bos_token\": \"<s>\", \"eos_token\": \"</s>\"}", &out),
                 VKA_OK, "%s", vka_last_error());
    return out;
}

/* Renders a user turn and an assistant turn of `n_calls` calls, takes the
 * assistant's part (what follows the render of the user turn with the
 * generation prompt) up to `end` (NULL: all of it), and reads it back; the grammar of the
 * format must accept the calls part as the template wrote it. */
static void round_trip(const char *template_name, vka_tool_format format, size_t n_calls, const char *end) {
    char *tmpl = read_template(template_name);
    cr_expect_eq(vka_tool_format_detect(tmpl), format, "%s detected as %s", template_name,
                 vka_tool_format_name(vka_tool_format_detect(tmpl)));
    const char *user = "{\"role\": \"user\", \"content\": \"Weather in Paris, and search cats\"}";
    char messages[2048];
    snprintf(messages, sizeof messages,
             "[%s, {\"role\": \"assistant\", \"content\": \"\", \"tool_calls\": ["
             "{\"id\": \"abcDEF123\", \"type\": \"function\", \"function\": {\"name\": \"get_weather\", "
             "\"arguments\": {\"city\": \"Paris\", \"days\": 2}}}%s]}]",
             user,
             n_calls > 1 ? ", {\"id\": \"xyzXYZ789\", \"type\": \"function\", \"function\": {\"name\": \"search\", "
                           "\"arguments\": {\"query\": \"cats \\\"and\\\" dogs\"}}}"
                         : "");
    char prompt_messages[512];
    snprintf(prompt_messages, sizeof prompt_messages, "[%s]", user);
    char *full = render(tmpl, messages, false), *prompt = render(tmpl, prompt_messages, true);
    size_t plen = strlen(prompt);
    cr_assert(strncmp(full, prompt, plen) == 0, "%s: the conversation does not extend the prompt:\n%s\n---\n%s",
              template_name, prompt, full);
    char *reply = strdup(full + plen);
    if (end) {
        char *stop = strstr(reply, end);
        cr_assert_not_null(stop, "%s: no %s in %s", template_name, end, reply);
        *stop = '\0';
    }

    vka_tool_calls *r = NULL;
    cr_assert_eq(vka_tool_calls_parse_tools(reply, format, tools_json, &r), VKA_OK, "%s", vka_last_error());
    cr_assert_eq(r->n_calls, n_calls, "%s: %zu calls from %s", template_name, r->n_calls, reply);
    expect_call(r, 0, "get_weather", "{\"city\": \"Paris\", \"days\": 2}");
    if (n_calls > 1) expect_call(r, 1, "search", "{\"query\": \"cats \\\"and\\\" dogs\"}");

    {
        char *gbnf = NULL;
        cr_assert_eq(vka_tool_calls_grammar(tools_json, format, VKA_TOOL_GRAMMAR_PARALLEL | VKA_TOOL_GRAMMAR_AUTO,
                                            VKA_JSON_SCHEMA_FLEXIBLE_WS, &gbnf),
                     VKA_OK, "%s", vka_last_error());
        vka_sampling_params sp;
        vka_sampling_params_default(&sp);
        sp.grammar = gbnf;
        vka_structured_checker *checker = NULL;
        cr_assert_eq(vka_structured_checker_create(&sp, &checker), VKA_OK, "%s\n%s", vka_last_error(), gbnf);
        bool accepted = false;
        /* what the template writes after the content, without the whitespace it may put first */
        size_t content_len = strlen(r->content);
        const char *calls = reply + content_len;
        if (format != VKA_TOOL_FORMAT_LLAMA3)
            while (*calls == ' ' || *calls == '\n') calls++;
        cr_assert_eq(vka_structured_check(checker, calls, strlen(calls), &accepted), VKA_OK, "%s", vka_last_error());
        cr_expect(accepted, "%s: the grammar refuses %s", template_name, calls);
        vka_structured_checker_free(checker);
        vka_free(gbnf);
    }
    vka_tool_calls_free(r);
    free(reply);
    free(full);
    free(prompt);
    free(tmpl);
}

Test(tool_calls, round_trip_qwen25) { round_trip("Qwen-Qwen2.5-7B-Instruct.jinja", VKA_TOOL_FORMAT_HERMES, 2, "<|im_end|>"); }
Test(tool_calls, round_trip_qwen3) { round_trip("Qwen-Qwen3-0.6B.jinja", VKA_TOOL_FORMAT_HERMES, 2, "<|im_end|>"); }
Test(tool_calls, round_trip_hermes3) {
    round_trip("NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja", VKA_TOOL_FORMAT_HERMES, 2, "<|im_end|>");
}
Test(tool_calls, round_trip_llama31) {
    round_trip("meta-llama-Llama-3.1-8B-Instruct.jinja", VKA_TOOL_FORMAT_LLAMA3, 1, "<|eot_id|>");
}
Test(tool_calls, round_trip_llama32) {
    round_trip("meta-llama-Llama-3.2-3B-Instruct.jinja", VKA_TOOL_FORMAT_LLAMA3, 1, "<|eot_id|>");
}
Test(tool_calls, round_trip_mistral_v03) {
    round_trip("mistralai-Mistral-7B-Instruct-v0.3.jinja", VKA_TOOL_FORMAT_MISTRAL, 2, "</s>");
}
Test(tool_calls, round_trip_mistral_nemo) {
    round_trip("mistralai-Mistral-Nemo-Instruct-2407.jinja", VKA_TOOL_FORMAT_MISTRAL, 2, "</s>");
}
Test(tool_calls, round_trip_mistral_small32) {
    round_trip("Mistral-Small-3.2-24B-Instruct-2506.jinja", VKA_TOOL_FORMAT_MISTRAL_ARGS, 2, "</s>");
}
Test(tool_calls, round_trip_devstral) {
    round_trip("unsloth-mistral-Devstral-Small-2507.jinja", VKA_TOOL_FORMAT_MISTRAL_ARGS, 2, "</s>");
}
Test(tool_calls, round_trip_qwen3_coder) {
    round_trip("Qwen3-Coder.jinja", VKA_TOOL_FORMAT_QWEN3_CODER, 2, "<|im_end|>");
}
Test(tool_calls, round_trip_qwen35) { round_trip("Qwen3.5-4B.jinja", VKA_TOOL_FORMAT_QWEN3_CODER, 2, "<|im_end|>"); }
/* GLM writes no end after the last assistant turn */
Test(tool_calls, round_trip_glm46) { round_trip("GLM-4.6.jinja", VKA_TOOL_FORMAT_GLM, 2, NULL); }

/* Templates whose call syntax is not read get no format (never a wrong one). */
Test(tool_calls, detect_unread_formats) {
    const char *names[] = {"meetkai-functionary-medium-v3.1.jinja", "MiniMax-M3.jinja", "google-gemma-2-2b-it.jinja"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char *tmpl = read_template(names[i]);
        cr_expect_eq(vka_tool_format_detect(tmpl), VKA_TOOL_FORMAT_NONE, "%s", names[i]);
        free(tmpl);
    }
}

Test(tool_calls, grammar_errors) {
    char *gbnf = NULL;
    cr_expect_eq(vka_tool_calls_grammar("[]", VKA_TOOL_FORMAT_HERMES, 0, 0, &gbnf), VKA_ERR_INVALID_ARGUMENT);
    cr_expect_eq(vka_tool_calls_grammar("{", VKA_TOOL_FORMAT_HERMES, 0, 0, &gbnf), VKA_ERR_INVALID_ARGUMENT);
    cr_expect_eq(vka_tool_calls_grammar(tools_json, VKA_TOOL_FORMAT_NONE, 0, 0, &gbnf), VKA_ERR_UNSUPPORTED);
    /* names the XML-like formats cannot write (the reader would end them early) */
    const char *spaced = "[{\"type\": \"function\", \"function\": {\"name\": \"a b\"}}]";
    cr_expect_eq(vka_tool_calls_grammar(spaced, VKA_TOOL_FORMAT_GLM, 0, 0, &gbnf), VKA_ERR_INVALID_ARGUMENT);
    const char *angled = "[{\"type\": \"function\", \"function\": {\"name\": \"a\", \"parameters\": "
                         "{\"type\": \"object\", \"properties\": {\"x>y\": {}}}}}]";
    cr_expect_eq(vka_tool_calls_grammar(angled, VKA_TOOL_FORMAT_QWEN3_CODER, 0, 0, &gbnf), VKA_ERR_INVALID_ARGUMENT);
    const char *none = "[{\"type\": \"function\", \"function\": {\"name\": \"a\", \"parameters\": "
                       "{\"type\": \"object\", \"properties\": {\"x\": {\"type\": \"string\", \"enum\": []}}}}}]";
    cr_expect_eq(vka_tool_calls_grammar(none, VKA_TOOL_FORMAT_QWEN3_CODER, 0, 0, &gbnf), VKA_ERR_GRAMMAR);
    cr_expect_null(gbnf);
}

/* Without AUTO, only calls; with it, text first (not holding the marker). */
Test(tool_calls, grammar_required_and_auto) {
    char *gbnf = NULL;
    cr_assert_eq(vka_tool_calls_grammar(tools_json, VKA_TOOL_FORMAT_HERMES, 0, 0, &gbnf), VKA_OK, "%s", vka_last_error());
    vka_sampling_params sp;
    vka_sampling_params_default(&sp);
    sp.grammar = gbnf;
    vka_structured_checker *checker = NULL;
    cr_assert_eq(vka_structured_checker_create(&sp, &checker), VKA_OK, "%s\n%s", vka_last_error(), gbnf);
    const char *one = "<tool_call>\n{\"name\":\"search\",\"arguments\":{\"query\":\"x\"}}\n</tool_call>";
    bool ok = false;
    cr_assert_eq(vka_structured_check(checker, one, strlen(one), &ok), VKA_OK);
    cr_expect(ok);
    const char *two = "<tool_call>\n{\"name\":\"search\",\"arguments\":{\"query\":\"x\"}}\n</tool_call>\n"
                      "<tool_call>\n{\"name\":\"search\",\"arguments\":{\"query\":\"x\"}}\n</tool_call>";
    cr_assert_eq(vka_structured_check(checker, two, strlen(two), &ok), VKA_OK);
    cr_expect(!ok, "one call without PARALLEL");
    const char *wrong = "<tool_call>\n{\"name\":\"search\",\"arguments\":{\"city\":\"x\"}}\n</tool_call>";
    cr_assert_eq(vka_structured_check(checker, wrong, strlen(wrong), &ok), VKA_OK);
    cr_expect(!ok, "arguments under the tool's own schema");
    cr_assert_eq(vka_structured_check(checker, "Hi", 2, &ok), VKA_OK);
    cr_expect(!ok, "no text without AUTO");
    vka_structured_checker_free(checker);
    vka_free(gbnf);
}

static bool grammar_accepts_tools(const char *tools, vka_tool_format format, uint32_t flags, const char *doc) {
    char *gbnf = NULL;
    cr_assert_eq(vka_tool_calls_grammar(tools, format, flags, 0, &gbnf), VKA_OK, "%s", vka_last_error());
    vka_sampling_params sp;
    vka_sampling_params_default(&sp);
    sp.grammar = gbnf;
    vka_structured_checker *checker = NULL;
    cr_assert_eq(vka_structured_checker_create(&sp, &checker), VKA_OK, "%s\n%s", vka_last_error(), gbnf);
    bool ok = false;
    cr_assert_eq(vka_structured_check(checker, doc, strlen(doc), &ok), VKA_OK);
    vka_structured_checker_free(checker);
    vka_free(gbnf);
    return ok;
}

static bool grammar_accepts(vka_tool_format format, uint32_t flags, const char *doc) {
    return grammar_accepts_tools(tools_json, format, flags, doc);
}

Test(tool_calls, grammar_mistral_and_llama3) {
    uint32_t auto_parallel = VKA_TOOL_GRAMMAR_AUTO | VKA_TOOL_GRAMMAR_PARALLEL;
    cr_expect(grammar_accepts(VKA_TOOL_FORMAT_MISTRAL_ARGS, auto_parallel,
                              "Sure [1] ok[TOOL_CALLS]search[ARGS]{\"query\":\"x\"}[TOOL_CALLS]get_weather[ARGS]"
                              "{\"city\":\"P\"}"));
    cr_expect(!grammar_accepts(VKA_TOOL_FORMAT_MISTRAL_ARGS, auto_parallel, "[TOOL_CALLS]nope[ARGS]{}"),
              "only the tools' names");
    cr_expect(!grammar_accepts(VKA_TOOL_FORMAT_MISTRAL_ARGS, auto_parallel, "[TOOL_CALLS]search[ARGS]{\"days\":1}"),
              "each tool's own schema");
    cr_expect(!grammar_accepts(VKA_TOOL_FORMAT_MISTRAL_ARGS, VKA_TOOL_GRAMMAR_AUTO,
                               "[TOOL_CALLS]search[ARGS]{\"query\":\"x\"}[TOOL_CALLS]search[ARGS]{\"query\":\"x\"}"),
              "one call without PARALLEL");
    cr_expect(grammar_accepts(VKA_TOOL_FORMAT_MISTRAL, auto_parallel,
                              "[TOOL_CALLS][{\"name\":\"search\",\"arguments\":{\"query\":\"x\"}},"
                              " {\"name\":\"get_weather\",\"arguments\":{\"city\":\"P\"},\"id\":\"abcDEF123\"}]"));
    cr_expect(grammar_accepts(VKA_TOOL_FORMAT_MISTRAL, 0, "[TOOL_CALLS] [{\"name\":\"search\",\"arguments\":{\"query\":\"x\"}}]"),
              "v0.3's space after the marker");
    cr_expect(grammar_accepts(VKA_TOOL_FORMAT_LLAMA3, auto_parallel, "Hi {there}"));
    cr_expect(!grammar_accepts(VKA_TOOL_FORMAT_LLAMA3, auto_parallel, "{there}"));
    cr_expect(grammar_accepts(VKA_TOOL_FORMAT_LLAMA3, 0, "{\"name\":\"search\",\"parameters\":{\"query\":\"x\"}}"));
    cr_expect(!grammar_accepts(VKA_TOOL_FORMAT_LLAMA3, 0, "Hi"));
}

/* ---------------------------------------------------------------- Qwen3-Coder and GLM: one element per argument */

/* s: text under a pattern that allows the closing tag's characters; n: an
 * integer; u: an enum of text; o: a JSON object; "any": no declared
 * parameters, so any. */
static const char *xml_tools =
    "[{\"type\": \"function\", \"function\": {\"name\": \"f\", \"parameters\": {\"type\": \"object\", \"properties\": {"
    "\"s\": {\"type\": \"string\", \"pattern\": \"^[a-z<>/ ]+$\"}, \"n\": {\"type\": \"integer\"}, "
    "\"u\": {\"enum\": [\"c\", \"f\"]}, \"o\": {\"type\": \"object\", \"properties\": {\"a\": {\"type\": \"boolean\"}}, "
    "\"required\": [\"a\"], \"additionalProperties\": false}}, \"required\": [\"s\", \"n\"]}}},"
    "{\"type\": \"function\", \"function\": {\"name\": \"any\", \"parameters\": {\"type\": \"object\"}}}]";

static char *qwen_call(const char *params) {
    char *doc = NULL;
    cr_assert(asprintf(&doc, "<tool_call>\n<function=f>\n%s</function>\n</tool_call>", params) > 0);
    return doc;
}

static bool qwen_accepts(uint32_t flags, const char *params) {
    char *doc = qwen_call(params);
    bool ok = grammar_accepts_tools(xml_tools, VKA_TOOL_FORMAT_QWEN3_CODER, flags, doc);
    free(doc);
    return ok;
}

#define QP(name, value) "<parameter=" name ">\n" value "\n</parameter>\n"

Test(tool_calls, grammar_qwen3_coder) {
    cr_expect(qwen_accepts(0, QP("s", "ab <x/>") QP("n", "42")));
    cr_expect(qwen_accepts(0, QP("s", "ab") QP("n", "-7") QP("u", "f") QP("o", "{\"a\":true}")));
    cr_expect(!qwen_accepts(0, QP("s", "ab") QP("n", "4.5")), "n is an integer");
    cr_expect(!qwen_accepts(0, QP("s", "ab") QP("n", "1") QP("u", "k")), "u's enum");
    cr_expect(!qwen_accepts(0, QP("s", "ab")), "n is required");
    cr_expect(!qwen_accepts(0, QP("s", "AB") QP("n", "1")), "s's pattern");
    cr_expect(!qwen_accepts(0, QP("s", "a </parameter> b") QP("n", "1")), "text never holds its closing tag");
    cr_expect(!qwen_accepts(0, QP("s", "ab") QP("n", "1") QP("z", "1")), "no undeclared parameter");
    cr_expect(!qwen_accepts(0, QP("s", "ab") QP("n", "1") QP("o", "{\"b\":1}")), "o's own schema");
    cr_expect(!qwen_accepts(0, QP("n", "1") QP("s", "ab")), "the schema's order");
    const char *two = "<tool_call>\n<function=any>\n" QP("whatever", "[1, 2]") QP("k", "free text") "</function>\n</tool_call>\n"
                      "<tool_call>\n<function=f>\n" QP("s", "x") QP("n", "1") "</function>\n</tool_call>";
    uint32_t auto_parallel = VKA_TOOL_GRAMMAR_AUTO | VKA_TOOL_GRAMMAR_PARALLEL;
    cr_expect(grammar_accepts_tools(xml_tools, VKA_TOOL_FORMAT_QWEN3_CODER, auto_parallel, two));
    cr_expect(!grammar_accepts_tools(xml_tools, VKA_TOOL_FORMAT_QWEN3_CODER, VKA_TOOL_GRAMMAR_AUTO, two),
              "one call without PARALLEL");
    char *text_first = NULL;
    cr_assert(asprintf(&text_first, "Let me check 1 < 2.\n\n%s", two) > 0);
    cr_expect(grammar_accepts_tools(xml_tools, VKA_TOOL_FORMAT_QWEN3_CODER, auto_parallel, text_first));
    cr_expect(!grammar_accepts_tools(xml_tools, VKA_TOOL_FORMAT_QWEN3_CODER, VKA_TOOL_GRAMMAR_PARALLEL, text_first),
              "no text without AUTO");
    free(text_first);
}

/* A text parameter's lengths (in characters) and format hold too. */
Test(tool_calls, grammar_text_lengths_and_format) {
    const char *tools = "[{\"type\": \"function\", \"function\": {\"name\": \"g\", \"parameters\": {\"type\": \"object\", "
                        "\"properties\": {\"w\": {\"type\": \"string\", \"minLength\": 2, \"maxLength\": 3}, "
                        "\"d\": {\"type\": \"string\", \"format\": \"date\"}}, \"required\": [\"w\", \"d\"]}}}]";
#define G(w, d) "<tool_call>\n<function=g>\n" QP("w", w) QP("d", d) "</function>\n</tool_call>"
    cr_expect(grammar_accepts_tools(tools, VKA_TOOL_FORMAT_QWEN3_CODER, 0, G("ab", "2024-02-29")));
    cr_expect(grammar_accepts_tools(tools, VKA_TOOL_FORMAT_QWEN3_CODER, 0, G("\u00e9t\u00e9", "2024-02-29")), "characters, not bytes");
    cr_expect(!grammar_accepts_tools(tools, VKA_TOOL_FORMAT_QWEN3_CODER, 0, G("a", "2024-02-29")), "minLength");
    cr_expect(!grammar_accepts_tools(tools, VKA_TOOL_FORMAT_QWEN3_CODER, 0, G("abcd", "2024-02-29")), "maxLength");
    cr_expect(!grammar_accepts_tools(tools, VKA_TOOL_FORMAT_QWEN3_CODER, 0, G("ab", "2023-02-29")), "format date");
#undef G
}

#define GP(name, value) "<arg_key>" name "</arg_key><arg_value>" value "</arg_value>"

Test(tool_calls, grammar_glm) {
    uint32_t parallel = VKA_TOOL_GRAMMAR_PARALLEL;
    /* GLM 4.7 writes no newlines (its prompt opens <think>, which the history
     * closes: no round trip above), GLM 4.6 one after each part */
    cr_expect(grammar_accepts_tools(xml_tools, VKA_TOOL_FORMAT_GLM, parallel,
                                    "<tool_call>f" GP("s", "a<b") GP("n", "3") "</tool_call><tool_call>any</tool_call>"));
    cr_expect(grammar_accepts_tools(xml_tools, VKA_TOOL_FORMAT_GLM, parallel,
                                    "<tool_call>f\n<arg_key>s</arg_key>\n<arg_value>ab</arg_value>\n<arg_key>n</arg_key>\n"
                                    "<arg_value>3</arg_value>\n</tool_call>"));
    cr_expect(!grammar_accepts_tools(xml_tools, VKA_TOOL_FORMAT_GLM, parallel, "<tool_call>f" GP("s", "ab") "</tool_call>"),
              "n is required");
    cr_expect(!grammar_accepts_tools(xml_tools, VKA_TOOL_FORMAT_GLM, parallel,
                                     "<tool_call>f" GP("s", "a</arg_value>b") GP("n", "3") "</tool_call>"));
    cr_expect(!grammar_accepts_tools(xml_tools, VKA_TOOL_FORMAT_GLM, parallel, "<tool_call>g</tool_call>"),
              "only the tools' names");
}

/* Text parameters keep their text with the tools' schemas, whatever it looks like. */
Test(tool_calls, parse_with_tool_schemas) {
    const char *text = "<tool_call>\n<function=f>\n" QP("s", "42") QP("n", "42") QP("u", "true") "</function>\n</tool_call>";
    vka_tool_calls *r = NULL;
    cr_assert_eq(vka_tool_calls_parse_tools(text, VKA_TOOL_FORMAT_QWEN3_CODER, xml_tools, &r), VKA_OK);
    cr_assert_eq(r->n_calls, 1);
    expect_call(r, 0, "f", "{\"s\": \"42\", \"n\": 42, \"u\": \"true\"}");
    vka_tool_calls_free(r);
    r = parse(text, VKA_TOOL_FORMAT_QWEN3_CODER);
    expect_call(r, 0, "f", "{\"s\": 42, \"n\": 42, \"u\": true}");
    vka_tool_calls_free(r);
    r = NULL;
    cr_assert_eq(vka_tool_calls_parse_tools("<tool_call>f" GP("s", "[1]") GP("n", "1") "</tool_call>", VKA_TOOL_FORMAT_GLM,
                                            xml_tools, &r),
                 VKA_OK);
    expect_call(r, 0, "f", "{\"s\": \"[1]\", \"n\": 1}");
    vka_tool_calls_free(r);
    r = NULL;
    cr_expect_eq(vka_tool_calls_parse_tools(text, VKA_TOOL_FORMAT_QWEN3_CODER, "{}", &r), VKA_ERR_INVALID_ARGUMENT);
    cr_expect_null(r);
    /* what decides it, for the server's incremental reader */
    cr_expect(vka_tool_parameter_is_text(xml_tools, "f", "s"));
    cr_expect(vka_tool_parameter_is_text(xml_tools, "f", "u"), "an enum of strings alone");
    cr_expect(!vka_tool_parameter_is_text(xml_tools, "f", "n"));
    cr_expect(!vka_tool_parameter_is_text(xml_tools, "f", "o"));
    cr_expect(!vka_tool_parameter_is_text(xml_tools, "f", "nope"));
    cr_expect(!vka_tool_parameter_is_text(xml_tools, "g", "s"));
    cr_expect(!vka_tool_parameter_is_text(NULL, "f", "s"));
}
