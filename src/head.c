/* head: a supervised layer on the code. SOFTMAX: p = softmax(code . Wh^T + bh), loss the mean
 * cross-entropy -log p[y]; LINEAR: out = code . Wh^T + bh, loss the mean over all elements of
 * (out - t)^2 (torch.nn.CrossEntropyLoss / MSELoss). Trained alone on fixed codes (frozen
 * encoder) or together with the encoder (fine-tuning), with the model's optimizers. */
#define _POSIX_C_SOURCE 200809L
#include "head.h"

#include <math.h>
#include <string.h>

#include "error.h"
#include "loss.h"
#include "train.h"

int ae_head_create(ae_model *m, ae_head_kind kind, size_t outputs) {
    if (!m || (kind != AE_HEAD_SOFTMAX && kind != AE_HEAD_LINEAR) || outputs < 1 || outputs > AE_MAX_WIDTH ||
        (kind == AE_HEAD_SOFTMAX && outputs < 2))
        return AE_EINVAL;
    int rc = ae_head_alloc(m, kind, outputs);
    if (rc != AE_OK) return rc;
    /* Glorot-uniform, as for the model's non-ReLU layers. */
    const ae_layer *H = &m->head.layer;
    const double bound = sqrt(6.0 / (double)(H->in + H->out));
    for (size_t i = 0; i < H->in * H->out; i++) H->w[i] = (float)((2.0 * ae_rng_uniform(&m->rng) - 1.0) * bound);
    return AE_OK;
}

int ae_head_get(const ae_model *m, ae_head_kind *kind, size_t *outputs) {
    if (!m || !m->head.outputs) return AE_EINVAL;
    if (kind) *kind = m->head.kind;
    if (outputs) *outputs = m->head.outputs;
    return AE_OK;
}

/* ---- the training pass ---- */

static size_t target_cols(const ae_model *m) { return m->head.kind == AE_HEAD_SOFTMAX ? 1 : m->head.outputs; }
static int is_vae(const ae_model *m) { return m->cfg.variational; }

int ae_head_work_init(ae_head_work *w, const ae_model *m, size_t cap, int through_encoder) {
    memset(w, 0, sizeof *w);
    const size_t k = m->cfg.code_dim, c = m->head.outputs, E = m->n_enc;
    const size_t wide = m->max_width > c ? m->max_width : c;
    size_t sizes[2 * AE_MAX_LAYERS + 6], n = 0, total = 0;
    for (size_t l = 0; l < E; l++) sizes[n++] = through_encoder ? cap * m->layer[l].out : 0;
    sizes[n++] = through_encoder && is_vae(m) ? cap * k : 0;
    sizes[n++] = cap * c;
    sizes[n++] = cap * wide;
    sizes[n++] = cap * wide;
    sizes[n++] = cap * (through_encoder ? m->cfg.input_dim : k);
    sizes[n++] = cap * target_cols(m);
    for (size_t l = 0; l < E; l++) sizes[n++] = through_encoder ? ae_layer_scratch(&m->layer[l], cap) : 0;
    for (size_t i = 0; i < n; i++) total += sizes[i] = ae_padded(sizes[i]);
    if (!(w->block = ae_calloc(total, sizeof(float)))) return AE_ENOMEM;
    float *p = w->block;
    size_t i = 0;
#define CARVE(dst) \
    do { \
        dst = sizes[i] ? p : NULL; \
        p += sizes[i++]; \
    } while (0)
    for (size_t l = 0; l < E; l++) CARVE(w->act[l]);
    CARVE(w->code);
    CARVE(w->out);
    CARVE(w->delta[0]);
    CARVE(w->delta[1]);
    CARVE(w->batch);
    CARVE(w->target);
    for (size_t l = 0; l < E; l++) CARVE(w->scratch[l]);
#undef CARVE
    w->cap = cap;
    w->through_encoder = through_encoder;
    return AE_OK;
}

