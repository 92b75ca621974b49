/* structured_common.c — see structured_common.h. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "structured_common.h"

static int compare(const void *a, const void *b) { return strcmp(a, b); }

int structured_schema_files(const char *dir, char paths[][512]) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 16) {
        size_t len = strlen(e->d_name);
        if (len > 5 && strcmp(e->d_name + len - 5, ".json") == 0) snprintf(paths[n++], 512, "%s/%s", dir, e->d_name);
    }
    closedir(d);
    qsort(paths, (size_t)n, 512, compare);
    return n;
}

char *structured_generate(vka_model *m, const char *schema_text, uint64_t seed, vka_stop_reason *reason) {
    vka_session_params sp;
    vka_session_params_default(&sp);
    vka_session *s = NULL;
    if (vka_session_create(m, &sp, &s) != VKA_OK) return NULL;
    vka_generate_params gp;
    vka_generate_params_default(&gp);
    gp.sampling.temperature = 1.0f;
    gp.sampling.seed = seed;
    gp.sampling.json_schema = schema_text;
    gp.max_tokens = 0; /* until the grammar completes or the context is full */
    vka_generate_result r;
    char *text = NULL;
    if (vka_generate(s, "", &gp, &r) == VKA_OK) {
        text = r.text;
        r.text = NULL;
        *reason = r.stop_reason;
    }
    vka_generate_result_clear(&r);
    vka_session_free(s);
    return text;
}
