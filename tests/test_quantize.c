/* test_quantize.c — `vkagent quantize`: the files it writes from the F32
 * fixtures equal llama-quantize's, tensor by tensor (types and bytes) and as
 * whole files; the
 * mixes' layer choice; refusals. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "format/gguf.h"
#include "format/quantize.h"
#include "test_util.h"

static char *temp_path(void) {
    char *path = test_temp_file("quant");
    cr_assert_not_null(path);
    return path;
}

/* Every tensor of `ref` exists in `mine` with the same type, shape and bytes. */
static void expect_same_tensors(const char *mine_path, const char *ref_path) {
    vka_gguf *mine, *ref;
    cr_assert_eq(vka_gguf_open(mine_path, &mine), VKA_OK, "%s", vka_last_error());
    cr_assert_eq(vka_gguf_open(ref_path, &ref), VKA_OK, "%s", vka_last_error());
    cr_expect_eq(mine->n_tensors, ref->n_tensors);
    for (uint64_t i = 0; i < ref->n_tensors; i++) {
        const vka_gguf_tensor *r = &ref->tensors[i];
        const vka_gguf_tensor *m = vka_gguf_find_tensor(mine, r->name.data);
        cr_assert_not_null(m, "%s: tensor %s missing", mine_path, r->name.data);
        cr_expect_eq(m->type, r->type, "%s: %s is %s, llama-quantize made %s", ref_path, r->name.data,
                     vka_type_name(m->type), vka_type_name(r->type));
        cr_expect_eq(m->nbytes, r->nbytes);
        if (m->nbytes == r->nbytes)
            cr_expect_eq(memcmp(m->data, r->data, r->nbytes), 0, "%s: bytes of %s differ", ref_path, r->name.data);
    }
    uint32_t ftype = 0;
    cr_expect(vka_gguf_get_u32(mine, "general.file_type", &ftype));
    vka_gguf_free(mine);
    vka_gguf_free(ref);
}

/* The whole files are equal byte for byte: metadata order, tensor order,
 * offsets and padding as llama-quantize writes them. */
static void expect_same_bytes(const char *mine_path, const char *ref_path) {
    size_t n_mine = 0, n_ref = 0;
    char *mine = test_read_file(mine_path, &n_mine), *ref = test_read_file(ref_path, &n_ref);
    cr_assert(mine && ref);
    size_t first = 0;
    while (first < n_mine && first < n_ref && mine[first] == ref[first]) first++;
    cr_expect(first == n_mine && n_mine == n_ref, "%s: differs from llama-quantize's file at byte %zu (sizes %zu, %zu)",
              ref_path, first, n_mine, n_ref);
    free(mine);
    free(ref);
}

static void quantize_and_compare(const char *in_rel, const char *ref_rel, const char *type, const char *override) {
    const char *in = test_data_path(in_rel), *ref = test_data_path(ref_rel);
    REQUIRE_FIXTURE(in);
    REQUIRE_FIXTURE(ref);
    vka_quantize_params qp = {0};
    cr_assert(vka_ftype_from_name(type, &qp.ftype), "%s", type);
    const char *ov[1] = {override};
    qp.overrides = ov;
    qp.n_overrides = override ? 1 : 0;
    char *out = temp_path();
    cr_assert_eq(vka_quantize_file(in, out, &qp), VKA_OK, "%s", vka_last_error());
    expect_same_tensors(out, ref);
    expect_same_bytes(out, ref);
    unlink(out);
    free(out);
}

Test(quantize, fixtures_match_llama_quantize, .timeout = 300) {
    const char *archs[] = {"llama", "qwen2", "qwen3"};
    const char *types[] = {"q8_0", "q4_0", "q4_k_m", "q5_k_m", "q6_k"};
    for (int a = 0; a < 3; a++)
        for (int t = 0; t < 5; t++) {
            char in[96], ref[96];
            snprintf(in, sizeof in, "fixtures/arch/%s-f32.gguf", archs[a]);
            snprintf(ref, sizeof ref, "fixtures/arch/%s-%s.gguf", archs[a], types[t]);
            quantize_and_compare(in, ref, types[t], NULL);
        }
}

