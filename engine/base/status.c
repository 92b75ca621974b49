/* status.c — per-thread last-error messages and status names. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/status.h"

#define VKA_ERROR_CAP 1024

static _Thread_local char last_error[VKA_ERROR_CAP];

const char *vka_last_error(void) { return last_error; }

vka_status vka_fail(vka_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return status;
}

vka_status vka_fail_context(vka_status status, const char *fmt, ...) {
    char prefix[VKA_ERROR_CAP];
    char previous[VKA_ERROR_CAP];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(previous, last_error, sizeof previous);
    /* Truncation of an over-long message is acceptable; it stays NUL-terminated. */
    size_t n = strnlen(prefix, sizeof prefix - 1);
    memcpy(last_error, prefix, n);
    size_t used = n;
    if (used + 2 < sizeof last_error) {
        memcpy(last_error + used, ": ", 2);
        used += 2;
    }
    size_t rest = strnlen(previous, sizeof previous - 1);
    if (rest > sizeof last_error - 1 - used) rest = sizeof last_error - 1 - used;
    memcpy(last_error + used, previous, rest);
    last_error[used + rest] = '\0';
    return status;
}

const char *vka_status_name(vka_status status) {
    switch (status) {
    case VKA_OK: return "VKA_OK";
    case VKA_ERR_INVALID_ARGUMENT: return "VKA_ERR_INVALID_ARGUMENT";
    case VKA_ERR_IO: return "VKA_ERR_IO";
    case VKA_ERR_FORMAT: return "VKA_ERR_FORMAT";
    case VKA_ERR_UNSUPPORTED: return "VKA_ERR_UNSUPPORTED";
    case VKA_ERR_OUT_OF_MEMORY: return "VKA_ERR_OUT_OF_MEMORY";
    case VKA_ERR_DEVICE: return "VKA_ERR_DEVICE";
    case VKA_ERR_OUT_OF_DEVICE_MEMORY: return "VKA_ERR_OUT_OF_DEVICE_MEMORY";
    case VKA_ERR_CONTEXT_FULL: return "VKA_ERR_CONTEXT_FULL";
    case VKA_ERR_GRAMMAR: return "VKA_ERR_GRAMMAR";
    case VKA_ERR_CANCELLED: return "VKA_ERR_CANCELLED";
    case VKA_ERR_BUFFER_TOO_SMALL: return "VKA_ERR_BUFFER_TOO_SMALL";
    case VKA_ERR_NOT_FOUND: return "VKA_ERR_NOT_FOUND";
    case VKA_ERR_INTERNAL: return "VKA_ERR_INTERNAL";
    case VKA_ERR_BUSY: return "VKA_ERR_BUSY";
    }
    return "VKA_ERR_UNKNOWN";
}

const char *vka_version(void) { return "0.1.0"; }

void vka_free(void *ptr) { free(ptr); }
