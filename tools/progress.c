/* progress: the lines ae train and ae head print while they train. */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE
#include "progress.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The terminal's width (of stderr), for lines that must not wrap; 80 when unknown. */
static int terminal_columns(void) {
    struct winsize ws;
    if (ioctl(2, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
    const char *c = getenv("COLUMNS");
    const int n = c ? atoi(c) : 0;
    return n > 0 ? n : 80;
}

/* Rewrites the terminal's current line: back to its start, cleared to its end (no residue of
 * a longer line before), then the text cut to the terminal's width (no wrap). */
static void tty_line(const char *fmt, ...) {
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    const int cols = terminal_columns();
    if ((int)strlen(line) >= cols) line[cols - 1 > 0 ? cols - 1 : 0] = '\0';
    fprintf(stderr, "\r\033[K%s", line);
}

/* The terminal's progress bar: redrawn at most ten times a second. */
void on_batch(int epoch, size_t batch, size_t batches, double loss, void *user) {
    progress *p = user;
    double t = now();
    if (batch == 1) p->epoch_started = t;
    if (!p->tty || (t - p->last_draw < 0.1 && batch != batches)) return;
    p->last_draw = t;
    double per_batch = (t - p->epoch_started) / (double)batch;
    double left = per_batch * (double)(batches - batch) + per_batch * (double)batches * (p->epochs - epoch);
    int width = 30, filled = (int)((double)width * (double)batch / (double)batches);
    if (p->stream_rows) { /* streamed from the file: rows read of the file's */
        const size_t rows = batch * p->batch_rows < p->stream_rows ? batch * p->batch_rows : p->stream_rows;
        tty_line("epoch %d/%d [%.*s%*s] %zu/%zu rows read  loss %.5f  %.0f rows/s  %.0f s left", epoch, p->epochs,
                 filled, "##############################", width - filled, "", rows, p->stream_rows, loss,
                 (double)p->batch_rows / per_batch, left);
        return;
    }
    tty_line("epoch %d/%d [%.*s%*s] %zu/%zu  loss %.5f  %.0f samples/s  %.0f s left", epoch, p->epochs, filled,
             "##############################", width - filled, "", batch, batches, loss,
             (double)p->batch_rows / per_batch, left);
}

/* The parallel plan ae_train chose, once, before the first epoch's line. */
static void show_plan(progress *p) {
    ae_plan_info info;
    char line[512];
    if (p->plan_shown || ae_plan_last(&info) != AE_OK) return;
    p->plan_shown = 1;
    ae_plan_describe(&info, line, sizeof line);
    if (p->tty)
        tty_line("plan: %s", line), fputc('\n', stderr); /* cut to the terminal's width */
    else
        fprintf(stderr, "plan: %s\n", line);
}

int on_epoch(const ae_epoch_stats *s, void *user) {
    progress *p = user;
    show_plan(p);
    if (s->diverged) {
        fprintf(stderr, "%sepoch %d diverged at step %zu: weights of the epoch's start kept\n", p->tty ? "\n" : "",
                s->epoch, s->step);
        return 0;
    }
    if (p->history)
        fprintf(p->history, "%d,%.9g,%.9g,%.9g,%.9g,%.9g,%.4f\n", s->epoch, s->train_loss, s->train_recon, s->train_kl,
                s->train_sparsity, s->val_loss, s->seconds);
    /* Off a terminal (a log), about 20 lines for a run of many short epochs. */
    const int every = p->epochs > 20 ? (p->epochs + 19) / 20 : 1;
    if (!p->tty && s->epoch % every != 0 && s->epoch != p->epochs && s->epoch != 1) return 0;
    double elapsed = now() - p->started, left = elapsed / s->epoch * (p->epochs - s->epoch);
    char val[32] = "";
    if (!isnan(s->val_loss)) snprintf(val, sizeof val, "  val %.5f", s->val_loss);
    /* On a terminal this line replaces the progress bar. */
    if (p->tty)
        tty_line("epoch %d/%d  loss %.5f%s  %.0f samples/s  %.1f s  %.0f s left", s->epoch, p->epochs, s->train_loss,
                 val, (double)s->samples / s->seconds, s->seconds, left),
            fputc('\n', stderr);
    else
        fprintf(stderr, "epoch %d/%d  loss %.5f%s  %.0f samples/s  %.1f s  %.0f s left\n", s->epoch, p->epochs,
                s->train_loss, val, (double)s->samples / s->seconds, s->seconds, left);
    return 0;
}
