#include "loss.h"

#include <math.h>

double ae_loss_output(ae_loss loss, ae_activation act, const float *z, const float *bias, const float *target,
                      size_t rows, size_t cols, float *dz, float *row_loss) {
    const float scale = 1.0f / ((float)rows * (float)cols);
    return ae_loss_output_sum(loss, act, z, bias, target, rows, cols, dz, row_loss, scale) /
           ((double)rows * (double)cols);
}

AE_VECTOR_CLONES double ae_loss_output_sum(ae_loss loss, ae_activation act, const float *z, const float *bias,
                                           const float *target, size_t rows, size_t cols, float *dz,
                                           float *row_loss, float scale) {
    double total = 0.0;
    for (size_t i = 0; i < rows; i++) {
        const float *restrict zr = z + i * cols;
        const float *restrict tr = target + i * cols;
        float *restrict dr = dz ? dz + i * cols : NULL;
        float sum = 0.0f;
        if (loss == AE_LOSS_BCE) {
            for (size_t j = 0; j < cols; j++) {
                float u = zr[j] + bias[j];
                float l = fmaxf(u, 0.0f) - u * tr[j] + log1pf(expf(-fabsf(u)));
                sum += l;
                if (dr) dr[j] = (ae_sigmoidf(u) - tr[j]) * scale;
            }
        } else if (act == AE_ACT_SIGMOID && dr) { /* the common case, spelled out to vectorise */
#pragma omp simd reduction(+ : sum)
            for (size_t j = 0; j < cols; j++) {
                float a = ae_sigmoidf(zr[j] + bias[j]);
                float diff = a - tr[j];
                sum += diff * diff;
                dr[j] = 2.0f * diff * a * (1.0f - a) * scale;
            }
        } else {
            for (size_t j = 0; j < cols; j++) {
                float a = ae_act_scalar(zr[j] + bias[j], act);
                float diff = a - tr[j];
                sum += diff * diff;
                if (dr) dr[j] = 2.0f * diff * ae_act_grad_from_output(a, act) * scale;
            }
        }
        if (row_loss) row_loss[i] = sum / (float)cols;
        total += sum;
    }
    return total;
}
