/* ae: the libae command line, git-style subcommands over the public API.
 *   ae train DATA -o MODEL [options]    ae encode MODEL DATA -o OUT    ae decode MODEL CODES -o OUT
 *   ae reconstruct MODEL DATA -o OUT    ae score MODEL DATA -o OUT     ae sample MODEL -n N -o OUT
 *   ae info MODEL    ae windows SERIES --len L -o OUT
 * DATA: IDX (.gz), .npy or CSV, told apart by content. OUT: .npy, else CSV.
 * This file: the usage and the dispatch to the commands (commands.h); cli_opts.c parses
 * their options, cli_io.c reads and writes for them. */
#include <ae.h>
#include <stdio.h>
#include <string.h>

#include "cli_io.h"
#include "commands.h"

static const char HELP[] =
    "usage: ae <command> [options]   (ae <command> --help for each)\n"
    "  train        fit a model:               ae train DATA -o MODEL [options]\n"
    "  encode       rows to codes:             ae encode MODEL DATA -o OUT\n"
    "  decode       codes to rows:             ae decode MODEL CODES -o OUT\n"
    "  reconstruct  rows through the model:    ae reconstruct MODEL DATA -o OUT [--png FILE]\n"
    "  score        per-row reconstruction MSE: ae score MODEL DATA -o OUT\n"
    "  threshold    keep an anomaly threshold: ae threshold MODEL NORMAL_DATA --quantile Q -o MODEL_OUT\n"
    "  flag         0/1 per row over it:       ae flag MODEL DATA -o OUT [--scores FILE]\n"
    "  head         a classifier on the code:  ae head MODEL DATA LABELS -o MODEL_OUT [options]\n"
    "  predict      the head's classes:        ae predict MODEL DATA -o OUT [--probabilities]\n"
    "  sample       draws from a VAE:          ae sample MODEL -n N -o OUT [--png FILE]\n"
    "  info         what a model file holds:   ae info MODEL\n"
    "  export-c     the model as a C header:   ae export-c MODEL -o FILE.h --name NAME [--int8 --calibrate DATA]\n"
    "  windows      a series cut into windows: ae windows SERIES --len L [--stride S] -o OUT\n"
    "DATA: IDX (.gz), .npy or CSV. OUT: .npy by extension, else CSV.\n"
    "CSV DATA, for every command that reads it:\n"
    "  --columns LIST  keep these columns (names or 1-based numbers and ranges: a,b,4-7), in order\n"
    "  --drop LIST     leave these out     --label COL  keep COL out of the inputs (ae head: the labels)\n"
    "  --delimiter C   , ; tab space | : (default: detected)   --header / --no-header (default: detected)\n"
    "  --max-inflate MB  how far a .csv.gz may inflate (default 512)\n";

static const struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    int reads_data; /* takes the data flags (--columns ...) */
} COMMANDS[] = {
    {"train", cmd_train, 1},         {"encode", cmd_rows, 1}, {"decode", cmd_rows, 1},
    {"reconstruct", cmd_rows, 1},    {"score", cmd_rows, 1},  {"sample", cmd_sample, 0},
    {"threshold", cmd_threshold, 1}, {"flag", cmd_flag, 1},   {"head", cmd_head, 1},
    {"predict", cmd_predict, 1},     {"info", cmd_info, 0},   {"export-c", cmd_export_c, 1},
    {"windows", cmd_windows, 1},
};

/* "-o -": data on standard output, so reports go to stderr from the start. */
static void note_stdout_data(int argc, char **argv) {
    for (int i = 2; i + 1 < argc; i++)
        if ((!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output") || !strcmp(argv[i], "--scores")) &&
            !strcmp(argv[i + 1], "-"))
            stdout_is_data = 1;
}

int main(int argc, char **argv) {
    if (argc < 2) { /* a script that calls ae wrongly should fail */
        fputs(HELP, stderr);
        return EXIT_USAGE;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) usage(HELP);
    if (!strcmp(argv[1], "--version")) {
        printf("ae %s\n", ae_version());
        return 0;
    }
    command_name = argv[1];
    note_stdout_data(argc, argv);
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++) {
        if (strcmp(argv[1], COMMANDS[i].name) != 0) continue;
        if (COMMANDS[i].reads_data) take_data_flags(&argc, argv);
        return COMMANDS[i].run(argc - 2, argv + 2);
    }
    command_name = NULL;
    die("unknown command '%s' (see ae --help)", argv[1]);
}
