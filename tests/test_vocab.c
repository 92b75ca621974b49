/* test_vocab.c — loading vocabularies (vocab_load.c) and querying them
 * (vocab.c): stories260K (SentencePiece), the Qwen3 and Llama-3 byte-level
 * BPE vocabs, special ids, the end-of-generation set, pieces, detokenizing,
 * special-token partitioning, and malformed metadata built in memory. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf_builder.h"
#include "test_util.h"
#include "text/vocab.h"
#include "text/vocab_internal.h"

typedef struct fixture {
    vka_gguf *gguf;
    vka_vocab *vocab;
} fixture;

static fixture open_vocab(const char *rel) {
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

static int32_t find(const vka_vocab *v, const char *text) { return vka_vocab_find(v, text, strlen(text)); }

static void expect_piece(const vka_vocab *v, int32_t id, bool special, const char *want, size_t want_len) {
    const char *bytes = NULL;
    size_t n = vka_vocab_piece(v, id, special, &bytes);
    cr_assert_not_null(bytes);
    cr_assert(n == want_len && memcmp(bytes, want, n) == 0, "piece of %d (special %d) is \"%.*s\" (%zu bytes)",
              id, special, (int)n, bytes, n);
}

#define PIECE(v, id, special, lit) expect_piece(v, id, special, lit, sizeof(lit) - 1)

/* ---- stories260K ---- */

Test(vocab, stories_metadata) {
    fixture f = open_vocab("models/stories260K.gguf");
    vka_vocab *v = f.vocab;
    cr_assert_eq(vka_vocab_get_kind(v), VKA_VOCAB_SPM);
    cr_assert_str_eq(vka_vocab_model_name(v), "llama");
    cr_assert_str_eq(vka_vocab_pre(v), "");
    cr_assert_eq(vka_vocab_size(v), 512);
    cr_assert_eq(vka_vocab_bos(v), 1);
    cr_assert_eq(vka_vocab_eos(v), 2);
    cr_assert_eq(vka_vocab_unk(v), 0);
    cr_assert_eq(vka_vocab_eot(v), -1);
    cr_assert_eq(vka_vocab_eom(v), -1);
    cr_assert_eq(vka_vocab_pad(v), -1);
    cr_assert(vka_vocab_add_bos(v));
    cr_assert_not(vka_vocab_add_eos(v));
    cr_assert(vka_vocab_strips_leading_space(v));
    cr_assert_eq(vka_vocab_token_type(v, 0), VKA_TOKEN_UNKNOWN);
    cr_assert_eq(vka_vocab_token_type(v, 1), VKA_TOKEN_CONTROL);
    cr_assert_eq(vka_vocab_token_type(v, 3), VKA_TOKEN_BYTE);
    cr_assert_eq(vka_vocab_token_type(v, 258), VKA_TOKEN_BYTE);
    cr_assert_eq(vka_vocab_token_type(v, 403), VKA_TOKEN_NORMAL);
    cr_assert_eq(vka_vocab_token_type(v, 512), VKA_TOKEN_UNDEFINED);
    cr_assert_eq(vka_vocab_token_type(v, -1), VKA_TOKEN_UNDEFINED);
    cr_assert(vka_vocab_is_control(v, 2));
    cr_assert_not(vka_vocab_is_control(v, 0));
    /* scores: 0 for ids 0..258, then -(id - 259) (models/README.md) */
    cr_assert_float_eq(vka_vocab_score(v, 100), 0.0f, 0);
    cr_assert_float_eq(vka_vocab_score(v, 403), -144.0f, 0);
    cr_assert_float_eq(vka_vocab_score(v, 511), -252.0f, 0);
    cr_assert_str_eq(vka_vocab_text(v, 403), "\xe2\x96\x81Once");
    cr_assert_str_eq(vka_vocab_text(v, 13), "<0x0A>");
    cr_assert_null(vka_vocab_text(v, 512));
    close_fixture(&f);
}

Test(vocab, stories_find_every_token) {
    fixture f = open_vocab("models/stories260K.gguf");
    for (int32_t id = 0; id < 512; id++) {
        const char *t = vka_vocab_text(f.vocab, id);
        cr_assert_eq(vka_vocab_find(f.vocab, t, strlen(t)), id, "token %d \"%s\"", id, t);
    }
    cr_assert_eq(find(f.vocab, "\xe2\x96\x81Once"), 403);
    cr_assert_eq(find(f.vocab, "Once"), -1);
    cr_assert_eq(find(f.vocab, ""), -1);
    cr_assert_eq(vka_vocab_find(f.vocab, "\xe2\x96\x81Oncex", 7), 403, "only len bytes count");
    close_fixture(&f);
}

