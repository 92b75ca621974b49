/* test_chat.c — chat templates: every render in the tokenizers' chat.json
 * goldens and in tests/data/chat_goldens.json (both from an independent
 * Jinja implementation running the models' own templates), family
 * detection from template snippets, hand-derived renders of the other
 * families, and the errors. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/chat.h"
#include "test_util.h"

/* ---------------------------------------------------------------- helpers */

static cJSON *read_json(const char *path) {
    char *text = test_read_file(path, NULL);
    cr_assert_not_null(text, "cannot read %s", path);
    cJSON *json = cJSON_Parse(text);
    free(text);
    cr_assert_not_null(json, "%s is not valid JSON", path);
    return json;
}

/* The model's own template and BOS/EOS texts, from tokenizer_config.json. */
typedef struct model_template {
    cJSON *config;
    const char *text;
    const char *bos;
    const char *eos;
} model_template;

static model_template load_template(const char *model) {
    char rel[128];
    snprintf(rel, sizeof rel, "tokenizers/%s/tokenizer_config.json", model);
    const char *path = test_data_path(rel);
    REQUIRE_FIXTURE(path);
    model_template t = {.config = read_json(path)};
    const cJSON *tmpl = cJSON_GetObjectItemCaseSensitive(t.config, "chat_template");
    cr_assert(cJSON_IsString(tmpl), "%s has no chat_template string", path);
    t.text = tmpl->valuestring;
    const cJSON *bos = cJSON_GetObjectItemCaseSensitive(t.config, "bos_token");
    const cJSON *eos = cJSON_GetObjectItemCaseSensitive(t.config, "eos_token");
    t.bos = cJSON_IsString(bos) ? bos->valuestring : "";
    t.eos = cJSON_IsString(eos) ? eos->valuestring : "";
    return t;
}

typedef struct render_opts {
    const char *template_text;
    const char *family;
    const char *tools;
    bool no_generation_prompt;
    bool no_thinking;
    const char *bos, *eos;
} render_opts;

/* Renders a messages JSON array through the parser and the renderer. */
static vka_status try_render(const char *messages_json, render_opts o, char **out) {
    vka_chat_message *msgs = NULL;
    size_t n = 0;
    vka_status st = vka_chat_messages_from_json(messages_json, &msgs, &n);
    cr_assert_eq(st, VKA_OK, "messages do not parse: %s", vka_last_error());
    vka_chat_render_params p;
    vka_chat_render_params_init(&p);
    p.template_text = o.template_text;
    p.family = o.family;
    p.tools_json = o.tools;
    p.add_generation_prompt = !o.no_generation_prompt;
    p.enable_thinking = !o.no_thinking;
    p.bos_text = o.bos;
    p.eos_text = o.eos;
    st = vka_chat_render(&p, msgs, n, out);
    vka_chat_messages_free(msgs, n);
    return st;
}

static char *render(const char *messages_json, render_opts o) {
    char *out = NULL;
    vka_status st = try_render(messages_json, o, &out);
    cr_assert_eq(st, VKA_OK, "render failed: %s", vka_last_error());
    cr_assert_not_null(out);
    return out;
}

static void expect_render(const char *messages_json, render_opts o, const char *expected) {
    char *got = render(messages_json, o);
    cr_expect_str_eq(got, expected, "family %s", o.family ? o.family : "(detected)");
    free(got);
}

static void expect_failure(const char *messages_json, render_opts o, vka_status want, const char *fragment) {
    char *out = (char *)1;
    vka_status st = try_render(messages_json, o, &out);
    cr_expect_eq(st, want, "got %s (%s)", vka_status_name(st), vka_last_error());
    cr_expect_null(out);
    cr_expect(strstr(vka_last_error(), fragment) != NULL, "message \"%s\" lacks \"%s\"", vka_last_error(), fragment);
}

static char *print_item(const cJSON *item) {
    char *s = cJSON_PrintUnformatted(item);
    cr_assert_not_null(s);
    return s;
}

