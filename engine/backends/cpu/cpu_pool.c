/* cpu_pool.c — a fixed set of worker threads for splitting row ranges. One
 * job runs at a time; sessions on several threads take turns (job_lock).
 *
 * Generating a token runs a hundred or more small jobs back to back, and a
 * wake through a condition variable costs tens of microseconds, so both
 * sides spin first: a worker polls the job counter for up to SPIN_NS after
 * its last job before it sleeps on `wake`, and the caller polls the count of
 * workers still busy for up to SPIN_NS before it sleeps on `done` (pausing
 * between polls at first, then yielding the core: see keep_spinning). An
 * idle pool therefore sleeps after a fraction of a millisecond. Measured on
 * 2 shared cores, an empty job on 2 threads: ~1.5 us, against ~12 us when
 * both sides waited on condition variables.
 *
 * Memory ordering (C11 atomics; the job's fn/ctx/n are plain fields):
 * - the caller writes fn/ctx/n and `pending`, then bumps `generation`
 *   (release); a worker reads the job only after loading the new generation
 *   (acquire), so it sees them;
 * - a worker reads the job before decrementing `pending` (seq_cst, so
 *   release); the caller writes the next job only after loading pending == 0
 *   (acquire); the decrements are read-modify-writes, so that load
 *   synchronizes with all of them;
 * - sleeping without a lost wake-up: a sleeper announces itself (`sleepers`,
 *   `caller_sleeps`) before it checks the condition under the mutex, and the
 *   waker changes the condition before it checks for sleepers; both are
 *   sequentially consistent, so at least one of the two sees the other (a
 *   sleeper that checked before the change is waiting on the condvar by the
 *   time the waker can take the mutex to signal). */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "backends/cpu/cpu_ops.h"
#include "base/status.h"

#define MAX_THREADS 64
/* How long either side polls before sleeping: longer than the gap between
 * two jobs of one token (a few microseconds of single-threaded ops), short
 * enough that an idle pool costs nothing noticeable. */
#define SPIN_NS 80000
#define PAUSE_NS 5000 /* of pure polling, then polls with sched_yield between */

#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ __volatile__("yield")
#else
#define cpu_relax() ((void)0)
#endif

typedef struct worker_arg {
    struct vka_cpu_pool *pool;
    unsigned index;              /* 1..n_threads-1; the caller is 0 */
} worker_arg;

struct vka_cpu_pool {
    unsigned n_threads;
    worker_arg args[MAX_THREADS];
    pthread_t workers[MAX_THREADS];
    unsigned n_workers;
    pthread_mutex_t job_lock;    /* one parallel_for at a time */
    /* the current job: written by the caller before it bumps generation */
    vka_cpu_range_fn fn;
    void *ctx;
    int64_t n;
    _Atomic unsigned generation; /* bumped per job; workers run each generation once */
    _Atomic unsigned pending;    /* workers still running the current job */
    _Atomic bool quit;
    /* sleeping: workers on `wake`, the caller on `done`, both under `lock` */
    pthread_mutex_t lock;
    pthread_cond_t wake, done;
    _Atomic unsigned sleepers;   /* workers that may be waiting on `wake` */
    _Atomic bool caller_sleeps;  /* the caller may be waiting on `done` */
};

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* One wait's polling budget: pause between polls for the first few
 * microseconds, then give the core away between polls (on a machine shared
 * with other work the thread being waited for may need it), and stop after
 * SPIN_NS. The clock is read every 16 polls (a read costs ~20 ns). */
typedef struct spinner {
    int64_t start;
    unsigned polls;
    bool yielding;
} spinner;

static bool keep_spinning(spinner *s) {
    if ((++s->polls & 15) == 0) {
        int64_t t = now_ns();
        if (!s->start) s->start = t;
        else if (t - s->start > SPIN_NS) return false;
        else s->yielding = t - s->start > PAUSE_NS;
    }
    if (s->yielding) sched_yield();
    else cpu_relax();
    return true;
}

static unsigned wait_for_job(vka_cpu_pool *p, unsigned seen) {
    spinner spin = {0, 0, false};
    unsigned g;
    while ((g = atomic_load_explicit(&p->generation, memory_order_acquire)) == seen && keep_spinning(&spin)) {}
    if (g != seen) return g;
    atomic_fetch_add(&p->sleepers, 1);
    pthread_mutex_lock(&p->lock);
    while ((g = atomic_load(&p->generation)) == seen) pthread_cond_wait(&p->wake, &p->lock);
    pthread_mutex_unlock(&p->lock);
    atomic_fetch_sub(&p->sleepers, 1);
    return g;
}

