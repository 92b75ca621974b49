/* test_util.h — helpers shared by the Criterion tests: fixture paths and
 * temporary files. A missing fixture makes a test report itself skipped. */
#ifndef VKA_TEST_UTIL_H
#define VKA_TEST_UTIL_H

#include <stddef.h>

/* VKAGENT_TEST_DATA (default ../shared) joined with `rel`; static buffer per call site is not
 * needed: the result is malloc'ed and freed at process exit. */
const char *test_data_path(const char *rel);

/* Skips the current test (cr_skip_test) with a reason if the fixture is missing. */
#define REQUIRE_FIXTURE(path)                                                   \
    do {                                                                        \
        if (!test_file_exists(path))                                            \
            cr_skip_test("fixture missing: %s (set VKAGENT_TEST_DATA)", path);  \
    } while (0)

int test_file_exists(const char *path);

/* Reads a whole file; returns malloc'ed bytes (NUL-terminated) or NULL. */
char *test_read_file(const char *path, size_t *len);

/* A fresh empty file, or directory, named vkagent-TAG-XXXXXX under $TMPDIR
 * (default /tmp); returns its malloc'ed path, or NULL. */
char *test_temp_file(const char *tag);
char *test_temp_dir(const char *tag);

/* Writes bytes to a fresh temporary file; returns its malloc'ed path. */
char *test_write_temp(const void *data, size_t len);

/* The devices end-to-end tests run on: VKAGENT_TEST_DEVICES (comma-separated,
 * e.g. "cpu,vulkan"), default "cpu". Returns the count; names in a static table. */
int test_devices(const char *const **names);

#endif