/* arch2/: llama-quantize's Q2_K, Q3_K_M, IQ4_NL and IQ4_XS of the same F32 files. */
Test(quantize, low_bit_fixtures_match_llama_quantize, .timeout = 300) {
    const char *archs[] = {"llama", "qwen3"};
    const char *types[] = {"q2_k", "q3_k_m", "iq4_nl", "iq4_xs"};
    for (int a = 0; a < 2; a++)
        for (int t = 0; t < 4; t++) {
            char in[96], ref[96];
            snprintf(in, sizeof in, "fixtures/arch/%s-f32.gguf", archs[a]);
            snprintf(ref, sizeof ref, "fixtures/arch2/%s-%s.gguf", archs[a], types[t]);
            quantize_and_compare(in, ref, types[t], NULL);
        }
}

/* arch2/'s gemma2, gemma3, phi3 (fused attn_qkv: attn_v's rules) and
 * qwen3moe (8 experts: Q8_0 attn_k/attn_v, Q5_K attn_output, F32 router). */
Test(quantize, arch2_models_match_llama_quantize, .timeout = 300) {
    const char *archs[] = {"gemma2", "gemma3", "phi3", "qwen3moe"};
    const char *types[] = {"q8_0", "q4_k_m"};
    for (int a = 0; a < 4; a++)
        for (int t = 0; t < 2; t++) {
            char in[96], ref[96];
            snprintf(in, sizeof in, "fixtures/arch2/%s-f32.gguf", archs[a]);
            snprintf(ref, sizeof ref, "fixtures/arch2/%s-%s.gguf", archs[a], types[t]);
            quantize_and_compare(in, ref, types[t], NULL);
        }
}

/* models/README.md: made with --tensor-type ffn_down=f32 (172-wide rows). */
Test(quantize, stories_match_llama_quantize) {
    quantize_and_compare("models/stories260K.gguf", "models/stories260K-q8_0.gguf", "Q8_0", "ffn_down=f32");
    quantize_and_compare("models/stories260K.gguf", "models/stories260K-q4_0.gguf", "Q4_0", "ffn_down=f32");
}

/* Q4_K_M over 32 layers: attn_v and ffn_down get Q6_K where layer < 4,
 * layer >= 28, or (layer - 4) % 3 == 2, i.e. 6, 9, ..., 27 (llama.cpp's rule). */
