/* conv_common: im2col, col2im and the per-channel parts of the convolution kinds (conv.h). */
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

void ae_im2col(const ae_conv_geom *g, const float *img, float *cols) {
    const size_t k = g->k, s = g->s, p = k / 2, P = g->oh * g->ow;
    for (size_t ci = 0; ci < g->c; ci++)
        for (size_t ki = 0; ki < k; ki++)
            for (size_t kj = 0; kj < k; kj++) {
                float *row = cols + ((ci * k + ki) * k + kj) * P;
                size_t y0, y1, x0, x1;
                valid_range(g->h, g->oh, s, p, ki, &y0, &y1);
                valid_range(g->w, g->ow, s, p, kj, &x0, &x1);
                memset(row, 0, P * sizeof(float));
                for (size_t y = y0; y < y1; y++) {
                    const float *src = img + (ci * g->h + y * s + ki - p) * g->w;
                    float *dst = row + y * g->ow;
                    for (size_t x = x0; x < x1; x++) dst[x] = src[x * s + kj - p];
                }
            }
}

void ae_col2im(const ae_conv_geom *g, const float *cols, float *img) {
    const size_t k = g->k, s = g->s, p = k / 2, P = g->oh * g->ow;
    memset(img, 0, g->c * g->h * g->w * sizeof(float));
    for (size_t ci = 0; ci < g->c; ci++)
        for (size_t ki = 0; ki < k; ki++)
            for (size_t kj = 0; kj < k; kj++) {
                const float *row = cols + ((ci * k + ki) * k + kj) * P;
                size_t y0, y1, x0, x1;
                valid_range(g->h, g->oh, s, p, ki, &y0, &y1);
                valid_range(g->w, g->ow, s, p, kj, &x0, &x1);
                for (size_t y = y0; y < y1; y++) {
                    float *dst = img + (ci * g->h + y * s + ki - p) * g->w;
                    const float *src = row + y * g->ow;
                    for (size_t x = x0; x < x1; x++) dst[x * s + kj - p] += src[x];
                }
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
        for (size_t i = 0; i < rows; i++) {
            const float *restrict v = dz + (i * channels + c) * pixels;
            for (size_t q = 0; q < pixels; q++) sum += v[q];
        }
        l->db[c] = sum;
    }
}