Test(vocab, stories_eog) {
    fixture f = open_vocab("models/stories260K.gguf");
    cr_assert(vka_vocab_is_eog(f.vocab, 2));
    cr_assert_not(vka_vocab_is_eog(f.vocab, 1));
    cr_assert_not(vka_vocab_is_eog(f.vocab, 0));
    cr_assert_not(vka_vocab_is_eog(f.vocab, 403));
    cr_assert_not(vka_vocab_is_eog(f.vocab, 512));
    cr_assert_not(vka_vocab_is_eog(f.vocab, -5));
    close_fixture(&f);
}

Test(vocab, stories_pieces) {
    fixture f = open_vocab("models/stories260K.gguf");
    vka_vocab *v = f.vocab;
    PIECE(v, 403, false, " Once");
    PIECE(v, 410, false, " ");
    PIECE(v, 13, false, "\n");          /* <0x0A> */
    PIECE(v, 3, false, "\0");           /* <0x00> */
    PIECE(v, 258, false, "\xff");       /* <0xFF> */
    PIECE(v, 485, false, "\xc3\xa9");   /* é */
    PIECE(v, 1, false, "");
    PIECE(v, 1, true, "<s>");
    PIECE(v, 2, true, "</s>");
    PIECE(v, 0, false, "");
    PIECE(v, 0, true, "<unk>");
    PIECE(v, 512, true, "");
    PIECE(v, -1, false, "");
    /* every byte token <0xNN> (id NN + 3) stands for byte NN */
    for (int b = 0; b < 256; b++) {
        const char *p;
        cr_assert_eq(vka_vocab_piece(v, b + 3, false, &p), 1);
        cr_assert_eq((unsigned char)p[0], b);
    }
    close_fixture(&f);
}

Test(vocab, detokenize_spm) {
    fixture f = open_vocab("models/stories260K.gguf");
    vka_vocab *v = f.vocab;
    char buf[64];
    size_t len = 0;
    static const int32_t once[] = {1, 403, 407, 261, 378};
    cr_assert_eq(vka_vocab_detokenize(v, once, 5, false, buf, sizeof buf, &len), VKA_OK);
    cr_assert_str_eq(buf, "Once upon a time");
    cr_assert_eq(vka_vocab_detokenize(v, once, 5, true, buf, sizeof buf, &len), VKA_OK);
    cr_assert_str_eq(buf, "<s>Once upon a time");
    /* only the first piece loses its space */
    static const int32_t spaces[] = {410, 410, 403};
    cr_assert_eq(vka_vocab_detokenize(v, spaces, 3, false, buf, sizeof buf, &len), VKA_OK);
    cr_assert_str_eq(buf, "  Once");
    /* after a special token (here EOS) the space is the tokenizer's again */
    static const int32_t after[] = {403, 2, 403};
    cr_assert_eq(vka_vocab_detokenize(v, after, 3, true, buf, sizeof buf, &len), VKA_OK);
    cr_assert_str_eq(buf, "Once</s>Once");
    /* a piece that is not a space is left alone: <0x0A> then " Once" */
    static const int32_t nl[] = {1, 13, 403};
    cr_assert_eq(vka_vocab_detokenize(v, nl, 3, false, buf, sizeof buf, &len), VKA_OK);
    cr_assert_str_eq(buf, "\n Once");
    cr_assert_eq(vka_vocab_detokenize(v, NULL, 0, false, buf, sizeof buf, &len), VKA_OK);
    cr_assert_eq(len, 0);
    cr_assert_str_eq(buf, "");
    close_fixture(&f);
}

Test(vocab, detokenize_buffer_limits) {
    fixture f = open_vocab("models/stories260K.gguf");
    static const int32_t once[] = {1, 403, 407, 261, 378};   /* "Once upon a time": 16 bytes */
    char buf[32];
    memset(buf, 'X', sizeof buf);
    size_t len = 0;
    cr_assert_eq(vka_vocab_detokenize(f.vocab, once, 5, false, buf, 10, &len), VKA_ERR_BUFFER_TOO_SMALL);
    cr_assert_eq(len, 16);
    cr_assert_eq(memcmp(buf, "Once upon ", 10), 0, "what fits is written");
    cr_assert_eq(buf[10], 'X', "nothing past the capacity");
    cr_assert_eq(vka_vocab_detokenize(f.vocab, once, 5, false, buf, 16, &len), VKA_OK, "exact fit, no NUL");
    cr_assert_eq(memcmp(buf, "Once upon a time", 16), 0);
    cr_assert_eq(buf[16], 'X');
    cr_assert_eq(vka_vocab_detokenize(f.vocab, once, 5, false, NULL, 0, &len), VKA_ERR_BUFFER_TOO_SMALL);
    cr_assert_eq(len, 16, "a size query");
    static const int32_t bad[] = {403, 512};
    cr_assert_eq(vka_vocab_detokenize(f.vocab, bad, 2, false, buf, sizeof buf, &len), VKA_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(vka_last_error(), "512"), "%s", vka_last_error());
    close_fixture(&f);
}

