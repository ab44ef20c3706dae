#define _POSIX_C_SOURCE 200809L
#include "train.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "io_file.h"
#include "loss.h"
#include "optim.h"
#include "plan.h"
#include "pool.h"

ae_train_opts ae_train_opts_default(void) {
    ae_train_opts o;
    memset(&o, 0, sizeof o);
    o.epochs = 10;
    o.batch_size = 128;
    o.shuffle = 1;
    o.optimizer = AE_OPT_ADAM;
    o.learning_rate = 1e-3f;
    o.momentum = 0.0f;
    o.beta1 = 0.9f;
    o.beta2 = 0.999f;
    o.eps = 1e-8f;
    o.loss = AE_LOSS_MSE;
    o.noise = AE_NOISE_NONE;
    o.sparsity_target = 0.05f;
    o.kl_weight = 1.0f;
    return o;
}

static int is_hidden(const ae_model *m, size_t l) { return l + 1 != m->n_enc && l + 1 != m->n_layers; }
static size_t vae_head(const ae_model *m) { return m->cfg.variational ? m->n_enc - 1 : (size_t)-1; }

int ae_work_init(ae_work *w, const ae_model *m, size_t cap, const ae_pass_cfg *cfg) {
    memset(w, 0, sizeof *w);
    const size_t d = m->cfg.input_dim, k = m->cfg.code_dim, L = m->n_layers;
    const int noise = cfg->train && cfg->noise != AE_NOISE_NONE, drop = cfg->train && cfg->dropout > 0.0f;
    /* Sizes in floats, in carving order: act[L], mask[L], delta[2], batch, noisy, eps, z, index
     * (uint32_t, the size of a float).
     * Each piece is rounded to whole 64-byte lines so every view stays aligned. */
    size_t sizes[2 * AE_MAX_LAYERS + 7], n = 0, total = 0;
    for (size_t l = 0; l < L; l++) sizes[n++] = cap * m->layer[l].out;
    for (size_t l = 0; l < L; l++) sizes[n++] = drop && is_hidden(m, l) ? cap * m->layer[l].out : 0;
    sizes[n++] = cap * m->max_width;
    sizes[n++] = cap * m->max_width;
    sizes[n++] = cap * d;
    sizes[n++] = noise ? cap * d : 0;
    sizes[n++] = m->cfg.variational ? cap * k : 0;
    sizes[n++] = m->cfg.variational ? cap * k : 0;
    sizes[n++] = cap;
    for (size_t i = 0; i < n; i++) {
        sizes[i] = (sizes[i] + 15) & ~(size_t)15;
        total += sizes[i];
    }
    w->block = ae_calloc(total, sizeof(float));
    if (!w->block) return AE_ENOMEM;
    float *p = w->block;
    size_t i = 0;
#define CARVE(dst) do { dst = sizes[i] ? p : NULL; p += sizes[i++]; } while (0)
    for (size_t l = 0; l < L; l++) CARVE(w->act[l]);
    for (size_t l = 0; l < L; l++) CARVE(w->mask[l]);
    CARVE(w->delta[0]);
    CARVE(w->delta[1]);
    CARVE(w->batch);
    CARVE(w->noisy);
    CARVE(w->eps);
    CARVE(w->z);
    w->index = (uint32_t *)p;
    p += sizes[i++];
#undef CARVE
    w->cap = cap;
    return AE_OK;
}

void ae_work_free(ae_work *w) {
    ae_dealloc(w->block);
    memset(w, 0, sizeof *w);
}

ae_pass_cfg ae_pass_cfg_from(const ae_train_opts *o) {
    ae_pass_cfg c;
    c.loss = o->loss;
    c.train = 1;
    c.noise = o->noise;
    c.noise_level = o->noise_level;
    c.dropout = o->dropout;
    c.sparsity_target = o->sparsity_target;
    c.sparsity_weight = o->sparsity_weight;
    c.kl_weight = o->kl_weight;
    return c;
}

/* Denoising: Gaussian noise (clipped to [0,1] before a sigmoid output) or masking. */
static void corrupt(ae_model *m, const ae_pass_cfg *c, const float *x, float *out, size_t n) {
    if (c->noise == AE_NOISE_GAUSSIAN) {
        ae_rng_fill_normal(&m->rng, out, n);
        const float s = c->noise_level;
        if (m->cfg.output_act == AE_ACT_SIGMOID) {
            for (size_t i = 0; i < n; i++) out[i] = fminf(fmaxf(x[i] + s * out[i], 0.0f), 1.0f);
        } else {
            for (size_t i = 0; i < n; i++) out[i] = x[i] + s * out[i];
        }
    } else {
        for (size_t i = 0; i < n; i++) out[i] = ae_rng_uniform(&m->rng) < c->noise_level ? 0.0f : x[i];
    }
}

/* Inverted dropout: each unit kept with probability keep and scaled by 1/keep. The mask is
 * drawn apart from its use so that a row-split pass can draw it before splitting. */
static void dropout_draw(ae_model *m, float *mask, size_t n, float keep) {
    const float scale = 1.0f / keep;
    for (size_t i = 0; i < n; i++) mask[i] = ae_rng_uniform(&m->rng) < keep ? scale : 0.0f;
}

static void dropout_apply(float *restrict a, const float *restrict mask, size_t n) {
    for (size_t i = 0; i < n; i++) a[i] *= mask[i];
}

/* VAE: z = mu + exp(logvar / 2) eps for rows [r0, r1) of the head's [rows x 2k] output h (eps
 * drawn before); returns the KL divergence to N(0, I) summed over these rows and the code. */
static double vae_sample_rows(const ae_model *m, const float *h, const float *eps, float *z, size_t r0, size_t r1) {
    const size_t k = m->cfg.code_dim;
    double kl = 0.0;
    for (size_t i = r0; i < r1; i++) {
        const float *mu = h + i * 2 * k, *lv = mu + k;
        for (size_t j = 0; j < k; j++) {
            float sd = expf(0.5f * lv[j]);
            z[i * k + j] = mu[j] + sd * eps[i * k + j];
            kl += -0.5 * (1.0 + lv[j] - (double)mu[j] * mu[j] - (double)sd * sd);
        }
    }
    return kl;
}

/* VAE backward through the sampling for rows [r0, r1) of buf [rows x 2k], whose first k
 * columns hold the code's gradient dz: each row becomes the head's gradient in place, plus
 * the KL term's gradient with c = kl_weight / (rows d):
 *   dmu = dz + c mu;   dlogvar = dz eps exp(logvar / 2) / 2 + c (exp(logvar) - 1) / 2. */
