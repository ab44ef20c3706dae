/* conv2d_t: a 2-D transposed convolution over NCHW images, one image a row
 * (torch.nn.ConvTranspose2d, square odd kernel k, stride s, padding k / 2, and the output
 * padding h_out - 1 - (h_in - 1) s that restores the exact shape its mirror conv2d took in:
 * h_in = ceil(h_out / s)), then the block's activation. The adjoint of conv2d's product.
 * Weight W [c_in x c_out x k x k] (PyTorch's layout for ConvTranspose2d; as a matrix
 * [c_in x K], K = c_out k k), bias [c_out]. Per image, with P = h_in w_in input pixels:
 *   forward:      cols = W^T . X_i [K x P],  Y_i = col2im(cols) + b   [c_out x h_out w_out]
 *   grad_params:  dcols = im2col(dZ_i) [K x P],  dW += X_i . dcols^T,  db += sums of dZ_i
 *   grad_input:   dX_i [c_in x P] = W . im2col(dZ_i)
 * Scratch, per row: 2 K P floats: row i's first half for forward and grad_input on image i,
 * row s's second half for grad_params' slice s (slices <= rows), so a step's dW slices and
 * dX chunks may run at once. Rows are independent: the pass splits images across threads. */
#include "conv.h"

static size_t kdim(const ae_layer *l) { return l->c_out * l->kernel * l->kernel; }
static size_t pixels(const ae_layer *l) { return l->h_in * l->w_in; }

/* The big image is the output, the small grid the input. */
static ae_conv_geom geom(const ae_layer *l) {
    return (ae_conv_geom){l->c_out, l->h_out, l->w_out, l->h_in, l->w_in, l->kernel, l->stride};
}

static size_t convt_scratch(const ae_layer *l, size_t rows) { return rows * 2 * kdim(l) * pixels(l); }

static void convt_shape(const ae_layer *l, int t, size_t *rows, size_t *cols) {
    *rows = t == 0 ? l->c_in : l->c_out;
    *cols = t == 0 ? kdim(l) : 0;
}

/* PyTorch's ConvTranspose2d init: its fan in is computed from the weight [c_in, c_out, k, k]
 * as for any weight, dimension 1 times the kernel, c_out k^2. */
static void convt_init(ae_layer *l, ae_rng *rng) { ae_layer_init_torch(l, rng, (double)kdim(l)); }

static void convt_forward(const ae_layer *l, const float *x, size_t rows, float *y, int with_act, int train,
                          float *scratch) {
    (void)train;
    const size_t K = kdim(l), P = pixels(l), out_pixels = l->h_out * l->w_out;
    const ae_conv_geom g = geom(l);
    ae_mat W = ae_mat_view(l->w, l->c_in, K);
    for (size_t i = 0; i < rows; i++) {
        float *cols = scratch + i * 2 * K * P;
        /* cols [K x P] = W^T [K x c_in] . X_i [c_in x P] */
        ae_mat X = ae_mat_view((float *)x + i * l->in, l->c_in, P), C = ae_mat_view(cols, K, P);
        ae_gemm(1, 0, 1.0f, &W, &X, 0.0f, &C);
        ae_col2im(&g, cols, y + i * l->out);
    }
    ae_conv_bias_act(l, y, rows, l->c_out, out_pixels, with_act);
}

/* Slice s: input channels [i0, i1) of dW, output channels [o0, o1) of db. */
static void convt_grad_params(const ae_layer *l, const float *x, const float *dz, size_t rows, size_t s, size_t slices,
                              float *scratch) {
    const size_t K = kdim(l), P = pixels(l);
    const ae_conv_geom g = geom(l);
    size_t i0, i1, o0, o1;
    ae_split(l->c_in, (int)s, (int)slices, 1, &i0, &i1);
    ae_split(l->c_out, (int)s, (int)slices, 1, &o0, &o1);
    float *dcols = scratch + s * 2 * K * P + K * P;
    ae_mat dW = ae_mat_view(l->dw + i0 * K, i1 - i0, K);
    for (size_t i = 0; i < rows && i1 > i0; i++) {
        ae_im2col(&g, dz + i * l->out, dcols);
        /* dW[i0:i1, :] [(i1-i0) x K] (+)= X_i[i0:i1, :] [(i1-i0) x P] . dcols^T [P x K] */
        ae_mat X = ae_mat_view((float *)x + i * l->in + i0 * P, i1 - i0, P), D = ae_mat_view(dcols, K, P);
        ae_gemm(0, 1, 1.0f, &X, &D, i ? 1.0f : 0.0f, &dW);
    }
    ae_conv_grad_bias(l, dz, rows, l->h_out * l->w_out, o0, o1);
}

static size_t convt_param_rows(const ae_layer *l) { return l->c_in; }

static void convt_grad_input(const ae_layer *l, const float *x, const float *dz, size_t rows, float *dx, size_t ld_dx,
                             float *scratch) {
    (void)x;
    const size_t K = kdim(l), P = pixels(l);
    const ae_conv_geom g = geom(l);
    ae_mat W = ae_mat_view(l->w, l->c_in, K);
    for (size_t i = 0; i < rows; i++) {
        float *dcols = scratch + i * 2 * K * P;
        ae_im2col(&g, dz + i * l->out, dcols);
        /* dX_i [c_in x P] = W [c_in x K] . dcols [K x P] */
        ae_mat D = ae_mat_view(dcols, K, P), dX = ae_mat_view(dx + i * ld_dx, l->c_in, P);
        ae_gemm(0, 0, 1.0f, &W, &D, 0.0f, &dX);
    }
}

static double convt_mnk(const ae_layer *l, size_t rows) {
    return (double)rows * (double)l->c_in * (double)kdim(l) * (double)pixels(l);
}

const ae_kind ae_kind_conv2d_t = {
    .name = "conv2d_t",
    .shape = convt_shape,
    .tensor_name = {"weight", "bias"},
    .n_stat = 0,
    .scratch_floats = convt_scratch,
    .init = convt_init,
    .forward = convt_forward,
    .grad_params = convt_grad_params,
    .param_rows = convt_param_rows,
    .grad_input = convt_grad_input,
    .forward_cols = NULL,
    .grad_input_cols = NULL,
    .batch_whole = 0,
    .fused_bias = 0,
    .gemm_mnk = convt_mnk,
};
