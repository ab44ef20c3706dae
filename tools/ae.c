/* ae: the libae command line, git-style subcommands over the public API.
 *   ae train DATA -o MODEL [options]    ae encode MODEL DATA -o OUT    ae decode MODEL CODES -o OUT
 *   ae reconstruct MODEL DATA -o OUT    ae score MODEL DATA -o OUT     ae sample MODEL -n N -o OUT
 *   ae info MODEL
 * DATA: IDX (.gz), .npy or CSV, told apart by content. OUT: .npy, else CSV. */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* realpath */
#include <ae.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifdef AE_HAVE_PNG
#include "png_grid.h"
#endif
#ifdef AE_HAVE_MPI
#include <ae_mpi.h>
#endif

static const char *cmd = "ae";
static int mpi_rank = -1; /* ae train --mpi: this process's rank; -1 without MPI */

/* Exit statuses (docs/ae.1): 1 when the work failed, 2 for a usage error. A command is in its
 * usage phase until it first touches a file: a refusal before that is a usage error. */
enum { EXIT_FAILED = 1, EXIT_USAGE = 2 };
static int usage_phase = 1;
static void work_begins(void) { usage_phase = 0; }

/* Set when an output goes to standard output: the command's own report lines go to stderr
 * then, so that nothing but data reaches the stream. */
static int stdout_is_data;

/* One clear line on stderr, then exit 1, or 2 for a usage error (the library never exits;
 * this program may). */
static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (mpi_rank > 0) fprintf(stderr, "[rank %d] ", mpi_rank);
    fprintf(stderr, cmd ? "ae %s: " : "ae: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(usage_phase ? EXIT_USAGE : EXIT_FAILED);
}

/* A report line of a command (a threshold, a count): on stdout, unless stdout carries data. */
static void report(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stdout_is_data ? stderr : stdout, fmt, ap);
    va_end(ap);
}

/* " (what the library said)" when it said more than the status, else "". */
static const char *detail(void) {
    static char text[600];
    const char *e = ae_last_error();
    snprintf(text, sizeof text, *e ? " (%s)" : "%s", e);
    return text;
}

/* One line: `ae <cmd>: <what>: <ae_strerror> (<detail>)`. */
static void check(int rc, const char *what) {
    if (rc != AE_OK) die("%s: %s%s", what, ae_strerror(rc), detail());
}

/* ---------------------------------------------------------------- parsing helpers */

static long parse_long(const char *opt, const char *v, long lo, long hi) {
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (!*v || *end || errno || x < lo || x > hi) die("%s wants an integer in [%ld, %ld], not '%s'", opt, lo, hi, v);
    return x;
}

static float parse_float(const char *opt, const char *v) {
    char *end;
    errno = 0;
    float x = strtof(v, &end);
    if (!*v || *end || errno || !isfinite(x)) die("%s wants a number, not '%s'", opt, v);
    return x;
}

/* A number in an interval, refused up front with the interval named: [lo, hi], with lo or
 * hi left out when LO_OPEN / HI_OPEN; hi INFINITY: no upper bound. */
enum { CLOSED = 0, LO_OPEN = 1, HI_OPEN = 2 };
static float parse_in(const char *opt, const char *v, float lo, float hi, int open) {
    float x = parse_float(opt, v);
    const int lo_ok = open & LO_OPEN ? x > lo : x >= lo, hi_ok = open & HI_OPEN ? x < hi : x <= hi;
    if (lo_ok && hi_ok) return x;
    if (isinf(hi)) die("%s wants a number %s %g, not '%s'", opt, open & LO_OPEN ? ">" : ">=", (double)lo, v);
    die("%s wants a number in %c%g, %g%c, not '%s'", opt, open & LO_OPEN ? '(' : '[', (double)lo, (double)hi,
        open & HI_OPEN ? ')' : ']', v);
    return x;
}

static int parse_choice(const char *opt, const char *v, const char *const *names, int n) {
    for (int i = 0; i < n; i++)
        if (strcmp(v, names[i]) == 0) return i;
    die("%s: unknown value '%s'", opt, v);
    return -1;
}

static const char *const ACTS[] = {"linear", "relu", "leaky_relu", "sigmoid", "tanh"};
static const char *const OPTS[] = {"sgd", "adam", "adamw"};
static const char *const LOSSES[] = {"mse", "bce"};
static const char *const NOISES[] = {"none", "gaussian", "mask"};

/* How DATA files are read: the data flags of every command that reads rows, taken out of argv
 * by take_data_flags before the command's own parser runs. */
static ae_csv_opts data_opts;
static int data_flags_given;

/* Removes --columns LIST, --drop LIST, --label COL, --delimiter C, --header, --no-header and
 * --max-inflate MB from argv[0..*argc) into data_opts. */
static void take_data_flags(int *argc, char **argv) {
    data_opts = ae_csv_opts_default();
    int k = 0;
    for (int i = 0; i < *argc; i++) {
        const char *a = argv[i], *v = i + 1 < *argc ? argv[i + 1] : NULL;
        const int takes_value = !strcmp(a, "--columns") || !strcmp(a, "--drop") || !strcmp(a, "--label") ||
                                !strcmp(a, "--delimiter") || !strcmp(a, "--max-inflate");
        if (takes_value && !v) die("%s needs a value", a);
        if (!strcmp(a, "--columns")) data_opts.columns = v;
        else if (!strcmp(a, "--drop")) data_opts.drop = v;
        else if (!strcmp(a, "--label")) data_opts.label = v;
        else if (!strcmp(a, "--delimiter")) {
            if (!strcmp(v, "tab") || !strcmp(v, "\\t")) data_opts.delimiter = '\t';
            else if (!strcmp(v, "space") || !strcmp(v, " ")) data_opts.delimiter = ' ';
            else if (!strcmp(v, "comma")) data_opts.delimiter = ',';
            else if (!strcmp(v, "semicolon")) data_opts.delimiter = ';';
            else if (!strcmp(v, ",") || !strcmp(v, ";") || !strcmp(v, "|") || !strcmp(v, ":")) data_opts.delimiter = v[0];
            else die("--delimiter wants one of , ; tab space | : (or comma, semicolon), not '%s'", v);
        } else if (!strcmp(a, "--max-inflate")) {
            data_opts.max_inflate = (size_t)parse_long(a, v, 1, 1L << 30) << 20;
        } else if (!strcmp(a, "--header")) data_opts.header = 1;
        else if (!strcmp(a, "--no-header")) data_opts.header = 0;
        else {
            argv[k++] = argv[i];
            continue;
        }
        data_flags_given = 1;
        if (takes_value) i++;
    }
    *argc = k;
}

/* A DATA file as the data flags say; with labels, the --label column's values (else the
 * label column is only kept out of the rows). A refusal prints what the library said. */
/* All of standard input, for DATA given as "-"; NULL (and a message) when it cannot be read. */
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

static ae_data load_data_labels(const char *path, ae_data *labels) {
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
        const char *detail = ae_last_error(), *sep = *detail ? ": " : "";
        if (rc == AE_EIO) die("cannot read %s: %s%s%s", path, ae_strerror(rc), sep, detail);
        if (rc == AE_EFORMAT) die("%s is not an IDX, .npy or CSV file of numbers: %s%s%s", path, ae_strerror(rc), sep, detail);
        die("cannot load %s: %s%s%s", path, ae_strerror(rc), sep, detail);
    }
    if (labels) *labels = y;
    else if (data_flags_given) ae_data_free(&y);
    return d;
}

static ae_data load_data(const char *path) { return load_data_labels(path, NULL); }

/* ae train --mpi: this rank's share of the rows (the file is never read whole). */
static ae_data load_shard(const char *path) {
    work_begins();
    ae_data d = {NULL, 0, 0};
    if (data_flags_given) die("--columns, --drop, --label, --delimiter and --header do not apply with --mpi");
#ifdef AE_HAVE_MPI
    int rc = ae_mpi_data_load_shard(path, MPI_COMM_WORLD, &d, NULL, NULL);
    const char *detail = ae_last_error(), *sep = *detail ? ": " : "";
    if (rc == AE_EIO) die("cannot read %s: %s%s%s", path, ae_strerror(rc), sep, detail);
    if (rc != AE_OK) die("%s: no share of its rows for this rank: %s%s%s", path, ae_strerror(rc), sep, detail);
#else
    (void)path;
#endif
    return d;
}

