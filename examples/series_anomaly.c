/* Time-series anomaly detection end to end, on a generated series with labelled anomalies
 * (series_gen.h: 3 channels, sine, sawtooth and two sines with noise; spikes, level shifts,
 * frequency changes and noise bursts injected into the test part; no Debian package ships a
 * recorded series with anomaly labels).
 *  1. A normal training part is cut into windows of L steps every S steps (ae_windows_cut):
 *     each window one row of L x 3 values, step-major.
 *  2. A sequence autoencoder learns them: series_config(), a GRU encoder and decoder (hidden
 *     64, code 16); --dense trains a dense autoencoder over the flattened windows instead.
 *  3. A normal validation part and the test part are cut into windows every step, their
 *     per-value errors (ae_score_features) become per-step errors (ae_window_step_errors:
 *     the mean over the step's channels), mapped back to each time point as the mean over
 *     the windows covering it (ae_window_steps_to_points).
 *  4. The threshold: a quantile of the validation points' scores (ae_threshold_calibrate_scores).
 *  5. Test points above it are flagged; precision, recall and F1 overall and per kind of
 *     anomaly (a kind's precision counts the false alarms within a window length of its own
 *     events and those far from any), the share of events with a flagged point, and the ROC
 *     AUC of the point scores; a PNG of the test series with the true spans (red), the score
 *     and threshold (green, red), and the flagged points (blue).
 *   series_anomaly [--dense] [--quick] [--epochs N] [--len L] [--stride S] [--quantile Q]
 *                  [--png FILE] [--check-spike-recall R] [--check-precision P]
 * --quick: a smaller series and fewer epochs (seconds); the checks (the ctest's): exit 1 when
 * the share of spike points flagged is below R, or the precision over all anomalies below P. */
#include <ae.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fast_blas.h"
#include "roc.h"
#include "series_gen.h"
#include "series_plot.h"

typedef struct run_opts {
    int dense, quick, epochs;
    size_t len, stride, n_train, n_val, n_test;
    double quantile, check_spike_recall, check_precision;
    const char *png;
} run_opts;

/* The model: a GRU sequence autoencoder over windows of len steps of channels values. */
static ae_config series_config(size_t len, size_t channels) {
    ae_config c = ae_config_default(); /* linear code, sigmoid output, automatic scaling */
    c.rnn = AE_RNN_GRU;
    c.seq_len = len;
    c.seq_features = channels;
    c.input_dim = len * channels;
    c.n_hidden = 1;
    c.hidden[0] = 64;
    c.code_dim = 16;
    return c;
}

/* The trainable floats of series_config's model as ae.h lays it out: each GRU layer a weight
 * [3H, in + H] and a bias [2, 3H]; the code layer [K, H] + K; the output layer [F, H] + F. */
static size_t gru_params(const ae_config *c) {
    const size_t h = c->hidden[0], k = c->code_dim, f = c->seq_features;
    return 3 * h * (f + h) + 6 * h + k * h + k + 3 * h * (k + h) + 6 * h + f * h + f;
}

/* --dense: the same windows, flattened, through a dense autoencoder. */
static ae_config dense_config(size_t len, size_t channels) {
    ae_config c = ae_config_default(); /* ReLU hidden, linear code, sigmoid output */
    c.input_dim = len * channels;
    c.n_hidden = 1;
    c.hidden[0] = 128;
    c.code_dim = 16;
    return c;
}

static int usage(const char *prog) {
    fprintf(stderr,
            "usage: %s [--dense] [--quick] [--epochs N] [--len L] [--stride S] [--quantile Q] [--png FILE]\n"
            "          [--check-spike-recall R] [--check-precision P]\n",
            prog);
    return 2;
}

static int parse(int argc, char **argv, run_opts *o) {
    *o = (run_opts){0, 0, 0, 32, 2, 8000, 2000, 8000, 0.995, -1.0, -1.0, "series_anomaly.png"};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        if (!strcmp(a, "--dense"))
            o->dense = 1;
        else if (!strcmp(a, "--quick"))
            o->quick = 1;
        else if (!v)
            return -1;
        else if (!strcmp(a, "--epochs"))
            o->epochs = (int)strtol(v, &end, 10), i++;
        else if (!strcmp(a, "--len"))
            o->len = (size_t)strtoul(v, &end, 10), i++;
        else if (!strcmp(a, "--stride"))
            o->stride = (size_t)strtoul(v, &end, 10), i++;
        else if (!strcmp(a, "--quantile"))
            o->quantile = strtod(v, &end), i++;
        else if (!strcmp(a, "--check-spike-recall"))
            o->check_spike_recall = strtod(v, &end), i++;
        else if (!strcmp(a, "--check-precision"))
            o->check_precision = strtod(v, &end), i++;
        else if (!strcmp(a, "--png"))
            o->png = v, i++;
        else
            return -1;
        if (end && *end) return -1;
    }
    if (o->quick) o->n_train = 3000, o->n_val = 1000, o->n_test = 3000;
    if (!o->epochs) o->epochs = o->quick ? 15 : 30;
    if (o->epochs < 1 || o->len < 2 || o->len > 512 || o->stride < 1 || !(o->quantile > 0.0 && o->quantile < 1.0))
        return -1;
    return 0;
}

