/* test_vocab_bpe.c — byte-level BPE tokenization (vocab_bpe.c) on the Qwen3
 * and Llama-3 vocab-only GGUFs against the reference tokenizations in
 * ../shared/tokenizers (an independent implementation) and the reference
 * ids recorded next to llama.cpp's in ../shared/fixtures/vocab; round
 * trips (NFC for Qwen3); the Chinese chat round trip; and the settings
 * (pre-tokenizer names, fallback, NFC override, add_bos default, merge
 * order, ignore_merges, missing byte tokens) on hand-made vocabularies; the
 * GPT-4o and Tekken pre-tokenizers on Llama-3's vocabulary against llama.cpp. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/chat.h"
#include "gguf_builder.h"
#include "test_util.h"
#include "text/unicode.h"
#include "text/vocab.h"
#include "text/vocab_internal.h"

typedef struct fixture {
    vka_gguf *gguf;
    vka_vocab *vocab;
} fixture;

static fixture open_vocab(const char *name) {
    char rel[64];
    snprintf(rel, sizeof rel, "fixtures/vocab/%s.gguf", name);
    const char *path = test_data_path(rel);
    REQUIRE_FIXTURE(path);
    fixture f = {0};
    cr_assert_eq(vka_gguf_open(path, &f.gguf), VKA_OK, "%s", vka_last_error());
    cr_assert_eq(vka_vocab_load(f.gguf, &f.vocab), VKA_OK, "%s", vka_last_error());
    return f;
}

static void close_fixture(fixture *f) {
    vka_vocab_free(f->vocab);
    vka_gguf_free(f->gguf);
}

static cJSON *load_json(const char *rel) {
    const char *path = test_data_path(rel);
    REQUIRE_FIXTURE(path);
    size_t len;
    char *text = test_read_file(path, &len);
    cr_assert_not_null(text, "cannot read %s", path);
    cJSON *root = cJSON_Parse(text);
    free(text);
    cr_assert_not_null(root, "%s is not JSON", path);
    return root;
}

static int32_t *tokenize(const vka_vocab *v, const char *text, size_t len, int flags, size_t *n) {
    int32_t *ids = NULL;
    cr_assert_eq(vka_vocab_tokenize(v, text, len, flags, &ids, n), VKA_OK, "%s", vka_last_error());
    return ids;
}

static char *detokenize(const vka_vocab *v, const int32_t *ids, size_t n, bool special, size_t *len) {
    size_t cap = 16 * n + 16;
    char *buf = malloc(cap);
    cr_assert_eq(vka_vocab_detokenize(v, ids, n, special, buf, cap, len), VKA_OK, "%s", vka_last_error());
    return buf;
}

static void expect_ids_equal(const char *what, const char *text, const int32_t *ids, size_t n, const cJSON *want) {
    bool same = (size_t)cJSON_GetArraySize(want) == n;
    for (size_t i = 0; same && i < n; i++) same = ids[i] == cJSON_GetArrayItem(want, (int)i)->valueint;
    if (same) return;
    char got[1024] = "", exp[1024] = "";
    for (size_t i = 0; i < n && strlen(got) < 1000; i++) snprintf(got + strlen(got), 16, "%d ", ids[i]);
    const cJSON *x;
    cJSON_ArrayForEach(x, want) if (strlen(exp) < 1000) snprintf(exp + strlen(exp), 16, "%d ", x->valueint);
    cr_expect_fail("%s: \"%s\": got [%s], want [%s]", what, text, got, exp);
}

/* The reference encodes with added tokens recognised (Hugging Face always
 * splits them out) and add_special_tokens=false: PARSE_SPECIAL, no BOS. */
#define REFERENCE_FLAGS VKA_TOKENIZE_PARSE_SPECIAL

/* ---- the reference vectors ---- */

/* decoded_is_raw: the reference's "decoded" texts are the plain decoding
 * (Qwen3's tokenizer_config has clean_up_tokenization_spaces false; Llama-3's
 * has it true, so its "decoded" texts lose the space before punctuation,
 * which vkagent's detokenizer keeps: llama3_round_trip_is_exact checks it). */
