/* ae train, once its options are checked and its model made: the lines said before training,
 * the training itself (on one process or over MPI ranks), and what comes after it. Rank 0
 * (and a run without MPI) reports and writes files. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_io.h"
#include "cli_opts.h"
#include "cmd_train.h"
#include "plots.h"

#ifdef AE_HAVE_MPI
#include <ae_mpi.h>
#endif

static int leads(void) { return mpi_rank <= 0; }

void describe_training(const train_job *t, const ae_model *m) {
    if (!leads()) return;
    ae_config mc;
    check(ae_get_config(m, &mc), "config");
    fprintf(stderr, "model %zu", mc.input_dim);
    for (size_t i = 0; i < mc.n_hidden; i++) fprintf(stderr, "-%zu", mc.hidden[i]);
    fprintf(stderr, "-%zu", mc.code_dim);
    for (size_t i = mc.n_hidden; i-- > 0;) fprintf(stderr, "-%zu", mc.hidden[i]);
    fprintf(stderr, "-%zu%s, scaling %s; %d epochs of batch %zu (%zu steps each) on %zu rows", mc.input_dim,
            t->hidden_given || t->code_given || t->resume ? "" : " (widths from the data)", SCALING_NAMES[mc.scaling],
            t->o.epochs, t->o.batch_size, (t->train_rows + t->o.batch_size - 1) / t->o.batch_size, t->train_rows);
    if (t->held) fprintf(stderr, ", %zu held out", t->held);
    fputc('\n', stderr);
}

void open_history(train_job *t, progress *p, char tmp[64]) {
    if (!leads()) t->history = t->plot = NULL;
    if (t->plot && !t->history) { /* the plot is drawn from a history file: a temporary one */
        strcpy(tmp, "/tmp/ae-history-XXXXXX");
        int fd = mkstemp(tmp);
        if (fd < 0) die("cannot make a temporary file: %s", strerror(errno));
        close(fd);
        t->history = tmp;
    }
    if (t->history) {
        if (!(p->history = fopen(t->history, "w"))) die("cannot write %s: %s", t->history, strerror(errno));
        fprintf(p->history, "epoch,train_loss,train_recon,train_kl,train_sparsity,val_loss,seconds\n");
    }
    t->o.on_epoch = on_epoch;
    t->o.on_batch = on_batch;
    t->o.user = p;
}

#ifdef AE_HAVE_MPI
static int run_over_mpi(train_job *t, ae_model *m, const ae_data *d, progress *p, const ae_blas_info *b) {
    int ranks = 1;
    unsigned long long rows = d->rows, total = 0;
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    MPI_Allreduce(&rows, &total, 1, MPI_UNSIGNED_LONG_LONG, MPI_SUM, MPI_COMM_WORLD);
    if (t->stream) total = rows; /* streaming: d holds the file's shape, every rank alike */
    p->batch_rows = t->o.batch_size < total ? t->o.batch_size : (size_t)total;
    if (leads())
        fprintf(stderr, "training on %llu rows of %zu%s over %d MPI ranks (OpenBLAS %s, %d threads per rank%s)\n",
                total, d->cols, t->stream ? ", each rank streaming its share of the file," : "", ranks, b->core,
                b->threads, b->fallback ? ", a slow fallback core: set OPENBLAS_CORETYPE" : "");
    ae_mpi_stats st;
    if (t->stream) p->stream_rows = d->rows;
    int rc = t->stream ? ae_train_mpi_stream(m, t->data, &t->o, t->buffer_rows, MPI_COMM_WORLD, &st)
                       : ae_train_mpi(m, d->x, d->rows, &t->o, MPI_COMM_WORLD, &st);
    if (leads() && st.allreduce_calls)
        fprintf(stderr, "gradient MPI_Allreduce: %zu calls of %zu bytes, %.2f s of %.2f s\n", st.allreduce_calls,
                st.gradient_bytes, st.allreduce_seconds, st.train_seconds);
    return rc;
}
#endif

int run_training(train_job *t, ae_model *m, const ae_data *d, progress *p) {
    ae_blas_info b = ae_blas_get_info();
    if (t->mpi) {
#ifdef AE_HAVE_MPI
        return run_over_mpi(t, m, d, p, &b);
#else
        return AE_EINVAL;
#endif
    }
    fprintf(stderr, "training on %zu rows of %zu%s (OpenBLAS %s, %d threads%s)\n", d->rows, d->cols,
            t->stream ? ", streamed from the file" : "", b.core, b.threads,
            b.fallback ? ", a slow fallback core: set OPENBLAS_CORETYPE" : "");
    if (!t->stream) return ae_train(m, d->x, d->rows, &t->o);
    p->stream_rows = d->rows;
    return ae_train_stream(m, t->data, &t->o, t->buffer_rows);
}

/* Lose nothing: epochs finished before a failure (a checkpoint that could not be written,
 * say) are saved to -o, then the failure is reported. */
static void die_failed(const train_job *t, ae_model *m, int rc, int epochs_before) {
    char why[700];
    snprintf(why, sizeof why, "%s%s", ae_strerror(rc), detail());
    if (leads() && ae_epochs_done(m) > epochs_before) {
        int saved = ae_save(m, t->out);
        die("training stopped after epoch %d of %d: %s; %s %s", ae_epochs_done(m), t->o.epochs, why,
            saved == AE_OK ? "the model of the epochs done is saved in" : "and the model could not be saved in",
            t->out);
    }
    die("training failed: %s", why);
}

void finish_training(train_job *t, ae_model *m, int rc, int epochs_before, size_t data_rows, size_t val_rows,
                     progress *p, const char *tmp_history) {
    /* a history that could not be written is reported after the model is saved, not instead */
    int history_errno = 0;
    if (p->history && (ferror(p->history) | fclose(p->history)) != 0) history_errno = errno ? errno : EIO;
    if (t->plot) plot_history(t->history, t->plot, t->val != NULL);
    if (tmp_history[0]) unlink(tmp_history);
    if (rc != AE_OK && rc != AE_EDIVERGED) die_failed(t, m, rc, epochs_before);
    if (leads()) {
        ae_scaling applied;
        check(ae_scaling_get(m, &applied, NULL, NULL, NULL), "scaling");
        fprintf(stderr, "input scaling: %s%s\n", SCALING_NAMES[applied],
                applied == AE_SCALE_NONE ? " (rows used as they are)" : " (statistics saved in the model)");
        float th;
        if (t->contamination > 0.0 && ae_threshold_get(m, &th, NULL, NULL) == AE_OK)
            fprintf(stderr, "threshold %.9g: flags %g of the %zu %s rows\n", (double)th, t->contamination,
                    t->val    ? val_rows
                    : t->held ? t->held
                              : data_rows,
                    t->val    ? "validation"
                    : t->held ? "held-out"
                              : "out-of-fold");
        save_model(m, t->out);
        fprintf(stderr, "saved %s%s\n", t->out,
                rc == AE_EDIVERGED ? " (training diverged: the weights the diverged epoch began with)" : "");
    }
    if (history_errno)
        die("cannot write --history %s: %s; the model is saved in %s", t->history, strerror(history_errno), t->out);
}
