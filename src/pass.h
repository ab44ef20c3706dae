/* pass: one forward/backward pass of the autoencoder over a batch, its workspace, and the
 * pass under a run's plan (threads). What the pass adds to the plain reconstruction
 * (corruption, dropout, a VAE's sampling, sparsity) is in pass_regs.c. */
#ifndef AE_PASS_H
#define AE_PASS_H

#include "loss.h"
#include "pass_regs.h"
#include "plan.h"
#include "pool.h"

/* Every buffer a training step touches, carved from one allocation sized for cap rows. */
typedef struct ae_work {
    size_t cap;
    float *block; /* the one allocation */
    float *act[AE_MAX_LAYERS]; /* A_l [cap x out_l]; the output layer's holds its pre-bias Z */
    float *mask[AE_MAX_LAYERS]; /* dropout masks of hidden layers (0 or 1/keep), or NULL */
    float *delta[2]; /* [cap x max_width] gradients, used in turn */
    float *batch; /* gathered input rows [cap x input_dim] */
    float *noisy; /* corrupted inputs [cap x input_dim], or NULL */
    float *eps, *z; /* VAE: N(0,1) draws and the sampled code [cap x k], or NULL */
    uint32_t *index; /* [cap]: the batch's rows in the training data */
    float *scratch[AE_MAX_LAYERS]; /* the layers' scratch for cap rows (layer.h), or NULL */
    float *zero_bias; /* [input_dim] zeros: the loss's bias after an output layer that
                                    adds its own (not fused_bias), else NULL */
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
 * where the configuration allows), its tasks taken by the pool's threads (pass.c says
 * how; NULL: all on the calling thread), for a batch that is its own target: x itself (idx
 * NULL), or rows idx[0 .. rows) of x gathered into w->batch. No dx. The same bits with any
 * pool, for a given chunk count. Every random draw (input noise, dropout masks, a VAE's eps)
 * is made on the calling thread first, in the serial pass's order, so the chunked pass draws
 * what ae_pass would. With several chunks, only for configurations ae_pass_split_covers
 * accepts (others run as one chunk): all but the KL sparsity penalty of a sigmoid code, which
 * needs the whole batch's mean activation. */
AE_HIDDEN double ae_pass_split(ae_model *m, ae_work *w, ae_pool *pool, size_t chunks, int by_cols, const float *x,
                               const uint32_t *idx, size_t rows, const ae_pass_cfg *cfg, int backward,
                               ae_pass_parts *parts);
AE_HIDDEN int ae_pass_split_covers(const ae_model *m, const ae_pass_cfg *cfg);

/* The pass configuration of a set of training options. */
AE_HIDDEN ae_pass_cfg ae_pass_cfg_from(const ae_train_opts *o);

/* The pass for a training step (backward) or an evaluation over a batch that is its own
 * target: x itself (idx NULL) or rows idx[0 .. rows) of x, under the run's plan. */
AE_HIDDEN double ae_pass_planned(ae_model *m, ae_work *w, ae_run *r, const float *x, const uint32_t *idx, size_t rows,
                                 const ae_pass_cfg *c, int backward, ae_pass_parts *parts);
/* Chooses and starts the run's plan (plan.c) for m and a batch of w->cap rows, timing
 * candidate plans with passes over the first of this process's n rows x (total over every
 * process; lead: this process may write the plan file). */
AE_HIDDEN int ae_pass_plan(ae_model *m, ae_work *w, const ae_pass_cfg *c, const float *x, size_t n, size_t total,
                           int lead, ae_run *run);
/* Summed loss over rows of xs in chunks of the workspace's capacity: no gradient, no noise or
 * dropout (a VAE still samples its code, as the ELBO is defined). */
AE_HIDDEN double ae_pass_eval_sum(ae_model *m, ae_work *w, ae_run *run, const float *xs, size_t n,
                                  const ae_pass_cfg *train_cfg);

#endif
