/* test_chat_api.c — vka_chat_apply_template on the vocab-only GGUFs: the
 * template and BOS text come from the model, the renders must equal the
 * tokenizers' chat.json goldens; the model's own template is interpreted
 * (Jinja) and wins over the family layout, which stands in, with a
 * warning, only when the template fails. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "format/gguf.h"
#include "format/gguf_write.h"
#include "vkagent.h"
#include "test_util.h"

static vka_model *load_vocab(const char *name) {
    char rel[128];
    snprintf(rel, sizeof rel, "fixtures/vocab/%s.gguf", name);
    const char *path = test_data_path(rel);
    REQUIRE_FIXTURE(path);
    vka_model_params mp;
    vka_model_params_default(&mp);
    mp.vocab_only = true;
    mp.device = "cpu";
    vka_model *model = NULL;
    cr_assert_eq(vka_model_load(path, &mp, &model), VKA_OK, "%s", vka_last_error());
    return model;
}

static void check_goldens(const char *name) {
    char rel[128];
    snprintf(rel, sizeof rel, "tokenizers/%s.chat.json", name);
    const char *path = test_data_path(rel);
    REQUIRE_FIXTURE(path);
    vka_model *model = load_vocab(name);
    char *text = test_read_file(path, NULL);
    cJSON *goldens = cJSON_Parse(text);
    free(text);
    cr_assert_not_null(goldens);
    int i = 0;
    for (const cJSON *r = cJSON_GetObjectItemCaseSensitive(goldens, "renders")->child; r; r = r->next, i++) {
        const cJSON *input = cJSON_GetObjectItemCaseSensitive(r, "input");
        char *messages = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(input, "messages"));
        const cJSON *tools_item = cJSON_GetObjectItemCaseSensitive(input, "tools");
        char *tools = tools_item ? cJSON_PrintUnformatted(tools_item) : NULL;
        vka_chat_params cp;
        vka_chat_params_default(&cp);
        cp.tools_json = tools;
        char *out = NULL;
        cr_assert_eq(vka_chat_apply_template(model, messages, &cp, &out), VKA_OK, "%s", vka_last_error());
        cr_expect_str_eq(out, cJSON_GetObjectItemCaseSensitive(r, "rendered")->valuestring, "%s render %d", name, i);
        vka_free(out);
        free(messages);
        free(tools);
    }
    cJSON_Delete(goldens);
    vka_model_free(model);
}

Test(chat_api, qwen3_model_renders_goldens) { check_goldens("qwen3"); }

Test(chat_api, llama3_model_renders_goldens) { check_goldens("llama3"); }

Test(chat_api, family_of_models) {
    vka_model *q = load_vocab("qwen3");
    vka_model *l = load_vocab("llama3");
    bool recognised = false;
    cr_expect_str_eq(vka_chat_template_family(q, &recognised), "qwen3");
    cr_expect(recognised);
    cr_expect_str_eq(vka_chat_template_family(l, NULL), "llama3");
    cr_expect_null(vka_chat_template_family(NULL, NULL));
    vka_model_free(q);
    vka_model_free(l);
}

Test(chat_api, override_and_errors) {
    vka_model *model = load_vocab("llama3");
    vka_chat_params cp;
    vka_chat_params_default(&cp);
    cp.template_override = "chatml";
    char *out = NULL;
    cr_assert_eq(vka_chat_apply_template(model, "[{\"role\":\"user\",\"content\":\"Hi\"}]", &cp, &out), VKA_OK);
    cr_expect_str_eq(out, "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
    vka_free(out);
    out = (char *)1;
    cr_expect_eq(vka_chat_apply_template(model, "{\"role\":\"user\"}", NULL, &out), VKA_ERR_FORMAT);
    cr_expect_null(out);
    cr_expect_eq(vka_chat_apply_template(NULL, "[]", NULL, &out), VKA_ERR_INVALID_ARGUMENT);
    cr_expect_eq(vka_chat_apply_template(model, NULL, NULL, &out), VKA_ERR_INVALID_ARGUMENT);
    vka_model_free(model);
}

/* The llama3 vocabulary with its chat template replaced, written to a
 * temporary file and loaded (vocab only). */
