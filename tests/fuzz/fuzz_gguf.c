/* fuzz_gguf.c — the GGUF reader over arbitrary bytes, then the model's
 * metadata checks (tokenizer, hyperparameters, tensor shapes) through a
 * vocab-only load of the same bytes, as `vkagent info` does. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "format/gguf.h"
#include "model/model.h"

/* Every key and tensor is found again by name, and every value can be read
 * through the typed getters without harm. */
static void walk(const vka_gguf *g, const uint8_t *data, size_t size) {
    for (uint64_t i = 0; i < g->n_kv; i++) {
        const char *key = g->kv[i].key.data;
        FUZZ_CHECK(vka_gguf_find(g, key) == &g->kv[i], "key #%llu not found by its name", (unsigned long long)i);
        uint32_t u;
        int64_t i64;
        float f;
        bool b;
        (void)vka_gguf_get_u32(g, key, &u);
        (void)vka_gguf_get_i64(g, key, &i64);
        (void)vka_gguf_get_f32(g, key, &f);
        (void)vka_gguf_get_bool(g, key, &b);
        const char *s = vka_gguf_get_str(g, key);
        if (s) FUZZ_CHECK(strlen(s) <= g->kv[i].value.v.str.len, "string longer than stored");
        for (int t = 0; t < VKA_GGUF_VTYPE_COUNT; t++) (void)vka_gguf_get_array(g, key, (vka_gguf_vtype)t);
    }
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const vka_gguf_tensor *t = &g->tensors[i];
        FUZZ_CHECK(vka_gguf_find_tensor(g, t->name.data) == t, "tensor #%llu not found by its name",
                   (unsigned long long)i);
        const uint8_t *p = t->data;
        FUZZ_CHECK(p >= data && p <= data + size && t->nbytes <= (uint64_t)(data + size - p),
                   "tensor #%llu lies outside the file", (unsigned long long)i);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    vka_gguf *g = NULL;
    if (vka_gguf_open_memory(data, size, &g) != VKA_OK) {
        FUZZ_CHECK(g == NULL && vka_last_error()[0], "a failed open leaves no result and says why");
        return 0;
    }
    walk(g, data, size);
    vka_gguf_free(g);

    vka_model_params mp;
    vka_model_params_default(&mp);
    mp.vocab_only = true;
    vka_model *m = NULL;
    if (vka_model_load_memory(data, size, "fuzz.gguf", &mp, &m) != VKA_OK) {
        FUZZ_CHECK(m == NULL && vka_last_error()[0], "a failed load leaves no model and says why");
        return 0;
    }
    vka_model_info info;
    FUZZ_CHECK(vka_model_get_info(m, &info) == VKA_OK, "info of a loaded model");
    if (info.n_embd) {
        /* What `vkagent info` derives from the hyperparameters. */
        FUZZ_CHECK(info.n_head && info.n_head_kv && info.n_head % info.n_head_kv == 0, "heads");
        (void)vka_model_kv_bytes(m, info.n_ctx_train, true);
    }
    int32_t ids[64];
    size_t n = 0;
    vka_status s = vka_tokenize(m, "Hello, world! \xc3\xa9\n", 17, VKA_TOKENIZE_ADD_BOS, ids, 64, &n);
    if (s == VKA_OK) {
        for (size_t i = 0; i < n; i++) FUZZ_CHECK(ids[i] >= 0 && (uint32_t)ids[i] < info.n_vocab, "token id");
        char text[512];
        size_t len;
        (void)vka_detokenize(m, ids, n, VKA_DETOKENIZE_SPECIAL, text, sizeof text, &len);
    }
    (void)vka_chat_template_family(m, NULL);
    vka_model_free(m);
    return 0;
}
