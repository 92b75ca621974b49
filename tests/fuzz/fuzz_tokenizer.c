/* fuzz_tokenizer.c — the SentencePiece and byte-level BPE tokenizers over
 * arbitrary bytes, with the real vocabularies of ../shared (stories260K:
 * SentencePiece; Llama-3: BPE; Qwen3: BPE with NFC), then detokenization.
 * The first byte picks the vocabulary and the flags; the rest is the text.
 * Where the tokenizer must be lossless (no NFC, specials not parsed), the
 * text must come back byte for byte; SentencePiece's space marker U+2581 in
 * the text is a space to it, so texts holding one are exempt there. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "model/model.h"
#include "text/vocab.h"

#define N_VOCABS 3

static const char *const vocab_files[N_VOCABS] = {
    "models/stories260K.gguf",
    "fixtures/vocab/llama3.gguf",
    "fixtures/vocab/qwen3.gguf",
};
static vka_model *models[N_VOCABS];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    vka_model_params mp;
    vka_model_params_default(&mp);
    mp.vocab_only = true;
    for (int i = 0; i < N_VOCABS; i++) {
        char *path = fuzz_data_path(vocab_files[i]);
        fuzz_require_file(path);
        FUZZ_CHECK(vka_model_load(path, &mp, &models[i]) == VKA_OK, "loading %s: %s", path, vka_last_error());
        free(path);
    }
    return 0;
}

static void check_pieces(const vka_vocab *v, const int32_t *ids, size_t n) {
    uint32_t n_vocab = vka_vocab_size(v);
    for (size_t i = 0; i < n; i++) {
        FUZZ_CHECK(ids[i] >= 0 && (uint32_t)ids[i] < n_vocab, "id %d out of range", (int)ids[i]);
        const char *bytes;
        size_t len = vka_vocab_piece(v, ids[i], true, &bytes);
        FUZZ_CHECK(len == 0 || bytes != NULL, "piece bytes");
    }
}

/* Detokenizes into an exact-size buffer (ASan sees any write past it). */
static char *detokenize(const vka_vocab *v, const int32_t *ids, size_t n, bool special, size_t *len) {
    vka_status s = vka_vocab_detokenize(v, ids, n, special, NULL, 0, len);
    FUZZ_CHECK(s == VKA_OK || s == VKA_ERR_BUFFER_TOO_SMALL, "detokenize (sizing): %s", vka_last_error());
    char *buf = malloc(*len + 1);
    FUZZ_CHECK(buf != NULL, "malloc");
    size_t again;
    FUZZ_CHECK(vka_vocab_detokenize(v, ids, n, special, buf, *len + 1, &again) == VKA_OK && again == *len,
               "detokenize: %s", vka_last_error());
    return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int which = data[0] % N_VOCABS;
    int flags = (data[0] >> 2) & (VKA_TOKENIZE_ADD_BOS | VKA_TOKENIZE_PARSE_SPECIAL | VKA_TOKENIZE_MODEL_BOS);
    bool special = (data[0] >> 5) & 1;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    const vka_vocab *v = models[which]->vocab;

    int32_t *ids = NULL;
    size_t n = 0;
    vka_status s = vka_vocab_tokenize(v, text, len, flags, &ids, &n);
    FUZZ_CHECK(s == VKA_OK, "tokenize failed: %s", vka_last_error());
    check_pieces(v, ids, n);
    size_t out_len;
    char *out = detokenize(v, ids, n, special, &out_len);
    bool lossless = !vka_vocab_nfc(v) && !(flags & VKA_TOKENIZE_PARSE_SPECIAL) && !special &&
                    !(vka_vocab_get_kind(v) == VKA_VOCAB_SPM && memmem(text, len, "\xe2\x96\x81", 3));
    if (lossless)
        FUZZ_CHECK(out_len == len && memcmp(out, text, len) == 0,
                   "vocabulary %d: %zu bytes came back as %zu different bytes", which, len, out_len);
    free(out);
    free(ids);
    return 0;
}