void ae_head_work_free(ae_head_work *w) {
    ae_dealloc(w->block);
    memset(w, 0, sizeof *w);
}

double ae_head_pass(ae_model *m, ae_head_work *w, const float *x, const float *y, size_t rows, int backward) {
    const size_t E = m->n_enc, k = m->cfg.code_dim, c = m->head.outputs;
    const ae_layer *H = &m->head.layer;
    const float *code = x;
    if (w->through_encoder) { /* A_l = act(A_{l-1} . W_l^T + b_l) up to the code */
        const float *src = x;
        for (size_t l = 0; l < E; l++) {
            m->layer[l].kind->forward(&m->layer[l], src, rows, w->act[l], 1, 1, w->scratch[l]); /* training */
            src = w->act[l];
        }
        code = w->act[E - 1];
        if (is_vae(m)) { /* the head reads mu, the first k of each row's [mu | logvar] */
            for (size_t i = 0; i < rows; i++) memcpy(w->code + i * k, code + i * 2 * k, k * sizeof(float));
            code = w->code;
        }
    }
    ae_layer_forward(H, code, rows, w->out, 1); /* out [rows x c] = code . Wh^T + bh */
    float *dz = backward ? w->delta[0] : NULL;
    double sum;
    if (m->head.kind == AE_HEAD_SOFTMAX)
        sum = ae_softmax_loss(w->out, y, rows, c, dz, 1.0f / (float)rows, NULL) / (double)rows;
    else
        sum = ae_mse_loss(w->out, y, rows, c, dz, 1.0f / ((float)rows * (float)c)) / ((double)rows * (double)c);
    if (!backward) return sum;

    /* dWh = dZ^T . code, dbh = column sums; dcode [rows x k] = dZ . Wh into delta[1]. */
    ae_layer_backward(H, code, w->delta[0], rows, w->through_encoder ? w->delta[1] : NULL);
    if (!w->through_encoder) return sum;
    int cur = 1;
    for (size_t l = E; l-- > 0;) {
        ae_layer L = m->layer[l];
        L.grad_accumulate = 0; /* a tied model's decoder does not run here: write, not add */
        float *d = w->delta[cur];
        if (is_vae(m) && l + 1 == E) {
            /* dmu [rows x k] -> [rows x 2k] with dlogvar = 0, rows last to first in place; the
             * head layer is linear. */
            for (size_t i = rows; i-- > 0;) {
                memmove(d + i * 2 * k, d + i * k, k * sizeof(float));
                memset(d + i * 2 * k + k, 0, k * sizeof(float));
            }
        } else {
            ae_act_backward(d, w->act[l], rows * L.out, L.act); /* dZ_l = dA_l * act'(A_l) */
        }
        const float *in = l ? w->act[l - 1] : x;
        float *dx = l ? w->delta[cur ^ 1] : NULL;
        if (L.kind->input_first) L.kind->grad_input(&L, in, d, rows, dx, L.in, w->scratch[l]);
        L.kind->grad_params(&L, in, d, rows, 0, 1, 1, w->scratch[l]);
        if (!L.kind->input_first && l) L.kind->grad_input(&L, in, d, rows, dx, L.in, w->scratch[l]);
        cur ^= 1;
    }
    return sum;
}

/* ---- training: a task for fit ---- */

/* Class indices: finite whole numbers in [0, c). */
static int labels_ok(const float *y, size_t n, size_t c) {
    for (size_t i = 0; i < n; i++)
        if (!(y[i] >= 0.0f && y[i] < (float)c && y[i] == floorf(y[i]))) return 0;
    return 1;
}

static int check_targets(const ae_model *m, const float *y, size_t n) {
    if (!y) return AE_EINVAL;
    if (m->head.kind == AE_HEAD_SOFTMAX) return labels_ok(y, n, m->head.outputs) ? AE_OK : AE_EINVAL;
    return ae_check_rows(y, n, m->head.outputs);
}

