/* anomaly: reconstruction errors per row and per feature, and the threshold that separates
 * normal rows from anomalies (calibrated on rows known to be normal, saved with the model). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "model.h"

#define SCORE_CHUNK 256 /* rows reconstructed at a time: bounds the workspace */

/* row_err[i] = mean_j (rec_ij - x_ij)^2 and, when feat_err is not NULL, each term itself. */
static int recon_errors(const ae_model *m, const float *x, size_t n, float *row_err, float *feat_err) {
    ae_error_clear();
    if (!m || (!row_err && !feat_err)) return AE_EINVAL;
    int rc = ae_check_rows(x, n, m->cfg.input_dim);
    if (rc != AE_OK) return rc;
    const size_t d = m->cfg.input_dim, chunk = n < SCORE_CHUNK ? n : SCORE_CHUNK;
    const int scaled = ae_scaler_active(&m->scaler);
    /* Errors are measured in scaled units: the chunk is scaled, then reconstructed. */
    float *rec = ae_calloc(chunk * d, sizeof(float)), *xs = scaled ? ae_calloc(chunk * d, sizeof(float)) : NULL;
    if (!rec || (scaled && !xs)) {
        ae_dealloc(rec);
        ae_dealloc(xs);
        return AE_ENOMEM;
    }
    for (size_t r0 = 0; r0 < n && rc == AE_OK; r0 += chunk) {
        const size_t rows = n - r0 < chunk ? n - r0 : chunk;
        const float *in = ae_scaler_chunk(&m->scaler, x + r0 * d, rows, xs);
        rc = ae_forward_layers(m, 0, m->n_layers, in, rows, rec);
        for (size_t i = 0; i < rows && rc == AE_OK; i++) {
            const float *a = rec + i * d, *b = in + i * d;
            float *f = feat_err ? feat_err + (r0 + i) * d : NULL;
            double s = 0.0;
            for (size_t j = 0; j < d; j++) {
                const float e = (a[j] - b[j]) * (a[j] - b[j]);
                if (f) f[j] = e;
                s += e;
            }
            if (row_err) row_err[r0 + i] = (float)(s / (double)d);
        }
    }
    ae_dealloc(rec);
    ae_dealloc(xs);
    return rc;
}

int ae_score(const ae_model *m, const float *x, size_t n, float *err) {
    return err ? recon_errors(m, x, n, err, NULL) : AE_EINVAL;
}

int ae_score_features(const ae_model *m, const float *x, size_t n, float *err) {
    return err ? recon_errors(m, x, n, NULL, err) : AE_EINVAL;
}

