/* vkagent.h — the public C API of vkagent: load a GGUF model, open sessions
 * (each with its own KV cache), tokenize, sample and generate text.
 *
 * This header is the documentation. A complete program:
 *
 *     #include <stdio.h>
 *     #include <vkagent.h>
 *
 *     static bool print_piece(const char *piece, size_t len, int32_t token, void *user) {
 *         (void)token; (void)user;
 *         fwrite(piece, 1, len, stdout);
 *         return true;                       // false stops generation
 *     }
 *
 *     int main(void) {
 *         vka_model *model = NULL;
 *         vka_session *session = NULL;
 *         vka_model_params mp;
 *         vka_model_params_default(&mp);
 *         if (vka_model_load("stories260K.gguf", &mp, &model) != VKA_OK) {
 *             fprintf(stderr, "%s\n", vka_last_error());
 *             return 1;
 *         }
 *         vka_session_params sp;
 *         vka_session_params_default(&sp);
 *         vka_session_create(model, &sp, &session);
 *
 *         vka_generate_params gp;
 *         vka_generate_params_default(&gp);
 *         gp.max_tokens = 64;
 *         gp.on_piece = print_piece;
 *         vka_generate_result result;
 *         if (vka_generate(session, "Once upon a time", &gp, &result) != VKA_OK)
 *             fprintf(stderr, "%s\n", vka_last_error());
 *         vka_generate_result_clear(&result);
 *
 *         vka_session_free(session);
 *         vka_model_free(model);
 *         return 0;
 *     }
 *
 * Conventions
 * - Every fallible function returns a vka_status; on failure vka_last_error()
 *   gives a human-readable message for the calling thread.
 * - The library never prints and never exits; it frees what it allocated on
 *   every error path.
 * - Objects: vka_x_create / vka_x_load pair with vka_x_free; free functions
 *   accept NULL.
 * - Parameter structs are initialised with their _default() function first,
 *   so that fields added later get sensible values. A NULL parameter struct
 *   means the defaults, in every call that takes one (except
 *   vka_structured_checker_create, whose params are the grammar to check).
 * - Lifetimes: every pointer the library hands out says how long it stays
 *   valid. A session keeps its model alive: vka_model_free drops the
 *   caller's reference, and the model is freed with its last session (the
 *   caller must not use its own model pointer after vka_model_free; the
 *   session's vka_session_model pointer stays valid while the session lives).
 * - While a generator is open on a session, every call that would change
 *   the session (vka_generate, vka_session_feed, _reset, _rewind, _fork,
 *   _chat, _save, another generator) fails with VKA_ERR_BUSY; reads
 *   (n_past, tokens, logits) are allowed.
 * - Enum values are only ever appended (ABI).
 * - Threads: a model may be shared by sessions on several threads; one
 *   session is used by one thread at a time, except vka_session_cancel(),
 *   which any thread may call.
 */
#ifndef VKAGENT_H
#define VKAGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* VKA_API marks the public functions: the library is built with hidden
 * visibility, so these are the only symbols it exports. */
#if defined(VKAGENT_BUILDING_LIBRARY) && defined(__GNUC__)
#define VKA_API __attribute__((visibility("default")))
#else
#define VKA_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define VKA_VERSION_MAJOR 0
#define VKA_VERSION_MINOR 1
#define VKA_VERSION_PATCH 0

/* ---------------------------------------------------------------- errors */

typedef enum vka_status {
    VKA_OK = 0,
    VKA_ERR_INVALID_ARGUMENT = 1,   /* a NULL or out-of-range argument */
    VKA_ERR_IO = 2,                 /* a file could not be opened, read or written */
    VKA_ERR_FORMAT = 3,             /* malformed input: a corrupt GGUF, bad UTF-8, ... */
    VKA_ERR_UNSUPPORTED = 4,        /* valid input this build cannot handle (a tensor type, an architecture) */
    VKA_ERR_OUT_OF_MEMORY = 5,      /* host memory */
    VKA_ERR_DEVICE = 6,             /* the compute device failed (a Vulkan error) */
    VKA_ERR_OUT_OF_DEVICE_MEMORY = 7,
    VKA_ERR_CONTEXT_FULL = 8,       /* the tokens do not fit in the session's context */
    VKA_ERR_GRAMMAR = 9,            /* a grammar or JSON schema that does not parse or is unsupported */
    VKA_ERR_CANCELLED = 10,
    VKA_ERR_BUFFER_TOO_SMALL = 11,  /* the output buffer is too small; the needed size was stored */
    VKA_ERR_NOT_FOUND = 12,         /* a file, key or device that does not exist */
    VKA_ERR_INTERNAL = 13,          /* a bug in vkagent */
    VKA_ERR_BUSY = 14,              /* a generator is open on the session: the call would change it */
} vka_status;

/* Message describing the last error on the calling thread ("" if none).
 * Valid until the next failing vkagent call on this thread. */
VKA_API const char *vka_last_error(void);

/* Stable short name of a status, e.g. "VKA_ERR_FORMAT" (a static string). */
VKA_API const char *vka_status_name(vka_status status);

/* Library version as "MAJOR.MINOR.PATCH" (a static string). */
VKA_API const char *vka_version(void);

/* Frees memory that vkagent allocated and handed to the caller. */
VKA_API void vka_free(void *ptr);

/* Offset of the first byte of s[0..len) that does not begin a valid UTF-8
 * sequence, or len when all of it is valid (strict: no overlong forms,
 * surrogates or code points above U+10FFFF; a character cut off at the end
 * counts as invalid). Token pieces can end inside a character: this says how
 * much of a buffer of them is whole text. */
VKA_API size_t vka_utf8_valid_prefix(const char *s, size_t len);

/* ---------------------------------------------------------------- models */

typedef struct vka_model vka_model;

/* Told how far a model load has come: `fraction` rises from 0 to 1 (1 is
 * the last call). Return false to cancel the load. */
typedef bool (*vka_progress_fn)(float fraction, void *user);

typedef struct vka_model_params {
    /* Where the model runs: "auto" (default: a GPU, i.e. the best discrete,
     * integrated or virtual Vulkan device; where there is none, or the only
     * Vulkan devices are CPU-type such as lavapipe, the CPU backend, which is
     * faster on the same cores), "cpu" (SIMD kernels), "cpu-ref" (the
     * plain-C reference the tests check every backend against, slower),
     * "vulkan" (the best Vulkan device, CPU-type ones included) or
     * "vulkan:N" (device N as listed by vka_device_list and `vkagent
     * devices`). NULL means the environment
     * variable VKAGENT_DEVICE, or "auto" when that is unset. */
    const char *device;
    /* Load only the tokenizer and metadata, no tensors: for vocab-only GGUF
     * files, tokenization and chat templates. Generation is refused. */
    bool vocab_only;
    /* Threads of the CPU backend (at most 64). 0 (default): the environment
     * variable VKAGENT_THREADS, else one per online core. The Vulkan backend
     * does not use it. */
    uint32_t n_threads;
    /* Called while loading (may be NULL): a false return cancels the load,
     * which then fails with VKA_ERR_CANCELLED having freed everything. */
    vka_progress_fn progress;
    void *progress_user;
} vka_model_params;

