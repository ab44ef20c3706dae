/* layer: the dense layer's forward/backward pair over views into the model's blocks. */
#ifndef AE_LAYER_H
#define AE_LAYER_H

#include "blas.h"

typedef struct ae_layer {
    size_t in, out;
    ae_activation act;
    int w_transposed;    /* w is stored [in x out]: a tied decoder borrowing the encoder's weight */
    int grad_accumulate; /* dW += ... : the second user of a shared (tied) weight */
    float *w, *b;        /* weight [out x in] (or [in x out], see above) and bias [out] */
    float *dw, *db;      /* their gradients, same shapes */
} ae_layer;

/* Y [rows x out] = X [rows x in] . W^T, then with_act: Y = act(Y + b). Without act the bias
 * is left for a fused consumer (the loss). */
AE_HIDDEN void ae_layer_forward(const ae_layer *l, const float *x, size_t rows, float *y, int with_act);
/* Given dZ [rows x out] (the gradient at the pre-activation) and the layer input X:
 * dW = dZ^T . X, db = column sums of dZ, and when dx is not NULL dX = dZ . W [rows x in].
 * The caller applies the previous layer's act' to dX. */
AE_HIDDEN void ae_layer_backward(const ae_layer *l, const float *x, const float *dz, size_t rows, float *dx);

/* ae_layer_backward in parts, so that threads can share one layer's backward pass:
 * rows [r0, r1) of the stored dW (ae_layer_dw_rows of them) from all `rows` rows of dZ and X; */
AE_HIDDEN void ae_layer_grad_w(const ae_layer *l, const float *x, const float *dz, size_t rows, size_t r0, size_t r1);
/* db[c0, c1) from all `rows` rows of dZ; */
AE_HIDDEN void ae_layer_grad_b(const ae_layer *l, const float *dz, size_t rows, size_t c0, size_t c1);
/* dX [rows x in] = dZ [rows x out] . W for any block of rows (pointers at its first row);
 * dX's rows are ld_dx >= in floats apart. */
AE_HIDDEN void ae_layer_grad_x(const ae_layer *l, const float *dz, size_t rows, float *dx, size_t ld_dx);
/* Rows of the stored weight: out, or in when the weight is borrowed transposed. */
static inline size_t ae_layer_dw_rows(const ae_layer *l) { return l->w_transposed ? l->in : l->out; }

#endif
