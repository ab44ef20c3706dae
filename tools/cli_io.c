/* cli_io: errors and exit codes, report lines, reading models and data, writing outputs. */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* realpath */
#include "cli_io.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli_opts.h"

const char *command_name = "ae";
int mpi_rank = -1;
int stdout_is_data;
static int usage_phase = 1;

void work_begins(void) { usage_phase = 0; }

void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (mpi_rank > 0) fprintf(stderr, "[rank %d] ", mpi_rank);
    fprintf(stderr, command_name ? "ae %s: " : "ae: ", command_name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(usage_phase ? EXIT_USAGE : EXIT_FAILED);
}

void report(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stdout_is_data ? stderr : stdout, fmt, ap);
    va_end(ap);
}

const char *detail(void) {
    static char text[600];
    const char *e = ae_last_error();
    snprintf(text, sizeof text, *e ? " (%s)" : "%s", e);
    return text;
}

void check(int rc, const char *what) {
    if (rc != AE_OK) die("%s: %s%s", what, ae_strerror(rc), detail());
}

void usage(const char *text) {
    fputs(text, stdout);
    exit(0);
}

/* ---------------------------------------------------------------- the data flags */

ae_csv_opts data_opts;
int data_flags_given;

/* --delimiter C: a character or its name. */
static void read_delimiter(const char *opt, const char *v, void *to) {
    (void)opt;
    char *d = to;
    if (!strcmp(v, "tab") || !strcmp(v, "\\t"))
        *d = '\t';
    else if (!strcmp(v, "space") || !strcmp(v, " "))
        *d = ' ';
    else if (!strcmp(v, "comma"))
        *d = ',';
    else if (!strcmp(v, "semicolon"))
        *d = ';';
    else if (!strcmp(v, ",") || !strcmp(v, ";") || !strcmp(v, "|") || !strcmp(v, ":"))
        *d = v[0];
    else
        die("--delimiter wants one of , ; tab space | : (or comma, semicolon), not '%s'", v);
}

/* --max-inflate MB, kept in bytes. */
static void read_megabytes(const char *opt, const char *v, void *to) {
    *(size_t *)to = (size_t)parse_long(opt, v, 1, 1L << 30) << 20;
}

void take_data_flags(int *argc, char **argv) {
    data_opts = ae_csv_opts_default();
    const cli_opt flags[] = {
        {.name = "--columns", .kind = CLI_TEXT, .to = &data_opts.columns},
        {.name = "--drop", .kind = CLI_TEXT, .to = &data_opts.drop},
        {.name = "--label", .kind = CLI_TEXT, .to = &data_opts.label},
        {.name = "--delimiter", .kind = CLI_CALL, .to = &data_opts.delimiter, .call = read_delimiter},
        {.name = "--max-inflate", .kind = CLI_CALL, .to = &data_opts.max_inflate, .call = read_megabytes},
        {.name = "--header", .kind = CLI_SET, .to = &data_opts.header},
        {.name = "--no-header", .kind = CLI_CLEAR, .to = &data_opts.header},
        {.name = NULL},
    };
    if (cli_take(argc, argv, flags) > 0) data_flags_given = 1;
}

/* ---------------------------------------------------------------- reading */

/* All of standard input, for DATA given as "-". */
static char *read_stdin(size_t *len) {
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (size_t got; buf && (got = fread(buf + n, 1, cap - n, stdin)) > 0;) {
        n += got;
        if (n == cap) {
            char *bigger = cap <= ((size_t)1 << 40) ? realloc(buf, cap *= 2) : NULL;
            if (!bigger) free(buf);
            buf = bigger;
        }
    }
    if (!buf) die("out of memory reading standard input");
    if (ferror(stdin)) die("cannot read standard input: %s", strerror(errno));
    *len = n;
    return buf;
}

ae_data load_data_labels(const char *path, ae_data *labels) {
    work_begins();
    ae_data d, y = {NULL, 0, 0};
    int rc;
    if (!strcmp(path, "-")) { /* standard input: the format found from the content, as for a file */
        size_t len;
        char *buf = read_stdin(&len);
        path = "standard input";
        rc = data_flags_given ? ae_data_parse_csv(buf, len, &data_opts, &d, &y) : ae_data_parse(buf, len, &d);
        free(buf);
    } else {
        rc = data_flags_given ? ae_data_load_csv(path, &data_opts, &d, &y) : ae_data_load(path, &d);
    }
    if (rc != AE_OK) {
        const char *said = ae_last_error(), *sep = *said ? ": " : "";
        if (rc == AE_EIO) die("cannot read %s: %s%s%s", path, ae_strerror(rc), sep, said);
        if (rc == AE_EFORMAT)
            die("%s is not an IDX, .npy or CSV file of numbers: %s%s%s", path, ae_strerror(rc), sep, said);
        die("cannot load %s: %s%s%s", path, ae_strerror(rc), sep, said);
    }
    if (labels)
        *labels = y;
    else if (data_flags_given)
        ae_data_free(&y);
    return d;
}

