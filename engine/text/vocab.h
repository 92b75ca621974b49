/* vocab.h — the vocabulary and tokenizers: SentencePiece-style ("llama")
 * and byte-level BPE ("gpt2"), loaded from GGUF tokenizer metadata. */
#ifndef VKA_VOCAB_H
#define VKA_VOCAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "format/gguf.h"
#include "base/utf8.h"   /* vka_utf8_stream, vka_utf8_seq_len */
#include "vkagent.h"

/* tokenizer.ggml.token_type values */
typedef enum vka_token_type {
    VKA_TOKEN_UNDEFINED = 0,
    VKA_TOKEN_NORMAL = 1,
    VKA_TOKEN_UNKNOWN = 2,
    VKA_TOKEN_CONTROL = 3,
    VKA_TOKEN_USER_DEFINED = 4,
    VKA_TOKEN_UNUSED = 5,
    VKA_TOKEN_BYTE = 6,
} vka_token_type;

typedef enum vka_vocab_kind {
    VKA_VOCAB_SPM = 0,      /* tokenizer.ggml.model = "llama" */
    VKA_VOCAB_BPE = 1,      /* tokenizer.ggml.model = "gpt2" */
} vka_vocab_kind;

typedef struct vka_vocab vka_vocab;

/* Reads tokenizer.* metadata. Unknown tokenizer models are VKA_ERR_UNSUPPORTED. */
vka_status vka_vocab_load(const vka_gguf *gguf, vka_vocab **out);
void vka_vocab_free(vka_vocab *vocab);

vka_vocab_kind vka_vocab_get_kind(const vka_vocab *vocab);
const char *vka_vocab_model_name(const vka_vocab *vocab);   /* "llama", "gpt2" */
uint32_t vka_vocab_size(const vka_vocab *vocab);
int32_t vka_vocab_bos(const vka_vocab *vocab);              /* -1 when none */
int32_t vka_vocab_eos(const vka_vocab *vocab);
int32_t vka_vocab_unk(const vka_vocab *vocab);
int32_t vka_vocab_eot(const vka_vocab *vocab);              /* end of turn, -1 when none */
int32_t vka_vocab_eom(const vka_vocab *vocab);              /* end of message (tool call), -1 when none */
int32_t vka_vocab_pad(const vka_vocab *vocab);              /* padding, -1 when none */
/* tokenizer.ggml.pre (the BPE pre-tokenizer, e.g. "qwen2", "llama-bpe"), "" when absent. */
const char *vka_vocab_pre(const vka_vocab *vocab);
bool vka_vocab_add_bos(const vka_vocab *vocab);
bool vka_vocab_add_eos(const vka_vocab *vocab);

/* Byte-level BPE: the pre-tokenizer in use ("gpt2", "llama3", "qwen2",
 * "smollm", "gpt4o", "tekken"; "" for SentencePiece). *fallback (may be NULL) is true when
 * tokenizer.ggml.pre is absent or unknown and GPT-2's pattern stands in
 * (docs/tokenizers.md lists the names). */
const char *vka_vocab_pretokenizer(const vka_vocab *vocab, bool *fallback);

/* Whether raw text is NFC-normalized before tokenizing (Qwen2-family BPE
 * vocabularies, or tokenizer.ggml.normalizer = "nfc"). */
bool vka_vocab_nfc(const vka_vocab *vocab);

/* End-of-generation: EOS, EOT, EOM and CONTROL tokens whose text is a known
 * end marker (<|im_end|>, <|endoftext|>, <|eot_id|>, <end_of_turn>, ...);
 * an ordinary (NORMAL) token never is, whatever its text. BOS is not. */
bool vka_vocab_is_eog(const vka_vocab *vocab, int32_t id);
vka_token_type vka_vocab_token_type(const vka_vocab *vocab, int32_t id);
bool vka_vocab_is_control(const vka_vocab *vocab, int32_t id);

/* The token's SentencePiece score (0 for BPE vocabularies and bad ids). */
float vka_vocab_score(const vka_vocab *vocab, int32_t id);

/* The token's text as stored ("▁Once", "<0x0A>", "Ġthe"), NUL-terminated. */
const char *vka_vocab_text(const vka_vocab *vocab, int32_t id);

/* The id of a stored token text, or -1 (the first id when texts repeat). */
int32_t vka_vocab_find(const vka_vocab *vocab, const char *text, size_t len);

/* The bytes a token stands for in output text: byte tokens give their byte,
 * SentencePiece U+2581 becomes ' ', BPE byte-unicode is mapped back to bytes.
 * Control and unknown tokens give "" unless `special`, then their text;
 * user-defined tokens give their text, unused ones "". Returns the length;
 * *bytes points into the vocabulary (not NUL-terminated); "" for a bad id. */
size_t vka_vocab_piece(const vka_vocab *vocab, int32_t id, bool special, const char **bytes);

/* Tokenizes text (flags: VKA_TOKENIZE_*). *out_ids is malloc'ed (caller
 * frees; NULL when *out_n is 0). Special tokens are cut out first: the
 * leftmost, longest match of a USER_DEFINED token text, or with
 * VKA_TOKENIZE_PARSE_SPECIAL also of a CONTROL/UNKNOWN one; the text between
 * goes to the kind's tokenizer. Invalid UTF-8 is tokenized byte by byte. */
vka_status vka_vocab_tokenize(const vka_vocab *vocab, const char *text, size_t len, int flags,
                              int32_t **out_ids, size_t *out_n);

/* Text of a token sequence: the pieces joined (`special`: control tokens as
 * their text). With a SentencePiece space prefix, the leading space of the
 * first piece of the text, and of the first after each special token, is
 * dropped: those are the spaces the tokenizer inserts. Writes at most `cap`
 * bytes and a NUL when there is room; *out_len is the full length
 * (VKA_ERR_BUFFER_TOO_SMALL when cap < *out_len). An id out of range is
 * VKA_ERR_INVALID_ARGUMENT. */
vka_status vka_vocab_detokenize(const vka_vocab *vocab, const int32_t *ids, size_t n_ids, bool special,
                                char *buf, size_t cap, size_t *out_len);

/* SentencePiece detail: whether a leading space is dropped from the first
 * piece after BOS / at the start of a text (add_space_prefix). */
bool vka_vocab_strips_leading_space(const vka_vocab *vocab);

#endif
