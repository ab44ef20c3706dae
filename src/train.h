/* train: the training workspace and one forward/backward pass (used by ae_train and tests). */
#ifndef AE_TRAIN_H
#define AE_TRAIN_H

#include "model.h"
#include "pool.h"

/* What one pass computes beyond the plain reconstruction. */
typedef struct ae_pass_cfg {
    ae_loss loss;
    int train;                              /* corruption and dropout apply */
    ae_noise noise;
    float noise_level;
    float dropout;                          /* on hidden layers */
    float sparsity_target, sparsity_weight; /* on the code */
    float kl_weight;                        /* VAE */
} ae_pass_cfg;

/* The parts of a pass's loss: total = recon + kl + sparsity. */
typedef struct ae_pass_parts {
    double recon, kl, sparsity;
} ae_pass_parts;

/* Every buffer a training step touches, carved from one allocation sized for cap rows. */
typedef struct ae_work {
    size_t cap;
    float *block;                /* the one allocation */
    float *act[AE_MAX_LAYERS];   /* A_l [cap x out_l]; the output layer's holds its pre-bias Z */
    float *mask[AE_MAX_LAYERS];  /* dropout masks of hidden layers (0 or 1/keep), or NULL */
    float *delta[2];             /* [cap x max_width] gradients, used in turn */
    float *batch;                /* gathered input rows [cap x input_dim] */
    float *noisy;                /* corrupted inputs [cap x input_dim], or NULL */
    float *eps, *z;              /* VAE: N(0,1) draws and the sampled code [cap x k], or NULL */
    uint32_t *index;             /* [cap]: the batch's rows in the training data */
} ae_work;

AE_HIDDEN int ae_work_init(ae_work *w, const ae_model *m, size_t cap, const ae_pass_cfg *cfg);
AE_HIDDEN void ae_work_free(ae_work *w);

/* A pass of rows <= w->cap inputs x against targets; returns the total loss (parts in *parts
 * when not NULL). With backward, fills m->grads and, when dx is not NULL (and no noise is
 * applied), dLoss/dx [rows x input_dim]. Noise, dropout masks and the VAE's draws come from
 * m->rng. */
AE_HIDDEN double ae_pass(ae_model *m, ae_work *w, const float *x, const float *target, size_t rows,
                         const ae_pass_cfg *cfg, int backward, float *dx, ae_pass_parts *parts);

/* ae_pass in `chunks` fixed row chunks (by_cols: each product in `chunks` column slices,
 * where the configuration allows; train.c), its tasks taken by the pool's threads (train.c says
 * how; NULL: all on the calling thread), for a batch that is its own target: x itself (idx
 * NULL), or rows idx[0 .. rows) of x gathered into w->batch. No dx. The same bits with any
 * pool, for a given chunk count. Every random draw (input noise, dropout masks, a VAE's eps)
 * is made on the calling thread first, in the serial pass's order, so the chunked pass draws
 * what ae_pass would. With several chunks, only for configurations ae_pass_split_covers
 * accepts (others run as one chunk): all but the KL sparsity penalty of a sigmoid code, which
 * needs the whole batch's mean activation. */
AE_HIDDEN double ae_pass_split(ae_model *m, ae_work *w, ae_pool *pool, size_t chunks, int by_cols,
                               const float *x, const uint32_t *idx, size_t rows, const ae_pass_cfg *cfg,
                               int backward, ae_pass_parts *parts);
AE_HIDDEN int ae_pass_split_covers(const ae_model *m, const ae_pass_cfg *cfg);

/* The pass configuration of a set of training options. */
AE_HIDDEN ae_pass_cfg ae_pass_cfg_from(const ae_train_opts *o);

/* Checks training options against a model: AE_OK or AE_EINVAL. */
AE_HIDDEN int ae_train_opts_check(const ae_model *m, const ae_train_opts *o);

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

/* ae_train, one process (dist NULL) or data-parallel: only rank 0 calls on_epoch and
 * on_batch (with the figures of the whole batch and epoch) and writes checkpoints; every
 * decision (stop, divergence, failure) is taken from figures all processes share. */
AE_HIDDEN int ae_train_dist(ae_model *m, const float *x, size_t n, const ae_train_opts *o, const ae_dist *dist);

/* ae_train's whole call (train_data.c): holds out o->val_split of the rows, fits the model's
 * input scaling on the first training (statistics combined across processes), refuses rows
 * outside the output's range when scaling is off, trains ae_train_dist on scaled copies, then
 * calibrates o->threshold on the held-out (or validation, or training) rows. */
AE_HIDDEN int ae_fit_dist(ae_model *m, const float *x, size_t n, const ae_train_opts *o, const ae_dist *dist);
/* For head training and pretraining (one process): fits the scaling if the model has none
 * yet (checking the range when it is off), then gives x in scaled units as ae_scaled_rows. */
AE_HIDDEN int ae_prepare_rows(ae_model *m, const float *x, size_t n, const float **scaled, float **owned);

/* Monotonic wall-clock seconds, for the epoch statistics. */
AE_HIDDEN double ae_now_seconds(void);

#endif
