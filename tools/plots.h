/* plots: the PNG pictures the ae command draws with gnuplot, when it is installed (without it,
 * a line on stderr says so and the command goes on). */
#ifndef AE_TOOLS_PLOTS_H
#define AE_TOOLS_PLOTS_H

#include <stddef.h>

/* ae train --plot: the train and validation loss curves of the --history CSV. */
void plot_history(const char *history, const char *png, int have_val);
/* ae score/flag --plot: the histogram of the scores, rows above the threshold apart and the
 * threshold as a line (when have_threshold). */
void plot_scores(const char *png, const float *scores, size_t n, float threshold, int have_threshold);

#endif
