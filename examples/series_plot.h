/* series_plot: a PNG of a multivariate series for examples/series_anomaly.c: each channel as
 * a line on a band of its own, the true anomaly spans shaded red behind them, then the
 * per-point score (log scale) with the threshold as a line, and two strips: the true
 * anomalies (red) and the flagged points (blue). */
#ifndef AE_EXAMPLE_SERIES_PLOT_H
#define AE_EXAMPLE_SERIES_PLOT_H

#include <stddef.h>

/* x [n x channels], label [n] (0 normal), score [n] (NaN where not scored), flag [n] (0/1).
 * Returns 0, or -1 with a line on stderr. */
int series_plot_png(const char *path, const float *x, size_t n, size_t channels, const unsigned char *label,
                    const float *score, float threshold, const unsigned char *flag);

#endif
