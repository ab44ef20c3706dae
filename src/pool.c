#define _POSIX_C_SOURCE 200809L
#include "pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

/* How long a worker spins for the next job before it sleeps: long enough to span the serial
 * work between two jobs of a training step (batch gather, loss bookkeeping), short enough
 * not to burn a core through a callback or between ae_train calls. */
#define SPIN_BEFORE_SLEEP 20000

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Spins before a wait inside a job starts giving its core away: with more threads than free
 * cores, the thread waited for may need this core to finish. */
#define SPIN_BEFORE_YIELD 2000

static inline void backoff(unsigned *spins) {
    if (++*spins < SPIN_BEFORE_YIELD) cpu_relax();
    else sched_yield();
}

typedef struct worker {
    ae_pool *pool;
    int id;
    pthread_t thread;
} worker;

struct ae_pool {
    int n;                    /* threads, the caller included */
    worker w[AE_MAX_THREADS]; /* w[1 ..n) run */
    ae_pool_fn fn;
    void *ctx;
    atomic_uint gen;          /* incremented per job (and to quit) */
    atomic_int pending;       /* workers still in the current job */
    atomic_int sleepers;      /* workers waiting on wake */
    int quit;
    pthread_mutex_t mu;
    pthread_cond_t wake;
    /* barrier */
    atomic_int arrived;
    atomic_uint phase;
};

static int g_fail_start;
void ae_pool_fail_start(int fail) { g_fail_start = fail; }

/* Waits until p->gen moves past seen; returns the new value. */
static unsigned wait_for_job(ae_pool *p, unsigned seen) {
    for (int i = 0; i < SPIN_BEFORE_SLEEP; i++) {
        unsigned g = atomic_load_explicit(&p->gen, memory_order_acquire);
        if (g != seen) return g;
        cpu_relax();
    }
    /* The waker stores gen, then reads sleepers (both sequentially consistent): either it
     * sees this thread counted and broadcasts under the mutex, or this thread's check below
     * sees the new gen. */
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add(&p->sleepers, 1);
    unsigned g;
    while ((g = atomic_load(&p->gen)) == seen) pthread_cond_wait(&p->wake, &p->mu);
    atomic_fetch_sub(&p->sleepers, 1);
    pthread_mutex_unlock(&p->mu);
    return g;
}

static void *worker_main(void *arg) {
    worker *w = arg;
    ae_pool *p = w->pool;
    unsigned seen = 0;
    for (;;) {
        seen = wait_for_job(p, seen);
        if (p->quit) break;
        p->fn(p->ctx, w->id, p->n);
        atomic_fetch_sub_explicit(&p->pending, 1, memory_order_release);
    }
    return NULL;
}

/* Starts the next job (or the quit) on every worker. */
static void publish(ae_pool *p) {
    atomic_fetch_add(&p->gen, 1);
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
    }
}

static void stop_workers(ae_pool *p, int started) {
    p->quit = 1;
    publish(p);
    for (int i = 1; i < started; i++) pthread_join(p->w[i].thread, NULL);
}

int ae_pool_start(ae_pool **out, int nthreads) {
    *out = NULL;
    if (nthreads < 2 || nthreads > AE_MAX_THREADS) return AE_EINVAL;
    ae_pool *p = ae_calloc(1, sizeof *p);
    if (!p) return AE_ENOMEM;
    p->n = nthreads;
    atomic_init(&p->gen, 0);
    atomic_init(&p->pending, 0);
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->arrived, 0);
    atomic_init(&p->phase, 0);
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
        p->w[i].id = i;
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

void ae_pool_run(ae_pool *p, ae_pool_fn fn, void *ctx) {
    p->fn = fn;
    p->ctx = ctx;
    atomic_store_explicit(&p->pending, p->n - 1, memory_order_relaxed);
    publish(p); /* sequentially consistent: fn, ctx and pending are visible to the workers */
    fn(ctx, 0, p->n);
    unsigned spins = 0;
    while (atomic_load_explicit(&p->pending, memory_order_acquire) > 0) backoff(&spins);
}

void ae_pool_barrier(ae_pool *p) {
    unsigned phase = atomic_load_explicit(&p->phase, memory_order_acquire);
    if (atomic_fetch_add_explicit(&p->arrived, 1, memory_order_acq_rel) == p->n - 1) {
        atomic_store_explicit(&p->arrived, 0, memory_order_relaxed);
        atomic_fetch_add_explicit(&p->phase, 1, memory_order_release);
    } else {
        unsigned spins = 0;
        while (atomic_load_explicit(&p->phase, memory_order_acquire) == phase) backoff(&spins);
    }
}

void ae_split(size_t n, int t, int nthreads, size_t align, size_t *lo, size_t *hi) {
    const size_t T = (size_t)nthreads, i = (size_t)t;
    /* n * i / T without overflow for any n below 2^58 and 64 threads */
    *lo = i == 0 ? 0 : n / T * i + n % T * i / T;
    *hi = i + 1 == T ? n : n / T * (i + 1) + n % T * (i + 1) / T;
    if (align > 1) {
        if (i != 0) *lo -= *lo % align;
        if (i + 1 != T) *hi -= *hi % align;
    }
}
