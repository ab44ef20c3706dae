/* fann_bench: FANN's incremental training on ae_bench's tiny workload, for a per-sample
 * speed comparison (bench/run.sh divides libae's tiny samples/s by this program's).
 *
 * The network is 32-16-4-16-32 trained one sample at a time (fann_train, i.e.
 * FANN_TRAIN_INCREMENTAL: forward, backward and a weight update per row) on the same
 * synthetic rows as ae_bench's tiny workload (bench/synth.h), visited in a shuffled order each
 * epoch as libae does. Activations as close to libae's as this FANN allows: rectified-linear
 * hidden layers where FANN has FANN_LINEAR_PIECE_RECT (2.3 and later; the build defines
 * AE_FANN_HAVE_RECT), sigmoid hidden layers otherwise; linear code; sigmoid output. FANN's
 * own learning rule (plain gradient descent, its default rate) is used: only the speed is
 * compared, and the flops counted are those of the same three GEMMs per layer ae_bench counts.
 *
 *   fann_bench [--epochs N] [--markdown]
 *
 * One warm-up epoch, then N timed epochs (default 5), the median reported. With --markdown,
 * stdout holds one Markdown table row in bench/run.sh's columns and the report goes to
 * stderr. */
#define _POSIX_C_SOURCE 200809L
#include <floatfann.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "synth.h"
#include "timing.h"

#ifndef AE_FANN_VERSION
#define AE_FANN_VERSION "unknown"
#endif

#define N_LAYERS 5

int main(int argc, char **argv) {
    int epochs = 5, markdown = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--markdown")) {
            markdown = 1;
        } else if (!strcmp(argv[i], "--epochs") && i + 1 < argc) {
            char *end;
            errno = 0;
            long v = strtol(argv[++i], &end, 10);
            if (errno || *end || end == argv[i] || v < 1 || v > 1000) {
                fprintf(stderr, "fann_bench: bad value for --epochs: %s\n", argv[i]);
                return 2;
            }
            epochs = (int)v;
        } else {
            fprintf(stderr, "usage: fann_bench [--epochs N] [--markdown]\n");
            return 2;
        }
    }

    const unsigned widths[N_LAYERS] = {SYNTH_DIM, 16, 4, 16, SYNTH_DIM};
    const size_t n = SYNTH_TRAIN_ROWS;
    float *x = malloc(n * SYNTH_DIM * sizeof *x);
    size_t *perm = malloc(n * sizeof *perm);
    double *secs = malloc((size_t)epochs * sizeof *secs);
    float *out_copy = malloc(SYNTH_DIM * sizeof *out_copy);
    struct fann *ann = NULL;
    int status = 1;
    if (!x || !perm || !secs || !out_copy) {
        fprintf(stderr, "fann_bench: out of memory\n");
        goto done;
    }
    synth_fill(x, n, SYNTH_TRAIN_SEED);
    for (size_t i = 0; i < n; i++) perm[i] = i;

    ann = fann_create_standard_array(N_LAYERS, widths);
    if (!ann) {
        fprintf(stderr, "fann_bench: fann_create_standard_array failed\n");
        goto done;
    }
#ifdef AE_FANN_HAVE_RECT
    const char *hidden_act = "rectified linear";
    fann_set_activation_function_layer(ann, FANN_LINEAR_PIECE_RECT, 1);
    fann_set_activation_function_layer(ann, FANN_LINEAR_PIECE_RECT, 3);
#else
    const char *hidden_act = "sigmoid";
    fann_set_activation_function_layer(ann, FANN_SIGMOID, 1);
    fann_set_activation_function_layer(ann, FANN_SIGMOID, 3);