static ae_model *load_model(const char *path) {
    work_begins();
    ae_model *m;
    int rc = ae_load(&m, path);
    if (rc == AE_EIO) die("cannot read %s: %s%s", path, ae_strerror(rc), detail());
    if (rc != AE_OK) die("%s is not a libae model file: %s%s", path, ae_strerror(rc), detail());
    return m;
}

static void save_model(const ae_model *m, const char *path) {
    int rc = ae_save(m, path);
    if (rc != AE_OK) die("cannot write %s: %s%s", path, ae_strerror(rc), detail());
}

/* ---------------------------------------------------------------- output paths, up front */

/* A file named on the command line: the option that named it ("DATA", "-o", ...) and its path. */
typedef struct named {
    const char *what, *path;
} named;

/* One name for the file at path, existing or not: the device and inode when it exists, else
 * the real path of its folder and its own name. */
static int same_file(const char *a, const char *b) {
    struct stat sa, sb;
    if (stat(a, &sa) == 0 && stat(b, &sb) == 0) return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    if (stat(a, &sa) == 0 || stat(b, &sb) == 0) return 0; /* one exists, the other not */
    char real[2][4096];
    const char *pa[2] = {a, b}, *base[2];
    for (int i = 0; i < 2; i++) {
        const char *slash = strrchr(pa[i], '/');
        char dir[4096];
        base[i] = slash ? slash + 1 : pa[i];
        snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - pa[i]) + 1 : 1, slash ? pa[i] : ".");
        if (!realpath(dir, real[i])) memcpy(real[i], dir, sizeof dir);
    }
    return strcmp(real[0], real[1]) == 0 && strcmp(base[0], base[1]) == 0;
}

/* Before any work: every output can be written (its folder exists and takes a new file; it is
 * not a folder), no output is an input (writing it would destroy what is read), and no two
 * outputs are one file. NULL paths are skipped. */
