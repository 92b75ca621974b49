/* test_model.c — model loading: hyperparameters of stories260K, and the
 * clear errors for models that are malformed or outside what vkagent runs
 * (each made by copying stories260K through the GGUF writer with one change). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "format/gguf.h"
#include "format/gguf_write.h"
#include "test_util.h"
#include "vkagent.h"

static const char *stories(void) {
    const char *path = test_data_path("models/stories260K.gguf");
    REQUIRE_FIXTURE(path);
    return path;
}

/* One change to make while copying: a key to drop or to replace with a u32 or
 * a string, a tensor to drop or to re-type/re-shape. */
typedef struct change {
    const char *drop_key;
    const char *set_u32_key;
    uint32_t u32;
    const char *set_str_key;
    const char *str;
    const char *drop_tensor;
    const char *retype_tensor;   /* becomes zero bytes of new_type */
    uint32_t new_type;
    const char *reshape_tensor;  /* ne[1] halved */
    bool no_tensors;             /* a vocab-only file */
} change;

static char *copy_with(const change *c) {
    vka_gguf *g;
    cr_assert_eq(vka_gguf_open(stories(), &g), VKA_OK);
    vka_gguf_writer *w;
    cr_assert_eq(vka_gguf_writer_create(&w), VKA_OK);
    void *scratch[8] = {0};
    int n_scratch = 0;
    for (uint64_t i = 0; i < g->n_kv; i++) {
        const char *key = g->kv[i].key.data;
        if (c->drop_key && strcmp(key, c->drop_key) == 0) continue;
        if (c->set_u32_key && strcmp(key, c->set_u32_key) == 0) continue;
        if (c->set_str_key && strcmp(key, c->set_str_key) == 0) continue;
        if (strcmp(key, "general.alignment") == 0) continue;
        cr_assert_eq(vka_gguf_writer_add_value(w, key, &g->kv[i].value), VKA_OK, "%s", vka_last_error());
    }
    if (c->set_u32_key) cr_assert_eq(vka_gguf_writer_add_u32(w, c->set_u32_key, c->u32), VKA_OK);
    if (c->set_str_key) cr_assert_eq(vka_gguf_writer_add_str(w, c->set_str_key, c->str), VKA_OK);
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const vka_gguf_tensor *t = &g->tensors[i];
        const char *name = t->name.data;
        if (c->no_tensors || (c->drop_tensor && strcmp(name, c->drop_tensor) == 0)) continue;
        int64_t ne[4] = {t->ne[0], t->ne[1], t->ne[2], t->ne[3]};
        uint32_t type = t->type;
        const void *data = t->data;
        uint64_t nbytes = t->nbytes;
        if (c->retype_tensor && strcmp(name, c->retype_tensor) == 0) {
            type = c->new_type;
            const vka_type_traits *tr = vka_type_get_traits(type);
            nbytes = (uint64_t)(ne[0] / tr->block_size) * tr->type_size * (uint64_t)ne[1];
            data = scratch[n_scratch++] = calloc(1, nbytes);
        }
        if (c->reshape_tensor && strcmp(name, c->reshape_tensor) == 0) {
            ne[1] /= 2;
            nbytes /= 2;
        }
        cr_assert_eq(vka_gguf_writer_add_tensor(w, name, type, t->n_dims, ne, data, nbytes), VKA_OK, "%s",
                     vka_last_error());
    }
    char *path = test_temp_file("model");
    cr_assert_not_null(path);
    cr_assert_eq(vka_gguf_writer_write_file(w, path), VKA_OK, "%s", vka_last_error());
    vka_gguf_writer_free(w);
    vka_gguf_free(g);
    for (int i = 0; i < n_scratch; i++) free(scratch[i]);
    return path;
}

static void expect_error_loading(const char *path, bool vocab_only, vka_status status, const char *needle) {
    vka_model *m = NULL;
    vka_model_params mp;
    vka_model_params_default(&mp);
    mp.device = "cpu";
    mp.vocab_only = vocab_only;
    vka_status st = vka_model_load(path, &mp, &m);
    cr_expect_eq(st, status, "%s load: got %s: %s", vocab_only ? "vocab-only" : "full", vka_status_name(st),
                 vka_last_error());
    cr_expect_null(m);
    cr_expect(strstr(vka_last_error(), needle) != NULL, "message '%s' lacks '%s'", vka_last_error(), needle);
    vka_model_free(m);
}

