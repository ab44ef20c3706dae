/* plan: how a training run spreads its steps over threads, chosen once per run (model and
 * batch) and fixed for the whole run, so that a run's bits depend on its plan alone:
 *
 *   AE_PLAN_ONE   every product and loop on the calling thread, OpenBLAS on one thread;
 *   AE_PLAN_ROWS  each step's pass cut into fixed row chunks and dW slices (train.c), taken by
 *                 libae's pool's threads as they come free, one-thread OpenBLAS products;
 *   AE_PLAN_COLS  as ROWS, each product cut by its output's columns (large layers);
 *   AE_PLAN_BLAS  the pass on the calling thread, each product on OpenBLAS's own threads.
 *
 * The choice: a cost model first (a step's GEMM flops and rows a thread: small models stay on
 * one thread); for large models the threaded candidates are timed on calibration passes
 * within 2% of an epoch; a saved plan file for the same model, batch and host skips both.
 * Above pool and tensor, below train (which passes in the timing callback). */
#ifndef AE_PLAN_H
#define AE_PLAN_H

#include "model.h"
#include "pool.h"

/* Fewest batch rows in a chunk: W at batch 8 (4 rows a thread) trains 1.4x faster split
 * than not; at batch 4 (2 rows a thread) 1.7x slower. */
#define AE_PLAN_MIN_ROWS 4
/* Below this many GEMM flops a step, threads do not pay: waking a worker and meeting at the
 * backward pass's phase ends cost more than sharing the step saves (bench/README.md). */
#define AE_PLAN_MIN_FLOPS 4e6
/* From this many GEMM flops a step, the threaded candidates are timed (when the budget
 * allows): OpenBLAS's threads or libae's chunks win by host and shape. */
#define AE_PLAN_TIME_FLOPS 50e6
/* Planning's share of an epoch, at most. */
#define AE_PLAN_BUDGET 0.02
/* Row chunks a thread, in the ROWS plan: a free thread can take up the work of a slow one. */
#define AE_PLAN_CHUNKS_PER_THREAD 1

/* GEMM flops of one training step on `rows` rows (2 M N K per product: forward and dW for
 * every layer, dX for every layer but the first). */
AE_HIDDEN double ae_plan_step_flops(const ae_model *m, size_t rows);
/* The cost model: the threads (1 ..= threads) a step of `rows` rows should use. */
AE_HIDDEN int ae_plan_threads_by_cost(const ae_model *m, size_t rows, int threads);
/* Row chunks of the ROWS plan for a batch of rows on threads. */
AE_HIDDEN size_t ae_plan_chunks(size_t rows, int threads);

/* Test hook: the flops bar of the cost model (< 0: AE_PLAN_MIN_FLOPS), so that tests can
 * thread small models. */
AE_HIDDEN void ae_plan_test_min_flops(double flops);

/* Whether a ROWS run's workers help: a ROWS step gives the same bits with or without them, so
 * the run can measure both and keep the faster as the machine's load changes. Most steps run
 * in the mode chosen; every `interval` steps (8, then 32, 128, 256 while the mode holds) a
 * probe of 2 steps runs the other, and the faster per step is kept. */
typedef struct ae_balance {
    int mode; /* 1: the team, 0: the caller alone */
    unsigned left; /* steps before the next probe, or of the probe running */
    int probing;
    unsigned interval;
    double sum[2]; /* the mode's moving mean step seconds; a probe's sum of seconds */
    unsigned n[2]; /* 1 once the moving mean has a value; a probe's counted steps */
} ae_balance;

/* A run's plan, and how the training loop carries it out. */
typedef struct ae_run {
    ae_plan_kind kind;
    int threads; /* 1 for ONE */
    size_t chunks; /* row chunks a pass (1 but for ROWS) */
    ae_pool *pool; /* ROWS: threads - 1 workers */
    int team; /* ROWS: the workers take tasks this step (0: the caller runs them alone) */
    int blas_single; /* passes run in ae_blas_single windows: ONE and ROWS while OpenBLAS has more */
    double step_start; /* the running training step's start (ae_plan_balance) */
    ae_balance bal;
} ae_run;

/* After a training step of a run with a pool: counts its seconds for the mode it ran in and
 * sets run->team for the next step. */
AE_HIDDEN void ae_plan_balance(ae_run *run, double step_seconds);

/* Times one pass (forward and backward) under a candidate run, after a warm-up pass when
 * warm; seconds, or a negative value when it cannot. */
typedef double (*ae_plan_timer)(ae_run *candidate, int warm, void *ctx);

/* What planning needs of a training run. */
typedef struct ae_plan_request {
    const ae_model *m;
    size_t batch; /* rows a step (the workspace's capacity) */
    size_t steps; /* steps an epoch */
    int covers; /* the chunked pass covers the run's configuration */
    int cols_covers; /* ... and its column layout too */
    ae_plan_timer time; /* NULL: no timing */
    void *time_ctx;
    int save; /* write a fresh plan to the plan file (one process of several: no) */
} ae_plan_request;

/* Chooses and starts the run's plan (ae_set_plan's forced kind, a matching plan file, the
 * cost model or timings), fills *info (ae_plan_last) and saves a fresh plan to the plan file
 * when one is named. AE_ENOMEM when memory cannot be had; a pool that cannot be started
 * leaves the run on one thread. */
AE_HIDDEN int ae_plan_start(const ae_plan_request *req, ae_run *run);
/* Stops the run's pool; the run can be stopped twice. */
AE_HIDDEN void ae_plan_stop(ae_run *run);

/* The plan file's text for a plan (buf of n bytes; the length, or 0 when it does not fit),
 * and its reading: AE_OK and *run's kind, threads and chunks when text is a valid plan for
 * this model, batch and host; AE_EFORMAT for a damaged file, AE_EINVAL for another model's,
 * batch's or host's, with an ae_fail detail. For tests and the plan file. */
AE_HIDDEN size_t ae_plan_format(const ae_plan_request *req, const ae_run *run, const ae_plan_info *info, char *buf,
                                size_t n);
AE_HIDDEN int ae_plan_parse(const ae_plan_request *req, const char *text, size_t len, ae_run *run);

#endif