static void run_share(vka_cpu_pool *p, unsigned index) {
    int64_t per = (p->n + p->n_threads - 1) / p->n_threads;
    int64_t begin = per * index;
    int64_t end = begin + per < p->n ? begin + per : p->n;
    if (begin < end) p->fn(p->ctx, begin, end);
}

static void *worker_main(void *arg) {
    vka_cpu_pool *p = ((worker_arg *)arg)->pool;
    unsigned index = ((worker_arg *)arg)->index;
    unsigned seen = 0;
    for (;;) {
        seen = wait_for_job(p, seen);
        if (atomic_load_explicit(&p->quit, memory_order_acquire)) break;
        run_share(p, index);
        /* the last one out wakes a caller that went to sleep */
        if (atomic_fetch_sub(&p->pending, 1) == 1 && atomic_load(&p->caller_sleeps)) {
            pthread_mutex_lock(&p->lock);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->lock);
        }
    }
    return NULL;
}

/* Publishes the next generation (the job or quit) and wakes sleeping workers. */
static void publish(vka_cpu_pool *p) {
    atomic_fetch_add(&p->generation, 1);
    if (atomic_load(&p->sleepers)) {
        pthread_mutex_lock(&p->lock);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->lock);
    }
}

static bool all_done(vka_cpu_pool *p) { return atomic_load_explicit(&p->pending, memory_order_acquire) == 0; }

static void wait_for_workers(vka_cpu_pool *p) {
    spinner spin = {0, 0, false};
    while (!all_done(p) && keep_spinning(&spin)) {}
    if (all_done(p)) return;
    atomic_store(&p->caller_sleeps, true);
    pthread_mutex_lock(&p->lock);
    while (atomic_load(&p->pending)) pthread_cond_wait(&p->done, &p->lock);
    pthread_mutex_unlock(&p->lock);
    atomic_store(&p->caller_sleeps, false);
}

/* n_threads asked for, else VKAGENT_THREADS, else one per online core. */
static unsigned wanted_threads(unsigned asked) {
    const char *env = getenv("VKAGENT_THREADS");
    long n = asked ? (long)asked : env && *env ? strtol(env, NULL, 10) : sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1) n = 1;
    if (n > MAX_THREADS) n = MAX_THREADS;
    return (unsigned)n;
}

vka_status vka_cpu_pool_create(vka_cpu_pool **out) { return vka_cpu_pool_create_threads(0, out); }

vka_status vka_cpu_pool_create_threads(unsigned n_threads, vka_cpu_pool **out) {
    vka_cpu_pool *p = calloc(1, sizeof *p);
    if (!p) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
    p->n_threads = wanted_threads(n_threads);
    pthread_mutex_init(&p->job_lock, NULL);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    atomic_init(&p->generation, 0);
    atomic_init(&p->pending, 0);
    atomic_init(&p->quit, false);
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->caller_sleeps, false);
    for (unsigned i = 1; i < p->n_threads; i++) {
        worker_arg *a = &p->args[i];
        a->pool = p;
        a->index = p->n_workers + 1;
        if (pthread_create(&p->workers[p->n_workers], NULL, worker_main, a) != 0) break;
        p->n_workers++;
    }
    p->n_threads = p->n_workers + 1; /* whatever could be started */
    *out = p;
    return VKA_OK;
}

void vka_cpu_pool_free(vka_cpu_pool *p) {
    if (!p) return;
    atomic_store_explicit(&p->quit, true, memory_order_release);
    publish(p);
    for (unsigned i = 0; i < p->n_workers; i++) pthread_join(p->workers[i], NULL);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->lock);
    pthread_mutex_destroy(&p->job_lock);
    free(p);
}

unsigned vka_cpu_pool_threads(const vka_cpu_pool *p) { return p->n_threads; }

#define MIN_PARALLEL_WORK (1 << 19)

void vka_cpu_parallel_for(vka_cpu_pool *p, int64_t n, int64_t cost_per_item, vka_cpu_range_fn fn, void *ctx) {
    if (p->n_threads == 1 || n < 2 || n * cost_per_item < MIN_PARALLEL_WORK) {
        fn(ctx, 0, n);
        return;
    }
    pthread_mutex_lock(&p->job_lock);
    p->fn = fn;
    p->ctx = ctx;
    p->n = n;
    atomic_store_explicit(&p->pending, p->n_workers, memory_order_relaxed); /* ordered by publish's release */
    publish(p);
    run_share(p, 0);
    wait_for_workers(p);
    pthread_mutex_unlock(&p->job_lock);
}
