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
