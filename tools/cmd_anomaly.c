/* ae threshold (an anomaly threshold kept in the model) and ae flag (0/1 per row over it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_io.h"
#include "cli_opts.h"
#include "commands.h"
#include "plots.h"

/* ae threshold MODEL DATA --quantile Q | --mean-std K, or MODEL --value T: the anomaly
 * threshold kept in (a copy of) the model, which ae flag then uses. */
int cmd_threshold(int argc, char **argv) {
    static const char HELP[] =
        "usage: ae threshold MODEL NORMAL_DATA (--quantile Q | --mean-std K) -o MODEL_OUT\n"
        "       ae threshold MODEL --value T -o MODEL_OUT\n"
        "  --quantile Q   the Q-quantile (0..1) of the reconstruction errors of NORMAL_DATA\n"
        "  --mean-std K   their mean + K standard deviations\n"
        "  --value T      a threshold of your choice\n"
        "  --contamination C  the share C (0..0.5] of new normal rows to flag: the (1 - C)-quantile\n";
    const char *v[5] = {NULL, NULL, NULL, NULL, NULL}, *pos[2] = {NULL, NULL};
    const cli_opt opts[] = {
        /* the values are read below, after the one method is known */
        {.name = "-o", .alias = "--output", .kind = CLI_TEXT, .to = &v[0]},
        {.name = "--quantile", .kind = CLI_TEXT, .to = &v[1]},
        {.name = "--mean-std", .kind = CLI_TEXT, .to = &v[2]},
        {.name = "--value", .kind = CLI_TEXT, .to = &v[3]},
        {.name = "--contamination", .kind = CLI_TEXT, .to = &v[4]},
        {.name = NULL},
    };
    const int npos = cli_parse(argc, argv, opts, HELP, pos, 2), given = !!v[1] + !!v[2] + !!v[3] + !!v[4];
    const char *out = v[0];
    if (given > 1) die("give one of --quantile, --mean-std, --contamination and --value");
    static const int METHODS[] = {AE_THRESHOLD_NONE, AE_THRESHOLD_QUANTILE, AE_THRESHOLD_MEAN_STD, AE_THRESHOLD_MANUAL,
                                  AE_THRESHOLD_CONTAMINATION};
    const int k = v[1] ? 1 : v[2] ? 2 : v[3] ? 3 : v[4] ? 4 : 0, method = METHODS[k];
    const double param = k ? parse_float(opts[k].name, v[k]) : 0.0;
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
    if (rows)
        report("threshold %.9g (from the errors of %zu rows of %s)\n", (double)t, rows, pos[1]);
    else
        report("threshold %.9g\n", (double)t);
    fprintf(stderr, "wrote %s\n", out);
    ae_free(m);
    return 0;
}

/* ae flag MODEL DATA -o FLAGS [--scores SCORES]: 1 for each row above the model's threshold. */
int cmd_flag(int argc, char **argv) {
    static const char HELP[] = "usage: ae flag MODEL DATA [-o FLAGS(.npy|.csv)] [--scores SCORES(.npy|.csv)]\n"
                               "  DATA - reads standard input; without -o (or with -o -) CSV goes to standard output\n"
                               "  1 for each row whose reconstruction error is above the model's threshold\n"
                               "  (set by ae threshold), else 0\n"
                               "  --plot FILE.png  a histogram of the scores, flagged rows apart, and the threshold\n";
    const char *out = NULL, *scores_out = NULL, *plot = NULL, *pos[2] = {NULL, NULL};
    const cli_opt opts[] = {
        {.name = "-o", .alias = "--output", .kind = CLI_TEXT, .to = &out},
        {.name = "--scores", .kind = CLI_TEXT, .to = &scores_out},
        {.name = "--plot", .kind = CLI_TEXT, .to = &plot},
        {.name = NULL},
    };
    const int npos = cli_parse(argc, argv, opts, HELP, pos, 2);
    if (npos != 2) die("needs MODEL and DATA (see ae flag --help)");
    if (!out || !strcmp(out, "-")) out = "-", stdout_is_data = 1; /* no -o: standard output */
    const named outs[] = {{"-o", out}, {"--scores", scores_out}, {"--plot", plot}};
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
    if (plot) plot_scores(plot, scores, d.rows, t, 1);
    report("flagged %zu of %zu rows (threshold %.9g)\n", flagged, d.rows, (double)t);
    free(as_float);
    free(scores);
    free(flags);
    ae_data_free(&d);
    ae_free(m);
    return 0;
}
