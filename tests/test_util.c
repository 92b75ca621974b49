/* test_util.c — fixture lookup and temporary files for the tests. */
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

char *test_write_temp(const void *data, size_t len) {
    char tmpl[] = "/tmp/vkagent-test-XXXXXX";
    int fd = mkstemp(tmpl);
    if (fd < 0) return NULL;
    if (write(fd, data, len) != (ssize_t)len) {
        close(fd);
        return NULL;
    }
    close(fd);
    return strdup(tmpl);
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
