/* The libae demo: workload W (784-256-64-256-784, ReLU, sigmoid output, MSE, Adam 1e-3,
 * batch 128) on Fashion-MNIST for 5 epochs; prints progress, the test MSE, saves the model
 * and writes reconstructions.png (16 test images over their reconstructions).
 *   fashion_mnist [DATA_DIR] [OUT_DIR]      (DATA_DIR default /usr/share/datasets/fashion-mnist) */
#include <ae.h>
#include <stdio.h>
#include <stdlib.h>

#include "fmnist.h"
#include "png_grid.h"

static int on_epoch(const ae_epoch_stats *s, void *user) {
    (void)user;
    printf("epoch %d  train loss %.5f  test loss %.5f  %.0f samples/s  (%.2f s)\n", s->epoch, s->train_loss,
           s->val_loss, (double)s->samples / s->seconds, s->seconds);
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv) {
    ensure_fast_blas(argv);
    const char *dir = argc > 1 ? argv[1] : NULL;
    const char *out = argc > 2 ? argv[2] : ".";
    char model_path[1024], png_path[1024];
    snprintf(model_path, sizeof model_path, "%s/fashion_mnist.safetensors", out);
    snprintf(png_path, sizeof png_path, "%s/reconstructions.png", out);

    ae_data train = {0}, test = {0};
    if (fmnist_load(dir, &train, &test) != 0) return 1;
    print_openblas();
    int rc;

    ae_config cfg = ae_config_default(); /* ReLU hidden, linear code, sigmoid output */
    cfg.input_dim = train.cols;
    cfg.n_hidden = 1;
    cfg.hidden[0] = 256;
    cfg.code_dim = 64;
    ae_train_opts opts = ae_train_opts_default(); /* Adam 1e-3, batch 128, MSE */
    opts.epochs = 5;
    opts.val_x = test.x;
    opts.val_n = test.rows;
    opts.on_epoch = on_epoch;

    ae_model *m = NULL;
    float *err = NULL, *grid = NULL;
    int status = 1;
    if ((rc = ae_create(&m, &cfg)) != AE_OK || (rc = ae_train(m, train.x, train.rows, &opts)) != AE_OK) {
        fprintf(stderr, "training failed: %s\n", ae_strerror(rc));
        goto done;
    }
    err = malloc(test.rows * sizeof *err);
    grid = malloc(32 * test.cols * sizeof *grid);
    if (!err || !grid) {
        fprintf(stderr, "out of memory\n");
        goto done;
    }
    if ((rc = ae_score(m, test.x, test.rows, err)) != AE_OK) {
        fprintf(stderr, "scoring failed: %s\n", ae_strerror(rc));
        goto done;
    }
    double mse = 0;
    for (size_t i = 0; i < test.rows; i++) mse += err[i];
    printf("test-set MSE after %d epochs: %.5f\n", opts.epochs, mse / (double)test.rows);

    if ((rc = ae_save(m, model_path)) != AE_OK) {
        fprintf(stderr, "cannot save %s: %s\n", model_path, ae_strerror(rc));
        goto done;
    }
    printf("model saved to %s\n", model_path);
    /* Top row: 16 test images; bottom row: their reconstructions. */
    for (size_t i = 0; i < 16 * test.cols; i++) grid[i] = test.x[i];
    if ((rc = ae_reconstruct(m, test.x, 16, grid + 16 * test.cols)) != AE_OK) {
        fprintf(stderr, "reconstruction failed: %s\n", ae_strerror(rc));
        goto done;
    }
    if (png_grid_write(png_path, grid, 2, 16, 28, 28) != 0) goto done;
    printf("wrote %s\n", png_path);
    status = 0;
done:
    free(err);
    free(grid);
    ae_free(m);
    ae_data_free(&train);
    ae_data_free(&test);
    return status;
}