static void vae_backward_rows(const ae_model *m, const float *h, const float *eps, float *buf, size_t r0, size_t r1,
                              float c) {
    const size_t k = m->cfg.code_dim;
    for (size_t i = r0; i < r1; i++) {
        const float *mu = h + i * 2 * k, *lv = mu + k;
        for (size_t j = 0; j < k; j++) {
            float dz = buf[i * 2 * k + j], sd = expf(0.5f * lv[j]);
            buf[i * 2 * k + k + j] = 0.5f * dz * eps[i * k + j] * sd + 0.5f * c * (sd * sd - 1.0f);
            buf[i * 2 * k + j] = dz + c * mu[j];
        }
    }
}

/* L1 sparsity on n code activations: returns sum |a|; with grad, adds g sign(a) to it. */
static double l1_sum(const float *a, size_t n, float *grad, float g) {
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        sum += fabsf(a[i]);
        if (grad) grad[i] += a[i] > 0.0f ? g : a[i] < 0.0f ? -g : 0.0f;
    }
    return sum;
}

/* The sparsity penalty's share of rows [r0, r1) of the code activations a [rows x k], and
 * (when grad, the batch's [rows x k] gradient, is not NULL) its gradient added there. Sigmoid
 * code: weight * sum_j KL(rho || rho_j), rho_j the batch mean of unit j, which needs the whole
 * batch (r0 = 0, r1 = rows; see ae_pass_split_covers); any other code: weight * mean over the
 * batch's rows of sum_j |a_ij|. */
static double sparsity(const ae_model *m, const ae_pass_cfg *c, const float *a, size_t rows, size_t r0, size_t r1,
                       float *grad) {
    const size_t k = m->cfg.code_dim;
    const double w = c->sparsity_weight;
    double penalty = 0.0;
    if (m->cfg.code_act == AE_ACT_SIGMOID) {
        const double rho = c->sparsity_target;
        for (size_t j = 0; j < k; j++) {
            double mean = 0.0;
            for (size_t i = 0; i < rows; i++) mean += a[i * k + j];
            mean /= (double)rows;
            mean = fmin(fmax(mean, 1e-7), 1.0 - 1e-7); /* a saturated sigmoid must not give log(0) */
            penalty += rho * log(rho / mean) + (1.0 - rho) * log((1.0 - rho) / (1.0 - mean));
            if (grad) {
                float g = (float)(w * (-rho / mean + (1.0 - rho) / (1.0 - mean)) / (double)rows);
                for (size_t i = 0; i < rows; i++) grad[i * k + j] += g;
            }
        }
    } else {
        penalty = l1_sum(a + r0 * k, (r1 - r0) * k, grad ? grad + r0 * k : NULL, (float)(w / (double)rows)) /
                  (double)rows;
    }
    return w * penalty;
}

/* ---- The pass: tasks in phases, on one thread or taken by a pool's threads. ----
 *
 * The batch's rows are cut into `chunks` fixed row chunks (ae_split; one chunk on one thread).
 * Phase 0 runs one task per chunk: gather its rows, the forward pass, the loss and the output
 * gradient dZ for them; no chunk touches another's rows. Then one phase per layer, last layer
 * first, once dZ_l is complete for every row: tasks for slices of the stored dW's rows and of
 * db's columns (over the whole batch), and one task per row chunk for dA_{l-1} = dZ_l . W_l
 * and dZ_{l-1} (act', dropout, a VAE's sampling, sparsity). Each task's products are whole
 * one-thread sgemm calls, its boundaries fixed by the chunk count alone, and the per-chunk
 * loss parts are added in chunk order: the pass gives the same bits whichever thread ran
 * which task, and with any number of threads (ae_pool). With one chunk the tasks are the
 * products of a plain serial pass.
 *
 * The two delta buffers: layer l's phase reads dZ_l from delta[cur] and writes dA_{l-1} into
 * delta[cur ^ 1]; delta[cur] is written again only two phases later, after every task that
 * reads it has finished. */

int ae_pass_split_covers(const ae_model *m, const ae_pass_cfg *c) {
    return !(c->sparsity_weight > 0.0f && m->cfg.code_act == AE_ACT_SIGMOID);
}

/* Rows [a, b) of the batch: dst row i = src row idx[i]. */
static void gather_rows(float *dst, const float *src, const uint32_t *idx, size_t a, size_t b, size_t d) {
    for (size_t i = a; i < b; i++) memcpy(dst + i * d, src + (size_t)idx[i] * d, d * sizeof(float));
}

typedef struct pass_job {
    ae_model *m;
    ae_work *w;
    const float *x;        /* the batch, or with idx the rows to gather from */
    const uint32_t *idx;   /* NULL, or batch row i is x row idx[i], gathered into w->batch */
    const float *target;   /* NULL: the (gathered) batch itself */
    const float *noisy;    /* NULL, or the corrupted batch the forward pass starts from */
    size_t rows, chunks;
    const ae_pass_cfg *c;
    int backward;
    float *dx;             /* NULL, or dLoss/dx [rows x input_dim] */
    int by_cols;           /* the column layout (pass_layout) */
    /* backward phase of layer l: its dW/db slices, then (with dx_tasks[l]) its dX tasks; with
     * by_cols, out_slices[l] column slices of layer l's output in its forward phase */
    uint32_t slices[AE_MAX_LAYERS], dx_tasks[AE_MAX_LAYERS], out_slices[AE_MAX_LAYERS];
    uint32_t phase_end[2 * AE_MAX_LAYERS + 3], phases;
    unsigned char phase_kind[2 * AE_MAX_LAYERS + 3], phase_layer[2 * AE_MAX_LAYERS + 3];
    /* each chunk's share: summed reconstruction loss, summed KL divergence, sparsity penalty */
    double loss[AE_MAX_CHUNKS], kl[AE_MAX_CHUNKS], sparsity[AE_MAX_CHUNKS];
} pass_job;

static const float *pass_input(const pass_job *j) { return j->noisy ? j->noisy : j->idx ? j->w->batch : j->x; }

/* Phase 0, chunk ch: rows [a, b) forward, A_l = act(A_{l-1} . W_l^T + b_l), with the dropout
 * masks and a VAE's eps drawn before (pass_draws); the output layer stops at Z = A . W^T, and
 * the loss (and dZ at the output) of these rows. */
