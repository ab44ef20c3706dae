/* plots: loss curves and score histograms, drawn by gnuplot. */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* mkstemp */
#include "plots.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_io.h"

/* Draws the train and validation loss curves from the history CSV with gnuplot. */
void plot_history(const char *history, const char *png, int have_val) {
    if (system("command -v gnuplot >/dev/null 2>&1") != 0) {
        fprintf(stderr, "ae train: gnuplot is not installed (apt-get install gnuplot-nox): no %s\n", png);
        return;
    }
    FILE *g = popen("gnuplot", "w");
    if (!g) {
        fprintf(stderr, "ae train: cannot start gnuplot: no %s\n", png);
        return;
    }
    fprintf(g,
            "set terminal png size 800,500\nset output '%s'\nset datafile separator ','\n"
            "set key autotitle columnhead\nset xlabel 'epoch'\nset ylabel 'loss'\nset grid\n"
            "plot '%s' using 1:2 with linespoints title 'train'%s\n",
            png, history, have_val ? ", '' using 1:6 with linespoints title 'validation'" : "");
    if (pclose(g) != 0)
        fprintf(stderr, "ae train: gnuplot failed: no %s\n", png);
    else
        fprintf(stderr, "wrote %s\n", png);
}

/* The histogram of anomaly scores drawn by gnuplot: rows below the threshold and rows above
 * it in two colours, the threshold as a vertical line (when the model has one). */
void plot_scores(const char *png, const float *scores, size_t n, float threshold, int have_threshold) {
    if (system("command -v gnuplot >/dev/null 2>&1") != 0) {
        fprintf(stderr, "ae %s: gnuplot is not installed (apt-get install gnuplot-nox): no %s\n", command_name, png);
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
        fprintf(stderr, "ae %s: cannot start gnuplot: no %s\n", command_name, png);
        return;
    }
    fprintf(g,
            "set terminal png size 800,500\nset output '%s'\nset style fill solid 0.6 border -1\n"
            "set xlabel 'reconstruction error (score)%s'\nset ylabel 'rows'\nset grid\nw = %.9g\n%s\n",
            png, logx ? ", log scale" : "", width,
            logx ? "set logscale x\nset boxwidth 0.9 relative\nbin(x) = 10 ** (w * floor(log10(x) / w) + w / 2)"
                 : "bin(x) = w * floor(x / w) + w / 2");
    if (have_threshold)
        fprintf(g,
                "set arrow from %.9g, graph 0 to %.9g, graph 1 nohead lw 2 lc rgb 'black'\n"
                "set label 'threshold %.4g' at %.9g, graph 0.95 offset 1,0\n"
                "plot '%s' using (bin($1)):($2 == 0 ? 1 : 0) smooth frequency with boxes lc rgb '#4477aa' "
                "title 'normal', '' using (bin($1)):($2 == 1 ? 1 : 0) smooth frequency with boxes lc rgb "
                "'#cc3311' title 'flagged'\n",
                (double)threshold, (double)threshold, (double)threshold, (double)threshold, data);
    else
        fprintf(g, "plot '%s' using (bin($1)):(1) smooth frequency with boxes lc rgb '#4477aa' title 'rows'\n", data);
    const int failed = pclose(g) != 0;
    unlink(data);
    if (failed)
        fprintf(stderr, "ae %s: gnuplot failed: no %s\n", command_name, png);
    else
        fprintf(stderr, "wrote %s\n", png);
}
