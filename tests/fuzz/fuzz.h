/* fuzz.h — what every libFuzzer harness in tests/fuzz defines, and helpers
 * they share (fixtures, invariant checks). The same harness sources build
 * against libFuzzer (-Dfuzz=true, scripts/fuzz) and against replay_main.c, a
 * plain main that runs committed inputs as ordinary tests. */
#ifndef VKA_FUZZ_H
#define VKA_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* Optional (weak): one-time set-up, for harnesses that load fixtures. */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Fails the run (abort, which libFuzzer and the sanitizers report with the
 * input) when an invariant does not hold. */
#define FUZZ_CHECK(cond, ...)                                   \
    do {                                                        \
        if (!(cond)) fuzz_fail(__FILE__, __LINE__, __VA_ARGS__); \
    } while (0)

_Noreturn void fuzz_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* VKAGENT_TEST_DATA (default: the build's ../shared) joined with `rel`;
 * malloc'ed. */
char *fuzz_data_path(const char *rel);

/* Exits with status 77 (a skip for meson; scripts/fuzz checks first) when a
 * fixture the harness needs is missing. */
void fuzz_require_file(const char *path);

/* A NUL-terminated copy of the bytes (the input of text parsers). */
char *fuzz_strndup(const uint8_t *data, size_t size);

#endif