/* Renders one golden input ({messages, tools}) with the model's template. */
static void check_golden(const model_template *t, const cJSON *input, const char *expected, bool gen, bool thinking,
                         const char *what) {
    char *messages = print_item(cJSON_GetObjectItemCaseSensitive(input, "messages"));
    const cJSON *tools_item = cJSON_GetObjectItemCaseSensitive(input, "tools");
    char *tools = tools_item ? print_item(tools_item) : NULL;
    render_opts o = {.template_text = t->text, .tools = tools, .no_generation_prompt = !gen,
                     .no_thinking = !thinking, .bos = t->bos, .eos = t->eos};
    char *got = render(messages, o);
    cr_expect_str_eq(got, expected, "%s", what);
    free(got);
    free(messages);
    free(tools);
}

static void check_chat_json(const char *model) {
    model_template t = load_template(model);
    char rel[128];
    snprintf(rel, sizeof rel, "tokenizers/%s.chat.json", model);
    const char *path = test_data_path(rel);
    REQUIRE_FIXTURE(path);
    cJSON *goldens = read_json(path);
    const cJSON *renders = cJSON_GetObjectItemCaseSensitive(goldens, "renders");
    cr_assert(cJSON_IsArray(renders) && cJSON_GetArraySize(renders) > 0, "%s has no renders", path);
    int i = 0;
    for (const cJSON *r = renders->child; r; r = r->next, i++) {
        const cJSON *rendered = cJSON_GetObjectItemCaseSensitive(r, "rendered");
        cr_assert(cJSON_IsString(rendered));
        char what[64];
        snprintf(what, sizeof what, "%s render %d", model, i);
        /* these renders end in the assistant header: add_generation_prompt */
        check_golden(&t, cJSON_GetObjectItemCaseSensitive(r, "input"), rendered->valuestring, true, true, what);
    }
    cJSON_Delete(goldens);
    cJSON_Delete(t.config);
}

/* ---------------------------------------------------------------- goldens */

Test(chat, qwen3_chat_json_goldens) { check_chat_json("qwen3"); }

Test(chat, llama3_chat_json_goldens) { check_chat_json("llama3"); }

/* tests/data: more cases (tool loops, thinking, add_generation_prompt false,
 * Chinese, awkward JSON) rendered by @huggingface/jinja from the same templates. */
Test(chat, extra_goldens_from_models_templates) {
    const char *src = getenv("VKAGENT_SOURCE_DIR");
    char cases_path[1024], goldens_path[1024];
    snprintf(cases_path, sizeof cases_path, "%s/tests/data/chat_cases.json", src ? src : ".");
    snprintf(goldens_path, sizeof goldens_path, "%s/tests/data/chat_goldens.json", src ? src : ".");
    cr_assert(test_file_exists(cases_path), "missing %s (set VKAGENT_SOURCE_DIR)", cases_path);
    model_template qwen3 = load_template("qwen3"), llama3 = load_template("llama3");
    cJSON *cases = read_json(cases_path);
    cJSON *goldens = read_json(goldens_path);
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(cases, "cases")->child;
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(goldens, "renders")->child;
    int count = 0;
    for (; c && g; c = c->next, g = g->next, count++) {
        const char *name = cJSON_GetObjectItemCaseSensitive(c, "name")->valuestring;
        cr_assert_str_eq(cJSON_GetObjectItemCaseSensitive(g, "name")->valuestring, name, "cases and goldens out of step");
        const char *which = cJSON_GetObjectItemCaseSensitive(c, "template")->valuestring;
        const cJSON *thinking = cJSON_GetObjectItemCaseSensitive(c, "enable_thinking");
        bool gen = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "add_generation_prompt"));
        check_golden(strcmp(which, "qwen3") == 0 ? &qwen3 : &llama3, c,
                     cJSON_GetObjectItemCaseSensitive(g, "rendered")->valuestring, gen, !cJSON_IsFalse(thinking), name);
    }
    cr_expect(!c && !g, "cases and goldens differ in number");
    cr_expect_geq(count, 10);
    cJSON_Delete(qwen3.config);
    cJSON_Delete(llama3.config);
    cJSON_Delete(cases);
    cJSON_Delete(goldens);
}

/* ---------------------------------------------------------------- detection */

typedef struct snippet {
    const char *text;
    const char *family;
} snippet;

