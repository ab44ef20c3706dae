/* loss: reconstruction losses fused with the output layer's bias and activation. */
#ifndef AE_LOSS_H
#define AE_LOSS_H

#include "tensor.h"

/* Given the output layer's pre-bias product Z [rows x cols], its bias and activation, and the
 * target T, returns the loss as a mean over all rows * cols elements:
 *   MSE: mean (act(z + b) - t)^2                           (torch.nn.MSELoss)
 *   BCE: mean max(u, 0) - u t + log(1 + exp(-|u|)), u = z + b (torch.nn.BCEWithLogitsLoss);
 *        only with a sigmoid output (the caller checks).
 * When dz is not NULL it receives dLoss/du [rows x cols] (the gradient at the pre-activation);
 * when row_loss is not NULL it receives each row's mean loss. */
AE_HIDDEN double ae_loss_output(ae_loss loss, ae_activation act, const float *z, const float *bias,
                                const float *target, size_t rows, size_t cols, float *dz,
                                float *row_loss);
/* The same over some rows of a larger batch: returns the loss summed over these rows * cols
 * elements, and dz is the batch mean's gradient, dz_scale = 1 / (batch rows * cols). */
AE_HIDDEN double ae_loss_output_sum(ae_loss loss, ae_activation act, const float *z, const float *bias,
                                    const float *target, size_t rows, size_t cols, float *dz,
                                    float *row_loss, float dz_scale);

#endif
