/* Does unsupervised pretraining help a classifier trained on few labels? Workload W's
 * autoencoder (784-256-64-256-784, ReLU, linear code, sigmoid output, MSE, Adam 1e-3, batch
 * 128) is pretrained for 10 epochs on all 60000 Fashion-MNIST training images, without their
 * labels, and saved. Then, for each seed 1, 2, 3: 60 labelled training images per class (600,
 * picked by the seed) train a softmax head on the code, fine-tuning the encoder with it (Adam
 * 1e-3, batch 32, 100 epochs), (a) starting from the pretrained model and (b) starting from a
 * randomly initialised one (config seed from the seed); prints the test accuracy of both over
 * the 10000 test images, the mean over the seeds and the gap in points.
 *   pretrain [options] [DATA_DIR] [OUT_DIR]
 * Options (alternative recipes; each changes both arms where it applies to both):
 *   --labels N                 labelled images per class (default 60)
 *   --pretrain-epochs N        end-to-end pretraining epochs (default 10)
 *   --head-epochs N            fine-tuning epochs of the head and encoder (default 100)
 *   --layerwise [E]            greedy layer-wise pretraining first, E epochs per layer (default
 *                              5), then the end-to-end epochs (ae_pretrain_layerwise)
 *   --denoise mask|gauss       denoising pretraining: 30% of the pixels set to 0, or Gaussian
 *                              noise of sd 0.2
 *   --freeze-then-finetune [F] both arms: F epochs (default 20) of the head alone on the frozen
 *                              encoder, then the fine-tuning epochs
 *   --linear-probe             both arms: the head alone on the frozen encoder, never
 *                              fine-tuned (a measure of the code itself)
 * DATA_DIR defaults to /usr/share/datasets/fashion-mnist, OUT_DIR (where the pretrained model
 * pretrained.safetensors is written) to the current folder. */
#include <ae.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fmnist.h"

#define N_CLASSES 10
#define N_SEEDS 3

static int on_pretrain_epoch(const ae_epoch_stats *s, void *user) {
    (void)user;
    if (s->layer)
        printf("  layer %d epoch %d  train loss %.5f  (%.2f s)\n", s->layer, s->epoch, s->train_loss, s->seconds);
    else
        printf("  epoch %d  train loss %.5f  test loss %.5f  (%.2f s)\n", s->epoch, s->train_loss, s->val_loss,
               s->seconds);
    fflush(stdout);
    return 0;
}

static int on_head_epoch(const ae_epoch_stats *s, void *user) {
    *(double *)user = s->train_loss; /* the last epoch's loss */
    return 0;
}

typedef struct recipe {
    int labels, pretrain_epochs, head_epochs, layerwise, freeze_epochs, linear_probe;
    ae_noise noise;
    float noise_level;
} recipe;

/* Attaches a new softmax head to m and trains it on (x, y) as the recipe says; *acc gets the
 * test accuracy, *loss the last training epoch's loss. */
static int train_head(ae_model *m, const recipe *r, const float *x, const float *y, size_t n, const ae_data *test,
                      const ae_data *test_y, double *acc, double *loss) {
    int rc = ae_head_create(m, AE_HEAD_SOFTMAX, N_CLASSES);
    if (rc != AE_OK) return rc;
    ae_train_opts o = ae_train_opts_default(); /* Adam 1e-3, shuffled */
    o.batch_size = 32;
    o.on_epoch = on_head_epoch;
    o.user = loss;
    if (r->freeze_epochs > 0 || r->linear_probe) { /* the head alone on the frozen code */
        o.epochs = r->linear_probe ? r->head_epochs : r->freeze_epochs;
        if ((rc = ae_head_train(m, x, n, y, 1, &o)) != AE_OK) return rc;
    }
    if (!r->linear_probe) { /* head and encoder together */
        o.epochs = r->head_epochs;
        if ((rc = ae_head_train(m, x, n, y, 0, &o)) != AE_OK) return rc;
    }
    return ae_head_evaluate(m, test->x, test->rows, test_y->x, NULL, acc);
}

static int usage(const char *prog) {
    fprintf(stderr,
            "usage: %s [--labels N] [--pretrain-epochs N] [--head-epochs N] [--layerwise [E]] [--denoise mask|gauss]\n"
            "          [--freeze-then-finetune [F]] [--linear-probe] [DATA_DIR] [OUT_DIR]\n",
            prog);
    return 2;
}