static void forward_chunk(pass_job *j, size_t ch) {
    const ae_model *m = j->m;
    const ae_pass_cfg *c = j->c;
    ae_work *w = j->w;
    const size_t L = m->n_layers, rows = j->rows, d = m->cfg.input_dim, k = m->cfg.code_dim;
    const size_t code = m->n_enc - 1, head = vae_head(m);
    const int drop = c->train && c->dropout > 0.0f;
    const ae_layer *out = &m->layer[L - 1];
    size_t a, b;
    ae_split(rows, (int)ch, (int)j->chunks, 1, &a, &b);
    const size_t mine = b - a;
    if (j->idx && !j->noisy) gather_rows(w->batch, j->x, j->idx, a, b, d); /* into this task's cache */
    const float *in = pass_input(j), *target = j->target ? j->target : j->idx ? w->batch : j->x;
    const float *src = in + a * d;
    j->kl[ch] = j->sparsity[ch] = j->loss[ch] = 0.0;
    if (!mine) return;
    for (size_t l = 0; l + 1 < L; l++) {
        const size_t width = m->layer[l].out;
        float *y = w->act[l] + a * width;
        ae_layer_forward(&m->layer[l], src, mine, y, 1);
        src = y;
        if (l == head) {
            j->kl[ch] = vae_sample_rows(m, w->act[l], w->eps, w->z, a, b);
            src = w->z + a * k;
        } else if (drop && is_hidden(m, l)) {
            dropout_apply(y, w->mask[l] + a * width, mine * width);
        }
    }
    if (c->sparsity_weight > 0.0f) j->sparsity[ch] = sparsity(m, c, w->act[code], rows, a, b, NULL);
    float *dz = j->backward ? w->delta[0] + a * d : NULL;
    float *z = w->act[L - 1] + a * d;
    ae_layer_forward(out, src, mine, z, 0);
    j->loss[ch] = ae_loss_output_sum(c->loss, out->act, z, out->b, target + a * d, mine, out->out, dz, NULL,
                                     1.0f / ((float)rows * (float)d));
}

/* Layer l's dW rows and db columns, slice s of j->slices[l], over every row of dZ_l. */
static void grad_w_slice(pass_job *j, size_t l, size_t s) {
    const ae_model *m = j->m;
    const ae_layer *lay = &m->layer[l];
    ae_work *w = j->w;
    const size_t head = vae_head(m), cur = (m->n_layers - 1 - l) & 1;
    const float *input = l == 0 ? pass_input(j) : l - 1 == head ? w->z : w->act[l - 1];
    size_t r0, r1, c0, c1;
    ae_split(ae_layer_dw_rows(lay), (int)s, (int)j->slices[l], 16, &r0, &r1);
    ae_layer_grad_w(lay, input, w->delta[cur], j->rows, r0, r1);
    ae_split(lay->out, (int)s, (int)j->slices[l], 16, &c0, &c1);
    ae_layer_grad_b(lay, w->delta[cur], j->rows, c0, c1);
}

/* Chunk ch's rows: dA_q = dZ_l . W_l (q = l - 1), then dZ_q: through a VAE's sampling, or the
 * sparsity gradient, dropout mask and act'(A_q); below the first layer, dLoss/dx. */
static void grad_x_chunk(pass_job *j, size_t l, size_t ch) {
    const ae_model *m = j->m;
    const ae_pass_cfg *c = j->c;
    const ae_layer *lay = &m->layer[l];
    ae_work *w = j->w;
    const size_t rows = j->rows, code = m->n_enc - 1, head = vae_head(m), cur = (m->n_layers - 1 - l) & 1;
    size_t a, b;
    ae_split(rows, (int)ch, (int)j->chunks, 1, &a, &b);
    const size_t mine = b - a;
    if (!mine) return;
    const float *dz = w->delta[cur] + a * lay->out;
    if (l == 0) {
        ae_layer_grad_x(lay, dz, mine, j->dx + a * m->cfg.input_dim, m->cfg.input_dim);
        return;
    }
    const size_t q = l - 1, width = m->layer[q].out;
    float *next = w->delta[cur ^ 1];
    if (q == head) { /* dz [k] into the first half of the head's [2k] rows */
        ae_layer_grad_x(lay, dz, mine, next + a * width, width);
        vae_backward_rows(m, w->act[q], w->eps, next, a, b, c->kl_weight / ((float)rows * (float)m->cfg.input_dim));
        return;
    }
    float *mine_next = next + a * width;
    const float *act = w->act[q] + a * width;
    ae_layer_grad_x(lay, dz, mine, mine_next, lay->in);
    if (c->sparsity_weight > 0.0f && q == code) sparsity(m, c, w->act[q], rows, a, b, next);
    if (c->train && c->dropout > 0.0f && is_hidden(m, q))
        ae_dropout_act_backward(mine_next, act, w->mask[q] + a * width, mine * width, m->layer[q].act,
                                1.0f - c->dropout);
    else
        ae_act_backward(mine_next, act, mine * width, m->layer[q].act);
}

/* ---- The column layout, for large layers: each product cut by its output's columns. ----
 *
 * With rows cut into chunks, every thread packs a whole weight matrix for a few rows; when
 * the weights are large that packing costs as much as the product. Cut by columns instead,
 * each thread packs only its slice of the weights, for every row of the batch, as OpenBLAS's
 * own threads do. The layout: a phase to gather the batch (chunks of rows); per layer, one
 * forward phase of column slices of A_l (the product, then bias and act on the slice); a loss
 * phase (row chunks); per layer backward, dW/db slices and column slices of dA_{l-1} with
 * act'. For plain configurations only (pass_cols_covers): no dropout, VAE or sparsity. */

static int pass_cols_covers(const ae_model *m, const ae_pass_cfg *c) {
    return !m->cfg.variational && !(c->train && c->dropout > 0.0f) && !(c->sparsity_weight > 0.0f);
}

enum { PH_ROWS_FORWARD, PH_GATHER, PH_COLS_FORWARD, PH_LOSS, PH_BACKWARD };

/* Batch rows of chunk ch gathered into w->batch. */
static void gather_chunk(pass_job *j, size_t ch) {
    size_t a, b;
    ae_split(j->rows, (int)ch, (int)j->chunks, 1, &a, &b);
    gather_rows(j->w->batch, j->x, j->idx, a, b, j->m->cfg.input_dim);
}

/* Columns [c0, c1) of layer l's output for every row: the product, then (below the output
 * layer) bias and act. */
