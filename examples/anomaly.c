/* One-class anomaly detection on Fashion-MNIST, the standard protocol: for each class c, an
 * autoencoder of workload W's shape (784-256-64-256-784, ReLU, linear code, sigmoid output, MSE,
 * Adam 1e-3, batch 128) learns only class c's training images (5400 of its 6000; the other 600,
 * picked by a seeded shuffle, are kept aside), its anomaly threshold is calibrated on those 600
 * held-out normal images (a quantile of their reconstruction errors), and the 10000 test images
 * are scored and flagged: class c is normal, the nine others are anomalies. Prints per class
 * the ROC AUC of the scores (exact, ties counted half), and the precision and recall of the
 * "anomaly" flag at the calibrated threshold; then the means. Writes anomaly_<C>.png for one
 * class C: the 16 highest-scoring test images over the 16 lowest-scoring.
 *   anomaly [--epochs N] [--quantile Q] [--png-class C] [DATA_DIR] [OUT_DIR]
 * Defaults: 20 epochs, quantile 0.95, class 1 (Trouser), DATA_DIR
 * /usr/share/datasets/fashion-mnist, OUT_DIR the current folder. */
#include <ae.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fmnist.h"
#include "roc.h"
#include "png_grid.h"

#define N_CLASSES 10
#define CALIB_SHARE 10 /* percent of a class's training images kept for calibration */
#define SHUFFLE_SEED 2026u

static const char *const class_names[N_CLASSES] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                   "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

static int usage(const char *prog) {
    fprintf(stderr, "usage: %s [--epochs N] [--quantile Q] [--png-class C] [DATA_DIR] [OUT_DIR]\n", prog);
    return 2;
}

