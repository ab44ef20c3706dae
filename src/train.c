#define _POSIX_C_SOURCE 200809L
#include "train.h"

#include <math.h>
#include <string.h>
#include <time.h>

#include "loss.h"
#include "optim.h"

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

int ae_work_init(ae_work *w, const ae_model *m, size_t cap) {
    memset(w, 0, sizeof *w);
    /* Every piece is a whole number of 64-byte lines, so each view stays aligned. */
    size_t sizes[AE_MAX_LAYERS + 3], total = 0, n = 0;
    for (size_t l = 0; l < m->n_layers; l++) sizes[n++] = cap * m->layer[l].out;
    sizes[n++] = cap * m->max_width;
    sizes[n++] = cap * m->max_width;
    sizes[n++] = cap * m->cfg.input_dim;
    for (size_t i = 0; i < n; i++) {
        sizes[i] = (sizes[i] + 15) & ~(size_t)15;
        total += sizes[i];
    }
    w->block = ae_calloc(total, sizeof(float));
    if (!w->block) return AE_ENOMEM;
    float *p = w->block;
    for (size_t l = 0; l < m->n_layers; l++) { w->act[l] = p; p += sizes[l]; }
    w->delta[0] = p; p += sizes[m->n_layers];
    w->delta[1] = p; p += sizes[m->n_layers + 1];
    w->batch = p;
    w->cap = cap;
    return AE_OK;
}

void ae_work_free(ae_work *w) {
    ae_dealloc(w->block);
    memset(w, 0, sizeof *w);
}

double ae_pass(ae_model *m, ae_work *w, const float *x, const float *target, size_t rows,
               ae_loss loss, int backward, float *dx) {
    const size_t L = m->n_layers;
    const ae_layer *out = &m->layer[L - 1];
    /* Forward: A_l = act(A_{l-1} . W_l^T + b_l); the output layer stops at Z = A . W^T. */
    const float *src = x;
    for (size_t l = 0; l + 1 < L; l++) {
        ae_layer_forward(&m->layer[l], src, rows, w->act[l], 1);
        src = w->act[l];
    }
    ae_layer_forward(out, src, rows, w->act[L - 1], 0);
    float *dz = backward ? w->delta[0] : NULL;
    double value = ae_loss_output(loss, out->act, w->act[L - 1], out->b, target, rows, out->out, dz, NULL);
    if (!backward) return value;

    /* Backward: dZ_l -> (dW_l, db_l) and dA_{l-1} = dZ_l . W_l, then dZ_{l-1} = dA_{l-1} * act'. */
    int cur = 0;
    for (size_t l = L; l-- > 0;) {
        const ae_layer *lay = &m->layer[l];
        const float *input = l ? w->act[l - 1] : x;
        float *next = l ? w->delta[cur ^ 1] : dx;
        ae_layer_backward(lay, input, w->delta[cur], rows, next);
        if (l) {
            ae_act_backward(next, w->act[l - 1], rows * lay->in, m->layer[l - 1].act);
            cur ^= 1;
        }
    }
    return value;
}

static int finite_in(float v, float lo, float hi) { return isfinite(v) && v >= lo && v <= hi; }

