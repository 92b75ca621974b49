/* test_cpu_pool.c — the CPU thread pool (cpu_pool.c): every item of every
 * job runs exactly once, whether the workers are spinning between
 * back-to-back jobs or asleep after an idle pause, whether the caller spins
 * or sleeps waiting for them, and with two threads sharing one pool. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backends/cpu/cpu_ops.h"

#define COST (1 << 20) /* per item: above the pool's threshold, so every job is split */
#define MAX_ITEMS 257

typedef struct job_ctx {
    int calls[MAX_ITEMS];        /* times each item ran: written by whichever thread runs it */
    _Atomic int ranges;          /* ranges handed out */
    unsigned sleep_us;           /* per range: long enough that the caller sleeps */
} job_ctx;

static void sleep_us(unsigned us) {
    struct timespec t = {0, (long)us * 1000};
    nanosleep(&t, NULL);
}

static void count_items(void *ctx, int64_t begin, int64_t end) {
    job_ctx *job = ctx;
    atomic_fetch_add(&job->ranges, 1);
    for (int64_t i = begin; i < end; i++) job->calls[i]++;
    if (job->sleep_us) sleep_us(job->sleep_us);
}

/* Runs `jobs` jobs of 2..MAX_ITEMS items; after every `pause_every`-th, an idle
 * pause long enough for the workers to go to sleep. Returns the number of jobs
 * where an item did not run exactly once or the ranges outnumbered the threads
 * (counted, not asserted: session threads are not the test's main thread). */
static int run_jobs(vka_cpu_pool *pool, int jobs, int pause_every, unsigned seed) {
    job_ctx *job = calloc(1, sizeof *job);
    unsigned threads = vka_cpu_pool_threads(pool);
    int bad = 0;
    for (int j = 0; j < jobs; j++) {
        seed = seed * 1103515245u + 12345u;
        int64_t n = 2 + (int64_t)((seed >> 8) % (MAX_ITEMS - 1));
        memset(job->calls, 0, sizeof job->calls);
        atomic_store(&job->ranges, 0);
        job->sleep_us = j % 50 == 49 ? 300 : 0;
        vka_cpu_parallel_for(pool, n, COST, count_items, job);
        bool ok = true;
        for (int64_t i = 0; i < MAX_ITEMS; i++) ok = ok && job->calls[i] == (i < n);
        int ranges = atomic_load(&job->ranges);
        if (!ok || ranges < 1 || (unsigned)ranges > threads) bad++;
        if (pause_every && j % pause_every == pause_every - 1) sleep_us(400);
    }
    free(job);
    return bad;
}

typedef struct session_arg {
    vka_cpu_pool *pool;
    unsigned seed;
    int bad;
} session_arg;

static void *session_thread(void *arg) {
    session_arg *s = arg;
    s->bad = run_jobs(s->pool, 20000, 1000, s->seed);
    return NULL;
}

/* Two sessions on their own threads share a pool of three threads: their jobs take turns. */
Test(cpu_pool, two_threads_many_small_jobs) {
    vka_cpu_pool *pool;
    cr_assert_eq(vka_cpu_pool_create_threads(3, &pool), VKA_OK);
    cr_assert_eq(vka_cpu_pool_threads(pool), 3);
    pthread_t t[2];
    session_arg args[2] = {{pool, 1, 0}, {pool, 2, 0}};
    for (int i = 0; i < 2; i++) cr_assert_eq(pthread_create(&t[i], NULL, session_thread, &args[i]), 0);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    cr_expect_eq(args[0].bad, 0, "session 1: %d of 20000 jobs wrong", args[0].bad);
    cr_expect_eq(args[1].bad, 0, "session 2: %d of 20000 jobs wrong", args[1].bad);
    vka_cpu_pool_free(pool);
}

/* Back-to-back jobs on one thread, with idle pauses every 7 jobs (workers asleep and woken). */
Test(cpu_pool, back_to_back_and_after_idle) {
    vka_cpu_pool *pool;
    cr_assert_eq(vka_cpu_pool_create_threads(2, &pool), VKA_OK);
    cr_expect_eq(run_jobs(pool, 5000, 7, 3), 0);
    vka_cpu_pool_free(pool);
}

/* A one-thread pool runs every job on the caller; a pool freed right after
 * its jobs (workers still spinning) or long after (asleep) shuts down. */
Test(cpu_pool, one_thread_and_shutdown) {
    vka_cpu_pool *pool;
    cr_assert_eq(vka_cpu_pool_create_threads(1, &pool), VKA_OK);
    cr_expect_eq(run_jobs(pool, 100, 0, 4), 0);
    vka_cpu_pool_free(pool);
    for (int i = 0; i < 50; i++) {
        cr_assert_eq(vka_cpu_pool_create_threads(4, &pool), VKA_OK);
        cr_expect_eq(run_jobs(pool, i % 5, 0, (unsigned)i), 0);
        if (i % 10 == 0) sleep_us(1000);
        vka_cpu_pool_free(pool);
    }
}

/* Small work runs on the caller alone, as one range. */
Test(cpu_pool, small_work_stays_on_the_caller) {
    vka_cpu_pool *pool;
    cr_assert_eq(vka_cpu_pool_create_threads(2, &pool), VKA_OK);
    job_ctx *job = calloc(1, sizeof *job);
    vka_cpu_parallel_for(pool, 100, 10, count_items, job);
    cr_expect_eq(atomic_load(&job->ranges), 1);
    for (int i = 0; i < 100; i++) cr_expect_eq(job->calls[i], 1);
    free(job);
    vka_cpu_pool_free(pool);
}