Test(chat, detects_families_from_snippets) {
    /* Small made-up templates carrying each family's markers. */
    static const snippet snippets[] = {
        {"{% for m in messages %}{{ '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' }}{% endfor %}",
         "chatml"},
        {"{{- '<|im_start|>' + message.role + '\\n<think>\\n' + reasoning_content + '\\n</think>\\n\\n' }}", "qwen3"},
        {"{{ bos_token }}{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' }}", "llama3"},
        {"{{- \"Cutting Knowledge Date: December 2023\\n\" }}<|start_header_id|>system<|end_header_id|>", "llama3.1"},
        {"<|start_header_id|>assistant<|end_header_id|>{{- \"<|python_tag|>\" + tool_call.name }}", "llama3.1"},
        {"{{ '[INST] <<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + content + ' [/INST]' }}", "llama2"},
        {"{{ bos_token }}{% if m['role'] == 'user' %}{{ '[INST] ' + m['content'] + ' [/INST]' }}{% endif %}",
         "mistral"},
        {"{{- \"[AVAILABLE_TOOLS] [\" }}{{- \"[INST] \" + message[\"content\"] + \"[/INST]\" }}", "mistral-v3"},
        {"{{ '<|user|>\\n' + message['content'] + eos_token }}{{ '<|assistant|>' }}", "zephyr"},
        {"{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}", "gemma"},
        {"{{'<|user|>\\n' + message['content'] + '<|end|>\\n'}}{{ '<|assistant|>\\n' }}", "phi3"},
    };
    for (size_t i = 0; i < sizeof snippets / sizeof snippets[0]; i++) {
        bool recognised = false;
        vka_chat_family f = vka_chat_detect(snippets[i].text, &recognised);
        cr_expect_str_eq(vka_chat_family_name(f), snippets[i].family, "snippet %zu: %s", i, snippets[i].text);
        cr_expect(recognised, "snippet %zu", i);
    }
}

Test(chat, detects_the_shared_templates) {
    model_template q = load_template("qwen3"), l = load_template("llama3");
    cr_expect_str_eq(vka_chat_family_name(vka_chat_detect(q.text, NULL)), "qwen3");
    cr_expect_str_eq(vka_chat_family_name(vka_chat_detect(l.text, NULL)), "llama3");
    cJSON_Delete(q.config);
    cJSON_Delete(l.config);
}

