/* pool: libae's own worker threads, for the training step's chunked passes and the
 * optimizer's split update. Beside tensor at the bottom of the module stack: it calls only
 * libc and POSIX threads.
 *
 * Work is handed out as tasks, not as a fixed share per thread: a job is a list of tasks in
 * phases, and whichever thread is free takes the next task of the current phase (the calling
 * thread among them). A phase starts when every task of the one before has finished. So a
 * thread that is slow, or not running at all because another process holds its core, delays
 * only the task it has taken, never the others: the calling thread takes what is left. What a
 * task computes must depend on its index alone, never on the thread that runs it: then a job
 * gives the same bits whichever thread ran which task, and however many threads there are.
 *
 * Waiting (for a job, for a phase to open, for the job's last task) spins for a few tens of
 * microseconds, then sleeps on a condition variable: a waiting thread gives its core back to
 * the thread it waits for, or to another process. */
#ifndef AE_POOL_H
#define AE_POOL_H

#include "blas.h"

/* Most chunks (or slices) a job cuts a batch (or a block) into. */
#define AE_MAX_CHUNKS 64

typedef struct ae_pool ae_pool;

/* One task of a job: task is its index, 0 .. total - 1. */
typedef void (*ae_task_fn)(void *ctx, uint32_t task);

/* A job: phase k holds tasks [phase_end[k - 1], phase_end[k]) (phase 0 from task 0); every
 * phase holds at least one task; the last phase_end is the job's total. */
typedef struct ae_job {
    ae_task_fn fn;
    void *ctx;
    const uint32_t *phase_end;
    uint32_t phases;
} ae_job;

/* Starts nthreads - 1 workers (2 <= nthreads <= AE_MAX_THREADS). AE_ENOMEM when the pool's
 * memory cannot be had, AE_EIO when a thread cannot be started (nothing is left running
 * then), AE_EINVAL for a bad count. */
AE_HIDDEN int ae_pool_start(ae_pool **out, int nthreads);
/* Stops and joins the workers, frees the pool; NULL is fine. */
AE_HIDDEN void ae_pool_stop(ae_pool *p);
AE_HIDDEN int ae_pool_threads(const ae_pool *p);

/* Runs every task of job and returns when all have finished (their writes visible to the
 * caller). With team and a pool, the workers are woken and take tasks beside the caller;
 * otherwise (p NULL, or team 0) the caller runs them all, in index order. */
AE_HIDDEN void ae_pool_run(ae_pool *p, const ae_job *job, int team);

/* [lo, hi) of part t of n items split into parts nearly equal parts, the inner boundaries
 * rounded down to multiples of align (>= 1; 16 floats keep parts off each other's cache
 * lines). A part may be empty. */
AE_HIDDEN void ae_split(size_t n, int t, int parts, size_t align, size_t *lo, size_t *hi);

/* Test hook: when set, ae_pool_start fails with AE_EIO, as when pthread_create fails. */
AE_HIDDEN void ae_pool_fail_start(int fail);
/* Test hook: seed 0 hands out each phase's tasks in index order; any other seed in another
 * order drawn from it (index j of a phase of n runs task (a j + b) mod n, a prime to n). */
AE_HIDDEN void ae_pool_test_order(uint32_t seed);

/* Monotonic wall-clock seconds (step and epoch timings, planning). */
AE_HIDDEN double ae_now_seconds(void);

#endif