static void forward_cols(pass_job *j, size_t l, size_t s) {
    const ae_model *m = j->m;
    const ae_layer *lay = &m->layer[l];
    ae_work *w = j->w;
    size_t c0, c1;
    ae_split(lay->out, (int)s, (int)j->out_slices[l], 16, &c0, &c1);
    if (c1 <= c0) return;
    const float *in = l == 0 ? pass_input(j) : w->act[l - 1];
    float *y = w->act[l];
    ae_mat X = ae_mat_view((float *)in, j->rows, lay->in);
    ae_mat Y = {j->rows, c1 - c0, lay->out, y + c0};
    if (!lay->w_transposed) {
        /* Y[:, c0:c1] [rows x (c1-c0)] = X [rows x in] . W[c0:c1, :]^T, W [out x in] */
        ae_mat W = ae_mat_view(lay->w + c0 * lay->in, c1 - c0, lay->in);
        ae_gemm(0, 1, 1.0f, &X, &W, 0.0f, &Y);
    } else {
        /* Y[:, c0:c1] [rows x (c1-c0)] = X [rows x in] . Wt[:, c0:c1], Wt [in x out] */
        ae_mat Wt = {lay->in, c1 - c0, lay->out, lay->w + c0};
        ae_gemm(0, 0, 1.0f, &X, &Wt, 0.0f, &Y);
    }
    if (l + 1 < m->n_layers)
        for (size_t i = 0; i < j->rows; i++) ae_bias_act(y + i * lay->out + c0, lay->b + c0, 1, c1 - c0, lay->act);
}

/* The loss (and dZ at the output) of chunk ch's rows, from the output layer's Z. */
static void loss_chunk(pass_job *j, size_t ch) {
    const ae_model *m = j->m;
    ae_work *w = j->w;
    const size_t L = m->n_layers, d = m->cfg.input_dim;
    const ae_layer *out = &m->layer[L - 1];
    size_t a, b;
    ae_split(j->rows, (int)ch, (int)j->chunks, 1, &a, &b);
    j->kl[ch] = j->sparsity[ch] = j->loss[ch] = 0.0;
    if (b <= a) return;
    const float *target = j->target ? j->target : j->idx ? w->batch : j->x;
    j->loss[ch] = ae_loss_output_sum(j->c->loss, out->act, w->act[L - 1] + a * d, out->b, target + a * d, b - a,
                                     out->out, j->backward ? w->delta[0] + a * d : NULL, NULL,
                                     1.0f / ((float)j->rows * (float)d));
}

/* Columns [c0, c1) of dA_q = dZ_l . W_l (q = l - 1) for every row, then dZ_q = dA_q * act'. */
static void grad_x_cols(pass_job *j, size_t l, size_t s) {
    const ae_model *m = j->m;
    const ae_layer *lay = &m->layer[l];
    ae_work *w = j->w;
    const size_t cur = (m->n_layers - 1 - l) & 1, q = l - 1;
    size_t c0, c1;
    ae_split(lay->in, (int)s, (int)j->dx_tasks[l], 16, &c0, &c1);
    if (c1 <= c0) return;
    float *next = w->delta[cur ^ 1];
    ae_mat dZ = ae_mat_view(w->delta[cur], j->rows, lay->out);
    ae_mat dX = {j->rows, c1 - c0, lay->in, next + c0};
    if (!lay->w_transposed) {
        /* dX[:, c0:c1] [rows x (c1-c0)] = dZ [rows x out] . W[:, c0:c1], W [out x in] */
        ae_mat W = {lay->out, c1 - c0, lay->in, lay->w + c0};
        ae_gemm(0, 0, 1.0f, &dZ, &W, 0.0f, &dX);
    } else {
        /* dX[:, c0:c1] [rows x (c1-c0)] = dZ [rows x out] . Wt[c0:c1, :]^T, Wt [in x out] */
        ae_mat Wt = ae_mat_view(lay->w + c0 * lay->out, c1 - c0, lay->out);
        ae_gemm(0, 1, 1.0f, &dZ, &Wt, 0.0f, &dX);
    }
    const float *act = w->act[q];
    for (size_t i = 0; i < j->rows; i++)
        ae_act_backward(next + i * lay->in + c0, act + i * lay->in + c0, c1 - c0, m->layer[q].act);
}

static void pass_task(void *ctx, uint32_t task) {
    pass_job *j = ctx;
    uint32_t p = 0;
    while (j->phase_end[p] <= task) p++;
    const size_t l = j->phase_layer[p], i = task - (p ? j->phase_end[p - 1] : 0);
    switch (j->phase_kind[p]) {
    case PH_ROWS_FORWARD: forward_chunk(j, i); break;
    case PH_GATHER: gather_chunk(j, i); break;
    case PH_COLS_FORWARD: forward_cols(j, l, i); break;
    case PH_LOSS: loss_chunk(j, i); break;
    default: /* PH_BACKWARD */
        if (i < j->slices[l]) grad_w_slice(j, l, i);
        else if (j->by_cols) grad_x_cols(j, l, i - j->slices[l]);
        else grad_x_chunk(j, l, i - j->slices[l]);
    }
}

/* At most `chunks` slices of n columns, no fewer than 16 columns each. */
static uint32_t slices_of(size_t n, size_t chunks) {
    const size_t s = (n + 15) / 16;
    return (uint32_t)(s < chunks ? s : chunks);
}

static void phase(pass_job *j, uint32_t *n, uint32_t tasks, int kind, size_t layer) {
    *n += tasks;
    j->phase_kind[j->phases] = (unsigned char)kind;
    j->phase_layer[j->phases] = (unsigned char)layer;
    j->phase_end[j->phases++] = *n;
}

/* The job's phases. Rows: the forward chunks, then per layer (last first) its dW/db slices
 * and, where a gradient flows below it, one dX task a chunk. Columns: see above. Slices: as
 * many as chunks, no fewer than 16 rows of dW (or columns) each. */
static void pass_layout(pass_job *j) {
    const ae_model *m = j->m;
    const uint32_t C = (uint32_t)j->chunks;
    uint32_t n = 0;
    j->phases = 0;
    if (!j->by_cols) {
        phase(j, &n, C, PH_ROWS_FORWARD, 0);
    } else {
        if (j->idx) phase(j, &n, C, PH_GATHER, 0);
        for (size_t l = 0; l < m->n_layers; l++) {
            j->out_slices[l] = slices_of(m->layer[l].out, j->chunks);
            phase(j, &n, j->out_slices[l], PH_COLS_FORWARD, l);
        }
        phase(j, &n, C, PH_LOSS, 0);
    }
    if (j->backward)
        for (size_t l = m->n_layers; l-- > 0;) {
            j->slices[l] = slices_of(ae_layer_dw_rows(&m->layer[l]), j->chunks);
            j->dx_tasks[l] = l == 0 && !j->dx ? 0 : j->by_cols ? slices_of(m->layer[l].in, j->chunks) : C;
            phase(j, &n, j->slices[l] + j->dx_tasks[l], PH_BACKWARD, l);
        }
}

/* One chunk: the same tasks in order, without a job's bookkeeping (a step at batch 1 is a
 * few hundred nanoseconds). */
