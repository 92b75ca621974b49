/* run_session.h — `vkagent run --session FILE`: a saved session reused as a
 * prompt cache, and saved again after the run. */
#ifndef VKA_CLI_RUN_SESSION_H
#define VKA_CLI_RUN_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vkagent.h"

/* The session for a run with --session `path`. When the file exists it is
 * loaded; with a prompt (non-NULL), the longest common prefix of the saved
 * tokens and the prompt's tokens is kept and *ids, *n_ids (malloc'ed) are the
 * prompt tokens after it; without one (NULL), the run continues the saved
 * context (*n_ids 0). When the file does not exist a new session is made
 * and the prompt is tokenized whole. NULL on error, with the message printed. */
vka_session *cli_session_open(vka_model *model, const char *path, const vka_session_params *params,
                              const char *prompt, bool special, int32_t **ids, size_t *n_ids);

/* Saves the session to `path`; EXIT_OK, or EXIT_RUNTIME with the message printed. */
int cli_session_store(vka_session *session, const char *path);

#endif
