/* generate.c — vka_generate: the step-wise generator (generator.c) run to
 * the end in one call; parameter defaults and stop-reason names. */
#include <stdlib.h>
#include <string.h>

#include "model/generator.h"
#include "sampling/sampler.h"
#include "base/status.h"

void vka_generate_params_default(vka_generate_params *p) {
    memset(p, 0, sizeof *p);
    vka_sampling_params_default(&p->sampling);
    p->max_tokens = 256;
    p->stop_on_eos = true;
}

const char *vka_stop_reason_name(vka_stop_reason r) {
    switch (r) {
    case VKA_STOP_NONE: return "none";
    case VKA_STOP_MAX_TOKENS: return "max_tokens";
    case VKA_STOP_EOS: return "eos";
    case VKA_STOP_STRING: return "stop_string";
    case VKA_STOP_CANCELLED: return "cancelled";
    case VKA_STOP_CONTEXT_FULL: return "context_full";
    case VKA_STOP_CALLBACK: return "callback";
    case VKA_STOP_GRAMMAR: return "grammar";
    }
    return "unknown";
}

void vka_generate_result_clear(vka_generate_result *r) {
    if (!r) return;
    free(r->text);
    memset(r, 0, sizeof *r);
}

/* Runs a generator to the end and moves its result into *r. */
static vka_status run_to_end(vka_generator *g, vka_generate_result *r) {
    bool done = false;
    vka_status st = VKA_OK;
    while (!done && st == VKA_OK) st = vka_generator_step(g, UINT32_MAX, 0, &done);
    *r = *vka_generator_result(g);
    r->text = vka_generator_take_text(g, &r->text_len);
    vka_generator_free(g);
    return st;
}

vka_status vka_generate_tokens(vka_session *s, const int32_t *ids, size_t n_ids, const vka_generate_params *p,
                               vka_generate_result *r) {
    if (!r) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_generate: result is NULL");
    memset(r, 0, sizeof *r);
    vka_generator *g;
    VKA_TRY(vka_generator_create_tokens(s, ids, n_ids, p, &g));
    return run_to_end(g, r);
}

vka_status vka_generate(vka_session *s, const char *prompt, const vka_generate_params *p, vka_generate_result *r) {
    if (!r) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_generate: result is NULL");
    memset(r, 0, sizeof *r);
    vka_generator *g;
    VKA_TRY(vka_generator_create(s, prompt, p, &g));
    return run_to_end(g, r);
}