static int float_cmp(const void *a, const void *b) {
    const float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static int param_ok(ae_threshold_method method, double param) {
    if (method == AE_THRESHOLD_QUANTILE) return param >= 0.0 && param <= 1.0; /* NaN fails */
    if (method == AE_THRESHOLD_MEAN_STD) return param >= 0.0 && param <= 1e6;
    if (method == AE_THRESHOLD_CONTAMINATION) return param > 0.0 && param <= 0.5;
    return 0;
}

int ae_threshold_param_check(ae_threshold_method method, double param) {
    if (param_ok(method, param)) return AE_OK;
    if (method == AE_THRESHOLD_QUANTILE) return ae_fail(AE_EINVAL, "quantile %g is outside [0, 1]", param);
    if (method == AE_THRESHOLD_MEAN_STD) return ae_fail(AE_EINVAL, "mean + k std: k = %g is outside [0, 1e6]", param);
    if (method == AE_THRESHOLD_CONTAMINATION) return ae_fail(AE_EINVAL, "contamination %g is outside (0, 0.5]", param);
    return ae_fail(AE_EINVAL, "threshold method %d cannot be calibrated", (int)method);
}

int ae_threshold_from_scores(const float *scores, size_t n, ae_threshold_method method, double param,
                             float *threshold) {
    ae_error_clear();
    if (!scores || !threshold || n == 0 || n > AE_MAX_ROWS) return AE_EINVAL;
    int rc = ae_threshold_param_check(method, param);
    if (rc != AE_OK) return rc;
    if (!ae_all_finite(scores, n)) return AE_ENONFINITE;
    if (method == AE_THRESHOLD_MEAN_STD) {
        double mean = 0.0, var = 0.0;
        for (size_t i = 0; i < n; i++) mean += scores[i];
        mean /= (double)n;
        for (size_t i = 0; i < n; i++) var += (scores[i] - mean) * (scores[i] - mean);
        *threshold = (float)(mean + param * sqrt(var / (double)n));
        return AE_OK;
    }
    if (method == AE_THRESHOLD_CONTAMINATION) param = 1.0 - param; /* flag the top share c */
    /* The q-quantile with linear interpolation: position h = q (n - 1) in the sorted scores. */
    float *s = ae_calloc(n, sizeof(float));
    if (!s) return AE_ENOMEM;
    memcpy(s, scores, n * sizeof(float));
    qsort(s, n, sizeof(float), float_cmp);
    const double h = param * (double)(n - 1);
    const size_t lo = (size_t)floor(h), hi = lo + 1 < n ? lo + 1 : lo;
    *threshold = (float)((double)s[lo] + (h - (double)lo) * ((double)s[hi] - (double)s[lo]));
    ae_dealloc(s);
    return AE_OK;
}

int ae_threshold_calibrate(ae_model *m, const float *x, size_t n, ae_threshold_method method, double param,
                           float *threshold) {
    ae_error_clear();
    if (!m) return AE_EINVAL;
    int rc = ae_threshold_param_check(method, param);
    if (rc == AE_OK) rc = ae_check_rows(x, n, m->cfg.input_dim);
    if (rc != AE_OK) return rc;
    float *scores = ae_calloc(n, sizeof(float)), t = 0.0f;
    if (!scores) return AE_ENOMEM;
    rc = ae_score(m, x, n, scores);
    if (rc == AE_OK) rc = ae_threshold_from_scores(scores, n, method, param, &t);
    ae_dealloc(scores);
    if (rc != AE_OK) return rc; /* the model keeps any threshold it had */
    m->threshold = (ae_threshold_state){method, param, t};
    if (threshold) *threshold = t;
    return AE_OK;
}

int ae_threshold_calibrate_scores(ae_model *m, const float *scores, size_t n, ae_threshold_method method, double param,
                                  float *threshold) {
    if (!m) return AE_EINVAL;
    float t = 0.0f;
    int rc = ae_threshold_from_scores(scores, n, method, param, &t); /* clears the detail first */
    if (rc != AE_OK) return rc;
    m->threshold = (ae_threshold_state){method, param, t};
    if (threshold) *threshold = t;
    return AE_OK;
}

int ae_threshold_set(ae_model *m, float threshold) {
    if (!m || !isfinite(threshold)) return AE_EINVAL;
    m->threshold = (ae_threshold_state){AE_THRESHOLD_MANUAL, 0.0, threshold};
    return AE_OK;
}

int ae_threshold_get(const ae_model *m, float *threshold, ae_threshold_method *method, double *param) {
    if (!m || !threshold || m->threshold.method == AE_THRESHOLD_NONE) return AE_EINVAL;
    *threshold = m->threshold.value;
    if (method) *method = m->threshold.method;
    if (param) *param = m->threshold.param;
    return AE_OK;
}

int ae_flag(const ae_model *m, const float *x, size_t n, unsigned char *flags, float *scores) {
    if (!m || !flags || m->threshold.method == AE_THRESHOLD_NONE) return AE_EINVAL;
    int rc = ae_check_rows(x, n, m->cfg.input_dim);
    if (rc != AE_OK) return rc;
    float *s = scores ? scores : ae_calloc(n, sizeof(float));
    if (!s) return AE_ENOMEM;
    rc = ae_score(m, x, n, s);
    if (rc == AE_OK)
        for (size_t i = 0; i < n; i++) flags[i] = s[i] > m->threshold.value;
    if (s != scores) ae_dealloc(s);
    return rc;
}