static void check_vectors(const char *name, bool decoded_is_raw) {
    fixture f = open_vocab(name);
    char rel[64];
    snprintf(rel, sizeof rel, "tokenizers/%s.vectors.json", name);
    cJSON *root = load_json(rel);
    const cJSON *cases = cJSON_GetObjectItem(root, "cases"), *c;
    size_t n_cases = 0;
    cJSON_ArrayForEach(c, cases) {
        const char *text = cJSON_GetObjectItem(c, "text")->valuestring;
        size_t n;
        int32_t *ids = tokenize(f.vocab, text, strlen(text), REFERENCE_FLAGS, &n);
        expect_ids_equal(name, text, ids, n, cJSON_GetObjectItem(c, "ids"));
        /* the reference's own decoding: the text, NFC-normalized where the tokenizer normalizes */
        const char *decoded = cJSON_GetObjectItem(c, "decoded")->valuestring;
        size_t len;
        char *back = detokenize(f.vocab, ids, n, true, &len);
        if (decoded_is_raw)
            cr_expect(len == strlen(decoded) && memcmp(back, decoded, len) == 0, "%s: \"%s\" decodes to \"%.*s\"",
                      name, text, (int)len, back);
        free(back);
        free(ids);
        n_cases++;
    }
    cr_assert_gt(n_cases, 30, "%s: only %zu cases", rel, n_cases);
    cJSON_Delete(root);
    close_fixture(&f);
}

Test(vocab_bpe, qwen3_reference_vectors) { check_vectors("qwen3", true); }
Test(vocab_bpe, llama3_reference_vectors) { check_vectors("llama3", false); }

/* decode(encode(text)) is the text itself except where NFC changes it. */
static void check_decoded_is_text_or_its_nfc(const char *name, bool nfc) {
    fixture f = open_vocab(name);
    char rel[64];
    snprintf(rel, sizeof rel, "tokenizers/%s.vectors.json", name);
    cJSON *root = load_json(rel);
    const cJSON *c;
    size_t changed = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(root, "cases")) {
        const char *text = cJSON_GetObjectItem(c, "text")->valuestring;
        size_t n, len, want_len;
        int32_t *ids = tokenize(f.vocab, text, strlen(text), REFERENCE_FLAGS, &n);
        char *back = detokenize(f.vocab, ids, n, true, &len), *want;
        if (nfc) {
            cr_assert_eq(vka_nfc(text, strlen(text), &want, &want_len), VKA_OK);
        } else {
            want = strdup(text);
            want_len = strlen(text);
        }
        if (want_len != strlen(text) || memcmp(want, text, want_len) != 0) changed++;
        cr_expect(len == want_len && memcmp(back, want, len) == 0, "%s: \"%s\" round-trips to \"%.*s\"", name, text,
                  (int)len, back);
        free(want);
        free(back);
        free(ids);
    }
    /* the corpus has one text that NFC changes (e + combining acute) */
    cr_expect_eq(changed, nfc ? 1 : 0);
    cJSON_Delete(root);
    close_fixture(&f);
}

Test(vocab_bpe, qwen3_round_trip_is_nfc) { check_decoded_is_text_or_its_nfc("qwen3", true); }
Test(vocab_bpe, llama3_round_trip_is_exact) { check_decoded_is_text_or_its_nfc("llama3", false); }

/* The fixtures' llama.cpp files: every text with the reference ids (where
 * llama.cpp differs — Qwen3's NFC and its `</s>` — the reference wins). */
static void check_reference_ids(const char *name, const char *file) {
    fixture f = open_vocab(name);
    char rel[96];
    snprintf(rel, sizeof rel, "fixtures/vocab/%s", file);
    cJSON *root = load_json(rel);
    const cJSON *c;
    size_t n_cases = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(root, "cases")) {
        const char *text = cJSON_GetObjectItem(c, "text")->valuestring;
        size_t n;
        int32_t *ids = tokenize(f.vocab, text, strlen(text), REFERENCE_FLAGS, &n);
        expect_ids_equal(file, text, ids, n, cJSON_GetObjectItem(c, "reference_ids"));
        free(ids);
        n_cases++;
    }
    cr_assert_gt(n_cases, 10);
    cJSON_Delete(root);
    close_fixture(&f);
}