static vka_model *llama3_with_template(const char *tmpl, char *path, size_t path_size) {
    const char *src = test_data_path("fixtures/vocab/llama3.gguf");
    REQUIRE_FIXTURE(src);
    vka_gguf *g = NULL;
    cr_assert_eq(vka_gguf_open(src, &g), VKA_OK, "%s", vka_last_error());
    vka_gguf_writer *w = NULL;
    cr_assert_eq(vka_gguf_writer_create(&w), VKA_OK);
    for (uint64_t i = 0; i < g->n_kv; i++) {
        char key[256];
        snprintf(key, sizeof key, "%.*s", (int)g->kv[i].key.len, g->kv[i].key.data);
        if (strcmp(key, "tokenizer.chat_template") == 0) continue;
        cr_assert_eq(vka_gguf_writer_add_value(w, key, &g->kv[i].value), VKA_OK, "%s", vka_last_error());
    }
    cr_assert_eq(vka_gguf_writer_add_str(w, "tokenizer.chat_template", tmpl), VKA_OK);
    snprintf(path, path_size, "/tmp/vka_chat_api_%d.gguf", (int)getpid());
    cr_assert_eq(vka_gguf_writer_write_file(w, path), VKA_OK, "%s", vka_last_error());
    vka_gguf_writer_free(w);
    vka_gguf_free(g);
    vka_model_params mp;
    vka_model_params_default(&mp);
    mp.vocab_only = true;
    mp.device = "cpu";
    vka_model *model = NULL;
    cr_assert_eq(vka_model_load(path, &mp, &model), VKA_OK, "%s", vka_last_error());
    return model;
}

