/* progress: what ae train and ae head print while they train: a progress bar on a terminal,
 * a line per epoch (about 20 lines in a log), the parallel plan, and the --history CSV. */
#ifndef AE_TOOLS_PROGRESS_H
#define AE_TOOLS_PROGRESS_H

#include <ae.h>
#include <stdio.h>

typedef struct progress {
    FILE *history; /* --history: a line per epoch; NULL: none */
    int epochs, tty;
    double started, epoch_started, last_draw;
    size_t batch_rows;
    int plan_shown;
    size_t stream_rows; /* --stream: the file's rows (the bar counts rows read); 0 otherwise */
} progress;

/* Seconds on a monotonic clock. */
double now(void);
/* ae_train_opts.on_batch and .on_epoch, with user a progress. */
void on_batch(int epoch, size_t batch, size_t batches, double loss, void *user);
int on_epoch(const ae_epoch_stats *s, void *user);

#endif
