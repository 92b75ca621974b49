/* warmup.c — vka_model_warmup: runs a tiny session through both step shapes
 * (a prompt of several tokens and a single-token decode) so that the
 * backend creates every pipeline the forward pass uses before the first
 * real generation needs them. */
#include <string.h>

#include "model/model.h"
#include "base/status.h"

/* One short session of the given KV type: a two-token prefill, then a
 * one-token decode step, each read back as a generation would. */
static vka_status run_shapes(vka_model *m, vka_kv_type kv) {
    vka_session_params sp;
    vka_session_params_default(&sp);
    sp.n_ctx = m->hp.n_ctx_train && m->hp.n_ctx_train < 8 ? m->hp.n_ctx_train : 8;
    sp.kv_type = kv;
    if (sp.n_ctx < 3) return VKA_OK; /* too short to hold both shapes; nothing to warm */
    vka_session *s = NULL;
    VKA_TRY(vka_session_create(m, &sp, &s));
    int32_t ids[2] = {0, 0};
    int32_t next = 0;
    vka_status st = vka_session_feed(s, ids, 2);
    if (st == VKA_OK) st = vka_session_argmax(s, &next);
    if (st == VKA_OK) st = vka_session_feed(s, &next, 1);
    if (st == VKA_OK && !vka_session_logits(s)) st = vka_fail(VKA_ERR_INTERNAL, "warm-up: no logits after a step");
    vka_session_free(s);
    return st;
}

vka_status vka_model_warmup(vka_model *m) {
    if (!m) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_model_warmup: model is NULL");
    if (m->vocab_only) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_model_warmup: '%s' was loaded vocab-only", m->path);
    /* the CPU backends have nothing to build ahead */
    if (strncmp(m->backend->name, "cpu", 3) == 0) return VKA_OK;
    VKA_TRY(run_shapes(m, VKA_KV_AUTO));
    /* the other KV type has its own attention pipelines; a device that cannot hold it is no failure */
    vka_kv_type other = m->backend->kv_f16_default ? VKA_KV_F32 : VKA_KV_F16;
    (void)run_shapes(m, other);
    return VKA_OK;
}
