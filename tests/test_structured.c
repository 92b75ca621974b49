/* test_structured.c — constrained generation end to end on stories260K (a
 * model that knows nothing of JSON): for every schema in tests/data/schemas
 * and 50 seeds at temperature 1.0, the output parses with cJSON and
 * validates against its schema (tests/schema_check.c; ajv checks the same
 * outputs independently in the structured_ajv test). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema_check.h"
#include "structured_common.h"
#include "test_util.h"

Test(structured, every_output_is_valid, .timeout = 600) {
    const char *model_path = test_data_path("models/stories260K.gguf");
    REQUIRE_FIXTURE(model_path);
    const char *src = getenv("VKAGENT_SOURCE_DIR");
    char dir[512];
    snprintf(dir, sizeof dir, "%s/tests/data/schemas", src ? src : ".");
    static char files[16][512];
    int n_files = structured_schema_files(dir, files);
    cr_assert_geq(n_files, 5, "need at least 5 schemas in %s", dir);
    vka_model *m = NULL;
    vka_model_params mp;
    vka_model_params_default(&mp);
    mp.device = "cpu";
    cr_assert_eq(vka_model_load(model_path, &mp, &m), VKA_OK, "%s", vka_last_error());
    for (int f = 0; f < n_files; f++) {
        char *schema_text = test_read_file(files[f], NULL);
        cJSON *schema = cJSON_Parse(schema_text);
        cr_assert_not_null(schema, "%s does not parse", files[f]);
        for (uint64_t seed = 1; seed <= STRUCTURED_SEEDS; seed++) {
            vka_stop_reason reason = VKA_STOP_NONE;
            char *out = structured_generate(m, schema_text, seed, &reason);
            cr_assert_not_null(out, "%s seed %llu: %s", files[f], (unsigned long long)seed, vka_last_error());
            cr_expect(reason == VKA_STOP_GRAMMAR || reason == VKA_STOP_EOS, "%s seed %llu stopped by %s: %s", files[f],
                      (unsigned long long)seed, vka_stop_reason_name(reason), out);
            cJSON *value = cJSON_Parse(out);
            cr_expect_not_null(value, "%s seed %llu: not JSON: %s", files[f], (unsigned long long)seed, out);
            char why[256] = "";
            if (value)
                cr_expect(schema_check(schema, schema, value, why, sizeof why), "%s seed %llu: %s: %s", files[f],
                          (unsigned long long)seed, why, out);
            cJSON_Delete(value);
            free(out);
        }
        cJSON_Delete(schema);
        free(schema_text);
    }
    vka_model_free(m);
}

/* The validator itself rejects what it must (so the test above can fail). */
Test(structured, validator_rejects_invalid_values) {
    cJSON *schema = cJSON_Parse("{\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":9},"
                                "\"s\":{\"enum\":[\"a\",\"b\"]}},\"required\":[\"n\"]}");
    const char *bad[] = {"{}", "{\"n\":10}", "{\"n\":1.5}", "{\"n\":1,\"s\":\"c\"}", "{\"n\":1,\"x\":1}", "[]"};
    const char *good[] = {"{\"n\":0}", "{\"n\":9,\"s\":\"b\"}"};
    char why[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cJSON *v = cJSON_Parse(bad[i]);
        cr_expect(!schema_check(schema, schema, v, why, sizeof why), "accepted %s", bad[i]);
        cJSON_Delete(v);
    }
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        cJSON *v = cJSON_Parse(good[i]);
        cr_expect(schema_check(schema, schema, v, why, sizeof why), "rejected %s: %s", good[i], why);
        cJSON_Delete(v);
    }
    cJSON_Delete(schema);
}
