/* Shared by ae_bench and fann_bench: a monotonic clock and a comparison for qsort. */
#ifndef AE_BENCH_TIMING_H
#define AE_BENCH_TIMING_H

#include <time.h>

static inline double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static inline int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#endif
