/* synth.c — random-weight GGUF models of a given shape and type. Weights are
 * uniform with the variance of N(0, 1/fan_in) so activations stay in range;
 * each row of each tensor has its own seeded stream, so files are
 * reproducible whatever the number of threads. Tensors are generated and
 * quantized one at a time while the file is written, their rows spread over
 * all cores (K-quant mixes of an 8B shape take minutes on one). */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "format/gguf.h"
#include "format/gguf_write.h"
#include "sampling/sampler.h"
#include "base/status.h"
#include "model/synth.h"

typedef struct preset {
    const char *name, *arch;
    uint32_t embd, layers, heads, kv_heads, ff, ctx, vocab, head_dim;
    bool tied;
} preset;

static const preset presets[] = {
    {"stories260K", "llama", 64, 5, 8, 4, 172, 512, 512, 0, false},
    {"llama-1b-body", "llama", 2048, 16, 32, 8, 8192, 2048, 512, 0, false},
    {"llama-3.2-1b", "llama", 2048, 16, 32, 8, 8192, 4096, 128256, 0, true},
    {"llama-3.1-8b", "llama", 4096, 32, 32, 8, 14336, 4096, 128256, 0, false},
    {"qwen2.5-0.5b", "qwen2", 896, 24, 14, 2, 4864, 4096, 151936, 0, true},
    {"qwen2.5-1.5b", "qwen2", 1536, 28, 12, 2, 8960, 4096, 151936, 0, true},
    {"qwen3-0.6b", "qwen3", 1024, 28, 16, 8, 3072, 4096, 151936, 128, true},
};

bool vka_synth_preset(const char *name, vka_synth_params *p) {
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++) {
        const preset *s = &presets[i];
        if (strcmp(s->name, name) != 0) continue;
        p->arch = s->arch;
        p->n_embd = s->embd;
        p->n_layer = s->layers;
        p->n_head = s->heads;
        p->n_head_kv = s->kv_heads;
        p->n_ff = s->ff;
        p->n_ctx = s->ctx;
        p->n_vocab = s->vocab;
        p->head_dim = s->head_dim;
        p->tied_output = s->tied;
        return true;
    }
    return false;
}

const char *vka_synth_preset_list(void) {
    return "stories260K, llama-1b-body, llama-3.2-1b, llama-3.1-8b, qwen2.5-0.5b, qwen2.5-1.5b, qwen3-0.6b";
}

/* ------------------------------------------------------------ vocabulary */

/* A SentencePiece vocabulary: <unk> <s> </s>, the 256 byte tokens, then
 * letters and letter pairs with and without the U+2581 space marker. */
static vka_status add_generated_vocab(vka_gguf_writer *w, uint32_t n) {
    if (n < 259) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "a generated vocabulary needs at least 259 tokens, not %u", n);
    char **texts = calloc(n, sizeof *texts);
    float *scores = malloc(n * sizeof *scores);
    int32_t *types = malloc(n * sizeof *types);
    if (!texts || !scores || !types) {
        free(texts);
        free(scores);
        free(types);
        return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
    }
    const char *fixed[3] = {"<unk>", "<s>", "</s>"};
    vka_status st = VKA_OK;
    for (uint32_t i = 0; i < n && st == VKA_OK; i++) {
        char buf[16];
        if (i < 3) snprintf(buf, sizeof buf, "%s", fixed[i]);
        else if (i < 259) snprintf(buf, sizeof buf, "<0x%02X>", i - 3);
        else {
            uint32_t k = i - 259, letters = 26;
            /* k: single letters, then "▁" + letter, then pairs, then "▁" + pairs, ... */
            uint32_t a = k % letters, b = (k / letters) % letters, group = k / letters / letters;
            if (k < letters) snprintf(buf, sizeof buf, "%c", 'a' + a);
            else if (k < 2 * letters) snprintf(buf, sizeof buf, "\xe2\x96\x81%c", 'a' + a);
            else snprintf(buf, sizeof buf, "%s%c%c%u", group % 2 ? "\xe2\x96\x81" : "", 'a' + b, 'a' + a, group / 2);
        }
        texts[i] = strdup(buf);
        if (!texts[i]) st = vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
        scores[i] = i < 259 ? 0.0f : -(float)(i - 259);
        types[i] = i == 0 ? 2 : i < 3 ? 3 : i < 259 ? 6 : 1;
    }
    if (st == VKA_OK) st = vka_gguf_writer_add_str(w, "tokenizer.ggml.model", "llama");
    if (st == VKA_OK) st = vka_gguf_writer_add_str_array(w, "tokenizer.ggml.tokens", (const char *const *)texts, n);
    if (st == VKA_OK) st = vka_gguf_writer_add_array(w, "tokenizer.ggml.scores", VKA_GGUF_FLOAT32, scores, n);
    if (st == VKA_OK) st = vka_gguf_writer_add_array(w, "tokenizer.ggml.token_type", VKA_GGUF_INT32, types, n);
    if (st == VKA_OK) st = vka_gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", 1);
    if (st == VKA_OK) st = vka_gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", 2);
    if (st == VKA_OK) st = vka_gguf_writer_add_u32(w, "tokenizer.ggml.unknown_token_id", 0);
    for (uint32_t i = 0; i < n; i++) free(texts[i]);
    free(texts);
    free(scores);
    free(types);
    return st;
}

