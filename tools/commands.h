/* The ae subcommands, each `int cmd_x(int argc, char **argv)` over the words after its name
 * (the data flags already taken out); they return the exit status or die. */
#ifndef AE_TOOLS_COMMANDS_H
#define AE_TOOLS_COMMANDS_H

#include <ae.h>
#include <stddef.h>

int cmd_train(int argc, char **argv); /* cmd_train.c */
int cmd_rows(int argc, char **argv); /* encode, decode, reconstruct, score: cmd_infer.c */
int cmd_sample(int argc, char **argv); /* cmd_infer.c */
int cmd_threshold(int argc, char **argv); /* cmd_anomaly.c */
int cmd_flag(int argc, char **argv); /* cmd_anomaly.c */
int cmd_head(int argc, char **argv); /* cmd_head.c */
int cmd_predict(int argc, char **argv); /* cmd_head.c */
int cmd_info(int argc, char **argv); /* cmd_info.c */
int cmd_export_c(int argc, char **argv); /* cmd_export.c */
int cmd_windows(int argc, char **argv); /* cmd_series.c */

/* The words of the commands on a MODEL and rows (encode ... score, sample, info): each of
 * them takes every one of these options, whether it uses it or not. */
typedef struct model_args {
    const char *pos[2];
    int npos;
    const char *out, *png, *shape, *plot;
    size_t n;
    /* ae score on a series (cmd_series.c): windows of the model's length every stride steps,
     * tail an ae_window_tail; scores per window or (per_step) per step, mapped to points */
    int series, tail, per_step;
    size_t stride;
    const char *window_scores;
} model_args;

/* Dies unless exactly `want` positionals are given. */
model_args parse_model_args(int argc, char **argv, int want, const char *help);

/* ae score --series: writes a->out, [points x 2] (worst, mean); cmd_series.c. */
void score_series(const model_args *a, const ae_model *m, const ae_data *d);
/* The names of --tail's choices, index = ae_window_tail. */
extern const char *const TAIL_NAMES[];

#endif