Test(vocab, tokenize_arguments) {
    fixture f = open_vocab("models/stories260K.gguf");
    int32_t *ids;
    size_t n;
    cr_assert_eq(vka_vocab_tokenize(f.vocab, NULL, 3, 0, &ids, &n), VKA_ERR_INVALID_ARGUMENT);
    cr_assert_eq(vka_vocab_tokenize(f.vocab, "a", 1, 0, NULL, &n), VKA_ERR_INVALID_ARGUMENT);
    cr_assert_eq(vka_vocab_tokenize(NULL, "a", 1, 0, &ids, &n), VKA_ERR_INVALID_ARGUMENT);
    close_fixture(&f);
}

/* ---- byte-level BPE vocabularies ---- */

/* GPT-2's bytes_to_unicode as its authors wrote it: the printable ranges
 * map to themselves, the remaining bytes to 256, 257, ... in order. */
static void gpt2_byte_map(uint32_t map[256]) {
    bool printable[256] = {0};
    for (int b = '!'; b <= '~'; b++) printable[b] = true;
    for (int b = 0xA1; b <= 0xAC; b++) printable[b] = true;
    for (int b = 0xAE; b <= 0xFF; b++) printable[b] = true;
    uint32_t next = 256;
    for (int b = 0; b < 256; b++) map[b] = printable[b] ? (uint32_t)b : next++;
}

/* Every byte has a single-character token, whose piece is that byte. */
static void check_byte_tokens(const vka_vocab *v) {
    uint32_t map[256];
    gpt2_byte_map(map);
    for (int b = 0; b < 256; b++) {
        char text[4];
        size_t n = vka_utf8_encode(map[b], text);
        int32_t id = vka_vocab_find(v, text, n);
        cr_assert_geq(id, 0, "no token for byte 0x%02x (U+%04X)", b, map[b]);
        const char *p;
        cr_assert_eq(vka_vocab_piece(v, id, false, &p), 1, "byte 0x%02x", b);
        cr_assert_eq((unsigned char)p[0], b);
        cr_assert_eq(vka_gpt2_byte_to_cp((unsigned char)b), map[b]);
        cr_assert_eq(vka_gpt2_cp_to_byte(map[b]), b);
    }
    cr_assert_eq(vka_gpt2_cp_to_byte(' '), -1, "a space is written as U+0120");
    cr_assert_eq(vka_gpt2_cp_to_byte(0x144), -1, "past the 68 remapped bytes");
}

Test(vocab, qwen3_loads) {
    fixture f = open_vocab("fixtures/vocab/qwen3.gguf");
    vka_vocab *v = f.vocab;
    cr_assert_eq(vka_vocab_get_kind(v), VKA_VOCAB_BPE);
    cr_assert_str_eq(vka_vocab_model_name(v), "gpt2");
    cr_assert_str_eq(vka_vocab_pre(v), "qwen2");
    cr_assert_eq(vka_vocab_size(v), 151936);
    cr_assert_eq(vka_vocab_eos(v), 151645);
    cr_assert_str_eq(vka_vocab_text(v, 151645), "<|im_end|>");
    cr_assert_eq(vka_vocab_bos(v), 151643);
    cr_assert_eq(vka_vocab_pad(v), 151643);
    cr_assert_eq(vka_vocab_unk(v), -1);
    cr_assert_eq(vka_vocab_eot(v), 151645, "<|im_end|> ends a turn");
    cr_assert_not(vka_vocab_add_bos(v));
    cr_assert_not(vka_vocab_add_eos(v));
    cr_assert_not(vka_vocab_strips_leading_space(v));
    cr_assert_eq(vka_vocab_token_type(v, 151644), VKA_TOKEN_CONTROL);
    cr_assert_eq(vka_vocab_token_type(v, 151667), VKA_TOKEN_USER_DEFINED);
    cr_assert_eq(vka_vocab_token_type(v, 151669), VKA_TOKEN_UNUSED);
    cr_assert_str_eq(vka_vocab_text(v, 151669), "[PAD151669]");
    close_fixture(&f);
}

