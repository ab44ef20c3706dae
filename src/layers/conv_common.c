/* conv_common: im2col, col2im, the gathers and the per-channel parts of the convolution kinds
 * (conv.h). */
#include "conv.h"

#include <stddef.h>
#include <string.h>

/* Stride s > 1 works on phase planes: plane (ci, ry, rx) [oh x ow] of an image holds
 * img[ci, y s + ry, x s + rx] (0 past the image), so that a kernel offset ki - p = a s + r
 * (0 <= r < s) reads plane row y + a for output row y, contiguously; with stride 1 the image
 * is its own plane (oh = h, ow = w). Only rows and columns shifted off the plane are zeroed in
 * the columns. */

/* y + a inside [0, n) <=> y in [*lo, *hi). */
static void shift_range(size_t n, ptrdiff_t a, size_t *lo, size_t *hi) {
    *lo = a < 0 ? (size_t)-a : 0;
    *hi = a > 0 ? ((size_t)a < n ? n - (size_t)a : 0) : n;
    if (*lo > *hi) *lo = *hi;
}

/* Kernel offset ki (or kj): its phase *r and shift *a, ki - p = *a s + *r. */
static void phase_of(size_t ki, size_t s, size_t p, size_t *r, ptrdiff_t *a) {
    const size_t t = ki + s * p - p;
    *r = t % s;
    *a = (ptrdiff_t)(t / s) - (ptrdiff_t)p;
}

/* cols' rows from the planes (see above). */
static void planes_to_cols(const ae_conv_geom *g, const float *planes, float *cols, size_t ld) {
    const size_t k = g->k, s = g->s, p = k / 2, oh = g->oh, ow = g->ow;
    for (size_t ci = 0; ci < g->c; ci++)
        for (size_t ki = 0; ki < k; ki++)
            for (size_t kj = 0; kj < k; kj++) {
                size_t ry, rx, y0, y1, x0, x1;
                ptrdiff_t ay, ax;
                phase_of(ki, s, p, &ry, &ay);
                phase_of(kj, s, p, &rx, &ax);
                shift_range(oh, ay, &y0, &y1);
                shift_range(ow, ax, &x0, &x1);
                const float *pl = planes + ((ci * s + ry) * s + rx) * oh * ow;
                float *row = cols + ((ci * k + ki) * k + kj) * ld;
                if (y0) memset(row, 0, y0 * ow * sizeof(float));
                if (y1 < oh) memset(row + y1 * ow, 0, (oh - y1) * ow * sizeof(float));
                if (y1 <= y0) continue;
                if (ax == 0) { /* whole rows: one block */
                    memcpy(row + y0 * ow, pl + (size_t)((ptrdiff_t)y0 + ay) * ow, (y1 - y0) * ow * sizeof(float));
                    continue;
                }
                for (size_t y = y0; y < y1; y++) {
                    float *restrict dst = row + y * ow;
                    const float *restrict src = pl + (size_t)((ptrdiff_t)y + ay) * ow + (size_t)((ptrdiff_t)x0 + ax);
                    for (size_t x = x0; x < x1; x++) dst[x] = src[x - x0];
                }
                /* the columns shifted off the plane, down the rows (strided: not a memset a row) */
                for (size_t x = 0; x < x0; x++)
                    for (size_t y = y0; y < y1; y++) row[y * ow + x] = 0.0f;
                for (size_t x = x1; x < ow; x++)
                    for (size_t y = y0; y < y1; y++) row[y * ow + x] = 0.0f;
            }
}

/* The adjoint: every entry of cols added into the planes where planes_to_cols took it. */
static void cols_to_planes(const ae_conv_geom *g, const float *cols, size_t ld, float *planes) {
    const size_t k = g->k, s = g->s, p = k / 2, oh = g->oh, ow = g->ow;
    for (size_t ci = 0; ci < g->c; ci++)
        for (size_t ki = 0; ki < k; ki++)
            for (size_t kj = 0; kj < k; kj++) {
                size_t ry, rx, y0, y1, x0, x1;
                ptrdiff_t ay, ax;
                phase_of(ki, s, p, &ry, &ay);
                phase_of(kj, s, p, &rx, &ax);
                shift_range(oh, ay, &y0, &y1);
                shift_range(ow, ax, &x0, &x1);
                if (y1 <= y0 || x1 <= x0) continue;
                float *pl = planes + ((ci * s + ry) * s + rx) * oh * ow;
                const float *row = cols + ((ci * k + ki) * k + kj) * ld;
                if (ax == 0) { /* whole rows: one block */
                    float *restrict dst = pl + (size_t)((ptrdiff_t)y0 + ay) * ow;
                    const float *restrict src = row + y0 * ow;
                    for (size_t i = 0; i < (y1 - y0) * ow; i++) dst[i] += src[i];
                    continue;
                }
                for (size_t y = y0; y < y1; y++) {
                    float *restrict dst = pl + (size_t)((ptrdiff_t)y + ay) * ow + (size_t)((ptrdiff_t)x0 + ax);
                    const float *restrict src = row + y * ow + x0;
                    for (size_t x = 0; x < x1 - x0; x++) dst[x] += src[x];
                }
            }
}

