/* batchnorm: batch normalisation over a layer's units (torch.nn.BatchNorm1d, eps 1e-5,
 * momentum 0.1), followed by the block's activation: Y = act(gamma * xhat + beta).
 *   Training:  xhat = (x - mean_B) / sqrt(var_B + eps), with the batch's mean and biased
 *              variance per unit; the running statistics move toward the batch's:
 *              rm = (1 - momentum) rm + momentum mean_B,
 *              rv = (1 - momentum) rv + momentum var_B N / (N - 1) (unbiased; a batch of one
 *              row leaves rv alone, where torch refuses it).
 *   Inference: xhat = (x - rm) / sqrt(rv + eps): rows are independent.
 *   Backward (dz the gradient at gamma * xhat + beta, N rows):
 *              dbeta = sum_i dz_i,  dgamma = sum_i dz_i xhat_i,
 *              dx_i = gamma / (N sqrt(var_B + eps)) (N dz_i - dbeta - xhat_i dgamma).
 * The batch's statistics make a training batch one unit of work (batch_whole): the pass keeps
 * it on one chunk, its products threaded by OpenBLAS. */
#include "../layer.h"

#include <math.h>
#include <string.h>

#define BN_EPS 1e-5
#define BN_MOMENTUM 0.1f

static void bn_shape(const ae_layer *l, int t, size_t *rows, size_t *cols) {
    (void)t;
    *rows = l->out; /* gamma, beta: [out] */
    *cols = 0;
}

static void bn_init(ae_layer *l, ae_rng *rng) {
    (void)rng; /* no draws: a model's other layers get the bits they had without batch norm */
    for (size_t j = 0; j < l->out; j++) {
        l->w[j] = 1.0f;
        l->b[j] = 0.0f;
        l->stat[j] = 0.0f; /* running mean */
        l->stat[l->out + j] = 1.0f; /* running variance */
    }
}

/* The batch's mean and 1/std per unit into batch_stat, and the running statistics' update.
 * Row by row, so that the loops run along memory and vectorise; float sums, as torch's. */
static void batch_statistics(const ae_layer *l, const float *x, size_t rows) {
    const size_t n = l->out;
    float *mean = l->batch_stat, *inv = l->batch_stat + n, *rm = l->stat, *rv = l->stat + n;
    ae_col_sum(x, rows, n, n, mean);
    ae_scale(mean, n, 1.0f / (float)rows);
    memset(inv, 0, n * sizeof(float)); /* the squared deviations' sums, first */
    for (size_t i = 0; i < rows; i++) {
        const float *restrict xr = x + i * n;
        for (size_t j = 0; j < n; j++) {
            const float d = xr[j] - mean[j];
            inv[j] += d * d;
        }
    }
    for (size_t j = 0; j < n; j++) {
        const float sq = inv[j];
        inv[j] = (float)(1.0 / sqrt((double)sq / (double)rows + BN_EPS));
        rm[j] = (1.0f - BN_MOMENTUM) * rm[j] + BN_MOMENTUM * mean[j];
        if (rows > 1) rv[j] = (1.0f - BN_MOMENTUM) * rv[j] + BN_MOMENTUM * (float)((double)sq / (double)(rows - 1));
    }
}

static void bn_forward(const ae_layer *l, const float *x, size_t rows, float *y, int with_act, int train,
                       float *scratch) {
    (void)scratch;
    const size_t n = l->out;
    if (train) batch_statistics(l, x, rows);
    const float *mean = train ? l->batch_stat : l->stat;
    for (size_t i = 0; i < rows; i++) { /* y = gamma (x - mean) inv + beta */
        const float *restrict xr = x + i * n;
        float *restrict yr = y + i * n;
        for (size_t j = 0; j < n; j++) {
            const float inv = train ? l->batch_stat[n + j] : 1.0f / sqrtf(l->stat[n + j] + (float)BN_EPS);
            yr[j] = l->w[j] * ((xr[j] - mean[j]) * inv) + l->b[j];
        }
    }
    if (with_act) ae_act_forward(y, rows * n, l->act);
}

/* dgamma, dbeta over the whole batch (slice 0 of 1: a batch norm layer is one task). */
static void bn_grad_params(const ae_layer *l, const float *x, const float *dz, size_t rows, size_t s, size_t slices,
                           size_t chunks, float *scratch) {
    (void)chunks;
    (void)slices;
    (void)scratch;
    if (s) return;
    const size_t n = l->out;
    const float *mean = l->batch_stat, *inv = l->batch_stat + n;
    float *restrict dg = l->dw, *restrict db = l->db;
    memset(dg, 0, n * sizeof(float));
    memset(db, 0, n * sizeof(float));
    for (size_t i = 0; i < rows; i++) {
        const float *restrict xr = x + i * n, *restrict dr = dz + i * n;
        for (size_t j = 0; j < n; j++) {
            db[j] += dr[j];
            dg[j] += dr[j] * ((xr[j] - mean[j]) * inv[j]);
        }
    }
}

static size_t bn_param_rows(const ae_layer *l) { return l->out; }

/* dx from dz, dgamma and dbeta (grad_params ran first, over the same whole batch). */
static void bn_grad_input(const ae_layer *l, const float *x, const float *dz, size_t rows, float *dx, size_t ld_dx,
                          float *scratch) {
    (void)scratch;
    const size_t n = l->out;
    const float *mean = l->batch_stat, *inv = l->batch_stat + n, *dg = l->dw, *db = l->db;
    const float r = (float)rows;
    for (size_t i = 0; i < rows; i++) {
        const float *restrict xr = x + i * n, *restrict dr = dz + i * n;
        float *restrict out = dx + i * ld_dx;
        for (size_t j = 0; j < n; j++) {
            const float xhat = (xr[j] - mean[j]) * inv[j];
            out[j] = l->w[j] * inv[j] / r * (r * dr[j] - db[j] - xhat * dg[j]);
        }
    }
}

static double bn_mnk(const ae_layer *l, size_t rows) {
    (void)l;
    (void)rows;
    return 0.0; /* no products */
}

const ae_kind ae_kind_batchnorm = {
    .name = "batchnorm",
    .shape = bn_shape,
    .tensor_name = {"weight", "bias"},
    .n_stat = 2,
    .stat_name = {"running_mean", "running_var"},
    .init = bn_init,
    .forward = bn_forward,
    .grad_params = bn_grad_params,
    .param_rows = bn_param_rows,
    .grad_input = bn_grad_input,
    .forward_cols = NULL,
    .grad_input_cols = NULL,
    .batch_whole = 1,
    .gemm_mnk = bn_mnk,
};
