/* golden.c — golden-file helpers for the tests. */
#include <math.h>
#include <stdlib.h>

#include "golden.h"
#include "test_util.h"

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
