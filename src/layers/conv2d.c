/* conv2d: a 2-D convolution over NCHW images, one image a row (torch.nn.Conv2d with a square
 * odd kernel k, stride s, padding k / 2: h_out = ceil(h_in / s)), then the block's activation.
 * Weight W [c_out x c_in x k x k] (PyTorch's layout; as a matrix [c_out x K], K = c_in k k),
 * bias [c_out]. A call's images in groups (ae_conv_group: as many as keep a group's columns in
 * cache), a group's n images side by side (conv.h), with P = h_out w_out output pixels,
 * N = n P and cols = im2col of the group's images [K x N]:
 *   forward:      Y' [c_out x N] = W . cols,  Y = NCHW(Y') + b
 *   grad_params:  dW = sum over the batch's chunks and their groups of dZ' . cols^T,
 *                 db = sums of dZ
 *   grad_input:   dcols [K x N] = W^T . dZ',  dX = col2im(dcols)
 * (dZ' [c_out x N]: dZ gathered channel-major.) One sgemm per product and group.
 * Scratch, per row: 2 K P + 2 out floats and im2col's planes (ae_conv_planes); a call over m
 * rows lays its region out as
 *   cols [K P m] | dcols [K P m] | t [out m] | g [out m] | planes
 * forward leaves each group's cols in turn in the first part for grad_params, which finds
 * each chunk's region from the chunk count; the other parts hold one group at a time:
 * grad_input's dcols, t forward's Y' and grad_input's dZ', g grad_params' dZ' (each slice its
 * rows), so that a step's dW slices and dX chunks may run at once. Rows are independent: the
 * pass splits images across threads. */
#include "conv.h"

static size_t kdim(const ae_layer *l) { return l->c_in * l->kernel * l->kernel; }
static size_t pixels(const ae_layer *l) { return l->h_out * l->w_out; }
static ae_conv_geom geom(const ae_layer *l) {
    return (ae_conv_geom){l->c_in, l->h_in, l->w_in, l->h_out, l->w_out, l->kernel, l->stride};
}

/* Floats of a row's share of the scratch before the planes, and in all. */
static size_t before_planes(const ae_layer *l) { return 2 * kdim(l) * pixels(l) + 2 * l->out; }
static size_t per_row(const ae_layer *l) {
    const ae_conv_geom g = geom(l);
    return before_planes(l) + ae_conv_planes(&g);
}

static size_t conv_scratch(const ae_layer *l, size_t rows) { return rows * per_row(l); }

static void conv_shape(const ae_layer *l, int t, size_t *rows, size_t *cols) {
    *rows = l->c_out;
    *cols = t == 0 ? kdim(l) : 0;
}

/* PyTorch's Conv2d init: the weight [c_out, c_in, k, k]'s fan in is c_in k^2. */
static void conv_init(ae_layer *l, ae_rng *rng) { ae_layer_init_torch(l, rng, (double)kdim(l)); }

static void conv_forward(const ae_layer *l, const float *x, size_t rows, float *y, int with_act, int train,
                         float *scratch) {
    (void)train;
    const size_t K = kdim(l), P = pixels(l), G = ae_conv_group(K * P);
    const ae_conv_geom g = geom(l);
    float *t = scratch + 2 * K * P * rows, *planes = scratch + before_planes(l) * rows;
    ae_mat W = ae_mat_view(l->w, l->c_out, K);
    for (size_t q = 0; q < rows; q += G) {
        const size_t n = rows - q < G ? rows - q : G, N = n * P;
        float *cols = scratch + q * K * P;
        for (size_t i = 0; i < n; i++) ae_im2col(&g, x + (q + i) * l->in, cols + i * P, N, planes);
        /* Y' [c_out x N] = W [c_out x K] . cols [K x N] */
        ae_mat C = ae_mat_view(cols, K, N), Y = ae_mat_view(t, l->c_out, N);
        ae_gemm(0, 0, 1.0f, &W, &C, 0.0f, &Y);
        ae_conv_scatter(t, n, l->c_out, P, l->b, y + q * l->out, l->out);
        if (with_act) ae_act_forward(y + q * l->out, n * l->out, l->act);
    }
}

/* Slice s: output channels [o0, o1) of dW and db, chunk by chunk and group by group, from the
 * cols the forward pass left in each chunk's region. */
static void conv_grad_params(const ae_layer *l, const float *x, const float *dz, size_t rows, size_t s, size_t slices,
                             size_t chunks, float *scratch) {
    (void)x;
    const size_t K = kdim(l), P = pixels(l), G = ae_conv_group(K * P);
    size_t o0, o1;
    ae_split(l->c_out, (int)s, (int)slices, 1, &o0, &o1);
    if (o1 <= o0) return;
    for (size_t c = o0; c < o1; c++) l->db[c] = 0.0f;
    ae_mat dW = ae_mat_view(l->dw + o0 * K, o1 - o0, K);
    float beta = 0.0f;
    for (size_t ch = 0; ch < chunks; ch++) {
        size_t a, b;
        ae_split(rows, (int)ch, (int)chunks, 1, &a, &b);
        float *region = scratch + a * per_row(l), *g = region + 2 * K * P * (b - a) + (b - a) * l->out;
        for (size_t q = 0; q < b - a; q += G) {
            const size_t n = b - a - q < G ? b - a - q : G, N = n * P;
            ae_conv_gather(dz + (a + q) * l->out, n, l->out, o0, o1, P, g + o0 * N, l->db + o0);
            /* dW[o0:o1, :] [(o1-o0) x K] (+)= dZ'[o0:o1, :] [(o1-o0) x N] . cols^T [N x K] */
            ae_mat D = ae_mat_view(g + o0 * N, o1 - o0, N), C = ae_mat_view(region + q * K * P, K, N);
            ae_gemm(0, 1, 1.0f, &D, &C, beta, &dW);
            beta = 1.0f;
        }
    }
}

static size_t conv_param_rows(const ae_layer *l) { return l->c_out; }

static void conv_grad_input(const ae_layer *l, const float *x, const float *dz, size_t rows, float *dx, size_t ld_dx,
                            float *scratch) {
    (void)x;
    const size_t K = kdim(l), P = pixels(l), G = ae_conv_group(K * P);
    const ae_conv_geom g = geom(l);
    float *dcols = scratch + K * P * rows, *t = dcols + K * P * rows, *planes = scratch + before_planes(l) * rows;
    ae_mat W = ae_mat_view(l->w, l->c_out, K);
    for (size_t q = 0; q < rows; q += G) {
        const size_t n = rows - q < G ? rows - q : G, N = n * P;
        ae_conv_gather(dz + q * l->out, n, l->out, 0, l->c_out, P, t, NULL);
        /* dcols [K x N] = W^T [K x c_out] . dZ' [c_out x N] */
        ae_mat dZ = ae_mat_view(t, l->c_out, N), D = ae_mat_view(dcols, K, N);
        ae_gemm(1, 0, 1.0f, &W, &dZ, 0.0f, &D);
        for (size_t i = 0; i < n; i++) ae_col2im(&g, dcols + i * P, N, dx + (q + i) * ld_dx, planes);
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