Test(vocab, qwen3_eog_excludes_ordinary_end_of_sentence) {
    fixture f = open_vocab("fixtures/vocab/qwen3.gguf");
    vka_vocab *v = f.vocab;
    cr_assert(vka_vocab_is_eog(v, 151645));          /* <|im_end|> */
    cr_assert(vka_vocab_is_eog(v, 151643));          /* <|endoftext|> */
    cr_assert_not(vka_vocab_is_eog(v, 151644));      /* <|im_start|> */
    int32_t s = find(v, "</s>");
    cr_assert_eq(s, 128247);
    cr_assert_eq(vka_vocab_token_type(v, s), VKA_TOKEN_NORMAL);
    cr_assert_not(vka_vocab_is_eog(v, s), "Qwen3's \"</s>\" is ordinary text");
    int n_eog = 0;
    for (int32_t id = 0; id < 151936; id++) n_eog += vka_vocab_is_eog(v, id);
    cr_assert_eq(n_eog, 2);
    close_fixture(&f);
}

Test(vocab, qwen3_pieces) {
    fixture f = open_vocab("fixtures/vocab/qwen3.gguf");
    vka_vocab *v = f.vocab;
    cr_assert_eq(find(v, "\xc4\xa0the"), 279);       /* "Ġthe" */
    PIECE(v, 279, false, " the");
    PIECE(v, 198, false, "\n");                      /* "Ċ" */
    PIECE(v, 220, false, " ");                       /* "Ġ" */
    PIECE(v, 9707, false, "Hello");
    /* "ä½łå¥½" is the byte-unicode spelling of 你好 (E4 BD A0 E5 A5 BD) */
    cr_assert_eq(find(v, "\xc3\xa4\xc2\xbd\xc5\x82\xc3\xa5\xc2\xa5\xc2\xbd"), 108386);
    PIECE(v, 108386, false, "你好");
    PIECE(v, 151645, false, "");
    PIECE(v, 151645, true, "<|im_end|>");
    PIECE(v, 151667, false, "<think>");             /* user-defined: its text */
    PIECE(v, 151669, false, "");                     /* unused padding */
    PIECE(v, 151669, true, "");
    check_byte_tokens(v);
    char buf[64];
    size_t len;
    static const int32_t ids[] = {151644, 279, 151645};
    cr_assert_eq(vka_vocab_detokenize(v, ids, 3, true, buf, sizeof buf, &len), VKA_OK);
    cr_assert_str_eq(buf, "<|im_start|> the<|im_end|>", "BPE keeps every space");
    cr_assert_eq(vka_vocab_detokenize(v, ids, 3, false, buf, sizeof buf, &len), VKA_OK);
    cr_assert_str_eq(buf, " the");
    close_fixture(&f);
}

Test(vocab, qwen3_merges) {
    fixture f = open_vocab("fixtures/vocab/qwen3.gguf");
    vka_vocab *v = f.vocab;
    cr_assert_eq(v->n_merges, 151387, "every merge's parts are tokens");
    uint32_t rank = 99;
    int32_t merged = -2;
    /* merges[0] = "Ġ Ġ" -> "ĠĠ" (256); merges[1] = "ĠĠ ĠĠ" -> 257; merges[2] = "i n" */
    cr_assert(vka_vocab_merge(v, 220, 220, &rank, &merged));
    cr_assert_eq(rank, 0);
    cr_assert_eq(merged, 256);
    cr_assert(vka_vocab_merge(v, 256, 256, &rank, &merged));
    cr_assert_eq(rank, 1);
    cr_assert_eq(merged, 257);
    cr_assert(vka_vocab_merge(v, find(v, "i"), find(v, "n"), &rank, &merged));
    cr_assert_eq(rank, 2);
    cr_assert_eq(merged, find(v, "in"));
    cr_assert(vka_vocab_merge_text(v, "\xc4\xa0", 2, "t", 1, &rank, &merged));   /* merges[3] = "Ġ t" */
    cr_assert_eq(rank, 3);
    cr_assert_eq(merged, find(v, "\xc4\xa0t"));
    cr_assert_not(vka_vocab_merge_text(v, "zzzz-not-a-token", 16, "t", 1, &rank, &merged));
    /* "Ġthe Ġthe" is not among the merges (checked with an independent GGUF parse) */
    cr_assert_not(vka_vocab_merge(v, 279, 279, NULL, NULL));
    cr_assert_not(vka_vocab_merge(v, 151645, 151645, NULL, NULL));
    close_fixture(&f);
}

