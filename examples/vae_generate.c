/* Variational autoencoder on Fashion-MNIST: 784-400-16-400-784, ReLU, sigmoid output, BCE,
 * Adam 1e-3, batch 128, kl_weight 1. With BCE and kl_weight 1 the loss is the negative ELBO
 * per image divided by 784, so the test loss times 784 is the test negative ELBO in nats.
 * Writes vae_samples.png (64 draws of ae_sample) and vae_interpolation.png (8 rows, each a
 * straight line in code space between the mu of two test images).
 *   vae_generate [EPOCHS] [DATA_DIR] */
#include <stdio.h>
#include <stdlib.h>

#include "fmnist.h"
#include "png_grid.h"

static int on_epoch(const ae_epoch_stats *s, void *user) {
    const double d = *(const double *)user;
    printf("epoch %2d  train -ELBO %.1f nats (recon %.1f + KL %.1f)  test -ELBO %.1f nats  (%.1f s)\n", s->epoch,
           s->train_loss * d, s->train_recon * d, s->train_kl * d, s->val_loss * d, s->seconds);
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv) {
    ensure_fast_blas(argv);
    int epochs = argc > 1 ? atoi(argv[1]) : 20;
    ae_data train = {0}, test = {0};
    if (epochs < 1 || fmnist_load(argc > 2 ? argv[2] : NULL, &train, &test) != 0) return 1;
    print_openblas();

    ae_config cfg = ae_config_default();
    cfg.input_dim = train.cols;
    cfg.n_hidden = 1;
    cfg.hidden[0] = 400;
    cfg.code_dim = 16;
    cfg.variational = 1;
    double d = (double)train.cols;
    ae_train_opts opts = ae_train_opts_default();
    opts.epochs = epochs;
    opts.loss = AE_LOSS_BCE;
    opts.kl_weight = 1.0f;
    opts.val_x = test.x;
    opts.val_n = test.rows;
    opts.on_epoch = on_epoch;
    opts.user = &d;

    enum { STEPS = 10, LINES = 8 };
    const size_t k = cfg.code_dim;
    float *samples = malloc(64 * train.cols * sizeof(float));
    float *line = malloc(LINES * STEPS * train.cols * sizeof(float));
    float *mu = malloc(2 * LINES * k * sizeof(float)), *z = malloc(LINES * STEPS * k * sizeof(float));
    ae_model *m = NULL;
    int rc = samples && line && mu && z ? AE_OK : AE_ENOMEM;
    if (rc == AE_OK) rc = ae_create(&m, &cfg);
    if (rc == AE_OK) rc = ae_train(m, train.x, train.rows, &opts);
    if (rc == AE_OK) rc = ae_sample(m, 64, samples);
    /* Interpolation: mu of test images 2i and 2i+1, mixed in STEPS equal steps, decoded. */
    if (rc == AE_OK) rc = ae_encode(m, test.x, 2 * LINES, mu);
    if (rc == AE_OK) {
        for (size_t r = 0; r < LINES; r++)
            for (size_t s = 0; s < STEPS; s++) {
                float t = (float)s / (STEPS - 1);
                for (size_t j = 0; j < k; j++)
                    z[(r * STEPS + s) * k + j] = (1 - t) * mu[2 * r * k + j] + t * mu[(2 * r + 1) * k + j];
            }
        rc = ae_decode(m, z, LINES * STEPS, line);
    }
    if (rc != AE_OK) {
        fprintf(stderr, "vae_generate: %s\n", ae_strerror(rc));
    } else {
        if (png_grid_write("vae_samples.png", samples, 8, 8, 28, 28) == 0) printf("wrote vae_samples.png\n");
        if (png_grid_write("vae_interpolation.png", line, LINES, STEPS, 28, 28) == 0)
            printf("wrote vae_interpolation.png\n");
    }
    free(samples);
    free(line);
    free(mu);
    free(z);
    ae_free(m);
    ae_data_free(&train);
    ae_data_free(&test);
    return rc == AE_OK ? 0 : 1;
}
