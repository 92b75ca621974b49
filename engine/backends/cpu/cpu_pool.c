/* cpu_pool.c — a fixed set of worker threads for splitting row ranges. One
 * job runs at a time; sessions on several threads take turns. */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "backends/cpu/cpu_ops.h"
#include "base/status.h"

#define MAX_THREADS 64

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
    pthread_mutex_t lock;
    pthread_cond_t wake, done;
    /* the current job */
    vka_cpu_range_fn fn;
    void *ctx;
    int64_t n;
    unsigned generation;         /* bumped per job; workers run each generation once */
    unsigned pending;            /* workers still running the current job */
    bool quit;
};


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
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->quit && p->generation == seen) pthread_cond_wait(&p->wake, &p->lock);
        if (p->quit) break;
        seen = p->generation;
        pthread_mutex_unlock(&p->lock);
        run_share(p, index);
        pthread_mutex_lock(&p->lock);
        if (--p->pending == 0) pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
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
    pthread_mutex_lock(&p->lock);
    p->quit = true;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
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
    pthread_mutex_lock(&p->lock);
    p->fn = fn;
    p->ctx = ctx;
    p->n = n;
    p->pending = p->n_workers;
    p->generation++;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    run_share(p, 0);
    pthread_mutex_lock(&p->lock);
    while (p->pending) pthread_cond_wait(&p->done, &p->lock);
    pthread_mutex_unlock(&p->lock);
    pthread_mutex_unlock(&p->job_lock);
}
