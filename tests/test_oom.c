/* test_oom.c — allocation failures injected into model loading, session
 * creation, tokenization and generation: every one must give a clean error
 * (no crash, no leak of the objects returned), and the process carries on.
 * malloc/calloc/realloc/aligned_alloc are interposed here and fail on the
 * N-th call after arming, for every N until the operation succeeds. */
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "structured/regex.h"
#include "test_util.h"
#include "vkagent.h"

static atomic_long countdown = -1; /* < 0: disarmed; 0: fail this call */
static atomic_long failures;

static bool should_fail(void) {
    long left = atomic_load(&countdown);
    if (left < 0) return false;
    if (atomic_fetch_sub(&countdown, 1) == 0) {
        atomic_fetch_add(&failures, 1);
        return true;
    }
    return false;
}

void *malloc(size_t n) {
    static void *(*real)(size_t);
    if (!real) real = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
    return should_fail() ? NULL : real(n);
}

void *calloc(size_t a, size_t b) {
    static void *(*real)(size_t, size_t);
    if (!real) {
        /* dlsym itself may calloc: serve that from a small static pool */
        static char pool[4096];
        static size_t used;
        static int resolving;
        if (resolving) {
            void *p = pool + used;
            used += (a * b + 15) & ~(size_t)15;
            return used <= sizeof pool ? memset(p, 0, a * b) : NULL;
        }
        resolving = 1;
        real = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
        resolving = 0;
    }
    return should_fail() ? NULL : real(a, b);
}

void *realloc(void *p, size_t n) {
    static void *(*real)(void *, size_t);
    if (!real) real = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
    return should_fail() ? NULL : real(p, n);
}

void *aligned_alloc(size_t align, size_t n) {
    static void *(*real)(size_t, size_t);
    if (!real) real = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "aligned_alloc");
    return should_fail() ? NULL : real(align, n);
}

static void arm(long n) {
    atomic_store(&failures, 0);
    atomic_store(&countdown, n);
}

static void disarm(void) { atomic_store(&countdown, -1); }

static bool sanitized(void) {
#if defined(__SANITIZE_ADDRESS__)
    return true;
#else
    return getenv("ASAN_OPTIONS") && dlsym(RTLD_DEFAULT, "__asan_init");
#endif
}

static vka_model_params cpu_params(void) {
    vka_model_params mp;
    vka_model_params_default(&mp);
    mp.device = "cpu";
    return mp;
}

/* Fails allocation n = 0, 1, 2, ... of `op` until it succeeds; each failure
 * must be a clean error. Returns how many failure points were tried. */
#define EXHAUST(op_ok, cleanup)                                                         \
    long tried = 0;                                                                     \
    for (long n = 0;; n++, tried++) {                                                   \
        arm(n);                                                                         \
        bool ok_ = (op_ok);                                                             \
        long hit_ = atomic_load(&failures);                                             \
        disarm();                                                                       \
        if (ok_) {                                                                      \
            cleanup;                                                                    \
            if (!hit_) break; /* the injected failure was absorbed; no more to try */  \
            continue;                                                                   \
        }                                                                               \
        cr_assert_gt(hit_, 0, "failed without an injected failure: %s", vka_last_error()); \
        cr_assert_neq(vka_last_error()[0], '\0', "a failure without a message at n=%ld", n); \
    }

Test(oom, model_load) {
    if (sanitized()) cr_skip_test("allocation interposition does not mix with the sanitizer runtime (runs in the plain build)");
    const char *path = test_data_path("models/stories260K.gguf");
    REQUIRE_FIXTURE(path);
    vka_model_params mp = cpu_params();
    vka_model *m = NULL;
    EXHAUST(vka_model_load(path, &mp, &m) == VKA_OK, (vka_model_free(m), m = NULL));
    cr_log_info("model load: %ld allocation failures injected", tried);
    cr_expect_gt(tried, 20, "model loading should allocate in many places (%ld tried)", tried);
}

Test(oom, session_create_and_generate) {
    if (sanitized()) cr_skip_test("allocation interposition does not mix with the sanitizer runtime (runs in the plain build)");
    const char *path = test_data_path("models/stories260K.gguf");
    REQUIRE_FIXTURE(path);
    vka_model_params mp = cpu_params();
    vka_model *m = NULL;
    cr_assert_eq(vka_model_load(path, &mp, &m), VKA_OK);
    vka_session *s = NULL;
    {
        EXHAUST(vka_session_create(m, NULL, &s) == VKA_OK, (vka_session_free(s), s = NULL));
        cr_expect_gt(tried, 5);
    }
    cr_assert_eq(vka_session_create(m, NULL, &s), VKA_OK);
    vka_generate_params gp;
    vka_generate_params_default(&gp);
    gp.max_tokens = 8;
    gp.sampling.json = true;
    vka_generate_result r;
    {
        EXHAUST((vka_session_reset(s), vka_generate(s, "Once upon", &gp, &r) == VKA_OK), vka_generate_result_clear(&r));
        cr_expect_gt(tried, 5);
    }
    /* after all that, the session still works */
    vka_session_reset(s);
    cr_expect_eq(vka_generate(s, "Once upon", &gp, &r), VKA_OK, "%s", vka_last_error());
    vka_generate_result_clear(&r);
    vka_session_free(s);
    vka_model_free(m);
}

Test(oom, regex) {
    if (sanitized()) cr_skip_test("allocation interposition does not mix with the sanitizer runtime (runs in the plain build)");
    re_lang *l = NULL, *m = NULL;
    {
        EXHAUST(re_from_pattern("^(?=.*\\d)(?:[a-z]+|x{2,5}|\\u{1F600})*(?!q)$", &l) == VKA_OK, (re_free(l), l = NULL));
        cr_expect_gt(tried, 20);
    }
    {
        EXHAUST(re_from_pattern("^ab.{0,100000}\\.txt$", &l) == VKA_OK, (re_free(l), l = NULL));
        cr_expect_gt(tried, 10);
    }
    cr_assert_eq(re_from_pattern("^[a-z]+$", &l), VKA_OK);
    {
        EXHAUST(re_limit_length(l, 1, 10000000, &m) == VKA_OK, (re_free(m), m = NULL));
        cr_expect_gt(tried, 5);
    }
    cr_assert_eq(re_limit_length(l, 1, 10000000, &m), VKA_OK);
    re_lang *c = NULL;
    {
        EXHAUST(re_complement(m, &c) == VKA_OK, (re_free(c), c = NULL));
        cr_expect_gt(tried, 5);
    }
    js_rules rules = {0};
    js_buf expr = {0};
    {
        /* buffers start afresh each time: a failed append sticks in them */
        EXHAUST((js_rules_free(&rules), js_buf_free(&expr), re_to_gbnf(m, RE_JSON_STRING, &rules, &expr) == VKA_OK),
                (void)0);
        js_rules_free(&rules), js_buf_free(&expr);
        cr_expect_gt(tried, 5);
    }
    bool known = false;
    {
        EXHAUST(re_from_format("date-time", &known, &c) == VKA_OK, (re_free(c), c = NULL));
        cr_expect_gt(tried, 10);
    }
    re_free(c), re_free(l), re_free(m);
}