Test(vocab_bpe, qwen3_probes) { check_reference_ids("qwen3", "qwen3.probes.llamacpp.json"); }
Test(vocab_bpe, llama3_probes) { check_reference_ids("llama3", "llama3.probes.llamacpp.json"); }
Test(vocab_bpe, qwen3_llamacpp_corpus) { check_reference_ids("qwen3", "qwen3.llamacpp.json"); }
Test(vocab_bpe, llama3_llamacpp_corpus) { check_reference_ids("llama3", "llama3.llamacpp.json"); }

/* ---- flags and settings of the real vocabularies ---- */

Test(vocab_bpe, settings_from_metadata) {
    fixture q = open_vocab("qwen3"), l = open_vocab("llama3");
    bool fallback = true;
    cr_expect_str_eq(vka_vocab_pretokenizer(q.vocab, &fallback), "qwen2");
    cr_expect_not(fallback);
    cr_expect(vka_vocab_nfc(q.vocab));
    cr_expect_str_eq(vka_vocab_pretokenizer(l.vocab, &fallback), "llama3");
    cr_expect_not(fallback);
    cr_expect_not(vka_vocab_nfc(l.vocab));
    size_t n;
    /* llama-tokenize on "Hi" (fixtures README): qwen3 [13048], llama3 [128000, 13347] */
    int32_t *ids = tokenize(q.vocab, "Hi", 2, VKA_TOKENIZE_MODEL_BOS, &n);
    cr_expect(n == 1 && ids[0] == 13048);
    free(ids);
    ids = tokenize(l.vocab, "Hi", 2, VKA_TOKENIZE_MODEL_BOS, &n);
    cr_expect(n == 2 && ids[0] == 128000 && ids[1] == 13347);
    free(ids);
    close_fixture(&q);
    close_fixture(&l);
}

/* The same through the public API: vka_model_pretokenizer on a vocab-only load. */
Test(vocab_bpe, pretokenizer_public) {
    const char *path = test_data_path("fixtures/vocab/qwen3.gguf");
    REQUIRE_FIXTURE(path);
    vka_model_params mp;
    vka_model_params_default(&mp);
    mp.vocab_only = true;
    vka_model *m = NULL;
    cr_assert_eq(vka_model_load(path, &mp, &m), VKA_OK, "%s", vka_last_error());
    bool fallback = true;
    cr_expect_str_eq(vka_model_pretokenizer(m, &fallback), "qwen2");
    cr_expect_not(fallback);
    cr_expect_str_eq(vka_model_pretokenizer(m, NULL), "qwen2");
    vka_model_free(m);
    fallback = true;
    cr_expect_null(vka_model_pretokenizer(NULL, &fallback));
    cr_expect_not(fallback);
}

/* Control tokens' text is raw text without PARSE_SPECIAL; user-defined
 * ones are matched always; [PAD] (unused) texts never. */
Test(vocab_bpe, qwen3_special_text_without_parse_special) {
    fixture f = open_vocab("qwen3");
    size_t n, len;
    int32_t *ids = tokenize(f.vocab, "<|im_end|><think>", 17, 0, &n);
    cr_assert_gt(n, 2);
    for (size_t i = 0; i + 1 < n; i++) cr_expect_lt(ids[i], 151643, "raw text gives ordinary tokens");
    cr_expect_eq(ids[n - 1], 151667, "<think> is user-defined");
    char *back = detokenize(f.vocab, ids, n, true, &len);
    cr_expect(len == 17 && memcmp(back, "<|im_end|><think>", 17) == 0);
    free(back);
    free(ids);
    ids = tokenize(f.vocab, "[PAD151669]", 11, VKA_TOKENIZE_PARSE_SPECIAL, &n);
    for (size_t i = 0; i < n; i++) cr_expect_lt(ids[i], 151643);
    free(ids);
    close_fixture(&f);
}

/* Random mixes of scripts, emoji, whitespace, marks and bytes that are not
 * UTF-8: every one comes back as it went in (Llama-3) or as its NFC (Qwen3). */
