/* ae encode, decode, reconstruct and score (MODEL DATA -o OUT: rows through the model, one
 * row out for each row in) and ae sample (MODEL -n N -o OUT: draws from a VAE). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_io.h"
#include "cli_opts.h"
#include "commands.h"
#include "plots.h"

#ifdef AE_HAVE_PNG
#include "png_grid.h"
#endif

model_args parse_model_args(int argc, char **argv, int want, const char *help) {
    model_args a = {.pos = {NULL, NULL}, .stride = 1, .tail = AE_TAIL_END};
    int series_opt = 0; /* one of the series options was given: series mode */
    const cli_opt opts[] = {
        {.name = "-o", .alias = "--output", .kind = CLI_TEXT, .to = &a.out},
        {.name = "--png", .kind = CLI_TEXT, .to = &a.png},
        {.name = "--image-shape", .kind = CLI_TEXT, .to = &a.shape},
        {.name = "-n", .kind = CLI_SIZE, .to = &a.n, .lo = 1, .hi = 1000000},
        {.name = "--plot", .kind = CLI_TEXT, .to = &a.plot},
        {.name = "--series", .kind = CLI_SET, .to = &a.series},
        {.name = "--stride", .kind = CLI_SIZE, .to = &a.stride, .lo = 1, .hi = 1 << 30, .given = &series_opt},
        {.name = "--tail", .kind = CLI_CHOICE, .to = &a.tail, .names = TAIL_NAMES, .given = &series_opt},
        {.name = "--per-step", .kind = CLI_SET, .to = &a.per_step},
        {.name = "--window-scores", .kind = CLI_TEXT, .to = &a.window_scores},
        {.name = NULL},
    };
    a.npos = cli_parse(argc, argv, opts, help, a.pos, 2);
    a.series |= series_opt || a.per_step || a.window_scores;
    if (a.npos != want) die("wrong number of arguments (see ae %s --help)", command_name);
    return a;
}

/* Optional picture: rows as images, the top rows of a grid of 16 columns. */
static void maybe_png(const model_args *a, const float *x, size_t rows, size_t cols, const float *above) {
    if (!a->png) return;
#ifdef AE_HAVE_PNG
    size_t h = 0, w = 0;
    if (a->shape) {
        if (sscanf(a->shape, "%zux%zu", &h, &w) != 2 || h * w != cols)
            die("--image-shape %s does not give %zu pixels", a->shape, cols);
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

int cmd_rows(int argc, char **argv) {
    static const char HELP[] = "usage: ae encode|decode|reconstruct|score MODEL DATA [-o OUT(.npy|.csv)]\n"
                               "       reconstruct also: --png FILE [--image-shape HxW] (16 inputs over outputs)\n"
                               "       score also: --plot FILE.png (a histogram of the scores and the model's\n"
                               "       threshold, drawn by gnuplot when it is installed)\n"
                               "       score also, DATA a series (one time point a row):\n"
                               "         --series        cut DATA into windows of the model's length (its input\n"
                               "                         width / DATA's columns; a sequence model's steps) and\n"
                               "                         write per point the worst and the mean score of the\n"
                               "                         windows covering it (2 columns; NaN where none does)\n"
                               "         --stride S      steps between windows (default 1)\n"
                               "         --tail end|drop a last window aligned to the series' end (default) or none\n"
                               "         --per-step      each window gives a point its step's error (the mean over\n"
                               "                         the step's columns) instead of the window's score\n"
                               "         --window-scores FILE  also write each window's score\n"
                               "       (--stride, --tail, --per-step and --window-scores imply --series)\n"
                               "  DATA - reads standard input; without -o (or with -o -) CSV goes to standard output\n";
    model_args a = parse_model_args(argc, argv, 2, HELP);
    /* the four differ only in the library call and the width of a row in and out */
    const int encode = !strcmp(command_name, "encode"), decode = !strcmp(command_name, "decode"),
              score = !strcmp(command_name, "score");
    if (a.plot && !score) die("--plot is for ae score and ae flag");
    if (a.series && !score) die("--series, --stride, --tail, --per-step and --window-scores are for ae score");
    if (!a.out || !strcmp(a.out, "-")) a.out = "-", stdout_is_data = 1; /* no -o: standard output */
    const named outs[] = {{"-o", a.out}, {"--png", a.png}, {"--plot", a.plot}, {"--window-scores", a.window_scores}};
    const named ins[] = {{"MODEL", a.pos[0]}, {"DATA", a.pos[1]}};
    check_outputs(outs, 4, ins, 2);
    ae_model *m = load_model(a.pos[0]);
    ae_data d = load_data(a.pos[1]);
    if (a.series) {
        score_series(&a, m, &d);
        ae_data_free(&d);
        ae_free(m);
        return 0;
    }
    need_width(a.pos[1], d.cols, decode ? ae_code_dim(m) : ae_input_dim(m));
    size_t cols = encode ? ae_code_dim(m) : score ? 1 : ae_input_dim(m);
    float *y = malloc(d.rows * cols * sizeof(float));
    if (!y) die("out of memory");
    int rc = encode   ? ae_encode(m, d.x, d.rows, y)
             : decode ? ae_decode(m, d.x, d.rows, y)
             : score  ? ae_score(m, d.x, d.rows, y)
                      : ae_reconstruct(m, d.x, d.rows, y);
    check(rc, command_name);
    write_rows(a.out, y, d.rows, cols);
    if (!encode && !decode && !score) maybe_png(&a, y, d.rows, cols, d.x); /* reconstruct */
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

int cmd_sample(int argc, char **argv) {
    static const char HELP[] = "usage: ae sample MODEL -n N -o OUT(.npy|.csv) [--png FILE [--image-shape HxW]]\n";
    model_args a = parse_model_args(argc, argv, 1, HELP);
    if (!a.out || !a.n) die("needs -n N and -o OUT (see ae sample --help)");
    const named outs[] = {{"-o", a.out}, {"--png", a.png}};
    const named ins[] = {{"MODEL", a.pos[0]}};
    check_outputs(outs, 2, ins, 1);
    ae_model *m = load_model(a.pos[0]);
    size_t d = ae_input_dim(m);
    float *y = malloc(a.n * d * sizeof(float));
    if (!y) die("out of memory");
    int rc = ae_sample(m, a.n, y);
    if (rc == AE_EINVAL) die("%s is not a variational model: only a VAE samples", a.pos[0]);
    check(rc, "sample");
    write_rows(a.out, y, a.n, d);
    fprintf(stderr, "wrote %s: %zu rows of %zu\n", a.out, a.n, d);
    maybe_png(&a, y, a.n, d, NULL);
    free(y);
    ae_free(m);
    return 0;
}