Test(vocab, llama3_loads) {
    fixture f = open_vocab("fixtures/vocab/llama3.gguf");
    vka_vocab *v = f.vocab;
    cr_assert_eq(vka_vocab_get_kind(v), VKA_VOCAB_BPE);
    cr_assert_str_eq(vka_vocab_pre(v), "llama-bpe");
    cr_assert_eq(vka_vocab_size(v), 128256);
    cr_assert_eq(vka_vocab_bos(v), 128000);
    cr_assert_eq(vka_vocab_eos(v), 128001);
    cr_assert(vka_vocab_add_bos(v));
    cr_assert_eq(vka_vocab_eot(v), 128009);
    cr_assert_str_eq(vka_vocab_text(v, 128009), "<|eot_id|>");
    cr_assert_eq(vka_vocab_eom(v), -1, "the first Llama-3 release has no <|eom_id|>");
    cr_assert(vka_vocab_is_eog(v, 128001));
    cr_assert(vka_vocab_is_eog(v, 128009));
    cr_assert_not(vka_vocab_is_eog(v, 128000));
    cr_assert_not(vka_vocab_is_eog(v, 128006));      /* <|start_header_id|> */
    cr_assert_eq(v->n_merges, 280147);
    PIECE(v, 279, false, " the");
    PIECE(v, 9906, false, "Hello");
    PIECE(v, 128000, true, "<|begin_of_text|>");
    PIECE(v, 128000, false, "");
    check_byte_tokens(v);
    close_fixture(&f);
}

/* ---- special-token partitioning on a large vocabulary ---- */

/* Qwen3's 26 specials: CONTROL ones only with PARSE_SPECIAL, USER_DEFINED
 * (<think>, <tool_call>, ...) always; shared prefixes resolved by the
 * longest match. A text made only of specials needs no BPE. */
Test(vocab, qwen3_specials_partition) {
    fixture f = open_vocab("fixtures/vocab/qwen3.gguf");
    vka_vocab *v = f.vocab;
    int32_t *ids = NULL;
    size_t n = 0;
    const char *text = "<|im_start|><think></think><tool_call></tool_call><tool_response><|im_end|>";
    cr_assert_eq(vka_vocab_tokenize(v, text, strlen(text), VKA_TOKENIZE_PARSE_SPECIAL, &ids, &n), VKA_OK,
                 "%s", vka_last_error());
    static const int32_t want[] = {151644, 151667, 151668, 151657, 151658, 151665, 151645};
    cr_assert_eq(n, 7);
    cr_assert_eq(memcmp(ids, want, sizeof want), 0);
    free(ids);
    text = "<think></think>";
    cr_assert_eq(vka_vocab_tokenize(v, text, strlen(text), 0, &ids, &n), VKA_OK, "user-defined: no flag needed");
    cr_assert_eq(n, 2);
    cr_assert_eq(ids[0], 151667);
    cr_assert_eq(ids[1], 151668);
    free(ids);
    /* a control token's text without PARSE_SPECIAL is raw text for the BPE */
    cr_assert_eq(vka_vocab_tokenize(v, "<|im_end|>", 10, 0, &ids, &n), VKA_OK, "%s", vka_last_error());
    for (size_t i = 0; i < n; i++) cr_assert_lt(ids[i], 151643, "ordinary tokens only");
    free(ids);
    /* [PAD...] (UNUSED) texts are never matched */
    cr_assert_eq(vka_vocab_tokenize(v, "[PAD151669]", 11, VKA_TOKENIZE_PARSE_SPECIAL, &ids, &n), VKA_OK);
    for (size_t i = 0; i < n; i++) cr_assert_lt(ids[i], 151643, "ordinary tokens only");
    free(ids);
    close_fixture(&f);
}

