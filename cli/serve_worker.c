/* serve_worker.c — the thread of `vkagent serve` that owns the scheduler:
 * it admits queued jobs up to --parallel, steps all of them together while
 * any is active, and hands the text back to the HTTP threads. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"
#include "serve.h"

void serve_job_free(serve_job *job) {
    if (!job) return;
    free(job->text);
    if (job->leader) { /* the inputs are the leader's */
        free(job);
        return;
    }
    free(job->ids);
    for (size_t i = 0; i < job->n_stop; i++) free(job->stop[i]);
    free(job->stop);
    free(job->json_schema);
    free(job->tools_json);
    free(job->grammar);
    free(job->bias);
    free(job);
}

void serve_request_free(serve_request *r) {
    /* Before the choices are made, only the first job exists. */
    if (!r->choice[0]) serve_job_free(r->job);
    for (uint32_t i = r->n; i-- > 0;) serve_job_free(r->choice[i]);
    memset(r->choice, 0, sizeof r->choice);
    r->n = 0;
    r->job = NULL;
}

bool serve_request_done(const serve_request *r) {
    for (uint32_t i = 0; i < r->n; i++)
        if (!r->choice[i]->done) return false;
    return true;
}

uint32_t serve_jobs_in_flight(serve_state *s) { return s->n_queued + s->n_active; }

void serve_wait_progress(serve_state *s, double seconds) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long ns = ts.tv_nsec + (long)(seconds * 1e9);
    ts.tv_sec += ns / 1000000000L;
    ts.tv_nsec = ns % 1000000000L;
    pthread_cond_timedwait(&s->progress, &s->lock, &ts);
}

bool serve_submit(serve_state *s, serve_request *r) {
    pthread_mutex_lock(&s->lock);
    bool ok = !s->stopping && s->n_queued + s->n_active + r->n <= s->parallel + s->queue_max;
    for (uint32_t i = 0; ok && i < r->n; i++) {
        serve_job *job = r->choice[i];
        job->next = NULL;
        job->t_submit = cli_now();
        if (s->queue_tail) s->queue_tail->next = job;
        else s->queue_head = job;
        s->queue_tail = job;
        s->n_queued++;
    }
    if (ok) pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&s->lock);
    return ok;
}

void serve_cancel(serve_state *s, serve_request *r) {
    pthread_mutex_lock(&s->lock);
    for (uint32_t i = 0; i < r->n; i++) r->choice[i]->cancel = true;
    pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&s->lock);
}

/* Ends a job (under the lock): frees its generator and session, so its KV
 * blocks go back to the pool at once, and wakes its HTTP thread. */
static void finish(serve_state *s, serve_job *job, vka_status st, const char *error) {
    if (job->gen) {
        const vka_generate_result *r = vka_generator_result(job->gen);
        job->stop_reason = r->stop_reason;
        job->n_prompt = r->n_prompt_tokens;
        job->n_generated = r->n_generated;
        vka_generator_free(job->gen);
        job->gen = NULL;
    }
    vka_session_free(job->session);
    job->session = NULL;
    job->status = st;
    s->metrics.prompt_tokens += job->n_prompt;
    s->metrics.generated_tokens += job->n_generated;
    if (error) snprintf(job->error, sizeof job->error, "%s", error);
    job->done = true;
    /* One line per request: what ended it tells an operator (and the tests)
     * whether a client that left was really cancelled. */
    char who[64];
    if (job->leader) snprintf(who, sizeof who, "request %llu choice %u", (unsigned long long)job->id, job->index);
    else snprintf(who, sizeof who, "request %llu", (unsigned long long)job->id);
    if (st == VKA_OK)
        fprintf(stderr, "vkagent serve: %s: %s, %u prompt + %u generated tokens\n", who,
                vka_stop_reason_name(job->stop_reason), job->n_prompt, job->n_generated);
    else
        fprintf(stderr, "vkagent serve: %s failed: %s\n", who, job->error);
    pthread_cond_broadcast(&s->progress);
}

bool serve_append(char **buf, size_t *len, size_t *cap, const char *data, size_t n) {
    if (*len + n + 1 > *cap) {
        size_t c = *cap ? *cap : 256;
        while (c < *len + n + 1) c *= 2;
        char *b = realloc(*buf, c);
        if (!b) return false;
        *buf = b;
        *cap = c;
    }
    memcpy(*buf + *len, data, n);
    *len += n;
    (*buf)[*len] = '\0';
    return true;
}

/* Appends what the generator emitted since the last look (under the lock);
 * without memory it is tried again after the next step. */
