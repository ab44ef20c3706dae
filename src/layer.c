#include "layer.h"

void ae_layer_forward(const ae_layer *l, const float *x, size_t rows, float *y, int with_act) {
    ae_mat X = ae_mat_view((float *)x, rows, l->in);
    ae_mat Y = ae_mat_view(y, rows, l->out);
    if (!l->w_transposed) {
        /* Y [rows x out] = X [rows x in] . W^T, W [out x in] */
        ae_mat W = ae_mat_view(l->w, l->out, l->in);
        ae_gemm(0, 1, 1.0f, &X, &W, 0.0f, &Y);
    } else {
        /* Y [rows x out] = X [rows x in] . Wt, Wt [in x out] (the tied encoder weight) */
        ae_mat Wt = ae_mat_view(l->w, l->in, l->out);
        ae_gemm(0, 0, 1.0f, &X, &Wt, 0.0f, &Y);
    }
    if (with_act) ae_bias_act(y, l->b, rows, l->out, l->act);
}

void ae_layer_grad_w(const ae_layer *l, const float *x, const float *dz, size_t rows, size_t r0, size_t r1) {
    if (r1 <= r0) return;
    const float beta = l->grad_accumulate ? 1.0f : 0.0f;
    if (!l->w_transposed) {
        /* dW[r0:r1, :] [(r1-r0) x in] (+)= dZ[:, r0:r1]^T [(r1-r0) x rows] . X [rows x in] */
        ae_mat dZ = {rows, r1 - r0, l->out, (float *)dz + r0};
        ae_mat X = ae_mat_view((float *)x, rows, l->in);
        ae_mat dW = ae_mat_view(l->dw + r0 * l->in, r1 - r0, l->in);
        ae_gemm(1, 0, 1.0f, &dZ, &X, beta, &dW);
    } else {
        /* dWt[r0:r1, :] [(r1-r0) x out] (+)= X[:, r0:r1]^T [(r1-r0) x rows] . dZ [rows x out] */
        ae_mat X = {rows, r1 - r0, l->in, (float *)x + r0};
        ae_mat dZ = ae_mat_view((float *)dz, rows, l->out);
        ae_mat dWt = ae_mat_view(l->dw + r0 * l->out, r1 - r0, l->out);
        ae_gemm(1, 0, 1.0f, &X, &dZ, beta, &dWt);
    }
}

void ae_layer_grad_b(const ae_layer *l, const float *dz, size_t rows, size_t c0, size_t c1) {
    if (c1 > c0) ae_col_sum(dz + c0, rows, c1 - c0, l->out, l->db + c0);
}

void ae_layer_grad_x(const ae_layer *l, const float *dz, size_t rows, float *dx, size_t ld_dx) {
    if (!rows) return;
    ae_mat dZ = ae_mat_view((float *)dz, rows, l->out);
    ae_mat dX = {rows, l->in, ld_dx, dx};
    if (!l->w_transposed) {
        /* dX [rows x in] = dZ [rows x out] . W [out x in] */
        ae_mat W = ae_mat_view(l->w, l->out, l->in);
        ae_gemm(0, 0, 1.0f, &dZ, &W, 0.0f, &dX);
    } else {
        /* dX [rows x in] = dZ [rows x out] . Wt^T, Wt [in x out] */
        ae_mat Wt = ae_mat_view(l->w, l->in, l->out);
        ae_gemm(0, 1, 1.0f, &dZ, &Wt, 0.0f, &dX);
    }
}

void ae_layer_backward(const ae_layer *l, const float *x, const float *dz, size_t rows, float *dx) {
    ae_layer_grad_w(l, x, dz, rows, 0, ae_layer_dw_rows(l));
    ae_layer_grad_b(l, dz, rows, 0, l->out);
    if (dx) ae_layer_grad_x(l, dz, rows, dx, l->in);
}
