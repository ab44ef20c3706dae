/* pass: the autoencoder's forward/backward pass over a batch (pass.h), cut into tasks that a
 * pool's threads take, under a run's plan. */
#include "pass.h"

#include <math.h>
#include <string.h>

#include "loss.h"
#include "pass_regs.h"

static size_t vae_head(const ae_model *m) { return m->cfg.variational ? m->n_enc - 1 : (size_t)-1; }

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

/* 1 when any layer needs the whole batch at once in this pass (batch norm in training). */
static int batch_whole(const ae_model *m, const ae_pass_cfg *c) {
    for (size_t l = 0; c->train && l < m->n_layers; l++)
        if (m->layer[l].kind->batch_whole) return 1;
    return 0;
}

int ae_pass_split_covers(const ae_model *m, const ae_pass_cfg *c) {
    return !(c->sparsity_weight > 0.0f && m->cfg.code_act == AE_ACT_SIGMOID) && !batch_whole(m, c);
}

/* Rows [a, b) of the batch: dst row i = src row idx[i]. */
static void gather_rows(float *dst, const float *src, const uint32_t *idx, size_t a, size_t b, size_t d) {
    for (size_t i = a; i < b; i++) memcpy(dst + i * d, src + (size_t)idx[i] * d, d * sizeof(float));
}

typedef struct pass_job {
    ae_model *m;
    ae_work *w;
    const float *x; /* the batch, or with idx the rows to gather from */
    const uint32_t *idx; /* NULL, or batch row i is x row idx[i], gathered into w->batch */
    const float *target; /* NULL: the (gathered) batch itself */
    const float *noisy; /* NULL, or the corrupted batch the forward pass starts from */
    size_t rows, chunks;
    const ae_pass_cfg *c;
    int backward;
    float *dx; /* NULL, or dLoss/dx [rows x input_dim] */
    int by_cols; /* the column layout (pass_layout) */
    /* backward phase of layer l: its dW/db slices, then (with dx_tasks[l]) its dX tasks; with
     * by_cols, out_slices[l] column slices of layer l's output in its forward phase */
    uint32_t slices[AE_MAX_LAYERS], dx_tasks[AE_MAX_LAYERS], out_slices[AE_MAX_LAYERS];
    uint32_t phase_end[2 * AE_MAX_LAYERS + 3], phases;
    unsigned char phase_kind[2 * AE_MAX_LAYERS + 3], phase_layer[2 * AE_MAX_LAYERS + 3];
    /* each chunk's share: summed reconstruction loss, summed KL divergence, sparsity penalty */
    double loss[AE_MAX_CHUNKS], kl[AE_MAX_CHUNKS], sparsity[AE_MAX_CHUNKS];
} pass_job;

static const float *pass_input(const pass_job *j) { return j->noisy ? j->noisy : j->idx ? j->w->batch : j->x; }

/* Layer l's scratch for a call over the batch's rows from row a on (NULL: the kind has none). */
static float *scratch_at(const pass_job *j, size_t l, size_t a) {
    float *s = j->w->scratch[l];
    return s ? s + ae_layer_scratch(&j->m->layer[l], a) : NULL;
}

/* Phase 0, chunk ch: rows [a, b) forward, A_l = act(A_{l-1} . W_l^T + b_l), with the dropout
 * masks and a VAE's eps drawn before (pass_draws); the output layer stops at Z = A . W^T, and
 * the loss (and dZ at the output) of these rows. */
static void forward_chunk(pass_job *j, size_t ch) {
    /* cppcheck-suppress ctuuninitvar ; pass_run sets every field a task reads before any task runs */
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
        m->layer[l].kind->forward(&m->layer[l], src, mine, y, 1, c->train, scratch_at(j, l, a));
        src = y;
        if (l == head) {
            j->kl[ch] = ae_vae_sample_rows(m, w->act[l], w->eps, w->z, a, b);
            src = w->z + a * k;
        } else if (drop && m->layer[l].dropout_after) {
            ae_dropout_apply(y, w->mask[l] + a * width, mine * width);
        }
    }
    if (c->sparsity_weight > 0.0f) j->sparsity[ch] = ae_sparsity(m, c, w->act[code], rows, a, b, NULL);
    float *dz = j->backward ? w->delta[0] + a * d : NULL;
    float *z = w->act[L - 1] + a * d;
    /* act (and a dense layer's bias) in the loss */
    out->kind->forward(out, src, mine, z, 0, c->train, scratch_at(j, L - 1, a));
    j->loss[ch] = ae_loss_output_sum(c->loss, out->act, z, out->kind->fused_bias ? out->b : w->zero_bias,
                                     target + a * d, mine, out->out, dz, NULL, 1.0f / ((float)rows * (float)d));
}

