/* test_vocab_spm.c — SentencePiece tokenization over the stories260K vocab
 * (goldens from llama2.c's run.c, odd prompts worked out from the vocab's
 * pieces and scores), round trips, invalid UTF-8, special-token parsing,
 * long inputs, and merge-order details on small hand-made vocabularies. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf_builder.h"
#include "test_util.h"
#include "text/vocab.h"

#define STORIES "models/stories260K.gguf"

typedef struct fixture {
    vka_gguf *gguf;
    vka_vocab *vocab;
} fixture;

static fixture open_stories(void) {
    const char *path = test_data_path(STORIES);
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

/* Tokenizes and compares with the expected ids. */
static void expect_ids(const vka_vocab *v, const char *text, size_t len, int flags, const int32_t *want,
                       size_t n_want) {
    int32_t *ids = NULL;
    size_t n = 0;
    cr_assert_eq(vka_vocab_tokenize(v, text, len, flags, &ids, &n), VKA_OK, "%s", vka_last_error());
    bool same = n == n_want && (n == 0 || memcmp(ids, want, n * sizeof *ids) == 0);
    if (!same) {
        char got[512] = "", exp[512] = "";
        for (size_t i = 0; i < n && strlen(got) < 480; i++) snprintf(got + strlen(got), 16, "%d ", ids[i]);
        for (size_t i = 0; i < n_want && strlen(exp) < 480; i++) snprintf(exp + strlen(exp), 16, "%d ", want[i]);
        free(ids);
        cr_assert_fail("\"%.*s\": got [%s], want [%s]", (int)len, text, got, exp);
    }
    free(ids);
}

#define EXPECT(v, text, flags, ...)                                                      \
    do {                                                                                 \
        static const int32_t want_[] = {__VA_ARGS__};                                    \
        expect_ids(v, text, sizeof(text) - 1, flags, want_, sizeof want_ / sizeof *want_); \
    } while (0)

/* decode(encode(text)) == text, for the given flags. */
static void expect_round_trip(const vka_vocab *v, const char *text, size_t len, int flags) {
    int32_t *ids = NULL;
    size_t n = 0;
    cr_assert_eq(vka_vocab_tokenize(v, text, len, flags, &ids, &n), VKA_OK, "%s", vka_last_error());
    size_t cap = len + 64, out_len = 0;
    char *out = malloc(cap);
    cr_assert_not_null(out);
    vka_status s = vka_vocab_detokenize(v, ids, n, (flags & VKA_TOKENIZE_PARSE_SPECIAL) != 0, out, cap, &out_len);
    free(ids);
    bool same = s == VKA_OK && out_len == len && memcmp(out, text, len) == 0;
    free(out);
    cr_assert(same, "round trip of \"%.*s\" (flags %d) changed it", (int)len, text, flags);
}

/* ---- goldens ---- */

Test(vocab_spm, golden_prompt_ids_from_run_c) {
    fixture f = open_stories();
    const char *golden_path = test_data_path("models/stories260K.golden.json");
    REQUIRE_FIXTURE(golden_path);
    char *json = test_read_file(golden_path, NULL);
    cr_assert_not_null(json);
    cJSON *root = cJSON_Parse(json);
    free(json);
    cr_assert_not_null(root);
    const cJSON *greedy = cJSON_GetObjectItemCaseSensitive(root, "greedy");
    cr_assert(cJSON_IsArray(greedy) && cJSON_GetArraySize(greedy) >= 4);
    int checked = 0;
    const cJSON *run;
    cJSON_ArrayForEach(run, greedy) {
        const char *prompt = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(run, "prompt"));
        const cJSON *want = cJSON_GetObjectItemCaseSensitive(run, "prompt_tokens");
        cr_assert(prompt && cJSON_IsArray(want));
        int32_t expected[64];
        size_t n_expected = 0;
        const cJSON *id;
        cJSON_ArrayForEach(id, want) {
            cr_assert_lt(n_expected, 64);
            expected[n_expected++] = (int32_t)id->valuedouble;
        }
        /* run.c encodes with bos=1: the vocab's add_bos says the same. */
        expect_ids(f.vocab, prompt, strlen(prompt), VKA_TOKENIZE_MODEL_BOS, expected, n_expected);
        checked++;
    }
    cr_assert_geq(checked, 4);
    cJSON_Delete(root);
    close_fixture(&f);
}

