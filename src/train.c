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

/* ---- The pass: one thread, or split by batch rows across a pool's threads. ----
 *
 * Thread t of T owns batch rows [a, b) (ae_split; all of them on one thread): it gathers
 * them, and its forward products, activations, loss and dX products touch only its rows, so
 * the forward pass needs no synchronisation at all. dW and db need every row of dZ: after a
 * barrier, thread t computes its share of the stored dW's rows and of db's columns over the
 * whole batch. Each thread's products are whole one-thread sgemm calls when split.
 *
 * The two delta buffers: a thread writes dA_{l-1} (its rows, into delta[cur^1]) while others
 * may still read dZ_l (delta[cur]) for dW_l; delta[cur] is overwritten only after the next
 * barrier, which every thread reaches after its dW_l. */

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
    ae_pool *pool;         /* NULL: one thread */
    const float *x;        /* the batch, or with idx the rows to gather from */
    const uint32_t *idx;   /* NULL, or batch row i is x row idx[i], gathered into w->batch */
    const float *target;   /* NULL: the (gathered) batch itself */
    const float *noisy;    /* NULL, or the corrupted batch the forward pass starts from */
    size_t rows;
    const ae_pass_cfg *c;
    int backward;
    float *dx;             /* NULL, or dLoss/dx [rows x input_dim] */
    /* each thread's share: summed reconstruction loss, summed KL divergence, sparsity penalty */
    double loss[AE_MAX_THREADS], kl[AE_MAX_THREADS], sparsity[AE_MAX_THREADS];
} pass_job;