/* Layer l's dW rows and db columns, slice s of j->slices[l], over every row of dZ_l. */
static void grad_w_slice(pass_job *j, size_t l, size_t s) {
    const ae_model *m = j->m;
    const ae_layer *lay = &m->layer[l];
    ae_work *w = j->w;
    const size_t head = vae_head(m), cur = (m->n_layers - 1 - l) & 1;
    const float *input = l == 0 ? pass_input(j) : l - 1 == head ? w->z : w->act[l - 1];
    lay->kind->grad_params(lay, input, w->delta[cur], j->rows, s, j->slices[l], j->chunks, scratch_at(j, l, 0));
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
    const float *in = (l == 0 ? pass_input(j) : l - 1 == head ? w->z : w->act[l - 1]) + a * lay->in;
    if (l == 0) { /* dx NULL: only a kind that runs its input gradient first (input_first) gets here */
        float *dx = j->dx ? j->dx + a * m->cfg.input_dim : NULL;
        lay->kind->grad_input(lay, in, dz, mine, dx, m->cfg.input_dim, scratch_at(j, l, a));
        return;
    }
    const size_t q = l - 1, width = m->layer[q].out;
    float *next = w->delta[cur ^ 1];
    if (q == head) { /* dz [k] into the first half of the head's [2k] rows */
        lay->kind->grad_input(lay, in, dz, mine, next + a * width, width, scratch_at(j, l, a));
        ae_vae_backward_rows(m, w->act[q], w->eps, next, a, b, c->kl_weight / ((float)rows * (float)m->cfg.input_dim));
        return;
    }
    float *mine_next = next + a * width;
    const float *act = w->act[q] + a * width;
    lay->kind->grad_input(lay, in, dz, mine, mine_next, lay->in, scratch_at(j, l, a));
    if (c->sparsity_weight > 0.0f && q == code) ae_sparsity(m, c, w->act[q], rows, a, b, next);
    if (c->train && c->dropout > 0.0f && m->layer[q].dropout_after)
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
    for (size_t l = 0; l < m->n_layers; l++)
        if (!m->layer[l].kind->forward_cols) return 0;
    return !m->cfg.variational && !(c->train && c->dropout > 0.0f) && !(c->sparsity_weight > 0.0f);
}

enum { PH_ROWS_FORWARD, PH_GATHER, PH_COLS_FORWARD, PH_LOSS, PH_BACKWARD, PH_INPUT_FIRST };

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
    lay->kind->forward_cols(lay, in, j->rows, w->act[l], c0, c1, l + 1 < m->n_layers);
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
    j->loss[ch] =
        ae_loss_output_sum(j->c->loss, out->act, w->act[L - 1] + a * d, out->b, target + a * d, b - a, out->out,
                           j->backward ? w->delta[0] + a * d : NULL, NULL, 1.0f / ((float)j->rows * (float)d));
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
    lay->kind->grad_input_cols(lay, w->delta[cur], j->rows, next, c0, c1);
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
    case PH_INPUT_FIRST: grad_x_chunk(j, l, i); break;
    default: /* PH_BACKWARD */
        if (i < j->slices[l])
            grad_w_slice(j, l, i);
        else if (j->by_cols)
            grad_x_cols(j, l, i - j->slices[l]);
        else
            grad_x_chunk(j, l, i - j->slices[l]);
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
    /* cppcheck-suppress ctuuninitvar ; pass_run sets every field a task reads before any task runs */
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
            j->slices[l] = slices_of(m->layer[l].kind->param_rows(&m->layer[l]), j->chunks);
            if (m->layer[l].kind->input_first) { /* the row chunks' dX tasks, then the slices */
                phase(j, &n, C, PH_INPUT_FIRST, l);
                j->dx_tasks[l] = 0;
            } else {
                j->dx_tasks[l] = l == 0 && !j->dx ? 0 : j->by_cols ? slices_of(m->layer[l].in, j->chunks) : C;
            }
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
        if (j->m->layer[l].kind->input_first) {
            grad_x_chunk(j, l, 0);
            grad_w_slice(j, l, 0);
            continue;
        }
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
        ae_corrupt(m, c, *x, w->noisy, rows * d);
        noisy = w->noisy;
    }
    for (size_t l = 0; l + 1 < m->n_layers; l++) {
        if (l == head)
            ae_rng_fill_normal(&m->rng, w->eps, rows * m->cfg.code_dim);
        else if (c->train && c->dropout > 0.0f && m->layer[l].dropout_after)
            ae_dropout_draw(m, w->mask[l], rows * m->layer[l].out, 1.0f - c->dropout);
    }
    return noisy;
}

