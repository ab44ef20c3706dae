/* Time series on the command line: ae windows (a long series cut into overlapping windows,
 * one a row) and ae score's series mode (a series scored window by window, the scores mapped
 * back to each time point: the worst and the mean of the windows covering it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_io.h"
#include "cli_opts.h"
#include "commands.h"
#include "plots.h"

const char *const TAIL_NAMES[] = {"end", "drop", NULL}; /* index = ae_window_tail */

static const char *tail_words(ae_window_tail tail) {
    return tail == AE_TAIL_END ? "a last window aligned to the end" : "the tail dropped";
}

/* The series' windows of spec, malloc'd; *count gets their number. Dies on a refusal (a series
 * shorter than a window, sizes out of range) with the library's reason. */
static float *cut_series(const ae_data *d, const char *what, const ae_window_spec *spec, size_t *count) {
    if (ae_window_count(d->rows, spec, count) != AE_OK) die("%s: %s", what, ae_last_error());
    if (*count > SIZE_MAX / sizeof(float) / spec->len / d->cols)
        die("%s: %zu windows of %zu x %zu values do not fit in memory", what, *count, spec->len, d->cols);
    float *w = malloc(*count * spec->len * d->cols * sizeof(float));
    if (!w) die("out of memory for %zu windows of %zu x %zu values", *count, spec->len, d->cols);
    check(ae_windows_cut(d->x, d->rows, d->cols, spec, w, *count), "windows");
    return w;
}

/* ae windows SERIES --len L [--stride S] [--tail end|drop] -o OUT [--starts FILE] */
int cmd_windows(int argc, char **argv) {
    static const char HELP[] =
        "usage: ae windows SERIES --len L [--stride S] [--tail end|drop] [-o OUT(.npy|.csv)] [--starts FILE]\n"
        "  SERIES: one time point a row (any DATA file; - reads standard input)\n"
        "  --len L        steps a window (each output row: L x the series' columns, step-major)\n"
        "  --stride S     steps from one window's start to the next (default 1)\n"
        "  --tail end|drop  when the windows leave a tail out: one more window ending at the\n"
        "                 last point (end, the default: every point covered) or none (drop)\n"
        "  --starts FILE  also write each window's first point (0-based)\n"
        "  without -o (or with -o -) CSV goes to standard output\n";
    const char *out = NULL, *starts_out = NULL, *pos[1] = {NULL};
    ae_window_spec spec = {0, 1, AE_TAIL_END};
    int tail = AE_TAIL_END;
    const cli_opt opts[] = {
        {.name = "-o", .alias = "--output", .kind = CLI_TEXT, .to = &out},
        {.name = "--len", .kind = CLI_SIZE, .to = &spec.len, .lo = 1, .hi = 1 << 30},
        {.name = "--stride", .kind = CLI_SIZE, .to = &spec.stride, .lo = 1, .hi = 1 << 30},
        {.name = "--tail", .kind = CLI_CHOICE, .to = &tail, .names = TAIL_NAMES},
        {.name = "--starts", .kind = CLI_TEXT, .to = &starts_out},
        {.name = NULL},
    };
    if (cli_parse(argc, argv, opts, HELP, pos, 1) != 1) die("needs SERIES (see ae windows --help)");
    if (!spec.len) die("needs --len L, the steps of a window (see ae windows --help)");
    spec.tail = (ae_window_tail)tail;
    if (!out || !strcmp(out, "-")) out = "-", stdout_is_data = 1;
    const named outs[] = {{"-o", out}, {"--starts", starts_out}};
    const named ins[] = {{"SERIES", pos[0]}};
    check_outputs(outs, 2, ins, 1);
    ae_data d = load_data(pos[0]);
    size_t count = 0;
    float *w = cut_series(&d, pos[0], &spec, &count);
    write_rows(out, w, count, spec.len * d.cols);
    if (starts_out) {
        size_t *s = malloc(count * sizeof(size_t));
        float *sf = malloc(count * sizeof(float));
        if (!s || !sf) die("out of memory");
        check(ae_window_starts(d.rows, &spec, s, count), "windows");
        for (size_t i = 0; i < count; i++) sf[i] = (float)s[i]; /* exact below 2^24 points */
        write_rows(starts_out, sf, count, 1);
        free(s);
        free(sf);
    }
    report("wrote %s: %zu windows of %zu steps x %zu features (every %zu steps, %s) from %zu points\n", out, count,
           spec.len, d.cols, spec.stride, tail_words(spec.tail), d.rows);
    free(w);
    ae_data_free(&d);
    return 0;
}