/* One megabyte of randomly chosen specials comes back as exactly those ids. */
Test(vocab, qwen3_one_megabyte_of_specials) {
    fixture f = open_vocab("fixtures/vocab/qwen3.gguf");
    vka_vocab *v = f.vocab;
    int32_t specials[26];
    size_t n_specials = 0;
    for (int32_t id = 151643; id < 151669; id++) specials[n_specials++] = id;
    size_t cap = (1u << 20) + 64, len = 0, n_want = 0;
    char *text = malloc(cap);
    int32_t *want = malloc(cap / 6 * sizeof *want);
    uint64_t x = 88172645463325252ull;
    while (len < (1u << 20)) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int32_t id = specials[x % n_specials];
        const char *t = vka_vocab_text(v, id);
        memcpy(text + len, t, strlen(t));
        len += strlen(t);
        want[n_want++] = id;
    }
    int32_t *ids = NULL;
    size_t n = 0;
    cr_assert_eq(vka_vocab_tokenize(v, text, len, VKA_TOKENIZE_PARSE_SPECIAL, &ids, &n), VKA_OK, "%s",
                 vka_last_error());
    cr_assert_eq(n, n_want);
    cr_assert_eq(memcmp(ids, want, n * sizeof *ids), 0);
    free(ids);
    free(want);
    free(text);
    close_fixture(&f);
}

/* ---- hand-made vocabularies: defaults, the EOG set, malformed metadata ---- */

static const char *const TEXTS3[] = {"<unk>", "<s>", "</s>"};
static const float SCORES3[] = {0, 0, 0};
static const int32_t TYPES3[] = {2, 3, 3};

/* Loads what the builder holds; returns the status, the vocab in *out (or NULL). */
static vka_status load_built(gguf_builder *b, vka_vocab **out) {
    gb_finish(b);
    vka_gguf *g = NULL;
    cr_assert_eq(vka_gguf_open_memory(b->file, b->file_size, &g), VKA_OK, "%s", vka_last_error());
    vka_vocab *v = (vka_vocab *)&g;
    vka_status s = vka_vocab_load(g, &v);
    if (s != VKA_OK) cr_assert_null(v, "no vocabulary on failure");
    vka_gguf_free(g);
    if (out) *out = v;
    else vka_vocab_free(v);
    return s;
}

static void expect_load_error(gguf_builder *b, vka_status want, const char *needle) {
    vka_status s = load_built(b, NULL);
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", vka_last_error());
    gb_free(b);
    cr_assert_eq(s, want, "status %d, message: %s", s, msg);
    cr_assert(strstr(msg, needle), "message \"%s\" should mention \"%s\"", msg, needle);
}

static void base_spm(gguf_builder *b) {
    gb_kv_str(b, "tokenizer.ggml.model", "llama");
    gb_kv_strs(b, "tokenizer.ggml.tokens", TEXTS3, 3);
}

Test(vocab, spm_defaults_when_keys_are_absent) {
    gguf_builder b = {0};
    base_spm(&b);
    gb_kv_f32s(&b, "tokenizer.ggml.scores", SCORES3, 3);
    vka_vocab *v;
    cr_assert_eq(load_built(&b, &v), VKA_OK, "%s", vka_last_error());
    /* the vocabulary outlives the GGUF it was read from */
    cr_assert_eq(vka_vocab_unk(v), 0);
    cr_assert_eq(vka_vocab_bos(v), 1);
    cr_assert_eq(vka_vocab_eos(v), 2);
    cr_assert(vka_vocab_add_bos(v));
    cr_assert_not(vka_vocab_add_eos(v));
    cr_assert(vka_vocab_strips_leading_space(v));
    cr_assert_eq(vka_vocab_token_type(v, 0), VKA_TOKEN_NORMAL, "no token_type: NORMAL");
    cr_assert_str_eq(vka_vocab_text(v, 2), "</s>");
    vka_vocab_free(v);
    gb_free(&b);
}

Test(vocab, gpt2_defaults_and_explicit_none) {
    static const char *const texts[] = {"a", "b", "ab", "<|endoftext|>", "</s>", "<|im_end|>"};
    static const int32_t types[] = {1, 1, 1, 3, 1, 4};
    static const char *const merges[] = {"a b"};
    gguf_builder b = {0};
    gb_kv_str(&b, "tokenizer.ggml.model", "gpt2");
    gb_kv_strs(&b, "tokenizer.ggml.tokens", texts, 6);
    gb_kv_i32s(&b, "tokenizer.ggml.token_type", types, 6);
    gb_kv_strs(&b, "tokenizer.ggml.merges", merges, 1);
    gb_kv_i32(&b, "tokenizer.ggml.padding_token_id", -1);
    vka_vocab *v;
    cr_assert_eq(load_built(&b, &v), VKA_OK, "%s", vka_last_error());
    cr_assert_eq(vka_vocab_bos(v), -1);
    cr_assert_eq(vka_vocab_eos(v), -1);
    cr_assert_eq(vka_vocab_unk(v), -1);
    cr_assert_eq(vka_vocab_pad(v), -1);
    cr_assert_eq(vka_vocab_eot(v), -1, "<|im_end|> here is user-defined, not a control token");
    cr_assert_not(vka_vocab_add_bos(v));
    cr_assert(vka_vocab_is_eog(v, 3), "a CONTROL <|endoftext|> ends generation");
    cr_assert_not(vka_vocab_is_eog(v, 4), "a NORMAL </s> does not");
    cr_assert_not(vka_vocab_is_eog(v, 5));
    uint32_t rank;
    int32_t merged;
    cr_assert(vka_vocab_merge(v, 0, 1, &rank, &merged));
    cr_assert_eq(rank, 0);
    cr_assert_eq(merged, 2);
    /* with BOS asked for but none defined, nothing is added */
    int32_t *ids;
    size_t n;
    cr_assert_eq(vka_vocab_tokenize(v, "", 0, VKA_TOKENIZE_ADD_BOS, &ids, &n), VKA_OK);
    cr_assert_eq(n, 0);
    vka_vocab_free(v);
    gb_free(&b);
}

