/* conv2d: a 2-D convolution over NCHW images, one image a row (torch.nn.Conv2d with a square
 * odd kernel k, stride s, padding k / 2: h_out = ceil(h_in / s)), then the block's activation.
 * Weight W [c_out x c_in x k x k] (PyTorch's layout; as a matrix [c_out x K], K = c_in k k),
 * bias [c_out]. Per image, with P = h_out w_out output pixels and cols = im2col(X_i) [K x P]:
 *   forward:      Y_i [c_out x P] = W . cols + b
 *   grad_params:  dW += dZ_i . cols^T,  db += row sums of dZ_i
 *   grad_input:   dX_i = col2im(W^T . dZ_i)
 * Scratch, per row: [cols | dcols], 2 K P floats. The forward pass leaves each image's cols
 * there for grad_params; grad_input works in dcols, so the two may run at once. Rows are
 * independent: the pass splits images across threads. */
#include "conv.h"

static size_t kdim(const ae_layer *l) { return l->c_in * l->kernel * l->kernel; }
static size_t pixels(const ae_layer *l) { return l->h_out * l->w_out; }

static ae_conv_geom geom(const ae_layer *l) {
    return (ae_conv_geom){l->c_in, l->h_in, l->w_in, l->h_out, l->w_out, l->kernel, l->stride};
}

static size_t conv_scratch(const ae_layer *l, size_t rows) { return rows * 2 * kdim(l) * pixels(l); }

static void conv_shape(const ae_layer *l, int t, size_t *rows, size_t *cols) {
    *rows = l->c_out;
    *cols = t == 0 ? kdim(l) : 0;
}

/* PyTorch's Conv2d init: the weight [c_out, c_in, k, k]'s fan in is c_in k^2. */
static void conv_init(ae_layer *l, ae_rng *rng) { ae_layer_init_torch(l, rng, (double)kdim(l)); }

static void conv_forward(const ae_layer *l, const float *x, size_t rows, float *y, int with_act, int train,
                         float *scratch) {
    (void)train;
    const size_t K = kdim(l), P = pixels(l);
    const ae_conv_geom g = geom(l);
    ae_mat W = ae_mat_view(l->w, l->c_out, K);
    for (size_t i = 0; i < rows; i++) {
        float *cols = scratch + i * 2 * K * P;
        ae_im2col(&g, x + i * l->in, cols);
        /* Y_i [c_out x P] = W [c_out x K] . cols [K x P] */
        ae_mat C = ae_mat_view(cols, K, P), Y = ae_mat_view(y + i * l->out, l->c_out, P);
        ae_gemm(0, 0, 1.0f, &W, &C, 0.0f, &Y);
    }
    ae_conv_bias_act(l, y, rows, l->c_out, P, with_act);
}

/* Slice s: output channels [o0, o1) of dW and db, from the cols the forward pass left. */
static void conv_grad_params(const ae_layer *l, const float *x, const float *dz, size_t rows, size_t s, size_t slices,
                             float *scratch) {
    (void)x;
    const size_t K = kdim(l), P = pixels(l);
    size_t o0, o1;
    ae_split(l->c_out, (int)s, (int)slices, 1, &o0, &o1);
    if (o1 <= o0) return;
    ae_mat dW = ae_mat_view(l->dw + o0 * K, o1 - o0, K);
    for (size_t i = 0; i < rows; i++) {
        /* dW[o0:o1, :] [(o1-o0) x K] (+)= dZ_i[o0:o1, :] [(o1-o0) x P] . cols_i^T [P x K] */
        ae_mat dZ = ae_mat_view((float *)dz + i * l->out + o0 * P, o1 - o0, P);
        ae_mat C = ae_mat_view(scratch + i * 2 * K * P, K, P);
        ae_gemm(0, 1, 1.0f, &dZ, &C, i ? 1.0f : 0.0f, &dW);
    }
    ae_conv_grad_bias(l, dz, rows, P, o0, o1);
}

static size_t conv_param_rows(const ae_layer *l) { return l->c_out; }

static void conv_grad_input(const ae_layer *l, const float *x, const float *dz, size_t rows, float *dx, size_t ld_dx,
                            float *scratch) {
    (void)x;
    const size_t K = kdim(l), P = pixels(l);
    const ae_conv_geom g = geom(l);
    ae_mat W = ae_mat_view(l->w, l->c_out, K);
    for (size_t i = 0; i < rows; i++) {
        float *dcols = scratch + i * 2 * K * P + K * P;
        /* dcols [K x P] = W^T [K x c_out] . dZ_i [c_out x P] */
        ae_mat dZ = ae_mat_view((float *)dz + i * l->out, l->c_out, P), D = ae_mat_view(dcols, K, P);
        ae_gemm(1, 0, 1.0f, &W, &dZ, 0.0f, &D);
        ae_col2im(&g, dcols, dx + i * ld_dx);
    }
}

static double conv_mnk(const ae_layer *l, size_t rows) {
    return (double)rows * (double)l->c_out * (double)kdim(l) * (double)pixels(l);
}

const ae_kind ae_kind_conv2d = {
    .name = "conv2d",
    .shape = conv_shape,
    .tensor_name = {"weight", "bias"},
    .n_stat = 0,
    .scratch_floats = conv_scratch,
    .init = conv_init,
    .forward = conv_forward,
    .grad_params = conv_grad_params,
    .param_rows = conv_param_rows,
    .grad_input = conv_grad_input,
    .forward_cols = NULL,
    .grad_input_cols = NULL,
    .batch_whole = 0,
    .fused_bias = 0,
    .gemm_mnk = conv_mnk,
};
