/* quantize.c — `vkagent quantize`: the per-tensor type choice of each file
 * type (the same mixes llama.cpp documents, so files compare tensor by
 * tensor) and the conversion of a whole GGUF file. */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format/gguf_write.h"
#include "format/quantize.h"
#include "base/status.h"

static const struct {
    const char *name;
    vka_ftype ftype;
    vka_type base;               /* the type most 2-D weights get */
} ftypes[] = {
    {"F32", VKA_FTYPE_F32, VKA_TYPE_F32},       {"F16", VKA_FTYPE_F16, VKA_TYPE_F16},
    {"BF16", VKA_FTYPE_BF16, VKA_TYPE_BF16},    {"Q8_0", VKA_FTYPE_Q8_0, VKA_TYPE_Q8_0},
    {"Q4_0", VKA_FTYPE_Q4_0, VKA_TYPE_Q4_0},    {"Q4_1", VKA_FTYPE_Q4_1, VKA_TYPE_Q4_1},
    {"Q5_0", VKA_FTYPE_Q5_0, VKA_TYPE_Q5_0},    {"Q5_1", VKA_FTYPE_Q5_1, VKA_TYPE_Q5_1},
    {"Q4_K_S", VKA_FTYPE_Q4_K_S, VKA_TYPE_Q4_K},
    {"Q4_K_M", VKA_FTYPE_Q4_K_M, VKA_TYPE_Q4_K}, {"Q5_K_S", VKA_FTYPE_Q5_K_S, VKA_TYPE_Q5_K},
    {"Q5_K_M", VKA_FTYPE_Q5_K_M, VKA_TYPE_Q5_K}, {"Q6_K", VKA_FTYPE_Q6_K, VKA_TYPE_Q6_K},
    {"Q2_K", VKA_FTYPE_Q2_K, VKA_TYPE_Q2_K},     {"Q3_K_S", VKA_FTYPE_Q3_K_S, VKA_TYPE_Q3_K},
    {"Q3_K_M", VKA_FTYPE_Q3_K_M, VKA_TYPE_Q3_K}, {"Q3_K_L", VKA_FTYPE_Q3_K_L, VKA_TYPE_Q3_K},
    {"IQ4_NL", VKA_FTYPE_IQ4_NL, VKA_TYPE_IQ4_NL}, {"IQ4_XS", VKA_FTYPE_IQ4_XS, VKA_TYPE_IQ4_XS},
};
#define N_FTYPES (sizeof ftypes / sizeof ftypes[0])

bool vka_ftype_from_name(const char *name, vka_ftype *out) {
    for (size_t i = 0; i < N_FTYPES; i++)
        if (strcasecmp(name, ftypes[i].name) == 0) {
            *out = ftypes[i].ftype;
            return true;
        }
    /* Q3_K, Q4_K and Q5_K alone mean their _M mix, as in llama-quantize */
    if (strcasecmp(name, "Q3_K") == 0) return (*out = VKA_FTYPE_Q3_K_M), true;
    if (strcasecmp(name, "Q4_K") == 0) return (*out = VKA_FTYPE_Q4_K_M), true;
    if (strcasecmp(name, "Q5_K") == 0) return (*out = VKA_FTYPE_Q5_K_M), true;
    return false;
}

const char *vka_ftype_name(vka_ftype ftype) {
    for (size_t i = 0; i < N_FTYPES; i++)
        if (ftypes[i].ftype == ftype) return ftypes[i].name;
    return "unknown";
}

const char *vka_ftype_list(void) {
    return "F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K_S, Q3_K_M (Q3_K), Q3_K_L, Q4_K_S, Q4_K_M (Q4_K), "
           "Q5_K_S, Q5_K_M (Q5_K), Q6_K, IQ4_NL, IQ4_XS";
}