/* Copies tokenizer.* from another GGUF; returns its vocabulary size. */
static vka_status copy_vocab(vka_gguf_writer *w, const char *path, uint32_t *n_vocab) {
    vka_gguf *g;
    VKA_TRY(vka_gguf_open(path, &g));
    vka_status st = VKA_OK;
    const vka_gguf_array *tokens = vka_gguf_get_array(g, "tokenizer.ggml.tokens", VKA_GGUF_STRING);
    if (!tokens) st = vka_fail(VKA_ERR_FORMAT, "'%s' has no tokenizer.ggml.tokens", path);
    else *n_vocab = (uint32_t)tokens->n;
    for (uint64_t i = 0; st == VKA_OK && i < g->n_kv; i++)
        if (strncmp(g->kv[i].key.data, "tokenizer.", 10) == 0)
            st = vka_gguf_writer_add_value(w, g->kv[i].key.data, &g->kv[i].value);
    vka_gguf_free(g);
    return st;
}

/* ------------------------------------------------------------ hparams */

static vka_status add_hparams(vka_gguf_writer *w, const vka_synth_params *p, uint32_t head_dim) {
    char key[96];
    const char *a = p->arch;
#define U32(suffix, value) \
    (snprintf(key, sizeof key, "%s." suffix, a), vka_gguf_writer_add_u32(w, key, (value)))
    VKA_TRY(vka_gguf_writer_add_str(w, "general.architecture", a));
    VKA_TRY(vka_gguf_writer_add_str(w, "general.name", "vkagent synthetic (random weights)"));
    VKA_TRY(vka_gguf_writer_add_u32(w, "general.file_type", (uint32_t)p->ftype));
    VKA_TRY(vka_gguf_writer_add_u32(w, "general.quantization_version", 2));
    VKA_TRY(U32("context_length", p->n_ctx));
    VKA_TRY(U32("embedding_length", p->n_embd));
    VKA_TRY(U32("block_count", p->n_layer));
    VKA_TRY(U32("feed_forward_length", p->n_ff));
    VKA_TRY(U32("attention.head_count", p->n_head));
    VKA_TRY(U32("attention.head_count_kv", p->n_head_kv));
    VKA_TRY(U32("attention.key_length", head_dim));
    VKA_TRY(U32("attention.value_length", head_dim));
    VKA_TRY(U32("rope.dimension_count", head_dim));
#undef U32
    snprintf(key, sizeof key, "%s.attention.layer_norm_rms_epsilon", a);
    VKA_TRY(vka_gguf_writer_add_f32(w, key, 1e-5f));
    snprintf(key, sizeof key, "%s.rope.freq_base", a);
    return vka_gguf_writer_add_f32(w, key, strcmp(a, "llama") == 0 ? 500000.0f : 1000000.0f);
}

/* ------------------------------------------------------------ tensors */

typedef struct synth_tensor {
    char name[64];
    int64_t ne[2];
    uint32_t n_dims;
    vka_type type;
} synth_tensor;

typedef struct synth_job {
    const vka_synth_params *p;
    synth_tensor *tensors;
    uint32_t n, cap, done;
    int64_t widest;              /* the longest row of any tensor */
} synth_job;

