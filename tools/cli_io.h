/* cli_io: what every ae subcommand shares for talking to the user and to files: the one-line
 * errors and their exit codes, report lines, reading models and data, and writing outputs to
 * files or standard output. */
#ifndef AE_TOOLS_CLI_IO_H
#define AE_TOOLS_CLI_IO_H

#include <ae.h>
#include <stddef.h>

/* Exit statuses (docs/ae.1): 1 when the work failed, 2 for a usage error. */
enum { EXIT_FAILED = 1, EXIT_USAGE = 2 };

extern const char *command_name; /* argv[1], for "ae <command>: ..."; NULL: no command yet */
extern int mpi_rank; /* ae train --mpi: this process's rank; -1 without MPI */
/* Set when an output goes to standard output: the command's own report lines go to stderr
 * then, so that nothing but data reaches the stream. */
extern int stdout_is_data;

/* A command is in its usage phase until it first touches a file: a refusal before that is a
 * usage error (exit 2), after it a failure (exit 1). */
void work_begins(void);

/* One clear line on stderr, then exit 1, or 2 for a usage error (the library never exits;
 * this program may). */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* A report line of a command (a threshold, a count): on stdout, unless stdout carries data. */
void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* " (what the library said)" when it said more than the status, else "". */
const char *detail(void);
/* Dies with `ae <cmd>: <what>: <ae_strerror> (<detail>)` unless rc is AE_OK. */
void check(int rc, const char *what);
/* Prints a help text on stdout and exits 0. */
void usage(const char *text) __attribute__((noreturn));

/* How DATA files are read: the data flags of every command that reads rows. */
extern ae_csv_opts data_opts;
extern int data_flags_given;
/* Removes --columns LIST, --drop LIST, --label COL, --delimiter C, --header, --no-header and
 * --max-inflate MB from argv[0..*argc) into data_opts, before the command's own parser runs. */
void take_data_flags(int *argc, char **argv);

/* A DATA file (or "-", standard input) as the data flags say; with labels, the --label
 * column's values (else the label column is only kept out of the rows). Dies on a refusal. */
ae_data load_data_labels(const char *path, ae_data *labels);
ae_data load_data(const char *path);
ae_model *load_model(const char *path);
void save_model(const ae_model *m, const char *path);
void need_width(const char *what, size_t have, size_t want);

/* A file named on the command line: the option that named it ("DATA", "-o", ...) and its path. */
typedef struct named {
    const char *what, *path;
} named;

/* Whether two paths name one file, existing or not. */
int same_file(const char *a, const char *b);
/* Before any work: every output can be written, no output is an input, and no two outputs
 * are one file. NULL paths are skipped; "-" is standard output. */
void check_outputs(const named *outs, size_t n_out, const named *ins, size_t n_in);
/* Writes rows x cols floats as .npy (by extension) or CSV, atomically; "-": CSV on stdout. */
void write_rows(const char *path, const float *x, size_t rows, size_t cols);

#endif
