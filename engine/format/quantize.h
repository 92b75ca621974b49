/* quantize.h — choosing each tensor's type for a target file type (the mixes
 * llama.cpp users know: Q4_K_M etc.), and converting a GGUF file to it. */
#ifndef VKA_QUANTIZE_H
#define VKA_QUANTIZE_H

#include <stdbool.h>
#include <stdint.h>

#include "format/gguf.h"
#include "format/types.h"
#include "vkagent.h"

/* general.file_type values (llama.cpp's llama_ftype numbering). */
typedef enum vka_ftype {
    VKA_FTYPE_F32 = 0,
    VKA_FTYPE_F16 = 1,
    VKA_FTYPE_Q4_0 = 2,
    VKA_FTYPE_Q4_1 = 3,
    VKA_FTYPE_Q8_0 = 7,
    VKA_FTYPE_Q5_0 = 8,
    VKA_FTYPE_Q5_1 = 9,
    VKA_FTYPE_Q2_K = 10,
    VKA_FTYPE_Q3_K_S = 11,
    VKA_FTYPE_Q3_K_M = 12,
    VKA_FTYPE_Q3_K_L = 13,
    VKA_FTYPE_Q4_K_S = 14,
    VKA_FTYPE_Q4_K_M = 15,
    VKA_FTYPE_Q5_K_S = 16,
    VKA_FTYPE_Q5_K_M = 17,
    VKA_FTYPE_Q6_K = 18,
    VKA_FTYPE_IQ4_NL = 25,
    VKA_FTYPE_IQ4_XS = 30,
    VKA_FTYPE_BF16 = 32,
} vka_ftype;

/* "Q4_K_M", "q8_0", "f16" ... (case-insensitive). */
bool vka_ftype_from_name(const char *name, vka_ftype *out);
const char *vka_ftype_name(vka_ftype ftype);
/* Names accepted by vka_ftype_from_name, for help and error texts. */
const char *vka_ftype_list(void);

/* Per-file state of the type choice: layer counters for the mixes that give
 * some attn_v / ffn_down layers more bits, and the model facts llama.cpp's
 * rules look at. */
typedef struct vka_quant_plan {
    vka_ftype ftype;
    bool tied_output;            /* no output.weight: token_embd is the output */
    int n_attn_v, i_attn_v;      /* attn_v, attn_qkv, attn_kv_b */
    int n_ffn_down, i_ffn_down;  /* n_ffn_down: the layer count */
    uint32_t n_gqa;              /* query heads per KV head (1 unless set) */
    uint32_t n_expert;           /* experts per MoE layer (0: dense) */
} vka_quant_plan;

/* Counts the layers' tensors of a file (names and shapes) for the plan. */
void vka_quant_plan_init(vka_quant_plan *plan, vka_ftype ftype, const char *const *names, size_t n_names);
/* The hyperparameters of a GGUF file's metadata the rules use (block count,
 * heads per KV head, experts). */
void vka_quant_plan_set_model(vka_quant_plan *plan, const vka_gguf *g);

/* The type for a tensor (call once per tensor, in file order). 1-D tensors
 * and norms keep `current`. A row length the chosen block size does not
 * divide falls back to Q8_0, then F16 — only types vkagent can run. */
vka_type vka_quant_choose(vka_quant_plan *plan, const char *name, uint32_t n_dims, const int64_t *ne,
                          vka_type current);

typedef struct vka_quantize_progress {
    uint64_t index, count;       /* tensor index (0-based) and how many */
    const char *name;
    uint32_t from, to;           /* types */
    uint64_t bytes_in, bytes_out;
} vka_quantize_progress;

typedef struct vka_quantize_params {
    vka_ftype ftype;
    /* "SUBSTRING=TYPE" overrides (e.g. "ffn_down=f32"): a tensor whose name
     * contains SUBSTRING gets TYPE, as llama-quantize's --tensor-type. */
    const char *const *overrides;
    size_t n_overrides;
    bool allow_requantize;       /* accept already-quantized input tensors */
    void (*progress)(const vka_quantize_progress *p, void *user);
    void *user;
} vka_quantize_params;

/* Writes `out_path` with every metadata key of `in_path` (general.file_type
 * updated) and each tensor converted. Refuses to overwrite the input. */
vka_status vka_quantize_file(const char *in_path, const char *out_path, const vka_quantize_params *params);

/* Converts n elements from one type to another through f32 (rows of whole blocks). */
vka_status vka_convert_row(const void *src, vka_type from, void *dst, vka_type to, int64_t n, float *scratch);

#endif
