/* ae_bench: how fast does libae train, and how close is that to what OpenBLAS alone allows?
 *
 * One run of one workload does three things:
 *  1. GEMM-only epoch: cblas_sgemm called at exactly the shapes and transposes of one libae
 *     training step, ceil(rows/batch) times (the last batch with its real size). This is the
 *     floor an implementation built on sgemm can reach; median of 3 after one warm-up.
 *  2. Training epochs with ae_train: one warm-up epoch, then --epochs timed epochs, all in one
 *     ae_train call, each epoch's time taken from the on_epoch callback (no validation data,
 *     so ae_epoch_stats.seconds is pure training). Median, min and max.
 *  3. ae_encode over the test rows, median of 3 after one warm-up.
 * It then reports samples/s, the GFLOP/s the training epoch achieves on the step GEMMs'
 * flops, epoch time / GEMM-only time (the overhead of everything that is not a GEMM: bias,
 * activations, loss, Adam, the batch gather), encode rows/s, peak RSS against a memory
 * model, and the OpenBLAS core, threads and config every figure depends on.
 *
 *   ae_bench [--workload W|W-big|conv|tiny] [--epochs N] [--batch N] [--threads N] [--data DIR]
 *            [--plan auto|one|rows|blas] [--markdown]
 *
 * Progress goes to stderr. With --markdown, stdout holds only one Markdown table row (columns
 * as in bench/run.sh) and the full report goes to stderr. */
#define _POSIX_C_SOURCE 200809L
#include <ae.h>
#include <cblas.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "fast_blas.h" /* examples/: re-execution on the "Prescott" fallback */
#include "gemm_floor.h"
#include "synth.h"
#include "timing.h"

#define GEMM_REPS 3
#define ENCODE_REPS 3

typedef struct workload {
    const char *name;
    size_t input_dim, n_hidden, hidden[2], code_dim;
    size_t n_conv, conv[2][3]; /* conv layers (channels, kernel, stride) on 1x28x28 images */
    int epochs; /* default timed epochs */
    size_t batch; /* default batch size */
    int synthetic; /* 1: synth.h rows instead of Fashion-MNIST */
    int sgd; /* 1: plain SGD (lr 0.05), the rule of FANN's incremental training */
} workload;

/* The reference workloads of DESIGN.md section 5, issue 16's conv autoencoder (ae train
 * --input-shape 1x28x28 --conv 16:3:2,32:3:2 --code 64), and a tiny one for per-sample
 * overhead. tiny defaults to batch 1 because that is what FANN's incremental training does,
 * so the two can be compared (bench/fann_bench.c). */
static const workload WORKLOADS[] = {
    {"W", 784, 1, {256, 0}, 64, 0, {{0}}, 3, 128, 0, 0},
    {"W-big", 784, 2, {1024, 256}, 64, 0, {{0}}, 2, 128, 0, 0},
    {"conv", 784, 0, {0, 0}, 64, 2, {{16, 3, 2}, {32, 3, 2}}, 2, 128, 0, 0},
    {"tiny", SYNTH_DIM, 1, {16, 0}, 4, 0, {{0}}, 5, 1, 1, 1},
};