static int head_opts_check(const ae_model *m, const ae_train_opts *o, int freeze_encoder) {
    int rc = ae_train_opts_check(m, o);
    if (rc != AE_OK) return rc;
    if (o->noise != AE_NOISE_NONE || o->dropout > 0.0f || o->sparsity_weight > 0.0f || o->val_x ||
        o->checkpoint_every > 0 || o->resume || o->threshold != AE_THRESHOLD_NONE ||
        (freeze_encoder != 0 && freeze_encoder != 1))
        return AE_EINVAL;
    return AE_OK;
}

/* The head's run, as fit's task sees it: rows (inputs, or with a frozen encoder their codes
 * computed once) and targets, and the held-out ones for validation. */
typedef struct head_ctx {
    ae_model *m;
    ae_head_work w;
    const float *x, *y; /* training rows [n x in_w] and targets [n x tc] */
    const float *vx, *vy; /* validation rows and targets, or NULL */
    size_t in_w, tc, n_val;
} head_ctx;

static double head_step(void *p, size_t lo, const uint32_t *idx, size_t rows, ae_pass_parts *parts) {
    head_ctx *c = p;
    const float *xb = c->x + lo * c->in_w, *yb = c->y + lo * c->tc;
    if (idx) { /* gather the batch by index */
        for (size_t i = 0; i < rows; i++) {
            memcpy(c->w.batch + i * c->in_w, c->x + (size_t)idx[i] * c->in_w, c->in_w * sizeof(float));
            memcpy(c->w.target + i * c->tc, c->y + (size_t)idx[i] * c->tc, c->tc * sizeof(float));
        }
        xb = c->w.batch;
        yb = c->w.target;
    }
    const double l = ae_head_pass(c->m, &c->w, xb, yb, rows, 1);
    *parts = (ae_pass_parts){l, 0.0, 0.0};
    return l;
}

static double head_validate(void *p, size_t *rows) {
    head_ctx *c = p;
    double sum = 0.0;
    for (size_t r0 = 0; r0 < c->n_val; r0 += c->w.cap) {
        const size_t r = c->n_val - r0 < c->w.cap ? c->n_val - r0 : c->w.cap;
        sum += ae_head_pass(c->m, &c->w, c->vx + r0 * c->in_w, c->vy + r0 * c->tc, r, 0) * (double)r;
    }
    *rows = c->n_val;
    return sum;
}

/* The held-out share of rows and targets (val_split), as ae_train holds out rows. */
typedef struct head_rows {
    ae_held_split xs, ys;
    float *codes, *val_codes; /* a frozen encoder's codes of the training and validation rows */
} head_rows;

static int head_rows_make(ae_model *m, const float *x, const float *y, size_t n, double s, int through, head_rows *r,
                          head_ctx *c) {
    const size_t k = m->cfg.code_dim;
    int rc = AE_OK;
    c->x = x;
    c->y = y;
    size_t n_train = n;
    if (s > 0.0) {
        if (ae_held_before(n, s) == 0 || ae_held_before(n, s) == n)
            return ae_fail(AE_EINVAL, "val_split %g of %zu rows leaves no validation or no training rows", s, n);
        if ((rc = ae_split_rows(x, n, m->cfg.input_dim, 0, s, &r->xs)) != AE_OK ||
            (rc = ae_split_rows(y, n, c->tc, 0, s, &r->ys)) != AE_OK)
            return rc;
        c->x = r->xs.train;
        c->y = r->ys.train;
        c->vx = r->xs.held;
        c->vy = r->ys.held;
        c->n_val = r->xs.n_held;
        n_train = r->xs.n_train;
    }
    if (through) return AE_OK;
    /* A frozen encoder: its codes once, the steps read them. */
    if (!(r->codes = ae_calloc(n_train * k, sizeof(float))) ||
        (c->n_val && !(r->val_codes = ae_calloc(c->n_val * k, sizeof(float)))))
        return AE_ENOMEM;
    rc = ae_forward_layers(m, 0, m->n_enc, c->x, n_train, r->codes);
    if (rc == AE_OK && c->n_val) rc = ae_forward_layers(m, 0, m->n_enc, c->vx, c->n_val, r->val_codes);
    c->x = r->codes;
    if (c->n_val) c->vx = r->val_codes;
    return rc;
}