static void pass_alone(pass_job *j) {
    forward_chunk(j, 0);
    if (!j->backward) return;
    for (size_t l = j->m->n_layers; l-- > 0;) {
        j->slices[l] = 1;
        grad_w_slice(j, l, 0);
        if (l > 0 || j->dx) grad_x_chunk(j, l, 0);
    }
}

/* Every random draw of a pass, made on the calling thread before any thread starts and in one
 * order: input noise (into w->noisy, returned; NULL without noise), then per layer a VAE's
 * eps or a hidden layer's dropout mask. With noise, batch rows given by *idx are gathered
 * first (and *x, *idx then name w->batch). */
static const float *pass_draws(ae_model *m, ae_work *w, const ae_pass_cfg *c, const float **x, const uint32_t **idx,
                               size_t rows) {
    const size_t d = m->cfg.input_dim, head = vae_head(m);
    const float *noisy = NULL;
    if (c->train && c->noise != AE_NOISE_NONE) {
        if (*idx) {
            gather_rows(w->batch, *x, *idx, 0, rows, d);
            *x = w->batch;
            *idx = NULL;
        }
        corrupt(m, c, *x, w->noisy, rows * d);
        noisy = w->noisy;
    }
    for (size_t l = 0; l + 1 < m->n_layers; l++) {
        if (l == head) ae_rng_fill_normal(&m->rng, w->eps, rows * m->cfg.code_dim);
        else if (c->train && c->dropout > 0.0f && is_hidden(m, l))
            dropout_draw(m, w->mask[l], rows * m->layer[l].out, 1.0f - c->dropout);
    }
    return noisy;
}

/* The pass in `chunks` row chunks (fewer when the batch has fewer than AE_PLAN_MIN_ROWS rows
 * a chunk), its tasks run by the caller alone or (team) with a pool's threads; the loss,
 * parts in *parts. */
static double pass_run(ae_model *m, ae_work *w, ae_pool *pool, int team, size_t chunks, int by_cols,
                       const float *x, const uint32_t *idx, const float *target, size_t rows, const ae_pass_cfg *c,
                       int backward, float *dx, ae_pass_parts *parts) {
    const size_t d = m->cfg.input_dim;
    const float *noisy = pass_draws(m, w, c, &x, &idx, rows);
    if (noisy) dx = NULL; /* the input gradient is not defined through the noise */
    if (chunks > rows / AE_PLAN_MIN_ROWS) chunks = rows / AE_PLAN_MIN_ROWS;
    if (chunks < 1 || !ae_pass_split_covers(m, c)) chunks = 1; /* KL sparsity needs the whole batch */
    if (chunks > AE_MAX_CHUNKS) chunks = AE_MAX_CHUNKS;
    pass_job j;
    j.m = m;
    j.w = w;
    j.x = x;
    j.idx = idx;
    j.target = target;
    j.noisy = noisy;
    j.rows = rows;
    j.chunks = chunks;
    j.c = c;
    j.backward = backward;
    j.dx = dx;
    j.by_cols = by_cols && chunks > 1 && !dx && pass_cols_covers(m, c);
    if (chunks == 1) {
        pass_alone(&j);
    } else {
        pass_layout(&j);
        const ae_job job = {pass_task, &j, j.phase_end, j.phases};
        ae_pool_run(pool, &job, team);
    }
    double loss = 0.0, kl = 0.0, sp = 0.0;
    for (size_t t = 0; t < chunks; t++) { /* in chunk order: the same sum on any thread count */
        loss += j.loss[t];
        kl += j.kl[t];
        sp += j.sparsity[t];
    }
    ae_pass_parts p;
    p.recon = loss / ((double)rows * (double)d);
    p.kl = c->kl_weight * (kl / (double)rows) / (double)d;
    p.sparsity = sp;
    if (parts) *parts = p;
    return p.recon + p.kl + p.sparsity;
}

double ae_pass(ae_model *m, ae_work *w, const float *x, const float *target, size_t rows, const ae_pass_cfg *c,
               int backward, float *dx, ae_pass_parts *parts) {
    return pass_run(m, w, NULL, 0, 1, 0, x, NULL, target, rows, c, backward, dx, parts);
}

double ae_pass_split(ae_model *m, ae_work *w, ae_pool *pool, size_t chunks, int by_cols, const float *x,
                     const uint32_t *idx, size_t rows, const ae_pass_cfg *c, int backward, ae_pass_parts *parts) {
    return pass_run(m, w, pool, 1, chunks, by_cols, x, idx, NULL, rows, c, backward, NULL, parts);
}

/* A training or evaluation pass over a batch that is its own target: x itself (idx NULL) or
 * rows idx[0 .. rows) of x, under the run's plan. */
static double run_pass(ae_model *m, ae_work *w, ae_run *r, const float *x, const uint32_t *idx, size_t rows,
                       const ae_pass_cfg *c, int backward, ae_pass_parts *parts) {
    if (backward && r->pool) r->step_start = ae_now_seconds(); /* a training step's start */
    if (r->blas_single) ae_blas_single_begin();
    const double l = pass_run(m, w, r->pool, r->team, r->chunks, r->kind == AE_PLAN_COLS, x, idx, NULL, rows, c,
                              backward, NULL, parts);
    if (r->blas_single) ae_blas_single_end();
    return l;
}

/* The optimizer step in slices of the parameter block (Adam and SGD are elementwise: the
 * same bits for any slicing). */
typedef struct par_update {
    ae_optim *o;
    float *p, *g;
    uint32_t slices;
    int finite[AE_MAX_CHUNKS];
} par_update;

static void par_update_task(void *ctx, uint32_t s) {
    par_update *j = ctx;
    size_t lo, hi;
    ae_split(j->o->n, (int)s, (int)j->slices, 16, &lo, &hi);
    j->finite[s] = hi > lo ? ae_optim_update(j->o, j->p + lo, j->g + lo, lo, hi - lo) : 1;
}

/* ae_optim_step, in slices on the run's pool when it has a team: 1 when every weight written
 * is finite. */
static int optim_step(ae_optim *o, float *p, float *g, ae_run *r) {
    if (!r->pool || r->chunks < 2) return ae_optim_step(o, p, g);
    ae_optim_begin_step(o);
    par_update j;
    j.o = o;
    j.p = p;
    j.g = g;
    j.slices = (uint32_t)r->chunks;
    const ae_job job = {par_update_task, &j, &j.slices, 1};
    ae_pool_run(r->pool, &job, r->team);
    int ok = 1;
    for (uint32_t s = 0; s < j.slices; s++) ok &= j.finite[s];
    ae_plan_balance(r, ae_now_seconds() - r->step_start); /* team or alone next step */
    return ok;
}

