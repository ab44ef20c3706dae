/* scale: input scaling kept in the model (ae.h says what each mode does). The statistics are
 * accumulated in double, in row order, so one process and several merged give one answer. */
#include "scale.h"

#include "activation.h"

#include <math.h>
#include <string.h>

#include "error.h"

int ae_scale_stats_init(ae_scale_stats *s, size_t d) {
    memset(s, 0, sizeof *s);
    double *b = ae_calloc(4 * d, sizeof(double));
    if (!b) return AE_ENOMEM;
    s->d = d;
    s->min = b;
    s->max = b + d;
    s->sum = b + 2 * d;
    s->sq = b + 3 * d;
    for (size_t j = 0; j < d; j++) {
        s->min[j] = INFINITY;
        s->max[j] = -INFINITY;
    }
    return AE_OK;
}

void ae_scale_stats_free(ae_scale_stats *s) {
    ae_dealloc(s->min);
    memset(s, 0, sizeof *s);
}

void ae_scale_stats_moments(ae_scale_stats *s, const float *x, size_t n) {
    const size_t d = s->d;
    for (size_t i = 0; i < n; i++) {
        const float *r = x + i * d;
        for (size_t j = 0; j < d; j++) {
            const double v = r[j];
            if (v < s->min[j]) s->min[j] = v;
            if (v > s->max[j]) s->max[j] = v;
            s->sum[j] += v;
        }
    }
    s->rows += (double)n;
}

void ae_scale_stats_spread(ae_scale_stats *s, const float *x, size_t n) {
    const size_t d = s->d;
    for (size_t i = 0; i < n; i++) {
        const float *r = x + i * d;
        for (size_t j = 0; j < d; j++) {
            const double e = (double)r[j] - s->sum[j] / s->rows;
            s->sq[j] += e * e;
        }
    }
}

/* The interval AUTO leaves alone and MINMAX maps onto: [-1, 1] for outputs that reach below
 * 0 (tanh, linear, leaky ReLU), [0, 1] for the others. */
static void target_range(ae_activation act, double *lo, double *hi) {
    ae_act_range(act, lo, hi);
    *lo = *lo >= 0.0 ? 0.0 : -1.0;
    *hi = 1.0;
}

ae_scaling ae_scale_resolve(ae_scaling requested, ae_activation out_act, const ae_scale_stats *s) {
    if (requested != AE_SCALE_AUTO) return requested;
    double lo, hi;
    target_range(out_act, &lo, &hi);
    int inside = 1;
    for (size_t j = 0; j < s->d && inside; j++) inside = s->min[j] >= lo && s->max[j] <= hi;
    if (inside) return AE_SCALE_NONE;
    double out_lo, out_hi; /* outputs unbounded below (linear, leaky ReLU): z-score */
    ae_act_range(out_act, &out_lo, &out_hi);
    return isinf(out_lo) ? AE_SCALE_ZSCORE : AE_SCALE_MINMAX;
}

void ae_scaler_release(ae_scaler *sc) {
    ae_dealloc(sc->offset);
    memset(sc, 0, sizeof *sc);
}

void ae_scaler_identity(ae_scaler *sc) {
    ae_scaler_release(sc);
    sc->fitted = 1;
    sc->applied = AE_SCALE_NONE;
}

int ae_scaler_alloc(ae_scaler *sc, ae_scaling mode, size_t d) {
    float *b = ae_calloc(2 * d, sizeof(float));
    if (!b) return AE_ENOMEM;
    ae_scaler_release(sc);
    sc->fitted = 1;
    sc->applied = mode;
    sc->d = d;
    sc->offset = b;
    sc->scale = b + d;
    for (size_t j = 0; j < d; j++) sc->scale[j] = 1.0f;
    return AE_OK;
}

int ae_scaler_set(ae_scaler *sc, ae_scaling mode, ae_activation out_act, const ae_scale_stats *st) {
    if (mode == AE_SCALE_NONE || mode == AE_SCALE_AUTO) {
        ae_scaler_identity(sc);
        return AE_OK;
    }
    int rc = ae_scaler_alloc(sc, mode, st->d);
    if (rc != AE_OK) return rc;
    double lo, hi;
    target_range(out_act, &lo, &hi);
    for (size_t j = 0; j < st->d; j++) {
        const double span = st->max[j] - st->min[j];
        double off, sc_j;
        if (mode == AE_SCALE_MINMAX) { /* [min, max] onto [lo, hi] */
            sc_j = span / (hi - lo);
            off = st->min[j] - lo * sc_j;
        } else {
            off = st->sum[j] / st->rows;
            sc_j = sqrt(st->sq[j] / st->rows);
        }
        /* A constant column (or one whose spread is lost in float) would divide by ~0. */
        if (!(span > 0.0) || !((float)sc_j > 0.0f) || !isfinite((float)sc_j)) {
            sc_j = 1.0;
            off = mode == AE_SCALE_MINMAX ? st->min[j] - lo : st->min[j];
        }
        sc->offset[j] = (float)off;
        sc->scale[j] = (float)sc_j;
    }
    return AE_OK;
}

int ae_scaler_active(const ae_scaler *sc) { return sc->offset != NULL; }

void ae_scaler_apply(const ae_scaler *sc, const float *x, size_t n, float *out) {
    const size_t d = sc->d;
    const float *restrict off = sc->offset, *restrict s = sc->scale;
    for (size_t i = 0; i < n; i++) {
        const float *r = x + i * d;
        float *o = out + i * d;
        for (size_t j = 0; j < d; j++) o[j] = (r[j] - off[j]) / s[j];
    }
}

const float *ae_scaler_chunk(const ae_scaler *sc, const float *x, size_t n, float *scratch) {
    if (!ae_scaler_active(sc)) return x;
    ae_scaler_apply(sc, x, n, scratch);
    return scratch;
}

void ae_scaler_invert(const ae_scaler *sc, float *x, size_t n) {
    const size_t d = sc->d;
    const float *restrict off = sc->offset, *restrict s = sc->scale;
    for (size_t i = 0; i < n; i++) {
        float *r = x + i * d;
        for (size_t j = 0; j < d; j++) r[j] = r[j] * s[j] + off[j];
    }
}

int ae_scale_check_range(ae_activation out_act, const float *x, size_t n, size_t d) {
    double lo, hi;
    ae_act_range(out_act, &lo, &hi);
    if (isinf(lo) && isinf(hi)) return AE_OK;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++) {
            const double v = x[i * d + j];
            if (v < lo || v > hi)
                return ae_fail(AE_ERANGE,
                               "row %zu column %zu is %g, outside the %s output's range [%g, %g] and input "
                               "scaling is off: turn scaling on (AE_SCALE_AUTO, ae train --scale auto) or use "
                               "a linear output",
                               i + 1, j + 1, v, ae_activation_name(out_act), lo, hi);
        }
    return AE_OK;
}