/* The golden continuations decode to run.c's printed text (BOS's piece is
 * empty, the space after BOS is dropped, byte tokens give raw bytes). */
Test(vocab_spm, golden_continuations_decode_to_run_c_text) {
    fixture f = open_stories();
    const char *golden_path = test_data_path("models/stories260K.golden.json");
    REQUIRE_FIXTURE(golden_path);
    char *json = test_read_file(golden_path, NULL);
    cJSON *root = cJSON_Parse(json);
    free(json);
    cr_assert_not_null(root);
    const cJSON *run;
    int checked = 0;
    cJSON_ArrayForEach(run, cJSON_GetObjectItemCaseSensitive(root, "greedy")) {
        const cJSON *tokens = cJSON_GetObjectItemCaseSensitive(run, "tokens");
        const char *text = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(run, "text"));
        cr_assert(cJSON_IsArray(tokens) && text);
        size_t n = (size_t)cJSON_GetArraySize(tokens), i = 0;
        int32_t *ids = malloc(n * sizeof *ids);
        const cJSON *id;
        cJSON_ArrayForEach(id, tokens) ids[i++] = (int32_t)id->valuedouble;
        char buf[8192];
        size_t len = 0;
        cr_assert_eq(vka_vocab_detokenize(f.vocab, ids, n, false, buf, sizeof buf, &len), VKA_OK);
        free(ids);
        cr_assert_eq(len, strlen(text), "decoded %zu bytes, run.c printed %zu", len, strlen(text));
        cr_assert_str_eq(buf, text);
        checked++;
    }
    cr_assert_geq(checked, 4);
    cJSON_Delete(root);
    close_fixture(&f);
}

/* ---- odd prompts ----
 * Expected ids worked out from the vocab (see models/README.md): a
 * U+2581 prefix, spaces as U+2581, single characters first, then merges by
 * score, ids 259..511 having score -(id - 259) so the lower id wins; byte
 * tokens are <0xNN> = NN + 3. E.g. "☕" = E2 98 95 -> 229 155 152. */
Test(vocab_spm, odd_prompts) {
    fixture f = open_stories();
    vka_vocab *v = f.vocab;
    const int B = VKA_TOKENIZE_MODEL_BOS;
    EXPECT(v, "Hello  world", B, 1, 346, 306, 414, 410, 263, 304, 341);   /* ▁He ll o ▁ ▁w or ld */
    EXPECT(v, " leading", B, 1, 410, 278, 411, 380, 299);                 /* ▁ ▁l e ad ing */
    EXPECT(v, "trailing ", B, 1, 259, 420, 412, 290, 299, 410);           /* ▁t r a il ing ▁ */
    EXPECT(v, "  two", B, 1, 410, 410, 259, 424, 414);
    EXPECT(v, "line one\nline two", B, 1, 278, 271, 411, 353, 411, 13, 421, 271, 411, 259, 424, 414);
    EXPECT(v, "I have 3 cats and 42 dogs.", B, 1, 359, 300, 360, 410, 472, 280, 294, 419, 269, 410, 484, 479,
           400, 428, 419, 426);
    EXPECT(v, "She said, \"Hi!\" and left.", B, 1, 338, 336, 432, 313, 440, 417, 443, 436, 269, 278, 411, 431,
           413, 426);
    /* c a f é ▁ <E2><98><95> ▁n a <C3><AF> ve */
    EXPECT(v, "café ☕ naïve", B, 1, 280, 412, 431, 485, 410, 229, 155, 152, 297, 412, 198, 178, 360);
    EXPECT(v, "it's", B, 1, 312, 439, 419);
    EXPECT(v, "a\tb", B, 1, 261, 12, 430);
    EXPECT(v, "\n", B, 1, 410, 13);
    EXPECT(v, " ", B, 1, 410, 410);
    EXPECT(v, "é", B, 1, 410, 485);
    /* without flags there is no BOS */
    EXPECT(v, "Once upon a time", 0, 403, 407, 261, 378);
    EXPECT(v, "Once upon a time", VKA_TOKENIZE_ADD_BOS, 1, 403, 407, 261, 378);
    close_fixture(&f);
}

