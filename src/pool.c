#define _POSIX_C_SOURCE 200809L
#include "pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

/* Polls before a waiting thread sleeps (about 40-60 us of pause instructions on this
 * project's machine): long enough to span a phase's uneven end or the caller's serial work
 * between two jobs on an idle machine, short enough that a thread waiting for one whose core
 * another process holds soon gives its own core away, so that the kernel can move the thread
 * waited for onto it. */
#define SPIN 2000

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

typedef struct worker {
    ae_pool *pool;
    pthread_t thread;
} worker;

/* The job words pack the job's number (high 32 bits) with a task count (low 32 bits), so a
 * thread still working on a finished job cannot take a task of the next one. */
#define WORD(seq, n) (((uint64_t)(seq) << 32) | (uint64_t)(n))
#define SEQ(w) ((uint32_t)((w) >> 32))
#define COUNT(w) ((uint32_t)(w))

struct ae_pool {
    int n; /* threads, the caller included */
    worker w[AE_MAX_THREADS]; /* w[1 ..n) run */
    const ae_job *job; /* read by a worker only once it holds a task of the job */
    _Atomic uint64_t total; /* job, tasks in it */
    _Atomic uint64_t claim; /* job, the next task to hand out */
    _Atomic uint64_t limit; /* job, end of the tasks that may start (the open phase's end) */
    _Atomic uint64_t done; /* job, tasks finished */
    atomic_uint gen; /* the latest job's number (the quit is one too) */
    atomic_int sleepers; /* threads asleep on wake */
    uint32_t seq; /* the caller's job counter */
    atomic_int quit; /* read by a worker that may wake after the caller moved on */
    pthread_mutex_t mu;
    pthread_cond_t wake;
};

static int g_fail_start;
void ae_pool_fail_start(int fail) { g_fail_start = fail; }

static uint32_t g_order_seed;
void ae_pool_test_order(uint32_t seed) { g_order_seed = seed; }

static uint32_t gcd32(uint32_t a, uint32_t b) {
    while (b) {
        uint32_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* The task run for hand-out index i of phase [lo, hi) (identity unless a test asks). */
static uint32_t task_at(uint32_t i, uint32_t lo, uint32_t hi) {
    if (!g_order_seed) return i;
    const uint32_t n = hi - lo;
    uint32_t a = 1 + g_order_seed % n;
    while (gcd32(a, n) != 1) a++;
    return lo + (uint32_t)(((uint64_t)a * (i - lo) + g_order_seed / 7u) % n);
}

/* Wakes every sleeper. The waker's store comes before this (both sequentially consistent):
 * either a sleeper's check sees the new value, or this sees the sleeper counted and
 * broadcasts under the mutex, which the sleeper holds until it waits. */
static void wake_all(ae_pool *p) {
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
    }
}

/* Returns once *w no longer holds old: polls, then sleeps. */
static void wait_change64(ae_pool *p, _Atomic uint64_t *w, uint64_t old) {
    for (int i = 0; i < SPIN; i++) {
        if (atomic_load_explicit(w, memory_order_acquire) != old) return;
        cpu_relax();
    }
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add(&p->sleepers, 1);
    while (atomic_load(w) == old) pthread_cond_wait(&p->wake, &p->mu);
    atomic_fetch_sub(&p->sleepers, 1);
    pthread_mutex_unlock(&p->mu);
}

static unsigned wait_job(ae_pool *p, unsigned seen) {
    for (int i = 0; i < SPIN; i++) {
        unsigned g = atomic_load_explicit(&p->gen, memory_order_acquire);
        if (g != seen) return g;
        cpu_relax();
    }
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add(&p->sleepers, 1);
    unsigned g;
    while ((g = atomic_load(&p->gen)) == seen) pthread_cond_wait(&p->wake, &p->mu);
    atomic_fetch_sub(&p->sleepers, 1);
    pthread_mutex_unlock(&p->mu);
    return g;
}

/* Runs hand-out index i of job seq, which this thread holds: the job stays alive until the
 * task is counted done, so reading p->job is safe up to then. The thread that finishes a
 * phase opens the next (its fetch_add has seen every other finish of the phase, and its
 * store publishes them to whoever takes a task of the next phase). */
static void run_held(ae_pool *p, uint32_t seq, uint32_t i) {
    const ae_job *job = p->job;
    uint32_t k = 0;
    while (job->phase_end[k] <= i) k++;
    const uint32_t lo = k ? job->phase_end[k - 1] : 0, end = job->phase_end[k];
    const uint32_t next = k + 1 < job->phases ? job->phase_end[k + 1] : 0;
    job->fn(job->ctx, task_at(i, lo, end));
    const uint64_t d = atomic_fetch_add(&p->done, 1) + 1; /* past this, the job may be gone */
    if (COUNT(d) != end) return;
    if (next) atomic_store(&p->limit, WORD(seq, next));
    wake_all(p); /* the next phase's takers, or the caller waiting for the job's end */
}

/* Takes and runs tasks of job seq until every one has been handed out (or the job is over). */
static void take_tasks(ae_pool *p, uint32_t seq) {
    for (;;) {
        uint64_t c = atomic_load_explicit(&p->claim, memory_order_acquire);
        const uint64_t tot = atomic_load_explicit(&p->total, memory_order_acquire);
        if (SEQ(c) != seq || SEQ(tot) != seq || COUNT(c) >= COUNT(tot)) return;
        const uint64_t lim = atomic_load_explicit(&p->limit, memory_order_acquire);
        if (SEQ(lim) != seq) return;
        if (COUNT(c) < COUNT(lim)) {
            if (atomic_compare_exchange_weak_explicit(&p->claim, &c, c + 1, memory_order_acq_rel, memory_order_relaxed))
                run_held(p, seq, COUNT(c));
        } else {
            wait_change64(p, &p->limit, lim); /* the phase's last tasks are running elsewhere */
        }
    }
}

static void *worker_main(void *arg) {
    worker *w = arg;
    ae_pool *p = w->pool;
    unsigned seen = 0;
    ae_blas_single_thread(); /* its products run inside the caller's one-thread windows */
    for (;;) {
        seen = wait_job(p, seen);
        if (atomic_load_explicit(&p->quit, memory_order_acquire)) break;
        take_tasks(p, (uint32_t)seen);
    }
    return NULL;
}

static void stop_workers(ae_pool *p, int started) {
    atomic_store(&p->quit, 1);
    atomic_fetch_add(&p->gen, 1);
    wake_all(p);
    for (int i = 1; i < started; i++) pthread_join(p->w[i].thread, NULL);
}

int ae_pool_start(ae_pool **out, int nthreads) {
    *out = NULL;
    if (nthreads < 2 || nthreads > AE_MAX_THREADS) return AE_EINVAL;
    ae_pool *p = ae_calloc(1, sizeof *p);
    if (!p) return AE_ENOMEM;
    p->n = nthreads;
    atomic_init(&p->total, 0);
    atomic_init(&p->claim, 0);
    atomic_init(&p->limit, 0);
    atomic_init(&p->done, 0);
    atomic_init(&p->gen, 0);
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->quit, 0);
    if (pthread_mutex_init(&p->mu, NULL) != 0) {
        ae_dealloc(p);
        return AE_ENOMEM;
    }
    if (pthread_cond_init(&p->wake, NULL) != 0) {
        pthread_mutex_destroy(&p->mu);
        ae_dealloc(p);
        return AE_ENOMEM;
    }
    for (int i = 1; i < nthreads; i++) {
        p->w[i].pool = p;
        if (g_fail_start || pthread_create(&p->w[i].thread, NULL, worker_main, &p->w[i]) != 0) {
            stop_workers(p, i);
            pthread_cond_destroy(&p->wake);
            pthread_mutex_destroy(&p->mu);
            ae_dealloc(p);
            return AE_EIO;
        }
    }
    *out = p;
    return AE_OK;
}