Test(vocab_bpe, random_round_trips) {
    static const char *const parts[] = {"a", "The", " cat", "'s", "'LL", "7", "123456", " ", "   ", "\t", "\r\n",
                                        "\n\n", "\xc2\xa0", "\xe4\xbd\xa0\xe5\xa5\xbd", "\xe3\x80\x82", "!!", "...",
                                        "e\xcc\x81", "\xe2\x84\xab", "\xf0\x9f\xa6\x99", "\xe2\x80\x8d", "\xff",
                                        "\xe0\xb8\xaa\xe0\xb8\xb1", "\xe0\xa4\xa8\xe0\xa5\x8d", "<|im_start|>", "</s>"};
    fixture q = open_vocab("qwen3"), l = open_vocab("llama3");
    uint64_t x = 88172645463325252ull;
    char text[512];
    for (int round = 0; round < 300; round++) {
        size_t len = 0;
        for (int k = 0; k < 40; k++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            const char *part = parts[x % (sizeof parts / sizeof *parts)];
            memcpy(text + len, part, strlen(part));
            len += strlen(part);
        }
        for (int which = 0; which < 2; which++) {
            const vka_vocab *v = which ? l.vocab : q.vocab;
            size_t n, back_len, want_len;
            int32_t *ids = tokenize(v, text, len, which ? VKA_TOKENIZE_PARSE_SPECIAL : 0, &n);
            char *back = detokenize(v, ids, n, true, &back_len), *want;
            if (which) {
                want = malloc(len);
                memcpy(want, text, len);
                want_len = len;
            } else {
                cr_assert_eq(vka_nfc(text, len, &want, &want_len), VKA_OK);
            }
            cr_assert(back_len == want_len && memcmp(back, want, want_len) == 0, "round %d, %s", round,
                      which ? "llama3" : "qwen3");
            free(want);
            free(back);
            free(ids);
        }
    }
    close_fixture(&q);
    close_fixture(&l);
}

/* ---- the Chinese conversation through the Qwen3 chat template ---- */

Test(vocab_bpe, qwen3_chinese_chat_round_trip) {
    fixture f = open_vocab("qwen3");
    const char *question = "我想了解关于GPT-4的更多信息。";
    const char *answer = "GPT-4是OpenAI开发的大型语言模型。";
    const char *tmpl = vka_gguf_get_str(f.gguf, "tokenizer.chat_template");
    cr_assert_not_null(tmpl, "qwen3.gguf has tokenizer.chat_template");
    vka_chat_render_params p;
    vka_chat_render_params_init(&p);
    p.template_text = tmpl;
    vka_chat_message msgs[3] = {{.role = "user", .content = question},
                                {.role = "assistant", .content = answer},
                                {.role = "user", .content = question}};
    char *prompt = NULL;
    cr_assert_eq(vka_chat_render(&p, msgs, 3, &prompt), VKA_OK, "%s", vka_last_error());
    /* ChatML as Qwen3's template writes it (a past assistant turn without thinking stays as is) */
    char want[1024];
    snprintf(want, sizeof want,
             "<|im_start|>user\n%s<|im_end|>\n<|im_start|>assistant\n%s<|im_end|>\n<|im_start|>user\n%s<|im_end|>\n"
             "<|im_start|>assistant\n", question, answer, question);
    cr_assert_str_eq(prompt, want);
    size_t n, len;
    int32_t *ids = tokenize(f.vocab, prompt, strlen(prompt), VKA_TOKENIZE_PARSE_SPECIAL | VKA_TOKENIZE_MODEL_BOS, &n);
    cr_expect_eq(ids[0], 151644, "<|im_start|> first, no BOS (Qwen3 adds none)");
    size_t n_start = 0, n_end = 0;
    for (size_t i = 0; i < n; i++) {
        n_start += ids[i] == 151644;
        n_end += ids[i] == 151645;
    }
    cr_expect(n_start == 4 && n_end == 3);
    char *back = detokenize(f.vocab, ids, n, true, &len);
    cr_expect(len == strlen(prompt) && memcmp(back, prompt, len) == 0, "round trip: \"%.*s\"", (int)len, back);
    free(back);
    /* the question alone tokenizes to the same ids it has inside the prompt */
    size_t nq;
    int32_t *q = tokenize(f.vocab, question, strlen(question), 0, &nq);
    cr_assert_lt(nq + 3, n);
    cr_expect_eq(memcmp(ids + 3, q, nq * sizeof *q), 0, "<|im_start|> user \\n, then the question");
    cr_expect_eq(ids[3 + nq], 151645);
    back = detokenize(f.vocab, q, nq, false, &len);
    cr_expect(len == strlen(question) && memcmp(back, question, len) == 0);
    free(back);
    free(q);
    free(ids);
    free(prompt);
    close_fixture(&f);
}

