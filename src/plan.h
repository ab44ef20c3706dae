/* plan: how a training run spreads its steps over threads. The cost model (this file), the
 * candidates' timings and plan files (plan.c) choose one of ae_plan_kind per model and batch.
 * Above pool and tensor, below train. */
#ifndef AE_PLAN_H
#define AE_PLAN_H

#include "model.h"

/* GEMM flops of one training step on `rows` rows (2 M N K per product: forward and dW for
 * every layer, dX for every layer but the first). */
AE_HIDDEN double ae_plan_step_flops(const ae_model *m, size_t rows);

/* Below this many GEMM flops a step, a step is too short for threads to pay: waking a worker
 * and meeting it at the backward pass's phase ends cost more than half the step saves. */
#define AE_PLAN_MIN_FLOPS 4e6
/* Fewest batch rows a thread is given: W at batch 8 (4 rows a thread) trains 1.4x faster
 * split than not; at batch 4 (2 rows a thread) 1.7x slower. */
#define AE_PLAN_MIN_ROWS 4

/* Test hook: the flops bar of the cost model (< 0: AE_PLAN_MIN_FLOPS), so that tests can
 * thread small models. */
AE_HIDDEN void ae_plan_test_min_flops(double flops);

/* The cost model: the threads (1 ..= threads) a step of `rows` rows should use. */
AE_HIDDEN int ae_plan_threads_by_cost(const ae_model *m, size_t rows, int threads);

#endif