static uint64_t name_hash(const char *s) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* One tensor being filled: workers take rows from `next` until none is left. */
typedef struct fill_work {
    const synth_tensor *t;
    uint64_t seed;
    char *dst;
    size_t row_bytes;
    int64_t widest;
    atomic_int_fast64_t next;
    atomic_bool out_of_memory;
} fill_work;

/* Rows of random f32 converted to the tensor's type. Norm weights are
 * 1 + small noise, matrices uniform with the standard deviation
 * 1/sqrt(fan_in). Row r is drawn from its own stream (seed, tensor name, r). */
static void *fill_rows(void *arg) {
    fill_work *fw = arg;
    const synth_tensor *t = fw->t;
    float *row = malloc((size_t)fw->widest * sizeof *row);
    if (!row) {
        atomic_store(&fw->out_of_memory, true);
        return NULL;
    }
    bool is_norm = t->n_dims == 1;
    float amp = is_norm ? 0.1f : sqrtf(3.0f / (float)t->ne[0]); /* uniform(-a, a) has std a/sqrt(3) */
    const vka_type_traits *tr = vka_type_get_traits(t->type);
    for (int64_t r; (r = atomic_fetch_add(&fw->next, 1)) < t->ne[1];) {
        vka_rng rng;
        vka_rng_seed(&rng, fw->seed + (uint64_t)r * 0x9e3779b97f4a7c15ull);
        for (int64_t i = 0; i < t->ne[0]; i++)
            row[i] = (is_norm ? 1.0f : 0.0f) + amp * (float)(2.0 * vka_rng_uniform(&rng) - 1.0);
        tr->from_f32(row, fw->dst + (size_t)r * fw->row_bytes, t->ne[0]);
    }
    free(row);
    return NULL;
}

static int worker_count(int64_t rows) {
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int64_t n = cores < 1 ? 1 : cores > 64 ? 64 : cores;
    return (int)(rows < n ? rows : n);
}

/* Writer callback, called once per tensor in order. */
static vka_status fill_random(void *user, const char *name, void *dst, uint64_t nbytes) {
    synth_job *job = user;
    const synth_tensor *t = &job->tensors[job->done];
    if (strcmp(t->name, name) != 0) return vka_fail(VKA_ERR_INTERNAL, "synth: tensors out of order");
    fill_work fw = {.t = t, .seed = job->p->seed ^ name_hash(name), .dst = dst,
                    .row_bytes = vka_type_row_size(t->type, t->ne[0]), .widest = job->widest};
    atomic_init(&fw.next, 0);
    atomic_init(&fw.out_of_memory, false);
    pthread_t threads[64];
    int n_threads = worker_count(t->ne[1]), started = 0;
    for (; started < n_threads - 1; started++)
        if (pthread_create(&threads[started], NULL, fill_rows, &fw) != 0) break; /* fewer threads: still correct */
    fill_rows(&fw);
    for (int i = 0; i < started; i++) pthread_join(threads[i], NULL);
    if (atomic_load(&fw.out_of_memory)) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
    (void)nbytes;
    job->done++;
    if (job->p->progress) job->p->progress(name, job->done, job->n, job->p->user);
    return VKA_OK;
}

