/* series_gen: a generated multivariate time series with injected, labelled anomalies, for
 * examples/series_anomaly.c. No Debian package ships a recorded series with anomaly labels
 * (searched: anomaly, ecg, physionet, wfdb, outlier, changepoint, "time series"), so the data
 * is made here, from a seed, and says so.
 *
 * Normal behaviour, SERIES_CHANNELS = 3 channels at integer times t, each with Gaussian noise
 * of standard deviation 0.02:
 *   0: a sine,     0.5 + 0.3 sin(2 pi t / 50)
 *   1: a sawtooth of period 80: up from 0.2 to 0.8 over 70 steps, back down over 10
 *   2: two sines,  0.5 + 0.2 sin(2 pi t / 33) + 0.1 sin(2 pi t / 7)
 * Anomalies, each an event on one channel (chosen at random) over a span of points, the kinds
 * taken in turn, events apart by 2 to 4 gap lengths of normal points:
 *   SPIKE        1 to 3 points moved by +-0.45
 *   LEVEL_SHIFT  40 to 80 points moved by +-0.25
 *   FREQUENCY    60 to 100 points where the channel runs at 2.5 times its speed (its phase
 *                jumps where the span starts and ends: a real change of frequency would too)
 *   NOISE_BURST  40 to 80 points with Gaussian noise of standard deviation 0.15 added
 * label[t] is the kind of the event covering point t, 0 (SERIES_NORMAL) for normal points. */
#ifndef AE_EXAMPLE_SERIES_GEN_H
#define AE_EXAMPLE_SERIES_GEN_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#define SERIES_CHANNELS 3
enum { SERIES_NORMAL, SERIES_SPIKE, SERIES_LEVEL_SHIFT, SERIES_FREQUENCY, SERIES_NOISE_BURST, SERIES_KINDS };
static const char *const series_kind_names[SERIES_KINDS] = {"normal", "spike", "level shift", "frequency change",
                                                            "noise burst"};

typedef struct series_rng {
    uint64_t s;
} series_rng;

static inline double series_uniform(series_rng *r) { /* splitmix64, [0, 1) */
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (double)((z ^ (z >> 31)) >> 11) / 9007199254740992.0;
}

static inline double series_normal(series_rng *r) { /* Box-Muller */
    const double u = series_uniform(r), v = series_uniform(r);
    return sqrt(-2.0 * log(1.0 - u)) * cos(6.283185307179586 * v);
}

static inline size_t series_between(series_rng *r, size_t lo, size_t hi) { /* [lo, hi] */
    return lo + (size_t)(series_uniform(r) * (double)(hi - lo + 1));
}

/* Channel c's clean value at time t, running `speed` times its normal pace. */
static inline double series_clean(int c, double t, double speed) {
    const double pi2 = 6.283185307179586, u = t * speed;
    if (c == 0) return 0.5 + 0.3 * sin(pi2 * u / 50.0);
    if (c == 1) { /* a sawtooth whose fall takes 10 steps: a jump is not learnable from noise */
        const double p = u - 80.0 * floor(u / 80.0);
        return p < 70.0 ? 0.2 + 0.6 * p / 70.0 : 0.8 - 0.6 * (p - 70.0) / 10.0;
    }
    return 0.5 + 0.2 * sin(pi2 * u / 33.0) + 0.1 * sin(pi2 * u / 7.0);
}

/* Writes n points [n x SERIES_CHANNELS] starting at time t0 into x; with label not NULL,
 * injects anomalies (events spaced by 2 to 4 times gap normal points, the first after one
 * gap) and writes each point's kind; label NULL: a normal series. Returns the events made. */
static inline size_t series_generate(float *x, unsigned char *label, size_t n, size_t t0, size_t gap, uint64_t seed) {
    series_rng r = {seed};
    for (size_t t = 0; t < n; t++) {
        for (int c = 0; c < SERIES_CHANNELS; c++)
            x[t * SERIES_CHANNELS + c] = (float)(series_clean(c, (double)(t0 + t), 1.0) + 0.02 * series_normal(&r));
        if (label) label[t] = SERIES_NORMAL;
    }
    if (!label) return 0;
    size_t events = 0;
    for (size_t at = gap;; events++) {
        const int kind = 1 + (int)(events % 4), c = (int)series_between(&r, 0, SERIES_CHANNELS - 1);
        const double sign = series_uniform(&r) < 0.5 ? -1.0 : 1.0;
        const size_t len = kind == SERIES_SPIKE       ? series_between(&r, 1, 3)
                           : kind == SERIES_FREQUENCY ? series_between(&r, 60, 100)
                                                      : series_between(&r, 40, 80);
        if (at + len + gap > n) break;
        for (size_t t = at; t < at + len; t++) {
            float *v = &x[t * SERIES_CHANNELS + c];
            if (kind == SERIES_SPIKE) *v += (float)(0.45 * sign);
            if (kind == SERIES_LEVEL_SHIFT) *v += (float)(0.25 * sign);
            if (kind == SERIES_FREQUENCY)
                *v = (float)(series_clean(c, (double)(t0 + t), 2.5) + 0.02 * series_normal(&r));
            if (kind == SERIES_NOISE_BURST) *v += (float)(0.15 * series_normal(&r));
            label[t] = (unsigned char)kind;
        }
        at += len + series_between(&r, 2 * gap, 4 * gap);
    }
    return events;
}

#endif