Test(quantize, q4_k_m_layer_choice) {
    char names[64][32];
    const char *ptrs[65];
    for (int i = 0; i < 32; i++) {
        snprintf(names[2 * i], 32, "blk.%d.attn_v.weight", i);
        snprintf(names[2 * i + 1], 32, "blk.%d.ffn_down.weight", i);
    }
    for (int i = 0; i < 64; i++) ptrs[i] = names[i];
    ptrs[64] = "output.weight";
    vka_quant_plan plan;
    vka_quant_plan_init(&plan, VKA_FTYPE_Q4_K_M, ptrs, 65);
    int64_t ne[2] = {4096, 1024};
    for (int i = 0; i < 32; i++) {
        bool more = i < 4 || i >= 28 || (i >= 4 && (i - 4) % 3 == 2);
        vka_type want = more ? VKA_TYPE_Q6_K : VKA_TYPE_Q4_K;
        cr_expect_eq(vka_quant_choose(&plan, names[2 * i], 2, ne, VKA_TYPE_F32), want, "attn_v layer %d", i);
        cr_expect_eq(vka_quant_choose(&plan, names[2 * i + 1], 2, ne, VKA_TYPE_F32), want, "ffn_down layer %d", i);
    }
    cr_expect_eq(vka_quant_choose(&plan, "output.weight", 2, ne, VKA_TYPE_F32), VKA_TYPE_Q6_K);
    cr_expect_eq(vka_quant_choose(&plan, "blk.0.attn_norm.weight", 1, ne, VKA_TYPE_F32), VKA_TYPE_F32);
    int64_t odd[2] = {172, 64};
    cr_expect_eq(vka_quant_choose(&plan, "blk.0.attn_q.weight", 2, odd, VKA_TYPE_F32), VKA_TYPE_F16,
                 "172 is divisible by neither 256 nor 32");
    /* rows of whole blocks but not super-blocks: llama-quantize's substitutes */
    int64_t by32[2] = {96, 64};
    cr_expect_eq(vka_quant_choose(&plan, "blk.0.attn_q.weight", 2, by32, VKA_TYPE_F32), VKA_TYPE_Q5_0, "Q4_K -> Q5_0");
    cr_expect_eq(vka_quant_choose(&plan, "output.weight", 2, by32, VKA_TYPE_F32), VKA_TYPE_Q8_0, "Q6_K -> Q8_0");
    vka_quant_plan_init(&plan, VKA_FTYPE_Q5_K_M, ptrs, 65);
    int64_t qwen05[2] = {896, 128};
    cr_expect_eq(vka_quant_choose(&plan, "blk.0.attn_q.weight", 2, qwen05, VKA_TYPE_F32), VKA_TYPE_Q5_1, "Q5_K -> Q5_1");
    cr_expect_eq(vka_quant_choose(&plan, names[0], 2, qwen05, VKA_TYPE_F32), VKA_TYPE_Q8_0,
                 "layer 0's attn_v: Q6_K -> Q8_0");
    cr_expect_eq(vka_quant_choose(&plan, names[1], 2, ne, VKA_TYPE_F32), VKA_TYPE_Q6_K, "whole super-blocks keep Q6_K");
}

/* The low-bit mixes' choices (llama.cpp's rules): Q3_K_M gives attn_v of
 * the first two layers Q5_K, later ones Q4_K, and ffn_down of the first
 * sixteenth Q5_K; grouped-query models and 8-expert models get more bits in
 * attention; rows of whole blocks but not super-blocks fall back. */
