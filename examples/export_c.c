/* Export a one-class anomaly detector as C headers for a microcontroller (ae_export_c), float
 * and int8, and score with them. An autoencoder of workload W's shape (784-256-64-256-784,
 * ReLU, linear code, sigmoid output) learns Fashion-MNIST's T-shirts (label 0; 90% of them,
 * 5 epochs); the other 10% are held out: the threshold's calibration and the int8 export's.
 * Writes OUT_DIR/tshirt.h (float) and OUT_DIR/tshirt8.h (int8), prints their weight bytes and
 * the int8 score error, and the ROC AUC of the library's scores over the 10000 test images
 * (anomaly = not a T-shirt). With --cc CC it also compiles a small scorer around each header
 * (CC -std=c99 -pedantic, no library but libm), scores the test images with it, and checks:
 * the float header's scores equal ae_score's within 1e-4 relative on the first 2000 images,
 * the int8 header's AUC is within 0.01 of the float model's, its weights at most 0.3x the
 * float header's (exit status 1 otherwise).
 *   export_c [--cc CC] [--epochs N] [DATA_DIR] [OUT_DIR] */
#include <ae.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fmnist.h"
#include "roc.h"

#define NORMAL_CLASS 0 /* T-shirt/top */

/* The scorer around a header: rows (float32) in, one score (float32) per row out. */
static const char scorer_src[] = "#include <stdio.h>\n"
                                 "#include HEADER\n"
                                 "static float x[DIM];\n"
                                 "int main(int argc, char **argv) {\n"
                                 "    FILE *in = fopen(argv[1], \"rb\"), *out = fopen(argv[2], \"wb\");\n"
                                 "    if (argc != 3 || !in || !out) return 1;\n"
                                 "    while (fread(x, sizeof x, 1, in) == 1) {\n"
                                 "        float s = SCORE(x);\n"
                                 "        if (fwrite(&s, sizeof s, 1, out) != 1) return 1;\n"
                                 "    }\n"
                                 "    fclose(in);\n"
                                 "    return fclose(out) != 0;\n"
                                 "}\n";

static int write_bytes(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(p, 1, n, f) == n;
    if (f) ok = (fclose(f) == 0) && ok;
    if (!ok) fprintf(stderr, "cannot write %s\n", path);
    return ok ? 0 : -1;
}

/* Compiles the scorer around out/name.h, runs it on out/test.bin into scores [n]. */
static int header_scores(const char *cc, const char *out, const char *name, const char *upper, float *scores,
                         size_t n) {
    char cmd[4096], path[1024];
    snprintf(
        cmd, sizeof cmd,
        "%s -std=c99 -pedantic -Wall -Wextra -Werror -O2 -ffp-contract=off -I%s -DHEADER='\"%s.h\"' "
        "-DSCORE=%s_score -DDIM=%s_INPUT_DIM %s/scorer.c -o %s/%s_scorer -lm && %s/%s_scorer %s/test.bin %s/%s.scores",
        cc, out, name, name, upper, out, out, name, out, name, out, out, name);
    if (system(cmd) != 0) {
        fprintf(stderr, "failed: %s\n", cmd);
        return -1;
    }
    snprintf(path, sizeof path, "%s/%s.scores", out, name);
    FILE *f = fopen(path, "rb");
    size_t got = f ? fread(scores, sizeof(float), n, f) : 0;
    if (f) fclose(f);
    return got == n ? 0 : -1;
}

static double auc_of(const float *scores, const unsigned char *anomalous, size_t n, scored *tmp) {
    for (size_t i = 0; i < n; i++) tmp[i] = (scored){scores[i], i};
    return roc_auc(tmp, n, anomalous);
}

/* The checks on the headers' scores: prints the figures, returns 0 when they hold. */
static int check_headers(const char *cc, const char *out, const ae_data *test, const float *lib,
                         const unsigned char *anomalous, double auc_float, size_t bytes_f, size_t bytes_q) {
    const size_t n = test->rows;
    float *sf = malloc(n * sizeof(float)), *sq = malloc(n * sizeof(float));
    scored *tmp = malloc(n * sizeof(scored));
    char path[1024];
    snprintf(path, sizeof path, "%s/scorer.c", out);
    int bad = !sf || !sq || !tmp || write_bytes(path, scorer_src, strlen(scorer_src)) != 0;
    snprintf(path, sizeof path, "%s/test.bin", out);
    bad = bad || write_bytes(path, test->x, n * test->cols * sizeof(float)) != 0 ||
          header_scores(cc, out, "tshirt", "TSHIRT", sf, n) != 0 ||
          header_scores(cc, out, "tshirt8", "TSHIRT8", sq, n) != 0;
    if (!bad) {
        double worst = 0.0;
        for (size_t i = 0; i < 2000 && i < n; i++) {
            const double rel = fabs((double)sf[i] - (double)lib[i]) / fabs((double)lib[i]);
            worst = rel > worst ? rel : worst;
        }
        const double auc_hf = auc_of(sf, anomalous, n, tmp), auc_q = auc_of(sq, anomalous, n, tmp);
        const double ratio = (double)bytes_q / (double)bytes_f;
        printf("float header: scores of the first 2000 test images within %.2g relative of ae_score's; AUC %.4f\n",
               worst, auc_hf);
        printf("int8 header:  AUC %.5f (float model %.5f, difference %+.5f); weight bytes %.3fx the float header's\n",
               auc_q, auc_float, auc_q - auc_float, ratio);
        bad = worst > 1e-4 || fabs(auc_q - auc_float) > 0.01 || ratio > 0.3;
        printf("%s\n",
               bad ? "CHECK FAILED" : "checks passed: float within 1e-4, int8 AUC within 0.01, weights <= 0.3x");
    }
    free(sf);
    free(sq);
    free(tmp);
    return bad;
}