Test(vocab, add_eos_appended_with_model_flags) {
    gguf_builder b = {0};
    base_spm(&b);
    gb_kv_f32s(&b, "tokenizer.ggml.scores", SCORES3, 3);
    gb_kv_i32s(&b, "tokenizer.ggml.token_type", TYPES3, 3);
    gb_kv_bool(&b, "tokenizer.ggml.add_eos_token", true);
    gb_kv_bool(&b, "tokenizer.ggml.add_bos_token", false);
    vka_vocab *v;
    cr_assert_eq(load_built(&b, &v), VKA_OK, "%s", vka_last_error());
    int32_t *ids;
    size_t n;
    cr_assert_eq(vka_vocab_tokenize(v, "", 0, VKA_TOKENIZE_MODEL_BOS, &ids, &n), VKA_OK);
    cr_assert_eq(n, 1);
    cr_assert_eq(ids[0], 2, "add_eos only");
    free(ids);
    cr_assert_eq(vka_vocab_tokenize(v, "", 0, VKA_TOKENIZE_ADD_BOS, &ids, &n), VKA_OK);
    cr_assert_eq(n, 1);
    cr_assert_eq(ids[0], 1, "ADD_BOS alone: BOS, no EOS");
    free(ids);
    vka_vocab_free(v);
    gb_free(&b);
}

Test(vocab, malformed_unknown_model) {
    gguf_builder b = {0};
    gb_kv_str(&b, "tokenizer.ggml.model", "bert");
    gb_kv_strs(&b, "tokenizer.ggml.tokens", TEXTS3, 3);
    expect_load_error(&b, VKA_ERR_UNSUPPORTED, "\"bert\"");
}

Test(vocab, malformed_missing_model) {
    gguf_builder b = {0};
    gb_kv_strs(&b, "tokenizer.ggml.tokens", TEXTS3, 3);
    expect_load_error(&b, VKA_ERR_FORMAT, "tokenizer.ggml.model is missing");
}

Test(vocab, malformed_model_not_a_string) {
    gguf_builder b = {0};
    gb_kv_u32(&b, "tokenizer.ggml.model", 1);
    expect_load_error(&b, VKA_ERR_FORMAT, "tokenizer.ggml.model must be a string");
}

Test(vocab, malformed_missing_tokens) {
    gguf_builder b = {0};
    gb_kv_str(&b, "tokenizer.ggml.model", "llama");
    expect_load_error(&b, VKA_ERR_FORMAT, "tokenizer.ggml.tokens is missing");
}

Test(vocab, malformed_tokens_not_strings) {
    gguf_builder b = {0};
    gb_kv_str(&b, "tokenizer.ggml.model", "llama");
    gb_kv_i32s(&b, "tokenizer.ggml.tokens", TYPES3, 3);
    expect_load_error(&b, VKA_ERR_FORMAT, "tokenizer.ggml.tokens must be an array of string");
}

Test(vocab, malformed_empty_tokens) {
    gguf_builder b = {0};
    gb_kv_str(&b, "tokenizer.ggml.model", "llama");
    gb_kv_strs(&b, "tokenizer.ggml.tokens", TEXTS3, 0);
    expect_load_error(&b, VKA_ERR_FORMAT, "tokenizer.ggml.tokens has 0 entries");
}

Test(vocab, malformed_scores_length) {
    gguf_builder b = {0};
    base_spm(&b);
    gb_kv_f32s(&b, "tokenizer.ggml.scores", SCORES3, 2);
    expect_load_error(&b, VKA_ERR_FORMAT, "tokenizer.ggml.scores has 2 entries");
}

