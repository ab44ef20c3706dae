/* fit: the one training loop. Autoencoder training (train.c), head training (head.c) and
 * pretraining's stages (through ae_train) each describe their run as an ae_fit_task: the
 * parameter blocks it trains, a step (forward and backward over one batch), optionally a
 * validation loss and a checkpoint. ae_fit runs the epochs: shuffle, steps, gradient sums
 * across processes (MPI), clipping, the optimizer step (threaded by the run's plan),
 * divergence restore, validation, checkpoints, callbacks and early stopping. */
#ifndef AE_FIT_H
#define AE_FIT_H

#include "loss.h"
#include "optim.h"
#include "plan.h"
#include "rng.h"

/* Data-parallel training (ae_mpi.h fills this in; NULL everywhere else means one process).
 * Every process holds the whole model and global rows [first, first + n) of total; each step
 * runs the part of the global batch a process holds, the gradients are summed across
 * processes, and every process applies the same update. */
typedef struct ae_dist {
    int rank, size;
    size_t first, total;
    /* In place: each element becomes its sum over all processes. AE_OK or a status. */
    int (*sum_floats)(float *buf, size_t n, void *ctx);
    int (*sum_doubles)(double *buf, size_t n, void *ctx);
    /* Every process gets the same status: the lowest (an error wins over AE_OK). */
    int (*agree)(int rc, void *ctx);
    void *ctx;
} ae_dist;

/* A block of parameters and its gradients; the optimizer's state follows the blocks in
 * order (block i's moments start after the floats of blocks 0 .. i-1). */
typedef struct ae_span {
    float *p, *g;
    size_t n;
} ae_span;

#define AE_FIT_SPANS 2
#define AE_FIT_NO_BLOCK ((size_t)-1)

typedef struct ae_fit_task {
    ae_span span[AE_FIT_SPANS]; /* the trained blocks */
    size_t n_spans;
    float *state; /* NULL, or floats that training changes beside the weights (a
                                   batch norm's running statistics): kept and restored with them */
    size_t n_state;
    ae_optim *opt; /* configured and sized for the spans by the caller */
    ae_rng *rng; /* the shuffle's, and the steps' draws in one process */
    ae_run *run; /* the plan: the optimizer step runs on its pool; NULL: alone */
    size_t n; /* this process's rows */
    size_t batch; /* rows a global step */
    int shuffle;
    int first_epoch; /* 1, or the epoch after the ones done (resume) */
    /* One step over this process's rows of the batch: idx[0 .. rows) (shuffled), or, with
     * idx NULL, the rows [lo, lo + rows) in order. Fills the spans' gradients (the mean over
     * the rows) and returns the mean loss, its parts in *parts. */
    double (*step)(void *ctx, size_t lo, const uint32_t *idx, size_t rows, ae_pass_parts *parts);
    /* NULL, or the validation loss summed over this process's validation rows (*rows). */
    double (*validate)(void *ctx, size_t *rows);
    /* NULL, or saves the work so far after an epoch: AE_OK or a status (ae_last_error says
     * why). Called on the lead process only. */
    int (*checkpoint)(void *ctx, int epoch);
    /* Streaming (n_blocks > 1): the rows come in blocks of block_rows (the last may be
     * shorter; n is then the rows of every block together). Across processes (dist) each
     * holds its own blocks (the same n_blocks everywhere; a block may have no rows), and block
     * b of the epoch is every process's block b together, in process order: its global batches
     * are drawn from one permutation of those rows, as ae_train_mpi draws from all rows. load makes block `block` the
     * current one (its rows in *rows; the step's row numbers are then the block's) and may
     * start reading block `next` ahead (AE_FIT_NO_BLOCK: none). 0 or 1: every row at hand. */
    size_t n_blocks, block_rows;
    int (*load)(void *ctx, size_t block, size_t next, size_t *rows);
    int in_order; /* 1: the blocks in file order every epoch (a file that cannot seek); the
                     rows within each block are still shuffled */
    /* Streaming: NULL, or saves a checkpoint after every checkpoint_blocks blocks of an epoch
     * (not after its last: the epoch's own checkpoint comes then) with the place reached;
     * lead process only. */
    int (*checkpoint_block)(void *ctx, int epoch, const ae_stream_pos *pos);
    size_t checkpoint_blocks;
    const ae_stream_pos *resume_pos; /* streaming: NULL, or where the first epoch goes on from */
    void *ctx;
    const ae_train_opts *opts; /* epochs, clip_norm, patience, checkpoint_every, callbacks */
    const ae_dist *dist; /* NULL: one process */
} ae_fit_task;

/* Runs the task's epochs; returns AE_OK, AE_EDIVERGED (the weights of the epoch's start
 * restored), a failed checkpoint's or reduction's status. *epochs_done, when not NULL, follows
 * every finished epoch. */
AE_HIDDEN int ae_fit(const ae_fit_task *t, int *epochs_done);

#endif