Test(vocab_spm, empty_text) {
    fixture f = open_stories();
    int32_t *ids = (int32_t *)&ids;
    size_t n = 99;
    cr_assert_eq(vka_vocab_tokenize(f.vocab, "", 0, 0, &ids, &n), VKA_OK);
    cr_assert_eq(n, 0);
    cr_assert_null(ids);
    cr_assert_eq(vka_vocab_tokenize(f.vocab, NULL, 0, 0, &ids, &n), VKA_OK);
    cr_assert_eq(n, 0);
    EXPECT(f.vocab, "", VKA_TOKENIZE_MODEL_BOS, 1);
    EXPECT(f.vocab, "", VKA_TOKENIZE_ADD_BOS | VKA_TOKENIZE_PARSE_SPECIAL, 1);
    close_fixture(&f);
}

Test(vocab_spm, special_tokens_only_with_parse_special) {
    fixture f = open_stories();
    vka_vocab *v = f.vocab;
    /* As text: ▁ < s > (504 '<', 419 's', 505 '>') */
    EXPECT(v, "<s>", VKA_TOKENIZE_ADD_BOS, 1, 410, 504, 419, 505);
    EXPECT(v, "<s>", VKA_TOKENIZE_PARSE_SPECIAL, 1);
    EXPECT(v, "<unk>", VKA_TOKENIZE_PARSE_SPECIAL, 0);
    /* raw text after a special token gets the space prefix again */
    EXPECT(v, "x</s>y", VKA_TOKENIZE_PARSE_SPECIAL, 410, 444, 2, 348);
    EXPECT(v, "x</s>y", 0, 410, 444, 504, 492, 419, 505, 422);
    /* longest match: "<s>" inside "</s>" does not win */
    EXPECT(v, "</s><s>", VKA_TOKENIZE_PARSE_SPECIAL, 2, 1);
    /* near misses stay text */
    EXPECT(v, "<s", VKA_TOKENIZE_PARSE_SPECIAL, 410, 504, 419);
    expect_round_trip(v, "x</s>y", 5, VKA_TOKENIZE_PARSE_SPECIAL);
    expect_round_trip(v, "<s>Once</s>", 11, VKA_TOKENIZE_PARSE_SPECIAL);
    expect_round_trip(v, "<s>Once</s>", 11, 0);
    close_fixture(&f);
}

/* ---- round trips ---- */

Test(vocab_spm, round_trips) {
    fixture f = open_stories();
    static const char *const texts[] = {
        "Once upon a time",
        "Hello, world!",
        "  multiple   spaces  ",
        "tabs\tand\nnewlines\r\n",
        "日本語のテキスト",                          /* every character from byte tokens */
        "emoji 😀👍🏽 zwj 👨‍👩‍👧",
        "combining e\xcc\x81 and precomposed \xc3\xa9",
        "math ∑ ∫ √ ≠",
        "mixed ñ é ü ß Ω",
        "quotes “curly” ‘single’ — dash … ellipsis",
        " ",
        "\n\n",
        "a",
        "\x7f\x01 control characters",
        "<s>not special</s>",
        "naïve café ☕",
    };
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        expect_round_trip(f.vocab, texts[i], strlen(texts[i]), 0);
        expect_round_trip(f.vocab, texts[i], strlen(texts[i]), VKA_TOKENIZE_MODEL_BOS);
        expect_round_trip(f.vocab, texts[i], strlen(texts[i]), VKA_TOKENIZE_PARSE_SPECIAL);
    }
    /* an embedded NUL is a byte token like any other */
    expect_round_trip(f.vocab, "a\0b", 3, 0);
    close_fixture(&f);
}

Test(vocab_spm, multibyte_characters_use_byte_tokens) {
    fixture f = open_stories();
    /* 語 = E8 AA 9E: not in the vocab, so three byte tokens after the prefix */
    EXPECT(f.vocab, "語", 0, 410, 0xE8 + 3, 0xAA + 3, 0x9E + 3);
    /* 😀 = F0 9F 98 80 */
    EXPECT(f.vocab, "😀", 0, 410, 0xF0 + 3, 0x9F + 3, 0x98 + 3, 0x80 + 3);
    close_fixture(&f);
}

