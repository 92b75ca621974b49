/* synth.h — GGUF models with random weights in a given architecture shape
 * and file type, for benchmarks without downloads (written with the GGUF
 * writer and the quantizers of `vkagent quantize`). */
#ifndef VKA_SYNTH_H
#define VKA_SYNTH_H

#include <stdbool.h>
#include <stdint.h>

#include "format/quantize.h"
#include "vkagent.h"

typedef struct vka_synth_params {
    const char *arch;            /* "llama", "qwen2", "qwen3" */
    uint32_t n_embd, n_layer, n_head, n_head_kv, n_ff, n_ctx;
    uint32_t head_dim;           /* 0: n_embd / n_head */
    uint32_t n_vocab;            /* a generated SentencePiece vocabulary of this size, unless vocab_from */
    const char *vocab_from;      /* copy tokenizer.* metadata (and its size) from this GGUF */
    vka_ftype ftype;
    uint64_t seed;
    bool tied_output;            /* no output.weight */
    void (*progress)(const char *tensor, uint64_t done, uint64_t total, void *user);
    void *user;
} vka_synth_params;

/* Shapes people benchmark: "stories260K", "llama-1b-body" (Llama-3.2-1B's
 * body with a 512-token vocabulary), "llama-3.2-1b", "llama-3.1-8b", "qwen2.5-0.5b",
 * "qwen2.5-1.5b", "qwen3-0.6b". False if unknown. */
bool vka_synth_preset(const char *name, vka_synth_params *p);
const char *vka_synth_preset_list(void);

vka_status vka_synth_model(const vka_synth_params *p, const char *path);

#endif