static void check_outputs(const named *outs, size_t n_out, const named *ins, size_t n_in) {
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

/* Writes rows x cols floats as .npy (by extension) or CSV, both atomically: a failed write
 * leaves the file that was there. */
static void write_rows(const char *path, const float *x, size_t rows, size_t cols) {
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

static void need_width(const char *what, size_t have, size_t want) {
    if (have != want) die("%s has %zu columns but the model takes %zu", what, have, want);
}

static void usage(const char *text) {
    fputs(text, stdout);
    exit(0);
}

/* ---------------------------------------------------------------- train */

static const char TRAIN_HELP[] =
    "usage: ae train DATA -o MODEL [options]\n"
    "model:   --hidden W[,W...]  --code K (default: from the data's width d: hidden min(256, d/2),\n"
    "         code min(32, d/4))  --hidden-act A  --code-act A  --output-act A (A: linear relu\n"
    "         leaky_relu sigmoid tanh)  --tied  --variational  --seed N\n"
    "scaling: --scale auto|none|minmax|zscore (auto: data already in the output's range is left\n"
    "         alone, else min-max for a sigmoid output, z-score for a linear one)\n"
    "train:   --epochs N, --batch N (default: batch min(128, rows / 8, at least 16), and epochs for\n"
    "         about 500 steps, at least 10)  --no-shuffle  --optimizer sgd|adam|adamw  --lr X\n"
    "         --momentum X  --nesterov  --beta1 X  --beta2 X  --eps X  --weight-decay X  --loss mse|bce\n"
    "         --noise none|gaussian|mask  --noise-level X  --dropout X  --sparsity-target X\n"
    "         --sparsity-weight X  --kl-weight X  --clip-norm X  --patience N  --val FILE\n"
    "         --val-split S (hold out this share of DATA's rows as validation rows)\n"
    "anomaly: --contamination C (the share of new normal rows to flag, e.g. 0.1: the threshold is\n"
    "         calibrated on rows the model did not learn: --val FILE or --val-split S when given,\n"
    "         else out-of-fold scores of 5 more models up to 20000 rows, a held-out fifth above)\n"
    "state:   --checkpoint FILE  --checkpoint-every N  --resume CHECKPOINT (same --hidden and --code,\n"
    "         if given)  --memory-limit GIB (default 4: refuse a model whose training would take\n"
    "         more; 0: no limit)\n"
    "threads: --threads N (at most N threads; 0, the default: decide)  --plan FILE (reuse the\n"
    "         parallel plan saved there for this model, batch and host, else save the one chosen;\n"
    "         default: the AE_PLAN environment variable)\n"
    "mpi:     --mpi: data-parallel over the ranks of mpirun -np N ae train ... --mpi; each rank\n"
    "         reads its share of DATA (and of --val); rank 0 reports and writes MODEL\n"
    "output:  -o MODEL  --history FILE.csv (one line per epoch)  --plot FILE.png (loss curves,\n"
    "         drawn by gnuplot when it is installed)\n";

typedef struct progress {
    FILE *history;
    int epochs, tty;
    double started, epoch_started, last_draw;
    size_t batch_rows;
    int plan_shown;
} progress;

static double now(void) {
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
static void on_batch(int epoch, size_t batch, size_t batches, double loss, void *user) {
    progress *p = user;
    double t = now();
    if (batch == 1) p->epoch_started = t;
    if (!p->tty || (t - p->last_draw < 0.1 && batch != batches)) return;
    p->last_draw = t;
    double per_batch = (t - p->epoch_started) / (double)batch;
    double left = per_batch * (double)(batches - batch) + per_batch * (double)batches * (p->epochs - epoch);
    int width = 30, filled = (int)((double)width * (double)batch / (double)batches);
    tty_line("epoch %d/%d [%.*s%*s] %zu/%zu  loss %.5f  %.0f samples/s  %.0f s left", epoch, p->epochs, filled,
             "##############################", width - filled, "", batch, batches, loss,
             (double)p->batch_rows / per_batch, left);
}

/* Draws the train and validation loss curves from the history CSV with gnuplot. */
static void plot_history(const char *history, const char *png, int have_val) {
    if (system("command -v gnuplot >/dev/null 2>&1") != 0) {
        fprintf(stderr, "ae train: gnuplot is not installed (apt-get install gnuplot-nox): no %s\n", png);
        return;
    }
    FILE *g = popen("gnuplot", "w");
    if (!g) {
        fprintf(stderr, "ae train: cannot start gnuplot: no %s\n", png);
        return;
    }
    fprintf(g, "set terminal png size 800,500\nset output '%s'\nset datafile separator ','\n"
               "set key autotitle columnhead\nset xlabel 'epoch'\nset ylabel 'loss'\nset grid\n"
               "plot '%s' using 1:2 with linespoints title 'train'%s\n",
            png, history, have_val ? ", '' using 1:6 with linespoints title 'validation'" : "");
    if (pclose(g) != 0) fprintf(stderr, "ae train: gnuplot failed: no %s\n", png);
    else fprintf(stderr, "wrote %s\n", png);
}

/* The histogram of anomaly scores drawn by gnuplot: rows below the threshold and rows above
 * it in two colours, the threshold as a vertical line (when the model has one). */
static void plot_scores(const char *png, const float *scores, size_t n, float threshold, int have_threshold) {
    if (system("command -v gnuplot >/dev/null 2>&1") != 0) {
        fprintf(stderr, "ae %s: gnuplot is not installed (apt-get install gnuplot-nox): no %s\n", cmd, png);
        return;
    }
    char data[] = "/tmp/ae-scores-XXXXXX";
    int fd = mkstemp(data);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) die("cannot make a temporary file: %s", strerror(errno));
    float lo = INFINITY, hi = -INFINITY;
    int ok = 1;
    for (size_t i = 0; i < n && ok; i++) {
        ok = fprintf(f, "%.9g %d\n", scores[i], have_threshold && scores[i] > threshold) > 0;
        lo = fminf(lo, scores[i]);
        hi = fmaxf(hi, scores[i]);
    }
    if (fclose(f) != 0 || !ok) die("writing %s failed", data);
    /* Scores are heavy-tailed: spanning over two decades, 50 bins of equal width in log10. */
    const int logx = lo > 0.0f && hi > 100.0f * lo;
    const double width = logx ? (log10(hi) - log10(lo)) / 50.0 : hi > lo ? (hi - lo) / 50.0 : 1.0;
    FILE *g = popen("gnuplot", "w");
    if (!g) {
        unlink(data);
        fprintf(stderr, "ae %s: cannot start gnuplot: no %s\n", cmd, png);
        return;
    }
    fprintf(g, "set terminal png size 800,500\nset output '%s'\nset style fill solid 0.6 border -1\n"
               "set xlabel 'reconstruction error (score)%s'\nset ylabel 'rows'\nset grid\nw = %.9g\n%s\n",
            png, logx ? ", log scale" : "", width,
            logx ? "set logscale x\nset boxwidth 0.9 relative\nbin(x) = 10 ** (w * floor(log10(x) / w) + w / 2)"
                 : "bin(x) = w * floor(x / w) + w / 2");
    if (have_threshold)
        fprintf(g, "set arrow from %.9g, graph 0 to %.9g, graph 1 nohead lw 2 lc rgb 'black'\n"
                   "set label 'threshold %.4g' at %.9g, graph 0.95 offset 1,0\n"
                   "plot '%s' using (bin($1)):($2 == 0 ? 1 : 0) smooth frequency with boxes lc rgb '#4477aa' "
                   "title 'normal', '' using (bin($1)):($2 == 1 ? 1 : 0) smooth frequency with boxes lc rgb "
                   "'#cc3311' title 'flagged'\n",
                (double)threshold, (double)threshold, (double)threshold, (double)threshold, data);
    else
        fprintf(g, "plot '%s' using (bin($1)):(1) smooth frequency with boxes lc rgb '#4477aa' title 'rows'\n", data);
    const int failed = pclose(g) != 0;
    unlink(data);
    if (failed) fprintf(stderr, "ae %s: gnuplot failed: no %s\n", cmd, png);
    else fprintf(stderr, "wrote %s\n", png);
}

/* The parallel plan ae_train chose, once, before the first epoch's line. */
static void show_plan(progress *p) {
    ae_plan_info info;
    char line[512];
    if (p->plan_shown || ae_plan_last(&info) != AE_OK) return;
    p->plan_shown = 1;
    ae_plan_describe(&info, line, sizeof line);
    if (p->tty) tty_line("plan: %s", line), fputc('\n', stderr); /* cut to the terminal's width */
    else fprintf(stderr, "plan: %s\n", line);
}

static int on_epoch(const ae_epoch_stats *s, void *user) {
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
        tty_line("epoch %d/%d  loss %.5f%s  %.0f samples/s  %.1f s  %.0f s left", s->epoch, p->epochs, s->train_loss, val,
                 (double)s->samples / s->seconds, s->seconds, left), fputc('\n', stderr);
    else
        fprintf(stderr, "epoch %d/%d  loss %.5f%s  %.0f samples/s  %.1f s  %.0f s left\n", s->epoch, p->epochs,
                s->train_loss, val, (double)s->samples / s->seconds, s->seconds, left);
    return 0;
}

static const char *const SCALES[] = {"auto", "none", "minmax", "zscore"};

/* Widths from the data's width d when the user gave none: one hidden layer of min(256, d/2)
 * and a code of min(32, d/4), never wider than the input (784 gives the old 256 and 32). */
static void default_widths(ae_config *c, size_t d, int hidden_given, int code_given) {
    if (!code_given) c->code_dim = d / 4 < 1 ? 1 : d / 4 > 32 ? 32 : d / 4;
    if (!hidden_given) {
        size_t h = d / 2 > 256 ? 256 : d / 2;
        c->n_hidden = 1;
        c->hidden[0] = h > c->code_dim ? h : c->code_dim;
    }
}

/* A schedule for rows training rows when the user gave none: batches of min(128, rows / 8) (at
 * least 16, never more than the rows) and enough epochs for about 500 optimizer steps (at
 * least 10, at most 1000): a small table gets as many steps as a large one gets in 10 epochs. */
static void default_schedule(ae_train_opts *o, size_t rows, int epochs_given, int batch_given) {
    if (!batch_given) {
        size_t b = rows / 8 > 128 ? 128 : rows / 8;
        o->batch_size = b < 16 ? 16 : b;
    }
    if (o->batch_size > rows) o->batch_size = rows;
    if (!epochs_given) {
        const size_t steps = (rows + o->batch_size - 1) / o->batch_size, want = (500 + steps - 1) / steps;
        o->epochs = want < 10 ? 10 : want > 1000 ? 1000 : (int)want;
    }
}

#define KFOLDS 5 /* ae train --contamination on a table of up to 20000 rows */

/* --hidden W[,W...]: one to AE_MAX_HIDDEN widths, each an integer in [1, 2^24]; an empty
 * list or an empty item ("", "8,", "8,,4") is refused, not read as fewer layers. */
static void parse_widths(const char *opt, const char *list, ae_config *c) {
    c->n_hidden = 0;
    for (const char *p = list;; p++) {
        const char *comma = strchr(p, ',');
        const size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char item[32];
        if (len == 0 || len >= sizeof item)
            die("%s wants widths W[,W...], each an integer in [1, %d], not '%s'", opt, 1 << 24, list);
        if (c->n_hidden == AE_MAX_HIDDEN) die("%s takes at most %d widths", opt, AE_MAX_HIDDEN);
        memcpy(item, p, len);
        item[len] = '\0';
        c->hidden[c->n_hidden++] = (size_t)parse_long(opt, item, 1, 1 << 24);
        if (!comma) break;
        p = comma;
    }
}

/* ae train --resume: a checkpoint keeps its architecture; --hidden or --code that differ from
 * it are refused (they would be ignored). */
static void resume_matches(const char *path, const ae_config *have, const ae_config *want, int hidden_given,
                           int code_given) {
    char h[256] = "", w[256] = "";
    for (size_t i = 0; i < have->n_hidden; i++)
        snprintf(h + strlen(h), sizeof h - strlen(h), "%s%zu", i ? "," : "", have->hidden[i]);
    for (size_t i = 0; i < want->n_hidden; i++)
        snprintf(w + strlen(w), sizeof w - strlen(w), "%s%zu", i ? "," : "", want->hidden[i]);
    if (hidden_given && strcmp(h, w) != 0)
        die("--hidden %s differs from the checkpoint %s (hidden %s): a resumed run keeps its architecture; leave "
            "--hidden out, or train afresh without --resume", w, path, *h ? h : "none");
    if (code_given && want->code_dim != have->code_dim)
        die("--code %zu differs from the checkpoint %s (code %zu): a resumed run keeps its architecture; leave "
            "--code out, or train afresh without --resume", want->code_dim, path, have->code_dim);
}

static int cmd_train(int argc, char **argv) {
    ae_config c = ae_config_default();
    ae_train_opts o = ae_train_opts_default();
    int hidden_given = 0, code_given = 0, epochs_given = 0, batch_given = 0, split_given = 0;
    double contamination = 0.0;
    float memory_gib = -1.0f; /* --memory-limit, in GiB; -1: libae's default */
    const char *data = NULL, *out = NULL, *val = NULL, *history = NULL, *resume = NULL, *plot = NULL;
    int mpi = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define VALUE() (v ? (i++, v) : (die("%s needs a value", a), ""))
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) usage(TRAIN_HELP);
        else if (!strcmp(a, "-o") || !strcmp(a, "--output")) out = VALUE();
        else if (!strcmp(a, "--hidden")) {
            hidden_given = 1;
            parse_widths(a, VALUE(), &c);
        } else if (!strcmp(a, "--code")) {
            code_given = 1;
            c.code_dim = (size_t)parse_long(a, VALUE(), 1, 1 << 24);
        } else if (!strcmp(a, "--scale")) c.scaling = (ae_scaling)parse_choice(a, VALUE(), SCALES, 4);
        else if (!strcmp(a, "--val-split")) {
            split_given = 1;
            o.val_split = parse_float(a, VALUE());
            if (!(o.val_split >= 0.0f && o.val_split <= 0.9f)) die("--val-split wants a share in [0, 0.9]");
        } else if (!strcmp(a, "--contamination")) {
            contamination = parse_float(a, VALUE());
            if (!(contamination > 0.0 && contamination <= 0.5)) die("--contamination wants a share in (0, 0.5]");
        }
        else if (!strcmp(a, "--hidden-act")) c.hidden_act = (ae_activation)parse_choice(a, VALUE(), ACTS, 5);
        else if (!strcmp(a, "--code-act")) c.code_act = (ae_activation)parse_choice(a, VALUE(), ACTS, 5);
        else if (!strcmp(a, "--output-act")) c.output_act = (ae_activation)parse_choice(a, VALUE(), ACTS, 5);
        else if (!strcmp(a, "--tied")) c.tied_weights = 1;
        else if (!strcmp(a, "--variational")) c.variational = 1;
        else if (!strcmp(a, "--seed")) c.seed = (uint64_t)parse_long(a, VALUE(), 0, 0x7fffffffL);
        else if (!strcmp(a, "--epochs")) o.epochs = (int)parse_long(a, VALUE(), 1, 1000000), epochs_given = 1;
        else if (!strcmp(a, "--batch")) o.batch_size = (size_t)parse_long(a, VALUE(), 1, 1 << 24), batch_given = 1;
        else if (!strcmp(a, "--no-shuffle")) o.shuffle = 0;
        else if (!strcmp(a, "--optimizer")) o.optimizer = (ae_optimizer)parse_choice(a, VALUE(), OPTS, 3);
        /* the ranges ae_train accepts, refused here before any work, with the option's name */
        else if (!strcmp(a, "--lr")) o.learning_rate = parse_in(a, VALUE(), 0.0f, INFINITY, LO_OPEN);
        else if (!strcmp(a, "--momentum")) o.momentum = parse_in(a, VALUE(), 0.0f, 1.0f, HI_OPEN);
        else if (!strcmp(a, "--nesterov")) o.nesterov = 1;
        else if (!strcmp(a, "--beta1")) o.beta1 = parse_in(a, VALUE(), 0.0f, 1.0f, HI_OPEN);
        else if (!strcmp(a, "--beta2")) o.beta2 = parse_in(a, VALUE(), 0.0f, 1.0f, HI_OPEN);
        else if (!strcmp(a, "--eps")) o.eps = parse_in(a, VALUE(), 0.0f, INFINITY, LO_OPEN);
        else if (!strcmp(a, "--weight-decay")) o.weight_decay = parse_in(a, VALUE(), 0.0f, 1e6f, CLOSED);
        else if (!strcmp(a, "--loss")) o.loss = (ae_loss)parse_choice(a, VALUE(), LOSSES, 2);
        else if (!strcmp(a, "--noise")) o.noise = (ae_noise)parse_choice(a, VALUE(), NOISES, 3);
        else if (!strcmp(a, "--noise-level")) o.noise_level = parse_in(a, VALUE(), 0.0f, 1e6f, CLOSED);
        else if (!strcmp(a, "--dropout")) o.dropout = parse_in(a, VALUE(), 0.0f, 1.0f, HI_OPEN);
        else if (!strcmp(a, "--sparsity-target")) o.sparsity_target = parse_in(a, VALUE(), 0.0f, 1.0f, LO_OPEN | HI_OPEN);
        else if (!strcmp(a, "--sparsity-weight")) o.sparsity_weight = parse_in(a, VALUE(), 0.0f, 1e6f, CLOSED);
        else if (!strcmp(a, "--kl-weight")) o.kl_weight = parse_in(a, VALUE(), 0.0f, 1e6f, CLOSED);
        else if (!strcmp(a, "--clip-norm")) o.clip_norm = parse_in(a, VALUE(), 0.0f, INFINITY, CLOSED);
        else if (!strcmp(a, "--memory-limit")) memory_gib = parse_in(a, VALUE(), 0.0f, 1e9f, CLOSED);
        else if (!strcmp(a, "--patience")) o.patience = (int)parse_long(a, VALUE(), 0, 1000000);
        else if (!strcmp(a, "--val")) val = VALUE();
        else if (!strcmp(a, "--checkpoint")) o.checkpoint_path = VALUE();
        else if (!strcmp(a, "--checkpoint-every")) o.checkpoint_every = (int)parse_long(a, VALUE(), 1, 1000000);
        else if (!strcmp(a, "--resume")) resume = VALUE();
        else if (!strcmp(a, "--threads")) check(ae_set_threads((int)parse_long(a, VALUE(), 0, 1024)), "--threads");
        else if (!strcmp(a, "--plan")) check(ae_set_plan_file(VALUE()), "--plan");
        else if (!strcmp(a, "--history")) history = VALUE();
        else if (!strcmp(a, "--plot")) plot = VALUE();
        else if (!strcmp(a, "--mpi")) mpi = 1;
        else if (a[0] == '-' && a[1]) die("unknown option %s (see ae train --help)", a); /* "-": stdin */
        else if (!data) data = a;
        else die("unexpected argument %s", a);
#undef VALUE
    }
    if (!data || !out) die("needs DATA and -o MODEL (see ae train --help)");
    if (o.noise == AE_NOISE_MASK && o.noise_level >= 1.0f)
        die("--noise-level wants a share in [0, 1) with --noise mask, not %g", (double)o.noise_level);
    if (o.checkpoint_every && !o.checkpoint_path) o.checkpoint_path = out;
    /* Every output is checked before the data is read. The checkpoint may be the -o model (it
     * is replaced by the final model) or the --resume file (it is rewritten with the newer
     * state); nothing else may be an input or another output. */
    const char *ckpt = o.checkpoint_path;
    if (ckpt && (same_file(ckpt, out) || (resume && same_file(ckpt, resume)))) ckpt = NULL;
    const named outs[] = {{"-o", out}, {"--checkpoint", ckpt}, {"--history", history}, {"--plot", plot}};
    const named ins[] = {{"DATA", data}, {"--val", val}, {"--resume", resume}};
    check_outputs(outs, 4, ins, 3);
    if (o.checkpoint_path && !ckpt) {
        int rc = ae_output_check(o.checkpoint_path);
        if (rc != AE_OK) die("cannot write --checkpoint %s: %s%s", o.checkpoint_path, ae_strerror(rc), detail());
    }
    if (memory_gib >= 0.0f) check(ae_set_memory_limit((size_t)((double)memory_gib * 1073741824.0)), "--memory-limit");
    if (mpi) {
#ifdef AE_HAVE_MPI
        MPI_Init(NULL, NULL);
        MPI_Comm_rank(MPI_COMM_WORLD, &mpi_rank);
#else
        die("--mpi: this ae was built without MPI (cmake -DAE_WITH_MPI=ON)");
#endif
    }
    const int lead = mpi_rank <= 0; /* reports and writes files */
    ae_data d = mpi ? load_shard(data) : load_data(data), vd = {NULL, 0, 0};
    ae_model *m;
    if (resume) {
        int rc = ae_checkpoint_load(&m, resume);
        if (rc != AE_OK) die("cannot resume from %s: %s%s", resume, ae_strerror(rc), detail());
        ae_config rc_cfg;
        check(ae_get_config(m, &rc_cfg), "config");
        resume_matches(resume, &rc_cfg, &c, hidden_given, code_given);
        o.resume = 1;
    } else {
        c.input_dim = d.cols;
        default_widths(&c, d.cols, hidden_given, code_given);
        check(ae_create(&m, &c), "cannot build the model");
    }
    need_width(data, d.cols, ae_input_dim(m));
    if (val) {
        if (split_given && o.val_split > 0.0f) die("give --val FILE or --val-split S, not both");
        vd = mpi ? load_shard(val) : load_data(val);
        need_width(val, vd.cols, ae_input_dim(m));
        o.val_x = vd.x;
        o.val_n = vd.rows;
    }
    if (contamination > 0.0) {
        if (mpi) die("--contamination is not for --mpi: set the threshold afterwards with ae threshold");
        /* Calibrated on rows the model did not learn: a threshold from the training rows
         * themselves would flag far more than C of new normal rows. Given validation rows or
         * a split, ae_train calibrates on them; else a large table holds out 20% of its rows,
         * a small one (where 20% is too few for a steady quantile) uses K folds, after
         * training. */
        o.threshold = AE_THRESHOLD_CONTAMINATION;
        o.threshold_param = contamination;
        if (!val && !split_given && d.rows > 20000) o.val_split = 0.2f;
        else if (!val && !split_given) o.threshold_folds = KFOLDS;
        if (o.threshold_folds && d.rows < 2 * KFOLDS)
            die("--contamination needs at least %d rows to calibrate on, %s has %zu", 2 * KFOLDS, data, d.rows);
        if (o.threshold_folds)
            fprintf(stderr, "threshold: after training, %d models on %d folds of the rows score the rows they did "
                            "not learn\n", KFOLDS, KFOLDS);
    }
    size_t all_rows = d.rows;
#ifdef AE_HAVE_MPI
    if (mpi) { /* every rank picks the same schedule: from the rows of all ranks */
        unsigned long long mine = d.rows, sum = 0;
        MPI_Allreduce(&mine, &sum, 1, MPI_UNSIGNED_LONG_LONG, MPI_SUM, MPI_COMM_WORLD);
        all_rows = (size_t)sum;
    }
#endif
    const size_t held = (size_t)floor((double)all_rows * o.val_split), train_rows = all_rows - held;
    if (train_rows < 1 || (o.val_split > 0.0f && held < 1))
        die("--val-split %g of %zu rows leaves no training or no validation rows", (double)o.val_split, all_rows);
    default_schedule(&o, train_rows, epochs_given, batch_given);
    if (lead) {
        ae_config mc;
        check(ae_get_config(m, &mc), "config");
        fprintf(stderr, "model %zu", mc.input_dim);
        for (size_t i = 0; i < mc.n_hidden; i++) fprintf(stderr, "-%zu", mc.hidden[i]);
        fprintf(stderr, "-%zu", mc.code_dim);
        for (size_t i = mc.n_hidden; i-- > 0;) fprintf(stderr, "-%zu", mc.hidden[i]);
        fprintf(stderr, "-%zu%s, scaling %s; %d epochs of batch %zu (%zu steps each) on %zu rows", mc.input_dim,
                hidden_given || code_given || resume ? "" : " (widths from the data)", SCALES[mc.scaling], o.epochs,
                o.batch_size, (train_rows + o.batch_size - 1) / o.batch_size, train_rows);
        if (held) fprintf(stderr, ", %zu held out", held);
        fputc('\n', stderr);
    }
    char tmp_history[64] = "";
    if (!lead) history = plot = NULL;
    if (plot && !history) { /* the plot is drawn from a history file: a temporary one */
        strcpy(tmp_history, "/tmp/ae-history-XXXXXX");
        int fd = mkstemp(tmp_history);
        if (fd < 0) die("cannot make a temporary file: %s", strerror(errno));
        close(fd);
        history = tmp_history;
    }
    progress p = {NULL, o.epochs, isatty(2), now(), now(), 0.0, o.batch_size < d.rows ? o.batch_size : d.rows, 0};
    if (history) {
        if (!(p.history = fopen(history, "w"))) die("cannot write %s: %s", history, strerror(errno));
        fprintf(p.history, "epoch,train_loss,train_recon,train_kl,train_sparsity,val_loss,seconds\n");
    }
    o.on_epoch = on_epoch;
    o.on_batch = on_batch;
    o.user = &p;
    ae_blas_info b = ae_blas_get_info();
    const int epochs_before = ae_epochs_done(m);
    int rc;
    if (mpi) {
#ifdef AE_HAVE_MPI
        int ranks = 1;
        unsigned long long rows = d.rows, total = 0;
        MPI_Comm_size(MPI_COMM_WORLD, &ranks);
        MPI_Allreduce(&rows, &total, 1, MPI_UNSIGNED_LONG_LONG, MPI_SUM, MPI_COMM_WORLD);
        p.batch_rows = o.batch_size < total ? o.batch_size : (size_t)total;
        if (lead)
            fprintf(stderr, "training on %llu rows of %zu over %d MPI ranks (OpenBLAS %s, %d threads per rank%s)\n",
                    total, d.cols, ranks, b.core, b.threads, b.fallback ? ", a slow fallback core: set OPENBLAS_CORETYPE" : "");
        ae_mpi_stats st;
        rc = ae_train_mpi(m, d.x, d.rows, &o, MPI_COMM_WORLD, &st);
        if (lead && st.allreduce_calls)
            fprintf(stderr, "gradient MPI_Allreduce: %zu calls of %zu bytes, %.2f s of %.2f s\n", st.allreduce_calls,
                    st.gradient_bytes, st.allreduce_seconds, st.train_seconds);
#else
        rc = AE_EINVAL;
#endif
    } else {
        fprintf(stderr, "training on %zu rows of %zu (OpenBLAS %s, %d threads%s)\n", d.rows, d.cols, b.core, b.threads,
                b.fallback ? ", a slow fallback core: set OPENBLAS_CORETYPE" : "");
        rc = ae_train(m, d.x, d.rows, &o);
    }
    /* a history that could not be written is reported after the model is saved, not instead */
    int history_errno = 0;
    if (p.history && (ferror(p.history) | fclose(p.history)) != 0) history_errno = errno ? errno : EIO;
    if (plot) plot_history(history, plot, val != NULL);
    if (tmp_history[0]) unlink(tmp_history);
    if (rc != AE_OK && rc != AE_EDIVERGED) {
        /* Lose nothing: epochs finished before the failure (a checkpoint that could not be
         * written, say) are saved to -o, then the failure is reported. */
        char why[700];
        snprintf(why, sizeof why, "%s%s", ae_strerror(rc), detail());
        if (lead && ae_epochs_done(m) > epochs_before) {
            int saved = ae_save(m, out);
            die("training stopped after epoch %d of %d: %s; %s %s", ae_epochs_done(m), o.epochs, why,
                saved == AE_OK ? "the model of the epochs done is saved in" : "and the model could not be saved in", out);
        }
        die("training failed: %s", why);
    }
    if (lead) {
        ae_scaling applied;
        check(ae_scaling_get(m, &applied, NULL, NULL, NULL), "scaling");
        fprintf(stderr, "input scaling: %s%s\n", SCALES[applied],
                applied == AE_SCALE_NONE ? " (rows used as they are)" : " (statistics saved in the model)");
        float t;
        if (contamination > 0.0 && ae_threshold_get(m, &t, NULL, NULL) == AE_OK)
            fprintf(stderr, "threshold %.9g: flags %g of the %zu %s rows\n", (double)t, contamination,
                    val ? vd.rows : held ? held : d.rows, val ? "validation" : held ? "held-out" : "out-of-fold");
    }
    if (lead) {
        save_model(m, out);
        fprintf(stderr, "saved %s%s\n", out,
                rc == AE_EDIVERGED ? " (training diverged: the weights the diverged epoch began with)" : "");
    }
    if (history_errno) die("cannot write --history %s: %s; the model is saved in %s", history, strerror(history_errno), out);
    ae_free(m);
    ae_data_free(&d);
    ae_data_free(&vd);
#ifdef AE_HAVE_MPI
    if (mpi) MPI_Finalize();
#endif
    return rc == AE_OK ? 0 : 1;
}

