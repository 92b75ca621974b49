/* golden.h — reading the golden JSON files of ../shared (cJSON) into plain
 * arrays, and comparing logits with them. */
#ifndef VKA_TEST_GOLDEN_H
#define VKA_TEST_GOLDEN_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

/* Parses a JSON file; NULL if missing or invalid. */
cJSON *golden_load(const char *path);

/* Copies a JSON array of numbers; returns the count (0 if not an array). */
size_t golden_ints(const cJSON *array, int32_t **out);
size_t golden_floats(const cJSON *array, float **out);

/* Max |a - b| and RMS over n values. */
typedef struct logit_diff {
    double max_abs, rms;
} logit_diff;
logit_diff golden_compare(const float *a, const float *b, size_t n);

/* Every 64- and 200-step greedy run of a stories260K golden file `g`
 * (8 of them), each in a fresh session from make_session(ctx): the same
 * text as llama2.c's run.c and the same token ids, position by position.
 * `label` names the configuration in failure messages. */
struct vka_session;
void golden_expect_greedy(const cJSON *g, struct vka_session *(*make_session)(void *ctx), void *ctx, const char *label);

#endif
