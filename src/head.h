/* head: the supervised head on the code (softmax + cross-entropy, or linear + MSE), its
 * training pass and workspace (used by ae_head_train and the gradient-check tests). */
#ifndef AE_HEAD_H
#define AE_HEAD_H

#include "model.h"

/* Every buffer a head training step touches, carved from one allocation sized for cap rows.
 * through_encoder: the step runs the encoder too (fine-tuning); otherwise its inputs are
 * codes computed once before training (frozen encoder). */
typedef struct ae_head_work {
    size_t cap;
    int through_encoder;
    float *block; /* the one allocation */
    float *act[AE_MAX_LAYERS]; /* encoder layer outputs [cap x out_l] (fine-tuning only) */
    float *code; /* VAE: mu copied out of the head layer's [cap x 2k], else NULL */
    float *out; /* head output [cap x outputs]: logits, then probabilities */
    float *delta[2]; /* [cap x max(widest layer, outputs)], used in turn */
    float *batch; /* gathered rows [cap x (input_dim or code_dim)] */
    float *target; /* gathered targets [cap x (1 or outputs)] */
    float *scratch[AE_MAX_LAYERS]; /* encoder layers' scratch for cap rows (fine-tuning), or NULL */
} ae_head_work;

AE_HIDDEN int ae_head_work_init(ae_head_work *w, const ae_model *m, size_t cap, int through_encoder);
AE_HIDDEN void ae_head_work_free(ae_head_work *w);

/* The head's mean loss over rows <= w->cap: x holds inputs [rows x input_dim] when
 * w->through_encoder, else codes [rows x code_dim]; y holds class indices [rows] (SOFTMAX) or
 * targets [rows x outputs] (LINEAR). With backward, fills the head's gradients and, through
 * the encoder, the encoder's part of m->grads (the decoder's part is left alone). */
AE_HIDDEN double ae_head_pass(ae_model *m, ae_head_work *w, const float *x, const float *y, size_t rows, int backward);

#endif