/* Columns of plane phase rx inside the image: x s + rx < w. */
static size_t phase_cols(const ae_conv_geom *g, size_t rx) { return rx < g->w ? (g->w - rx + g->s - 1) / g->s : 0; }

/* The planes of img (s > 1; s = 2: split2 below). */
static void split_s(const ae_conv_geom *g, const float *img, float *planes, size_t s) {
    const size_t oh = g->oh, ow = g->ow;
    for (size_t ci = 0; ci < g->c; ci++)
        for (size_t ry = 0; ry < s; ry++)
            for (size_t rx = 0; rx < s; rx++) {
                float *pl = planes + ((ci * s + ry) * s + rx) * oh * ow;
                const size_t nx = phase_cols(g, rx);
                size_t y = 0;
                for (; y < oh && y * s + ry < g->h; y++) {
                    float *restrict dst = pl + y * ow;
                    const float *restrict src = img + (ci * g->h + y * s + ry) * g->w + rx;
                    for (size_t x = 0; x < nx; x++) dst[x] = src[x * s];
                }
                for (size_t x = nx; x < ow; x++) /* past the image's right side, down the rows */
                    for (size_t r = 0; r < y; r++) pl[r * ow + x] = 0.0f;
                if (y < oh) memset(pl + y * ow, 0, (oh - y) * ow * sizeof(float)); /* below it */
            }
}

/* The inverse for the pixels inside the image: img from the planes. */
static void merge_s(const ae_conv_geom *g, const float *planes, float *img, size_t s) {
    const size_t oh = g->oh, ow = g->ow;
    for (size_t ci = 0; ci < g->c; ci++)
        for (size_t ry = 0; ry < s; ry++)
            for (size_t rx = 0; rx < s; rx++) {
                const float *pl = planes + ((ci * s + ry) * s + rx) * oh * ow;
                const size_t nx = phase_cols(g, rx);
                for (size_t y = 0; y < oh && y * s + ry < g->h; y++) {
                    float *restrict dst = img + (ci * g->h + y * s + ry) * g->w + rx;
                    const float *restrict src = pl + y * ow;
                    for (size_t x = 0; x < nx; x++) dst[x * s] = src[x];
                }
            }
}

/* Stride 2: both column phases of a row in one pass (the common case, made fast). */
static void split2(const ae_conv_geom *g, const float *img, float *planes) {
    const size_t oh = g->oh, ow = g->ow, P = oh * ow, n1 = phase_cols(g, 1);
    for (size_t ci = 0; ci < g->c; ci++)
        for (size_t ry = 0; ry < 2; ry++) {
            float *p0 = planes + (ci * 2 + ry) * 2 * P, *p1 = p0 + P;
            size_t y = 0;
            for (; y < oh && y * 2 + ry < g->h; y++) {
                float *restrict d0 = p0 + y * ow, *restrict d1 = p1 + y * ow;
                const float *restrict src = img + (ci * g->h + y * 2 + ry) * g->w;
                for (size_t x = 0; x < n1; x++) {
                    d0[x] = src[2 * x];
                    d1[x] = src[2 * x + 1];
                }
                if (n1 < ow) { /* odd width: phase 1 one column short */
                    d0[n1] = src[2 * n1];
                    d1[n1] = 0.0f;
                }
            }
            if (y < oh) { /* below the image */
                memset(p0 + y * ow, 0, (oh - y) * ow * sizeof(float));
                memset(p1 + y * ow, 0, (oh - y) * ow * sizeof(float));
            }
        }
}