/* Planning's timer: a pass (forward and backward) over the first rows under a candidate
 * plan (after a warm-up pass when asked); the model's weights and RNG are left as they were (the passes
 * write only the gradients and the workspace, which every step writes again). */
typedef struct calib {
    ae_model *m;
    ae_work *w;
    const float *x;
    size_t rows;
    const ae_pass_cfg *c;
} calib;

static double time_pass(ae_run *r, int warm, void *ctx) {
    calib *k = ctx;
    const ae_rng saved = k->m->rng;
    if (warm) (void)run_pass(k->m, k->w, r, k->x, NULL, k->rows, k->c, 1, NULL);
    const double t0 = ae_now_seconds();
    (void)run_pass(k->m, k->w, r, k->x, NULL, k->rows, k->c, 1, NULL);
    const double t = ae_now_seconds() - t0;
    k->m->rng = saved;
    return t;
}

/* The run's plan (plan.c), chosen before its first batch for its model and batch of w->cap
 * rows, timing candidates over the first of this process's n rows x. AE_ENOMEM when the
 * pool's memory cannot be had; a thread that cannot be started leaves the run on one. */
static int train_run(ae_model *m, ae_work *w, const ae_pass_cfg *c, const float *x, size_t n, size_t total, int lead,
                     ae_run *run) {
    calib k = {m, w, x, n < w->cap ? n : w->cap, c};
    const int covers = ae_pass_split_covers(m, c);
    ae_plan_request req = {m, w->cap, (total + w->cap - 1) / w->cap, covers, covers && pass_cols_covers(m, c),
                           n ? time_pass : NULL, &k, lead};
    return ae_plan_start(&req, run);
}

static int finite_in(float v, float lo, float hi) { return isfinite(v) && v >= lo && v <= hi; }

/* Each refusal names the option (the ae_train_opts field) and what it accepts. */
#define BAD(...) return ae_fail(AE_EINVAL, __VA_ARGS__)

int ae_train_opts_check(const ae_model *m, const ae_train_opts *o) {
    if (o->epochs < 1) BAD("epochs is %d: it must be at least 1", o->epochs);
    if (o->batch_size < 1 || o->batch_size > AE_MAX_ROWS) BAD("batch_size is %zu: it must be in [1, 2^31]", o->batch_size);
    if ((unsigned)o->optimizer > (unsigned)AE_OPT_ADAMW) BAD("optimizer %d is not sgd, adam or adamw", (int)o->optimizer);
    if ((unsigned)o->loss > (unsigned)AE_LOSS_BCE) BAD("loss %d is not mse or bce", (int)o->loss);
    if (!(isfinite(o->learning_rate) && o->learning_rate > 0.0f))
        BAD("learning_rate is %g: it must be a finite number > 0", (double)o->learning_rate);
    if (!finite_in(o->momentum, 0.0f, 1.0f) || o->momentum >= 1.0f) BAD("momentum is %g: it must be in [0, 1)", (double)o->momentum);
    if (!finite_in(o->beta1, 0.0f, 1.0f) || o->beta1 >= 1.0f) BAD("beta1 is %g: it must be in [0, 1)", (double)o->beta1);
    if (!finite_in(o->beta2, 0.0f, 1.0f) || o->beta2 >= 1.0f) BAD("beta2 is %g: it must be in [0, 1)", (double)o->beta2);
    if (!(isfinite(o->eps) && o->eps > 0.0f)) BAD("eps is %g: it must be a finite number > 0", (double)o->eps);
    if (!finite_in(o->weight_decay, 0.0f, 1e6f)) BAD("weight_decay is %g: it must be in [0, 1e6]", (double)o->weight_decay);
    if (o->nesterov && (o->optimizer != AE_OPT_SGD || o->momentum == 0.0f))
        BAD("nesterov needs the sgd optimizer with a momentum > 0");
    /* BCE is computed from logits, which needs the sigmoid output. */
    if (o->loss == AE_LOSS_BCE && m->cfg.output_act != AE_ACT_SIGMOID) BAD("loss bce needs a sigmoid output");
    if ((unsigned)o->noise > (unsigned)AE_NOISE_MASK) BAD("noise %d is not none, gaussian or mask", (int)o->noise);
    if (o->noise == AE_NOISE_GAUSSIAN && !finite_in(o->noise_level, 0.0f, 1e6f))
        BAD("noise_level is %g: gaussian noise wants a standard deviation in [0, 1e6]", (double)o->noise_level);
    if (o->noise == AE_NOISE_MASK && (!finite_in(o->noise_level, 0.0f, 1.0f) || o->noise_level >= 1.0f))
        BAD("noise_level is %g: mask noise wants a share in [0, 1)", (double)o->noise_level);
    if (!finite_in(o->dropout, 0.0f, 1.0f) || o->dropout >= 1.0f) BAD("dropout is %g: it must be in [0, 1)", (double)o->dropout);
    if (!finite_in(o->sparsity_weight, 0.0f, 1e6f)) BAD("sparsity_weight is %g: it must be in [0, 1e6]", (double)o->sparsity_weight);
    if (!finite_in(o->kl_weight, 0.0f, 1e6f)) BAD("kl_weight is %g: it must be in [0, 1e6]", (double)o->kl_weight);
    if (o->sparsity_weight > 0.0f) {
        /* KL needs a target strictly inside (0, 1); a VAE's code is a sample, not an activation. */
        if (m->cfg.variational) BAD("sparsity_weight > 0 is not for a variational model");
        if (m->cfg.code_act == AE_ACT_SIGMOID &&
            (!finite_in(o->sparsity_target, 0.0f, 1.0f) || o->sparsity_target <= 0.0f || o->sparsity_target >= 1.0f))
            BAD("sparsity_target is %g: with a sigmoid code it must be in (0, 1)", (double)o->sparsity_target);
    }
    if (o->patience < 0) BAD("patience is %d: it must be >= 0", o->patience);
    if (!finite_in(o->clip_norm, 0.0f, 3e38f)) BAD("clip_norm is %g: it must be >= 0 and finite", (double)o->clip_norm);
    if (o->checkpoint_every < 0) BAD("checkpoint_every is %d: it must be >= 0", o->checkpoint_every);
    if (o->checkpoint_every > 0 && (!o->checkpoint_path || !*o->checkpoint_path))
        BAD("checkpoint_every > 0 needs a checkpoint_path");
    if ((o->val_x == NULL) != (o->val_n == 0)) BAD("val_x and val_n must be given together");
    if (!finite_in(o->val_split, 0.0f, 0.9f)) BAD("val_split is %g: it must be in [0, 0.9]", (double)o->val_split);
    if (o->val_split > 0.0f && o->val_x) BAD("val_split holds out validation rows: not with val_x as well");
    if (o->threshold != AE_THRESHOLD_NONE) {
        if (o->threshold == AE_THRESHOLD_MANUAL) BAD("threshold: a manual threshold is set by ae_threshold_set");
        int rc = ae_threshold_param_check(o->threshold, o->threshold_param);
        if (rc != AE_OK) return rc;
    }
    if (o->threshold_folds < 0 || o->threshold_folds > 100) BAD("threshold_folds is %d: it must be in [0, 100]", o->threshold_folds);
    if (o->threshold_folds > 1 && (o->threshold == AE_THRESHOLD_NONE || o->val_x || o->val_split > 0.0f))
        BAD("threshold_folds needs a threshold method and no validation rows (val_x, val_split)");
    return AE_OK;
}
#undef BAD