static vka_type base_type(vka_ftype ftype) {
    for (size_t i = 0; i < N_FTYPES; i++)
        if (ftypes[i].ftype == ftype) return ftypes[i].base;
    return VKA_TYPE_F32;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Tensor roles as llama.cpp's rules see them (by name). attn_qkv and
 * attn_kv_b count as attn_v: they carry the values. */
typedef enum tensor_role {
    ROLE_OTHER, ROLE_OUTPUT, ROLE_TOKEN_EMBD, ROLE_ATTN_V, ROLE_ATTN_K, ROLE_ATTN_OUTPUT, ROLE_FFN_DOWN,
} tensor_role;

static tensor_role role_of(const char *name) {
    if (strcmp(name, "output.weight") == 0) return ROLE_OUTPUT;
    if (strcmp(name, "token_embd.weight") == 0) return ROLE_TOKEN_EMBD;
    if (strstr(name, "attn_qkv.weight") || strstr(name, "attn_kv_b.weight") || strstr(name, "attn_v.weight"))
        return ROLE_ATTN_V;
    if (strstr(name, "attn_k.weight")) return ROLE_ATTN_K;
    if (strstr(name, "attn_q.weight")) return ROLE_OTHER;
    if (strstr(name, "attn_output.weight")) return ROLE_ATTN_OUTPUT;
    if (strstr(name, "ffn_up") || strstr(name, "ffn_gate")) return ROLE_OTHER;
    if (strstr(name, "ffn_down")) return ROLE_FFN_DOWN;
    return ROLE_OTHER;
}

void vka_quant_plan_init(vka_quant_plan *plan, vka_ftype ftype, const char *const *names, size_t n_names) {
    memset(plan, 0, sizeof *plan);
    plan->ftype = ftype;
    plan->tied_output = true;
    plan->n_gqa = 1;
    for (size_t i = 0; i < n_names; i++) {
        tensor_role r = role_of(names[i]);
        if (r == ROLE_OUTPUT) plan->tied_output = false;
        if (r == ROLE_ATTN_V) plan->n_attn_v++;
        if (r == ROLE_FFN_DOWN) plan->n_ffn_down++;
    }
}

void vka_quant_plan_set_model(vka_quant_plan *plan, const vka_gguf *g) {
    const char *arch = vka_gguf_get_str(g, "general.architecture");
    if (!arch) return;
    char key[160];
    uint32_t v = 0, heads = 0, kv_heads = 0;
    snprintf(key, sizeof key, "%s.block_count", arch);
    if (vka_gguf_get_u32(g, key, &v) && v > 0 && v < 1u << 20) plan->n_ffn_down = (int)v;
    snprintf(key, sizeof key, "%s.attention.head_count", arch);
    bool have_heads = vka_gguf_get_u32(g, key, &heads);
    snprintf(key, sizeof key, "%s.attention.head_count_kv", arch);
    if (!vka_gguf_get_u32(g, key, &kv_heads)) kv_heads = heads;
    if (have_heads && kv_heads > 0) plan->n_gqa = heads / kv_heads;
    snprintf(key, sizeof key, "%s.expert_count", arch);
    if (vka_gguf_get_u32(g, key, &v)) plan->n_expert = v;
}

/* llama.cpp's rule for which layers of a mix get more bits: the first and
 * last eighth, and every third layer in between. */
static bool use_more_bits(int i_layer, int n_layers) {
    return i_layer < n_layers / 8 || i_layer >= 7 * n_layers / 8 || (i_layer - n_layers / 8) % 3 == 2;
}

static bool divides(vka_type type, int64_t ne0) { return ne0 % vka_type_get_traits(type)->block_size == 0; }

/* Row lengths a block size does not divide fall back as llama-quantize's
 * do: the 256-value types to a 32-value type of about their size (Q2_K and
 * Q3_K -> Q4_0, Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, IQ4_XS -> IQ4_NL:
 * Qwen2.5-0.5B's rows of 896 and SmolLM's of 576 are not whole
 * super-blocks); anything else to Q8_0, or F16 when even 32 does not divide
 * the row. */
static vka_type fall_back(vka_type type, int64_t ne0) {
    if (divides(type, ne0)) return type;
    if (type == VKA_TYPE_F16 || type == VKA_TYPE_BF16 || type == VKA_TYPE_F32) return VKA_TYPE_F16;
    vka_type small = type == VKA_TYPE_Q4_K                          ? VKA_TYPE_Q5_0
                     : type == VKA_TYPE_Q5_K                        ? VKA_TYPE_Q5_1
                     : type == VKA_TYPE_Q2_K || type == VKA_TYPE_Q3_K ? VKA_TYPE_Q4_0
                     : type == VKA_TYPE_IQ4_XS                      ? VKA_TYPE_IQ4_NL
                                                                    : VKA_TYPE_Q8_0;
    return divides(small, ne0) ? small : VKA_TYPE_F16;
}

/* The layer of an FFN tensor: its position among them, or with experts the
 * number in its name (llama.cpp: expert tensors need not come in order). */
static int ffn_layer(const vka_quant_plan *p, const char *name, int counter) {
    int layer = counter;
    if (p->n_expert > 1 && sscanf(name, "blk.%d.", &layer) != 1) layer = counter;
    return layer;
}

static vka_type attn_v_type(vka_quant_plan *p, vka_type base) {
    vka_ftype f = p->ftype;
    int i = p->i_attn_v++;
    vka_type t = base;
    if (f == VKA_FTYPE_Q2_K) t = p->n_gqa >= 4 ? VKA_TYPE_Q4_K : VKA_TYPE_Q3_K;
    else if (f == VKA_FTYPE_Q3_K_M) t = i < 2 ? VKA_TYPE_Q5_K : VKA_TYPE_Q4_K;
    else if (f == VKA_FTYPE_Q3_K_L) t = VKA_TYPE_Q5_K;
    else if ((f == VKA_FTYPE_IQ4_NL || f == VKA_FTYPE_IQ4_XS) && p->n_gqa >= 4) t = VKA_TYPE_Q5_K;
    else if ((f == VKA_FTYPE_Q4_K_M || f == VKA_FTYPE_Q5_K_M) && use_more_bits(i, p->n_attn_v)) t = VKA_TYPE_Q6_K;
    else if (f == VKA_FTYPE_Q4_K_S && i < 4) t = VKA_TYPE_Q5_K;
    return p->n_expert == 8 ? VKA_TYPE_Q8_0 : t;   /* cheap for 8-expert models: the rest is experts */
}

static vka_type ffn_down_type(vka_quant_plan *p, const char *name, vka_type base) {
    vka_ftype f = p->ftype;
    int i = ffn_layer(p, name, p->i_ffn_down++), n = p->n_ffn_down;
    if (f == VKA_FTYPE_Q2_K) return VKA_TYPE_Q3_K;
    if (f == VKA_FTYPE_Q3_K_M) return i < n / 16 ? VKA_TYPE_Q5_K : VKA_TYPE_Q4_K;
    if (f == VKA_FTYPE_Q3_K_L) return VKA_TYPE_Q5_K;
    if (f == VKA_FTYPE_Q4_K_M) return use_more_bits(i, n) ? VKA_TYPE_Q6_K : base;
    if ((f == VKA_FTYPE_IQ4_NL || f == VKA_FTYPE_IQ4_XS) && i < n / 8) return VKA_TYPE_Q5_K;
    if (f == VKA_FTYPE_Q5_K_M && use_more_bits(i, n)) return VKA_TYPE_Q6_K;
    if (f == VKA_FTYPE_Q4_K_S && i < n / 8) return VKA_TYPE_Q5_K;
    return base;
}

static vka_type attn_output_type(const vka_quant_plan *p, vka_type base) {
    vka_ftype f = p->ftype;
    if (p->n_expert == 8)
        return f == VKA_FTYPE_Q2_K || f == VKA_FTYPE_Q3_K_S || f == VKA_FTYPE_Q3_K_M || f == VKA_FTYPE_IQ4_NL ||
                       f == VKA_FTYPE_Q4_K_S || f == VKA_FTYPE_Q4_K_M || f == VKA_FTYPE_IQ4_XS
                   ? VKA_TYPE_Q5_K
                   : base;
    if (f == VKA_FTYPE_Q2_K) return VKA_TYPE_Q3_K;
    if (f == VKA_FTYPE_Q3_K_M) return VKA_TYPE_Q4_K;
    if (f == VKA_FTYPE_Q3_K_L) return VKA_TYPE_Q5_K;
    return base;
}

/* llama.cpp's per-tensor choice within a mix (llama_tensor_get_type, for
 * the file types above; its Falcon and 70B special cases left out). */
static vka_type mix_type(vka_quant_plan *p, const char *name, int64_t ne0, vka_type base) {
    tensor_role role = role_of(name);
    if (role == ROLE_OUTPUT || (p->tied_output && role == ROLE_TOKEN_EMBD)) {
        if (!divides(base, ne0)) return VKA_TYPE_Q8_0;
        return base == VKA_TYPE_Q8_0 ? VKA_TYPE_Q8_0 : VKA_TYPE_Q6_K;
    }
    switch (role) {
    case ROLE_ATTN_V: return attn_v_type(p, base);
    case ROLE_ATTN_K: return p->n_expert == 8 ? VKA_TYPE_Q8_0 : base;
    case ROLE_FFN_DOWN: return ffn_down_type(p, name, base);
    case ROLE_ATTN_OUTPUT: return attn_output_type(p, base);
    default: return base;
    }
}

vka_type vka_quant_choose(vka_quant_plan *p, const char *name, uint32_t n_dims, const int64_t *ne, vka_type current) {
    /* as llama.cpp: neither norms nor MoE routers (ffn_gate_inp) are quantized */
    bool quantizable = n_dims >= 2 && ends_with(name, "weight") && !strstr(name, "_norm.weight") &&
                       !strstr(name, "ffn_gate_inp.weight");
    if (!quantizable) return current;
    vka_type base = base_type(p->ftype);
    if (base == VKA_TYPE_F32 || base == VKA_TYPE_F16 || base == VKA_TYPE_BF16) return base;
    return fall_back(mix_type(p, name, ne[0], base), ne[0]);
}

static vka_status check_convertible(vka_type from, vka_type to) {
    const vka_type_traits *tf = vka_type_get_traits(from), *tt = vka_type_get_traits(to);
    if (!tf || !tf->to_f32) return vka_fail(VKA_ERR_UNSUPPORTED, "cannot read tensors of type %s", vka_type_name(from));
    if (!tt || !tt->from_f32) return vka_fail(VKA_ERR_UNSUPPORTED, "cannot write tensors of type %s", vka_type_name(to));
    return VKA_OK;
}

vka_status vka_convert_row(const void *src, vka_type from, void *dst, vka_type to, int64_t n, float *scratch) {
    VKA_TRY(check_convertible(from, to));
    const vka_type_traits *tf = vka_type_get_traits(from), *tt = vka_type_get_traits(to);
    if (from == to) {
        memcpy(dst, src, vka_type_row_size(from, n));
        return VKA_OK;
    }
    tf->to_f32(src, scratch, n);
    tt->from_f32(scratch, dst, n);
    return VKA_OK;
}

/* ------------------------------------------------------------ the file */

typedef struct job_tensor {
    const vka_gguf_tensor *src;
    vka_type to;
} job_tensor;

typedef struct quant_job {
    const vka_quantize_params *params;
    job_tensor *tensors;
    uint64_t n, done;
} quant_job;

/* Rows [r0, r1) of one tensor, converted on one thread. */
typedef struct row_range {
    const vka_gguf_tensor *t;
    vka_type to;
    void *dst;
    int64_t r0, r1;
    bool out_of_memory;
} row_range;

static void *convert_rows(void *arg) {
    row_range *rr = arg;
    const vka_gguf_tensor *t = rr->t;
    size_t in_row = vka_type_row_size((vka_type)t->type, t->ne[0]), out_row = vka_type_row_size(rr->to, t->ne[0]);
    float *scratch = malloc((size_t)t->ne[0] * sizeof *scratch);
    if (!scratch) {
        rr->out_of_memory = true;
        return NULL;
    }
    /* the types were checked before the threads started: a row cannot fail */
    for (int64_t r = rr->r0; r < rr->r1; r++)
        (void)vka_convert_row((const char *)t->data + (size_t)r * in_row, (vka_type)t->type,
                              (char *)rr->dst + (size_t)r * out_row, rr->to, t->ne[0], scratch);
    free(scratch);
    return NULL;
}

/* Converts a tensor's rows on up to one thread per CPU (16 at most, 8 rows
 * each at least): rows are independent, so the bytes do not depend on the
 * split. The K-quant and IQ4 searches make this the slow part. */
static vka_status convert_tensor(const vka_gguf_tensor *t, vka_type to, void *dst, int64_t rows) {
    enum { MAX_THREADS = 16, MIN_ROWS = 8 };
    VKA_TRY(check_convertible((vka_type)t->type, to));
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int64_t n = cpus < 1 ? 1 : cpus > MAX_THREADS ? MAX_THREADS : cpus;
    if (rows / MIN_ROWS < n) n = rows / MIN_ROWS > 0 ? rows / MIN_ROWS : 1;
    row_range ranges[MAX_THREADS];
    pthread_t threads[MAX_THREADS];
    bool started[MAX_THREADS] = {false};
    for (int64_t i = 0; i < n; i++) ranges[i] = (row_range){t, to, dst, rows * i / n, rows * (i + 1) / n, false};
    for (int64_t i = 1; i < n; i++) started[i] = pthread_create(&threads[i], NULL, convert_rows, &ranges[i]) == 0;
    convert_rows(&ranges[0]);
    for (int64_t i = 1; i < n; i++) {
        if (started[i]) pthread_join(threads[i], NULL);
        else convert_rows(&ranges[i]); /* no thread to be had: this one does it */
    }
    for (int64_t i = 0; i < n; i++)
        if (ranges[i].out_of_memory) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory converting '%s'", t->name.data);
    return VKA_OK;
}

static vka_status parse_override(const char *spec, char *pattern, size_t cap, vka_type *type) {
    const char *eq = strchr(spec, '=');
    if (!eq || eq == spec || (size_t)(eq - spec) >= cap)
        return vka_fail(VKA_ERR_INVALID_ARGUMENT, "override '%s' is not SUBSTRING=TYPE", spec);
    memcpy(pattern, spec, (size_t)(eq - spec));
    pattern[eq - spec] = '\0';
    for (uint32_t t = 0; t < VKA_TYPE_COUNT; t++) {
        const vka_type_traits *tr = vka_type_get_traits(t);
        if (tr && strcasecmp(tr->name, eq + 1) == 0 && vka_type_is_supported(t) && tr->from_f32) {
            *type = (vka_type)t;
            return VKA_OK;
        }
    }
    return vka_fail(VKA_ERR_INVALID_ARGUMENT, "override '%s': unknown or unsupported type '%s' (supported: %s)", spec,
                    eq + 1, vka_type_supported_list());
}

static vka_status choose_types(const vka_gguf *g, const vka_quantize_params *p, job_tensor *out) {
    const char **names = calloc(g->n_tensors + 1, sizeof *names);
    if (!names) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
    for (uint64_t i = 0; i < g->n_tensors; i++) names[i] = g->tensors[i].name.data;
    vka_quant_plan plan;
    vka_quant_plan_init(&plan, p->ftype, names, g->n_tensors);
    vka_quant_plan_set_model(&plan, g);
    free(names);
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const vka_gguf_tensor *t = &g->tensors[i];
        out[i].src = t;
        out[i].to = vka_quant_choose(&plan, t->name.data, t->n_dims, t->ne, (vka_type)t->type);
        for (size_t k = 0; k < p->n_overrides; k++) {
            char pattern[256];
            vka_type type = VKA_TYPE_F32;
            VKA_TRY(parse_override(p->overrides[k], pattern, sizeof pattern, &type));
            if (strstr(t->name.data, pattern) && t->n_dims >= 2) out[i].to = fall_back(type, t->ne[0]);
        }
        bool quantized_input = t->type != VKA_TYPE_F32 && t->type != VKA_TYPE_F16 && t->type != VKA_TYPE_BF16;
        if (out[i].to != t->type && quantized_input && !p->allow_requantize)
            return vka_fail(VKA_ERR_INVALID_ARGUMENT,
                            "tensor '%s' is already %s; requantizing loses quality (allow it explicitly)",
                            t->name.data, vka_type_name(t->type));
    }
    return VKA_OK;
}

