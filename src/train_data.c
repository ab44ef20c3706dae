/* train_data: the rows a training call sees. Before the epochs: a held-out share of the rows
 * (val_split), the model's input scaling fitted on the first training rows (the statistics of
 * every process combined, so every process scales alike), the range refusal when scaling is
 * off, and scaled copies of the rows. After: the anomaly threshold calibrated on the held-out
 * rows, or on out-of-fold scores. All of it is sized and done once, outside the training step. */
#include <math.h>
#include <string.h>

#include "error.h"
#include "train.h"

/* ---- the held-out share: global row g is held out when floor((g + 1) s) > floor(g s), so
 * exactly floor(total s) rows, evenly spaced (sorted data splits fairly), and a process can
 * tell its own rows from their global index alone. */

size_t ae_held_before(size_t g, double s) { return (size_t)floor((double)g * s); }
static int is_held(size_t g, double s) { return ae_held_before(g + 1, s) > ae_held_before(g, s); }

int ae_split_rows(const float *x, size_t n, size_t d, size_t first, double s, ae_held_split *out) {
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < n; i++) out->n_held += (size_t)is_held(first + i, s);
    out->n_train = n - out->n_held;
    out->train = out->n_train ? ae_calloc(out->n_train * d, sizeof(float)) : NULL;
    out->held = out->n_held ? ae_calloc(out->n_held * d, sizeof(float)) : NULL;
    if ((out->n_train && !out->train) || (out->n_held && !out->held)) return AE_ENOMEM;
    size_t t = 0, h = 0;
    for (size_t i = 0; i < n; i++) {
        float *dst = is_held(first + i, s) ? out->held + h++ * d : out->train + t++ * d;
        memcpy(dst, x + i * d, d * sizeof(float));
    }
    return AE_OK;
}

void ae_split_free(ae_held_split *s) {
    ae_dealloc(s->train);
    ae_dealloc(s->held);
    memset(s, 0, sizeof *s);
}

/* ---- scaling statistics across processes: sums add; min and max travel in per-process
 * slots (a sum of vectors that are zero but for one slot), then each process takes the
 * extreme over the slots. */

typedef struct combine_ctx {
    const ae_dist *dist;
} combine_ctx;

static int combine_stats(ae_scale_stats *s, int pass, void *p) {
    const ae_dist *D = ((combine_ctx *)p)->dist;
    const size_t d = s->d;
    if (pass == 2) return D->sum_doubles(s->sq, d, D->ctx);
    int rc = D->sum_doubles(s->sum, d, D->ctx);
    if (rc == AE_OK) rc = D->sum_doubles(&s->rows, 1, D->ctx);
    const size_t P = (size_t)D->size;
    double *slots = ae_calloc(2 * d * P, sizeof(double));
    if (!slots) rc = AE_ENOMEM;
    if ((rc = D->agree(rc, D->ctx)) != AE_OK) {
        ae_dealloc(slots);
        return rc;
    }
    double *mine = slots + 2 * d * (size_t)D->rank;
    memcpy(mine, s->min, d * sizeof(double));
    memcpy(mine + d, s->max, d * sizeof(double));
    rc = D->sum_doubles(slots, 2 * d * P, D->ctx);
    for (size_t r = 0; rc == AE_OK && r < P; r++)
        for (size_t j = 0; j < d; j++) {
            const double lo = slots[2 * d * r + j], hi = slots[2 * d * r + d + j];
            if (lo < s->min[j]) s->min[j] = lo;
            if (hi > s->max[j]) s->max[j] = hi;
        }
    ae_dealloc(slots);
    return rc;
}

static int agree(const ae_dist *D, int rc) { return D && D->agree ? D->agree(rc, D->ctx) : rc; }

/* Fits m's scaler on x when it has none yet; with scaling off, the range check instead. */
int ae_fit_scaling(ae_model *m, const float *x, size_t n, const ae_dist *D) {
    int rc = AE_OK;
    if (m->cfg.scaling == AE_SCALE_NONE && !ae_scaler_active(&m->scaler))
        rc = n ? ae_scale_check_range(m->cfg.output_act, x, n, m->cfg.input_dim) : AE_OK;
    if ((rc = agree(D, rc)) != AE_OK || m->scaler.fitted) return rc;
    if (!D || D->size == 1) return ae_model_fit_scaling(m, x, n, NULL, NULL);
    combine_ctx c = {D};
    return agree(D, ae_model_fit_scaling(m, x, n, combine_stats, &c));
}

int ae_prepare_rows(ae_model *m, const float *x, size_t n, const float **scaled, float **owned) {
    *owned = NULL;
    *scaled = x;
    int rc = ae_fit_scaling(m, x, n, NULL);
    return rc == AE_OK ? ae_scaled_rows(m, x, n, scaled, owned) : rc;
}

/* Scales rows the call owns in place; otherwise makes a scaled copy (or keeps x). */
static int scaled_view(const ae_model *m, float *own, const float *x, size_t n, const float **out, float **made) {
    *made = NULL;
    if (own) {
        if (ae_scaler_active(&m->scaler)) ae_scaler_apply(&m->scaler, own, n, own);
        *out = own;
        return AE_OK;
    }
    *out = x;
    return n ? ae_scaled_rows(m, x, n, out, made) : AE_OK;
}

/* The threshold from out-of-fold scores: fold k's model (m's config and o's options) learns
 * every row i with i % K != k and scores the others. The rows need not fit in a fold's batch. */