/* Puts "checkpoint" and the epoch before the saver's detail (which names the path and the
 * system's reason), so that ae_last_error says it was the checkpoint. */
static void checkpoint_failed(int rc, int epoch) {
    char detail[400];
    snprintf(detail, sizeof detail, "%s", ae_last_error());
    if (epoch) ae_fail(rc, "checkpoint after epoch %d: %s", epoch, detail);
    else ae_fail(rc, "checkpoint: %s", detail);
}

/* Rows seen in the first `steps` steps of an epoch of n rows in batches of cap. */
static size_t r_done(size_t steps, size_t cap, size_t n) { return steps * cap < n ? steps * cap : n; }

double ae_now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Summed loss over rows of xs in chunks of the workspace's capacity: no gradient, no noise or
 * dropout (a VAE still samples its code, as the ELBO is defined). */
static double eval_loss_sum(ae_model *m, ae_work *w, ae_run *run, const float *xs, size_t n,
                            const ae_pass_cfg *train_cfg) {
    ae_pass_cfg c = *train_cfg;
    c.train = 0;
    const size_t d = m->cfg.input_dim;
    double sum = 0.0;
    for (size_t r0 = 0; r0 < n; r0 += w->cap) {
        size_t rows = n - r0 < w->cap ? n - r0 : w->cap;
        const float *xb = xs + r0 * d;
        sum += run_pass(m, w, run, xb, NULL, rows, &c, 0, NULL) * (double)rows;
    }
    return sum;
}

/* One process: the sums are the local values; only errors need no agreement. */
static const ae_dist solo_dist = {0, 1, 0, 0, NULL, NULL, NULL, NULL};

static int dist_agree(const ae_dist *d, int rc) { return d->agree ? d->agree(rc, d->ctx) : rc; }
static int dist_sum(const ae_dist *d, double *v, size_t n) { return d->sum_doubles ? d->sum_doubles(v, n, d->ctx) : AE_OK; }

/* The draws of a pass (noise, dropout, a VAE's code) come from the model's RNG in one process.
 * Across processes each needs its own stream while the shuffle's RNG stays the same
 * everywhere (and as in one process), so each epoch every process seeds its own stream from
 * the shared RNG's state without drawing from it. */
typedef struct pass_rng {
    int own;          /* 1: passes draw from `rng`, swapped in around them */
    ae_rng rng, saved;
} pass_rng;

static void pass_rng_epoch(pass_rng *p, ae_model *m, const ae_dist *d) {
    p->own = d->size > 1;
    if (!p->own) return;
    ae_rng_seed(&p->rng, m->rng.state ^ 0x9E3779B97F4A7C15ull, 0x9a55u + (uint64_t)d->rank);
}

static void pass_rng_enter(pass_rng *p, ae_model *m) {
    if (!p->own) return;
    p->saved = m->rng;
    m->rng = p->rng;
}

static void pass_rng_leave(pass_rng *p, ae_model *m) {
    if (!p->own) return;
    p->rng = m->rng;
    m->rng = p->saved;
}

int ae_train(ae_model *m, const float *x, size_t n, const ae_train_opts *opts) {
    return ae_fit_dist(m, x, n, opts, NULL);
}