/* The model's window length for a series of cols columns: a recurrent model's seq_len (its
 * seq_features must be cols), else input_dim / cols, which must divide. */
static size_t window_len(const ae_model *m, const char *model, const char *series, size_t cols) {
    ae_config c;
    check(ae_get_config(m, &c), "score");
    if (c.rnn != AE_RNN_NONE) {
        if (c.seq_features != cols)
            die("%s has %zu columns but the sequence model %s takes steps of %zu features", series, cols, model,
                c.seq_features);
        return c.seq_len;
    }
    if (c.input_dim % cols != 0)
        die("%s has %zu columns, which do not divide the model's rows of %zu values into steps", series, cols,
            c.input_dim);
    return c.input_dim / cols;
}

/* ae score --series: per-point scores [n x 2] (worst, mean) of the windows covering each
 * point, from the windows' scores or (per_step) from the errors of the steps on the point. */
void score_series(const model_args *a, const ae_model *m, const ae_data *d) {
    const ae_window_spec spec = {window_len(m, a->pos[0], a->pos[1], d->cols), a->stride, (ae_window_tail)a->tail};
    size_t count = 0;
    float *w = cut_series(d, a->pos[1], &spec, &count);
    /* one block: window scores [count], and for --per-step the errors per value and per step */
    const size_t values = a->per_step ? count * spec.len * d->cols : 0, steps = a->per_step ? count * spec.len : 0;
    if (values > SIZE_MAX / sizeof(float) / 2 - count - steps - 4 * d->rows) die("out of memory");
    float *block = malloc((count + values + steps + 4 * d->rows) * sizeof(float));
    if (!block) die("out of memory");
    float *win_scores = block, *err = block + count, *vals = err + values, *points = vals + steps;
    float *worst = points + 2 * d->rows, *mean = worst + d->rows;
    if (a->per_step) { /* errors per value, then per step (the mean over the step's features) */
        check(ae_score_features(m, w, count, err), "score");
        check(ae_window_step_errors(err, count, spec.len, d->cols, vals), "score");
        for (size_t i = 0; i < count; i++) {
            double s = 0.0;
            for (size_t t = 0; t < spec.len; t++) s += vals[i * spec.len + t];
            win_scores[i] = (float)(s / (double)spec.len);
        }
        check(ae_window_steps_to_points(vals, count, d->rows, &spec, worst, mean), "score");
    } else {
        check(ae_score(m, w, count, win_scores), "score");
        check(ae_windows_to_points(win_scores, count, d->rows, &spec, worst, mean), "score");
    }
    size_t uncovered = 0;
    for (size_t t = 0; t < d->rows; t++) {
        points[2 * t] = worst[t];
        points[2 * t + 1] = mean[t];
        uncovered += worst[t] != worst[t]; /* NaN: no window covers it */
    }
    write_rows(a->out, points, d->rows, 2);
    if (a->window_scores) write_rows(a->window_scores, win_scores, count, 1);
    if (a->plot) {
        float t;
        const int have = ae_threshold_get(m, &t, NULL, NULL) == AE_OK;
        plot_scores(a->plot, win_scores, count, t, have);
    }
    fprintf(stderr, "wrote %s: %zu points x (worst, mean) of %zu windows of %zu steps every %zu (%s)%s\n", a->out,
            d->rows, count, spec.len, spec.stride, tail_words(spec.tail), a->per_step ? ", per-step errors" : "");
    if (uncovered) fprintf(stderr, "%zu points lie in no window: their scores are NaN\n", uncovered);
    free(w);
    free(block);
}
