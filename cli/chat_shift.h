/* chat_shift.h — `vkagent chat` past its context: the oldest exchange leaves
 * the session by a context shift instead of the history being read again. */
#ifndef VKA_CLI_CHAT_SHIFT_H
#define VKA_CLI_CHAT_SHIFT_H

#include <stdbool.h>

#include "vkagent.h"

/* The conversation was `before_json` and is now `after_json` (its oldest
 * exchange dropped). Moves the session's context down by that exchange's
 * tokens (vka_session_shift), so that the next vka_session_chat finds the
 * rest of the history in place and reads only the new message. False when
 * the two renderings do not differ by one stretch of tokens, or the session
 * does not hold it: vka_session_chat then keeps what still matches and reads
 * the rest again. */
bool cli_chat_shift(vka_session *session, const vka_chat_params *chat, const char *before_json,
                    const char *after_json);

#endif
