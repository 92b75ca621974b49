/* test_util.c — fixture lookup and temporary files for the tests. */
#include <dlfcn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_util.h"

#define MAX_PATHS 256
static char *paths[MAX_PATHS];
static int n_paths;

static void free_paths(void) {
    for (int i = 0; i < n_paths; i++) free(paths[i]);
    n_paths = 0;
}

static char *remember(char *p) {
    if (n_paths == 0) atexit(free_paths);
    if (n_paths < MAX_PATHS) paths[n_paths++] = p;
    return p;
}

const char *test_data_path(const char *rel) {
    const char *root = getenv("VKAGENT_TEST_DATA");
    if (!root || !*root) root = "../shared";
    size_t n = strlen(root) + strlen(rel) + 2;
    char *p = malloc(n);
    if (!p) abort();
    snprintf(p, n, "%s/%s", root, rel);
    return remember(p);
}

int test_file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

char *test_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)size + 1);
    if (!buf || fread(buf, 1, (size_t)size, f) != (size_t)size) {
        free(buf);
        fclose(f);
        return NULL;
    }
    buf[size] = '\0';
    fclose(f);
    if (len) *len = (size_t)size;
    return buf;
}

static char *temp_template(const char *tag) {
    const char *dir = getenv("TMPDIR");
    char *t = NULL;
    if (asprintf(&t, "%s/vkagent-%s-XXXXXX", dir && *dir ? dir : "/tmp", tag) < 0) return NULL;
    return t;
}

char *test_temp_file(const char *tag) {
    char *path = temp_template(tag);
    int fd = path ? mkstemp(path) : -1;
    if (fd < 0) {
        free(path);
        return NULL;
    }
    close(fd);
    return path;
}

char *test_temp_dir(const char *tag) {
    char *path = temp_template(tag);
    if (path && !mkdtemp(path)) {
        free(path);
        return NULL;
    }
    return path;
}

char *test_write_temp(const void *data, size_t len) {
    char *path = test_temp_file("test");
    FILE *f = path ? fopen(path, "wb") : NULL;
    bool written = f && fwrite(data, 1, len, f) == len;
    if (f && fclose(f) != 0) written = false;
    if (!written) {
        free(path);
        return NULL;
    }
    return path;
}

int test_devices(const char *const **names) {
    static char buf[256];
    static const char *list[8];
    static int n = -1;
    if (n < 0) {
        const char *env = getenv("VKAGENT_TEST_DEVICES");
        snprintf(buf, sizeof buf, "%s", env && *env ? env : "cpu");
        n = 0;
        for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok && n < 8; tok = strtok_r(NULL, ",", &save))
            list[n++] = tok;
    }
    *names = list;
    return n;
}

/* With VKAGENT_TEST_KEEP_LIBRARY=lib.so (the Vulkan test entries name Mesa's
 * lavapipe driver), that library stays mapped for the whole process: the
 * Vulkan loader unloads drivers when an instance is destroyed, after which
 * LeakSanitizer no longer sees a global allocation the driver keeps and
 * reports it as a 128-byte leak from an unknown module. */
__attribute__((constructor)) static void keep_library_loaded(void) {
    const char *lib = getenv("VKAGENT_TEST_KEEP_LIBRARY");
    if (lib && *lib) (void)dlopen(lib, RTLD_NOW | RTLD_NODELETE);
}
