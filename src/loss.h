/* loss: reconstruction losses fused with the output layer's bias and activation. */
#ifndef AE_LOSS_H
#define AE_LOSS_H

#include "tensor.h"

/* The parts of a step's loss: total = recon + kl + sparsity (the head's loss is all recon). */
typedef struct ae_pass_parts {
    double recon, kl, sparsity;
} ae_pass_parts;

/* Given the output layer's pre-bias product Z [rows x cols], its bias and activation, and the
 * target T, returns the loss as a mean over all rows * cols elements:
 *   MSE: mean (act(z + b) - t)^2                           (torch.nn.MSELoss)
 *   BCE: mean max(u, 0) - u t + log(1 + exp(-|u|)), u = z + b (torch.nn.BCEWithLogitsLoss);
 *        only with a sigmoid output (the caller checks).
 * When dz is not NULL it receives dLoss/du [rows x cols] (the gradient at the pre-activation);
 * when row_loss is not NULL it receives each row's mean loss. */
AE_HIDDEN double ae_loss_output(ae_loss loss, ae_activation act, const float *z, const float *bias, const float *target,
                                size_t rows, size_t cols, float *dz, float *row_loss);
/* The same over some rows of a larger batch: returns the loss summed over these rows * cols
 * elements, and dz is the batch mean's gradient, dz_scale = 1 / (batch rows * cols). */
AE_HIDDEN double ae_loss_output_sum(ae_loss loss, ae_activation act, const float *z, const float *bias,
                                    const float *target, size_t rows, size_t cols, float *dz, float *row_loss,
                                    float dz_scale);

/* The supervised head's losses (torch.nn.CrossEntropyLoss / MSELoss).
 * Softmax in place over one row of c logits; returns log(sum_j exp(o_j)), computed from the
 * largest logit so that nothing overflows. */
AE_HIDDEN double ae_softmax_row(float *o, size_t c);
/* Logits out [rows x c] become probabilities; returns the summed cross-entropy
 * -log softmax(o)[y] against the class indices y. dz, when not NULL, gets
 * (p - onehot(y)) * scale; correct, when not NULL, counts rows whose argmax is y. */
AE_HIDDEN double ae_softmax_loss(float *out, const float *y, size_t rows, size_t c, float *dz, float scale,
                                 size_t *correct);
/* The summed squared error of out [rows x c] against t; dz, when not NULL, gets
 * 2 (out - t) * scale. */
AE_HIDDEN double ae_mse_loss(const float *out, const float *t, size_t rows, size_t c, float *dz, float scale);

#endif