VKA_API void vka_model_params_default(vka_model_params *params);

/* ---------------------------------------------------------------- devices */

typedef enum vka_device_type {
    VKA_DEVICE_CPU = 0,             /* a CPU backend (device "cpu" or "cpu-ref") */
    VKA_DEVICE_DISCRETE_GPU = 1,
    VKA_DEVICE_INTEGRATED_GPU = 2,
    VKA_DEVICE_VIRTUAL_GPU = 3,
    VKA_DEVICE_VULKAN_CPU = 4,      /* a CPU-type Vulkan device, e.g. Mesa's lavapipe */
    VKA_DEVICE_OTHER = 5,
} vka_device_type;

#define VKA_DEVICE_MAX_HEAPS 16

/* One place a model can run. Strings are NUL-terminated arrays inside the
 * struct (they live as long as it does); type_name is static. */
typedef struct vka_device_info {
    char device[32];                /* the string for vka_model_params.device: "cpu", "vulkan:1" */
    char name[256];                 /* e.g. "NVIDIA GeForce RTX 4090", "llvmpipe (LLVM 15.0.6, 256 bits)" */
    vka_device_type type;
    const char *type_name;          /* "cpu", "discrete", "integrated", "virtual", "cpu-type", "other" */
    uint64_t memory_bytes;          /* device-local memory (Vulkan), available host memory (CPU); 0: unknown */
    bool is_auto;                   /* the device "auto" takes */
    bool usable;                    /* false: unusable_reason says why (e.g. below Vulkan 1.2) */
    char unusable_reason[128];
    /* Vulkan devices only (zero / "" for the CPU backend): */
    char driver[512];               /* driver name and version text */
    char vulkan_version[16];        /* e.g. "1.3.239" */
    uint32_t vendor_id, device_id;
    uint32_t n_heaps;
    struct {
        uint64_t bytes;
        bool device_local;
    } heaps[VKA_DEVICE_MAX_HEAPS];
    uint32_t subgroup_size, min_subgroup_size, max_subgroup_size;
    uint64_t max_storage_buffer_range;  /* bytes one binding may span */
    uint64_t max_allocation_bytes;
    uint32_t max_shared_memory;         /* bytes of workgroup shared memory */
    /* Optional features found, space-separated ("fp16 16bit-storage ..."),
     * each marked " (off)" where a VKAGENT_VK_* variable switches it off. */
    char features[512];
} vka_device_info;

/* Lists where models can run: the CPU backends first ("cpu"; "cpu-ref",
 * the plain-C reference, where the build has it), then every Vulkan device
 * in "vulkan:N" order (none without a Vulkan loader or driver).
 * Fills up to `capacity` entries and stores the count in *n_devices;
 * VKA_ERR_BUFFER_TOO_SMALL (with the count stored) when capacity is too
 * small, so capacity 0 with a NULL `out` counts. Each call asks the
 * Vulkan driver afresh (it may take tens of milliseconds). */
VKA_API vka_status vka_device_list(vka_device_info *out, size_t capacity, size_t *n_devices);

/* Opens a GGUF file (memory-mapped) and prepares it on the chosen device. */
VKA_API vka_status vka_model_load(const char *path, const vka_model_params *params, vka_model **out_model);

VKA_API void vka_model_free(vka_model *model);

/* Creates every pipeline the forward pass uses (Vulkan: compute pipelines
 * for prompt steps and single-token steps, for both KV cache types), by
 * running a few tokens through a tiny temporary session, so that the first
 * generation, the first frame of a game, does not stall while the driver
 * compiles shaders. Takes about as long as those compiles (milliseconds
 * with a warm pipeline cache, up to seconds without); safe to call more
 * than once. The CPU backends have nothing to build: VKA_OK at once. */
VKA_API vka_status vka_model_warmup(vka_model *model);

typedef struct vka_model_info {
    const char *architecture;   /* general.architecture, e.g. "llama" */
    const char *name;           /* general.name, or "" */
    const char *device;         /* where it runs, in words, e.g. "cpu" or "vulkan:0 (llvmpipe ...)" */
    const char *tokenizer;      /* tokenizer.ggml.model: "llama" (SentencePiece) or "gpt2" (byte-level BPE) */
    uint32_t n_vocab;
    uint32_t n_ctx_train;       /* context length the model was trained with */
    uint32_t n_embd;
    uint32_t n_layer;
    uint32_t n_head;
    uint32_t n_head_kv;
    uint32_t n_ff;
    uint32_t head_dim;          /* key/query head size */
    uint32_t head_dim_v;        /* value head size */
    int32_t token_bos;          /* -1 when the model has none */
    int32_t token_eos;
    int32_t token_unk;
    int32_t token_eot;          /* end-of-turn (e.g. <|eot_id|>, <|im_end|>), -1 if none */
    bool add_bos;               /* the tokenizer prepends BOS */
    uint64_t n_params;          /* parameters in the weight tensors */
    uint64_t weight_bytes;      /* bytes of the weight tensors as stored */
    bool vocab_only;
} vka_model_info;

/* Fills *info; the strings stay valid while the model lives. */
VKA_API vka_status vka_model_get_info(const vka_model *model, vka_model_info *info);

/* What the model's backend holds and has done, for the model and all its
 * sessions together (backends without a counter leave it 0). */
typedef struct vka_model_stats {
    uint64_t device_bytes;          /* memory allocated from the device (weights, KV caches, buffers) */
    /* Vulkan: device_bytes by use (weights after repacking) */
    uint64_t weight_bytes, kv_bytes, activation_bytes, io_bytes, internal_bytes;
    uint32_t pipelines;             /* Vulkan compute pipelines created */
    double pipeline_seconds;        /* creating them */
    double record_seconds;          /* recording graphs (once per shape), pipelines included */
    uint64_t computes;              /* forward steps run */
    double host_seconds;            /* host time in those steps, minus waiting for the device */
} vka_model_stats;

VKA_API vka_status vka_model_get_stats(const vka_model *model, vka_model_stats *stats);

/* Looks up a string-valued metadata key (e.g. "tokenizer.chat_template").
 * Returns NULL when absent or not a string. Valid while the model lives. */
VKA_API const char *vka_model_meta_string(const vka_model *model, const char *key);

/* ---------------------------------------------------------------- tokens */

enum {
    VKA_TOKENIZE_ADD_BOS = 1 << 0,       /* prepend BOS if the model has one (not twice: a text that
                                          * starts with BOS, parsed as special, keeps its own) */
    VKA_TOKENIZE_PARSE_SPECIAL = 1 << 1, /* turn the text of special/control tokens into those tokens */
    VKA_TOKENIZE_MODEL_BOS = 1 << 2,     /* prepend BOS when the model's metadata asks for it (add_bos) */
};