/* Byte tokens fed one by one through the UTF-8 stream: ☕ comes out whole. */
Test(vocab_spm, stream_never_emits_half_a_character) {
    fixture f = open_stories();
    int32_t *ids = NULL;
    size_t n = 0;
    cr_assert_eq(vka_vocab_tokenize(f.vocab, "☕!", strlen("☕!"), 0, &ids, &n), VKA_OK);
    static const int32_t want[] = {410, 229, 155, 152, 443};
    cr_assert_eq(n, 5);
    cr_assert_eq(memcmp(ids, want, sizeof want), 0);
    static const size_t want_out[] = {1, 0, 0, 3, 1};
    vka_utf8_stream st = {0};
    char out[64];
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        const char *piece;
        size_t len = vka_vocab_piece(f.vocab, ids[i], false, &piece);
        size_t got = vka_utf8_stream_push(&st, piece, len, out + total);
        cr_assert_eq(got, want_out[i], "token %zu (%d): %zu bytes out", i, ids[i], got);
        total += got;
    }
    total += vka_utf8_stream_flush(&st, out + total);
    cr_assert_eq(total, strlen(" ☕!"));
    cr_assert_eq(memcmp(out, " ☕!", total), 0);
    free(ids);
    close_fixture(&f);
}

/* ---- invalid UTF-8 ---- */

Test(vocab_spm, invalid_utf8_is_tokenized_byte_by_byte) {
    fixture f = open_stories();
    vka_vocab *v = f.vocab;
    /* ▁a, <FF>, b, then a truncated ☕ (E2 98) at the very end */
    EXPECT(v, "a\xff" "b\xe2\x98", 0, 261, 0xFF + 3, 430, 0xE2 + 3, 0x98 + 3);
    EXPECT(v, "\xc0\xaf", 0, 410, 0xC0 + 3, 0xAF + 3);          /* overlong '/' */
    EXPECT(v, "\xed\xa0\x80", 0, 410, 0xED + 3, 0xA0 + 3, 0x80 + 3); /* surrogate */
    EXPECT(v, "\x80", 0, 410, 0x80 + 3);                        /* lone continuation */
    static const char *const bad[] = {"a\xff" "b\xe2\x98", "\xc0\xaf", "\xed\xa0\x80", "\x80\x80 x \xf4\x90\x80\x80",
                                      "\xe2\x98\xe2\x98\x95"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) expect_round_trip(v, bad[i], strlen(bad[i]), 0);
    /* the truncated character at the end of a heap buffer of exact size: no read past it */
    char *tail = malloc(2);
    memcpy(tail, "\xe2\x98", 2);
    expect_round_trip(v, tail, 2, 0);
    free(tail);
    close_fixture(&f);
}

/* ---- long inputs (O(n log n) merging; a quadratic loop would not finish) ---- */

Test(vocab_spm, one_megabyte_of_text) {
    fixture f = open_stories();
    static const char rep[] = "Once upon a time, Lily and Tom. ";
    size_t rep_len = sizeof rep - 1, n_rep = (1u << 20) / rep_len;
    char *text = malloc(rep_len * n_rep);
    for (size_t i = 0; i < n_rep; i++) memcpy(text + i * rep_len, rep, rep_len);
    int32_t *one = NULL, *all = NULL;
    size_t n_one = 0, n_all = 0;
    /* Every repetition starts with "▁Once" (prefix or the previous trailing space)
     * and nothing merges across ". ", so the whole is the sentence's ids n_rep
     * times and a final "▁". */
    cr_assert_eq(vka_vocab_tokenize(f.vocab, rep, rep_len - 1, 0, &one, &n_one), VKA_OK);
    cr_assert_eq(vka_vocab_tokenize(f.vocab, text, rep_len * n_rep, 0, &all, &n_all), VKA_OK);
    cr_assert_eq(n_all, n_one * n_rep + 1);
    for (size_t i = 0; i < n_rep; i++)
        cr_assert_eq(memcmp(all + i * n_one, one, n_one * sizeof *one), 0, "repetition %zu differs", i);
    cr_assert_eq(all[n_all - 1], 410);
    free(one);
    free(all);
    free(text);
    close_fixture(&f);
}

