/* Sparse autoencoder on Fashion-MNIST: a 784-256-64 encoder with a sigmoid code, trained with
 * the KL sparsity penalty toward a mean activation of 0.05. Prints the mean code activation
 * against the target, the share of near-zero activations (< 0.01) and the test MSE.
 *   sparse_features [EPOCHS] [DATA_DIR] */
#include <stdio.h>
#include <stdlib.h>

#include "fmnist.h"

static int on_epoch(const ae_epoch_stats *s, void *user) {
    (void)user;
    printf("epoch %d  loss %.5f (recon %.5f + sparsity %.5f)  (%.1f s)\n", s->epoch, s->train_loss, s->train_recon,
           s->train_sparsity, s->seconds);
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv) {
    ensure_fast_blas(argv);
    int epochs = argc > 1 ? atoi(argv[1]) : 5;
    ae_data train = {0}, test = {0};
    if (epochs < 1 || fmnist_load(argc > 2 ? argv[2] : NULL, &train, &test) != 0) return 1;
    print_openblas();

    ae_config cfg = ae_config_default();
    cfg.input_dim = train.cols;
    cfg.n_hidden = 1;
    cfg.hidden[0] = 256;
    cfg.code_dim = 64;
    cfg.code_act = AE_ACT_SIGMOID; /* KL sparsity acts on a sigmoid code */
    ae_train_opts opts = ae_train_opts_default();
    opts.epochs = epochs;
    opts.sparsity_target = 0.05f;
    opts.sparsity_weight = 0.01f;
    opts.on_epoch = on_epoch;

    const size_t n = test.rows, k = cfg.code_dim;
    float *code = malloc(n * k * sizeof(float)), *err = malloc(n * sizeof(float));
    ae_model *m = NULL;
    int rc = code && err ? AE_OK : AE_ENOMEM;
    if (rc == AE_OK) rc = ae_create(&m, &cfg);
    if (rc == AE_OK) rc = ae_train(m, train.x, train.rows, &opts);
    if (rc == AE_OK) rc = ae_encode(m, test.x, n, code);
    if (rc == AE_OK) rc = ae_score(m, test.x, n, err);
    if (rc != AE_OK) {
        fprintf(stderr, "sparse_features: %s\n", ae_strerror(rc));
    } else {
        double mean = 0, mse = 0;
        size_t near_zero = 0;
        for (size_t i = 0; i < n * k; i++) {
            mean += code[i];
            near_zero += code[i] < 0.01f;
        }
        for (size_t i = 0; i < n; i++) mse += err[i];
        printf("test codes: mean activation %.4f (target %.2f), %.1f%% of activations below 0.01\n",
               mean / (double)(n * k), opts.sparsity_target, 100.0 * (double)near_zero / (double)(n * k));
        printf("test MSE %.5f\n", mse / (double)n);
    }
    free(code);
    free(err);
    ae_free(m);
    ae_data_free(&train);
    ae_data_free(&test);
    return rc == AE_OK ? 0 : 1;
}
