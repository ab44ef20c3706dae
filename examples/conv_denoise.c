/* A convolutional autoencoder on Fashion-MNIST: Conv(1->16, 3, stride 2) ReLU, Conv(16->32,
 * 3, stride 2) ReLU, flatten 1568 -> code 64 (linear); the decoder mirrors it, 64 -> 1568
 * ReLU, ConvTranspose(32->16) ReLU, ConvTranspose(16->1) sigmoid. Adam 1e-3, batch 128.
 * With SIGMA > 0 it is a denoiser: trained on inputs with Gaussian noise (sd SIGMA, clipped to
 * [0,1]) against the clean images; it prints the mean PSNR of noisy and denoised test images
 * and writes conv_denoise.png (rows: noisy, denoised, clean). Either way it prints the test
 * MSE of clean reconstructions.   conv_denoise [EPOCHS] [SIGMA] [DATA_DIR] */
#include <stdio.h>
#include <stdlib.h>

#include "fmnist.h"
#include "png_grid.h"

static int on_epoch(const ae_epoch_stats *s, void *user) {
    (void)user;
    printf("epoch %d  train loss %.5f  (%.2f s)\n", s->epoch, s->train_loss, s->seconds);
    fflush(stdout);
    return 0;
}

static ae_config conv_config(void) {
    ae_config c = ae_config_default();
    c.input_dim = 784;
    c.input_shape[0] = 1;
    c.input_shape[1] = 28;
    c.input_shape[2] = 28;
    c.n_conv = 2;
    c.conv[0] = (ae_conv_spec){16, 3, 2};
    c.conv[1] = (ae_conv_spec){32, 3, 2};
    c.code_dim = 64;
    return c;
}

/* Mean squared error of the clean test images' reconstructions. */
static int test_mse(const ae_model *m, const ae_data *test, double *mse) {
    float *err = malloc(test->rows * sizeof(float));
    int rc = err ? ae_score(m, test->x, test->rows, err) : AE_ENOMEM;
    double sum = 0.0;
    for (size_t i = 0; rc == AE_OK && i < test->rows; i++) sum += err[i];
    *mse = sum / (double)test->rows;
    free(err);
    return rc;
}

/* The denoiser's figures on the test images, and the picture. */
static int denoise_report(const ae_model *m, const ae_data *test, float sigma) {
    const size_t n = test->rows, d = test->cols;
    float *noisy = malloc(n * d * sizeof(float)), *out = malloc(n * d * sizeof(float));
    float *grid = malloc(48 * d * sizeof(float));
    int rc = noisy && out && grid ? AE_OK : AE_ENOMEM;
    if (rc == AE_OK) {
        fmnist_add_noise(test->x, noisy, n * d, sigma);
        rc = ae_reconstruct(m, noisy, n, out);
    }
    if (rc == AE_OK) {
        double before = mean_psnr(noisy, test->x, n, d), after = mean_psnr(out, test->x, n, d);
        printf("test images, Gaussian noise sd %.2f: PSNR noisy %.2f dB, denoised %.2f dB (+%.2f dB)\n", sigma, before,
               after, after - before);
        for (size_t i = 0; i < 16 * d; i++) {
            grid[i] = noisy[i];
            grid[16 * d + i] = out[i];
            grid[32 * d + i] = test->x[i];
        }
        if (png_grid_write("conv_denoise.png", grid, 3, 16, 28, 28) == 0) printf("wrote conv_denoise.png\n");
    }
    free(noisy);
    free(out);
    free(grid);
    return rc;
}

int main(int argc, char **argv) {
    ensure_fast_blas(argv);
    const int epochs = argc > 1 ? atoi(argv[1]) : 10;
    const float sigma = argc > 2 ? (float)atof(argv[2]) : 0.3f;
    ae_data train = {0}, test = {0};
    if (epochs < 1 || !(sigma >= 0.0f) || fmnist_load(argc > 3 ? argv[3] : NULL, &train, &test) != 0) return 1;
    print_openblas();
    ae_config cfg = conv_config();
    ae_train_opts opts = ae_train_opts_default(); /* Adam 1e-3, batch 128, MSE */
    opts.epochs = epochs;
    opts.noise = sigma > 0.0f ? AE_NOISE_GAUSSIAN : AE_NOISE_NONE;
    opts.noise_level = sigma;
    opts.on_epoch = on_epoch;
    ae_model *m = NULL;
    double mse = 0.0;
    int rc = ae_create(&m, &cfg);
    if (rc == AE_OK) printf("%zu parameters\n", ae_param_count(m));
    if (rc == AE_OK) rc = ae_train(m, train.x, train.rows, &opts);
    if (rc == AE_OK) rc = test_mse(m, &test, &mse);
    if (rc == AE_OK) printf("test MSE (clean images) %.5f\n", mse);
    if (rc == AE_OK && sigma > 0.0f) rc = denoise_report(m, &test, sigma);
    if (rc != AE_OK) fprintf(stderr, "conv_denoise: %s (%s)\n", ae_strerror(rc), ae_last_error());
    ae_free(m);
    ae_data_free(&train);
    ae_data_free(&test);
    return rc == AE_OK ? 0 : 1;
}