/* Tokenizes `len` bytes of UTF-8 text. Writes up to `capacity` ids and
 * stores the number of tokens in *n_tokens; returns
 * VKA_ERR_BUFFER_TOO_SMALL (with *n_tokens set to the number needed) when
 * `capacity` is too small. Invalid UTF-8 bytes are tokenized as bytes.
 * Byte-level BPE vocabularies of the Qwen2 family (Qwen2/2.5/3) NFC-normalize
 * the text first, as their reference tokenizer does (docs/tokenizers.md). */
VKA_API vka_status vka_tokenize(const vka_model *model, const char *text, size_t len, int flags,
                        int32_t *ids, size_t capacity, size_t *n_tokens);

enum {
    VKA_DETOKENIZE_SPECIAL = 1 << 0,     /* render control tokens (BOS, <|im_end|>) as their text */
};

/* The raw bytes of one token (byte tokens give their byte; the SentencePiece
 * space marker U+2581 becomes ' '). Not NUL-terminated; *len is set to the
 * number of bytes (VKA_ERR_BUFFER_TOO_SMALL if capacity is too small). */
VKA_API vka_status vka_token_to_piece(const vka_model *model, int32_t token, int flags,
                              char *buf, size_t capacity, size_t *len);

/* Text of a token sequence: bytes joined, the SentencePiece leading space of
 * the first piece after BOS dropped. *len as for vka_token_to_piece; the
 * output is NUL-terminated when there is room. */
VKA_API vka_status vka_detokenize(const vka_model *model, const int32_t *ids, size_t n_ids, int flags,
                          char *buf, size_t capacity, size_t *len);

/* Text of a token as stored in the vocabulary (e.g. "▁Once", "<0x0A>", "Ġthe"),
 * NUL-terminated; NULL for an id outside the vocabulary. Valid while the
 * model lives. */
VKA_API const char *vka_token_text(const vka_model *model, int32_t token);

/* The id of the token whose text is exactly `text`: first as stored in the
 * vocabulary (vka_token_text: "<|im_end|>", "▁Once", "Ġthe"), else as the
 * bytes it stands for (vka_token_to_piece with VKA_DETOKENIZE_SPECIAL:
 * " Once", " the"; the lowest such id). VKA_ERR_NOT_FOUND when no token
 * matches (*id is then -1). Use it for logit_bias and stop tokens. */
VKA_API vka_status vka_token_lookup(const vka_model *model, const char *text, int32_t *id);

/* Attributes of a token (bits of vka_token_attributes). Exactly one of
 * NORMAL, CONTROL, BYTE, USER_DEFINED, UNKNOWN, UNUSED (the vocabulary's
 * token type), plus EOG when the token ends a generation (EOS, EOT and
 * control tokens that end a turn: what stop_on_eos stops at) and BOS. */
typedef enum vka_token_attr {
    VKA_TOKEN_ATTR_NORMAL = 1u << 0,
    VKA_TOKEN_ATTR_CONTROL = 1u << 1,      /* special: <s>, <|im_start|>; not printed unless asked */
    VKA_TOKEN_ATTR_BYTE = 1u << 2,         /* one raw byte, <0x0A> */
    VKA_TOKEN_ATTR_USER_DEFINED = 1u << 3,
    VKA_TOKEN_ATTR_UNKNOWN = 1u << 4,
    VKA_TOKEN_ATTR_UNUSED = 1u << 5,
    VKA_TOKEN_ATTR_EOG = 1u << 6,          /* end of generation */
    VKA_TOKEN_ATTR_BOS = 1u << 7,
} vka_token_attr;

/* 0 for a NULL model or an id outside the vocabulary. */
VKA_API uint32_t vka_token_attributes(const vka_model *model, int32_t token);

/* Byte-level BPE: the pre-tokenizer that splits text before the merges
 * ("gpt2", "llama3", "qwen2", "smollm", "gpt4o", "tekken"; "" for SentencePiece). *fallback
 * (may be NULL) is set true when tokenizer.ggml.pre is absent or unknown and
 * GPT-2's pattern stands in (docs/tokenizers.md lists the names). The string
 * is static; NULL for a NULL model. */
VKA_API const char *vka_model_pretokenizer(const vka_model *model, bool *fallback);

/* ---------------------------------------------------------------- sampling */

/* The sampler's stages run in this fixed order:
 *   0. logit_bias: each listed token's bias is added to its logit
 *      (-INFINITY bans the token);
 *   1. penalties (repetition, frequency, presence) over the last
 *      penalty_last_n tokens of the history: the accepted tokens, and in
 *      vka_generate the prompt before them;
 *   2. grammar / JSON-schema mask (tokens that cannot continue are removed);
 *   3. greedy: if temperature <= 0, the highest logit wins (lowest id on ties);
 *   4. top-k (the k highest logits survive, the lower id winning ties);
 *   5. temperature, 6. softmax (in double), 7. top-p (the smallest prefix
 *      whose probability sums to >= top_p), 8. min-p (drops tokens whose
 *      probability is below min_p times the best one's);
 *   9. a draw with the seeded RNG (xoshiro256** seeded by splitmix64(seed),
 *      one 53-bit uniform u per draw): walking the candidates best first
 *      (ties by id), the first whose cumulative weight exceeds u times the
 *      total is chosen. So one seed gives the same text on every machine
 *      for the same logits. Greedy sampling draws nothing from the RNG.
 * NaN logits count as -inf (never chosen), +inf as the largest float.
 * Tokens whose weight is below e^-40 of the best one's are dropped before
 * the softmax: too small to change a double-precision sum. */
typedef struct vka_sampling_params {
    float temperature;          /* <= 0: greedy. Default 0.8 */
    int32_t top_k;              /* <= 0: off. Default 40 */
    float top_p;                /* in (0, 1]; 1: off. Default 0.95 */
    float min_p;                /* in [0, 1]; 0: off. Default 0.05 */
    float repeat_penalty;       /* > 0; 1: off. Default 1.0. Divides positive logits, multiplies negative */
    float frequency_penalty;    /* 0: off; subtracts count * penalty */
    float presence_penalty;     /* 0: off; subtracts penalty once a token has occurred */
    int32_t penalty_last_n;     /* window for penalties (prompt and output tokens); default 64; 0: off; -1: all of them */
    uint64_t seed;              /* default 0 */
    /* Structured output (at most one of the three): */
    const char *grammar;        /* GBNF text */
    const char *grammar_root;   /* its start rule; NULL means "root" */
    const char *json_schema;    /* JSON Schema text (draft 2020-12; docs/structured-output.md) */
    bool json;                  /* any JSON value */
    uint32_t json_schema_flags; /* VKA_JSON_SCHEMA_* options of the conversion; default 0 */
    /* Biases added to the logits of the listed tokens (stage 0); a token
     * listed twice gets both. Ids outside the vocabulary and biases that are
     * NaN or +inf are VKA_ERR_INVALID_ARGUMENT. The array is copied when the
     * sampler (or generation) is created. Default: none. */
    const struct vka_logit_bias *logit_bias;
    size_t n_logit_bias;
} vka_sampling_params;

typedef struct vka_logit_bias {
    int32_t token;
    float bias;                 /* added to the token's logit; -INFINITY bans it */
} vka_logit_bias;

