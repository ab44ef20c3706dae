/* Time-series windows: the cut and both mappings back to time points against naive loops for
 * every small (n, f, len, stride, tail), the refusals with their reasons, and per-step errors
 * against ae_score through a model. */
#include "test_util.h"

#include <stdint.h>
#include <string.h>

#include "ae.h"

/* Naive: windows at 0, stride, ... while they fit, then (AE_TAIL_END) one ending at n when
 * the last one does not. Returns the count. */
static size_t naive_starts(size_t n, size_t len, size_t stride, ae_window_tail tail, size_t *starts) {
    size_t c = 0;
    for (size_t s = 0; s + len <= n; s += stride) starts[c++] = s;
    if (tail == AE_TAIL_END && starts[c - 1] + len < n) starts[c++] = n - len;
    return c;
}

/* Naive mapping: every window that covers point t, by brute force; per 1 or len values a
 * window. NaN where none does. */
static void naive_points(const float *v, size_t per, const size_t *starts, size_t count, size_t n, size_t len,
                         float *worst, float *mean) {
    for (size_t t = 0; t < n; t++) {
        double sum = 0.0;
        float most = 0.0f;
        size_t c = 0;
        for (size_t w = 0; w < count; w++) {
            if (t < starts[w] || t >= starts[w] + len) continue;
            const float s = per == 1 ? v[w] : v[w * len + t - starts[w]];
            most = c == 0 || s > most ? s : most;
            sum += s;
            c++;
        }
        worst[t] = c ? most : NAN;
        mean[t] = c ? (float)(sum / (double)c) : NAN;
    }
}

static void assert_same_or_both_nan(const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (isnan(a[i]) || isnan(b[i]))
            assert_true(isnan(a[i]) && isnan(b[i]));
        else
            assert_close(a[i], b[i], 1e-6, 1e-6);
    }
}

#define MAX_N 26
#define MAX_F 3

/* One (n, f, len, stride, tail) against the naive loops. */
static void check_case(size_t n, size_t f, size_t len, size_t stride, ae_window_tail tail) {
    static float x[MAX_N * MAX_F], cut[MAX_N * MAX_N * MAX_F], want_cut[MAX_N * MAX_N * MAX_F];
    static float scores[MAX_N], steps[MAX_N * MAX_N], w1[MAX_N], m1[MAX_N], w2[MAX_N], m2[MAX_N];
    static size_t starts[MAX_N + 1], want_starts[MAX_N + 1];
    const ae_window_spec spec = {len, stride, tail};
    size_t count = 0;
    assert_int_equal(ae_window_count(n, &spec, &count), AE_OK);
    const size_t want = naive_starts(n, len, stride, tail, want_starts);
    assert_int_equal(count, want);
    assert_int_equal(ae_window_starts(n, &spec, starts, count), AE_OK);
    assert_memory_equal(starts, want_starts, count * sizeof(size_t));
    for (size_t i = 0; i < n * f; i++) x[i] = (float)i + 0.25f; /* every value distinct */
    assert_int_equal(ae_windows_cut(x, n, f, &spec, cut, count), AE_OK);
    for (size_t w = 0; w < count; w++)
        for (size_t t = 0; t < len; t++)
            for (size_t j = 0; j < f; j++) want_cut[(w * len + t) * f + j] = x[(want_starts[w] + t) * f + j];
    assert_memory_equal(cut, want_cut, count * len * f * sizeof(float));
    uint32_t seed = (uint32_t)(n * 1000003u + len * 101u + stride * 7u + (uint32_t)tail);
    test_fill(scores, count, seed, -1.0f, 3.0f);
    test_fill(steps, count * len, seed + 1, 0.0f, 2.0f);
    assert_int_equal(ae_windows_to_points(scores, count, n, &spec, w1, m1), AE_OK);
    naive_points(scores, 1, want_starts, count, n, len, w2, m2);
    assert_same_or_both_nan(w1, w2, n);
    assert_same_or_both_nan(m1, m2, n);
    assert_int_equal(ae_window_steps_to_points(steps, count, n, &spec, w1, m1), AE_OK);
    naive_points(steps, len, want_starts, count, n, len, w2, m2);
    assert_same_or_both_nan(w1, w2, n);
    assert_same_or_both_nan(m1, m2, n);
}

static void test_against_naive_loops(void **state) {
    (void)state;
    size_t cases = 0;
    for (size_t n = 1; n <= MAX_N; n++)
        for (size_t len = 1; len <= n; len++) /* len == n included */
            for (size_t stride = 1; stride <= len + 3; stride++) /* stride > len included */
                for (size_t f = 1; f <= MAX_F; f += 2) /* f = 1 and 3 */
                    for (int tail = 0; tail < 2; tail++, cases++) check_case(n, f, len, stride, (ae_window_tail)tail);
    assert_true(cases > 10000);
}