/* ---------------------------------------------------------------- the other commands */

typedef struct args {
    const char *pos[2];
    int npos;
    const char *out, *png, *shape, *plot;
    long n;
} args;

static args parse_args(int argc, char **argv, int want, const char *help) {
    args a = {{NULL, NULL}, 0, NULL, NULL, NULL, NULL, 0};
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(s, "-h") || !strcmp(s, "--help")) usage(help);
        else if (!strcmp(s, "-o") || !strcmp(s, "--output") || !strcmp(s, "--png") || !strcmp(s, "--image-shape") ||
                 !strcmp(s, "-n") || !strcmp(s, "--plot")) {
            if (!v) die("%s needs a value", s);
            i++;
            if (s[1] == 'o' || !strcmp(s, "--output")) a.out = v;
            else if (!strcmp(s, "--png")) a.png = v;
            else if (!strcmp(s, "--plot")) a.plot = v;
            else if (!strcmp(s, "--image-shape")) a.shape = v;
            else a.n = parse_long(s, v, 1, 1000000);
        } else if (s[0] == '-' && s[1]) die("unknown option %s (see ae %s --help)", s, cmd);
        else if (a.npos < 2) a.pos[a.npos++] = s;
        else die("unexpected argument %s", s);
    }
    if (a.npos != want) die("wrong number of arguments (see ae %s --help)", cmd);
    return a;
}