/* Options of the JSON Schema conversion (bits of json_schema_flags). */
typedef enum vka_json_schema_flag {
    /* Undeclared members are disallowed unless the schema allows them
     * (additionalProperties defaults to false), as OpenAI's strict mode. */
    VKA_JSON_SCHEMA_STRICT = 1u << 0,
    /* Validation keywords the converter cannot enforce exactly are ignored
     * (listed in the warnings) instead of refusing the schema. */
    VKA_JSON_SCHEMA_LENIENT = 1u << 1,
    /* Any JSON whitespace between tokens instead of none. */
    VKA_JSON_SCHEMA_FLEXIBLE_WS = 1u << 2,
    /* oneOf whose alternatives may overlap is treated as anyOf instead of
     * being refused. */
    VKA_JSON_SCHEMA_ONEOF_AS_ANYOF = 1u << 3,
} vka_json_schema_flag;

/* Converts a JSON Schema (text) to the GBNF grammar that constrained
 * sampling uses (start rule "root"). *gbnf_out is freed with vka_free.
 * warnings_out (may be NULL) receives a malloc'ed text of the keywords
 * ignored under VKA_JSON_SCHEMA_LENIENT, one per line, or NULL when there
 * are none. Errors are VKA_ERR_GRAMMAR naming the keyword and its JSON
 * pointer ("JSON schema at #/properties/when/format: ..."). */
VKA_API vka_status vka_json_schema_to_grammar(const char *schema_json, uint32_t flags, char **gbnf_out,
                                      char **warnings_out);

/* Checks whole documents against the constraint of `params` (its grammar,
 * json_schema or json), without a model: the same grammar the sampler
 * enforces, so a document is accepted exactly when a generation could
 * produce it. */
typedef struct vka_structured_checker vka_structured_checker;

VKA_API vka_status vka_structured_checker_create(const vka_sampling_params *params, vka_structured_checker **out);
/* *accepted: `doc` (len bytes) is a complete document under the grammar. */
VKA_API vka_status vka_structured_check(vka_structured_checker *checker, const char *doc, size_t len, bool *accepted);
VKA_API void vka_structured_checker_free(vka_structured_checker *checker);

VKA_API void vka_sampling_params_default(vka_sampling_params *params);

typedef struct vka_sampler vka_sampler;

/* A sampler for one generation; holds the RNG, penalty history and grammar
 * state. Fails with VKA_ERR_INVALID_ARGUMENT when a parameter is out of its
 * range (NaN temperature, top_p outside (0, 1], ...) and with
 * VKA_ERR_GRAMMAR when the grammar or schema is invalid. */
VKA_API vka_status vka_sampler_create(const vka_model *model, const vka_sampling_params *params,
                              vka_sampler **out_sampler);
VKA_API void vka_sampler_free(vka_sampler *sampler);

/* Picks a token from `logits` (n_vocab floats, not modified). Fails with
 * VKA_ERR_INVALID_ARGUMENT when every logit is NaN or -inf. */
VKA_API vka_status vka_sampler_sample(vka_sampler *sampler, const float *logits, int32_t *token);

/* Records a token as part of the output (penalty history, grammar state).
 * vka_generate calls this itself. Fails if the grammar rejects the token. */
VKA_API vka_status vka_sampler_accept(vka_sampler *sampler, int32_t token);

/* True when a grammar is complete and nothing more may follow. */
VKA_API bool vka_sampler_is_done(const vka_sampler *sampler);

/* ---------------------------------------------------------------- sessions */

typedef struct vka_session vka_session;

typedef enum vka_kv_type {
    VKA_KV_AUTO = 0,            /* f16 where the device supports it, else f32 */
    VKA_KV_F32 = 1,
    VKA_KV_F16 = 2,
} vka_kv_type;

/* The default context: the smaller of this and the model's training context. */
#define VKA_DEFAULT_N_CTX 4096

typedef struct vka_session_params {
    /* Context size in tokens. 0 (the default): vka_session_default_n_ctx(),
     * the smaller of the model's training context and VKA_DEFAULT_N_CTX.
     * More than the training context is allowed, with a warning
     * (vka_session_warning). */
    uint32_t n_ctx;
    uint32_t n_batch;           /* tokens per prefill step; default 512 */
    vka_kv_type kv_type;
} vka_session_params;

VKA_API void vka_session_params_default(vka_session_params *params);

/* A session owns its KV cache and position; several sessions may share a model. */
VKA_API vka_status vka_session_create(vka_model *model, const vka_session_params *params,
                              vka_session **out_session);
VKA_API void vka_session_free(vka_session *session);

/* The context a session gets with n_ctx = 0 (0 for a NULL model). */
VKA_API uint32_t vka_session_default_n_ctx(const vka_model *model);

/* A warning about the session's settings, NULL when there is none: today,
 * a context larger than the model's training context. The library never
 * prints it; the CLI does. Valid while the session lives. */
VKA_API const char *vka_session_warning(const vka_session *session);

/* Forgets everything fed so far (position 0). */
VKA_API vka_status vka_session_reset(vka_session *session);

/* A new session with `session`'s context (KV cache and tokens), for trying
 * alternatives from a shared prefix. A session of a scheduler
 * (vka_scheduler_session_create) forks into the same scheduler, sharing its
 * KV blocks until one of them writes; a session from vka_session_create
 * gets a copy in a scheduler of its own. */
VKA_API vka_status vka_session_fork(const vka_session *session, vka_session **out_session);

/* Drops tokens so that `n_past` remain (n_past <= current position). */
VKA_API vka_status vka_session_rewind(vka_session *session, uint32_t n_past);

/* Context shift: drops the n_discard tokens that follow the first n_keep and
 * moves the rest down, so that a conversation goes on past the context (keep
 * e.g. the system prompt). The cached keys that move are re-rotated to their
 * new positions (RoPE is a rotation, so this is exact up to rounding) and the
 * values moved; nothing is evaluated again but the last token, whose logits
 * are recomputed when next asked for. The moved entries still carry what the
 * model read of the dropped tokens in layers above the first, so what follows
 * is close to, not the same as, feeding the shortened tokens afresh.
 * n_keep + n_discard <= n_past; n_discard 0 does nothing. If the backend fails
 * midway, only the first n_keep tokens remain. */
VKA_API vka_status vka_session_shift(vka_session *session, uint32_t n_keep, uint32_t n_discard);

/* Saves the session's tokens, next-token logits and the used part of its KV
 * cache to `path` (written to `path`.tmp, then renamed over it), in a
 * versioned, checksummed file with a fingerprint of the model (architecture,
 * dimensions, tensor names, types and shapes and their first bytes). Tokens
 * fed but not yet evaluated are evaluated first. Files are little-endian and
 * portable between backends; their size is about the session's KV cache for
 * its n_past tokens. */
VKA_API vka_status vka_session_save(vka_session *session, const char *path);

