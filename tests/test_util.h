/* Shared helpers for the cmocka tests. Float checks fail on NaN and Inf, unlike cmocka's
 * assert_float_equal. */
#ifndef AE_TEST_UTIL_H
#define AE_TEST_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* |a - b| <= abs_tol + rel_tol * max(|a|, |b|), and both finite. */
#define assert_close(a, b, abs_tol, rel_tol) \
    ae_test_close((double)(a), (double)(b), (abs_tol), (rel_tol), #a, #b, __FILE__, __LINE__)

static inline void ae_test_close(double a, double b, double abs_tol, double rel_tol, const char *sa,
                                 const char *sb, const char *file, int line) {
    double scale = fabs(a) > fabs(b) ? fabs(a) : fabs(b);
    if (!isfinite(a) || !isfinite(b) || fabs(a - b) > abs_tol + rel_tol * scale) {
        print_error("%s:%d: %s = %.9g and %s = %.9g differ beyond %.3g + %.3g rel\n", file, line, sa, a,
                    sb, b, abs_tol, rel_tol);
        _fail(file, line);
    }
}

/* Deterministic test data: a small LCG, uniform in [lo, hi). */
static inline float test_uniform(uint32_t *state, float lo, float hi) {
    *state = *state * 1664525u + 1013904223u;
    return lo + (hi - lo) * (float)(*state >> 8) / 16777216.0f;
}

static inline void test_fill(float *x, size_t n, uint32_t seed, float lo, float hi) {
    uint32_t s = seed;
    for (size_t i = 0; i < n; i++) x[i] = test_uniform(&s, lo, hi);
}

#endif
