/* schema_check.h — a small JSON Schema validator for the subset vkagent's
 * converter supports, written for the tests (an independent check runs
 * beside it: ajv, in tests/validator). */
#ifndef VKA_TEST_SCHEMA_CHECK_H
#define VKA_TEST_SCHEMA_CHECK_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

/* True if `value` satisfies `schema` (root = the whole schema document, for
 * local $ref). On failure, `why` says where and what. */
bool schema_check(const cJSON *root, const cJSON *schema, const cJSON *value, char *why, size_t cap);

#endif
