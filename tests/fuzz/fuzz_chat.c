/* fuzz_chat.c — chat-message JSON and template rendering: an OpenAI
 * "messages" array (the input up to its first NUL) and a "tools" array (the
 * rest, when there is a NUL) parsed and rendered in every family, as
 * vka_chat_apply_template does. The first byte picks the family and the
 * options; the messages text also goes through template recognition. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "text/chat.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    uint8_t opts = data[0];
    const uint8_t *rest = data + 1;
    size_t rest_len = size - 1;
    const uint8_t *nul = memchr(rest, 0, rest_len);
    size_t msgs_len = nul ? (size_t)(nul - rest) : rest_len;
    char *msgs_json = fuzz_strndup(rest, msgs_len);
    char *tools_json = nul ? fuzz_strndup(nul + 1, rest_len - msgs_len - 1) : NULL;

    bool recognised;
    vka_chat_family detected = vka_chat_detect(msgs_json, &recognised);
    FUZZ_CHECK((unsigned)detected < VKA_CHAT_FAMILY_COUNT, "detected family %d", (int)detected);

    vka_chat_message *msgs = NULL;
    size_t n = 0;
    if (vka_chat_messages_from_json(msgs_json, &msgs, &n) == VKA_OK) {
        vka_chat_render_params rp;
        vka_chat_render_params_init(&rp);
        rp.family = vka_chat_family_name((vka_chat_family)(opts % VKA_CHAT_FAMILY_COUNT));
        rp.add_generation_prompt = (opts >> 4) & 1;
        rp.enable_thinking = (opts >> 5) & 1;
        rp.tools_json = tools_json;
        if ((opts >> 6) & 1) rp.bos_text = rp.eos_text = "";
        char *out = NULL;
        if (vka_chat_render(&rp, msgs, n, &out) == VKA_OK) FUZZ_CHECK(out != NULL, "no text");
        else FUZZ_CHECK(out == NULL && vka_last_error()[0], "a failed render leaves no text and says why");
        free(out);
        vka_chat_messages_free(msgs, n);
    } else {
        FUZZ_CHECK(vka_last_error()[0], "a failed parse says why");
    }
    free(msgs_json);
    free(tools_json);
    return 0;
}