Test(vocab_spm, one_megabyte_of_near_miss_specials) {
    fixture f = open_stories();
    static const char rep[] = "<s</s>";
    size_t rep_len = sizeof rep - 1, n_rep = (1u << 20) / rep_len;
    char *text = malloc(rep_len * n_rep);
    for (size_t i = 0; i < n_rep; i++) memcpy(text + i * rep_len, rep, rep_len);
    int32_t *ids = NULL;
    size_t n = 0;
    cr_assert_eq(vka_vocab_tokenize(f.vocab, text, rep_len * n_rep, VKA_TOKENIZE_PARSE_SPECIAL, &ids, &n), VKA_OK);
    /* each "<s" is raw text after a special (or at the start): ▁ < s, then </s> = 2 */
    cr_assert_eq(n, 4 * n_rep);
    static const int32_t want[] = {410, 504, 419, 2};
    for (size_t i = 0; i < n_rep; i++) cr_assert_eq(memcmp(ids + 4 * i, want, sizeof want), 0, "repetition %zu", i);
    free(ids);
    free(text);
    close_fixture(&f);
}

/* ---- merge order and fallbacks on hand-made vocabularies ---- */

#define SP "\xe2\x96\x81"

typedef struct small_vocab {
    gguf_builder b;
    vka_gguf *gguf;
    vka_vocab *vocab;
} small_vocab;

/* A SentencePiece vocab from texts, scores and types (NULL types: all NORMAL). */
static void make_spm(small_vocab *sv, const char *const *texts, const float *scores, const int32_t *types,
                     size_t n, bool space_prefix) {
    memset(sv, 0, sizeof *sv);
    gb_kv_str(&sv->b, "tokenizer.ggml.model", "llama");
    gb_kv_strs(&sv->b, "tokenizer.ggml.tokens", texts, n);
    gb_kv_f32s(&sv->b, "tokenizer.ggml.scores", scores, n);
    if (types) gb_kv_i32s(&sv->b, "tokenizer.ggml.token_type", types, n);
    gb_kv_bool(&sv->b, "tokenizer.ggml.add_space_prefix", space_prefix);
    gb_finish(&sv->b);
    cr_assert_eq(vka_gguf_open_memory(sv->b.file, sv->b.file_size, &sv->gguf), VKA_OK, "%s", vka_last_error());
    cr_assert_eq(vka_vocab_load(sv->gguf, &sv->vocab), VKA_OK, "%s", vka_last_error());
}

static void free_small(small_vocab *sv) {
    vka_vocab_free(sv->vocab);
    vka_gguf_free(sv->gguf);
    gb_free(&sv->b);
}

Test(vocab_spm, equal_scores_merge_leftmost_first) {
    static const char *const texts[] = {"<unk>", "<s>", "</s>", "a", "b", "ab", "ba"};
    static const float scores[] = {0, 0, 0, 0, 0, -1, -1};
    static const int32_t types[] = {2, 3, 3, 1, 1, 1, 1};
    small_vocab sv;
    make_spm(&sv, texts, scores, types, 7, false);
    EXPECT(sv.vocab, "aba", 0, 5, 3);     /* ab a, not a ba */
    EXPECT(sv.vocab, "abab", 0, 5, 5);
    EXPECT(sv.vocab, "bab", 0, 6, 4);     /* ba b */
    free_small(&sv);
}

Test(vocab_spm, higher_score_merges_first) {
    static const char *const texts[] = {"<unk>", "<s>", "</s>", "a", "b", "ab", "ba"};
    static const float scores[] = {0, 0, 0, 0, 0, -2, -1};
    static const int32_t types[] = {2, 3, 3, 1, 1, 1, 1};
    small_vocab sv;
    make_spm(&sv, texts, scores, types, 7, false);
    EXPECT(sv.vocab, "aba", 0, 3, 6);     /* a ba */
    free_small(&sv);
}

/* Merged symbols are the result of every merge along the way: "abc" needs
 * "ab" (or "bc") to exist first; a lone high-scoring "abc" is unreachable. */