static void test_tail_end_covers_every_point(void **state) {
    (void)state;
    /* n 10, len 4, stride 4: regular windows [0, 4) and [4, 8); the tail window [6, 10) */
    const ae_window_spec end = {4, 4, AE_TAIL_END}, drop = {4, 4, AE_TAIL_DROP};
    size_t starts[3], count = 0;
    assert_int_equal(ae_window_count(10, &end, &count), AE_OK);
    assert_int_equal(count, 3);
    assert_int_equal(ae_window_starts(10, &end, starts, 3), AE_OK);
    assert_true(starts[0] == 0 && starts[1] == 4 && starts[2] == 6);
    const float scores[3] = {1.0f, 2.0f, 4.0f};
    float worst[10], mean[10];
    assert_int_equal(ae_windows_to_points(scores, 3, 10, &end, worst, mean), AE_OK);
    for (size_t t = 0; t < 10; t++) assert_false(isnan(worst[t]) || isnan(mean[t]));
    assert_close(worst[3], 1.0, 0.0, 0.0); /* window 0 alone */
    assert_close(mean[5], 2.0, 0.0, 0.0); /* window 1 alone */
    assert_close(worst[6], 4.0, 0.0, 0.0); /* windows 1 and 2 */
    assert_close(mean[6], 3.0, 0.0, 0.0);
    assert_close(mean[9], 4.0, 0.0, 0.0); /* the tail window alone */
    /* dropped: two windows, points 8 and 9 not scored */
    assert_int_equal(ae_window_count(10, &drop, &count), AE_OK);
    assert_int_equal(count, 2);
    assert_int_equal(ae_windows_to_points(scores, 2, 10, &drop, worst, NULL), AE_OK);
    assert_close(worst[6], 2.0, 0.0, 0.0);
    assert_true(isnan(worst[8]) && isnan(worst[9]));
    /* a tail that fits exactly adds no window: n 10, len 4, stride 2 -> 0 2 4 6 */
    const ae_window_spec exact = {4, 2, AE_TAIL_END};
    assert_int_equal(ae_window_count(10, &exact, &count), AE_OK);
    assert_int_equal(count, 4);
}

static void test_gaps_when_stride_exceeds_len(void **state) {
    (void)state;
    /* n 9, len 2, stride 4: windows [0,2) [4,6), tail [7,9); points 2, 3 and 6 uncovered */
    const ae_window_spec spec = {2, 4, AE_TAIL_END};
    size_t count = 0;
    assert_int_equal(ae_window_count(9, &spec, &count), AE_OK);
    assert_int_equal(count, 3);
    const float scores[3] = {1.0f, 2.0f, 3.0f};
    float mean[9];
    assert_int_equal(ae_windows_to_points(scores, 3, 9, &spec, NULL, mean), AE_OK);
    assert_true(isnan(mean[2]) && isnan(mean[3]) && isnan(mean[6]));
    assert_close(mean[5], 2.0, 0.0, 0.0);
    assert_close(mean[8], 3.0, 0.0, 0.0);
}

