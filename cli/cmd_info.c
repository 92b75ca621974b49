/* cmd_info.c — `vkagent info`: a GGUF file's metadata (long arrays
 * summarised), its tensor table, and the hyperparameters vkagent derives. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "common.h"
#include "tools/tools.h"   /* engine internals for the tools */

static const char *const info_help =
    "usage: vkagent info [-m] MODEL.gguf [--full]\n"
    "\n"
    "Prints the metadata (arrays longer than 8 entries are summarised unless\n"
    "--full), the tensors (name, type, shape, bytes), the hyperparameters the\n"
    "engine derives, and the memory the model needs.\n";

/* Prints a string with control characters escaped, cut at max bytes. */
static void print_escaped(const char *s, uint64_t len, uint64_t max) {
    putchar('"');
    for (uint64_t i = 0; i < len && i < max; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n') fputs("\\n", stdout);
        else if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c < 0x20 || c == 0x7f) printf("\\x%02x", c);
        else putchar(c);
    }
    if (len > max) fputs("...", stdout);
    putchar('"');
}

static void print_scalar(vka_gguf_vtype type, const void *elem) {
    switch (type) {
    case VKA_GGUF_UINT8: printf("%u", *(const uint8_t *)elem); break;
    case VKA_GGUF_INT8: printf("%d", *(const int8_t *)elem); break;
    case VKA_GGUF_UINT16: printf("%u", *(const uint16_t *)elem); break;
    case VKA_GGUF_INT16: printf("%d", *(const int16_t *)elem); break;
    case VKA_GGUF_UINT32: printf("%u", *(const uint32_t *)elem); break;
    case VKA_GGUF_INT32: printf("%d", *(const int32_t *)elem); break;
    case VKA_GGUF_UINT64: printf("%" PRIu64, *(const uint64_t *)elem); break;
    case VKA_GGUF_INT64: printf("%" PRId64, *(const int64_t *)elem); break;
    case VKA_GGUF_FLOAT32: printf("%g", (double)*(const float *)elem); break;
    case VKA_GGUF_FLOAT64: printf("%g", *(const double *)elem); break;
    case VKA_GGUF_BOOL: fputs(*(const bool *)elem ? "true" : "false", stdout); break;
    case VKA_GGUF_STRING: {
        const vka_gguf_str *s = elem;
        print_escaped(s->data, s->len, 64);
        break;
    }
    default: fputs("?", stdout);
    }
}

static size_t elem_size(vka_gguf_vtype t) {
    switch (t) {
    case VKA_GGUF_UINT8: case VKA_GGUF_INT8: return 1;
    case VKA_GGUF_UINT16: case VKA_GGUF_INT16: return 2;
    case VKA_GGUF_UINT32: case VKA_GGUF_INT32: case VKA_GGUF_FLOAT32: return 4;
    case VKA_GGUF_UINT64: case VKA_GGUF_INT64: case VKA_GGUF_FLOAT64: return 8;
    case VKA_GGUF_BOOL: return sizeof(bool);
    case VKA_GGUF_STRING: return sizeof(vka_gguf_str);
    case VKA_GGUF_ARRAY: return sizeof(vka_gguf_value);
    default: return 0;
    }
}

static void print_value(const vka_gguf_value *v, bool full);

static void print_array(const vka_gguf_array *a, bool full) {
    printf("[%s x %" PRIu64 "] [", vka_gguf_vtype_name(a->type), a->n);
    uint64_t shown = full || a->n <= 8 ? a->n : 6;
    for (uint64_t i = 0; i < shown; i++) {
        if (i) fputs(", ", stdout);
        const void *elem = (const char *)a->data + i * elem_size(a->type);
        if (a->type == VKA_GGUF_ARRAY) print_value(elem, full);
        else print_scalar(a->type, elem);
    }
    if (shown < a->n) printf(", ... %" PRIu64 " more", a->n - shown);
    putchar(']');
}

static void print_value(const vka_gguf_value *v, bool full) {
    switch (v->type) {
    case VKA_GGUF_UINT8: case VKA_GGUF_UINT16: case VKA_GGUF_UINT32: case VKA_GGUF_UINT64:
        printf("%" PRIu64, v->v.u);
        break;
    case VKA_GGUF_INT8: case VKA_GGUF_INT16: case VKA_GGUF_INT32: case VKA_GGUF_INT64:
        printf("%" PRId64, v->v.i);
        break;
    case VKA_GGUF_FLOAT32: case VKA_GGUF_FLOAT64: printf("%g", v->v.f); break;
    case VKA_GGUF_BOOL: fputs(v->v.b ? "true" : "false", stdout); break;
    case VKA_GGUF_STRING: print_escaped(v->v.str.data, v->v.str.len, full ? UINT64_MAX : 200); break;
    case VKA_GGUF_ARRAY: print_array(&v->v.arr, full); break;
    default: fputs("?", stdout);
    }
}

static void print_metadata(const vka_gguf *g, bool full) {
    printf("metadata (%" PRIu64 " keys):\n", g->n_kv);
    for (uint64_t i = 0; i < g->n_kv; i++) {
        printf("  %-44s %-8s ", g->kv[i].key.data, vka_gguf_vtype_name(g->kv[i].value.type));
        print_value(&g->kv[i].value, full);
        putchar('\n');
    }
}