ae_data load_data(const char *path) { return load_data_labels(path, NULL); }

ae_model *load_model(const char *path) {
    work_begins();
    ae_model *m;
    int rc = ae_load(&m, path);
    if (rc == AE_EIO) die("cannot read %s: %s%s", path, ae_strerror(rc), detail());
    if (rc != AE_OK) die("%s is not a libae model file: %s%s", path, ae_strerror(rc), detail());
    return m;
}

void save_model(const ae_model *m, const char *path) {
    int rc = ae_save(m, path);
    if (rc != AE_OK) die("cannot write %s: %s%s", path, ae_strerror(rc), detail());
}

void need_width(const char *what, size_t have, size_t want) {
    if (have != want) die("%s has %zu columns but the model takes %zu", what, have, want);
}

/* ---------------------------------------------------------------- output paths, up front */

/* One name for the file at path, existing or not: the device and inode when it exists, else
 * the real path of its folder and its own name. */
int same_file(const char *a, const char *b) {
    struct stat sa, sb;
    if (stat(a, &sa) == 0 && stat(b, &sb) == 0) return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    if (stat(a, &sa) == 0 || stat(b, &sb) == 0) return 0; /* one exists, the other not */
    char real[2][4096];
    const char *pa[2] = {a, b}, *base[2] = {a, b};
    for (int i = 0; i < 2; i++) {
        const char *slash = strrchr(pa[i], '/');
        char dir[4096];
        base[i] = slash ? slash + 1 : pa[i];
        snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - pa[i]) + 1 : 1, slash ? pa[i] : ".");
        if (!realpath(dir, real[i])) memcpy(real[i], dir, sizeof dir);
    }
    return strcmp(real[0], real[1]) == 0 && strcmp(base[0], base[1]) == 0;
}

/* Every output can be written (its folder exists and takes a new file; it is not a folder),
 * no output is an input (writing it would destroy what is read), no two outputs are one file. */
void check_outputs(const named *outs, size_t n_out, const named *ins, size_t n_in) {
    for (size_t i = 0; i < n_out; i++) {
        if (!outs[i].path || !strcmp(outs[i].path, "-")) continue; /* standard output */
        for (size_t j = 0; j < n_in; j++)
            if (ins[j].path && strcmp(ins[j].path, "-") != 0 && same_file(outs[i].path, ins[j].path))
                die("%s %s is the input %s %s: refused, writing it would destroy the input", outs[i].what, outs[i].path,
                    ins[j].what, ins[j].path);
        for (size_t j = 0; j < i; j++)
            if (outs[j].path && same_file(outs[i].path, outs[j].path))
                die("%s %s and %s %s are the same file: give each output its own", outs[j].what, outs[j].path,
                    outs[i].what, outs[i].path);
        int rc = ae_output_check(outs[i].path);
        if (rc != AE_OK) die("cannot write %s %s: %s%s", outs[i].what, outs[i].path, ae_strerror(rc), detail());
    }
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Both file formats are written atomically: a failed write leaves the file that was there. */
void write_rows(const char *path, const float *x, size_t rows, size_t cols) {
    if (!strcmp(path, "-")) { /* standard output: CSV */
        int ok = 1;
        for (size_t i = 0; i < rows && ok; i++)
            for (size_t j = 0; j < cols && ok; j++)
                ok = printf("%.9g%c", x[i * cols + j], j + 1 < cols ? ',' : '\n') > 0;
        if (fflush(stdout) != 0 || !ok) die("writing to standard output failed: %s", strerror(errno));
        return;
    }
    int rc = ends_with(path, ".npy") ? ae_npy_save(path, x, rows, cols) : ae_csv_save(path, x, rows, cols);
    if (rc != AE_OK) die("cannot write %s: %s%s", path, ae_strerror(rc), detail());
}