static void collect_text(serve_job *job) {
    const vka_generate_result *r = vka_generator_result(job->gen);
    if (r->text_len > job->len)
        serve_append(&job->text, &job->len, &job->cap, r->text + job->len, r->text_len - job->len);
}

/* The latencies of the tokens a step produced (under the lock). */
static void time_tokens(serve_state *s, serve_job *job, double now) {
    uint32_t n = vka_generator_result(job->gen)->n_generated;
    if (n <= job->n_seen) return;
    if (job->n_seen == 0) serve_observe_ttft(s, now - job->t_submit);
    else serve_observe_itl(s, (now - job->t_last) / (double)(n - job->n_seen), n - job->n_seen);
    job->t_last = now;
    job->n_seen = n;
}

/* Whether a choice may start: the first choice of a request at once; the
 * others once the first one's prompt is in the KV pool (it has sampled, or
 * ended), so that they find its blocks in the prefix cache instead of
 * computing the same prompt again in the same step. */
static bool may_start(const serve_job *job) {
    return !job->leader || job->leader->done || job->leader->n_seen > 0 || job->cancel;
}

/* Moves queued jobs to the active list while there is room (under the lock),
 * in order: a choice that waits for its first one's prompt holds the queue
 * behind it for those few steps. Creating a session and a generator is
 * quick: nothing is evaluated yet. */
static void admit(serve_state *s) {
    while (s->queue_head && s->n_active < s->parallel && may_start(s->queue_head)) {
        serve_job *job = s->queue_head;
        s->queue_head = job->next;
        if (!s->queue_head) s->queue_tail = NULL;
        s->n_queued--;
        if (job->cancel) {
            job->stop_reason = VKA_STOP_CANCELLED;
            finish(s, job, VKA_OK, NULL);
            continue;
        }
        vka_status st = vka_scheduler_session_create(s->sched, NULL, &job->session);
        if (st == VKA_OK) st = vka_generator_create_tokens(job->session, job->ids, job->n_ids, &job->gp, &job->gen);
        if (st != VKA_OK) {
            finish(s, job, st, vka_last_error());
            continue;
        }
        job->next = s->active;
        s->active = job;
        s->n_active++;
    }
}

/* After a step (under the lock): passes on the new text, cancels the jobs
 * whose client left or whose time is up, and retires the finished ones. */
static void harvest(serve_state *s, vka_status step_status, const char *step_error) {
    double now = cli_now();
    serve_job **link = &s->active;
    while (*link) {
        serve_job *job = *link;
        collect_text(job);
        time_tokens(s, job, now);
        if (job->cancel || now > job->deadline || s->worker_quit) vka_generator_cancel(job->gen);
        if (step_status != VKA_OK || vka_generator_done(job->gen)) {
            vka_status st = step_status != VKA_OK ? step_status : vka_generator_status(job->gen);
            *link = job->next;
            s->n_active--;
            finish(s, job, st, step_status != VKA_OK ? step_error : st != VKA_OK ? vka_last_error() : NULL);
            continue;
        }
        link = &job->next;
    }
    vka_scheduler_stats stats;
    if (vka_scheduler_get_stats(s->sched, &stats) == VKA_OK) {
        s->metrics.kv_blocks = stats.n_blocks;
        s->metrics.kv_blocks_used = stats.blocks_used;
        s->metrics.prefix_tokens = stats.prefix_tokens;
    }
    pthread_cond_broadcast(&s->progress);
}

static void *worker_main(void *arg) {
    serve_state *s = arg;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        admit(s);
        if (s->n_active == 0) {
            if (s->worker_quit && !s->queue_head) break;
            pthread_cond_wait(&s->work, &s->lock);
            continue;
        }
        /* Cancels asked for while waiting take effect in this step. */
        for (serve_job *j = s->active; j; j = j->next)
            if (j->cancel) vka_generator_cancel(j->gen);
        pthread_mutex_unlock(&s->lock);
        vka_status st = vka_scheduler_step(s->sched, NULL);
        char msg[256] = "";
        if (st != VKA_OK) snprintf(msg, sizeof msg, "%s", vka_last_error());
        pthread_mutex_lock(&s->lock);
        /* A failed forward pass fails every active job rather than retrying forever. */
        harvest(s, st, msg);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

int serve_worker_start(serve_state *s) {
    int rc = pthread_create(&s->worker, NULL, worker_main, s);
    if (rc != 0) fprintf(stderr, "vkagent serve: cannot start the worker thread: %s\n", strerror(rc));
    return rc;
}

void serve_worker_stop(serve_state *s) {
    pthread_mutex_lock(&s->lock);
    s->worker_quit = true;
    pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->worker, NULL);
}
