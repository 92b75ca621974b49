/* golden.c — golden-file helpers for the tests. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "golden.h"
#include "test_util.h"
#include "vkagent.h"

cJSON *golden_load(const char *path) {
    char *text = test_read_file(path, NULL);
    if (!text) return NULL;
    cJSON *root = cJSON_Parse(text);
    free(text);
    return root;
}

size_t golden_ints(const cJSON *array, int32_t **out) {
    *out = NULL;
    if (!cJSON_IsArray(array)) return 0;
    size_t n = (size_t)cJSON_GetArraySize(array), i = 0;
    *out = malloc((n ? n : 1) * sizeof **out);
    const cJSON *item;
    cJSON_ArrayForEach(item, array) (*out)[i++] = (int32_t)item->valuedouble;
    return n;
}

size_t golden_floats(const cJSON *array, float **out) {
    *out = NULL;
    if (!cJSON_IsArray(array)) return 0;
    size_t n = (size_t)cJSON_GetArraySize(array), i = 0;
    *out = malloc((n ? n : 1) * sizeof **out);
    const cJSON *item;
    cJSON_ArrayForEach(item, array) (*out)[i++] = (float)item->valuedouble;
    return n;
}

logit_diff golden_compare(const float *a, const float *b, size_t n) {
    logit_diff d = {0, 0};
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - (double)b[i]);
        if (e > d.max_abs) d.max_abs = e;
        d.rms += e * e;
    }
    d.rms = n ? sqrt(d.rms / (double)n) : 0;
    return d;
}

void golden_expect_greedy(const cJSON *g, vka_session *(*make_session)(void *ctx), void *ctx, const char *label) {
    const cJSON *run;
    int checked = 0;
    cJSON_ArrayForEach(run, cJSON_GetObjectItem(g, "greedy")) {
        int steps = cJSON_GetObjectItem(run, "steps")->valueint;
        if (steps != 64 && steps != 200) continue; /* 512-step runs stop on BOS in run.c (see models/README.md) */
        const char *prompt = cJSON_GetObjectItem(run, "prompt")->valuestring;
        const char *want = cJSON_GetObjectItem(run, "text")->valuestring;
        int n_new = cJSON_GetObjectItem(run, "generated_new_tokens")->valueint;
        vka_session *s = make_session(ctx);
        vka_generate_params gp;
        vka_generate_params_default(&gp);
        gp.sampling.temperature = 0;
        gp.max_tokens = n_new;
        vka_generate_result r;
        cr_assert_eq(vka_generate(s, prompt, &gp, &r), VKA_OK, "%s", vka_last_error());
        cr_expect_eq(r.n_generated, (uint32_t)n_new);
        size_t plen = strlen(prompt);
        char *got = malloc(plen + r.text_len + 1);
        memcpy(got, prompt, plen);
        memcpy(got + plen, r.text, r.text_len + 1);
        cr_expect_str_eq(got, want, "prompt '%s', %d steps, %s", prompt, steps, label);
        /* and the ids, position by position */
        int32_t *ids;
        size_t n_ids = golden_ints(cJSON_GetObjectItem(run, "tokens"), &ids);
        cr_expect_eq(vka_session_n_past(s), n_ids);
        cr_expect_arr_eq(vka_session_tokens(s), ids, n_ids * sizeof *ids);
        free(ids);
        free(got);
        vka_generate_result_clear(&r);
        vka_session_free(s);
        checked++;
    }
    cr_expect_eq(checked, 8);
}