/* Opens a new session (free it with vka_session_free) holding what
 * vka_session_save wrote: generating from it gives the tokens the saved
 * session would have given (same parameters and seed; same KV type).
 * `params` may be NULL; its n_ctx 0 and kv_type VKA_KV_AUTO mean the saved
 * session's (a different KV type is converted; a context smaller than the
 * saved tokens is VKA_ERR_CONTEXT_FULL). Refused, with nothing created:
 * VKA_ERR_NOT_FOUND when the file cannot be opened; VKA_ERR_INVALID_ARGUMENT
 * for a file saved from another model (the message names both shapes);
 * VKA_ERR_FORMAT for a file that is not a session file, is truncated or
 * corrupt (checksum); VKA_ERR_UNSUPPORTED for a newer format version. */
VKA_API vka_status vka_session_load(vka_model *model, const char *path, const vka_session_params *params,
                                    vka_session **out_session);

VKA_API uint32_t vka_session_n_past(const vka_session *session);
/* The KV cache's element type: VKA_KV_F16 or VKA_KV_F32 (VKA_KV_AUTO only for NULL). */
VKA_API vka_kv_type vka_session_kv_type(const vka_session *session);
VKA_API uint32_t vka_session_n_ctx(const vka_session *session);
/* The session's model: valid while the session lives, even after the
 * caller's vka_model_free (the session holds a reference). */
VKA_API const vka_model *vka_session_model(const vka_session *session);

/* The tokens in the session's context, in order (n_past of them). Valid
 * until the next call that changes the session (feed, generate, reset,
 * rewind, shift, ...) or frees it. */
VKA_API const int32_t *vka_session_tokens(const vka_session *session);

/* Asks the generation in progress on `session` (vka_generate, vka_session_chat
 * or an open generator) to stop before its next token, with
 * VKA_STOP_CANCELLED; safe from any thread while the session lives. It
 * ends only that generation: with none in progress it does nothing, and a
 * cancel that arrives as a reply ends cannot stop the next one (each
 * generation has its own number, and the cancel names the one it saw in
 * progress). A generation started after the call is not affected. */
VKA_API void vka_session_cancel(vka_session *session);

/* Low-level loop: feeds tokens (prefill in batches of n_batch). After it,
 * vka_session_logits() holds the logits for the next token. */
VKA_API vka_status vka_session_feed(vka_session *session, const int32_t *ids, size_t n_ids);

/* Like vka_session_feed, and also writes the logits after every fed token
 * to `logits` (n_ids * n_vocab floats, row i = prediction after ids[0..i]). */
VKA_API vka_status vka_session_feed_all_logits(vka_session *session, const int32_t *ids, size_t n_ids,
                                       float *logits);

/* Logits predicting the next token (n_vocab floats), or NULL before any
 * token was fed. Valid until the next call on the session. */
VKA_API const float *vka_session_logits(vka_session *session);

/* Greedy argmax of the next-token logits, computed where the model runs
 * (on Vulkan, only one id is read back). */
VKA_API vka_status vka_session_argmax(vka_session *session, int32_t *token);

/* ---------------------------------------------------------------- generation */

/* Called with each complete piece of UTF-8 text as it is generated (never
 * half a character; text that might begin a stop string is held back until
 * it is known not to). Return false to stop generation. */
typedef bool (*vka_piece_fn)(const char *piece, size_t len, int32_t token, void *user);

typedef enum vka_stop_reason {
    VKA_STOP_NONE = 0,
    VKA_STOP_MAX_TOKENS = 1,    /* max_tokens generated */
    VKA_STOP_EOS = 2,           /* the model produced an end-of-generation token */
    VKA_STOP_STRING = 3,        /* a stop string appeared (it is not emitted) */
    VKA_STOP_CANCELLED = 4,     /* vka_session_cancel() */
    VKA_STOP_CONTEXT_FULL = 5,  /* the session's context is full */
    VKA_STOP_CALLBACK = 6,      /* on_piece returned false */
    VKA_STOP_GRAMMAR = 7,       /* the grammar is complete and nothing more can follow */
} vka_stop_reason;

/* "eos", "max_tokens", ... (a static string). */
VKA_API const char *vka_stop_reason_name(vka_stop_reason reason);

typedef struct vka_generate_params {
    vka_sampling_params sampling;
    int32_t max_tokens;          /* default 256; <= 0: until the context is full */
    const char *const *stop;     /* stop strings, matched across token boundaries */
    size_t n_stop;
    vka_piece_fn on_piece;       /* may be NULL */
    void *user;
    bool parse_special;          /* prompt: turn special-token text into tokens (chat templates) */
    bool stop_on_eos;            /* default true: EOS/EOT tokens end generation */
    /* When the context fills while generating: false (default) ends the
     * generation (VKA_STOP_CONTEXT_FULL); true drops half of the tokens after
     * the first n_keep (vka_session_shift) and goes on, so only max_tokens,
     * a stop or EOS ends it. A prompt that does not fit is still an error. */
    bool context_shift;
    uint32_t n_keep;             /* with context_shift: tokens never dropped (e.g. BOS and a system prompt) */
} vka_generate_params;

VKA_API void vka_generate_params_default(vka_generate_params *params);

typedef struct vka_generate_result {
    vka_stop_reason stop_reason;
    uint32_t n_prompt_tokens;    /* tokens of the prompt fed by this call */
    uint32_t n_generated;        /* tokens sampled */
    double prompt_seconds;       /* wall time of the prefill */
    double generate_seconds;     /* wall time of sampling and decoding */
    char *text;                  /* everything emitted, NUL-terminated (stop string excluded) */
    size_t text_len;
    /* Whether `text` is a complete document of the grammar: true when no
     * grammar (or json_schema, json) constrains the generation, or when the
     * grammar may end where `text` ends; false when generation under a
     * grammar stopped before that (max_tokens, a full context, a cancel, a
     * stop string or on_piece returning false), so that `text` is not a
     * valid document. Set when the generation ends (stop_reason not NONE). */
    bool grammar_complete;
} vka_generate_result;

/* Appends `prompt` to the session's context (BOS first when the session is
 * empty and the model adds one), then samples until a stop condition.
 * `result` is always initialised; clear it with vka_generate_result_clear. */
VKA_API vka_status vka_generate(vka_session *session, const char *prompt, const vka_generate_params *params,
                        vka_generate_result *result);

/* The same with a prompt given as token ids (fed as they are). */
VKA_API vka_status vka_generate_tokens(vka_session *session, const int32_t *ids, size_t n_ids,
                               const vka_generate_params *params, vka_generate_result *result);

VKA_API void vka_generate_result_clear(vka_generate_result *result);

/* ---------------------------------------------------------------- step-wise generation */

/* The generation of vka_generate, advanced by the caller a bounded amount at
 * a time: a game loop or a coroutine runs a few tokens per frame and keeps
 * its frame rate. vka_generate is exactly this loop run to the end, so the
 * same prompt, parameters and seed give the same text either way.
 *
 *     vka_generator *g;
 *     vka_generator_create(session, "Once upon a time", &gp, &g);
 *     bool done = false;
 *     while (!done) {
 *         vka_generator_step(g, 4, 64, &done);   // <= 4 tokens or 64 prompt tokens per frame
 *         draw_frame();
 *     }
 *     printf("%s\n", vka_generator_result(g)->text);
 *     vka_generator_free(g);
 *
 * Pieces go to params->on_piece as they are produced. One generator at a
 * time per session: while it is open, calls that would change the session
 * fail with VKA_ERR_BUSY (see Conventions). */