/* The windows of x [n x SERIES_CHANNELS], malloc'd; NULL on failure (said on stderr). */
static float *cut(const float *x, size_t n, const ae_window_spec *spec, size_t *count) {
    int rc = ae_window_count(n, spec, count);
    float *w = rc == AE_OK ? malloc(*count * spec->len * SERIES_CHANNELS * sizeof(float)) : NULL;
    if (rc == AE_OK && !w) rc = AE_ENOMEM;
    if (rc == AE_OK) rc = ae_windows_cut(x, n, SERIES_CHANNELS, spec, w, *count);
    if (rc != AE_OK) {
        fprintf(stderr, "windows: %s (%s)\n", ae_strerror(rc), ae_last_error());
        free(w);
        return NULL;
    }
    return w;
}

/* score [n]: each point's per-step error, the mean over the windows (every step) covering it. */
static int point_scores(const ae_model *m, const float *x, size_t n, size_t len, float *score) {
    const ae_window_spec spec = {len, 1, AE_TAIL_END};
    size_t count = 0;
    float *w = cut(x, n, &spec, &count);
    if (!w) return AE_EINVAL;
    float *err = malloc(count * len * SERIES_CHANNELS * sizeof(float)), *steps = malloc(count * len * sizeof(float));
    int rc = err && steps ? AE_OK : AE_ENOMEM;
    if (rc == AE_OK) rc = ae_score_features(m, w, count, err);
    if (rc == AE_OK) rc = ae_window_step_errors(err, count, len, SERIES_CHANNELS, steps);
    if (rc == AE_OK) rc = ae_window_steps_to_points(steps, count, n, &spec, NULL, score);
    if (rc != AE_OK) fprintf(stderr, "scoring: %s (%s)\n", ae_strerror(rc), ae_last_error());
    free(w);
    free(err);
    free(steps);
    return rc;
}

/* near[t]: the kind of the anomaly nearest to normal point t within len points (0: none). A
 * window that holds an anomaly is reconstructed worse as a whole, so false alarms gather
 * beside anomalies: each kind's precision counts the false alarms beside its own events and
 * those far from any event. */
static void nearest_kind(const unsigned char *label, size_t n, size_t len, unsigned char *near) {
    for (size_t t = 0; t < n; t++) {
        near[t] = 0;
        for (size_t d = 1; d <= len && !label[t] && !near[t]; d++) {
            if (t >= d && label[t - d])
                near[t] = label[t - d];
            else if (t + d < n && label[t + d])
                near[t] = label[t + d];
        }
    }
}

/* Precision, recall and F1 of flags against the points of kind `kind` (0: every anomaly), and
 * the share of that kind's events (runs of its label) with at least one point flagged.
 * Returns the recall; *precision_out, when not NULL, gets the precision. */
static double report_kind(const unsigned char *label, const unsigned char *near, const unsigned char *flag, size_t n,
                          int kind, double *precision_out) {
    size_t tp = 0, fp = 0, fn = 0, events = 0, found = 0;
    for (size_t t = 0; t < n; t++) {
        const int is = kind ? label[t] == kind : label[t] != 0;
        tp += is && flag[t];
        fn += is && !flag[t];
        fp += label[t] == 0 && flag[t] && (kind == 0 || near[t] == 0 || near[t] == kind);
        if (is && (t == 0 || label[t - 1] != label[t])) { /* an event starts */
            events++;
            size_t e = t;
            while (e < n && label[e] == label[t] && !flag[e]) e++;
            found += e < n && label[e] == label[t];
        }
    }
    const double p = tp + fp ? (double)tp / (double)(tp + fp) : 0.0, r = tp + fn ? (double)tp / (double)(tp + fn) : 0.0;
    const double f1 = p + r > 0.0 ? 2.0 * p * r / (p + r) : 0.0;
    printf("  %-17s precision %.3f  recall %.3f  F1 %.3f  events found %2zu of %2zu  (%zu points)\n",
           kind ? series_kind_names[kind] : "all anomalies", p, r, f1, found, events, tp + fn);
    if (precision_out) *precision_out = p;
    return r;
}

static double auc_of(const float *score, const unsigned char *label, size_t n) {
    scored *s = malloc(n * sizeof(scored));
    unsigned char *pos = malloc(n);
    double auc = -1.0;
    if (s && pos) {
        for (size_t i = 0; i < n; i++) s[i] = (scored){score[i], i}, pos[i] = label[i] != 0;
        auc = roc_auc(s, n, pos);
    }
    free(s);
    free(pos);
    return auc;
}