/* ---- hand-made vocabularies ---- */

/* Loads what the builder holds; the vocabulary in *out (NULL on failure). */
static vka_status load_built(gguf_builder *b, vka_vocab **out) {
    gb_finish(b);
    vka_gguf *g = NULL;
    cr_assert_eq(vka_gguf_open_memory(b->file, b->file_size, &g), VKA_OK, "%s", vka_last_error());
    *out = NULL;
    vka_status s = vka_vocab_load(g, out);
    vka_gguf_free(g);
    gb_free(b);
    return s;
}

/* a, b, c, x and the merge products; types NORMAL. */
static const char *const TOY_TOKENS[] = {"a", "b", "c", "ab", "bc", "abc", "aa", "aaaa", "\xc4\xa0", "\xc4\xa0" "a"};
#define TOY_N (sizeof TOY_TOKENS / sizeof *TOY_TOKENS)

static vka_vocab *toy(const char *pre, const char *const *merges, size_t n_merges, const char *normalizer) {
    gguf_builder b = {0};
    gb_kv_str(&b, "tokenizer.ggml.model", "gpt2");
    if (pre) gb_kv_str(&b, "tokenizer.ggml.pre", pre);
    if (normalizer) gb_kv_str(&b, "tokenizer.ggml.normalizer", normalizer);
    gb_kv_strs(&b, "tokenizer.ggml.tokens", TOY_TOKENS, TOY_N);
    gb_kv_strs(&b, "tokenizer.ggml.merges", merges, n_merges);
    vka_vocab *v;
    cr_assert_eq(load_built(&b, &v), VKA_OK, "%s", vka_last_error());
    return v;
}

static void expect_toy(const vka_vocab *v, const char *text, const int32_t *want, size_t n_want) {
    size_t n;
    int32_t *ids = tokenize(v, text, strlen(text), 0, &n);
    cr_expect_eq(n, n_want, "\"%s\": %zu tokens, expected %zu", text, n, n_want);
    for (size_t i = 0; i < n && i < n_want; i++) cr_expect_eq(ids[i], want[i], "\"%s\" token %zu", text, i);
    free(ids);
}

#define EXPECT_TOY(v, text, ...)                                                         \
    do {                                                                                 \
        static const int32_t want_[] = {__VA_ARGS__};                                    \
        expect_toy(v, text, want_, sizeof want_ / sizeof *want_);                        \
    } while (0)

Test(vocab_bpe, merges_apply_lowest_rank_first) {
    static const char *const bc_first[] = {"b c", "a b", "a bc", "ab c"};
    vka_vocab *v = toy("gpt-2", bc_first, 4, NULL);
    EXPECT_TOY(v, "abc", 5);          /* b+c (rank 0), then a+bc (rank 2) */
    EXPECT_TOY(v, "ab", 3);
    EXPECT_TOY(v, "cab", 2, 3);
    vka_vocab_free(v);
    static const char *const ab_first[] = {"a b", "b c", "ab c"};
    v = toy("gpt-2", ab_first, 3, NULL);
    EXPECT_TOY(v, "abc", 5);          /* a+b (rank 0), then ab+c (rank 2) */
    vka_vocab_free(v);
    static const char *const no_ab_c[] = {"a b", "b c"};
    v = toy("gpt-2", no_ab_c, 2, NULL);
    EXPECT_TOY(v, "abc", 3, 2);       /* a+b wins over b+c; ab c is no merge */
    vka_vocab_free(v);
}

Test(vocab_bpe, equal_pairs_merge_leftmost_first) {
    static const char *const merges[] = {"a a", "aa aa"};
    vka_vocab *v = toy("gpt-2", merges, 2, NULL);
    EXPECT_TOY(v, "aaa", 6, 0);       /* (a a) a, not a (a a) */
    EXPECT_TOY(v, "aaaa", 7);
    EXPECT_TOY(v, "aaaaa", 7, 0);
    vka_vocab_free(v);
}

