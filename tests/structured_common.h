/* structured_common.h — generation under the JSON schemas of
 * tests/data/schemas on stories260K, shared by the Criterion test and the
 * generator that feeds the independent validator (ajv). */
#ifndef VKA_TEST_STRUCTURED_COMMON_H
#define VKA_TEST_STRUCTURED_COMMON_H

#include <stdint.h>

#include "vkagent.h"

#define STRUCTURED_SEEDS 50

/* Paths of the schema files, sorted; returns the count (at most 16). */
int structured_schema_files(const char *dir, char paths[][512]);

/* Generates one output under `schema_text` at temperature 1.0 with `seed`;
 * returns it malloc'ed, or NULL (vka_last_error() says why). *reason gets the stop reason. */
char *structured_generate(vka_model *m, const char *schema_text, uint64_t seed, vka_stop_reason *reason);

#endif
