#include "fmnist.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

int fmnist_load(const char *dir, ae_data *train, ae_data *test) {
    char path[1024];
    if (!dir) dir = FMNIST_DIR;
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte.gz", dir);
    int rc = ae_data_load(path, train);
    if (rc == AE_OK) {
        snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte.gz", dir);
        rc = ae_data_load(path, test);
    }
    if (rc != AE_OK) {
        fprintf(stderr, "cannot read %s: %s\n", path, ae_strerror(rc));
        fprintf(stderr, "Fashion-MNIST is in Debian: apt-get install dataset-fashion-mnist\n");
        ae_data_free(train);
        return -1;
    }
    printf("Fashion-MNIST: %zu train and %zu test images of %zu pixels\n", train->rows, test->rows, train->cols);
    return 0;
}

int fmnist_load_labels(const char *dir, const char *name, size_t n, ae_data *out) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir ? dir : FMNIST_DIR, name);
    int rc = ae_data_load(path, out);
    if (rc != AE_OK) {
        fprintf(stderr, "cannot read %s: %s\n", path, ae_strerror(rc));
        return -1;
    }
    if (out->rows != n || out->cols != 1) {
        fprintf(stderr, "%s: %zu x %zu values, expected %zu labels\n", path, out->rows, out->cols, n);
        ae_data_free(out);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (!(out->x[i] >= 0.0f && out->x[i] <= 9.0f && out->x[i] == (float)(int)out->x[i])) {
            fprintf(stderr, "%s: label %zu is %g, not a class number 0..9\n", path, i, (double)out->x[i]);
            ae_data_free(out);
            return -1;
        }
    return 0;
}

int fmnist_load_labelled(const char *dir, ae_data *train, ae_data *test, ae_data *train_y, ae_data *test_y) {
    *train_y = *test_y = (ae_data){NULL, 0, 0};
    if (fmnist_load(dir, train, test) != 0) return -1;
    if (fmnist_load_labels(dir, "train-labels-idx1-ubyte.gz", train->rows, train_y) != 0 ||
        fmnist_load_labels(dir, "t10k-labels-idx1-ubyte.gz", test->rows, test_y) != 0) {
        ae_data_free(train_y);
        ae_data_free(train);
        ae_data_free(test);
        return -1;
    }
    return 0;
}

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void fmnist_shuffle(size_t *idx, size_t n, uint64_t *state) {
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(splitmix64(state) % i), t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
}

void print_openblas(void) {
    ae_blas_info b = ae_blas_get_info();
    printf("OpenBLAS: core %s, %d threads%s\n", b.core, b.threads, b.fallback ? " (a slow fallback core)" : "");
}

double mean_psnr(const float *a, const float *b, size_t rows, size_t cols) {
    double sum = 0;
    for (size_t i = 0; i < rows; i++) {
        double se = 0;
        for (size_t j = 0; j < cols; j++) {
            double e = (double)a[i * cols + j] - b[i * cols + j];
            se += e * e;
        }
        double mse = se / (double)cols;
        sum += 10.0 * log10(1.0 / (mse > 1e-12 ? mse : 1e-12));
    }
    return sum / (double)rows;
}

/* The test set's noise, from its own small generator (independent of the model's). */
void fmnist_add_noise(const float *x, float *out, size_t n, float sd) {
    uint64_t s = 12345;
    for (size_t i = 0; i < n; i += 2) {
        double u[2];
        for (int k = 0; k < 2; k++) {
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            u[k] = ((double)(s >> 11) + 1.0) / 9007199254740993.0; /* (0, 1] */
        }
        double r = sqrt(-2.0 * log(u[0])), z[2] = {r * cos(6.283185307 * u[1]), r * sin(6.283185307 * u[1])};
        for (int k = 0; k < 2 && i + k < n; k++) out[i + k] = fminf(fmaxf(x[i + k] + sd * (float)z[k], 0.0f), 1.0f);
    }
}