Test(vocab_bpe, ignore_merges_only_for_llama3) {
    static const char *const merges[] = {"a b"};
    /* "abc" is a token no merge reaches: Llama-3 takes the whole pre-token, others merge */
    vka_vocab *v = toy("llama-bpe", merges, 1, NULL);
    EXPECT_TOY(v, "abc", 5);
    vka_vocab_free(v);
    v = toy("qwen2", merges, 1, NULL);
    EXPECT_TOY(v, "abc", 3, 2);
    vka_vocab_free(v);
    /* llama.cpp: Tekken ignores merges like Llama-3, GPT-4o does not */
    v = toy("tekken", merges, 1, NULL);
    EXPECT_TOY(v, "abc", 5);
    vka_vocab_free(v);
    v = toy("gpt-4o", merges, 1, NULL);
    EXPECT_TOY(v, "abc", 3, 2);
    vka_vocab_free(v);
}

Test(vocab_bpe, spaces_are_byte_characters) {
    static const char *const merges[] = {"\xc4\xa0 a"};
    vka_vocab *v = toy("gpt-2", merges, 1, NULL);
    EXPECT_TOY(v, "a a", 0, 9);       /* "Ġa" */
    EXPECT_TOY(v, "a  a", 0, 8, 9);
    const char *piece;
    cr_expect_eq(vka_vocab_piece(v, 9, false, &piece), 2);
    cr_expect_eq(memcmp(piece, " a", 2), 0);
    vka_vocab_free(v);
}

Test(vocab_bpe, missing_byte_token) {
    static const char *const merges[] = {"a b"};
    vka_vocab *v = toy("gpt-2", merges, 1, NULL);
    int32_t *ids = NULL;
    size_t n = 0;
    cr_assert_eq(vka_vocab_tokenize(v, "ax", 2, 0, &ids, &n), VKA_ERR_FORMAT);
    cr_expect(strstr(vka_last_error(), "byte 0x78"), "%s", vka_last_error());
    cr_expect_null(ids);
    cr_expect_eq(n, 0);
    vka_vocab_free(v);
}

