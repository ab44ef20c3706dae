#include "loss.h"

#include <math.h>

double ae_loss_output(ae_loss loss, ae_activation act, const float *z, const float *bias, const float *target,
                      size_t rows, size_t cols, float *dz, float *row_loss) {
    const float scale = 1.0f / ((float)rows * (float)cols);
    return ae_loss_output_sum(loss, act, z, bias, target, rows, cols, dz, row_loss, scale) /
           ((double)rows * (double)cols);
}

AE_VECTOR_CLONES double ae_loss_output_sum(ae_loss loss, ae_activation act, const float *z, const float *bias,
                                           const float *target, size_t rows, size_t cols, float *dz, float *row_loss,
                                           float scale) {
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

/* ---- the supervised head's losses (ae_head_*) ---- */

/* Softmax in place over one row of c logits; returns log(sum_j exp(o_j)), computed from the
 * largest logit so that nothing overflows. */
double ae_softmax_row(float *o, size_t c) {
    float top = o[0];
    for (size_t j = 1; j < c; j++) top = o[j] > top ? o[j] : top;
    double sum = 0.0;
    for (size_t j = 0; j < c; j++) sum += exp((double)(o[j] - top));
    for (size_t j = 0; j < c; j++) o[j] = (float)(exp((double)(o[j] - top)) / sum);
    /* cppcheck-suppress invalidFunctionArg ; sum >= 1: the largest logit adds exp(0) */
    return log(sum) + (double)top;
}

/* Logits out [rows x c] become probabilities; returns the summed cross-entropy
 * -log softmax(o)[y] against the class indices y. dz, when not NULL, gets
 * (p - onehot(y)) * scale; correct, when not NULL, counts rows whose argmax is y. */
double ae_softmax_loss(float *out, const float *y, size_t rows, size_t c, float *dz, float scale, size_t *correct) {
    double total = 0.0;
    for (size_t i = 0; i < rows; i++) {
        float *o = out + i * c;
        const size_t label = (size_t)y[i];
        size_t best = 0;
        for (size_t j = 1; j < c; j++)
            if (o[j] > o[best]) best = j;
        const double logit = o[label];
        total += ae_softmax_row(o, c) - logit;
        if (dz)
            for (size_t j = 0; j < c; j++) dz[i * c + j] = (o[j] - (j == label ? 1.0f : 0.0f)) * scale;
        if (correct && best == label) ++*correct;
    }
    return total;
}

/* The summed squared error of out [rows x c] against t; dz, when not NULL, gets
 * 2 (out - t) * scale. */
double ae_mse_loss(const float *out, const float *t, size_t rows, size_t c, float *dz, float scale) {
    double total = 0.0;
    for (size_t i = 0; i < rows * c; i++) {
        float diff = out[i] - t[i];
        total += (double)diff * diff;
        if (dz) dz[i] = 2.0f * diff * scale;
    }
    return total;
}