int main(int argc, char **argv) {
    ensure_fast_blas(argv);
    int epochs = 20, png_class = 1;
    double quantile = 0.95;
    const char *dir = NULL, *out = ".";
    int positional = 0;
    for (int i = 1; i < argc; i++) {
        char *end = NULL;
        if (strcmp(argv[i], "--epochs") == 0 && i + 1 < argc) {
            epochs = (int)strtol(argv[++i], &end, 10);
            if (*end || epochs < 1) return usage(argv[0]);
        } else if (strcmp(argv[i], "--quantile") == 0 && i + 1 < argc) {
            quantile = strtod(argv[++i], &end);
            if (*end || !(quantile >= 0.0 && quantile <= 1.0)) return usage(argv[0]);
        } else if (strcmp(argv[i], "--png-class") == 0 && i + 1 < argc) {
            png_class = (int)strtol(argv[++i], &end, 10);
            if (*end || png_class < 0 || png_class >= N_CLASSES) return usage(argv[0]);
        } else if (argv[i][0] == '-' || positional == 2) {
            return usage(argv[0]);
        } else if (positional++ == 0) {
            dir = argv[i];
        } else {
            out = argv[i];
        }
    }

    ae_data train = {0}, test = {0}, train_y = {0}, test_y = {0};
    if (fmnist_load_labelled(dir, &train, &test, &train_y, &test_y) != 0) return 1;
    print_openblas();
    printf("protocol: per class, train on 90%% of its training images for %d epochs, threshold = the %.2f "
           "quantile of the other 10%%'s scores; test: the class normal, the other nine anomalies\n",
           epochs, quantile);
    fflush(stdout);

    const size_t d = train.cols, nt = test.rows;
    size_t *idx = malloc(train.rows * sizeof *idx);
    float *normal = malloc(train.rows * d * sizeof *normal); /* a class's rows, shuffled */
    float *scores = malloc(nt * sizeof *scores), *grid = malloc(32 * d * sizeof *grid);
    unsigned char *flags = malloc(nt), *anomalous = malloc(nt);
    scored *sorted = malloc(nt * sizeof *sorted);
    ae_model *m = NULL;
    int status = 1, rc;
    double auc_sum = 0.0, prec_sum = 0.0, rec_sum = 0.0;
    if (!idx || !normal || !scores || !grid || !flags || !anomalous || !sorted) {
        fprintf(stderr, "out of memory\n");
        goto done;
    }

    printf("%-2s %-12s %6s %6s %10s %7s %9s %7s %6s\n", "c", "normal class", "train", "calib", "threshold", "AUC",
           "precision", "recall", "FPR");
    for (int c = 0; c < N_CLASSES; c++) {
        /* The class's training rows, shuffled; the first 10% are the calibration set. */
        size_t nc = 0;
        for (size_t i = 0; i < train.rows; i++)
            if ((int)train_y.x[i] == c) idx[nc++] = i;
        uint64_t state = SHUFFLE_SEED + (uint64_t)c;
        fmnist_shuffle(idx, nc, &state);
        for (size_t i = 0; i < nc; i++) memcpy(normal + i * d, train.x + idx[i] * d, d * sizeof(float));
        const size_t n_cal = nc * CALIB_SHARE / 100, n_fit = nc - n_cal;
        const float *calib = normal, *fit = normal + n_cal * d;

        ae_config cfg = ae_config_default(); /* ReLU hidden, linear code, sigmoid output, seed 42 */
        cfg.input_dim = d;
        cfg.n_hidden = 1;
        cfg.hidden[0] = 256;
        cfg.code_dim = 64;
        ae_train_opts opts = ae_train_opts_default(); /* Adam 1e-3, batch 128, MSE, shuffled */
        opts.epochs = epochs;
        float threshold = 0.0f;
        if ((rc = ae_create(&m, &cfg)) != AE_OK || (rc = ae_train(m, fit, n_fit, &opts)) != AE_OK) {
            fprintf(stderr, "class %d: training failed: %s\n", c, ae_strerror(rc));
            goto done;
        }
        if ((rc = ae_threshold_calibrate(m, calib, n_cal, AE_THRESHOLD_QUANTILE, quantile, &threshold)) != AE_OK ||
            (rc = ae_flag(m, test.x, nt, flags, scores)) != AE_OK) {
            fprintf(stderr, "class %d: calibration or scoring failed: %s\n", c, ae_strerror(rc));
            goto done;
        }
        float kept = 0.0f;
        ae_threshold_method method = AE_THRESHOLD_NONE;
        double param = 0.0;
        if ((rc = ae_threshold_get(m, &kept, &method, &param)) != AE_OK || kept != threshold ||
            method != AE_THRESHOLD_QUANTILE || param != quantile) {
            fprintf(stderr, "class %d: the model does not hold the calibrated threshold\n", c);
            goto done;
        }

        size_t tp = 0, fp = 0, fn = 0, n_normal = 0;
        for (size_t i = 0; i < nt; i++) {
            anomalous[i] = (int)test_y.x[i] != c;
            n_normal += !anomalous[i];
            tp += flags[i] && anomalous[i];
            fp += flags[i] && !anomalous[i];
            fn += !flags[i] && anomalous[i];
            sorted[i] = (scored){scores[i], i};
        }
        const double auc = roc_auc(sorted, nt, anomalous); /* leaves sorted ascending */
        const double precision = tp + fp ? (double)tp / (double)(tp + fp) : 0.0;
        const double recall = tp + fn ? (double)tp / (double)(tp + fn) : 0.0;
        const double fpr = n_normal ? (double)fp / (double)n_normal : 0.0;
        auc_sum += auc;
        prec_sum += precision;
        rec_sum += recall;
        printf("%-2d %-12s %6zu %6zu %10.5f %7.4f %9.4f %7.4f %6.3f\n", c, class_names[c], n_fit, n_cal,
               (double)threshold, auc, precision, recall, fpr);
        fflush(stdout);

        if (c == png_class) { /* top row: the 16 most anomalous; bottom row: the 16 most normal */
            char png_path[1024];
            snprintf(png_path, sizeof png_path, "%s/anomaly_%d.png", out, c);
            for (size_t k = 0; k < 16; k++) {
                memcpy(grid + k * d, test.x + sorted[nt - 1 - k].index * d, d * sizeof(float));
                memcpy(grid + (16 + k) * d, test.x + sorted[k].index * d, d * sizeof(float));
            }
            if (png_grid_write(png_path, grid, 2, 16, 28, 28) != 0) goto done;
            printf("   wrote %s (top: the 16 highest scores, bottom: the 16 lowest)\n", png_path);
            printf("   highest-scoring classes:");
            for (size_t k = 0; k < 16; k++) printf(" %d", (int)test_y.x[sorted[nt - 1 - k].index]);
            printf("\n   lowest-scoring classes: ");
            for (size_t k = 0; k < 16; k++) printf(" %d", (int)test_y.x[sorted[k].index]);
            printf("\n");
            fflush(stdout);
        }
        ae_free(m);
        m = NULL;
    }
    printf("mean over %d classes: AUC %.4f, precision %.4f, recall %.4f\n", N_CLASSES, auc_sum / N_CLASSES,
           prec_sum / N_CLASSES, rec_sum / N_CLASSES);
    status = 0;
done:
    ae_free(m);
    free(idx);
    free(normal);
    free(scores);
    free(grid);
    free(flags);
    free(anomalous);
    free(sorted);
    ae_data_free(&train);
    ae_data_free(&test);
    ae_data_free(&train_y);
    ae_data_free(&test_y);
    return status;
}