static int find_name(const char *const *names, const char *s) {
    for (int i = 0; names && names[i]; i++)
        if (!strcmp(names[i], s)) return i;
    return -1;
}

/* The options of the threshold, flag, head and predict commands: value_opts (each takes the
 * next argument, into values[i]) and flag_opts (flags[i] = 1), NULL-terminated; "--output" is
 * "-o". Positional arguments go to pos, at most max_pos; returns their count. */
static int parse_command(int argc, char **argv, const char *help, const char *const *value_opts,
                         const char **values, const char *const *flag_opts, int *flags, const char **pos, int max_pos) {
    int npos = 0;
    for (int i = 0; i < argc; i++) {
        const char *s = !strcmp(argv[i], "--output") ? "-o" : argv[i];
        if (!strcmp(s, "-h") || !strcmp(s, "--help")) usage(help);
        int k = find_name(value_opts, s);
        if (k >= 0) {
            if (i + 1 >= argc) die("%s needs a value", argv[i]);
            values[k] = argv[++i];
        } else if ((k = find_name(flag_opts, s)) >= 0) {
            flags[k] = 1;
        } else if (s[0] == '-' && s[1]) {
            die("unknown option %s (see ae %s --help)", s, cmd);
        } else if (npos < max_pos) {
            pos[npos++] = s;
        } else {
            die("unexpected argument %s", s);
        }
    }
    return npos;
}