static void head_rows_free(head_rows *r) {
    ae_split_free(&r->xs);
    ae_split_free(&r->ys);
    ae_dealloc(r->codes);
    ae_dealloc(r->val_codes);
}

int ae_head_train(ae_model *m, const float *x, size_t n, const float *y, int freeze_encoder,
                  const ae_train_opts *opts) {
    ae_error_clear();
    if (!m || !m->head.outputs) return AE_EINVAL;
    ae_train_opts defaults = ae_train_opts_default();
    const ae_train_opts *o = opts ? opts : &defaults;
    int rc = head_opts_check(m, o, freeze_encoder);
    if (rc == AE_OK) rc = ae_check_rows(x, n, m->cfg.input_dim);
    if (rc == AE_OK) rc = check_targets(m, y, n);
    if (rc != AE_OK) return rc;
    float *scaled_copy = NULL; /* x in the model's scaled units, when it scales */
    if ((rc = ae_prepare_rows(m, x, n, &x, &scaled_copy)) != AE_OK) return rc;

    const int through = !freeze_encoder;
    head_ctx c;
    head_rows r;
    ae_optim opt;
    memset(&c, 0, sizeof c);
    memset(&r, 0, sizeof r);
    memset(&opt, 0, sizeof opt);
    c.m = m;
    c.tc = target_cols(m);
    c.in_w = through ? m->cfg.input_dim : m->cfg.code_dim;
    rc = head_rows_make(m, x, y, n, o->val_split, through, &r, &c);
    const size_t n_train = n - c.n_val, cap = o->batch_size < n_train ? o->batch_size : n_train;
    ae_fit_task t;
    memset(&t, 0, sizeof t);
    /* The trained blocks: the encoder's span of m->params when fine-tuning, and the head's. */
    if (through) { /* the encoder's running statistics (batch norm) move too */
        t.span[t.n_spans++] = (ae_span){m->params, m->grads, ae_encoder_span(m)};
        t.state = m->state;
        t.n_state = m->n_state;
    }
    t.span[t.n_spans++] = (ae_span){m->head.params, m->head.grads, m->head.n};
    if (rc == AE_OK) rc = ae_head_work_init(&c.w, m, cap, through);
    if (rc == AE_OK) rc = ae_optim_init(&opt, o, (through ? t.span[0].n : 0) + m->head.n);
    if (rc == AE_OK) {
        t.opt = &opt;
        t.rng = &m->rng;
        t.n = n_train;
        t.batch = cap;
        t.shuffle = o->shuffle;
        t.first_epoch = 1;
        t.step = head_step;
        t.validate = c.n_val ? head_validate : NULL;
        t.ctx = &c;
        t.opts = o;
        rc = ae_fit(&t, NULL);
    }
    head_rows_free(&r);
    ae_dealloc(scaled_copy);
    ae_optim_free(&opt);
    ae_head_work_free(&c.w);
    return rc;
}

/* ---- inference ---- */

#define HEAD_CHUNK 256

/* Runs the encoder and the head over x in chunks; for each chunk calls visit with the head's
 * output [rows x c] (probabilities for SOFTMAX) and the chunk's first row. */
typedef void (*head_visit)(const ae_model *m, float *out, size_t r0, size_t rows, void *ctx);