Test(vocab, malformed_scores_missing_for_spm) {
    gguf_builder b = {0};
    base_spm(&b);
    expect_load_error(&b, VKA_ERR_FORMAT, "tokenizer.ggml.scores is missing");
}

Test(vocab, malformed_token_type_length) {
    gguf_builder b = {0};
    base_spm(&b);
    gb_kv_f32s(&b, "tokenizer.ggml.scores", SCORES3, 3);
    gb_kv_i32s(&b, "tokenizer.ggml.token_type", TYPES3, 2);
    expect_load_error(&b, VKA_ERR_FORMAT, "tokenizer.ggml.token_type has 2 entries");
}

Test(vocab, malformed_token_type_value) {
    static const int32_t types[] = {2, 9, 3};
    gguf_builder b = {0};
    base_spm(&b);
    gb_kv_f32s(&b, "tokenizer.ggml.scores", SCORES3, 3);
    gb_kv_i32s(&b, "tokenizer.ggml.token_type", types, 3);
    expect_load_error(&b, VKA_ERR_FORMAT, "tokenizer.ggml.token_type[1] = 9");
}

Test(vocab, malformed_byte_token_text) {
    static const int32_t types[] = {2, 6, 3};
    gguf_builder b = {0};
    base_spm(&b);
    gb_kv_f32s(&b, "tokenizer.ggml.scores", SCORES3, 3);
    gb_kv_i32s(&b, "tokenizer.ggml.token_type", types, 3);
    expect_load_error(&b, VKA_ERR_FORMAT, "tokenizer.ggml.token_type[1] marks \"<s>\" as a byte token");
}

Test(vocab, malformed_special_id_out_of_range) {
    gguf_builder b = {0};
    base_spm(&b);
    gb_kv_f32s(&b, "tokenizer.ggml.scores", SCORES3, 3);
    gb_kv_u32(&b, "tokenizer.ggml.bos_token_id", 3);
    expect_load_error(&b, VKA_ERR_FORMAT, "tokenizer.ggml.bos_token_id = 3 is out of range");
}

Test(vocab, malformed_special_id_negative) {
    gguf_builder b = {0};
    base_spm(&b);
    gb_kv_f32s(&b, "tokenizer.ggml.scores", SCORES3, 3);
    gb_kv_i32(&b, "tokenizer.ggml.eot_token_id", -7);
    expect_load_error(&b, VKA_ERR_FORMAT, "tokenizer.ggml.eot_token_id = -7 is out of range");
}

Test(vocab, malformed_special_id_type) {
    gguf_builder b = {0};
    base_spm(&b);
    gb_kv_f32s(&b, "tokenizer.ggml.scores", SCORES3, 3);
    gb_kv_str(&b, "tokenizer.ggml.eos_token_id", "2");
    expect_load_error(&b, VKA_ERR_FORMAT, "tokenizer.ggml.eos_token_id must be an integer");
}

Test(vocab, malformed_bool_type) {
    gguf_builder b = {0};
    base_spm(&b);
    gb_kv_f32s(&b, "tokenizer.ggml.scores", SCORES3, 3);
    gb_kv_u32(&b, "tokenizer.ggml.add_bos_token", 1);
    expect_load_error(&b, VKA_ERR_FORMAT, "tokenizer.ggml.add_bos_token must be a bool");
}

Test(vocab, malformed_gpt2_without_merges) {
    gguf_builder b = {0};
    gb_kv_str(&b, "tokenizer.ggml.model", "gpt2");
    gb_kv_strs(&b, "tokenizer.ggml.tokens", TEXTS3, 3);
    expect_load_error(&b, VKA_ERR_FORMAT, "tokenizer.ggml.merges is missing");
}

Test(vocab, malformed_merge_entry) {
    static const char *const merges[] = {"<s> </s>", "nospace"};
    gguf_builder b = {0};
    gb_kv_str(&b, "tokenizer.ggml.model", "gpt2");
    gb_kv_strs(&b, "tokenizer.ggml.tokens", TEXTS3, 3);
    gb_kv_strs(&b, "tokenizer.ggml.merges", merges, 2);
    expect_load_error(&b, VKA_ERR_FORMAT, "tokenizer.ggml.merges[1] = \"nospace\"");
}

Test(vocab, load_arguments) {
    vka_vocab *v;
    cr_assert_eq(vka_vocab_load(NULL, &v), VKA_ERR_INVALID_ARGUMENT);
    vka_vocab_free(NULL);
}