/* Optional picture: rows as images, the top rows of a grid of 16 columns. */
static void maybe_png(const args *a, const float *x, size_t rows, size_t cols, const float *above) {
    if (!a->png) return;
#ifdef AE_HAVE_PNG
    size_t h = 0, w = 0;
    if (a->shape) {
        if (sscanf(a->shape, "%zux%zu", &h, &w) != 2 || h * w != cols) die("--image-shape %s does not give %zu pixels", a->shape, cols);
    } else {
        for (h = 1; h * h < cols; h++) continue;
        if (h * h != cols) die("--png needs --image-shape HxW for rows of %zu values", cols);
        w = h;
    }
    size_t n = rows < 16 ? rows : 16, grid_rows = above ? 2 : 1;
    float *grid = malloc(grid_rows * n * cols * sizeof(float));
    if (!grid) die("out of memory");
    if (above) memcpy(grid, above, n * cols * sizeof(float));
    memcpy(grid + (grid_rows - 1) * n * cols, x, n * cols * sizeof(float));
    if (png_grid_write(a->png, grid, grid_rows, n, h, w) != 0) die("cannot write %s", a->png);
    free(grid);
    fprintf(stderr, "wrote %s\n", a->png);
#else
    (void)x, (void)rows, (void)cols, (void)above;
    die("built without libpng: --png is not available");
#endif
}

static int cmd_rows(int argc, char **argv) {
    static const char HELP[] = "usage: ae encode|decode|reconstruct|score MODEL DATA [-o OUT(.npy|.csv)]\n"
                               "       reconstruct also: --png FILE [--image-shape HxW] (16 inputs over outputs)\n"
                               "       score also: --plot FILE.png (a histogram of the scores and the model's\n"
                               "       threshold, drawn by gnuplot when it is installed)\n"
                               "  DATA - reads standard input; without -o (or with -o -) CSV goes to standard output\n";
    args a = parse_args(argc, argv, 2, HELP);
    if (a.plot && strcmp(cmd, "score") != 0) die("--plot is for ae score and ae flag");
    if (!a.out || !strcmp(a.out, "-")) a.out = "-", stdout_is_data = 1; /* no -o: standard output */
    const named outs[] = {{"-o", a.out}, {"--png", a.png}, {"--plot", a.plot}};
    const named ins[] = {{"MODEL", a.pos[0]}, {"DATA", a.pos[1]}};
    check_outputs(outs, 3, ins, 2);
    ae_model *m = load_model(a.pos[0]);
    ae_data d = load_data(a.pos[1]);
    const int decode = !strcmp(cmd, "decode");
    need_width(a.pos[1], d.cols, decode ? ae_code_dim(m) : ae_input_dim(m));
    size_t cols = !strcmp(cmd, "encode") ? ae_code_dim(m) : !strcmp(cmd, "score") ? 1 : ae_input_dim(m);
    float *y = malloc(d.rows * cols * sizeof(float));
    if (!y) die("out of memory");
    int rc = !strcmp(cmd, "encode") ? ae_encode(m, d.x, d.rows, y)
             : decode              ? ae_decode(m, d.x, d.rows, y)
             : !strcmp(cmd, "score") ? ae_score(m, d.x, d.rows, y)
                                     : ae_reconstruct(m, d.x, d.rows, y);
    check(rc, cmd);
    write_rows(a.out, y, d.rows, cols);
    if (!strcmp(cmd, "reconstruct")) maybe_png(&a, y, d.rows, cols, d.x);
    if (a.plot) {
        float t;
        const int have = ae_threshold_get(m, &t, NULL, NULL) == AE_OK;
        plot_scores(a.plot, y, d.rows, t, have);
    }
    fprintf(stderr, "wrote %s: %zu rows of %zu\n", a.out, d.rows, cols);
    free(y);
    ae_data_free(&d);
    ae_free(m);
    return 0;
}

static int cmd_sample(int argc, char **argv) {
    static const char HELP[] = "usage: ae sample MODEL -n N -o OUT(.npy|.csv) [--png FILE [--image-shape HxW]]\n";
    args a = parse_args(argc, argv, 1, HELP);
    if (!a.out || !a.n) die("needs -n N and -o OUT (see ae sample --help)");
    const named outs[] = {{"-o", a.out}, {"--png", a.png}};
    const named ins[] = {{"MODEL", a.pos[0]}};
    check_outputs(outs, 2, ins, 1);
    ae_model *m = load_model(a.pos[0]);
    size_t d = ae_input_dim(m);
    float *y = malloc((size_t)a.n * d * sizeof(float));
    if (!y) die("out of memory");
    int rc = ae_sample(m, (size_t)a.n, y);
    if (rc == AE_EINVAL) die("%s is not a variational model: only a VAE samples", a.pos[0]);
    check(rc, "sample");
    write_rows(a.out, y, (size_t)a.n, d);
    fprintf(stderr, "wrote %s: %ld rows of %zu\n", a.out, a.n, d);
    maybe_png(&a, y, (size_t)a.n, d, NULL);
    free(y);
    ae_free(m);
    return 0;
}

/* ae threshold MODEL DATA --quantile Q | --mean-std K, or MODEL --value T: the anomaly
 * threshold kept in (a copy of) the model, which ae flag then uses. */
static int cmd_threshold(int argc, char **argv) {
    static const char HELP[] =
        "usage: ae threshold MODEL NORMAL_DATA (--quantile Q | --mean-std K) -o MODEL_OUT\n"
        "       ae threshold MODEL --value T -o MODEL_OUT\n"
        "  --quantile Q   the Q-quantile (0..1) of the reconstruction errors of NORMAL_DATA\n"
        "  --mean-std K   their mean + K standard deviations\n"
        "  --value T      a threshold of your choice\n"
        "  --contamination C  the share C (0..0.5] of new normal rows to flag: the (1 - C)-quantile\n";
    static const char *const VALUES[] = {"-o", "--quantile", "--mean-std", "--value", "--contamination", NULL};
    const char *v[5] = {NULL, NULL, NULL, NULL, NULL}, *pos[2] = {NULL, NULL};
    const int npos = parse_command(argc, argv, HELP, VALUES, v, NULL, NULL, pos, 2),
              given = !!v[1] + !!v[2] + !!v[3] + !!v[4];
    const char *out = v[0];
    if (given > 1) die("give one of --quantile, --mean-std, --contamination and --value");
    static const int METHODS[] = {AE_THRESHOLD_NONE, AE_THRESHOLD_QUANTILE, AE_THRESHOLD_MEAN_STD, AE_THRESHOLD_MANUAL,
                                  AE_THRESHOLD_CONTAMINATION};
    const int k = v[1] ? 1 : v[2] ? 2 : v[3] ? 3 : v[4] ? 4 : 0, method = METHODS[k];
    const double param = k ? parse_float(VALUES[k], v[k]) : 0.0;
    if (method == AE_THRESHOLD_NONE)
        die("needs --quantile Q, --mean-std K, --contamination C or --value T (see ae threshold --help)");
    if (method == AE_THRESHOLD_CONTAMINATION && !(param > 0.0 && param <= 0.5))
        die("--contamination wants a share in (0, 0.5]");
    if (!out) die("needs -o MODEL_OUT (see ae threshold --help)");
    if (npos != (method == AE_THRESHOLD_MANUAL ? 1 : 2))
        die(method == AE_THRESHOLD_MANUAL ? "--value takes no data: ae threshold MODEL --value T -o MODEL_OUT"
                                          : "needs MODEL and NORMAL_DATA (see ae threshold --help)");
    if (method == AE_THRESHOLD_QUANTILE && !(param >= 0.0 && param <= 1.0)) die("--quantile wants a number in [0, 1]");
    if (method == AE_THRESHOLD_MEAN_STD && !(param >= 0.0)) die("--mean-std wants a number >= 0");
    /* -o may be MODEL: the model, read whole first, is updated in place (atomically) */
    const named outs[] = {{"-o", out}};
    const named ins[] = {{"MODEL", same_file(out, pos[0]) ? NULL : pos[0]}, {"NORMAL_DATA", pos[1]}};
    check_outputs(outs, 1, ins, 2);
    ae_model *m = load_model(pos[0]);
    float t = (float)param;
    size_t rows = 0;
    if (method == AE_THRESHOLD_MANUAL) {
        check(ae_threshold_set(m, t), "threshold");
    } else {
        ae_data d = load_data(pos[1]);
        need_width(pos[1], d.cols, ae_input_dim(m));
        check(ae_threshold_calibrate(m, d.x, d.rows, (ae_threshold_method)method, param, &t), "threshold");
        rows = d.rows;
        ae_data_free(&d);
    }
    save_model(m, out);
    if (rows) report("threshold %.9g (from the errors of %zu rows of %s)\n", (double)t, rows, pos[1]);
    else report("threshold %.9g\n", (double)t);
    fprintf(stderr, "wrote %s\n", out);
    ae_free(m);
    return 0;
}

