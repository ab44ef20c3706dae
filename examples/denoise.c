/* Denoising autoencoder on Fashion-MNIST: train workload W's shape on inputs with Gaussian
 * noise (sd 0.3, clipped to [0,1]) against the clean images, then denoise noisy test images.
 * Prints the mean PSNR of noisy and denoised test images; writes denoise.png (rows: noisy,
 * denoised, clean).   denoise [EPOCHS] [DATA_DIR] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "fmnist.h"
#include "png_grid.h"

static int on_epoch(const ae_epoch_stats *s, void *user) {
    (void)user;
    printf("epoch %d  train loss %.5f  (%.1f s)\n", s->epoch, s->train_loss, s->seconds);
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv) {
    ensure_fast_blas(argv);
    int epochs = argc > 1 ? atoi(argv[1]) : 10;
    ae_data train = {0}, test = {0};
    if (epochs < 1 || fmnist_load(argc > 2 ? argv[2] : NULL, &train, &test) != 0) return 1;
    print_openblas();

    ae_config cfg = ae_config_default(); /* 784-256-64-256-784, ReLU, sigmoid output */
    cfg.input_dim = train.cols;
    cfg.n_hidden = 1;
    cfg.hidden[0] = 256;
    cfg.code_dim = 64;
    ae_train_opts opts = ae_train_opts_default(); /* Adam 1e-3, batch 128, MSE */
    opts.epochs = epochs;
    opts.noise = AE_NOISE_GAUSSIAN; /* corrupt each batch ... */
    opts.noise_level = 0.3f; /* ... with sd 0.3, clipped to [0,1] */
    opts.on_epoch = on_epoch;

    const size_t n = test.rows, d = test.cols;
    float *noisy = malloc(n * d * sizeof(float)), *clean_out = malloc(n * d * sizeof(float));
    float *grid = malloc(48 * d * sizeof(float));
    ae_model *m = NULL;
    int rc = noisy && clean_out && grid ? AE_OK : AE_ENOMEM;
    if (rc == AE_OK) rc = ae_create(&m, &cfg);
    if (rc == AE_OK) rc = ae_train(m, train.x, train.rows, &opts);
    if (rc == AE_OK) {
        fmnist_add_noise(test.x, noisy, n * d, 0.3f);
        rc = ae_reconstruct(m, noisy, n, clean_out); /* the denoiser */
    }
    if (rc != AE_OK) {
        fprintf(stderr, "denoise: %s\n", ae_strerror(rc));
    } else {
        double before = mean_psnr(noisy, test.x, n, d), after = mean_psnr(clean_out, test.x, n, d);
        printf("test images, Gaussian noise sd 0.3: PSNR noisy %.2f dB, denoised %.2f dB (+%.2f dB)\n", before, after,
               after - before);
        for (size_t i = 0; i < 16 * d; i++) {
            grid[i] = noisy[i];
            grid[16 * d + i] = clean_out[i];
            grid[32 * d + i] = test.x[i];
        }
        if (png_grid_write("denoise.png", grid, 3, 16, 28, 28) == 0) printf("wrote denoise.png\n");
    }
    free(noisy);
    free(clean_out);
    free(grid);
    ae_free(m);
    ae_data_free(&train);
    ae_data_free(&test);
    return rc == AE_OK ? 0 : 1;
}
