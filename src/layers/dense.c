/* dense: Y = act(X . W^T + b), the fully connected layer (torch.nn.Linear), and its kind
 * entry. Every product goes through ae_gemm; the shapes and transposes are beside each. */
#include "../layer.h"

#include <math.h>

#include "../pool.h"

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

/* ---- the kind entry ---- */

static void dense_shape(const ae_layer *l, int t, size_t *rows, size_t *cols) {
    if (t == 0) { /* a tied decoder's weight belongs to its encoder layer */
        *rows = l->w_transposed ? 0 : l->out;
        *cols = l->in;
    } else {
        *rows = l->out;
        *cols = 0;
    }
}

static int is_relu_family(ae_activation a) { return a == AE_ACT_RELU || a == AE_ACT_LEAKY_RELU; }

/* He-uniform (ReLU family) or Glorot-uniform weights, as the block's activation asks; biases
 * stay 0. In a conv model (torch_init), torch.nn.Linear's init instead. */
static void dense_init(ae_layer *l, ae_rng *rng) {
    if (l->w_transposed) return;
    if (l->torch_init) {
        ae_layer_init_torch(l, rng, (double)l->in);
        return;
    }
    const double bound = is_relu_family(l->init_act) ? sqrt(6.0 / (double)l->in) : sqrt(6.0 / (double)(l->in + l->out));
    const size_t count = l->in * l->out;
    for (size_t i = 0; i < count; i++) l->w[i] = (float)((2.0 * ae_rng_uniform(rng) - 1.0) * bound);
}

static void dense_forward(const ae_layer *l, const float *x, size_t rows, float *y, int with_act, int train,
                          float *scratch) {
    (void)train;
    (void)scratch;
    ae_layer_forward(l, x, rows, y, with_act);
}

/* Slice s: rows of the stored dW and columns of db, no fewer than 16 each. */
static void dense_grad_params(const ae_layer *l, const float *x, const float *dz, size_t rows, size_t s, size_t slices,
                              size_t chunks, float *scratch) {
    (void)chunks;
    (void)scratch;
    size_t r0, r1, c0, c1;
    ae_split(ae_layer_dw_rows(l), (int)s, (int)slices, 16, &r0, &r1);
    ae_layer_grad_w(l, x, dz, rows, r0, r1);
    ae_split(l->out, (int)s, (int)slices, 16, &c0, &c1);
    ae_layer_grad_b(l, dz, rows, c0, c1);
}

static void dense_grad_input(const ae_layer *l, const float *x, const float *dz, size_t rows, float *dx, size_t ld_dx,
                             float *scratch) {
    (void)x;
    (void)scratch;
    ae_layer_grad_x(l, dz, rows, dx, ld_dx);
}

/* Columns [c0, c1) of the output for every row: the product, then (with_act) bias and act. */
static void dense_forward_cols(const ae_layer *l, const float *x, size_t rows, float *y, size_t c0, size_t c1,
                               int with_act) {
    ae_mat X = ae_mat_view((float *)x, rows, l->in);
    ae_mat Y = {rows, c1 - c0, l->out, y + c0};
    if (!l->w_transposed) {
        /* Y[:, c0:c1] [rows x (c1-c0)] = X [rows x in] . W[c0:c1, :]^T, W [out x in] */
        ae_mat W = ae_mat_view(l->w + c0 * l->in, c1 - c0, l->in);
        ae_gemm(0, 1, 1.0f, &X, &W, 0.0f, &Y);
    } else {
        /* Y[:, c0:c1] [rows x (c1-c0)] = X [rows x in] . Wt[:, c0:c1], Wt [in x out] */
        ae_mat Wt = {l->in, c1 - c0, l->out, l->w + c0};
        ae_gemm(0, 0, 1.0f, &X, &Wt, 0.0f, &Y);
    }
    if (with_act)
        for (size_t i = 0; i < rows; i++) ae_bias_act(y + i * l->out + c0, l->b + c0, 1, c1 - c0, l->act);
}

/* Columns [c0, c1) of dX = dZ . W for every row (dX's rows `in` floats apart). */
static void dense_grad_input_cols(const ae_layer *l, const float *dz, size_t rows, float *dx, size_t c0, size_t c1) {
    ae_mat dZ = ae_mat_view((float *)dz, rows, l->out);
    ae_mat dX = {rows, c1 - c0, l->in, dx + c0};
    if (!l->w_transposed) {
        /* dX[:, c0:c1] [rows x (c1-c0)] = dZ [rows x out] . W[:, c0:c1], W [out x in] */
        ae_mat W = {l->out, c1 - c0, l->in, l->w + c0};
        ae_gemm(0, 0, 1.0f, &dZ, &W, 0.0f, &dX);
    } else {
        /* dX[:, c0:c1] [rows x (c1-c0)] = dZ [rows x out] . Wt[c0:c1, :]^T, Wt [in x out] */
        ae_mat Wt = ae_mat_view(l->w + c0 * l->out, c1 - c0, l->out);
        ae_gemm(0, 1, 1.0f, &dZ, &Wt, 0.0f, &dX);
    }
}

static double dense_mnk(const ae_layer *l, size_t rows) { return (double)rows * (double)l->in * (double)l->out; }

const ae_kind ae_kind_dense = {
    .name = "dense",
    .shape = dense_shape,
    .tensor_name = {"weight", "bias"},
    .n_stat = 0,
    .init = dense_init,
    .forward = dense_forward,
    .grad_params = dense_grad_params,
    .param_rows = ae_layer_dw_rows,
    .grad_input = dense_grad_input,
    .forward_cols = dense_forward_cols,
    .grad_input_cols = dense_grad_input_cols,
    .batch_whole = 0,
    .fused_bias = 1,
    .gemm_mnk = dense_mnk,
};