static vka_status add_tensor(synth_job *job, vka_quant_plan *plan, const char *name, int64_t ne0, int64_t ne1) {
    if (job->n == job->cap) {
        uint32_t cap = job->cap ? job->cap * 2 : 64;
        synth_tensor *t = realloc(job->tensors, cap * sizeof *t);
        if (!t) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
        job->tensors = t;
        job->cap = cap;
    }
    synth_tensor *t = &job->tensors[job->n++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ne[0] = ne0;
    t->ne[1] = ne1 ? ne1 : 1;
    t->n_dims = ne1 ? 2 : 1;
    t->type = vka_quant_choose(plan, name, t->n_dims, t->ne, VKA_TYPE_F32);
    return VKA_OK;
}

/* The tensor list of the shared llama-style block, in llama.cpp's order. */
static vka_status plan_tensors(synth_job *job, vka_quant_plan *plan, uint32_t head_dim, uint32_t n_vocab) {
    const vka_synth_params *p = job->p;
    int64_t q = (int64_t)p->n_head * head_dim, kv = (int64_t)p->n_head_kv * head_dim;
    bool qwen2 = strcmp(p->arch, "qwen2") == 0, qwen3 = strcmp(p->arch, "qwen3") == 0;
    char n[64];
    VKA_TRY(add_tensor(job, plan, "token_embd.weight", p->n_embd, n_vocab));
    for (uint32_t l = 0; l < p->n_layer; l++) {
#define T(suffix, ne0, ne1) (snprintf(n, sizeof n, "blk.%u." suffix, l), add_tensor(job, plan, n, (ne0), (ne1)))
        VKA_TRY(T("attn_norm.weight", p->n_embd, 0));
        VKA_TRY(T("attn_q.weight", p->n_embd, q));
        VKA_TRY(T("attn_k.weight", p->n_embd, kv));
        VKA_TRY(T("attn_v.weight", p->n_embd, kv));
        if (qwen2) {
            VKA_TRY(T("attn_q.bias", q, 0));
            VKA_TRY(T("attn_k.bias", kv, 0));
            VKA_TRY(T("attn_v.bias", kv, 0));
        }
        if (qwen3) {
            VKA_TRY(T("attn_q_norm.weight", head_dim, 0));
            VKA_TRY(T("attn_k_norm.weight", head_dim, 0));
        }
        VKA_TRY(T("attn_output.weight", q, p->n_embd));
        VKA_TRY(T("ffn_norm.weight", p->n_embd, 0));
        VKA_TRY(T("ffn_gate.weight", p->n_embd, p->n_ff));
        VKA_TRY(T("ffn_down.weight", p->n_ff, p->n_embd));
        VKA_TRY(T("ffn_up.weight", p->n_embd, p->n_ff));
#undef T
    }
    VKA_TRY(add_tensor(job, plan, "output_norm.weight", p->n_embd, 0));
    if (!p->tied_output) VKA_TRY(add_tensor(job, plan, "output.weight", p->n_embd, n_vocab));
    return VKA_OK;
}

static vka_status check_shape(const vka_synth_params *p, uint32_t head_dim) {
    if (!p->arch || (strcmp(p->arch, "llama") && strcmp(p->arch, "qwen2") && strcmp(p->arch, "qwen3")))
        return vka_fail(VKA_ERR_INVALID_ARGUMENT, "synth: architecture must be llama, qwen2 or qwen3");
    if (!p->n_embd || !p->n_layer || !p->n_head || !p->n_head_kv || !p->n_ff || !head_dim || p->n_head % p->n_head_kv)
        return vka_fail(VKA_ERR_INVALID_ARGUMENT, "synth: the shape needs non-zero sizes and heads divisible by KV heads");
    return VKA_OK;
}

vka_status vka_synth_model(const vka_synth_params *p, const char *path) {
    uint32_t head_dim = p->head_dim ? p->head_dim : p->n_head ? p->n_embd / p->n_head : 0;
    VKA_TRY(check_shape(p, head_dim));
    vka_gguf_writer *w = NULL;
    synth_job job = {.p = p};
    uint32_t n_vocab = p->n_vocab;
    VKA_TRY(vka_gguf_writer_create(&w));
    vka_status st = add_hparams(w, p, head_dim);
    if (st == VKA_OK) st = p->vocab_from ? copy_vocab(w, p->vocab_from, &n_vocab) : add_generated_vocab(w, n_vocab);
    vka_quant_plan plan;
    const char *no_output[1] = {"token_embd.weight"}, *with_output[1] = {"output.weight"};
    vka_quant_plan_init(&plan, p->ftype, p->tied_output ? no_output : with_output, 1);
    plan.n_attn_v = plan.n_ffn_down = (int)p->n_layer;
    if (st == VKA_OK) st = plan_tensors(&job, &plan, head_dim, n_vocab);
    for (uint32_t i = 0; i < job.n; i++)
        if (job.tensors[i].ne[0] > job.widest) job.widest = job.tensors[i].ne[0];
    for (uint32_t i = 0; st == VKA_OK && i < job.n; i++)
        st = vka_gguf_writer_add_tensor_fill(w, job.tensors[i].name, job.tensors[i].type, job.tensors[i].n_dims,
                                             job.tensors[i].ne, fill_random, &job);
    if (st == VKA_OK) st = vka_gguf_writer_write_file(w, path);
    vka_gguf_writer_free(w);
    free(job.tensors);
    return st;
}