static int usage(const char *prog) {
    fprintf(stderr, "usage: %s [--cc CC] [--epochs N] [DATA_DIR] [OUT_DIR]\n", prog);
    return 2;
}

int main(int argc, char **argv) {
    ensure_fast_blas(argv);
    const char *cc = NULL, *dir = NULL, *out = ".";
    int epochs = 5, a = 1;
    for (; a + 1 < argc && argv[a][0] == '-'; a += 2) { /* options first, then the folders */
        if (strcmp(argv[a], "--cc") == 0)
            cc = argv[a + 1];
        else if (strcmp(argv[a], "--epochs") != 0 || (epochs = atoi(argv[a + 1])) < 1)
            return usage(argv[0]);
    }
    if (argc - a > 2 || (a < argc && argv[a][0] == '-')) return usage(argv[0]);
    if (a < argc) dir = argv[a++];
    if (a < argc) out = argv[a];
    ae_data train = {0}, test = {0}, train_y = {0}, test_y = {0};
    if (fmnist_load_labelled(dir, &train, &test, &train_y, &test_y) != 0) return 1;
    const size_t d = train.cols, nt = test.rows;
    size_t *idx = malloc(train.rows * sizeof *idx), nc = 0;
    float *normal = malloc(train.rows * d * sizeof(float)), *scores = malloc(nt * sizeof(float));
    unsigned char *anomalous = malloc(nt);
    scored *tmp = malloc(nt * sizeof(scored));
    ae_model *m = NULL;
    int status = 1, rc = AE_ENOMEM;
    if (!idx || !normal || !scores || !anomalous || !tmp) goto done;
    for (size_t i = 0; i < train.rows; i++)
        if ((int)train_y.x[i] == NORMAL_CLASS) idx[nc++] = i;
    uint64_t seed = 2026u;
    fmnist_shuffle(idx, nc, &seed);
    for (size_t i = 0; i < nc; i++) memcpy(normal + i * d, train.x + idx[i] * d, d * sizeof(float));
    const size_t n_cal = nc / 10; /* held out: the first 10% of the shuffled T-shirts */

    ae_config cfg = ae_config_default(); /* ReLU hidden, linear code, sigmoid output */
    cfg.input_dim = d;
    cfg.n_hidden = 1;
    cfg.hidden[0] = 256;
    cfg.code_dim = 64;
    ae_train_opts opts = ae_train_opts_default();
    opts.epochs = epochs;
    if ((rc = ae_create(&m, &cfg)) != AE_OK || (rc = ae_train(m, normal + n_cal * d, nc - n_cal, &opts)) != AE_OK ||
        (rc = ae_threshold_calibrate(m, normal, n_cal, AE_THRESHOLD_QUANTILE, 0.95, NULL)) != AE_OK)
        goto done;
    printf("trained on %zu T-shirts for %d epochs; %zu held out\n", nc - n_cal, epochs, n_cal);

    char path_f[1024], path_q[1024];
    snprintf(path_f, sizeof path_f, "%s/tshirt.h", out);
    snprintf(path_q, sizeof path_q, "%s/tshirt8.h", out);
    ae_export_report rep_f, rep_q;
    ae_export_opts eo = ae_export_opts_default();
    eo.name = "tshirt";
    eo.report = &rep_f;
    if ((rc = ae_export_c(m, path_f, &eo)) != AE_OK) goto done;
    eo.name = "tshirt8";
    eo.int8 = 1;
    eo.calib_x = normal; /* the held-out T-shirts */
    eo.calib_n = n_cal;
    eo.report = &rep_q;
    if ((rc = ae_export_c(m, path_q, &eo)) != AE_OK) goto done;
    printf("wrote %s: %zu weight bytes, %zu floats of scratch\n", path_f, rep_f.weight_bytes, rep_f.work_floats);
    printf("wrote %s: %zu weight bytes (%.3fx), int8 score error %.4f of the mean float score (max %.3g) on %zu rows\n",
           path_q, rep_q.weight_bytes, (double)rep_q.weight_bytes / (double)rep_f.weight_bytes, rep_q.score_error,
           rep_q.score_max_error, rep_q.calib_rows);

    if ((rc = ae_score(m, test.x, nt, scores)) != AE_OK) goto done;
    for (size_t i = 0; i < nt; i++) anomalous[i] = (int)test_y.x[i] != NORMAL_CLASS;
    const double auc = auc_of(scores, anomalous, nt, tmp);
    printf("library (float): ROC AUC %.4f over %zu test images (anomaly = not a T-shirt)\n", auc, nt);
    status = cc ? check_headers(cc, out, &test, scores, anomalous, auc, rep_f.weight_bytes, rep_q.weight_bytes) : 0;
done:
    if (rc != AE_OK) fprintf(stderr, "failed: %s: %s\n", ae_strerror(rc), ae_last_error());
    ae_free(m);
    free(idx);
    free(normal);
    free(scores);
    free(anomalous);
    free(tmp);
    ae_data_free(&train);
    ae_data_free(&test);
    ae_data_free(&train_y);
    ae_data_free(&test_y);
    return status;
}