static void print_tensors(const vka_gguf *g) {
    printf("\ntensors (%" PRIu64 "):\n  %-36s %-6s %-22s %12s\n", g->n_tensors, "name", "type", "shape (ne)", "bytes");
    uint64_t total = 0;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const vka_gguf_tensor *t = &g->tensors[i];
        char shape[64];
        int w = snprintf(shape, sizeof shape, "[%" PRId64, t->ne[0]);
        for (uint32_t d = 1; d < t->n_dims && w > 0 && (size_t)w < sizeof shape; d++)
            w += snprintf(shape + w, sizeof shape - (size_t)w, ", %" PRId64, t->ne[d]);
        snprintf(shape + w, sizeof shape - (size_t)w, "]");
        printf("  %-36s %-6s %-22s %12" PRIu64 "\n", t->name.data, vka_type_name(t->type), shape, t->nbytes);
        total += t->nbytes;
    }
    printf("  total tensor data: %" PRIu64 " bytes (%.2f MiB)\n", total, (double)total / (1 << 20));
}

/* What gemma2/gemma3/phi3 add (arch.c): soft-caps, sliding layers, local RoPE, phi3's RoPE factor. */
static void print_family(const vka_hparams *hp) {
    if (hp->gemma_block) {
        uint32_t n_swa = 0;
        for (uint32_t il = 0; il < hp->n_layer; il++) n_swa += vka_hparams_layer_swa(hp, il);
        printf("  gemma: embedding scale %g, query scale %g, soft-caps attention %g final %g (0: none)\n",
               (double)hp->embd_scale, (double)hp->attn_scale, (double)hp->attn_softcap, (double)hp->final_softcap);
        printf("  sliding window %u on %u of %u layers, their rope base %g scale %g\n", hp->swa_window, n_swa,
               hp->n_layer, (double)hp->rope_base_swa, (double)hp->rope_scale_swa);
    }
    if (hp->fused_weights)
        printf("  phi3: fused attn_qkv and gate/up, rope attn_factor %g, original context %u\n",
               (double)hp->rope_attn_factor, hp->n_ctx_orig);
}

static void print_hparams(const vka_model *m) {
    const vka_hparams *hp = &m->hp;
    vka_model_info info;
    vka_model_get_info(m, &info);
    printf("\nderived (architecture %s, tokenizer %s):\n", m->arch_name, info.tokenizer);
    if (!m->arch || hp->n_embd == 0) {
        printf("  no supported architecture hyperparameters (tokenizer only)\n");
    } else {
        printf("  n_vocab %u, n_ctx_train %u, n_embd %u, n_layer %u, n_head %u, n_head_kv %u (GQA %u), n_ff %u\n",
               hp->n_vocab, hp->n_ctx_train, hp->n_embd, hp->n_layer, hp->n_head, hp->n_head_kv,
               hp->n_head / hp->n_head_kv, hp->n_ff);
        printf("  head_dim %u, head_dim_v %u, rope %s n_rot %u base %g scale %g, rms_eps %g, qk_norm %s\n",
               hp->head_dim, hp->head_dim_v, m->arch->rope_mode == VKA_ROPE_NEOX ? "neox" : "norm", hp->n_rot,
               (double)hp->rope_base, (double)hp->rope_scale, (double)hp->rms_eps, m->arch->qk_norm ? "yes" : "no");
        printf("  output: %s\n", vka_gguf_find_tensor(m->gguf, "output.weight") ? "own output.weight"
                                                                                 : "tied to token_embd.weight");
        print_family(hp);
        if (hp->n_expert)
            printf("  experts: %u, %u per token, expert FFN %u, weights renormalised %s\n", hp->n_expert,
                   hp->n_expert_used, hp->n_ff_exp, hp->expert_norm ? "yes" : "no");
    }
    printf("  tokens: bos %d, eos %d, eot %d, unk %d, add_bos %s\n", info.token_bos, info.token_eos,
           info.token_eot, info.token_unk, info.add_bos ? "true" : "false");
}

static void print_memory(const vka_model *m, const vka_gguf *g) {
    if (!m->arch || m->hp.n_embd == 0) return;
    uint64_t weights = 0;
    for (uint64_t i = 0; i < g->n_tensors; i++) weights += g->tensors[i].nbytes;
    uint32_t n_ctx = m->hp.n_ctx_train;
    printf("\nmemory on the device: weights %.2f MiB; KV cache per session at n_ctx %u: %.2f MiB (f16) / %.2f MiB (f32)\n",
           (double)weights / (1 << 20), n_ctx, (double)vka_model_kv_bytes(m, n_ctx, true) / (1 << 20),
           (double)vka_model_kv_bytes(m, n_ctx, false) / (1 << 20));
}

int cmd_info(int argc, char **argv) {
    cli_args a;
    cli_args_init(&a, "info", argc, argv);
    const char *path = NULL;
    bool full = false;
    const char *arg;
    while ((arg = cli_args_next(&a))) {
        if (cli_is(arg, "-h", "--help")) {
            fputs(info_help, stdout);
            return EXIT_OK;
        } else if (cli_is(arg, "-m", "--model")) path = cli_value(&a, arg);
        else if (cli_is(arg, "--full", NULL)) full = true;
        else if (arg[0] == '-' && arg[1]) return cli_usage_error("info", "unknown option '%s'", arg);
        else if (path) return cli_usage_error("info", "give one MODEL");
        else path = arg;
    }
    if (a.failed) return EXIT_USAGE;
    char *found = cli_find_model(path, "info");
    if (!found) return EXIT_RUNTIME;
    /* vocab-only load: metadata and hyperparameters without touching weights */
    vka_model *m = cli_load_model(found, "cpu", true, "info");
    int code = EXIT_RUNTIME;
    if (m) {
        const vka_gguf *g = m->gguf;
        printf("file: %s (%zu bytes), GGUF v%u, alignment %u, tensor data at offset %" PRIu64 "\n", found, g->size,
               g->version, g->alignment, g->data_offset);
        print_metadata(g, full);
        print_tensors(g);
        print_hparams(m);
        print_memory(m, g);
        code = EXIT_OK;
    }
    vka_model_free(m);
    free(found);
    return code;
}