typedef struct vka_generator vka_generator;

/* Starts a generation: tokenizes the prompt (BOS first when the session is
 * empty and the model adds one); nothing is evaluated yet. The params (stop
 * strings included) are copied. */
VKA_API vka_status vka_generator_create(vka_session *session, const char *prompt, const vka_generate_params *params,
                                vka_generator **out);
VKA_API vka_status vka_generator_create_tokens(vka_session *session, const int32_t *ids, size_t n_ids,
                                       const vka_generate_params *params, vka_generator **out);

/* The next piece of work, one of two kinds: while the prompt is not all
 * in, feeds up to `prefill_chunk` of its tokens (0: all that remain) and
 * samples nothing; once it is in, samples up to `max_tokens` tokens (0
 * counts as 1), fewer when the generation ends. *done (may be NULL) says
 * whether the generation has ended. Errors end it too. */
VKA_API vka_status vka_generator_step(vka_generator *gen, uint32_t max_tokens, uint32_t prefill_chunk, bool *done);

VKA_API bool vka_generator_done(const vka_generator *gen);

/* What has been generated so far: text emitted (NUL-terminated), counts,
 * timings, and the stop reason once done (VKA_STOP_NONE before). Owned by
 * the generator; valid until its next call. */
VKA_API const vka_generate_result *vka_generator_result(const vka_generator *gen);

/* VKA_OK, or the error that ended the generation (its message was
 * vka_last_error() of the call that failed; the status stays here). */
VKA_API vka_status vka_generator_status(const vka_generator *gen);

/* Asks this generator to stop before its next token (VKA_STOP_CANCELLED);
 * safe from any thread while the generator lives. */
VKA_API void vka_generator_cancel(vka_generator *gen);

/* Ends the generation where it is (the session keeps the tokens generated
 * so far) and frees the generator; the session is free for other calls
 * again. Freeing the session first ends the generation (cancelled): later
 * steps fail with VKA_ERR_INVALID_ARGUMENT, and the generator must still
 * be freed. */
VKA_API void vka_generator_free(vka_generator *gen);

/* ---------------------------------------------------------------- schedulers (continuous batching) */

/* A scheduler runs many sessions of one model together: each step gathers
 * the pending work of every open generator of its sessions (a chunk of
 * prompt for some, one new token for others) into one batch and runs one
 * forward pass over it, so the weights are read once for all of them; each
 * generator then samples with its own sampler (grammar, seed).
 *
 * The sessions draw their KV caches from the scheduler's pool of blocks of
 * VKA_KV_BLOCK_TOKENS tokens. Sessions whose contexts begin with the same
 * tokens share those blocks (a system prompt and tool list is computed and
 * stored once for all agents); vka_session_fork shares blocks instead of
 * copying, and a block is copied only when a sequence writes into a shared
 * one. When the pool is full, sessions that wait for work give their blocks
 * back first (they are recomputed when used again), then the newest
 * generation is preempted and recomputed later; nobody fails for lack of
 * blocks unless one session alone needs more than the pool holds
 * (VKA_ERR_CONTEXT_FULL, with the numbers).
 *
 * Results do not depend on the batch: a session gets bit-identical logits
 * (and so, with the same seed, the same text) whether it runs alone or with
 * any other traffic. A session made by vka_session_create is a scheduler of
 * one with a pool sized to its context.
 *
 *     vka_scheduler *sched;
 *     vka_scheduler_create(model, NULL, &sched);
 *     vka_session *s[3];
 *     vka_generator *g[3];
 *     const char *prompts[3] = {"The guard says:", "The merchant says:", "The cat says:"};
 *     for (int i = 0; i < 3; i++) {
 *         vka_scheduler_session_create(sched, NULL, &s[i]);
 *         vka_generator_create(s[i], prompts[i], &gp, &g[i]);   // gp: vka_generate_params
 *     }
 *     uint32_t active = 3;
 *     while (active > 0)
 *         if (vka_scheduler_step(sched, &active) != VKA_OK) break;   // one batched forward pass
 *     for (int i = 0; i < 3; i++) {
 *         printf("%s\n", vka_generator_result(g[i])->text);
 *         vka_generator_free(g[i]);
 *         vka_session_free(s[i]);
 *     }
 *     vka_scheduler_free(sched);
 *
 * Threads: a scheduler and its sessions are used by one thread at a time
 * (vka_session_cancel and vka_generator_cancel excepted). The per-session
 * calls (vka_session_feed, vka_generate, vka_generator_step, ...) work on a
 * scheduler's sessions too: they run that session alone. */
typedef struct vka_scheduler vka_scheduler;

/* Tokens per KV block. */
#define VKA_KV_BLOCK_TOKENS 32

typedef struct vka_scheduler_params {
    uint32_t n_kv_tokens;       /* pool size in tokens, rounded up to whole blocks; 0: 4 x the default context */
    uint32_t n_batch;           /* most tokens in one forward pass; 0: 512 */
    uint32_t n_seq_max;         /* most sequences in one forward pass; 0: 64 */
    vka_kv_type kv_type;
} vka_scheduler_params;

VKA_API void vka_scheduler_params_default(vka_scheduler_params *params);
/* NULL params: the defaults. The scheduler holds a reference to the model. */
VKA_API vka_status vka_scheduler_create(vka_model *model, const vka_scheduler_params *params, vka_scheduler **out);
/* Drops the caller's reference: the scheduler is freed with its last
 * session (sessions keep it alive, as they keep their model). */
VKA_API void vka_scheduler_free(vka_scheduler *sched);

/* A session drawing its KV cache from the scheduler's pool. params->n_ctx
 * caps its context (0: the smaller of the model's default context and the
 * pool); n_batch and kv_type are the scheduler's and are ignored. */
VKA_API vka_status vka_scheduler_session_create(vka_scheduler *sched, const vka_session_params *params,
                                                vka_session **out_session);

/* Advances every open generator of the scheduler's sessions by one step
 * (one token, or one chunk of prompt) in as few forward passes as the batch
 * limits allow (usually one). *n_active (may be NULL) is the number of
 * generators not yet done afterwards. A generator whose own work fails (its
 * sampler, its grammar, its context) ends, and vka_generator_status says
 * why; the others go on. The call fails only when a forward pass does; the
 * generators of that batch are then left as they were and can be stepped
 * again. */
VKA_API vka_status vka_scheduler_step(vka_scheduler *sched, uint32_t *n_active);