static int head_forward(const ae_model *m, const float *x, size_t n, head_visit visit, void *ctx) {
    ae_error_clear();
    if (!m || !m->head.outputs) return AE_EINVAL;
    int rc = ae_check_rows(x, n, m->cfg.input_dim);
    if (rc != AE_OK) return rc;
    const size_t d = m->cfg.input_dim, k = m->cfg.code_dim, c = m->head.outputs;
    const size_t chunk = n < HEAD_CHUNK ? n : HEAD_CHUNK;
    const int scaled = ae_scaler_active(&m->scaler);
    float *code = ae_calloc(chunk * k, sizeof(float)), *out = ae_calloc(chunk * c, sizeof(float));
    float *xs = scaled ? ae_calloc(chunk * d, sizeof(float)) : NULL;
    if (!code || !out || (scaled && !xs)) rc = AE_ENOMEM;
    for (size_t r0 = 0; r0 < n && rc == AE_OK; r0 += chunk) {
        const size_t rows = n - r0 < chunk ? n - r0 : chunk;
        const float *in = ae_scaler_chunk(&m->scaler, x + r0 * d, rows, xs); /* what the encoder learnt */
        rc = ae_forward_layers(m, 0, m->n_enc, in, rows, code);
        if (rc != AE_OK) break;
        ae_layer_forward(&m->head.layer, code, rows, out, 1); /* out = code . Wh^T + bh */
        visit(m, out, r0, rows, ctx);
    }
    ae_dealloc(xs);
    ae_dealloc(code);
    ae_dealloc(out);
    return rc;
}

static void visit_predict(const ae_model *m, float *out, size_t r0, size_t rows, void *ctx) {
    const size_t c = m->head.outputs;
    if (m->head.kind == AE_HEAD_SOFTMAX)
        for (size_t i = 0; i < rows; i++) (void)ae_softmax_row(out + i * c, c);
    memcpy((float *)ctx + r0 * c, out, rows * c * sizeof(float));
}

int ae_head_predict(const ae_model *m, const float *x, size_t n, float *out) {
    if (!out) return AE_EINVAL;
    return head_forward(m, x, n, visit_predict, out);
}

static void visit_classify(const ae_model *m, float *out, size_t r0, size_t rows, void *ctx) {
    const size_t c = m->head.outputs;
    int32_t *labels = ctx;
    for (size_t i = 0; i < rows; i++) { /* the largest logit is the most probable class */
        size_t best = 0;
        for (size_t j = 1; j < c; j++)
            if (out[i * c + j] > out[i * c + best]) best = j;
        labels[r0 + i] = (int32_t)best;
    }
}

int ae_head_classify(const ae_model *m, const float *x, size_t n, int32_t *labels) {
    if (!labels || !m || m->head.kind != AE_HEAD_SOFTMAX) return AE_EINVAL;
    return head_forward(m, x, n, visit_classify, labels);
}

typedef struct eval_ctx {
    const float *y;
    double loss;
    size_t correct;
} eval_ctx;

static void visit_evaluate(const ae_model *m, float *out, size_t r0, size_t rows, void *ctx) {
    eval_ctx *e = ctx;
    const size_t c = m->head.outputs;
    if (m->head.kind == AE_HEAD_SOFTMAX)
        e->loss += ae_softmax_loss(out, e->y + r0, rows, c, NULL, 0.0f, &e->correct);
    else
        e->loss += ae_mse_loss(out, e->y + r0 * c, rows, c, NULL, 0.0f);
}

int ae_head_evaluate(const ae_model *m, const float *x, size_t n, const float *y, double *loss, double *accuracy) {
    if (!m || !m->head.outputs) return AE_EINVAL;
    int rc = ae_check_rows(x, n, m->cfg.input_dim);
    if (rc == AE_OK) rc = check_targets(m, y, n);
    if (rc != AE_OK) return rc;
    eval_ctx e = {y, 0.0, 0};
    rc = head_forward(m, x, n, visit_evaluate, &e);
    if (rc != AE_OK) return rc;
    const int soft = m->head.kind == AE_HEAD_SOFTMAX;
    if (loss) *loss = e.loss / ((double)n * (soft ? 1.0 : (double)m->head.outputs));
    if (accuracy) *accuracy = soft ? (double)e.correct / (double)n : NAN;
    return AE_OK;
}
