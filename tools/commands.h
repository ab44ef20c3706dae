/* The ae subcommands, each `int cmd_x(int argc, char **argv)` over the words after its name
 * (the data flags already taken out); they return the exit status or die. */
#ifndef AE_TOOLS_COMMANDS_H
#define AE_TOOLS_COMMANDS_H

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

/* The words of the commands on a MODEL and rows (encode ... score, sample, info): each of
 * them takes every one of these options, whether it uses it or not. */
typedef struct model_args {
    const char *pos[2];
    int npos;
    const char *out, *png, *shape, *plot;
    size_t n;
} model_args;

/* Dies unless exactly `want` positionals are given. */
model_args parse_model_args(int argc, char **argv, int want, const char *help);

#endif