#endif
    fann_set_activation_function_layer(ann, FANN_LINEAR, 2);
    fann_set_activation_function_layer(ann, FANN_SIGMOID, 4);
    fann_set_training_algorithm(ann, FANN_TRAIN_INCREMENTAL);
    fann_randomize_weights(ann, -0.1f, 0.1f);
    if (fann_get_errno((struct fann_error *)ann) != FANN_E_NO_ERROR) {
        fprintf(stderr, "fann_bench: FANN setup failed (error %d)\n", (int)fann_get_errno((struct fann_error *)ann));
        goto done;
    }

    fprintf(stderr, "[fann_bench] tiny 32-16-4-16-32, %zu rows, incremental, %s hidden; 1 warm-up + %d timed epochs\n",
            n, hidden_act, epochs);
    uint64_t rng = 7;
    for (int e = 0; e <= epochs; e++) {
        /* Fisher-Yates shuffle, timed as libae's per-epoch permutation is. */
        double t0 = now_seconds();
        for (size_t i = n - 1; i > 0; i--) {
            size_t j = (size_t)(synth_next(&rng) % (i + 1)), t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        for (size_t i = 0; i < n; i++) {
            float *row = x + perm[i] * SYNTH_DIM;
            fann_train(ann, row, row); /* an autoencoder: the row is its own target */
        }
        double dt = now_seconds() - t0;
        if (fann_get_errno((struct fann_error *)ann) != FANN_E_NO_ERROR) {
            fprintf(stderr, "fann_bench: fann_train failed (error %d)\n",
                    (int)fann_get_errno((struct fann_error *)ann));
            goto done;
        }
        fprintf(stderr, "[fann_bench] epoch %d/%d%s: %.3f s, %.0f samples/s\n", e + 1, epochs + 1,
                e ? "" : " (warm-up, not counted)", dt, (double)n / dt);
        if (e) secs[e - 1] = dt;
    }
    qsort(secs, (size_t)epochs, sizeof *secs, cmp_double);
    const double med = epochs % 2 ? secs[epochs / 2] : 0.5 * (secs[epochs / 2 - 1] + secs[epochs / 2]);

    /* Reconstruction MSE (element mean, as libae's loss) over the training rows after training,
     * computed here rather than taken from fann_get_MSE, whose scaling depends on the
     * activation functions. Not timed. */
    double sq = 0.0;
    for (size_t i = 0; i < n; i++) {
        float *row = x + i * SYNTH_DIM;
        const fann_type *y = fann_run(ann, row);
        memcpy(out_copy, y, SYNTH_DIM * sizeof *out_copy);
        for (size_t j = 0; j < SYNTH_DIM; j++) sq += ((double)out_copy[j] - row[j]) * ((double)out_copy[j] - row[j]);
    }
    const double mse = sq / ((double)n * SYNTH_DIM);

    /* The GEMM flops of one step, as ae_bench counts them: forward and dW for every layer,
     * dX for every layer but the first, 2*in*out per row each. */
    double flops = 0.0;
    for (int l = 0; l + 1 < N_LAYERS; l++) flops += (l ? 3.0 : 2.0) * 2.0 * widths[l] * widths[l + 1];
    flops *= (double)n;
    struct rusage ru;
    const double rss = getrusage(RUSAGE_SELF, &ru) == 0 ? (double)ru.ru_maxrss / 1024.0 : NAN;

    FILE *rep = markdown ? stderr : stdout;
    fprintf(rep,
            "workload         tiny (32-16-4-16-32), synthetic rank-4 cosines, %zu rows, batch 1 "
            "(incremental)\n",
            n);
    fprintf(rep, "FANN             %s, %s hidden, linear code, sigmoid output\n", AE_FANN_VERSION, hidden_act);
    fprintf(rep, "training epoch   %.3f s median of %d (min %.3f, max %.3f)\n", med, epochs, secs[0], secs[epochs - 1]);
    fprintf(rep, "samples/s        %.0f\n", (double)n / med);
    fprintf(rep, "achieved         %.2f GFLOP/s (step GEMM flops / epoch time)\n", flops / med * 1e-9);
    fprintf(rep, "train MSE        %.6f (full pass after training)\n", mse);
    fprintf(rep, "peak RSS         %.1f MiB\n", rss);
    if (markdown)
        printf("| FANN %s (incremental, %s hidden) | tiny | %zu | 1 | %.3f | %.0f | %.2f | n/a | n/a | n/a | %.1f | "
               "%.4g |\n",
               AE_FANN_VERSION, hidden_act, n, med, (double)n / med, flops / med * 1e-9, rss, mse);
    fflush(stdout);
    status = 0;
done:
    if (ann) fann_destroy(ann);
    free(out_copy);
    free(secs);
    free(perm);
    free(x);
    return status;
}