static void pass_job_run(void *ctx, int t, int T) {
    pass_job *j = ctx;
    const ae_model *m = j->m;
    const ae_pass_cfg *c = j->c;
    ae_work *w = j->w;
    const size_t L = m->n_layers, rows = j->rows, d = m->cfg.input_dim, k = m->cfg.code_dim;
    const size_t code = m->n_enc - 1, head = vae_head(m);
    const int drop = c->train && c->dropout > 0.0f, sparse = c->sparsity_weight > 0.0f;
    const ae_layer *out = &m->layer[L - 1];
    size_t a, b;
    ae_split(rows, t, T, 1, &a, &b);
    const size_t mine = b - a;
    const float *batch = j->x;
    if (j->idx) { /* each thread gathers its own rows: they land in its own cache */
        gather_rows(w->batch, j->x, j->idx, a, b, d);
        batch = w->batch;
    }
    const float *in = j->noisy ? j->noisy : batch, *target = j->target ? j->target : batch;
    /* Forward over rows [a, b): A_l = act(A_{l-1} . W_l^T + b_l), with the dropout masks and
     * a VAE's eps drawn before (pass_draws); the output layer stops at Z = A . W^T. */
    const float *src = in + a * d;
    j->kl[t] = j->sparsity[t] = 0.0;
    for (size_t l = 0; l + 1 < L; l++) {
        const size_t width = m->layer[l].out;
        float *y = w->act[l] + a * width;
        if (mine) ae_layer_forward(&m->layer[l], src, mine, y, 1);
        src = y;
        if (l == head) {
            j->kl[t] = vae_sample_rows(m, w->act[l], w->eps, w->z, a, b);
            src = w->z + a * k;
        } else if (drop && is_hidden(m, l)) {
            dropout_apply(y, w->mask[l] + a * width, mine * width);
        }
    }
    if (sparse) j->sparsity[t] = sparsity(m, c, w->act[code], rows, a, b, NULL);
    float *dz = j->backward ? w->delta[0] + a * d : NULL;
    float *z = w->act[L - 1] + a * d;
    if (mine) ae_layer_forward(out, src, mine, z, 0);
    j->loss[t] = mine ? ae_loss_output_sum(c->loss, out->act, z, out->b, target + a * d, mine, out->out, dz, NULL,
                                           1.0f / ((float)rows * (float)d))
                      : 0.0;
    if (!j->backward) return;
    /* Backward: dZ_l -> (dW_l, db_l) and dA_{l-1} = dZ_l . W_l, then dZ_{l-1} = dA_{l-1} * act'. */
    int cur = 0;
    for (size_t l = L; l-- > 0;) {
        const ae_layer *lay = &m->layer[l];
        if (j->pool) ae_pool_barrier(j->pool); /* dZ_l complete for every row */
        const float *input = l == 0 ? in : l - 1 == head ? w->z : w->act[l - 1];
        size_t r0, r1, c0, c1;
        ae_split(ae_layer_dw_rows(lay), t, T, 16, &r0, &r1);
        ae_layer_grad_w(lay, input, w->delta[cur], rows, r0, r1);
        ae_split(lay->out, t, T, 16, &c0, &c1);
        ae_layer_grad_b(lay, w->delta[cur], rows, c0, c1);
        if (!l) {
            if (j->dx && mine) ae_layer_grad_x(lay, w->delta[cur] + a * lay->out, mine, j->dx + a * d, d);
            break;
        }
        /* dA_q = dZ_l . W_l over rows [a, b) (q = l - 1), then dZ_q: through a VAE's sampling,
         * or the sparsity gradient, dropout mask and act'(A_q) */
        const size_t q = l - 1, width = m->layer[q].out;
        float *next = w->delta[cur ^ 1];
        if (mine && q == head) { /* dz [k] into the first half of the head's [2k] rows */
            ae_layer_grad_x(lay, w->delta[cur] + a * lay->out, mine, next + a * width, width);
            vae_backward_rows(m, w->act[q], w->eps, next, a, b, c->kl_weight / ((float)rows * (float)d));
        } else if (mine) {
            float *mine_next = next + a * width;
            const float *act = w->act[q] + a * width;
            ae_layer_grad_x(lay, w->delta[cur] + a * lay->out, mine, mine_next, lay->in);
            if (sparse && q == code) sparsity(m, c, w->act[q], rows, a, b, next);
            if (drop && is_hidden(m, q))
                ae_dropout_act_backward(mine_next, act, w->mask[q] + a * width, mine * width, m->layer[q].act,
                                        1.0f - c->dropout);
            else
                ae_act_backward(mine_next, act, mine * width, m->layer[q].act);
        }
        cur ^= 1;
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

/* The pass on one thread (pool NULL) or split across a pool's; the loss, parts in *parts. */
static double pass_run(ae_model *m, ae_work *w, ae_pool *pool, const float *x, const uint32_t *idx,
                       const float *target, size_t rows, const ae_pass_cfg *c, int backward, float *dx,
                       ae_pass_parts *parts) {
    const size_t d = m->cfg.input_dim;
    const float *noisy = pass_draws(m, w, c, &x, &idx, rows);
    if (noisy) dx = NULL; /* the input gradient is not defined through the noise */
    pass_job j = {m, w, pool, x, idx, target, noisy, rows, c, backward, dx, {0.0}, {0.0}, {0.0}};
    const int T = pool ? ae_pool_threads(pool) : 1;
    if (pool) ae_pool_run(pool, pass_job_run, &j);
    else pass_job_run(&j, 0, 1);
    double loss = 0.0, kl = 0.0, sp = 0.0;
    for (int t = 0; t < T; t++) {
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
    return pass_run(m, w, NULL, x, NULL, target, rows, c, backward, dx, parts);
}

double ae_pass_split(ae_model *m, ae_work *w, ae_pool *pool, const float *x, const uint32_t *idx, size_t rows,
                     const ae_pass_cfg *c, int backward, ae_pass_parts *parts) {
    return pass_run(m, w, pool, x, idx, NULL, rows, c, backward, NULL, parts);
}

/* Rows per thread below which a pass stays on one thread (OpenBLAS's products then). W at
 * batch 8 (4 rows a thread) trains 1.4x faster split than not; at batch 4 (2 rows a thread)
 * 1.7x slower. */
#define PAR_MIN_ROWS 4

/* A training or evaluation pass over a batch that is its own target: x itself (idx NULL) or
 * rows idx[0 .. rows) of x. Split across the pool when there is one and the batch is big
 * enough. */
static double run_pass(ae_model *m, ae_work *w, ae_pool *pool, const float *x, const uint32_t *idx, size_t rows,
                       const ae_pass_cfg *c, int backward, ae_pass_parts *parts) {
    const int split = pool && rows >= PAR_MIN_ROWS * (size_t)ae_pool_threads(pool);
    return pass_run(m, w, split ? pool : NULL, x, idx, NULL, rows, c, backward, NULL, parts);
}

/* The optimizer step, each thread updating its share of the parameter block. */
typedef struct par_update {
    ae_optim *o;
    float *p, *g;
    int finite[AE_MAX_THREADS];
} par_update;

static void par_update_job(void *ctx, int t, int T) {
    par_update *j = ctx;
    size_t lo, hi;
    ae_split(j->o->n, t, T, 16, &lo, &hi);
    j->finite[t] = hi > lo ? ae_optim_update(j->o, j->p + lo, j->g + lo, lo, hi - lo) : 1;
}

/* ae_optim_step, on the pool when there is one: 1 when every weight written is finite. */
static int optim_step(ae_optim *o, float *p, float *g, ae_pool *pool) {
    if (!pool) return ae_optim_step(o, p, g);
    ae_optim_begin_step(o);
    par_update j = {o, p, g, {0}};
    ae_pool_run(pool, par_update_job, &j);
    int ok = 1;
    for (int t = 0; t < ae_pool_threads(pool); t++) ok &= j.finite[t];
    return ok;
}

/* The pool a training run uses, started before its first batch, with as many threads as
 * ae_threads() says and the batch has PAR_MIN_ROWS rows for: none for one thread, for
 * batches too small to split, for configurations the row-split pass does not cover, or when
 * a thread cannot be started (the run then goes on one thread, OpenBLAS threading the
 * products as before). While a pool runs, OpenBLAS runs one thread per call (*blas_before
 * keeps its count to restore). AE_ENOMEM when the pool's memory cannot be had. */
static int train_pool(const ae_model *m, const ae_pass_cfg *c, size_t cap, ae_pool **pool, int *blas_before) {
    int T = ae_threads();
    if ((size_t)T > cap / PAR_MIN_ROWS) T = (int)(cap / PAR_MIN_ROWS); /* no fewer rows a thread */
    *pool = NULL;
    *blas_before = 0;
    if (T < 2 || !ae_pass_split_covers(m, c)) return AE_OK;
    int rc = ae_pool_start(pool, T);
    if (rc == AE_ENOMEM) return rc;
    if (rc == AE_OK) *blas_before = ae_blas_set_threads(1);
    return AE_OK;
}

static void train_pool_stop(ae_pool *pool, int blas_before) {
    if (!pool) return;
    ae_pool_stop(pool);
    ae_blas_set_threads(blas_before);
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
static double eval_loss_sum(ae_model *m, ae_work *w, ae_pool *pool, const float *xs, size_t n,
                            const ae_pass_cfg *train_cfg) {
    ae_pass_cfg c = *train_cfg;
    c.train = 0;
    const size_t d = m->cfg.input_dim;
    double sum = 0.0;
    for (size_t r0 = 0; r0 < n; r0 += w->cap) {
        size_t rows = n - r0 < w->cap ? n - r0 : w->cap;
        const float *xb = xs + r0 * d;
        sum += run_pass(m, w, pool, xb, NULL, rows, &c, 0, NULL) * (double)rows;
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
    ae_pool *pool = NULL;
    int blas_before = 0;
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
    if (rc == AE_OK) rc = train_pool(m, &pc, cap, &pool, &blas_before);
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
                l = run_pass(m, &w, pool, xb, idx, local, &pc, 1, &part);
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
            if (!optim_step(&m->opt, m->params, m->grads, pool)) {
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
            val[0] = eval_loss_sum(m, &w, pool, o->val_x, o->val_n, &pc);
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
    train_pool_stop(pool, blas_before);
    ae_dealloc(good);
    ae_dealloc(best);
    ae_dealloc(perm);
    ae_work_free(&w);
    return rc;
}
