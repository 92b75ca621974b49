/* chat_session.c — a chat turn on a session: render the conversation, keep
 * the matching prefix of the context (KV cache re-use across turns), feed
 * the rest, generate the reply. */
#include <stdlib.h>
#include <string.h>

#include "model/session.h"
#include "base/status.h"

/* Tokens of the rendered conversation; BOS only where the text has it. */
static vka_status render_tokens(vka_session *s, const char *messages_json, const vka_chat_params *chat,
                                int32_t **ids, size_t *n) {
    char *text = NULL;
    VKA_TRY(vka_chat_apply_template(s->model, messages_json, chat, &text));
    vka_status st = vka_vocab_tokenize(s->model->vocab, text, strlen(text), VKA_TOKENIZE_PARSE_SPECIAL, ids, n);
    vka_free(text);
    return st;
}

static size_t common_prefix(const int32_t *a, size_t na, const int32_t *b, size_t nb) {
    size_t i = 0;
    while (i < na && i < nb && a[i] == b[i]) i++;
    return i;
}

vka_status vka_session_chat(vka_session *s, const char *messages_json, const vka_chat_params *chat,
                            const vka_generate_params *gen, vka_generate_result *result) {
    if (result) memset(result, 0, sizeof *result);
    if (!s || !messages_json || !result)
        return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_session_chat: session, messages and result are required");
    VKA_TRY(vka_session_check_idle(s, "vka_session_chat"));
    vka_chat_params defaults;
    if (!chat) {
        vka_chat_params_default(&defaults);
        chat = &defaults;
    }
    vka_generate_params gen_defaults;
    if (!gen) {
        vka_generate_params_default(&gen_defaults);
        gen = &gen_defaults;
    }
    int32_t *ids = NULL;
    size_t n = 0;
    VKA_TRY(render_tokens(s, messages_json, chat, &ids, &n));
    /* The reply must start from fresh logits: keep at most n - 1 tokens. */
    size_t keep = common_prefix(s->tokens, s->n_past, ids, n);
    if (keep == n) keep = n ? n - 1 : 0;
    vka_status st = vka_session_rewind(s, (uint32_t)keep);
    vka_generate_params p = *gen;
    p.parse_special = true;
    if (st == VKA_OK) st = vka_generate_tokens(s, ids + keep, n - keep, &p, result);
    free(ids);
    return st;
}
