/* structured_gen.c — writes the constrained generations of test_structured
 * (every schema x 50 seeds on stories260K) as JSON, for the independent
 * validator: {"cases": [{"schema": FILE, "seed": N, "output": TEXT}, ...]}.
 * usage: structured_gen MODEL SCHEMA_DIR OUT.json */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>

#include "structured_common.h"
#include "test_util.h"

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s MODEL SCHEMA_DIR OUT.json\n", argv[0]);
        return 2;
    }
    static char files[16][512];
    int n_files = structured_schema_files(argv[2], files);
    vka_model *m = NULL;
    vka_model_params mp;
    vka_model_params_default(&mp);
    mp.device = "cpu";
    if (n_files < 5 || vka_model_load(argv[1], &mp, &m) != VKA_OK) {
        fprintf(stderr, "structured_gen: %d schemas; %s\n", n_files, vka_last_error());
        return 1;
    }
    cJSON *root = cJSON_CreateObject(), *cases = cJSON_AddArrayToObject(root, "cases");
    int code = 0;
    for (int f = 0; f < n_files && !code; f++) {
        char *schema = test_read_file(files[f], NULL);
        for (uint64_t seed = 1; seed <= STRUCTURED_SEEDS && schema; seed++) {
            vka_stop_reason reason;
            char *out = structured_generate(m, schema, seed, &reason);
            if (!out) {
                fprintf(stderr, "structured_gen: %s seed %llu: %s\n", files[f], (unsigned long long)seed, vka_last_error());
                code = 1;
                break;
            }
            cJSON *c = cJSON_CreateObject();
            cJSON_AddStringToObject(c, "schema", files[f]);
            cJSON_AddNumberToObject(c, "seed", (double)seed);
            cJSON_AddStringToObject(c, "output", out);
            cJSON_AddItemToArray(cases, c);
            free(out);
        }
        free(schema);
    }
    char *text = cJSON_Print(root);
    FILE *fp = fopen(argv[3], "w");
    if (!fp || !text || fputs(text, fp) < 0) code = 1;
    if (fp) fclose(fp);
    free(text);
    cJSON_Delete(root);
    vka_model_free(m);
    return code;
}