/* Median of n values (sorts them in place). */
static double median(double *v, size_t n) {
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static double peak_rss_mib(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return NAN;
    return (double)ru.ru_maxrss / 1024.0; /* ru_maxrss is in KiB on Linux */
}

static void progress(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "[ae_bench] ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    fflush(stderr);
}

/* The network in a few words: its row widths (784-256-64-256-784), after the conv layers
 * (1x28x28 conv 16:3:2,32:3:2, 1568-64-1568, mirrored). */
static void describe(const gemm_floor *g, const workload *wl, char *arch, size_t size) {
    size_t off = 0;
#define PUT(...) \
    do { \
        const int k = snprintf(arch + off, size - off, __VA_ARGS__); \
        if (k > 0) off = off + (size_t)k < size ? off + (size_t)k : size - 1; \
    } while (0)
    arch[0] = '\0';
    if (wl->n_conv) PUT("1x28x28 conv");
    for (size_t i = 0; i < wl->n_conv; i++)
        PUT("%s%zu:%zu:%zu", i ? "," : " ", wl->conv[i][0], wl->conv[i][1], wl->conv[i][2]);
    PUT("%s%zu", wl->n_conv ? ", " : "", g->layer[wl->n_conv].in);
    for (size_t l = wl->n_conv; l < g->n_layers && g->layer[l].kind == FLOOR_DENSE; l++) PUT("-%zu", g->layer[l].out);
    if (wl->n_conv) PUT(", mirrored");
#undef PUT
}

/* on_epoch: record each epoch's time and loss, report progress. */
typedef struct epoch_log {
    int total;
    int count;
    double *seconds;
    double last_loss;
} epoch_log;

static int on_epoch(const ae_epoch_stats *s, void *user) {
    epoch_log *el = user;
    if (el->count < el->total) el->seconds[el->count++] = s->seconds;
    el->last_loss = s->train_loss;
    progress("epoch %d/%d%s: %.3f s, %.0f samples/s, train loss %.6f", s->epoch, el->total,
             s->epoch == 1 ? " (warm-up, not counted)" : "", s->seconds, (double)s->samples / s->seconds,
             s->train_loss);
    return 0;
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: ae_bench [--workload W|W-big|conv|tiny] [--epochs N] [--batch N] [--threads N]\n"
            "                [--data DIR] [--plan auto|one|rows|blas] [--markdown]\n"
            "  W      784-256-64-256-784 on Fashion-MNIST, batch 128, 3 timed epochs\n"
            "  W-big  784-1024-256-64-256-1024-784 on Fashion-MNIST, batch 128, 2 timed epochs\n"
            "  conv   1x28x28 conv 16:3:2,32:3:2, 1568-64-1568, mirrored, on Fashion-MNIST, batch 128, 2 timed\n"
            "         epochs\n"
            "  tiny   32-16-4-16-32 on %d synthetic rows, batch 1, 5 timed epochs\n"
            "  --threads N  ae_set_threads(N): libae's and OpenBLAS's threads, before anything else\n"
            "  --plan K     ae_set_plan(K): train on this parallel plan (default auto: libae chooses)\n"
            "  --markdown   stdout: one Markdown table row only (the report goes to stderr)\n",
            SYNTH_TRAIN_ROWS);
}

/* Parse a positive integer no larger than max; 0 on error. */
static long parse_count(const char *s, long max) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 1 || v > max) return 0;
    return v;
}

static int load_data(const char *dir, const char *file, ae_data *d) {
    char path[4096];
    int len = snprintf(path, sizeof path, "%s/%s", dir, file);
    if (len < 0 || (size_t)len >= sizeof path) {
        fprintf(stderr, "ae_bench: data path too long\n");
        return AE_EINVAL;
    }
    int rc = ae_data_load(path, d);
    if (rc != AE_OK) fprintf(stderr, "ae_bench: cannot load %s: %s\n", path, ae_strerror(rc));
    return rc;
}

/* Synthetic rows (tiny workload) in an ae_data, so both sources are freed the same way. */
static int synth_data(size_t rows, uint64_t seed, ae_data *d) {
    memset(d, 0, sizeof *d);
    d->x = malloc(rows * SYNTH_DIM * sizeof *d->x);
    if (!d->x) {
        fprintf(stderr, "ae_bench: %s\n", ae_strerror(AE_ENOMEM));
        return AE_ENOMEM;
    }
    synth_fill(d->x, rows, seed);
    d->rows = rows;
    d->cols = SYNTH_DIM;
    return AE_OK;
}

static void free_data(ae_data *d, int synthetic) {
    if (synthetic) {
        free(d->x);
        memset(d, 0, sizeof *d);
    } else {
        ae_data_free(d);
    }
}

