/* status.h — setting the calling thread's last-error message. */
#ifndef VKA_STATUS_H
#define VKA_STATUS_H

#include "vkagent.h"

/* Records a printf-style message as the thread's last error and returns
 * `status`, so that failures read `return vka_fail(VKA_ERR_IO, "...", ...)`. */
vka_status vka_fail(vka_status status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prefixes the current last-error message with context ("loading X: ..."). */
vka_status vka_fail_context(vka_status status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define VKA_TRY(expr)                         \
    do {                                      \
        vka_status vka_try_s_ = (expr);       \
        if (vka_try_s_ != VKA_OK) return vka_try_s_; \
    } while (0)

#endif