void ae_pool_stop(ae_pool *p) {
    if (!p) return;
    stop_workers(p, p->n);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->mu);
    ae_dealloc(p);
}

int ae_pool_threads(const ae_pool *p) { return p->n; }

/* Every task on the calling thread, phase by phase, in hand-out order. */
static void run_alone(const ae_job *job) {
    uint32_t lo = 0;
    for (uint32_t k = 0; k < job->phases; k++) {
        const uint32_t hi = job->phase_end[k];
        for (uint32_t i = lo; i < hi; i++) job->fn(job->ctx, task_at(i, lo, hi));
        lo = hi;
    }
}

void ae_pool_run(ae_pool *p, const ae_job *job, int team) {
    const uint32_t n = job->phases ? job->phase_end[job->phases - 1] : 0;
    if (!n) return;
    if (!p || !team) {
        run_alone(job);
        return;
    }
    const uint32_t seq = ++p->seq;
    p->job = job;
    atomic_store_explicit(&p->total, WORD(seq, n), memory_order_relaxed);
    atomic_store_explicit(&p->done, WORD(seq, 0), memory_order_relaxed);
    atomic_store_explicit(&p->limit, WORD(seq, job->phase_end[0]), memory_order_relaxed);
    atomic_store_explicit(&p->claim, WORD(seq, 0), memory_order_release);
    /* gen is the job's number (its low 32 bits): sequentially consistent, after every word */
    atomic_store(&p->gen, (unsigned)seq);
    wake_all(p);
    take_tasks(p, seq);
    for (uint64_t d; (d = atomic_load_explicit(&p->done, memory_order_acquire)) != WORD(seq, n);)
        wait_change64(p, &p->done, d);
}

void ae_split(size_t n, int t, int parts, size_t align, size_t *lo, size_t *hi) {
    const size_t T = (size_t)parts, i = (size_t)t;
    /* n * i / T without overflow for any n below 2^58 and 64 parts */
    *lo = i == 0 ? 0 : n / T * i + n % T * i / T;
    *hi = i + 1 == T ? n : n / T * (i + 1) + n % T * (i + 1) / T;
    if (align > 1) {
        if (i != 0) *lo -= *lo % align;
        if (i + 1 != T) *hi -= *hi % align;
    }
}

double ae_now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
