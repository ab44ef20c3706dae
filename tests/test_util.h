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

static inline void ae_test_close(double a, double b, double abs_tol, double rel_tol, const char *sa, const char *sb,
                                 const char *file, int line) {
    double scale = fabs(a) > fabs(b) ? fabs(a) : fabs(b);
    if (!isfinite(a) || !isfinite(b) || fabs(a - b) > abs_tol + rel_tol * scale) {
        print_error("%s:%d: %s = %.9g and %s = %.9g differ beyond %.3g + %.3g rel\n", file, line, sa, a, sb, b, abs_tol,
                    rel_tol);
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

/* n rows of d <= 64 values near 0.5 on a random 3-dimensional subspace: data an autoencoder
 * with a code of 3 or more can learn. malloc'd; the caller frees. */
static inline float *test_low_rank_rows(size_t n, size_t d, uint32_t seed) {
    float *x = malloc(n * d * sizeof(float)), basis[3 * 64];
    assert_non_null(x);
    assert_true(d <= 64);
    test_fill(basis, 3 * d, seed, -1, 1);
    uint32_t s = seed + 1;
    for (size_t i = 0; i < n; i++) {
        float a = test_uniform(&s, -1, 1), b = test_uniform(&s, -1, 1), c = test_uniform(&s, -1, 1);
        for (size_t j = 0; j < d; j++)
            x[i * d + j] = 0.5f + 0.15f * (a * basis[j] + b * basis[d + j] + c * basis[2 * d + j]);
    }
    return x;
}

#endif
