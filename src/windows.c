/* windows: a long series [n x f] cut into overlapping windows of len steps (one a row,
 * step-major: the row layout of a sequence model), and scores of those windows (one per
 * window, or one per step) mapped back to each time point as the worst and the mean over the
 * windows that cover it. Window i starts at i * stride for i < k = (n - len) / stride + 1;
 * with AE_TAIL_END one more window [n - len, n) covers a tail the others leave out. Nothing
 * here allocates. */
#include <math.h>
#include <string.h>

#include "error.h"
#include "tensor.h"

/* The regular windows (k) and whether a tail window follows them, after checking the spec
 * against a series of n points. */
typedef struct layout {
    size_t n, len, stride, k;
    int tail_window;
} layout;

static int layout_of(size_t n, const ae_window_spec *spec, layout *out) {
    *out = (layout){0, 0, 1, 0, 0};
    if (!spec) return ae_fail(AE_EINVAL, "windows: no window spec (NULL)");
    if (spec->len == 0) return ae_fail(AE_EINVAL, "windows: window length 0 (a window needs at least one step)");
    if (spec->stride == 0) return ae_fail(AE_EINVAL, "windows: stride 0 (windows must move by at least one step)");
    if (spec->tail != AE_TAIL_END && spec->tail != AE_TAIL_DROP)
        return ae_fail(AE_EINVAL, "windows: tail %d is neither AE_TAIL_END nor AE_TAIL_DROP", (int)spec->tail);
    if (n == 0) return ae_fail(AE_EINVAL, "windows: the series is empty (0 points)");
    if (n < spec->len)
        return ae_fail(AE_EINVAL, "windows: a series of %zu points is shorter than one window of %zu steps", n,
                       spec->len);
    const size_t span = n - spec->len;
    *out = (layout){n, spec->len, spec->stride, span / spec->stride + 1,
                    spec->tail == AE_TAIL_END && span % spec->stride != 0};
    return AE_OK;
}

static size_t layout_count(const layout *l) { return l->k + (size_t)l->tail_window; }

static size_t layout_start(const layout *l, size_t i) { return i < l->k ? i * l->stride : l->n - l->len; }

static int count_matches(const layout *l, size_t count) {
    if (count == layout_count(l)) return AE_OK;
    return ae_fail(AE_EINVAL,
                   "windows: %zu windows given, but a series of %zu points gives %zu windows of %zu steps every %zu",
                   count, l->n, layout_count(l), l->len, l->stride);
}

int ae_window_count(size_t n, const ae_window_spec *spec, size_t *count) {
    ae_error_clear();
    if (!count) return ae_fail(AE_EINVAL, "ae_window_count: count is NULL");
    layout l;
    const int rc = layout_of(n, spec, &l);
    if (rc != AE_OK) return rc;
    *count = layout_count(&l);
    return AE_OK;
}

int ae_window_starts(size_t n, const ae_window_spec *spec, size_t *starts, size_t count) {
    ae_error_clear();
    if (!starts) return ae_fail(AE_EINVAL, "ae_window_starts: starts is NULL");
    layout l;
    int rc = layout_of(n, spec, &l);
    if (rc == AE_OK) rc = count_matches(&l, count);
    if (rc != AE_OK) return rc;
    for (size_t i = 0; i < count; i++) starts[i] = layout_start(&l, i);
    return AE_OK;
}

int ae_windows_cut(const float *x, size_t n, size_t f, const ae_window_spec *spec, float *out, size_t count) {
    ae_error_clear();
    if (!x || !out) return ae_fail(AE_EINVAL, "ae_windows_cut: %s is NULL", x ? "out" : "x");
    if (f == 0) return ae_fail(AE_EINVAL, "ae_windows_cut: 0 features a point");
    layout l;
    int rc = layout_of(n, spec, &l);
    if (rc == AE_OK) rc = count_matches(&l, count);
    if (rc != AE_OK) return rc;
    size_t width = 0, total = 0, in_total = 0;
    if (!ae_mul_ok(l.len, f, &width) || !ae_mul_ok(count, width, &total) || !ae_mul_ok(total, sizeof(float), &total) ||
        !ae_mul_ok(n, f, &in_total) || !ae_mul_ok(in_total, sizeof(float), &in_total))
        return ae_fail(AE_EINVAL, "ae_windows_cut: %zu windows of %zu x %zu values overflow the address space", count,
                       l.len, f);
    for (size_t i = 0; i < count; i++) /* window i: len whole rows of x, contiguous */
        memcpy(out + i * width, x + layout_start(&l, i) * f, width * sizeof(float));
    return AE_OK;
}

/* The index of the first non-finite value of v[0 .. n), or n. */
static size_t first_nonfinite(const float *v, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i])) return i;
    return n;
}

