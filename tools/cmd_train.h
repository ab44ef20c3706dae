/* What ae train's two files share: the job its options describe (cmd_train.c) and the steps
 * that run it (train_run.c). */
#ifndef AE_TOOLS_CMD_TRAIN_H
#define AE_TOOLS_CMD_TRAIN_H

#include <ae.h>

#include "progress.h"

typedef struct train_job {
    ae_config c;
    ae_train_opts o;
    int hidden_given, code_given, epochs_given, batch_given, split_given;
    double contamination; /* --contamination; 0: none */
    float memory_gib; /* --memory-limit, in GiB; -1: libae's default */
    const char *data, *out, *val, *history, *resume, *plot;
    int mpi;
    int stream; /* --stream: train from the file in blocks (ae_train_stream) */
    size_t buffer_rows; /* --buffer-rows; 0: libae's default */
    size_t train_rows, held; /* over all ranks: the rows trained on, the rows held out */
} train_job;

/* On stderr (rank 0): the model's widths, scaling and the schedule. */
void describe_training(const train_job *t, const ae_model *m);
/* The --history file (a temporary one behind --plot alone); tmp gets a temporary's name. */
void open_history(train_job *t, progress *p, char tmp[64]);
/* ae_train, or ae_train_mpi over the ranks; its status. */
int run_training(train_job *t, ae_model *m, const ae_data *d, progress *p);
/* After ae_train returned rc: the plot, the model saved (or the failure said, the epochs done
 * kept), the scaling and threshold reported. val_rows: the rows of --val. */
void finish_training(train_job *t, ae_model *m, int rc, int epochs_before, size_t data_rows, size_t val_rows,
                     progress *p, const char *tmp_history);

#endif