typedef struct vka_scheduler_stats {
    uint32_t block_tokens;      /* VKA_KV_BLOCK_TOKENS */
    uint32_t n_blocks;          /* blocks in the pool */
    uint32_t blocks_used;       /* held by at least one session */
    uint32_t blocks_shared;     /* held by more than one session */
    uint32_t blocks_cached;     /* held by none, kept for prefix reuse (reusable at once) */
    uint32_t n_sessions;
    uint32_t n_active;          /* generators not done */
    uint64_t steps;             /* forward passes run */
    uint64_t batch_tokens;      /* tokens over all forward passes */
    uint64_t prefix_tokens;     /* prompt tokens found already in the pool instead of computed */
    uint64_t preemptions;       /* sessions whose blocks were taken back to make room */
} vka_scheduler_stats;

VKA_API vka_status vka_scheduler_get_stats(const vka_scheduler *sched, vka_scheduler_stats *stats);

/* The session's share of the KV pool: blocks it holds, of which shared with
 * other sessions, and the tokens they hold. */
typedef struct vka_session_kv_info {
    uint32_t blocks;
    uint32_t blocks_shared;
    uint32_t tokens;
} vka_session_kv_info;

VKA_API vka_status vka_session_get_kv_info(const vka_session *session, vka_session_kv_info *info);

/* The session's scheduler (for a session from vka_session_create, its own
 * scheduler of one); valid while the session lives. */
VKA_API vka_scheduler *vka_session_scheduler(const vka_session *session);

/* ---------------------------------------------------------------- chat templates */

/* Chat templates turn an OpenAI-style conversation into the prompt text the
 * model was trained on. The model's own tokenizer.chat_template is
 * interpreted (a sandboxed Jinja interpreter that renders as transformers'
 * apply_chat_template and @huggingface/jinja do), with messages, tools,
 * add_generation_prompt, bos_token, eos_token and, when
 * params->enable_thinking is false, enable_thinking=false. Built-in family
 * layouts (ChatML/Qwen, Qwen3, Llama-3, Llama-3.1, Llama-2, Mistral, Zephyr,
 * Gemma, Phi-3) serve a template_override, a model without a template
 * (ChatML), and a template that fails to parse or render: then the layout of
 * the family its text is recognised as is used and
 * vka_chat_template_warning() says why. docs/chat-templates.md lists the
 * families, how each is recognised and which tool features each supports.
 *
 *     const char *msgs = "[{\"role\": \"user\", \"content\": \"Hi!\"}]";
 *     char *prompt = NULL;
 *     if (vka_chat_apply_template(model, msgs, NULL, &prompt) == VKA_OK) {
 *         ... generate from `prompt` with gp.parse_special = true ...
 *         vka_free(prompt);
 *     }
 *
 * The text contains the BOS text where the family's template writes it
 * (Llama, Gemma, Mistral); tokenize it with VKA_TOKENIZE_PARSE_SPECIAL and
 * without adding another BOS. */
typedef struct vka_chat_params {
    /* OpenAI "tools" array as JSON text ([{"type": "function", "function":
     * {"name", "description", "parameters"}}, ...]), or NULL. */
    const char *tools_json;
    /* Family name to use instead of the model's template: "chatml", "qwen3",
     * "llama3", "llama3.1", "llama2", "mistral", "mistral-v3", "zephyr",
     * "gemma", "phi3" (case-insensitive). NULL: detect from the model. */
    const char *template_override;
    /* End with the opening of an assistant turn. Default true. */
    bool add_generation_prompt;
    /* false: the model's template gets enable_thinking=false (Qwen3's then
     * writes an empty <think></think> block after the generation prompt, so
     * the model answers without thinking); of the family layouts only qwen3
     * does the same, the others ignore it. Default true. */
    bool enable_thinking;
    /* Further variables for the model's own template, as a JSON object
     * (transformers' apply_chat_template keyword arguments, OpenAI servers'
     * chat_template_kwargs: {"enable_thinking": false, "documents": [...]});
     * they win over bos_token, eos_token and enable_thinking and may not
     * name messages, tools or add_generation_prompt (VKA_ERR_INVALID_ARGUMENT).
     * Not used by the family layouts. NULL: none. */
    const char *template_kwargs_json;
} vka_chat_params;

VKA_API void vka_chat_params_default(vka_chat_params *params);

/* Renders `messages_json`, an OpenAI "messages" array: objects with "role"
 * ("system", "user", "assistant", "tool"), "content" (a string, an array of
 * {"type": "text", "text": ...} parts, or null for an assistant message
 * that only calls tools), and optionally "tool_calls" (assistant),
 * "tool_call_id" (tool), "name", "reasoning_content" (assistant thinking,
 * for Qwen3). `params` NULL means the defaults. *out_text is NUL-terminated;
 * free it with vka_free. Errors: VKA_ERR_FORMAT for malformed JSON (naming
 * the message and key), VKA_ERR_NOT_FOUND for an unknown override,
 * VKA_ERR_UNSUPPORTED for tool calls or tool results in a family without a
 * tool convention, VKA_ERR_INVALID_ARGUMENT for roles out of the order a
 * family requires or when the model's template rejects the conversation
 * (its raise_exception: "template raised: ..."). */
VKA_API vka_status vka_chat_apply_template(const vka_model *model, const char *messages_json,
                                   const vka_chat_params *params, char **out_text);

/* Renders `template_text`, a chat template in Jinja (as found in
 * tokenizer.chat_template), without a model. The template sees `messages`
 * (the parsed `messages_json` array), `tools` (params->tools_json parsed, or
 * none), `add_generation_prompt`, and every member of `variables_json` (a
 * JSON object, e.g. {"bos_token": "<s>", "enable_thinking": false}; NULL for
 * none), which may not redefine those three nor the template globals.
 * params->template_override and enable_thinking are not used (pass
 * enable_thinking in variables_json). Rendering is sandboxed (bounded
 * memory, output, steps and nesting) and byte-identical to
 * @huggingface/jinja. *out_text is freed with vka_free. Errors:
 * VKA_ERR_FORMAT for template syntax or rendering errors (with the line),
 * VKA_ERR_INVALID_ARGUMENT when the template itself rejects the input
 * (raise_exception: "template raised: ..."), VKA_ERR_UNSUPPORTED when a
 * sandbox limit is reached. */
VKA_API vka_status vka_chat_template_render(const char *template_text, const char *messages_json,
                                            const vka_chat_params *params, const char *variables_json,
                                            char **out_text);

/* Why the calling thread's last vka_chat_apply_template did not use the
 * model's own template but the family layout (the template failed to parse
 * or render: the message says how), or "" when it did not fall back. A
 * thread-local string valid until the thread's next call. */
VKA_API const char *vka_chat_template_warning(void);

/* One chat turn: renders the whole conversation (with the generation
 * prompt), keeps the part of the session's context that already matches it
 * (so a multi-turn chat re-uses its KV cache instead of re-reading the
 * history), feeds the rest and generates the assistant's reply until an
 * end-of-turn token, a stop string or another stop condition. `gen` is used
 * with parse_special forced on. The session should hold nothing but this
 * conversation. `vkagent chat` and Lua's session:chat are built on it. */
VKA_API vka_status vka_session_chat(vka_session *session, const char *messages_json, const vka_chat_params *chat,
                            const vka_generate_params *gen, vka_generate_result *result);

