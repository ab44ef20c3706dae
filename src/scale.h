/* scale: the model's input scaling, x' = (x - offset) / scale per column, fitted on training
 * rows, applied to every row that goes in and undone on every row that comes out. */
#ifndef AE_SCALE_H
#define AE_SCALE_H

#include "tensor.h"

typedef struct ae_scaler {
    int fitted; /* 0: fitted on the next training rows */
    ae_scaling applied; /* NONE (identity), MINMAX or ZSCORE once fitted */
    size_t d;
    float *offset, *scale; /* [d] each, one allocation; NULL for the identity */
} ae_scaler;

/* Per-column statistics of training rows, laid out [min d | max d | sum d | sq d | rows 1]:
 * min, max, sum and the sum of squared deviations from a given mean. Processes combine them
 * with ae_scale_stats_merge, so that every process fits the same scaler. */
typedef struct ae_scale_stats {
    size_t d;
    double *min, *max, *sum, *sq, rows;
} ae_scale_stats;

AE_HIDDEN int ae_scale_stats_init(ae_scale_stats *s, size_t d);
AE_HIDDEN void ae_scale_stats_free(ae_scale_stats *s);
/* Pass 1: min, max and sum of x [n x d]. */
AE_HIDDEN void ae_scale_stats_moments(ae_scale_stats *s, const float *x, size_t n);
/* Pass 2 (z-score only, after the sums are combined): sum of (x - mean)^2. */
AE_HIDDEN void ae_scale_stats_spread(ae_scale_stats *s, const float *x, size_t n);

/* Does the requested mode need pass 2 for this data? Set after pass 1 (and its merge). */
AE_HIDDEN ae_scaling ae_scale_resolve(ae_scaling requested, ae_activation out_act, const ae_scale_stats *s);
/* Sets s from the statistics for the resolved mode (NONE: identity). AE_OK or AE_ENOMEM. */
AE_HIDDEN int ae_scaler_set(ae_scaler *sc, ae_scaling mode, ae_activation out_act, const ae_scale_stats *st);
/* Marks the scaler fitted as the identity (a model that must never scale, e.g. old files). */
AE_HIDDEN void ae_scaler_identity(ae_scaler *sc);
/* Allocates offset and scale for d columns (zeros and ones), for a loader to fill. */
AE_HIDDEN int ae_scaler_alloc(ae_scaler *sc, ae_scaling mode, size_t d);
AE_HIDDEN void ae_scaler_release(ae_scaler *sc);
AE_HIDDEN int ae_scaler_active(const ae_scaler *sc);
/* out [n x d] = (x - offset) / scale; out may be x. */
AE_HIDDEN void ae_scaler_apply(const ae_scaler *sc, const float *x, size_t n, float *out);
/* The rows a layer should see: x itself for the identity, else x scaled into scratch. */
AE_HIDDEN const float *ae_scaler_chunk(const ae_scaler *sc, const float *x, size_t n, float *scratch);
/* x [n x d] in place: x * scale + offset. */
AE_HIDDEN void ae_scaler_invert(const ae_scaler *sc, float *x, size_t n);
/* Checks, with scaling off, that x lies inside out_act's range: AE_OK or AE_ERANGE with a
 * detail naming the first row and column outside it and the remedy. */
AE_HIDDEN int ae_scale_check_range(ae_activation out_act, const float *x, size_t n, size_t d);

#endif
