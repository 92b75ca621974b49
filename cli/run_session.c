/* run_session.c — `vkagent run --session FILE`, like a prompt cache: a run
 * whose prompt starts with what the file holds reads only the new part, and
 * the file is written again after the run with the prompt and the output. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "common.h"
#include "run_session.h"

/* The prompt as a session that starts empty would read it (BOS as the model
 * wants it; special-token text parsed when asked). */
static vka_status tokenize_prompt(const vka_model *m, const char *prompt, bool special, int32_t **ids, size_t *n) {
    int flags = VKA_TOKENIZE_MODEL_BOS | (special ? VKA_TOKENIZE_PARSE_SPECIAL : 0);
    size_t len = 0;
    while (prompt[len]) len++;
    vka_status st = vka_tokenize(m, prompt, len, flags, NULL, 0, n);
    if (st != VKA_OK && st != VKA_ERR_BUFFER_TOO_SMALL) return st;
    *ids = malloc((*n ? *n : 1) * sizeof **ids);
    if (!*ids) return VKA_ERR_OUT_OF_MEMORY;
    return vka_tokenize(m, prompt, len, flags, *ids, *n, n);
}

/* Keeps the saved tokens the prompt starts with; *ids become the rest. */
static vka_status reuse_prefix(vka_session *s, int32_t **ids, size_t *n, size_t *kept) {
    *kept = cli_common_prefix(vka_session_tokens(s), vka_session_n_past(s), *ids, *n);
    vka_status st = vka_session_rewind(s, (uint32_t)*kept);
    if (st == VKA_OK && *kept) {
        for (size_t i = *kept; i < *n; i++) (*ids)[i - *kept] = (*ids)[i];
        *n -= *kept;
    }
    return st;
}

vka_session *cli_session_open(vka_model *model, const char *path, const vka_session_params *params,
                              const char *prompt, bool special, int32_t **ids, size_t *n_ids) {
    *ids = NULL;
    *n_ids = 0;
    struct stat sb;
    bool exists = stat(path, &sb) == 0;
    vka_session *s = NULL;
    vka_status st;
    if (exists) st = vka_session_load(model, path, params, &s);
    else st = vka_session_create(model, params, &s);
    if (st != VKA_OK) {
        cli_runtime_error("run", exists ? "loading the session file" : "creating a session");
        return NULL;
    }
    size_t saved = vka_session_n_past(s), kept = 0;
    if (prompt || !exists) st = tokenize_prompt(model, prompt ? prompt : "", special, ids, n_ids);
    if (st == VKA_OK && prompt && exists) st = reuse_prefix(s, ids, n_ids, &kept);
    if (st == VKA_OK && !exists && *n_ids == 0) {
        fprintf(stderr, "vkagent run: nothing to start from: the prompt is empty and '%s' does not exist\n", path);
        st = VKA_ERR_INVALID_ARGUMENT;
    } else if (st != VKA_OK) {
        cli_runtime_error("run", "reading the prompt");
    }
    if (st != VKA_OK) {
        free(*ids);
        *ids = NULL;
        vka_session_free(s);
        return NULL;
    }
    if (exists)
        fprintf(stderr, "[session: %zu tokens loaded from %s, %zu %s]\n", saved, path, prompt ? kept : saved,
                prompt ? "reused by the prompt" : "continued");
    return s;
}

int cli_session_store(vka_session *s, const char *path) {
    if (vka_session_save(s, path) != VKA_OK) return cli_runtime_error("run", "saving the session");
    fprintf(stderr, "[session: %u tokens saved to %s]\n", vka_session_n_past(s), path);
    return EXIT_OK;
}