static void merge2(const ae_conv_geom *g, const float *planes, float *img) {
    const size_t oh = g->oh, ow = g->ow, P = oh * ow, n1 = phase_cols(g, 1);
    for (size_t ci = 0; ci < g->c; ci++)
        for (size_t ry = 0; ry < 2; ry++) {
            const float *p0 = planes + (ci * 2 + ry) * 2 * P, *p1 = p0 + P;
            for (size_t y = 0; y < oh && y * 2 + ry < g->h; y++) {
                const float *restrict s0 = p0 + y * ow, *restrict s1 = p1 + y * ow;
                float *restrict dst = img + (ci * g->h + y * 2 + ry) * g->w;
                for (size_t x = 0; x < n1; x++) {
                    dst[2 * x] = s0[x];
                    dst[2 * x + 1] = s1[x];
                }
                if (n1 < ow) dst[2 * n1] = s0[n1];
            }
        }
}

size_t ae_conv_planes(const ae_conv_geom *g) { return g->s == 1 ? 0 : g->c * g->s * g->s * g->oh * g->ow; }

void ae_im2col(const ae_conv_geom *g, const float *img, float *cols, size_t ld, float *planes) {
    if (g->s == 1) {
        planes_to_cols(g, img, cols, ld);
        return;
    }
    if (g->s == 2)
        split2(g, img, planes);
    else
        split_s(g, img, planes, g->s);
    planes_to_cols(g, planes, cols, ld);
}

void ae_col2im(const ae_conv_geom *g, const float *cols, size_t ld, float *img, float *planes) {
    if (g->s == 1) {
        memset(img, 0, g->c * g->h * g->w * sizeof(float));
        cols_to_planes(g, cols, ld, img);
        return;
    }
    memset(planes, 0, ae_conv_planes(g) * sizeof(float));
    cols_to_planes(g, cols, ld, planes);
    if (g->s == 2)
        merge2(g, planes, img);
    else
        merge_s(g, planes, img, g->s);
}

static size_t group_floats = AE_CONV_GROUP;

void ae_conv_test_group(size_t floats) { group_floats = floats ? floats : AE_CONV_GROUP; }

size_t ae_conv_group(size_t per_image) { return per_image < group_floats ? group_floats / per_image : 1; }

float ae_conv_sum(const float *v, size_t n) {
    float acc[8] = {0};
    size_t q = 0;
    for (; q + 8 <= n; q += 8)
        for (size_t j = 0; j < 8; j++) acc[j] += v[q + j];
    float sum = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; q < n; q++) sum += v[q];
    return sum;
}

void ae_conv_gather(const float *src, size_t n, size_t ld_src, size_t c0, size_t c1, size_t pixels, float *dst,
                    float *sums) {
    const size_t N = n * pixels;
    for (size_t c = c0; c < c1; c++) {
        float sum = 0.0f;
        for (size_t i = 0; i < n; i++) {
            const float *v = src + i * ld_src + c * pixels;
            memcpy(dst + (c - c0) * N + i * pixels, v, pixels * sizeof(float));
            if (sums) sum += ae_conv_sum(v, pixels);
        }
        if (sums) sums[c - c0] += sum;
    }
}

void ae_conv_scatter(const float *src, size_t n, size_t channels, size_t pixels, const float *bias, float *dst,
                     size_t ld_dst) {
    const size_t N = n * pixels;
    for (size_t i = 0; i < n; i++)
        for (size_t c = 0; c < channels; c++) {
            float *restrict d = dst + i * ld_dst + c * pixels;
            const float *restrict v = src + c * N + i * pixels;
            if (!bias) {
                memcpy(d, v, pixels * sizeof(float));
                continue;
            }
            const float b = bias[c];
            for (size_t q = 0; q < pixels; q++) d[q] = v[q] + b;
        }
}

void ae_conv_bias_act(const ae_layer *l, float *y, size_t rows, size_t channels, size_t pixels, int with_act) {
    for (size_t i = 0; i < rows; i++)
        for (size_t c = 0; c < channels; c++) {
            float *restrict v = y + (i * channels + c) * pixels;
            const float b = l->b[c];
            for (size_t q = 0; q < pixels; q++) v[q] += b;
        }
    if (with_act) ae_act_forward(y, rows * channels * pixels, l->act);
}

void ae_conv_grad_bias(const ae_layer *l, const float *dz, size_t rows, size_t pixels, size_t c0, size_t c1) {
    const size_t channels = l->out / pixels;
    for (size_t c = c0; c < c1; c++) {
        float sum = 0.0f;
        for (size_t i = 0; i < rows; i++) sum += ae_conv_sum(dz + (i * channels + c) * pixels, pixels);
        l->db[c] = sum;
    }
}
