/* chat_shift.c — dropping the oldest exchange of `vkagent chat` from the
 * session by a context shift: the two renderings of the conversation (with
 * and without the exchange) share a prefix (system message) and a suffix
 * (the rest); the stretch between them is what the session drops. */
#include <stdlib.h>
#include <string.h>

#include "chat_shift.h"
#include "common.h"

/* The conversation's tokens as vka_session_chat reads them (the template's
 * text, special tokens parsed, BOS only where the text has it). */
static bool render_tokens(const vka_model *m, const vka_chat_params *chat, const char *json, int32_t **ids,
                          size_t *n) {
    char *text = NULL;
    if (vka_chat_apply_template(m, json, chat, &text) != VKA_OK) return false;
    size_t len = strlen(text);
    bool ok = vka_tokenize(m, text, len, VKA_TOKENIZE_PARSE_SPECIAL, NULL, 0, n) == VKA_ERR_BUFFER_TOO_SMALL &&
              (*ids = malloc(*n * sizeof **ids)) != NULL &&
              vka_tokenize(m, text, len, VKA_TOKENIZE_PARSE_SPECIAL, *ids, *n, n) == VKA_OK;
    vka_free(text);
    return ok;
}

/* Whether `after` is `before` less the stretch [keep, keep + drop). */
static bool one_stretch_less(const int32_t *before, size_t n_before, const int32_t *after, size_t n_after,
                             size_t *keep, size_t *drop) {
    if (n_after >= n_before) return false;
    *keep = cli_common_prefix(before, n_before, after, n_after);
    *drop = n_before - n_after;
    return *keep <= n_after &&
           memcmp(before + *keep + *drop, after + *keep, (n_after - *keep) * sizeof *after) == 0;
}

bool cli_chat_shift(vka_session *s, const vka_chat_params *chat, const char *before_json, const char *after_json) {
    const vka_model *m = vka_session_model(s);
    int32_t *before = NULL, *after = NULL;
    size_t n_before = 0, n_after = 0, keep = 0, drop = 0;
    bool ok = render_tokens(m, chat, before_json, &before, &n_before) &&
              render_tokens(m, chat, after_json, &after, &n_after) &&
              one_stretch_less(before, n_before, after, n_after, &keep, &drop);
    /* The session holds a prefix of the old conversation: the stretch must
     * be in it, whole. */
    size_t held = cli_common_prefix(vka_session_tokens(s), vka_session_n_past(s), before, n_before);
    ok = ok && held == vka_session_n_past(s) && held >= keep + drop &&
         vka_session_shift(s, (uint32_t)keep, (uint32_t)drop) == VKA_OK;
    free(before);
    free(after);
    return ok;
}