/* Name of the family layout vka_chat_apply_template falls back to for this
 * model without an override (e.g. "qwen3", "llama3"): used when the model has
 * no template, or when its template fails. *recognised (may be NULL) is false
 * when the model has no template or one of no known family, which renders
 * as "chatml". A static string; NULL only for a NULL model. */
VKA_API const char *vka_chat_template_family(const vka_model *model, bool *recognised);

/* ---------------------------------------------------------------- tool calls */

/* How a model writes tool calls (docs/chat-templates.md, "Reading tool calls
 * back"). */
typedef enum vka_tool_format {
    VKA_TOOL_FORMAT_NONE = 0,    /* no known call syntax: all text is content */
    VKA_TOOL_FORMAT_HERMES,      /* <tool_call>{"name", "arguments"}</tool_call> (Hermes, Qwen2.5, Qwen3, ChatML) */
    VKA_TOOL_FORMAT_LLAMA3,      /* {"name", "parameters"}, optionally after <|python_tag|> (Llama 3.1-3.3) */
    VKA_TOOL_FORMAT_MISTRAL,     /* [TOOL_CALLS][{"name", "arguments"}, ...] (Mistral v0.3, Nemo) */
    VKA_TOOL_FORMAT_MISTRAL_ARGS, /* [TOOL_CALLS]name[ARGS]{...} (Mistral Small 3.2, Devstral, Ministral 3) */
    VKA_TOOL_FORMAT_QWEN3_CODER, /* <tool_call><function=N><parameter=P>V</parameter></function></tool_call> */
    VKA_TOOL_FORMAT_GLM,         /* <tool_call>N<arg_key>K</arg_key><arg_value>V</arg_value></tool_call> (GLM 4.5+) */
} vka_tool_format;

/* The call format of a chat template: `template_or_family` is either a
 * template's text (tokenizer.chat_template), recognised by the call syntax it
 * renders, or a family name as vka_chat_template_family returns ("qwen3",
 * "chatml": HERMES; "llama3.1": LLAMA3; "mistral-v3": MISTRAL). NULL, or
 * text that renders no calls, gives VKA_TOOL_FORMAT_NONE. */
VKA_API vka_tool_format vka_tool_format_detect(const char *template_or_family);

/* A format's name ("hermes", "llama3", "mistral", "mistral-args",
 * "qwen3-coder", "glm", "none"): a static string. */
VKA_API const char *vka_tool_format_name(vka_tool_format format);

/* One call, as OpenAI's tool_calls[i].function: `arguments` is a JSON
 * object's text (as the model wrote it where it wrote JSON). `id` is the id
 * the model wrote (Mistral's [CALL_ID] or "id"), or NULL. */
typedef struct vka_tool_call {
    const char *name;
    const char *arguments;
    const char *id;
} vka_tool_call;

typedef struct vka_tool_calls {
    /* The text that is not calls: the whole text when there are no calls;
     * otherwise what comes before the first call, trailing whitespace removed. */
    const char *content;
    size_t n_calls;
    const vka_tool_call *calls;
} vka_tool_calls;

/* Reads a model's generated `text` (the assistant's reply, without its end
 * token) back as content and calls in `format`. Text that is not whole,
 * well-formed calls (cut short, malformed, a call whose arguments are not a
 * JSON object) gives the whole text as content and no calls: never a call
 * whose arguments do not parse. *out (every string in it included) lives
 * until vka_tool_calls_free(*out). Errors: VKA_ERR_INVALID_ARGUMENT for NULL
 * text or out, VKA_ERR_OUT_OF_MEMORY. */
VKA_API vka_status vka_tool_calls_parse(const char *text, vka_tool_format format, vka_tool_calls **out);
/* vka_tool_calls_parse reading the XML-like formats (QWEN3_CODER, GLM) with
 * the tools' schemas: there a value is written raw, and a parameter whose
 * schema admits only strings keeps its text as written (without the schemas,
 * a value that parses as JSON is taken as JSON: "42" would be a number).
 * `tools_json`: OpenAI's "tools" array, or NULL (as vka_tool_calls_parse);
 * not an array: VKA_ERR_INVALID_ARGUMENT. Other formats read the same. */
VKA_API vka_status vka_tool_calls_parse_tools(const char *text, vka_tool_format format, const char *tools_json,
                                              vka_tool_calls **out);
/* Whether QWEN3_CODER and GLM write `parameter` of `function` (among the
 * tools of `tools_json`) as raw text (its schema admits only strings) rather
 * than JSON; false for NULL arguments or an unknown function or parameter. */
VKA_API bool vka_tool_parameter_is_text(const char *tools_json, const char *function, const char *parameter);
VKA_API void vka_tool_calls_free(vka_tool_calls *calls);

/* Options of vka_tool_calls_grammar (bits of `flags`). */
typedef enum vka_tool_grammar_flag {
    /* Several calls (OpenAI's parallel_tool_calls) instead of one. */
    VKA_TOOL_GRAMMAR_PARALLEL = 1u << 0,
    /* tool_choice "auto": text may come first (HERMES, MISTRAL,
     * MISTRAL_ARGS, QWEN3_CODER, GLM) or instead of calls (LLAMA3: text that
     * does not begin with '{'); without it the output is calls only
     * ("required"). */
    VKA_TOOL_GRAMMAR_AUTO = 1u << 1,
} vka_tool_grammar_flag;

/* The GBNF grammar (start rule "root") of calls in `format` to the tools of
 * `tools_json` (OpenAI's "tools" array), each call's arguments under its
 * tool's "parameters" schema, converted with `schema_flags`
 * (vka_json_schema_flag). What it generates, vka_tool_calls_parse reads back
 * (vka_tool_calls_parse_tools for QWEN3_CODER and GLM). In those two formats
 * each parameter is its own element, in the order of the schema's
 * "properties" (required ones present, others optional; no others, except
 * any name and value when the schema declares no properties and does not
 * forbid additional ones); a parameter whose schema admits only strings is
 * raw text held to its enum/const, pattern, format and lengths (never
 * holding the element's closing tag), any other is JSON under its schema.
 * *gbnf_out is freed with vka_free. Errors: VKA_ERR_INVALID_ARGUMENT for
 * malformed tools (or, in QWEN3_CODER and GLM, a tool or parameter name the
 * format cannot write), VKA_ERR_GRAMMAR for a schema the conversion refuses,
 * VKA_ERR_UNSUPPORTED for VKA_TOOL_FORMAT_NONE. */
VKA_API vka_status vka_tool_calls_grammar(const char *tools_json, vka_tool_format format, uint32_t flags,
                                          uint32_t schema_flags, char **gbnf_out);

/* VKA_OK when `family` is a name template_override accepts; otherwise
 * VKA_ERR_NOT_FOUND, with a message that lists them. Needs no model, so a
 * program can check an override before loading one. */
VKA_API vka_status vka_chat_template_check(const char *family);

#ifdef __cplusplus
}
#endif

#endif /* VKAGENT_H */