static void test_refusals(void **state) {
    (void)state;
    float x[20] = {0}, out[64], worst[10];
    size_t count = 0, starts[8];
    ae_window_spec spec = {12, 1, AE_TAIL_END};
    assert_int_equal(ae_window_count(10, &spec, &count), AE_EINVAL); /* n < len */
    assert_non_null(strstr(ae_last_error(), "a series of 10 points is shorter than one window of 12 steps"));
    assert_int_equal(ae_windows_cut(x, 10, 2, &spec, out, 1), AE_EINVAL);
    assert_non_null(strstr(ae_last_error(), "shorter than one window"));
    spec = (ae_window_spec){0, 1, AE_TAIL_END};
    assert_int_equal(ae_window_count(10, &spec, &count), AE_EINVAL);
    assert_non_null(strstr(ae_last_error(), "window length 0"));
    spec = (ae_window_spec){3, 0, AE_TAIL_END};
    assert_int_equal(ae_window_count(10, &spec, &count), AE_EINVAL);
    assert_non_null(strstr(ae_last_error(), "stride 0"));
    spec = (ae_window_spec){3, 1, (ae_window_tail)7};
    assert_int_equal(ae_window_count(10, &spec, &count), AE_EINVAL);
    assert_non_null(strstr(ae_last_error(), "tail 7"));
    spec = (ae_window_spec){3, 1, AE_TAIL_END};
    assert_int_equal(ae_window_count(0, &spec, &count), AE_EINVAL);
    assert_non_null(strstr(ae_last_error(), "empty"));
    assert_int_equal(ae_window_count(10, NULL, &count), AE_EINVAL);
    assert_int_equal(ae_window_count(10, &spec, NULL), AE_EINVAL);
    /* the count must be the series' own: 10 points, len 3, stride 1 give 8 */
    assert_int_equal(ae_windows_cut(x, 10, 2, &spec, out, 7), AE_EINVAL);
    assert_non_null(strstr(ae_last_error(), "7 windows given, but a series of 10 points gives 8"));
    assert_int_equal(ae_window_starts(10, &spec, starts, 9), AE_EINVAL);
    assert_int_equal(ae_windows_cut(NULL, 10, 2, &spec, out, 8), AE_EINVAL);
    assert_int_equal(ae_windows_cut(x, 10, 0, &spec, out, 8), AE_EINVAL);
    assert_non_null(strstr(ae_last_error(), "0 features"));
    /* sizes past the address space: refused before any memory is touched */
    assert_int_equal(ae_windows_cut(x, 10, SIZE_MAX / 2, &spec, out, 8), AE_EINVAL);
    assert_non_null(strstr(ae_last_error(), "overflow"));
    assert_int_equal(ae_window_step_errors(x, SIZE_MAX / 4, 4, 2, out), AE_EINVAL);
    assert_non_null(strstr(ae_last_error(), "overflow"));
    assert_int_equal(ae_window_step_errors(x, 2, 0, 2, out), AE_EINVAL);
    /* both outputs NULL; a non-finite score, named by its window */
    float scores[8] = {0};
    assert_int_equal(ae_windows_to_points(scores, 8, 10, &spec, NULL, NULL), AE_EINVAL);
    scores[5] = NAN;
    assert_int_equal(ae_windows_to_points(scores, 8, 10, &spec, worst, NULL), AE_ENONFINITE);
    assert_non_null(strstr(ae_last_error(), "window 5"));
    float steps[24] = {0};
    steps[3 * 3 + 1] = INFINITY;
    assert_int_equal(ae_window_steps_to_points(steps, 8, 10, &spec, worst, NULL), AE_ENONFINITE);
    assert_non_null(strstr(ae_last_error(), "window 3"));
    /* a success clears the detail */
    assert_int_equal(ae_window_count(10, &spec, &count), AE_OK);
    assert_string_equal(ae_last_error(), "");
}

/* Per-step errors are means over a step's features: their mean over a window is ae_score's
 * value for it, and mapped back to points they agree with a naive loop. */
static void test_step_errors_through_a_model(void **state) {
    (void)state;
    enum { N = 40, F = 3, LEN = 5, STRIDE = 2 };
    float series[N * F];
    test_fill(series, N * F, 77, 0.1f, 0.9f);
    const ae_window_spec spec = {LEN, STRIDE, AE_TAIL_END};
    size_t count = 0;
    assert_int_equal(ae_window_count(N, &spec, &count), AE_OK);
    float *win = malloc(count * LEN * F * sizeof(float)), *err = malloc(count * LEN * F * sizeof(float));
    float *steps = malloc(count * LEN * sizeof(float)), *score = malloc(count * sizeof(float));
    assert_true(win && err && steps && score);
    assert_int_equal(ae_windows_cut(series, N, F, &spec, win, count), AE_OK);
    ae_config c = ae_config_default();
    c.input_dim = LEN * F;
    c.n_hidden = 1;
    c.hidden[0] = 8;
    c.code_dim = 3;
    ae_model *m = NULL;
    assert_int_equal(ae_create(&m, &c), AE_OK);
    assert_int_equal(ae_score_features(m, win, count, err), AE_OK);
    assert_int_equal(ae_score(m, win, count, score), AE_OK);
    assert_int_equal(ae_window_step_errors(err, count, LEN, F, steps), AE_OK);
    for (size_t i = 0; i < count; i++) {
        double s = 0.0;
        for (size_t t = 0; t < LEN; t++) {
            const float *e = err + (i * LEN + t) * F;
            assert_close(steps[i * LEN + t], (e[0] + e[1] + e[2]) / 3.0, 1e-7, 1e-5);
            s += steps[i * LEN + t];
        }
        assert_close(s / LEN, score[i], 1e-7, 1e-5);
    }
    ae_free(m);
    free(win);
    free(err);
    free(steps);
    free(score);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_naive_loops),          cmocka_unit_test(test_tail_end_covers_every_point),
        cmocka_unit_test(test_gaps_when_stride_exceeds_len), cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_step_errors_through_a_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
