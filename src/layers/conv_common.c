/* conv_common: im2col, col2im, the gathers and the per-channel parts of the convolution kinds
 * (conv.h). */
#include "conv.h"

#include <string.h>

/* The kernel offset ki's valid output range along one dimension: y in [*lo, *hi) keeps
 * y s - p + ki inside [0, n). */
static void valid_range(size_t n, size_t on, size_t s, size_t p, size_t ki, size_t *lo, size_t *hi) {
    /* y s + ki >= p  <=>  y >= ceil((p - ki) / s) */
    *lo = ki >= p ? 0 : (p - ki + s - 1) / s;
    /* y s + ki - p <= n - 1  <=>  y <= (n - 1 + p - ki) / s */
    const size_t top = n - 1 + p;
    *hi = top < ki ? 0 : (top - ki) / s + 1;
    if (*hi > on) *hi = on;
    if (*lo > *hi) *lo = *hi;
}

/* im2col and col2im with the stride a constant where it is 1 or 2 (the callers below pass a
 * literal), so that the compiler specialises their inner loops; zeroes written in loops, not
 * memset, where they are a pixel or two at a row's ends. */
static inline __attribute__((always_inline)) void im2col_s(const ae_conv_geom *g, const float *img, float *cols,
                                                           size_t ld, size_t s) {
    const size_t k = g->k, p = k / 2, ow = g->ow;
    for (size_t ci = 0; ci < g->c; ci++)
        for (size_t ki = 0; ki < k; ki++)
            for (size_t kj = 0; kj < k; kj++) {
                float *row = cols + ((ci * k + ki) * k + kj) * ld;
                size_t y0, y1, x0, x1;
                valid_range(g->h, g->oh, s, p, ki, &y0, &y1);
                valid_range(g->w, ow, s, p, kj, &x0, &x1);
                /* only the padding is zeroed: whole rows above and below, then the columns at
                 * the sides down the rows between (strided stores, not a memset a row) */
                if (y0) memset(row, 0, y0 * ow * sizeof(float));
                if (y1 < g->oh) memset(row + y1 * ow, 0, (g->oh - y1) * ow * sizeof(float));
                for (size_t y = y0; y < y1; y++) {
                    float *restrict dst = row + y * ow;
                    const float *restrict src = img + (ci * g->h + y * s + ki - p) * g->w + x0 * s + kj - p;
                    for (size_t x = x0; x < x1; x++) dst[x] = src[(x - x0) * s];
                }
                for (size_t x = 0; x < x0; x++)
                    for (size_t y = y0; y < y1; y++) row[y * ow + x] = 0.0f;
                for (size_t x = x1; x < ow; x++)
                    for (size_t y = y0; y < y1; y++) row[y * ow + x] = 0.0f;
            }
}

static inline __attribute__((always_inline)) void col2im_s(const ae_conv_geom *g, const float *cols, size_t ld,
                                                           float *img, size_t s) {
    const size_t k = g->k, p = k / 2;
    memset(img, 0, g->c * g->h * g->w * sizeof(float));
    for (size_t ci = 0; ci < g->c; ci++)
        for (size_t ki = 0; ki < k; ki++)
            for (size_t kj = 0; kj < k; kj++) {
                const float *row = cols + ((ci * k + ki) * k + kj) * ld;
                size_t y0, y1, x0, x1;
                valid_range(g->h, g->oh, s, p, ki, &y0, &y1);
                valid_range(g->w, g->ow, s, p, kj, &x0, &x1);
                for (size_t y = y0; y < y1; y++) {
                    float *restrict dst = img + (ci * g->h + y * s + ki - p) * g->w + x0 * s + kj - p;
                    const float *restrict src = row + y * g->ow + x0;
                    for (size_t x = 0; x < x1 - x0; x++) dst[x * s] += src[x];
                }
            }
}

void ae_im2col(const ae_conv_geom *g, const float *img, float *cols, size_t ld) {
    if (g->s == 1)
        im2col_s(g, img, cols, ld, 1);
    else if (g->s == 2)
        im2col_s(g, img, cols, ld, 2);
    else
        im2col_s(g, img, cols, ld, g->s);
}

void ae_col2im(const ae_conv_geom *g, const float *cols, size_t ld, float *img) {
    if (g->s == 1)
        col2im_s(g, cols, ld, img, 1);
    else if (g->s == 2)
        col2im_s(g, cols, ld, img, 2);
    else
        col2im_s(g, cols, ld, img, g->s);
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
