#include "series_plot.h"

#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>

#define MAX_WIDTH 2000 /* pixels; longer series share a pixel column among several points */
#define BAND 90 /* pixels a channel */
#define SCORE_BAND 70
#define STRIP 10
#define GAP 4

typedef struct canvas {
    unsigned char *rgb;
    size_t w, h;
} canvas;

static void put(canvas *c, size_t x, size_t y, unsigned char r, unsigned char g, unsigned char b) {
    if (x >= c->w || y >= c->h) return;
    unsigned char *p = c->rgb + 3 * (y * c->w + x);
    p[0] = r, p[1] = g, p[2] = b;
}

/* A vertical run from y0 to y1 (either order) in column x. */
static void vline(canvas *c, size_t x, size_t y0, size_t y1, unsigned char r, unsigned char g, unsigned char b) {
    for (size_t y = y0 < y1 ? y0 : y1; y <= (y0 < y1 ? y1 : y0); y++) put(c, x, y, r, g, b);
}

/* v in [lo, hi] onto band rows [top, top + height), high values up. */
static size_t to_row(double v, double lo, double hi, size_t top, size_t height) {
    double f = hi > lo ? (v - lo) / (hi - lo) : 0.5;
    f = f < 0.0 ? 0.0 : f > 1.0 ? 1.0 : f;
    return top + (size_t)((1.0 - f) * (double)(height - 1) + 0.5);
}

/* One band: per pixel column, the min-max run of values[i * stride] over its points. */
static void band(canvas *c, const float *v, size_t n, size_t stride, double lo, double hi, size_t top, size_t height,
                 const unsigned char rgb[3]) {
    for (size_t x = 0; x < c->w; x++) {
        const size_t a = x * n / c->w, b = (x + 1) * n / c->w > a ? (x + 1) * n / c->w : a + 1;
        double mn = INFINITY, mx = -INFINITY;
        for (size_t i = a; i < b && i < n; i++) {
            const double s = v[i * stride];
            if (!isfinite(s)) continue;
            mn = s < mn ? s : mn;
            mx = s > mx ? s : mx;
        }
        if (mn <= mx)
            vline(c, x, to_row(mn, lo, hi, top, height), to_row(mx, lo, hi, top, height), rgb[0], rgb[1], rgb[2]);
    }
}

/* Whether any point of pixel column x has a non-zero mark. */
static int column_has(const canvas *c, const unsigned char *mark, size_t n, size_t x) {
    const size_t a = x * n / c->w, b = (x + 1) * n / c->w > a ? (x + 1) * n / c->w : a + 1;
    for (size_t i = a; i < b && i < n; i++)
        if (mark[i]) return 1;
    return 0;
}

int series_plot_png(const char *path, const float *x, size_t n, size_t channels, const unsigned char *label,
                    const float *score, float threshold, const unsigned char *flag) {
    canvas c = {NULL, n < MAX_WIDTH ? n : MAX_WIDTH, channels * (BAND + GAP) + SCORE_BAND + 2 * (STRIP + GAP) + GAP};
    c.rgb = malloc(c.w * c.h * 3);
    if (!c.rgb) {
        fprintf(stderr, "series_plot: out of memory\n");
        return -1;
    }
    for (size_t i = 0; i < c.w * c.h * 3; i++) c.rgb[i] = 255;
    const unsigned char line[3] = {40, 40, 40}, score_rgb[3] = {20, 110, 40};
    for (size_t k = 0; k < channels; k++) {
        const size_t top = GAP + k * (BAND + GAP);
        for (size_t px = 0; px < c.w; px++) /* the true anomalies, shaded */
            if (column_has(&c, label, n, px)) vline(&c, px, top, top + BAND - 1, 255, 205, 205);
        band(&c, x + k, n, channels, -0.1, 1.1, top, BAND, line);
    }
    /* the score on a log scale from its 1st percentile-ish floor (1e-5) to its maximum */
    float *ls = malloc(n * sizeof(float));
    if (!ls) {
        free(c.rgb);
        fprintf(stderr, "series_plot: out of memory\n");
        return -1;
    }
    double hi = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        ls[i] = isfinite(score[i]) ? (float)log10(score[i] > 1e-5f ? score[i] : 1e-5f) : NAN;
        hi = isfinite(ls[i]) && ls[i] > hi ? ls[i] : hi;
    }
    const size_t stop = GAP + channels * (BAND + GAP);
    band(&c, ls, n, 1, -5.0, hi, stop, SCORE_BAND, score_rgb);
    const size_t ty = to_row(log10(threshold > 1e-5f ? threshold : 1e-5f), -5.0, hi, stop, SCORE_BAND);
    for (size_t px = 0; px < c.w; px += 2) put(&c, px, ty, 200, 0, 0); /* dotted threshold */
    free(ls);
    const size_t truth = stop + SCORE_BAND + GAP, flagged = truth + STRIP + GAP;
    for (size_t px = 0; px < c.w; px++) {
        if (column_has(&c, label, n, px)) vline(&c, px, truth, truth + STRIP - 1, 220, 30, 30);
        if (column_has(&c, flag, n, px)) vline(&c, px, flagged, flagged + STRIP - 1, 30, 60, 220);
    }
    png_image image = {0};
    image.version = PNG_IMAGE_VERSION;
    image.width = (png_uint_32)c.w;
    image.height = (png_uint_32)c.h;
    image.format = PNG_FORMAT_RGB;
    const int ok = png_image_write_to_file(&image, path, 0, c.rgb, (png_int_32)(c.w * 3), NULL);
    free(c.rgb);
    if (!ok) {
        fprintf(stderr, "series_plot: cannot write %s: %s\n", path, image.message);
        return -1;
    }
    return 0;
}
