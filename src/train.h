/* train: ae_train, the autoencoder's training run as a task for fit (one or several processes). */
#ifndef AE_TRAIN_H
#define AE_TRAIN_H

#include "fit.h"
#include "pass.h"

/* Puts "checkpoint" and the epoch (0: before the first) before the saver's detail. */
AE_HIDDEN void ae_checkpoint_failed(int rc, int epoch);
/* Checks training options against a model: AE_OK or AE_EINVAL. */
AE_HIDDEN int ae_train_opts_check(const ae_model *m, const ae_train_opts *o);

/* ae_train, one process (dist NULL) or data-parallel: only rank 0 calls on_epoch and
 * on_batch (with the figures of the whole batch and epoch) and writes checkpoints; every
 * decision (stop, divergence, failure) is taken from figures all processes share. */
AE_HIDDEN int ae_train_dist(ae_model *m, const float *x, size_t n, const ae_train_opts *o, const ae_dist *dist);

/* ae_train's whole call (train_data.c): holds out o->val_split of the rows, fits the model's
 * input scaling on the first training (statistics combined across processes), refuses rows
 * outside the output's range when scaling is off, trains ae_train_dist on scaled copies, then
 * calibrates o->threshold on the held-out (or validation, or training) rows. */
AE_HIDDEN int ae_fit_dist(ae_model *m, const float *x, size_t n, const ae_train_opts *o, const ae_dist *dist);
/* Fits m's input scaling on x [n x input_dim] when it has none yet (statistics combined
 * across processes with dist), or with scaling off checks the rows' range: collective. */
AE_HIDDEN int ae_fit_scaling(ae_model *m, const float *x, size_t n, const ae_dist *dist);

/* ae_train_stream, one process (dist NULL) or each process streaming its own contiguous share
 * of the file's rows (even shares in process order; dist's first and total are filled in
 * here): collective, every process returns the same status. */
AE_HIDDEN int ae_stream_dist(ae_model *m, const char *path, const ae_train_opts *o, size_t buffer_rows,
                             const ae_dist *dist);

/* For head training and pretraining (one process): fits the scaling if the model has none
 * yet (checking the range when it is off), then gives x in scaled units as ae_scaled_rows. */
AE_HIDDEN int ae_prepare_rows(ae_model *m, const float *x, size_t n, const float **scaled, float **owned);

/* val_split's held-out share (train_data.c): global row g is held out when
 * floor((g + 1) s) > floor(g s), so exactly floor(total s) rows, evenly spaced. */
typedef struct ae_held_split {
    float *train, *held; /* copies [n_train x d], [n_held x d]; NULL without a split */
    size_t n_train, n_held;
} ae_held_split;
/* Rows held out before global row g. */
AE_HIDDEN size_t ae_held_before(size_t g, double s);
/* Splits x [n x d], global rows [first, first + n), into copies. */
AE_HIDDEN int ae_split_rows(const float *x, size_t n, size_t d, size_t first, double s, ae_held_split *out);
AE_HIDDEN void ae_split_free(ae_held_split *s);

#endif
