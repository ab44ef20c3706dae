/* Data-parallel training over MPI: workload W (784-256-64-256-784) or W-big
 * (784-1024-256-64-256-1024-784) on Fashion-MNIST, each rank holding and reading only its
 * share of the training images. Rank 0 prints each epoch, the samples/s, the time spent in the
 * gradient MPI_Allreduce, the test-set MSE, and saves the model.
 *   mpirun -np R mpi_train [--big] [--epochs N] [--threads T] [--out FILE] [DATA_DIR]
 * --threads: OpenBLAS threads per rank (default 1: on a machine with C cores, use R * T <= C). */
#include <ae_mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fmnist.h"

static int rank;

/* Rank 0's epoch times (the library calls on_epoch on rank 0 only). */
#define MAX_EPOCHS 1000
static double epoch_seconds[MAX_EPOCHS];

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int on_epoch(const ae_epoch_stats *s, void *user) {
    (void)user;
    if (s->epoch >= 1 && s->epoch <= MAX_EPOCHS) epoch_seconds[s->epoch - 1] = s->seconds;
    printf("epoch %d  train loss %.5f  %.0f samples/s  (%.2f s)\n", s->epoch, s->train_loss,
           (double)s->samples / s->seconds, s->seconds);
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv) {
    ensure_fast_blas(argv); /* before MPI_Init: it may re-execute this rank */
    MPI_Init(&argc, &argv);
    int ranks = 1, big = 0, epochs = 3, threads = 1;
    const char *dir = FMNIST_DIR, *out = NULL;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--big"))
            big = 1;
        else if (!strcmp(argv[i], "--epochs") && i + 1 < argc)
            epochs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--out") && i + 1 < argc)
            out = argv[++i];
        else
            dir = argv[i];
    }
    int status = 1, rc = epochs >= 1 && epochs <= MAX_EPOCHS ? ae_set_threads(threads) : AE_EINVAL;
    if (rc != AE_OK) {
        if (rank == 0) fprintf(stderr, "bad --epochs or --threads\n");
        MPI_Finalize();
        return 2;
    }

    char path[1024];
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte.gz", dir);
    ae_data train = {NULL, 0, 0}, test = {NULL, 0, 0};
    size_t first = 0, total = 0;
    ae_model *m = NULL;
    float *err = NULL;
    rc = ae_mpi_data_load_shard(path, MPI_COMM_WORLD, &train, &first, &total);
    if (rc != AE_OK) { /* the same status on every rank: rank 0 speaks for all */
        if (rank == 0)
            fprintf(stderr, "cannot read %s: %s (apt-get install dataset-fashion-mnist)\n", path, ae_strerror(rc));
        goto done;
    }
    printf("rank %d of %d: training rows [%zu, %zu) of %zu\n", rank, ranks, first, first + train.rows, total);
    fflush(stdout);
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0) print_openblas();

    ae_config cfg = ae_config_default(); /* ReLU hidden, linear code, sigmoid output */
    cfg.input_dim = train.cols;
    cfg.n_hidden = big ? 2 : 1;
    cfg.hidden[0] = big ? 1024 : 256;
    cfg.hidden[1] = 256;
    cfg.code_dim = 64;
    ae_train_opts opts = ae_train_opts_default(); /* Adam 1e-3, batch 128 (global), MSE */
    opts.epochs = epochs;
    opts.on_epoch = on_epoch;
    ae_mpi_stats st;
    if ((rc = ae_create(&m, &cfg)) == AE_OK) rc = ae_train_mpi(m, train.x, train.rows, &opts, MPI_COMM_WORLD, &st);
    if (rc != AE_OK) {
        if (rank == 0) fprintf(stderr, "training failed: %s\n", ae_strerror(rc));
        goto done;
    }
    /* The slowest rank's time in the reduction (the others wait for it inside it too). */
    double allreduce = 0.0;
    MPI_Reduce(&st.allreduce_seconds, &allreduce, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
    if (rank == 0) {
        qsort(epoch_seconds, (size_t)epochs, sizeof(double), cmp_double);
        const double per_epoch = epoch_seconds[epochs / 2]; /* the median epoch */
        printf("%s, %d ranks x %d OpenBLAS threads: %.0f samples/s, %.3f s per epoch (median), of which %.3f s in "
               "MPI_Allreduce (%zu calls of %.2f MB per epoch)\n",
               big ? "W-big" : "W", ranks, threads, (double)total / per_epoch, per_epoch, allreduce / epochs,
               st.allreduce_calls / (size_t)epochs, (double)st.gradient_bytes / 1e6);
        snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte.gz", dir);
        if ((rc = ae_data_load(path, &test)) != AE_OK || !(err = malloc(test.rows * sizeof *err)) ||
            (rc = ae_score(m, test.x, test.rows, err)) != AE_OK) {
            fprintf(stderr, "test set: %s\n", ae_strerror(rc != AE_OK ? rc : AE_ENOMEM));
            goto done;
        }
        double mse = 0.0;
        for (size_t i = 0; i < test.rows; i++) mse += err[i];
        printf("test-set MSE: %.5f\n", mse / (double)test.rows);
        if (out && (rc = ae_save(m, out)) != AE_OK) {
            fprintf(stderr, "cannot save %s: %s\n", out, ae_strerror(rc));
            goto done;
        }
        if (out) printf("model saved to %s\n", out);
    }
    status = 0;
done:
    free(err);
    ae_free(m);
    ae_data_free(&train);
    ae_data_free(&test);
    MPI_Finalize();
    return status;
}