/* Loads a modified copy and expects `status` with `needle` in the message. */
static void expect_load_error(const change *c, vka_status status, const char *needle) {
    char *path = copy_with(c);
    expect_error_loading(path, false, status, needle);
    unlink(path);
    free(path);
}

/* The same from a full load and from the vocab-only load that `vkagent info`,
 * `tokenize` and `template` make: metadata out of range is refused by every command. */
static void expect_refused_everywhere(const change *c, const char *needle) {
    char *path = copy_with(c);
    expect_error_loading(path, false, VKA_ERR_FORMAT, needle);
    expect_error_loading(path, true, VKA_ERR_FORMAT, needle);
    unlink(path);
    free(path);
}

Test(model, stories_info) {
    vka_model *m = NULL;
    vka_model_params mp;
    vka_model_params_default(&mp);
    mp.device = "cpu";
    cr_assert_eq(vka_model_load(stories(), &mp, &m), VKA_OK, "%s", vka_last_error());
    vka_model_info info;
    cr_assert_eq(vka_model_get_info(m, &info), VKA_OK);
    cr_expect_str_eq(info.architecture, "llama");
    cr_expect_str_eq(info.name, "stories260K");
    cr_expect_str_eq(info.tokenizer, "llama");
    cr_expect_eq(info.n_vocab, 512);
    cr_expect_eq(info.n_ctx_train, 512);
    cr_expect_eq(info.n_embd, 64);
    cr_expect_eq(info.n_layer, 5);
    cr_expect_eq(info.n_head, 8);
    cr_expect_eq(info.n_head_kv, 4);
    cr_expect_eq(info.n_ff, 172);
    cr_expect_eq(info.head_dim, 8);
    cr_expect_eq(info.token_bos, 1);
    cr_expect_eq(info.token_eos, 2);
    cr_expect_eq(info.token_unk, 0);
    cr_expect(info.add_bos);
    cr_expect_eq(info.n_params, 292800); /* models/README.md: counting output.weight separately */
    cr_expect_eq(info.weight_bytes, 292800 * 4);
    cr_expect_str_eq(vka_model_meta_string(m, "general.architecture"), "llama");
    cr_expect_null(vka_model_meta_string(m, "llama.block_count"), "not a string");
    vka_model_free(m);
}

Test(model, missing_file) {
    vka_model *m = NULL;
    cr_expect_neq(vka_model_load("/nonexistent/model.gguf", NULL, &m), VKA_OK);
    cr_expect(strstr(vka_last_error(), "/nonexistent/model.gguf") != NULL, "%s", vka_last_error());
    cr_expect_eq(vka_model_load(NULL, NULL, &m), VKA_ERR_INVALID_ARGUMENT);
}

Test(model, unsupported_architecture) {
    change c = {.set_str_key = "general.architecture", .str = "gptneox"};
    expect_load_error(&c, VKA_ERR_UNSUPPORTED, "gptneox");
    expect_load_error(&c, VKA_ERR_UNSUPPORTED, "qwen3"); /* lists what is supported */
}

Test(model, missing_tensor) {
    change c = {.drop_tensor = "blk.3.ffn_up.weight"};
    expect_load_error(&c, VKA_ERR_FORMAT, "blk.3.ffn_up.weight");
}

Test(model, wrong_shape) {
    change c = {.reshape_tensor = "blk.1.attn_q.weight"};
    expect_load_error(&c, VKA_ERR_FORMAT, "blk.1.attn_q.weight");
}

Test(model, unsupported_tensor_type) {
    change c = {.retype_tensor = "blk.0.attn_q.weight", .new_type = 39 /* mxfp4 */};
    expect_load_error(&c, VKA_ERR_UNSUPPORTED, "mxfp4");
    expect_load_error(&c, VKA_ERR_UNSUPPORTED, "q8_0"); /* lists what is supported */
}

