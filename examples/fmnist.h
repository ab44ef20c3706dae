/* Shared by the examples: Fashion-MNIST loading with a helpful message, and the OpenBLAS line. */
#ifndef AE_EXAMPLES_FMNIST_H
#define AE_EXAMPLES_FMNIST_H

#include <ae.h>
#include <stdint.h>

#include "fast_blas.h"

#define FMNIST_DIR "/usr/share/datasets/fashion-mnist"

/* Loads the train and test images (floats in [0,1]) from dir (NULL: FMNIST_DIR). Returns 0,
 * or -1 after printing what went wrong and how to get the data set. */
int fmnist_load(const char *dir, ae_data *train, ae_data *test);
/* fmnist_load, and the train and test labels (checked as fmnist_load_labels does). Returns 0,
 * or -1 after printing what went wrong (nothing left allocated). */
int fmnist_load_labelled(const char *dir, ae_data *train, ae_data *test, ae_data *train_y, ae_data *test_y);
/* Loads the label file dir/name (NULL dir: FMNIST_DIR; IDX, rows x 1) and checks that it holds
 * n class numbers 0..9. Returns 0, or -1 after printing what went wrong. */
int fmnist_load_labels(const char *dir, const char *name, size_t n, ae_data *out);
/* Fisher-Yates shuffle of idx[0..n) from splitmix64 draws of *state: the examples' own
 * generator, independent of the models' (the modulo bias of 64-bit draws is negligible). */
void fmnist_shuffle(size_t *idx, size_t n, uint64_t *state);
/* Prints OpenBLAS's core name, thread count and build configuration. */
void print_openblas(void);
/* out = x + N(0, sd^2) noise clipped to [0, 1], n values; the draws from a fixed generator of
 * its own (the same noisy test set every run, independent of the model's). */
void fmnist_add_noise(const float *x, float *out, size_t n, float sd);
/* Mean over rows of 10 log10(1 / MSE(a_i, b_i)) for images in [0,1]. */
double mean_psnr(const float *a, const float *b, size_t rows, size_t cols);

#endif
