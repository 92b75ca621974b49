/* common.c — helpers shared by the harnesses (fuzz.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"

#ifndef VKA_FUZZ_DATA_DIR
#define VKA_FUZZ_DATA_DIR "../shared"
#endif

void fuzz_fail(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s:%d: invariant failed: ", file, line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

char *fuzz_data_path(const char *rel) {
    const char *dir = getenv("VKAGENT_TEST_DATA");
    if (!dir || !*dir) dir = VKA_FUZZ_DATA_DIR;
    size_t n = strlen(dir) + strlen(rel) + 2;
    char *path = malloc(n);
    if (!path) abort();
    snprintf(path, n, "%s/%s", dir, rel);
    return path;
}

void fuzz_require_file(const char *path) {
    if (access(path, R_OK) == 0) return;
    fprintf(stderr, "SKIP: fixture missing: %s (set VKAGENT_TEST_DATA)\n", path);
    exit(77);
}

char *fuzz_strndup(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    if (!s) abort();
    if (size) memcpy(s, data, size);
    s[size] = '\0';
    return s;
}