Test(chat, fallback_is_chatml) {
    bool recognised = true;
    cr_expect_eq(vka_chat_detect(NULL, &recognised), VKA_CHAT_CHATML);
    cr_expect(!recognised);
    recognised = true;
    cr_expect_eq(vka_chat_detect("", &recognised), VKA_CHAT_CHATML);
    cr_expect(!recognised);
    recognised = true;
    cr_expect_eq(vka_chat_detect("{% for m in messages %}### {{ m.role }}: {{ m.content }}\n{% endfor %}", &recognised),
                 VKA_CHAT_CHATML);
    cr_expect(!recognised);
    expect_render("[{\"role\":\"user\",\"content\":\"Hi\"}]", (render_opts){.template_text = "{{ messages }}"},
                  "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
    expect_render("[{\"role\":\"user\",\"content\":\"Hi\"}]", (render_opts){0},
                  "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
}

Test(chat, family_names) {
    for (int f = 0; f < VKA_CHAT_FAMILY_COUNT; f++) {
        vka_chat_family back;
        cr_expect_eq(vka_chat_family_from_name(vka_chat_family_name((vka_chat_family)f), &back), VKA_OK);
        cr_expect_eq(back, (vka_chat_family)f);
    }
    vka_chat_family f;
    cr_expect_eq(vka_chat_family_from_name("LLaMA3", &f), VKA_OK);
    cr_expect_eq(f, VKA_CHAT_LLAMA3);
    cr_expect_eq(vka_chat_family_from_name("vicuna", &f), VKA_ERR_NOT_FOUND);
    cr_expect(strstr(vka_last_error(), "vicuna") && strstr(vka_last_error(), "chatml"), "%s", vka_last_error());
    expect_failure("[{\"role\":\"user\",\"content\":\"Hi\"}]", (render_opts){.family = "vicuna"}, VKA_ERR_NOT_FOUND,
                   "HINT");
}

/* ---------------------------------------------------------------- ChatML / Qwen by hand */

static const char *const qwen_tools_head =
    "<|im_start|>system\n"
    "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n";
static const char *const qwen_tools_tail =
    "\n</tools>\n\nFor each function call, return a json object with function name and arguments within "
    "<tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": "
    "<args-json-object>}\n</tool_call><|im_end|>\n";

Test(chat, qwen_tool_calls_and_results_by_hand) {
    /* Derived from the Qwen3 template: a null content renders as "", so the
     * first <tool_call> follows the header's newline directly; calls are
     * separated by "\n"; string arguments go in as they are, objects through
     * tojson; consecutive results share one user turn. */
    const char *tools = "[{\"type\":\"function\",\"function\":{\"name\":\"add\",\"parameters\":{\"type\":\"object\"}}}]";
    const char *msgs =
        "[{\"role\":\"user\",\"content\":\"1+2 and 3+4?\"},"
        " {\"role\":\"assistant\",\"content\":null,\"tool_calls\":["
        "   {\"function\":{\"name\":\"add\",\"arguments\":{\"xs\":[1,2]}}},"
        "   {\"name\":\"add\",\"arguments\":\"{\\\"xs\\\":[3,4]}\"}]},"
        " {\"role\":\"tool\",\"content\":\"3\"},"
        " {\"role\":\"tool\",\"content\":\"7\"}]";
    char expected[2048];
    snprintf(expected, sizeof expected,
             "%s{\"type\": \"function\", \"function\": {\"name\": \"add\", \"parameters\": {\"type\": \"object\"}}}%s"
             "<|im_start|>user\n1+2 and 3+4?<|im_end|>\n"
             "<|im_start|>assistant\n"
             "<tool_call>\n{\"name\": \"add\", \"arguments\": {\"xs\": [1, 2]}}\n</tool_call>\n"
             "<tool_call>\n{\"name\": \"add\", \"arguments\": {\"xs\":[3,4]}}\n</tool_call><|im_end|>\n"
             "<|im_start|>user\n<tool_response>\n3\n</tool_response>\n<tool_response>\n7\n</tool_response><|im_end|>\n"
             "<|im_start|>assistant\n",
             qwen_tools_head, qwen_tools_tail);
    expect_render(msgs, (render_opts){.family = "qwen3", .tools = tools}, expected);
    /* plain ChatML uses the same tool convention; the assistant turn after
     * the results would carry <think> only in qwen3 */
    expect_render(msgs, (render_opts){.family = "chatml", .tools = tools}, expected);
}

Test(chat, qwen3_thinking_by_hand) {
    /* Python semantics of lstrip('\n'): only newlines go, so the two spaces
     * before the answer stay. Reasoning before </think> without <think> is
     * taken whole. The turn before the last query loses its thinking. */
    const char *msgs =
        "[{\"role\":\"user\",\"content\":\"a\"},"
        " {\"role\":\"assistant\",\"content\":\"old thoughts</think>\\n\\nold answer\"},"
        " {\"role\":\"user\",\"content\":\"b\"},"
        " {\"role\":\"assistant\",\"content\":\"\\n<think>\\n\\nnew\\nthoughts\\n\\n</think>\\n\\n  new answer\"}]";
    expect_render(msgs, (render_opts){.family = "qwen3", .no_generation_prompt = true},
                  "<|im_start|>user\na<|im_end|>\n"
                  "<|im_start|>assistant\nold answer<|im_end|>\n"
                  "<|im_start|>user\nb<|im_end|>\n"
                  "<|im_start|>assistant\n<think>\nnew\nthoughts\n</think>\n\n  new answer<|im_end|>\n");
    /* plain ChatML leaves the content alone */
    expect_render(msgs, (render_opts){.family = "chatml", .no_generation_prompt = true},
                  "<|im_start|>user\na<|im_end|>\n"
                  "<|im_start|>assistant\nold thoughts</think>\n\nold answer<|im_end|>\n"
                  "<|im_start|>user\nb<|im_end|>\n"
                  "<|im_start|>assistant\n\n<think>\n\nnew\nthoughts\n\n</think>\n\n  new answer<|im_end|>\n");
    /* a tool result wrapped as a user message is not a query */
    expect_render("[{\"role\":\"user\",\"content\":\"q\"},"
                  " {\"role\":\"assistant\",\"content\":\"x\",\"reasoning_content\":\"r1\"},"
                  " {\"role\":\"user\",\"content\":\"<tool_response>\\n5\\n</tool_response>\"},"
                  " {\"role\":\"assistant\",\"content\":\"y\",\"reasoning_content\":\"r2\"}]",
                  (render_opts){.family = "qwen3"},
                  "<|im_start|>user\nq<|im_end|>\n"
                  "<|im_start|>assistant\n<think>\nr1\n</think>\n\nx<|im_end|>\n"
                  "<|im_start|>user\n<tool_response>\n5\n</tool_response><|im_end|>\n"
                  "<|im_start|>assistant\n<think>\nr2\n</think>\n\ny<|im_end|>\n"
                  "<|im_start|>assistant\n");
}

Test(chat, chatml_default_system_from_template) {
    /* Qwen2-style template: a literal default system message. */
    const char *qwen2 = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
                        "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}"
                        "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
                        "{% endfor %}";
    expect_render("[{\"role\":\"user\",\"content\":\"Hi\"}]", (render_opts){.template_text = qwen2},
                  "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
                  "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
    expect_render("[{\"role\":\"system\",\"content\":\"S\"},{\"role\":\"user\",\"content\":\"Hi\"}]",
                  (render_opts){.template_text = qwen2},
                  "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
    /* Qwen2.5-style: the default also heads the tools section. */
    const char *qwen25 = "{%- if tools %}{{- '<|im_start|>system\\n' }}{%- else %}"
                         "{{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
                         "assistant.<|im_end|>\\n' }}{%- endif %}";
    char expected[2048];
    snprintf(expected, sizeof expected,
             "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.\n\n%s"
             "{\"name\": \"t\"}%s<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
             strstr(qwen_tools_head, "# Tools"), qwen_tools_tail);
    expect_render("[{\"role\":\"user\",\"content\":\"Hi\"}]",
                  (render_opts){.template_text = qwen25, .tools = "[{\"name\":\"t\"}]"}, expected);
    /* an override ignores the template: no default system */
    expect_render("[{\"role\":\"user\",\"content\":\"Hi\"}]", (render_opts){.template_text = qwen2, .family = "chatml"},
                  "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
}

Test(chat, chinese_round_trip) {
    const char *text = "我想了解关于GPT-4的更多信息。";
    char expected[512];
    snprintf(expected, sizeof expected, "<|im_start|>user\n%s<|im_end|>\n<|im_start|>assistant\n", text);
    expect_render("[{\"role\":\"user\",\"content\":\"我想了解关于GPT-4的更多信息。\"}]", (render_opts){.family = "qwen3"},
                  expected);
    /* the same text written with \u escapes in the JSON */
    expect_render("[{\"role\":\"user\",\"content\":\"\\u6211\\u60f3\\u4e86\\u89e3\\u5173\\u4e8eGPT-4\\u7684\\u66f4"
                  "\\u591a\\u4fe1\\u606f\\u3002\"}]",
                  (render_opts){.family = "qwen3"}, expected);
    snprintf(expected, sizeof expected,
             "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n%s<|eot_id|>"
             "<|start_header_id|>assistant<|end_header_id|>\n\n",
             text);
    expect_render("[{\"role\":\"user\",\"content\":\" 我想了解关于GPT-4的更多信息。\\n\"}]", (render_opts){.family = "llama3"},
                  expected);
}

/* ---------------------------------------------------------------- Llama 3 / 3.1 by hand */

Test(chat, llama3_generation_prompt_switch) {
    /* with a template that reads add_generation_prompt (Llama-3 Instruct's),
     * or with the override, false means no trailing header */
    const char *instruct = "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' }}"
                           "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}"
                           "{% endif %}";
    const char *expected = "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>";
    expect_render("[{\"role\":\"user\",\"content\":\"Hi\"}]",
                  (render_opts){.template_text = instruct, .no_generation_prompt = true}, expected);
    expect_render("[{\"role\":\"user\",\"content\":\"Hi\"}]", (render_opts){.family = "llama3", .no_generation_prompt = true},
                  expected);
    expect_render("[{\"role\":\"user\",\"content\":\"Hi\"}]",
                  (render_opts){.family = "llama3", .no_generation_prompt = true, .bos = ""},
                  expected + strlen("<|begin_of_text|>"));
}

Test(chat, llama31_tools_by_hand) {
    /* Derived from the layout of Meta's Llama 3.1 template: default date,
     * tools in the first user message as tojson(indent=4), one JSON call per
     * assistant turn with "parameters", results in ipython turns whose string
     * content goes through tojson. */
    const char *tools = "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":"
                        "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}}}}]";
    const char *msgs =
        "[{\"role\":\"system\",\"content\":\"You are helpful. \"},"
        " {\"role\":\"user\",\"content\":\"Weather in Paris?\"},"
        " {\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"c1\",\"type\":\"function\","
        "   \"function\":{\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}}]},"
        " {\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"{\\\"temp_c\\\": 18}\"}]";
    expect_render(msgs, (render_opts){.family = "llama3.1", .tools = tools},
                  "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
                  "Environment: ipython\n"
                  "Cutting Knowledge Date: December 2023\n"
                  "Today Date: 26 Jul 2024\n\n"
                  "You are helpful.<|eot_id|>"
                  "<|start_header_id|>user<|end_header_id|>\n\n"
                  "Given the following functions, please respond with a JSON for a function call with its proper "
                  "arguments that best answers the given prompt.\n\n"
                  "Respond in the format {\"name\": function name, \"parameters\": dictionary of argument name and "
                  "its value}.Do not use variables.\n\n"
                  "{\n"
                  "    \"type\": \"function\",\n"
                  "    \"function\": {\n"
                  "        \"name\": \"get_weather\",\n"
                  "        \"parameters\": {\n"
                  "            \"type\": \"object\",\n"
                  "            \"properties\": {\n"
                  "                \"city\": {\n"
                  "                    \"type\": \"string\"\n"
                  "                }\n"
                  "            }\n"
                  "        }\n"
                  "    }\n"
                  "}\n\n"
                  "Weather in Paris?<|eot_id|>"
                  "<|start_header_id|>assistant<|end_header_id|>\n\n"
                  "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}<|eot_id|>"
                  "<|start_header_id|>ipython<|end_header_id|>\n\n"
                  "\"{\\\"temp_c\\\": 18}\"<|eot_id|>"
                  "<|start_header_id|>assistant<|end_header_id|>\n\n");
    /* without tools: the dated system header still opens the prompt */
    expect_render("[{\"role\":\"user\",\"content\":\"Hi\"}]", (render_opts){.family = "llama3.1", .no_generation_prompt = true},
                  "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
                  "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n<|eot_id|>"
                  "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>");
    /* the template takes one call per message */
    expect_failure("[{\"role\":\"user\",\"content\":\"x\"},{\"role\":\"assistant\",\"tool_calls\":["
                   "{\"function\":{\"name\":\"a\",\"arguments\":{}}},{\"function\":{\"name\":\"b\",\"arguments\":{}}}]}]",
                   (render_opts){.family = "llama3.1"}, VKA_ERR_UNSUPPORTED, "exactly one tool call");
    expect_failure("[{\"role\":\"system\",\"content\":\"x\"}]", (render_opts){.family = "llama3.1", .tools = tools},
                   VKA_ERR_INVALID_ARGUMENT, "first user message");
}

/* ---------------------------------------------------------------- the other families by hand */

static const char *const conversation = "[{\"role\":\"system\",\"content\":\"You are terse.\"},"
                                        " {\"role\":\"user\",\"content\":\"Hi \"},"
                                        " {\"role\":\"assistant\",\"content\":\" Hello.\"},"
                                        " {\"role\":\"user\",\"content\":\"Bye\"}]";

Test(chat, llama2_by_hand) {
    expect_render(conversation, (render_opts){.family = "llama2"},
                  "<s>[INST] <<SYS>>\nYou are terse.\n<</SYS>>\n\nHi [/INST] Hello. </s><s>[INST] Bye [/INST]");
    /* the folded text is stripped as a whole: inner edges stay */
    expect_render("[{\"role\":\"system\",\"content\":\"  S  \"},{\"role\":\"user\",\"content\":\"  Hi  \"}]",
                  (render_opts){.family = "llama2"}, "<s>[INST] <<SYS>>\n  S  \n<</SYS>>\n\n  Hi [/INST]");
    expect_render("[{\"role\":\"system\",\"content\":\"S\"},{\"role\":\"user\",\"content\":\" \\n \"}]",
                  (render_opts){.family = "llama2"}, "<s>[INST] <<SYS>>\nS\n<</SYS>> [/INST]");
    expect_render("[{\"role\":\"user\",\"content\":\"Hi\"}]", (render_opts){.family = "llama2", .bos = "", .eos = ""},
                  "[INST] Hi [/INST]");
    expect_render("[{\"role\":\"user\",\"content\":\"Hi\"}]",
                  (render_opts){.template_text = "{{ bos_token + '[INST] <<SYS>>\\n' }}"}, "<s>[INST] Hi [/INST]");
}

Test(chat, mistral_by_hand) {
    expect_render(conversation, (render_opts){.family = "mistral"},
                  "<s>[INST] You are terse.\n\nHi  [/INST] Hello.</s>[INST] Bye [/INST]");
    /* v0.3 layout: no space before [/INST], the system text joins the last
     * message when it is a user message, assistant text trimmed */
    expect_render(conversation, (render_opts){.family = "mistral-v3"},
                  "<s>[INST] Hi [/INST] Hello.</s>[INST] You are terse.\n\nBye[/INST]");
}

Test(chat, zephyr_by_hand) {
    expect_render(conversation, (render_opts){.family = "zephyr"},
                  "<|system|>\nYou are terse.</s>\n<|user|>\nHi </s>\n<|assistant|>\n Hello.</s>\n"
                  "<|user|>\nBye</s>\n<|assistant|>\n");
    expect_render("[{\"role\":\"user\",\"content\":\"Hi\"}]", (render_opts){.family = "zephyr", .no_generation_prompt = true},
                  "<|user|>\nHi</s>\n");
}

Test(chat, gemma_by_hand) {
    expect_render(conversation, (render_opts){.family = "gemma"},
                  "<bos><start_of_turn>user\nYou are terse.\n\nHi<end_of_turn>\n"
                  "<start_of_turn>model\nHello.<end_of_turn>\n"
                  "<start_of_turn>user\nBye<end_of_turn>\n"
                  "<start_of_turn>model\n");
    expect_render("[{\"role\":\"user\",\"content\":\"Hi\"}]", (render_opts){.family = "gemma", .no_generation_prompt = true},
                  "<bos><start_of_turn>user\nHi<end_of_turn>\n");
}

Test(chat, phi3_by_hand) {
    expect_render(conversation, (render_opts){.family = "phi3"},
                  "<|system|>\nYou are terse.<|end|>\n<|user|>\nHi <|end|>\n<|assistant|>\n Hello.<|end|>\n"
                  "<|user|>\nBye<|end|>\n<|assistant|>\n");
    /* without the generation prompt the template ends with EOS */
    expect_render("[{\"role\":\"user\",\"content\":\"Hi\"},{\"role\":\"assistant\",\"content\":\"Yo\"}]",
                  (render_opts){.family = "phi3", .no_generation_prompt = true},
                  "<|user|>\nHi<|end|>\n<|assistant|>\nYo<|end|>\n<|endoftext|>");
}

Test(chat, chatml_without_generation_prompt) {
    expect_render(conversation, (render_opts){.family = "chatml", .no_generation_prompt = true},
                  "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nHi <|im_end|>\n"
                  "<|im_start|>assistant\n Hello.<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n");
}

/* ---------------------------------------------------------------- errors */

Test(chat, refuses_tool_use_without_a_convention) {
    static const char *const families[] = {"llama2", "mistral", "mistral-v3", "zephyr", "gemma", "phi3"};
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++) {
        expect_failure("[{\"role\":\"user\",\"content\":\"x\"},{\"role\":\"assistant\",\"content\":\"\","
                       "\"tool_calls\":[{\"function\":{\"name\":\"f\",\"arguments\":{}}}]}]",
                       (render_opts){.family = families[i]}, VKA_ERR_UNSUPPORTED, "tool calls");
        expect_failure("[{\"role\":\"user\",\"content\":\"x\"},{\"role\":\"tool\",\"content\":\"1\"}]",
                       (render_opts){.family = families[i]}, VKA_ERR_UNSUPPORTED, "HINT");
        /* a tools list alone is ignored, as these templates ignore it */
        char *out = render("[{\"role\":\"user\",\"content\":\"x\"}]",
                           (render_opts){.family = families[i], .tools = "[{\"name\":\"f\"}]"});
        cr_expect(strstr(out, "\"f\"") == NULL, "%s: %s", families[i], out);
        free(out);
    }
}

Test(chat, alternation_enforced) {
    expect_failure("[{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"user\",\"content\":\"b\"}]",
                   (render_opts){.family = "llama2"}, VKA_ERR_INVALID_ARGUMENT, "messages[1] has role \"user\"");
    expect_failure("[{\"role\":\"assistant\",\"content\":\"a\"}]", (render_opts){.family = "gemma"},
                   VKA_ERR_INVALID_ARGUMENT, "alternating");
    expect_failure("[{\"role\":\"system\",\"content\":\"s\"},{\"role\":\"system\",\"content\":\"t\"}]",
                   (render_opts){.family = "mistral"}, VKA_ERR_INVALID_ARGUMENT, "messages[1]");
}

Test(chat, malformed_tools_and_calls) {
    expect_failure("[{\"role\":\"user\",\"content\":\"x\"}]", (render_opts){.family = "qwen3", .tools = "{\"name\":1}"},
                   VKA_ERR_FORMAT, "tools: expected a JSON array");
    expect_failure("[{\"role\":\"user\",\"content\":\"x\"}]", (render_opts){.family = "qwen3", .tools = "[{"},
                   VKA_ERR_FORMAT, "tools: invalid JSON");
    expect_failure("[{\"role\":\"user\",\"content\":\"x\"},{\"role\":\"assistant\",\"tool_calls\":[{\"function\":"
                   "{\"arguments\":{}}}]}]",
                   (render_opts){.family = "qwen3"}, VKA_ERR_FORMAT, "messages[1].tool_calls[0]");
    expect_failure("[{\"role\":\"user\",\"content\":\"x\"},{\"role\":\"assistant\",\"tool_calls\":[{\"function\":"
                   "{\"name\":\"f\"}}]}]",
                   (render_opts){.family = "qwen3"}, VKA_ERR_FORMAT, "arguments");
}

Test(chat, render_argument_checks) {
    vka_chat_render_params p;
    vka_chat_render_params_init(&p);
    char *out = NULL;
    cr_expect_eq(vka_chat_render(NULL, NULL, 0, &out), VKA_ERR_INVALID_ARGUMENT);
    cr_expect_eq(vka_chat_render(&p, NULL, 0, NULL), VKA_ERR_INVALID_ARGUMENT);
    cr_expect_eq(vka_chat_render(&p, NULL, 1, &out), VKA_ERR_INVALID_ARGUMENT);
    vka_chat_message m = {.role = NULL, .content = "x"};
    cr_expect_eq(vka_chat_render(&p, &m, 1, &out), VKA_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(vka_last_error(), "messages[0] has no role") != NULL, "%s", vka_last_error());
    /* no messages: only the generation prompt */
    cr_assert_eq(vka_chat_render(&p, NULL, 0, &out), VKA_OK);
    cr_expect_str_eq(out, "<|im_start|>assistant\n");
    free(out);
}

Test(chat, chatml_other_roles_and_thinking_switch) {
    /* roles outside the Qwen set are ordinary turns; enable_thinking only matters to qwen3 */
    expect_render("[{\"role\":\"developer\",\"content\":\"D\"},{\"role\":\"user\",\"content\":\"U\"}]",
                  (render_opts){.family = "chatml", .no_thinking = true},
                  "<|im_start|>developer\nD<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n");
    expect_render("[{\"role\":\"user\",\"content\":\"U\"}]", (render_opts){.family = "qwen3", .no_thinking = true},
                  "<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n");
}
