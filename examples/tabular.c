/* Anomaly detection on a real table with raw features: scikit-learn's breast-cancer data
 * (Debian's python3-sklearn installs it as a CSV: a first line "569,30,malignant,benign",
 * then 569 rows of 30 features in their own units, from fractions to areas in the
 * thousands, and the class, 0 malignant or 1 benign). Benign tumours are normal: 60% of them
 * (a seeded shuffle) train the model, the other benign rows and every malignant one are the
 * test set. Nothing is scaled by hand: the model's automatic input scaling (min-max here, as
 * the output is a sigmoid) is fitted on the training rows and kept in the model. The
 * threshold is calibrated at a contamination of 10% on out-of-fold scores of the training rows
 * (threshold_folds). Prints the ROC AUC of the scores and the share of test rows flagged.
 *   tabular [CSV] [--contamination C]
 * Also shows what happens with scaling off: the library refuses the raw rows (AE_ERANGE). */
#include <ae.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "roc.h"

#define DEFAULT_CSV "/usr/lib/python3/dist-packages/sklearn/datasets/data/breast_cancer.csv"
#define TRAIN_SHARE 0.6
#define SEED 2026u

static int fail(const char *what, int rc) {
    fprintf(stderr, "tabular: %s: %s%s%s%s\n", what, ae_strerror(rc), *ae_last_error() ? " (" : "", ae_last_error(),
            *ae_last_error() ? ")" : "");
    return 1;
}

/* Fisher-Yates with a small LCG: the same split on every machine. */
static void shuffle(size_t *idx, size_t n, uint32_t seed) {
    for (size_t i = n; i > 1; i--) {
        seed = seed * 1664525u + 1013904223u;
        const size_t j = (size_t)(seed >> 8) % i;
        const size_t t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
}

int main(int argc, char **argv) {
    const char *path = DEFAULT_CSV;
    double contamination = 0.1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--contamination") && i + 1 < argc)
            contamination = atof(argv[++i]);
        else
            path = argv[i];
    }
    /* scikit-learn's first line ("569,30,malignant,benign") describes the table, it is not a
     * header of its 31 columns: parse what follows it. */
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return 1;
    }
    static char text[1 << 20];
    const size_t len = fread(text, 1, sizeof text, f);
    fclose(f);
    const char *body = memchr(text, '\n', len);
    if (!body || len == sizeof text) {
        fprintf(stderr, "tabular: %s: not scikit-learn's breast-cancer CSV\n", path);
        return 1;
    }
    body++;
    ae_data t;
    int rc = ae_data_parse(body, len - (size_t)(body - text), &t);
    if (rc != AE_OK) return fail(path, rc);
    if (t.cols < 2) {
        fprintf(stderr, "tabular: %s: want features and a class column\n", path);
        return 1;
    }
    const size_t d = t.cols - 1, n = t.rows; /* the last column is the class: 1 benign */
    size_t *benign = malloc(n * sizeof *benign), nb = 0;
    float *train = malloc(n * d * sizeof(float)), *test = malloc(n * d * sizeof(float));
    unsigned char *anomalous = malloc(n);
    if (!benign || !train || !test || !anomalous) return fail("memory", AE_ENOMEM);
    for (size_t i = 0; i < n; i++)
        if (t.x[i * t.cols + d] == 1.0f) benign[nb++] = i;
    shuffle(benign, nb, SEED);
    const size_t n_train = (size_t)(TRAIN_SHARE * (double)nb);
    size_t n_test = 0;
    for (size_t k = 0; k < n_train; k++) memcpy(train + k * d, t.x + benign[k] * t.cols, d * sizeof(float));
    for (size_t k = n_train; k < nb; k++) {
        memcpy(test + n_test * d, t.x + benign[k] * t.cols, d * sizeof(float));
        anomalous[n_test++] = 0;
    }
    for (size_t i = 0; i < n; i++)
        if (t.x[i * t.cols + d] != 1.0f) {
            memcpy(test + n_test * d, t.x + i * t.cols, d * sizeof(float));
            anomalous[n_test++] = 1;
        }
    printf("%s: %zu rows of %zu features; training on %zu benign rows, testing on %zu (%zu malignant)\n", path, n, d,
           n_train, n_test, n_test - (nb - n_train));

    /* The widths and schedule `ae train` picks for a table of this size: hidden d/2, code
     * d/4, batches of rows/8 (at least 16), about 500 steps. */
    ae_config c = ae_config_default(); /* scaling AE_SCALE_AUTO */
    c.input_dim = d;
    c.n_hidden = 1;
    c.hidden[0] = d / 2;
    c.code_dim = d / 4;
    ae_train_opts o = ae_train_opts_default();
    o.batch_size = n_train / 8 < 16 ? 16 : n_train / 8;
    o.epochs = (int)((500 * o.batch_size + n_train - 1) / n_train);
    /* The threshold: with a few hundred rows, a held-out fifth is too few for a steady
     * quantile, so 5 more models each learn four fifths and score the fifth they did not. */
    o.threshold = AE_THRESHOLD_CONTAMINATION;
    o.threshold_param = contamination;
    o.threshold_folds = 5;

    ae_model *m;
    if ((rc = ae_create(&m, &c)) != AE_OK) return fail("create", rc);
    if ((rc = ae_train(m, train, n_train, &o)) != AE_OK) return fail("train", rc);
    ae_scaling mode;
    float thr;
    ae_scaling_get(m, &mode, NULL, NULL, NULL);
    ae_threshold_get(m, &thr, NULL, NULL);
    printf("model %zu-%zu-%zu-%zu-%zu, %d epochs of batch %zu, input scaling %s, threshold %.5g\n", d, c.hidden[0],
           c.code_dim, c.hidden[0], d, o.epochs, o.batch_size, mode == AE_SCALE_MINMAX ? "min-max" : "other", thr);

    float *scores = malloc(n_test * sizeof(float));
    unsigned char *flags = malloc(n_test);
    scored *sorted = malloc(n_test * sizeof *sorted);
    if (!scores || !flags || !sorted) return fail("memory", AE_ENOMEM);
    if ((rc = ae_flag(m, test, n_test, flags, scores)) != AE_OK) return fail("flag", rc);
    size_t flagged[2] = {0, 0}, count[2] = {0, 0};
    for (size_t i = 0; i < n_test; i++) {
        sorted[i] = (scored){scores[i], i};
        flagged[anomalous[i]] += flags[i];
        count[anomalous[i]]++;
    }
    printf("ROC AUC %.4f; flagged %.1f%% of the benign test rows (contamination %.2f) and %.1f%% of the "
           "malignant ones\n",
           roc_auc(sorted, n_test, anomalous), 100.0 * (double)flagged[0] / (double)count[0], contamination,
           100.0 * (double)flagged[1] / (double)count[1]);

    /* The same model with scaling off: raw rows outside the sigmoid's [0, 1] are refused. */
    c.scaling = AE_SCALE_NONE;
    ae_model *raw;
    if ((rc = ae_create(&raw, &c)) != AE_OK) return fail("create", rc);
    rc = ae_train(raw, train, n_train, &o);
    printf("with scaling off: %s (%s)\n", ae_strerror(rc), ae_last_error());
    ae_free(raw);
    ae_free(m);
    free(sorted);
    free(flags);
    free(scores);
    free(anomalous);
    free(test);
    free(train);
    free(benign);
    ae_data_free(&t);
    return 0;
}