int ae_train_dist(ae_model *m, const float *x, size_t n, const ae_train_opts *opts, const ae_dist *dist) {
    if (!m) return AE_EINVAL;
    ae_train_opts defaults = ae_train_opts_default();
    const ae_train_opts *o = opts ? opts : &defaults;
    ae_dist one = solo_dist;
    one.total = n;
    const ae_dist *D = dist ? dist : &one;
    const int lead = D->rank == 0; /* calls back and writes files */
    int rc = ae_train_opts_check(m, o);
    if (rc == AE_OK) rc = ae_check_rows(x, n, m->cfg.input_dim);
    if (rc == AE_OK && o->val_x) rc = ae_check_rows(o->val_x, o->val_n, m->cfg.input_dim);
    /* The KL sparsity penalty is a function of the whole batch's mean activation: it does not
     * split across processes. */
    if (rc == AE_OK && D->size > 1 && o->sparsity_weight > 0.0f && m->cfg.code_act == AE_ACT_SIGMOID)
        rc = AE_EINVAL;
    if (rc == AE_OK && o->resume && !ae_optim_matches(&m->opt, o, m->n_params)) rc = AE_EINVAL; /* nothing to resume */
    if ((rc = dist_agree(D, rc)) != AE_OK) return rc;

    const size_t d = m->cfg.input_dim, total = D->total, first = D->first;
    const size_t cap = o->batch_size < total ? o->batch_size : total; /* the global batch */
    const ae_pass_cfg pc = ae_pass_cfg_from(o);
    ae_work w;
    uint32_t *perm = NULL;
    float *best = NULL, *good = NULL;
    ae_run run;
    memset(&run, 0, sizeof run);
    rc = ae_work_init(&w, m, cap, &pc);
    if (rc == AE_OK && o->shuffle && !(perm = ae_calloc(total, sizeof *perm))) rc = AE_ENOMEM;
    if (rc == AE_OK && o->patience > 0 && !(best = ae_calloc(m->n_params, sizeof(float)))) rc = AE_ENOMEM;
    /* The weights each epoch starts from, restored if the epoch diverges. */
    if (rc == AE_OK && !(good = ae_calloc(m->n_params, sizeof(float)))) rc = AE_ENOMEM;
    /* The optimizer state lives in the model so that training can be resumed (and saved in a
     * checkpoint); a fresh run replaces it. */
    int first_epoch = 1;
    if (rc == AE_OK && o->resume) {
        ae_optim_configure(&m->opt, o);
        first_epoch = m->epochs_done + 1;
    } else if (rc == AE_OK) {
        ae_optim_free(&m->opt);
        m->epochs_done = 0;
        rc = ae_optim_init(&m->opt, o, m->n_params);
    }
    if (rc == AE_OK) rc = train_run(m, &w, &pc, x, n, total, lead, &run);
    /* A checkpoint that cannot be written is found now, not after the first epochs. */
    if (rc == AE_OK && lead && o->checkpoint_every > 0 && (rc = ae_path_writable(o->checkpoint_path)) != AE_OK)
        checkpoint_failed(rc, 0);
    if ((rc = dist_agree(D, rc)) != AE_OK) goto done;

    double best_loss = INFINITY;
    int bad_epochs = 0, have_best = 0;
    pass_rng prng;
    for (int epoch = first_epoch; epoch <= o->epochs && rc == AE_OK; epoch++) {
        double t0 = ae_now_seconds();
        ae_pass_parts sum = {0.0, 0.0, 0.0};
        size_t step = 0;
        memcpy(good, m->params, m->n_params * sizeof(float));
        if (perm) { /* from the identity each epoch: the order depends on the RNG state alone */
            for (size_t i = 0; i < total; i++) perm[i] = (uint32_t)i;
            ae_rng_permute(&m->rng, perm, total);
        }
        pass_rng_epoch(&prng, m, D);
        for (size_t r0 = 0; r0 < total; r0 += cap) {
            const size_t rows = total - r0 < cap ? total - r0 : cap;
            /* This process's part of global rows perm[r0 .. r0 + rows): all of them alone. */
            size_t local = 0;
            const float *xb = x;
            const uint32_t *idx = NULL;
            if (perm) { /* the batch by index into x, gathered by the pass */
                for (size_t i = 0; i < rows; i++) {
                    const size_t g = (size_t)perm[r0 + i] - first; /* wraps when below first */
                    if (g < n) w.index[local++] = (uint32_t)g;
                }
                idx = w.index;
            } else { /* rows in order: one contiguous run */
                const size_t lo = r0 > first ? r0 : first, hi = r0 + rows < first + n ? r0 + rows : first + n;
                local = hi > lo ? hi - lo : 0;
                xb = x + (lo - first) * d;
            }
            ae_pass_parts part = {0.0, 0.0, 0.0};
            step++;
            double l = 0.0;
            if (local) {
                pass_rng_enter(&prng, m);
                l = run_pass(m, &w, &run, xb, idx, local, &pc, 1, &part);
                pass_rng_leave(&prng, m);
            } else {
                memset(m->grads, 0, m->n_params * sizeof(float));
            }
            if (dist) {
                /* Each process's gradient is a mean over its `local` rows: weight it by
                 * local / rows so that the sum across processes is the global batch's mean. */
                if (local != rows) ae_scale(m->grads, m->n_params, (float)local / (float)rows);
                double f[4] = {part.recon * (double)local, part.kl * (double)local, part.sparsity * (double)local,
                               isfinite(l) ? 0.0 : 1.0};
                if ((rc = dist_sum(D, f, 4)) != AE_OK || (rc = D->sum_floats(m->grads, m->n_params, D->ctx)) != AE_OK)
                    break;
                part = (ae_pass_parts){f[0] / (double)rows, f[1] / (double)rows, f[2] / (double)rows};
                l = f[3] > 0.0 ? NAN : part.recon + part.kl + part.sparsity;
            }
            if (!isfinite(l)) {
                rc = AE_EDIVERGED;
                break;
            }
            if (o->clip_norm > 0.0f) ae_clip_norm(m->grads, m->n_params, o->clip_norm);
            /* The step checks the weights it wrote. Every process holds the same weights, so
             * every process finds the same. */
            if (!optim_step(&m->opt, m->params, m->grads, &run)) {
                rc = AE_EDIVERGED;
                break;
            }
            if (o->on_batch && lead) o->on_batch(epoch, step, (total + cap - 1) / cap, l, o->user);
            sum.recon += part.recon * (double)rows;
            sum.kl += part.kl * (double)rows;
            sum.sparsity += part.sparsity * (double)rows;
        }
        if (rc != AE_OK && rc != AE_EDIVERGED) break; /* a failed reduction */
        ae_epoch_stats s;
        memset(&s, 0, sizeof s);
        if (rc == AE_EDIVERGED) { /* report where, then go back to the epoch's first weights */
            memcpy(m->params, good, m->n_params * sizeof(float));
            s.epoch = epoch;
            s.train_loss = s.train_recon = s.val_loss = NAN;
            s.samples = r_done(step, cap, total);
            s.seconds = ae_now_seconds() - t0;
            s.diverged = 1;
            s.step = step;
            if (o->on_epoch && lead) (void)o->on_epoch(&s, o->user);
            break;
        }
        s.epoch = epoch;
        s.train_recon = sum.recon / (double)total;
        s.train_kl = sum.kl / (double)total;
        s.train_sparsity = sum.sparsity / (double)total;
        s.train_loss = s.train_recon + s.train_kl + s.train_sparsity;
        s.val_loss = NAN;
        double val[2] = {0.0, (double)o->val_n}; /* summed loss, rows: each process its own */
        if (o->val_x) {
            pass_rng_enter(&prng, m);
            val[0] = eval_loss_sum(m, &w, &run, o->val_x, o->val_n, &pc);
            pass_rng_leave(&prng, m);
        }
        if ((rc = dist_sum(D, val, 2)) != AE_OK) break;
        if (val[1] > 0.0) s.val_loss = val[0] / val[1];
        s.samples = total;
        s.seconds = ae_now_seconds() - t0;
        m->epochs_done = epoch;
        if (o->checkpoint_every > 0 && epoch % o->checkpoint_every == 0) {
            rc = lead ? ae_checkpoint_save(m, o->checkpoint_path) : AE_OK;
            /* the work so far is in the model; the caller hears why saving failed */
            if (rc != AE_OK) checkpoint_failed(rc, epoch);
            if ((rc = dist_agree(D, rc)) != AE_OK) break;
        }
        double stop = o->on_epoch && lead ? o->on_epoch(&s, o->user) != 0 : 0;
        if ((rc = dist_sum(D, &stop, 1)) != AE_OK) break;
        if (best) {
            double monitored = !isnan(s.val_loss) ? s.val_loss : s.train_loss;
            if (monitored < best_loss) {
                best_loss = monitored;
                memcpy(best, m->params, m->n_params * sizeof(float));
                have_best = 1;
                bad_epochs = 0;
            } else if (++bad_epochs >= o->patience) {
                stop = 1;
            }
        }
        if (stop != 0.0) break;
    }
    if (have_best) memcpy(m->params, best, m->n_params * sizeof(float));
done:
    ae_plan_stop(&run);
    ae_dealloc(good);
    ae_dealloc(best);
    ae_dealloc(perm);
    ae_work_free(&w);
    return rc;
}