/* A positive integer argument; *v unchanged and 0 returned when s is not one. */
static int parse_int(const char *s, int *v) {
    char *end = NULL;
    long x = strtol(s, &end, 10);
    if (!*s || *end || x < 1 || x > 1000000) return 0;
    *v = (int)x;
    return 1;
}

int main(int argc, char **argv) {
    ensure_fast_blas(argv);
    recipe r = {.labels = 60, .pretrain_epochs = 10, .head_epochs = 100, .noise = AE_NOISE_NONE};
    const char *dir = NULL, *out = ".";
    int positional = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *next = i + 1 < argc ? argv[i + 1] : "";
        if (strcmp(a, "--labels") == 0) {
            if (++i >= argc || !parse_int(argv[i], &r.labels)) return usage(argv[0]);
        } else if (strcmp(a, "--pretrain-epochs") == 0) {
            if (++i >= argc || !parse_int(argv[i], &r.pretrain_epochs)) return usage(argv[0]);
        } else if (strcmp(a, "--head-epochs") == 0) {
            if (++i >= argc || !parse_int(argv[i], &r.head_epochs)) return usage(argv[0]);
        } else if (strcmp(a, "--layerwise") == 0) {
            r.layerwise = 5;
            if (parse_int(next, &r.layerwise)) i++;
        } else if (strcmp(a, "--freeze-then-finetune") == 0) {
            r.freeze_epochs = 20;
            if (parse_int(next, &r.freeze_epochs)) i++;
        } else if (strcmp(a, "--linear-probe") == 0) {
            r.linear_probe = 1;
        } else if (strcmp(a, "--denoise") == 0 && strcmp(next, "mask") == 0) {
            r.noise = AE_NOISE_MASK;
            r.noise_level = 0.3f;
            i++;
        } else if (strcmp(a, "--denoise") == 0 && strcmp(next, "gauss") == 0) {
            r.noise = AE_NOISE_GAUSSIAN;
            r.noise_level = 0.2f;
            i++;
        } else if (a[0] == '-' || positional == 2) {
            return usage(argv[0]);
        } else if (positional++ == 0) {
            dir = a;
        } else {
            out = a;
        }
    }
    if (r.linear_probe && r.freeze_epochs) return usage(argv[0]);

    ae_data train = {0}, test = {0}, train_y = {0}, test_y = {0};
    if (fmnist_load_labelled(dir, &train, &test, &train_y, &test_y) != 0) return 1;
    print_openblas();

    const size_t d = train.cols, n_lab = (size_t)r.labels * N_CLASSES;
    char model_path[1024];
    snprintf(model_path, sizeof model_path, "%s/pretrained.safetensors", out);
    size_t *idx = malloc(train.rows * sizeof *idx), *chosen = malloc(n_lab * sizeof *chosen);
    float *x = malloc(n_lab * d * sizeof *x), *y = malloc(n_lab * sizeof *y);
    ae_model *m = NULL;
    int status = 1, rc;
    if (!idx || !chosen || !x || !y) {
        fprintf(stderr, "out of memory\n");
        goto done;
    }

    /* 1. Pretraining, on every training image and no label. */
    ae_config cfg = ae_config_default(); /* ReLU hidden, linear code, sigmoid output, seed 42 */
    cfg.input_dim = d;
    cfg.n_hidden = 1;
    cfg.hidden[0] = 256;
    cfg.code_dim = 64;
    ae_train_opts po = ae_train_opts_default(); /* Adam 1e-3, batch 128, MSE */
    po.epochs = r.pretrain_epochs;
    po.noise = r.noise;
    po.noise_level = r.noise_level;
    po.val_x = test.x; /* images only: the test loss is the reconstruction error */
    po.val_n = test.rows;
    po.on_epoch = on_pretrain_epoch;
    printf("pretraining 784-256-64-256-784 on %zu unlabelled images: ", train.rows);
    if (r.layerwise) printf("%d epochs per layer, then ", r.layerwise);
    printf("%d epochs end to end", r.pretrain_epochs);
    if (r.noise == AE_NOISE_MASK) printf(", denoising (30%% of pixels masked)");
    if (r.noise == AE_NOISE_GAUSSIAN) printf(", denoising (Gaussian noise, sd 0.2)");
    printf("\n");
    fflush(stdout);
    if ((rc = ae_create(&m, &cfg)) != AE_OK ||
        (rc = r.layerwise ? ae_pretrain_layerwise(m, train.x, train.rows, &po, r.layerwise)
                          : ae_train(m, train.x, train.rows, &po)) != AE_OK) {
        fprintf(stderr, "pretraining failed: %s\n", ae_strerror(rc));
        goto done;
    }
    if ((rc = ae_save(m, model_path)) != AE_OK) {
        fprintf(stderr, "cannot save %s: %s\n", model_path, ae_strerror(rc));
        goto done;
    }
    ae_free(m);
    m = NULL;
    printf("saved %s\n", model_path);

    /* 2. Per seed: a labelled subset, and a classifier from each starting point. */
    printf("classifier: softmax head on the 64-d code, %d labelled images per class, Adam 1e-3, batch 32, ", r.labels);
    if (r.linear_probe)
        printf("%d epochs on the frozen encoder\n", r.head_epochs);
    else if (r.freeze_epochs)
        printf("%d epochs frozen encoder, then %d epochs fine-tuned\n", r.freeze_epochs, r.head_epochs);
    else
        printf("%d epochs fine-tuned\n", r.head_epochs);
    double sum_pre = 0.0, sum_rand = 0.0;
    for (int seed = 1; seed <= N_SEEDS; seed++) {
        uint64_t s = 1000u + (uint64_t)seed;
        size_t k = 0;
        for (int c = 0; c < N_CLASSES; c++) {
            size_t nc = 0;
            for (size_t i = 0; i < train.rows; i++)
                if ((int)train_y.x[i] == c) idx[nc++] = i;
            if (nc < (size_t)r.labels) {
                fprintf(stderr, "class %d has only %zu training images\n", c, nc);
                goto done;
            }
            fmnist_shuffle(idx, nc, &s);
            for (int j = 0; j < r.labels; j++) chosen[k++] = idx[j];
        }
        for (size_t i = 0; i < n_lab; i++) {
            memcpy(x + i * d, train.x + chosen[i] * d, d * sizeof(float));
            y[i] = train_y.x[chosen[i]];
        }

        double acc_pre = 0.0, acc_rand = 0.0, loss_pre = 0.0, loss_rand = 0.0;
        /* The same pretrained weights each time; the head's weights and the batch order come
         * from the seed, as for the random arm. */
        if ((rc = ae_load(&m, model_path)) != AE_OK || (rc = ae_reseed(m, 100u + (uint64_t)seed)) != AE_OK ||
            (rc = train_head(m, &r, x, y, n_lab, &test, &test_y, &acc_pre, &loss_pre)) != AE_OK) {
            fprintf(stderr, "seed %d, pretrained: %s\n", seed, ae_strerror(rc));
            goto done;
        }
        ae_free(m);
        m = NULL;
        ae_config rc_cfg = cfg;
        rc_cfg.seed = 100u + (uint64_t)seed;
        if ((rc = ae_create(&m, &rc_cfg)) != AE_OK ||
            (rc = train_head(m, &r, x, y, n_lab, &test, &test_y, &acc_rand, &loss_rand)) != AE_OK) {
            fprintf(stderr, "seed %d, random init: %s\n", seed, ae_strerror(rc));
            goto done;
        }
        ae_free(m);
        m = NULL;
        sum_pre += acc_pre;
        sum_rand += acc_rand;
        printf("seed %d: test accuracy pretrained %.2f%%, random init %.2f%%, gap %+.2f points  "
               "(final train loss %.4f / %.4f)\n",
               seed, 100.0 * acc_pre, 100.0 * acc_rand, 100.0 * (acc_pre - acc_rand), loss_pre, loss_rand);
        fflush(stdout);
    }
    printf("mean over %d seeds: pretrained %.2f%%, random init %.2f%%, gap %+.2f points\n", N_SEEDS,
           100.0 * sum_pre / N_SEEDS, 100.0 * sum_rand / N_SEEDS, 100.0 * (sum_pre - sum_rand) / N_SEEDS);
    status = 0;
done:
    ae_free(m);
    free(idx);
    free(chosen);
    free(x);
    free(y);
    ae_data_free(&train);
    ae_data_free(&test);
    ae_data_free(&train_y);
    ae_data_free(&test_y);
    return status;
}