/* ae flag MODEL DATA -o FLAGS [--scores SCORES]: 1 for each row above the model's threshold. */
static int cmd_flag(int argc, char **argv) {
    static const char HELP[] = "usage: ae flag MODEL DATA [-o FLAGS(.npy|.csv)] [--scores SCORES(.npy|.csv)]\n"
                               "  DATA - reads standard input; without -o (or with -o -) CSV goes to standard output\n"
                               "  1 for each row whose reconstruction error is above the model's threshold\n"
                               "  (set by ae threshold), else 0\n"
                               "  --plot FILE.png  a histogram of the scores, flagged rows apart, and the threshold\n";
    static const char *const VALUES[] = {"-o", "--scores", "--plot", NULL};
    const char *v[3] = {NULL, NULL, NULL}, *pos[2] = {NULL, NULL};
    const int npos = parse_command(argc, argv, HELP, VALUES, v, NULL, NULL, pos, 2);
    const char *out = v[0], *scores_out = v[1];
    if (npos != 2) die("needs MODEL and DATA (see ae flag --help)");
    if (!out || !strcmp(out, "-")) out = "-", stdout_is_data = 1; /* no -o: standard output */
    const named outs[] = {{"-o", out}, {"--scores", scores_out}, {"--plot", v[2]}};
    const named ins[] = {{"MODEL", pos[0]}, {"DATA", pos[1]}};
    check_outputs(outs, 3, ins, 2);
    ae_model *m = load_model(pos[0]);
    float t;
    if (ae_threshold_get(m, &t, NULL, NULL) != AE_OK)
        die("%s has no anomaly threshold: set one with ae threshold", pos[0]);
    ae_data d = load_data(pos[1]);
    need_width(pos[1], d.cols, ae_input_dim(m));
    unsigned char *flags = malloc(d.rows);
    float *scores = malloc(d.rows * sizeof(float)), *as_float = malloc(d.rows * sizeof(float));
    if (!flags || !scores || !as_float) die("out of memory");
    check(ae_flag(m, d.x, d.rows, flags, scores), "flag");
    size_t flagged = 0;
    for (size_t i = 0; i < d.rows; i++) {
        as_float[i] = (float)flags[i];
        flagged += flags[i];
    }
    write_rows(out, as_float, d.rows, 1);
    if (scores_out) write_rows(scores_out, scores, d.rows, 1);
    if (v[2]) plot_scores(v[2], scores, d.rows, t, 1);
    report("flagged %zu of %zu rows (threshold %.9g)\n", flagged, d.rows, (double)t);
    free(as_float);
    free(scores);
    free(flags);
    ae_data_free(&d);
    ae_free(m);
    return 0;
}

/* ae head MODEL DATA LABELS -o MODEL_OUT: a classifier (or, with --linear, a regression) on
 * the model's code, trained with the encoder frozen or fine-tuned. */
static int cmd_head(int argc, char **argv) {
    static const char HELP[] =
        "usage: ae head MODEL DATA LABELS -o MODEL_OUT [options]\n"
        "       ae head MODEL DATA --label COL -o MODEL_OUT [options]\n"
        "  LABELS: one class index 0..N-1 per row (an IDX label file, .npy or CSV), or with\n"
        "          --linear the target values, one row per DATA row\n"
        "  --label COL   the labels are DATA's column COL (name or number; text classes become\n"
        "                0..N-1 in sorted order), kept out of the inputs\n"
        "  --classes N   classes (default: the largest label + 1)   --linear  regression head\n"
        "  --epochs N (10)  --batch N (32)  --lr X (1e-3)  --optimizer sgd|adam|adamw\n"
        "  --freeze      train the head alone, the encoder unchanged (default: fine-tune it too)\n";
    static const char *const VALUES[] = {"-o", "--classes", "--epochs", "--batch", "--lr", "--optimizer", NULL};
    static const char *const FLAGS[] = {"--linear", "--freeze", NULL};
    const char *v[6] = {NULL, NULL, NULL, NULL, NULL, NULL}, *pos[3] = {NULL, NULL, NULL};
    int f[2] = {0, 0};
    const int npos = parse_command(argc, argv, HELP, VALUES, v, FLAGS, f, pos, 3), linear = f[0];
    const char *out = v[0];
    long classes = v[1] ? parse_long(VALUES[1], v[1], 2, 1L << 24) : 0;
    ae_train_opts o = ae_train_opts_default();
    o.batch_size = v[3] ? (size_t)parse_long(VALUES[3], v[3], 1, 1L << 24) : 32;
    if (v[2]) o.epochs = (int)parse_long(VALUES[2], v[2], 1, 1000000);
    if (v[4]) o.learning_rate = parse_in(VALUES[4], v[4], 0.0f, INFINITY, LO_OPEN);
    if (v[5]) o.optimizer = (ae_optimizer)parse_choice(VALUES[5], v[5], OPTS, 3);
    const int label_col = data_opts.label != NULL;
    if (label_col && npos == 3) die("give LABELS or --label COL, not both");
    if (npos != (label_col ? 2 : 3) || !out) die("needs MODEL, DATA, LABELS and -o MODEL_OUT (see ae head --help)");
    if (linear && classes) die("--classes is for a classifier, not with --linear");
    /* -o may be MODEL: the model, read whole first, gains its head in place (atomically) */
    const named outs[] = {{"-o", out}};
    const named ins[] = {{"MODEL", same_file(out, pos[0]) ? NULL : pos[0]}, {"DATA", pos[1]}, {"LABELS", pos[2]}};
    check_outputs(outs, 1, ins, 3);
    ae_model *m = load_model(pos[0]);
    char names[4096];
    data_opts.label_names = names;
    data_opts.label_names_cap = sizeof names;
    ae_data y, d = load_data_labels(pos[1], label_col ? &y : NULL);
    if (label_col) pos[2] = data_opts.label;
    else y = load_data(pos[2]);
    if (label_col && names[0]) { /* text classes: say which number is which */
        fprintf(stderr, "classes of %s:", data_opts.label);
        int k = 0;
        for (const char *n = names; *n; n += strlen(n) + 1) fprintf(stderr, "%s %d %s", k ? "," : "", k, n), k++;
        fputc('\n', stderr);
    }
    need_width(pos[1], d.cols, ae_input_dim(m));
    if (y.rows != d.rows) die("%s has %zu rows but %s has %zu", pos[2], y.rows, pos[1], d.rows);
    if (!linear) {
        if (y.cols != 1) die("%s has %zu columns: a classifier wants one class index per row", pos[2], y.cols);
        float top = 0.0f;
        for (size_t i = 0; i < y.rows; i++) {
            float c = y.x[i];
            if (!(c >= 0.0f && c < 16777216.0f && c == floorf(c)) || (classes && c >= (float)classes))
                die("%s row %zu: %g is not a class index%s", pos[2], i + 1, (double)c,
                    classes ? " below --classes" : "");
            if (c > top) top = c;
        }
        if (!classes) classes = (long)top + 1;
        if (classes < 2) die("%s holds one class only: a classifier needs two or more", pos[2]);
    }
    const size_t outputs = linear ? y.cols : (size_t)classes;
    check(ae_head_create(m, linear ? AE_HEAD_LINEAR : AE_HEAD_SOFTMAX, outputs), "head");
    progress p = {NULL, o.epochs, 0, now(), 0.0, 0.0, o.batch_size, 1}; /* head training has no plan */
    o.on_epoch = on_epoch;
    o.user = &p;
    int rc = ae_head_train(m, d.x, d.rows, y.x, f[1], &o);
    if (rc == AE_EDIVERGED) die("training diverged: try a lower --lr");
    check(rc, "head");
    double loss, acc;
    check(ae_head_evaluate(m, d.x, d.rows, y.x, &loss, &acc), "evaluate");
    save_model(m, out);
    if (linear) report("head: %zu outputs, training MSE %.6g\n", outputs, loss);
    else report("head: %zu classes, training loss %.6g, training accuracy %.4f\n", outputs, loss, acc);
    fprintf(stderr, "wrote %s\n", out);
    ae_data_free(&y);
    ae_data_free(&d);
    ae_free(m);
    return 0;
}