Test(quantize, low_bit_layer_choice) {
    char names[64][32];
    const char *ptrs[64];
    for (int i = 0; i < 32; i++) {
        snprintf(names[2 * i], 32, "blk.%d.attn_v.weight", i);
        snprintf(names[2 * i + 1], 32, "blk.%d.ffn_down.weight", i);
    }
    for (int i = 0; i < 64; i++) ptrs[i] = names[i];
    int64_t ne[2] = {4096, 1024};
    vka_quant_plan plan;
    vka_quant_plan_init(&plan, VKA_FTYPE_Q3_K_M, ptrs, 64);
    for (int i = 0; i < 32; i++) {
        cr_expect_eq(vka_quant_choose(&plan, names[2 * i], 2, ne, VKA_TYPE_F32), i < 2 ? VKA_TYPE_Q5_K : VKA_TYPE_Q4_K,
                     "Q3_K_M attn_v layer %d", i);
        cr_expect_eq(vka_quant_choose(&plan, names[2 * i + 1], 2, ne, VKA_TYPE_F32),
                     i < 2 ? VKA_TYPE_Q5_K : VKA_TYPE_Q4_K, "Q3_K_M ffn_down layer %d", i);
    }
    cr_expect_eq(vka_quant_choose(&plan, "token_embd.weight", 2, ne, VKA_TYPE_F32), VKA_TYPE_Q6_K, "tied: the output");
    cr_expect_eq(vka_quant_choose(&plan, "blk.0.attn_output.weight", 2, ne, VKA_TYPE_F32), VKA_TYPE_Q4_K);
    cr_expect_eq(vka_quant_choose(&plan, "blk.0.ffn_gate_inp.weight", 2, ne, VKA_TYPE_F32), VKA_TYPE_F32, "router");
    vka_quant_plan_init(&plan, VKA_FTYPE_Q2_K, ptrs, 64);
    cr_expect_eq(vka_quant_choose(&plan, names[0], 2, ne, VKA_TYPE_F32), VKA_TYPE_Q3_K);
    plan.n_gqa = 4;
    cr_expect_eq(vka_quant_choose(&plan, names[2], 2, ne, VKA_TYPE_F32), VKA_TYPE_Q4_K, "Q2_K attn_v with GQA 4");
    cr_expect_eq(vka_quant_choose(&plan, "blk.0.attn_q.weight", 2, ne, VKA_TYPE_F32), VKA_TYPE_Q2_K);
    int64_t by32[2] = {96, 64};
    cr_expect_eq(vka_quant_choose(&plan, "blk.0.attn_q.weight", 2, by32, VKA_TYPE_F32), VKA_TYPE_Q4_0, "Q2_K -> Q4_0");
    vka_quant_plan_init(&plan, VKA_FTYPE_IQ4_XS, ptrs, 64);
    cr_expect_eq(vka_quant_choose(&plan, names[1], 2, ne, VKA_TYPE_F32), VKA_TYPE_Q5_K, "IQ4_XS ffn_down, first eighth");
    cr_expect_eq(vka_quant_choose(&plan, "blk.0.attn_q.weight", 2, by32, VKA_TYPE_F32), VKA_TYPE_IQ4_NL,
                 "IQ4_XS -> IQ4_NL");
    vka_quant_plan_init(&plan, VKA_FTYPE_Q3_K_L, ptrs, 64);
    plan.n_expert = 8;
    cr_expect_eq(vka_quant_choose(&plan, names[0], 2, ne, VKA_TYPE_F32), VKA_TYPE_Q8_0, "8 experts: attn_v Q8_0");
    cr_expect_eq(vka_quant_choose(&plan, "blk.0.attn_k.weight", 2, ne, VKA_TYPE_F32), VKA_TYPE_Q8_0);
    vka_quant_plan_init(&plan, VKA_FTYPE_Q4_K_M, ptrs, 64);
    plan.n_expert = 8;
    cr_expect_eq(vka_quant_choose(&plan, "blk.0.attn_output.weight", 2, ne, VKA_TYPE_F32), VKA_TYPE_Q5_K);
    vka_ftype f;
    cr_expect(vka_ftype_from_name("q3_k", &f) && f == VKA_FTYPE_Q3_K_M);
    cr_expect(vka_ftype_from_name("IQ4_xs", &f) && f == VKA_FTYPE_IQ4_XS);
}

Test(quantize, refusals) {
    const char *in = test_data_path("models/stories260K.gguf");
    REQUIRE_FIXTURE(in);
    vka_quantize_params qp = {.ftype = VKA_FTYPE_Q8_0};
    cr_expect_eq(vka_quantize_file(in, in, &qp), VKA_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(vka_last_error(), "overwrite") != NULL, "%s", vka_last_error());
    const char *q8 = test_data_path("models/stories260K-q8_0.gguf");
    char *out = temp_path();
    qp.ftype = VKA_FTYPE_Q4_0;
    cr_expect_eq(vka_quantize_file(q8, out, &qp), VKA_ERR_INVALID_ARGUMENT, "requantizing needs allow_requantize");
    const char *bad[] = {"ffn_down=q9_9"};
    qp.overrides = bad;
    qp.n_overrides = 1;
    cr_expect_eq(vka_quantize_file(in, out, &qp), VKA_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(vka_last_error(), "q9_9") != NULL, "%s", vka_last_error());
    vka_ftype f;
    cr_expect(!vka_ftype_from_name("Q3_K_XL", &f));
    cr_expect(vka_ftype_from_name("q4_k", &f) && f == VKA_FTYPE_Q4_K_M);
    cr_expect(vka_ftype_from_name("Q5_0", &f) && f == VKA_FTYPE_Q5_0);
    cr_expect(vka_ftype_from_name("q4_1", &f) && f == VKA_FTYPE_Q4_1);
    cr_expect(vka_ftype_from_name("Q5_1", &f) && f == VKA_FTYPE_Q5_1);
    unlink(out);
    free(out);
}
