/* test_chat_api.c — vka_chat_apply_template on the vocab-only GGUFs: the
 * template and BOS text come from the model, the renders must equal the
 * tokenizers' chat.json goldens. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