Test(vocab_spm, merges_build_on_merges) {
    static const char *const texts[] = {"<unk>", "<s>", "</s>", "a", "b", "c", "bc", "abc", "ac"};
    static const float scores[] = {0, 0, 0, 0, 0, 0, -3, -1, 5};
    static const int32_t types[] = {2, 3, 3, 1, 1, 1, 1, 1, 1};
    small_vocab sv;
    make_spm(&sv, texts, scores, types, 9, false);
    EXPECT(sv.vocab, "abc", 0, 7);        /* b+c -> bc, then a+bc -> abc */
    EXPECT(sv.vocab, "acb", 0, 8, 4);     /* ac b */
    free_small(&sv);
}

Test(vocab_spm, no_byte_tokens_falls_back_to_unk_per_character) {
    static const char *const texts[] = {"<unk>", "<s>", "</s>", "a", SP};
    static const float scores[] = {0, 0, 0, 0, 0};
    static const int32_t types[] = {2, 3, 3, 1, 1};
    small_vocab sv;
    make_spm(&sv, texts, scores, types, 5, true);
    EXPECT(sv.vocab, "a\xc3\xa9" "a", 0, 4, 3, 0, 3);   /* ▁ a <unk> a */
    EXPECT(sv.vocab, "\xff", 0, 4, 0);
    free_small(&sv);
}

Test(vocab_spm, without_space_prefix) {
    static const char *const texts[] = {"<unk>", "<s>", "</s>", "x", SP "x", SP};
    static const float scores[] = {0, 0, 0, 0, -1, 0};
    small_vocab sv;
    static const int32_t types[] = {2, 3, 3, 1, 1, 1};
    make_spm(&sv, texts, scores, types, 6, false);
    EXPECT(sv.vocab, "x", 0, 3);
    EXPECT(sv.vocab, " x", 0, 4);
    cr_assert_not(vka_vocab_strips_leading_space(sv.vocab));
    expect_round_trip(sv.vocab, " x", 2, 0);
    free_small(&sv);
}

/* USER_DEFINED texts are cut out even without PARSE_SPECIAL; raw text after
 * them gets the space prefix like after any special token. Byte tokens
 * written in lower case are accepted. */
Test(vocab_spm, user_defined_tokens_always_match) {
    static const char *const texts[] = {"<unk>", "<s>", "</s>", "<tool>", "x", "y", SP "x", SP "y", SP, "<0x0a>"};
    static const float scores[] = {0, 0, 0, 0, 0, 0, -1, -1, 0, 0};
    static const int32_t types[] = {2, 3, 3, 4, 1, 1, 1, 1, 1, 6};
    small_vocab sv;
    make_spm(&sv, texts, scores, types, 10, true);
    EXPECT(sv.vocab, "x<tool>y", 0, 6, 3, 7);
    EXPECT(sv.vocab, "<tool>", 0, 3);
    EXPECT(sv.vocab, "x\n", 0, 6, 9);
    expect_round_trip(sv.vocab, "x<tool>y\n", 9, 0);
    free_small(&sv);
}

/* Control and byte tokens are not reachable by merging text: "<s>" in raw
 * text stays three pieces even though the concatenation is a token. */
Test(vocab_spm, merging_never_produces_control_tokens) {
    static const char *const texts[] = {"<unk>", "<s>", "</s>", "<", "s", ">", "<s", "s>"};
    static const float scores[] = {0, 100, 100, 0, 0, 0, -1, -2};
    static const int32_t types[] = {2, 3, 3, 1, 1, 1, 1, 1};
    small_vocab sv;
    make_spm(&sv, texts, scores, types, 8, false);
    EXPECT(sv.vocab, "<s>", 0, 6, 5);
    EXPECT(sv.vocab, "<s>", VKA_TOKENIZE_PARSE_SPECIAL, 1);
    free_small(&sv);
}

/* A text that already starts with BOS (parsed as special) gets no second one. */
Test(vocab_spm, no_double_bos) {
    fixture f = open_stories();
    const vka_vocab *v = f.vocab;
    int32_t *ids;
    size_t n;
    cr_assert_eq(vka_vocab_tokenize(v, "<s>Once", 7, VKA_TOKENIZE_ADD_BOS | VKA_TOKENIZE_PARSE_SPECIAL, &ids, &n), VKA_OK);
    cr_expect_eq(n, 2);
    cr_expect_eq(ids[0], 1);
    cr_expect_eq(ids[1], 403, "' Once' after BOS (space prefix after a special token)");
    free(ids);
    close_fixture(&f);
}