static int fold_threshold(ae_model *m, const float *x, size_t n, const ae_train_opts *o) {
    const size_t K = (size_t)o->threshold_folds, d = m->cfg.input_dim, per = (n + K - 1) / K;
    if (n < 2 * K) return ae_fail(AE_EINVAL, "threshold_folds %zu needs at least %zu rows, not %zu", K, 2 * K, n);
    float *scores = ae_calloc(n, sizeof(float)), *tr = ae_calloc((n - n / K) * d, sizeof(float));
    float *te = ae_calloc(per * d, sizeof(float)), *s = ae_calloc(per, sizeof(float));
    int rc = scores && tr && te && s ? AE_OK : AE_ENOMEM;
    ae_train_opts fo = *o;
    fo.on_epoch = NULL;
    fo.on_batch = NULL;
    fo.threshold = AE_THRESHOLD_NONE;
    fo.threshold_folds = 0;
    fo.checkpoint_every = 0;
    fo.checkpoint_path = NULL;
    fo.resume = 0;
    for (size_t k = 0; k < K && rc == AE_OK; k++) {
        size_t nt = 0, ne = 0;
        for (size_t i = 0; i < n; i++) memcpy(i % K == k ? te + ne++ * d : tr + nt++ * d, x + i * d, d * sizeof(float));
        ae_model *f = NULL;
        rc = ae_create(&f, &m->cfg);
        if (rc == AE_OK) rc = ae_train(f, tr, nt, &fo);
        if (rc == AE_OK) rc = ae_score(f, te, ne, s);
        for (size_t i = 0; rc == AE_OK && i < ne; i++) scores[i * K + k] = s[i];
        ae_free(f);
    }
    if (rc == AE_OK) rc = ae_threshold_calibrate_scores(m, scores, n, o->threshold, o->threshold_param, NULL);
    ae_dealloc(s);
    ae_dealloc(te);
    ae_dealloc(tr);
    ae_dealloc(scores);
    return rc;
}

int ae_fit_dist(ae_model *m, const float *x, size_t n, const ae_train_opts *opts, const ae_dist *D) {
    ae_error_clear();
    if (!m) return AE_EINVAL;
    ae_train_opts defaults = ae_train_opts_default();
    const ae_train_opts *o = opts ? opts : &defaults;
    int rc = ae_train_opts_check(m, o);
    if (rc == AE_OK) rc = ae_check_rows(x, n, m->cfg.input_dim);
    if (rc == AE_OK && o->val_x) rc = ae_check_rows(o->val_x, o->val_n, m->cfg.input_dim);
    if (rc == AE_OK && D && D->size > 1 && o->threshold != AE_THRESHOLD_NONE)
        rc = ae_fail(AE_EINVAL, "threshold: calibrate after data-parallel training, on one process");
    if ((rc = agree(D, rc)) != AE_OK) return rc;

    const size_t d = m->cfg.input_dim, first = D ? D->first : 0, total = D ? D->total : n;
    const double s = o->val_split;
    ae_held_split sp = {NULL, NULL, 0, 0};
    float *val_made = NULL, *train_made = NULL;
    if (s > 0.0) {
        rc = ae_split_rows(x, n, d, first, s, &sp);
        /* Globally: at least one row on each side. */
        if (rc == AE_OK && (ae_held_before(total, s) == 0 || ae_held_before(total, s) == total))
            rc = ae_fail(AE_EINVAL, "val_split %g of %zu rows leaves no validation or no training rows", s, total);
    }
    if ((rc = agree(D, rc)) != AE_OK) goto done;

    const float *train_raw = s > 0.0 ? sp.train : x, *val_raw = s > 0.0 ? sp.held : o->val_x;
    const size_t n_train = s > 0.0 ? sp.n_train : n, n_val = s > 0.0 ? sp.n_held : o->val_n;
    rc = ae_fit_scaling(m, train_raw, n_train, D);
    if (rc != AE_OK) goto done;

    /* The held-out rows stay in the user's units for the calibration below: scale a copy. */
    const float *train_x, *val_x = NULL;
    rc = scaled_view(m, s > 0.0 ? sp.train : NULL, x, n_train, &train_x, &train_made);
    if (rc == AE_OK && val_raw) rc = scaled_view(m, NULL, val_raw, n_val, &val_x, &val_made);
    if ((rc = agree(D, rc)) != AE_OK) goto done;

    ae_train_opts inner = *o;
    inner.val_x = val_x;
    inner.val_n = val_x ? n_val : 0;
    inner.val_split = 0.0f;
    inner.threshold = AE_THRESHOLD_NONE;
    inner.threshold_folds = 0;
    ae_dist shifted;
    const ae_dist *Di = D;
    if (D && s > 0.0) { /* the training rows' own global numbering */
        shifted = *D;
        shifted.first = first - ae_held_before(first, s);
        shifted.total = total - ae_held_before(total, s);
        Di = &shifted;
    }
    rc = ae_train_dist(m, train_x, n_train, &inner, Di);
    if (rc == AE_OK && o->threshold != AE_THRESHOLD_NONE && o->threshold_folds > 1) {
        rc = fold_threshold(m, x, n, o);
    } else if (rc == AE_OK && o->threshold != AE_THRESHOLD_NONE) {
        const float *cal = val_raw ? val_raw : train_raw;
        rc = ae_threshold_calibrate(m, cal, val_raw ? n_val : n_train, o->threshold, o->threshold_param, NULL);
    }
done:
    ae_dealloc(train_made);
    ae_dealloc(val_made);
    ae_split_free(&sp);
    return rc;
}