/* The pass in `chunks` row chunks (fewer when the batch has fewer than AE_PLAN_MIN_ROWS rows
 * a chunk), its tasks run by the caller alone or (team) with a pool's threads; the loss,
 * parts in *parts. */
static double pass_run(ae_model *m, ae_work *w, ae_pool *pool, int team, size_t chunks, int by_cols, const float *x,
                       const uint32_t *idx, const float *target, size_t rows, const ae_pass_cfg *c, int backward,
                       float *dx, ae_pass_parts *parts) {
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
double ae_pass_planned(ae_model *m, ae_work *w, ae_run *r, const float *x, const uint32_t *idx, size_t rows,
                       const ae_pass_cfg *c, int backward, ae_pass_parts *parts) {
    if (backward && r->pool) r->step_start = ae_now_seconds(); /* a training step's start */
    if (r->blas_single) ae_blas_single_begin();
    const double l = pass_run(m, w, r->pool, r->team, r->chunks, r->kind == AE_PLAN_COLS, x, idx, NULL, rows, c,
                              backward, NULL, parts);
    if (r->blas_single) ae_blas_single_end();
    return l;
}

/* Planning's timer: a pass (forward and backward) over the first rows under a candidate
 * plan (after a warm-up pass when asked); the model's weights, RNG and running statistics are
 * left as they were (the passes write only the gradients and the workspace, which every step
 * writes again, and the statistics, which are put back). */
typedef struct calib {
    ae_model *m;
    ae_work *w;
    const float *x;
    size_t rows;
    const ae_pass_cfg *c;
    float *state; /* NULL, or room for the model's state block (batch norm's running statistics) */
} calib;

static double time_pass(ae_run *r, int warm, void *ctx) {
    calib *k = ctx;
    const ae_rng saved = k->m->rng;
    if (k->state) memcpy(k->state, k->m->state, k->m->n_state * sizeof(float));
    if (warm) (void)ae_pass_planned(k->m, k->w, r, k->x, NULL, k->rows, k->c, 1, NULL);
    const double t0 = ae_now_seconds();
    (void)ae_pass_planned(k->m, k->w, r, k->x, NULL, k->rows, k->c, 1, NULL);
    const double t = ae_now_seconds() - t0;
    k->m->rng = saved;
    if (k->state) memcpy(k->m->state, k->state, k->m->n_state * sizeof(float));
    return t;
}

/* The run's plan (plan.c), chosen before its first batch for its model and batch of w->cap
 * rows, timing candidates over the first of this process's n rows x. AE_ENOMEM when the
 * pool's memory cannot be had; a thread that cannot be started leaves the run on one. */
int ae_pass_plan(ae_model *m, ae_work *w, const ae_pass_cfg *c, const float *x, size_t n, size_t total, int lead,
                 ae_run *run) {
    calib k = {m, w, x, n < w->cap ? n : w->cap, c, NULL};
    if (m->n_state && !(k.state = ae_calloc(m->n_state, sizeof(float)))) return AE_ENOMEM;
    const int covers = ae_pass_split_covers(m, c);
    ae_plan_request req = {
        m,  w->cap, (total + w->cap - 1) / w->cap, covers, covers && pass_cols_covers(m, c), n ? time_pass : NULL,
        &k, lead};
    const int rc = ae_plan_start(&req, run);
    ae_dealloc(k.state);
    return rc;
}

/* Summed loss over rows of xs in chunks of the workspace's capacity: no gradient, no noise or
 * dropout (a VAE still samples its code, as the ELBO is defined). */
double ae_pass_eval_sum(ae_model *m, ae_work *w, ae_run *run, const float *xs, size_t n, const ae_pass_cfg *train_cfg) {
    ae_pass_cfg c = *train_cfg;
    c.train = 0;
    const size_t d = m->cfg.input_dim;
    double sum = 0.0;
    for (size_t r0 = 0; r0 < n; r0 += w->cap) {
        size_t rows = n - r0 < w->cap ? n - r0 : w->cap;
        const float *xb = xs + r0 * d;
        sum += ae_pass_planned(m, w, run, xb, NULL, rows, &c, 0, NULL) * (double)rows;
    }
    return sum;
}