/* Point t's value from window i: the window's one score (per == 1) or the score of its step
 * on t (per == len). */
static float value_at(const layout *l, const float *v, size_t per, size_t i, size_t t) {
    return per == 1 ? v[i] : v[i * l->len + (t - layout_start(l, i))];
}

/* worst[t] and mean[t] over the windows covering t: the regular windows i with
 * i stride <= t < i stride + len, and the tail window when t >= n - len. */
static void map_points(const layout *l, const float *v, size_t per, float *worst, float *mean) {
    for (size_t t = 0; t < l->n; t++) {
        const size_t a = t + 1 > l->len ? t + 1 - l->len : 0; /* earliest start covering t */
        const size_t lo = a / l->stride + (a % l->stride != 0), top = t / l->stride;
        const size_t hi = top < l->k - 1 ? top : l->k - 1;
        double sum = 0.0;
        float most = -INFINITY;
        size_t covered = 0;
        for (size_t i = lo; i <= hi; i++) {
            const float s = value_at(l, v, per, i, t);
            sum += s;
            most = s > most ? s : most;
            covered++;
        }
        if (l->tail_window && t >= l->n - l->len) {
            const float s = value_at(l, v, per, l->k, t);
            sum += s;
            most = s > most ? s : most;
            covered++;
        }
        if (worst) worst[t] = covered ? most : NAN;
        if (mean) mean[t] = covered ? (float)(sum / (double)covered) : NAN;
    }
}

/* What ae_windows_to_points and ae_window_steps_to_points share: per values a window. */
static int to_points(const char *fn, const float *v, size_t count, size_t per_len, size_t n, const ae_window_spec *spec,
                     float *worst, float *mean) {
    ae_error_clear();
    if (!v) return ae_fail(AE_EINVAL, "%s: the window values are NULL", fn);
    if (!worst && !mean) return ae_fail(AE_EINVAL, "%s: both outputs (worst and mean) are NULL", fn);
    layout l;
    int rc = layout_of(n, spec, &l);
    if (rc == AE_OK) rc = count_matches(&l, count);
    if (rc != AE_OK) return rc;
    const size_t per = per_len ? l.len : 1;
    size_t values = 0;
    if (!ae_mul_ok(count, per, &values) || !ae_mul_ok(values, sizeof(float), &(size_t){0}))
        return ae_fail(AE_EINVAL, "%s: %zu windows of %zu steps overflow the address space", fn, count, l.len);
    const size_t bad = first_nonfinite(v, values);
    if (bad < values)
        return ae_fail(AE_ENONFINITE, "%s: window %zu%s holds %g", fn, bad / per, per_len ? " (a step of it)" : "",
                       (double)v[bad]);
    map_points(&l, v, per, worst, mean);
    return AE_OK;
}

int ae_windows_to_points(const float *scores, size_t count, size_t n, const ae_window_spec *spec, float *worst,
                         float *mean) {
    return to_points("ae_windows_to_points", scores, count, 0, n, spec, worst, mean);
}

int ae_window_steps_to_points(const float *step_err, size_t count, size_t n, const ae_window_spec *spec, float *worst,
                              float *mean) {
    return to_points("ae_window_steps_to_points", step_err, count, 1, n, spec, worst, mean);
}

int ae_window_step_errors(const float *err, size_t count, size_t len, size_t f, float *step_err) {
    ae_error_clear();
    if (!err || !step_err) return ae_fail(AE_EINVAL, "ae_window_step_errors: %s is NULL", err ? "step_err" : "err");
    if (count == 0 || len == 0 || f == 0)
        return ae_fail(AE_EINVAL, "ae_window_step_errors: %zu windows of %zu steps of %zu values (none may be 0)",
                       count, len, f);
    size_t steps = 0, values = 0;
    if (!ae_mul_ok(count, len, &steps) || !ae_mul_ok(steps, f, &values) ||
        !ae_mul_ok(values, sizeof(float), &(size_t){0}))
        return ae_fail(AE_EINVAL, "ae_window_step_errors: %zu windows of %zu x %zu values overflow the address space",
                       count, len, f);
    const size_t bad = first_nonfinite(err, values);
    if (bad < values)
        return ae_fail(AE_ENONFINITE, "ae_window_step_errors: window %zu, step %zu holds %g", bad / (len * f),
                       bad % (len * f) / f, (double)err[bad]);
    for (size_t s = 0; s < steps; s++) {
        const float *e = err + s * f;
        double sum = 0.0;
        for (size_t j = 0; j < f; j++) sum += e[j];
        step_err[s] = (float)(sum / (double)f);
    }
    return AE_OK;
}