/* Trains the model on windows of the normal training part. */
static int fit(ae_model **m, const run_opts *o, const float *train) {
    const ae_window_spec spec = {o->len, o->stride, AE_TAIL_END};
    const ae_config cfg = o->dense ? dense_config(o->len, SERIES_CHANNELS) : series_config(o->len, SERIES_CHANNELS);
    int rc = ae_create(m, &cfg);
    if (rc != AE_OK) {
        fprintf(stderr, "ae_create refused the %s config: %s (%s)\n", o->dense ? "dense" : "GRU", ae_strerror(rc),
                ae_last_error());
        return rc;
    }
    if (!o->dense && ae_param_count(*m) != gru_params(&cfg)) { /* a libae older than its recurrent layers */
        fprintf(stderr, "ae_create built no GRU model from series_config(): %zu parameters, a GRU's would be %zu\n",
                ae_param_count(*m), gru_params(&cfg));
        return AE_EINVAL;
    }
    size_t count = 0;
    float *w = cut(train, o->n_train, &spec, &count);
    if (!w) return AE_EINVAL;
    ae_train_opts t = ae_train_opts_default(); /* Adam 1e-3, MSE, shuffled */
    t.epochs = o->epochs;
    t.batch_size = 64;
    rc = ae_train(*m, w, count, &t);
    if (rc != AE_OK)
        fprintf(stderr, "training: %s (%s)\n", ae_strerror(rc), ae_last_error());
    else
        printf("trained a %s autoencoder on %zu windows of %zu steps x %d channels (every %zu steps), %d epochs\n",
               o->dense ? "dense" : "GRU", count, o->len, SERIES_CHANNELS, o->stride, o->epochs);
    free(w);
    return rc;
}

int main(int argc, char **argv) {
    ensure_fast_blas(argv);
    run_opts o;
    if (parse(argc, argv, &o) != 0) return usage(argv[0]);
    const size_t n_all = o.n_train + o.n_val + o.n_test;
    float *x = malloc(n_all * SERIES_CHANNELS * sizeof(float)), *val_score = malloc(o.n_val * sizeof(float));
    float *test_score = malloc(o.n_test * sizeof(float));
    unsigned char *label = malloc(o.n_test), *flag = malloc(o.n_test);
    if (!x || !val_score || !test_score || !label || !flag) return fprintf(stderr, "out of memory\n"), 1;
    float *train = x, *val = x + o.n_train * SERIES_CHANNELS, *test = val + o.n_val * SERIES_CHANNELS;
    series_generate(train, NULL, o.n_train, 0, 0, 11);
    series_generate(val, NULL, o.n_val, o.n_train, 0, 12);
    const size_t events = series_generate(test, label, o.n_test, o.n_train + o.n_val, 2 * o.len, 13);
    printf("generated series (%d channels): %zu normal training points, %zu normal validation points,\n"
           "  %zu test points with %zu injected anomalies (spikes, level shifts, frequency changes, noise bursts)\n",
           SERIES_CHANNELS, o.n_train, o.n_val, o.n_test, events);
    ae_model *m = NULL;
    float threshold = 0.0f;
    int rc = fit(&m, &o, train);
    if (rc == AE_OK) rc = point_scores(m, val, o.n_val, o.len, val_score);
    if (rc == AE_OK)
        rc = ae_threshold_calibrate_scores(m, val_score, o.n_val, AE_THRESHOLD_QUANTILE, o.quantile, &threshold);
    if (rc == AE_OK) rc = point_scores(m, test, o.n_test, o.len, test_score);
    double spike_recall = 0.0, precision = 0.0;
    if (rc == AE_OK) {
        size_t flagged = 0;
        for (size_t t = 0; t < o.n_test; t++) flagged += flag[t] = test_score[t] > threshold;
        printf("threshold %.6g: the %.4g-quantile of the validation points' scores (per-step errors, mean over\n"
               "  the windows covering a point); flagged %zu of %zu test points\n",
               (double)threshold, o.quantile, flagged, o.n_test);
        unsigned char *near = malloc(o.n_test);
        if (!near) return fprintf(stderr, "out of memory\n"), 1;
        nearest_kind(label, o.n_test, o.len, near);
        for (int k = 0; k < SERIES_KINDS; k++) {
            const double r = report_kind(label, near, flag, o.n_test, k, k ? NULL : &precision);
            if (k == SERIES_SPIKE) spike_recall = r;
        }
        free(near);
        printf("ROC AUC of the point scores (all anomalies): %.4f\n", auc_of(test_score, label, o.n_test));
        if (o.png && series_plot_png(o.png, test, o.n_test, SERIES_CHANNELS, label, test_score, threshold, flag) == 0)
            printf("wrote %s\n", o.png);
    }
    ae_free(m);
    free(x), free(val_score), free(test_score), free(label), free(flag);
    if (rc != AE_OK) return 1;
    if (o.check_spike_recall >= 0.0 && spike_recall < o.check_spike_recall) {
        fprintf(stderr, "spike recall %.3f is below %.3f\n", spike_recall, o.check_spike_recall);
        return 1;
    }
    if (o.check_precision >= 0.0 && precision < o.check_precision) {
        fprintf(stderr, "precision %.3f is below %.3f\n", precision, o.check_precision);
        return 1;
    }
    return 0;
}