int ae_train_opts_check(const ae_model *m, const ae_train_opts *o) {
    if (o->epochs < 1 || o->batch_size < 1 || o->batch_size > AE_MAX_ROWS) return AE_EINVAL;
    if ((unsigned)o->optimizer > (unsigned)AE_OPT_ADAMW || (unsigned)o->loss > (unsigned)AE_LOSS_BCE)
        return AE_EINVAL;
    if (!(isfinite(o->learning_rate) && o->learning_rate > 0.0f)) return AE_EINVAL;
    if (!finite_in(o->momentum, 0.0f, 1.0f) || o->momentum >= 1.0f) return AE_EINVAL;
    if (!finite_in(o->beta1, 0.0f, 1.0f) || o->beta1 >= 1.0f) return AE_EINVAL;
    if (!finite_in(o->beta2, 0.0f, 1.0f) || o->beta2 >= 1.0f) return AE_EINVAL;
    if (!(isfinite(o->eps) && o->eps > 0.0f)) return AE_EINVAL;
    if (!finite_in(o->weight_decay, 0.0f, 1e6f)) return AE_EINVAL;
    if (o->nesterov && (o->optimizer != AE_OPT_SGD || o->momentum == 0.0f)) return AE_EINVAL;
    /* BCE is computed from logits, which needs the sigmoid output. */
    if (o->loss == AE_LOSS_BCE && m->cfg.output_act != AE_ACT_SIGMOID) return AE_EINVAL;
    /* Corruption, dropout and the sparsity penalty arrive with the variants issue; until then
     * asking for them is refused rather than silently ignored. */
    if (o->noise != AE_NOISE_NONE || o->dropout != 0.0f || o->sparsity_weight != 0.0f) return AE_EINVAL;
    if (o->patience < 0) return AE_EINVAL;
    if ((o->val_x == NULL) != (o->val_n == 0)) return AE_EINVAL;
    return AE_OK;
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Mean loss over rows of xs in chunks of the workspace's capacity (no gradient). */
static double eval_loss(ae_model *m, ae_work *w, const float *xs, size_t n, ae_loss loss) {
    const size_t d = m->cfg.input_dim;
    double sum = 0.0;
    for (size_t r0 = 0; r0 < n; r0 += w->cap) {
        size_t rows = n - r0 < w->cap ? n - r0 : w->cap;
        const float *xb = xs + r0 * d;
        sum += ae_pass(m, w, xb, xb, rows, loss, 0, NULL) * (double)rows;
    }
    return sum / (double)n;
}

int ae_train(ae_model *m, const float *x, size_t n, const ae_train_opts *opts) {
    if (!m) return AE_EINVAL;
    ae_train_opts defaults = ae_train_opts_default();
    const ae_train_opts *o = opts ? opts : &defaults;
    int rc = ae_train_opts_check(m, o);
    if (rc == AE_OK) rc = ae_check_rows(x, n, m->cfg.input_dim);
    if (rc == AE_OK && o->val_x) rc = ae_check_rows(o->val_x, o->val_n, m->cfg.input_dim);
    if (rc != AE_OK) return rc;

    const size_t d = m->cfg.input_dim;
    const size_t cap = o->batch_size < n ? o->batch_size : n;
    ae_work w;
    ae_optim opt;
    uint32_t *perm = NULL;
    float *best = NULL;
    memset(&opt, 0, sizeof opt);
    rc = ae_work_init(&w, m, cap);
    if (rc == AE_OK) rc = ae_optim_init(&opt, o, m->n_params);
    if (rc == AE_OK && o->shuffle && !(perm = ae_calloc(n, sizeof *perm))) rc = AE_ENOMEM;
    if (rc == AE_OK && o->patience > 0 && !(best = ae_calloc(m->n_params, sizeof(float)))) rc = AE_ENOMEM;
    if (rc != AE_OK) goto done;
    if (perm)
        for (size_t i = 0; i < n; i++) perm[i] = (uint32_t)i;

    double best_loss = INFINITY;
    int bad_epochs = 0, have_best = 0;
    for (int epoch = 1; epoch <= o->epochs && rc == AE_OK; epoch++) {
        double t0 = now_seconds(), sum = 0.0;
        if (perm) ae_rng_permute(&m->rng, perm, n);
        for (size_t r0 = 0; r0 < n; r0 += cap) {
            size_t rows = n - r0 < cap ? n - r0 : cap;
            const float *xb = x + r0 * d;
            if (perm) { /* gather the batch by index */
                for (size_t i = 0; i < rows; i++) memcpy(w.batch + i * d, x + (size_t)perm[r0 + i] * d, d * sizeof(float));
                xb = w.batch;
            }
            double l = ae_pass(m, &w, xb, xb, rows, o->loss, 1, NULL);
            if (!isfinite(l)) { /* leave the weights of the last finite step */
                rc = AE_EDIVERGED;
                break;
            }
            ae_optim_step(&opt, m->params, m->grads);
            sum += l * (double)rows;
        }
        if (rc != AE_OK) break;
        ae_epoch_stats s;
        s.epoch = epoch;
        s.train_loss = sum / (double)n;
        s.val_loss = o->val_x ? eval_loss(m, &w, o->val_x, o->val_n, o->loss) : NAN;
        s.samples = n;
        s.seconds = now_seconds() - t0;
        int stop = o->on_epoch ? o->on_epoch(&s, o->user) != 0 : 0;
        if (best) {
            double monitored = o->val_x ? s.val_loss : s.train_loss;
            if (monitored < best_loss) {
                best_loss = monitored;
                memcpy(best, m->params, m->n_params * sizeof(float));
                have_best = 1;
                bad_epochs = 0;
            } else if (++bad_epochs >= o->patience) {
                stop = 1;
            }
        }
        if (stop) break;
    }
    if (have_best) memcpy(m->params, best, m->n_params * sizeof(float));
done:
    ae_dealloc(best);
    ae_dealloc(perm);
    ae_optim_free(&opt);
    ae_work_free(&w);
    return rc;
}