/* ae predict MODEL DATA -o OUT [--probabilities]: the head's classes (or values). */
static int cmd_predict(int argc, char **argv) {
    static const char HELP[] = "usage: ae predict MODEL DATA [-o OUT(.npy|.csv)] [--probabilities]\n"
                               "  DATA - reads standard input; without -o (or with -o -) CSV goes to standard output\n"
                               "  a classifier head: each row's class (with --probabilities, every class's\n"
                               "  probability); a linear head: its values\n";
    static const char *const VALUES[] = {"-o", NULL};
    static const char *const FLAGS[] = {"--probabilities", NULL};
    const char *out = NULL, *pos[2] = {NULL, NULL};
    int probs = 0;
    const int npos = parse_command(argc, argv, HELP, VALUES, &out, FLAGS, &probs, pos, 2);
    if (npos != 2) die("needs MODEL and DATA (see ae predict --help)");
    if (!out || !strcmp(out, "-")) out = "-", stdout_is_data = 1; /* no -o: standard output */
    const named outs[] = {{"-o", out}};
    const named ins[] = {{"MODEL", pos[0]}, {"DATA", pos[1]}};
    check_outputs(outs, 1, ins, 2);
    ae_model *m = load_model(pos[0]);
    ae_head_kind kind;
    size_t outputs;
    if (ae_head_get(m, &kind, &outputs) != AE_OK) die("%s has no head: train one with ae head", pos[0]);
    if (probs && kind != AE_HEAD_SOFTMAX) die("--probabilities needs a classifier head; %s has a linear one", pos[0]);
    ae_data d = load_data(pos[1]);
    need_width(pos[1], d.cols, ae_input_dim(m));
    const size_t cols = kind == AE_HEAD_SOFTMAX && !probs ? 1 : outputs;
    float *y = malloc(d.rows * cols * sizeof(float));
    int32_t *labels = malloc(d.rows * sizeof(int32_t));
    if (!y || !labels) die("out of memory");
    if (cols == 1 && kind == AE_HEAD_SOFTMAX) {
        check(ae_head_classify(m, d.x, d.rows, labels), "predict");
        for (size_t i = 0; i < d.rows; i++) y[i] = (float)labels[i];
    } else {
        check(ae_head_predict(m, d.x, d.rows, y), "predict");
    }
    write_rows(out, y, d.rows, cols);
    fprintf(stderr, "wrote %s: %zu rows of %zu\n", out, d.rows, cols);
    free(labels);
    free(y);
    ae_data_free(&d);
    ae_free(m);
    return 0;
}

static int cmd_info(int argc, char **argv) {
    static const char HELP[] = "usage: ae info MODEL\n";
    args a = parse_args(argc, argv, 1, HELP);
    ae_model *m = load_model(a.pos[0]);
    ae_config c;
    check(ae_get_config(m, &c), "config");
    printf("model        %s\narchitecture %zu", a.pos[0], c.input_dim);
    for (size_t i = 0; i < c.n_hidden; i++) printf("-%zu", c.hidden[i]);
    printf("-%zu%s", c.code_dim, c.variational ? "(mu,logvar)" : "");
    for (size_t i = c.n_hidden; i-- > 0;) printf("-%zu", c.hidden[i]);
    printf("-%zu\nactivations  hidden %s, code %s, output %s\n", c.input_dim, ACTS[c.hidden_act], ACTS[c.code_act],
           ACTS[c.output_act]);
    printf("options      tied %s, variational %s, seed %llu\n", c.tied_weights ? "yes" : "no",
           c.variational ? "yes" : "no", (unsigned long long)c.seed);
    printf("parameters   %zu\n", ae_param_count(m));
    ae_scaling sm;
    int fitted;
    check(ae_scaling_get(m, &sm, &fitted, NULL, NULL), "scaling");
    printf("scaling      %s%s\n", fitted ? SCALES[sm] : SCALES[c.scaling],
           !fitted ? " (fitted by the first training)" : sm == AE_SCALE_NONE ? " (rows used as they are)"
                                                                            : " (statistics of the training rows)");
    if (ae_epochs_done(m) > 0) printf("checkpoint   %d epochs done\n", ae_epochs_done(m));
    float t;
    ae_threshold_method tm;
    double tp;
    if (ae_threshold_get(m, &t, &tm, &tp) == AE_OK) {
        printf("anomaly      threshold %.9g (", (double)t);
        if (tm == AE_THRESHOLD_QUANTILE) printf("quantile %g of the calibration scores)\n", tp);
        else if (tm == AE_THRESHOLD_CONTAMINATION) printf("contamination %g: flags that share of normal rows)\n", tp);
        else if (tm == AE_THRESHOLD_MEAN_STD) printf("mean + %g std of the calibration scores)\n", tp);
        else printf("set by hand)\n");
    }
    ae_head_kind hk;
    size_t ho;
    if (ae_head_get(m, &hk, &ho) == AE_OK)
        printf("head         %s, %zu outputs\n", hk == AE_HEAD_SOFTMAX ? "softmax classifier" : "linear", ho);
    ae_blas_info b = ae_blas_get_info();
    printf("libae        %s\nOpenBLAS     core %s, %d threads%s\n", ae_version(), b.core, b.threads,
           b.fallback ? " (slow fallback core)" : "");
    ae_free(m);
    return 0;
}

int main(int argc, char **argv) {
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
        "DATA: IDX (.gz), .npy or CSV. OUT: .npy by extension, else CSV.\n"
        "CSV DATA, for every command that reads it:\n"
        "  --columns LIST  keep these columns (names or 1-based numbers and ranges: a,b,4-7), in order\n"
        "  --drop LIST     leave these out     --label COL  keep COL out of the inputs (ae head: the labels)\n"
        "  --delimiter C   , ; tab space | : (default: detected)   --header / --no-header (default: detected)\n"
        "  --max-inflate MB  how far a .csv.gz may inflate (default 512)\n";
    if (argc < 2) { /* a script that calls ae wrongly should fail */
        fputs(HELP, stderr);
        return EXIT_USAGE;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) usage(HELP);
    if (!strcmp(argv[1], "--version")) {
        printf("ae %s\n", ae_version());
        return 0;
    }
    cmd = argv[1];
    for (int i = 2; i + 1 < argc; i++) /* "-o -": data on standard output, reports on stderr */
        if ((!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output") || !strcmp(argv[i], "--scores")) &&
            !strcmp(argv[i + 1], "-"))
            stdout_is_data = 1;
    static const char *const READS_DATA[] = {"train", "encode", "decode", "reconstruct", "score", "threshold",
                                             "flag", "head", "predict", NULL};
    if (find_name(READS_DATA, cmd) >= 0) take_data_flags(&argc, argv);
    if (!strcmp(cmd, "train")) return cmd_train(argc - 2, argv + 2);
    if (!strcmp(cmd, "encode") || !strcmp(cmd, "decode") || !strcmp(cmd, "reconstruct") || !strcmp(cmd, "score"))
        return cmd_rows(argc - 2, argv + 2);
    if (!strcmp(cmd, "sample")) return cmd_sample(argc - 2, argv + 2);
    if (!strcmp(cmd, "threshold")) return cmd_threshold(argc - 2, argv + 2);
    if (!strcmp(cmd, "flag")) return cmd_flag(argc - 2, argv + 2);
    if (!strcmp(cmd, "head")) return cmd_head(argc - 2, argv + 2);
    if (!strcmp(cmd, "predict")) return cmd_predict(argc - 2, argv + 2);
    if (!strcmp(cmd, "info")) return cmd_info(argc - 2, argv + 2);
    cmd = NULL;
    die("unknown command '%s' (see ae --help)", argv[1]);
    return 1;
}