Test(chat_api, the_models_template_wins_over_the_family_layout) {
    /* recognised as Llama-3 by its header ids, but laid out its own way */
    char path[64];
    vka_model *model = llama3_with_template(
        "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m.role|upper }}<|end_header_id|>{{ m.content }}"
        "{% endfor %}{% if enable_thinking is defined %}T={{ enable_thinking }}{% endif %}"
        "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>{% endif %}", path, sizeof path);
    cr_expect_str_eq(vka_chat_template_family(model, NULL), "llama3");
    vka_chat_params cp;
    vka_chat_params_default(&cp);
    cp.enable_thinking = false;
    char *out = NULL;
    cr_assert_eq(vka_chat_apply_template(model, "[{\"role\":\"user\",\"content\":\"Hi\"}]", &cp, &out), VKA_OK,
                 "%s", vka_last_error());
    cr_expect_str_eq(out, "<|begin_of_text|><|start_header_id|>USER<|end_header_id|>HiT=false"
                          "<|start_header_id|>assistant<|end_header_id|>");
    cr_expect_str_eq(vka_chat_template_warning(), "");
    vka_free(out);
    /* OpenAI text parts reach the template as one string, as the layouts read them */
    cr_assert_eq(vka_chat_apply_template(model, "[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"H\"},"
                                                "{\"type\":\"text\",\"text\":\"i\"}]}]", &cp, &out), VKA_OK,
                 "%s", vka_last_error());
    cr_expect_str_eq(out, "<|begin_of_text|><|start_header_id|>USER<|end_header_id|>HiT=false"
                          "<|start_header_id|>assistant<|end_header_id|>");
    vka_free(out);
    /* an override still picks a family layout */
    cp.template_override = "chatml";
    cr_assert_eq(vka_chat_apply_template(model, "[{\"role\":\"user\",\"content\":\"Hi\"}]", &cp, &out), VKA_OK);
    cr_expect_str_eq(out, "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
    vka_free(out);
    vka_model_free(model);
    remove(path);
}

Test(chat_api, a_failing_template_falls_back_with_a_warning) {
    char path[64];
    vka_model *model = llama3_with_template("<|start_header_id|><|end_header_id|>{% for m in messages %}{{ m.content|nosuchfilter }}"
                                            "{% endfor %}", path, sizeof path);
    char *out = NULL;
    cr_assert_eq(vka_chat_apply_template(model, "[{\"role\":\"user\",\"content\":\"Hi\"}]", NULL, &out), VKA_OK,
                 "%s", vka_last_error());
    cr_expect_str_eq(out, "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                          "<|start_header_id|>assistant<|end_header_id|>\n\n", "the llama3 family layout");
    cr_expect(strstr(vka_chat_template_warning(), "nosuchfilter"), "%s", vka_chat_template_warning());
    cr_expect(strstr(vka_chat_template_warning(), "'llama3' layout"), "%s", vka_chat_template_warning());
    vka_free(out);
    vka_model_free(model);
    remove(path);
}

Test(chat_api, a_template_that_raises_is_an_error) {
    char path[64];
    vka_model *model = llama3_with_template("{% if messages[0].role == 'system' %}{{ raise_exception('System role not "
                                            "supported') }}{% endif %}<|start_header_id|>", path, sizeof path);
    char *out = NULL;
    cr_expect_eq(vka_chat_apply_template(model, "[{\"role\":\"system\",\"content\":\"S\"}]", NULL, &out),
                 VKA_ERR_INVALID_ARGUMENT);
    cr_expect_str_eq(vka_last_error(), "template raised: System role not supported");
    cr_expect_null(out);
    vka_model_free(model);
    remove(path);
}

Test(chat_api, tool_call_arguments_reach_the_template_as_objects) {
    /* OpenAI clients send arguments as a JSON string; templates tojson them */
    char path[64];
    vka_model *model = llama3_with_template("<|start_header_id|><|end_header_id|>{% for m in messages %}"
                                            "{% for c in m.tool_calls %}[{{ c.function.arguments|tojson }}]{% endfor %}"
                                            "{% endfor %}", path, sizeof path);
    char *out = NULL;
    cr_assert_eq(vka_chat_apply_template(model,
                                         "[{\"role\":\"assistant\",\"content\":null,\"tool_calls\":["
                                         "{\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"a\\\":1}\"}},"
                                         "{\"type\":\"function\",\"function\":{\"name\":\"g\",\"arguments\":\"not json\"}}]}]",
                                         NULL, &out), VKA_OK, "%s", vka_last_error());
    cr_expect_str_eq(out, "<|start_header_id|><|end_header_id|>[{\"a\": 1}][\"not json\"]");
    vka_free(out);
    vka_model_free(model);
    remove(path);
}

Test(chat_api, template_kwargs_reach_the_template) {
    char path[64];
    vka_model *model = llama3_with_template("<|start_header_id|><|end_header_id|>{{ bos_token }}|{{ greeting }}|"
                                            "{{ enable_thinking }}", path, sizeof path);
    vka_chat_params cp;
    vka_chat_params_default(&cp);
    cp.enable_thinking = false;
    cp.template_kwargs_json = "{\"greeting\": \"hej\", \"bos_token\": \"<B>\"}";
    char *out = NULL;
    cr_assert_eq(vka_chat_apply_template(model, "[]", &cp, &out), VKA_OK, "%s", vka_last_error());
    cr_expect_str_eq(out, "<|start_header_id|><|end_header_id|><B>|hej|false");
    vka_free(out);
    cp.template_kwargs_json = "{\"messages\": []}";
    cr_expect_eq(vka_chat_apply_template(model, "[]", &cp, &out), VKA_ERR_INVALID_ARGUMENT);
    cp.template_kwargs_json = "[1]";
    cr_expect_eq(vka_chat_apply_template(model, "[]", &cp, &out), VKA_ERR_INVALID_ARGUMENT);
    cr_expect_null(out);
    vka_model_free(model);
    remove(path);
}
