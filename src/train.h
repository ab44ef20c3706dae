/* train: the training workspace and one forward/backward pass (used by ae_train and tests). */
#ifndef AE_TRAIN_H
#define AE_TRAIN_H

#include "model.h"

/* Every buffer a training step touches, carved from one allocation sized for cap rows. */
typedef struct ae_work {
    size_t cap;
    float *block;                /* the one allocation */
    float *act[AE_MAX_LAYERS];   /* A_l [cap x out_l]; the output layer's holds its pre-bias Z */
    float *delta[2];             /* [cap x max_width] gradients, used in turn */
    float *batch;                /* gathered input rows [cap x input_dim] */
} ae_work;

AE_HIDDEN int ae_work_init(ae_work *w, const ae_model *m, size_t cap);
AE_HIDDEN void ae_work_free(ae_work *w);

/* Forward pass of rows <= w->cap inputs x against the targets; returns the mean loss.
 * With backward, fills m->grads with the loss's gradient and, when dx is not NULL, writes
 * dLoss/dx [rows x input_dim] there. */
AE_HIDDEN double ae_pass(ae_model *m, ae_work *w, const float *x, const float *target, size_t rows,
                         ae_loss loss, int backward, float *dx);

/* Checks training options against a model: AE_OK or AE_EINVAL. */
AE_HIDDEN int ae_train_opts_check(const ae_model *m, const ae_train_opts *o);

#endif