Test(vocab_bpe, pre_tokenizer_names_and_fallback) {
    static const char *const merges[] = {"a b"};
    struct {
        const char *pre;
        const char *want;
        bool fallback, nfc, add_bos;
    } cases[] = {
        {"llama-bpe", "llama3", false, false, true}, {"llama3", "llama3", false, false, true},
        {"qwen2", "qwen2", false, true, false},      {"gpt-2", "gpt2", false, false, false},
        {"smollm", "smollm", false, false, false},   {"starcoder", "smollm", false, false, false},
        {NULL, "gpt2", true, false, false},          {"default", "gpt2", true, false, false},
        {"no-such-pre", "gpt2", true, false, false},
        {"gpt-4o", "gpt4o", false, false, false},    {"llama4", "gpt4o", false, false, false},
        {"minimax-m2", "gpt4o", false, false, false}, {"tekken", "tekken", false, false, true},
        {"dbrx", "llama3", false, false, false},     {"smaug-bpe", "llama3", false, false, false},
        {"hunyuan", "qwen2", false, false, false},   {"exaone4", "gpt2", false, false, false},
        {"mellum2", "smollm", false, false, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        vka_vocab *v = toy(cases[i].pre, merges, 1, NULL);
        bool fallback = !cases[i].fallback;
        cr_expect_str_eq(vka_vocab_pretokenizer(v, &fallback), cases[i].want, "pre %s", cases[i].pre);
        cr_expect_eq(fallback, cases[i].fallback, "pre %s", cases[i].pre);
        cr_expect_eq(vka_vocab_nfc(v), cases[i].nfc, "pre %s", cases[i].pre);
        cr_expect_eq(vka_vocab_add_bos(v), cases[i].add_bos, "pre %s", cases[i].pre);
        vka_vocab_free(v);
    }
}

Test(vocab_bpe, add_bos_key_overrides_the_default) {
    static const char *const merges[] = {"a b"};
    gguf_builder b = {0};
    gb_kv_str(&b, "tokenizer.ggml.model", "gpt2");
    gb_kv_str(&b, "tokenizer.ggml.pre", "llama-bpe");
    gb_kv_strs(&b, "tokenizer.ggml.tokens", TOY_TOKENS, TOY_N);
    gb_kv_strs(&b, "tokenizer.ggml.merges", merges, 1);
    gb_kv_bool(&b, "tokenizer.ggml.add_bos_token", false);
    vka_vocab *v;
    cr_assert_eq(load_built(&b, &v), VKA_OK, "%s", vka_last_error());
    cr_expect_not(vka_vocab_add_bos(v));
    vka_vocab_free(v);
}

Test(vocab_bpe, normalizer_key) {
    static const char *const merges[] = {"a b"};
    vka_vocab *v = toy("gpt-2", merges, 1, "nfc");
    cr_expect(vka_vocab_nfc(v));
    vka_vocab_free(v);
    v = toy("qwen2", merges, 1, "none");
    cr_expect_not(vka_vocab_nfc(v));
    vka_vocab_free(v);

    gguf_builder b = {0};
    gb_kv_str(&b, "tokenizer.ggml.model", "gpt2");
    gb_kv_str(&b, "tokenizer.ggml.normalizer", "nfkc");
    gb_kv_strs(&b, "tokenizer.ggml.tokens", TOY_TOKENS, TOY_N);
    gb_kv_strs(&b, "tokenizer.ggml.merges", merges, 1);
    cr_expect_eq(load_built(&b, &v), VKA_ERR_UNSUPPORTED);
    cr_expect(strstr(vka_last_error(), "\"nfkc\""), "%s", vka_last_error());
    cr_expect_null(v);

    b = (gguf_builder){0};
    gb_kv_str(&b, "tokenizer.ggml.model", "gpt2");
    gb_kv_bool(&b, "tokenizer.ggml.normalizer", true);
    gb_kv_strs(&b, "tokenizer.ggml.tokens", TOY_TOKENS, TOY_N);
    gb_kv_strs(&b, "tokenizer.ggml.merges", merges, 1);
    cr_expect_eq(load_built(&b, &v), VKA_ERR_FORMAT);
    cr_expect(strstr(vka_last_error(), "tokenizer.ggml.normalizer must be a string"), "%s", vka_last_error());
    cr_expect_null(v);
}

/* With NFC on, a decomposed letter tokenizes as its composed form. Token
 * texts are GPT-2 characters: byte 0xCC is U+00CC, 0x81 is U+0123, 0xC3 is
 * U+00C3, 0xA9 is U+00A9. */
Test(vocab_bpe, nfc_applies_before_merging) {
    static const char *const tokens[] = {"e", "\xc3\x8c", "\xc4\xa3", "\xc3\x83", "\xc2\xa9", "\xc3\x83\xc2\xa9"};
    static const char *const merges[] = {"\xc3\x83 \xc2\xa9"};
    for (int nfc = 0; nfc < 2; nfc++) {
        gguf_builder b = {0};
        gb_kv_str(&b, "tokenizer.ggml.model", "gpt2");
        gb_kv_str(&b, "tokenizer.ggml.pre", "gpt-2");
        gb_kv_str(&b, "tokenizer.ggml.normalizer", nfc ? "nfc" : "none");
        gb_kv_strs(&b, "tokenizer.ggml.tokens", tokens, 6);
        gb_kv_strs(&b, "tokenizer.ggml.merges", merges, 1);
        vka_vocab *v;
        cr_assert_eq(load_built(&b, &v), VKA_OK, "%s", vka_last_error());
        /* e + U+0301 (bytes CC 81) -> é (bytes C3 A9) */
        if (nfc) {
            EXPECT_TOY(v, "e\xcc\x81", 5);
        } else {
            EXPECT_TOY(v, "e\xcc\x81", 0, 1, 2);
        }
        vka_vocab_free(v);
    }
}

/* ---- pre-tokenizers against llama.cpp on a borrowed vocabulary ---- */

/* The string array `key` of g as C strings (pointers into g). */
static const char **str_array(const vka_gguf *g, const char *key, size_t *n) {
    const vka_gguf_array *a = vka_gguf_get_array(g, key, VKA_GGUF_STRING);
    cr_assert_not_null(a, "%s", key);
    const char **out = malloc(a->n * sizeof *out);
    cr_assert_not_null(out);
    for (uint64_t i = 0; i < a->n; i++) out[i] = ((const vka_gguf_str *)a->data)[i].data;
    *n = (size_t)a->n;
    return out;
}

/* The tokenizer of `base` (tokens, types, merges) with tokenizer.ggml.pre = pre. */
static vka_vocab *with_pre(const vka_gguf *base, const char *pre) {
    size_t n_tokens, n_merges;
    const char **tokens = str_array(base, "tokenizer.ggml.tokens", &n_tokens);
    const char **merges = str_array(base, "tokenizer.ggml.merges", &n_merges);
    const vka_gguf_array *types = vka_gguf_get_array(base, "tokenizer.ggml.token_type", VKA_GGUF_INT32);
    cr_assert(types && types->n == n_tokens);
    gguf_builder b = {0};
    gb_kv_str(&b, "tokenizer.ggml.model", "gpt2");
    gb_kv_str(&b, "tokenizer.ggml.pre", pre);
    gb_kv_strs(&b, "tokenizer.ggml.tokens", tokens, n_tokens);
    gb_kv_i32s(&b, "tokenizer.ggml.token_type", types->data, n_tokens);
    gb_kv_strs(&b, "tokenizer.ggml.merges", merges, n_merges);
    free(tokens);
    free(merges);
    vka_vocab *v;
    cr_assert_eq(load_built(&b, &v), VKA_OK, "%s", vka_last_error());
    return v;
}

/* Collects pre-tokens and compares them with a JSON array of strings. */
typedef struct piece_check {
    const char *pre, *text;
    const cJSON *want;
    int n;
} piece_check;

static vka_status check_piece(void *user, const char *piece, size_t len) {
    piece_check *pc = user;
    const cJSON *w = cJSON_GetArrayItem(pc->want, pc->n);
    cr_expect(w && strlen(w->valuestring) == len && memcmp(w->valuestring, piece, len) == 0,
              "%s on \"%s\": pre-token %d is \"%.*s\", llama.cpp's \"%s\"", pc->pre, pc->text, pc->n, (int)len, piece,
              w ? w->valuestring : "(none)");
    pc->n++;
    return VKA_OK;
}

/* tests/data/pretok.llamacpp.json (tools/fixtures/make_pretok_golden.py):
 * llama.cpp's pre-tokens and ids for hostile texts (contractions in every
 * case, CamelCase and ALLCAPS, accented/Greek/Cyrillic/CJK letters, combining
 * marks, digit runs, punctuation and slashes, newline and space runs, emoji)
 * with Llama-3's vocabulary under `pre`; vkagent must give the same. */
static void check_pretok_golden(const char *pre, const char *want_name, vka_bpe_pre which) {
    fixture base = open_vocab("llama3");
    const char *src = getenv("VKAGENT_SOURCE_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/data/pretok.llamacpp.json", src ? src : ".");
    size_t len;
    char *json = test_read_file(path, &len);
    cr_assert_not_null(json, "missing %s (set VKAGENT_SOURCE_DIR)", path);
    cJSON *root = cJSON_Parse(json);
    free(json);
    const cJSON *cases = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "pre"), pre), *c;
    cr_assert(cJSON_IsArray(cases), "%s has no cases for %s", path, pre);
    vka_vocab *v = with_pre(base.gguf, pre);
    bool fallback = true;
    cr_expect_str_eq(vka_vocab_pretokenizer(v, &fallback), want_name);
    cr_expect_not(fallback);
    vka_pretok ws = {0};
    size_t n_cases = 0;
    cJSON_ArrayForEach(c, cases) {
        const char *text = cJSON_GetObjectItem(c, "text")->valuestring;
        piece_check pc = {pre, text, cJSON_GetObjectItem(c, "pieces"), 0};
        cr_assert_eq(vka_pretokenize(&ws, which, text, strlen(text), check_piece, &pc), VKA_OK);
        cr_expect_eq(pc.n, cJSON_GetArraySize(pc.want), "%s on \"%s\": %d pre-tokens, llama.cpp %d", pre, text, pc.n,
                     cJSON_GetArraySize(pc.want));
        size_t n;
        int32_t *ids = tokenize(v, text, strlen(text), 0, &n);
        expect_ids_equal(pre, text, ids, n, cJSON_GetObjectItem(c, "ids"));
        free(ids);
        n_cases++;
    }
    cr_assert_gt(n_cases, 30);
    vka_pretok_free(&ws);
    vka_vocab_free(v);
    cJSON_Delete(root);
    close_fixture(&base);
}

Test(vocab_bpe, gpt4o_matches_llamacpp) { check_pretok_golden("gpt-4o", "gpt4o", VKA_BPE_PRE_GPT4O); }
Test(vocab_bpe, tekken_matches_llamacpp) { check_pretok_golden("tekken", "tekken", VKA_BPE_PRE_TEKKEN); }