Test(model, bad_hyperparameters) {
    change zero_heads = {.set_u32_key = "llama.attention.head_count", .u32 = 0};
    expect_load_error(&zero_heads, VKA_ERR_FORMAT, "head_count");
    change gqa = {.set_u32_key = "llama.attention.head_count_kv", .u32 = 3};
    expect_load_error(&gqa, VKA_ERR_FORMAT, "KV heads");
    change vocab = {.set_u32_key = "llama.vocab_size", .u32 = 1000};
    expect_load_error(&vocab, VKA_ERR_FORMAT, "vocab_size");
    change rope = {.set_str_key = "llama.rope.scaling.type", .str = "yarn-ish"};
    expect_load_error(&rope, VKA_ERR_UNSUPPORTED, "yarn-ish");
    change no_embd = {.drop_key = "llama.embedding_length"};
    expect_load_error(&no_embd, VKA_ERR_FORMAT, "embedding_length");
}

/* Each hyperparameter out of range is refused with its key named (stories260K:
 * n_embd 64, 8 heads of 8 sharing 4 KV heads, 5 layers, n_ff 172). */
Test(model, hyperparameters_out_of_range_name_the_key) {
    static const struct {
        const char *key;
        uint32_t value;
        const char *needle;
    } cases[] = {
        {"llama.context_length", 0, "'llama.context_length' is 0"},
        {"llama.context_length", 1u << 30, "'llama.context_length' is 1073741824"},
        {"llama.block_count", 0, "'llama.block_count' is 0"},
        {"llama.block_count", 1000000, "'llama.block_count' is 1000000"},
        {"llama.attention.head_count", 0, "'llama.attention.head_count' is 0"},
        {"llama.attention.head_count_kv", 0, "'llama.attention.head_count_kv' is 0"},
        {"llama.attention.head_count_kv", 3, "'llama.attention.head_count_kv' (3)"},
        {"llama.attention.head_count_kv", 16, "'llama.attention.head_count_kv' is 16"},
        {"llama.attention.head_count", 12, "'llama.embedding_length' (64) and 'llama.attention.head_count' (12)"},
        {"llama.attention.key_length", 4096, "'llama.attention.key_length' is 4096"},
        {"llama.rope.dimension_count", 16, "'llama.rope.dimension_count' is 16"},
        {"llama.rope.dimension_count", 7, "'llama.rope.dimension_count' is 7"},
        {"llama.embedding_length", 1u << 24, "'llama.embedding_length' is 16777216"},
        {"llama.feed_forward_length", 0, "'llama.feed_forward_length' is 0"},
        /* in range, but the tensors disagree: the message names the key the size came from */
        {"llama.feed_forward_length", 100, "100 from llama.feed_forward_length"},
        {"llama.embedding_length", 128, "128 from llama.embedding_length"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        change c = {.set_u32_key = cases[i].key, .u32 = cases[i].value};
        expect_refused_everywhere(&c, cases[i].needle);
    }
    change text = {.set_str_key = "llama.block_count", .str = "five"};
    expect_refused_everywhere(&text, "'llama.block_count' is a string, expected an integer");
}

/* Embedding rows that are not the vocabulary, by every command. */
Test(model, embedding_rows_must_be_the_vocabulary) {
    change c = {.reshape_tensor = "token_embd.weight"};
    expect_refused_everywhere(&c, "tensor 'token_embd.weight' has shape [64, 256]");
    expect_refused_everywhere(&c, "512 from tokenizer.ggml.tokens");
}

/* A vocab-only file may lack hyperparameters (it is a tokenizer), but those
 * it has must be in range. */
Test(model, vocab_only_files_with_partial_hyperparameters) {
    change partial = {.no_tensors = true, .drop_key = "llama.block_count"};
    char *path = copy_with(&partial);
    vka_model_params mp;
    vka_model_params_default(&mp);
    mp.vocab_only = true;
    vka_model *m = NULL;
    cr_assert_eq(vka_model_load(path, &mp, &m), VKA_OK, "%s", vka_last_error());
    vka_model_info info;
    cr_assert_eq(vka_model_get_info(m, &info), VKA_OK);
    cr_expect_eq(info.n_layer, 0, "no hyperparameters are derived from a partial set");
    cr_expect_eq(info.n_vocab, 512);
    vka_model_free(m);
    unlink(path);
    free(path);

    change bad = {.no_tensors = true, .set_u32_key = "llama.attention.head_count_kv", .u32 = 0};
    path = copy_with(&bad);
    expect_error_loading(path, true, VKA_ERR_FORMAT, "'llama.attention.head_count_kv' is 0");
    unlink(path);
    free(path);
}

/* Loaded to run, a vocabulary alone says what it is good for instead of
 * naming the first missing tensor. */
Test(model, vocab_only_file_loaded_to_run) {
    change none = {.no_tensors = true};
    char *path = copy_with(&none);
    expect_error_loading(path, false, VKA_ERR_INVALID_ARGUMENT, "holds only a vocabulary");
    expect_error_loading(path, false, VKA_ERR_INVALID_ARGUMENT, "vkagent tokenize, template, info");
    unlink(path);
    free(path);
}

/* Without output.weight the output projection is tied to the embeddings; in
 * stories260K output.weight is a copy of token_embd, so logits are unchanged. */
Test(model, tied_output_weight) {
    change c = {.drop_tensor = "output.weight"};
    char *path = copy_with(&c);
    vka_model *tied = NULL, *own = NULL;
    vka_model_params mp;
    vka_model_params_default(&mp);
    mp.device = "cpu";
    cr_assert_eq(vka_model_load(path, &mp, &tied), VKA_OK, "%s", vka_last_error());
    cr_assert_eq(vka_model_load(stories(), &mp, &own), VKA_OK);
    const int32_t ids[] = {1, 403, 407};
    float a[3 * 512], b[3 * 512];
    vka_session *s1, *s2;
    cr_assert_eq(vka_session_create(tied, NULL, &s1), VKA_OK);
    cr_assert_eq(vka_session_create(own, NULL, &s2), VKA_OK);
    cr_assert_eq(vka_session_feed_all_logits(s1, ids, 3, a), VKA_OK);
    cr_assert_eq(vka_session_feed_all_logits(s2, ids, 3, b), VKA_OK);
    cr_expect_arr_eq(a, b, sizeof a);
    vka_session_free(s1);
    vka_session_free(s2);
    vka_model_free(tied);
    vka_model_free(own);
    unlink(path);
    free(path);
}

Test(model, vocab_only) {
    vka_model *m = NULL;
    vka_model_params mp;
    vka_model_params_default(&mp);
    mp.vocab_only = true;
    cr_assert_eq(vka_model_load(stories(), &mp, &m), VKA_OK, "%s", vka_last_error());
    vka_session *s = NULL;
    cr_expect_eq(vka_session_create(m, NULL, &s), VKA_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(vka_last_error(), "vocab-only") != NULL, "%s", vka_last_error());
    int32_t ids[8];
    size_t n;
    cr_expect_eq(vka_tokenize(m, "Once", 4, VKA_TOKENIZE_MODEL_BOS, ids, 8, &n), VKA_OK);
    cr_expect_eq(n, 2);
    vka_model_free(m);
}

/* The load-progress callback: fractions from 0 rising to 1; false cancels
 * the load with VKA_ERR_CANCELLED (ASan: nothing leaks). */
typedef struct progress_log {
    float seen[64];
    int n;
    int cancel_at;           /* call index that returns false, -1 never */
} progress_log;

static bool log_progress(float fraction, void *user) {
    progress_log *p = user;
    if (p->n < 64) p->seen[p->n] = fraction;
    return p->n++ != p->cancel_at;
}

Test(model, load_progress_and_cancel) {
    vka_model_params mp;
    vka_model_params_default(&mp);
    mp.device = "cpu";
    progress_log log = {.cancel_at = -1};
    mp.progress = log_progress;
    mp.progress_user = &log;
    vka_model *m = NULL;
    cr_assert_eq(vka_model_load(stories(), &mp, &m), VKA_OK, "%s", vka_last_error());
    cr_expect_geq(log.n, 3, "called %d times", log.n);
    cr_expect_eq(log.seen[0], 0.0f);
    cr_expect_eq(log.seen[log.n - 1], 1.0f);
    for (int i = 1; i < log.n; i++) cr_expect_geq(log.seen[i], log.seen[i - 1], "call %d went back", i);
    vka_model_free(m);

    log = (progress_log){.cancel_at = 2};
    m = NULL;
    cr_expect_eq(vka_model_load(stories(), &mp, &m), VKA_ERR_CANCELLED);
    cr_expect_null(m);
    cr_expect_neq(strstr(vka_last_error(), "cancelled by the progress callback"), NULL, "%s", vka_last_error());
    cr_expect_eq(log.n, 3);
}

/* n_threads sets the CPU backend's pool; 0 means VKAGENT_THREADS. */
Test(model, thread_count) {
    vka_model_params mp;
    vka_model_params_default(&mp);
    mp.device = "cpu";
    mp.n_threads = 3;
    vka_model *m = NULL;
    cr_assert_eq(vka_model_load(stories(), &mp, &m), VKA_OK, "%s", vka_last_error());
    vka_model_info info;
    vka_model_get_info(m, &info);
    cr_expect_eq(strncmp(info.device, "cpu (3 threads", 14), 0, "device '%s'", info.device);
    vka_model_free(m);
    setenv("VKAGENT_THREADS", "2", 1);
    mp.n_threads = 0;
    cr_assert_eq(vka_model_load(stories(), &mp, &m), VKA_OK, "%s", vka_last_error());
    vka_model_get_info(m, &info);
    cr_expect_eq(strncmp(info.device, "cpu (2 threads", 14), 0, "device '%s'", info.device);
    vka_model_free(m);
    unsetenv("VKAGENT_THREADS");
}

/* Token lookup by stored text or by the bytes a token stands for, and the
 * token attributes, on stories260K (SentencePiece) and the Qwen3 vocabulary
 * (byte-level BPE with control tokens). */
Test(model, token_lookup_and_attributes) {
    vka_model_params mp;
    vka_model_params_default(&mp);
    mp.device = "cpu";
    vka_model *m = NULL;
    cr_assert_eq(vka_model_load(stories(), &mp, &m), VKA_OK, "%s", vka_last_error());
    int32_t id = 0;
    cr_expect_eq(vka_token_lookup(m, "\xe2\x96\x81Once", &id), VKA_OK);
    cr_expect_eq(id, 403);
    cr_expect_eq(vka_token_lookup(m, " Once", &id), VKA_OK, "by its bytes");
    cr_expect_eq(id, 403);
    cr_expect_eq(vka_token_lookup(m, "no such token text", &id), VKA_ERR_NOT_FOUND);
    cr_expect_eq(id, -1);
    cr_expect_eq(vka_token_lookup(m, NULL, &id), VKA_ERR_INVALID_ARGUMENT);
    cr_expect_eq(vka_token_attributes(m, 403), VKA_TOKEN_ATTR_NORMAL);
    cr_expect_eq(vka_token_attributes(m, 1), VKA_TOKEN_ATTR_CONTROL | VKA_TOKEN_ATTR_BOS, "BOS: %#x",
                 vka_token_attributes(m, 1));
    cr_expect_eq(vka_token_attributes(m, 2), VKA_TOKEN_ATTR_CONTROL | VKA_TOKEN_ATTR_EOG, "EOS: %#x",
                 vka_token_attributes(m, 2));
    cr_expect_eq(vka_token_attributes(m, 13), VKA_TOKEN_ATTR_BYTE, "<0x0A>: %#x", vka_token_attributes(m, 13));
    cr_expect_eq(vka_token_attributes(m, 512), 0u);
    cr_expect_eq(vka_token_attributes(m, -1), 0u);
    vka_model_free(m);

    const char *qwen = test_data_path("fixtures/vocab/qwen3.gguf");
    REQUIRE_FIXTURE(qwen);
    mp.vocab_only = true;
    cr_assert_eq(vka_model_load(qwen, &mp, &m), VKA_OK, "%s", vka_last_error());
    cr_assert_eq(vka_token_lookup(m, "<|im_end|>", &id), VKA_OK);
    cr_expect_str_eq(vka_token_text(m, id), "<|im_end|>");
    cr_expect_eq(vka_token_attributes(m, id), VKA_TOKEN_ATTR_CONTROL | VKA_TOKEN_ATTR_EOG);
    cr_assert_eq(vka_token_lookup(m, " the", &id), VKA_OK);
    cr_expect_str_eq(vka_token_text(m, id), "\xc4\xa0the");
    cr_expect_eq(vka_token_attributes(m, id), VKA_TOKEN_ATTR_NORMAL);
    vka_model_free(m);
}