/* Writer callback: converts one tensor row by row into the output buffer. */
static vka_status fill_tensor(void *user, const char *name, void *dst, uint64_t nbytes) {
    quant_job *job = user;
    job_tensor *jt = &job->tensors[job->done];
    const vka_gguf_tensor *t = jt->src;
    if (strcmp(name, t->name.data) != 0) return vka_fail(VKA_ERR_INTERNAL, "quantize: tensors out of order");
    int64_t rows = (int64_t)(t->nbytes / vka_type_row_size((vka_type)t->type, t->ne[0]));
    VKA_TRY(convert_tensor(t, jt->to, dst, rows));
    if (job->params->progress) {
        vka_quantize_progress pr = {job->done, job->n, name, t->type, jt->to, t->nbytes, nbytes};
        job->params->progress(&pr, job->params->user);
    }
    job->done++;
    return VKA_OK;
}

static bool same_file(const char *a, const char *b) {
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static vka_status copy_metadata(const vka_gguf *g, vka_gguf_writer *w, vka_ftype ftype) {
    for (uint64_t i = 0; i < g->n_kv; i++) {
        const char *key = g->kv[i].key.data;
        if (strcmp(key, "general.file_type") == 0 || strcmp(key, "general.quantization_version") == 0) continue;
        VKA_TRY(vka_gguf_writer_add_value(w, key, &g->kv[i].value));
    }
    /* llama-quantize removes and re-appends both keys, in this order: the
     * same order here keeps the output byte-identical to its files */
    VKA_TRY(vka_gguf_writer_add_u32(w, "general.quantization_version", 2));
    return vka_gguf_writer_add_u32(w, "general.file_type", (uint32_t)ftype);
}

/* The layer of a "blk.N." tensor; -1 for the others (embeddings, output). */
static long block_of(const char *name) {
    if (strncmp(name, "blk.", 4) != 0) return -1;
    char *end;
    long layer = strtol(name + 4, &end, 10);
    return end == name + 4 ? -1 : layer;
}

/* llama-quantize writes tensors in its loader's order: the non-layer tensors,
 * then layer by layer (numerically), by name within each group. */
static int compare_tensor_order(const void *pa, const void *pb) {
    const char *a = ((const job_tensor *)pa)->src->name.data, *b = ((const job_tensor *)pb)->src->name.data;
    long la = block_of(a), lb = block_of(b);
    if (la != lb) return la < lb ? -1 : 1;
    return strcmp(a, b);
}

static vka_status add_tensors(vka_gguf_writer *w, quant_job *job) {
    qsort(job->tensors, job->n, sizeof *job->tensors, compare_tensor_order);
    for (uint64_t i = 0; i < job->n; i++) {
        const vka_gguf_tensor *t = job->tensors[i].src;
        VKA_TRY(vka_gguf_writer_add_tensor_fill(w, t->name.data, job->tensors[i].to, t->n_dims, t->ne, fill_tensor, job));
    }
    return VKA_OK;
}

vka_status vka_quantize_file(const char *in_path, const char *out_path, const vka_quantize_params *p) {
    if (!in_path || !out_path || !p) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_quantize_file: NULL argument");
    if (strcmp(in_path, out_path) == 0 || same_file(in_path, out_path))
        return vka_fail(VKA_ERR_INVALID_ARGUMENT, "refusing to overwrite the input '%s'", in_path);
    vka_gguf *g = NULL;
    VKA_TRY(vka_gguf_open(in_path, &g));
    vka_gguf_writer *w = NULL;
    quant_job job = {.params = p, .n = g->n_tensors};
    job.tensors = calloc(g->n_tensors + 1, sizeof *job.tensors);
    vka_status st = job.tensors ? VKA_OK : vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
    if (st == VKA_OK) st = choose_types(g, p, job.tensors);
    if (st == VKA_OK) st = vka_gguf_writer_create(&w);
    if (st == VKA_OK) st = copy_metadata(g, w, p->ftype);
    if (st == VKA_OK) st = add_tensors(w, &job);
    if (st == VKA_OK) st = vka_gguf_writer_write_file(w, out_path);
    vka_gguf_writer_free(w);
    free(job.tensors);
    vka_gguf_free(g);
    return st;
}
