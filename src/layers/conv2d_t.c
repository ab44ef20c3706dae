/* conv2d_t: a 2-D transposed convolution over NCHW images, one image a row
 * (torch.nn.ConvTranspose2d, square odd kernel k, stride s, padding k / 2, and the output
 * padding h_out - 1 - (h_in - 1) s that restores the exact shape its mirror conv2d took in:
 * h_in = ceil(h_out / s)), then the block's activation. The adjoint of conv2d's product.
 * Weight W [c_in x c_out x k x k] (PyTorch's layout for ConvTranspose2d; as a matrix
 * [c_in x K], K = c_out k k), bias [c_out]. A call's images in groups (ae_conv_group), a
 * group's n images side by side (conv.h), with P = h_in w_in input pixels and N = n P; X'
 * [c_in x N] is the group's X gathered channel-major:
 *   forward:      cols [K x N] = W^T . X',  Y = col2im(cols) + b   [c_out x h_out w_out each]
 *   grad_input:   dcols [K x N] = im2col(dZ),  dX = NCHW(W . dcols)
 *   grad_params:  dW = sum over the batch's chunks and their groups of X' . dcols^T,
 *                 db = sums of dZ
 * One sgemm per product and group. grad_input runs first (input_first), for every chunk, and
 * leaves dcols for grad_params, which so needs no im2col of its own.
 * Scratch, per row: 2 in + K P floats and im2col's planes (ae_conv_planes); a call over m rows
 * lays its region out as
 *   X' [in m] | cols [K P m] | dX' [in m] | planes
 * group after group: forward leaves every group's X' for grad_params (cols holds one group's
 * at a time), grad_input every group's dcols (dX' one group's at a time); grad_params finds
 * each chunk's region from the chunk count. Rows are independent: the pass splits images
 * across threads. */
#include "conv.h"

static size_t kdim(const ae_layer *l) { return l->c_out * l->kernel * l->kernel; }
static size_t pixels(const ae_layer *l) { return l->h_in * l->w_in; }
/* The big image is the output, the small grid the input. */
static ae_conv_geom geom(const ae_layer *l) {
    return (ae_conv_geom){l->c_out, l->h_out, l->w_out, l->h_in, l->w_in, l->kernel, l->stride};
}

/* Floats of a row's share of the scratch before the planes, and in all. */
static size_t before_planes(const ae_layer *l) { return 2 * l->in + kdim(l) * pixels(l); }
static size_t per_row(const ae_layer *l) {
    const ae_conv_geom g = geom(l);
    return before_planes(l) + ae_conv_planes(&g);
}

static size_t convt_scratch(const ae_layer *l, size_t rows) { return rows * per_row(l); }

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
    const size_t K = kdim(l), P = pixels(l), G = ae_conv_group(K * P);
    const ae_conv_geom g = geom(l);
    float *cols = scratch + rows * l->in, *planes = scratch + before_planes(l) * rows;
    ae_mat W = ae_mat_view(l->w, l->c_in, K);
    for (size_t q = 0; q < rows; q += G) {
        const size_t n = rows - q < G ? rows - q : G, N = n * P;
        float *xs = scratch + q * l->in;
        ae_conv_gather(x + q * l->in, n, l->in, 0, l->c_in, P, xs, NULL);
        /* cols [K x N] = W^T [K x c_in] . X' [c_in x N] */
        ae_mat X = ae_mat_view(xs, l->c_in, N), C = ae_mat_view(cols, K, N);
        ae_gemm(1, 0, 1.0f, &W, &X, 0.0f, &C);
        for (size_t i = 0; i < n; i++) ae_col2im(&g, cols + i * P, N, y + (q + i) * l->out, planes);
        ae_conv_bias_act(l, y + q * l->out, n, l->c_out, l->h_out * l->w_out, with_act);
    }
}

/* Slice s: input channels [i0, i1) of dW, chunk by chunk and group by group, from the X' and
 * dcols that forward and grad_input left in each chunk's region; output channels [o0, o1) of
 * db. */
static void convt_grad_params(const ae_layer *l, const float *x, const float *dz, size_t rows, size_t s, size_t slices,
                              size_t chunks, float *scratch) {
    (void)x;
    const size_t K = kdim(l), P = pixels(l), G = ae_conv_group(K * P);
    size_t i0, i1, o0, o1;
    ae_split(l->c_in, (int)s, (int)slices, 1, &i0, &i1);
    ae_split(l->c_out, (int)s, (int)slices, 1, &o0, &o1);
    ae_mat dW = ae_mat_view(l->dw + i0 * K, i1 - i0, K);
    float beta = 0.0f;
    for (size_t ch = 0; ch < chunks && i1 > i0; ch++) {
        size_t a, b;
        ae_split(rows, (int)ch, (int)chunks, 1, &a, &b);
        float *region = scratch + a * per_row(l), *dcols = region + (b - a) * l->in;
        for (size_t q = 0; q < b - a; q += G) {
            const size_t n = b - a - q < G ? b - a - q : G, N = n * P;
            /* dW[i0:i1, :] [(i1-i0) x K] (+)= X'[i0:i1, :] [(i1-i0) x N] . dcols^T [N x K] */
            ae_mat X = ae_mat_view(region + q * l->in + i0 * N, i1 - i0, N);
            ae_mat D = ae_mat_view(dcols + q * K * P, K, N);
            ae_gemm(0, 1, 1.0f, &X, &D, beta, &dW);
            beta = 1.0f;
        }
    }
    ae_conv_grad_bias(l, dz, rows, l->h_out * l->w_out, o0, o1);
}

static size_t convt_param_rows(const ae_layer *l) { return l->c_in; }

/* dcols for every group (grad_params reads them), and dX where it is wanted (dx not NULL). */
static void convt_grad_input(const ae_layer *l, const float *x, const float *dz, size_t rows, float *dx, size_t ld_dx,
                             float *scratch) {
    (void)x;
    const size_t K = kdim(l), P = pixels(l), G = ae_conv_group(K * P);
    const ae_conv_geom g = geom(l);
    float *dxs = scratch + rows * (l->in + K * P), *planes = scratch + before_planes(l) * rows;
    ae_mat W = ae_mat_view(l->w, l->c_in, K);
    for (size_t q = 0; q < rows; q += G) {
        const size_t n = rows - q < G ? rows - q : G, N = n * P;
        float *dcols = scratch + rows * l->in + q * K * P;
        for (size_t i = 0; i < n; i++) ae_im2col(&g, dz + (q + i) * l->out, dcols + i * P, N, planes);
        if (!dx) continue;
        /* dX' [c_in x N] = W [c_in x K] . dcols [K x N] */
        ae_mat D = ae_mat_view(dcols, K, N), dX = ae_mat_view(dxs, l->c_in, N);
        ae_gemm(0, 0, 1.0f, &W, &D, 0.0f, &dX);
        ae_conv_scatter(dxs, n, l->c_in, P, NULL, dx + q * ld_dx, ld_dx);
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
    .input_first = 1,
};
