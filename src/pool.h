/* pool: libae's own worker threads, for the training step's row-split passes and the
 * optimizer's split update. Beside tensor at the bottom of the module stack: it calls only
 * libc and POSIX threads.
 *
 * Why not OpenBLAS's threads: at an autoencoder's shapes (batch 128, widths 64-1024) its
 * 2-thread sgemm is only about 1.27x its 1-thread sgemm here, and every elementwise step
 * between two products runs on one core while its other thread spins. A pass split by batch
 * rows gives each thread whole, independent products (one-thread sgemm) and its own part of
 * the elementwise work, with a few barriers per step instead of a fork/join per product. */
#ifndef AE_POOL_H
#define AE_POOL_H

#include "tensor.h"

#define AE_MAX_THREADS 64

typedef struct ae_pool ae_pool;

/* A job: run once on every thread of the pool, thread = 0 (the caller) .. nthreads - 1. */
typedef void (*ae_pool_fn)(void *ctx, int thread, int nthreads);

/* Starts nthreads - 1 workers (2 <= nthreads <= AE_MAX_THREADS). AE_ENOMEM when the pool's
 * memory cannot be had, AE_EIO when a thread cannot be started (nothing is left running
 * then), AE_EINVAL for a bad count. */
AE_HIDDEN int ae_pool_start(ae_pool **out, int nthreads);
/* Stops and joins the workers, frees the pool; NULL is fine. */
AE_HIDDEN void ae_pool_stop(ae_pool *p);
AE_HIDDEN int ae_pool_threads(const ae_pool *p);
/* Runs fn(ctx, t, n) on every thread and returns when all have returned. Workers wait for
 * the next job spinning for a little while, then asleep. */
AE_HIDDEN void ae_pool_run(ae_pool *p, ae_pool_fn fn, void *ctx);
/* Inside a job: returns when every thread of the pool has reached it (a spinning barrier;
 * writes before it are visible to every thread after it). */
AE_HIDDEN void ae_pool_barrier(ae_pool *p);

/* [lo, hi) of thread t's share of n items split into nthreads nearly equal parts, the inner
 * boundaries rounded down to multiples of align (>= 1; 16 floats keep threads off each
 * other's cache lines). A part may be empty. */
AE_HIDDEN void ae_split(size_t n, int t, int nthreads, size_t align, size_t *lo, size_t *hi);

/* Test hook: when set, ae_pool_start fails with AE_EIO, as when pthread_create fails. */
AE_HIDDEN void ae_pool_fail_start(int fail);

#endif