int main(int argc, char **argv) {
    ensure_fast_blas(argv);
    const workload *wl = &WORKLOADS[0];
    const char *data_dir = "/usr/share/datasets/fashion-mnist";
    long epochs_opt = 0, batch_opt = 0, threads = 0;
    int markdown = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--markdown")) {
            markdown = 1;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (v && !strcmp(a, "--workload")) {
            size_t k, nw = sizeof WORKLOADS / sizeof WORKLOADS[0];
            for (k = 0; k < nw && strcmp(v, WORKLOADS[k].name); k++) {}
            if (k == nw) {
                fprintf(stderr, "ae_bench: unknown workload '%s'\n", v);
                usage(stderr);
                return 2;
            }
            wl = &WORKLOADS[k];
            i++;
        } else if (v && !strcmp(a, "--epochs")) {
            if (!(epochs_opt = parse_count(v, 1000))) goto bad_value;
            i++;
        } else if (v && !strcmp(a, "--batch")) {
            if (!(batch_opt = parse_count(v, 1L << 20))) goto bad_value;
            i++;
        } else if (v && !strcmp(a, "--threads")) {
            if (!(threads = parse_count(v, 1024))) goto bad_value;
            i++;
        } else if (v && !strcmp(a, "--plan")) {
            int k = AE_PLAN_KINDS;
            while (--k >= 0 && strcmp(v, ae_plan_name((ae_plan_kind)k))) {}
            if (k < 0 || ae_set_plan((ae_plan_kind)k) != AE_OK) goto bad_value;
            i++;
        } else if (v && !strcmp(a, "--data")) {
            data_dir = v;
            i++;
        } else {
            fprintf(stderr, "ae_bench: unknown option or missing value: %s\n", a);
            usage(stderr);
            return 2;
        }
        continue;
    bad_value:
        fprintf(stderr, "ae_bench: bad value for %s: %s\n", a, v);
        return 2;
    }
    /* Before anything touches OpenBLAS, so every GEMM below runs with this many threads, and
     * ae_train splits its batches across as many of libae's own. */
    if (threads && ae_set_threads((int)threads) != AE_OK) goto bad_value;

    const int timed_epochs = epochs_opt ? (int)epochs_opt : wl->epochs;
    const size_t batch_req = batch_opt ? (size_t)batch_opt : wl->batch;
    FILE *rep = markdown ? stderr : stdout;
    const ae_blas_info blas = ae_blas_get_info();
    if (blas.fallback)
        fprintf(stderr,
                "ae_bench: warning: OpenBLAS runs core %s, a slow fallback on this CPU; the numbers "
                "below say little about libae (set OPENBLAS_CORETYPE=%s)\n",
                blas.core, blas.suggested_core ? blas.suggested_core : "?");

    ae_data train = {0}, test = {0};
    ae_model *m = NULL;
    gemm_floor gb;
    memset(&gb, 0, sizeof gb);
    double *epoch_s = NULL;
    float *code = NULL;
    int status = 1, rc;

    progress("workload %s: loading data", wl->name);
    if (wl->synthetic) {
        rc = synth_data(SYNTH_TRAIN_ROWS, SYNTH_TRAIN_SEED, &train);
        if (rc == AE_OK) rc = synth_data(SYNTH_TEST_ROWS, SYNTH_TEST_SEED, &test);
    } else {
        rc = load_data(data_dir, "train-images-idx3-ubyte.gz", &train);
        if (rc == AE_OK) rc = load_data(data_dir, "t10k-images-idx3-ubyte.gz", &test);
    }
    if (rc != AE_OK) goto done;
    if (train.cols != wl->input_dim || test.cols != wl->input_dim) {
        fprintf(stderr, "ae_bench: data has %zu/%zu columns, workload %s needs %zu\n", train.cols, test.cols, wl->name,
                wl->input_dim);
        goto done;
    }
    const size_t n = train.rows;
    const size_t batch = batch_req < n ? batch_req : n; /* as ae_train caps it */
    const size_t steps = (n + batch - 1) / batch;

    ae_config cfg = ae_config_default(); /* ReLU hidden, linear code, sigmoid output */
    cfg.input_dim = wl->input_dim;
    cfg.n_hidden = wl->n_hidden;
    for (size_t i = 0; i < wl->n_hidden; i++) cfg.hidden[i] = wl->hidden[i];
    cfg.code_dim = wl->code_dim;
    if (wl->n_conv) {
        cfg.input_shape[0] = 1;
        cfg.input_shape[1] = cfg.input_shape[2] = 28;
        cfg.n_conv = wl->n_conv;
        for (size_t i = 0; i < wl->n_conv; i++)
            cfg.conv[i] = (ae_conv_spec){wl->conv[i][0], wl->conv[i][1], wl->conv[i][2]};
    }
    if ((rc = ae_create(&m, &cfg)) != AE_OK) {
        fprintf(stderr, "ae_bench: ae_create: %s\n", ae_strerror(rc));
        goto done;
    }

    /* 1. GEMM-only epoch. */
    if ((rc = gemm_floor_init(&gb, &cfg, batch)) != AE_OK) {
        fprintf(stderr, "ae_bench: GEMM buffers: %s\n", ae_strerror(rc));
        goto done;
    }
    const double flops = gemm_floor_flops(&gb, n, batch);
    const size_t widths_sum = gemm_floor_units(&gb);
    char arch[160];
    describe(&gb, wl, arch, sizeof arch);
    progress("GEMM-only epoch: %zu steps of batch %zu, %.1f GFLOP; 1 warm-up + %d timed", steps, batch, flops * 1e-9,
             GEMM_REPS);
    double gemm_s[GEMM_REPS];
    for (int r = -1; r < GEMM_REPS; r++) {
        double t = gemm_floor_epoch(&gb, n, batch);
        progress("GEMM-only epoch%s: %.3f s, %.1f GFLOP/s", r < 0 ? " (warm-up)" : "", t, flops / t * 1e-9);
        if (r >= 0) gemm_s[r] = t;
    }
    const double gemm_med = median(gemm_s, GEMM_REPS);
    gemm_floor_free(&gb);

    /* 2. Training: epoch 1 is the warm-up; no validation data, so seconds is training only. */
    epoch_log elog = {timed_epochs + 1, 0, NULL, NAN};
    if (!(epoch_s = malloc((size_t)elog.total * sizeof *epoch_s))) {
        fprintf(stderr, "ae_bench: %s\n", ae_strerror(AE_ENOMEM));
        goto done;
    }
    elog.seconds = epoch_s;
    ae_train_opts opts = ae_train_opts_default(); /* Adam 1e-3, MSE, shuffled */
    if (wl->sgd) { /* like for like with FANN's incremental rule */
        opts.optimizer = AE_OPT_SGD;
        opts.learning_rate = 0.05f;
    }
    opts.epochs = elog.total;
    opts.batch_size = batch;
    opts.on_epoch = on_epoch;
    opts.user = &elog;
    progress("training: %zu rows, batch %zu, 1 warm-up + %d timed epochs", n, batch, timed_epochs);
    if ((rc = ae_train(m, train.x, n, &opts)) != AE_OK) {
        fprintf(stderr, "ae_bench: ae_train: %s\n", ae_strerror(rc));
        goto done;
    }
    if (elog.count != elog.total) {
        fprintf(stderr, "ae_bench: ae_train reported %d of %d epochs\n", elog.count, elog.total);
        goto done;
    }
    double *timed = epoch_s + 1;
    double ep_min = timed[0], ep_max = timed[0];
    for (int e = 1; e < timed_epochs; e++) {
        ep_min = timed[e] < ep_min ? timed[e] : ep_min;
        ep_max = timed[e] > ep_max ? timed[e] : ep_max;
    }
    const double ep_med = median(timed, (size_t)timed_epochs);

    /* 3. Encode the test rows. */
    if (!(code = malloc(test.rows * wl->code_dim * sizeof *code))) {
        fprintf(stderr, "ae_bench: %s\n", ae_strerror(AE_ENOMEM));
        goto done;
    }
    double enc_s[ENCODE_REPS];
    for (int r = -1; r < ENCODE_REPS; r++) {
        double t0 = now_seconds();
        if ((rc = ae_encode(m, test.x, test.rows, code)) != AE_OK) {
            fprintf(stderr, "ae_bench: ae_encode: %s\n", ae_strerror(rc));
            goto done;
        }
        double t = now_seconds() - t0;
        if (r >= 0) enc_s[r] = t;
    }
    const double enc_med = median(enc_s, ENCODE_REPS);
    progress("encode: %zu rows in %.4f s", test.rows, enc_med);

    /* Memory model: the float data, params + grads + Adam m and v, and one batch's
     * activations (outputs, deltas and the gathered batch: about 3 floats per unit). */
    const double mib = 1024.0 * 1024.0;
    const double mem_data = (double)(train.rows + test.rows) * (double)train.cols * 4.0 / mib;
    const double mem_params = 4.0 * (double)ae_param_count(m) * 4.0 / mib;
    const double mem_act = (double)batch * (double)widths_sum * 4.0 * 3.0 / mib;
    const double mem_model = mem_data + mem_params + mem_act;
    const double rss = peak_rss_mib();

    const double sps = (double)n / ep_med;
    const double gflops = flops / ep_med * 1e-9;
    const double enc_rps = (double)test.rows / enc_med;

    fprintf(rep, "workload         %s (%s), %s, %zu rows, batch %zu, %s, MSE\n", wl->name, arch,
            wl->synthetic ? "synthetic rank-4 cosines" : "Fashion-MNIST train", n, batch,
            wl->sgd ? "SGD 0.05" : "Adam 1e-3");
    fprintf(rep, "libae            %s, %zu parameters\n", ae_version(), ae_param_count(m));
    fprintf(rep, "OpenBLAS         core %s%s, %d threads, config \"%s\"\n", openblas_get_corename(),
            blas.fallback ? " (a slow fallback core)" : "", openblas_get_num_threads(), openblas_get_config());
    ae_plan_info plan;
    char plan_line[512] = "?";
    if (ae_plan_last(&plan) == AE_OK) ae_plan_describe(&plan, plan_line, sizeof plan_line);
    fprintf(rep, "plan             %s\n", plan_line);
    fprintf(rep, "GEMM-only epoch  %.3f s (median of %d), %zu steps, %.2f GFLOP, %.1f GFLOP/s\n", gemm_med, GEMM_REPS,
            steps, flops * 1e-9, flops / gemm_med * 1e-9);
    fprintf(rep, "training epoch   %.3f s median of %d (min %.3f, max %.3f)\n", ep_med, timed_epochs, ep_min, ep_max);
    fprintf(rep, "samples/s        %.0f\n", sps);
    fprintf(rep, "achieved         %.1f GFLOP/s (step GEMM flops / epoch time)\n", gflops);
    fprintf(rep, "epoch/GEMM-only  %.2f\n", ep_med / gemm_med);
    fprintf(rep, "encode           %zu test rows in %.4f s (median of %d): %.0f rows/s\n", test.rows, enc_med,
            ENCODE_REPS, enc_rps);
    fprintf(rep, "final train loss %.6f\n", elog.last_loss);
    fprintf(rep, "peak RSS         %.1f MiB\n", rss);
    fprintf(rep,
            "memory model     %.1f MiB = data %.1f + params/grads/Adam %.1f + activations %.1f; "
            "peak RSS / model %.2f\n",
            mem_model, mem_data, mem_params, mem_act, rss / mem_model);
    if (markdown)
        printf("| libae %s | %s | %zu | %zu | %.3f | %.0f | %.2f | %.3f | %.2f | %.0f | %.1f | %.4g |\n", ae_version(),
               wl->name, n, batch, ep_med, sps, gflops, gemm_med, ep_med / gemm_med, enc_rps, rss, elog.last_loss);
    fflush(stdout);
    status = 0;
done:
    gemm_floor_free(&gb);
    free(code);
    free(epoch_s);
    ae_free(m);
    free_data(&test, wl->synthetic);
    free_data(&train, wl->synthetic);
    return status;
}
